//! The read API's logic: who may read which project, time ranges, pagination.

use crate::domain::rbac::{allows, Action, Role};
use crate::domain::timerange::Window;
use crate::error::{AppError, AppResult};
use crate::service::auth;
use crate::service::principal::{Credential, RequestMeta};
use crate::state::AppState;
use crate::store::{Cursor, GroupListFilter, Scope};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;
/// The range of the read API when none is given.
pub const DEFAULT_RANGE: &str = "30d";

/// A caller allowed to read one project.
#[derive(Debug, Clone)]
pub struct Reader {
    pub user_id: Option<String>,
    pub project_id: String,
    pub role: Role,
}

impl Reader {
    pub fn can_edit(&self) -> bool {
        allows(self.role, Action::Edit)
    }
}

/// Resolves the caller and checks membership of the project's organization.
/// A project the caller cannot see is reported as not found, never as forbidden.
#[tracing::instrument(skip_all)]
pub async fn authorize(
    state: &AppState,
    credential: Credential<'_>,
    meta: &RequestMeta,
    project_id: Option<&str>,
) -> AppResult<Reader> {
    let anonymous =
        matches!(credential, Credential::None) && state.config.allow_unauthenticated_reads;
    let user_id = if anonymous {
        None
    } else {
        Some(auth::authenticate(state, credential, meta).await?.user_id)
    };
    let project_id = project_id
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.contains('\0'))
        .ok_or_else(|| {
            AppError::invalid(
                "project_id",
                "choose a project with the X-Project-Id header or the project_id query parameter",
            )
        })?;
    let not_found = || AppError::NotFound(format!("no project {project_id:?}"));
    match user_id {
        Some(user_id) => reader_for_user(state, &user_id, project_id).await,
        None => {
            state
                .db
                .project_plan(project_id)
                .await?
                .ok_or_else(not_found)?;
            Ok(Reader {
                user_id: None,
                project_id: project_id.to_string(),
                role: Role::Viewer,
            })
        }
    }
}

/// A signed-in user reading `project_id`: 404 unless they are a member of its organization.
#[tracing::instrument(skip_all)]
pub async fn reader_for_user(
    state: &AppState,
    user_id: &str,
    project_id: &str,
) -> AppResult<Reader> {
    let access = state
        .db
        .project_access(project_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no project {project_id:?}")))?;
    Ok(Reader {
        user_id: Some(user_id.to_string()),
        project_id: access.id,
        // A role the code does not know (a newer schema) reads, never writes.
        role: access.role.parse().unwrap_or(Role::Viewer),
    })
}

/// Query parameters every list accepts.
#[derive(Debug, Clone, Default)]
pub struct RangeParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub range: Option<String>,
    pub app: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
}

/// The window of `p` (default: the last 30 days), aligned to the roll-ups.
pub fn window(p: &RangeParams, now: i64) -> AppResult<Window> {
    Window::parse(
        p.range.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        DEFAULT_RANGE,
        now,
    )
    .map_err(|e| AppError::invalid(e.field, e.message))
}

/// The narrowing of one project's telemetry to `window` and the label filters of `p`.
pub fn scope_in(project_id: &str, window: &Window, p: &RangeParams) -> AppResult<Scope> {
    Ok(Scope {
        project_id: project_id.to_string(),
        from: window.from,
        to: window.to,
        app: label("app", p.app.as_deref())?,
        environment: label("environment", p.environment.as_deref())?,
        release: label("release", p.release.as_deref())?,
        granularity: window.granularity,
    })
}

/// `[from, to)`: explicit bounds win; otherwise `range` back from now.
pub fn scope(project_id: &str, p: &RangeParams, now: i64) -> AppResult<Scope> {
    scope_in(project_id, &window(p, now)?, p)
}

/// A label filter: trimmed, blank means none. Stored labels never hold NUL, so a
/// filter with one is refused rather than sent to the database.
pub fn label(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.contains('\0') || v.len() > 1024 => Err(AppError::invalid(
            field,
            format!("`{field}` is not a valid label"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// An id from a path: anything that cannot be stored is simply not found.
pub fn path_id<'a>(what: &str, id: &'a str) -> AppResult<&'a str> {
    if id.is_empty() || id.len() > 512 || id.contains('\0') {
        return Err(AppError::NotFound(format!("no {what} with that id")));
    }
    Ok(id)
}

pub fn limit(requested: Option<i64>) -> AppResult<i64> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            "limit",
            format!("`limit` must be 1–{MAX_LIMIT}"),
        )),
    }
}

pub fn parse_cursor(cursor: Option<&str>) -> AppResult<Option<Cursor>> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || AppError::invalid("cursor", "`cursor` must be a value returned as next_cursor");
    let (value, id) = c.split_once('.').ok_or_else(bad)?;
    if id.is_empty() || id.len() > 64 || id.contains('\0') {
        return Err(bad());
    }
    Ok(Some(Cursor {
        value: value.parse().map_err(|_| bad())?,
        id: id.to_string(),
    }))
}

/// The offset a list by position continues at (its cursor is the offset).
pub fn parse_offset(cursor: Option<&str>) -> AppResult<i64> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=1_000_000_000).contains(n))
            .ok_or_else(|| {
                AppError::invalid("cursor", "`cursor` must be a value returned as next_cursor")
            }),
    }
}

/// The cursor of the page after `filter`'s, when more rows follow.
pub fn next_offset(filter: &GroupListFilter, page_len: usize, total: i64) -> Option<String> {
    let end = filter.offset + page_len as i64;
    (page_len > 0 && end < total).then(|| end.to_string())
}

/// The cursor continuing after the last row of a full page.
pub fn next_cursor(page_len: usize, limit: i64, last: Option<(i64, &str)>) -> Option<String> {
    if (page_len as i64) < limit {
        return None;
    }
    last.map(|(value, id)| format!("{value}.{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = parse_cursor(Some("123.abc")).unwrap().unwrap();
        assert_eq!((c.value, c.id.as_str()), (123, "abc"));
        assert!(parse_cursor(Some("garbage")).is_err());
        assert!(parse_cursor(Some("x.abc")).is_err());
        assert_eq!(next_cursor(2, 2, Some((5, "id"))), Some("5.id".into()));
        assert_eq!(next_cursor(1, 2, Some((5, "id"))), None);
    }

    #[test]
    fn ranges() {
        use crate::domain::timeutil::DAY_MS;
        let p = RangeParams {
            range: Some("7d".into()),
            ..Default::default()
        };
        let s = scope("p", &p, 10 * DAY_MS).unwrap();
        assert_eq!(s.to - s.from, 7 * DAY_MS);
        let bad = RangeParams {
            range: Some("2 weeks".into()),
            ..Default::default()
        };
        assert!(scope("p", &bad, 10 * DAY_MS).is_err());
    }
}
