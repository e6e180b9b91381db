//! The progress draft in a Telegram chat (see [`crate::channel::progress`]): one message,
//! sent once the run has worked for [`INITIAL_DELAY`] (or at its second tool call), edited
//! at most every [`EDIT_INTERVAL`] as the run reports work, and deleted once the answer to
//! its message is delivered (or the run stopped). The answer is always a new message.
//!
//! A draft that Telegram refuses to edit (the user deleted it) is left alone; a failed
//! draft never delays or changes the answer. Drafts on screen are kept in the account's
//! state (saved by the next group commit), so one left behind by a crash or a power cut is
//! deleted at the next start.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::TelegramChannel;
use super::api::{SendMessage, TgError};
use crate::channel::ChatTarget;
use crate::channel::progress::{DraftText, INITIAL_DELAY, ProgressEvent, RunProgress, StreamMode};

/// The shortest time between two edits of one draft (Telegram rate-limits edits).
pub const EDIT_INTERVAL: Duration = Duration::from_millis(1000);

/// How many finished runs are remembered, so a report that arrives after the answer does
/// not start a new draft.
const FINISHED_MEMORY: usize = 256;

/// A draft on screen, as the state keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DraftRef {
    /// Its chat.
    pub chat_id: i64,
    /// Its message.
    pub message_id: i64,
}

/// The drafts of runs in progress, by the id of the message they answer.
#[derive(Default)]
pub(super) struct Drafts {
    by_run: HashMap<String, Draft>,
    finished: VecDeque<String>,
}

struct Draft {
    target: ChatTarget,
    text: DraftText,
    /// Tool calls so far.
    work: u32,
    /// The initial delay, while it runs.
    gate: Option<SpawnHandle>,
    /// Shown (or being sent).
    started: bool,
    message_id: Option<i64>,
    /// What the chat shows.
    shown: String,
    /// A send or an edit is in flight.
    busy: bool,
    last_edit: Option<Instant>,
    /// A throttled edit is scheduled.
    retry: Option<SpawnHandle>,
    /// The answer is on its way: the draft no longer changes.
    frozen: bool,
    /// The answer is out (or the run stopped): delete as soon as nothing is in flight.
    done: bool,
    /// Telegram refused it for good: no more edits.
    broken: bool,
}

impl TelegramChannel {
    /// A run's report (see the module doc).
    fn on_progress(&mut self, msg: RunProgress, ctx: &mut Context<Self>) {
        let s = self.cfg.streaming.clone();
        if msg.event == ProgressEvent::Ended {
            return self.finish_draft(&msg.inbound_id, ctx);
        }
        if s.mode == StreamMode::Off || self.drafts.finished.contains(&msg.inbound_id) {
            return;
        }
        // Bounded: one draft per pending message at most.
        if !self.drafts.by_run.contains_key(&msg.inbound_id)
            && self.drafts.by_run.len() >= super::MAX_PENDING_INBOUND
        {
            return;
        }
        let id = msg.inbound_id;
        let label = s.label_for(&id);
        let d = self
            .drafts
            .by_run
            .entry(id.clone())
            .or_insert_with(|| Draft {
                target: msg.target,
                text: DraftText {
                    label,
                    ..DraftText::default()
                },
                work: 0,
                gate: None,
                started: false,
                message_id: None,
                shown: String::new(),
                busy: false,
                last_edit: None,
                retry: None,
                frozen: false,
                done: false,
                broken: false,
            });
        if d.frozen {
            return;
        }
        let work = d.text.apply(&msg.event, &s);
        // In `partial` / `block` the answer text is activity too.
        let activity =
            work || (s.mode.previews_text() && matches!(msg.event, ProgressEvent::Text(_)));
        if work {
            d.work += 1;
        }
        if d.started {
            return self.show_draft(&id, ctx);
        }
        if d.work >= 2 {
            if let Some(g) = d.gate.take() {
                ctx.cancel_future(g);
            }
            d.started = true;
            return self.show_draft(&id, ctx);
        }
        if activity && d.gate.is_none() {
            let gate_id = id.clone();
            d.gate = Some(ctx.run_later(INITIAL_DELAY, move |act, ctx| {
                if let Some(d) = act.drafts.by_run.get_mut(&gate_id) {
                    d.gate = None;
                    d.started = true;
                    act.show_draft(&gate_id, ctx);
                }
            }));
        }
    }

    /// Brings the draft of run `id` up to date: sends it, or edits it (throttled).
    fn show_draft(&mut self, id: &str, ctx: &mut Context<Self>) {
        let s = &self.cfg.streaming;
        let Some(d) = self.drafts.by_run.get_mut(id) else {
            return;
        };
        if !d.started || d.busy || d.broken || d.frozen || d.retry.is_some() {
            return;
        }
        let text = d.text.render(s);
        if text.trim().is_empty() || text == d.shown {
            return;
        }
        let api = self.api.clone();
        let key = id.to_owned();
        match d.message_id {
            None => {
                d.busy = true;
                let msg = SendMessage {
                    chat_id: d.target.chat_id,
                    text: text.clone(),
                    // Never a reply: the draft goes, and the answer quotes the message
                    // as `replyToMode` says.
                    reply_to_message_id: None,
                    message_thread_id: d.target.thread_id,
                    reply_markup: None,
                    disable_notification: false,
                    disable_link_preview: !self.cfg.link_preview,
                };
                let fut = async move { api.send_message(msg).await };
                ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                    let Some(d) = act.drafts.by_run.get_mut(&key) else {
                        return;
                    };
                    d.busy = false;
                    match res {
                        Ok(message_id) => {
                            d.message_id = Some(message_id);
                            d.shown = text;
                            d.last_edit = Some(Instant::now());
                            let r = DraftRef {
                                chat_id: d.target.chat_id,
                                message_id,
                            };
                            act.state.drafts.push(r);
                            act.changed(ctx);
                        }
                        Err(e) => {
                            log::debug!(
                                "telegram[{}]: progress draft not sent: {e}",
                                act.cfg.account_id
                            );
                            d.broken = true;
                        }
                    }
                    act.after_draft_call(&key, ctx);
                }));
            }
            Some(message_id) => {
                if let Some(wait) = d
                    .last_edit
                    .map(|t| EDIT_INTERVAL.saturating_sub(t.elapsed()))
                    .filter(|w| !w.is_zero())
                {
                    return self.retry_draft(id, wait, ctx);
                }
                d.busy = true;
                let chat_id = d.target.chat_id;
                let fut = async move {
                    api.edit_message_text(chat_id, message_id, text.clone())
                        .await
                        .map(|()| text)
                };
                ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                    let Some(d) = act.drafts.by_run.get_mut(&key) else {
                        return;
                    };
                    d.busy = false;
                    d.last_edit = Some(Instant::now());
                    let mut wait = None;
                    match res {
                        Ok(text) => d.shown = text,
                        Err(TgError::RateLimited { retry_after }) => {
                            wait = Some(Duration::from_secs(retry_after.clamp(1, 60)));
                        }
                        // Telegram says the text is the same: nothing to do.
                        Err(TgError::Api { description, .. })
                            if description.contains("not modified") => {}
                        Err(TgError::Network(e)) => {
                            log::debug!(
                                "telegram[{}]: progress draft not edited: {e}",
                                act.cfg.account_id
                            );
                        }
                        // Deleted by the user, or not editable any more: leave it.
                        Err(e) => {
                            log::debug!(
                                "telegram[{}]: progress draft not edited: {e}",
                                act.cfg.account_id
                            );
                            d.broken = true;
                        }
                    }
                    match wait {
                        Some(w) if !d.frozen => act.retry_draft(&key, w, ctx),
                        _ => act.after_draft_call(&key, ctx),
                    }
                }));
            }
        }
    }

    fn retry_draft(&mut self, id: &str, wait: Duration, ctx: &mut Context<Self>) {
        let key = id.to_owned();
        let handle = ctx.run_later(wait, move |act, ctx| {
            if let Some(d) = act.drafts.by_run.get_mut(&key) {
                d.retry = None;
                act.show_draft(&key, ctx);
            }
        });
        if let Some(d) = self.drafts.by_run.get_mut(id) {
            d.retry = Some(handle);
        }
    }

    /// A send or an edit ended: delete the draft if the answer went out meanwhile, else
    /// show what was reported meanwhile.
    fn after_draft_call(&mut self, id: &str, ctx: &mut Context<Self>) {
        match self.drafts.by_run.get(id) {
            Some(d) if d.done => self.finish_draft(id, ctx),
            Some(_) => self.show_draft(id, ctx),
            None => {}
        }
    }

    /// The answer to message `id` is on its way: its draft stops changing (and is not
    /// sent if it was not yet).
    pub(super) fn freeze_draft(&mut self, id: &str, ctx: &mut Context<Self>) {
        if let Some(d) = self.drafts.by_run.get_mut(id) {
            d.frozen = true;
            for h in [d.gate.take(), d.retry.take()].into_iter().flatten() {
                ctx.cancel_future(h);
            }
        }
    }

    /// The answer to message `id` was delivered (or its run stopped): the draft goes.
    pub(super) fn finish_draft(&mut self, id: &str, ctx: &mut Context<Self>) {
        if !self.drafts.finished.iter().any(|f| f == id) {
            if self.drafts.finished.len() >= FINISHED_MEMORY {
                self.drafts.finished.pop_front();
            }
            self.drafts.finished.push_back(id.to_owned());
        }
        let Some(d) = self.drafts.by_run.get_mut(id) else {
            return;
        };
        d.done = true;
        d.frozen = true;
        for h in [d.gate.take(), d.retry.take()].into_iter().flatten() {
            ctx.cancel_future(h);
        }
        if d.busy {
            // Deleted when the call in flight ends (`after_draft_call`).
            return;
        }
        let Some(d) = self.drafts.by_run.remove(id) else {
            return;
        };
        if let Some(message_id) = d.message_id {
            self.delete_draft(
                DraftRef {
                    chat_id: d.target.chat_id,
                    message_id,
                },
                ctx,
            );
        }
    }

    /// Deletes a draft from its chat, then from the state. A network failure keeps it in the
    /// state, for the next start.
    pub(super) fn delete_draft(&mut self, r: DraftRef, ctx: &mut Context<Self>) {
        let api = self.api.clone();
        let fut = async move { api.delete_message(r.chat_id, r.message_id).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = &res {
                log::debug!(
                    "telegram[{}]: progress draft not deleted: {e}",
                    act.cfg.account_id
                );
            }
            if !matches!(
                res,
                Err(TgError::Network(_)) | Err(TgError::RateLimited { .. })
            ) {
                let before = act.state.drafts.len();
                act.state.drafts.retain(|d| *d != r);
                if act.state.drafts.len() != before {
                    act.changed(ctx);
                }
            }
        }));
    }

    /// Drafts a crash left on screen: deleted at start.
    pub(super) fn delete_leftover_drafts(&mut self, ctx: &mut Context<Self>) {
        for r in self.state.drafts.clone() {
            self.delete_draft(r, ctx);
        }
    }
}

impl Handler<RunProgress> for TelegramChannel {
    type Result = ();

    fn handle(&mut self, msg: RunProgress, ctx: &mut Self::Context) {
        self.on_progress(msg, ctx);
    }
}
