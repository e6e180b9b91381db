//! The gateway host's exec approvals document: OpenClaw's `exec-approvals.json`
//! (`{version: 1, socket?, defaults?, agents?: {<id> | "*": {security, ask, askFallback,
//! autoAllowSkills, allowlist: [{id, pattern, …}]}}}`), kept at
//! `<state>/exec-approvals.json` (mode 0600) and served by `exec.approvals.get|set`, which
//! the real `openclaw approvals get|set|allowlist add|remove --gateway` call.
//!
//! As in OpenClaw, the document **only tightens** `tools.exec`: the effective security is
//! the stricter of the two (`deny` < `allowlist` < `full`) and the effective ask the more
//! insistent (`off` < `on-miss` < `always`); a field the document leaves out keeps the
//! config's. Its allowlist patterns add programs to the gateway's exec allowlist
//! (`exec-allowlist.json`) for that agent: a pattern with a `/` (or starting with `~`) is a
//! glob on the program's real path (`*` within a directory, `**` across, `?` one
//! character), one without is a glob on the program's name, a bare `*` is any program.
//! Entries that bind arguments (`argPattern`) or were minted by OpenClaw's allow-always are
//! not understood here and allow nothing. `askFallback` and `autoAllowSkills` are kept and
//! shown but loosen nothing: an approval nobody answers is denied.
//!
//! A document that cannot be read or parsed denies gateway-host exec (fail closed) until it
//! is fixed; the error names the file.

use std::path::{Path, PathBuf};

use openclaw_actors::ports::{HostApprovals, HostAsk, HostSecurity};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// The document's file name in the state dir.
pub const FILE: &str = "exec-approvals.json";

/// The largest document read or written.
const MAX_BYTES: usize = 1 << 20;

/// Most entries in one allowlist.
const MAX_ENTRIES: usize = 1000;

/// Longest pattern (bytes).
const MAX_PATTERN: usize = 1024;

/// Most agents in the document.
const MAX_AGENTS: usize = 256;

/// `<state>/exec-approvals.json`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The document as read: its text, hash and normalized content.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The file exists.
    pub exists: bool,
    /// OpenClaw's hash: SHA-256 of the file's text, or `missing:<sha256 of "">`.
    pub hash: String,
    /// The normalized document (`{version: 1, agents: {}}` when missing).
    pub file: Value,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the document (a missing file is an empty one). `Err`: unreadable, too large or
/// malformed, naming the file and the fix.
pub fn read(file: &Path) -> Result<Snapshot, String> {
    use std::io::Read as _;
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                exists: false,
                hash: format!("missing:{}", sha256_hex(b"")),
                file: empty(),
            });
        }
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let mut buf = Vec::new();
    f.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if buf.len() > MAX_BYTES {
        return Err(format!(
            "{} is larger than {MAX_BYTES} bytes. Fix: shorten its allowlists",
            file.display()
        ));
    }
    let text = String::from_utf8(buf)
        .map_err(|_| format!("{} is not UTF-8 text. Fix: rewrite it", file.display()))?;
    let doc: Value = json5::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid JSON5 ({e}). Fix: correct it, or replace it with `openclaw approvals set --gateway --file <file>`",
            file.display()
        )
    })?;
    let file_doc = normalize(&doc).map_err(|e| {
        format!(
            "{}: {e}. Fix: correct it, or replace it with `openclaw approvals set --gateway --file <file>`",
            file.display()
        )
    })?;
    Ok(Snapshot {
        exists: true,
        hash: sha256_hex(text.as_bytes()),
        file: file_doc,
    })
}

fn empty() -> Value {
    json!({"version": 1, "defaults": {}, "agents": {}})
}

const SECURITY: &[&str] = &["deny", "allowlist", "full"];
const ASK: &[&str] = &["off", "on-miss", "always"];

/// Checks one policy object (`defaults` or an agent) at `at`; keeps what it does not know.
fn policy(at: &str, v: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(o) = v else {
        return Err(format!("{at} must be an object"));
    };
    let mut out = o.clone();
    for (key, allowed) in [
        ("security", SECURITY),
        ("ask", ASK),
        ("askFallback", SECURITY),
    ] {
        match o.get(key) {
            None | Some(Value::Null) => {
                out.remove(key);
            }
            Some(Value::String(s)) if allowed.contains(&s.trim()) => {
                out.insert(key.into(), json!(s.trim()));
            }
            Some(other) => {
                let shown: String = other.to_string().chars().take(64).collect();
                return Err(format!(
                    "{at}.{key} is {shown}; it must be {}",
                    allowed
                        .iter()
                        .map(|a| format!("\"{a}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    match o.get("autoAllowSkills") {
        None | Some(Value::Bool(_)) => {}
        Some(Value::Null) => {
            out.remove("autoAllowSkills");
        }
        Some(_) => return Err(format!("{at}.autoAllowSkills must be true or false")),
    }
    if let Some(list) = o.get("allowlist") {
        out.insert("allowlist".into(), allowlist(at, list)?);
    }
    Ok(out)
}

/// Checks an allowlist: strings become `{pattern}`, every entry gets an `id`, OpenClaw's
/// transient `commandText` is dropped.
fn allowlist(at: &str, v: &Value) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(format!("{at}.allowlist must be an array"));
    };
    if items.len() > MAX_ENTRIES {
        return Err(format!(
            "{at}.allowlist has {} entries; at most {MAX_ENTRIES}",
            items.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut entry = match item {
            Value::String(s) => {
                let mut m = Map::new();
                m.insert("pattern".into(), json!(s));
                m
            }
            Value::Object(m) => m.clone(),
            _ => {
                return Err(format!(
                    "{at}.allowlist[{i}] must be a pattern or an object"
                ));
            }
        };
        let pattern = entry
            .get("pattern")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
            .to_owned();
        if pattern.is_empty() {
            return Err(format!("{at}.allowlist[{i}] has no pattern"));
        }
        if pattern.len() > MAX_PATTERN || pattern.chars().any(char::is_control) {
            return Err(format!(
                "{at}.allowlist[{i}].pattern must be at most {MAX_PATTERN} bytes without control characters"
            ));
        }
        entry.insert("pattern".into(), json!(pattern));
        entry.remove("commandText");
        if entry
            .get("id")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            entry.insert(
                "id".into(),
                json!(uuid::Uuid::new_v4().to_string().to_uppercase()),
            );
        }
        out.push(Value::Object(entry));
    }
    Ok(Value::Array(out))
}

/// Validates and normalizes a document (OpenClaw's `normalizeExecApprovals`, but a value
/// it would silently drop, a misspelt `"deny"` say, is refused here: dropping it would
/// loosen the policy the owner meant).
pub fn normalize(doc: &Value) -> Result<Value, String> {
    let Value::Object(o) = doc else {
        return Err("the exec approvals document must be an object".into());
    };
    match o.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return Err("version must be 1".into()),
    }
    let mut socket = Map::new();
    if let Some(s) = o.get("socket") {
        let Value::Object(s) = s else {
            return Err("socket must be an object".into());
        };
        for key in ["path", "token"] {
            match s.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(v)) if !v.trim().is_empty() => {
                    socket.insert(key.into(), json!(v.trim()));
                }
                Some(Value::String(_)) => {}
                Some(_) => return Err(format!("socket.{key} must be a string")),
            }
        }
    }
    let defaults = match o.get("defaults") {
        None | Some(Value::Null) => Map::new(),
        Some(d) => policy("defaults", d)?,
    };
    let mut agents = match o.get("agents") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => return Err("agents must be an object".into()),
    };
    if agents.len() > MAX_AGENTS {
        return Err(format!(
            "agents has {} entries; at most {MAX_AGENTS}",
            agents.len()
        ));
    }
    // OpenClaw's legacy `agents.default` is the main agent's.
    if let Some(legacy) = agents.remove("default") {
        match agents.get_mut("main") {
            None => {
                agents.insert("main".into(), legacy);
            }
            Some(Value::Object(main)) => {
                if let Value::Object(l) = legacy {
                    for (k, v) in l {
                        if k == "allowlist" {
                            let mut both = main
                                .get("allowlist")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            both.extend(v.as_array().cloned().unwrap_or_default());
                            main.insert(k, Value::Array(both));
                        } else {
                            main.entry(k).or_insert(v);
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
    let mut checked = Map::new();
    for (id, a) in agents {
        if id.trim().is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            let shown: String = id.chars().take(64).collect();
            return Err(format!(
                "agents: {shown:?} is not an agent id (1-128 characters, or \"*\")"
            ));
        }
        let at = format!("agents.{id}");
        checked.insert(id, Value::Object(policy(&at, &a)?));
    }
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    if !socket.is_empty() {
        out.insert("socket".into(), Value::Object(socket));
    }
    out.insert("defaults".into(), Value::Object(defaults));
    out.insert("agents".into(), Value::Object(checked));
    Ok(Value::Object(out))
}

/// OpenClaw's `exec.approvals.get` payload: `{path, exists, hash, file, resolvedDefaults}`,
/// the socket token left out.
pub fn payload(file: &Path, snap: &Snapshot) -> Value {
    let mut doc = snap.file.clone();
    if let Some(o) = doc.as_object_mut() {
        let path = o
            .get("socket")
            .and_then(|s| s.get("path"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match path {
            Some(p) => {
                o.insert("socket".into(), json!({ "path": p }));
            }
            None => {
                o.remove("socket");
            }
        }
    }
    let d = &snap.file["defaults"];
    json!({
        "path": file.display().to_string(),
        "exists": snap.exists,
        "hash": snap.hash,
        "file": doc,
        "resolvedDefaults": {
            "security": d["security"].as_str().unwrap_or("full"),
            "ask": d["ask"].as_str().unwrap_or("off"),
            "askFallback": d["askFallback"].as_str().unwrap_or("deny"),
            "autoAllowSkills": d["autoAllowSkills"].as_bool().unwrap_or(false),
        },
    })
}

/// `exec.approvals.get`.
pub fn get(file: &Path) -> Result<Value, String> {
    read(file).map(|s| payload(file, &s))
}

/// `exec.approvals.set {file, baseHash?}`: replaces the document when `baseHash` is the hash
/// of the one on disk (OpenClaw's compare-and-swap; a first write may omit it), keeping
/// the socket token the caller never saw. `Err((true, _))`: the caller's input.
pub fn set(file: &Path, params: &Value) -> Result<Value, (bool, String)> {
    let bad = |m: &str| (true, format!("invalid exec.approvals.set params: {m}"));
    let Value::Object(p) = params else {
        return Err(bad("must be object"));
    };
    if let Some(k) = p
        .keys()
        .find(|k| !["file", "baseHash"].contains(&k.as_str()))
    {
        return Err(bad(&format!("at root: unexpected property '{k}'")));
    }
    let base = match p.get("baseHash") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) if !h.trim().is_empty() => Some(h.trim().to_owned()),
        Some(_) => return Err(bad("at /baseHash: must be a non-empty string")),
    };
    let Some(incoming @ Value::Object(_)) = p.get("file") else {
        return Err((true, "exec approvals file is required".into()));
    };
    let current = read(file).map_err(|e| (false, e))?;
    let changed = || {
        (
            true,
            "exec approvals changed since last load; re-run exec.approvals.get and retry"
                .to_owned(),
        )
    };
    match (&base, current.exists) {
        (Some(b), _) if *b != current.hash => return Err(changed()),
        (None, true) => {
            return Err((
                true,
                "exec approvals base hash required; re-run exec.approvals.get and retry".into(),
            ));
        }
        _ => {}
    }
    let mut next =
        normalize(incoming).map_err(|e| (true, format!("invalid exec approvals: {e}")))?;
    // The caller saw the document without the socket's token: keep the one on disk.
    if let (Some(token), Some(o)) = (
        current.file["socket"]["token"].as_str(),
        next.as_object_mut(),
    ) {
        let socket = o.entry("socket").or_insert_with(|| json!({}));
        if let Some(s) = socket.as_object_mut() {
            s.entry("token").or_insert_with(|| json!(token));
        }
    }
    let mut text = serde_json::to_string_pretty(&next).map_err(|e| (false, e.to_string()))?;
    text.push('\n');
    if text.len() > MAX_BYTES {
        return Err((
            true,
            format!("invalid exec approvals: larger than {MAX_BYTES} bytes"),
        ));
    }
    openclaw_actors::store::write_atomic_mode(file, text.as_bytes(), 0o600)
        .map_err(|e| (false, format!("cannot write {}: {e}", file.display())))?;
    // The gateway's own copy, should a foreign tool delete the document (see
    // `openclaw_actors::reclaim::SHADOWED`); the document itself is written either way.
    if let Err(e) = openclaw_actors::reclaim::keep_shadow(file, text.as_bytes()) {
        log::warn!(
            "could not keep a copy of {} (it is written; a copy is taken again at the next start): {e}",
            file.display()
        );
    }
    let snap = Snapshot {
        exists: true,
        hash: sha256_hex(text.as_bytes()),
        file: next,
    };
    Ok(payload(file, &snap))
}

fn security(v: &Value) -> Option<HostSecurity> {
    match v.as_str()? {
        "deny" => Some(HostSecurity::Deny),
        "allowlist" => Some(HostSecurity::Allowlist),
        "full" => Some(HostSecurity::Full),
        _ => None,
    }
}

fn ask(v: &Value) -> Option<HostAsk> {
    match v.as_str()? {
        "off" => Some(HostAsk::Off),
        "on-miss" => Some(HostAsk::OnMiss),
        "always" => Some(HostAsk::Always),
        _ => None,
    }
}

/// What the document says for `agent`: each field from the agent's entry, else `"*"`'s,
/// else `defaults` (none: the config decides); the patterns of `"*"` and of the agent.
pub fn resolve(doc: &Value, agent: &str, source: &Path) -> HostApprovals {
    let agents = &doc["agents"];
    let mine = &agents[agent];
    let any = &agents["*"];
    let field = |k: &str| -> &Value {
        [mine, any, &doc["defaults"]]
            .into_iter()
            .map(|o| &o[k])
            .find(|v| !v.is_null())
            .unwrap_or(&Value::Null)
    };
    let patterns = [any, mine]
        .into_iter()
        .filter_map(|a| a["allowlist"].as_array())
        .flatten()
        .filter(|e| {
            e.get("argPattern").is_none_or(Value::is_null)
                && e["source"].as_str() != Some("allow-always")
        })
        .filter_map(|e| e["pattern"].as_str().map(str::to_owned))
        .collect();
    HostApprovals {
        security: security(field("security")),
        ask: ask(field("ask")),
        patterns,
        source: source.display().to_string(),
    }
}

/// The document's word for `agent`, read now (`Err`: the document is unusable and the
/// gateway host runs nothing until it is fixed).
pub fn for_agent(state_dir: &Path, agent: &str) -> Result<HostApprovals, String> {
    let file = path(state_dir);
    let snap = read(&file)?;
    if !snap.exists {
        return Ok(HostApprovals::default());
    }
    Ok(resolve(&snap.file, agent, &file))
}

/// OpenClaw's glob: `**` any characters, `*` any within one path segment, `?` one
/// character but `/`, the rest literal. Dynamic programming over (pattern token, text
/// position): O(pattern × text), whatever the stars.
pub fn glob(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy)]
    enum Tok {
        Lit(char),
        One,
        Star,
        Stars,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                Tok::Stars
            }
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    let t: Vec<char> = text.chars().collect();
    let m = t.len();
    // `next[j]`: tokens after the current one match `t[j..]`.
    let mut next = vec![false; m + 1];
    next[m] = true;
    for tok in toks.iter().rev() {
        let mut cur = vec![false; m + 1];
        for j in (0..=m).rev() {
            cur[j] = match *tok {
                Tok::Lit(c) => j < m && t[j] == c && next[j + 1],
                Tok::One => j < m && t[j] != '/' && next[j + 1],
                Tok::Star => next[j] || (j < m && t[j] != '/' && cur[j + 1]),
                Tok::Stars => next[j] || (j < m && cur[j + 1]),
            };
        }
        next = cur;
    }
    next[0]
}

/// Whether a program located at `located` (its real path `real`) is on one of `patterns`.
pub fn allows(patterns: &[String], located: &Path, real: &Path, home: Option<&Path>) -> bool {
    let real_s = real.to_string_lossy();
    let name = located
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    patterns.iter().any(|raw| {
        let p = raw.trim();
        if p == "*" {
            return true;
        }
        let expanded = match (p.strip_prefix('~'), home) {
            (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", h.display())
            }
            _ => p.to_owned(),
        };
        if expanded.contains('/') {
            glob(&expanded, &real_s)
        } else {
            glob(&expanded, &name)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_openclaws() {
        assert!(glob("/usr/bin/uname", "/usr/bin/uname"));
        assert!(!glob("/usr/bin/uname", "/usr/bin/unamex"));
        assert!(glob("/usr/bin/*", "/usr/bin/uname"));
        assert!(!glob("/usr/*", "/usr/bin/uname"), "* stays in a segment");
        assert!(glob("/usr/**", "/usr/bin/uname"));
        assert!(glob("/home/u/**/bin/rg", "/home/u/a/b/bin/rg"));
        assert!(glob("/home/u/**/bin/rg", "/home/u//bin/rg"));
        assert!(glob("/usr/bin/?s", "/usr/bin/ls"));
        assert!(!glob("/usr/bin/?", "/usr/bin//"));
        assert!(glob("r*", "rg"));
        assert!(!glob("", "x"));
        assert!(glob("", ""));
        // Long hostile input stays polynomial.
        let long = "a".repeat(2000);
        assert!(!glob(&"*a".repeat(200), &format!("{long}b")));
    }

    #[test]
    fn patterns_match_the_real_path_or_the_name() {
        let loc = Path::new("/usr/local/bin/python3");
        let real = Path::new("/usr/lib/python3.11/bin/python3.11");
        let p = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(allows(&p(&["python3"]), loc, real, None));
        assert!(allows(&p(&["/usr/lib/**"]), loc, real, None));
        assert!(
            !allows(&p(&["/usr/local/bin/python3"]), loc, real, None),
            "the real path"
        );
        assert!(allows(&p(&["*"]), loc, real, None));
        assert!(allows(
            &p(&["~/tools/*"]),
            Path::new("/h/tools/x"),
            Path::new("/h/tools/x"),
            Some(Path::new("/h"))
        ));
        assert!(!allows(
            &p(&["~other/x"]),
            Path::new("/x"),
            Path::new("/x"),
            Some(Path::new("/h"))
        ));
        assert!(!allows(&p(&[]), loc, real, None));
    }

    #[test]
    fn documents_are_normalized_and_bad_values_refused() {
        let d = normalize(&json!({
            "defaults": {"security": " allowlist ", "ask": "on-miss", "extra": 1},
            "agents": {
                "default": {"allowlist": ["/bin/a"], "ask": "always"},
                "main": {"allowlist": [{"pattern": "/bin/b", "id": "X", "commandText": "b"}]},
            },
            "junk": true,
        }))
        .expect("valid");
        assert_eq!(d["version"], 1);
        assert_eq!(d["defaults"]["security"], "allowlist");
        assert_eq!(d["defaults"]["extra"], 1);
        assert!(d.get("junk").is_none());
        assert!(d["agents"].get("default").is_none());
        let main = &d["agents"]["main"];
        assert_eq!(main["ask"], "always");
        assert_eq!(
            main["allowlist"][0],
            json!({"pattern": "/bin/b", "id": "X"})
        );
        assert_eq!(main["allowlist"][1]["pattern"], "/bin/a");
        assert!(
            main["allowlist"][1]["id"]
                .as_str()
                .is_some_and(|s| s.len() == 36)
        );
        for (bad, want) in [
            (
                json!({"defaults": {"security": "denyy"}}),
                "defaults.security is \"denyy\"",
            ),
            (
                json!({"agents": {"main": {"ask": 1}}}),
                "agents.main.ask is 1",
            ),
            (json!({"version": 2}), "version must be 1"),
            (
                json!({"agents": {"m": {"allowlist": [""]}}}),
                "has no pattern",
            ),
            (
                json!({"agents": {"m": {"allowlist": "x"}}}),
                "must be an array",
            ),
            (json!({"agents": {"": {}}}), "is not an agent id"),
            (
                json!({"agents": {"m": {"allowlist": ["a\u{0}b"]}}}),
                "control characters",
            ),
            (json!([]), "must be an object"),
        ] {
            let e = normalize(&bad).expect_err("refused");
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn an_agent_takes_its_fields_then_stars_then_defaults() {
        let d = normalize(&json!({
            "defaults": {"security": "full", "ask": "off"},
            "agents": {
                "*": {"ask": "on-miss", "allowlist": ["/bin/star"]},
                "work": {"security": "deny", "allowlist": [
                    "/bin/work",
                    {"pattern": "/bin/args", "argPattern": "sha256:argv:x"},
                    {"pattern": "/bin/always", "source": "allow-always"},
                ]},
            },
        }))
        .expect("valid");
        let f = Path::new("/s/exec-approvals.json");
        let work = resolve(&d, "work", f);
        assert_eq!(work.security, Some(HostSecurity::Deny));
        assert_eq!(work.ask, Some(HostAsk::OnMiss));
        assert_eq!(work.patterns, ["/bin/star", "/bin/work"]);
        let main = resolve(&d, "main", f);
        assert_eq!(main.security, Some(HostSecurity::Full));
        assert_eq!(main.patterns, ["/bin/star"]);
        let bare = resolve(&normalize(&json!({})).expect("valid"), "main", f);
        assert_eq!((bare.security, bare.ask), (None, None));
    }
}
