//! Progress drafts (OpenClaw's `channels.<channel>.streaming`): while the agent works on a
//! chat message, one message in the chat says so and is edited as the work goes on, then
//! removed once the answer is delivered. What every channel shares: the settings
//! ([`Streaming`]), what an agent run reports ([`RunProgress`]), the tool lines in OpenClaw's
//! display format ([`tool_line`]) and the draft's text ([`DraftText`]). The channel decides
//! when to show, edit and remove the draft (Telegram: `telegram/progress.rs`).
//!
//! Modes, as in OpenClaw: `progress` (Telegram's default) shows a status draft once a run
//! does real work (a tool call) and is still busy [`INITIAL_DELAY`] later, or at its second
//! tool call; a plain answer never shows one. The draft has a label (`Working`, hidden while
//! the model's own preamble is the headline unless set explicitly), the headline, and with
//! `progress.toolProgress` the rolling tool log. `partial` / `block` show the answer text as
//! it is written (and tool lines unless `preview.toolProgress` is false). `off`: nothing.
//! The answer itself is always sent as a new message (so it notifies, and its delivery
//! stays the durable one); the draft is then deleted.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;

use super::ChatTarget;

/// How long a run that started working must still be busy before its draft appears.
pub const INITIAL_DELAY: Duration = Duration::from_millis(1500);
/// Lines of the rolling list shown (`progress.maxLines`).
pub const DEFAULT_MAX_LINES: usize = 8;
/// Characters per line (`progress.maxLineChars`).
pub const DEFAULT_MAX_LINE_CHARS: usize = 120;
/// The headline (the model's preamble) is cut to this many characters.
pub const MAX_HEADLINE_CHARS: usize = 280;
/// A draft's text never exceeds this many UTF-16 code units (Telegram's limit is 4096).
pub const MAX_DRAFT_UNITS: usize = 4000;
/// The label when none is configured.
pub const DEFAULT_LABEL: &str = "Working";

/// `streaming.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Only the final answer.
    Off,
    /// The answer text as it is written.
    Partial,
    /// Like `partial` (OpenClaw's larger preview chunks).
    Block,
    /// A status draft.
    Progress,
}

impl StreamMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Partial => "partial",
            Self::Block => "block",
            Self::Progress => "progress",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "partial" => Some(Self::Partial),
            "block" => Some(Self::Block),
            "progress" => Some(Self::Progress),
            _ => None,
        }
    }

    /// Whether the draft shows the answer text (`partial`, `block`).
    pub fn previews_text(self) -> bool {
        matches!(self, Self::Partial | Self::Block)
    }
}

/// `streaming.progress.label` / `labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// One of these, picked by the run (empty: [`DEFAULT_LABEL`]); `explicit` when the
    /// config says `"auto"` or lists labels (then it is shown above a headline too).
    Auto {
        /// The pool.
        labels: Vec<String>,
        /// Set in the config.
        explicit: bool,
    },
    /// This label.
    Fixed(String),
    /// `label: false`.
    Hidden,
}

/// A channel account's `streaming` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streaming {
    /// The mode.
    pub mode: StreamMode,
    /// The label.
    pub label: Label,
    /// Tool lines in the draft (`progress.toolProgress`, default off; in `partial` /
    /// `block`: `preview.toolProgress`, default on).
    pub tool_progress: bool,
    /// Lines of the rolling list.
    pub max_lines: usize,
    /// Characters per line.
    pub max_line_chars: usize,
}

impl Default for Streaming {
    fn default() -> Self {
        Self {
            mode: StreamMode::Progress,
            label: Label::Auto {
                labels: Vec::new(),
                explicit: false,
            },
            tool_progress: false,
            max_lines: DEFAULT_MAX_LINES,
            max_line_chars: DEFAULT_MAX_LINE_CHARS,
        }
    }
}

impl Streaming {
    /// Reads a `streaming` value (`Err` names the key and the fix). Also takes OpenClaw's
    /// legacy forms: a boolean (`true`: `partial`) and `streamMode` (`legacy_mode`).
    pub fn parse(v: Option<&Value>, legacy_mode: Option<&str>, key: &str) -> Result<Self, String> {
        let mut s = Self::default();
        let mode_of = |m: &str, k: &str| {
            StreamMode::parse(m).ok_or_else(|| {
                format!("{k} is {m:?}. Fix: use \"off\", \"partial\", \"block\" or \"progress\"")
            })
        };
        if let Some(m) = legacy_mode {
            s.mode = mode_of(m, &key.replace("streaming", "streamMode"))?;
        }
        let obj = match v {
            None | Some(Value::Null) => return Ok(s.with_mode_defaults(None)),
            Some(Value::Bool(b)) => {
                s.mode = if *b {
                    StreamMode::Partial
                } else {
                    StreamMode::Off
                };
                return Ok(s.with_mode_defaults(None));
            }
            Some(Value::String(m)) => {
                s.mode = mode_of(m, key)?;
                return Ok(s.with_mode_defaults(None));
            }
            Some(Value::Object(o)) => o,
            Some(other) => {
                return Err(format!(
                    "{key} is {other}. Fix: use an object such as {{\"mode\": \"progress\"}}"
                ));
            }
        };
        match obj.get("mode") {
            None | Some(Value::Null) => {}
            Some(Value::String(m)) => s.mode = mode_of(m, &format!("{key}.mode"))?,
            Some(other) => {
                return Err(format!(
                    "{key}.mode is {other}. Fix: use \"off\", \"partial\", \"block\" or \"progress\""
                ));
            }
        }
        let section = |name: &str| -> Result<Option<&serde_json::Map<String, Value>>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(o)) => Ok(Some(o)),
                Some(other) => Err(format!("{key}.{name} is {other}. Fix: use an object")),
            }
        };
        let progress = section("progress")?;
        let preview = section("preview")?;
        let flag = |o: Option<&serde_json::Map<String, Value>>, sec: &str, name: &str| match o
            .and_then(|o| o.get(name))
        {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!(
                "{key}.{sec}.{name} is {other}. Fix: use true or false"
            )),
        };
        let count = |name: &str| match progress.and_then(|o| o.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64().filter(|n| (1..=4096).contains(n)) {
                Some(n) => Ok(Some(usize::try_from(n).unwrap_or(4096))),
                None => Err(format!(
                    "{key}.progress.{name} is {v}. Fix: use a whole number from 1 to 4096"
                )),
            },
        };
        if let Some(n) = count("maxLines")? {
            s.max_lines = n;
        }
        if let Some(n) = count("maxLineChars")? {
            s.max_line_chars = n;
        }
        let labels = match progress.and_then(|o| o.get("labels")) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for l in a {
                    match l.as_str() {
                        Some(t) if !t.trim().is_empty() => out.push(clean(t.trim())),
                        Some(_) => {}
                        None => {
                            return Err(format!(
                                "{key}.progress.labels holds {l}. Fix: list label strings"
                            ));
                        }
                    }
                }
                Some(out)
            }
            Some(other) => {
                return Err(format!(
                    "{key}.progress.labels is {other}. Fix: list label strings"
                ));
            }
        };
        s.label = match progress.and_then(|o| o.get("label")) {
            Some(Value::Bool(false)) => Label::Hidden,
            Some(Value::String(l))
                if !l.trim().is_empty() && !l.trim().eq_ignore_ascii_case("auto") =>
            {
                Label::Fixed(clean(l.trim()))
            }
            Some(Value::String(_)) => Label::Auto {
                labels: labels.unwrap_or_default(),
                explicit: true,
            },
            None | Some(Value::Null) => Label::Auto {
                explicit: labels.is_some(),
                labels: labels.unwrap_or_default(),
            },
            Some(other) => {
                return Err(format!(
                    "{key}.progress.label is {other}. Fix: use a label, \"auto\" or false"
                ));
            }
        };
        let tools = if s.mode.previews_text() {
            flag(preview, "preview", "toolProgress")?
        } else {
            flag(progress, "progress", "toolProgress")?
        };
        // Checked whatever the mode, so a typo is found before the mode changes.
        flag(preview, "preview", "toolProgress")?;
        flag(progress, "progress", "toolProgress")?;
        Ok(s.with_mode_defaults(tools))
    }

    fn with_mode_defaults(mut self, tools: Option<bool>) -> Self {
        self.tool_progress = tools.unwrap_or(self.mode.previews_text());
        self
    }

    /// The label of a run (`seed`: its message id), if one is shown.
    pub fn label_for(&self, seed: &str) -> Option<String> {
        match &self.label {
            Label::Hidden => None,
            Label::Fixed(l) => Some(l.clone()),
            Label::Auto { labels, .. } if labels.is_empty() => Some(DEFAULT_LABEL.to_owned()),
            Label::Auto { labels, .. } => {
                let i = usize::try_from(seed_hash(seed)).unwrap_or(0) % labels.len();
                labels.get(i).cloned()
            }
        }
    }

    /// Whether the label stays above a headline.
    fn label_explicit(&self) -> bool {
        match &self.label {
            Label::Auto { explicit, .. } => *explicit,
            Label::Fixed(_) => true,
            Label::Hidden => false,
        }
    }
}

/// FNV-1a over UTF-16 code units: OpenClaw's label pick, so one message gets the same label
/// from both gateways.
fn seed_hash(seed: &str) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for u in seed.encode_utf16() {
        h ^= u32::from(u);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Sent by an agent run to the channel of the message it answers.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RunProgress {
    /// The message being answered.
    pub inbound_id: String,
    /// Its chat.
    pub target: ChatTarget,
    /// What happened.
    pub event: ProgressEvent,
}

/// What a run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A tool call starts (real work): its display line ([`tool_line`]).
    Tool(String),
    /// The model's text before its tool calls: the status headline.
    Headline(String),
    /// The answer so far (sent only when the channel asked for it).
    Text(String),
    /// The run ended without an answer to deliver (stopped).
    Ended,
}

/// Where a run reports its progress ([`super::InboundMessage::progress`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressSink {
    /// The channel.
    pub to: Recipient<RunProgress>,
    /// Whether it shows the answer text as it is written.
    pub answer_text: bool,
}

/// A tool call as one line, in OpenClaw's tool display format (`📖 Read: from notes.md`).
/// Arguments the model sent that are not JSON give the bare title. Only names, paths,
/// queries and counts are shown: never file contents or command parameters.
pub fn tool_line(name: &str, arguments: &str) -> String {
    let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
    let str_arg = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let int_arg = |k: &str| {
        args.get(k)
            .and_then(Value::as_f64)
            .filter(|f| f.is_finite())
    };
    let path = str_arg("path").or_else(|| str_arg("file_path"));
    let (emoji, title, detail) = match name {
        "read" => {
            let offset = int_arg("offset").map(|o| o.floor().max(1.0) as u64);
            let limit = int_arg("limit").map(|l| l.floor().max(1.0) as u64);
            let detail = path.map(|p| match (offset, limit) {
                (Some(o), Some(l)) => format!(
                    "{} {o}-{} from {p}",
                    if l == 1 { "line" } else { "lines" },
                    o.saturating_add(l - 1)
                ),
                (Some(o), None) => format!("from line {o} in {p}"),
                (None, Some(l)) => {
                    format!("first {l} {} of {p}", if l == 1 { "line" } else { "lines" })
                }
                (None, None) => format!("from {p}"),
            });
            ("📖", "Read", detail)
        }
        "write" => {
            let n = str_arg("content").map(|c| c.encode_utf16().count());
            let detail = path.map(|p| match n {
                Some(n) if n > 0 => format!("to {p} ({n} chars)"),
                _ => format!("to {p}"),
            });
            ("✍️", "Write", detail)
        }
        "edit" => ("📝", "Edit", path.map(|p| format!("in {p}"))),
        "apply_patch" => ("🩹", "Apply Patch", None),
        "memory_search" => ("🧠", "Memory Search", str_arg("query").map(str::to_owned)),
        "memory_get" => ("📓", "Memory Get", path.map(str::to_owned)),
        "nodes" => {
            let detail = str_arg("action").map(|a| {
                let mut d = a.to_owned();
                if a == "invoke"
                    && let Some(c) = str_arg("command")
                {
                    d.push(' ');
                    d.push_str(c);
                }
                if let Some(n) = str_arg("node") {
                    d.push_str(" on ");
                    d.push_str(n);
                }
                d
            });
            ("📱", "Nodes", detail)
        }
        "cron" => ("⏰", "Cron", str_arg("action").map(str::to_owned)),
        // The action only: the text and the chat stay out of the draft.
        "message" => ("✉️", "Message", str_arg("action").map(str::to_owned)),
        // OpenClaw's detail keys: `query`, then `count` (`query …, count 3` with both).
        "web_search" => {
            let count = int_arg("count").map(|c| c.floor() as i64);
            let detail = match (str_arg("query"), count) {
                (Some(q), Some(c)) => Some(format!("query {q}, count {c}")),
                (Some(q), None) => Some(q.to_owned()),
                (None, Some(c)) => Some(format!("count {c}")),
                (None, None) => None,
            };
            ("🔎", "Web Search", detail)
        }
        "web_fetch" => (
            "📄",
            "Web Fetch",
            str_arg("url").map(|u| {
                // The host only: a query string can carry tokens.
                let rest = u.split_once("://").map_or(u, |(_, r)| r);
                let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                // Never the `user:password@` part.
                host.rsplit('@').next().unwrap_or(host).to_owned()
            }),
        ),
        // The program only: a command line can carry tokens and passwords.
        "exec" => {
            let detail = str_arg("command").map(|c| {
                let program = c.split_whitespace().next().unwrap_or_default();
                let program = program.rsplit('/').next().unwrap_or(program);
                let mut d = format!("run {program}");
                if let Some(n) = str_arg("node") {
                    d.push_str(", node: ");
                    d.push_str(n);
                }
                d
            });
            ("🛠️", "Exec", detail)
        }
        other => {
            let title = other.replace(['_', '-'], " ");
            return format!("🧩 {}", clean(title.trim()));
        }
    };
    match detail {
        Some(d) => format!("{emoji} {title}: {}", clean(&d)),
        None => format!("{emoji} {title}"),
    }
}

/// Text as one line: control characters and runs of whitespace become one space.
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// A line cut to `max` characters as OpenClaw compacts progress lines: a `Title: detail`
/// line keeps its title and shortens the detail in the middle (a path's end stays
/// readable); other text is cut at the end. `…` marks the cut.
pub fn compact_line(line: &str, max: usize) -> String {
    let line = clean(line);
    let n = line.chars().count();
    if n <= max {
        return line;
    }
    if max <= 1 {
        return "…".to_owned();
    }
    if let Some(i) = line.find(": ") {
        let prefix = &line[..i + 2];
        let room = max.saturating_sub(prefix.chars().count());
        if room >= 8 {
            return format!("{prefix}{}", middle_cut(&line[i + 2..], room));
        }
    }
    let mut out: String = line.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `s` in `max` characters: about 45 % of its head, `…`, the rest from its tail.
fn middle_cut(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_owned();
    }
    let head = ((max - 1) * 45).div_ceil(100).max(1);
    let tail = max.saturating_sub(head + 1).max(1);
    let mut out: String = chars[..head]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_owned();
    out.push('…');
    out.extend(chars[chars.len() - tail..].iter());
    out
}

/// Cuts `s` to at most `max` UTF-16 code units (on a character boundary), marking the cut.
fn cut_units(s: &str, max: usize) -> String {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max.saturating_sub(1) {
            let mut out = s[..i].to_owned();
            out.push('…');
            return out;
        }
    }
    s.to_owned()
}

/// What a draft says.
#[derive(Debug, Default, Clone)]
pub struct DraftText {
    /// The label, if the settings show one.
    pub label: Option<String>,
    /// The model's latest preamble.
    pub headline: Option<String>,
    /// The latest tool lines (at most `max_lines`).
    pub lines: VecDeque<String>,
    /// The answer so far (`partial` / `block`).
    pub answer: Option<String>,
}

impl DraftText {
    /// Records one event; `true` when it is work (a tool call).
    pub fn apply(&mut self, event: &ProgressEvent, s: &Streaming) -> bool {
        match event {
            ProgressEvent::Tool(line) => {
                if s.tool_progress {
                    self.lines.push_back(compact_line(line, s.max_line_chars));
                    while self.lines.len() > s.max_lines {
                        self.lines.pop_front();
                    }
                }
                true
            }
            ProgressEvent::Headline(h) => {
                if s.mode == StreamMode::Progress {
                    let h = compact_line(h, MAX_HEADLINE_CHARS);
                    self.headline = (!h.is_empty()).then_some(h);
                }
                false
            }
            ProgressEvent::Text(t) => {
                if s.mode.previews_text() && !t.trim().is_empty() {
                    self.answer = Some(cut_units(t.trim(), MAX_DRAFT_UNITS));
                }
                false
            }
            ProgressEvent::Ended => false,
        }
    }

    /// The draft's text ("" when there is nothing to show), at most [`MAX_DRAFT_UNITS`]
    /// UTF-16 code units.
    pub fn render(&self, s: &Streaming) -> String {
        if let Some(a) = &self.answer {
            return a.clone();
        }
        let mut out = String::new();
        if let Some(h) = &self.headline {
            out.push_str(h);
        }
        // The rolling list: the label on top, scrolled away by enough tool lines.
        let label = self
            .label
            .as_ref()
            .filter(|_| self.headline.is_none() || s.label_explicit());
        let list: Vec<&String> = label.into_iter().chain(self.lines.iter()).collect();
        let skip = list.len().saturating_sub(s.max_lines);
        for l in &list[skip..] {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(l);
        }
        cut_units(&out, MAX_DRAFT_UNITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Streaming, String> {
        Streaming::parse(Some(&v), None, "channels.telegram.streaming")
    }

    #[test]
    fn settings_follow_openclaw_defaults_and_refuse_nonsense() {
        let d = Streaming::parse(None, None, "k").expect("default");
        assert_eq!(d.mode, StreamMode::Progress);
        assert!(!d.tool_progress, "the progress draft is quiet by default");
        assert_eq!((d.max_lines, d.max_line_chars), (8, 120));
        assert_eq!(d.label_for("x").as_deref(), Some("Working"));
        let p = parse(json!({"mode": "partial"})).expect("partial");
        assert!(p.tool_progress, "previews show tool lines by default");
        let p = parse(json!({"mode": "partial", "preview": {"toolProgress": false}}));
        assert!(!p.expect("partial").tool_progress);
        assert_eq!(
            parse(json!(true)).expect("legacy").mode,
            StreamMode::Partial
        );
        assert_eq!(parse(json!(false)).expect("legacy").mode, StreamMode::Off);
        let legacy = Streaming::parse(None, Some("off"), "channels.telegram.streaming");
        assert_eq!(legacy.expect("streamMode").mode, StreamMode::Off);
        let s = parse(json!({"progress": {"toolProgress": true, "label": false, "maxLines": 3}}))
            .expect("progress");
        assert!(s.tool_progress);
        assert_eq!(s.label_for("x"), None);
        assert_eq!(s.max_lines, 3);
        for (bad, names) in [
            (json!({"mode": "fast"}), "channels.telegram.streaming.mode"),
            (json!({"mode": 1}), "channels.telegram.streaming.mode"),
            (json!({"progress": {"maxLines": 0}}), "progress.maxLines"),
            (
                json!({"progress": {"maxLineChars": "9"}}),
                "progress.maxLineChars",
            ),
            (
                json!({"progress": {"toolProgress": "yes"}}),
                "progress.toolProgress",
            ),
            (json!({"progress": {"label": true}}), "progress.label"),
            (json!({"progress": {"labels": [1]}}), "progress.labels"),
            (json!({"progress": []}), "streaming.progress"),
            (json!(7), "channels.telegram.streaming"),
        ] {
            let e = parse(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains(names) && e.contains("Fix:"), "{bad}: {e}");
        }
        let e = Streaming::parse(None, Some("stream"), "channels.telegram.streaming")
            .expect_err("bad streamMode");
        assert!(e.contains("channels.telegram.streamMode"), "{e}");
    }

    #[test]
    fn labels_are_picked_like_openclaw() {
        // FNV-1a of the seed's UTF-16 units, as OpenClaw's hashProgressSeed.
        assert_eq!(seed_hash(""), 2_166_136_261);
        assert_eq!(seed_hash("a"), 0xe40c_292c);
        let s = parse(json!({"progress": {"labels": ["A", "B", "C"]}})).expect("labels");
        let picks: std::collections::HashSet<_> = (0..40)
            .filter_map(|i| s.label_for(&format!("telegram:default:{i}")))
            .collect();
        assert_eq!(picks.len(), 3, "{picks:?}");
        assert_eq!(s.label_for("same"), s.label_for("same"));
        let fixed = parse(json!({"progress": {"label": " Investigating "}})).expect("fixed");
        assert_eq!(fixed.label_for("x").as_deref(), Some("Investigating"));
    }

    #[test]
    fn tool_lines_use_openclaws_display() {
        let cases = [
            (
                "read",
                json!({"path": "notes.md"}),
                "📖 Read: from notes.md",
            ),
            (
                "exec",
                json!({"command": "/usr/bin/curl -H 'Authorization: Bearer sk-1' x", "node": "pi"}),
                "🛠️ Exec: run curl, node: pi",
            ),
            (
                "web_fetch",
                json!({"url": "https://bob:s3cret@example.com:8443/a?token=x"}),
                "📄 Web Fetch: example.com:8443",
            ),
            (
                "read",
                json!({"path": "a.md", "offset": 3, "limit": 2}),
                "📖 Read: lines 3-4 from a.md",
            ),
            (
                "read",
                json!({"path": "a.md", "offset": 7}),
                "📖 Read: from line 7 in a.md",
            ),
            (
                "read",
                json!({"path": "a.md", "limit": 1}),
                "📖 Read: first 1 line of a.md",
            ),
            (
                "write",
                json!({"path": "memory/d.md", "content": "héllo"}),
                "✍️ Write: to memory/d.md (5 chars)",
            ),
            (
                "edit",
                json!({"path": "SOUL.md", "edits": []}),
                "📝 Edit: in SOUL.md",
            ),
            (
                "memory_search",
                json!({"query": "coffee  order"}),
                "🧠 Memory Search: coffee order",
            ),
            (
                "memory_get",
                json!({"path": "MEMORY.md"}),
                "📓 Memory Get: MEMORY.md",
            ),
            (
                "nodes",
                json!({"action": "invoke", "command": "camera.snap", "node": "phone"}),
                "📱 Nodes: invoke camera.snap on phone",
            ),
            ("nodes", json!({"action": "status"}), "📱 Nodes: status"),
            (
                "cron",
                json!({"action": "add", "message": "secret"}),
                "⏰ Cron: add",
            ),
            ("web_fetch", json!({}), "📄 Web Fetch"),
            (
                "web_search",
                json!({"query": "tide\ntables", "count": 3}),
                "🔎 Web Search: query tide tables, count 3",
            ),
            (
                "web_search",
                json!({"query": "tides"}),
                "🔎 Web Search: tides",
            ),
            ("browser_use", json!({}), "🧩 browser use"),
        ];
        for (name, args, want) in cases {
            assert_eq!(tool_line(name, &args.to_string()), want);
        }
        assert_eq!(tool_line("read", "not json"), "📖 Read");
        // Newlines and control characters in what the model sent stay on one line.
        let l = tool_line("read", &json!({"path": "a\n\u{7}b\r\nc"}).to_string());
        assert_eq!(l, "📖 Read: from a b c");
        // Never the content or a command's parameters.
        let l = tool_line(
            "nodes",
            &json!({"action": "invoke", "command": "system.run", "params": {"command": ["cat", "/etc/shadow"]}}).to_string(),
        );
        assert!(!l.contains("shadow"), "{l}");
        let l = tool_line(
            "write",
            &json!({"path": "x", "content": "TOPSECRET"}).to_string(),
        );
        assert!(!l.contains("TOPSECRET"), "{l}");
    }

    #[test]
    fn lines_are_compacted_on_character_boundaries() {
        let long = format!("📖 Read: from {}/end.md", "dir/".repeat(60));
        let c = compact_line(&long, 40);
        assert_eq!(c.chars().count(), 40, "{c}");
        assert!(
            c.starts_with("📖 Read: ") && c.ends_with("end.md") && c.contains('…'),
            "{c}"
        );
        let cjk = "漢字".repeat(100);
        let c = compact_line(&cjk, 10);
        assert_eq!(c.chars().count(), 10);
        assert!(c.ends_with('…'));
        assert_eq!(compact_line("short", 120), "short");
        assert_eq!(compact_line("abc", 1), "…");
        let emoji = "👩‍👩‍👧".repeat(2000);
        let cut = cut_units(&emoji, MAX_DRAFT_UNITS);
        assert!(cut.encode_utf16().count() <= MAX_DRAFT_UNITS);
    }

    #[test]
    fn the_draft_rolls_and_hides_the_implicit_label_under_a_headline() {
        let s = parse(json!({"progress": {"toolProgress": true, "maxLines": 3}})).expect("s");
        let mut d = DraftText {
            label: s.label_for("m"),
            ..DraftText::default()
        };
        assert!(d.apply(&ProgressEvent::Tool("📖 Read: from a".into()), &s));
        assert_eq!(d.render(&s), "Working\n📖 Read: from a");
        for i in 0..3 {
            d.apply(&ProgressEvent::Tool(format!("📖 Read: from {i}")), &s);
        }
        assert_eq!(
            d.render(&s),
            "📖 Read: from 0\n📖 Read: from 1\n📖 Read: from 2",
            "the label scrolled away"
        );
        assert!(!d.apply(&ProgressEvent::Headline("Checking your notes.".into()), &s));
        assert!(
            d.render(&s)
                .starts_with("Checking your notes.\n📖 Read: from 0")
        );
        // Quiet default: label, then the headline alone.
        let q = Streaming::default();
        let mut d = DraftText {
            label: q.label_for("m"),
            ..DraftText::default()
        };
        d.apply(&ProgressEvent::Tool("📖 Read: from a".into()), &q);
        assert_eq!(d.render(&q), "Working");
        d.apply(&ProgressEvent::Headline("Looking it up\nnow".into()), &q);
        assert_eq!(d.render(&q), "Looking it up now");
        // An explicit label stays above the headline.
        let e = parse(json!({"progress": {"label": "Busy"}})).expect("e");
        let mut d = DraftText {
            label: e.label_for("m"),
            ..DraftText::default()
        };
        d.apply(&ProgressEvent::Headline("Looking".into()), &e);
        assert_eq!(d.render(&e), "Looking\nBusy");
        // Answer text only in partial mode.
        d.apply(&ProgressEvent::Text("The answer".into()), &e);
        assert!(d.answer.is_none());
        let p = parse(json!({"mode": "partial"})).expect("p");
        d.apply(&ProgressEvent::Text("The answer".into()), &p);
        assert_eq!(d.render(&p), "The answer");
    }
}
