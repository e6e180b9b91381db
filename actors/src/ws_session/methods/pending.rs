//! `question.list` and `plugin.approval.list` (OpenClaw's `server-methods/questions.ts`,
//! `plugin-approvals.ts`): what agent questions and plugin approvals wait for an operator.
//! This gateway's agent asks no questions and it runs no plugins, so nothing ever waits:
//! both answer an empty list, in OpenClaw's shapes, which is what OpenClaw's TUI reads at
//! start (an unknown method there shows up as an error line). And `commands.list`
//! (`server-methods/commands.ts`): the chat commands the gateway answers itself, which the
//! TUI offers in its slash-command completion.

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{APPROVALS, MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::registry::chat_commands::CATALOG;
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
    Method {
        name: "exec.approval.list",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_list,
    },
    Method {
        name: "exec.approval.resolve",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_resolve,
    },
    Method {
        name: "commands.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::commands_list,
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

    /// `commands.list {sessionKey?, agentId?, provider?, scope?, includeArgs?}` →
    /// `{commands: [...]}`: every chat command is typed as text and sits in the menu
    /// (`scope: both`), so a `scope` filter keeps them all; none has declared arguments.
    fn commands_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "commands.list";
        let res = (|| {
            if call.params.is_null() {
                return Ok(());
            }
            let o = obj(M, &call.params)?;
            let mut c = Checker::new();
            c.closed(
                "",
                o,
                &["sessionKey", "agentId", "provider", "scope", "includeArgs"],
            );
            for k in ["sessionKey", "agentId", "provider"] {
                let _ = c.string("", o, k, true);
            }
            let _ = c.boolean("", o, "includeArgs");
            if let Some(v) = o.get("scope")
                && !matches!(v.as_str(), Some("text" | "native" | "both"))
            {
                c.error("/scope", "must be equal to one of the allowed values");
            }
            if c.ok() { Ok(()) } else { Err(fail(M, &c)) }
        })();
        match res {
            Ok(()) => self.respond_ok(&call.id, &json!({ "commands": CATALOG }), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `exec.approval.list` → the gateway-host `exec` commands waiting for approval.
    fn exec_approval_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self
            .registry
            .send(crate::registry::approvals::ListExecApprovals);
        self.reply_with(
            call.id,
            async move { fut.await.map_err(|_| super::gone()) },
            ctx,
        );
    }

    /// `exec.approval.resolve {id, decision}` (`allow-once`, `allow-always`, `deny`).
    fn exec_approval_resolve(&mut self, call: Call, ctx: &mut Context<Self>) {
        use crate::registry::approvals::{Decision, ResolveExecApproval, Resolver};
        const M: &str = "exec.approval.resolve";
        let parsed = (|| {
            let o = obj(M, &call.params)?;
            let mut c = Checker::new();
            c.required("", o, "id");
            c.required("", o, "decision");
            let id = c.string("", o, "id", true).map(str::to_owned);
            let decision = c.string("", o, "decision", true).map(str::to_owned);
            if !c.ok() {
                return Err(fail(M, &c));
            }
            let decision = decision
                .as_deref()
                .and_then(Decision::parse)
                .ok_or_else(|| ErrorShape::invalid("invalid decision"))?;
            Ok((id.unwrap_or_default(), decision))
        })();
        let (id, decision) = match parsed {
            Ok(p) => p,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let fut = self.registry.send(ResolveExecApproval {
            id,
            decision,
            by: Resolver::Operator,
        });
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(r) => r.map_err(ErrorShape::invalid),
                    Err(_) => Err(super::gone()),
                }
            },
            ctx,
        );
    }

    /// `plugin.approval.list` → `[]` (OpenClaw reads no params here).
    fn plugin_approval_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.respond_ok(&call.id, &json!([]), ctx);
    }
}
