//! `web_fetch`'s handling of what a web page sends (`openclaw_actors::web_fetch`): any
//! page may be hostile. Nothing may panic; on top of that:
//!
//! - `extract_html`: the text has no control characters but newlines, no blank or
//!   space-padded lines; the title (if any) is one trimmed line;
//! - `wrap_external`: whatever the text, the envelope has exactly one start and one end
//!   marker, the end marker last;
//! - `check_arguments`: an error is one line;
//! - `web_search`: a provider's answer (Brave's or SearXNG's JSON, any shape) normalizes
//!   into at most the results asked, each piece of prose empty or wrapped in exactly one
//!   envelope, within the prose budget; its argument check's error is one line.
//!
//! Input: the first byte picks the mode (0 or 2 mod 4: the bytes as a page; 1: as
//! `web_fetch`'s JSON arguments; 3: as a search provider's answer and `web_search`'s
//! arguments).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::web_fetch::{check_arguments, extract_html, wrap_external};
use openclaw::actors::web_search::{self, OUTPUT_MAX_CHARS, Provider};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        let (title, body) = extract_html(&text, mode % 4 == 0);
        for line in body.lines() {
            assert!(!line.is_empty() && line.trim() == line, "{line:?}");
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
        if let Some(t) = title {
            assert!(!t.is_empty() && t.trim() == t && !t.contains('\n'), "{t:?}");
        }
        let w = wrap_external(&text, "https://example.com/");
        assert_eq!(w.matches("<<<EXTERNAL_UNTRUSTED_CONTENT").count(), 1);
        assert_eq!(w.matches("<<<END_EXTERNAL_UNTRUSTED_CONTENT").count(), 1);
        assert!(w.ends_with(">>>"));
    } else if mode % 4 == 1 {
        if let Err(e) = check_arguments(&text) {
            assert!(!e.contains('\n'), "{e:?}");
        }
    } else {
        if let Err(e) = web_search::check_arguments(&text) {
            assert!(!e.contains('\n'), "{e:?}");
        }
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let want = usize::from(mode / 4 % 10) + 1;
        for (provider, rows) in [
            (Provider::Brave, web_search::parse_brave(&body)),
            (Provider::Searxng, web_search::parse_searxng(&body)),
        ] {
            let Ok(rows) = rows else { continue };
            let v = web_search::normalize(provider, "q", &rows, want, 0);
            let results = v["results"].as_array().expect("results is a list");
            assert!(results.len() <= want && v["count"] == results.len());
            let mut prose = 0;
            for r in results {
                let url = r["url"].as_str().expect("url");
                assert!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "{url}"
                );
                for k in ["title", "snippet", "siteName"] {
                    let Some(w) = r[k].as_str() else { continue };
                    if w.is_empty() {
                        continue;
                    }
                    assert_eq!(
                        w.matches("<<<EXTERNAL_UNTRUSTED_CONTENT").count(),
                        1,
                        "{w:?}"
                    );
                    assert_eq!(
                        w.matches("<<<END_EXTERNAL_UNTRUSTED_CONTENT").count(),
                        1,
                        "{w:?}"
                    );
                    assert!(w.ends_with(">>>"), "{w:?}");
                    let inner = w.split_once("\n---\n").map_or("", |(_, b)| b);
                    prose += inner.chars().count();
                }
            }
            // The envelope's own end line is counted too: a small margin per piece.
            assert!(
                prose <= OUTPUT_MAX_CHARS + results.len() * 3 * 60,
                "{prose}"
            );
        }
    }
});
