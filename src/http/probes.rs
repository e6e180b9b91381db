//! Unauthenticated HTTP probes (OpenClaw's `docs/gateway/health.md`):
//!
//! - `GET`/`HEAD` `/health`, `/healthz`: liveness, `200 {"ok":true,"status":"live"}`.
//! - `GET`/`HEAD` `/ready`, `/readyz`: `200 {"ok":true,"status":"ready"}`, or `503` with
//!   `status` `starting` / `draining` / `not-ready` and a `failing` list (`gateway`, or
//!   `channel:<kind>:<account>` for a configured channel account that is not running or
//!   keeps failing).
//!
//! The bodies say nothing else: no version, no error text, no addresses.

use actix_web::{HttpResponse, web};
use openclaw_actors::Engine;
use serde_json::{Value, json};

/// Consecutive failures after which a channel account counts as broken.
pub const CHANNEL_FAILURES_BROKEN: u64 = 3;

/// Liveness.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"ok": true, "status": "live"}))
}

/// The `channel:<kind>:<account>` entries of a `channels.status` summary that are broken.
pub fn failing_channels(status: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(channels) = status.get("channels").and_then(Value::as_object) else {
        return out;
    };
    for (kind, c) in channels {
        let Some(accounts) = c.get("accounts").and_then(Value::as_object) else {
            continue;
        };
        for (id, a) in accounts {
            let running = a.get("running") == Some(&json!(true));
            let failures = a
                .get("consecutiveFailures")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if !running || failures >= CHANNEL_FAILURES_BROKEN {
                out.push(format!("channel:{kind}:{id}"));
            }
        }
    }
    out
}

/// Readiness.
pub async fn ready(engine: web::Data<Engine>) -> HttpResponse {
    let not_ready = |status: &str, failing: Vec<String>| {
        HttpResponse::ServiceUnavailable()
            .insert_header(("cache-control", "no-store"))
            .json(json!({"ok": false, "status": status, "failing": failing}))
    };
    if !engine
        .shared
        .ready
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // Not serving yet (start, in-process restart) or shutting down.
        let status = if engine.shared.preauth.is_closed() {
            "draining"
        } else {
            "starting"
        };
        return not_ready(status, vec!["gateway".to_owned()]);
    }
    let mut failing = Vec::new();
    if engine.shared.config.channel_accounts > 0 {
        let res = actix_web::rt::time::timeout(
            std::time::Duration::from_secs(2),
            engine
                .registry
                .send(openclaw_actors::registry::channels::ChannelsStatus),
        )
        .await;
        match res {
            Ok(Ok(v)) => failing.extend(failing_channels(&json!(v))),
            _ => failing.push("gateway".to_owned()),
        }
    }
    if failing.is_empty() {
        HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(json!({"ok": true, "status": "ready"}))
    } else {
        not_ready("not-ready", failing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_channels_are_named() {
        let v = json!({"channels": {"telegram": {"accounts": {
            "default": {"running": true, "consecutiveFailures": 0},
            "work": {"running": true, "consecutiveFailures": 5},
            "off": {"running": false}}}}});
        assert_eq!(
            failing_channels(&v),
            vec!["channel:telegram:off", "channel:telegram:work"]
        );
    }
}
