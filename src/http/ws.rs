//! The WebSocket upgrade: client attribution (trusted proxies), browser `Origin` checks,
//! the per-IP cap on unauthenticated sockets, then `ws_session::start`.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::ws_session::{self, PeerInfo};
use serde_json::json;

const PROXY_HEADERS: &[&str] = &["x-forwarded-for", "forwarded", "x-real-ip"];

/// Any request that is not claimed by another route.
pub async fn upgrade(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_ws {
        if req.path() == "/" {
            return HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body("openclaw-rs gateway: connect with a WebSocket client (protocol v4)\n");
        }
        return HttpResponse::NotFound().finish();
    }
    let peer = match attribute(&req, &engine) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if !engine.shared.preauth.admit(peer.ip) {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("Too many unauthenticated sockets");
    }
    let ip = peer.ip;
    match ws_session::start(&req, payload, &engine, peer).await {
        Ok(resp) => resp,
        Err(e) => {
            engine.shared.preauth.release(ip);
            e.error_response()
        }
    }
}

/// Works out who the client is. Forwarded headers count only from `gateway.trustedProxies`;
/// from anyone else they are refused (a client must not pick its own address).
fn attribute(req: &HttpRequest, engine: &Engine) -> Result<PeerInfo, Box<HttpResponse>> {
    let peer_ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let peer_ip = canonical(peer_ip);
    let has_proxy_headers = PROXY_HEADERS.iter().any(|h| req.headers().contains_key(*h));
    let trusted = &engine.shared.config.trusted_proxies;
    let origin_allowed = origin_allowed(req);
    if !has_proxy_headers {
        return Ok(PeerInfo {
            ip: peer_ip,
            is_local: peer_ip.is_loopback(),
            origin_allowed,
        });
    }
    if !trusted.contains(&peer_ip) {
        return Err(Box::new(HttpResponse::Forbidden().json(json!({"error": {
            "message": "Proxy client attribution is required. Configure gateway.trustedProxies narrowly and make the proxy overwrite or safely rebuild forwarded client headers.",
            "type": "proxy_attribution_required",
        }}))));
    }
    // Walk X-Forwarded-For from the right, skipping our trusted proxies.
    let client = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|xff| {
            xff.split(',')
                .rev()
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .map(canonical)
                .find(|ip| !trusted.contains(ip))
        })
        .unwrap_or(peer_ip);
    Ok(PeerInfo {
        ip: client,
        is_local: false,
        origin_allowed,
    })
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Browsers send `Origin`; the CLI and node hosts do not. Allowed: loopback origins and
/// same-origin pages served by this gateway.
fn origin_allowed(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let host_port = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin)
        .trim_end_matches('/');
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(host_port))
}
