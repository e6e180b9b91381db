//! Cron jobs as stored in `cron/jobs.json` and shown on the wire (OpenClaw's `CronJobSchema`,
//! the subset this gateway runs), and the validation of `cron.add` / `cron.update` params.
//!
//! What runs: `at` (one shot), `every` and `cron` (5- or 6-field expression, IANA zone)
//! schedules; `systemEvent` payloads in the main session and `agentTurn` payloads in an
//! isolated (`agent:main:cron:<id>`) or named (`session:<key>`) session; delivery `none` or
//! `announce` to a channel target (`channel` + `to`, or the chat the user wrote from last).
//! OpenClaw's other features (command/script payloads, on-exit/stream schedules, webhook
//! delivery, triggers, pacing, failure alerts, per-job models) are refused by name, never
//! dropped silently.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::expr::{self, CronExpr};

/// Jobs kept at most; `cron.add` beyond this is refused.
pub const MAX_JOBS: usize = 500;
/// Longest job name, description or message (characters).
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest payload text (characters).
pub const MAX_TEXT_CHARS: usize = 16_000;
/// Shortest `every` interval this gateway runs.
pub const MIN_EVERY_MS: u64 = 1_000;
/// Latest instant accepted (OpenClaw's `MAX_DATE_TIMESTAMP_MS`).
const MAX_TS_MS: u64 = 8_640_000_000_000_000;

/// When a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Schedule {
    /// Once, at an instant (ISO 8601 as given).
    At {
        /// The instant as given.
        at: String,
    },
    /// Every `every_ms`, counted from `anchor_ms` (default: creation).
    #[serde(rename_all = "camelCase")]
    Every {
        /// Interval.
        every_ms: u64,
        /// Start of the count.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor_ms: Option<u64>,
    },
    /// A cron expression in a time zone.
    #[serde(rename_all = "camelCase")]
    Cron {
        /// The expression.
        expr: String,
        /// IANA zone (default: the host's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tz: Option<String>,
        /// Spread runs over this window (a fixed offset per job).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stagger_ms: Option<u64>,
    },
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Payload {
    /// A note for the main session's agent.
    SystemEvent {
        /// The text.
        text: String,
    },
    /// An agent turn with this message.
    #[serde(rename_all = "camelCase")]
    AgentTurn {
        /// The message.
        message: String,
        /// Give up after this long (default 600 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_seconds: Option<f64>,
        /// The run's model (`provider/model`, an alias or a bare id; default: the
        /// session's); one that is not configured when the job runs fails the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The run's thinking level (default: the session's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinking: Option<String>,
        /// `lightContext`: an isolated run gets none of the workspace's bootstrap files
        /// (`AGENTS.md`, `SOUL.md`, …) in its prompt, only its message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        light_context: Option<bool>,
    },
}

/// Where the answer goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// `none` or `announce`.
    pub mode: String,
    /// Channel id (`telegram`) or `last` (default: the chat the user wrote from last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Target on the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Value>,
    /// Channel account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// A failed delivery does not fail the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_effort: Option<bool>,
}

/// Scheduler-kept state (OpenClaw's `CronJobStateSchema` subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// Next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at_ms: Option<u64>,
    /// Set while a run is in progress (a restart finds it set: the run was interrupted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at_ms: Option<u64>,
    /// Last run's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at_ms: Option<u64>,
    /// `ok`, `error` or `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_status: Option<String>,
    /// OpenClaw's deprecated alias of `lastRunStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// Last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Last run's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<u64>,
    /// Failures in a row (drives the retry backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_errors: Option<u32>,
    /// Whether the last answer was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered: Option<bool>,
    /// `delivered`, `not-delivered`, `not-requested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_status: Option<String>,
    /// Why delivery failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_error: Option<String>,
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    /// Id (a UUID).
    pub id: String,
    /// Agent (always `main` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The session the job was created from (`current` targets resolve to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Remove after a successful run (default for `at` jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_run: Option<bool>,
    /// Created.
    pub created_at_ms: u64,
    /// Last changed.
    pub updated_at_ms: u64,
    /// When.
    pub schedule: Schedule,
    /// `main`, `isolated`, `current` or `session:<key>`.
    pub session_target: String,
    /// `now` or `next-heartbeat` (no heartbeat here: both run at the scheduled time).
    pub wake_mode: String,
    /// What.
    pub payload: Payload,
    /// Where the answer goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Scheduler state.
    #[serde(default)]
    pub state: JobState,
    /// Who created it from a chat (`<channel>:<senderId>`, through the agent's `cron`
    /// tool): its runs invoke node commands under that sender's tool policy, never an
    /// operator's. `None`: an operator created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Made from a shared chat (a group, a stranger's open DM): its runs see only what
    /// that chat may see, never the owner's private memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_chat: bool,
}

/// `cron/jobs.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobsFile {
    /// Format version (1).
    #[serde(default = "one")]
    pub version: u32,
    /// The jobs.
    #[serde(default)]
    pub jobs: Vec<CronJob>,
}

fn one() -> u32 {
    1
}

impl CronJob {
    /// The wire view (`cron.get`, list rows): the job plus the state's main fields at the
    /// top level, as OpenClaw's `cronJobReadView` writes them.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(o) = &mut v {
            let s = &self.state;
            let mut put = |k: &str, val: Option<Value>| {
                if let Some(val) = val {
                    o.insert(k.to_owned(), val);
                }
            };
            put("nextRunAtMs", s.next_run_at_ms.map(Value::from));
            put("lastRunAtMs", s.last_run_at_ms.map(Value::from));
            put("lastRunStatus", s.last_run_status.clone().map(Value::from));
            put("lastRunError", s.last_error.clone().map(Value::from));
            put("lastDelivered", s.last_delivered.map(Value::from));
            put(
                "lastDeliveryStatus",
                s.last_delivery_status.clone().map(Value::from),
            );
            put(
                "lastDeliveryError",
                s.last_delivery_error.clone().map(Value::from),
            );
        }
        v
    }

    /// The session its runs go to.
    pub fn run_session_key(&self) -> String {
        let agent = self.effective_agent();
        match self.session_target.as_str() {
            "main" => format!("agent:{agent}:main"),
            "current" => self.session_key.as_deref().map_or_else(
                || format!("agent:{agent}:main"),
                |k| crate::session_scope::canonical_key(k).into_owned(),
            ),
            t => match t.strip_prefix("session:") {
                Some(k) => crate::channel::normalize_session_key(k),
                None => format!("agent:{agent}:cron:{}", self.id),
            },
        }
    }

    /// The agent its runs belong to: its `agentId`, else that of the session it was made
    /// in, else the default agent.
    pub fn effective_agent(&self) -> String {
        self.agent_id
            .clone()
            .filter(|a| crate::agents::valid_id(a))
            .or_else(|| {
                self.session_key
                    .as_deref()
                    .and_then(crate::agents::key_agent)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| crate::agents::default_id_now().to_string())
    }

    /// Where its answers go, as OpenClaw's `deliveryPreview` (`{label, detail}`) shows it
    /// in `openclaw cron list`.
    pub fn delivery_preview(&self) -> Value {
        let (label, detail) = match &self.delivery {
            Some(d) if d.mode == "none" => ("none".to_owned(), "kept in the session"),
            Some(d) if d.channel.as_deref().is_some_and(|c| c != "last") && d.to.is_some() => (
                format!(
                    "{} → {}",
                    d.channel.as_deref().unwrap_or_default(),
                    d.to.as_deref().unwrap_or_default()
                ),
                "announce",
            ),
            _ if !self.announces() => ("none".to_owned(), "kept in the session"),
            _ if matches!(self.session_target.as_str(), "main" | "isolated") => {
                ("last chat".to_owned(), "the chat written from last")
            }
            _ => (
                "its chat".to_owned(),
                "the session's own chat, else the chat written from last",
            ),
        };
        serde_json::json!({"label": label, "detail": detail})
    }

    /// Whether it is a one-shot job.
    pub fn is_one_shot(&self) -> bool {
        matches!(self.schedule, Schedule::At { .. })
    }

    /// Whether delivery to a chat was asked for.
    pub fn announces(&self) -> bool {
        match &self.delivery {
            Some(d) => d.mode == "announce",
            // Main-session jobs tell the user where they wrote last (OpenClaw's heartbeat
            // target `last`).
            None => self.session_target == "main",
        }
    }
}

/// The next run of `schedule` strictly after `after_ms` (`None`: never again).
pub fn next_run(schedule: &Schedule, job_id: &str, created_ms: u64, after_ms: u64) -> Option<u64> {
    match schedule {
        Schedule::At { at } => {
            let t = u64::try_from(expr::parse_at(at).ok()?).ok()?;
            (t > after_ms).then_some(t)
        }
        Schedule::Every {
            every_ms,
            anchor_ms,
        } => {
            let every = (*every_ms).max(1);
            let anchor = anchor_ms.unwrap_or(created_ms);
            if anchor > after_ms {
                return Some(anchor);
            }
            let n = (after_ms - anchor) / every + 1;
            anchor.checked_add(n.checked_mul(every)?)
        }
        Schedule::Cron {
            expr: e,
            tz,
            stagger_ms,
        } => {
            let parsed = CronExpr::parse(e).ok()?;
            let zone = expr::resolve_tz(tz.as_deref()).ok()?;
            let stagger = stagger_offset(job_id, stagger_ms.unwrap_or(0));
            // The slot whose staggered time is after `after_ms`.
            let base = i64::try_from(after_ms.saturating_sub(stagger)).ok()?;
            let t = parsed.next_after(&zone, base)?;
            u64::try_from(t).ok()?.checked_add(stagger)
        }
    }
}

/// A fixed offset in `[0, window)` per job (FNV-1a of the id), so staggered jobs spread.
fn stagger_offset(job_id: &str, window: u64) -> u64 {
    if window == 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % window
}

// === params ===

/// OpenClaw fields this gateway does not run, with what to say.
const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    ("declarationKey", "declarative jobs"),
    ("displayName", "display names"),
    ("owner", "job owners"),
    ("pacing", "dynamic pacing"),
    ("trigger", "trigger scripts"),
    ("failureAlert", "failure alerts"),
    ("scheduledToolPolicy", "scheduled tool policies"),
];

const UNSUPPORTED_PAYLOAD_FIELDS: &[&str] = &[
    "fallbacks",
    "toolsAllow",
    "toolsAllowIsDefault",
    "allowUnsafeExternalContent",
];

/// An invalid-params message: `invalid <method> params: <why>`.
fn bad(method: &str, why: impl std::fmt::Display) -> String {
    format!("invalid {method} params: {why}")
}

fn obj<'a>(method: &str, v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| bad(method, format!("{at} must be an object")))
}

fn string_field(
    method: &str,
    o: &Map<String, Value>,
    key: &str,
    at: &str,
    max_chars: usize,
) -> Result<Option<String>, String> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Err(bad(method, format!("{at}{key} must not be empty")));
            }
            if t.chars().count() > max_chars {
                return Err(bad(
                    method,
                    format!("{at}{key} is longer than {max_chars} characters"),
                ));
            }
            Ok(Some(t.to_owned()))
        }
        Some(_) => Err(bad(method, format!("{at}{key} must be a string"))),
    }
}

fn refuse_unsupported(method: &str, o: &Map<String, Value>) -> Result<(), String> {
    for (k, what) in UNSUPPORTED_FIELDS {
        if o.get(*k).is_some_and(|v| !v.is_null()) {
            return Err(bad(
                method,
                format!("{k}: {what} are not supported by this gateway"),
            ));
        }
    }
    Ok(())
}

fn check_keys(
    method: &str,
    o: &Map<String, Value>,
    at: &str,
    known: &[&str],
) -> Result<(), String> {
    for k in o.keys() {
        if !known.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).collect();
            return Err(bad(method, format!("{at}unexpected property '{shown}'")));
        }
    }
    Ok(())
}

/// Parses and checks a schedule (also that it can ever run).
pub fn parse_schedule(method: &str, v: &Value, now_ms: u64) -> Result<Schedule, String> {
    let o = obj(method, v, "schedule")?;
    match o.get("kind").and_then(Value::as_str) {
        Some("on-exit" | "stream") => {
            return Err(bad(
                method,
                "schedule.kind on-exit and stream (command-driven schedules) are not supported by this gateway",
            ));
        }
        Some("at" | "every" | "cron") => {}
        _ => {
            return Err(bad(
                method,
                "schedule.kind must be \"at\", \"every\" or \"cron\"",
            ));
        }
    }
    let s: Schedule =
        serde_json::from_value(v.clone()).map_err(|e| bad(method, format!("schedule: {e}")))?;
    match &s {
        Schedule::At { at } => {
            let t = expr::parse_at(at).map_err(|e| bad(method, format!("schedule.at: {e}")))?;
            if t < 0 || t as u64 > MAX_TS_MS {
                return Err(bad(method, "schedule.at is out of range"));
            }
        }
        Schedule::Every {
            every_ms,
            anchor_ms,
        } => {
            if *every_ms < MIN_EVERY_MS || *every_ms > MAX_TS_MS {
                return Err(bad(
                    method,
                    format!("schedule.everyMs must be between {MIN_EVERY_MS} and {MAX_TS_MS}"),
                ));
            }
            if anchor_ms.is_some_and(|a| a > MAX_TS_MS) {
                return Err(bad(method, "schedule.anchorMs is out of range"));
            }
        }
        Schedule::Cron {
            expr: e,
            tz,
            stagger_ms,
        } => {
            let parsed =
                CronExpr::parse(e).map_err(|m| bad(method, format!("schedule.expr: {m}")))?;
            let zone = expr::resolve_tz(tz.as_deref())
                .map_err(|m| bad(method, format!("schedule.tz: {m}")))?;
            if stagger_ms.is_some_and(|s| s > 24 * 3_600_000) {
                return Err(bad(method, "schedule.staggerMs must be at most one day"));
            }
            let after = i64::try_from(now_ms).unwrap_or(i64::MAX);
            if parsed.next_after(&zone, after).is_none() {
                return Err(bad(
                    method,
                    format!("schedule.expr \"{e}\" never matches in the next five years"),
                ));
            }
        }
    }
    Ok(s)
}

fn parse_payload(method: &str, v: &Value) -> Result<Payload, String> {
    let o = obj(method, v, "payload")?;
    for k in UNSUPPORTED_PAYLOAD_FIELDS {
        if o.get(*k).is_some_and(|v| !v.is_null()) {
            return Err(bad(
                method,
                format!(
                    "payload.{k} is not supported by this gateway (jobs run with the configured models and the tool policy)"
                ),
            ));
        }
    }
    match o.get("kind").and_then(Value::as_str) {
        Some("systemEvent") => {
            check_keys(method, o, "payload.", &["kind", "text"])?;
            let text = string_field(method, o, "text", "payload.", MAX_TEXT_CHARS)?
                .ok_or_else(|| bad(method, "payload.text is required"))?;
            Ok(Payload::SystemEvent { text })
        }
        Some("agentTurn") => {
            check_keys(
                method,
                o,
                "payload.",
                &[
                    "kind",
                    "message",
                    "timeoutSeconds",
                    "model",
                    "thinking",
                    "lightContext",
                ],
            )?;
            let message = string_field(method, o, "message", "payload.", MAX_TEXT_CHARS)?
                .ok_or_else(|| bad(method, "payload.message is required"))?;
            let timeout_seconds = match o.get("timeoutSeconds") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_f64() {
                    Some(t) if (0.0..=86_400.0).contains(&t) => Some(t),
                    _ => {
                        return Err(bad(
                            method,
                            "payload.timeoutSeconds must be a number from 0 to 86400",
                        ));
                    }
                },
            };
            let model = string_field(method, o, "model", "payload.", 200)?
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty());
            let thinking = match string_field(method, o, "thinking", "payload.", 40)? {
                None => None,
                Some(t) => match crate::ports::Thinking::parse(t.trim()) {
                    Some(level) => Some(level.as_str().to_owned()),
                    None => {
                        return Err(bad(
                            method,
                            format!(
                                "payload.thinking {:?} is not a thinking level; use one of: {}",
                                t.chars().take(40).collect::<String>(),
                                crate::ports::Thinking::names()
                            ),
                        ));
                    }
                },
            };
            let light_context = match o.get("lightContext") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(bad(method, "payload.lightContext must be a boolean")),
            };
            Ok(Payload::AgentTurn {
                message,
                timeout_seconds,
                model,
                thinking,
                light_context,
            })
        }
        Some("command" | "script") => Err(bad(
            method,
            "payload.kind command and script (host commands from cron) are not supported by this gateway; use agentTurn",
        )),
        _ => Err(bad(
            method,
            "payload.kind must be \"systemEvent\" or \"agentTurn\"",
        )),
    }
}

fn parse_delivery(method: &str, v: &Value) -> Result<Delivery, String> {
    let o = obj(method, v, "delivery")?;
    if o.get("completionDestination").is_some_and(|v| !v.is_null())
        || o.get("failureDestination").is_some_and(|v| !v.is_null())
    {
        return Err(bad(
            method,
            "delivery completion/failure destinations are not supported by this gateway",
        ));
    }
    check_keys(
        method,
        o,
        "delivery.",
        &[
            "mode",
            "channel",
            "to",
            "threadId",
            "accountId",
            "bestEffort",
        ],
    )?;
    let mode = match o.get("mode").and_then(Value::as_str) {
        Some(m @ ("none" | "announce")) => m.to_owned(),
        Some("webhook") => {
            return Err(bad(
                method,
                "delivery.mode webhook is not supported by this gateway; use announce to a chat",
            ));
        }
        _ => {
            return Err(bad(
                method,
                "delivery.mode must be \"none\" or \"announce\"",
            ));
        }
    };
    let thread_id = match o.get("threadId") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Number(_)) => Some(v.clone()),
        Some(Value::String(s)) if s.len() <= 64 => Some(Value::String(s.clone())),
        Some(_) => {
            return Err(bad(
                method,
                "delivery.threadId must be a number or a short string",
            ));
        }
    };
    let best_effort = match o.get("bestEffort") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad(method, "delivery.bestEffort must be a boolean")),
    };
    Ok(Delivery {
        mode,
        channel: string_field(method, o, "channel", "delivery.", 64)?,
        to: string_field(method, o, "to", "delivery.", 256)?,
        thread_id,
        account_id: string_field(method, o, "accountId", "delivery.", 64)?,
        best_effort,
    })
}

fn parse_target(method: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let ok = matches!(s.as_str(), "main" | "isolated" | "current")
                || s.strip_prefix("session:")
                    .is_some_and(|k| !k.trim().is_empty() && k.len() <= 256);
            if ok {
                Ok(Some(s.clone()))
            } else {
                Err(bad(
                    method,
                    "sessionTarget must be main, isolated, current or session:<key>",
                ))
            }
        }
        Some(_) => Err(bad(method, "sessionTarget must be a string")),
    }
}

fn parse_wake(method: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "now" || s == "next-heartbeat" => Ok(Some(s.clone())),
        Some(_) => Err(bad(
            method,
            "wakeMode must be \"now\" or \"next-heartbeat\"",
        )),
    }
}

fn opt_bool(method: &str, o: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(method, format!("{key} must be a boolean"))),
    }
}

fn check_agent(method: &str, o: &Map<String, Value>) -> Result<(), String> {
    match o.get("agentId") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if crate::agents::known_now(&s.trim().to_ascii_lowercase()) => {
            Ok(())
        }
        Some(Value::String(s)) => {
            let shown: String = s.chars().take(64).collect();
            Err(bad(method, format!("unknown agent \"{shown}\"")))
        }
        Some(_) => Err(bad(method, "agentId must be a string")),
    }
}

/// Checks the combination OpenClaw's service checks: main jobs carry a system event,
/// the others an agent turn; delivery only for agent turns.
fn check_shape(method: &str, job: &CronJob) -> Result<(), String> {
    let main = job.session_target == "main";
    match (&job.payload, main) {
        (Payload::SystemEvent { .. }, false) => {
            return Err(bad(
                method,
                "isolated, current and session: jobs need an agentTurn payload",
            ));
        }
        (Payload::AgentTurn { .. }, true) => {
            return Err(bad(method, "main jobs need a systemEvent payload"));
        }
        _ => {}
    }
    if main && job.delivery.as_ref().is_some_and(|d| d.mode != "none") {
        // OpenClaw refuses chat delivery settings on main jobs; `none` is harmless.
        return Err(bad(
            method,
            "delivery is for agentTurn jobs; a main job answers where the user wrote last",
        ));
    }
    if job.session_target == "current" && job.session_key.is_none() {
        return Err(bad(
            method,
            "sessionTarget current needs the sessionKey of the session to bind to",
        ));
    }
    Ok(())
}

/// The keys `cron.add` takes, and `cron.update`'s patch (which also names `state`, last).
const JOB_KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "deleteAfterRun",
    "agentId",
    "sessionKey",
    "schedule",
    "sessionTarget",
    "wakeMode",
    "payload",
    "delivery",
    "state",
];

/// Builds a new job from `cron.add` params.
pub fn parse_add(params: &Value, id: String, now_ms: u64) -> Result<CronJob, String> {
    const M: &str = "cron.add";
    let o = obj(M, params, "params")?;
    refuse_unsupported(M, o)?;
    // The job's keys: all but the last (`state`, a patch's only).
    check_keys(M, o, "", &JOB_KEYS[..JOB_KEYS.len() - 1])?;
    check_agent(M, o)?;
    let name = string_field(M, o, "name", "", MAX_NAME_CHARS)?
        .ok_or_else(|| bad(M, "must have required property 'name'"))?;
    let schedule = parse_schedule(
        M,
        o.get("schedule")
            .ok_or_else(|| bad(M, "must have required property 'schedule'"))?,
        now_ms,
    )?;
    let payload = parse_payload(
        M,
        o.get("payload")
            .ok_or_else(|| bad(M, "must have required property 'payload'"))?,
    )?;
    let session_target = parse_target(M, o.get("sessionTarget"))?.unwrap_or_else(|| {
        match payload {
            Payload::SystemEvent { .. } => "main",
            Payload::AgentTurn { .. } => "isolated",
        }
        .to_owned()
    });
    let delivery = match o.get("delivery") {
        None | Some(Value::Null) => match payload {
            // OpenClaw: isolated jobs announce by default.
            Payload::AgentTurn { .. } => Some(Delivery {
                mode: "announce".to_owned(),
                ..Delivery::default()
            }),
            Payload::SystemEvent { .. } => None,
        },
        Some(v) => Some(parse_delivery(M, v)?),
    };
    let session_key = string_field(M, o, "sessionKey", "", 256)?
        .map(|k| crate::channel::normalize_session_key(&k));
    let job = CronJob {
        id,
        agent_id: o
            .get("agentId")
            .and_then(Value::as_str)
            .map(|a| a.trim().to_ascii_lowercase()),
        session_key,
        name,
        description: string_field(M, o, "description", "", MAX_DESCRIPTION_CHARS)?,
        enabled: opt_bool(M, o, "enabled")?.unwrap_or(true),
        delete_after_run: opt_bool(M, o, "deleteAfterRun")?.or(matches!(
            schedule,
            Schedule::At { .. }
        )
        .then_some(true)),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        schedule,
        session_target,
        wake_mode: parse_wake(M, o.get("wakeMode"))?.unwrap_or_else(|| "now".to_owned()),
        payload,
        delivery,
        state: JobState::default(),
        created_by: None,
        shared_chat: false,
    };
    check_shape(M, &job)?;
    Ok(job)
}

/// Applies a `cron.update` patch to a copy of `job`; the caller keeps the old one on error.
pub fn apply_patch(job: &CronJob, patch: &Value, now_ms: u64) -> Result<CronJob, String> {
    const M: &str = "cron.update";
    let o = obj(M, patch, "patch")?;
    refuse_unsupported(M, o)?;
    check_keys(M, o, "patch.", JOB_KEYS)?;
    if o.get("state").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            M,
            "patch.state: the scheduler's state is not writable on this gateway",
        ));
    }
    check_agent(M, o)?;
    let mut next = job.clone();
    if let Some(n) = string_field(M, o, "name", "patch.", MAX_NAME_CHARS)? {
        next.name = n;
    }
    match o.get("description") {
        Some(Value::Null) => next.description = None,
        Some(_) => {
            next.description = string_field(M, o, "description", "patch.", MAX_DESCRIPTION_CHARS)?
        }
        None => {}
    }
    if let Some(b) = opt_bool(M, o, "enabled")? {
        next.enabled = b;
    }
    if let Some(b) = opt_bool(M, o, "deleteAfterRun")? {
        next.delete_after_run = Some(b);
    }
    if let Some(k) = string_field(M, o, "sessionKey", "patch.", 256)? {
        next.session_key = Some(crate::channel::normalize_session_key(&k));
    }
    let schedule_changed = if let Some(s) = o.get("schedule") {
        next.schedule = parse_schedule(M, s, now_ms)?;
        true
    } else {
        false
    };
    if let Some(t) = parse_target(M, o.get("sessionTarget"))? {
        next.session_target = t;
    }
    if let Some(w) = parse_wake(M, o.get("wakeMode"))? {
        next.wake_mode = w;
    }
    if let Some(p) = o.get("payload") {
        let po = obj(M, p, "patch.payload")?;
        // A patch of the same kind may leave the text out: keep the current one.
        let mut merged = serde_json::to_value(&next.payload).unwrap_or(Value::Null);
        let same_kind = merged.get("kind") == po.get("kind");
        if !same_kind {
            merged = Value::Object(Map::new());
        }
        if let Value::Object(m) = &mut merged {
            for (k, v) in po {
                if v.is_null() {
                    m.remove(k);
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        next.payload = parse_payload(M, &merged)?;
    }
    match o.get("delivery") {
        None => {}
        Some(Value::Null) => next.delivery = None,
        Some(d) => {
            let dobj = obj(M, d, "patch.delivery")?;
            let mut merged = serde_json::to_value(next.delivery.clone().unwrap_or_default())
                .unwrap_or(Value::Null);
            if let Value::Object(m) = &mut merged {
                for (k, v) in dobj {
                    if v.is_null() {
                        m.remove(k);
                    } else {
                        m.insert(k.clone(), v.clone());
                    }
                }
                if !m.contains_key("mode") || m.get("mode").is_some_and(|v| v.as_str() == Some(""))
                {
                    m.insert("mode".to_owned(), Value::from("announce"));
                }
            }
            next.delivery = Some(parse_delivery(M, &merged)?);
        }
    }
    check_shape(M, &next)?;
    next.updated_at_ms = now_ms;
    if schedule_changed {
        next.state.consecutive_errors = None;
        if next.is_one_shot() && next.delete_after_run.is_none() {
            next.delete_after_run = Some(true);
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_780_000_000_000;

    fn add(v: Value) -> Result<CronJob, String> {
        parse_add(&v, "job-1".into(), NOW)
    }

    #[test]
    fn adds_what_the_openclaw_cli_sends() {
        // `openclaw cron add --name Reminder --at 20m --session main --system-event … --wake now`
        let j = add(json!({"name":"Reminder","enabled":true,"schedule":{"kind":"at","at":"2026-06-01T09:00:00.000Z"},
            "sessionTarget":"main","wakeMode":"now","payload":{"kind":"systemEvent","text":"Stand up"}}))
        .expect("add");
        assert_eq!(j.run_session_key(), "agent:main:main");
        assert_eq!(j.delete_after_run, Some(true));
        assert!(j.announces());
        // `openclaw cron add --name Brief --every 1h --message … --no-deliver`
        let j = add(json!({"name":"Brief","enabled":true,"schedule":{"kind":"every","everyMs":3_600_000},
            "sessionTarget":"isolated","wakeMode":"now","payload":{"kind":"agentTurn","message":"Summarize"},
            "delivery":{"mode":"none"}}))
        .expect("add");
        assert_eq!(j.run_session_key(), "agent:main:cron:job-1");
        assert!(!j.announces());
        assert_eq!(j.delete_after_run, None);
        // A cron expression in a zone, delivered to a Telegram chat.
        let j = add(json!({"name":"Morning","schedule":{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"},
            "payload":{"kind":"agentTurn","message":"Good morning"},"delivery":{"mode":"announce","channel":"telegram","to":"123"}}))
        .expect("add");
        assert_eq!(j.session_target, "isolated");
        assert!(j.announces());
        let n = next_run(&j.schedule, &j.id, NOW, NOW).expect("next");
        assert!(n > NOW && n - NOW <= 86_400_000);
    }

    #[test]
    fn refuses_what_it_does_not_run_by_name() {
        let cases = [
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"command","argv":["ls"]}}),
                "command",
            ),
            (
                json!({"name":"x","schedule":{"kind":"on-exit","command":"ls"},"payload":{"kind":"agentTurn","message":"m"}}),
                "on-exit",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"},"delivery":{"mode":"webhook","to":"http://x"}}),
                "webhook",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m","fallbacks":["gpt"]}}),
                "payload.fallbacks",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"},"trigger":{"script":"x"}}),
                "trigger",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":10},"payload":{"kind":"agentTurn","message":"m"}}),
                "everyMs",
            ),
            (
                json!({"name":"x","schedule":{"kind":"cron","expr":"61 * * * *"},"payload":{"kind":"agentTurn","message":"m"}}),
                "minute",
            ),
            (
                json!({"name":"x","schedule":{"kind":"cron","expr":"0 0 30 2 *"},"payload":{"kind":"agentTurn","message":"m"}}),
                "never matches",
            ),
            (
                json!({"name":"x","schedule":{"kind":"cron","expr":"* * * * *","tz":"Mars/Olympus"},"payload":{"kind":"agentTurn","message":"m"}}),
                "schedule.tz",
            ),
            (
                json!({"name":"x","schedule":{"kind":"at","at":"tomorrow-ish"},"payload":{"kind":"systemEvent","text":"m"}}),
                "schedule.at",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"sessionTarget":"main","payload":{"kind":"agentTurn","message":"m"}}),
                "main jobs",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"sessionTarget":"isolated","payload":{"kind":"systemEvent","text":"m"}}),
                "agentTurn payload",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"sessionTarget":"current","payload":{"kind":"agentTurn","message":"m"}}),
                "sessionKey",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"},"agentId":"ops"}),
                "unknown agent",
            ),
            (
                json!({"name":"  ","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"}}),
                "name must not be empty",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"},"bogus\u{202e}":1}),
                "unexpected property",
            ),
            (
                json!({"schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"}}),
                "'name'",
            ),
            (
                json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m".repeat(MAX_TEXT_CHARS + 1)}}),
                "longer than",
            ),
        ];
        for (params, needle) in cases {
            let e = add(params.clone()).expect_err(&params.to_string());
            assert!(e.contains(needle), "{e} lacks {needle}");
            assert!(e.starts_with("invalid cron.add params: "), "{e}");
        }
    }

    #[test]
    fn every_counts_from_the_anchor_and_at_runs_once() {
        let s = Schedule::Every {
            every_ms: 60_000,
            anchor_ms: Some(NOW),
        };
        assert_eq!(next_run(&s, "j", NOW, NOW), Some(NOW + 60_000));
        assert_eq!(next_run(&s, "j", NOW, NOW + 59_999), Some(NOW + 60_000));
        assert_eq!(next_run(&s, "j", NOW, NOW + 60_000), Some(NOW + 120_000));
        assert_eq!(next_run(&s, "j", NOW, NOW - 5), Some(NOW));
        let at = Schedule::At {
            at: "2026-06-01T09:00:00Z".into(),
        };
        let t = next_run(&at, "j", 0, 0).expect("at");
        assert_eq!(next_run(&at, "j", 0, t), None);
        assert_eq!(next_run(&at, "j", 0, t - 1), Some(t));
    }

    #[test]
    fn stagger_is_fixed_per_job_and_inside_the_window() {
        let a = stagger_offset("job-a", 60_000);
        assert_eq!(a, stagger_offset("job-a", 60_000));
        assert!(a < 60_000);
        assert_eq!(stagger_offset("job-a", 0), 0);
        let s = Schedule::Cron {
            expr: "0 * * * *".into(),
            tz: Some("UTC".into()),
            stagger_ms: Some(60_000),
        };
        let n = next_run(&s, "job-a", NOW, NOW).expect("next");
        assert_eq!((n - a) % 3_600_000, 0);
    }

    #[test]
    fn patches_merge_and_keep_the_old_job_on_error() {
        let j = add(json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"}}))
            .expect("add");
        let p = apply_patch(
            &j,
            &json!({"name":"y","enabled":false,"payload":{"kind":"agentTurn","timeoutSeconds":30},
            "delivery":{"channel":"telegram","to":"42"}}),
            NOW + 1,
        )
        .expect("patch");
        assert_eq!(p.name, "y");
        assert!(!p.enabled);
        assert_eq!(
            p.payload,
            Payload::AgentTurn {
                message: "m".into(),
                timeout_seconds: Some(30.0),
                model: None,
                thinking: None,
                light_context: None,
            }
        );
        let d = p.delivery.clone().expect("delivery");
        assert_eq!((d.mode.as_str(), d.to.as_deref()), ("announce", Some("42")));
        assert_eq!(p.updated_at_ms, NOW + 1);
        for (patch, needle) in [
            (json!({"state":{"nextRunAtMs":1}}), "state"),
            (json!({"schedule":{"kind":"every","everyMs":5}}), "everyMs"),
            (json!({"sessionTarget":"main"}), "main jobs"),
            (
                json!({"payload":{"kind":"agentTurn","message":""}}),
                "must not be empty",
            ),
            (json!({"nope":1}), "unexpected property"),
            (json!([]), "must be an object"),
        ] {
            let e = apply_patch(&j, &patch, NOW).expect_err(&patch.to_string());
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn the_view_lifts_the_state_and_the_file_round_trips() {
        let mut j = add(json!({"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"}}))
            .expect("add");
        j.state.next_run_at_ms = Some(NOW + 60_000);
        j.state.last_run_status = Some("ok".into());
        let v = j.view();
        assert_eq!(v["nextRunAtMs"], NOW + 60_000);
        assert_eq!(v["state"]["nextRunAtMs"], NOW + 60_000);
        assert_eq!(v["lastRunStatus"], "ok");
        assert_eq!(v["schedule"], json!({"kind":"every","everyMs":60000}));
        let file = JobsFile {
            version: 1,
            jobs: vec![j.clone()],
        };
        let back: JobsFile =
            serde_json::from_slice(&serde_json::to_vec(&file).expect("ser")).expect("de");
        assert_eq!(back.jobs, vec![j]);
    }
}
