//! # `CronService` — the gateway's scheduler (OpenClaw's `cron.*`)
//!
//! One actor owns the jobs (`<state>/cron/jobs.json`, mode 0600, written atomically on every
//! change) and one timer, armed for the earliest due job (and at least once a minute, so a
//! clock step is noticed). A due job becomes an agent run through the [`Registry`] — the
//! same `SubmitRun` an operator's `chat.send` uses, so it queues behind the session's other
//! runs and runs under the same tool policy — and its answer is announced on a channel
//! with the registry's `SendOutbound` (the path of the `send` method). Each run appends one
//! line to `<state>/cron/runs/<jobId>.jsonl` (bounded: see [`RUN_LOG_KEEP`]).
//!
//! Crash safety: `runningAtMs` is written before a run starts. A restart that finds it set
//! records the run as interrupted and schedules the job again (a one-shot job retries,
//! so a reminder is not lost). A recurring job whose time passed while the gateway was
//! down runs once at start, then keeps its schedule.
//!
//! Failures back off as OpenClaw's do: 30 s, 1 min, 5 min, 15 min, then 60 min between
//! tries until a run succeeds; a one-shot job gives up after [`ONE_SHOT_TRIES`] tries and
//! is disabled.
//!
//! Messages: [`CronStatus`], [`CronList`], [`CronGet`], [`CronAdd`], [`CronUpdate`],
//! [`CronRemove`], [`CronRun`], [`CronRuns`], [`CronWake`] (`wake`), [`LastHeartbeat`],
//! [`SetHeartbeats`], [`SetCronEnabled`], [`SetHeartbeat`]. The heartbeat (see [`heartbeat`]) has
//! a timer of its own here.

pub mod expr;
pub mod heartbeat;
pub mod job;
pub mod tool;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};

use crate::protocol::error::ErrorShape;
use crate::registry::Registry;
use crate::registry::channels::SendOutbound;
use crate::registry::runs::{AbortRun, Broadcast, SubmitCronRun, WaitReply, WaitRun};
use crate::registry::scheduler::WaitStatus;
use crate::store::{AppendLines, LoadLines, SaveDocument, StoreActor};
use crate::util::now_ms;
use job::{CronJob, JobsFile};

/// Where the jobs live (relative to the state dir).
pub const JOBS_FILE: &str = "cron/jobs.json";
/// Runs at a time over all jobs; more due jobs wait for a free slot.
pub const MAX_CONCURRENT_RUNS: usize = 4;
/// Run log lines kept per job after a trim (trimmed when twice this many are written).
pub const RUN_LOG_KEEP: usize = 500;
/// How often the timer looks at the clock at least.
const MAX_TIMER: Duration = Duration::from_secs(60);
/// Tries of a failing one-shot job before it is disabled.
pub const ONE_SHOT_TRIES: u32 = 3;
/// Default bound on a run (OpenClaw's `timeoutSeconds` default).
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest answer kept as a run's summary.
const SUMMARY_CHARS: usize = 2_000;

/// Delay before the `n`th retry after `n` failures in a row (OpenClaw's backoff).
pub fn backoff_ms(consecutive_errors: u32) -> u64 {
    match consecutive_errors {
        0 => 0,
        1 => 30_000,
        2 => 60_000,
        3 => 300_000,
        4 => 900_000,
        _ => 3_600_000,
    }
}

/// The run log of a job.
pub fn run_log_name(job_id: &str) -> String {
    format!("cron/runs/{job_id}.jsonl")
}

/// Why a cron call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CronError {
    /// Bad params (the message says which and why).
    #[error("{0}")]
    Invalid(String),
    /// No job of that id.
    #[error("cron job not found: {0}")]
    NotFound(String),
    /// The jobs could not be saved, or too many jobs.
    #[error("{0}")]
    Unavailable(String),
}

impl CronError {
    /// The wire error (OpenClaw's: `INVALID_REQUEST` with `details.code`
    /// `CRON_JOB_NOT_FOUND` for an unknown id).
    pub fn to_shape(&self) -> ErrorShape {
        match self {
            Self::Invalid(m) => ErrorShape::invalid(m.clone()),
            Self::NotFound(id) => ErrorShape::invalid(format!(
                "cron job not found: {id}. List automations and retry with a current job id."
            ))
            .with_details(json!({"code": crate::protocol::codes::CRON_JOB_NOT_FOUND, "jobId": id})),
            Self::Unavailable(m) => ErrorShape::unavailable(m.clone()),
        }
    }
}

/// How a run ended, as the run log and the job state record it.
#[derive(Debug, Clone)]
struct Outcome {
    run_id: String,
    session_key: String,
    started_at: u64,
    ended_at: u64,
    ok: bool,
    error: Option<String>,
    summary: Option<String>,
    /// `delivered`, `not-delivered`, `not-requested`.
    delivery_status: &'static str,
    delivery_error: Option<String>,
    /// The answer only acknowledged (`HEARTBEAT_OK`): not sent.
    acked: bool,
}

/// One run to make: the job it stands for, its run id, session and text, its bound, and
/// (heartbeats) the acknowledgement rule.
struct RunSpec {
    job: CronJob,
    run_id: String,
    session_key: String,
    text: String,
    timeout: Duration,
    started_at: u64,
    /// `ackMaxChars`: an answer that is `HEARTBEAT_OK` plus at most this much is not sent.
    ack_max: Option<usize>,
    /// The run's model (`heartbeat.model`, a job's `payload.model`).
    model: Option<String>,
    /// A model that is not configured fails the run (a job's), instead of giving way to
    /// the session's (the heartbeat's).
    strict_model: bool,
    /// The run's thinking level (a job's `payload.thinking`).
    thinking: Option<crate::ports::Thinking>,
    /// Also take this session's waiting system events (an isolated heartbeat).
    events_of: Option<String>,
    /// `lightContext`: no workspace bootstrap files in the run's prompt.
    light: bool,
}

/// The scheduler actor.
pub struct CronService {
    store: Addr<StoreActor>,
    registry: Addr<Registry>,
    jobs: Vec<CronJob>,
    /// Job ids with a run in progress.
    running: HashSet<String>,
    /// Lines written to each job's run log since the last trim (estimate after a start).
    log_lines: HashMap<String, usize>,
    timer: Option<SpawnHandle>,
    /// `cron.enabled`: with `false` jobs are kept and editable but never run on schedule.
    enabled: bool,
    store_path: String,
    /// The heartbeats: the default agent's (`agents.defaults.heartbeat`), or one per agent
    /// with its own `heartbeat` block.
    beats: Vec<Beat>,
    /// `set-heartbeats`: the heartbeats may run (on by default).
    heartbeats_on: bool,
    /// The last `heartbeat` event (`last-heartbeat`).
    last_heartbeat: Option<Value>,
    /// The state directory (the heartbeat's checklist is in its `workspace/`).
    state_dir: std::path::PathBuf,
    /// What [`Self::publish`] last told the registry.
    published: HashMap<String, (usize, Option<u64>)>,
    /// Where `health` reads the heartbeat from.
    shared: Option<std::sync::Arc<crate::engine::Shared>>,
}

/// One heartbeat: its settings, its timer, and whether a beat of it is running.
struct Beat {
    settings: heartbeat::HeartbeatSettings,
    timer: Option<SpawnHandle>,
    running: bool,
}

impl Beat {
    fn new(settings: heartbeat::HeartbeatSettings) -> Self {
        Self {
            settings,
            timer: None,
            running: false,
        }
    }
}

impl CronService {
    /// The scheduler over `file` (loaded by the engine from [`JOBS_FILE`]).
    pub fn new(
        store: Addr<StoreActor>,
        registry: Addr<Registry>,
        file: JobsFile,
        enabled: bool,
        state_dir: std::path::PathBuf,
    ) -> Self {
        Self {
            store,
            registry,
            jobs: file.jobs,
            running: HashSet::new(),
            log_lines: HashMap::new(),
            timer: None,
            enabled,
            store_path: state_dir.join(JOBS_FILE).display().to_string(),
            beats: Vec::new(),
            heartbeats_on: true,
            last_heartbeat: None,
            state_dir,
            published: HashMap::new(),
            shared: None,
        }
    }

    /// Keeping `health`'s view of the heartbeat in `shared`.
    pub fn with_health(mut self, shared: std::sync::Arc<crate::engine::Shared>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// With these heartbeats.
    pub fn with_heartbeats(mut self, settings: Vec<heartbeat::HeartbeatSettings>) -> Self {
        self.beats = settings.into_iter().map(Beat::new).collect();
        self
    }

    /// Replaces the heartbeats (a reload): every timer is armed again from now; a beat in
    /// progress for an agent that keeps its heartbeat still counts as running.
    fn set_beats(&mut self, settings: Vec<heartbeat::HeartbeatSettings>, ctx: &mut Context<Self>) {
        for b in &mut self.beats {
            if let Some(h) = b.timer.take() {
                ctx.cancel_future(h);
            }
        }
        let old = std::mem::take(&mut self.beats);
        self.beats = settings
            .into_iter()
            .map(|s| {
                let running = old.iter().any(|b| b.running && b.settings.agent == s.agent);
                Beat {
                    running,
                    ..Beat::new(s)
                }
            })
            .collect();
        self.arm_heartbeat(ctx);
    }

    /// Arms every heartbeat's timer (`every` from now), or stops them, and tells `health`.
    fn arm_heartbeat(&mut self, ctx: &mut Context<Self>) {
        let runs = self.enabled && self.heartbeats_on;
        if let Some(shared) = &self.shared {
            shared
                .health_view
                .set_heartbeat(self.beats.iter().map(|b| b.settings.view(runs)).collect());
        }
        for i in 0..self.beats.len() {
            self.arm_beat(i, ctx);
        }
    }

    /// Arms heartbeat `i`'s timer (`every` from now), or stops it.
    fn arm_beat(&mut self, i: usize, ctx: &mut Context<Self>) {
        let runs = self.enabled && self.heartbeats_on;
        let Some(b) = self.beats.get_mut(i) else {
            return;
        };
        if let Some(h) = b.timer.take() {
            ctx.cancel_future(h);
        }
        let Some(every) = b.settings.every.filter(|_| runs) else {
            return;
        };
        // A reload cancels every timer before it replaces the list, so `i` stays valid.
        b.timer = Some(ctx.run_later(every, move |act, ctx| {
            if let Some(b) = act.beats.get_mut(i) {
                b.timer = None;
            }
            act.arm_beat(i, ctx);
            act.beat(i, ctx);
        }));
    }

    /// Records and announces a heartbeat outcome.
    fn heartbeat_event(&mut self, event: Value) {
        let i = match event["status"].as_str() {
            Some("sent") => 0,
            Some("ok-token" | "ok-empty") => 1,
            Some("skipped") => 2,
            _ => 3,
        };
        crate::metrics::METRICS.heartbeats[i].inc();
        self.registry.do_send(Broadcast {
            event: "heartbeat".to_owned(),
            payload: event.clone(),
        });
        self.last_heartbeat = Some(event);
    }

    /// One heartbeat: skipped outside the active hours, while one runs, or when the
    /// checklist is empty; else a main-session turn whose answer goes to the target unless
    /// it only acknowledges.
    fn beat(&mut self, i: usize, ctx: &mut Context<Self>) {
        let started_at = now_ms();
        let Some(b) = self.beats.get_mut(i) else {
            return;
        };
        if b.running {
            return self.heartbeat_event(heartbeat::event(
                "skipped",
                Some("already-running"),
                None,
                0,
            ));
        }
        if let Some(hours) = &b.settings.active_hours
            && !hours.contains(started_at)
        {
            return self.heartbeat_event(heartbeat::event("skipped", Some("quiet-hours"), None, 0));
        }
        b.running = true;
        let settings = b.settings.clone();
        let agent = settings.agent.clone();
        let run_as = agent
            .clone()
            .unwrap_or_else(|| crate::agents::default_id_now().to_string());
        let registry = self.registry.clone();
        let path = settings
            .checklist
            .clone()
            .unwrap_or_else(|| self.state_dir.join(heartbeat::CHECKLIST));
        let fut = async move {
            let checklist = actix_web::rt::task::spawn_blocking(move || {
                use std::io::Read as _;
                let f = std::fs::File::open(&path).ok()?;
                let mut text = String::new();
                f.take(heartbeat::MAX_CHECKLIST_BYTES as u64)
                    .read_to_string(&mut text)
                    .ok()?;
                Some(text)
            })
            .await
            .ok()
            .flatten();
            if checklist
                .as_deref()
                .is_some_and(|c| !heartbeat::checklist_has_tasks(c))
            {
                return Err("empty-heartbeat-file");
            }
            let delivery = match &settings.target {
                heartbeat::HeartbeatTarget::None => job::Delivery {
                    mode: "none".to_owned(),
                    ..job::Delivery::default()
                },
                heartbeat::HeartbeatTarget::Last => job::Delivery {
                    mode: "announce".to_owned(),
                    best_effort: Some(true),
                    ..job::Delivery::default()
                },
                heartbeat::HeartbeatTarget::Chat {
                    channel,
                    to,
                    account_id,
                } => job::Delivery {
                    mode: "announce".to_owned(),
                    channel: Some(channel.clone()),
                    to: Some(to.clone()),
                    account_id: account_id.clone(),
                    best_effort: Some(true),
                    ..job::Delivery::default()
                },
            };
            // The conversation the beats belong to; an isolated beat runs beside it, fresh,
            // and takes its waiting events.
            let base = match settings.session.as_deref() {
                Some(s) if s.starts_with("agent:") => s.to_owned(),
                Some(s) => format!("agent:{run_as}:{s}"),
                None => format!("agent:{run_as}:main"),
            };
            let (session_key, events_of, target) = if settings.isolated {
                (format!("{base}:heartbeat"), Some(base), "isolated")
            } else {
                (base, None, "main")
            };
            let job = synthetic_job(
                "heartbeat",
                target,
                &settings.prompt,
                Some(delivery),
                started_at,
            );
            let spec = RunSpec {
                job,
                run_id: format!("heartbeat:{run_as}:{started_at}"),
                session_key,
                text: heartbeat::prompt_with(&settings.prompt, checklist.as_deref()),
                timeout: DEFAULT_RUN_TIMEOUT,
                started_at,
                ack_max: Some(settings.ack_max_chars),
                model: settings.model.clone(),
                strict_model: false,
                thinking: None,
                events_of,
                light: settings.light_context,
            };
            Ok((run_job(registry, spec).await, settings.target))
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            if let Some(b) = act.beats.iter_mut().find(|b| b.settings.agent == agent) {
                b.running = false;
            }
            let took = now_ms().saturating_sub(started_at);
            let ev = match res {
                Err(reason) => heartbeat::event("skipped", Some(reason), None, took),
                Ok((o, _)) if !o.ok && o.delivery_status != "not-delivered" => {
                    heartbeat::event("failed", o.error.as_deref(), None, took)
                }
                Ok((o, _)) if o.acked => heartbeat::event("ok-token", None, None, took),
                Ok((o, _)) if o.summary.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                    heartbeat::event("ok-empty", None, None, took)
                }
                Ok((o, target)) => match (o.delivery_status, target) {
                    ("delivered", _) => heartbeat::event("sent", None, o.summary.as_deref(), took),
                    (_, heartbeat::HeartbeatTarget::None) => {
                        heartbeat::event("skipped", Some("target-none"), o.summary.as_deref(), took)
                    }
                    _ => heartbeat::event(
                        "failed",
                        Some(o.delivery_error.as_deref().unwrap_or("no-route")),
                        o.summary.as_deref(),
                        took,
                    ),
                },
            };
            act.heartbeat_event(ev);
        }));
    }

    fn find(&self, id: &str) -> Option<&CronJob> {
        self.jobs.iter().find(|j| j.id == id)
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut CronJob> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// The jobs file write; resolves once it is on disk (`Err`: not saved, logged).
    fn save(&self) -> impl std::future::Future<Output = Result<(), CronError>> + 'static {
        let file = JobsFile {
            version: 1,
            jobs: self.jobs.clone(),
        };
        let save = crate::store::send_detached(
            &self.store,
            SaveDocument {
                name: JOBS_FILE.to_owned(),
                contents: serde_json::to_vec_pretty(&file).unwrap_or_default(),
            },
        );
        async move {
            save.await.map_err(|e| {
                log::error!("cron jobs not saved: {e}");
                CronError::Unavailable(format!("cron jobs not saved: {e}"))
            })
        }
    }

    /// Recomputes a job's next run from `after` (none when disabled or spent). A one-shot
    /// job that never ran is due at its time even when that has passed (a reminder set a
    /// moment too late, or kept while the scheduler was off, still goes out).
    fn schedule_next(job: &mut CronJob, after: u64) {
        job.state.next_run_at_ms = if !job.enabled {
            None
        } else {
            match &job.schedule {
                job::Schedule::At { at } if job.state.last_run_at_ms.is_none() => {
                    expr::parse_at(at).ok().and_then(|t| u64::try_from(t).ok())
                }
                s => job::next_run(s, &job.id, job.created_at_ms, after),
            }
        };
    }

    /// Tells the registry how many jobs each session target has and when the next runs
    /// (for `/status`); only when that changed.
    fn publish(&mut self) {
        let mut summary: HashMap<String, (usize, Option<u64>)> = HashMap::new();
        for j in &self.jobs {
            let e = summary.entry(j.session_target.clone()).or_insert((0, None));
            e.0 += 1;
            if j.enabled
                && let Some(t) = j.state.next_run_at_ms
            {
                e.1 = Some(e.1.map_or(t, |n: u64| n.min(t)));
            }
        }
        if summary != self.published {
            self.published = summary.clone();
            self.registry
                .do_send(crate::registry::runs::ScheduledSummary(summary));
        }
    }

    /// Arms the timer for the earliest due job.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        self.publish();
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        // Off, or every run slot taken: a run's end re-arms (no spinning on a due job that
        // cannot start yet).
        if !self.enabled || self.running.len() >= MAX_CONCURRENT_RUNS {
            return;
        }
        let now = now_ms();
        let next = self
            .jobs
            .iter()
            .filter(|j| j.enabled && !self.running.contains(&j.id))
            .filter_map(|j| j.state.next_run_at_ms)
            .min();
        let Some(next) = next else {
            return;
        };
        let delay = Duration::from_millis(next.saturating_sub(now)).min(MAX_TIMER);
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.tick(ctx);
        }));
    }

    /// Starts the due jobs (earliest first, up to [`MAX_CONCURRENT_RUNS`] at a time).
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        let mut due: Vec<(u64, String)> = self
            .jobs
            .iter()
            .filter(|j| j.enabled && !self.running.contains(&j.id))
            .filter_map(|j| j.state.next_run_at_ms.map(|t| (t, j.id.clone())))
            .filter(|(t, _)| *t <= now)
            .collect();
        due.sort();
        for (_, id) in due {
            if self.running.len() >= MAX_CONCURRENT_RUNS {
                break;
            }
            self.fire(&id, ctx);
        }
        self.arm(ctx);
    }

    /// Starts a run of job `id` now. Returns its run id.
    fn fire(&mut self, id: &str, ctx: &mut Context<Self>) -> Option<String> {
        let started_at = now_ms();
        let job = self.find_mut(id)?;
        job.state.running_at_ms = Some(started_at);
        let job = job.clone();
        self.running.insert(job.id.clone());
        let run_id = format!("cron:{}:{started_at}", job.id);
        let session_key = job.run_session_key();
        let text = match &job.payload {
            job::Payload::SystemEvent { text } => {
                format!("System (scheduled job \"{}\"): {text}", job.name)
            }
            job::Payload::AgentTurn { message, .. } => message.clone(),
        };
        let timeout = match &job.payload {
            job::Payload::AgentTurn {
                timeout_seconds: Some(t),
                ..
            } if *t > 0.0 => Duration::from_secs_f64(t.min(86_400.0)),
            _ => DEFAULT_RUN_TIMEOUT,
        };
        let (model, thinking, light) = match &job.payload {
            job::Payload::AgentTurn {
                model,
                thinking,
                light_context,
                ..
            } => (
                model.clone(),
                thinking.as_deref().and_then(crate::ports::Thinking::parse),
                // OpenClaw's rule: light context is for isolated runs only.
                *light_context == Some(true) && job.session_target == "isolated",
            ),
            job::Payload::SystemEvent { .. } => (None, None, false),
        };
        self.registry.do_send(Broadcast {
            event: "cron".to_owned(),
            payload: json!({"jobId": job.id, "action": "started", "runAtMs": started_at, "runId": run_id}),
        });
        // `runningAtMs` is on disk before the run starts (a crash then shows as interrupted).
        let saved = self.save();
        let registry = self.registry.clone();
        let run = run_job(
            registry,
            RunSpec {
                job,
                run_id: run_id.clone(),
                session_key,
                text,
                timeout,
                started_at,
                ack_max: None,
                model,
                strict_model: true,
                thinking,
                events_of: None,
                light,
            },
        );
        let id = id.to_owned();
        ctx.spawn(
            async move {
                let _ = saved.await;
                run.await
            }
            .into_actor(self)
            .map(move |outcome, act, ctx| act.finish(&id, outcome, ctx)),
        );
        Some(run_id)
    }

    /// Records a run's end: job state, run log, next run (or removal), the `cron` event.
    fn finish(&mut self, id: &str, o: Outcome, ctx: &mut Context<Self>) {
        self.running.remove(id);
        crate::metrics::METRICS.cron_runs[usize::from(!o.ok)].inc();
        let Some(job) = self.find_mut(id) else {
            // Removed while running: its log line still records the run.
            self.append_log(id, None, &o, None);
            self.arm(ctx);
            return;
        };
        let s = &mut job.state;
        s.running_at_ms = None;
        s.last_run_at_ms = Some(o.started_at);
        let status = if o.ok { "ok" } else { "error" };
        s.last_run_status = Some(status.to_owned());
        s.last_status = Some(status.to_owned());
        s.last_error = o.error.clone();
        s.last_duration_ms = Some(o.ended_at.saturating_sub(o.started_at));
        s.last_delivered = Some(o.delivery_status == "delivered");
        s.last_delivery_status = Some(o.delivery_status.to_owned());
        s.last_delivery_error = o.delivery_error.clone();
        let errors = if o.ok {
            0
        } else {
            s.consecutive_errors.unwrap_or(0).saturating_add(1)
        };
        s.consecutive_errors = (errors > 0).then_some(errors);
        let now = now_ms();
        let mut remove = false;
        if job.is_one_shot() {
            if o.ok {
                if job.delete_after_run != Some(false) {
                    remove = true;
                } else {
                    job.enabled = false;
                    job.state.next_run_at_ms = None;
                }
            } else if errors >= ONE_SHOT_TRIES {
                job.enabled = false;
                job.state.next_run_at_ms = None;
            } else {
                job.state.next_run_at_ms = Some(now.saturating_add(backoff_ms(errors)));
            }
        } else {
            Self::schedule_next(job, now);
            if errors > 0
                && let Some(n) = job.state.next_run_at_ms
            {
                job.state.next_run_at_ms = Some(n.max(now.saturating_add(backoff_ms(errors))));
            }
        }
        let next = job.state.next_run_at_ms;
        let name = job.name.clone();
        self.append_log(id, Some(&name), &o, next);
        if remove {
            self.jobs.retain(|j| j.id != id);
        }
        self.registry.do_send(Broadcast {
            event: "cron".to_owned(),
            payload: json!({"jobId": id, "action": if remove { "removed" } else { "finished" },
                "status": status, "runId": o.run_id, "nextRunAtMs": next}),
        });
        ctx.spawn(self.save().into_actor(self).map(|_, _, _| ()));
        self.arm(ctx);
    }

    fn append_log(&mut self, id: &str, name: Option<&str>, o: &Outcome, next: Option<u64>) {
        let mut line = json!({
            "ts": o.ended_at,
            "jobId": id,
            "action": "finished",
            "status": if o.ok { "ok" } else { "error" },
            "runId": o.run_id,
            "sessionKey": o.session_key,
            "runAtMs": o.started_at,
            "durationMs": o.ended_at.saturating_sub(o.started_at),
            "deliveryStatus": o.delivery_status,
            "delivered": o.delivery_status == "delivered",
        });
        if let Value::Object(m) = &mut line {
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("error", o.error.clone().map(Value::from));
            put("summary", o.summary.clone().map(Value::from));
            put("deliveryError", o.delivery_error.clone().map(Value::from));
            put("nextRunAtMs", next.map(Value::from));
            put("jobName", name.map(Value::from));
        }
        let name = run_log_name(id);
        let n = self.log_lines.entry(id.to_owned()).or_insert(0);
        *n += 1;
        let trim = *n >= 2 * RUN_LOG_KEEP;
        if trim {
            *n = RUN_LOG_KEEP;
        }
        let store = self.store.clone();
        let append = store.send(AppendLines {
            name: name.clone(),
            lines: vec![line],
            sync: false,
        });
        actix::spawn(async move {
            match append.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("cron run log not written: {e}"),
                Err(_) => return,
            }
            if trim {
                // Keep the last RUN_LOG_KEEP lines (rewritten atomically).
                if let Ok(Ok(lines)) = store
                    .send(LoadLines {
                        name: name.clone(),
                        limit: RUN_LOG_KEEP,
                        max_bytes: u64::MAX,
                    })
                    .await
                {
                    let mut contents = Vec::new();
                    for l in lines {
                        if serde_json::to_writer(&mut contents, &l).is_ok() {
                            contents.push(b'\n');
                        }
                    }
                    if let Ok(Err(e)) = store.send(SaveDocument { name, contents }).await {
                        log::warn!("cron run log not trimmed: {e}");
                    }
                }
            }
        });
    }

    /// The `cron` event for a change of the job list (operators with `operator.read`).
    fn announce(&self, id: &str, action: &str) {
        self.registry.do_send(Broadcast {
            event: "cron".to_owned(),
            payload: json!({"jobId": id, "action": action}),
        });
    }

    fn status(&self) -> Value {
        let next = self
            .jobs
            .iter()
            .filter(|j| j.enabled)
            .filter_map(|j| j.state.next_run_at_ms)
            .min();
        json!({
            "enabled": self.enabled,
            "triggersEnabled": false,
            "storePath": self.store_path,
            "storage": "file",
            "jobs": self.jobs.len(),
            "running": self.running.len(),
            "nextWakeAtMs": if self.enabled { next.map(Value::from).unwrap_or(Value::Null) } else { Value::Null },
        })
    }
}

/// A job that is not stored (a `wake`, a heartbeat), for [`run_job`].
fn synthetic_job(
    name: &str,
    target: &str,
    text: &str,
    delivery: Option<job::Delivery>,
    now: u64,
) -> CronJob {
    CronJob {
        id: name.to_owned(),
        agent_id: None,
        session_key: None,
        name: name.to_owned(),
        description: None,
        enabled: true,
        delete_after_run: None,
        created_at_ms: now,
        updated_at_ms: now,
        schedule: job::Schedule::At { at: String::new() },
        session_target: target.to_owned(),
        wake_mode: "now".to_owned(),
        payload: job::Payload::SystemEvent {
            text: text.to_owned(),
        },
        delivery,
        state: job::JobState::default(),
        created_by: None,
        shared_chat: false,
    }
}

/// Runs one job: submits the run, waits for its end (bounded), announces the answer.
async fn run_job(registry: Addr<Registry>, spec: RunSpec) -> Outcome {
    let RunSpec {
        job,
        run_id,
        session_key,
        text,
        timeout,
        started_at,
        ack_max,
        model,
        strict_model,
        thinking,
        events_of,
        light,
    } = spec;
    let mut o = Outcome {
        run_id: run_id.clone(),
        session_key: session_key.clone(),
        started_at,
        ended_at: started_at,
        ok: false,
        error: None,
        summary: None,
        delivery_status: "not-requested",
        delivery_error: None,
        acked: false,
    };
    let submitted = registry
        .send(SubmitCronRun {
            run_id: run_id.clone(),
            session_key: session_key.clone(),
            text,
            label: format!("cron:{}", job.name),
            policy_sender: job.created_by.clone(),
            fresh: job.session_target == "isolated",
            model,
            strict_model,
            thinking,
            events_of,
            light,
            shared: job.shared_chat,
        })
        .await;
    let reply = match submitted {
        Ok(Ok(_)) => {
            registry
                .send(WaitRun {
                    run_id: run_id.clone(),
                    timeout,
                })
                .await
        }
        Ok(Err(why)) => {
            o.error = Some(why);
            o.ended_at = now_ms();
            return o;
        }
        Err(_) => {
            o.error = Some("registry unavailable".to_owned());
            o.ended_at = now_ms();
            return o;
        }
    };
    o.ended_at = now_ms();
    let (answer, media) = match reply {
        Ok(WaitReply::Run(v)) => match v.status {
            WaitStatus::Ok => {
                o.ok = true;
                (v.text.unwrap_or_default(), v.media)
            }
            WaitStatus::Timeout => {
                registry.do_send(AbortRun {
                    session_key: session_key.clone(),
                    run_id: Some(run_id.clone()),
                });
                o.error = Some(format!("timed out after {} s", timeout.as_secs()));
                return o;
            }
            other => {
                o.error = Some(
                    v.error
                        .unwrap_or_else(|| format!("run ended: {}", other.as_str())),
                );
                return o;
            }
        },
        Ok(WaitReply::Failed { error, .. }) => {
            o.error = Some(error);
            return o;
        }
        Ok(WaitReply::Gone) | Err(_) => {
            o.error = Some("run record lost".to_owned());
            return o;
        }
    };
    o.summary = Some(answer.chars().take(SUMMARY_CHARS).collect());
    o.acked = ack_max.is_some_and(|m| heartbeat::is_ack(&answer, m));
    let silent = o.acked
        || (answer.trim().is_empty() && media.is_empty())
        || answer.trim().eq_ignore_ascii_case("NO_REPLY");
    if !job.announces() || silent {
        return o;
    }
    let d = job.delivery.clone().unwrap_or_default();
    let explicit = d
        .channel
        .as_deref()
        .filter(|c| *c != "last")
        .zip(d.to.as_deref());
    let channel = d.channel.clone().filter(|c| c != "last");
    let target = match explicit {
        Some((c, t)) => Some((c.to_owned(), t.to_owned())),
        // A job bound to a chat's session answers in that chat; else the last chat.
        None => {
            let own = match job.session_target.as_str() {
                "main" | "isolated" => None,
                _ => Some(session_key.clone()),
            };
            crate::registry::runs::own_or_last_chat(&registry, channel, own).await
        }
    };
    let Some((channel, to)) = target else {
        o.delivery_status = "not-delivered";
        o.delivery_error = Some(
            "no delivery target: set delivery.channel and delivery.to, or write to the bot once so there is a last chat".to_owned(),
        );
        if d.best_effort != Some(true) {
            o.ok = false;
            o.error = o.delivery_error.clone();
        }
        return o;
    };
    let thread_id = d.thread_id.as_ref().and_then(|t| match t {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let sent = registry
        .send(SendOutbound {
            channel,
            account_id: d.account_id.clone(),
            to,
            text: answer,
            media,
            files: Vec::new(),
            buttons: Vec::new(),
            sources: Default::default(),
            thread_id,
            reply_to: None,
            silent: false,
            idempotency_key: run_id.clone(),
            run: Some(crate::registry::channels::OutboundRun {
                session_key: session_key.clone(),
                run_id,
            }),
        })
        .await;
    match sent {
        Ok(Ok(_)) => o.delivery_status = "delivered",
        Ok(Err(e)) => {
            o.delivery_status = "not-delivered";
            o.delivery_error = Some(e.to_string());
        }
        Err(_) => {
            o.delivery_status = "not-delivered";
            o.delivery_error = Some("registry unavailable".to_owned());
        }
    }
    if o.delivery_status != "delivered" && d.best_effort != Some(true) {
        o.ok = false;
        o.error = o.delivery_error.clone();
    }
    o.ended_at = now_ms();
    o
}

impl Actor for CronService {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let now = now_ms();
        let mut changed = false;
        for job in &mut self.jobs {
            if job.state.running_at_ms.take().is_some() {
                // Interrupted by a crash or a restart: recorded as a failure; one-shot jobs
                // retry after the backoff, recurring ones keep their schedule.
                let errors = job.state.consecutive_errors.unwrap_or(0).saturating_add(1);
                job.state.consecutive_errors = Some(errors);
                job.state.last_run_status = Some("error".to_owned());
                job.state.last_status = Some("error".to_owned());
                job.state.last_error = Some("interrupted by a gateway restart".to_owned());
                job.state.next_run_at_ms = if job.is_one_shot() {
                    (errors < ONE_SHOT_TRIES).then(|| now.saturating_add(backoff_ms(errors)))
                } else {
                    job::next_run(&job.schedule, &job.id, job.created_at_ms, now)
                };
                if job.state.next_run_at_ms.is_none() {
                    job.enabled = false;
                }
                changed = true;
            } else if job.enabled && job.state.next_run_at_ms.is_none() {
                Self::schedule_next(job, now);
                changed = true;
            }
        }
        if changed {
            ctx.spawn(self.save().into_actor(self).map(|_, _, _| ()));
        }
        self.arm(ctx);
        self.arm_heartbeat(ctx);
    }
}

// === messages ===

/// `cron.status`.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct CronStatus;

impl Handler<CronStatus> for CronService {
    type Result = MessageResult<CronStatus>;

    fn handle(&mut self, _: CronStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.status())
    }
}

/// `cron.enabled` changed (config hot reload): start or stop running jobs on schedule.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetCronEnabled(pub bool);

impl Handler<SetCronEnabled> for CronService {
    type Result = ();

    fn handle(&mut self, msg: SetCronEnabled, ctx: &mut Self::Context) {
        if self.enabled != msg.0 {
            log::info!("cron: scheduler {}", if msg.0 { "on" } else { "off" });
        }
        self.enabled = msg.0;
        self.arm(ctx);
        self.arm_heartbeat(ctx);
    }
}

/// The heartbeats changed (config hot reload of `agents.defaults.heartbeat` or an agent's
/// `heartbeat`): the new settings, every timer armed again from now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetHeartbeat(pub Vec<heartbeat::HeartbeatSettings>);

impl Handler<SetHeartbeat> for CronService {
    type Result = ();

    fn handle(&mut self, msg: SetHeartbeat, ctx: &mut Self::Context) {
        self.set_beats(msg.0, ctx);
    }
}

/// `set-heartbeats {enabled}`: pause or resume the heartbeat (until a restart).
#[derive(Message)]
#[rtype(result = "Value")]
pub struct SetHeartbeats(pub bool);

impl Handler<SetHeartbeats> for CronService {
    type Result = MessageResult<SetHeartbeats>;

    fn handle(&mut self, msg: SetHeartbeats, ctx: &mut Self::Context) -> Self::Result {
        self.heartbeats_on = msg.0;
        self.arm_heartbeat(ctx);
        MessageResult(json!({"ok": true, "enabled": msg.0}))
    }
}

/// `last-heartbeat`: the last `heartbeat` event, or `null`.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct LastHeartbeat;

impl Handler<LastHeartbeat> for CronService {
    type Result = MessageResult<LastHeartbeat>;

    fn handle(&mut self, _: LastHeartbeat, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.last_heartbeat.clone().unwrap_or(Value::Null))
    }
}

/// `wake {mode, text, sessionKey?}` (OpenClaw's `openclaw system event`): with `now`, or a
/// session named, a turn runs now in that session (default: the main session), told
/// `System: <text>`, and its answer goes to that session's chat, else the chat written from
/// last (when there is one); with `next-heartbeat` the event waits for the session's next
/// run. Answers `{ok: true}` once the run is queued or the event kept.
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronWake {
    /// `now` (true) or `next-heartbeat`.
    pub now: bool,
    /// The event.
    pub text: String,
    /// The session (default: main).
    pub session_key: Option<String>,
    /// `text` is the run's whole prompt (a background command's completion), not an
    /// event shown as `System: <text>`.
    pub prompt: bool,
}

impl Handler<CronWake> for CronService {
    type Result = ResponseActFuture<Self, Result<Value, CronError>>;

    fn handle(&mut self, msg: CronWake, ctx: &mut Self::Context) -> Self::Result {
        let registry = self.registry.clone();
        if !msg.now && msg.session_key.is_none() {
            let fut = registry.send(crate::registry::runs::EnqueueSystemEvent {
                session_key: format!("agent:{}:main", crate::agents::default_id_now()),
                text: msg.text,
            });
            return Box::pin(
                async move {
                    match fut.await {
                        Ok(Ok(())) => Ok(json!({"ok": true, "mode": "next-heartbeat"})),
                        Ok(Err(e)) => Err(CronError::Unavailable(e)),
                        Err(_) => Err(CronError::Unavailable("registry unavailable".to_owned())),
                    }
                }
                .into_actor(self),
            );
        }
        let now = now_ms();
        let (target, key) = match msg.session_key {
            Some(k) => (format!("session:{k}"), k),
            None => (
                "main".to_owned(),
                format!("agent:{}:main", crate::agents::default_id_now()),
            ),
        };
        let delivery = job::Delivery {
            mode: "announce".to_owned(),
            best_effort: Some(true),
            ..job::Delivery::default()
        };
        let job = synthetic_job("wake", &target, &msg.text, Some(delivery), now);
        let run_id = format!("wake:{now}:{}", uuid::Uuid::new_v4().simple());
        let text = if msg.prompt {
            msg.text
        } else {
            format!("System: {}", msg.text)
        };
        ctx.spawn(
            run_job(
                registry,
                RunSpec {
                    job,
                    run_id: run_id.clone(),
                    session_key: key,
                    text,
                    timeout: DEFAULT_RUN_TIMEOUT,
                    started_at: now,
                    ack_max: None,
                    model: None,
                    strict_model: false,
                    thinking: None,
                    events_of: None,
                    light: false,
                },
            )
            .into_actor(self)
            .map(|o, _, _| {
                if let Some(e) = o.error {
                    log::warn!("wake run {}: {e}", o.run_id);
                }
            }),
        );
        Box::pin(actix::fut::ready(Ok(
            json!({"ok": true, "mode": "now", "runId": run_id}),
        )))
    }
}

/// `cron.list` (filters as OpenClaw's `CronListParamsSchema`, checked by the caller).
#[derive(Message, Default)]
#[rtype(result = "Value")]
pub struct CronList {
    /// Include disabled jobs (when `enabled` is not given).
    pub include_disabled: bool,
    /// `all`, `enabled`, `disabled`.
    pub enabled: Option<String>,
    /// `at`, `every`, `cron` (or `all`).
    pub schedule_kind: Option<String>,
    /// Case-insensitive text in id, name or description.
    pub query: Option<String>,
    /// `nextRunAtMs` (default), `updatedAtMs`, `name`.
    pub sort_by: Option<String>,
    /// `asc` (default) or `desc`.
    pub desc: bool,
    /// Page start.
    pub offset: usize,
    /// Page size (1–200; default: all, at most 200).
    pub limit: Option<usize>,
    /// Only jobs whose `sessionTarget` is this (the agent tool: `session:<its chat>`).
    pub bound_to: Option<String>,
    /// Add `deliveryPreviews` (by job id), which `openclaw cron list` shows.
    pub previews: bool,
}

impl Handler<CronList> for CronService {
    type Result = MessageResult<CronList>;

    fn handle(&mut self, q: CronList, _: &mut Self::Context) -> Self::Result {
        let query = q.query.as_deref().map(str::to_lowercase);
        let mut jobs: Vec<&CronJob> = self
            .jobs
            .iter()
            .filter(|j| q.bound_to.as_ref().is_none_or(|b| &j.session_target == b))
            .filter(|j| match q.enabled.as_deref() {
                Some("enabled") => j.enabled,
                Some("disabled") => !j.enabled,
                Some(_) => true,
                None => q.include_disabled || j.enabled,
            })
            .filter(|j| match q.schedule_kind.as_deref() {
                None | Some("all") => true,
                Some(k) => {
                    let kind = match j.schedule {
                        job::Schedule::At { .. } => "at",
                        job::Schedule::Every { .. } => "every",
                        job::Schedule::Cron { .. } => "cron",
                    };
                    kind == k
                }
            })
            .filter(|j| {
                query.as_deref().is_none_or(|needle| {
                    j.id.to_lowercase().contains(needle)
                        || j.name.to_lowercase().contains(needle)
                        || j.description
                            .as_deref()
                            .is_some_and(|d| d.to_lowercase().contains(needle))
                })
            })
            .collect();
        match q.sort_by.as_deref() {
            Some("name") => jobs.sort_by(|a, b| a.name.cmp(&b.name)),
            Some("updatedAtMs") => jobs.sort_by_key(|j| j.updated_at_ms),
            _ => jobs.sort_by_key(|j| j.state.next_run_at_ms.unwrap_or(u64::MAX)),
        }
        if q.desc {
            jobs.reverse();
        }
        let total = jobs.len();
        // OpenClaw's `snapshotRevision`: the CLI pages through one revision of the list and
        // starts over if it changes between pages.
        let snapshot_revision = {
            use base64::Engine as _;
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            for j in &jobs {
                if let Ok(b) = serde_json::to_vec(j) {
                    h.update(&b);
                }
            }
            format!(
                "sha256:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
            )
        };
        let offset = q.offset.min(total);
        let limit = q.limit.unwrap_or(total.max(50)).clamp(1, 200);
        let page: Vec<Value> = jobs
            .iter()
            .skip(offset)
            .take(limit)
            .map(|j| {
                let mut v = j.view();
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "effectiveAgentId".to_owned(),
                        Value::from(j.effective_agent()),
                    );
                }
                v
            })
            .collect();
        let next_offset = offset + page.len();
        let previews: serde_json::Map<String, Value> = if q.previews {
            jobs.iter()
                .skip(offset)
                .take(limit)
                .map(|j| (j.id.clone(), j.delivery_preview()))
                .collect()
        } else {
            serde_json::Map::new()
        };
        let mut out = json!({
            "jobs": page,
            "snapshotRevision": snapshot_revision,
            "total": total,
            "offset": offset,
            "limit": limit,
            "hasMore": next_offset < total,
            "nextOffset": if next_offset < total { Value::from(next_offset) } else { Value::Null },
        });
        if q.previews {
            out["deliveryPreviews"] = Value::Object(previews);
        }
        MessageResult(out)
    }
}

/// `cron.get`.
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronGet {
    /// Job id.
    pub id: String,
}

impl Handler<CronGet> for CronService {
    type Result = Result<Value, CronError>;

    fn handle(&mut self, msg: CronGet, _: &mut Self::Context) -> Self::Result {
        self.find(&msg.id)
            .map(CronJob::view)
            .ok_or(CronError::NotFound(msg.id))
    }
}

/// `cron.add`: answered once the job is on disk.
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronAdd {
    /// The params as sent.
    pub params: Value,
    /// The caller's session (a `current` target binds to it when no `sessionKey` is given).
    pub caller_session: Option<String>,
    /// The chat sender creating it through the agent (`<channel>:<senderId>`).
    pub created_by: Option<String>,
    /// Made from a shared chat (see [`job::CronJob::shared_chat`]).
    pub shared_chat: bool,
    /// At most this many jobs with the same `sessionTarget` (the agent tool's bound).
    pub per_chat_limit: Option<usize>,
}

impl Handler<CronAdd> for CronService {
    type Result = ResponseActFuture<Self, Result<Value, CronError>>;

    fn handle(&mut self, msg: CronAdd, ctx: &mut Self::Context) -> Self::Result {
        if self.jobs.len() >= job::MAX_JOBS {
            return Box::pin(actix::fut::ready(Err(CronError::Unavailable(format!(
                "too many cron jobs ({}); remove some first",
                job::MAX_JOBS
            )))));
        }
        let now = now_ms();
        let mut params = msg.params;
        if let (Some(s), Value::Object(o)) = (msg.caller_session, &mut params)
            && o.get("sessionTarget").and_then(Value::as_str) == Some("current")
            && !o.contains_key("sessionKey")
        {
            o.insert("sessionKey".to_owned(), Value::from(s));
        }
        let mut job = match job::parse_add(&params, uuid::Uuid::new_v4().to_string(), now) {
            Ok(j) => j,
            Err(e) => return Box::pin(actix::fut::ready(Err(CronError::Invalid(e)))),
        };
        if let Some(limit) = msg.per_chat_limit
            && self
                .jobs
                .iter()
                .filter(|j| j.session_target == job.session_target)
                .count()
                >= limit
        {
            return Box::pin(actix::fut::ready(Err(CronError::Invalid(format!(
                "this chat already has {limit} scheduled jobs; remove one first"
            )))));
        }
        job.created_by = msg.created_by;
        job.shared_chat = msg.shared_chat;
        Self::schedule_next(&mut job, now);
        let mut view = job.view();
        view["deliveryPreview"] = job.delivery_preview();
        let id = job.id.clone();
        self.jobs.push(job);
        self.arm(ctx);
        log::info!("cron: job {id} added");
        self.announce(&id, "added");
        Box::pin(self.save().into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                // Not on disk: not added.
                act.jobs.retain(|j| j.id != id);
                act.arm(ctx);
                return Err(e);
            }
            Ok(view)
        }))
    }
}

/// `cron.update`.
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronUpdate {
    /// Job id.
    pub id: String,
    /// OpenClaw's patch object.
    pub patch: Value,
}

impl Handler<CronUpdate> for CronService {
    type Result = ResponseActFuture<Self, Result<Value, CronError>>;

    fn handle(&mut self, msg: CronUpdate, ctx: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let Some(pos) = self.jobs.iter().position(|j| j.id == msg.id) else {
            return Box::pin(actix::fut::ready(Err(CronError::NotFound(msg.id))));
        };
        let old = self.jobs[pos].clone();
        let mut next = match job::apply_patch(&old, &msg.patch, now) {
            Ok(j) => j,
            Err(e) => return Box::pin(actix::fut::ready(Err(CronError::Invalid(e)))),
        };
        if next.schedule != old.schedule || next.enabled != old.enabled {
            Self::schedule_next(&mut next, now);
        }
        let view = next.view();
        self.jobs[pos] = next;
        self.announce(&msg.id, "updated");
        self.arm(ctx);
        let id = msg.id;
        Box::pin(self.save().into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                if let Some(j) = act.find_mut(&id) {
                    *j = old;
                }
                act.arm(ctx);
                return Err(e);
            }
            Ok(view)
        }))
    }
}

/// `cron.remove`: `{ok, removed}` once the jobs file no longer holds it. A run in
/// progress finishes (its answer is still delivered and logged).
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronRemove {
    /// Job id.
    pub id: String,
    /// Only a job whose `sessionTarget` is this (the agent tool: its own chat's jobs);
    /// another job is "not found".
    pub bound_to: Option<String>,
}

impl Handler<CronRemove> for CronService {
    type Result = ResponseActFuture<Self, Result<Value, CronError>>;

    fn handle(&mut self, msg: CronRemove, ctx: &mut Self::Context) -> Self::Result {
        let Some(pos) = self.jobs.iter().position(|j| {
            j.id == msg.id && msg.bound_to.as_ref().is_none_or(|b| &j.session_target == b)
        }) else {
            return Box::pin(actix::fut::ready(Err(CronError::NotFound(msg.id))));
        };
        let old = self.jobs.remove(pos);
        self.arm(ctx);
        log::info!("cron: job {} removed", msg.id);
        self.announce(&msg.id, "removed");
        Box::pin(self.save().into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                act.jobs.insert(pos.min(act.jobs.len()), old);
                act.arm(ctx);
                return Err(e);
            }
            Ok(json!({"ok": true, "removed": true}))
        }))
    }
}

/// `agents.delete`: removes the jobs that belong to the deleted agent (its `agentId`, or
/// made in one of its sessions); answers how many went. A job that only fell back to the
/// default agent stays.
#[derive(Message)]
#[rtype(result = "Result<usize, CronError>")]
pub struct RemoveAgentJobs {
    /// The deleted agent.
    pub agent: String,
}

impl Handler<RemoveAgentJobs> for CronService {
    type Result = ResponseActFuture<Self, Result<usize, CronError>>;

    fn handle(&mut self, msg: RemoveAgentJobs, ctx: &mut Self::Context) -> Self::Result {
        let owned = |j: &job::CronJob| {
            j.agent_id
                .as_deref()
                .map(|a| a.trim().to_ascii_lowercase())
                .or_else(|| {
                    j.session_key
                        .as_deref()
                        .and_then(crate::agents::key_agent)
                        .map(str::to_owned)
                })
                .is_some_and(|a| a == msg.agent)
        };
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.jobs)
            .into_iter()
            .partition(|j| owned(j));
        self.jobs = kept;
        if gone.is_empty() {
            return Box::pin(actix::fut::ready(Ok(0)));
        }
        self.arm(ctx);
        for j in &gone {
            log::info!("cron: job {} removed with its agent {}", j.id, msg.agent);
            self.announce(&j.id, "removed");
        }
        let n = gone.len();
        Box::pin(self.save().into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                act.jobs.extend(gone);
                act.arm(ctx);
                return Err(e);
            }
            Ok(n)
        }))
    }
}

/// `cron.run`: `force` (default) runs now, `if-enabled` only an enabled job, `due` only a
/// due one. Answers once the run is queued (`{ok, enqueued, runId}`) or why not
/// (`{ok, ran: false, reason}`).
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronRun {
    /// Job id.
    pub id: String,
    /// `force`, `if-enabled`, `due`.
    pub mode: String,
}

impl Handler<CronRun> for CronService {
    type Result = Result<Value, CronError>;

    fn handle(&mut self, msg: CronRun, ctx: &mut Self::Context) -> Self::Result {
        let Some(job) = self.find(&msg.id) else {
            return Err(CronError::NotFound(msg.id));
        };
        let not = |reason: &str| Ok(json!({"ok": true, "ran": false, "reason": reason}));
        if self.running.contains(&msg.id) {
            return not("already-running");
        }
        match msg.mode.as_str() {
            "if-enabled" if !job.enabled => return not("disabled"),
            "due" if !job.enabled => return not("disabled"),
            "due" if job.state.next_run_at_ms.is_none_or(|t| t > now_ms()) => {
                return not("not-due");
            }
            _ => {}
        }
        if self.running.len() >= MAX_CONCURRENT_RUNS {
            return Err(CronError::Unavailable(format!(
                "{MAX_CONCURRENT_RUNS} cron runs are in progress; retry when one ends"
            )));
        }
        let run_id = self.fire(&msg.id, ctx);
        self.arm(ctx);
        Ok(json!({"ok": true, "enqueued": true, "runId": run_id}))
    }
}

/// `cron.runs`: a page of run log entries, newest first unless `asc`.
#[derive(Message)]
#[rtype(result = "Result<Value, CronError>")]
pub struct CronRuns {
    /// One job's runs (`None`: every job's).
    pub id: Option<String>,
    /// Only these statuses.
    pub statuses: Vec<String>,
    /// Oldest first.
    pub asc: bool,
    /// Page start.
    pub offset: usize,
    /// Page size (1–200, default 50).
    pub limit: usize,
    /// Case-insensitive text in the summary or error.
    pub query: Option<String>,
    /// Only this run.
    pub run_id: Option<String>,
    /// Only these delivery statuses.
    pub delivery_statuses: Vec<String>,
}

impl Handler<CronRuns> for CronService {
    type Result = ResponseActFuture<Self, Result<Value, CronError>>;

    fn handle(&mut self, msg: CronRuns, _: &mut Self::Context) -> Self::Result {
        let ids: Vec<(String, String)> = match &msg.id {
            // A removed job's log is still read (a one-shot job is removed after its run);
            // the id has no path separator (checked by the caller), so it names a file in
            // `cron/runs/` only.
            Some(id) => vec![(
                id.clone(),
                self.find(id).map(|j| j.name.clone()).unwrap_or_default(),
            )],
            None => self
                .jobs
                .iter()
                .map(|j| (j.id.clone(), j.name.clone()))
                .collect(),
        };
        let store = self.store.clone();
        let per_job = if ids.len() > 1 { 200 } else { 2 * RUN_LOG_KEEP };
        Box::pin(
            async move {
                let mut entries: Vec<Value> = Vec::new();
                for (id, name) in ids {
                    let lines = store
                        .send(LoadLines {
                            name: run_log_name(&id),
                            limit: per_job,
                            max_bytes: u64::MAX,
                        })
                        .await;
                    if let Ok(Ok(lines)) = lines {
                        for mut l in lines {
                            if let Value::Object(m) = &mut l
                                && !name.is_empty()
                            {
                                m.entry("jobName")
                                    .or_insert_with(|| Value::from(name.clone()));
                            }
                            entries.push(l);
                        }
                    }
                }
                let query = msg.query.as_deref().map(str::to_lowercase);
                entries.retain(|e| {
                    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                    if msg.run_id.as_deref().is_some_and(|r| r != field("runId"))
                        || (!msg.delivery_statuses.is_empty()
                            && !msg
                                .delivery_statuses
                                .iter()
                                .any(|d| d == field("deliveryStatus")))
                    {
                        return false;
                    }
                    let status = e.get("status").and_then(Value::as_str).unwrap_or("");
                    (msg.statuses.is_empty() || msg.statuses.iter().any(|s| s == status))
                        && query.as_deref().is_none_or(|q| {
                            ["summary", "error", "jobName"].iter().any(|k| {
                                e.get(*k)
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| s.to_lowercase().contains(q))
                            })
                        })
                });
                entries.sort_by_key(|e| e.get("ts").and_then(Value::as_u64).unwrap_or(0));
                if !msg.asc {
                    entries.reverse();
                }
                let total = entries.len();
                let offset = msg.offset.min(total);
                let page: Vec<Value> = entries.into_iter().skip(offset).take(msg.limit).collect();
                let next = offset + page.len();
                Ok(json!({
                    "entries": page,
                    "total": total,
                    "offset": offset,
                    "limit": msg.limit,
                    "hasMore": next < total,
                    "nextOffset": if next < total { Value::from(next) } else { Value::Null },
                }))
            }
            .into_actor(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_openclaw() {
        let steps: Vec<u64> = (0..7).map(backoff_ms).collect();
        assert_eq!(
            steps,
            [0, 30_000, 60_000, 300_000, 900_000, 3_600_000, 3_600_000]
        );
    }

    #[test]
    fn not_found_carries_openclaw_code() {
        let s = CronError::NotFound("abc".into()).to_shape();
        let v = serde_json::to_value(&s).expect("shape");
        assert_eq!(v["code"], "INVALID_REQUEST");
        assert_eq!(v["details"]["code"], "CRON_JOB_NOT_FOUND");
        assert_eq!(v["details"]["jobId"], "abc");
    }
}
