//! `openclaw backup create|verify|restore`: OpenClaw's backup archives (`docs/cli/backup.md`)
//! for this gateway's state. An archive is `<root>.tar.gz` holding `<root>/manifest.json`
//! (schema version 1: the source paths, the assets, what was skipped) and each asset under
//! `<root>/payload/posix/<absolute source path>`, as OpenClaw lays it out, so either CLI's
//! `backup verify` reads the other's archives.
//!
//! Unlike OpenClaw's (which keeps conversations in SQLite and skips `*.jsonl` under
//! `agents/*/sessions/` and `cron/runs/` as live files), this one keeps the transcripts and
//! cron run logs: they are this gateway's conversations. They are append-only, so a file is
//! read up to its size when reached, and a transcript line still being written then is left
//! for the next backup (the copy ends at its last complete line). Documents are replaced by
//! rename, so each is read whole, old or new. Sockets, `*.pid`, `*.tmp*` and the gateway's
//! lock are left out. The archive holds secrets (the config, device tokens): it is written
//! 0600 and never over an existing file.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Component, Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Failure;
use crate::config::{self, FlagOverrides, ProcessEnv};

/// `openclaw backup`.
#[derive(Debug, Args)]
pub struct BackupCmd {
    #[command(subcommand)]
    action: BackupAction,
}

#[derive(Debug, Subcommand)]
enum BackupAction {
    /// Write a `.tar.gz` archive of the state dir, the config and the workspaces.
    Create(CreateArgs),
    /// Check an archive: one root, its manifest, no unsafe paths or links, every asset there.
    Verify(VerifyArgs),
    /// Extract a verified archive into a new, empty directory (never in place).
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Where the archive goes: a directory, or a file name ending in `.tar.gz`
    /// (default: the current directory, or the home directory when that is inside the state).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Say what would be archived; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Verify the archive once written.
    #[arg(long)]
    verify: bool,
    /// Leave out workspaces outside the state dir.
    #[arg(long)]
    no_include_workspace: bool,
    /// Only the config file.
    #[arg(long)]
    only_config: bool,
    /// One JSON result on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The archive.
    archive: PathBuf,
    /// One JSON result on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The archive.
    archive: PathBuf,
    /// A new or empty directory, outside the live state dir.
    #[arg(long)]
    target: PathBuf,
    /// One JSON result on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `openclaw backup …`.
pub async fn run(config_path: Option<PathBuf>, cmd: BackupCmd) -> Result<(), Failure> {
    let (json, done) = match &cmd.action {
        BackupAction::Create(a) if a.dry_run => (a.json, "would write"),
        BackupAction::Create(a) => (a.json, "wrote"),
        BackupAction::Verify(a) => (a.json, "verified"),
        BackupAction::Restore(a) => (a.json, "restored"),
    };
    let result = match cmd.action {
        BackupAction::Create(a) => {
            let plan = plan(config_path.as_deref(), &a).map_err(Failure::usage)?;
            tokio::task::spawn_blocking(move || create(plan, &a))
                .await
                .map_err(|e| Failure::usage(format!("the backup stopped: {e}")))?
        }
        BackupAction::Verify(a) => tokio::task::spawn_blocking(move || {
            verify(&a.archive).map(|v| {
                json!({"ok": true, "archivePath": a.archive, "archiveRoot": v.root,
                    "entries": v.entries, "assets": v.manifest["assets"]})
            })
        })
        .await
        .map_err(|e| Failure::usage(format!("the verification stopped: {e}")))?,
        BackupAction::Restore(a) => {
            let state_dir = config::load(
                config_path.as_deref(),
                &ProcessEnv,
                &FlagOverrides::default(),
            )
            .map(|l| l.state_dir)
            .unwrap_or_else(|_| config::state_dir(&ProcessEnv));
            tokio::task::spawn_blocking(move || restore(&a.archive, &a.target, &state_dir))
                .await
                .map_err(|e| Failure::usage(format!("the restore stopped: {e}")))?
        }
    };
    match result {
        Ok(v) if json => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        Ok(v) => {
            println!("{}", human(done, &v));
            Ok(())
        }
        Err(message) => Err(Failure {
            code: 1,
            json: json.then(|| json!({"ok": false, "error": message})),
            message,
        }),
    }
}

/// The result as a person reads it (`done`: what happened to the archive).
fn human(done: &str, v: &Value) -> String {
    let mut out = String::new();
    if let Some(p) = v.get("archivePath").and_then(Value::as_str) {
        out.push_str(&format!("backup: {done} {p}\n"));
    }
    for a in v["assets"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<10} {}\n",
            a["kind"].as_str().unwrap_or(""),
            a["sourcePath"].as_str().unwrap_or("")
        ));
    }
    for s in v["skipped"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  skipped    {} ({})\n",
            s["sourcePath"].as_str().unwrap_or(""),
            s["reason"].as_str().unwrap_or("")
        ));
    }
    if v["verified"] == true {
        out.push_str("  verified: one root, its manifest, every asset, no unsafe paths\n");
    }
    if let Some(t) = v.get("target").and_then(Value::as_str) {
        out.push_str(&format!(
            "Next: stop the gateway, then move {t}/{}/payload/posix{} into place (or point \
             OPENCLAW_STATE_DIR at it) and run `openclaw doctor` before starting it again.\n",
            v["archiveRoot"].as_str().unwrap_or(""),
            v["stateDir"].as_str().unwrap_or("<stateDir>")
        ));
    }
    out.trim_end().to_owned()
}

/// What `create` archives.
#[derive(Debug)]
struct Plan {
    state_dir: PathBuf,
    config_path: PathBuf,
    workspaces: Vec<PathBuf>,
    agents: Vec<(String, PathBuf)>,
    /// `(kind, source)`.
    assets: Vec<(&'static str, PathBuf)>,
    /// `(kind, source, reason, covered by)`.
    skipped: Vec<(&'static str, PathBuf, &'static str, Option<PathBuf>)>,
    output: PathBuf,
    root: String,
    created_at: String,
}

/// `p` made absolute (against the current directory) and lexically normalized: the
/// archive names sources by it.
fn absolute(p: &Path) -> PathBuf {
    let p = match std::env::current_dir() {
        Ok(d) if !p.is_absolute() => d.join(p),
        _ => p.to_path_buf(),
    };
    openclaw_actors::workspace::confined::lexical(&p)
}

fn plan(config_path: Option<&Path>, a: &CreateArgs) -> Result<Plan, String> {
    let loaded = config::load(config_path, &ProcessEnv, &FlagOverrides::default())
        .map_err(|e| format!("{e}. Fix the config first (`openclaw doctor` says how)"))?;
    let state_dir = absolute(&loaded.state_dir);
    if !state_dir.is_dir() {
        return Err(format!(
            "the state dir {} does not exist: nothing to back up",
            state_dir.display()
        ));
    }
    let config_path = absolute(
        &loaded
            .path
            .clone()
            .unwrap_or_else(|| config::config_path(config_path, &ProcessEnv).0),
    );
    let prepared = crate::gateway::prepare(&loaded).ok();
    let mut agents: Vec<(String, PathBuf)> = Vec::new();
    let mut workspaces: Vec<PathBuf> = Vec::new();
    match prepared.as_ref().and_then(|p| p.agents.clone()) {
        Some(roster) => {
            for ag in roster.agents() {
                agents.push((ag.id.clone(), state_dir.join("agents").join(&ag.id)));
                let w = absolute(&ag.workspace.dir);
                if !workspaces.contains(&w) {
                    workspaces.push(w);
                }
            }
        }
        None => {
            agents.push(("main".into(), state_dir.join("agents/main")));
            workspaces.push(absolute(
                &prepared
                    .as_ref()
                    .map(|p| p.workspace.dir.clone())
                    .unwrap_or_else(|| state_dir.join("workspace")),
            ));
        }
    }
    let mut assets = Vec::new();
    let mut skipped = Vec::new();
    if a.only_config {
        if !config_path.is_file() {
            return Err(format!(
                "there is no config file at {}: nothing to back up with --only-config",
                config_path.display()
            ));
        }
        assets.push(("config", config_path.clone()));
    } else {
        assets.push(("state", state_dir.clone()));
        // OpenClaw's own regenerable directories in a shared state dir (as its backup).
        for (kind, dir) in [("plugin skills", "plugin-skills"), ("managed state", "tmp")] {
            let d = state_dir.join(dir);
            if d.exists() {
                skipped.push((kind, d, "regenerable", None));
            }
        }
        if config_path.is_file() && !config_path.starts_with(&state_dir) {
            assets.push(("config", config_path.clone()));
        }
        for w in &workspaces {
            if w.starts_with(&state_dir) {
                skipped.push(("workspace", w.clone(), "covered", Some(state_dir.clone())));
            } else if a.no_include_workspace {
                skipped.push(("workspace", w.clone(), "excluded", None));
            } else if w.is_dir() {
                assets.push(("workspace", w.clone()));
            }
        }
    }
    let now = jiff::Timestamp::now();
    let created_at = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let root = format!(
        "{}+00-00-openclaw-backup",
        now.strftime("%Y-%m-%dT%H-%M-%S%.3f")
    );
    let sources: Vec<&PathBuf> = assets.iter().map(|(_, p)| p).collect();
    let inside = |p: &Path| sources.iter().any(|s| p.starts_with(s));
    let output = match &a.output {
        Some(o) => {
            let o = absolute(o);
            if o.to_string_lossy().ends_with(".tar.gz") {
                o
            } else {
                o.join(format!("{root}.tar.gz"))
            }
        }
        None => {
            let cwd = absolute(Path::new("."));
            let dir = if inside(&cwd) {
                std::env::var_os("HOME").map(PathBuf::from).unwrap_or(cwd)
            } else {
                cwd
            };
            dir.join(format!("{root}.tar.gz"))
        }
    };
    if inside(&output) {
        return Err(format!(
            "the archive {} would be inside what it backs up. Fix: pass --output with a directory outside {}",
            output.display(),
            state_dir.display()
        ));
    }
    Ok(Plan {
        state_dir,
        config_path,
        workspaces,
        agents,
        assets,
        skipped,
        output,
        root,
        created_at,
    })
}

/// Files never archived: sockets' and processes' markers and temporary files (as
/// OpenClaw's transient rule), and this gateway's lock.
fn transient(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".sock")
        || lower.ends_with(".pid")
        || lower.contains(".tmp")
        || lower == "gateway.lock"
        || lower == crate::gateway::owner_lock::FILE_NAME
}

/// The archive path of a source path: `<root>/payload/posix/<absolute path>`.
fn archive_path(root: &str, source: &Path) -> PathBuf {
    let rel: PathBuf = source
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    Path::new(root).join("payload/posix").join(rel)
}

fn manifest(p: &Plan, a: &CreateArgs, external: &[(PathBuf, PathBuf)]) -> Value {
    json!({
        "schemaVersion": 1,
        "createdAt": p.created_at,
        "archiveRoot": p.root,
        "runtimeVersion": env!("CARGO_PKG_VERSION"),
        "platform": std::env::consts::OS,
        "options": {"includeWorkspace": !a.no_include_workspace, "onlyConfig": a.only_config},
        "paths": {
            "stateDir": p.state_dir,
            "configPath": p.config_path,
            "oauthDir": p.state_dir.join("credentials"),
            "workspaceDirs": p.workspaces,
            "agentRoots": p.agents.iter().map(|(id, path)| json!({"agentId": id, "sourcePath": path})).collect::<Vec<_>>(),
        },
        "assets": p.assets.iter().map(|(kind, src)| json!({
            "kind": kind, "sourcePath": src,
            "archivePath": archive_path(&p.root, src),
        })).collect::<Vec<_>>(),
        "skipped": skipped_json(p),
        "externalSymbolicLinks": external.iter().map(|(entry, link)| json!({"entryPath": entry, "linkpath": link})).collect::<Vec<_>>(),
    })
}

fn skipped_json(p: &Plan) -> Vec<Value> {
    p.skipped
        .iter()
        .map(|(kind, src, reason, by)| {
            let mut v = json!({"kind": kind, "sourcePath": src, "reason": reason});
            if let Some(b) = by {
                v["coveredBy"] = json!(b);
            }
            v
        })
        .collect()
}

fn create(p: Plan, a: &CreateArgs) -> Result<Value, String> {
    let manifest = manifest(&p, a, &[]);
    let mut result = json!({
        "createdAt": p.created_at, "archiveRoot": p.root, "archivePath": p.output,
        "dryRun": a.dry_run, "includeWorkspace": !a.no_include_workspace,
        "onlyConfig": a.only_config, "verified": false,
        "assets": manifest["assets"], "skipped": manifest["skipped"],
    });
    if a.dry_run {
        return Ok(result);
    }
    if let Some(dir) = p.output.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // The plan's check again, through links: an output directory that resolves into a
        // source would put the archive inside itself.
        let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if p.assets
            .iter()
            .any(|(_, src)| fs::canonicalize(src).is_ok_and(|s| real.starts_with(s)))
        {
            return Err(format!(
                "the archive {} would be inside what it backs up (through a link). Fix: pass --output with a directory outside {}",
                p.output.display(),
                p.state_dir.display()
            ));
        }
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p.output)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => format!(
                    "{} exists: an archive is never overwritten. Fix: pass another --output",
                    p.output.display()
                ),
                _ => format!("cannot write {}: {e}", p.output.display()),
            })?
    };
    let written = write_archive(file, &p, a);
    if let Err(e) = written {
        let _ = fs::remove_file(&p.output);
        return Err(format!("the backup failed, nothing kept: {e}"));
    }
    if a.verify {
        let v = verify(&p.output)?;
        result["verified"] = json!(true);
        result["entries"] = json!(v.entries);
    }
    Ok(result)
}

fn write_archive(file: File, p: &Plan, a: &CreateArgs) -> io::Result<()> {
    let gz =
        flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    // What is left out of an asset's tree (a covered workspace is in it).
    let skip: Vec<&PathBuf> = p
        .skipped
        .iter()
        .filter(|(_, _, reason, _)| *reason != "covered")
        .map(|(_, s, _, _)| s)
        .collect();
    let mut walk = Walk {
        output: &p.output,
        skip: &skip,
        external: Vec::new(),
    };
    for (_, src) in &p.assets {
        walk.add_tree(&mut tar, src, &archive_path(&p.root, src))?;
    }
    // Last, as OpenClaw's: it lists the links found on the way that point outside.
    let manifest = manifest(p, a, &walk.external);
    let doc = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(doc.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(jiff::Timestamp::now().as_second().max(0) as u64);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(
        &mut h,
        Path::new(&p.root).join("manifest.json"),
        doc.as_slice(),
    )?;
    let gz = tar.into_inner()?;
    let mut w = gz.finish()?;
    w.flush()?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// A walk of the sources: what it leaves out, and the links it met that point outside.
struct Walk<'a> {
    output: &'a Path,
    skip: &'a [&'a PathBuf],
    /// `(entry path, link target)`.
    external: Vec<(PathBuf, PathBuf)>,
}

impl Walk<'_> {
    /// Adds `src` (a file or a directory tree, links kept as links) under `dst`.
    fn add_tree<W: io::Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        src: &Path,
        dst: &Path,
    ) -> io::Result<()> {
        let meta = fs::symlink_metadata(src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            tar.append_dir(dst, src)?;
            let mut names: Vec<_> = fs::read_dir(src)?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for name in names {
                let s = src.join(&name);
                if transient(&name.to_string_lossy()) || s == self.output || self.skip.contains(&&s)
                {
                    continue;
                }
                match self.add_tree(tar, &s, &dst.join(&name)) {
                    Ok(()) => {}
                    // Removed meanwhile (a pruned media file, a rotated log): not in this backup.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(io::Error::new(e.kind(), format!("{}: {e}", s.display())));
                    }
                }
            }
            Ok(())
        } else if ft.is_symlink() {
            let target = fs::read_link(src)?;
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            if !link_stays_inside(dst, &target) {
                self.external.push((dst.to_path_buf(), target.clone()));
            }
            tar.append_link(&mut h, dst, &target)
        } else if ft.is_file() {
            add_file(tar, src, dst)
        } else {
            // Sockets, FIFOs, devices: nothing to restore.
            Ok(())
        }
    }
}

/// A regular file as it is now: up to its size when opened, and for a JSON-lines file (a
/// transcript, a run log, the audit ledger: append-only) up to its last complete line.
fn add_file<W: io::Write>(tar: &mut tar::Builder<W>, src: &Path, dst: &Path) -> io::Result<()> {
    let mut f = File::open(src)?;
    let meta = f.metadata()?;
    let mut len = meta.len();
    if src.extension().is_some_and(|e| e == "jsonl") && len > 0 {
        len = complete_lines(&mut f, len)?;
        f.seek(SeekFrom::Start(0))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_metadata(&meta);
    h.set_size(len);
    let mut data = f.take(len);
    tar.append_data(&mut h, dst, &mut data)?;
    // A file cut shorter meanwhile would leave its entry short: the archive is refused.
    if data.limit() > 0 {
        return Err(io::Error::other(format!(
            "{} shrank while it was read; run the backup again",
            src.display()
        )));
    }
    Ok(())
}

/// The length of `f`'s first `len` bytes up to and including its last newline (0 if none).
fn complete_lines(f: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// What a verified archive holds.
#[derive(Debug)]
pub struct Verified {
    /// The archive root (its one top directory).
    pub root: String,
    /// Entries read.
    pub entries: u64,
    /// `manifest.json`.
    pub manifest: Value,
}

/// Reads the whole archive (gzip and tar checksums with it) and checks it as OpenClaw's
/// `backup verify` does ([`verify_tar`]).
fn verify(archive: &Path) -> Result<Verified, String> {
    let file =
        File::open(archive).map_err(|e| format!("cannot read {}: {e}", archive.display()))?;
    verify_tar(flate2::read::GzDecoder::new(io::BufReader::new(file))).map_err(|what| {
        format!(
            "{} is not a valid backup archive: {what}",
            archive.display()
        )
    })
}

/// Checks an archive's tar stream (read to its end): exactly one root directory and one
/// `<root>/manifest.json` of schema version 1; no absolute, `..` or hard-link entries, no
/// link pointing outside that the manifest does not report, no entry beneath a link; every
/// asset's `archivePath` present. `Err` says what is wrong.
pub fn verify_tar(stream: impl io::Read) -> Result<Verified, String> {
    let mut tar = tar::Archive::new(stream);
    let mut root: Option<String> = None;
    let mut manifest: Option<Value> = None;
    let mut paths = std::collections::HashSet::new();
    let mut entries = 0u64;
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for e in tar.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        entries += 1;
        let path = e.path().map_err(|e| e.to_string())?.into_owned();
        let parts: Vec<Component<'_>> = path.components().collect();
        if parts.iter().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(format!("unsafe path {}", path.display()));
        }
        let first = parts
            .first()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .ok_or_else(|| "an empty path".to_owned())?;
        match &root {
            None => root = Some(first.clone()),
            Some(r) if *r != first => {
                return Err(format!("a second root {first} beside {r}"));
            }
            Some(_) => {}
        }
        let kind = e.header().entry_type();
        if kind.is_hard_link() {
            return Err(format!("a hard link {}", path.display()));
        }
        if kind.is_symlink() {
            let target = e
                .link_name()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("a link without target {}", path.display()))?;
            links.push((path.clone(), target.into_owned()));
        }
        if parts.len() == 2 && parts[1].as_os_str() == "manifest.json" {
            if manifest.is_some() {
                return Err("two manifests".to_owned());
            }
            let mut text = String::new();
            e.by_ref()
                .take(16 * 1024 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| format!("manifest.json: {e}"))?;
            manifest =
                Some(serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?);
        } else {
            // Read to the end: a corrupt payload fails the gzip check here.
            io::copy(&mut e, &mut io::sink()).map_err(|e| e.to_string())?;
        }
        let mut p = path.to_string_lossy().into_owned();
        while p.ends_with('/') {
            p.pop();
        }
        paths.insert(p);
    }
    let root = root.ok_or_else(|| "it is empty".to_owned())?;
    let manifest = manifest.ok_or_else(|| format!("no {root}/manifest.json"))?;
    if manifest["schemaVersion"] != 1 {
        return Err(format!(
            "manifest schemaVersion {} (this CLI reads 1)",
            manifest["schemaVersion"]
        ));
    }
    if manifest["archiveRoot"].as_str() != Some(root.as_str()) {
        return Err("the manifest names another archive root".to_owned());
    }
    for a in manifest["assets"].as_array().into_iter().flatten() {
        let p = a["archivePath"].as_str().unwrap_or("");
        if !paths.contains(p.trim_end_matches('/')) {
            return Err(format!("the asset {p} is missing"));
        }
    }
    // A link pointing outside must be one the manifest reports (the source had it), and
    // no entry may lie beneath a link (extracting it would write through the link).
    let reported: Vec<(String, String)> = manifest["externalSymbolicLinks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or("").trim_end_matches('/').to_owned();
            (s("entryPath"), s("linkpath"))
        })
        .collect();
    let link_paths: std::collections::HashSet<String> = links
        .iter()
        .map(|(p, _)| p.to_string_lossy().trim_end_matches('/').to_owned())
        .collect();
    for (path, target) in &links {
        let key = (
            path.to_string_lossy().trim_end_matches('/').to_owned(),
            target.to_string_lossy().into_owned(),
        );
        if !link_stays_inside(path, target) && !reported.contains(&key) {
            return Err(format!(
                "the link {} points outside the archive ({}) and the manifest does not report it",
                path.display(),
                target.display()
            ));
        }
    }
    for p in &paths {
        let mut at = Path::new(p).parent();
        while let Some(dir) = at {
            if link_paths.contains(&*dir.to_string_lossy()) {
                return Err(format!("{p} lies beneath a symbolic link"));
            }
            at = dir.parent();
        }
    }
    Ok(Verified {
        root,
        entries,
        manifest,
    })
}

/// Whether a link at `path` (inside the archive) pointing at `target` stays inside the
/// archive root: relative, and never above the root on the way.
fn link_stays_inside(path: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    // The link's directory, below the root.
    let mut depth = path.components().count().saturating_sub(2) as i64;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn restore(archive: &Path, target: &Path, state_dir: &Path) -> Result<Value, String> {
    let v = verify(archive)?;
    let target = absolute(target);
    let live = absolute(state_dir);
    if target.starts_with(&live) {
        return Err(format!(
            "{} is inside the live state dir {}: a restore never goes there. Fix: pass a new directory elsewhere (then move it into place with the gateway stopped)",
            target.display(),
            live.display()
        ));
    }
    let existed = target.exists();
    if existed {
        let empty = fs::read_dir(&target)
            .map_err(|e| format!("cannot read {}: {e}", target.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(format!(
                "{} is not empty: a restore only writes into a new or empty directory",
                target.display()
            ));
        }
    }
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let done = (|| -> io::Result<()> {
        let file = File::open(archive)?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
        // Modes are kept (0600 stays 0600); setuid, setgid and sticky bits are not, and
        // neither are owners or extended attributes.
        tar.set_preserve_permissions(false);
        tar.set_overwrite(false);
        for e in tar.entries()? {
            let mut e = e?;
            // `unpack_in` refuses paths that would leave the target.
            if !e.unpack_in(&target)? {
                return Err(io::Error::other("an entry would leave the target"));
            }
        }
        Ok(())
    })();
    if let Err(e) = done {
        let _ = fs::remove_dir_all(target.join(&v.root));
        if !existed {
            let _ = fs::remove_dir(&target);
        }
        return Err(format!("the restore failed and was removed: {e}"));
    }
    Ok(json!({
        "ok": true, "archivePath": archive, "archiveRoot": v.root, "target": target,
        "entries": v.entries, "stateDir": v.manifest["paths"]["stateDir"],
        "assets": v.manifest["assets"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jsonl_copy_ends_at_its_last_complete_line() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("t.jsonl");
        fs::write(&p, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").expect("write");
        let mut f = File::open(&p).expect("open");
        assert_eq!(complete_lines(&mut f, 21).expect("scan"), 16);
        assert_eq!(complete_lines(&mut f, 16).expect("scan"), 16);
        assert_eq!(complete_lines(&mut f, 5).expect("scan"), 0);
        let big = "x".repeat(200_000);
        fs::write(&p, format!("{big}\n{big}")).expect("write");
        let mut f = File::open(&p).expect("open");
        assert_eq!(complete_lines(&mut f, 400_001).expect("scan"), 200_001);
    }

    #[test]
    fn links_must_stay_inside_the_archive_root() {
        let at = Path::new("root/payload/posix/s/workspace/link");
        assert!(link_stays_inside(at, Path::new("../agents/x")));
        assert!(link_stays_inside(at, Path::new("../../../manifest.json")));
        assert!(!link_stays_inside(
            at,
            Path::new("../../../../../etc/passwd")
        ));
        assert!(!link_stays_inside(at, Path::new("/etc/passwd")));
    }

    #[test]
    fn transient_files_are_left_out() {
        for n in [
            "gateway.lock",
            "gateway.state.lock",
            "x.sock",
            "a.pid",
            ".sessions.json.abc.tmp",
            "f.TMP.1",
        ] {
            assert!(transient(n), "{n}");
        }
        for n in ["sessions.json", "t.jsonl", "paired.json", "tmpfile"] {
            assert!(!transient(n), "{n}");
        }
    }
}
