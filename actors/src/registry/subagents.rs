//! The registry's sub-agents (see [`crate::subagents`]): a spawn's admission, each child's
//! run and time limit, the handoff of its result to the session that spawned it, and the
//! list and cancel of `subagents` and `/subagents`.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Registry;
use super::runs::{AgentDelivery, Queueing, RunOrigin, RunOutcome, RunRequest, RunStatus};
use crate::subagents::{Ended, Handoff, MAX_RUN, MAX_TRACKED, MAX_WAITING, SpawnAsk};
use crate::util::now_ms;

/// The active children, kept over a restart (relative to the state directory).
pub const RUNS_FILE: &str = "subagents/runs.json";

/// One active child as [`RUNS_FILE`] keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    run_id: String,
    child_key: String,
    requester_key: String,
    label: String,
    #[serde(default)]
    announce: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender: Option<String>,
    #[serde(default)]
    shared: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thread_id: Option<i64>,
}

/// [`RUNS_FILE`].
#[derive(Debug, Default, Serialize, Deserialize)]
struct RunsFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    runs: Vec<Saved>,
}

/// Where a child's result goes back to, and under whose policy.
#[derive(Clone)]
struct Requester {
    /// The requester's policy identity (`None`: an operator).
    sender: Option<String>,
    /// It answered a shared chat (a group, a stranger's open DM).
    shared: bool,
    /// Its chat (`None`: an operator's session; the review shows as `chat` events).
    delivery: Option<AgentDelivery>,
}

/// One child.
struct Child {
    run_id: String,
    child_key: String,
    requester_key: String,
    agent_id: String,
    label: String,
    task_name: Option<String>,
    /// The task message, until the child starts.
    text: Option<String>,
    model: Option<String>,
    thinking: Option<crate::ports::Thinking>,
    timeout: Duration,
    announce: bool,
    delete: bool,
    requester: Requester,
    created_at: u64,
    started_at: Option<u64>,
    ended_at: Option<u64>,
    ended: Option<Ended>,
    /// Stopped on purpose (cancel, kill, `/stop`): its end is a kill.
    killing: bool,
    /// Its time limit passed: its end is a time-out.
    timed_out: bool,
    /// The time limit's timer.
    timer: Option<SpawnHandle>,
    /// The start of its answer (for lists).
    preview: Option<String>,
}

impl Child {
    fn active(&self) -> bool {
        self.ended.is_none()
    }

    fn waiting(&self) -> bool {
        self.ended.is_none() && self.started_at.is_none()
    }

    fn status(&self) -> &'static str {
        match &self.ended {
            Some(e) => e.word(),
            None if self.started_at.is_some() => "running",
            None => "waiting",
        }
    }

    /// How long it ran (so far), in milliseconds; `None` before it started.
    fn ran(&self, now: u64) -> Option<u64> {
        let s = self.started_at?;
        Some(self.ended_at.unwrap_or(now).saturating_sub(s))
    }

    /// Its line in `/subagents` and `/status`: `#2 Flights · running · 1m12s`.
    fn line(&self, index: usize, now: u64) -> String {
        let mut line = format!("#{index} {} · {}", self.label, self.status());
        if let Some(ms) = self.ran(now) {
            line.push_str(&format!(" · {}", crate::subagents::runtime(ms)));
        }
        line
    }

    fn view(&self, index: usize, now: u64) -> Value {
        let ran = self.ran(now);
        let mut v = json!({"index": index, "taskId": self.run_id, "label": self.label,
            "status": self.status(), "agentId": self.agent_id, "sessionKey": self.child_key,
            "createdAt": self.created_at});
        if let Some(n) = &self.task_name {
            v["taskName"] = json!(n);
        }
        if let Some(ms) = ran {
            v["runtime"] = json!(crate::subagents::runtime(ms));
        }
        if let Some(Ended::Failed(why)) = &self.ended {
            v["error"] = json!(why);
        }
        if let Some(p) = &self.preview {
            v["resultPreview"] = json!(p);
        }
        v
    }
}

/// One child as the task ledger (`tasks.*`) shows it: a snapshot.
pub(super) struct TaskRow {
    /// Its run id (its task id).
    pub id: String,
    /// OpenClaw's ledger status: `queued`, `running`, `completed`, `failed`, `cancelled`,
    /// `timed_out`.
    pub status: &'static str,
    /// Its label.
    pub title: String,
    /// The agent it runs as.
    pub agent_id: String,
    /// The session that spawned it.
    pub requester_key: String,
    /// Its own session.
    pub child_key: String,
    /// When it was spawned, started and ended (ms).
    pub created_at: u64,
    /// See [`Self::created_at`].
    pub started_at: Option<u64>,
    /// See [`Self::created_at`].
    pub ended_at: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The start of its answer.
    pub result: Option<String>,
    /// Its task, until it starts.
    pub prompt: Option<String>,
}

impl TaskRow {
    /// Its last change (ms).
    pub fn updated_at(&self) -> u64 {
        self.ended_at.or(self.started_at).unwrap_or(self.created_at)
    }
}

impl Child {
    fn task_row(&self) -> TaskRow {
        let status = match &self.ended {
            None if self.started_at.is_some() => "running",
            None => "queued",
            Some(Ended::Ok) => "completed",
            Some(Ended::Failed(_) | Ended::Interrupted) => "failed",
            Some(Ended::TimedOut(_)) => "timed_out",
            Some(Ended::Killed) => "cancelled",
        };
        let error = match &self.ended {
            Some(Ended::Failed(why)) => Some(why.clone()),
            Some(Ended::Interrupted) => Some("the gateway stopped while it ran".to_owned()),
            Some(Ended::TimedOut(secs)) => Some(format!("timed out after {secs} s")),
            _ => None,
        };
        TaskRow {
            id: self.run_id.clone(),
            status,
            title: self.label.clone(),
            agent_id: self.agent_id.clone(),
            requester_key: self.requester_key.clone(),
            child_key: self.child_key.clone(),
            created_at: self.created_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            error,
            result: self.preview.clone(),
            prompt: self
                .text
                .as_deref()
                .map(|t| crate::subagents::clean(t, 2000)),
        }
    }
}

/// The registry's children, oldest first.
#[derive(Default)]
pub struct Children {
    list: VecDeque<Child>,
    running: usize,
    /// The handoffs of children a restart interrupted, waiting for their chat's channel
    /// to register.
    recovered: Vec<RunRequest>,
}

impl Children {
    /// Every child kept, as the task ledger shows them.
    pub(super) fn task_rows(&self) -> Vec<TaskRow> {
        self.list.iter().map(Child::task_row).collect()
    }

    /// The child whose task id is `id`, as the task ledger shows it.
    pub(super) fn task_row(&self, id: &str) -> Option<TaskRow> {
        self.list
            .iter()
            .find(|c| c.run_id == id)
            .map(Child::task_row)
    }

    /// Whether session `key` is a sub-agent that `requester` spawned (and is still listed).
    pub(super) fn is_child_of(&self, key: &str, requester: &str) -> bool {
        self.list
            .iter()
            .any(|c| c.child_key == key && c.requester_key == requester)
    }

    fn get_mut(&mut self, run_id: &str) -> Option<&mut Child> {
        self.list.iter_mut().find(|c| c.run_id == run_id)
    }

    /// The children of `requester`, oldest first, numbered from 1.
    fn of<'a>(&'a self, requester: &'a str) -> impl Iterator<Item = (usize, &'a Child)> + 'a {
        self.list
            .iter()
            .filter(move |c| c.requester_key == requester)
            .enumerate()
            .map(|(i, c)| (i + 1, c))
    }

    /// Drops finished children older than `keep`, then the oldest finished ones while more
    /// than `max` are kept. Whether there is room for one more.
    fn prune(&mut self, keep: Duration, now: u64, max: usize) -> bool {
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        self.list
            .retain(|c| c.ended_at.is_none_or(|e| now.saturating_sub(e) < keep));
        while self.list.len() >= max {
            match self.list.iter().position(|c| !c.active()) {
                Some(i) => {
                    self.list.remove(i);
                }
                None => return false,
            }
        }
        true
    }

    /// The run ids `target` names among `requester`'s children: `all` (the active ones), a
    /// list number (`2`, `#2`), a task id (or a unique prefix of 6 characters or more), a
    /// `taskName` or a label (exact, any case). `Err` says why none.
    fn resolve(&self, requester: &str, target: &str) -> Result<Vec<String>, String> {
        let t = target.trim();
        let mine: Vec<(usize, &Child)> = self.of(requester).collect();
        if mine.is_empty() {
            return Err("this conversation has no sub-agents".into());
        }
        if t.eq_ignore_ascii_case("all") {
            return Ok(mine
                .iter()
                .filter(|(_, c)| c.active())
                .map(|(_, c)| c.run_id.clone())
                .collect());
        }
        if let Ok(n) = t.trim_start_matches('#').parse::<usize>() {
            return mine
                .iter()
                .find(|(i, _)| *i == n)
                .map(|(_, c)| vec![c.run_id.clone()])
                .ok_or_else(|| format!("there is no sub-agent #{n}; the list has {}", mine.len()));
        }
        let hits: Vec<&str> = mine
            .iter()
            .filter(|(_, c)| {
                c.run_id == t
                    || (t.len() >= 6 && c.run_id.starts_with(t))
                    || c.task_name.as_deref() == Some(t)
                    || c.label.eq_ignore_ascii_case(t)
            })
            .map(|(_, c)| c.run_id.as_str())
            .collect();
        match hits.as_slice() {
            [one] => Ok(vec![(*one).to_owned()]),
            [] => Err(format!(
                "no sub-agent of this conversation is {:?}; list them first",
                crate::subagents::clean(t, 64)
            )),
            _ => Err(format!(
                "{:?} names {} sub-agents; use the list number or the taskId",
                crate::subagents::clean(t, 64),
                hits.len()
            )),
        }
    }
}

/// `sessions_spawn`: a child for the run of `session_key` (`origin`: the requester's).
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct SpawnSubagent {
    /// The requester's session.
    pub session_key: String,
    /// The requester's origin.
    pub origin: RunOrigin,
    /// What it asks.
    pub ask: SpawnAsk,
}

impl Handler<SpawnSubagent> for Registry {
    type Result = Result<Value, String>;

    fn handle(&mut self, msg: SpawnSubagent, ctx: &mut Self::Context) -> Self::Result {
        let requester = match &msg.origin {
            RunOrigin::Channel { inbound, .. } => Requester {
                sender: msg.origin.policy_sender(),
                shared: inbound.shared(),
                delivery: Some(AgentDelivery {
                    channel: Some(inbound.channel.clone()),
                    to: Some(inbound.chat_id.to_string()),
                    account_id: Some(inbound.account_id.clone()),
                    thread_id: inbound.thread_id,
                    best_effort: false,
                }),
            },
            RunOrigin::Operator => Requester {
                sender: None,
                shared: false,
                delivery: None,
            },
            _ => {
                return Err(
                    "sub-agents are started from a chat or an operator's session only".into(),
                );
            }
        };
        let live = self.shared.live.get();
        let key = msg.session_key;
        let own = crate::agents::key_agent(&key)
            .unwrap_or(live.agents.default_id())
            .to_owned();
        // The requester's agent's own settings (`agents.entries.<id>.subagents`), else the
        // defaults; `maxConcurrent` is always the gateway's.
        let settings = live
            .agents
            .get(&own)
            .and_then(|a| a.subagents.as_deref())
            .unwrap_or(&live.subagents);
        let now = now_ms();
        let ask = msg.ask;
        let active = self
            .children
            .list
            .iter()
            .filter(|c| c.requester_key == key && c.active())
            .count();
        if active >= settings.max_children {
            return Err(format!(
                "this conversation already has {active} sub-agents running or waiting (agents.defaults.subagents.maxChildrenPerAgent); wait for one to report back, or stop one with subagents cancel"
            ));
        }
        if self.children.list.iter().filter(|c| c.waiting()).count() >= MAX_WAITING {
            return Err(format!(
                "{MAX_WAITING} sub-agents are already waiting for a free slot on this gateway; try again later"
            ));
        }
        let agent_id = ask.agent_id.clone().unwrap_or_else(|| own.clone());
        if !settings.may_target(&own, &agent_id) {
            return Err(format!(
                "agentId {agent_id} is not allowed: agents.defaults.subagents.allowAgents does not list it (a sub-agent runs as your own agent {own})"
            ));
        }
        if live.agents.get(&agent_id).is_none() {
            return Err(format!("there is no agent {agent_id}"));
        }
        let mut warning = None;
        let model = match ask.model.clone().or_else(|| settings.model.clone()) {
            Some(m) => match self.model.pick(&m) {
                Ok(_) => Some(m),
                Err(e) => {
                    warning = Some(format!(
                        "model {m} is not available ({e}); the sub-agent runs on its agent's model"
                    ));
                    None
                }
            },
            None => None,
        };
        if !self
            .children
            .prune(settings.archive_after, now, MAX_TRACKED)
        {
            return Err(format!(
                "{MAX_TRACKED} sub-agents are active on this gateway; try again later"
            ));
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let child_key = format!("agent:{agent_id}:subagent:{run_id}");
        let timeout = match ask.timeout_secs {
            Some(0) => MAX_RUN,
            Some(s) => Duration::from_secs(s),
            None => settings.run_timeout.unwrap_or(MAX_RUN),
        };
        log::info!(
            "session {key}: sub-agent {run_id} ({}) spawned as {child_key}",
            ask.label
        );
        self.children.list.push_back(Child {
            run_id: run_id.clone(),
            child_key: child_key.clone(),
            requester_key: key,
            agent_id: agent_id.clone(),
            label: ask.label.clone(),
            task_name: ask.task_name.clone(),
            text: Some(crate::subagents::task_message(&ask)),
            model: model.clone(),
            thinking: ask.thinking.or(settings.thinking),
            timeout,
            announce: ask.announce,
            delete: ask.delete,
            requester,
            created_at: now,
            started_at: None,
            ended_at: None,
            ended: None,
            killing: false,
            timed_out: false,
            timer: None,
            preview: None,
        });
        let queued = self.children.running >= live.subagents.max_concurrent;
        if !queued {
            self.start_child(&run_id, ctx);
        }
        self.save_children();
        let mut v = json!({"status": "accepted", "taskId": run_id, "runId": run_id,
        "childSessionKey": child_key, "agentId": agent_id, "mode": "run", "context": "isolated",
        "queued": queued,
        "note": if ask.announce {
            "The sub-agent works in the background; its result comes back to you in a later message when it ends. Do not poll: tell the user it is running."
        } else {
            "The sub-agent works in the background; it does not report back (expectsCompletionMessage false)."
        }});
        if let Some(m) = model {
            v["resolvedModel"] = json!(m);
        }
        if let Some(w) = warning {
            v["warning"] = json!(w);
        }
        Ok(v)
    }
}

/// The turn that hands child `run_id`'s `text` back to `requester_key`.
fn handoff_request(
    run_id: &str,
    requester_key: &str,
    label: &str,
    requester: &Requester,
    text: String,
) -> RunRequest {
    RunRequest {
        delivery: requester.delivery.clone(),
        ..RunRequest::new(
            format!("subagent-result:{run_id}"),
            requester_key.to_owned(),
            text,
            RunOrigin::Subagent {
                sender: requester.sender.clone(),
                shared: requester.shared,
                child: false,
            },
            Some(format!("subagent:{label}")),
        )
    }
}

impl Registry {
    /// Starts the waiting child `run_id`.
    fn start_child(&mut self, run_id: &str, ctx: &mut Context<Self>) {
        let Some(c) = self.children.get_mut(run_id) else {
            return;
        };
        c.started_at = Some(now_ms());
        let req = RunRequest {
            thinking: c.thinking,
            model: c.model.clone(),
            queue: Queueing::Alone,
            ..RunRequest::new(
                c.run_id.clone(),
                c.child_key.clone(),
                c.text.take().unwrap_or_default(),
                RunOrigin::Subagent {
                    sender: c.requester.sender.clone(),
                    shared: c.requester.shared,
                    child: true,
                },
                Some(format!("subagent:{}", c.label)),
            )
        };
        let timeout = c.timeout;
        let id = c.run_id.clone();
        c.timer = Some(ctx.run_later(timeout, move |act, ctx| {
            act.child_timed_out(&id, ctx);
        }));
        self.children.running += 1;
        if let Err(e) = self.submit(req, ctx) {
            self.child_ended(run_id, Ended::Failed(e.to_string()), None, ctx);
        }
    }

    /// A child's time limit passed: it is stopped (its end then reports the time-out).
    fn child_timed_out(&mut self, run_id: &str, _: &mut Context<Self>) {
        let Some(c) = self.children.get_mut(run_id) else {
            return;
        };
        if !c.active() {
            return;
        }
        c.timed_out = true;
        c.timer = None;
        let key = c.child_key.clone();
        log::warn!(
            "sub-agent {run_id}: its time limit ({} s) passed; stopped",
            c.timeout.as_secs()
        );
        self.abort_runs(&key, Some(run_id));
    }

    /// Called for every run that ends in a sub-agent's session.
    pub(super) fn child_run_finished(
        &mut self,
        run_id: &str,
        outcome: &RunOutcome,
        ctx: &mut Context<Self>,
    ) {
        let Some(c) = self.children.get_mut(run_id) else {
            return;
        };
        let ended = if c.timed_out {
            Ended::TimedOut(c.timeout.as_secs())
        } else if c.killing {
            Ended::Killed
        } else {
            match outcome.status {
                RunStatus::Ok => Ended::Ok,
                RunStatus::Aborted => Ended::Failed("stopped".into()),
                _ => Ended::Failed(
                    outcome
                        .error
                        .clone()
                        .unwrap_or_else(|| "the run failed".into()),
                ),
            }
        };
        self.child_ended(run_id, ended, Some(outcome), ctx);
    }

    /// Records how `run_id` ended, hands its result back, starts a waiting child.
    fn child_ended(
        &mut self,
        run_id: &str,
        ended: Ended,
        outcome: Option<&RunOutcome>,
        ctx: &mut Context<Self>,
    ) {
        let now = now_ms();
        let Some(c) = self.children.get_mut(run_id) else {
            return;
        };
        if !c.active() {
            return;
        }
        if let Some(t) = c.timer.take() {
            ctx.cancel_future(t);
        }
        let started = c.started_at.is_some();
        c.ended_at = Some(now);
        let text = outcome.map_or("", |o| o.text.as_str());
        if ended == Ended::Ok {
            c.preview = Some(crate::subagents::clean(text, 300));
        }
        log::info!("sub-agent {run_id} ({}): {}", c.label, ended.word());
        let handoff = (c.announce && ended != Ended::Killed).then(|| {
            let tokens = outcome.filter(|o| o.usage.calls > 0).map(|o| {
                (
                    o.usage.input + o.usage.cache_read + o.usage.cache_write,
                    o.usage.output,
                )
            });
            let text = Handoff {
                label: &c.label,
                child_key: &c.child_key,
                ended: &ended,
                result: text,
                runtime_ms: now.saturating_sub(c.started_at.unwrap_or(now)),
                tokens,
            }
            .text();
            handoff_request(run_id, &c.requester_key, &c.label, &c.requester, text)
        });
        let delete = (c.delete && started).then(|| c.child_key.clone());
        c.ended = Some(ended);
        if started {
            self.children.running = self.children.running.saturating_sub(1);
        }
        if let Some(req) = handoff {
            let key = req.session_key.clone();
            if let Err(e) = self.submit(req, ctx) {
                log::warn!("sub-agent {run_id}: its result could not go back to {key}: {e}");
            }
        }
        if let Some(key) = delete {
            ctx.notify(super::session_reset::DeleteSession {
                key,
                archive_transcript: true,
                expected_session_id: None,
                expected_updated_at: None,
            });
        }
        self.start_waiting_children(ctx);
        self.save_children();
    }

    /// Writes the active children to [`RUNS_FILE`] (through the store, in order).
    fn save_children(&self) {
        let runs = self
            .children
            .list
            .iter()
            .filter(|c| c.active())
            .map(|c| {
                let d = c.requester.delivery.as_ref();
                Saved {
                    run_id: c.run_id.clone(),
                    child_key: c.child_key.clone(),
                    requester_key: c.requester_key.clone(),
                    label: c.label.clone(),
                    announce: c.announce,
                    sender: c.requester.sender.clone(),
                    shared: c.requester.shared,
                    channel: d.and_then(|d| d.channel.clone()),
                    to: d.and_then(|d| d.to.clone()),
                    account_id: d.and_then(|d| d.account_id.clone()),
                    thread_id: d.and_then(|d| d.thread_id),
                }
            })
            .collect();
        let file = RunsFile { version: 1, runs };
        self.store.do_send(crate::store::SaveDocument {
            name: RUNS_FILE.to_owned(),
            contents: serde_json::to_vec_pretty(&file).unwrap_or_default(),
        });
    }

    /// At start: the children the last process left active were interrupted. Each one's
    /// requester is told (an operator's session now, a chat's once its channel registers).
    /// The file is read by the store, off the registry's thread.
    pub(super) fn recover_children(&mut self, ctx: &mut Context<Self>) {
        let load = self.store.send(crate::store::LoadDocument {
            name: RUNS_FILE.to_owned(),
        });
        ctx.spawn(
            async move { crate::store::StoreError::flatten(load.await) }
                .into_actor(self)
                .map(|loaded, act, ctx| {
                    let file: RunsFile = match loaded {
                        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                            Ok(f) => f,
                            Err(e) => {
                                log::warn!(
                                    "{RUNS_FILE} is not readable ({e}); the interrupted sub-agents are not reported"
                                );
                                RunsFile::default()
                            }
                        },
                        Ok(None) => return,
                        Err(e) => {
                            log::warn!("{RUNS_FILE}: {e}");
                            return;
                        }
                    };
                    act.report_interrupted(file, ctx);
                }),
        );
    }

    /// Hands each child of `file` (the last process's active ones) back as interrupted:
    /// an operator's at once, a chat's once its channel is registered.
    fn report_interrupted(&mut self, file: RunsFile, ctx: &mut Context<Self>) {
        let had = !file.runs.is_empty();
        for s in file.runs.into_iter().take(MAX_TRACKED) {
            log::warn!(
                "sub-agent {} ({}): interrupted by the restart; its requester {} is told",
                s.run_id,
                s.label,
                s.requester_key
            );
            if !s.announce {
                continue;
            }
            let requester = Requester {
                sender: s.sender,
                shared: s.shared,
                delivery: s.channel.map(|channel| AgentDelivery {
                    channel: Some(channel),
                    to: s.to,
                    account_id: s.account_id,
                    thread_id: s.thread_id,
                    best_effort: false,
                }),
            };
            let text = Handoff {
                label: &s.label,
                child_key: &s.child_key,
                ended: &Ended::Interrupted,
                result: "",
                runtime_ms: 0,
                tokens: None,
            }
            .text();
            let req = handoff_request(&s.run_id, &s.requester_key, &s.label, &requester, text);
            if requester.delivery.is_some() {
                self.children.recovered.push(req);
            } else if let Err(e) = self.submit(req, ctx) {
                log::warn!(
                    "sub-agent {}: the interruption could not be reported: {e}",
                    s.run_id
                );
            }
        }
        // Channels registered while the file was read take theirs now.
        let kinds: Vec<&'static str> = self.channels.keys().map(|(k, _)| *k).collect();
        for kind in kinds {
            self.report_recovered(kind, ctx);
        }
        if had && self.children.recovered.is_empty() {
            self.save_children();
        }
    }

    /// A channel of kind `kind` registered: the interrupted children's reports to its chats
    /// go now.
    pub(super) fn report_recovered(&mut self, kind: &str, ctx: &mut Context<Self>) {
        if self.children.recovered.is_empty() {
            return;
        }
        let (now, later): (Vec<RunRequest>, Vec<RunRequest>) =
            std::mem::take(&mut self.children.recovered)
                .into_iter()
                .partition(|r| {
                    r.delivery
                        .as_ref()
                        .and_then(|d| d.channel.as_deref())
                        .is_some_and(|c| c.eq_ignore_ascii_case(kind))
                });
        self.children.recovered = later;
        if now.is_empty() {
            return;
        }
        for req in now {
            let id = req.run_id.clone();
            if let Err(e) = self.submit(req, ctx) {
                log::warn!("{id}: the interruption could not be reported: {e}");
            }
        }
        if self.children.recovered.is_empty() {
            self.save_children();
        }
    }

    /// Starts waiting children while slots are free.
    fn start_waiting_children(&mut self, ctx: &mut Context<Self>) {
        let max = self.shared.live.get().subagents.max_concurrent;
        while self.children.running < max {
            let Some(id) = self
                .children
                .list
                .iter()
                .find(|c| c.waiting())
                .map(|c| c.run_id.clone())
            else {
                break;
            };
            self.start_child(&id, ctx);
        }
    }

    /// Stops the children `target` names among `requester`'s ([`Children::resolve`]);
    /// their labels.
    pub(super) fn kill_children(
        &mut self,
        requester: &str,
        target: &str,
        ctx: &mut Context<Self>,
    ) -> Result<Vec<String>, String> {
        let ids = self.children.resolve(requester, target)?;
        Ok(ids
            .iter()
            .filter_map(|id| self.kill_child(id, ctx))
            .collect())
    }

    /// Stops child `id`; its label when it was going (one being stopped already is not
    /// stopped, or counted, twice).
    fn kill_child(&mut self, id: &str, ctx: &mut Context<Self>) -> Option<String> {
        let c = self.children.get_mut(id)?;
        if !c.active() || c.killing {
            return None;
        }
        let label = c.label.clone();
        if c.started_at.is_none() {
            self.child_ended(id, Ended::Killed, None, ctx);
        } else {
            c.killing = true;
            let key = c.child_key.clone();
            self.abort_runs(&key, Some(id));
        }
        Some(label)
    }

    /// `tasks.cancel`: stops the child whose task id is `id`. `None`: no such child;
    /// `Some(Err(why))`: it is not going any more.
    pub(super) fn cancel_task(
        &mut self,
        id: &str,
        ctx: &mut Context<Self>,
    ) -> Option<Result<(), String>> {
        let c = self.children.list.iter().find(|c| c.run_id == id)?;
        if !c.active() {
            return Some(Err(format!("task is already {}", c.status())));
        }
        if c.killing {
            return Some(Err("task is already being cancelled".into()));
        }
        Some(match self.kill_child(id, ctx) {
            Some(_) => Ok(()),
            None => Err("task is not running".into()),
        })
    }

    /// Stops every active child of `requester` (`/stop`); how many.
    pub(super) fn kill_all_children(&mut self, requester: &str, ctx: &mut Context<Self>) -> usize {
        if !self
            .children
            .list
            .iter()
            .any(|c| c.requester_key == requester && c.active())
        {
            return 0;
        }
        self.kill_children(requester, "all", ctx)
            .map_or(0, |k| k.len())
    }

    /// `/status`'s lines on `requester`'s active children: the counts, then at most three
    /// (none: no line).
    pub(super) fn children_status(&self, requester: &str) -> Vec<String> {
        let active: Vec<(usize, &Child)> = self
            .children
            .of(requester)
            .filter(|(_, c)| c.active())
            .collect();
        if active.is_empty() {
            return Vec::new();
        }
        let running = active.iter().filter(|(_, c)| !c.waiting()).count();
        let mut lines = vec![format!(
            "🤖 Sub-agents: {running} running, {} waiting (/subagents)",
            active.len() - running
        )];
        let now = now_ms();
        for (i, c) in active.iter().take(3) {
            lines.push(format!("  {}", c.line(*i, now)));
        }
        lines
    }

    /// `requester`'s children as `subagents list` shows them.
    pub(super) fn list_children(&mut self, requester: &str) -> Vec<Value> {
        let now = now_ms();
        let keep = self.shared.live.get().subagents.archive_after;
        self.children.prune(keep, now, usize::MAX);
        self.children
            .of(requester)
            .map(|(i, c)| c.view(i, now))
            .collect()
    }

    /// `/subagents list|info|kill`: the answer for the chat of `requester`.
    pub(super) fn subagents_command(
        &mut self,
        ask: &SubagentsAsk,
        requester: &str,
        ctx: &mut Context<Self>,
    ) -> String {
        match ask {
            SubagentsAsk::List => {
                let now = now_ms();
                let keep = self.shared.live.get().subagents.archive_after;
                self.children.prune(keep, now, usize::MAX);
                let mut lines: Vec<String> = self
                    .children
                    .of(requester)
                    .map(|(i, c)| c.line(i, now))
                    .collect();
                if lines.is_empty() {
                    return "🤖 No sub-agents in this conversation.".into();
                }
                lines.insert(0, format!("🤖 Sub-agents ({}):", lines.len()));
                lines.push("/subagents info <#> · /subagents kill <#|all>".into());
                lines.join("\n")
            }
            SubagentsAsk::Info(target) => {
                let ids = match self.children.resolve(requester, target) {
                    Ok(ids) => ids,
                    Err(e) => return format!("⚙️ {e}."),
                };
                let now = now_ms();
                let mut out = Vec::new();
                for (i, c) in self.children.of(requester) {
                    if !ids.contains(&c.run_id) {
                        continue;
                    }
                    let mut lines = vec![
                        format!("🤖 #{i} {}", c.label),
                        format!("Status: {}", c.status()),
                        format!("Task id: {}", c.run_id),
                        format!("Session: {}", c.child_key),
                    ];
                    if let Some(ms) = c.ran(now) {
                        lines.push(format!("Runtime: {}", crate::subagents::runtime(ms)));
                    }
                    if let Some(Ended::Failed(why)) = &c.ended {
                        lines.push(format!("Error: {why}"));
                    }
                    if let Some(p) = &c.preview {
                        lines.push(format!("Result: {p}"));
                    }
                    out.push(lines.join("\n"));
                }
                out.join("\n\n")
            }
            SubagentsAsk::Kill(target) => match self.kill_children(requester, target, ctx) {
                Ok(k) if k.is_empty() => "⚙️ Nothing to stop: no sub-agent is running.".into(),
                Ok(k) => format!("⚙️ Stopped: {}.", k.join(", ")),
                Err(e) => format!("⚙️ {e}."),
            },
            SubagentsAsk::Bad(word) => {
                format!("⚙️ /subagents takes list, info <#> or kill <#|all>, not {word:?}.")
            }
        }
    }
}

/// What `/subagents` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubagentsAsk {
    /// `list` (or nothing).
    List,
    /// `info <target>`.
    Info(String),
    /// `kill <target>` (`stop`, `cancel`).
    Kill(String),
    /// Something else (shortened).
    Bad(String),
}

impl SubagentsAsk {
    /// Parses the words after `/subagents`.
    pub fn parse(rest: &str) -> Self {
        let mut words = rest.split_whitespace();
        let verb = words.next().unwrap_or("list").to_ascii_lowercase();
        let target = words.next().unwrap_or_default().to_owned();
        match verb.as_str() {
            "list" | "ls" => Self::List,
            "info" | "log" if !target.is_empty() => Self::Info(target),
            "kill" | "stop" | "cancel" if !target.is_empty() => Self::Kill(target),
            other => Self::Bad(other.chars().take(32).collect()),
        }
    }
}

/// `subagents list|cancel|wait` from a run in `session_key`.
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct SubagentsTool {
    /// The requester's session.
    pub session_key: String,
    /// The tool's arguments.
    pub args: Value,
}

impl Handler<SubagentsTool> for Registry {
    type Result = ResponseActFuture<Self, Result<Value, String>>;

    fn handle(&mut self, msg: SubagentsTool, ctx: &mut Self::Context) -> Self::Result {
        let ready = |r| Box::pin(actix::fut::ready(r));
        let key = msg.session_key;
        let action = msg
            .args
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("list");
        match action {
            "list" => ready(Ok(
                json!({"ok": true, "subagents": self.list_children(&key)}),
            )),
            "cancel" | "kill" => {
                let target = msg
                    .args
                    .get("taskId")
                    .or_else(|| msg.args.get("target"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if target.trim().is_empty() {
                    return ready(Err("cancel needs taskId (from list), or all".into()));
                }
                ready(
                    self.kill_children(&key, target, ctx)
                        .map(|k| json!({"ok": true, "cancelled": k})),
                )
            }
            "wait" => {
                let ids: Vec<String> =
                    match msg.args.get("taskIds").or_else(|| msg.args.get("taskId")) {
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                        Some(Value::String(s)) => vec![s.clone()],
                        _ => Vec::new(),
                    };
                if ids.is_empty() || ids.len() > 32 {
                    return ready(Err("wait needs taskIds: 1 to 32 ids from list".into()));
                }
                let secs = msg
                    .args
                    .get("timeoutSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(30)
                    .min(60);
                let mut waits = Vec::new();
                for id in &ids {
                    let mine = self
                        .children
                        .list
                        .iter()
                        .any(|c| c.requester_key == key && c.run_id == *id);
                    if !mine {
                        return ready(Err(format!(
                            "no sub-agent of this conversation has taskId {:?}",
                            crate::subagents::clean(id, 64)
                        )));
                    }
                    let running = self
                        .children
                        .list
                        .iter()
                        .any(|c| c.run_id == *id && c.active());
                    if !running {
                        waits.clear();
                        break;
                    }
                    if let super::scheduler::WaitAdmission::Waiting(rx) = self.runs.wait(id) {
                        waits.push(rx);
                    }
                }
                let wait = Duration::from_secs(secs);
                Box::pin(
                    async move {
                        if !waits.is_empty() && !wait.is_zero() {
                            let any = futures_util::future::select_all(waits);
                            let _ = actix_web::rt::time::timeout(wait, any).await;
                        }
                    }
                    .into_actor(self)
                    .map(move |(), act, _| {
                        let rows: Vec<Value> = act
                            .list_children(&key)
                            .into_iter()
                            .filter(|r| ids.iter().any(|id| r["taskId"] == json!(id)))
                            .collect();
                        let done = rows.iter().any(|r| {
                            !matches!(r["status"].as_str(), Some("running" | "waiting"))
                        });
                        Ok(json!({"ok": true, "reason": if done { "completed" } else { "timeout" }, "tasks": rows}))
                    }),
                )
            }
            other => ready(Err(format!(
                "unknown action {:?}; use list, cancel or wait",
                crate::subagents::clean(other, 32)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_subagents_words() {
        assert_eq!(SubagentsAsk::parse(""), SubagentsAsk::List);
        assert_eq!(SubagentsAsk::parse("LIST"), SubagentsAsk::List);
        assert_eq!(
            SubagentsAsk::parse("info 2"),
            SubagentsAsk::Info("2".into())
        );
        assert_eq!(
            SubagentsAsk::parse("kill all"),
            SubagentsAsk::Kill("all".into())
        );
        assert_eq!(
            SubagentsAsk::parse("kill"),
            SubagentsAsk::Bad("kill".into())
        );
        assert_eq!(
            SubagentsAsk::parse("explode now"),
            SubagentsAsk::Bad("explode".into())
        );
    }
}
