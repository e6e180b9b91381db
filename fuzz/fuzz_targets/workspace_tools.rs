//! The agent's file tools (`read`, `write`, `edit`, `apply_patch`;
//! `openclaw_actors::workspace::tools`) and
//! memory tools (`memory_search`, `memory_get`; `workspace::memory`) with any arguments a
//! steered model could send, over a real workspace on disk that holds
//! a symlink out of it and the private memory. Nothing may panic; on top of that:
//!
//! - every answer is a JSON object with a boolean `ok`;
//! - nothing outside the workspace is ever read (its secret marker never appears in an
//!   answer) or changed (the outside directory holds exactly its one file, unchanged);
//! - outside private sessions, the private memory (its marker, in `MEMORY.md` and
//!   `memory/`) never appears in an answer, and is never changed;
//! - (the markers, `OUTSIDE-SECRET-<random>` and `PRIVATE-MEMORY-<random>`, get their
//!   random part when the target starts, so an input holds one only when libFuzzer lifted
//!   it from the target's own comparisons; such inputs are skipped, since a tool may echo
//!   its input. For every other input any occurrence in an answer is a leak.)
//!
//! - an answer's `MEDIA:` lines (`workspace::attach`) never attach a file from outside the
//!   workspace, nor the private memory outside private sessions.
//! - the offered skill directory outside the workspace (`FsAccess::skill_dirs`; `@SKILL@`
//!   in the arguments stands for its absolute path) is read only inside it: its links out
//!   lead nowhere, and nothing in it is ever changed.
//! - a chat message's skill references (`workspace::skills::expand`, bit 5: the arguments
//!   are the message) expand to the user's text as written under a bounded header, or to
//!   one of the two refusals.
//!
//! Input: the first byte picks the tool (`% 5`: read, write, edit, memory_search,
//! memory_get; bit 4: instead, the arguments are an answer whose `MEDIA:` lines are
//! attached; bit 6: instead, `apply_patch`, the arguments being the patch itself, its
//! hunks free to name `notes.md`, the links out and the memory) and whether the session is
//! private (bit 3);
//! the rest is split at the first `\n\n` into the content of `notes.md` (written before the
//! call, so `read` and `edit` work on fuzzed text) and the tool's JSON arguments. The
//! workspace is rebuilt before every call (on `/dev/shm` when there is one, so the tools'
//! fsyncs cost nothing).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openclaw::actors::workspace::confined::Root;
use openclaw::actors::workspace::tools::{FsAccess, NAMES, run};
use openclaw::actors::workspace::{attach, memory};

/// The markers of what must not leak (see the module comment).
fn markers() -> &'static (String, String) {
    static M: OnceLock<(String, String)> = OnceLock::new();
    M.get_or_init(|| {
        let r: [u8; 8] = openclaw::actors::util::try_random_bytes().expect("random bytes");
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        (
            format!("OUTSIDE-SECRET-{hex}"),
            format!("PRIVATE-MEMORY-{hex}"),
        )
    })
}

fn secret() -> &'static str {
    &markers().0
}

fn private_marker() -> &'static str {
    &markers().1
}

struct Dirs {
    ws: PathBuf,
    outside: PathBuf,
    skill: PathBuf,
}

const SKILL_TEXT: &str = "---\nname: tides\n---\nRead ref.md.\n";

fn dirs() -> &'static Dirs {
    static D: OnceLock<Dirs> = OnceLock::new();
    D.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let top = base.join(format!("oc-fuzz-ws-{}", std::process::id()));
        let outside = top.join("outside");
        std::fs::create_dir_all(&outside).expect("outside dir");
        std::fs::write(outside.join("secret.txt"), secret()).expect("secret");
        let skill = top.join("skill");
        std::fs::create_dir_all(&skill).expect("skill dir");
        std::fs::write(skill.join("SKILL.md"), SKILL_TEXT).expect("skill");
        std::fs::write(skill.join("ref.md"), "tide table").expect("ref");
        std::os::unix::fs::symlink(outside.join("secret.txt"), skill.join("leak.md"))
            .expect("skill link");
        std::os::unix::fs::symlink(&outside, skill.join("up")).expect("skill dir link");
        Dirs {
            ws: top.join("ws"),
            outside,
            skill,
        }
    })
}

/// A fresh workspace: notes, the private memory, a link out, a link to the memory.
fn rebuild(d: &Dirs, notes: &[u8]) {
    let _ = std::fs::remove_dir_all(&d.ws);
    std::fs::create_dir_all(d.ws.join("memory")).expect("ws");
    std::fs::write(d.ws.join("notes.md"), notes).expect("notes");
    std::fs::write(d.ws.join("MEMORY.md"), private_marker()).expect("memory");
    std::fs::write(d.ws.join("memory/2026-12-03.md"), private_marker()).expect("daily");
    std::os::unix::fs::symlink(&d.outside, d.ws.join("out")).expect("link out");
    std::os::unix::fs::symlink(d.outside.join("secret.txt"), d.ws.join("s.md")).expect("link");
    std::os::unix::fs::symlink("MEMORY.md", d.ws.join("m.md")).expect("link to memory");
}

fuzz_target!(|data: &[u8]| {
    let [pick, rest @ ..] = data else {
        return;
    };
    let (notes, args) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    let Ok(args) = std::str::from_utf8(args) else {
        return;
    };
    let holds = |hay: &[u8], m: &str| hay.windows(m.len()).any(|w| w == m.as_bytes());
    if [secret(), private_marker()]
        .iter()
        .any(|m| holds(args.as_bytes(), m) || holds(notes, m))
    {
        return;
    }
    let d = dirs();
    rebuild(d, notes);
    let private = pick & 8 != 0;
    let root = Root::new(d.ws.clone());
    let skill_dirs = [d.skill.clone()];
    let access = FsAccess {
        root: &root,
        private,
        skill_dirs: &skill_dirs,
    };
    let args = args.replace("@SKILL@", &d.skill.display().to_string());
    let args = args.as_str();
    if pick & 32 != 0 {
        skill_references(args);
        return;
    }
    if pick & 16 != 0 {
        let (_, refs) = attach::split_media_lines(args);
        for r in refs {
            if let Ok(up) = attach::load(&access, &r) {
                let t = String::from_utf8_lossy(&up.data);
                assert!(!t.contains(secret()), "attached from outside: {r:?}");
                assert!(
                    private || !t.contains(private_marker()),
                    "attached the memory: {r:?}"
                );
            }
        }
        return;
    }
    let patch_args;
    let (name, args) = if pick & 64 != 0 {
        patch_args = serde_json::json!({ "input": args }).to_string();
        ("apply_patch", patch_args.as_str())
    } else {
        ("", args)
    };
    let answer = match usize::from(*pick) % 5 {
        _ if !name.is_empty() => run(name, args, &access),
        i @ 0..3 => run(NAMES[i], args, &access),
        i => memory::run(memory::NAMES[i - 3], args, &access),
    };
    assert!(answer.get("ok").is_some_and(|v| v.is_boolean()), "{answer}");
    let text = answer.to_string();
    assert!(
        !text.contains(secret()),
        "read outside the workspace: {text}"
    );
    if !private {
        assert!(
            !text.contains(private_marker()),
            "private memory shown: {text}"
        );
        for f in ["MEMORY.md", "memory/2026-12-03.md"] {
            assert_eq!(
                std::fs::read(d.ws.join(f)).ok().as_deref(),
                Some(private_marker().as_bytes()),
                "the private memory changed outside a private session: {f}"
            );
        }
    }
    let outside: Vec<_> = std::fs::read_dir(&d.outside)
        .expect("outside")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(
        outside.len(),
        1,
        "something was created outside: {outside:?}"
    );
    assert_eq!(
        std::fs::read(d.outside.join("secret.txt")).expect("secret"),
        secret().as_bytes(),
        "the outside file changed"
    );
    let in_skill = std::fs::read_dir(&d.skill).map_or(0, |r| r.count());
    assert_eq!(
        in_skill, 4,
        "something was created in the skill's directory"
    );
    assert_eq!(
        std::fs::read_to_string(d.skill.join("SKILL.md")).expect("skill"),
        SKILL_TEXT,
        "the skill changed"
    );
});

/// The skill reference expansion of a chat message: the text as written after a header of
/// at most a few hundred bytes, or a refusal; never a panic.
fn skill_references(text: &str) {
    use openclaw::actors::workspace::skills::{
        Meta, Skill, SkillCommand, Source, commands, expand,
    };
    static ALL: OnceLock<Vec<SkillCommand>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let names = [
            "weather",
            "tides",
            "Git Hub",
            "status",
            "secret-tool",
            "a:b",
        ];
        let skills: Vec<Skill> = names
            .iter()
            .map(|n| Skill {
                name: (*n).to_owned(),
                description: String::new(),
                location: PathBuf::from(format!("/skills/{n}/SKILL.md")),
                source: Source::Managed,
                meta: Meta::default(),
                user_invocable: true,
                model_visible: *n != "secret-tool",
            })
            .collect();
        commands(&skills)
    });
    let mine: Vec<SkillCommand> = all
        .iter()
        .filter(|c| c.skill_name != "tides")
        .cloned()
        .collect();
    match expand(text, &mine, all) {
        Ok(Some(t)) => {
            assert!(t.ends_with(text), "the user's text changed");
            assert!(
                t.len() - text.len() <= 1024,
                "header of {} bytes",
                t.len() - text.len()
            );
        }
        Ok(None) => {}
        Err(e) => assert!(
            e.starts_with("Skill \"") || e.starts_with("Too many skill references"),
            "{e}"
        ),
    }
}
