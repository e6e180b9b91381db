//! `sessions.abort` (OpenClaw's `server-methods/sessions-abort.ts`): stops a session's
//! work by session key, by run id, or both.
//!
//! - `{key}`: the session's running run stops; what waits behind it stays queued (it
//!   starts next) unless `clearQueued: true`, which drops it too. The session's active
//!   sub-agents stop with it (OpenClaw cascades a key-only abort to its descendants).
//! - `{runId}` (with or without `key`): that run only, running or queued. A run of another
//!   session than `key` is refused; a run that is not going is `no-active-run`.
//!
//! The answer is OpenClaw's `{ok: true, abortedRunId, status: "aborted" | "no-active-run"}`;
//! a session that stopped something gets `sessions.changed {reason: "abort"}`.

use actix::prelude::*;
use serde::Serialize;

use super::Registry;
use crate::protocol::error::ErrorShape;

/// `sessions.abort`, parsed.
#[derive(Message)]
#[rtype(result = "Result<SessionAbortReply, ErrorShape>")]
pub struct SessionAbort {
    /// Normalized session key (`None`: the run's).
    pub key: Option<String>,
    /// The run to stop.
    pub run_id: Option<String>,
    /// Also drop the session's queued messages (key-only aborts).
    pub clear_queued: bool,
}

/// What `sessions.abort` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAbortReply {
    /// Always `true` (a refusal is an error frame).
    pub ok: bool,
    /// The run stopped (the running one when there was one), else `null`.
    pub aborted_run_id: Option<String>,
    /// `aborted` or `no-active-run`.
    pub status: &'static str,
    /// The session's active sub-agents stopped with it (this gateway's addition).
    #[serde(skip_serializing_if = "is_zero")]
    pub subagents_stopped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl SessionAbortReply {
    fn nothing() -> Self {
        Self {
            ok: true,
            aborted_run_id: None,
            status: "no-active-run",
            subagents_stopped: 0,
        }
    }
}

impl Handler<SessionAbort> for Registry {
    type Result = Result<SessionAbortReply, ErrorShape>;

    fn handle(&mut self, msg: SessionAbort, ctx: &mut Self::Context) -> Self::Result {
        let run_session = msg
            .run_id
            .as_deref()
            .and_then(|r| self.runs.record(r))
            .filter(|r| r.in_flight())
            .map(|r| r.session_key.clone());
        let key = match (msg.key, &msg.run_id, run_session) {
            (Some(k), Some(_), Some(owner)) if k != owner => {
                return Err(ErrorShape::invalid("runId does not match session"));
            }
            (Some(k), _, _) => k,
            (None, Some(_), Some(owner)) => owner,
            (None, Some(_), None) => return Ok(SessionAbortReply::nothing()),
            (None, None, _) => {
                return Err(ErrorShape::invalid(
                    "invalid sessions.abort params: key or runId is required",
                ));
            }
        };
        let mut reply = SessionAbortReply::nothing();
        let stopped = match msg.run_id.as_deref() {
            Some(run) => self.abort_runs(&key, Some(run)),
            None if msg.clear_queued => self.abort_runs(&key, None),
            None => match self.runs.active_run(&key).map(str::to_owned) {
                Some(active) => self.abort_runs(&key, Some(&active)),
                None => Vec::new(),
            },
        };
        if msg.run_id.is_none() {
            reply.subagents_stopped = self.kill_all_children(&key, ctx);
        }
        if let Some(first) = stopped.into_iter().next() {
            log::info!("session {key}: run {first} aborted (sessions.abort)");
            reply.aborted_run_id = Some(first);
            reply.status = "aborted";
            self.session_lifecycle(&key, "abort");
        }
        Ok(reply)
    }
}
