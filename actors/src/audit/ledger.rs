//! The ledger's files: `<state>/audit/events-<first sequence>.jsonl`, one V1 activity event
//! (OpenClaw's `AuditActivityEventV1`) per line, sequences contiguous and increasing across
//! files and restarts. A file holds at most [`SEGMENT_ROWS`] rows; whole files are deleted
//! once every row in them is older than [`RETENTION_MS`] (their modification time is their
//! last row's), or once the files after them hold [`MAX_ROWS`] rows. Queries never return
//! rows beyond either bound, deleted yet or not.
//!
//! Files are created 0600 in a 0700 directory; rows are written as they come and synced by
//! the writer's thread ([`super::SYNC_DELAY`], [`Ledger::sync`]). A torn last line (a crash
//! mid-write) is cut off when the ledger is opened; a line that does not parse is skipped by
//! queries (never fatal).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use super::Pending;
use super::key::IdentityKey;

/// Rows kept at most (OpenClaw's cap).
pub const MAX_ROWS: u64 = 100_000;
/// How long rows are kept and returned: 30 days.
pub const RETENTION_MS: u64 = 30 * 24 * 3600 * 1000;
/// Rows per file.
pub const SEGMENT_ROWS: u64 = 8192;
/// Rows returned per page at most.
pub const MAX_LIMIT: usize = 500;
/// Longest line a query reads (longer: not a row of ours).
const MAX_LINE: usize = 256 * 1024;
/// Appends between two retention passes.
const PRUNE_EVERY: u64 = 1024;
/// An identifier longer than this is kept as its SHA-256 (`sha256:<hex>`), so one hostile
/// run id or session key cannot bloat every row of its run.
pub const MAX_ID_LEN: usize = 512;

/// What a page is filtered by (OpenClaw's `audit.activity.list` / `audit.list` params).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact agent id.
    pub agent_id: Option<String>,
    /// Exact session key.
    pub session_key: Option<String>,
    /// Exact run id.
    pub run_id: Option<String>,
    /// `agent_run`, `tool_action`, `message`.
    pub kind: Option<String>,
    /// Message rows too (`audit.activity.list`; `audit.list` never returns them).
    pub include_messages: bool,
    /// Exact status.
    pub status: Option<String>,
    /// `inbound`, `outbound`.
    pub direction: Option<String>,
    /// Exact channel.
    pub channel: Option<String>,
    /// `occurredAt >= after`.
    pub after: Option<u64>,
    /// `occurredAt <= before`.
    pub before: Option<u64>,
    /// Rows per page (1–[`MAX_LIMIT`]).
    pub limit: usize,
    /// Rows with a sequence below this (the previous page's `nextCursor`).
    pub cursor: Option<u64>,
}

/// One page, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The events as stored (V1).
    pub events: Vec<Value>,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<u64>,
}

/// An identifier as the ledger keeps (and matches) it: itself, or beyond [`MAX_ID_LEN`]
/// bytes its `sha256:<hex>`.
pub fn bounded_id(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_ID_LEN {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(super::tool_call_ref(s))
    }
}

struct Segment {
    first: u64,
    path: PathBuf,
}

/// The ledger (see the module docs); used under the recorder's lock.
pub struct Ledger {
    dir: PathBuf,
    loaded: bool,
    /// Oldest first.
    segments: Vec<Segment>,
    next_seq: u64,
    /// The newest file, open for appending, its rows and its length.
    file: Option<(File, u64, u64)>,
    dirty: bool,
    /// `None`: not read yet; `Some(None)`: unusable (warned).
    key: Option<Option<IdentityKey>>,
    since_prune: u64,
    /// The last write failure (logged once until a write succeeds again).
    failing: bool,
}

fn segment_name(first: u64) -> String {
    format!("events-{first:012}.jsonl")
}

fn segment_first(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("events-")?.strip_suffix(".jsonl")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    sequence: u64,
    occurred_at: u64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    run_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    direction: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
}

fn eq(want: Option<&String>, have: Option<&Cow<'_, str>>) -> bool {
    match want {
        None => true,
        Some(w) => have.is_some_and(|h| *bounded_id(w) == **h),
    }
}

impl Row<'_> {
    fn matches(&self, f: &ListFilter, floor: u64, retained_after: u64) -> bool {
        if self.sequence < floor
            || f.cursor.is_some_and(|c| self.sequence >= c)
            || self.occurred_at < retained_after
            || f.after.is_some_and(|a| self.occurred_at < a)
            || f.before.is_some_and(|b| self.occurred_at > b)
        {
            return false;
        }
        match &f.kind {
            Some(k) if *k != self.kind => return false,
            None if !f.include_messages && self.kind == "message" => return false,
            _ => {}
        }
        if f.status.as_ref().is_some_and(|s| *s != self.status) {
            return false;
        }
        eq(f.agent_id.as_ref(), self.agent_id.as_ref())
            && eq(f.session_key.as_ref(), self.session_key.as_ref())
            && eq(f.run_id.as_ref(), self.run_id.as_ref())
            && eq(f.direction.as_ref(), self.direction.as_ref())
            && eq(f.channel.as_ref(), self.channel.as_ref())
    }
}

impl Ledger {
    /// The ledger in `dir` (read on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            loaded: false,
            segments: Vec::new(),
            next_seq: 1,
            file: None,
            dirty: false,
            key: None,
            since_prune: 0,
            failing: false,
        }
    }

    /// The sequence the next row gets.
    pub fn next_sequence(&mut self) -> u64 {
        self.load();
        self.next_seq
    }

    fn load(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                log::warn!("audit ledger: cannot read {}: {e}", self.dir.display());
                return;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(first) = name.to_str().and_then(segment_first) {
                self.segments.push(Segment {
                    first: first.max(1),
                    path: entry.path(),
                });
            }
        }
        self.segments.sort_by_key(|s| s.first);
        self.segments.dedup_by_key(|s| s.first);
        if let Some(last) = self.segments.last() {
            let (rows, max_seq) = repair_and_count(&last.path);
            self.next_seq = (last.first + rows).max(max_seq + 1);
        }
        self.prune(crate::util::now_ms());
    }

    fn key(&mut self) -> Option<&IdentityKey> {
        if self.key.is_none() {
            let path = self.dir.join(super::key::KEY_FILE);
            let missing = matches!(std::fs::symlink_metadata(&path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound);
            let k = if missing && self.holds_message_rows() {
                // A new key would split the kept rows' correlation silently (OpenClaw
                // refuses too).
                log::warn!(
                    "audit ledger: {} is missing but message records made with it are kept: message records are not written. Fix: restore the file from a backup, or delete {}/events-*.jsonl to start the ledger over",
                    path.display(),
                    self.dir.display()
                );
                None
            } else {
                IdentityKey::load_or_create(&self.dir)
                    .map_err(|e| log::warn!("audit ledger: {e}"))
                    .ok()
            };
            self.key = Some(k);
        }
        self.key.as_ref().and_then(Option::as_ref)
    }

    /// Whether a kept file holds a message row (read once, when the key is missing).
    fn holds_message_rows(&self) -> bool {
        const NEEDLE: &[u8] = b"\"kind\":\"message\"";
        self.segments.iter().any(|s| {
            std::fs::read(&s.path).is_ok_and(|b| b.windows(NEEDLE.len()).any(|w| w == NEEDLE))
        })
    }

    /// Appends one record (its sequence, event id and ledger fields added here); a write
    /// that fails is undone and logged, the record dropped.
    pub fn append(&mut self, p: Pending) {
        self.load();
        if let Err(e) = crate::store::create_dir_durable(&self.dir) {
            self.fail(&format!("cannot create {}: {e}", self.dir.display()));
            return;
        }
        let mut event = p.event;
        if let Some(ids) = p.refs {
            let Some(key) = self.key() else {
                return;
            };
            let ch = ids.channel.as_str();
            let acc = ids.account.as_str();
            let conv = ids.conversation.as_str();
            if !acc.is_empty() {
                event.insert(
                    "accountRef".into(),
                    json!(key.pseudonym("account", ch, None, None, acc)),
                );
            }
            if !conv.is_empty() {
                event.insert(
                    "conversationRef".into(),
                    json!(key.pseudonym("conversation", ch, Some(acc), None, conv)),
                );
            }
            if let Some(m) = ids.message.as_deref().filter(|m| !m.is_empty()) {
                event.insert(
                    "messageRef".into(),
                    json!(key.pseudonym("message", ch, Some(acc), Some(conv), m)),
                );
            }
            if let Some(t) = ids.target.as_deref().filter(|t| !t.is_empty()) {
                event.insert(
                    "targetRef".into(),
                    json!(key.pseudonym("target", ch, Some(acc), None, t)),
                );
            }
            let actor = match (event.get("direction").and_then(Value::as_str), &ids.sender) {
                (Some("inbound"), Some(s)) if !s.is_empty() => json!({"type": "channel_sender",
                    "id": key.pseudonym("sender", ch, Some(acc), None, s)}),
                (Some("inbound"), _) => json!({"type": "system", "id": "gateway"}),
                _ => match event.get("agentId") {
                    Some(a) => json!({"type": "agent", "id": a}),
                    None => json!({"type": "system", "id": "gateway"}),
                },
            };
            event.insert("actor".into(), actor);
        }
        for field in ["agentId", "sessionKey", "runId"] {
            if let Some(Value::String(s)) = event.get_mut(field)
                && let Cow::Owned(b) = bounded_id(s)
            {
                *s = b;
            }
        }
        if let Some(Value::Object(actor)) = event.get_mut("actor")
            && let Some(Value::String(s)) = actor.get_mut("id")
            && let Cow::Owned(b) = bounded_id(s)
        {
            *s = b;
        }
        let seq = self.next_seq;
        event.insert("schemaVersion".into(), json!(1));
        event.insert("eventId".into(), json!(uuid::Uuid::new_v4().to_string()));
        event.insert("sequence".into(), json!(seq));
        event.insert("redaction".into(), json!("metadata_only"));
        let mut line = match serde_json::to_vec(&event) {
            Ok(l) => l,
            Err(e) => {
                self.fail(&format!("cannot encode a record: {e}"));
                return;
            }
        };
        line.push(b'\n');
        if let Err(e) = self.write_line(seq, &line) {
            self.fail(&e);
            return;
        }
        if self.failing {
            self.failing = false;
            log::info!("audit ledger: writing again");
        }
        self.next_seq += 1;
        self.since_prune += 1;
        if self.since_prune >= PRUNE_EVERY {
            self.prune(crate::util::now_ms());
        }
    }

    fn write_line(&mut self, seq: u64, line: &[u8]) -> Result<(), String> {
        if self
            .file
            .as_ref()
            .is_none_or(|(_, rows, _)| *rows >= SEGMENT_ROWS)
        {
            // After a restart the newest file goes on while it has room.
            let reuse = match (&self.file, self.segments.last()) {
                (None, Some(s)) => Some((s.path.clone(), self.next_seq.saturating_sub(s.first)))
                    .filter(|(_, rows)| *rows < SEGMENT_ROWS),
                _ => None,
            };
            self.sync();
            let (path, rows) = reuse
                .clone()
                .unwrap_or_else(|| (self.dir.join(segment_name(seq)), 0));
            let file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let len = file
                .metadata()
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .len();
            if reuse.is_none() {
                if let Ok(d) = File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                self.segments.push(Segment { first: seq, path });
            }
            self.file = Some((file, rows, len));
        }
        let Some((file, rows, len)) = self.file.as_mut() else {
            return Err("no file".into());
        };
        if let Err(e) = file.write_all(line) {
            // Undone: the next row must start on a line of its own.
            let _ = file.set_len(*len);
            return Err(format!("cannot append to the audit ledger: {e}"));
        }
        *len += line.len() as u64;
        *rows += 1;
        self.dirty = true;
        Ok(())
    }

    fn fail(&mut self, why: &str) {
        if !self.failing {
            self.failing = true;
            log::warn!("audit ledger: {why}; records are dropped until writing works again");
        }
    }

    /// Rows were written since the last sync.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Puts the rows written so far on disk.
    /// Whether there was anything to sync.
    pub fn sync(&mut self) -> bool {
        if !self.dirty {
            return false;
        }
        if let Some((f, _, _)) = &self.file
            && let Err(e) = f.sync_data()
        {
            log::warn!("audit ledger: cannot sync: {e}");
        }
        self.dirty = false;
        true
    }

    /// Deletes the files past the retention or the row cap.
    fn prune(&mut self, now: u64) {
        self.since_prune = 0;
        let retained_after = now.saturating_sub(RETENTION_MS);
        while self.segments.len() > 1 {
            let next_first = self.segments[1].first;
            let rows_after = self.next_seq.saturating_sub(next_first);
            let oldest = &self.segments[0];
            let last_write = std::fs::metadata(&oldest.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let expired = last_write.is_some_and(|t| t < retained_after);
            if rows_after < MAX_ROWS && !expired {
                break;
            }
            match std::fs::remove_file(&oldest.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::warn!("audit ledger: cannot delete {}: {e}", oldest.path.display());
                    break;
                }
            }
            self.segments.remove(0);
        }
    }

    /// One page, newest first.
    pub fn list(&mut self, f: &ListFilter, now: u64) -> Result<ListPage, String> {
        self.load();
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let floor = self.next_seq.saturating_sub(MAX_ROWS);
        let retained_after = now.saturating_sub(RETENTION_MS);
        let mut out: Vec<Value> = Vec::with_capacity(limit + 1);
        'segments: for seg in self.segments.iter().rev() {
            if f.cursor.is_some_and(|c| seg.first >= c) {
                continue;
            }
            let file = match File::open(&seg.path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("cannot read {}: {e}", seg.path.display())),
            };
            let mut reader = std::io::BufReader::new(file);
            let mut matched: Vec<Value> = Vec::new();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = std::io::Read::take(&mut reader, MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| format!("cannot read {}: {e}", seg.path.display()))?;
                if n == 0 {
                    break;
                }
                if buf.last() != Some(&b'\n') {
                    if n > MAX_LINE {
                        // Not a row of ours: skip the rest of the line.
                        let mut rest = Vec::new();
                        let _ = reader.read_until(b'\n', &mut rest);
                        continue;
                    }
                    // A line being written (or torn): not a row yet.
                    break;
                }
                let Ok(row) = serde_json::from_slice::<Row<'_>>(&buf) else {
                    continue;
                };
                if row.matches(f, floor, retained_after)
                    && let Ok(v) = serde_json::from_slice::<Value>(&buf)
                {
                    matched.push(v);
                }
            }
            for v in matched.into_iter().rev() {
                out.push(v);
                if out.len() > limit {
                    break 'segments;
                }
            }
        }
        let next_cursor = if out.len() > limit {
            out.truncate(limit);
            out.last()
                .and_then(|e| e.get("sequence"))
                .and_then(Value::as_u64)
        } else {
            None
        };
        Ok(ListPage {
            events: out,
            next_cursor,
        })
    }
}

/// Cuts a torn last line off `path`; answers its rows and the highest sequence in it.
fn repair_and_count(path: &Path) -> (u64, u64) {
    let Ok(bytes) = std::fs::read(path) else {
        return (0, 0);
    };
    let whole = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if whole < bytes.len() {
        log::warn!(
            "audit ledger: {} ended in a torn line ({} bytes, a crash mid-write): cut off",
            path.display(),
            bytes.len() - whole
        );
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = f.set_len(whole as u64);
            let _ = f.sync_all();
        }
    }
    let mut rows = 0;
    let mut max_seq = 0;
    for line in bytes[..whole].split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        rows += 1;
        if let Ok(r) = serde_json::from_slice::<Row<'_>>(line) {
            max_seq = max_seq.max(r.sequence);
        }
    }
    (rows, max_seq)
}
