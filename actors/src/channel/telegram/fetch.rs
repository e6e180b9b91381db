//! Received media: before a message with a photo (or an image sent as a file) is handed to
//! the registry, the channel fetches the image (`getFile`, then the download, at most
//! 20 MB as the Bot API allows), checks by its bytes that it is one, and keeps it under
//! `media/inbound` (0600, pruned like the outbound files); the agent run then shows it to a
//! model that sees images. Media the gateway does not read (voice, video, stickers, other
//! files) and a fetch that failed become notes the agent reads, so it can say so instead of
//! the message going unanswered.
//!
//! Handing over keeps each chat's order: a message waits for the one before it in its chat
//! (a fetch takes a while); other chats do not wait. The pending message keeps only the
//! file ids, so a restart fetches again.

use actix::prelude::*;

use super::api::TelegramApi;
use super::intake::MAX_DOWNLOAD_BYTES;
use super::send::retrying;
use super::*;
use crate::channel::{InboundMedia, InboundMessage};
use crate::media::{INBOUND_DIR, MediaKind, MediaRef};
use crate::metrics::{MediaDirection, MediaOutcome};

/// Image types fetched when sent as a file (by the sender's app's word; the bytes decide).
const IMAGE_FILES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

impl TelegramChannel {
    /// Hands `m` to the registry: at once when it has no media and nothing of its chat is
    /// still being fetched, else after the fetch and after its chat's earlier messages.
    pub(super) fn hand_over(&mut self, mut m: InboundMessage, ctx: &mut Context<Self>) {
        let reply_to = ctx.address().recipient();
        let chat = m.chat_id;
        if m.media.is_empty() && !self.handovers.busy(chat) {
            self.registry.do_send(InboundReceived { msg: m, reply_to });
            return;
        }
        let Turn {
            seq,
            previous,
            done,
        } = self.handovers.enter(chat);
        let api = self.api.clone();
        let store = self.store.clone();
        let registry = self.registry.clone();
        let fut = async move {
            if let Some(p) = previous {
                let _ = p.await;
            }
            fetch_media(api.as_ref(), &store, &mut m).await;
            registry.do_send(InboundReceived { msg: m, reply_to });
            drop(done);
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |_, act, _| act.handovers.leave(chat, seq)),
        );
    }
}

/// What the user is told they sent.
fn noun(m: &InboundMedia) -> String {
    match m.kind.as_str() {
        "photo" => "a photo".into(),
        "document" => match &m.file_name {
            Some(n) => format!("a file ({})", n.chars().take(80).collect::<String>()),
            None => "a file".into(),
        },
        "voice" => "a voice message".into(),
        "audio" => "an audio file".into(),
        "video" => "a video".into(),
        "video_note" => "a video message".into(),
        "sticker" => "a sticker".into(),
        other => format!("a {other}"),
    }
}

/// Fetches `m`'s images into its `attached` files and notes the rest in its `media_notes`.
pub(super) async fn fetch_media(
    api: &dyn TelegramApi,
    store: &Addr<crate::store::StoreActor>,
    m: &mut InboundMessage,
) {
    for item in m.media.clone().iter().take(crate::media::MAX_ATTACHMENTS) {
        let what = noun(item);
        let fetchable = item.kind == "photo"
            || (item.kind == "document"
                && item
                    .mime
                    .as_deref()
                    .is_some_and(|t| IMAGE_FILES.contains(&t)));
        let count = |o| crate::metrics::METRICS.media(MediaDirection::Inbound, o);
        let Some(file_id) = item.file_id.clone().filter(|_| fetchable) else {
            count(MediaOutcome::Refused);
            m.media_notes.push(format!(
                "The user sent {what}; this gateway cannot read it yet (it reads text, photos and images sent as files)."
            ));
            continue;
        };
        match fetch_one(api, store, file_id, item.file_size).await {
            Ok(r) => {
                count(MediaOutcome::Kept);
                m.attached.push(r);
            }
            Err((outcome, why)) => {
                count(outcome);
                log::warn!("telegram: {what} in {} not fetched: {why}", m.id);
                m.media_notes.push(format!(
                    "The user sent {what} that could not be fetched: {why}."
                ));
            }
        }
    }
}

async fn fetch_one(
    api: &dyn TelegramApi,
    store: &Addr<crate::store::StoreActor>,
    file_id: String,
    size: Option<u64>,
) -> Result<MediaRef, (MediaOutcome, String)> {
    use MediaOutcome::{Failed, Refused};
    let too_large = || {
        (
            Refused,
            format!("it is larger than {} MB", MAX_DOWNLOAD_BYTES / 1_000_000),
        )
    };
    if size.is_some_and(|s| s > MAX_DOWNLOAD_BYTES as u64) {
        return Err(too_large());
    }
    let file = retrying(|| api.get_file(file_id.clone()))
        .await
        .map_err(|e| (Failed, format!("Telegram did not give it out ({e})")))?;
    let path = file.file_path.ok_or_else(|| {
        (
            Failed,
            "Telegram did not give it out (no file path)".to_owned(),
        )
    })?;
    let data = retrying(|| api.download_file(path.clone(), MAX_DOWNLOAD_BYTES))
        .await
        .map_err(|e| match e {
            TgError::Api { code: 413, .. } => too_large(),
            e => (Failed, format!("the download failed ({e})")),
        })?;
    let (mime, ext, kind) = crate::media::sniff(&data)
        .filter(|(_, _, k)| matches!(k, MediaKind::Photo | MediaKind::Animation))
        .ok_or_else(|| {
            (
                Refused,
                "it is not a JPEG, PNG, WebP or GIF image".to_owned(),
            )
        })?;
    let extracted = crate::media::Extracted {
        data,
        mime,
        ext,
        kind,
    };
    crate::media::save_in(store, INBOUND_DIR, extracted, "telegram")
        .await
        .map_err(|e| (Failed, format!("the gateway could not save it ({e})")))
}
