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
pub mod security;

use poem::http::{header, StatusCode};
use poem::middleware::CookieJarManager;
use poem::{get, post, EndpointExt, IntoEndpoint, Response, Route};

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

/// Every dashboard route.
pub fn routes() -> impl IntoEndpoint {
    use pages::{
        auth, errors, events, notifications, onboarding, overview, performance, sessions, settings,
    };
    Route::new()
        .at("/", get(overview::page))
        .at("/login", get(auth::login_page).post(auth::login))
        .at("/logout", post(auth::logout))
        .at("/signup", get(auth::signup_page).post(auth::signup))
        .at(
            "/signup/confirm",
            get(auth::confirm_page).post(auth::confirm),
        )
        .at(
            "/forgot-password",
            get(auth::forgot_page).post(auth::forgot),
        )
        .at("/reset-password", get(auth::reset_page).post(auth::reset))
        .at("/invite", get(auth::invite_page).post(auth::accept_invite))
        .at("/switch", get(overview::switch_project))
        .at("/onboarding", get(onboarding::page))
        .at("/onboarding/org", post(onboarding::create_org))
        .at("/onboarding/project", post(onboarding::create_project))
        .at("/onboarding/key", post(onboarding::create_key))
        .at("/onboarding/status", get(onboarding::status))
        .at("/errors", get(errors::list))
        .at("/errors/:id", get(errors::detail))
        .at("/errors/:id/status", post(errors::set_status))
        .at("/events", get(events::page))
        .at("/events/:id", get(events::detail))
        .at("/sessions", get(sessions::list))
        .at("/sessions/:id", get(sessions::detail))
        .at("/performance", get(performance::page))
        .at("/notifications", get(notifications::list))
        .at("/notifications/read-all", post(notifications::read_all))
        .at("/notifications/:id", get(notifications::open))
        .nest("/settings", settings::routes())
        .at("/assets/:hash/*path", get(assets::serve))
        .at("/favicon.ico", get(assets::favicon))
        .around(security::headers)
        .with(CookieJarManager::new())
}
