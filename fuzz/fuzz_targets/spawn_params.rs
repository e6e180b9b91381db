//! What the agent's `sessions_spawn` tool takes
//! (`openclaw_actors::subagents::SpawnAsk::parse`), the words after `/subagents`
//! (`SubagentsAsk::parse`) and the handoff built from a child's answer (`Handoff::text`).
//! Nothing may panic; on top of that:
//!
//! - a spawn read has a non-blank trimmed task of at most `MAX_TASK_CHARS` characters, a
//!   label of at most `MAX_LABEL_CHARS` without control characters, a valid `taskName`,
//!   and a time limit of at most a day;
//! - `/subagents` words out of its list come back shortened to 32 characters;
//! - a handoff holds at most `MAX_RESULT_CHARS` of the answer (plus its fixed lines).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::registry::subagents::SubagentsAsk;
use openclaw::actors::subagents::{
    Ended, Handoff, MAX_LABEL_CHARS, MAX_RESULT_CHARS, MAX_RUN, MAX_TASK_CHARS, SpawnAsk,
    valid_task_name,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let SubagentsAsk::Bad(word) = SubagentsAsk::parse(text) {
        assert!(word.chars().count() <= 32, "{word:?}");
    }
    let h = Handoff {
        label: text,
        child_key: "agent:main:subagent:x",
        ended: &Ended::Ok,
        result: text,
        runtime_ms: u64::try_from(text.len())
            .unwrap_or(0)
            .saturating_mul(1_000_003),
        tokens: Some((u64::MAX, text.len() as u64)),
    }
    .text();
    assert!(
        h.chars().count() <= MAX_RESULT_CHARS + text.chars().count() + 1_000,
        "handoff too long"
    );
    let Ok(args) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Ok(ask) = SpawnAsk::parse(&args) else {
        return;
    };
    assert!(
        !ask.task.is_empty() && ask.task.trim() == ask.task,
        "{:?}",
        ask.task
    );
    assert!(ask.task.chars().count() <= MAX_TASK_CHARS);
    assert!(
        ask.label.chars().count() <= MAX_LABEL_CHARS,
        "{:?}",
        ask.label
    );
    assert!(
        !ask.label
            .chars()
            .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
        "{:?}",
        ask.label
    );
    if let Some(n) = &ask.task_name {
        assert!(valid_task_name(n), "{n:?}");
    }
    if let Some(s) = ask.timeout_secs {
        assert!(s <= MAX_RUN.as_secs(), "{s}");
    }
});
