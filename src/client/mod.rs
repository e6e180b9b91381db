//! The protocol-v4 client shared by the CLI, the node host, the integration tests and the
//! benches: target checks ([`validate`]: plaintext only to private hosts), the socket
//! ([`open_socket`]: awc, `TCP_NODELAY`, TLS with the system roots or a pinned certificate,
//! see [`pin`]), the handshake ([`handshake`]: `connect.challenge`, `connect`, `hello-ok`)
//! with params from a [`Serialize`](serde::Serialize) struct signed by this machine's device
//! key ([`connect`], [`identity`]), and request/response correlation ([`Connection`]).

pub mod connect;
pub mod identity;
pub mod pin;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use awc::ws::{self, Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct Target {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Where the URL came from (`--url`, `local config`, `gateway.remote.url`).
    pub url_source: &'static str,
    /// Token to send.
    pub token: Option<String>,
    /// Password to send.
    pub password: Option<String>,
    /// Pinned leaf certificate fingerprint (wss only).
    pub tls_fingerprint: Option<String>,
    /// Pinned SPKI hashes `sha256/<base64>` (wss only; any one match admits the gateway).
    pub tls_spki_pins: Vec<String>,
    /// `OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1`: plaintext `ws://` also to host names (never to
    /// public IP literals), as OpenClaw's break-glass allows.
    pub allow_private_ws: bool,
    /// Sign the connect with this machine's device identity even on a loopback URL
    /// (`--device`). Non-loopback URLs always do.
    pub force_device: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("url_source", &self.url_source)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Could not reach the gateway, or the socket broke.
    Transport {
        /// Short kind (`connect_failed`, `closed`, `timeout`, `tls`, `config`).
        kind: &'static str,
        /// Message.
        message: String,
        /// WebSocket close code, when the gateway closed on us.
        close_code: Option<u16>,
    },
    /// The gateway answered with an error (handshake or request).
    Request {
        /// `error` object from the `res` frame.
        error: Value,
        /// Whether it happened during `connect`.
        during_connect: bool,
    },
}

impl CallError {
    pub(crate) fn transport(kind: &'static str, message: impl Into<String>) -> Self {
        Self::Transport {
            kind,
            message: message.into(),
            close_code: None,
        }
    }

    /// One-line reason.
    pub fn message(&self) -> String {
        match self {
            Self::Transport { message, .. } => message.clone(),
            Self::Request { error, .. } => error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("gateway error")
                .to_owned(),
        }
    }

    /// `details.code` of a gateway error.
    pub fn detail_code(&self) -> Option<&str> {
        match self {
            Self::Request { error, .. } => error
                .get("details")
                .and_then(|d| d.get("code"))
                .and_then(Value::as_str),
            Self::Transport { .. } => None,
        }
    }
}

/// An awc client for one WebSocket connection: `TCP_NODELAY`, HTTP/1.1 (pinned by the TLS
/// config's ALPN; `max_http_version` would rebuild and drop a custom TLS config).
pub fn ws_client(deadline: Duration, tls: Option<Arc<rustls::ClientConfig>>) -> awc::Client {
    let mut connector = awc::Connector::new()
        .connector(crate::clients::NoDelayConnector::new())
        .timeout(deadline);
    if let Some(cfg) = tls {
        connector = connector.rustls_0_23(cfg);
    }
    awc::Client::builder()
        .timeout(deadline)
        .connector(connector)
        .finish()
}

/// Whether the URL's host is a loopback address (or `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    url_host(url).is_some_and(|h| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// Whether plaintext `ws://` to `host` is acceptable — OpenClaw's `isSecureWebSocketUrl`:
/// loopback, private (RFC 1918), link-local, CGNAT, IPv6 unique-local and site-local,
/// `.local` and `.ts.net` names. With `allow_private_ws` (`OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1`)
/// also any host *name* (a trusted private DNS name); public IP literals never.
pub fn plaintext_ok_with(host: &str, allow_private_ws: bool) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let name = h.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".local") || name.ends_with(".ts.net") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xC0) == 64)
        }
        Ok(IpAddr::V6(v6)) => {
            let s0 = v6.segments()[0];
            v6.is_loopback()
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
                || (s0 & 0xffc0) == 0xfec0
        }
        Err(_) => allow_private_ws && !name.is_empty(),
    }
}

/// [`plaintext_ok_with`] without the break-glass.
pub fn plaintext_ok(host: &str) -> bool {
    plaintext_ok_with(host, false)
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if let Some(stripped) = authority.strip_prefix('[') {
        return stripped.split(']').next();
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// Checks a target before connecting.
pub fn validate(target: &Target) -> Result<(), CallError> {
    let url = target.url.as_str();
    let tls = if url.starts_with("wss://") {
        true
    } else if url.starts_with("ws://") {
        false
    } else {
        return Err(CallError::transport(
            "config",
            format!("invalid gateway URL {url:?}: expected ws://HOST:PORT or wss://HOST:PORT"),
        ));
    };
    let host = url_host(url).filter(|h| !h.is_empty()).ok_or_else(|| {
        CallError::transport("config", format!("invalid gateway URL {url:?}: no host"))
    })?;
    if !tls && (target.tls_fingerprint.is_some() || !target.tls_spki_pins.is_empty()) {
        return Err(CallError::transport(
            "config",
            "gateway tls fingerprint requires wss:// gateway url: a TLS pin is set but the URL is ws://. Fix: use wss:// to pin the gateway certificate",
        ));
    }
    if !tls && !plaintext_ok_with(host, target.allow_private_ws) {
        return Err(CallError::transport(
            "config",
            format!(
                "SECURITY ERROR: Cannot connect to \"{host}\" over plaintext ws://. Both credentials and chat data would be exposed to network interception. Use wss:// for remote URLs (with gateway.remote.tlsFingerprint or --tls-fingerprint for a self-signed gateway). Safe defaults: keep gateway.bind=loopback and connect via SSH tunnel (gateway.remote.transport \"ssh\"), or use Tailscale Serve.{}",
                if target.allow_private_ws {
                    ""
                } else {
                    " Break-glass (trusted private networks only): set OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1."
                }
            ),
        ));
    }
    pins_of(target)?;
    Ok(())
}

/// An open WebSocket to a gateway.
pub type WsConn = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

/// The target's pins, parsed (`Err` names a malformed one).
pub fn pins_of(target: &Target) -> Result<pin::Pins, CallError> {
    pin::Pins::parse(target.tls_fingerprint.as_deref(), &target.tls_spki_pins)
        .map_err(|e| CallError::transport("config", e))
}

/// The rustls config for `target`: its pins (leaf fingerprint, SPKI) or the system roots.
pub fn tls_config_for(target: &Target) -> Result<Option<Arc<rustls::ClientConfig>>, CallError> {
    let pins = pins_of(target)?;
    if pins.is_empty() {
        return Ok(crate::clients::tls_config());
    }
    let cfg = pin::pinned_config(pins).map_err(|e| CallError::transport("tls", e.to_string()))?;
    Ok(Some(Arc::new(cfg)))
}

/// The awc client for `target`: its pinned certificate / keys or the system roots, every
/// wait bounded by `deadline`.
pub fn client_for(target: &Target, deadline: Duration) -> Result<awc::Client, CallError> {
    Ok(ws_client(deadline, tls_config_for(target)?))
}

/// Validates `target` and opens its WebSocket (no handshake yet).
pub async fn open_socket(target: &Target, deadline: Duration) -> Result<WsConn, CallError> {
    validate(target)?;
    let client = client_for(target, deadline)?;
    connect_socket(&client, &target.url).await
}

/// Opens the WebSocket to `url` with `client` (see [`client_for`]).
pub async fn connect_socket(client: &awc::Client, url: &str) -> Result<WsConn, CallError> {
    let res = client
        .ws(url)
        .max_frame_size(openclaw_actors::protocol::MAX_PAYLOAD_BYTES)
        .connect()
        .await;
    if let Err(awc::error::WsClientError::InvalidResponseStatus(status)) = &res
        && *status == awc::http::StatusCode::BAD_REQUEST
        && url.starts_with("ws://")
        && plain_on_tls_port(client, url).await
    {
        return Err(CallError::transport(
            "tls",
            format!(
                "cannot connect to {url}: the gateway serves TLS on this port (gateway.tls.enabled) and answered plain ws:// with 400 Bad Request. Fix: use {} with --tls-fingerprint (see `openclaw gateway fingerprint` on the gateway host)",
                url.replacen("ws://", "wss://", 1)
            ),
        ));
    }
    let (_resp, framed) = res.map_err(|e| {
            let text = e.to_string();
            if url.starts_with("ws://") && text.contains("invalid HTTP version") {
                // A TLS server answers a plaintext request with a TLS alert, not HTTP.
                return CallError::transport(
                    "tls",
                    format!(
                        "cannot connect to {url}: the server did not answer in HTTP ({text}); it probably serves TLS (gateway.tls.enabled). Fix: use {} with --tls-fingerprint (see `openclaw gateway fingerprint` on the gateway host)",
                        url.replacen("ws://", "wss://", 1)
                    ),
                );
            }
            let kind = if text.contains("fingerprint") || text.contains("certificate") {
                "tls"
            } else {
                "connect_failed"
            };
            CallError::transport(kind, format!("cannot connect to {url}: {text}"))
        })?;
    Ok(framed)
}

/// After a `400` to a `ws://` upgrade: whether `url` (as `http://`) answers with the
/// gateway's "plain HTTP sent to a TLS port" text (`crate::http::tls_sniff`). One bounded
/// request, body read up to 1 KiB.
async fn plain_on_tls_port(client: &awc::Client, url: &str) -> bool {
    let http = url.replacen("ws://", "http://", 1);
    let Ok(mut resp) = client.get(&http).send().await else {
        return false;
    };
    if resp.status() != awc::http::StatusCode::BAD_REQUEST {
        return false;
    }
    resp.body().limit(1024).await.is_ok_and(|b| {
        String::from_utf8_lossy(&b).contains(crate::http::tls_sniff::PLAIN_HTTP_MARKER)
    })
}

/// The `connect.challenge` payload's parts.
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    /// `payload.nonce`.
    pub nonce: Option<String>,
    /// `payload.ts` (ms).
    pub ts: Option<u64>,
}

/// The handshake on an open socket: waits for `connect.challenge`, sends `connect` with
/// `params_for(challenge)` (request id `1:<uuid>`) and returns the `hello-ok` payload.
/// A rejected `connect` is `CallError::Request { during_connect: true, .. }`.
pub async fn handshake(
    framed: &mut WsConn,
    params_for: impl FnOnce(&Challenge) -> Result<Value, CallError>,
) -> Result<Value, CallError> {
    let challenge = next_json(framed).await?;
    if challenge.get("event").and_then(Value::as_str) != Some("connect.challenge") {
        return Err(CallError::transport(
            "protocol",
            "gateway did not send connect.challenge first",
        ));
    }
    let payload = challenge.get("payload");
    let challenge = Challenge {
        nonce: payload
            .and_then(|p| p.get("nonce"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        ts: payload.and_then(|p| p.get("ts")).and_then(Value::as_u64),
    };
    let params = params_for(&challenge)?;
    let id = format!("1:{}", uuid::Uuid::new_v4());
    request_on(framed, &id, "connect", params, false)
        .await
        .map_err(|e| match e {
            CallError::Request { error, .. } => CallError::Request {
                error,
                during_connect: true,
            },
            other => other,
        })
}

/// An authenticated connection.
pub struct Connection {
    framed: WsConn,
    next_id: u64,
    /// The `hello-ok` payload.
    pub hello: Value,
}

impl Connection {
    /// Opens `target`'s socket and completes the handshake with `params_for(challenge)`.
    pub async fn connect(
        target: &Target,
        deadline: Duration,
        params_for: impl FnOnce(&Challenge) -> Result<Value, CallError>,
    ) -> Result<Self, CallError> {
        let mut framed = open_socket(target, deadline).await?;
        let hello = handshake(&mut framed, params_for).await?;
        Ok(Self {
            framed,
            next_id: 2,
            hello,
        })
    }

    /// Sends a request and waits for its response (events are skipped).
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, CallError> {
        self.request_inner(method, params, false).await
    }

    /// Sends a two-phase request (e.g. `agent`) and waits for its final response: a `res`
    /// whose `payload.status` is `"accepted"` is an interim acknowledgement and is skipped.
    pub async fn request_final(&mut self, method: &str, params: Value) -> Result<Value, CallError> {
        self.request_inner(method, params, true).await
    }

    async fn request_inner(
        &mut self,
        method: &str,
        params: Value,
        expect_final: bool,
    ) -> Result<Value, CallError> {
        let id = format!("{}:{}", self.next_id, uuid::Uuid::new_v4());
        self.next_id += 1;
        request_on(&mut self.framed, &id, method, params, expect_final).await
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.framed.send(Message::Close(None)).await;
    }
}

/// Sends request `id` and waits for its response (other frames are skipped). With
/// `expect_final` an interim `accepted` reply is skipped too.
async fn request_on(
    framed: &mut WsConn,
    id: &str,
    method: &str,
    params: Value,
    expect_final: bool,
) -> Result<Value, CallError> {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    framed
        .send(Message::Text(frame.to_string().into()))
        .await
        .map_err(|e| CallError::transport("closed", format!("send failed: {e}")))?;
    loop {
        let v = next_json(framed).await?;
        if v.get("type").and_then(Value::as_str) != Some("res")
            || v.get("id").and_then(Value::as_str) != Some(id)
        {
            continue;
        }
        if v.get("ok").and_then(Value::as_bool) == Some(true) {
            let payload = v.get("payload").cloned().unwrap_or(Value::Null);
            if expect_final && is_accepted(&payload) {
                continue;
            }
            return Ok(payload);
        }
        return Err(CallError::Request {
            error: v.get("error").cloned().unwrap_or(Value::Null),
            during_connect: false,
        });
    }
}

/// Whether a response payload is the interim `accepted` acknowledgement of a two-phase method.
pub fn is_accepted(payload: &Value) -> bool {
    payload.get("status").and_then(Value::as_str) == Some("accepted")
}

/// The close code and a one-line description of a gateway's close frame:
/// `gateway closed the connection (1008): reason`.
pub fn close_message(reason: Option<ws::CloseReason>) -> (Option<u16>, String) {
    let (code, desc) = reason
        .map(|r| (Some(u16::from(r.code)), r.description.unwrap_or_default()))
        .unwrap_or((None, String::new()));
    let message = format!(
        "gateway closed the connection{}{}",
        code.map(|c| format!(" ({c})")).unwrap_or_default(),
        if desc.is_empty() {
            String::new()
        } else {
            format!(": {desc}")
        }
    );
    (code, message)
}

/// Reads the next JSON text frame, answering pings.
pub async fn next_json(framed: &mut WsConn) -> Result<Value, CallError> {
    loop {
        match framed.next().await {
            Some(Ok(Frame::Text(b))) => {
                return serde_json::from_slice(&b).map_err(|e| {
                    CallError::transport("protocol", format!("gateway sent invalid JSON: {e}"))
                });
            }
            Some(Ok(Frame::Ping(p))) => {
                let _ = framed.send(Message::Pong(p)).await;
            }
            Some(Ok(Frame::Close(reason))) => {
                let (close_code, message) = close_message(reason);
                return Err(CallError::Transport {
                    kind: "closed",
                    message,
                    close_code,
                });
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(CallError::transport(
                    "closed",
                    format!("connection error: {e}"),
                ));
            }
            None => {
                return Err(CallError::transport(
                    "closed",
                    "gateway closed the connection",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_rules() {
        assert!(plaintext_ok("127.0.0.1"));
        assert!(plaintext_ok("[::1]"));
        assert!(plaintext_ok("100.100.1.1"));
        assert!(plaintext_ok("192.168.1.2"));
        assert!(plaintext_ok("box.ts.net"));
        assert!(!plaintext_ok("8.8.8.8"));
        assert!(!plaintext_ok("example.com"));
        assert!(plaintext_ok("box.local."));
        assert!(plaintext_ok("[fd00::1]"));
        assert!(plaintext_ok("169.254.1.1"));
        assert!(!plaintext_ok("[2001:db8::1]"));
        // The break-glass admits host names, never public IP literals.
        assert!(plaintext_ok_with("gw.corp.internal", true));
        assert!(!plaintext_ok_with("8.8.8.8", true));
        assert!(!plaintext_ok_with("[2001:db8::1]", true));
        assert_eq!(url_host("ws://[::1]:18789/x"), Some("::1"));
        assert_eq!(url_host("wss://host.ts.net"), Some("host.ts.net"));
        assert!(is_loopback_url("ws://127.0.0.1:18789"));
        assert!(is_loopback_url("ws://[::1]:18789/x"));
        assert!(is_loopback_url("ws://localhost:1"));
        assert!(!is_loopback_url("ws://100.101.102.103:18789"));
        assert!(!is_loopback_url("wss://gw.example.ts.net"));
    }

    #[test]
    fn accepted_is_interim() {
        assert!(is_accepted(&json!({"runId": "r", "status": "accepted"})));
        assert!(!is_accepted(&json!({"runId": "r", "status": "ok"})));
        assert!(!is_accepted(&json!({"ok": true})));
        assert!(!is_accepted(&Value::Null));
    }
}
