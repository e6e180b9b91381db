//! File operations confined to one directory (the agent's workspace).
//!
//! The paths come from the model, and a chat message can steer the model, so every path is
//! hostile input: it is checked as a string (not empty, no NUL, at most [`MAX_PATH_BYTES`]),
//! resolved lexically against the root (a `..` above the root, or an absolute path elsewhere,
//! is refused; the OS never sees a `..`), and the part of it that exists is canonicalized
//! (symbolic links followed) and must stay inside the canonical root. Reads never open
//! anything but a regular file (a FIFO cannot block them, a device is not opened) and read at
//! most their limit plus one byte; writes are atomic, create missing directories one level at
//! a time (each one re-checked), and never write through a symbolic link.
//!
//! Everything here is synchronous `std::fs`: callers run it on a blocking thread. The error
//! messages ([`ConfinedError`]) are shown to the model: they name paths relative to the root
//! only, never a host path outside it.

use std::ffi::OsStr;
use std::fs;
use std::io::{ErrorKind, Read as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The longest path (bytes) a caller may give.
pub const MAX_PATH_BYTES: usize = 4096;

/// The most [`Root::read`] preallocates (bytes); a larger file grows the buffer as it is read.
const PREALLOC_MAX: usize = 4 * 1024 * 1024;

/// How much of a model-given string an error message repeats (bytes).
const ECHO_BYTES: usize = 160;

/// A directory the agent's file operations are confined to.
#[derive(Debug, Clone)]
pub struct Root {
    /// The configured absolute directory (it may not exist yet).
    dir: PathBuf,
}

/// Where a model-given path leads ([`Root::locate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The path inside the root, resolved lexically (no `.`/`..` left, symbolic links not
    /// followed): the path the operations use.
    pub path: PathBuf,
    /// The same path with the symbolic links of its existing part followed (the canonical
    /// existing ancestor plus the missing rest): where it really leads, inside the
    /// canonical root. Equal to `path` while the root does not exist.
    pub real: PathBuf,
}

/// A regular file's contents ([`Root::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    /// The whole file (at most the `max` given to [`Root::read`]).
    pub bytes: Vec<u8>,
    /// Its length in bytes (`bytes.len()`).
    pub len: u64,
    /// Last modification, milliseconds since the Unix epoch (0 when unknown).
    pub modified_ms: u64,
}

/// A regular file's metadata ([`Root::stat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Length in bytes.
    pub len: u64,
    /// Last modification, milliseconds since the Unix epoch (0 when unknown).
    pub modified_ms: u64,
}

/// What [`Root::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The file did not exist before.
    pub created: bool,
    /// The file was (re)written; `false` when it already held exactly these bytes (then it
    /// is left untouched).
    pub changed: bool,
}

/// Why a confined operation was refused or failed. The `Display` text is meant for the model:
/// it names the problem and what to do, with paths relative to the workspace.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    /// Empty or whitespace-only path.
    #[error("the path is empty; give a file path relative to the workspace, e.g. \"notes.md\"")]
    Empty,
    /// The path contains a NUL byte.
    #[error("the path contains a NUL byte; give a plain file path relative to the workspace")]
    Nul,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is {len} bytes long, more than the {max} bytes allowed; use a shorter path")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The path names something outside the root (`..` above it, or an absolute path elsewhere).
    #[error("path \"{path}\" is outside the workspace; use a path relative to the workspace")]
    Outside {
        /// The path as given (clipped).
        path: String,
    },
    /// The path leads outside the root through a symbolic link.
    #[error(
        "path \"{path}\" leads outside the workspace through a symbolic link; use a path inside the workspace"
    )]
    LinkOutside {
        /// The path as given (clipped).
        path: String,
    },
    /// A symbolic link on the way does not lead anywhere.
    #[error("\"{path}\" is a broken symbolic link; use another path")]
    BrokenLink {
        /// The link, relative to the root.
        path: String,
    },
    /// The path names the root itself.
    #[error(
        "\"{path}\" is the workspace directory itself, not a file; name a file inside it, e.g. \"notes.md\""
    )]
    IsRoot {
        /// The path as given (clipped).
        path: String,
    },
    /// The target exists but is not a regular file.
    #[error("\"{path}\" is a {kind}, not a file")]
    NotAFile {
        /// Relative to the root.
        path: String,
        /// "directory", "FIFO (named pipe)", "socket", "device", "special file".
        kind: &'static str,
    },
    /// A directory on the way is a file (or something else that is not a directory).
    #[error(
        "\"{path}\" is not a directory, so \"{target}\" cannot be created under it; use another path"
    )]
    NotADirectory {
        /// The component, relative to the root.
        path: String,
        /// The requested path, relative to the root.
        target: String,
    },
    /// The write target is a symbolic link.
    #[error(
        "\"{path}\" is a symbolic link; this tool does not write through links: write to the file it points to instead"
    )]
    Symlink {
        /// Relative to the root.
        path: String,
    },
    /// The file is larger than the caller's limit.
    #[error("file \"{path}\" is {}, more than the {} this tool reads", human_size(*.size), human_limit(*.max))]
    TooLarge {
        /// Relative to the root.
        path: String,
        /// Its size in bytes (at least `max + 1`).
        size: u64,
        /// The limit.
        max: usize,
    },
    /// An I/O error.
    #[error("could not {op} \"{path}\": {source}")]
    Io {
        /// What was being done ("read", "write", …).
        op: &'static str,
        /// Relative to the root.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Root {
    /// A root at `dir` (absolute; it may not exist yet).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The configured directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A model-given path → an absolute path inside the root (lexically resolved; see
    /// [`Root::locate`] for the rules).
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ConfinedError> {
        self.locate(path).map(|l| l.path)
    }

    /// A model-given path → where it leads. Accepts relative paths (against the root; `./x`,
    /// `a/../b` while it stays inside) and absolute paths inside the root (the configured or
    /// the canonical one); a leading `~` is a plain name (no home expansion). Refuses an
    /// empty/whitespace-only path, a NUL byte, more than [`MAX_PATH_BYTES`], a `..` above the
    /// root, an absolute path elsewhere, the root itself, and a path whose existing part
    /// resolves (symbolic links followed) outside the canonical root.
    pub fn locate(&self, given: &str) -> Result<Located, ConfinedError> {
        check_string(given)?;
        let canon_root = self.canonical_root()?;
        let path = self.lexical_target(given, canon_root.as_deref())?;
        let real = match &canon_root {
            Some(cr) => self.real_path(&path, cr, given)?,
            // No root yet: nothing below it exists, the path is what it says.
            None => path.clone(),
        };
        Ok(Located { path, real })
    }

    /// Reads a regular file inside the root: `Ok(None)` when it does not exist. Refuses a
    /// directory, FIFO, socket or device (never opened for reading, and opened non-blocking
    /// anyway), a symbolic link that leads outside the root, and a file over `max` bytes
    /// ([`ConfinedError::TooLarge`]; at most `max + 1` bytes are read).
    pub fn read(&self, path: &str, max: usize) -> Result<Option<FileRead>, ConfinedError> {
        let loc = self.locate(path)?;
        let name = self.relative(&loc.path);
        let io = |source| ConfinedError::Io {
            op: "read",
            path: name.clone(),
            source,
        };
        // Look before opening: a device or FIFO is never opened.
        let meta = match fs::metadata(&loc.path) {
            Ok(m) => m,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        require_file(&meta, &name)?;
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(open_flags())
            .open(&loc.path)
        {
            Ok(f) => f,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        // What was opened, not what was looked at: the same checks on the open file.
        self.check_opened(&file, path)?;
        let meta = file.metadata().map_err(io)?;
        require_file(&meta, &name)?;
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        // The size is a hint (a sparse or growing file may lie): preallocate a bounded amount.
        let mut bytes = Vec::with_capacity(
            usize::try_from(meta.len().min(limit))
                .unwrap_or(0)
                .min(PREALLOC_MAX),
        );
        file.take(limit).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() > max {
            return Err(ConfinedError::TooLarge {
                path: name,
                size: meta.len().max(len_u64(bytes.len())),
                max,
            });
        }
        Ok(Some(FileRead {
            len: len_u64(bytes.len()),
            bytes,
            modified_ms: modified_ms(&meta),
        }))
    }

    /// Metadata of a regular file inside the root (`None`: missing). Refuses what
    /// [`Root::read`] refuses (but has no size limit).
    pub fn stat(&self, path: &str) -> Result<Option<FileMeta>, ConfinedError> {
        let loc = self.locate(path)?;
        let name = self.relative(&loc.path);
        let meta = match fs::metadata(&loc.path) {
            Ok(m) => m,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(source) => {
                return Err(ConfinedError::Io {
                    op: "inspect",
                    path: name,
                    source,
                });
            }
        };
        require_file(&meta, &name)?;
        Ok(Some(FileMeta {
            len: meta.len(),
            modified_ms: modified_ms(&meta),
        }))
    }

    /// Replaces (or creates) a regular file inside the root atomically (temp file, fsync,
    /// rename, directory fsync; mode 0600). Creates the root (0700) and missing directories
    /// (0700) one level at a time, each one checked to stay inside the canonical root.
    /// Refuses to replace anything but a regular file, and to write through a symbolic link
    /// at the target. A file that already holds exactly `bytes` is left untouched
    /// (`changed: false`).
    pub fn write(&self, path: &str, bytes: &[u8]) -> Result<Written, ConfinedError> {
        // Validate before creating anything (a refused path must not create the root).
        let loc = self.locate(path)?;
        let name = self.relative(&loc.path);
        crate::store::create_dir_durable(&self.dir).map_err(|source| ConfinedError::Io {
            op: "create the workspace directory for",
            path: name.clone(),
            source,
        })?;
        let canon_root = fs::canonicalize(&self.dir).map_err(|source| ConfinedError::Io {
            op: "open the workspace for",
            path: name.clone(),
            source,
        })?;
        // Re-check against the (now) existing root.
        let loc = self.locate(path)?;
        let rel = loc
            .path
            .strip_prefix(&self.dir)
            .map_err(|_| ConfinedError::Outside {
                path: clip(path).to_owned(),
            })?;
        let parts: Vec<&OsStr> = rel.components().map(Component::as_os_str).collect();
        let Some((_, dirs)) = parts.split_last() else {
            return Err(ConfinedError::IsRoot {
                path: clip(path).to_owned(),
            });
        };
        let mut at = self.dir.clone();
        for part in dirs {
            at.push(part);
            self.ensure_dir(&at, &canon_root, path, &name)?;
        }
        let created = match fs::symlink_metadata(&loc.path) {
            Err(e) if e.kind() == ErrorKind::NotFound => true,
            Err(source) => {
                return Err(ConfinedError::Io {
                    op: "inspect",
                    path: name,
                    source,
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ConfinedError::Symlink { path: name });
            }
            Ok(m) => {
                require_file(&m, &name)?;
                if m.len() == len_u64(bytes.len()) && self.holds(&loc.path, bytes) {
                    return Ok(Written {
                        created: false,
                        changed: false,
                    });
                }
                false
            }
        };
        crate::store::write_atomic_mode(&loc.path, bytes, 0o600).map_err(|source| {
            ConfinedError::Io {
                op: "write",
                path: name,
                source,
            }
        })?;
        Ok(Written {
            created,
            changed: true,
        })
    }

    /// Deletes a regular file (or a symbolic link, itself, not what it points to) inside
    /// the root: `Ok(false)` when it does not exist. Refuses a directory and anything but a
    /// file or link, and (as [`Root::locate`]) a path that leads outside the root. The
    /// directory is synced so the deletion survives a crash.
    pub fn remove(&self, path: &str) -> Result<bool, ConfinedError> {
        let loc = self.locate(path)?;
        let name = self.relative(&loc.path);
        let io = |op, source| ConfinedError::Io {
            op,
            path: name.clone(),
            source,
        };
        match fs::symlink_metadata(&loc.path) {
            Err(e) if is_missing(&e) => return Ok(false),
            Err(e) => return Err(io("inspect", e)),
            Ok(m) if m.file_type().is_symlink() => {}
            Ok(m) => require_file(&m, &name)?,
        }
        match fs::remove_file(&loc.path) {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Ok(false),
            Err(e) => return Err(io("delete", e)),
        }
        if let Some(dir) = loc.path.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            // Best effort: the file is gone either way.
            let _ = d.sync_all();
        }
        Ok(true)
    }

    /// `abs` relative to the root, with `/` separators (for messages), e.g.
    /// `memory/2026-12-03.md`; `.` for the root itself. A path under the canonical root is
    /// made relative to it; a path outside the root gives its file name only (never a host
    /// path). A relative `abs` is taken as relative to the root already.
    pub fn relative(&self, abs: &Path) -> String {
        match self.relative_parts(abs) {
            Some(parts) if parts.is_empty() => ".".to_owned(),
            Some(parts) => parts.join("/"),
            None => abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "?".to_owned()),
        }
    }

    /// The components of `abs` below the root (configured or canonical), lossily decoded;
    /// `None` when it is not below either.
    fn relative_parts(&self, abs: &Path) -> Option<Vec<String>> {
        let parts = |p: &Path| -> Vec<String> {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        };
        let lex = if abs.is_absolute() {
            lexical(abs)
        } else {
            lexical(&self.dir.join(abs))
        };
        if let Ok(rel) = lex.strip_prefix(lexical(&self.dir)) {
            return Some(parts(rel));
        }
        let canon = fs::canonicalize(&self.dir).ok()?;
        lex.strip_prefix(&canon).ok().map(parts)
    }

    /// The canonical root, `None` while the root does not exist.
    fn canonical_root(&self) -> Result<Option<PathBuf>, ConfinedError> {
        match fs::canonicalize(&self.dir) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfinedError::Io {
                op: "open the workspace for",
                path: ".".to_owned(),
                source,
            }),
        }
    }

    /// `given` resolved lexically to an absolute path strictly below the root.
    fn lexical_target(
        &self,
        given: &str,
        canon_root: Option<&Path>,
    ) -> Result<PathBuf, ConfinedError> {
        let outside = || ConfinedError::Outside {
            path: clip(given).to_owned(),
        };
        let raw = Path::new(given);
        let rel: PathBuf = if raw.is_absolute() {
            let lex = lexical(raw);
            if let Ok(r) = lex.strip_prefix(lexical(&self.dir)) {
                r.to_path_buf()
            } else if let Some(r) = canon_root.and_then(|c| lex.strip_prefix(c).ok()) {
                r.to_path_buf()
            } else {
                return Err(outside());
            }
        } else {
            let mut rel = PathBuf::new();
            for c in raw.components() {
                match c {
                    Component::Normal(n) => rel.push(n),
                    Component::CurDir => {}
                    Component::ParentDir => {
                        if !rel.pop() {
                            return Err(outside());
                        }
                    }
                    Component::RootDir | Component::Prefix(_) => return Err(outside()),
                }
            }
            rel
        };
        if rel.as_os_str().is_empty() {
            return Err(ConfinedError::IsRoot {
                path: clip(given).to_owned(),
            });
        }
        Ok(self.dir.join(rel))
    }

    /// `path` (lexical, below the root) with the symbolic links of its longest existing
    /// ancestor followed; refused when that leads outside `canon_root`.
    fn real_path(
        &self,
        path: &Path,
        canon_root: &Path,
        given: &str,
    ) -> Result<PathBuf, ConfinedError> {
        let mut existing = path;
        let mut rest: Vec<&OsStr> = Vec::new();
        loop {
            match fs::canonicalize(existing) {
                Ok(c) => {
                    if !c.starts_with(canon_root) {
                        return Err(ConfinedError::LinkOutside {
                            path: clip(given).to_owned(),
                        });
                    }
                    let mut real = c;
                    for part in rest.iter().rev() {
                        real.push(part);
                    }
                    return Ok(real);
                }
                Err(e) if is_missing(&e) && existing != self.dir => {
                    match (existing.file_name(), existing.parent()) {
                        (Some(n), Some(p)) => {
                            rest.push(n);
                            existing = p;
                        }
                        _ => {
                            return Err(ConfinedError::Io {
                                op: "resolve",
                                path: self.relative(path),
                                source: e,
                            });
                        }
                    }
                }
                Err(source) => {
                    return Err(ConfinedError::Io {
                        op: "resolve",
                        path: self.relative(path),
                        source,
                    });
                }
            }
        }
    }

    /// Makes sure the directory `at` (one level below a checked directory) exists, creating
    /// it (0700) if missing, and that it really is a directory inside `canon_root`.
    fn ensure_dir(
        &self,
        at: &Path,
        canon_root: &Path,
        given: &str,
        target: &str,
    ) -> Result<(), ConfinedError> {
        let here = self.relative(at);
        let io = |op, source| ConfinedError::Io {
            op,
            path: here.clone(),
            source,
        };
        match fs::symlink_metadata(at) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Its parent was checked: creating a name in it cannot land outside.
                crate::store::create_dir_durable(at).map_err(|e| io("create the directory", e))?;
            }
            Err(e) if e.kind() == ErrorKind::NotADirectory => {
                return Err(ConfinedError::NotADirectory {
                    path: here,
                    target: target.to_owned(),
                });
            }
            Err(e) => return Err(io("inspect", e)),
        }
        let real = match fs::canonicalize(at) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(ConfinedError::BrokenLink { path: here });
            }
            Err(e) => return Err(io("resolve", e)),
        };
        if !real.starts_with(canon_root) {
            return Err(ConfinedError::LinkOutside {
                path: clip(given).to_owned(),
            });
        }
        match fs::metadata(&real) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(ConfinedError::NotADirectory {
                path: here,
                target: target.to_owned(),
            }),
            Err(e) => Err(io("inspect", e)),
        }
    }

    /// Whether the regular file at `path` holds exactly `bytes` (false on any doubt).
    fn holds(&self, path: &Path, bytes: &[u8]) -> bool {
        let Ok(file) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(open_flags())
            .open(path)
        else {
            return false;
        };
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            return false;
        }
        let mut have = Vec::with_capacity(bytes.len());
        let limit = len_u64(bytes.len()).saturating_add(1);
        file.take(limit).read_to_end(&mut have).is_ok() && have == bytes
    }

    /// The open file really is inside the canonical root (what the kernel opened, via
    /// `/proc/self/fd`; skipped when `/proc` is not available).
    fn check_opened(&self, file: &fs::File, given: &str) -> Result<(), ConfinedError> {
        let Ok(opened) = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
            return Ok(());
        };
        if !opened.is_absolute() {
            return Ok(());
        }
        match fs::canonicalize(&self.dir) {
            Ok(cr) if opened.starts_with(&cr) => Ok(()),
            _ => Err(ConfinedError::LinkOutside {
                path: clip(given).to_owned(),
            }),
        }
    }
}

/// The string checks of a model-given path.
fn check_string(given: &str) -> Result<(), ConfinedError> {
    if given.len() > MAX_PATH_BYTES {
        return Err(ConfinedError::TooLong {
            len: given.len(),
            max: MAX_PATH_BYTES,
        });
    }
    if given.contains('\0') {
        return Err(ConfinedError::Nul);
    }
    if given.trim().is_empty() {
        return Err(ConfinedError::Empty);
    }
    Ok(())
}

/// Where `p` really leads: `.`/`..` applied lexically, then the symbolic links of its
/// longest existing ancestor followed (the rest appended as written). For comparing
/// directories that may not exist yet.
pub fn real_path_of(p: &Path) -> PathBuf {
    let lexical = lexical(p);
    let mut existing = lexical.as_path();
    let mut rest: Vec<&OsStr> = Vec::new();
    loop {
        if let Ok(mut real) = fs::canonicalize(existing) {
            real.extend(rest.iter().rev());
            return real;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

/// `p` with `.` dropped and `..` applied lexically (never above `/`).
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Refuses anything but a regular file.
fn require_file(meta: &fs::Metadata, name: &str) -> Result<(), ConfinedError> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    };
    Err(ConfinedError::NotAFile {
        path: name.to_owned(),
        kind,
    })
}

/// `O_NONBLOCK | O_NOCTTY`: opening never waits (a FIFO without a writer) and never
/// acquires a terminal.
fn open_flags() -> i32 {
    let bits = (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits();
    i32::try_from(bits).unwrap_or(0)
}

/// A missing path: not found, or a file where a directory was expected on the way.
fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn modified_ms(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// `n` as a `u64` (saturating).
pub(crate) fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// At most [`ECHO_BYTES`] of `s`, cut at a char boundary.
fn clip(s: &str) -> &str {
    &s[..floor_char_boundary(s, ECHO_BYTES)]
}

/// The largest char boundary of `s` at or below `at`.
pub(crate) fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut i = at;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A size for people: "512 bytes", "3.4 kB", "3.1 MB".
pub(crate) fn human_size(n: u64) -> String {
    if n < 1000 {
        format!("{n} bytes")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else if n < 1_000_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{:.1} GB", n as f64 / 1e9)
    }
}

/// A limit for people: "2 MiB", "12 KiB", "12000 bytes".
pub(crate) fn human_limit(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};

    /// A temp dir with an existing workspace `ws/` and a sibling `outside/` holding
    /// `secret.txt`.
    fn setup() -> (tempfile::TempDir, Root, PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        let ws = t.path().join("ws");
        fs::create_dir(&ws).expect("mkdir ws");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir outside");
        fs::write(outside.join("secret.txt"), "s3cret").expect("secret");
        (t, Root::new(ws), outside)
    }

    fn host(t: &tempfile::TempDir) -> String {
        t.path().to_string_lossy().into_owned()
    }

    #[test]
    fn resolve_accepts_relative_and_inside_absolute_paths() {
        let (_t, root, _) = setup();
        let ws = root.dir().to_path_buf();
        assert_eq!(root.resolve("notes.md").expect("rel"), ws.join("notes.md"));
        assert_eq!(root.resolve("./a/../b.md").expect("dots"), ws.join("b.md"));
        assert_eq!(
            root.resolve("memory//2026-12-03.md").expect("double slash"),
            ws.join("memory/2026-12-03.md")
        );
        let abs = ws.join("x/y.md");
        assert_eq!(root.resolve(abs.to_str().expect("utf8")).expect("abs"), abs);
        // The canonical spelling of the root is inside too.
        let canon = fs::canonicalize(&ws).expect("canon").join("c.md");
        assert_eq!(
            root.resolve(canon.to_str().expect("utf8"))
                .expect("canon abs"),
            ws.join("c.md")
        );
        // `~` is a plain name, no home expansion.
        assert_eq!(root.resolve("~/x.md").expect("tilde"), ws.join("~/x.md"));
        assert_eq!(root.resolve("~").expect("tilde alone"), ws.join("~"));
        // Exactly the limit is not refused for its length.
        let long = format!("{}bb", "a/".repeat(2047));
        assert_eq!(long.len(), MAX_PATH_BYTES);
        assert!(!matches!(
            root.resolve(&long),
            Err(ConfinedError::TooLong { .. })
        ));
    }

    #[test]
    fn resolve_refuses_escapes_and_bad_strings() {
        let (t, root, outside) = setup();
        let ws = root.dir().to_path_buf();
        let e = root.resolve("../x").expect_err("dotdot");
        assert_eq!(
            e.to_string(),
            "path \"../x\" is outside the workspace; use a path relative to the workspace"
        );
        for p in ["a/../../x", "./../ws/x", "..", "a/b/../../../ws/x"] {
            assert!(
                matches!(root.resolve(p), Err(ConfinedError::Outside { .. })),
                "{p}"
            );
        }
        for p in [
            "/etc/passwd".to_owned(),
            outside.join("secret.txt").to_string_lossy().into_owned(),
            // A sibling whose name starts like the root's is not inside it.
            t.path().join("ws2/x").to_string_lossy().into_owned(),
            format!("{}/../outside/secret.txt", ws.display()),
        ] {
            assert!(
                matches!(root.resolve(&p), Err(ConfinedError::Outside { .. })),
                "{p}"
            );
        }
        // An absolute path that wanders out and back in is inside.
        let back = format!("{}/../ws/k.md", ws.display());
        assert_eq!(root.resolve(&back).expect("back in"), ws.join("k.md"));
        assert!(matches!(root.resolve("a\0b"), Err(ConfinedError::Nul)));
        assert!(matches!(root.resolve(""), Err(ConfinedError::Empty)));
        assert!(matches!(root.resolve(" \t\n"), Err(ConfinedError::Empty)));
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert!(matches!(
            root.resolve(&long),
            Err(ConfinedError::TooLong { len, .. }) if len == MAX_PATH_BYTES + 1
        ));
        for p in [".", "./", "a/..", ws.to_str().expect("utf8")] {
            assert!(
                matches!(root.resolve(p), Err(ConfinedError::IsRoot { .. })),
                "{p}"
            );
        }
        // A hostile long path is echoed clipped, and no host path is shown.
        let hostile = format!("../{}", "é".repeat(3000));
        let msg = root.resolve(&hostile).expect_err("long").to_string();
        assert!(msg.len() < 400, "{msg}");
        let msg = root
            .resolve(outside.join("secret.txt").to_str().expect("utf8"))
            .expect_err("abs outside")
            .to_string();
        assert!(msg.contains("outside the workspace"), "{msg}");
    }

    #[test]
    fn a_symlinked_file_leading_out_is_refused_for_read_and_write() {
        let (t, root, outside) = setup();
        let ws = root.dir().to_path_buf();
        symlink(outside.join("secret.txt"), ws.join("link.txt")).expect("symlink");
        let e = root.read("link.txt", 1024).expect_err("read");
        assert!(matches!(e, ConfinedError::LinkOutside { .. }), "{e:?}");
        assert!(!e.to_string().contains(&host(&t)), "{e}");
        assert!(matches!(
            root.stat("link.txt"),
            Err(ConfinedError::LinkOutside { .. })
        ));
        let e = root.write("link.txt", b"pwned").expect_err("write");
        assert!(matches!(e, ConfinedError::LinkOutside { .. }), "{e:?}");
        assert_eq!(
            fs::read_to_string(outside.join("secret.txt")).expect("secret"),
            "s3cret"
        );
        assert!(
            fs::symlink_metadata(ws.join("link.txt"))
                .expect("link")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_symlinked_directory_leading_out_is_refused_and_nothing_is_created_outside() {
        let (t, root, outside) = setup();
        let ws = root.dir().to_path_buf();
        symlink(&outside, ws.join("out")).expect("symlink");
        let e = root.read("out/secret.txt", 1024).expect_err("read");
        assert!(matches!(e, ConfinedError::LinkOutside { .. }), "{e:?}");
        assert!(!e.to_string().contains(&host(&t)), "{e}");
        // Even a file that does not exist behind the link is refused (no probing outside).
        assert!(matches!(
            root.read("out/none.txt", 1024),
            Err(ConfinedError::LinkOutside { .. })
        ));
        for p in ["out/new.md", "out/sub/new.md", "out/a/b/c.md"] {
            let e = root.write(p, b"x").expect_err(p);
            assert!(matches!(e, ConfinedError::LinkOutside { .. }), "{p}: {e:?}");
        }
        let mut names: Vec<String> = fs::read_dir(&outside)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["secret.txt".to_owned()]);
        // A directory inside that links out, deeper down.
        fs::create_dir(ws.join("inner")).expect("mkdir");
        symlink(&outside, ws.join("inner/up")).expect("symlink");
        assert!(root.write("inner/up/z/new.md", b"x").is_err());
        assert!(!outside.join("z").exists());
    }

    #[test]
    fn a_broken_directory_link_is_not_followed_by_write() {
        let (_t, root, outside) = setup();
        let ws = root.dir().to_path_buf();
        symlink(outside.join("nowhere"), ws.join("dl")).expect("symlink");
        assert_eq!(root.read("dl/x.md", 1024).expect("read"), None);
        let e = root.write("dl/x.md", b"x").expect_err("write");
        assert!(matches!(e, ConfinedError::BrokenLink { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "\"dl\" is a broken symbolic link; use another path"
        );
        assert!(!outside.join("nowhere").exists());
        // A broken link as the target itself: refused as a link, not replaced.
        let e = root.write("dl", b"x").expect_err("write link");
        assert!(matches!(e, ConfinedError::Symlink { .. }), "{e:?}");
        assert!(!outside.join("nowhere").exists());
        // A link loop: an error, not a hang, and nothing created.
        symlink("loop", ws.join("loop")).expect("symlink");
        assert!(matches!(
            root.read("loop", 10),
            Err(ConfinedError::Io { .. })
        ));
        assert!(root.write("loop/x.md", b"x").is_err());
        assert!(root.write("loop", b"x").is_err());
        assert!(
            fs::symlink_metadata(ws.join("loop"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn links_inside_the_workspace_are_followed_but_not_written_through() {
        let (_t, root, _) = setup();
        let ws = root.dir().to_path_buf();
        fs::write(ws.join("real.md"), "hi").expect("real");
        symlink("real.md", ws.join("alias.md")).expect("symlink");
        let got = root.read("alias.md", 1024).expect("read").expect("some");
        assert_eq!(got.bytes, b"hi");
        assert_eq!(got.len, 2);
        assert!(got.modified_ms > 0);
        let loc = root.locate("alias.md").expect("locate");
        assert_eq!(loc.path, ws.join("alias.md"));
        assert_eq!(
            loc.real,
            fs::canonicalize(ws.join("real.md")).expect("canon")
        );
        assert_eq!(root.relative(&loc.real), "real.md");
        let e = root.write("alias.md", b"changed").expect_err("write link");
        assert_eq!(
            e.to_string(),
            "\"alias.md\" is a symbolic link; this tool does not write through links: write to the file it points to instead"
        );
        assert_eq!(fs::read_to_string(ws.join("real.md")).expect("real"), "hi");
        assert!(
            fs::symlink_metadata(ws.join("alias.md"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        // A directory link inside: writes land in the real directory.
        fs::create_dir(ws.join("realdir")).expect("mkdir");
        symlink("realdir", ws.join("d")).expect("symlink");
        let w = root.write("d/n.md", b"n").expect("write via dir link");
        assert!(w.created);
        assert_eq!(fs::read(ws.join("realdir/n.md")).expect("n"), b"n");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (_t, root, _) = setup();
        let fifo = root.dir().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let e = root.read("pipe", 1024).expect_err("read");
        assert_eq!(e.to_string(), "\"pipe\" is a FIFO (named pipe), not a file");
        assert!(matches!(
            root.stat("pipe"),
            Err(ConfinedError::NotAFile { .. })
        ));
        assert!(matches!(
            root.write("pipe", b"x"),
            Err(ConfinedError::NotAFile { .. })
        ));
        assert!(
            fs::symlink_metadata(&fifo)
                .expect("meta")
                .file_type()
                .is_fifo()
        );
        // A link to the FIFO: the same refusal.
        symlink("pipe", root.dir().join("p2")).expect("symlink");
        assert!(matches!(
            root.read("p2", 1024),
            Err(ConfinedError::NotAFile { .. })
        ));
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let (_t, root, _) = setup();
        fs::create_dir(root.dir().join("notes")).expect("mkdir");
        let e = root.read("notes", 1024).expect_err("read");
        assert_eq!(e.to_string(), "\"notes\" is a directory, not a file");
        assert!(matches!(
            root.stat("notes"),
            Err(ConfinedError::NotAFile { .. })
        ));
        assert!(matches!(
            root.write("notes", b"x"),
            Err(ConfinedError::NotAFile { .. })
        ));
        assert!(root.dir().join("notes").is_dir());
        // A file where a directory is needed.
        fs::write(root.dir().join("a.md"), "a").expect("a");
        let e = root.write("a.md/b.md", b"x").expect_err("under a file");
        assert!(matches!(e, ConfinedError::NotADirectory { .. }), "{e:?}");
        assert_eq!(root.read("a.md/b.md", 10).expect("read"), None);
        assert_eq!(fs::read(root.dir().join("a.md")).expect("a"), b"a");
    }

    #[test]
    fn an_oversized_file_is_too_large() {
        let (_t, root, _) = setup();
        fs::write(root.dir().join("big.log"), vec![b'x'; 3_100_000]).expect("big");
        let e = root
            .read("big.log", 2 * 1024 * 1024)
            .expect_err("too large");
        assert_eq!(
            e.to_string(),
            "file \"big.log\" is 3.1 MB, more than the 2 MiB this tool reads"
        );
        assert!(matches!(
            e,
            ConfinedError::TooLarge {
                size: 3_100_000,
                ..
            }
        ));
        fs::write(root.dir().join("edge.txt"), b"12345").expect("edge");
        assert_eq!(
            root.read("edge.txt", 5)
                .expect("at limit")
                .expect("some")
                .bytes,
            b"12345"
        );
        assert!(matches!(
            root.read("edge.txt", 4),
            Err(ConfinedError::TooLarge { max: 4, .. })
        ));
        assert_eq!(
            root.stat("big.log").expect("stat").map(|m| m.len),
            Some(3_100_000)
        );
    }

    #[test]
    fn write_creates_the_root_and_directories_privately() {
        let t = tempfile::tempdir().expect("tempdir");
        let ws = t.path().join("state/workspace");
        let root = Root::new(ws.clone());
        assert_eq!(root.read("MEMORY.md", 100).expect("no root"), None);
        assert_eq!(root.stat("MEMORY.md").expect("no root"), None);
        // A refused path does not create the root.
        assert!(root.write("../x.md", b"x").is_err());
        assert!(!ws.exists());
        let w = root
            .write("memory/2026-12-03.md", b"- note\n")
            .expect("write");
        assert_eq!(
            w,
            Written {
                created: true,
                changed: true
            }
        );
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&ws), 0o700);
        assert_eq!(mode(&ws.join("memory")), 0o700);
        let file = ws.join("memory/2026-12-03.md");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read(&file).expect("read"), b"- note\n");
        // Same bytes again: untouched (same inode, no temp files left).
        let ino = fs::metadata(&file).expect("meta").ino();
        let w = root
            .write("memory/2026-12-03.md", b"- note\n")
            .expect("again");
        assert_eq!(
            w,
            Written {
                created: false,
                changed: false
            }
        );
        assert_eq!(fs::metadata(&file).expect("meta").ino(), ino);
        let w = root
            .write("memory/2026-12-03.md", b"- other\n")
            .expect("change");
        assert_eq!(
            w,
            Written {
                created: false,
                changed: true
            }
        );
        assert_eq!(fs::read(&file).expect("read"), b"- other\n");
        let names: Vec<String> = fs::read_dir(ws.join("memory"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["2026-12-03.md".to_owned()]);
        let meta = root
            .stat("memory/2026-12-03.md")
            .expect("stat")
            .expect("some");
        assert_eq!(meta.len, 8);
    }

    #[test]
    fn relative_names_never_show_host_paths() {
        let (_t, root, _) = setup();
        let ws = root.dir().to_path_buf();
        assert_eq!(root.relative(&ws.join("memory/a.md")), "memory/a.md");
        assert_eq!(root.relative(&ws), ".");
        assert_eq!(
            root.relative(&fs::canonicalize(&ws).expect("canon").join("x.md")),
            "x.md"
        );
        assert_eq!(root.relative(Path::new("/etc/passwd")), "passwd");
        assert_eq!(root.relative(Path::new("a/./b.md")), "a/b.md");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(3_100_000), "3.1 MB");
        assert_eq!(human_limit(2 * 1024 * 1024), "2 MiB");
        assert_eq!(human_limit(12_000), "12000 bytes");
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 9), 3);
    }
}
