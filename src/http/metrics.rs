//! `GET /api/diagnostics/prometheus`: the Prometheus text format (0.0.4), behind gateway
//! auth (OpenClaw's route and content type). The caller sends the shared secret as
//! `Authorization: Bearer <token or password>` (a shared-secret operator holds
//! `operator.read`); wrong secrets count against the same failed-auth limiter as the
//! WebSocket handshake. With `gateway.auth.mode: "none"` (loopback only) no header is
//! needed.
//!
//! Series: build info, connections by role, nodes connected, handshakes and failures by
//! reason, `node.invoke` count and latency, channel messages and errors, agent runs, model
//! call latency and errors, outbound queue drops and slow-consumer closes, config reloads,
//! process RSS, open files and uptime. Labels come from closed lists only.

use std::fmt::Write as _;

use actix_web::{HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::auth::{AuthMode, AuthScope, ClientKey, LimiterKey, constant_time_eq};
use openclaw_actors::registry::{AuthAttempt, AuthVerdict, GetStats};

/// The content type Prometheus expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("www-authenticate", "Bearer"))
        .json(serde_json::json!({"ok": false, "error": "unauthorized: send the gateway token as Authorization: Bearer <token>"}))
}

/// Why an HTTP caller's shared secret was not accepted.
pub(crate) enum Denied {
    /// No `Authorization: Bearer …`, or the wrong secret.
    Unauthorized,
    /// Too many failures from this client: retry after this many seconds.
    Locked(u64),
    /// The gateway could not check (shutting down).
    Busy,
    /// The peer could not be attributed (a forwarded header from an untrusted proxy, …):
    /// the response that says so.
    Refused(HttpResponse),
}

/// Checks `Authorization: Bearer <token or password>` against the gateway's shared secret
/// (constant time), counting failures in the same limiter as the WebSocket handshake (a
/// failure also waits the limiter's delay). With `gateway.auth.mode: "none"` (loopback
/// only) every caller passes.
pub(crate) async fn check_bearer(req: &HttpRequest, engine: &Engine) -> Result<(), Denied> {
    let live = engine.shared.live.get();
    if live.auth.mode == AuthMode::None {
        return Ok(());
    }
    let peer = crate::http::ws::attribute(req, engine).map_err(|resp| Denied::Refused(*resp))?;
    let offered = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let secret = live.auth.secret.as_deref().unwrap_or("");
    let matched = offered
        .is_some_and(|o| !secret.is_empty() && constant_time_eq(o.as_bytes(), secret.as_bytes()));
    if offered.is_none() {
        return Err(Denied::Unauthorized);
    }
    let key = LimiterKey {
        client: ClientKey::for_client(peer.ip, peer.is_local, peer.origin.as_deref()),
        scope: AuthScope::SharedSecret,
    };
    match engine.registry.send(AuthAttempt { key, matched }).await {
        Ok(AuthVerdict::Allowed) => Ok(()),
        Ok(AuthVerdict::Locked(retry)) => Err(Denied::Locked(retry.as_secs().max(1))),
        Ok(AuthVerdict::Failed(delay)) => {
            actix_web::rt::time::sleep(delay).await;
            Err(Denied::Unauthorized)
        }
        Err(_) => Err(Denied::Busy),
    }
}

/// Checks the bearer secret; `None` when the caller may read metrics.
async fn check_auth(req: &HttpRequest, engine: &Engine) -> Option<HttpResponse> {
    match check_bearer(req, engine).await {
        Ok(()) => None,
        Err(Denied::Unauthorized) => Some(unauthorized()),
        Err(Denied::Locked(secs)) => Some(
            HttpResponse::TooManyRequests()
                .insert_header(("retry-after", secs.to_string()))
                .finish(),
        ),
        Err(Denied::Busy) => Some(HttpResponse::ServiceUnavailable().finish()),
        Err(Denied::Refused(resp)) => Some(resp),
    }
}

/// Open file descriptors (`/proc/self/fd`).
fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The handler.
pub async fn prometheus(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    if let Some(refusal) = check_auth(&req, &engine).await {
        return refusal;
    }
    let stats = engine.registry.send(GetStats).await.unwrap_or_default();
    let mut out = String::with_capacity(8 * 1024);
    let _ = writeln!(
        out,
        "# HELP openclaw_gateway_build_info Gateway build.\n# TYPE openclaw_gateway_build_info gauge\nopenclaw_gateway_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP openclaw_connections Open WebSocket connections by role.\n# TYPE openclaw_connections gauge\nopenclaw_connections{{role=\"operator\"}} {}\nopenclaw_connections{{role=\"node\"}} {}\nopenclaw_connections{{role=\"pending\"}} {}",
        stats.operators, stats.nodes, stats.pending
    );
    let _ = writeln!(
        out,
        "# HELP openclaw_nodes_connected Nodes connected.\n# TYPE openclaw_nodes_connected gauge\nopenclaw_nodes_connected {}",
        stats.nodes
    );
    let _ = writeln!(
        out,
        "# HELP openclaw_agent_runs_active Agent runs in progress.\n# TYPE openclaw_agent_runs_active gauge\nopenclaw_agent_runs_active {}",
        stats.active_runs
    );
    let _ = writeln!(
        out,
        "# HELP openclaw_agent_runs_queued Agent runs waiting behind another run of their session.\n# TYPE openclaw_agent_runs_queued gauge\nopenclaw_agent_runs_queued {}",
        stats.queued_runs
    );
    openclaw_actors::metrics::METRICS.render(&mut out);
    crate::reload::render_metrics(&mut out);
    let _ = writeln!(
        out,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
        openclaw_actors::stability::rss_bytes().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}",
        open_fds().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "# HELP openclaw_uptime_seconds Seconds since the gateway started.\n# TYPE openclaw_uptime_seconds gauge\nopenclaw_uptime_seconds {}",
        engine.shared.uptime_ms() as f64 / 1000.0
    );
    HttpResponse::Ok()
        .insert_header(("content-type", CONTENT_TYPE))
        .insert_header(("cache-control", "no-store"))
        .body(out)
}
