//! Work that waits for a node (OpenClaw's `nodes.pending.ts`, `nodes.pending-work.ts`,
//! `node-pending-work.ts`):
//!
//! - **Foreground actions**: an operator's `node.invoke` of a `camera.*`, `screen.*` or
//!   `talk.*` command that an iOS / iPadOS node refuses with `NODE_BACKGROUND_UNAVAILABLE`
//!   (the app is in the background) is queued, and the caller gets `UNAVAILABLE` with
//!   `details.code: "QUEUED_UNTIL_FOREGROUND"` and the `queuedActionId`. Back in the
//!   foreground the app takes them with `node.pending.pull` (only commands still on its
//!   approved surface) and confirms with `node.pending.ack {ids}`. Kept 10 minutes, 64 per
//!   node (the oldest go), one per idempotency key; agent runs never queue.
//! - **Work items**: `node.pending.enqueue {nodeId, type: "status.request" |
//!   "location.request", priority?, expiresInMs?}` (operators) queues one item per type
//!   for a paired node (24 h by default); the node takes them with `node.pending.drain
//!   {maxItems?}` (4 by default, 10 at most), highest priority first, with OpenClaw's
//!   baseline `status.request` when none is queued. This gateway has no APNs relay, so
//!   `wakeTriggered` is always `false`: the node drains when it next connects.
//!
//! Both live in memory (as in OpenClaw) and are dropped when the node's pairing is
//! removed. Only the node's current connection may pull, ack or drain
//! (`PAIRING_CHANGED` otherwise).

use std::collections::HashMap;

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use crate::protocol::error::{ErrorCode, ErrorShape};
use crate::util::now_ms;

/// How long a foreground action is kept.
pub const ACTION_TTL_MS: u64 = 600_000;
/// Foreground actions kept per node.
pub const MAX_ACTIONS_PER_NODE: usize = 64;
/// Longest `paramsJSON` kept for an action (a larger one is not queued).
pub const MAX_ACTION_PARAMS: usize = 64 * 1024;
/// A work item's default lifetime.
pub const WORK_TTL_MS: u64 = 86_400_000;
/// Items a drain returns by default, and at most.
pub const DRAIN_DEFAULT: usize = 4;
/// See [`DRAIN_DEFAULT`].
pub const DRAIN_MAX: usize = 10;
/// The baseline item's id.
const BASELINE_ID: &str = "baseline-status";

/// A queued foreground action.
#[derive(Debug, Clone)]
struct Action {
    id: String,
    command: String,
    params_json: Option<String>,
    idempotency_key: String,
    enqueued_at_ms: u64,
}

/// A queued work item.
#[derive(Debug, Clone)]
struct Work {
    id: String,
    kind: String,
    priority: &'static str,
    created_at_ms: u64,
    expires_at_ms: u64,
}

impl Work {
    fn rank(&self) -> u8 {
        match self.priority {
            "high" => 3,
            "normal" => 2,
            _ => 1,
        }
    }

    fn to_json(&self) -> Value {
        json!({"id": self.id, "type": self.kind, "priority": self.priority,
            "createdAtMs": self.created_at_ms, "expiresAtMs": self.expires_at_ms})
    }
}

/// What waits for each node.
#[derive(Default)]
pub(crate) struct PendingWork {
    actions: HashMap<String, Vec<Action>>,
    work: HashMap<String, (u64, Vec<Work>)>,
}

impl PendingWork {
    fn actions_of(&mut self, node_id: &str, now: u64) -> &mut Vec<Action> {
        let q = self.actions.entry(node_id.to_owned()).or_default();
        q.retain(|a| now.saturating_sub(a.enqueued_at_ms) < ACTION_TTL_MS);
        q
    }

    fn work_of(&mut self, node_id: &str, now: u64) -> &mut (u64, Vec<Work>) {
        let w = self.work.entry(node_id.to_owned()).or_default();
        let before = w.1.len();
        w.1.retain(|i| i.expires_at_ms > now);
        if w.1.len() != before {
            w.0 += 1;
        }
        w
    }

    /// Drops empty queues (after a pull, an ack or a drain).
    fn tidy(&mut self, node_id: &str) {
        if self.actions.get(node_id).is_some_and(Vec::is_empty) {
            self.actions.remove(node_id);
        }
        if self.work.get(node_id).is_some_and(|(_, w)| w.is_empty()) {
            self.work.remove(node_id);
        }
    }

    /// Forgets everything of a node whose pairing was removed.
    pub(crate) fn forget(&mut self, node_id: &str) {
        self.actions.remove(node_id);
        self.work.remove(node_id);
    }
}

/// `PAIRING_CHANGED`: the caller is not the node's current connection.
fn pairing_changed() -> ErrorShape {
    let mut e = ErrorShape::new(
        ErrorCode::Unavailable,
        "node pairing changed while pending work was active",
    )
    .with_details(json!({"code": "PAIRING_CHANGED"}));
    e.retryable = Some(true);
    e
}

/// Whether `command` needs the app in the foreground (`camera.*`, `screen.*`, `talk.*`):
/// the only calls ever queued. The caller checks this first, so other calls carry nothing
/// extra.
pub fn is_foreground_command(command: &str) -> bool {
    command.starts_with("camera.") || command.starts_with("screen.") || command.starts_with("talk.")
}

/// Whether a failed `node.invoke` is one OpenClaw queues until the app is in the
/// foreground: an iOS / iPadOS node, a foreground command, a background refusal.
pub fn queues_until_foreground(
    platform: Option<&str>,
    command: &str,
    code: &str,
    message: &str,
) -> bool {
    let platform = platform.unwrap_or_default().to_ascii_lowercase();
    (platform.starts_with("ios") || platform.starts_with("ipados"))
        && is_foreground_command(command)
        && (code.eq_ignore_ascii_case("NODE_BACKGROUND_UNAVAILABLE")
            || message
                .to_ascii_uppercase()
                .contains("BACKGROUND_UNAVAILABLE"))
}

/// An operator's `node.invoke` the node refused in the background: queued if it is one
/// OpenClaw queues ([`queues_until_foreground`], judged on the node's declared platform);
/// the action's id, `None` when not queued.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct QueueForeground {
    /// The node.
    pub node_id: String,
    /// The command.
    pub command: String,
    /// Its params (JSON text), if any.
    pub params_json: Option<String>,
    /// The call's idempotency key (one action per key).
    pub idempotency_key: String,
    /// The node's error code and message.
    pub error: (String, String),
}

impl Handler<QueueForeground> for Registry {
    type Result = Option<String>;

    fn handle(&mut self, msg: QueueForeground, _: &mut Self::Context) -> Self::Result {
        let platform = self.nodes.get(&msg.node_id)?.descriptor.platform.clone();
        if !queues_until_foreground(
            platform.as_deref(),
            &msg.command,
            &msg.error.0,
            &msg.error.1,
        ) || !self.book.nodes.contains_key(&msg.node_id)
            || msg
                .params_json
                .as_ref()
                .is_some_and(|p| p.len() > MAX_ACTION_PARAMS)
        {
            return None;
        }
        let now = now_ms();
        let q = self.pending_work.actions_of(&msg.node_id, now);
        if let Some(a) = q.iter().find(|a| a.idempotency_key == msg.idempotency_key) {
            return Some(a.id.clone());
        }
        let id = uuid::Uuid::new_v4().to_string();
        q.push(Action {
            id: id.clone(),
            command: msg.command,
            params_json: msg.params_json,
            idempotency_key: msg.idempotency_key,
            enqueued_at_ms: now,
        });
        if q.len() > MAX_ACTIONS_PER_NODE {
            let over = q.len() - MAX_ACTIONS_PER_NODE;
            q.drain(..over);
        }
        log::info!(
            "node pending queued node={} command={} queuedId={id} (no APNs wake here)",
            msg.node_id,
            q.last().map(|a| a.command.as_str()).unwrap_or_default()
        );
        Some(id)
    }
}

/// What the node's own requests name: itself and its connection.
pub struct NodeCaller {
    /// The node.
    pub node_id: String,
    /// Its connection.
    pub conn_id: String,
}

impl Registry {
    /// Whether `c` is the node's current connection.
    fn is_current(&self, c: &NodeCaller) -> bool {
        self.nodes
            .get(&c.node_id)
            .is_some_and(|n| n.conn_id == c.conn_id)
            && self.book.nodes.contains_key(&c.node_id)
    }
}

/// `node.pending.pull` → `{nodeId, actions: [{id, command, paramsJSON, enqueuedAtMs}]}`:
/// the actions still on the node's approved surface (the others are dropped).
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct PullPending(pub NodeCaller);

impl Handler<PullPending> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: PullPending, _: &mut Self::Context) -> Self::Result {
        let c = msg.0;
        if !self.is_current(&c) {
            return Err(pairing_changed());
        }
        let approved = self
            .nodes
            .get(&c.node_id)
            .map(|n| n.approved.clone())
            .unwrap_or_default();
        let q = self.pending_work.actions_of(&c.node_id, now_ms());
        q.retain(|a| approved.contains(&a.command));
        let actions: Vec<Value> = q
            .iter()
            .map(|a| {
                json!({"id": a.id, "command": a.command, "paramsJSON": a.params_json,
                    "enqueuedAtMs": a.enqueued_at_ms})
            })
            .collect();
        self.pending_work.tidy(&c.node_id);
        Ok(json!({"nodeId": c.node_id, "actions": actions}))
    }
}

/// `node.pending.ack {ids}` → `{nodeId, ackedIds, remainingCount}`.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct AckPending {
    /// The node.
    pub caller: NodeCaller,
    /// The actions it took (trimmed, without repeats).
    pub ids: Vec<String>,
}

impl Handler<AckPending> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: AckPending, _: &mut Self::Context) -> Self::Result {
        let c = msg.caller;
        if !self.is_current(&c) {
            return Err(pairing_changed());
        }
        let q = self.pending_work.actions_of(&c.node_id, now_ms());
        q.retain(|a| !msg.ids.contains(&a.id));
        let remaining = q.len();
        self.pending_work.tidy(&c.node_id);
        Ok(json!({"nodeId": c.node_id, "ackedIds": msg.ids, "remainingCount": remaining}))
    }
}

/// `node.pending.enqueue {nodeId, type, priority?, expiresInMs?, wake?}` →
/// `{nodeId, revision, queued, wakeTriggered: false}`: one item per type (a second
/// enqueue of a type answers the queued one).
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct EnqueueWork {
    /// The node (paired).
    pub node_id: String,
    /// `status.request` or `location.request`.
    pub kind: String,
    /// `normal` (default) or `high`.
    pub priority: &'static str,
    /// Lifetime (1 s to 24 h).
    pub expires_in_ms: Option<u64>,
}

impl Handler<EnqueueWork> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: EnqueueWork, _: &mut Self::Context) -> Self::Result {
        if !self.book.nodes.contains_key(&msg.node_id) {
            return Err(pairing_changed());
        }
        let now = now_ms();
        let w = self.pending_work.work_of(&msg.node_id, now);
        if let Some(item) = w.1.iter().find(|i| i.kind == msg.kind) {
            return Ok(json!({"nodeId": msg.node_id, "revision": w.0,
                "queued": item.to_json(), "wakeTriggered": false}));
        }
        let item = Work {
            id: uuid::Uuid::new_v4().to_string(),
            kind: msg.kind,
            priority: msg.priority,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(msg.expires_in_ms.unwrap_or(WORK_TTL_MS)),
        };
        let queued = item.to_json();
        w.1.push(item);
        w.0 += 1;
        Ok(
            json!({"nodeId": msg.node_id, "revision": w.0, "queued": queued,
            "wakeTriggered": false}),
        )
    }
}

/// `node.pending.drain {maxItems?}` → `{nodeId, revision, items, hasMore}`: the items
/// taken off the queue, highest priority then oldest first, and the baseline
/// `status.request` when none is queued and there is room.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct DrainWork {
    /// The node.
    pub caller: NodeCaller,
    /// At most this many items (1–10).
    pub max_items: usize,
}

impl Handler<DrainWork> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: DrainWork, _: &mut Self::Context) -> Self::Result {
        let c = msg.caller;
        if !self.is_current(&c) {
            return Err(pairing_changed());
        }
        let now = now_ms();
        let max = msg.max_items.clamp(1, DRAIN_MAX);
        let w = self.pending_work.work_of(&c.node_id, now);
        w.1.sort_by(|a, b| {
            b.rank()
                .cmp(&a.rank())
                .then(a.created_at_ms.cmp(&b.created_at_ms))
                .then(a.id.cmp(&b.id))
        });
        let has_status = w.1.iter().any(|i| i.kind == "status.request");
        let take = w.1.len().min(max);
        let taken: Vec<Work> = w.1.drain(..take).collect();
        if take > 0 {
            w.0 += 1;
        }
        let left = w.1.len();
        let revision = w.0;
        let mut items: Vec<Value> = taken.iter().map(Work::to_json).collect();
        let baseline = !has_status && items.len() < max;
        if baseline {
            items.push(json!({"id": BASELINE_ID, "type": "status.request",
                "priority": "default", "createdAtMs": now, "expiresAtMs": null}));
        }
        self.pending_work.tidy(&c.node_id);
        Ok(
            json!({"nodeId": c.node_id, "revision": revision, "items": items,
            "hasMore": left > 0 || (!has_status && !baseline)}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ios_foreground_commands_refused_in_the_background_queue() {
        let bg = ("NODE_BACKGROUND_UNAVAILABLE", "");
        assert!(queues_until_foreground(
            Some("iOS 18.2"),
            "camera.snap",
            bg.0,
            bg.1
        ));
        assert!(queues_until_foreground(
            Some("iPadOS"),
            "screen.record",
            bg.0,
            bg.1
        ));
        assert!(queues_until_foreground(
            Some("ios"),
            "talk.ptt.start",
            "",
            "node_background_unavailable: app inactive"
        ));
        assert!(!queues_until_foreground(
            Some("macOS"),
            "camera.snap",
            bg.0,
            bg.1
        ));
        assert!(!queues_until_foreground(None, "camera.snap", bg.0, bg.1));
        assert!(!queues_until_foreground(
            Some("iOS"),
            "system.run",
            bg.0,
            bg.1
        ));
        assert!(!queues_until_foreground(
            Some("iOS"),
            "camera.snap",
            "TIMEOUT",
            "late"
        ));
    }
}
