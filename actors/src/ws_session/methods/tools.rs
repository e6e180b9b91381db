//! `tools.catalog` and `tools.effective` (OpenClaw's `server-methods/tools-catalog.ts`,
//! `tools-effective.ts`): the agent tools this gateway has, grouped as OpenClaw's Control
//! UI shows them, and the ones a run in a session is offered right now (see
//! [`crate::registry::tool_inventory`]). And `tools.invoke`: one of those tools called
//! directly ([`crate::registry::tool_invoke`]).

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method};
use crate::protocol::scopes::{ADMIN, MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::tool_inventory::EffectiveToolsAsk;
use crate::registry::tool_invoke::{InvokeTool, target};
use crate::tool_policy::{CATALOG, PROFILES, default_profiles};
use crate::ws_session::{ErrorShape, WsSession};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "tools.catalog",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tools_catalog,
    },
    Method {
        name: "tools.effective",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tools_effective,
    },
    Method {
        name: "tools.invoke",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tools_invoke,
    },
];

/// `tools.catalog`'s answer for `agent_id` (OpenClaw's `ToolsCatalogResult`: every tool
/// with `source: "core"`; this gateway has no plugin tools, so `includePlugins` adds none).
fn catalog(agent_id: &str) -> Value {
    let groups: Vec<Value> = CATALOG
        .iter()
        .map(|(id, label, tools)| {
            let tools: Vec<Value> = tools
                .iter()
                .map(|(tool, summary)| {
                    json!({
                        "id": tool, "label": tool, "description": summary, "source": "core",
                        "defaultProfiles": default_profiles(tool),
                    })
                })
                .collect();
            json!({"id": id, "label": label, "source": "core", "tools": tools})
        })
        .collect();
    let profiles: Vec<Value> = PROFILES
        .iter()
        .map(|(id, label)| json!({"id": id, "label": label}))
        .collect();
    json!({"agentId": agent_id, "profiles": profiles, "groups": groups})
}

impl WsSession {
    /// `tools.catalog {agentId?, includePlugins?}`.
    fn tools_catalog(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "tools.catalog";
        let parsed = obj(M, &call.params).and_then(|o| {
            let mut c = Checker::new();
            c.closed("", o, &["agentId", "includePlugins"]);
            let agent = c.string("", o, "agentId", true).map(str::trim);
            c.boolean("", o, "includePlugins");
            if !c.ok() {
                return Err(fail(M, &c));
            }
            let live = self.shared.live.get();
            match agent {
                None => Ok(live.agents.default_id().to_owned()),
                Some(a) => live
                    .agents
                    .get(&a.to_ascii_lowercase())
                    .map(|d| d.id.clone())
                    .ok_or_else(|| {
                        ErrorShape::invalid(format!(
                            "unknown agent id {:?}. Fix: agents.list shows the agents",
                            a.chars().take(64).collect::<String>()
                        ))
                    }),
            }
        });
        match parsed {
            Ok(agent_id) => self.respond_ok(&call.id, &catalog(&agent_id), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `tools.effective {sessionKey, agentId?}`.
    fn tools_effective(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "tools.effective";
        let parsed = obj(M, &call.params).and_then(|o| {
            let mut c = Checker::new();
            c.closed("", o, &["agentId", "sessionKey"]);
            c.required("", o, "sessionKey");
            let key = c.string("", o, "sessionKey", true);
            let agent = c.string("", o, "agentId", true);
            match key {
                Some(k) if c.ok() => super::session_send::session_key(M, k, agent),
                _ => Err(fail(M, &c)),
            }
        });
        match parsed {
            Ok(session_key) => self.reply_registry(call.id, EffectiveToolsAsk { session_key }, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `tools.invoke {name, args?, sessionKey?, agentId?, confirm?, idempotencyKey?,
    /// conversationReadOrigin?}` (OpenClaw's closed schema). Answered `{ok: true, toolName,
    /// output, source}`, or `{ok: false, toolName, error: {code, message}}` for a tool that
    /// is not available or failed (OpenClaw answers those as results too, not as errors).
    fn tools_invoke(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "tools.invoke";
        let parsed = obj(M, &call.params).and_then(|o| {
            let mut c = Checker::new();
            c.closed(
                "",
                o,
                &[
                    "name",
                    "args",
                    "sessionKey",
                    "agentId",
                    "confirm",
                    "idempotencyKey",
                    "conversationReadOrigin",
                ],
            );
            c.required("", o, "name");
            let name = c.string("", o, "name", true);
            let key = c.string("", o, "sessionKey", true);
            let agent = c.string("", o, "agentId", true);
            let idem = c.string("", o, "idempotencyKey", true);
            c.boolean("", o, "confirm");
            if let Some(origin) = c.string("", o, "conversationReadOrigin", false)
                && origin != "direct-operator"
            {
                c.error("/conversationReadOrigin", "must be equal to constant");
            }
            let args = match o.get("args") {
                None => Some(serde_json::Map::new()),
                Some(Value::Object(a)) => Some(a.clone()),
                Some(_) => {
                    c.error("/args", "must be object");
                    None
                }
            };
            match (name, args) {
                (Some(name), Some(args)) if c.ok() => {
                    let session_key = target(key, agent)
                        .map_err(|e| ErrorShape::invalid(format!("invalid {M} params: {e}")))?;
                    Ok((
                        name.trim().to_owned(),
                        args,
                        session_key,
                        idem.map(str::to_owned),
                    ))
                }
                _ => Err(fail(M, &c)),
            }
        });
        let (name, args, session_key, idempotency_key) = match parsed {
            Ok(p) => p,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let owner = call.scopes.iter().any(|s| s == ADMIN);
        let fut = self.registry.send(InvokeTool {
            session_key,
            name: name.clone(),
            args,
            action: None,
            idempotency_key,
            owner,
            surface: "rpc",
        });
        self.reply_with(
            call.id,
            async move {
                let outcome = fut
                    .await
                    .map_err(|_| ErrorShape::unavailable("gateway is shutting down"))?;
                Ok(match outcome {
                    Ok(output) => {
                        json!({"ok": true, "toolName": name, "output": output, "source": "core"})
                    }
                    Err(f) => json!({"ok": false, "toolName": name,
                        "error": {"code": f.kind.rpc_code(), "message": f.message}}),
                })
            },
            ctx,
        );
    }
}
