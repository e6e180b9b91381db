//! The agent's file tools `read`, `write`, `edit` and `apply_patch` (OpenClaw's names and
//! argument shapes), confined to the workspace ([`super::confined::Root`]).
//!
//! The arguments are the model's, so they are hostile input: every value is type-checked,
//! every size bounded ([`run`] answers `{"ok": false, "error": …}` naming the argument or
//! the limit), and nothing panics. Where the private memory is off limits
//! ([`FsAccess::private`] false: group chats, isolated cron runs), `MEMORY.md` at the root and
//! everything under `memory/` are refused by all three tools, judged on the resolved path and
//! on where its symbolic links really lead.

use serde_json::{Map, Value, json};
use std::path::Path;

use super::args::{Args, clip, kind, pick};
use super::confined::{
    ConfinedError, FileRead, Located, Root, floor_char_boundary, human_limit, human_size, len_u64,
};
use crate::ports::ToolSpec;

/// The tools' names, as the model calls them.
pub const NAMES: [&str; 4] = ["read", "write", "edit", "apply_patch"];

/// The most files one `apply_patch` call adds, changes or deletes.
const PATCH_FILES_MAX: usize = 100;
/// The most line comparisons one `apply_patch` call makes to place its changes.
const PATCH_MATCH_BUDGET: u64 = 50_000_000;

/// The most `read` and `edit` load from a file (bytes).
const FILE_MAX: usize = 2 * 1024 * 1024;
/// The most `read` returns at once (bytes of content).
const OUTPUT_MAX_BYTES: usize = 12_000;
/// The most `read` returns at once (lines).
const OUTPUT_MAX_LINES: u64 = 2000;
/// The most `write` writes (bytes).
const WRITE_MAX: usize = 1024 * 1024;
/// The most edits in one `edit` call.
const MAX_EDITS: usize = 100;
/// The longest arguments string accepted (bytes).
const ARGS_MAX: usize = 8 * 1024 * 1024;
/// How many directory entries a "does not exist" answer looks at, and how many it lists.
const LIST_SCAN: usize = 1000;
const LIST_SHOW: usize = 20;

/// The message for a refused private path.
const PRIVATE: &str =
    "MEMORY.md and memory/ are private to the owner's direct chats; not available here";

/// Who is asking, and where.
#[derive(Debug, Clone, Copy)]
pub struct FsAccess<'a> {
    /// The workspace the tools are confined to.
    pub root: &'a Root,
    /// A direct chat, an operator or the main session: the private memory (`MEMORY.md`,
    /// `memory/`) is available. False for a group chat or an isolated cron run.
    pub private: bool,
    /// The directories of the run's offered skills outside the workspace: `read` (only)
    /// reaches a file inside one given by its absolute path, confined to that directory.
    pub skill_dirs: &'a [std::path::PathBuf],
}

impl<'a> FsAccess<'a> {
    /// The workspace `root` only (no skill directories); `private`: see [`Self::private`].
    pub fn workspace(root: &'a Root, private: bool) -> Self {
        Self {
            root,
            private,
            skill_dirs: &[],
        }
    }
}

/// The three tools' specs (OpenClaw's argument names).
pub fn specs() -> Vec<ToolSpec> {
    let path = json!({
        "type": "string",
        "description": "File path relative to your workspace, e.g. \"MEMORY.md\" or \"memory/2026-12-03.md\""
    });
    vec![
        ToolSpec {
            name: "read".to_owned(),
            description: "Read a text file in your workspace (paths are relative to it). Returns at most 2000 lines or 12000 bytes; use offset/limit to page through longer files.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "offset": {"type": "integer", "minimum": 1, "description": "Line number to start reading from (1-based)"},
                    "limit": {"type": "integer", "minimum": 1, "description": "Maximum number of lines to read"}
                },
                "required": ["path"]
            }),
        },
        ToolSpec {
            name: "write".to_owned(),
            description: "Write a file in your workspace (paths are relative to it): creates it, or replaces its whole content; missing directories are created. At most 1 MiB.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "content": {"type": "string", "description": "The complete new content of the file"}
                },
                "required": ["path", "content"]
            }),
        },
        ToolSpec {
            name: "edit".to_owned(),
            description: "Edit a file in your workspace (paths are relative to it) by exact text replacement. Each oldText must match exactly one place in the original file, including whitespace; edits must not overlap; all are applied or none.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "edits": {
                        "type": "array",
                        "description": "The replacements, each matched against the original file",
                        "items": {
                            "type": "object",
                            "properties": {
                                "oldText": {"type": "string", "description": "Exact text to replace (must be unique in the file)"},
                                "newText": {"type": "string", "description": "Replacement text"}
                            },
                            "required": ["oldText", "newText"]
                        }
                    }
                },
                "required": ["path", "edits"]
            }),
        },
        ToolSpec {
            name: "apply_patch".to_owned(),
            description: "Patch one/many files in your workspace (paths are relative to it). Input requires *** Begin Patch and *** End Patch; in between, any of: \"*** Add File: <path>\" then its lines each starting with +; \"*** Delete File: <path>\"; \"*** Update File: <path>\" (optionally followed by \"*** Move to: <new path>\") then changes, each starting with a \"@@\" line (optionally \"@@ <an existing line to find first>\") followed by lines starting with ' ' (unchanged context, about 3 lines around each change), '-' (removed) or '+' (added). Every change is checked before any file is written: if one does not apply, nothing is changed.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "input": {"type": "string", "description": "Patch content using the *** Begin Patch/End Patch format."}
                },
                "required": ["input"]
            }),
        },
    ]
}

/// Runs tool `name` with the model's JSON `args`. Always a JSON object: `{"ok": true, …}`
/// or `{"ok": false, "error": "<message for the model>", …}`. Blocking (file I/O): run it on
/// a blocking thread.
pub fn run(name: &str, args: &str, access: &FsAccess<'_>) -> Value {
    let result = match name {
        "read" => parse_args(args).and_then(|a| read_tool(&a, access)),
        "write" => parse_args(args).and_then(|a| write_tool(&a, access)),
        "edit" => parse_args(args).and_then(|a| edit_tool(&a, access)),
        "apply_patch" => parse_args(args).and_then(|a| patch_tool(&a, access)),
        other => Err(Failure::new(format!(
            "unknown tool \"{}\"; the file tools are read, write, edit and apply_patch",
            clip(other, 80)
        ))),
    };
    match result {
        Ok(v) => v,
        Err(f) => f.into_json(),
    }
}

/// An `{"ok": false}` answer.
#[derive(Debug)]
struct Failure {
    error: String,
    extra: Option<(&'static str, Value)>,
}

impl Failure {
    fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            extra: None,
        }
    }

    fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra = Some((key, value));
        self
    }

    fn into_json(self) -> Value {
        let mut m = Map::new();
        m.insert("ok".to_owned(), Value::Bool(false));
        m.insert("error".to_owned(), Value::String(self.error));
        if let Some((k, v)) = self.extra {
            m.insert(k.to_owned(), v);
        }
        Value::Object(m)
    }
}

impl From<ConfinedError> for Failure {
    fn from(e: ConfinedError) -> Self {
        Self::new(e.to_string())
    }
}

const PATH_NAMES: [&str; 3] = ["path", "file_path", "filePath"];
const OLD_NAMES: [&str; 4] = ["oldText", "old_text", "old_string", "oldString"];
const NEW_NAMES: [&str; 4] = ["newText", "new_text", "new_string", "newString"];

fn path_arg(m: &Args) -> Result<&str, Failure> {
    match pick(m, &PATH_NAMES) {
        Some((_, Value::String(s))) => Ok(s),
        Some((name, other)) => Err(Failure::new(format!(
            "argument \"{name}\" must be a string (a file path relative to your workspace), not {}",
            kind(other)
        ))),
        None => Err(Failure::new(
            "missing argument \"path\" (a file path relative to your workspace, e.g. \"notes.md\")",
        )),
    }
}

fn parse_args(args: &str) -> Result<Args, Failure> {
    super::args::parse(args, ARGS_MAX, "{\"path\": \"notes.md\"}").map_err(Failure::new)
}

/// An optional whole number ≥ 1.
fn count_arg(m: &Args, name: &'static str) -> Result<Option<u64>, Failure> {
    super::args::whole(m, &[name], 1, u64::MAX, "lines count from 1").map_err(Failure::new)
}

/// The bytes of the workspace file `given` (at most `max`), under the file tools' rules: the
/// confinement, no `.git`, the private memory only where it is available. `Err` is a
/// message for the user.
pub fn read_confined(
    access: &FsAccess<'_>,
    given: &str,
    max: usize,
) -> Result<(String, Vec<u8>), String> {
    let loc = locate(access, given).map_err(|f| f.error)?;
    let name = access.root.relative(&loc.path);
    match access.root.read(given, max) {
        Ok(Some(f)) => Ok((name, f.bytes)),
        Ok(None) => Err(format!("{name} does not exist in the workspace")),
        Err(e) => Err(e.to_string()),
    }
}

/// Locates `given` and applies the privacy rule.
fn locate(access: &FsAccess<'_>, given: &str) -> Result<Located, Failure> {
    let loc = access.root.locate(given)?;
    if is_git(access.root, &loc) {
        return Err(Failure::new(GIT));
    }
    if !access.private && is_private(access.root, &loc) {
        return Err(Failure::new(PRIVATE));
    }
    Ok(loc)
}

/// Refusal of the workspace's git repository.
const GIT: &str = "\".git\" is the workspace's git repository; the file tools do not touch it (its config and hooks can run commands on the host, and its remotes may hold credentials)";

/// Whether `loc` (as named, or where it really leads) is in a `.git` directory (any case):
/// a `.git/config` with `core.fsmonitor` or a hook would run a command the next time the
/// owner uses git in the workspace, and a remote URL may carry a token.
fn is_git(root: &Root, loc: &Located) -> bool {
    [&loc.path, &loc.real].into_iter().any(|p| {
        root.relative(p)
            .split('/')
            .any(|c| c.eq_ignore_ascii_case(".git"))
    })
}

/// Whether `loc` (as named, or where it really leads) is `MEMORY.md` at the root or under
/// `memory/` (ASCII case-insensitive).
fn is_private(root: &Root, loc: &Located) -> bool {
    is_private_rel(&root.relative(&loc.path)) || is_private_rel(&root.relative(&loc.real))
}

fn is_private_rel(rel: &str) -> bool {
    let mut parts = rel.split('/');
    let first = parts.next().unwrap_or("");
    let nested = parts.next().is_some();
    first.eq_ignore_ascii_case("memory") || (!nested && first.eq_ignore_ascii_case("MEMORY.md"))
}

/// Up to [`LIST_SHOW`] names in `dir` (directories with a trailing `/`, dot files left out,
/// the private memory left out where it is off limits); `None` when `dir` cannot be listed.
fn listing(access: &FsAccess<'_>, dir: &Path) -> Option<Vec<String>> {
    let real = std::fs::canonicalize(dir).ok()?;
    let canon_root = std::fs::canonicalize(access.root.dir()).ok()?;
    if !real.starts_with(&canon_root) {
        return None;
    }
    let at_root = real == canon_root;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&real).ok()?.take(LIST_SCAN).flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || (!access.private && at_root && is_private_rel(&name)) {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        names.push(if is_dir { format!("{name}/") } else { name });
    }
    names.sort();
    names.truncate(LIST_SHOW);
    Some(names)
}

/// The "does not exist" failure, with the names in its directory when there is one.
fn missing(access: &FsAccess<'_>, loc: &Located, name: &str, tail: &str) -> Failure {
    let f = Failure::new(format!("file \"{name}\" does not exist{tail}"));
    match loc.path.parent().and_then(|d| listing(access, d)) {
        Some(names) => f.with("existing", json!(names)),
        None => f,
    }
}

/// A [`ConfinedError`] as a failure; a directory gets its listing.
fn confined_failure(access: &FsAccess<'_>, loc: &Located, e: ConfinedError) -> Failure {
    let dir = matches!(
        e,
        ConfinedError::NotAFile {
            kind: "directory",
            ..
        }
    );
    let f = Failure::from(e);
    match dir.then(|| listing(access, &loc.path)).flatten() {
        Some(names) => f.with("existing", json!(names)),
        None => f,
    }
}

/// The offered skill directory (outside the workspace) that the absolute path `given` is
/// inside, as a confined root; `None` for anything else.
fn skill_root(access: &FsAccess<'_>, given: &str) -> Option<Root> {
    let p = Path::new(given);
    if !p.is_absolute() || given.contains('\0') {
        return None;
    }
    // Lexically: `..` may not climb out (the root's own checks refuse it too).
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return None;
    }
    access
        .skill_dirs
        .iter()
        .find(|d| p.starts_with(d) && p != d.as_path())
        .map(|d| Root::new(d.clone()))
}

/// `read` of a file in an offered skill's directory (outside the workspace): confined to
/// that directory, never its `.git`; the answer names the path as given.
fn read_skill_file(root: &Root, given: &str) -> Result<FileRead, Failure> {
    let loc = root.locate(given)?;
    if is_git(root, &loc) {
        return Err(Failure::new(GIT));
    }
    // Hidden files and directories (`.env`, `.ssh/`) are never a skill's instructions: not
    // by the path given, nor where its links lead.
    let hidden = |p: &Path| {
        root.relative(p)
            .split('/')
            .any(|part| part.starts_with('.') && part != ".")
    };
    if hidden(&loc.path) || hidden(&loc.real) {
        return Err(Failure::new(format!(
            "{given} is a hidden file of that skill's directory; only its visible files can be read"
        )));
    }
    match root.read(given, FILE_MAX) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(Failure::new(format!(
            "{given} does not exist in that skill's directory"
        ))),
        Err(e) => Err(Failure::from(e)),
    }
}

fn read_tool(m: &Args, access: &FsAccess<'_>) -> Result<Value, Failure> {
    let given = path_arg(m)?;
    let offset = count_arg(m, "offset")?;
    let limit = count_arg(m, "limit")?;
    let (name, file) = match skill_root(access, given) {
        Some(root) => (given.to_owned(), read_skill_file(&root, given)?),
        None => {
            let loc = locate(access, given)?;
            let name = access.root.relative(&loc.path);
            match access.root.read(given, FILE_MAX) {
                Ok(Some(f)) => (name, f),
                Ok(None) => return Err(missing(access, &loc, &name, "")),
                Err(e) => return Err(confined_failure(access, &loc, e)),
            }
        }
    };
    let mut notes = Vec::new();
    let decoded = String::from_utf8_lossy(&file.bytes);
    if matches!(decoded, std::borrow::Cow::Owned(_)) {
        notes.push("not UTF-8; shown lossily".to_owned());
    }
    let text = decoded.strip_prefix('\u{feff}').unwrap_or(&decoded);
    let page = page(text, offset.unwrap_or(1), limit, &name)?;
    let mut out = Map::new();
    out.insert("ok".to_owned(), Value::Bool(true));
    out.insert("path".to_owned(), Value::String(name));
    out.insert("content".to_owned(), Value::String(page.content));
    out.insert("lines".to_owned(), json!([page.start, page.end]));
    out.insert("totalLines".to_owned(), json!(page.total));
    out.insert("more".to_owned(), Value::Bool(page.end < page.total));
    if page.end < page.total {
        out.insert(
            "next".to_owned(),
            Value::String(format!(
                "{} more lines; call read with offset={} to continue",
                page.total - page.end,
                page.end + 1
            )),
        );
    }
    if let Some(shown) = page.cut_line {
        notes.push(format!(
            "line {} is longer than {OUTPUT_MAX_BYTES} bytes; only its first {shown} bytes are shown",
            page.end
        ));
    }
    if page.total == 0 {
        notes.push("the file is empty".to_owned());
    }
    if !notes.is_empty() {
        out.insert("note".to_owned(), Value::String(notes.join("; ")));
    }
    Ok(Value::Object(out))
}

/// One page of a file's lines.
#[derive(Debug, PartialEq)]
struct Page {
    content: String,
    /// First and last line shown (1-based; `0, 0` for an empty file).
    start: u64,
    end: u64,
    total: u64,
    /// The one line shown was cut: how many of its bytes are shown.
    cut_line: Option<usize>,
}

/// Lines `start..` of `text`, at most `limit` (and [`OUTPUT_MAX_LINES`]) lines and
/// [`OUTPUT_MAX_BYTES`] bytes, cut at a line boundary (or, for a single longer line, at a
/// char boundary).
fn page(text: &str, start: u64, limit: Option<u64>, name: &str) -> Result<Page, Failure> {
    let total = len_u64(text.split_inclusive('\n').count());
    if total == 0 && start == 1 {
        return Ok(Page {
            content: String::new(),
            start: 0,
            end: 0,
            total: 0,
            cut_line: None,
        });
    }
    if start > total {
        return Err(Failure::new(format!(
            "offset {start} is past the end of \"{name}\" ({total} lines); use an offset from 1 to {}",
            total.max(1)
        )));
    }
    let max_lines = limit.unwrap_or(OUTPUT_MAX_LINES).min(OUTPUT_MAX_LINES);
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(max_lines).unwrap_or(usize::MAX);
    let mut content = String::new();
    let mut end = start - 1;
    let mut cut_line = None;
    for line in text.split_inclusive('\n').skip(skip).take(take) {
        if content.len() + line.len() > OUTPUT_MAX_BYTES {
            if content.is_empty() {
                let cut = floor_char_boundary(line, OUTPUT_MAX_BYTES);
                content.push_str(&line[..cut]);
                end += 1;
                cut_line = Some(cut);
            }
            break;
        }
        content.push_str(line);
        end += 1;
    }
    Ok(Page {
        content,
        start,
        end,
        total,
        cut_line,
    })
}

fn write_tool(m: &Args, access: &FsAccess<'_>) -> Result<Value, Failure> {
    let given = path_arg(m)?;
    let content = match pick(m, &["content"]) {
        Some((_, Value::String(s))) => s,
        Some((_, other)) => {
            return Err(Failure::new(format!(
                "argument \"content\" must be a string (the file's complete new text), not {}",
                kind(other)
            )));
        }
        None => {
            return Err(Failure::new(
                "missing argument \"content\" (the file's complete new text)",
            ));
        }
    };
    if content.len() > WRITE_MAX {
        return Err(Failure::new(format!(
            "content is {}, more than the {} this tool writes; split it into smaller files",
            human_size(len_u64(content.len())),
            human_limit(WRITE_MAX)
        )));
    }
    let loc = locate(access, given)?;
    let name = access.root.relative(&loc.path);
    let written = access
        .root
        .write(given, content.as_bytes())
        .map_err(|e| confined_failure(access, &loc, e))?;
    if !written.changed {
        return Ok(json!({"ok": true, "path": name, "changed": false}));
    }
    Ok(json!({
        "ok": true,
        "path": name,
        "created": written.created,
        "bytes": content.len(),
    }))
}

/// One replacement of `edit`.
#[derive(Debug, Clone, PartialEq)]
struct Edit {
    old: String,
    new: String,
}

fn edit_tool(m: &Args, access: &FsAccess<'_>) -> Result<Value, Failure> {
    let given = path_arg(m)?;
    let edits = edits_arg(m)?;
    let loc = locate(access, given)?;
    let name = access.root.relative(&loc.path);
    let file = match access.root.read(given, FILE_MAX) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Err(missing(access, &loc, &name, "; use write to create it"));
        }
        Err(e) => return Err(confined_failure(access, &loc, e)),
    };
    let Ok(original) = String::from_utf8(file.bytes) else {
        return Err(Failure::new(format!(
            "\"{name}\" is not UTF-8 text; edit only changes text files (use write to replace it)"
        )));
    };
    let Some(updated) = apply_edits(&original, &edits, &name)? else {
        return Ok(json!({
            "ok": true,
            "path": name,
            "changed": false,
            "note": "every newText equals its oldText; the file is unchanged",
        }));
    };
    if updated.len() > FILE_MAX {
        return Err(Failure::new(format!(
            "the edited \"{name}\" would be {}, more than the {} a workspace file may have; nothing was changed",
            human_size(len_u64(updated.len())),
            human_limit(FILE_MAX)
        )));
    }
    access
        .root
        .write(given, updated.as_bytes())
        .map_err(|e| confined_failure(access, &loc, e))?;
    Ok(json!({"ok": true, "path": name, "replaced": edits.len()}))
}

/// The edits: `edits: [{oldText, newText}, …]` or the flat `{oldText, newText}`
/// (`old_string`/`new_string` and friends accepted).
fn edits_arg(m: &Args) -> Result<Vec<Edit>, Failure> {
    let flat = pick(m, &OLD_NAMES);
    let list = match pick(m, &["edits"]) {
        Some(_) if flat.is_some() => {
            return Err(Failure::new(
                "give either \"edits\" or a single \"oldText\"/\"newText\", not both",
            ));
        }
        // A list sent as a JSON string: read it as the list it holds.
        Some((_, Value::String(s))) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => {
                return Err(Failure::new(
                    "argument \"edits\" must be an array of {\"oldText\": …, \"newText\": …} objects, not a string",
                ));
            }
        },
        Some((_, Value::Array(a))) => a.clone(),
        Some((_, other)) => {
            return Err(Failure::new(format!(
                "argument \"edits\" must be an array of {{\"oldText\": …, \"newText\": …}} objects, not {}",
                kind(other)
            )));
        }
        None if flat.is_some() => return Ok(vec![edit_of(m, 1)?]),
        None => {
            return Err(Failure::new(
                "missing argument \"edits\" (an array of {\"oldText\": …, \"newText\": …} objects)",
            ));
        }
    };
    if list.is_empty() {
        return Err(Failure::new(
            "argument \"edits\" is empty; give at least one {\"oldText\": …, \"newText\": …}",
        ));
    }
    if list.len() > MAX_EDITS {
        return Err(Failure::new(format!(
            "{} edits in one call, more than the {MAX_EDITS} allowed; split them over several calls",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => edit_of(o, i + 1),
            other => Err(Failure::new(format!(
                "edit {} must be an object {{\"oldText\": …, \"newText\": …}}, not {}",
                i + 1,
                kind(other)
            ))),
        })
        .collect()
}

/// Edit `n` (1-based) from `o`'s `oldText`/`newText`.
fn edit_of(o: &Args, n: usize) -> Result<Edit, Failure> {
    let text = |names: &[&'static str], what: &str| -> Result<String, Failure> {
        match pick(o, names) {
            Some((_, Value::String(s))) => Ok(s.clone()),
            Some((name, other)) => Err(Failure::new(format!(
                "edit {n}: \"{name}\" must be a string, not {}",
                kind(other)
            ))),
            None => Err(Failure::new(format!(
                "edit {n}: missing \"{}\" ({what})",
                names.first().copied().unwrap_or_default()
            ))),
        }
    };
    let old = text(&OLD_NAMES, "the exact text to replace")?;
    let new = text(&NEW_NAMES, "the replacement text")?;
    if old.is_empty() {
        return Err(Failure::new(format!(
            "edit {n}'s oldText is empty; give the exact text to replace"
        )));
    }
    Ok(Edit { old, new })
}

/// `original` with `edits` applied (OpenClaw's rules: each oldText exactly once in the
/// original, no overlaps, all or none; CRLF and a BOM kept). `None` when nothing changes.
fn apply_edits(original: &str, edits: &[Edit], name: &str) -> Result<Option<String>, Failure> {
    let (bom, body) = match original.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", original),
    };
    let crlf = body
        .find('\n')
        .is_some_and(|i| i > 0 && body.as_bytes().get(i - 1) == Some(&b'\r'));
    // CRLF file: match on LF-normalized text and write CRLF back. LF file: the model's CRLF
    // (if any) becomes LF, unless the file itself has some CRLF lines to match.
    let normalize_text = !crlf && !body.contains("\r\n");
    let text = if crlf {
        body.replace("\r\n", "\n")
    } else {
        body.to_owned()
    };
    let lf = |s: &str| {
        if crlf || normalize_text {
            s.replace("\r\n", "\n")
        } else {
            s.to_owned()
        }
    };
    let mut spans: Vec<(usize, usize, usize, String)> = Vec::with_capacity(edits.len());
    for (i, e) in edits.iter().enumerate() {
        let n = i + 1;
        let old = lf(&e.old);
        let Some(at) = text.find(&old) else {
            let hint = closest_hint(&text, &old).unwrap_or_else(|| {
                "oldText must match the file exactly, including whitespace and line breaks; read the file again and copy the text".to_owned()
            });
            return Err(Failure::new(format!(
                "could not find the exact text of edit {n} in {name}; {hint}"
            )));
        };
        let step = old.chars().next().map_or(1, char::len_utf8);
        let again = text
            .get(at + step..)
            .is_some_and(|rest| rest.contains(&old));
        if again {
            let count = text.matches(&old).count().max(2);
            return Err(Failure::new(format!(
                "edit {n}'s oldText occurs {count} times in {name}; include more surrounding text to make it unique"
            )));
        }
        spans.push((at, at + old.len(), n, lf(&e.new)));
    }
    spans.sort_by_key(|s| (s.0, s.1));
    for pair in spans.windows(2) {
        if let [a, b] = pair
            && b.0 < a.1
        {
            let (first, second) = (a.2.min(b.2), a.2.max(b.2));
            return Err(Failure::new(format!(
                "edits {first} and {second} overlap in {name}; merge them into one edit"
            )));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end, _, new) in &spans {
        out.push_str(text.get(pos..*start).unwrap_or_default());
        out.push_str(new);
        pos = *end;
    }
    out.push_str(text.get(pos..).unwrap_or_default());
    if out == text {
        return Ok(None);
    }
    let out = if crlf { out.replace('\n', "\r\n") } else { out };
    Ok(Some(format!("{bom}{out}")))
}

/// A hint at the line that looks like the first line of a missing `old` (whitespace and
/// case aside), if any.
fn closest_hint(text: &str, old: &str) -> Option<String> {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = old.lines().map(str::trim).find(|l| !l.is_empty())?;
    let want = squash(first).to_lowercase();
    if want.len() < 3 || want.len() > 2000 {
        return None;
    }
    text.lines().enumerate().find_map(|(i, line)| {
        squash(line).to_lowercase().contains(&want).then(|| {
            format!(
                "line {} looks similar: \"{}\"; check whitespace, case and the lines around it (read the file again and copy the text exactly)",
                i + 1,
                clip(line.trim(), 120)
            )
        })
    })
}

/// What one path holds in an `apply_patch` plan: `Some(text)` written, `None` deleted.
struct Planned {
    /// Where it really leads (the plan's key: two spellings of one file are one file).
    real: std::path::PathBuf,
    state: Option<String>,
}

/// One step of an `apply_patch` plan, in patch order.
enum Step {
    Write { given: String, text: String },
    Remove { given: String },
}

/// `apply_patch`: every change is checked against the files (and the changes before it in
/// the patch) first; only then are the files written, in patch order. A change that does not
/// apply changes nothing.
fn patch_tool(m: &Args, access: &FsAccess<'_>) -> Result<Value, Failure> {
    let input = match pick(m, &["input", "patch"]) {
        Some((_, Value::String(s))) => s,
        Some((name, other)) => {
            return Err(Failure::new(format!(
                "argument \"{name}\" must be a string (the patch, from \"*** Begin Patch\" to \"*** End Patch\"), not {}",
                kind(other)
            )));
        }
        None => {
            return Err(Failure::new(
                "missing argument \"input\" (the patch, from \"*** Begin Patch\" to \"*** End Patch\")",
            ));
        }
    };
    let hunks = super::patch::parse(input, PATCH_FILES_MAX).map_err(Failure::new)?;
    let mut plan: Vec<Planned> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let (mut added, mut modified, mut deleted, mut unchanged) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut budget = super::patch::Budget::new(PATCH_MATCH_BUDGET);
    for hunk in &hunks {
        match hunk {
            super::patch::Hunk::Add { path, contents } => {
                let (loc, name) = patch_target(access, path)?;
                if current(access, &plan, &loc, path)?.is_some() {
                    return Err(Failure::new(format!(
                        "cannot add \"{name}\": it already exists; use \"*** Update File: {name}\" to change it, or delete it earlier in the same patch. Nothing was changed"
                    )));
                }
                check_size(&name, contents.len(), WRITE_MAX)?;
                set(&mut plan, &loc, Some(contents.clone()));
                steps.push(Step::Write {
                    given: path.clone(),
                    text: contents.clone(),
                });
                added.push(name);
            }
            super::patch::Hunk::Delete { path } => {
                let (mut loc, name) = patch_target(access, path)?;
                // Deleting a link removes the link, not the file it leads to: the plan
                // keeps the target as it is.
                if std::fs::symlink_metadata(&loc.path).is_ok_and(|m| m.file_type().is_symlink()) {
                    loc.real = loc.path.clone();
                }
                let exists = match plan.iter().find(|p| p.real == loc.real) {
                    Some(p) => p.state.is_some(),
                    None => match std::fs::symlink_metadata(&loc.path) {
                        Ok(meta) if meta.is_dir() => {
                            return Err(Failure::new(format!(
                                "\"{name}\" is a directory; apply_patch deletes files only. Nothing was changed"
                            )));
                        }
                        Ok(_) => true,
                        Err(_) => false,
                    },
                };
                if !exists {
                    return Err(missing(
                        access,
                        &loc,
                        &name,
                        ", so it cannot be deleted. Nothing was changed",
                    ));
                }
                set(&mut plan, &loc, None);
                steps.push(Step::Remove {
                    given: path.clone(),
                });
                deleted.push(name);
            }
            super::patch::Hunk::Update {
                path,
                move_to,
                chunks,
            } => {
                let (loc, name) = patch_target(access, path)?;
                let Some(text) = current(access, &plan, &loc, path)? else {
                    return Err(missing(
                        access,
                        &loc,
                        &name,
                        "; use \"*** Add File:\" to create it. Nothing was changed",
                    ));
                };
                let updated = super::patch::apply_update(&text, &name, chunks, &mut budget)
                    .map_err(|e| Failure::new(format!("{e}. Nothing was changed")))?;
                check_size(&name, updated.len(), FILE_MAX)?;
                let dest = match move_to {
                    Some(to) => {
                        let (dloc, dname) = patch_target(access, to)?;
                        (dloc.real != loc.real).then_some((to, dloc, dname))
                    }
                    None => None,
                };
                match dest {
                    Some((to, dloc, dname)) => {
                        if current(access, &plan, &dloc, to)?.is_some() {
                            return Err(Failure::new(format!(
                                "cannot move \"{name}\" to \"{dname}\": it already exists; delete it earlier in the same patch to replace it. Nothing was changed"
                            )));
                        }
                        set(&mut plan, &dloc, Some(updated.clone()));
                        set(&mut plan, &loc, None);
                        steps.push(Step::Write {
                            given: to.clone(),
                            text: updated,
                        });
                        steps.push(Step::Remove {
                            given: path.clone(),
                        });
                        modified.push(dname);
                    }
                    None if super::patch::same_text(&text, &updated) => unchanged.push(name),
                    None => {
                        set(&mut plan, &loc, Some(updated.clone()));
                        steps.push(Step::Write {
                            given: path.clone(),
                            text: updated,
                        });
                        modified.push(name);
                    }
                }
            }
        }
    }
    // Every change applies: keep what each path holds now, then write them, in order. A
    // write that still fails (a full disk, a path blocked by an earlier file) puts every
    // path back and removes the directories it created, so the patch changes all or nothing.
    let mut saved = Saved::default();
    for step in &steps {
        let given = match step {
            Step::Write { given, .. } | Step::Remove { given } => given,
        };
        if let Err(e) = saved.keep(access, given) {
            saved.discard();
            return Err(Failure::new(format!("{e}. Nothing was changed")));
        }
    }
    for step in &steps {
        let res = match step {
            Step::Write { given, text } => access.root.write(given, text.as_bytes()).map(|_| ()),
            Step::Remove { given } => access.root.remove(given).map(|_| ()),
        };
        if let Err(e) = res {
            let restored = saved.restore();
            return Err(Failure::new(match restored {
                Ok(()) => format!(
                    "{e}. Nothing was changed: the files the patch had written were put back"
                ),
                Err(why) => format!(
                    "{e}; putting the files back failed too ({why}). Read the files before patching again"
                ),
            }));
        }
    }
    saved.discard();
    let dedupe = |v: &mut Vec<String>| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|x| seen.insert(x.clone()));
    };
    for v in [&mut added, &mut modified, &mut deleted, &mut unchanged] {
        dedupe(v);
    }
    let text = if added.is_empty() && modified.is_empty() && deleted.is_empty() {
        format!("No changes made to {}.", unchanged.join(", "))
    } else {
        let mut lines = vec!["Success. Updated the following files:".to_owned()];
        lines.extend(added.iter().map(|f| format!("A {f}")));
        lines.extend(modified.iter().map(|f| format!("M {f}")));
        lines.extend(deleted.iter().map(|f| format!("D {f}")));
        lines.join("\n")
    };
    Ok(json!({
        "ok": true,
        "result": text,
        "summary": {"added": added, "modified": modified, "deleted": deleted},
    }))
}

/// What the paths an `apply_patch` writes held before: each existing one kept under a
/// hidden name in its own directory (a hard link, so any size costs nothing; a copy where
/// the file system has no hard links), a missing one noted with the directories writing it
/// creates, so a failed write can put every path back and take those directories away.
#[derive(Default)]
struct Saved {
    /// Each path, and the name its old file is kept under (`None`: it did not exist).
    paths: Vec<(std::path::PathBuf, Option<std::path::PathBuf>)>,
    /// The directories below the root that did not exist before the patch: writing a
    /// missing path creates them. Each once.
    dirs: Vec<std::path::PathBuf>,
}

impl Saved {
    /// Keeps what `given` holds now (once per path).
    fn keep(&mut self, access: &FsAccess<'_>, given: &str) -> Result<(), String> {
        let loc = access.root.locate(given).map_err(|e| e.to_string())?;
        if self.paths.iter().any(|(p, _)| *p == loc.path) {
            return Ok(());
        }
        let name = access.root.relative(&loc.path);
        let meta = match std::fs::symlink_metadata(&loc.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                for dir in missing_dirs(access.root.dir(), &loc.path) {
                    if !self.dirs.contains(&dir) {
                        self.dirs.push(dir);
                    }
                }
                self.paths.push((loc.path, None));
                return Ok(());
            }
            // A parent that is a file (`a.txt/b.txt`): nothing there to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                self.paths.push((loc.path, None));
                return Ok(());
            }
            Err(e) => return Err(format!("cannot inspect \"{name}\": {e}")),
        };
        let (Some(dir), Some(file)) = (loc.path.parent(), loc.path.file_name()) else {
            return Err(format!("cannot keep \"{name}\": it has no directory"));
        };
        let mut tries = 0u32;
        let backup = loop {
            let mut hidden = std::ffi::OsString::from(".");
            hidden.push(file);
            hidden.push(format!(
                ".apply_patch-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            let backup = dir.join(hidden);
            let made = std::fs::hard_link(&loc.path, &backup).or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
                if meta.file_type().is_symlink() {
                    std::os::unix::fs::symlink(std::fs::read_link(&loc.path)?, &backup)
                } else {
                    std::fs::copy(&loc.path, &backup).map(|_| ())
                }
            });
            match made {
                Ok(()) => break backup,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 3 => {
                    tries += 1;
                }
                Err(e) => return Err(format!("cannot keep a copy of \"{name}\": {e}")),
            }
        };
        self.paths.push((loc.path, Some(backup)));
        Ok(())
    }

    /// Puts every path back as it was, newest first, then removes the directories the
    /// patch created, innermost first, each only while it is empty (one that holds anything
    /// — a file that could not be taken away, or one written meanwhile — stays); `Err` names
    /// what could not be.
    fn restore(&mut self) -> Result<(), String> {
        let mut failed = Vec::new();
        for (path, backup) in self.paths.drain(..).rev() {
            let res = match &backup {
                Some(b) => std::fs::rename(b, &path),
                None => match std::fs::remove_file(&path) {
                    Err(e)
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                        ) =>
                    {
                        Err(e)
                    }
                    _ => Ok(()),
                },
            };
            if let Err(e) = res {
                let name = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                failed.push(match backup.as_ref().and_then(|b| b.file_name()) {
                    Some(b) => format!("{name}: {e}; its old file is {}", b.to_string_lossy()),
                    None => format!("{name}: {e}"),
                });
            } else if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        let mut dirs = std::mem::take(&mut self.dirs);
        // Innermost first: a directory is empty only once those inside it are gone.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {
                    if let Some(parent) = dir.parent()
                        && let Ok(d) = std::fs::File::open(parent)
                    {
                        let _ = d.sync_all();
                    }
                }
                // Gone already, not empty, or no longer a directory: not ours to remove.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound
                            | std::io::ErrorKind::DirectoryNotEmpty
                            | std::io::ErrorKind::NotADirectory
                    ) => {}
                Err(e) => {
                    let name = dir
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    failed.push(format!("{name}/ (a directory the patch created): {e}"));
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Drops the kept files (the patch is written, or nothing was).
    fn discard(&mut self) {
        self.dirs.clear();
        for (_, backup) in self.paths.drain(..) {
            if let Some(b) = backup {
                let _ = std::fs::remove_file(b);
            }
        }
    }
}

/// The directories between `root` and `path` (both lexical, `path` below `root`) that do
/// not exist, innermost first: those writing `path` creates. The root itself is not one of
/// them, nor anything above the first ancestor that exists (or cannot be looked at).
fn missing_dirs(root: &std::path::Path, path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut missing = Vec::new();
    for dir in path.ancestors().skip(1) {
        if dir == root || !dir.starts_with(root) {
            break;
        }
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(dir.to_owned()),
            _ => break,
        }
    }
    missing
}

/// A patch path, located under the file tools' rules (confined, no `.git`, the private
/// memory only where it is available), and its name for messages.
fn patch_target(access: &FsAccess<'_>, given: &str) -> Result<(Located, String), Failure> {
    let loc = locate(access, given)?;
    let name = access.root.relative(&loc.path);
    Ok((loc, name))
}

/// The text `loc` holds at this point of the plan: from the plan, else from disk (`None`:
/// missing or deleted earlier in the patch).
fn current(
    access: &FsAccess<'_>,
    plan: &[Planned],
    loc: &Located,
    given: &str,
) -> Result<Option<String>, Failure> {
    if let Some(p) = plan.iter().find(|p| p.real == loc.real) {
        return Ok(p.state.clone());
    }
    let name = access.root.relative(&loc.path);
    if std::fs::symlink_metadata(&loc.path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Failure::from(ConfinedError::Symlink { path: name }));
    }
    match access.root.read(given, FILE_MAX) {
        Ok(None) => Ok(None),
        Ok(Some(f)) => String::from_utf8(f.bytes).map(Some).map_err(|_| {
            Failure::new(format!(
                "\"{name}\" is not UTF-8 text; apply_patch only changes text files. Nothing was changed"
            ))
        }),
        Err(e) => Err(confined_failure(access, loc, e)),
    }
}

fn set(plan: &mut Vec<Planned>, loc: &Located, state: Option<String>) {
    match plan.iter_mut().find(|p| p.real == loc.real) {
        Some(p) => p.state = state,
        None => plan.push(Planned {
            real: loc.real.clone(),
            state,
        }),
    }
}

fn check_size(name: &str, len: usize, max: usize) -> Result<(), Failure> {
    if len > max {
        return Err(Failure::new(format!(
            "the patched \"{name}\" would be {}, more than the {} a workspace file may have here. Nothing was changed",
            human_size(len_u64(len)),
            human_limit(max)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};

    fn setup() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().expect("tempdir");
        let ws = t.path().join("ws");
        fs::create_dir(&ws).expect("mkdir");
        (t, Root::new(ws))
    }

    fn call(root: &Root, private: bool, name: &str, args: Value) -> Value {
        run(name, &args.to_string(), &FsAccess::workspace(root, private))
    }

    fn owner(root: &Root, name: &str, args: Value) -> Value {
        call(root, true, name, args)
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

    fn get(root: &Root, rel: &str) -> Vec<u8> {
        fs::read(root.dir().join(rel)).expect("read back")
    }

    fn patch(root: &Root, private: bool, body: &str) -> Value {
        call(
            root,
            private,
            "apply_patch",
            json!({"input": format!("*** Begin Patch\n{body}*** End Patch\n")}),
        )
    }

    #[test]
    fn apply_patch_adds_updates_moves_and_deletes() {
        let (_t, root) = setup();
        put(&root, "src/app.ts", "const a = 1;\nconst b = 2;\n");
        put(&root, "old.txt", "bye\n");
        let v = patch(
            &root,
            true,
            "*** Add File: notes/new.md\n+# New\n+text\n*** Update File: src/app.ts\n*** Move to: src/main.ts\n@@\n const a = 1;\n-const b = 2;\n+const b = 3;\n*** Delete File: old.txt\n",
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(
            v["result"],
            "Success. Updated the following files:\nA notes/new.md\nM src/main.ts\nD old.txt"
        );
        assert_eq!(get(&root, "notes/new.md"), b"# New\ntext\n");
        assert_eq!(get(&root, "src/main.ts"), b"const a = 1;\nconst b = 3;\n");
        assert!(!root.dir().join("src/app.ts").exists());
        assert!(!root.dir().join("old.txt").exists());
        let mode = fs::metadata(root.dir().join("notes/new.md"))
            .expect("meta")
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same update again changes nothing and says so.
        let v = patch(
            &root,
            true,
            "*** Update File: src/main.ts\n@@\n-const b = 3;\n+const b = 3;\n",
        );
        assert_eq!(v["result"], "No changes made to src/main.ts.", "{v}");
    }

    #[test]
    fn apply_patch_changes_nothing_when_one_change_does_not_apply() {
        let (_t, root) = setup();
        put(&root, "a.txt", "one\n");
        put(&root, "b.txt", "two\n");
        let v = patch(
            &root,
            true,
            "*** Update File: a.txt\n@@\n-one\n+ONE\n*** Add File: c.txt\n+new\n*** Update File: b.txt\n@@\n-not there\n+x\n",
        );
        let e = error(&v);
        assert!(e.contains("could not find these lines in b.txt"), "{e}");
        assert!(e.contains("Nothing was changed"), "{e}");
        assert_eq!(get(&root, "a.txt"), b"one\n");
        assert!(!root.dir().join("c.txt").exists());
        // Adding over an existing file, deleting a missing one, moving onto a file.
        let e = patch(&root, true, "*** Add File: a.txt\n+x\n").to_string();
        assert!(e.contains("already exists"), "{e}");
        let e = patch(&root, true, "*** Delete File: nope.txt\n").to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = patch(
            &root,
            true,
            "*** Update File: a.txt\n*** Move to: b.txt\n@@\n-one\n+1\n",
        )
        .to_string();
        assert!(e.contains("already exists"), "{e}");
        // ... unless the patch deletes it first.
        let v = patch(
            &root,
            true,
            "*** Delete File: b.txt\n*** Update File: a.txt\n*** Move to: b.txt\n@@\n-one\n+1\n",
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(get(&root, "b.txt"), b"1\n");
        // A later change sees an earlier one of the same patch.
        let v = patch(
            &root,
            true,
            "*** Add File: d.txt\n+x\n*** Update File: d.txt\n@@\n-x\n+y\n",
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(get(&root, "d.txt"), b"y\n");
    }

    /// The names in the workspace's top directory and `dir/` (to see nothing is left over).
    fn listing(root: &Root) -> Vec<String> {
        let mut names = Vec::new();
        for d in [root.dir().to_path_buf(), root.dir().join("dir")] {
            if let Ok(entries) = fs::read_dir(&d) {
                names.extend(
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                );
            }
        }
        names.sort();
        names
    }

    #[test]
    fn apply_patch_puts_every_file_back_when_a_write_fails() {
        let (_t, root) = setup();
        put(&root, "a.txt", "one\n");
        put(&root, "dir/gone.txt", "keep me\n");
        put(&root, "dir/target.txt", "linked\n");
        symlink("target.txt", root.dir().join("dir/link.txt")).expect("link");
        let before = listing(&root);
        // Every change applies on paper; the last write cannot be done: `new.txt` is a file
        // by then, so `new.txt/inner.txt` has no directory.
        let v = patch(
            &root,
            true,
            "*** Update File: a.txt\n@@\n-one\n+ONE\n*** Delete File: dir/gone.txt\n*** Delete File: dir/link.txt\n*** Update File: dir/target.txt\n*** Move to: dir/moved.txt\n@@\n-linked\n+moved\n*** Add File: new.txt\n+x\n*** Add File: new.txt/inner.txt\n+y\n",
        );
        let e = error(&v);
        assert!(e.contains("new.txt/inner.txt"), "{e}");
        assert!(
            e.contains("Nothing was changed: the files the patch had written were put back"),
            "{e}"
        );
        assert_eq!(get(&root, "a.txt"), b"one\n");
        assert_eq!(get(&root, "dir/gone.txt"), b"keep me\n");
        assert_eq!(get(&root, "dir/target.txt"), b"linked\n");
        let link = fs::symlink_metadata(root.dir().join("dir/link.txt")).expect("the link is back");
        assert!(link.file_type().is_symlink());
        assert_eq!(
            fs::read_link(root.dir().join("dir/link.txt")).expect("read link"),
            std::path::PathBuf::from("target.txt")
        );
        // No new file, no kept copy left behind.
        assert_eq!(listing(&root), before);
        // The same patch without the blocked file applies, and keeps no copies either.
        let v = patch(
            &root,
            true,
            "*** Update File: a.txt\n@@\n-one\n+ONE\n*** Delete File: dir/gone.txt\n*** Add File: new.txt\n+x\n",
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(get(&root, "a.txt"), b"ONE\n");
        assert!(!root.dir().join("dir/gone.txt").exists());
        assert_eq!(
            listing(&root),
            ["a.txt", "dir", "link.txt", "new.txt", "target.txt"]
        );
    }

    /// A rollback also removes the directories the patch created for its new files, but
    /// never one that existed before, even empty.
    #[test]
    fn apply_patch_rollback_removes_the_directories_it_created() {
        let (_t, root) = setup();
        fs::create_dir(root.dir().join("kept")).expect("mkdir");
        put(&root, "a.txt", "one\n");
        let before = listing(&root);
        // `blocker.txt` is a file by the last write, so `blocker.txt/x.txt` fails.
        let v = patch(
            &root,
            true,
            "*** Add File: new/deep/a.txt\n+x\n*** Update File: a.txt\n*** Move to: moved/to/a.txt\n@@\n-one\n+ONE\n*** Add File: kept/sub/b.txt\n+y\n*** Add File: new/c.txt\n+z\n*** Add File: blocker.txt\n+b\n*** Add File: blocker.txt/x.txt\n+w\n",
        );
        let e = error(&v);
        assert!(
            e.contains("Nothing was changed: the files the patch had written were put back"),
            "{e}"
        );
        assert_eq!(get(&root, "a.txt"), b"one\n");
        for gone in ["new", "moved", "kept/sub", "blocker.txt"] {
            assert!(
                fs::symlink_metadata(root.dir().join(gone)).is_err(),
                "{gone} is left after the rollback"
            );
        }
        assert!(root.dir().join("kept").is_dir(), "the old directory stays");
        assert_eq!(listing(&root), before);
        // Applied, the directories stay.
        let v = patch(&root, true, "*** Add File: new/deep/a.txt\n+x\n");
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(get(&root, "new/deep/a.txt"), b"x\n");
    }

    /// A directory the patch created that holds something else by the rollback (written
    /// meanwhile) stays, with that file; the empty ones inside it still go.
    #[test]
    fn apply_patch_rollback_keeps_a_created_directory_that_is_not_empty() {
        let (_t, root) = setup();
        let access = FsAccess::workspace(&root, true);
        let mut saved = Saved::default();
        saved.keep(&access, "new/deep/a.txt").expect("kept");
        saved.keep(&access, "new/b.txt").expect("kept");
        root.write("new/deep/a.txt", b"x").expect("written");
        root.write("new/b.txt", b"y").expect("written");
        put(&root, "new/other.txt", "not the patch's");
        saved.restore().expect("restored");
        assert_eq!(get(&root, "new/other.txt"), b"not the patch's");
        assert!(!root.dir().join("new/deep").exists());
        assert!(!root.dir().join("new/b.txt").exists());
        let left: Vec<_> = fs::read_dir(root.dir().join("new"))
            .expect("new/ stays")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["other.txt"]);
        // Nothing created: nothing removed (the root's other directories untouched).
        fs::create_dir(root.dir().join("empty")).expect("mkdir");
        let mut saved = Saved::default();
        saved.keep(&access, "empty/c.txt").expect("kept");
        assert!(saved.dirs.is_empty());
        saved.restore().expect("restored");
        assert!(root.dir().join("empty").is_dir());
    }

    #[test]
    fn apply_patch_is_confined_like_the_other_file_tools() {
        let (t, root) = setup();
        put(&root, "MEMORY.md", "secret\n");
        put(&root, "x.txt", "a\n");
        fs::write(t.path().join("outside.txt"), "host\n").expect("write");
        symlink(t.path().join("outside.txt"), root.dir().join("link.txt")).expect("symlink");
        for (body, want) in [
            ("*** Add File: ../escape.txt\n+x\n", "outside the workspace"),
            ("*** Delete File: /etc/passwd\n", "outside the workspace"),
            (
                "*** Update File: link.txt\n@@\n-host\n+pwned\n",
                "symbolic link",
            ),
            (
                "*** Add File: .git/hooks/pre-commit\n+#!/bin/sh\n",
                "git repository",
            ),
            (
                "*** Update File: x.txt\n*** Move to: ../../x\n@@\n-a\n+b\n",
                "outside the workspace",
            ),
        ] {
            let v = patch(&root, true, body);
            assert!(error(&v).contains(want), "{body}: {v}");
        }
        assert_eq!(
            fs::read(t.path().join("outside.txt")).expect("read"),
            b"host\n"
        );
        // The private memory is off limits where it is private.
        let v = patch(
            &root,
            false,
            "*** Update File: MEMORY.md\n@@\n-secret\n+gone\n",
        );
        assert!(error(&v).contains("private"), "{v}");
        assert_eq!(get(&root, "MEMORY.md"), b"secret\n");
        // Bad arguments.
        let v = call(&root, true, "apply_patch", json!({"input": 5}));
        assert!(error(&v).contains("must be a string"), "{v}");
        let v = call(&root, true, "apply_patch", json!({}));
        assert!(error(&v).contains("missing argument \"input\""), "{v}");
        let v = call(
            &root,
            true,
            "apply_patch",
            json!({"input": "diff --git a b"}),
        );
        assert!(error(&v).contains("*** Begin Patch"), "{v}");
    }

    #[test]
    fn specs_name_the_four_tools_with_openclaw_arguments() {
        let specs = specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, NAMES);
        for s in &specs {
            assert_eq!(s.parameters["type"], "object");
            assert!(s.description.contains("relative"), "{}", s.description);
            let first = if s.name == "apply_patch" {
                "input"
            } else {
                "path"
            };
            assert_eq!(s.parameters["required"][0], first);
        }
        assert!(specs[0].parameters["properties"]["offset"].is_object());
        assert!(specs[0].parameters["properties"]["limit"].is_object());
        assert!(specs[1].parameters["properties"]["content"].is_object());
        assert_eq!(
            specs[2].parameters["properties"]["edits"]["items"]["required"],
            json!(["oldText", "newText"])
        );
    }

    #[test]
    fn read_pages_with_offset_limit_more_and_next() {
        let (_t, root) = setup();
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        put(&root, "notes.md", &text);
        let v = owner(&root, "read", json!({"path": "notes.md"}));
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["path"], "notes.md");
        assert_eq!(v["content"], text.as_str());
        assert_eq!(v["lines"], json!([1, 10]));
        assert_eq!(v["totalLines"], 10);
        assert_eq!(v["more"], false);
        assert!(v.get("next").is_none() && v.get("note").is_none(), "{v}");

        let v = owner(
            &root,
            "read",
            json!({"path": "notes.md", "offset": 3, "limit": 2}),
        );
        assert_eq!(v["content"], "line 3\nline 4\n");
        assert_eq!(v["lines"], json!([3, 4]));
        assert_eq!(v["more"], true);
        assert_eq!(
            v["next"],
            "6 more lines; call read with offset=5 to continue"
        );
        // Lenient number shapes; null is "not given".
        let v = owner(
            &root,
            "read",
            json!({"file_path": "./notes.md", "offset": "10", "limit": null}),
        );
        assert_eq!(v["content"], "line 10\n");
        assert_eq!(v["lines"], json!([10, 10]));
        assert_eq!(v["more"], false);
        let v = owner(
            &root,
            "read",
            json!({"path": "notes.md", "offset": 2.0, "limit": 1}),
        );
        assert_eq!(v["content"], "line 2\n");

        let v = owner(&root, "read", json!({"path": "notes.md", "offset": 11}));
        assert_eq!(
            error(&v),
            "offset 11 is past the end of \"notes.md\" (10 lines); use an offset from 1 to 10"
        );
        for bad in [json!(0), json!(-1), json!(1.5), json!("x"), json!([1])] {
            let v = owner(&root, "read", json!({"path": "notes.md", "offset": bad}));
            assert!(error(&v).starts_with("argument \"offset\""), "{v}");
        }
        let v = owner(&root, "read", json!({"path": "notes.md", "limit": 0}));
        assert!(error(&v).starts_with("argument \"limit\""), "{v}");

        // The line cap: at most 2000 lines whatever the limit.
        let many: String = (1..=2500).map(|i| format!("{i}\n")).collect();
        put(&root, "many.txt", &many);
        let v = owner(&root, "read", json!({"path": "many.txt", "limit": 5000}));
        assert_eq!(v["lines"], json!([1, 2000]));
        assert_eq!(v["totalLines"], 2500);
        assert_eq!(
            v["next"],
            "500 more lines; call read with offset=2001 to continue"
        );
        let v = owner(&root, "read", json!({"path": "many.txt", "offset": 2001}));
        assert_eq!(v["lines"], json!([2001, 2500]));
        assert_eq!(v["more"], false);
    }

    #[test]
    fn read_cuts_at_12000_bytes_on_a_line_or_char_boundary() {
        let (_t, root) = setup();
        // 100-byte lines: 120 of them fill the page exactly.
        let text = format!("{}\n", "x".repeat(99)).repeat(200);
        put(&root, "long.txt", &text);
        let v = owner(&root, "read", json!({"path": "long.txt"}));
        let content = v["content"].as_str().expect("content");
        assert_eq!(content.len(), 12_000);
        assert_eq!(v["lines"], json!([1, 120]));
        assert_eq!(v["more"], true);
        assert_eq!(
            v["next"],
            "80 more lines; call read with offset=121 to continue"
        );
        // Multi-byte lines: the cut falls on a line boundary below the cap.
        let text = format!("{}\n", "é".repeat(50)).repeat(200);
        put(&root, "accents.txt", &text);
        let v = owner(&root, "read", json!({"path": "accents.txt"}));
        let content = v["content"].as_str().expect("content");
        assert_eq!(content.len(), 118 * 101);
        assert!(content.ends_with("é\n"));
        assert_eq!(v["lines"], json!([1, 118]));
        // One line longer than the cap: cut at a char boundary, said so.
        let text = format!("a{}\ntail\n", "日".repeat(5000));
        put(&root, "wide.txt", &text);
        let v = owner(&root, "read", json!({"path": "wide.txt"}));
        let content = v["content"].as_str().expect("content");
        assert_eq!(content.len(), 11_998);
        assert!(text.starts_with(content));
        assert_eq!(v["lines"], json!([1, 1]));
        assert_eq!(v["more"], true);
        assert_eq!(
            v["note"],
            "line 1 is longer than 12000 bytes; only its first 11998 bytes are shown"
        );
        assert_eq!(
            v["next"],
            "1 more lines; call read with offset=2 to continue"
        );
        let v = owner(&root, "read", json!({"path": "wide.txt", "offset": 2}));
        assert_eq!(v["content"], "tail\n");
    }

    #[test]
    fn read_reports_lossy_bom_empty_missing_and_directories() {
        let (_t, root) = setup();
        put(&root, "bin.dat", b"ok\xff\xfe\nnext\n");
        let v = owner(&root, "read", json!({"path": "bin.dat"}));
        assert_eq!(v["note"], "not UTF-8; shown lossily");
        assert_eq!(v["content"], "ok\u{fffd}\u{fffd}\nnext\n");
        put(&root, "bom.md", "\u{feff}hello\n");
        let v = owner(&root, "read", json!({"path": "bom.md"}));
        assert_eq!(v["content"], "hello\n");
        put(&root, "empty.md", "");
        let v = owner(&root, "read", json!({"path": "empty.md"}));
        assert_eq!(v["ok"], true);
        assert_eq!(v["content"], "");
        assert_eq!(v["totalLines"], 0);
        assert_eq!(v["note"], "the file is empty");

        put(&root, "a.md", "a");
        put(&root, "sub/inner.md", "i");
        put(&root, ".hidden", "h");
        put(&root, "MEMORY.md", "secret");
        let v = call(&root, false, "read", json!({"path": "c.md"}));
        assert_eq!(error(&v), "file \"c.md\" does not exist");
        assert_eq!(
            v["existing"],
            json!(["a.md", "bin.dat", "bom.md", "empty.md", "sub/"])
        );
        let v = owner(&root, "read", json!({"path": "c.md"}));
        assert_eq!(
            v["existing"],
            json!(["MEMORY.md", "a.md", "bin.dat", "bom.md", "empty.md", "sub/"])
        );
        let v = owner(&root, "read", json!({"path": "sub/none.md"}));
        assert_eq!(v["existing"], json!(["inner.md"]));
        let v = owner(&root, "read", json!({"path": "nodir/x.md"}));
        assert_eq!(error(&v), "file \"nodir/x.md\" does not exist");
        assert!(v.get("existing").is_none(), "{v}");
        let v = owner(&root, "read", json!({"path": "sub"}));
        assert_eq!(error(&v), "\"sub\" is a directory, not a file");
        assert_eq!(v["existing"], json!(["inner.md"]));
        // Too large for the tool.
        put(&root, "big.log", vec![b'x'; 3_100_000]);
        let v = owner(&root, "read", json!({"path": "big.log"}));
        assert_eq!(
            error(&v),
            "file \"big.log\" is 3.1 MB, more than the 2 MiB this tool reads"
        );
    }

    #[test]
    fn write_creates_replaces_and_leaves_unchanged_files_alone() {
        let (_t, root) = setup();
        let v = owner(
            &root,
            "write",
            json!({"path": "memory/2026-12-03.md", "content": "- met Ana\n"}),
        );
        assert_eq!(
            v,
            json!({"ok": true, "path": "memory/2026-12-03.md", "created": true, "bytes": 10})
        );
        let mode = |rel: &str| {
            fs::metadata(root.dir().join(rel))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("memory"), 0o700);
        assert_eq!(mode("memory/2026-12-03.md"), 0o600);
        assert_eq!(get(&root, "memory/2026-12-03.md"), b"- met Ana\n");
        let ino = fs::metadata(root.dir().join("memory/2026-12-03.md"))
            .expect("meta")
            .ino();
        let v = owner(
            &root,
            "write",
            json!({"path": "memory/2026-12-03.md", "content": "- met Ana\n"}),
        );
        assert_eq!(
            v,
            json!({"ok": true, "path": "memory/2026-12-03.md", "changed": false})
        );
        assert_eq!(
            fs::metadata(root.dir().join("memory/2026-12-03.md"))
                .expect("meta")
                .ino(),
            ino
        );
        let v = owner(
            &root,
            "write",
            json!({"path": "memory/2026-12-03.md", "content": "é"}),
        );
        assert_eq!(v["created"], false);
        assert_eq!(v["bytes"], 2);
        assert_eq!(get(&root, "memory/2026-12-03.md"), "é".as_bytes());

        // Over 1 MiB: refused, nothing written.
        let v = owner(
            &root,
            "write",
            json!({"path": "huge.md", "content": "x".repeat(WRITE_MAX + 1)}),
        );
        assert_eq!(
            error(&v),
            "content is 1.0 MB, more than the 1 MiB this tool writes; split it into smaller files"
        );
        assert!(!root.dir().join("huge.md").exists());
        let v = owner(
            &root,
            "write",
            json!({"path": "max.md", "content": "x".repeat(WRITE_MAX)}),
        );
        assert_eq!(v["created"], true);

        let v = owner(&root, "write", json!({"path": "a.md", "content": 5}));
        assert_eq!(
            error(&v),
            "argument \"content\" must be a string (the file's complete new text), not a number"
        );
        let v = owner(&root, "write", json!({"path": "a.md"}));
        assert!(error(&v).starts_with("missing argument \"content\""));
        assert!(!root.dir().join("a.md").exists());
        let v = owner(
            &root,
            "write",
            json!({"path": "../escape.md", "content": "x"}),
        );
        assert!(error(&v).contains("outside the workspace"));
    }

    #[test]
    fn write_refuses_links_and_special_files() {
        let (t, root) = setup();
        put(&root, "real.md", "real");
        symlink("real.md", root.dir().join("alias.md")).expect("symlink");
        let v = owner(&root, "write", json!({"path": "alias.md", "content": "x"}));
        assert!(error(&v).contains("is a symbolic link"), "{v}");
        assert_eq!(get(&root, "real.md"), b"real");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        symlink(&outside, root.dir().join("out")).expect("symlink");
        let v = owner(
            &root,
            "write",
            json!({"path": "out/x/y.md", "content": "x"}),
        );
        assert!(error(&v).contains("leads outside the workspace"), "{v}");
        assert_eq!(fs::read_dir(&outside).expect("list").count(), 0);
        let v = owner(&root, "read", json!({"path": "out/x/y.md"}));
        assert!(error(&v).contains("leads outside the workspace"), "{v}");
        fs::create_dir(root.dir().join("dir")).expect("mkdir");
        let v = owner(&root, "write", json!({"path": "dir", "content": "x"}));
        assert_eq!(error(&v), "\"dir\" is a directory, not a file");
    }

    #[test]
    fn edit_replaces_unique_text_and_refuses_missing_or_repeated_text() {
        let (_t, root) = setup();
        put(&root, "notes.md", "alpha\nbeta\ngamma\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "notes.md", "edits": [{"oldText": "beta", "newText": "BETA"}, {"oldText": "gamma\n", "newText": ""}]}),
        );
        assert_eq!(v, json!({"ok": true, "path": "notes.md", "replaced": 2}));
        assert_eq!(get(&root, "notes.md"), b"alpha\nBETA\n");

        let v = owner(
            &root,
            "edit",
            json!({"path": "notes.md", "edits": [{"oldText": "delta", "newText": "x"}]}),
        );
        assert_eq!(
            error(&v),
            "could not find the exact text of edit 1 in notes.md; oldText must match the file exactly, including whitespace and line breaks; read the file again and copy the text"
        );
        put(&root, "code.rs", "fn main() {\n    let  x = 1;\n}\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "code.rs", "edits": [{"oldText": "let x = 1;\n}", "newText": "let x = 2;\n}"}]}),
        );
        let e = error(&v);
        assert!(
            e.starts_with("could not find the exact text of edit 1 in code.rs; line 2 looks similar: \"let  x = 1;\""),
            "{e}"
        );

        put(&root, "rep.md", "a b a\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "rep.md", "edits": [{"oldText": "a", "newText": "c"}]}),
        );
        assert_eq!(
            error(&v),
            "edit 1's oldText occurs 2 times in rep.md; include more surrounding text to make it unique"
        );
        // Overlapping occurrences of the same text count too.
        put(&root, "aaa.md", "aaa");
        let v = owner(
            &root,
            "edit",
            json!({"path": "aaa.md", "edits": [{"oldText": "aa", "newText": "b"}]}),
        );
        assert!(error(&v).contains("occurs 2 times"), "{v}");
        assert_eq!(get(&root, "rep.md"), b"a b a\n");
        assert_eq!(get(&root, "aaa.md"), b"aaa");

        let v = owner(
            &root,
            "edit",
            json!({"path": "none.md", "edits": [{"oldText": "a", "newText": "b"}]}),
        );
        assert_eq!(
            error(&v),
            "file \"none.md\" does not exist; use write to create it"
        );
        assert!(!root.dir().join("none.md").exists());
    }

    #[test]
    fn edit_refuses_overlaps_and_applies_all_or_none() {
        let (_t, root) = setup();
        put(&root, "f.md", "abcdef\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "f.md", "edits": [{"oldText": "cde", "newText": "Y"}, {"oldText": "abc", "newText": "X"}]}),
        );
        assert_eq!(
            error(&v),
            "edits 1 and 2 overlap in f.md; merge them into one edit"
        );
        let v = owner(
            &root,
            "edit",
            json!({"path": "f.md", "edits": [{"oldText": "abc", "newText": "X"}, {"oldText": "def", "newText": "Y"}]}),
        );
        assert_eq!(v["replaced"], 2, "{v}");
        assert_eq!(get(&root, "f.md"), b"XY\n");

        put(&root, "g.md", "alpha\nbeta\n");
        let ino = fs::metadata(root.dir().join("g.md")).expect("meta").ino();
        let v = owner(
            &root,
            "edit",
            json!({"path": "g.md", "edits": [{"oldText": "alpha", "newText": "A"}, {"oldText": "missing", "newText": "M"}]}),
        );
        assert!(
            error(&v).starts_with("could not find the exact text of edit 2 in g.md"),
            "{v}"
        );
        assert_eq!(get(&root, "g.md"), b"alpha\nbeta\n");
        assert_eq!(
            fs::metadata(root.dir().join("g.md")).expect("meta").ino(),
            ino
        );
        // Identical result: nothing rewritten.
        let v = owner(
            &root,
            "edit",
            json!({"path": "g.md", "edits": [{"oldText": "beta", "newText": "beta"}]}),
        );
        assert_eq!(v["ok"], true);
        assert_eq!(v["changed"], false);
        assert_eq!(
            fs::metadata(root.dir().join("g.md")).expect("meta").ino(),
            ino
        );
        // The result may not outgrow the file limit.
        put(&root, "h.md", format!("{}\nmark\n", "x".repeat(1_500_000)));
        let v = owner(
            &root,
            "edit",
            json!({"path": "h.md", "oldText": "mark", "newText": "y".repeat(700_000)}),
        );
        assert!(error(&v).contains("more than the 2 MiB"), "{v}");
        assert!(get(&root, "h.md").ends_with(b"\nmark\n"));
    }

    #[test]
    fn edit_keeps_crlf_and_bom() {
        let (_t, root) = setup();
        put(&root, "win.txt", "one\r\ntwo\r\nthree\r\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "win.txt", "edits": [{"oldText": "two\nthree", "newText": "2\n3"}]}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "win.txt"), b"one\r\n2\r\n3\r\n");
        // The model may also copy the CRLF itself.
        let v = owner(
            &root,
            "edit",
            json!({"path": "win.txt", "edits": [{"oldText": "one\r\n2", "newText": "1\r\ntwo"}]}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "win.txt"), b"1\r\ntwo\r\n3\r\n");
        // An LF file stays LF even when the model sends CRLF.
        put(&root, "unix.txt", "a\nb\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "unix.txt", "edits": [{"oldText": "a\r\nb", "newText": "x\r\ny"}]}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "unix.txt"), b"x\ny\n");

        put(&root, "bom.md", "\u{feff}hello\r\nworld\r\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "bom.md", "edits": [{"oldText": "hello", "newText": "hi"}]}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "bom.md"), "\u{feff}hi\r\nworld\r\n".as_bytes());
    }

    #[test]
    fn edit_accepts_the_flat_form_and_checks_its_arguments() {
        let (_t, root) = setup();
        put(&root, "f.md", "hello world\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "f.md", "oldText": "world", "newText": "there"}),
        );
        assert_eq!(v, json!({"ok": true, "path": "f.md", "replaced": 1}));
        assert_eq!(get(&root, "f.md"), b"hello there\n");
        let v = owner(
            &root,
            "edit",
            json!({"file_path": "f.md", "old_string": "there", "new_string": "you"}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "f.md"), b"hello you\n");
        // A list sent as a JSON string.
        let v = owner(
            &root,
            "edit",
            json!({"path": "f.md", "edits": "[{\"oldText\": \"you\", \"newText\": \"all\"}]"}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "f.md"), b"hello all\n");

        let cases = [
            (
                json!({"path": "f.md", "edits": [{"oldText": "all", "newText": "x"}], "oldText": "a", "newText": "b"}),
                "give either \"edits\" or a single \"oldText\"/\"newText\", not both",
            ),
            (
                json!({"path": "f.md", "edits": []}),
                "argument \"edits\" is empty; give at least one {\"oldText\": …, \"newText\": …}",
            ),
            (
                json!({"path": "f.md", "edits": [{"oldText": "", "newText": "x"}]}),
                "edit 1's oldText is empty; give the exact text to replace",
            ),
            (
                json!({"path": "f.md", "edits": [{"oldText": "all"}]}),
                "edit 1: missing \"newText\" (the replacement text)",
            ),
            (
                json!({"path": "f.md", "edits": [{"oldText": "all", "newText": 3}]}),
                "edit 1: \"newText\" must be a string, not a number",
            ),
            (
                json!({"path": "f.md", "edits": ["all"]}),
                "edit 1 must be an object {\"oldText\": …, \"newText\": …}, not a string",
            ),
            (
                json!({"path": "f.md", "edits": {"oldText": "all"}}),
                "argument \"edits\" must be an array of {\"oldText\": …, \"newText\": …} objects, not an object",
            ),
            (
                json!({"path": "f.md"}),
                "missing argument \"edits\" (an array of {\"oldText\": …, \"newText\": …} objects)",
            ),
        ];
        for (args, want) in cases {
            let v = owner(&root, "edit", args.clone());
            assert_eq!(error(&v), want, "{args}");
        }
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"oldText": format!("t{i}"), "newText": "x"}))
            .collect();
        let v = owner(&root, "edit", json!({"path": "f.md", "edits": many}));
        assert_eq!(
            error(&v),
            "101 edits in one call, more than the 100 allowed; split them over several calls"
        );
        put(&root, "bin.dat", b"\xff\xfeabc");
        let v = owner(
            &root,
            "edit",
            json!({"path": "bin.dat", "oldText": "abc", "newText": "x"}),
        );
        assert!(error(&v).contains("is not UTF-8 text"), "{v}");
        assert_eq!(get(&root, "f.md"), b"hello all\n");
        assert_eq!(get(&root, "bin.dat"), b"\xff\xfeabc");
    }

    #[test]
    fn the_private_memory_is_refused_outside_private_sessions() {
        let (_t, root) = setup();
        put(&root, "MEMORY.md", "the owner's secrets\n");
        put(&root, "memory/2026-12-01.md", "daily\n");
        put(&root, "sub/MEMORY.md", "not the private one\n");
        fs::create_dir(root.dir().join("a")).expect("mkdir");
        symlink("MEMORY.md", root.dir().join("notes.md")).expect("file alias");
        symlink("memory", root.dir().join("journal")).expect("dir alias");
        let abs = root.dir().join("MEMORY.md");
        let reads = [
            "MEMORY.md",
            "Memory.md",
            "memory.MD",
            "./a/../MEMORY.md",
            "memory/2026-12-01.md",
            "memory/x.md",
            "MEMORY/x.md",
            "memory",
            "notes.md",
            "journal/2026-12-01.md",
            abs.to_str().expect("utf8"),
        ];
        for p in reads {
            let v = call(&root, false, "read", json!({"path": p}));
            assert_eq!(error(&v), PRIVATE, "read {p}");
            let v = call(&root, false, "write", json!({"path": p, "content": "x"}));
            assert_eq!(error(&v), PRIVATE, "write {p}");
            let v = call(
                &root,
                false,
                "edit",
                json!({"path": p, "oldText": "secrets", "newText": "x"}),
            );
            assert_eq!(error(&v), PRIVATE, "edit {p}");
        }
        assert_eq!(get(&root, "MEMORY.md"), b"the owner's secrets\n");
        assert_eq!(get(&root, "memory/2026-12-01.md"), b"daily\n");
        assert!(!root.dir().join("memory/x.md").exists());
        assert!(!root.dir().join("Memory.md").exists());
        assert!(!root.dir().join("MEMORY").exists());
        // Not private: a nested MEMORY.md, a name that only starts like it.
        let v = call(&root, false, "read", json!({"path": "sub/MEMORY.md"}));
        assert_eq!(v["content"], "not the private one\n");
        let v = call(
            &root,
            false,
            "write",
            json!({"path": "memory-notes.md", "content": "ok"}),
        );
        assert_eq!(v["created"], true, "{v}");
        // The owner reads and writes them.
        let v = owner(&root, "read", json!({"path": "MEMORY.md"}));
        assert_eq!(v["content"], "the owner's secrets\n");
        let v = owner(&root, "read", json!({"path": "journal/2026-12-01.md"}));
        assert_eq!(v["content"], "daily\n");
        let v = owner(
            &root,
            "edit",
            json!({"path": "MEMORY.md", "oldText": "secrets", "newText": "notes"}),
        );
        assert_eq!(v["replaced"], 1, "{v}");
        assert_eq!(get(&root, "MEMORY.md"), b"the owner's notes\n");
    }

    #[test]
    fn bad_arguments_are_named() {
        let (_t, root) = setup();
        let access = FsAccess::workspace(&root, true);
        let v = run("read", "not json", &access);
        assert!(
            error(&v).starts_with("the arguments are not valid JSON"),
            "{v}"
        );
        let v = run("read", "[1]", &access);
        assert_eq!(
            error(&v),
            "the arguments must be a JSON object like {\"path\": \"notes.md\"}, not an array"
        );
        let v = run("write", "", &access);
        assert!(error(&v).starts_with("missing argument \"path\""), "{v}");
        let v = run("read", "{\"path\": 5}", &access);
        assert_eq!(
            error(&v),
            "argument \"path\" must be a string (a file path relative to your workspace), not a number"
        );
        let v = run("read", "{\"file_path\": true}", &access);
        assert!(
            error(&v).starts_with("argument \"file_path\" must be a string"),
            "{v}"
        );
        let v = run("read", "{\"path\": \"\"}", &access);
        assert!(error(&v).starts_with("the path is empty"), "{v}");
        let v = run("read", "{\"path\": \"a\\u0000b\"}", &access);
        assert!(error(&v).contains("NUL"), "{v}");
        let v = run("exec", "{}", &access);
        assert_eq!(
            error(&v),
            "unknown tool \"exec\"; the file tools are read, write, edit and apply_patch"
        );
        let huge = format!(
            "{{\"path\": \"a\", \"content\": \"{}\"}}",
            "x".repeat(ARGS_MAX)
        );
        let v = run("write", &huge, &access);
        assert!(error(&v).starts_with("the arguments are 8.4 MB"), "{v}");
        // Deeply nested JSON is an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let v = run("read", &deep, &access);
        assert!(
            error(&v).starts_with("the arguments are not valid JSON"),
            "{v}"
        );
    }

    #[test]
    fn page_handles_files_without_a_final_newline() {
        let p = page("a\nb", 2, None, "f").expect("page");
        assert_eq!(
            p,
            Page {
                content: "b".to_owned(),
                start: 2,
                end: 2,
                total: 2,
                cut_line: None
            }
        );
        assert!(page("", 2, None, "f").is_err());
    }

    #[test]
    fn the_git_repository_is_off_limits() {
        let (_t, root) = setup();
        fs::create_dir_all(root.dir().join(".git/hooks")).expect("git dir");
        fs::write(
            root.dir().join(".git/config"),
            "[remote]\n url = https://tok@x\n",
        )
        .expect("cfg");
        std::os::unix::fs::symlink(".git", root.dir().join("g")).expect("alias");
        let access = FsAccess::workspace(&root, true);
        for (tool, args) in [
            ("read", json!({"path": ".git/config"})),
            ("read", json!({"path": "g/config"})),
            (
                "write",
                json!({"path": ".git/hooks/post-commit", "content": "#!/bin/sh\nid\n"}),
            ),
            (
                "write",
                json!({"path": ".GIT/config", "content": "[core]\nfsmonitor = id\n"}),
            ),
            ("write", json!({"path": "sub/.git/config", "content": "x"})),
            (
                "edit",
                json!({"path": ".git/config", "oldText": "tok", "newText": "x"}),
            ),
        ] {
            let v = run(tool, &args.to_string(), &access);
            assert_eq!(v["ok"], false, "{tool} {args}: {v}");
            assert!(
                v["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("git repository")),
                "{v}"
            );
            assert!(!v.to_string().contains("tok@"), "{v}");
        }
        assert!(!root.dir().join(".git/hooks/post-commit").exists());
        assert!(!root.dir().join("sub").exists());
        assert_eq!(
            fs::read_to_string(root.dir().join(".git/config")).expect("cfg"),
            "[remote]\n url = https://tok@x\n"
        );
    }

    #[test]
    fn read_reaches_inside_offered_skill_directories_only() {
        let (_d, root) = setup();
        let skills = tempfile::tempdir().expect("skills");
        let outside = tempfile::tempdir().expect("outside");
        let weather = skills.path().join("weather");
        fs::create_dir_all(weather.join("refs/.git")).expect("mkdir");
        fs::write(weather.join("SKILL.md"), "# weather").expect("w");
        fs::write(weather.join("refs/api.md"), "GET /forecast").expect("w");
        fs::write(weather.join("refs/.git/config"), "git").expect("w");
        fs::create_dir_all(skills.path().join("radar")).expect("mkdir");
        fs::write(skills.path().join("radar/SKILL.md"), "# radar").expect("w");
        fs::write(outside.path().join("secret"), "SECRET").expect("w");
        symlink(outside.path().join("secret"), weather.join("leak.md")).expect("ln");
        fs::write(weather.join(".env"), "SECRET=1").expect("w");
        symlink(weather.join(".env"), weather.join("alias.md")).expect("ln");
        let dirs = [weather.clone()];
        let access = FsAccess {
            root: &root,
            private: true,
            skill_dirs: &dirs,
        };
        let p = |rel: &str| format!("{}/{rel}", weather.display());
        let v = run(
            "read",
            &json!({"path": p("refs/api.md")}).to_string(),
            &access,
        );
        assert_eq!(v["content"], "GET /forecast", "{v}");
        assert_eq!(v["path"], p("refs/api.md"));
        for bad in [
            p("leak.md"),
            p(".env"),
            p("alias.md"),
            p("../radar/SKILL.md"),
            p("refs/.git/config"),
            p("nope.md"),
            skills.path().join("radar/SKILL.md").display().to_string(),
            weather.display().to_string(),
        ] {
            let v = run("read", &json!({"path": bad}).to_string(), &access);
            assert_eq!(v["ok"], false, "{bad}: {v}");
            assert!(!v.to_string().contains("SECRET"), "{bad}: {v}");
        }
        // Writes and edits never go there.
        for (tool, args) in [
            ("write", json!({"path": p("SKILL.md"), "content": "x"})),
            (
                "edit",
                json!({"path": p("SKILL.md"), "edits": [{"oldText": "# weather", "newText": "x"}]}),
            ),
        ] {
            let v = run(tool, &args.to_string(), &access);
            assert_eq!(v["ok"], false, "{tool}: {v}");
        }
        assert_eq!(
            fs::read_to_string(weather.join("SKILL.md")).expect("r"),
            "# weather"
        );
    }
}
