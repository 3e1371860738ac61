//! Counters of refused requests by reason, for `/metrics`: an operator watching
//! them sees an attack (or a misconfigured client) as it happens.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: malformed input (bad JSON, wrong types, NUL characters, bad parameters).
    BadRequest,
    /// 408: the body did not arrive within the body-read timeout.
    BodyTimeout,
    /// Connection closed: the headers did not arrive within the header-read timeout.
    HeaderTimeout,
    /// 413: the body is larger than its limit.
    TooLarge,
    /// 414 or 431: the URL or the headers are too long.
    TooLong,
    /// 429: a rate limit, a login throttle or a quota.
    TooMany,
    /// A connection waited because the connection cap was reached.
    ConnectionLimit,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::BadRequest,
        Refusal::BodyTimeout,
        Refusal::HeaderTimeout,
        Refusal::TooLarge,
        Refusal::TooLong,
        Refusal::TooMany,
        Refusal::ConnectionLimit,
    ];

    /// The `reason` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::TooLarge => "too_large",
            Refusal::TooLong => "too_long",
            Refusal::TooMany => "too_many_requests",
            Refusal::ConnectionLimit => "connection_limit",
        }
    }

    /// The refusal a response status stands for, if it is one that is counted.
    pub fn of_status(status: u16) -> Option<Refusal> {
        match status {
            400 => Some(Refusal::BadRequest),
            408 => Some(Refusal::BodyTimeout),
            413 => Some(Refusal::TooLarge),
            414 | 431 => Some(Refusal::TooLong),
            429 => Some(Refusal::TooMany),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; Refusal::ALL.len()],
}

impl Refusals {
    pub fn count(&self, reason: Refusal) {
        self.counts[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition of every counter.
    pub fn exposition(&self) -> String {
        let mut out = String::from(
            "# HELP telemetry_http_refused_total Requests and connections refused, by reason.\n\
             # TYPE telemetry_http_refused_total counter\n",
        );
        for reason in Refusal::ALL {
            out.push_str(&format!(
                "telemetry_http_refused_total{{reason=\"{}\"}} {}\n",
                reason.label(),
                self.counts[reason as usize].load(Ordering::Relaxed)
            ));
        }
        out
    }
}
