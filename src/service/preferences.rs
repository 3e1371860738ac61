//! A user's own settings: theme and notification preferences.

use crate::domain::notify::Prefs;
use crate::error::{AppError, AppResult};
use crate::service::principal::Principal;
use crate::state::AppState;

pub const THEMES: [&str; 3] = ["system", "light", "dark"];

#[derive(Debug, Clone)]
pub struct UserPrefs {
    pub theme: String,
    pub notifications: Prefs,
}

#[tracing::instrument(skip_all)]
pub async fn get(state: &AppState, who: &Principal) -> AppResult<UserPrefs> {
    let (theme, prefs) = state
        .db
        .user_prefs(&who.user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    Ok(UserPrefs {
        theme: if THEMES.contains(&theme.as_str()) {
            theme
        } else {
            "system".into()
        },
        notifications: Prefs::from_stored(prefs.as_deref()),
    })
}

#[tracing::instrument(skip_all)]
pub async fn set_theme(state: &AppState, who: &Principal, theme: &str) -> AppResult<()> {
    if !THEMES.contains(&theme) {
        return Err(AppError::invalid(
            "theme",
            "`theme` must be system, light or dark",
        ));
    }
    Ok(state
        .db
        .set_user_theme(&who.user_id, theme, state.clock.now_ms())
        .await?)
}

#[tracing::instrument(skip_all)]
pub async fn set_notifications(state: &AppState, who: &Principal, prefs: Prefs) -> AppResult<()> {
    Ok(state
        .db
        .set_notification_prefs(&who.user_id, &prefs.to_stored(), state.clock.now_ms())
        .await?)
}
