//! `system-event` and `system.info` (OpenClaw's `server-methods/system.ts`): the apps'
//! presence beacons and system events for the agent (see [`crate::registry::beacons`]),
//! and the gateway host's facts.

use actix::prelude::*;
use serde_json::{Map, Value};

use super::args::{closed, invalid, opt_str, params};
use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ};
use crate::registry::beacons::{Beacon, SystemEvent};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "system-event",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::system_event,
    },
    Method {
        name: "system.info",
        access: MethodAccess::Operator(READ),
        handler: WsSession::system_info,
    },
];

const M: &str = "system-event";

pub use crate::registry::beacons::MAX_FIELD_CHARS;
/// The most `roles`, `scopes` or `tags` one beacon carries.
pub const MAX_LIST_ITEMS: usize = 32;
/// The longest `sessionKey`, in bytes (as `wake`'s).
pub const MAX_SESSION_KEY_BYTES: usize = 256;

/// OpenClaw's `SystemEventParamsSchema` (a closed object).
const KEYS: &[&str] = &[
    "text",
    "idempotencyKey",
    "sessionKey",
    "wake",
    "deviceId",
    "instanceId",
    "host",
    "ip",
    "mode",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "lastInputSeconds",
    "reason",
    "roles",
    "scopes",
    "tags",
];

/// An optional presence string: at most [`MAX_FIELD_CHARS`], no control characters (they
/// end up in every operator's presence list); empty counts as absent.
fn field(o: &Map<String, Value>, key: &str) -> Result<Option<String>, ErrorShape> {
    let Some(s) = opt_str(M, o, key, &[])? else {
        return Ok(None);
    };
    if s.chars().count() > MAX_FIELD_CHARS {
        return Err(invalid(
            M,
            format!("{key} is longer than {MAX_FIELD_CHARS} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(
            M,
            format!("{key} must not contain control characters"),
        ));
    }
    let s = s.trim();
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// An optional list of strings (`roles`, `scopes`, `tags`).
fn list(o: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ErrorShape> {
    let items = match o.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(M, format!("{key} must be array"))),
    };
    if items.len() > MAX_LIST_ITEMS {
        return Err(invalid(
            M,
            format!("{key} must NOT have more than {MAX_LIST_ITEMS} items"),
        ));
    }
    items
        .iter()
        .map(|v| match v.as_str() {
            Some(s) if s.chars().count() <= MAX_FIELD_CHARS && !s.chars().any(char::is_control) => {
                Ok(s.to_owned())
            }
            Some(_) => Err(invalid(
                M,
                format!("{key} items must be at most {MAX_FIELD_CHARS} characters, without control characters"),
            )),
            None => Err(invalid(M, format!("{key} items must be string"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Parses `system-event` params (OpenClaw's schema, with bounds on every string).
pub fn parse_system_event(v: &Value) -> Result<SystemEvent, ErrorShape> {
    let o = params(M, v)?;
    closed(M, &o, KEYS)?;
    let text = match o.get("text") {
        Some(Value::String(s)) => s.trim(),
        Some(_) => return Err(invalid(M, "text must be string")),
        None => return Err(invalid(M, "must have required property 'text'")),
    };
    if text.is_empty() {
        return Err(ErrorShape::invalid("text required"));
    }
    if text.chars().count() > crate::cron::job::MAX_TEXT_CHARS {
        return Err(invalid(
            M,
            format!(
                "text is longer than {} characters",
                crate::cron::job::MAX_TEXT_CHARS
            ),
        ));
    }
    if let Some(k) = o.get("idempotencyKey")
        && k.as_str().is_none_or(str::is_empty)
    {
        return Err(invalid(M, "idempotencyKey must be a non-empty string"));
    }
    let wake = match o.get("wake") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(M, "wake must be boolean")),
    };
    let session_key = match opt_str(M, &o, "sessionKey", &[])?.map(str::trim) {
        None | Some("") => None,
        Some(k) if k.len() > MAX_SESSION_KEY_BYTES => {
            return Err(invalid(
                M,
                format!("sessionKey is longer than {MAX_SESSION_KEY_BYTES} bytes"),
            ));
        }
        Some(k) => {
            let key = crate::channel::normalize_session_key(k);
            let agent = crate::agents::key_agent(&key).unwrap_or(crate::agents::MAIN);
            if !crate::agents::known_now(agent) {
                let shown: String = agent.chars().take(64).collect();
                return Err(ErrorShape::invalid(format!("Unknown agent id \"{shown}\"")));
            }
            Some(key)
        }
    };
    let last_input_seconds = match o.get("lastInputSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            // Whole seconds; a negative count is "just now".
            Some(f) if f.is_finite() => Some(f.max(0.0).min(u32::MAX.into()) as u64),
            _ => return Err(invalid(M, "lastInputSeconds must be a finite number")),
        },
        Some(_) => return Err(invalid(M, "lastInputSeconds must be number")),
    };
    Ok(SystemEvent {
        beacon: Beacon {
            text: text.to_owned(),
            device_id: field(&o, "deviceId")?,
            instance_id: field(&o, "instanceId")?,
            host: field(&o, "host")?,
            ip: field(&o, "ip")?,
            mode: field(&o, "mode")?,
            version: field(&o, "version")?,
            platform: field(&o, "platform")?,
            device_family: field(&o, "deviceFamily")?,
            model_identifier: field(&o, "modelIdentifier")?,
            last_input_seconds,
            reason: field(&o, "reason")?,
            roles: list(&o, "roles")?,
            scopes: list(&o, "scopes")?,
            tags: list(&o, "tags")?,
        },
        session_key,
        wake,
    })
}

impl WsSession {
    /// `system-event {text, sessionKey?, wake?, deviceId?, instanceId?, host?, ip?, …}`.
    fn system_event(&mut self, call: Call, ctx: &mut Context<Self>) {
        match parse_system_event(&call.params) {
            Ok(msg) => self.reply_registry(call.id, msg, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `system.info {}`: the gateway host's names, OS, CPU, load, memory and disk.
    fn system_info(&mut self, call: Call, ctx: &mut Context<Self>) {
        const SI: &str = "system.info";
        if let Err(e) = params(SI, &call.params).and_then(|o| closed(SI, &o, &[])) {
            return self.respond_err(&call.id, &e, ctx);
        }
        let shared = self.shared.clone();
        // /proc reads and a `statvfs` of the state directory (which a hung network mount
        // can stall): off this session's thread, which serves other sockets too.
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    let cfg = &shared.config;
                    crate::host_facts::system_info(&crate::host_facts::GatewayFacts {
                        machine_name: &cfg.host_name,
                        port: shared.live.get().port,
                        version: &cfg.server_version,
                        instance_id: &shared.instance_id,
                        uptime_ms: shared.uptime_ms(),
                        state_dir: &cfg.state_dir,
                    })
                })
                .await
                .map_err(|_| super::gone())
            },
            ctx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        match parse_system_event(&v) {
            Ok(_) => panic!("accepted {v}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn a_beacon_is_read_with_every_field_and_bounded() {
        let ev = parse_system_event(&json!({
            "text": "  Node: mac · mode local  ", "deviceId": "DEV-1", "instanceId": "i-1",
            "host": " mac ", "ip": "10.0.0.7", "mode": "local", "version": "2026.9.6",
            "platform": "macos 15", "deviceFamily": "Mac", "modelIdentifier": "Mac15,3",
            "lastInputSeconds": 12.7, "reason": "periodic", "roles": ["operator"],
            "scopes": ["operator.admin"], "tags": ["system-presence-clear-last-input"],
            "idempotencyKey": "k1", "host": "mac",
        }))
        .expect("valid");
        assert_eq!(ev.beacon.text, "Node: mac · mode local");
        assert_eq!(ev.beacon.host.as_deref(), Some("mac"));
        assert_eq!(ev.beacon.last_input_seconds, Some(12));
        assert_eq!(
            ev.beacon.tags.as_deref(),
            Some(&["system-presence-clear-last-input".to_owned()][..])
        );
        assert!(!ev.wake && ev.session_key.is_none());
        // Empty strings count as absent; a negative input age is "just now".
        let ev = parse_system_event(&json!({"text": "x", "host": "  ", "lastInputSeconds": -4}))
            .expect("valid");
        assert_eq!(ev.beacon.host, None);
        assert_eq!(ev.beacon.last_input_seconds, Some(0));
        // A bare session key is the default agent's.
        let ev = parse_system_event(&json!({"text": "x", "sessionKey": "main", "wake": true}))
            .expect("valid");
        assert_eq!(ev.session_key.as_deref(), Some("agent:main:main"));
        assert!(ev.wake);
    }

    #[test]
    fn bad_system_events_are_refused_with_the_field_named() {
        assert!(err(json!({})).contains("required property 'text'"));
        assert_eq!(err(json!({"text": "   "})), "text required");
        assert!(err(json!({"text": 5})).contains("text must be string"));
        assert!(err(json!({"text": "x", "extra": 1})).contains("additional properties ('extra')"));
        assert!(err(json!({"text": "x", "wake": "yes"})).contains("wake must be boolean"));
        assert!(err(json!({"text": "x", "host": 7})).contains("host must be a string"));
        let long = "h".repeat(MAX_FIELD_CHARS + 1);
        assert!(err(json!({"text": "x", "host": long})).contains("host is longer than 256"));
        assert!(err(json!({"text": "x", "ip": "1\u{0}2"})).contains("ip must not contain control"));
        assert!(err(json!({"text": "x", "roles": "operator"})).contains("roles must be array"));
        assert!(err(json!({"text": "x", "tags": [1]})).contains("tags items must be string"));
        let many: Vec<String> = (0..=MAX_LIST_ITEMS).map(|i| i.to_string()).collect();
        assert!(err(json!({"text": "x", "scopes": many})).contains("more than 32 items"));
        assert!(err(json!({"text": "x", "lastInputSeconds": "3"})).contains("must be number"));
        assert!(err(json!({"text": "x", "idempotencyKey": ""})).contains("idempotencyKey"));
        let key = "k".repeat(MAX_SESSION_KEY_BYTES + 1);
        assert!(err(json!({"text": "x", "sessionKey": key})).contains("longer than 256 bytes"));
        assert!(
            err(json!({"text": "x", "sessionKey": "agent:ghost:main"}))
                .contains("Unknown agent id \"ghost\"")
        );
        let text = "t".repeat(crate::cron::job::MAX_TEXT_CHARS + 1);
        assert!(err(json!({"text": text})).contains("text is longer than"));
        assert!(err(json!([1])).contains("must be object"));
    }
}
