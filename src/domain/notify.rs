//! Notification kinds and each user's choice of where they go.

use super::alerts::AlertKind;
use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An error group seen for the first time.
    NewIssue,
    /// A resolved error group that occurred again.
    Regression,
    /// An error group occurring far more than usual.
    Spike,
    /// A project used most of its monthly quota.
    QuotaNear,
    /// A project's requests are refused for its monthly quota.
    QuotaExceeded,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::NewIssue,
        Kind::Regression,
        Kind::Spike,
        Kind::QuotaNear,
        Kind::QuotaExceeded,
    ];

    pub fn of_alert(kind: AlertKind) -> Kind {
        match kind {
            AlertKind::NewGroup => Kind::NewIssue,
            AlertKind::Regression => Kind::Regression,
            AlertKind::Spike => Kind::Spike,
            AlertKind::QuotaNear => Kind::QuotaNear,
            AlertKind::QuotaExceeded => Kind::QuotaExceeded,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewIssue => "new_issue",
            Kind::Regression => "regression",
            Kind::Spike => "spike",
            Kind::QuotaNear => "quota_near",
            Kind::QuotaExceeded => "quota_exceeded",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::NewIssue => "New error groups",
            Kind::Regression => "Regressions (a resolved error occurs again)",
            Kind::Spike => "Spikes (an error occurs far more than usual)",
            Kind::QuotaNear => "Quota nearly used (organization owners)",
            Kind::QuotaExceeded => "Quota used up (organization owners)",
        }
    }

    /// Whether only the organization's owners hear of it (billing is theirs).
    pub fn owners_only(self) -> bool {
        matches!(self, Kind::QuotaNear | Kind::QuotaExceeded)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub bell: bool,
    pub email: bool,
}

/// Per-user preferences, stored as JSON; missing or unreadable means the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub new_issue: Channels,
    pub regression: Channels,
    pub spike: Channels,
    pub quota_near: Channels,
    pub quota_exceeded: Channels,
}

impl Default for Prefs {
    /// Everything in the bell; mail for all but new groups, which are the common
    /// kind (a new release can bring dozens).
    fn default() -> Self {
        let both = Channels {
            bell: true,
            email: true,
        };
        Prefs {
            new_issue: Channels {
                bell: true,
                email: false,
            },
            regression: both,
            spike: both,
            quota_near: both,
            quota_exceeded: both,
        }
    }
}

impl Prefs {
    pub fn from_stored(json: Option<&str>) -> Prefs {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }

    pub fn channels(&self, kind: Kind) -> Channels {
        match kind {
            Kind::NewIssue => self.new_issue,
            Kind::Regression => self.regression,
            Kind::Spike => self.spike,
            Kind::QuotaNear => self.quota_near,
            Kind::QuotaExceeded => self.quota_exceeded,
        }
    }

    pub fn set(&mut self, kind: Kind, channels: Channels) {
        match kind {
            Kind::NewIssue => self.new_issue = channels,
            Kind::Regression => self.regression = channels,
            Kind::Spike => self.spike = channels,
            Kind::QuotaNear => self.quota_near = channels,
            Kind::QuotaExceeded => self.quota_exceeded = channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_prefs_fall_back_to_defaults() {
        assert_eq!(Prefs::from_stored(None), Prefs::default());
        assert_eq!(Prefs::from_stored(Some("not json")), Prefs::default());
        let partial = r#"{"new_issue":{"bell":false,"email":true}}"#;
        let p = Prefs::from_stored(Some(partial));
        assert!(!p.new_issue.bell && p.new_issue.email);
        assert_eq!(p.regression, Prefs::default().regression);
        assert_eq!(Prefs::from_stored(Some(&p.to_stored())), p);
    }
}
