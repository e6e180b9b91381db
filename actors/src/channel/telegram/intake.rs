//! Taking updates in: identifying the bot, polling `getUpdates` (or registering the
//! webhook), the DM and group policies, DM pairing codes, and the durable batch that
//! persists accepted messages before they are confirmed to Telegram.

use actix::prelude::*;

use super::api::{TgMessage, TgPhotoSize, TgUpdate, TgUser};
use super::*;
use crate::channel::{InboundMedia, InboundMessage};

impl TelegramChannel {
    // --- startup ---

    pub(super) fn identify(&mut self, ctx: &mut Context<Self>) {
        if self.operator_stopped {
            return;
        }
        let generation = self.generation;
        self.api
            .get_me()
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                // The bot was swapped meanwhile: the new one identifies itself.
                _ if act.generation != generation => {}
                Ok(me) => {
                    log::info!(
                        "telegram[{}]: connected as @{}",
                        act.cfg.account_id,
                        me.username.as_deref().unwrap_or("?")
                    );
                    act.status.bot_username = me.username.clone();
                    act.status.bot_id = Some(me.id);
                    act.me = Some(me);
                    act.recovered();
                    act.register_commands(0, ctx);
                    if act.cfg.webhook.is_none() {
                        act.start_polling(ctx);
                    } else {
                        act.register_webhook(ctx);
                    }
                }
                Err(e) => {
                    log::warn!("telegram[{}]: getMe failed: {e}", act.cfg.account_id);
                    act.record_error(&e);
                    let d = act.next_backoff(&e);
                    ctx.run_later(d, move |act, ctx| {
                        if act.generation == generation {
                            act.identify(ctx);
                        }
                    });
                }
            })
            .spawn(ctx);
    }

    /// Registers the chat commands (and, with `native_skills`, the default agent's skill
    /// commands after them) as the bot's menu, or clears it (`native_commands: false`):
    /// cosmetic, so a failure is logged and retried a few times, never fatal. One call at a
    /// time: a registration asked for meanwhile (a config reload, a bot swap) runs after it,
    /// with the settings then in force, so the last one asked for is the one that stays.
    pub(super) fn register_commands(&mut self, attempt: u32, ctx: &mut Context<Self>) {
        const ATTEMPTS: u32 = 4;
        if self.menu.busy {
            self.menu.again = true;
            return;
        }
        self.menu.busy = true;
        let native = self.cfg.native_commands;
        let api = self.api.clone();
        let skills = self
            .skills_menu
            .as_ref()
            .filter(|_| native && self.cfg.native_skills)
            .map(|r| r.send(crate::registry::channels::MenuSkills));
        let call = async move {
            if !native {
                return api.delete_my_commands().await;
            }
            let mut menu: Vec<(String, String)> = crate::registry::chat_commands::MENU
                .iter()
                .map(|(c, d)| ((*c).to_owned(), (*d).to_owned()))
                .collect();
            if let Some(skills) = skills {
                let chat = menu.len();
                for (command, description) in skills.await.unwrap_or_default() {
                    if !menu[..chat].iter().any(|(c, _)| *c == command) {
                        menu.push((command, description));
                    }
                }
            }
            api.set_my_commands(menu).await
        };
        call.into_actor(self)
            .map(move |res, act, ctx| {
                act.menu.busy = false;
                if std::mem::take(&mut act.menu.again) {
                    return act.register_commands(0, ctx);
                }
                let what = if native {
                    "setMyCommands"
                } else {
                    "deleteMyCommands"
                };
                match res {
                    Ok(()) => log::debug!("telegram[{}]: {what} done", act.cfg.account_id),
                    Err(e) if attempt + 1 < ATTEMPTS && !matches!(e, TgError::Api { .. }) => {
                        log::warn!(
                            "telegram[{}]: {what} failed: {e}; retrying",
                            act.cfg.account_id
                        );
                        let wait = std::time::Duration::from_secs(5 << attempt);
                        ctx.run_later(wait, move |act, ctx| act.register_commands(attempt + 1, ctx));
                    }
                    Err(e) => log::warn!(
                        "telegram[{}]: {what} failed: {e}; the bot's command menu is not updated (the commands still work)",
                        act.cfg.account_id
                    ),
                }
            })
            .spawn(ctx);
    }

    pub(super) fn register_webhook(&mut self, ctx: &mut Context<Self>) {
        let Some((url, secret)) = self.cfg.webhook.clone() else {
            return;
        };
        let generation = self.generation;
        self.api
            .set_webhook(url, secret)
            .into_actor(self)
            .map(move |res, act, ctx| {
                if let Err(e) = res
                    && act.generation == generation
                {
                    log::warn!("telegram[{}]: setWebhook failed: {e}", act.cfg.account_id);
                    act.record_error(&e);
                    let d = act.next_backoff(&e);
                    ctx.run_later(d, move |act, ctx| {
                        if act.generation == generation {
                            act.register_webhook(ctx);
                        }
                    });
                }
            })
            .spawn(ctx);
    }

    pub(super) fn start_polling(&mut self, ctx: &mut Context<Self>) {
        // A webhook left over from another deployment makes getUpdates fail with 409.
        let generation = self.generation;
        self.api
            .delete_webhook()
            .into_actor(self)
            .map(move |_, act, ctx| {
                if act.generation == generation {
                    act.poll(ctx);
                }
            })
            .spawn(ctx);
    }

    // --- polling ---

    pub(super) fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.operator_stopped {
            // `channels.start` polls again.
            return;
        }
        // Only what is on disk is confirmed to Telegram.
        let offset = self.durable.saved_offset;
        let generation = self.generation;
        self.api
            .get_updates(offset, self.cfg.poll_timeout_s)
            .into_actor(self)
            .map(move |res, act, ctx| {
                if act.generation != generation {
                    // The previous bot's poll: the new bot polls on its own.
                    return;
                }
                act.status.last_poll_at_ms = Some(now_ms());
                match res {
                    Ok(updates) => act.accept_updates(updates, ctx),
                    Err(e) => {
                        log::warn!("telegram[{}]: getUpdates failed: {e}", act.cfg.account_id);
                        act.record_error(&e);
                        let d = act.next_backoff(&e);
                        ctx.run_later(d, move |act, ctx| {
                            if act.generation == generation {
                                act.poll(ctx);
                            }
                        });
                    }
                }
            })
            .spawn(ctx);
    }

    /// Applies policy to a batch and hands the accepted messages to the registry at once;
    /// the state (offset + pending) goes to disk by group commit meanwhile, and the next
    /// `getUpdates`, which confirms the batch to Telegram, waits for it (see [`super::durable`]).
    /// Pairing notices go out once their codes are on disk. Polling pauses instead when the
    /// pending list is full (a delivered reply resumes it).
    pub(super) fn accept_updates(&mut self, updates: Vec<TgUpdate>, ctx: &mut Context<Self>) {
        if updates.is_empty() {
            self.recovered();
            return self.next_poll(false, ctx);
        }
        let batch = self.apply(updates);
        if batch.accepted.is_empty()
            && batch.replies.is_empty()
            && batch.old_offset == self.state.offset
        {
            // Nothing changed (every update was already confirmed, or the backlog is full):
            // no write.
            self.recovered();
            return self.next_poll(batch.hit_cap, ctx);
        }
        let version = self.changed(ctx);
        let hit_cap = batch.hit_cap;
        self.commit(batch, version, ctx);
        self.next_poll(hit_cap, ctx);
    }

    /// Polls again once the offset it would confirm is on disk, or pauses while the pending
    /// list is full.
    pub(super) fn next_poll(&mut self, hit_cap: bool, ctx: &mut Context<Self>) {
        if self.durable.saved_offset != self.state.offset {
            // Resumed by `durable::saved` once the offset is durable.
            self.durable.poll_waiting = Some(hit_cap);
            return;
        }
        if hit_cap && self.state.pending.len() >= MAX_PENDING_INBOUND {
            if !self.status.backlog_full {
                log::warn!(
                    "telegram[{}]: {MAX_PENDING_INBOUND} messages wait for replies; polling pauses until one is answered",
                    self.cfg.account_id
                );
            }
            self.status.backlog_full = true;
        } else {
            self.status.backlog_full = false;
            self.poll(ctx);
        }
    }

    /// A pending message left the list: resume polling if it was paused for the backlog.
    pub(super) fn resume_if_paused(&mut self, ctx: &mut Context<Self>) {
        if self.status.backlog_full && self.state.pending.len() < MAX_PENDING_INBOUND {
            self.status.backlog_full = false;
            if self.cfg.webhook.is_none() {
                self.next_poll(false, ctx);
            }
        }
    }

    /// Applies policy to updates, changing the state in memory (offset, pending, pairing
    /// codes). The caller records the change ([`Self::changed`]) and hands the batch over.
    pub(super) fn apply(&mut self, updates: Vec<TgUpdate>) -> Batch {
        let old_offset = self.state.offset;
        let mut accepted = Vec::new();
        let mut replies = Vec::new();
        let mut hit_cap = false;
        let mut callbacks = Vec::new();
        let mut pressed = Vec::new();
        for u in updates {
            if self.state.offset.is_some_and(|o| u.update_id < o) {
                continue; // already confirmed
            }
            if self.state.pending.len() >= MAX_PENDING_INBOUND {
                hit_cap = true;
                break; // leave the rest unconfirmed at Telegram
            }
            self.state.offset = Some(u.update_id + 1);
            let Some(msg) = u.message else {
                if let Some(cb) = u.callback_query {
                    // A press of a caller's button is a message from the presser, under
                    // the same policy as one they typed.
                    let routed = match self.pressed(&cb) {
                        Some(msg) => {
                            let mut state = std::mem::take(&mut self.state);
                            let decision = self.classify(&msg, &mut state);
                            self.state = state;
                            match decision {
                                Decision::Accept(text) | Decision::AcceptUnaddressed(text) => {
                                    let taken = self.take(u.update_id, &msg, text, false);
                                    if let Some(m) = &taken {
                                        pressed.push(m.id.clone());
                                    }
                                    accepted.extend(taken);
                                    true
                                }
                                Decision::Reply(text) => {
                                    replies.push((msg.chat.id, msg.message_thread_id, text));
                                    false
                                }
                                Decision::Observe(_) | Decision::Drop(_) => {
                                    log::debug!(
                                        "telegram[{}]: button press in chat {} not taken (the chat's policy)",
                                        self.cfg.account_id,
                                        msg.chat.id
                                    );
                                    false
                                }
                            }
                        }
                        None => false,
                    };
                    callbacks.push((cb, routed));
                }
                continue;
            };
            let mut state = std::mem::take(&mut self.state);
            let decision = self.classify(&msg, &mut state);
            self.state = state;
            match decision {
                Decision::Observe(text) => {
                    let seen = self.inbound(u.update_id, &msg, text);
                    self.history.observe(&seen, self.cfg.history_limit);
                }
                Decision::Accept(text) => {
                    accepted.extend(self.take(u.update_id, &msg, text, false));
                }
                Decision::AcceptUnaddressed(text) => {
                    accepted.extend(self.take(u.update_id, &msg, text, true));
                }
                Decision::Reply(text) => replies.push((msg.chat.id, msg.message_thread_id, text)),
                Decision::Drop(why) => {
                    log::debug!(
                        "telegram[{}]: dropped update {} (chat {}): {why}",
                        self.cfg.account_id,
                        u.update_id,
                        msg.chat.id
                    );
                    // Once per group: the id the owner needs to list it.
                    if why == UNLISTED_GROUP && self.unlisted.note(msg.chat.id) {
                        log::info!(
                            "telegram[{}]: group {} is not in channels.telegram.groups, so the bot ignores it; add \"{}\" there (or \"*\") to answer in it",
                            self.cfg.account_id,
                            msg.chat.id,
                            msg.chat.id
                        );
                    }
                }
            }
        }
        Batch {
            old_offset,
            accepted,
            replies,
            callbacks,
            pressed,
            hit_cap,
        }
    }

    /// Hands a batch's accepted messages to the registry (now: the model call overlaps the
    /// save of `version`) and queues its pairing notices until `version` is on disk.
    pub(super) fn commit(&mut self, batch: Batch, version: u64, ctx: &mut Context<Self>) {
        if !batch.accepted.is_empty() {
            self.status.last_inbound_at_ms = Some(now_ms());
        }
        for m in batch.accepted {
            crate::metrics::METRICS.channel_in.inc();
            crate::stability::record(
                crate::stability::Record::of("message.received").channel("telegram"),
            );
            // A button press gets no ack reaction (its message is the bot's own).
            if !batch.pressed.contains(&m.id) {
                self.acknowledge(&m, ctx);
            }
            self.batch_or_hand_over(m, ctx);
        }
        for notice in batch.replies {
            self.notice_when_saved(version, notice, ctx);
        }
        for (cb, routed) in batch.callbacks {
            self.on_button(cb, routed, ctx);
        }
    }

    /// A message taken: its group's recent history attached, and pending (`None`: it
    /// already was, an update seen twice). `unaddressed`: a group message taken without a
    /// mention (`requireMention: false`).
    fn take(
        &mut self,
        update_id: i64,
        msg: &TgMessage,
        text: String,
        unaddressed: bool,
    ) -> Option<InboundMessage> {
        let mut inbound = self.inbound(update_id, msg, text);
        inbound.unaddressed = unaddressed;
        if inbound.chat_type != "private" {
            inbound.history = self.history.take(&inbound);
        }
        if self.state.pending.iter().any(|p| p.id == inbound.id) {
            return None;
        }
        if inbound.chat_type != "private"
            && let Some(album) = &inbound.media_group
        {
            self.batches
                .note_album(inbound.chat_id, inbound.sender_id, album);
        }
        self.state.pending.push(inbound.clone());
        Some(inbound)
    }

    pub(super) fn inbound(&self, update_id: i64, msg: &TgMessage, text: String) -> InboundMessage {
        let from = msg.from.clone();
        InboundMessage {
            id: format!("telegram:{}:{update_id}", self.cfg.account_id),
            channel: KIND.id.into(),
            account_id: self.cfg.account_id.clone(),
            chat_id: msg.chat.id,
            chat_type: msg.chat.kind.clone(),
            thread_id: msg.message_thread_id,
            sender_id: from.as_ref().map(|u| u.id).unwrap_or(msg.chat.id),
            sender_name: from
                .as_ref()
                .map(|u| u.first_name.clone())
                .unwrap_or_default(),
            sender_username: from.and_then(|u| u.username),
            message_id: msg.message_id,
            text,
            ts: now_ms(),
            media: inbound_media(msg),
            // Bounded: Telegram's ids are short; anything longer is not an album we group.
            media_group: msg
                .media_group_id
                .clone()
                .filter(|g| !g.is_empty() && g.len() <= 64),
            public: msg.chat.kind == "private"
                && self.cfg.dm_policy == DmPolicy::Open
                && !allowed_exact(
                    &self.cfg.allow_from,
                    msg.from.as_ref().map_or(msg.chat.id, |u| u.id),
                ),
            ..Default::default()
        }
    }

    /// Decides what to do with one message.
    pub(super) fn classify(&self, msg: &TgMessage, state: &mut ChannelState) -> Decision {
        // A photo, a file or a voice message without a caption still reaches the agent
        // (which is told what it got).
        let text = msg
            .text
            .clone()
            .or_else(|| msg.caption.clone())
            .or_else(|| (!inbound_media(msg).is_empty()).then(String::new));
        let Some(text) = text else {
            return Decision::Drop("no text");
        };
        let Some(from) = &msg.from else {
            return Decision::Drop("no sender");
        };
        if from.is_bot {
            return Decision::Drop("from a bot");
        }
        if msg.chat.kind == "private" {
            return self.classify_dm(from, text, state);
        }
        if msg.chat.kind != "group" && msg.chat.kind != "supergroup" {
            return Decision::Drop("unsupported chat type");
        }
        let Some(groups) = &self.cfg.groups else {
            // No `groups` map: `groupPolicy` and `groupAllowFrom` (group or sender ids).
            match self.cfg.group_policy {
                GroupPolicy::Disabled => return Decision::Drop("groups disabled"),
                GroupPolicy::Allowlist => {
                    if !allowed(&self.cfg.group_allow_from, msg.chat.id)
                        && !allowed(&self.cfg.group_allow_from, from.id)
                    {
                        return Decision::Drop("group not allowed");
                    }
                }
                GroupPolicy::Open => {}
            }
            return match self.addressed_to_me(msg, &text) {
                Some(stripped) => Decision::Accept(stripped),
                None if self.album_of_taken(msg, from.id) => Decision::Accept(text),
                None => Decision::Observe(text),
            };
        };
        let Some(rule) = groups.admission(
            msg.chat.id,
            msg.message_thread_id,
            self.cfg.group_policy,
            &self.cfg.group_allow_from,
            &self.cfg.allow_from,
        ) else {
            return Decision::Drop(UNLISTED_GROUP);
        };
        if !rule.enabled {
            return Decision::Drop("group (or topic) disabled in channels.telegram.groups");
        }
        match rule.policy {
            GroupPolicy::Disabled => return Decision::Drop("groups disabled"),
            GroupPolicy::Allowlist if !allowed(rule.allow_from, from.id) => {
                return Decision::Drop("sender not allowed in this group");
            }
            GroupPolicy::Allowlist | GroupPolicy::Open => {}
        }
        match self.addressed_to_me(msg, &text) {
            Some(stripped) => Decision::Accept(stripped),
            None if !rule.require_mention => Decision::AcceptUnaddressed(text),
            None if self.album_of_taken(msg, from.id) => Decision::Accept(text),
            None => Decision::Observe(text),
        }
    }

    /// Whether `msg` is a later part of an album whose earlier part addressed the bot.
    fn album_of_taken(&self, msg: &TgMessage, sender: i64) -> bool {
        msg.media_group_id
            .as_deref()
            .is_some_and(|g| self.batches.album_taken(msg.chat.id, sender, g))
    }

    pub(super) fn classify_dm(
        &self,
        from: &TgUser,
        text: String,
        state: &mut ChannelState,
    ) -> Decision {
        match self.cfg.dm_policy {
            DmPolicy::Disabled => Decision::Drop("DMs disabled"),
            DmPolicy::Open => {
                if allowed(&self.cfg.allow_from, from.id)
                    || self.cfg.allow_from.iter().any(|a| a == "*")
                {
                    Decision::Accept(text)
                } else {
                    Decision::Drop("open policy without \"*\" in allowFrom")
                }
            }
            DmPolicy::Allowlist => {
                if allowed_exact(&self.cfg.allow_from, from.id) {
                    Decision::Accept(text)
                } else {
                    Decision::Drop("sender not in allowFrom")
                }
            }
            DmPolicy::Pairing => {
                if allowed_exact(&self.cfg.allow_from, from.id) || state.approved.contains(&from.id)
                {
                    return Decision::Accept(text);
                }
                let now = now_ms();
                state
                    .pairing
                    .retain(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS);
                if let Some(p) = state.pairing.iter_mut().find(|p| p.user_id == from.id) {
                    if now.saturating_sub(p.last_sent_at_ms) < 60_000 {
                        return Decision::Drop("pairing code already sent");
                    }
                    p.last_sent_at_ms = now;
                    return Decision::Reply(pairing_text(from.id, &p.code));
                }
                if state.pairing.len() >= MAX_PENDING_PAIRING {
                    return Decision::Drop("too many pending pairing requests");
                }
                let code = new_code();
                state.pairing.push(PairingCode {
                    code: code.clone(),
                    user_id: from.id,
                    name: from.first_name.clone(),
                    username: from.username.clone(),
                    created_at_ms: now,
                    last_sent_at_ms: now,
                });
                Decision::Reply(pairing_text(from.id, &code))
            }
        }
    }

    /// In groups the bot answers only when mentioned or replied to. Returns the text with
    /// the mention removed.
    pub(super) fn addressed_to_me(&self, msg: &TgMessage, text: &str) -> Option<String> {
        addressed_to(self.me.as_ref()?, msg, text).or_else(|| {
            // A mention pattern: the text stays as written.
            self.names_me(msg, text).then(|| text.to_owned())
        })
    }

    /// Whether `text` matches the mention patterns of the group's agent: its own
    /// `groupChat.mentionPatterns`, else `messages.groupChat.mentionPatterns`, else those
    /// its identity gives (OpenClaw's order).
    fn names_me(&self, msg: &TgMessage, text: &str) -> bool {
        if !self
            .cfg
            .mention_scope
            .enabled(msg.chat.id, msg.message_thread_id)
        {
            return false;
        }
        let chat = crate::agents::ChatRef {
            channel: KIND.id,
            account: &self.cfg.account_id,
            chat_type: &msg.chat.kind,
            chat_id: msg.chat.id,
            thread_id: msg.message_thread_id,
            // As the registry routes it (a message without a sender counts as the chat's).
            sender_id: msg.from.as_ref().map_or(msg.chat.id, |f| f.id),
        };
        crate::agents::with_chat_mentions(&chat, |mentions| {
            match (
                mentions.and_then(|m| m.own.as_ref()),
                &self.cfg.mention_patterns,
            ) {
                (Some(own), _) => own.matches(text),
                (None, Some(global)) => global.matches(text),
                (None, None) => mentions
                    .and_then(|m| m.derived.as_ref())
                    .is_some_and(|d| d.matches(text)),
            }
        })
    }
}

/// Why a message of a group the `groups` map does not list is dropped.
const UNLISTED_GROUP: &str = "group not in channels.telegram.groups";

/// Groups already reported as unlisted (bounded: forgotten all at once when full).
#[derive(Default)]
pub(super) struct Unlisted(std::collections::HashSet<i64>);

impl Unlisted {
    /// Most groups remembered.
    const MAX: usize = 256;

    /// Whether `chat` is reported for the first time (and remembers it).
    pub(super) fn note(&mut self, chat: i64) -> bool {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(chat)
    }
}

pub(super) enum Decision {
    Accept(String),
    /// A message of a group with `requireMention: false` that does not address the bot:
    /// taken all the same.
    AcceptUnaddressed(String),
    Reply(String),
    Drop(&'static str),
    /// A message of an allowed group that does not address the bot: remembered as the
    /// group's recent history ([`super::history`]).
    Observe(String),
}

/// A batch of updates applied to the state in memory.
pub(super) struct Batch {
    pub(super) old_offset: Option<i64>,
    pub(super) accepted: Vec<InboundMessage>,
    pub(super) replies: Vec<(i64, Option<i64>, String)>,
    /// Button presses, each with whether it was taken as a message (then its buttons are
    /// taken away); each is answered at once.
    pub(super) callbacks: Vec<(super::api::TgCallbackQuery, bool)>,
    /// The ids of the messages taken from button presses.
    pub(super) pressed: Vec<String>,
    /// Updates were left unconfirmed because the pending list is full.
    pub(super) hit_cap: bool,
}

/// The media of a message: the largest photo size Telegram lets a bot download (20 MB), a
/// file, and the kinds the gateway only mentions.
pub fn inbound_media(msg: &TgMessage) -> Vec<InboundMedia> {
    let mut out = Vec::new();
    let fits = |s: &&TgPhotoSize| s.file_size.is_none_or(|n| n <= MAX_DOWNLOAD_BYTES as u64);
    // The largest size that may be downloaded; with none, the smallest (its fetch then
    // fails as too large, and the agent is told).
    let best = msg.photo.as_ref().and_then(|sizes| {
        sizes
            .iter()
            .filter(fits)
            .max_by_key(|s| s.width.saturating_mul(s.height))
            .or_else(|| sizes.iter().min_by_key(|s| s.file_size))
    });
    if let Some(best) = best {
        out.push(InboundMedia {
            kind: "photo".into(),
            file_id: Some(best.file_id.clone()),
            file_size: best.file_size,
            ..Default::default()
        });
    }
    for (file, kind) in [
        (&msg.document, "document"),
        (&msg.voice, "voice"),
        (&msg.audio, "audio"),
        (&msg.video_note, "video_note"),
    ] {
        if let Some(d) = file {
            out.push(InboundMedia {
                kind: kind.into(),
                file_id: Some(d.file_id.clone()),
                file_size: d.file_size,
                file_name: d.file_name.clone(),
                mime: d.mime_type.clone(),
            });
        }
    }
    for (present, kind) in [
        (msg.video.is_some(), "video"),
        (msg.sticker.is_some(), "sticker"),
    ] {
        if present {
            out.push(InboundMedia {
                kind: kind.into(),
                ..Default::default()
            });
        }
    }
    out
}

/// The largest file a bot may download from Telegram.
pub const MAX_DOWNLOAD_BYTES: usize = 20 * 1000 * 1000;

pub(super) fn parse_id(entry: &str) -> Option<i64> {
    let e = entry.trim();
    let e = e
        .strip_prefix("telegram:")
        .or_else(|| e.strip_prefix("tg:"))
        .unwrap_or(e);
    e.parse().ok()
}

pub(super) fn allowed_exact(list: &[String], id: i64) -> bool {
    list.iter().any(|e| parse_id(e) == Some(id))
}

pub(super) fn allowed(list: &[String], id: i64) -> bool {
    list.iter().any(|e| e.trim() == "*") || allowed_exact(list, id)
}

pub(super) fn new_code() -> String {
    crate::util::random_bytes::<8>()
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

pub(super) fn pairing_text(user_id: i64, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour Telegram user id: {user_id}\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve telegram {code}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_allowlists() {
        let c = new_code();
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let list = vec!["123".to_owned(), "tg:456".to_owned()];
        assert!(allowed_exact(&list, 123));
        assert!(allowed_exact(&list, 456));
        assert!(!allowed_exact(&list, 789));
        assert!(allowed(&["*".to_owned()], 789));
        assert!(pairing_text(5, "ABCD2345").contains("openclaw pairing approve telegram ABCD2345"));
    }
}
