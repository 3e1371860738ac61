//! DSNs: the one string a Sentry SDK is configured with,
//! `http(s)://<publicId>@<host>[:port][/<path prefix>]/<project number>`.
//!
//! The SDKs derive the ingest address from it
//! (`<scheme>://<host>[:port][/prefix]/api/<number>/envelope/`) and send the public
//! id as `sentry_key`. They refuse a DSN whose last path segment
//! is not all digits, which is why projects have a number beside their text id.

/// What a DSN names: the key's public id and the project's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub public_id: String,
    pub project_number: i64,
}

/// The DSN of a key with `public_id` in project `number`, served at `public_url`
/// (the server's public base URL: scheme, host, port and path prefix are kept; a
/// trailing `/`, a query or a fragment are not).
pub fn build(public_url: &str, public_id: &str, number: i64) -> String {
    let url = public_url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let url = url.trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    // Credentials in the public URL would read as a second key: drop them.
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{public_id}@{host}{path}/{number}")
}

/// The public id and the project number of a DSN, as the SDKs read it: the user
/// part before any `:` (a legacy secret) is the key, the last path segment the
/// project. `None` when it is not a DSN: no scheme, no key, no host, or a last
/// segment that is not a positive number.
pub fn parse(dsn: &str) -> Option<Dsn> {
    let (scheme, rest) = dsn.trim().split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = rest.split_at(rest.find('/')?);
    let (user, host) = authority.rsplit_once('@')?;
    let public_id = user.split(':').next().unwrap_or(user);
    if public_id.is_empty() || host.is_empty() {
        return None;
    }
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let project_number: i64 = last.parse().ok().filter(|n| *n > 0)?;
    Some(Dsn {
        public_id: public_id.to_string(),
        project_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn built_from_the_public_url() {
        assert_eq!(
            build("http://127.0.0.1:3001", ID, 42),
            format!("http://{ID}@127.0.0.1:3001/42")
        );
        assert_eq!(
            build("https://tt.example.com/", ID, 1),
            format!("https://{ID}@tt.example.com/1")
        );
        assert_eq!(
            build("https://example.com:8443/tools/telemetry/", ID, 7),
            format!("https://{ID}@example.com:8443/tools/telemetry/7")
        );
        assert_eq!(
            build("https://admin:pw@example.com/tt?x=1#top", ID, 3),
            format!("https://{ID}@example.com/tt/3")
        );
        assert_eq!(
            build("http://[::1]:3001", ID, 9),
            format!("http://{ID}@[::1]:3001/9")
        );
    }

    #[test]
    fn parses_back_what_it_builds() {
        for url in [
            "http://127.0.0.1:3001",
            "https://tt.example.com",
            "https://example.com:8443/tools/telemetry/",
            "http://[::1]:3001",
        ] {
            let dsn = build(url, ID, 12345);
            assert_eq!(
                parse(&dsn),
                Some(Dsn {
                    public_id: ID.into(),
                    project_number: 12345
                }),
                "{dsn}"
            );
        }
    }

    #[test]
    fn parses_what_the_sdks_accept() {
        // The captures' DSN, a legacy secret, a trailing slash.
        let want = Some(Dsn {
            public_id: ID.into(),
            project_number: 42,
        });
        assert_eq!(parse(&format!("http://{ID}@127.0.0.1:18942/42")), want);
        assert_eq!(parse(&format!("https://{ID}:secret@host/42")), want);
        assert_eq!(parse(&format!("https://{ID}@host/prefix/42/")), want);
    }

    #[test]
    fn refuses_what_is_not_a_dsn() {
        for bad in [
            "",
            "not a dsn",
            "127.0.0.1:3001/42",
            &format!("http://{ID}@host"),
            &format!("http://{ID}@host/"),
            &format!("http://{ID}@host/project"),
            &format!("http://{ID}@host/4a2"),
            &format!("http://{ID}@host/0"),
            &format!("http://{ID}@host/-4"),
            &format!("http://{ID}@host/99999999999999999999"),
            "http://host/42",
            "http://@host/42",
            &format!("http://{ID}@/42"),
            &format!("ht tp://{ID}@host/42"),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
