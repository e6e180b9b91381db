//! Received media: before a message with a photo (or an image sent as a file) is handed to
//! the registry, the channel fetches the image (`getFile`, then the download, at most
//! 20 MB as the Bot API allows), checks by its bytes that it is one, and keeps it under
//! `media/inbound` (0600, pruned like the outbound files); the agent run then shows it to a
//! model that sees images. Voice notes and audio files are fetched the same way while
//! transcription is configured ([`crate::hearing`]); the run has them transcribed. Media the
//! gateway does not read (video, stickers, other files, audio with transcription off) and a
//! fetch that failed become notes the agent reads, so it can say so instead of the message
//! going unanswered.
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
        let mode = self.cfg.streaming.mode;
        m.progress = (mode != crate::channel::progress::StreamMode::Off).then(|| {
            crate::channel::progress::ProgressSink {
                to: ctx.address().recipient(),
                answer_text: mode.previews_text(),
            }
        });
        let chat = m.chat_id;
        self.start_typing(&m.id, m.target(), ctx);
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
        let audio = self.audio_in.on();
        let fut = async move {
            if let Some(p) = previous {
                let _ = p.await;
            }
            fetch_media(api.as_ref(), &store, &mut m, audio).await;
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

/// What a fetched file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A JPEG, PNG, WebP or GIF image.
    Image,
    /// Audio (`declared`: the sender's app called it a voice note or audio).
    Audio { declared: bool },
}

/// Fetches `m`'s images (and its audio when `audio`: transcription is on) into its
/// `attached` files and notes the rest in its `media_notes`.
pub(super) async fn fetch_media(
    api: &dyn TelegramApi,
    store: &Addr<crate::store::StoreActor>,
    m: &mut InboundMessage,
    audio: bool,
) {
    let beyond = m.media.len().saturating_sub(crate::media::MAX_ATTACHMENTS);
    if beyond > 0 {
        m.media_notes.push(format!(
            "The user sent {} files at once; only the first {} are read here ({beyond} not).",
            m.media.len(),
            crate::media::MAX_ATTACHMENTS
        ));
    }
    for item in m.media.clone().iter().take(crate::media::MAX_ATTACHMENTS) {
        let what = noun(item);
        let mime = item.mime.as_deref().unwrap_or("");
        let want = match item.kind.as_str() {
            "photo" => Some(Want::Image),
            "document" if IMAGE_FILES.contains(&mime) => Some(Want::Image),
            // A round video message is heard through its sound track.
            "voice" | "audio" | "video_note" if audio => Some(Want::Audio { declared: true }),
            "document" if audio && mime.starts_with("audio/") => {
                Some(Want::Audio { declared: true })
            }
            _ => None,
        };
        let count = |o| crate::metrics::METRICS.media(MediaDirection::Inbound, o);
        let (Some(file_id), Some(want)) = (item.file_id.clone(), want) else {
            count(MediaOutcome::Refused);
            let heard = matches!(item.kind.as_str(), "voice" | "audio" | "video_note")
                || mime.starts_with("audio/");
            m.media_notes.push(if heard {
                format!(
                    "The user sent {what}; this gateway cannot transcribe it (no transcription model is configured: tools.media.audio)."
                )
            } else {
                format!(
                    "The user sent {what}; this gateway cannot read it yet (it reads text, photos, images sent as files and, with transcription configured, voice messages)."
                )
            });
            continue;
        };
        match fetch_one(api, store, file_id, item.file_size, want).await {
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
    want: Want,
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
    let typed = match want {
        Want::Image => crate::media::sniff(&data)
            .filter(|(_, _, k)| matches!(k, MediaKind::Photo | MediaKind::Animation))
            .ok_or("it is not a JPEG, PNG, WebP or GIF image"),
        Want::Audio { declared } => crate::hearing::sniff_audio(&data, declared)
            .map(|(mime, ext)| (mime, ext, MediaKind::Audio))
            .ok_or("it is not an audio file this gateway knows (OGG, MP3, AAC, M4A, WAV, FLAC, AMR, WebM)"),
    };
    let (mime, ext, kind) = typed.map_err(|why| (Refused, why.to_owned()))?;
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
