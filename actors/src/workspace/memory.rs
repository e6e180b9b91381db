//! OpenClaw's memory tools `memory_search` and `memory_get` over the workspace's private
//! memory: `MEMORY.md` (curated long-term memory) and the notes under `memory/` (daily
//! notes `memory/YYYY-MM-DD.md`, any `memory/**/*.md`).
//!
//! - **Privacy.** Both tools answer only where the private memory is available
//!   ([`FsAccess::private`]); elsewhere they refuse without touching a file.
//! - **The corpus**: `MEMORY.md` at the root (or the one file whose name is `memory.md` in
//!   another case) and every `*.md` under `memory/`, at most [`MAX_DEPTH`] components deep,
//!   dot entries skipped, directory symbolic links not walked. Every file is read through
//!   [`Root`] (so a link out of the workspace, a FIFO or a device is refused) and must
//!   really be memory: a link whose target is not `MEMORY.md` or under `memory/` is not
//!   searched, and a link inside the memory is searched once, under its target's name. At
//!   most [`MAX_FILES`] files (the newest notes first), [`MAX_FILE_BYTES`] each and
//!   [`MAX_TOTAL_BYTES`] in all; beyond, the answer says `"partial": true`. What was left
//!   out is listed under `"skipped"`.
//! - **`memory_search`** is OpenClaw's builtin engine without embeddings: keyword search
//!   over chunks of about [`CHUNK_LINES`] lines (ending at a blank line or before a
//!   Markdown heading when possible, never more than [`CHUNK_CHARS`] characters), scored
//!   with BM25 (k1 = 1.2, b = 0.75) and normalized so the best hit scores 1.0; a chunk
//!   holding the whole query as a phrase (case and whitespace aside) ranks above every
//!   other. Tokens are Unicode-aware: letters and digits of any script, lowercased per
//!   character; each CJK character is a token of its own; one-character tokens other than
//!   digits and CJK are dropped.
//! - **`memory_get`** reads a line range of `MEMORY.md` or a `memory/**/*.md` note,
//!   judged on the path as given and on where its symbolic links really lead.
//!
//! The arguments are the model's (hostile input): every value is type-checked and bounded;
//! [`run`] always answers a JSON object, `{"ok": true, …}` or `{"ok": false, "error": …}`,
//! and nothing panics. The work is linear in the corpus: two streaming passes over the
//! chunks, no per-token allocation, a bounded set of best candidates.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::args::{Args, clip, kind, pick, shown, whole as whole_arg};
use super::confined::{ConfinedError, Root, floor_char_boundary, human_limit, human_size, len_u64};
use super::tools::FsAccess;
use crate::ports::ToolSpec;

/// The tools' names, as the model calls them.
pub const NAMES: [&str; 2] = ["memory_search", "memory_get"];

/// The most a memory file may have to be searched or read (bytes; OpenClaw's 2 MiB).
pub const MAX_FILE_BYTES: usize = super::MAX_FILE_BYTES;
/// The most files one search reads.
pub const MAX_FILES: usize = 2000;
/// The most text one search reads, all files together (bytes of decoded text).
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// The most path components below `memory/` a searched note may have
/// (`memory/a/b/c/note.md`).
pub const MAX_DEPTH: usize = 4;
/// The chunk size aimed at (lines).
pub const CHUNK_LINES: usize = 12;
/// The most characters in one chunk.
pub const CHUNK_CHARS: usize = 2000;

/// A chunk of at least this many lines ends at a blank line.
const CHUNK_SOFT_LINES: usize = 6;
/// How much of a chunk a result shows (characters).
const SNIPPET_CHARS: usize = 700;
/// The longest query (characters).
const QUERY_MAX_CHARS: usize = 1000;
/// The most distinct query terms scored (the rest are ignored, and the answer says so).
const MAX_TERMS: usize = 64;
/// Results: default and most.
const DEFAULT_RESULTS: u64 = 8;
const MAX_RESULTS: u64 = 50;
/// `memory_get`: default and most lines, most bytes of text.
const DEFAULT_LINES: u64 = 200;
const GET_MAX_LINES: u64 = 2000;
const GET_MAX_BYTES: usize = 12_000;
/// The longest arguments string accepted (bytes).
const ARGS_MAX: usize = 64 * 1024;
/// The most directory entries one search looks at under `memory/` (beyond: partial).
const MAX_ENTRIES: usize = 20_000;
/// The most root entries looked at to find a `memory.md` spelled in another case.
const ROOT_SCAN: usize = 10_000;
/// The most skipped files an answer lists.
const SKIPPED_SHOWN: usize = 20;
/// BM25 parameters (the usual ones).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The refusal outside the owner's private sessions.
const PRIVATE: &str = "memory is private to the owner's direct chats; not available here";
/// The refusal of a path that is not memory.
const NOT_MEMORY: &str =
    "memory_get reads MEMORY.md and memory/*.md only; use read for other files";

/// The two tools' specs (OpenClaw's names and argument names).
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "memory_search".to_owned(),
            description: "Search your long-term memory (MEMORY.md and the notes in memory/*.md) by keywords before answering questions about prior work, decisions, dates, people, preferences or todos. Returns the best-matching snippets with their path and line numbers (score 0..1, the best hit 1.0); use memory_get to read more around a hit.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for (any language), e.g. \"boat paint colour\""},
                    "maxResults": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "Most results to return (default 8)"},
                    "minScore": {"type": "number", "minimum": 0, "maximum": 1, "description": "Leave out results scoring below this (0..1, default 0)"}
                },
                "required": ["query"]
            }),
        },
        ToolSpec {
            name: "memory_get".to_owned(),
            description: "Read lines of MEMORY.md or a memory/*.md note (e.g. around a memory_search hit), to pull only what you need. Returns at most 2000 lines or 12000 bytes; use from/lines to page.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "\"MEMORY.md\" or a note under memory/, e.g. \"memory/2026-12-03.md\""},
                    "from": {"type": "integer", "minimum": 1, "description": "First line to read (1-based, default 1)"},
                    "lines": {"type": "integer", "minimum": 1, "maximum": GET_MAX_LINES, "description": "How many lines to read (default 200)"}
                },
                "required": ["path"]
            }),
        },
    ]
}

/// Runs tool `name` with the model's JSON `args`. Always a JSON object: `{"ok": true, …}`
/// or `{"ok": false, "error": "<message for the model>"}`. Refuses (touching no file) when
/// `access` is not private. Blocking (file I/O): run it on a blocking thread.
pub fn run(name: &str, args: &str, access: &FsAccess<'_>) -> Value {
    let result = match name {
        "memory_search" | "memory_get" if !access.private => Err(PRIVATE.to_owned()),
        "memory_search" => super::args::parse(args, ARGS_MAX, "{\"query\": \"boat\"}")
            .and_then(|a| search_tool(&a, access.root)),
        "memory_get" => super::args::parse(args, ARGS_MAX, "{\"path\": \"MEMORY.md\"}")
            .and_then(|a| get_tool(&a, access.root)),
        other => Err(format!(
            "unknown tool \"{}\"; the memory tools are memory_search and memory_get",
            clip(other, 80)
        )),
    };
    result.unwrap_or_else(|error| json!({"ok": false, "error": error}))
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

/// An optional number in `0..=1` (a JSON number or a numeric string) under any of `names`.
fn fraction_arg(m: &Args, names: &[&'static str]) -> Result<Option<f64>, String> {
    let Some((name, v)) = pick(m, names) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(f) if f.is_finite() && (0.0..=1.0).contains(&f) => Ok(Some(f)),
        _ => Err(format!(
            "argument \"{name}\" must be a number from 0 to 1 (the lowest score to keep), not {}",
            shown(v)
        )),
    }
}

fn string_arg<'a>(m: &'a Args, names: &[&'static str], what: &str) -> Result<&'a str, String> {
    match pick(m, names) {
        Some((_, Value::String(s))) => Ok(s),
        Some((name, other)) => Err(format!(
            "argument \"{name}\" must be a string ({what}), not {}",
            kind(other)
        )),
        None => Err(format!(
            "missing argument \"{}\" ({what})",
            names.first().copied().unwrap_or_default()
        )),
    }
}

// ---------------------------------------------------------------------------------------
// What is memory
// ---------------------------------------------------------------------------------------

/// Whether `rel` (relative to the root, `/`-separated, normalized) is memory: `MEMORY.md`
/// at the root or a `*.md` under `memory/` (ASCII case-insensitive).
fn is_memory(rel: &str) -> bool {
    match rel.split_once('/') {
        None => rel.eq_ignore_ascii_case("MEMORY.md"),
        Some((first, rest)) => {
            first.eq_ignore_ascii_case("memory")
                && !rest.is_empty()
                && rest.rsplit('/').next().is_some_and(is_md)
        }
    }
}

/// A Markdown file name (`.md`, ASCII case-insensitive).
fn is_md(name: &str) -> bool {
    name.len() > 3
        && name
            .get(name.len() - 3..)
            .is_some_and(|ext| ext.eq_ignore_ascii_case(".md"))
}

/// The name of the long-term memory file at the root: `MEMORY.md`, or else the one whose
/// name is `memory.md` in another case (the smallest such name); `None` when there is none.
fn root_memory_name(root: &Root) -> Option<String> {
    if std::fs::symlink_metadata(root.dir().join("MEMORY.md")).is_ok() {
        return Some("MEMORY.md".to_owned());
    }
    std::fs::read_dir(root.dir())
        .ok()?
        .take(ROOT_SCAN)
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.eq_ignore_ascii_case("MEMORY.md"))
        .min()
}

/// Where a model-given memory path leads: (its name as given, relative; its real path,
/// relative). Refuses a path that is not memory, as given or where its links lead.
fn locate_memory(root: &Root, given: &str) -> Result<(String, String), String> {
    let loc = match root.locate(given) {
        Ok(l) => l,
        Err(ConfinedError::Outside { .. } | ConfinedError::IsRoot { .. }) => {
            return Err(NOT_MEMORY.to_owned());
        }
        Err(e) => return Err(e.to_string()),
    };
    let name = root.relative(&loc.path);
    if !is_memory(&name) {
        return Err(NOT_MEMORY.to_owned());
    }
    let real = root.relative(&loc.real);
    if !is_memory(&real) {
        return Err(format!(
            "\"{}\" is a link to a file that is not memory; {NOT_MEMORY}",
            clip(&name, 160)
        ));
    }
    Ok((name, real))
}

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

/// One memory file as searched.
#[derive(Debug)]
struct MemFile {
    /// Relative to the workspace, `/`-separated: where it really is (a link inside the
    /// memory is known by the file it leads to).
    path: String,
    /// Its text (lossily decoded, BOM dropped).
    text: String,
}

/// The files of one search.
#[derive(Debug, Default)]
struct Corpus {
    files: Vec<MemFile>,
    /// A limit stopped the gathering.
    partial: bool,
    /// Files (or directories) left out, and why (the first [`SKIPPED_SHOWN`]).
    skipped: Vec<(String, String)>,
    /// How many were left out in all.
    skipped_count: usize,
}

impl Corpus {
    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        self.skipped_count += 1;
        if self.skipped.len() < SKIPPED_SHOWN {
            self.skipped.push((clip(path, 200), reason.into()));
        }
    }
}

/// Reads the corpus: the root memory file first, then the notes under `memory/`, newest
/// (greatest path) first, within the limits.
fn gather(root: &Root) -> Corpus {
    let mut corpus = Corpus::default();
    let mut names: Vec<String> = Vec::new();
    let mut notes = walk_notes(root, &mut corpus);
    notes.sort_unstable_by(|a, b| b.cmp(a));
    names.extend(root_memory_name(root));
    names.extend(notes);
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0usize;
    for name in names {
        if corpus.files.len() >= MAX_FILES {
            corpus.partial = true;
            break;
        }
        let loc = match root.locate(&name) {
            Ok(l) => l,
            Err(e) => {
                corpus.skip(&name, e.to_string());
                continue;
            }
        };
        let real = root.relative(&loc.real);
        if !is_memory(&real) {
            corpus.skip(
                &name,
                "a symbolic link to a file that is not memory; not searched",
            );
            continue;
        }
        if !seen.insert(real.clone()) {
            // The same file under another name (a link inside the memory): searched once.
            continue;
        }
        // Known by its real name: a link's hits name the file it leads to.
        let name = real;
        // The size first: an oversized file is not read at all.
        match root.stat(&name) {
            Ok(Some(meta)) if meta.len > len_u64(MAX_FILE_BYTES) => {
                corpus.skip(
                    &name,
                    format!(
                        "{} is more than the {} searched per file; read it in parts with memory_get",
                        human_size(meta.len),
                        human_limit(MAX_FILE_BYTES)
                    ),
                );
                continue;
            }
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                corpus.skip(&name, e.to_string());
                continue;
            }
        }
        let bytes = match root.read(&name, MAX_FILE_BYTES) {
            Ok(Some(f)) => f.bytes,
            Ok(None) => continue,
            Err(e) => {
                corpus.skip(&name, e.to_string());
                continue;
            }
        };
        let text = decode(bytes).0;
        if total.saturating_add(text.len()) > MAX_TOTAL_BYTES {
            corpus.partial = true;
            break;
        }
        total += text.len();
        corpus.files.push(MemFile { path: name, text });
    }
    corpus
}

/// The `*.md` names under `memory/` (relative, `/`-separated), at most [`MAX_DEPTH`]
/// components deep; dot entries skipped, directory links not followed (a link named
/// `*.md` is listed: the read decides where it leads).
fn walk_notes(root: &Root, corpus: &mut Corpus) -> Vec<String> {
    let mut out = Vec::new();
    let top = root.dir().join("memory");
    match std::fs::symlink_metadata(&top) {
        Ok(m) if m.file_type().is_symlink() => {
            corpus.skip("memory", "a symbolic link; not searched");
            return out;
        }
        Ok(m) if m.is_dir() => {}
        _ => return out,
    }
    // Directories to list: (absolute path, relative name, its depth below memory/).
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(top, "memory".to_owned(), 0)];
    let mut entries = 0usize;
    while let Some((dir, rel, depth)) = stack.pop() {
        let list = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                corpus.skip(&rel, format!("could not list the directory: {e}"));
                continue;
            }
        };
        for entry in list {
            entries += 1;
            if entries > MAX_ENTRIES {
                corpus.partial = true;
                return out;
            }
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                corpus.skip(
                    &format!("{rel}/{}", name.to_string_lossy()),
                    "the name is not UTF-8; not searched",
                );
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let child = format!("{rel}/{name}");
            if kind.is_dir() {
                if depth + 2 <= MAX_DEPTH {
                    stack.push((entry.path(), child, depth + 1));
                } else {
                    corpus.skip(
                        &child,
                        format!("more than {MAX_DEPTH} levels below memory/; not searched"),
                    );
                }
            } else if is_md(name) {
                out.push(child);
            }
        }
    }
    out
}

/// Text from bytes (lossily; a leading BOM dropped), and whether it was valid UTF-8.
fn decode(bytes: Vec<u8>) -> (String, bool) {
    let (mut text, valid) = match String::from_utf8(bytes) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    };
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    (text, valid)
}

// ---------------------------------------------------------------------------------------
// Chunks and tokens
// ---------------------------------------------------------------------------------------

/// A chunk of a file: lines `start_line..=end_line` (1-based), bytes `start..end` of its
/// text (from the first to the last non-blank line, no final line break).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    start_line: u64,
    end_line: u64,
    start: usize,
    end: usize,
}

/// A chunk being built.
#[derive(Debug, Clone, Copy)]
struct Open {
    chunk: Chunk,
    /// Lines in it so far, blank ones included.
    lines: usize,
    /// Characters of `start..end`.
    chars: usize,
    /// Characters after `end` (line breaks, blank lines) that the next line would bring in.
    gap: usize,
}

/// Calls `f` with each chunk of `text`, in order: about [`CHUNK_LINES`] lines, ending at a
/// blank line once it has [`CHUNK_SOFT_LINES`] lines and before a Markdown heading, never
/// more than [`CHUNK_CHARS`] characters (a longer line is cut into pieces). Blank-only
/// stretches make no chunk. Linear in `text`.
fn for_each_chunk(text: &str, mut f: impl FnMut(Chunk)) {
    let mut open: Option<Open> = None;
    let mut line_no = 0u64;
    let mut pos = 0usize;
    for raw in text.split_inclusive('\n') {
        line_no += 1;
        let line_start = pos;
        pos += raw.len();
        let body = raw.strip_suffix('\n').unwrap_or(raw);
        let body = body.strip_suffix('\r').unwrap_or(body);
        // The line break: ASCII, so bytes are characters.
        let tail = raw.len() - body.len();
        if body.trim().is_empty() {
            if let Some(o) = open.as_mut() {
                o.lines += 1;
                o.gap += raw.chars().count();
                if o.lines >= CHUNK_SOFT_LINES {
                    f(o.chunk);
                    open = None;
                }
            }
            continue;
        }
        let chars = body.chars().count();
        if let Some(o) = open
            && (is_heading(body) || o.lines >= CHUNK_LINES || o.chars + o.gap + chars > CHUNK_CHARS)
        {
            f(o.chunk);
            open = None;
        }
        if chars > CHUNK_CHARS {
            for (start, end) in pieces(body, CHUNK_CHARS) {
                if !body[start..end].trim().is_empty() {
                    f(Chunk {
                        start_line: line_no,
                        end_line: line_no,
                        start: line_start + start,
                        end: line_start + end,
                    });
                }
            }
            continue;
        }
        let end = line_start + body.len();
        match open.as_mut() {
            Some(o) => {
                o.chunk.end = end;
                o.chunk.end_line = line_no;
                o.lines += 1;
                o.chars += o.gap + chars;
                o.gap = tail;
            }
            None => {
                open = Some(Open {
                    chunk: Chunk {
                        start_line: line_no,
                        end_line: line_no,
                        start: line_start,
                        end,
                    },
                    lines: 1,
                    chars,
                    gap: tail,
                });
            }
        }
    }
    if let Some(o) = open {
        f(o.chunk);
    }
}

/// Byte ranges of `s` of at most `n` characters each, in order.
fn pieces(s: &str, n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut count = 0usize;
    for (i, _) in s.char_indices() {
        if count == n {
            out.push((start, i));
            start = i;
            count = 0;
        }
        count += 1;
    }
    if start < s.len() {
        out.push((start, s.len()));
    }
    out
}

/// A Markdown ATX heading (`#` to `######`, then a space or the end).
fn is_heading(line: &str) -> bool {
    let t = line.trim_start();
    let hashes = t.bytes().take_while(|b| *b == b'#').count();
    (1..=6).contains(&hashes)
        && t.get(hashes..)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// A CJK character (Han, kana, Hangul and their extensions): a token of its own. The
/// kana block's punctuation (`゠`, `・`) is not one.
fn is_cjk(c: char) -> bool {
    !matches!(c, '\u{30A0}' | '\u{30FB}')
        && matches!(c as u32,
            0x3040..=0x30FF      // Hiragana, Katakana
            | 0x31F0..=0x31FF    // Katakana phonetic extensions
            | 0x3400..=0x4DBF    // CJK extension A
            | 0x4E00..=0x9FFF    // CJK unified ideographs
            | 0xAC00..=0xD7AF    // Hangul syllables
            | 0xF900..=0xFAFF    // CJK compatibility ideographs
            | 0xFF66..=0xFF9F    // Halfwidth katakana
            | 0x20000..=0x323AF  // CJK extensions B..H
        )
}

/// A combining mark that continues a word (`e` + U+0301 stays one token).
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

/// Splits text into lowercased tokens (see the module doc), reusing one buffer.
#[derive(Debug, Default)]
struct Tokenizer {
    buf: String,
}

impl Tokenizer {
    /// Calls `f` with each token of `text`, in order.
    fn each(&mut self, text: &str, mut f: impl FnMut(&str)) {
        self.buf.clear();
        // Characters in the token (as written) and whether its first one is a digit.
        let mut count = 0usize;
        let mut digit = false;
        let flush = |buf: &mut String, count: &mut usize, digit: bool, f: &mut dyn FnMut(&str)| {
            if *count >= 2 || (*count == 1 && digit) {
                f(buf);
            }
            buf.clear();
            *count = 0;
        };
        for c in text.chars() {
            if is_cjk(c) {
                flush(&mut self.buf, &mut count, digit, &mut f);
                let mut one = [0u8; 4];
                f(c.encode_utf8(&mut one));
            } else if c.is_alphanumeric() || (count > 0 && is_mark(c)) {
                if count == 0 {
                    digit = c.is_numeric();
                }
                count += 1;
                self.buf.extend(c.to_lowercase());
            } else if count > 0 {
                flush(&mut self.buf, &mut count, digit, &mut f);
            }
        }
        flush(&mut self.buf, &mut count, digit, &mut f);
    }
}

/// Calls `f` with each search token of `text` (letters and digits of any script,
/// lowercased; each CJK character a token of its own; one-character tokens other than
/// digits and CJK dropped): `memory_search`'s words, shared with `sessions_search`.
pub(crate) fn for_each_token(text: &str, f: impl FnMut(&str)) {
    Tokenizer::default().each(text, f);
}

/// `text` lowercased with its whitespace runs made one space, trimmed (for the phrase
/// match).
fn fold(text: &str, out: &mut String) {
    out.clear();
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.extend(c.to_lowercase());
        }
    }
}

// ---------------------------------------------------------------------------------------
// memory_search
// ---------------------------------------------------------------------------------------

/// The query, ready to score.
#[derive(Debug)]
struct Query {
    /// Distinct terms → their index.
    terms: HashMap<String, usize>,
    /// The longest term (bytes): longer tokens are not looked up.
    longest: usize,
    /// The folded phrase, when the query has several tokens.
    phrase: Option<String>,
    /// Terms beyond [`MAX_TERMS`] were ignored.
    clipped: bool,
}

impl Query {
    fn parse(q: &str) -> Self {
        let mut terms: HashMap<String, usize> = HashMap::new();
        let mut tokens = 0usize;
        let mut clipped = false;
        Tokenizer::default().each(q, |t| {
            tokens += 1;
            if terms.contains_key(t) {
                return;
            }
            if terms.len() >= MAX_TERMS {
                clipped = true;
                return;
            }
            let i = terms.len();
            terms.insert(t.to_owned(), i);
        });
        let longest = terms.keys().map(String::len).max().unwrap_or(0);
        let phrase = (tokens >= 2).then(|| {
            let mut p = String::new();
            fold(q, &mut p);
            p
        });
        Self {
            terms,
            longest,
            phrase,
            clipped,
        }
    }

    /// Counts the query terms of `text` into `tf` (zeroed first); returns the number of
    /// tokens of `text`.
    fn count(&self, tok: &mut Tokenizer, text: &str, tf: &mut [u32]) -> u64 {
        tf.iter_mut().for_each(|n| *n = 0);
        let mut len = 0u64;
        tok.each(text, |t| {
            len += 1;
            if t.len() <= self.longest
                && let Some(&i) = self.terms.get(t)
                && let Some(n) = tf.get_mut(i)
            {
                *n = n.saturating_add(1);
            }
        });
        len
    }
}

/// A scored chunk.
#[derive(Debug, Clone, Copy)]
struct Hit {
    file: usize,
    chunk: Chunk,
    bm25: f64,
    phrase: bool,
}

/// The ranking: phrase matches first, then BM25, then the newer note (greater path), then
/// the earlier line.
fn rank(files: &[MemFile], a: &Hit, b: &Hit) -> Ordering {
    b.phrase
        .cmp(&a.phrase)
        .then_with(|| b.bm25.total_cmp(&a.bm25))
        .then_with(|| {
            let pa = files.get(a.file).map(|f| f.path.as_str());
            let pb = files.get(b.file).map(|f| f.path.as_str());
            pb.cmp(&pa)
        })
        .then_with(|| a.chunk.start_line.cmp(&b.chunk.start_line))
}

fn search_tool(m: &Args, root: &Root) -> Result<Value, String> {
    let query = string_arg(m, &["query"], "words to look for in your memory")?;
    let max_results = whole_arg(
        m,
        &["maxResults", "max_results"],
        1,
        MAX_RESULTS,
        "how many results to return",
    )?
    .unwrap_or(DEFAULT_RESULTS);
    let min_score = fraction_arg(m, &["minScore", "min_score"])?.unwrap_or(0.0);
    if query.trim().is_empty() {
        return Err(
            "argument \"query\" is empty; give words to look for, e.g. \"boat paint\"".to_owned(),
        );
    }
    let chars = query.chars().count();
    if chars > QUERY_MAX_CHARS {
        return Err(format!(
            "argument \"query\" is {chars} characters, more than the {QUERY_MAX_CHARS} accepted; use a few keywords"
        ));
    }
    let q = Query::parse(query);
    if q.terms.is_empty() {
        return Err(format!(
            "argument \"query\" (\"{}\") has no words to search for (letters or digits); use a few keywords",
            clip(query, 80)
        ));
    }
    let corpus = gather(root);
    let keep = usize::try_from(max_results).unwrap_or(8);
    let (hits, best_bm25) = score(&corpus.files, &q, keep);

    let mut out = Map::new();
    out.insert("ok".to_owned(), Value::Bool(true));
    let mut results = Vec::new();
    let top = hits
        .first()
        .map(|h| h.bm25 + if h.phrase { best_bm25 } else { 0.0 });
    for h in &hits {
        let raw = h.bm25 + if h.phrase { best_bm25 } else { 0.0 };
        let s = match top {
            Some(t) if t > 0.0 => raw / t,
            _ => 0.0,
        };
        if s < min_score {
            continue;
        }
        let Some(file) = corpus.files.get(h.file) else {
            continue;
        };
        let text = file
            .text
            .get(h.chunk.start..h.chunk.end)
            .unwrap_or_default();
        results.push(json!({
            "path": file.path,
            "startLine": h.chunk.start_line,
            "endLine": h.chunk.end_line,
            "score": (s * 10_000.0).round() / 10_000.0,
            "snippet": super::head(text, SNIPPET_CHARS),
        }));
    }
    let mut notes = Vec::new();
    if results.is_empty() {
        if corpus.files.is_empty() {
            notes.push(
                "there is no memory yet (MEMORY.md, memory/*.md); nothing was found".to_owned(),
            );
        } else if hits.is_empty() {
            notes.push(format!(
                "nothing in {} memory file(s) matches \"{}\"; try other words (synonyms, names, dates) or fewer of them",
                corpus.files.len(),
                clip(query, 80)
            ));
        } else {
            notes.push(format!(
                "no result scores at least minScore {min_score}; lower minScore or try other words"
            ));
        }
    }
    if q.clipped {
        notes.push(format!(
            "only the first {MAX_TERMS} distinct words of the query were used"
        ));
    }
    out.insert("results".to_owned(), Value::Array(results));
    out.insert("searched".to_owned(), json!(corpus.files.len()));
    if corpus.partial {
        out.insert("partial".to_owned(), Value::Bool(true));
        notes.push(format!(
            "the memory is larger than one search reads ({MAX_FILES} files, {} in all); the newest notes were searched",
            human_limit(MAX_TOTAL_BYTES)
        ));
    }
    if !corpus.skipped.is_empty() {
        let list: Vec<Value> = corpus
            .skipped
            .iter()
            .map(|(p, r)| json!({"path": p, "reason": r}))
            .collect();
        out.insert("skipped".to_owned(), Value::Array(list));
        if corpus.skipped_count > corpus.skipped.len() {
            notes.push(format!(
                "{} files were skipped; the first {} are listed",
                corpus.skipped_count,
                corpus.skipped.len()
            ));
        }
    }
    if !notes.is_empty() {
        out.insert("note".to_owned(), Value::String(notes.join("; ")));
    }
    Ok(Value::Object(out))
}

/// The best `keep` chunks of `files` for `q`, ranked, and the best BM25 score of all
/// matching chunks. Two streaming passes: the collection statistics (chunk count, mean
/// length, document frequencies), then the scores; at most a few times `keep` candidates
/// are held at once.
fn score(files: &[MemFile], q: &Query, keep: usize) -> (Vec<Hit>, f64) {
    let n_terms = q.terms.len();
    let mut tok = Tokenizer::default();
    let mut tf = vec![0u32; n_terms];
    // Pass 1: statistics.
    let mut n_chunks = 0u64;
    let mut total_len = 0u64;
    let mut df = vec![0u64; n_terms];
    for f in files {
        for_each_chunk(&f.text, |c| {
            let text = f.text.get(c.start..c.end).unwrap_or_default();
            let len = q.count(&mut tok, text, &mut tf);
            if len == 0 {
                return;
            }
            n_chunks += 1;
            total_len += len;
            for (d, t) in df.iter_mut().zip(&tf) {
                *d += u64::from(*t > 0);
            }
        });
    }
    if n_chunks == 0 || df.iter().all(|d| *d == 0) {
        return (Vec::new(), 0.0);
    }
    let n = n_chunks as f64;
    let avg = total_len as f64 / n;
    let idf: Vec<f64> = df
        .iter()
        .map(|d| {
            let d = *d as f64;
            (1.0 + (n - d + 0.5) / (d + 0.5)).ln()
        })
        .collect();
    // Pass 2: scores.
    let mut hits: Vec<Hit> = Vec::new();
    let mut best = 0.0f64;
    let mut folded = String::new();
    let bound = keep.saturating_mul(4).saturating_add(64);
    for (fi, f) in files.iter().enumerate() {
        for_each_chunk(&f.text, |c| {
            let text = f.text.get(c.start..c.end).unwrap_or_default();
            let len = q.count(&mut tok, text, &mut tf);
            if tf.iter().all(|t| *t == 0) {
                return;
            }
            let norm = K1 * (1.0 - B + B * len as f64 / avg);
            let bm25: f64 = tf
                .iter()
                .zip(&idf)
                .filter(|(t, _)| **t > 0)
                .map(|(t, w)| {
                    let t = f64::from(*t);
                    w * t * (K1 + 1.0) / (t + norm)
                })
                .sum();
            let phrase = q.phrase.as_deref().is_some_and(|p| {
                fold(text, &mut folded);
                folded.contains(p)
            });
            best = best.max(bm25);
            hits.push(Hit {
                file: fi,
                chunk: c,
                bm25,
                phrase,
            });
            if hits.len() >= bound {
                hits.sort_by(|a, b| rank(files, a, b));
                hits.truncate(keep);
            }
        });
    }
    hits.sort_by(|a, b| rank(files, a, b));
    hits.truncate(keep);
    (hits, best)
}

// ---------------------------------------------------------------------------------------
// memory_get
// ---------------------------------------------------------------------------------------

fn get_tool(m: &Args, root: &Root) -> Result<Value, String> {
    let given = string_arg(
        m,
        &["path", "file_path", "filePath"],
        "\"MEMORY.md\" or a note under memory/, e.g. \"memory/2026-12-03.md\"",
    )?;
    let from = whole_arg(
        m,
        &["from", "offset"],
        1,
        u64::MAX,
        "the first line to read, counting from 1",
    )?
    .unwrap_or(1);
    let lines = whole_arg(
        m,
        &["lines", "limit"],
        1,
        GET_MAX_LINES,
        "how many lines to read",
    )?
    .unwrap_or(DEFAULT_LINES);
    let (mut name, mut real) = locate_memory(root, given)?;
    let mut file = root
        .read(&real, MAX_FILE_BYTES)
        .map_err(|e| e.to_string())?;
    // `MEMORY.md` asked for, `memory.md` (another case) is the one there.
    if file.is_none()
        && !name.contains('/')
        && let Some(other) = root_memory_name(root).filter(|o| *o != name)
    {
        (name, real) = locate_memory(root, &other)?;
        file = root
            .read(&real, MAX_FILE_BYTES)
            .map_err(|e| e.to_string())?;
    }
    let Some(file) = file else {
        return Err(format!(
            "file \"{}\" does not exist; memory_search finds notes by their content",
            clip(&name, 200)
        ));
    };
    let (text, valid) = decode(file.bytes);
    let total = len_u64(text.split_inclusive('\n').count());
    if from > total.max(1) {
        return Err(format!(
            "from {from} is past the end of \"{name}\" ({total} lines); use a from of 1 to {}",
            total.max(1)
        ));
    }
    let skip = usize::try_from(from - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(lines).unwrap_or(usize::MAX);
    let mut shown = String::new();
    let mut to = from - 1;
    let mut cut_line = None;
    for line in text.split_inclusive('\n').skip(skip).take(take) {
        if shown.len() + line.len() > GET_MAX_BYTES {
            if shown.is_empty() {
                let cut = floor_char_boundary(line, GET_MAX_BYTES);
                shown.push_str(line.get(..cut).unwrap_or_default());
                to += 1;
                cut_line = Some(cut);
            }
            break;
        }
        shown.push_str(line);
        to += 1;
    }
    if shown.ends_with('\n') {
        shown.pop();
        if shown.ends_with('\r') {
            shown.pop();
        }
    }
    let mut out = Map::new();
    out.insert("ok".to_owned(), Value::Bool(true));
    out.insert("path".to_owned(), Value::String(name));
    out.insert(
        "from".to_owned(),
        json!(if total == 0 { 0u64 } else { from }),
    );
    out.insert("to".to_owned(), json!(to));
    out.insert("totalLines".to_owned(), json!(total));
    out.insert("text".to_owned(), Value::String(shown));
    out.insert("more".to_owned(), Value::Bool(to < total));
    if to < total {
        out.insert(
            "next".to_owned(),
            Value::String(format!(
                "{} more lines; call memory_get with from={} to continue",
                total - to,
                to + 1
            )),
        );
    }
    let mut notes = Vec::new();
    if !valid {
        notes.push("not UTF-8; shown lossily".to_owned());
    }
    if let Some(cut) = cut_line {
        notes.push(format!(
            "line {to} is longer than {GET_MAX_BYTES} bytes; only its first {cut} bytes are shown"
        ));
    }
    if total == 0 {
        notes.push("the file is empty".to_owned());
    }
    if !notes.is_empty() {
        out.insert("note".to_owned(), Value::String(notes.join("; ")));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().expect("tempdir");
        let ws = t.path().join("ws");
        fs::create_dir(&ws).expect("mkdir");
        (t, Root::new(ws))
    }

    fn call(root: &Root, private: bool, name: &str, args: Value) -> Value {
        run(name, &args.to_string(), &FsAccess::workspace(root, private))
    }

    fn search(root: &Root, args: Value) -> Value {
        let v = call(root, true, "memory_search", args);
        assert_eq!(v["ok"], true, "{v}");
        v
    }

    fn get(root: &Root, args: Value) -> Value {
        let v = call(root, true, "memory_get", args);
        assert_eq!(v["ok"], true, "{v}");
        v
    }

    fn error(v: &Value) -> &str {
        assert_eq!(v["ok"], false, "{v}");
        v["error"].as_str().expect("error string")
    }

    fn put(root: &Root, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = root.dir().join(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(p, bytes).expect("write");
    }

    /// (path, startLine) of each result.
    fn hits(v: &Value) -> Vec<(String, u64)> {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["path"].as_str().expect("path").to_owned(),
                    r["startLine"].as_u64().expect("line"),
                )
            })
            .collect()
    }

    fn paths(v: &Value) -> Vec<String> {
        hits(v).into_iter().map(|(p, _)| p).collect()
    }

    fn scores(v: &Value) -> Vec<f64> {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["score"].as_f64().expect("score"))
            .collect()
    }

    fn tokens(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        Tokenizer::default().each(text, |t| out.push(t.to_owned()));
        out
    }

    fn chunks(text: &str) -> Vec<Chunk> {
        let mut out = Vec::new();
        for_each_chunk(text, |c| out.push(c));
        out
    }

    #[test]
    fn specs_name_both_tools_with_openclaw_arguments() {
        let specs = specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, NAMES);
        assert_eq!(specs[0].parameters["required"], json!(["query"]));
        assert!(specs[0].parameters["properties"]["maxResults"].is_object());
        assert!(specs[0].parameters["properties"]["minScore"].is_object());
        assert_eq!(specs[1].parameters["required"], json!(["path"]));
        assert!(specs[1].parameters["properties"]["from"].is_object());
        assert!(specs[1].parameters["properties"]["lines"].is_object());
        for s in &specs {
            assert!(s.description.contains("MEMORY.md"), "{}", s.description);
        }
    }

    #[test]
    fn search_ranks_by_frequency_and_puts_the_exact_phrase_first() {
        let (_t, root) = setup();
        put(
            &root,
            "memory/2026-01-01.md",
            "The boat is moored at the old pier.\n",
        );
        put(
            &root,
            "memory/2026-01-02.md",
            "The boat left, the boat came back.\n",
        );
        put(&root, "memory/2026-01-03.md", "Lunch with Anna at noon.\n");
        let v = search(&root, json!({"query": "boat"}));
        assert_eq!(
            paths(&v),
            ["memory/2026-01-02.md", "memory/2026-01-01.md"],
            "{v}"
        );
        let s = scores(&v);
        assert_eq!(s[0], 1.0);
        assert!(s[1] > 0.0 && s[1] < 1.0, "{s:?}");
        assert_eq!(v["searched"], 3);
        let first = &v["results"][0];
        assert_eq!(first["snippet"], "The boat left, the boat came back.");
        assert_eq!(first["startLine"], 1);
        assert_eq!(first["endLine"], 1);
        assert!(v.get("partial").is_none(), "{v}");

        // The whole query as a phrase beats more frequent scattered words.
        put(
            &root,
            "MEMORY.md",
            "# Boats\nboat boat boat blue blue blue\n# Paint\nWe painted the blue boat.\n",
        );
        let v = search(&root, json!({"query": "Blue  Boat"}));
        let h = hits(&v);
        assert_eq!(h[0], ("MEMORY.md".to_owned(), 3), "{v}");
        assert_eq!(
            v["results"][0]["snippet"],
            "# Paint\nWe painted the blue boat."
        );
        assert_eq!(h[1], ("MEMORY.md".to_owned(), 1), "{v}");
        let s = scores(&v);
        assert_eq!(s[0], 1.0);
        assert!(s.windows(2).all(|w| w[0] >= w[1]), "{s:?}");
    }

    #[test]
    fn ties_put_the_newer_note_first_then_the_earlier_line() {
        let (_t, root) = setup();
        let same = "kayak trip planned\n";
        put(&root, "memory/2026-03-01.md", same);
        put(&root, "memory/2026-03-02.md", same);
        put(
            &root,
            "memory/2026-02-01.md",
            format!("{same}# Filler\nfiller words here\n# {same}"),
        );
        let v = search(&root, json!({"query": "kayak"}));
        assert_eq!(
            hits(&v),
            [
                ("memory/2026-03-02.md".to_owned(), 1),
                ("memory/2026-03-01.md".to_owned(), 1),
                ("memory/2026-02-01.md".to_owned(), 1),
                ("memory/2026-02-01.md".to_owned(), 4),
            ],
            "{v}"
        );
    }

    #[test]
    fn search_is_unicode_aware() {
        let (_t, root) = setup();
        put(
            &root,
            "memory/2026-04-01.md",
            "Ordered a café CRÈME at the bar.\n",
        );
        put(
            &root,
            "memory/2026-04-02.md",
            "Ordered a cafe creme elsewhere.\n",
        );
        put(&root, "memory/2026-04-03.md", "明日は東京へ行く。\n");
        put(&root, "memory/2026-04-04.md", "京都と山東省の話。\n");
        put(
            &root,
            "memory/2026-04-05.md",
            "Die Straße ist NAÏVE gebaut.\n",
        );
        let v = search(&root, json!({"query": "Café crème"}));
        assert_eq!(paths(&v), ["memory/2026-04-01.md"], "{v}");
        assert_eq!(
            v["results"][0]["snippet"],
            "Ordered a café CRÈME at the bar."
        );
        assert_eq!(scores(&v), [1.0]);
        // CJK: each character is a token; the phrase 東京 ranks first.
        let v = search(&root, json!({"query": "東京"}));
        assert_eq!(
            paths(&v),
            ["memory/2026-04-03.md", "memory/2026-04-04.md"],
            "{v}"
        );
        assert_eq!(v["results"][0]["snippet"], "明日は東京へ行く。");
        let v = search(&root, json!({"query": "STRASSE straße naïve"}));
        assert_eq!(paths(&v), ["memory/2026-04-05.md"], "{v}");
        // The tokenizer itself.
        assert_eq!(
            tokens("Hello, WORLD! a 7 東京 naïve Straße e\u{301} x_y İz 42"),
            [
                "hello",
                "world",
                "7",
                "東",
                "京",
                "naïve",
                "straße",
                "e\u{301}",
                "i\u{307}z",
                "42"
            ]
        );
        assert!(tokens("a b ! ? _").is_empty());
    }

    #[test]
    fn max_results_and_min_score_bound_the_answer() {
        let (_t, root) = setup();
        for i in 0..12 {
            let words = "sailing ".repeat(i + 1);
            put(
                &root,
                &format!("memory/2026-05-{:02}.md", i + 1),
                format!("{words}and other plain words to pad the line\n"),
            );
        }
        let v = search(&root, json!({"query": "sailing"}));
        assert_eq!(v["results"].as_array().expect("results").len(), 8);
        assert_eq!(v["results"][0]["path"], "memory/2026-05-12.md");
        for args in [
            json!({"query": "sailing", "maxResults": 3}),
            json!({"query": "sailing", "max_results": "3"}),
            json!({"query": "sailing", "maxResults": 3.0}),
        ] {
            let v = search(&root, args.clone());
            assert_eq!(
                paths(&v),
                [
                    "memory/2026-05-12.md",
                    "memory/2026-05-11.md",
                    "memory/2026-05-10.md"
                ],
                "{args}"
            );
        }
        let v = search(&root, json!({"query": "sailing", "maxResults": 50}));
        let all = scores(&v);
        assert_eq!(all.len(), 12);
        let v = search(
            &root,
            json!({"query": "sailing", "minScore": 0.9, "maxResults": 50}),
        );
        let high = scores(&v);
        assert!(!high.is_empty() && high.len() < 12, "{high:?}");
        assert!(high.iter().all(|s| *s >= 0.9), "{high:?}");
        assert_eq!(high.len(), all.iter().filter(|s| **s >= 0.9).count());
        let v = search(
            &root,
            json!({"query": "sailing", "min_score": "1", "maxResults": null}),
        );
        assert_eq!(paths(&v), ["memory/2026-05-12.md"], "{v}");
        // Nothing matches: ok, empty, with a note.
        let v = search(&root, json!({"query": "zeppelin"}));
        assert_eq!(v["results"], json!([]));
        assert!(
            v["note"]
                .as_str()
                .expect("note")
                .contains("try other words"),
            "{v}"
        );
        // No memory at all.
        let (_t2, empty) = setup();
        let v = search(&empty, json!({"query": "anything"}));
        assert_eq!(v["results"], json!([]));
        assert_eq!(v["searched"], 0);
        assert!(
            v["note"].as_str().expect("note").contains("no memory yet"),
            "{v}"
        );
    }

    #[test]
    fn chunks_follow_headings_blank_lines_and_the_size_limits() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let c = chunks(&text);
        let lines: Vec<(u64, u64)> = c.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(lines, [(1, 12), (13, 24), (25, 30)]);
        assert_eq!(
            &text[c[0].start..c[0].end],
            text.lines().take(12).collect::<Vec<_>>().join("\n")
        );
        // A heading starts a chunk; a blank line ends one of 6 lines or more; blank
        // stretches are no chunk and not part of one.
        let text = "a1\na2\n# H\nb1\nb2\nb3\nb4\nb5\n\n\n\nc1\n\nc2\n";
        let lines: Vec<(u64, u64)> = chunks(text)
            .iter()
            .map(|c| (c.start_line, c.end_line))
            .collect();
        assert_eq!(lines, [(1, 2), (3, 8), (12, 14)]);
        // A long line is cut into pieces of at most CHUNK_CHARS characters.
        let long = format!("short\n{}\nafter\n", "é".repeat(4500));
        let c = chunks(&long);
        let sizes: Vec<usize> = c
            .iter()
            .map(|c| long[c.start..c.end].chars().count())
            .collect();
        assert_eq!(sizes, [5, 2000, 2000, 500, 5]);
        assert_eq!((c[2].start_line, c[2].end_line), (2, 2));
        // Lines that together pass the limit split before it.
        let wide: String = (0..12).map(|_| format!("{}\n", "w".repeat(300))).collect();
        for c in chunks(&wide) {
            assert!(wide[c.start..c.end].chars().count() <= CHUNK_CHARS);
        }
        assert_eq!(chunks(&wide).len(), 2);
        // A huge run of whitespace inside a chunk counts too.
        let gappy = format!("a\n{}\nb\n", " ".repeat(5000));
        for c in chunks(&gappy) {
            assert!(gappy[c.start..c.end].chars().count() <= CHUNK_CHARS);
        }
        assert!(chunks("\n \n\t\n").is_empty());
        assert!(
            is_heading("## x")
                && is_heading("#")
                && !is_heading("#tag")
                && !is_heading("####### x")
        );
    }

    #[test]
    fn a_two_mib_one_line_note_is_searched_in_linear_time() {
        let (_t, root) = setup();
        let mut body = "lorem ipsum dolor ".repeat(116_000);
        body.push_str("needle");
        assert!(body.len() < MAX_FILE_BYTES);
        put(&root, "memory/huge.md", &body);
        let started = std::time::Instant::now();
        let v = search(&root, json!({"query": "needle"}));
        assert_eq!(hits(&v), [("memory/huge.md".to_owned(), 1)], "{v}");
        let snippet = v["results"][0]["snippet"].as_str().expect("snippet");
        assert!(
            snippet.chars().count() <= SNIPPET_CHARS,
            "{}",
            snippet.len()
        );
        assert!(snippet.ends_with("needle"), "{snippet}");
        // Generous: a quadratic pass would take minutes here.
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        // Snippets are cut at a character boundary.
        put(
            &root,
            "memory/wide.md",
            format!("{} marker", "ü".repeat(1500)),
        );
        let v = search(&root, json!({"query": "marker"}));
        let s = v["results"][0]["snippet"].as_str().expect("snippet");
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
    }

    #[test]
    fn the_corpus_skips_what_is_not_plain_memory() {
        let (t, root) = setup();
        let ws = root.dir().to_path_buf();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("secret.md"), "zebra outside secret\n").expect("w");
        put(&root, "SOUL.md", "zebra soul text\n");
        put(&root, "MEMORY.md", "zebra long term\n");
        put(&root, "memory/2026-06-01.md", "zebra daily\n");
        put(&root, "memory/a/b/c/ok.md", "zebra three levels down\n");
        put(&root, "memory/a/b/c/d/deep.md", "zebra too deep\n");
        put(&root, "memory/.hidden.md", "zebra hidden\n");
        put(&root, "memory/.git/x.md", "zebra in a dot dir\n");
        put(&root, "memory/notes.txt", "zebra not markdown\n");
        put(&root, "other/n.md", "zebra behind a directory link\n");
        symlink(ws.join("other"), ws.join("memory/linked")).expect("dir link");
        symlink(&outside, ws.join("memory/away")).expect("dir link out");
        symlink(outside.join("secret.md"), ws.join("memory/leak.md")).expect("file link out");
        symlink("../SOUL.md", ws.join("memory/soul.md")).expect("file link in");
        symlink("2026-06-01.md", ws.join("memory/latest.md")).expect("alias");
        let mut big = "zebra ".repeat(10);
        big.push_str(&"x".repeat(MAX_FILE_BYTES));
        put(&root, "memory/big.md", &big);
        let v = search(&root, json!({"query": "zebra", "maxResults": 50}));
        let mut found = paths(&v);
        found.sort();
        assert_eq!(
            found,
            ["MEMORY.md", "memory/2026-06-01.md", "memory/a/b/c/ok.md"],
            "{v}"
        );
        assert_eq!(v["searched"], 3);
        let text = v.to_string();
        for absent in [
            "outside secret",
            "soul text",
            "too deep",
            "hidden",
            "dot dir",
            "not markdown",
            "directory link",
        ] {
            assert!(!text.contains(absent), "{absent}: {v}");
        }
        assert!(!text.contains(&t.path().display().to_string()), "{v}");
        let skipped: HashMap<String, String> = v["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .map(|s| {
                (
                    s["path"].as_str().expect("p").to_owned(),
                    s["reason"].as_str().expect("r").to_owned(),
                )
            })
            .collect();
        assert!(
            skipped["memory/big.md"].contains("more than the 2 MiB searched per file"),
            "{skipped:?}"
        );
        assert!(
            skipped["memory/leak.md"].contains("leads outside the workspace"),
            "{skipped:?}"
        );
        assert!(
            skipped["memory/soul.md"].contains("not memory"),
            "{skipped:?}"
        );
        assert!(
            skipped["memory/a/b/c/d"].contains("levels below memory/"),
            "{skipped:?}"
        );
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(v.get("partial").is_none(), "{v}");
    }

    #[test]
    fn the_root_memory_may_be_spelled_in_lower_case() {
        let (_t, root) = setup();
        put(&root, "memory.md", "the walrus remembers\n");
        let v = search(&root, json!({"query": "walrus"}));
        assert_eq!(paths(&v), ["memory.md"], "{v}");
        let v = get(&root, json!({"path": "MEMORY.md"}));
        assert_eq!(v["path"], "memory.md");
        assert_eq!(v["text"], "the walrus remembers");
        // A memory/ directory link is not walked at all.
        let (_t2, root2) = setup();
        put(&root2, "notes/n.md", "walrus in notes\n");
        symlink("notes", root2.dir().join("memory")).expect("link");
        let v = search(&root2, json!({"query": "walrus"}));
        assert_eq!(v["results"], json!([]), "{v}");
        assert_eq!(v["skipped"][0]["path"], "memory");
    }

    #[test]
    fn the_corpus_stops_at_the_file_and_size_limits() {
        let (_t, root) = setup();
        for i in 0..=MAX_FILES {
            let word = if i == 0 {
                "oldest"
            } else if i == MAX_FILES {
                "newest"
            } else {
                "other"
            };
            put(
                &root,
                &format!("memory/{i:05}.md"),
                format!("{word} gecko\n"),
            );
        }
        let v = search(
            &root,
            json!({"query": "gecko oldest newest", "maxResults": 1}),
        );
        assert_eq!(v["searched"], MAX_FILES);
        assert_eq!(v["partial"], true);
        assert_eq!(paths(&v), [format!("memory/{MAX_FILES:05}.md")], "{v}");
        let v = search(&root, json!({"query": "oldest"}));
        assert_eq!(v["results"], json!([]), "{v}");
        assert!(
            v["note"]
                .as_str()
                .expect("note")
                .contains("newest notes were searched")
        );

        // 32 MiB in all: 16 files of 2 000 000 bytes fit, the 17th does not.
        let (_t2, root) = setup();
        let filler = "- - - - - - - - - - - - - - - - - - - -\n".repeat(50_000);
        assert_eq!(filler.len(), 2_000_000);
        for i in 0..17 {
            put(
                &root,
                &format!("memory/{i:02}.md"),
                format!("ibis{i}\n{filler}"),
            );
        }
        let v = search(&root, json!({"query": "ibis16 ibis1 ibis0"}));
        assert_eq!(v["searched"], 16, "{}", v["note"]);
        assert_eq!(v["partial"], true);
        assert_eq!(paths(&v), ["memory/16.md", "memory/01.md"], "{}", v["note"]);
    }

    #[test]
    fn the_memory_is_refused_outside_private_sessions() {
        let (_t, root) = setup();
        put(&root, "MEMORY.md", "owner secrets\n");
        put(&root, "memory/2026-07-01.md", "owner daily secrets\n");
        for (tool, args) in [
            ("memory_search", json!({"query": "secrets"}).to_string()),
            ("memory_get", json!({"path": "MEMORY.md"}).to_string()),
            (
                "memory_get",
                json!({"path": "memory/2026-07-01.md"}).to_string(),
            ),
            // Refused before the arguments are even looked at.
            ("memory_search", "not json".to_owned()),
            ("memory_get", "x".repeat(100_000)),
        ] {
            let v = run(tool, &args, &FsAccess::workspace(&root, false));
            assert_eq!(v, json!({"ok": false, "error": PRIVATE}), "{tool}");
        }
        // A missing workspace is not even looked for.
        let gone = Root::new(root.dir().join("nowhere"));
        let v = call(&gone, false, "memory_search", json!({"query": "x"}));
        assert_eq!(error(&v), PRIVATE);
        assert!(!root.dir().join("nowhere").exists());
    }

    #[test]
    fn memory_get_pages_through_a_note() {
        let (_t, root) = setup();
        let body: String = (1..=300).map(|i| format!("note line {i}\n")).collect();
        put(&root, "memory/2026-08-01.md", &body);
        let v = get(&root, json!({"path": "memory/2026-08-01.md"}));
        assert_eq!(v["from"], 1);
        assert_eq!(v["to"], 200);
        assert_eq!(v["totalLines"], 300);
        assert_eq!(v["more"], true);
        assert!(
            v["next"].as_str().expect("next").contains("from=201"),
            "{v}"
        );
        let text = v["text"].as_str().expect("text");
        assert!(text.starts_with("note line 1\nnote line 2\n"));
        assert!(text.ends_with("\nnote line 200"), "{text}");
        let v = get(
            &root,
            json!({"path": "memory/2026-08-01.md", "from": 201, "lines": 3}),
        );
        assert_eq!(v["text"], "note line 201\nnote line 202\nnote line 203");
        assert_eq!(
            (v["from"].clone(), v["to"].clone()),
            (json!(201), json!(203))
        );
        let v = get(
            &root,
            json!({"path": "./memory/2026-08-01.md", "offset": "299", "limit": 10.0}),
        );
        assert_eq!(v["path"], "memory/2026-08-01.md");
        assert_eq!(v["text"], "note line 299\nnote line 300");
        assert_eq!(v["to"], 300);
        assert_eq!(v["more"], false);
        assert!(v.get("next").is_none());
        let v = call(
            &root,
            true,
            "memory_get",
            json!({"path": "memory/2026-08-01.md", "from": 301}),
        );
        assert_eq!(
            error(&v),
            "from 301 is past the end of \"memory/2026-08-01.md\" (300 lines); use a from of 1 to 300"
        );
        // The byte cap: whole lines only, as many as fit in 12 000 bytes.
        let wide: String = (0..100)
            .map(|i| format!("{i:03}{}\n", "w".repeat(196)))
            .collect();
        put(&root, "memory/wide.md", &wide);
        let v = get(&root, json!({"path": "memory/wide.md", "lines": 2000}));
        assert_eq!(v["to"], 60);
        assert_eq!(v["more"], true);
        assert_eq!(v["text"].as_str().expect("t").len(), 60 * 200 - 1);
        assert!(
            v["text"]
                .as_str()
                .expect("t")
                .ends_with(&format!("059{}", "w".repeat(196)))
        );
        // One line over the cap: cut at a char boundary, said in a note.
        put(
            &root,
            "memory/one.md",
            format!("{}\nsecond\n", "é".repeat(7000)),
        );
        let v = get(&root, json!({"path": "memory/one.md"}));
        assert_eq!(v["text"], "é".repeat(6000));
        assert_eq!(v["to"], 1);
        assert_eq!(v["more"], true);
        assert!(
            v["note"]
                .as_str()
                .expect("note")
                .contains("longer than 12000 bytes"),
            "{v}"
        );
        // Empty, BOM and CRLF.
        put(&root, "memory/empty.md", "");
        let v = get(&root, json!({"path": "memory/empty.md"}));
        assert_eq!(
            (v["from"].clone(), v["to"].clone(), v["totalLines"].clone()),
            (json!(0), json!(0), json!(0))
        );
        assert_eq!(v["text"], "");
        assert_eq!(v["more"], false);
        put(&root, "MEMORY.md", "\u{feff}first\r\nsecond\r\n");
        let v = get(&root, json!({"path": "MEMORY.md", "lines": 1}));
        assert_eq!(v["text"], "first");
        assert_eq!(v["totalLines"], 2);
        // Links inside the memory are followed.
        symlink("2026-08-01.md", root.dir().join("memory/latest.md")).expect("alias");
        let v = get(&root, json!({"path": "memory/latest.md", "lines": 1}));
        assert_eq!(v["path"], "memory/latest.md");
        assert_eq!(v["text"], "note line 1");
    }

    #[test]
    fn memory_get_reads_only_the_memory() {
        let (t, root) = setup();
        let ws = root.dir().to_path_buf();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("x.md"), "outside secret").expect("w");
        fs::write(t.path().join("x"), "sibling secret").expect("w");
        put(&root, "SOUL.md", "soul secret\n");
        put(&root, "memory/2026-09-01.md", "fine\n");
        put(&root, "memory/notes.txt", "txt secret\n");
        symlink("../SOUL.md", ws.join("memory/alias.md")).expect("alias");
        symlink(outside.join("x.md"), ws.join("memory/out.md")).expect("out");
        symlink("SOUL.md", ws.join("MEMORY.md")).expect("root alias");
        for p in [
            "SOUL.md",
            "memory/../SOUL.md",
            "../x",
            "/etc/passwd",
            "memory/notes.txt",
            "memory",
            ".",
            "memory/2026-09-01.md/..",
        ] {
            let v = call(&root, true, "memory_get", json!({"path": p}));
            assert_eq!(error(&v), NOT_MEMORY, "{p}");
        }
        for p in ["memory/alias.md", "MEMORY.md"] {
            let v = call(&root, true, "memory_get", json!({"path": p}));
            assert_eq!(
                error(&v),
                format!("\"{p}\" is a link to a file that is not memory; {NOT_MEMORY}")
            );
        }
        let v = call(&root, true, "memory_get", json!({"path": "memory/out.md"}));
        assert!(error(&v).contains("leads outside the workspace"), "{v}");
        assert!(
            !v.to_string().contains(&t.path().display().to_string()),
            "{v}"
        );
        let v = call(&root, true, "memory_get", json!({"path": "memory/none.md"}));
        assert!(
            error(&v).starts_with("file \"memory/none.md\" does not exist"),
            "{v}"
        );
        fs::create_dir(ws.join("memory/dir.md")).expect("mkdir");
        let v = call(&root, true, "memory_get", json!({"path": "memory/dir.md"}));
        assert_eq!(error(&v), "\"memory/dir.md\" is a directory, not a file");
        let v = get(&root, json!({"path": "memory/2026-09-01.md"}));
        assert_eq!(v["text"], "fine");
        let all = [
            "memory/alias.md",
            "memory/out.md",
            "MEMORY.md",
            "SOUL.md",
            "../x",
            "memory/notes.txt",
        ]
        .iter()
        .map(|p| call(&root, true, "memory_get", json!({"path": p})).to_string())
        .collect::<String>();
        for secret in [
            "soul secret",
            "outside secret",
            "sibling secret",
            "txt secret",
        ] {
            assert!(!all.contains(secret), "{secret}");
        }
        assert!(is_memory("MEMORY.md") && is_memory("memory/a/b.MD") && is_memory("Memory/x.md"));
        assert!(
            !is_memory("memory/")
                && !is_memory("memory")
                && !is_memory("x/MEMORY.md")
                && !is_memory("memory/x.txt")
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        let (_t, root) = setup();
        let access = FsAccess::workspace(&root, true);
        let v = run("memory_search", "not json", &access);
        assert!(
            error(&v).starts_with("the arguments are not valid JSON"),
            "{v}"
        );
        let v = run("memory_get", "[1]", &access);
        assert_eq!(
            error(&v),
            "the arguments must be a JSON object like {\"path\": \"MEMORY.md\"}, not an array"
        );
        let v = run("memory_search", "", &access);
        assert!(error(&v).starts_with("missing argument \"query\""), "{v}");
        let v = run("memory_get", "{}", &access);
        assert!(error(&v).starts_with("missing argument \"path\""), "{v}");
        let huge = format!("{{\"query\": \"{}\"}}", "x".repeat(ARGS_MAX));
        let v = run("memory_search", &huge, &access);
        assert_eq!(
            error(&v),
            "the arguments are 65.5 kB, more than the 64 KiB accepted"
        );
        let v = run("memory_forget", "{}", &access);
        assert_eq!(
            error(&v),
            "unknown tool \"memory_forget\"; the memory tools are memory_search and memory_get"
        );
        let cases = [
            (
                json!({"query": 5}),
                "argument \"query\" must be a string (words to look for in your memory), not a number",
            ),
            (
                json!({"query": "  \n"}),
                "argument \"query\" is empty; give words to look for, e.g. \"boat paint\"",
            ),
            (
                json!({"query": "a ! ?"}),
                "argument \"query\" (\"a ! ?\") has no words to search for (letters or digits); use a few keywords",
            ),
            (
                json!({"query": "é".repeat(1001)}),
                "argument \"query\" is 1001 characters, more than the 1000 accepted; use a few keywords",
            ),
            (
                json!({"query": "x", "maxResults": 0}),
                "argument \"maxResults\" must be a whole number from 1 to 50 (how many results to return), not 0",
            ),
            (
                json!({"query": "x", "maxResults": 51}),
                "argument \"maxResults\" must be a whole number from 1 to 50 (how many results to return), not 51",
            ),
            (
                json!({"query": "x", "max_results": 2.5}),
                "argument \"max_results\" must be a whole number from 1 to 50 (how many results to return), not 2.5",
            ),
            (
                json!({"query": "x", "maxResults": "many"}),
                "argument \"maxResults\" must be a whole number from 1 to 50 (how many results to return), not \"many\"",
            ),
            (
                json!({"query": "x", "minScore": 1.5}),
                "argument \"minScore\" must be a number from 0 to 1 (the lowest score to keep), not 1.5",
            ),
            (
                json!({"query": "x", "min_score": "NaN"}),
                "argument \"min_score\" must be a number from 0 to 1 (the lowest score to keep), not \"NaN\"",
            ),
            (
                json!({"query": "x", "minScore": true}),
                "argument \"minScore\" must be a number from 0 to 1 (the lowest score to keep), not a boolean",
            ),
        ];
        for (args, want) in cases {
            let v = call(&root, true, "memory_search", args.clone());
            assert_eq!(error(&v), want, "{args}");
        }
        let cases = [
            (
                json!({"path": 5}),
                "argument \"path\" must be a string (\"MEMORY.md\" or a note under memory/, e.g. \"memory/2026-12-03.md\"), not a number",
            ),
            (
                json!({"path": "MEMORY.md", "from": 0}),
                "argument \"from\" must be a whole number of 1 or more (the first line to read, counting from 1), not 0",
            ),
            (
                json!({"path": "MEMORY.md", "offset": -3}),
                "argument \"offset\" must be a whole number of 1 or more (the first line to read, counting from 1), not -3",
            ),
            (
                json!({"path": "MEMORY.md", "lines": 2001}),
                "argument \"lines\" must be a whole number from 1 to 2000 (how many lines to read), not 2001",
            ),
            (
                json!({"path": "MEMORY.md", "limit": [1]}),
                "argument \"limit\" must be a whole number from 1 to 2000 (how many lines to read), not an array",
            ),
            (
                json!({"path": ""}),
                "the path is empty; give a file path relative to the workspace, e.g. \"notes.md\"",
            ),
        ];
        for (args, want) in cases {
            let v = call(&root, true, "memory_get", args.clone());
            assert_eq!(error(&v), want, "{args}");
        }
        // null is absent.
        put(&root, "MEMORY.md", "a\nb\n");
        let v = get(
            &root,
            json!({"path": "MEMORY.md", "from": null, "lines": null}),
        );
        assert_eq!(v["text"], "a\nb");
    }
}
