//! What the telemetry routes (overview, events, errors, sessions, analytics) share.
//!
//! They read one project. Authenticate with a personal access token; choose the
//! project with the `X-Project-Id` header or the `project_id` query parameter.
//! Lists take `from`/`to` (RFC 3339, `YYYY-MM-DD` or Unix ms) or `range` (1h, 24h,
//! 7d, 14d, 30d, 90d, 1y or `<n>h`/`<n>d`/`<n>w`; default 30d), widened to whole UTC
//! hours (up to 7 days) or days (longer); `app`, `environment`, `release`; and
//! paginate with `cursor`.

use super::problem::ApiResult;
use super::security::ApiAuth;
use crate::http::request::meta;
use crate::service::read::{self, RangeParams, Reader};
use crate::state::SharedState;
use poem::Request;
use poem_openapi::param::{Header, Query};

pub(super) fn json_text(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Time range and label filters shared by every list.
pub(super) struct Range {
    from: Query<Option<String>>,
    to: Query<Option<String>>,
    range: Query<Option<String>>,
    app: Query<Option<String>>,
    environment: Query<Option<String>>,
    release: Query<Option<String>>,
}

impl Range {
    pub(super) fn new(
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        range: Query<Option<String>>,
        app: Query<Option<String>>,
        environment: Query<Option<String>>,
        release: Query<Option<String>>,
    ) -> Range {
        Range {
            from,
            to,
            range,
            app,
            environment,
            release,
        }
    }

    pub(super) fn params(self) -> RangeParams {
        RangeParams {
            from: self.from.0,
            to: self.to.0,
            range: self.range.0,
            app: self.app.0,
            environment: self.environment.0,
            release: self.release.0,
        }
    }
}

pub(super) async fn reader(
    state: &SharedState,
    auth: &ApiAuth,
    req: &Request,
    header: &Header<Option<String>>,
    query: &Query<Option<String>>,
) -> ApiResult<Reader> {
    let project = header.0.as_deref().or(query.0.as_deref());
    let meta = meta(state, req);
    Ok(read::authorize(state, auth.credential(), &meta, project).await?)
}
