//! A state directory that cannot be written (a file where a directory should be): the
//! gateway refuses to start with the path and a fix, or — when it breaks while running —
//! answers with an error and logs the path, never panics, keeps serving, and acknowledges
//! nothing it did not write. (The Telegram state is covered in `telegram_flow.rs`.)

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{CliHome, CliOutput, TestGateway, WsClient, cli_params};

fn gateway_in(dir: tempfile::TempDir) -> TestGateway {
    TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    )
}

/// `openclaw gateway call <method> --device --json` against `gw` from `home`.
fn device_call(home: &CliHome, gw: &TestGateway, method: &str) -> CliOutput {
    home.call(&gw.url(), "T", method, &["--device"])
}

fn device_id(home: &CliHome) -> String {
    let text = std::fs::read_to_string(home.dir.path().join("node/identity.json"))
        .expect("the CLI's device identity");
    let v: Value = serde_json::from_str(&text).expect("identity is JSON");
    v["deviceId"].as_str().expect("deviceId").to_owned()
}

fn paired_on_disk(state: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(state.join("devices/pairing.json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).expect("pairing.json is JSON");
    let devices = &v["devices"];
    match devices {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|d| d["deviceId"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_file_in_place_of_a_state_subdirectory_refuses_start_naming_it() {
    for (blocker, path) in [
        ("devices", "devices/pairing.json"),
        ("agents", "agents/main/sessions/sessions.json"),
    ] {
        let home = CliHome::new();
        std::fs::write(home.dir.path().join(blocker), "not a directory").expect("write blocker");
        let out = home.run(&["gateway", "run", "--port", "0", "--token", "T"], &[]);
        assert_eq!(out.code, Some(78), "{blocker}: {out}");
        assert!(!out.stdout.contains("listening on"), "{out}");
        let want = format!(
            "Error: cannot read {}: Not a directory (os error 20). Fix: the state dir {} and the directories under it must be writable directories (move aside whatever file is in the way), or set OPENCLAW_STATE_DIR",
            home.dir.path().join(path).display(),
            home.dir.path().display()
        );
        assert!(out.stderr.lines().any(|l| l == want), "{blocker}: {out}");
        assert!(!out.stderr.contains("panicked"), "{out}");
    }
}

/// `devices/` turns into a file while the gateway runs: a silent (loopback) pairing cannot
/// be written, so the connect fails instead of being acknowledged; once the directory can be
/// created again the same device pairs, and that pairing survives a restart.
#[test]
fn pairing_that_cannot_be_written_is_refused_not_acknowledged() {
    let mut gw = gateway_in(tempfile::tempdir().expect("state dir"));
    let blocker = gw.dir.path().join("devices");
    std::fs::write(&blocker, "not a directory").expect("write blocker");
    let cli = CliHome::new();

    let out = device_call(&cli, &gw, "health");
    assert_eq!(out.code, Some(1), "{out}");
    let v = out.json();
    assert_eq!(v["ok"], false, "{out}");
    assert_eq!(v["error"]["code"], "UNAVAILABLE", "{out}");
    assert_eq!(v["error"]["retryable"], true, "{out}");
    assert_eq!(
        v["error"]["message"],
        "gateway cannot save its device pairing state (the gateway's owner should check the state directory: see the gateway log); retry later",
        "{out}"
    );
    let id = device_id(&cli);
    let logged = format!(
        "cannot persist pairing state: {}: ",
        gw.dir.path().join("devices/pairing.json").display()
    );
    // The gateway logs the path it could not write (waited for: the log crosses a pipe).
    gw.wait_stderr_line(&[&logged], std::time::Duration::from_secs(10));
    // Still serving: a plain token call works.
    let out = CliHome::new().call(&gw.url(), "T", "health", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(paired_on_disk(gw.dir.path()).is_empty());
    // What the gateway acts on does not run ahead of the disk: the refused device is not
    // paired in memory either (it used to be listed as approved, silently).
    let out = CliHome::new().call(&gw.url(), "T", "device.pair.list", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let listed = out.json();
    let paired: Vec<&str> = listed["paired"]
        .as_array()
        .unwrap_or_else(|| panic!("device.pair.list has a paired list: {listed}"))
        .iter()
        .filter_map(|d| d["deviceId"].as_str())
        .collect();
    assert!(!paired.contains(&id.as_str()), "{listed}");

    // Fixed: the device pairs, on disk, and stays paired across a restart.
    std::fs::remove_file(&blocker).expect("remove blocker");
    let out = device_call(&cli, &gw, "health");
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(paired_on_disk(gw.dir.path()), vec![id.clone()]);
    gw.sigterm();
    assert_eq!(
        gw.wait_exit(std::time::Duration::from_secs(10)).code(),
        Some(0)
    );
    assert!(!gw.stderr().contains("panicked"), "{}", gw.stderr());
    let gw2 = gateway_in(gw.take_dir());
    let out = CliHome::new().call(&gw2.url(), "T", "device.pair.list", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let paired: Vec<String> = out.json()["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .filter_map(|d| d["deviceId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(paired, vec![id], "{out}");
}

/// `agents/` turns into a file while the gateway runs: the transcript cannot be written.
/// The run still answers, the failure is logged with the path, `chat.history` answers an
/// error naming it (no panic, no empty history passed off as the truth), and once the
/// directory can be created again transcripts are written and read back.
#[actix_web::test]
async fn transcript_that_cannot_be_written_is_an_error_not_a_panic() {
    let gw = gateway_in(tempfile::tempdir().expect("state dir"));
    let blocker = gw.dir.path().join("agents");
    std::fs::write(&blocker, "not a directory").expect("write blocker");
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write"]),
    )
    .await;
    let agent = |key: &str, msg: &str| json!({"message": msg, "sessionKey": "agent:main:main", "idempotencyKey": key});
    let res = op.request("agent", agent("it-sd-1", "hello")).await;
    assert_eq!(res["ok"], true, "{res}");
    let run_id = res["payload"]["runId"].as_str().expect("runId").to_owned();
    let waited = op
        .request("agent.wait", json!({"runId": run_id, "timeoutMs": 10000}))
        .await;
    assert_eq!(waited["ok"], true, "{waited}");
    let sessions_dir = gw.dir.path().join("agents/main/sessions");
    let hist = op
        .request("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert_eq!(hist["ok"], false, "{hist}");
    let msg = hist["error"]["message"].as_str().expect("message");
    assert!(
        msg.starts_with(&format!(
            "cannot read transcript: {}/",
            sessions_dir.display()
        )),
        "{hist}"
    );
    // The gateway logs this before the run ends, but its stderr reaches this test through
    // a pipe and a reader thread, which may still be behind the WebSocket answer: wait.
    let sessions_dir_text = sessions_dir.display().to_string();
    gw.wait_stderr_line(
        &["transcript not saved: ", &sessions_dir_text],
        std::time::Duration::from_secs(10),
    );
    let stderr = gw.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::remove_file(&blocker).expect("remove blocker");
    let res = op.request("agent", agent("it-sd-2", "hello")).await;
    assert_eq!(res["ok"], true, "{res}");
    let run_id = res["payload"]["runId"].as_str().expect("runId").to_owned();
    let waited = op
        .request("agent.wait", json!({"runId": run_id, "timeoutMs": 10000}))
        .await;
    assert_eq!(waited["ok"], true, "{waited}");
    let hist = op
        .request("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert_eq!(hist["ok"], true, "{hist}");
    let messages = hist["payload"]["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| m["role"] == "user"),
        "the second turn is in the transcript: {hist}"
    );
}

/// A crash mid-append left a torn last line in a transcript: the next turn is not glued to
/// it — every line of the file is JSON again and `chat.history` shows both turns.
#[actix_web::test]
async fn a_torn_transcript_line_is_repaired_by_the_next_turn() {
    let gw = gateway_in(tempfile::tempdir().expect("state dir"));
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write"]),
    )
    .await;
    let mut turn = async |key: &str, text: &str| {
        let res = op
            .request(
                "agent",
                json!({"message": text, "sessionKey": "agent:main:main", "idempotencyKey": key}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        let run_id = res["payload"]["runId"].as_str().expect("runId").to_owned();
        let waited = op
            .request("agent.wait", json!({"runId": run_id, "timeoutMs": 10000}))
            .await;
        assert_eq!(waited["ok"], true, "{waited}");
    };
    turn("it-torn-1", "/help first").await;
    let sessions = gw.dir.path().join("agents/main/sessions");
    let transcript = std::fs::read_dir(&sessions)
        .expect("sessions dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a transcript file");
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&transcript)
            .expect("open transcript");
        f.write_all(br#"{"role":"assistant","content":"cut off"#)
            .expect("write a torn line");
    }
    turn("it-torn-2", "/help second").await;
    let text = std::fs::read_to_string(&transcript).expect("read transcript");
    assert!(text.ends_with('\n'), "{text}");
    for line in text.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "every line is JSON: {line:?}\n{text}"
        );
    }
    assert!(!text.contains("cut off"), "{text}");
    let hist = op
        .request("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert_eq!(hist["ok"], true, "{hist}");
    let users = hist["payload"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .count();
    assert_eq!(users, 2, "both turns: {hist}");
}
