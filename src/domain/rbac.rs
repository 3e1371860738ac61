//! Who may do what (SPEC §4). The table in docs/RBAC.md lists every route with the
//! action it needs; a test walks it for each role.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Editor => "EDITOR",
            Role::Owner => "OWNER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "VIEWER" => Ok(Role::Viewer),
            "EDITOR" => Ok(Role::Editor),
            "OWNER" => Ok(Role::Owner),
            other => Err(format!(
                "unknown role {other:?}; expected OWNER, EDITOR or VIEWER"
            )),
        }
    }
}

/// Everything a member can do in an organization, by the least role it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the organization, its members, projects and telemetry.
    Read,
    /// Create and rename projects; create, list and revoke API keys; resolve,
    /// ignore and unresolve errors.
    Edit,
    /// Rename or delete the organization, change roles, remove members, invite,
    /// delete projects, read the audit log.
    Administer,
}

impl Action {
    pub fn least_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Edit => Role::Editor,
            Action::Administer => Role::Owner,
        }
    }
}

pub fn allows(role: Role, action: Action) -> bool {
    role >= action.least_role()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(allows(Role::Viewer, Action::Read));
        assert!(!allows(Role::Viewer, Action::Edit));
        assert!(allows(Role::Editor, Action::Edit));
        assert!(!allows(Role::Editor, Action::Administer));
        assert!(allows(Role::Owner, Action::Administer));
        assert_eq!("owner".parse::<Role>().unwrap(), Role::Owner);
        assert!("ADMIN".parse::<Role>().is_err());
    }
}
