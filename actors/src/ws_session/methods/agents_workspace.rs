//! `agents.workspace.list|get` (OpenClaw's `server-methods/agents-workspace.ts`): the
//! read-only browser of an agent's workspace that OpenClaw's Control UI and apps show.
//!
//! - Paths are workspace-relative (`\` read as `/`, empty and `.` parts dropped); an
//!   absolute path is `workspace_path_invalid`, and so is one whose `..` leaves the
//!   workspace. Nothing is followed through a symbolic link: a path with one on the way is
//!   not found, and a listing leaves links out (as OpenClaw's `symlinks: "reject"`); a
//!   hard-linked file is not read (it may be a file outside the workspace).
//! - `list {agentId, path?, offset?, limit?}`: directories first, then files, by name (case
//!   folded, as OpenClaw's `localeCompare` orders them; dot files included, as there);
//!   `limit` 250 by default, at most 500; at most [`MAX_SCAN`] entries of a directory are
//!   looked at.
//! - `get {agentId, path}`: UTF-8 text up to 256 KiB (`encoding: "utf8"`), an image (by its
//!   extension, typed by its bytes) up to 5 MiB as base64; anything else is
//!   `workspace_file_unsupported`, larger is `workspace_file_too_large`.
//!
//! Errors are `INVALID_REQUEST` with `details.type` as OpenClaw's.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "agents.workspace.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::agents_workspace_list,
    },
    Method {
        name: "agents.workspace.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::agents_workspace_get,
    },
];

/// OpenClaw's default page.
const DEFAULT_LIMIT: u64 = 250;
/// OpenClaw's largest page.
const MAX_LIMIT: u64 = 500;
/// Entries of one directory looked at, at most (a bound on a directory of millions).
pub const MAX_SCAN: usize = 10_000;
/// OpenClaw's `WORKSPACE_PREVIEW_MAX_BYTES`.
const MAX_TEXT: u64 = 256 * 1024;
/// OpenClaw's image preview limit.
const MAX_IMAGE: u64 = 5 * 1024 * 1024;
/// Extensions read as images (OpenClaw's).
const IMAGE_EXTENSIONS: &[&str] = &[
    "avif", "bmp", "gif", "heic", "heif", "jpeg", "jpg", "png", "webp",
];

fn werr(kind: &str, message: &str, details: Value) -> ErrorShape {
    let mut d = json!({"type": kind});
    if let (Some(o), Value::Object(more)) = (d.as_object_mut(), details) {
        o.extend(more);
    }
    ErrorShape::invalid(message).with_details(d)
}

/// A checked request: the agent, its workspace and the browser path (`""`: the root).
struct Scope {
    agent: String,
    root: PathBuf,
    path: String,
}

/// OpenClaw's `normalizeRelativePath` and containment check: `Err` for an absolute path or
/// one that leaves the workspace.
fn browser_path(raw: &str) -> Result<String, ErrorShape> {
    let portable = raw.replace('\\', "/");
    let bytes = raw.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if portable.starts_with('/') || drive {
        return Err(werr(
            "workspace_path_invalid",
            "path must be workspace-relative",
            json!({"path": shown(raw)}),
        ));
    }
    if raw.contains('\0') || raw.len() > crate::workspace::confined::MAX_PATH_BYTES {
        return Err(werr(
            "workspace_path_invalid",
            "path is not a usable workspace path",
            json!({"path": shown(raw)}),
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in portable.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if p == ".." {
            if parts.pop().is_none() {
                return Err(werr(
                    "workspace_path_invalid",
                    "path escapes the agent workspace",
                    json!({"path": shown(raw)}),
                ));
            }
        } else {
            parts.push(p);
        }
    }
    Ok(parts.join("/"))
}

/// At most 200 characters of a caller's path, for an error's details.
fn shown(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `root/path` when no part of it is a symbolic link (and it exists): the path to use.
fn no_links(root: &Path, path: &str) -> Option<PathBuf> {
    let mut at = root.to_path_buf();
    if std::fs::symlink_metadata(&at)
        .ok()?
        .file_type()
        .is_symlink()
    {
        // The workspace itself may be a link (a user's choice): its canonical place.
        at = std::fs::canonicalize(&at).ok()?;
    }
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push(part);
        if std::fs::symlink_metadata(&at)
            .ok()?
            .file_type()
            .is_symlink()
        {
            return None;
        }
    }
    Some(at)
}

/// The image type of `data` by its bytes (OpenClaw's supported preview types).
fn image_mime(data: &[u8]) -> Option<&'static str> {
    if let Some((mime, _, _)) = crate::media::sniff(data)
        && mime.starts_with("image/")
    {
        return Some(mime);
    }
    if data.starts_with(b"BM") && data.len() > 14 {
        return Some("image/bmp");
    }
    if data.len() >= 12 && &data[4..8] == b"ftyp" {
        return match &data[8..12] {
            b"avif" | b"avis" => Some("image/avif"),
            b"heic" | b"heix" | b"heim" | b"heis" => Some("image/heic"),
            b"mif1" | b"msf1" => Some("image/heif"),
            _ => None,
        };
    }
    None
}

/// `list`, on a blocking thread.
fn list(s: &Scope, offset: u64, limit: u64) -> Result<Value, ErrorShape> {
    let not_found = || {
        werr(
            "workspace_path_not_found",
            "workspace directory not found",
            json!({"path": s.path}),
        )
    };
    let dir = no_links(&s.root, &s.path).ok_or_else(not_found)?;
    if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Err(not_found());
    }
    let reader = std::fs::read_dir(&dir).map_err(|_| not_found())?;
    // (directory, the name folded for ordering, the name, the entry).
    let mut entries: Vec<(bool, String, String, Value)> = Vec::new();
    for entry in reader.take(MAX_SCAN).flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            "file"
        } else if ft.is_dir() {
            "directory"
        } else {
            // Links, sockets, devices: left out.
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if s.path.is_empty() {
            name.clone()
        } else {
            format!("{}/{name}", s.path)
        };
        let mut e = json!({"path": path, "name": name, "kind": kind, "updatedAtMs": super::agents_files::mtime_ms(&meta).unwrap_or(0)});
        if ft.is_file() {
            e["size"] = json!(meta.len());
        }
        entries.push((ft.is_dir(), name.to_lowercase(), name, e));
    }
    entries.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    let total = entries.len();
    let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    let limit = usize::try_from(limit.min(MAX_LIMIT)).unwrap_or(250);
    let page: Vec<Value> = entries
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, _, _, e)| e)
        .collect();
    let mut out = json!({
        "agentId": s.agent, "path": s.path, "entries": page,
        "totalEntries": total, "offset": offset,
    });
    if !s.path.is_empty() {
        out["parentPath"] = json!(s.path.rsplit_once('/').map_or("", |(p, _)| p));
    }
    Ok(out)
}

/// `get`, on a blocking thread.
fn get(s: &Scope) -> Result<Value, ErrorShape> {
    let not_found = || {
        werr(
            "workspace_file_not_found",
            "workspace file not found",
            json!({"path": s.path}),
        )
    };
    if s.path.is_empty() {
        return Err(not_found());
    }
    let file_path = no_links(&s.root, &s.path).ok_or_else(not_found)?;
    let meta = std::fs::symlink_metadata(&file_path).map_err(|_| not_found())?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(not_found());
    }
    let ext = Path::new(&s.path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let image = ext
        .as_deref()
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e));
    let max = if image { MAX_IMAGE } else { MAX_TEXT };
    // The workspace's own confined read: a regular file only, opened without blocking,
    // checked to be inside the workspace once open, at most `max` bytes.
    let too_large = |size: u64| {
        werr(
            "workspace_file_too_large",
            "workspace file is too large to preview",
            json!({"maxBytes": max, "path": s.path, "size": size}),
        )
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let read = crate::workspace::confined::Root::new(s.root.clone())
        .read(&s.path, usize::try_from(max).unwrap_or(usize::MAX))
        .map_err(|e| match e {
            crate::workspace::confined::ConfinedError::TooLarge { size, .. } => too_large(size),
            _ => not_found(),
        })?
        .ok_or_else(not_found)?;
    let (data, size, updated) = (read.bytes, read.len, read.modified_ms);
    let name = s.path.rsplit('/').next().unwrap_or(&s.path).to_owned();
    let unsupported = || {
        werr(
            "workspace_file_unsupported",
            "workspace file is not UTF-8 text or a supported image",
            json!({"path": s.path}),
        )
    };
    let (mime, encoding, content) = if image {
        use base64::Engine as _;
        let mime = image_mime(&data).ok_or_else(unsupported)?;
        (
            mime,
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&data),
        )
    } else {
        let text = String::from_utf8(data).map_err(|_| unsupported())?;
        ("text/plain", "utf8", text)
    };
    Ok(json!({"agentId": s.agent, "file": {
        "path": s.path, "name": name, "size": size, "updatedAtMs": updated,
        "mimeType": mime, "encoding": encoding, "content": content,
    }}))
}

impl WsSession {
    /// The agent and path of a workspace call (OpenClaw's checks, in its words).
    fn workspace_scope(
        &self,
        m: &str,
        call: &Call,
        keys: &[&str],
    ) -> Result<(Scope, Value), ErrorShape> {
        let o = obj(m, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, keys);
        c.required("", o, "agentId");
        if m == "agents.workspace.get" {
            c.required("", o, "path");
        }
        let agent = c.string("", o, "agentId", true);
        let path = c.string("", o, "path", m == "agents.workspace.get");
        c.integer("", o, "offset", 0);
        c.integer("", o, "limit", 1);
        let Some(agent) = agent.filter(|_| c.ok()) else {
            return Err(fail(m, &c));
        };
        let id = agent.trim().to_ascii_lowercase();
        let live = self.shared.live.get();
        let Some(def) = live.agents.get(&id) else {
            return Err(ErrorShape::invalid(format!(
                "agent \"{}\" not found",
                agent.chars().take(64).collect::<String>()
            )));
        };
        let path = browser_path(path.unwrap_or(""))?;
        Ok((
            Scope {
                agent: id,
                root: def.workspace.dir.clone(),
                path,
            },
            call.params.clone(),
        ))
    }

    /// `agents.workspace.list {agentId, path?, offset?, limit?}`.
    fn agents_workspace_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "agents.workspace.list";
        let (scope, params) =
            match self.workspace_scope(M, &call, &["agentId", "path", "offset", "limit"]) {
                Ok(s) => s,
                Err(e) => return self.respond_err(&call.id, &e, ctx),
            };
        let offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0);
        let limit = params
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_LIMIT);
        let fut = async move {
            actix_web::rt::task::spawn_blocking(move || list(&scope, offset, limit))
                .await
                .unwrap_or_else(|_| Err(ErrorShape::unavailable("the workspace could not be read")))
        };
        self.reply_with(call.id, fut, ctx);
    }

    /// `agents.workspace.get {agentId, path}`.
    fn agents_workspace_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "agents.workspace.get";
        let (scope, _) = match self.workspace_scope(M, &call, &["agentId", "path"]) {
            Ok(s) => s,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let fut = async move {
            actix_web::rt::task::spawn_blocking(move || get(&scope))
                .await
                .unwrap_or_else(|_| Err(ErrorShape::unavailable("the workspace could not be read")))
        };
        self.reply_with(call.id, fut, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_workspace_relative_and_stay_inside() {
        assert_eq!(browser_path("").ok().as_deref(), Some(""));
        assert_eq!(browser_path("./a//b/./c").ok().as_deref(), Some("a/b/c"));
        assert_eq!(browser_path("a\\b").ok().as_deref(), Some("a/b"));
        assert_eq!(browser_path("a/../b").ok().as_deref(), Some("b"));
        for bad in [
            "/etc/passwd",
            "\\\\server\\share",
            "C:\\x",
            "..",
            "a/../../b",
            "x\0y",
        ] {
            assert!(browser_path(bad).is_err(), "{bad:?}");
        }
        assert!(browser_path(&"a/".repeat(5000)).is_err());
    }

    #[test]
    fn images_are_typed_by_their_bytes() {
        assert_eq!(image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_mime(b"GIF89a......"), Some("image/gif"));
        assert_eq!(image_mime(b"\0\0\0\x1cftypavif\0\0"), Some("image/avif"));
        assert_eq!(
            image_mime(b"\0\0\0\x1cftypisom\0\0"),
            None,
            "an mp4 is no image"
        );
        assert_eq!(image_mime(b"#!/bin/sh\n"), None);
    }
}
