//! The dashboard: server-rendered pages (maud) with embedded assets. Handlers parse
//! the request, call the services and hand a view-model to a view; views are pure
//! functions that return markup.

pub mod assets;
pub mod charts;
pub mod components;
pub mod context;
pub mod error;
pub mod filters;
pub mod layout;
pub mod pages;
pub mod sections;
pub mod security;
pub mod shell;

use poem::http::{header, HeaderValue, StatusCode};
use poem::middleware::CookieJarManager;
use poem::{get, post, Endpoint, EndpointExt, IntoEndpoint, Response, Route, RouteMethod};

/// An HTML page response.
pub fn html(markup: maud::Markup) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A redirect after a form (303, so the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// A path's handlers; any other method is answered 405 with `Allow` naming `methods`.
pub fn allow(route: RouteMethod, methods: &'static str) -> impl Endpoint {
    route.around(move |ep, req| async move {
        let mut res = ep.get_response(req).await;
        if res.status() == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(methods));
        }
        Ok(res)
    })
}

/// Every dashboard route.
pub fn routes() -> impl IntoEndpoint {
    use pages::{
        auth, errors, events, notifications, onboarding, overview, performance, sessions, settings,
    };
    Route::new()
        .at("/", allow(get(overview::page), "GET, HEAD"))
        .at(
            "/login",
            allow(get(auth::login_page).post(auth::login), "GET, HEAD, POST"),
        )
        .at("/logout", allow(post(auth::logout), "POST"))
        .at(
            "/signup",
            allow(get(auth::signup_page).post(auth::signup), "GET, HEAD, POST"),
        )
        .at(
            "/signup/confirm",
            allow(
                get(auth::confirm_page).post(auth::confirm),
                "GET, HEAD, POST",
            ),
        )
        .at(
            "/forgot-password",
            allow(get(auth::forgot_page).post(auth::forgot), "GET, HEAD, POST"),
        )
        .at(
            "/reset-password",
            allow(get(auth::reset_page).post(auth::reset), "GET, HEAD, POST"),
        )
        .at(
            "/invite",
            allow(
                get(auth::invite_page).post(auth::accept_invite),
                "GET, HEAD, POST",
            ),
        )
        .at("/switch", allow(get(overview::switch_project), "GET, HEAD"))
        .at("/onboarding", allow(get(onboarding::page), "GET, HEAD"))
        .at(
            "/onboarding/org",
            allow(post(onboarding::create_org), "POST"),
        )
        .at(
            "/onboarding/project",
            allow(post(onboarding::create_project), "POST"),
        )
        .at(
            "/onboarding/key",
            allow(post(onboarding::create_key), "POST"),
        )
        .at(
            "/onboarding/status",
            allow(get(onboarding::status), "GET, HEAD"),
        )
        .at("/errors", allow(get(errors::list), "GET, HEAD"))
        .at("/errors/:id", allow(get(errors::detail), "GET, HEAD"))
        .at(
            "/errors/:id/status",
            allow(post(errors::set_status), "POST"),
        )
        .at("/events", allow(get(events::page), "GET, HEAD"))
        .at("/events/:id", allow(get(events::detail), "GET, HEAD"))
        .at("/sessions", allow(get(sessions::list), "GET, HEAD"))
        .at("/sessions/:id", allow(get(sessions::detail), "GET, HEAD"))
        .at("/performance", allow(get(performance::page), "GET, HEAD"))
        .at(
            "/notifications",
            allow(get(notifications::list), "GET, HEAD"),
        )
        .at(
            "/notifications/read-all",
            allow(post(notifications::read_all), "POST"),
        )
        .at(
            "/notifications/:id",
            allow(get(notifications::open), "GET, HEAD"),
        )
        .nest("/settings", settings::routes())
        .at(
            "/assets/:hash/*path",
            allow(get(assets::serve), "GET, HEAD"),
        )
        .at("/favicon.ico", allow(get(assets::favicon), "GET, HEAD"))
        .with(CookieJarManager::new())
}
