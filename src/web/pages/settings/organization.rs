//! The organization: its name, plan and usage, recent activity; creating another,
//! leaving or deleting it.

use super::{org_id, outcome, shell, trimmed, NameForm, OrgForm, OrgNameForm};
use crate::domain::plans::Plan;
use crate::domain::rbac::Role;
use crate::service::{orgs, retention};
use crate::state::SharedState;
use crate::store::AuditRow;
use crate::web::components::{count, csrf_field, time};
use crate::web::context::{PageCtx, Session};
use crate::web::error::PageResult;
use crate::web::{html, security, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form};
use poem::{handler, Request};
use serde::Deserialize;

fn audit_rows(rows: &[AuditRow]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table table-stack" {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Target" } } }
                tbody {
                    @for a in rows {
                        tr {
                            td { (time(a.created_at)) }
                            td { (a.actor_email.as_deref().unwrap_or("–")) }
                            td class="mono" { (a.action) }
                            td class="mono" { span class="truncate" { (a.target.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    }
}

#[handler]
pub(super) async fn organization(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let org_id = org_id(&ctx)?;
    let (org, role) = orgs::get_org(&state, ctx.who(), &org_id).await?;
    let plan = Plan::from_stored(&org.plan);
    let limits = plan.limits();
    let used = orgs::usage_this_month(&state, ctx.who(), &org_id).await?;
    let audit = if role == Role::Owner {
        orgs::audit_log(&state, ctx.who(), &org_id, None, 25).await?
    } else {
        Vec::new()
    };
    let retention = limits
        .retention_days
        .unwrap_or(state.config.retention.retention_days);
    let last_cleanup = retention::last_run(&state.db).await?;
    Ok(html(shell(
        &ctx,
        "organization",
        "Organization",
        html! {
            section class="card" {
                h3 class="card-title" { "Name" }
                @if role == Role::Owner {
                    form class="stack" method="post" action="/settings/organization" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org.id);
                        label { span class="label-text" { "Organization name" } input type="text" name="name" value=(org.name) required maxlength="120"; }
                        button class="btn btn-primary" type="submit" { "Rename" }
                    }
                } @else {
                    p { (org.name) " · your role: " span class="badge badge-role" { (role) } }
                }
            }
            section class="card" {
                h3 class="card-title" { "Plan and usage" }
                dl class="meta-list" {
                    dt { "Plan" } dd { (plan.as_str()) }
                    dt { "Ingest this month" } dd {
                        (count(used)) " units"
                        @if let Some(limit) = limits.monthly_units { " of " (count(limit)) }
                        @else { " (unlimited)" }
                    }
                    dt { "Data kept" } dd { (retention) " days" }
                dt { "Last clean-up" } dd {
                    @match &last_cleanup {
                        Some(run) => { (time(run.finished_at)) " · " (count(run.rows_deleted)) " rows deleted" }
                        None => { "not run yet (nightly at the time RETENTION_CRON sets)" }
                    }
                }
                }
            }
            @if role == Role::Owner {
                section class="card" {
                    h3 class="card-title" { "Recent activity" }
                    @if audit.is_empty() { p class="muted" { "Nothing yet." } } @else { (audit_rows(&audit)) }
                }
            }
            section class="card" {
                h3 class="card-title" { "Another organization" }
                form class="stack" method="post" action="/settings/organization/new" {
                    (csrf_field(&ctx.csrf))
                    label { span class="label-text" { "Name" } input type="text" name="name" required maxlength="120"; }
                    button class="btn" type="submit" { "Create organization" }
                }
            }
            section class="card" {
                h3 class="card-title" { "Leave or delete" }
                form class="inline" method="post" action="/settings/organization/leave" data-confirm="Leave this organization? You lose access to its projects." {
                    (csrf_field(&ctx.csrf))
                    input type="hidden" name="org" value=(org.id);
                    button class="btn" type="submit" { "Leave " (org.name) }
                }
                @if role == Role::Owner {
                    form class="stack" method="post" action="/settings/organization/delete" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="org" value=(org.id);
                        label { span class="label-text" { "Type the organization's name to delete it with its projects and keys" }
                            input type="text" name="confirm" required autocomplete="off"; }
                        button class="btn btn-danger" type="submit" { "Delete organization" }
                    }
                }
            }
        },
    )))
}

#[handler]
pub(super) async fn rename_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<OrgNameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::rename_org(&state, &s.who, &f.org, &f.name, &s.meta(&state, req)).await;
    outcome(
        &state,
        req,
        r,
        |o| format!("Renamed to {}.", o.name),
        "/settings/organization",
    )
}

#[handler]
pub(super) async fn create_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<NameForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let r = orgs::create_org(&state, &s.who, &f.name, &s.meta(&state, req)).await;
    let ok = r.is_ok();
    let res = outcome(
        &state,
        req,
        r,
        |o| format!("Created {}; now add a project to it.", o.name),
        "/onboarding",
    )?;
    Ok(if ok {
        res
    } else {
        see_other("/settings/organization")
    })
}

#[derive(Deserialize)]
struct DeleteOrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "trimmed")]
    org: String,
    #[serde(default, deserialize_with = "trimmed")]
    confirm: String,
}

#[handler]
pub(super) async fn delete_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<DeleteOrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let (org, _) = orgs::get_org(&state, &s.who, &f.org).await?;
    if f.confirm != org.name {
        security::flash_error(
            &state,
            req,
            "The name you typed does not match; nothing was deleted.",
        );
        return Ok(see_other("/settings/organization"));
    }
    let r = orgs::delete_org(&state, &s.who, &org.id, &s.meta(&state, req)).await;
    outcome(&state, req, r, |_| format!("{} is deleted.", org.name), "/")
}

#[handler]
pub(super) async fn leave_org(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let user_id = s.who.user_id.clone();
    let r = orgs::remove_member(&state, &s.who, &f.org, &user_id, &s.meta(&state, req)).await;
    let ok = r.is_ok();
    let res = outcome(&state, req, r, |_| "You left the organization.".into(), "/")?;
    Ok(if ok {
        res
    } else {
        see_other("/settings/organization")
    })
}
