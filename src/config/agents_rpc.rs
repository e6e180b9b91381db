//! `agents.create`, `agents.update` and `agents.delete` (OpenClaw's
//! `server-methods/agents.ts`; the real CLI's `openclaw agents delete` and the Control UI's
//! agent pages call them): edits of the roster in the config file, made as a hand edit
//! would be and applied before the answer.
//!
//! - The config is edited in place (`agents.entries.<id>.<key>`, so comments elsewhere
//!   stay; a legacy `agents.list` is rewritten as a whole), checked by the start-up checks
//!   (an unknown model, a workspace holding the state directory: refused, nothing
//!   written), written atomically (mode 0600) and then applied by the config watcher
//!   before the answer, so the next `agents.list` shows it.
//! - Adding an agent never moves unbound messages: the implicit agent `main` is written out
//!   when the first other agent is added, and the agent that answered them is marked
//!   `default: true` when the bigger roster would leave them unanswered (OpenClaw stamps
//!   `agents.ownership: "explicit"` instead, and its new fleet stops answering chats no
//!   binding matches). A fleet without an owner, or with `agents.ownership: "explicit"`,
//!   stays without one.
//! - Names, emoji and avatars go into the agent's `IDENTITY.md` as OpenClaw writes them
//!   (`- Name: …` lines, the rest of the file kept). Whitespace and control characters are
//!   folded, so a name cannot add lines. A symlinked or hard-linked `IDENTITY.md` is
//!   refused (the agent's own tools could have planted one pointing at a secret).
//! - Deleting moves the agent's workspace (unless another agent shares it) and its state
//!   (`<state>/agents/<id>`: sessions, transcripts) to `~/.Trash`, as OpenClaw does,
//!   never deleting them; the bindings and `subagents.allowAgents` entries naming it go.
//!   The only agent cannot be deleted.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::edit;
use super::rpc::ConfigOps;

/// Agent ids OpenClaw keeps for its system agents.
const RESERVED: [&str; 2] = ["openclaw", "crestodian"];

/// The longest name, emoji or avatar (characters): what `IDENTITY.md` is read back with.
const MAX_FIELD: usize = 200;

/// `IDENTITY.md`'s writable fields and their labels (OpenClaw's `WRITABLE_IDENTITY_FIELDS`).
const IDENTITY_LABELS: [(&str, &str); 4] = [
    ("name", "Name"),
    ("theme", "Theme"),
    ("emoji", "Emoji"),
    ("avatar", "Avatar"),
];

/// The largest `IDENTITY.md` merged into.
const MAX_IDENTITY_FILE: u64 = 1024 * 1024;

type Failure = (bool, String);

fn bad(m: impl Into<String>) -> Failure {
    (true, m.into())
}

fn broken(m: impl Into<String>) -> Failure {
    (false, m.into())
}

/// OpenClaw's `normalizeAgentIdStrict`: lower case; a run of other characters becomes `-`;
/// no leading `-` or `_`, no trailing `-`; at most 64 characters. `None`: nothing usable is left.
pub fn normalize_id(raw: &str) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let mut out = String::with_capacity(lower.len().min(64));
    let mut dash = false;
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    // Ids start with a letter or digit (OpenClaw would keep a leading `_`, which its own
    // id check then refuses).
    let out: String = out
        .trim_start_matches(['-', '_'])
        .trim_end_matches('-')
        .chars()
        .take(64)
        .collect();
    let out = out.trim_end_matches('-').to_owned();
    openclaw_actors::agents::valid_id(&out).then_some(out)
}

/// A one-line value: control characters and whitespace runs become one space, trimmed
/// (OpenClaw's `sanitizeAgentIdentityLine`); `None` when empty. Longer than [`MAX_FIELD`]:
/// refused, naming `key`.
fn line(v: &str, key: &str) -> Result<Option<String>, Failure> {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c.is_whitespace() || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    let out = out.trim();
    if out.chars().count() > MAX_FIELD {
        return Err(bad(format!(
            "invalid params: {key} is longer than {MAX_FIELD} characters"
        )));
    }
    Ok((!out.is_empty()).then(|| out.to_owned()))
}

/// The params object with only `allowed` keys.
fn object<'a>(
    method: &str,
    params: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, Failure> {
    let obj = params
        .as_object()
        .ok_or_else(|| bad(format!("invalid {method} params: must be object")))?;
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "invalid {method} params: at root: unexpected property '{}'",
            k.chars().take(64).collect::<String>()
        )));
    }
    Ok(obj)
}

/// `obj[key]` as a string (absent: `None`; another type: refused).
fn str_param<'a>(
    method: &str,
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, Failure> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!(
            "invalid {method} params: {key} must be string"
        ))),
    }
}

/// `obj[key]` as a non-empty string.
fn required<'a>(method: &str, obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, Failure> {
    match str_param(method, obj, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(bad(format!(
            "invalid {method} params: must have required property '{key}'"
        ))),
    }
}

/// OpenClaw's answer for an agent that is not configured.
fn not_found(raw_id: &str) -> Failure {
    bad(format!(
        "agent \"{}\" not found",
        raw_id.chars().take(64).collect::<String>()
    ))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The roster's shape in the file.
enum Form {
    /// No roster: the single agent `main`.
    Implicit,
    /// `agents.entries` (its keys as written).
    Entries(Map<String, Value>),
    /// The legacy `agents.list`.
    List(Vec<Value>),
}

impl Form {
    fn of(doc: &Value) -> Self {
        let agents = &doc["agents"];
        if let Some(Value::Array(l)) = agents.get("list") {
            return Self::List(l.clone());
        }
        match agents.get("entries") {
            Some(Value::Object(m)) if !m.is_empty() => Self::Entries(m.clone()),
            _ => Self::Implicit,
        }
    }

    /// The key (as written) or index of `id`.
    fn find(&self, id: &str) -> Option<String> {
        match self {
            Self::Implicit => None,
            Self::Entries(m) => m
                .keys()
                .find(|k| k.trim().eq_ignore_ascii_case(id))
                .cloned(),
            Self::List(l) => l
                .iter()
                .position(|e| {
                    e.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.trim().eq_ignore_ascii_case(id))
                })
                .map(|i| i.to_string()),
        }
    }
}

pub(super) fn path(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// The file's text and its parsed document (`{}` when there is no file).
pub(super) fn current(ops: &ConfigOps) -> Result<(String, Value), Failure> {
    let text = ops
        .read()
        .map_err(broken)?
        .unwrap_or_else(|| "{}\n".to_owned());
    let doc: Value = json5::from_str(&text).map_err(|e| {
        broken(format!(
            "{} is not valid JSON5 ({e}); fix it by hand first",
            ops.path.display()
        ))
    })?;
    Ok((text, doc))
}

/// Who answers unbound messages under `prepared` (the single agent `main` without a
/// roster; `None`: a fleet without an owner, where they are not answered).
fn owner_of(prepared: &crate::gateway::Prepared) -> Option<String> {
    match &prepared.agents {
        None => Some(openclaw_actors::agents::MAIN.to_owned()),
        Some(r) => r.owner().map(str::to_owned),
    }
}

/// `text` with the agent entry written as `key` (`agents.list`: its index) changed by
/// `sets` (each a path inside the entry and its new value, `None`: removed).
fn edit_entry(
    text: &str,
    form: &Form,
    key: &str,
    sets: &[(&[&str], Option<Value>)],
) -> Result<String, Failure> {
    match form {
        Form::List(list) => {
            let mut list = list.clone();
            let i: usize = key.parse().map_err(|_| broken("bad agents.list index"))?;
            let Some(Value::Object(entry)) = list.get_mut(i) else {
                return Err(bad(format!(
                    "agents.list[{i}] is not an object; fix it by hand"
                )));
            };
            for (keys, v) in sets {
                set_in(entry, keys, v.clone());
            }
            edit::set(text, &path(&["agents", "list"]), &Value::Array(list)).map_err(bad)
        }
        _ => {
            let mut out = text.to_owned();
            for (keys, v) in sets {
                let mut p = path(&["agents", "entries", key]);
                p.extend(keys.iter().map(|k| (*k).to_owned()));
                out = match v {
                    Some(v) => edit::set(&out, &p, v).map_err(bad)?,
                    None => edit::unset(&out, &p).map_err(bad)?.unwrap_or(out),
                };
            }
            Ok(out)
        }
    }
}

/// Sets (or with `None` removes) `keys` inside `entry`, creating objects on the way.
fn set_in(entry: &mut Map<String, Value>, keys: &[&str], v: Option<Value>) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut node = entry;
    for k in parents {
        let slot = node
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(m) = slot else { return };
        node = m;
    }
    match v {
        Some(v) => {
            node.insert((*last).to_owned(), v);
        }
        None => {
            node.remove(*last);
        }
    }
}

/// Where an agent's workspace is when the config names none (as the roster resolves it):
/// `<agents.defaults.workspace>/<id>`, else `<state>/workspace-<id>`.
fn default_workspace(doc: &Value, state_dir: &Path, id: &str) -> Result<PathBuf, Failure> {
    match doc["agents"]["defaults"]["workspace"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(d) => super::absolute_dir(d, "agents.defaults.workspace", home().as_deref())
            .map(|d| d.join(id))
            .map_err(broken),
        None => Ok(state_dir.join(format!("workspace-{id}"))),
    }
}

/// The identity fields of a call (`name`, `emoji`, `avatar`), folded to one line each.
fn identity_fields(
    obj: &Map<String, Value>,
    method: &str,
    name: Option<&str>,
) -> Result<Vec<(&'static str, String)>, Failure> {
    let mut out = Vec::new();
    if let Some(n) = name {
        out.push(("name", n.to_owned()));
    }
    for key in ["emoji", "avatar"] {
        if let Some(v) = str_param(method, obj, key)?
            && let Some(v) = line(v, key)?
        {
            out.push((key, v));
        }
    }
    Ok(out)
}

/// OpenClaw's `mergeIdentityMarkdownContent`: each field's `- Label: value` line replaces
/// the first line with that label (its duplicates go) or is inserted after the last
/// identity line (else under the heading); everything else stays.
pub fn merge_identity(existing: Option<&str>, fields: &[(&str, String)]) -> String {
    let mut lines: Vec<String> = match existing {
        Some(t) if !t.is_empty() => t
            .replace("\r\n", "\n")
            .split('\n')
            .map(str::to_owned)
            .collect(),
        _ => vec!["# IDENTITY.md - Agent Identity".to_owned(), String::new()],
    };
    let label_of = |l: &str| -> Option<String> {
        let t = l.trim();
        let cleaned = t.strip_prefix('-')?.trim_start();
        let (label, _) = cleaned.split_once(':')?;
        Some(label.replace(['*', '_', '`'], "").trim().to_lowercase())
    };
    for (field, label) in IDENTITY_LABELS {
        let Some((_, value)) = fields.iter().find(|(f, _)| *f == field) else {
            continue;
        };
        let new_line = format!("- {label}: {value}");
        let matching: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| label_of(l).as_deref() == Some(field))
            .map(|(i, _)| i)
            .collect();
        if let Some((&first, dups)) = matching.split_first() {
            lines[first] = new_line;
            for &d in dups.iter().rev() {
                lines.remove(d);
            }
            continue;
        }
        // After the last rich identity line; else after the heading's blank lines.
        let rich = ["name", "creature", "vibe", "theme", "emoji", "avatar"];
        let last = lines.iter().rposition(|l| {
            let t = l.trim();
            let t = t.strip_prefix('-').map_or(t, str::trim_start);
            t.split_once(':').is_some_and(|(label, _)| {
                rich.contains(
                    &label
                        .replace(['*', '_', '`'], "")
                        .trim()
                        .to_lowercase()
                        .as_str(),
                )
            })
        });
        let at = match last {
            Some(i) => i + 1,
            None => match lines.iter().position(|l| l.trim().starts_with('#')) {
                None => 0,
                Some(h) => {
                    let mut i = h + 1;
                    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
                        i += 1;
                    }
                    i
                }
            },
        };
        lines.insert(at, new_line);
    }
    let mut out = lines.join("\n");
    while out.ends_with('\n') {
        out.pop();
    }
    out.push('\n');
    out
}

/// Writes `fields` into `<workspace>/IDENTITY.md` (merged into the file there). A
/// symlink, a hard link or anything but a regular file there is refused.
fn write_identity(workspace: &Path, fields: &[(&str, String)]) -> Result<(), Failure> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    if fields.is_empty() {
        return Ok(());
    }
    let file = workspace.join("IDENTITY.md");
    let unsafe_file = || bad("unsafe workspace file \"IDENTITY.md\"");
    let existing = match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(broken(format!("cannot read {}: {e}", file.display()))),
        Ok(m) if !m.file_type().is_file() || m.nlink() > 1 => return Err(unsafe_file()),
        Ok(m) if m.len() > MAX_IDENTITY_FILE => {
            return Err(bad(format!(
                "{} is larger than 1 MiB; shorten it first",
                file.display()
            )));
        }
        Ok(_) => {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&file)
                .map_err(|_| unsafe_file())?;
            let mut bytes = Vec::new();
            f.by_ref()
                .take(MAX_IDENTITY_FILE)
                .read_to_end(&mut bytes)
                .map_err(|e| broken(format!("cannot read {}: {e}", file.display())))?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let merged = merge_identity(existing.as_deref(), fields);
    openclaw_actors::store::write_atomic(&file, merged.as_bytes())
        .map_err(|e| broken(format!("cannot write {}: {e}", file.display())))
}

/// Creates a new workspace (and its starter files unless `skip`) before the config names
/// it.
fn seed(dir: &Path, skip: bool) -> Result<(), Failure> {
    crate::gateway::try_seed_workspace(dir, skip)
        .map(|line| log::info!("{line}"))
        .map_err(|m| broken(format!("{m}; nothing was changed")))
}

/// The model param: a non-empty string, or `null` where `nullable`.
fn model_param(
    method: &str,
    obj: &Map<String, Value>,
    nullable: bool,
) -> Result<Option<Option<String>>, Failure> {
    match obj.get("model") {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(Some(None)),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => {
            Ok(Some(Some(s.trim().to_owned())))
        }
        Some(_) => Err(bad(format!(
            "invalid {method} params: model must be a non-empty string{}",
            if nullable { " or null" } else { "" }
        ))),
    }
}

impl ConfigOps {
    /// `agents.create`, `agents.update`, `agents.delete`.
    pub fn agents_rpc(&self, method: &str, params: &Value) -> Result<Value, Failure> {
        let params = if params.is_null() {
            &Value::Object(Map::new())
        } else {
            params
        };
        let _writing = super::rpc::writes_lock();
        match method {
            "agents.create" => self.agents_create(params),
            "agents.update" => self.agents_update(params),
            "agents.delete" => self.agents_delete(params),
            _ => Err(bad(format!("unknown method {method}"))),
        }
    }

    /// Writes `text` (checked) and has the watcher apply it; `Err` from the apply is only
    /// reported (the file is written).
    pub(super) fn commit(&self, text: &str) -> Result<Result<(), String>, Failure> {
        self.check(text).map_err(bad)?;
        openclaw_actors::store::write_atomic(&self.path, text.as_bytes())
            .map_err(|e| broken(format!("cannot write {}: {e}", self.path.display())))?;
        let applied = self.apply_now();
        if let Err(why) = &applied {
            log::warn!(
                "wrote {} but did not apply it yet: {why}",
                self.path.display()
            );
        }
        Ok(applied)
    }

    fn agents_create(&self, params: &Value) -> Result<Value, Failure> {
        const M: &str = "agents.create";
        let obj = object(
            M,
            params,
            &["name", "workspace", "model", "emoji", "avatar"],
        )?;
        let raw_name = required(M, obj, "name")?;
        let name = line(raw_name, "name")?.ok_or_else(|| bad("agent name is required"))?;
        let id = normalize_id(&name).ok_or_else(|| {
            bad(format!(
                "Agent name \"{name}\" has no valid id characters. Use at least one letter a-z or digit."
            ))
        })?;
        if RESERVED.contains(&id.as_str()) {
            return Err(bad(format!("\"{id}\" is reserved")));
        }
        let model = model_param(M, obj, false)?.flatten();
        let fields = identity_fields(obj, M, Some(&name))?;
        let (text, doc) = current(self)?;
        let form = Form::of(&doc);
        let exists = match &form {
            Form::Implicit => id == openclaw_actors::agents::MAIN,
            f => f.find(&id).is_some(),
        };
        if exists {
            return Err(bad(format!("agent \"{id}\" already exists")));
        }
        let workspace = match str_param(M, obj, "workspace")?
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(w) => super::absolute_dir(w, "workspace", home().as_deref()).map_err(bad)?,
            None => default_workspace(&doc, &self.state_dir, &id)?,
        };
        let (_, now) = self.check_prepared(&text).map_err(broken)?;
        let before = owner_of(&now);
        let mut entry = Map::new();
        entry.insert("name".into(), json!(name));
        entry.insert("workspace".into(), json!(workspace.display().to_string()));
        if let Some(m) = &model {
            entry.insert("model".into(), json!(m));
        }
        let mut identity = Map::new();
        for (k, v) in &fields {
            if matches!(*k, "name" | "emoji" | "avatar") {
                identity.insert((*k).to_owned(), json!(v));
            }
        }
        entry.insert("identity".into(), Value::Object(identity));
        let mut new_text = match &form {
            Form::List(list) => {
                let mut list = list.clone();
                let mut e = Map::new();
                e.insert("id".into(), json!(id));
                e.extend(entry);
                list.push(Value::Object(e));
                edit::set(&text, &path(&["agents", "list"]), &Value::Array(list)).map_err(bad)?
            }
            Form::Implicit => {
                // The single agent is written out, so it stays the default with its
                // sessions and workspace.
                let t = edit::set(
                    &text,
                    &path(&["agents", "entries", openclaw_actors::agents::MAIN]),
                    &json!({}),
                )
                .map_err(bad)?;
                edit::set(
                    &t,
                    &path(&["agents", "entries", &id]),
                    &Value::Object(entry),
                )
                .map_err(bad)?
            }
            Form::Entries(_) => edit::set(
                &text,
                &path(&["agents", "entries", &id]),
                &Value::Object(entry),
            )
            .map_err(bad)?,
        };
        // Unbound messages keep going where they went: the agent that answered them is
        // marked `default: true` (OpenClaw's legacy marker, which its own config check
        // accepts for a fleet) when the bigger roster would leave them unanswered.
        let (_, mut prepared) = self.check_prepared(&new_text).map_err(bad)?;
        let explicit = doc["agents"]["ownership"].as_str() == Some("explicit");
        if let Some(owner) = before.filter(|_| !explicit)
            && owner_of(&prepared).as_deref() != Some(owner.as_str())
        {
            let form = Form::of(&json5::from_str(&new_text).unwrap_or(Value::Null));
            let key = form.find(&owner).ok_or_else(|| {
                broken(format!(
                    "the agent \"{owner}\" is not in the roster any more"
                ))
            })?;
            new_text = edit_entry(&new_text, &form, &key, &[(&["default"], Some(json!(true)))])?;
            prepared = self.check_prepared(&new_text).map_err(bad)?.1;
        }
        seed(&workspace, prepared.skip_bootstrap)?;
        write_identity(&workspace, &fields)?;
        // Not applied (`gateway.reload.mode` off): written, and `commit` logged why.
        let _ = self.commit(&new_text)?;
        log::info!(
            "agents.create: added agent {id} (workspace {})",
            workspace.display()
        );
        let mut out = json!({
            "ok": true,
            "agentId": id,
            "name": name,
            "workspace": workspace.display().to_string(),
        });
        if let Some(m) = model {
            out["model"] = json!(m);
        }
        Ok(out)
    }

    fn agents_update(&self, params: &Value) -> Result<Value, Failure> {
        const M: &str = "agents.update";
        let obj = object(
            M,
            params,
            &[
                "agentId",
                "name",
                "workspace",
                "model",
                "agentRuntime",
                "emoji",
                "avatar",
            ],
        )?;
        let raw_id = required(M, obj, "agentId")?;
        let not_found = || not_found(raw_id);
        let id = normalize_id(raw_id).ok_or_else(not_found)?;
        // The built-in runtime (`openclaw`, or `auto`) is the only one here.
        if let Some(runtime) = str_param(M, obj, "agentRuntime")?
            && !matches!(runtime.trim(), "openclaw" | "auto")
        {
            return Err(bad(format!(
                "agentRuntime \"{}\" is not available: openclaw-rs runs every agent itself (\"openclaw\"). Fix: leave it out",
                runtime.chars().take(40).collect::<String>()
            )));
        }
        let name = match str_param(M, obj, "name")? {
            Some(n) => Some(line(n, "name")?.ok_or_else(|| {
                bad("invalid agents.update params: name must be a non-empty string")
            })?),
            None => None,
        };
        let model = model_param(M, obj, true)?;
        let fields = identity_fields(obj, M, name.as_deref())?;
        let workspace = match str_param(M, obj, "workspace")?
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(w) => Some(super::absolute_dir(w, "workspace", home().as_deref()).map_err(bad)?),
            None => None,
        };
        let (text, doc) = current(self)?;
        let mut form = Form::of(&doc);
        let mut base = text.clone();
        if matches!(form, Form::Implicit) {
            if id != openclaw_actors::agents::MAIN {
                return Err(not_found());
            }
            // The single agent gets an entry of its own to hold the change.
            base = edit::set(&base, &path(&["agents", "entries", &id]), &json!({})).map_err(bad)?;
            form = Form::of(&json5::from_str(&base).unwrap_or(Value::Null));
        }
        let key = form.find(&id).ok_or_else(not_found)?;
        let mut sets: Vec<(&[&str], Option<Value>)> = Vec::new();
        if let Some(n) = &name {
            sets.push((&["name"], Some(json!(n))));
            sets.push((&["identity", "name"], Some(json!(n))));
        }
        for (k, v) in &fields {
            match *k {
                "emoji" => sets.push((&["identity", "emoji"], Some(json!(v)))),
                "avatar" => sets.push((&["identity", "avatar"], Some(json!(v)))),
                _ => {}
            }
        }
        if let Some(w) = &workspace {
            sets.push((&["workspace"], Some(json!(w.display().to_string()))));
        }
        match &model {
            Some(Some(m)) => sets.push((&["model"], Some(json!(m)))),
            Some(None) => sets.push((&["model"], None)),
            None => {}
        }
        let new_text = edit_entry(&base, &form, &key, &sets)?;
        let (_, prepared) = self.check_prepared(&new_text).map_err(bad)?;
        let agent_ws = prepared
            .agents
            .as_ref()
            .and_then(|r| r.get(&id))
            .map(|a| a.workspace.dir.clone())
            .unwrap_or_else(|| prepared.workspace.dir.clone());
        if workspace.is_some() {
            seed(&agent_ws, prepared.skip_bootstrap)?;
        }
        write_identity(&agent_ws, &fields)?;
        if new_text != text {
            let _ = self.commit(&new_text)?;
        }
        log::info!("agents.update: updated agent {id}");
        Ok(json!({"ok": true, "agentId": id}))
    }

    fn agents_delete(&self, params: &Value) -> Result<Value, Failure> {
        const M: &str = "agents.delete";
        let obj = object(M, params, &["agentId", "deleteFiles"])?;
        let raw_id = required(M, obj, "agentId")?;
        let not_found = || not_found(raw_id);
        let id = normalize_id(raw_id).ok_or_else(not_found)?;
        let delete_files = match obj.get("deleteFiles") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(bad(
                    "invalid agents.delete params: deleteFiles must be boolean",
                ));
            }
        };
        let (text, doc) = current(self)?;
        let form = Form::of(&doc);
        let (_, prepared) = self.check_prepared(&text).map_err(broken)?;
        let roster = prepared.agents.as_ref();
        let count = roster.map_or(1, |r| r.agents().len());
        let key = form.find(&id);
        let implicit_main = matches!(form, Form::Implicit) && id == openclaw_actors::agents::MAIN;
        if count <= 1 && (key.is_some() || implicit_main) {
            return Err(bad(format!(
                "Agent \"{id}\" is the only configured agent and cannot be deleted."
            )));
        }
        let key = key.ok_or_else(not_found)?;
        let workspace = roster
            .and_then(|r| r.get(&id))
            .map(|a| a.workspace.dir.clone());
        // Kept when another agent's workspace is the same, inside it or around it.
        let shared = workspace.as_ref().is_some_and(|w| {
            use openclaw_actors::workspace::confined::real_path_of;
            let w = real_path_of(w);
            roster.is_some_and(|r| {
                r.agents().iter().any(|a| {
                    let o = real_path_of(&a.workspace.dir);
                    a.id != id && (o.starts_with(&w) || w.starts_with(&o))
                })
            })
        });
        // The entry goes, then what routes or delegates to it.
        let mut new_text = match &form {
            Form::List(list) => {
                let i: usize = key.parse().map_err(|_| broken("bad agents.list index"))?;
                let mut list = list.clone();
                list.remove(i);
                edit::set(&text, &path(&["agents", "list"]), &Value::Array(list)).map_err(bad)?
            }
            _ => edit::unset(&text, &path(&["agents", "entries", &key]))
                .map_err(bad)?
                .unwrap_or_else(|| text.clone()),
        };
        let mut removed_bindings = 0usize;
        if let Some(Value::Array(b)) = doc.get("bindings") {
            let kept: Vec<Value> = b
                .iter()
                .filter(|x| {
                    x.get("agentId")
                        .and_then(Value::as_str)
                        .and_then(normalize_id)
                        .is_none_or(|a| a != id)
                })
                .cloned()
                .collect();
            removed_bindings = b.len() - kept.len();
            if removed_bindings > 0 {
                new_text =
                    edit::set(&new_text, &path(&["bindings"]), &Value::Array(kept)).map_err(bad)?;
            }
        }
        let prune = |v: &Value| -> Option<Value> {
            let Value::Array(a) = v else { return None };
            let kept: Vec<Value> = a
                .iter()
                .filter(|x| x.as_str().and_then(normalize_id).is_none_or(|a| a != id))
                .cloned()
                .collect();
            (kept.len() != a.len()).then_some(Value::Array(kept))
        };
        if let Some(v) = prune(&doc["agents"]["defaults"]["subagents"]["allowAgents"]) {
            new_text = edit::set(
                &new_text,
                &path(&["agents", "defaults", "subagents", "allowAgents"]),
                &v,
            )
            .map_err(bad)?;
        }
        let after = Form::of(&json5::from_str(&new_text).unwrap_or(Value::Null));
        if let Form::Entries(m) = &after {
            for (k, e) in m {
                if let Some(v) = prune(&e["subagents"]["allowAgents"]) {
                    new_text = edit_entry(
                        &new_text,
                        &after,
                        k,
                        &[(&["subagents", "allowAgents"], Some(v))],
                    )?;
                }
            }
        }
        let applied = self.commit(&new_text)?;
        log::info!("agents.delete: removed agent {id} ({removed_bindings} binding(s) removed)");
        let mut out = json!({"ok": true, "agentId": id, "removedBindings": removed_bindings});
        if !delete_files {
            return Ok(out);
        }
        let mut paths: Vec<PathBuf> = Vec::new();
        if let Some(w) = workspace.filter(|_| !shared) {
            paths.push(w);
        } else if shared {
            log::info!("agents.delete: kept the workspace of {id}: another agent uses it");
        }
        paths.push(self.state_dir.join("agents").join(&id));
        let mut removed = Vec::new();
        let mut failed = Vec::new();
        for p in paths {
            let shown = p.display().to_string();
            if let Err(why) = &applied {
                failed.push(json!({"path": shown, "reason": format!("kept: the change is not applied yet ({why})")}));
                continue;
            }
            match trash(&p, &self.state_dir, self.path.as_path()) {
                Ok(Some(to)) => {
                    log::info!("agents.delete: moved {shown} to {}", to.display());
                    removed.push(json!({"path": shown, "method": "trash"}));
                }
                Ok(None) => removed.push(json!({"path": shown, "method": "missing"})),
                Err(why) => {
                    log::warn!("agents.delete: {shown} was not moved to the trash: {why}");
                    failed.push(json!({"path": shown, "reason": why}));
                }
            }
        }
        out["removed"] = json!(removed);
        if !failed.is_empty() {
            out["failed"] = json!(failed);
        }
        Ok(out)
    }
}

/// The trash: `~/.Trash` as OpenClaw's (`<state>/.Trash` without a home).
fn trash_dir(state_dir: &Path) -> PathBuf {
    home()
        .unwrap_or_else(|| state_dir.to_path_buf())
        .join(".Trash")
}

/// Moves `p` into a fresh directory of the trash (rename; across file systems a copy,
/// then removal). `Ok(None)`: nothing there. Refused: the root, the home directory or a
/// directory holding it, the state directory, the config file or the trash itself, or
/// anything holding them.
fn trash(p: &Path, state_dir: &Path, config: &Path) -> Result<Option<PathBuf>, String> {
    use openclaw_actors::workspace::confined::real_path_of;
    if std::fs::symlink_metadata(p).is_err() {
        return Ok(None);
    }
    let real = real_path_of(p);
    let bin = trash_dir(state_dir);
    let mut guarded = vec![
        real_path_of(state_dir),
        real_path_of(config),
        real_path_of(&bin),
    ];
    if let Some(h) = home() {
        guarded.push(real_path_of(&h));
    }
    if real.parent().is_none() || guarded.iter().any(|g| g.starts_with(&real)) {
        return Err(format!(
            "{} holds the home, state or trash directory or the config file; remove it by hand",
            p.display()
        ));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&bin)
        .map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    let holder = bin.join(format!(
        ".openclaw-trash-{}-{}",
        openclaw_actors::util::now_ms(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&holder)
        .map_err(|e| format!("cannot create {}: {e}", holder.display()))?;
    let name = p
        .file_name()
        .unwrap_or_else(|| std::ffi::OsStr::new("trashed"));
    let to = holder.join(name);
    match std::fs::rename(p, &to) {
        Ok(()) => Ok(Some(to)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            copy_tree(p, &to).map_err(|e| format!("cannot copy it to {}: {e}", to.display()))?;
            let gone = if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
            gone.map_err(|e| format!("copied to {} but cannot remove it: {e}", to.display()))?;
            Ok(Some(to))
        }
        Err(e) => {
            let _ = std::fs::remove_dir(&holder);
            Err(e.to_string())
        }
    }
}

/// Copies `from` to `to`: directories recursively, symlinks as symlinks, files with their
/// permissions.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(from)?;
    if m.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if m.is_dir() {
        std::fs::create_dir(to)?;
        std::fs::set_permissions(to, m.permissions())?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else if m.is_file() {
        std::fs::copy(from, to).map(|_| ())
    } else {
        Ok(())
    }
}

use std::os::unix::fs::DirBuilderExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_normalize_as_openclaws() {
        for (raw, want) in [
            ("Work", Some("work")),
            ("  Research Bot ", Some("research-bot")),
            ("a__b--c", Some("a__b--c")),
            ("--x!!y--", Some("x-y")),
            ("Ünïcode ✓ name", Some("n-code-name")),
            ("🙂", None),
            ("", None),
            ("-_x", Some("x")),
        ] {
            assert_eq!(normalize_id(raw).as_deref(), want, "{raw:?}");
        }
        let long = "a".repeat(100);
        assert_eq!(normalize_id(&long).map(|s| s.len()), Some(64));
        let cut = format!("{}-b", "a".repeat(63));
        assert_eq!(normalize_id(&cut).as_deref(), Some("a".repeat(63).as_str()));
    }

    #[test]
    fn lines_fold_whitespace_and_controls_and_are_bounded() {
        assert_eq!(
            line("  Ada\n- Avatar: x\u{2028}\u{0}y ", "name")
                .expect("ok")
                .as_deref(),
            Some("Ada - Avatar: x y")
        );
        assert_eq!(line(" \t\n", "name").expect("ok"), None);
        assert!(line(&"x".repeat(201), "name").is_err());
    }

    #[test]
    fn identity_merges_into_the_template_and_keeps_the_rest() {
        let template = openclaw_actors::workspace::TEMPLATES[2].1;
        let out = merge_identity(
            Some(template),
            &[("name", "Ada".to_owned()), ("emoji", "🦉".to_owned())],
        );
        assert!(out.contains("- Name: Ada\n"), "{out}");
        assert!(out.contains("- Emoji: 🦉\n"), "{out}");
        assert!(out.contains("Creature"), "{out}");
        assert!(!out.contains("**Name:**"), "{out}");
        let parsed = openclaw_actors::workspace::Identity::parse(&out);
        assert_eq!(parsed.name.as_deref(), Some("Ada"));
        assert_eq!(parsed.emoji.as_deref(), Some("🦉"));

        // New file; duplicates collapse; an avatar goes after the last identity line.
        let fresh = merge_identity(None, &[("name", "Bo".to_owned())]);
        assert_eq!(fresh, "# IDENTITY.md - Agent Identity\n\n- Name: Bo\n");
        let dup = "# Me\n- Name: a\nnotes\n- **Name:** b\n- Vibe: calm\n";
        let out = merge_identity(
            Some(dup),
            &[("name", "c".to_owned()), ("avatar", "a.png".to_owned())],
        );
        assert_eq!(
            out,
            "# Me\n- Name: c\nnotes\n- Vibe: calm\n- Avatar: a.png\n"
        );
    }

    /// `IDENTITY.md` is the agent's to write: whatever it holds, the merge keeps the file's
    /// other lines and the fields read back as given.
    #[test]
    fn identity_merges_into_any_file_the_agent_wrote() {
        let hostile = [
            String::new(),
            "\n\n\n".to_owned(),
            "-".repeat(10_000),
            "- Name:\r\n- Name: x\r\n- NAME : y\r\n- **Emoji:**🦀\r\n".to_owned(),
            "#\n#\n- :\n-:\n:- \n- Avatar\n".to_owned(),
            "\u{202e}- Name: evil\u{2028}- Emoji: 💀\n".to_owned(),
            "# T\n\n".repeat(500),
            "- Name: a\n".repeat(1000),
        ];
        for (i, text) in hostile.iter().enumerate() {
            let fields = [
                ("name", "Ada Lovelace".to_owned()),
                ("emoji", "🦉".to_owned()),
                ("avatar", "avatars/ada.png".to_owned()),
            ];
            let out = merge_identity(Some(text), &fields);
            let parsed = openclaw_actors::workspace::Identity::parse(&out);
            assert_eq!(parsed.name.as_deref(), Some("Ada Lovelace"), "case {i}");
            assert_eq!(parsed.emoji.as_deref(), Some("🦉"), "case {i}");
            assert_eq!(
                parsed.avatar.as_deref(),
                Some("avatars/ada.png"),
                "case {i}"
            );
            assert_eq!(out.matches("- Name: Ada Lovelace").count(), 1, "case {i}");
            assert!(out.ends_with('\n') && !out.ends_with("\n\n"), "case {i}");
        }
    }
}
