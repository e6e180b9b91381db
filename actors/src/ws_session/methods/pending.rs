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
        name: "exec.approval.get",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_get,
    },
    Method {
        name: "exec.approval.resolve",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_resolve,
    },
    Method {
        name: "approval.get",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::approval_get,
    },
    Method {
        name: "approval.resolve",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::approval_resolve,
    },
    Method {
        name: "exec.approval.grants.list",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_grants_list,
    },
    Method {
        name: "exec.approval.grants.revoke",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::exec_approval_grants_revoke,
    },
    Method {
        name: "openclaw.approval.list",
        access: MethodAccess::Operator(APPROVALS),
        handler: WsSession::plugin_approval_list,
    },
    Method {
        name: "commands.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::commands_list,
    },
];

/// OpenClaw's answer for an approval that does not exist (or is not the caller's to see).
fn approval_not_found() -> ErrorShape {
    ErrorShape::invalid("approval not found").with_details(json!({"reason": "APPROVAL_NOT_FOUND"}))
}

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

    /// `exec.approval.get {id}`: a waiting request's command and choices (OpenClaw's errors:
    /// `unknown or expired approval id` with `APPROVAL_NOT_FOUND`, or an ambiguous prefix).
    fn exec_approval_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        use crate::registry::approvals::{GetPendingExecApproval, PendingLookup};
        const M: &str = "exec.approval.get";
        let parsed = (|| {
            let o = obj(M, &call.params)?;
            let mut c = Checker::new();
            c.required("", o, "id");
            let id = c.string("", o, "id", true).map(str::to_owned);
            match id {
                Some(id) if c.ok() => Ok(id),
                _ => Err(fail(M, &c)),
            }
        })();
        let id = match parsed {
            Ok(id) => id,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let fut = self.registry.send(GetPendingExecApproval { id });
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(PendingLookup::Missing)) => Err(ErrorShape::invalid(
                        "unknown or expired approval id",
                    )
                    .with_details(json!({"reason": "APPROVAL_NOT_FOUND",
                        "remediation": "Re-request the action; pending approvals are cleared after expiry or restart."}))),
                    Ok(Err(PendingLookup::Ambiguous)) => Err(ErrorShape::invalid(
                        "ambiguous approval id prefix; use the full id",
                    )),
                    Err(_) => Err(super::gone()),
                }
            },
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
            by: Resolver::Operator(self.device_id()),
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

    /// `approval.get {id}` (OpenClaw's unified approval API): the exec request's snapshot,
    /// waiting or ended.
    fn approval_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        let id = match &call.params {
            Value::Object(o) if o.len() == 1 => o.get("id").and_then(Value::as_str),
            _ => None,
        }
        .filter(|id| !id.is_empty());
        let Some(id) = id else {
            return self.respond_err(
                &call.id,
                &ErrorShape::invalid("invalid approval.get params"),
                ctx,
            );
        };
        let fut = self
            .registry
            .send(crate::registry::approvals::GetApproval { id: id.to_owned() });
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(Some(approval)) => Ok(json!({"approval": approval})),
                    Ok(None) => Err(approval_not_found()),
                    Err(_) => Err(super::gone()),
                }
            },
            ctx,
        );
    }

    /// `approval.resolve {id, kind, decision, reviewer?, grantExpiresInDays?}`: answers an
    /// exec request as `exec.approval.resolve` does, in OpenClaw's shape, failing closed (a
    /// malformed answer denies). A channel `reviewer` (custody by a chat) is not offered
    /// here: such a call finds nothing.
    fn approval_resolve(&mut self, call: Call, ctx: &mut Context<Self>) {
        use crate::registry::approvals::{Decision, ResolveApproval};
        let o = call.params.as_object();
        let id = o
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let (Some(o), Some(id)) = (o, id) else {
            return self.respond_err(&call.id, &approval_not_found(), ctx);
        };
        if o.contains_key("reviewer") {
            return self.respond_err(&call.id, &approval_not_found(), ctx);
        }
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let decision = match o.get("decision").and_then(Value::as_str) {
            Some("allow-once") => Some(Decision::AllowOnce),
            Some("allow-always") => Some(Decision::AllowAlways),
            Some("deny") => Some(Decision::Deny),
            _ => None,
        };
        let days_ok = match o.get("grantExpiresInDays") {
            None => true,
            Some(v) => v.as_u64().is_some_and(|d| (1..=3650).contains(&d)),
        };
        let closed = o
            .keys()
            .all(|k| ["id", "kind", "decision", "grantExpiresInDays"].contains(&k.as_str()));
        // Anything malformed is a deny, as in OpenClaw: never an accidental allow.
        let decision = decision.filter(|_| days_ok && closed);
        let fut = self.registry.send(ResolveApproval {
            id: id.to_owned(),
            kind: kind.to_owned(),
            decision,
            device: self.device_id(),
        });
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(())) => Err(approval_not_found()),
                    Err(_) => Err(super::gone()),
                }
            },
            ctx,
        );
    }

    /// `exec.approval.grants.list {limit? (1–500)}` → `{grants: []}`: standing grants are
    /// what OpenClaw's `allow-always` mints for a cron job's command; this gateway's
    /// `allow-always` adds to `exec-allowlist.json` instead, so there are none.
    fn exec_approval_grants_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "exec.approval.grants.list";
        let checked = (|| {
            if call.params.is_null() {
                return Ok(());
            }
            let o = obj(M, &call.params)?;
            let mut c = Checker::new();
            c.closed("", o, &["limit"]);
            if let Some(n) = c.integer("", o, "limit", 1)
                && n > 500
            {
                return Err(ErrorShape::invalid(format!(
                    "invalid {M} params: at /limit: must be <= 500"
                )));
            }
            if c.ok() { Ok(()) } else { Err(fail(M, &c)) }
        })();
        match checked {
            Ok(()) => self.respond_ok(&call.id, &json!({"grants": []}), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `exec.approval.grants.revoke {grantId}` → `{outcome: "not-found"}` (there are no
    /// standing grants here, see [`Self::exec_approval_grants_list`]).
    fn exec_approval_grants_revoke(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "exec.approval.grants.revoke";
        let checked = (|| {
            let o = obj(M, &call.params)?;
            let mut c = Checker::new();
            c.closed("", o, &["grantId"]);
            c.required("", o, "grantId");
            let _ = c.string("", o, "grantId", true);
            if c.ok() { Ok(()) } else { Err(fail(M, &c)) }
        })();
        match checked {
            Ok(()) => self.respond_ok(&call.id, &json!({"outcome": "not-found"}), ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `plugin.approval.list` and `openclaw.approval.list` (OpenClaw's system agent) → `[]`
    /// (OpenClaw reads no params here): no plugins and no system agent run here.
    fn plugin_approval_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.respond_ok(&call.id, &json!([]), ctx);
    }
}
