//! Sending: replies and notices with `sendMessage`, split as Telegram counts, and the
//! [`DeliverReply`] handler that completes pending messages.

use actix::prelude::*;

use super::api::{SendMedia, SendMessage, TgError};
use super::*;
use crate::media::{MediaKind, MediaRef};
use crate::store::LoadDocument;

/// Longest caption Telegram takes, in UTF-16 code units.
const MAX_CAPTION_UNITS: usize = 1024;

impl TelegramChannel {
    /// Sends a notice (pairing code) without blocking polling; failures are logged.
    pub(super) fn send_notice(
        &mut self,
        chat_id: i64,
        thread_id: Option<i64>,
        text: String,
        ctx: &mut Context<Self>,
    ) {
        self.send_chunks(chat_id, thread_id, None, text)
            .into_actor(self)
            .map(|res, act, _| {
                if let Err(e) = res {
                    log::warn!(
                        "telegram[{}]: notice not delivered: {e}",
                        act.cfg.account_id
                    );
                }
            })
            .spawn(ctx);
    }

    /// Sends `text` in chunks (see [`send_chunks`]).
    pub(super) fn send_chunks(
        &self,
        chat_id: i64,
        thread_id: Option<i64>,
        reply_to: Option<i64>,
        text: String,
    ) -> impl std::future::Future<Output = Result<Vec<i64>, TgError>> + use<> {
        let dest = Dest {
            chat_id,
            thread_id,
            limit: self.cfg.text_chunk_limit,
            silent: false,
            no_preview: !self.cfg.link_preview,
        };
        send_chunks(self.api.clone(), dest, reply_to, false, text, None)
    }
}

/// Sends `text` to `dest` in chunks of ≤ `dest.limit` UTF-16 units (`textChunkLimit`), in
/// order, retrying each chunk on rate limits and network failures
/// (bounded), replying to `reply_to` with the first chunk (with every chunk when
/// `reply_all`); `markup` (an inline keyboard) goes under the last chunk.
async fn send_chunks(
    api: std::rc::Rc<dyn super::api::TelegramApi>,
    dest: Dest,
    reply_to: Option<i64>,
    reply_all: bool,
    text: String,
    markup: Option<serde_json::Value>,
) -> Result<Vec<i64>, TgError> {
    let Dest {
        chat_id,
        thread_id,
        limit,
        silent,
        no_preview,
    } = dest;
    let mut ids = Vec::new();
    // Telegram refuses a blank message; a blank chunk carries nothing visible.
    let chunks: Vec<String> = split_message(&text, limit.clamp(1, MAX_MESSAGE_UNITS))
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect();
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let msg = SendMessage {
            chat_id,
            text: chunk,
            reply_to_message_id: if i == 0 || reply_all { reply_to } else { None },
            message_thread_id: thread_id,
            reply_markup: markup.clone().filter(|_| i == last),
            disable_notification: silent,
            disable_link_preview: no_preview,
        };
        ids.push(retrying(|| api.send_message(msg.clone())).await?);
    }
    Ok(ids)
}

/// The buttons of `rows` shown (`shown`: the chat takes inline buttons); the others are
/// appended to `text` as their fallback text: all of them where buttons are off, and Mini
/// App buttons outside private chats.
pub(super) fn split_buttons(
    rows: Vec<Vec<crate::channel::Button>>,
    shown: bool,
    private: bool,
    text: &mut String,
) -> Vec<Vec<crate::channel::Button>> {
    let (rows, hidden) = partition_buttons(rows, shown, private);
    let hidden = crate::channel::presentation::fallback_text(&hidden);
    if !hidden.is_empty() {
        *text = if text.trim().is_empty() {
            hidden
        } else {
            format!("{}\n\n{hidden}", text.trim_end())
        };
    }
    rows
}

/// `rows` as (shown, sent as text); see [`split_buttons`].
fn partition_buttons(
    rows: Vec<Vec<crate::channel::Button>>,
    shown: bool,
    private: bool,
) -> (
    Vec<Vec<crate::channel::Button>>,
    Vec<Vec<crate::channel::Button>>,
) {
    if !shown {
        return (Vec::new(), rows);
    }
    let mut hidden = Vec::new();
    let rows = rows
        .into_iter()
        .map(|row| {
            let (web, rest): (Vec<_>, Vec<_>) = row.into_iter().partition(|b| {
                !private && matches!(b.action, crate::channel::ButtonAction::WebApp(_))
            });
            if !web.is_empty() {
                hidden.push(web);
            }
            rest
        })
        .filter(|r| !r.is_empty())
        .collect();
    (rows, hidden)
}

/// Calls `call` until it succeeds, retrying rate limits (after `retry_after`) and network
/// failures (backoff from 0.5 s to 30 s), at most 20 attempts; other failures at once.
pub(super) async fn retrying<T, F, Fut>(mut call: F) -> Result<T, TgError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TgError>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match call().await {
            Ok(id) => return Ok(id),
            Err(TgError::RateLimited { retry_after }) if attempt < 20 => {
                actix_web::rt::time::sleep(Duration::from_secs(retry_after.clamp(1, 300))).await;
            }
            Err(TgError::Network(_)) if attempt < 20 => {
                actix_web::rt::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where a reply goes.
#[derive(Clone, Copy)]
struct Dest {
    chat_id: i64,
    thread_id: Option<i64>,
    /// `textChunkLimit`.
    limit: usize,
    /// `disable_notification`.
    silent: bool,
    /// `linkPreview: false`: no preview of the first link.
    no_preview: bool,
}

/// Sends a reply with attachments: the text as the caption of the first one when it fits
/// (≤ 1024 UTF-16 code units), else the text first (in chunks, replying to `reply_to`) and
/// the files after it, in order; photos in a row go as one album. A photo Telegram refuses
/// as a photo (its dimensions, say) goes again as a file. A file that is gone or that
/// Telegram refuses for good gets a notice in its place (with the text, when it was its
/// caption), so the user learns what is
/// missing; the reply as a whole fails only as text would (network, rate limits beyond the
/// retries, a chat that refuses the bot), and then stays pending like one.
async fn send_with_media(
    api: std::rc::Rc<dyn super::api::TelegramApi>,
    store: Addr<crate::store::StoreActor>,
    dest: Dest,
    reply_to: Option<i64>,
    reply_all: bool,
    text: String,
    media: Vec<MediaRef>,
) -> Result<Vec<i64>, TgError> {
    let mut ids = Vec::new();
    let has_text = !text.trim().is_empty();
    let mut reply_to = reply_to;
    let mut caption = None;
    if has_text && text.encode_utf16().count() <= MAX_CAPTION_UNITS {
        caption = Some(text);
    } else if has_text {
        ids.extend(send_chunks(api.clone(), dest, reply_to, reply_all, text, None).await?);
        if !reply_all {
            reply_to = None;
        }
    }
    // Every file is read first (only files of the media directory are ever read; a
    // transcript read back after a crash is checked the same way: `MediaRef::list_of`).
    let mut files: Vec<(MediaRef, Option<std::rc::Rc<[u8]>>)> = Vec::new();
    for m in media.into_iter().take(crate::media::MAX_ATTACHMENTS) {
        let load = m.is_ours().then(|| LoadDocument {
            name: m.path.clone(),
        });
        let data = match load {
            Some(load) => match store.send(load).await {
                Ok(Ok(d)) => d.map(std::rc::Rc::from),
                Ok(Err(e)) => {
                    log::warn!("attachment {} not readable: {e}", m.path);
                    None
                }
                Err(_) => None,
            },
            None => None,
        };
        files.push((m, data));
    }
    let mut out = Outgoing {
        api,
        dest,
        reply_to,
        reply_all,
        caption,
        ids,
    };
    let mut rest = files.as_slice();
    while !rest.is_empty() {
        // Photos and videos in a row go as one album (OpenClaw's `sendMediaGroup`; Telegram
        // mixes the two, nothing else), the caption under it; an album Telegram refuses goes
        // again file by file (each with its own fallback).
        let album: Vec<SendMedia> = rest
            .iter()
            .take(MAX_ALBUM)
            .map_while(|(m, d)| match (m.kind, d) {
                (k @ (MediaKind::Photo | MediaKind::Video), Some(d)) => {
                    Some(out.media(m, d.clone(), k))
                }
                _ => None,
            })
            .collect();
        if album.len() >= 2 {
            let n = album.len();
            let mut items = album;
            // The caption goes under the album: on its first photo only.
            for later in items.iter_mut().skip(1) {
                later.caption = None;
            }
            match retrying(|| out.api.send_media_group(items.clone())).await {
                Ok(got) => {
                    out.sent(got);
                    rest = &rest[n..];
                    continue;
                }
                Err(TgError::Api { description, .. }) => {
                    log::info!(
                        "album of {n} files refused ({description}); sending them one by one"
                    );
                    for (m, d) in &rest[..n] {
                        out.one(m, d.clone()).await?;
                    }
                    rest = &rest[n..];
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let (m, d) = &rest[0];
        out.one(m, d.clone()).await?;
        rest = &rest[1..];
    }
    Ok(out.ids)
}

/// The most photos and videos in one album (Telegram's limit).
const MAX_ALBUM: usize = 10;

/// A reply with attachments being sent: where it goes, what it quotes, the caption not yet
/// used and the messages sent so far.
struct Outgoing {
    api: std::rc::Rc<dyn super::api::TelegramApi>,
    dest: Dest,
    reply_to: Option<i64>,
    reply_all: bool,
    caption: Option<String>,
    ids: Vec<i64>,
}

impl Outgoing {
    /// The upload of `m` (as `kind`) with the pending caption and quote.
    fn media(&self, m: &MediaRef, data: std::rc::Rc<[u8]>, kind: MediaKind) -> SendMedia {
        SendMedia {
            chat_id: self.dest.chat_id,
            kind,
            data,
            mime: m.mime.clone(),
            file_name: m.file_name.clone(),
            caption: self.caption.clone(),
            reply_to_message_id: self.reply_to,
            message_thread_id: self.dest.thread_id,
            disable_notification: self.dest.silent,
        }
    }

    /// Messages went out: the caption is used, and only the first quotes (unless all do).
    fn sent(&mut self, ids: impl IntoIterator<Item = i64>) {
        self.ids.extend(ids);
        self.caption = None;
        if !self.reply_all {
            self.reply_to = None;
        }
    }

    /// Sends one file. A photo or voice note Telegram refuses as one goes again as a
    /// file; a file that is gone or refused for good gets a notice in its place.
    async fn one(&mut self, m: &MediaRef, data: Option<std::rc::Rc<[u8]>>) -> Result<(), TgError> {
        let noun = m.kind.noun();
        let failure = match data {
            None => format!("the gateway no longer has its file ({})", m.file_name),
            Some(data) => {
                let mut msg = self.media(m, data, m.kind);
                let mut res = retrying(|| self.api.send_media(msg.clone())).await;
                // A photo or voice note Telegram refuses as one (too large a photo, a
                // voice note of a format it does not take, a user who takes no voice
                // messages) goes again as a file.
                if matches!(m.kind, MediaKind::Photo | MediaKind::Audio)
                    && matches!(res, Err(TgError::Api { .. }))
                {
                    msg.kind = MediaKind::Document;
                    res = retrying(|| self.api.send_media(msg.clone())).await;
                }
                match res {
                    Ok(id) => {
                        self.sent([id]);
                        return Ok(());
                    }
                    Err(TgError::Api { description, .. }) => {
                        format!("Telegram refused it: {description}")
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        log::warn!("attachment {} not sent: {failure}", m.path);
        let notice = match self.caption.take() {
            Some(text) => format!("{text}\n\n⚠️ The {noun} could not be sent: {failure}."),
            None => format!("⚠️ The {noun} could not be sent: {failure}."),
        };
        let to = if self.reply_all {
            self.reply_to
        } else {
            self.reply_to.take()
        };
        let sent = send_chunks(
            self.api.clone(),
            self.dest,
            to,
            self.reply_all,
            notice,
            None,
        )
        .await?;
        self.ids.extend(sent);
        Ok(())
    }
}

impl Handler<DeliverReply> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<Vec<i64>, ChannelError>>;

    /// Sends the reply at once (see [`super::durable`]: held only while saves fail); once it
    /// is delivered and its run's lines are synced ([`DeliverReply::recorded`]), its message
    /// leaves the pending list, saved by the next group commit.
    fn handle(&mut self, msg: DeliverReply, ctx: &mut Self::Context) -> Self::Result {
        if let Some(id) = &msg.inbound_id {
            self.stop_typing(id, ctx);
        }
        // The answer is on its way: its progress draft stops changing, and goes once the
        // answer is out.
        let draft_of = msg.inbound_id.clone();
        if let Some(id) = &draft_of {
            self.freeze_draft(id, ctx);
        }
        if msg.text.trim().is_empty() && msg.media.is_empty() {
            if let Some(id) = msg.inbound_id {
                self.finish_draft(&id, ctx);
                let before = self.state.pending.len();
                let ids = self.batches.completed_by(&id);
                self.state.pending.retain(|p| !ids.contains(&p.id));
                if self.state.pending.len() != before {
                    self.changed(ctx);
                    self.resume_if_paused(ctx);
                    return Box::pin(actix::fut::ready(Ok(Vec::new())));
                }
            }
            return Box::pin(actix::fut::ready(Err(ChannelError::EmptyText)));
        }
        // Only a reply to a received message is held (an operator's `send` has no receipt).
        let held = match msg.inbound_id {
            Some(_) => self.hold_while_failing(),
            None => None,
        };
        // The message answered is quoted as `replyToMode` says; a `replyTo` the caller
        // asked for is kept.
        let (reply_to, reply_all) = match (msg.explicit_reply, self.cfg.reply_to_mode) {
            (true, _) | (false, ReplyToMode::First) => (msg.reply_to, false),
            (false, ReplyToMode::All) => (msg.reply_to, true),
            (false, ReplyToMode::Off) => (None, false),
        };
        let limit = self.cfg.text_chunk_limit;
        let no_preview = !self.cfg.link_preview;
        let mut msg = msg;
        if let Some(text) = crate::channel::prefix::apply(
            self.cfg.response_prefix.as_ref(),
            msg.prefix.as_ref(),
            &msg.text,
        ) {
            msg.text = text;
        }
        // Buttons where `capabilities.inlineButtons` shows none (and Mini App buttons
        // outside private chats, where Telegram refuses them) go as text.
        let private = msg.target.chat_id > 0;
        let shown = self.cfg.inline_buttons.allows(private);
        let rows = split_buttons(
            std::mem::take(&mut msg.buttons),
            shown,
            private,
            &mut msg.text,
        );
        let api = self.api.clone();
        let store = self.store.clone();
        let markup = super::api::inline_keyboard(&rows);
        let inbound = msg.inbound_id;
        let recorded = msg.recorded;
        let chat_id = msg.target.chat_id;
        if inbound.is_some() {
            self.durable.delivery_started();
        }
        // Messages to one chat go out in the order they were asked for: each waits for the
        // previous one to that chat (its sender is dropped when it is done).
        let Turn {
            seq,
            previous,
            done,
        } = self.sends.enter(chat_id);
        // From asked to delivered (the wait behind earlier messages to the chat included).
        let delivery_started = std::time::Instant::now();
        let send = async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            if let Some(held) = held {
                // Released once the state is on disk; dropped only if the channel stops.
                if held.await.is_err() {
                    return (
                        Err(TgError::Network("the channel stopped".to_owned())),
                        false,
                    );
                }
            }
            let dest = Dest {
                chat_id: msg.target.chat_id,
                thread_id: msg.target.thread_id,
                limit,
                silent: msg.silent,
                no_preview,
            };
            let res = if msg.media.is_empty() {
                send_chunks(api, dest, reply_to, reply_all, msg.text, markup).await
            } else if markup.is_some() {
                // The files first, then the text with the buttons under it (a caption
                // carries no keyboard once it is split off, and the keyboard belongs to
                // the text).
                let files = send_with_media(
                    api.clone(),
                    store,
                    dest,
                    reply_to,
                    reply_all,
                    String::new(),
                    msg.media,
                )
                .await;
                match files {
                    Ok(mut ids) => {
                        let text = if msg.text.trim().is_empty() {
                            crate::channel::presentation::CONTROLS_ONLY_TEXT.to_owned()
                        } else {
                            msg.text
                        };
                        send_chunks(api, dest, None, false, text, markup)
                            .await
                            .map(|more| {
                                ids.extend(more);
                                ids
                            })
                    }
                    Err(e) => Err(e),
                }
            } else {
                send_with_media(api, store, dest, reply_to, reply_all, msg.text, msg.media).await
            };
            drop(done);
            // The message stays pending until its run's lines are synced (the next message
            // to this chat does not wait for that); for good if the run went away first (the
            // gateway stopping): the restart runs it again.
            let run_gone = match recorded {
                Some(recorded) => recorded.await.is_err(),
                None => false,
            };
            (res, run_gone)
        };
        Box::pin(send.into_actor(self).map(move |(res, run_gone), act, ctx| {
            act.sends.leave(chat_id, seq);
            if let Some(id) = &draft_of {
                act.finish_draft(id, ctx);
            }
            let mut done = None;
            let kind = if inbound.is_some() { "reply" } else { "send" };
            let r = match &res {
                Ok(ids) => crate::stability::Record::of("message.delivery.completed")
                    .outcome("completed")
                    .result_count(ids.len() as u64),
                Err(e) => crate::stability::Record::of("message.delivery.error")
                    .outcome("error")
                    .reason(&e.category())
                    .repeated(),
            };
            crate::stability::record(
                r.channel("telegram")
                    .delivery_kind(kind)
                    .duration(delivery_started.elapsed()),
            );
            match &res {
                Ok(_) => {
                    crate::metrics::METRICS.channel_out.inc();
                    act.status.last_outbound_at_ms = Some(now_ms());
                    done = inbound.clone();
                }
                // A permanent refusal of this chat (chat gone, bot blocked: 400/403) will
                // not get better on a restart: stop retrying that message. A rejected token
                // (401) and transient failures keep it pending for the next start.
                Err(TgError::Api { .. }) => {
                    done = inbound.clone();
                }
                Err(_) => {}
            }
            if let Err(e) = &res {
                crate::metrics::METRICS.channel_errors.inc();
                log::warn!(
                    "telegram[{}]: reply to chat {chat_id} not delivered: {e}",
                    act.cfg.account_id
                );
                act.status.last_delivery_error = Some(format!(
                    "chat {chat_id}: {e}{}",
                    if done.is_some() {
                        " (message dropped)"
                    } else {
                        " (message kept pending)"
                    }
                ));
                act.status.last_delivery_error_at_ms = Some(now_ms());
            }
            if run_gone {
                done = None;
            }
            if let Some(id) = done {
                let before = act.state.pending.len();
                // With the messages batched into its turn.
                let ids = act.batches.completed_by(&id);
                act.state.pending.retain(|p| !ids.contains(&p.id));
                if act.state.pending.len() != before {
                    act.changed(ctx);
                }
            }
            if inbound.is_some() {
                act.durable.delivery_settled();
            }
            act.resume_if_paused(ctx);
            res.map_err(|e| ChannelError::Delivery(e.to_string()))
        }))
    }
}
