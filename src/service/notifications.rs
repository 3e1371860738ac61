//! The bell: each user's notifications, written by the alerts' fan-out
//! (`service::dispatch`), read and marked read here.

use crate::error::{AppError, AppResult};
use crate::service::principal::Principal;
use crate::state::AppState;
use crate::store::NotificationRow;

/// Notifications the bell lists.
pub const BELL_SIZE: i64 = 8;

/// The bell: unread count and the newest notifications.
#[tracing::instrument(skip_all)]
pub async fn bell(state: &AppState, who: &Principal) -> AppResult<(i64, Vec<NotificationRow>)> {
    let (unread, latest) = futures_util::try_join!(
        state.db.unread_notifications(&who.user_id),
        state.db.notifications_of(&who.user_id, false, BELL_SIZE),
    )?;
    Ok((unread, latest))
}

#[tracing::instrument(skip_all)]
pub async fn list(
    state: &AppState,
    who: &Principal,
    unread_only: bool,
) -> AppResult<Vec<NotificationRow>> {
    Ok(state
        .db
        .notifications_of(&who.user_id, unread_only, 100)
        .await?)
}

/// Marks one read and returns where it points.
#[tracing::instrument(skip_all)]
pub async fn open(state: &AppState, who: &Principal, id: &str) -> AppResult<NotificationRow> {
    state
        .db
        .mark_notification_read(&who.user_id, id, state.clock.now_ms())
        .await?
        .ok_or_else(|| AppError::NotFound("no such notification".into()))
}

/// Marks the given notifications of the user read; returns how many were unread.
#[tracing::instrument(skip_all)]
pub async fn mark_read(state: &AppState, who: &Principal, ids: &[String]) -> AppResult<u64> {
    if ids.len() > 500 {
        return Err(AppError::invalid("ids", "at most 500 ids at once"));
    }
    let mut marked = 0;
    for id in ids {
        if let Some(n) = state
            .db
            .mark_notification_read(&who.user_id, id, state.clock.now_ms())
            .await?
        {
            marked += u64::from(n.read_at.is_none());
        }
    }
    Ok(marked)
}

#[tracing::instrument(skip_all)]
pub async fn mark_all_read(state: &AppState, who: &Principal) -> AppResult<u64> {
    Ok(state
        .db
        .mark_all_notifications_read(&who.user_id, state.clock.now_ms())
        .await?)
}
