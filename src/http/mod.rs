//! The HTTP edge, below the routes and shared by the API and the dashboard: the
//! connection loop, what every request must pass before it is routed, the security
//! headers of every response, the client's address, and counters of refusals.

pub mod conn;
pub mod decode;
pub mod headers;
pub mod input;
pub mod refusals;
pub mod request;

use crate::config::ServeConfig;
use poem::Request;
use std::net::IpAddr;

/// The client's address: the peer, or behind trusted proxies what they saw.
pub fn client_addr(config: &ServeConfig, req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    crate::ratelimit::client_ip(
        peer,
        req.header("x-forwarded-for"),
        config.trusted_proxies(),
    )
}
