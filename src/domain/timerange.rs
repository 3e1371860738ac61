//! Time windows of the read API and the dashboard. Windows are aligned to the
//! roll-ups' buckets (whole UTC hours for spans up to 7 days, whole UTC days beyond)
//! so that every count comes from the roll-ups and agrees with the raw lists.

use super::timeutil::{format_rfc3339_ms, parse_rfc3339_ms, DAY_MS};

pub const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Most buckets a chart draws; longer windows get wider buckets.
const MAX_CHART_BUCKETS: i64 = 120;
/// Bounds accepted for `from`/`to`, so that no arithmetic on them can overflow and
/// every bound of a window can be written back.
const EARLIEST_MS: i64 = 0;
/// 9999-12-30T00:00:00Z: a window ending there still ends, rounded up to whole
/// days, within what RFC 3339 can write (years up to 9999).
const LATEST_MS: i64 = 253_402_128_000_000;

/// The presets offered by the pickers, with their labels.
pub const PRESETS: [(&str, &str); 7] = [
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("14d", "Last 14 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("1y", "Last 12 months"),
];

/// Which roll-up a window reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Granularity {
    #[default]
    Hour,
    Day,
}

impl Granularity {
    pub fn ms(self) -> i64 {
        match self {
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }

    /// Suffix of the roll-up tables at this granularity.
    pub fn table_suffix(self) -> &'static str {
        match self {
            Granularity::Hour => "hourly",
            Granularity::Day => "daily",
        }
    }

    pub fn floor(self, ms: i64) -> i64 {
        ms - ms.rem_euclid(self.ms())
    }

    pub fn ceil(self, ms: i64) -> i64 {
        let f = self.floor(ms);
        if f == ms {
            ms
        } else {
            f + self.ms()
        }
    }

    fn for_span(span: i64) -> Granularity {
        if span <= 7 * DAY_MS {
            Granularity::Hour
        } else {
            Granularity::Day
        }
    }
}

/// A half-open window `[from, to)` aligned to its granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub granularity: Granularity,
    /// The preset it came from (`7d`, …), `None` for explicit bounds.
    pub preset: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> RangeError {
    RangeError {
        field,
        message: message.into(),
    }
}

/// Span of a relative range: a preset or `<n>h`, `<n>d`, `<n>w`, `<n>m` (30 days),
/// `<n>y` (365 days).
fn relative_span(range: &str) -> Option<i64> {
    let r = range.trim().to_ascii_lowercase();
    let split = r.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = r.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit_ms = match unit {
        "h" => HOUR_MS,
        "d" => DAY_MS,
        "w" => WEEK_MS,
        "m" => 30 * DAY_MS,
        "y" => 365 * DAY_MS,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn preset_name(range: &str) -> Option<&'static str> {
    let r = range.trim().to_ascii_lowercase();
    let canonical = match r.as_str() {
        "1d" => "24h",
        "365d" | "12m" => "1y",
        other => other,
    };
    PRESETS.iter().map(|(p, _)| *p).find(|p| *p == canonical)
}

/// A bound given as RFC 3339, `YYYY-MM-DD` or Unix milliseconds. A date-only `to`
/// means the end of that day.
fn bound(field: &'static str, value: &str, end_of_day: bool) -> Result<i64, RangeError> {
    let v = value.trim();
    let ms = if let Ok(ms) = v.parse::<i64>() {
        ms
    } else if let Some(ms) = parse_rfc3339_ms(v) {
        ms
    } else {
        let date = time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| {
                err(
                    field,
                    format!("`{field}` must be a date (YYYY-MM-DD), RFC 3339 or Unix milliseconds"),
                )
            })?;
        let start = date.midnight().assume_utc().unix_timestamp() * 1000;
        if end_of_day {
            start.saturating_add(DAY_MS)
        } else {
            start
        }
    };
    if !(EARLIEST_MS..=LATEST_MS).contains(&ms) {
        return Err(err(
            field,
            format!("`{field}` must lie between 1970-01-01 and 9999-12-30"),
        ));
    }
    Ok(ms)
}

impl Window {
    /// The window for `range` (default `default_range`) ending now, or for explicit
    /// `from`/`to` bounds (which win over `range`).
    pub fn parse(
        range: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        default_range: &str,
        now: i64,
    ) -> Result<Window, RangeError> {
        let from = from.map(str::trim).filter(|s| !s.is_empty());
        let to = to.map(str::trim).filter(|s| !s.is_empty());
        if from.is_some() || to.is_some() {
            let to_ms = match to {
                Some(t) => bound("to", t, true)?,
                None => now,
            };
            let from_ms = match from {
                Some(f) => bound("from", f, false)?,
                None => to_ms - 30 * DAY_MS,
            };
            if from_ms >= to_ms {
                return Err(err("from", "`from` must be before `to`"));
            }
            let g = Granularity::for_span(to_ms - from_ms);
            return Ok(Window {
                from: g.floor(from_ms),
                to: g.ceil(to_ms).max(g.floor(from_ms) + g.ms()),
                granularity: g,
                preset: None,
            });
        }
        let range = range
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default_range);
        let span = relative_span(range).ok_or_else(|| {
            err(
                "range",
                format!(
                    "unknown range {range:?}; use 24h, 7d, 14d, 30d, 90d, 1y or <n>h/<n>d/<n>w"
                ),
            )
        })?;
        let g = Granularity::for_span(span);
        // Whole buckets ending with the one in progress; nothing is older than 1970.
        let to = g.ceil(now.clamp(EARLIEST_MS, LATEST_MS) + 1);
        let buckets = (span - 1) / g.ms() + 1;
        Ok(Window {
            from: to
                .saturating_sub(buckets.saturating_mul(g.ms()))
                .max(EARLIEST_MS),
            to,
            granularity: g,
            preset: preset_name(range),
        })
    }

    pub fn span(&self) -> i64 {
        self.to - self.from
    }

    /// The window of the same length just before this one.
    pub fn previous(&self) -> Window {
        Window {
            from: self.from - self.span(),
            to: self.from,
            granularity: self.granularity,
            preset: None,
        }
    }

    /// Width of one chart bucket: hours up to two days, six hours up to a week,
    /// days up to about three months, weeks up to two years, then whole multiples
    /// of weeks so that a chart never has more than `MAX_CHART_BUCKETS`.
    pub fn chart_step(&self) -> i64 {
        let span = self.span();
        if span <= 2 * DAY_MS {
            HOUR_MS
        } else if span <= 7 * DAY_MS {
            6 * HOUR_MS
        } else if span <= 92 * DAY_MS {
            DAY_MS
        } else {
            let weeks = (span + WEEK_MS * MAX_CHART_BUCKETS - 1) / (WEEK_MS * MAX_CHART_BUCKETS);
            WEEK_MS * weeks.max(1)
        }
    }

    /// Start of every chart bucket, oldest first.
    pub fn chart_buckets(&self) -> Vec<i64> {
        let step = self.chart_step();
        (0..)
            .map(|i| self.from + i * step)
            .take_while(|t| *t < self.to)
            .collect()
    }

    /// Index of the chart bucket holding `ms`, if inside the window.
    pub fn chart_index(&self, ms: i64) -> Option<usize> {
        (ms >= self.from && ms < self.to).then(|| ((ms - self.from) / self.chart_step()) as usize)
    }

    pub fn label(&self) -> String {
        if let Some(p) = self.preset {
            if let Some((_, label)) = PRESETS.iter().find(|(name, _)| *name == p) {
                return (*label).to_string();
            }
        }
        let text = |ms: i64, len: usize| {
            format_rfc3339_ms(ms)
                .get(..len)
                .unwrap_or("")
                .replace('T', " ")
        };
        match self.granularity {
            Granularity::Day => format!("{} – {}", text(self.from, 10), text(self.to - 1, 10)),
            Granularity::Hour => format!("{} – {} UTC", text(self.from, 16), text(self.to, 16)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_536_220_000; // 2025-11-30T20:57:00Z

    #[test]
    fn presets_are_whole_buckets_ending_with_the_current_one() {
        let w = Window::parse(Some("24h"), None, None, "7d", NOW).unwrap();
        assert_eq!(w.granularity, Granularity::Hour);
        assert_eq!(w.to, Granularity::Hour.ceil(NOW + 1));
        assert_eq!(w.span(), 24 * HOUR_MS);
        assert!(w.from <= NOW - 23 * HOUR_MS);
        let w = Window::parse(Some("30d"), None, None, "7d", NOW).unwrap();
        assert_eq!(w.granularity, Granularity::Day);
        assert_eq!(w.span(), 30 * DAY_MS);
        assert_eq!(w.from % DAY_MS, 0);
        assert_eq!(w.chart_buckets().len(), 30);
        let w = Window::parse(None, None, None, "7d", NOW).unwrap();
        assert_eq!(w.preset, Some("7d"));
        assert_eq!(w.chart_buckets().len(), 28);
        let y = Window::parse(Some("365d"), None, None, "7d", NOW).unwrap();
        assert_eq!(y.preset, Some("1y"));
        assert_eq!(y.chart_step(), WEEK_MS);
    }

    #[test]
    fn custom_ranges() {
        let w = Window::parse(Some("2w"), None, None, "7d", NOW).unwrap();
        assert_eq!(w.span(), 14 * DAY_MS);
        assert!(Window::parse(Some("2x"), None, None, "7d", NOW).is_err());
        let long = Window::parse(None, Some("0"), None, "7d", NOW).unwrap();
        assert!(long.chart_buckets().len() <= MAX_CHART_BUCKETS as usize);
        let ages = Window::parse(Some("20000y"), None, None, "7d", NOW).unwrap();
        assert_eq!(ages.from, 0);
        assert!(ages.chart_buckets().len() <= MAX_CHART_BUCKETS as usize);
        assert!(!ages.label().is_empty());
        for (from, to) in [
            ("-9000000000000000000", "9000000000000000000"),
            ("-1", "5"),
            ("0", "253402300800000"),
        ] {
            assert!(
                Window::parse(None, Some(from), Some(to), "7d", NOW).is_err(),
                "{from}..{to}"
            );
        }
        assert!(Window::parse(Some("0d"), None, None, "7d", NOW).is_err());
    }

    #[test]
    fn absolute_dates_cover_whole_days() {
        let w = Window::parse(None, Some("2025-11-01"), Some("2025-11-10"), "7d", NOW).unwrap();
        assert_eq!(format_rfc3339_ms(w.from), "2025-11-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_ms(w.to), "2025-11-11T00:00:00.000Z");
        assert_eq!(w.label(), "2025-11-01 – 2025-11-10");
        assert!(Window::parse(None, Some("2025-11-10"), Some("2025-11-01"), "7d", NOW).is_err());
        assert!(Window::parse(None, Some("yesterday"), None, "7d", NOW).is_err());
        let ms = Window::parse(None, Some("1000"), Some("5000"), "7d", NOW).unwrap();
        assert_eq!((ms.from, ms.to), (0, HOUR_MS));
    }

    #[test]
    fn previous_window_abuts() {
        let w = Window::parse(Some("7d"), None, None, "7d", NOW).unwrap();
        let p = w.previous();
        assert_eq!(p.to, w.from);
        assert_eq!(p.span(), w.span());
        assert_eq!(w.chart_index(w.from), Some(0));
        assert_eq!(w.chart_index(w.to), None);
    }
}
