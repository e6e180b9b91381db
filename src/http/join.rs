//! `GET /j/<shortcode>`: a single-use join URL (OpenClaw's `device-pairing-join-http`). The
//! first request answers the setup payload (`{url, bootstrapToken, expiresAtMs}`, what
//! `openclaw connect <join-url>` reads) and burns the shortcode; anything else — an unknown,
//! used or expired shortcode, another method, a query — is `404 {"error":"not_found"}` and
//! counts as a failed attempt for the client's auth limiter (`429 {"error":"rate_limited"}`
//! with `Retry-After` once locked out). Answers are never cached.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::auth::{AuthScope, ClientKey, LimiterKey};
use openclaw_actors::registry::AuthVerdict;
use serde_json::json;

/// The `/j/{code}` handler.
pub async fn join(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    // Through the dedicated Tailscale Serve listener (a `wss://<host>.ts.net` code's join URL)
    // its own rules apply, as for the WebSocket.
    let attributed = match req.app_data::<web::Data<crate::tailscale::Ingress>>() {
        Some(ingress) => crate::tailscale::attribute(&req, &engine, ingress).await,
        None => super::ws::attribute(&req, &engine),
    };
    let peer = match attributed {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let key = LimiterKey {
        client: ClientKey::for_client(peer.ip, peer.is_local, None),
        scope: AuthScope::DeviceJoin,
    };
    let limiter = &engine.shared.hello_view;
    if let Some(retry) = limiter.locked(&key) {
        return HttpResponse::TooManyRequests()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::RETRY_AFTER, retry.as_secs().max(1).to_string()))
            .json(json!({"error": "rate_limited"}));
    }
    let code = req.match_info().get("code").unwrap_or("");
    let payload = (req.method() == Method::GET && req.query_string().is_empty())
        .then(|| {
            engine
                .shared
                .join_codes
                .redeem(code, openclaw_actors::util::now_ms())
        })
        .flatten();
    // Records the attempt: a hit clears the client's failures, a miss counts as one.
    let verdict = limiter.auth_verdict(&key, payload.is_some());
    match (payload, verdict) {
        (Some(p), _) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/json")
            .body(p),
        (None, AuthVerdict::Locked(retry)) => HttpResponse::TooManyRequests()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::RETRY_AFTER, retry.as_secs().max(1).to_string()))
            .json(json!({"error": "rate_limited"})),
        (None, _) => HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"error": "not_found"})),
    }
}
