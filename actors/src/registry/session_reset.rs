//! Starting a session over: `/new` and `/reset` from a chat (see [`super::chat_commands`]),
//! `sessions.reset` and `sessions.create` from an operator (OpenClaw's
//! `server-methods/sessions-mutations.ts`, `sessions-create.ts`; the TUI's `/reset` and
//! `/new`); and ending one: `sessions.delete` (`sessions-delete.ts`; `openclaw sessions
//! delete`).
//!
//! A reset aborts the session's run and drops its queue (as `/stop` does), gives the
//! session key a fresh session id, so the next message starts an empty transcript, and
//! keeps the old transcript on disk. The index is saved before anything is answered:
//! a reset that was answered survives a crash. A chat's `/new` resets only a session older
//! than the message, so the same message handed again after a restart (a channel hands a
//! message again until its completion is saved) never undoes what came after it.

use std::future::Future;

use actix::prelude::*;
use serde::Serialize;

use super::Registry;
use super::runs::{SessionMeta, SessionRow};
use super::sessions::ResetOutcome;
use crate::protocol::error::ErrorShape;
use crate::util::now_ms;

/// Why a session starts over (`sessions.changed`'s `reason`, `sessions.reset`'s param).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// `/new`, `sessions.reset {reason: "new"}`.
    New,
    /// `/reset`, `sessions.reset`.
    Reset,
}

impl ResetReason {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Reset => "reset",
        }
    }
}

/// A reset, done in the registry: the entry now, and a future that resolves once the index
/// holding it is on disk (`false`: the write failed).
pub(super) struct ResetDone {
    /// The session's entry with its new id.
    pub meta: SessionMeta,
    /// The runs aborted, the active one first.
    pub aborted: Vec<String>,
    /// Whether the session got a new id (not: it was already newer than the request).
    pub changed: bool,
    /// The index save.
    pub saved: std::pin::Pin<Box<dyn Future<Output = bool>>>,
}

impl Registry {
    /// Starts `key` over (see the module doc); `asked_at` is when the chat message asking
    /// for it arrived. A session already newer than that is left as it is, runs included.
    /// The caller announces it ([`Registry::session_lifecycle`]): at once, or, for an
    /// operator's `sessions.reset`, once the answer is on its way (OpenClaw's order, which
    /// the TUI relies on: the answer, then `sessions.changed`).
    ///
    /// The session's unfinished sub-agents stop with it (OpenClaw's reset cleanup): their
    /// results would land in a conversation that no longer asked for them.
    pub(super) fn reset_session(
        &mut self,
        key: &str,
        asked_at: Option<u64>,
        ctx: &mut Context<Self>,
    ) -> ResetDone {
        let done = self.start_session_over(key, asked_at, true);
        if done.changed {
            let stopped = self.kill_all_children(key, ctx);
            if stopped > 0 {
                log::info!("session {key}: reset; {stopped} sub-agent(s) stopped with it");
            }
        }
        done
    }

    /// [`Self::reset_session`], with `abort`: the session's run and queue go (a person's
    /// `/new`, an operator's reset); without, they stay (a `session.reset` policy starts the
    /// session over for the very message its queue holds).
    pub(super) fn start_session_over(
        &mut self,
        key: &str,
        asked_at: Option<u64>,
        abort: bool,
    ) -> ResetDone {
        let (meta, replaced) = match self
            .sessions_index
            .reset(key, now_ms(), asked_at, || uuid::Uuid::new_v4().to_string())
        {
            ResetOutcome::Unchanged(meta) => {
                return ResetDone {
                    meta,
                    aborted: Vec::new(),
                    changed: false,
                    saved: Box::pin(std::future::ready(true)),
                };
            }
            ResetOutcome::Fresh { meta, replaced } => (meta, replaced),
        };
        let aborted = if abort {
            self.abort_runs(key, None)
        } else {
            Vec::new()
        };
        if let Some(old) = replaced {
            // The old transcript's cached tail is of no use any more.
            let _ = self.tails.take(&super::runs::transcript_name(key, &old));
        }
        self.publish_sessions();
        let saved = Box::pin(self.save_sessions());
        ResetDone {
            meta,
            aborted,
            changed: true,
            saved,
        }
    }
}

/// What `sessions.reset` and `sessions.create` answer (OpenClaw's shape: the TUI reads
/// `key` and `entry.sessionId`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMutation {
    /// Always `true`.
    pub ok: bool,
    /// The session key.
    pub key: String,
    /// `sessions.create`: the new session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session as `sessions.list` shows it.
    pub entry: SessionRow,
    /// `sessions.create`: no run is started by it here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_started: Option<bool>,
    /// Whether the call created the session (not on the wire).
    #[serde(skip)]
    pub created: bool,
    /// The agent it belongs to.
    pub resolved: Resolved,
}

impl SessionMutation {
    /// The answer about session `key`, now `entry`.
    fn of(key: String, entry: SessionRow) -> Self {
        Self {
            ok: true,
            key,
            session_id: None,
            entry,
            run_started: None,
            created: false,
            resolved: Resolved {
                agent_id: "main",
                model_provider: None,
                model: None,
            },
        }
    }

    /// This answer, once `saved` says the index holding the change is on disk.
    fn when_saved(
        self,
        saved: impl Future<Output = bool> + 'static,
    ) -> ResponseFuture<Result<SessionMutation, ErrorShape>> {
        Box::pin(async move {
            if saved.await {
                Ok(self)
            } else {
                Err(index_not_saved())
            }
        })
    }
}

/// `resolved` of a [`SessionMutation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    /// Always `main`.
    pub agent_id: &'static str,
    /// `sessions.patch` with `model`: the provider of the model that now answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    /// `sessions.patch` with `model`: the model that now answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// `sessions.reset`: starts `key` over.
#[derive(Message)]
#[rtype(result = "Result<SessionMutation, ErrorShape>")]
pub struct ResetSession {
    /// Normalized session key.
    pub key: String,
    /// Refuse unless the session's current id is this one (a client resetting what it
    /// saw, not what another client has made of it since).
    pub expected_session_id: Option<String>,
}

impl Handler<ResetSession> for Registry {
    type Result = ResponseFuture<Result<SessionMutation, ErrorShape>>;

    fn handle(&mut self, msg: ResetSession, ctx: &mut Self::Context) -> Self::Result {
        if let Some(expected) = &msg.expected_session_id {
            let current = self.sessions_index.get(&msg.key).map(|m| &m.session_id);
            if current != Some(expected) {
                let err = ErrorShape::invalid(format!(
                    "Session {} changed before reset. Retry.",
                    msg.key
                ));
                return Box::pin(std::future::ready(Err(err)));
            }
        }
        let done = self.reset_session(&msg.key, None, ctx);
        let entry = self.row_of(&msg.key, &done.meta, now_ms());
        SessionMutation::of(msg.key, entry).when_saved(done.saved)
    }
}

/// `sessions.create`: a new session (a fresh key the caller picked) or, for a key that
/// exists, that session as it is (OpenClaw adopts an existing key).
#[derive(Message)]
#[rtype(result = "Result<SessionMutation, ErrorShape>")]
pub struct CreateSession {
    /// Normalized session key.
    pub key: String,
    /// Its label.
    pub label: Option<String>,
    /// The name `sessions.list` shows for it.
    pub display_name: Option<String>,
}

impl Handler<CreateSession> for Registry {
    type Result = ResponseFuture<Result<SessionMutation, ErrorShape>>;

    fn handle(&mut self, msg: CreateSession, _: &mut Self::Context) -> Self::Result {
        let (meta, created) = self.sessions_index.touch(
            &msg.key,
            &super::runs::RunOrigin::Operator,
            now_ms(),
            || uuid::Uuid::new_v4().to_string(),
        );
        let named = msg.label.is_some() || msg.display_name.is_some();
        let meta = if created && named {
            self.sessions_index
                .set_names(&msg.key, msg.label, msg.display_name)
                .unwrap_or(meta)
        } else {
            meta
        };
        let saved: std::pin::Pin<Box<dyn Future<Output = bool>>> = if created {
            self.publish_sessions();
            Box::pin(self.save_sessions())
        } else {
            Box::pin(std::future::ready(true))
        };
        let entry = self.row_of(&msg.key, &meta, now_ms());
        SessionMutation {
            session_id: Some(meta.session_id),
            run_started: Some(false),
            created,
            ..SessionMutation::of(msg.key, entry)
        }
        .when_saved(saved)
    }
}

/// `sessions.patch {label}`: labels a session (`None`: clears the label).
#[derive(Message)]
#[rtype(result = "Result<SessionMutation, ErrorShape>")]
pub struct RenameSession {
    /// Normalized session key.
    pub key: String,
    /// Refuse unless the session's current id is this one.
    pub expected_session_id: Option<String>,
    /// The new label (`Some(None)`: cleared; `None`: unchanged).
    pub label: Option<Option<String>>,
    /// The session's own model: a configured one's name (`Some(None)`: back to the
    /// default; `None`: unchanged).
    pub model: Option<Option<String>>,
    /// The chat's thinking level (`Some(None)`: back to the configured one; `None`:
    /// unchanged).
    pub thinking_level: Option<Option<crate::ports::Thinking>>,
    /// The session's own queue mode (`Some(None)`: back to `messages.queue`, with its cap
    /// and drop policy; `None`: unchanged).
    pub queue_mode: Option<Option<crate::run_queue::QueueMode>>,
    /// The chat's usage footer (`Some(None)`: back to `messages.responseUsage`; `None`:
    /// unchanged).
    pub response_usage: Option<Option<crate::usage_footer::FooterMode>>,
}

impl Handler<RenameSession> for Registry {
    type Result = ResponseFuture<Result<SessionMutation, ErrorShape>>;

    fn handle(&mut self, msg: RenameSession, _: &mut Self::Context) -> Self::Result {
        let key = msg.key;
        let err = |e| -> Self::Result { Box::pin(std::future::ready(Err(e))) };
        let Some(meta) = self.sessions_index.get(&key) else {
            return err(ErrorShape::invalid(format!("unknown session: {key}")));
        };
        if msg
            .expected_session_id
            .as_ref()
            .is_some_and(|id| *id != meta.session_id)
        {
            return err(ErrorShape::invalid(format!(
                "Session {key} changed before patch. Retry."
            )));
        }
        // The model first: an unknown one changes nothing.
        let model = match msg.model {
            Some(Some(name)) => match self.model.pick(&name) {
                Ok((reference, _)) => Some(Some(reference)),
                Err(e) => return err(ErrorShape::invalid(format!("sessions.patch model: {e}"))),
            },
            Some(None) => Some(None),
            None => None,
        };
        if let Some(label) = msg.label
            && self.sessions_index.set_names(&key, label, None).is_none()
        {
            return err(ErrorShape::unavailable("the session vanished; retry"));
        }
        if let Some(level) = msg.thinking_level {
            self.sessions_index
                .set_thinking(&key, level, now_ms(), || uuid::Uuid::new_v4().to_string());
        }
        match msg.queue_mode {
            Some(Some(mode)) => self.sessions_index.set_queue(
                &key,
                crate::run_queue::SessionQueue {
                    mode: Some(mode),
                    ..Default::default()
                },
                now_ms(),
                || uuid::Uuid::new_v4().to_string(),
            ),
            Some(None) => self.sessions_index.clear_queue(&key),
            None => {}
        }
        if let Some(mode) = msg.response_usage {
            self.sessions_index
                .set_footer(&key, mode, now_ms(), || uuid::Uuid::new_v4().to_string());
        }
        let patched_model = model.is_some();
        if let Some(reference) = model {
            self.sessions_index
                .set_model(&key, reference.as_deref(), now_ms(), || {
                    uuid::Uuid::new_v4().to_string()
                });
        }
        let Some(meta) = self.sessions_index.get(&key).cloned() else {
            return err(ErrorShape::unavailable("the session vanished; retry"));
        };
        let entry = self.row_of(&key, &meta, now_ms());
        let mut m = SessionMutation::of(key, entry);
        if patched_model {
            let now = meta.model_choice().unwrap_or_else(|| self.model.label());
            // The default's label may name its fallbacks: only `provider/model` is sent.
            let now = now.split(' ').next().unwrap_or_default().to_owned();
            if let Some((p, id)) = now.split_once('/') {
                m.resolved.model_provider = Some(p.to_owned());
                m.resolved.model = Some(id.to_owned());
            }
        }
        m.when_saved(self.save_sessions())
    }
}

/// `sessions.delete`: forgets a session. Its runs are aborted, its entry leaves the index
/// (saved before the answer), and, with `archive_transcript`, once its run has ended its
/// transcript is renamed `<id>.jsonl.deleted.<ms>` (kept, as OpenClaw archives it; the
/// answer lists it). The session key starts a new session if it is used again.
#[derive(Message)]
#[rtype(result = "Result<Deleted, ErrorShape>")]
pub struct DeleteSession {
    /// Normalized session key.
    pub key: String,
    /// Archive the transcript (`deleteTranscript`, default `true`).
    pub archive_transcript: bool,
    /// Refuse unless the session's current id is this one.
    pub expected_session_id: Option<String>,
    /// Refuse unless the session was last updated at this time.
    pub expected_updated_at: Option<u64>,
}

/// What `sessions.delete` answers (OpenClaw's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    /// Always `true`.
    pub ok: bool,
    /// The session key.
    pub key: String,
    /// Whether there was such a session.
    pub deleted: bool,
    /// The archived transcripts (absolute paths).
    pub archived: Vec<String>,
}

/// The main session: OpenClaw refuses to delete it.
const MAIN_SESSION: &str = "agent:main:main";

impl Handler<DeleteSession> for Registry {
    type Result = ResponseFuture<Result<Deleted, ErrorShape>>;

    fn handle(&mut self, msg: DeleteSession, ctx: &mut Self::Context) -> Self::Result {
        let key = msg.key;
        let fail = |e| -> Self::Result { Box::pin(std::future::ready(Err(e))) };
        if key == MAIN_SESSION {
            return fail(ErrorShape::invalid(format!(
                "Cannot delete the main session ({key})."
            )));
        }
        let Some(meta) = self.sessions_index.get(&key) else {
            return Box::pin(std::future::ready(Ok(Deleted {
                ok: true,
                key,
                deleted: false,
                archived: Vec::new(),
            })));
        };
        let stale = msg
            .expected_session_id
            .as_ref()
            .is_some_and(|id| *id != meta.session_id)
            || msg
                .expected_updated_at
                .is_some_and(|at| at != meta.updated_at);
        if stale {
            return fail(ErrorShape::invalid(format!(
                "Session {key} changed before deletion. Retry."
            )));
        }
        // The active run (if any) writes its transcript until it has ended: the archive
        // waits for that.
        let aborted = self.abort_runs(&key, None);
        // Its unfinished sub-agents stop too: nothing is left to hand their results to.
        self.kill_all_children(&key, ctx);
        let run_end = aborted.first().and_then(|id| match self.runs.wait(id) {
            super::scheduler::WaitAdmission::Waiting(rx) => Some(rx),
            _ => None,
        });
        let Some(meta) = self.sessions_index.remove(&key) else {
            return fail(ErrorShape::unavailable("the session vanished; retry"));
        };
        let transcript = super::runs::transcript_name(&key, &meta.session_id);
        let _ = self.tails.take(&transcript);
        self.publish_sessions();
        let saved = self.save_sessions();
        let store = self.store.clone();
        let state_dir = self.shared.config.state_dir.clone();
        let archive = msg.archive_transcript;
        Box::pin(async move {
            if !saved.await {
                return Err(index_not_saved());
            }
            let mut archived = Vec::new();
            if archive {
                if let Some(rx) = run_end {
                    let _ = rx.await;
                }
                let to = format!("{transcript}.deleted.{}", now_ms());
                let renamed = store
                    .send(crate::store::RenameFile {
                        name: transcript,
                        to: to.clone(),
                    })
                    .await;
                match renamed {
                    Ok(Ok(true)) => archived.push(state_dir.join(&to).display().to_string()),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        log::warn!("deleted session {key}: transcript not archived: {e}");
                    }
                    Err(_) => return Err(ErrorShape::unavailable("gateway is shutting down")),
                }
            }
            Ok(Deleted {
                ok: true,
                key,
                deleted: true,
                archived,
            })
        })
    }
}

/// Sent by an operator's session once it has answered `sessions.reset` (`reason` `new` or
/// `reset`) or `sessions.create` (`create`, for a session it created): the subscribers
/// get `sessions.changed`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AnnounceSession {
    /// Normalized session key.
    pub key: String,
    /// `sessions.changed`'s `reason`.
    pub reason: &'static str,
}

impl Handler<AnnounceSession> for Registry {
    type Result = ();

    fn handle(&mut self, msg: AnnounceSession, _: &mut Self::Context) {
        self.session_lifecycle(&msg.key, msg.reason);
    }
}

/// The session index could not be written (the change is in memory and is written with
/// the next save).
fn index_not_saved() -> ErrorShape {
    ErrorShape::unavailable(
        "the session index could not be saved (see the gateway log: a full or read-only disk?); the change is kept in memory and saved with the next change",
    )
}
