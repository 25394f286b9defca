//! `hearth usage`: `hearth serve`'s usage ledger summed by key or by day.

use anyhow::anyhow;
use hearth_serve::ledger::{is_day, read_ledger, summarize, GroupBy, UsageRow};

use crate::args::UsageArgs;
use crate::config::Environment;
use crate::error::CliError;

/// Runs `hearth usage`: one table row per key (or day), and a total.
pub fn run(env: &Environment, a: UsageArgs) -> Result<(), CliError> {
    if let Some(since) = a.since.as_deref().filter(|s| !is_day(s)) {
        return Err(CliError::usage(anyhow!(
            "--since {since:?}: expected a day as YYYY-MM-DD"
        )));
    }
    let by = if a.by == "day" {
        GroupBy::Day
    } else {
        GroupBy::Key
    };
    let path = a.ledger.as_ref().unwrap_or(&env.usage_ledger);
    let entries = read_ledger(path).map_err(CliError::usage)?;
    let rows = summarize(&entries, by, a.since.as_deref());
    print!("{}", table(&rows, by));
    Ok(())
}

/// The rows as an aligned table with a total line.
fn table(rows: &[UsageRow], by: GroupBy) -> String {
    let mut total = UsageRow {
        group: "total".to_string(),
        ..UsageRow::default()
    };
    for row in rows {
        total.add(row);
    }
    let first = match by {
        GroupBy::Key => "key",
        GroupBy::Day => "day",
    };
    let width = rows
        .iter()
        .map(|r| r.group.chars().count())
        .chain([first.len(), total.group.len()])
        .max()
        .unwrap_or(first.len());
    let mut out = format!(
        "{first:<width$} {:>9} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
        "requests", "errors", "input", "cache read", "cache write", "output", "thinking"
    );
    for row in rows.iter().chain([&total]) {
        out.push_str(&format!(
            "{:<width$} {:>9} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
            row.group,
            row.requests,
            row.errors,
            row.input_tokens,
            row.cache_read_input_tokens,
            row.cache_creation_input_tokens,
            row.output_tokens,
            row.thinking_tokens
        ));
    }
    out
}
