//! Users, organizations, projects, API keys and personal access tokens.

use crate::clock::Clock;
use crate::domain::ids::new_id;
use crate::domain::plans::Plan;
use crate::domain::slug::slugify;
use crate::error::{AppError, AppResult};
use crate::ingest::keys::generate_key;
use crate::store::{
    ApiKeyRow, AuditRow, Db, MyOrgRow, NewApiKey, NewPersonalToken, OrgRow, ProjectRow,
    UserProjectRow, UserRow,
};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer passwords are refused: hashing is meant to be slow, not unbounded.
pub const MAX_PASSWORD_CHARS: usize = 1024;
const TOKEN_PREFIX: &str = "ttp_";

pub fn hash_password(password: &str) -> AppResult<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("the password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("the password must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn normalize_email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.contains(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid(
            "email",
            "a valid email address is required",
        ))
    }
}

fn display_name(field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(AppError::invalid(
            field,
            format!("`{field}` must be 1–120 characters"),
        ));
    }
    Ok(name.to_string())
}

pub struct CreatedUser {
    pub user: UserRow,
    pub org: Option<OrgRow>,
}

/// Creates a user; with `org_name`, also an organization the user owns. The first
/// user of an instance is its administrator.
/// A user's own row (404 once the account is gone).
#[tracing::instrument(skip_all)]
pub async fn user(db: &Db, user_id: &str) -> AppResult<UserRow> {
    db.user_by_id(user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))
}

/// The projects a user sees, with their organization and the user's role there.
#[tracing::instrument(skip_all)]
pub async fn projects_of_user(db: &Db, user_id: &str) -> AppResult<Vec<UserProjectRow>> {
    Ok(db.projects_of_user(user_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_user(
    db: &Db,
    clock: &Clock,
    email: &str,
    password: &str,
    org_name: Option<&str>,
) -> AppResult<CreatedUser> {
    let email = normalize_email(email)?;
    let password_hash = hash_password(password)?;
    create_user_with_hash(db, clock, &email, password_hash, org_name, Plan::SelfHosted).await
}

/// As `create_user`, for a password hashed earlier (a confirmed sign-up), with its
/// organization (if any) on `plan`.
#[tracing::instrument(skip_all)]
pub async fn create_user_with_hash(
    db: &Db,
    clock: &Clock,
    email: &str,
    password_hash: String,
    org_name: Option<&str>,
    plan: Plan,
) -> AppResult<CreatedUser> {
    let email = normalize_email(email)?;
    let now = clock.now_ms();
    let user = UserRow {
        id: new_id(),
        email,
        name: None,
        password_hash,
        is_admin: i64::from(db.count_users().await? == 0),
        created_at: now,
        disabled_at: None,
    };
    db.insert_user(&user)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict(format!("a user with email {} already exists", user.email))
            }
            other => other,
        })?;
    let org = match org_name {
        Some(name) => Some(create_org(db, clock, name, &user.email, plan).await?),
        None => None,
    };
    Ok(CreatedUser { user, org })
}

/// Who makes a change through the API or the dashboard: the audit entry recording
/// it is written in the change's own transaction. Changes an operator makes with
/// the CLI have no actor and write none.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub ip: Option<&'a str>,
}

impl Actor<'_> {
    pub fn entry(
        &self,
        org_id: &str,
        action: &str,
        target: Option<&str>,
        details: Option<serde_json::Value>,
        now: i64,
    ) -> AuditRow {
        AuditRow {
            id: new_id(),
            org_id: org_id.to_string(),
            actor_id: Some(self.user_id.to_string()),
            actor_email: None,
            action: action.to_string(),
            target: target.map(str::to_string),
            details: details.map(|d| d.to_string()),
            ip: self.ip.map(str::to_string),
            created_at: now,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn create_org(
    db: &Db,
    clock: &Clock,
    name: &str,
    owner_email: &str,
    plan: Plan,
) -> AppResult<OrgRow> {
    create_org_by(db, clock, name, owner_email, plan, None).await
}

#[tracing::instrument(skip_all)]
pub async fn create_org_by(
    db: &Db,
    clock: &Clock,
    name: &str,
    owner_email: &str,
    plan: Plan,
    by: Option<&Actor<'_>>,
) -> AppResult<OrgRow> {
    let name = display_name("name", name)?;
    let owner = db
        .user_by_email(&normalize_email(owner_email)?)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with email {owner_email}")))?;
    let org = OrgRow {
        id: new_id(),
        name,
        plan: plan.as_str().to_string(),
        created_at: clock.now_ms(),
    };
    let audit: Vec<AuditRow> = by
        .map(|a| {
            let details = serde_json::json!({ "name": org.name });
            a.entry(
                &org.id,
                "org.create",
                Some(&org.id),
                Some(details),
                org.created_at,
            )
        })
        .into_iter()
        .collect();
    db.insert_org_with_owner(&org, &owner.id, &audit)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => AppError::Conflict(format!(
                "an organization named {:?} already exists",
                org.name
            )),
            other => other,
        })?;
    Ok(org)
}

#[tracing::instrument(skip_all)]
pub async fn set_org_plan(db: &Db, org_ref: &str, plan: Plan) -> AppResult<OrgRow> {
    let org = find_org(db, org_ref).await?;
    db.set_org_plan(&org.id, plan.as_str()).await?;
    Ok(OrgRow {
        plan: plan.as_str().to_string(),
        ..org
    })
}

async fn find_org(db: &Db, org_ref: &str) -> AppResult<OrgRow> {
    db.org_by_ref(org_ref.trim())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no organization {org_ref:?}")))
}

#[tracing::instrument(skip_all)]
pub async fn create_project(
    db: &Db,
    clock: &Clock,
    org_ref: &str,
    name: &str,
) -> AppResult<ProjectRow> {
    create_project_by(db, clock, org_ref, name, None).await
}

#[tracing::instrument(skip_all)]
pub async fn create_project_by(
    db: &Db,
    clock: &Clock,
    org_ref: &str,
    name: &str,
    by: Option<&Actor<'_>>,
) -> AppResult<ProjectRow> {
    let org = find_org(db, org_ref).await?;
    let name = display_name("name", name)?;
    if let Some(max) = Plan::from_stored(&org.plan).limits().projects_per_org {
        if db.count_live_projects(&org.id).await? >= max {
            return Err(AppError::Forbidden {
                message: format!(
                    "The {} plan allows {max} project(s) per organization.",
                    org.plan
                ),
                code: Some("max_projects_per_org"),
                limit: Some(max),
            });
        }
    }
    let base = slugify(&name);
    let mut slug = base.clone();
    let mut n = 2;
    while db.project_slug_taken(&org.id, &slug).await? {
        slug = format!("{base}-{n}");
        n += 1;
    }
    let mut project = ProjectRow {
        id: new_id(),
        org_id: org.id,
        name,
        slug,
        created_at: clock.now_ms(),
        // The database numbers the project as it inserts it.
        number: 0,
    };
    let audit: Vec<AuditRow> = by
        .map(|a| {
            let details = serde_json::json!({ "name": project.name });
            let (id, at) = (&project.id, project.created_at);
            a.entry(
                &project.org_id,
                "project.create",
                Some(id),
                Some(details),
                at,
            )
        })
        .into_iter()
        .collect();
    project.number = db.insert_project(&project, &audit).await?;
    Ok(project)
}

pub struct CreatedKey {
    pub id: String,
    pub key: String,
    pub prefix: String,
    pub public_id: String,
    /// The number of the key's project, for its DSN.
    pub project_number: i64,
}

/// Longest lifetime a key or token can be given, in days (ten years).
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// When something created `now` and valid for `days` expires; `days` must be
/// 1–[`MAX_EXPIRY_DAYS`].
pub fn expiry(now: i64, days: Option<u32>) -> AppResult<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => {
            Ok(Some(now + i64::from(d) * crate::domain::timeutil::DAY_MS))
        }
        Some(_) => Err(AppError::invalid(
            "expires_in_days",
            format!("`expires_in_days` must be 1–{MAX_EXPIRY_DAYS}"),
        )),
    }
}

#[tracing::instrument(skip_all)]
pub async fn create_api_key(
    db: &Db,
    clock: &Clock,
    project_id: &str,
    label: Option<&str>,
    allowed_app: Option<&str>,
    expires_in_days: Option<u32>,
) -> AppResult<CreatedKey> {
    create_api_key_by(
        db,
        clock,
        project_id,
        label,
        allowed_app,
        expires_in_days,
        None,
    )
    .await
}

/// `by`: the actor and the organization of the project, for the audit entry.
#[tracing::instrument(skip_all)]
pub async fn create_api_key_by(
    db: &Db,
    clock: &Clock,
    project_id: &str,
    label: Option<&str>,
    allowed_app: Option<&str>,
    expires_in_days: Option<u32>,
    by: Option<(&Actor<'_>, &str)>,
) -> AppResult<CreatedKey> {
    let no_project = || AppError::NotFound(format!("no project {project_id:?}"));
    let plan = db.project_plan(project_id).await?.ok_or_else(no_project)?;
    let project_number = db
        .project_number(project_id)
        .await?
        .ok_or_else(no_project)?;
    if let Some(max) = Plan::from_stored(&plan).limits().keys_per_project {
        if db.count_active_api_keys(project_id).await? >= max {
            return Err(AppError::Forbidden {
                message: format!("The {plan} plan allows {max} active API key(s) per project."),
                code: Some("max_api_keys_per_project"),
                limit: Some(max),
            });
        }
    }
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if label.is_some_and(|l| l.chars().count() > 120) {
        return Err(AppError::invalid(
            "label",
            "`label` must be at most 120 characters",
        ));
    }
    let allowed_app = allowed_app.map(str::trim).filter(|a| !a.is_empty());
    if allowed_app.is_some_and(|a| a.chars().count() > 128) {
        return Err(AppError::invalid(
            "app",
            "`app` must be at most 128 characters",
        ));
    }
    let now = clock.now_ms();
    let expires_at = expiry(now, expires_in_days)?;
    let (key, public_id, hash) = generate_key();
    let id = new_id();
    let prefix = format!("tt_live_{public_id}");
    let audit: Vec<AuditRow> = by
        .map(|(a, org_id)| {
            let details =
                serde_json::json!({ "project": project_id, "label": label, "app": allowed_app });
            a.entry(org_id, "apikey.create", Some(&prefix), Some(details), now)
        })
        .into_iter()
        .collect();
    db.insert_api_key(
        &NewApiKey {
            id: &id,
            project_id,
            public_id: &public_id,
            secret_hash: &hash,
            label,
            allowed_app,
            created_at: now,
            expires_at,
        },
        &audit,
    )
    .await?;
    Ok(CreatedKey {
        id,
        prefix,
        key,
        public_id,
        project_number,
    })
}

#[tracing::instrument(skip_all)]
pub async fn list_api_keys(db: &Db, project_id: &str) -> AppResult<Vec<ApiKeyRow>> {
    if db.project_plan(project_id).await?.is_none() {
        return Err(AppError::NotFound(format!("no project {project_id:?}")));
    }
    Ok(db.list_api_keys(project_id).await?)
}

#[tracing::instrument(skip_all)]
pub async fn revoke_api_key(db: &Db, clock: &Clock, id: &str) -> AppResult<()> {
    revoke_api_key_by(db, clock, id, &[]).await
}

#[tracing::instrument(skip_all)]
pub async fn revoke_api_key_by(
    db: &Db,
    clock: &Clock,
    id: &str,
    audit: &[AuditRow],
) -> AppResult<()> {
    if db.revoke_api_key(id, clock.now_ms(), audit).await? {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("no active API key {id:?}")))
    }
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub struct CreatedToken {
    pub id: String,
    pub token: String,
}

/// A personal access token for the read API, acting with the user's roles.
#[tracing::instrument(skip_all)]
pub async fn create_token(
    db: &Db,
    clock: &Clock,
    email: &str,
    name: Option<&str>,
) -> AppResult<CreatedToken> {
    create_token_by(db, clock, email, name, None, None).await
}

/// `by`: the actor and the organizations whose audit logs record the new token.
#[tracing::instrument(skip_all)]
pub async fn create_token_by(
    db: &Db,
    clock: &Clock,
    email: &str,
    name: Option<&str>,
    expires_in_days: Option<u32>,
    by: Option<(&Actor<'_>, &[MyOrgRow])>,
) -> AppResult<CreatedToken> {
    let now = clock.now_ms();
    let expires_at = expiry(now, expires_in_days)?;
    let user = db
        .user_by_email(&normalize_email(email)?)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with email {email}")))?;
    let name = display_name("name", name.unwrap_or("cli"))?;
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let id = new_id();
    let audit: Vec<AuditRow> = by
        .map(|(a, orgs)| {
            orgs.iter()
                .map(|org| {
                    let details = serde_json::json!({ "name": name });
                    a.entry(&org.id, "token.create", Some(&id), Some(details), now)
                })
                .collect()
        })
        .unwrap_or_default();
    db.insert_personal_token(
        &NewPersonalToken {
            id: &id,
            user_id: &user.id,
            name: &name,
            prefix: &token[..12],
            token_hash: &token_hash(&token),
            created_at: now,
            expires_at,
        },
        &audit,
    )
    .await?;
    Ok(CreatedToken { id, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        assert!(hash_password("short").is_err());
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" A@Example.COM ").unwrap(), "a@example.com");
        assert!(normalize_email("nope").is_err());
        assert!(normalize_email("a@b").is_err());
    }
}
