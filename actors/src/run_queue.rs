//! OpenClaw's `messages.queue`: what a person's message does when it arrives while its
//! session's run is going (`/queue` sets it per session).
//!
//! - `steer` (the default): the running run takes it at its next boundary — before its next
//!   tool call or model call — so the answer takes it into account; tool calls the model
//!   asked for but that have not started are skipped (each gets a result saying so). A
//!   message that arrives once the model has answered waits for the next run.
//! - `followup`: it waits and runs on its own after the run ends.
//! - `collect`: the messages that waited run together as one turn after the run ends.
//! - `interrupt`: the running run is aborted, then the newest message runs.
//!
//! Only messages of the same sender in the same chat (an operator's with an operator's) ride
//! along with another run (steered or collected): a message never runs under another
//! person's tool policy. Other messages, commands, messages with media, cron jobs and node
//! requests wait their turn in order. At most `cap` (default 20) messages wait per session;
//! beyond that `drop` says what goes: `summarize` (default: the oldest go, and the next
//! run is told what they said, a line each), `old` (the oldest go), `new` (the newest is
//! refused, and the sender told to send it again).
//!
//! Waiting messages start after a quiet window (`debounceMs`, default 500 ms, OpenClaw's
//! built-in queue debounce): once the run ends, the next waits until no message has been
//! queued for that long, so a burst typed while the assistant was busy is gathered
//! (`collect`) or at least not split by the first run. A message to an idle session starts
//! at once.

use std::collections::BTreeMap;

/// What a message does that arrives while its session's run is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueMode {
    /// Into the running run, at its next boundary.
    #[default]
    Steer,
    /// A run of its own after the running one.
    Followup,
    /// With the others that waited, as one run after the running one.
    Collect,
    /// Aborts the running run.
    Interrupt,
}

impl QueueMode {
    /// Every mode, as `/queue` lists them.
    pub const NAMES: &'static str = "steer, followup, collect, interrupt";

    /// A mode as a person or the config writes it (OpenClaw's aliases: `steering`,
    /// `follow-ups`, `coalesce`, `abort`, …; any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "steer" | "steering" => Some(Self::Steer),
            "followup" | "follow-ups" | "followups" => Some(Self::Followup),
            "collect" | "coalesce" => Some(Self::Collect),
            "interrupt" | "interrupts" | "abort" => Some(Self::Interrupt),
            _ => None,
        }
    }

    /// A mode as a session index holds it (also OpenClaw's retired names: `queue` is
    /// `steer`, `steer-backlog` is `followup`).
    pub fn parse_stored(s: &str) -> Option<Self> {
        Self::parse(s).or_else(|| match s.trim().to_ascii_lowercase().as_str() {
            "queue" | "queued" => Some(Self::Steer),
            "steer+backlog" | "steer-backlog" | "steer_backlog" => Some(Self::Followup),
            _ => None,
        })
    }

    /// The wire and config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steer => "steer",
            Self::Followup => "followup",
            Self::Collect => "collect",
            Self::Interrupt => "interrupt",
        }
    }
}

/// What goes when more than `cap` messages wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DropPolicy {
    /// The oldest go; the next run is told what they said.
    #[default]
    Summarize,
    /// The oldest go.
    Old,
    /// The newest is refused.
    New,
}

impl DropPolicy {
    /// Every policy, as `/queue` lists them.
    pub const NAMES: &'static str = "summarize, old, new";

    /// As written (`oldest`, `newest`, `summary` too; any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "summarize" | "summary" => Some(Self::Summarize),
            "old" | "oldest" => Some(Self::Old),
            "new" | "newest" => Some(Self::New),
            _ => None,
        }
    }

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Summarize => "summarize",
            Self::Old => "old",
            Self::New => "new",
        }
    }
}

/// OpenClaw's default `cap`.
pub const DEFAULT_CAP: usize = 20;
/// OpenClaw's built-in queue debounce.
pub const DEFAULT_DEBOUNCE_MS: u64 = 500;
/// The longest quiet window (a minute: longer would hold a chat's messages back for no
/// gain).
pub const MAX_DEBOUNCE_MS: u64 = 60_000;

/// A quiet window as `/queue` and `/status` show it (`500ms`, `2s`, `off`).
pub fn debounce_text(ms: u64) -> String {
    match ms {
        0 => "off".to_owned(),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// A quiet window as `/queue debounce:<value>` gives it: a bare number is milliseconds
/// (OpenClaw's default unit here; `0` turns it off); with units it reads as every other
/// duration here does ([`crate::cron::expr::parse_duration_ms`]: `0.5s`, `2s`, `1m`,
/// `1m30s`). `None`: not a duration, or longer than [`MAX_DEBOUNCE_MS`].
pub fn parse_debounce(s: &str) -> Option<u64> {
    let s = s.trim();
    let ms = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let ms = s.parse::<f64>().ok()?.round();
        // (Beyond u64 the cast saturates; the bound below refuses it either way.)
        ms.is_finite().then_some(ms as u64)?
    } else {
        crate::cron::expr::parse_duration_ms(s).ok()?
    };
    (ms <= MAX_DEBOUNCE_MS).then_some(ms)
}

/// The largest `cap` (a session's queue is bounded whatever the config says).
pub const MAX_CAP: usize = crate::registry::scheduler::MAX_QUEUE_PER_SESSION;

/// `messages.queue`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// `mode` (none: `steer`).
    pub mode: Option<QueueMode>,
    /// `byChannel.<channel>` (`webchat`: operators' messages).
    pub by_channel: BTreeMap<String, QueueMode>,
    /// `cap`.
    pub cap: usize,
    /// `drop`.
    pub drop: DropPolicy,
    /// `debounceMs` (none: [`DEFAULT_DEBOUNCE_MS`]).
    pub debounce_ms: Option<u64>,
    /// `debounceMsByChannel.<channel>`.
    pub debounce_by_channel: BTreeMap<String, u64>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            mode: None,
            by_channel: BTreeMap::new(),
            cap: DEFAULT_CAP,
            drop: DropPolicy::default(),
            debounce_ms: None,
            debounce_by_channel: BTreeMap::new(),
        }
    }
}

/// A session's own queue settings (`/queue`, `sessions.patch {queueMode}`), as its index
/// entry holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionQueue {
    /// `queueMode`.
    pub mode: Option<QueueMode>,
    /// `queueCap`.
    pub cap: Option<usize>,
    /// `queueDrop`.
    pub drop: Option<DropPolicy>,
    /// `queueDebounceMs`.
    pub debounce_ms: Option<u64>,
}

impl SessionQueue {
    /// Whether the session has any setting of its own.
    pub fn is_set(&self) -> bool {
        self.mode.is_some()
            || self.cap.is_some()
            || self.drop.is_some()
            || self.debounce_ms.is_some()
    }
}

/// The settings in force for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The mode.
    pub mode: QueueMode,
    /// The cap.
    pub cap: usize,
    /// The drop policy.
    pub drop: DropPolicy,
    /// The quiet window before a waiting message starts, in milliseconds.
    pub debounce_ms: u64,
}

impl QueueSettings {
    /// OpenClaw's precedence: the session's own, then `byChannel.<channel>`, then `mode`,
    /// then `steer`; `cap` and `drop`: the session's, then the config's; the quiet window:
    /// the session's, then `debounceMsByChannel.<channel>`, then `debounceMs`, then 500 ms.
    pub fn resolve(&self, session: SessionQueue, channel: &str) -> Resolved {
        Resolved {
            mode: session
                .mode
                .or_else(|| self.by_channel.get(channel).copied())
                .or(self.mode)
                .unwrap_or_default(),
            cap: session.cap.unwrap_or(self.cap).clamp(1, MAX_CAP),
            drop: session.drop.unwrap_or(self.drop),
            debounce_ms: session
                .debounce_ms
                .or_else(|| self.debounce_by_channel.get(channel).copied())
                .or(self.debounce_ms)
                .unwrap_or(DEFAULT_DEBOUNCE_MS)
                .min(MAX_DEBOUNCE_MS),
        }
    }
}

/// How long one line of an overflow summary may be (UTF-16 units, as OpenClaw counts).
const SUMMARY_LINE_UNITS: usize = 160;
/// Lines an overflow summary keeps (the newest; the count says how many went).
pub const MAX_SUMMARY_LINES: usize = 20;

/// One dropped message as the overflow summary shows it: whitespace collapsed, at most 160
/// UTF-16 units (`…` when cut; never inside a character).
pub fn summary_line(text: &str) -> String {
    let cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.encode_utf16().count() <= SUMMARY_LINE_UNITS {
        return cleaned;
    }
    let mut out = String::new();
    let mut units = 0;
    for c in cleaned.chars() {
        units += c.len_utf16();
        if units > SUMMARY_LINE_UNITS - 1 {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// What the next run is told about the messages dropped at the cap (OpenClaw's text).
pub fn overflow_prompt(dropped: usize, lines: &[String]) -> String {
    let mut out = format!(
        "[Queue overflow] Dropped {dropped} message{} due to cap.",
        if dropped == 1 { "" } else { "s" }
    );
    if !lines.is_empty() {
        out.push_str("\nSummary:");
        for l in lines {
            out.push_str("\n- ");
            out.push_str(l);
        }
    }
    out
}

/// The prompt of collected messages (OpenClaw's `collect` text): each with its number and
/// sender.
pub fn collect_prompt<'a>(items: impl IntoIterator<Item = (Option<&'a str>, &'a str)>) -> String {
    let mut out = String::from("[Queued messages while agent was busy]");
    for (i, (sender, text)) in items.into_iter().enumerate() {
        out.push_str("\n\n---\nQueued #");
        out.push_str(&(i + 1).to_string());
        if let Some(s) = sender.filter(|s| !s.is_empty()) {
            out.push_str(" (from ");
            out.push_str(s);
            out.push(')');
        }
        out.push('\n');
        out.push_str(text.trim_end());
    }
    out
}

/// The text a skipped tool call gets as its result (OpenClaw's words).
pub const SKIPPED_TOOL: &str = "Skipped to process an incoming message.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_policies_parse_with_openclaws_aliases() {
        assert_eq!(QueueMode::parse(" Steering "), Some(QueueMode::Steer));
        assert_eq!(QueueMode::parse("follow-ups"), Some(QueueMode::Followup));
        assert_eq!(QueueMode::parse("COALESCE"), Some(QueueMode::Collect));
        assert_eq!(QueueMode::parse("abort"), Some(QueueMode::Interrupt));
        assert_eq!(QueueMode::parse("queue"), None);
        assert_eq!(QueueMode::parse_stored("queue"), Some(QueueMode::Steer));
        assert_eq!(
            QueueMode::parse_stored("steer-backlog"),
            Some(QueueMode::Followup)
        );
        assert_eq!(DropPolicy::parse("oldest"), Some(DropPolicy::Old));
        assert_eq!(DropPolicy::parse("summary"), Some(DropPolicy::Summarize));
        assert_eq!(DropPolicy::parse("none"), None);
    }

    #[test]
    fn the_session_wins_then_the_channel_then_the_mode() {
        let mut s = QueueSettings::default();
        assert_eq!(
            s.resolve(SessionQueue::default(), "telegram"),
            Resolved {
                mode: QueueMode::Steer,
                cap: 20,
                drop: DropPolicy::Summarize,
                debounce_ms: 500,
            }
        );
        s.mode = Some(QueueMode::Collect);
        s.by_channel.insert("telegram".into(), QueueMode::Followup);
        assert_eq!(
            s.resolve(SessionQueue::default(), "telegram").mode,
            QueueMode::Followup
        );
        assert_eq!(
            s.resolve(SessionQueue::default(), "webchat").mode,
            QueueMode::Collect
        );
        let own = SessionQueue {
            mode: Some(QueueMode::Interrupt),
            cap: Some(0),
            drop: Some(DropPolicy::New),
            debounce_ms: None,
        };
        let r = s.resolve(own, "telegram");
        assert_eq!(
            (r.mode, r.cap, r.drop),
            (QueueMode::Interrupt, 1, DropPolicy::New)
        );
        let big = SessionQueue {
            cap: Some(1_000_000),
            ..SessionQueue::default()
        };
        assert_eq!(s.resolve(big, "telegram").cap, MAX_CAP);
    }

    #[test]
    fn the_quiet_window_is_the_sessions_then_the_channels_then_the_configs() {
        let mut s = QueueSettings::default();
        let none = SessionQueue::default();
        assert_eq!(s.resolve(none, "telegram").debounce_ms, DEFAULT_DEBOUNCE_MS);
        s.debounce_ms = Some(0);
        s.debounce_by_channel.insert("telegram".into(), 1_000);
        assert_eq!(s.resolve(none, "telegram").debounce_ms, 1_000);
        assert_eq!(s.resolve(none, "webchat").debounce_ms, 0);
        let own = SessionQueue {
            debounce_ms: Some(2_000),
            ..none
        };
        assert!(own.is_set() && !none.is_set());
        assert_eq!(s.resolve(own, "telegram").debounce_ms, 2_000);
        let huge = SessionQueue {
            debounce_ms: Some(u64::MAX),
            ..none
        };
        assert_eq!(s.resolve(huge, "webchat").debounce_ms, MAX_DEBOUNCE_MS);
    }

    #[test]
    fn quiet_windows_parse_as_openclaw_writes_them() {
        for (text, ms) in [
            ("500", Some(500)),
            ("0", Some(0)),
            ("250ms", Some(250)),
            ("0.5s", Some(500)),
            ("2S", Some(2_000)),
            ("1m", Some(60_000)),
            ("1.5", Some(2)),
            ("1s500ms", Some(1_500)),
            ("1m30s", None),
            ("2m", None),
            ("1h", None),
            ("", None),
            ("s", None),
            ("-1", None),
            ("1..2s", None),
            ("1e3", None),
            ("½s", None),
            ("99999999999999999999999", None),
            ("NaN", None),
            ("inf", None),
        ] {
            assert_eq!(parse_debounce(text), ms, "{text:?}");
        }
    }

    #[test]
    fn summary_lines_collapse_space_and_cut_on_characters() {
        assert_eq!(summary_line("  a \n\t b  "), "a b");
        let long = "🦀".repeat(100); // 200 UTF-16 units
        let line = summary_line(&long);
        assert!(line.ends_with('…'));
        assert!(line.encode_utf16().count() <= 160);
        assert_eq!(line.trim_end_matches('…').chars().count(), 79);
        assert_eq!(
            overflow_prompt(1, &["hi".into()]),
            "[Queue overflow] Dropped 1 message due to cap.\nSummary:\n- hi"
        );
        assert_eq!(
            overflow_prompt(3, &[]),
            "[Queue overflow] Dropped 3 messages due to cap."
        );
    }

    #[test]
    fn collected_messages_are_numbered_with_their_sender() {
        assert_eq!(
            collect_prompt([(Some("Ann"), "one\n"), (None, "two")]),
            "[Queued messages while agent was busy]\n\n---\nQueued #1 (from Ann)\none\n\n---\nQueued #2\ntwo"
        );
    }
}
