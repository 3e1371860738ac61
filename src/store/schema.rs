//! The database's schema: the migrations it has, those this binary knows, and the
//! versions of the binary that opened it.

use super::{on_db, Db, StoreResult, POSTGRES_MIGRATOR, SQLITE_MIGRATOR};

/// A migration, by version and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRef {
    pub version: i64,
    pub name: String,
    /// Its SQL (for this binary's own migrations).
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct SchemaState {
    /// Migrations the database has.
    pub applied: Vec<i64>,
    /// This binary's migrations the database lacks.
    pub pending: Vec<MigrationRef>,
    /// Migrations the database has that this binary does not know: a newer version
    /// wrote it.
    pub unknown: Vec<MigrationRef>,
    /// The version of the binary that opened the database last, when recorded.
    pub last_version: Option<String>,
}

impl Db {
    async fn table_exists(&self, table: &str) -> StoreResult<bool> {
        Ok(match self {
            Db::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(table)
                .fetch_one(pool)
                .await?
                    > 0
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                   WHERE table_schema = current_schema() AND table_name = $1)",
                )
                .bind(table)
                .fetch_one(pool)
                .await?
            }
        })
    }

    /// Where the schema stands against this binary's migrations.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn schema_state(&self) -> StoreResult<SchemaState> {
        let applied: Vec<(i64, String)> = if self.table_exists("_sqlx_migrations").await? {
            on_db!(self, |pool| sqlx::query_as(
                "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version"
            )
            .fetch_all(pool)
            .await?)
        } else {
            Vec::new()
        };
        let last_version = if self.table_exists("app_versions").await? {
            on_db!(self, |pool| sqlx::query_scalar(
                "SELECT version FROM app_versions ORDER BY last_seen_at DESC, version DESC LIMIT 1"
            )
            .fetch_optional(pool)
            .await?)
        } else {
            None
        };
        let migrator = match self {
            Db::Sqlite(_) => &SQLITE_MIGRATOR,
            Db::Postgres(_) => &POSTGRES_MIGRATOR,
        };
        let known: Vec<MigrationRef> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationRef {
                version: m.version,
                name: m.description.to_string(),
                sql: m.sql.to_string(),
            })
            .collect();
        let pending = known
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .cloned()
            .collect();
        let unknown = applied
            .iter()
            .filter(|(v, _)| !known.iter().any(|m| m.version == *v))
            .map(|(version, name)| MigrationRef {
                version: *version,
                name: name.clone(),
                sql: String::new(),
            })
            .collect();
        Ok(SchemaState {
            applied: applied.into_iter().map(|(v, _)| v).collect(),
            pending,
            unknown,
            last_version,
        })
    }

    /// Notes that `version` of the binary opened the database.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_app_version(&self, version: &str, now: i64) -> StoreResult<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO app_versions (version, first_seen_at, last_seen_at) VALUES ($1, $2, $2)
                 ON CONFLICT (version) DO UPDATE SET last_seen_at = excluded.last_seen_at",
            )
            .bind(version)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
