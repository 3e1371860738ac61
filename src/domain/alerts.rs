//! Alerts: what they are about, each project's choice of which fire, and how a
//! failed webhook delivery is retried.

use serde::{Deserialize, Serialize};

/// What an alert is about. The names are the `kind` of webhook bodies and of the
/// webhook's `kinds` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    NewGroup,
    Regression,
    Spike,
    QuotaNear,
    QuotaExceeded,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::NewGroup,
        AlertKind::Regression,
        AlertKind::Spike,
        AlertKind::QuotaNear,
        AlertKind::QuotaExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NewGroup => "new_group",
            AlertKind::Regression => "regression",
            AlertKind::Spike => "spike",
            AlertKind::QuotaNear => "quota_near",
            AlertKind::QuotaExceeded => "quota_exceeded",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the alert is about an organization's quota rather than an error group.
    pub fn is_quota(self) -> bool {
        matches!(self, AlertKind::QuotaNear | AlertKind::QuotaExceeded)
    }
}

/// Spike: at least `threshold` occurrences of one group within `window_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpikeRule {
    pub enabled: bool,
    pub threshold: i64,
    pub window_minutes: i64,
}

impl Default for SpikeRule {
    fn default() -> Self {
        SpikeRule {
            enabled: true,
            threshold: 25,
            window_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaRule {
    pub enabled: bool,
    pub near_percent: i64,
}

impl Default for QuotaRule {
    fn default() -> Self {
        QuotaRule {
            enabled: true,
            near_percent: 90,
        }
    }
}

/// A project's alert settings, stored as JSON; missing or unreadable means the
/// defaults (every kind on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    pub new_group: bool,
    pub regression: bool,
    pub spike: SpikeRule,
    pub quota: QuotaRule,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            new_group: true,
            regression: true,
            spike: SpikeRule::default(),
            quota: QuotaRule::default(),
        }
    }
}

/// Longest spike window: a day.
pub const MAX_WINDOW_MINUTES: i64 = 1_440;

impl AlertSettings {
    pub fn from_stored(json: Option<&str>) -> AlertSettings {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }

    pub fn enabled(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::NewGroup => self.new_group,
            AlertKind::Regression => self.regression,
            AlertKind::Spike => self.spike.enabled,
            AlertKind::QuotaNear | AlertKind::QuotaExceeded => self.quota.enabled,
        }
    }

    /// The first field out of range, with what it accepts.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !(1..=100_000).contains(&self.spike.threshold) {
            return Some(("spike.threshold", "must be between 1 and 100000"));
        }
        if !(1..=MAX_WINDOW_MINUTES).contains(&self.spike.window_minutes) {
            return Some(("spike.window_minutes", "must be between 1 and 1440"));
        }
        if !(50..=99).contains(&self.quota.near_percent) {
            return Some(("quota.near_percent", "must be between 50 and 99"));
        }
        None
    }
}

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Generic,
    Slack,
    Discord,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 3] = [
        WebhookFormat::Generic,
        WebhookFormat::Slack,
        WebhookFormat::Discord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Generic => "generic",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookFormat> {
        WebhookFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Waits before each retry of a failed delivery: about 1 min, 5 min, 30 min, 2 h
/// and 6 h; a delivery that fails once more is given up (`failed`).
pub const RETRY_DELAYS_MS: [i64; 5] = [
    60_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    6 * 3_600_000,
];

/// When a delivery that has failed `attempts` times is tried next, or `None` when
/// it is given up. A little jitter (up to a tenth) keeps many failed deliveries
/// to one receiver from arriving together again.
pub fn next_attempt(attempts: u32, failed_at: i64, jitter: f64) -> Option<i64> {
    let delay = *RETRY_DELAYS_MS.get(attempts.checked_sub(1)? as usize)?;
    Some(failed_at + delay + (delay as f64 * jitter.clamp(0.0, 1.0) / 10.0) as i64)
}

/// What a receiver's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// `410 Gone`: the receiver is gone for good; the webhook is disabled.
    Gone,
    Retry,
}

pub fn answer_of(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        _ => Answer::Retry,
    }
}

/// A "still spiking" follow-up comes at most this often.
pub const SPIKE_FOLLOW_UP_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_settings_fall_back_to_defaults() {
        assert_eq!(AlertSettings::from_stored(None), AlertSettings::default());
        assert_eq!(
            AlertSettings::from_stored(Some("nonsense")),
            AlertSettings::default()
        );
        let partial = AlertSettings::from_stored(Some(r#"{"spike":{"threshold":3}}"#));
        assert_eq!(partial.spike.threshold, 3);
        assert_eq!(partial.spike.window_minutes, 15);
        assert!(partial.new_group && partial.quota.enabled);
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let mut s = AlertSettings::default();
        assert_eq!(s.problem(), None);
        s.quota.near_percent = 100;
        assert_eq!(s.problem().map(|p| p.0), Some("quota.near_percent"));
        s.quota.near_percent = 90;
        s.spike.window_minutes = 0;
        assert_eq!(s.problem().map(|p| p.0), Some("spike.window_minutes"));
    }

    #[test]
    fn retries_back_off_and_then_give_up() {
        let at = |n| next_attempt(n, 0, 0.0);
        assert_eq!(at(1), Some(60_000));
        assert_eq!(at(2), Some(300_000));
        assert_eq!(at(5), Some(6 * 3_600_000));
        assert_eq!(at(6), None);
        assert_eq!(at(0), None);
        assert!(next_attempt(1, 0, 1.0).unwrap() <= 66_000);
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(answer_of(204), Answer::Delivered);
        assert_eq!(answer_of(410), Answer::Gone);
        assert_eq!(answer_of(500), Answer::Retry);
        assert_eq!(answer_of(404), Answer::Retry);
    }
}
