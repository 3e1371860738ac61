//! The release-independent form of a frame's file: a new deploy moves the
//! bundle to another host, renames it with a new content hash and may put it
//! under a new build-id or version directory, and none of that may split a
//! group.

/// Appends the release-independent form of a frame's file to `out`:
/// query/fragment, scheme and host removed, build hashes dropped from the file
/// name, hash-like and version-like directories replaced by placeholders.
pub(super) fn normalize_file_into(raw: &str, out: &mut String) {
    let mut s = raw.trim();
    if let Some(i) = s.find(['?', '#']) {
        s = &s[..i];
    }
    if starts_with_ignore_ascii_case(s, "data:") {
        out.push_str("data:");
        return;
    }
    if let Some(rest) = s.strip_prefix("blob:") {
        s = rest;
    }
    let mut stripped = false;
    for prefix in ["webpack-internal:///", "webpack:///", "file://"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
            stripped = true;
            break;
        }
    }
    if !stripped {
        if let Some(i) = s.find("://") {
            let scheme = &s[..i];
            let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if valid_scheme {
                let after = &s[i + 3..];
                s = after.find('/').map_or("/", |j| &after[j..]);
            }
        }
    }
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }

    let owned;
    if s.contains('\\') {
        owned = s.replace('\\', "/");
        s = &owned;
    }

    let (dirs, name) = match s.rfind('/') {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    };
    if let Some(dirs) = dirs {
        let mut first = true;
        for segment in dirs.split('/') {
            if segment == "." && !first {
                continue;
            }
            if !first {
                out.push('/');
            }
            first = false;
            out.push_str(normalize_dir_segment(segment));
        }
        out.push('/');
    }
    normalize_file_name_into(name, out);
}

fn normalize_dir_segment(segment: &str) -> &str {
    if is_uuid(segment.as_bytes()) {
        "<uuid>"
    } else if is_version(segment) {
        "<ver>"
    } else if is_hex_hash(segment, 8) || is_build_id(segment) {
        "<hash>"
    } else {
        segment
    }
}

/// `main.8c2d1e4f.chunk.js` -> `main.chunk.js`, `app-3f9a1c.js` -> `app.js`,
/// `index-DiwrgTda.js` -> `index.js`, `3f9a1c8d.js` -> `<hash>.js`.
fn normalize_file_name_into(name: &str, out: &mut String) {
    let parts = name.split('.').count();
    for (index, part) in name.split('.').enumerate() {
        if index == 0 {
            out.push_str(strip_hash_suffix(part));
        } else if index + 1 == parts || !is_hash_token(part) {
            out.push('.');
            out.push_str(part);
        }
    }
}

fn strip_hash_suffix(stem: &str) -> &str {
    // A whole name that is a hash (`[contenthash].js`); stricter than the
    // token rule so that names like `jquery-3` survive.
    if is_hex_hash(stem, 8) {
        return "<hash>";
    }
    if let Some(i) = stem.rfind(['-', '_']) {
        if i > 0 && is_hash_token(&stem[i + 1..]) {
            return &stem[..i];
        }
    }
    // Vite/Rollup base64url hashes may themselves contain '-' or '_'.
    let len = stem.len();
    if len > 9 && stem.as_bytes()[len - 9] == b'-' && looks_random8(&stem[len - 8..]) {
        return &stem[..len - 9];
    }
    stem
}

fn is_hash_token(token: &str) -> bool {
    is_hex_hash(token, 5) || looks_random8(token)
}

/// Hex digits only, at least `min_len` long, at least one decimal digit.
pub(super) fn is_hex_hash(token: &str, min_len: usize) -> bool {
    token.len() >= min_len
        && token.bytes().all(|b| b.is_ascii_hexdigit())
        && token.bytes().any(|b| b.is_ascii_digit())
}

/// Eight base64url characters that do not read like a word: mixed case that
/// is not a capitalised word, letters mixed with digits, or upper case only
/// (esbuild). Matches Vite/Rollup/esbuild default content hashes.
fn looks_random8(token: &str) -> bool {
    let bytes = token.as_bytes();
    if bytes.len() != 8
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return false;
    }
    let upper = bytes.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let digit = bytes.iter().any(u8::is_ascii_digit);
    let capitalised_word = upper == 1 && bytes[0].is_ascii_uppercase();
    (upper > 0 && lower && !capitalised_word) || (digit && (upper > 0 || lower)) || (upper == 8)
}

/// Long random build ids used as directory names (Next.js `buildId`).
fn is_build_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() >= 16
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        && bytes.iter().any(u8::is_ascii_digit)
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
}

/// `1.4.2`, `v2.0`, `2024.05.01`.
fn is_version(segment: &str) -> bool {
    let s = segment
        .strip_prefix(['v', 'V'])
        .unwrap_or(segment)
        .as_bytes();
    !s.is_empty()
        && s[0].is_ascii_digit()
        && s[s.len() - 1].is_ascii_digit()
        && s.contains(&b'.')
        && s.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && !s.windows(2).any(|w| w == b"..")
}

pub(super) fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

pub(super) fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm_file(raw: &str) -> String {
        let mut out = String::new();
        normalize_file_into(raw, &mut out);
        out
    }

    #[test]
    fn file_normalisation() {
        let cases = [
            (
                "https://shop.example.com/assets/app-3f9a1c.js",
                "/assets/app.js",
            ),
            (
                "https://cdn.example.com:8443/assets/app-77aa01.js",
                "/assets/app.js",
            ),
            (
                "https://x.example/static/js/main.8c2d1e4f.chunk.js",
                "/static/js/main.chunk.js",
            ),
            (
                "https://x.example/static/js/main.js?v=123",
                "/static/js/main.js",
            ),
            ("https://x.example/app.js#section", "/app.js"),
            (
                "https://x.example/_next/static/chunks/pages/index-abc123def.js",
                "/_next/static/chunks/pages/index.js",
            ),
            (
                "https://x.example/_next/static/HVZ6bPsYQKoGNQbeG7Ntz/_buildManifest.js",
                "/_next/static/<hash>/_buildManifest.js",
            ),
            (
                "https://x.example/assets/index-DiwrgTda.js",
                "/assets/index.js",
            ),
            (
                "https://x.example/assets/Cart-B_x9-Qa3.js",
                "/assets/Cart.js",
            ),
            ("https://x.example/chunk-2F3ORQEE.js", "/chunk.js"),
            ("https://x.example/js/3f9a1c8d.js", "/js/<hash>.js"),
            (
                "https://x.example/releases/1.4.2/app.js",
                "/releases/<ver>/app.js",
            ),
            (
                "webpack-internal:///./src/components/Cart.tsx",
                "src/components/Cart.tsx",
            ),
            ("webpack:///./src/index.js", "src/index.js"),
            ("file:///srv/app/esm.mjs", "/srv/app/esm.mjs"),
            ("C:\\app\\src\\index.js", "C:/app/src/index.js"),
            ("index.android.bundle", "index.android.bundle"),
            (
                "node:internal/process/task_queues",
                "node:internal/process/task_queues",
            ),
            (
                "/srv/app/polyfills-es2015.js",
                "/srv/app/polyfills-es2015.js",
            ),
            (
                "/srv/app/settings-Settings.js",
                "/srv/app/settings-Settings.js",
            ),
            ("jquery-3.6.0.min.js", "jquery-3.6.0.min.js"),
            ("data:text/javascript;base64,AAAA", "data:"),
            ("<anonymous>", "<anonymous>"),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(norm_file(raw), expected, "{raw}");
        }
    }
}
