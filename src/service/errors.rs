//! Error groups as the read API and the pages show them: one list and one detail
//! over the roll-ups, so both report the same counts and affected users for the
//! same range and filters; and the one write, a group's status.

use crate::domain::rbac::{allows, Action};
use crate::domain::timerange::Window;
use crate::error::{AppError, AppResult};
use crate::service::period::chart_series;
use crate::service::read::{path_id, Reader};
use crate::service::sourcemaps::{self, Occurrence};
use crate::state::AppState;
use crate::store::{
    Counted, Cursor, ErrorGroupRow, ErrorOccurrenceRow, EventRow, GroupDimension, GroupListFilter,
    Scope,
};
use std::collections::HashMap;
use tracing::instrument;

/// An error group as lists show it.
#[derive(Debug, Clone)]
pub struct GroupItem {
    pub group: ErrorGroupRow,
    pub in_range: i64,
    pub users: i64,
    pub sparkline: Vec<i64>,
}

pub struct GroupPage {
    pub items: Vec<GroupItem>,
    /// Groups matching in all (every page).
    pub total: i64,
}

#[instrument(skip_all, fields(project = %scope.project_id))]
/// One page of error groups with occurrences in scope, with users and sparklines.
pub async fn list(
    state: &AppState,
    scope: &Scope,
    window: &Window,
    filter: &GroupListFilter,
) -> AppResult<GroupPage> {
    let db = &state.db;
    let rows = db.rollup_error_groups(scope, filter).await?;
    let total = rows.first().map_or(0, |r| r.total_groups);
    let ids: Vec<String> = rows.iter().map(|r| r.group.id.clone()).collect();
    let (users, series) = futures_util::try_join!(
        db.rollup_group_users(scope, &ids),
        db.rollup_group_series(scope, &ids),
    )?;
    let users: HashMap<String, i64> = users.into_iter().collect();
    let mut per_group: HashMap<String, Vec<Counted<i64>>> = HashMap::new();
    for (group, bucket, n) in series {
        per_group.entry(group).or_default().push((bucket, n));
    }
    let items = rows
        .into_iter()
        .map(|r| GroupItem {
            users: users.get(&r.group.id).copied().unwrap_or(0),
            sparkline: chart_series(
                window,
                per_group.get(&r.group.id).map_or(&[][..], |v| v.as_slice()),
            ),
            in_range: r.in_range,
            group: r.group,
        })
        .collect();
    Ok(GroupPage { items, total })
}

pub struct ErrorDetail {
    pub group: ErrorGroupRow,
    pub in_range: i64,
    pub users: i64,
    pub series: Vec<i64>,
    pub breakdowns: Vec<(&'static str, Vec<Counted<String>>)>,
    /// Newest first, their frames mapped through the release's source maps.
    pub occurrences: Vec<Occurrence>,
    /// User feedback about these occurrences (Sentry `feedback` items), newest first.
    pub feedback: Vec<EventRow>,
}

/// One group in scope: its counts, trend, breakdowns and newest occurrences.
async fn detail_of(
    state: &AppState,
    scope: &Scope,
    window: &Window,
    group: ErrorGroupRow,
    occurrences_before: Option<&Cursor>,
) -> AppResult<ErrorDetail> {
    let db = &state.db;
    let id = group.id.as_str();
    let ids = [group.id.clone()];
    let (in_range, users, series, release, environment, browser, os, occurrences) = futures_util::try_join!(
        db.rollup_error_total(scope, Some(id)),
        db.rollup_affected_users(scope, Some(id)),
        db.rollup_group_series(scope, &ids),
        db.rollup_group_breakdown(scope, id, GroupDimension::Release),
        db.rollup_group_breakdown(scope, id, GroupDimension::Environment),
        db.rollup_group_breakdown(scope, id, GroupDimension::Browser),
        db.rollup_group_breakdown(scope, id, GroupDimension::Os),
        db.occurrences_in_scope(scope, id, occurrences_before, OCCURRENCES_PER_PAGE),
    )?;
    let series: Vec<Counted<i64>> = series.into_iter().map(|(_, b, n)| (b, n)).collect();
    let feedback = feedback_about(state, &scope.project_id, &occurrences).await?;
    let occurrences = sourcemaps::with_frames(state, &scope.project_id, occurrences).await;
    Ok(ErrorDetail {
        in_range,
        users,
        series: chart_series(window, &series),
        breakdowns: vec![
            ("Release", release),
            ("Environment", environment),
            ("Browser", browser),
            ("OS", os),
        ],
        occurrences,
        feedback,
        group,
    })
}

/// Feedback sent about the occurrences (by the SDK's event id, which their context
/// keeps), from an hour before the oldest of them on: the feedback's time is the
/// server's, the error's the SDK's, and an SDK may send either first.
async fn feedback_about(
    state: &AppState,
    project_id: &str,
    occurrences: &[ErrorOccurrenceRow],
) -> AppResult<Vec<EventRow>> {
    let ids: Vec<String> = occurrences
        .iter()
        .filter_map(|o| o.context.as_deref())
        .filter(|c| c.contains("\"event_id\""))
        .filter_map(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .filter_map(|c| c.get("event_id")?.as_str().map(str::to_string))
        .collect();
    let Some(oldest) = occurrences.iter().map(|o| o.timestamp).min() else {
        return Ok(Vec::new());
    };
    let since = oldest - 3_600_000;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    Ok(state
        .db
        .feedback_about(project_id, &ids, since, OCCURRENCES_PER_PAGE)
        .await?)
}

pub const OCCURRENCES_PER_PAGE: i64 = 20;

/// One group of the project in scope (404 when it is not the project's).
#[instrument(skip(state, scope, window, occurrences_before), fields(project = %scope.project_id))]
pub async fn detail(
    state: &AppState,
    scope: &Scope,
    window: &Window,
    group_id: &str,
    occurrences_before: Option<&Cursor>,
) -> AppResult<ErrorDetail> {
    let group = group(state, &scope.project_id, group_id).await?;
    detail_of(state, scope, window, group, occurrences_before).await
}

async fn group(state: &AppState, project_id: &str, group_id: &str) -> AppResult<ErrorGroupRow> {
    let id = path_id("error group", group_id)?;
    state
        .db
        .error_group(project_id, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no error group {id:?} in this project")))
}

const STATUSES: [&str; 3] = ["unresolved", "resolved", "ignored"];

/// Resolves, ignores or reopens an error group (OWNER or EDITOR).
#[instrument(skip(state, who), fields(project = %who.project_id))]
pub async fn set_status(
    state: &AppState,
    who: &Reader,
    group_id: &str,
    status: &str,
) -> AppResult<ErrorGroupRow> {
    if !allows(who.role, Action::Edit) {
        return Err(AppError::forbidden(
            "Changing an error's status needs the OWNER or EDITOR role.",
        ));
    }
    if !STATUSES.contains(&status) {
        return Err(AppError::invalid(
            "status",
            "`status` must be unresolved, resolved or ignored",
        ));
    }
    let id = path_id("error group", group_id)?;
    if !state
        .db
        .set_error_status(&who.project_id, id, status, state.clock.now_ms())
        .await?
    {
        return Err(AppError::NotFound(format!(
            "no error group {id:?} in this project"
        )));
    }
    group(state, &who.project_id, id).await
}
