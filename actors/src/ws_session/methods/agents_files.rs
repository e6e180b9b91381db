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
];

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

fn mtime_ms(m: &std::fs::Metadata) -> Option<u64> {
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
