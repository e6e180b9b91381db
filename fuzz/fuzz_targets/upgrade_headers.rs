//! The WebSocket upgrade's header rules on any text a stranger can send: `Host`, `Origin`, and
//! the forwarding headers a trusted proxy passes on (`Forwarded`, `X-Forwarded-For`,
//! `X-Real-IP`), whose left part is whatever the client behind the proxy wrote.
//!
//! The input is split on `\n`: line 1 is the `Host`, line 2 the `Origin`, and every line is
//! also one line of each forwarding header. Nothing may panic, and:
//!
//! - **No spoofed client.** Walking a chain from the right past trusted proxies
//!   (`10.0.0.0/8`, `::1` here), the client is the rightmost entry that is not a trusted proxy
//!   when that entry is an address, or a trusted hop to its right (or the peer) when it is
//!   not; never anything further left, which the client may have written.
//! - **`Host` on a loopback gateway** is accepted only when it names loopback as a browser
//!   reads it (the `url` crate's WHATWG parse).
//! - **`Origin`**, with no `allowedOrigins`, is accepted only when a browser would read it as
//!   a loopback origin on our port, or as the same host as `Host`: never another site.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use openclaw::http::ws::{
    Hop, MAX_HOPS, client_from_chain, host_allowed_on_loopback, origin_allowed, parse_forwarded,
    parse_real_ip, parse_xff,
};

const PORT: u16 = 18789;
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

fn trusted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 10,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// A host as a browser reads it, IPv4-mapped IPv6 folded to IPv4.
fn browser_host(h: url::Host<&str>) -> String {
    match h {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(v4) => v4.to_string(),
        url::Host::Ipv6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_chain(hops: &[Hop], what: &str) {
    let client = client_from_chain(hops, PEER, trusted);
    let walked = &hops[hops.len().saturating_sub(MAX_HOPS)..];
    let first_untrusted = walked
        .iter()
        .rposition(|h| !matches!(h, Hop::Addr(ip) if trusted(*ip)));
    match first_untrusted {
        Some(k) => match walked[k] {
            Hop::Addr(ip) => assert_eq!(client, ip, "{what}: the first untrusted hop {hops:?}"),
            Hop::Opaque => {
                let vouched = walked[k + 1..].iter().any(|h| *h == Hop::Addr(client));
                assert!(
                    client == PEER || vouched,
                    "{what}: {client} is left of an opaque hop in {hops:?}"
                );
            }
        },
        None => {
            let walked_addr = walked.iter().any(|h| *h == Hop::Addr(client));
            assert!(
                client == PEER || walked_addr,
                "{what}: {client} is not in the walked chain {hops:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    check_chain(&parse_forwarded(&lines), "Forwarded");
    check_chain(&parse_xff(&lines), "X-Forwarded-For");
    check_chain(&parse_real_ip(&lines), "X-Real-IP");

    let host = lines[0];
    let origin = lines.get(1).copied().unwrap_or(host);
    let host_url = url::Url::parse(&format!("http://{}/", host.trim())).ok();
    let host_name = host_url.as_ref().and_then(|u| u.host()).map(browser_host);
    if host_allowed_on_loopback(Some(host)) {
        assert!(
            host_name.as_deref().is_some_and(is_loopback),
            "Host {host:?} accepted as loopback, but a browser reads {host_name:?}"
        );
    }
    for h in [Some(host), None] {
        if !origin_allowed(origin, h, &[], PORT) {
            continue;
        }
        let Ok(o) = url::Url::parse(origin.trim()) else {
            // Not an origin a browser sends.
            continue;
        };
        let Some(name) = o.host().map(browser_host) else {
            panic!("Origin {origin:?} accepted, but a browser reads no host in it");
        };
        let own = is_loopback(&name) && o.port_or_known_default() == Some(PORT);
        let same = h.is_some() && host_name.as_deref() == Some(name.as_str());
        assert!(
            own || same,
            "Origin {origin:?} (a browser reads {name:?}) accepted with Host {h:?} (read {host_name:?})"
        );
    }
});
