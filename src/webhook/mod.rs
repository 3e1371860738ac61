//! Outgoing webhook requests, safe to aim at a URL a user typed: only `http(s)`,
//! no redirects, bounded in time and in what is read back, and never to loopback,
//! private, link-local or cloud-metadata addresses (unless allowed) — checked on
//! the addresses a name resolves to when the request is made, so a name that
//! later resolves elsewhere (DNS rebinding) is caught too.

mod address;

pub use address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Most of a response body read.
const MAX_RESPONSE: usize = 64 * 1024;
/// What of it the delivery log keeps.
const RESPONSE_EXCERPT: usize = 1_024;

/// How a request went: the receiver's status and an excerpt of its answer, or
/// why there was none.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
}

/// Resolves names like the system does, keeping only the addresses a webhook
/// may reach.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if usable.is_empty() {
                let reason: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} has no address").into()
                } else {
                    format!("{host} resolves only to private or reserved addresses").into()
                };
                return Err(reason);
            }
            let addrs: Addrs = Box::new(usable.into_iter());
            Ok(addrs)
        })
    }
}

impl WebhookClient {
    pub fn new(allow_private: bool) -> WebhookClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A proxy from the environment would resolve names where we cannot check.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .user_agent(concat!(
                "TelemetryTracker-Webhook/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .unwrap_or_default();
        WebhookClient {
            http,
            allow_private,
        }
    }

    /// Why `url` cannot be a webhook, if it cannot: not http(s), no host,
    /// credentials in it, or a host that is (or resolves to) an address webhooks
    /// may not reach. A name that does not resolve now is accepted: it is checked
    /// again on every delivery.
    pub async fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("must start with http:// or https://".into());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not contain credentials".into());
        }
        let Some(host) = parsed.host_str() else {
            return Err("has no host".into());
        };
        if self.allow_private {
            return Ok(());
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        if let Some(ip) = literal_ip(&parsed) {
            return check_ip(ip);
        }
        if let Ok(found) = tokio::net::lookup_host((host, port)).await {
            for addr in found {
                check_ip(addr.ip())
                    .map_err(|_| format!("{host} resolves to {}, {}", addr.ip(), NOT_ALLOWED))?;
            }
        }
        Ok(())
    }

    /// POSTs `body` as JSON with `headers`, giving the receiver `timeout` (at
    /// most [`TIMEOUT`]) to answer.
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Sent {
        let timeout = timeout.min(TIMEOUT);
        let started = Instant::now();
        let failed = |error: String| Sent {
            status: None,
            latency_ms: started.elapsed().as_millis() as i64,
            response: None,
            error: Some(error),
        };
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return failed(format!("not a URL: {e}")),
        };
        // An address in the URL itself never reaches the resolver.
        if let Some(ip) = literal_ip(&parsed) {
            if !self.allow_private {
                if let Err(e) = check_ip(ip) {
                    return failed(e);
                }
            }
        }
        let mut request = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .timeout(timeout)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return failed(describe(&e, timeout)),
        };
        let status = response.status().as_u16();
        let mut read = Vec::new();
        let mut error = None;
        while read.len() < MAX_RESPONSE {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the answer: {}", describe(&e, timeout)));
                    break;
                }
            }
        }
        read.truncate(RESPONSE_EXCERPT);
        let response = String::from_utf8_lossy(&read).trim().to_string();
        Sent {
            status: Some(status),
            latency_ms: started.elapsed().as_millis() as i64,
            response: (!response.is_empty()).then_some(response),
            error,
        }
    }
}

const NOT_ALLOWED: &str = "a loopback, private, link-local or reserved address; webhooks may \
     not reach those unless TELEMETRY_WEBHOOK_ALLOW_PRIVATE=true";

fn check_ip(ip: IpAddr) -> Result<(), String> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!("{ip} is {NOT_ALLOWED}"))
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// A transport error in words, with its cause (reqwest's own text alone says
/// only "error sending request").
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f32());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
