//! Sessions as the read API and the pages show them: one list, one detail and one
//! summary, so both front ends report the same durations, counts and rates.

use crate::domain::sessions::{self, SessionTally};
use crate::domain::timerange::Window;
use crate::error::{AppError, AppResult};
use crate::service::period::{chart_series, previous, Change};
use crate::service::sourcemaps::{self, Occurrence};
use crate::state::AppState;
use crate::store::{Counted, EventRow, Scope, SessionActivity, SessionFilter, SessionRow};
use tracing::instrument;

/// A session with what its events and errors add: counts and the last activity.
#[derive(Debug, Clone)]
pub struct SessionItem {
    pub session: SessionRow,
    pub events: i64,
    pub errors: i64,
    /// The latest of the session's own updates, its events and its errors.
    pub last_activity_at: i64,
}

impl SessionItem {
    fn new(session: SessionRow, activity: SessionActivity) -> SessionItem {
        let last_activity_at = activity.last_at.map_or(session.last_activity_at, |t| {
            t.max(session.last_activity_at)
        });
        SessionItem {
            events: activity.events,
            errors: activity.errors,
            last_activity_at,
            session,
        }
    }

    pub fn duration_ms(&self) -> i64 {
        let s = &self.session;
        sessions::duration_ms(s.started_at, s.ended_at, self.last_activity_at)
    }

    /// Any error occurred in it.
    pub fn errored(&self) -> bool {
        self.session.has_error != 0
    }

    /// An unhandled error occurred in it.
    pub fn crashed(&self) -> bool {
        self.session.has_crash != 0
    }
}

/// One page of sessions started in scope, newest first.
#[instrument(skip_all, fields(project = %filter.scope.project_id))]
pub async fn list(state: &AppState, filter: &SessionFilter) -> AppResult<Vec<SessionItem>> {
    let rows = state.db.list_sessions(filter).await?;
    let ids: Vec<String> = rows.iter().map(|s| s.session_id.clone()).collect();
    let mut activity = state
        .db
        .session_activity(&filter.scope.project_id, &ids)
        .await?;
    Ok(rows
        .into_iter()
        .map(|s| {
            let a = activity.remove(&s.session_id).unwrap_or_default();
            SessionItem::new(s, a)
        })
        .collect())
}

/// Most events and errors a session's timeline shows.
pub const TIMELINE_EVENTS: i64 = 1000;
pub const TIMELINE_ERRORS: i64 = 200;

pub struct SessionDetail {
    pub item: SessionItem,
    /// Oldest first, at most [`TIMELINE_EVENTS`].
    pub events: Vec<EventRow>,
    /// Oldest first, at most [`TIMELINE_ERRORS`], their frames mapped.
    pub errors: Vec<Occurrence>,
}

/// One session, by its row id or the SDK's `session_id`, with its timeline.
#[instrument(skip(state))]
pub async fn detail(
    state: &AppState,
    project_id: &str,
    reference: &str,
) -> AppResult<SessionDetail> {
    let not_found = || AppError::NotFound(format!("no session {reference:?} in this project"));
    let reference = crate::service::read::path_id("session", reference)?;
    let session = state
        .db
        .session_by_ref(project_id, reference)
        .await?
        .ok_or_else(not_found)?;
    let ids = [session.session_id.clone()];
    let (events, errors, mut activity) = futures_util::try_join!(
        state
            .db
            .events_of_session(project_id, &session.session_id, TIMELINE_EVENTS),
        state
            .db
            .occurrences_of_session(project_id, &session.session_id, TIMELINE_ERRORS),
        state.db.session_activity(project_id, &ids),
    )?;
    let a = activity.remove(&session.session_id).unwrap_or_default();
    let errors = sourcemaps::with_frames(state, project_id, errors).await;
    Ok(SessionDetail {
        item: SessionItem::new(session, a),
        events,
        errors,
    })
}

/// Sessions in scope against the previous window, and over time.
pub struct Summary {
    pub now: SessionTally,
    pub before: SessionTally,
    pub series: Vec<i64>,
    pub errored_series: Vec<i64>,
    pub crashed_series: Vec<i64>,
}

impl Summary {
    pub fn started(&self) -> Change {
        Change::counts(self.now.started, self.before.started)
    }
}

#[instrument(skip_all, fields(project = %scope.project_id))]
pub async fn summary(state: &AppState, scope: &Scope, window: &Window) -> AppResult<Summary> {
    let db = &state.db;
    let prev = previous(scope, window);
    let (now, before, series) = futures_util::try_join!(
        db.rollup_session_totals(scope),
        db.rollup_session_totals(&prev),
        db.rollup_session_series(scope),
    )?;
    let pick = |f: fn(&SessionTally) -> i64| -> Vec<i64> {
        let rows: Vec<Counted<i64>> = series.iter().map(|(b, t)| (*b, f(t))).collect();
        chart_series(window, &rows)
    };
    Ok(Summary {
        now,
        before,
        series: pick(|t| t.started),
        errored_series: pick(|t| t.errored),
        crashed_series: pick(|t| t.crashed),
    })
}
