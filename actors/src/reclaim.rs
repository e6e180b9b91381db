//! Taking back the state files that OpenClaw's own CLI moved aside.
//!
//! OpenClaw 2026.9 keeps its state in SQLite, and its CLI migrates the JSON files of older
//! OpenClaw versions into it whenever it opens the state directory: `cron/jobs.json`, the
//! cron run logs, `settings/voicewake*.json` … are imported and renamed to
//! `<file>.migrated` (or `.migrated.<n>`), and `openclaw doctor --fix` moves each agent's
//! `sessions/sessions.json` and transcripts into `agents/<id>/session-sqlite-import-archive/`
//! (its manifest, `session-sqlite-migration-runs/*.json`, lists every move). These are the
//! files this gateway keeps, at OpenClaw's paths, so the real CLI on the same host (same
//! `~/.openclaw`) would silently take a gateway's cron jobs, voice-wake settings and
//! conversations away at its next start.
//!
//! [`reclaim`] runs at start, once this gateway holds the state directory, before anything
//! reads it:
//! - a document (a file rewritten whole: `cron/jobs.json`, the voice-wake settings, the
//!   approvals and allowlists, `devices/pairing.json`) that is missing comes back from its
//!   newest moved-aside copy. One that is there was written after the move by this gateway
//!   (from what it held in memory): it stays, and so do the copies.
//! - an append-only log (a cron run log, a transcript) comes back too; when this gateway
//!   already appended to a new one after the move, the moved lines go before the new ones
//!   (a merge that a crash cannot apply twice: a log that already begins with the moved
//!   lines only loses the copy).
//! - a session index (`sessions.json`) moved by `doctor --fix` comes back if missing; if a
//!   gateway started without it meanwhile (one from before this module) and began a new
//!   index, the moved sessions join that one.
//! - the host's exec approvals, which `doctor --fix` deletes once imported, come back from
//!   the gateway's own copy ([`SHADOWED`]).
//!
//! Only paths of this gateway's own files inside the state directory are restored; nothing
//! is ever overwritten. What was restored is returned, to be logged.

use std::fs;
use std::path::{Path, PathBuf};

/// Checks that a copy is a document this gateway reads (a copy an older OpenClaw left on a
/// state dir it used before may not be, and a document the gateway cannot read stops its
/// start).
type Check = fn(&[u8]) -> Result<(), String>;

/// Whether `bytes` parse as a `T` (as the gateway reads the file at start).
fn parses<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<T>(bytes)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Documents this gateway rewrites whole, relative to the state directory, with the check
/// of what it reads there. (`exec-approvals.json` and `exec-allowlist.json` are the host's
/// exec policy files, kept by the gateway binary's clients.)
pub const DOCUMENTS: &[(&str, Check)] = &[
    (crate::cron::JOBS_FILE, parses::<crate::cron::job::JobsFile>),
    (crate::voicewake::TRIGGERS_FILE, parses::<serde_json::Value>),
    (crate::voicewake::ROUTING_FILE, parses::<serde_json::Value>),
    ("exec-approvals.json", parses::<serde_json::Value>),
    ("exec-allowlist.json", parses::<serde_json::Value>),
    (
        crate::pairing::DOCUMENT,
        parses::<crate::pairing::PairingBook>,
    ),
];

/// Documents whose loss would loosen a policy, and that OpenClaw's `doctor --fix` deletes
/// outright once imported (no copy left): the gateway keeps the last one it wrote or found
/// at start in `gateway/<name>.last` (a path OpenClaw does not know) and restores a missing
/// one from it. Failing closed: a document deleted on purpose comes back too (with a
/// warning); setting an empty one (`openclaw approvals set --gateway`) is how to drop it.
pub const SHADOWED: &[&str] = &["exec-approvals.json"];

/// Where the gateway keeps its copy of the shadowed document `primary` (`<dir>/<name>`).
pub fn shadow_path(primary: &Path) -> Option<PathBuf> {
    let dir = primary.parent()?;
    let name = primary.file_name()?.to_str()?;
    Some(dir.join("gateway").join(format!("{name}.last")))
}

/// Records `bytes`, just written to the shadowed document `primary`, as its last copy.
pub fn keep_shadow(primary: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let shadow = shadow_path(primary)
        .ok_or_else(|| std::io::Error::other("the document has no directory or name"))?;
    crate::store::write_atomic(&shadow, bytes)
}

/// A manifest larger than this is not read.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Restores what OpenClaw's CLI moved aside (see the module docs); returns one line per
/// file restored or merged, and per problem met (nothing is changed for those).
pub fn reclaim(state_dir: &Path) -> Vec<String> {
    let mut done = Vec::new();
    for (rel, check) in DOCUMENTS {
        reclaim_document(&state_dir.join(rel), *check, &mut done);
    }
    for rel in SHADOWED {
        reclaim_shadowed(&state_dir.join(rel), &mut done);
    }
    for log in logs_with_copies(&state_dir.join("cron/runs")) {
        reclaim_log(&log, &mut done);
    }
    reclaim_session_moves(state_dir, &mut done);
    done
}

/// The copies of `path` that OpenClaw made (`<name>.migrated`, `<name>.migrated.<n>`, …),
/// oldest first (by modification time: a rename keeps the time of this gateway's last
/// write).
pub fn copies_of(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.migrated");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
        })
        .filter_map(|e| {
            let meta = fs::symlink_metadata(e.path()).ok()?;
            meta.is_file()
                .then(|| (meta.modified().unwrap_or(std::time::UNIX_EPOCH), e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// The logs in `dir` (`*.jsonl`) that have a moved-aside copy, whether or not the log
/// itself is there.
fn logs_with_copies(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut logs: Vec<PathBuf> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (base, _) = name.split_once(".jsonl.migrated")?;
            (!base.is_empty() && !base.contains('/')).then(|| dir.join(format!("{base}.jsonl")))
        })
        .collect();
    logs.sort();
    logs.dedup();
    logs
}

fn reclaim_document(path: &Path, check: Check, done: &mut Vec<String>) {
    if fs::symlink_metadata(path).is_ok() {
        return;
    }
    // The newest copy the gateway can read (OpenClaw also keeps unparsable sources, `.raw`).
    let copies = copies_of(path);
    let Some(newest) = copies
        .iter()
        .rev()
        .find(|c| readable(c, check).is_ok())
        .cloned()
    else {
        if let Some(last) = copies.last() {
            let why = readable(last, check).err().unwrap_or_default();
            done.push(format!(
                "left {} where it is: it is not a document this gateway reads ({why}); an older OpenClaw may have left it. Move it out of the state directory to silence this",
                last.display()
            ));
        }
        return;
    };
    let restored = rename_durable(&newest, path).map(|()| Some("restored"));
    report(done, restored, path, &newest, BY_CLI);
}

/// Why a file was restored.
const BY_CLI: &str = "OpenClaw's CLI had moved it aside when it migrated its own state to SQLite";
const BY_DOCTOR: &str = "moved by OpenClaw's `doctor --fix`";

/// Tells in `done` what became of restoring `path` from `from` (`Some(what)`: `restored`,
/// `merged the moved lines back into`; `None`: nothing to tell), and why it was needed.
fn report(
    done: &mut Vec<String>,
    outcome: std::io::Result<Option<&str>>,
    path: &Path,
    from: &Path,
    why: &str,
) {
    match outcome {
        Ok(Some(what)) => done.push(format!(
            "{what} {} from {} ({why})",
            path.display(),
            from.display()
        )),
        Ok(None) => {}
        Err(e) => done.push(format!(
            "could not restore {} from {}: {e}",
            path.display(),
            from.display()
        )),
    }
}

/// Whether the document `path` passes `check`.
fn readable(path: &Path, check: Check) -> Result<(), String> {
    check(&read_document(path)?)
}

/// The content of the document `path`: a file no larger than any document the gateway
/// writes.
fn read_document(path: &Path) -> Result<Vec<u8>, String> {
    const MAX: u64 = 64 * 1024 * 1024;
    match fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= MAX => fs::read(path).map_err(|e| e.to_string()),
        Ok(_) => Err("not a file, or too large".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A shadowed document that is there becomes the last copy (it may have been edited by
/// hand); one that is missing comes back from it.
fn reclaim_shadowed(path: &Path, done: &mut Vec<String>) {
    let Some(shadow) = shadow_path(path) else {
        return;
    };
    if fs::symlink_metadata(path).is_ok() {
        let Ok(now) = read_document(path) else {
            return;
        };
        if fs::read(&shadow).ok().as_deref() != Some(now.as_slice())
            && let Err(e) = crate::store::write_atomic(&shadow, &now)
        {
            done.push(format!(
                "could not keep a copy of {} in {}: {e}",
                path.display(),
                shadow.display()
            ));
        }
        return;
    }
    let Ok(last) = read_document(&shadow) else {
        return;
    };
    let restored = crate::store::write_atomic(path, &last).map(|()| Some("restored"));
    report(
        done,
        restored,
        path,
        &shadow,
        "the gateway's last copy: it was missing, and OpenClaw's `doctor --fix` deletes it once imported into its SQLite. To drop these rules, set an empty document with `openclaw approvals set --gateway`",
    );
}

/// Puts the moved-aside copies of the log `path` back: newest copy first, each before what
/// the log holds by then, so the result is oldest lines first.
fn reclaim_log(path: &Path, done: &mut Vec<String>) {
    for copy in copies_of(path).into_iter().rev() {
        let outcome = put_back(&copy, path);
        let failed = outcome.is_err();
        report(done, outcome, path, &copy, BY_CLI);
        if failed {
            return;
        }
    }
}

/// Puts the moved copy of an append-only log back in front of `path`: by rename when
/// `path` is missing, else as its first lines (streamed through a temp file: any size, in
/// bounded memory). `Ok(None)`: `path` already begins with it (an earlier merge that
/// stopped before removing the copy, or a copy that was never removed), so only the copy
/// went.
fn put_back(copy: &Path, path: &Path) -> std::io::Result<Option<&'static str>> {
    use std::io::{Read as _, Write as _};
    if fs::symlink_metadata(path).is_err() {
        rename_durable(copy, path)?;
        return Ok(Some("restored"));
    }
    let merged = !begins_with(path, copy)?;
    if merged {
        crate::store::write_atomic_with(path, 0o600, |out| {
            let mut buf = vec![0u8; 64 * 1024];
            let mut last = b'\n';
            let mut old = fs::File::open(copy)?;
            loop {
                let n = old.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
                last = buf[n - 1];
            }
            // A copy whose last line was cut short: the line ends here, not inside the next.
            if last != b'\n' {
                out.write_all(b"\n")?;
            }
            std::io::copy(&mut fs::File::open(path)?, out).map(drop)
        })?;
    }
    fs::remove_file(copy)?;
    sync_parent(copy)?;
    Ok(merged.then_some("merged the moved lines back into"))
}

/// Whether the file `path` begins with the whole content of the file `prefix`.
fn begins_with(path: &Path, prefix: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let want = fs::metadata(prefix)?.len();
    if fs::metadata(path)?.len() < want {
        return Ok(false);
    }
    let (mut a, mut b) = (fs::File::open(prefix)?, fs::File::open(path)?);
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// `doctor --fix`'s session moves, from its manifests: each agent's session index and
/// transcripts go back where they were.
fn reclaim_session_moves(state_dir: &Path, done: &mut Vec<String>) {
    let runs = state_dir.join("session-sqlite-migration-runs");
    let Ok(entries) = fs::read_dir(&runs) else {
        return;
    };
    let mut manifests: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    manifests.sort();
    for m in manifests {
        let text = match fs::metadata(&m) {
            Ok(meta) if meta.is_file() && meta.len() <= MAX_MANIFEST_BYTES => fs::read(&m).ok(),
            _ => None,
        };
        let Some(v) = text.and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        else {
            continue;
        };
        // Planned moves too: a doctor stopped midway may have moved a file it had not yet
        // recorded as done (a source still there is checked below either way).
        let moves = v["targets"].as_array().into_iter().flatten().flat_map(|t| {
            ["completedMoves", "plannedMoves"]
                .into_iter()
                .flat_map(|k| t[k].as_array().into_iter().flatten())
        });
        // Transcripts first, the index last: an index is never back without its files.
        let (mut transcripts, mut indexes) = (Vec::new(), Vec::new());
        for mv in moves {
            let (Some(src), Some(dst)) = (mv["sourcePath"].as_str(), mv["archivePath"].as_str())
            else {
                continue;
            };
            let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
            if !is_session_file(state_dir, &src, "sessions")
                || !is_session_file(state_dir, &dst, "session-sqlite-import-archive")
                || fs::symlink_metadata(&dst).is_err()
            {
                continue;
            }
            match mv["kind"].as_str() {
                Some("legacy-store") => indexes.push((dst, src)),
                _ => transcripts.push((dst, src)),
            }
        }
        transcripts.sort();
        transcripts.dedup();
        indexes.sort();
        indexes.dedup();
        for (copy, path) in transcripts {
            // A live transcript (`<id>.jsonl`) takes the moved lines before its own; an
            // archived one (`.jsonl.reset.<ms>`, `.deleted.<ms>`) only comes back if missing.
            let live = path.extension().is_some_and(|x| x == "jsonl");
            if !live && fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            report(done, put_back(&copy, &path), &path, &copy, BY_DOCTOR);
        }
        for (copy, path) in indexes {
            if let Err(e) = readable(&copy, parses::<crate::registry::runs::SessionsIndex>) {
                done.push(format!(
                    "left {} where it is: it is not a session index this gateway reads ({e}); an older OpenClaw may have written it. Move it out of the state directory to silence this",
                    copy.display()
                ));
                continue;
            }
            if fs::symlink_metadata(&path).is_ok() {
                // A gateway started without it (one from before this check) and began a new
                // index: the moved sessions join it.
                match merge_index(&copy, &path) {
                    Ok(0) => {}
                    Ok(n) => done.push(format!(
                        "added {n} session(s) to {} from {} (moved by OpenClaw's `doctor --fix`)",
                        path.display(),
                        copy.display()
                    )),
                    Err(e) => done.push(format!(
                        "could not add the sessions of {} to {}: {e}",
                        copy.display(),
                        path.display()
                    )),
                }
                continue;
            }
            let restored = rename_durable(&copy, &path).map(|()| Some("restored"));
            report(done, restored, &path, &copy, BY_DOCTOR);
        }
    }
}

/// Adds the sessions of the moved index `copy` that `path` lacks (those in both keep
/// `path`'s entry), then renames `copy` to `<copy>.merged` so that they are added once.
/// Returns how many were added.
fn merge_index(copy: &Path, path: &Path) -> Result<usize, String> {
    let object = |p: &Path| -> Result<serde_json::Map<String, serde_json::Value>, String> {
        serde_json::from_slice(&read_document(p)?).map_err(|e| format!("{}: {e}", p.display()))
    };
    let moved = object(copy)?;
    let mut now = object(path)?;
    let mut added = 0;
    for (k, v) in moved {
        if !now.contains_key(&k) {
            now.insert(k, v);
            added += 1;
        }
    }
    if added > 0 {
        let bytes = serde_json::to_vec_pretty(&now).map_err(|e| e.to_string())?;
        crate::store::write_atomic(path, &bytes).map_err(|e| e.to_string())?;
    }
    let mut done = copy.as_os_str().to_owned();
    done.push(".merged");
    rename_durable(copy, Path::new(&done)).map_err(|e| e.to_string())?;
    Ok(added)
}

/// `path` is `<state>/agents/<agent>/<dir>/<file>`, with plain names only (no `..`, no
/// other directory).
fn is_session_file(state_dir: &Path, path: &Path, dir: &str) -> bool {
    // OpenClaw writes absolute paths; the state dir may be given relative or through a
    // symlink.
    let agents = state_dir.join("agents");
    let real = state_dir.canonicalize().ok().map(|d| d.join("agents"));
    let Some(rest) = path
        .strip_prefix(&agents)
        .ok()
        .or_else(|| path.strip_prefix(real.as_ref()?).ok())
    else {
        return false;
    };
    let parts: Vec<_> = rest.components().collect();
    matches!(
        parts.as_slice(),
        [
            std::path::Component::Normal(_),
            std::path::Component::Normal(d),
            std::path::Component::Normal(_)
        ] if *d == dir
    )
}

/// Renames `from` to `to` (same directory tree, `to` missing) and syncs the directories.
fn rename_durable(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        crate::store::create_dir_durable(dir)?;
    }
    // Never over a file that appeared meanwhile: link, then unlink the old name (a
    // filesystem without hard links: a rename, `to` checked just before).
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) if fs::symlink_metadata(to).is_err() => fs::rename(from, to)?,
        Err(e) => return Err(e),
    }
    sync_parent(to)?;
    sync_parent(from)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => fs::File::open(d)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
