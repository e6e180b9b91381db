//! `sessions.list` (OpenClaw's `server-methods/sessions.ts`).

use actix::prelude::*;
use serde_json::Value;

use super::{Call, Method, gone};
use crate::protocol::scopes::{MethodAccess, READ};
use crate::registry::runs::ListSessions;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[Method {
    name: "sessions.list",
    access: MethodAccess::Operator(READ),
    handler: WsSession::sessions_list,
}];

impl WsSession {
    /// `sessions.list {limit?}` (1..=1000, default 50).
    fn sessions_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let limit = call
            .params
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(50)
            .clamp(1, 1000);
        let fut = self.registry.send(ListSessions {
            limit: usize::try_from(limit).unwrap_or(50),
        });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }
}
