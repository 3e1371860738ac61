//! Personal access tokens: scripts that read the API as the user.

use super::{days, outcome, refused, shell, trimmed, CsrfForm};
use crate::service::auth;
use crate::state::SharedState;
use crate::store::TokenRow;
use crate::web::components::{csrf_field, empty, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::html;
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

fn tokens_view(ctx: &PageCtx, list: &[TokenRow], created: Option<&str>) -> Markup {
    shell(
        ctx,
        "tokens",
        "Personal tokens",
        html! {
            p class="muted" { "Tokens let scripts read the API as you, with your roles: send " code { "Authorization: Bearer <token>" } ". See " a href="/api/docs" { "the API reference" } "." }
            @if let Some(t) = created {
                div class="secret" {
                    p { strong { "Your new token" } " — shown only once; copy it now." }
                    code id="new-token" { (t) }
                    button class="btn btn-small copy" type="button" data-copy="#new-token" { "Copy" }
                }
            }
            section class="card" {
                h3 class="card-title" { "New token" }
                form class="stack" method="post" action="/settings/tokens" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Name" } input type="text" name="name" required maxlength="120" placeholder="CI export"; }
                    label { span class="label-text" { "Expires after (days, optional)" } input type="number" name="days" min="1" max="3650"; }
                    button class="btn btn-primary" type="submit" { "Create token" }
                }
            }
            @if list.is_empty() {
                (empty("No tokens", "Create one for each script or tool, so that you can revoke them one by one.", html! {}))
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Token" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for t in list {
                                tr {
                                    td { (t.name) }
                                    td class="mono" { (t.prefix) "…" }
                                    td { (time(t.created_at)) }
                                    td { @if let Some(u) = t.last_used_at { (time(u)) } @else { "never" } }
                                    td { @if let Some(e) = t.expires_at { (time(e)) } @else { "never" } }
                                    td {
                                        form class="inline" method="post" action=(format!("/settings/tokens/{}/revoke", t.id)) data-confirm="Revoke this token? Scripts using it stop working." {
                                            (csrf_field(&ctx.csrf))
                                            button class="btn btn-small btn-danger" type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[handler]
pub(super) async fn tokens(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let list = auth::tokens(&state, ctx.who()).await?;
    Ok(html(tokens_view(&ctx, &list, None)))
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
    #[serde(default, deserialize_with = "trimmed")]
    days: String,
}

#[handler]
pub(super) async fn create_token(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<TokenForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let created = match days(&f.days) {
        Ok(d) => auth::create_token(&state, &s.who, &f.name, d, &s.meta(&state, req)).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => {
            let ctx = PageCtx::load(&state, req).await?;
            let list = auth::tokens(&state, ctx.who()).await?;
            Ok(html(tokens_view(&ctx, &list, Some(&t.token))))
        }
        Err(e) => refused(&state, req, e, "/settings/tokens"),
    }
}

#[handler]
pub(super) async fn revoke_token(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = auth::revoke_token(&state, &s.who, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Token revoked.".into(),
        "/settings/tokens",
    )
}
