//! A window against the one before it, and roll-up buckets summed into a chart's:
//! what every summary of the dashboard and the read API compares and plots.

use crate::domain::timerange::Window;
use crate::store::{Counted, Scope};

/// A value in the window and in the window before it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Change {
    pub current: f64,
    pub previous: f64,
}

impl Change {
    pub fn counts(current: i64, previous: i64) -> Change {
        Change {
            current: current as f64,
            previous: previous as f64,
        }
    }

    /// Relative change in percent; `None` when there was nothing before.
    pub fn percent(&self) -> Option<f64> {
        (self.previous != 0.0).then(|| (self.current - self.previous) / self.previous * 100.0)
    }
}

/// The same scope over the previous window.
pub fn previous(scope: &Scope, window: &Window) -> Scope {
    let p = window.previous();
    Scope {
        from: p.from,
        to: p.to,
        ..scope.clone()
    }
}

/// Sums roll-up buckets into the window's chart buckets.
pub fn chart_series(window: &Window, rows: &[Counted<i64>]) -> Vec<i64> {
    let mut values = vec![0; window.chart_buckets().len()];
    for (bucket, n) in rows {
        if let Some(slot) = window.chart_index(*bucket).and_then(|i| values.get_mut(i)) {
            *slot += n;
        }
    }
    values
}
