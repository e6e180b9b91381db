//! Session maintenance (`session.maintenance`, `sessions.cleanup`) against the real binary
//! and a real state directory written beforehand: old sessions archived, cron sessions
//! deleted, the main session kept, old archives dropped by retention, the disk budget
//! taking archives oldest first and never a live transcript, warn mode changing nothing
//! until `--enforce`, and the settings applied by a hot reload.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::nodes::ALL_OPERATOR;
use crate::support::{CliHome, TestGateway, WsClient, cli_params, error_of, now_ms, replace_file};

const DAY: u64 = 24 * 3600 * 1000;

fn meta(id: &str, days_ago: u64) -> Value {
    let at = now_ms() - days_ago * DAY;
    json!({"sessionId": id, "createdAt": at, "updatedAt": at, "messageCount": 2})
}

/// A transcript of `bytes` bytes (JSONL lines).
fn transcript(dir: &Path, name: &str, bytes: usize) {
    let line = "{\"role\":\"user\",\"content\":\"hello\"}\n";
    let mut text = line.repeat(bytes / line.len() + 1);
    text.truncate(bytes - 1);
    text.push('\n');
    std::fs::write(dir.join(name), text).expect("write transcript");
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("sessions dir")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn config(maintenance: Value) -> String {
    json!({"gateway": {"auth": {"token": "T"}}, "session": {"maintenance": maintenance}})
        .to_string()
}

#[actix_web::test]
async fn session_maintenance_archives_prunes_and_keeps_the_disk_budget() {
    let state = tempfile::tempdir().expect("state dir");
    let dir = state.path().join("agents/main/sessions");
    std::fs::create_dir_all(&dir).expect("sessions dir");
    let index = json!({
        "agent:main:main": meta("main-id", 90),
        "agent:main:telegram:direct:111": meta("b-olddm", 40),
        "agent:main:telegram:direct:222": meta("fresh-dm", 1),
        "agent:main:cron:nightly": meta("cron-run", 40),
        "agent:main:telegram:group:-100": meta("a-group", 40),
    });
    std::fs::write(dir.join("sessions.json"), index.to_string()).expect("index");
    transcript(&dir, "main-id.jsonl", 400);
    transcript(&dir, "b-olddm.jsonl", 3000);
    transcript(&dir, "fresh-dm.jsonl", 500);
    transcript(&dir, "cron-run.jsonl", 700);
    transcript(&dir, "a-group.jsonl", 1000);
    // An archive made 200 days ago, and what a reset left 5 days ago.
    let ancient = format!("gone.jsonl.deleted.{}", now_ms() - 200 * DAY);
    transcript(&dir, &ancient, 100);
    transcript(&dir, "left-by-reset.jsonl", 800);
    std::fs::File::options()
        .write(true)
        .open(dir.join("left-by-reset.jsonl"))
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(5 * 86_400)))
        .expect("date the leftover");

    let gw = TestGateway::start_in(
        state,
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&config(json!({"resetArchiveRetention": "90d"}))),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let (mut reader, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let res = reader.request("sessions.cleanup", json!({})).await;
    assert_eq!(
        error_of(&res)["message"],
        "missing scope: operator.admin",
        "{res}"
    );
    for (params, message) in [
        (
            json!({"bogus": 1}),
            "invalid sessions.cleanup params: at root: unexpected property 'bogus'",
        ),
        (
            json!({"agent": "main", "allAgents": true}),
            "invalid sessions.cleanup params: agent and allAgents exclude each other",
        ),
        (
            json!({"agent": "nope"}),
            "unknown agent id \"nope\" (agents.list shows them)",
        ),
        (
            json!({"enforce": "yes"}),
            "invalid sessions.cleanup params: at /enforce: must be boolean",
        ),
    ] {
        let res = admin.request("sessions.cleanup", params.clone()).await;
        assert_eq!(error_of(&res)["message"], message, "{params}: {res}");
    }

    // A dry run (ours) plans and changes nothing.
    let before_files = files(&dir);
    let res = admin
        .request("sessions.cleanup", json!({"dryRun": true}))
        .await;
    let st = &res["payload"];
    assert_eq!(
        (&st["dryRun"], &st["afterCount"]),
        (&json!(true), &json!(2)),
        "{res}"
    );
    assert!(st.get("applied").is_none(), "{res}");
    let mut planned: Vec<(String, String)> = st["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["action"].as_str().unwrap_or("").to_owned(),
                        x["key"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    planned.sort();
    assert_eq!(
        planned,
        [
            (
                "archive".to_owned(),
                "agent:main:telegram:direct:111".to_owned()
            ),
            (
                "archive".to_owned(),
                "agent:main:telegram:group:-100".to_owned()
            ),
            ("delete".to_owned(), "agent:main:cron:nightly".to_owned()),
        ],
        "{res}"
    );
    assert_eq!(files(&dir), before_files, "a dry run touches no file");
    // Our CLI: `openclaw sessions cleanup <flags…>` against this gateway.
    let home = CliHome::new();
    let url = gw.url();
    let cleanup = |flags: &[&str]| {
        let mut args = vec!["sessions", "cleanup", "--url", url.as_str(), "--token", "T"];
        args.extend_from_slice(flags);
        home.run(&args, &[])
    };
    let out = cleanup(&["--dry-run"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains("Dry run (mode enforce): entries 5 -> 2; nothing changed")
            && out.stdout.contains("Planned session actions:")
            && out.stdout.contains("agent:main:cron:nightly"),
        "{out}"
    );

    // Age and retention (defaults: 30 days, enforce).
    let res = admin.request("sessions.cleanup", json!({})).await;
    let st = &res["payload"];
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(st["agentId"], "main", "{res}");
    assert!(
        st["storePath"]
            .as_str()
            .is_some_and(|p| p.ends_with("agents/main/sessions/sessions.json")),
        "{res}"
    );
    assert_eq!(
        (&st["mode"], &st["beforeCount"], &st["afterCount"]),
        (&json!("enforce"), &json!(5), &json!(2)),
        "{res}"
    );
    assert_eq!(
        (&st["archived"], &st["pruned"]),
        (&json!(2), &json!(1)),
        "{res}"
    );
    assert_eq!(st["unreferencedArtifacts"]["removedFiles"], 1, "{res}");
    assert_eq!(
        (&st["applied"], &st["appliedCount"]),
        (&json!(true), &json!(2)),
        "{res}"
    );
    let left = files(&dir);
    for kept in [
        "main-id.jsonl",
        "fresh-dm.jsonl",
        "left-by-reset.jsonl",
        "sessions.json",
    ] {
        assert!(left.iter().any(|f| f == kept), "{kept} kept: {left:?}");
    }
    for gone in [
        "b-olddm.jsonl",
        "a-group.jsonl",
        "cron-run.jsonl",
        ancient.as_str(),
    ] {
        assert!(!left.iter().any(|f| f == gone), "{gone} gone: {left:?}");
    }
    let archives: Vec<&String> = left
        .iter()
        .filter(|f| f.contains(".jsonl.deleted."))
        .collect();
    assert_eq!(
        archives.len(),
        2,
        "the two idle sessions archived: {left:?}"
    );
    assert!(
        archives
            .iter()
            .any(|f| f.starts_with("a-group.jsonl.deleted."))
            && archives
                .iter()
                .any(|f| f.starts_with("b-olddm.jsonl.deleted.")),
        "{left:?}"
    );
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sessions.json")).expect("index on disk"),
    )
    .expect("index json");
    let mut keys: Vec<&String> = on_disk.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["agent:main:main", "agent:main:telegram:direct:222"],
        "{on_disk}"
    );
    let list = admin.request("sessions.list", json!({})).await;
    assert_eq!(
        list["payload"]["sessions"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    gw.wait_stderr_line(
        &[
            "session maintenance (main): 5 → 2 sessions",
            "2 idle over pruneAfter archived",
            "1 cron sessions deleted",
        ],
        Duration::from_secs(10),
    );

    // The disk budget (hot reload): archives and leftovers go, oldest first, down to the
    // high-water mark; the live transcripts stay.
    replace_file(
        &gw.config_path(),
        &config(json!({"pruneAfter": false, "maxDiskBytes": 3000, "highWaterBytes": 2000})),
    );
    gw.wait_stderr_line(
        &["config reloaded from", "session.maintenance"],
        Duration::from_secs(10),
    );
    let res = admin.request("sessions.cleanup", json!({})).await;
    let d = &res["payload"]["diskBudget"];
    assert_eq!(d["removedFiles"], 3, "{res}");
    assert!(
        d["totalBytesAfter"].as_u64().is_some_and(|b| b <= 2000)
            && d["totalBytesBefore"].as_u64().is_some_and(|b| b > 5000),
        "{res}"
    );
    assert_eq!(res["payload"]["afterCount"], 2, "{res}");
    let left = files(&dir);
    assert_eq!(
        left,
        ["fresh-dm.jsonl", "main-id.jsonl", "sessions.json"],
        "{left:?}"
    );

    // Warn mode plans and changes nothing; our CLI's --enforce applies.
    replace_file(
        &gw.config_path(),
        &config(
            json!({"mode": "warn", "pruneAfter": false, "maxEntries": 1, "maxDiskBytes": false}),
        ),
    );
    gw.wait_stderr_line(
        &["config reloaded from", "session.maintenance.mode"],
        Duration::from_secs(10),
    );
    let res = admin.request("sessions.cleanup", json!({})).await;
    let st = &res["payload"];
    assert_eq!(
        (&st["mode"], &st["wouldMutate"]),
        (&json!("warn"), &json!(true)),
        "{res}"
    );
    assert!(
        st.get("applied").is_none() && st["diskBudget"].is_null(),
        "{res}"
    );
    assert_eq!(st["capArchived"], 1, "{res}");
    assert_eq!(files(&dir), left, "nothing changed in warn mode");
    gw.wait_stderr_line(
        &["session maintenance (main, mode \"warn\": nothing changed) would do: 2 → 1 sessions"],
        Duration::from_secs(10),
    );
    let out = cleanup(&["--enforce"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains("Applied maintenance. Current entries: 1"),
        "{out}"
    );
    assert!(
        out.stdout.contains("Archived (over maxEntries): 1"),
        "{out}"
    );
    let left = files(&dir);
    assert!(
        left.iter()
            .any(|f| f.starts_with("fresh-dm.jsonl.deleted.")),
        "{left:?}"
    );
    assert!(
        left.iter().any(|f| f == "main-id.jsonl"),
        "the main session stays: {left:?}"
    );
    // --all-agents answers OpenClaw's multi-store shape.
    let out = cleanup(&["--all-agents", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(
        (&v["allAgents"], &v["mode"]),
        (&json!(true), &json!("warn")),
        "{out}"
    );
    assert_eq!(v["stores"][0]["afterCount"], 1, "{out}");
}

/// An agent that a config reload adds keeps the sessions it had on disk (its earlier
/// config's): its index is read before its file is ever written, saves in between leave
/// the file alone, and maintenance judges it only once read. Before, the first save after
/// the reload wrote the new agent's index as `{}`.
#[actix_web::test]
async fn an_agent_added_by_a_reload_keeps_its_sessions_on_disk() {
    let state = tempfile::tempdir().expect("state dir");
    let dir = state.path().join("agents/work/sessions");
    std::fs::create_dir_all(&dir).expect("sessions dir");
    let key = "agent:work:telegram:direct:9";
    std::fs::write(
        dir.join("sessions.json"),
        json!({ key: meta("work-id", 1) }).to_string(),
    )
    .expect("index");
    transcript(&dir, "work-id.jsonl", 300);
    let base = json!({"gateway": {"auth": {"token": "T"}}});
    let gw = TestGateway::start_in(
        state,
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&base.to_string()),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let mut with_work = base.clone();
    with_work["agents"] = json!({"entries": {"main": {"default": true}, "work": {}}});
    replace_file(&gw.config_path(), &with_work.to_string());
    gw.wait_stderr_line(
        &["config reloaded from", "agents.entries"],
        Duration::from_secs(10),
    );
    // A save of the index (a new session of main's) right after the reload.
    let res = admin
        .request(
            "sessions.create",
            json!({"key": "scratch", "agentId": "main"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let work_index = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).expect("index"))
            .expect("json")
    };
    assert!(
        work_index().get(key).is_some(),
        "the save right after the reload kept work's sessions: {}",
        work_index()
    );
    // Once read (in the background), the agent is maintained like the others: its entry
    // counted and kept.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let res = loop {
        let res = admin
            .request("sessions.cleanup", json!({"agent": "work"}))
            .await;
        if res["payload"]["beforeCount"] == 1 {
            break res;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "work's index never read: {res}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(res["payload"]["agentId"], "work", "{res}");
    assert_eq!(res["payload"]["afterCount"], 1, "{res}");
    // A later save (another new session) keeps it too, and the transcript is there.
    let res = admin
        .request(
            "sessions.create",
            json!({"key": "scratch-2", "agentId": "main"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert!(work_index().get(key).is_some(), "{}", work_index());
    assert!(dir.join("work-id.jsonl").exists());
}
