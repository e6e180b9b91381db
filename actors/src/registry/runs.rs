//! The registry's agent half: routing inbound channel messages and operator requests to
//! [`AgentRun`] actors — one run at a time per session (later messages queue), different
//! sessions in parallel — plus the session index, run records for `agent.wait` and operator
//! event broadcast. Channel fan-out (`send`, `channels.status`, DM pairing, webhooks) is in
//! [`super::channels`].

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Registry;
use super::scheduler::{QueueFull, RunChannel, RunView, WaitAdmission, WaitStatus};
use crate::agent_run::{AgentRun, CancelRun};
use crate::channel::{DeliverReply, InboundMessage};
use crate::protocol::error::ErrorShape;
use crate::store::{LoadLines, SaveDocument};
use crate::util::now_ms;

/// Where the session index lives (relative to the state dir).
/// The session index of the agent `main` (each agent has its own: [`sessions_index_name`]).
pub const SESSIONS_INDEX: &str = "agents/main/sessions/sessions.json";

/// Where a run came from, and so where its reply goes.
#[derive(Clone)]
pub enum RunOrigin {
    /// A channel message: reply through the channel.
    Channel {
        /// The message.
        inbound: Box<InboundMessage>,
        /// The channel's delivery endpoint.
        deliver: Recipient<DeliverReply>,
    },
    /// An operator (`chat.send`, `agent`): the reply goes out as `chat` events.
    Operator,
    /// A cron job: like an operator run (the cron service delivers the answer), but node
    /// commands run under the tool policy of whoever created the job (`<channel>:<senderId>`;
    /// `None`: an operator).
    Cron {
        /// The job creator's policy identity.
        sender: Option<String>,
        /// Start without the session's earlier lines (an isolated job: each run is on its
        /// own, as OpenClaw's fresh session per run).
        fresh: bool,
        /// `lightContext`: the prompt carries none of the workspace's bootstrap files.
        light: bool,
        /// Made with the `cron` tool from a shared chat (a group, a stranger's open DM):
        /// the run sees only what that chat may see, never the owner's private memory.
        shared: bool,
    },
    /// A sub-agent's run (`sessions_spawn`), or its result handed back to the session that
    /// spawned it: under the requester's tool policy and privacy, never an operator's.
    Subagent {
        /// The requester's policy identity (`None`: an operator).
        sender: Option<String>,
        /// The requester answered a shared chat (a group, a stranger's open DM).
        shared: bool,
        /// The child's own run (isolated, in its own session); `false`: the requester's
        /// turn that reviews the child's result.
        child: bool,
    },
    /// A node's own request (`node.event` `voice.transcript` or `agent.request`: the phone
    /// apps' voice and share): answered as `chat` events like an operator run (and sent to
    /// the node when it subscribed to the session), under the node tool policy resolved
    /// for `node:<nodeId>`, and never with the gateway host's `exec` (a node is a device,
    /// not an operator).
    Node {
        /// The node that asked.
        node_id: String,
    },
}

impl RunOrigin {
    /// Where the run came from, as the stability ring names it: the channel (`telegram`),
    /// `operator` or `cron`.
    pub fn channel_code(&self) -> &str {
        match self {
            Self::Channel { inbound, .. } => &inbound.channel,
            Self::Operator => "operator",
            Self::Cron { .. } => "cron",
            Self::Subagent { .. } => "subagent",
            Self::Node { .. } => "node",
        }
    }

    /// The identity the agent tool policy is resolved for (`None`: operator).
    pub fn policy_sender(&self) -> Option<String> {
        match self {
            Self::Channel { inbound, .. } => {
                Some(format!("{}:{}", inbound.channel, inbound.sender_id))
            }
            Self::Operator => None,
            Self::Cron { sender, .. } | Self::Subagent { sender, .. } => sender.clone(),
            Self::Node { node_id } => Some(format!("node:{node_id}")),
        }
    }
}

/// One unit of agent work.
#[derive(Clone)]
pub struct RunRequest {
    /// Run id (the idempotency key for operator runs, the inbound id for channel runs).
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// The user's message.
    pub text: String,
    /// Origin.
    pub origin: RunOrigin,
    /// Who sent it (for the transcript).
    pub sender: Option<String>,
    /// Images an operator attached (saved by the run when it starts).
    pub uploads: Vec<crate::media::FileUpload>,
    /// `/compact [focus]`, `sessions.compact`: the run compacts the session's context and
    /// answers with the outcome, instead of asking the model.
    pub compact: Option<CompactAsk>,
    /// `/think <level> <message>`: this message's thinking level (over the chat's).
    pub thinking: Option<crate::ports::Thinking>,
    /// `agent {deliver: true}`: where the answer is also sent, once the run is done.
    pub delivery: Option<AgentDelivery>,
    /// `agent {model}`: this run's model (`provider/model`, an alias or a bare id), over the
    /// session's; checked when the run is submitted.
    pub model: Option<String>,
    /// How `messages.queue` treats it.
    pub queue: Queueing,
}

impl RunRequest {
    /// A run of `text` in `session_key` from `origin` (written as from `sender`), with
    /// nothing else of its own: no files, no compaction, the session's thinking level and
    /// model, no delivery elsewhere, queued as `messages.queue` says.
    pub fn new(
        run_id: String,
        session_key: String,
        text: String,
        origin: RunOrigin,
        sender: Option<String>,
    ) -> Self {
        Self {
            run_id,
            session_key,
            text,
            origin,
            sender,
            uploads: Vec::new(),
            compact: None,
            thinking: None,
            delivery: None,
            model: None,
            queue: Queueing::Default,
        }
    }
}

/// How `messages.queue` treats a run's message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Queueing {
    /// As the queue mode in force says.
    #[default]
    Default,
    /// `/steer <message>` (`/tell`): into the session's active run at its next boundary
    /// whatever the mode, when that run can take it (else a turn of its own).
    Steer,
    /// Always a run of its own, never interrupting, steering or collected (the
    /// OpenAI-compatible endpoint: each request is answered by its own completion).
    Alone,
    /// This queue mode for this message only, over the session's and the config's
    /// (`chat.send {queueMode}`; `sessions.steer` is `interrupt`).
    Mode(crate::run_queue::QueueMode),
}

/// Where an operator's run (`agent {deliver: true, channel?, to?, …}`, the real CLI's
/// `openclaw agent --deliver`) sends its answer, besides answering the caller. Unset
/// channel and target: the session's own chat, else the chat the user wrote from last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentDelivery {
    /// `replyChannel` or `channel` (a channel kind id).
    pub channel: Option<String>,
    /// `replyTo` or `to` (as `send` parses it).
    pub to: Option<String>,
    /// `replyAccountId` or `accountId`.
    pub account_id: Option<String>,
    /// `threadId`: a forum topic.
    pub thread_id: Option<i64>,
    /// `bestEffortDeliver`: a failed delivery does not fail the call.
    pub best_effort: bool,
}

impl AgentDelivery {
    /// Sends a finished run's answer (`text` as shown, and its files) where this says;
    /// answers OpenClaw's `deliveryStatus`. Never fails: what went wrong is in the status.
    pub(crate) async fn send(
        &self,
        registry: &Addr<Registry>,
        run_id: &str,
        session_key: &str,
        text: &str,
        media: &[crate::media::MediaRef],
    ) -> serde_json::Value {
        use serde_json::json;
        let failed = |reason: &str, message: Option<String>| {
            let mut v = json!({"requested": true, "attempted": false, "status": "failed",
                "succeeded": false, "error": true, "reason": reason});
            if let Some(m) = message {
                v["errorMessage"] = json!(m);
            }
            v
        };
        if text.trim().is_empty() && media.is_empty() {
            return json!({"requested": true, "attempted": false, "status": "suppressed",
                "succeeded": true, "reason": "no_visible_payload", "resultCount": 0});
        }
        let channel = self.channel.clone();
        let target = match &self.to {
            Some(to) => Some((
                channel.unwrap_or_else(|| crate::channel::DEFAULT_KIND.id.to_owned()),
                to.clone(),
            )),
            // The session's own chat, else the chat the user wrote from last.
            None => own_or_last_chat(registry, channel, Some(session_key.to_owned())).await,
        };
        let Some((channel, to)) = target else {
            return failed(
                "no_delivery_target",
                Some("no delivery target: pass --reply-to (to) with --reply-channel (channel), or write to the bot once so there is a last chat".to_owned()),
            );
        };
        let sent = registry
            .send(super::channels::SendOutbound {
                channel,
                account_id: self.account_id.clone(),
                to,
                text: text.to_owned(),
                media: media.to_vec(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                thread_id: self.thread_id,
                reply_to: None,
                silent: false,
                idempotency_key: format!("agent-deliver:{run_id}"),
                run: Some(super::channels::OutboundRun {
                    session_key: session_key.to_owned(),
                    run_id: run_id.to_owned(),
                }),
            })
            .await;
        use super::channels::RouteError as E;
        match sent {
            Ok(Ok(receipt)) => json!({"requested": true, "attempted": true, "status": "sent",
                "succeeded": true, "resultCount": receipt.message_ids.len()}),
            Ok(Err(e @ (E::Unsupported { .. } | E::NotConfigured(_)))) => {
                failed("unknown_channel", Some(e.to_string()))
            }
            Ok(Err(e @ E::BadTarget(_))) => failed("invalid_delivery_target", Some(e.to_string())),
            Ok(Err(e)) => json!({"requested": true, "attempted": true, "status": "failed",
                "succeeded": false, "error": true, "errorMessage": e.to_string()}),
            Err(_) => failed("unavailable", Some("registry unavailable".to_owned())),
        }
    }
}

/// What a compaction run is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactAsk {
    /// What the summary should focus on (may be empty).
    pub focus: String,
    /// `sessions.compact {maxLines}`: keep only the last this many messages in the context,
    /// without a summary (no model call; the transcript keeps everything).
    pub max_lines: Option<u64>,
}

/// Run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting behind another run of the session.
    Queued,
    /// Running.
    Running,
    /// Finished with an answer.
    Ok,
    /// Failed (model error, round cap).
    Error,
    /// Aborted.
    Aborted,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Final status.
    pub status: RunStatus,
    /// The text the user got.
    pub text: String,
    /// Its attachments.
    pub media: Vec<crate::media::MediaRef>,
    /// The error, for failed runs.
    pub error: Option<String>,
    /// Start time.
    pub started_at: u64,
    /// End time.
    pub ended_at: u64,
    /// Compactions the run made (see [`crate::compaction`]).
    pub compactions: u32,
    /// What a compaction run did (`sessions.compact`'s answer); such a run's answer is a
    /// notice, not part of the conversation.
    pub detail: Option<serde_json::Value>,
    /// The estimated tokens of the run's request and its model's window.
    pub context: Option<(u32, u32)>,
    /// A memory flush ran to its end in this run, after this many of its compactions.
    pub flushed: Option<u32>,
    /// A memory flush after the reply started in this run (after this many of its
    /// compactions), whether or not it ran to its end.
    pub flush_tried: Option<u32>,
    /// The tokens its model calls reported (zero calls: none did).
    pub usage: crate::ports::Usage,
    /// What became of the delivery it was asked for (OpenClaw's `deliveryStatus`).
    pub delivery: Option<serde_json::Value>,
    /// `provider/model` of the model that answered last (`None`: no model answered).
    pub model: Option<String>,
}

/// An index entry of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    /// Transcript id.
    pub session_id: String,
    /// Created.
    pub created_at: u64,
    /// Last activity.
    pub updated_at: u64,
    /// Channel (`telegram`), if the session belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Chat id on the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<i64>,
    /// Display name of the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The name an operator gave the session (`sessions.create` / `sessions.patch`
    /// `label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Last message, shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    /// Messages exchanged (user + assistant).
    #[serde(default)]
    pub message_count: u64,
    /// The chat's own choice of spoken answers (`/tts on` / `/tts off`; none: `tts.auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts: Option<bool>,
    /// The provider of the session's own model (`/model`, `sessions.patch {model}`;
    /// OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_override: Option<String>,
    /// The session's own model id (with [`Self::provider_override`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_override: Option<String>,
    /// Who chose it: `user` (strict: no fallbacks), as OpenClaw records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_override_source: Option<String>,
    /// The chat's own thinking level (`/think <level>`; OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
    /// How many times the session's context was compacted (OpenClaw's field).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub compaction_count: u64,
    /// When the pre-compaction memory flush last ran to its end (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_flush_at: Option<u64>,
    /// [`Self::compaction_count`] when it did: a flush runs once per compaction cycle
    /// (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_flush_compaction_count: Option<u64>,
    /// Input tokens (cache reads and writes included) of the last run's model calls, as the
    /// provider reported them (OpenClaw's field, best effort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens of the last run's model calls (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// The context the last run sent the model, in tokens (estimated; OpenClaw's
    /// prompt-oriented `totalTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// The model's context window in tokens (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
    /// The provider of the model that answered the last run (OpenClaw's field; the TUI's
    /// footer shows the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    /// The model that answered the last run (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// [`Self::compaction_count`] when a flush after a reply last started: one such try
    /// per cycle (one the next message stopped leaves the flush to the compaction).
    #[serde(skip)]
    pub flush_tried_count: Option<u64>,
    /// The last run a person started (a channel message or an operator's turn; cron and
    /// heartbeat runs do not count), what an `idle` reset measures (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_interaction_at: Option<u64>,
    /// The channel account the chat wrote to last (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_account_id: Option<String>,
    /// The forum topic the chat wrote from last (OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_thread_id: Option<i64>,
    /// The session's own queue mode (`/queue <mode>`, `sessions.patch {queueMode}`;
    /// OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_mode: Option<String>,
    /// The session's own queue cap (`/queue … cap:N`; OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_cap: Option<u64>,
    /// The session's own drop policy (`/queue … drop:old`; OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_drop: Option<String>,
    /// The session's own quiet window, in milliseconds (`/queue … debounce:2s`;
    /// OpenClaw's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_debounce_ms: Option<u64>,
    /// The chat's own usage footer (`/usage off|tokens|full`; OpenClaw's field, kept by
    /// `/new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_usage: Option<String>,
}

impl SessionMeta {
    /// The chat's own usage footer mode (an unknown stored value counts as unset).
    pub fn footer(&self) -> Option<crate::usage_footer::FooterMode> {
        self.response_usage
            .as_deref()
            .and_then(crate::usage_footer::FooterMode::parse)
    }
}

impl SessionMeta {
    /// The session's own queue settings (unknown stored values count as unset).
    pub fn queue(&self) -> crate::run_queue::SessionQueue {
        crate::run_queue::SessionQueue {
            mode: self
                .queue_mode
                .as_deref()
                .and_then(crate::run_queue::QueueMode::parse_stored),
            cap: self
                .queue_cap
                .and_then(|c| usize::try_from(c).ok())
                .filter(|c| *c > 0),
            drop: self
                .queue_drop
                .as_deref()
                .and_then(crate::run_queue::DropPolicy::parse),
            debounce_ms: self.queue_debounce_ms,
        }
    }
}

impl SessionMeta {
    /// Where an answer to this session's chat goes (OpenClaw's `deliveryContext`): its
    /// channel, chat, account and topic; `None` for a session of no chat.
    pub fn delivery_context(&self) -> Option<DeliveryContext> {
        Some(DeliveryContext {
            channel: self.channel.clone()?,
            to: self.chat_id?.to_string(),
            account_id: self.last_account_id.clone(),
            thread_id: self.last_thread_id,
        })
    }
}

/// A session's chat as OpenClaw's session rows name it (`deliveryContext`): what `send`
/// needs to answer there (the MCP channel bridge, `openclaw mcp serve`, replies with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryContext {
    /// Channel id (`telegram`).
    pub channel: String,
    /// The chat.
    pub to: String,
    /// The channel account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The forum topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
}

impl SessionMeta {
    /// The last run's estimated request size and its model's window, in tokens (for
    /// `/status`), from [`Self::total_tokens`] and [`Self::context_tokens`].
    pub fn context(&self) -> Option<(u32, u32)> {
        let n = |v: Option<u64>| v.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
        Some((n(self.total_tokens)?, n(self.context_tokens)?))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SessionMeta {
    /// `provider/model` the session chose, if any.
    pub fn model_choice(&self) -> Option<String> {
        match (&self.provider_override, &self.model_override) {
            (Some(p), Some(m)) => Some(format!("{p}/{m}")),
            (None, Some(m)) => Some(m.clone()),
            _ => None,
        }
    }
}

/// A channel message that ends without a reply of its own (its run aborted, dropped at the
/// queue's cap, or answered by the run it rode along with): tell its channel to drop it from
/// its pending list (an empty text sends nothing), so it neither waits forever nor runs
/// again after a restart.
fn complete_without_reply(channel: Option<RunChannel>) {
    if let Some((deliver, inbound)) = channel {
        deliver.do_send(DeliverReply {
            reply_to: None,
            ..inbound.answer(String::new())
        });
    }
}

/// Transcript file of a session id of the session `key` (under its agent's directory; a key
/// of no valid agent id, only ever an old entry, stays under `main`'s).
pub fn transcript_name(key: &str, session_id: &str) -> String {
    format!(
        "agents/{}/sessions/{session_id}.jsonl",
        crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN)
    )
}

/// The session index file of `agent`.
pub fn sessions_index_name(agent: &str) -> String {
    format!("agents/{agent}/sessions/sessions.json")
}

impl Registry {
    /// The session a channel's message belongs to: that of the agent its bindings route it
    /// to (`None`: no binding matches and no agent owns unbound messages).
    pub(super) fn inbound_key(&self, m: &crate::channel::InboundMessage) -> Option<String> {
        let live = self.shared.live.get();
        let (kind, id, parent) =
            crate::agents::chat_peer(&m.chat_type, m.chat_id, m.thread_id, m.sender_id);
        let agent = live.agents.route(&crate::agents::Peer {
            channel: &m.channel,
            account: &m.account_id,
            kind,
            id: &id,
            parent: parent.as_deref(),
        })?;
        Some(m.session_key(agent, &live.session_routing))
    }

    /// `session.reset`: a person's message to a session whose time is up (`daily` /
    /// `idle`, see [`crate::session_scope`]) starts it over first: a new transcript, the
    /// old one kept on disk, the system events queued for the old one dropped. Cron runs
    /// and compactions never do. A channel message is judged at its arrival (a message
    /// that waited behind a long run is not idle for that wait).
    fn start_over_if_expired(&mut self, key: &str, req: &RunRequest) {
        let live = self.shared.live.get();
        let resets = &live.session_routing.reset;
        if !resets.any() || req.compact.is_some() {
            return;
        }
        let (channel, kind, now) = match &req.origin {
            RunOrigin::Cron { .. } | RunOrigin::Subagent { .. } => return,
            RunOrigin::Operator | RunOrigin::Node { .. } => {
                (None, crate::session_scope::ChatKind::of_key(key), now_ms())
            }
            RunOrigin::Channel { inbound, .. } => {
                use crate::session_scope::ChatKind;
                let kind = if inbound.chat_type == "private" {
                    ChatKind::of_key(key)
                } else if inbound.thread_id.is_some() {
                    ChatKind::Thread
                } else {
                    ChatKind::Group
                };
                let arrived = if inbound.ts > 0 {
                    inbound.ts.min(now_ms())
                } else {
                    now_ms()
                };
                (Some(inbound.channel.as_str()), kind, arrived)
            }
        };
        let Some(meta) = self.sessions_index.get(key) else {
            return;
        };
        let policy = resets.policy(channel, kind);
        let last = meta.last_interaction_at.unwrap_or(meta.updated_at);
        let tz = jiff::tz::TimeZone::system();
        let Some(why) = policy.expired(meta.created_at, last, now, &tz) else {
            return;
        };
        // The run about to start is this session's queue head: it stays.
        let done = self.start_session_over(key, None, false);
        actix::spawn(async move {
            let _ = done.saved.await;
        });
        self.pending_events.remove(key);
        log::info!("session {key}: started over ({why} reset, session.reset)");
        self.session_lifecycle(key, "reset");
    }

    fn session_meta(&mut self, key: &str, origin: &RunOrigin) -> SessionMeta {
        let (meta, created) = self
            .sessions_index
            .touch(key, origin, now_ms(), || uuid::Uuid::new_v4().to_string());
        if created {
            self.publish_sessions();
            // A new session id must be durable before its transcript grows: otherwise a
            // crash would start a fresh transcript for the same chat.
            self.save_sessions_now();
        }
        meta
    }

    /// Saves the session index soon (at most one write per second: it changes with every
    /// run, and it is an index — transcripts hold the data).
    fn save_sessions_logged(&mut self, ctx: &mut Context<Self>) {
        if self.sessions_save_scheduled {
            return;
        }
        self.sessions_save_scheduled = true;
        ctx.run_later(Duration::from_secs(1), |act, _| {
            act.sessions_save_scheduled = false;
            act.save_sessions_now();
        });
    }

    /// Tells `health` the sessions as they are now (each agent's count and newest).
    pub(super) fn publish_sessions(&self) {
        self.shared
            .health_view
            .set_sessions(self.sessions_index.health_view());
    }

    pub(crate) fn save_sessions_now(&self) {
        actix::spawn(self.save_sessions());
    }

    /// Writes the session index as it is now; the returned future resolves once it is on
    /// disk (`true`) or the write failed (`false`, logged). The write is queued now and
    /// happens whether or not the future is awaited ([`crate::store::send_detached`]). The
    /// store writes in order: anything sent to it after this call (a transcript append)
    /// lands after the index.
    pub(super) fn save_sessions(&self) -> impl std::future::Future<Output = bool> + 'static {
        self.publish_sessions();
        // One file per agent (`agents/<id>/sessions/sessions.json`, OpenClaw's layout): every
        // configured agent's, and that of any agent an entry still belongs to.
        let mut parts = self.sessions_index.by_agent();
        for a in self.shared.live.get().agents.agents() {
            parts.entry(a.id.clone()).or_default();
        }
        // An agent whose file was not read (added by a reload and read in the background,
        // unreadable, or not configured: an old cron job's) must not have its file
        // overwritten: its entries stay in main's file, where old stores kept every agent's.
        let unread: Vec<String> = parts
            .keys()
            .filter(|a| !self.indexed_agents.contains(*a))
            .cloned()
            .collect();
        for agent in unread {
            if let Some(part) = parts.remove(&agent) {
                parts
                    .entry(crate::agents::MAIN.to_owned())
                    .or_default()
                    .merge(part);
            }
        }
        let saves: Vec<_> = parts
            .into_iter()
            .map(|(agent, part)| {
                crate::store::send_detached(
                    &self.store,
                    SaveDocument {
                        name: sessions_index_name(&agent),
                        contents: serde_json::to_vec_pretty(&part).unwrap_or_default(),
                    },
                )
            })
            .collect();
        async move {
            let mut ok = true;
            for save in saves {
                if let Err(e) = save.await {
                    log::error!("session index not saved: {e}");
                    ok = false;
                }
            }
            ok
        }
    }

    /// Reads the session index of each configured agent whose file was not read yet (an
    /// agent a config reload added) and merges it (entries made since stay as they are);
    /// then the agent's file is written and maintained like the others. An unreadable or
    /// invalid file is left as it is, and logged with the fix.
    pub(super) fn index_new_agents(&mut self, ctx: &mut Context<Self>) {
        let new: Vec<String> = self
            .shared
            .live
            .get()
            .agents
            .agents()
            .iter()
            .map(|a| a.id.clone())
            .filter(|id| !self.indexed_agents.contains(id))
            .collect();
        for agent in new {
            let name = sessions_index_name(&agent);
            let load = self
                .store
                .send(crate::store::LoadDocument { name: name.clone() });
            load.into_actor(self)
                .map(move |res, act, _| {
                    let part = match crate::store::StoreError::flatten(res) {
                        Ok(None) => SessionsIndex::default(),
                        Ok(Some(bytes)) => match serde_json::from_slice::<SessionsIndex>(&bytes) {
                            Ok(p) => p,
                            Err(e) => {
                                log::error!(
                                    "{name} is not a valid session index ({e}); agent {agent}'s sessions are not loaded and the file is left as it is. Fix: restore it from a backup or move it aside, then reload the config"
                                );
                                return;
                            }
                        },
                        Err(e) => {
                            log::error!(
                                "cannot read {name} ({e}); agent {agent}'s sessions are not loaded and the file is left as it is"
                            );
                            return;
                        }
                    };
                    act.sessions_index.merge(part);
                    act.indexed_agents.insert(agent);
                    act.save_sessions_now();
                })
                .spawn(ctx);
        }
    }

    /// Queues a run; starts it when its session is idle. Returns whether it started. A
    /// person's message follows `messages.queue`: `interrupt` aborts the running run first,
    /// and at most `cap` wait (see [`crate::run_queue`]).
    pub(super) fn submit(
        &mut self,
        req: RunRequest,
        ctx: &mut Context<Self>,
    ) -> Result<bool, QueueFull> {
        self.submit_reporting(req, ctx).map(|(started, _)| started)
    }

    /// [`Self::submit`], also saying whether the message interrupted the session's running
    /// run (queue mode `interrupt`): `(started, interrupted)`.
    pub(super) fn submit_reporting(
        &mut self,
        req: RunRequest,
        ctx: &mut Context<Self>,
    ) -> Result<(bool, bool), QueueFull> {
        let key = req.session_key.clone();
        let queue = super::scheduler::is_person(&req)
            .then(|| resolve_queue(&self.shared.live.get(), &self.sessions_index, &req));
        let mut interrupted = false;
        if let Some(q) = queue
            && q.mode == crate::run_queue::QueueMode::Interrupt
            && let Some(active) = self.runs.active_run(&key).map(str::to_owned)
        {
            log::info!(
                "session {key}: run {active} interrupted by a new message (messages.queue mode interrupt)"
            );
            self.abort_runs(&key, Some(&active));
            interrupted = true;
        }
        let done = self
            .runs
            .enqueue(req, queue.map(|q| (q.cap, q.drop)), now_ms())?;
        if !done.dropped.is_empty() {
            log::warn!(
                "session {key}: {} waiting message(s) dropped: more than messages.queue.cap waited",
                done.dropped.len()
            );
        }
        for channel in done.dropped {
            complete_without_reply(Some(channel));
        }
        if done.idle && self.runs.queued_in(&key) > 1 {
            // Others waited before it: their quiet window is running, and this message
            // moves it on.
            self.drain_next(&key, ctx);
        } else if done.idle {
            self.start_next(&key, ctx);
        } else {
            // The session's next message does not wait for a memory flush.
            self.stop_flush(&key);
            if let Some(waiting) = self.steer_waiting.get(&key) {
                waiting.set(true);
            }
        }
        Ok((done.idle, interrupted))
    }

    /// Ends the messages that rode along with a run (steered in, collected): a chat's leaves
    /// its channel's pending list (the run's reply answered it), an operator's gets its
    /// `chat` end (without a message: the run's own `final` carries the answer).
    fn end_riders(&mut self, riders: Vec<RunRequest>, outcome: &RunOutcome) {
        for rider in riders {
            match rider.origin {
                RunOrigin::Channel { inbound, deliver } => {
                    crate::agent_run::report_ended(&inbound);
                    complete_without_reply(Some((deliver, inbound)));
                }
                RunOrigin::Operator => {
                    let mut end = serde_json::json!({"runId": rider.run_id, "sessionKey": rider.session_key, "seq": 1});
                    match outcome.status {
                        RunStatus::Aborted => {
                            end["state"] = serde_json::json!("aborted");
                            end["stopReason"] = serde_json::json!("aborted");
                        }
                        RunStatus::Error => {
                            end["state"] = serde_json::json!("error");
                            end["errorMessage"] =
                                serde_json::json!(outcome.error.clone().unwrap_or_default());
                        }
                        _ => {
                            end["state"] = serde_json::json!("final");
                            end["stopReason"] = serde_json::json!("stop");
                        }
                    }
                    self.broadcast("chat", &end, false, None);
                }
                RunOrigin::Cron { .. } | RunOrigin::Subagent { .. } | RunOrigin::Node { .. } => {}
            }
        }
    }

    /// Stops the memory flush running after the reply of `key`'s active run, if any (the
    /// files it wrote stay; the run then ends).
    pub(super) fn stop_flush(&mut self, key: &str) {
        if let Some((_, abort)) = self.flushing.remove(key) {
            abort.abort();
        }
    }

    /// What a run of `origin` may do with `exec`: the gateway host only when `tools.exec`
    /// allows it and the run is one of the owner's private sessions; nodes when the run's
    /// agent policy grants `system.run`.
    /// The model of a run in `key`: `choice` (the run's own, else the session's `/model`),
    /// strict, without the default's fallbacks; one no longer configured gives way to the
    /// agent's default.
    pub(super) fn run_model(
        &self,
        key: &str,
        choice: Option<String>,
        agent: &crate::agents::AgentDef,
    ) -> std::rc::Rc<dyn crate::ports::ChatModel> {
        let chosen = choice.and_then(|r| match self.model.pick(&r) {
            Ok((_, m)) => Some(m),
            Err(e) => {
                log::warn!(
                    "session {key}: its model {r} is not available ({e}); the default answers"
                );
                None
            }
        });
        chosen.unwrap_or_else(|| {
            self.model
                .for_agent(&agent.id)
                .unwrap_or_else(|| self.model.clone())
        })
    }

    /// `web_fetch` and `web_search` for a run starting now (when configured and enabled).
    pub(super) fn web_tools(
        &self,
        live: &crate::hot::HotConfig,
    ) -> (
        Option<crate::agent_run::WebTool>,
        Option<crate::agent_run::SearchTool>,
    ) {
        (
            self.web
                .clone()
                .filter(|_| live.web_fetch.enabled)
                .map(|w| (w, live.web_fetch.clone())),
            self.search
                .clone()
                .filter(|_| live.web_search.offered())
                .map(|s| (s, live.web_search.clone())),
        )
    }

    pub(super) fn exec_access(
        &self,
        live: &crate::hot::HotConfig,
        agent: &crate::agents::AgentDef,
        req: &RunRequest,
    ) -> crate::exec_tool::ExecAccess {
        use crate::exec_tool::{ExecHost, ExecMode};
        let settings = live.exec.clone();
        let origin = &req.origin;
        // The owner's private sessions; of the cron runs only the jobs an operator made
        // (and the heartbeat): a job made with the `cron` tool from a chat — a group's, a
        // stranger's — never gets the gateway host.
        let private = crate::agent_run::scope_of(req) == crate::workspace::Scope::Main
            && !matches!(
                origin,
                RunOrigin::Cron {
                    sender: Some(_),
                    ..
                } | RunOrigin::Node { .. }
            );
        let gateway =
            (settings.mode != ExecMode::Deny && settings.host != ExecHost::Node && private)
                .then(|| self.exec_host.clone())
                .flatten();
        let node = settings.host != ExecHost::Gateway
            && live
                .agent_tools
                .resolve(origin.policy_sender().as_deref())
                .grants("system.run");
        crate::exec_tool::ExecAccess {
            settings,
            processes: gateway.is_some().then(|| self.processes.clone()),
            gateway,
            node,
            workdir: agent.workspace.dir.clone(),
            skill_env: std::collections::BTreeMap::new(),
        }
    }

    /// Starts the session's next run once the run before it has ended and its quiet window
    /// (`messages.queue` debounce) has passed since the last message was queued; until then
    /// it looks again when the window ends (a message queued meanwhile moves it on). Not for
    /// `interrupt`, nor for runs that are not a person's message.
    fn drain_next(&mut self, key: &str, ctx: &mut Context<Self>) {
        let now = now_ms();
        let left = self.runs.peek_next(key).and_then(|(req, last)| {
            if !super::scheduler::is_person(req) {
                return None;
            }
            let q = resolve_queue(&self.shared.live.get(), &self.sessions_index, req);
            let due = last.saturating_add(q.debounce_ms);
            (q.mode != crate::run_queue::QueueMode::Interrupt && due > now).then(|| due - now)
        });
        if let Some(timer) = self.drain_timers.remove(key) {
            ctx.cancel_future(timer);
        }
        match left {
            Some(ms) => {
                let owned = key.to_owned();
                let timer = ctx.run_later(Duration::from_millis(ms), move |act, ctx| {
                    act.drain_timers.remove(&owned);
                    act.drain_next(&owned, ctx);
                });
                self.drain_timers.insert(key.to_owned(), timer);
            }
            None => self.start_next(key, ctx),
        }
    }

    fn start_next(&mut self, key: &str, ctx: &mut Context<Self>) {
        let Some(mut req) = self.runs.next(key) else {
            return;
        };
        if super::scheduler::is_person(&req) {
            // `collect`: the messages of the same sender that waited behind it run with it,
            // as one turn.
            let live = self.shared.live.get();
            let index = &self.sessions_index;
            // (Not for the embedded command agent, which reads only the newest message.)
            if resolve_queue(&live, index, &req).mode == crate::run_queue::QueueMode::Collect
                && self.model.commands_help().is_none()
                && let Some(rides) = ride_key(&req)
            {
                let riders = self.runs.ride(key, now_ms(), |r| {
                    ride_key(r).as_deref() == Some(rides.as_str())
                        && resolve_queue(&live, index, r).mode
                            == crate::run_queue::QueueMode::Collect
                });
                if !riders.is_empty() {
                    log::info!(
                        "session {key}: {} waiting message(s) collected into run {}",
                        riders.len(),
                        req.run_id
                    );
                    req.text = crate::run_queue::collect_prompt(
                        std::iter::once((req.sender.as_deref(), req.text.as_str())).chain(
                            riders
                                .iter()
                                .map(|r| (r.sender.as_deref(), r.text.as_str())),
                        ),
                    );
                }
            }
            // The messages dropped at the cap meanwhile: what they said.
            if let Some(overflow) = self.runs.take_overflow(key) {
                req.text = format!("{overflow}\n\n{}", req.text);
            }
        }
        self.start_over_if_expired(key, &req);
        // System events waiting for this session go first, one `System:` line each.
        if !matches!(req.origin, RunOrigin::Cron { fresh: true, .. })
            && let Some(events) = self.pending_events.remove(key)
        {
            req.text = with_events(events, &req.text);
        }
        let meta = self.session_meta(key, &req.origin);
        let run_id = req.run_id.clone();
        // Cron jobs and sub-agents keep their own time limits (the cron service's, the
        // sub-agent's `runTimeoutSeconds`).
        let origin_is_cron = matches!(
            req.origin,
            RunOrigin::Cron { .. } | RunOrigin::Subagent { child: true, .. }
        );
        let transcript = transcript_name(key, &meta.session_id);
        let tail = self.tails.take(&transcript);
        // A fresh run starts from no earlier lines (its own are still appended).
        let tail = match &req.origin {
            RunOrigin::Cron { fresh: true, .. } => Some(super::tails::Tail::default()),
            _ => tail,
        };
        let live = self.shared.live.get();
        // The agent of the session: its workspace, tools and model. A key of an agent no
        // longer configured (an old cron job's) runs as the default agent.
        let agent = live.agents.agent_of_key(key).unwrap_or_else(|| {
            log::warn!(
                "session {key}: its agent is not configured; the default agent {} runs it",
                live.agents.default_id()
            );
            live.agents.default_agent()
        });
        let model = self.run_model(
            key,
            req.model.clone().or_else(|| meta.model_choice()),
            agent,
        );
        // The message's own thinking level (`/think <level> <message>`), else the chat's,
        // else its agent's `thinkingDefault` (the model's own default applies after them).
        if req.thinking.is_none() {
            req.thinking = meta
                .thinking_level
                .as_deref()
                .and_then(crate::ports::Thinking::parse)
                .or(agent.thinking);
        }
        let exec = self.exec_access(&live, agent, &req);
        // `compaction.model`, `memoryFlush.model`: strict; one that is not configured gives
        // way to the session's.
        let pick = |r: Option<&str>, key: &str| {
            let r = r?;
            self.model
                .pick(r)
                .map_err(|e| {
                    log::warn!("{key} {r} is not available ({e}); the session's model is used")
                })
                .ok()
                .map(|(_, m)| m)
        };
        let summarizer = pick(
            live.compaction.model.as_deref(),
            "agents.defaults.compaction.model",
        );
        let flusher = pick(
            live.compaction.flush_model.as_deref(),
            "agents.defaults.compaction.memoryFlush.model",
        );
        let compaction = crate::agent_run::Compaction {
            settings: live.compaction.clone(),
            summarizer,
            flusher,
            flushed: meta.memory_flush_compaction_count == Some(meta.compaction_count),
            tried: meta.flush_tried_count == Some(meta.compaction_count),
        };
        // The embedded command agent reads only the new message: nothing steers into it.
        let steer = ride_key(&req).filter(|_| model.commands_help().is_none());
        let steering = steer.is_some().then(|| {
            let waiting = std::rc::Rc::new(std::cell::Cell::new(self.runs.queued_in(key) > 0));
            self.steer_waiting.insert(key.to_owned(), waiting.clone());
            crate::agent_run::Steering { waiting }
        });
        if steering.is_none() {
            self.steer_waiting.remove(key);
        }
        // A chat's reply may end with its usage (`/usage`, `messages.responseUsage`).
        let footer = match &req.origin {
            RunOrigin::Channel { inbound, .. } => {
                live.response_usage.resolve(meta.footer(), &inbound.channel)
            }
            _ => crate::usage_footer::FooterMode::Off,
        };
        let tools = run_tools(&live, agent, &req.origin);
        let (web, search) = self.web_tools(&live);
        let run = AgentRun::new(req, transcript, ctx.address(), self.store.clone(), model)
            .with_steering(steering)
            .with_identity_name(agent.identity_name.clone())
            .with_usage_footer(footer)
            .with_history(tail)
            .with_compaction(compaction)
            .with_audit(&self.shared.audit, &agent.id)
            .with_deadline((!origin_is_cron).then(|| live.run_timeout))
            .with_workspace(agent.workspace.clone(), tools)
            .with_exec(exec)
            .with_web(web, search)
            .with_cron(self.shared.cron.get().map(|c| c.0.clone()))
            .with_hearing(self.hearing.clone(), self.shared.config.state_dir.clone())
            .with_speech(
                self.speech.clone(),
                self.sessions_index.get(key).and_then(|m| m.tts),
            )
            .start();
        self.runs.started(key, &run_id, run, steer, now_ms());
        // The session has a run now (and its user message on the way to the transcript).
        self.session_changed(key);
    }
}

// === messages ===

/// Sent by a channel for every accepted (already persisted) inbound message. Deduplicated
/// on `msg.id`, so a channel may hand the same message again after a restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InboundReceived {
    /// The message.
    pub msg: InboundMessage,
    /// Where the reply goes.
    pub reply_to: Recipient<DeliverReply>,
}

impl Handler<InboundReceived> for Registry {
    type Result = ();

    fn handle(&mut self, msg: InboundReceived, ctx: &mut Self::Context) {
        if self.runs.record(&msg.msg.id).is_some() {
            return;
        }
        let Some(key) = self.inbound_key(&msg.msg) else {
            // Several agents, none owning this chat: fail closed (as OpenClaw), and let the
            // channel drop the message from its pending list.
            log::warn!(
                "{} message {} (account {}, chat {}) matches no binding and no agent owns unbound messages: not answered. Fix: add a binding for it (bindings[].match with channel, accountId or peer) or mark one agent default: true",
                msg.msg.channel,
                msg.msg.id,
                msg.msg.account_id,
                msg.msg.chat_id
            );
            return complete_without_reply(Some((msg.reply_to, Box::new(msg.msg))));
        };
        if let Some(command) = super::chat_commands::parse(&msg.msg.text) {
            return self.chat_command(command, key, msg.msg, msg.reply_to, ctx);
        }
        let text = crate::channel::with_history(&msg.msg);
        self.submit_inbound(key, msg.msg, text, msg.reply_to, ctx);
    }
}

/// What `chat.send` / `agent` get back immediately.
#[derive(Debug, Clone)]
pub struct SubmitAck {
    /// Run id.
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// `started`, `queued`, or for a repeated idempotency key `in_flight` / `accepted`.
    pub status: &'static str,
    /// A command that restarts the gateway (`/restart`) waits for this: the session opens
    /// it once the answer is queued.
    pub answered: Option<crate::ports::AnswerGate>,
    /// The message aborted the session's running run (queue mode `interrupt`; OpenClaw's
    /// `interruptedActiveRun`).
    pub interrupted: bool,
}

/// Sent by an operator session for `chat.send` and `agent`.
#[derive(Message)]
#[rtype(result = "Result<SubmitAck, ErrorShape>")]
pub struct SubmitRun {
    /// Run id (the idempotency key).
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// The message.
    pub text: String,
    /// Who sent it.
    pub sender: Option<String>,
    /// Images attached (`attachments`).
    pub uploads: Vec<crate::media::FileUpload>,
    /// `agent`'s `thinking`: this run's level (over the session's).
    pub thinking: Option<crate::ports::Thinking>,
    /// `agent {deliver: true}`: where the answer also goes.
    pub delivery: Option<AgentDelivery>,
    /// `agent {model}`: this run's model.
    pub model: Option<String>,
    /// `agent {sessionId}`: the run goes to the session with this transcript id (over
    /// `session_key`); an unknown id is refused.
    pub session_id: Option<String>,
    /// `agent {voiceWakeTrigger}`: its route (`voicewake.routing.get`) picks the session
    /// over `session_key` (an agent's main session or none was asked for).
    pub voice_wake_trigger: Option<String>,
    /// The caller holds `operator.admin` (OpenClaw's `senderIsOwner` for a gateway
    /// client): owner-only chat commands (`/restart`).
    pub admin: bool,
    /// A run of its own whatever `messages.queue` says ([`Queueing::Alone`]: the
    /// OpenAI-compatible endpoint).
    pub alone: bool,
    /// `chat.send {queueMode}`: this message's queue mode ([`Queueing::Mode`]).
    pub queue_mode: Option<crate::run_queue::QueueMode>,
    /// `sessions.send` / `sessions.steer`: the session must exist already (an agent's
    /// main session always may).
    pub existing: bool,
}

impl Handler<SubmitRun> for Registry {
    type Result = Result<SubmitAck, ErrorShape>;

    fn handle(&mut self, mut msg: SubmitRun, ctx: &mut Self::Context) -> Self::Result {
        if let Some(key) = msg
            .voice_wake_trigger
            .as_deref()
            .and_then(|t| self.voice_route(t))
        {
            msg.session_key = key;
        }
        if let Some(id) = &msg.session_id {
            let found = self.sessions_index.key_of_id(id).cloned();
            match found {
                Some(key) => msg.session_key = key,
                None => {
                    return Err(ErrorShape::invalid(format!(
                        "invalid agent params: no session has id {id:?} (sessions.list shows them; a reset session has a new id). Fix: pass --session-key, or omit --session-id"
                    )));
                }
            }
        }
        if let Some(r) = self.runs.record(&msg.run_id) {
            let status = if r.in_flight() {
                "in_flight"
            } else {
                "accepted"
            };
            return Ok(SubmitAck {
                run_id: msg.run_id,
                session_key: r.session_key.clone(),
                status,
                answered: None,
                interrupted: false,
            });
        }
        // `sessions.send`: into a session that exists (or an agent's main session).
        if msg.existing
            && self.sessions_index.get(&msg.session_key).is_none()
            && crate::agents::key_agent(&msg.session_key)
                .is_none_or(|a| msg.session_key != format!("agent:{a}:main"))
        {
            let shown: String = msg.session_key.chars().take(200).collect();
            return Err(ErrorShape::invalid(format!(
                "session not found: {shown}. Fix: sessions.list shows the sessions; sessions.create makes one"
            )));
        }
        // A model asked for this run must be one to choose from.
        if let Some(r) = &msg.model
            && let Err(e) = self.model.pick(r)
        {
            return Err(ErrorShape::invalid(format!("invalid agent params: {e}")));
        }
        if let Some(command) = super::chat_commands::parse(&msg.text) {
            return self
                .operator_command(command, msg, ctx)
                .map_err(QueueFull::to_shape);
        }
        let req = RunRequest {
            run_id: msg.run_id.clone(),
            session_key: msg.session_key.clone(),
            text: msg.text,
            origin: RunOrigin::Operator,
            sender: msg.sender,
            uploads: msg.uploads,
            compact: None,
            thinking: msg.thinking,
            delivery: msg.delivery,
            model: msg.model,
            queue: match (msg.alone, msg.queue_mode) {
                (true, _) => Queueing::Alone,
                (false, Some(mode)) => Queueing::Mode(mode),
                (false, None) => Queueing::Default,
            },
        };
        let (started, interrupted) = self
            .submit_reporting(req, ctx)
            .map_err(QueueFull::to_shape)?;
        Ok(SubmitAck {
            run_id: msg.run_id,
            session_key: msg.session_key,
            status: if started { "started" } else { "queued" },
            answered: None,
            interrupted,
        })
    }
}

/// `sessions.compact`: a compaction run of an existing session, queued like its other runs.
#[derive(Message)]
#[rtype(result = "Result<SubmitAck, crate::protocol::error::ErrorShape>")]
pub struct SubmitCompaction {
    /// Run id (fresh).
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// `maxLines`.
    pub max_lines: Option<u64>,
}

impl Handler<SubmitCompaction> for Registry {
    type Result = Result<SubmitAck, crate::protocol::error::ErrorShape>;

    fn handle(&mut self, msg: SubmitCompaction, ctx: &mut Self::Context) -> Self::Result {
        if self.sessions_index.get(&msg.session_key).is_none() {
            return Err(crate::protocol::error::ErrorShape::invalid(format!(
                "no session {}: sessions.list shows the sessions",
                msg.session_key
            )));
        }
        if msg.max_lines.is_none() && self.model.commands_help().is_some() {
            return Err(crate::protocol::error::ErrorShape::unavailable(
                "no model is configured to summarize with (agents.defaults.model); maxLines compacts without one",
            ));
        }
        let req = RunRequest {
            run_id: msg.run_id.clone(),
            session_key: msg.session_key.clone(),
            text: "/compact".into(),
            origin: RunOrigin::Operator,
            sender: None,
            uploads: Vec::new(),
            thinking: None,
            delivery: None,
            model: None,
            compact: Some(CompactAsk {
                focus: String::new(),
                max_lines: msg.max_lines,
            }),
            queue: Queueing::Default,
        };
        let started = self.submit(req, ctx).map_err(QueueFull::to_shape)?;
        Ok(SubmitAck {
            run_id: msg.run_id,
            session_key: msg.session_key,
            status: if started { "started" } else { "queued" },
            answered: None,
            interrupted: false,
        })
    }
}

/// Sent by an `AgentRun` when it is done (after delivering its reply).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RunFinished {
    /// Run id.
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// Outcome.
    pub outcome: RunOutcome,
    /// The transcript's name and its last lines once every line of the run is written;
    /// `None` for the lines when that is not known (aborted, a write failed).
    pub tail: (String, Option<super::tails::Tail>),
}

impl Handler<RunFinished> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RunFinished, ctx: &mut Self::Context) {
        // Only the session's running run may hand a tail back (one run at a time).
        let (transcript, lines) = msg.tail;
        let current = self.runs.active_run(&msg.session_key) == Some(msg.run_id.as_str());
        if self
            .flushing
            .get(&msg.session_key)
            .is_some_and(|(run, _)| *run == msg.run_id)
        {
            self.flushing.remove(&msg.session_key);
        }
        // A run that was aborted by a reset ends in the old transcript: the new one's
        // counts are not its.
        let same_transcript = self
            .sessions_index
            .get(&msg.session_key)
            .is_some_and(|m| transcript_name(&msg.session_key, &m.session_id) == transcript);
        self.tails.put(transcript, lines.filter(|_| current));
        if current {
            self.steer_waiting.remove(&msg.session_key);
        }
        let done = self
            .runs
            .finished(&msg.run_id, &msg.session_key, &msg.outcome);
        complete_without_reply(done.aborted);
        self.end_riders(done.riders, &msg.outcome);
        if crate::subagents::is_child_key(&msg.session_key) {
            self.child_run_finished(&msg.run_id, &msg.outcome, ctx);
        }
        if same_transcript {
            self.sessions_index
                .run_ended(&msg.session_key, &msg.outcome);
        }
        self.session_changed(&msg.session_key);
        self.save_sessions_logged(ctx);
        self.drain_next(&msg.session_key, ctx);
    }
}

/// Sent by a run as its reply goes out (to the chat, or as the `final` event): what is
/// queued from then on does not wait for the quiet window (see `messages.queue`'s
/// `debounceMs`); the run may still be recording.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplyOut {
    /// Session.
    pub session_key: String,
    /// Run id.
    pub run_id: String,
}

impl Handler<ReplyOut> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ReplyOut, _: &mut Self::Context) {
        self.runs.reply_out(&msg.session_key, &msg.run_id);
    }
}

/// Sent by a run whose reply is out, before the memory flush due after it: the run's
/// waiters get its outcome now, while the flush still holds the session until
/// [`RunFinished`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct RunReplied {
    /// Run id.
    pub run_id: String,
    /// How it ended.
    pub outcome: RunOutcome,
}

impl Handler<RunReplied> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RunReplied, _: &mut Self::Context) {
        self.runs.replied(&msg.run_id, &msg.outcome);
    }
}

/// Sent by a run whose reply is out when it starts the memory flush due after it: the
/// session's next message or an abort stops the flush ([`Registry::stop_flush`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushStarted {
    /// Session.
    pub session_key: String,
    /// The run.
    pub run_id: String,
    /// Stops the flush.
    pub abort: futures_util::future::AbortHandle,
}

impl Handler<FlushStarted> for Registry {
    type Result = ();

    fn handle(&mut self, msg: FlushStarted, _: &mut Self::Context) {
        if self.runs.active_run(&msg.session_key) != Some(msg.run_id.as_str()) {
            msg.abort.abort();
            return;
        }
        // A message queued while the reply went out: stop at once.
        if self.runs.queued_in(&msg.session_key) > 0 {
            msg.abort.abort();
            return;
        }
        self.flushing
            .insert(msg.session_key, (msg.run_id, msg.abort));
    }
}

/// Sent by a running run at each boundary (before a tool call, before a model call): the
/// messages waiting at the head of its session's queue that steer into it — `steer` mode,
/// and the same sender in the same chat (the [`ride_key`] the scheduler keeps for the active
/// run). They ride along with the run from now on (and end with it).
#[derive(Message)]
#[rtype(result = "Vec<RunRequest>")]
pub struct TakeSteer {
    /// Session.
    pub session_key: String,
    /// The asking run (only the session's active run gets any).
    pub run_id: String,
}

impl Handler<TakeSteer> for Registry {
    type Result = MessageResult<TakeSteer>;

    fn handle(&mut self, msg: TakeSteer, _: &mut Self::Context) -> Self::Result {
        if self.runs.active_run(&msg.session_key) != Some(msg.run_id.as_str()) {
            return MessageResult(Vec::new());
        }
        let Some(rides) = self.runs.active_ride(&msg.session_key).map(str::to_owned) else {
            return MessageResult(Vec::new());
        };
        if self.runs.queued_in(&msg.session_key) == 0 {
            if let Some(waiting) = self.steer_waiting.get(&msg.session_key) {
                waiting.set(false);
            }
            return MessageResult(Vec::new());
        }
        let live = self.shared.live.get();
        let index = &self.sessions_index;
        let mut taken = self.runs.ride(&msg.session_key, now_ms(), |r| {
            ride_key(r).as_deref() == Some(rides.as_str())
                && (r.queue == Queueing::Steer
                    || resolve_queue(&live, index, r).mode == crate::run_queue::QueueMode::Steer)
        });
        if let Some(first) = taken.first_mut()
            && let Some(overflow) = self.runs.take_overflow(&msg.session_key)
        {
            first.text = format!("{overflow}\n\n{}", first.text);
        }
        if let Some(waiting) = self.steer_waiting.get(&msg.session_key) {
            waiting.set(self.runs.queued_in(&msg.session_key) > 0);
        }
        if !taken.is_empty() {
            log::info!(
                "session {}: {} message(s) steered into run {}",
                msg.session_key,
                taken.len(),
                msg.run_id
            );
        }
        MessageResult(taken)
    }
}

/// The queue settings in force for a person's message (`messages.queue`, the session's
/// own from `/queue`; the channel is `webchat` for an operator's).
pub(super) fn resolve_queue(
    live: &crate::hot::HotConfig,
    index: &SessionsIndex,
    req: &RunRequest,
) -> crate::run_queue::Resolved {
    let channel = match &req.origin {
        RunOrigin::Channel { inbound, .. } => inbound.channel.as_str(),
        _ => "webchat",
    };
    let own = index
        .get(&req.session_key)
        .map(SessionMeta::queue)
        .unwrap_or_default();
    let mut resolved = live.queue.resolve(own, channel);
    if let Queueing::Mode(mode) = req.queue {
        resolved.mode = mode;
    }
    resolved
}

/// The tool filter of a run of `origin` by `agent`: the agent's, less what a run of this
/// origin never gets; a sub-agent's also narrowed by `tools.subagents.tools`.
pub(super) fn run_tools(
    live: &crate::hot::HotConfig,
    agent: &crate::agents::AgentDef,
    origin: &RunOrigin,
) -> std::sync::Arc<crate::tool_policy::ToolFilter> {
    let withheld = crate::subagents::withheld(origin);
    if withheld.is_empty() {
        return agent.tools.clone();
    }
    let mut f = (*agent.tools)
        .clone()
        .and(crate::tool_policy::ToolFilter::denying(withheld));
    if matches!(origin, RunOrigin::Subagent { child: true, .. }) {
        f = f.and(live.subagents.tools.clone());
    }
    std::sync::Arc::new(f)
}

/// Which runs a message may ride along with (steered in, collected): the same sender in the
/// same chat (so it never runs under another person's tool policy), or any operator's with
/// an operator's. `None`: it runs on its own (not a person's message; a command's run; a
/// message with files, or with its own model, thinking level or delivery).
pub fn ride_key(req: &RunRequest) -> Option<String> {
    if !super::scheduler::is_person(req)
        || !req.uploads.is_empty()
        || req.thinking.is_some()
        || req.delivery.is_some()
        || req.model.is_some()
    {
        return None;
    }
    match &req.origin {
        RunOrigin::Channel { inbound, .. } => (inbound.media.is_empty()
            && inbound.attached.is_empty()
            && inbound.media_notes.is_empty())
        .then(|| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
                inbound.channel,
                inbound.account_id,
                inbound.chat_id,
                inbound.thread_id,
                inbound.sender_id
            )
        }),
        RunOrigin::Operator => Some("operator".to_owned()),
        RunOrigin::Cron { .. } | RunOrigin::Subagent { .. } | RunOrigin::Node { .. } => None,
    }
}

/// What `chat.abort` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortReply {
    /// Whether any run was aborted.
    pub aborted: bool,
    /// Always `true`.
    pub ok: bool,
    /// The runs aborted (the active one first).
    pub run_ids: Vec<String>,
}

/// `chat.abort`: aborts the active run of a session (and drops its queue), or one run.
#[derive(Message)]
#[rtype(result = "AbortReply")]
pub struct AbortRun {
    /// Session.
    pub session_key: String,
    /// A specific run.
    pub run_id: Option<String>,
}

impl Handler<AbortRun> for Registry {
    type Result = MessageResult<AbortRun>;

    fn handle(&mut self, msg: AbortRun, _: &mut Self::Context) -> Self::Result {
        let run_ids = self.abort_runs(&msg.session_key, msg.run_id.as_deref());
        MessageResult(AbortReply {
            aborted: !run_ids.is_empty(),
            ok: true,
            run_ids,
        })
    }
}

impl Registry {
    /// Aborts the session's active run (when `run_id` is `None` or names it) and drops its
    /// queued runs (all, or the one named); their channels drop the messages from their
    /// pending lists. Returns the run ids aborted, the active one first.
    pub(super) fn abort_runs(&mut self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let active = self.runs.active_run(session_key).map(str::to_owned);
        if run_id.is_none() || run_id == active.as_deref() {
            self.stop_flush(session_key);
        }
        let aborted = self.runs.abort(session_key, run_id, now_ms());
        if let Some(run) = aborted.cancel {
            run.do_send(CancelRun);
        }
        for channel in aborted.channels {
            complete_without_reply(Some(channel));
        }
        aborted.run_ids
    }
}

/// What `agent.wait` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum WaitReply {
    /// The run, ended or (`status: timeout`) not yet.
    Run(RunView),
    /// No such run, or too many waits.
    Failed {
        /// Why.
        error: String,
        /// Run id.
        run_id: String,
        /// `error`.
        status: WaitStatus,
    },
    /// The run's record was dropped while waiting (`null`).
    Gone,
}

impl WaitReply {
    fn of(view: Option<RunView>) -> Self {
        view.map_or(Self::Gone, Self::Run)
    }

    fn failed(run_id: String, error: impl Into<String>) -> Self {
        Self::Failed {
            error: error.into(),
            run_id,
            status: WaitStatus::Error,
        }
    }

    /// The run's status (`error` unless it is a run view).
    pub fn status(&self) -> WaitStatus {
        match self {
            Self::Run(v) => v.status,
            Self::Failed { .. } | Self::Gone => WaitStatus::Error,
        }
    }
}

/// `agent.wait` (and the second `agent` response): resolves when the run ends or the
/// timeout passes.
#[derive(Message)]
#[rtype(result = "WaitReply")]
pub struct WaitRun {
    /// Run id.
    pub run_id: String,
    /// Bound on the wait.
    pub timeout: Duration,
}

impl Handler<WaitRun> for Registry {
    type Result = ResponseActFuture<Self, WaitReply>;

    fn handle(&mut self, msg: WaitRun, _: &mut Self::Context) -> Self::Result {
        let run_id = msg.run_id;
        let rx = match self.runs.wait(&run_id) {
            WaitAdmission::Waiting(rx) => rx,
            WaitAdmission::Unknown => {
                return Box::pin(actix::fut::ready(WaitReply::failed(
                    run_id,
                    "unknown runId",
                )));
            }
            WaitAdmission::Ended => {
                return Box::pin(actix::fut::ready(WaitReply::of(self.runs.view(&run_id))));
            }
            WaitAdmission::Refused(e) => {
                return Box::pin(actix::fut::ready(WaitReply::failed(run_id, e)));
            }
        };
        let timeout = msg.timeout;
        Box::pin(
            async move { actix_web::rt::time::timeout(timeout, rx).await.is_ok() }
                .into_actor(self)
                .map(move |finished, act, _| {
                    if !finished {
                        // This wait's receiver is gone: drop its sender now, not at the end
                        // of the run.
                        act.runs.forget_closed_waiters(&run_id);
                    }
                    let mut view = act.runs.view(&run_id);
                    if !finished && let Some(v) = &mut view {
                        v.status = WaitStatus::Timeout;
                    }
                    WaitReply::of(view)
                }),
        )
    }
}

/// Sent by agent runs: an event for operators (`chat`, `agent`), scope-filtered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    /// Event name.
    pub event: String,
    /// Payload.
    pub payload: Value,
}

/// `chat.inject`: an assistant note appended to an existing session's transcript (no model
/// call), shown to operators as a `chat` `final` event (run id `inject-<messageId>`). The
/// next run of the session has it in its context. Refused while the session has a run
/// going, queued or flushing its memory (agent runs are the transcript's only other
/// writers); answers the note's message id.
#[derive(Message)]
#[rtype(result = "Result<String, ErrorShape>")]
pub struct InjectNote {
    /// Session.
    pub session_key: String,
    /// The note as the transcript keeps it.
    pub text: String,
}

impl Handler<InjectNote> for Registry {
    type Result = ResponseActFuture<Self, Result<String, ErrorShape>>;

    fn handle(&mut self, msg: InjectNote, _: &mut Self::Context) -> Self::Result {
        let key = msg.session_key;
        let Some(meta) = self.sessions_index.get(&key) else {
            return Box::pin(actix::fut::ready(Err(ErrorShape::invalid(
                "session not found",
            ))));
        };
        if self.runs.active_run(&key).is_some()
            || self.runs.queued_in(&key) > 0
            || self.flushing.contains_key(&key)
        {
            return Box::pin(actix::fut::ready(Err(ErrorShape::unavailable(
                "a run is in progress in this session; inject the note once it has ended",
            )
            .retry_after(1000))));
        }
        let name = transcript_name(&key, &meta.session_id);
        // The cached tail no longer ends the transcript: the next run reads the disk, after
        // this line (the store serves its messages in order).
        let _ = self.tails.take(&name);
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let run_id = format!("inject-{id}");
        let line = serde_json::json!({"type": "message", "id": crate::agent_run::message_id(),
            "role": "assistant", "content": msg.text, "ts": now, "runId": run_id, "injected": true});
        let write = self.store.send(crate::store::AppendLines {
            name,
            lines: vec![line.clone()],
            sync: true,
        });
        Box::pin(write.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(())) => {
                let mut e = crate::agent_run::final_event(&run_id, &key, &msg.text, now);
                e["seq"] = serde_json::json!(0);
                act.broadcast("chat", &e, false, None);
                ctx.notify(super::session_events::TranscriptGrew {
                    session_key: key,
                    run_id: Some(run_id),
                    lines: vec![line],
                    sender: None,
                });
                Ok(id)
            }
            Ok(Err(e)) => Err(ErrorShape::unavailable(format!(
                "failed to write transcript: {e}"
            ))),
            Err(_) => Err(ErrorShape::unavailable(
                "failed to write transcript: the store stopped",
            )),
        }))
    }
}

/// At most this many runs are followed by [`TapRun`] at once.
pub const MAX_RUN_TAPS: usize = 256;

/// Sends run `run_id`'s `chat` events (deltas and its end) to `to` as well, until
/// [`UntapRun`]. Registered before the run is submitted, so nothing is missed. `false`:
/// [`MAX_RUN_TAPS`] are in use (or the id is followed already).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TapRun {
    /// The run (the id it is submitted with).
    pub run_id: String,
    /// Where the events go (bounded; a full channel drops a delta).
    pub to: tokio::sync::mpsc::Sender<Value>,
}

impl Handler<TapRun> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: TapRun, _: &mut Self::Context) -> bool {
        if self.run_taps.len() >= MAX_RUN_TAPS || self.run_taps.contains_key(&msg.run_id) {
            return false;
        }
        self.run_taps.insert(msg.run_id, msg.to);
        true
    }
}

/// Stops a [`TapRun`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct UntapRun {
    /// The run.
    pub run_id: String,
}

impl Handler<UntapRun> for Registry {
    type Result = ();

    fn handle(&mut self, msg: UntapRun, _: &mut Self::Context) {
        self.run_taps.remove(&msg.run_id);
    }
}

impl Handler<Broadcast> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Broadcast, _: &mut Self::Context) {
        self.broadcast(&msg.event, &msg.payload, false, None);
    }
}

/// A session as `sessions.list` shows it: its index entry and its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    /// The index entry.
    #[serde(flatten)]
    pub meta: SessionMeta,
    /// Session key.
    pub key: String,
    /// Whether a run is in progress.
    pub has_active_run: bool,
    /// The run in progress, if any.
    pub active_run_ids: Vec<String>,
    /// Answer time.
    pub snapshot_at: u64,
    /// The session's chat (OpenClaw's `deliveryContext`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_context: Option<DeliveryContext>,
    /// Its channel (OpenClaw's `lastChannel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_channel: Option<String>,
    /// Its chat (OpenClaw's `lastTo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_to: Option<String>,
}

/// What `sessions.list` answers (one page: no paging yet). Fields in the order of the
/// wire object's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// Rows returned.
    pub count: usize,
    /// The default agent's model and window (OpenClaw's `defaults`: what the TUI's footer
    /// shows for a session that chose none).
    pub defaults: SessionDefaults,
    /// Whether rows were left out.
    pub has_more: bool,
    /// The limit applied.
    pub limit_applied: usize,
    /// Always `null`.
    pub next_offset: Option<usize>,
    /// Always 0.
    pub offset: usize,
    /// Where the index lives.
    pub path: String,
    /// Most recent first.
    pub sessions: Vec<SessionRow>,
    /// Sessions known.
    pub total_count: usize,
}

/// [`SessionList::defaults`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDefaults {
    /// Its context window in tokens.
    pub context_tokens: u32,
    /// The default model.
    pub model: String,
    /// The provider of the default model (`None`: a label without one).
    pub model_provider: Option<String>,
}

/// Asks for the [`SessionDefaults`] of the default agent (`status`'s `sessions.defaults`).
#[derive(Message)]
#[rtype(result = "SessionDefaults")]
pub struct GetSessionDefaults;

impl Handler<GetSessionDefaults> for Registry {
    type Result = MessageResult<GetSessionDefaults>;

    fn handle(&mut self, _: GetSessionDefaults, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.session_defaults())
    }
}

impl SessionDefaults {
    /// Of the model labelled `primary` (`provider/model`) with `window` tokens.
    pub fn of(primary: &str, window: Option<u32>) -> Self {
        let (provider, model) = match primary.split_once('/') {
            Some((p, m)) => (Some(p.to_owned()), m.to_owned()),
            None => (None, primary.to_owned()),
        };
        Self {
            model_provider: provider,
            model,
            context_tokens: crate::compaction::Budget::of(window).window,
        }
    }
}

impl Registry {
    /// The default agent's [`SessionDefaults`].
    fn session_defaults(&self) -> SessionDefaults {
        SessionDefaults::of(&self.model.primary(), self.model.context_window())
    }

    pub(super) fn row_of(&self, key: &str, meta: &SessionMeta, now: u64) -> SessionRow {
        let active: Vec<String> = self
            .runs
            .active_run(key)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let delivery_context = meta.delivery_context();
        SessionRow {
            meta: meta.clone(),
            key: key.to_owned(),
            has_active_run: !active.is_empty(),
            active_run_ids: active,
            snapshot_at: now,
            last_channel: delivery_context.as_ref().map(|d| d.channel.clone()),
            last_to: delivery_context.as_ref().map(|d| d.to.clone()),
            delivery_context,
        }
    }

    /// The `sessions.list` row of `key`, if the session exists.
    pub(super) fn session_row(&self, key: &str) -> Option<SessionRow> {
        self.sessions_index
            .get(key)
            .map(|m| self.row_of(key, m, now_ms()))
    }
}

/// `sessions.list`.
#[derive(Message)]
#[rtype(result = "SessionList")]
pub struct ListSessions {
    /// At most this many rows.
    pub limit: usize,
    /// Only sessions whose key, label, display name or last message contains this (any
    /// case).
    pub search: Option<String>,
}

impl Handler<ListSessions> for Registry {
    type Result = MessageResult<ListSessions>;

    fn handle(&mut self, msg: ListSessions, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.session_list(msg.limit, msg.search.as_deref()))
    }
}

impl Registry {
    /// The `sessions.list` page of at most `limit` rows, most recent first.
    pub(super) fn session_list(&self, limit: usize, search: Option<&str>) -> SessionList {
        let mut rows = self.sessions_index.by_recency();
        if let Some(q) = search.map(str::to_lowercase).filter(|q| !q.is_empty()) {
            let has = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(&q));
            rows.retain(|(key, m)| {
                has(Some(key))
                    || has(m.label.as_deref())
                    || has(m.display_name.as_deref())
                    || has(m.last_message_preview.as_deref())
            });
        }
        let total = rows.len();
        let now = now_ms();
        let sessions: Vec<SessionRow> = rows
            .into_iter()
            .take(limit)
            .map(|(key, m)| self.row_of(key, m, now))
            .collect();
        let count = sessions.len();
        SessionList {
            count,
            defaults: self.session_defaults(),
            has_more: count < total,
            limit_applied: limit,
            next_offset: None,
            offset: 0,
            path: self.shared.sessions_path(),
            sessions,
            total_count: total,
        }
    }
}

/// One text part of a history message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// `text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A transcript message as `chat.history` shows it. The transcript's own values (role,
/// time, run id, sender, source id) are passed through as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryMessage {
    /// OpenClaw's `__openclaw: {id}`: the message's id (lines written before ids have none).
    #[serde(rename = "__openclaw", skip_serializing_if = "Option::is_none")]
    pub meta: Option<MessageMeta>,
    /// The text, as one part.
    pub content: Vec<TextPart>,
    /// `user` / `assistant` (`null` when the line has none).
    pub role: Option<Value>,
    /// The run that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Value>,
    /// Who sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Value>,
    /// The channel message it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<Value>,
    /// Time (`null` when the line has none).
    pub timestamp: Option<Value>,
}

/// `__openclaw` of a shown message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageMeta {
    /// The transcript message id.
    pub id: String,
}

/// A transcript line's role and text when it is a message the history shows (what
/// `chat.history`, `sessions_history` and the transcript searches read): a `message` line,
/// but not an assistant's silent `NO_REPLY`, nor a heartbeat's prompt or its OK-only
/// acknowledgement (they stay in the transcript but are not shown, as in OpenClaw's
/// WebChat; an alert the heartbeat raised is).
pub(crate) fn shown_message(line: &Value) -> Option<(Option<&Value>, &str)> {
    if line.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let text = line.get("content").and_then(Value::as_str).unwrap_or("");
    let role = line.get("role");
    let assistant = role.and_then(Value::as_str) == Some("assistant");
    if assistant && crate::agent_run::is_silent(text) {
        return None;
    }
    let beat = line
        .get("runId")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("heartbeat:"));
    if beat
        && (!assistant
            || crate::cron::heartbeat::is_ack(text, crate::cron::heartbeat::DEFAULT_ACK_MAX_CHARS))
    {
        return None;
    }
    Some((role, text))
}

impl HistoryMessage {
    /// The message of a transcript line, if it is a `message` line, its text cut to
    /// `max_chars` UTF-16 units; `None` also for an assistant line that is only the silent
    /// token `NO_REPLY` (never shown, as in OpenClaw), and for a heartbeat's prompt and its
    /// `HEARTBEAT_OK`.
    /// Also answers its size as JSON (measured once, for the answer's byte budget).
    fn of(line: &Value, max_chars: usize) -> Option<(Self, usize)> {
        let (role, text) = shown_message(line)?;
        let mut m = Self {
            content: vec![TextPart {
                text: history_limits::cut(text, max_chars),
                kind: "text",
            }],
            role: role.cloned(),
            run_id: line.get("runId").cloned(),
            sender: line.get("sender").cloned(),
            source_id: line.get("sourceId").cloned(),
            timestamp: line.get("ts").cloned(),
            meta: line
                .get("id")
                .and_then(Value::as_str)
                .map(|id| MessageMeta { id: id.to_owned() }),
        };
        let mut len = m.json_len();
        if len > history_limits::MAX_MESSAGE_BYTES {
            m.content = vec![TextPart {
                text: history_limits::OVERSIZED.to_owned(),
                kind: "text",
            }];
            len = m.json_len();
            if len > history_limits::MAX_MESSAGE_BYTES {
                m.sender = None;
                m.source_id = None;
                m.run_id = None;
                len = m.json_len();
            }
        }
        Some((m, len))
    }

    /// The message of a transcript line as `chat.history` shows it by default (text cut to
    /// 8 000 UTF-16 units), if it is shown.
    pub(crate) fn shown(line: &Value) -> Option<Self> {
        Self::of(line, history_limits::DEFAULT_CHARS).map(|(m, _)| m)
    }

    /// Its size as JSON.
    fn json_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }
}

/// `chat.history`'s bounds (OpenClaw's): messages, characters per message, bytes per
/// message and per answer.
pub mod history_limits {
    /// Messages by default.
    pub const DEFAULT_ENTRIES: u64 = 200;
    /// Most messages.
    pub const MAX_ENTRIES: u64 = 1000;
    /// A message's text by default (UTF-16 units).
    pub const DEFAULT_CHARS: usize = 8000;
    /// Most `maxChars`.
    pub const MAX_CHARS: u64 = 500_000;
    /// A message larger than this (as JSON) is replaced by [`OVERSIZED`].
    pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
    /// The messages of one answer (as JSON), and `maxBytes`'s ceiling.
    pub const MAX_BYTES: usize = 6 * 1024 * 1024;
    /// How much of the transcript's end one answer reads.
    pub const READ_BYTES: u64 = 16 * 1024 * 1024;
    /// What replaces a message too large to show.
    pub const OVERSIZED: &str = "[chat.history omitted: message too large]";
    /// What follows a cut text.
    pub const CUT: &str = "\n...(truncated)...";

    /// `text` cut to `max` UTF-16 units (never inside a character), marked when cut.
    pub fn cut(text: &str, max: usize) -> String {
        if text.len() <= max {
            // At most one UTF-16 unit per byte: it fits.
            return text.to_owned();
        }
        let mut units = 0usize;
        for (i, ch) in text.char_indices() {
            units += ch.len_utf16();
            if units > max {
                return format!("{}{CUT}", &text[..i]);
            }
        }
        text.to_owned()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cut_counts_utf16_units_and_never_splits_a_character() {
            assert_eq!(cut("abc", 3), "abc");
            assert_eq!(cut("abcd", 3), format!("abc{CUT}"));
            // 🙂 is two UTF-16 units: three of them are 6; a cut at 5 keeps two.
            assert_eq!(cut("🙂🙂🙂", 6), "🙂🙂🙂");
            assert_eq!(cut("🙂🙂🙂", 5), format!("🙂🙂{CUT}"));
            // é is two bytes but one unit: the byte length alone does not decide.
            assert_eq!(cut("éé", 2), "éé");
        }

        #[test]
        fn hidden_rows_silent_answers_and_heartbeat_acknowledgements() {
            use super::super::HistoryMessage;
            use serde_json::json;
            let line = |role: &str, text: &str, run: &str| json!({"type": "message", "role": role, "content": text, "runId": run, "ts": 1});
            let shown = |l: serde_json::Value| HistoryMessage::of(&l, 8000).is_some();
            assert!(shown(line("user", "hi", "r1")));
            assert!(!shown(line("assistant", " no_reply ", "r1")));
            assert!(
                shown(line("user", "NO_REPLY", "r1")),
                "only the agent's is silent"
            );
            assert!(!shown(line(
                "user",
                "Read HEARTBEAT.md …",
                "heartbeat:main:5"
            )));
            assert!(!shown(line(
                "assistant",
                "HEARTBEAT_OK",
                "heartbeat:main:5"
            )));
            assert!(shown(line(
                "assistant",
                "The backup failed last night.",
                "heartbeat:main:5"
            )));
            assert!(!shown(json!({"type": "compaction", "summary": "x"})));
        }
    }
}

/// What `chat.history` answers. Fields in the order of the wire object's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The default agent's model and window (OpenClaw's `defaults`, which the TUI's footer
    /// reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defaults: Option<SessionDefaults>,
    /// Always `false`: the last messages are returned (up to `limit`, within the byte
    /// bounds), and there are no pages before them.
    pub has_more: bool,
    /// Oldest first.
    pub messages: Vec<HistoryMessage>,
    /// Transcript id (`null` for an unknown session).
    pub session_id: Option<String>,
    /// Session.
    pub session_key: String,
}

/// Why `chat.history` failed; [`HistoryError::to_shape`] gives the wire error.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The transcript could not be read.
    #[error("cannot read transcript: {0}")]
    Transcript(#[from] crate::store::StoreError),
    /// The store actor is gone.
    #[error("store unavailable")]
    StoreGone,
}

impl HistoryError {
    /// The wire error (`UNAVAILABLE`).
    pub fn to_shape(&self) -> ErrorShape {
        ErrorShape::unavailable(self.to_string())
    }
}

/// `chat.history`.
#[derive(Message)]
#[rtype(result = "Result<History, HistoryError>")]
pub struct ChatHistory {
    /// Session.
    pub session_key: String,
    /// Last this many messages.
    pub limit: usize,
    /// A message's text is cut beyond this many UTF-16 units.
    pub max_chars: usize,
    /// The messages' JSON stays under this many bytes (the oldest are left out).
    pub max_bytes: usize,
}

/// `chat.message.get {sessionKey, messageId, maxChars?}`: one message of the session's
/// transcript by its id (`__openclaw.id`), found among the transcript's last
/// [`history_limits::READ_BYTES`]: `{ok: true, message}` (as `chat.history` shows it) or
/// `{ok: false, unavailableReason: "not_found"}` (no such message, one not shown, or one
/// written before messages had ids).
#[derive(Message)]
#[rtype(result = "Result<Value, HistoryError>")]
pub struct ChatMessageGet {
    /// Session.
    pub session_key: String,
    /// The message id.
    pub message_id: String,
    /// Its text is cut beyond this many UTF-16 units.
    pub max_chars: usize,
}

impl Handler<ChatMessageGet> for Registry {
    type Result = ResponseFuture<Result<Value, HistoryError>>;

    fn handle(&mut self, msg: ChatMessageGet, _: &mut Self::Context) -> Self::Result {
        let not_found = serde_json::json!({"ok": false, "unavailableReason": "not_found"});
        let Some(meta) = self.sessions_index.get(&msg.session_key) else {
            return Box::pin(async move { Ok(not_found) });
        };
        let fut = self.store.send(LoadLines {
            name: transcript_name(&msg.session_key, &meta.session_id),
            limit: usize::MAX,
            max_bytes: history_limits::READ_BYTES,
        });
        Box::pin(async move {
            let lines = fut.await.map_err(|_| HistoryError::StoreGone)??;
            let found = lines
                .iter()
                .rev()
                .find(|l| l.get("id").and_then(Value::as_str) == Some(msg.message_id.as_str()))
                .and_then(|l| HistoryMessage::of(l, msg.max_chars));
            Ok(match found {
                Some((message, _)) => serde_json::json!({"ok": true, "message": message}),
                None => not_found,
            })
        })
    }
}

impl Handler<ChatHistory> for Registry {
    type Result = ResponseActFuture<Self, Result<History, HistoryError>>;

    fn handle(&mut self, msg: ChatHistory, _: &mut Self::Context) -> Self::Result {
        let key = msg.session_key;
        let defaults = Some(self.session_defaults());
        let Some(meta) = self.sessions_index.get(&key) else {
            return Box::pin(actix::fut::ready(Ok(History {
                has_more: false,
                messages: Vec::new(),
                session_id: None,
                session_key: key,
                defaults,
            })));
        };
        let session_id = meta.session_id.clone();
        // Other lines (compactions, usage notes) and hidden messages are few: a margin of
        // lines covers them.
        let fut = self.store.send(LoadLines {
            name: transcript_name(&key, &session_id),
            limit: msg.limit.saturating_add(64),
            max_bytes: history_limits::READ_BYTES,
        });
        let (limit, max_chars, max_bytes) = (msg.limit, msg.max_chars, msg.max_bytes);
        Box::pin(
            async move {
                let lines = fut.await.map_err(|_| HistoryError::StoreGone)??;
                let mut sized: Vec<(HistoryMessage, usize)> = lines
                    .iter()
                    .filter_map(|l| HistoryMessage::of(l, max_chars))
                    .collect();
                let extra = sized.len().saturating_sub(limit);
                sized.drain(..extra);
                // Newest first into the byte budget: `[`, `]` and the commas.
                let mut used = 2usize;
                let mut keep = 0usize;
                for (_, len) in sized.iter().rev() {
                    let n = len.saturating_add(1);
                    if used.saturating_add(n) > max_bytes {
                        break;
                    }
                    used += n;
                    keep += 1;
                }
                let left_out = sized.len() - keep;
                if left_out > 0 {
                    let wanted: usize = sized.iter().map(|(_, len)| len.saturating_add(1)).sum();
                    crate::stability::record(
                        crate::stability::Record::of("payload.large")
                            .surface("gateway.chat.history")
                            .action("truncated")
                            .bytes(wanted.saturating_add(2) as u64)
                            .limit_bytes(max_bytes as u64)
                            .count(left_out as u64)
                            .reason("chat_history_budget"),
                    );
                }
                let messages = sized.split_off(left_out);
                let messages = messages.into_iter().map(|(m, _)| m).collect();
                Ok(History {
                    has_more: false,
                    messages,
                    session_id: Some(session_id),
                    session_key: key,
                    defaults,
                })
            }
            .into_actor(self),
        )
    }
}

/// Sent by the shell before exiting: writes pending state and waits until the store has
/// finished every write queued before it, and until every channel account has saved its
/// own state ([`crate::channel::FlushChannel`]: the replies being delivered settled first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushState;

impl Handler<FlushState> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: FlushState, _: &mut Self::Context) -> Self::Result {
        if self.sessions_save_scheduled {
            self.sessions_save_scheduled = false;
            self.save_sessions_now();
        }
        // The store handles messages in order: answering this read means earlier writes
        // are done.
        let barrier = self.store.send(crate::store::LoadDocument {
            name: SESSIONS_INDEX.to_owned(),
        });
        let channels: Vec<_> = self
            .channels
            .values()
            .filter_map(|h| h.recipients.flush.as_ref())
            .map(|r| r.send(crate::channel::FlushChannel))
            .collect();
        Box::pin(async move {
            let _ = barrier.await;
            futures_util::future::join_all(channels).await;
        })
    }
}

pub(crate) type SessionsIndex = super::sessions::SessionIndex;

/// `text` after the system events waiting for its session, one `System: <event>` line
/// each, then a blank line.
fn with_events(events: Vec<String>, text: &str) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str("System: ");
        out.push_str(&e);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(text);
    out
}

/// Where an answer goes when no target is named: the chat of `own` (a session bound to a
/// chat) when it has one, else the chat the user wrote from last; of `channel` only when
/// given. `None`: no chat has written yet.
pub(crate) async fn own_or_last_chat(
    registry: &Addr<Registry>,
    channel: Option<String>,
    own: Option<String>,
) -> Option<(String, String)> {
    if let Some(key) = own {
        let found = registry
            .send(LastChatRoute {
                channel: channel.clone(),
                session_key: Some(key),
            })
            .await
            .ok()
            .flatten();
        if found.is_some() {
            return found;
        }
    }
    registry
        .send(LastChatRoute {
            channel,
            session_key: None,
        })
        .await
        .ok()
        .flatten()
}

/// The chat the user wrote from last (OpenClaw's delivery target `last`): the channel id and
/// the chat id of the most recently active channel session, of `channel` only when given,
/// of `session_key` only when given. `None` when no such chat has written yet.
#[derive(Message)]
#[rtype(result = "Option<(String, String)>")]
pub struct LastChatRoute {
    /// Only sessions of this channel.
    pub channel: Option<String>,
    /// Only this session.
    pub session_key: Option<String>,
}

impl Handler<LastChatRoute> for Registry {
    type Result = Option<(String, String)>;

    fn handle(&mut self, msg: LastChatRoute, _: &mut Self::Context) -> Self::Result {
        self.sessions_index
            .by_recency()
            .into_iter()
            .find_map(|(key, m)| {
                if msg.session_key.as_ref().is_some_and(|k| k != key) {
                    return None;
                }
                let channel = m.channel.as_deref()?;
                let chat = m.chat_id?;
                msg.channel
                    .as_deref()
                    .is_none_or(|c| c.eq_ignore_ascii_case(channel))
                    .then(|| (channel.to_owned(), chat.to_string()))
            })
    }
}

/// Sent by the cron service for a due job: a run in `session_key` with the job's text,
/// under the tool policy of the job's creator. Not read as a chat command.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SubmitCronRun {
    /// Run id (`cron:<jobId>:<startedAtMs>`).
    pub run_id: String,
    /// Session.
    pub session_key: String,
    /// The job's message.
    pub text: String,
    /// Shown as the sender in the transcript (`cron:<job name>`).
    pub label: String,
    /// The creator's policy identity (`None`: an operator).
    pub policy_sender: Option<String>,
    /// Run without the session's earlier lines.
    pub fresh: bool,
    /// This run's model (`heartbeat.model`, a job's `payload.model`); one that is not
    /// configured gives way to the session's, with a warning, or with `strict_model` fails
    /// the submission.
    pub model: Option<String>,
    /// See `model`.
    pub strict_model: bool,
    /// This run's thinking level.
    pub thinking: Option<crate::ports::Thinking>,
    /// Also take the system events waiting for this session (an isolated heartbeat sees
    /// its conversation's events).
    pub events_of: Option<String>,
    /// `lightContext`: no workspace bootstrap files in the run's prompt.
    pub light: bool,
    /// The job was made from a shared chat (see [`RunOrigin::Cron`]).
    pub shared: bool,
}

impl Handler<SubmitCronRun> for Registry {
    type Result = Result<(), String>;

    fn handle(&mut self, mut msg: SubmitCronRun, ctx: &mut Self::Context) -> Self::Result {
        if self.runs.record(&msg.run_id).is_some() {
            return Ok(());
        }
        if let Some(events) = msg
            .events_of
            .as_deref()
            .and_then(|k| self.pending_events.remove(k))
        {
            msg.text = with_events(events, &msg.text);
        }
        let model = match msg.model {
            Some(r) => match self.model.pick(&r) {
                Ok(_) => Some(r),
                Err(e) if msg.strict_model => {
                    return Err(format!("the job's model {r} is not available: {e}"));
                }
                Err(e) => {
                    log::warn!(
                        "{}: its model {r} is not available ({e}); the session's answers",
                        msg.label
                    );
                    None
                }
            },
            None => None,
        };
        let req = RunRequest {
            run_id: msg.run_id,
            session_key: msg.session_key,
            text: msg.text,
            origin: RunOrigin::Cron {
                sender: msg.policy_sender,
                fresh: msg.fresh,
                light: msg.light,
                shared: msg.shared,
            },
            sender: Some(msg.label),
            uploads: Vec::new(),
            compact: None,
            thinking: msg.thinking,
            delivery: None,
            model,
            queue: Queueing::Default,
        };
        self.submit(req, ctx).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// System events one session holds at most; more are refused.
pub const MAX_EVENTS_PER_SESSION: usize = 20;
/// Sessions holding system events at most.
pub const MAX_SESSIONS_WITH_EVENTS: usize = 256;

/// `wake` with `next-heartbeat`: a system event the next run of `session_key` sees first
/// (as a `System: <text>` line before its message). Kept in memory, as OpenClaw's queue.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct EnqueueSystemEvent {
    /// Session.
    pub session_key: String,
    /// The event.
    pub text: String,
}

impl Handler<EnqueueSystemEvent> for Registry {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: EnqueueSystemEvent, _: &mut Self::Context) -> Self::Result {
        if !self.pending_events.contains_key(&msg.session_key)
            && self.pending_events.len() >= MAX_SESSIONS_WITH_EVENTS
        {
            return Err(format!(
                "{MAX_SESSIONS_WITH_EVENTS} sessions already hold system events; wake one with mode \"now\""
            ));
        }
        let queue = self.pending_events.entry(msg.session_key).or_default();
        if queue.len() >= MAX_EVENTS_PER_SESSION {
            return Err(format!(
                "this session already holds {MAX_EVENTS_PER_SESSION} system events; wake it with mode \"now\""
            ));
        }
        queue.push(msg.text);
        Ok(())
    }
}

/// Sent by the cron service whenever its jobs change: per `sessionTarget`, how many jobs
/// and the next run among them (what `/status` shows a chat).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ScheduledSummary(pub HashMap<String, (usize, Option<u64>)>);

impl Handler<ScheduledSummary> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ScheduledSummary, _: &mut Self::Context) {
        self.scheduled = msg.0;
    }
}
