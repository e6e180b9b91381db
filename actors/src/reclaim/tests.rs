use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::time::{Duration, SystemTime};

use super::*;

/// Writes `bytes` to a new file `path` (mode 0600), last modified `age` ago.
fn create(path: &Path, bytes: &[u8], age: u64) {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).expect("dir");
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("create");
    f.write_all(bytes).expect("write");
    f.set_modified(SystemTime::now() - Duration::from_secs(age))
        .expect("mtime");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_missing_document_comes_back_from_its_newest_copy() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    create(&s.join("cron/jobs.json.migrated"), b"{\"old\":1}", 300);
    create(&s.join("cron/jobs.json.migrated.2"), b"{\"newer\":2}", 100);
    // Not copies of it.
    create(&s.join("cron/jobs.json.migratedx"), b"x", 10);
    create(&s.join("cron/jobs.jsonl.migrated"), b"y", 10);
    create(
        &s.join("settings/voicewake.json.migrated"),
        b"{\"triggers\":[\"hey\"]}",
        50,
    );
    let done = reclaim(s);
    assert_eq!(done.len(), 2, "{done:#?}");
    assert_eq!(read(&s.join("cron/jobs.json")), "{\"newer\":2}");
    assert_eq!(
        read(&s.join("settings/voicewake.json")),
        "{\"triggers\":[\"hey\"]}"
    );
    let mode = fs::metadata(s.join("cron/jobs.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        names(&s.join("cron")),
        [
            "jobs.json",
            "jobs.json.migrated",
            "jobs.json.migratedx",
            "jobs.jsonl.migrated"
        ]
    );
    assert!(done[0].contains("jobs.json.migrated.2"), "{done:#?}");
    // Done once: nothing more to do.
    assert!(reclaim(s).is_empty());
}

#[test]
fn a_document_written_after_the_move_stays() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    create(&s.join("devices/pairing.json"), b"{\"current\":true}", 0);
    create(
        &s.join("devices/pairing.json.migrated"),
        b"{\"moved\":true}",
        60,
    );
    assert!(reclaim(s).is_empty());
    assert_eq!(read(&s.join("devices/pairing.json")), "{\"current\":true}");
    assert!(s.join("devices/pairing.json.migrated").exists());
}

#[test]
fn a_log_comes_back_and_its_copies_go_before_what_was_appended_since() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("cron/runs");
    // Moved twice (two generations), appended to after each move.
    create(
        &runs.join("a.jsonl.migrated"),
        b"{\"n\":1}\n{\"n\":2}\n",
        300,
    );
    create(&runs.join("a.jsonl.migrated.2"), b"{\"n\":3}", 200);
    create(&runs.join("a.jsonl"), b"{\"n\":4}\n", 0);
    // Missing: a plain restore.
    create(&runs.join("b.jsonl.migrated"), b"{\"b\":1}\n", 100);
    let done = reclaim(dir.path());
    assert_eq!(done.len(), 3, "{done:#?}");
    assert_eq!(
        read(&runs.join("a.jsonl")),
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n"
    );
    assert_eq!(read(&runs.join("b.jsonl")), "{\"b\":1}\n");
    assert_eq!(names(&runs), ["a.jsonl", "b.jsonl"]);
    let mode = fs::metadata(runs.join("a.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(reclaim(dir.path()).is_empty());
}

#[test]
fn a_merge_cut_short_before_the_copy_went_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("cron/runs");
    // The merged log was renamed in place, then the process died: the copy is still there.
    create(&runs.join("a.jsonl"), b"{\"n\":1}\n{\"n\":2}\n", 0);
    create(&runs.join("a.jsonl.migrated"), b"{\"n\":1}\n", 60);
    let done = reclaim(dir.path());
    assert!(done.is_empty(), "{done:#?}");
    assert_eq!(read(&runs.join("a.jsonl")), "{\"n\":1}\n{\"n\":2}\n");
    assert_eq!(names(&runs), ["a.jsonl"]);
}

/// A session index as the gateway writes it.
const INDEX: &str =
    r#"{"agent:main:main":{"sessionId":"t1","createdAt":1,"updatedAt":2,"messageCount":1}}"#;

/// A manifest of `doctor --fix` as OpenClaw 2026.9.6 writes it (the fields read here),
/// with its completed and planned moves.
fn manifest(s: &Path, completed: &[serde_json::Value], planned: &[serde_json::Value]) {
    create(
        &s.join("session-sqlite-migration-runs/session-sqlite-1-x.json"),
        serde_json::json!({"manifestVersion": 3, "targets": [{"agentId": "main",
            "completedMoves": completed, "plannedMoves": planned}]})
        .to_string()
        .as_bytes(),
        0,
    );
}

/// One move of a manifest: `kind` (`transcript`, `legacy-store`), `src` to `dst`.
fn mv(kind: &str, src: &Path, dst: &Path) -> serde_json::Value {
    serde_json::json!({"kind": kind, "sourcePath": src.to_string_lossy(), "archivePath": dst.to_string_lossy()})
}

#[test]
fn sessions_moved_by_doctor_fix_come_back_and_nothing_outside_them_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let sessions = s.join("agents/main/sessions");
    let archive = s.join("agents/main/session-sqlite-import-archive");
    create(&archive.join("k.t1.jsonl.imported-1"), b"{\"m\":1}\n", 60);
    create(&archive.join("k.t2.jsonl.imported-1"), b"{\"m\":2}\n", 60);
    create(
        &archive.join("legacy-store.sessions.json.imported-2"),
        INDEX.as_bytes(),
        60,
    );
    // The gateway appended to t2 after the move.
    create(&sessions.join("t2.jsonl"), b"{\"m\":3}\n", 0);
    // Hostile or foreign moves: out of the state dir, into the config, a traversal.
    create(&archive.join("evil.imported-3"), b"pwned", 60);
    let evil = archive.join("evil.imported-3");
    manifest(
        s,
        &[
            mv(
                "transcript",
                &sessions.join("t1.jsonl"),
                &archive.join("k.t1.jsonl.imported-1"),
            ),
            mv(
                "transcript",
                &sessions.join("t2.jsonl"),
                &archive.join("k.t2.jsonl.imported-1"),
            ),
            mv(
                "legacy-store",
                &sessions.join("sessions.json"),
                &archive.join("legacy-store.sessions.json.imported-2"),
            ),
            mv("transcript", &s.join("openclaw.json"), &evil),
            mv(
                "legacy-store",
                &sessions.join("../../../openclaw.json"),
                &evil,
            ),
            mv(
                "transcript",
                Path::new("/tmp/openclaw-rs-reclaim-test.jsonl"),
                &evil,
            ),
            mv(
                "transcript",
                &sessions.join("t3.jsonl"),
                Path::new("/etc/passwd"),
            ),
            serde_json::json!({"kind": "transcript"}),
        ],
        &[],
    );
    let done = reclaim(s);
    assert_eq!(done.len(), 3, "{done:#?}");
    assert_eq!(read(&sessions.join("t1.jsonl")), "{\"m\":1}\n");
    assert_eq!(read(&sessions.join("t2.jsonl")), "{\"m\":2}\n{\"m\":3}\n");
    assert_eq!(read(&sessions.join("sessions.json")), INDEX);
    assert_eq!(names(&sessions), ["sessions.json", "t1.jsonl", "t2.jsonl"]);
    assert_eq!(names(&archive), ["evil.imported-3"]);
    assert!(!s.join("openclaw.json").exists());
    assert!(!Path::new("/tmp/openclaw-rs-reclaim-test.jsonl").exists());
    assert!(reclaim(s).is_empty());
}

#[test]
fn a_new_index_begun_without_the_moved_one_gets_its_sessions_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let sessions = s.join("agents/main/sessions");
    let archive = s.join("agents/main/session-sqlite-import-archive");
    // A gateway from before reclaiming started without the moved index and began another.
    let now =
        r#"{"agent:main:main":{"sessionId":"new","createdAt":5,"updatedAt":6,"messageCount":1}}"#;
    let then = r#"{"agent:main:main":{"sessionId":"old","createdAt":1,"updatedAt":2,"messageCount":3},
        "agent:main:telegram:direct:42":{"sessionId":"dm","createdAt":1,"updatedAt":2,"messageCount":2}}"#;
    create(&sessions.join("sessions.json"), now.as_bytes(), 0);
    let copy = archive.join("legacy-store.sessions.json.imported-2");
    create(&copy, then.as_bytes(), 60);
    manifest(
        s,
        &[mv("legacy-store", &sessions.join("sessions.json"), &copy)],
        &[],
    );
    create(
        &s.join("session-sqlite-migration-runs/session-sqlite-2-y.json"),
        b"{not json",
        0,
    );
    let done = reclaim(s);
    assert_eq!(done.len(), 1, "{done:#?}");
    assert!(done[0].starts_with("added 1 session(s)"), "{done:#?}");
    let merged: serde_json::Value =
        serde_json::from_str(&read(&sessions.join("sessions.json"))).unwrap();
    // The current entry wins; the other joins.
    assert_eq!(merged["agent:main:main"]["sessionId"], "new");
    assert_eq!(merged["agent:main:telegram:direct:42"]["sessionId"], "dm");
    assert!(!copy.exists());
    assert!(
        archive
            .join("legacy-store.sessions.json.imported-2.merged")
            .exists()
    );
    // Once: a session deleted afterwards does not come back.
    fs::write(sessions.join("sessions.json"), now).unwrap();
    assert!(reclaim(s).is_empty());
    assert_eq!(read(&sessions.join("sessions.json")), now);
}

#[test]
fn the_host_approvals_come_back_from_the_gateways_own_copy_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let doc = s.join("exec-approvals.json");
    let last = s.join("gateway/exec-approvals.json.last");
    assert_eq!(shadow_path(&doc).as_deref(), Some(last.as_path()));
    // Found at start: copied, nothing to say.
    create(
        &doc,
        b"{\"version\":1,\"defaults\":{\"security\":\"deny\"}}",
        0,
    );
    assert!(reclaim(s).is_empty());
    assert_eq!(read(&last), read(&doc));
    // Edited by hand: the copy follows.
    fs::write(
        &doc,
        b"{\"version\":1,\"defaults\":{\"security\":\"allowlist\"}}",
    )
    .unwrap();
    assert!(reclaim(s).is_empty());
    assert_eq!(read(&last), read(&doc));
    // Written by the gateway (`exec.approvals.set`).
    keep_shadow(
        &doc,
        b"{\"version\":1,\"agents\":{\"main\":{\"security\":\"deny\"}}}",
    )
    .unwrap();
    // Deleted (OpenClaw's `doctor --fix` imports it, then removes it): back, failing closed.
    fs::remove_file(&doc).unwrap();
    let done = reclaim(s);
    assert_eq!(done.len(), 1, "{done:#?}");
    assert!(
        done[0].contains("openclaw approvals set --gateway"),
        "{done:#?}"
    );
    assert_eq!(
        read(&doc),
        "{\"version\":1,\"agents\":{\"main\":{\"security\":\"deny\"}}}"
    );
    let mode = fs::metadata(&doc).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = fs::metadata(&last).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(reclaim(s).is_empty());
}

#[test]
fn a_copy_this_gateway_cannot_read_is_left_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // An older OpenClaw's files, in shapes this gateway does not read.
    create(
        &s.join("cron/jobs.json.migrated"),
        b"{\"jobs\": \"not a list\"}",
        60,
    );
    create(&s.join("devices/pairing.json.migrated"), b"[1, 2, 3]", 60);
    create(
        &s.join("settings/voicewake.json.migrated"),
        b"{not json",
        60,
    );
    // A newer unparsable copy does not hide an older good one.
    create(
        &s.join("exec-allowlist.json.migrated"),
        b"{\"good\": true}",
        120,
    );
    create(&s.join("exec-allowlist.json.migrated.raw"), b"{bad", 60);
    let sessions = s.join("agents/main/sessions");
    let archive = s.join("agents/main/session-sqlite-import-archive");
    create(
        &archive.join("legacy-store.sessions.json.imported-2"),
        b"{\"k\": 42}",
        60,
    );
    let copy = archive.join("legacy-store.sessions.json.imported-2");
    manifest(
        s,
        &[mv("legacy-store", &sessions.join("sessions.json"), &copy)],
        &[],
    );
    let done = reclaim(s);
    assert_eq!(done.len(), 5, "{done:#?}");
    assert_eq!(
        done.iter().filter(|l| l.starts_with("left ")).count(),
        4,
        "{done:#?}"
    );
    assert_eq!(read(&s.join("exec-allowlist.json")), "{\"good\": true}");
    assert!(s.join("exec-allowlist.json.migrated.raw").exists());
    for f in [
        "cron/jobs.json",
        "devices/pairing.json",
        "settings/voicewake.json",
    ] {
        assert!(!s.join(f).exists(), "{f}");
        assert!(s.join(format!("{f}.migrated")).exists(), "{f}");
    }
    assert!(!sessions.join("sessions.json").exists());
    assert!(
        archive
            .join("legacy-store.sessions.json.imported-2")
            .exists()
    );
}

#[test]
fn archived_transcripts_and_planned_moves_come_back_and_long_logs_merge_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let sessions = s.join("agents/main/sessions");
    let archive = s.join("agents/main/session-sqlite-import-archive");
    // A reset's archive, moved; another that is (still) in place besides its moved copy.
    create(
        &archive.join("k.a.jsonl.reset.5.imported-1"),
        b"{\"r\":1}\n",
        60,
    );
    create(
        &archive.join("k.b.jsonl.reset.6.imported-1"),
        b"{\"r\":2}\n",
        60,
    );
    create(
        &sessions.join("b.jsonl.reset.6"),
        b"{\"r\":2}\n{\"x\":0}\n",
        60,
    );
    // A long live transcript, moved (only planned in the manifest: the doctor stopped), and
    // appended to since: more than one 64 KiB chunk each side, the copy's last line cut.
    let line = |n: usize| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(100));
    let old: String = (0..1500).map(line).collect::<String>() + "{\"torn\":";
    let new: String = (1500..2500).map(line).collect();
    create(&archive.join("k.c.jsonl.imported-1"), old.as_bytes(), 60);
    create(&sessions.join("c.jsonl"), new.as_bytes(), 0);
    let t = |src: &str, dst: &str| mv("transcript", &sessions.join(src), &archive.join(dst));
    let a = t("a.jsonl.reset.5", "k.a.jsonl.reset.5.imported-1");
    manifest(
        s,
        &[
            a.clone(),
            t("b.jsonl.reset.6", "k.b.jsonl.reset.6.imported-1"),
        ],
        &[a, t("c.jsonl", "k.c.jsonl.imported-1")],
    );
    let done = reclaim(s);
    assert_eq!(done.len(), 2, "{done:#?}");
    assert_eq!(read(&sessions.join("a.jsonl.reset.5")), "{\"r\":1}\n");
    assert_eq!(
        read(&sessions.join("b.jsonl.reset.6")),
        "{\"r\":2}\n{\"x\":0}\n"
    );
    assert_eq!(read(&sessions.join("c.jsonl")), format!("{old}\n{new}"));
    assert_eq!(names(&archive), ["k.b.jsonl.reset.6.imported-1"]);
    let mode = fs::metadata(sessions.join("c.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!names(&sessions).iter().any(|n| n.ends_with(".tmp")));
    assert!(reclaim(s).is_empty());
}
