//! The WebSocket upgrade: the `Host` check (DNS rebinding), client attribution (trusted
//! proxies), browser `Origin` checks, the per-IP cap on unauthenticated sockets, then
//! the takeover of the socket by the session ([`super::takeover`]).
//!
//! The accepted upgrade is answered `101` here and the socket is then handed to the session
//! by [`super::takeover`].
//!
//! Rules (protocol spec §5.7, §5.9, §5.11):
//! - **Host.** A gateway bound only to loopback accepts only `Host` values that name
//!   loopback (`localhost`, `127.0.0.0/8`, `[::1]`). A DNS-rebinding page
//!   (`Host: evil.example:18789`) gets HTTP 403 `host_not_allowed`. The port is not checked:
//!   rebinding needs an attacker's *name*, and an SSH tunnel on another local port
//!   (`ssh -L 28789:127.0.0.1:18789`) legitimately sends `Host: 127.0.0.1:28789`. Requests relayed by a
//!   trusted proxy (peer in `gateway.trustedProxies` *and* forwarding headers present) are
//!   exempt: the proxy owns the public name.
//! - **Client address.** `Forwarded` (RFC 7239), `X-Forwarded-For` and `X-Real-IP` count only
//!   from a peer in `gateway.trustedProxies`; from anyone else they get HTTP 403
//!   `proxy_attribution_required`. Each header present is walked from the right (the hop
//!   nearest to us) past trusted proxies; the first untrusted address is the client. An
//!   entry that is not an address (`unknown`, `_hidden`, garbage) stops the walk: the client
//!   is then the proxy that wrote that entry (the last address we can vouch for), never an
//!   entry further left, which the client may have written itself. When several headers are
//!   present they must name the same client, else HTTP 403 `proxy_attribution_conflict`.
//! - **Origin.** Browsers send `Origin`; the CLI and node hosts do not. Allowed: origins in
//!   `gateway.controlUi.allowedOrigins` (`"*"` = any), the gateway's own loopback origins
//!   (`http(s)://localhost|127.0.0.1|[::1]:<port>`), and same-origin pages whose host is
//!   loopback, private (RFC 1918, link-local, CGNAT, IPv6 ULA), `*.local` or `*.ts.net`.
//!   Anything else is refused at `connect` with `CONTROL_UI_ORIGIN_NOT_ALLOWED`.
//! - **Tailscale.** `Tailscale-User-*` identity headers never authenticate here: from a peer
//!   outside `gateway.trustedProxies` the upgrade is refused (HTTP 403
//!   `proxy_attribution_required`), from a trusted proxy (an externally managed Serve route)
//!   they are ignored. They count only on the dedicated Serve listener, whose requests
//!   [`crate::tailscale::attribute`] works out instead.
//! - A request that is not an upgrade is the Control UI page ([`super::ui`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::http::header;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::auth::{Cidr, canonical_ip};
use openclaw_actors::ws_session::PeerInfo;
use serde_json::json;

const PROXY_HEADERS: &[&str] = &["x-forwarded-for", "forwarded", "x-real-ip"];

/// Hops of a forwarding chain walked at most (a longer all-trusted chain ends at the last
/// hop walked).
pub const MAX_HOPS: usize = 32;

/// Any request that is not claimed by another route.
pub async fn upgrade(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !is_ws {
        // Plain GET/HEAD: the Control UI (crate::http::ui).
        return super::ui::page(&req);
    }
    // A malformed handshake (not GET, no key, wrong version, no `Connection: upgrade`) is
    // answered 400 before anything else.
    let mut handshake = match actix_http::ws::handshake(req.head()) {
        Ok(h) => h,
        Err(e) => return HttpResponse::from(actix_http::Response::from(&e)),
    };
    // Every listener's HTTP service hands WebSocket requests to the takeover
    // (crate::http::takeover); one that reached us otherwise (an upgrade request with a
    // body) cannot be taken over.
    let Some(takeover) = req.extensions().get::<super::takeover::Takeover>().cloned() else {
        return HttpResponse::BadRequest()
            .force_close()
            .body("a WebSocket upgrade request must not carry a body");
    };
    // The dedicated Tailscale Serve listener has its own rules (crate::tailscale).
    let attributed = match req.app_data::<web::Data<crate::tailscale::Ingress>>() {
        Some(ingress) => crate::tailscale::attribute(&req, &engine, ingress).await,
        None => attribute(&req, &engine),
    };
    let peer = match attributed {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if let Err(resp) = super::ceiling::admit(&req, peer.ip) {
        return *resp;
    }
    if let Err(why) = engine.shared.preauth.try_admit(peer.ip) {
        return super::ceiling::preauth_refused(why);
    }
    takeover.accept(engine.get_ref().clone(), peer);
    HttpResponse::from(handshake.finish().map_into_boxed_body())
}

pub(crate) fn refuse(kind: &str, message: &str) -> Box<HttpResponse> {
    Box::new(HttpResponse::Forbidden().json(json!({"error": {
        "message": message,
        "type": kind,
    }})))
}

fn header_values<'a>(req: &'a HttpRequest, name: &str) -> Vec<&'a str> {
    req.headers()
        .get_all(name)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect()
}

/// Works out who the client is (see the module docs).
pub(crate) fn attribute(req: &HttpRequest, engine: &Engine) -> Result<PeerInfo, Box<HttpResponse>> {
    let live = engine.shared.live.get();
    let cfg = &*live;
    // No peer address (should not happen on TCP): treat as remote, never as local.
    let peer_ip = req.peer_addr().map(|a| canonical_ip(a.ip()));
    let has_proxy_headers = PROXY_HEADERS.iter().any(|h| req.headers().contains_key(*h));
    let trusted = &cfg.trusted_proxies;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let proxied = has_proxy_headers;
    if crate::tailscale::IDENTITY_HEADERS
        .iter()
        .any(|h| req.headers().contains_key(*h))
        && !peer_ip.is_some_and(|ip| is_trusted(trusted, ip))
    {
        // Identity headers count only on the dedicated Serve listener (spec §5.10); from a
        // trusted proxy (an externally managed Serve route) they are ignored, from anyone
        // else the request is unattributable.
        return Err(refuse(
            "proxy_attribution_required",
            "Tailscale identity headers are only accepted on the gateway's own Tailscale Serve listener (gateway.tailscale.mode: \"serve\"). Point Tailscale Serve at it, or strip these headers in your proxy.",
        ));
    }
    if proxied && !peer_ip.is_some_and(|ip| is_trusted(trusted, ip)) {
        return Err(refuse(
            "proxy_attribution_required",
            "Proxy client attribution is required. Configure gateway.trustedProxies narrowly and make the proxy overwrite or safely rebuild forwarded client headers.",
        ));
    }
    if !proxied && loopback_bind(&cfg.bind_addrs) && !host_allowed_on_loopback(host) {
        log::warn!("refused a WebSocket upgrade whose Host header does not name loopback");
        return Err(refuse(
            "host_not_allowed",
            "Host not allowed: this gateway listens on loopback only; connect through localhost, 127.0.0.1 or [::1] (DNS-rebinding protection)",
        ));
    }
    let origin_allowed = origin
        .as_deref()
        .is_none_or(|o| origin_allowed(o, host, &cfg.allowed_origins, cfg.port));
    let local_host = host.is_some_and(|h| split_host_port(h).is_some_and(|(h, _)| private_host(h)));
    let Some(peer_ip) = peer_ip else {
        return Ok(PeerInfo {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            is_local: false,
            local_host,
            origin,
            origin_allowed,
            tailscale: None,
        });
    };
    if !proxied {
        return Ok(PeerInfo {
            ip: peer_ip,
            is_local: peer_ip.is_loopback(),
            local_host,
            origin,
            origin_allowed,
            tailscale: None,
        });
    }
    let trusted_fn = |ip: IpAddr| is_trusted(trusted, ip);
    let mut clients = Vec::with_capacity(3);
    let fwd = header_values(req, "forwarded");
    if !fwd.is_empty() {
        clients.push(client_from_chain(
            &parse_forwarded(&fwd),
            peer_ip,
            trusted_fn,
        ));
    }
    let xff = header_values(req, "x-forwarded-for");
    if !xff.is_empty() {
        clients.push(client_from_chain(&parse_xff(&xff), peer_ip, trusted_fn));
    }
    let real = header_values(req, "x-real-ip");
    if !real.is_empty() {
        clients.push(client_from_chain(
            &parse_real_ip(&real),
            peer_ip,
            trusted_fn,
        ));
    }
    let client = clients[0];
    if clients.iter().any(|c| *c != client) {
        return Err(refuse(
            "proxy_attribution_conflict",
            "Forwarded, X-Forwarded-For and X-Real-IP name different clients. Make the proxy overwrite (not append to client-supplied) forwarding headers, or send only one of them.",
        ));
    }
    Ok(PeerInfo {
        ip: client,
        is_local: false,
        local_host,
        origin,
        origin_allowed,
        tailscale: None,
    })
}

fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// Whether every bound address is loopback (an empty list, as in engine-only tests, is not).
fn loopback_bind(bind_addrs: &[String]) -> bool {
    !bind_addrs.is_empty()
        && bind_addrs.iter().all(|a| {
            a.parse::<SocketAddr>()
                .map(|s| s.ip().is_loopback())
                .or_else(|_| a.parse::<IpAddr>().map(|ip| ip.is_loopback()))
                .unwrap_or(false)
        })
}

/// One entry of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// An address.
    Addr(IpAddr),
    /// Anything else: `unknown`, an obfuscated `_id`, an element without `for=`, garbage.
    Opaque,
}

/// Parses one address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`,
/// `[::1]:80`.
fn parse_node(s: &str) -> Hop {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Hop::Addr(canonical_ip(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Hop::Opaque;
        };
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| parse_port(p).is_some());
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(v6) if port_ok => Hop::Addr(canonical_ip(IpAddr::V6(v6))),
            _ => Hop::Opaque,
        };
    }
    match s.parse::<std::net::SocketAddrV4>() {
        Ok(sa) => Hop::Addr(IpAddr::V4(*sa.ip())),
        Err(_) => Hop::Opaque,
    }
}

/// `X-Forwarded-For` (all header lines, in order) → hops, leftmost first.
pub fn parse_xff(values: &[&str]) -> Vec<Hop> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// `X-Real-IP` → one hop (several lines or a list is not an address).
pub fn parse_real_ip(values: &[&str]) -> Vec<Hop> {
    if values.len() != 1 || values[0].contains(',') {
        return vec![Hop::Opaque];
    }
    vec![parse_node(values[0])]
}

/// `Forwarded` (RFC 7239, all header lines in order) → hops, leftmost first. Each element's
/// `for=` parameter (token or quoted string) is the hop; an element without one, or with
/// several, is opaque. Commas and semicolons inside quoted strings do not split.
pub fn parse_forwarded(values: &[&str]) -> Vec<Hop> {
    let mut hops = Vec::new();
    for v in values {
        for element in split_unquoted(v, ',') {
            let mut found: Option<Hop> = None;
            let mut dup = false;
            for pair in split_unquoted(&element, ';') {
                let Some((k, val)) = pair.split_once('=') else {
                    continue;
                };
                if !k.trim().eq_ignore_ascii_case("for") {
                    continue;
                }
                if found.is_some() {
                    dup = true;
                }
                found = Some(match unquote(val.trim()) {
                    Some(s) => parse_node(&s),
                    None => Hop::Opaque,
                });
            }
            hops.push(if dup {
                Hop::Opaque
            } else {
                found.unwrap_or(Hop::Opaque)
            });
        }
    }
    hops
}

/// Splits on `sep` outside double quotes (backslash escapes inside quotes).
fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A token or a well-formed quoted string; `None` for a broken quote.
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.contains('"')).then(|| v.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Walks `hops` from the right (nearest to us first) past trusted proxies. Returns the first
/// untrusted address; at an opaque entry, the proxy that wrote it (the last address
/// vouched for, starting with `peer`); when every hop is trusted, the leftmost one walked.
pub fn client_from_chain(hops: &[Hop], peer: IpAddr, trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    let mut vouched = peer;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        match *hop {
            Hop::Addr(ip) if trusted(ip) => vouched = ip,
            Hop::Addr(ip) => return ip,
            Hop::Opaque => return vouched,
        }
    }
    vouched
}

/// A port as URLs write it: ASCII digits only (Rust's integer parse would also take `+9`).
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// Splits `host[:port]` / `[v6][:port]`; `None` when malformed.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((h, None)),
            p => Some((h, Some(parse_port(p.strip_prefix(':')?)?))),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, Some(parse_port(p)?))),
        Some(_) => None, // a bare IPv6 literal is not valid in Host/Origin
        None if s.is_empty() => None,
        None => Some((s, None)),
    }
}

fn loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| canonical_ip(ip).is_loopback())
}

/// Loopback, RFC 1918, link-local, CGNAT (100.64/10), IPv6 ULA / link-local, `*.local`,
/// `*.ts.net`.
fn private_host(host: &str) -> bool {
    if loopback_name(host) {
        return true;
    }
    match host.parse::<IpAddr>().map(canonical_ip) {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xC0) == 64)
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments()[0];
            (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
        Err(_) => {
            let h = host.trim_end_matches('.').to_ascii_lowercase();
            h.ends_with(".local") || h.ends_with(".ts.net")
        }
    }
}

/// The `Host` rule for a loopback-only gateway: a loopback name (any port, see the module
/// docs); a missing or malformed `Host` is refused.
pub fn host_allowed_on_loopback(host: Option<&str>) -> bool {
    host.and_then(split_host_port)
        .is_some_and(|(h, _)| loopback_name(h))
}

/// An origin as `(scheme, host, port)`, lower-cased, default port filled in.
fn parse_origin(o: &str) -> Option<(String, String, u16)> {
    let o = o.trim().trim_end_matches('/');
    let (scheme, rest) = o.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    if rest.contains('/') || rest.contains('@') || rest.contains('?') || rest.contains('#') {
        return None;
    }
    let (h, p) = split_host_port(rest)?;
    if h.is_empty() {
        return None;
    }
    Some((scheme, h.to_ascii_lowercase(), p.unwrap_or(default)))
}

/// Checks and normalizes `gateway.controlUi.allowedOrigins` at startup.
pub fn normalize_allowed_origins(list: &[String]) -> Result<Vec<String>, String> {
    list.iter()
        .map(|o| {
            if o.trim() == "*" {
                return Ok("*".to_owned());
            }
            parse_origin(o)
                .map(|(s, h, p)| format!("{s}://{h}:{p}"))
                .ok_or_else(|| {
                    format!(
                        "gateway.controlUi.allowedOrigins entry {o:?} is not an origin. Fix: use scheme://host[:port], e.g. \"https://control.example.com\", or \"*\""
                    )
                })
        })
        .collect()
}

/// The §5.7 origin rule (see the module docs). `allowed` is normalized.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String], port: u16) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Some((scheme, oh, op)) = parse_origin(origin) else {
        return false; // `null`, opaque or malformed origins
    };
    let normalized = format!("{scheme}://{oh}:{op}");
    if allowed.contains(&normalized) {
        return true;
    }
    // Our own loopback origins.
    let web = matches!(scheme.as_str(), "http" | "https");
    if web && op == port && loopback_name(oh.trim_start_matches('[').trim_end_matches(']')) {
        return true;
    }
    // Same-origin loads from a private host.
    let Some((hh, hp)) = host.and_then(split_host_port) else {
        return false;
    };
    let default = if scheme == "https" || scheme == "wss" {
        443
    } else {
        80
    };
    web && hh.eq_ignore_ascii_case(&oh) && hp.unwrap_or(default) == op && private_host(&oh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn trusted(list: &[&str]) -> impl Fn(IpAddr) -> bool {
        let cidrs: Vec<Cidr> = list.iter().map(|s| Cidr::parse(s).expect("cidr")).collect();
        move |ip| is_trusted(&cidrs, ip)
    }

    const PEER: &str = "10.0.0.1";

    fn xff(h: &str, t: &[&str]) -> IpAddr {
        client_from_chain(&parse_xff(&[h]), ip(PEER), trusted(t))
    }

    fn fwd(h: &str, t: &[&str]) -> IpAddr {
        client_from_chain(&parse_forwarded(&[h]), ip(PEER), trusted(t))
    }

    #[test]
    fn xff_walks_from_the_right_past_trusted_hops() {
        let t = &[PEER, "10.0.0.2"];
        assert_eq!(xff("203.0.113.9", t), ip("203.0.113.9"));
        assert_eq!(xff("203.0.113.9, 10.0.0.2", t), ip("203.0.113.9"));
        // A client-written entry on the left is never reached.
        assert_eq!(xff("1.1.1.1, 203.0.113.9", t), ip("203.0.113.9"));
        assert_eq!(xff("1.1.1.1,203.0.113.9 , 10.0.0.2", t), ip("203.0.113.9"));
        // The nearest untrusted entry decides, whatever is written to its left.
        assert_eq!(xff("10.0.0.2, 198.51.100.7", t), ip("198.51.100.7"));
        // Ports and brackets.
        assert_eq!(xff("203.0.113.9:4711", t), ip("203.0.113.9"));
        assert_eq!(xff("[2001:db8::1]:4711", t), ip("2001:db8::1"));
        assert_eq!(xff("2001:db8::1", t), ip("2001:db8::1"));
        assert_eq!(xff("::ffff:203.0.113.9", t), ip("203.0.113.9"));
        // All trusted: the leftmost trusted hop.
        assert_eq!(xff("10.0.0.2", t), ip("10.0.0.2"));
        // Several header lines are one list, in order.
        let hops = parse_xff(&["1.1.1.1", "203.0.113.9"]);
        assert_eq!(
            client_from_chain(&hops, ip(PEER), trusted(t)),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn unparsable_entries_never_let_the_walk_reach_attacker_entries() {
        let t = &[PEER, "10.0.0.2"];
        // The entry our proxy appended is garbage: the client is our proxy itself, not the
        // attacker-written 127.0.0.1 to its left.
        assert_eq!(xff("127.0.0.1, garbage", t), ip(PEER));
        assert_eq!(xff("127.0.0.1, unknown", t), ip(PEER));
        assert_eq!(xff("127.0.0.1,", t), ip(PEER));
        assert_eq!(xff("127.0.0.1, 999.1.1.1", t), ip(PEER));
        assert_eq!(xff("127.0.0.1, [::1", t), ip(PEER));
        assert_eq!(xff("127.0.0.1, 1.2.3.4:99999", t), ip(PEER));
        // Garbage written by the second proxy's upstream: the second proxy is the client.
        assert_eq!(xff("127.0.0.1, _hidden, 10.0.0.2", t), ip("10.0.0.2"));
        // Empty header.
        assert_eq!(xff("", t), ip(PEER));
        // A very long all-trusted chain stops after MAX_HOPS.
        let long = vec!["10.0.0.2"; 100].join(",");
        assert_eq!(xff(&format!("6.6.6.6,{long}"), t), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_rfc7239() {
        let t = &[PEER, "10.0.0.2"];
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43", t),
            ip("192.0.2.60")
        );
        assert_eq!(
            fwd("For=\"[2001:db8:cafe::17]:4711\"", t),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(fwd("for=\"192.0.2.60:80\"", t), ip("192.0.2.60"));
        assert_eq!(
            fwd("for=192.0.2.43, for=198.51.100.17", t),
            ip("198.51.100.17")
        );
        assert_eq!(fwd("for=192.0.2.43, for=10.0.0.2", t), ip("192.0.2.43"));
        assert_eq!(fwd("proto=https;for=192.0.2.43 ;by=x", t), ip("192.0.2.43"));
        // Obfuscated / unknown / missing `for`: the proxy that wrote it.
        assert_eq!(fwd("for=127.0.0.1, for=unknown", t), ip(PEER));
        assert_eq!(fwd("for=127.0.0.1, for=_hidden", t), ip(PEER));
        assert_eq!(fwd("for=127.0.0.1, proto=https", t), ip(PEER));
        assert_eq!(fwd("for=127.0.0.1, for=\"broken", t), ip(PEER));
        // A quoted comma does not split into an attacker-controlled element.
        assert_eq!(fwd("for=\"1.1.1.1,127.0.0.1\"", t), ip(PEER));
        assert_eq!(fwd("for=\"x;for=127.0.0.1\"", t), ip(PEER));
        // Two `for` in one element: opaque.
        assert_eq!(fwd("for=127.0.0.1;for=192.0.2.1", t), ip(PEER));
        // Escapes inside quotes.
        assert_eq!(fwd("for=\"\\\"x\\\"\", for=192.0.2.5", t), ip("192.0.2.5"));
    }

    #[test]
    fn real_ip_is_one_address() {
        let t = &[PEER];
        let one = |v: &[&str]| client_from_chain(&parse_real_ip(v), ip(PEER), trusted(t));
        assert_eq!(one(&["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(one(&["1.1.1.1, 203.0.113.9"]), ip(PEER));
        assert_eq!(one(&["1.1.1.1", "203.0.113.9"]), ip(PEER));
        assert_eq!(one(&["nope"]), ip(PEER));
    }

    #[test]
    fn host_check_on_loopback() {
        let ok = |h: &str| host_allowed_on_loopback(Some(h));
        assert!(ok("localhost:18789"));
        assert!(ok("LOCALHOST:18789"));
        assert!(ok("127.0.0.1:18789"));
        assert!(ok("127.1.2.3:18789"));
        assert!(ok("[::1]:18789"));
        assert!(!ok("evil.example:18789"));
        assert!(!ok("localhost.evil.example:18789"));
        assert!(!ok("127.0.0.1.nip.io:18789"));
        assert!(!ok("192.168.1.5:18789"));
        // Any port (SSH tunnels on another local port), with or without one.
        assert!(ok("localhost:28789"));
        assert!(ok("localhost"));
        assert!(!ok("::1:18789"));
        assert!(!ok(""));
        assert!(!ok("localhost:x"));
        assert!(!ok("[::1"));
        assert!(!host_allowed_on_loopback(None));
        // A port is digits only (found by the upgrade_headers fuzz target: Rust's integer
        // parse takes a sign, a browser does not).
        assert!(!ok("[::1]:+9"));
        assert!(!ok("localhost:+18789"));
        assert!(!ok("localhost:"));
    }

    #[test]
    fn origin_rules() {
        let none: Vec<String> = Vec::new();
        let ok = |o: &str, h: &str| origin_allowed(o, Some(h), &none, 18789);
        // Our own loopback origins.
        assert!(ok("http://localhost:18789", "127.0.0.1:18789"));
        assert!(ok("http://127.0.0.1:18789", "127.0.0.1:18789"));
        assert!(ok("https://[::1]:18789", "[::1]:18789"));
        assert!(!ok("http://localhost:3000", "127.0.0.1:18789"));
        // Same-origin from private hosts.
        assert!(ok("http://192.168.1.5:18789", "192.168.1.5:18789"));
        assert!(ok("http://box.local:18789", "box.local:18789"));
        assert!(ok("https://box.tail1.ts.net", "box.tail1.ts.net"));
        assert!(ok("http://100.100.1.1:18789", "100.100.1.1:18789"));
        assert!(ok("http://[fd00::5]:18789", "[fd00::5]:18789"));
        // Same-origin from a public name (the rebinding case) is refused.
        assert!(!ok("http://evil.example:18789", "evil.example:18789"));
        assert!(!ok("http://8.8.8.8:18789", "8.8.8.8:18789"));
        // Cross-origin, even between private hosts.
        assert!(!ok("http://192.168.1.6:18789", "192.168.1.5:18789"));
        assert!(!ok("http://192.168.1.5:8080", "192.168.1.5:18789"));
        // Opaque and malformed.
        assert!(!ok("null", "127.0.0.1:18789"));
        assert!(!ok("file://", "127.0.0.1:18789"));
        assert!(!ok("http://localhost:18789/path", "127.0.0.1:18789"));
        assert!(!ok("http://evil@localhost:18789", "127.0.0.1:18789"));
        assert!(!ok("http://localhost:+18789", "127.0.0.1:18789"));
        assert!(!ok("http://box.local:+18789", "box.local:+18789"));
        // allowedOrigins.
        let allowed = normalize_allowed_origins(&["https://UI.example".to_owned()]).expect("ok");
        assert_eq!(allowed, vec!["https://ui.example:443".to_owned()]);
        assert!(origin_allowed(
            "https://ui.example",
            Some("gw.example"),
            &allowed,
            18789
        ));
        assert!(origin_allowed(
            "https://ui.example:443/",
            None,
            &allowed,
            18789
        ));
        assert!(!origin_allowed("http://ui.example", None, &allowed, 18789));
        let any = normalize_allowed_origins(&["*".to_owned()]).expect("ok");
        assert!(origin_allowed("null", None, &any, 18789));
        assert!(normalize_allowed_origins(&["ui.example".to_owned()]).is_err());
    }

    #[test]
    fn private_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "10.1.1.1",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "fd12::1",
            "fe80::1",
            "x.local",
            "x.ts.net",
        ] {
            assert!(private_host(h), "{h}");
        }
        for h in [
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "example.com",
            "local",
            "evil.localx",
        ] {
            assert!(!private_host(h), "{h}");
        }
    }
}
