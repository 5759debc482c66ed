//! The real client address of a request.
//!
//! Every taskmesh process answers "who is calling" the same way, at its outermost layer
//! ([`crate::telemetry::RpcLayer`]), and writes the answer into
//! [`CLIENT_IP_HEADER`](crate::telemetry::CLIENT_IP_HEADER) for everything behind it:
//! - a peer outside `server.trusted_proxies` is the client, whatever headers it sent (a
//!   client cannot choose its own address);
//! - a trusted peer (a load balancer in front of the edge, or the edge in front of a
//!   service) speaks for its client: taskmesh's own header first (set by an edge), else the
//!   `Forwarded` (RFC 7239) `for=` or `X-Forwarded-For` chain, read from the right, skipping
//!   trusted hops, so the first untrusted address is the client;
//! - an in-process hop (no TCP peer) keeps the header the outer hop set.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

use crate::telemetry::CLIENT_IP_HEADER;

/// Networks whose addresses are proxies (load balancers, the edge), not clients.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(std::sync::Arc<[IpNet]>);

impl TrustedProxies {
    /// Trusts `networks`.
    pub fn new(networks: &[IpNet]) -> Self {
        Self(networks.into())
    }

    /// True when `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client address of a request that came from TCP peer `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        if let Some(address) = header_address(headers, CLIENT_IP_HEADER) {
            return address;
        }
        let chain = forwarded_chain(headers);
        chain
            .iter()
            .rev()
            .copied()
            .find(|address| !self.contains(*address))
            .or_else(|| chain.first().copied())
            .unwrap_or(peer)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn header_address(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(canonical)
}

/// The addresses a request passed through, client first: `Forwarded` if present, else
/// `X-Forwarded-For`. Unparseable entries (obfuscated identifiers, `unknown`) end the chain
/// there, so nothing before them is believed.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<String> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_string())
            })
        })
        .collect();
    let entries: Vec<String> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().to_string())
            .collect()
    } else {
        forwarded
    };
    let mut chain = Vec::new();
    for entry in entries.iter().rev() {
        match parse_node(entry) {
            Some(address) => chain.push(address),
            None => break,
        }
    }
    chain.reverse();
    chain
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:443`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest
            .split(']')
            .next()?
            .parse::<IpAddr>()
            .ok()
            .map(canonical);
    }
    node.parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| canonical(socket.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(&[
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            (CLIENT_IP_HEADER, "203.0.113.9"),
        ]);
        assert_eq!(
            trusted().client(ip("198.51.100.4"), &spoofed),
            ip("198.51.100.4")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &spoofed),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn a_trusted_peer_speaks_for_the_first_untrusted_hop() {
        let proxies = trusted();
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                &headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.9")])
            ),
            ip("203.0.113.7"),
            "a client-supplied first entry is not believed"
        );
        assert_eq!(
            proxies.client(
                ip("127.0.0.1"),
                &headers(&[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https"
                )])
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&[(CLIENT_IP_HEADER, "192.0.2.1")])),
            ip("192.0.2.1"),
            "an edge's own header wins"
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2"),
            "a proxy that says nothing is the client"
        );
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                &headers(&[("x-forwarded-for", "unknown, 10.0.0.8")])
            ),
            ip("10.0.0.8"),
            "an unparseable hop ends what is believed"
        );
        assert_eq!(
            proxies.client(
                ip("::ffff:10.0.0.2"),
                &headers(&[("x-forwarded-for", "1.2.3.4:80")])
            ),
            ip("1.2.3.4"),
            "mapped addresses and ports are understood"
        );
    }
}
