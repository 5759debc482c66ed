//! Which network addresses a webhook may be delivered to (the SSRF guard's rules, free of
//! DNS and sockets). A webhook URL is chosen by an organization admin, but the request is
//! made from inside taskmesh's network: without these rules an endpoint could reach the
//! database, the metadata service of the cloud it runs on, or anything else only the server
//! can see.
//!
//! Invariants: an address is refused when it is unspecified, loopback, private (RFC 1918,
//! IPv6 unique-local and site-local), link-local, carrier-grade NAT, multicast or broadcast,
//! reserved or for documentation/benchmarks, a cloud metadata address, or an IPv6 form that
//! embeds an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo); an explicitly
//! allow-listed network admits its addresses whatever they are. Nothing else is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is refused (for the delivery log and the error message).
pub fn refusal(address: IpAddr, allowed: &[IpNet]) -> Option<&'static str> {
    if allowed.iter().any(|network| network.contains(&address)) {
        return None;
    }
    match address {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = address.octets();
    Some(match (a, b, c, d) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, ..) | (192, 168, ..) => "private",
        (169, 254, 169, 254) => "cloud metadata",
        (169, 254, ..) => "link-local",
        (100, 100, 100, 200) => "cloud metadata",
        (100, 64..=127, ..) => "carrier-grade NAT",
        // Azure's wire server and metadata endpoint sits on a public-looking address.
        (168, 63, 129, 16) => "cloud metadata",
        (192, 0, 0, _) => "IETF protocol assignment",
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => "documentation",
        (198, 18..=19, ..) => "benchmarking",
        (192, 88, 99, _) => "6to4 relay anycast",
        (224..=239, ..) => "multicast",
        (255, 255, 255, 255) => "broadcast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn refusal_v6(address: Ipv6Addr) -> Option<&'static str> {
    let segments = address.segments();
    if address.is_unspecified() {
        return Some("unspecified");
    }
    if address.is_loopback() {
        return Some("loopback");
    }
    Some(match segments {
        [0, 0, 0, 0, 0, 0xffff, ..] => "IPv4-mapped IPv6",
        [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible IPv6",
        [0x64, 0xff9b, ..] => "NAT64 (embeds an IPv4 address)",
        [0x2002, ..] => "6to4 (embeds an IPv4 address)",
        [0x2001, 0, ..] => "Teredo (embeds an IPv4 address)",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "cloud metadata",
        [first, ..] if first & 0xfe00 == 0xfc00 => "private (unique local)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "private (site-local)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form the guard must refuse, and public addresses it must not.
    #[test]
    fn refuses_internal_address_forms_and_admits_public_ones() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.10.10",
            "100.64.0.1",
            "100.127.255.255",
            "100.100.100.200",
            "168.63.129.16",
            "192.0.0.170",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
            "fd00:ec2::254",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ];
        for text in refused {
            let address: IpAddr = text.parse().unwrap();
            assert!(refusal(address, &[]).is_some(), "{text} was admitted");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4007:80e::200e",
        ];
        for text in public {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(refusal(address, &[]), None, "{text} was refused");
        }
        assert!(refused.len() + public.len() >= 20);
    }

    #[test]
    fn an_allow_listed_network_admits_its_addresses_only() {
        let allowed: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        for text in ["127.0.0.1", "127.1.2.3", "fd00::5"] {
            assert_eq!(refusal(text.parse().unwrap(), &allowed), None, "{text}");
        }
        for text in ["10.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254"] {
            assert!(refusal(text.parse().unwrap(), &allowed).is_some(), "{text}");
        }
    }
}
