//! Background `exec` commands on the gateway host and OpenClaw's `process` tool.
//!
//! A gateway-host command still running after `yieldMs` (default 10 s; `background: true`:
//! at once) keeps running in the background: the `exec` call returns `status: "running"`
//! with a `sessionId` and the output so far, and the `process` tool follows it (`list`,
//! `poll` — new output, optionally waiting up to 30 s for the end —, `log`, `kill`,
//! `remove`). Its timeout (`tools.exec.timeoutSeconds`) still applies; `kill` and gateway
//! shutdown kill its whole process group.
//!
//! Bounded: at most [`MAX_RUNNING`] run in the background at once (beyond, `exec` keeps
//! waiting in the foreground), [`MAX_ENTRIES`] are listed (the oldest finished ones are
//! dropped first), and each keeps the last [`TAIL_BYTES`] of its output.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ports::ToolSpec;
use crate::util::now_ms;

/// Background commands running at once.
pub const MAX_RUNNING: usize = 8;
/// Commands listed (running and finished).
pub const MAX_ENTRIES: usize = 32;
/// Output kept per command (stdout and stderr interleaved as they came).
pub const TAIL_BYTES: usize = 32 * 1024;
/// OpenClaw's default `yieldMs`.
pub const DEFAULT_YIELD: Duration = Duration::from_secs(10);
/// Longest `poll` wait.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(30);

/// Cleans text before the model sees it (the shell redacts the gateway's secrets).
pub type Scrub = Rc<dyn Fn(&str) -> String>;

/// A command's output as it comes.
#[derive(Default)]
pub struct LiveOutput {
    buf: VecDeque<u8>,
    /// Bytes ever received.
    total: u64,
    /// `total` when the last `poll` looked.
    polled: u64,
    scrub: Option<Scrub>,
}

impl std::fmt::Debug for LiveOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOutput")
            .field("kept", &self.buf.len())
            .field("total", &self.total)
            .finish()
    }
}

impl LiveOutput {
    /// Cleans every text handed out with `scrub`.
    pub fn set_scrub(&mut self, scrub: Scrub) {
        self.scrub = Some(scrub);
    }

    /// Appends a piece (the oldest bytes beyond [`TAIL_BYTES`] are dropped).
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let over = (self.buf.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        self.buf.drain(..over.min(self.buf.len()));
        self.buf.extend(bytes);
    }

    /// The bytes kept from `from` (a `total` position) on, as text.
    fn since(&self, from: u64) -> String {
        let start = self.total - self.buf.len() as u64;
        let skip = from.saturating_sub(start).min(self.buf.len() as u64) as usize;
        let (a, b) = self.buf.as_slices();
        let mut v = Vec::with_capacity(self.buf.len() - skip);
        if skip < a.len() {
            v.extend_from_slice(&a[skip..]);
            v.extend_from_slice(b);
        } else {
            v.extend_from_slice(&b[skip - a.len()..]);
        }
        let mut s = String::from_utf8_lossy(&v).into_owned();
        if let Some(scrub) = &self.scrub {
            s = scrub(&s);
        }
        if from < start {
            s.insert_str(0, "[earlier output dropped]\n");
        }
        s
    }

    /// Everything kept.
    pub fn tail(&self) -> String {
        self.since(0)
    }

    /// What came since the last call.
    fn fresh(&mut self) -> String {
        let s = self.since(self.polled);
        self.polled = self.total;
        s
    }
}

/// A command started by `exec`: its output, its result once it ended, and how to stop it.
pub struct Running {
    /// The output so far.
    pub output: Rc<RefCell<LiveOutput>>,
    /// The result, once the command ended.
    pub done: tokio::sync::watch::Receiver<Option<Value>>,
    /// The task driving it (aborting it kills the process group).
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Waits for the end at most `limit`; the result if it ended.
    pub async fn wait(&mut self, limit: Duration) -> Option<Value> {
        let mut done = self.done.clone();
        let ended = tokio::time::timeout(limit, done.wait_for(Option::is_some)).await;
        match ended {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }
}

/// Kills the command when a foreground wait is dropped (the run stopped).
pub struct AbortOnDrop(pub Option<Running>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.task.abort();
        }
    }
}

struct Entry {
    id: String,
    command: String,
    session_key: String,
    started_ms: u64,
    running: Running,
    killed: bool,
}

impl Entry {
    fn result(&self) -> Option<Value> {
        self.running.done.borrow().clone()
    }

    fn status(&self) -> &'static str {
        match (self.killed, self.result()) {
            (true, _) => "killed",
            (false, Some(r)) if r.get("ok") == Some(&json!(true)) => "completed",
            (false, Some(_)) => "failed",
            (false, None) => "running",
        }
    }

    fn view(&self) -> Value {
        let mut v = json!({
            "sessionId": self.id, "status": self.status(), "command": preview(&self.command),
            "sessionKey": self.session_key, "startedAt": self.started_ms,
            "runtimeMs": now_ms().saturating_sub(self.started_ms),
        });
        if let Some(r) = self.result() {
            v["exitCode"] = r.get("exitCode").cloned().unwrap_or(Value::Null);
            if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
                v["error"] = e.clone();
            }
        }
        v
    }
}

/// The first line of a command, at most 120 characters.
fn preview(command: &str) -> String {
    let line = command.lines().next().unwrap_or_default();
    let mut p: String = line.chars().take(120).collect();
    if p.len() < command.len() {
        p.push('…');
    }
    p
}

/// The background commands of the gateway host (one per registry, shared by its runs).
#[derive(Default)]
pub struct ProcessTable {
    entries: RefCell<Vec<Entry>>,
}

impl ProcessTable {
    /// Running entries.
    pub fn running(&self) -> usize {
        self.entries
            .borrow()
            .iter()
            .filter(|e| e.result().is_none() && !e.killed)
            .count()
    }

    /// Keeps `running` listed; its id. `Err(running)` when [`MAX_RUNNING`] already run.
    pub fn adopt(
        &self,
        command: &str,
        session_key: &str,
        running: Running,
    ) -> Result<String, Running> {
        if self.running() >= MAX_RUNNING {
            return Err(running);
        }
        let mut entries = self.entries.borrow_mut();
        while entries.len() >= MAX_ENTRIES {
            // The oldest finished one goes (there is one: fewer than MAX_RUNNING run).
            match entries
                .iter()
                .position(|e| e.result().is_some() || e.killed)
            {
                Some(i) => {
                    entries.remove(i);
                }
                None => break,
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        entries.push(Entry {
            id: id.clone(),
            command: command.to_owned(),
            session_key: session_key.to_owned(),
            started_ms: now_ms(),
            running,
            killed: false,
        });
        Ok(id)
    }
}

impl Drop for ProcessTable {
    fn drop(&mut self) {
        for e in self.entries.get_mut().iter() {
            e.running.task.abort();
        }
    }
}

/// The `process` tool's schema.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "process".into(),
        description: "Follow the background commands `exec` started on the gateway host (when it answered status \"running\" with a sessionId). \
             action list: every command; poll: its status and the output since the last poll (timeout: wait up to that many ms for it to end); \
             log: all output kept; kill: stop it; remove: forget a finished one."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["list", "poll", "log", "kill", "remove"]},
                "sessionId": {"type": "string"},
                "timeout": {"type": "number", "description": "poll: wait up to this many ms for the end (at most 30000)."}
            },
            "required": ["action"]
        }),
    }
}

fn fail(e: impl Into<String>) -> Value {
    json!({"ok": false, "error": e.into()})
}

/// Runs one `process` call.
pub async fn run(table: &ProcessTable, arguments: &str) -> Value {
    let Some(args) = serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
    else {
        return fail("tool arguments must be a JSON object");
    };
    let action = args.get("action").and_then(Value::as_str).unwrap_or("");
    if action == "list" {
        let list: Vec<Value> = table.entries.borrow().iter().map(Entry::view).collect();
        return json!({"ok": true, "processes": list});
    }
    if !matches!(action, "poll" | "log" | "kill" | "remove") {
        return fail(format!(
            "unknown action {action:?}; use list, poll, log, kill or remove"
        ));
    }
    let Some(id) = args
        .get("sessionId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return fail(format!("action {action} needs the sessionId exec returned"));
    };
    let find = |id: &str| table.entries.borrow().iter().position(|e| e.id == id);
    if find(&id).is_none() {
        return fail(format!(
            "no background command {id:?} (action list shows them)"
        ));
    }
    match action {
        "poll" => {
            let wait = args
                .get("timeout")
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite() && *t > 0.0)
                .map_or(Duration::ZERO, |t| {
                    Duration::from_millis(t as u64).min(MAX_POLL_WAIT)
                });
            if !wait.is_zero() {
                let done = table
                    .entries
                    .borrow()
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| e.running.done.clone());
                if let Some(mut done) = done {
                    let _ = tokio::time::timeout(wait, done.wait_for(Option::is_some)).await;
                }
            }
            let entries = table.entries.borrow();
            let Some(e) = entries.iter().find(|e| e.id == id) else {
                return fail(format!("no background command {id:?}"));
            };
            let mut v = e.view();
            v["ok"] = json!(true);
            v["output"] = json!(e.running.output.borrow_mut().fresh());
            v
        }
        "log" => {
            let entries = table.entries.borrow();
            let Some(e) = entries.iter().find(|e| e.id == id) else {
                return fail(format!("no background command {id:?}"));
            };
            let mut v = e.view();
            v["ok"] = json!(true);
            v["output"] = json!(e.running.output.borrow().tail());
            v
        }
        "kill" => {
            let mut entries = table.entries.borrow_mut();
            let Some(e) = entries.iter_mut().find(|e| e.id == id) else {
                return fail(format!("no background command {id:?}"));
            };
            if e.result().is_none() && !e.killed {
                e.running.task.abort();
                e.killed = true;
            }
            let mut v = e.view();
            v["ok"] = json!(true);
            v
        }
        _ => {
            let mut entries = table.entries.borrow_mut();
            let Some(i) = entries.iter().position(|e| e.id == id) else {
                return fail(format!("no background command {id:?}"));
            };
            if entries[i].result().is_none() && !entries[i].killed {
                return fail("it is still running: kill it first");
            }
            entries.remove(i);
            json!({"ok": true, "removed": id})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_its_tail_and_polls_see_only_new_bytes() {
        let mut o = LiveOutput::default();
        o.push(b"hello ");
        assert_eq!(o.fresh(), "hello ");
        o.push(b"world");
        assert_eq!(o.fresh(), "world");
        assert_eq!(o.fresh(), "");
        assert_eq!(o.tail(), "hello world");
        let big = vec![b'x'; TAIL_BYTES + 10];
        o.push(&big);
        assert_eq!(o.buf.len(), TAIL_BYTES);
        let f = o.fresh();
        assert!(f.starts_with("[earlier output dropped]\n"), "{}", &f[..40]);
        assert_eq!(f.len(), "[earlier output dropped]\n".len() + TAIL_BYTES);
        // Many small pieces stay bounded too.
        for _ in 0..10_000 {
            o.push(b"0123456789");
        }
        assert_eq!(o.buf.len(), TAIL_BYTES);
        assert_eq!(o.total, 11 + (TAIL_BYTES as u64 + 10) + 100_000);
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("ls -l"), "ls -l");
        assert_eq!(preview("a\nb"), "a…");
        assert_eq!(preview(&"é".repeat(200)).chars().count(), 121);
    }
}
