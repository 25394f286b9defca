//! Dates as git prints them, computed from a commit's seconds and time-zone offset.

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A local date and time broken into fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: usize,
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, exact for every representable day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn civil(seconds: i64, offset_minutes: i32) -> Civil {
    let local = seconds + i64::from(offset_minutes) * 60;
    let days = local.div_euclid(86_400);
    let in_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: in_day / 3_600,
        minute: in_day % 3_600 / 60,
        second: in_day % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

fn offset_text(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let magnitude = offset_minutes.unsigned_abs();
    format!("{sign}{:02}{:02}", magnitude / 60, magnitude % 60)
}

/// git's default date format: `Thu Apr 7 15:13:13 2005 -0700`.
pub(crate) fn default_date(seconds: i64, offset_minutes: i32) -> String {
    let c = civil(seconds, offset_minutes);
    format!(
        "{} {} {} {:02}:{:02}:{:02} {} {}",
        WEEKDAYS[c.weekday],
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year,
        offset_text(offset_minutes)
    )
}

/// The ISO-like format `git blame` uses: `2005-04-07 15:13:13 -0700`.
pub(crate) fn iso_date(seconds: i64, offset_minutes: i32) -> String {
    let c = civil(seconds, offset_minutes);
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        offset_text(offset_minutes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings are what `git log` / `git blame` print for these instants
    // (checked with `date -u -d @<seconds>` and git's own output for the first Linux commit).
    #[test]
    fn dates_match_git() {
        assert_eq!(default_date(0, 0), "Thu Jan 1 00:00:00 1970 +0000");
        assert_eq!(
            default_date(1_112_911_993, -420),
            "Thu Apr 7 15:13:13 2005 -0700"
        );
        assert_eq!(iso_date(1_112_911_993, -420), "2005-04-07 15:13:13 -0700");
        assert_eq!(
            default_date(951_782_400, 0),
            "Tue Feb 29 00:00:00 2000 +0000"
        );
        assert_eq!(iso_date(1_700_000_000, 330), "2023-11-15 03:43:20 +0530");
        assert_eq!(iso_date(-1, 0), "1969-12-31 23:59:59 +0000");
    }
}
