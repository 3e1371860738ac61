//! Artifact names and the names a frame's file can match.
//!
//! An artifact's name is the URL path the browser (or runtime) loads it from,
//! behind a prefix: `~/` stands for any scheme and host, a full URL for one
//! origin, an absolute path for files a server runs (`/app/dist`).

/// Longest accepted name, prefix included.
const MAX_NAME: usize = 1024;

/// The prefix as stored: `~` for any origin, else without a trailing slash.
pub fn url_prefix(prefix: Option<&str>) -> Result<String, String> {
    let prefix = prefix
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("~/");
    if prefix.chars().any(char::is_control) || prefix.contains(['?', '#', '\\']) {
        return Err(format!(
            "`url_prefix` `{prefix}` must be a URL path prefix such as `~/assets`, `https://cdn.example.com/js` or `/app/dist`"
        ));
    }
    let trimmed = prefix.trim_end_matches('/');
    let ok = trimmed == "~"
        || trimmed.starts_with("~/")
        || trimmed.starts_with('/')
        || trimmed.is_empty()
        || scheme_and_rest(trimmed).is_some();
    if !ok {
        return Err(format!(
            "`url_prefix` `{prefix}` must start with `~/` (any host), a scheme (`https://cdn.example.com`) or `/` (an absolute path)"
        ));
    }
    Ok(trimmed.to_string())
}

/// The stored name of a file uploaded as `filename` under `prefix` (see
/// [`url_prefix`]).
pub fn artifact_name(prefix: &str, filename: &str) -> Result<String, String> {
    let file = filename
        .trim()
        .trim_start_matches("./")
        .trim_start_matches('/');
    if file.is_empty() {
        return Err(
            "a file part has no file name; send its URL path as the part's filename".into(),
        );
    }
    if file.chars().any(char::is_control) || file.contains('\\') {
        return Err(format!(
            "file name `{filename}` has control characters or backslashes"
        ));
    }
    if file.split('/').any(|seg| seg == "..") {
        return Err(format!("file name `{filename}` must not contain `..`"));
    }
    let name = format!("{prefix}/{file}");
    if name.len() > MAX_NAME {
        return Err(format!(
            "file name `{filename}` is longer than {MAX_NAME} bytes"
        ));
    }
    Ok(name)
}

/// The last path segment of a name or URL.
pub fn basename(name: &str) -> &str {
    let path = strip_query(name);
    path.rsplit('/').next().unwrap_or(path)
}

/// The artifact names a frame's file can match, most specific first. The query
/// string and fragment never take part.
pub fn frame_candidates(file: &str) -> Vec<String> {
    let file = strip_query(file.trim());
    if file.is_empty() {
        return Vec::new();
    }
    if let Some(path) = file.strip_prefix("file://") {
        // file:///app/dist/server.js → /app/dist/server.js
        return vec![path.to_string(), format!("~{path}"), file.to_string()];
    }
    if let Some((_, rest)) = scheme_and_rest(file) {
        let path = match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "/",
        };
        return vec![file.to_string(), format!("~{path}")];
    }
    if file.starts_with('/') {
        return vec![file.to_string(), format!("~{file}")];
    }
    vec![format!("~/{file}"), file.to_string()]
}

/// The artifact names a `sourceMappingURL` (or a map's source) written in the
/// artifact `base` can refer to.
pub fn reference_candidates(base: &str, reference: &str) -> Vec<String> {
    let reference = strip_query(reference.trim());
    if reference.is_empty() || reference.starts_with("data:") {
        return Vec::new();
    }
    if reference.starts_with("file://") || scheme_and_rest(reference).is_some() {
        return frame_candidates(reference);
    }
    let (root, base_path) = split_root(base);
    let joined = if reference.starts_with('/') {
        reference.to_string()
    } else {
        let dir = match base_path.rfind('/') {
            Some(slash) => &base_path[..=slash],
            None => "/",
        };
        format!("{dir}{reference}")
    };
    vec![format!("{root}{}", normalize_segments(&joined))]
}

/// `https://cdn.example.com/a/b.js` → (`https://cdn.example.com`, `/a/b.js`);
/// `~/a/b.js` → (`~`, `/a/b.js`); `/app/x.js` → (``, `/app/x.js`).
fn split_root(name: &str) -> (&str, &str) {
    if let Some(rest) = name.strip_prefix('~') {
        return ("~", rest);
    }
    if let Some((scheme, rest)) = scheme_and_rest(name) {
        let host_end = scheme.len() + 3 + rest.find('/').unwrap_or(rest.len());
        return (&name[..host_end], &name[host_end..]);
    }
    ("", name)
}

/// Resolves `.` and `..` segments of an absolute path (`..` never climbs above
/// the root).
fn normalize_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// `scheme://rest` with a plausible scheme.
fn scheme_and_rest(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let ok = !scheme.is_empty()
        && scheme.len() <= 32
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some((scheme, rest))
}

fn strip_query(s: &str) -> &str {
    let end = s.find(['?', '#']).unwrap_or(s.len());
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_prefix_and_file() {
        let any = url_prefix(None).unwrap();
        assert_eq!(any, "~");
        assert_eq!(
            artifact_name(&any, "assets/app.js").unwrap(),
            "~/assets/app.js"
        );
        assert_eq!(
            artifact_name(&any, "/assets/app.js").unwrap(),
            "~/assets/app.js"
        );
        let node = url_prefix(Some("/app/dist/")).unwrap();
        assert_eq!(
            artifact_name(&node, "server.js").unwrap(),
            "/app/dist/server.js"
        );
        let cdn = url_prefix(Some("https://cdn.example.com/js")).unwrap();
        assert_eq!(
            artifact_name(&cdn, "app.js").unwrap(),
            "https://cdn.example.com/js/app.js"
        );
        assert!(url_prefix(Some("assets")).is_err());
        assert!(artifact_name("~", "../etc/passwd").is_err());
        assert!(artifact_name("~", "").is_err());
    }

    #[test]
    fn frames_match_any_origin_and_ignore_queries() {
        assert_eq!(
            frame_candidates("https://cdn.example.com/assets/app.js?v=3#x"),
            vec!["https://cdn.example.com/assets/app.js", "~/assets/app.js"]
        );
        assert_eq!(
            frame_candidates("file:///app/dist/server.js"),
            vec![
                "/app/dist/server.js",
                "~/app/dist/server.js",
                "file:///app/dist/server.js"
            ]
        );
        assert_eq!(
            frame_candidates("/app/dist/server.js"),
            vec!["/app/dist/server.js", "~/app/dist/server.js"]
        );
        assert!(frame_candidates("").is_empty());
    }

    #[test]
    fn references_resolve_against_their_file() {
        assert_eq!(
            reference_candidates("~/assets/app.js", "app.js.map"),
            vec!["~/assets/app.js.map"]
        );
        assert_eq!(
            reference_candidates("~/assets/js/app.js", "../maps/app.js.map"),
            vec!["~/assets/maps/app.js.map"]
        );
        assert_eq!(
            reference_candidates("https://cdn.example.com/a/app.js", "/maps/app.map"),
            vec!["https://cdn.example.com/maps/app.map"]
        );
        assert_eq!(
            reference_candidates("/app/dist/server.js", "server.js.map"),
            vec!["/app/dist/server.js.map"]
        );
        assert_eq!(
            reference_candidates("~/a.js", "https://cdn.example.com/a.js.map"),
            vec!["https://cdn.example.com/a.js.map", "~/a.js.map"]
        );
        assert!(reference_candidates("~/a.js", "data:application/json;base64,e30=").is_empty());
    }
}
