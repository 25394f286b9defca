"""Stock levels, reorder suggestions and a printable report for a small shop."""

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta

LOW_STOCK_THRESHOLD = 5
REORDER_DAYS = 14
TAX_RATE = 0.2


@dataclass
class Item:
    """One product line: what it is, how many are left and what it costs."""

    sku: str
    name: str
    quantity: int
    price: float
    supplier: str = ""
    sold_per_day: float = 0.0
    tags: list = field(default_factory=list)

    def value(self):
        """The stock's value at cost, tax excluded."""
        return self.quantity * self.price

    def days_left(self):
        """Days until the item runs out at its current rate of sale."""
        if self.sold_per_day <= 0:
            return None
        return self.quantity / self.sold_per_day

    def is_low(self, threshold=LOW_STOCK_THRESHOLD):
        """Whether the quantity is at or below the threshold."""
        return self.quantity <= threshold


def load_items(path):
    """Reads items from a CSV file with a header row."""
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            items.append(
                Item(
                    sku=row["sku"],
                    name=row["name"],
                    quantity=int(row["quantity"]),
                    price=float(row["price"]),
                    supplier=row.get("supplier", ""),
                    sold_per_day=float(row.get("sold_per_day") or 0),
                    tags=[t for t in row.get("tags", "").split(";") if t],
                )
            )
    return items


def save_items(path, items):
    """Writes items to a CSV file that load_items reads back."""
    fields = ["sku", "name", "quantity", "price", "supplier", "sold_per_day", "tags"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for item in items:
            writer.writerow(
                {
                    "sku": item.sku,
                    "name": item.name,
                    "quantity": item.quantity,
                    "price": f"{item.price:.2f}",
                    "supplier": item.supplier,
                    "sold_per_day": item.sold_per_day,
                    "tags": ";".join(item.tags),
                }
            )


def low_stock(items, threshold=LOW_STOCK_THRESHOLD):
    """The items at or below the threshold, fewest first."""
    low = [item for item in items if item.is_low(threshold)]
    return sorted(low, key=lambda item: item.quantity)


def stock_value(items):
    """The value of all stock at cost, tax excluded."""
    return sum(item.value() for item in items)


def with_tax(amount, rate=TAX_RATE):
    """The amount with tax added, rounded to cents."""
    return round(amount * (1 + rate), 2)


def fmt_money(amount):
    """An amount as the shop prints it: two decimals and a currency sign."""
    return f"${amount:,.2f}"


def reorder_quantity(item, days=REORDER_DAYS):
    """How many to order so that the item lasts the given number of days."""
    if item.sold_per_day <= 0:
        return 0
    wanted = int(item.sold_per_day * days + 0.999)
    return max(wanted - item.quantity, 0)


def reorder_list(items, days=REORDER_DAYS):
    """(item, quantity) pairs for everything that needs ordering, by supplier."""
    orders = []
    for item in items:
        quantity = reorder_quantity(item, days)
        if quantity > 0:
            orders.append((item, quantity))
    return sorted(orders, key=lambda pair: (pair[0].supplier, pair[0].name))


def run_out_dates(items, today=None):
    """The date each selling item runs out, earliest first."""
    today = today or date.today()
    dates = []
    for item in items:
        left = item.days_left()
        if left is not None:
            dates.append((item, today + timedelta(days=int(left))))
    return sorted(dates, key=lambda pair: pair[1])


def by_tag(items):
    """Items grouped by tag; an item with several tags is in each group."""
    groups = {}
    for item in items:
        for tag in item.tags or ["untagged"]:
            groups.setdefault(tag, []).append(item)
    return groups


def report_lines(items):
    """One line per item, by name: name, quantity and price with tax."""
    lines = []
    for item in sorted(items, key=lambda item: item.name):
        price = fmt_money(with_tax(item.price))
        flag = " LOW" if item.is_low() else ""
        lines.append(f"{item.name:<24} {item.quantity:>5} {price:>10}{flag}")
    return lines


def print_report(path):
    """Prints the report of the items in a CSV file, then the totals."""
    items = load_items(path)
    for line in report_lines(items):
        print(line)
    print(f"items: {len(items)}  low: {len(low_stock(items))}")
    print(f"stock value: {fmt_money(stock_value(items))}")
