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
    /// None, unless a chat turned it on (`/tts on`).
    Off,
}

impl AutoSpeech {
    /// How `/status` and `/tts` say it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Always => "every answer",
            Self::Inbound => "answers to voice messages",
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
}

impl SpeechPolicy {
    /// Whether an answer is spoken: `heard` says the user's message had a voice note;
    /// `chat` is the chat's own choice (`/tts on` / `/tts off`), which wins.
    pub fn applies(&self, heard: bool, chat: Option<bool>) -> bool {
        if let Some(on) = chat {
            return on;
        }
        match self.auto {
            AutoSpeech::Always => true,
            AutoSpeech::Inbound => heard,
            AutoSpeech::Off => false,
        }
    }
}

/// What of `answer` is read aloud: without code blocks and markdown marks, at most
/// `max_length` characters (cut after the last sentence end that fits, else at a space);
/// `None` when it should stay text (short, or mostly code).
pub fn speakable(answer: &str, max_length: usize) -> Option<String> {
    let mut prose = String::with_capacity(answer.len());
    let mut code = 0usize;
    let mut in_fence = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
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
    let prose = prose.split_whitespace().collect::<Vec<_>>().join(" ");
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
        };
        assert!(p.applies(true, None) && !p.applies(false, None));
        // The chat's choice wins.
        assert!(p.applies(false, Some(true)) && !p.applies(true, Some(false)));
        let p = SpeechPolicy {
            auto: AutoSpeech::Always,
            ..p
        };
        assert!(p.applies(false, None));
        let p = SpeechPolicy {
            auto: AutoSpeech::Off,
            ..p
        };
        assert!(!p.applies(true, None) && p.applies(false, Some(true)));
    }
}
