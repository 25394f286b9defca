//! `strftime_now(format)`, the date function transformers gives chat templates.
//!
//! Llama 3 templates print "Today Date: 26 Jul 2024" with it. The engine has
//! no time-zone database and reads no environment, so the date is UTC; callers
//! that want a fixed prompt pass `date_string` (or the like) explicitly.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The directives passed to jiff, whose output for them is C's in the C
/// locale. Others are copied through unchanged, as glibc does.
const DIRECTIVES: &str = "aAbBhdemyYHIMSpjuwFTZznt%";

/// The template global: formats the current UTC time.
pub(crate) fn strftime_now(format: String) -> String {
    strftime_utc(&format, Timestamp::now())
}

/// C `strftime` for the common directives, in the C locale, for a UTC time.
fn strftime_utc(format: &str, time: Timestamp) -> String {
    // Rewrite the format into one jiff formats exactly as C would: unknown
    // directives become literal text, and `%D` is spelled out (jiff does
    // not zero-pad it).
    let mut jiff_format = String::with_capacity(format.len());
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            jiff_format.push(c);
            continue;
        }
        match chars.next() {
            None => jiff_format.push_str("%%"),
            Some('D') => jiff_format.push_str("%m/%d/%y"),
            Some(d) if DIRECTIVES.contains(d) => {
                jiff_format.push('%');
                jiff_format.push(d);
            }
            Some(other) => {
                jiff_format.push_str("%%");
                jiff_format.push(other);
            }
        }
    }
    // Only supported directives are left, each of which formats any UTC
    // time; should jiff refuse one anyway, the template gets the format.
    jiff::fmt::strtime::format(&jiff_format, &time.to_zoned(TimeZone::UTC))
        .unwrap_or_else(|_| format.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn formats_known_dates() {
        // 2024-07-26 13:25:09 UTC, a Friday (checked with `date -u -d @1722000309`).
        let t = at(1_722_000_309);
        assert_eq!(strftime_utc("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(
            strftime_utc("%A %B %e, %H:%M:%S %p %j %%", t),
            "Friday July 26, 13:25:09 PM 208 %"
        );
        assert_eq!(strftime_utc("%F %a", at(0)), "1970-01-01 Thu");
        // Leap day and the day after it.
        assert_eq!(
            strftime_utc("%F %j %a", at(951_782_400)),
            "2000-02-29 060 Tue"
        );
        assert_eq!(strftime_utc("%F %j", at(951_868_800)), "2000-03-01 061");
        assert_eq!(strftime_utc("%q", at(0)), "%q");
        // Each supported directive as `date -u +FORMAT` prints it.
        assert_eq!(
            strftime_utc("%D %y %I %u %w %Z %z %h|%e|%T%n%t%", t),
            "07/26/24 24 01 5 5 UTC +0000 Jul|26|13:25:09\n\t%"
        );
        assert_eq!(strftime_utc("%e|%I %p", at(0)), " 1|12 AM");
    }
}
