//! Outbound HTTP clients: the implementations of the engine's ports
//! ([`crate::actors::ports`]) over awc.
//!
//! - [`telegram::BotApi`] implements [`TelegramApi`](crate::actors::channel::telegram::api::TelegramApi);
//! - [`openai::OpenAiModel`] (OpenAI-compatible chat completions),
//!   [`openai_responses::ResponsesModel`] (OpenAI's Responses API) and
//!   [`anthropic::AnthropicModel`] (Anthropic's Messages API) implement
//!   [`ChatModel`](crate::actors::ports::ChatModel), sharing their retry loop (`retry.rs`)
//!   and their reading of streamed answers (Server-Sent Events, `sse.rs`).
//!
//! They are plain `Send + Sync` values (strings and durations): they can be built on any
//! thread and moved into an actor. The awc client itself is `!Send`, so it is created lazily
//! per thread (and per actix `System`) by [`http_client`] and shared by every request made
//! from that thread, which keeps connections pooled. The returned futures are `!Send` and must
//! be polled inside an actix system (an arbiter or `#[actix_web::test]`).
//!
//! HTTPS uses rustls (ring) with the operating system's CA roots (see [`tls_roots`]); awc's
//! own default connector has no TLS at all with the crate features this project enables.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub mod anthropic;
pub mod choice;
pub mod exec_host;
pub mod fallback;
pub mod host_approvals;
pub mod openai;
pub mod openai_responses;
pub mod proxy;
pub(crate) mod retry;
pub mod speech;
pub mod sse;
pub mod telegram;
mod tools_json;
pub mod transcribe;
pub mod web_fetch;

/// A model with what its config entry says beyond the wire: its `cost` rates (its answers'
/// usage is priced) and its context window (`contextWindow`, capped by `contextTokens`).
pub struct Configured {
    /// The model.
    pub model: std::rc::Rc<dyn openclaw_actors::ports::ChatModel>,
    /// Its prices (US dollars per million tokens), if configured.
    pub rates: Option<openclaw_actors::ports::CostRates>,
    /// Its context window, if configured.
    pub window: Option<u32>,
}

impl openclaw_actors::ports::ChatModel for Configured {
    fn label(&self) -> String {
        self.model.label()
    }

    fn primary(&self) -> String {
        self.model.primary()
    }

    fn sees_images(&self) -> bool {
        self.model.sees_images()
    }

    fn context_window(&self) -> Option<u32> {
        self.window.or_else(|| self.model.context_window())
    }

    fn reasons(&self) -> bool {
        self.model.reasons()
    }

    fn complete(
        &self,
        req: openclaw_actors::ports::ChatRequest,
    ) -> openclaw_actors::ports::LocalFut<
        Result<openclaw_actors::ports::ChatResponse, openclaw_actors::ports::ModelError>,
    > {
        let (fut, rates) = (self.model.complete(req), self.rates);
        Box::pin(async move {
            let mut r = fut.await?;
            if let Some(rates) = rates {
                r.usage = r.usage.priced(Some(&rates));
            }
            Ok(r)
        })
    }

    fn complete_streaming(
        &self,
        req: openclaw_actors::ports::ChatRequest,
        sink: openclaw_actors::ports::DeltaSink,
    ) -> openclaw_actors::ports::LocalFut<
        Result<openclaw_actors::ports::ChatResponse, openclaw_actors::ports::ModelError>,
    > {
        let (fut, rates) = (self.model.complete_streaming(req, sink), self.rates);
        Box::pin(async move {
            let mut r = fut.await?;
            if let Some(rates) = rates {
                r.usage = r.usage.priced(Some(&rates));
            }
            Ok(r)
        })
    }
}

/// Upper bound on a response body the clients will read.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Bound on TCP connect + TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The root certificates for HTTPS, found by `rustls-native-certs`: `$SSL_CERT_FILE` /
/// `$SSL_CERT_DIR` when set, else the system's CA bundle and directory (as OpenSSL would
/// find them). Empty (and every HTTPS request fails with a certificate error) when there
/// is none.
pub fn tls_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("while loading CA certificates: {e}");
    }
    let mut store = rustls::RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        log::warn!("no CA certificates found; outbound HTTPS requests will fail");
    } else {
        log::debug!("loaded {added} TLS root certificates");
    }
    store
}

/// The process-wide rustls client configuration (ring provider, system roots, HTTP/1.1).
pub fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(b) => {
                    let mut cfg = b.with_root_certificates(tls_roots()).with_no_client_auth();
                    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
                    Some(Arc::new(cfg))
                }
                Err(e) => {
                    log::error!("cannot build the TLS client configuration: {e}");
                    None
                }
            }
        })
        .clone()
}

/// Decides whether a connection made for a host name (lower case, no brackets) to a peer
/// may be used; `Err` is why not.
pub type PeerCheck = Arc<dyn Fn(&str, std::net::SocketAddr) -> Result<(), String>>;

/// The default TCP connector with `TCP_NODELAY` set on every new connection. awc writes a
/// request's head and body separately; with Nagle on, the body waits for the peer's delayed
/// ACK of the head (~40 ms per request on Linux). Optionally with its own resolver and a
/// check of every connected peer (`web_fetch`'s SSRF guard).
///
/// Connections go where the gateway's egress says ([`proxy::route`]): direct, or through a
/// proxy tunnel ([`proxy::tunnel`]); a connector made [`NoDelayConnector::via`] a proxy
/// (one channel's own) sends everything through it. With a `check`, a proxied destination
/// is resolved here and every address checked before the tunnel is asked for one of them.
#[derive(Clone)]
pub struct NoDelayConnector {
    inner: actix_tls::connect::ConnectorService,
    resolver: actix_tls::connect::ResolverService,
    check: Option<PeerCheck>,
    via: Option<Arc<proxy::ProxyUrl>>,
}

impl NoDelayConnector {
    /// The system-resolver TCP connector, with `TCP_NODELAY`.
    pub fn new() -> Self {
        Self::with(actix_tls::connect::Resolver::default(), None)
    }

    /// With `resolver`, and `check` run on every connected peer.
    pub fn with(resolver: actix_tls::connect::Resolver, check: Option<PeerCheck>) -> Self {
        Self {
            inner: actix_tls::connect::Connector::new(resolver.clone()).service(),
            resolver: resolver.service(),
            check,
            via: None,
        }
    }

    /// Every connection through `proxy` (loopback ones too).
    pub fn via(mut self, proxy: Option<Arc<proxy::ProxyUrl>>) -> Self {
        self.via = proxy;
        self
    }
}

impl Default for NoDelayConnector {
    fn default() -> Self {
        Self::new()
    }
}

type TcpConn = actix_tls::connect::Connection<awc::http::Uri, actix_web::rt::net::TcpStream>;

impl actix_service::Service<actix_tls::connect::ConnectInfo<awc::http::Uri>> for NoDelayConnector {
    type Response = TcpConn;
    type Error = actix_tls::connect::ConnectError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<TcpConn, Self::Error>>>>;

    fn poll_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        actix_service::Service::<actix_tls::connect::ConnectInfo<awc::http::Uri>>::poll_ready(
            &self.inner,
            cx,
        )
    }

    fn call(&self, req: actix_tls::connect::ConnectInfo<awc::http::Uri>) -> Self::Future {
        let host = req
            .hostname()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let check = self.check.clone();
        let port = req.port();
        let tls = matches!(req.request().scheme_str(), Some("https" | "wss"));
        let route = match &self.via {
            Some(p) => proxy::Route::Via(p.clone()),
            None => proxy::route(&host, port, tls),
        };
        match route {
            proxy::Route::Direct => {}
            proxy::Route::Blocked(why) => {
                return Box::pin(async move {
                    Err(actix_tls::connect::ConnectError::Io(std::io::Error::other(
                        why,
                    )))
                });
            }
            proxy::Route::Via(p) => {
                let resolver = check.is_some().then(|| self.resolver.clone());
                return Box::pin(async move {
                    use actix_tls::connect::ConnectError;
                    let target = match (resolver, check) {
                        (Some(resolver), Some(check)) => {
                            let ask = actix_tls::connect::ConnectInfo::new(req.request().clone());
                            let resolved = resolver.call(ask).await?;
                            let addrs: Vec<std::net::SocketAddr> = resolved.addrs().collect();
                            for a in &addrs {
                                check(&host, *a)
                                    .map_err(|e| ConnectError::Io(std::io::Error::other(e)))?;
                            }
                            proxy::Target::Addrs(addrs)
                        }
                        _ => proxy::Target::Name(host, port),
                    };
                    let stream = proxy::tunnel(&p, target).await.map_err(ConnectError::Io)?;
                    Ok(actix_tls::connect::Connection::new(
                        req.request().clone(),
                        stream,
                    ))
                });
            }
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let conn = fut.await?;
            let _ = conn.io_ref().set_nodelay(true);
            if let Some(check) = check {
                let peer = conn
                    .io_ref()
                    .peer_addr()
                    .map_err(actix_tls::connect::ConnectError::Io)?;
                check(&host, peer)
                    .map_err(|e| actix_tls::connect::ConnectError::Io(std::io::Error::other(e)))?;
            }
            Ok(conn)
        })
    }
}

fn build_client(via: Option<Arc<proxy::ProxyUrl>>) -> awc::Client {
    let mut connector = awc::Connector::new()
        .connector(NoDelayConnector::new().via(via))
        .timeout(CONNECT_TIMEOUT);
    if let Some(cfg) = tls_config() {
        connector = connector.rustls_0_23(cfg);
    }
    awc::Client::builder()
        .connector(connector)
        // No `.max_http_version(..)`: awc rebuilds (and so drops) a custom TLS config there;
        // the rustls config's ALPN already pins HTTP/1.1.
        .timeout(Duration::from_secs(60))
        .disable_redirects()
        .finish()
}

/// This thread's awc client (HTTP/1.1, rustls, redirects off, pooled connections). Rebuilt
/// when the thread's actix `System` changes, so pooled connections never outlive the
/// runtime that opened them. Each request should set its own `timeout`.
pub fn http_client() -> awc::Client {
    http_client_via(None)
}

/// Most clients with their own proxy kept per thread (one per distinct channel proxy).
const MAX_PROXY_CLIENTS: usize = 8;

/// Like [`http_client`], but with every connection through `via` when set (one channel's
/// own proxy, e.g. `channels.telegram.proxy`).
pub fn http_client_via(via: Option<&Arc<proxy::ProxyUrl>>) -> awc::Client {
    type Clients = Vec<((usize, u64), Option<Arc<proxy::ProxyUrl>>, awc::Client)>;
    thread_local! {
        static CLIENTS: RefCell<Clients> = const { RefCell::new(Vec::new()) };
    }
    // Clients of another actix `System`, or made under other egress settings, go with
    // their pooled connections.
    let key = (
        actix_web::rt::System::try_current().map_or(usize::MAX, |s| s.id()),
        proxy::generation(),
    );
    CLIENTS.with(|cell| {
        let mut clients = cell.borrow_mut();
        clients.retain(|(k, _, _)| *k == key);
        if let Some((_, _, c)) = clients.iter().find(|(_, p, _)| p.as_ref() == via) {
            return c.clone();
        }
        let client = build_client(via.cloned());
        if clients.len() >= MAX_PROXY_CLIENTS {
            // The oldest proxied one goes (the direct client stays first once made).
            if let Some(i) = clients.iter().position(|(_, p, _)| p.is_some()) {
                clients.remove(i);
            }
        }
        clients.push((key, via.cloned(), client.clone()));
        client
    })
}

/// Replaces every occurrence of `secret` in `text` with `<redacted>` (no-op for an empty
/// secret).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}

/// Why a request got no answer: a timeout in words, else the error with `secret` redacted.
pub(crate) fn send_error(
    e: awc::error::SendRequestError,
    timeout: Duration,
    secret: &str,
) -> String {
    match e {
        awc::error::SendRequestError::Timeout => {
            format!("no answer within {}s", timeout.as_secs())
        }
        other => redact(&other.to_string(), secret),
    }
}

/// A provider's refusal in short: `HTTP <status>: <its error message>` (OpenAI's
/// `error.message`, a bare `error` string or FastAPI's `detail`, else the body), cut to 200
/// characters, `secret` redacted.
pub(crate) fn http_failure(status: u16, body: &[u8], secret: &str) -> String {
    let msg = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("detail"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    format!(
        "HTTP {status}: {}",
        truncate(&redact(msg.trim(), secret), 200)
    )
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_occurrence_and_ignores_empty_secrets() {
        assert_eq!(
            redact("a/botS3CR/b S3CR", "S3CR"),
            "a/bot<redacted>/b <redacted>"
        );
        assert_eq!(redact("abc", ""), "abc");
    }

    #[test]
    fn truncate_marks_cuts() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }

    #[test]
    fn system_ca_bundle_is_loaded() {
        assert!(
            !tls_roots().is_empty(),
            "no CA bundle found; HTTPS to api.telegram.org would fail"
        );
        assert!(tls_config().is_some());
    }
}
