//! Small pieces every page uses: numbers and times as people read them, KPI cards,
//! badges, empty states, the filter bar, pagination and breakdown lists.

use crate::domain::timerange::{Window, PRESETS};
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::analytics::FilterOptions;
use crate::service::period::Change;
use crate::web::filters::Filters;
use crate::web::security::CSRF_FIELD;
use maud::{html, Markup};

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A percentage with one decimal, or a dash when unknown.
pub fn percent(p: Option<f64>) -> String {
    match p {
        Some(p) if (99.95..100.0).contains(&p) => "99.9 %".into(),
        Some(p) => format!("{p:.1} %"),
        None => "–".into(),
    }
}

/// A rate (0–1) as a percentage.
pub fn rate(r: Option<f64>) -> String {
    percent(r.map(|r| r * 100.0))
}

/// UTC date and time to the minute.
pub fn when(ms: i64) -> String {
    let s = format_rfc3339_ms(ms);
    format!(
        "{} {}",
        s.get(..10).unwrap_or(""),
        s.get(11..16).unwrap_or("")
    )
}

/// A `<time>` element showing `when`, with the exact instant for tooltips and scripts.
pub fn time(ms: i64) -> Markup {
    let shown = when(ms);
    let (date, hm) = shown.split_once(' ').unwrap_or((&shown, ""));
    // Date and time each stay whole; a narrow column breaks between them.
    html! { time datetime=(format_rfc3339_ms(ms)) title=(format_rfc3339_ms(ms)) { span class="nowrap" { (date) } " " span class="nowrap" { (hm) } } }
}

/// A `<time>` element showing the time of day to the second (UTC), or to the
/// millisecond where neighbouring moments share a second.
pub fn clock(ms: i64, millis: bool) -> Markup {
    let s = format_rfc3339_ms(ms);
    let shown = s.get(11..if millis { 23 } else { 19 }).unwrap_or("");
    html! { time datetime=(s) title=(s) { (shown) } }
}

/// How long ago, coarsely: "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn ago_at(ms: i64, now: i64) -> String {
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        86_400..=172_799 => "yesterday".into(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The wall clock, for views that show how old something is.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ago_at` against the wall clock.
pub fn ago(ms: i64) -> String {
    ago_at(ms, now_ms())
}

/// `95_000` ms → `1 min 35 s`.
pub fn duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0 if ms > 0 => format!("{ms} ms"),
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// JSON text indented for reading; anything else as it is.
pub fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_string())
}

/// The change against the previous period, as an arrow and a percentage. `rise_is_bad`
/// colours a rise red (errors) instead of green (events).
pub fn delta(change: &Change, rise_is_bad: bool) -> Markup {
    let Some(p) = change.percent() else {
        return html! { span class="kpi-delta flat" { "no earlier data" } };
    };
    let (dir, arrow) = if p > 0.5 {
        ("up", "▲")
    } else if p < -0.5 {
        ("down", "▼")
    } else {
        ("flat", "▶")
    };
    let tone = match (dir, rise_is_bad) {
        ("flat", _) => "",
        ("up", false) | ("down", true) => " good",
        _ => " bad",
    };
    html! {
        span class=(format!("kpi-delta {dir}{tone}")) {
            (arrow) " " (format!("{:.0} %", p.abs())) span class="sr-only" { " versus the previous period" }
        }
    }
}

/// A change in percentage points (for rates such as crash-free sessions).
pub fn delta_rate(now: Option<f64>, before: Option<f64>) -> Markup {
    let (Some(a), Some(b)) = (now, before) else {
        return html! { span class="kpi-delta flat" { "no earlier data" } };
    };
    let d = (a - b) * 100.0;
    let (cls, arrow) = if d > 0.05 {
        ("kpi-delta up good", "▲")
    } else if d < -0.05 {
        ("kpi-delta down bad", "▼")
    } else {
        ("kpi-delta flat", "▶")
    };
    html! { span class=(cls) { (arrow) " " (format!("{:.1} pts", d.abs())) span class="sr-only" { " versus the previous period" } } }
}

pub fn kpi(label: &str, value: &str, delta: Markup, sub: Option<&str>) -> Markup {
    html! {
        div class="kpi" {
            div class="kpi-label" { (label) }
            div class="kpi-value" { (value) }
            (delta)
            @if let Some(sub) = sub { div class="kpi-sub" { (sub) } }
        }
    }
}

pub fn status_badge(status: &str) -> Markup {
    let (cls, label) = match status {
        "resolved" => ("badge badge-resolved", "Resolved"),
        "ignored" => ("badge badge-ignored", "Ignored"),
        _ => ("badge badge-unresolved", "Unresolved"),
    };
    html! { span class=(cls) { (label) } }
}

pub fn rating_badge(rating: Option<&str>) -> Markup {
    match rating {
        Some("good") => html! { span class="badge badge-good" { "Good" } },
        Some("needs-improvement") => html! { span class="badge badge-ni" { "Needs improvement" } },
        Some("poor") => html! { span class="badge badge-poor" { "Poor" } },
        _ => html! { span class="badge badge-neutral" { "No data" } },
    }
}

/// What to do when there is nothing to show.
pub fn empty(title: &str, text: &str, actions: Markup) -> Markup {
    html! {
        div class="empty" {
            h2 class="empty-title" { (title) }
            p class="muted" { (text) }
            div class="empty-actions" { (actions) }
        }
    }
}

/// Previous / next links.
pub fn pager(prev: Option<String>, next: Option<String>, info: &str) -> Markup {
    if prev.is_none() && next.is_none() {
        return html! {};
    }
    html! {
        nav class="pager" aria-label="Pages" {
            @if let Some(p) = prev { a class="btn" href=(p) rel="prev" { "← Newer" } }
            span class="muted" { (info) }
            @if let Some(n) = next { a class="btn" href=(n) rel="next" { "Older →" } }
        }
    }
}

/// Labels with counts and a bar of their share.
pub fn breakdown(rows: &[(String, i64)], empty_label: &str) -> Markup {
    let total: i64 = rows.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return html! { p class="muted" { "No data in this range." } };
    }
    html! {
        ul class="breakdown" {
            @for (label, n) in rows {
                @let share = *n as f64 / total as f64 * 100.0;
                li {
                    span class="bd-label" {
                        @if label.is_empty() { span class="muted" { (empty_label) } } @else { (label) }
                    }
                    span class="bd-count num" { (count(*n)) " · " (format!("{share:.0} %")) }
                    progress max="100" value=(format!("{share:.1}")) aria-label=(format!("{share:.0} percent")) {}
                }
            }
        }
    }
}

fn select(name: &str, label: &str, all: &str, options: &[String], chosen: Option<&str>) -> Markup {
    html! {
        label class="field" {
            span { (label) }
            select name=(name) data-autosubmit {
                option value="" selected[chosen.is_none()] { (all) }
                @for o in options {
                    option value=(o) selected[chosen == Some(o.as_str())] { (o) }
                }
                @if let Some(c) = chosen {
                    @if !options.iter().any(|o| o == c) {
                        option value=(c) selected { (c) }
                    }
                }
            }
        }
    }
}

/// The filter bar: range (preset or custom dates), app, environment and release.
/// `keep` are page parameters carried through (e.g. the chosen event name).
pub fn filter_bar(
    path: &str,
    filters: &Filters,
    window: &Window,
    options: &FilterOptions,
    keep: &[(&str, &str)],
) -> Markup {
    let custom = filters.from.is_some() || filters.to.is_some();
    let chosen_range = if custom {
        None
    } else {
        Some(
            window
                .preset
                .unwrap_or_else(|| filters.range.as_deref().unwrap_or("")),
        )
    };
    let day = |ms: i64| format_rfc3339_ms(ms).get(..10).unwrap_or("").to_string();
    html! {
        form class="filters" method="get" action=(path) {
            @for (k, v) in keep {
                @if !v.is_empty() { input type="hidden" name=(k) value=(v); }
            }
            label class="field" {
                span { "Range" }
                select name="range" data-autosubmit {
                    @for (value, label) in PRESETS {
                        option value=(value) selected[chosen_range == Some(value)] { (label) }
                    }
                    @if let Some(r) = chosen_range {
                        @if !PRESETS.iter().any(|(p, _)| *p == r) {
                            option value=(r) selected { (window.label()) }
                        }
                    }
                    @if custom { option value="" selected { (window.label()) } }
                }
            }
            (select("app", "App", "All apps", &options.apps, filters.app.as_deref()))
            (select("environment", "Environment", "All environments", &options.environments, filters.environment.as_deref()))
            (select("release", "Release", "All releases", &options.releases, filters.release.as_deref()))
            details class="custom-range" open[custom] {
                summary { "Custom dates" }
                label class="field" { span { "From" } input type="date" name="from" value=[custom.then(|| day(window.from))]; }
                label class="field" { span { "To" } input type="date" name="to" value=[custom.then(|| day(window.to - 1))]; }
            }
            button class="btn" type="submit" { "Apply" }
            @if filters.is_filtered() || custom {
                a class="btn btn-ghost" href=(path) { "Reset" }
            }
        }
    }
}

/// `1234567` → `1.2 MB`: sizes as people read them (decimal units).
pub fn byte_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value < 10.0 { 1 } else { 0 };
    format!("{value:.digits$} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(byte_size(0), "0 B");
        assert_eq!(byte_size(999), "999 B");
        assert_eq!(byte_size(1_000), "1.0 KB");
        assert_eq!(byte_size(12_345), "12 KB");
        assert_eq!(byte_size(999_960), "1.0 MB");
        assert_eq!(byte_size(3_400_000_000), "3.4 GB");
    }

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(duration(95_000), "1 min 35 s");
        assert_eq!(duration(450), "450 ms");
        assert_eq!(duration(3_700_000), "1 h 01 min");
        assert_eq!(ago_at(0, 90_000), "1 min ago");
        assert_eq!(percent(Some(99.97)), "99.9 %");
        assert_eq!(percent(None), "–");
    }
}
