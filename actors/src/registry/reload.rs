//! Config reload, as the registry sees it: [`ApplyHotConfig`] swaps the hot settings (and
//! the model, and channel admission policies) in place; [`RestartNotice`] tells every
//! client that the gateway restarts in-process (a listener change) and closes their sockets
//! without refusing the reconnects that follow.

use std::rc::Rc;

use actix::prelude::*;
use serde_json::json;

use super::Registry;
use crate::channel::ReconfigureChannel;
use crate::hot::HotConfig;
use crate::ports::ChatModel;
use crate::protocol::close;
use crate::ws_session::CloseSession;

/// Builds the new model on the registry's thread (models are not `Send`).
pub type ModelFactory = Box<dyn FnOnce() -> Rc<dyn ChatModel> + Send>;

/// Builds the new transcription setup (`None`: off) on the registry's thread.
pub type HearingFactory = Box<dyn FnOnce() -> Option<Rc<crate::hearing::Hearing>> + Send>;

/// Builds the new voices (spoken answers, Talk) on the registry's thread.
pub type SpeechFactory = Box<dyn FnOnce() -> crate::speech::Voices + Send>;

/// The close reason sent to sessions that authenticated with a shared secret that is no
/// longer valid.
pub const SECRET_ROTATED_REASON: &str =
    "gateway auth changed: reconnect with the new token or password";

/// Sent by the shell's config watcher with a validated config. Replies with the number of
/// sessions closed because the shared secret changed.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ApplyHotConfig {
    /// The new hot settings.
    pub hot: HotConfig,
    /// A new model, when `models` or `agents.defaults.model` changed.
    pub model: Option<ModelFactory>,
    /// New transcription settings, when `tools.media` or `models` changed.
    pub hearing: Option<HearingFactory>,
    /// New voices, when `tts`, `talk` or `models` changed.
    pub speech: Option<SpeechFactory>,
    /// Channel accounts' new settings, `(kind id, account, settings)`
    /// ([`crate::channel::ChannelRegistration::hot_settings`]).
    pub channels: Vec<(&'static str, String, ReconfigureChannel)>,
}

impl Handler<ApplyHotConfig> for Registry {
    type Result = usize;

    fn handle(&mut self, msg: ApplyHotConfig, ctx: &mut Self::Context) -> usize {
        let (secret_changed, limits_changed) = {
            let old = self.shared.live.get();
            (
                old.auth.mode != msg.hot.auth.mode || old.auth.secret != msg.hot.auth.secret,
                old.auth.rate_limit != msg.hot.auth.rate_limit,
            )
        };
        if limits_changed {
            self.shared
                .hello_view
                .set_rate_limit(msg.hot.auth.rate_limit);
        }
        self.shared.audit.configure(msg.hot.audit);
        self.shared.live.set(msg.hot);
        // Agents the reload added: their earlier sessions are read before their file is
        // ever written.
        self.index_new_agents(ctx);
        if let Some(make) = msg.model {
            self.model = make();
        }
        if let Some(make) = msg.hearing {
            self.hearing = make();
            self.audio_in.set(self.hearing.is_some());
        }
        if let Some(make) = msg.speech {
            self.set_voices(make());
        }
        for (kind, account, settings) in msg.channels {
            if let Some(h) = self.channels.get(&(kind, account))
                && let Some(r) = &h.recipients.reconfigure
            {
                r.do_send(settings);
            }
        }
        if !secret_changed {
            return 0;
        }
        // Sessions admitted by the old shared secret lose their authority: close them so
        // they reconnect with the new one. Sessions admitted by a device token (which the
        // secret rotation does not touch) stay connected.
        let mut closed = 0;
        for (conn_id, entry) in self.sessions.iter() {
            if entry.authed.is_some() && !self.token_sessions.contains_key(conn_id) {
                entry.addr.do_send(CloseSession {
                    code: close::SERVICE_RESTART,
                    reason: SECRET_ROTATED_REASON.into(),
                });
                closed += 1;
            }
        }
        // The hello fast path's operators: admitted by the shared secret (or by none).
        for addr in self.shared.untracked.authenticated() {
            addr.do_send(CloseSession {
                code: close::SERVICE_RESTART,
                reason: SECRET_ROTATED_REASON.into(),
            });
            closed += 1;
        }
        closed
    }
}

/// Sent by the shell before an in-process restart (new port, bind or TLS): broadcasts
/// `shutdown {reason, restartExpectedMs}` and closes every socket with 1012 so clients
/// reconnect. Unlike `ShutdownGateway` it does not refuse new sockets. Replies with the
/// number of sessions told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct RestartNotice {
    /// Why (names the changed keys).
    pub reason: String,
    /// When clients should try again.
    pub restart_expected_ms: u64,
}

impl Handler<RestartNotice> for Registry {
    type Result = usize;

    fn handle(&mut self, msg: RestartNotice, _: &mut Self::Context) -> usize {
        if self.sessions_save_scheduled {
            self.save_sessions_now();
        }
        let payload = json!({"reason": msg.reason, "restartExpectedMs": msg.restart_expected_ms});
        self.broadcast("shutdown", &payload, false, None);
        for entry in self.sessions.conns() {
            entry.addr.do_send(CloseSession {
                code: close::SERVICE_RESTART,
                reason: "service restart".into(),
            });
        }
        self.sessions.len() + self.close_untracked(false)
    }
}
