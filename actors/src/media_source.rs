//! Files a caller names by path or URL instead of sending their bytes: `media`, `mediaUrl`,
//! `mediaUrls` (and OpenClaw's `path`, `filePath`) of `send` and `message.action` — what the
//! real CLI's `openclaw message send --media <path-or-url>` passes — and a URL as the agent's
//! `message` tool `media`.
//!
//! - **A URL** (`http://`, `https://`) is fetched through the same SSRF-guarded client as
//!   `web_fetch` (`tools.web.fetch.ssrfPolicy`, its timeout, redirects and user agent): a
//!   name must resolve to public addresses, every redirect is checked again. At most
//!   [`crate::media::MAX_MEDIA_BYTES`]; an error status is refused.
//! - **A path** is read from the agent's workspace only, under the file tools' confinement
//!   (symbolic links included, never `.git`) and the attachment types of `MEDIA:` lines
//!   (images, video, audio, PDF, office and text documents, by their bytes): a relative path
//!   is relative to the workspace, as in OpenClaw (whose gateway resolves it against the
//!   agent's workspace too). The gateway never reads its host's other files for a caller:
//!   an operator with `operator.write` could otherwise send `~/.ssh/id_ed25519` or the
//!   config's secrets to any chat.
//! - Other schemes (`data:`, `ftp://`, …) are refused by name; our own CLI sends a local
//!   file's bytes (`buffer`).

use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::media::FileUpload;
use crate::ports::{FetchRequest, WebFetcher};

/// Longest source taken, in characters.
pub const MAX_SOURCE_CHARS: usize = 2048;

/// The files a call names ([`sources_of`]) and how to send them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Paths and URLs, in order, each once (at most [`crate::media::MAX_ATTACHMENTS`]).
    pub list: Vec<String>,
    /// `asVoice`: an audio file goes as a voice note.
    pub as_voice: bool,
}

/// The sources `params` name (`media`, `mediaUrl`, `path`, `filePath`, `mediaUrls`), in
/// order, each once. `Err` names the key that is wrong.
pub fn sources_of(params: &Map<String, Value>) -> Result<Sources, String> {
    let mut list: Vec<String> = Vec::new();
    let mut add = |key: &str, v: &Value| -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::String(s) if s.trim().is_empty() => Ok(()),
            Value::String(s) => {
                let s = s.trim();
                if s.chars().count() > MAX_SOURCE_CHARS || s.chars().any(char::is_control) {
                    return Err(format!(
                        "{key} is longer than {MAX_SOURCE_CHARS} characters or has control characters"
                    ));
                }
                if !list.iter().any(|x| x == s) {
                    list.push(s.to_owned());
                }
                Ok(())
            }
            _ => Err(format!("{key} must be a path or URL (a string)")),
        }
    };
    for key in ["media", "mediaUrl", "path", "filePath"] {
        if let Some(v) = params.get(key) {
            add(key, v)?;
        }
    }
    match params.get("mediaUrls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for v in a {
                add("mediaUrls[]", v)?;
            }
        }
        Some(_) => return Err("mediaUrls must be an array of paths or URLs".into()),
    }
    if list.len() > crate::media::MAX_ATTACHMENTS {
        return Err(format!(
            "{} files named; at most {} go with one message. Fix: send the rest in another",
            list.len(),
            crate::media::MAX_ATTACHMENTS
        ));
    }
    Ok(Sources {
        list,
        as_voice: params.get("asVoice").and_then(Value::as_bool) == Some(true),
    })
}

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// An `http://` or `https://` URL.
    Url(&'a str),
    /// A file path (a `file:` prefix taken off).
    Path(&'a str),
}

/// Tells a URL from a path; other schemes are refused by name.
pub fn classify(src: &str) -> Result<Source<'_>, String> {
    let lower = src.get(..8).unwrap_or(src).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(Source::Url(src));
    }
    if let Some(p) = src
        .strip_prefix("file://")
        .or_else(|| src.strip_prefix("file:"))
    {
        return Ok(Source::Path(p));
    }
    // `scheme://…` and the schemes without slashes that carry data or code.
    let scheme = match src.split_once("://") {
        Some((s, _)) => Some(s),
        None => ["data:", "javascript:", "blob:"]
            .into_iter()
            .find(|p| {
                src.get(..p.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(p))
            })
            .map(|p| &p[..p.len() - 1]),
    };
    if let Some(s) = scheme {
        return Err(format!(
            "{:?} URLs are not fetched: only http(s) URLs and files of the agent's workspace",
            s.chars().take(20).collect::<String>()
        ));
    }
    Ok(Source::Path(src))
}

/// How URLs are fetched: the `web_fetch` client and `tools.web.fetch`'s settings.
#[derive(Clone)]
pub struct Fetch {
    /// The SSRF-guarded HTTP client.
    pub fetcher: Rc<dyn WebFetcher>,
    /// Timeout, redirects, user agent and the SSRF policy.
    pub settings: Arc<crate::web_fetch::WebFetchSettings>,
}

/// Loads `src` as a file to send (see the module docs). `workspace`: the agent's, for paths;
/// `fetch`: for URLs. `Err` says why, with the fix.
pub async fn load(
    src: &str,
    workspace: Option<&Arc<crate::workspace::WorkspaceSettings>>,
    fetch: Option<&Fetch>,
    as_voice: bool,
) -> Result<FileUpload, String> {
    let file = match classify(src)? {
        Source::Url(url) => {
            let Some(f) = fetch else {
                return Err("this gateway fetches no URLs here. Fix: send the file's bytes".into());
            };
            let s = &f.settings;
            let page = f
                .fetcher
                .fetch(FetchRequest {
                    url: url.to_owned(),
                    max_bytes: crate::media::MAX_MEDIA_BYTES,
                    timeout: s.timeout,
                    max_redirects: s.max_redirects,
                    user_agent: s.user_agent.clone(),
                    policy: s.policy.clone(),
                    headers: Vec::new(),
                    error_pages: false,
                    json_body: None,
                })
                .await
                .map_err(|e| format!("{url} was not fetched: {e}"))?;
            if page.truncated {
                return Err(format!(
                    "{url} is larger than {} MiB. Fix: send a smaller file",
                    crate::media::MAX_MEDIA_BYTES / (1024 * 1024)
                ));
            }
            if !(200..300).contains(&page.status) {
                return Err(format!("{url} answered HTTP {}", page.status));
            }
            if page.body.is_empty() {
                return Err(format!("{url} is empty"));
            }
            let name = url_file_name(&page.final_url);
            let ctype = page.content_type.split(';').next().map(str::trim);
            return crate::media::typed_file(page.body, name, ctype, as_voice);
        }
        Source::Path(path) => {
            let Some(ws) = workspace else {
                return Err("files are sent from the agent's workspace, and there is none here. Fix: send the file's bytes".into());
            };
            crate::workspace::attach::load_off_thread(
                ws,
                crate::workspace::Scope::Main,
                path.to_owned(),
            )
            .await
            .map_err(|e| {
                format!(
                    "{e}. Files are sent from the agent's workspace ({}) only. Fix: put the file there (a relative path is relative to it), give an https URL, or send the file's bytes (our `openclaw message send --media FILE` does)",
                    ws.dir.display()
                )
            })?
        }
    };
    if as_voice {
        // Typed again as a voice note (refused when it is none).
        return crate::media::typed_file(
            file.data.to_vec(),
            Some(&file.file_name),
            Some(&file.mime),
            true,
        );
    }
    Ok(file)
}

/// The last path segment of `url` (query and fragment left out), when it looks like a name.
fn url_file_name(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let after_host = path.splitn(4, '/').nth(3)?;
    after_host
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && n.len() <= 120)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sources_are_read_in_order_once_and_bounded() {
        let s = sources_of(&obj(json!({
            "media": " a.png ", "mediaUrl": "https://x.example/b.jpg",
            "mediaUrls": ["a.png", "c.pdf", null], "asVoice": true
        })))
        .expect("sources");
        assert_eq!(s.list, ["a.png", "https://x.example/b.jpg", "c.pdf"]);
        assert!(s.as_voice);
        assert_eq!(
            sources_of(&obj(json!({}))).expect("none"),
            Sources::default()
        );
        for (bad, why) in [
            (json!({"media": 7}), "media must be"),
            (json!({"mediaUrls": "a.png"}), "mediaUrls must be an array"),
            (json!({"mediaUrls": ["a", "b", "c", "d", "e"]}), "at most 4"),
            (json!({"path": "a\nb"}), "control characters"),
            (
                json!({"media": "x".repeat(MAX_SOURCE_CHARS + 1)}),
                "longer than",
            ),
        ] {
            let e = sources_of(&obj(bad.clone())).expect_err(&bad.to_string());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn urls_paths_and_other_schemes_are_told_apart() {
        assert_eq!(
            classify("https://x/a.png"),
            Ok(Source::Url("https://x/a.png"))
        );
        assert_eq!(classify("HTTP://x/a"), Ok(Source::Url("HTTP://x/a")));
        assert_eq!(
            classify("file:///tmp/a.png"),
            Ok(Source::Path("/tmp/a.png"))
        );
        assert_eq!(classify("notes/a b.pdf"), Ok(Source::Path("notes/a b.pdf")));
        assert_eq!(classify("C"), Ok(Source::Path("C")));
        assert_eq!(
            classify("notes:2024.txt"),
            Ok(Source::Path("notes:2024.txt"))
        );
        for bad in [
            "data:image/png;base64,AAAA",
            "ftp://h/x",
            "javascript:alert(1)",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
        assert_eq!(
            url_file_name("https://h.example/a/b/cat.jpg?x=1#f"),
            Some("cat.jpg")
        );
        assert_eq!(url_file_name("https://h.example/"), None);
        assert_eq!(url_file_name("https://h.example"), None);
    }
}
