//! `sessions_search` (`openclaw_actors::session_tools::search_transcripts`) over any
//! transcript file (JSON lines or not, torn, huge, any text in any script: strangers write
//! what ends up in transcripts) and any query (the model's). Nothing may panic; on top of
//! that: the answer is `{results, truncated?}` or `{status: "error", error}`; at most
//! `limit` results, each from the searched session, a user's or an assistant's, its snippet
//! at most 300 characters and already redacted (the redactor finds nothing more in it); the
//! whole answer within its byte bound.
//!
//! Input: byte 0 is the limit (1 to 25), then the query up to the first NUL, then the
//! transcript.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openclaw::actors::session_tools::{
    SEARCH_MAX_BYTES, SEARCH_MAX_LIMIT, SEARCH_SNIPPET_CHARS, SearchTarget, redact,
    search_transcripts,
};

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("oc-fuzz-search-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let limit = usize::from(first) % SEARCH_MAX_LIMIT + 1;
    let (query, transcript) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let path = scratch().join("t.jsonl");
    std::fs::write(&path, transcript).expect("write the transcript");
    let targets = [SearchTarget {
        key: "agent:main:main".into(),
        session_id: "s".into(),
        path,
    }];
    let v = search_transcripts(&targets, &query, limit);
    if v.get("status").is_some() {
        assert_eq!(v["status"], "error", "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        return;
    }
    let results = v["results"].as_array().expect("results");
    assert!(results.len() <= limit, "{v}");
    assert!(
        v.to_string().len() <= SEARCH_MAX_BYTES + 64,
        "{}",
        v.to_string().len()
    );
    for r in results {
        assert_eq!(r["sessionKey"], "agent:main:main");
        assert!(r["role"] == "user" || r["role"] == "assistant", "{r}");
        let s = r["snippet"].as_str().expect("snippet");
        assert!(
            s.chars().count() <= SEARCH_SNIPPET_CHARS + 16,
            "{}",
            s.chars().count()
        );
        // Already redacted: the redactor finds nothing more in it.
        assert_eq!(redact(s), s, "{s}");
    }
});
