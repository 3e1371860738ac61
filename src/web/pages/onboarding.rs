//! Getting started: an organization, a project, an API key, a snippet to paste into
//! the app, and a live check that waits for the first event.

use crate::domain::rbac::Role;
use crate::service::projects;
use crate::service::{analytics, orgs};
use crate::state::SharedState;
use crate::web::components::csrf_field;
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::{urlencode, PageResult, WebError};
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::security::{self, PROJECT_COOKIE};
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form, Json};
use poem::{handler, Request};
use serde::Deserialize;

/// Where the user stands.
struct Steps<'a> {
    has_org: bool,
    /// The organization a project would go into (one where the user may create projects).
    org: Option<(&'a str, &'a str)>,
    project: Option<(&'a str, &'a str)>,
    /// The full key, right after creating it.
    key: Option<&'a str>,
    /// The DSN of that key, or of a key to come (`…` for its public id).
    dsn: Option<&'a str>,
    can_edit: bool,
}

fn step(title: &str, state: &str, body: Markup) -> Markup {
    html! {
        li class=(format!("step {state}")) {
            div class="step-body" {
                h2 { (title) @if state == "done" { span class="sr-only" { " (done)" } } }
                (body)
            }
        }
    }
}

/// One copy-paste snippet behind a tab: its id (`?snippet=`), tab label, code, and
/// what to install for it.
pub(crate) struct Snippet {
    id: &'static str,
    label: &'static str,
    code: String,
    install: Markup,
}

/// Our own SDKs and curl, with the full key and the ingest URL.
fn our_snippets(key: &str, url: &str) -> Vec<Snippet> {
    let core = format!(
        "import {{ init, trackEvent }} from \"@telemetry-tracker/core\";\n\n\
         init({{\n  app: \"web\",\n  apiKey: \"{key}\",\n  ingestUrl: \"{url}\",\n  environment: \"production\",\n}});\n\n\
         trackEvent(\"signup\", {{ plan: \"pro\" }});"
    );
    let node = format!(
        "import {{ init, trackEvent, middleware }} from \"@telemetry-tracker/node\";\n\n\
         init({{\n  app: \"api\",\n  apiKey: \"{key}\",\n  ingestUrl: \"{url}\",\n  environment: process.env.NODE_ENV,\n}});\n\n\
         app.use(middleware()); // one $request event per request\ntrackEvent(\"server_started\");"
    );
    let curl = format!(
        "curl -X POST {url}/ingest/event \\\n  -H \"Authorization: Bearer {key}\" \\\n  -H \"Content-Type: application/json\" \\\n  \
         -d '{{\"app\":\"web\",\"name\":\"hello\",\"properties\":{{\"from\":\"curl\"}}}}'"
    );
    let ours = |package: &str| {
        html! {
            "Install with " code { "npm install @telemetry-tracker/" (package) } ". More in "
            a href="https://www.npmjs.com/org/telemetry-tracker" { "the SDK docs" } "."
        }
    };
    vec![
        Snippet {
            id: "core",
            label: "Browser (@telemetry-tracker/core)",
            code: core,
            install: ours("core"),
        },
        Snippet {
            id: "node",
            label: "Node (@telemetry-tracker/node)",
            code: node,
            install: ours("node"),
        },
        Snippet {
            id: "curl",
            label: "curl",
            code: curl,
            install: html! {},
        },
    ]
}

/// The Sentry SDKs, configured with a key's DSN. `release` is in every one: the
/// Sentry SDKs send sessions (crash-free rates) only for a release.
pub(crate) fn sentry_snippets(dsn: &str) -> Vec<Snippet> {
    let browser = format!(
        "import * as Sentry from \"@sentry/browser\";\n\n\
         Sentry.init({{\n  dsn: \"{dsn}\",\n  release: \"web@1.0.0\",\n  environment: \"production\",\n}});"
    );
    let node = format!(
        "const Sentry = require(\"@sentry/node\");\n\n\
         Sentry.init({{\n  dsn: \"{dsn}\",\n  release: \"api@1.0.0\",\n  environment: process.env.NODE_ENV,\n}});"
    );
    let python = format!(
        "import sentry_sdk\n\n\
         sentry_sdk.init(\n    dsn=\"{dsn}\",\n    release=\"worker@1.0.0\",\n    environment=\"production\",\n)"
    );
    let install = |command: &str| {
        html! {
            "Install with " code { (command) } ". Already using Sentry? Change only the DSN."
        }
    };
    vec![
        Snippet {
            id: "sentry-browser",
            label: "Sentry browser",
            code: browser,
            install: install("npm install @sentry/browser"),
        },
        Snippet {
            id: "sentry-node",
            label: "Sentry Node",
            code: node,
            install: install("npm install @sentry/node"),
        },
        Snippet {
            id: "sentry-python",
            label: "Sentry Python",
            code: python,
            install: install("pip install sentry-sdk"),
        },
    ]
}

/// Tabs of snippets (links to `here?snippet=<id>`, so they work without JavaScript)
/// and the chosen one, `which` or the first, with a copy button.
pub(crate) fn snippet_tabs(tabs: &[Snippet], which: &str, here: &str) -> Markup {
    let Some(chosen) = tabs.iter().find(|t| t.id == which).or(tabs.first()) else {
        return html! {};
    };
    let base = here.split('?').next().unwrap_or(here);
    html! {
        nav class="tabs-inline" aria-label="Snippet" {
            @for t in tabs {
                @let href = format!("{base}?snippet={}", t.id);
                @if t.id == chosen.id { a href=(href) aria-current="true" { (t.label) } } @else { a href=(href) { (t.label) } }
            }
        }
        div class="codeblock" {
            button class="btn btn-small copy" type="button" data-copy="#snippet" { "Copy" }
            pre tabindex="0" { code id="snippet" { (chosen.code) } }
        }
        @if !chosen.install.0.is_empty() { p class="hint" { (chosen.install) } }
    }
}

/// A key's DSN on a line of its own, with a copy button; `id` names the element copied.
pub(crate) fn dsn_line(id: &str, dsn: &str) -> Markup {
    html! {
        div class="codeblock" {
            button class="btn btn-small copy" type="button" data-copy=(format!("#{id}")) { "Copy DSN" }
            pre tabindex="0" { code id=(id) { (dsn) } }
        }
    }
}

fn snippets(key: &str, dsn: &str, url: &str, which: &str, here: &str) -> Markup {
    let mut tabs = our_snippets(key, url);
    tabs.extend(sentry_snippets(dsn));
    snippet_tabs(&tabs, which, here)
}

fn view(ctx: &PageCtx, s: &Steps<'_>, url: &str, snippet: &str) -> Markup {
    let org_state = if s.has_org { "done" } else { "current" };
    let project_state = match (s.has_org, s.project.is_some()) {
        (_, true) => "done",
        (true, false) => "current",
        _ => "todo",
    };
    let key_state = if s.project.is_some() {
        "current"
    } else {
        "todo"
    };
    let body = html! {
        div class="page-head" { h1 { "Set up a project" } }
        p class="muted" { "Three steps and your app sends its first event." }
        ol class="steps" {
            (step("Create an organization", org_state, html! {
                @if s.has_org {
                    p class="muted" { "Your organization: " @if let Some((_, name)) = s.org { strong { (name) } } }
                } @else {
                    form class="stack" method="post" action="/onboarding/org" {
                        (csrf_field(&ctx.csrf))
                        label { span class="label-text" { "Organization name" }
                            input type="text" name="name" required maxlength="120" placeholder="Acme"; }
                        button class="btn btn-primary" type="submit" { "Create organization" }
                    }
                }
            }))
            (step("Create a project", project_state, html! {
                @if let Some((_, name)) = s.project {
                    p class="muted" { "Project: " strong { (name) } }
                } @else if let Some((org_id, _)) = s.org {
                    form class="stack" method="post" action="/onboarding/project" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org_id);
                        label { span class="label-text" { "Project name" }
                            input type="text" name="name" required maxlength="120" placeholder="Web shop"; }
                        button class="btn btn-primary" type="submit" { "Create project" }
                    }
                } @else if s.has_org {
                    p class="muted" { "Ask an owner or editor of your organization to create a project." }
                }
            }))
            (step("Send your first event", key_state, html! {
                @if let Some((project_id, _)) = s.project {
                    @if let Some(key) = s.key {
                        div class="secret" {
                            p { strong { "Your API key" } " — shown only once; copy it now." }
                            code id="new-key" { (key) }
                            button class="btn btn-small copy" type="button" data-copy="#new-key" { "Copy key" }
                        }
                        p { strong { "Its DSN" } ", for apps that use a Sentry SDK (no secret in it; listed in Settings → API keys):" }
                        (dsn_line("new-dsn", s.dsn.unwrap_or_default()))
                        (snippets(key, s.dsn.unwrap_or_default(), url, snippet, "/onboarding"))
                    } @else if s.can_edit {
                        form class="stack" method="post" action="/onboarding/key" {
                            (csrf_field(&ctx.csrf))
                            input type="hidden" name="project" value=(project_id);
                            label { span class="label-text" { "Key label" }
                                input type="text" name="label" value="web" maxlength="120"; }
                            button class="btn btn-primary" type="submit" { "Create an API key" }
                        }
                        (snippets("tt_live_…", s.dsn.unwrap_or_default(), url, snippet, "/onboarding"))
                    } @else {
                        p class="muted" { "Ask an owner or editor for an API key of this project." }
                    }
                    p class="live" data-live-check=(format!("/onboarding/status?project={}", urlencode(project_id))) aria-live="polite" {
                        span class="live-dot" aria-hidden="true" {}
                        span class="live-text" { "Waiting for your first event…" }
                        " " a href=(format!("/onboarding?project={}", urlencode(project_id))) { "Check again" }
                    }
                }
            }))
        }
    };
    layout(
        ctx,
        "Set up a project",
        Tab::None,
        &Filters::default(),
        body,
    )
}

#[handler]
pub async fn page(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let orgs = orgs::my_orgs(&state, ctx.who()).await?;
    let editable = orgs
        .iter()
        .find(|o| o.role.parse::<Role>().is_ok_and(|r| r >= Role::Editor));
    let project = ctx.project.as_ref();
    let url = state.config.public_url();
    let snippet = query_param(req, "snippet").unwrap_or_default();
    let number = project.and_then(|p| {
        ctx.projects
            .iter()
            .find(|u| u.project.id == p.id)
            .map(|u| u.project.number)
    });
    let dsn = number.map(|n| projects::dsn(&state, "…", n));
    let steps = Steps {
        has_org: !orgs.is_empty(),
        org: editable
            .or(orgs.first())
            .map(|o| (o.id.as_str(), o.name.as_str())),
        project: project.map(|p| (p.id.as_str(), p.name.as_str())),
        key: None,
        dsn: dsn.as_deref(),
        can_edit: ctx.can_edit(),
    };
    Ok(html(view(&ctx, &steps, &url, &snippet)))
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    org: String,
}

#[handler]
pub async fn create_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<NameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    orgs::create_org(&state, &s.who, &f.name, &s.meta(&state, req)).await?;
    Ok(see_other("/onboarding"))
}

#[handler]
pub async fn create_project(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<NameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let project =
        projects::create_project(&state, &s.who, &f.org, &f.name, &s.meta(&state, req)).await?;
    req.cookie().add(security::cookie(
        &state,
        PROJECT_COOKIE,
        &project.id,
        400 * 86_400,
    ));
    Ok(see_other(&format!(
        "/onboarding?project={}",
        urlencode(&project.id)
    )))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    label: Option<String>,
}

/// Creates the key and shows it, once, with the snippets around it.
#[handler]
pub async fn create_key(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<KeyForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let label = f.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let key = projects::create_api_key(
        &state,
        &s.who,
        &f.project,
        label,
        None,
        None,
        &s.meta(&state, req),
    )
    .await?;
    let dsn = projects::dsn(&state, &key.public_id, key.project_number);
    let ctx = PageCtx::load(&state, req).await?;
    let project = ctx
        .projects
        .iter()
        .find(|p| p.project.id == f.project)
        .ok_or_else(|| WebError::NotFound("no such project".into()))?;
    let steps = Steps {
        has_org: true,
        org: Some((&project.project.org_id, &project.org_name)),
        project: Some((&project.project.id, &project.project.name)),
        key: Some(&key.key),
        dsn: Some(&dsn),
        can_edit: true,
    };
    Ok(html(view(&ctx, &steps, &state.config.public_url(), "core")))
}

#[derive(serde::Serialize)]
struct Status {
    received: bool,
}

/// `{"received": true}` once the project has data (polled by the onboarding page).
#[handler]
pub async fn status(
    req: &Request,
    state: Data<&SharedState>,
) -> PageResult<Json<serde_json::Value>> {
    let s = Session::require(&state, req).await?;
    let project = query_param(req, "project").unwrap_or_default();
    projects::get_project(&state, &s.who, &project).await?;
    let received = analytics::has_data(&state, &project).await?;
    Ok(Json(
        serde_json::to_value(Status { received }).unwrap_or_default(),
    ))
}
