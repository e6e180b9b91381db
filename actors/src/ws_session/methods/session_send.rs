//! `sessions.send`, `sessions.steer` and `sessions.abort` (OpenClaw's
//! `server-methods/sessions-messaging.ts`, `sessions-abort.ts`): the session-addressed
//! forms of `chat.send` and `chat.abort` that OpenClaw's newer clients call.
//!
//! - `sessions.send {key, message, …}` is `chat.send` into a session that exists (an
//!   agent's main session always does); an unknown key is refused instead of starting a
//!   new session. `idempotencyKey` is optional (a fresh id when absent).
//! - `sessions.steer` is the same with queue mode `interrupt` for this message: the
//!   session's running run stops and the message runs next.
//! - `sessions.abort {key?, runId?, clearQueued?}`: see
//!   [`crate::registry::session_abort`].
//!
//! A send that was accepted gets `sessions.changed {reason: "send" | "steer"}` after its
//! answer (`steer` when it interrupted a run).

use actix::prelude::*;
use serde_json::Value;

use super::agent_params::{SubmitParams, fail, obj};
use super::{Call, Method, Params};
use crate::channel::normalize_session_key;
use crate::protocol::scopes::{MethodAccess, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::session_abort::SessionAbort;
use crate::ws_session::{ErrorShape, WsSession};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "sessions.send",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::session_send),
    },
    Method {
        name: "sessions.steer",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::session_send),
    },
    Method {
        name: "sessions.abort",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::session_abort),
    },
];

/// The most `mentions` a message carries (OpenClaw's `HumanMentionsSchema`).
const MAX_MENTIONS: usize = 10;

/// `key` (with `agentId`: `agent:<agentId>:<key>` for a bare key; an agent key must be
/// that agent's), normalized.
pub(super) fn session_key(
    method: &str,
    key: &str,
    agent: Option<&str>,
) -> Result<String, ErrorShape> {
    let key = key.trim();
    let Some(agent) = agent.map(|a| a.trim().to_ascii_lowercase()) else {
        return Ok(normalize_session_key(key));
    };
    if !key.starts_with("agent:") {
        return Ok(normalize_session_key(&format!("agent:{agent}:{key}")));
    }
    let normalized = normalize_session_key(key);
    if crate::agents::key_agent(&normalized) != Some(agent.as_str()) {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: session key agent does not match agentId"
        )));
    }
    Ok(normalized)
}

/// `sessions.send` / `sessions.steer` params (OpenClaw's closed `SessionsSendParamsSchema`),
/// as the `chat.send` they become.
pub(crate) struct SessionSendParams(SubmitParams);

impl SessionSendParams {
    /// Checks the params against OpenClaw's schema; the session key and the idempotency key
    /// (a fresh one when absent) `chat.send` is to get.
    fn check(m: &str, p: &Value) -> Result<(String, String), ErrorShape> {
        let o = obj(m, p)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "key",
                "agentId",
                "message",
                "mentions",
                "thinking",
                "attachments",
                "timeoutMs",
                "idempotencyKey",
            ],
        );
        c.required("", o, "key");
        c.required("", o, "message");
        let key = c.string("", o, "key", true);
        let agent = c.string("", o, "agentId", true);
        let message = c.string("", o, "message", false);
        c.string("", o, "thinking", false);
        c.integer("", o, "timeoutMs", 0);
        let idempotency = c.string("", o, "idempotencyKey", true);
        match o.get("mentions") {
            None => {}
            Some(Value::Array(a)) if a.len() > MAX_MENTIONS => c.error(
                "/mentions",
                &format!("must NOT have more than {MAX_MENTIONS} items"),
            ),
            Some(Value::Array(a)) => {
                for (i, v) in a.iter().enumerate() {
                    if !v.is_object() {
                        c.error(&format!("/mentions/{i}"), "must be object");
                    }
                }
            }
            Some(_) => c.error("/mentions", "must be array"),
        }
        let (Some(key), Some(_)) = (key, message) else {
            return Err(fail(m, &c));
        };
        if !c.ok() {
            return Err(fail(m, &c));
        }
        Ok((
            session_key(m, key, agent)?,
            idempotency.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
        ))
    }
}

impl Params for SessionSendParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let mut owned = Call {
            id: call.id.clone(),
            method: call.method,
            params: call.params.clone(),
            scopes: call.scopes.clone(),
            node_id: call.node_id.clone(),
            caller_device: call.caller_device.clone(),
        };
        Self::take(&mut owned)
    }

    /// Checked, then turned into the `chat.send` params in place (the message and the
    /// attachments, which can be megabytes, are not copied) and parsed as `chat.send`'s.
    fn take(call: &mut Call) -> Result<Self, ErrorShape> {
        let (session_key, idempotency) = Self::check(call.method, &call.params)?;
        if let Value::Object(o) = &mut call.params {
            for k in ["key", "agentId", "mentions", "timeoutMs"] {
                o.remove(k);
            }
            o.insert("sessionKey".into(), Value::String(session_key));
            o.insert("idempotencyKey".into(), Value::String(idempotency));
        }
        let mut p = SubmitParams::parse(call)?;
        p.existing = true;
        if call.method == "sessions.steer" {
            p.queue_mode = Some(crate::run_queue::QueueMode::Interrupt);
        }
        Ok(Self(p))
    }
}

/// `sessions.abort` params (OpenClaw's closed `SessionsAbortParamsSchema`).
pub(crate) struct SessionAbortParams(SessionAbort);

impl Params for SessionAbortParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.abort";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["key", "runId", "agentId", "clearQueued"]);
        let key = c.string("", o, "key", true);
        let run_id = c.string("", o, "runId", true).map(str::to_owned);
        let agent = c.string("", o, "agentId", true);
        let clear_queued = c.boolean("", o, "clearQueued").unwrap_or(false);
        if !c.ok() {
            return Err(fail(M, &c));
        }
        if key.is_none() && run_id.is_none() {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: key or runId is required. Fix: pass the session's key (sessions.list shows them), a run id, or both"
            )));
        }
        let key = key.map(|k| session_key(M, k, agent)).transpose()?;
        Ok(Self(SessionAbort {
            key,
            run_id,
            clear_queued,
        }))
    }
}

impl WsSession {
    /// `sessions.send` / `sessions.steer`: `chat.send` into an existing session.
    fn session_send(&mut self, call: Call, p: SessionSendParams, ctx: &mut Context<Self>) {
        self.submit_run(call, p.0, ctx);
    }

    /// `sessions.abort`.
    fn session_abort(&mut self, call: Call, p: SessionAbortParams, ctx: &mut Context<Self>) {
        self.reply_registry(call.id, p.0, ctx);
    }
}
