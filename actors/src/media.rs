//! Media a node sends back (a `camera.snap` photo, a `camera.clip` or `screen.record` video,
//! a `screen.snapshot`): taken out of the tool result before the model sees it, kept as a
//! file of the state directory (`media/outbound/<uuid>.<ext>`, mode 0600, written by the
//! store) and attached to the run's reply, which the channel sends as a photo, a video, an
//! animation or a file.
//!
//! A node's result is untrusted input: the type is decided by the bytes' signature (never by
//! the node's `format`), only the image and video types below are attached, the decoded size
//! is bounded ([`MAX_MEDIA_BYTES`]; a frame is at most 25 MiB anyway), a reply carries at
//! most [`MAX_ATTACHMENTS`], and each directory keeps at most [`KEEP_FILES`] files and
//! [`KEEP_BYTES`] for at most [`KEEP_FOR`] (the reply of a run that a crash interrupted is
//! sent again from them).

use std::time::Duration;

use actix::prelude::*;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::{PruneDir, SaveDocument, StoreActor, StoreError};

/// Largest decoded attachment.
pub const MAX_MEDIA_BYTES: usize = 20 * 1024 * 1024;

/// Attachments one reply carries at most (later ones are not attached; the model is told).
pub const MAX_ATTACHMENTS: usize = 4;

/// Largest photo Telegram takes as a photo (a larger one goes as a file).
pub const MAX_PHOTO_BYTES: u64 = 10 * 1000 * 1000;

/// Where the files for the chats go, relative to the state directory.
pub const MEDIA_DIR: &str = "media/outbound";

/// Where the images received from the chats go, relative to the state directory.
pub const INBOUND_DIR: &str = "media/inbound";

/// Scratch directories of transcription programs, relative to the state directory.
pub const WORK_DIR: &str = "media/work";

/// Files the directory keeps at most (the oldest go first).
pub const KEEP_FILES: usize = 200;

/// Bytes a media directory keeps at most (the oldest files go first).
pub const KEEP_BYTES: u64 = 512 * 1024 * 1024;

/// How long a file is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a channel sends an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A picture (JPEG, PNG, WebP).
    Photo,
    /// A video (MP4).
    Video,
    /// A GIF.
    Animation,
    /// Anything else that is attached (a QuickTime or WebM video, a photo too large to be
    /// sent as one): a file.
    Document,
    /// A voice note or audio file a chat sent ([`crate::hearing`]).
    Audio,
}

impl MediaKind {
    /// The word the user and the model read.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
            Self::Animation => "animation",
            Self::Document => "file",
            Self::Audio => "voice message",
        }
    }
}

/// An attachment of a reply: a file of the state directory. Recorded with the answer in the
/// transcript (`media`), so a reply sent again after a crash carries it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRef {
    /// Path relative to the state directory (`media/outbound/<uuid>.<ext>`).
    pub path: String,
    /// How to send it.
    pub kind: MediaKind,
    /// Its MIME type, from its signature.
    pub mime: String,
    /// Its size.
    pub bytes: u64,
    /// The file name a channel shows (`camera.snap.jpg`).
    pub file_name: String,
}

impl MediaRef {
    /// The transcript's `media` list of a line, if it has a valid one (anything else is
    /// ignored: a transcript is read back after a crash, and a hand-edited one must not
    /// make the gateway send files outside its media directory).
    pub fn list_of(line: &Value) -> Vec<MediaRef> {
        line.get("media")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| serde_json::from_value::<MediaRef>(m.clone()).ok())
                    .filter(MediaRef::is_ours)
                    .take(MAX_ATTACHMENTS)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `path` names a file of one of the media directories (no other directory, no
    /// `..`).
    pub fn is_ours(&self) -> bool {
        [MEDIA_DIR, INBOUND_DIR]
            .iter()
            .find_map(|dir| self.path.strip_prefix(dir))
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    && !name.starts_with('.')
            })
    }

    /// What the model is told instead of the data.
    pub fn describe(&self) -> Value {
        json!({"attached": self.kind.noun(), "mimeType": self.mime, "bytes": self.bytes})
    }
}

/// What a media type is, by its first bytes: `(mime, extension, kind)`; `None` for
/// anything that is not one of the image or video types this gateway attaches.
pub fn sniff(data: &[u8]) -> Option<(&'static str, &'static str, MediaKind)> {
    let starts = |p: &[u8]| data.starts_with(p);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg", MediaKind::Photo))
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png", MediaKind::Photo))
    } else if data.len() >= 12 && starts(b"RIFF") && &data[8..12] == b"WEBP" {
        Some(("image/webp", "webp", MediaKind::Photo))
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(("image/gif", "gif", MediaKind::Animation))
    } else if data.len() >= 12 && &data[4..8] == b"ftyp" {
        if &data[8..12] == b"qt  " {
            Some(("video/quicktime", "mov", MediaKind::Document))
        } else {
            Some(("video/mp4", "mp4", MediaKind::Video))
        }
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some(("video/webm", "webm", MediaKind::Document))
    } else {
        None
    }
}

/// A node result's media, decoded and checked but not yet saved.
#[derive(Debug)]
pub struct Extracted {
    /// The decoded bytes.
    pub data: Vec<u8>,
    /// Type and kind ([`sniff`]).
    pub mime: &'static str,
    /// File extension.
    pub ext: &'static str,
    /// How to send it.
    pub kind: MediaKind,
}

/// Why a node result's `base64` is not attached (the model is told, in these words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefused {
    /// Not base64.
    #[error("the node's base64 data could not be decoded")]
    NotBase64,
    /// Larger than [`MAX_MEDIA_BYTES`].
    #[error("the node's data is larger than {} MiB", MAX_MEDIA_BYTES / (1024 * 1024))]
    TooLarge,
    /// Not a known image or video type.
    #[error(
        "the node's data ({0} bytes) is not a JPEG, PNG, WebP or GIF image or an MP4, QuickTime or WebM video"
    )]
    UnknownType(usize),
}

/// The media in a node command's result payload: its top-level `base64` string (a data URL
/// prefix tolerated), decoded and typed. `None`: the payload carries no `base64`.
pub fn extract(payload: &Value) -> Option<Result<Extracted, MediaRefused>> {
    let b64 = payload.get("base64")?.as_str()?;
    Some(decode(b64))
}

/// Takes a payload's top-level `base64` string out of it (to be decoded elsewhere by
/// [`decode_media`]: a large one takes milliseconds). `None`, and the payload unchanged,
/// when it has none.
pub fn take_base64(payload: &mut Value) -> Option<String> {
    let obj = payload.as_object_mut()?;
    if !obj.get("base64").is_some_and(Value::is_string) {
        return None;
    }
    match obj.remove("base64") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Decodes and types media given as base64 (what [`extract`] does to a payload's field).
pub fn decode_media(b64: &str) -> Result<Extracted, MediaRefused> {
    decode(b64)
}

/// Largest image an operator may attach (OpenClaw's `policy.attachments.maxImageBytes`).
pub const MAX_UPLOAD_IMAGE_BYTES: usize = 6_291_456;

/// The `attachments` of a `chat.send` / `agent` call (OpenClaw's shapes: `{type?, mimeType?,
/// fileName?, content}` with base64 or a data URL, or `{source: {type: "base64", data}}`):
/// at most [`MAX_ATTACHMENTS`] images or audio files (voice notes, transcribed by the run:
/// [`crate::hearing`]) of at most [`MAX_UPLOAD_IMAGE_BYTES`], typed by their bytes. The error names the attachment and the fix. The run keeps them under
/// [`INBOUND_DIR`] ([`save_file`]).
pub fn parse_uploads(v: Option<&Value>) -> Result<Vec<FileUpload>, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("attachments must be an array".into()),
    };
    if items.len() > MAX_ATTACHMENTS {
        return Err(format!(
            "at most {MAX_ATTACHMENTS} attachments per message ({} given)",
            items.len()
        ));
    }
    let mut out = Vec::new();
    for (i, a) in items.iter().enumerate() {
        let name: String = a
            .get("fileName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        let what = if name.is_empty() {
            format!("attachments[{i}]")
        } else {
            format!("attachments[{i}] ({name:?})")
        };
        let content = a
            .get("content")
            .and_then(Value::as_str)
            .or_else(|| a.pointer("/source/data").and_then(Value::as_str))
            .ok_or_else(|| format!("{what} has no content (base64 data)"))?;
        // Audio counts when the attachment says it is audio (`type: "audio"` or an
        // `audio/*` type): a voice note for transcription; anything else must be an image.
        let says_audio = a.get("type").and_then(Value::as_str) == Some("audio")
            || a.get("mimeType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("audio/"));
        let only = "only images (JPEG, PNG, WebP, GIF) and audio (OGG, MP3, AAC, M4A, WAV, FLAC, AMR, WebM) can be attached";
        let data = decode_base64(content).map_err(|e| match e {
            MediaRefused::NotBase64 => format!("{what}: its content is not base64"),
            MediaRefused::TooLarge | MediaRefused::UnknownType(_) => {
                format!("{what}: {only}")
            }
        })?;
        let typed = sniff(&data)
            .filter(|(_, _, k)| matches!(k, MediaKind::Photo | MediaKind::Animation))
            .or_else(|| {
                crate::hearing::sniff_audio(&data, says_audio)
                    .map(|(mime, ext)| (mime, ext, MediaKind::Audio))
            });
        let Some((mime, ext, kind)) = typed else {
            return Err(format!("{what}: {only}"));
        };
        let m = Extracted {
            data,
            mime,
            ext,
            kind,
        };
        if m.data.len() > MAX_UPLOAD_IMAGE_BYTES {
            return Err(format!(
                "{what} is larger than {} MiB",
                MAX_UPLOAD_IMAGE_BYTES / (1024 * 1024)
            ));
        }
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        let safe = safe.trim_start_matches('.');
        out.push(FileUpload {
            data: m.data.into(),
            kind: m.kind,
            mime: m.mime.into(),
            ext: m.ext.into(),
            file_name: if safe.is_empty() {
                format!("upload.{}", m.ext)
            } else {
                safe.to_owned()
            },
        });
    }
    Ok(out)
}

/// A file from an operator: one sent to a chat (`send` with `buffer`: any type, one that is
/// no image or video goes as a file, at most [`MAX_MEDIA_BYTES`]), or an image attached to
/// a message for the agent ([`parse_uploads`]).
#[derive(Debug, Clone)]
pub struct FileUpload {
    /// The bytes.
    pub data: std::sync::Arc<[u8]>,
    /// How to send it.
    pub kind: MediaKind,
    /// Its type: by its bytes, else the caller's `contentType` when it is one, else
    /// `application/octet-stream`.
    pub mime: String,
    /// Its extension (`bin` when unknown).
    pub ext: String,
    /// Its name (the caller's `filename`, safe characters only).
    pub file_name: String,
}

/// `send`'s `buffer` (base64 or a data URL), `filename` and `contentType` as a file.
pub fn parse_send_file(
    buffer: &str,
    filename: Option<&str>,
    content_type: Option<&str>,
    as_voice: bool,
) -> Result<FileUpload, String> {
    let data = decode_base64(buffer).map_err(|e| match e {
        MediaRefused::NotBase64 => "buffer is not base64".to_owned(),
        other => format!("buffer: {other}"),
    })?;
    if data.is_empty() {
        return Err("buffer is empty".into());
    }
    typed_file(data, filename, content_type, as_voice)
}

/// `data` as a file to send: its type by its bytes, else `content_type` when it is one, else
/// `application/octet-stream` (sent as a file); `filename` kept in safe characters only;
/// `as_voice`: a voice note (OGG/Opus, MP3 or M4A by its bytes).
pub fn typed_file(
    data: Vec<u8>,
    filename: Option<&str>,
    content_type: Option<&str>,
    as_voice: bool,
) -> Result<FileUpload, String> {
    let stem: String = filename
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(80)
        .collect();
    let stem = stem.trim_start_matches('.');
    // `asVoice`: a voice note (OGG/Opus, MP3 or M4A, by its bytes), sent as one.
    let voice = if as_voice {
        match crate::hearing::sniff_audio(&data, true) {
            Some((mime @ ("audio/ogg" | "audio/mpeg" | "audio/mp4"), ext)) => {
                Some((mime.to_owned(), ext.to_owned(), MediaKind::Audio))
            }
            _ => {
                return Err(
                    "asVoice: the buffer is not an OGG/Opus, MP3 or M4A voice note".to_owned(),
                );
            }
        }
    } else {
        None
    };
    let (mime, ext, kind) = match voice
        .or_else(|| sniff(&data).map(|(mime, ext, kind)| (mime.to_owned(), ext.to_owned(), kind)))
    {
        Some(typed) => typed,
        None => {
            let declared = content_type
                .map(str::trim)
                .filter(|t| {
                    t.len() <= 100
                        && t.split_once('/').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && t.bytes().all(|c| {
                                    c.is_ascii_alphanumeric()
                                        || matches!(c, b'/' | b'.' | b'+' | b'-')
                                })
                        })
                })
                .unwrap_or("application/octet-stream");
            let ext = stem
                .rsplit_once('.')
                .map(|(_, e)| e)
                .filter(|e| !e.is_empty() && e.len() <= 8)
                .unwrap_or("bin");
            (declared.to_owned(), ext.to_owned(), MediaKind::Document)
        }
    };
    let file_name = if stem.is_empty() {
        format!("file.{ext}")
    } else {
        stem.to_owned()
    };
    Ok(FileUpload {
        data: data.into(),
        kind,
        mime,
        ext,
        file_name,
    })
}

/// Saves an operator's file into `dir` ([`MEDIA_DIR`] or [`INBOUND_DIR`]; see [`save_in`]),
/// keeping its name.
pub async fn save_file(
    store: &Addr<StoreActor>,
    dir: &str,
    f: &FileUpload,
) -> Result<MediaRef, StoreError> {
    let file = NewFile {
        ext: &f.ext,
        kind: f.kind,
        mime: f.mime.clone(),
        file_name: f.file_name.clone(),
    };
    write(store, dir, f.data.to_vec(), file).await
}

fn prune(store: &Addr<StoreActor>, dir: &str, just_written: &str) {
    store.do_send(PruneDir {
        name: dir.into(),
        keep: KEEP_FILES,
        max_bytes: KEEP_BYTES,
        max_age: KEEP_FOR,
        except: just_written.into(),
    });
}

/// Base64 (a data URL prefix, surrounding whitespace and missing padding tolerated),
/// refused from its length before decoding when it would exceed [`MAX_MEDIA_BYTES`].
fn decode_base64(b64: &str) -> Result<Vec<u8>, MediaRefused> {
    let b64 = match b64.strip_prefix("data:") {
        Some(rest) => rest
            .split_once(";base64,")
            .map(|(_, d)| d)
            .ok_or(MediaRefused::NotBase64)?,
        None => b64,
    };
    let b64 = b64.trim();
    // 4 characters per 3 bytes: refuse before decoding anything too large.
    if b64.len() / 4 * 3 > MAX_MEDIA_BYTES + 3 {
        return Err(MediaRefused::TooLarge);
    }
    let engine = if b64.ends_with('=') {
        &base64::engine::general_purpose::STANDARD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let data = engine.decode(b64).map_err(|_| MediaRefused::NotBase64)?;
    if data.len() > MAX_MEDIA_BYTES {
        return Err(MediaRefused::TooLarge);
    }
    Ok(data)
}

fn decode(b64: &str) -> Result<Extracted, MediaRefused> {
    let data = decode_base64(b64)?;
    let (mime, ext, kind) = sniff(&data).ok_or(MediaRefused::UnknownType(data.len()))?;
    Ok(Extracted {
        data,
        mime,
        ext,
        kind,
    })
}

/// Saves `media` (from `command`'s result) as a new file of the media directory, then lets
/// the store prune the directory. The file is on disk (synced) when this returns `Ok`.
pub async fn save(
    store: &Addr<StoreActor>,
    media: Extracted,
    command: &str,
) -> Result<MediaRef, StoreError> {
    save_in(store, MEDIA_DIR, media, command).await
}

/// [`save`] into `dir` ([`MEDIA_DIR`] or [`INBOUND_DIR`]); `command` names the file.
pub async fn save_in(
    store: &Addr<StoreActor>,
    dir: &str,
    media: Extracted,
    command: &str,
) -> Result<MediaRef, StoreError> {
    // The command name is the node's or the model's choice: only its safe characters.
    let stem: String = command
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(40)
        .collect();
    let stem = if stem.is_empty() {
        "media".into()
    } else {
        stem
    };
    let file = NewFile {
        ext: media.ext,
        kind: media.kind,
        mime: media.mime.into(),
        file_name: format!("{stem}.{}", media.ext),
    };
    write(store, dir, media.data, file).await
}

/// What a new file of a media directory is.
struct NewFile<'a> {
    ext: &'a str,
    kind: MediaKind,
    mime: String,
    file_name: String,
}

/// Writes `contents` as a new file of `dir` (synced when this returns), prunes `dir`, and
/// names the file for the channels (a photo too large to be one goes as a file).
async fn write(
    store: &Addr<StoreActor>,
    dir: &str,
    contents: Vec<u8>,
    file: NewFile<'_>,
) -> Result<MediaRef, StoreError> {
    let path = format!("{dir}/{}.{}", uuid::Uuid::new_v4().simple(), file.ext);
    let bytes = contents.len() as u64;
    crate::store::send_detached(
        store,
        SaveDocument {
            name: path.clone(),
            contents,
        },
    )
    .await?;
    prune(store, dir, &path);
    let kind = if file.kind == MediaKind::Photo && bytes > MAX_PHOTO_BYTES {
        MediaKind::Document
    } else {
        file.kind
    };
    Ok(MediaRef {
        path,
        kind,
        mime: file.mime,
        bytes,
        file_name: file.file_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1,
    ];

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    #[test]
    fn the_type_comes_from_the_bytes_never_from_the_format() {
        let payload = json!({"format": "mp4", "base64": b64(JPEG)});
        let m = extract(&payload).expect("has base64").expect("a jpeg");
        assert_eq!(
            (m.mime, m.ext, m.kind),
            ("image/jpeg", "jpg", MediaKind::Photo)
        );
        assert_eq!(m.data, JPEG);
        let text = json!({"format": "jpg", "base64": b64(b"#!/bin/sh\nrm -rf /\n")});
        assert_eq!(
            extract(&text).expect("has base64").unwrap_err(),
            MediaRefused::UnknownType(19)
        );
        for (data, mime, kind) in [
            (&b"\x89PNG\r\n\x1a\n...."[..], "image/png", MediaKind::Photo),
            (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", MediaKind::Photo),
            (b"GIF89a....", "image/gif", MediaKind::Animation),
            (b"\0\0\0\x18ftypmp42....", "video/mp4", MediaKind::Video),
            (
                b"\0\0\0\x14ftypqt  ....",
                "video/quicktime",
                MediaKind::Document,
            ),
            (b"\x1a\x45\xdf\xa3....", "video/webm", MediaKind::Document),
        ] {
            let s = sniff(data).unwrap_or_else(|| panic!("{data:?} sniffs"));
            assert_eq!((s.0, s.2), (mime, kind), "{data:?}");
        }
        // Too short to be anything, or nothing at all.
        for data in [&b""[..], b"\xFF\xD8", b"RIFF", b"\0\0\0\0ftyp", b"GIF8"] {
            assert_eq!(sniff(data), None, "{data:?}");
        }
    }

    #[test]
    fn hostile_base64_is_refused_by_name() {
        for bad in [
            "!!!!",
            "AAA=A",
            "data:image/jpeg,AAAA",
            "\u{0}\u{1}",
            "💥💥💥💥",
        ] {
            let r = extract(&json!({"base64": bad})).expect("has base64");
            assert_eq!(r.unwrap_err(), MediaRefused::NotBase64, "{bad:?}");
        }
        // A data URL, no padding and surrounding whitespace are tolerated.
        let url = format!("data:image/jpeg;base64,{}", b64(JPEG));
        assert!(extract(&json!({"base64": url})).expect("has").is_ok());
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(JPEG);
        assert!(
            extract(&json!({"base64": format!(" {unpadded}\n")}))
                .expect("has")
                .is_ok()
        );
        // Too large: refused from its length, before decoding.
        let huge = "A".repeat((MAX_MEDIA_BYTES / 3 + 2) * 4);
        assert_eq!(
            extract(&json!({"base64": huge})).expect("has").unwrap_err(),
            MediaRefused::TooLarge
        );
        // Not a string, nested, or absent: no media.
        for none in [
            json!({"base64": 5}),
            json!({"photo": {"base64": b64(JPEG)}}),
            json!("AAAA"),
            json!(null),
        ] {
            assert!(extract(&none).is_none(), "{none}");
        }
    }

    #[test]
    fn operator_attachments_are_images_or_audio_within_bounds_or_refused_by_name() {
        let ok = parse_uploads(Some(&json!([
            {"type": "image", "mimeType": "image/jpeg", "fileName": "a.jpg", "content": b64(JPEG)},
            {"content": format!("data:image/png;base64,{}", b64(b"\x89PNG\r\n\x1a\nxx"))},
            {"source": {"type": "base64", "media_type": "image/gif", "data": b64(b"GIF89a..")}},
        ])))
        .expect("three images");
        let kinds: Vec<_> = ok.iter().map(|u| (u.mime.as_str(), u.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("image/jpeg", MediaKind::Photo),
                ("image/png", MediaKind::Photo),
                ("image/gif", MediaKind::Animation)
            ]
        );
        assert_eq!(&*ok[0].data, JPEG);
        assert_eq!(
            (ok[0].file_name.as_str(), ok[1].file_name.as_str()),
            ("a.jpg", "upload.png")
        );
        assert!(parse_uploads(None).expect("none").is_empty());
        assert!(parse_uploads(Some(&json!(null))).expect("null").is_empty());
        let big = {
            let mut d = JPEG.to_vec();
            d.resize(MAX_UPLOAD_IMAGE_BYTES + 1, 0);
            b64(&d)
        };
        let mp4 = b64(b"\0\0\0\x18ftypmp42....");
        for (v, want) in [
            (json!("x"), "attachments must be an array"),
            (
                json!([{}, {}, {}, {}, {}]),
                "at most 4 attachments per message (5 given)",
            ),
            (
                json!([{"fileName": "a.jpg"}]),
                "attachments[0] (\"a.jpg\") has no content",
            ),
            (
                json!([{"content": "%%%"}]),
                "attachments[0]: its content is not base64",
            ),
            (
                json!([{"content": b64(b"plain text")}]),
                "attachments[0]: only images",
            ),
            (json!([{"content": mp4}]), "attachments[0]: only images"),
            (
                json!([{"content": big, "fileName": "x\u{202e}gpj.exe"}]),
                "is larger than 6 MiB",
            ),
        ] {
            let e = parse_uploads(Some(&v)).expect_err("refused");
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        // Audio: by its bytes; a generic container only when the attachment says audio.
        let ogg = b64(b"OggS\0\x02....");
        let m4a = b64(b"\0\0\0\x18ftypisom....");
        let ok = parse_uploads(Some(&json!([
            {"type": "audio", "fileName": "note.ogg", "content": ogg},
            {"mimeType": "audio/mp4", "content": m4a},
        ])))
        .expect("two voice notes");
        let kinds: Vec<_> = ok.iter().map(|u| (u.mime.as_str(), u.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("audio/ogg", MediaKind::Audio),
                ("audio/mp4", MediaKind::Audio)
            ]
        );
        let e = parse_uploads(Some(&json!([{"content": m4a}]))).expect_err("not said audio");
        assert!(e.contains("only images"), "{e}");
    }

    #[test]
    fn as_voice_takes_voice_notes_only() {
        let ogg = b64(b"OggS\0\x02opus");
        let f = parse_send_file(&ogg, Some("note.ogg"), None, true).expect("a voice note");
        assert_eq!((f.kind, f.mime.as_str()), (MediaKind::Audio, "audio/ogg"));
        // Without asVoice, audio is a file.
        let f = parse_send_file(&ogg, Some("note.ogg"), Some("audio/ogg"), false).expect("a file");
        assert_eq!(f.kind, MediaKind::Document);
        for bad in [b64(JPEG), b64(b"RIFF\0\0\0\0WAVEfmt "), b64(b"plain")] {
            let e = parse_send_file(&bad, None, None, true).expect_err("not a voice note");
            assert!(e.contains("asVoice"), "{e}");
        }
    }

    #[test]
    fn only_files_of_the_media_directory_are_ours() {
        let r = |path: &str| MediaRef {
            path: path.into(),
            kind: MediaKind::Photo,
            mime: "image/jpeg".into(),
            bytes: 1,
            file_name: "x.jpg".into(),
        };
        assert!(r("media/outbound/0123abcd.jpg").is_ours());
        for bad in [
            "media/outbound/../../openclaw.json",
            "media/outbound/",
            "media/outbound/.hidden",
            "media/outbound/a/b.jpg",
            "/etc/passwd",
            "agents/main/sessions/sessions.json",
            "media/outboundx/a.jpg",
        ] {
            assert!(!r(bad).is_ours(), "{bad}");
        }
        let line = json!({"media": [
            serde_json::to_value(r("media/outbound/a.jpg")).expect("ser"),
            serde_json::to_value(r("../secrets")).expect("ser"),
            {"path": "media/outbound/b.jpg"},
            "nonsense",
        ]});
        assert_eq!(MediaRef::list_of(&line), vec![r("media/outbound/a.jpg")]);
    }
}
