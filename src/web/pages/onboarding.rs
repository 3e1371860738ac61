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

fn snippets(key: &str, url: &str, which: &str, here: &str) -> Markup {
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
    let tabs = [
        ("core", "Browser (@telemetry-tracker/core)", core),
        ("node", "Node (@telemetry-tracker/node)", node),
        ("curl", "curl", curl),
    ];
    let chosen = tabs
        .iter()
        .find(|(id, _, _)| *id == which)
        .unwrap_or(&tabs[0]);
    let base = here.split('?').next().unwrap_or(here);
    html! {
        nav class="tabs-inline" aria-label="Snippet" {
            @for (id, label, _) in &tabs {
                @let href = format!("{base}?snippet={id}");
                @if *id == chosen.0 { a href=(href) aria-current="true" { (label) } } @else { a href=(href) { (label) } }
            }
        }
        div class="codeblock" {
            button class="btn btn-small copy" type="button" data-copy="#snippet" { "Copy" }
            pre tabindex="0" { code id="snippet" { (chosen.2) } }
        }
        @if chosen.0 != "curl" {
            p class="hint" { "Install with " code { "npm install @telemetry-tracker/" (chosen.0) } ". More in " a href="https://www.npmjs.com/org/telemetry-tracker" { "the SDK docs" } "." }
        }
    }
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
                        (snippets(key, url, snippet, "/onboarding"))
                    } @else if s.can_edit {
                        form class="stack" method="post" action="/onboarding/key" {
                            (csrf_field(&ctx.csrf))
                            input type="hidden" name="project" value=(project_id);
                            label { span class="label-text" { "Key label" }
                                input type="text" name="label" value="web" maxlength="120"; }
                            button class="btn btn-primary" type="submit" { "Create an API key" }
                        }
                        (snippets("tt_live_…", url, snippet, "/onboarding"))
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
    let steps = Steps {
        has_org: !orgs.is_empty(),
        org: editable
            .or(orgs.first())
            .map(|o| (o.id.as_str(), o.name.as_str())),
        project: project.map(|p| (p.id.as_str(), p.name.as_str())),
        key: None,
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
