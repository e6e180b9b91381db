//! # openclaw-actors — the engine of openclaw-rs
//!
//! Everything that speaks the OpenClaw Gateway protocol (v4) lives here, as actix actors.
//! The shell crate (`openclaw`, in `src/`) owns the binary, config loading, HTTP surface and
//! CLI; it hands this crate an already-resolved [`engine::EngineConfig`].
//!
//! ## Actor map
//!
//! | actor | file | handles |
//! | --- | --- | --- |
//! | [`registry::Registry`] | `registry/mod.rs`, `registry/devices.rs`, `registry/nodes.rs`, `registry/pairing_ops.rs`, `registry/runs.rs`, `registry/channels.rs`; the plain structs it owns: [`registry::presence::Presence`], [`registry::hello_view::HelloView`] (shared with the sessions: the auth limiter and the published presence), [`registry::directory::NodeDirectory`], [`registry::sessions::SessionIndex`], [`registry::scheduler::RunScheduler`] | sessions: `SessionOpened`, `SessionAuthenticated`, `SessionClosed`, `AuthAttempt`, `CheckLockout`, `GetPresence`, `GetStats`, `ShutdownGateway`; devices: `DeviceConnect`; nodes: `AttachNode`, `LookupNode`, `KeepOutcomes`, `NodeHostStats`, `InvokeNodeCommand`, `ListNodes`, `DescribeNode`; pairing: `PairingRequest`; agents: `InboundReceived`, `SubmitRun`, `RunFinished`, `AbortRun`, `WaitRun`, `Broadcast`, `ListSessions`, `ChatHistory`, `FlushState`; channels (`registry/channels.rs`): `RegisterChannel`, `SendOutbound`, `SendAction`, `RouteAction`, `ChannelsStatus`, `RouteWebhook`, `ChannelPairingList`, `ChannelPairingApprove`; the apps as nodes (`registry/node_events.rs`): `GetVoiceWake`, `SetVoiceWake`, `NodeSubscribe`, `SubmitNodeRun`; cron (`registry/runs.rs`): `SubmitCronRun`, `LastChatRoute`, `EnqueueSystemEvent`, `ScheduledSummary`; config reload (`registry/reload.rs`): `ApplyHotConfig`, `RestartNotice`; restarts (`registry/restart.rs`): `GetActiveWork`; session events and lifecycle (`registry/session_events.rs`, `registry/session_reset.rs`; chat commands from `InboundReceived` and `SubmitRun` in `registry/chat_commands.rs`): `SubscribeSessionEvents`, `DescribeSession`, `ResolveSession`, `ResetSession`, `CreateSession`, `DeleteSession`, `RenameSession`, `AnnounceSession` |
//! | [`ws_session::WsSession`] | `ws_session/mod.rs` (actor), `transport.rs` (frames, writer queue, ping, close), `handshake.rs` (`connect` → `hello-ok`), `peer.rs`, `untracked.rs` (the sockets the registry does not track), `methods/` (the method table) | the socket's inbound frames (stream), `SendEvent`, `SendTargeted`, `CloseSession` |
//! | [`node_session::NodeSession`] | `node_session/` (`mod.rs`, `reply.rs`, `dedupe.rs`) | `InvokeNode`, `InvokeResult`, `StopNode`, `PendingCount`, `UpdateCommands` |
//! | [`store::StoreActor`] | `store.rs` | `SaveDocument` (atomic, mode 0600), `LoadDocument`, `AppendLines`, `LoadLines`, `LoadContext` (a session's context, [`compaction`]), `RenameFile`, `PruneDir` (the media directory, [`media`]) |
//! | [`channel::telegram::TelegramChannel`] | `channel/telegram/` (`mod.rs`, `api.rs`, `intake.rs`, `addressing.rs`, `send.rs`, `fetch.rs`, `pairing.rs`, `webhook.rs`) | long-poll stream; the channel messages of [`channel`]: `DeliverReply`, `GetChannelStatus`, `ListChannelPairing`, `ApproveChannelPairing`, `WebhookDelivery`, `ReconfigureChannel` (config reload) |
//! | [`agent_run::AgentRun`] | `agent_run.rs` | drives one run from `started()`; `CancelRun` |
//! | [`cron::CronService`] | `cron/` (`mod.rs`, `job.rs`, `expr.rs`, `tool.rs`, `heartbeat.rs`) | `CronStatus`, `CronList`, `CronGet`, `CronAdd`, `CronUpdate`, `CronRemove`, `CronRun`, `CronRuns`, `CronWake`, `LastHeartbeat`, `SetHeartbeats`, `SetCronEnabled`, `SetHeartbeat`; the heartbeat timer (`heartbeat.rs`); sends `SubmitCronRun`, `WaitRun`, `SendOutbound`, `LastChatRoute` to the registry |
//!
//! Every WebSocket session is one `WsSession` actor running on the actix-web worker that
//! accepted the socket; the `Registry` runs on the system arbiter and is the only owner of
//! cross-connection state (presence, auth-failure counters, pairing, nodes, runs); the
//! per-IP count of unauthenticated sockets is a small mutex-guarded counter in
//! [`engine::Shared`] that the HTTP layer checks before the upgrade.
//!
//! Every RPC method is declared once, in the method table under `ws_session/methods/`
//! (name, role/scope, handler, grouped by area): `hello-ok.features.methods`
//! ([`ws_session::method_names`]) and the access check
//! ([`protocol::scopes::method_access`]) come from it.
//!
//! Messages between actors answer typed replies, not `serde_json::Value`: reply structs
//! (e.g. [`registry::nodes::NodeList`], [`registry::pairing_ops::PairingReply`],
//! [`registry::runs::WaitReply`], [`registry::runs::SessionList`],
//! [`registry::channels::ChannelsStatusReply`], [`channel::ChannelStatus`]) whose `Serialize`
//! writes the wire object (fields named and ordered as its keys), serialized once when the
//! frame is written. `Value` remains only for JSON a client or node supplied (host stats,
//! permissions, a command's result, transcript values, a channel's own status fields).
//!
//! Errors stay typed inside the engine — [`store::StoreError`],
//! [`node_session::InvokeError`], [`channel::ChannelError`], [`channel::WebhookError`],
//! [`registry::nodes::NodeError`], [`registry::pairing_ops::PairingError`],
//! [`registry::runs::HistoryError`], [`registry::channels::RouteError`] — and
//! become a wire [`protocol::error::ErrorShape`] or an HTTP status only where the answer is
//! written (the method handlers in `ws_session/methods/`, the HTTP handlers); the
//! `details.code` strings are the constants of [`protocol::codes`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod agent_run;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod channel;
pub mod compaction;
pub mod cron;
pub mod engine;
pub mod exec_process;
pub mod exec_tool;
pub mod hearing;
pub mod host_facts;
pub mod hot;
pub mod identity;
pub mod media;
pub mod media_source;
pub mod message_tool;
pub mod metrics;
pub mod node_session;
pub mod pairing;
pub mod ports;
pub mod protocol;
pub mod qr;
pub mod reclaim;
pub mod registry;
pub mod run_queue;
pub mod session_scope;
pub mod session_tools;
pub mod session_usage;
pub mod setup_code;
pub mod speech;
pub mod stability;
pub mod store;
pub mod subagents;
pub mod tool_policy;
pub mod usage;
pub mod usage_footer;
pub mod voicewake;
pub mod workspace;
pub mod ws_session;

pub mod util;
pub mod web_fetch;
pub mod web_search;

pub use engine::{Engine, EngineConfig, EngineDeps};
