//! Instance administration (docs/ADMIN.md): what the administrators — the first
//! user, and whomever they promote — do for the whole installation: the
//! registration policy, the users (disable, enable, promote, delete), a test mail,
//! and an overview of the server. Every change is in the instance audit log.

use crate::clock::Clock;
use crate::domain::ids::new_id;
use crate::error::{AppError, AppResult};
use crate::mail::Email;
use crate::service::accounts;
use crate::service::principal::{Principal, RequestMeta};
use crate::state::AppState;
use crate::store::{AdminUserRow, Db, InstanceAudit, InstanceAuditRow, JobClaimRow, SignOut};
use std::collections::HashMap;
use tracing::instrument;

const ADMINS_ONLY: &str = "Only instance administrators can do this.";
const LAST_ADMIN: &str =
    "This is the last active administrator; make another user administrator first.";
/// Users per page of the list.
pub const USERS_PER_PAGE: i64 = 50;

/// Refuses everyone but administrators.
pub fn require_admin(who: &Principal) -> AppResult<()> {
    if who.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: ADMINS_ONLY.into(),
            code: Some("not_administrator"),
            limit: None,
        })
    }
}

/// Who changes an account: a signed-in administrator, or an operator at the
/// server's command line (who has the database, so needs no account — the way back
/// in for a locked-out installation).
pub enum Actor<'a> {
    Admin(&'a Principal, &'a RequestMeta),
    Operator,
}

impl Actor<'_> {
    fn check(&self) -> AppResult<()> {
        match self {
            Actor::Admin(who, _) => require_admin(who),
            Actor::Operator => Ok(()),
        }
    }

    fn audit(&self, action: &str, target: Option<&str>, now: i64) -> InstanceAudit {
        let (actor_id, ip) = match self {
            Actor::Admin(who, meta) => (Some(who.user_id.clone()), meta.ip.clone()),
            Actor::Operator => (None, None),
        };
        InstanceAudit {
            id: new_id(),
            actor_id,
            action: action.into(),
            target: target.map(str::to_string),
            details: match self {
                Actor::Operator => Some(r#"{"via":"cli"}"#.into()),
                Actor::Admin(..) => None,
            },
            ip,
            created_at: now,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSettings {
    /// Whether anyone may sign up (otherwise by invite only).
    pub registration_open: bool,
    /// `TELEMETRY_ALLOW_REGISTRATION` is set and decides.
    pub locked_by_env: bool,
}

#[instrument(skip_all)]
pub async fn settings(state: &AppState, who: &Principal) -> AppResult<InstanceSettings> {
    require_admin(who)?;
    current_settings(state).await
}

async fn current_settings(state: &AppState) -> AppResult<InstanceSettings> {
    let chosen = state.db.instance_setting("allow_registration").await?;
    Ok(InstanceSettings {
        registration_open: state
            .config
            .allow_registration
            .unwrap_or(chosen.as_deref() == Some("true")),
        locked_by_env: state.config.allow_registration.is_some(),
    })
}

/// Opens or closes sign-up; refused while the setting decides.
#[instrument(skip_all)]
pub async fn set_registration(
    state: &AppState,
    who: &Principal,
    meta: &RequestMeta,
    open: bool,
) -> AppResult<InstanceSettings> {
    require_admin(who)?;
    if state.config.allow_registration.is_some() {
        return Err(AppError::Conflict(
            "TELEMETRY_ALLOW_REGISTRATION is set in the server's environment and decides; unset it to choose here."
                .into(),
        ));
    }
    let mut entry =
        Actor::Admin(who, meta).audit("instance.registration", None, state.clock.now_ms());
    entry.details = Some(serde_json::json!({ "open": open }).to_string());
    state
        .db
        .set_instance_setting(
            "allow_registration",
            if open { "true" } else { "false" },
            &entry,
        )
        .await?;
    current_settings(state).await
}

/// A user with the organizations it belongs to.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub row: AdminUserRow,
    /// (organization id, name, role).
    pub orgs: Vec<(String, String, String)>,
}

pub struct UserPage {
    pub users: Vec<AdminUser>,
    /// The email to continue after, when there may be more.
    pub next: Option<String>,
}

#[instrument(skip_all)]
pub async fn users(
    state: &AppState,
    who: &Principal,
    search: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> AppResult<UserPage> {
    require_admin(who)?;
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    let rows = state.db.admin_users(search, after, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.email.clone()))
        .flatten();
    let users = with_orgs(&state.db, rows).await?;
    Ok(UserPage { users, next })
}

async fn with_orgs(db: &Db, rows: Vec<AdminUserRow>) -> AppResult<Vec<AdminUser>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut orgs: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
    for (user, org_id, name, role) in db.memberships_of_users(&ids).await? {
        orgs.entry(user).or_default().push((org_id, name, role));
    }
    Ok(rows
        .into_iter()
        .map(|row| AdminUser {
            orgs: orgs.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// One user as the list shows it.
#[instrument(skip_all)]
pub async fn user_by_id(state: &AppState, who: &Principal, id: &str) -> AppResult<AdminUser> {
    require_admin(who)?;
    user(&state.db, id).await
}

/// The id of the user with this email (for the command line).
#[instrument(skip_all)]
pub async fn user_id_by_email(db: &Db, email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    Ok(db
        .user_by_email(&email)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with email {email:?}")))?
        .id)
}

async fn user(db: &Db, id: &str) -> AppResult<AdminUser> {
    let row = db
        .admin_user(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user {id:?}")))?;
    Ok(with_orgs(db, vec![row]).await?.remove(0))
}

/// Disables an account at once: every session ends and every token stops working;
/// signing in is refused with a message saying so.
#[instrument(skip_all)]
pub async fn disable(db: &Db, clock: &Clock, actor: &Actor<'_>, id: &str) -> AppResult<AdminUser> {
    actor.check()?;
    let target = user(db, id).await?;
    if target.row.disabled_at.is_some() {
        return Ok(target);
    }
    let now = clock.now_ms();
    let entry = actor.audit("user.disable", Some(&target.row.email), now);
    if !db.disable_user(id, now, &entry).await? {
        return Err(AppError::Conflict(LAST_ADMIN.into()));
    }
    user(db, id).await
}

#[instrument(skip_all)]
pub async fn enable(db: &Db, clock: &Clock, actor: &Actor<'_>, id: &str) -> AppResult<AdminUser> {
    actor.check()?;
    let target = user(db, id).await?;
    let now = clock.now_ms();
    let entry = actor.audit("user.enable", Some(&target.row.email), now);
    db.enable_user(id, now, &entry).await?;
    user(db, id).await
}

/// Makes a user an administrator, or no longer one (never the last).
#[instrument(skip_all)]
pub async fn set_admin(
    db: &Db,
    clock: &Clock,
    actor: &Actor<'_>,
    id: &str,
    admin: bool,
) -> AppResult<AdminUser> {
    actor.check()?;
    let target = user(db, id).await?;
    if (target.row.is_admin != 0) == admin {
        return Ok(target);
    }
    if admin && target.row.disabled_at.is_some() {
        return Err(AppError::Conflict(
            "The account is disabled; enable it before making it administrator.".into(),
        ));
    }
    let now = clock.now_ms();
    let action = if admin {
        "user.admin.grant"
    } else {
        "user.admin.revoke"
    };
    let entry = actor.audit(action, Some(&target.row.email), now);
    if !db.set_user_admin(id, admin, now, &entry).await? {
        return Err(AppError::Conflict(LAST_ADMIN.into()));
    }
    user(db, id).await
}

/// Sets a user's password from the command line; its sessions end and its tokens
/// are revoked, as after a reset.
#[instrument(skip_all)]
pub async fn set_password(
    db: &Db,
    clock: &Clock,
    id: &str,
    password: &str,
) -> AppResult<AdminUser> {
    let target = user(db, id).await?;
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    let now = clock.now_ms();
    db.set_user_password(id, &hash, now, Some(SignOut { keep_session: None }))
        .await?;
    db.write_instance_audit(&Actor::Operator.audit("user.password", Some(&target.row.email), now))
        .await?;
    user(db, id).await
}

/// Deletes an account; refused while it is the last owner of an organization
/// (named, so the administrator knows whom to promote there) or the last
/// administrator.
#[instrument(skip_all)]
pub async fn delete(
    state: &AppState,
    who: &Principal,
    meta: &RequestMeta,
    id: &str,
) -> AppResult<()> {
    require_admin(who)?;
    let target = user(&state.db, id).await?;
    let owned = state.db.orgs_solely_owned_by(id).await?;
    if !owned.is_empty() {
        let names: Vec<String> = owned.iter().map(|n| format!("\"{n}\"")).collect();
        return Err(AppError::Conflict(format!(
            "{} is the last owner of {}; make someone else owner there, or delete the organization, first.",
            target.row.email,
            names.join(", ")
        )));
    }
    let entry =
        Actor::Admin(who, meta).audit("user.delete", Some(&target.row.email), state.clock.now_ms());
    if !state.db.delete_user(id, &entry).await? {
        return Err(AppError::Conflict(LAST_ADMIN.into()));
    }
    Ok(())
}

/// What the SMTP server answered to a test mail.
#[derive(Debug, Clone)]
pub struct TestMail {
    pub sent: bool,
    /// The server's answer, or why sending failed (or that no SMTP server is set).
    pub detail: String,
}

#[instrument(skip_all)]
pub async fn test_email(
    state: &AppState,
    who: &Principal,
    meta: &RequestMeta,
    to: &str,
) -> AppResult<TestMail> {
    require_admin(who)?;
    let to = to.trim();
    if !to.contains('@') || to.len() > 254 {
        return Err(AppError::invalid("to", "an email address is required"));
    }
    let email = Email {
        to: to.to_string(),
        subject: "Telemetry Tracker test mail".into(),
        text: format!(
            "This is a test mail from Telemetry Tracker, sent by {} from Settings → Instance.\n\nMail works.",
            who.email
        ),
        html: format!(
            "<p>This is a test mail from Telemetry Tracker, sent by {} from Settings → Instance.</p><p>Mail works.</p>",
            maud::html! { (who.email) }.into_string()
        ),
    };
    let outcome = if state.mailer.is_configured() {
        match state.mailer.send_with_answer(email).await {
            Ok(answer) => TestMail {
                sent: true,
                detail: answer,
            },
            Err(e) => TestMail {
                sent: false,
                detail: e.to_string(),
            },
        }
    } else {
        TestMail {
            sent: false,
            detail: "No SMTP server is configured (SMTP_URL); mail is written to the server's log instead.".into(),
        }
    };
    let mut entry =
        Actor::Admin(who, meta).audit("instance.test_email", Some(to), state.clock.now_ms());
    entry.details = Some(serde_json::json!({ "sent": outcome.sent }).to_string());
    state.db.write_instance_audit(&entry).await?;
    Ok(outcome)
}

/// The server at a glance, for the administrators.
#[derive(Debug, Clone)]
pub struct Overview {
    pub version: &'static str,
    pub backend: &'static str,
    pub database_bytes: Option<i64>,
    /// The SQLite file's directory (none on PostgreSQL).
    pub data_dir: Option<String>,
    pub data_dir_free_bytes: Option<u64>,
    pub queue_depth: u64,
    pub jobs: Vec<JobClaimRow>,
    pub mail_configured: bool,
    pub users: i64,
    pub organizations: i64,
    pub projects: i64,
}

#[instrument(skip_all)]
pub async fn overview(state: &AppState, who: &Principal) -> AppResult<Overview> {
    require_admin(who)?;
    let (users, organizations, projects) = state.db.instance_counts().await?;
    let data_dir = state
        .database_file
        .get()
        .and_then(|f| f.path.parent())
        .map(|d| d.to_path_buf());
    let free = match data_dir.clone() {
        Some(dir) => tokio::task::spawn_blocking(move || fs4::available_space(dir).ok())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    Ok(Overview {
        version: env!("CARGO_PKG_VERSION"),
        backend: state.db.backend(),
        database_bytes: state.db.database_size().await.ok(),
        data_dir: data_dir.map(|d| d.display().to_string()),
        data_dir_free_bytes: free,
        queue_depth: state
            .queue
            .stats
            .depth
            .load(std::sync::atomic::Ordering::Relaxed) as u64,
        jobs: state.db.last_job_claims().await?,
        mail_configured: state.mailer.is_configured(),
        users,
        organizations,
        projects,
    })
}

#[instrument(skip_all)]
pub async fn audit_log(
    state: &AppState,
    who: &Principal,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<InstanceAuditRow>> {
    require_admin(who)?;
    Ok(state.db.instance_audit_log(before, limit).await?)
}
