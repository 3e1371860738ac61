//! The time range and label filters every analytics page shares, kept in the URL so
//! that links are shareable and carried from page to page.

use crate::domain::timerange::Window;
use crate::error::AppResult;
use crate::service::read::{self, RangeParams};
use crate::store::Scope;
use crate::web::error::WebError;
use poem::Request;

/// The range a page shows when the URL names none.
pub const DEFAULT_RANGE: &str = "7d";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub app: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
}

const KEYS: [&str; 6] = ["range", "from", "to", "app", "environment", "release"];

impl Filters {
    pub fn from_request(req: &Request) -> Filters {
        let mut f = Filters::default();
        let query = req.uri().query().unwrap_or("");
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().to_string();
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                "range" => f.range = Some(v),
                "from" => f.from = Some(v),
                "to" => f.to = Some(v),
                "app" => f.app = Some(v),
                "environment" => f.environment = Some(v),
                "release" => f.release = Some(v),
                _ => {}
            }
        }
        f
    }

    fn params(&self) -> RangeParams {
        RangeParams {
            from: self.from.clone(),
            to: self.to.clone(),
            range: self.range.clone().or_else(|| {
                (self.from.is_none() && self.to.is_none()).then(|| DEFAULT_RANGE.to_string())
            }),
            app: self.app.clone(),
            environment: self.environment.clone(),
            release: self.release.clone(),
        }
    }

    /// The window and scope of these filters for `project_id`.
    pub fn scope(&self, project_id: &str, now: i64) -> Result<(Window, Scope), WebError> {
        let resolve = || -> AppResult<(Window, Scope)> {
            let p = self.params();
            let w = read::window(&p, now)?;
            let s = read::scope_in(project_id, &w, &p)?;
            Ok((w, s))
        };
        resolve().map_err(WebError::from)
    }

    /// The filters as query-string pairs, without empty ones.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        KEYS.into_iter()
            .zip([
                &self.range,
                &self.from,
                &self.to,
                &self.app,
                &self.environment,
                &self.release,
            ])
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect()
    }

    /// `path?filters&extra`, for links that keep the filters.
    pub fn link(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            if !extra.iter().any(|(e, _)| *e == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    }

    pub fn is_filtered(&self) -> bool {
        self.app.is_some() || self.environment.is_some() || self.release.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_filters_and_replace_extras() {
        let f = Filters {
            range: Some("30d".into()),
            environment: Some("prod & co".into()),
            ..Default::default()
        };
        assert_eq!(
            f.link("/errors", &[("range", "7d"), ("page", "2")]),
            "/errors?environment=prod+%26+co&range=7d&page=2"
        );
        assert_eq!(Filters::default().link("/events", &[]), "/events");
    }
}
