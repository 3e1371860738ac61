//! Errors: the grouped list, a group's detail (stack trace, occurrences, breakdowns)
//! and its status changes.

use crate::domain::timeutil::parse_rfc3339_ms;
use crate::service::analytics;
use crate::service::errors::{self, ErrorDetail, GroupPage};
use crate::service::read;
use crate::service::sourcemaps::MappedFrame;
use crate::state::SharedState;
use crate::store::{EventRow, GroupListFilter, GroupOrder};
use crate::web::charts::{time_chart, Series, Unit};
use crate::web::components::{
    breakdown, count, csrf_field, empty, filter_bar, kpi, pager, pretty_json, status_badge, time,
};
use crate::web::context::{query_param, PageCtx, Scoped, Session};
use crate::web::error::{is_local_path, urlencode, PageResult};
use crate::web::filters::Filters;
use crate::web::layout::{page as layout, Tab};
use crate::web::sections::group_rows;
use crate::web::security;
use crate::web::{html, see_other};
use maud::{html, Markup};
use poem::web::{Data, Form, Path};
use poem::{handler, Request};
use serde::Deserialize;

const PAGE_SIZE: i64 = 25;
/// Beyond this, a page number is taken as a mistake (and keeps offsets small).
const MAX_PAGE: i64 = 10_000;

const STATUSES: [(&str, &str); 4] = [
    ("unresolved", "Unresolved"),
    ("resolved", "Resolved"),
    ("ignored", "Ignored"),
    ("all", "All"),
];

const SORTS: [(&str, &str, GroupOrder); 4] = [
    ("occurrences", "Most occurrences", GroupOrder::Count),
    ("last_seen", "Last seen", GroupOrder::LastSeen),
    ("first_seen", "Newest", GroupOrder::FirstSeen),
    ("total", "Most occurrences ever", GroupOrder::Total),
];

struct ListParams {
    status: String,
    sort: String,
    q: String,
    page: i64,
}

impl ListParams {
    fn from_request(req: &Request) -> ListParams {
        ListParams {
            status: query_param(req, "status")
                .filter(|s| STATUSES.iter().any(|(v, _)| v == s))
                .unwrap_or_else(|| "unresolved".into()),
            sort: query_param(req, "sort")
                .filter(|s| SORTS.iter().any(|(v, _, _)| v == s))
                .unwrap_or_else(|| "occurrences".into()),
            q: query_param(req, "q").unwrap_or_default(),
            page: query_param(req, "page")
                .and_then(|p| p.parse().ok())
                .filter(|p| (1..=MAX_PAGE).contains(p))
                .unwrap_or(1),
        }
    }

    fn link(&self, filters: &Filters, page: i64) -> String {
        filters.link(
            "/errors",
            &[
                ("status", &self.status),
                ("sort", &self.sort),
                ("q", &self.q),
                ("page", &page.to_string()),
            ],
        )
    }
}

fn list_view(
    ctx: &PageCtx,
    filters: &Filters,
    window: &crate::domain::timerange::Window,
    options: &analytics::FilterOptions,
    p: &ListParams,
    groups: &GroupPage,
) -> Markup {
    let keep = [
        ("status", p.status.as_str()),
        ("sort", p.sort.as_str()),
        ("q", p.q.as_str()),
    ];
    let prev = (p.page > 1).then(|| p.link(filters, p.page - 1));
    let next = (p.page * PAGE_SIZE < groups.total).then(|| p.link(filters, p.page + 1));
    let body = html! {
        div class="page-head" { h1 { "Errors" } }
        (filter_bar("/errors", filters, window, options, &keep))
        form class="filters" method="get" action="/errors" role="search" {
            @for (k, v) in filters.pairs() { input type="hidden" name=(k) value=(v); }
            label class="field" {
                span { "Status" }
                select name="status" data-autosubmit {
                    @for (v, label) in STATUSES { option value=(v) selected[p.status == v] { (label) } }
                }
            }
            label class="field" {
                span { "Sort" }
                select name="sort" data-autosubmit {
                    @for (v, label, _) in SORTS { option value=(v) selected[p.sort == v] { (label) } }
                }
            }
            label class="field" {
                span { "Search" }
                input type="search" name="q" value=(p.q) placeholder="Message or type";
            }
            button class="btn" type="submit" { "Search" }
        }
        @if groups.items.is_empty() {
            @if p.q.is_empty() && p.status == "unresolved" && !filters.is_filtered() {
                (empty("No unresolved errors in this range", "Errors your apps report appear here, grouped by cause. Resolved and ignored ones are under their own status.", html! {
                    a class="btn" href=(filters.link("/errors", &[("status", "all")])) { "Show all statuses" }
                    " " a class="btn btn-ghost" href="/onboarding" { "SDK setup" }
                }))
            } @else {
                (empty("Nothing matches", "No error group matches these filters in this range.", html! {
                    a class="btn" href="/errors" { "Clear the filters" }
                }))
            }
        } @else {
            p class="muted" { (count(groups.total)) " error groups · " (window.label()) }
            section class="card" { (group_rows(&groups.items, filters, false)) }
            (pager(prev, next, &format!("Page {}", p.page)))
        }
    };
    layout(ctx, "Errors", Tab::Errors, filters, body)
}

#[handler]
pub async fn list(req: &Request, state: Data<&SharedState>) -> PageResult {
    let Scoped {
        ctx,
        filters,
        window,
        scope,
    } = Scoped::load(&state, req).await?;
    let project_id = scope.project_id.as_str();
    let p = ListParams::from_request(req);
    let order = SORTS
        .iter()
        .find(|(v, _, _)| *v == p.sort)
        .map_or(GroupOrder::Count, |(_, _, o)| *o);
    let filter = GroupListFilter {
        status: (p.status != "all").then(|| p.status.clone()),
        query: Some(p.q.trim().to_string()).filter(|q| !q.is_empty()),
        order,
        offset: (p.page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let (groups, options) = futures_util::try_join!(
        errors::list(&state, &scope, &window, &filter),
        analytics::filter_options(&state, project_id),
    )?;
    Ok(html(list_view(
        &ctx, &filters, &window, &options, &p, &groups,
    )))
}

/// The "Original" view folds runs of at least this many library frames.
const FOLD_LIBRARY_FRAMES: usize = 2;

/// The latest occurrence's stack: by default its frames as the developer wrote
/// them (through the release's source maps), with a switch to the frames as the
/// browser reported them, and the text as sent. The switch is two radio buttons
/// and CSS, so it works without JavaScript.
fn stack_trace(stack: &str, frames: &[MappedFrame]) -> Markup {
    if frames.is_empty() {
        return html! { pre class="raw-stack" tabindex="0" { (stack) } };
    }
    let mapped = frames.iter().filter(|f| f.original.is_some()).count();
    // Source maps describe JavaScript engines' frames, which have columns.
    let mappable = frames.iter().any(|f| f.raw.column.is_some());
    html! {
        @if mapped == 0 {
            @if mappable { (not_mapped_hint(frames)) }
            ol class="frames frames-box" aria-label="Frames" {
                @for f in frames { (raw_frame(f, false)) }
            }
        } @else {
            div class="stack-view" {
                div class="stack-bar" {
                    p class="small muted" {
                        (mapped) " of " (frames.len()) " frames mapped through source maps"
                    }
                    fieldset class="frames-toggle" {
                        legend class="sr-only" { "Show the frames" }
                        input type="radio" name="frames-view" id="frames-view-original" value="original" checked;
                        label for="frames-view-original" data-frames-toggle="original" { "Original" }
                        input type="radio" name="frames-view" id="frames-view-raw" value="raw";
                        label for="frames-view-raw" data-frames-toggle="raw" { "Raw" }
                    }
                }
                ol id="frames-original" class="frames frames-box" aria-label="Frames in the original source" {
                    (original_frames(frames))
                }
                ol id="frames-raw" class="frames frames-box" aria-label="Frames as reported" {
                    @for f in frames { (raw_frame(f, false)) }
                }
            }
        }
        details {
            summary { "Raw stack trace" }
            pre class="raw-stack" tabindex="0" { (stack) }
        }
    }
}

/// Breadcrumbs shown at most, the newest.
const MAX_BREADCRUMBS: usize = 50;

/// The tags and breadcrumbs an SDK sent with the occurrence (Sentry SDKs do), above
/// the raw context.
fn tags_and_breadcrumbs(context: &str) -> Markup {
    let Ok(ctx) = serde_json::from_str::<serde_json::Value>(context) else {
        return html! {};
    };
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let tags: Vec<(String, String)> = ctx
        .get("tags")
        .and_then(|t| t.as_object())
        .map(|t| t.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default();
    let crumbs: Vec<&serde_json::Value> = ctx
        .get("breadcrumbs")
        .and_then(|b| b.as_array())
        .map(|b| b.iter().rev().take(MAX_BREADCRUMBS).collect())
        .unwrap_or_default();
    // JavaScript SDKs send seconds as a number, Python an RFC 3339 string.
    let when = |c: &serde_json::Value| -> Markup {
        let ms = match c.get("timestamp") {
            Some(serde_json::Value::Number(n)) => n.as_f64().map(|secs| (secs * 1000.0) as i64),
            Some(serde_json::Value::String(s)) => parse_rfc3339_ms(s),
            _ => None,
        };
        ms.map(time).unwrap_or_default()
    };
    html! {
        @if !tags.is_empty() {
            h3 class="small" { "Tags" }
            ul class="tag-list" {
                @for (k, v) in &tags { li { span class="muted" { (k) ": " } span class="mono" { (v) } } }
            }
        }
        @if !crumbs.is_empty() {
            h3 class="small" { "Breadcrumbs" span class="muted" { " (newest first)" } }
            div class="table-wrap" {
                table class="table table-stack" {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Category" } th scope="col" { "Level" } th scope="col" { "Message" } } }
                    tbody {
                        @for c in &crumbs {
                            tr {
                                td class="small" { (when(c)) }
                                td class="mono small" { (c.get("category").map(scalar).unwrap_or_default()) }
                                td class="small" { (c.get("level").map(scalar).unwrap_or_default()) }
                                td class="small" {
                                    @match c.get("message") {
                                        Some(m) => { (scalar(m)) }
                                        None => { span class="mono" { (c.get("data").map(|d| d.to_string()).unwrap_or_default()) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The "Original" view: the app's frames in full, runs of library frames folded
/// (unless the stack has nothing else to show).
fn original_frames(frames: &[MappedFrame]) -> Markup {
    let fold = frames.iter().any(MappedFrame::in_app);
    let mut runs: Vec<(bool, &[MappedFrame])> = Vec::new();
    let mut start = 0;
    for i in 1..=frames.len() {
        if i == frames.len() || frames[i].in_app() != frames[start].in_app() {
            runs.push((frames[start].in_app(), &frames[start..i]));
            start = i;
        }
    }
    html! {
        @for (in_app, run) in runs {
            @if fold && !in_app && run.len() >= FOLD_LIBRARY_FRAMES {
                li class="frame-fold" {
                    details {
                        summary { (run.len()) " library frames" }
                        ol class="frames" { @for f in run { (original_frame(f)) } }
                    }
                }
            } @else {
                @for f in run { (original_frame(f)) }
            }
        }
    }
}

fn frame_class(in_app: bool) -> &'static str {
    if in_app {
        "frame in-app"
    } else {
        "frame"
    }
}

/// A frame where the runtime reported it, with the lines the SDK sent; with why it
/// is not mapped, when asked.
fn raw_frame(f: &MappedFrame, with_reason: bool) -> Markup {
    let raw = &f.raw;
    html! {
        li class=(frame_class(raw.in_app)) {
            div class="frame-head" {
                span class="frame-fn" { (raw.function.as_deref().unwrap_or("<anonymous>")) }
                span class="frame-loc" {
                    (raw.file)
                    @if let Some(l) = raw.line { ":" (l) }
                    @if let Some(c) = raw.column { ":" (c) }
                }
                @if raw.in_app { span class="sr-only" { " (in app)" } }
            }
            @if let (Some(sent), Some(lineno)) = (&f.sent, raw.line) {
                (source_lines(lineno, &sent.pre_context, &sent.context_line, &sent.post_context))
            }
            @if with_reason {
                @if let Some(reason) = &f.reason {
                    p class="frame-note" { "Not mapped: " (with_code(reason)) }
                }
            }
        }
    }
}

/// A frame in the original source, with the lines around it when the map has them.
fn original_frame(f: &MappedFrame) -> Markup {
    let Some(o) = &f.original else {
        return raw_frame(f, true);
    };
    let in_app = f.in_app();
    html! {
        li class=(frame_class(in_app)) {
            div class="frame-head" {
                span class="frame-fn" { (o.function.as_deref().unwrap_or("<anonymous>")) }
                span class="frame-loc" { (o.filename) ":" (o.lineno) ":" (o.colno) }
                @if in_app { span class="sr-only" { " (in app)" } }
            }
            @if let Some(line) = &o.context_line {
                (source_lines(o.lineno, &o.pre_context, line, &o.post_context))
            }
            @if let Some(reason) = &f.reason {
                p class="frame-note" { (with_code(&capitalized(reason))) }
            }
        }
    }
}

/// Line `lineno` marked among the lines around it.
fn source_lines(lineno: u32, pre: &[String], line: &str, post: &[String]) -> Markup {
    let first = lineno.saturating_sub(pre.len() as u32);
    html! {
        pre class="frame-source" tabindex="0" {
            code {
                @for (i, text) in pre.iter().enumerate() {
                    span class="src-line" { span class="ln" { (first + i as u32) } (text) }
                }
                mark class="src-line" { span class="ln" { (lineno) } (line) }
                @for (i, text) in post.iter().enumerate() {
                    span class="src-line" { span class="ln" { (lineno + 1 + i as u32) } (text) }
                }
            }
        }
    }
}

/// Why no frame of the stack is mapped (the reasons repeat, so they are said once),
/// and how to change that.
fn not_mapped_hint(frames: &[MappedFrame]) -> Markup {
    let any_in_app = frames.iter().any(|f| f.raw.in_app);
    let mut reasons: Vec<&str> = Vec::new();
    for f in frames.iter().filter(|f| f.raw.in_app || !any_in_app) {
        if let Some(r) = f.reason.as_deref() {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    reasons.truncate(3);
    html! {
        div class="frames-hint small muted" {
            p {
                "No frame is mapped through source maps. To see the original functions, files and lines, upload each release's scripts with their maps and send "
                code { "release" } " with errors: see "
                a href="/settings/releases" { "Settings → Releases" }
                " and docs/SOURCEMAPS.md."
            }
            @if !reasons.is_empty() {
                ul {
                    @for r in reasons { li { (with_code(&capitalized(r))) } }
                }
            }
        }
    }
}

/// `text` with its `backquoted` parts (names and files, as the reasons quote them)
/// set as code.
fn with_code(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn detail_view(
    ctx: &PageCtx,
    filters: &Filters,
    window: &crate::domain::timerange::Window,
    d: &ErrorDetail,
    next: Option<String>,
) -> Markup {
    let g = &d.group;
    let latest = d.occurrences.first();
    let chart = Series::counts("Occurrences", "s-errors", &d.series);
    let title = match &g.error_type {
        Some(t) => format!("{t}: {}", g.message),
        None => g.message.clone(),
    };
    let body = html! {
        p { a href=(filters.link("/errors", &[])) { "← Errors" } }
        div class="page-head" {
            h1 class="error-title" { (title) }
            div class="page-actions" {
                (status_badge(&g.status))
                @if ctx.can_edit() {
                    @for (status, label) in [("resolved", "Resolve"), ("ignored", "Ignore"), ("unresolved", "Unresolve")] {
                        @if g.status != status {
                            form class="inline" method="post" action=(format!("/errors/{}/status", g.id)) {
                                (csrf_field(&ctx.csrf))
                                input type="hidden" name="status" value=(status);
                                @if let Some(p) = &ctx.project { input type="hidden" name="project" value=(p.id); }
                                input type="hidden" name="back" value=(ctx.here);
                                button class=(if status == "resolved" { "btn btn-primary" } else { "btn" }) type="submit" { (label) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(frame) = &g.top_frame { p class="mono muted" { (frame) } }
        dl class="meta-list" {
            dt { "App" } dd { (g.app) }
            dt { "First seen" } dd { (time(g.first_seen)) }
            dt { "Last seen" } dd { (time(g.last_seen)) }
            @if let Some(r) = &g.last_release { dt { "Latest release" } dd class="mono" { (r) } }
            @if let Some(e) = &g.last_environment { dt { "Latest environment" } dd { (e) } }
            @if let Some(at) = g.regressed_at { dt { "Regressed" } dd { (time(at)) } }
        }
        div class="kpis" {
            (kpi("Occurrences in range", &count(d.in_range), html! {}, Some(&window.label())))
            (kpi("Users affected", &count(d.users), html! {}, Some("in this range")))
            (kpi("Occurrences ever", &count(g.occurrences), html! {}, None))
        }
        (filter_bar(&format!("/errors/{}", g.id), filters, window, &Default::default(), &[]))
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Occurrences over time" } }
            (time_chart("group-trend", "Occurrences of this error over time", window, Some(&chart), &[], false, Unit::Count))
        }
        // Full width: the source lines around each frame need it.
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Stack trace" } @if let Some(o) = latest { span class="muted small" { "latest occurrence, " (time(o.row.timestamp)) } } }
            @match latest.and_then(|o| Some((o.row.stack.as_deref()?, &o.frames))) {
                Some((stack, frames)) => { (stack_trace(stack, frames)) }
                None => { p class="muted" { "The latest occurrence has no stack trace (the SDK reported a plain value)." } }
            }
            @if let Some(ctx_json) = latest.and_then(|o| o.row.context.as_deref()) {
                (tags_and_breadcrumbs(ctx_json))
                details {
                    summary { "Context" }
                    pre class="raw-stack" tabindex="0" { (pretty_json(ctx_json)) }
                }
            }
        }
        @if !d.feedback.is_empty() {
            section class="card" {
                div class="card-head" { h2 class="card-title" { "User feedback" } span class="muted small" { "sent about these occurrences" } }
                (feedback_list(&d.feedback))
            }
        }
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Breakdown" } }
            div class="breakdowns" {
                @for (label, rows) in &d.breakdowns {
                    div {
                        h3 class="small" { (label) }
                        (breakdown(rows, "not reported"))
                    }
                }
            }
        }
        section class="card" {
            div class="card-head" { h2 class="card-title" { "Occurrences" } }
            @if d.occurrences.is_empty() {
                p class="muted" { "No occurrences of this error in this range." }
            } @else {
                div class="table-wrap" {
                    table class="table table-stack" {
                        thead { tr {
                            th scope="col" { "Time" } th scope="col" { "Release" } th scope="col" { "Environment" }
                            th scope="col" { "Browser / OS" } th scope="col" { "User" } th scope="col" { "Session" } th scope="col" { "SDK" }
                        } }
                        tbody {
                            @for o in d.occurrences.iter().map(|o| &o.row) {
                                tr {
                                    td { (time(o.timestamp)) }
                                    td class="mono" { (o.release.as_deref().unwrap_or("–")) }
                                    td { (o.environment.as_deref().unwrap_or("–")) }
                                    td { (o.device_browser.as_deref().unwrap_or("–")) " / " (o.device_os.as_deref().unwrap_or("–")) }
                                    td class="mono" { span class="truncate" { (o.user_id.as_deref().or(o.anonymous_id.as_deref()).unwrap_or("–")) } }
                                    td {
                                        @if let Some(s) = &o.session_id {
                                            a class="mono" href=(format!("/sessions/{}", urlencode(s))) { (s.chars().take(8).collect::<String>()) "…" }
                                        } @else { "–" }
                                    }
                                    td class="mono small" { (o.sdk_version.as_deref().unwrap_or("–")) }
                                }
                            }
                        }
                    }
                }
                (pager(None, next, ""))
            }
        }
    };
    layout(ctx, &title, Tab::Errors, filters, body)
}

/// What users wrote about the error (Sentry user feedback), newest first.
fn feedback_list(feedback: &[EventRow]) -> Markup {
    html! {
        ul class="feedback-list" {
            @for f in feedback {
                @let props: serde_json::Value = f
                    .properties
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or_default();
                @let field = |k: &str| props.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
                li {
                    blockquote { (field("message").unwrap_or_else(|| "(no message)".into())) }
                    p class="small muted" {
                        (field("name").or(f.user_id.clone()).unwrap_or_else(|| "Anonymous".into()))
                        @if let Some(email) = field("email") { " · " span class="mono" { (email) } }
                        " · " (time(f.timestamp))
                        @if let Some(url) = field("url") { " · " span class="mono truncate" { (url) } }
                    }
                }
            }
        }
    }
}

#[handler]
pub async fn detail(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
) -> PageResult {
    let Scoped {
        ctx,
        filters,
        window,
        scope,
    } = Scoped::load(&state, req).await?;
    let before = read::parse_cursor(query_param(req, "before").as_deref())?;
    let d = errors::detail(&state, &scope, &window, &id, before.as_ref()).await?;
    let id = d.group.id.as_str();
    let next = (d.occurrences.len() as i64 == errors::OCCURRENCES_PER_PAGE)
        .then(|| d.occurrences.last())
        .flatten()
        .map(|o| {
            filters.link(
                &format!("/errors/{id}"),
                &[("before", &format!("{}.{}", o.row.timestamp, o.row.id))],
            )
        });
    Ok(html(detail_view(&ctx, &filters, &window, &d, next)))
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    project: String,
    back: Option<String>,
}

#[handler]
pub async fn set_status(
    req: &Request,
    state: Data<&SharedState>,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> PageResult {
    let s = Session::for_form(&state, req, &f.csrf).await?;
    let reader = read::reader_for_user(&state, &s.who.user_id, &f.project).await?;
    errors::set_status(&state, &reader, &id, &f.status).await?;
    let label = match f.status.as_str() {
        "resolved" => "Resolved. It reopens by itself if it occurs again.",
        "ignored" => "Ignored: it stays out of the unresolved list.",
        _ => "Marked unresolved.",
    };
    security::flash(&state, req, label);
    let back = f
        .back
        .filter(|b| is_local_path(b))
        .unwrap_or_else(|| format!("/errors/{id}"));
    Ok(see_other(&back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::grouping::Frame;
    use crate::domain::sourcemaps::Original;

    fn frame(
        file: &str,
        in_app: bool,
        original: Option<(&str, &str)>,
        reason: Option<&str>,
    ) -> MappedFrame {
        MappedFrame {
            raw: Frame {
                function: Some("e".into()),
                file: file.into(),
                line: Some(1),
                column: Some(200),
                in_app,
            },
            original: original.map(|(function, filename)| Original {
                function: Some(function.into()),
                filename: filename.into(),
                lineno: 3,
                colno: 5,
                pre_context: vec!["// one".into(), "function two() {".into()],
                context_line: Some("  throw new Error(\"three\");".into()),
                post_context: vec!["}".into()],
            }),
            reason: reason.map(str::to_string),
            sent: None,
        }
    }

    #[test]
    fn original_frames_show_source_fold_libraries_and_say_why_not_mapped() {
        let bundle = "https://cdn.example.com/app.js";
        let frames = [
            frame(bundle, true, Some(("two", "src/two.js")), None),
            frame(
                bundle,
                true,
                Some(("render", "node_modules/react-dom/cjs/a.js")),
                None,
            ),
            frame(
                bundle,
                true,
                Some(("commit", "node_modules/react-dom/cjs/b.js")),
                None,
            ),
            frame(
                bundle,
                true,
                None,
                Some("line 1 column 200 is outside the map `app.js.map`"),
            ),
        ];
        let page = stack_trace("Error: three", &frames).into_string();
        assert!(
            page.contains("3 of 4 frames mapped through source maps"),
            "{page}"
        );
        assert!(
            page.contains(r#"<span class="ln">2</span>function two() {"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<mark class="src-line"><span class="ln">3</span>"#),
            "{page}"
        );
        assert!(page.contains("2 library frames"), "{page}");
        assert!(
            page.contains(
                "Not mapped: line 1 column 200 is outside the map <code>app.js.map</code>"
            ),
            "{page}"
        );
        assert!(page.contains(r#"id="frames-raw""#) && page.contains("app.js:1:200"));

        let none = stack_trace("Error: three", &frames[3..]).into_string();
        assert!(
            none.contains("No frame is mapped through source maps"),
            "{none}"
        );
        assert!(!none.contains("data-frames-toggle"), "{none}");
    }

    #[test]
    fn frames_without_columns_show_the_sdks_lines_and_no_source_map_advice() {
        use crate::service::sourcemaps::SourceLines;
        let frames = [MappedFrame {
            raw: Frame {
                function: Some("total_of".into()),
                file: "/srv/billing/app.py".into(),
                line: Some(25),
                column: None,
                in_app: true,
            },
            original: None,
            reason: Some("the frame has a line but no column".into()),
            sent: Some(SourceLines {
                pre_context: vec!["def total_of(invoice):".into()],
                context_line: "    return invoice[\"lines\"]".into(),
                post_context: vec![],
            }),
        }];
        let page = stack_trace("KeyError: 'lines'", &frames).into_string();
        assert!(
            page.contains(r#"<span class="ln">24</span>def total_of(invoice):"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<mark class="src-line"><span class="ln">25</span>"#),
            "{page}"
        );
        assert!(!page.contains("No frame is mapped"), "{page}");
    }
}
