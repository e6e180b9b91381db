//! What each session cost, for `sessions.usage`, `sessions.usage.timeseries` and
//! `sessions.usage.logs` (OpenClaw's `server-methods/usage.ts` over its
//! `session-cost-usage*.ts`): per session the tokens and dollars of its model calls, its
//! messages, models and reply latency, per day; and the same summed over the sessions
//! (`aggregates`), from the lines the transcripts hold.
//!
//! Bounded like `usage.cost` ([`crate::usage`]): at most [`MAX_FILES`] transcripts and
//! [`MAX_BYTES`] read for one answer, lines longer than [`MAX_LINE`] skipped, latencies kept
//! per session up to [`MAX_LATENCIES`]; what a bound left out makes `cacheStatus.status`
//! `"partial"`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::usage::{MAX_BYTES, MAX_FILES, Range, Totals, file_facts, for_each_line};

/// Latencies kept per session for its p95 (the count, sum, minimum and maximum go on).
pub const MAX_LATENCIES: usize = 10_000;
/// A reply later than this after its message is not a latency (OpenClaw's 12 h).
const MAX_LATENCY_MS: i64 = 12 * 3_600_000;
/// OpenClaw's creator key of a session whose creator is not recorded (all of ours).
pub const UNKNOWN_CREATOR: &str = "[\"unknown\"]";
/// Most points `sessions.usage.timeseries` answers (OpenClaw's 200).
const MAX_POINTS: usize = 200;
/// The longest log text (OpenClaw's 2 000 characters, then `…`).
const MAX_LOG_CHARS: usize = 2_000;

/// A session to report.
#[derive(Debug, Clone)]
pub struct Target {
    /// Session key (`agent:<id>:<sessionId>` for a transcript no index entry names).
    pub key: String,
    /// Its agent.
    pub agent_id: String,
    /// Its transcript's id.
    pub session_id: String,
    /// Its transcript's file name when not `<sessionId>.jsonl` (an archive a reset or a
    /// delete left: `<id>.jsonl.reset.<ms>`, `<id>.jsonl.deleted.<ms>`).
    pub file: Option<String>,
    /// The entry's `updatedAt` (`None`: the transcript's modification time).
    pub updated_at: Option<u64>,
    /// Its channel (`byChannel`).
    pub channel: Option<String>,
    /// The row's other fields (`label`, `chatType`, `origin`, model overrides).
    pub fields: Map<String, Value>,
}

/// The transcript of `t`: `agents/<agent>/sessions/<file>` under `state_dir`.
pub fn target_path(state_dir: &Path, t: &Target) -> Option<PathBuf> {
    match &t.file {
        Some(f) => transcript_path(state_dir, &t.agent_id, &t.session_id)
            .filter(|_| plain(f))
            .and_then(|p| Some(p.parent()?.join(f))),
        None => transcript_path(state_dir, &t.agent_id, &t.session_id),
    }
}

/// A file name of its own: no separator, not `.`/`..`, not empty, at most 255 bytes.
fn plain(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0']) && s.len() <= 255
}

/// `agents/<agent>/sessions/<id>.jsonl` under `state_dir`, when both are plain names.
pub fn transcript_path(state_dir: &Path, agent: &str, session_id: &str) -> Option<PathBuf> {
    (plain(agent) && plain(session_id)).then(|| {
        state_dir
            .join("agents")
            .join(agent)
            .join("sessions")
            .join(format!("{session_id}.jsonl"))
    })
}

/// The transcripts of `agents` that no index entry names (`known`: `(agent, sessionId)`),
/// as targets keyed `agent:<agent>:<sessionId>`: an earlier session of a key (a reset
/// leaves its transcript), one whose entry is gone, and the archives a reset or a delete
/// made (their model calls were paid for all the same; as OpenClaw, one file per session
/// id, the transcript before an archive, the newest archive before an older one).
pub fn unindexed(
    state_dir: &Path,
    agents: &[String],
    known: &HashSet<(String, String)>,
) -> Vec<Target> {
    let mut out = Vec::new();
    for agent in agents {
        let dir = state_dir.join("agents").join(agent).join("sessions");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        // Session id → (file name, an archive, its stamp).
        let mut found: BTreeMap<String, (String, bool, u64)> = BTreeMap::new();
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let archived = crate::registry::maintenance::is_archive(&name);
            let Some((id, _)) = name
                .split_once(".jsonl")
                .filter(|(_, rest)| rest.is_empty() || archived)
            else {
                continue;
            };
            if known.contains(&(agent.clone(), id.to_owned())) {
                continue;
            }
            let stamp = crate::registry::maintenance::archived_at(&name).unwrap_or(0);
            let better = found.get(id).is_none_or(|(_, was_archive, was_stamp)| {
                (*was_archive && !archived) || (*was_archive == archived && stamp > *was_stamp)
            });
            if better && (found.len() < MAX_FILES || found.contains_key(id)) {
                found.insert(id.to_owned(), (name.clone(), archived, stamp));
            }
        }
        for (id, (name, archived, _)) in found {
            if out.len() >= MAX_FILES {
                break;
            }
            out.push(Target {
                key: format!("agent:{agent}:{id}"),
                agent_id: agent.clone(),
                file: archived.then_some(name),
                session_id: id,
                updated_at: None,
                channel: None,
                fields: Map::new(),
            });
        }
    }
    out
}

/// What `sessions.usage` is asked.
#[derive(Debug, Clone)]
pub struct Query {
    /// The days counted.
    pub range: Range,
    /// Rows returned (the aggregates cover every matching session).
    pub limit: usize,
    /// One session asked for by key: reported even when its transcript is older than the
    /// range.
    pub specific: bool,
    /// `creatorKey`: only sessions of that creator (ours are all [`UNKNOWN_CREATOR`]).
    pub creator: Option<String>,
}

/// OpenClaw's `sessions.usage` answer for `targets` (blocking: reads the transcripts).
pub fn report(state_dir: &Path, targets: Vec<Target>, q: &Query, now_ms: i64) -> Value {
    let mut rows: Vec<(i64, Target, PathBuf, u64)> = Vec::new();
    for t in targets {
        let Some(path) = target_path(state_dir, &t) else {
            continue;
        };
        let Some((len, modified)) = file_facts(&path) else {
            continue;
        };
        // A transcript last written before the range has nothing in it.
        if !q.specific && modified < q.range.start_ms {
            continue;
        }
        let updated = t
            .updated_at
            .and_then(|u| i64::try_from(u).ok())
            .unwrap_or(modified);
        rows.push((updated, t, path, len));
    }
    if q.creator.as_deref().is_some_and(|c| c != UNKNOWN_CREATOR) {
        rows.clear();
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let (mut files, mut bytes, mut skipped) = (0usize, 0u64, 0usize);
    let mut agg = Aggregate::default();
    let mut sessions = Vec::new();
    for (updated, mut t, path, len) in rows {
        let usage = if files >= MAX_FILES || bytes.saturating_add(len) > MAX_BYTES {
            skipped += 1;
            None
        } else {
            files += 1;
            bytes = bytes.saturating_add(len);
            scan(&path, &q.range)
        };
        if let Some(u) = &usage {
            agg.add(u, &t);
        }
        if sessions.len() < q.limit {
            let mut row = Map::new();
            row.insert("key".into(), json!(t.key));
            row.insert("sessionId".into(), json!(t.session_id));
            row.insert("scope".into(), json!("instance"));
            row.insert("updatedAt".into(), json!(updated));
            row.insert("agentId".into(), json!(t.agent_id));
            row.insert("creatorKey".into(), json!(UNKNOWN_CREATOR));
            if let Some(c) = &t.channel {
                row.insert("channel".into(), json!(c));
            }
            row.extend(std::mem::take(&mut t.fields));
            row.insert(
                "usage".into(),
                usage.map_or(Value::Null, |u| u.json(&t.session_id, &path)),
            );
            row.insert("hasContextWeight".into(), json!(false));
            sessions.push(Value::Object(row));
        }
    }
    let label = |ms: i64| q.range.day_of(ms).map(|d| d.to_string());
    json!({
        "updatedAt": now_ms,
        "startDate": label(q.range.start_ms),
        "endDate": label(q.range.end_ms),
        "sessions": sessions,
        "totals": agg.totals.json(),
        "aggregates": agg.finish(),
        "creatorOptions": [{"key": UNKNOWN_CREATOR}],
        "cacheStatus": {
            "status": if skipped > 0 { "partial" } else { "fresh" },
            "cachedFiles": files,
            "pendingFiles": skipped,
            "staleFiles": skipped,
        },
    })
}

/// The fields of a transcript line that usage reads (the rest, the content above all, is
/// skipped unparsed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default, borrow)]
    provider: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    custom_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

impl Line<'_> {
    /// A line whose `usage` counts: an answer, a compaction (its summarizer calls), a
    /// memory flush after a reply.
    fn counts_usage(&self) -> bool {
        self.role.as_deref() == Some("assistant")
            || self.kind.as_deref() == Some("compaction")
            || (self.kind.as_deref() == Some("custom")
                && self.custom_type.as_deref() == Some(crate::agent_run::FLUSH_USAGE))
    }
}

/// OpenClaw's `messageCounts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    total: u64,
    user: u64,
    assistant: u64,
    errors: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.total += o.total;
        self.user += o.user;
        self.assistant += o.assistant;
        self.errors += o.errors;
    }

    fn json(&self) -> Value {
        json!({"total": self.total, "user": self.user, "assistant": self.assistant,
            "toolCalls": 0, "toolResults": 0, "errors": self.errors})
    }
}

/// Reply latencies: count, sum, extremes, and up to [`MAX_LATENCIES`] values for the p95.
#[derive(Debug, Clone, Default)]
struct Latency {
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    kept: Vec<u64>,
}

impl Latency {
    fn add(&mut self, ms: u64) {
        self.min = if self.count == 0 {
            ms
        } else {
            self.min.min(ms)
        };
        self.max = self.max.max(ms);
        self.count += 1;
        self.sum = self.sum.saturating_add(ms);
        if self.kept.len() < MAX_LATENCIES {
            self.kept.push(ms);
        }
    }

    /// OpenClaw's `SessionLatencyStats` (`None`: no latency).
    fn stats(&self) -> Option<Stats> {
        if self.count == 0 {
            return None;
        }
        let mut v = self.kept.clone();
        v.sort_unstable();
        let at = (v.len() * 95).div_ceil(100).saturating_sub(1);
        Some(Stats {
            count: self.count,
            avg: self.sum as f64 / self.count as f64,
            p95: v.get(at).copied().unwrap_or(self.max),
            min: self.min,
            max: self.max,
        })
    }
}

/// Latency statistics, mergeable as OpenClaw merges them (the p95 of a merge is the
/// largest p95).
#[derive(Debug, Clone, Copy)]
struct Stats {
    count: u64,
    avg: f64,
    p95: u64,
    min: u64,
    max: u64,
}

impl Stats {
    fn merge(a: Option<Stats>, b: Stats) -> Stats {
        let Some(a) = a else { return b };
        let count = a.count + b.count;
        Stats {
            count,
            avg: (a.avg * a.count as f64 + b.avg * b.count as f64) / count.max(1) as f64,
            p95: a.p95.max(b.p95),
            min: a.min.min(b.min),
            max: a.max.max(b.max),
        }
    }

    fn json(&self) -> Value {
        json!({"count": self.count, "avgMs": self.avg, "p95Ms": self.p95,
            "minMs": self.min, "maxMs": self.max})
    }
}

/// One day of a session.
#[derive(Debug, Default)]
struct Day {
    totals: Totals,
    counts: Counts,
    latency: Latency,
}

/// A model's share: calls answered and their totals.
#[derive(Debug, Clone, Default)]
struct ModelShare {
    count: u64,
    totals: Totals,
}

/// A session's usage in the range (OpenClaw's `SessionCostSummary`).
#[derive(Debug, Default)]
pub struct Summary {
    totals: Totals,
    counts: Counts,
    first: Option<i64>,
    last: Option<i64>,
    days: BTreeMap<String, Day>,
    /// `(provider, model)` → share.
    models: BTreeMap<(String, String), ModelShare>,
    /// `(date, provider, model)` → share.
    day_models: BTreeMap<(String, String, String), ModelShare>,
    latency: Latency,
}

/// A transcript file, at most [`MAX_BYTES`] of it (`None`: cannot be opened).
fn open(path: &Path) -> Option<impl std::io::BufRead> {
    let file = std::fs::File::open(path).ok()?;
    Some(std::io::BufReader::new(std::io::Read::take(
        file, MAX_BYTES,
    )))
}

/// The session's summary from its transcript (`None`: unreadable).
fn scan(path: &Path, range: &Range) -> Option<Summary> {
    Some(summarize(open(path)?, range))
}

impl Summary {
    /// The tokens and cost summed.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }
}

/// The summary of the transcript `path` (at most [`MAX_BYTES`] of it) over all time
/// (`None`: it cannot be opened).
pub fn session_totals(path: &Path, now_ms: i64) -> Option<Totals> {
    let range = Range::all(crate::usage::DayZone::Utc, now_ms).ok()?;
    Some(*scan(path, &range)?.totals())
}

/// The summary of the transcript lines `reader` gives, in `range`.
pub fn summarize(reader: impl std::io::BufRead, range: &Range) -> Summary {
    let mut s = Summary::default();
    let mut last_user: Option<i64> = None;
    for_each_line(reader, &[b"\"role\"", b"\"usage\""], |buf| {
        if let Ok(line) = serde_json::from_slice::<Line<'_>>(buf) {
            s.add_line(&line, range, &mut last_user);
        }
    });
    s
}

impl Summary {
    fn add_line(&mut self, line: &Line<'_>, range: &Range, last_user: &mut Option<i64>) {
        let role = line.role.as_deref();
        let message = matches!(role, Some("user" | "assistant"));
        let usage = line.usage.as_ref().filter(|_| line.counts_usage());
        if !message && usage.is_none() {
            return;
        }
        let day = match line.ts {
            Some(ts) if ts >= range.start_ms && ts <= range.end_ms => {
                range.day_of(ts).map(|d| (ts, d.to_string()))
            }
            // Lines without a time count only for `range: "all"`, in no day.
            None if range.start_ms == 0 => None,
            _ => return,
        };
        let mut counts = Counts::default();
        match role {
            Some("user") => {
                counts.user = 1;
                counts.total = 1;
            }
            Some("assistant") => {
                counts.assistant = 1;
                counts.total = 1;
                if line
                    .stop_reason
                    .as_deref()
                    .is_some_and(|r| matches!(r, "error" | "aborted" | "timeout"))
                {
                    counts.errors = 1;
                }
            }
            _ => {}
        }
        self.counts.add(&counts);
        // The line's usage as totals, read once.
        let used = usage.and_then(|u| {
            let mut t = Totals::default();
            t.add_usage(u).then_some(t)
        });
        if let Some(t) = &used {
            add_totals(&mut self.totals, t);
        }
        // Its model, when an answer names it.
        let model = used
            .filter(|_| role == Some("assistant"))
            .filter(|_| line.provider.is_some() || line.model.is_some())
            .map(|t| {
                let p = line.provider.as_deref().unwrap_or("unknown").to_owned();
                let m = line.model.as_deref().unwrap_or("unknown").to_owned();
                ((p, m), t)
            });
        if let Some((pm, t)) = &model {
            let share = self.models.entry(pm.clone()).or_default();
            share.count += 1;
            add_totals(&mut share.totals, t);
        }
        let Some((ts, date)) = day else {
            return;
        };
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        if let Some(((p, m), t)) = model {
            let share = self.day_models.entry((date.clone(), p, m)).or_default();
            share.count += 1;
            add_totals(&mut share.totals, &t);
        }
        let d = self.days.entry(date).or_default();
        d.counts.add(&counts);
        if let Some(t) = &used {
            add_totals(&mut d.totals, t);
        }
        match role {
            Some("user") => *last_user = Some(ts),
            Some("assistant") => {
                if let Some(asked) = last_user.take()
                    && let Some(gap) = ts.checked_sub(asked).filter(|g| *g <= MAX_LATENCY_MS)
                    && let Ok(ms) = u64::try_from(gap)
                {
                    self.latency.add(ms);
                    d.latency.add(ms);
                }
            }
            _ => {}
        }
    }

    /// Days with activity.
    fn dates(&self) -> Vec<&str> {
        self.days.keys().map(String::as_str).collect()
    }

    /// OpenClaw's `SessionCostSummary` object.
    pub fn json(&self, session_id: &str, path: &Path) -> Value {
        let mut v = self.totals.json();
        let put = |v: &mut Value, k: &str, x: Value| {
            if let Some(o) = v.as_object_mut() {
                o.insert(k.to_owned(), x);
            }
        };
        put(&mut v, "sessionId", json!(session_id));
        put(&mut v, "sessionFile", json!(path.to_string_lossy()));
        if let (Some(f), Some(l)) = (self.first, self.last) {
            put(&mut v, "firstActivity", json!(f));
            put(&mut v, "lastActivity", json!(l));
            put(&mut v, "durationMs", json!((l - f).max(0)));
        }
        put(&mut v, "activityDates", json!(self.dates()));
        put(
            &mut v,
            "dailyBreakdown",
            Value::Array(
                self.days
                    .iter()
                    .map(|(date, d)| {
                        let mut row = d.totals.json();
                        put(&mut row, "date", json!(date));
                        put(&mut row, "tokens", json!(d.totals.total_tokens));
                        put(&mut row, "cost", json!(d.totals.total_cost));
                        row
                    })
                    .collect(),
            ),
        );
        put(
            &mut v,
            "dailyMessageCounts",
            Value::Array(
                self.days
                    .iter()
                    .map(|(date, d)| {
                        let mut row = d.counts.json();
                        put(&mut row, "date", json!(date));
                        row
                    })
                    .collect(),
            ),
        );
        let daily_latency: Vec<Value> = self
            .days
            .iter()
            .filter_map(|(date, d)| {
                let mut row = d.latency.stats()?.json();
                put(&mut row, "date", json!(date));
                Some(row)
            })
            .collect();
        if !daily_latency.is_empty() {
            put(&mut v, "dailyLatency", Value::Array(daily_latency));
        }
        if !self.day_models.is_empty() {
            put(
                &mut v,
                "dailyModelUsage",
                Value::Array(
                    self.day_models
                        .iter()
                        .map(|((date, p, m), s)| {
                            json!({"date": date, "provider": p, "model": m,
                                "tokens": s.totals.total_tokens, "cost": s.totals.total_cost,
                                "count": s.count})
                        })
                        .collect(),
                ),
            );
        }
        put(&mut v, "messageCounts", self.counts.json());
        if !self.models.is_empty() {
            let models = most_spent(&self.models);
            put(
                &mut v,
                "modelUsage",
                Value::Array(
                    models
                        .into_iter()
                        .map(|((p, m), s)| model_json(Some(p), Some(m), s))
                        .collect(),
                ),
            );
        }
        if let Some(l) = self.latency.stats() {
            put(&mut v, "latency", l.json());
        }
        v
    }
}

/// Most spent first: dollars, then tokens.
fn by_spend(a: &Totals, b: &Totals) -> std::cmp::Ordering {
    a.total_cost
        .total_cmp(&b.total_cost)
        .then(a.total_tokens.cmp(&b.total_tokens))
}

/// The shares of `m`, most spent first.
fn most_spent<K>(m: &BTreeMap<K, ModelShare>) -> Vec<(&K, &ModelShare)> {
    let mut v: Vec<(&K, &ModelShare)> = m.iter().collect();
    v.sort_by(|a, b| by_spend(&b.1.totals, &a.1.totals));
    v
}

fn model_json(provider: Option<&str>, model: Option<&str>, s: &ModelShare) -> Value {
    let mut v = json!({"count": s.count, "totals": s.totals.json()});
    if let Some(p) = provider {
        v["provider"] = json!(p);
    }
    if let Some(m) = model {
        v["model"] = json!(m);
    }
    v
}

/// Adds `b` into `a`.
fn add_totals(a: &mut Totals, b: &Totals) {
    a.input = a.input.saturating_add(b.input);
    a.output = a.output.saturating_add(b.output);
    a.cache_read = a.cache_read.saturating_add(b.cache_read);
    a.cache_write = a.cache_write.saturating_add(b.cache_write);
    a.total_tokens = a.total_tokens.saturating_add(b.total_tokens);
    a.total_cost += b.total_cost;
    a.input_cost += b.input_cost;
    a.output_cost += b.output_cost;
    a.cache_read_cost += b.cache_read_cost;
    a.cache_write_cost += b.cache_write_cost;
    a.missing_cost_entries = a
        .missing_cost_entries
        .saturating_add(b.missing_cost_entries);
}

/// OpenClaw's `SessionsUsageAggregates` over the sessions reported.
#[derive(Debug, Default)]
struct Aggregate {
    totals: Totals,
    sessions: u64,
    longest: i64,
    counts: Counts,
    models: BTreeMap<(String, String), ModelShare>,
    providers: BTreeMap<String, ModelShare>,
    agents: BTreeMap<String, Totals>,
    channels: BTreeMap<String, Totals>,
    /// date → (totals, counts).
    days: BTreeMap<String, (Totals, Counts)>,
    latency: Option<Stats>,
    day_latency: BTreeMap<String, Stats>,
    day_models: BTreeMap<(String, String, String), ModelShare>,
    /// The days each session was active → how many sessions.
    activity: BTreeMap<Vec<String>, u64>,
}

impl Aggregate {
    fn add(&mut self, u: &Summary, t: &Target) {
        add_totals(&mut self.totals, &u.totals);
        if let (Some(f), Some(l)) = (u.first, u.last) {
            self.longest = self.longest.max(l - f);
        }
        let counted = u.first.is_some() || u.counts.total > 0;
        if counted {
            self.sessions += 1;
            let dates: Vec<String> = u.days.keys().cloned().collect();
            *self.activity.entry(dates).or_default() += 1;
        }
        self.counts.add(&u.counts);
        for ((p, m), s) in &u.models {
            let e = self.models.entry((p.clone(), m.clone())).or_default();
            e.count += s.count;
            add_totals(&mut e.totals, &s.totals);
            let e = self.providers.entry(p.clone()).or_default();
            e.count += s.count;
            add_totals(&mut e.totals, &s.totals);
        }
        add_totals(
            self.agents.entry(t.agent_id.clone()).or_default(),
            &u.totals,
        );
        if let Some(c) = &t.channel {
            add_totals(self.channels.entry(c.clone()).or_default(), &u.totals);
        }
        for (date, d) in &u.days {
            let e = self.days.entry(date.clone()).or_default();
            add_totals(&mut e.0, &d.totals);
            e.1.add(&d.counts);
            if let Some(s) = d.latency.stats() {
                let merged = Stats::merge(self.day_latency.get(date).copied(), s);
                self.day_latency.insert(date.clone(), merged);
            }
        }
        if let Some(s) = u.latency.stats() {
            self.latency = Some(Stats::merge(self.latency, s));
        }
        for (k, s) in &u.day_models {
            let e = self.day_models.entry(k.clone()).or_default();
            e.count += s.count;
            add_totals(&mut e.totals, &s.totals);
        }
    }

    fn finish(&self) -> Value {
        let by_model: Vec<Value> = most_spent(&self.models)
            .into_iter()
            .map(|((p, m), s)| model_json(Some(p), Some(m), s))
            .collect();
        let by_provider: Vec<Value> = most_spent(&self.providers)
            .into_iter()
            .map(|(p, s)| model_json(Some(p), None, s))
            .collect();
        let grouped = |m: &BTreeMap<String, Totals>, name: &str| {
            let mut v: Vec<(&String, &Totals)> = m.iter().collect();
            v.sort_by(|a, b| b.1.total_cost.total_cmp(&a.1.total_cost));
            v.into_iter()
                .map(|(k, t)| json!({name: k, "totals": t.json()}))
                .collect::<Vec<_>>()
        };
        let cost_daily: Vec<Value> = self
            .days
            .iter()
            .map(|(date, (t, _))| {
                let mut v = t.json();
                v["date"] = json!(date);
                v
            })
            .collect();
        let mut out = json!({
            "sessionCount": self.sessions,
            "messages": self.counts.json(),
            "tools": {"totalCalls": 0, "uniqueTools": 0, "tools": []},
            "byModel": by_model,
            "byProvider": by_provider,
            "byAgent": grouped(&self.agents, "agentId"),
            "byChannel": grouped(&self.channels, "channel"),
            "byCreator": [{
                "key": UNKNOWN_CREATOR,
                "totals": self.totals.json(),
                "sessionCount": self.sessions,
                "daily": cost_daily,
                "sessionActivity": self.activity.iter()
                    .map(|(dates, n)| json!({"dates": dates, "sessionCount": n}))
                    .collect::<Vec<_>>(),
            }],
            "costDaily": cost_daily,
            "dailyLatency": self.day_latency.iter().map(|(date, s)| {
                let mut v = s.json();
                v["date"] = json!(date);
                v
            }).collect::<Vec<_>>(),
            "modelDaily": self.day_models.iter().map(|((date, p, m), s)| {
                json!({"date": date, "provider": p, "model": m,
                    "tokens": s.totals.total_tokens, "cost": s.totals.total_cost, "count": s.count})
            }).collect::<Vec<_>>(),
            "daily": self.days.iter().map(|(date, (t, c))| {
                json!({"date": date, "tokens": t.total_tokens, "cost": t.total_cost,
                    "messages": c.total, "toolCalls": 0, "errors": c.errors})
            }).collect::<Vec<_>>(),
        });
        if self.longest > 0 {
            out["longestSessionDurationMs"] = json!(self.longest);
        }
        if let Some(l) = self.latency {
            out["latency"] = l.json();
        }
        out
    }
}

/// OpenClaw's `sessions.usage.timeseries` answer for one transcript: each answer's tokens
/// and cost in time order with running sums, at most [`MAX_POINTS`] points (later ones
/// folded together); `None`: no transcript.
pub fn timeseries(path: &Path, session_id: &str) -> Option<Value> {
    Some(timeseries_of(open(path)?, session_id))
}

/// [`timeseries`] of the transcript lines `reader` gives.
pub fn timeseries_of(reader: impl std::io::BufRead, session_id: &str) -> Value {
    let mut points: Vec<(i64, Totals)> = Vec::new();
    for_each_line(reader, &[b"\"usage\""], |buf| {
        let Ok(line) = serde_json::from_slice::<Line<'_>>(buf) else {
            return;
        };
        let (Some(ts), Some(u)) = (line.ts.filter(|t| *t > 0), line.usage.as_ref()) else {
            return;
        };
        if !line.counts_usage() {
            return;
        }
        let mut t = Totals::default();
        if t.add_usage(u) {
            points.push((ts, t));
        }
        // Bounded: fold pairs once eight times the output is held.
        if points.len() >= 8 * MAX_POINTS {
            points = fold(std::mem::take(&mut points), 2);
        }
    });
    points.sort_by_key(|p| p.0);
    if points.len() > MAX_POINTS {
        let step = points.len().div_ceil(MAX_POINTS);
        points = fold(points, step);
    }
    let (mut tokens, mut cost) = (0u64, 0f64);
    let out: Vec<Value> = points
        .iter()
        .map(|(ts, t)| {
            tokens = tokens.saturating_add(t.total_tokens);
            cost += t.total_cost;
            json!({"timestamp": ts, "input": t.input, "output": t.output,
                "cacheRead": t.cache_read, "cacheWrite": t.cache_write,
                "totalTokens": t.total_tokens, "cost": t.total_cost,
                "cumulativeTokens": tokens, "cumulativeCost": cost})
        })
        .collect();
    json!({"sessionId": session_id, "points": out})
}

/// Every `step` points as one, at the last one's time (OpenClaw's downsampling).
fn fold(points: Vec<(i64, Totals)>, step: usize) -> Vec<(i64, Totals)> {
    let mut out: Vec<(i64, Totals)> = Vec::with_capacity(points.len() / step.max(1) + 1);
    for (i, (ts, t)) in points.into_iter().enumerate() {
        if i % step.max(1) == 0 {
            out.push((ts, t));
        } else if let Some(last) = out.last_mut() {
            last.0 = ts;
            add_totals(&mut last.1, &t);
        }
    }
    out
}

/// OpenClaw's `sessions.usage.logs` entries of one transcript: its last `limit` messages
/// (text, at most [`MAX_LOG_CHARS`] characters each), with an answer's tokens and cost;
/// `None`: no transcript.
pub fn logs(path: &Path, limit: usize) -> Option<Vec<Value>> {
    Some(logs_of(open(path)?, limit))
}

/// [`logs`] of the transcript lines `reader` gives.
pub fn logs_of(reader: impl std::io::BufRead, limit: usize) -> Vec<Value> {
    let mut out: std::collections::VecDeque<Value> = std::collections::VecDeque::new();
    for_each_line(reader, &[b"\"role\""], |buf| {
        let Ok(v) = serde_json::from_slice::<Value>(buf) else {
            return;
        };
        let role = match v.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant")) => r,
            _ => return,
        };
        let text = match v.get("content") {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter_map(|b| match b {
                    Value::String(s) => Some(s.as_str()),
                    _ if b.get("type").and_then(Value::as_str) == Some("text") => {
                        b.get("text").and_then(Value::as_str)
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned(),
            _ => String::new(),
        };
        if text.is_empty() {
            return;
        }
        let content = match text.char_indices().nth(MAX_LOG_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        let mut entry = json!({
            "timestamp": v.get("ts").and_then(Value::as_i64).unwrap_or(0),
            "role": role,
            "content": content,
        });
        let mut t = Totals::default();
        if role == "assistant"
            && let Some(u) = v.get("usage")
            && t.add_usage(u)
        {
            entry["tokens"] = json!(t.total_tokens);
            entry["cost"] = json!(t.total_cost);
        }
        out.push_back(entry);
        if out.len() > limit {
            out.pop_front();
        }
    });
    let mut out: Vec<Value> = out.into();
    out.sort_by_key(|e| e["timestamp"].as_i64().unwrap_or(0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::DayZone;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_796_374_800_000; // 2026-12-04T09:00Z

    fn target(key: &str, id: &str, channel: Option<&str>) -> Target {
        Target {
            key: key.into(),
            agent_id: "main".into(),
            session_id: id.into(),
            file: None,
            updated_at: None,
            channel: channel.map(str::to_owned),
            fields: Map::new(),
        }
    }

    fn write(dir: &Path, id: &str, lines: &[Value]) {
        let sessions = dir.join("agents/main/sessions");
        std::fs::create_dir_all(&sessions).expect("mkdir");
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(sessions.join(format!("{id}.jsonl")), text.join("\n")).expect("write");
    }

    fn user(ts: i64) -> Value {
        json!({"type": "message", "role": "user", "content": "hi", "ts": ts})
    }

    fn answer(ts: i64, tokens: u64, cost: Option<f64>, model: Option<&str>) -> Value {
        let mut usage = json!({"input": tokens, "output": 0, "cacheRead": 0, "cacheWrite": 0,
            "totalTokens": tokens});
        if let Some(c) = cost {
            usage["cost"] =
                json!({"input": c, "output": 0.0, "cacheRead": 0.0, "cacheWrite": 0.0, "total": c});
        }
        let mut v = json!({"type": "message", "role": "assistant", "content": "ok", "ts": ts, "usage": usage});
        if let Some(m) = model {
            v["provider"] = json!("openai");
            v["model"] = json!(m);
        }
        v
    }

    fn query(days: u64) -> Query {
        Query {
            range: Range::new(Some(days), None, DayZone::Utc, NOW).expect("range"),
            limit: 50,
            specific: false,
            creator: None,
        }
    }

    #[test]
    fn sessions_are_summed_per_day_model_and_channel() {
        let dir = tempfile::tempdir().expect("tmp");
        write(
            dir.path(),
            "a",
            &[
                user(NOW - DAY - 3_000),
                answer(NOW - DAY, 100, Some(0.5), Some("gpt-5-mini")),
                user(NOW - 1_000),
                answer(NOW, 50, Some(0.25), Some("gpt-5-mini")),
                // A failure the user saw.
                json!({"role": "assistant", "content": "sorry", "ts": NOW + 1, "stopReason": "error"}),
                user(NOW - 40 * DAY),
                answer(NOW - 40 * DAY, 999, None, None),
                json!("not an object"),
            ],
        );
        write(
            dir.path(),
            "b",
            &[user(NOW - 10), answer(NOW, 10, None, None)],
        );
        let r = report(
            dir.path(),
            vec![
                target("agent:main:telegram:direct:1", "a", Some("telegram")),
                target("agent:main:webchat", "b", None),
                target("agent:main:gone", "missing", None),
                target("agent:main:evil", "../../etc/passwd", None),
            ],
            &query(7),
            NOW,
        );
        let rows = r["sessions"].as_array().expect("rows");
        assert_eq!(rows.len(), 2, "{r}");
        let a = rows
            .iter()
            .find(|s| s["sessionId"] == "a")
            .expect("a")
            .clone();
        let u = &a["usage"];
        assert_eq!(u["totalTokens"], 150);
        assert!((u["totalCost"].as_f64().unwrap_or(0.0) - 0.75).abs() < 1e-12);
        assert_eq!(
            u["messageCounts"],
            json!({"total": 5, "user": 2, "assistant": 3, "toolCalls": 0, "toolResults": 0, "errors": 1})
        );
        assert_eq!(u["activityDates"], json!(["2026-12-03", "2026-12-04"]));
        assert_eq!(u["dailyBreakdown"][0]["tokens"], 100);
        assert_eq!(u["modelUsage"][0]["model"], "gpt-5-mini");
        assert_eq!(u["modelUsage"][0]["count"], 2);
        assert_eq!(u["latency"]["count"], 2);
        assert_eq!(u["latency"]["maxMs"], 3_000);
        assert_eq!(u["latency"]["minMs"], 1_000);
        assert_eq!(u["durationMs"], DAY + 3_001);
        assert_eq!(a["channel"], "telegram");
        let agg = &r["aggregates"];
        assert_eq!(agg["sessionCount"], 2);
        assert_eq!(r["totals"]["totalTokens"], 160);
        assert_eq!(r["totals"]["missingCostEntries"], 1);
        assert_eq!(agg["byChannel"][0]["channel"], "telegram");
        assert_eq!(agg["byChannel"][0]["totals"]["totalTokens"], 150);
        assert_eq!(agg["byAgent"][0]["totals"]["totalTokens"], 160);
        assert_eq!(agg["byProvider"][0]["provider"], "openai");
        assert_eq!(agg["daily"].as_array().map(Vec::len), Some(2));
        assert_eq!(agg["messages"]["total"], 7);
        assert_eq!(r["cacheStatus"]["status"], "fresh");

        // One row, the aggregates still over both; another creator: nothing.
        let mut q = query(7);
        q.limit = 1;
        let r = report(
            dir.path(),
            vec![
                target("agent:main:x", "a", None),
                target("agent:main:y", "b", None),
            ],
            &q,
            NOW,
        );
        assert_eq!(r["sessions"].as_array().map(Vec::len), Some(1));
        assert_eq!(r["aggregates"]["sessionCount"], 2);
        q.creator = Some("[\"profile\",\"x\"]".into());
        let r = report(dir.path(), vec![target("agent:main:x", "a", None)], &q, NOW);
        assert_eq!(r["sessions"], json!([]));
    }

    #[test]
    fn everything_counts_untimestamped_lines_and_the_orphans_are_found() {
        let dir = tempfile::tempdir().expect("tmp");
        write(
            dir.path(),
            "old",
            &[
                json!({"role": "user", "content": "x"}),
                answer(5, 7, None, None),
            ],
        );
        let sessions = dir.path().join("agents/main/sessions");
        // An archive of the same id loses to the transcript; of another id, the newest
        // archive is the session's; a stray file and an indexed session are not listed.
        std::fs::write(sessions.join("old.jsonl.reset.1"), "{}").expect("archive");
        let gone = answer(9, 3, None, None).to_string();
        std::fs::write(sessions.join("gone.jsonl.deleted.5"), &gone).expect("archive");
        std::fs::write(sessions.join("gone.jsonl.reset.2"), "{}").expect("archive");
        std::fs::write(sessions.join("x.jsonl.bak"), &gone).expect("stray");
        std::fs::write(sessions.join("kept.jsonl"), &gone).expect("indexed");
        let known = HashSet::from([("main".to_owned(), "kept".to_owned())]);
        let mut found = unindexed(dir.path(), &["main".into()], &known);
        found.sort_by(|a, b| a.key.cmp(&b.key));
        let keys: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|t| (t.key.as_str(), t.file.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("agent:main:gone", Some("gone.jsonl.deleted.5")),
                ("agent:main:old", None)
            ]
        );
        let q = Query {
            range: Range::all(DayZone::Utc, NOW).expect("all"),
            limit: 10,
            specific: false,
            creator: None,
        };
        let r = report(dir.path(), found, &q, NOW);
        let old = r["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["key"] == "agent:main:old"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(old["usage"]["messageCounts"]["total"], 2, "{r}");
        assert_eq!(r["totals"]["totalTokens"], 10, "{r}");
    }

    #[test]
    fn timeseries_runs_up_and_is_bounded_and_logs_keep_the_last() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut lines = Vec::new();
        for i in 0..1_000 {
            lines.push(user(NOW + i * 10));
            lines.push(answer(NOW + i * 10 + 5, 2, Some(0.001), None));
        }
        lines.push(json!({"role": "user", "content": "é".repeat(3_000), "ts": NOW + 20_000}));
        write(dir.path(), "t", &lines);
        let path = transcript_path(dir.path(), "main", "t").expect("path");
        let ts = timeseries(&path, "t").expect("series");
        let points = ts["points"].as_array().expect("points");
        assert!(points.len() <= MAX_POINTS, "{}", points.len());
        assert_eq!(
            points.last().map(|p| p["cumulativeTokens"].clone()),
            Some(json!(2_000))
        );
        let logs = logs(&path, 3).expect("logs");
        assert_eq!(logs.len(), 3);
        let last = logs[2]["content"].as_str().unwrap_or("");
        assert_eq!(last.chars().count(), MAX_LOG_CHARS + 1);
        assert!(last.ends_with('…'));
        assert_eq!(logs[1]["tokens"], 2);
        assert!(timeseries(&dir.path().join("nope.jsonl"), "nope").is_none());
        assert!(transcript_path(dir.path(), "main", "a/b").is_none());
        assert!(transcript_path(dir.path(), "..", "a").is_none());
    }
}
