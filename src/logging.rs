//! Logging: `env_logger` to stderr (filtered by `RUST_LOG`, default `warn`), plus
//!
//! - an in-memory ring of recent records (JSON lines, bounded in lines and bytes) that
//!   `logs.tail` serves, and
//! - an optional size-capped rolling file log (`logging.file`, relative paths in the state
//!   dir; `logging.maxFileBytes`, default 10 MB; five numbered archives; mode 0600).
//!
//! Both take records at `logging.level` (default `info`). Every record passes the
//! [redactor](set_secrets) first: the configured secrets (gateway token and password, bot
//! tokens, webhook secrets, model API keys) are replaced by `<redacted>` in every output,
//! stderr included. Call sites already avoid logging secrets; this is the backstop.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, RwLock};

use serde_json::{Value, json};

/// Lines kept in the ring.
pub const RING_LINES: usize = 5000;
/// Bytes kept in the ring.
pub const RING_BYTES: usize = 2 * 1024 * 1024;
/// Default `logging.maxFileBytes`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Archives kept beside the active file (`<name>.1` … `<name>.5`).
pub const ARCHIVES: usize = 5;
/// The longest message kept (longer ones are cut, marked with `…`).
const MAX_MESSAGE: usize = 16 * 1024;

/// The ring of recent records: `cursor` positions are byte offsets in the stream of every
/// line ever logged (each line counted with its newline), like a file offset.
#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<(u64, String)>,
    bytes: usize,
    /// Offset just past the newest line.
    end: u64,
}

impl Ring {
    fn push(&mut self, line: String) {
        let start = self.end;
        self.end += line.len() as u64 + 1;
        self.bytes += line.len() + 1;
        self.lines.push_back((start, line));
        while self.lines.len() > RING_LINES || self.bytes > RING_BYTES {
            match self.lines.pop_front() {
                Some((_, l)) => self.bytes -= l.len() + 1,
                None => break,
            }
        }
    }
}

/// The size-capped file log.
#[derive(Debug)]
struct FileLog {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl FileLog {
    fn open(path: &Path, max: u64) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            max: max.max(4096),
        })
    }

    fn write_line(&mut self, line: &str) {
        let n = line.len() as u64 + 1;
        if self.size > 0 && self.size + n > self.max {
            self.rotate();
        }
        if self.file.write_all(line.as_bytes()).is_ok() && self.file.write_all(b"\n").is_ok() {
            self.size += n;
        }
    }

    fn rotate(&mut self) {
        let name = |i: usize| {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{i}"));
            PathBuf::from(s)
        };
        let _ = std::fs::remove_file(name(ARCHIVES));
        for i in (1..ARCHIVES).rev() {
            let _ = std::fs::rename(name(i), name(i + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
        if let Ok(f) = Self::open(&self.path, self.max) {
            *self = f;
        }
    }
}

/// Process-wide logger state.
struct State {
    ring: Mutex<Ring>,
    file: Mutex<Option<FileLog>>,
    secrets: RwLock<Vec<String>>,
    level: RwLock<log::LevelFilter>,
    host: String,
}

static STATE: OnceLock<State> = OnceLock::new();

fn state() -> &'static State {
    STATE.get_or_init(|| State {
        ring: Mutex::new(Ring::default()),
        file: Mutex::new(None),
        secrets: RwLock::new(Vec::new()),
        level: RwLock::new(log::LevelFilter::Info),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    })
}

/// Replaces every configured secret in `text` by `<redacted>`.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(secrets) = state().secrets.read() else {
        return text.into();
    };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return text.into();
    }
    let mut out = text.to_owned();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out.into()
}

/// Whether `text` holds one of the configured secrets.
pub fn holds_secret(text: &str) -> bool {
    state()
        .secrets
        .read()
        .is_ok_and(|secrets| secrets.iter().any(|s| text.contains(s.as_str())))
}

/// Sets the secrets the redactor removes (values shorter than 4 characters are ignored:
/// they would redact ordinary words).
pub fn set_secrets(list: impl IntoIterator<Item = String>) {
    let mut v: Vec<String> = list.into_iter().filter(|s| s.len() >= 4).collect();
    // Longest first, so a secret containing another is replaced whole.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v.dedup();
    if let Ok(mut g) = state().secrets.write() {
        *g = v;
    }
}

/// `logging` settings as the gateway resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file log, if any.
    pub file: Option<PathBuf>,
    /// Rotation size.
    pub max_file_bytes: u64,
    /// Level for the ring and the file.
    pub level: log::LevelFilter,
}

/// Applies `logging` settings (at start and on reload). An unopenable file is reported and
/// leaves the previous file log in place.
pub fn configure(s: &Settings) -> Result<(), String> {
    let st = state();
    if let Ok(mut l) = st.level.write() {
        *l = s.level;
    }
    let max = log::max_level().max(s.level);
    log::set_max_level(max);
    let Ok(mut file) = st.file.lock() else {
        return Ok(());
    };
    match &s.file {
        None => *file = None,
        Some(p) => {
            let same = file
                .as_ref()
                .is_some_and(|f| f.path == *p && f.max == s.max_file_bytes.max(4096));
            if !same {
                *file = Some(FileLog::open(p, s.max_file_bytes).map_err(|e| {
                    format!(
                        "cannot open log file {}: {e}. Fix: point logging.file at a writable path",
                        p.display()
                    )
                })?);
            }
        }
    }
    Ok(())
}

/// The current file log path.
pub fn file_path() -> Option<PathBuf> {
    state()
        .file
        .lock()
        .ok()
        .and_then(|f| f.as_ref().map(|f| f.path.clone()))
}

/// Parses a level name (`silent`, `fatal`/`error`, `warn`, `info`, `debug`, `trace`).
pub fn parse_level(s: &str) -> Option<log::LevelFilter> {
    Some(match s.to_ascii_lowercase().as_str() {
        "silent" | "off" => log::LevelFilter::Off,
        "fatal" | "error" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => return None,
    })
}

/// `logs.tail {cursor?, limit?, maxBytes?}` → `{file, cursor, size, lines, truncated?,
/// reset?}`: lines after `cursor` (the newest `limit`, default 500, at most `maxBytes`,
/// default 250000); without a cursor, the newest lines. `reset: true` when the cursor
/// points before what the ring still holds (lines were dropped) or past its end.
pub fn tail(params: &Value) -> Value {
    let cursor = params.get("cursor").and_then(Value::as_u64);
    let limit = params
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(500)
        .clamp(1, 5000) as usize;
    let max_bytes = params
        .get("maxBytes")
        .and_then(Value::as_u64)
        .unwrap_or(250_000)
        .clamp(1, 1_000_000) as usize;
    let file = file_path().map(|p| p.display().to_string());
    let Ok(ring) = state().ring.lock() else {
        return json!({"file": file, "cursor": 0, "size": 0, "lines": []});
    };
    let first = ring.lines.front().map_or(ring.end, |(o, _)| *o);
    let mut reset = false;
    let from = match cursor {
        Some(c) if c >= first && c <= ring.end => c,
        Some(_) => {
            reset = true;
            first
        }
        None => first,
    };
    let candidates: Vec<&(u64, String)> = ring.lines.iter().filter(|(o, _)| *o >= from).collect();
    let mut truncated = candidates.len() > limit;
    let mut picked: Vec<&str> = Vec::new();
    let mut bytes = 0;
    let mut next = ring.end;
    // The newest lines win when the window is too small, as `tail` does.
    for (_, l) in candidates.iter().rev().take(limit) {
        if bytes + l.len() + 1 > max_bytes && !picked.is_empty() {
            truncated = true;
            break;
        }
        bytes += l.len() + 1;
        picked.push(l.as_str());
    }
    picked.reverse();
    if picked.is_empty() {
        next = ring.end;
    }
    let mut v = json!({
        "file": file,
        "cursor": next,
        "size": ring.end,
        "lines": picked,
    });
    if truncated {
        v["truncated"] = json!(true);
    }
    if reset {
        v["reset"] = json!(true);
    }
    v
}

/// Formats a UTC timestamp (`2026-12-01T13:00:00.123Z`).
fn timestamp(now: std::time::SystemTime) -> String {
    let d = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The logger: env_logger for stderr, the ring and the file behind the redactor.
struct Logger {
    stderr: env_logger::Logger,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        self.stderr.enabled(m) || state().level.read().is_ok_and(|l| m.level() <= *l)
    }

    fn log(&self, record: &log::Record<'_>) {
        let to_stderr = self.stderr.enabled(record.metadata());
        let st = state();
        let to_ring = st.level.read().is_ok_and(|l| record.level() <= *l);
        if !to_stderr && !to_ring {
            return;
        }
        // actix-http logs a peer's malformed request or broken connection as an ERROR
        // ("stream error: request parse error: …"): any stranger could write such lines at will.
        // The fault is the peer's, not the gateway's: they are kept only when debug is asked for.
        if record.target().starts_with("actix_http::h1") && record.level() <= log::Level::Warn {
            let as_debug = log::Metadata::builder()
                .level(log::Level::Debug)
                .target(record.target())
                .build();
            if !self.enabled(&as_debug) {
                return;
            }
        }
        let raw = record.args().to_string();
        let mut msg = redact(&raw).into_owned();
        if msg.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push('…');
        }
        // Ring and file first: whoever sees the line on stderr finds it in `logs.tail`.
        if to_ring {
            let line = json!({
                "time": timestamp(std::time::SystemTime::now()),
                "level": record.level().as_str().to_ascii_lowercase(),
                "subsystem": record.target(),
                "message": msg,
                "hostname": st.host,
            })
            .to_string();
            if let Ok(mut f) = st.file.lock()
                && let Some(f) = f.as_mut()
            {
                f.write_line(&line);
            }
            if let Ok(mut r) = st.ring.lock() {
                r.push(line);
            }
        }
        if to_stderr {
            self.stderr.log(
                &log::Record::builder()
                    .args(format_args!("{msg}"))
                    .level(record.level())
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        self.stderr.flush();
        if let Ok(mut f) = state().file.lock()
            && let Some(f) = f.as_mut()
        {
            let _ = f.file.flush();
        }
    }
}

/// Installs the logger (once, from `main`).
pub fn init() {
    let stderr =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .format_timestamp_millis()
            .build();
    let max = stderr.filter().max(log::LevelFilter::Info);
    if log::set_boxed_logger(Box::new(Logger { stderr })).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_cursor_and_limits() {
        let mut r = Ring::default();
        r.push("a".into());
        r.push("bb".into());
        assert_eq!(r.end, 5);
        assert_eq!(r.lines.back().map(|(o, _)| *o), Some(2));
    }

    #[test]
    fn timestamps_are_utc_iso() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_137_200_123);
        assert_eq!(timestamp(t), "2026-12-01T15:00:00.123Z");
        assert_eq!(timestamp(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn file_log_rotates_at_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("gw.log");
        let mut f = FileLog::open(&p, 4096).expect("open");
        let line = "x".repeat(1000);
        for _ in 0..10 {
            f.write_line(&line);
        }
        let size = std::fs::metadata(&p).expect("meta").len();
        assert!(size <= 4096, "{size}");
        assert!(dir.path().join("gw.log.1").exists());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
