//! Raw events as the read API and the pages list and show them.

use crate::error::{AppError, AppResult};
use crate::service::read::path_id;
use crate::state::AppState;
use crate::store::{EventFilter, EventRow};
use tracing::instrument;

/// One page of events in scope, newest first.
#[instrument(skip_all, fields(project = %filter.scope.project_id))]
pub async fn list(state: &AppState, filter: &EventFilter) -> AppResult<Vec<EventRow>> {
    Ok(state.db.list_events(filter).await?)
}

/// One event of the project (404 when it is not the project's).
#[instrument(skip(state))]
pub async fn get(state: &AppState, project_id: &str, id: &str) -> AppResult<EventRow> {
    let id = path_id("event", id)?;
    state
        .db
        .event_by_id(project_id, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no event {id:?} in this project")))
}
