//! A session's context (`openclaw_actors::compaction` and the store's `load_context`): any
//! transcript file, whatever its lines (JSON or not, compactions with any `keptMessages`,
//! any text in any script). Nothing may panic; on top of that:
//!
//! - the context found (`context_start`) begins at or before the last compaction, and
//!   reading the file with `load_context` and no cap gives exactly the lines from there
//!   (or every line without a compaction);
//! - trimming to the context is idempotent;
//! - a compaction plan accounts for every message (summarized + left out + kept), keeps at
//!   least the last message, starts the kept tail at a user's message, and summarizes no
//!   more than the summarizer calls can read;
//! - leaving out the oldest history makes a request fit the limit, or leaves no history;
//! - the token estimate is at least a quarter of the characters.
//!
//! Input: byte 0 picks the window (× 1024 tokens, at least 1024), byte 1 `keepRecentTokens`
//! (× 64, at least 1); the rest is the transcript.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openclaw::actors::compaction::{
    Budget, context_start, drop_oldest, estimate_request, estimate_text, is_compaction,
    plan_counts, summarizer_room, trim_to_context,
};
use openclaw::actors::ports::ChatMessage;
use serde_json::Value;

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("oc-fuzz-context-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let budget = Budget::of(Some((u32::from(data[0]) * 1024).max(1024)));
    let keep = (u32::from(data[1]) * 64).max(1);
    let body = &data[2..];
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();

    // The context and the file read agree.
    let start = context_start(&lines);
    if let Some(s) = start {
        let last = lines.iter().rposition(is_compaction).expect("a compaction");
        assert!(s <= last);
    }
    let path = scratch().join("t.jsonl");
    std::fs::write(&path, body).expect("write");
    let read = openclaw::actors::store::load_context(&path, u64::MAX).expect("read");
    let want: &[Value] = match start {
        Some(s) => &lines[s..],
        None => &lines,
    };
    assert_eq!(read.as_slice(), want);
    let mut t = lines.clone();
    trim_to_context(&mut t);
    let mut again = t.clone();
    trim_to_context(&mut again);
    assert_eq!(t, again, "trimming is idempotent");

    // A plan accounts for every message.
    let messages: Vec<&Value> = t
        .iter()
        .filter(|l| {
            l.get("type").and_then(Value::as_str) == Some("message")
                && matches!(
                    l.get("role").and_then(Value::as_str),
                    Some("user" | "assistant")
                )
        })
        .collect();
    if let Some((summarized, omitted, kept, tokens)) = plan_counts(&t, budget, keep) {
        assert_eq!(summarized + omitted + kept, messages.len());
        assert!(kept >= 1 && summarized >= 1, "{summarized} {kept}");
        assert_eq!(messages[messages.len() - kept]["role"], "user");
        // One message alone may pass the room (it is never split).
        assert!(tokens <= summarizer_room(budget) || summarized == 1);
    }

    // Leaving out the oldest history fits, or leaves none.
    let mut m: Vec<ChatMessage> = vec![ChatMessage::text("system", "s")];
    for l in &messages {
        let role = l["role"].as_str().unwrap_or("user");
        let text = l.get("content").and_then(Value::as_str).unwrap_or_default();
        m.push(ChatMessage::text(role, text));
        assert!(u64::from(estimate_text(text)) * 4 >= text.chars().count() as u64);
    }
    let end = m.len();
    m.push(ChatMessage::text("user", "now"));
    let limit = budget.limit();
    let new_end = drop_oldest(&mut m, 1..end, &[], limit);
    assert!(estimate_request(&m, &[]) <= limit || new_end == 1);
    assert!(
        m.get(1)
            .is_none_or(|f| new_end == 1 || f.role != "assistant")
    );
});
