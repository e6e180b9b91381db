//! `artifacts.list`, `artifacts.get`, `artifacts.download` (OpenClaw's
//! `server-methods/artifacts.ts`, its `ArtifactsListParams`/`GetParams`/`DownloadParams`
//! schemas): the files a session's transcript carries (a node's photo, a file the agent
//! attached, a picture a chat sent), found by the registry
//! ([`crate::registry::artifacts`]). A download answers the bytes as base64 over this
//! connection (also when the caller offers `transport: "http"`: the gateway has no
//! artifact URLs to hand out), from files of its media directories only, at most
//! [`MAX_MEDIA_BYTES`](crate::media::MAX_MEDIA_BYTES) each and
//! [`MAX_DOWNLOADING`] bytes for all downloads at once.

use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use base64::Engine as _;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::registry::artifacts::{
    Artifact, ArtifactScope, Artifacts, FindArtifacts, artifact_error,
};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "artifacts.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::artifacts_list,
    },
    Method {
        name: "artifacts.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::artifacts_get,
    },
    Method {
        name: "artifacts.download",
        access: MethodAccess::Operator(READ),
        handler: WsSession::artifacts_download,
    },
];

/// Bytes of files being downloaded at once, over every connection (each is held about three
/// times while it is read, encoded and sent): a download past it is refused as retryable.
pub const MAX_DOWNLOADING: u64 = 64 * 1024 * 1024;

/// Files being downloaded now, in bytes.
static DOWNLOADING: AtomicU64 = AtomicU64::new(0);

/// Images a page of `artifacts.list {type: "image"}` holds by default and at most.
const IMAGE_PAGE: u64 = 4;

/// The scope fields every artifact method takes.
const SCOPE_KEYS: [&str; 5] = ["sessionKey", "runId", "taskId", "agentId", "messageRole"];

/// The scope of a call's params, checked as OpenClaw's schema does; one of `sessionKey`,
/// `runId` and `taskId` is required.
fn scope(o: &serde_json::Map<String, Value>, c: &mut Checker) -> ArtifactScope {
    let role = c.string("", o, "messageRole", false);
    if role.is_some_and(|r| r != "assistant") {
        c.error("/messageRole", "must be equal to constant");
    }
    let mut text = |k: &str| c.string("", o, k, true).map(|s| s.trim().to_owned());
    ArtifactScope {
        session_key: text("sessionKey"),
        run_id: text("runId"),
        task_id: text("taskId"),
        agent_id: text("agentId"),
        assistant_only: role == Some("assistant"),
    }
}

/// A call's checked params: the scope, the artifact named (`get`, `download`: required) and
/// the params object, whose other `extra` keys the method reads itself.
struct Query<'a> {
    scope: ArtifactScope,
    artifact_id: String,
    params: &'a serde_json::Map<String, Value>,
}

fn parse<'a>(method: &str, params: &'a Value, extra: &[&str]) -> Result<Query<'a>, ErrorShape> {
    let o = obj(method, params)?;
    let mut c = Checker::new();
    let allowed: Vec<&str> = SCOPE_KEYS.iter().chain(extra).copied().collect();
    c.closed("", o, &allowed);
    let scope = scope(o, &mut c);
    let mut artifact_id = String::new();
    if extra.contains(&"artifactId") && c.required("", o, "artifactId") {
        artifact_id = c
            .string("", o, "artifactId", true)
            .unwrap_or("")
            .trim()
            .to_owned();
    }
    if extra.contains(&"transport")
        && c.string("", o, "transport", false)
            .is_some_and(|t| t != "http")
    {
        c.error("/transport", "must be equal to constant");
    }
    if !c.ok() {
        return Err(fail(method, &c));
    }
    if scope.session_key.is_none() && scope.run_id.is_none() && scope.task_id.is_none() {
        return Err(artifact_error(
            "artifact_query_unsupported",
            "artifacts require one of sessionKey, runId, or taskId",
            None,
        ));
    }
    Ok(Query {
        scope,
        artifact_id,
        params: o,
    })
}

/// Refused while [`MAX_DOWNLOADING`] bytes are being downloaded.
fn busy() -> ErrorShape {
    ErrorShape::unavailable("too many artifact downloads at once; retry in a moment")
        .retry_after(1000)
}

/// The artifact `id` of `found`, or OpenClaw's `artifact_not_found`.
fn pick(found: Artifacts, id: &str) -> Result<Artifact, ErrorShape> {
    found.items.into_iter().find(|a| a.id == id).ok_or_else(|| {
        let shown: String = id.chars().take(128).collect();
        artifact_error(
            "artifact_not_found",
            "artifact not found",
            Some(("artifactId", &shown)),
        )
    })
}

/// One page of `artifacts.list {type: "image"}`: newest first, `limit` of them after the
/// cursor's artifact. A cursor names the session's transcript and the last artifact shown;
/// after a reset (another transcript) or once that artifact left the transcript's end it
/// is refused, and the listing starts again.
fn image_page(found: &Artifacts, limit: usize, cursor: Option<&str>) -> Result<Value, ErrorShape> {
    let invalid = || {
        artifact_error(
            "artifact_cursor_invalid",
            "Image cursor expired or belongs to another session; restart artifacts.list",
            None,
        )
    };
    let newest: Vec<&Artifact> = found
        .items
        .iter()
        .rev()
        .filter(|a| a.kind == "image")
        .collect();
    let start = match cursor {
        None => 0,
        Some(c) => {
            let (session, last) = decode_cursor(c).ok_or_else(invalid)?;
            if session != found.session_id {
                return Err(invalid());
            }
            newest
                .iter()
                .position(|a| a.id == last)
                .ok_or_else(invalid)?
                .saturating_add(1)
        }
    };
    let page: Vec<&Artifact> = newest.iter().skip(start).take(limit).copied().collect();
    let mut out = json!({"artifacts": page.iter().map(|a| &a.summary).collect::<Vec<_>>()});
    if start.saturating_add(page.len()) < newest.len()
        && let Some(last) = page.last()
    {
        out["nextCursor"] = json!(encode_cursor(&found.session_id, &last.id));
    }
    Ok(out)
}

/// `c1.<base64url(session id, NUL, artifact id)>`.
fn encode_cursor(session: &str, artifact: &str) -> String {
    let raw = format!("{session}\0{artifact}");
    format!(
        "c1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn decode_cursor(c: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.strip_prefix("c1.")?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (s, a) = text.split_once('\0')?;
    Some((s.to_owned(), a.to_owned()))
}

/// A download's share of [`MAX_DOWNLOADING`], given back when dropped (after its answer is
/// serialized: it travels with it).
struct Reserved(u64);

impl Reserved {
    fn take(bytes: u64) -> Option<Self> {
        DOWNLOADING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|n| *n <= MAX_DOWNLOADING)
            })
            .ok()
            .map(|_| Self(bytes))
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        DOWNLOADING.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// A download's answer, with its reservation.
struct Downloaded {
    answer: Value,
    _reserved: Reserved,
}

impl serde::Serialize for Downloaded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.answer.serialize(s)
    }
}

/// Reads an artifact's file: only a regular file of at most `MAX_MEDIA_BYTES` (a file
/// swapped for a larger one, a link or a directory is not sent).
fn read_file(state_dir: &std::path::Path, rel: &str) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let path = state_dir.join(rel);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let max = crate::media::MAX_MEDIA_BYTES as u64;
    if !meta.is_file() || meta.len() > max {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::fs::File::open(&path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut data)?;
    Ok((data.len() as u64 <= max).then_some(data))
}

impl WsSession {
    /// `artifacts.list {sessionKey|runId|taskId, agentId?, messageRole?, type?, limit?,
    /// cursor?}` → `{artifacts, nextCursor?}`. Without `type`, every artifact of the
    /// transcript's end, oldest first; with `type: "image"`, pages of images, newest first.
    fn artifacts_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "artifacts.list";
        let parsed = parse(M, &call.params, &["type", "limit", "cursor"]).and_then(|q| {
            let o = q.params;
            let mut c = Checker::new();
            let images = match c.string("", o, "type", false) {
                None => false,
                Some("image") => true,
                Some(_) => {
                    c.error("/type", "must be equal to constant");
                    false
                }
            };
            let limit = c.integer("", o, "limit", 1);
            if limit.is_some_and(|n| n > IMAGE_PAGE) {
                c.error("/limit", &format!("must be <= {IMAGE_PAGE}"));
            }
            let cursor = c.string("", o, "cursor", false).map(str::to_owned);
            if cursor
                .as_ref()
                .is_some_and(|s| s.is_empty() || s.len() > 256)
            {
                c.error(
                    "/cursor",
                    "must NOT have fewer than 1 or more than 256 characters",
                );
            }
            if !c.ok() {
                return Err(fail(M, &c));
            }
            if !images && (limit.is_some() || cursor.is_some()) {
                return Err(artifact_error(
                    "artifact_query_unsupported",
                    "limit and cursor require type image",
                    None,
                ));
            }
            let page = usize::try_from(limit.unwrap_or(IMAGE_PAGE)).unwrap_or(4);
            Ok((q.scope, images.then_some((page, cursor))))
        });
        let (scope, images) = match parsed {
            Ok(p) => p,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.with_artifacts(call.id, scope, ctx, move |found| async move {
            match images {
                Some((limit, cursor)) => image_page(&found, limit, cursor.as_deref()),
                None => Ok(json!({
                    "artifacts": found.items.iter().map(|a| &a.summary).collect::<Vec<_>>()
                })),
            }
        });
    }

    /// Finds `scope`'s artifacts (the registry reads the transcript), then answers call `id`
    /// with what `then` makes of them.
    fn with_artifacts<F, Fut, T>(
        &mut self,
        id: String,
        scope: ArtifactScope,
        ctx: &mut Context<Self>,
        then: F,
    ) where
        F: FnOnce(Artifacts) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<T, ErrorShape>> + 'static,
        T: serde::Serialize + 'static,
    {
        let find = self.registry.send(FindArtifacts(scope));
        self.reply_with(
            id,
            async move { then(find.await.map_err(|_| gone())??).await },
            ctx,
        );
    }

    /// `artifacts.get {artifactId, sessionKey|runId|taskId, …}` → `{artifact}`.
    fn artifacts_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        let (scope, id) = match parse("artifacts.get", &call.params, &["artifactId"]) {
            Ok(q) => (q.scope, q.artifact_id),
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.with_artifacts(call.id, scope, ctx, move |found| async move {
            Ok(json!({"artifact": pick(found, &id)?.summary}))
        });
    }

    /// `artifacts.download {artifactId, sessionKey|runId|taskId, …, transport?}` →
    /// `{artifact, encoding: "base64", data}`.
    fn artifacts_download(&mut self, call: Call, ctx: &mut Context<Self>) {
        let parsed = parse(
            "artifacts.download",
            &call.params,
            &["artifactId", "transport"],
        );
        let (scope, id) = match parsed {
            Ok(q) => (q.scope, q.artifact_id),
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let state_dir = self.shared.config.state_dir.clone();
        self.with_artifacts(call.id, scope, ctx, move |found| async move {
            let artifact = pick(found, &id)?;
            let gone_file = || {
                artifact_error(
                    "artifact_download_unsupported",
                    "the gateway no longer keeps this file (old media is removed)",
                    Some(("artifactId", &artifact.id)),
                )
            };
            let declared = artifact
                .media
                .bytes
                .min(crate::media::MAX_MEDIA_BYTES as u64);
            let reserved = Reserved::take(declared.max(1)).ok_or_else(busy)?;
            let rel = artifact.media.path.clone();
            let data = actix_web::rt::task::spawn_blocking(move || read_file(&state_dir, &rel))
                .await
                .map_err(|_| gone())?
                .map_err(|e| {
                    log::warn!("artifact {} not readable: {e}", artifact.media.path);
                    ErrorShape::unavailable("cannot read the artifact's file")
                })?
                .ok_or_else(gone_file)?;
            // What was read counts (the file may have grown since it was recorded).
            let reserved = if data.len() as u64 > declared {
                drop(reserved);
                Reserved::take(data.len() as u64).ok_or_else(busy)?
            } else {
                reserved
            };
            let mut summary = artifact.summary;
            summary["sizeBytes"] = json!(data.len());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            drop(data);
            Ok(Downloaded {
                answer: json!({"artifact": summary, "encoding": "base64", "data": encoded}),
                _reserved: reserved,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaKind, MediaRef};

    fn found(n: usize) -> Artifacts {
        let items = (0..n)
            .map(|i| {
                let id = format!("artifact_{i}");
                Artifact {
                    kind: if i % 3 == 2 { "file" } else { "image" },
                    summary: json!({"id": id}),
                    id,
                    media: MediaRef {
                        path: format!("media/outbound/{i}.jpg"),
                        kind: MediaKind::Photo,
                        mime: "image/jpeg".into(),
                        bytes: 1,
                        file_name: format!("{i}.jpg"),
                    },
                }
            })
            .collect();
        Artifacts {
            session_id: "s1".into(),
            items,
        }
    }

    fn ids(v: &Value) -> Vec<String> {
        v["artifacts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["id"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn image_pages_go_newest_first_and_their_cursor_is_bound_to_the_transcript() {
        // Images 0, 1, 3, 4, 6 (2 and 5 are files).
        let f = found(7);
        let first = image_page(&f, 2, None).expect("page");
        assert_eq!(ids(&first), vec!["artifact_6", "artifact_4"]);
        let cursor = first["nextCursor"].as_str().expect("cursor").to_owned();
        let second = image_page(&f, 2, Some(&cursor)).expect("page");
        assert_eq!(ids(&second), vec!["artifact_3", "artifact_1"]);
        let last = image_page(
            &f,
            2,
            second["nextCursor"].as_str().map(str::to_owned).as_deref(),
        )
        .expect("page");
        assert_eq!(ids(&last), vec!["artifact_0"]);
        assert!(last.get("nextCursor").is_none());
        // Another transcript (a reset), a forged or foreign cursor: refused.
        let mut reset = found(7);
        reset.session_id = "s2".into();
        for (f, c) in [
            (&reset, cursor.clone()),
            (&f, "c1.!!".to_owned()),
            (&f, encode_cursor("s1", "artifact_99")),
            (&f, "x".repeat(40)),
        ] {
            let e = image_page(f, 2, Some(&c)).expect_err("refused");
            assert_eq!(
                e.details.as_ref().map(|d| d["type"].clone()),
                Some(json!("artifact_cursor_invalid"))
            );
        }
    }

    #[test]
    fn downloads_in_flight_are_bounded_and_given_back() {
        let a = Reserved::take(MAX_DOWNLOADING / 2).expect("half");
        let b = Reserved::take(MAX_DOWNLOADING / 2).expect("other half");
        assert!(Reserved::take(1).is_none(), "over the bound");
        drop(a);
        let c = Reserved::take(1).expect("room again");
        drop((b, c));
        assert!(Reserved::take(u64::MAX).is_none(), "no overflow");
    }

    #[test]
    fn only_a_regular_file_within_the_media_cap_is_read() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("media/outbound")).expect("mkdir");
        std::fs::write(dir.path().join("media/outbound/a.jpg"), b"abc").expect("write");
        assert_eq!(
            read_file(dir.path(), "media/outbound/a.jpg").expect("read"),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read_file(dir.path(), "media/outbound/none.jpg").expect("read"),
            None
        );
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("media/outbound/l.jpg"))
            .expect("link");
        assert_eq!(
            read_file(dir.path(), "media/outbound/l.jpg").expect("read"),
            None
        );
        assert_eq!(read_file(dir.path(), "media/outbound").expect("read"), None);
    }
}
