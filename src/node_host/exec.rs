//! The node's commands: `system.which` and `system.run`, and the node's own exec allowlist.
//!
//! `system.run` executes only what this node's allowlist (`$STATE/node/exec-allowlist.json`,
//! plus `--exec-allow`) allows. The check happens on the node, whatever the gateway approved:
//! the gateway decides *which commands* may be invoked, the node decides *which programs*
//! `system.run` may start, with which arguments and environment:
//!
//! - a request matches an entry only if its program resolves to the entry's canonical path
//!   **and** `argv[0]`'s basename is the entry's name (a multi-call binary such as BusyBox
//!   picks its applet from that name, so allowing `ls` must not allow `sh`);
//! - programs reachable under several names (BusyBox/Toybox, hard links, sibling symlinks,
//!   two entries with one inode) are refused unless listed by `applet`;
//! - an entry may restrict arguments (`args`: every argument must match one pattern;
//!   `denyArgs`: none may match);
//! - the child gets a fixed `PATH` and `HOME` plus only the variables matching the `env`
//!   allowlist (default `LANG`, `LC_*`, `TZ`); everything else is dropped.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// Most bytes of stdout (and, separately, stderr) returned by `system.run`.
pub const OUTPUT_CAP: usize = 256 * 1024;

/// Default `system.run` timeout when neither the params nor the request give one.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// An error answered to the gateway as `ok:false, error:{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError {
    /// `INVALID_REQUEST`, `SYSTEM_RUN_DENIED`, `UNAVAILABLE`.
    pub code: &'static str,
    /// Human message.
    pub message: String,
}

impl InvokeError {
    /// `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "INVALID_REQUEST",
            message: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        Self {
            code: "SYSTEM_RUN_DENIED",
            message: message.into(),
        }
    }
}

/// The absolute directories of a `PATH` value (relative and empty entries are skipped: they
/// would depend on the node's working directory).
pub fn path_dirs(path: Option<&OsStr>) -> Vec<PathBuf> {
    path.map(|p| {
        std::env::split_paths(p)
            .filter(|d| d.is_absolute())
            .collect()
    })
    .unwrap_or_default()
}

/// Whether `p` is (or links to) a regular file with an execute bit.
pub fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds a bare program name on `dirs`, first match wins. Names with a `/` are not searched.
pub fn which_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// `system.which {bins:[…]}` → `{bins:{name:"/abs/path"}}`; missing bins are omitted.
pub fn system_which(params: &Value, dirs: &[PathBuf]) -> Result<Value, InvokeError> {
    let bins = params
        .get("bins")
        .and_then(Value::as_array)
        .ok_or_else(|| InvokeError::invalid("bins required (an array of program names)"))?;
    let mut found = serde_json::Map::new();
    for b in bins {
        let name = b
            .as_str()
            .ok_or_else(|| InvokeError::invalid("bins must be an array of strings"))?;
        if let Some(p) = which_in(name, dirs) {
            found.insert(name.to_owned(), json!(p.to_string_lossy()));
        }
    }
    Ok(json!({ "bins": found }))
}

/// Environment variables passed to `system.run` programs when the allowlist file has no
/// `"env"` key: locale and time zone only.
pub const DEFAULT_ENV_ALLOW: &[&str] = &["LANG", "LC_*", "TZ"];

/// Names of programs that pick their behaviour from an argument or from the name they were
/// started under (BusyBox, Toybox): allowlisted only by applet.
const MULTI_CALL_NAMES: &[&str] = &["busybox", "toybox"];

/// Most directory entries inspected when looking for other names of an allowlisted program.
const MAX_SIBLING_SCAN: usize = 8192;

/// One entry of `exec-allowlist.json`'s `"allow"` array: a string (program) or an object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntry {
    /// Absolute path, or a bare name looked up on the node's `PATH`.
    pub program: String,
    /// For a multi-call binary: the one name (`argv[0]`'s basename) it may be started as.
    #[serde(default)]
    pub applet: Option<String>,
    /// When set, every argument must match one of these patterns (`*`, `?` wildcards);
    /// `[]` allows no arguments at all.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// No argument may match any of these patterns.
    #[serde(default)]
    pub deny_args: Vec<String>,
}

impl RawEntry {
    /// A bare program entry (a string in the file, or `--exec-allow`).
    pub fn program(program: &str) -> Self {
        Self {
            program: program.to_owned(),
            applet: None,
            args: None,
            deny_args: Vec::new(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawEntryForm {
    Program(String),
    Entry(RawEntry),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    allow: Vec<RawEntryForm>,
    #[serde(default)]
    env: Option<Vec<String>>,
}

/// The parsed `exec-allowlist.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowFile {
    /// The `"allow"` entries.
    pub allow: Vec<RawEntry>,
    /// The `"env"` allowlist (`None`: [`DEFAULT_ENV_ALLOW`]).
    pub env: Option<Vec<String>>,
}

/// Reads `exec-allowlist.json` (a missing file is an empty allowlist).
pub fn read_allowlist_file(file: &Path) -> Result<AllowFile, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AllowFile::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    parse_allowlist(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Parses the text of `exec-allowlist.json`.
pub fn parse_allowlist(text: &str) -> Result<AllowFile, String> {
    let raw: RawFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a valid exec allowlist ({e}); expected {{\"allow\": [\"/usr/bin/uname\", {{\"program\": \"ls\", \"args\": [\"-l\"]}}], \"env\": [\"LANG\"]}}"
        )
    })?;
    let allow = raw
        .allow
        .into_iter()
        .map(|f| match f {
            RawEntryForm::Program(p) => RawEntry::program(&p),
            RawEntryForm::Entry(e) => e,
        })
        .collect();
    Ok(AllowFile {
        allow,
        env: raw.env,
    })
}

/// An allowlist entry resolved on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// The entry as written.
    pub spec: String,
    /// Canonical path of the program.
    pub path: PathBuf,
    /// The basename `argv[0]` must have.
    pub name: String,
    /// Allowed argument patterns (`None`: any argument).
    pub args: Option<Vec<String>>,
    /// Denied argument patterns.
    pub deny_args: Vec<String>,
}

/// An entry that is not in force, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The entry as written.
    pub spec: String,
    /// Its canonical path, when it resolved.
    pub path: Option<PathBuf>,
    /// Why it is refused.
    pub reason: String,
}

/// The node's exec policy: what `system.run` may start, with which arguments and environment.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Entries in force.
    pub entries: Vec<AllowEntry>,
    /// Entries refused (unresolvable, relative, multi-call without an applet).
    pub refused: Vec<Refused>,
    /// Environment variable patterns that may pass through.
    pub env: Vec<String>,
}

fn file_name_of(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Finds where an entry or a request's program lives, without resolving symlinks: an
/// absolute path as is, a bare name on `dirs`, a relative path (requests only) against `cwd`.
pub(crate) fn locate(program: &str, cwd: Option<&Path>, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = if program.contains('/') {
        let p = Path::new(program);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            match cwd {
                Some(c) => c.join(p),
                None => std::env::current_dir().ok()?.join(p),
            }
        }
    } else {
        which_in(program, dirs)?
    };
    is_executable_file(&path).then_some(path)
}

/// Other names in `located`'s directory that are symlinks to the same program.
fn other_names(located: &Path, canonical: &Path) -> Vec<String> {
    let own = file_name_of(located).unwrap_or_default();
    let mut names = Vec::new();
    let Some(dir) = located.parent() else {
        return names;
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return names;
    };
    for entry in rd.flatten().take(MAX_SIBLING_SCAN) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == own {
            continue;
        }
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        let p = entry.path();
        if is_link && std::fs::canonicalize(&p).is_ok_and(|c| c == canonical) {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Why `canonical` (reached as `located`) looks like a multi-call binary, if it does.
fn multi_call_reason(located: &Path, canonical: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let target = file_name_of(canonical).unwrap_or_default();
    if MULTI_CALL_NAMES.iter().any(|m| target.starts_with(m)) {
        return Some(format!(
            "it resolves to {}, a multi-call binary",
            canonical.display()
        ));
    }
    if let Ok(meta) = std::fs::metadata(canonical)
        && meta.nlink() > 1
    {
        return Some(format!(
            "{} has {} hard links (one program under several names)",
            canonical.display(),
            meta.nlink()
        ));
    }
    let others = other_names(located, canonical);
    if !others.is_empty() {
        return Some(format!(
            "{} is also reachable as {} (one program under several names)",
            canonical.display(),
            others.join(", ")
        ));
    }
    None
}

/// Resolves the allowlist file's entries plus `--exec-allow` programs on this node.
pub fn resolve_policy(file: &AllowFile, extra: &[String], dirs: &[PathBuf]) -> Policy {
    use std::os::unix::fs::MetadataExt as _;
    let mut policy = Policy {
        env: file
            .env
            .clone()
            .unwrap_or_else(|| DEFAULT_ENV_ALLOW.iter().map(|s| (*s).to_owned()).collect()),
        ..Policy::default()
    };
    let extra: Vec<RawEntry> = extra.iter().map(|p| RawEntry::program(p)).collect();
    // (entry, inode) of the entries without an applet, to find two names for one program.
    let mut inodes: Vec<(usize, (u64, u64))> = Vec::new();
    for raw in file.allow.iter().chain(extra.iter()) {
        let spec = raw.program.trim().to_owned();
        let refuse = |path: Option<PathBuf>, reason: String| Refused {
            spec: spec.clone(),
            path,
            reason,
        };
        if !spec.starts_with('/') && spec.contains('/') {
            policy.refused.push(refuse(
                None,
                "relative paths are not allowed (use an absolute path or a bare name on PATH)"
                    .into(),
            ));
            continue;
        }
        let Some(located) = locate(&spec, None, dirs) else {
            policy.refused.push(refuse(
                None,
                "not an executable absolute path or a program on PATH".into(),
            ));
            continue;
        };
        let Ok(canonical) = std::fs::canonicalize(&located) else {
            policy
                .refused
                .push(refuse(None, "cannot resolve its path".into()));
            continue;
        };
        if let Some(bad) = raw
            .args
            .iter()
            .flatten()
            .chain(raw.deny_args.iter())
            .find(|p| p.is_empty())
        {
            policy.refused.push(refuse(
                Some(canonical),
                format!("argument pattern {bad:?} is empty"),
            ));
            continue;
        }
        let name = match &raw.applet {
            Some(a) if a.is_empty() || a.contains('/') => {
                policy.refused.push(refuse(
                    Some(canonical),
                    format!("applet {a:?} must be a bare program name"),
                ));
                continue;
            }
            Some(a) => a.clone(),
            None => {
                if let Some(why) = multi_call_reason(&located, &canonical) {
                    let name = file_name_of(&located).unwrap_or_default();
                    policy.refused.push(refuse(
                        Some(canonical),
                        format!(
                            "{why}; allow it by applet instead: {{\"program\": {spec:?}, \"applet\": {name:?}}}"
                        ),
                    ));
                    continue;
                }
                match file_name_of(&located) {
                    Some(n) => n,
                    None => continue,
                }
            }
        };
        if raw.applet.is_none()
            && let Ok(meta) = std::fs::metadata(&canonical)
        {
            inodes.push((policy.entries.len(), (meta.dev(), meta.ino())));
        }
        policy.entries.push(AllowEntry {
            spec,
            path: canonical,
            name,
            args: raw.args.clone(),
            deny_args: raw.deny_args.clone(),
        });
    }
    // Two entries naming one program (an inode) under different names: it is a multi-call
    // binary (or hard-linked); refuse both unless listed by applet.
    let mut drop_idx: Vec<usize> = Vec::new();
    for (i, ino) in &inodes {
        let clash = inodes
            .iter()
            .any(|(j, other)| other == ino && policy.entries[*j].name != policy.entries[*i].name);
        if clash {
            drop_idx.push(*i);
        }
    }
    for i in drop_idx.into_iter().rev() {
        let e = policy.entries.remove(i);
        policy.refused.push(Refused {
            reason: format!(
                "{} is allowlisted under several names (one program under several names); allow it by applet instead: {{\"program\": {:?}, \"applet\": {:?}}}",
                e.path.display(),
                e.spec,
                e.name
            ),
            spec: e.spec,
            path: Some(e.path),
        });
    }
    policy
}

/// Glob match: `*` is any run of characters (also `/`), `?` exactly one; nothing else is
/// special.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Why `args` do not fit `entry`, if they do not.
fn args_refusal(entry: &AllowEntry, args: &[String]) -> Option<String> {
    for a in args {
        if let Some(d) = entry.deny_args.iter().find(|d| glob_match(d, a)) {
            return Some(format!(
                "argument {a:?} matches the denied pattern {d:?} for {}",
                entry.spec
            ));
        }
        if let Some(allowed) = &entry.args
            && !allowed.iter().any(|p| glob_match(p, a))
        {
            return Some(if allowed.is_empty() {
                format!("{} is allowed without arguments only", entry.spec)
            } else {
                format!(
                    "argument {a:?} is not allowed for {} (allowed: {})",
                    entry.spec,
                    allowed.join(" ")
                )
            });
        }
    }
    None
}

/// Checks a request's argv against the policy: the program's canonical path **and** the
/// basename of `argv[0]` must match an entry, and the arguments its patterns. Returns the
/// canonical path to execute (with `argv[0]` unchanged, so a multi-call binary runs as the
/// allowed applet).
pub fn check_allowed(
    argv: &[String],
    cwd: Option<&Path>,
    dirs: &[PathBuf],
    policy: &Policy,
    allow_file: &Path,
) -> Result<PathBuf, InvokeError> {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let fix = format!("add it to {}", allow_file.display());
    let Some(located) = locate(program, cwd, dirs) else {
        return Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist ({program}: not found on the node's PATH); {fix}"
        )));
    };
    let Ok(canonical) = std::fs::canonicalize(&located) else {
        return Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist ({program}: cannot resolve its path); {fix}"
        )));
    };
    let name = file_name_of(Path::new(program)).unwrap_or_default();
    let same_program: Vec<&AllowEntry> = policy
        .entries
        .iter()
        .filter(|e| e.path == canonical)
        .collect();
    if same_program.is_empty() {
        if let Some(r) = policy
            .refused
            .iter()
            .find(|r| r.path.as_deref() == Some(canonical.as_path()))
        {
            return Err(InvokeError::denied(format!(
                "command not on this node's exec allowlist ({program} → {}): the entry {:?} is refused: {}",
                canonical.display(),
                r.spec,
                r.reason
            )));
        }
        return Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist ({}); {fix}",
            canonical.display()
        )));
    }
    let named: Vec<&&AllowEntry> = same_program.iter().filter(|e| e.name == name).collect();
    if named.is_empty() {
        let names: Vec<&str> = same_program.iter().map(|e| e.name.as_str()).collect();
        return Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist: {program} resolves to {}, which is allowed only when started as {} (argv[0]'s name must match the allowlist entry)",
            canonical.display(),
            names.join(", ")
        )));
    }
    let args = argv.get(1..).unwrap_or_default();
    let mut why = String::new();
    for e in named {
        match args_refusal(e, args) {
            None => return Ok(canonical),
            Some(r) => why = r,
        }
    }
    Err(InvokeError::denied(format!(
        "arguments not allowed by this node's exec allowlist: {why}"
    )))
}

/// The environment of a `system.run` child: `PATH` (the node's absolute `PATH` dirs) and
/// `HOME` (the node's) fixed, plus the variables matching the policy's `env` patterns —
/// from the node's own environment, overridden by the request's. Everything else is dropped;
/// the names of dropped request variables are returned.
pub fn child_env(
    requested: &BTreeMap<String, String>,
    node_env: &BTreeMap<String, String>,
    patterns: &[String],
    dirs: &[PathBuf],
) -> (BTreeMap<String, String>, Vec<String>) {
    const FIXED: &[&str] = &["PATH", "HOME"];
    let allowed = |k: &str| !FIXED.contains(&k) && patterns.iter().any(|p| glob_match(p, k));
    let mut env: BTreeMap<String, String> = node_env
        .iter()
        .filter(|(k, _)| allowed(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut dropped = Vec::new();
    for (k, v) in requested {
        if allowed(k) {
            env.insert(k.clone(), v.clone());
        } else {
            dropped.push(k.clone());
        }
    }
    if let Ok(p) = std::env::join_paths(dirs)
        && let Some(p) = p.to_str()
    {
        env.insert("PATH".into(), p.to_owned());
    }
    if let Some(h) = node_env.get("HOME") {
        env.insert("HOME".into(), h.clone());
    }
    (env, dropped)
}

/// A parsed `system.run` request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Timeout from the params.
    pub timeout: Option<Duration>,
}

/// Validates `system.run` params.
pub fn parse_run(params: &Value) -> Result<RunRequest, InvokeError> {
    let argv: Vec<String> = params
        .get("command")
        .and_then(Value::as_array)
        .ok_or_else(|| InvokeError::invalid("command required (an argv array)"))?
        .iter()
        .map(|a| a.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| InvokeError::invalid("command must be an array of strings"))?;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(InvokeError::invalid("command required (an argv array)"));
    }
    let cwd = match params.get("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            let p = PathBuf::from(s);
            if !p.is_absolute() {
                return Err(InvokeError::invalid("cwd must be an absolute path"));
            }
            Some(p)
        }
        Some(_) => return Err(InvokeError::invalid("cwd must be a string")),
    };
    let mut env = BTreeMap::new();
    match params.get("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| InvokeError::invalid("env values must be strings"))?;
                if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                    return Err(InvokeError::invalid(format!("invalid env entry {k:?}")));
                }
                env.insert(k.clone(), v.to_owned());
            }
        }
        Some(_) => return Err(InvokeError::invalid("env must be an object of strings")),
    }
    let timeout = match params.get("timeoutMs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => return Err(InvokeError::invalid("timeoutMs must be a positive integer")),
        },
    };
    Ok(RunRequest {
        argv,
        cwd,
        env,
        timeout,
    })
}

#[cfg(test)]
pub(crate) use super::run::run_program_capped;
pub(crate) use super::run::run_program_watched;
pub use super::run::{Capped, run_program};

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
