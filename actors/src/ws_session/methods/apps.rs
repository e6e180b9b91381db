//! What the phone and desktop apps ask when they connect (OpenClaw's
//! `server-methods/voicewake.ts`, `voicewake-routing.ts`, `talk.ts`, `system.ts`):
//! `voicewake.get` / `.set` / `.routing.get` (the gateway's wake words, see
//! [`crate::voicewake`]), `talk.config` (the Talk settings of the config file, secrets
//! redacted) and `gateway.identity.get` (the host's device identity, used by the apps'
//! push relay registration).

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::obj;
use super::{Call, Method, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::node_events::{GetVoiceWake, SetVoiceWake};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "voicewake.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::voicewake_get,
    },
    Method {
        name: "voicewake.set",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::voicewake_set,
    },
    Method {
        name: "voicewake.routing.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::voicewake_get,
    },
    Method {
        name: "talk.config",
        access: MethodAccess::Operator(READ),
        handler: WsSession::talk_config,
    },
    Method {
        name: "gateway.identity.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::gateway_identity,
    },
];

/// The params of a method that takes none: absent, `null` or `{}`.
fn no_params(call: &Call) -> Result<(), ErrorShape> {
    match &call.params {
        Value::Null => Ok(()),
        p => {
            let o = obj(call.method, p)?;
            let mut c = Checker::new();
            c.closed("", o, &[]);
            if c.ok() {
                Ok(())
            } else {
                Err(super::agent_params::fail(call.method, &c))
            }
        }
    }
}

impl WsSession {
    /// `voicewake.get` → `{triggers}`; `voicewake.routing.get` → `{config}`.
    fn voicewake_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        if let Err(e) = no_params(&call) {
            return self.respond_err(&call.id, &e, ctx);
        }
        let routing = call.method == "voicewake.routing.get";
        let fut = self.registry.send(GetVoiceWake);
        self.reply_with(
            call.id,
            async move {
                let vw = fut.await.map_err(|_| gone())?;
                Ok(if routing {
                    json!({"config": vw.routing.to_value()})
                } else {
                    json!({"triggers": vw.triggers.triggers})
                })
            },
            ctx,
        );
    }

    /// `voicewake.set {triggers: string[]}` → `{triggers}` as saved (normalized), after
    /// `voicewake.changed` went to operators and nodes.
    fn voicewake_set(&mut self, call: Call, ctx: &mut Context<Self>) {
        let triggers = match call.params.get("triggers") {
            Some(Value::Array(a)) => crate::voicewake::normalize_triggers(a),
            _ => {
                let e = ErrorShape::invalid("voicewake.set requires triggers: string[]");
                return self.respond_err(&call.id, &e, ctx);
            }
        };
        let fut = self.registry.send(SetVoiceWake { triggers });
        self.reply_with(
            call.id,
            async move {
                let saved = fut.await.map_err(|_| gone())?.map_err(|e| {
                    ErrorShape::unavailable(format!("cannot save the wake words: {e}"))
                })?;
                Ok(json!({"triggers": saved}))
            },
            ctx,
        );
    }

    /// `talk.config {includeSecrets?}` → `{config: {talk?, session?: {mainKey}, ui?:
    /// {seamColor}}}` from the config file, with its secrets redacted. `includeSecrets` is
    /// refused: this gateway never sends a provider key to a client.
    fn talk_config(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "talk.config";
        if !call.params.is_null() {
            let o = match obj(M, &call.params) {
                Ok(o) => o,
                Err(e) => return self.respond_err(&call.id, &e, ctx),
            };
            let mut c = Checker::new();
            c.closed("", o, &["includeSecrets"]);
            let secrets = c.boolean("", o, "includeSecrets");
            if !c.ok() {
                let e = super::agent_params::fail(M, &c);
                return self.respond_err(&call.id, &e, ctx);
            }
            if secrets == Some(true) {
                let e = ErrorShape::invalid(
                    "talk.config includeSecrets is not supported: this gateway never sends provider keys to clients. Fix: call talk.config without includeSecrets (keys stay on the gateway)",
                );
                return self.respond_err(&call.id, &e, ctx);
            }
        }
        let ops = self.shared.ops.get().cloned();
        let fut = async move {
            let ops = ops.ok_or_else(super::config::unavailable)?;
            let snap = tokio::task::spawn_blocking(move || ops.config_get())
                .await
                .map_err(|_| ErrorShape::unavailable("talk.config failed"))?
                .map_err(ErrorShape::unavailable)?;
            Ok(talk_view(&snap["parsed"]))
        };
        self.reply_with(call.id, fut, ctx);
    }

    /// `gateway.identity.get` → `{deviceId, publicKey}`.
    fn gateway_identity(&mut self, call: Call, ctx: &mut Context<Self>) {
        if let Err(e) = no_params(&call) {
            return self.respond_err(&call.id, &e, ctx);
        }
        let ops = self.shared.ops.get().cloned();
        let fut = async move {
            let ops = ops.ok_or_else(super::config::unavailable)?;
            tokio::task::spawn_blocking(move || ops.gateway_identity())
                .await
                .map_err(|_| ErrorShape::unavailable("gateway.identity.get failed"))?
                .map_err(ErrorShape::unavailable)
        };
        self.reply_with(call.id, fut, ctx);
    }
}

/// `talk.config`'s answer from the (redacted) config file: its `talk` section, the
/// `session.mainKey` and `ui.seamColor` when they are strings.
fn talk_view(file: &Value) -> Value {
    let mut config = serde_json::Map::new();
    if let Some(talk) = file.get("talk").filter(|t| t.is_object()) {
        config.insert("talk".into(), talk.clone());
    }
    if let Some(k) = file.pointer("/session/mainKey").and_then(Value::as_str) {
        config.insert("session".into(), json!({"mainKey": k}));
    }
    if let Some(c) = file
        .pointer("/ui/seamColor")
        .and_then(Value::as_str)
        .filter(|c| *c != "theme")
    {
        config.insert("ui".into(), json!({"seamColor": c}));
    }
    json!({"config": config})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talk_view_keeps_only_what_the_apps_read() {
        let file = json!({
            "talk": {"voiceId": "v1", "apiKey": "__OPENCLAW_REDACTED__"},
            "session": {"mainKey": "main", "other": 1},
            "ui": {"seamColor": "#112233"},
            "gateway": {"auth": {"token": "__OPENCLAW_REDACTED__"}},
        });
        assert_eq!(
            talk_view(&file),
            json!({"config": {
                "talk": {"voiceId": "v1", "apiKey": "__OPENCLAW_REDACTED__"},
                "session": {"mainKey": "main"},
                "ui": {"seamColor": "#112233"},
            }})
        );
        assert_eq!(talk_view(&Value::Null), json!({"config": {}}));
        assert_eq!(
            talk_view(&json!({"talk": "x", "ui": {"seamColor": "theme"}})),
            json!({"config": {}})
        );
    }
}
