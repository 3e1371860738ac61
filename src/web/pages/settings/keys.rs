//! API keys of the current project, with which the SDKs send, and their DSNs, with
//! which the Sentry SDKs do.

use super::{days, outcome, refused, shell, trimmed};
use crate::service::accounts::CreatedKey;
use crate::service::projects;
use crate::state::SharedState;
use crate::store::ApiKeyRow;
use crate::web::components::{csrf_field, empty, now_ms, time};
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::html;
use crate::web::pages::onboarding::{dsn_line, sentry_snippets, snippet_tabs};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

/// A key as listed, with its DSN.
struct Listed {
    key: ApiKeyRow,
    dsn: String,
}

impl Listed {
    fn active(&self, now: i64) -> bool {
        self.key.revoked_at.is_none() && self.key.expires_at.is_none_or(|e| e > now)
    }
}

/// What the page shows: the keys (`None`: the viewer may not manage them), the
/// project's number, a key just created (shown once) and the snippet tab chosen.
struct KeysPage<'a> {
    keys: Option<&'a [Listed]>,
    number: Option<i64>,
    created: Option<(&'a str, &'a str)>,
    snippet: &'a str,
}

/// The Sentry SDKs' side: each active key's DSN and the snippets for one of them
/// (the key just created, else the newest active one).
fn sentry_card(keys: &[Listed], created_dsn: Option<&str>, snippet: &str) -> Markup {
    let now = now_ms();
    let active: Vec<&Listed> = keys.iter().filter(|k| k.active(now)).collect();
    let shown = created_dsn.or(active.last().map(|k| k.dsn.as_str()));
    html! {
        section class="card" aria-labelledby="sentry-sdks" {
            h3 class="card-title" id="sentry-sdks" { "Sentry SDKs" }
            p class="muted" {
                "Apps instrumented with a Sentry SDK, in any language, send here by changing only their DSN. "
                "A DSN names a key without its secret, so it can ship in a browser bundle; it stops working when its key is revoked or expires."
            }
            @if active.is_empty() {
                p class="muted" { "Create a key to get a DSN." }
            }
            @for k in &active {
                p class="small" { strong { (k.key.label.as_deref().unwrap_or("Unlabelled key")) } " " span class="mono muted" { "tt_live_" (k.key.public_id) "_…" } }
                (dsn_line(&format!("dsn-{}", k.key.id), &k.dsn))
            }
            @if let Some(dsn) = shown {
                (snippet_tabs(&sentry_snippets(dsn), snippet, "/settings/api-keys"))
            }
        }
    }
}

fn keys_view(ctx: &PageCtx, page: &KeysPage<'_>) -> Markup {
    let project = ctx.project.as_ref();
    let (keys, created) = (page.keys, page.created);
    shell(
        ctx,
        "api-keys",
        "API keys",
        html! {
            p class="muted" {
                "Keys of the project " @if let Some(p) = project { strong { (p.name) } } " (switch project at the top). SDKs send with them; a key can only ingest, never read."
                @if let Some(n) = page.number {
                    " Its project number, the last part of its DSNs, is " strong class="mono" { (n) } "."
                }
            }
            @if let Some((k, _)) = created {
                div class="secret" {
                    p { strong { "Your new API key" } " — shown only once; copy it now." }
                    code id="new-key" { (k) }
                    button class="btn btn-small copy" type="button" data-copy="#new-key" { "Copy key" }
                }
            }
            @match keys {
                None => {
                    (empty("Only owners and editors manage keys", "Ask an owner or editor of this organization for an API key.", html! {}))
                }
                Some(keys) => {
                    section class="card" {
                        h3 class="card-title" { "New key" }
                        form class="filters" method="post" action="/settings/api-keys" {
                            (csrf_field(&ctx.csrf))
                            @if let Some(p) = project { input type="hidden" name="project" value=(p.id); }
                            label class="field" { span { "Label" } input type="text" name="label" maxlength="120" placeholder="web"; }
                            label class="field" { span { "Only for app (optional)" } input type="text" name="app" maxlength="128"; }
                            label class="field" { span { "Expires after days (optional)" } input type="number" name="days" min="1" max="3650"; }
                            button class="btn btn-primary" type="submit" { "Create key" }
                        }
                    }
                    @if keys.is_empty() {
                        (empty("No keys yet", "Create a key and put it into your app's SDK configuration.", html! { a class="btn" href="/onboarding" { "SDK setup" } }))
                    } @else {
                        div class="table-wrap" {
                            table class="table table-stack" {
                                thead { tr { th scope="col" { "Label" } th scope="col" { "Key" } th scope="col" { "App" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Status" } th scope="col" { span class="sr-only" { "Actions" } } } }
                                tbody {
                                    @for listed in keys {
                                        @let k = &listed.key;
                                        tr {
                                            td { (k.label.as_deref().unwrap_or("–")) }
                                            td class="mono small" { "tt_live_" (k.public_id) "_…" }
                                            td { (k.allowed_app.as_deref().unwrap_or("any")) }
                                            td { (time(k.created_at)) }
                                            td { @if let Some(u) = k.last_used_at { (time(u)) } @else { "never" } }
                                            td {
                                                @if k.revoked_at.is_some() { span class="badge badge-ignored" { "Revoked" } }
                                                @else if k.expires_at.is_some_and(|e| e <= now_ms()) { span class="badge badge-ignored" { "Expired" } }
                                                @else { span class="badge badge-good" { "Active" } }
                                            }
                                            td {
                                                @if k.revoked_at.is_none() {
                                                    form class="inline" method="post" action=(format!("/settings/api-keys/{}/revoke", k.id)) data-confirm="Revoke this key? Apps sending with it are refused from now on." {
                                                        (csrf_field(&ctx.csrf))
                                                        input type="hidden" name="project" value=(k.project_id);
                                                        button class="btn btn-small btn-danger" type="submit" { "Revoke" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (sentry_card(keys, created.map(|(_, dsn)| dsn), page.snippet))
                }
            }
        },
    )
}

async fn keys_page(state: &SharedState, req: &Request, created: Option<&CreatedKey>) -> PageResult {
    let ctx = PageCtx::load(state, req).await?;
    let project = ctx.project()?.id.clone();
    let keys = if ctx.can_edit() {
        let keys = projects::api_keys(state, ctx.who(), &project).await?;
        Some(
            keys.into_iter()
                .map(|key| Listed {
                    dsn: projects::dsn(state, &key.public_id, key.project_number),
                    key,
                })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let created_dsn = created.map(|k| projects::dsn(state, &k.public_id, k.project_number));
    let number = ctx
        .projects
        .iter()
        .find(|p| p.project.id == project)
        .map(|p| p.project.number);
    let snippet = query_param(req, "snippet").unwrap_or_default();
    let page = KeysPage {
        keys: keys.as_deref(),
        number,
        created: created
            .zip(created_dsn.as_deref())
            .map(|(k, d)| (k.key.as_str(), d)),
        snippet: &snippet,
    };
    Ok(html(keys_view(&ctx, &page)))
}

#[handler]
pub(super) async fn api_keys(req: &Request, state: Data<&SharedState>) -> PageResult {
    keys_page(&state, req, None).await
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    project: String,
    #[serde(default, deserialize_with = "trimmed")]
    label: String,
    #[serde(default, deserialize_with = "trimmed")]
    app: String,
    #[serde(default, deserialize_with = "trimmed")]
    days: String,
}

#[handler]
pub(super) async fn create_api_key(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<KeyForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let label = Some(f.label.as_str()).filter(|l| !l.is_empty());
    let app = Some(f.app.as_str()).filter(|a| !a.is_empty());
    let created = match days(&f.days) {
        Ok(d) => {
            projects::create_api_key(
                &state,
                &s.who,
                &f.project,
                label,
                app,
                d,
                &s.meta(&state, req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(k) => keys_page(&state, req, Some(&k)).await,
        Err(e) => refused(&state, req, e, "/settings/api-keys"),
    }
}

#[derive(Deserialize)]
struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    project: String,
}

#[handler]
pub(super) async fn revoke_api_key(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<ProjectForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = projects::revoke_api_key(&state, &s.who, &f.project, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Key revoked.".into(),
        "/settings/api-keys",
    )
}
