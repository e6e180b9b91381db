//! The run scheduler the [`Registry`](super::Registry) owns: one run at a time per session
//! (later requests queue, at most [`MAX_QUEUE_PER_SESSION`]), different sessions in
//! parallel, and the bounded run records `agent.wait` reads. A plain struct: it decides,
//! the registry acts (starts [`AgentRun`](crate::agent_run::AgentRun)s, cancels them, tells
//! channels). `H` is the handle of a running run (the run's address in the registry, a
//! plain value in tests).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use tokio::sync::oneshot;

use super::runs::{RunOrigin, RunOutcome, RunRequest, RunStatus};
use crate::channel::{DeliverReply, InboundMessage};

/// Finished run records kept for `agent.wait`.
pub const MAX_RUN_RECORDS: usize = 1000;
/// Messages queued per session before new ones are refused.
pub const MAX_QUEUE_PER_SESSION: usize = 100;
/// `agent.wait` calls waiting on one run at a time; more are refused.
pub const MAX_WAITERS_PER_RUN: usize = 64;
/// `agent.wait` calls waiting at a time over all runs; more are refused.
pub const MAX_WAITERS_TOTAL: usize = 1024;

/// The channel a channel-originated run answers on, kept so an aborted run can complete
/// the channel's pending message.
pub type RunChannel = (actix::Recipient<DeliverReply>, Box<InboundMessage>);

/// What the scheduler remembers of a run.
pub struct RunRecord {
    /// Session.
    pub session_key: String,
    /// State.
    pub status: RunStatus,
    started_at: Option<u64>,
    ended_at: Option<u64>,
    text: Option<String>,
    /// The answer's attachments (for the scheduler's announcement).
    media: Vec<crate::media::MediaRef>,
    error: Option<String>,
    /// What a compaction run did.
    detail: Option<serde_json::Value>,
    /// What became of the delivery an `agent` call asked for.
    delivery: Option<serde_json::Value>,
    /// The tokens its model calls reported (none: no call reported any).
    tokens: Option<RunTokens>,
    /// `agent.wait` calls waiting for the end (bounded; a timed-out one is removed).
    waiters: Vec<oneshot::Sender<()>>,
    /// For a channel message: its channel, told when the run is aborted (no reply then, but
    /// the message must leave the channel's pending list).
    channel: Option<RunChannel>,
}

impl RunRecord {
    /// Still queued or running.
    pub fn in_flight(&self) -> bool {
        matches!(self.status, RunStatus::Queued | RunStatus::Running)
    }

    /// Records how the run ended.
    fn record(&mut self, outcome: &RunOutcome) {
        self.status = outcome.status;
        self.started_at = Some(outcome.started_at);
        self.ended_at = Some(outcome.ended_at);
        self.text = Some(outcome.text.clone());
        self.media = outcome.media.clone();
        self.error = outcome.error.clone();
        self.detail = outcome.detail.clone();
        self.delivery = outcome.delivery.clone();
        let u = &outcome.usage;
        self.tokens = (u.calls > 0).then(|| RunTokens {
            prompt: u
                .input
                .saturating_add(u.cache_read)
                .saturating_add(u.cache_write),
            completion: u.output,
        });
    }

    fn end(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

struct Slot<H> {
    active: Option<(String, H)>,
    queue: VecDeque<RunRequest>,
    /// Messages the active run took along (steered in, or collected into its turn): they
    /// end with it.
    riders: Vec<RunRequest>,
    /// Messages dropped at the cap since the last run started, and the newest of their
    /// summary lines (`drop: summarize`), for the next run.
    dropped: usize,
    dropped_lines: VecDeque<String>,
    /// Which messages the active run takes along ([`super::runs::ride_key`]; none: none).
    ride: Option<String>,
    /// When the last person's message was queued (ms): the quiet window counts from it.
    last_queued: u64,
    /// The active run was told to stop (it ends soon): another abort does not count it.
    stopping: bool,
    /// The active run's reply is out (it only records and tidies now, or saves memory
    /// notes): a message queued from then on belongs to the next turn and does not move
    /// the quiet window, which gathers what was typed while the agent was busy.
    replied: bool,
}

impl<H> Default for Slot<H> {
    fn default() -> Self {
        Self {
            active: None,
            queue: VecDeque::new(),
            riders: Vec::new(),
            dropped: 0,
            dropped_lines: VecDeque::new(),
            ride: None,
            last_queued: 0,
            stopping: false,
            replied: false,
        }
    }
}

/// A person's message (a chat's or an operator's), which `messages.queue` governs; cron
/// jobs, node requests and compactions just wait their turn.
pub fn is_person(req: &RunRequest) -> bool {
    req.compact.is_none()
        && req.queue != super::runs::Queueing::Alone
        && matches!(req.origin, RunOrigin::Channel { .. } | RunOrigin::Operator)
}

/// What [`RunScheduler::enqueue`] did.
pub struct Enqueued {
    /// The session was idle: the caller starts the run now with [`RunScheduler::next`].
    pub idle: bool,
    /// Older messages dropped at the cap: their channels drop them from their pending lists.
    pub dropped: Vec<RunChannel>,
}

/// How a run ended, for [`RunScheduler::finished`]'s caller.
pub struct Finished {
    /// The run's channel when it was aborted, to complete its pending message.
    pub aborted: Option<RunChannel>,
    /// The messages that rode along with it (they ended with it).
    pub riders: Vec<RunRequest>,
}

/// A session's queue is full: the request is refused (on the wire: `UNAVAILABLE`,
/// retryable after 5 s; to a chat: the busy notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many queued messages for this session")]
pub struct QueueFull;

impl QueueFull {
    /// The wire error.
    pub fn to_shape(self) -> crate::protocol::error::ErrorShape {
        crate::protocol::error::ErrorShape::unavailable(self.to_string()).retry_after(5000)
    }
}

/// What [`RunScheduler::abort`] did.
pub struct Aborted<H> {
    /// Every run id aborted (the active one first).
    pub run_ids: Vec<String>,
    /// The active run to cancel (it reports its end itself).
    pub cancel: Option<H>,
    /// Channels whose dropped runs must leave their pending list.
    pub channels: Vec<RunChannel>,
}

/// Whether an `agent.wait` may wait.
pub enum WaitAdmission {
    /// No such run.
    Unknown,
    /// The run already ended.
    Ended,
    /// Too many waiters; the message says which bound.
    Refused(String),
    /// Waiting: resolves when the run ends.
    Waiting(oneshot::Receiver<()>),
}

/// A run as `agent.wait` shows it. Fields in the order of the wire object's keys; unset
/// ones are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// End time.
    pub ended_at: Option<u64>,
    /// The error, for failed runs.
    pub error: Option<String>,
    /// Run id.
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// Start time.
    pub started_at: Option<u64>,
    /// State (`timeout` when the wait gave up first).
    pub status: WaitStatus,
    /// The answer.
    pub text: Option<String>,
    /// The answer's attachments (not on the wire: the chat gets them, and the scheduler
    /// announces them with the text).
    #[serde(skip)]
    pub media: Vec<crate::media::MediaRef>,
    /// What a compaction run did (`sessions.compact`'s answer; not on the wire here).
    #[serde(skip)]
    pub detail: Option<serde_json::Value>,
    /// The delivery an `agent` call asked for (`deliveryStatus` of its answer; not on the
    /// wire here).
    #[serde(skip)]
    pub delivery: Option<serde_json::Value>,
    /// The tokens its model calls reported (not on the wire here).
    #[serde(skip)]
    pub tokens: Option<RunTokens>,
}

/// A run's tokens, as OpenAI-style clients count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTokens {
    /// Everything the model read (cache reads and writes included).
    pub prompt: u64,
    /// What it wrote (reasoning included).
    pub completion: u64,
}

/// A run's state as `agent.wait` reports it: the [`RunStatus`], or `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitStatus {
    /// Waiting behind another run of the session.
    Queued,
    /// Running.
    Running,
    /// Finished with an answer.
    Ok,
    /// Failed, or no such run.
    Error,
    /// Aborted.
    Aborted,
    /// Still running when the wait ended.
    Timeout,
}

impl WaitStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Aborted => "aborted",
            Self::Timeout => "timeout",
        }
    }
}

impl From<RunStatus> for WaitStatus {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Queued => Self::Queued,
            RunStatus::Running => Self::Running,
            RunStatus::Ok => Self::Ok,
            RunStatus::Error => Self::Error,
            RunStatus::Aborted => Self::Aborted,
        }
    }
}

/// The scheduler.
pub struct RunScheduler<H> {
    slots: HashMap<String, Slot<H>>,
    runs: HashMap<String, RunRecord>,
    /// Insertion order of `runs`, for pruning.
    order: VecDeque<String>,
}

impl<H> Default for RunScheduler<H> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            runs: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<H: Clone> RunScheduler<H> {
    /// The record of `run_id`.
    pub fn record(&self, run_id: &str) -> Option<&RunRecord> {
        self.runs.get(run_id)
    }

    /// Queues a run. With `limit` (a person's message: `messages.queue`'s `cap` and `drop`),
    /// at most `cap` persons' messages wait: beyond, the oldest go (`old`, `summarize`:
    /// their summary lines are kept for the next run) or this one is refused (`new`).
    /// Whatever the limit, at most [`MAX_QUEUE_PER_SESSION`] runs wait.
    pub fn enqueue(
        &mut self,
        req: RunRequest,
        limit: Option<(usize, crate::run_queue::DropPolicy)>,
        now: u64,
    ) -> Result<Enqueued, QueueFull> {
        use crate::run_queue::DropPolicy;
        let slot = self.slots.entry(req.session_key.clone()).or_default();
        if is_person(&req) && !(slot.replied && slot.active.is_some()) {
            slot.last_queued = now;
        }
        let mut dropped = Vec::new();
        if let Some((cap, policy)) = limit.filter(|_| is_person(&req)) {
            let waiting = slot.queue.iter().filter(|r| is_person(r)).count();
            if waiting >= cap {
                if policy == DropPolicy::New {
                    return Err(QueueFull);
                }
                let mut excess = waiting + 1 - cap;
                let mut kept = VecDeque::with_capacity(slot.queue.len());
                for r in slot.queue.drain(..) {
                    if excess == 0 || !is_person(&r) {
                        kept.push_back(r);
                        continue;
                    }
                    excess -= 1;
                    if policy == DropPolicy::Summarize {
                        let text = match &r.origin {
                            RunOrigin::Channel { inbound, .. } => inbound.text.as_str(),
                            _ => r.text.as_str(),
                        };
                        slot.dropped += 1;
                        if slot.dropped_lines.len() == crate::run_queue::MAX_SUMMARY_LINES {
                            slot.dropped_lines.pop_front();
                        }
                        slot.dropped_lines
                            .push_back(crate::run_queue::summary_line(text));
                    }
                    if let Some(rec) = self.runs.get_mut(&r.run_id) {
                        rec.status = RunStatus::Aborted;
                        rec.ended_at = Some(now);
                        rec.error =
                            Some("dropped: too many messages waited (messages.queue.cap)".into());
                        rec.end();
                        dropped.extend(rec.channel.take());
                    }
                }
                slot.queue = kept;
            }
        }
        if slot.queue.len() >= MAX_QUEUE_PER_SESSION {
            return Err(QueueFull);
        }
        self.runs.insert(
            req.run_id.clone(),
            RunRecord {
                session_key: req.session_key.clone(),
                status: RunStatus::Queued,
                started_at: None,
                ended_at: None,
                text: None,
                media: Vec::new(),
                error: None,
                detail: None,
                delivery: None,
                tokens: None,
                waiters: Vec::new(),
                channel: match &req.origin {
                    RunOrigin::Channel { inbound, deliver } => {
                        Some((deliver.clone(), inbound.clone()))
                    }
                    RunOrigin::Operator
                    | RunOrigin::Cron { .. }
                    | RunOrigin::Subagent { .. }
                    | RunOrigin::Node { .. } => None,
                },
            },
        );
        self.order.push_back(req.run_id.clone());
        let idle = slot.active.is_none();
        // `/steer <message>` goes first when the running run can take it (at its next
        // boundary); otherwise it waits its turn like any message.
        if req.queue == super::runs::Queueing::Steer
            && !idle
            && slot.ride.is_some()
            && slot.ride == super::runs::ride_key(&req)
        {
            slot.queue.push_front(req);
        } else {
            slot.queue.push_back(req);
        }
        Ok(Enqueued { idle, dropped })
    }

    /// What the next run of the session is told about the messages dropped at the cap
    /// since the last one (once).
    pub fn take_overflow(&mut self, session_key: &str) -> Option<String> {
        let slot = self.slots.get_mut(session_key)?;
        if slot.dropped == 0 {
            return None;
        }
        let lines: Vec<String> = slot.dropped_lines.drain(..).collect();
        let prompt = crate::run_queue::overflow_prompt(slot.dropped, &lines);
        slot.dropped = 0;
        Some(prompt)
    }

    /// Takes the messages at the head of the session's queue that `rides` accepts (in
    /// order, up to the first it refuses), for its active run — or the run about to start —
    /// to take along: they count as running, and end with it ([`Self::finished`]). At most
    /// [`MAX_QUEUE_PER_SESSION`] ride with one run.
    pub fn ride(
        &mut self,
        session_key: &str,
        now: u64,
        mut rides: impl FnMut(&RunRequest) -> bool,
    ) -> Vec<RunRequest> {
        let Some(slot) = self.slots.get_mut(session_key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while slot.riders.len() < MAX_QUEUE_PER_SESSION
            && slot.queue.front().is_some_and(&mut rides)
        {
            let Some(r) = slot.queue.pop_front() else {
                break;
            };
            if let Some(rec) = self.runs.get_mut(&r.run_id) {
                rec.status = RunStatus::Running;
                rec.started_at = Some(now);
            }
            slot.riders.push(r.clone());
            out.push(r);
        }
        out
    }

    /// Records a run that was answered at once, without an agent run (a chat command sent
    /// by an operator): `agent.wait` finds it ended with `text`, and the idempotency key
    /// is taken.
    pub fn record_answered(&mut self, run_id: &str, session_key: &str, text: String, now: u64) {
        self.runs.insert(
            run_id.to_owned(),
            RunRecord {
                session_key: session_key.to_owned(),
                status: RunStatus::Ok,
                started_at: Some(now),
                ended_at: Some(now),
                text: Some(text),
                media: Vec::new(),
                error: None,
                detail: None,
                delivery: None,
                tokens: None,
                waiters: Vec::new(),
                channel: None,
            },
        );
        self.order.push_back(run_id.to_owned());
        self.prune();
    }

    /// The run [`Self::next`] would take (none while the session's run is going), and when
    /// the last person's message was queued.
    pub fn peek_next(&self, session_key: &str) -> Option<(&RunRequest, u64)> {
        let slot = self.slots.get(session_key)?;
        if slot.active.is_some() {
            return None;
        }
        Some((slot.queue.front()?, slot.last_queued))
    }

    /// The next run of an idle session, to start; the caller then calls [`Self::started`].
    /// `None` while a run is active or when nothing is queued (the session's slot is then
    /// forgotten).
    pub fn next(&mut self, session_key: &str) -> Option<RunRequest> {
        let slot = self.slots.get_mut(session_key)?;
        if slot.active.is_some() {
            return None;
        }
        let req = slot.queue.pop_front();
        if req.is_none() {
            self.slots.remove(session_key);
        }
        req
    }

    /// The run taken with [`Self::next`] is running as `handle`, taking along the messages
    /// `ride` admits ([`super::runs::ride_key`]).
    pub fn started(
        &mut self,
        session_key: &str,
        run_id: &str,
        handle: H,
        ride: Option<String>,
        now: u64,
    ) {
        let slot = self.slots.entry(session_key.to_owned()).or_default();
        slot.active = Some((run_id.to_owned(), handle));
        slot.ride = ride;
        slot.stopping = false;
        slot.replied = false;
        // The window counts from the last message still waiting: none waits now.
        if !slot.queue.iter().any(is_person) {
            slot.last_queued = 0;
        }
        if let Some(r) = self.runs.get_mut(run_id) {
            r.status = RunStatus::Running;
            r.started_at = Some(now);
        }
    }

    /// A run ended: records its outcome, wakes its waiters and frees its session (the
    /// caller then starts the session's next run). Returns the run's channel when the run
    /// was aborted, to complete its pending message.
    pub fn finished(&mut self, run_id: &str, session_key: &str, outcome: &RunOutcome) -> Finished {
        let mut out = Finished {
            aborted: None,
            riders: Vec::new(),
        };
        if let Some(r) = self.runs.get_mut(run_id) {
            r.record(outcome);
            r.end();
            let c = r.channel.take();
            if outcome.status == RunStatus::Aborted {
                out.aborted = c;
            }
        }
        if let Some(slot) = self.slots.get_mut(session_key)
            && slot.active.as_ref().is_some_and(|(id, _)| id == run_id)
        {
            slot.active = None;
            slot.ride = None;
            out.riders = std::mem::take(&mut slot.riders);
            for rider in &out.riders {
                if let Some(r) = self.runs.get_mut(&rider.run_id) {
                    r.record(outcome);
                    r.end();
                    r.channel = None;
                }
            }
        }
        self.prune();
        out
    }

    /// The reply of `run_id`, the active run of `session_key`, is out (see `Slot::replied`).
    pub fn reply_out(&mut self, session_key: &str, run_id: &str) {
        if let Some(slot) = self.slots.get_mut(session_key)
            && slot.active.as_ref().is_some_and(|(id, _)| id == run_id)
        {
            slot.replied = true;
        }
    }

    /// A run's reply is out while the session stays busy (the memory flush after a reply):
    /// records its outcome (and its riders') and wakes their waiters (`agent.wait`, the
    /// `agent` call's final answer), which need not wait for the flush; [`Self::finished`]
    /// frees the session.
    pub fn replied(&mut self, run_id: &str, outcome: &RunOutcome) {
        if let Some(r) = self.runs.get_mut(run_id) {
            r.record(outcome);
            r.end();
            let Some(slot) = self.slots.get(&r.session_key) else {
                return;
            };
            if slot.active.as_ref().is_some_and(|(id, _)| id == run_id) {
                for rider in &slot.riders {
                    if let Some(r) = self.runs.get_mut(&rider.run_id) {
                        r.record(outcome);
                        r.end();
                    }
                }
            }
        }
    }

    /// Aborts the active run of a session (when `run_id` is `None` or names it) and drops
    /// its queued runs (all of them, or the one named).
    pub fn abort(&mut self, session_key: &str, run_id: Option<&str>, now: u64) -> Aborted<H> {
        let mut out = Aborted {
            run_ids: Vec::new(),
            cancel: None,
            channels: Vec::new(),
        };
        let Some(slot) = self.slots.get_mut(session_key) else {
            return out;
        };
        if let Some((id, handle)) = &slot.active
            && run_id.is_none_or(|r| r == id)
            && !slot.stopping
        {
            slot.stopping = true;
            out.cancel = Some(handle.clone());
            out.run_ids.push(id.clone());
            // The messages riding along with it end with it.
            out.run_ids
                .extend(slot.riders.iter().map(|r| r.run_id.clone()));
        }
        let mut kept = VecDeque::with_capacity(slot.queue.len());
        for req in slot.queue.drain(..) {
            if run_id.is_some_and(|id| id != req.run_id) {
                kept.push_back(req);
                continue;
            }
            if let Some(rec) = self.runs.get_mut(&req.run_id) {
                rec.status = RunStatus::Aborted;
                rec.ended_at = Some(now);
                rec.end();
                out.channels.extend(rec.channel.take());
            }
            out.run_ids.push(req.run_id);
        }
        slot.queue = kept;
        out
    }

    /// Admits one more `agent.wait` on `run_id`, within the bounds.
    pub fn wait(&mut self, run_id: &str) -> WaitAdmission {
        let Some(rec) = self.runs.get_mut(run_id) else {
            return WaitAdmission::Unknown;
        };
        if !rec.in_flight() {
            return WaitAdmission::Ended;
        }
        rec.waiters.retain(|w| !w.is_closed());
        let here = rec.waiters.len();
        let total: usize = self.runs.values().map(|r| r.waiters.len()).sum();
        if let Err(e) = admit_waiter(here, total) {
            return WaitAdmission::Refused(e);
        }
        let (tx, rx) = oneshot::channel();
        if let Some(rec) = self.runs.get_mut(run_id) {
            rec.waiters.push(tx);
        }
        WaitAdmission::Waiting(rx)
    }

    /// Drops the senders of waits that gave up (timed out) on `run_id`.
    pub fn forget_closed_waiters(&mut self, run_id: &str) {
        if let Some(rec) = self.runs.get_mut(run_id) {
            rec.waiters.retain(|w| !w.is_closed());
        }
    }

    /// The `agent.wait` view of a run.
    pub fn view(&self, run_id: &str) -> Option<RunView> {
        let r = self.runs.get(run_id)?;
        Some(RunView {
            ended_at: r.ended_at,
            error: r.error.clone(),
            run_id: run_id.to_owned(),
            session_key: r.session_key.clone(),
            started_at: r.started_at,
            status: r.status.into(),
            text: r.text.clone(),
            media: r.media.clone(),
            detail: r.detail.clone(),
            delivery: r.delivery.clone(),
            tokens: r.tokens,
        })
    }

    /// The id of the session's running run.
    pub fn active_run(&self, session_key: &str) -> Option<&str> {
        self.slots
            .get(session_key)?
            .active
            .as_ref()
            .map(|(id, _)| id.as_str())
    }

    /// Which messages the session's running run takes along ([`super::runs::ride_key`]).
    pub fn active_ride(&self, session_key: &str) -> Option<&str> {
        self.slots.get(session_key)?.ride.as_deref()
    }

    /// Sessions with a running run.
    pub fn active_count(&self) -> usize {
        self.slots.values().filter(|s| s.active.is_some()).count()
    }

    /// Runs waiting behind the running one in `session_key`.
    pub fn queued_in(&self, session_key: &str) -> usize {
        self.slots.get(session_key).map_or(0, |s| s.queue.len())
    }

    /// Runs waiting behind another run of their session.
    pub fn queued_count(&self) -> usize {
        self.slots.values().map(|s| s.queue.len()).sum()
    }

    /// Run records held.
    pub fn records(&self) -> usize {
        self.runs.len()
    }

    /// Forgets the oldest finished records beyond [`MAX_RUN_RECORDS`]. A record still in
    /// flight is kept and moved to the back; pruning resumes at the next end of a run.
    fn prune(&mut self) {
        while self.order.len() > MAX_RUN_RECORDS {
            let Some(id) = self.order.pop_front() else {
                break;
            };
            if self.runs.get(&id).is_some_and(|r| !r.in_flight()) {
                self.runs.remove(&id);
            } else {
                self.order.push_back(id);
                break;
            }
        }
    }
}

/// Whether one more `agent.wait` may wait, with `here` waiting on its run and `total` on
/// all runs.
pub(crate) fn admit_waiter(here: usize, total: usize) -> Result<(), String> {
    if here >= MAX_WAITERS_PER_RUN {
        return Err(format!(
            "too many agent.wait calls are waiting on this run (at most {MAX_WAITERS_PER_RUN}); wait for one of them to return, then retry"
        ));
    }
    if total >= MAX_WAITERS_TOTAL {
        return Err(format!(
            "too many agent.wait calls are waiting on the gateway (at most {MAX_WAITERS_TOTAL}); retry later"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(run: &str, session: &str) -> RunRequest {
        RunRequest::new(
            run.into(),
            session.into(),
            "hi".into(),
            RunOrigin::Operator,
            None,
        )
    }

    fn outcome(status: RunStatus, text: &str) -> RunOutcome {
        RunOutcome {
            compactions: 0,
            detail: None,
            context: None,
            status,
            text: text.into(),
            media: Vec::new(),
            error: None,
            started_at: 1,
            ended_at: 2,
            flushed: None,
            flush_tried: None,
            usage: Default::default(),
            delivery: None,
            model: None,
        }
    }

    /// Starts what `enqueue` says is startable, as the registry does.
    fn submit(s: &mut RunScheduler<u32>, r: RunRequest, handle: u32) -> bool {
        let key = r.session_key.clone();
        let idle = s.enqueue(r, None, 0).expect("queued").idle;
        if idle {
            let next = s.next(&key).expect("a run to start");
            s.started(&key, &next.run_id, handle, None, 1);
        }
        idle
    }

    #[test]
    fn one_run_per_session_later_ones_queue_other_sessions_run_in_parallel() {
        let mut s = RunScheduler::default();
        assert!(submit(&mut s, req("r1", "a"), 1));
        assert!(!submit(&mut s, req("r2", "a"), 2));
        assert!(submit(&mut s, req("r3", "b"), 3));
        assert_eq!((s.active_count(), s.queued_count()), (2, 1));
        assert_eq!(s.active_run("a"), Some("r1"));
        assert_eq!(s.record("r2").map(|r| r.status), Some(RunStatus::Queued));
        // Nothing starts while r1 runs.
        assert!(s.next("a").is_none());
        let f = s.finished("r1", "a", &outcome(RunStatus::Ok, "done"));
        assert!(f.aborted.is_none() && f.riders.is_empty());
        let view = s.view("r1").expect("kept");
        assert_eq!(
            (view.text.as_deref(), view.status),
            (Some("done"), WaitStatus::Ok)
        );
        let next = s.next("a").expect("r2 is next");
        assert_eq!(next.run_id, "r2");
        s.started("a", "r2", 2, None, 5);
        assert_eq!(s.record("r2").map(|r| r.status), Some(RunStatus::Running));
        s.finished("r2", "a", &outcome(RunStatus::Ok, ""));
        // An idle session with an empty queue is forgotten.
        assert!(s.next("a").is_none());
        assert_eq!(s.active_run("a"), None);
        assert_eq!((s.active_count(), s.queued_count()), (1, 0));
    }

    #[test]
    fn a_full_session_queue_refuses_and_leaves_no_record() {
        let mut s = RunScheduler::default();
        submit(&mut s, req("active", "a"), 0);
        for i in 0..MAX_QUEUE_PER_SESSION {
            assert!(
                !s.enqueue(req(&format!("q{i}"), "a"), None, 0)
                    .expect("room")
                    .idle
            );
        }
        assert!(matches!(
            s.enqueue(req("over", "a"), None, 0),
            Err(QueueFull)
        ));
        assert_eq!(
            serde_json::to_value(QueueFull.to_shape()).unwrap(),
            json!({"code": "UNAVAILABLE", "message": "too many queued messages for this session",
                "retryable": true, "retryAfterMs": 5000})
        );
        assert!(s.record("over").is_none());
        // Another session is not affected.
        assert!(s.enqueue(req("b1", "b"), None, 0).expect("room").idle);
    }

    #[test]
    fn the_next_run_is_seen_with_when_a_person_last_queued_only_while_idle() {
        let mut s = RunScheduler::default();
        assert!(s.peek_next("a").is_none());
        assert!(submit(&mut s, req("r1", "a"), 1));
        s.enqueue(req("r2", "a"), None, 100).expect("queued");
        // A run that stays alone (not a person's message) does not move the quiet window.
        let mut alone = req("c1", "a");
        alone.queue = crate::registry::runs::Queueing::Alone;
        s.enqueue(alone, None, 900).expect("queued");
        assert!(s.peek_next("a").is_none(), "busy: nothing to start");
        let done = s.finished("r1", "a", &outcome(RunStatus::Ok, "x"));
        assert!(done.riders.is_empty());
        let (next, last) = s.peek_next("a").expect("r2 waits");
        assert_eq!((next.run_id.as_str(), last), ("r2", 100));
        assert_eq!(s.next("a").map(|r| r.run_id), Some("r2".to_owned()));
    }

    #[test]
    fn the_quiet_window_counts_only_messages_queued_before_the_reply_went_out() {
        let mut s = RunScheduler::default();
        // Started at once: nothing waits, no window.
        assert!(submit(&mut s, req("r1", "a"), 1));
        s.reply_out("a", "other run");
        s.enqueue(req("r2", "a"), None, 100).expect("queued");
        s.reply_out("a", "r1");
        // Queued once the answer was out: the next turn, the window does not move.
        s.enqueue(req("r3", "a"), None, 200).expect("queued");
        s.finished("r1", "a", &outcome(RunStatus::Ok, "x"));
        assert_eq!(
            s.peek_next("a").map(|(r, last)| (r.run_id.as_str(), last)),
            Some(("r2", 100))
        );
        // r2 starts with r3 still waiting: the window stays; r3 started: none waits.
        let r2 = s.next("a").expect("r2");
        s.started("a", &r2.run_id, 2, None, 300);
        assert_eq!(s.peek_next("a").map(|(_, last)| last), None, "busy");
        s.finished("r2", "a", &outcome(RunStatus::Ok, "y"));
        assert_eq!(s.peek_next("a").map(|(_, last)| last), Some(100));
        let r3 = s.next("a").expect("r3");
        s.started("a", &r3.run_id, 3, None, 400);
        s.finished("r3", "a", &outcome(RunStatus::Ok, "z"));
        s.enqueue(req("r4", "a"), None, 500).expect("queued");
        assert_eq!(s.peek_next("a").map(|(_, last)| last), Some(500));
    }

    #[test]
    fn abort_cancels_the_active_run_and_drops_the_queue_or_only_the_named_run() {
        let mut s = RunScheduler::default();
        submit(&mut s, req("r1", "a"), 7);
        for id in ["r2", "r3", "r4"] {
            s.enqueue(req(id, "a"), None, 0).expect("queued");
        }
        let one = s.abort("a", Some("r3"), 9);
        assert_eq!(one.run_ids, vec!["r3".to_owned()]);
        assert_eq!(one.cancel, None);
        assert_eq!(s.record("r3").map(|r| r.status), Some(RunStatus::Aborted));
        assert_eq!(s.queued_count(), 2);
        let all = s.abort("a", None, 9);
        assert_eq!(all.run_ids, vec!["r1", "r2", "r4"]);
        assert_eq!(all.cancel, Some(7));
        assert_eq!(s.queued_count(), 0);
        // The active run ends when it reports back, not at the abort.
        assert_eq!(s.record("r1").map(|r| r.status), Some(RunStatus::Running));
        assert!(s.abort("nobody", None, 9).run_ids.is_empty());
        // Told to stop already: a second stop before it has ended stops nothing more.
        let again = s.abort("a", None, 10);
        assert!(again.run_ids.is_empty() && again.cancel.is_none());
        assert_eq!(s.abort("a", Some("r1"), 10).cancel, None);
        // The next run can be stopped again.
        s.finished("r1", "a", &outcome(RunStatus::Aborted, ""));
        submit(&mut s, req("r5", "a"), 8);
        assert_eq!(s.abort("a", None, 11).cancel, Some(8));
    }

    #[test]
    fn waiters_wake_at_the_end_and_are_bounded() {
        let mut s = RunScheduler::default();
        assert!(matches!(s.wait("nope"), WaitAdmission::Unknown));
        submit(&mut s, req("r1", "a"), 1);
        let WaitAdmission::Waiting(mut rx) = s.wait("r1") else {
            panic!("should wait");
        };
        assert!(rx.try_recv().is_err(), "not ended yet");
        let mut held = Vec::new();
        for _ in 1..MAX_WAITERS_PER_RUN {
            match s.wait("r1") {
                WaitAdmission::Waiting(rx) => held.push(rx),
                _ => panic!("under the bound"),
            }
        }
        let WaitAdmission::Refused(e) = s.wait("r1") else {
            panic!("over the bound");
        };
        assert!(e.contains("waiting on this run (at most 64)"), "{e}");
        // A waiter that gave up frees its place.
        drop(held.pop());
        assert!(matches!(s.wait("r1"), WaitAdmission::Waiting(_)));
        s.finished("r1", "a", &outcome(RunStatus::Error, ""));
        assert_eq!(rx.try_recv(), Ok(()));
        assert!(matches!(s.wait("r1"), WaitAdmission::Ended));
    }

    #[test]
    fn old_finished_records_are_pruned_but_not_runs_in_flight() {
        let mut s = RunScheduler::default();
        submit(&mut s, req("first", "keep"), 0);
        for i in 0..MAX_RUN_RECORDS + 10 {
            let id = format!("r{i}");
            submit(&mut s, req(&id, &id), 1);
            s.finished(&id, &id, &outcome(RunStatus::Ok, "x"));
        }
        // The oldest record is still running: it is kept, older finished ones go.
        assert!(s.record("first").is_some());
        assert!(s.record("r0").is_none());
        assert!(s.records() <= MAX_RUN_RECORDS + 1, "{}", s.records());
        assert!(s.record(&format!("r{}", MAX_RUN_RECORDS + 9)).is_some());
        s.finished("first", "keep", &outcome(RunStatus::Ok, "x"));
        assert!(s.records() <= MAX_RUN_RECORDS + 1);
    }

    #[test]
    fn the_cap_drops_the_oldest_persons_messages_with_a_summary_or_refuses_the_newest() {
        use crate::run_queue::DropPolicy;
        let mut s = RunScheduler::default();
        submit(&mut s, req("active", "a"), 0);
        let mut cron = req("cron", "a");
        cron.origin = RunOrigin::Cron {
            sender: None,
            fresh: false,
            light: false,
            shared: false,
        };
        s.enqueue(cron, Some((2, DropPolicy::Summarize)), 1)
            .expect("a cron run is not a person's message");
        for (i, text) in ["first   one", "second", "third"].iter().enumerate() {
            let mut r = req(&format!("m{i}"), "a");
            r.text = (*text).to_owned();
            s.enqueue(r, Some((2, DropPolicy::Summarize)), 1)
                .expect("the oldest goes instead");
        }
        // The cron run stays; the oldest message went, its waiters woken.
        assert_eq!(s.queued_in("a"), 3);
        assert_eq!(s.record("m0").map(|r| r.status), Some(RunStatus::Aborted));
        assert_eq!(
            s.take_overflow("a").as_deref(),
            Some("[Queue overflow] Dropped 1 message due to cap.\nSummary:\n- first one")
        );
        assert_eq!(s.take_overflow("a"), None, "told once");
        // `old`: no summary; `new`: the newest is refused, nothing recorded.
        s.enqueue(req("m3", "a"), Some((2, DropPolicy::Old)), 1)
            .expect("the oldest goes");
        assert_eq!(s.take_overflow("a"), None);
        assert!(matches!(
            s.enqueue(req("m4", "a"), Some((2, DropPolicy::New)), 1),
            Err(QueueFull)
        ));
        assert!(s.record("m4").is_none());
    }

    #[test]
    fn riders_leave_the_queue_up_to_the_first_refused_and_end_with_their_run() {
        let mut s = RunScheduler::default();
        submit(&mut s, req("host", "a"), 0);
        for id in ["s1", "s2", "other", "s3"] {
            s.enqueue(req(id, "a"), None, 0).expect("queued");
        }
        let taken = s.ride("a", 5, |r| r.run_id.starts_with('s'));
        let ids: Vec<&str> = taken.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["s1", "s2"], "in order, up to the first refused");
        assert_eq!(s.record("s1").map(|r| r.status), Some(RunStatus::Running));
        assert_eq!(s.queued_in("a"), 2);
        let WaitAdmission::Waiting(mut rx) = s.wait("s2") else {
            panic!("a rider is in flight");
        };
        let f = s.finished("host", "a", &outcome(RunStatus::Ok, "both answered"));
        assert_eq!(f.riders.len(), 2);
        assert_eq!(rx.try_recv(), Ok(()));
        let v = s.view("s2").expect("kept");
        assert_eq!(
            (v.status, v.text.as_deref()),
            (WaitStatus::Ok, Some("both answered"))
        );
        // The next run does not inherit them.
        let next = s.next("a").expect("other is next");
        s.started("a", &next.run_id, 1, None, 6);
        assert!(
            s.finished("other", "a", &outcome(RunStatus::Ok, ""))
                .riders
                .is_empty()
        );
    }

    #[test]
    fn waiters_are_capped_per_run_and_in_total() {
        assert!(admit_waiter(0, 0).is_ok());
        assert!(admit_waiter(MAX_WAITERS_PER_RUN - 1, MAX_WAITERS_TOTAL - 1).is_ok());
        let e = admit_waiter(MAX_WAITERS_PER_RUN, 0).expect_err("per-run cap");
        assert!(e.contains("waiting on this run (at most 64)"), "{e}");
        let e = admit_waiter(0, MAX_WAITERS_TOTAL).expect_err("total cap");
        assert!(e.contains("waiting on the gateway (at most 1024)"), "{e}");
    }
}
