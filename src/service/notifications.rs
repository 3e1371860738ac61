//! The bell and its mail: when a commit creates an error group or reopens a
//! resolved one, every member of the project's organization gets a notification,
//! in the bell and by mail as their preferences say.

use crate::domain::ids::new_id;
use crate::domain::notify::{Kind, Prefs};
use crate::error::{AppError, AppResult};
use crate::mail::{templates, Outbox};
use crate::service::principal::Principal;
use crate::state::AppState;
use crate::store::{Db, NotificationRow, WriteSummary};

/// Notifications the bell lists.
pub const BELL_SIZE: i64 = 8;

/// What fan-out needs, cloned out of the state so the writer can call it.
#[derive(Clone)]
pub struct Notifier {
    pub db: Db,
    pub outbox: Outbox,
    pub public_url: String,
}

impl Notifier {
    /// Notifies about every new and regressed group of a commit. Failures are logged:
    /// the events are stored whatever happens here.
    #[tracing::instrument(skip_all)]
    pub async fn on_commit(&self, summary: WriteSummary, now: i64) {
        let groups = summary
            .new_groups
            .into_iter()
            .map(|g| (Kind::NewIssue, g))
            .chain(
                summary
                    .regressed_groups
                    .into_iter()
                    .map(|g| (Kind::Regression, g)),
            );
        for (kind, (project_id, group_id)) in groups {
            if let Err(e) = self.notify(kind, &project_id, &group_id, now).await {
                tracing::warn!(error = %e, %project_id, %group_id, "notification not delivered");
            }
        }
    }

    async fn notify(
        &self,
        kind: Kind,
        project_id: &str,
        group_id: &str,
        now: i64,
    ) -> AppResult<()> {
        let Some(group) = self.db.error_group(project_id, group_id).await? else {
            return Ok(());
        };
        let Some(project) = self.db.project_by_id(project_id).await? else {
            return Ok(());
        };
        let what = match &group.error_type {
            Some(t) if !group.message.starts_with(t.as_str()) => format!("{t}: {}", group.message),
            _ => group.message.clone(),
        };
        let title = kind.title(&what);
        let body = format!("{} · {}", project.name, group.app);
        let target = format!("/errors/{group_id}?project={project_id}");
        let mut rows = Vec::new();
        for r in self.db.project_recipients(project_id).await? {
            let channels = Prefs::from_stored(r.notification_prefs.as_deref()).channels(kind);
            if channels.bell {
                rows.push(NotificationRow {
                    id: new_id(),
                    user_id: r.user_id.clone(),
                    project_id: project_id.to_string(),
                    kind: kind.as_str().to_string(),
                    title: title.clone(),
                    body: Some(body.clone()),
                    target: Some(target.clone()),
                    created_at: now,
                    read_at: None,
                });
            }
            if channels.email {
                let link = format!("{}{target}", self.public_url);
                let mail = templates::error_notification(&r.email, &title, &body, &link);
                self.outbox.enqueue(mail);
            }
        }
        self.db.insert_notifications(&rows).await?;
        Ok(())
    }
}

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
