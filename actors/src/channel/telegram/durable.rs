//! The account's durable state, written by group commit.
//!
//! Every change of [`ChannelState`] bumps [`Durability::version`] and asks for a save
//! ([`TelegramChannel::changed`]). At most one save is in flight; it carries the whole state
//! as it is when it starts, and changes made meanwhile go into the next one (one write per
//! burst, however many updates, replies and approvals it holds). Saves go to this account's
//! own writer thread (a [`StoreActor`] of its own), so the channel's fsyncs never queue in
//! front of transcript reads and appends on the shared store.
//!
//! What waits for a save, and what does not:
//!
//! - **Telegram is told nothing before it is durable.** The next `getUpdates` carries the
//!   offset, which confirms every update below it; it is sent only once the offset it carries
//!   is on disk ([`TelegramChannel::next_poll`]). A webhook delivery is answered `200` only
//!   once its update is on disk. After a crash, every update past the durable offset is
//!   handed over again by Telegram: nothing is lost.
//! - **An accepted message is handed to the agent at once**, while its save is in flight: the
//!   model call overlaps the fsync. Its reply is sent when ready, unless saves are failing:
//!   then replies are held until the state is on disk (a failing disk means the process may
//!   have to start over, and a held reply is then sent once rather than twice). A crash
//!   between a reply and the save of its receipt is the at-least-once case the module docs
//!   describe: the rerun finds the answer recorded in the transcript and sends it again; no
//!   transcript line is written twice.
//! - **Pairing notices and approvals wait**: a code or approval the user is told about is
//!   on disk first.
//!
//! A failed save changes nothing on disk (the write is atomic); the state stays in memory,
//! the error shows in the status, and the save is retried with backoff until it works.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::*;

/// A notice to send: chat, thread, text.
type Notice = (i64, Option<i64>, String);

/// The save bookkeeping of one account.
#[derive(Default)]
pub(super) struct Durability {
    /// Version of the in-memory state (bumped by every change).
    pub(super) version: u64,
    /// Version last written durably.
    pub(super) saved: u64,
    /// The offset of the last durable state (what `getUpdates` may confirm).
    pub(super) saved_offset: Option<i64>,
    /// A save is in flight.
    saving: bool,
    /// A retry after a failed save is scheduled.
    retry_scheduled: bool,
    /// The last save failed (its error), until one succeeds.
    pub(super) failing: Option<String>,
    /// A poll waits for the offset to be durable (`Some(hit_cap)` of its batch).
    pub(super) poll_waiting: Option<bool>,
    /// Callers waiting for a version to be durable; a failed save answers them `Err`.
    commits: Vec<(u64, oneshot::Sender<Result<(), StoreError>>)>,
    /// Replies held while saves fail, released once a version is durable.
    holds: Vec<(u64, oneshot::Sender<()>)>,
    /// Notices (pairing codes) to send once a version is durable.
    notices: Vec<(u64, Notice)>,
    /// Replies being delivered whose message has not left the pending list yet.
    delivering: usize,
    /// Told when `delivering` is back to 0 ([`FlushChannel`]).
    settle_waiters: Vec<oneshot::Sender<()>>,
}

impl Durability {
    /// Bookkeeping for a state loaded from disk (durable as it is).
    pub(super) fn loaded(state: &ChannelState) -> Self {
        Self {
            saved_offset: state.offset,
            ..Self::default()
        }
    }

    /// Replies waiting for the state to be saved.
    pub(super) fn held(&self) -> usize {
        self.holds.len()
    }

    /// A reply to a received message is being delivered.
    pub(super) fn delivery_started(&mut self) {
        self.delivering += 1;
    }

    /// That delivery settled: its message left the pending list (a change the caller
    /// saves) or stays pending for the next start.
    pub(super) fn delivery_settled(&mut self) {
        self.delivering = self.delivering.saturating_sub(1);
        if self.delivering == 0 {
            for tx in self.settle_waiters.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    /// Resolves once no delivery is in flight (at once if none is; also if the channel
    /// stops first).
    fn settled(&mut self) -> impl std::future::Future<Output = ()> + use<> {
        let rx = (self.delivering > 0).then(|| {
            let (tx, rx) = oneshot::channel();
            self.settle_waiters.push(tx);
            rx
        });
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
        }
    }
}

impl Handler<FlushChannel> for TelegramChannel {
    type Result = ResponseActFuture<Self, ()>;

    /// The gateway stops: the replies being delivered settle, then the state as it is is
    /// saved (a save in flight or failing is waited for; the sender bounds the wait). A
    /// reply that went out is then not sent again after the restart.
    fn handle(&mut self, _: FlushChannel, _: &mut Self::Context) -> Self::Result {
        if self.durable.delivering > 0 {
            log::info!(
                "telegram[{}]: waiting for {} repl{} being delivered before stopping",
                self.cfg.account_id,
                self.durable.delivering,
                if self.durable.delivering == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
        }
        Box::pin(self.save_settled())
    }
}

impl TelegramChannel {
    /// Resolves once the replies being delivered have settled and the state as it is then is
    /// on disk (a stop: the gateway's, or the account's removal by a config reload).
    pub(super) fn save_settled(&mut self) -> impl ActorFuture<Self, Output = ()> + use<> {
        self.durable
            .settled()
            .into_actor(self)
            .then(|(), act, ctx| {
                act.flush(ctx);
                act.committed(act.durable.version).into_actor(act)
            })
            .map(|res, act, _| {
                if let Err(e) = res {
                    log::warn!(
                        "telegram[{}]: channel state not saved before stopping: {e}",
                        act.cfg.account_id
                    );
                }
            })
    }
}

impl TelegramChannel {
    /// The state changed in memory: make sure a save covers it. Returns the version that
    /// holds the change.
    pub(super) fn changed(&mut self, ctx: &mut Context<Self>) -> u64 {
        self.durable.version += 1;
        self.flush(ctx);
        self.durable.version
    }

    /// Starts a save of the current state unless one is in flight (it is started again when
    /// that one ends) or a retry is scheduled.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let d = &self.durable;
        if d.saving || d.retry_scheduled || d.saved >= d.version {
            return;
        }
        self.durable.saving = true;
        let version = self.durable.version;
        let offset = self.state.offset;
        self.save(&self.state)
            .into_actor(self)
            .map(move |res, act, ctx| {
                act.durable.saving = false;
                match res {
                    Ok(()) => act.saved(version, offset, ctx),
                    Err(e) => act.save_failed(version, e, ctx),
                }
            })
            .spawn(ctx);
    }

    /// `version` (with `offset`) is on disk.
    fn saved(&mut self, version: u64, offset: Option<i64>, ctx: &mut Context<Self>) {
        let d = &mut self.durable;
        d.saved = version;
        d.saved_offset = offset;
        if d.failing.take().is_some() {
            log::info!(
                "telegram[{}]: channel state saved again",
                self.cfg.account_id
            );
            self.backoff.reset();
            self.status.retry_at_ms = None;
            self.status.consecutive_failures = 0;
            self.status.last_error = None;
        }
        let d = &mut self.durable;
        for (_, tx) in extract(&mut d.commits, |(v, _)| *v <= version) {
            let _ = tx.send(Ok(()));
        }
        for (_, tx) in extract(&mut d.holds, |(v, _)| *v <= version) {
            let _ = tx.send(());
        }
        for (_, (chat_id, thread_id, text)) in extract(&mut d.notices, |(v, _)| *v <= version) {
            self.send_notice(chat_id, thread_id, text, ctx);
        }
        if let Some(hit_cap) = self.durable.poll_waiting
            && self.durable.saved_offset == self.state.offset
        {
            self.durable.poll_waiting = None;
            self.recovered();
            self.next_poll(hit_cap, ctx);
        }
        self.flush(ctx);
    }

    /// The save of `version` failed: nothing changed on disk. Callers waiting for it are
    /// told; the state stays in memory and is saved again after a backoff.
    fn save_failed(&mut self, version: u64, e: StoreError, ctx: &mut Context<Self>) {
        log::error!(
            "telegram[{}]: cannot persist channel state: {e}",
            self.cfg.account_id
        );
        for (_, tx) in extract(&mut self.durable.commits, |(v, _)| *v <= version) {
            let _ = tx.send(Err(copy_error(&e)));
        }
        let fix = e.fix();
        let e = e.to_string();
        self.record_error_text(format!(
            "state not saved, updates left unconfirmed at Telegram: {e}. Fix: {fix}"
        ));
        self.durable.failing = Some(e);
        let delay = self.next_backoff(&api::TgError::Network(String::new()));
        self.durable.retry_scheduled = true;
        ctx.run_later(delay, |act, ctx| {
            act.durable.retry_scheduled = false;
            act.flush(ctx);
        });
    }

    /// Resolves once `version` is on disk; `Err` (the store's error) if the save that
    /// carried it failed.
    pub(super) fn committed(
        &mut self,
        version: u64,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        let rx = if self.durable.saved >= version {
            None
        } else {
            let (tx, rx) = oneshot::channel();
            self.durable.commits.push((version, tx));
            Some(rx)
        };
        async move {
            match rx {
                None => Ok(()),
                Some(rx) => rx
                    .await
                    .unwrap_or(Err(StoreError::Unavailable(MailboxError::Closed))),
            }
        }
    }

    /// Resolves at once while saves work; while they fail, once the current state is on
    /// disk (a reply is held rather than sent for a message whose receipt may not last).
    pub(super) fn hold_while_failing(&mut self) -> Option<oneshot::Receiver<()>> {
        self.durable.failing.as_ref()?;
        let (tx, rx) = oneshot::channel();
        self.durable.holds.push((self.durable.version, tx));
        Some(rx)
    }

    /// Sends a notice once `version` is on disk.
    pub(super) fn notice_when_saved(
        &mut self,
        version: u64,
        notice: Notice,
        ctx: &mut Context<Self>,
    ) {
        if self.durable.saved >= version {
            let (chat_id, thread_id, text) = notice;
            self.send_notice(chat_id, thread_id, text, ctx);
        } else {
            self.durable.notices.push((version, notice));
        }
    }
}

/// The same error again (for every caller waiting on the failed save).
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Io { path, source } => StoreError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        StoreError::Unavailable(m) => StoreError::Unavailable(match m {
            MailboxError::Closed => MailboxError::Closed,
            MailboxError::Timeout => MailboxError::Timeout,
        }),
    }
}

/// Removes and returns the items matching `f`, keeping the others in order.
fn extract<T>(items: &mut Vec<T>, f: impl Fn(&T) -> bool) -> Vec<T> {
    let (out, keep): (Vec<T>, Vec<T>) = std::mem::take(items).into_iter().partition(|t| f(t));
    *items = keep;
    out
}
