//! Releases of the current project with source-map artifacts, and one release's
//! files. Read-only: uploads and deletions go through the CLI or the API (a CI job
//! does them), so every member may look here.

use super::shell;
use crate::service::sourcemaps;
use crate::state::SharedState;
use crate::store::{ArtifactReleaseRow, ArtifactRow};
use crate::web::components::{byte_size, count, empty, time};
use crate::web::context::{query_param, PageCtx};
use crate::web::error::{urlencode, PageResult};
use crate::web::html;
use maud::{html, Markup};
use poem::web::Data;
use poem::{handler, Request};

fn kind_label(kind: &str) -> &str {
    match kind {
        "minified" => "Script",
        "sourcemap" => "Source map",
        "source" => "Source",
        other => other,
    }
}

fn release_link(project: &str, release: &str) -> String {
    format!(
        "/settings/releases?project={}&release={}",
        urlencode(project),
        urlencode(release)
    )
}

/// How a CI job uploads a release's files (as docs/SOURCEMAPS.md says), for the
/// empty page and the foot of the list.
fn how_to_upload(project: &str, server: &str) -> Markup {
    let cli = format!(
        "telemetry-tracker sourcemaps upload --server {server} \\\n  --token \"$TELEMETRY_TOKEN\" --project {project} \\\n  --release \"web@1.0.0\" --url-prefix '~/' dist"
    );
    let api = format!(
        "curl -H \"Authorization: Bearer $TELEMETRY_TOKEN\" \\\n  -F \"file=@dist/assets/app.js;filename=assets/app.js\" \\\n  -F \"file=@dist/assets/app.js.map;filename=assets/app.js.map\" \\\n  \"{server}/api/projects/{project}/releases/web@1.0.0/artifacts\""
    );
    html! {
        p {
            "After each build, upload the built scripts with their source maps under the release your app reports ("
            code { "release" } " in the SDK's options), with a personal token of an owner or editor. With the command line:"
        }
        div class="codeblock" {
            button class="btn btn-small copy" type="button" data-copy="#upload-cli" { "Copy" }
            pre tabindex="0" { code id="upload-cli" { (cli) } }
        }
        p { "Or with the API, one part per file named by the path the browser loads it from:" }
        div class="codeblock" {
            button class="btn btn-small copy" type="button" data-copy="#upload-api" { "Copy" }
            pre tabindex="0" { code id="upload-api" { (api) } }
        }
        p class="hint" {
            "Errors of the release are then shown with their original functions, files and lines, also those that arrived before the upload. Build settings, debug ids and deleting files: docs/SOURCEMAPS.md."
        }
    }
}

fn releases_table(project: &str, list: &[ArtifactReleaseRow], selected: Option<&str>) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table table-stack releases" {
                caption class="sr-only" { "Releases with uploaded files" }
                thead { tr {
                    th scope="col" { "Release" } th scope="col" class="num" { "Files" } th scope="col" class="num" { "Size" }
                    th scope="col" { "Last upload" } th scope="col" class="num" { "Frames mapped" } th scope="col" class="num" { "Frames failed" }
                } }
                tbody {
                    @for r in list {
                        @let current = selected == Some(r.release.as_str());
                        tr class=[current.then_some("selected")] {
                            th scope="row" class="mono" {
                                @if current {
                                    a href=(release_link(project, &r.release)) aria-current="page" { (r.release) }
                                } @else {
                                    a href=(release_link(project, &r.release)) { (r.release) }
                                }
                            }
                            td class="num" { span class="cell-label" { "Files " } (count(r.artifacts)) }
                            td class="num" { span class="cell-label" { "Size " } (byte_size(r.bytes)) }
                            td { span class="cell-label" { "Last upload " } (time(r.last_upload)) }
                            td class="num" { span class="cell-label" { "Frames mapped " } (count(r.frames_mapped)) }
                            td class="num" {
                                span class="cell-label" { "Frames failed " }
                                @if r.frames_failed > 0 { span class="failed" { (count(r.frames_failed)) } } @else { "0" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn artifacts_table(release: &str, files: &[ArtifactRow]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table table-stack artifacts" {
                caption class="sr-only" { "Files of release " (release) }
                thead { tr {
                    th scope="col" { "File" } th scope="col" { "Kind" } th scope="col" class="num" { "Size" }
                    th scope="col" { "Debug id" } th scope="col" { "Source map" } th scope="col" { "sourcesContent" }
                    th scope="col" class="num" { "Mapped" } th scope="col" class="num" { "Failed" }
                } }
                tbody {
                    @for a in files {
                        tr {
                            th scope="row" class="mono artifact-name" { (a.name) }
                            td { span class="cell-label" { "Kind " } (kind_label(&a.kind)) }
                            td class="num" { span class="cell-label" { "Size " } (byte_size(a.size)) }
                            td class="mono small artifact-ref" {
                                span class="cell-label" { "Debug id " }
                                (a.debug_id.as_deref().unwrap_or("–"))
                            }
                            td class="mono small artifact-ref" {
                                span class="cell-label" { "Source map " }
                                @match a.sourcemap.as_deref() {
                                    Some(r) if r.starts_with("data:") => { "inline" }
                                    Some(r) => { (r) }
                                    None => { "–" }
                                }
                            }
                            td {
                                span class="cell-label" { "sourcesContent " }
                                @match a.has_sources_content {
                                    Some(0) => { span class="failed" { "no" } }
                                    Some(_) => { "yes" }
                                    None => { "–" }
                                }
                            }
                            td class="num" { span class="cell-label" { "Mapped " } (count(a.frames_mapped)) }
                            td class="num" {
                                span class="cell-label" { "Failed " }
                                @if a.frames_failed > 0 { span class="failed" { (count(a.frames_failed)) } } @else { "0" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn releases_view(
    ctx: &PageCtx,
    server: &str,
    list: &[ArtifactReleaseRow],
    selected: Option<(&str, &[ArtifactRow])>,
) -> Markup {
    let project = ctx.project.as_ref();
    let project_id = project.map_or("", |p| p.id.as_str());
    shell(
        ctx,
        "releases",
        "Releases",
        html! {
            p class="muted" {
                "Source maps and scripts uploaded for the releases of the project "
                @if let Some(p) = project { strong { (p.name) } }
                " (switch project at the top). Stack traces of a release's errors are shown through its maps. Frames mapped and failed count since the upload."
            }
            @if list.is_empty() {
                section class="card" {
                    (empty("No source maps uploaded", "Minified stack traces show the bundle's names and positions until the release's maps are uploaded.", html! {}))
                    (how_to_upload(project_id, server))
                }
            } @else {
                section class="card" {
                    div class="card-head" {
                        h3 class="card-title" { "Releases with uploaded files" }
                        span class="muted small" { (count(list.len() as i64)) @if list.len() == 1 { " release" } @else { " releases" } }
                    }
                    (releases_table(project_id, list, selected.map(|(r, _)| r)))
                }
                @if let Some((release, files)) = selected {
                    section class="card" id="artifacts" {
                        div class="card-head" {
                            h3 class="card-title" { "Files of " span class="mono" { (release) } }
                            span class="muted small" { (count(files.len() as i64)) @if files.len() == 1 { " file" } @else { " files" } }
                        }
                        @if files.is_empty() {
                            p class="muted" { "This release has no uploaded files (they may have been deleted)." }
                        } @else {
                            (artifacts_table(release, files))
                        }
                        p class="hint" {
                            "A file uploaded again under the same name replaces this one. Files are deleted through the command line or the API (docs/SOURCEMAPS.md)."
                        }
                    }
                }
                details class="card how-to" {
                    summary { "How to upload a release's files" }
                    (how_to_upload(project_id, server))
                }
            }
        },
    )
}

#[handler]
pub(super) async fn releases(req: &Request, state: Data<&SharedState>) -> PageResult {
    let ctx = PageCtx::load(&state, req).await?;
    let project = ctx.project()?.id.clone();
    let list = sourcemaps::releases(&state, ctx.who(), &project).await?;
    let release = query_param(req, "release");
    let files = match &release {
        Some(r) => Some(sourcemaps::list(&state, ctx.who(), &project, r).await?),
        None => None,
    };
    let selected = release.as_deref().zip(files.as_deref());
    let server = state.config.public_url();
    Ok(html(releases_view(&ctx, &server, &list, selected)))
}
