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
//! - OpenClaw's unified approval API reads the same requests: `approval.get {id}` and
//!   `approval.resolve {id, kind, decision}` (the real CLI's `openclaw approvals resolve`)
//!   answer snapshots in OpenClaw's shape (`status` `pending`, `allowed`, `denied`,
//!   `expired`, `cancelled`). How each request ended is kept for the newest [`MAX_DONE`], so
//!   a second answer learns the first (`applied: false`).

use std::collections::{HashMap, VecDeque};
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

/// Ended requests remembered (for `approval.get` and a second `approval.resolve`).
pub const MAX_DONE: usize = 128;

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
    /// Taken when the answer is sent.
    tx: Option<oneshot::Sender<Decision>>,
}

/// How a request ended.
struct Done {
    id: String,
    request: Value,
    created_at_ms: u64,
    expires_at_ms: u64,
    /// `allowed`, `denied`, `expired` or `cancelled`.
    status: &'static str,
    decision: Option<Decision>,
    /// OpenClaw's reason: `user`, `malformed-verdict`, `timeout`, `run-aborted`.
    reason: &'static str,
    resolved_at_ms: u64,
    /// `(kind, id)`: `device`, `channel`, `runtime` or `system`.
    resolver: (&'static str, Option<String>),
}

/// The requests waiting, and how the latest ones ended.
#[derive(Default)]
pub struct ExecApprovals {
    pending: HashMap<String, Pending>,
    done: VecDeque<Done>,
}

impl ExecApprovals {
    fn remember(&mut self, d: Done) {
        if self.done.len() >= MAX_DONE {
            self.done.pop_front();
        }
        self.done.push_back(d);
    }

    fn ended(&self, id: &str) -> Option<&Done> {
        self.done.iter().rev().find(|d| d.id == id)
    }
}

/// OpenClaw's reviewer-safe presentation of an exec request.
fn presentation(request: &Value) -> Value {
    let command = request["command"]
        .as_str()
        .filter(|c| !c.is_empty())
        .unwrap_or("(command)");
    let mut p = json!({"kind": "exec", "commandText": command,
        "allowedDecisions": request["allowedDecisions"].clone()});
    for key in ["host", "nodeId", "agentId"] {
        if let Some(v) = request[key].as_str().filter(|v| !v.is_empty()) {
            p[key] = json!(v);
        }
    }
    p
}

fn snapshot_base(id: &str, request: &Value, created_at_ms: u64, expires_at_ms: u64) -> Value {
    json!({"id": id, "urlPath": format!("/approve/{id}"), "createdAtMs": created_at_ms,
        "expiresAtMs": expires_at_ms, "presentation": presentation(request)})
}

impl Done {
    fn snapshot(&self) -> Value {
        let mut v = snapshot_base(
            &self.id,
            &self.request,
            self.created_at_ms,
            self.expires_at_ms,
        );
        v["status"] = json!(self.status);
        if let Some(d) = self.decision {
            v["decision"] = json!(d.as_str());
        }
        v["reason"] = json!(self.reason);
        v["resolvedAtMs"] = json!(self.resolved_at_ms);
        let mut source = serde_json::Map::new();
        for (from, to) in [("agentId", "agentId"), ("sessionKey", "sessionKey")] {
            if let Some(s) = self.request[from].as_str().filter(|s| !s.is_empty()) {
                source.insert(to.to_owned(), json!(s));
            }
        }
        if !source.is_empty() {
            v["source"] = Value::Object(source);
        }
        let (kind, id) = &self.resolver;
        v["resolver"] = match id {
            Some(id) => json!({"kind": kind, "id": id}),
            None => json!({"kind": kind}),
        };
        v
    }
}

impl Pending {
    fn snapshot(&self, id: &str) -> Value {
        let mut v = snapshot_base(id, &self.request, self.created_at_ms, self.expires_at_ms);
        v["status"] = json!("pending");
        if let Some(k) = self.request["sessionKey"]
            .as_str()
            .filter(|k| !k.is_empty())
        {
            v["sourceSessionKey"] = json!(k);
        }
        v
    }

    fn end(
        self,
        id: String,
        status: &'static str,
        decision: Option<Decision>,
        reason: &'static str,
        resolver: (&'static str, Option<String>),
    ) -> Done {
        Done {
            id,
            request: self.request,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            status,
            decision,
            reason,
            resolved_at_ms: now_ms(),
            resolver,
        }
    }
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
    /// An operator with `operator.approvals` (`exec.approval.resolve`, `approval.resolve`),
    /// and its device when it has one.
    Operator(Option<String>),
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
        let gone: Vec<String> = self
            .approvals
            .pending
            .iter()
            .filter(|(_, p)| p.expires_at_ms <= now || p.tx.as_ref().is_none_or(|t| t.is_closed()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.end_unanswered(&id);
        }
    }

    /// Drops a request nobody answered: `expired` at its deadline, else `cancelled` (its
    /// run stopped waiting).
    fn end_unanswered(&mut self, id: &str) {
        let Some(p) = self.approvals.pending.remove(id) else {
            return;
        };
        let (status, reason) = if p.expires_at_ms <= now_ms() {
            ("expired", "timeout")
        } else {
            ("cancelled", "run-aborted")
        };
        let done = p.end(id.to_owned(), status, None, reason, ("system", None));
        self.approvals.remember(done);
    }

    /// Answers the pending request `id` with `decision` (`reason`: `user`, or
    /// `malformed-verdict` for a deny forced by a bad answer); `Err` when its run no longer
    /// waits (then it is remembered as cancelled).
    fn settle(
        &mut self,
        id: &str,
        decision: Decision,
        reason: &'static str,
        by: &Resolver,
    ) -> Result<Value, String> {
        let mut p = self
            .approvals
            .pending
            .remove(id)
            .ok_or_else(|| format!("no pending exec approval {id:?}"))?;
        let sent = p.tx.take().is_some_and(|tx| tx.send(decision).is_ok());
        if !sent {
            let done = p.end(
                id.to_owned(),
                "cancelled",
                None,
                "run-aborted",
                ("system", None),
            );
            self.approvals.remember(done);
            return Err(format!("no pending exec approval {id:?} (its run stopped)"));
        }
        let (resolved_by, resolver) = match by {
            Resolver::Operator(device) => (
                "operator".to_owned(),
                match device {
                    Some(d) => ("device", Some(d.clone())),
                    None => ("runtime", None),
                },
            ),
            Resolver::Chat(who) => {
                let label = format!("{}:{}", who.channel, who.sender_id);
                (label.clone(), ("channel", Some(label)))
            }
        };
        let event = json!({
            "id": id, "decision": decision.as_str(), "resolvedBy": resolved_by,
            "ts": now_ms(), "request": p.request, "createdAtMs": p.created_at_ms,
        });
        self.broadcast("exec.approval.resolved", &event, false, None);
        let status = if decision == Decision::Deny {
            "denied"
        } else {
            "allowed"
        };
        let done = p.end(id.to_owned(), status, Some(decision), reason, resolver);
        let snapshot = done.snapshot();
        self.approvals.remember(done);
        Ok(snapshot)
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
                tx: Some(msg.tx),
            },
        );
        // Dropping the sender at expiry tells the waiting tool call.
        let expired = id.clone();
        ctx.run_later(APPROVAL_TTL, move |act, _| act.end_unanswered(&expired));
        Ok((id, expires_at_ms))
    }
}

impl Handler<ResolveExecApproval> for Registry {
    type Result = Result<Value, String>;

    fn handle(&mut self, msg: ResolveExecApproval, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        let wanted = msg.id.trim();
        let id = match self.pending_id(wanted) {
            Ok(id) => id,
            Err(PendingLookup::Missing) => {
                return Err(format!(
                    "no pending exec approval {wanted:?} (it was answered, expired, or its run stopped)"
                ));
            }
            Err(PendingLookup::Ambiguous) => {
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
        self.settle(&id, msg.decision, "user", &msg.by)
            .map_err(|_| format!("no pending exec approval {wanted:?} (its run stopped)"))?;
        Ok(json!({"ok": true, "id": id, "decision": msg.decision.as_str()}))
    }
}

/// Why a waiting request was not found by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingLookup {
    /// None waits under that id (or prefix).
    Missing,
    /// The prefix matches several.
    Ambiguous,
}

impl Registry {
    /// The waiting request `wanted` names: its full id, or a unique prefix of at least 6
    /// characters.
    fn pending_id(&self, wanted: &str) -> Result<String, PendingLookup> {
        if self.approvals.pending.contains_key(wanted) {
            return Ok(wanted.to_owned());
        }
        let mut matches = self
            .approvals
            .pending
            .keys()
            .filter(|k| wanted.len() >= 6 && k.starts_with(wanted));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Ok(one.clone()),
            (None, _) => Err(PendingLookup::Missing),
            _ => Err(PendingLookup::Ambiguous),
        }
    }
}

/// `exec.approval.get {id}` (what OpenClaw's ACP bridge asks before it shows an editor the
/// prompt): a waiting request's command and choices, as OpenClaw answers them (`id`,
/// `commandText`, `commandPreview`, `allowedDecisions`, `host`, `nodeId`, `agentId`,
/// `expiresAtMs`). The id may be a unique prefix of at least 6 characters.
#[derive(Message)]
#[rtype(result = "Result<Value, PendingLookup>")]
pub struct GetPendingExecApproval {
    /// The id or a prefix of it.
    pub id: String,
}

impl Handler<GetPendingExecApproval> for Registry {
    type Result = Result<Value, PendingLookup>;

    fn handle(&mut self, msg: GetPendingExecApproval, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        let id = self.pending_id(msg.id.trim())?;
        let p = self
            .approvals
            .pending
            .get(&id)
            .ok_or(PendingLookup::Missing)?;
        let r = &p.request;
        let text = |k: &str| r[k].as_str().filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(json!({
            "id": id,
            "commandText": r["command"].as_str().unwrap_or(""),
            "commandPreview": text("commandPreview"),
            "allowedDecisions": r["allowedDecisions"].clone(),
            "host": text("host"),
            "nodeId": text("nodeId"),
            "agentId": text("agentId"),
            "expiresAtMs": p.expires_at_ms,
        }))
    }
}

/// `approval.get {id}`: the request's snapshot, waiting or ended (`None`: not found). The
/// id is exact: no prefixes here.
#[derive(Message)]
#[rtype(result = "Option<Value>")]
pub struct GetApproval {
    /// The full id.
    pub id: String,
}

impl Handler<GetApproval> for Registry {
    type Result = Option<Value>;

    fn handle(&mut self, msg: GetApproval, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        if let Some(p) = self.approvals.pending.get(&msg.id) {
            return Some(p.snapshot(&msg.id));
        }
        self.approvals.ended(&msg.id).map(Done::snapshot)
    }
}

/// `approval.resolve {id, kind, decision}`: `{applied, approval}` (`applied: false` when it
/// had already ended: its snapshot says how). As in OpenClaw it fails closed: a `kind`
/// other than `exec`, or a decision the request does not offer, denies it
/// (`malformed-verdict`). `Err`: not found.
#[derive(Message)]
#[rtype(result = "Result<Value, ()>")]
pub struct ResolveApproval {
    /// The full id.
    pub id: String,
    /// The kind the caller believes it is.
    pub kind: String,
    /// The answer (`None`: not one of OpenClaw's decisions).
    pub decision: Option<Decision>,
    /// The operator's device, if any.
    pub device: Option<String>,
}

impl Handler<ResolveApproval> for Registry {
    type Result = Result<Value, ()>;

    fn handle(&mut self, msg: ResolveApproval, _: &mut Context<Self>) -> Self::Result {
        self.expire_approvals();
        let Some(p) = self.approvals.pending.get(&msg.id) else {
            let done = self.approvals.ended(&msg.id).ok_or(())?;
            return Ok(json!({"applied": false, "approval": done.snapshot()}));
        };
        let offered = match msg.decision {
            Some(Decision::Deny) => true,
            Some(Decision::AllowAlways) => p.allow_always,
            Some(Decision::AllowOnce) => true,
            None => false,
        };
        let (decision, reason) = match msg.decision {
            Some(d) if offered && msg.kind == "exec" => (d, "user"),
            _ => (Decision::Deny, "malformed-verdict"),
        };
        let by = Resolver::Operator(msg.device);
        match self.settle(&msg.id, decision, reason, &by) {
            Ok(approval) => Ok(json!({"applied": true, "approval": approval})),
            Err(_) => {
                let done = self.approvals.ended(&msg.id).ok_or(())?;
                Ok(json!({"applied": false, "approval": done.snapshot()}))
            }
        }
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

    fn done(id: usize) -> Done {
        Done {
            id: format!("a{id}"),
            request: json!({"command": "uname -s", "host": "gateway", "sessionKey": "agent:main:main",
                "allowedDecisions": ["allow-once", "deny"]}),
            created_at_ms: 1,
            expires_at_ms: 2,
            status: "denied",
            decision: Some(Decision::Deny),
            reason: "user",
            resolved_at_ms: 3,
            resolver: ("device", Some("dev1".into())),
        }
    }

    #[test]
    fn ended_requests_are_remembered_up_to_the_bound_in_openclaws_shape() {
        let mut a = ExecApprovals::default();
        for i in 0..MAX_DONE + 5 {
            a.remember(done(i));
        }
        assert_eq!(a.done.len(), MAX_DONE);
        assert!(a.ended("a0").is_none());
        let last = a.ended(&format!("a{}", MAX_DONE + 4)).expect("kept");
        assert_eq!(
            last.snapshot(),
            json!({"id": format!("a{}", MAX_DONE + 4), "urlPath": format!("/approve/a{}", MAX_DONE + 4),
                "createdAtMs": 1, "expiresAtMs": 2,
                "presentation": {"kind": "exec", "commandText": "uname -s", "host": "gateway",
                    "allowedDecisions": ["allow-once", "deny"]},
                "status": "denied", "decision": "deny", "reason": "user", "resolvedAtMs": 3,
                "source": {"sessionKey": "agent:main:main"},
                "resolver": {"kind": "device", "id": "dev1"}})
        );
        // A request without a command still presents something.
        let mut odd = done(0);
        odd.request = json!({"command": ""});
        assert_eq!(odd.snapshot()["presentation"]["commandText"], "(command)");
    }
}
