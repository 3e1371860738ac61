//! Plans and what each allows (SPEC §5).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    Free,
    Pro,
    Business,
    SelfHosted,
}

/// The limits of a plan; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub monthly_units: Option<i64>,
    pub rps: Option<u32>,
    pub projects_per_org: Option<i64>,
    pub keys_per_project: Option<i64>,
    pub apps_per_project: Option<usize>,
    /// `None` for SELF_HOSTED: the operator's configured retention applies.
    pub retention_days: Option<u32>,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Pro, Plan::Business, Plan::SelfHosted];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "FREE",
            Plan::Pro => "PRO",
            Plan::Business => "BUSINESS",
            Plan::SelfHosted => "SELF_HOSTED",
        }
    }

    /// Unknown names (from a newer version, say) get the most restrictive plan.
    pub fn from_stored(s: &str) -> Plan {
        s.parse().unwrap_or(Plan::Free)
    }

    pub fn limits(self) -> Limits {
        match self {
            Plan::Free => Limits {
                monthly_units: Some(250_000),
                rps: Some(20),
                projects_per_org: Some(1),
                keys_per_project: Some(2),
                apps_per_project: Some(5),
                retention_days: Some(14),
            },
            Plan::Pro => Limits {
                monthly_units: Some(5_000_000),
                rps: Some(100),
                projects_per_org: Some(10),
                keys_per_project: Some(10),
                apps_per_project: Some(50),
                retention_days: Some(90),
            },
            Plan::Business => Limits {
                monthly_units: Some(50_000_000),
                rps: Some(500),
                projects_per_org: Some(50),
                keys_per_project: Some(50),
                apps_per_project: Some(500),
                retention_days: Some(365),
            },
            Plan::SelfHosted => Limits {
                monthly_units: None,
                rps: None,
                projects_per_org: None,
                keys_per_project: None,
                apps_per_project: None,
                retention_days: None,
            },
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown plan {s:?}; expected FREE, PRO, BUSINESS or SELF_HOSTED")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_free() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
        }
        assert_eq!(Plan::from_stored("ENTERPRISE"), Plan::Free);
        assert_eq!(Plan::SelfHosted.limits().monthly_units, None);
        assert_eq!(Plan::Free.limits().rps, Some(20));
    }
}
