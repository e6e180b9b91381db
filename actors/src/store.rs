//! # `StoreActor` — the one writer of the state directory
//!
//! Runs on its own thread (`SyncArbiter::start(1, …)`) so blocking file I/O never stalls
//! the async workers. Documents are written atomically: temp file in the same directory,
//! `fsync`, rename over the target, `fsync` the directory; files are created with mode
//! 0600 because they hold device-token hashes and public keys.
//!
//! Transcripts are append-only JSONL files (one JSON object per line); a torn last line
//! (crash mid-write) is ignored on load and repaired before the next append (completed if
//! it is whole JSON missing its newline, cut off otherwise), so the next entry never lands
//! on the same line as the garbage. An append with `sync` puts the file (and its directory
//! entry) on disk before it answers; a failed append leaves the file as it was. Directories
//! are created with their entries synced ([`create_dir_durable`]).
//!
//! Messages: [`SaveDocument`], [`LoadDocument`], [`AppendLines`], [`LoadLines`], [`LoadContext`],
//! [`RenameFile`], [`PruneDir`], [`ScanDir`], [`TidyDir`].

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use actix::prelude::*;

/// Why a state-directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the state directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (absolute, or relative to the state directory).
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The store actor is not running (the gateway is shutting down).
    #[error("store unavailable: {0}")]
    Unavailable(#[from] MailboxError),
}

impl StoreError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// Whether the failure is one that passes by itself (a full disk or quota, once space is
    /// freed), so a write is worth retrying.
    pub fn passes(&self) -> bool {
        use std::io::ErrorKind as K;
        matches!(self, Self::Io { source, .. } if matches!(source.kind(), K::StorageFull | K::QuotaExceeded))
    }

    /// What to do about it, for a status line: free space, fix permissions, …
    pub fn fix(&self) -> &'static str {
        use std::io::ErrorKind as K;
        match self {
            Self::Io { source, .. } => match source.kind() {
                K::StorageFull | K::QuotaExceeded => {
                    "free space on the disk that holds the state directory (df -h); saving resumes by itself"
                }
                K::ReadOnlyFilesystem => {
                    "the file system is read-only: remount it read-write (a read-only remount after disk errors needs fsck first)"
                }
                K::NotADirectory => {
                    "a file stands where the state directory needs a directory: move it away"
                }
                K::PermissionDenied => {
                    "make the state directory writable by the user the gateway runs as"
                }
                _ => "check the state directory and the disk that holds it; saving is retried",
            },
            Self::Unavailable(_) => "the gateway is shutting down",
        }
    }

    /// The result of a message sent to the store: the store's answer, or
    /// [`StoreError::Unavailable`] when the store did not answer.
    pub fn flatten<T>(res: Result<Result<T, StoreError>, MailboxError>) -> Result<T, StoreError> {
        res.map_err(StoreError::from).and_then(|r| r)
    }
}

/// Sends `msg` to the store and awaits the answer in a spawned task, so the store carries
/// it out whether or not the returned future is ever polled (actix skips a message whose
/// answer nobody waits for: `tx.is_closed()` in its envelope). The store handles messages
/// in the order they were sent.
pub fn send_detached<M, T>(
    store: &Addr<StoreActor>,
    msg: M,
) -> impl std::future::Future<Output = Result<T, StoreError>> + 'static
where
    M: Message<Result = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
    StoreActor: Handler<M>,
{
    let fut = store.send(msg);
    let (tx, rx) = tokio::sync::oneshot::channel();
    actix::spawn(async move {
        let _ = tx.send(StoreError::flatten(fut.await));
    });
    async move {
        rx.await
            .unwrap_or(Err(StoreError::Unavailable(MailboxError::Closed)))
    }
}

/// The store actor.
pub struct StoreActor {
    /// The state directory.
    dir: PathBuf,
    /// Files whose directory entry this process has synced (see [`append_lines_tracked`]).
    entries: SyncedEntries,
}

impl StoreActor {
    /// Starts the store on its own thread.
    pub fn start(dir: PathBuf) -> Addr<Self> {
        SyncArbiter::start(1, move || StoreActor {
            dir: dir.clone(),
            entries: SyncedEntries::default(),
        })
    }
}

/// The files whose directory entry is known to be on disk: synced by this process since it
/// last saw the file created. Bounded ([`SyncedEntries::MAX`]); forgetting one costs only
/// one more directory sync.
#[derive(Default)]
pub struct SyncedEntries(std::collections::HashSet<PathBuf>);

impl SyncedEntries {
    /// Entries remembered at most.
    pub const MAX: usize = 4096;

    fn synced(&mut self, path: &Path) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(path.to_path_buf());
    }
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

/// Writes `contents` to `<state>/<name>` atomically. Sent by the `Registry` after every
/// pairing change; the reply says whether the write is durable.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SaveDocument {
    /// Path relative to the state directory.
    pub name: String,
    /// The bytes to write.
    pub contents: Vec<u8>,
}

impl Handler<SaveDocument> for StoreActor {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: SaveDocument, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        write_atomic(&path, &msg.contents).map_err(StoreError::io(path))
    }
}

/// Reads `<state>/<name>` (`None` when missing).
#[derive(Message)]
#[rtype(result = "Result<Option<Vec<u8>>, StoreError>")]
pub struct LoadDocument {
    /// Path relative to the state directory.
    pub name: String,
}

impl Handler<LoadDocument> for StoreActor {
    type Result = Result<Option<Vec<u8>>, StoreError>;

    fn handle(&mut self, msg: LoadDocument, _: &mut Self::Context) -> Self::Result {
        read_document(&self.dir, &msg.name).map_err(StoreError::io(msg.name))
    }
}

/// Appends JSON lines to `<state>/<name>` in one `write`. With `sync`, the file's data (every
/// line appended so far, by this message or earlier ones) and its directory entry are on
/// disk when the reply comes (`fdatasync`, then the directory's `fsync`); without, they are
/// in the page cache, which a killed process does not lose but a power cut does. Agent runs
/// append the user's line without `sync` (the model call need not wait for the disk) and
/// their last lines with it: the channel lets go of a message only once its run's lines
/// are synced. Sent by agent runs; failures are logged here because runs send it without
/// waiting.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct AppendLines {
    /// Path relative to the state directory.
    pub name: String,
    /// One JSON value per line (none: only `sync`).
    pub lines: Vec<serde_json::Value>,
    /// Sync the file before replying.
    pub sync: bool,
}

impl Handler<AppendLines> for StoreActor {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: AppendLines, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        append_lines_tracked(&path, &msg.lines, msg.sync, &mut self.entries).map_err(|e| {
            log::error!("transcript append to {} failed: {e}", path.display());
            StoreError::io(path)(e)
        })
    }
}

/// Loads the last `limit` JSON lines of `<state>/<name>` (missing file: empty), from at
/// most its last `max_bytes`.
#[derive(Message)]
#[rtype(result = "Result<Vec<serde_json::Value>, StoreError>")]
pub struct LoadLines {
    /// Path relative to the state directory.
    pub name: String,
    /// Keep only the last this many lines.
    pub limit: usize,
    /// Read at most this much of the file's end (`u64::MAX`: no bound); a line that does
    /// not fit in it whole is left out, with every line before it.
    pub max_bytes: u64,
}

impl Handler<LoadLines> for StoreActor {
    type Result = Result<Vec<serde_json::Value>, StoreError>;

    fn handle(&mut self, msg: LoadLines, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        load_lines_within(&path, msg.limit, msg.max_bytes).map_err(StoreError::io(path))
    }
}

/// Loads a transcript's context: its lines from the messages its last compaction kept (see
/// [`crate::compaction::context_start`]), or, without a compaction, all of it; either way
/// at most the last `max_bytes` of the file.
#[derive(Message)]
#[rtype(result = "Result<Vec<serde_json::Value>, StoreError>")]
pub struct LoadContext {
    /// Path relative to the state directory.
    pub name: String,
    /// Read at most this much of the file's end.
    pub max_bytes: u64,
}

impl Handler<LoadContext> for StoreActor {
    type Result = Result<Vec<serde_json::Value>, StoreError>;

    fn handle(&mut self, msg: LoadContext, _: &mut Self::Context) -> Self::Result {
        let path = self.dir.join(&msg.name);
        load_context(&path, msg.max_bytes).map_err(StoreError::io(path))
    }
}

/// Renames `<state>/<name>` to `<state>/<to>` (both in the same directory) and syncs the
/// directory, so the rename survives a power cut. `Ok(false)`: there was no such file.
/// Sent by the `Registry` when a session is deleted (its transcript is kept under another
/// name, as OpenClaw archives it).
#[derive(Message)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct RenameFile {
    /// Path relative to the state directory.
    pub name: String,
    /// The new path, relative to the state directory.
    pub to: String,
}

impl Handler<RenameFile> for StoreActor {
    type Result = Result<bool, StoreError>;

    fn handle(&mut self, msg: RenameFile, _: &mut Self::Context) -> Self::Result {
        let from = self.dir.join(&msg.name);
        let to = self.dir.join(&msg.to);
        let res = (|| {
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            }
            fs::File::open(parent_dir(&to)?)?.sync_all()?;
            Ok(true)
        })();
        res.map_err(StoreError::io(from))
    }
}

/// The most files [`ScanDir`] lists (a sessions directory of a busy gateway holds a few
/// thousand).
pub const MAX_SCAN: usize = 200_000;

/// Lists the regular files of `<state>/<dir>` (name, size, mtime) and the session ids its
/// `sessions.json` names on disk: what session maintenance plans with. A missing directory
/// is empty. At most [`MAX_SCAN`] files.
#[derive(Message)]
#[rtype(result = "Result<crate::registry::maintenance::DirListing, StoreError>")]
pub struct ScanDir {
    /// Directory relative to the state directory.
    pub dir: String,
}

impl Handler<ScanDir> for StoreActor {
    type Result = Result<crate::registry::maintenance::DirListing, StoreError>;

    fn handle(&mut self, msg: ScanDir, _: &mut Self::Context) -> Self::Result {
        use crate::registry::maintenance::{DirFile, DirListing};
        let dir = self.dir.join(&msg.dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DirListing {
                    complete: true,
                    ..DirListing::default()
                });
            }
            Err(e) => return Err(StoreError::io(dir)(e)),
        };
        // The index on disk: the transcripts it names are never leftovers, even those of
        // an agent whose entries this process did not load. One it cannot read protects
        // every file.
        let on_disk = match fs::read(dir.join("sessions.json")) {
            Ok(bytes) => {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
                    .ok()
                    .map(|m| {
                        m.values()
                            .filter_map(|v| v.get("sessionId").and_then(serde_json::Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Default::default()),
            Err(_) => None,
        };
        let mut out = Vec::new();
        let mut complete = true;
        for e in entries {
            let Ok(e) = e else {
                complete = false;
                continue;
            };
            if out.len() >= MAX_SCAN {
                log::warn!(
                    "{}: more than {MAX_SCAN} files; session maintenance looks at the first {MAX_SCAN}",
                    dir.display()
                );
                complete = false;
                break;
            }
            // `symlink_metadata`: a link is not followed (nor counted as a file).
            let Ok(meta) = fs::symlink_metadata(e.path()) else {
                complete = false;
                continue;
            };
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            out.push(DirFile {
                name,
                bytes: meta.len(),
                modified_ms,
            });
        }
        Ok(DirListing {
            files: out,
            on_disk,
            complete,
        })
    }
}

/// Archives (renames `<name>` to `<name>.deleted.<stamp>`) and deletes files of
/// `<state>/<dir>`, then syncs the directory; answers how many files were archived and
/// deleted. Only plain names of that directory are touched (no `/`, no leading `.`); a
/// file already gone counts as nothing.
#[derive(Message)]
#[rtype(result = "Result<(usize, usize), StoreError>")]
pub struct TidyDir {
    /// Directory relative to the state directory.
    pub dir: String,
    /// Files to archive.
    pub archive: Vec<String>,
    /// Files to delete.
    pub delete: Vec<String>,
    /// The archives' suffix (ms).
    pub stamp: u64,
}

impl Handler<TidyDir> for StoreActor {
    type Result = Result<(usize, usize), StoreError>;

    fn handle(&mut self, msg: TidyDir, _: &mut Self::Context) -> Self::Result {
        let dir = self.dir.join(&msg.dir);
        let plain = |n: &str| !n.is_empty() && !n.contains('/') && !n.starts_with('.');
        let (mut archived, mut deleted) = (0, 0);
        let mut first_error = None;
        for name in msg.archive.iter().filter(|n| plain(n)) {
            let to = dir.join(format!("{name}.deleted.{}", msg.stamp));
            match fs::rename(dir.join(name), &to) {
                Ok(()) => archived += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert_with(|| StoreError::io(dir.join(name))(e));
                }
            }
        }
        for name in msg.delete.iter().filter(|n| plain(n)) {
            match fs::remove_file(dir.join(name)) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert_with(|| StoreError::io(dir.join(name))(e));
                }
            }
        }
        if archived + deleted > 0
            && let Err(e) = fs::File::open(&dir).and_then(|d| d.sync_all())
        {
            first_error.get_or_insert_with(|| StoreError::io(dir.clone())(e));
        }
        match first_error {
            Some(e) if archived + deleted == 0 => Err(e),
            Some(e) => {
                log::warn!("session maintenance: {e}");
                Ok((archived, deleted))
            }
            None => Ok((archived, deleted)),
        }
    }
}

/// Prunes the directory `<state>/<name>`: removes its files older than `max_age`, then the
/// oldest beyond `keep` files or `max_bytes` in all, never `except` (the file just written)
/// and never a directory.
/// Sent after each new attachment ([`crate::media`]); failures are logged.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PruneDir {
    /// Directory relative to the state directory.
    pub name: String,
    /// Files kept at most.
    pub keep: usize,
    /// Bytes kept at most (the file just written counts).
    pub max_bytes: u64,
    /// Files older than this go.
    pub max_age: std::time::Duration,
    /// Path (relative to the state directory) that stays whatever its age.
    pub except: String,
}

impl Handler<PruneDir> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: PruneDir, _: &mut Self::Context) {
        let dir = self.dir.join(&msg.name);
        let except = self.dir.join(&msg.except);
        prune_dir(&dir, &except, &msg);
    }
}

/// See [`PruneDir`]; returns how many files went.
fn prune_dir(dir: &Path, except: &Path, msg: &PruneDir) -> usize {
    let mut removed = 0;
    {
        let Ok(entries) = fs::read_dir(dir) else {
            return 0;
        };
        let now = std::time::SystemTime::now();
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total = files
            .iter()
            .find(|(_, _, p)| *p == except)
            .map_or(0, |f| f.1);
        files.retain(|(_, _, p)| *p != except);
        // Newest first; the file just written counts against `keep` and `max_bytes`.
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let keep = msg.keep.saturating_sub(1);
        for (i, (modified, len, path)) in files.iter().enumerate() {
            let old = now
                .duration_since(*modified)
                .is_ok_and(|age| age > msg.max_age);
            total = total.saturating_add(*len);
            if old || i >= keep || total > msg.max_bytes {
                match fs::remove_file(path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => log::warn!("could not prune {}: {e}", path.display()),
                }
            }
        }
    }
    removed
}

/// Appends JSON lines with `O_APPEND` in a single write (lines from one call are never
/// interleaved with another's); with `sync`, the file's data and its directory entry are on
/// disk before it returns ([`AppendLines`]). A failed append leaves the file as it was, so
/// it can be retried. No lines and a missing file: nothing to do.
pub fn append_lines(path: &Path, lines: &[serde_json::Value], sync: bool) -> std::io::Result<()> {
    append_lines_tracked(path, lines, sync, &mut SyncedEntries::default())
}

/// [`append_lines`], whose directory sync is skipped for a file whose entry `entries` says
/// this process has synced already (an agent run's synced append then costs one
/// `fdatasync`, not also a directory `fsync`). A file found empty here may be new (a
/// transcript archived and started over, a file deleted by hand): its entry is synced
/// again. The store is the only writer of these files.
pub fn append_lines_tracked(
    path: &Path,
    lines: &[serde_json::Value],
    sync: bool,
    entries: &mut SyncedEntries,
) -> std::io::Result<()> {
    let dir = parent_dir(path)?;
    if lines.is_empty() && !path.exists() {
        return Ok(());
    }
    create_dir_durable(dir)?;
    let mut buf = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut buf, l).map_err(std::io::Error::other)?;
        buf.push(b'\n');
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let before = if buf.is_empty() {
        f.metadata()?.len()
    } else {
        repair_torn_tail(&mut f, path)?
    };
    if before == 0 {
        // Created now (or empty): its entry is not known to be on disk.
        entries.0.remove(path);
    }
    let result = (|| {
        f.write_all(&buf)?;
        if sync {
            f.sync_data()?;
            // The entry of a file created now or by an earlier, unsynced append.
            if !entries.0.contains(path) {
                fs::File::open(dir)?.sync_all()?;
                entries.synced(path);
            }
        }
        Ok(())
    })();
    if result.is_err() {
        // Nothing of a failed append stays (a partial write, or lines whose sync failed and
        // whose pages the kernel may have dropped): a retry writes them once, whole.
        let _ = f.set_len(before);
    }
    result
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> std::io::Result<&Path> {
    match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(d) => Ok(d),
        None => Err(std::io::Error::other("path has no parent directory")),
    }
}

/// Creates `dir` and its missing ancestors (mode 0700), each one's entry synced in its
/// parent, so a directory that a synced file lives in cannot vanish in a power cut. An
/// existing `dir` costs one `stat`.
pub fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.as_os_str().is_empty() && !at.exists() {
        missing.push(at);
        match at.parent() {
            Some(p) => at = p,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => {}
            // Made meanwhile by someone else: its entry is theirs to sync.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => return Err(e),
        }
        fs::File::open(parent_dir(d)?)?.sync_all()?;
    }
    Ok(())
}

/// Longest torn tail we try to parse (a longer one is dropped without parsing).
const MAX_TORN_TAIL: u64 = 8 * 1024 * 1024;

/// Makes sure the file ends at a line boundary before an append, so a line torn by a crash
/// mid-append is not glued to the next entry: a tail that is complete JSON missing only its
/// newline gets the newline; anything else after the last newline is cut off (it was never
/// acknowledged as written). The store is the only writer, so check-then-append is safe.
/// Returns the file's length after the repair.
fn repair_torn_tail(f: &mut fs::File, path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt as _;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Find the start of the torn line: just after the last newline (or the file's start).
    let mut start = 0u64;
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let from = end.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(end - from).unwrap_or(chunk.len());
        f.read_exact_at(&mut chunk[..n], from)?;
        if let Some(i) = chunk[..n].iter().rposition(|b| *b == b'\n') {
            start = from + i as u64 + 1;
            break;
        }
        end = from;
    }
    let tail_len = len - start;
    if tail_len <= MAX_TORN_TAIL {
        let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
        f.read_exact_at(&mut tail, start)?;
        if serde_json::from_slice::<serde_json::Value>(&tail).is_ok() {
            log::warn!(
                "{}: the last line had no newline (interrupted append); completing it",
                path.display()
            );
            f.write_all(b"\n")?;
            return Ok(len + 1);
        }
    }
    log::warn!(
        "{}: dropping a torn last line ({tail_len} bytes, interrupted append) before appending",
        path.display()
    );
    f.set_len(start)?;
    Ok(start)
}

/// Reads the last `limit` JSON lines, skipping a torn or unparsable line instead of failing
/// the whole load. Reads backwards from the end in growing chunks (16 KB first) and parses
/// lines from the end until it has `limit`, so the cost follows `limit`, not the
/// transcript's length.
pub fn load_lines(path: &Path, limit: usize) -> std::io::Result<Vec<serde_json::Value>> {
    load_lines_within(path, limit, u64::MAX)
}

/// As [`load_lines`], reading at most the file's last `max_bytes` (at least 1 KiB): the
/// lines that fit in them whole.
pub fn load_lines_within(
    path: &Path,
    limit: usize,
    max_bytes: u64,
) -> std::io::Result<Vec<serde_json::Value>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let max_bytes = max_bytes.max(1024);
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut window: u64 = (16 * 1024).min(max_bytes);
    let buf = loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        std::io::Read::by_ref(&mut f)
            .take(len - start)
            .read_to_end(&mut buf)?;
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        if start == 0 || newlines > limit || window >= max_bytes {
            // Drop a partial first line when we did not start at the beginning.
            if start > 0
                && let Some(pos) = buf.iter().position(|b| *b == b'\n')
            {
                buf.drain(..=pos);
            }
            break buf;
        }
        window = window.saturating_mul(4).min(max_bytes);
    };
    let text = String::from_utf8_lossy(&buf);
    let mut out: Vec<serde_json::Value> = text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .take(limit)
        .collect();
    out.reverse();
    Ok(out)
}

/// A transcript's context lines (see [`LoadContext`]): reads ever larger windows of the
/// file's end (64 KiB, ×4) until one holds the last compaction and the messages it kept,
/// the whole file, or `max_bytes`.
pub fn load_context(path: &Path, max_bytes: u64) -> std::io::Result<Vec<serde_json::Value>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let max_bytes = max_bytes.max(1);
    let mut window: u64 = (64 * 1024u64).min(max_bytes);
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        std::io::Read::by_ref(&mut f)
            .take(len - start)
            .read_to_end(&mut buf)?;
        // A partial first line (we did not start at the beginning) is not a line.
        let body = if start > 0 {
            match buf.iter().position(|b| *b == b'\n') {
                Some(pos) => &buf[pos + 1..],
                None => &[][..],
            }
        } else {
            &buf[..]
        };
        let mut lines: Vec<serde_json::Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let found = crate::compaction::context_start(&lines);
        if found.is_some() || start == 0 || window >= max_bytes {
            if let Some(at) = found {
                lines.drain(..at);
            }
            return Ok(lines);
        }
        window = window.saturating_mul(4).min(max_bytes);
    }
}

/// Atomic write: temp + fsync + rename + directory fsync, mode 0600.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, contents, 0o600)
}

/// Atomic write with the file created as `mode` (the content is never readable beyond
/// `mode`, not even briefly): a temp file in the same directory (created 0700 if missing,
/// durably: [`create_dir_durable`]), fsync, rename over `path`, directory fsync. The one atomic-write helper of the workspace.
pub fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, mode, |f| f.write_all(contents))
}

/// [`write_atomic_mode`] with the content written by `fill` into the temp file (streamed:
/// content of any size in bounded memory). `fill` may read `path`: it is replaced only
/// after `fill` returns.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent_dir(path)?;
    create_dir_durable(dir)?;
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
            .mode(mode)
            .open(&tmp)?;
        fill(&mut f)?;
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
    fn context_loads_reach_back_to_the_kept_messages_of_the_last_compaction() {
        use serde_json::json;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.jsonl");
        let msg = |n: usize| json!({"type": "message", "role": if n.is_multiple_of(2) { "user" } else { "assistant" }, "content": format!("m{n} {}", "x".repeat(1000))});
        let mut text = String::new();
        let mut push = |v: serde_json::Value| {
            text.push_str(&v.to_string());
            text.push('\n');
        };
        // 300 messages (~300 KB), a compaction keeping 4, then 3 more: the windows grow
        // past 64 KiB until the kept messages are in.
        for n in 0..300 {
            push(msg(n));
        }
        push(json!({"type": "compaction", "summary": "S", "keptMessages": 4}));
        for n in 300..303 {
            push(msg(n));
        }
        fs::write(&path, &text).expect("write");
        let got = load_context(&path, 16 * 1024 * 1024).expect("load");
        assert_eq!(got.len(), 8, "4 kept, the compaction, 3 after");
        assert!(
            got[0]["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("m296 "))
        );
        // Without a compaction: everything, up to the cap (a partial first line dropped).
        let plain = dir.path().join("p.jsonl");
        fs::write(
            &plain,
            text.lines().take(300).collect::<Vec<_>>().join("\n"),
        )
        .expect("write");
        let all = load_context(&plain, 16 * 1024 * 1024).expect("load");
        assert_eq!(all.len(), 300);
        let capped = load_context(&plain, 100 * 1024).expect("load");
        assert!(capped.len() < 100 && capped.len() > 90, "{}", capped.len());
        assert!(capped.last().is_some_and(|l| {
            l["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("m299 "))
        }));
        // Junk lines and a missing file.
        fs::write(
            &plain,
            "not json\n{\"type\":\"message\",\"role\":\"user\",\"content\":\"ok\"}\n\u{0}\n",
        )
        .expect("write");
        assert_eq!(
            load_context(&plain, 1).expect("load").len(),
            0,
            "a 1-byte cap reads no whole line"
        );
        assert_eq!(load_context(&plain, 1024).expect("load").len(), 1);
        assert!(
            load_context(&dir.path().join("none"), 1024)
                .expect("load")
                .is_empty()
        );
    }

    #[test]
    fn prune_keeps_the_newest_within_count_bytes_and_age() {
        let dir = std::env::temp_dir().join(format!("oc-prune-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(dir.join("sub")).expect("mkdir");
        let now = std::time::SystemTime::now();
        let hour = std::time::Duration::from_secs(3600);
        // f0 newest … f5 oldest, 100 bytes each; f5 is 3 days old.
        for i in 0..6u32 {
            let p = dir.join(format!("f{i}"));
            fs::write(&p, [0u8; 100]).expect("write");
            let age = if i == 5 { hour * 72 } else { hour * i };
            fs::File::options()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_modified(now - age))
                .expect("mtime");
        }
        let left = || {
            let mut v: Vec<String> = fs::read_dir(&dir)
                .expect("list")
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let msg = |keep, max_bytes, days| PruneDir {
            name: String::new(),
            keep,
            max_bytes,
            max_age: hour * 24 * days,
            except: String::new(),
        };
        // Age: only f5 is older than 2 days.
        assert_eq!(prune_dir(&dir, &dir.join("f0"), &msg(100, u64::MAX, 2)), 1);
        assert_eq!(left(), ["f0", "f1", "f2", "f3", "f4"]);
        // Bytes: 300 in all, the one just written (f4, the oldest) counting first.
        assert_eq!(prune_dir(&dir, &dir.join("f4"), &msg(100, 300, 30)), 2);
        assert_eq!(left(), ["f0", "f1", "f4"]);
        // Count: 2 files, the one just written among them; never a directory.
        assert_eq!(prune_dir(&dir, &dir.join("f4"), &msg(2, u64::MAX, 30)), 1);
        assert_eq!(left(), ["f0", "f4"]);
        assert!(dir.join("sub").is_dir());
        // A missing directory is nothing to do.
        assert_eq!(prune_dir(&dir.join("none"), &dir, &msg(1, 1, 1)), 0);
        let _ = fs::remove_dir_all(&dir);
    }

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
            true,
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
        append_lines(&big, &many, false).expect("append");
        let tail = load_lines(&big, 40).expect("tail");
        assert_eq!(tail.len(), 40);
        assert_eq!(tail[0]["i"], 4960);
        assert_eq!(tail[39]["i"], 4999);
        assert_eq!(load_lines(&log, 1).expect("load")[0]["a"], 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn atomic_write_with_mode_replaces_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("oc-store-{}", uuid::Uuid::new_v4()));
        let path = dir.join("cert.pem");
        write_atomic_mode(&path, b"one", 0o640).expect("write");
        write_atomic_mode(&path, b"two", 0o640).expect("overwrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<String> = fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["cert.pem".to_owned()]);
        // A directory where the file should be: an error, and the temp file is removed.
        fs::create_dir(dir.join("taken")).expect("mkdir");
        assert!(write_atomic_mode(&dir.join("taken"), b"x", 0o600).is_err());
        assert_eq!(fs::read_dir(&dir).expect("list").count(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_last_line_is_repaired_before_the_next_append() {
        let dir = tempfile_dir();
        let log = dir.join("t.jsonl");
        let a = |v: serde_json::Value| append_lines(&log, &[v], false).expect("append");
        a(serde_json::json!({"a": 1}));
        a(serde_json::json!({"a": 2}));
        // Crash mid-append: partial JSON, no newline.
        raw_append(&log, b"{\"torn\":");
        a(serde_json::json!({"a": 3}));
        assert_eq!(
            fs::read_to_string(&log).expect("read"),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n",
            "the torn line is cut off, the next entry on its own line"
        );
        // Crash between the JSON and its newline: the entry is complete, keep it.
        raw_append(&log, b"{\"a\":4}");
        a(serde_json::json!({"a": 5}));
        let got: Vec<serde_json::Value> = load_lines(&log, 10)
            .expect("load")
            .into_iter()
            .map(|v| v["a"].clone())
            .collect();
        assert_eq!(got, [1, 2, 3, 4, 5].map(serde_json::Value::from).to_vec());
        // A file that is nothing but a torn line, longer than one read chunk.
        let only = dir.join("only.jsonl");
        raw_append(
            &only,
            format!("{{\"x\":\"{}", "y".repeat(200_000)).as_bytes(),
        );
        append_lines(&only, &[serde_json::json!({"a": 1})], true).expect("append");
        assert_eq!(fs::read_to_string(&only).expect("read"), "{\"a\":1}\n");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn store_errors_say_what_to_do_about_them() {
        use std::io::ErrorKind as K;
        let fix = |k: K| {
            StoreError::Io {
                path: "x".into(),
                source: std::io::Error::from(k),
            }
            .fix()
        };
        assert!(fix(K::StorageFull).starts_with("free space"));
        assert!(fix(K::QuotaExceeded).starts_with("free space"));
        assert!(fix(K::ReadOnlyFilesystem).contains("remount"));
        assert!(fix(K::PermissionDenied).contains("writable"));
        assert!(fix(K::NotADirectory).contains("a file stands"));
        assert!(fix(K::Other).contains("retried"));
        let io = |k: K| StoreError::Io {
            path: "x".into(),
            source: std::io::Error::from(k),
        };
        assert!(io(K::StorageFull).passes());
        assert!(!io(K::PermissionDenied).passes());
        assert!(!io(K::NotADirectory).passes());
    }

    /// A synced append creates the missing directories (0700) and the file (0600); a sync
    /// with no lines syncs what is there and never creates a file.
    #[test]
    fn synced_appends_create_directories_and_a_bare_sync_creates_nothing() {
        let dir = tempfile_dir();
        let log = dir.join("agents/main/sessions/s.jsonl");
        append_lines(&log, &[], true).expect("sync of a missing file");
        assert!(!dir.join("agents").exists(), "a bare sync creates nothing");
        append_lines(&log, &[serde_json::json!({"a": 1})], false).expect("append");
        append_lines(&log, &[], true).expect("sync");
        append_lines(&log, &[serde_json::json!({"a": 2})], true).expect("append + sync");
        assert_eq!(
            fs::read_to_string(&log).expect("read"),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        for d in ["agents", "agents/main", "agents/main/sessions"] {
            let mode = fs::metadata(dir.join(d)).expect("dir").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{d}");
        }
        let mode = fs::metadata(&log).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A file where a directory should be: an error, not a panic.
        fs::write(dir.join("flat"), b"x").expect("write");
        assert!(append_lines(&dir.join("flat/s.jsonl"), &[serde_json::json!(1)], true).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    /// A synced append syncs the directory entry once per file: remembered after the first,
    /// forgotten when the file is found missing (created anew), bounded.
    #[test]
    fn synced_entries_are_remembered_until_the_file_is_created_anew() {
        let dir = tempfile_dir();
        let log = dir.join("agents/main/sessions/t.jsonl");
        let mut entries = SyncedEntries::default();
        let line = |n: u32| [serde_json::json!({"n": n})];
        // Created by an unsynced append: its entry is not known to be on disk.
        append_lines_tracked(&log, &line(1), false, &mut entries).expect("append");
        assert!(!entries.0.contains(&log));
        append_lines_tracked(&log, &line(2), true, &mut entries).expect("append + sync");
        assert!(entries.0.contains(&log), "synced once, remembered");
        append_lines_tracked(&log, &line(3), true, &mut entries).expect("append + sync");
        assert!(entries.0.contains(&log));
        // Archived (renamed away) and started over: the new file's entry is synced again.
        fs::rename(&log, dir.join("agents/main/sessions/t.jsonl.reset")).expect("rename");
        append_lines_tracked(&log, &line(4), false, &mut entries).expect("append");
        assert!(!entries.0.contains(&log), "a new file is not known");
        append_lines_tracked(&log, &line(5), true, &mut entries).expect("append + sync");
        assert!(entries.0.contains(&log));
        assert_eq!(
            fs::read_to_string(&log).expect("read"),
            "{\"n\":4}\n{\"n\":5}\n"
        );
        // Bounded: a full set starts over instead of growing.
        for i in 0..SyncedEntries::MAX + 10 {
            entries.synced(&dir.join(format!("x{i}")));
        }
        assert!(entries.0.len() <= SyncedEntries::MAX);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A failed write answers a typed error naming the file; a stopped store answers
    /// `Unavailable`.
    #[actix::test]
    async fn store_errors_name_the_file_and_the_stopped_store() {
        let dir = tempfile_dir();
        // A directory where the document should go: the rename cannot replace it.
        fs::create_dir_all(dir.join("doc.json").join("inner")).expect("mkdir");
        let store = StoreActor::start(dir.clone());
        let res = store
            .send(SaveDocument {
                name: "doc.json".into(),
                contents: b"{}".to_vec(),
            })
            .await;
        let err = StoreError::flatten(res).expect_err("a directory is in the way");
        let StoreError::Io { path, .. } = &err else {
            panic!("not an I/O error: {err:?}");
        };
        assert_eq!(path, &dir.join("doc.json"));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", dir.join("doc.json").display())),
            "{err}"
        );
        let read = store
            .send(LoadDocument {
                name: "doc.json".into(),
            })
            .await;
        let err = StoreError::flatten(read).expect_err("a directory is not a document");
        assert!(err.to_string().starts_with("doc.json: "), "{err}");
        let gone = StoreError::flatten::<()>(Err(MailboxError::Closed));
        assert_eq!(
            gone.map_err(|e| e.to_string()),
            Err("store unavailable: Mailbox has closed".to_owned())
        );
        let _ = fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oc-store-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    fn raw_append(path: &Path, bytes: &[u8]) {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("raw append");
    }
}
