//! Where a Sentry SDK puts its key: the `sentry_key` query parameter (JavaScript)
//! or the `X-Sentry-Auth` header (Python and most others); envelopes forwarded
//! through a `tunnel` carry a DSN instead (`domain::dsn`).

/// The public key named by the query string or the `X-Sentry-Auth` header; `Err`
/// when both are given and disagree.
pub fn presented_key(
    query: Option<&str>,
    auth_header: Option<&str>,
) -> Result<Option<String>, String> {
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "sentry_key")
            .map(|(_, v)| v.trim().to_string())
    });
    let from_header = auth_header.and_then(header_key);
    match (from_query, from_header) {
        (Some(q), Some(h)) if !q.eq_ignore_ascii_case(&h) => {
            Err("the sentry_key of the query string and of X-Sentry-Auth differ".into())
        }
        (Some(k), _) | (None, Some(k)) if !k.is_empty() => Ok(Some(k)),
        _ => Ok(None),
    }
}

/// `Sentry sentry_key=…, sentry_version=7, …` → the key.
fn header_key(header: &str) -> Option<String> {
    let rest = header.trim();
    let rest = rest
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sentry "))
        .map_or(rest, |_| &rest[7..]);
    rest.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == "sentry_key").then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_query_and_header() {
        let q = "sentry_version=7&sentry_key=0123456789abcdef0123456789abcdef&sentry_client=sentry.javascript.node%2F11.12.0";
        assert_eq!(
            presented_key(Some(q), None).unwrap().as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        let h = "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7, sentry_client=sentry.python/2.75.0";
        assert_eq!(
            presented_key(None, Some(h)).unwrap().as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(presented_key(Some("sentry_key=aa"), Some("Sentry sentry_key=bb")).is_err());
        assert_eq!(presented_key(None, None).unwrap(), None);
    }
}
