//! Voice messages (OpenClaw's `tools.media.audio`): a voice note or audio file a chat sends
//! is fetched like a photo (`media/inbound`, 0600, pruned), then the agent run has it
//! transcribed ([`crate::ports::Transcriber`]: a provider's OpenAI-compatible
//! `/audio/transcriptions` or a local CLI such as whisper.cpp, tried in order) and the
//! user's message becomes OpenClaw's `[Audio]` block:
//!
//! ```text
//! [Audio]
//! User text:
//! <the caption, if any>
//! Transcript:
//! <what was said>
//! ```
//!
//! That text is what the transcript records and the model reads; the audio itself never
//! reaches the chat model. A voice note that could not be transcribed (none of the entries
//! worked, too large, too short, out of `scope`) becomes a note the agent reads, so the
//! user gets an answer instead of silence.
//!
//! What a stranger controls here is the audio's bytes and length: the type is taken from
//! the bytes ([`sniff_audio`]), the size is bounded before the download and again before
//! each entry (`maxBytes`), every entry has a timeout, a CLI's output is bounded, and the
//! transcript is cut to `maxChars` (and to [`MAX_TRANSCRIPT_CHARS`] in any case).

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ports::Transcriber;

/// Largest transcript kept, whatever `maxChars` says (about an hour of speech).
pub const MAX_TRANSCRIPT_CHARS: usize = 64 * 1024;

/// Audio shorter than this is not sent to a transcriber (OpenClaw's rule: it is empty or
/// corrupt).
pub const MIN_AUDIO_BYTES: u64 = 1024;

/// OpenClaw's default `echoFormat`.
pub const DEFAULT_ECHO_FORMAT: &str = "📝 \"{transcript}\"";

/// Transcription as configured: the transcriber and the rules of when to use it.
pub struct Hearing {
    /// The configured entries, tried in order.
    pub transcriber: Rc<dyn Transcriber>,
    /// Scope, attachment count and echo.
    pub policy: AudioPolicy,
}

/// `tools.media.audio`'s rules (the entries' own settings live in the transcriber).
#[derive(Debug, Clone)]
pub struct AudioPolicy {
    /// Which chats' audio is transcribed.
    pub scope: Scope,
    /// Voice notes of one message transcribed at most (`attachments.mode: "first"`: 1).
    pub max_attachments: usize,
    /// Echo the transcript to the chat first (`echoTranscript`), in this format.
    pub echo: Option<String>,
}

impl Default for AudioPolicy {
    fn default() -> Self {
        Self {
            scope: Scope::default(),
            max_attachments: 1,
            echo: None,
        }
    }
}

impl AudioPolicy {
    /// The echo of `transcript` (`{transcript}` replaced), if echoing is on.
    pub fn echo_of(&self, transcript: &str) -> Option<String> {
        self.echo
            .as_ref()
            .map(|f| f.replace("{transcript}", transcript))
    }
}

/// `scope`: ordered rules, the first that matches decides; else `default` (allow).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `default: "deny"`.
    pub default_deny: bool,
    /// `rules`, in order.
    pub rules: Vec<ScopeRule>,
}

/// One `scope.rules[]` entry (its `match` fields lowercased; an absent field matches all).
#[derive(Debug, Clone, Default)]
pub struct ScopeRule {
    /// `action: "deny"` (else allow).
    pub deny: bool,
    /// `match.channel` (`telegram`).
    pub channel: Option<String>,
    /// `match.chatType`, normalized ([`chat_type`]).
    pub chat_type: Option<String>,
    /// `match.keyPrefix`: a prefix of the session key (`agent:main:telegram:group:`).
    pub key_prefix: Option<String>,
}

impl Scope {
    /// Whether audio of this chat is transcribed. `chat_type` as the channel says it
    /// (`private`, `group`, `supergroup`, `channel`; `None` for an operator).
    pub fn allows(
        &self,
        channel: Option<&str>,
        chat_type: Option<&str>,
        session_key: &str,
    ) -> bool {
        let channel = channel.map(str::to_lowercase);
        let kind = chat_type.and_then(self::chat_type);
        let key = session_key.to_lowercase();
        for r in &self.rules {
            if r.channel
                .as_ref()
                .is_some_and(|c| Some(c) != channel.as_ref())
            {
                continue;
            }
            if r.chat_type.as_deref().is_some_and(|t| Some(t) != kind) {
                continue;
            }
            if r.key_prefix.as_ref().is_some_and(|p| !key.starts_with(p)) {
                continue;
            }
            return !r.deny;
        }
        !self.default_deny
    }
}

/// OpenClaw's chat types: `direct`, `group` or `channel` (`None`: not one of them).
pub fn chat_type(raw: &str) -> Option<&'static str> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "direct" | "dm" | "private" => Some("direct"),
        "group" | "supergroup" | "room" => Some("group"),
        "channel" => Some("channel"),
        _ => None,
    }
}

/// Whether channels fetch audio for transcription: on while a transcriber is configured
/// (swapped by a config reload). Shared by the registry, which sets it, and the channels.
#[derive(Debug, Clone, Default)]
pub struct AudioIn(Arc<AtomicBool>);

impl AudioIn {
    /// A switch in this position.
    pub fn new(on: bool) -> Self {
        Self(Arc::new(AtomicBool::new(on)))
    }
    /// Whether audio is transcribed.
    pub fn on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Turns it on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// What an audio file is, by its first bytes: `(mime, extension)`. `declared`: the sender's
/// app called it audio (a voice note, an audio message): only then is a generic container
/// (MP4, WebM/Matroska) taken as audio.
pub fn sniff_audio(data: &[u8], declared: bool) -> Option<(&'static str, &'static str)> {
    let starts = |p: &[u8]| data.starts_with(p);
    if starts(b"OggS") {
        Some(("audio/ogg", "ogg"))
    } else if starts(b"ID3") {
        Some(("audio/mpeg", "mp3"))
    } else if data.len() >= 2 && data[0] == 0xFF && data[1] & 0xF6 == 0xF0 {
        Some(("audio/aac", "aac"))
    } else if data.len() >= 2 && data[0] == 0xFF && data[1] & 0xE0 == 0xE0 {
        Some(("audio/mpeg", "mp3"))
    } else if data.len() >= 12 && starts(b"RIFF") && &data[8..12] == b"WAVE" {
        Some(("audio/wav", "wav"))
    } else if starts(b"fLaC") {
        Some(("audio/flac", "flac"))
    } else if starts(b"#!AMR") {
        Some(("audio/amr", "amr"))
    } else if data.len() >= 12 && &data[4..8] == b"ftyp" {
        let brand = &data[8..12];
        (brand == b"M4A " || brand == b"M4B " || declared).then_some(("audio/mp4", "m4a"))
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) && declared {
        Some(("audio/webm", "webm"))
    } else {
        None
    }
}

/// OpenClaw's body for transcribed audio: one `[Audio]` block per transcript (`[Audio 1/2]`
/// when there are several), the caption as `User text:`.
pub fn block(caption: &str, transcripts: &[String]) -> String {
    let caption = caption.trim();
    let mut sections = Vec::new();
    if !caption.is_empty() && transcripts.len() > 1 {
        sections.push(format!("User text:\n{caption}"));
    }
    for (i, t) in transcripts.iter().enumerate() {
        let suffix = if transcripts.len() > 1 {
            format!(" {}/{}", i + 1, transcripts.len())
        } else {
            String::new()
        };
        let user = if transcripts.len() == 1 && !caption.is_empty() {
            format!("User text:\n{caption}\n")
        } else {
            String::new()
        };
        sections.push(format!("[Audio{suffix}]\n{user}Transcript:\n{t}"));
    }
    sections.join("\n\n")
}

/// `text` cut to `max` characters (and to [`MAX_TRANSCRIPT_CHARS`]), trimmed.
pub fn cut(text: &str, max: Option<usize>) -> String {
    let max = max
        .unwrap_or(MAX_TRANSCRIPT_CHARS)
        .min(MAX_TRANSCRIPT_CHARS);
    let t = text.trim();
    match t.char_indices().nth(max) {
        Some((i, _)) => t[..i].trim_end().to_owned(),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(deny: bool, channel: Option<&str>, chat: Option<&str>, key: Option<&str>) -> ScopeRule {
        ScopeRule {
            deny,
            channel: channel.map(str::to_owned),
            chat_type: chat.map(str::to_owned),
            key_prefix: key.map(str::to_owned),
        }
    }

    #[test]
    fn scope_first_match_wins_then_default() {
        let dm = "agent:main:telegram:direct:42";
        let group = "agent:main:telegram:group:-100";
        let none = Scope::default();
        assert!(none.allows(Some("telegram"), Some("group"), group));
        let s = Scope {
            default_deny: false,
            rules: vec![rule(true, None, Some("group"), None)],
        };
        assert!(!s.allows(Some("telegram"), Some("supergroup"), group));
        assert!(s.allows(Some("telegram"), Some("private"), dm));
        assert!(s.allows(None, None, "agent:main:main"));
        // First match wins: an allow before a deny.
        let s = Scope {
            default_deny: true,
            rules: vec![
                rule(
                    false,
                    Some("telegram"),
                    None,
                    Some("agent:main:telegram:direct:42"),
                ),
                rule(true, Some("telegram"), None, None),
            ],
        };
        assert!(s.allows(Some("Telegram"), Some("private"), dm));
        assert!(!s.allows(
            Some("telegram"),
            Some("private"),
            "agent:main:telegram:direct:7"
        ));
        assert!(!s.allows(None, None, "agent:main:main"), "default deny");
        // Key prefixes compare lowercased.
        let s = Scope {
            default_deny: true,
            rules: vec![rule(false, None, None, Some("agent:main:telegram:"))],
        };
        assert!(s.allows(None, None, "AGENT:MAIN:TELEGRAM:direct:1"));
    }

    #[test]
    fn chat_types_normalize() {
        assert_eq!(chat_type("private"), Some("direct"));
        assert_eq!(chat_type("supergroup"), Some("group"));
        assert_eq!(chat_type("Channel"), Some("channel"));
        assert_eq!(chat_type("??"), None);
    }

    #[test]
    fn audio_is_typed_by_its_bytes() {
        assert_eq!(
            sniff_audio(b"OggS\0\x02", false),
            Some(("audio/ogg", "ogg"))
        );
        assert_eq!(sniff_audio(b"ID3\x04", false), Some(("audio/mpeg", "mp3")));
        assert_eq!(
            sniff_audio(&[0xFF, 0xFB, 0x90], false),
            Some(("audio/mpeg", "mp3"))
        );
        assert_eq!(
            sniff_audio(&[0xFF, 0xF1, 0x50], false),
            Some(("audio/aac", "aac"))
        );
        assert_eq!(
            sniff_audio(b"RIFF\0\0\0\0WAVEfmt ", false),
            Some(("audio/wav", "wav"))
        );
        assert_eq!(sniff_audio(b"fLaC", false), Some(("audio/flac", "flac")));
        assert_eq!(
            sniff_audio(b"\0\0\0\x20ftypM4A \0", false),
            Some(("audio/mp4", "m4a"))
        );
        // A generic container only when the sender's app said audio.
        assert_eq!(sniff_audio(b"\0\0\0\x20ftypisom\0", false), None);
        assert_eq!(
            sniff_audio(b"\0\0\0\x20ftypisom\0", true),
            Some(("audio/mp4", "m4a"))
        );
        assert_eq!(sniff_audio(&[0x1A, 0x45, 0xDF, 0xA3], false), None);
        // Not audio: a JPEG, a script, nothing.
        assert_eq!(sniff_audio(&[0xFF, 0xD8, 0xFF], true), None);
        assert_eq!(sniff_audio(b"#!/bin/sh\n", true), None);
        assert_eq!(sniff_audio(b"", true), None);
    }

    #[test]
    fn blocks_follow_openclaw() {
        assert_eq!(block("", &["hello".into()]), "[Audio]\nTranscript:\nhello");
        assert_eq!(
            block(" see this ", &["hello".into()]),
            "[Audio]\nUser text:\nsee this\nTranscript:\nhello"
        );
        assert_eq!(
            block("cap", &["a".into(), "b".into()]),
            "User text:\ncap\n\n[Audio 1/2]\nTranscript:\na\n\n[Audio 2/2]\nTranscript:\nb"
        );
    }

    #[test]
    fn transcripts_are_cut_on_characters() {
        assert_eq!(cut("  héllo wörld ", Some(5)), "héllo");
        assert_eq!(cut("ab", Some(5)), "ab");
        let long = "é".repeat(MAX_TRANSCRIPT_CHARS + 10);
        assert_eq!(cut(&long, None).chars().count(), MAX_TRANSCRIPT_CHARS);
        assert_eq!(
            cut(&long, Some(usize::MAX)).chars().count(),
            MAX_TRANSCRIPT_CHARS
        );
        let p = AudioPolicy {
            echo: Some(DEFAULT_ECHO_FORMAT.into()),
            ..AudioPolicy::default()
        };
        assert_eq!(p.echo_of("hi").as_deref(), Some("📝 \"hi\""));
        assert_eq!(AudioPolicy::default().echo_of("hi"), None);
    }
}
