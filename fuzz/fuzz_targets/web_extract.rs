//! `web_fetch`'s handling of what a web page sends (`openclaw_actors::web_fetch`): any
//! page may be hostile. Nothing may panic; on top of that:
//!
//! - `extract_html`: the text has no control characters but newlines, no blank or
//!   space-padded lines; the title (if any) is one trimmed line;
//! - `wrap_external`: whatever the text, the envelope has exactly one start and one end
//!   marker, the end marker last;
//! - `check_arguments`: an error is one line.
//!
//! Input: the first byte picks the mode (even: the bytes as a page; odd: as the tool
//! call's JSON arguments).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::web_fetch::{check_arguments, extract_html, wrap_external};

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
    } else if let Err(e) = check_arguments(&text) {
        assert!(!e.contains('\n'), "{e:?}");
    }
});
