//! `openclaw backup create|verify|restore` against the real binary: a running gateway's state
//! (transcripts included, which OpenClaw's own backup leaves out) goes into an archive that
//! verifies and restores into a state dir a new gateway serves the same conversation from;
//! refusals (an archive inside its sources, an existing archive, a non-empty or live
//! target) name the fix; hostile archives (absolute or `..` paths, two roots, no manifest,
//! links out, entries beneath a link, a corrupt stream) are refused and never extracted.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    BIN, CliOutput, TestGateway, WsClient, cli_params, isolated_command, run_bounded,
};

/// `openclaw backup <args…>` with `home` as `HOME` and state dir.
fn backup(home: &Path, args: &[&str]) -> CliOutput {
    let mut cmd = isolated_command(BIN, home);
    cmd.arg("backup")
        .args(args)
        .current_dir(home.parent().unwrap_or(home));
    run_bounded(cmd, Duration::from_secs(60))
}

/// The messages' texts of `chat.history` of the main session.
async fn history(port: u16) -> Vec<String> {
    let (mut op, _) = WsClient::hello(port, cli_params("T", crate::nodes::ALL_OPERATOR)).await;
    let h = op
        .request("chat.history", json!({"sessionKey": "main", "limit": 50}))
        .await;
    h["payload"]["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["content"][0]["text"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn a_running_gateways_backup_restores_into_a_gateway_serving_the_same_conversation() {
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", crate::nodes::ALL_OPERATOR)).await;
    // A conversation with the embedded command agent (recorded in the transcript).
    for key in ["bk-0", "bk-1"] {
        op.chat_until_final("main", "/nodes", key).await;
    }
    let before = history(gw.port).await;
    assert!(before.len() >= 4, "{before:?}");
    // A run log with a line still being written: the copy ends at the last whole line.
    let runs = gw.dir.path().join("cron/runs");
    std::fs::create_dir_all(&runs).expect("runs dir");
    std::fs::write(runs.join("job.jsonl"), "{\"ts\":1}\n{\"ts\":2}\n{\"ts\":").expect("run log");
    // What is never archived: the gateway's lock, temporary files.
    std::fs::write(gw.dir.path().join(".x.json.123.tmp"), "partial").expect("tmp file");

    let out_dir = tempfile::tempdir().expect("out dir");
    let out = backup(
        gw.dir.path(),
        &[
            "create",
            "--output",
            &out_dir.path().display().to_string(),
            "--verify",
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let v: Value = out.json();
    assert_eq!(v["verified"], true, "{v}");
    let archive = PathBuf::from(v["archivePath"].as_str().expect("archive path"));
    assert!(archive.starts_with(out_dir.path()), "{v}");
    assert!(
        archive
            .to_string_lossy()
            .ends_with("-openclaw-backup.tar.gz"),
        "{v}"
    );
    let mode = std::fs::metadata(&archive)
        .expect("archive")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds secrets: {mode:o}");
    assert_eq!(v["assets"][0]["kind"], "state", "{v}");

    // Refusals that name the fix, and nothing overwritten or written inside the sources.
    let again = backup(
        gw.dir.path(),
        &["create", "--output", &archive.display().to_string()],
    );
    assert_eq!(again.code, Some(1), "{again}");
    assert!(again.stderr.contains("never overwritten"), "{again}");
    let inside = backup(
        gw.dir.path(),
        &[
            "create",
            "--output",
            &gw.dir.path().join("bk").display().to_string(),
        ],
    );
    assert_eq!(inside.code, Some(1), "{inside}");
    assert!(
        inside.stderr.contains("inside what it backs up"),
        "{inside}"
    );
    assert!(!gw.dir.path().join("bk").exists());
    // … also through a link that resolves into the state dir.
    std::fs::create_dir_all(gw.dir.path().join("media")).expect("media dir");
    let link = out_dir.path().join("sneaky");
    std::os::unix::fs::symlink(gw.dir.path().join("media"), &link).expect("link");
    let through = backup(
        gw.dir.path(),
        &["create", "--output", &link.display().to_string()],
    );
    assert_eq!(through.code, Some(1), "{through}");
    assert!(through.stderr.contains("through a link"), "{through}");

    // Restore: never into the live state dir or a non-empty directory.
    let live = backup(
        gw.dir.path(),
        &[
            "restore",
            &archive.display().to_string(),
            "--target",
            &gw.dir.path().join("r").display().to_string(),
        ],
    );
    assert_eq!(live.code, Some(1), "{live}");
    assert!(live.stderr.contains("live state dir"), "{live}");
    let busy = tempfile::tempdir().expect("busy");
    std::fs::write(busy.path().join("x"), "x").expect("x");
    let refused = backup(
        gw.dir.path(),
        &[
            "restore",
            &archive.display().to_string(),
            "--target",
            &busy.path().display().to_string(),
        ],
    );
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(refused.stderr.contains("not empty"), "{refused}");

    let target = tempfile::tempdir().expect("target");
    let r = backup(
        gw.dir.path(),
        &[
            "restore",
            &archive.display().to_string(),
            "--target",
            &target.path().join("new").display().to_string(),
            "--json",
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    let rv: Value = r.json();
    let root = rv["archiveRoot"].as_str().expect("root");
    let rel: PathBuf = gw
        .dir
        .path()
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let restored = target
        .path()
        .join("new")
        .join(root)
        .join("payload/posix")
        .join(rel);
    assert!(
        restored
            .join("agents/main/sessions/sessions.json")
            .is_file()
    );
    assert_eq!(
        std::fs::read_to_string(restored.join("cron/runs/job.jsonl")).expect("run log"),
        "{\"ts\":1}\n{\"ts\":2}\n"
    );
    assert!(!restored.join(".x.json.123.tmp").exists());
    // `tmp/` holds the gateway's owner lock (and OpenClaw's scratch): regenerable.
    assert!(gw.owner_lock_path().exists());
    assert!(!restored.join("tmp").exists());

    // The restored state dir, moved into place, is served by a new gateway as it was.
    let home = tempfile::tempdir().expect("home");
    std::fs::rename(&restored, home.path()).expect("move the restored state into place");
    let gw2 = TestGateway::start_in(
        home,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    assert_eq!(history(gw2.port).await, before);
}

/// An archive entry built by hand: path, kind (`d`ir, `f`ile, a `s`etuid file, sym`l`ink,
/// `h`ard link), data or link target.
type Raw<'a> = (&'a str, char, &'a str);

/// An archive of `entries`, with raw names (no checks), gzipped.
fn hostile(dir: &Path, name: &str, entries: &[Raw<'_>]) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (p, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..p.len()].copy_from_slice(p.as_bytes());
        }
        h.set_mode(if *kind == 's' { 0o4755 } else { 0o644 });
        match kind {
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
            }
            'l' => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                let gnu = h.as_gnu_mut().expect("gnu header");
                gnu.linkname[..data.len()].copy_from_slice(data.as_bytes());
            }
            'h' => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let gnu = h.as_gnu_mut().expect("gnu header");
                gnu.linkname[..data.len()].copy_from_slice(data.as_bytes());
            }
            _ => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
            }
        }
        h.set_cksum();
        let body: &[u8] = if matches!(kind, 'f' | 's') {
            data.as_bytes()
        } else {
            &[]
        };
        b.append(&h, body).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gzip");
    path
}

fn manifest(root: &str, version: u32, external: Value) -> String {
    json!({"schemaVersion": version, "archiveRoot": root, "createdAt": "2026-12-06T00:00:00.000Z",
        "assets": [{"kind": "state", "sourcePath": "/s", "archivePath": format!("{root}/payload/posix/s")}],
        "externalSymbolicLinks": external})
    .to_string()
}

#[test]
fn hostile_archives_are_refused_and_never_extracted() {
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let r = "r";
    let m = manifest(r, 1, json!([]));
    let ok = [
        ("r/payload/posix/s", 'd', ""),
        ("r/payload/posix/s/a.json", 'f', "{}"),
        ("r/manifest.json", 'f', m.as_str()),
    ];
    let good = hostile(dir.path(), "good.tar.gz", &ok);
    let v = backup(home.path(), &["verify", &good.display().to_string()]);
    assert_eq!(v.code, Some(0), "the well-formed one passes: {v}");
    let external = manifest(
        r,
        1,
        json!([{"entryPath": "r/payload/posix/s/out", "linkpath": "/srv/data"}]),
    );
    let reported = hostile(
        dir.path(),
        "reported.tar.gz",
        &[
            ok[0],
            ok[1],
            ("r/payload/posix/s/out", 'l', "/srv/data"),
            ("r/manifest.json", 'f', &external),
        ],
    );
    let v = backup(home.path(), &["verify", &reported.display().to_string()]);
    assert_eq!(
        v.code,
        Some(0),
        "a link out that the manifest reports passes: {v}"
    );
    // A restore keeps a file's mode but never a setuid bit from an archive.
    let suid = hostile(
        dir.path(),
        "suid.tar.gz",
        &[ok[0], ("r/payload/posix/s/run", 's', "#!/bin/sh\n"), ok[2]],
    );
    let target = dir.path().join("t-suid");
    let res = backup(
        home.path(),
        &[
            "restore",
            &suid.display().to_string(),
            "--target",
            &target.display().to_string(),
        ],
    );
    assert_eq!(res.code, Some(0), "{res}");
    let mode = std::fs::metadata(target.join("r/payload/posix/s/run"))
        .expect("restored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7000, 0, "no setuid/setgid/sticky: {mode:o}");
    assert_eq!(mode & 0o700, 0o700, "the owner's bits stay: {mode:o}");

    let v2 = manifest(r, 2, json!([]));
    let cases: Vec<(&str, Vec<Raw<'_>>, &str)> = vec![
        (
            "absolute",
            vec![ok[0], ("/etc/cron.d/x", 'f', "x"), ok[2]],
            "unsafe path",
        ),
        (
            "dotdot",
            vec![ok[0], ("r/../../escape", 'f', "x"), ok[2]],
            "unsafe path",
        ),
        (
            "two-roots",
            vec![ok[0], ok[1], ("q/other", 'f', "x"), ok[2]],
            "second root",
        ),
        ("no-manifest", vec![ok[0], ok[1]], "manifest.json"),
        (
            "hard-link",
            vec![
                ok[0],
                ("r/payload/posix/s/h", 'h', "r/payload/posix/s/a.json"),
                ok[2],
            ],
            "hard link",
        ),
        (
            "link-out",
            vec![
                ok[0],
                ("r/payload/posix/s/l", 'l', "../../../../../etc"),
                ok[2],
            ],
            "points outside",
        ),
        (
            "beneath-link",
            vec![
                ok[0],
                ("r/payload/posix/s/l", 'l', "sub"),
                ("r/payload/posix/s/l/x", 'f', "x"),
                ok[2],
            ],
            "beneath a symbolic link",
        ),
        (
            "missing-asset",
            vec![("r/payload/posix/t", 'd', ""), ok[2]],
            "is missing",
        ),
        (
            "schema-2",
            vec![ok[0], ok[1], ("r/manifest.json", 'f', &v2)],
            "schemaVersion",
        ),
    ];
    for (name, entries, want) in cases {
        let a = hostile(dir.path(), &format!("{name}.tar.gz"), &entries);
        let v = backup(home.path(), &["verify", &a.display().to_string()]);
        assert_eq!(v.code, Some(1), "{name}: {v}");
        assert!(v.stderr.contains(want), "{name}: wants {want:?}: {v}");
        let target = dir.path().join(format!("t-{name}"));
        let r = backup(
            home.path(),
            &[
                "restore",
                &a.display().to_string(),
                "--target",
                &target.display().to_string(),
            ],
        );
        assert_eq!(r.code, Some(1), "{name}: {r}");
        assert!(!target.exists(), "{name}: nothing extracted");
    }
    assert!(!Path::new("/etc/cron.d/x").exists());

    // A corrupt stream (one byte flipped in the middle) fails the gzip check.
    let mut bytes = std::fs::read(&good).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = dir.path().join("corrupt.tar.gz");
    std::fs::write(&bad, bytes).expect("write");
    let v = backup(
        home.path(),
        &["verify", &bad.display().to_string(), "--json"],
    );
    assert_eq!(v.code, Some(1), "{v}");
    assert!(v.stdout.contains("not a valid backup archive"), "{v}");
}

/// What `create` takes: the config and a workspace outside the state dir are their own
/// assets (restored byte for byte at their paths under the payload); `--no-include-workspace`
/// and `--only-config` narrow that; `--dry-run` writes nothing.
#[test]
fn the_config_and_workspaces_outside_the_state_dir_are_their_own_assets() {
    let state = tempfile::tempdir().expect("state");
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    let cfg = elsewhere.path().join("openclaw.json");
    let ws = elsewhere.path().join("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::write(ws.join("SOUL.md"), "Be brief. 🦀\n").expect("soul");
    std::fs::write(
        &cfg,
        json!({"agents": {"defaults": {"workspace": ws}}}).to_string(),
    )
    .expect("config");
    std::fs::create_dir_all(state.path().join("agents/main/sessions")).expect("sessions");
    let out = tempfile::tempdir().expect("out");
    let run = |extra: &[&str]| {
        let mut cmd = isolated_command(BIN, state.path());
        cmd.env("OPENCLAW_CONFIG_PATH", &cfg)
            .args(["backup", "create", "--json", "--output"])
            .arg(out.path())
            .args(extra);
        let o = run_bounded(cmd, Duration::from_secs(60));
        assert_eq!(o.code, Some(0), "{extra:?}: {o}");
        o.json()
    };
    let kinds = |v: &Value| -> Vec<String> {
        v["assets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["kind"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let dry = run(&["--dry-run"]);
    assert_eq!(kinds(&dry), ["state", "config", "workspace"], "{dry}");
    assert_eq!(
        std::fs::read_dir(out.path()).expect("out").count(),
        0,
        "a dry run writes nothing"
    );
    let narrow = run(&["--dry-run", "--no-include-workspace"]);
    assert_eq!(kinds(&narrow), ["state", "config"], "{narrow}");
    assert!(
        narrow["skipped"].as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["reason"] == "excluded" && s["kind"] == "workspace")),
        "{narrow}"
    );
    let only = run(&["--dry-run", "--only-config"]);
    assert_eq!(kinds(&only), ["config"], "{only}");

    let full = run(&["--verify"]);
    assert_eq!(full["verified"], true, "{full}");
    let archive = full["archivePath"].as_str().expect("archive").to_owned();
    let target = out.path().join("restored");
    let mut cmd = isolated_command(BIN, state.path());
    cmd.env("OPENCLAW_CONFIG_PATH", &cfg)
        .args(["backup", "restore", &archive, "--target"])
        .arg(&target);
    let r = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{r}");
    let payload = |p: &Path| -> PathBuf {
        let rel: PathBuf = p
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        target
            .join(full["archiveRoot"].as_str().unwrap_or(""))
            .join("payload/posix")
            .join(rel)
    };
    assert_eq!(
        std::fs::read(payload(&cfg)).expect("the config"),
        std::fs::read(&cfg).expect("config")
    );
    assert_eq!(
        std::fs::read_to_string(payload(&ws.join("SOUL.md"))).expect("the workspace file"),
        "Be brief. 🦀\n"
    );
    assert!(payload(&state.path().join("agents/main/sessions")).is_dir());
}
