//! The `exec` tool's input checks (`openclaw_actors::exec_tool`): the model writes the
//! command and its arguments, and a stranger's chat text can steer the model. Nothing may
//! panic; on top of that:
//!
//! - `simple_argv`: an accepted command has a non-empty program, no NUL and no line break in
//!   any word; quoting every word again (`'…'`, with `'\''` for a quote) and splitting
//!   that gives the same argv back; a refusal says why in one line.
//! - `check_arguments`: an error is one line.
//!
//! Input: the first byte picks the mode (even: the bytes as a command; odd: the bytes as
//! the tool call's JSON arguments).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::exec_tool::{check_arguments, simple_argv};

fn requote(argv: &[String]) -> String {
    argv.iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode % 2 == 0 {
        match simple_argv(text) {
            Ok(argv) => {
                assert!(argv.first().is_some_and(|p| !p.is_empty()), "{text:?}");
                for w in &argv {
                    assert!(!w.contains(['\0', '\n', '\r']), "{text:?} → {argv:?}");
                }
                let again = simple_argv(&requote(&argv))
                    .unwrap_or_else(|e| panic!("{text:?} → {argv:?} does not requote: {e}"));
                assert_eq!(again, argv, "{text:?}");
            }
            Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{e:?}"),
        }
    } else if let Err(e) = check_arguments(text) {
        assert!(!e.contains('\n'), "{e:?}");
    }
});
