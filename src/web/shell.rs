//! The document around every page: its head, and the bare layout of the pages
//! shown without a session (sign-in, errors). Depends on nothing else of the
//! dashboard, so error responses can render without a page context.

use crate::web::assets::asset;
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub(crate) const LOGO: &str = r##"<svg class="logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="7" fill="#2257d6"/><path d="M6 20h5l3-9 4 13 3-8h5" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;

pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Telemetry Tracker" }
            link rel="icon" href=(asset("favicon.svg")) type="image/svg+xml";
            link rel="stylesheet" href=(asset("css/app.css"));
            script src=(asset("js/app.js")) defer {}
        }
    }
}

/// Sign-in, sign-up and the other pages shown without a session.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-theme="system" {
            (head(title))
            body class="auth" {
                main id="main" class="auth-card" {
                    a class="auth-brand brand" href="/" { (PreEscaped(LOGO)) span { "Telemetry Tracker" } }
                    (body)
                }
            }
        }
    }
}

/// The page of an error response.
pub fn error_page(title: &str, detail: &str) -> Markup {
    bare(
        title,
        html! {
            h1 { (title) }
            p { (detail) }
            p { a class="btn" href="/" { "Back to the dashboard" } }
        },
    )
}
