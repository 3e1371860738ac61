//! Who is looking and at what: the signed-in user, their projects, the project the
//! page shows, the bell, and the CSRF token the page's forms carry.

use crate::domain::rbac::Role;
use crate::domain::timerange::Window;
use crate::service::alerts::{self, QuotaStanding};
use crate::service::auth::{self, csrf_token, SESSION_COOKIE};
use crate::service::principal::{Credential, Principal, RequestMeta};
use crate::service::{accounts, billing, notifications, preferences};
use crate::state::SharedState;
use crate::store::Scope;
use crate::store::{NotificationRow, UserProjectRow};
use crate::web::error::{PageResult, WebError};
use crate::web::filters::Filters;
use crate::web::security::{self, PROJECT_COOKIE};
use poem::Request;

/// The signed-in caller of a dashboard request.
pub struct Session {
    pub who: Principal,
    /// The session secret, from which the CSRF token derives.
    pub token: String,
}

fn request_meta(state: &SharedState, req: &Request) -> RequestMeta {
    crate::http::request::meta(state, req)
}

impl Session {
    /// The session of the cookie, or a redirect to the login page.
    pub async fn require(state: &SharedState, req: &Request) -> PageResult<Session> {
        let next = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let login = || WebError::LoginRequired { next: next.clone() };
        let token = req
            .cookie()
            .get(SESSION_COOKIE)
            .map(|c| c.value_str().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(login)?;
        // Reads only: forms are checked against their own token in `check_form`.
        let mut meta = request_meta(state, req);
        meta.unsafe_method = false;
        let who = auth::authenticate(state, Credential::Cookie(&token), &meta)
            .await
            .map_err(|e| match e {
                crate::error::AppError::Unauthorized(_) => login(),
                other => other.into(),
            })?;
        Ok(Session { who, token })
    }

    /// The session behind a posted form, whose CSRF token must match it.
    pub async fn for_form(
        state: &SharedState,
        req: &Request,
        posted_csrf: &str,
    ) -> PageResult<Session> {
        let session = Session::require(state, req).await?;
        if !security::session_form_ok(&session.token, posted_csrf) {
            return Err(WebError::Forbidden(
                "This form has expired or did not come from this dashboard. Reload the page and try again."
                    .into(),
            ));
        }
        Ok(session)
    }

    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }

    pub fn meta(&self, state: &SharedState, req: &Request) -> RequestMeta {
        request_meta(state, req)
    }
}

/// The project a page shows.
#[derive(Debug, Clone)]
pub struct CurrentProject {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

/// What every signed-in page shows around its content.
pub struct PageCtx {
    pub session: Session,
    pub name: Option<String>,
    pub theme: String,
    pub csrf: String,
    pub projects: Vec<UserProjectRow>,
    pub project: Option<CurrentProject>,
    pub unread: i64,
    pub notifications: Vec<NotificationRow>,
    pub flash: Option<security::Flash>,
    /// The current organization's projects near or over their monthly quota (for
    /// its owners only; empty otherwise).
    pub quota: Vec<QuotaStanding>,
    /// Billing is on (Stripe configured).
    pub billing: bool,
    /// The current organization's latest payment failed (for its owners only).
    pub past_due: bool,
    /// Path and query of the request (for "back here" links).
    pub here: String,
}

impl PageCtx {
    pub async fn load(state: &SharedState, req: &Request) -> PageResult<PageCtx> {
        let session = Session::require(state, req).await?;
        let who = &session.who;
        let (user, prefs, projects, (unread, notifications)) = futures_util::try_join!(
            accounts::user(&state.db, &who.user_id),
            preferences::get(state, who),
            accounts::projects_of_user(&state.db, &who.user_id),
            notifications::bell(state, who),
        )?;
        let wanted = query_param(req, "project").or_else(|| {
            req.cookie()
                .get(PROJECT_COOKIE)
                .map(|c| c.value_str().to_string())
        });
        let chosen = wanted
            .as_deref()
            .and_then(|id| projects.iter().find(|p| p.project.id == id))
            .or(projects.first());
        let project = chosen.map(|p| CurrentProject {
            id: p.project.id.clone(),
            name: p.project.name.clone(),
            org_id: p.project.org_id.clone(),
            org_name: p.org_name.clone(),
            role: p.role.parse().unwrap_or(Role::Viewer),
        });
        if let Some(p) = &project {
            let remembered = req.cookie().get(PROJECT_COOKIE);
            if remembered.as_ref().map(|c| c.value_str()) != Some(p.id.as_str()) {
                req.cookie()
                    .add(security::cookie(state, PROJECT_COOKIE, &p.id, 400 * 86_400));
            }
        }
        let (quota, past_due) = match &project {
            Some(p) if p.role == Role::Owner => futures_util::try_join!(
                alerts::quota_standing(state, who, &p.org_id),
                billing::past_due(state, who, &p.org_id),
            )?,
            _ => (Vec::new(), false),
        };
        Ok(PageCtx {
            csrf: session.csrf(),
            quota,
            billing: state.stripe.is_some(),
            past_due,
            name: user.name,
            theme: prefs.theme,
            projects,
            project,
            unread,
            notifications,
            flash: security::take_flash(state, req),
            here: req
                .uri()
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string()),
            session,
        })
    }

    pub fn who(&self) -> &Principal {
        &self.session.who
    }

    /// The current project, or a redirect to set one up.
    pub fn project(&self) -> PageResult<&CurrentProject> {
        self.project
            .as_ref()
            .ok_or_else(|| WebError::Redirect("/onboarding".into()))
    }

    /// EDITOR or OWNER in the current project's organization.
    pub fn can_edit(&self) -> bool {
        self.project
            .as_ref()
            .is_some_and(|p| p.role >= Role::Editor)
    }

    pub fn is_owner(&self) -> bool {
        self.project.as_ref().is_some_and(|p| p.role == Role::Owner)
    }

    /// How the user is called on the page.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.session.who.email)
    }
}

/// A signed-in page about the current project's telemetry: the shell, the filters of
/// the URL, and the window and scope they give.
pub struct Scoped {
    pub ctx: PageCtx,
    pub filters: Filters,
    pub window: Window,
    pub scope: Scope,
}

impl Scoped {
    pub async fn load(state: &SharedState, req: &Request) -> PageResult<Scoped> {
        let ctx = PageCtx::load(state, req).await?;
        let filters = Filters::from_request(req);
        let (window, scope) = filters.scope(&ctx.project()?.id, state.clock.now_ms())?;
        Ok(Scoped {
            ctx,
            filters,
            window,
            scope,
        })
    }
}

/// One query-string parameter, decoded.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}
