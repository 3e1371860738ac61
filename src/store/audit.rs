use super::{on_db, Db, StoreResult};

/// Runs `$body` in a transaction `$tx` of either backend and, when its value says
/// something changed ([`Changed`]), writes the audit entries `$audit` in the same
/// transaction before committing: a change and the entries recording it are stored
/// together or not at all. Evaluates to `StoreResult` of the body's value.
macro_rules! audited {
    ($db:expr, $audit:expr, |$tx:ident| $body:expr) => {
        $crate::store::on_db!($db, |pool| {
            let mut $tx = pool.begin().await?;
            let value = $body;
            if $crate::store::audit::Changed::changed(&value) {
                for row in $audit {
                    $crate::store::audit::write_audit!($tx, row);
                }
            }
            $tx.commit().await?;
            Ok(value)
        })
    };
}
pub(crate) use audited;

/// Writes one audit entry (`&AuditRow`) in the transaction `$tx`.
macro_rules! write_audit {
    ($tx:ident, $row:expr) => {{
        let row: &$crate::store::AuditRow = &$row;
        sqlx::query(
            "INSERT INTO audit_log (id, org_id, actor_id, action, target, details, ip, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.org_id)
        .bind(&row.actor_id)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.details)
        .bind(&row.ip)
        .bind(row.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use write_audit;

/// Whether the value an audited change returns means it changed anything: a write
/// that found nothing to change records nothing.
pub(crate) trait Changed {
    fn changed(&self) -> bool;
}

impl Changed for () {
    fn changed(&self) -> bool {
        true
    }
}

/// "Was it changed?"
impl Changed for bool {
    fn changed(&self) -> bool {
        *self
    }
}

/// Stored, or refused (nothing written).
impl<E> Changed for Result<(), E> {
    fn changed(&self) -> bool {
        self.is_ok()
    }
}

/// Rows changed.
impl Changed for u64 {
    fn changed(&self) -> bool {
        *self > 0
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub org_id: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
}

impl Db {
    /// Newest first; `before` continues from an earlier page's last `created_at`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_log(
        &self,
        org_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditRow>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT a.id, a.org_id, a.actor_id, u.email AS actor_email, a.action, a.target, a.details, a.ip, a.created_at
             FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
             WHERE a.org_id = $1 AND a.created_at < $2 ORDER BY a.created_at DESC, a.id DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }
}
