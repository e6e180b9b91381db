//! Progress drafts (`openclaw_actors::channel::progress`): the tool lines built from what
//! the model sent, the line compaction, the draft's text and the `streaming` settings.
//! Nothing may panic; on top of that:
//!
//! - a tool line and a compacted line are one line: no control characters (so no
//!   newline), and a compacted line has at most `max` characters;
//! - a tool line never shows a `content` argument (a file's text) of 16+ characters that
//!   is not also another argument or the tool's name;
//! - a draft's text is at most 4000 UTF-16 code units, and has at most `maxLines` lines
//!   below its headline (one line);
//! - settings that parse have `maxLines` and `maxLineChars` in 1..=4096; refused ones
//!   name the key and say `Fix:`.
//!
//! Input: byte 0 is `maxLineChars` (0 → 1), byte 1 `maxLines` (mod 16, +1), byte 2 the
//! mode (bits 0-1) and toolProgress (bit 2); the rest, as UTF-8 (lossy), is split at NUL
//! into the tool name, its JSON arguments, the model's preamble, the answer text and a
//! JSON `streaming` value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::channel::progress::{
    DraftText, MAX_DRAFT_UNITS, ProgressEvent, StreamMode, Streaming, compact_line, tool_line,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max_chars = usize::from(data[0].max(1));
    let max_lines = usize::from(data[1] % 16) + 1;
    let mode = [
        StreamMode::Progress,
        StreamMode::Partial,
        StreamMode::Off,
        StreamMode::Block,
    ][usize::from(data[2] & 3)];
    let text = String::from_utf8_lossy(&data[3..]);
    let mut parts = text.split('\0');
    let name = parts.next().unwrap_or("");
    let args = parts.next().unwrap_or("");
    let headline = parts.next().unwrap_or("");
    let answer = parts.next().unwrap_or("");
    let config = parts.next().unwrap_or("");

    let line = tool_line(name, args);
    assert!(!line.chars().any(char::is_control), "{line:?}");
    if let Ok(v) = serde_json::from_str::<Value>(args)
        && let Some(c) = v.get("content").and_then(Value::as_str)
    {
        // Unless the same text is also another argument (a path, a query) or the name.
        let c = c.trim();
        let elsewhere = name.contains(c)
            || v.as_object().is_some_and(|o| {
                o.iter()
                    .any(|(k, x)| k != "content" && x.to_string().contains(c))
            });
        if c.chars().count() >= 16 && !c.contains(char::is_whitespace) && !elsewhere {
            assert!(!line.contains(c), "content shown: {line:?}");
        }
    }
    let compact = compact_line(&line, max_chars);
    assert!(
        compact.chars().count() <= max_chars,
        "{compact:?} > {max_chars}"
    );
    assert!(!compact.chars().any(char::is_control), "{compact:?}");

    let settings = Streaming {
        mode,
        tool_progress: data[2] & 4 != 0,
        max_lines,
        max_line_chars: max_chars,
        ..Streaming::default()
    };
    let mut draft = DraftText {
        label: settings.label_for(name),
        ..DraftText::default()
    };
    for event in [
        ProgressEvent::Tool(line.clone()),
        ProgressEvent::Headline(headline.to_owned()),
        ProgressEvent::Tool(args.to_owned()),
        ProgressEvent::Text(answer.to_owned()),
    ] {
        draft.apply(&event, &settings);
        let shown = draft.render(&settings);
        assert!(
            shown.encode_utf16().count() <= MAX_DRAFT_UNITS,
            "{} units",
            shown.encode_utf16().count()
        );
        if draft.answer.is_none() {
            assert!(shown.lines().count() <= max_lines + 1, "{shown:?}");
        }
    }

    if let Ok(v) = serde_json::from_str::<Value>(config) {
        match Streaming::parse(Some(&v), None, "channels.telegram.streaming") {
            Ok(s) => {
                assert!((1..=4096).contains(&s.max_lines), "{s:?}");
                assert!((1..=4096).contains(&s.max_line_chars), "{s:?}");
            }
            Err(e) => assert!(
                e.contains("channels.telegram.streaming") && e.contains("Fix:"),
                "{e}"
            ),
        }
    }
});
