//! Charts drawn on the server as SVG: bars and lines over time with readable axes,
//! a tooltip per bucket through `<title>`, sparklines and rating bars. Colours come
//! from CSS classes, so both themes apply and the CSP needs no inline styles.

use crate::domain::timerange::Window;
use crate::domain::timeutil::{format_rfc3339_ms, DAY_MS};
use crate::web::components::count;
use maud::{html, Markup};

const W: f64 = 800.0;
const H: f64 = 220.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 52.0;

/// One series: its name (legend, tooltips), CSS class and values per bucket.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<Option<f64>>,
}

impl<'a> Series<'a> {
    pub fn counts(name: &'a str, class: &'a str, values: &[i64]) -> Series<'a> {
        Series {
            name,
            class,
            values: values.iter().map(|v| Some(*v as f64)).collect(),
        }
    }
}

/// Grid lines of the value axis.
const TICKS: f64 = 4.0;

/// What a chart's values measure, which decides its ticks and how values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole things (events, sessions): whole-number ticks.
    Count,
    /// Durations in milliseconds: whole-number ticks, "ms" in tooltips.
    Millis,
    /// A unitless score such as CLS: decimal ticks.
    Score,
}

/// A value axis: four equal steps of a round size from zero.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    step: f64,
    /// Decimals the step needs, so every label is exact.
    decimals: usize,
}

impl Axis {
    /// The smallest round step (1, 2, 2.5 or 5 times a power of ten; whole for
    /// counts and milliseconds) whose four steps reach `max`.
    fn for_max(max: f64, unit: Unit) -> Axis {
        let whole = unit != Unit::Score;
        let raw = match (max > 0.0, whole) {
            (true, true) => (max / TICKS).max(1.0),
            (true, false) => max / TICKS,
            (false, true) => 1.0,
            (false, false) => 0.025,
        };
        let exponent = raw.log10().floor() as i32;
        let candidates = [1.0, 2.0, 2.5, 5.0, 10.0];
        let (step, exponent) = candidates
            .iter()
            .flat_map(|m| [(m, exponent), (m, exponent + 1)])
            .map(|(m, e)| (m * 10f64.powi(e), e))
            .filter(|(step, _)| !whole || (*step >= 1.0 && (step - step.round()).abs() < 1e-9))
            .filter(|(step, _)| *step >= raw * (1.0 - 1e-9))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((raw, exponent));
        let mantissa_decimals = usize::from((step / 10f64.powi(exponent) - 2.5).abs() < 1e-9);
        Axis {
            step: if whole { step.round() } else { step },
            decimals: if whole {
                0
            } else {
                (-exponent).max(0) as usize + mantissa_decimals
            },
        }
    }

    fn max(&self) -> f64 {
        self.step * TICKS
    }

    /// The grid lines from zero up, with their labels.
    fn ticks(&self) -> Vec<(f64, String)> {
        (0..=TICKS as usize)
            .map(|i| {
                let v = self.step * i as f64;
                let label = if v.abs() >= 1e3 {
                    compact(v)
                } else {
                    let s = format!("{v:.*}", self.decimals);
                    if s.contains('.') {
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        s
                    }
                };
                (v, label)
            })
            .collect()
    }
}

/// `1234` → `1.2k`, for axis labels.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6).replace(".0M", "M")
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3).replace(".0k", "k")
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn month_day(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = format_rfc3339_ms(ms);
    let month: usize = s.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let day: u32 = s.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    format!("{} {day}", MONTHS[(month - 1).min(11)])
}

fn hour_minute(ms: i64) -> String {
    format_rfc3339_ms(ms).get(11..16).unwrap_or("").to_string()
}

/// A bucket's label on the x axis, where labels are `spacing` apart: the time of day
/// while several fall on one day, the date from midnight or once they are a day or
/// more apart (with the time too, when the bucket does not start at midnight).
pub fn bucket_label(start: i64, step: i64, spacing: i64) -> String {
    let midnight = start.rem_euclid(DAY_MS) == 0;
    if step >= DAY_MS || (midnight && spacing >= DAY_MS) {
        month_day(start)
    } else if spacing >= DAY_MS {
        format!("{} {}", month_day(start), hour_minute(start))
    } else if midnight {
        month_day(start)
    } else {
        hour_minute(start)
    }
}

/// The buckets that get a label (at most about seven), with their labels.
fn x_labels(starts: &[i64], step: i64) -> Vec<(usize, String)> {
    let every = (starts.len() as f64 / 7.0).ceil().max(1.0) as usize;
    let spacing = step * every as i64;
    starts
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, start)| (i, bucket_label(*start, step, spacing)))
        .collect()
}

/// A bucket's span for tooltips: "Nov 30 14:00–15:00" or "Nov 30".
fn bucket_span(start: i64, step: i64) -> String {
    if step < DAY_MS {
        format!(
            "{} {}–{} UTC",
            month_day(start),
            hour_minute(start),
            hour_minute(start + step)
        )
    } else if step == DAY_MS {
        month_day(start)
    } else {
        format!(
            "{} – {}",
            month_day(start),
            month_day(start + step - DAY_MS)
        )
    }
}

fn format_value(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "no data".into(),
        (Some(v), Unit::Count) => count(v.round() as i64),
        (Some(v), Unit::Millis) => format!("{} ms", count(v.round() as i64)),
        (Some(v), Unit::Score) => format!("{v:.3}"),
    }
}

/// Bars for `bars`, lines for `lines` (on a right-hand axis of their own when
/// `lines_own_axis`), one column per chart bucket of `window`.
pub fn time_chart(
    id: &str,
    caption: &str,
    window: &Window,
    bars: Option<&Series<'_>>,
    lines: &[Series<'_>],
    lines_own_axis: bool,
    unit: Unit,
) -> Markup {
    let starts = window.chart_buckets();
    let step = window.chart_step();
    let n = starts.len().max(1);
    let plot_w = W - LEFT - if lines_own_axis { RIGHT } else { 16.0 };
    let plot_h = H - TOP - BOTTOM;
    let col = plot_w / n as f64;
    let max_of = |s: &Series<'_>| s.values.iter().flatten().fold(0.0f64, |a, b| a.max(*b));
    let left = Axis::for_max(
        bars.map(max_of).unwrap_or(0.0).max(if lines_own_axis {
            0.0
        } else {
            lines.iter().map(max_of).fold(0.0, f64::max)
        }),
        unit,
    );
    let right = Axis::for_max(lines.iter().map(max_of).fold(0.0, f64::max), unit);
    let (left_max, right_max) = (left.max(), right.max());
    let y = |v: f64, max: f64| TOP + plot_h - (v / max) * plot_h;
    let x_mid = |i: usize| LEFT + col * (i as f64 + 0.5);
    let total: f64 = bars
        .map(|b| b.values.iter().flatten().sum())
        .unwrap_or_default();
    let desc = match bars {
        Some(b) => format!("{}: {} in total.", b.name, count(total.round() as i64)),
        None => lines.iter().map(|l| l.name).collect::<Vec<_>>().join(", "),
    };
    html! {
        figure class="chart" {
            svg class="chart-svg" viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
                title id=(format!("{id}-t")) { (caption) }
                desc id=(format!("{id}-d")) { (desc) }
                // Grid and left axis.
                @for ((v, label), (_, right_label)) in left.ticks().into_iter().zip(right.ticks()) {
                    @let gy = y(v, left_max);
                    line class="grid-line" x1=(LEFT) x2=(W - if lines_own_axis { RIGHT } else { 16.0 }) y1=(gy) y2=(gy) {}
                    text class="axis-label" x=(LEFT - 6.0) y=(gy + 4.0) text-anchor="end" { (label) }
                    @if lines_own_axis && !lines.is_empty() {
                        text class="axis-label" x=(W - RIGHT + 6.0) y=(gy + 4.0) text-anchor="start" { (right_label) }
                    }
                }
                @for (i, label) in x_labels(&starts, step) {
                    text class="axis-label" x=(x_mid(i)) y=(H - 8.0) text-anchor="middle" { (label) }
                }
                @if let Some(b) = bars {
                    @for (i, v) in b.values.iter().enumerate() {
                        @if let Some(v) = v.filter(|v| *v > 0.0) {
                            @let top = y(v, left_max);
                            rect class=(format!("bar {}", b.class)) x=(LEFT + col * i as f64 + col * 0.15) y=(top)
                                width=(col * 0.7) height=((TOP + plot_h - top).max(1.0)) {}
                        }
                    }
                }
                @for l in lines {
                    @let max = if lines_own_axis { right_max } else { left_max };
                    @for segment in segments(&l.values) {
                        @if segment.len() == 1 {
                            circle class=(format!("dot {}", l.class)) cx=(x_mid(segment[0].0)) cy=(y(segment[0].1, max)) r="3" {}
                        } @else {
                            polyline class=(format!("line {}", l.class)) points=(segment.iter().map(|(i, v)| format!("{:.1},{:.1}", x_mid(*i), y(*v, max))).collect::<Vec<_>>().join(" ")) {}
                        }
                    }
                }
                // One hover target per bucket, carrying its tooltip.
                @for (i, start) in starts.iter().enumerate() {
                    rect class="hit" x=(LEFT + col * i as f64) y=(TOP) width=(col) height=(plot_h) {
                        title {
                            (bucket_span(*start, step))
                            @if let Some(b) = bars { " — " (b.name) ": " (format_value(b.values.get(i).copied().flatten(), unit)) }
                            @for l in lines { " — " (l.name) ": " (format_value(l.values.get(i).copied().flatten(), unit)) }
                        }
                    }
                }
            }
            figcaption {
                span class="legend" {
                    @if let Some(b) = bars { span class="key" { i class=(format!("swatch {}", b.class)) {} (b.name) } }
                    @for l in lines { span class="key" { i class=(format!("swatch {}", l.class)) {} (l.name) @if lines_own_axis { " (right axis)" } } }
                }
            }
            // The same numbers as a table, for keyboards and screen readers.
            details class="chart-data" {
                summary { "Data" }
                div class="table-wrap" {
                    table class="table" {
                        caption class="sr-only" { (caption) }
                        thead { tr {
                            th scope="col" { "Period" }
                            @if let Some(b) = bars { th scope="col" class="num" { (b.name) } }
                            @for l in lines { th scope="col" class="num" { (l.name) } }
                        } }
                        tbody {
                            @for (i, start) in starts.iter().enumerate() {
                                tr {
                                    th scope="row" { (bucket_span(*start, step)) }
                                    @if let Some(b) = bars { td class="num" { (format_value(b.values.get(i).copied().flatten(), unit)) } }
                                    @for l in lines { td class="num" { (format_value(l.values.get(i).copied().flatten(), unit)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs of consecutive buckets that have a value, so missing data shows as a gap.
fn segments(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut run: Vec<(usize, f64)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => run.push((i, *v)),
            None if !run.is_empty() => out.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// A small trend line without axes, for tables.
pub fn sparkline(values: &[i64], label: &str) -> Markup {
    let (w, h) = (100.0, 24.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(2) - 1;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / n as f64,
                h - 2.0 - (*v as f64 / max) * (h - 4.0)
            )
        })
        .collect();
    html! {
        svg class="sparkline" viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(label) {
            title { (label) }
            polyline class="spark" points=(points.join(" ")) {}
        }
    }
}

/// The good / needs improvement / poor shares of a web vital as one stacked bar.
pub fn rating_bar(good: i64, ni: i64, poor: i64) -> Markup {
    let total = (good + ni + poor).max(1) as f64;
    let parts = [
        ("seg-good", "good", good),
        ("seg-ni", "needs improvement", ni),
        ("seg-poor", "poor", poor),
    ];
    let mut x = 0.0;
    let segments: Vec<(&str, &str, f64, f64)> = parts
        .iter()
        .map(|(class, name, n)| {
            let w = *n as f64 / total * 100.0;
            let seg = (*class, *name, x, w);
            x += w;
            seg
        })
        .filter(|(_, _, _, w)| *w > 0.0)
        .collect();
    let label = format!(
        "{:.0} % good, {:.0} % needs improvement, {:.0} % poor",
        good as f64 / total * 100.0,
        ni as f64 / total * 100.0,
        poor as f64 / total * 100.0
    );
    html! {
        svg class="rating-bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label=(label) {
            title { (label) }
            @for (class, name, x, w) in segments {
                rect class=(class) x=(format!("{x:.2}")) y="0" width=(format!("{w:.2}")) height="8" {
                    title { (format!("{w:.0} % {name}")) }
                }
            }
        }
    }
}

/// Horizontal bars for a ranked list (label, value).
pub fn hbars(rows: &[(String, i64)], class: &str) -> Markup {
    let max = rows.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    html! {
        ul class="breakdown" {
            @for (label, v) in rows {
                li {
                    span class="bd-label" { (label) }
                    span class="bd-count num" { (count(*v)) }
                    progress class=(class) max="100" value=(format!("{:.1}", *v as f64 / max * 100.0)) aria-label=(format!("{} of the largest", compact(*v as f64 / max * 100.0) + " %")) {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timerange::HOUR_MS;

    #[test]
    fn axes_use_round_steps_suited_to_the_unit() {
        let labels = |max: f64, unit: Unit| -> Vec<String> {
            Axis::for_max(max, unit)
                .ticks()
                .into_iter()
                .map(|(_, l)| l)
                .collect()
        };
        assert_eq!(labels(0.0, Unit::Count), ["0", "1", "2", "3", "4"]);
        assert_eq!(labels(3.0, Unit::Count), ["0", "1", "2", "3", "4"]);
        assert_eq!(labels(7.0, Unit::Count), ["0", "2", "4", "6", "8"]);
        assert_eq!(labels(130.0, Unit::Count), ["0", "50", "100", "150", "200"]);
        assert_eq!(labels(9.0, Unit::Count), ["0", "5", "10", "15", "20"]);
        assert_eq!(labels(4_100.0, Unit::Millis), ["0", "2k", "4k", "6k", "8k"]);
        assert_eq!(
            labels(0.06, Unit::Score),
            ["0", "0.02", "0.04", "0.06", "0.08"]
        );
        assert_eq!(
            labels(0.09, Unit::Score),
            ["0", "0.025", "0.05", "0.075", "0.1"]
        );
        assert_eq!(
            labels(0.0, Unit::Score),
            ["0", "0.025", "0.05", "0.075", "0.1"]
        );
        assert_eq!(compact(1_500.0), "1.5k");
        assert_eq!(compact(2_000_000.0), "2M");
    }

    /// Every preset range, ending at every hour of a day, with counts, durations
    /// and scores of every size: labels are distinct and in order on both axes.
    #[test]
    fn every_range_reads_distinct_increasing_labels() {
        use crate::domain::timerange::{Window, PRESETS};
        let day = 1_764_460_800_000; // 2025-11-30T00:00:00Z
        for hour in 0..24 {
            let now = day + hour * HOUR_MS + 17 * 60_000;
            for (preset, _) in PRESETS {
                let w = Window::parse(Some(preset), None, None, "7d", now).unwrap();
                let starts = w.chart_buckets();
                let x: Vec<String> = x_labels(&starts, w.chart_step())
                    .into_iter()
                    .map(|(_, l)| l)
                    .collect();
                let distinct: std::collections::BTreeSet<&String> = x.iter().collect();
                assert_eq!(
                    distinct.len(),
                    x.len(),
                    "{preset} at {hour}:17 repeats a label: {x:?}"
                );
                assert!(x.len() >= starts.len().min(2), "{preset}: {x:?}");
            }
        }
        for unit in [Unit::Count, Unit::Millis, Unit::Score] {
            for max in [
                0.0,
                0.004,
                0.06,
                0.3,
                1.0,
                3.0,
                7.0,
                42.0,
                999.0,
                12_345.0,
                7_654_321.0,
            ] {
                let axis = Axis::for_max(max, unit);
                let ticks = axis.ticks();
                assert!(axis.max() >= max, "{unit:?} {max}");
                assert!(
                    ticks
                        .windows(2)
                        .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1),
                    "{unit:?} {max}: {ticks:?}"
                );
                for (v, label) in &ticks {
                    assert!(label.len() <= 6, "{unit:?} {max}: {label}");
                    if unit != Unit::Score {
                        assert_eq!(v.fract(), 0.0, "{unit:?} {max}: {ticks:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn gaps_split_lines() {
        let s = segments(&[Some(1.0), None, Some(2.0), Some(3.0)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1], vec![(2, 2.0), (3, 3.0)]);
    }

    #[test]
    fn charts_name_every_bucket() {
        let window = Window {
            from: 0,
            to: 2 * HOUR_MS,
            granularity: crate::domain::timerange::Granularity::Hour,
            preset: None,
        };
        let svg = time_chart(
            "c",
            "Events",
            &window,
            Some(&Series::counts("Events", "s-events", &[3, 0])),
            &[],
            false,
            Unit::Count,
        )
        .into_string();
        assert!(svg.contains("Jan 1 00:00–01:00 UTC — Events: 3"));
        assert!(svg.contains("class=\"bar s-events\""));
    }
}
