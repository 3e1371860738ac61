//! The organization's projects: creating, renaming and deleting them.

use super::{org_id, outcome, shell, CsrfForm, NameForm, OrgNameForm};
use crate::state::SharedState;
use crate::store::ProjectRow;
use crate::web::components::{csrf_field, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::html;
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};

fn projects_view(ctx: &PageCtx, org_id: &str, list: &[ProjectRow]) -> Markup {
    let editor = ctx.can_edit();
    let owner = ctx.is_owner();
    shell(
        ctx,
        "projects",
        "Projects",
        html! {
            @if editor {
                section class="card" {
                    h3 class="card-title" { "New project" }
                    form class="filters" method="post" action="/settings/projects" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org_id);
                        label class="field" { span { "Name" } input type="text" name="name" required maxlength="120"; }
                        button class="btn btn-primary" type="submit" { "Create project" }
                    }
                }
            }
            div class="table-wrap" {
                table class="table table-stack" {
                    thead { tr { th scope="col" { "Project" } th scope="col" { "Slug" } th scope="col" { "Number" } th scope="col" { "Id" } th scope="col" { "Created" } @if editor { th scope="col" { span class="sr-only" { "Actions" } } } } }
                    tbody {
                        @for p in list {
                            tr {
                                td { a href=(format!("/switch?project={}&to=/", p.id)) { (p.name) } }
                                td class="mono" { (p.slug) }
                                td class="mono" title="The project number in its DSNs" { (p.number) }
                                td class="mono small" { (p.id) }
                                td { (time(p.created_at)) }
                                @if editor {
                                    td {
                                        form class="inline" method="post" action=(format!("/settings/projects/{}/rename", p.id)) {
                                            (csrf_field(&ctx.csrf))
                                            label class="field" { span class="sr-only" { "New name of " (p.name) } input type="text" name="name" value=(p.name) required maxlength="120"; }
                                            button class="btn btn-small" type="submit" { "Rename" }
                                        }
                                        @if owner {
                                            " "
                                            form class="inline" method="post" action=(format!("/settings/projects/{}/delete", p.id)) data-confirm="Delete this project? Its keys stop working and its data is no longer shown." {
                                                (csrf_field(&ctx.csrf))
                                                button class="btn btn-small btn-danger" type="submit" { "Delete" }
                                            }
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
pub(super) async fn projects(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let org_id = org_id(&ctx)?;
    let list = crate::service::projects::projects(&state, ctx.who(), &org_id).await?;
    Ok(html(projects_view(&ctx, &org_id, &list)))
}

#[handler]
pub(super) async fn create_project(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<OrgNameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = crate::service::projects::create_project(
        &state,
        &s.who,
        &f.org,
        &f.name,
        &s.meta(&state, req),
    )
    .await;
    outcome(
        &state,
        req,
        r,
        |p| format!("Project {} created; create an API key for it.", p.name),
        "/settings/projects",
    )
}

#[handler]
pub(super) async fn rename_project(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<NameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = crate::service::projects::rename_project(
        &state,
        &s.who,
        &id,
        &f.name,
        &s.meta(&state, req),
    )
    .await;
    outcome(
        &state,
        req,
        r,
        |p| format!("Renamed to {}.", p.name),
        "/settings/projects",
    )
}

#[handler]
pub(super) async fn delete_project(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r =
        crate::service::projects::delete_project(&state, &s.who, &id, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |_| "Project deleted.".into(),
        "/settings/projects",
    )
}
