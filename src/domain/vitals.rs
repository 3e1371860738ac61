//! Web vitals: the metrics the SDKs report as `$web_vital` events, their rating
//! bands, and the log-scale histogram bins that roll-ups keep so that percentiles
//! can be computed for any range without the raw samples.

/// The metrics the performance page reports, in display order.
pub const METRICS: [&str; 5] = ["LCP", "INP", "CLS", "FCP", "TTFB"];

pub const RATINGS: [&str; 3] = ["good", "needs-improvement", "poor"];

/// Bin width: each bin spans 5 % more than the one before (about ±2.5 % error).
const GROWTH: f64 = 1.05;

/// One `$web_vital` sample, as a roll-up stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalSample {
    pub metric: &'static str,
    pub rating: &'static str,
    pub bin: i64,
}

/// Upper bounds of "good" and "needs improvement" (inclusive), in the metric's unit.
pub fn thresholds(metric: &str) -> Option<(f64, f64)> {
    Some(match metric {
        "LCP" => (2500.0, 4000.0),
        "INP" => (200.0, 500.0),
        "CLS" => (0.1, 0.25),
        "FCP" => (1800.0, 3000.0),
        "TTFB" => (800.0, 1800.0),
        _ => return None,
    })
}

/// The canonical metric name, or `None` for anything we do not report
/// (`FID` is counted as `INP`, as its replacement).
pub fn metric(name: &str) -> Option<&'static str> {
    let upper = name.trim().to_ascii_uppercase();
    match upper.as_str() {
        "FID" => Some("INP"),
        other => METRICS.into_iter().find(|m| *m == other),
    }
}

pub fn rate(metric: &str, value: f64) -> &'static str {
    match thresholds(metric) {
        Some((good, _)) if value <= good => "good",
        Some((_, poor)) if value <= poor => "needs-improvement",
        _ => "poor",
    }
}

/// CLS is unitless and small; the others are milliseconds. Bins work on a value
/// scaled so that both have useful resolution.
fn scale(metric: &str) -> f64 {
    if metric == "CLS" {
        1000.0
    } else {
        1.0
    }
}

pub fn bin_of(metric: &str, value: f64) -> i64 {
    let v = value * scale(metric);
    if !v.is_finite() || v < 1.0 {
        return 0;
    }
    (v.ln() / GROWTH.ln()).floor() as i64 + 1
}

/// The value a bin stands for: the geometric middle of its bounds.
pub fn bin_value(metric: &str, bin: i64) -> f64 {
    if bin <= 0 {
        return 0.0;
    }
    let low = GROWTH.powi((bin - 1) as i32);
    low * GROWTH.sqrt() / scale(metric)
}

/// Reads a sample from a `$web_vital` event's properties (`metric`, `value`, and the
/// SDK's `rating`, which is recomputed when it is missing or unknown).
pub fn sample(properties: &serde_json::Map<String, serde_json::Value>) -> Option<VitalSample> {
    let metric = metric(properties.get("metric")?.as_str()?)?;
    let value = properties.get("value")?.as_f64()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let rating = properties
        .get("rating")
        .and_then(|r| r.as_str())
        .and_then(|r| RATINGS.into_iter().find(|known| *known == r))
        .unwrap_or_else(|| rate(metric, value));
    Some(VitalSample {
        metric,
        rating,
        bin: bin_of(metric, value),
    })
}

/// The `q` quantile (0–1) of a histogram given as (bin, count) pairs.
pub fn quantile(metric: &str, bins: &[(i64, i64)], q: f64) -> Option<f64> {
    let total: i64 = bins.iter().map(|(_, n)| n).sum();
    if total <= 0 {
        return None;
    }
    let mut sorted: Vec<(i64, i64)> = bins.to_vec();
    sorted.sort_unstable_by_key(|(bin, _)| *bin);
    let target = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (bin, n) in sorted {
        seen += n;
        if seen >= target {
            return Some(bin_value(metric, bin));
        }
    }
    None
}

/// A value for display: CLS with three decimals, the rest as whole milliseconds.
pub fn format_value(metric: &str, value: f64) -> String {
    if metric == "CLS" {
        format!("{value:.3}")
    } else if value >= 10_000.0 {
        format!("{:.1} s", value / 1000.0)
    } else {
        format!("{} ms", value.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bins_round_trip_within_the_bin_width() {
        for metric in METRICS {
            for value in [0.002, 0.05, 0.3, 1.5, 12.0, 180.0, 2500.0, 40_000.0] {
                let back = bin_value(metric, bin_of(metric, value));
                if value * scale(metric) < 1.0 {
                    assert_eq!(back, 0.0);
                } else {
                    let err = (back - value).abs() / value;
                    assert!(err < 0.03, "{metric} {value} -> {back}");
                }
            }
        }
    }

    #[test]
    fn ratings_follow_the_bands() {
        assert_eq!(rate("LCP", 2500.0), "good");
        assert_eq!(rate("LCP", 2501.0), "needs-improvement");
        assert_eq!(rate("LCP", 4001.0), "poor");
        assert_eq!(rate("CLS", 0.05), "good");
        assert_eq!(rate("CLS", 0.3), "poor");
    }

    #[test]
    fn samples_from_properties() {
        let p = json!({"metric": "lcp", "value": 1234.5, "rating": "good", "id": "v1"});
        let s = sample(p.as_object().unwrap()).unwrap();
        assert_eq!((s.metric, s.rating), ("LCP", "good"));
        let fid = json!({"metric": "FID", "value": 600});
        assert_eq!(sample(fid.as_object().unwrap()).unwrap().metric, "INP");
        assert_eq!(sample(fid.as_object().unwrap()).unwrap().rating, "poor");
        let unknown = json!({"metric": "XYZ", "value": 1});
        assert!(sample(unknown.as_object().unwrap()).is_none());
        let text = json!({"metric": "LCP", "value": "fast"});
        assert!(sample(text.as_object().unwrap()).is_none());
    }

    #[test]
    fn p75_of_a_histogram() {
        // 100 samples: 1..=100 ms.
        let mut bins: std::collections::BTreeMap<i64, i64> = Default::default();
        for v in 1..=100 {
            *bins.entry(bin_of("INP", f64::from(v))).or_default() += 1;
        }
        let bins: Vec<(i64, i64)> = bins.into_iter().collect();
        let p75 = quantile("INP", &bins, 0.75).unwrap();
        assert!((p75 - 75.0).abs() / 75.0 < 0.04, "{p75}");
        assert_eq!(quantile("INP", &[], 0.75), None);
    }
}
