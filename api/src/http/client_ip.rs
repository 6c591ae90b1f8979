//! Who the client is: the connection's peer, or — only when that peer is a trusted
//! proxy (`TRUSTED_PROXIES`) — the right-most `X-Forwarded-For` address that is not a
//! trusted proxy. Anyone can write `X-Forwarded-For`; only our own proxies' additions
//! are believed, and only from the right.

use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The client's address, as `resolve` found it; set on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What per-address limits count: an IPv4 address, or an IPv6 /64 (one household
    /// or server gets a /64, and can pick any address within it).
    pub fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(Ipv6Addr::from(prefix))
                }
            },
            v4 => v4,
        }
    }
}

pub fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client of a request that came from `peer` with these headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    // Every X-Forwarded-For line, in order, as one list; walked from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            // What a trusted hop says it received from is believed; an untrusted
            // address is the client, and nothing left of it is believed.
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return ip,
            // A malformed entry: nothing left of it can be believed either.
            None => return client,
        }
    }
    client
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443`, `1.2.3.4:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    None
}

/// Sets `ClientIp` on every request, before any limit is counted.
pub async fn layer(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let client = resolve(peer, req.headers(), &app.config.trusted_proxies);
    req.extensions_mut().insert(ClientIp(client));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let none: Vec<IpNet> = vec![];
        let spoof = headers(&["6.6.6.6"]);
        assert_eq!(resolve(ip("203.0.113.9"), &spoof, &none), ip("203.0.113.9"));
        let lb: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(resolve(ip("203.0.113.9"), &spoof, &lb), ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let lb: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = ip("10.0.0.2");
        // The client wrote a fake first hop; the balancer appended the real one.
        let h = headers(&["6.6.6.6, 198.51.100.7"]);
        assert_eq!(resolve(peer, &h, &lb), ip("198.51.100.7"));
        // Two of our proxies in a row.
        let h = headers(&["198.51.100.7, 10.1.2.3"]);
        assert_eq!(resolve(peer, &h, &lb), ip("198.51.100.7"));
        // Split over two header lines.
        let h = headers(&["6.6.6.6", "198.51.100.7"]);
        assert_eq!(resolve(peer, &h, &lb), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(resolve(peer, &HeaderMap::new(), &lb), peer);
        // Garbage at the right: nothing of it is believed.
        let h = headers(&["198.51.100.7, not-an-ip"]);
        assert_eq!(resolve(peer, &h, &lb), peer);
        // Ports and brackets as some proxies write them.
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(resolve(peer, &h, &lb), ip("2001:db8::7"));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a = ClientIp(ip("2001:db8:1:2:aaaa::1")).limit_key();
        let b = ClientIp(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).limit_key();
        let c = ClientIp(ip("2001:db8:1:3::1")).limit_key();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ClientIp(ip("::ffff:192.0.2.1")).limit_key(),
            ip("192.0.2.1")
        );
        assert_eq!(ClientIp(ip("192.0.2.1")).limit_key(), ip("192.0.2.1"));
    }
}
