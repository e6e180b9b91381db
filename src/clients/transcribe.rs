//! Speech to text: [`Transcribers`] implements
//! [`Transcriber`](crate::actors::ports::Transcriber) over the entries of
//! [`crate::config::media::audio_plan`], tried in order until one gives a transcript.
//!
//! - A provider entry uploads the audio to an OpenAI-compatible
//!   `POST {baseUrl}/audio/transcriptions` (`multipart/form-data`: `file`, `model`, and
//!   `language` / `prompt` when set; `Authorization: Bearer <key>` when a key is known) and
//!   reads `{"text": …}`. The key never appears in errors or logs.
//! - A CLI entry runs its program directly (no shell) with its `args` filled in:
//!   `{{AttachmentPath}}` (alias `{{MediaPath}}`), `{{AttachmentDir}}` (`{{MediaDir}}`),
//!   `{{AttachmentContentType}}` (`{{MediaType}}`), `{{OutputDir}}` (a fresh private
//!   directory under `<state>/media/work`, removed afterwards), `{{OutputBase}}`, `{{MaxChars}}`, `{{Prompt}}`,
//!   `{{Language}}`. It must exit 0; its standard output (at most 5 MB read) is the
//!   transcript, or, when that is empty, the first `.txt` file it wrote into `{{OutputDir}}`
//!   (as `whisper --output_dir` does). It runs in its own process group, which is killed at
//!   its timeout (and once it exits, so nothing it started outlives it).
//! - Audio over an entry's `maxBytes` skips that entry; a failed entry is logged and the
//!   next one tried.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::telegram::Multipart;
use super::{MAX_BODY, http_client, http_failure, send_error, truncate};
use crate::actors::ports::{AudioClip, LocalFut, Transcriber};
use crate::config::media::{CliHow, EntryPlan, How, ProviderHow};

/// Most of a CLI's standard output read (OpenClaw's cap).
pub const MAX_CLI_OUTPUT: usize = 5 * 1024 * 1024;

/// Most of a CLI's standard error kept for the error message.
const MAX_CLI_STDERR: usize = 16 * 1024;

/// The configured entries.
#[derive(Debug, Clone)]
pub struct Transcribers {
    entries: Rc<[EntryPlan]>,
}

impl Transcribers {
    /// Tries `entries` in order.
    pub fn new(entries: Vec<EntryPlan>) -> Self {
        Self {
            entries: entries.into(),
        }
    }
}

impl Transcriber for Transcribers {
    fn label(&self) -> String {
        self.entries
            .iter()
            .map(|e| e.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn transcribe(&self, clip: AudioClip) -> LocalFut<Result<String, String>> {
        let entries = self.entries.clone();
        Box::pin(async move {
            let mut failures = Vec::new();
            for e in entries.iter() {
                if clip.bytes > e.max_bytes {
                    failures.push(format!(
                        "{}: {} bytes is over its maxBytes ({})",
                        e.label, clip.bytes, e.max_bytes
                    ));
                    continue;
                }
                let attempt = match &e.how {
                    How::Provider(p) => provider(e, p, &clip).await,
                    How::Cli(c) => cli(e, c, &clip).await,
                };
                match attempt {
                    Ok(text) => {
                        log::info!(
                            "voice message transcribed by {} ({} bytes of audio)",
                            e.label,
                            clip.bytes
                        );
                        return Ok(openclaw_actors::hearing::cut(&text, e.max_chars));
                    }
                    Err(why) => {
                        log::warn!("transcription by {} failed: {why}", e.label);
                        failures.push(format!("{}: {why}", e.label));
                    }
                }
            }
            Err(failures.join("; "))
        })
    }
}

/// Reads `path`, refusing more than `max` bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read the audio: {e}"))?;
    let mut data = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read the audio: {e}"))?;
    if data.len() as u64 > max {
        return Err(format!("the audio is over its maxBytes ({max})"));
    }
    Ok(data)
}

async fn provider(e: &EntryPlan, p: &ProviderHow, clip: &AudioClip) -> Result<String, String> {
    let ProviderHow {
        url,
        api_key,
        model,
        language,
        prompt,
        headers,
    } = p;
    let path = clip.path.clone();
    let max = e.max_bytes;
    let data = actix_web::rt::task::spawn_blocking(move || read_bounded(&path, max))
        .await
        .map_err(|e| format!("cannot read the audio: {e}"))??;
    let ext = clip
        .path
        .extension()
        .and_then(|x| x.to_str())
        .unwrap_or("ogg");
    let mut form = Multipart::new();
    form.text("model", model);
    if let Some(l) = language {
        form.text("language", l);
    }
    if let Some(p) = prompt {
        form.text("prompt", p);
    }
    form.file("file", &format!("audio.{ext}"), &clip.mime, &data);
    drop(data);
    let form = form.finish();
    let mut req = http_client()
        .post(url.as_str())
        .timeout(e.timeout)
        .content_type(form.content_type());
    for (k, v) in headers {
        req = req.insert_header((k.as_str(), v.as_str()));
    }
    if let Some(key) = api_key {
        req = req.bearer_auth(key);
    }
    let secret = api_key.as_deref().unwrap_or("");
    let mut resp = req
        .send_body(form.into_body())
        .await
        .map_err(|err| send_error(err, e.timeout, secret))?;
    let status = resp.status();
    let body = resp
        .body()
        .limit(MAX_BODY)
        .await
        .map_err(|err| format!("HTTP {status}: cannot read the answer: {err}"))?;
    if !status.is_success() {
        return Err(http_failure(status.as_u16(), &body, secret));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "the answer has no \"text\"".to_owned()),
        // `response_format: text` servers answer plain text.
        Err(_) => std::str::from_utf8(&body)
            .map(str::to_owned)
            .map_err(|_| "the answer is neither JSON nor text".to_owned()),
    }
}

/// `template` with `{{Name}}` replaced by its value in `vars` (one pass: a value is never
/// expanded again); unknown names stay.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| {
            vars.iter()
                .find(|(n, _)| *n == &after[..end])
                .map(|v| (end, v.1))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads at most `cap` bytes of `r`, then drains the rest (so the writer never blocks).
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// A CLI's process group, killed (SIGKILL) when dropped: at its timeout, once it exited
/// (what it left in the background), or when the run waiting for it is cancelled.
struct GroupKill(Option<rustix::process::Pid>);

impl GroupKill {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    /// A new directory under `base` (made, 0700, when missing).
    fn new(base: &Path) -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt as _;
        let fail = |e: std::io::Error| {
            format!(
                "cannot create a scratch directory in {}: {e}",
                base.display()
            )
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(base)
            .map_err(fail)?;
        let dir = base.join(format!("stt-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(fail)?;
        Ok(Self(dir))
    }

    /// The first `.txt` file in `dir`, read (bounded).
    fn text_in(dir: &Path) -> Option<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        names.sort();
        let data = read_bounded(names.first()?, MAX_CLI_OUTPUT as u64).ok()?;
        Some(String::from_utf8_lossy(&data).into_owned())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn cli(e: &EntryPlan, c: &CliHow, clip: &AudioClip) -> Result<String, String> {
    let CliHow {
        command,
        args,
        prompt,
        language,
    } = c;
    // File work off the run's thread (it runs on the registry's arbiter).
    let base = clip.work_dir.clone();
    let scratch = actix_web::rt::task::spawn_blocking(move || Scratch::new(&base))
        .await
        .map_err(|err| format!("cannot create a scratch directory: {err}"))??;
    // The program runs in the scratch directory: a relative state directory must not
    // change what the path names.
    let abs = std::path::absolute(&clip.path).unwrap_or_else(|_| clip.path.clone());
    let path = abs.display().to_string();
    let dir = abs
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let out_dir = scratch.0.display().to_string();
    let stem = clip
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audio".into());
    let out_base = scratch.0.join(&stem).display().to_string();
    let max_chars = e.max_chars.map(|n| n.to_string()).unwrap_or_default();
    let vars: [(&str, &str); 12] = [
        ("AttachmentPath", &path),
        ("MediaPath", &path),
        ("AttachmentDir", &dir),
        ("MediaDir", &dir),
        ("AttachmentContentType", &clip.mime),
        ("MediaType", &clip.mime),
        ("AttachmentIndex", "0"),
        ("OutputDir", &out_dir),
        ("OutputBase", &out_base),
        ("MaxChars", &max_chars),
        ("Prompt", prompt.as_deref().unwrap_or("")),
        ("Language", language.as_deref().unwrap_or("")),
    ];
    let args: Vec<String> = args.iter().map(|a| fill(a, &vars)).collect();
    let mut child = tokio::process::Command::new(command)
        .args(&args)
        .current_dir(&scratch.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a timeout kills what it started too (a wrapper script's
        // whisper), not only the program itself.
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot start {command:?}: {err}"))?;
    // Killed when this returns, and when the run is cancelled (the future dropped) too.
    let group = GroupKill(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw),
    );
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let run = async {
        let reads = futures_util::future::join(
            read_capped(stdout, MAX_CLI_OUTPUT),
            read_capped(stderr, MAX_CLI_STDERR),
        );
        // Once the program exits, what it left in the background goes with it: a
        // leftover holding its stdout open would otherwise keep the reads waiting.
        let exit = async {
            let status = child.wait().await;
            group.kill();
            status
        };
        let ((out, err), status) = futures_util::future::join(reads, exit).await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(e.timeout, run).await {
        Ok(done) => done,
        Err(_) => {
            drop(group);
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            return Err(format!(
                "no transcript within {}s (killed)",
                e.timeout.as_secs()
            ));
        }
    };
    drop(group);
    let status = status.map_err(|err| format!("wait: {err}"))?;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "exited with {status}: {}",
            truncate(last.trim(), 200)
        ));
    }
    let text = String::from_utf8_lossy(&out).trim().to_owned();
    if !text.is_empty() {
        return Ok(text);
    }
    let dir = scratch.0.clone();
    let text = actix_web::rt::task::spawn_blocking(move || Scratch::text_in(&dir))
        .await
        .ok()
        .flatten();
    Ok(text.unwrap_or_default().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_names_only() {
        let vars = [("AttachmentPath", "/s/a.ogg"), ("OutputDir", "/tmp/x")];
        assert_eq!(fill("{{AttachmentPath}}", &vars), "/s/a.ogg");
        assert_eq!(
            fill("--out={{OutputDir}}/{{Unknown}}", &vars),
            "--out=/tmp/x/{{Unknown}}"
        );
        // A value is never expanded again.
        let vars = [("AttachmentPath", "{{OutputDir}}"), ("OutputDir", "/tmp/x")];
        assert_eq!(fill("{{AttachmentPath}}", &vars), "{{OutputDir}}");
        assert_eq!(fill("{{ {{OutputDir}} }} {{", &vars), "{{ /tmp/x }} {{");
        assert_eq!(fill("é{{OutputDir}}ü", &vars), "é/tmp/xü");
    }
}
