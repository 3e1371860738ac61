//! Session math: how long a session lasted, whether it errored or crashed, and the
//! rates the dashboard and the read API report. One definition each, so every page
//! and route shows the same numbers.

/// `context.source` values with which the SDKs' global handlers mark errors nobody
/// caught (browser `window.onerror` and `unhandledrejection`, Node's
/// `uncaughtException` and `unhandledRejection`).
const UNHANDLED_SOURCES: [&str; 4] = [
    "window.onerror",
    "unhandledrejection",
    "unhandledRejection",
    "uncaughtException",
];

/// Whether an error occurrence with this `context` (a JSON object) was unhandled.
pub fn is_unhandled(context: Option<&serde_json::Value>) -> bool {
    context
        .and_then(|c| c.get("source"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| UNHANDLED_SOURCES.contains(&s))
}

/// Milliseconds from the start to the end of an ended session, or to the last
/// activity (its own, its events' and its errors') of an open one.
pub fn duration_ms(started_at: i64, ended_at: Option<i64>, last_activity_at: i64) -> i64 {
    (ended_at.unwrap_or(last_activity_at) - started_at).max(0)
}

/// Sessions counted by outcome. The roll-ups store one per bucket and label set;
/// moving a session between buckets adds its negation to one and itself to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTally {
    pub started: i64,
    /// With at least one error, handled or not.
    pub errored: i64,
    /// With at least one unhandled error.
    pub crashed: i64,
}

impl SessionTally {
    /// One session with the given outcome.
    pub fn one(errored: bool, crashed: bool) -> SessionTally {
        SessionTally {
            started: 1,
            errored: i64::from(errored),
            crashed: i64::from(crashed),
        }
    }

    /// Share of sessions without any error, 0–1; `None` without sessions.
    pub fn error_free_rate(&self) -> Option<f64> {
        share_without(self.started, self.errored)
    }

    /// Share of sessions without an unhandled error, 0–1; `None` without sessions.
    pub fn crash_free_rate(&self) -> Option<f64> {
        share_without(self.started, self.crashed)
    }
}

fn share_without(total: i64, with: i64) -> Option<f64> {
    (total > 0).then(|| (total - with.clamp(0, total)) as f64 / total as f64)
}

impl std::ops::AddAssign for SessionTally {
    fn add_assign(&mut self, o: SessionTally) {
        self.started += o.started;
        self.errored += o.errored;
        self.crashed += o.crashed;
    }
}

impl std::ops::Neg for SessionTally {
    type Output = SessionTally;
    fn neg(self) -> SessionTally {
        SessionTally {
            started: -self.started,
            errored: -self.errored,
            crashed: -self.crashed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_global_handlers_mark_errors_unhandled() {
        for source in UNHANDLED_SOURCES {
            assert!(is_unhandled(Some(&json!({ "source": source }))), "{source}");
        }
        assert!(!is_unhandled(Some(&json!({ "source": "trackError" }))));
        assert!(!is_unhandled(Some(&json!({ "source": 1 }))));
        assert!(!is_unhandled(Some(&json!({}))));
        assert!(!is_unhandled(None));
    }

    #[test]
    fn open_sessions_last_until_their_last_activity() {
        assert_eq!(duration_ms(1_000, None, 5_200), 4_200);
        assert_eq!(duration_ms(1_000, Some(2_000), 5_200), 1_000);
        assert_eq!(duration_ms(5_000, None, 1_000), 0);
    }

    #[test]
    fn rates_count_errored_and_crashed_apart() {
        let mut t = SessionTally::default();
        assert_eq!(t.crash_free_rate(), None);
        t += SessionTally::one(true, false);
        t += SessionTally::one(true, true);
        t += SessionTally::one(false, false);
        t += SessionTally::one(false, false);
        assert_eq!(t.error_free_rate(), Some(0.5));
        assert_eq!(t.crash_free_rate(), Some(0.75));
        t += -SessionTally::one(true, true);
        assert_eq!(
            t,
            SessionTally {
                started: 3,
                errored: 1,
                crashed: 0
            }
        );
    }
}
