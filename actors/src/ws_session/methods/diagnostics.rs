//! `diagnostics.stability` and `doctor.memory.status` (OpenClaw's
//! `server-methods/diagnostics.ts` and `doctor.ts`): what the real CLI's `openclaw gateway
//! stability` and `openclaw doctor` ask a running gateway.

use actix::prelude::*;
use serde_json::{Value, json};

use super::{Call, Method, Params};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::stability::Query;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "diagnostics.stability",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::diagnostics_stability),
    },
    Method {
        name: "doctor.memory.status",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::doctor_memory_status),
    },
];

impl Params for Query {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        Query::parse(&call.params).map_err(ErrorShape::invalid)
    }
}

/// What this gateway says of its memory search: keyword search, no embeddings to check.
pub(crate) const NO_EMBEDDINGS: &str = "this gateway's memory_search is keyword (BM25) search over MEMORY.md and memory/**/*.md; it uses no embeddings, so there is nothing to probe";

/// `doctor.memory.status {agentId?, probe?, deep?}`: the agent whose memory is meant.
pub(crate) struct MemoryStatusParams {
    agent: String,
}

impl Params for MemoryStatusParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let agent = match call.params.get("agentId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim()),
            Some(_) => return Err(ErrorShape::invalid("agentId must be a string")),
        };
        let agent = match agent.filter(|a| !a.is_empty()) {
            None => crate::agents::default_id_now().to_string(),
            Some(a) => {
                let id = a.to_ascii_lowercase();
                if !crate::agents::known_now(&id) {
                    let shown: String = a.chars().take(64).collect();
                    return Err(ErrorShape::invalid(format!("unknown agent id \"{shown}\"")));
                }
                id
            }
        };
        Ok(Self { agent })
    }
}

impl WsSession {
    /// `diagnostics.stability {limit?, type?, sinceSeq?}`: the stability ring's records.
    fn diagnostics_stability(&mut self, call: Call, q: Query, ctx: &mut Context<Self>) {
        let snapshot = crate::stability::snapshot(&q);
        self.respond_ok(&call.id, &snapshot, ctx);
    }

    /// `doctor.memory.status`: memory search is available (keyword search over the
    /// agent's memory files); there are no embeddings, so their readiness is `checked:
    /// false` (the CLI then reports the probe as skipped, not as failed).
    fn doctor_memory_status(&mut self, call: Call, p: MemoryStatusParams, ctx: &mut Context<Self>) {
        let answer = json!({
            "agentId": p.agent,
            "provider": "none",
            "searchRuntimeRegistered": true,
            "embedding": {"ok": false, "checked": false, "error": NO_EMBEDDINGS},
        });
        self.respond_ok(&call.id, &answer, ctx);
    }
}
