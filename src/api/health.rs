use super::ApiTags;
use crate::service::health;
use crate::state::SharedState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

#[derive(Debug, Object)]
pub struct Health {
    pub ok: bool,
    pub version: String,
    /// `ok`, `error`, or `unchecked` when HEALTH_CHECK_DATABASE is off.
    pub database: String,
    #[oai(skip_serializing_if_is_none)]
    pub database_latency_ms: Option<f64>,
    /// Why the database is not usable (with `database: "error"`), e.g. "the
    /// database's disk is full" or "the database file is missing".
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// `configured` or `not_configured` (mail is then logged).
    pub email: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database cannot take writes (or cannot be reached): `reason` says why.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// Liveness and readiness; never needs auth, never reveals secrets.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&SharedState>) -> HealthResponse {
        let mut health = Health {
            ok: true,
            version: env!("CARGO_PKG_VERSION").to_string(),
            database: "ok".into(),
            database_latency_ms: None,
            reason: None,
            email: if state.mailer.is_configured() {
                "configured"
            } else {
                "not_configured"
            }
            .into(),
        };
        match health::database(&state).await {
            health::Database::Ok { latency_ms } => health.database_latency_ms = Some(latency_ms),
            health::Database::Unchecked => health.database = "unchecked".into(),
            health::Database::Error(reason) => {
                health.ok = false;
                health.database = "error".into();
                health.reason = Some(reason);
                return HealthResponse::Unavailable(Json(health));
            }
        }
        HealthResponse::Ok(Json(health))
    }
}
