//! # The audit ledger (OpenClaw's `logging.audit`): what ran, never what was said
//!
//! A bounded, metadata-only record of agent runs, their tool actions and (opt-in) the chat
//! messages they answered, so an owner can ask afterwards "which agent ran, when, how did it
//! end, and which tools (a node's `system.run`, the host's `exec`) did it call", the question
//! a chat message that made a device run a command raises. OpenClaw's `audit.activity.list`
//! and `audit.list` read it (`openclaw audit`).
//!
//! What a record holds: identity (agent, session key, run id), ordering, timing, action,
//! status and closed outcome codes. Never prompts, message text, tool arguments or results,
//! command output or error text. Tool call ids are kept only as their SHA-256; chat account,
//! conversation, message, target and sender ids only as installation-local keyed pseudonyms
//! (`hmac-sha256:v1:<keyId>:<digest>`, OpenClaw's derivation) whose key stays on disk
//! ([`key`]); exports never carry it. That is correlation, not anonymity: whoever reads the
//! state directory has the key.
//!
//! Writes are best-effort and never delay a run: the [`Recorder`] hands a record to the
//! ledger's own thread through a bounded queue ([`MAX_PENDING`]; beyond it records are
//! dropped and counted, with a warning). Only a batch's first record wakes the thread, which
//! gathers what comes within [`LINGER`] (10 ms) and appends it in one write (a turn's
//! records cost one wake-up, not one each; a killed process loses at most the last 10 ms; a
//! query writes what still waits first, so it sees every row recorded before it), and
//! syncs within [`SYNC_DELAY`] of the first unsynced row, one `fdatasync` for everything
//! written meanwhile (a power cut loses at most that much; a busy gateway does not pay a
//! sync per record) ([`ledger`]). Records older than 30
//! days are never returned and their files are deleted; at most [`ledger::MAX_ROWS`] rows
//! are kept. `logging.audit.enabled` (default on) and `logging.audit.messages` (`off`
//! (default), `direct`, `all`) apply live.

pub mod key;
pub mod ledger;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

pub use ledger::{ListFilter, ListPage};

/// The record kinds (OpenClaw's `AUDIT_ACTIVITY_KINDS`).
pub const KINDS: &[&str] = &["agent_run", "tool_action", "message"];
/// The statuses (OpenClaw's `AUDIT_ACTIVITY_STATUSES`).
pub const STATUSES: &[&str] = &[
    "started",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "blocked",
    "unknown",
];
/// The message directions.
pub const DIRECTIONS: &[&str] = &["inbound", "outbound"];

/// Records waiting for the ledger's thread at most (OpenClaw's `MAX_PENDING_AUDIT_EVENTS`).
pub const MAX_PENDING: usize = 4096;

/// `logging.audit.messages`: which chat messages are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageMode {
    /// None (the default).
    #[default]
    Off,
    /// Only messages of direct (private) conversations.
    Direct,
    /// Direct, group and channel messages.
    All,
}

impl MessageMode {
    /// `off`, `direct`, `all`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "direct" => Some(Self::Direct),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// Whether a message of a conversation of this kind is recorded.
    pub fn records(self, kind: ConversationKind) -> bool {
        match self {
            Self::Off => false,
            Self::Direct => kind == ConversationKind::Direct,
            Self::All => true,
        }
    }
}

/// `logging.audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// `enabled` (default `true`): record new events.
    pub enabled: bool,
    /// `messages` (default `off`).
    pub messages: MessageMode,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            messages: MessageMode::Off,
        }
    }
}

/// How a run ended, as the ledger names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Answered.
    Succeeded,
    /// The model or the gateway failed it.
    Failed,
    /// Stopped (`/stop`, `chat.abort`, shutdown).
    Cancelled,
    /// Stopped at `agents.defaults.timeoutSeconds`.
    TimedOut,
}

impl RunEnd {
    fn status(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Succeeded => ("succeeded", None),
            Self::Failed => ("failed", Some("run_failed")),
            Self::Cancelled => ("cancelled", Some("run_cancelled")),
            Self::TimedOut => ("timed_out", Some("run_timed_out")),
        }
    }
}

/// How a tool action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolEnd {
    /// It did what it was asked.
    Succeeded,
    /// It failed.
    Failed,
    /// The run was stopped while it ran.
    Cancelled,
    /// It did not finish in time (a node's `TIMEOUT`, an `exec` timeout).
    TimedOut,
    /// A policy refused it before it ran (tool policy, exec approvals, a node's allowlist,
    /// the owner's denial).
    Blocked,
}

impl ToolEnd {
    fn status(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Succeeded => ("succeeded", None),
            Self::Failed => ("failed", Some("tool_failed")),
            Self::Cancelled => ("cancelled", Some("tool_cancelled")),
            Self::TimedOut => ("timed_out", Some("tool_timed_out")),
            Self::Blocked => ("blocked", Some("tool_blocked")),
        }
    }

    /// How a tool's result object says it ended: `ok: true`; a refusal (`denied: true`, a
    /// node command refused before it reached the node); a timeout (`timedOut: true`, a
    /// node's `TIMEOUT`); otherwise a failure.
    pub fn of_result(result: &Value) -> Self {
        if result.get("ok") == Some(&Value::Bool(true)) {
            return Self::Succeeded;
        }
        if result.get("denied") == Some(&Value::Bool(true)) {
            return Self::Blocked;
        }
        if result.get("timedOut") == Some(&Value::Bool(true)) {
            return Self::TimedOut;
        }
        match result
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
        {
            Some("TIMEOUT") => Self::TimedOut,
            _ => Self::Failed,
        }
    }
}

/// Which conversation a chat message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// A private chat with one person.
    Direct,
    /// A group.
    Group,
    /// A broadcast channel.
    Channel,
    /// Not known.
    Unknown,
}

impl ConversationKind {
    /// Of a Telegram chat type (`private`, `group`, `supergroup`, `channel`).
    pub fn of_chat_type(t: &str) -> Self {
        match t {
            "private" => Self::Direct,
            "group" | "supergroup" => Self::Group,
            "channel" => Self::Channel,
            _ => Self::Unknown,
        }
    }

    /// Of a Telegram chat id, where the Bot API's numbering tells: a private chat's id is the
    /// user's (positive), a basic group's is negative, and a supergroup's or a channel's is
    /// `-100…` (which of the two is not in the id: `Unknown`).
    pub fn of_telegram_chat_id(id: i64) -> Self {
        match id {
            1.. => Self::Direct,
            -999_999_999_999..=-1 => Self::Group,
            _ => Self::Unknown,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
            Self::Channel => "channel",
            Self::Unknown => "unknown",
        }
    }
}

/// Who and what a run event is about.
#[derive(Debug, Clone)]
pub struct RunIds {
    /// The agent.
    pub agent_id: String,
    /// The session key.
    pub session_key: String,
    /// The run id.
    pub run_id: String,
}

/// A chat message's identities, pseudonymized on the ledger's thread before they are
/// written (never stored raw).
#[derive(Debug, Clone, Default)]
pub struct MessageIds {
    /// Channel (`telegram`).
    pub channel: String,
    /// Channel account.
    pub account: String,
    /// Conversation (chat id).
    pub conversation: String,
    /// The platform message id (inbound: the user's; outbound: the first one sent).
    pub message: Option<String>,
    /// Sender (inbound).
    pub sender: Option<String>,
    /// Where a reply went (outbound).
    pub target: Option<String>,
}

/// How an inbound chat message's processing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundEnd {
    /// Answered (`completed`).
    Completed,
    /// Its run was stopped (`skipped`, `reply_operation_aborted`).
    Aborted,
    /// Its run failed (`failed`).
    Failed,
}

/// How an outbound reply's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundEnd {
    /// The platform took it (`sent`).
    Sent,
    /// Nothing to show (a silent answer: `suppressed`, `no_visible_payload`).
    Suppressed,
    /// The platform refused it or could not be reached (`failed`, stage `platform_send`).
    Failed,
}

/// One record on its way to the ledger: the event without its ledger fields (sequence,
/// event id, schema version, redaction), plus the raw message identities to pseudonymize.
#[derive(Debug)]
pub struct Pending {
    pub(crate) event: Map<String, Value>,
    pub(crate) refs: Option<MessageIds>,
}

/// What waits for the ledger's thread.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) records: Vec<Pending>,
    /// Each answered once every record queued before it is on disk.
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    /// A query wrote rows itself: the thread has them to sync.
    poked: bool,
    /// Every recorder is gone: the thread writes what is left, syncs and ends.
    closed: bool,
}

/// The queue, shared by the recorders, the queries and the ledger's thread.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    /// Told when the queue gets its first record, a flush, a poke or closes (not for every
    /// record: the thread gathers them, see [`LINGER`]).
    ready: Condvar,
    /// The thread runs (a flush has someone to answer it).
    running: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands records to the ledger (cheap to clone; every clone feeds the same thread).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    enabled: AtomicBool,
    /// [`MessageMode`] as 0 off, 1 direct, 2 all.
    messages: AtomicU8,
    dropped: AtomicU64,
    /// The ledger, also read by queries.
    ledger: Arc<Mutex<ledger::Ledger>>,
    /// How many syncs the ledger's thread has made (waited on by tests).
    #[cfg(test)]
    syncs: Arc<Syncs>,
}

/// A count of the ledger thread's syncs, and a condition to wait for the next.
#[derive(Default)]
struct Syncs {
    count: Mutex<u64>,
    grew: std::sync::Condvar,
}

impl Syncs {
    fn bump(&self) {
        let mut n = match self.count.lock() {
            Ok(n) => n,
            Err(p) => p.into_inner(),
        };
        *n += 1;
        self.grew.notify_all();
    }
}

impl Drop for Inner {
    /// The last recorder is gone: the thread writes what is left, syncs and ends.
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_one();
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

fn mode_code(m: MessageMode) -> u8 {
    match m {
        MessageMode::Off => 0,
        MessageMode::Direct => 1,
        MessageMode::All => 2,
    }
}

impl Recorder {
    /// The ledger under `<state_dir>/audit`, written by its own thread (started here; it
    /// ends when the last clone is dropped). Nothing is created on disk before the first
    /// record.
    pub fn start(state_dir: &Path, settings: AuditSettings) -> Self {
        let shared = Arc::new(Shared::default());
        let ledger = Arc::new(Mutex::new(ledger::Ledger::new(state_dir.join("audit"))));
        let writer = ledger.clone();
        let syncs = Arc::new(Syncs::default());
        let counted = Arc::clone(&syncs);
        let theirs = Arc::clone(&shared);
        shared.running.store(true, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name("audit-ledger".into())
            .spawn(move || {
                write_loop(&theirs, &writer, &counted);
                theirs.running.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            shared.running.store(false, Ordering::Release);
            log::warn!("audit ledger: cannot start its thread ({e}); nothing is recorded");
        }
        Self {
            inner: Arc::new(Inner {
                shared,
                enabled: AtomicBool::new(settings.enabled),
                messages: AtomicU8::new(mode_code(settings.messages)),
                dropped: AtomicU64::new(0),
                ledger,
                #[cfg(test)]
                syncs,
            }),
        }
    }

    /// Applies changed `logging.audit` settings (from the next record on).
    pub fn configure(&self, settings: AuditSettings) {
        self.inner
            .enabled
            .store(settings.enabled, Ordering::Relaxed);
        self.inner
            .messages
            .store(mode_code(settings.messages), Ordering::Relaxed);
    }

    /// Whether new events are recorded (`logging.audit.enabled`).
    pub fn enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    fn message_mode(&self) -> MessageMode {
        match self.inner.messages.load(Ordering::Relaxed) {
            1 => MessageMode::Direct,
            2 => MessageMode::All,
            _ => MessageMode::Off,
        }
    }

    /// Whether a message of a conversation of this kind would be recorded now.
    pub fn records_messages(&self, kind: ConversationKind) -> bool {
        self.enabled() && self.message_mode().records(kind)
    }

    /// Queues a record; only the first of a batch wakes the ledger's thread.
    fn push(&self, pending: Pending) {
        let mut q = lock(&self.inner.shared.queue);
        if q.records.len() < MAX_PENDING {
            q.records.push(pending);
            let first = q.records.len() == 1;
            drop(q);
            if first {
                self.inner.shared.ready.notify_one();
            }
        } else {
            drop(q);
            let n = self.inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                log::warn!(
                    "audit ledger: {n} record(s) dropped so far: more than {MAX_PENDING} were waiting for the disk"
                );
            }
        }
    }

    /// A run started.
    pub fn run_started(&self, ids: &RunIds, at: u64) {
        if !self.enabled() {
            return;
        }
        let mut e = run_fields(ids, "agent_run", 1, at);
        e.insert("action".into(), json!("agent.run.started"));
        e.insert("status".into(), json!("started"));
        self.push(Pending {
            event: e,
            refs: None,
        });
    }

    /// A run ended; `source_sequence`: the run's event number (after its tool events).
    pub fn run_finished(&self, ids: &RunIds, end: RunEnd, source_sequence: u64, at: u64) {
        if !self.enabled() {
            return;
        }
        let mut e = run_fields(ids, "agent_run", source_sequence, at);
        e.insert("action".into(), json!("agent.run.finished"));
        let (status, code) = end.status();
        e.insert("status".into(), json!(status));
        if let Some(c) = code {
            e.insert("errorCode".into(), json!(c));
        }
        self.push(Pending {
            event: e,
            refs: None,
        });
    }

    /// A tool action started or (`end`) finished. The call id is kept as its SHA-256; a
    /// name outside the model-facing contract (`[A-Za-z0-9_:.-]{1,64}`) as `unknown`.
    pub fn tool(
        &self,
        ids: &RunIds,
        call_id: &str,
        name: &str,
        end: Option<ToolEnd>,
        source_sequence: u64,
        at: u64,
    ) {
        if !self.enabled() {
            return;
        }
        let mut e = run_fields(ids, "tool_action", source_sequence, at);
        if !call_id.is_empty() {
            e.insert("toolCallId".into(), json!(tool_call_ref(call_id)));
        }
        e.insert("toolName".into(), json!(tool_name(name)));
        match end {
            None => {
                e.insert("action".into(), json!("tool.action.started"));
                e.insert("status".into(), json!("started"));
            }
            Some(end) => {
                e.insert("action".into(), json!("tool.action.finished"));
                let (status, code) = end.status();
                e.insert("status".into(), json!(status));
                if let Some(c) = code {
                    e.insert("errorCode".into(), json!(c));
                }
            }
        }
        self.push(Pending {
            event: e,
            refs: None,
        });
    }

    /// An inbound chat message's processing ended (recorded only as
    /// `logging.audit.messages` says).
    #[allow(clippy::too_many_arguments)]
    pub fn inbound(
        &self,
        ids: MessageIds,
        kind: ConversationKind,
        end: InboundEnd,
        run: Option<&RunIds>,
        duration_ms: u64,
        result_count: u64,
        at: u64,
    ) {
        if !self.records_messages(kind) {
            return;
        }
        let mut e = message_fields("inbound_message", &ids.channel, kind, run, at);
        e.insert("action".into(), json!("message.inbound.processed"));
        e.insert("direction".into(), json!("inbound"));
        let (status, outcome) = match end {
            InboundEnd::Completed => ("succeeded", "completed"),
            InboundEnd::Aborted => ("blocked", "skipped"),
            InboundEnd::Failed => ("failed", "failed"),
        };
        e.insert("status".into(), json!(status));
        e.insert("outcome".into(), json!(outcome));
        match end {
            InboundEnd::Aborted => {
                e.insert("reasonCode".into(), json!("reply_operation_aborted"));
            }
            InboundEnd::Failed => {
                e.insert("errorCode".into(), json!("message_processing_failed"));
            }
            InboundEnd::Completed => {}
        }
        e.insert("durationMs".into(), json!(duration_ms));
        e.insert("resultCount".into(), json!(result_count));
        self.push(Pending {
            event: e,
            refs: Some(ids),
        });
    }

    /// A reply's delivery ended (recorded only as `logging.audit.messages` says).
    #[allow(clippy::too_many_arguments)]
    pub fn outbound(
        &self,
        ids: MessageIds,
        kind: ConversationKind,
        end: OutboundEnd,
        run: Option<&RunIds>,
        media: bool,
        duration_ms: u64,
        result_count: u64,
        at: u64,
    ) {
        if !self.records_messages(kind) {
            return;
        }
        let mut e = message_fields("outbound_message", &ids.channel, kind, run, at);
        e.insert("action".into(), json!("message.outbound.finished"));
        e.insert("direction".into(), json!("outbound"));
        match end {
            OutboundEnd::Sent => {
                e.insert("status".into(), json!("succeeded"));
                e.insert("outcome".into(), json!("sent"));
                e.insert(
                    "deliveryKind".into(),
                    json!(if media { "media" } else { "text" }),
                );
            }
            OutboundEnd::Suppressed => {
                e.insert("status".into(), json!("blocked"));
                e.insert("outcome".into(), json!("suppressed"));
                e.insert("reasonCode".into(), json!("no_visible_payload"));
            }
            OutboundEnd::Failed => {
                e.insert("status".into(), json!("failed"));
                e.insert("outcome".into(), json!("failed"));
                e.insert("errorCode".into(), json!("message_delivery_failed"));
                e.insert("failureStage".into(), json!("platform_send"));
                e.insert(
                    "deliveryKind".into(),
                    json!(if media { "media" } else { "text" }),
                );
            }
        }
        e.insert("durationMs".into(), json!(duration_ms));
        e.insert("resultCount".into(), json!(result_count));
        self.push(Pending {
            event: e,
            refs: Some(ids),
        });
    }

    /// Waits until every record queued so far is on disk, at most `timeout` once the
    /// request is queued (shutdown). Blocking: call it off the async workers.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let shared = &self.inner.shared;
        if !shared.running.load(Ordering::Acquire) {
            return false;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&shared.queue).flushes.push(tx);
        shared.ready.notify_one();
        rx.recv_timeout(timeout).is_ok()
    }

    /// One page of the ledger, newest first (blocking: call it off the async workers).
    /// Every row recorded before it is in it: what still waits for the thread is written
    /// here first (the thread syncs it).
    pub fn list(&self, filter: &ListFilter, now: u64) -> Result<ListPage, String> {
        // The ledger before the queue, as the thread takes them: rows stay in order.
        let mut ledger = lock(&self.inner.ledger);
        let records = {
            let mut q = lock(&self.inner.shared.queue);
            let records = std::mem::take(&mut q.records);
            if !records.is_empty() {
                q.poked = true;
            }
            records
        };
        if !records.is_empty() {
            for p in records {
                ledger.append(p);
            }
            self.inner.shared.ready.notify_one();
        }
        ledger.list(filter, now)
    }
}

/// How long a written row may wait for its sync at most (a flush syncs at once).
pub const SYNC_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

/// How long the thread gathers records after the first one before it writes them: one write
/// and one wake-up for a turn's records, not one per record. A query writes what waits
/// itself ([`Recorder::list`]); a killed process loses at most this much.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Waits on `shared.ready` until told or `until`; `true` when `until` had passed already.
fn wait_until<'a>(
    shared: &'a Shared,
    q: MutexGuard<'a, Queue>,
    until: std::time::Instant,
) -> (MutexGuard<'a, Queue>, bool) {
    let left = until.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        return (q, true);
    }
    let q = shared
        .ready
        .wait_timeout(q, left)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0;
    (q, false)
}

fn write_loop(shared: &Shared, ledger: &Mutex<ledger::Ledger>, syncs: &Syncs) {
    use std::time::Instant;
    let sync = |l: &mut ledger::Ledger| {
        if l.sync() {
            syncs.bump();
        }
    };
    // This many waiting records are written without lingering longer.
    const BATCH: usize = 256;
    // When the oldest row not yet synced was written.
    let mut unsynced: Option<Instant> = None;
    loop {
        let mut q = lock(&shared.queue);
        // Work, or the sync that is due.
        loop {
            if !q.records.is_empty() || !q.flushes.is_empty() || q.poked || q.closed {
                break;
            }
            match unsynced {
                None => {
                    q = shared
                        .ready
                        .wait(q)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                }
                Some(at) => {
                    let (woken, past) = wait_until(shared, q, at + SYNC_DELAY);
                    q = woken;
                    if past {
                        break;
                    }
                }
            }
        }
        // Records: gather what else comes (recorders do not wake the thread meanwhile).
        if !q.records.is_empty() {
            let until = Instant::now() + LINGER;
            while q.flushes.is_empty() && !q.closed && q.records.len() < BATCH {
                let (woken, past) = wait_until(shared, q, until);
                q = woken;
                if past {
                    break;
                }
            }
        }
        drop(q);
        // The ledger before the queue, as queries take them: rows stay in order.
        let mut l = lock(ledger);
        let (records, flushes, closed) = {
            let mut q = lock(&shared.queue);
            q.poked = false;
            (
                std::mem::take(&mut q.records),
                std::mem::take(&mut q.flushes),
                q.closed,
            )
        };
        for p in records {
            l.append(p);
        }
        let due = unsynced.is_some_and(|at| at.elapsed() >= SYNC_DELAY);
        if !flushes.is_empty() || due || closed {
            sync(&mut l);
            unsynced = None;
        } else if unsynced.is_none() && l.is_dirty() {
            unsynced = Some(Instant::now());
        }
        drop(l);
        for w in flushes {
            let _ = w.send(());
        }
        if closed {
            return;
        }
    }
}

fn run_fields(ids: &RunIds, kind: &str, source_sequence: u64, at: u64) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("eventType".into(), json!(kind));
    e.insert("sourceSequence".into(), json!(source_sequence.max(1)));
    e.insert("occurredAt".into(), json!(at));
    e.insert("kind".into(), json!(kind));
    e.insert(
        "actor".into(),
        json!({"type": "agent", "id": non_empty(&ids.agent_id)}),
    );
    e.insert("agentId".into(), json!(non_empty(&ids.agent_id)));
    if !ids.session_key.is_empty() {
        e.insert("sessionKey".into(), json!(ids.session_key));
    }
    e.insert("runId".into(), json!(non_empty(&ids.run_id)));
    e
}

fn message_fields(
    event_type: &str,
    channel: &str,
    kind: ConversationKind,
    run: Option<&RunIds>,
    at: u64,
) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("eventType".into(), json!(event_type));
    e.insert("sourceSequence".into(), json!(1));
    e.insert("occurredAt".into(), json!(at));
    e.insert("kind".into(), json!("message"));
    e.insert("channel".into(), json!(non_empty(channel)));
    e.insert("conversationKind".into(), json!(kind.as_str()));
    if let Some(r) = run {
        e.insert("agentId".into(), json!(non_empty(&r.agent_id)));
        e.insert("runId".into(), json!(non_empty(&r.run_id)));
    }
    e
}

fn non_empty(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

/// A tool name as the ledger keeps it: OpenClaw's model-facing name contract, else
/// `unknown` (a model may name anything; the ledger never stores arbitrary text).
pub fn tool_name(name: &str) -> &str {
    let t = name.trim();
    let ok = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-'));
    if ok { t } else { "unknown" }
}

/// `sha256:<hex>` of a tool call id (OpenClaw's fingerprint).
pub fn tool_call_ref(id: &str) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        crate::identity::hex(&sha2::Sha256::digest(id.as_bytes()))
    )
}

#[cfg(test)]
mod tests;
