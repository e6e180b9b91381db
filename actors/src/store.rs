//! # `StoreActor` — the one writer of the state directory
//!
//! Runs on its own thread (`SyncArbiter::start(1, …)`) so blocking file I/O never stalls
//! the async workers. Documents are written atomically: temp file in the same directory,
//! `fsync`, rename over the target, `fsync` the directory; files are created with mode
//! 0600 because they hold device-token hashes and public keys.
//!
//! Messages: [`SaveDocument`].

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
        let _ = fs::remove_dir_all(&dir);
    }
}
