use super::audit::audited;
use super::{on_db, AuditRow, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
    /// Unique in the installation and never reused: the last segment of the
    /// project's DSNs (the Sentry SDKs accept only digits there). Assigned by the
    /// database at insert (migrations 0009); `insert_project` never names it.
    pub number: i64,
}

/// A project with its organization's name and the viewing member's role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserProjectRow {
    #[sqlx(flatten)]
    pub project: ProjectRow,
    pub org_name: String,
    pub role: String,
}

/// A project as seen by one member, with that member's role and the org's plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectAccessRow {
    pub id: String,
    pub org_id: String,
    pub role: String,
    pub plan: String,
}

impl Db {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_live_projects(&self, org_id: &str) -> StoreResult<i64> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM projects WHERE org_id = $1 AND deleted_at IS NULL",
        )
        .bind(org_id)
        .fetch_one(pool)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_slug_taken(&self, org_id: &str, slug: &str) -> StoreResult<bool> {
        on_db!(self, |pool| {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE org_id = $1 AND slug = $2")
                    .bind(org_id)
                    .bind(slug)
                    .fetch_one(pool)
                    .await?;
            Ok(n > 0)
        })
    }

    /// Inserts the project and returns the number the database gave it (a sequence
    /// on PostgreSQL, the next after the highest on SQLite: migrations 0009).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_project(&self, p: &ProjectRow, audit: &[AuditRow]) -> StoreResult<i64> {
        let number: i64;
        let inserted: StoreResult<()> = audited!(self, audit, |tx| {
            sqlx::query("INSERT INTO projects (id, org_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&p.id)
                .bind(&p.org_id)
                .bind(&p.name)
                .bind(&p.slug)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            // Read back rather than `RETURNING`: SQLite's RETURNING does not see
            // what the AFTER INSERT trigger that numbers the row writes.
            number = sqlx::query_scalar("SELECT number FROM projects WHERE id = $1")
                .bind(&p.id)
                .fetch_one(&mut *tx)
                .await?;
        });
        inserted.map(|()| number)
    }

    /// A live project of a live organization, by id.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_by_id(&self, id: &str) -> StoreResult<Option<ProjectRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT p.id, p.org_id, p.name, p.slug, p.created_at, p.number FROM projects p
             JOIN organizations o ON o.id = p.org_id
             WHERE p.id = $1 AND p.deleted_at IS NULL AND o.deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// A live project of a live organization, by its number (the last segment of a
    /// DSN). A deleted project's number finds nothing: it is never given to another.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_by_number(&self, number: i64) -> StoreResult<Option<ProjectRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT p.id, p.org_id, p.name, p.slug, p.created_at, p.number FROM projects p
             JOIN organizations o ON o.id = p.org_id
             WHERE p.number = $1 AND p.deleted_at IS NULL AND o.deleted_at IS NULL",
        )
        .bind(number)
        .fetch_optional(pool)
        .await?))
    }

    /// A project's number, deleted or not (`None`: no such project).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_number(&self, project_id: &str) -> StoreResult<Option<i64>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT number FROM projects WHERE id = $1"
        )
        .bind(project_id)
        .fetch_optional(pool)
        .await?))
    }

    /// The project when `user_id` is a member of its organization; `None` otherwise,
    /// so foreign and missing projects look the same to the caller.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_access(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ProjectAccessRow>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT p.id, p.org_id, m.role, o.plan FROM projects p
             JOIN organizations o ON o.id = p.org_id
             JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $2
             WHERE p.id = $1 AND p.deleted_at IS NULL AND o.deleted_at IS NULL",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?))
    }

    /// The plan of the organization owning a live project.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn project_plan(&self, project_id: &str) -> StoreResult<Option<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT o.plan FROM projects p JOIN organizations o ON o.id = p.org_id
             WHERE p.id = $1 AND p.deleted_at IS NULL AND o.deleted_at IS NULL",
        )
        .bind(project_id)
        .fetch_optional(pool)
        .await?))
    }

    /// Every live project the user can see, with its organization and the user's role.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn projects_of_user(&self, user_id: &str) -> StoreResult<Vec<UserProjectRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT p.id, p.org_id, p.name, p.slug, p.created_at, p.number, o.name AS org_name, m.role
             FROM projects p
             JOIN organizations o ON o.id = p.org_id AND o.deleted_at IS NULL
             JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $1
             WHERE p.deleted_at IS NULL ORDER BY o.name, o.id, p.name, p.id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    /// Records `new` app labels for a project unless that would pass `cap` distinct
    /// labels, deciding under a lock of the project's row (the whole database on
    /// SQLite), so that processes admitting labels at once never pass the cap
    /// together. Returns every label the project has then, or `None` when over the cap.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reserve_apps(
        &self,
        project_id: &str,
        new: &[String],
        cap: usize,
        now: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let lock = match self {
            Db::Sqlite(_) => "SELECT id FROM projects WHERE id = $1",
            Db::Postgres(_) => "SELECT id FROM projects WHERE id = $1 FOR UPDATE",
        };
        on_db!(self, |pool| {
            let mut tx = match self {
                Db::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
                Db::Postgres(_) => pool.begin().await?,
            };
            sqlx::query(lock).bind(project_id).execute(&mut *tx).await?;
            let mut apps: Vec<String> =
                sqlx::query_scalar("SELECT app FROM project_apps WHERE project_id = $1")
                    .bind(project_id)
                    .fetch_all(&mut *tx)
                    .await?;
            let missing: Vec<&String> = new.iter().filter(|a| !apps.contains(a)).collect();
            if apps.len() + missing.len() > cap {
                tx.rollback().await?;
                return Ok(None);
            }
            for app in missing {
                sqlx::query(
                    "INSERT INTO project_apps (project_id, app, first_seen) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(project_id)
                .bind(app)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                apps.push(app.clone());
            }
            tx.commit().await?;
            Ok(Some(apps))
        })
    }

    pub async fn project_apps(&self, project_id: &str) -> StoreResult<Vec<String>> {
        on_db!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT app FROM project_apps WHERE project_id = $1 ORDER BY app",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?))
    }
}
