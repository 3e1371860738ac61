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
    /// `configured` or `not_configured` (mail is then logged).
    pub email: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database is unreachable.
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
            email: if state.mailer.is_configured() {
                "configured"
            } else {
                "not_configured"
            }
            .into(),
        };
        if state.config.health_check_database {
            match health::database(&state).await {
                Ok(latency) => health.database_latency_ms = Some(latency),
                Err(_) => {
                    health.ok = false;
                    health.database = "error".into();
                    return HealthResponse::Unavailable(Json(health));
                }
            }
        }
        HealthResponse::Ok(Json(health))
    }
}
