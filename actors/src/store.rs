//! # `StoreActor` — the one writer of the state directory
//!
//! Runs on its own thread (`SyncArbiter::start(1, …)`) so blocking file I/O never stalls
//! the async workers. Documents are written atomically: temp file in the same directory,
//! `fsync`, rename over the target, `fsync` the directory; files are created with mode
//! 0600 because they hold device-token hashes and public keys.
//!
//! Transcripts are append-only JSONL files (one JSON object per line), synced after each
//! append; a torn last line (crash mid-write) is ignored on load.
//!
//! Messages: [`SaveDocument`], [`LoadDocument`], [`AppendLines`], [`LoadLines`].

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use actix::prelude::*;

/// The store actor.
pub struct StoreActor {
    /// The state directory.
    dir: PathBuf,
}

impl StoreActor {
    /// Starts the store on its own thread.
    pub fn start(dir: PathBuf) -> Addr<Self> {
        SyncArbiter::start(1, move || StoreActor { dir: dir.clone() })
    }
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

/// Writes `contents` to `<state>/<name>` atomically. Sent by the `Registry` after every
/// pairing change; the reply says whether the write is durable.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SaveDocument {
    /// Path relative to the state directory.
    pub name: String,
    /// The bytes to write.
    pub contents: Vec<u8>,
}

impl Handler<SaveDocument> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: SaveDocument, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        write_atomic(&path, &msg.contents).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Reads `<state>/<name>` (`None` when missing).
#[derive(Message)]
#[rtype(result = "Result<Option<Vec<u8>>, String>")]
pub struct LoadDocument {
    /// Path relative to the state directory.
    pub name: String,
}

impl Handler<LoadDocument> for StoreActor {
    type Result = Result<Option<Vec<u8>>, String>;

    fn handle(&mut self, msg: LoadDocument, _: &mut Self::Context) -> Self::Result {
        read_document(&self.dir, &msg.name).map_err(|e| format!("{}: {e}", msg.name))
    }
}

/// Appends JSON lines to `<state>/<name>` (one `write`, no fsync: a transcript is a log; the
/// channel's pending list is what makes inbound messages durable). Sent by agent runs;
/// failures are logged here because runs send it without waiting.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct AppendLines {
    /// Path relative to the state directory.
    pub name: String,
    /// One JSON value per line.
    pub lines: Vec<serde_json::Value>,
}

impl Handler<AppendLines> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: AppendLines, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        append_lines(&path, &msg.lines).map_err(|e| {
            log::error!("transcript append to {} failed: {e}", path.display());
            format!("{}: {e}", path.display())
        })
    }
}

/// Loads the last `limit` JSON lines of `<state>/<name>` (missing file: empty).
#[derive(Message)]
#[rtype(result = "Result<Vec<serde_json::Value>, String>")]
pub struct LoadLines {
    /// Path relative to the state directory.
    pub name: String,
    /// Keep only the last this many lines.
    pub limit: usize,
}

impl Handler<LoadLines> for StoreActor {
    type Result = Result<Vec<serde_json::Value>, String>;

    fn handle(&mut self, msg: LoadLines, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        load_lines(&path, msg.limit).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Appends JSON lines with `O_APPEND` in a single write (lines from one call are never
/// interleaved with another's).
pub fn append_lines(path: &Path, lines: &[serde_json::Value]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut buf = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut buf, l).map_err(std::io::Error::other)?;
        buf.push(b'\n');
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&buf)
}

/// Reads the last `limit` JSON lines, skipping a torn or unparsable line instead of failing
/// the whole load. Reads backwards from the end in growing chunks, so the cost follows
/// `limit`, not the transcript's length.
pub fn load_lines(path: &Path, limit: usize) -> std::io::Result<Vec<serde_json::Value>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut window: u64 = 64 * 1024;
    let buf = loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        std::io::Read::by_ref(&mut f)
            .take(len - start)
            .read_to_end(&mut buf)?;
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        if start == 0 || newlines > limit {
            // Drop a partial first line when we did not start at the beginning.
            if start > 0
                && let Some(pos) = buf.iter().position(|b| *b == b'\n')
            {
                buf.drain(..=pos);
            }
            break buf;
        }
        window = window.saturating_mul(4);
    };
    let text = String::from_utf8_lossy(&buf);
    let mut out: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if out.len() > limit {
        out.drain(..out.len() - limit);
    }
    Ok(out)
}

/// Atomic write: temp + fsync + rename + directory fsync, mode 0600.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(
        ".{file_name}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads `<dir>/<name>`; `Ok(None)` when it does not exist.
pub fn read_document(dir: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn atomic_write_roundtrip_and_mode() {
        let dir = std::env::temp_dir().join(format!("oc-store-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sub").join("doc.json");
        write_atomic(&path, b"{\"a\":1}").expect("write");
        write_atomic(&path, b"{\"a\":2}").expect("overwrite");
        let got = read_document(&dir, "sub/doc.json").expect("read");
        assert_eq!(got.as_deref(), Some(&b"{\"a\":2}"[..]));
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_document(&dir, "missing").expect("read"), None);
        let log = dir.join("t.jsonl");
        append_lines(
            &log,
            &[serde_json::json!({"a": 1}), serde_json::json!({"a": 2})],
        )
        .expect("append");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(b"{\"torn\":"))
            .expect("torn");
        let lines = load_lines(&log, 10).expect("load");
        assert_eq!(lines.len(), 2);
        // A long transcript: only the tail is read, and the cut line is not misparsed.
        let big = dir.join("big.jsonl");
        let many: Vec<serde_json::Value> = (0..5000)
            .map(|i| serde_json::json!({"i": i, "pad": "x".repeat(100)}))
            .collect();
        append_lines(&big, &many).expect("append");
        let tail = load_lines(&big, 40).expect("tail");
        assert_eq!(tail.len(), 40);
        assert_eq!(tail[0]["i"], 4960);
        assert_eq!(tail[39]["i"], 4999);
        assert_eq!(load_lines(&log, 1).expect("load")[0]["a"], 2);
        let _ = fs::remove_dir_all(&dir);
    }
}
