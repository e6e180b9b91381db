//! Outbound proxies for the gateway's own HTTP clients (model providers, the Telegram Bot
//! API, speech, `web_search` and `web_fetch`), as OpenClaw routes its egress
//! (`docs/security/network-proxy.md`, `docs/channels/telegram/troubleshooting.md`):
//!
//! - **Managed**: `proxy.proxyUrl`, else `OPENCLAW_PROXY_URL` (`proxy.enabled: false` keeps
//!   the URL without using it). Every destination goes through it; loopback ones
//!   (`localhost`, `127.0.0.0/8`, `::1`, the unspecified addresses) go direct unless `proxy.loopbackMode` is `proxy`
//!   (through it too) or `block` (refused). `NO_PROXY` does not apply.
//! - **Environment**: without a managed proxy, `https_proxy` / `HTTPS_PROXY` for `https://`
//!   destinations, `http_proxy` / `HTTP_PROXY` for `http://` ones, `all_proxy` /
//!   `ALL_PROXY` for either (lower case first), minus `no_proxy` / `NO_PROXY` (host names,
//!   domain suffixes, addresses, CIDR blocks, `*`); loopback always goes direct.
//! - **One channel's own**: `channels.telegram.proxy` (and per account) takes every request
//!   of that bot, loopback included.
//!
//! Every destination, `https://` or plain, goes through a **tunnel**: HTTP `CONNECT` for an
//! `http://` proxy, SOCKS5 (RFC 1928; user and password, RFC 1929) for `socks5://` (names
//! resolved here) and `socks5h://` (names resolved by the proxy). A destination's TLS runs
//! end to end inside the tunnel, its certificate checked exactly as without a proxy; the
//! proxy sees only the host and port. An `https://` proxy endpoint (TLS to the proxy
//! itself) is refused with the fix. `web_fetch`'s destinations are resolved and checked
//! here and the tunnel is asked for the checked address, so the proxy's own DNS cannot
//! send a fetch somewhere the SSRF policy forbids.
//!
//! A proxy URL's credentials never appear in a log line or error: [`ProxyUrl`] shows
//! itself as `http://<redacted>@host:port`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest answer head an HTTP proxy may send to `CONNECT`.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Most addresses of one destination tried through a proxy.
const MAX_TRIES: usize = 4;

/// Bound of one tunnel's set-up (connecting to the proxy and its handshake).
const TUNNEL_TIMEOUT: Duration = Duration::from_secs(30);

/// How a proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `http://`: HTTP `CONNECT`.
    Http,
    /// `socks5://`: SOCKS5, destination names resolved here.
    Socks5,
    /// `socks5h://`: SOCKS5, destination names resolved by the proxy.
    Socks5h,
}

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }
}

/// A proxy endpoint (`scheme://[user:password@]host[:port]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    kind: Kind,
    /// Host name or address (no brackets).
    host: String,
    port: u16,
    /// User and password, percent-decoded.
    auth: Option<(String, String)>,
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let creds = if self.auth.is_some() {
            "<redacted>@"
        } else {
            ""
        };
        if self.host.contains(':') {
            write!(
                f,
                "{}://{creds}[{}]:{}",
                self.kind.scheme(),
                self.host,
                self.port
            )
        } else {
            write!(
                f,
                "{}://{creds}{}:{}",
                self.kind.scheme(),
                self.host,
                self.port
            )
        }
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

impl ProxyUrl {
    /// Parses a proxy URL; `socks` allows `socks5://` and `socks5h://` besides `http://`.
    /// The error never repeats the URL (it may hold a password).
    pub fn parse(raw: &str, socks: bool) -> Result<Self, String> {
        let raw = raw.trim();
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err("is not a proxy URL. Fix: write it as http://host:port (or http://user:password@host:port)".into());
        };
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => Kind::Http,
            "socks5" if socks => Kind::Socks5,
            "socks5h" if socks => Kind::Socks5h,
            "https" => {
                return Err("is an https:// proxy endpoint (TLS to the proxy itself), which this gateway does not speak. Fix: use the proxy's plain http:// port; the destination's TLS still runs end to end through the CONNECT tunnel".into());
            }
            other => {
                let shown: String = other.chars().take(16).collect();
                return Err(format!(
                    "has the scheme {shown:?}. Fix: use {}",
                    if socks {
                        "http://, socks5:// or socks5h://"
                    } else {
                        "http:// (a SOCKS proxy can be set for one channel, e.g. channels.telegram.proxy)"
                    }
                ));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#']) {
            return Err(
                "must be only scheme://host:port, without a path or query. Fix: e.g. http://127.0.0.1:3128"
                    .into(),
            );
        }
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = crate::http::openai::percent_decode;
                let (Some(user), Some(pass)) = (decode(user), decode(pass)) else {
                    return Err("has a user or password with a bad %-escape. Fix: write each special character of the credentials as %XX (e.g. @ as %40)".into());
                };
                (Some((user, pass)), hp)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or("has an unclosed [ in its host. Fix: e.g. http://[::1]:3128")?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && (host.parse::<IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')));
        if !valid_host {
            return Err("has no valid host. Fix: e.g. http://127.0.0.1:3128".into());
        }
        let port = match port {
            None => match kind {
                Kind::Http => 80,
                Kind::Socks5 | Kind::Socks5h => 1080,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err("has an invalid port. Fix: a port from 1 to 65535".into()),
            },
        };
        if let Some((user, pass)) = &auth
            && kind != Kind::Http
            && (user.is_empty() || user.len() > 255 || pass.len() > 255)
        {
            return Err("has a SOCKS5 user or password that is empty or longer than 255 bytes. Fix: check the credentials".into());
        }
        Ok(Self {
            kind,
            host: host.to_ascii_lowercase(),
            port,
            auth,
        })
    }

    /// The password, for the log redactor.
    pub fn password(&self) -> Option<&str> {
        self.auth.as_ref().map(|(_, p)| p.as_str())
    }

    /// How it is spoken to.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// What loopback destinations do when a managed proxy is set (`proxy.loopbackMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopbackMode {
    /// Direct (the default).
    #[default]
    GatewayOnly,
    /// Through the proxy.
    Proxy,
    /// Refused.
    Block,
}

impl LoopbackMode {
    /// `gateway-only`, `proxy` or `block`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gateway-only" => Some(Self::GatewayOnly),
            "proxy" => Some(Self::Proxy),
            "block" => Some(Self::Block),
            _ => None,
        }
    }
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq)]
enum Bypass {
    /// `*`.
    All,
    /// An address or CIDR block.
    Net(openclaw_actors::auth::Cidr),
    /// A host name and its subdomains (`example.com`, `.example.com`, `*.example.com`).
    Domain(String),
}

/// Where the gateway's egress goes (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Egress {
    /// The managed proxy, its loopback mode and where it came from.
    managed: Option<(Arc<ProxyUrl>, LoopbackMode, &'static str)>,
    /// `https_proxy` (else `all_proxy`).
    env_https: Option<Arc<ProxyUrl>>,
    /// `http_proxy` (else `all_proxy`).
    env_http: Option<Arc<ProxyUrl>>,
    /// `no_proxy`.
    no_proxy: Vec<Bypass>,
}

/// Where one connection goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Straight to the destination.
    Direct,
    /// Through this proxy.
    Via(Arc<ProxyUrl>),
    /// Not at all (why).
    Blocked(String),
}

/// Whether `host` (lower case, no brackets) is a loopback destination: `localhost`, a
/// loopback address, or the unspecified one (`0.0.0.0`, `::`), which reaches this host's
/// listeners too.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| {
            let ip = openclaw_actors::auth::canonical_ip(ip);
            ip.is_loopback() || ip.is_unspecified()
        })
}

impl Egress {
    /// From the config's `proxy` section (`enabled`, `proxyUrl`, `loopbackMode`) and the
    /// environment (`var`). Errors name the key and the fix; `warnings` gets environment
    /// values that are ignored.
    pub fn resolve(
        enabled: Option<bool>,
        proxy_url: Option<&str>,
        loopback_mode: Option<&str>,
        var: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, String> {
        let loopback = match loopback_mode {
            None => LoopbackMode::default(),
            Some(m) => LoopbackMode::parse(m).ok_or_else(|| {
                let shown: String = m.chars().take(32).collect();
                format!(
                    "proxy.loopbackMode is {shown:?}. Fix: use \"gateway-only\" (the default), \"proxy\" or \"block\""
                )
            })?,
        };
        let mut out = Self::default();
        if enabled != Some(false) {
            let configured = proxy_url
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| ("proxy.proxyUrl", u.to_owned()));
            let from_env = || {
                var("OPENCLAW_PROXY_URL")
                    .filter(|u| !u.trim().is_empty())
                    .map(|u| ("OPENCLAW_PROXY_URL", u))
            };
            if let Some((source, url)) = configured.or_else(from_env) {
                let p = ProxyUrl::parse(&url, false).map_err(|e| format!("{source} {e}"))?;
                out.managed = Some((Arc::new(p), loopback, source));
                return Ok(out);
            }
        }
        let mut env_proxy = |names: [&str; 2]| -> Option<Arc<ProxyUrl>> {
            let (name, url) = names
                .iter()
                .find_map(|n| var(n).filter(|u| !u.trim().is_empty()).map(|u| (*n, u)))?;
            match ProxyUrl::parse(&url, true) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    warnings.push(format!(
                        "the environment variable {name} {e}; it is ignored and those requests go direct"
                    ));
                    None
                }
            }
        };
        let all = env_proxy(["all_proxy", "ALL_PROXY"]);
        out.env_https = env_proxy(["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
        out.env_http = env_proxy(["http_proxy", "HTTP_PROXY"]).or(all);
        if out.env_https.is_some() || out.env_http.is_some() {
            let list = var("no_proxy")
                .or_else(|| var("NO_PROXY"))
                .unwrap_or_default();
            out.no_proxy = list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    if e == "*" {
                        return Bypass::All;
                    }
                    let bare = e.trim_start_matches('[').trim_end_matches(']');
                    match openclaw_actors::auth::Cidr::parse(bare) {
                        Ok(c) => Bypass::Net(c),
                        Err(_) => {
                            let host = e.rsplit_once(':').map_or(e, |(h, p)| {
                                if p.bytes().all(|b| b.is_ascii_digit()) {
                                    h
                                } else {
                                    e
                                }
                            });
                            Bypass::Domain(
                                host.trim_start_matches('*')
                                    .trim_start_matches('.')
                                    .trim_end_matches('.')
                                    .to_ascii_lowercase(),
                            )
                        }
                    }
                })
                .collect();
        }
        Ok(out)
    }

    /// The proxies in use, for the start-up line (credentials redacted); empty: none.
    pub fn describe(&self) -> String {
        if let Some((p, mode, source)) = &self.managed {
            let mode = match mode {
                LoopbackMode::GatewayOnly => "loopback direct",
                LoopbackMode::Proxy => "loopback through it too",
                LoopbackMode::Block => "loopback refused",
            };
            return format!("egress through {p} (from {source}; {mode})");
        }
        match (&self.env_https, &self.env_http) {
            (None, None) => String::new(),
            (s, h) => format!(
                "egress through {} for https:// and {} for http:// (from the environment; {} NO_PROXY entr{}, loopback direct)",
                s.as_ref().map_or("nothing".into(), |p| p.to_string()),
                h.as_ref().map_or("nothing".into(), |p| p.to_string()),
                self.no_proxy.len(),
                if self.no_proxy.len() == 1 { "y" } else { "ies" }
            ),
        }
    }

    /// The passwords of the proxies in use, for the log redactor.
    pub fn passwords(&self) -> Vec<String> {
        let managed = self.managed.as_ref().map(|(p, _, _)| p);
        [managed, self.env_https.as_ref(), self.env_http.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| p.password().map(str::to_owned))
            .collect()
    }

    /// Where a connection to `host` (lower case, no brackets) port `port` goes; `tls`: an
    /// `https://` (or `wss://`) destination.
    pub fn route(&self, host: &str, port: u16, tls: bool) -> Route {
        let loopback = is_loopback(host);
        if let Some((p, mode, source)) = &self.managed {
            return match (loopback, mode) {
                (false, _) | (true, LoopbackMode::Proxy) => Route::Via(p.clone()),
                (true, LoopbackMode::GatewayOnly) => Route::Direct,
                (true, LoopbackMode::Block) => Route::Blocked(format!(
                    "{host}:{port} is a loopback destination and proxy.loopbackMode is \"block\" (proxy from {source}). Fix: set proxy.loopbackMode to \"gateway-only\" to reach local services directly"
                )),
            };
        }
        let Some(p) = (if tls { &self.env_https } else { &self.env_http }) else {
            return Route::Direct;
        };
        if loopback || self.bypassed(host) {
            return Route::Direct;
        }
        Route::Via(p.clone())
    }

    fn bypassed(&self, host: &str) -> bool {
        let ip = host.parse::<IpAddr>().ok();
        self.no_proxy.iter().any(|b| match b {
            Bypass::All => true,
            Bypass::Net(c) => ip.is_some_and(|ip| c.contains(ip)),
            Bypass::Domain(d) => {
                !d.is_empty()
                    && (host == d
                        || host
                            .strip_suffix(d.as_str())
                            .is_some_and(|pre| pre.ends_with('.')))
            }
        })
    }
}

/// The egress in force (none until the gateway installs one).
static EGRESS: RwLock<Option<Arc<Egress>>> = RwLock::new(None);

/// Bumped by every change of the egress: HTTP clients made before it are dropped with their
/// pooled connections, so no request rides a connection routed under the old settings.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The egress's generation (see [`GENERATION`]).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Puts `e` in force for every connection opened from now on (at start and on reload).
pub fn install(e: Egress) {
    if let Ok(mut g) = EGRESS.write()
        && g.as_deref() != Some(&e)
    {
        if g.is_some() {
            let line = e.describe();
            log::warn!(
                "{}",
                if line.is_empty() {
                    "egress direct (no proxy)".to_owned()
                } else {
                    line
                }
            );
        }
        *g = Some(Arc::new(e));
        GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Where a connection to `host:port` goes under the egress in force.
pub fn route(host: &str, port: u16, tls: bool) -> Route {
    match EGRESS.read() {
        Ok(g) => g
            .as_ref()
            .map_or(Route::Direct, |e| e.route(host, port, tls)),
        Err(_) => Route::Direct,
    }
}

/// What a tunnel is asked to reach.
#[derive(Debug, Clone)]
pub enum Target {
    /// A host name (or address literal) and port.
    Name(String, u16),
    /// Addresses already resolved and checked here; tried in order.
    Addrs(Vec<SocketAddr>),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            Self::Name(h, p) => write!(f, "{h}:{p}"),
            Self::Addrs(a) => match a.first() {
                Some(first) => write!(f, "{first}"),
                None => write!(f, "no address"),
            },
        }
    }
}

fn err(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// A stream to `target` through `proxy`, ready for the destination's own protocol (TLS,
/// HTTP). Bounded by [`TUNNEL_TIMEOUT`].
pub async fn tunnel(proxy: &ProxyUrl, target: Target) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(TUNNEL_TIMEOUT, tunnel_inner(proxy, target)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "proxy {proxy} did not open a tunnel within {} s",
                TUNNEL_TIMEOUT.as_secs()
            ),
        )),
    }
}

async fn tunnel_inner(proxy: &ProxyUrl, target: Target) -> std::io::Result<TcpStream> {
    // `socks5://` resolves names here; the others hand the name to the proxy.
    let targets: Vec<Target> = match (&target, proxy.kind) {
        (Target::Name(h, p), Kind::Socks5) if h.parse::<IpAddr>().is_err() => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((h.as_str(), *p))
                .await
                .map_err(|e| err(format!("cannot resolve {h}: {e}")))?
                .collect();
            addrs.into_iter().map(|a| Target::Addrs(vec![a])).collect()
        }
        (Target::Addrs(a), _) => a.iter().map(|a| Target::Addrs(vec![*a])).collect(),
        (Target::Name(..), _) => vec![target.clone()],
    };
    let mut last = err(format!("{target} has no address"));
    for t in targets.into_iter().take(MAX_TRIES) {
        let mut s = TcpStream::connect((proxy.host.as_str(), proxy.port))
            .await
            .map_err(|e| err(format!("cannot reach proxy {proxy}: {e}")))?;
        let _ = s.set_nodelay(true);
        let (host, port) = match &t {
            Target::Name(h, p) => (h.clone(), *p),
            Target::Addrs(a) => match a.first() {
                Some(a) => (a.ip().to_string(), a.port()),
                None => continue,
            },
        };
        let done = match proxy.kind {
            Kind::Http => http_connect(&mut s, proxy, &host, port).await,
            Kind::Socks5 | Kind::Socks5h => socks5(&mut s, proxy, &host, port).await,
        };
        match done {
            Ok(()) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `CONNECT host:port` (with Basic credentials if any); `Ok` once the proxy answers 2xx.
async fn http_connect(
    s: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> std::io::Result<()> {
    use base64::Engine as _;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = &proxy.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        head.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    // The answer's head, read up to its blank line: nothing of the tunnel may follow it
    // before the client speaks, so anything more is a broken proxy.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(err(format!(
                "proxy {proxy} closed the connection before answering CONNECT {authority}"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_CONNECT_HEAD {
            return Err(err(format!(
                "proxy {proxy} sent an answer head longer than {MAX_CONNECT_HEAD} bytes"
            )));
        }
    };
    let status_line = buf
        .split(|&b| b == b'\r')
        .next()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let code = match (parts.next(), parts.next()) {
        (Some(v), Some(c)) if v.starts_with("HTTP/1.") => c.parse::<u16>().ok(),
        _ => None,
    };
    let shown: String = status_line
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    match code {
        Some(200..=299) if buf.len() == end => Ok(()),
        Some(200..=299) => Err(err(format!(
            "proxy {proxy} sent data after its CONNECT answer"
        ))),
        Some(407) => Err(err(format!(
            "proxy {proxy} wants credentials it was not given or refused them ({shown}). Fix: put the user and password in the proxy URL (http://user:password@host:port)"
        ))),
        Some(_) => Err(err(format!(
            "proxy {proxy} refused CONNECT {authority}: {shown}"
        ))),
        None => Err(err(format!(
            "proxy {proxy} did not answer CONNECT as an HTTP proxy ({shown:?})"
        ))),
    }
}

/// The SOCKS5 greeting, authentication and `CONNECT` (RFC 1928, RFC 1929).
async fn socks5(s: &mut TcpStream, proxy: &ProxyUrl, host: &str, port: u16) -> std::io::Result<()> {
    let methods: &[u8] = if proxy.auth.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    s.write_all(methods).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    if choice[0] != 5 {
        return Err(err(format!("proxy {proxy} does not speak SOCKS5")));
    }
    match (choice[1], &proxy.auth) {
        (0, _) => {}
        (2, Some((user, pass))) => {
            let mut m = Vec::with_capacity(3 + user.len() + pass.len());
            m.push(1);
            m.push(user.len() as u8);
            m.extend_from_slice(user.as_bytes());
            m.push(pass.len() as u8);
            m.extend_from_slice(pass.as_bytes());
            s.write_all(&m).await?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(err(format!(
                    "proxy {proxy} refused the user and password. Fix: check the credentials in the proxy URL"
                )));
            }
        }
        (2, None) => {
            return Err(err(format!(
                "proxy {proxy} wants a user and password. Fix: put them in the proxy URL (socks5://user:password@host:port)"
            )));
        }
        _ => {
            return Err(err(format!(
                "proxy {proxy} accepts none of the offered SOCKS5 authentication methods"
            )));
        }
    }
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let name = host.as_bytes();
            if name.len() > 255 {
                return Err(err(format!(
                    "{host:.64}… is too long a host name for SOCKS5"
                )));
            }
            req.push(3);
            req.push(name.len() as u8);
            req.extend_from_slice(name);
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(err(format!("proxy {proxy} sent a malformed SOCKS5 reply")));
    }
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "not allowed by its rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        return Err(err(format!(
            "proxy {proxy} could not connect to {shown}: {why}"
        )));
    }
    // The bound address, which is not needed.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            usize::from(len[0]) + 2
        }
        _ => return Err(err(format!("proxy {proxy} sent a malformed SOCKS5 reply"))),
    };
    let mut skip = [0u8; 258];
    s.read_exact(&mut skip[..rest]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn proxy_urls_parse_and_never_show_their_credentials() {
        let p =
            ProxyUrl::parse("http://al%40ice:s3cr%3At@Proxy.Example:3128/", false).expect("valid");
        assert_eq!(p.kind(), Kind::Http);
        assert_eq!(p.host, "proxy.example");
        assert_eq!(p.port, 3128);
        assert_eq!(p.auth, Some(("al@ice".to_owned(), "s3cr:t".to_owned())));
        assert_eq!(p.to_string(), "http://<redacted>@proxy.example:3128");
        assert!(!format!("{p:?}").contains("s3cr"));
        let v6 = ProxyUrl::parse("socks5h://[::1]:1080", true).expect("v6");
        assert_eq!(v6.to_string(), "socks5h://[::1]:1080");
        assert_eq!(
            ProxyUrl::parse("http://10.0.0.1", false).map(|p| p.port),
            Ok(80)
        );
        assert_eq!(
            ProxyUrl::parse("socks5://h", true).map(|p| p.port),
            Ok(1080)
        );
        for bad in [
            "127.0.0.1:3128",
            "https://u:hunter2@proxy:443",
            "ftp://proxy:21",
            "http://proxy:0",
            "http://proxy:99999",
            "http://proxy:3128/path",
            "http://:3128",
            "http://[::1:3128",
            "http://bad host:1",
            "http://u:p%zz@proxy:3128",
        ] {
            let e = ProxyUrl::parse(bad, true).expect_err(bad);
            assert!(e.contains("Fix:"), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        // SOCKS only where allowed.
        assert!(ProxyUrl::parse("socks5://h:1", false).is_err());
    }

    #[test]
    fn the_managed_proxy_takes_everything_but_loopback_and_ignores_no_proxy() {
        let mut w = Vec::new();
        let e = Egress::resolve(
            None,
            Some("http://proxy:3128"),
            None,
            &env(&[("NO_PROXY", "*"), ("HTTPS_PROXY", "http://other:1")]),
            &mut w,
        )
        .expect("valid");
        let via = |r: Route| match r {
            Route::Via(p) => p.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            via(e.route("api.telegram.org", 443, true)),
            "http://proxy:3128"
        );
        assert_eq!(via(e.route("10.1.2.3", 80, false)), "http://proxy:3128");
        assert_eq!(e.route("127.0.0.1", 11434, false), Route::Direct);
        assert_eq!(e.route("localhost", 80, false), Route::Direct);
        assert_eq!(e.route("::1", 80, false), Route::Direct);
        assert_eq!(e.route("::ffff:127.0.0.1", 80, false), Route::Direct);
        assert_eq!(e.route("0.0.0.0", 80, false), Route::Direct);
        assert_eq!(e.route("app.localhost", 80, false), Route::Direct);
        let through = Egress::resolve(None, Some("http://p:1"), Some("proxy"), &env(&[]), &mut w)
            .expect("valid");
        assert!(matches!(
            through.route("127.0.0.1", 1, false),
            Route::Via(_)
        ));
        let block = Egress::resolve(None, Some("http://p:1"), Some("block"), &env(&[]), &mut w)
            .expect("valid");
        assert!(
            matches!(block.route("localhost", 1, false), Route::Blocked(m) if m.contains("Fix:"))
        );
        // The config wins over OPENCLAW_PROXY_URL, which wins over the standard variables.
        let from_env = Egress::resolve(
            None,
            None,
            None,
            &env(&[
                ("OPENCLAW_PROXY_URL", "http://managed:8"),
                ("HTTPS_PROXY", "http://x:1"),
            ]),
            &mut w,
        )
        .expect("valid");
        assert_eq!(
            via(from_env.route("a.example", 443, true)),
            "http://managed:8"
        );
        // `enabled: false` keeps the URL unused.
        let off = Egress::resolve(Some(false), Some("http://p:1"), None, &env(&[]), &mut w)
            .expect("valid");
        assert_eq!(off.route("a.example", 443, true), Route::Direct);
        assert!(w.is_empty(), "{w:?}");
        // Refusals name the key.
        let e = Egress::resolve(None, Some("socks5://p:1"), None, &env(&[]), &mut w)
            .expect_err("socks is not a managed proxy");
        assert!(e.starts_with("proxy.proxyUrl "), "{e}");
        let e = Egress::resolve(None, None, Some("sometimes"), &env(&[]), &mut w)
            .expect_err("bad mode");
        assert!(e.contains("proxy.loopbackMode"), "{e}");
    }

    #[test]
    fn environment_proxies_follow_the_scheme_and_no_proxy() {
        let mut w = Vec::new();
        let e = Egress::resolve(
            None,
            None,
            None,
            &env(&[
                ("https_proxy", "socks5h://lower:1080"),
                ("HTTPS_PROXY", "http://upper:1"),
                ("ALL_PROXY", "http://all:3128"),
                (
                    "no_proxy",
                    "internal.example, .corp.example:8080,10.0.0.0/8,[fd00::1]",
                ),
                ("http_proxy", "gopher://nope"),
            ]),
            &mut w,
        )
        .expect("valid");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("http_proxy"), "{w:?}");
        let via = |r: Route| match r {
            Route::Via(p) => p.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            via(e.route("api.example", 443, true)),
            "socks5h://lower:1080"
        );
        assert_eq!(via(e.route("api.example", 80, false)), "http://all:3128");
        for direct in [
            "internal.example",
            "a.internal.example",
            "x.corp.example",
            "10.9.8.7",
            "fd00::1",
            "127.0.0.1",
            "localhost",
        ] {
            assert_eq!(e.route(direct, 443, true), Route::Direct, "{direct}");
        }
        assert!(matches!(
            e.route("notinternal.example", 443, true),
            Route::Via(_)
        ));
        assert!(matches!(e.route("11.0.0.1", 443, true), Route::Via(_)));
        // Nothing set: direct.
        let none = Egress::resolve(None, None, None, &env(&[]), &mut w).expect("valid");
        assert_eq!(none.route("a.example", 443, true), Route::Direct);
        assert_eq!(none.describe(), "");
    }

    /// A one-shot proxy on loopback that reads the client's first bytes and answers
    /// `answer` (then closes); returns its URL.
    async fn misbehaving(answer: &'static [u8], scheme: &str) -> ProxyUrl {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        actix_web::rt::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer).await;
            }
        });
        ProxyUrl::parse(&format!("{scheme}://u:pw-secret@{addr}"), true).expect("url")
    }

    #[actix_web::test]
    async fn misbehaving_proxies_give_clear_errors_without_the_password() {
        let long: &'static [u8] = Box::leak(
            [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 20_000]]
                .concat()
                .into_boxed_slice(),
        );
        for (answer, scheme, want) in [
            (
                b"".as_slice(),
                "http",
                "closed the connection before answering",
            ),
            (
                b"SSH-2.0-OpenSSH\r\n\r\n",
                "http",
                "did not answer CONNECT as an HTTP proxy",
            ),
            (
                b"HTTP/1.1 403 Forbidden\r\n\r\n",
                "http",
                "refused CONNECT example.test:443: HTTP/1.1 403 Forbidden",
            ),
            (
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
                "http",
                "wants credentials",
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\nearly bytes",
                "http",
                "sent data after its CONNECT answer",
            ),
            (long, "http", "answer head longer than"),
            (b"\x04\x00", "socks5h", "does not speak SOCKS5"),
            (b"\x05\xff", "socks5h", "accepts none of the offered"),
        ] {
            let p = misbehaving(answer, scheme).await;
            let e = tunnel(&p, Target::Name("example.test".into(), 443))
                .await
                .expect_err(want)
                .to_string();
            assert!(e.contains(want), "{want}: {e}");
            assert!(!e.contains("pw-secret"), "{e}");
            assert!(e.contains("<redacted>@127.0.0.1:"), "{e}");
        }
        // Nothing listening.
        let closed = ProxyUrl::parse("http://127.0.0.1:1", false).expect("url");
        let e = tunnel(&closed, Target::Name("example.test".into(), 443))
            .await
            .expect_err("refused");
        assert!(
            e.to_string()
                .contains("cannot reach proxy http://127.0.0.1:1"),
            "{e}"
        );
    }
}
