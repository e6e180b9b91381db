//! Spoken answers (OpenClaw's `tts`): with `tts.auto: "always"` every answer to a chat, with
//! `"inbound"` the answer to a voice message, also goes out as a voice note
//! ([`crate::ports::Speaker`]), the text as its caption (or first, when longer than a
//! caption). The audio is typed by its bytes, kept under `media/outbound` (0600, pruned)
//! and recorded with the answer, so a reply cut by a crash is sent again with it.
//!
//! As in OpenClaw, short answers (under 10 characters), answers that carry media already and
//! answers that are mostly code stay text; a long answer is spoken up to `maxLength`
//! characters (cut at a sentence end when there is one). A synthesis that fails leaves the
//! text answer as it is.
//!
//! An answer's `[[tts:…]]` directives ([`take_directives`]) are taken out of it wherever it
//! goes; their knobs and `[[tts:text]]` block shape its voice note, and with `"tagged"` only
//! such an answer is spoken. The system prompt says so ([`SpeechPolicy::prompt_hint`]).
//! Clients' own texts (`talk.speak`, `tts.speak`) go through [`spoken_text`]; the voices as
//! configured are [`Voices`], `tts.enable` / `tts.disable`'s choice [`PREFS_FILE`].

use std::rc::Rc;

use crate::ports::Speaker;

/// OpenClaw's default `maxLength`: the characters spoken at most.
pub const DEFAULT_MAX_LENGTH: usize = 1500;

/// Answers shorter than this stay text.
pub const MIN_SPOKEN_CHARS: usize = 10;

/// When answers are spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSpeech {
    /// Every answer to a chat.
    Always,
    /// The answer to a message with a voice note.
    Inbound,
    /// An answer with `[[tts:…]]` directives or a `[[tts:text]]` block.
    Tagged,
    /// None, unless a chat turned it on (`/tts on`).
    Off,
}

impl AutoSpeech {
    /// How `/status` and `/tts` say it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Always => "every answer",
            Self::Inbound => "answers to voice messages",
            Self::Tagged => "answers with [[tts]] directives",
            Self::Off => "off",
        }
    }
}

/// Text to speech as configured.
pub struct Speech {
    /// The provider.
    pub speaker: Rc<dyn Speaker>,
    /// When, and how much.
    pub policy: SpeechPolicy,
}

/// `tts`'s rules.
#[derive(Debug, Clone)]
pub struct SpeechPolicy {
    /// `tts.auto`.
    pub auto: AutoSpeech,
    /// Characters spoken at most.
    pub max_length: usize,
    /// `tts.modelOverrides.enabled` (default on): a directive's knobs (voice, model,
    /// speed, …) apply to its answer's voice note.
    pub model_overrides: bool,
}

impl SpeechPolicy {
    /// Whether an answer is spoken: `heard` says the user's message had a voice note,
    /// `tagged` that the answer carried `[[tts]]` directives; `chat` is the chat's own
    /// choice (`/tts on` / `/tts off`), which wins.
    pub fn applies(&self, heard: bool, tagged: bool, chat: Option<bool>) -> bool {
        if let Some(on) = chat {
            return on;
        }
        match self.auto {
            AutoSpeech::Always => true,
            AutoSpeech::Inbound => heard,
            AutoSpeech::Tagged => tagged,
            AutoSpeech::Off => false,
        }
    }

    /// The system prompt's `## Voice (TTS)` section for a chat whose own choice is `chat`
    /// (OpenClaw's `buildTtsSystemPromptHint`); `None` when nothing is spoken there.
    pub fn prompt_hint(&self, chat: Option<bool>) -> Option<String> {
        let auto = match chat {
            Some(false) => return None,
            Some(true) => AutoSpeech::Always,
            None => self.auto,
        };
        let mode = match auto {
            AutoSpeech::Off => return None,
            AutoSpeech::Always => None,
            AutoSpeech::Inbound => {
                Some("Only use TTS when the user's last message includes audio/voice.")
            }
            AutoSpeech::Tagged => Some(
                "Only use TTS when you include [[tts:key=value]] directives or a [[tts:text]]...[[/tts:text]] block.",
            ),
        };
        let mut out = String::from("Voice (TTS) is enabled.\n");
        if let Some(m) = mode {
            out.push_str(m);
            out.push('\n');
        }
        out.push_str(&format!(
            "Keep spoken text <={} chars (longer is cut, not summarized).\n",
            self.max_length
        ));
        out.push_str(
            "If workspace context (especially MEMORY.md) tells you not to use [[tts:...]] or to use a local/non-tagged voice workflow, follow that workspace instruction instead.\n",
        );
        out.push_str(
            "Use [[tts:...]] (speakerVoiceId=, model=, speed=, stability=, style=) and optional [[tts:text]]...[[/tts:text]] (spoken, not shown) to control voice/expressiveness.",
        );
        Some(out)
    }
}

/// The prose of `answer` (without code blocks and markdown marks, whitespace folded) and the
/// characters of its fenced code.
fn prose_of(answer: &str) -> (String, usize) {
    let mut prose = String::with_capacity(answer.len());
    let mut code = 0usize;
    let mut in_fence = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            code += line.chars().count();
            continue;
        }
        if in_fence {
            code += line.chars().count();
            continue;
        }
        let line = line.trim_start_matches(['#', '>', ' ', '\t']);
        let line = line
            .strip_prefix("- ")
            .or_else(|| line.strip_prefix("* "))
            .unwrap_or(line);
        for c in line.chars() {
            if !matches!(c, '*' | '_' | '`' | '~') {
                prose.push(c);
            }
        }
        prose.push('\n');
    }
    (prose.split_whitespace().collect::<Vec<_>>().join(" "), code)
}

/// What Talk says instead of a reply that is mostly code (OpenClaw's words).
pub const CODE_HEAVY_SPOKEN: &str = "I've put the detailed response on screen.";

/// What a client's `talk.speak` / `tts.speak` text is spoken as: OpenClaw's
/// [`CODE_HEAVY_SPOKEN`] for a reply that is at least half fenced code, else its prose
/// without markdown marks. `None` when nothing is left to say.
pub fn spoken_text(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let total = trimmed.chars().count();
    let (prose, code) = prose_of(trimmed);
    if total > 0 && code * 2 >= total {
        return Some(CODE_HEAVY_SPOKEN.to_owned());
    }
    (!prose.is_empty()).then_some(prose)
}

/// The MIME type of audio in `output_format` with `file_extension` (OpenClaw's
/// `inferSpeechMimeType`); `None` when unknown (raw PCM, say).
pub fn mime_of(output_format: &str, file_extension: &str) -> Option<&'static str> {
    let f = output_format.to_ascii_lowercase();
    let e = file_extension.to_ascii_lowercase();
    if f == "mp3" || f.starts_with("mp3_") || f.ends_with("-mp3") || e == ".mp3" {
        Some("audio/mpeg")
    } else if f == "opus" || f.starts_with("opus_") || e == ".opus" || e == ".ogg" {
        Some("audio/ogg")
    } else if f.ends_with("-wav") || e == ".wav" {
        Some("audio/wav")
    } else if f.ends_with("-webm") || e == ".webm" {
        Some("audio/webm")
    } else {
        None
    }
}

/// Talk's speaker (`talk.speak`), or why there is none.
#[derive(Clone)]
pub enum TalkVoice {
    /// Speaks with this.
    Ready(Rc<dyn Speaker>),
    /// OpenClaw's reason (`talk_unconfigured`, `talk_provider_unsupported`) and the fix.
    Unavailable {
        /// The reason code.
        reason: &'static str,
        /// What to fix.
        message: String,
    },
}

impl Default for TalkVoice {
    fn default() -> Self {
        Self::Unavailable {
            reason: "talk_unconfigured",
            message: "talk.speak unavailable: talk provider not configured".into(),
        }
    }
}

/// A speech provider as `tts.status` and `tts.providers` list it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderInfo {
    /// `openai`, `elevenlabs`, a configured id.
    pub id: String,
    /// `OpenAI`, `ElevenLabs`, the id.
    pub label: String,
    /// Whether it has a key (or a keyless server of its own).
    pub configured: bool,
    /// Known models.
    pub models: Vec<String>,
    /// Known voices.
    pub voices: Vec<String>,
}

/// OpenClaw's TTS preferences file (`tts.enable` / `tts.disable`): `{"tts": {"auto":
/// "always" | "off" | "inbound"}}`, over `tts.auto` of the config.
pub const PREFS_FILE: &str = "settings/tts.json";

/// The `tts.auto` of the preferences file of `state_dir` (`None`: no preference), with a
/// warning naming a file that cannot be read (the config's `tts.auto` applies then).
pub fn load_prefs(state_dir: &std::path::Path) -> (Option<AutoSpeech>, Option<String>) {
    match crate::engine::load_json::<serde_json::Value>(state_dir, PREFS_FILE) {
        Ok(v) => (v.as_ref().and_then(prefs_auto), None),
        Err(e) => (
            None,
            Some(format!(
                "tts preferences: {e}; using tts.auto of the config"
            )),
        ),
    }
}

/// `tts.auto` (or the legacy `tts.enabled`) of a preferences document.
pub fn prefs_auto(doc: &serde_json::Value) -> Option<AutoSpeech> {
    let tts = doc.get("tts")?;
    match tts
        .get("auto")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
    {
        Some("always") => Some(AutoSpeech::Always),
        Some("inbound") => Some(AutoSpeech::Inbound),
        Some("off") => Some(AutoSpeech::Off),
        Some("tagged") => Some(AutoSpeech::Tagged),
        _ => tts
            .get("enabled")
            .and_then(serde_json::Value::as_bool)
            .map(|on| {
                if on {
                    AutoSpeech::Always
                } else {
                    AutoSpeech::Off
                }
            }),
    }
}

/// `speech` with `pref` (the preferences file's `tts.auto`) over its configured policy.
pub fn with_pref(speech: Option<Rc<Speech>>, pref: Option<AutoSpeech>) -> Option<Rc<Speech>> {
    match (speech, pref) {
        (Some(s), Some(auto)) if s.policy.auto != auto => Some(Rc::new(Speech {
            speaker: s.speaker.clone(),
            policy: SpeechPolicy {
                auto,
                ..s.policy.clone()
            },
        })),
        (s, _) => s,
    }
}

/// `tts.maxTextLength`'s default: the longest text a client may have spoken.
pub const DEFAULT_MAX_TEXT_LENGTH: usize = 4096;

/// The gateway's voices, built from config and swapped whole on a reload.
#[derive(Clone)]
pub struct Voices {
    /// Spoken answers (`tts`), when a provider resolves.
    pub speech: Option<Rc<Speech>>,
    /// Its provider id.
    pub speech_provider: Option<String>,
    /// Talk playback.
    pub talk: TalkVoice,
    /// Its provider id, when ready.
    pub talk_provider: Option<String>,
    /// The providers known to config.
    pub providers: Vec<ProviderInfo>,
    /// `tts.maxTextLength`: the longest text a client may have spoken.
    pub max_text_length: usize,
}

impl Default for Voices {
    fn default() -> Self {
        Self {
            speech: None,
            speech_provider: None,
            talk: TalkVoice::default(),
            talk_provider: None,
            providers: Vec::new(),
            max_text_length: DEFAULT_MAX_TEXT_LENGTH,
        }
    }
}

/// What of `answer` is read aloud: without code blocks and markdown marks, at most
/// `max_length` characters (cut after the last sentence end that fits, else at a space);
/// `None` when it should stay text (short, or mostly code).
pub fn speakable(answer: &str, max_length: usize) -> Option<String> {
    let (prose, code) = prose_of(answer);
    let chars = prose.chars().count();
    if chars < MIN_SPOKEN_CHARS || code > chars {
        return None;
    }
    if chars <= max_length {
        return Some(prose);
    }
    let cut: String = prose.chars().take(max_length).collect();
    // Only a cut that keeps more than half of what may be spoken (counted in characters).
    let keeps_half = |i: &usize| cut[..*i].chars().count() > max_length / 2;
    let at = cut
        .rfind(['.', '!', '?', '。'])
        .map(|i| i + cut[i..].chars().next().map_or(1, char::len_utf8))
        .filter(keeps_half)
        .or_else(|| cut.rfind(' ').filter(keeps_half))
        .unwrap_or(cut.len());
    let mut out = cut[..at].trim_end().to_owned();
    out.push('…');
    Some(out)
}

/// What an answer's `[[tts:…]]` directives ask (OpenClaw's `parseTtsDirectives`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directives {
    /// `[[tts:text]]…[[/tts:text]]`: what is spoken instead of the answer (never shown).
    pub text: Option<String>,
    /// The knobs of `[[tts:key=value …]]` (the last of each wins).
    pub request: crate::ports::SpeakRequest,
}

/// A `[[…]]` tag's kind.
enum Tag {
    /// `[[tts:text]]`.
    HiddenOpen,
    /// `[[/tts:text]]`.
    HiddenClose,
    /// `[[tts]]`, `[[tts:…]]`, `[[/tts…]]`.
    Tts,
    /// Anything else (kept).
    Other,
}

fn classify(body: &str) -> Tag {
    let n: String = body
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    match n.as_str() {
        "tts:text" => Tag::HiddenOpen,
        "/tts:text" => Tag::HiddenClose,
        "tts" | "/tts" => Tag::Tts,
        _ if n.starts_with("tts:") || n.starts_with("/tts:") => Tag::Tts,
        _ => Tag::Other,
    }
}

/// The most directive text looked at: a longer answer is cleaned up to here.
const MAX_DIRECTIVE_SCAN: usize = 256 * 1024;

/// Takes the `[[tts:…]]` directives and `[[tts:text]]` blocks out of `answer` (never inside
/// code: a fenced block or an inline code span keeps its text); `None` when it had none.
/// With `streaming`, a trailing `[[…` that may still become a tag is held back too, and an
/// unclosed `[[tts:text]]` hides the rest (it is still being written).
pub fn take_directives(answer: &mut String, streaming: bool) -> Option<Directives> {
    if !(answer.contains("[[") || streaming && answer.ends_with('[')) {
        return None;
    }
    let src = std::mem::take(answer);
    let mut out = String::with_capacity(src.len());
    let mut d = Directives::default();
    let mut found = false;
    let mut hidden: Option<String> = None;
    let bytes = src.as_bytes();
    let mut i = 0;
    let mut in_fence = false;
    let mut in_code = false;
    let limit = src.len().min(MAX_DIRECTIVE_SCAN);
    while i < src.len() {
        if i >= limit {
            out.push_str(&src[i..]);
            break;
        }
        let at_line_start = i == 0 || bytes[i - 1] == b'\n';
        if at_line_start && src[i..].trim_start_matches([' ', '\t']).starts_with("```") {
            // A fence line opens or closes a code block; its backticks are no code span.
            in_fence = !in_fence;
            in_code = false;
            let fence = src[i..].len() - src[i..].trim_start_matches([' ', '\t']).len() + 3;
            match &mut hidden {
                Some(h) => h.push_str(&src[i..i + fence]),
                None => out.push_str(&src[i..i + fence]),
            }
            i += fence;
            continue;
        }
        if !in_fence && bytes[i] == b'`' {
            in_code = !in_code;
        }
        if in_fence || in_code || !src[i..].starts_with("[[") {
            let ch = src[i..].chars().next().map_or(1, char::len_utf8);
            match &mut hidden {
                Some(h) => h.push_str(&src[i..i + ch]),
                None => out.push_str(&src[i..i + ch]),
            }
            i += ch;
            continue;
        }
        let Some(end) = src[i + 2..].find("]]").map(|e| i + 2 + e) else {
            // An unfinished tag: kept as text, unless it may still become one.
            if !streaming {
                match &mut hidden {
                    Some(h) => h.push_str(&src[i..]),
                    None => out.push_str(&src[i..]),
                }
            }
            break;
        };
        let body = &src[i + 2..end];
        match classify(body) {
            Tag::HiddenOpen => {
                found = true;
                hidden = Some(hidden.take().unwrap_or_default());
            }
            Tag::HiddenClose => {
                found = true;
                if let Some(h) = hidden.take() {
                    let h = h.trim();
                    if !h.is_empty() {
                        let t = d.text.get_or_insert_with(String::new);
                        if !t.is_empty() {
                            t.push(' ');
                        }
                        t.push_str(h);
                    }
                }
            }
            Tag::Tts => {
                found = true;
                let args = body.trim_start().trim_start_matches('/');
                let args = args.get(3..).unwrap_or("").trim_start_matches(':');
                for pair in args.split_whitespace() {
                    if let Some((k, v)) = pair.split_once('=') {
                        apply_knob(&mut d.request, k, v.trim_matches(['"', '\'']));
                    }
                }
            }
            Tag::Other => match &mut hidden {
                Some(h) => h.push_str(&src[i..end + 2]),
                None => out.push_str(&src[i..end + 2]),
            },
        }
        i = end + 2;
    }
    // An unclosed `[[tts:text]]` speaks the rest (a finished answer) or hides it for now.
    if let Some(h) = hidden
        && !streaming
    {
        let h = h.trim();
        if !h.is_empty() {
            d.text = Some(match d.text.take() {
                Some(t) => format!("{t} {h}"),
                None => h.to_owned(),
            });
        }
    }
    if streaming && out.ends_with('[') && !out.ends_with("\\[") {
        out.pop();
    }
    // The lines the tags stood on leave no gap.
    let mut tidy = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.trim().lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        if !tidy.is_empty() {
            tidy.push('\n');
        }
        tidy.push_str(line.trim_end());
    }
    *answer = if found { tidy } else { out };
    found.then_some(d)
}

/// One `key=value` of a directive (unknown keys and bad values are ignored).
fn apply_knob(r: &mut crate::ports::SpeakRequest, key: &str, value: &str) {
    let key = key.to_ascii_lowercase().replace(['_', '-'], "");
    let num = || value.parse::<f64>().ok().filter(|x| x.is_finite());
    match key.as_str() {
        "speakervoice" | "speakervoiceid" | "voice" | "voiceid" | "voicename" | "googlevoice" => {
            r.voice_id = Some(value.to_owned());
        }
        "model" | "modelid" | "googlemodel" => r.model_id = Some(value.to_owned()),
        "speed" => r.speed = num(),
        "stability" => r.stability = num(),
        "similarityboost" | "similarity" => r.similarity = num(),
        "style" => r.style = num(),
        "usespeakerboost" | "speakerboost" => r.speaker_boost = value.parse().ok(),
        "applytextnormalization" | "normalize" => r.normalize = Some(value.to_owned()),
        "languagecode" | "language" => r.language = Some(value.to_owned()),
        "seed" => r.seed = value.parse().ok(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_and_code_stay_text() {
        assert_eq!(speakable("ok", 100), None);
        assert_eq!(speakable("  **Done.** ", 100), None);
        assert_eq!(
            speakable(
                "Run this:\n```sh\nsudo systemctl restart openclaw-gateway\n```",
                100
            ),
            None
        );
        assert_eq!(
            speakable("# Today\n- **Rain** at 3 pm, take an umbrella.\n", 100).as_deref(),
            Some("Today Rain at 3 pm, take an umbrella.")
        );
    }

    #[test]
    fn clients_text_is_spoken_without_markdown_and_code_is_pointed_at() {
        assert_eq!(spoken_text("Hi").as_deref(), Some("Hi"));
        assert_eq!(
            spoken_text("**Bold** and `code` 🎉\n\n- item").as_deref(),
            Some("Bold and code 🎉 item")
        );
        assert_eq!(
            spoken_text("Here:\n```rust\nfn main() { println!(\"hello\"); }\n```").as_deref(),
            Some(CODE_HEAVY_SPOKEN)
        );
        assert_eq!(spoken_text("  \n "), None);
        assert_eq!(spoken_text("***"), None);
        assert_eq!(mime_of("mp3_44100_128", ".mp3"), Some("audio/mpeg"));
        assert_eq!(mime_of("opus", ".opus"), Some("audio/ogg"));
        assert_eq!(mime_of("pcm_24000", ".pcm"), None);
        assert_eq!(mime_of("wav", ".wav"), Some("audio/wav"));
    }

    #[test]
    fn directives_are_taken_out_and_their_knobs_and_audio_text_kept() {
        let mut a = String::from(
            "Here you go.\n\n[[tts:speakerVoiceId=pMsXgVXv3BLzUgSXRplE model=eleven_v3 speed=1.1]]\n[[tts:text]](laughs) Read the song once more.[[/tts:text]]",
        );
        let d = take_directives(&mut a, false).expect("directives");
        assert_eq!(a, "Here you go.");
        assert_eq!(d.text.as_deref(), Some("(laughs) Read the song once more."));
        assert_eq!(d.request.voice_id.as_deref(), Some("pMsXgVXv3BLzUgSXRplE"));
        assert_eq!(d.request.model_id.as_deref(), Some("eleven_v3"));
        assert_eq!(d.request.speed, Some(1.1));
        // A bare tag triggers, other [[…]] stays, code keeps its text.
        let mut a = String::from("Ok [[tts]] see [[link]] and `[[tts:x=1]]`\n```\n[[tts]]\n```");
        let d = take_directives(&mut a, false).expect("tagged");
        assert_eq!(a, "Ok  see [[link]] and `[[tts:x=1]]`\n```\n[[tts]]\n```");
        assert_eq!(d, Directives::default());
        // After a code block, directives count again.
        let mut a = String::from("```sh\nls\n```\nDone [[tts:speed=1.2]]");
        let d = take_directives(&mut a, false).expect("after the fence");
        assert_eq!(
            (a.as_str(), d.request.speed),
            ("```sh\nls\n```\nDone", Some(1.2))
        );
        // None at all: untouched.
        let mut a = String::from("plain [[wiki]] text ü");
        assert!(take_directives(&mut a, false).is_none());
        assert_eq!(a, "plain [[wiki]] text ü");
        // Unfinished: a finished answer keeps the text; a stream holds it back.
        let mut a = String::from("so [[tts:spe");
        assert!(take_directives(&mut a.clone(), false).is_none());
        assert!(take_directives(&mut a, true).is_none());
        assert_eq!(a, "so ");
        let mut a = String::from("Hi [[tts:text]]secret so far");
        take_directives(&mut a, true).expect("open block");
        assert_eq!(a, "Hi");
        let mut a = String::from("Hi [[tts:text]]all of it");
        let d = take_directives(&mut a, false).expect("open block");
        assert_eq!((a.as_str(), d.text.as_deref()), ("Hi", Some("all of it")));
        // Bad values are ignored, not errors.
        let mut a = String::from("x [[tts:speed=fast seed=-1 stability=0.3]]");
        let d = take_directives(&mut a, false).expect("knobs");
        assert_eq!(
            (d.request.speed, d.request.seed, d.request.stability),
            (None, None, Some(0.3))
        );
    }

    #[test]
    fn the_voice_section_follows_the_mode_and_the_chats_choice() {
        let p = SpeechPolicy {
            auto: AutoSpeech::Tagged,
            max_length: 1500,
            model_overrides: true,
        };
        let hint = p.prompt_hint(None).expect("on");
        assert!(
            hint.contains("Only use TTS when you include [[tts:key=value]]")
                && hint.contains("<=1500")
        );
        assert!(p.prompt_hint(Some(false)).is_none());
        assert!(
            !p.prompt_hint(Some(true))
                .expect("chat on")
                .contains("Only use")
        );
        let off = SpeechPolicy {
            auto: AutoSpeech::Off,
            ..p
        };
        assert!(off.prompt_hint(None).is_none());
        assert!(off.applies(false, true, Some(true)));
        let tagged = SpeechPolicy {
            auto: AutoSpeech::Tagged,
            max_length: 1500,
            model_overrides: true,
        };
        assert!(tagged.applies(false, true, None) && !tagged.applies(true, false, None));
    }

    #[test]
    fn the_preferences_file_says_when_answers_are_spoken() {
        use serde_json::json;
        assert_eq!(
            prefs_auto(&json!({"tts": {"auto": "always"}})),
            Some(AutoSpeech::Always)
        );
        assert_eq!(
            prefs_auto(&json!({"tts": {"auto": " off "}})),
            Some(AutoSpeech::Off)
        );
        assert_eq!(
            prefs_auto(&json!({"tts": {"enabled": true}})),
            Some(AutoSpeech::Always)
        );
        assert_eq!(
            prefs_auto(&json!({"tts": {"auto": "tagged"}})),
            Some(AutoSpeech::Tagged)
        );
        assert_eq!(prefs_auto(&json!({"tts": {"auto": "sometimes"}})), None);
        assert_eq!(prefs_auto(&json!({"tts": 7})), None);
        assert_eq!(prefs_auto(&json!([])), None);
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_prefs(dir.path()), (None, None));
        std::fs::create_dir_all(dir.path().join("settings")).expect("mkdir");
        std::fs::write(dir.path().join(PREFS_FILE), b"{not json").expect("write");
        let (pref, warning) = load_prefs(dir.path());
        assert!(pref.is_none() && warning.is_some_and(|w| w.contains("tts.json")));
    }

    #[test]
    fn long_answers_are_cut_at_a_sentence_end() {
        let text = "The door is closed. The lights are off. The heating runs until ten tonight.";
        assert_eq!(
            speakable(text, 45).as_deref(),
            Some("The door is closed. The lights are off.…")
        );
        // No sentence end in the second half: at a space.
        let words = "word ".repeat(40);
        let s = speakable(&words, 23).expect("spoken");
        assert_eq!(s, "word word word word…");
        // Any Unicode, cut on characters.
        let s = speakable(&"ä".repeat(50), 20).expect("spoken");
        assert_eq!(s.chars().count(), 21);
        // A space or sentence end early on is no place to cut: at the limit then.
        let s = speakable(&format!("a. {}", "ü".repeat(60)), 20).expect("spoken");
        assert_eq!(s.chars().count(), 21, "{s}");
    }

    #[test]
    fn inbound_speaks_only_after_a_voice_note() {
        let p = SpeechPolicy {
            auto: AutoSpeech::Inbound,
            max_length: DEFAULT_MAX_LENGTH,
            model_overrides: true,
        };
        assert!(p.applies(true, false, None) && !p.applies(false, true, None));
        // The chat's choice wins.
        assert!(p.applies(false, false, Some(true)) && !p.applies(true, true, Some(false)));
        let p = SpeechPolicy {
            auto: AutoSpeech::Always,
            ..p
        };
        assert!(p.applies(false, false, None));
        let p = SpeechPolicy {
            auto: AutoSpeech::Off,
            ..p
        };
        assert!(!p.applies(true, true, None) && p.applies(false, false, Some(true)));
    }
}
