//! Per-IP request limits per route family (fixed one-minute windows), in memory.

use dashmap::DashMap;
use ipnet::IpNet;
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
        } else if crate::api::sentry::is_sentry_path(path) {
            // SDK traffic, bounded per project by its plan like `/ingest`.
            Some(Family::Ingest)
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

/// The client address. Behind trusted proxies (`trusted` is `Some`, and the peer is
/// one of them) it is the rightmost `X-Forwarded-For` entry that is not a trusted
/// proxy: proxies append the address they saw, so everything left of that entry is
/// whatever the client chose to send. Otherwise it is the peer address.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: Option<&[IpNet]>,
) -> Option<IpAddr> {
    let (Some(trusted), Some(forwarded), Some(peer_ip)) = (trusted, forwarded_for, peer) else {
        return peer;
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer_ip) {
        return peer;
    }
    let mut client = peer_ip;
    for entry in forwarded.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // Unreadable: nothing left of it can be trusted either.
            return Some(client);
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
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
    fn forwarded_for_only_from_trusted_proxies() {
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let proxies: Vec<IpNet> = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // Not trusting proxies: the header is ignored.
        assert_eq!(client_ip(Some(peer), Some("203.0.113.9"), None), Some(peer));
        // A client forging an entry in front: the proxy appended the real one.
        assert_eq!(
            client_ip(
                Some(peer),
                Some("198.51.100.1, 203.0.113.9"),
                Some(&loopback)
            ),
            ip("203.0.113.9")
        );
        // Two proxies: the inner one's entry is skipped.
        assert_eq!(
            client_ip(
                Some(peer),
                Some("198.51.100.1, 203.0.113.9, 10.1.2.3"),
                Some(&proxies)
            ),
            ip("203.0.113.9")
        );
        // A peer that is not a trusted proxy cannot set the address.
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            client_ip(Some(stranger), Some("203.0.113.9"), Some(&loopback)),
            Some(stranger)
        );
        assert_eq!(
            client_ip(Some(peer), Some("garbage"), Some(&loopback)),
            Some(peer)
        );
        assert_eq!(
            client_ip(Some(peer), Some("garbage, 203.0.113.9"), Some(&loopback)),
            ip("203.0.113.9")
        );
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

/// Failed sign-ins allowed per (account, address) pair in the window.
const PAIR_FAILURES: u32 = 5;
/// Failed sign-ins allowed per address, whatever the accounts, in the window.
const ADDRESS_FAILURES: u32 = 30;
/// Failed sign-ins per account, from all addresses, before the account slows down.
const ACCOUNT_FAILURES: u32 = 20;
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// While an account is slowed down, one attempt per this long from addresses it has
/// never signed in from.
const SLOW_LANE: Duration = Duration::from_secs(60);
/// Addresses remembered per account as ones it signed in from.
const KNOWN_ADDRESSES: usize = 16;

/// How password guessing is slowed down (docs/SECURITY.md): hard limits per
/// (account, address) pair and per address, and an account-wide limit that never
/// locks the owner out — a correct password still gets in from an address the
/// account signed in from before, and from anywhere else one try a minute.
pub struct LoginThrottle {
    pair: FailureThrottle,
    address: FailureThrottle,
    account: FailureThrottle,
    known: DashMap<String, Vec<String>>,
    slow_lane: DashMap<String, Instant>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            pair: FailureThrottle::new(PAIR_FAILURES, LOGIN_WINDOW),
            address: FailureThrottle::new(ADDRESS_FAILURES, LOGIN_WINDOW),
            account: FailureThrottle::new(ACCOUNT_FAILURES, LOGIN_WINDOW),
            known: DashMap::new(),
            slow_lane: DashMap::new(),
        }
    }
}

impl LoginThrottle {
    /// Whether `address` may try to sign in to `account` now; otherwise the seconds
    /// to wait.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        self.pair.check(&pair_key(account, address))?;
        self.address.check(address)?;
        if self.account.check(account).is_ok() || self.is_known(account, address) {
            return Ok(());
        }
        let now = Instant::now();
        if self.slow_lane.len() > 100_000 {
            self.slow_lane
                .retain(|_, last| now.duration_since(*last) < SLOW_LANE);
        }
        let mut last = self
            .slow_lane
            .entry(account.to_string())
            .or_insert(now - SLOW_LANE);
        let since = now.duration_since(*last);
        if since < SLOW_LANE {
            return Err((SLOW_LANE - since).as_secs().max(1));
        }
        *last = now;
        Ok(())
    }

    pub fn failed(&self, account: &str, address: &str) {
        self.pair.record_failure(&pair_key(account, address));
        self.address.record_failure(address);
        self.account.record_failure(account);
    }

    pub fn succeeded(&self, account: &str, address: &str) {
        self.pair.clear(&pair_key(account, address));
        self.account.clear(account);
        if self.known.len() > 100_000 {
            self.known.clear();
        }
        let mut known = self.known.entry(account.to_string()).or_default();
        if !known.iter().any(|a| a == address) {
            if known.len() >= KNOWN_ADDRESSES {
                known.remove(0);
            }
            known.push(address.to_string());
        }
    }

    fn is_known(&self, account: &str, address: &str) -> bool {
        self.known
            .get(account)
            .is_some_and(|k| k.iter().any(|a| a == address))
    }
}

fn pair_key(account: &str, address: &str) -> String {
    format!("{account}\n{address}")
}

#[cfg(test)]
mod login_tests {
    use super::*;

    #[test]
    fn a_guesser_is_stopped_and_the_owner_still_gets_in() {
        let t = LoginThrottle::default();
        let owner = "10.0.0.1";
        t.succeeded("a@x", owner);
        // One address guessing: stopped after PAIR_FAILURES.
        for _ in 0..PAIR_FAILURES {
            assert!(t.check("a@x", "192.0.2.1").is_ok());
            t.failed("a@x", "192.0.2.1");
        }
        assert!(t.check("a@x", "192.0.2.1").is_err());
        // Many addresses guessing: the account slows down for strangers only.
        for i in 0..ACCOUNT_FAILURES {
            t.failed("a@x", &format!("198.51.100.{i}"));
        }
        assert!(t.check("a@x", owner).is_ok());
        assert!(t.check("a@x", "203.0.113.5").is_ok(), "one try a minute");
        assert!(t.check("a@x", "203.0.113.6").is_err());
        // Other accounts are not affected.
        assert!(t.check("b@x", "203.0.113.6").is_ok());
    }
}
