//! `chat.send`, `chat.history`, `chat.abort`, `agent`, `agent.wait` (OpenClaw's
//! `server-methods/chat.ts`, `agent.ts`).

use actix::prelude::*;
use serde_json::json;

use super::agent_params::{AbortParams, HistoryParams, SubmitParams, WaitParams};
use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::protocol::scopes::{ADMIN, MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::runs::{AbortRun, ChatHistory, SubmitRun, WaitReply, WaitRun};
use crate::util::now_ms;
use crate::ws_session::{ErrorShape, WsSession};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "chat.send",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::submit_run),
    },
    Method {
        name: "chat.history",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::chat_history),
    },
    Method {
        name: "chat.message.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::chat_message_get,
    },
    Method {
        name: "chat.abort",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::chat_abort),
    },
    Method {
        name: "agent",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::submit_run),
    },
    Method {
        name: "chat.inject",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::chat_inject),
    },
    Method {
        name: "chat.toolTitles",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::chat_tool_titles,
    },
    Method {
        name: "agent.wait",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::agent_wait),
    },
];

/// The longest note `chat.inject` writes (bytes).
const MAX_NOTE_BYTES: usize = 64 * 1024;

/// `chat.inject {sessionKey, message, label?, agentId?}` (OpenClaw's closed schema): the
/// note is `[label]\n\n` + message.
pub(crate) struct InjectParams {
    session_key: String,
    text: String,
}

impl Params for InjectParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "chat.inject";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["sessionKey", "agentId", "message", "label"]);
        c.required("", o, "sessionKey");
        c.required("", o, "message");
        let key = c.string("", o, "sessionKey", true);
        let agent = c
            .string("", o, "agentId", true)
            .map(|a| a.trim().to_ascii_lowercase());
        let message = c.string("", o, "message", true);
        let label = c.string("", o, "label", false);
        if label.is_some_and(|l| l.chars().count() > 100) {
            c.error("/label", "must NOT have more than 100 characters");
        }
        let (Some(key), Some(message)) = (key, message) else {
            return Err(fail(M, &c));
        };
        if !c.ok() {
            return Err(fail(M, &c));
        }
        let key = key.trim();
        let session_key = match &agent {
            Some(a) if !key.starts_with("agent:") => format!("agent:{a}:{key}"),
            _ => crate::channel::normalize_session_key(key),
        };
        if let Some(a) = &agent
            && crate::agents::key_agent(&session_key) != Some(a.as_str())
        {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: sessionKey is not a session of agentId \"{a}\""
            )));
        }
        let text = match label.map(str::trim).filter(|l| !l.is_empty()) {
            Some(l) => format!("[{l}]\n\n{message}"),
            None => message.to_owned(),
        };
        if text.len() > MAX_NOTE_BYTES {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: the note is {} bytes; at most {MAX_NOTE_BYTES}",
                text.len()
            )));
        }
        Ok(Self { session_key, text })
    }
}

impl WsSession {
    /// `chat.inject`: `{ok: true, messageId}` once the note is in the transcript.
    fn chat_inject(&mut self, call: Call, p: InjectParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(crate::registry::runs::InjectNote {
            session_key: p.session_key,
            text: p.text,
        });
        self.reply_with(
            call.id,
            async move {
                let id = fut.await.map_err(|_| gone())??;
                Ok(json!({"ok": true, "messageId": id}))
            },
            ctx,
        );
    }

    /// `chat.send` (answers once the run is accepted) and `agent` (answers `accepted`, then
    /// the run's outcome under the same id).
    pub(super) fn submit_run(&mut self, call: Call, p: SubmitParams, ctx: &mut Context<Self>) {
        let id = call.id;
        let admin = call
            .scopes
            .iter()
            .any(|s| s == crate::protocol::scopes::ADMIN);
        // Another model for a run is the admin's choice (the real CLI connects as admin for
        // `openclaw agent --model`).
        if p.model.is_some() && !admin {
            let err = ErrorShape::missing_scope(crate::protocol::scopes::ADMIN);
            return self.respond_err(&id, &err, ctx);
        }
        // Only a configured agent's sessions: its id also names directories.
        if let Some(e) = self.shared.live.get().agents.refuse_key(&p.session_key) {
            let err = ErrorShape::invalid(format!("invalid {} params: {e}", call.method));
            return self.respond_err(&id, &err, ctx);
        }
        let wait = p.wait;
        let fut = self.registry.send(SubmitRun {
            admin,
            run_id: p.run_id,
            session_key: p.session_key,
            text: p.text,
            sender: Some(format!("operator:{}", self.conn_id)),
            uploads: p.uploads,
            thinking: p.thinking,
            delivery: p.delivery.clone(),
            model: p.model,
            session_id: p.session_id,
            voice_wake_trigger: p.voice_wake_trigger,
            alone: false,
            queue_mode: p.queue_mode,
            existing: p.existing,
        });
        // `sessions.send` / `sessions.steer` announce the session after their answer.
        let announces = call.method.starts_with("sessions.");
        let best_effort = p.delivery.as_ref().is_some_and(|d| d.best_effort);
        let two_phase = call.method == "agent";
        fut.into_actor(self)
            .map(move |res, act, ctx| {
                let ack = match res {
                    Ok(Ok(a)) => a,
                    Ok(Err(e)) => return act.respond_err(&id, &e, ctx),
                    Err(_) => return act.respond_err(&id, &gone(), ctx),
                };
                if !two_phase {
                    let mut out = json!({"runId": ack.run_id, "status": ack.status, "sessionKey": ack.session_key});
                    if ack.interrupted {
                        out["interruptedActiveRun"] = json!(true);
                    }
                    act.respond_ok(&id, &out, ctx);
                    if let Some(gate) = &ack.answered {
                        gate.open();
                    }
                    if announces {
                        act.registry.do_send(crate::registry::session_reset::AnnounceSession {
                            key: ack.session_key,
                            reason: if ack.interrupted { "steer" } else { "send" },
                        });
                    }
                    return;
                }
                act.respond_ok(
                    &id,
                    &json!({"runId": ack.run_id, "status": "accepted", "acceptedAt": now_ms(), "sessionKey": ack.session_key}),
                    ctx,
                );
                if let Some(gate) = &ack.answered {
                    gate.open();
                }
                let wait_fut = act.registry.send(WaitRun {
                    run_id: ack.run_id.clone(),
                    timeout: wait,
                });
                act.reply_with(
                    id,
                    async move {
                        let reply = wait_fut.await.map_err(|_| gone())?;
                        let status = reply.status().as_str();
                        let summary = match status {
                            "ok" => "completed",
                            "aborted" => "aborted",
                            _ => "failed",
                        };
                        let (text, started, ended, error, delivery) = match reply {
                            WaitReply::Run(v) => {
                                (v.text, v.started_at, v.ended_at, v.error, v.delivery)
                            }
                            WaitReply::Failed { error, .. } => {
                                (None, None, None, Some(error), None)
                            }
                            WaitReply::Gone => (None, None, None, None, None),
                        };
                        let text = text.unwrap_or_default();
                        // A silent answer (`NO_REPLY`) has nothing to show.
                        let payloads = if crate::agent_run::is_silent(&text) {
                            json!([])
                        } else {
                            json!([{"text": text}])
                        };
                        let mut out = json!({
                            "runId": ack.run_id, "status": if status == "aborted" { "error" } else { status },
                            "summary": summary, "sessionKey": ack.session_key,
                            "result": {"payloads": payloads, "meta": {"startedAt": started, "endedAt": ended}},
                        });
                        if let Some(e) = error {
                            out["error"] = json!(e);
                        }
                        if let Some(d) = delivery {
                            // A delivery that did not happen fails the call, unless it was
                            // only asked for at best (`bestEffortDeliver`).
                            if d["status"] == "failed" && !best_effort {
                                let why = d["errorMessage"]
                                    .as_str()
                                    .or(d["reason"].as_str())
                                    .unwrap_or("failed");
                                out["status"] = json!("error");
                                out["summary"] = json!("failed");
                                out["error"] = json!(format!("delivery failed: {why}"));
                            }
                            out["result"]["deliveryStatus"] = d;
                        }
                        Ok(out)
                    },
                    ctx,
                );
            })
            .spawn(ctx);
    }

    /// `agent.wait {runId, timeoutMs?}`.
    fn agent_wait(&mut self, call: Call, p: WaitParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(WaitRun {
            run_id: p.run_id,
            timeout: p.timeout,
        });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `chat.history {sessionKey, limit?}`.
    fn chat_history(&mut self, call: Call, p: HistoryParams, ctx: &mut Context<Self>) {
        self.reply_registry(
            call.id,
            ChatHistory {
                session_key: p.session_key,
                limit: p.limit,
                max_chars: p.max_chars,
                max_bytes: p.max_bytes,
            },
            ctx,
        );
    }

    /// `chat.message.get {sessionKey, messageId, maxChars?, agentId?}` → `{ok, message?,
    /// unavailableReason?}` (see [`crate::registry::runs::ChatMessageGet`]).
    fn chat_message_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        use crate::registry::runs::{ChatMessageGet, history_limits as l};
        const M: &str = "chat.message.get";
        let parsed = super::agent_params::obj(M, &call.params).and_then(|o| {
            let mut c = crate::protocol::validate::Checker::new();
            c.closed("", o, &["sessionKey", "agentId", "messageId", "maxChars"]);
            c.required("", o, "sessionKey");
            c.required("", o, "messageId");
            let key = c.string("", o, "sessionKey", true);
            let id = c.string("", o, "messageId", true);
            c.string("", o, "agentId", true);
            let max = c.integer("", o, "maxChars", 1);
            if max.is_some_and(|n| n > 2_000_000) {
                c.error("/maxChars", "must be <= 2000000");
            }
            match (key, id) {
                (Some(k), Some(i)) if c.ok() => Ok(ChatMessageGet {
                    session_key: crate::channel::normalize_session_key(k),
                    message_id: i.to_owned(),
                    max_chars: max.map_or(l::DEFAULT_CHARS, |n| {
                        usize::try_from(n.min(l::MAX_CHARS)).unwrap_or(l::DEFAULT_CHARS)
                    }),
                }),
                _ => Err(super::agent_params::fail(M, &c)),
            }
        });
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.reply_registry(call.id, msg, ctx);
    }

    /// `chat.toolTitles {sessionKey, agentId?, items}`: deprecated in OpenClaw, which
    /// checks the request and answers `{titles: {}, disabled: true}` so that older clients
    /// stop asking (no model is called for titles).
    fn chat_tool_titles(&mut self, call: Call, ctx: &mut Context<Self>) {
        match tool_titles_params(&call.params) {
            Ok(()) => self.respond_ok(&call.id, &json!({"titles": {}, "disabled": true}), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `chat.abort {sessionKey, runId?}`.
    fn chat_abort(&mut self, call: Call, p: AbortParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(AbortRun {
            session_key: p.session_key,
            run_id: p.run_id,
        });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }
}

/// Checks `chat.toolTitles` params against OpenClaw's closed `ChatToolTitlesParamsSchema`:
/// `items` holds 1 to 24 `{id, name, input}` of at most 64, 200 and 4000 characters.
fn tool_titles_params(p: &serde_json::Value) -> Result<(), ErrorShape> {
    const M: &str = "chat.toolTitles";
    let o = obj(M, p)?;
    let mut c = Checker::new();
    c.closed("", o, &["sessionKey", "agentId", "items"]);
    c.required("", o, "sessionKey");
    c.required("", o, "items");
    c.string("", o, "sessionKey", true);
    c.string("", o, "agentId", true);
    match o.get("items") {
        None => {}
        Some(serde_json::Value::Array(items)) if items.is_empty() || items.len() > 24 => {
            let bound = if items.is_empty() {
                "must NOT have fewer than 1 items"
            } else {
                "must NOT have more than 24 items"
            };
            c.error("/items", bound);
        }
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("/items/{i}");
                let Some(item) = c.object(&path, item) else {
                    continue;
                };
                c.closed(&path, item, &["id", "name", "input"]);
                for (key, max) in [("id", 64), ("name", 200), ("input", 4000)] {
                    c.required(&path, item, key);
                    if c.string(&path, item, key, false).is_some_and(|v| {
                        let n = v.chars().count();
                        n == 0 || n > max
                    }) {
                        c.error(
                            &format!("{path}/{key}"),
                            &format!("must be 1 to {max} characters"),
                        );
                    }
                }
            }
        }
        Some(_) => c.error("/items", "must be array"),
    }
    if c.ok() { Ok(()) } else { Err(fail(M, &c)) }
}
