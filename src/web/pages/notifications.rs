//! The notifications list behind the bell: open one (marks it read), mark all read.

use crate::service::notifications;
use crate::state::SharedState;
use crate::web::components::{csrf_field, empty, time};
use crate::web::context::{query_param, PageCtx, Session};
use crate::web::error::{is_local_path, PageResult};
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::{html, see_other};
use maud::html;
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

#[handler]
pub async fn list(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let unread_only = query_param(req, "unread").is_some();
    let rows = notifications::list(&state, ctx.who(), unread_only).await?;
    let body = html! {
        div class="page-head" {
            h1 { "Notifications" }
            div class="page-actions" {
                @if unread_only { a class="btn" href="/notifications" { "Show all" } }
                @else { a class="btn" href="/notifications?unread=1" { "Unread only" } }
                @if ctx.unread > 0 {
                    form class="inline" method="post" action="/notifications/read-all" {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="to" value="/notifications";
                        button class="btn" type="submit" { "Mark all read" }
                    }
                }
                a class="btn btn-ghost" href="/settings/notifications" { "Settings" }
            }
        }
        @if rows.is_empty() {
            @if unread_only {
                (empty("You are all caught up", "Every notification is read.", html! { a class="btn" href="/notifications" { "Show all" } }))
            } @else {
                (empty("No notifications yet", "You are notified here when a project of yours sees a new error group, a resolved error occurs again, an error spikes, or (for owners) a monthly quota runs out. Choose what reaches you, and what also comes by mail, under Settings → Notifications.", html! {
                    a class="btn" href="/settings/notifications" { "Notification settings" }
                }))
            }
        } @else {
            section class="card" {
                ul class="notif-list" {
                    @for n in &rows {
                        li class=(if n.read_at.is_none() { "notif unread" } else { "notif" }) {
                            a href=(format!("/notifications/{}", n.id)) {
                                span class="notif-title" {
                                    @if n.read_at.is_none() { span class="sr-only" { "Unread: " } }
                                    (n.title)
                                }
                                span class="notif-meta muted" { (n.body.as_deref().unwrap_or("")) " · " (time(n.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html(layout(
        &ctx,
        "Notifications",
        Tab::None,
        &Filters::default(),
        body,
    )))
}

/// Marks the notification read and goes where it points (its project selected).
#[handler]
pub async fn open(req: &Request, state: Data<&SharedState>, Path(id): Path<String>) -> PageResult {
    let s = Session::require(&state, req).await?;
    let n = notifications::open(&state, &s.who, &id).await?;
    let to = n
        .target
        .filter(|t| is_local_path(t))
        .unwrap_or_else(|| "/notifications".into());
    Ok(see_other(&to))
}

#[derive(Deserialize)]
pub struct ReadAllForm {
    #[serde(default)]
    csrf: String,
    to: Option<String>,
}

#[handler]
pub async fn read_all(
    req: &Request,
    state: Data<&SharedState>,
    Form(f): Form<ReadAllForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    notifications::mark_all_read(&state, &s.who).await?;
    Ok(see_other(
        &f.to
            .filter(|t| is_local_path(t))
            .unwrap_or_else(|| "/".into()),
    ))
}
