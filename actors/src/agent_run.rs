//! # `AgentRun` — one agent run (one inbound message or operator request)
//!
//! Loads the session transcript (or takes the registry's cached tail of it), writes the
//! user's line, calls the model, executes tool calls (the `nodes` tool goes through the
//! [`Registry`] to the node's `NodeSession`), loops up to [`MAX_ROUNDS`], streams
//! `agent`/`chat` events to operators, appends the answer, delivers the reply to the
//! originating channel once the user's line is written, and reports [`RunFinished`] with the
//! transcript's new tail once every line is written.
//!
//! Node commands run under the agent tool policy (`agents.defaults.tools.nodes`, resolved by
//! the registry for the run's `<channel>:<senderId>`) and the same command-class checks as
//! operator `node.invoke` calls; both are enforced by the node's `NodeSession`.
//!
//! With no model provider configured the [`CommandAgent`] stands in for the model: it
//! understands `/help`, `/nodes`, `/invoke <node> <command> [json]` and
//! `/which <node> <bin…>` and drives the very same tool path.
//!
//! Messages: [`CancelRun`].

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};

use crate::channel::DeliverReply;
use crate::channel::progress::{ProgressEvent, ProgressSink, RunProgress};
use crate::media::MediaRef;
use crate::metrics::MediaOutcome;
use crate::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, FunctionCall, LocalFut, ModelError,
    ToolCall, ToolSpec,
};
use crate::registry::Registry;
use crate::registry::nodes::{DescribeNode, InvokeNodeCommand, InvokeOrigin, ListNodes};
use crate::registry::runs::{Broadcast, RunFinished, RunOrigin, RunOutcome, RunRequest, RunStatus};
use crate::registry::tails::Tail;
use crate::store::{AppendLines, StoreActor};
use crate::util::now_ms;

/// Model → tools → model rounds before giving up.
pub const MAX_ROUNDS: usize = 8;

/// The default bound on a chat or operator run (`agents.defaults.timeoutSeconds`, 600 s
/// as in OpenClaw): a provider that keeps answering slowly, retries and fallbacks included,
/// cannot hold a chat's queue for longer.
pub const DEFAULT_RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// What the chat is told when a request does not fit the model even after compaction.
const OVERFLOW_TEXT: &str = "⚠️ This conversation no longer fits the model's context window, even after compacting it. Send /compact to summarize it, /new to start over, or ask for less at once.";
/// Tool results are cut to this many characters before going back to the model.
const MAX_TOOL_RESULT_CHARS: usize = 16 * 1024;

const SYSTEM_PROMPT: &str = "You are a personal assistant running inside OpenClaw, reached from your human's chat apps. \
Answer briefly unless asked for more. Use your tools when they help; never invent their results.";

/// The `nodes` tool's part of the prompt.
const NODES_NOTE: &str = "You can act on the user's devices (nodes) with the `nodes` tool: action `status` lists the nodes and their commands, \
`describe` shows one node, `invoke` runs a command on a node (for example `system.which` or `camera.snap`), \
and `which` looks up programs on a node. Use the tool when the user asks about their devices.";

/// The `nodes` tool offered to the model.
pub fn nodes_tool() -> ToolSpec {
    ToolSpec {
        name: "nodes".into(),
        description: "Inspect and control the user's connected devices (nodes): status, describe, invoke, which.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["status", "describe", "invoke", "which"]},
                "node": {"type": "string", "description": "node id, id prefix or display name"},
                "command": {"type": "string", "description": "command to invoke, e.g. system.which"},
                "params": {"type": "object", "description": "command params"},
                "bins": {"type": "array", "items": {"type": "string"}, "description": "for which"},
                "timeoutMs": {"type": "integer"}
            },
            "required": ["action"]
        }),
    }
}

/// The agent run actor.
pub struct AgentRun {
    /// What to run.
    req: RunRequest,
    /// Transcript file of the session (relative to the state dir).
    transcript: String,
    /// Registry (tools, events, completion).
    registry: Addr<Registry>,
    /// Store (transcript).
    store: Addr<StoreActor>,
    /// The model (or the embedded command agent).
    model: Rc<dyn ChatModel>,
    /// The running loop.
    handle: Option<SpawnHandle>,
    /// When the run started.
    started_at: u64,
    /// The transcript's last lines, when the registry had them (else read from disk).
    history: Option<Tail>,
    /// The write of the user's line, once sent.
    user_write: UserWrite,
    /// The scheduler, for the `cron` tool (none: the tool is not offered).
    cron: Option<Addr<crate::cron::CronService>>,
    /// Voice transcription, when configured, and the state directory its files are in.
    hearing: Option<(Rc<crate::hearing::Hearing>, std::path::PathBuf)>,
    /// Spoken answers, when configured, and the chat's own choice (`/tts`).
    speech: Option<(Rc<crate::speech::Speech>, Option<bool>)>,
    /// The longest the run may take (`None`: unbounded here, as a cron run, which its
    /// job's own timeout bounds).
    deadline: Option<std::time::Duration>,
    /// The run's streamed `chat` deltas and its event numbering.
    stream: Rc<Streamer>,
    /// The workspace (project context and the file tools; none: neither).
    workspace: Option<Arc<crate::workspace::WorkspaceSettings>>,
    /// Which tools the run is offered (`tools.*`).
    tools: Arc<crate::tool_policy::ToolFilter>,
    /// What the `exec` tool may do in this run (none: not offered).
    exec: Option<crate::exec_tool::ExecAccess>,
    /// `web_fetch` and its settings (none: not offered).
    web: Option<WebTool>,
    /// `web_search` and its settings (none: not offered).
    search: Option<SearchTool>,
    /// `agents.defaults.compaction` and its summarizer (none: the session's model).
    compaction: Compaction,
    /// Compactions made so far, and the context's size.
    stats: Rc<RunStats>,
    /// Where the run's start, end and tool actions are recorded (none: not recorded).
    audit: Option<Rc<RunAudit>>,
    /// Set when the run was stopped at its deadline.
    timed_out: Rc<std::cell::Cell<bool>>,
    /// Which waiting messages may steer into the run (none: it takes none).
    steer: Option<Steering>,
    /// Its agent's `identity.name` (the chat's response prefix may show it).
    identity_name: Option<String>,
    /// What the reply to a chat shows of the run's usage.
    footer: crate::usage_footer::FooterMode,
}

/// What a run needs to take the messages that steer into it.
#[derive(Clone)]
pub struct Steering {
    /// Set by the registry while messages wait behind the run: without it the run does not
    /// ask (no round trip per boundary when nothing waits).
    pub waiting: Rc<std::cell::Cell<bool>>,
}

/// A run's audit records ([`crate::audit`]): its events numbered in order.
pub(crate) struct RunAudit {
    rec: crate::audit::Recorder,
    ids: crate::audit::RunIds,
    seq: std::cell::Cell<u64>,
    /// The tool action running now (call id, name): tools run one at a time.
    open: std::cell::RefCell<Option<(String, String)>>,
}

impl RunAudit {
    fn next(&self) -> u64 {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        n
    }

    /// A tool action starts; the guard records its end (cancelled if it is dropped
    /// unfinished: the run was stopped while the tool ran).
    fn tool(self: &Rc<Self>, call_id: &str, name: &str) -> ToolAudit {
        self.close_open();
        self.rec
            .tool(&self.ids, call_id, name, None, self.next(), now_ms());
        *self.open.borrow_mut() = Some((call_id.to_owned(), name.to_owned()));
        ToolAudit { run: self.clone() }
    }

    /// Ends the open tool action, if any, with `end`.
    fn end_open(&self, end: crate::audit::ToolEnd) {
        let open = self.open.borrow_mut().take();
        if let Some((call_id, name)) = open {
            self.rec
                .tool(&self.ids, &call_id, &name, Some(end), self.next(), now_ms());
        }
    }

    fn close_open(&self) {
        self.end_open(crate::audit::ToolEnd::Cancelled);
    }

    /// The run started (its first event).
    fn started(&self, at: u64) {
        self.seq.set(1);
        self.rec.run_started(&self.ids, at);
    }

    /// The run ended: a tool action still open was cut short by it (a stop, the deadline).
    fn finished(&self, end: crate::audit::RunEnd) {
        self.close_open();
        self.rec.run_finished(&self.ids, end, self.next(), now_ms());
    }
}

/// A tool action in progress, for the audit ledger.
struct ToolAudit {
    run: Rc<RunAudit>,
}

impl ToolAudit {
    fn end(self, end: crate::audit::ToolEnd) {
        self.run.end_open(end);
    }
}

impl Drop for ToolAudit {
    fn drop(&mut self) {
        self.run.close_open();
    }
}

/// How a run compacts its session's context.
#[derive(Clone, Default)]
pub struct Compaction {
    /// `agents.defaults.compaction`.
    pub settings: Arc<crate::compaction::CompactionSettings>,
    /// `compaction.model`, when it names another model.
    pub summarizer: Option<Rc<dyn ChatModel>>,
    /// `compaction.memoryFlush.model`, when it names another model.
    pub flusher: Option<Rc<dyn ChatModel>>,
    /// A memory flush already ran since the session's last compaction (one per cycle).
    pub flushed: bool,
    /// A flush after a reply already started since the session's last compaction (one try
    /// per cycle).
    pub tried: bool,
}

/// `web_fetch`'s shared side and the settings in force when the run started.
pub type WebTool = (
    Rc<crate::web_fetch::WebFetch>,
    Arc<crate::web_fetch::WebFetchSettings>,
);

/// `web_search`'s shared side and the settings in force when the run started.
pub type SearchTool = (
    Rc<crate::web_search::WebSearch>,
    Arc<crate::web_search::WebSearchSettings>,
);

impl AgentRun {
    /// A run of `req` over `transcript`.
    pub fn new(
        req: RunRequest,
        transcript: String,
        registry: Addr<Registry>,
        store: Addr<StoreActor>,
        model: Rc<dyn ChatModel>,
    ) -> Self {
        let registry_for_stream = registry.clone();
        let run_id_for_stream = req.run_id.clone();
        let session_for_stream = req.session_key.clone();
        // A channel that previews the answer text gets it as it is written.
        let text_progress = progress_of(&req).filter(|(sink, _)| sink.answer_text);
        Self {
            req,
            transcript,
            registry,
            store,
            model,
            handle: None,
            started_at: now_ms(),
            history: None,
            user_write: UserWrite::default(),
            cron: None,
            hearing: None,
            speech: None,
            deadline: None,
            workspace: None,
            tools: Arc::default(),
            exec: None,
            web: None,
            search: None,
            compaction: Compaction::default(),
            stats: Rc::default(),
            audit: None,
            timed_out: Rc::default(),
            steer: None,
            identity_name: None,
            footer: crate::usage_footer::FooterMode::Off,
            stream: Rc::new(Streamer {
                progress: text_progress,
                ..Streamer::new(registry_for_stream, run_id_for_stream, session_for_stream)
            }),
        }
    }

    /// Lets the messages waiting behind the run that `key` admits steer into it
    /// (`messages.queue` mode `steer`; see [`crate::run_queue`]).
    pub fn with_steering(mut self, steering: Option<Steering>) -> Self {
        self.steer = steering;
        self
    }

    /// With the chat's usage footer (`/usage`, `messages.responseUsage`): a line of the
    /// run's tokens (and cost) under its reply to the chat.
    pub fn with_usage_footer(mut self, mode: crate::usage_footer::FooterMode) -> Self {
        self.footer = mode;
        self
    }

    /// Its agent's `identity.name`, for the chat's response prefix.
    pub fn with_identity_name(mut self, name: Option<String>) -> Self {
        self.identity_name = name;
        self
    }

    /// Ends the run with an apology once it has taken `deadline` (the user's line stays;
    /// whatever the run was waiting for is dropped, as by `/stop`).
    pub fn with_deadline(mut self, deadline: Option<std::time::Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Speaks the answer too, as `speech` says (`tts`) or the chat chose (`chat`: `/tts on`
    /// or `/tts off`).
    pub fn with_speech(
        mut self,
        speech: Option<Rc<crate::speech::Speech>>,
        chat: Option<bool>,
    ) -> Self {
        self.speech = speech.map(|s| (s, chat));
        self
    }

    /// Transcribes the voice notes of the run's message with `hearing` (its files are under
    /// `state_dir`); without it they become notes.
    pub fn with_hearing(
        mut self,
        hearing: Option<Rc<crate::hearing::Hearing>>,
        state_dir: std::path::PathBuf,
    ) -> Self {
        self.hearing = hearing.map(|h| (h, state_dir));
        self
    }

    /// Runs in this workspace (its files in the system prompt, the file tools) with these
    /// tools offered.
    pub fn with_workspace(
        mut self,
        workspace: Arc<crate::workspace::WorkspaceSettings>,
        tools: Arc<crate::tool_policy::ToolFilter>,
    ) -> Self {
        self.workspace = Some(workspace);
        self.tools = tools;
        self
    }

    /// Offers the `exec` tool with this access (when it allows a host at all).
    pub fn with_exec(mut self, exec: crate::exec_tool::ExecAccess) -> Self {
        self.exec = exec.offered().then_some(exec);
        self
    }

    /// Offers `web_fetch` and `web_search`.
    pub fn with_web(mut self, web: Option<WebTool>, search: Option<SearchTool>) -> Self {
        self.web = web;
        self.search = search;
        self
    }

    /// Records the run in the audit ledger as a run of `agent_id` (when the ledger records).
    pub fn with_audit(mut self, rec: &crate::audit::Recorder, agent_id: &str) -> Self {
        self.audit = rec.enabled().then(|| {
            Rc::new(RunAudit {
                rec: rec.clone(),
                ids: crate::audit::RunIds {
                    agent_id: agent_id.to_owned(),
                    session_key: self.req.session_key.clone(),
                    run_id: self.req.run_id.clone(),
                },
                seq: std::cell::Cell::new(0),
                open: std::cell::RefCell::new(None),
            })
        });
        self
    }

    /// Compacts the session's context with these settings.
    pub fn with_compaction(mut self, compaction: Compaction) -> Self {
        self.compaction = compaction;
        self
    }

    /// Offers the `cron` tool, served by this scheduler.
    pub fn with_cron(mut self, cron: Option<Addr<crate::cron::CronService>>) -> Self {
        self.cron = cron;
        self
    }

    /// Starts from these last lines of the transcript instead of reading them from disk
    /// (the registry's cache of an idle session's tail; `None`: read the disk).
    pub fn with_history(mut self, history: Option<Tail>) -> Self {
        self.history = history;
        self
    }

    /// `tail`: the transcript's last lines as the run found them plus the user's line (`None`
    /// when the run was aborted).
    fn finish(
        &mut self,
        outcome: LoopOutcome,
        tail: Option<Tail>,
        post_flush: Option<FlushJob>,
        ctx: &mut Context<Self>,
    ) {
        // A fresh run saw none of the session's earlier lines: its tail is not the
        // session's, so it is not handed back for the next run.
        let tail = tail.filter(|_| !matches!(self.req.origin, RunOrigin::Cron { fresh: true, .. }));
        let run_id = self.req.run_id.clone();
        let session_key = self.req.session_key.clone();
        let ended = match &outcome {
            LoopOutcome::Done(..) | LoopOutcome::Recorded(..) | LoopOutcome::Notice(..) => {
                crate::metrics::METRICS.agent_runs_ok.inc();
                "completed"
            }
            LoopOutcome::Aborted => {
                crate::metrics::METRICS.agent_runs_error.inc();
                "aborted"
            }
            LoopOutcome::Failed(..) => {
                crate::metrics::METRICS.agent_runs_error.inc();
                "error"
            }
        };
        let run_end = match &outcome {
            LoopOutcome::Done(..) | LoopOutcome::Recorded(..) | LoopOutcome::Notice(..) => {
                crate::audit::RunEnd::Succeeded
            }
            LoopOutcome::Aborted => crate::audit::RunEnd::Cancelled,
            LoopOutcome::Failed(..) if self.timed_out.get() => crate::audit::RunEnd::TimedOut,
            LoopOutcome::Failed(..) => crate::audit::RunEnd::Failed,
        };
        if let Some(a) = &self.audit {
            a.finished(run_end);
        }
        crate::stability::record(
            crate::stability::Record::of("run.completed")
                .channel(self.req.origin.channel_code())
                .model_label(&self.model.primary())
                .outcome(ended)
                .duration(std::time::Duration::from_millis(
                    now_ms().saturating_sub(self.started_at),
                )),
        );
        let mut recorded = false;
        let mut detail = None;
        let (status, text, error, media) = match outcome {
            LoopOutcome::Done(text, media) => (RunStatus::Ok, text, None, media),
            LoopOutcome::Recorded(text, media) => {
                recorded = true;
                (RunStatus::Ok, text, None, media)
            }
            LoopOutcome::Notice(text, done) => {
                recorded = true;
                detail = Some(done);
                (RunStatus::Ok, text, None, Vec::new())
            }
            LoopOutcome::Failed(user_text, err) => {
                (RunStatus::Error, user_text, Some(err), Vec::new())
            }
            LoopOutcome::Aborted => (RunStatus::Aborted, String::new(), None, Vec::new()),
        };
        let now = now_ms();
        // Transcript: the assistant's answer (or the failure note the user saw).
        let mut lines = Vec::new();
        if !recorded && status != RunStatus::Aborted && (!text.is_empty() || !media.is_empty()) {
            let mut line = json!({"type": "message", "id": message_id(), "role": "assistant", "content": text, "ts": now, "runId": run_id});
            // What the run's model calls cost (OpenClaw's `usage`), for `usage.cost`.
            let usage = self.stream.usage.get();
            if usage.calls > 0 {
                line["usage"] = usage.to_json();
            }
            // Which model answered (OpenClaw's `provider` and `model`, for
            // `sessions.usage`), and a failure's `stopReason`.
            if let Some(label) = self.stream.answered_by.borrow().as_deref()
                && let Some((provider, model)) = label.split_once('/')
            {
                line["provider"] = json!(provider);
                line["model"] = json!(model);
            }
            if status == RunStatus::Error {
                line["stopReason"] = json!("error");
            }
            if !media.is_empty() {
                // Before the reply is let go: a rerun after a crash sends the files again.
                line["media"] = json!(media);
            }
            lines.push(line);
        }
        // What the chat is shown: nothing of a silent answer (its files still go).
        let repeated = status == RunStatus::Ok
            && crate::message_tool::already_sent(&self.stats.sent_here.borrow(), &text);
        let silent = status == RunStatus::Ok && (is_silent(&text) || repeated);
        if repeated {
            log::info!(
                "run {run_id}: the answer repeats what the message tool sent to the chat; not sent again"
            );
        } else if silent {
            log::info!("run {run_id}: the answer is the silent token NO_REPLY; nothing is shown");
        }
        let shown = if silent { "" } else { text.as_str() };
        // After the streamed deltas: the whole answer replaces them, then the end.
        let delta_seq = self.stream.next_seq();
        let end_seq = self.stream.next_seq();
        let event = match status {
            RunStatus::Ok => {
                let mut e = final_event(&run_id, &session_key, shown, now);
                e["seq"] = json!(end_seq);
                if !media.is_empty() {
                    e["media"] = json!(media.iter().map(media_summary).collect::<Vec<_>>());
                }
                e
            }
            RunStatus::Aborted => {
                json!({"runId": run_id, "sessionKey": session_key, "seq": end_seq, "state": "aborted", "stopReason": "aborted"})
            }
            _ => {
                json!({"runId": run_id, "sessionKey": session_key, "seq": end_seq, "state": "error",
                "errorMessage": error.clone().unwrap_or_default(), "errorKind": "unknown",
                "message": assistant_message(&text, now)})
            }
        };
        if status != RunStatus::Aborted && !shown.is_empty() {
            let mut delta = delta_event(&run_id, &session_key, shown);
            delta["seq"] = json!(delta_seq);
            // It replaces whatever was streamed (a client appending pieces would otherwise
            // show the answer twice).
            delta["replace"] = json!(true);
            delta["message"] = assistant_message(shown, now);
            self.registry.do_send(Broadcast {
                event: "chat".into(),
                payload: delta,
            });
        }

        // Built now, sent only once the user's line is written: `send` queues at once, and
        // a reply must never reach the chat before the line it answers is written (a kill
        // in between would leave an answered message that no transcript has). The answer's
        // own line may follow the reply. The channel lets go of the message only once
        // `recorded` says every line of this run is synced, so a kill or a power cut before
        // that re-runs the message after the restart (the reply may go out twice: delivery
        // is at least once), and the reply never waits for the disk.
        let (recorded_tx, recorded_rx) = tokio::sync::oneshot::channel::<()>();
        let deliver = match (&self.req.origin, status) {
            (RunOrigin::Channel { .. }, RunStatus::Aborted) => {
                // No answer follows: the channel's progress draft goes now.
                report(&self.req, ProgressEvent::Ended);
                None
            }
            (RunOrigin::Channel { inbound, deliver }, _) => Some((
                deliver.clone(),
                DeliverReply {
                    inbound_id: Some(inbound.id.clone()),
                    target: inbound.target(),
                    reply_to: Some(inbound.message_id),
                    explicit_reply: false,
                    silent: false,
                    // A silent answer without files: nothing is sent, the message is done.
                    text: if shown.is_empty() && media.is_empty() && !silent {
                        "(no reply)".to_owned()
                    } else {
                        match crate::usage_footer::line(self.footer, &self.stream.usage.get())
                            .filter(|_| !shown.is_empty() && status == RunStatus::Ok)
                        {
                            Some(footer) => format!("{shown}\n{footer}"),
                            None => shown.to_owned(),
                        }
                    },
                    recorded: Some(futures_util::FutureExt::shared(recorded_rx)),
                    media: media.clone(),
                    buttons: Vec::new(),
                    // The model's answer (not a placeholder) gets the chat's prefix.
                    prefix: (!shown.is_empty()).then(|| crate::channel::prefix::PrefixVars {
                        model_full: Some(self.model.primary()),
                        thinking: Some(
                            self.req
                                .thinking
                                .map_or("off", crate::ports::Thinking::as_str)
                                .to_owned(),
                        ),
                        identity_name: self.identity_name.clone(),
                        strict: false,
                    }),
                },
            )),
            _ => None,
        };
        let written = lines.clone();
        let store = self.store.clone();
        let transcript = self.transcript.clone();
        let registry = self.registry.clone();
        let started_at = self.started_at;
        let mut outcome = RunOutcome {
            status,
            text: text.clone(),
            media: media.clone(),
            error,
            started_at,
            ended_at: now,
            compactions: self.stats.compactions.get(),
            context: self.stats.context.get(),
            detail,
            flushed: self.stats.flushed.get(),
            flush_tried: None,
            usage: self.stream.usage.get(),
            delivery: None,
            model: self.stream.answered_by.take(),
        };
        // `agent {deliver: true}`: the answer also goes where the caller asked.
        let agent_delivery = self
            .req
            .delivery
            .clone()
            .filter(|_| status == RunStatus::Ok)
            .map(|d| (d, shown.to_owned()));
        let user_write = self.user_write.borrow_mut().take();
        // The chat message and its reply, for the audit ledger (`logging.audit.messages`).
        let message_audit = match (&self.audit, &self.req.origin) {
            (Some(a), RunOrigin::Channel { inbound, .. }) => {
                let kind = crate::audit::ConversationKind::of_chat_type(&inbound.chat_type);
                a.rec.records_messages(kind).then(|| {
                    let ids = crate::audit::MessageIds {
                        channel: inbound.channel.clone(),
                        account: inbound.account_id.clone(),
                        conversation: inbound.chat_id.to_string(),
                        message: Some(inbound.message_id.to_string()),
                        sender: Some(inbound.sender_id.to_string()),
                        target: None,
                    };
                    (a.clone(), kind, ids)
                })
            }
            _ => None,
        };
        let inbound_end = match run_end {
            crate::audit::RunEnd::Succeeded => crate::audit::InboundEnd::Completed,
            crate::audit::RunEnd::Cancelled => crate::audit::InboundEnd::Aborted,
            _ => crate::audit::InboundEnd::Failed,
        };
        async move {
            // The user's line went to the store first (even if the run was aborted after
            // that). If it could not be written, it goes with the run's last lines.
            let mut lines = lines;
            // The user's line, when it goes again here, was shown when it was queued.
            let mut retried_user = 0;
            if let Some((write, line)) = user_write
                && !matches!(write.await, Ok(Ok(())))
            {
                lines.insert(0, line);
                retried_user = 1;
            }
            let sending = now_ms();
            let delivery = deliver.map(|(to, reply)| to.send(reply));
            let reply_out = || {
                registry.do_send(crate::registry::runs::ReplyOut {
                    session_key: session_key.clone(),
                    run_id: run_id.clone(),
                });
            };
            if delivery.is_some() {
                reply_out();
            }
            // Synced even with no lines of its own: the user's line, or a rerun's recorded
            // answer that a killed process left in the page cache.
            let all_written = record(&store, &transcript, &lines, &run_id).await;
            if all_written && lines.len() > retried_user {
                // The run's own lines, for `session.message` (the registry shows only the
                // messages among them).
                lines.drain(..retried_user);
                registry.do_send(crate::registry::session_events::TranscriptGrew {
                    session_key: session_key.clone(),
                    run_id: Some(run_id.clone()),
                    lines,
                    sender: None,
                });
            }
            // Synced, or given up: either way the channel need not wait longer.
            let _ = recorded_tx.send(());
            // What the disk now ends with, for the next run of this session.
            let mut tail_lines = match tail {
                // Already the context: trimmed when read, and by each compaction of the run.
                Some(mut l) if all_written && status != RunStatus::Aborted => {
                    l.extend(written);
                    Some(l)
                }
                _ => None,
            };
            // After the transcript append, so `chat.history` right after `final` has it.
            registry.do_send(Broadcast {
                event: "chat".into(),
                payload: event,
            });
            if delivery.is_none() {
                reply_out();
            }
            if let Some((d, shown)) = agent_delivery {
                let status = d
                    .send(&registry, &run_id, &session_key, &shown, &outcome.media)
                    .await;
                match status["status"].as_str() {
                    Some("failed") => log::warn!(
                        "run {run_id}: the answer was not delivered: {}",
                        status["errorMessage"]
                            .as_str()
                            .or(status["reason"].as_str())
                            .unwrap_or("failed")
                    ),
                    other => log::info!(
                        "run {run_id}: delivery {}",
                        other.unwrap_or("done")
                    ),
                }
                outcome.delivery = Some(status);
            }
            let delivered = match delivery {
                Some(d) => Some(match d.await {
                    Ok(Ok(sent)) => (crate::audit::OutboundEnd::Sent, sent),
                    // Nothing to send was the point.
                    Ok(Err(crate::channel::ChannelError::EmptyText)) if silent => {
                        (crate::audit::OutboundEnd::Suppressed, Vec::new())
                    }
                    Ok(Err(e)) => {
                        log::warn!("run {run_id}: reply not delivered: {e}");
                        (crate::audit::OutboundEnd::Failed, Vec::new())
                    }
                    Err(e) => {
                        log::warn!("run {run_id}: channel unavailable: {e}");
                        (crate::audit::OutboundEnd::Failed, Vec::new())
                    }
                }),
                None => None,
            };
            if let Some((a, kind, ids)) = message_audit {
                let now = now_ms();
                let replies = delivered.as_ref().map_or(0, |(_, sent)| sent.len() as u64);
                a.rec.inbound(
                    ids.clone(),
                    kind,
                    inbound_end,
                    Some(&a.ids),
                    now.saturating_sub(started_at),
                    u64::from(replies > 0),
                    now,
                );
                if let Some((end, sent)) = delivered {
                    let out = crate::audit::MessageIds {
                        message: sent.first().map(ToString::to_string),
                        sender: None,
                        target: Some(ids.conversation.clone()),
                        ..ids
                    };
                    a.rec.outbound(
                        out,
                        kind,
                        end,
                        Some(&a.ids),
                        !outcome.media.is_empty(),
                        now.saturating_sub(sending),
                        replies,
                        now,
                    );
                }
            }
            // The reply is out: the memory flush due after it runs now, still holding the
            // session's queue, until the session's next message interrupts it.
            if let Some(job) = post_flush {
                // Its waiters need not wait for the flush.
                registry.do_send(crate::registry::runs::RunReplied {
                    run_id: run_id.clone(),
                    outcome: outcome.clone(),
                });
                outcome.flush_tried = Some(outcome.compactions);
                let (abort, registration) = futures_util::future::AbortHandle::new_pair();
                registry.do_send(crate::registry::runs::FlushStarted {
                    session_key: session_key.clone(),
                    run_id: run_id.clone(),
                    abort,
                });
                let spent = std::cell::Cell::new(crate::ports::Usage::default());
                match futures_util::future::Abortable::new(job.run(&spent), registration).await {
                    Ok(_) => outcome.flushed = Some(outcome.compactions),
                    Err(_) => log::info!(
                        "run {run_id}: memory flush after the reply interrupted (the session has a new message)"
                    ),
                }
                // What it cost, for `usage.cost`: a line no context or history reads
                // (OpenClaw's `custom` entry).
                let spent = spent.get();
                if spent.calls > 0 {
                    let line = json!({"type": "custom", "customType": FLUSH_USAGE,
                        "ts": now_ms(), "runId": run_id, "usage": spent.to_json()});
                    let written =
                        record(&store, &transcript, std::slice::from_ref(&line), &run_id).await;
                    match (&mut tail_lines, written) {
                        (Some(t), true) => t.push(line),
                        (t, _) => *t = None,
                    }
                }
            }
            registry.do_send(RunFinished {
                run_id,
                session_key,
                outcome,
                tail: (transcript, tail_lines),
            });
        }
        .into_actor(self)
        .map(|_, _, ctx| ctx.stop())
        .wait(ctx);
    }
}

/// The `customType` of the transcript line that records what a memory flush after a reply
/// cost (its model calls' `usage`).
pub const FLUSH_USAGE: &str = "openclaw-rs:memory-flush";

/// What operators learn of an attachment in the `final` event (not its path: the file is
/// the gateway's; the chat got it).
fn media_summary(m: &MediaRef) -> Value {
    json!({"kind": m.kind, "mimeType": m.mime, "bytes": m.bytes, "fileName": m.file_name})
}

fn assistant_message(text: &str, ts: u64) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ts})
}

/// The `chat` event carrying a run's answer text (`state: "delta"`, before the final).
/// Least time between two streamed `chat` deltas of a run: pieces arriving faster are
/// sent together (the `final` event carries the whole answer in any case).
const DELTA_EVERY: Duration = Duration::from_millis(150);

/// Longest answer a streamed delta repeats in full (`message`): beyond it, deltas carry only
/// their new text, so a long (or hostile) stream costs each operator linear, not quadratic,
/// bandwidth. The end's `replace` delta and `final` carry the whole answer once.
const DELTA_SNAPSHOT_MAX: usize = 64 * 1024;

/// A run's `chat` `delta` events while the model streams its answer: each carries the new
/// text (`deltaText`) and the round's answer so far (`message`); a new round or a provider's
/// retry starts over with `replace: true`. Also numbers all of the run's `chat` events.
pub(crate) struct Streamer {
    registry: Addr<Registry>,
    run_id: String,
    session_key: String,
    seq: std::cell::Cell<u64>,
    /// This round's text so far.
    text: std::cell::RefCell<String>,
    /// Text not sent yet.
    pending: std::cell::RefCell<String>,
    /// The next delta replaces what was shown.
    replace: std::cell::Cell<bool>,
    last_sent: std::cell::Cell<Option<std::time::Instant>>,
    /// The channel draft that shows the answer as it is written (`streaming.mode:
    /// "partial"`), with what it reports about.
    progress: Option<(ProgressSink, RunProgress)>,
    /// The tokens (and cost) of the run's model calls so far.
    usage: std::cell::Cell<crate::ports::Usage>,
    /// `provider/model` of the model that answered last (for the answer's line).
    answered_by: std::cell::RefCell<Option<String>>,
}

impl Streamer {
    fn new(registry: Addr<Registry>, run_id: String, session_key: String) -> Self {
        Self {
            registry,
            run_id,
            session_key,
            seq: std::cell::Cell::new(0),
            usage: Default::default(),
            text: Default::default(),
            pending: Default::default(),
            replace: std::cell::Cell::new(false),
            last_sent: std::cell::Cell::new(None),
            progress: None,
            answered_by: Default::default(),
        }
    }

    /// The next `seq` of the run's `chat` events.
    fn next_seq(&self) -> u64 {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        n
    }

    /// Where the model's pieces go.
    fn sink(this: &Rc<Self>) -> crate::ports::DeltaSink {
        let s = this.clone();
        Rc::new(move |d| s.on(d))
    }

    /// A new model round: its text replaces the last round's (a preamble before tool calls).
    fn new_round(&self) {
        if !self.text.borrow().is_empty() {
            self.text.borrow_mut().clear();
            self.pending.borrow_mut().clear();
            self.replace.set(true);
        }
    }

    fn on(&self, d: crate::ports::Delta<'_>) {
        match d {
            crate::ports::Delta::Text(t) => {
                if t.is_empty() {
                    return;
                }
                self.text.borrow_mut().push_str(t);
                self.pending.borrow_mut().push_str(t);
                if self
                    .last_sent
                    .get()
                    .is_none_or(|at| at.elapsed() >= DELTA_EVERY)
                {
                    self.flush();
                }
            }
            crate::ports::Delta::Restart => {
                self.text.borrow_mut().clear();
                self.pending.borrow_mut().clear();
                self.replace.set(true);
                self.flush();
            }
        }
    }

    fn flush(&self) {
        let replace = self.replace.get();
        if self.pending.borrow().is_empty() && !replace {
            return;
        }
        // Held back while the answer may still be only the silent token: `NO_REPLY` is
        // never shown, not even as it is written.
        if may_be_silent(&self.text.borrow()) {
            return;
        }
        // `[[tts:…]]` directives are never shown, not even while they are written: with
        // one in sight, each delta is the whole text without them.
        let cleaned = {
            let raw = self.text.borrow();
            if raw.contains("[[") || raw.ends_with('[') {
                let mut t = raw.clone();
                crate::speech::take_directives(&mut t, true);
                Some(t).filter(|t| *t != *raw)
            } else {
                None
            }
        };
        let replace = replace || cleaned.is_some();
        let piece = if let Some(c) = &cleaned {
            c.clone()
        } else if replace {
            self.text.borrow().clone()
        } else {
            std::mem::take(&mut *self.pending.borrow_mut())
        };
        self.pending.borrow_mut().clear();
        self.replace.set(false);
        self.last_sent.set(Some(std::time::Instant::now()));
        let mut e = delta_event(&self.run_id, &self.session_key, &piece);
        e["seq"] = json!(self.next_seq());
        let raw = self.text.borrow();
        let text = cleaned.as_deref().unwrap_or(raw.as_str());
        if text.len() <= DELTA_SNAPSHOT_MAX {
            e["message"] = assistant_message(text, now_ms());
        }
        if let Some((sink, about)) = &self.progress
            && text.len() <= DELTA_SNAPSHOT_MAX
        {
            sink.to.do_send(RunProgress {
                event: ProgressEvent::Text(text.to_owned()),
                ..about.clone()
            });
        }
        drop(raw);
        if replace {
            e["replace"] = json!(true);
        }
        self.registry.do_send(Broadcast {
            event: "chat".into(),
            payload: e,
        });
    }
}

pub(crate) fn delta_event(run_id: &str, session_key: &str, text: &str) -> Value {
    json!({"runId": run_id, "sessionKey": session_key, "seq": 1, "state": "delta", "deltaText": text})
}

/// OpenClaw's silent token: an answer that is only `NO_REPLY` (any case, surrounding
/// whitespace ignored) is never delivered as text (its files still go).
pub(crate) fn is_silent(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case(SILENT_TOKEN)
}

const SILENT_TOKEN: &str = "NO_REPLY";

/// Whether `text`, still being written, could end up as only the silent token.
fn may_be_silent(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.len() <= SILENT_TOKEN.len()
        && SILENT_TOKEN.as_bytes()[..t.len()].eq_ignore_ascii_case(t.as_bytes())
}

/// The `chat` event ending a run with its answer (`state: "final"`).
pub(crate) fn final_event(run_id: &str, session_key: &str, text: &str, ts: u64) -> Value {
    json!({"runId": run_id, "sessionKey": session_key, "seq": 2, "state": "final",
        "message": assistant_message(text, ts), "stopReason": "stop"})
}

/// The pending write of the user's line, and the line. The actor holds it, not the loop:
/// dropping an actix request before the store took it cancels the write, and an aborted loop
/// is dropped.
type UserWrite =
    Rc<std::cell::RefCell<Option<(actix::dev::Request<StoreActor, AppendLines>, Value)>>>;

/// How long a run keeps trying to record its lines while the disk is full (being cleaned up,
/// one hopes) before it gives up on them; its message stays pending at its channel, and its
/// `final` event waits, meanwhile.
const RECORD_RETRY_FOR: Duration = Duration::from_secs(60);

/// Appends `lines` to `transcript` and syncs it (with no lines: only the sync), retrying with
/// backoff while the disk is full ([`StoreError::passes`](crate::store::StoreError::passes)),
/// for at most [`RECORD_RETRY_FOR`]; any other failure is not retried (it does not pass by
/// itself, and the session's next message waits for this run). `true` once on disk.
async fn record(store: &Addr<StoreActor>, transcript: &str, lines: &[Value], run_id: &str) -> bool {
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let append = AppendLines {
            name: transcript.to_owned(),
            lines: lines.to_vec(),
            sync: true,
        };
        match store.send(append).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) if e.passes() && started.elapsed() + delay <= RECORD_RETRY_FOR => {
                log::warn!("run {run_id}: transcript not saved, retrying in {delay:?}: {e}");
                actix::clock::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Ok(Err(e)) => {
                log::error!(
                    "run {run_id}: transcript not saved: {e} ({} line(s) lost{})",
                    lines.len(),
                    if e.passes() {
                        format!(", given up after {RECORD_RETRY_FOR:?}")
                    } else {
                        String::new()
                    }
                );
                return false;
            }
            Err(e) => {
                log::error!("run {run_id}: store unavailable: {e}");
                return false;
            }
        }
    }
}

enum LoopOutcome {
    /// The answer and its attachments.
    Done(String, Vec<MediaRef>),
    /// A rerun whose answer the transcript already holds (the process died after recording
    /// it, before the channel confirmed the reply): deliver that answer (and its
    /// attachments) again, record nothing.
    Recorded(String, Vec<MediaRef>),
    /// `(what the user is told, the error)`.
    Failed(String, String),
    Aborted,
    /// A notice for the user that is not part of the conversation (`/compact`'s outcome):
    /// delivered like an answer, not recorded; with what was done, for `sessions.compact`.
    Notice(String, Value),
}

impl Actor for AgentRun {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        crate::stability::record(
            crate::stability::Record::of("run.started")
                .channel(self.req.origin.channel_code())
                .model_label(&self.model.primary()),
        );
        if let Some(a) = &self.audit {
            a.started(self.started_at);
        }
        let registry = self.registry.clone();
        let store = self.store.clone();
        let model = self.model.clone();
        let req = self.req.clone();
        let transcript = self.transcript.clone();
        let history = self.history.take();
        let user_write = self.user_write.clone();
        let cron = self.cron.clone();
        let hearing = self.hearing.clone();
        let speech = self.speech.clone();
        let deadline = self.deadline;
        let run_id = self.req.run_id.clone();
        let stream = self.stream.clone();
        let workspace = self.workspace.clone();
        let tools = self.tools.clone();
        let exec = self.exec.clone();
        let web = self.web.clone();
        let search = self.search.clone();
        let compaction = self.compaction.clone();
        let stats = self.stats.clone();
        let audit = self.audit.clone();
        let timed_out = self.timed_out.clone();
        let steer = self.steer.clone();
        let fut = async move {
            let deps = RunDeps {
                steer,
                audit,
                compaction,
                stats,
                registry,
                store,
                model,
                stream,
                cron,
                hearing,
                speech,
                workspace,
                tools,
                exec,
                web,
                search,
            };
            let run = run_loop(req, transcript, deps, history, user_write);
            match deadline {
                None => {
                    let (outcome, tail, flush) = run.await;
                    (outcome, Some(tail), flush)
                }
                Some(d) => match tokio::time::timeout(d, run).await {
                    Ok((outcome, tail, flush)) => (outcome, Some(tail), flush),
                    Err(_) => {
                        timed_out.set(true);
                        log::warn!(
                            "run {run_id} stopped after {} s (agents.defaults.timeoutSeconds)",
                            d.as_secs()
                        );
                        (
                            LoopOutcome::Failed(
                                format!(
                                    "⚠️ Sorry — that took longer than {}, so I stopped. Please try again, or ask for less at once.",
                                    human_duration(d)
                                ),
                                format!("run timed out after {} s", d.as_secs()),
                            ),
                            None,
                            None,
                        )
                    }
                },
            }
        };
        let handle = ctx.spawn(
            fut.into_actor(self)
                .map(|(outcome, tail, flush), act, ctx| {
                    act.handle = None;
                    act.finish(outcome, tail, flush, ctx);
                }),
        );
        self.handle = Some(handle);
    }
}

/// Sent by the registry (`chat.abort`, gateway shutdown) to stop the run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelRun;

impl Handler<CancelRun> for AgentRun {
    type Result = ();

    fn handle(&mut self, _: CancelRun, ctx: &mut Self::Context) {
        if let Some(h) = self.handle.take() {
            ctx.cancel_future(h);
            self.finish(LoopOutcome::Aborted, None, None, ctx);
        }
    }
}

/// What of a transcript file a run reads at most: its context fits the window, so this is
/// room for about twelve bytes a token (JSON framing, multi-byte text), 256 KiB to 16 MiB.
fn context_bytes(budget: crate::compaction::Budget) -> u64 {
    (u64::from(budget.window) * 12).clamp(256 * 1024, 16 * 1024 * 1024)
}

/// The context lines as the model reads them: the last compaction's summary, then the
/// messages (not the run's own: `skip_source` is a rerun's message, `run_id` this run's).
fn context_messages(lines: &[Value], skip_source: Option<&str>, run_id: &str) -> Vec<ChatMessage> {
    digest_messages(&crate::compaction::digest(lines), skip_source, run_id)
}

/// [`context_messages`] of a context already read.
fn digest_messages(
    d: &crate::compaction::Digest<'_>,
    skip_source: Option<&str>,
    run_id: &str,
) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(d.messages.len() + 1);
    out.extend(d.summary.map(crate::compaction::summary_message));
    out.extend(history_to_messages(
        d.messages.iter().copied().zip(d.fields.iter().copied()),
        skip_source,
        Some(run_id),
    ));
    out
}

/// Compacts a session's context (see [`crate::compaction`]) and records it.
struct Compactor<'a> {
    store: &'a Addr<StoreActor>,
    transcript: &'a str,
    /// The summarizer.
    model: &'a dyn ChatModel,
    budget: crate::compaction::Budget,
    settings: &'a crate::compaction::CompactionSettings,
    run_id: &'a str,
    /// Compactions made (the run's count).
    count: &'a std::cell::Cell<u32>,
}

impl Compactor<'_> {
    /// Compacts `lines` (the context lines), appends the compaction line to the transcript
    /// (synced: the next run reads it) and to `lines`, and drops what it summarized from
    /// `lines`. A failure changes nothing.
    async fn run(
        &self,
        lines: &mut Vec<Value>,
        trigger: crate::compaction::Trigger,
        focus: Option<&str>,
    ) -> Result<crate::compaction::Compacted, crate::compaction::NotCompacted> {
        use crate::compaction::NotCompacted;
        let ask = crate::compaction::Ask {
            model: self.model,
            budget: self.budget,
            settings: self.settings,
            trigger,
            focus,
        };
        let (line, done) = match crate::compaction::compact(lines, &ask).await {
            Ok(r) => r,
            Err(e) => {
                if let NotCompacted::Failed(why) = &e {
                    crate::metrics::METRICS.model_errors.inc();
                    log::warn!(
                        "run {}: compaction ({trigger:?}) failed: {why}",
                        self.run_id
                    );
                }
                return Err(e);
            }
        };
        self.record(lines, line, done, trigger).await
    }

    /// `sessions.compact {maxLines}`: the context keeps its last `n` messages, without a
    /// summary (no model call; the transcript keeps everything).
    async fn truncate(
        &self,
        lines: &mut Vec<Value>,
        n: u64,
    ) -> Result<crate::compaction::Compacted, crate::compaction::NotCompacted> {
        let (line, done) = crate::compaction::truncation(lines, n)?;
        self.record(lines, line, done, crate::compaction::Trigger::Manual)
            .await
    }

    /// Appends the compaction `line` to the transcript (synced) and to `lines`, and drops
    /// what it replaced from `lines`.
    async fn record(
        &self,
        lines: &mut Vec<Value>,
        line: Value,
        done: crate::compaction::Compacted,
        trigger: crate::compaction::Trigger,
    ) -> Result<crate::compaction::Compacted, crate::compaction::NotCompacted> {
        use crate::compaction::NotCompacted;
        let written = self
            .store
            .send(AppendLines {
                name: self.transcript.to_owned(),
                lines: vec![line.clone()],
                sync: true,
            })
            .await;
        if !matches!(written, Ok(Ok(()))) {
            log::warn!("run {}: the compaction could not be saved", self.run_id);
            return Err(NotCompacted::Failed(
                "the transcript could not be written".into(),
            ));
        }
        lines.push(line);
        crate::compaction::trim_to_context(lines);
        self.count.set(self.count.get() + 1);
        log::info!(
            "run {}: compacted ({trigger:?}): {} message(s) summarized, {} kept, {} left out; ~{} → ~{} tokens",
            self.run_id,
            done.summarized,
            done.kept,
            done.omitted,
            done.tokens_before,
            done.tokens_after
        );
        Ok(done)
    }
}

/// The memory tools and file tools a memory flush may use: those the run offers, but not
/// `apply_patch` (as in OpenClaw, a flush only reads and writes its memory files).
fn flush_tools(offered: &Offered) -> Vec<ToolSpec> {
    crate::workspace::tools::specs()
        .into_iter()
        .filter(|t| t.name != "apply_patch" && offered.fs.contains(&t.name.as_str()))
        .chain(
            crate::workspace::memory::specs()
                .into_iter()
                .filter(|t| offered.memory.contains(&t.name.as_str())),
        )
        .collect()
}

/// The silent turn that lets the agent save what matters to its memory files before its
/// session is compacted (OpenClaw's memory flush): the model sees the context and
/// [`FLUSH_PROMPT`](crate::compaction::FLUSH_PROMPT) with only the file and memory tools
/// the run offers, for at most [`FLUSH_ROUNDS`](crate::compaction::FLUSH_ROUNDS) rounds and
/// `timeout`; its answer goes nowhere and nothing of it enters the transcript (the files it
/// writes stay). It runs right before an automatic compaction, or after a reply that
/// brought the context near its limit (then off the reply path).
struct FlushJob {
    model: Rc<dyn ChatModel>,
    /// The run's system messages.
    system: Vec<ChatMessage>,
    /// The conversation (its newest part is kept when it does not fit).
    history: Vec<ChatMessage>,
    tools: Vec<ToolSpec>,
    skill_dirs: Arc<[std::path::PathBuf]>,
    workspace: Arc<crate::workspace::WorkspaceSettings>,
    scope: crate::workspace::Scope,
    /// What the request may hold.
    limit: u32,
    timeout: Duration,
    run_id: String,
    /// When it runs, for the log.
    when: &'static str,
    /// The run's audit records: the flush's file tool actions are the run's too (after the
    /// reply they follow the run's own end record).
    audit: Option<Rc<RunAudit>>,
}

impl FlushJob {
    /// Runs the flush; returns what its model calls used (also added to `spent` as they
    /// answer, for a flush stopped midway).
    async fn run(self, spent: &std::cell::Cell<crate::ports::Usage>) -> crate::ports::Usage {
        let FlushJob {
            model,
            system,
            history,
            tools,
            skill_dirs,
            workspace,
            scope,
            limit,
            timeout,
            run_id,
            when,
            audit,
        } = self;
        let mut msgs = system;
        let start = msgs.len();
        msgs.extend(history);
        let end = msgs.len();
        msgs.push(ChatMessage::text("user", crate::compaction::FLUSH_PROMPT));
        crate::compaction::drop_oldest(&mut msgs, start..end, &tools, limit);
        let tools = Arc::new(tools);
        let mut msgs = Arc::new(msgs);
        let usage = spent;
        let writes = std::cell::Cell::new(0usize);
        let work = async {
            for _ in 0..crate::compaction::FLUSH_ROUNDS {
                let r = match model
                    .complete(ChatRequest {
                        messages: msgs.clone(),
                        tools: tools.clone(),
                        thinking: None,
                        cache_key: None,
                    })
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        log::warn!("run {run_id}: memory flush: the model failed: {e}");
                        return;
                    }
                };
                let mut u = usage.get();
                u.add(&r.usage);
                usage.set(u);
                let calls = r.message.tool_calls.clone().unwrap_or_default();
                if calls.is_empty() {
                    return;
                }
                Arc::make_mut(&mut msgs).push(ChatMessage::calling_from(&r.message, calls.clone()));
                for call in calls {
                    let name = call.function.name.as_str();
                    let audited = audit.as_ref().map(|a| a.tool(&call.id, name));
                    let result = if tools.iter().any(|t| t.name == name) {
                        writes.set(writes.get() + 1);
                        run_workspace_tool(
                            Some((&workspace, scope)),
                            &skill_dirs,
                            name,
                            &call.function.arguments,
                        )
                        .await
                    } else {
                        json!({"ok": false, "error": format!("unknown tool: {name}")})
                    };
                    if let Some(a) = audited {
                        a.end(crate::audit::ToolEnd::of_result(&result));
                    }
                    Arc::make_mut(&mut msgs)
                        .push(ChatMessage::tool_result(call.id, tool_result_text(&result)));
                }
            }
        };
        if tokio::time::timeout(timeout, work).await.is_err() {
            log::warn!(
                "run {run_id}: memory flush stopped after {} s",
                timeout.as_secs()
            );
        }
        log::info!(
            "run {run_id}: memory flush {when}: {} file tool call(s)",
            writes.get()
        );
        usage.get()
    }
}

/// The conversation's prompt-cache key for providers that route by one (OpenAI's
/// `prompt_cache_key`): stable per session, and not the key itself (a session key names the
/// chat: `agent:main:telegram:direct:<user id>`), so `oc-` and 32 hex digits of its SHA-256.
fn prompt_cache_key(session_key: &str) -> Arc<str> {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(session_key.as_bytes());
    format!("oc-{}", crate::identity::hex(&digest[..16])).into()
}

/// A tool's result as the model reads it: its JSON, cut to [`MAX_TOOL_RESULT_CHARS`].
pub(crate) fn tool_result_text(result: &Value) -> String {
    let mut text = result.to_string();
    if text.len() > MAX_TOOL_RESULT_CHARS {
        text.truncate(crate::workspace::confined::floor_char_boundary(
            &text,
            MAX_TOOL_RESULT_CHARS,
        ));
        text.push_str("…(truncated)");
    }
    text
}

/// `compaction.notifyUser`: the chat hears of an automatic compaction.
fn notify_compaction(
    req: &RunRequest,
    settings: &crate::compaction::CompactionSettings,
    done: &Result<crate::compaction::Compacted, crate::compaction::NotCompacted>,
) {
    let (true, RunOrigin::Channel { inbound, deliver }, Ok(c)) =
        (settings.notify_user, &req.origin, done)
    else {
        return;
    };
    deliver.do_send(DeliverReply {
        inbound_id: None,
        target: inbound.target(),
        reply_to: None,
        explicit_reply: false,
        silent: false,
        text: format!(
            "🧹 Compaction complete: the earlier conversation is summarized (~{} → ~{} tokens).",
            crate::usage_footer::tokens(u64::from(c.tokens_before)),
            crate::usage_footer::tokens(u64::from(c.tokens_after))
        ),
        recorded: None,
        media: Vec::new(),
        buttons: Vec::new(),
        prefix: None,
    });
}

/// What a run does when the provider says its request does not fit: compact once and send
/// it again.
struct Recovery<'a> {
    compactor: &'a Compactor<'a>,
    /// Where the history (summary and earlier messages) is in the request's messages.
    history: std::ops::Range<usize>,
    /// The context lines (the run's user line last, when written).
    lines: Tail,
    skip_source: Option<&'a str>,
    /// Done already (once per run).
    used: bool,
}

impl Recovery<'_> {
    /// Makes `messages` smaller after an overflow: the history compacted (or, if that is
    /// not possible, left out). `false`: nothing more can be done.
    async fn shrink(&mut self, messages: &mut Vec<ChatMessage>, run_id: &str) -> bool {
        if self.used || self.history.is_empty() {
            return false;
        }
        self.used = true;
        let done = self
            .compactor
            .run(
                self.lines.lines_mut(),
                crate::compaction::Trigger::Overflow,
                None,
            )
            .await;
        let replacement = match done {
            Ok(_) => context_messages(self.lines.lines(), self.skip_source, run_id),
            // Nothing to summarize, or the summary failed: this request goes without it.
            Err(_) => Vec::new(),
        };
        let n = replacement.len();
        messages.splice(self.history.clone(), replacement);
        self.history = self.history.start..self.history.start + n;
        true
    }
}

/// The model's messages of transcript lines, each with its fields as the digest read them.
fn history_to_messages<'a>(
    lines: impl Iterator<Item = (&'a Value, crate::compaction::LineFields<'a>)>,
    skip_source: Option<&'a str>,
    skip_run: Option<&'a str>,
) -> impl Iterator<Item = ChatMessage> {
    lines.filter_map(move |(l, f)| {
        if !f.is_message()
            || (skip_source.is_some() && f.source_id == skip_source)
            || (skip_run.is_some() && f.run_id == skip_run)
        {
            return None;
        }
        let (role, content) = (f.role?, f.content?);
        if !f.has_media {
            return Some(ChatMessage::text(role, content));
        }
        // The model learns what its earlier answers carried (not the data).
        let media = MediaRef::list_of(l);
        if media.is_empty() {
            return Some(ChatMessage::text(role, content));
        }
        let nouns: Vec<&str> = media.iter().map(|m| m.kind.noun()).collect();
        let note = format!("[attached: {}]", nouns.join(", "));
        Some(ChatMessage::text(
            role,
            if content.is_empty() {
                note
            } else {
                format!("{content}\n{note}")
            },
        ))
    })
}

/// The user's message for the model: the text, a note per received image (shown to a model
/// that sees images, up to [`MAX_VISION_BYTES`]) and the channel's notes on other media.
async fn user_message(
    text: &str,
    attached: &[MediaRef],
    notes: &[String],
    store: &Addr<StoreActor>,
    vision: bool,
) -> ChatMessage {
    use base64::Engine as _;
    let mut content = text.to_owned();
    let mut images = Vec::new();
    let mut note = |n: String| {
        if !content.is_empty() {
            content.push('\n');
        }
        content.push('[');
        content.push_str(&n);
        content.push(']');
    };
    for m in attached {
        let kb = m.bytes.div_ceil(1024);
        let loaded = if vision && m.bytes <= MAX_VISION_BYTES as u64 {
            store
                .send(crate::store::LoadDocument {
                    name: m.path.clone(),
                })
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        } else {
            None
        };
        // Encoding takes ~6.5 ms for 5 MB in a release build: off this thread.
        let shown = match loaded {
            Some(data) => actix_web::rt::task::spawn_blocking(move || {
                let (mime, _, _) = crate::media::sniff(&data)?;
                Some(crate::ports::ImagePart {
                    mime,
                    base64: base64::engine::general_purpose::STANDARD
                        .encode(&data)
                        .into(),
                })
            })
            .await
            .ok()
            .flatten(),
            None => None,
        };
        note(match (&shown, vision) {
            (Some(_), _) => format!("The user sent a photo ({kb} KB); you see it below."),
            (None, true) => format!(
                "The user sent a photo ({kb} KB) that could not be shown to you (too large or unreadable)."
            ),
            (None, false) => format!(
                "The user sent a photo ({kb} KB). This model cannot see images, so only this note reaches you: say so if the photo matters."
            ),
        });
        images.extend(shown);
    }
    for n in notes {
        note(n.clone());
    }
    ChatMessage {
        role: "user".into(),
        content: Some(content),
        images,
        ..ChatMessage::default()
    }
}

/// The transcripts of a message's voice notes (in order; those that could not be
/// transcribed, or were not, leave a note for the agent instead).
async fn hear(
    req: &RunRequest,
    audio: &[MediaRef],
    hearing: Option<&(Rc<crate::hearing::Hearing>, std::path::PathBuf)>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let counts = &crate::metrics::METRICS.transcriptions;
    let Some((h, state_dir)) = hearing else {
        counts[2].add(audio.len() as u64);
        notes.extend(audio.iter().map(|_| {
            "The user sent a voice message; this gateway cannot transcribe it (no transcription model is configured: tools.media.audio).".to_owned()
        }));
        return Vec::new();
    };
    let (channel, chat_type) = match &req.origin {
        RunOrigin::Channel { inbound, .. } => (
            Some(inbound.channel.as_str()),
            Some(inbound.chat_type.as_str()),
        ),
        _ => (None, None),
    };
    if !h.policy.scope.allows(channel, chat_type, &req.session_key) {
        counts[2].add(audio.len() as u64);
        notes.push(
            "The user sent a voice message; transcription is turned off for this chat (tools.media.audio.scope), so you cannot hear it.".into(),
        );
        return Vec::new();
    }
    let mut heard = Vec::new();
    for (i, m) in audio.iter().enumerate() {
        if i >= h.policy.max_attachments {
            counts[2].inc();
            notes.push(format!(
                "The user sent another voice message that was not transcribed (at most {} per message: tools.media.audio.attachments).",
                h.policy.max_attachments
            ));
            continue;
        }
        if m.bytes < crate::hearing::MIN_AUDIO_BYTES {
            counts[2].inc();
            notes.push("The user sent a voice message too short to hold any speech.".into());
            continue;
        }
        let clip = crate::ports::AudioClip {
            path: state_dir.join(&m.path),
            mime: m.mime.clone(),
            bytes: m.bytes,
            work_dir: state_dir.join(crate::media::WORK_DIR),
        };
        match h.transcriber.transcribe(clip).await {
            Ok(t) if !t.trim().is_empty() => {
                counts[0].inc();
                heard.push(t);
            }
            Ok(_) => {
                counts[0].inc();
                notes.push("The user sent a voice message; no speech was heard in it.".into());
            }
            Err(e) => {
                counts[1].inc();
                log::warn!("run {}: voice message not transcribed: {e}", req.run_id);
                notes.push(format!(
                    "The user sent a voice message that could not be transcribed ({}).",
                    crate::hearing::cut(&e, Some(300))
                ));
            }
        }
    }
    heard
}

/// Sends the transcript back to the chat first (`tools.media.audio.echoTranscript`); the
/// chat's deliveries keep their order, so it precedes the answer.
fn echo(
    req: &RunRequest,
    hearing: Option<&(Rc<crate::hearing::Hearing>, std::path::PathBuf)>,
    heard: &[String],
) {
    let (Some((h, _)), RunOrigin::Channel { inbound, deliver }) = (hearing, &req.origin) else {
        return;
    };
    let Some(text) = h.policy.echo_of(&heard.join("\n\n")) else {
        return;
    };
    deliver.do_send(DeliverReply {
        inbound_id: None,
        target: inbound.target(),
        reply_to: Some(inbound.message_id),
        explicit_reply: false,
        silent: false,
        text,
        media: Vec::new(),
        recorded: None,
        buttons: Vec::new(),
        prefix: None,
    });
}

/// Where a channel run reports progress ([`crate::channel::progress`]), with what it
/// reports about; `None` for other runs and channels without a draft.
fn progress_of(req: &RunRequest) -> Option<(ProgressSink, RunProgress)> {
    let RunOrigin::Channel { inbound, .. } = &req.origin else {
        return None;
    };
    let sink = inbound.progress.clone()?;
    Some((
        sink,
        RunProgress {
            inbound_id: inbound.id.clone(),
            target: inbound.target(),
            event: ProgressEvent::Ended,
        },
    ))
}

/// Tells the channel's progress draft of a message that ends without a run of its own (it
/// rode along with another) that it ended.
pub(crate) fn report_ended(inbound: &crate::channel::InboundMessage) {
    if let Some(sink) = &inbound.progress {
        sink.to.do_send(RunProgress {
            inbound_id: inbound.id.clone(),
            target: inbound.target(),
            event: ProgressEvent::Ended,
        });
    }
}

/// Tells the channel's progress draft (if the run has one) what happened.
fn report(req: &RunRequest, event: ProgressEvent) {
    if let Some((sink, about)) = progress_of(req) {
        sink.to.do_send(RunProgress { event, ..about });
    }
}

/// The answer recorded for `run_id` (a channel run's id is its inbound message's stable id,
/// so a rerun after a crash finds the answer of the run that died).
fn recorded_answer(history: &[Value], run_id: &str) -> Option<(String, Vec<MediaRef>)> {
    history
        .iter()
        .rev()
        .find(|l| {
            l.get("role").and_then(Value::as_str) == Some("assistant")
                && l.get("runId").and_then(Value::as_str) == Some(run_id)
        })
        .and_then(|l| {
            let text = l.get("content").and_then(Value::as_str)?;
            Some((text.to_owned(), MediaRef::list_of(l)))
        })
}

/// What a run talks to besides its own state.
struct RunDeps {
    /// See [`AgentRun::steer`].
    steer: Option<Steering>,
    audit: Option<Rc<RunAudit>>,
    registry: Addr<Registry>,
    store: Addr<StoreActor>,
    model: Rc<dyn ChatModel>,
    stream: Rc<Streamer>,
    cron: Option<Addr<crate::cron::CronService>>,
    hearing: Option<(Rc<crate::hearing::Hearing>, std::path::PathBuf)>,
    speech: Option<(Rc<crate::speech::Speech>, Option<bool>)>,
    workspace: Option<Arc<crate::workspace::WorkspaceSettings>>,
    tools: Arc<crate::tool_policy::ToolFilter>,
    exec: Option<crate::exec_tool::ExecAccess>,
    web: Option<WebTool>,
    search: Option<SearchTool>,
    compaction: Compaction,
    stats: Rc<RunStats>,
}

/// What a run learns of its session's context, for the session's status.
#[derive(Default)]
struct RunStats {
    /// Compactions made.
    compactions: std::cell::Cell<u32>,
    /// The estimated tokens of the request and the model's window.
    context: std::cell::Cell<Option<(u32, u32)>>,
    /// A memory flush ran in this run, after this many of its compactions.
    flushed: std::cell::Cell<Option<u32>>,
    /// Texts the `message` tool sent to the run's own chat (not sent again as the answer).
    sent_here: std::cell::RefCell<Vec<String>>,
}

impl RunStats {
    /// Whether a memory flush already ran in the session's current compaction cycle:
    /// this run's, unless it compacted since; else an earlier run's, unless this run
    /// compacted.
    fn cycle_flushed(&self, before: bool) -> bool {
        match self.flushed.get() {
            Some(k) => k == self.compactions.get(),
            None => before && self.compactions.get() == 0,
        }
    }
}

async fn run_loop(
    req: RunRequest,
    transcript: String,
    deps: RunDeps,
    cached: Option<Tail>,
    user_write: UserWrite,
) -> (LoopOutcome, Tail, Option<FlushJob>) {
    let RunDeps {
        steer,
        audit,
        registry,
        store,
        model,
        stream,
        cron,
        hearing,
        speech,
        workspace,
        tools,
        exec,
        web,
        search,
        compaction,
        stats,
    } = deps;
    let source_id = match &req.origin {
        RunOrigin::Channel { inbound, .. } => Some(inbound.id.clone()),
        _ => None,
    };
    let budget = crate::compaction::Budget::of(model.context_window());
    let scope = scope_of(&req);
    let mut offered = Offered::of(
        &tools,
        OfferBasis {
            cron: cron.is_some(),
            workspace: workspace.is_some(),
            scope,
            model: &model.primary(),
        },
        exec,
        web,
        search,
    );
    offered.voice = speech
        .as_ref()
        .filter(|_| matches!(req.origin, RunOrigin::Channel { .. }))
        .and_then(|(s, chat)| s.policy.prompt_hint(*chat));
    let light = matches!(req.origin, RunOrigin::Cron { light: true, .. });
    // The workspace's files and skills for the system prompt load on a blocking thread
    // while the history is read and sized here.
    let loading = if req.compact.is_none() {
        load_workspace(workspace.as_deref(), scope, light, &offered)
    } else {
        None
    };
    let mut history = match cached {
        Some(tail) => tail,
        None => Tail::new(
            store
                .send(crate::store::LoadContext {
                    name: transcript.clone(),
                    max_bytes: context_bytes(budget),
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
        ),
    };
    // The summarizer's calls must fit its own window too.
    let summarizer = compaction.summarizer.as_deref().unwrap_or(&*model);
    let compactor = Compactor {
        store: &store,
        transcript: &transcript,
        model: summarizer,
        budget: match summarizer.context_window() {
            Some(w) if w < budget.window => crate::compaction::Budget::of(Some(w)),
            _ => budget,
        },
        settings: &compaction.settings,
        run_id: &req.run_id,
        count: &stats.compactions,
    };
    // `/compact [focus]`, `sessions.compact`: only that.
    if let Some(ask) = &req.compact {
        let done = match ask.max_lines {
            Some(n) => compactor.truncate(history.lines_mut(), n).await,
            None => {
                compactor
                    .run(
                        history.lines_mut(),
                        crate::compaction::Trigger::Manual,
                        Some(&ask.focus),
                    )
                    .await
            }
        };
        let after = crate::compaction::context_tokens(history.lines());
        let detail = match &done {
            Ok(c) if ask.max_lines.is_some() => json!({"compacted": true, "kept": c.kept}),
            Ok(c) => {
                json!({"compacted": true, "result": {"tokensBefore": c.tokens_before, "tokensAfter": c.tokens_after}})
            }
            Err(e) => json!({"compacted": false, "reason": e.to_string(),
                "failed": matches!(e, crate::compaction::NotCompacted::Failed(_))}),
        };
        return (
            LoopOutcome::Notice(crate::compaction::notice(&done, after, budget), detail),
            history,
            None,
        );
    }
    // The embedded command agent reads only the new message: no history for it, and it
    // cannot summarize.
    let can_compact = model.commands_help().is_none();
    // One pass over the context for its size, its messages and whether it holds this
    // message already; the first made while the workspace loads.
    let size = |history: &[Value]| {
        let d = crate::compaction::digest_for(history, source_id.as_deref());
        (
            d.tokens,
            digest_messages(&d, source_id.as_deref(), &req.run_id),
            d.has_source,
        )
    };
    let mut sized = can_compact.then(|| size(history.lines()));
    // A rerun after a restart must not record the user's message twice.
    let already = match &sized {
        Some((_, _, seen)) => *seen,
        None => source_id.as_deref().is_some_and(|sid| {
            history
                .lines()
                .iter()
                .any(|l| l.get("sourceId").and_then(Value::as_str) == Some(sid))
        }),
    };
    let mut user_line = json!({"type": "message", "id": message_id(), "role": "user", "content": req.text, "ts": now_ms(), "runId": req.run_id});
    if let Some(sid) = &source_id {
        user_line["sourceId"] = json!(sid);
    }
    if let Some(sender) = &req.sender {
        user_line["sender"] = json!(sender);
    }
    // What the channel fetched of the message's media, and its notes on the rest; the
    // images an operator attached, saved now.
    let (mut attached, mut notes) = match &req.origin {
        RunOrigin::Channel { inbound, .. } => {
            (inbound.attached.clone(), inbound.media_notes.clone())
        }
        _ => (Vec::new(), Vec::new()),
    };
    for u in &req.uploads {
        let saved = crate::media::save_file(&store, crate::media::INBOUND_DIR, u).await;
        let outcome = if saved.is_ok() {
            MediaOutcome::Kept
        } else {
            MediaOutcome::Failed
        };
        crate::metrics::METRICS.media(crate::metrics::MediaDirection::Inbound, outcome);
        match saved {
            Ok(r) => attached.push(r),
            Err(e) => {
                log::warn!("run {}: attachment not saved: {e}", req.run_id);
                notes.push("The user attached an image the gateway could not save.".into());
            }
        }
    }
    if !attached.is_empty() {
        user_line["media"] = json!(attached);
    }
    if already && let Some((answer, media)) = recorded_answer(history.lines(), &req.run_id) {
        return (LoopOutcome::Recorded(answer, media), history, None);
    }
    // Voice notes become text (OpenClaw's `[Audio]` block): what the transcript records and
    // the model reads.
    let (audio, images): (Vec<MediaRef>, Vec<MediaRef>) = attached
        .into_iter()
        .partition(|m| m.kind == crate::media::MediaKind::Audio);
    let mut text = req.text.clone();
    if !audio.is_empty() {
        let heard = hear(&req, &audio, hearing.as_ref(), &mut notes).await;
        if !heard.is_empty() {
            text = crate::hearing::block(&req.text, &heard);
            user_line["content"] = json!(text);
            if !already {
                echo(&req, hearing.as_ref(), &heard);
            }
        }
    }
    let (mut messages, skills) =
        system_messages_loaded(workspace.as_deref(), &offered, loading).await;
    offered.skill_dirs = skills.read_dirs.into();
    if let Some(x) = offered.exec.as_mut() {
        x.skill_env = skills.env;
    }
    // `/weather Berlin`, `/skill weather …`, `$weather`: the model is told to read the
    // skill first (the transcript keeps what the user wrote).
    let mut refused = None;
    match crate::workspace::skills::expand(&text, &skills.commands, &skills.all_commands) {
        Ok(Some(expanded)) => text = expanded,
        Ok(None) => {}
        Err(e) => refused = Some(e),
    }
    let user = user_message(&text, &images, &notes, &store, model.sees_images()).await;
    // A memory flush of this run (before a compaction, or after the reply).
    let flush_job = |ws: &Arc<crate::workspace::WorkspaceSettings>,
                     system: Vec<ChatMessage>,
                     history: Vec<ChatMessage>,
                     when: &'static str| FlushJob {
        model: compaction.flusher.clone().unwrap_or_else(|| model.clone()),
        system,
        history,
        tools: flush_tools(&offered),
        skill_dirs: offered.skill_dirs.clone(),
        workspace: ws.clone(),
        scope,
        limit: budget.limit(),
        timeout: compaction.settings.timeout,
        run_id: req.run_id.clone(),
        when,
        audit: audit.clone(),
    };
    // The context must fit the model's window: compacted first when it would not
    // (`compaction.enabled`), else (or if that failed) its oldest messages left out.
    let system_len = messages.len();
    let tool_set = offered.tools();
    // The system prompt, the tools and the new message, estimated once; the history is
    // estimated from its lines (no copies).
    let fixed = crate::compaction::estimate_request(&messages, &[])
        .saturating_add(tool_set.tokens)
        .saturating_add(crate::compaction::estimate_message(&user));
    let fits = |tokens: u32| fixed.saturating_add(tokens) <= budget.limit();
    let mut fit = true;
    let mut compacted = false;
    if can_compact {
        loop {
            let (tokens, context, _) = match sized.take() {
                Some(s) => s,
                None => size(history.lines()),
            };
            fit = fits(tokens);
            if fit || compacted || !compaction.settings.enabled {
                // For `/status`.
                let estimate = fixed.saturating_add(tokens).min(budget.window);
                stats.context.set(Some((estimate, budget.window)));
                messages.extend(context);
                break;
            }
            compacted = true;
            // The owner's private session: a silent turn saves what matters to the memory
            // files first (OpenClaw's pre-compaction memory flush), once per cycle.
            if compaction.settings.memory_flush
                && scope == crate::workspace::Scope::Main
                && offered.fs.contains(&"write")
                && !stats.cycle_flushed(compaction.flushed)
                && let Some(ws) = workspace.as_ref()
            {
                let job = flush_job(ws, messages.clone(), context, "before compaction");
                let used = job.run(&std::cell::Cell::default()).await;
                stats.flushed.set(Some(stats.compactions.get()));
                let mut u = stream.usage.get();
                u.add(&used);
                stream.usage.set(u);
            }
            let done = compactor
                .run(
                    history.lines_mut(),
                    crate::compaction::Trigger::Budget,
                    None,
                )
                .await;
            notify_compaction(&req, &compaction.settings, &done);
        }
    }
    let mut history_end = messages.len();
    messages.push(user);
    if !fit {
        history_end = crate::compaction::drop_oldest(
            &mut messages,
            system_len..history_end,
            &tool_set.specs,
            budget.limit(),
        );
    }
    let mut tail = history;
    if !already {
        // Awaited only at the end: the store appends in order, so this line precedes the
        // answer, and the model call need not wait for the disk.
        let write = store.send(AppendLines {
            name: transcript.clone(),
            lines: vec![user_line.clone()],
            sync: false,
        });
        *user_write.borrow_mut() = Some((write, user_line.clone()));
        // Subscribers see it once queued: the store appends in order, so a read they make
        // after the event finds it.
        registry.do_send(crate::registry::session_events::TranscriptGrew {
            session_key: req.session_key.clone(),
            run_id: Some(req.run_id.clone()),
            lines: vec![user_line.clone()],
            sender: channel_sender(&req.origin),
        });
        tail.push(user_line);
    }
    let ctx = ConverseCtx {
        req: &req,
        transcript: &transcript,
        steer: steer.as_ref(),
        registry: &registry,
        store: &store,
        cron: cron.as_ref(),
        model: &model,
        stream: &stream,
        workspace: workspace.as_ref().map(|w| (w, scope)),
        offered: &offered,
        audit: audit.as_ref(),
        stats: &stats,
    };
    let mut recovery = Recovery {
        compactor: &compactor,
        history: system_len..history_end,
        lines: tail,
        skip_source: source_id.as_deref(),
        used: !can_compact,
    };
    let mut outcome = match refused {
        Some(e) => LoopOutcome::Done(e, Vec::new()),
        None => converse(&ctx, messages, tool_set.specs, &mut recovery).await,
    };
    let tail = recovery.lines;
    // Workspace files named by `MEDIA:` lines go with the answer (an attachment is a read:
    // only where `read` is offered); `http(s)` URLs are fetched where `web_fetch` is.
    if let (LoopOutcome::Done(text, media), Some(ws)) = (&mut outcome, workspace.as_ref())
        && offered.fs.contains(&"read")
    {
        let fetch = offered
            .web
            .as_ref()
            .map(|(web, settings)| crate::media_source::Fetch {
                fetcher: web.fetcher.clone(),
                settings: settings.clone(),
            });
        attach_media_lines(text, media, ws, scope, fetch.as_ref(), &store).await;
    }
    // `[[tts:…]]` directives: out of the answer wherever it goes (the chat, the `chat`
    // events, the transcript); their knobs and audio-only text are for its voice note.
    let directives = match &mut outcome {
        LoopOutcome::Done(text, _) => crate::speech::take_directives(text, false),
        _ => None,
    };
    // A chat's answer spoken too (`tts`): not an answer that carries media already.
    if let (LoopOutcome::Done(text, media), Some((speech, chat)), RunOrigin::Channel { .. }) =
        (&mut outcome, speech.as_ref(), &req.origin)
        && media.is_empty()
        && speech
            .policy
            .applies(!audio.is_empty(), directives.is_some(), *chat)
        && let Some(spoken) = match directives.as_ref().and_then(|d| d.text.as_deref()) {
            // The audio-only block is said as written (cut like an answer when long).
            Some(t) => {
                crate::speech::speakable(t, speech.policy.max_length).or_else(|| Some(t.to_owned()))
            }
            None => crate::speech::speakable(text, speech.policy.max_length),
        }
    {
        let knobs = directives
            .map(|d| d.request)
            .filter(|_| speech.policy.model_overrides)
            .unwrap_or_default();
        match speak(speech, spoken, knobs, &store).await {
            Ok(r) => {
                count_media(MediaOutcome::Kept);
                media.push(r);
            }
            Err(e) => {
                count_media(MediaOutcome::Failed);
                log::warn!("run {}: answer not spoken (text only): {e}", req.run_id);
            }
        }
    }
    // A reply that brought the owner's private context near its limit: the memory flush
    // runs after it is delivered (OpenClaw's soft threshold), so the compaction that
    // follows later need not wait for it, and it sees the completed turn.
    let post_flush = match (&outcome, workspace.as_ref()) {
        (LoopOutcome::Done(answer, _), Some(ws))
            if compaction.settings.enabled
                && compaction.settings.memory_flush
                && can_compact
                && scope == crate::workspace::Scope::Main
                && !matches!(req.origin, RunOrigin::Cron { .. })
                && offered.fs.contains(&"write")
                && !stats.cycle_flushed(compaction.flushed)
                && !(compaction.tried && stats.compactions.get() == 0) =>
        {
            let answer = ChatMessage::text("assistant", answer.clone());
            let after = stats
                .context
                .get()
                .map_or(0, |(t, _)| t)
                .saturating_add(crate::compaction::estimate_message(&answer));
            if crate::compaction::flush_due(after, budget, compaction.settings.flush_soft_threshold)
            {
                let (system, _) = system_messages(Some(ws), scope, false, &offered).await;
                let mut history = context_messages(tail.lines(), source_id.as_deref(), &req.run_id);
                history.push(ChatMessage::text("user", text));
                history.push(answer);
                Some(flush_job(ws, system, history, "after the reply"))
            } else {
                None
            }
        }
        _ => None,
    };
    (outcome, tail, post_flush)
}

/// A fresh transcript message id (32 hex digits): `chat.history` shows it as
/// `__openclaw.id`, `session.message` as `messageId`, and `chat.message.get` finds the
/// message by it (the MCP channel bridge's `attachments_fetch`).
pub fn message_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The voice note of `text`, kept under `media/outbound`.
pub(crate) async fn speak(
    speech: &crate::speech::Speech,
    text: String,
    knobs: crate::ports::SpeakRequest,
    store: &Addr<StoreActor>,
) -> Result<MediaRef, String> {
    let req = crate::ports::SpeakRequest {
        target: crate::ports::SpeechTarget::VoiceNote,
        ..knobs
    };
    let data = speech.speaker.synthesize(text, req).await?.audio;
    let (mime, ext) = crate::hearing::sniff_audio(&data, true).ok_or_else(|| {
        format!(
            "{} answered {} bytes that are no audio this gateway knows",
            speech.speaker.label(),
            data.len()
        )
    })?;
    let audio = crate::media::Extracted {
        data,
        mime,
        ext,
        kind: crate::media::MediaKind::Audio,
    };
    crate::media::save_in(store, crate::media::MEDIA_DIR, audio, "answer")
        .await
        .map_err(|e| format!("the voice note could not be saved ({e})"))
}

/// Which tools a run is offered (`tools.*`, and what the run has: a scheduler, a
/// workspace).
struct Offered {
    nodes: bool,
    /// The `message` tool, and where it may act.
    message: Option<crate::tool_policy::CrossContext>,
    cron: bool,
    /// `sessions_spawn` (runs answering a chat or an operator).
    spawn: bool,
    /// `subagents` (the same runs).
    subagents: bool,
    /// The session tools offered (`session_status`, `sessions_list`, `sessions_history`).
    sessions: Vec<&'static str>,
    /// The `exec` tool and what it may do.
    exec: Option<crate::exec_tool::ExecAccess>,
    /// `web_fetch`.
    web: Option<WebTool>,
    /// `web_search`.
    search: Option<SearchTool>,
    /// `process` (the gateway host's background commands).
    process: Option<Rc<crate::exec_process::ProcessTable>>,
    /// The file tools offered (`read`, `write`, `edit`).
    fs: Vec<&'static str>,
    /// The memory tools offered (`memory_search`, `memory_get`: private sessions only).
    memory: Vec<&'static str>,
    /// The directories of the offered skills outside the workspace (`read` only).
    skill_dirs: Arc<[std::path::PathBuf]>,
    /// The system prompt's `## Voice (TTS)` section, when the chat's answers may be spoken.
    voice: Option<String>,
}

/// What a run has besides its tool filter, for [`Offered::of`].
pub(crate) struct OfferBasis<'a> {
    /// A cron scheduler (`cron`).
    pub cron: bool,
    /// A workspace (the file and memory tools).
    pub workspace: bool,
    /// What the run may see (the memory tools: private sessions only).
    pub scope: crate::workspace::Scope,
    /// The run's `provider/model` ([`ChatModel::primary`]; `apply_patch`'s models).
    pub model: &'a str,
}

/// The tools a run of this filter, basis, `exec` access and web tools is offered: the
/// specs its model requests carry, exactly as a run builds them (`tools.effective`).
pub(crate) fn offered_specs(
    filter: &crate::tool_policy::ToolFilter,
    basis: OfferBasis<'_>,
    exec: Option<crate::exec_tool::ExecAccess>,
    web: Option<WebTool>,
    search: Option<SearchTool>,
) -> Arc<Vec<ToolSpec>> {
    Offered::of(filter, basis, exec, web, search).tools().specs
}

impl Offered {
    /// The offer of a run: `filter` over what the run has.
    fn of(
        filter: &crate::tool_policy::ToolFilter,
        basis: OfferBasis<'_>,
        exec: Option<crate::exec_tool::ExecAccess>,
        web: Option<WebTool>,
        search: Option<SearchTool>,
    ) -> Self {
        let mut offered = Self::new(
            filter,
            basis.cron,
            basis.workspace,
            basis.scope,
            basis.model,
        );
        offered.exec = exec.filter(|_| filter.offers("exec"));
        offered.process = offered
            .exec
            .as_ref()
            .and_then(|x| x.processes.clone())
            .filter(|_| filter.offers("process"));
        // Without `process` a background command could not be followed: commands wait.
        if offered.process.is_none()
            && let Some(x) = offered.exec.as_mut()
        {
            x.processes = None;
        }
        offered.web = web.filter(|_| filter.offers("web_fetch"));
        offered.search = search.filter(|_| filter.offers("web_search"));
        offered
    }

    /// `model`: the run's `provider/model` ([`ChatModel::primary`]).
    fn new(
        filter: &crate::tool_policy::ToolFilter,
        cron: bool,
        workspace: bool,
        scope: crate::workspace::Scope,
        model: &str,
    ) -> Self {
        Self {
            nodes: filter.offers("nodes"),
            message: filter.offers("message").then(|| filter.message_cross()),
            cron: cron && filter.offers("cron"),
            spawn: filter.offers("sessions_spawn"),
            subagents: filter.offers("subagents"),
            sessions: crate::session_tools::NAMES
                .into_iter()
                .filter(|n| filter.offers(n))
                .collect(),
            exec: None,
            web: None,
            search: None,
            process: None,
            fs: crate::workspace::tools::NAMES
                .into_iter()
                .filter(|n| workspace && filter.offers_to(n, model))
                .collect(),
            memory: crate::workspace::memory::NAMES
                .into_iter()
                .filter(|n| workspace && scope.private() && filter.offers(n))
                .collect(),
            skill_dirs: Arc::from(Vec::new()),
            voice: None,
        }
    }

    /// What decides the run's tool list ([`OfferKey::specs`]).
    fn key(&self) -> OfferKey {
        OfferKey {
            nodes: self.nodes,
            message: self.message.is_some(),
            cron: self.cron,
            spawn: self.spawn,
            subagents: self.subagents,
            sessions: self.sessions.clone(),
            exec: self.exec.as_ref().map(|x| (x.gateway.is_some(), x.node)),
            process: self.process.is_some(),
            search: self.search.is_some(),
            web: self.web.is_some(),
            fs: self.fs.clone(),
            memory: self.memory.clone(),
        }
    }

    /// The run's tools and their estimated tokens: built and sized once per offer on each
    /// thread (the specs are the same for the same offer), shared by the runs after.
    fn tools(&self) -> ToolSet {
        let key = self.key();
        if let Some(t) = TOOL_SETS.with(|sets| sets.borrow().get(&key).cloned()) {
            return t;
        }
        let specs = key.specs();
        let set = ToolSet {
            tokens: crate::compaction::estimate_request(&[], &specs),
            specs: Arc::new(specs),
        };
        TOOL_SETS.with(|sets| {
            let mut sets = sets.borrow_mut();
            // Offers are few (a handful of switches); a bound all the same.
            if sets.len() >= MAX_TOOL_SETS {
                sets.clear();
            }
            sets.insert(key, set.clone());
        });
        set
    }
}

impl OfferKey {
    /// The tool list of this offer: built from the key alone, so that the same key is
    /// always the same list ([`Offered::tools`] keeps them by key).
    fn specs(&self) -> Vec<ToolSpec> {
        let mut v = Vec::with_capacity(2 + self.fs.len() + self.memory.len());
        if self.nodes {
            v.push(nodes_tool());
        }
        if self.message {
            v.push(crate::message_tool::spec());
        }
        if self.cron {
            v.push(crate::cron::tool::spec());
        }
        if self.spawn {
            v.push(crate::subagents::spawn_spec());
        }
        if self.subagents {
            v.push(crate::subagents::subagents_spec());
        }
        v.extend(
            crate::session_tools::specs()
                .into_iter()
                .filter(|t| self.sessions.contains(&t.name.as_str())),
        );
        if let Some((gateway, node)) = self.exec {
            v.push(crate::exec_tool::spec(gateway, node));
            if self.process {
                v.push(crate::exec_process::spec());
            }
        }
        if self.search {
            v.push(crate::web_search::spec());
        }
        if self.web {
            v.push(crate::web_fetch::spec());
        }
        v.extend(
            crate::workspace::tools::specs()
                .into_iter()
                .filter(|t| self.fs.contains(&t.name.as_str())),
        );
        v.extend(
            crate::workspace::memory::specs()
                .into_iter()
                .filter(|t| self.memory.contains(&t.name.as_str())),
        );
        v
    }
}

/// What decides a run's tool list: the same key, the same specs.
#[derive(Clone, PartialEq, Eq, Hash)]
struct OfferKey {
    nodes: bool,
    message: bool,
    cron: bool,
    spawn: bool,
    subagents: bool,
    sessions: Vec<&'static str>,
    /// `exec` offered: (on the gateway host, on a node).
    exec: Option<(bool, bool)>,
    process: bool,
    search: bool,
    web: bool,
    fs: Vec<&'static str>,
    memory: Vec<&'static str>,
}

/// A run's tools (shared with every request of the run) and their estimated tokens.
#[derive(Clone)]
struct ToolSet {
    specs: Arc<Vec<ToolSpec>>,
    tokens: u32,
}

/// Tool sets kept per thread at most ([`Offered::tools`]).
const MAX_TOOL_SETS: usize = 64;

thread_local! {
    /// The tool sets built on this thread, by offer.
    static TOOL_SETS: std::cell::RefCell<std::collections::HashMap<OfferKey, ToolSet>> =
        std::cell::RefCell::default();
}

/// The workspace context a run of `origin` may see.
pub(crate) fn scope_of(req: &RunRequest) -> crate::workspace::Scope {
    use crate::workspace::Scope;
    match &req.origin {
        RunOrigin::Channel { inbound, .. } if inbound.shared() => Scope::Shared,
        RunOrigin::Cron { fresh: true, .. } | RunOrigin::Subagent { child: true, .. } => {
            Scope::Isolated
        }
        // A job a group or a stranger made with the `cron` tool runs in that chat's
        // session: what the chat may see, not the owner's private memory. So does the turn
        // that reviews a sub-agent's result for such a chat.
        RunOrigin::Cron { shared: true, .. } | RunOrigin::Subagent { shared: true, .. } => {
            Scope::Shared
        }
        RunOrigin::Cron { .. } | RunOrigin::Subagent { .. }
            if is_group_session(&req.session_key) =>
        {
            Scope::Shared
        }
        // A node asking in a group's session sees what the group may see.
        RunOrigin::Node { .. } if is_group_session(&req.session_key) => Scope::Shared,
        _ => Scope::Main,
    }
}

/// Whether `key` is a group chat's session (`agent:main:telegram:group:<id>[:topic:<n>]`).
fn is_group_session(key: &str) -> bool {
    key.split(':').any(|p| p == "group" || p == "channel")
}

/// The run's system messages: the stable prompt first (who the agent is, its tools, the
/// workspace's files: what a provider's prompt cache keeps), then the volatile note (the
/// time), so the cached prefix survives from one message to the next. Also the run's
/// skills: the directories outside the workspace `read` reaches into, the eligible skills'
/// variables for `exec`, the skill commands (none without `read`). `light`
/// (`lightContext`): none of the workspace's bootstrap files.
async fn system_messages(
    workspace: Option<&crate::workspace::WorkspaceSettings>,
    scope: crate::workspace::Scope,
    light: bool,
    offered: &Offered,
) -> (Vec<ChatMessage>, crate::workspace::skills::ForRun) {
    let loading = load_workspace(workspace, scope, light, offered);
    system_messages_loaded(workspace, offered, loading).await
}

/// What the system prompt shows of the workspace: read already (a snapshot nothing has
/// changed since: [`crate::workspace::watch`]), or being read on a blocking thread.
enum WorkspaceLoad {
    Ready(crate::workspace::watch::Loaded),
    Reading(actix_web::rt::task::JoinHandle<crate::workspace::watch::Loaded>),
}

impl WorkspaceLoad {
    async fn get(self) -> crate::workspace::watch::Loaded {
        match self {
            Self::Ready(l) => l,
            Self::Reading(h) => h.await.unwrap_or_default(),
        }
    }
}

/// What the system prompt shows of the workspace ([`system_messages`]): its snapshot while
/// nothing changed, else read on a blocking thread from now; `None` without a workspace.
fn load_workspace(
    workspace: Option<&crate::workspace::WorkspaceSettings>,
    scope: crate::workspace::Scope,
    light: bool,
    offered: &Offered,
) -> Option<WorkspaceLoad> {
    let settings = workspace?;
    let with_skills =
        offered.fs.contains(&"read") || offered.exec.as_ref().is_some_and(|x| x.gateway.is_some());
    if let Some(loaded) = crate::workspace::watch::cached(settings, scope, light, with_skills) {
        return Some(WorkspaceLoad::Ready(loaded));
    }
    let settings = settings.clone();
    Some(WorkspaceLoad::Reading(actix_web::rt::task::spawn_blocking(
        move || crate::workspace::watch::load(&settings, scope, light, with_skills),
    )))
}

/// [`system_messages`] with the workspace read by `loading` ([`load_workspace`]).
async fn system_messages_loaded(
    workspace: Option<&crate::workspace::WorkspaceSettings>,
    offered: &Offered,
    loading: Option<WorkspaceLoad>,
) -> (Vec<ChatMessage>, crate::workspace::skills::ForRun) {
    let mut run_skills = crate::workspace::skills::ForRun::default();
    let mut stable = String::from(SYSTEM_PROMPT);
    if offered.nodes {
        stable.push_str("\n\n");
        stable.push_str(NODES_NOTE);
    }
    if let Some(x) = &offered.exec {
        stable.push_str("\n\n");
        stable.push_str(&crate::exec_tool::system_note(x));
    }
    if let Some(v) = &offered.voice {
        stable.push_str("\n\n## Voice (TTS)\n");
        stable.push_str(v);
    }
    let mut zone = None;
    if let Some(ws) = workspace {
        zone = ws.user_timezone.clone();
        let with_skills = offered.fs.contains(&"read");
        let (files, skills) = match loading {
            Some(l) => l.get().await,
            None => Default::default(),
        };
        run_skills = skills;
        let skills = if with_skills {
            crate::workspace::skills::section(&run_skills.offered)
        } else {
            run_skills.read_dirs.clear();
            run_skills.commands.clear();
            run_skills.all_commands.clear();
            String::new()
        };
        if !skills.is_empty() {
            stable.push_str("\n\n");
            stable.push_str(skills.trim_end());
        }
        stable.push_str("\n\n## Workspace\nWorking directory: ");
        stable.push_str(&ws.dir.display().to_string());
        if !offered.fs.is_empty() {
            stable.push_str(
                "\nYour file tools (`read`, `write`, `edit`) work in this directory only; use paths relative to it.",
            );
            if !run_skills.read_dirs.is_empty() {
                stable.push_str(
                    " `read` also reads files inside the directory of a skill listed above at its absolute path.",
                );
            }
        }
        if offered.fs.contains(&"read") {
            stable.push_str(
                "\nTo send a workspace file with your answer (an image, a PDF, a document), put `MEDIA:<path>` on a line of its own in the answer.",
            );
        }
        if !offered.memory.is_empty() {
            stable.push_str(
                "\nMemory recall: before answering about prior work, decisions, dates, people, preferences or todos, run `memory_search` on MEMORY.md and memory/*.md, then `memory_get` for the lines you need.",
            );
        }
        stable.push_str("\n\n");
        stable.push_str(&crate::workspace::project_section(&files));
    }
    let mut volatile = crate::workspace::time_note(zone.as_deref());
    if offered.cron {
        volatile.push(' ');
        volatile.push_str(crate::cron::tool::SYSTEM_NOTE);
    }
    (
        vec![
            ChatMessage::text("system", stable.trim_end()),
            ChatMessage::text("system", volatile),
        ],
        run_skills,
    )
}

/// What a model loop works with.
struct ConverseCtx<'a> {
    req: &'a RunRequest,
    /// The session's transcript (steered messages are written to it).
    transcript: &'a str,
    /// See [`AgentRun::steer`].
    steer: Option<&'a Steering>,
    registry: &'a Addr<Registry>,
    store: &'a Addr<StoreActor>,
    cron: Option<&'a Addr<crate::cron::CronService>>,
    model: &'a Rc<dyn ChatModel>,
    stream: &'a Rc<Streamer>,
    /// The workspace and what this run may see of it (none: no file tools).
    workspace: Option<(
        &'a Arc<crate::workspace::WorkspaceSettings>,
        crate::workspace::Scope,
    )>,
    offered: &'a Offered,
    /// The run's audit records.
    audit: Option<&'a Rc<RunAudit>>,
    /// What the run learns (the `message` tool's texts to its own chat).
    stats: &'a RunStats,
}

/// One file or memory tool call, on a blocking thread (the workspace is on disk).
async fn run_workspace_tool(
    workspace: Option<(
        &Arc<crate::workspace::WorkspaceSettings>,
        crate::workspace::Scope,
    )>,
    skill_dirs: &Arc<[std::path::PathBuf]>,
    name: &str,
    arguments: &str,
) -> Value {
    let Some((ws, scope)) = workspace else {
        return json!({"ok": false, "error": format!("unknown tool: {name}")});
    };
    let (ws, name, arguments) = (ws.clone(), name.to_owned(), arguments.to_owned());
    let skill_dirs = skill_dirs.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let root = ws.root();
        let access = crate::workspace::tools::FsAccess {
            root: &root,
            private: scope.private(),
            skill_dirs: &skill_dirs,
        };
        if crate::workspace::memory::NAMES.contains(&name.as_str()) {
            crate::workspace::memory::run(&name, &arguments, &access)
        } else {
            crate::workspace::tools::run(&name, &arguments, &access)
        }
    })
    .await
    .unwrap_or_else(|_| json!({"ok": false, "error": "the file tool failed"}))
}

/// The model loop: asks the model, runs the tools it calls, until it answers.
async fn converse(
    c: &ConverseCtx<'_>,
    messages: Vec<ChatMessage>,
    tools: Arc<Vec<ToolSpec>>,
    recovery: &mut Recovery<'_>,
) -> LoopOutcome {
    // Shared with each round's request: added to only once the provider is done with it.
    let mut messages = Arc::new(messages);
    let ConverseCtx {
        req,
        transcript,
        steer,
        registry,
        store,
        cron,
        model,
        stream,
        workspace,
        offered,
        audit,
        stats,
    } = *c;
    // The tool policy (`agents.defaults.tools.nodes`) is resolved for this sender.
    let sender = req.origin.policy_sender();
    let mut tool_seq = 0u64;
    // What node commands sent back to show (photos, videos): attached to the answer, and
    // shown to a model that sees images.
    let mut taken = Taken {
        vision: model.sees_images(),
        ..Taken::default()
    };
    let cache_key = prompt_cache_key(&req.session_key);
    let mut round = 0;
    // What each tool call of the run runs with.
    let env = ToolEnv {
        registry,
        store,
        cron,
        req,
        workspace,
        offered,
        sender: sender.as_deref(),
        sent_here: &stats.sent_here,
    };
    // Steered messages give the run more rounds (each a few, twice the limit at most).
    let mut max_rounds = MAX_ROUNDS;
    // Messages taken at a tool boundary, shown to the model after the round's results.
    let mut steered: Vec<RunRequest> = Vec::new();
    while round < max_rounds {
        // A model boundary: messages that steer into the run go in now.
        steered.extend(take_steered(registry, req, steer).await);
        if !steered.is_empty() {
            max_rounds = (max_rounds + 2 * steered.len()).min(2 * MAX_ROUNDS);
            for s in steered.drain(..) {
                // A rerun after a crash: the message steered in before is in the context
                // already (its line, by its message id), so it is neither written nor sent
                // again.
                if let RunOrigin::Channel { inbound, .. } = &s.origin
                    && recovery.lines.lines().iter().any(|l| {
                        l.get("sourceId").and_then(Value::as_str) == Some(inbound.id.as_str())
                    })
                {
                    continue;
                }
                let line = steered_line(&s);
                store.do_send(AppendLines {
                    name: transcript.to_owned(),
                    lines: vec![line.clone()],
                    sync: false,
                });
                registry.do_send(crate::registry::session_events::TranscriptGrew {
                    session_key: req.session_key.clone(),
                    run_id: Some(s.run_id.clone()),
                    lines: vec![line.clone()],
                    sender: channel_sender(&s.origin),
                });
                recovery.lines.push(line);
                Arc::make_mut(&mut messages).push(ChatMessage::text("user", s.text));
            }
        }
        let model_started = std::time::Instant::now();
        stream.new_round();
        let response = model
            .complete_streaming(
                ChatRequest {
                    messages: messages.clone(),
                    tools: tools.clone(),
                    thinking: req.thinking,
                    cache_key: Some(cache_key.clone()),
                },
                Streamer::sink(stream),
            )
            .await;
        crate::metrics::METRICS
            .model_seconds
            .observe(model_started.elapsed());
        if !model.records_calls() {
            let why = response.as_ref().err().map(|e| {
                if crate::compaction::is_overflow(e) {
                    "context_overflow"
                } else {
                    e.category()
                }
            });
            crate::stability::model_call(&model.label(), model_started.elapsed(), why);
        }
        let response = match response {
            Ok(mut r) => {
                let mut u = stream.usage.get();
                u.add(&r.usage);
                stream.usage.set(u);
                *stream.answered_by.borrow_mut() =
                    Some(r.model.take().unwrap_or_else(|| model.label()));
                r
            }
            Err(e) => {
                crate::metrics::METRICS.model_errors.inc();
                if crate::compaction::is_overflow(&e) {
                    log::warn!(
                        "run {}: the request does not fit the model's context window: {e}",
                        req.run_id
                    );
                    if recovery
                        .shrink(Arc::make_mut(&mut messages), &req.run_id)
                        .await
                    {
                        continue;
                    }
                    return LoopOutcome::Failed(OVERFLOW_TEXT.to_owned(), e.to_string());
                }
                log::warn!("run {}: model failed: {e}", req.run_id);
                return LoopOutcome::Failed(model_failure_text(&e), e.to_string());
            }
        };
        round += 1;
        let calls = response.message.tool_calls.clone().unwrap_or_default();
        if calls.is_empty() {
            let text = response.message.content.unwrap_or_default();
            return LoopOutcome::Done(text.trim().to_owned(), taken.media);
        }
        if let Some(preamble) = response.message.content.as_deref()
            && !preamble.trim().is_empty()
        {
            report(req, ProgressEvent::Headline(preamble.to_owned()));
        }
        // With what the provider must see again (Anthropic's signed thinking).
        Arc::make_mut(&mut messages)
            .push(ChatMessage::calling_from(&response.message, calls.clone()));
        for call in calls {
            // A tool boundary: once a message steers in, the calls not started yet are
            // skipped (each gets a result saying so), so the model sees it before any more.
            if steered.is_empty() {
                steered = take_steered(registry, req, steer).await;
            }
            if !steered.is_empty() {
                tool_seq += 1;
                registry.do_send(tool_started(req, tool_seq, &call));
                tool_seq += 1;
                registry.do_send(Broadcast {
                    event: "agent".into(),
                    payload: json!({"runId": req.run_id, "sessionKey": req.session_key, "seq": tool_seq, "stream": "tool", "ts": now_ms(),
                        "data": {"phase": "end", "name": call.function.name, "toolCallId": call.id, "ok": false, "skipped": true}}),
                });
                Arc::make_mut(&mut messages).push(ChatMessage::tool_result(
                    call.id,
                    crate::run_queue::SKIPPED_TOOL.to_owned(),
                ));
                continue;
            }
            report(
                req,
                ProgressEvent::Tool(crate::channel::progress::tool_line(
                    &call.function.name,
                    &call.function.arguments,
                )),
            );
            tool_seq += 1;
            registry.do_send(tool_started(req, tool_seq, &call));
            let name = call.function.name.as_str();
            let audited = audit.map(|a| a.tool(&call.id, name));
            let result = dispatch(&env, &call, &mut taken).await;
            if let Some(a) = audited {
                a.end(crate::audit::ToolEnd::of_result(&result));
            }
            let text = tool_result_text(&result);
            tool_seq += 1;
            registry.do_send(Broadcast {
                event: "agent".into(),
                payload: json!({"runId": req.run_id, "sessionKey": req.session_key, "seq": tool_seq, "stream": "tool", "ts": now_ms(),
                    "data": {"phase": "end", "name": call.function.name, "toolCallId": call.id, "ok": result.get("ok") == Some(&json!(true))}}),
            });
            Arc::make_mut(&mut messages).push(ChatMessage::tool_result(call.id, text));
        }
        // Messages taken at a tool boundary always reach the model (at the next model
        // boundary), even past the round limit: each one was taken once, so this is bounded.
        if !steered.is_empty() && round >= max_rounds {
            max_rounds = round + 1;
        }
        // After the round's tool results (which must follow the call): the photos they
        // returned, for a model that sees images.
        if !taken.show.is_empty() {
            let shown = std::mem::take(&mut taken.show);
            let what: Vec<&str> = shown.iter().map(|(w, _)| w.as_str()).collect();
            Arc::make_mut(&mut messages).push(ChatMessage {
                role: "user".into(),
                content: Some(format!(
                    "[The gateway shows you what the tool calls returned: {}. The user receives it with your answer.]",
                    what.join("; ")
                )),
                images: shown.into_iter().map(|(_, i)| i).collect(),
                ..ChatMessage::default()
            });
        }
    }
    LoopOutcome::Failed(
        format!(
            "I stopped after {max_rounds} tool rounds without reaching an answer. Please try a more specific request."
        ),
        "tool round limit reached".into(),
    )
}

/// What one tool call runs with: a run's context, or a direct call's
/// ([`invoke_direct`]).
struct ToolEnv<'a> {
    registry: &'a Addr<Registry>,
    store: &'a Addr<StoreActor>,
    cron: Option<&'a Addr<crate::cron::CronService>>,
    req: &'a RunRequest,
    workspace: Option<(
        &'a Arc<crate::workspace::WorkspaceSettings>,
        crate::workspace::Scope,
    )>,
    offered: &'a Offered,
    /// Whose tool policy applies.
    sender: Option<&'a str>,
    /// The `message` tool's texts to the run's own chat.
    sent_here: &'a std::cell::RefCell<Vec<String>>,
}

/// Runs one tool call of what `env.offered` offers; the result is always a JSON object
/// the model can read (`{"ok": false, "error"}` for a tool not offered).
async fn dispatch(env: &ToolEnv<'_>, call: &ToolCall, taken: &mut Taken) -> Value {
    let ToolEnv {
        registry,
        store,
        cron,
        req,
        workspace,
        offered,
        sender,
        sent_here,
    } = *env;
    let name = call.function.name.as_str();
    if name == "exec"
        && let Some(access) = &offered.exec
    {
        let ctx = crate::exec_tool::CallCtx {
            registry,
            run_id: &req.run_id,
            session_key: &req.session_key,
            sender,
            call_id: &call.id,
            origin: &req.origin,
        };
        crate::exec_tool::run(&ctx, access, &call.function.arguments).await
    } else if name == "process"
        && let Some(table) = &offered.process
    {
        crate::exec_process::run(table, &call.function.arguments).await
    } else if name == "web_fetch"
        && let Some((web, settings)) = &offered.web
    {
        crate::web_fetch::run(web, settings, &call.function.arguments).await
    } else if name == "web_search"
        && let Some((search, settings)) = &offered.search
    {
        crate::web_search::run(search, settings, &call.function.arguments).await
    } else if name == "message"
        && let Some(cross) = offered.message
    {
        let ctx = crate::message_tool::Ctx {
            registry,
            req,
            call_id: &call.id,
            cross,
            workspace,
            sent_here,
        };
        crate::message_tool::run(&ctx, &call.function.arguments).await
    } else if name == "cron" && offered.cron {
        crate::cron::tool::run(cron, req, &call.function.arguments).await
    } else if name == "sessions_spawn" && offered.spawn {
        crate::subagents::spawn(registry, req, &call.function.arguments).await
    } else if name == "subagents" && offered.subagents {
        crate::subagents::control(registry, req, &call.function.arguments).await
    } else if offered.sessions.contains(&name) {
        crate::session_tools::run(registry, req, name, &call.function.arguments).await
    } else if offered.fs.contains(&name) || offered.memory.contains(&name) {
        run_workspace_tool(
            workspace,
            &offered.skill_dirs,
            name,
            &call.function.arguments,
        )
        .await
    } else if name != "nodes" || !offered.nodes {
        json!({"ok": false, "error": format!("unknown tool: {name}")})
    } else {
        let ctx = ToolCtx {
            registry,
            store,
            run_id: &req.run_id,
            sender,
        };
        run_tool(&ctx, call, taken).await
    }
}

/// A tool called directly, outside a model turn (`tools.invoke`, `POST /tools/invoke`):
/// what a run of `req` would have, as the registry resolved it
/// ([`crate::tool_invoke`]).
pub(crate) struct Direct {
    pub registry: Addr<Registry>,
    pub store: Addr<StoreActor>,
    pub cron: Option<Addr<crate::cron::CronService>>,
    /// The invocation as a run request (its session, `RunOrigin::Operator`).
    pub req: RunRequest,
    /// The session's agent's tool filter, narrowed by the surface's policy.
    pub filter: crate::tool_policy::ToolFilter,
    /// The session's `provider/model` (`apply_patch`'s models).
    pub model: String,
    pub workspace: Arc<crate::workspace::WorkspaceSettings>,
    pub exec: Option<crate::exec_tool::ExecAccess>,
    pub web: Option<WebTool>,
    pub search: Option<SearchTool>,
    /// The audit ledger and the session's agent.
    pub audit: Option<(crate::audit::Recorder, String)>,
}

/// Runs `name` with `args` as a run of `d.req` would, if it is offered: the same offer
/// ([`Offered::of`]), the same dispatch, the same audit records. `action` goes into
/// `args.action` when the tool has that argument and `args` does not set it (OpenClaw's
/// rule). The result is the tool's JSON object; `None`: the tool is not offered here
/// (unknown, or not allowed by the policy).
pub(crate) async fn invoke_direct(
    d: Direct,
    name: &str,
    mut args: serde_json::Map<String, Value>,
    action: Option<String>,
    call_id: String,
) -> Option<Value> {
    let scope = scope_of(&d.req);
    let offered = Offered::of(
        &d.filter,
        OfferBasis {
            cron: d.cron.is_some(),
            workspace: true,
            scope,
            model: &d.model,
        },
        d.exec,
        d.web,
        d.search,
    );
    let set = offered.tools();
    let spec = set.specs.iter().find(|t| t.name == name)?;
    if let Some(action) = action
        && !args.contains_key("action")
        && spec
            .parameters
            .get("properties")
            .is_some_and(|p| p.get("action").is_some())
    {
        args.insert("action".into(), Value::String(action));
    }
    let call = ToolCall {
        id: call_id,
        kind: "function".into(),
        function: crate::ports::FunctionCall {
            name: name.to_owned(),
            arguments: Value::Object(args).to_string(),
        },
    };
    let audit = d.audit.map(|(rec, agent_id)| {
        Rc::new(RunAudit {
            rec,
            ids: crate::audit::RunIds {
                agent_id,
                session_key: d.req.session_key.clone(),
                run_id: d.req.run_id.clone(),
            },
            seq: std::cell::Cell::new(0),
            open: std::cell::RefCell::new(None),
        })
    });
    let audited = audit.as_ref().map(|a| a.tool(&call.id, name));
    let sent_here = std::cell::RefCell::default();
    let env = ToolEnv {
        registry: &d.registry,
        store: &d.store,
        cron: d.cron.as_ref(),
        req: &d.req,
        workspace: Some((&d.workspace, scope)),
        offered: &offered,
        sender: None,
        sent_here: &sent_here,
    };
    let mut taken = Taken::default();
    let result = dispatch(&env, &call, &mut taken).await;
    if let Some(a) = audited {
        a.end(crate::audit::ToolEnd::of_result(&result));
    }
    Some(result)
}

/// The `agent` event of a tool call starting (`seq`: the run's tool event number).
fn tool_started(req: &RunRequest, seq: u64, call: &ToolCall) -> Broadcast {
    Broadcast {
        event: "agent".into(),
        payload: json!({"runId": req.run_id, "sessionKey": req.session_key, "seq": seq, "stream": "tool", "ts": now_ms(),
            "data": {"phase": "start", "name": call.function.name, "toolCallId": call.id, "args": call.function.arguments}}),
    }
}

/// The messages waiting behind the run that steer into it now (none when the run takes
/// none, or the registry is gone).
async fn take_steered(
    registry: &Addr<Registry>,
    req: &RunRequest,
    steering: Option<&Steering>,
) -> Vec<RunRequest> {
    if !steering.is_some_and(|s| s.waiting.get()) {
        return Vec::new();
    }
    registry
        .send(crate::registry::runs::TakeSteer {
            session_key: req.session_key.clone(),
            run_id: req.run_id.clone(),
        })
        .await
        .unwrap_or_default()
}

/// A chat message's sender as `session.message` subscribers see it (`telegram:<id>`; none
/// for other origins).
fn channel_sender(origin: &RunOrigin) -> Option<String> {
    match origin {
        RunOrigin::Channel { inbound, .. } => {
            Some(format!("{}:{}", inbound.channel, inbound.sender_id))
        }
        _ => None,
    }
}

/// The transcript line of a message steered into a run: its own run id (and, for a chat's,
/// its message's id, so a rerun after a crash finds it), as its own run would write it.
fn steered_line(s: &RunRequest) -> Value {
    let mut line = json!({"type": "message", "id": message_id(), "role": "user", "content": s.text, "ts": now_ms(), "runId": s.run_id});
    if let RunOrigin::Channel { inbound, .. } = &s.origin {
        line["sourceId"] = json!(inbound.id);
    }
    if let Some(sender) = &s.sender {
        line["sender"] = json!(sender);
    }
    line
}

/// `10 minutes`, `90 s`.
fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        _ if s.is_multiple_of(60) => format!("{} minutes", s / 60),
        _ => format!("{} min {} s", s / 60, s % 60),
    }
}

fn model_failure_text(e: &ModelError) -> String {
    let what = match e {
        ModelError::Unavailable(_) => "the model provider is not reachable right now",
        ModelError::RateLimited(_) => "the model provider is rate limiting us",
        ModelError::Unauthorized(_) => {
            "the model provider rejected our API key (check the provider's key in the gateway's config or environment)"
        }
        ModelError::BadResponse(_) => "the model provider sent an answer I could not read",
        ModelError::Rejected(_) => "the model provider refused the request",
    };
    format!("⚠️ Sorry — {what}. The gateway itself is fine; please try again in a minute.")
}

/// Resolves a node reference (id, id prefix ≥ 6 chars, or display name).
pub(crate) async fn resolve_node(
    registry: &Addr<Registry>,
    reference: &str,
) -> Result<String, String> {
    let list = registry
        .send(ListNodes)
        .await
        .map_err(|_| "gateway is shutting down".to_owned())?;
    let nodes = list.nodes;
    let r = reference.trim();
    if let Some(n) = nodes.iter().find(|n| n.node_id == r) {
        return Ok(n.node_id.clone());
    }
    let matches: Vec<String> = nodes
        .into_iter()
        .filter(|n| {
            (r.len() >= 6 && n.node_id.starts_with(r))
                || n.display_name
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(r))
        })
        .map(|n| n.node_id)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no node matches {r:?}; use action status to list nodes"
        )),
        _ => Err(format!(
            "{r:?} matches {} nodes; use the full node id",
            matches.len()
        )),
    }
}

/// The media a run's tool calls returned.
#[derive(Default)]
struct Taken {
    /// Attached to the answer (at most [`crate::media::MAX_ATTACHMENTS`]).
    media: Vec<MediaRef>,
    /// Whether the model sees images.
    vision: bool,
    /// Photos to show the model after this round's tool results: what they are, the image.
    show: Vec<(String, crate::ports::ImagePart)>,
}

/// Largest photo shown to a model (providers refuse larger ones: 5 MB is the tightest).
const MAX_VISION_BYTES: usize = 5 * 1000 * 1000;

/// What a tool call runs with.
struct ToolCtx<'a> {
    registry: &'a Addr<Registry>,
    store: &'a Addr<StoreActor>,
    run_id: &'a str,
    /// Whose tool policy applies.
    sender: Option<&'a str>,
}

/// Executes one tool call; the result is always a JSON object the model can read. Node
/// commands are checked against the agent tool policy for `sender` by the node's session.
/// A photo or video a command sends back is saved and added to `taken` (the reply's
/// attachments); the model gets its description instead of its data (and, if it sees
/// images, the photo itself after the round).
async fn run_tool(ctx: &ToolCtx<'_>, call: &ToolCall, taken: &mut Taken) -> Value {
    let ToolCtx {
        registry,
        run_id,
        sender,
        ..
    } = *ctx;
    if call.function.name != "nodes" {
        return json!({"ok": false, "error": format!("unknown tool: {}", call.function.name)});
    }
    let args: Value = match serde_json::from_str(&call.function.arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => return json!({"ok": false, "error": "tool arguments must be a JSON object"}),
    };
    let action = args.get("action").and_then(Value::as_str).unwrap_or("");
    let node_ref = args.get("node").and_then(Value::as_str);
    match action {
        "status" => match registry.send(ListNodes).await {
            Ok(list) => {
                let nodes: Vec<Value> = list
                    .nodes
                    .iter()
                    .map(|n| {
                        json!({
                            "nodeId": n.node_id, "displayName": n.display_name,
                            "platform": n.platform, "connected": n.connected,
                            "approvalState": n.approval_state, "commands": n.commands,
                        })
                    })
                    .collect();
                json!({"ok": true, "nodes": nodes})
            }
            Err(_) => json!({"ok": false, "error": "gateway is shutting down"}),
        },
        "describe" | "invoke" | "which" => {
            let Some(node_ref) = node_ref else {
                return json!({"ok": false, "error": format!("action {action} needs a node")});
            };
            let node_id = match resolve_node(registry, node_ref).await {
                Ok(id) => id,
                Err(e) => return json!({"ok": false, "error": e}),
            };
            if action == "describe" {
                return match registry.send(DescribeNode { node_id }).await {
                    Ok(Ok(v)) => json!({"ok": true, "node": v}),
                    Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
                    Err(_) => json!({"ok": false, "error": "gateway is shutting down"}),
                };
            }
            let (command, params) = if action == "which" {
                let bins = args.get("bins").cloned().unwrap_or(json!([]));
                ("system.which".to_owned(), Some(json!({"bins": bins})))
            } else {
                let Some(command) = args.get("command").and_then(Value::as_str) else {
                    return json!({"ok": false, "error": "action invoke needs a command"});
                };
                (command.to_owned(), args.get("params").cloned())
            };
            let timeout_ms = args
                .get("timeoutMs")
                .and_then(Value::as_u64)
                .unwrap_or(crate::node_session::DEFAULT_INVOKE_TIMEOUT_MS)
                .min(10 * 60 * 1000);
            let res = registry
                .send(InvokeNodeCommand {
                    node_id: node_id.clone(),
                    command: command.clone(),
                    params,
                    timeout_ms,
                    idempotency_key: format!("{run_id}:{}", call.id),
                    session_key: None,
                    origin: InvokeOrigin::AgentRun {
                        sender: sender.map(str::to_owned),
                    },
                })
                .await;
            match res {
                Ok(Ok(v)) => {
                    let mut payload = v.payload_value();
                    let note = take_media(ctx.store, &mut payload, &command, taken).await;
                    let mut res = json!({"ok": true, "nodeId": node_id, "command": command, "payload": payload});
                    if let Some(note) = note {
                        res["note"] = json!(note);
                    }
                    res
                }
                Ok(Err(e)) => {
                    let mut out = json!({"ok": false, "nodeId": node_id, "command": command,
                        "error": tool_error(&e)});
                    if e.refused() {
                        out["denied"] = json!(true);
                    }
                    out
                }
                Err(_) => json!({"ok": false, "error": "gateway is shutting down"}),
            }
        }
        other => {
            json!({"ok": false, "error": format!("unknown action {other:?}; use status, describe, invoke or which")})
        }
    }
}

/// A failed node invoke as a tool result's `error`: the message, and the node's own code
/// (`SYSTEM_RUN_DENIED`, …) or else the gateway's.
pub(crate) fn tool_error(e: &crate::node_session::InvokeError) -> Value {
    let e = e.to_shape();
    let details = e.details.as_ref();
    let code = details
        .and_then(|d| d.get("nodeError"))
        .and_then(|n| n.get("code"))
        .or_else(|| details.and_then(|d| d.get("code")))
        .cloned();
    json!({"message": e.message, "code": code})
}

/// Takes the media out of a command's result `payload` (its `base64`, replaced by what the
/// model may read: kind, type, size, or why it was not attached); a saved file joins
/// `media`. The note for the model, when there was media.
async fn take_media(
    store: &Addr<StoreActor>,
    payload: &mut Value,
    command: &str,
    taken: &mut Taken,
) -> Option<String> {
    let b64 = crate::media::take_base64(payload)?;
    let full = taken.media.len() >= crate::media::MAX_ATTACHMENTS;
    let vision = taken.vision;
    // Decoding (and encoding again for the model) takes ~16 ms for a full 25 MiB frame in a
    // release build: off this thread, which the registry shares.
    let decoded = if full {
        None
    } else {
        let work = actix_web::rt::task::spawn_blocking(move || {
            use base64::Engine as _;
            crate::media::decode_media(&b64).map(|m| {
                let shown = (vision
                    && m.kind == crate::media::MediaKind::Photo
                    && m.data.len() <= MAX_VISION_BYTES)
                    .then(|| crate::ports::ImagePart {
                        mime: m.mime,
                        base64: base64::engine::general_purpose::STANDARD
                            .encode(&m.data)
                            .into(),
                    });
                (m, shown)
            })
        });
        Some(work.await)
    };
    let (described, note) = match decoded {
        None => {
            count_media(MediaOutcome::Refused);
            let why = format!(
                "a reply carries at most {} attachments",
                crate::media::MAX_ATTACHMENTS
            );
            (json!({"notAttached": why}), format!("Not attached: {why}."))
        }
        Some(Err(e)) => {
            count_media(MediaOutcome::Failed);
            log::warn!("{command}: media not decoded: {e}");
            let why = "the gateway could not decode it";
            (json!({"notAttached": why}), format!("Not attached: {why}."))
        }
        Some(Ok(Ok((m, shown)))) => match crate::media::save(store, m, command).await {
            Ok(r) => {
                let note = format!(
                    "The {} is attached to your answer: the user receives it with your reply.{} Do not repeat its data.",
                    r.kind.noun(),
                    if shown.is_some() {
                        " You see it in the next message."
                    } else {
                        ""
                    }
                );
                if let Some(image) = shown {
                    taken
                        .show
                        .push((format!("the {} from {command}", r.kind.noun()), image));
                }
                let d = r.describe();
                taken.media.push(r);
                count_media(MediaOutcome::Kept);
                (d, note)
            }
            Err(e) => {
                count_media(MediaOutcome::Failed);
                log::warn!("{command}: media not saved: {e}");
                let why = "the gateway could not save it";
                (json!({"notAttached": why}), format!("Not attached: {why}."))
            }
        },
        Some(Ok(Err(refused))) => {
            count_media(MediaOutcome::Refused);
            let why = refused.to_string();
            (json!({"notAttached": why}), format!("Not attached: {why}."))
        }
    };
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("base64".into(), described);
    }
    Some(note)
}

/// Takes the `MEDIA:` lines out of `text` and attaches the workspace files they name to
/// `media` ([`crate::workspace::attach`]), and the `http(s)` URLs they name when `fetch` is
/// given (the run is offered `web_fetch`: the same SSRF guard, [`crate::media_source`]);
/// what cannot be attached is said in `text`.
async fn attach_media_lines(
    text: &mut String,
    media: &mut Vec<MediaRef>,
    ws: &Arc<crate::workspace::WorkspaceSettings>,
    scope: crate::workspace::Scope,
    fetch: Option<&crate::media_source::Fetch>,
    store: &Addr<StoreActor>,
) {
    let (kept, refs) = crate::workspace::attach::split_media_lines(text);
    if refs.is_empty() {
        return;
    }
    *text = kept;
    let mut notes = Vec::new();
    for r in refs {
        let shown: String = crate::channel::progress::clean(&r)
            .chars()
            .take(120)
            .collect();
        if media.len() >= crate::media::MAX_ATTACHMENTS {
            notes.push(format!(
                "⚠️ Not attached: {shown} (at most {} files per answer)",
                crate::media::MAX_ATTACHMENTS
            ));
            continue;
        }
        let url = matches!(
            crate::media_source::classify(&r),
            Ok(crate::media_source::Source::Url(_))
        );
        let loaded = match (url, fetch) {
            (true, Some(f)) => crate::media_source::load(&r, None, Some(f), false).await,
            (true, None) => Err("URLs are attached only by runs offered web_fetch".to_owned()),
            (false, _) => crate::workspace::attach::load_off_thread(ws, scope, r).await,
        };
        match loaded {
            Ok(upload) => {
                match crate::media::save_file(store, crate::media::MEDIA_DIR, &upload).await {
                    Ok(m) => {
                        count_media(MediaOutcome::Kept);
                        media.push(m);
                    }
                    Err(e) => {
                        count_media(MediaOutcome::Failed);
                        log::warn!("an attachment was not saved: {e}");
                        notes.push(format!("⚠️ Not attached: {shown} (it could not be saved)"));
                    }
                }
            }
            Err(e) => notes.push(format!("⚠️ Not attached: {shown}: {e}")),
        }
    }
    if !notes.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&notes.join("\n"));
    }
}

fn count_media(outcome: MediaOutcome) {
    crate::metrics::METRICS.media(crate::metrics::MediaDirection::Outbound, outcome);
}

// === the embedded command agent ===

/// The built-in stand-in for a model: slash commands that drive the same `nodes` tool.
pub struct CommandAgent;

const HELP: &str = "OpenClaw (no model configured) understands:\n\
/nodes — list nodes\n\
/invoke <node> <command> [json params] — run a command on a node\n\
/which <node> <program…> — find programs on a node\n\
/help — this text\n\n\
Configure models.providers and agents.defaults.model.primary to chat freely.";

fn tool_call(args: Value) -> ChatResponse {
    ChatResponse {
        message: ChatMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: Some(vec![ToolCall {
                id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                kind: "function".into(),
                function: FunctionCall {
                    name: "nodes".into(),
                    arguments: args.to_string(),
                },
            }]),
            tool_call_id: None,
            images: Vec::new(),
            replay: None,
        },
        finish_reason: Some("tool_calls".into()),
        usage: Default::default(),
        model: None,
    }
}

fn text_reply(text: impl Into<String>) -> ChatResponse {
    ChatResponse {
        message: ChatMessage::text("assistant", text),
        finish_reason: Some("stop".into()),
        usage: Default::default(),
        model: None,
    }
}

fn render_tool_result(action: &str, result: &Value) -> String {
    if result.get("ok") != Some(&json!(true)) {
        let err = result
            .get("error")
            .map(|e| e.get("message").cloned().unwrap_or_else(|| e.clone()))
            .unwrap_or(json!("unknown error"));
        let code = result
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        return format!(
            "❌ {}{code}",
            err.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string())
        );
    }
    match action {
        "status" => {
            let nodes = result
                .get("nodes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if nodes.is_empty() {
                return "Gateway OK. No nodes are paired or connected.".into();
            }
            let mut out = format!("Gateway OK. {} node(s):", nodes.len());
            for n in nodes {
                let id = n.get("nodeId").and_then(Value::as_str).unwrap_or("?");
                let short: String = id.chars().take(12).collect();
                out.push_str(&format!(
                    "\n• {} ({short}) — {}, {}, {} command(s)",
                    n.get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or("unnamed"),
                    if n.get("connected") == Some(&json!(true)) {
                        "connected"
                    } else {
                        "offline"
                    },
                    n.get("approvalState")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    n.get("commands")
                        .and_then(Value::as_array)
                        .map(Vec::len)
                        .unwrap_or(0),
                ));
            }
            out
        }
        _ => {
            let payload = result.get("payload").cloned().unwrap_or(Value::Null);
            let pretty =
                serde_json::to_string_pretty(&payload).unwrap_or_else(|_| payload.to_string());
            format!(
                "✅ {} on {}:\n{pretty}",
                result
                    .get("command")
                    .and_then(Value::as_str)
                    .unwrap_or(action),
                result
                    .get("nodeId")
                    .and_then(Value::as_str)
                    .map(|s| s.chars().take(12).collect::<String>())
                    .unwrap_or_default(),
            )
        }
    }
}

impl ChatModel for CommandAgent {
    fn label(&self) -> String {
        "embedded/commands".into()
    }

    fn commands_help(&self) -> Option<&'static str> {
        Some(HELP)
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        let reply = (|| {
            let last = req.messages.last()?;
            if last.role == "tool" {
                let result: Value = serde_json::from_str(last.content.as_deref().unwrap_or("{}"))
                    .unwrap_or(Value::Null);
                let action = req
                    .messages
                    .iter()
                    .rev()
                    .find_map(|m| m.tool_calls.as_ref()?.first().cloned())
                    .and_then(|c| serde_json::from_str::<Value>(&c.function.arguments).ok())
                    .and_then(|a| a.get("action").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default();
                return Some(text_reply(render_tool_result(&action, &result)));
            }
            let text = last.content.as_deref().unwrap_or("").trim();
            let mut parts = text.splitn(4, char::is_whitespace);
            let cmd = parts.next().unwrap_or("");
            let cmd = cmd.split('@').next().unwrap_or(cmd).to_lowercase();
            Some(match cmd.as_str() {
                "/help" | "/start" => text_reply(HELP),
                "/status" | "/nodes" => tool_call(json!({"action": "status"})),
                "/invoke" => {
                    let (Some(node), Some(command)) = (parts.next(), parts.next()) else {
                        return Some(text_reply("Usage: /invoke <node> <command> [json params]"));
                    };
                    let params = match parts.next().map(str::trim).filter(|p| !p.is_empty()) {
                        None => None,
                        Some(p) => match serde_json::from_str::<Value>(p) {
                            Ok(v) => Some(v),
                            Err(e) => {
                                return Some(text_reply(format!(
                                    "The params are not valid JSON: {e}"
                                )));
                            }
                        },
                    };
                    let mut args = json!({"action": "invoke", "node": node, "command": command});
                    if let Some(p) = params {
                        args["params"] = p;
                    }
                    tool_call(args)
                }
                "/which" => {
                    let Some(node) = parts.next() else {
                        return Some(text_reply("Usage: /which <node> <program…>"));
                    };
                    let rest: Vec<&str> = parts.flat_map(|p| p.split_whitespace()).collect();
                    if rest.is_empty() {
                        return Some(text_reply("Usage: /which <node> <program…>"));
                    }
                    tool_call(json!({"action": "which", "node": node, "bins": rest}))
                }
                _ => text_reply(
                    "No model provider is configured, so I only understand commands. Send /help for the list.",
                ),
            })
        })();
        let reply = reply.unwrap_or_else(|| text_reply(HELP));
        Box::pin(async move { Ok(reply) })
    }
}

/// A small helper used by the registry: how long `agent.wait` may wait at most.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's tool list is built once per offer: the next run with the same offer shares
    /// it, and its tokens are the specs' estimate; another offer gets its own.
    #[test]
    fn the_same_offer_shares_one_tool_set_and_another_offer_gets_its_own() {
        let filter = crate::tool_policy::ToolFilter::default();
        let offer = |cron, workspace, scope| Offered::new(&filter, cron, workspace, scope, "p/m");
        let main = crate::workspace::Scope::Main;
        let a = offer(true, true, main).tools();
        let b = offer(true, true, main).tools();
        assert!(Arc::ptr_eq(&a.specs, &b.specs), "built once");
        let names = |t: &ToolSet| t.specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        let built: Vec<String> = offer(true, true, main)
            .key()
            .specs()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names(&a), built);
        assert_eq!(a.tokens, crate::compaction::estimate_request(&[], &a.specs));
        assert!(a.tokens > 0);
        let shared = offer(true, true, crate::workspace::Scope::Shared).tools();
        assert!(!Arc::ptr_eq(&a.specs, &shared.specs));
        assert!(names(&a).contains(&"memory_search".to_owned()));
        assert!(
            !names(&shared).contains(&"memory_search".to_owned()),
            "a shared chat's runs are not offered the private memory"
        );
        let bare = offer(false, false, main).tools();
        assert_eq!(
            names(&bare),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send"
            ]
        );
        assert!(bare.tokens < a.tokens);
    }

    #[test]
    fn the_silent_token_and_its_beginnings() {
        for t in ["NO_REPLY", " no_reply\n", "No_Reply"] {
            assert!(is_silent(t), "{t:?}");
        }
        for t in ["NO_REPLY.", "NO_REPLY please", "", "NO REPLY"] {
            assert!(!is_silent(t), "{t:?}");
        }
        for t in ["N", " no", "NO_", "no_rep", "NO_REPLY "] {
            assert!(may_be_silent(t), "{t:?}");
        }
        for t in ["", "  ", "Nope", "NO_REPLY!", "é", "No problem"] {
            assert!(!may_be_silent(t), "{t:?}");
        }
    }

    #[test]
    fn the_prompt_cache_key_is_stable_per_session_and_hides_the_key() {
        let a = prompt_cache_key("agent:main:telegram:direct:123456789");
        assert_eq!(a, prompt_cache_key("agent:main:telegram:direct:123456789"));
        assert_ne!(a, prompt_cache_key("agent:main:telegram:direct:123456780"));
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("oc-") && !a.contains("123456789"), "{a}");
    }

    fn ask(agent: &CommandAgent, messages: Vec<ChatMessage>) -> ChatResponse {
        let fut = agent.complete(ChatRequest {
            messages: messages.into(),
            tools: Arc::default(),
            thinking: None,
            cache_key: None,
        });
        futures_util::FutureExt::now_or_never(fut)
            .expect("ready")
            .expect("ok")
    }

    #[test]
    fn group_sessions_are_recognised() {
        assert!(is_group_session("agent:main:telegram:group:-100123"));
        assert!(is_group_session(
            "agent:main:telegram:group:-100123:topic:7"
        ));
        assert!(!is_group_session("agent:main:telegram:direct:42"));
        assert!(!is_group_session("agent:main:main"));
        assert!(!is_group_session("agent:main:groupie"));
    }

    #[test]
    fn command_agent_drives_the_nodes_tool() {
        let a = CommandAgent;
        let r = ask(
            &a,
            vec![ChatMessage::text(
                "user",
                "/invoke phone system.which {\"bins\":[\"sh\"]}",
            )],
        );
        let call = r.message.tool_calls.expect("tool call")[0].clone();
        let args: Value = serde_json::from_str(&call.function.arguments).expect("json");
        assert_eq!(args["action"], "invoke");
        assert_eq!(args["node"], "phone");
        assert_eq!(args["params"]["bins"][0], "sh");
        let assistant = ChatMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: Some(vec![call.clone()]),
            tool_call_id: None,
            images: Vec::new(),
            replay: None,
        };
        let tool = ChatMessage {
            role: "tool".into(),
            content: Some(json!({"ok": true, "nodeId": "abc", "command": "system.which", "payload": {"bins": {"sh": "/bin/sh"}}}).to_string()),
            tool_calls: None,
            tool_call_id: Some(call.id),
            images: Vec::new(),
            replay: None,
        };
        let r = ask(
            &a,
            vec![
                ChatMessage::text("user", "/invoke phone system.which"),
                assistant,
                tool,
            ],
        );
        let text = r.message.content.expect("text");
        assert!(text.contains("/bin/sh"), "{text}");
        let r = ask(&a, vec![ChatMessage::text("user", "hello")]);
        assert!(r.message.content.expect("text").contains("/help"));
        let r = ask(&a, vec![ChatMessage::text("user", "/invoke phone x {bad")]);
        assert!(r.message.content.expect("text").contains("not valid JSON"));
    }
}
