//! Exec approvals (OpenClaw's `exec.approval.*`): a gateway-host `exec` command that
//! `tools.exec.mode: "ask"` does not allow by itself waits here for a human.
//!
//! - The request is broadcast as `exec.approval.requested` (`{id, request, createdAtMs,
//!   expiresAtMs}`, to operators with `operator.approvals`), and the `exec` tool shows it in
//!   the chat it came from with the `/approve <id> allow-once|allow-always|deny` replies.
//! - It is resolved by that chat's sender (`/approve`, the same sender only) or by an
//!   operator (`exec.approval.resolve {id, decision}`); `exec.approval.resolved` follows.
//! - It expires after [`APPROVAL_TTL`], or when the run that asked stops (its tool call no
//!   longer waits): nothing runs then. At most [`MAX_PENDING`] wait at once.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::Registry;
use crate::util::now_ms;

/// How long a request waits for a human.
pub const APPROVAL_TTL: Duration = Duration::from_secs(10 * 60);

/// Most requests waiting at once (more are refused, nothing runs).
pub const MAX_PENDING: usize = 64;

/// A human's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run this command once.
    AllowOnce,
    /// Run it and allow it from now on.
    AllowAlways,
    /// Do not run it.
    Deny,
}

impl Decision {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowOnce => "allow-once",
            Self::AllowAlways => "allow-always",
            Self::Deny => "deny",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow-once" | "once" | "allow" => Some(Self::AllowOnce),
            "allow-always" | "always" => Some(Self::AllowAlways),
            "deny" | "reject" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// The chat an approval was asked in: only its sender may answer from a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedIn {
    /// Channel (`telegram`).
    pub channel: String,
    /// Account.
    pub account_id: String,
    /// Sender id.
    pub sender_id: String,
}

struct Pending {
    request: Value,
    created_at_ms: u64,
    expires_at_ms: u64,
    asked_in: Option<AskedIn>,
    allow_always: bool,
    tx: oneshot::Sender<Decision>,
}

/// The requests waiting.
#[derive(Default)]
pub struct ExecApprovals {
    pending: HashMap<String, Pending>,
}

/// Sent by the `exec` tool: wait for a human. The answer is the request id and its expiry,
/// or why it cannot wait (too many waiting).
#[derive(Message)]
#[rtype(result = "Result<(String, u64), String>")]
pub struct RequestExecApproval {
    /// OpenClaw's request object (`command`, `cwd`, `host`, `sessionKey`, …).
    pub request: Value,
    /// The chat asked in (none: an operator or cron run).
    pub asked_in: Option<AskedIn>,
    /// Whether `allow-always` is offered.
    pub allow_always: bool,
    /// Where the decision goes.
    pub tx: oneshot::Sender<Decision>,
}

/// Who answers.
#[derive(Debug, Clone)]
pub enum Resolver {
    /// An operator with `operator.approvals` (`exec.approval.resolve`).
    Operator,
    /// A chat's sender (`/approve`).
    Chat(AskedIn),
}

/// Resolves a request; `Err` is the message for the caller.
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct ResolveExecApproval {
    /// The request id (a unique prefix of at least 6 characters is enough).
    pub id: String,
    /// The answer.
    pub decision: Decision,
    /// Who answers.
    pub by: Resolver,
}

/// `exec.approval.list`: the requests waiting, oldest first, as `exec.approval.requested`
/// carried them.
#[derive(Message)]
#[rtype(result = "Vec<Value>")]
pub struct ListExecApprovals;

impl Handler<ListExecApprovals> for Registry {
    type Result = MessageResult<ListExecApprovals>;

    fn handle(&mut self, _: ListExecApprovals, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        let mut list: Vec<(&String, &Pending)> = self.approvals.pending.iter().collect();
        list.sort_by_key(|(id, p)| (p.created_at_ms, (*id).clone()));
        MessageResult(
            list.into_iter()
                .map(|(id, p)| {
                    json!({"id": id, "request": p.request, "createdAtMs": p.created_at_ms,
                        "expiresAtMs": p.expires_at_ms})
                })
                .collect(),
        )
    }
}

impl Registry {
    fn expire_approvals(&mut self) {
        let now = now_ms();
        self.approvals
            .pending
            .retain(|_, p| p.expires_at_ms > now && !p.tx.is_closed());
    }
}

impl Handler<RequestExecApproval> for Registry {
    type Result = Result<(String, u64), String>;

    fn handle(&mut self, msg: RequestExecApproval, ctx: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        if self.approvals.pending.len() >= MAX_PENDING {
            return Err(format!(
                "{MAX_PENDING} exec approvals are already waiting; nothing ran. Answer or let them expire first"
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let created_at_ms = now_ms();
        let expires_at_ms = created_at_ms + APPROVAL_TTL.as_millis() as u64;
        let mut request = msg.request;
        request["allowedDecisions"] = if msg.allow_always {
            json!(["allow-once", "allow-always", "deny"])
        } else {
            json!(["allow-once", "deny"])
        };
        self.broadcast(
            "exec.approval.requested",
            &json!({"id": id, "request": request, "createdAtMs": created_at_ms, "expiresAtMs": expires_at_ms}),
            false,
            None,
        );
        self.approvals.pending.insert(
            id.clone(),
            Pending {
                request,
                created_at_ms,
                expires_at_ms,
                asked_in: msg.asked_in,
                allow_always: msg.allow_always,
                tx: msg.tx,
            },
        );
        // Dropping the sender at expiry tells the waiting tool call.
        let expired = id.clone();
        ctx.run_later(APPROVAL_TTL, move |act, _| {
            act.approvals.pending.remove(&expired);
        });
        Ok((id, expires_at_ms))
    }
}

impl Handler<ResolveExecApproval> for Registry {
    type Result = Result<Value, String>;

    fn handle(&mut self, msg: ResolveExecApproval, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        let wanted = msg.id.trim();
        let matches: Vec<&String> = self
            .approvals
            .pending
            .keys()
            .filter(|k| *k == wanted || (wanted.len() >= 6 && k.starts_with(wanted)))
            .collect();
        let id = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(format!(
                    "no pending exec approval {wanted:?} (it was answered, expired, or its run stopped)"
                ));
            }
            _ => {
                return Err(format!(
                    "{wanted:?} matches several approvals; use the full id"
                ));
            }
        };
        let p = self
            .approvals
            .pending
            .get(&id)
            .ok_or_else(|| format!("no pending exec approval {wanted:?}"))?;
        if let Resolver::Chat(who) = &msg.by
            && p.asked_in.as_ref() != Some(who)
        {
            return Err(
                "only the sender who asked, in the chat it was asked in, or an operator may answer this approval"
                    .into(),
            );
        }
        if msg.decision == Decision::AllowAlways && !p.allow_always {
            return Err(format!(
                "allow-always is unavailable for this command; use /approve {id} allow-once or deny"
            ));
        }
        let p = self
            .approvals
            .pending
            .remove(&id)
            .ok_or_else(|| format!("no pending exec approval {wanted:?}"))?;
        if p.tx.send(msg.decision).is_err() {
            return Err(format!(
                "no pending exec approval {wanted:?} (its run stopped)"
            ));
        }
        let resolved_by = match &msg.by {
            Resolver::Operator => "operator".to_owned(),
            Resolver::Chat(who) => format!("{}:{}", who.channel, who.sender_id),
        };
        let event = json!({
            "id": id, "decision": msg.decision.as_str(), "resolvedBy": resolved_by,
            "ts": now_ms(), "request": p.request, "createdAtMs": p.created_at_ms,
        });
        self.broadcast("exec.approval.resolved", &event, false, None);
        Ok(json!({"ok": true, "id": id, "decision": msg.decision.as_str()}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_openclaws_names() {
        for d in [Decision::AllowOnce, Decision::AllowAlways, Decision::Deny] {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
        assert_eq!(Decision::parse(" Always "), Some(Decision::AllowAlways));
        assert_eq!(Decision::parse("maybe"), None);
    }
}
