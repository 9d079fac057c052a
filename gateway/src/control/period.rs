//! Budget windows: parsing `budget_duration` (`30s`, `30m`, `30h`, `1d`, `1w`, `1mo`) and the
//! calendar window a moment falls in, in the configured timezone (LiteLLM's reset rules).
//!
//! Windows are pure functions of the instant, so every replica and every restart agrees on them:
//! - under a day (`s`, `m`, `h` below 24): fixed slices counted from the Unix epoch;
//! - `1d`/`24h`: local midnight to midnight; `Nd`: N-day slices from local midnight;
//! - `7d`/`1w`/`Nw`: weeks starting Monday at local midnight;
//! - `30d`/`1mo`/`Nmo`: calendar months starting on the 1st at local midnight.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed `budget_duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// A fixed slice in milliseconds, shorter than a day.
    Millis(i64),
    Days(i64),
    Weeks(i64),
    Months(i64),
}

/// Parses `30s`, `30m`, `30h`, `30d`, `1w`, `1mo` (also `24h` → a day, `30d` → a month, `7d` →
/// a week, as LiteLLM resets them).
pub fn parse(s: &str) -> Result<Every, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?}: expected a number and a unit (s, m, h, d, w, mo)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (s, m, h, d, w, mo)"))?;
    if n <= 0 {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(match unit {
        "s" => short(n * 1000),
        "m" => short(n * 60_000),
        "h" => short(n * 3_600_000),
        "d" if n == 7 => Every::Weeks(1),
        "d" if n == 30 => Every::Months(1),
        "d" => Every::Days(n),
        "w" => Every::Weeks(n),
        "mo" => Every::Months(n),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d, w or mo)"
            ))
        }
    })
}

fn short(ms: i64) -> Every {
    const DAY: i64 = 86_400_000;
    if ms % DAY == 0 {
        Every::Days(ms / DAY)
    } else {
        Every::Millis(ms)
    }
}

/// The window `[start, end)` (Unix ms) that `now_ms` falls in.
pub fn window(every: Every, now_ms: i64, tz: Tz) -> (i64, i64) {
    match every {
        Every::Millis(len) => {
            let start = now_ms.div_euclid(len) * len;
            (start, start + len)
        }
        Every::Days(n) => {
            let today = local_date(now_ms, tz);
            let days = today.num_days_from_ce() as i64;
            let first = today - ChronoDuration::days(days.rem_euclid(n));
            (
                midnight(first, tz),
                midnight(first + ChronoDuration::days(n), tz),
            )
        }
        Every::Weeks(n) => {
            let today = local_date(now_ms, tz);
            let monday =
                today - ChronoDuration::days(today.weekday().num_days_from_monday() as i64);
            // Week numbers counted from a Monday (1970-01-05) so N-week windows are stable.
            let epoch_monday = NaiveDate::from_ymd_opt(1970, 1, 5).expect("valid date");
            let weeks = (monday - epoch_monday).num_days().div_euclid(7);
            let first = monday - ChronoDuration::weeks(weeks.rem_euclid(n));
            (
                midnight(first, tz),
                midnight(first + ChronoDuration::weeks(n), tz),
            )
        }
        Every::Months(n) => {
            let today = local_date(now_ms, tz);
            let index = today.year() as i64 * 12 + today.month0() as i64;
            let first = index - index.rem_euclid(n);
            (
                midnight(month_start(first), tz),
                midnight(month_start(first + n), tz),
            )
        }
    }
}

fn local_date(now_ms: i64, tz: Tz) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

fn month_start(index: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(
        index.div_euclid(12) as i32,
        index.rem_euclid(12) as u32 + 1,
        1,
    )
    .expect("valid month")
}

/// Local midnight of `date` as Unix ms; on a DST gap at midnight, the first valid instant.
fn midnight(date: NaiveDate, tz: Tz) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("valid time");
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.timestamp_millis(),
        chrono::LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + ChronoDuration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| naive.and_utc().timestamp_millis()),
    }
}

/// Parses an IANA timezone name (`litellm_settings.timezone`).
pub fn timezone(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA timezone name (e.g. \"US/Eastern\")"))
}

/// Unix ms as RFC 3339 UTC (`2026-11-21T10:00:00Z`), the form the management API returns.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses RFC 3339 or a bare `YYYY-MM-DD` date (UTC midnight) into Unix ms.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("valid")
            .and_utc()
            .timestamp_millis()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        parse_instant(s).unwrap()
    }

    #[test]
    fn parses_litellm_durations() {
        assert_eq!(parse("30s"), Ok(Every::Millis(30_000)));
        assert_eq!(parse("30m"), Ok(Every::Millis(1_800_000)));
        assert_eq!(parse("30h"), Ok(Every::Millis(30 * 3_600_000)));
        assert_eq!(parse("24h"), Ok(Every::Days(1)));
        assert_eq!(parse("1d"), Ok(Every::Days(1)));
        assert_eq!(parse("7d"), Ok(Every::Weeks(1)));
        assert_eq!(parse("1w"), Ok(Every::Weeks(1)));
        assert_eq!(parse("30d"), Ok(Every::Months(1)));
        assert_eq!(parse("1mo"), Ok(Every::Months(1)));
        assert!(parse("0d").is_err());
        assert!(parse("5y").unwrap_err().contains("unknown unit"));
        assert!(parse("d").is_err());
    }

    #[test]
    fn windows_follow_the_calendar_in_the_timezone() {
        let utc: Tz = "UTC".parse().unwrap();
        let now = at("2026-11-21T15:04:05Z");
        assert_eq!(
            window(Every::Millis(30_000), now, utc),
            (at("2026-11-21T15:04:00Z"), at("2026-11-21T15:04:30Z"))
        );
        assert_eq!(
            window(Every::Days(1), now, utc),
            (at("2026-11-21T00:00:00Z"), at("2026-11-22T00:00:00Z"))
        );
        // 2026-11-21 is a Saturday: the week began on Monday the 16th.
        assert_eq!(
            window(Every::Weeks(1), now, utc),
            (at("2026-11-16T00:00:00Z"), at("2026-11-23T00:00:00Z"))
        );
        assert_eq!(
            window(Every::Months(1), now, utc),
            (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))
        );
        let tokyo = timezone("Asia/Tokyo").unwrap();
        // 15:04 UTC is already the 22nd in Tokyo (UTC+9): the day began at 15:00 UTC.
        assert_eq!(
            window(Every::Days(1), now, tokyo),
            (at("2026-11-21T15:00:00Z"), at("2026-11-22T15:00:00Z"))
        );
        let eastern = timezone("US/Eastern").unwrap();
        assert_eq!(
            window(Every::Months(1), at("2026-12-01T03:00:00Z"), eastern),
            (at("2026-11-01T04:00:00Z"), at("2026-12-01T05:00:00Z"))
        );
        assert!(timezone("Mars/Olympus").is_err());
    }

    #[test]
    fn every_instant_is_inside_its_window() {
        let tz = timezone("Europe/London").unwrap();
        for every in [
            Every::Days(3),
            Every::Weeks(2),
            Every::Months(3),
            Every::Millis(7_000),
        ] {
            for i in 0..200 {
                let now = at("2026-01-01T00:00:00Z") + i * 1_987_654_321 % 40_000_000_000;
                let (s, e) = window(every, now, tz);
                assert!(s <= now && now < e, "{every:?} {now} not in [{s}, {e})");
                assert_eq!(window(every, e, tz).0, e, "{every:?}: windows tile");
            }
        }
    }
}
