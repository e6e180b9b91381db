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
//! | [`registry::Registry`] | `registry/mod.rs`, `registry/nodes.rs`, `registry/runs.rs` | sessions: `AdmitUpgrade`, `UpgradeAborted`, `SessionOpened`, `SessionAuthenticated`, `SessionClosed`, `AuthAttempt`, `CheckLockout`, `GetPresence`, `GetStats`, `ShutdownGateway`; nodes: `DeviceConnect`, `AttachNode`, `LookupNode`, `KeepOutcomes`, `NodeHostStats`, `InvokeNodeCommand`, `ListNodes`, `DescribeNode`, `PairingRequest`; agents: `InboundReceived`, `SubmitRun`, `RunFinished`, `AbortRun`, `WaitRun`, `Broadcast`, `ListSessions`, `ChatHistory`, `RegisterChannel`, `SendOutbound`, `ChannelsStatus`, `TelegramWebhook`, `ChannelPairingList`, `ChannelPairingApprove` |
//! | [`ws_session::WsSession`] | `ws_session.rs` | the socket's inbound frames (stream), `SendEvent`, `SendTargeted`, `CloseSession` |
//! | [`node_session::NodeSession`] | `node_session.rs` | `InvokeNode`, `InvokeResult`, `StopNode`, `PendingCount`, `UpdateCommands` |
//! | [`store::StoreActor`] | `store.rs` | `SaveDocument` (atomic, mode 0600), `LoadDocument`, `AppendLines`, `LoadLines` |
//! | [`channel::telegram::TelegramChannel`] | `channel/telegram.rs` | long-poll stream, `DeliverReply`, `GetChannelStatus`, `ListChannelPairing`, `ApproveChannelPairing`, `WebhookUpdate` |
//! | [`agent_run::AgentRun`] | `agent_run.rs` | drives one run from `started()`; `CancelRun` |
//!
//! Every WebSocket session is one `WsSession` actor running on the actix-web worker that
//! accepted the socket; the `Registry` runs on the system arbiter and is the only owner of
//! cross-connection state (presence, auth-failure counters, pre-auth socket counts).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod agent_run;
pub mod auth;
pub mod channel;
pub mod engine;
pub mod identity;
pub mod node_session;
pub mod pairing;
pub mod ports;
pub mod protocol;
pub mod registry;
pub mod store;
pub mod tool_policy;
pub mod ws_session;

pub mod util;

pub use engine::{Engine, EngineConfig, EngineDeps};
