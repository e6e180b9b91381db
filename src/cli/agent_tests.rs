//! Unit tests of `cli::agent` (kept apart so the module stays readable).

use super::*;

#[test]
fn sessions_and_params() {
    assert_eq!(session_key(None, None).expect("none"), None);
    assert_eq!(
        session_key(Some(" agent:main:x "), None).expect("key"),
        Some("agent:main:x".into())
    );
    assert_eq!(
        session_key(None, Some("ops")).expect("agent"),
        Some("agent:ops:main".into())
    );
    assert!(session_key(Some(" "), None).is_err());
    assert!(session_key(None, Some("a:b")).is_err());
    let a = AgentArgs {
        message: "/help".into(),
        session: None,
        agent: None,
        timeout_seconds: Some(30),
        idempotency_key: None,
        conn: LongConnArgs::default(),
    };
    assert_eq!(
        agent_params(&a, Some("agent:main:main".into()), "r1"),
        json!({"message": "/help", "idempotencyKey": "r1", "sessionKey": "agent:main:main", "timeout": 30})
    );
    assert_eq!(
        agent_params(
            &AgentArgs {
                timeout_seconds: None,
                ..a
            },
            None,
            "r2"
        ),
        json!({"message": "/help", "idempotencyKey": "r2"})
    );
}

#[test]
fn long_timeout_default() {
    let c = LongConnArgs::default();
    assert_eq!(c.resolve(630_000).timeout, 630_000);
    let c = LongConnArgs {
        timeout: Some(5),
        json: true,
        ..Default::default()
    };
    let r = c.resolve(630_000);
    assert_eq!((r.timeout, r.json), (5, true));
}

#[test]
fn run_outcomes() {
    assert_eq!(run_failure(&json!({"status": "ok"}), 600), None);
    let t = run_failure(&json!({"status": "timeout", "runId": "r1"}), 30).expect("timeout");
    assert!(t.starts_with("agent run r1 did not finish within 30 s\nFix: raise --timeout-seconds"));
    assert!(t.contains(r#"{"runId":"r1"}"#));
    let e = run_failure(
        &json!({"status": "error", "runId": "r2", "summary": "failed", "error": "model 500"}),
        600,
    )
    .expect("error");
    assert!(e.starts_with("agent run r2 failed (error): model 500\nFix: "));
    let e = run_failure(&json!({"status": "error", "summary": "aborted"}), 600).expect("e");
    assert!(e.starts_with("agent run - failed (error): aborted"));
}

#[test]
fn reply_text_joins_payloads() {
    let r = json!({"status": "ok", "result": {"payloads": [{"text": "a"}, {"text": ""}, {"text": "b"}]}});
    assert_eq!(reply_text(&r), "a\nb");
    assert_eq!(reply_text(&json!({"status": "ok"})), "");
}

#[test]
fn send_params_and_line() {
    let a = SendArgs {
        channel: "Telegram".into(),
        target: " 42 ".into(),
        message: "hi".into(),
        media: None,
        account: Some("default".into()),
        thread_id: Some(7),
        reply_to: None,
        silent: false,
        dry_run: false,
        conn: ConnArgs::default(),
    };
    assert_eq!(
        send_params(&a, "k"),
        json!({"to": "42", "message": "hi", "channel": "telegram", "idempotencyKey": "k",
               "accountId": "default", "threadId": 7})
    );
    assert_eq!(
        sent_line(
            "telegram",
            "42",
            &json!({"messageIds": [1001], "messageId": 1001})
        ),
        "Sent to telegram:42 (message id 1001)"
    );
    assert_eq!(
        sent_line("telegram", "telegram:42", &json!({"messageIds": [1, 2]})),
        "Sent to telegram:42 (message ids 1, 2)"
    );
    assert_eq!(
        sent_line("telegram", "42", &json!({"messageId": null})),
        "Sent to telegram:42"
    );
}

#[test]
fn relative_times() {
    assert_eq!(ago(None, 10_000), "-");
    assert_eq!(ago(Some(9_500), 10_000), "just now");
    assert_eq!(ago(Some(5_000), 10_000), "5s ago");
    assert_eq!(ago(Some(20_000), 10_000), "just now");
    assert_eq!(expires_in(Some(3_600_000), 0), "1h 0m");
    assert_eq!(expires_in(Some(5), 10), "expired");
    assert_eq!(expires_in(None, 10), "-");
}

#[test]
fn channel_status_rows() {
    assert!(channel_rows(&json!({"channels": {}}), 0).is_empty());
    let st = json!({
        "channels": {"telegram": {"accounts": {
            "default": {"running": true, "mode": "polling", "botUsername": "clawbot", "lastPollAtMs": 7_000},
            "work": {"running": false, "lastError": "401 Unauthorized\nbad token", "lastErrorAtMs": 1_000},
        }}},
        "channelOrder": ["telegram"],
    });
    let rows = channel_rows(&st, 10_000);
    assert_eq!(
        rows[0],
        vec![
            "telegram", "default", "yes", "polling", "@clawbot", "3s ago", "-"
        ]
    );
    assert_eq!(
        rows[1],
        vec![
            "telegram",
            "work",
            "no",
            "-",
            "-",
            "-",
            "401 Unauthorized bad token (9s ago)"
        ]
    );
    let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
    assert_eq!(t, "A    BB\nxxx  y");
}

#[test]
fn pairing_filter_and_rows() {
    let list = json!({"requests": [
        {"channel": "telegram", "accountId": "default", "requestId": "ABC123", "code": "ABC123",
         "id": "77", "name": "Ann", "username": "ann", "expiresAtMs": 3_600_000},
        {"channel": "telegram", "accountId": "work", "requestId": "XYZ", "id": "78", "expiresAtMs": 1},
    ]});
    assert_eq!(pairing_requests(&list, None, None).len(), 2);
    assert_eq!(
        pairing_requests(&list, Some("TELEGRAM"), Some("work")).len(),
        1
    );
    assert!(pairing_requests(&list, Some("discord"), None).is_empty());
    let rows = pairing_rows(&pairing_requests(&list, None, None), 0);
    assert_eq!(
        rows[0],
        vec!["ABC123", "telegram", "default", "77", "Ann (@ann)", "1h 0m"]
    );
    assert_eq!(rows[1], vec!["XYZ", "telegram", "work", "78", "-", "1s"]);
}

#[test]
fn approve_args() {
    let mk = |args: &[&str], channel: Option<&str>| PairingApproveArgs {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        channel: channel.map(str::to_owned),
        account: None,
        conn: ConnArgs::default(),
    };
    assert_eq!(
        mk(&["Telegram", "abc"], None)
            .channel_and_code()
            .expect("ok"),
        ("telegram".into(), "abc".into())
    );
    assert_eq!(
        mk(&["abc"], Some("telegram"))
            .channel_and_code()
            .expect("ok"),
        ("telegram".into(), "abc".into())
    );
    assert!(mk(&["abc"], None).channel_and_code().is_err());
    assert!(
        mk(&["telegram", "abc"], Some("telegram"))
            .channel_and_code()
            .is_err()
    );
}
