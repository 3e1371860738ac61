//! `sourcemaps upload`: a CI job's build output (scripts and their maps) sent to
//! a release, straight into the database or over HTTP to a remote server.

use super::Output;
use crate::config::SourcemapSettings;
use crate::domain::sourcemaps::{
    artifact_name, inspect, reference_candidates, url_prefix, ArtifactKind, Inspected,
};
use crate::service::sourcemaps::{self, UploadFile, MAX_FILES};
use crate::store::Db;
use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct UploadArgs {
    /// The release the files belong to, as the SDK reports it (e.g. `web@1.4.2`).
    #[arg(long)]
    pub release: String,
    /// Put before every file's path: `~/` (any host, the default), `~/assets`,
    /// `https://cdn.example.com/js`, or `/app/dist` for a server's files.
    #[arg(long, default_value = "~/")]
    pub url_prefix: String,
    /// Project id (optional when the database holds a single project).
    #[arg(long)]
    pub project: Option<String>,
    /// Upload over HTTP to this server (e.g. `https://telemetry.example.com`)
    /// instead of writing to the database.
    #[arg(long, requires = "token")]
    pub server: Option<String>,
    /// Personal access token (EDITOR or OWNER) for `--server`.
    #[arg(long, env = "TELEMETRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The build output directory: `*.js`, `*.mjs`, `*.cjs` and `*.map` files
    /// below it are uploaded, named by their path relative to it.
    pub dir: PathBuf,
    #[command(flatten)]
    pub limits: SourcemapSettings,
}

/// A file found in the directory, with what it is.
struct Found {
    path: String,
    bytes: Vec<u8>,
    inspected: Inspected,
}

pub async fn upload(db: Option<&Db>, args: UploadArgs, now: i64) -> anyhow::Result<Output> {
    let prefix = url_prefix(Some(&args.url_prefix)).map_err(anyhow::Error::msg)?;
    let found = collect(&args.dir, args.limits.max_file_bytes())?;
    let (matches, mut warnings) = describe(&prefix, &found);
    let files: Vec<UploadFile> = found
        .into_iter()
        .map(|f| UploadFile {
            filename: f.path,
            bytes: f.bytes,
        })
        .collect();
    let stored: Vec<Value> = match (&args.server, db) {
        (Some(server), _) => {
            let project = args.project.as_deref().ok_or_else(|| {
                anyhow::anyhow!("--project is required with --server (the project's id)")
            })?;
            remote(
                server,
                args.token.as_deref().unwrap_or(""),
                project,
                &args.release,
                &args.url_prefix,
                files,
            )
            .await?
        }
        (None, Some(db)) => {
            let project = match &args.project {
                Some(p) => p.clone(),
                None => only_project(db).await?,
            };
            let uploaded = sourcemaps::store(
                db,
                &args.limits,
                now,
                &project,
                &args.release,
                Some(&args.url_prefix),
                files,
                &[],
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            warnings.extend(uploaded.warnings);
            uploaded
                .artifacts
                .iter()
                .map(|a| json!({ "id": a.id, "name": a.name, "kind": a.kind, "size": a.size, "debug_id": a.debug_id, "sourcemap": a.sourcemap }))
                .collect()
        }
        (None, None) => anyhow::bail!("no database to write to"),
    };
    warnings.sort();
    warnings.dedup();
    let mut text = format!(
        "uploaded {} files to release {}\n",
        stored.len(),
        args.release
    );
    for m in &matches {
        text.push_str(&format!("  {m}\n"));
    }
    for w in &warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    Ok(Output::new(
        json!({ "release": args.release, "artifacts": stored, "matches": matches, "warnings": warnings }),
        text.trim_end(),
    ))
}

/// Every script and map below `dir`, by path relative to it (`/`-separated).
fn collect(dir: &Path, max_file: u64) -> anyhow::Result<Vec<Found>> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                if name != "node_modules" && !name.starts_with('.') {
                    pending.push(path);
                }
                continue;
            }
            if ![".js", ".mjs", ".cjs", ".map"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                continue;
            }
            let size = entry.metadata()?.len();
            if size > max_file {
                anyhow::bail!(
                    "{} is {size} bytes; files may be at most {max_file} bytes (TELEMETRY_SOURCEMAP_MAX_FILE_MB)",
                    path.display()
                );
            }
            let bytes = std::fs::read(&path)?;
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let inspected = inspect(&relative, &bytes)
                .map_err(|m| anyhow::anyhow!("{} {m}", path.display()))?;
            found.push(Found {
                path: relative,
                bytes,
                inspected,
            });
        }
    }
    if found.is_empty() {
        anyhow::bail!(
            "no *.js, *.mjs, *.cjs or *.map files below {}",
            dir.display()
        );
    }
    if found.len() > MAX_FILES {
        anyhow::bail!(
            "{} files found; at most {MAX_FILES} per upload",
            found.len()
        );
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Which map each script will be mapped with, and what will not map.
fn describe(prefix: &str, found: &[Found]) -> (Vec<String>, Vec<String>) {
    let named: Vec<(String, &Found)> = found
        .iter()
        .filter_map(|f| artifact_name(prefix, &f.path).ok().map(|n| (n, f)))
        .collect();
    let map_named = |name: &str| {
        named
            .iter()
            .find(|(n, f)| n == name && f.inspected.kind == ArtifactKind::SourceMap)
    };
    let mut matches = Vec::new();
    let mut warnings = Vec::new();
    for (name, f) in &named {
        match f.inspected.kind {
            ArtifactKind::SourceMap => {
                if f.inspected.has_sources_content == Some(false) {
                    warnings.push(format!(
                        "{} has no sourcesContent: frames map, but without source context",
                        f.path
                    ));
                }
            }
            ArtifactKind::Minified => {
                let by_id = f.inspected.debug_id.as_ref().and_then(|id| {
                    named.iter().find(|(_, m)| {
                        m.inspected.kind == ArtifactKind::SourceMap
                            && m.inspected.debug_id.as_ref() == Some(id)
                    })
                });
                let id = f
                    .inspected
                    .debug_id
                    .as_deref()
                    .map(|id| format!(" (debug id {id})"))
                    .unwrap_or_default();
                let target = match (&f.inspected.sourcemap, by_id) {
                    (_, Some((_, m))) => Some(m.path.clone()),
                    (Some(r), None) if r.starts_with("data:") => Some("inline data: map".into()),
                    (Some(r), None) => reference_candidates(name, r)
                        .iter()
                        .find_map(|c| map_named(c).map(|(_, m)| m.path.clone())),
                    (None, None) => map_named(&format!("{name}.map")).map(|(_, m)| m.path.clone()),
                };
                match target {
                    Some(map) => matches.push(format!("{} ↔ {map}{id}", f.path)),
                    None => warnings.push(format!(
                        "{} has no map among the uploaded files{}",
                        f.path,
                        f.inspected
                            .sourcemap
                            .as_deref()
                            .map(|r| format!(" (it points at {r})"))
                            .unwrap_or_default()
                    )),
                }
            }
            ArtifactKind::Source => {}
        }
    }
    (matches, warnings)
}

async fn only_project(db: &Db) -> anyhow::Result<String> {
    let projects = db.project_plans().await?;
    match projects.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] => anyhow::bail!("the database has no project; create one first"),
        _ => anyhow::bail!(
            "the database has {} projects; name one with --project",
            projects.len()
        ),
    }
}

async fn remote(
    server: &str,
    token: &str,
    project: &str,
    release: &str,
    url_prefix: &str,
    files: Vec<UploadFile>,
) -> anyhow::Result<Vec<Value>> {
    let segment = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let url = format!(
        "{}/api/projects/{}/releases/{}/artifacts",
        server.trim_end_matches('/'),
        segment(project),
        segment(release).replace('+', "%20")
    );
    let mut form = reqwest::multipart::Form::new().text("url_prefix", url_prefix.to_string());
    for f in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(f.bytes).file_name(f.filename),
        );
    }
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()?
        .post(&url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {server}: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no details");
        anyhow::bail!("the server refused the upload ({status}): {message}");
    }
    Ok(body
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}
