//! `question.list` and `plugin.approval.list` (OpenClaw's `server-methods/questions.ts`,
//! `plugin-approvals.ts`): what agent questions and plugin approvals wait for an operator.
//! This gateway's agent asks no questions and it runs no plugins, so nothing ever waits:
//! both answer an empty list, in OpenClaw's shapes, which is what OpenClaw's TUI reads at
//! start (an unknown method there shows up as an error line).

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{APPROVALS, MethodAccess};
use crate::protocol::validate::Checker;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "question.list",
        access: MethodAccess::Operator("operator.questions"),
        handler: WsSession::question_list,
    },
    Method {
        name: "plugin.approval.list",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::plugin_approval_list,
    },
];

/// `params` must be absent or an object without keys (OpenClaw's closed `{}` schema).
fn empty_params(method: &str, params: &Value) -> Result<(), ErrorShape> {
    if params.is_null() {
        return Ok(());
    }
    let mut c = Checker::new();
    c.closed("", obj(method, params)?, &[]);
    if c.ok() {
        Ok(())
    } else {
        Err(fail(method, &c))
    }
}

impl WsSession {
    /// `question.list {}` → `{questions: []}`.
    fn question_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        match empty_params("question.list", &call.params) {
            Ok(()) => self.respond_ok(&call.id, &json!({"questions": []}), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `plugin.approval.list` → `[]` (OpenClaw reads no params here).
    fn plugin_approval_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.respond_ok(&call.id, &json!([]), ctx);
    }
}
