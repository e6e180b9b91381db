//! `agents.files.list|get|set` (OpenClaw's `server-methods/agents-files.ts`): the Control
//! UI's editor of the agent's workspace files (`SOUL.md`, `AGENTS.md`, …). Only the
//! bootstrap files can be named; a symlink or a hard-linked file is refused as unsafe, as in
//! OpenClaw; a write is atomic (mode 0600) and, given `expectedHash`, refused when the file
//! changed since it was read.

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::workspace::{FILES, MAX_FILE_BYTES, WorkspaceSettings};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "agents.files.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::agents_files_list),
    },
    Method {
        name: "agents.files.get",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::agents_files_get),
    },
    Method {
        name: "agents.files.set",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::agents_files_set),
    },
    Method {
        name: "agent.identity.get",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::agent_identity_get),
    },
];

/// `agent.identity.get {agentId?, sessionKey?}` (OpenClaw's closed schema): the agent of the
/// session key, else `agentId`, else the default agent.
pub(crate) struct IdentityParams {
    agent: String,
}

impl Params for IdentityParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "agent.identity.get";
        let empty = serde_json::Map::new();
        let o = match &call.params {
            Value::Null => &empty,
            p => obj(M, p)?,
        };
        let mut c = Checker::new();
        c.closed("", o, &["agentId", "sessionKey"]);
        let agent = c
            .string("", o, "agentId", true)
            .map(|a| a.trim().to_ascii_lowercase());
        let key = c.string("", o, "sessionKey", false).map(str::trim);
        if !c.ok() {
            return Err(fail(M, &c));
        }
        let from_key = match key.filter(|k| !k.is_empty()) {
            Some(k) if k.starts_with("agent:") => match crate::agents::key_agent(k) {
                Some(a) => Some(a.to_owned()),
                None => {
                    let shown: String = k.chars().take(100).collect();
                    return Err(ErrorShape::invalid(format!(
                        "invalid {M} params: malformed session key \"{shown}\""
                    )));
                }
            },
            // A bare key (`main`) is the default agent's.
            Some(_) => Some(crate::agents::default_id_now().to_string()),
            None => None,
        };
        if let (Some(a), Some(k)) = (&agent, &from_key)
            && a != k
        {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: agentId \"{a}\" does not match the session key's agent \"{k}\""
            )));
        }
        let agent = from_key
            .or(agent)
            .unwrap_or_else(|| crate::agents::default_id_now().to_string());
        if !crate::agents::known_now(&agent) {
            let shown: String = agent.chars().take(64).collect();
            return Err(ErrorShape::invalid(format!(
                "unknown agent id: {shown} (this gateway runs: {})",
                crate::agents::known_ids_now()
            )));
        }
        Ok(Self { agent })
    }
}

/// OpenClaw's identity answer for an agent: its configured name, else `IDENTITY.md`'s,
/// else `Assistant`; an avatar that is a short mark (an emoji, initials), an `http(s)` URL
/// or an image `data:` URL (a workspace file is not served here); an emoji.
fn identity_answer(
    agent: &str,
    configured: Option<&str>,
    configured_emoji: Option<&str>,
    file: &crate::workspace::Identity,
) -> Value {
    let cut = |s: &str, n: usize| -> String { s.trim().chars().take(n).collect() };
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (name, source) = match (
        configured.map(str::trim).filter(|n| !n.is_empty()),
        nonempty(&file.name),
    ) {
        (Some(n), _) => (cut(n, 100), "agent"),
        (None, Some(n)) => (cut(&n, 100), "workspace"),
        (None, None) => ("Assistant".to_owned(), "default"),
    };
    let is_url = |v: &str| {
        let l = v.to_ascii_lowercase();
        l.starts_with("https://") || l.starts_with("http://") || l.starts_with("data:image/")
    };
    let short_mark =
        |v: &str| !v.chars().any(char::is_whitespace) && v.chars().count() <= 4 && !v.contains('/');
    // The configured `identity.emoji` first, then `IDENTITY.md`'s.
    let configured_emoji = configured_emoji
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    let candidates = [
        nonempty(&file.avatar),
        configured_emoji.clone(),
        nonempty(&file.emoji),
    ];
    let avatar = candidates
        .iter()
        .flatten()
        .find(|v| (is_url(v) && v.len() <= 2 * 1024 * 1024) || short_mark(v))
        .cloned();
    let emoji = [
        configured_emoji,
        nonempty(&file.emoji),
        nonempty(&file.avatar),
    ]
    .into_iter()
    .flatten()
    .find(|v| !v.is_ascii() && !is_url(v) && !v.contains('/'))
    .map(|e| cut(&e, 16));
    let mut out = json!({"agentId": agent, "name": name, "nameSource": source});
    match avatar {
        Some(a) => {
            let status = if a.to_ascii_lowercase().starts_with("data:") {
                Some("data")
            } else if is_url(&a) {
                Some("remote")
            } else {
                None
            };
            if let Some(st) = status {
                out["avatarStatus"] = json!(st);
            }
            out["avatar"] = json!(a);
        }
        None => {
            out["avatar"] = json!("A");
            if file.avatar.is_some() {
                out["avatarStatus"] = json!("none");
                out["avatarReason"] =
                    json!("a workspace avatar file is not served by this gateway");
            }
        }
    }
    if let Some(e) = emoji {
        out["emoji"] = json!(e);
    }
    out
}

/// One file (OpenClaw's `AgentsFileEntry`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileEntry {
    name: &'static str,
    path: String,
    missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_absent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
}

impl FileEntry {
    fn missing(ws: &WorkspaceSettings, name: &'static str) -> Self {
        Self {
            name,
            path: ws.dir.join(name).display().to_string(),
            missing: true,
            // The optional profile files and the memory are offered for creation.
            expected_absent: Some(matches!(
                name,
                "SOUL.md" | "IDENTITY.md" | "USER.md" | "MEMORY.md"
            )),
            size: None,
            updated_at_ms: None,
            hash: None,
            content: None,
        }
    }
}

/// `agents.files.*` params.
pub(crate) struct FileParams {
    /// The agent (`agentId`, lower case).
    agent: String,
    /// The file (`None` for `list`).
    name: Option<&'static str>,
    /// `set`: the new content and the hash it replaces.
    content: Option<(String, Option<String>)>,
}

/// Checks `agentId` (and, for `get` / `set`, `name`, `content`, `expectedHash`).
fn parse(call: &Call, method: &str, keys: &[&str]) -> Result<FileParams, ErrorShape> {
    let o = obj(method, &call.params)?;
    let mut c = Checker::new();
    c.closed("", o, keys);
    for k in keys.iter().filter(|k| **k != "expectedHash") {
        c.required("", o, k);
    }
    let agent = c.string("", o, "agentId", true).map(str::trim);
    let name = c.string("", o, "name", true).map(str::trim);
    let content = match o.get("content") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            c.error("/content", "must be string");
            None
        }
    };
    let expected = c.string("", o, "expectedHash", true);
    if let Some(h) = expected
        && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        c.error("/expectedHash", "must match pattern \"^[a-fA-F0-9]{64}$\"");
    }
    if !c.ok() {
        return Err(fail(method, &c));
    }
    let agent = agent.unwrap_or_default().to_ascii_lowercase();
    if !crate::agents::known_now(&agent) {
        let shown: String = agent.chars().take(64).collect();
        return Err(ErrorShape::invalid(format!("agent \"{shown}\" not found")));
    }
    let name = match name {
        None => None,
        Some(n) => Some(
            FILES
                .into_iter()
                .find(|f| *f == n)
                .ok_or_else(|| ErrorShape::invalid(format!("unsupported file \"{n}\"")))?,
        ),
    };
    if let Some(s) = content
        && s.len() > MAX_FILE_BYTES
    {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: content is {} bytes, more than the {MAX_FILE_BYTES} a workspace file may hold",
            s.len()
        )));
    }
    Ok(FileParams {
        agent,
        name,
        content: content.map(|s| (s.to_owned(), expected.map(str::to_ascii_lowercase))),
    })
}

/// Marker types for the three methods' params.
pub(crate) struct ListParams(FileParams);
pub(crate) struct GetParams(FileParams);
pub(crate) struct SetParams(FileParams);

impl Params for ListParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        parse(call, "agents.files.list", &["agentId"]).map(Self)
    }
}
impl Params for GetParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        parse(call, "agents.files.get", &["agentId", "name"]).map(Self)
    }
}
impl Params for SetParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        parse(
            call,
            "agents.files.set",
            &["agentId", "name", "content", "expectedHash"],
        )
        .map(Self)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A regular, single-linked file that is not a symlink (`None`: missing); `Err` for a
/// symlink, a hard link or anything else (OpenClaw's "unsafe workspace file").
fn safe_meta(ws: &WorkspaceSettings, name: &str) -> Result<Option<std::fs::Metadata>, ErrorShape> {
    use std::os::unix::fs::MetadataExt as _;
    match std::fs::symlink_metadata(ws.dir.join(name)) {
        Ok(m) if m.file_type().is_file() && m.nlink() <= 1 => Ok(Some(m)),
        Ok(_) => Err(ErrorShape::invalid(format!(
            "unsafe workspace file \"{name}\""
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ErrorShape::unavailable(format!(
            "workspace file \"{name}\" cannot be read: {e}"
        ))),
    }
}

/// A file's modification time, ms since the Unix epoch.
pub(super) fn mtime_ms(m: &std::fs::Metadata) -> Option<u64> {
    let t = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(t.as_millis()).ok()
}

/// The file `name` with its content and hash (blocking).
fn read_entry(ws: &WorkspaceSettings, name: &'static str) -> Result<FileEntry, ErrorShape> {
    let Some(meta) = safe_meta(ws, name)? else {
        return Ok(FileEntry::missing(ws, name));
    };
    let read = ws
        .root()
        .read(name, MAX_FILE_BYTES)
        .map_err(|e| ErrorShape::invalid(format!("workspace file \"{name}\": {e}")))?;
    let Some(f) = read else {
        return Ok(FileEntry::missing(ws, name));
    };
    Ok(FileEntry {
        name,
        path: ws.dir.join(name).display().to_string(),
        missing: false,
        expected_absent: None,
        size: Some(f.bytes.len() as u64),
        updated_at_ms: mtime_ms(&meta),
        hash: Some(sha256_hex(&f.bytes)),
        content: Some(String::from_utf8_lossy(&f.bytes).into_owned()),
    })
}

/// Serializes `set`s (the hash check and the write are one step).
static WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes `name` unless it changed from `expected` (blocking).
fn write_entry(
    ws: &WorkspaceSettings,
    name: &'static str,
    content: &str,
    expected: Option<&str>,
) -> Result<FileEntry, ErrorShape> {
    let _serial = WRITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(expected) = expected {
        let current = read_entry(ws, name)?.hash;
        if current.as_deref() != Some(expected) {
            let mut details = json!({"type": "agent_file_conflict", "name": name});
            if let Some(h) = &current {
                details["currentHash"] = json!(h);
            }
            return Err(ErrorShape::invalid(format!(
                "agent file \"{name}\" changed since it was read"
            ))
            .with_details(details));
        }
    }
    // A symlink or hard link in the way is not written through.
    safe_meta(ws, name)?;
    ws.root()
        .write(name, content.as_bytes())
        .map_err(|e| ErrorShape::invalid(format!("workspace file \"{name}\": {e}")))?;
    Ok(FileEntry {
        name,
        path: ws.dir.join(name).display().to_string(),
        missing: false,
        expected_absent: None,
        size: Some(content.len() as u64),
        updated_at_ms: None,
        hash: Some(sha256_hex(content.as_bytes())),
        content: Some(content.to_owned()),
    })
}

/// The editable files (blocking): the bootstrap files but `IDENTITY.md` (OpenClaw's list),
/// and `BOOTSTRAP.md` only while the first-run ritual is pending (it exists and is not
/// empty).
fn list_entries(ws: &WorkspaceSettings) -> Vec<FileEntry> {
    FILES
        .into_iter()
        .filter(|n| *n != "IDENTITY.md")
        .filter_map(|name| {
            let meta = safe_meta(ws, name);
            if name == "BOOTSTRAP.md" && !matches!(&meta, Ok(Some(m)) if m.len() > 0) {
                return None;
            }
            Some(match meta {
                Ok(Some(m)) => FileEntry {
                    name,
                    path: ws.dir.join(name).display().to_string(),
                    missing: false,
                    expected_absent: None,
                    size: Some(m.len()),
                    updated_at_ms: mtime_ms(&m),
                    hash: None,
                    content: None,
                },
                _ => FileEntry::missing(ws, name),
            })
        })
        .collect()
}

fn answer(agent: &str, ws: &WorkspaceSettings, file: FileEntry) -> Value {
    json!({"agentId": agent, "workspace": ws.dir.display().to_string(), "file": file})
}

impl WsSession {
    /// `agent.identity.get`: the assistant's display identity (name, avatar, emoji), as the
    /// apps and the Control UI show it.
    fn agent_identity_get(&mut self, call: Call, p: IdentityParams, ctx: &mut Context<Self>) {
        let live = self.shared.live.get();
        let def = live.agents.get(&p.agent);
        let configured = def.and_then(|a| a.name.clone());
        let emoji = def.and_then(|a| a.mentions.emoji.clone());
        let ws = self.workspace(&p.agent);
        let agent = p.agent;
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    let file = crate::workspace::Identity::of(&ws);
                    identity_answer(&agent, configured.as_deref(), emoji.as_deref(), &file)
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }

    /// The workspace of `agent` (one of the roster's: checked by the params).
    fn workspace(&self, agent: &str) -> std::sync::Arc<WorkspaceSettings> {
        let live = self.shared.live.get();
        live.agents
            .get(agent)
            .unwrap_or_else(|| live.agents.default_agent())
            .workspace
            .clone()
    }

    fn agents_files_list(&mut self, call: Call, p: ListParams, ctx: &mut Context<Self>) {
        let agent = p.0.agent;
        let ws = self.workspace(&agent);
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    json!({"agentId": agent, "workspace": ws.dir.display().to_string(), "files": list_entries(&ws)})
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }

    fn agents_files_get(&mut self, call: Call, p: GetParams, ctx: &mut Context<Self>) {
        let agent = p.0.agent;
        let ws = self.workspace(&agent);
        let Some(name) = p.0.name else {
            return self.respond_err(&call.id, &ErrorShape::invalid("name is required"), ctx);
        };
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    read_entry(&ws, name).map(|f| answer(&agent, &ws, f))
                })
                .await
                .map_err(|_| gone())?
            },
            ctx,
        );
    }

    fn agents_files_set(&mut self, call: Call, p: SetParams, ctx: &mut Context<Self>) {
        let agent = p.0.agent;
        let ws = self.workspace(&agent);
        let (Some(name), Some((content, expected))) = (p.0.name, p.0.content) else {
            let err = ErrorShape::invalid("name and content are required");
            return self.respond_err(&call.id, &err, ctx);
        };
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    write_entry(&ws, name, &content, expected.as_deref()).map(|f| {
                        let mut v = answer(&agent, &ws, f);
                        v["ok"] = json!(true);
                        v
                    })
                })
                .await
                .map_err(|_| gone())?
            },
            ctx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Identity;

    #[test]
    fn identity_answers_follow_openclaws_precedence() {
        let file =
            Identity::parse("- **Name:** Haddock\n- **Emoji:** 🦜\n- **Avatar:** avatars/me.png\n");
        let a = identity_answer("main", Some("Captain"), None, &file);
        assert_eq!(a["name"], "Captain");
        assert_eq!(a["nameSource"], "agent");
        // A workspace file is not served: the emoji stands in as the avatar.
        assert_eq!(a["avatar"], "🦜");
        assert_eq!(a["emoji"], "🦜");
        let remote = Identity::parse("- Avatar: https://example.com/a.png\n");
        let a = identity_answer("main", None, None, &remote);
        assert_eq!(a["name"], "Assistant");
        assert_eq!(a["nameSource"], "default");
        assert_eq!(a["avatar"], "https://example.com/a.png");
        assert_eq!(a["avatarStatus"], "remote");
        let local = Identity::parse("- Avatar: ./me.png\n");
        let a = identity_answer("main", None, None, &local);
        assert_eq!(a["avatar"], "A");
        assert_eq!(a["avatarStatus"], "none");
        let long = "x".repeat(300);
        let a = identity_answer("main", Some(&long), None, &Identity::default());
        assert_eq!(a["name"].as_str().map(|n| n.chars().count()), Some(100));
        // The configured `identity.emoji` wins over the file's.
        let a = identity_answer("main", None, Some(" 🔥 "), &file);
        assert_eq!(a["emoji"], "🔥");
        assert_eq!(a["avatar"], "🔥");
    }
}
