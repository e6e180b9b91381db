//! The agent's workspace (OpenClaw's `agents.defaults.workspace`, `~/.openclaw/workspace` by
//! default): the directory whose files make the assistant *this* assistant.
//!
//! - **Project context.** Every run's system prompt carries the workspace's bootstrap files
//!   ([`FILES`]: `AGENTS.md` instructions, `SOUL.md` persona, `IDENTITY.md`, `USER.md`,
//!   `BOOTSTRAP.md` while the first-run ritual is pending, `MEMORY.md`) under OpenClaw's
//!   `# Project Context` heading, read fresh for each run so an edit applies to the next
//!   message. OpenClaw's limits apply: 20 000 characters per file (`bootstrapMaxChars`,
//!   4 000 for `USER.md`), 60 000 in all (`bootstrapTotalMaxChars`), a long file keeping its
//!   head (75 %) and tail (25 %) around a marker that says to `read` the rest. A missing
//!   `AGENTS.md` / `SOUL.md` / `IDENTITY.md` shows OpenClaw's `[MISSING] Expected at:` line.
//! - **Privacy** ([`Scope`]): `MEMORY.md` (the owner's long-term memory) is only in the
//!   main, private sessions: direct chats, operators, the heartbeat. A group chat never gets
//!   it; an isolated cron run gets `AGENTS.md`, `SOUL.md`, `IDENTITY.md` and `USER.md` only.
//!   The file tools ([`tools`]) refuse the private memory in the same places.
//! - **Confinement** ([`confined`]): every read goes through the workspace root, so a
//!   bootstrap file that is a symlink out of the workspace is not read.
//! - **Seeding** ([`seed`]): a brand-new workspace gets starter files (unless
//!   `agents.defaults.skipBootstrap`); files that exist are never touched.

mod args;
pub mod attach;
pub mod confined;
pub mod memory;
pub mod patch;
pub mod skills;
pub mod tools;
pub mod watch;

use std::path::{Path, PathBuf};

use confined::{ConfinedError, Root};

/// Per-file limit of the injected text (characters; `agents.defaults.bootstrapMaxChars`).
pub const DEFAULT_MAX_CHARS: usize = 20_000;
/// Limit across all files (`agents.defaults.bootstrapTotalMaxChars`).
pub const DEFAULT_TOTAL_MAX_CHARS: usize = 60_000;
/// `USER.md`'s own cap (OpenClaw's).
pub const USER_MAX_CHARS: usize = 4_000;
/// Below this many characters left, no further file is injected.
const MIN_FILE_BUDGET: usize = 64;
/// Below this much room for content the marker is the compact one.
const MIN_TRIMMED_CONTENT: usize = 16;
/// The most a bootstrap file is read (bytes; OpenClaw's 2 MiB).
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// The bootstrap files, in prompt order.
pub const FILES: [&str; 6] = [
    "AGENTS.md",
    "SOUL.md",
    "IDENTITY.md",
    "USER.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
];

/// Files whose absence shows a `[MISSING]` line (the others are optional).
const REQUIRED: [&str; 3] = ["AGENTS.md", "SOUL.md", "IDENTITY.md"];

/// The workspace settings in force (hot: a config edit applies to the next run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// The directory (absolute).
    pub dir: PathBuf,
    /// Per-file character limit.
    pub max_chars: usize,
    /// Character limit across all files.
    pub total_max_chars: usize,
    /// `agents.defaults.userTimezone` (IANA; `None`: the host's zone).
    pub user_timezone: Option<String>,
    /// The skills offered, by name (`agents.defaults.skills`, an agent's `skills`; `None`:
    /// every skill of the workspace).
    pub skills: Option<std::sync::Arc<[String]>>,
    /// The `skills` config: sources beyond the workspace, per-skill settings, what
    /// requirements are checked against (shared by every agent).
    pub skill_settings: std::sync::Arc<skills::SkillSettings>,
}

impl WorkspaceSettings {
    /// The defaults for `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            max_chars: DEFAULT_MAX_CHARS,
            total_max_chars: DEFAULT_TOTAL_MAX_CHARS,
            user_timezone: None,
            skills: None,
            skill_settings: std::sync::Arc::default(),
        }
    }

    /// The confined root of the workspace.
    pub fn root(&self) -> Root {
        Root::new(self.dir.clone())
    }
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        Self::new(std::env::temp_dir().join("openclaw-workspace"))
    }
}

/// Which workspace context a run may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The owner's private sessions (direct chats, operators, the heartbeat, main-session
    /// cron jobs): every file, the private memory included.
    Main,
    /// A group chat: everything but the private memory.
    Shared,
    /// An isolated cron run: `AGENTS.md`, `SOUL.md`, `IDENTITY.md`, `USER.md`.
    Isolated,
}

impl Scope {
    /// Whether the private memory (`MEMORY.md`, `memory/`) is available.
    pub fn private(self) -> bool {
        self == Self::Main
    }

    fn includes(self, name: &str) -> bool {
        match self {
            Self::Main => true,
            Self::Shared => name != "MEMORY.md",
            Self::Isolated => matches!(name, "AGENTS.md" | "SOUL.md" | "IDENTITY.md" | "USER.md"),
        }
    }
}

/// One bootstrap file as injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The file's name (`SOUL.md`).
    pub name: &'static str,
    /// Its absolute path, as shown to the model.
    pub path: String,
    /// The injected text (possibly cut, or a `[MISSING]` / `[UNREADABLE]` line).
    pub content: String,
    /// The file was longer than its budget.
    pub truncated: bool,
}

/// Reads the bootstrap files `scope` may see and fits them into the limits (blocking:
/// run it off the actor threads).
pub fn load(settings: &WorkspaceSettings, scope: Scope) -> Vec<Injected> {
    let root = settings.root();
    let mut remaining = settings.total_max_chars.max(1);
    let mut out = Vec::new();
    for name in FILES.into_iter().filter(|n| scope.includes(n)) {
        if remaining == 0 {
            break;
        }
        let path = settings.dir.join(name).display().to_string();
        let raw = match cached_read(&root, &settings.dir.join(name), name) {
            Ok(Some(text)) => text,
            Ok(None) if REQUIRED.contains(&name) => {
                let line = clamp(&format!("[MISSING] Expected at: {path}"), remaining);
                if line.is_empty() {
                    break;
                }
                remaining = remaining.saturating_sub(line.chars().count());
                out.push(Injected {
                    name,
                    path,
                    content: line,
                    truncated: false,
                });
                continue;
            }
            Ok(None) => continue,
            Err(e) => {
                log::warn!("workspace file {name} is unreadable: {e}");
                unreadable(&e)
            }
        };
        if remaining < MIN_FILE_BUDGET {
            log::warn!(
                "workspace context budget has {remaining} characters left; {name} and later files are not injected"
            );
            break;
        }
        let budget = if name == "USER.md" {
            settings.max_chars.min(USER_MAX_CHARS)
        } else {
            settings.max_chars
        };
        let (text, cut) = trim(&raw, name, budget.min(remaining).max(1));
        let text = clamp(&text, remaining);
        if text.is_empty() {
            continue;
        }
        let truncated = cut || text.chars().count() < raw.trim_end().chars().count().min(budget);
        if truncated {
            log::warn!(
                "workspace file {name} is {} characters (limit {budget}); truncated in the prompt",
                raw.trim_end().chars().count()
            );
        }
        remaining = remaining.saturating_sub(text.chars().count());
        out.push(Injected {
            name,
            path,
            content: text,
            truncated,
        });
    }
    out
}

/// A regular file's identity: while it is the same, so is its content (any write or
/// rename changes the inode, the size, the modification or the change time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    /// The identity of `path` itself when it is a regular file (a symlink has none: it is
    /// read through the confined root every time).
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::symlink_metadata(path).ok()?;
        m.file_type().is_file().then(|| Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Most files kept (bootstrap files and skills of a few workspaces; beyond, the cache starts
/// over).
const CACHE_ENTRIES: usize = 256;

/// Bootstrap files read before, by path, with the identity they had: an unchanged file costs
/// one `lstat` per run instead of a confined read.
static CACHE: std::sync::Mutex<Option<FileCache>> = std::sync::Mutex::new(None);

/// Path → (identity when read, text).
type FileCache = std::collections::HashMap<PathBuf, (FileId, std::sync::Arc<str>)>;

/// The text of bootstrap file `name` (at `path` under `root`), from the cache while the
/// file is unchanged; `Ok(None)`: it does not exist.
fn cached_read(root: &Root, path: &Path, name: &str) -> Result<Option<String>, ConfinedError> {
    let before = FileId::of(path);
    if let Some(id) = before {
        let cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((known, text)) = cache.as_ref().and_then(|c| c.get(path))
            && *known == id
        {
            return Ok(Some(text.to_string()));
        }
    }
    let Some(f) = root.read(name, MAX_FILE_BYTES)? else {
        return Ok(None);
    };
    let text: std::sync::Arc<str> = String::from_utf8_lossy(&f.bytes).into();
    // Kept only when the file did not change while it was read.
    if let Some(id) = before
        && FileId::of(path) == Some(id)
    {
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = cache.get_or_insert_with(std::collections::HashMap::new);
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(path.to_path_buf(), (id, text.clone()));
    }
    Ok(Some(text.to_string()))
}

fn unreadable(e: &ConfinedError) -> String {
    let reason: String = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("[UNREADABLE: {}]", clamp(&reason, 300))
}

/// The `# Project Context` section (OpenClaw's layout) for `files`; empty when none.
pub fn project_section(files: &[Injected]) -> String {
    if files.is_empty() {
        return String::new();
    }
    let mut s = String::with_capacity(
        256 + files
            .iter()
            .map(|f| f.path.len() + f.content.len() + 8)
            .sum::<usize>(),
    );
    s.push_str("## Workspace Files (injected)\nUser-editable; the gateway loads them below as Project Context.\n\n# Project Context\n\nLoaded project context:\n");
    let has = |n: &str| files.iter().any(|f| f.name == n);
    if has("SOUL.md") {
        s.push_str(
            "SOUL.md: persona/tone. Follow it unless higher-priority instructions override.\n",
        );
    }
    if has("MEMORY.md") {
        s.push_str("MEMORY.md: durable non-profile facts and decisions; use when relevant unless higher-priority instructions override.\n");
    }
    if has("USER.md") {
        s.push_str("USER.md: durable user preferences and profile directives; follow unless higher-priority instructions override.\n");
    }
    if files.iter().any(|f| f.truncated) {
        s.push_str("Some workspace files were truncated here; read them with the `read` tool for their full content.\n");
    }
    s.push('\n');
    for f in files {
        s.push_str("## ");
        s.push_str(&f.path);
        s.push_str("\n\n");
        s.push_str(&f.content);
        s.push_str("\n\n");
    }
    s
}

/// The first `n` characters of `s`.
fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    match s.char_indices().rev().nth(n - 1) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

/// `content` cut to `budget` characters with an ellipsis (OpenClaw's `clampToBudget`).
fn clamp(content: &str, budget: usize) -> String {
    if budget == 0 {
        return String::new();
    }
    if content.chars().count() <= budget {
        return content.to_owned();
    }
    if budget <= 3 {
        return head(content, budget).to_owned();
    }
    format!("{}…", head(content, budget - 1))
}

/// OpenClaw's `trimBootstrapContent`: the trailing whitespace trimmed; over `max`
/// characters, the head (75 %) and tail (25 %) around a marker naming the file. Returns the
/// text and whether it was cut.
fn trim(content: &str, name: &str, max: usize) -> (String, bool) {
    let t = content.trim_end();
    let total = t.chars().count();
    if total <= max {
        return (t.to_owned(), false);
    }
    let full = |h: usize, tl: usize| {
        format!(
            "\n[...truncated, read {name} for full content...]\n…(truncated {name}: kept {h}+{tl} chars of {total})…\n"
        )
    };
    let compact = |h: usize, tl: usize| format!("[…truncated {h}+{tl}/{total}]");
    let use_full = max.saturating_sub(full(0, 0).chars().count() + 2) >= MIN_TRIMMED_CONTENT;
    let marker = |h: usize, tl: usize| {
        if use_full {
            full(h, tl)
        } else {
            compact(h, tl)
        }
    };
    // The full marker starts and ends with a newline and is joined to head and tail by
    // another (OpenClaw's `separatorCharsFor`).
    let seps = |h: usize, tl: usize| {
        if use_full {
            usize::from(h > 0) + usize::from(tl > 0)
        } else {
            0
        }
    };
    let (mut h, mut tl) = (0usize, 0usize);
    let mut m = marker(h, tl);
    for _ in 0..3 {
        let budget = max.saturating_sub(m.chars().count() + seps(h, tl));
        let (nh, nt) = (budget * 3 / 4, budget / 4);
        let nm = marker(nh, nt);
        if nh == h && nt == tl && nm.chars().count() == m.chars().count() {
            break;
        }
        (h, tl, m) = (nh, nt, nm);
    }
    let len = |h: usize, tl: usize, m: &str| h + tl + m.chars().count() + seps(h, tl);
    while len(h, tl, &m) > max && (h > 0 || tl > 0) {
        let over = len(h, tl, &m) - max;
        if tl > 0 {
            tl = tl.saturating_sub(over);
        } else {
            h = h.saturating_sub(over);
        }
        m = marker(h, tl);
    }
    let sep = if use_full { "\n" } else { "" };
    let parts: Vec<&str> = [head(t, h), m.as_str(), tail(t, tl)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    let joined = parts.join(sep);
    (head(&joined, max).to_owned(), true)
}

/// The starter files of a brand-new workspace (OpenClaw's names; our own text, which
/// describes the tools this gateway offers).
pub const TEMPLATES: [(&str, &str); 5] = [
    ("AGENTS.md", include_str!("templates/AGENTS.md")),
    ("SOUL.md", include_str!("templates/SOUL.md")),
    ("IDENTITY.md", include_str!("templates/IDENTITY.md")),
    ("USER.md", include_str!("templates/USER.md")),
    ("BOOTSTRAP.md", include_str!("templates/BOOTSTRAP.md")),
];

/// Creates the workspace (mode 0700) and, when it is brand new (none of `AGENTS.md`,
/// `SOUL.md`, `IDENTITY.md`, `USER.md` or `memory/` exists), writes the starter files
/// (mode 0600, never over an existing file). Returns the files written. A workspace that
/// is not new is left as it is, so a file its owner deleted stays deleted.
pub fn seed(dir: &Path) -> std::io::Result<Vec<&'static str>> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let brand_new = ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "memory"]
        .iter()
        .all(|n| std::fs::symlink_metadata(dir.join(n)).is_err());
    let mut written = Vec::new();
    if !brand_new {
        return Ok(written);
    }
    for (name, text) in TEMPLATES {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(name));
        match file {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                written.push(name);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if !written.is_empty() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(written)
}

/// The agent's identity as `IDENTITY.md` states it (OpenClaw's `parseIdentityMarkdown`:
/// `- **Name:** Haddock` lines; empty and placeholder values are skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Theme`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// `Emoji`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// `Avatar` (a workspace path or URL, as written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl Identity {
    /// Parses `IDENTITY.md`'s text.
    pub fn parse(text: &str) -> Self {
        let mut id = Self::default();
        for line in text.lines().take(500) {
            let cleaned = line.trim();
            let cleaned = cleaned.strip_prefix('-').map_or(cleaned, str::trim_start);
            let Some((label, value)) = cleaned.split_once(':') else {
                continue;
            };
            let label = label.replace(['*', '_', '`'], "").trim().to_lowercase();
            let value = value
                .trim_matches(|c: char| c == '*' || c == '_' || c == '`' || c.is_whitespace())
                .trim();
            if value.is_empty()
                || (value.starts_with('(') && value.ends_with(')'))
                || value.chars().count() > 200
            {
                continue;
            }
            let slot = match label.as_str() {
                "name" => &mut id.name,
                "theme" => &mut id.theme,
                "emoji" => &mut id.emoji,
                "avatar" => &mut id.avatar,
                _ => continue,
            };
            *slot = Some(value.to_owned());
        }
        id
    }

    /// The identity of the workspace's `IDENTITY.md` (blocking; default when it is missing or
    /// unreadable).
    pub fn of(settings: &WorkspaceSettings) -> Self {
        match cached_read(
            &settings.root(),
            &settings.dir.join("IDENTITY.md"),
            "IDENTITY.md",
        ) {
            Ok(Some(text)) => Self::parse(&text),
            _ => Self::default(),
        }
    }

    /// Whether any field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The volatile part of the system prompt (below the cache boundary): the current date
/// and time in the owner's zone.
pub fn time_note(user_timezone: Option<&str>) -> String {
    let now = jiff::Timestamp::now();
    let zone = crate::cron::expr::resolve_tz(user_timezone)
        .or_else(|_| crate::cron::expr::resolve_tz(None))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let local = now.to_zoned_datetime(zone);
    format!(
        "The current time is {} ({}, {}). Today's daily notes: memory/{}.md.",
        local.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        local.time_zone().iana_name().unwrap_or("UTC"),
        local.strftime("%A"),
        local.strftime("%Y-%m-%d"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> WorkspaceSettings {
        WorkspaceSettings::new(dir.to_path_buf())
    }

    #[test]
    fn files_are_injected_in_order_with_missing_markers_and_privacy() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("SOUL.md"), "Be Captain Haddock.\n\n").expect("w");
        std::fs::write(d.path().join("MEMORY.md"), "The boat is blue.").expect("w");
        std::fs::write(d.path().join("USER.md"), "Call me Tintin.").expect("w");
        let s = settings(d.path());
        let main = load(&s, Scope::Main);
        let names: Vec<&str> = main.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "AGENTS.md",
                "SOUL.md",
                "IDENTITY.md",
                "USER.md",
                "MEMORY.md"
            ]
        );
        assert_eq!(
            main[0].content,
            format!(
                "[MISSING] Expected at: {}",
                d.path().join("AGENTS.md").display()
            )
        );
        assert_eq!(main[1].content, "Be Captain Haddock.");
        let section = project_section(&main);
        assert!(section.contains("# Project Context"), "{section}");
        assert!(section.contains("SOUL.md: persona/tone."), "{section}");
        assert!(section.contains("MEMORY.md: durable"), "{section}");
        let soul = section.find("Be Captain Haddock").expect("soul");
        let mem = section.find("The boat is blue").expect("memory");
        assert!(soul < mem);
        let shared = project_section(&load(&s, Scope::Shared));
        assert!(!shared.contains("The boat is blue"), "{shared}");
        assert!(!shared.contains("MEMORY.md"), "{shared}");
        assert!(shared.contains("Call me Tintin"));
        std::fs::write(d.path().join("BOOTSTRAP.md"), "Who am I?").expect("w");
        let iso: Vec<&str> = load(&s, Scope::Isolated).iter().map(|f| f.name).collect();
        assert_eq!(iso, ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md"]);
        assert!(
            load(&s, Scope::Main)
                .iter()
                .any(|f| f.name == "BOOTSTRAP.md")
        );
        assert!(project_section(&[]).is_empty());
    }

    #[test]
    fn long_files_keep_head_and_tail_within_the_limits() {
        let d = tempfile::tempdir().expect("tmp");
        let body: String = (0..5000).map(|i| format!("line {i} é\n")).collect();
        std::fs::write(d.path().join("AGENTS.md"), &body).expect("w");
        std::fs::write(d.path().join("USER.md"), "ü".repeat(10_000)).expect("w");
        std::fs::write(d.path().join("SOUL.md"), "s").expect("w");
        std::fs::write(d.path().join("IDENTITY.md"), "i").expect("w");
        let mut s = settings(d.path());
        s.max_chars = 1000;
        let files = load(&s, Scope::Main);
        let agents = &files[0];
        assert!(agents.truncated);
        let n = agents.content.chars().count();
        assert!((950..=1000).contains(&n), "{n}: {}", agents.content);
        assert!(agents.content.starts_with("line 0 é\n"));
        assert!(
            agents.content.ends_with("line 4999 é"),
            "{}",
            agents.content
        );
        assert!(
            agents
                .content
                .contains("[...truncated, read AGENTS.md for full content...]")
        );
        let user = files.iter().find(|f| f.name == "USER.md").expect("user");
        assert!(user.truncated && user.content.chars().count() <= USER_MAX_CHARS);
        assert!(project_section(&files).contains("were truncated here"));
        // The total budget: later files are cut, then left out.
        s.max_chars = DEFAULT_MAX_CHARS;
        s.total_max_chars = 1200;
        let files = load(&s, Scope::Main);
        let total: usize = files.iter().map(|f| f.content.chars().count()).sum();
        assert!(total <= 1200, "{total}");
        let n = files[0].content.chars().count();
        assert!((1100..=1200).contains(&n), "{n}");
        assert_eq!(files.len(), 1, "{files:?}");
        // A tiny limit still gives a bounded, marked text.
        for max in [1, 5, 20, 40, 100] {
            let (t, cut) = trim(&body, "AGENTS.md", max);
            assert!(cut && t.chars().count() <= max, "{max}: {t:?}");
        }
    }

    #[test]
    fn an_edit_is_seen_by_the_next_load_even_at_the_same_size() {
        let d = tempfile::tempdir().expect("tmp");
        let s = settings(d.path());
        let soul = |files: &[Injected]| {
            files
                .iter()
                .find(|f| f.name == "SOUL.md")
                .map(|f| f.content.clone())
        };
        std::fs::write(d.path().join("SOUL.md"), "aaaa").expect("w");
        assert_eq!(soul(&load(&s, Scope::Main)).as_deref(), Some("aaaa"));
        assert_eq!(soul(&load(&s, Scope::Main)).as_deref(), Some("aaaa"));
        std::fs::write(d.path().join("SOUL.md"), "bbbb").expect("w");
        assert_eq!(soul(&load(&s, Scope::Main)).as_deref(), Some("bbbb"));
        // Replaced by a rename (an editor's save): a new inode.
        std::fs::write(d.path().join("new"), "cccc").expect("w");
        std::fs::rename(d.path().join("new"), d.path().join("SOUL.md")).expect("mv");
        assert_eq!(soul(&load(&s, Scope::Main)).as_deref(), Some("cccc"));
        std::fs::remove_file(d.path().join("SOUL.md")).expect("rm");
        assert!(soul(&load(&s, Scope::Main)).is_some_and(|c| c.starts_with("[MISSING]")));
    }

    #[test]
    fn a_symlink_out_of_the_workspace_is_not_read() {
        let d = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("secret"), "TOP SECRET").expect("w");
        std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("SOUL.md"))
            .expect("ln");
        let files = load(&settings(d.path()), Scope::Main);
        let soul = files.iter().find(|f| f.name == "SOUL.md").expect("soul");
        assert!(
            soul.content.starts_with("[UNREADABLE: "),
            "{}",
            soul.content
        );
        assert!(!soul.content.contains("TOP SECRET"));
    }

    #[test]
    fn seed_writes_a_new_workspace_once_and_never_over_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().expect("tmp");
        let ws = d.path().join("ws");
        let written = seed(&ws).expect("seed");
        assert_eq!(
            written,
            [
                "AGENTS.md",
                "SOUL.md",
                "IDENTITY.md",
                "USER.md",
                "BOOTSTRAP.md"
            ]
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&ws), 0o700);
        assert_eq!(mode(&ws.join("SOUL.md")), 0o600);
        // Not new any more: a deleted file stays deleted, an edited one stays edited.
        std::fs::remove_file(ws.join("BOOTSTRAP.md")).expect("rm");
        std::fs::write(ws.join("SOUL.md"), "mine").expect("w");
        assert!(seed(&ws).expect("again").is_empty());
        assert!(!ws.join("BOOTSTRAP.md").exists());
        assert_eq!(
            std::fs::read_to_string(ws.join("SOUL.md")).expect("r"),
            "mine"
        );
        // An existing workspace with only memory/ is not new either.
        let other = d.path().join("other");
        std::fs::create_dir_all(other.join("memory")).expect("mkdir");
        assert!(seed(&other).expect("seed").is_empty());
    }

    #[test]
    fn identity_lines_are_read_like_openclaws() {
        let id = Identity::parse(
            "# IDENTITY.md\n\n- **Name:** Captain Haddock\n- **Creature:** (AI assistant?)\n- **Emoji:** 🦜\n- Theme: `sea`\n- **Avatar:**\nnot: a field\n",
        );
        assert_eq!(id.name.as_deref(), Some("Captain Haddock"));
        assert_eq!(id.emoji.as_deref(), Some("🦜"));
        assert_eq!(id.theme.as_deref(), Some("sea"));
        assert_eq!(id.avatar, None);
        // The starter template has no values yet.
        assert!(Identity::parse(TEMPLATES[2].1).is_empty());
    }

    #[test]
    fn the_time_note_names_the_zone_and_todays_note() {
        let n = time_note(Some("Europe/Paris"));
        assert!(n.contains("Europe/Paris"), "{n}");
        assert!(n.contains("memory/20"), "{n}");
        // An unknown zone falls back to the host's, never fails.
        assert!(time_note(Some("Not/AZone")).starts_with("The current time is "));
    }
}
