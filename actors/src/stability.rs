//! The stability ring: the gateway's recent diagnostic events, payload-free, for
//! `diagnostics.stability` (the real CLI's `openclaw gateway stability` and the exporter
//! check of `openclaw doctor`), in OpenClaw's record shape (`src/logging/diagnostic-stability.ts`).
//!
//! - **Bounded.** At most [`CAPACITY`] records; the oldest goes first and is counted in
//!   `dropped`. A record is a few fixed fields; nothing grows with input.
//! - **Payload-free.** A record holds a type, numbers and short codes: a channel name, a
//!   provider and model id, a reason code. Never message text, a user or chat id, an IP
//!   address, a token or a file name. A code is kept only when it is made of
//!   `[A-Za-z0-9_.:/@+-]` and at most [`MAX_CODE`] characters (OpenClaw's rule for reason
//!   codes, with `/`, `@` and `+` for model ids); anything else is left out.
//! - **Cheap to record.** One short mutex hold, no I/O; the JSON is built only when asked.
//! - **Not flushed by a stranger.** What an unauthenticated client can repeat at will (an
//!   oversized frame before `connect`, a webhook request with a wrong secret, a lockout) —
//!   and what an outage repeats (channel, delivery and model errors) — is counted on one
//!   record per minute and kind ([`Record::repeated`]).
//! - **What is recorded** (each at the place the matching Prometheus counter counts):
//!   - `payload.large`: an inbound frame over the limit (`gateway.ws.frame`,
//!     `gateway.ws.preauth`), a client closed as a slow consumer
//!     (`gateway.ws.outbound_buffer`), a `chat.history` answer cut to its budget
//!     (`gateway.chat.history`, `truncated`);
//!   - `security.event`: a client locked out by the failed-auth limiter;
//!   - `run.started`, `run.completed`: agent runs (channel, provider, model, outcome);
//!   - `model.call.completed`, `model.call.error`, `model.failover`;
//!   - `message.received`, `message.delivery.completed`, `message.delivery.error`,
//!     `channel.error`: a channel's traffic and failures;
//!   - `webhook.received`, `webhook.error`: Telegram webhook updates;
//!   - `tool.execution.blocked`: a tool call the tool policy refused;
//!   - `tool.execution.error`: a `node.invoke` the node failed, did not answer in time, or
//!     left unanswered by going away (its command and error code);
//!   - `exec.process.completed`: an `exec` command's end (where, outcome, exit code, time;
//!     never the command);
//!   - `diagnostic.memory.sample`: the resident size, every [`MEMORY_SAMPLE_EVERY`].
//!
//! There are no telemetry exporters in this gateway: a `telemetry.exporter` query answers
//! an empty list (OpenClaw's exporter table, capacity 16).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

/// Records kept (OpenClaw's default capacity).
pub const CAPACITY: usize = 1000;
/// Records answered when the query gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// Longest code kept.
pub const MAX_CODE: usize = 120;
/// How long a repeated record keeps counting repeats.
pub const COALESCE_WINDOW_MS: u64 = 60_000;
/// How many of the newest records a repeat is looked for among.
pub const COALESCE_DEPTH: usize = 16;
/// How often the resident size is sampled.
pub const MEMORY_SAMPLE_EVERY: Duration = Duration::from_secs(300);
/// The capacity OpenClaw reports for its exporter table.
const EXPORTER_CAPACITY: usize = 16;

/// A short, payload-free code (a channel name, a provider, a reason), or nothing when the
/// text is not one.
pub fn code(s: &str) -> Option<Box<str>> {
    let ok = !s.is_empty()
        && s.len() <= MAX_CODE
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:/@+-".contains(&b));
    ok.then(|| s.into())
}

/// The memory figures of a record (`rssBytes`; the V8 heap fields OpenClaw also has do
/// not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Resident set size.
    pub rss_bytes: u64,
}

/// One diagnostic record. Build it with [`Record::of`] and the setters, then [`record`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Sequence number (from 1, in recording order).
    pub seq: u64,
    /// When, in milliseconds since the epoch.
    pub ts: u64,
    /// The event type (`run.completed`, `payload.large`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    surface: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    /// Made by what a stranger can repeat at will (see [`Record::repeated`]).
    #[serde(skip)]
    repeated: bool,
}

impl Record {
    /// A record of type `kind`.
    pub fn of(kind: &'static str) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }
    /// `level` (`info`, `warning`).
    pub fn level(mut self, v: &'static str) -> Self {
        self.level = Some(v);
        self
    }
    /// `action`.
    pub fn action(mut self, v: &'static str) -> Self {
        self.action = Some(v);
        self
    }
    /// `outcome`.
    pub fn outcome(mut self, v: &'static str) -> Self {
        self.outcome = Some(v);
        self
    }
    /// `surface` (`payload.large`).
    pub fn surface(mut self, v: &'static str) -> Self {
        self.surface = Some(v);
        self
    }
    /// `channel` (kept if it is a [`code`]).
    pub fn channel(mut self, v: &str) -> Self {
        self.channel = code(v);
        self
    }
    /// `source` (kept if it is a [`code`]).
    pub fn source(mut self, v: &str) -> Self {
        self.source = code(v);
        self
    }
    /// `target` (`security.event`: what kind of client).
    pub fn target(mut self, v: &'static str) -> Self {
        self.target = Some(v);
        self
    }
    /// `provider` and `model` from a `provider/model` label (each kept if it is a
    /// [`code`]; a label without `/` is a model of no named provider).
    pub fn model_label(mut self, label: &str) -> Self {
        let (provider, model) = match label.split_once('/') {
            Some((p, m)) => (Some(p), m),
            None => (None, label),
        };
        self.provider = provider.and_then(code);
        self.model = code(model);
        self
    }
    /// `toolName` (kept if it is a [`code`]).
    pub fn tool(mut self, v: &str) -> Self {
        self.tool_name = code(v);
        self
    }
    /// `deliveryKind`.
    pub fn delivery_kind(mut self, v: &'static str) -> Self {
        self.delivery_kind = Some(v);
        self
    }
    /// `reason` (kept if it is a [`code`]).
    pub fn reason(mut self, v: &str) -> Self {
        self.reason = code(v);
        self
    }
    /// `durationMs`.
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }
    /// `bytes`.
    pub fn bytes(mut self, v: u64) -> Self {
        self.bytes = Some(v);
        self
    }
    /// `limitBytes`.
    pub fn limit_bytes(mut self, v: u64) -> Self {
        self.limit_bytes = Some(v);
        self
    }
    /// `count`.
    pub fn count(mut self, v: u64) -> Self {
        self.count = Some(v);
        self
    }
    /// `resultCount`.
    pub fn result_count(mut self, v: u64) -> Self {
        self.result_count = Some(v);
        self
    }
    /// `exitCode`.
    pub fn exit_code(mut self, code: i64) -> Self {
        self.exit_code = Some(code);
        self
    }
    /// Marks a record that a stranger can cause at will (an oversized frame before
    /// `connect`, a webhook request with a wrong secret, a lockout): the same record again
    /// within [`COALESCE_WINDOW`] and among the newest [`COALESCE_DEPTH`] adds to that
    /// record's `count` instead of taking a place, so a flood cannot push the ring's other
    /// records out.
    pub fn repeated(mut self) -> Self {
        self.repeated = true;
        self
    }
    /// Whether `other` is the same event (for coalescing repeats).
    fn same_as(&self, other: &Record) -> bool {
        self.kind == other.kind
            && self.level == other.level
            && self.action == other.action
            && self.outcome == other.outcome
            && self.surface == other.surface
            && self.channel == other.channel
            && self.source == other.source
            && self.target == other.target
            && self.reason == other.reason
            && self.provider == other.provider
            && self.model == other.model
            && self.tool_name == other.tool_name
            && self.delivery_kind == other.delivery_kind
    }
    /// `memory`.
    pub fn memory(mut self, m: Memory) -> Self {
        self.memory = Some(m);
        self
    }
}

/// The ring itself (one per process: [`RING`]; tests make their own).
#[derive(Debug)]
pub struct Ring {
    records: VecDeque<Record>,
    capacity: usize,
    next_seq: u64,
    dropped: u64,
}

impl Ring {
    /// An empty ring of `capacity` records (at least 1).
    pub const fn new(capacity: usize) -> Self {
        Self {
            records: VecDeque::new(),
            capacity: if capacity == 0 { 1 } else { capacity },
            next_seq: 1,
            dropped: 0,
        }
    }

    /// Appends `r` stamped with the next sequence number and `ts`, dropping the oldest
    /// record when full.
    pub fn push(&mut self, mut r: Record, ts: u64) {
        if r.repeated
            && let Some(same) = self
                .records
                .iter_mut()
                .rev()
                .take(COALESCE_DEPTH)
                .find(|old| {
                    old.repeated && r.same_as(old) && ts.saturating_sub(old.ts) < COALESCE_WINDOW_MS
                })
        {
            same.count = Some(same.count.unwrap_or(1).saturating_add(1));
            return;
        }
        r.seq = self.next_seq;
        r.ts = ts;
        self.next_seq = self.next_seq.saturating_add(1);
        if self.records.len() >= self.capacity {
            self.records.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.records.push_back(r);
    }

    /// The snapshot `q` asks for (OpenClaw's `getDiagnosticStabilitySnapshot`).
    pub fn snapshot(&self, q: &Query, generated_at: String) -> Snapshot {
        if q.kind.as_deref() == Some("telemetry.exporter") {
            return Snapshot::empty(generated_at, EXPORTER_CAPACITY);
        }
        let filtered: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| q.kind.as_deref().is_none_or(|k| r.kind == k))
            .filter(|r| q.since_seq.is_none_or(|s| r.seq > s))
            .collect();
        let skip = filtered.len().saturating_sub(q.limit);
        Snapshot {
            generated_at,
            capacity: self.capacity,
            count: filtered.len(),
            dropped: self.dropped,
            first_seq: filtered.first().map(|r| r.seq),
            last_seq: filtered.last().map(|r| r.seq),
            summary: Summary::of(&filtered),
            events: filtered[skip..].iter().map(|r| (*r).clone()).collect(),
        }
    }
}

/// The process's ring.
pub static RING: Mutex<Ring> = Mutex::new(Ring::new(CAPACITY));

/// Records `r` in the process's ring.
pub fn record(r: Record) {
    let ts = crate::util::now_ms();
    if let Ok(mut ring) = RING.lock() {
        ring.push(r, ts);
    }
}

/// The process's snapshot for `q`.
pub fn snapshot(q: &Query) -> Snapshot {
    let at = iso_now();
    match RING.lock() {
        Ok(ring) => ring.snapshot(q, at),
        Err(_) => Snapshot::empty(at, CAPACITY),
    }
}

/// A model call by `label` (`provider/model`) ended after `took`: `model.call.completed`,
/// or `model.call.error` with the failure's code.
pub fn model_call(label: &str, took: Duration, error: Option<&str>) {
    let r = match error {
        None => Record::of("model.call.completed"),
        Some(why) => Record::of("model.call.error").reason(why).repeated(),
    };
    record(r.model_label(label).duration(took));
}

/// Records the resident size now (`diagnostic.memory.sample`), if it can be read.
pub fn sample_memory() {
    if let Some(rss_bytes) = rss_bytes() {
        record(Record::of("diagnostic.memory.sample").memory(Memory { rss_bytes }));
    }
}

/// The process's resident size (Linux `/proc/self/statm`, in pages of the system's size;
/// `None` elsewhere). Also what `process_resident_memory_bytes` reports.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(rustix::param::page_size() as u64))
}

/// Now as ISO 8601 UTC with milliseconds.
fn iso_now() -> String {
    crate::util::iso_ms(crate::util::now_ms()).unwrap_or_default()
}

/// A `diagnostics.stability` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Records answered at most (the newest ones).
    pub limit: usize,
    /// Only this type.
    pub kind: Option<String>,
    /// Only records after this sequence number.
    pub since_seq: Option<u64>,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            kind: None,
            since_seq: None,
        }
    }
}

impl Query {
    /// Reads OpenClaw's params (`limit` 1–1000, `type`, `sinceSeq`; numbers may come as
    /// digit strings, as the CLI's flags do); `Err` says what is wrong.
    pub fn parse(params: &Value) -> Result<Self, String> {
        let empty = Map::new();
        let o = match params {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err("diagnostics.stability params must be an object".to_owned()),
        };
        let limit = match non_negative(o.get("limit"), "limit")? {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=CAPACITY as u64).contains(&n) => n as usize,
            Some(_) => return Err(format!("limit must be between 1 and {CAPACITY}")),
        };
        let kind = match o.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(_) => return Err("type must be a non-empty string".to_owned()),
        };
        let since_seq = non_negative(o.get("sinceSeq"), "sinceSeq")?;
        Ok(Self {
            limit,
            kind,
            since_seq,
        })
    }
}

fn non_negative(v: Option<&Value>, field: &str) -> Result<Option<u64>, String> {
    let bad = || format!("{field} must be a non-negative integer");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map(Some).map_err(|_| bad())
        }
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// The answer of `diagnostics.stability`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// When it was made (ISO 8601).
    pub generated_at: String,
    /// Records the ring holds at most.
    pub capacity: usize,
    /// Records matching the query (before `limit`).
    pub count: usize,
    /// Records the ring has let go of since start.
    pub dropped: u64,
    /// The first matching record's sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// The last matching record's sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// The newest `limit` matching records, oldest first.
    pub events: Vec<Record>,
    /// Counts over every matching record.
    pub summary: Summary,
}

impl Snapshot {
    fn empty(generated_at: String, capacity: usize) -> Self {
        Self {
            generated_at,
            capacity,
            count: 0,
            dropped: 0,
            first_seq: None,
            last_seq: None,
            events: Vec::new(),
            summary: Summary::of(&[]),
        }
    }
}

/// The summary of a snapshot (OpenClaw's `summarizeRecords`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Records per type.
    pub by_type: BTreeMap<&'static str, u64>,
    /// The memory figures, when any record had some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySummary>,
    /// The `payload.large` records, when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_large: Option<PayloadLarge>,
}

/// Memory over the records.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemorySummary {
    /// The newest sample.
    pub latest: Option<Memory>,
    /// The largest resident size seen.
    pub max_rss_bytes: Option<u64>,
    /// `diagnostic.memory.pressure` records (none are made here).
    pub pressure_count: u64,
}

/// `payload.large` over the records.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadLarge {
    /// All of them.
    pub count: u64,
    /// `action: rejected`.
    pub rejected: u64,
    /// `action: truncated`.
    pub truncated: u64,
    /// `action: chunked`.
    pub chunked: u64,
    /// Per surface.
    pub by_surface: BTreeMap<&'static str, u64>,
}

impl Summary {
    fn of(records: &[&Record]) -> Self {
        let mut by_type = BTreeMap::new();
        let mut latest = None;
        let mut max_rss: Option<u64> = None;
        let mut pressure = 0;
        let mut large = PayloadLarge::default();
        for r in records {
            *by_type.entry(r.kind).or_insert(0) += 1;
            if let Some(m) = r.memory {
                latest = Some(m);
                max_rss = Some(max_rss.map_or(m.rss_bytes, |x| x.max(m.rss_bytes)));
            }
            if r.kind == "diagnostic.memory.pressure" {
                pressure += 1;
            }
            if r.kind == "payload.large" {
                large.count += 1;
                match r.action {
                    Some("rejected") => large.rejected += 1,
                    Some("truncated") => large.truncated += 1,
                    Some("chunked") => large.chunked += 1,
                    _ => {}
                }
                *large
                    .by_surface
                    .entry(r.surface.unwrap_or("unknown"))
                    .or_insert(0) += 1;
            }
        }
        Self {
            by_type,
            memory: (latest.is_some() || pressure > 0).then_some(MemorySummary {
                latest,
                max_rss_bytes: max_rss,
                pressure_count: pressure,
            }),
            payload_large: (large.count > 0).then_some(large),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ring_with(n: u64) -> Ring {
        let mut ring = Ring::new(5);
        for i in 0..n {
            let r = if i % 2 == 0 {
                Record::of("run.completed").outcome("completed")
            } else {
                Record::of("payload.large")
                    .surface("gateway.ws.frame")
                    .action("rejected")
                    .limit_bytes(1024)
            };
            ring.push(r, 1_000 + i);
        }
        ring
    }

    #[test]
    fn the_ring_keeps_the_newest_and_counts_what_it_drops() {
        let ring = ring_with(8);
        let s = ring.snapshot(&Query::default(), "t".into());
        assert_eq!(s.capacity, 5);
        assert_eq!(s.count, 5);
        assert_eq!(s.dropped, 3);
        assert_eq!((s.first_seq, s.last_seq), (Some(4), Some(8)));
        let seqs: Vec<u64> = s.events.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [4, 5, 6, 7, 8]);
        assert_eq!(s.events[0].ts, 1_003);
    }

    #[test]
    fn queries_filter_by_type_and_sequence_then_limit() {
        let ring = ring_with(8);
        let q = Query {
            limit: 1,
            kind: Some("payload.large".into()),
            since_seq: Some(4),
        };
        let s = ring.snapshot(&q, "t".into());
        // 6 and 8 are payload.large after 4; the newest one is answered.
        assert_eq!(s.count, 2);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].seq, 8);
        assert_eq!((s.first_seq, s.last_seq), (Some(6), Some(8)));
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(v["summary"]["byType"], json!({"payload.large": 2}));
        assert_eq!(
            v["summary"]["payloadLarge"],
            json!({"count": 2, "rejected": 2, "truncated": 0, "chunked": 0,
                   "bySurface": {"gateway.ws.frame": 2}})
        );
        assert!(v["summary"].get("memory").is_none());
        // Nothing matches: no sequence bounds, empty events.
        let none = ring.snapshot(
            &Query {
                kind: Some("nope".into()),
                ..Query::default()
            },
            "t".into(),
        );
        let v = serde_json::to_value(&none).expect("json");
        assert_eq!(v["count"], 0);
        assert!(v.get("firstSeq").is_none() && v.get("lastSeq").is_none());
        assert_eq!(v["events"], json!([]));
    }

    #[test]
    fn exporter_queries_answer_an_empty_table() {
        let ring = ring_with(3);
        let q = Query {
            kind: Some("telemetry.exporter".into()),
            ..Query::default()
        };
        let v = serde_json::to_value(ring.snapshot(&q, "t".into())).expect("json");
        assert_eq!(v["capacity"], 16);
        assert_eq!(v["events"], json!([]));
    }

    #[test]
    fn records_serialize_in_openclaws_shape_and_drop_what_is_not_a_code() {
        let mut ring = Ring::new(4);
        ring.push(
            Record::of("run.completed")
                .channel("telegram")
                .model_label("anthropic/claude-sonnet-4-5")
                .duration(Duration::from_millis(1234))
                .outcome("error")
                .reason("rate_limited"),
            42,
        );
        ring.push(
            Record::of("message.delivery.error")
                .channel("tele gram")
                .reason("chat 12345: \"hello\"")
                .model_label("x/ü")
                .tool("rm -rf /"),
            43,
        );
        ring.push(
            Record::of("diagnostic.memory.sample").memory(Memory { rss_bytes: 7 }),
            44,
        );
        let v = serde_json::to_value(ring.snapshot(&Query::default(), "t".into())).expect("j");
        assert_eq!(
            v["events"][0],
            json!({"seq": 1, "ts": 42, "type": "run.completed", "outcome": "error",
                   "channel": "telegram", "provider": "anthropic",
                   "model": "claude-sonnet-4-5", "reason": "rate_limited",
                   "durationMs": 1234})
        );
        // Free text, spaces, non-ASCII: left out, never copied.
        assert_eq!(
            v["events"][1],
            json!({"seq": 2, "ts": 43, "type": "message.delivery.error", "provider": "x"})
        );
        assert_eq!(v["events"][2]["memory"], json!({"rssBytes": 7}));
        assert_eq!(
            v["summary"]["memory"],
            json!({"latest": {"rssBytes": 7}, "maxRssBytes": 7, "pressureCount": 0})
        );
    }

    #[test]
    fn codes_are_short_ascii_words() {
        assert_eq!(
            code("gpt-5.1@azure:eu/x+y").as_deref(),
            Some("gpt-5.1@azure:eu/x+y")
        );
        for bad in ["", " ", "a b", "é", "a\nb", "a\"b", "{}", "\u{202e}x"] {
            assert!(code(bad).is_none(), "{bad:?}");
        }
        assert!(code(&"a".repeat(MAX_CODE)).is_some());
        assert!(code(&"a".repeat(MAX_CODE + 1)).is_none());
        assert!(code(&"é".repeat(1 << 16)).is_none());
    }

    #[test]
    fn query_params_follow_openclaw() {
        assert_eq!(Query::parse(&Value::Null), Ok(Query::default()));
        assert_eq!(Query::parse(&json!({})), Ok(Query::default()));
        let q = Query::parse(&json!({"limit": "25", "type": " run.completed ", "sinceSeq": 3}))
            .expect("ok");
        assert_eq!(q.limit, 25);
        assert_eq!(q.kind.as_deref(), Some("run.completed"));
        assert_eq!(q.since_seq, Some(3));
        assert_eq!(
            Query::parse(&json!({"limit": 1000})).map(|q| q.limit),
            Ok(1000)
        );
        for (bad, why) in [
            (json!({"limit": 0}), "limit must be between 1 and 1000"),
            (json!({"limit": 1001}), "limit must be between 1 and 1000"),
            (json!({"limit": -1}), "limit must be a non-negative integer"),
            (
                json!({"limit": 1.5}),
                "limit must be a non-negative integer",
            ),
            (
                json!({"limit": "1e3"}),
                "limit must be a non-negative integer",
            ),
            (
                json!({"limit": "99999999999999999999999"}),
                "limit must be a non-negative integer",
            ),
            (
                json!({"sinceSeq": true}),
                "sinceSeq must be a non-negative integer",
            ),
            (json!({"type": "  "}), "type must be a non-empty string"),
            (json!({"type": 7}), "type must be a non-empty string"),
            (json!([1]), "diagnostics.stability params must be an object"),
        ] {
            assert_eq!(Query::parse(&bad), Err(why.to_owned()), "{bad}");
        }
    }

    #[test]
    fn the_process_ring_records_and_answers() {
        record(Record::of("test.stability.marker").count(7));
        let s = snapshot(&Query {
            kind: Some("test.stability.marker".into()),
            ..Query::default()
        });
        assert!(s.count >= 1);
        assert_eq!(s.events.last().and_then(|r| r.count), Some(7));
        assert!(s.generated_at.ends_with('Z'), "{}", s.generated_at);
    }

    #[test]
    fn a_strangers_repeats_are_counted_not_kept() {
        let mut ring = Ring::new(50);
        ring.push(Record::of("run.completed").outcome("completed"), 0);
        let flood = || {
            Record::of("payload.large")
                .surface("gateway.ws.preauth")
                .action("rejected")
                .reason("preauth_frame_limit")
                .repeated()
        };
        for i in 0..10_000u64 {
            ring.push(flood(), 1 + i / 100);
            if i % 2 == 0 {
                ring.push(
                    Record::of("webhook.error")
                        .channel("telegram")
                        .reason("unauthorized")
                        .repeated(),
                    1 + i / 100,
                );
            }
        }
        let s = ring.snapshot(&Query::default(), "t".into());
        assert_eq!(s.count, 3, "{:?}", s.events);
        assert_eq!(s.events[1].count, Some(10_000));
        assert_eq!(s.events[2].count, Some(5_000));
        // The run is still there.
        assert_eq!(s.events[0].kind, "run.completed");
        // Past the window, a new record starts; a record not marked is never merged.
        ring.push(flood(), 1 + COALESCE_WINDOW_MS + 200);
        ring.push(
            Record::of("run.completed").outcome("completed"),
            2 + COALESCE_WINDOW_MS,
        );
        ring.push(
            Record::of("run.completed").outcome("completed"),
            2 + COALESCE_WINDOW_MS,
        );
        let s = ring.snapshot(&Query::default(), "t".into());
        assert_eq!(s.count, 6);
        assert_eq!(s.events[3].count, None);
    }
}
