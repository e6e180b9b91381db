//! The files a session's transcript carries, for `artifacts.list|get|download`
//! (OpenClaw's `server-methods/artifacts.ts`): a node's photo or clip, a file the agent
//! attached with `MEDIA:`, a picture a chat sent. Each is a [`MediaRef`] of a `message`
//! line (`media`), so only files of the gateway's media directories are ever named
//! ([`MediaRef::list_of`]). The registry resolves the query's scope to one session and
//! reads the transcript's end; what is listed, got or downloaded is decided by the
//! method (`ws_session/methods/artifacts.rs`).

use actix::prelude::*;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::Registry;
use super::runs::{history_limits, transcript_name};
use crate::media::{MediaKind, MediaRef};
use crate::protocol::error::ErrorShape;
use crate::store::LoadLines;

/// OpenClaw's artifact error: `INVALID_REQUEST` with `details.type` (and more details).
pub fn artifact_error(kind: &str, message: &str, details: Option<(&str, &str)>) -> ErrorShape {
    let mut d = json!({ "type": kind });
    if let Some((k, v)) = details {
        d[k] = json!(v);
    }
    ErrorShape::invalid(message).with_details(d)
}

/// No session matches the query's scope.
pub fn scope_not_found() -> ErrorShape {
    artifact_error(
        "artifact_scope_not_found",
        "no session found for artifact query",
        None,
    )
}

/// Which transcript media a query names: a session (by key, or by one of its recent runs)
/// and filters. OpenClaw's `taskId` names a task of its task ledger, which this gateway
/// has not: such a query finds no session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactScope {
    /// `sessionKey`.
    pub session_key: Option<String>,
    /// `runId`: the session of that run, and only its messages.
    pub run_id: Option<String>,
    /// `taskId`.
    pub task_id: Option<String>,
    /// `agentId`: the session must be this agent's.
    pub agent_id: Option<String>,
    /// `messageRole: "assistant"`: only what answers carried.
    pub assistant_only: bool,
}

/// One artifact: its summary (OpenClaw's `ArtifactSummary`) and its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// `artifact_<18 base64url characters>`.
    pub id: String,
    /// `image`, `video`, `audio` or `file`.
    pub kind: &'static str,
    /// The summary as the wire shows it.
    pub summary: Value,
    /// The file.
    pub media: MediaRef,
}

/// The artifacts of a query's session, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifacts {
    /// The session's current transcript id (a cursor is bound to it).
    pub session_id: String,
    /// Its artifacts, in transcript order.
    pub items: Vec<Artifact>,
}

/// `artifacts.*`: resolves `scope` to a session and collects its transcript's artifacts.
#[derive(Message)]
#[rtype(result = "Result<Artifacts, ErrorShape>")]
pub struct FindArtifacts(pub ArtifactScope);

impl Handler<FindArtifacts> for Registry {
    type Result = ResponseFuture<Result<Artifacts, ErrorShape>>;

    fn handle(
        &mut self,
        FindArtifacts(scope): FindArtifacts,
        _: &mut Self::Context,
    ) -> Self::Result {
        let key = if scope.task_id.is_some() {
            None
        } else if let Some(k) = &scope.session_key {
            Some(crate::channel::normalize_session_key(k))
        } else {
            scope
                .run_id
                .as_deref()
                .and_then(|r| self.runs.record(r))
                .map(|r| r.session_key.clone())
        };
        let agent_ok = |k: &str| {
            scope.agent_id.as_deref().is_none_or(|a| {
                crate::agents::key_agent(k).unwrap_or(crate::agents::MAIN) == a.to_ascii_lowercase()
            })
        };
        let found = key
            .filter(|k| agent_ok(k))
            .and_then(|k| Some((self.sessions_index.get(&k)?.session_id.clone(), k)));
        let Some((session_id, key)) = found else {
            return Box::pin(async { Err(scope_not_found()) });
        };
        let load = self.store.send(LoadLines {
            name: transcript_name(&key, &session_id),
            limit: usize::MAX,
            max_bytes: history_limits::READ_BYTES,
        });
        Box::pin(async move {
            let lines = load
                .await
                .map_err(|_| ErrorShape::unavailable("store unavailable"))?
                .map_err(|e| ErrorShape::unavailable(format!("cannot read transcript: {e}")))?;
            Ok(Artifacts {
                items: collect(&lines, &key, &scope),
                session_id,
            })
        })
    }
}

/// The artifacts of `lines` (a transcript of session `key`) that `scope` selects.
pub fn collect(lines: &[Value], key: &str, scope: &ArtifactScope) -> Vec<Artifact> {
    let mut out = Vec::new();
    for line in lines {
        if line.get("type").and_then(Value::as_str) != Some("message")
            || line.get("media").is_none()
        {
            continue;
        }
        let role = line.get("role").and_then(Value::as_str);
        let run = line.get("runId").and_then(Value::as_str);
        if (scope.assistant_only && role != Some("assistant"))
            || scope.run_id.as_deref().is_some_and(|r| run != Some(r))
        {
            continue;
        }
        // The message's own id; a line written before ids had none, its time stands in.
        let message = match line.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => format!("ts:{}", line.get("ts").and_then(Value::as_u64).unwrap_or(0)),
        };
        for (index, media) in MediaRef::list_of(line).into_iter().enumerate() {
            let kind = kind_of(media.kind, &media.mime);
            let title = if media.file_name.trim().is_empty() {
                format!("{kind} {}", out.len() + 1)
            } else {
                media.file_name.clone()
            };
            let id = artifact_id(key, &message, index, kind, &title);
            let mut summary = json!({
                "id": id, "type": kind, "title": title, "mimeType": media.mime,
                "sizeBytes": media.bytes, "sessionKey": key,
                "source": "session-transcript", "download": {"mode": "bytes"},
            });
            if let Some(r) = run {
                summary["runId"] = json!(r);
            }
            out.push(Artifact {
                id,
                kind,
                summary,
                media,
            });
        }
    }
    out
}

/// OpenClaw's artifact type of an attachment.
fn kind_of(kind: MediaKind, mime: &str) -> &'static str {
    match kind {
        MediaKind::Photo => "image",
        MediaKind::Video | MediaKind::Animation => "video",
        MediaKind::Audio => "audio",
        // A photo too large to go as one is still a picture.
        MediaKind::Document if mime.starts_with("image/") => "image",
        MediaKind::Document => "file",
    }
}

/// A stable id from the session, the message, the attachment's place and what it is (as
/// OpenClaw's: `artifact_` and 18 characters of a SHA-256 in base64url). The message is
/// named by its id rather than its place, because only the transcript's end is read.
pub fn artifact_id(key: &str, message: &str, index: usize, kind: &str, title: &str) -> String {
    let mut h = Sha256::new();
    for part in [key, message, &index.to_string(), kind, title] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
    format!("artifact_{}", &digest[..18])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, role: &str, run: &str, media: Value) -> Value {
        json!({"type": "message", "id": id, "role": role, "content": "x", "runId": run, "ts": 1, "media": media})
    }

    fn photo(name: &str) -> Value {
        json!({"path": format!("media/outbound/{name}"), "kind": "photo", "mime": "image/jpeg", "bytes": 10, "fileName": name})
    }

    #[test]
    fn only_media_of_the_media_directories_and_the_scope_s_filters_are_collected() {
        let key = "agent:main:main";
        let lines = vec![
            line("m1", "user", "r1", json!([photo("a.jpg")])),
            line(
                "m2",
                "assistant",
                "r1",
                json!([photo("b.jpg"), {"path": "../../etc/passwd", "kind": "document", "mime": "text/plain", "bytes": 1, "fileName": "passwd"}]),
            ),
            json!({"type": "compaction", "media": [photo("c.jpg")]}),
            line(
                "m3",
                "assistant",
                "r2",
                json!([{"path": "media/outbound/d.pdf", "kind": "document", "mime": "application/pdf", "bytes": 5, "fileName": ""}]),
            ),
        ];
        let all = collect(&lines, key, &ArtifactScope::default());
        let titles: Vec<_> = all.iter().map(|a| a.summary["title"].clone()).collect();
        assert_eq!(
            titles,
            vec![json!("a.jpg"), json!("b.jpg"), json!("file 3")]
        );
        assert_eq!(all[2].kind, "file");
        assert_eq!(all[1].summary["runId"], "r1");
        assert_eq!(all[1].summary["download"]["mode"], "bytes");
        let answers = collect(
            &lines,
            key,
            &ArtifactScope {
                assistant_only: true,
                run_id: Some("r1".into()),
                ..ArtifactScope::default()
            },
        );
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].media.file_name, "b.jpg");
    }

    #[test]
    fn ids_are_stable_and_differ_by_session_message_place_and_title() {
        let a = artifact_id("agent:main:main", "m1", 0, "image", "a.jpg");
        assert_eq!(a, artifact_id("agent:main:main", "m1", 0, "image", "a.jpg"));
        assert!(a.starts_with("artifact_") && a.len() == "artifact_".len() + 18);
        for other in [
            artifact_id("agent:main:other", "m1", 0, "image", "a.jpg"),
            artifact_id("agent:main:main", "m2", 0, "image", "a.jpg"),
            artifact_id("agent:main:main", "m1", 1, "image", "a.jpg"),
            artifact_id("agent:main:main", "m1", 0, "image", "b.jpg"),
        ] {
            assert_ne!(a, other);
        }
    }
}
