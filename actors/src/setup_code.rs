//! Setup codes (OpenClaw's `device.pair.setupCode`, `openclaw qr`): the URL a phone or a
//! node host should reach this gateway at, the access a code may hand over there, and the
//! code itself: base64url of `{url, bootstrapToken, expiresAtMs}`, the format the official
//! apps and `openclaw node run --pair` read.
//!
//! The rules are OpenClaw's: a plaintext `ws://` URL is allowed only for loopback, private
//! LAN addresses, `.local` hosts and the Android emulator's `10.0.2.2`, and there a code
//! hands over at most the `limited` operator (no `operator.admin`), because anyone on the
//! network could read the bearer token and race the phone with it; `wss://` (or loopback)
//! allows `full`.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

use crate::pairing::BootstrapProfile;

/// What the gateway knows about the URLs it is reached at, besides its bound addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupUrls {
    /// `gateway.tls.enabled`: bare hosts and bound addresses are `wss://`.
    pub tls: bool,
    /// `gateway.remote.url`, when set (a gateway that also knows its public name).
    pub remote_url: Option<String>,
    /// `plugins.entries.device-pair.config.publicUrl`: the URL codes carry unless the
    /// request names one or prefers `gateway.remote.url`.
    pub public_url: Option<String>,
}

/// A `device.pair.setupCode` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupRequest {
    /// `publicUrl`: the URL to put in the code.
    pub public_url: Option<String>,
    /// `preferRemoteUrl`: `gateway.remote.url` before the Tailscale URL.
    pub prefer_remote: bool,
    /// `bootstrapProfile` (`None`: full access where the URL allows it).
    pub profile: Option<BootstrapProfile>,
    /// `joinUrl: true`: also a single-use join URL (node codes only).
    pub join_url: bool,
}

/// Where a setup code points and what it hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The gateway URL.
    pub url: String,
    /// Where the URL came from (`request.publicUrl`, `gateway.remote.url`, …).
    pub source: String,
    /// What the code hands over.
    pub profile: BootstrapProfile,
    /// Full access was asked for (by default) but the URL allows only `limited`.
    pub downgraded: bool,
}

/// The facts about this gateway a setup URL is chosen from.
pub struct Facts<'a> {
    /// See [`SetupUrls`].
    pub urls: &'a SetupUrls,
    /// The Tailscale Serve/Funnel URL (`https://host.tailnet.ts.net`), when serving.
    pub tailscale: Option<&'a str>,
    /// The addresses the gateway is bound to (`ip:port`).
    pub bind_addrs: &'a [String],
    /// `gateway.bind` as configured.
    pub bind_mode: &'a str,
    /// The port.
    pub port: u16,
    /// This host's LAN address, for a gateway bound to every interface.
    pub lan_address: Option<IpAddr>,
}

const SECURE_FIX: &str = "Tailscale and public mobile pairing require a secure gateway URL (wss://) or Tailscale Serve/Funnel. Fix: use a private LAN address, set gateway.tailscale.mode=serve, or pass a wss:// URL (publicUrl; `openclaw qr --url wss://…`). ws:// is only valid for localhost, private LAN addresses, .local hosts, or the Android emulator";

/// Picks the URL (OpenClaw's order: the request's `publicUrl`; `gateway.remote.url` when
/// preferred; the Tailscale Serve URL; `gateway.remote.url`; a bound LAN, tailnet or custom
/// address) and the access it allows. `Err`: why no code can be made, with the fix.
pub fn resolve(req: &SetupRequest, f: &Facts<'_>) -> Result<Resolved, String> {
    let secure = f.urls.tls;
    let remote = match f.urls.remote_url.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => {
            Some(normalize_url(r, secure).ok_or("Configured gateway.remote.url is invalid.")?)
        }
        _ => None,
    };
    let configured = f
        .urls
        .public_url
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty() && !req.prefer_remote);
    let (url, source) = if let Some(p) = req.public_url.as_deref() {
        let url = normalize_url(p, secure).ok_or_else(|| {
            format!(
                "publicUrl {:?} is not a gateway URL. Fix: pass ws://host:port or wss://host",
                p.chars().take(200).collect::<String>()
            )
        })?;
        (url, "request.publicUrl".to_owned())
    } else if let Some(p) = configured {
        let url = normalize_url(p, secure)
            .ok_or("Configured plugins.entries.device-pair.config.publicUrl is invalid.")?;
        (
            url,
            "plugins.entries.device-pair.config.publicUrl".to_owned(),
        )
    } else if let (true, Some(r)) = (req.prefer_remote, &remote) {
        (r.clone(), "gateway.remote.url".to_owned())
    } else if let Some(ts) = f.tailscale.and_then(|t| normalize_url(t, true)) {
        (ts, "gateway.tailscale.mode".to_owned())
    } else if let Some(r) = remote {
        (r, "gateway.remote.url".to_owned())
    } else {
        let scheme = if secure { "wss" } else { "ws" };
        let bound: Vec<IpAddr> = f
            .bind_addrs
            .iter()
            .filter_map(|a| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
            .collect();
        let host = bound
            .iter()
            .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
            .copied()
            .or_else(|| {
                bound
                    .iter()
                    .any(IpAddr::is_unspecified)
                    .then_some(f.lan_address)
                    .flatten()
            });
        let Some(ip) = host else {
            if bound.iter().any(IpAddr::is_unspecified) {
                return Err(format!(
                    "The gateway listens on every interface (gateway.bind={}) but this host has no private LAN address to put in a code. Fix: pass the URL devices reach this gateway at (publicUrl; `openclaw qr --url ws://<host>:<port>`), or enable tailscale serve",
                    f.bind_mode
                ));
            }
            return Err("Gateway is only bound to loopback. Set gateway.bind=lan, enable tailscale serve, or pass the URL the device reaches this gateway at (publicUrl; `openclaw qr --url ws://<host>:<port>`), e.g. the loopback end of an SSH tunnel".to_owned());
        };
        let host = match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        (
            format!("{scheme}://{host}:{}", f.port),
            format!("gateway.bind={}", f.bind_mode),
        )
    };
    let (scheme_secure, host) = split_url(&url).ok_or("Resolved mobile pairing URL is invalid.")?;
    if !scheme_secure && !cleartext_allowed(&host) {
        return Err(format!("{SECURE_FIX}. Resolved source: {source}."));
    }
    let full_ok = scheme_secure || is_loopback_host(&host);
    let (profile, downgraded) = match req.profile {
        None if full_ok => (BootstrapProfile::MobileFull, false),
        None => (BootstrapProfile::Limited, true),
        Some(p) => (p, false),
    };
    Ok(Resolved {
        url,
        source,
        profile,
        downgraded,
    })
}

/// Outstanding join codes at most (the oldest goes first).
pub const JOIN_CODES_MAX: usize = 32;

/// Single-use join URLs (OpenClaw's `joinUrl`, `openclaw devices join-code`): a random
/// 128-bit shortcode under which `GET /j/<shortcode>` answers a setup payload once, until
/// the code's own expiry. Kept in memory only (the payload holds the bootstrap token), by
/// the shortcode's SHA-256.
#[derive(Debug, Default)]
pub struct JoinCodes(std::sync::Mutex<Vec<JoinEntry>>);

#[derive(Debug)]
struct JoinEntry {
    hash: [u8; 32],
    payload: String,
    expires_at_ms: u64,
}

impl JoinCodes {
    /// Registers `payload` (the setup payload's JSON) until `expires_at_ms`; the shortcode.
    pub fn register(&self, payload: String, expires_at_ms: u64, now_ms: u64) -> String {
        let code = URL_SAFE_NO_PAD.encode(crate::util::random_bytes::<16>());
        let mut codes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        codes.retain(|e| e.expires_at_ms > now_ms);
        while codes.len() >= JOIN_CODES_MAX {
            codes.remove(0);
        }
        codes.push(JoinEntry {
            hash: sha2::Sha256::digest(code.as_bytes()).into(),
            payload,
            expires_at_ms,
        });
        code
    }

    /// The payload of `shortcode`, once (it is burnt); `None` when unknown or expired.
    pub fn redeem(&self, shortcode: &str, now_ms: u64) -> Option<String> {
        if !is_join_code(shortcode) {
            return None;
        }
        let hash: [u8; 32] = sha2::Sha256::digest(shortcode.as_bytes()).into();
        let mut codes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        codes.retain(|e| e.expires_at_ms > now_ms);
        let i = codes.iter().position(|e| e.hash == hash)?;
        Some(codes.remove(i).payload)
    }
}

/// OpenClaw's shortcode shape: 22 base64url characters (128 bits).
pub fn is_join_code(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The base of a join URL for a setup URL: `https://` for `wss://`, `http://` only for a
/// loopback `ws://` (OpenClaw's rule; a join URL fetched over plaintext from afar would hand
/// the token to anyone on the way).
pub fn join_base(url: &str) -> Result<String, String> {
    let refuse = || {
        "Join URLs require a TLS gateway endpoint, except for loopback. Use the setup code directly for plaintext LAN pairing.".to_owned()
    };
    if let Some(rest) = url.strip_prefix("wss://") {
        return Ok(format!("https://{}", rest.trim_end_matches('/')));
    }
    let (secure, host) = split_url(url).ok_or_else(refuse)?;
    match url.strip_prefix("ws://") {
        Some(rest) if !secure && is_loopback_host(&host) => {
            Ok(format!("http://{}", rest.trim_end_matches('/')))
        }
        _ => Err(refuse()),
    }
}

/// The setup payload's JSON (`{"url", "bootstrapToken", "expiresAtMs"}`, OpenClaw's order).
pub fn payload_json(url: &str, bootstrap_token: &str, expires_at_ms: u64) -> String {
    format!(
        "{{\"url\":{},\"bootstrapToken\":{},\"expiresAtMs\":{expires_at_ms}}}",
        serde_json::Value::from(url),
        serde_json::Value::from(bootstrap_token)
    )
}

/// The setup code: base64url (no padding) of `{"url", "bootstrapToken", "expiresAtMs"}`.
pub fn encode(url: &str, bootstrap_token: &str, expires_at_ms: u64) -> String {
    URL_SAFE_NO_PAD.encode(payload_json(url, bootstrap_token, expires_at_ms))
}

/// What is wrong with a gateway URL ([`GatewayUrl::parse`]), for callers to word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlProblem {
    /// Nothing given.
    Empty,
    /// Spaces or control characters, or longer than 2048 bytes.
    Malformed,
    /// An `http(s)://` URL where those are not read as `ws(s)://` (`secure`: `https`).
    Http {
        /// `https://`.
        secure: bool,
    },
    /// Another scheme (or a bare host where none is taken).
    Scheme,
    /// A bare `host[:port]` followed by a path, query or fragment.
    BareWithPath,
    /// A query or a fragment.
    QueryOrFragment,
    /// `user:password@`.
    Credentials,
    /// The host or port is wrong: what, as a phrase (`has no host`, `has an invalid port
    /// (use 1-65535)`, …).
    Authority(&'static str),
}

/// A gateway URL, `ws[s]://host[:port][/path]`: the one reading of gateway URLs that
/// setup codes, `openclaw qr --url` and `openclaw node run --pair` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUrl {
    /// `wss://`.
    pub secure: bool,
    /// The host, lower case (an IPv6 literal without brackets).
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
    /// The path prefix without a trailing `/` (`""`: none).
    pub path: String,
}

impl GatewayUrl {
    /// Reads `raw` (trimmed). `bare`: a `host[:port]` without a scheme is taken, as `wss`
    /// when `Some(true)` (`None`: refused as [`UrlProblem::Scheme`]); `http`: `http(s)://`
    /// reads as `ws(s)://` (else [`UrlProblem::Http`]).
    pub fn parse(raw: &str, bare: Option<bool>, http: bool) -> Result<Self, UrlProblem> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlProblem::Empty);
        }
        if raw.len() > 2048 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlProblem::Malformed);
        }
        let (secure, rest) = match raw.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" => (false, rest),
                "wss" => (true, rest),
                "http" | "https" if http => (scheme.len() == 5, rest),
                "http" | "https" => {
                    return Err(UrlProblem::Http {
                        secure: scheme.len() == 5,
                    });
                }
                _ => return Err(UrlProblem::Scheme),
            },
            None => match bare {
                None => return Err(UrlProblem::Scheme),
                Some(_) if raw.contains(['/', '?', '#']) => {
                    return Err(UrlProblem::BareWithPath);
                }
                Some(secure) => (secure, raw),
            },
        };
        if rest.contains(['?', '#']) {
            return Err(UrlProblem::QueryOrFragment);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UrlProblem::Credentials);
        }
        let (host, port) = split_authority(authority).map_err(UrlProblem::Authority)?;
        Ok(Self {
            secure,
            host: host.to_ascii_lowercase(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL written out, `ws[s]://host[:port][/path]` (an IPv6 host in brackets).
    pub fn to_url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{scheme}://{host}:{p}{}", self.path),
            None => format!("{scheme}://{host}{}", self.path),
        }
    }
}

/// `host[:port]` (an IPv6 literal in brackets) as host and port; `Err` says what is wrong.
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    if authority.is_empty() {
        return Err("has no host");
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("has an unclosed [ (an IPv6 address goes in brackets)")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has no valid host name or address");
        }
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("has text after the IPv6 address"),
        };
        (v6, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.contains(':') {
            return Err("has an IPv6 address without brackets (write [addr]:port)");
        }
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err("has no valid host name or address");
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("has an invalid port (use 1-65535)")?,
        ),
    };
    Ok((host, port))
}

/// `raw` as `ws[s]://host[:port][/path]`: `http(s)` reads as `ws(s)`, a bare `host[:port]`
/// takes `ws` (`wss` when `secure`); credentials in the URL, a query or another scheme are
/// refused.
pub fn normalize_url(raw: &str, secure: bool) -> Option<String> {
    GatewayUrl::parse(raw, Some(secure), true)
        .ok()
        .map(|u| u.to_url())
}

/// `(secure, host)` of a normalized URL (the host without brackets).
fn split_url(url: &str) -> Option<(bool, String)> {
    GatewayUrl::parse(url, None, false)
        .ok()
        .map(|u| (u.secure, u.host))
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a plaintext `ws://` URL may name `host` (OpenClaw's list).
fn cleartext_allowed(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if is_loopback_host(&host) || host == "10.0.2.2" || host.ends_with(".local") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments()[0];
            (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
        }
        Err(_) => false,
    }
}

/// This host's LAN address: the source address the kernel picks toward a private network
/// (a UDP `connect`, which sends nothing). `None` unless it is a private LAN address.
pub fn lan_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.168.255.255:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    match ip {
        IpAddr::V4(v4) if v4.is_private() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(urls: &'a SetupUrls, bind: &'a [String], ts: Option<&'a str>) -> Facts<'a> {
        Facts {
            urls,
            tailscale: ts,
            bind_addrs: bind,
            bind_mode: "lan",
            port: 18789,
            lan_address: "192.168.1.20".parse().ok(),
        }
    }

    #[test]
    fn urls_normalize_like_openclaw() {
        for (raw, secure, want) in [
            ("ws://127.0.0.1:18789", false, Some("ws://127.0.0.1:18789")),
            (
                "WSS://Gateway.Example/",
                false,
                Some("wss://gateway.example"),
            ),
            (
                "https://gw.example.ts.net",
                false,
                Some("wss://gw.example.ts.net"),
            ),
            (
                "http://192.168.1.2:80/gw",
                false,
                Some("ws://192.168.1.2:80/gw"),
            ),
            ("192.168.1.2:18789", false, Some("ws://192.168.1.2:18789")),
            ("gw.example", true, Some("wss://gw.example")),
            ("ws://[fe80::1]:18789", false, Some("ws://[fe80::1]:18789")),
            ("ws://user:pw@host", false, None),
            ("ftp://host", false, None),
            ("ws://host:0", false, None),
            ("ws://host:99999", false, None),
            ("ws://host/?q=1", false, None),
            ("ws://ho st", false, None),
            ("", false, None),
            ("ws://", false, None),
            ("ws://[nothex]:1", false, None),
        ] {
            assert_eq!(normalize_url(raw, secure).as_deref(), want, "{raw}");
        }
        // Anything else is refused or read, never a panic.
        for raw in [
            "ws://[",
            "ws://[]:",
            "ws://[::1",
            "ws://é",
            "wss://a:b:c",
            "ws://a/é",
            "WSS://",
            "ws://:80",
            "ws://a:",
            "é://x",
            "wsé://x",
            "ws://a\u{0}b",
            "[::1]:18789",
            ":",
            "/",
            "ws://a@",
            "ws://\u{1F600}",
            "ws://xn--d1acufc.xn--p1ai:443/путь",
        ] {
            let _ = normalize_url(raw, false);
            let _ = normalize_url(raw, true);
        }
    }

    #[test]
    fn the_url_is_chosen_in_openclaws_order_and_cleartext_limits_access() {
        let urls = SetupUrls::default();
        let lan = ["0.0.0.0:18789".to_owned()];
        // A LAN bind: the host's LAN address, plaintext, so limited.
        let r = resolve(&SetupRequest::default(), &facts(&urls, &lan, None)).expect("lan");
        assert_eq!(r.url, "ws://192.168.1.20:18789");
        assert_eq!(r.source, "gateway.bind=lan");
        assert_eq!(r.profile, BootstrapProfile::Limited);
        assert!(r.downgraded);
        // Tailscale Serve wins over the bind, and is full.
        let r = resolve(
            &SetupRequest::default(),
            &facts(&urls, &lan, Some("https://box.tail1234.ts.net")),
        )
        .expect("tailscale");
        assert_eq!(r.url, "wss://box.tail1234.ts.net");
        assert_eq!(r.profile, BootstrapProfile::MobileFull);
        assert!(!r.downgraded);
        // The request's URL wins over everything; loopback is full.
        let req = SetupRequest {
            public_url: Some("ws://127.0.0.1:18789".into()),
            ..SetupRequest::default()
        };
        let r = resolve(&req, &facts(&urls, &lan, Some("https://x.ts.net"))).expect("public");
        assert_eq!(
            (r.url.as_str(), r.source.as_str(), r.profile),
            (
                "ws://127.0.0.1:18789",
                "request.publicUrl",
                BootstrapProfile::MobileFull
            )
        );
        // A named profile is kept.
        let req = SetupRequest {
            profile: Some(BootstrapProfile::Node),
            ..req
        };
        assert_eq!(
            resolve(&req, &facts(&urls, &lan, None))
                .expect("node")
                .profile,
            BootstrapProfile::Node
        );
        // Plaintext to a public or tailnet address is refused, naming the fix.
        for bad in [
            "ws://203.0.113.7:18789",
            "ws://100.101.102.103:18789",
            "ws://gw.example",
        ] {
            let req = SetupRequest {
                public_url: Some(bad.into()),
                ..SetupRequest::default()
            };
            let e = resolve(&req, &facts(&urls, &lan, None)).expect_err(bad);
            assert!(e.contains("require a secure gateway URL (wss://)"), "{e}");
        }
        // Every interface but no LAN address known: say so.
        let f = Facts {
            lan_address: None,
            ..facts(&urls, &lan, None)
        };
        let e = resolve(&SetupRequest::default(), &f).expect_err("no lan address");
        assert!(e.contains("no private LAN address"), "{e}");
        // Only loopback bound: no URL to hand out.
        let lo = ["127.0.0.1:18789".to_owned(), "[::1]:18789".to_owned()];
        let e = resolve(&SetupRequest::default(), &facts(&urls, &lo, None)).expect_err("loopback");
        assert!(e.starts_with("Gateway is only bound to loopback"), "{e}");
        // gateway.remote.url: after Tailscale unless preferred.
        let urls = SetupUrls {
            tls: false,
            remote_url: Some("wss://gw.example.com".into()),
            public_url: None,
        };
        let r = resolve(&SetupRequest::default(), &facts(&urls, &lo, None)).expect("remote");
        assert_eq!(
            (r.url.as_str(), r.source.as_str()),
            ("wss://gw.example.com", "gateway.remote.url")
        );
        let r = resolve(
            &SetupRequest::default(),
            &facts(&urls, &lo, Some("https://t.ts.net")),
        )
        .expect("tailscale first");
        assert_eq!(r.url, "wss://t.ts.net");
        let req = SetupRequest {
            prefer_remote: true,
            ..SetupRequest::default()
        };
        let r = resolve(&req, &facts(&urls, &lo, Some("https://t.ts.net"))).expect("preferred");
        assert_eq!(r.url, "wss://gw.example.com");
        // The configured publicUrl comes before them, unless the remote URL is preferred.
        let urls = SetupUrls {
            public_url: Some("wss://pair.example".into()),
            ..urls
        };
        let r = resolve(
            &SetupRequest::default(),
            &facts(&urls, &lo, Some("https://t.ts.net")),
        )
        .expect("configured");
        assert_eq!(
            (r.url.as_str(), r.source.as_str()),
            (
                "wss://pair.example",
                "plugins.entries.device-pair.config.publicUrl"
            )
        );
        let r = resolve(&req, &facts(&urls, &lo, None)).expect("preferred over configured");
        assert_eq!(r.url, "wss://gw.example.com");
    }

    #[test]
    fn join_codes_answer_once_until_they_expire() {
        let codes = JoinCodes::default();
        let code = codes.register("{\"url\":1}".into(), 1_000, 0);
        assert!(is_join_code(&code), "{code}");
        assert_eq!(codes.redeem("AAAAAAAAAAAAAAAAAAAAAA", 10), None);
        assert_eq!(codes.redeem(&code, 10).as_deref(), Some("{\"url\":1}"));
        assert_eq!(codes.redeem(&code, 10), None, "burnt");
        let late = codes.register("x".into(), 1_000, 0);
        assert_eq!(codes.redeem(&late, 1_000), None, "expired");
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAA/",
            "AAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(!is_join_code(bad), "{bad}");
        }
        let first = codes.register("first".into(), 5_000, 0);
        for _ in 0..JOIN_CODES_MAX {
            codes.register("more".into(), 5_000, 0);
        }
        assert_eq!(codes.redeem(&first, 1), None, "the oldest went");
        assert_eq!(
            join_base("wss://gw.example/openclaw").as_deref(),
            Ok("https://gw.example/openclaw")
        );
        assert_eq!(
            join_base("ws://127.0.0.1:18789").as_deref(),
            Ok("http://127.0.0.1:18789")
        );
        assert!(join_base("ws://192.168.1.2:18789").is_err());
    }

    #[test]
    fn the_code_is_base64url_json_in_openclaws_key_order() {
        let code = encode("ws://127.0.0.1:18801", "tok-_en", 1_796_436_168_376);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{code}"
        );
        let json = URL_SAFE_NO_PAD.decode(&code).expect("base64url");
        assert_eq!(
            String::from_utf8(json).expect("utf8"),
            r#"{"url":"ws://127.0.0.1:18801","bootstrapToken":"tok-_en","expiresAtMs":1796436168376}"#
        );
    }
}
