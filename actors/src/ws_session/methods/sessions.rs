//! `sessions.list` (OpenClaw's `server-methods/sessions.ts`).

use actix::prelude::*;

use super::agent_params::SessionsListParams;
use super::{Call, Method, gone};
use crate::protocol::scopes::{MethodAccess, READ};
use crate::registry::runs::ListSessions;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[Method {
    name: "sessions.list",
    access: MethodAccess::Operator(READ),
    handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_list),
}];

impl WsSession {
    /// `sessions.list {limit?}` (1..=1000, default 50).
    fn sessions_list(&mut self, call: Call, p: SessionsListParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ListSessions { limit: p.limit });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }
}
