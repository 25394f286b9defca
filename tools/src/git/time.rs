//! Dates as git prints them, computed from a commit's seconds and time-zone offset.

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// `seconds` since the epoch as `pattern` (strftime) formats them in the fixed offset of
/// `offset_minutes`, the commit's own zone as git shows it.
fn format(seconds: i64, offset_minutes: i32, pattern: &str) -> String {
    let offset = offset_minutes
        .checked_mul(60)
        .and_then(|seconds| Offset::from_seconds(seconds).ok());
    match (Timestamp::from_second(seconds), offset) {
        (Ok(instant), Some(offset)) => instant
            .to_zoned(TimeZone::fixed(offset))
            .strftime(pattern)
            .to_string(),
        // Only a forged commit is dated past year 9999 or in a zone 26 hours off: show the
        // raw values, as `git log --date=raw` does.
        _ => format!("{seconds} {offset_minutes:+} minutes"),
    }
}

/// git's default date format: `Thu Apr 7 15:13:13 2005 -0700`.
pub(crate) fn default_date(seconds: i64, offset_minutes: i32) -> String {
    format(seconds, offset_minutes, "%a %b %-d %H:%M:%S %Y %z")
}

/// The ISO-like format `git blame` uses: `2005-04-07 15:13:13 -0700`.
pub(crate) fn iso_date(seconds: i64, offset_minutes: i32) -> String {
    format(seconds, offset_minutes, "%Y-%m-%d %H:%M:%S %z")
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
        assert_eq!(iso_date(i64::MAX, 0), format!("{} +0 minutes", i64::MAX));
    }
}
