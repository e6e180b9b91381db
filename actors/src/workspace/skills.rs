//! Skills (OpenClaw's `SKILL.md` folders): each skill's name and description (from the
//! file's front matter) are listed in the system prompt as OpenClaw's `<available_skills>`
//! catalog, and the model `read`s a skill's file when a task matches.
//!
//! Sources, lowest precedence first (a later skill of the same name replaces an earlier
//! one, as in OpenClaw): `skills.load.extraDirs`, the managed skills (`<state>/skills`,
//! OpenClaw's `~/.openclaw/skills`), the workspace's `.agents/skills` and its `skills/`.
//! OpenClaw's bundled skills ship with its npm package and are not here.
//!
//! A skill is **eligible** (OpenClaw's gating) unless `skills.entries.<key>.enabled` is
//! `false` or its `metadata.openclaw` requirements are not met on this host: `requires.bins`
//! (every one on the gateway's `PATH`), `requires.anyBins` (one of them), `requires.env`
//! (set in the environment, `<state>/.env`, `env.vars`, the skill's `env`, or its `apiKey`
//! for its `primaryEnv`), `requires.config` (truthy config paths) and `os`; `always: true`
//! skips all but `os`. The agent's allowlist (`skills`) then picks among eligible ones.
//!
//! Every walk is bounded ([`MAX_SKILLS`], [`MAX_DEPTH`], [`MAX_EXTRA_DIRS`], files read up to
//! the bootstrap limit and cached like the bootstrap files), does not follow directory
//! symlinks, skips dot entries, and reads every file through a confined root (a `SKILL.md`
//! that links out of its source directory is left out). The model may `read` inside the
//! directory of an offered skill from outside the workspace, nothing else there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::confined::Root;
use crate::exec_tool::valid_env_name;

/// Most skills listed.
pub const MAX_SKILLS: usize = 150;
/// How deep under a source a `SKILL.md` is looked for (`skills/<name>/SKILL.md` is 1).
pub const MAX_DEPTH: usize = 3;
/// A description is cut to this many characters in the catalog (OpenClaw's compact form).
pub const DESCRIPTION_CHARS: usize = 220;
/// The catalog's size limit (characters); beyond it descriptions are left out, then skills.
pub const MAX_CATALOG_CHARS: usize = 30_000;
/// Most `skills.load.extraDirs` looked at.
pub const MAX_EXTRA_DIRS: usize = 32;
/// Most entries of one requirement list (`bins`, `env`, …) taken from a skill.
const LIST_MAX: usize = 32;
/// The longest `metadata` block parsed (bytes).
const METADATA_MAX: usize = 16 * 1024;

/// Where a skill comes from (OpenClaw's source names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// `skills.load.extraDirs`.
    Extra,
    /// `<state>/skills`.
    Managed,
    /// `<workspace>/.agents/skills`.
    Project,
    /// `<workspace>/skills`.
    Workspace,
}

impl Source {
    /// OpenClaw's name of the source.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extra => "openclaw-extra",
            Self::Managed => "openclaw-managed",
            Self::Project => "agents-skills-project",
            Self::Workspace => "openclaw-workspace",
        }
    }

    /// Inside the workspace (the file tools reach it anyway).
    pub fn in_workspace(self) -> bool {
        matches!(self, Self::Project | Self::Workspace)
    }
}

/// A skill's `metadata.openclaw` block (OpenClaw's manifest; `clawdbot` is its legacy key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `always: true`: eligible whatever `requires` says (not `os`).
    pub always: bool,
    /// `skillKey`: the key of its `skills.entries` (default: the name).
    pub skill_key: Option<String>,
    /// `primaryEnv`: the variable `skills.entries.<key>.apiKey` stands for.
    pub primary_env: Option<String>,
    /// `emoji`.
    pub emoji: Option<String>,
    /// `homepage`.
    pub homepage: Option<String>,
    /// `os`: the platforms it runs on (`linux`, `darwin`, `win32`; empty: any).
    pub os: Vec<String>,
    /// `requires.bins`: every one must be on `PATH`.
    pub bins: Vec<String>,
    /// `requires.anyBins`: one of them must be on `PATH`.
    pub any_bins: Vec<String>,
    /// `requires.env`: every one must be set.
    pub env: Vec<String>,
    /// `requires.config`: every config path must be truthy.
    pub config: Vec<String>,
}

/// One skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// Its name (front matter `name`, else the directory's name).
    pub name: String,
    /// Its description (front matter `description`; may be empty).
    pub description: String,
    /// The `SKILL.md`'s absolute path.
    pub location: PathBuf,
    /// Where it was found.
    pub source: Source,
    /// Its `metadata.openclaw` block.
    pub meta: Meta,
    /// Front matter `user-invocable` (default `true`): a chat command runs it.
    pub user_invocable: bool,
    /// Not front matter `disable-model-invocation: true`: listed in the catalog.
    pub model_visible: bool,
}

impl Skill {
    /// Its directory (the parent of `SKILL.md`).
    pub fn dir(&self) -> &Path {
        self.location.parent().unwrap_or(&self.location)
    }

    /// Its key in `skills.entries` (`metadata.openclaw.skillKey`, else its name).
    pub fn key(&self) -> &str {
        self.meta.skill_key.as_deref().unwrap_or(&self.name)
    }
}

/// `skills.entries.<key>`: a skill's own settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EntrySettings {
    /// `enabled: false` turns the skill off.
    pub enabled: Option<bool>,
    /// `env`: variables set for the agent's commands when the skill is eligible (only where
    /// the gateway's environment lacks them).
    pub env: BTreeMap<String, String>,
    /// `apiKey`: the value of the skill's `primaryEnv`.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for EntrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrySettings")
            .field("enabled", &self.enabled)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The `skills` config in force (hot), and what requirements are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkillSettings {
    /// `skills.load.extraDirs` (absolute).
    pub extra_dirs: Vec<PathBuf>,
    /// The managed skills (`<state>/skills`; `None`: none).
    pub managed_dir: Option<PathBuf>,
    /// `skills.entries`.
    pub entries: BTreeMap<String, EntrySettings>,
    /// Names of the variables set in `<state>/.env` or the config's `env` block (values are
    /// not kept here).
    pub env_names: BTreeSet<String>,
    /// The config paths whose value is truthy (`a.b.c`), for `requires.config`.
    pub truthy_config: BTreeSet<String>,
    /// `skills.load.watch` (on unless set `false`): runs reuse what they read of the
    /// workspace while a watcher sees no change ([`super::watch`]); off, every run reads.
    pub watch: bool,
}

/// What a skill lacks on this host (OpenClaw's `missing`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    /// `requires.bins` not on `PATH`.
    pub bins: Vec<String>,
    /// `requires.anyBins` when none is on `PATH`.
    pub any_bins: Vec<String>,
    /// `requires.env` not set.
    pub env: Vec<String>,
    /// `requires.config` paths not truthy.
    pub config: Vec<String>,
    /// `os` when this host's platform is not listed.
    pub os: Vec<String>,
}

/// A skill as judged on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The skill.
    pub skill: Skill,
    /// `skills.entries.<key>.enabled` is `false`.
    pub disabled: bool,
    /// Not disabled, and its requirements are met.
    pub eligible: bool,
    /// What it lacks.
    pub missing: Missing,
}

/// What the requirements are checked against (the gateway host; a test's fake).
pub trait HostFacts {
    /// Whether program `name` is an executable file in a `PATH` directory.
    fn has_bin(&self, name: &str) -> bool;
    /// Whether variable `name` is set (not empty) in the gateway's own environment.
    fn has_env(&self, name: &str) -> bool;
    /// The platform (`linux`, `darwin`, `win32`, …).
    fn platform(&self) -> &str;
}

/// The gateway host (bins looked up on its `PATH` once per name).
#[derive(Default)]
pub struct LocalHost {
    bins: std::cell::RefCell<HashMap<String, bool>>,
}

impl HostFacts for LocalHost {
    fn has_bin(&self, name: &str) -> bool {
        if let Some(known) = self.bins.borrow().get(name) {
            return *known;
        }
        let found = on_path(name);
        let mut bins = self.bins.borrow_mut();
        if bins.len() < 1024 {
            bins.insert(name.to_owned(), found);
        }
        found
    }

    fn has_env(&self, name: &str) -> bool {
        valid_env_name(name) && std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }

    fn platform(&self) -> &str {
        platform()
    }
}

/// This host's platform in Node's spelling (`linux`, `darwin`, `win32`, …).
pub fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// Whether `name` (a plain program name) is an executable regular file on `PATH`.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    if name.is_empty()
        || name.len() > 255
        || name.contains(['/', '\0'])
        || name == "."
        || name == ".."
    {
        return false;
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).take(128).any(|dir| {
        dir.is_absolute()
            && std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The skills of `found` that `allowlist` names (`None`: all of them).
pub fn allowed(mut found: Vec<Skill>, allowlist: Option<&[String]>) -> Vec<Skill> {
    if let Some(names) = allowlist {
        found.retain(|s| names.contains(&s.name));
    }
    found
}

/// Judges each skill on `host` under `settings` (OpenClaw's eligibility).
pub fn judge(found: Vec<Skill>, settings: &SkillSettings, host: &dyn HostFacts) -> Vec<Judged> {
    found
        .into_iter()
        .map(|skill| {
            let entry = settings.entries.get(skill.key());
            let disabled = entry.is_some_and(|e| e.enabled == Some(false));
            let m = &skill.meta;
            let env_set = |name: &String| {
                host.has_env(name)
                    || settings.env_names.contains(name)
                    || entry.is_some_and(|e| {
                        e.env.get(name).is_some_and(|v| !v.trim().is_empty())
                            || (m.primary_env.as_ref() == Some(name)
                                && e.api_key.as_ref().is_some_and(|k| !k.trim().is_empty()))
                    })
            };
            let here = host.platform();
            let os_ok = m.os.is_empty()
                || m.os.iter().any(|o| {
                    let o = o.trim().to_ascii_lowercase();
                    o == here || (o == "macos" && here == "darwin")
                });
            let mut missing = Missing {
                os: if os_ok { Vec::new() } else { m.os.clone() },
                ..Missing::default()
            };
            if !m.always {
                missing.bins = m
                    .bins
                    .iter()
                    .filter(|b| !host.has_bin(b))
                    .cloned()
                    .collect();
                if !m.any_bins.is_empty() && !m.any_bins.iter().any(|b| host.has_bin(b)) {
                    missing.any_bins = m.any_bins.clone();
                }
                missing.env = m.env.iter().filter(|e| !env_set(e)).cloned().collect();
                missing.config = m
                    .config
                    .iter()
                    .filter(|p| !settings.truthy_config.contains(p.trim()))
                    .cloned()
                    .collect();
            }
            let met = missing == Missing::default();
            Judged {
                disabled,
                eligible: !disabled && met,
                missing,
                skill,
            }
        })
        .collect()
}

/// Every skill of `ws`'s sources, judged on this host (blocking): what a run starts from
/// and what `skills.status` reports.
pub fn judged_here(ws: &super::WorkspaceSettings) -> Vec<Judged> {
    let settings = &ws.skill_settings;
    judge(
        discover_all(&ws.root(), settings),
        settings,
        &LocalHost::default(),
    )
}

/// Every skill of the workspace and `settings`' sources, one per name (the highest source
/// wins), sorted by name (blocking).
pub fn discover_all(workspace: &Root, settings: &SkillSettings) -> Vec<Skill> {
    let mut by_name: BTreeMap<String, Skill> = BTreeMap::new();
    let mut sources: Vec<(Root, PathBuf, Source)> = settings
        .extra_dirs
        .iter()
        .take(MAX_EXTRA_DIRS)
        .map(|d| (Root::new(d.clone()), d.clone(), Source::Extra))
        .collect();
    if let Some(m) = &settings.managed_dir {
        sources.push((Root::new(m.clone()), m.clone(), Source::Managed));
    }
    let ws = workspace.dir();
    sources.push((
        workspace.clone(),
        ws.join(".agents/skills"),
        Source::Project,
    ));
    sources.push((workspace.clone(), ws.join("skills"), Source::Workspace));
    for (root, base, source) in &sources {
        let mut found = Vec::new();
        if *source == Source::Extra {
            // An extra directory may be one skill itself.
            read_skill(root, base, *source, &mut found);
        }
        if found.is_empty() {
            walk(root, base, 1, *source, &mut found);
        }
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.location.cmp(&b.location)));
        found.dedup_by(|a, b| a.name == b.name);
        for s in found {
            if by_name.len() >= MAX_SKILLS && !by_name.contains_key(&s.name) {
                continue;
            }
            by_name.insert(s.name.clone(), s);
        }
    }
    by_name.into_values().collect()
}

fn walk(root: &Root, dir: &Path, depth: usize, source: Source, out: &mut Vec<Skill>) {
    if depth > MAX_DEPTH || out.len() >= MAX_SKILLS {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .take(4096)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        // `file_type` does not follow symlinks: a linked directory is not walked.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        if out.len() >= MAX_SKILLS {
            return;
        }
        if !read_skill(root, &sub, source, out) {
            walk(root, &sub, depth + 1, source, out);
        }
    }
}

/// Adds the skill of directory `dir` when it has a readable `SKILL.md`.
fn read_skill(root: &Root, dir: &Path, source: Source, out: &mut Vec<Skill>) -> bool {
    let file = dir.join("SKILL.md");
    let rel = root.relative(&file);
    let Ok(Some(text)) = super::cached_read(root, &file, &rel) else {
        return false;
    };
    let fm = front_matter(&text);
    let fallback = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = fm.name.filter(|n| !n.trim().is_empty()).unwrap_or(fallback);
    if !name.trim().is_empty() {
        out.push(Skill {
            name: one_line(&name, 100),
            description: one_line(&fm.description.unwrap_or_default(), DESCRIPTION_CHARS),
            location: file,
            source,
            meta: fm.metadata.as_deref().map(metadata).unwrap_or_default(),
            user_invocable: fm.user_invocable.unwrap_or(true),
            model_visible: !fm.disable_model_invocation.unwrap_or(false),
        });
    }
    true
}

/// What a front matter block says.
#[derive(Debug, Default)]
struct FrontMatter {
    name: Option<String>,
    description: Option<String>,
    /// The raw `metadata` value (one line, or the indented lines under it).
    metadata: Option<String>,
    /// `user-invocable`.
    user_invocable: Option<bool>,
    /// `disable-model-invocation`.
    disable_model_invocation: Option<bool>,
}

/// A front matter boolean (`true` / `false`, `yes` / `no`, `on` / `off`, `1` / `0`).
fn boolean(v: Option<String>) -> Option<bool> {
    match v?.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `name`, `description` and `metadata` of a `---` front matter block: plain, quoted, or a
/// folded / literal block (`>` / `|`) of indented lines.
fn front_matter(text: &str) -> FrontMatter {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return FrontMatter::default();
    }
    let body: Vec<&str> = lines
        .take_while(|l| l.trim_end() != "---")
        .take(400)
        .collect();
    let find = |key: &str| {
        body.iter()
            .position(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
    };
    let indented = |from: usize| -> Vec<&str> {
        body[from..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('\t'))
            .copied()
            .collect()
    };
    let value = |key: &str| -> Option<String> {
        let i = find(key)?;
        let raw = body[i][key.len() + 1..].trim();
        if matches!(raw, ">" | "|" | ">-" | "|-" | ">+" | "|+") {
            let block: Vec<&str> = indented(i + 1).into_iter().map(str::trim).collect();
            return Some(block.join(" ").trim().to_owned());
        }
        let unquoted = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(raw);
        Some(unquoted.to_owned())
    };
    let metadata = find("metadata").map(|i| {
        let first = body[i]["metadata".len() + 1..].trim();
        let mut raw = String::from(first);
        for l in indented(i + 1) {
            raw.push('\n');
            raw.push_str(l);
        }
        raw
    });
    FrontMatter {
        name: value("name"),
        description: value("description"),
        metadata,
        user_invocable: boolean(value("user-invocable")),
        disable_model_invocation: boolean(value("disable-model-invocation")),
    }
}

/// The `openclaw` (or legacy `clawdbot`) block of a `metadata` value (JSON or JSON5, as
/// OpenClaw reads it); anything else is no metadata.
fn metadata(raw: &str) -> Meta {
    if raw.len() > METADATA_MAX {
        return Meta::default();
    }
    let Ok(Value::Object(doc)) = json5::from_str::<Value>(raw) else {
        return Meta::default();
    };
    let Some(Value::Object(m)) = ["openclaw", "clawdbot"]
        .iter()
        .find_map(|k| doc.get(*k).filter(|v| v.is_object()))
    else {
        return Meta::default();
    };
    let text = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(|s| s.trim().chars().take(200).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .take(LIST_MAX)
                .map(|s| s.chars().take(200).collect())
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .take(LIST_MAX)
                .map(|s| s.chars().take(200).collect())
                .collect(),
            _ => Vec::new(),
        }
    };
    let requires = m.get("requires").and_then(Value::as_object);
    let req = |k: &str| list(requires.and_then(|r| r.get(k)));
    Meta {
        always: m.get("always") == Some(&Value::Bool(true)),
        skill_key: text("skillKey"),
        primary_env: text("primaryEnv"),
        emoji: text("emoji"),
        homepage: text("homepage"),
        os: list(m.get("os")),
        bins: req("bins"),
        any_bins: req("anyBins"),
        env: req("env"),
        config: req("config"),
    }
}

/// The variables eligible skills set for the agent's commands (`skills.entries.<key>.env`,
/// and `apiKey` as the skill's `primaryEnv`), valid names only, the first skill's value for
/// a name (the command host sets them only where its environment lacks them).
pub fn run_env(judged: &[Judged], settings: &SkillSettings) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for j in judged.iter().filter(|j| j.eligible) {
        let Some(e) = settings.entries.get(j.skill.key()) else {
            continue;
        };
        let mut put = |k: &str, v: &str| {
            if valid_env_name(k) && !v.trim().is_empty() && !out.contains_key(k) {
                out.insert(k.to_owned(), v.to_owned());
            }
        };
        for (k, v) in &e.env {
            put(k, v);
        }
        if let (Some(p), Some(k)) = (&j.skill.meta.primary_env, &e.api_key) {
            put(p, k);
        }
    }
    out
}

/// What a run gets of the skills.
#[derive(Debug, Default, Clone)]
pub struct ForRun {
    /// The catalog: eligible, model-visible skills the agent's allowlist names.
    pub offered: Vec<Skill>,
    /// The directories of the agent's skills outside the workspace (the model may `read`
    /// inside them).
    pub read_dirs: Vec<PathBuf>,
    /// The eligible skills' variables for the agent's commands.
    pub env: BTreeMap<String, String>,
    /// The agent's skill commands (`/<name>`, `/skill <name>`, `$<name>`).
    pub commands: Vec<SkillCommand>,
    /// The skill commands of every eligible skill (to tell one the agent may not use).
    pub all_commands: Vec<SkillCommand>,
}

/// Discovers, judges (on this host) and picks the skills of a run (blocking).
pub fn for_run(ws: &super::WorkspaceSettings) -> ForRun {
    let settings = &ws.skill_settings;
    let judged = judged_here(ws);
    let env = run_env(&judged, settings);
    let eligible: Vec<Skill> = judged
        .into_iter()
        .filter(|j| j.eligible)
        .map(|j| j.skill)
        .collect();
    let all_commands = commands(&eligible);
    let mine = allowed(eligible, ws.skills.as_deref());
    let commands = commands(&mine);
    // The state directory (holding the managed skills) and the workspace (whose private
    // memory has its own rules) are never reached through a skill directory: one inside the
    // workspace is read through the workspace's rules, one holding either is not readable.
    let state = settings
        .managed_dir
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let read_dirs = mine
        .iter()
        .filter(|s| !s.source.in_workspace())
        .map(|s| s.dir().to_path_buf())
        .filter(|d| readable_skill_dir(d, &ws.dir, state.as_deref()))
        .collect();
    let offered = mine.into_iter().filter(|s| s.model_visible).collect();
    ForRun {
        offered,
        read_dirs,
        env,
        commands,
        all_commands,
    }
}

/// Whether the skill directory `dir` may be read through (`read`): not inside or holding
/// the workspace, not holding the state directory (lexically and as the paths resolve).
fn readable_skill_dir(dir: &Path, workspace: &Path, state: Option<&Path>) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let pairs = [
        (
            dir.to_path_buf(),
            workspace.to_path_buf(),
            state.map(Path::to_path_buf),
        ),
        (canon(dir), canon(workspace), state.map(canon)),
    ];
    pairs.iter().all(|(d, w, s)| {
        !d.starts_with(w) && !w.starts_with(d) && s.as_ref().is_none_or(|s| !s.starts_with(d))
    })
}

/// OpenClaw 2026.9.6's reserved chat command names (its built-in commands and their
/// aliases): a skill command never takes one.
pub const RESERVED_COMMANDS: &[&str] = &[
    "acp",
    "activation",
    "agents",
    "allowlist",
    "approve",
    "bash",
    "btw",
    "commands",
    "compact",
    "config",
    "context",
    "dashboard",
    "debug",
    "diagnostics",
    "elev",
    "elevated",
    "exec",
    "export",
    "export-session",
    "export-trajectory",
    "fast",
    "goal",
    "help",
    "id",
    "learn",
    "login",
    "loop",
    "mcp",
    "model",
    "models",
    "name",
    "new",
    "openclaw",
    "plugin",
    "plugins",
    "queue",
    "reason",
    "reasoning",
    "reset",
    "restart",
    "send",
    "session",
    "side",
    "skill",
    "status",
    "steer",
    "stop",
    "subagents",
    "t",
    "tasks",
    "tell",
    "think",
    "thinking",
    "tools",
    "trace",
    "trajectory",
    "tts",
    "update",
    "usage",
    "v",
    "verbose",
    "whoami",
];

/// A skill as a chat command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillCommand {
    /// The command (`a-z0-9_`, at most 32 characters, unique, never a reserved one).
    pub name: String,
    /// The skill's name.
    pub skill_name: String,
    /// Its `SKILL.md`.
    pub location: PathBuf,
    /// Listed in the catalog (else the reference names its file).
    pub model_visible: bool,
    /// The skill's description (for a command menu).
    pub description: String,
}

/// OpenClaw's command name of a skill: lower case, runs of anything but `a-z0-9_` as one
/// `_`, no `_` at the ends, at most 32 characters (`skill` when nothing is left).
pub fn command_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed: String = out.trim_matches('_').chars().take(32).collect();
    if trimmed.is_empty() {
        "skill".to_owned()
    } else {
        trimmed
    }
}

/// The user-invocable skills of `skills` as commands, names made unique (`_2`, `_3`, … as
/// OpenClaw does) and kept off [`RESERVED_COMMANDS`].
pub fn commands(skills: &[Skill]) -> Vec<SkillCommand> {
    // Allocation-light on the run's path: the reserved names stay a static list.
    let mut used: BTreeSet<String> = BTreeSet::new();
    let taken =
        |used: &BTreeSet<String>, n: &str| RESERVED_COMMANDS.contains(&n) || used.contains(n);
    let mut out = Vec::with_capacity(skills.len());
    for s in skills.iter().filter(|s| s.user_invocable) {
        let base = command_name(&s.name);
        let mut name = base.clone();
        if taken(&used, &name) {
            name = (2..1000)
                .map(|i| {
                    let suffix = format!("_{i}");
                    let keep = 32usize.saturating_sub(suffix.len()).max(1);
                    format!("{}{suffix}", base.chars().take(keep).collect::<String>())
                })
                .find(|c| !taken(&used, c))
                .unwrap_or_else(|| format!("{}_x", base.chars().take(30).collect::<String>()));
        }
        used.insert(name.clone());
        out.push(SkillCommand {
            name,
            skill_name: s.name.clone(),
            location: s.location.clone(),
            model_visible: s.model_visible,
            description: s.description.clone(),
        });
    }
    out
}

/// Most skills one message may name.
const MAX_REFERENCES: usize = 8;

/// `raw` as OpenClaw looks a skill up by: lower case, runs of spaces and `_` as `-`.
fn lookup_key(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim().to_lowercase().chars() {
        if c.is_whitespace() || c == '_' {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn find<'a>(commands: &'a [SkillCommand], raw: &str) -> Option<&'a SkillCommand> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let lower = raw.to_lowercase();
    let key = lookup_key(raw);
    commands.iter().find(|c| {
        c.name == lower
            || c.skill_name.to_lowercase() == lower
            || lookup_key(&c.name) == key
            || lookup_key(&c.skill_name) == key
    })
}

/// `/name args` or `/skill name args` at the start of `text`: the command, if one of
/// `commands`.
fn invocation<'a>(text: &str, commands: &'a [SkillCommand]) -> Option<&'a SkillCommand> {
    let body = text.trim().strip_prefix('/')?;
    let mut words = body.split_whitespace();
    let first = words.next()?.to_lowercase();
    // `/weather@mybot`: the bot's name, as Telegram menus send it.
    let first = first.split('@').next().unwrap_or_default();
    if first == "skill" {
        return find(commands, words.next()?);
    }
    commands.iter().find(|c| c.name == first)
}

/// The `$name` references of `text` (not escaped with `\`, not shell-like `$UPPER`), at
/// most 64.
fn references(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text.get(i..).and_then(|t| t.find('$')) {
        let at = i + off;
        let start = at + 1;
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
            .count();
        i = start + len;
        let escaped = bytes[..at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count()
            % 2
            == 1;
        let name = text[start..start + len].trim_end_matches(':');
        if !name.is_empty() && !escaped && name.bytes().any(|b| b.is_ascii_lowercase()) {
            out.push(name);
            if out.len() >= 64 {
                break;
            }
        }
    }
    out
}

/// OpenClaw's expansion of explicit skill references in a message (`/name args`,
/// `/skill name args`, `$name`): `Ok(Some(text))` tells the model which skills to read
/// first, then the user's request as written; `Ok(None)`: none named; `Err`: the message
/// to answer instead (a skill this agent may not use, too many).
pub fn expand(
    text: &str,
    commands: &[SkillCommand],
    all: &[SkillCommand],
) -> Result<Option<String>, String> {
    let mut available: Vec<&SkillCommand> = Vec::new();
    let mut unavailable = None;
    if text.trim_start().starts_with('/') {
        match invocation(text, commands) {
            Some(c) => available.push(c),
            None => unavailable = invocation(text, all),
        }
    } else {
        for name in references(text) {
            match find(commands, name) {
                Some(c) => {
                    if !available.iter().any(|a| a.name == c.name) {
                        available.push(c);
                    }
                }
                None => {
                    unavailable = find(all, name);
                    if unavailable.is_some() {
                        break;
                    }
                }
            }
        }
    }
    if let Some(u) = unavailable {
        return Err(format!(
            "Skill \"{}\" is not available for this agent. Update the skill allowlist or choose an allowed skill.",
            u.skill_name
        ));
    }
    if available.len() > MAX_REFERENCES {
        return Err(format!(
            "Too many skill references. Use at most {MAX_REFERENCES} skills in one message."
        ));
    }
    if available.is_empty() {
        return Ok(None);
    }
    let mut prefix = String::from(
        "Use the following explicitly referenced skills for this request. Read each skill's SKILL.md before acting:\n",
    );
    for c in available {
        prefix.push_str("- ");
        prefix.push_str(&c.skill_name);
        if !c.model_visible {
            prefix.push_str(&format!(" (SKILL.md: {})", c.location.display()));
        }
        prefix.push('\n');
    }
    prefix.push_str("\nUser request:\n");
    Ok(Some(format!("{prefix}{text}")))
}

/// OpenClaw's `skills.status` report (`SkillStatusReport`) for an agent.
pub fn status_report(
    workspace: &Path,
    managed: Option<&Path>,
    agent: &str,
    judged: &[Judged],
    allowlist: Option<&[String]>,
) -> Value {
    let skills: Vec<Value> = judged
        .iter()
        .map(|j| {
            let s = &j.skill;
            let m = &s.meta;
            let blocked_by_filter = allowlist.is_some_and(|a| !a.contains(&s.name));
            let visible = j.eligible && !blocked_by_filter;
            let mut v = json!({
                "name": s.name,
                "description": s.description,
                "source": s.source.as_str(),
                "bundled": false,
                "filePath": s.location.display().to_string(),
                "baseDir": s.dir().display().to_string(),
                "skillKey": s.key(),
                "always": m.always,
                "disabled": j.disabled,
                "blockedByAllowlist": false,
                "blockedByAgentFilter": blocked_by_filter,
                "eligible": j.eligible,
                "platformIncompatible": !j.missing.os.is_empty(),
                "modelVisible": visible,
                "userInvocable": true,
                "commandVisible": visible,
                "requirements": {
                    "bins": m.bins, "anyBins": m.any_bins, "env": m.env,
                    "config": m.config, "os": m.os,
                },
                "missing": {
                    "bins": j.missing.bins, "anyBins": j.missing.any_bins,
                    "env": j.missing.env, "config": j.missing.config, "os": j.missing.os,
                },
                "configChecks": m.config.iter().map(|p| json!({
                    "path": p, "satisfied": !j.missing.config.contains(p),
                })).collect::<Vec<_>>(),
                "install": [],
            });
            for (k, x) in [
                ("primaryEnv", &m.primary_env),
                ("emoji", &m.emoji),
                ("homepage", &m.homepage),
            ] {
                if let Some(x) = x {
                    v[k] = json!(x);
                }
            }
            v
        })
        .collect();
    let mut report = json!({
        "workspaceDir": workspace.display().to_string(),
        "managedSkillsDir": managed.map(|m| m.display().to_string()).unwrap_or_default(),
        "agentId": agent,
        "skills": skills,
    });
    if let Some(a) = allowlist {
        report["agentSkillFilter"] = json!(a);
    }
    report
}

/// The config paths (`a.b.c`) of `doc` whose value is truthy as JavaScript judges it (not
/// `null`, `false`, `0` or `""`); objects and lists count, their insides too (objects only;
/// at most `MAX` paths, 8 levels).
pub fn truthy_paths(doc: &Value) -> BTreeSet<String> {
    const MAX: usize = 4096;
    fn walk(v: &Value, path: &mut String, depth: usize, out: &mut BTreeSet<String>) {
        let Value::Object(m) = v else { return };
        for (k, x) in m {
            if out.len() >= MAX || k.contains('.') {
                continue;
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let truthy = match x {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                out.insert(path.clone());
            }
            if depth < 8 {
                walk(x, path, depth + 1, out);
            }
            path.truncate(len);
        }
    }
    let mut out = BTreeSet::new();
    walk(doc, &mut String::new(), 1, &mut out);
    out
}

/// `s` on one line (whitespace runs as one space), at most `max` characters (`...` when cut).
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

/// OpenClaw's escaping of catalog text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `## Skills` section with the `<available_skills>` catalog (empty without skills),
/// for a model that reads files with `read`.
pub fn section(skills: &[Skill]) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let render = |with_descriptions: bool, n: usize| {
        let mut s = String::from(
            "## Skills\nScan <available_skills>. Clear match: read exact <location> with `read`; obey.\nSeveral: most specific. None: read none.\nUp-front max one. Never invent paths.\n\nThe following skills provide specialized instructions for specific tasks.\nRead a skill's file at its listed location when the task matches its name or description.\nWhen a skill file references a relative path, resolve it against the skill directory (parent of SKILL.md) and use that path.\n\n<available_skills>\n",
        );
        for k in &skills[..n] {
            s.push_str("  <skill>\n    <name>");
            s.push_str(&xml(&k.name));
            s.push_str("</name>\n");
            if with_descriptions && !k.description.is_empty() {
                s.push_str("    <description>");
                s.push_str(&xml(&k.description));
                s.push_str("</description>\n");
            }
            s.push_str("    <location>");
            s.push_str(&xml(&k.location.display().to_string()));
            s.push_str("</location>\n  </skill>\n");
        }
        s.push_str("</available_skills>\n\n");
        s
    };
    let full = render(true, skills.len());
    if full.chars().count() <= MAX_CATALOG_CHARS {
        return full;
    }
    let mut n = skills.len();
    loop {
        let s = render(false, n);
        if s.chars().count() <= MAX_CATALOG_CHARS || n <= 1 {
            return s;
        }
        n = n * 3 / 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(ws: &Path, dir: &str, text: &str) {
        let d = ws.join("skills").join(dir);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("SKILL.md"), text).expect("write");
    }

    #[test]
    fn skills_are_found_with_their_front_matter_and_listed_escaped() {
        let d = tempfile::tempdir().expect("tmp");
        let ws = d.path();
        skill(
            ws,
            "weather",
            "---\nname: weather\ndescription: \"Get the forecast <fast> & free\"\n---\n# Weather\n",
        );
        skill(
            ws,
            "notes",
            "---\nname: note-taking\ndescription: >\n  Keep tidy notes\n  in memory/.\nmetadata: {}\n---\nbody",
        );
        skill(ws, "plain", "no front matter at all");
        skill(ws, "group/nested", "---\ndescription: 'Nested one'\n---\n");
        skill(ws, ".hidden", "---\nname: hidden\n---\n");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::create_dir_all(outside.path().join("evil")).expect("mkdir");
        std::fs::write(
            outside.path().join("evil/SKILL.md"),
            "---\nname: evil\n---\n",
        )
        .expect("w");
        std::os::unix::fs::symlink(outside.path().join("evil"), ws.join("skills/evil"))
            .expect("ln dir");
        std::fs::create_dir_all(ws.join("skills/linked")).expect("mkdir");
        std::os::unix::fs::symlink(
            outside.path().join("evil/SKILL.md"),
            ws.join("skills/linked/SKILL.md"),
        )
        .expect("ln file");
        let found = discover_all(&Root::new(ws.to_path_buf()), &SkillSettings::default());
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["nested", "note-taking", "plain", "weather"]);
        let notes = &found[1];
        assert_eq!(notes.description, "Keep tidy notes in memory/.");
        assert_eq!(notes.location, ws.join("skills/notes/SKILL.md"));
        let s = section(&found);
        assert!(s.starts_with("## Skills\n"), "{s}");
        assert!(
            s.contains("<description>Get the forecast &lt;fast&gt; &amp; free</description>"),
            "{s}"
        );
        assert!(s.contains(&format!(
            "<location>{}</location>",
            ws.join("skills/weather/SKILL.md").display()
        )));
        assert!(!s.contains("evil") && !s.contains("hidden"), "{s}");
        assert!(section(&[]).is_empty());
    }

    #[test]
    fn the_catalog_stays_within_its_limits() {
        let d = tempfile::tempdir().expect("tmp");
        let long = "ü".repeat(5000);
        for i in 0..200 {
            skill(
                d.path(),
                &format!("s{i:03}"),
                &format!("---\nname: skill-{i:03}\ndescription: {long}\n---\n"),
            );
        }
        let found = discover_all(
            &Root::new(d.path().to_path_buf()),
            &SkillSettings::default(),
        );
        assert_eq!(found.len(), MAX_SKILLS);
        assert!(
            found
                .iter()
                .all(|s| s.description.chars().count() <= DESCRIPTION_CHARS)
        );
        let s = section(&found);
        assert!(s.chars().count() <= MAX_CATALOG_CHARS, "{}", s.len());
        assert!(s.contains("skill-000"));
        assert!(!s.contains("<description>"), "descriptions dropped first");
    }

    /// A fake host: these programs exist, these variables are set, this platform.
    struct Fake {
        bins: &'static [&'static str],
        env: &'static [&'static str],
        os: &'static str,
    }

    impl HostFacts for Fake {
        fn has_bin(&self, name: &str) -> bool {
            self.bins.contains(&name)
        }
        fn has_env(&self, name: &str) -> bool {
            self.env.contains(&name)
        }
        fn platform(&self) -> &str {
            self.os
        }
    }

    fn put(dir: &Path, rel: &str, text: &str) {
        let f = dir.join(rel);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, text).expect("write");
    }

    #[test]
    fn sources_merge_by_precedence_and_stay_confined() {
        let ws = tempfile::tempdir().expect("ws");
        let managed = tempfile::tempdir().expect("managed");
        let extra = tempfile::tempdir().expect("extra");
        let single = tempfile::tempdir().expect("single");
        let outside = tempfile::tempdir().expect("outside");
        put(
            extra.path(),
            "weather/SKILL.md",
            "---\nname: weather\ndescription: extra\n---\n",
        );
        put(extra.path(), "pack/deep/SKILL.md", "---\nname: deep\n---\n");
        put(
            single.path(),
            "SKILL.md",
            "---\nname: solo\ndescription: one skill dir\n---\n",
        );
        put(
            managed.path(),
            "weather/SKILL.md",
            "---\nname: weather\ndescription: managed\n---\n",
        );
        put(
            managed.path(),
            "gh/SKILL.md",
            "---\nname: github\ndescription: managed gh\n---\n",
        );
        put(
            ws.path(),
            ".agents/skills/gh/SKILL.md",
            "---\nname: github\ndescription: project\n---\n",
        );
        put(
            ws.path(),
            "skills/weather/SKILL.md",
            "---\nname: weather\ndescription: mine\n---\n",
        );
        // A managed skill whose SKILL.md links out of the managed directory is left out.
        put(outside.path(), "SKILL.md", "---\nname: stolen\n---\n");
        std::fs::create_dir_all(managed.path().join("linked")).expect("mkdir");
        std::os::unix::fs::symlink(
            outside.path().join("SKILL.md"),
            managed.path().join("linked/SKILL.md"),
        )
        .expect("ln");
        let settings = SkillSettings {
            extra_dirs: vec![extra.path().to_path_buf(), single.path().to_path_buf()],
            managed_dir: Some(managed.path().to_path_buf()),
            ..SkillSettings::default()
        };
        let found = discover_all(&Root::new(ws.path().to_path_buf()), &settings);
        let shown: Vec<(&str, &str, Source)> = found
            .iter()
            .map(|s| (s.name.as_str(), s.description.as_str(), s.source))
            .collect();
        assert_eq!(
            shown,
            [
                ("deep", "", Source::Extra),
                ("github", "project", Source::Project),
                ("solo", "one skill dir", Source::Extra),
                ("weather", "mine", Source::Workspace),
            ]
        );
        assert_eq!(found[2].dir(), single.path());
        // Without the workspace's copies, the managed ones win over the extra ones.
        let empty = tempfile::tempdir().expect("empty ws");
        let found = discover_all(&Root::new(empty.path().to_path_buf()), &settings);
        let weather = found.iter().find(|s| s.name == "weather").expect("weather");
        assert_eq!(
            (weather.description.as_str(), weather.source),
            ("managed", Source::Managed)
        );
        assert_eq!(weather.location, managed.path().join("weather/SKILL.md"));
    }

    #[test]
    fn metadata_is_read_from_json_json5_and_legacy_keys_and_junk_is_ignored() {
        let fm = |meta: &str| {
            let text = format!("---\nname: x\nmetadata: {meta}\n---\nbody");
            front_matter(&text)
                .metadata
                .map(|m| metadata(&m))
                .unwrap_or_default()
        };
        let m = fm(
            r#"{"openclaw": {"emoji": "🌦", "always": false, "skillKey": "wx", "primaryEnv": "WX_KEY", "os": ["linux", "darwin"], "requires": {"bins": ["curl"], "anyBins": ["jq", "gojq"], "env": ["WX_KEY"], "config": ["tools.web.search.enabled"]}}}"#,
        );
        assert_eq!(m.skill_key.as_deref(), Some("wx"));
        assert_eq!(m.primary_env.as_deref(), Some("WX_KEY"));
        assert_eq!(m.emoji.as_deref(), Some("🌦"));
        assert_eq!(m.bins, ["curl"]);
        assert_eq!(m.any_bins, ["jq", "gojq"]);
        assert_eq!(m.config, ["tools.web.search.enabled"]);
        assert_eq!(m.os, ["linux", "darwin"]);
        // JSON5 over several indented lines, under the legacy key.
        let text = "---\nname: y\nmetadata:\n  {\n    clawdbot: { always: true, requires: { env: ['A_B'] } }, // legacy\n  }\ndescription: after\n---\n";
        let f = front_matter(text);
        assert_eq!(f.description.as_deref(), Some("after"));
        let m = metadata(f.metadata.as_deref().expect("metadata"));
        assert!(m.always);
        assert_eq!(m.env, ["A_B"]);
        for junk in [
            "not json",
            "[1, 2]",
            r#"{"other": {"always": true}}"#,
            r#"{"openclaw": "x"}"#,
            r#"{"openclaw": {"requires": {"bins": 7}, "always": "yes"}}"#,
        ] {
            let m = fm(junk);
            assert!(!m.always && m.bins.is_empty(), "{junk}: {m:?}");
        }
        let huge = format!(
            r#"{{"openclaw": {{"requires": {{"bins": [{}]}}}}}}"#,
            vec!["\"b\""; 500].join(",")
        );
        assert_eq!(fm(&huge).bins.len(), LIST_MAX);
    }

    fn skill_with(name: &str, meta: Meta) -> Skill {
        Skill {
            name: name.into(),
            description: String::new(),
            location: PathBuf::from(format!("/skills/{name}/SKILL.md")),
            source: Source::Managed,
            meta,
            user_invocable: true,
            model_visible: true,
        }
    }

    #[test]
    fn gating_follows_openclaws_rules() {
        let host = Fake {
            bins: &["curl", "gojq"],
            env: &["HOST_KEY"],
            os: "linux",
        };
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let skills = vec![
            skill_with("plain", Meta::default()),
            skill_with(
                "bins",
                Meta {
                    bins: strs(&["curl", "ffmpeg"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "any",
                Meta {
                    any_bins: strs(&["jq", "gojq"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "none-of",
                Meta {
                    any_bins: strs(&["jq", "yq"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "env",
                Meta {
                    env: strs(&["HOST_KEY", "DOT_ENV", "OWN", "API", "NOPE"]),
                    primary_env: Some("API".into()),
                    ..Meta::default()
                },
            ),
            skill_with(
                "cfg",
                Meta {
                    config: strs(&["tools.web", "browser.enabled"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "mac",
                Meta {
                    os: strs(&["macos"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "always",
                Meta {
                    always: true,
                    bins: strs(&["nope"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "always-mac",
                Meta {
                    always: true,
                    os: strs(&["darwin"]),
                    ..Meta::default()
                },
            ),
            skill_with(
                "off",
                Meta {
                    skill_key: Some("off-key".into()),
                    ..Meta::default()
                },
            ),
        ];
        let mut entries = BTreeMap::new();
        entries.insert(
            "env".to_owned(),
            EntrySettings {
                env: [("OWN".to_owned(), "v".to_owned())].into(),
                api_key: Some("k-123".into()),
                ..EntrySettings::default()
            },
        );
        entries.insert(
            "off-key".to_owned(),
            EntrySettings {
                enabled: Some(false),
                ..EntrySettings::default()
            },
        );
        let settings = SkillSettings {
            entries,
            env_names: ["DOT_ENV".to_owned()].into(),
            truthy_config: truthy_paths(
                &json!({"tools": {"web": {}, "off": false}, "browser": {"enabled": 0}}),
            ),
            ..SkillSettings::default()
        };
        let judged = judge(skills, &settings, &host);
        let by = |n: &str| judged.iter().find(|j| j.skill.name == n).expect(n);
        assert!(by("plain").eligible);
        assert_eq!(by("bins").missing.bins, ["ffmpeg"]);
        assert!(!by("bins").eligible);
        assert!(by("any").eligible);
        assert_eq!(by("none-of").missing.any_bins, ["jq", "yq"]);
        assert_eq!(by("env").missing.env, ["NOPE"]);
        assert_eq!(by("cfg").missing.config, ["browser.enabled"]);
        assert_eq!(by("mac").missing.os, ["macos"]);
        assert!(by("always").eligible);
        assert!(!by("always-mac").eligible, "os is checked even with always");
        assert!(by("off").disabled && !by("off").eligible);
        // Eligible ones the allowlist names (as `for_run` picks them).
        let eligible = judged
            .iter()
            .filter(|j| j.eligible)
            .map(|j| j.skill.clone());
        let offered: Vec<String> = allowed(
            eligible.collect(),
            Some(&["plain".to_owned(), "bins".to_owned()]),
        )
        .into_iter()
        .map(|s| s.name)
        .collect();
        assert_eq!(offered, ["plain"]);
        // The env for commands: the eligible skills' own only.
        let mut judged = judged;
        for j in judged.iter_mut().filter(|j| j.skill.name == "env") {
            j.eligible = true;
        }
        let env = run_env(&judged, &settings);
        assert_eq!(env.get("OWN").map(String::as_str), Some("v"));
        assert_eq!(env.get("API").map(String::as_str), Some("k-123"));
        assert_eq!(env.len(), 2, "{env:?}");
        // Secrets never show in Debug.
        assert!(!format!("{settings:?}").contains("k-123"));
    }

    #[test]
    fn the_status_report_has_openclaws_shape() {
        let host = Fake {
            bins: &[],
            env: &[],
            os: "linux",
        };
        let judged = judge(
            vec![
                skill_with(
                    "a",
                    Meta {
                        bins: vec!["zz".into()],
                        emoji: Some("🅰".into()),
                        ..Meta::default()
                    },
                ),
                skill_with("b", Meta::default()),
            ],
            &SkillSettings::default(),
            &host,
        );
        let r = status_report(
            Path::new("/ws"),
            Some(Path::new("/st/skills")),
            "main",
            &judged,
            Some(&["a".to_owned()]),
        );
        assert_eq!(r["workspaceDir"], "/ws");
        assert_eq!(r["managedSkillsDir"], "/st/skills");
        assert_eq!(r["agentSkillFilter"], json!(["a"]));
        let a = &r["skills"][0];
        assert_eq!(a["source"], "openclaw-managed");
        assert_eq!(a["baseDir"], "/skills/a");
        assert_eq!(a["missing"]["bins"], json!(["zz"]));
        assert_eq!(a["eligible"], false);
        assert_eq!(a["emoji"], "🅰");
        let b = &r["skills"][1];
        assert_eq!(
            (
                b["eligible"].clone(),
                b["blockedByAgentFilter"].clone(),
                b["modelVisible"].clone()
            ),
            (json!(true), json!(true), json!(false))
        );
    }

    #[test]
    fn truthy_paths_judge_as_javascript_does() {
        let t = truthy_paths(
            &json!({"a": {"b": 1, "c": 0, "d": "", "e": "x", "f": [], "g": null, "h": {"i": true}}, "k.dot": true}),
        );
        let got: Vec<&str> = t.iter().map(String::as_str).collect();
        assert_eq!(got, ["a", "a.b", "a.e", "a.f", "a.h", "a.h.i"]);
    }

    #[test]
    fn only_plain_program_names_are_looked_up() {
        assert!(on_path("sh"));
        for bad in [
            "",
            "/bin/sh",
            "../sh",
            ".",
            "..",
            "a\0b",
            "no-such-program-xyz",
        ] {
            assert!(!on_path(bad), "{bad:?}");
        }
        assert!(
            crate::exec_tool::valid_env_name("A_1")
                && !crate::exec_tool::valid_env_name("1A")
                && !crate::exec_tool::valid_env_name("A-B")
                && !crate::exec_tool::valid_env_name("")
        );
    }

    #[test]
    fn skill_commands_get_openclaws_names() {
        assert_eq!(command_name("Weather Report!"), "weather_report");
        assert_eq!(command_name("__x--y__"), "x_y");
        assert_eq!(command_name("日本"), "skill");
        assert_eq!(command_name(&"a".repeat(40)).len(), 32);
        let mut hidden = skill_with("secret-tool", Meta::default());
        hidden.model_visible = false;
        let mut off = skill_with("quiet", Meta::default());
        off.user_invocable = false;
        let list = commands(&[
            skill_with("status", Meta::default()),
            skill_with("Status", Meta::default()),
            skill_with("weather", Meta::default()),
            hidden,
            off,
        ]);
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["status_2", "status_3", "weather", "secret_tool"]);
    }

    #[test]
    fn explicit_references_expand_as_openclaw_does() {
        let mut hidden = skill_with("secret-tool", Meta::default());
        hidden.model_visible = false;
        let all = commands(&[
            skill_with("weather", Meta::default()),
            skill_with("tides", Meta::default()),
            skill_with("github", Meta::default()),
            hidden,
        ]);
        let mine: Vec<SkillCommand> = all.iter().filter(|c| c.name != "github").cloned().collect();
        let head = "Use the following explicitly referenced skills for this request. Read each skill's SKILL.md before acting:\n";
        assert_eq!(
            expand("/weather Berlin", &mine, &all),
            Ok(Some(format!(
                "{head}- weather\n\nUser request:\n/weather Berlin"
            )))
        );
        assert_eq!(
            expand("/skill Tides tomorrow", &mine, &all),
            Ok(Some(format!(
                "{head}- tides\n\nUser request:\n/skill Tides tomorrow"
            )))
        );
        assert_eq!(
            expand("/weather@my_bot", &mine, &all).map(|t| t.is_some()),
            Ok(true)
        );
        let both = expand("check $tides and $weather: then $tides", &mine, &all);
        assert_eq!(
            both,
            Ok(Some(format!(
                "{head}- tides\n- weather\n\nUser request:\ncheck $tides and $weather: then $tides"
            )))
        );
        let hid = expand("$secret-tool", &mine, &all)
            .expect("ok")
            .expect("some");
        assert!(
            hid.contains("- secret-tool (SKILL.md: /skills/secret-tool/SKILL.md)"),
            "{hid}"
        );
        for plain in [
            "no skills here",
            "$HOME is set",
            "\\$weather",
            "/unknown x",
            "/",
            "$",
            "cost: 5$",
        ] {
            assert_eq!(expand(plain, &mine, &all), Ok(None), "{plain}");
        }
        let e = expand("/github issues", &mine, &all).expect_err("not this agent's");
        assert_eq!(
            e,
            "Skill \"github\" is not available for this agent. Update the skill allowlist or choose an allowed skill."
        );
        assert!(expand("use $github", &mine, &all).is_err());
        let many: Vec<Skill> = (0..10)
            .map(|i| skill_with(&format!("s{i}"), Meta::default()))
            .collect();
        let many = commands(&many);
        let text: String = (0..10).map(|i| format!("$s{i} ")).collect();
        assert!(expand(&text, &many, &many).is_err_and(|e| e.contains("at most 8")));
        // Any text, any size: bounded, never a panic.
        let junk = format!("{}é$\u{0}$a", "$x".repeat(10_000));
        let _ = expand(&junk, &many, &many);
    }

    #[test]
    fn skill_directories_never_reach_the_workspace_or_the_state_dir() {
        let top = tempfile::tempdir().expect("tmp");
        let (ws, state) = (top.path().join("ws"), top.path().join("state"));
        for d in [
            &ws,
            &state,
            &ws.join("memory"),
            &state.join("skills/weather"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let ok = |d: &Path| readable_skill_dir(d, &ws, Some(&state));
        assert!(ok(&state.join("skills/weather")), "a managed skill");
        assert!(
            ok(&top.path().join("packs/tides")),
            "an extra one elsewhere"
        );
        assert!(!ok(&ws.join("memory")), "inside the workspace");
        assert!(!ok(&ws), "the workspace itself");
        assert!(!ok(top.path()), "holding the workspace and the state dir");
        // A link into the workspace is judged where it leads.
        let link = top.path().join("sneaky");
        std::os::unix::fs::symlink(ws.join("memory"), &link).expect("ln");
        assert!(!ok(&link));
    }
}
