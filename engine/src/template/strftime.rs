//! `strftime_now(format)`, the date function transformers gives chat templates.
//!
//! Llama 3 templates print "Today Date: 26 Jul 2024" with it. The engine has
//! no time-zone database and reads no environment, so the date is UTC; callers
//! that want a fixed prompt pass `date_string` (or the like) explicitly.

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The template global: formats the current UTC time.
pub(crate) fn strftime_now(format: String) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        // A clock before 1970 is a misconfigured machine; print the epoch.
        .unwrap_or(0);
    strftime_utc(&format, now)
}

/// A calendar time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CivilTime {
    year: i64,
    /// 1..=12
    month: u32,
    /// 1..=31
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday
    weekday: u32,
    /// 1..=366
    day_of_year: u32,
}

fn civil_time(unix_seconds: i64) -> CivilTime {
    let days = unix_seconds.div_euclid(86_400);
    let seconds_of_day = unix_seconds.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_march_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_march_year + 2) / 153;
    let day = (day_of_march_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const DAYS_BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let day_of_year = DAYS_BEFORE_MONTH[(month - 1) as usize] + day + u32::from(leap && month > 2);
    CivilTime {
        year,
        month,
        day,
        hour: seconds_of_day / 3600,
        minute: seconds_of_day / 60 % 60,
        second: seconds_of_day % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 3).rem_euclid(7) as u32,
        day_of_year,
    }
}

/// C `strftime` for the common directives, in the C locale, for a UTC time.
/// Unknown directives are copied through unchanged, as glibc does.
fn strftime_utc(format: &str, unix_seconds: i64) -> String {
    let t = civil_time(unix_seconds);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(directive) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = if t.hour.is_multiple_of(12) {
            12
        } else {
            t.hour % 12
        };
        let piece = match directive {
            'a' => WEEKDAYS[t.weekday as usize][..3].to_owned(),
            'A' => WEEKDAYS[t.weekday as usize].to_owned(),
            'b' | 'h' => MONTHS[(t.month - 1) as usize][..3].to_owned(),
            'B' => MONTHS[(t.month - 1) as usize].to_owned(),
            'd' => format!("{:02}", t.day),
            'e' => format!("{:2}", t.day),
            'm' => format!("{:02}", t.month),
            'y' => format!("{:02}", t.year.rem_euclid(100)),
            'Y' => t.year.to_string(),
            'H' => format!("{:02}", t.hour),
            'I' => format!("{hour12:02}"),
            'M' => format!("{:02}", t.minute),
            'S' => format!("{:02}", t.second),
            'p' => if t.hour < 12 { "AM" } else { "PM" }.to_owned(),
            'j' => format!("{:03}", t.day_of_year),
            'u' => (t.weekday + 1).to_string(),
            'w' => ((t.weekday + 1) % 7).to_string(),
            'F' => format!("{}-{:02}-{:02}", t.year, t.month, t.day),
            'T' => format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
            'D' => format!("{:02}/{:02}/{:02}", t.month, t.day, t.year.rem_euclid(100)),
            'Z' => "UTC".to_owned(),
            'z' => "+0000".to_owned(),
            'n' => "\n".to_owned(),
            't' => "\t".to_owned(),
            '%' => "%".to_owned(),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        // 2024-07-26 13:25:09 UTC, a Friday (checked with `date -u -d @1722000309`).
        let t = 1_722_000_309;
        assert_eq!(strftime_utc("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(
            strftime_utc("%A %B %e, %H:%M:%S %p %j %%", t),
            "Friday July 26, 13:25:09 PM 208 %"
        );
        assert_eq!(strftime_utc("%F %a", 0), "1970-01-01 Thu");
        // Leap day and the day after it.
        assert_eq!(strftime_utc("%F %j %a", 951_782_400), "2000-02-29 060 Tue");
        assert_eq!(strftime_utc("%F %j", 951_868_800), "2000-03-01 061");
        assert_eq!(strftime_utc("%q", 0), "%q");
    }
}
