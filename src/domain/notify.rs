//! Notification kinds and each user's choice of where they go.

use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An error group seen for the first time.
    NewIssue,
    /// A resolved error group that occurred again.
    Regression,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::NewIssue, Kind::Regression];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewIssue => "new_issue",
            Kind::Regression => "regression",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::NewIssue => "New error groups",
            Kind::Regression => "Regressions (a resolved error occurs again)",
        }
    }

    /// The title of a notification of this kind about `what`.
    pub fn title(self, what: &str) -> String {
        let what: String = what.chars().take(140).collect();
        match self {
            Kind::NewIssue => format!("New error: {what}"),
            Kind::Regression => format!("Regression: {what}"),
        }
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
}

impl Default for Prefs {
    /// Everything in the bell; mail only for regressions, the rarer and more urgent kind.
    fn default() -> Self {
        Prefs {
            new_issue: Channels {
                bell: true,
                email: false,
            },
            regression: Channels {
                bell: true,
                email: true,
            },
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
        }
    }

    pub fn set(&mut self, kind: Kind, channels: Channels) {
        match kind {
            Kind::NewIssue => self.new_issue = channels,
            Kind::Regression => self.regression = channels,
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
