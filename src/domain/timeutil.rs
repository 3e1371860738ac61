//! Time arithmetic on Unix milliseconds, the schema's time unit.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

/// Parses an RFC 3339 timestamp (any offset) into Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 in UTC with exactly three fractional digits, as the SDKs send it.
pub fn format_rfc3339_ms(ms: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

/// The UTC month of `ms` as `YYYY-MM`, the key of usage metering.
/// A wait for people: "45 seconds", "1 minute", "14 minutes".
pub fn wait_in_words(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "1 minute".into(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

pub fn month_key(ms: i64) -> String {
    let t = to_datetime(ms);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// Start of the UTC month after the one containing `ms`, in Unix milliseconds.
pub fn next_month_start_ms(ms: i64) -> i64 {
    let t = to_datetime(ms);
    let (y, m) = match t.month() {
        time::Month::December => (t.year() + 1, time::Month::January),
        m => (t.year(), m.next()),
    };
    let date = time::Date::from_calendar_date(y, m, 1).unwrap_or(t.date());
    date.midnight().assume_utc().unix_timestamp() * 1000
}

fn to_datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Client time is trusted within 30 days back and 5 minutes ahead of arrival;
/// anything else (clock skew, replays) takes the arrival time.
pub fn accept_client_time(client: Option<i64>, now: i64) -> i64 {
    match client {
        Some(t) if t >= now - 30 * DAY_MS && t <= now + 5 * MINUTE_MS => t,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_z() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn months() {
        let t = parse_rfc3339_ms("2026-12-31T23:59:59Z").unwrap();
        assert_eq!(month_key(t), "2026-12");
        assert_eq!(
            format_rfc3339_ms(next_month_start_ms(t)),
            "2027-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn client_time_window() {
        let now = 100 * DAY_MS;
        assert_eq!(accept_client_time(Some(now - DAY_MS), now), now - DAY_MS);
        assert_eq!(accept_client_time(Some(now - 31 * DAY_MS), now), now);
        assert_eq!(accept_client_time(Some(now + 6 * MINUTE_MS), now), now);
        assert_eq!(accept_client_time(None, now), now);
    }
}
