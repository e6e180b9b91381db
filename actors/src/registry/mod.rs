//! # `Registry` — the gateway's one owner of cross-connection state
//!
//! Runs on the system arbiter. A [`WsSession`] registers with it once it needs to: with
//! [`SessionOpened`] before its first request on the slow hello path (devices, nodes,
//! presence-listed clients), then [`SessionAuthenticated`]; and on close
//! ([`SessionClosed`]). Until then the session is only in the engine's shared
//! [`Untracked`](crate::ws_session::Untracked) set, so a socket that never authenticates
//! never wakes this actor, and neither does the short-lived deviceless operator the hello
//! fast path admits (the CLI's one-call connections): it stays in that set, where this
//! actor's broadcasts, `status` counts, secret rotation and shutdown reach it. (The sessions
//! also take and give back their per-IP pre-auth slots themselves, in `Shared::preauth`.)
//! It owns presence and decides with the failed-auth limiter (which it shares with the
//! sessions, see [`hello_view`]), and it fans broadcasts out to sessions with `try_send` (a
//! slow session's full mailbox drops the event instead of growing our memory).
//!
//! It also owns pairing (devices, device tokens, node command surfaces — persisted through
//! the [`StoreActor`]) and the map of connected nodes, and routes `node.invoke` calls to
//! their [`NodeSession`](crate::node_session::NodeSession) actors (see [`nodes`], with
//! connect-time device pairing in [`devices`] and the pairing operations in [`pairing_ops`]).
//! Agent runs are scheduled by the plain [`scheduler::RunScheduler`] it owns, driven from
//! [`runs`]. Its other state is in plain structs too: the connection table
//! ([`presence::Presence`]), the node directory ([`directory::NodeDirectory`]) and the
//! session index ([`sessions::SessionIndex`]). Channel accounts are held as
//! [`ChannelHandle`](crate::channel::ChannelHandle)s and reached through them (see [`channels`]).
//!
//! Messages: [`SessionOpened`],
//! [`SessionAuthenticated`], [`SessionClosed`], [`AuthAttempt`], [`CheckLockout`], [`GetPresence`],
//! [`GetStats`], [`ShutdownGateway`]; in [`devices`]: `DeviceConnect`; in [`nodes`]:
//! `AttachNode`, `LookupNode`, `KeepOutcomes`, `InvokeNodeCommand`, `NodeHostStats`,
//! `ListNodes`, `DescribeNode`; in [`node_events`]: `GetVoiceWake`, `SetVoiceWake`,
//! `NodeSubscribe`, `SubmitNodeRun`; in [`pairing_ops`]: `PairingRequest`; in [`runs`] and
//! [`channels`]: see there.
//! Config reload ([`reload`]): `ApplyHotConfig` (swap the hot settings, close sessions of a
//! replaced shared secret), `RestartNotice` (tell clients about an in-process restart).

pub mod approvals;
pub mod artifacts;
pub mod beacons;
pub mod channels;
pub mod chat_commands;
pub mod devices;
pub mod directory;
pub mod exec_wake;
pub mod follows;
pub mod hello_view;
pub mod maintenance;
pub mod node_events;
pub mod nodes;
pub mod pairing_ops;
pub mod pending_work;
pub mod presence;
pub mod previews;
pub mod reload;
pub mod restart;
pub mod runs;
pub mod scheduler;
pub mod session_abort;
pub mod session_events;
pub mod session_reset;
pub mod session_tools;
pub mod sessions;
pub mod speak;
pub mod subagents;
pub mod tails;
pub mod tasks;
pub mod tool_inventory;
pub mod tool_invoke;
pub mod usage_targets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::LimiterKey;
use crate::engine::Shared;
use crate::pairing::PairingBook;
use crate::protocol::close;
use crate::protocol::frame::StateVersion;
use crate::protocol::role::Role;
use crate::protocol::scopes::{self, EventGuard};
use crate::store::StoreActor;
use crate::ws_session::{CloseSession, SendEvent, WsSession};

/// The registry actor.
pub struct Registry {
    /// Process-wide facts.
    shared: Arc<Shared>,
    /// Every open socket by connection id, and who it authenticated as.
    sessions: presence::Presence<Addr<WsSession>>,
    /// Presence / health version counters.
    version: StateVersion,
    /// Set once shutdown started: new upgrades are refused.
    shutting_down: bool,
    /// A coalesced presence broadcast is pending.
    presence_scheduled: bool,
    /// The state-dir writer.
    store: Addr<StoreActor>,
    /// Pairing state (persisted on every change).
    book: PairingBook,
    /// Saves of `book` started so far (see `save_book_or_undo`).
    book_saves: u64,
    /// Connected nodes, when nodes were last seen, and outcomes kept across a reconnect.
    nodes: directory::NodeDirectory<nodes::NodeEntry>,
    /// Foreground actions and work items waiting for nodes (`node.pending.*`).
    pending_work: pending_work::PendingWork,
    /// The agent model (or the embedded command agent).
    model: std::rc::Rc<dyn crate::ports::ChatModel>,
    /// Voice transcription (`tools.media.audio`), when configured.
    hearing: Option<std::rc::Rc<crate::hearing::Hearing>>,
    /// Tells the channels whether to fetch audio (on while `hearing` is set).
    audio_in: crate::hearing::AudioIn,
    /// Spoken answers (`tts`), when configured.
    speech: Option<std::rc::Rc<crate::speech::Speech>>,
    /// Talk playback (`talk.speak`) and the providers `tts.status` lists.
    voices: crate::speech::Voices,
    /// `tts.enable` / `tts.disable`'s choice (`settings/tts.json`), over `tts.auto`.
    tts_pref: Option<crate::speech::AutoSpeech>,
    /// The bound on syntheses for clients (each one costs the owner money).
    synth_gate: speak::SynthGate,
    /// Runs `exec` commands on the gateway host (none: only nodes can run them).
    exec_host: Option<std::rc::Rc<dyn crate::ports::CommandHost>>,
    /// Exec approvals waiting for a human.
    approvals: approvals::ExecApprovals,
    /// `web_fetch`'s HTTP side and cache (none: not offered).
    web: Option<std::rc::Rc<crate::web_fetch::WebFetch>>,
    /// `web_search`'s HTTP side and cache (none: not offered).
    search: Option<std::rc::Rc<crate::web_search::WebSearch>>,
    /// Background `exec` commands of the gateway host.
    processes: std::rc::Rc<crate::exec_process::ProcessTable>,
    /// Channel accounts by (kind, account id).
    channels: std::collections::BTreeMap<(&'static str, String), crate::channel::ChannelHandle>,
    /// Session index (persisted).
    sessions_index: runs::SessionsIndex,
    /// The agents whose index file was read (at start, or when a reload added them): only
    /// these files are written and maintained, so an agent added by a reload never has its
    /// earlier sessions overwritten before they were read (`runs::LoadAgentIndex`).
    indexed_agents: std::collections::HashSet<String>,
    /// Recent `send` results by idempotency key.
    send_dedupe: HashMap<String, (Instant, channels::SendReceipt)>,
    /// A debounced session-index save is pending.
    sessions_save_scheduled: bool,
    /// The run scheduler: one run at a time per session, run records.
    runs: scheduler::RunScheduler<Addr<crate::agent_run::AgentRun>>,
    /// Sessions that authenticated with a device token, by connection id (see
    /// `nodes::TokenSession`): closed when that token is revoked or replaced.
    token_sessions: HashMap<String, nodes::TokenSession>,
    /// Transcript tails of idle sessions (see `tails`).
    tails: tails::TailCache,
    /// Memory flushes running after a reply, by session: `(run id, its stop)`. The
    /// session's next message (or an abort) stops it (`runs::FlushStarted`).
    flushing: HashMap<String, (String, futures_util::future::AbortHandle)>,
    /// Per session with a run that takes steered messages: set while messages wait behind
    /// it (the run asks for them only then).
    steer_waiting: HashMap<String, std::rc::Rc<std::cell::Cell<bool>>>,
    /// The timer of each session whose next run waits out its quiet window
    /// (`messages.queue` debounce): one per session, replaced when the window moves.
    drain_timers: HashMap<String, actix::SpawnHandle>,
    /// Connections that asked for `sessions.changed` (`sessions.subscribe`).
    session_subscribers: session_events::SessionSubscribers,
    /// System events waiting for the next run of a session (`wake` with
    /// `next-heartbeat`), in memory, bounded (see `runs::EnqueueSystemEvent`).
    pending_events: HashMap<String, Vec<String>>,
    /// Sub-agents (`sessions_spawn`): running, waiting and recently finished.
    children: subagents::Children,
    /// When background commands' ends wake their sessions (`exec_wake`).
    exec_wakes: exec_wake::ExecWakes,
    /// Scheduled jobs by `sessionTarget` (count, next run), as the cron service last
    /// published them (`/status` shows a chat's own).
    scheduled: HashMap<String, (usize, Option<u64>)>,
    /// Runs whose `chat` events also go to a listener outside the sockets (the
    /// OpenAI-compatible HTTP endpoint's streams), by run id; see `runs::TapRun`.
    run_taps: HashMap<String, tokio::sync::mpsc::Sender<Value>>,
    /// Connections that follow one session's messages (`sessions.messages.subscribe`).
    message_subscribers: session_events::MessageSubscribers,
    /// The wake words and their routing (`voicewake.*`, see [`node_events`]).
    voicewake: crate::voicewake::VoiceWake,
    /// Which nodes follow which sessions (`node.event chat.subscribe`).
    node_subs: node_events::NodeSubscriptions,
    /// The last voice transcript of each session (repeats start nothing).
    voice_transcripts: node_events::RecentTranscripts,
}

impl Registry {
    /// A registry for this engine.
    pub fn new(
        shared: Arc<Shared>,
        store: Addr<StoreActor>,
        book: PairingBook,
        model: std::rc::Rc<dyn crate::ports::ChatModel>,
        sessions_index: runs::SessionsIndex,
    ) -> Self {
        // The index files the engine read at start (`engine.rs`): main's and each
        // configured agent's.
        let indexed_agents = std::iter::once(crate::agents::MAIN.to_owned())
            .chain(
                shared
                    .config
                    .agents
                    .iter()
                    .flat_map(|r| r.agents())
                    .map(|a| a.id.clone()),
            )
            .collect();
        Self {
            shared,
            sessions: presence::Presence::default(),
            version: StateVersion::default(),
            shutting_down: false,
            presence_scheduled: false,
            run_taps: HashMap::new(),
            voicewake: crate::voicewake::VoiceWake::default(),
            message_subscribers: session_events::MessageSubscribers::default(),
            node_subs: node_events::node_subscriptions(),
            voice_transcripts: node_events::RecentTranscripts::default(),
            store,
            book,
            book_saves: 0,
            nodes: directory::NodeDirectory::default(),
            pending_work: pending_work::PendingWork::default(),
            model,
            hearing: None,
            audio_in: crate::hearing::AudioIn::default(),
            speech: None,
            voices: crate::speech::Voices::default(),
            tts_pref: None,
            synth_gate: speak::SynthGate::default(),
            exec_host: None,
            approvals: approvals::ExecApprovals::default(),
            web: None,
            search: None,
            processes: std::rc::Rc::default(),
            channels: std::collections::BTreeMap::new(),
            indexed_agents,
            sessions_index,
            sessions_save_scheduled: false,
            send_dedupe: HashMap::new(),
            runs: scheduler::RunScheduler::default(),
            token_sessions: HashMap::new(),
            tails: tails::TailCache::default(),
            flushing: HashMap::new(),
            steer_waiting: HashMap::new(),
            drain_timers: HashMap::new(),
            session_subscribers: session_events::SessionSubscribers::default(),
            pending_events: HashMap::new(),
            children: subagents::Children::default(),
            exec_wakes: exec_wake::ExecWakes::default(),
            scheduled: HashMap::new(),
        }
    }

    /// Transcribes voice notes with `hearing`; `audio_in` is the switch the channels read.
    pub fn with_hearing(
        mut self,
        hearing: Option<std::rc::Rc<crate::hearing::Hearing>>,
        audio_in: crate::hearing::AudioIn,
    ) -> Self {
        audio_in.set(hearing.is_some());
        self.hearing = hearing;
        self.audio_in = audio_in;
        self
    }

    /// Fetches `web_fetch` pages and asks `web_search` providers with `fetcher`.
    pub fn with_web_fetcher(
        mut self,
        fetcher: Option<std::rc::Rc<dyn crate::ports::WebFetcher>>,
    ) -> Self {
        self.search = fetcher
            .clone()
            .map(|f| std::rc::Rc::new(crate::web_search::WebSearch::new(f)));
        self.web = fetcher.map(|f| std::rc::Rc::new(crate::web_fetch::WebFetch::new(f)));
        self
    }

    /// Runs the agent's gateway-host `exec` commands with `host`.
    pub fn with_exec_host(
        mut self,
        host: Option<std::rc::Rc<dyn crate::ports::CommandHost>>,
    ) -> Self {
        self.exec_host = host;
        self
    }

    /// Starts with these wake words and routing (read from the state directory).
    pub fn with_voicewake(mut self, voicewake: crate::voicewake::VoiceWake) -> Self {
        self.voicewake = voicewake;
        self
    }

    /// Speaks chat answers and clients' texts as `voices` says.
    pub fn with_voices(
        mut self,
        voices: crate::speech::Voices,
        pref: Option<crate::speech::AutoSpeech>,
    ) -> Self {
        self.tts_pref = pref;
        self.set_voices(voices);
        self
    }

    /// Swaps the voices in (the preferences file's `tts.auto` over the config's).
    fn set_voices(&mut self, voices: crate::speech::Voices) {
        self.speech = crate::speech::with_pref(voices.speech.clone(), self.tts_pref);
        self.voices = voices;
    }

    fn presence_list(&self) -> Vec<Arc<presence::PresenceEntry>> {
        self.sessions.list(self.shared.self_presence())
    }

    /// The limiter's verdict on an attempt by `key` (locked-out keys are refused even with
    /// the right credential).
    /// (The limiter is shared with the sessions, see [`hello_view`].)
    fn auth_verdict(&mut self, key: &LimiterKey, matched: bool) -> AuthVerdict {
        self.shared.hello_view.auth_verdict(key, matched)
    }

    /// Sends `event` to every authenticated session its guard admits, except `skip`.
    fn broadcast(&self, event: &str, payload: &Value, with_version: bool, skip: Option<&str>) {
        let guard = scopes::event_guard(event);
        if guard == EventGuard::Nobody {
            return;
        }
        if event == "chat"
            && !self.run_taps.is_empty()
            && let Some(tap) = payload["runId"].as_str().and_then(|r| self.run_taps.get(r))
        {
            // A listener that does not keep up misses deltas (each carries the text so
            // far), never the run's end: that is read from the run's record.
            let _ = tap.try_send(payload.clone());
        }
        let followed = if self.node_subs.is_empty() {
            None
        } else {
            payload.get("sessionKey").and_then(Value::as_str)
        };
        let payload: Arc<str> = Arc::from(payload.to_string());
        if let Some(key) = followed {
            self.send_to_followers(event, key, &payload);
        }
        let name: Arc<str> = Arc::from(event);
        let send = |addr: &Addr<WsSession>| {
            // A full mailbox means the session is not keeping up: drop, do not grow.
            let _ = addr.try_send(SendEvent {
                event: name.clone(),
                payload: payload.clone(),
                state_version: with_version.then_some(self.version),
            });
        };
        self.sessions.audience(event, skip).for_each(send);
        // The fast path's operators (never skipped: `skip` names a tracked session).
        self.shared.untracked.audience(guard).iter().for_each(send);
    }

    /// Presence changed: bump the version now, broadcast the list soon. Broadcasts are
    /// coalesced (one per window, 100 ms to 1 s growing with the sockets open, see
    /// `Presence::coalesce_window`) because each carries the list to every reader:
    /// per-change broadcasts are quadratic in messages when many clients connect at once.
    fn broadcast_presence(&mut self, ctx: &mut Context<Self>) {
        self.version.presence += 1;
        self.shared
            .hello_view
            .publish(self.sessions.entries(), self.version);
        if self.presence_scheduled {
            return;
        }
        self.presence_scheduled = true;
        let window = self.sessions.coalesce_window(self.shared.untracked.len());
        ctx.run_later(window, |act, _| {
            act.presence_scheduled = false;
            let payload = json!({ "presence": act.presence_list() });
            act.broadcast("presence", &payload, true, None);
        });
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Registry traffic is one message per connect/close; give bursts room.
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(Duration::from_secs(15), |act, ctx| {
            act.expire_pending();
            // A beacon row that was not heard again for its 5 minutes leaves the list (and
            // the hello snapshot) now, not at the next change.
            if act.sessions.prune_beacons(Instant::now()) > 0 {
                act.broadcast_presence(ctx);
            }
        });
        // The resident size in the stability ring: once now, then every few minutes.
        crate::stability::sample_memory();
        ctx.run_interval(crate::stability::MEMORY_SAMPLE_EVERY, |_, _| {
            crate::stability::sample_memory()
        });
        // Session maintenance (`session.maintenance`): every half hour.
        Self::schedule_maintenance(ctx);
        // Sub-agents the last process left running: their requesters are told.
        self.recover_children(ctx);
    }
}

// === messages ===

/// What the registry needs to start tracking a session.
pub struct Opening {
    /// The session.
    pub addr: Addr<WsSession>,
    /// Its entry in the shared [`Untracked`](crate::ws_session::Untracked) set, which the
    /// registry removes as it takes over.
    pub ticket: Option<u64>,
}

/// Sent by a `WsSession` before its first request about its own connection on the slow
/// hello path (the fast path never sends it: see [`Untracked`](crate::ws_session::Untracked)).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionOpened {
    /// Connection id.
    pub conn_id: String,
    /// The session.
    pub open: Opening,
}

impl Handler<SessionOpened> for Registry {
    type Result = ();

    fn handle(&mut self, msg: SessionOpened, _: &mut Self::Context) {
        self.open_session(msg.conn_id, msg.open);
    }
}

impl Registry {
    /// Starts tracking a session (closing it at once if the gateway is shutting down).
    fn open_session(&mut self, conn_id: String, open: Opening) {
        if let Some(t) = open.ticket {
            self.shared.untracked.leave(t);
        }
        if self.shutting_down {
            open.addr.do_send(CloseSession {
                code: close::SERVICE_RESTART,
                reason: "service restart".into(),
            });
        }
        self.sessions.open(conn_id, open.addr);
    }

    /// Closes the sessions it does not track (in their handshake, or fast-path operators;
    /// `closing`: and refuses new ones); returns how many.
    fn close_untracked(&mut self, closing: bool) -> usize {
        let untracked = if closing {
            self.shared.untracked.close()
        } else {
            self.shared.untracked.drain()
        };
        for addr in &untracked {
            addr.do_send(CloseSession {
                code: close::SERVICE_RESTART,
                reason: "service restart".into(),
            });
        }
        untracked.len()
    }
}

/// The registry's view at hello time: what goes in `hello-ok.snapshot`.
#[derive(Debug, Clone, Serialize)]
pub struct HelloSnapshot {
    /// Presence entries, the gateway's own first.
    pub presence: Vec<Arc<presence::PresenceEntry>>,
    /// Current version counters.
    pub state_version: StateVersion,
}

/// Sent by a `WsSession` on the slow hello path (after [`SessionOpened`]) once its handshake
/// succeeded: adds it to presence and broadcasts `presence` to the other operators. Replies
/// with the snapshot.
#[derive(Message)]
#[rtype(result = "Result<HelloSnapshot, Duration>")]
pub struct SessionAuthenticated {
    /// Connection id.
    pub conn_id: String,
    /// `operator` or `node`.
    pub role: Role,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The client's presence entry.
    pub presence: presence::PresenceEntry,
    /// The verified device id, if the client presented one.
    pub device_id: Option<String>,
    /// Set when the client's credential matched but its lockout was not checked yet (one
    /// registry round trip for the connect): the limiter bucket to check. `Err(retry)` when
    /// it is locked out.
    pub check_lockout: Option<LimiterKey>,
}

impl Handler<SessionAuthenticated> for Registry {
    type Result = Result<HelloSnapshot, Duration>;

    fn handle(&mut self, msg: SessionAuthenticated, ctx: &mut Self::Context) -> Self::Result {
        if let Some(key) = &msg.check_lockout {
            match self.auth_verdict(key, true) {
                AuthVerdict::Locked(retry) => return Err(retry),
                AuthVerdict::Allowed | AuthVerdict::Failed(_) => {}
            }
        }
        // The session gives its pre-auth slot back itself (at `hello-ok`, or when it ends).
        self.sessions.authenticate(
            &msg.conn_id,
            presence::Authed {
                role: msg.role,
                scopes: msg.scopes,
                presence: Arc::new(msg.presence),
                device_id: msg.device_id,
            },
        );
        if self.sessions.is_tracked(&msg.conn_id) {
            self.broadcast_presence(ctx);
        }
        Ok(HelloSnapshot {
            presence: self.presence_list(),
            state_version: self.version,
        })
    }
}

/// Sent by a `WsSession` from `stopping()`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionClosed {
    /// Connection id.
    pub conn_id: String,
}

impl Handler<SessionClosed> for Registry {
    type Result = ();

    fn handle(&mut self, msg: SessionClosed, ctx: &mut Self::Context) {
        self.detach_node(&msg.conn_id);
        self.session_subscribers.remove(&msg.conn_id);
        self.message_subscribers.remove(&msg.conn_id);
        if let Some(entry) = self.sessions.close(&msg.conn_id)
            && let Some(authed) = &entry.authed
            && authed.tracked()
        {
            self.broadcast_presence(ctx);
        }
    }
}

/// The limiter's verdict on one shared-secret attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Proceed.
    Allowed,
    /// The IP is locked out; retry after this long.
    Locked(Duration),
    /// The secret was wrong; answer after this delay.
    Failed(Duration),
}

/// Sent by a `WsSession` for every connect that presented a shared secret, with whether it
/// matched, and for a device token the pairing store refused (`matched: false`). Locked-out
/// keys are refused even with the right secret.
#[derive(Message)]
#[rtype(result = "AuthVerdict")]
pub struct AuthAttempt {
    /// The limiter bucket (client and credential scope).
    pub key: LimiterKey,
    /// Whether the credential matched.
    pub matched: bool,
}

impl Handler<AuthAttempt> for Registry {
    type Result = MessageResult<AuthAttempt>;

    fn handle(&mut self, msg: AuthAttempt, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.auth_verdict(&msg.key, msg.matched))
    }
}

/// Sent by a `WsSession` before it checks a device token: `Some(retry)` while the key is
/// locked out (the token is then not even looked at).
#[derive(Message)]
#[rtype(result = "Option<Duration>")]
pub struct CheckLockout {
    /// The limiter bucket.
    pub key: LimiterKey,
}

impl Handler<CheckLockout> for Registry {
    type Result = Option<Duration>;

    fn handle(&mut self, msg: CheckLockout, _: &mut Self::Context) -> Self::Result {
        self.shared.hello_view.locked(&msg.key)
    }
}

/// Asks for the current presence list (`system-presence`).
#[derive(Message)]
#[rtype(result = "Vec<Arc<presence::PresenceEntry>>")]
pub struct GetPresence;

impl Handler<GetPresence> for Registry {
    type Result = MessageResult<GetPresence>;

    fn handle(&mut self, _: GetPresence, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.presence_list())
    }
}

/// Connection counts for `status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Open sockets.
    pub connections: usize,
    /// Authenticated operators.
    pub operators: usize,
    /// Authenticated nodes.
    pub nodes: usize,
    /// Sockets still in their handshake.
    pub pending: usize,
    /// Agent sessions known.
    pub sessions: usize,
    /// Runs in progress.
    pub active_runs: usize,
    /// Runs waiting behind another run of their session.
    pub queued_runs: usize,
    /// Channel accounts running.
    pub channels: usize,
    /// Idle sessions whose transcript tail is cached (not on the wire).
    #[serde(skip)]
    pub transcript_tails: usize,
}

/// Asks for [`Stats`].
#[derive(Message)]
#[rtype(result = "Stats")]
pub struct GetStats;

impl Handler<GetStats> for Registry {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> Self::Result {
        let untracked = self.shared.untracked.counts();
        let mut s = Stats {
            connections: self.sessions.len() + untracked.handshaking + untracked.operators,
            sessions: self.sessions_index.len(),
            active_runs: self.runs.active_count(),
            queued_runs: self.runs.queued_count(),
            channels: self.channels.len(),
            transcript_tails: self.tails.len(),
            ..Default::default()
        };
        let counts = self.sessions.counts();
        s.operators = counts.operators + untracked.operators;
        s.nodes = counts.nodes;
        s.pending = counts.pending + untracked.handshaking;
        MessageResult(s)
    }
}

/// Sent by the shell on SIGTERM/SIGINT: broadcast `shutdown`, close every socket with 1012,
/// refuse new ones. Replies once every session has been told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ShutdownGateway {
    /// Reason put in the `shutdown` event.
    pub reason: String,
    /// `restartExpectedMs` in the event: the process comes back (a restart), clients
    /// reconnect after about this long.
    pub restart_expected_ms: Option<u64>,
}

impl Handler<ShutdownGateway> for Registry {
    type Result = usize;

    fn handle(&mut self, msg: ShutdownGateway, _: &mut Self::Context) -> usize {
        self.shutting_down = true;
        self.shared.preauth.close();
        if self.sessions_save_scheduled {
            self.save_sessions_now();
        }
        let payload = json!({"reason": msg.reason, "restartExpectedMs": msg.restart_expected_ms});
        self.broadcast("shutdown", &payload, false, None);
        for entry in self.sessions.conns() {
            // do_send: the close must not be dropped even if the mailbox is busy.
            entry.addr.do_send(CloseSession {
                code: close::SERVICE_RESTART,
                reason: "service restart".into(),
            });
        }
        self.sessions.len() + self.close_untracked(true)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
