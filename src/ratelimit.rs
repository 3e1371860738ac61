//! Per-IP request limits per route family (fixed one-minute windows), in memory.

use dashmap::DashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Auth,
    Api,
    Ingest,
}

impl Family {
    /// The family of a request; the dashboard's sign-in forms count as auth.
    pub fn of_request(method: &poem::http::Method, path: &str) -> Option<Family> {
        const DASHBOARD_AUTH: [&str; 6] = [
            "/login",
            "/signup",
            "/signup/confirm",
            "/forgot-password",
            "/reset-password",
            "/invite",
        ];
        if method == poem::http::Method::POST && DASHBOARD_AUTH.contains(&path) {
            return Some(Family::Auth);
        }
        Family::of_path(path)
    }

    pub fn of_path(path: &str) -> Option<Family> {
        if path.starts_with("/api/auth") {
            Some(Family::Auth)
        } else if path.starts_with("/api/") {
            Some(Family::Api)
        } else if path == "/ingest" || path.starts_with("/ingest/") {
            Some(Family::Ingest)
        } else {
            None
        }
    }
}

#[derive(Default)]
pub struct IpLimiter {
    windows: DashMap<(Family, IpAddr), (Instant, u32)>,
}

impl IpLimiter {
    /// Counts a request; on refusal returns the seconds until the window resets.
    /// `max == 0` means unlimited.
    pub fn check(&self, family: Family, ip: IpAddr, max: u32) -> Result<(), u64> {
        if max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        if self.windows.len() > 100_000 {
            self.windows
                .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let mut entry = self.windows.entry((family, ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The client address: the first `X-Forwarded-For` entry behind a trusted proxy,
/// otherwise the peer address.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy {
        if let Some(ip) = forwarded_for
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_family_and_ip() {
        let l = IpLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(Family::Auth, a, 3).is_ok());
        }
        assert!(l.check(Family::Auth, a, 3).unwrap_err() >= 1);
        assert!(l.check(Family::Api, a, 3).is_ok());
        assert!(l.check(Family::Auth, b, 3).is_ok());
        assert!(l.check(Family::Ingest, a, 0).is_ok());
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(Some(peer), Some("203.0.113.9, 10.0.0.1"), false),
            Some(peer)
        );
        assert_eq!(
            client_ip(Some(peer), Some("203.0.113.9, 10.0.0.1"), true),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(client_ip(Some(peer), Some("garbage"), true), Some(peer));
    }
}

/// Failed attempts per key (an account or an address) within a window; used to slow
/// password guessing.
pub struct FailureThrottle {
    max: u32,
    window: Duration,
    failures: DashMap<String, (Instant, u32)>,
}

impl FailureThrottle {
    pub fn new(max: u32, window: Duration) -> Self {
        FailureThrottle {
            max,
            window,
            failures: DashMap::new(),
        }
    }

    /// Refuses (with seconds to wait) once `max` failures happened in the window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        match self.failures.get(key) {
            Some(e) if now.duration_since(e.0) < self.window && e.1 >= self.max => Err(self
                .window
                .saturating_sub(now.duration_since(e.0))
                .as_secs()
                .max(1)),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        if self.failures.len() > 100_000 {
            self.failures
                .retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let mut e = self.failures.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn failures_lock_out_until_the_window_passes() {
        let t = FailureThrottle::new(2, Duration::from_secs(60));
        assert!(t.check("a").is_ok());
        t.record_failure("a");
        t.record_failure("a");
        assert!(t.check("a").unwrap_err() >= 1);
        assert!(t.check("b").is_ok());
        t.clear("a");
        assert!(t.check("a").is_ok());
    }
}
