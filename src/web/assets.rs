//! Static files embedded in the binary, served under content-hashed URLs
//! (`/assets/<hash>/css/app.css`) so browsers may cache them for a year.

use poem::http::{header, StatusCode};
use poem::web::Path;
use poem::{handler, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// Short content hash of every embedded file.
static HASHES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|path| {
            let file = Assets::get(&path)?;
            let hash = hex::encode(&Sha256::digest(&file.data)[..6]);
            Some((path.to_string(), hash))
        })
        .collect()
});

/// The URL of an embedded file, e.g. `asset("css/app.css")`.
pub fn asset(path: &str) -> String {
    let hash = HASHES.get(path).map(String::as_str).unwrap_or("0");
    format!("/assets/{hash}/{path}")
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Serves `/assets/:hash/*path`. A stale hash (a page rendered by an older version)
/// still gets the current file, but without the long cache lifetime.
#[handler]
pub fn serve(Path((hash, path)): Path<(String, String)>) -> Response {
    let Some(file) = Assets::get(&path) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("no such asset");
    };
    let cache = if HASHES.get(&path) == Some(&hash) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Response::builder()
        .content_type(content_type(&path))
        .header(header::CACHE_CONTROL, cache)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(file.data.into_owned())
}

/// `/favicon.ico`, asked for by browsers whatever the page says.
#[handler]
pub fn favicon() -> Response {
    let file = Assets::get("favicon.svg").map(|f| f.data.into_owned());
    match file {
        Some(data) => Response::builder()
            .content_type("image/svg+xml")
            .header(header::CACHE_CONTROL, "public, max-age=86400")
            .body(data),
        None => StatusCode::NOT_FOUND.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hashed_url() {
        for path in ["css/app.css", "js/app.js", "favicon.svg"] {
            let url = asset(path);
            assert!(url.ends_with(path), "{url}");
            assert_ne!(url, format!("/assets/0/{path}"), "{path} is not embedded");
        }
    }
}
