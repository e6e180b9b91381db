//! Files the agent attaches to its answer with OpenClaw's legacy `MEDIA:` lines: a line of
//! the final answer that is only `MEDIA:<path>` (up to three leading spaces; outside fenced
//! or indented code; `MEDIA:"<path>"` when the path has spaces or trailing punctuation) is
//! taken out of the text, and the workspace file it names goes with the reply.
//!
//! The file is read under the file tools' rules ([`super::tools::read_confined`]): inside
//! the workspace only (symbolic links included), never `.git`, the private memory only in
//! private sessions; and only when the run is offered `read` at all (an attachment is a
//! read). Only media and document types are sent — images, video, audio, PDF, office
//! documents (by their signature) and UTF-8 text documents (`.md`, `.txt`, `.json`,
//! `.yaml`, `.csv`, …) — at most [`crate::media::MAX_MEDIA_BYTES`] each and
//! [`crate::media::MAX_ATTACHMENTS`] in all. An `http(s)` URL is fetched when the run is
//! offered `web_fetch` (through its SSRF guard, [`crate::media_source`]). A reference that
//! cannot be attached (a URL the run may not fetch, a missing file, another type) leaves a
//! `⚠️` line in the answer saying why.

use crate::media::{FileUpload, MediaKind};

/// Most `MEDIA:` lines taken from one answer (the rest stay text).
pub const MAX_LINES: usize = crate::media::MAX_ATTACHMENTS;

/// `text` without its `MEDIA:` lines, and the references they held (see the module docs).
pub fn split_media_lines(text: &str) -> (String, Vec<String>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut refs = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let trimmed = line.trim();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            kept.push(line);
            continue;
        }
        if indent < 4 && !line.starts_with('\t') {
            if trimmed.starts_with("```") {
                fence = Some("```");
            } else if trimmed.starts_with("~~~") {
                fence = Some("~~~");
            }
        }
        let reference = (fence.is_none() && indent < 4 && !line.starts_with('\t'))
            .then(|| trimmed.strip_prefix("MEDIA:"))
            .flatten()
            .map(str::trim)
            .map(|r| match r.strip_prefix('"') {
                Some(q) => q.split_once('"').map_or(q, |(inner, _)| inner),
                None => r,
            })
            .filter(|r| !r.is_empty());
        match reference {
            Some(r) if refs.len() < MAX_LINES => refs.push(r.to_owned()),
            _ => kept.push(line),
        }
    }
    if refs.is_empty() {
        return (text.to_owned(), refs);
    }
    let mut out = kept.join("\n");
    let end = out.trim_end().len();
    out.truncate(end);
    (out, refs)
}

/// Document extensions sent as files, with their MIME type and how their bytes are checked.
const DOCUMENTS: &[(&str, &str, Check)] = &[
    ("pdf", "application/pdf", Check::Magic(b"%PDF-")),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "xlsm",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "odt",
        "application/vnd.oasis.opendocument.text",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "ods",
        "application/vnd.oasis.opendocument.spreadsheet",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "odp",
        "application/vnd.oasis.opendocument.presentation",
        Check::Magic(b"PK\x03\x04"),
    ),
    (
        "doc",
        "application/msword",
        Check::Magic(b"\xD0\xCF\x11\xE0"),
    ),
    (
        "xls",
        "application/vnd.ms-excel",
        Check::Magic(b"\xD0\xCF\x11\xE0"),
    ),
    (
        "ppt",
        "application/vnd.ms-powerpoint",
        Check::Magic(b"\xD0\xCF\x11\xE0"),
    ),
    ("md", "text/markdown", Check::Text),
    ("markdown", "text/markdown", Check::Text),
    ("txt", "text/plain", Check::Text),
    ("log", "text/plain", Check::Text),
    ("csv", "text/csv", Check::Text),
    ("json", "application/json", Check::Text),
    ("yaml", "application/yaml", Check::Text),
    ("yml", "application/yaml", Check::Text),
];

#[derive(Clone, Copy)]
enum Check {
    /// The bytes start with this.
    Magic(&'static [u8]),
    /// UTF-8 text without NUL.
    Text,
}

/// What `name`'s `data` is sent as, or why it is not sent.
pub fn classify(name: &str, data: &[u8]) -> Result<(String, String, MediaKind), String> {
    if data.is_empty() {
        return Err("the file is empty".into());
    }
    if let Some((mime, ext, kind)) = crate::media::sniff(data) {
        return Ok((mime.to_owned(), ext.to_owned(), kind));
    }
    if let Some((mime, ext)) = crate::hearing::sniff_audio(data, false) {
        return Ok((mime.to_owned(), ext.to_owned(), MediaKind::Document));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some((ext, mime, check)) = DOCUMENTS.iter().find(|(e, _, _)| *e == ext) else {
        return Err(
            "only images, video, audio, PDF, office documents and text documents (.md, .txt, .csv, .json, .yaml) are attached"
                .into(),
        );
    };
    let ok = match check {
        Check::Magic(m) => data.starts_with(m),
        Check::Text => !data.contains(&0) && std::str::from_utf8(data).is_ok(),
    };
    if !ok {
        return Err(format!("its content is not a .{ext} file"));
    }
    Ok(((*mime).to_owned(), (*ext).to_owned(), MediaKind::Document))
}

/// [`load`] on the blocking pool, from the workspace `ws` as a run of `scope` sees it.
pub async fn load_off_thread(
    ws: &std::sync::Arc<super::WorkspaceSettings>,
    scope: super::Scope,
    reference: String,
) -> Result<FileUpload, String> {
    let ws = ws.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let root = ws.root();
        let access = super::tools::FsAccess::workspace(&root, scope.private());
        load(&access, &reference)
    })
    .await
    .unwrap_or_else(|_| Err("the file could not be read".to_owned()))
}

/// The workspace file `reference` as an upload (blocking: run it on the blocking pool).
pub fn load(access: &super::tools::FsAccess<'_>, reference: &str) -> Result<FileUpload, String> {
    let lower = reference.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("data:") {
        return Err("only files in the workspace are attached, not URLs".into());
    }
    let given = reference.strip_prefix("file:").unwrap_or(reference);
    let (name, data) = super::tools::read_confined(access, given, crate::media::MAX_MEDIA_BYTES)
        .map_err(|e| {
            if e.contains("too large") || e.contains("larger") {
                format!("{e} (at most 20 MiB)")
            } else {
                e
            }
        })?;
    let (mime, ext, kind) = classify(&name, &data)?;
    let base = name.rsplit('/').next().unwrap_or(&name);
    let file_name: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(80)
        .collect();
    let file_name = file_name.trim_start_matches('.').to_owned();
    Ok(FileUpload {
        data: data.into(),
        kind,
        mime,
        file_name: if file_name.is_empty() {
            format!("file.{ext}")
        } else {
            file_name
        },
        ext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standalone_media_lines_outside_code_are_taken() {
        let text = "Here is the chart.\n\nMEDIA:charts/sales.png\n   MEDIA:\"reports/q3 final.pdf\",\n**MEDIA:bold.png**\nSee MEDIA:inline.png\n    MEDIA:indented.png\n```\nMEDIA:fenced.png\n```\nMEDIA:\n";
        let (kept, refs) = split_media_lines(text);
        assert_eq!(refs, ["charts/sales.png", "reports/q3 final.pdf"]);
        assert_eq!(
            kept,
            "Here is the chart.\n\n**MEDIA:bold.png**\nSee MEDIA:inline.png\n    MEDIA:indented.png\n```\nMEDIA:fenced.png\n```\nMEDIA:"
        );
        let many: String = (0..9).map(|i| format!("MEDIA:f{i}.png\n")).collect();
        let (kept, refs) = split_media_lines(&many);
        assert_eq!(refs.len(), MAX_LINES);
        assert_eq!(kept.lines().count(), 9 - MAX_LINES);
        let plain = "no media here\n";
        assert_eq!(split_media_lines(plain), (plain.to_owned(), Vec::new()));
    }

    #[test]
    fn types_are_checked_by_content() {
        assert_eq!(
            classify("a.png", b"\x89PNG\r\n\x1a\n....").map(|t| t.2),
            Ok(MediaKind::Photo)
        );
        assert_eq!(
            classify("r.pdf", b"%PDF-1.7 ...").map(|t| t.0),
            Ok("application/pdf".to_owned())
        );
        assert!(classify("r.pdf", b"#!/bin/sh").is_err());
        assert_eq!(
            classify("notes.MD", "héllo".as_bytes()).map(|t| t.1),
            Ok("md".to_owned())
        );
        assert!(classify("notes.md", b"\x00\x01").is_err());
        assert!(classify("id_rsa", b"-----BEGIN OPENSSH PRIVATE KEY-----").is_err());
        assert!(classify("run.sh", b"#!/bin/sh").is_err());
        assert!(classify("x.txt", b"").is_err());
    }
}
