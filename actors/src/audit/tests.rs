use super::ledger::{Ledger, ListFilter, MAX_ID_LEN, MAX_ROWS, RETENTION_MS, SEGMENT_ROWS};
use super::*;

fn ids(agent: &str, session: &str, run: &str) -> RunIds {
    RunIds {
        agent_id: agent.into(),
        session_key: session.into(),
        run_id: run.into(),
    }
}

/// A recorder whose records are taken straight into a ledger (no thread), for tests.
fn pending_of(f: impl FnOnce(&Recorder)) -> Vec<Pending> {
    let shared = Arc::new(Shared::default());
    let r = Recorder {
        inner: Arc::new(Inner {
            shared: shared.clone(),
            enabled: AtomicBool::new(true),
            messages: AtomicU8::new(2),
            dropped: AtomicU64::new(0),
            ledger: Arc::new(Mutex::new(Ledger::new(std::env::temp_dir()))),
            syncs: Arc::default(),
        }),
    };
    f(&r);
    drop(r);
    std::mem::take(&mut lock(&shared.queue).records)
}

fn all(limit: usize) -> ListFilter {
    ListFilter {
        include_messages: true,
        limit,
        ..ListFilter::default()
    }
}

fn seqs(page: &ListPage) -> Vec<u64> {
    page.events
        .iter()
        .filter_map(|e| e["sequence"].as_u64())
        .collect()
}

#[test]
fn hmac_matches_rfc_4231() {
    // Test case 2.
    assert_eq!(
        crate::identity::hex(&key::hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 6: a key longer than the block is hashed first.
    assert_eq!(
        crate::identity::hex(&key::hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn rows_are_paged_newest_first_and_numbered_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    let now = crate::util::now_ms();
    let mut l = Ledger::new(audit.clone());
    for p in pending_of(|r| {
        r.run_started(&ids("main", "agent:main:main", "r1"), now);
        r.tool(
            &ids("main", "agent:main:main", "r1"),
            "call-1",
            "exec",
            None,
            2,
            now,
        );
        r.tool(
            &ids("main", "agent:main:main", "r1"),
            "call-1",
            "exec",
            Some(ToolEnd::Blocked),
            3,
            now,
        );
        r.run_finished(
            &ids("main", "agent:main:main", "r1"),
            RunEnd::Succeeded,
            4,
            now,
        );
    }) {
        l.append(p);
    }
    l.sync();
    let page = l.list(&all(3), now).unwrap();
    assert_eq!(seqs(&page), vec![4, 3, 2]);
    assert_eq!(page.next_cursor, Some(2));
    let next = l
        .list(
            &ListFilter {
                cursor: page.next_cursor,
                ..all(3)
            },
            now,
        )
        .unwrap();
    assert_eq!(seqs(&next), vec![1]);
    assert_eq!(next.next_cursor, None);
    // The blocked tool action carries its closed code, its call id only as a digest.
    let blocked = &page.events[1];
    assert_eq!(blocked["eventType"], "tool_action");
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["errorCode"], "tool_blocked");
    assert_eq!(blocked["toolName"], "exec");
    assert_eq!(blocked["toolCallId"], tool_call_ref("call-1"));
    assert_eq!(blocked["redaction"], "metadata_only");
    assert_eq!(blocked["schemaVersion"], 1);
    assert_eq!(blocked["actor"], json!({"type": "agent", "id": "main"}));
    // Reopened (a restart): numbering goes on, in the same file.
    drop(l);
    let mut l = Ledger::new(audit.clone());
    assert_eq!(l.next_sequence(), 5);
    for p in pending_of(|r| r.run_started(&ids("main", "agent:main:main", "r2"), now)) {
        l.append(p);
    }
    l.sync();
    assert_eq!(seqs(&l.list(&all(10), now).unwrap()), vec![5, 4, 3, 2, 1]);
    let files: Vec<_> = std::fs::read_dir(&audit).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = files[0].metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn filters_select_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::util::now_ms();
    let mut l = Ledger::new(dir.path().join("audit"));
    for p in pending_of(|r| {
        r.run_started(&ids("main", "agent:main:main", "r1"), now - 10);
        r.run_finished(
            &ids("main", "agent:main:main", "r1"),
            RunEnd::Failed,
            2,
            now - 5,
        );
        r.run_started(&ids("work", "agent:work:x", "r2"), now);
        r.tool(
            &ids("work", "agent:work:x", "r2"),
            "c",
            "nodes",
            Some(ToolEnd::TimedOut),
            2,
            now,
        );
        r.inbound(
            MessageIds {
                channel: "telegram".into(),
                account: "default".into(),
                conversation: "42".into(),
                message: Some("7".into()),
                sender: Some("42".into()),
                target: None,
            },
            ConversationKind::Direct,
            InboundEnd::Completed,
            Some(&ids("main", "agent:main:main", "r1")),
            12,
            1,
            now,
        );
    }) {
        l.append(p);
    }
    let mut q = |f: ListFilter| seqs(&l.list(&f, now).unwrap());
    assert_eq!(
        q(ListFilter {
            agent_id: Some("work".into()),
            ..all(10)
        }),
        vec![4, 3]
    );
    assert_eq!(
        q(ListFilter {
            status: Some("failed".into()),
            ..all(10)
        }),
        vec![2]
    );
    assert_eq!(
        q(ListFilter {
            kind: Some("message".into()),
            ..all(10)
        }),
        vec![5]
    );
    // `audit.list` never sees message rows.
    assert_eq!(
        q(ListFilter {
            include_messages: false,
            ..all(10)
        }),
        vec![4, 3, 2, 1]
    );
    assert_eq!(
        q(ListFilter {
            after: Some(now - 5),
            before: Some(now - 5),
            ..all(10)
        }),
        vec![2]
    );
    assert_eq!(
        q(ListFilter {
            run_id: Some("r1".into()),
            ..all(10)
        }),
        vec![5, 2, 1]
    );
    assert_eq!(
        q(ListFilter {
            channel: Some("telegram".into()),
            direction: Some("inbound".into()),
            ..all(10)
        }),
        vec![5]
    );
    // The message row names no raw identity.
    let page = l
        .list(
            &ListFilter {
                kind: Some("message".into()),
                ..all(1)
            },
            now,
        )
        .unwrap();
    let m = &page.events[0];
    let text = m.to_string();
    // No value is the raw id, nor has it as a `:` segment (an HMAC's hex may well start
    // with "42": that is not the id).
    let mut values = Vec::new();
    let mut stack = vec![m];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => values.push(s.as_str()),
            Value::Object(o) => stack.extend(o.values()),
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    assert!(
        values.iter().all(|s| s.split(':').all(|seg| seg != "42")),
        "{text}"
    );
    let hmac = |v: &Value| {
        let s = v.as_str().unwrap_or_default();
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() == 4
            && parts[0] == "hmac-sha256"
            && parts[1] == "v1"
            && parts[2].len() == 32
            && parts[3].len() == 64
    };
    for f in ["accountRef", "conversationRef", "messageRef"] {
        assert!(hmac(&m[f]), "{f}: {m}");
    }
    assert_eq!(m["actor"]["type"], "channel_sender");
    assert!(hmac(&m["actor"]["id"]), "{m}");
    assert_eq!(m["conversationKind"], "direct");
    assert_eq!(m["outcome"], "completed");
    assert!(m.get("sessionKey").is_none());
    // The key is kept, private, and gives the same pseudonyms after a restart.
    use std::os::unix::fs::PermissionsExt as _;
    let key_file = dir.path().join("audit").join(key::KEY_FILE);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let k1 = key::IdentityKey::load_or_create(&dir.path().join("audit")).unwrap();
    assert_eq!(
        k1.pseudonym("conversation", "telegram", Some("default"), None, "42"),
        m["conversationRef"].as_str().unwrap()
    );
}

#[test]
fn a_corrupt_key_stops_message_records_and_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::write(audit.join(key::KEY_FILE), b"{\"keyId\": \"nope\"}").unwrap();
    let now = crate::util::now_ms();
    let mut l = Ledger::new(audit.clone());
    for p in pending_of(|r| {
        r.outbound(
            MessageIds {
                channel: "telegram".into(),
                account: "default".into(),
                conversation: "1".into(),
                ..MessageIds::default()
            },
            ConversationKind::Group,
            OutboundEnd::Sent,
            None,
            false,
            1,
            1,
            now,
        );
        r.run_started(&ids("main", "s", "r"), now);
    }) {
        l.append(p);
    }
    let page = l.list(&all(10), now).unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0]["kind"], "agent_run");
    assert_eq!(
        std::fs::read(audit.join(key::KEY_FILE)).unwrap(),
        b"{\"keyId\": \"nope\"}"
    );
}

#[test]
fn a_torn_line_is_cut_and_garbage_is_skipped() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    let now = crate::util::now_ms();
    let mut l = Ledger::new(audit.clone());
    for p in pending_of(|r| {
        r.run_started(&ids("main", "s", "r1"), now);
        r.run_started(&ids("main", "s", "r2"), now);
    }) {
        l.append(p);
    }
    l.sync();
    drop(l);
    let file = std::fs::read_dir(&audit)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("events-"))
        .unwrap()
        .path();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(b"not json at all\n{\"sequence\": 3, \"occurredAt\"")
        .unwrap();
    drop(f);
    let mut l = Ledger::new(audit.clone());
    // The garbage line counts as a row (numbering never goes back), the torn one is cut.
    assert_eq!(l.next_sequence(), 4);
    assert!(std::fs::read(&file).unwrap().ends_with(b"\n"));
    for p in pending_of(|r| r.run_started(&ids("main", "s", "r3"), now)) {
        l.append(p);
    }
    assert_eq!(seqs(&l.list(&all(10), now).unwrap()), vec![4, 2, 1]);
}

#[test]
fn old_rows_are_not_returned_and_hostile_ids_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::util::now_ms();
    let mut l = Ledger::new(dir.path().join("audit"));
    let huge = "é".repeat(MAX_ID_LEN);
    let odd = "agent:main:telegram:direct:\u{202e}\u{0}\u{1F980}\n\"}";
    for p in pending_of(|r| {
        r.run_started(&ids("main", "s", "old"), now - RETENTION_MS - 1);
        r.run_started(&ids("main", odd, &huge), now);
        r.tool(
            &ids("main", odd, &huge),
            "x",
            "rm -rf /; echo \u{1F980}",
            None,
            2,
            now,
        );
    }) {
        l.append(p);
    }
    let page = l.list(&all(10), now).unwrap();
    assert_eq!(seqs(&page), vec![3, 2]);
    assert_eq!(page.events[0]["toolName"], "unknown");
    assert_eq!(page.events[1]["sessionKey"], odd);
    let run = page.events[1]["runId"].as_str().unwrap();
    assert!(run.starts_with("sha256:") && run.len() == 71, "{run}");
    // Asked for by its full value, the bounded id is found.
    let by_run = l
        .list(
            &ListFilter {
                run_id: Some(huge.clone()),
                ..all(10)
            },
            now,
        )
        .unwrap();
    assert_eq!(seqs(&by_run), vec![3, 2]);
    let by_session = l
        .list(
            &ListFilter {
                session_key: Some(odd.into()),
                ..all(10)
            },
            now,
        )
        .unwrap();
    assert_eq!(seqs(&by_session), vec![3, 2]);
}

#[test]
fn at_most_max_rows_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    let now = crate::util::now_ms();
    let mut l = Ledger::new(audit.clone());
    let total = MAX_ROWS + SEGMENT_ROWS + 5;
    let template = pending_of(|r| r.run_started(&ids("main", "s", "r"), now));
    let event = template[0].event.clone();
    for _ in 0..total {
        l.append(Pending {
            event: event.clone(),
            refs: None,
        });
    }
    l.sync();
    // Only the newest MAX_ROWS are returned: the page below the second-oldest kept row
    // holds just the oldest kept one.
    let newest = l.list(&all(1), now).unwrap();
    assert_eq!(seqs(&newest), vec![total]);
    let oldest_kept = total - MAX_ROWS + 1;
    let below = l
        .list(
            &ListFilter {
                cursor: Some(oldest_kept + 1),
                ..all(500)
            },
            now,
        )
        .unwrap();
    assert_eq!(seqs(&below), vec![oldest_kept]);
    assert_eq!(below.next_cursor, None);
    // …and the files beyond them are gone.
    let files = std::fs::read_dir(&audit).unwrap().flatten().count() as u64;
    assert!(files <= MAX_ROWS / SEGMENT_ROWS + 2, "{files} files");
}

#[test]
fn tool_outcomes_are_classified_from_results() {
    assert_eq!(ToolEnd::of_result(&json!({"ok": true})), ToolEnd::Succeeded);
    assert_eq!(
        ToolEnd::of_result(&json!({"ok": false, "denied": true, "error": "exec denied"})),
        ToolEnd::Blocked
    );
    assert_eq!(
        ToolEnd::of_result(&json!({"ok": false, "timedOut": true})),
        ToolEnd::TimedOut
    );
    assert_eq!(
        ToolEnd::of_result(&json!({"ok": false, "error": {"message": "x", "code": "TIMEOUT"}})),
        ToolEnd::TimedOut
    );
    assert_eq!(ToolEnd::of_result(&json!({"ok": false})), ToolEnd::Failed);
    assert_eq!(ToolEnd::of_result(&json!("garbage")), ToolEnd::Failed);
    assert_eq!(tool_name("system.run"), "system.run");
    assert_eq!(tool_name(" exec "), "exec");
    assert_eq!(tool_name(&"a".repeat(65)), "unknown");
    assert_eq!(tool_name("ex ec"), "unknown");
    assert_eq!(tool_name(""), "unknown");
}

#[test]
fn the_recorder_writes_through_its_thread_and_obeys_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::util::now_ms();
    let r = Recorder::start(
        dir.path(),
        AuditSettings {
            enabled: false,
            messages: MessageMode::Off,
        },
    );
    r.run_started(&ids("main", "s", "off"), now);
    assert!(r.flush(std::time::Duration::from_secs(5)));
    assert!(
        !dir.path().join("audit").exists(),
        "nothing written while off"
    );
    r.configure(AuditSettings {
        enabled: true,
        messages: MessageMode::Direct,
    });
    r.run_started(&ids("main", "s", "on"), now);
    let group = MessageIds {
        channel: "telegram".into(),
        account: "default".into(),
        conversation: "-100".into(),
        ..MessageIds::default()
    };
    r.inbound(
        group.clone(),
        ConversationKind::Group,
        InboundEnd::Completed,
        None,
        1,
        1,
        now,
    );
    r.inbound(
        group,
        ConversationKind::Direct,
        InboundEnd::Failed,
        None,
        1,
        0,
        now,
    );
    assert!(r.flush(std::time::Duration::from_secs(5)));
    let page = r.list(&all(10), now).unwrap();
    let kinds: Vec<_> = page
        .events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, vec![("message", "failed"), ("agent_run", "started")]);
    assert_eq!(page.events[0]["errorCode"], "message_processing_failed");
    assert_eq!(
        page.events[0]["actor"],
        json!({"type": "system", "id": "gateway"})
    );
}

#[test]
fn a_deleted_key_is_not_replaced_while_its_message_rows_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    let now = crate::util::now_ms();
    let message = || {
        pending_of(|r| {
            r.inbound(
                MessageIds {
                    channel: "telegram".into(),
                    account: "default".into(),
                    conversation: "1".into(),
                    ..MessageIds::default()
                },
                ConversationKind::Direct,
                InboundEnd::Completed,
                None,
                1,
                1,
                now,
            );
        })
    };
    let mut l = Ledger::new(audit.clone());
    for p in message() {
        l.append(p);
    }
    drop(l);
    std::fs::remove_file(audit.join(key::KEY_FILE)).unwrap();
    let mut l = Ledger::new(audit.clone());
    for p in message() {
        l.append(p);
    }
    for p in pending_of(|r| r.run_started(&ids("main", "s", "r"), now)) {
        l.append(p);
    }
    // The run is recorded, the message is not, and no new key was made.
    let kinds: Vec<_> = l
        .list(&all(10), now)
        .unwrap()
        .events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, vec!["agent_run", "message"]);
    assert!(!audit.join(key::KEY_FILE).exists());
    // A ledger without message rows makes its key when the first one comes.
    let fresh = tempfile::tempdir().unwrap();
    let mut l = Ledger::new(fresh.path().join("audit"));
    for p in pending_of(|r| r.run_started(&ids("main", "s", "r"), now)) {
        l.append(p);
    }
    for p in message() {
        l.append(p);
    }
    assert!(fresh.path().join("audit").join(key::KEY_FILE).exists());
    assert_eq!(l.list(&all(10), now).unwrap().events.len(), 2);
}

/// Rows are written at once (a query finds them) and synced by the ledger's thread within
/// `SYNC_DELAY` without a flush: one sync for a burst, not one per record; the last rows
/// are synced when the last recorder goes.
#[test]
fn rows_are_written_together_and_synced_soon_after_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::util::now_ms();
    let r = Recorder::start(dir.path(), AuditSettings::default());
    let syncs = r.inner.syncs.clone();
    // Waits (bounded) until the thread has synced more than `seen` times.
    let synced_past = |seen: u64| {
        let mut n = syncs.count.lock().unwrap();
        while *n <= seen {
            let (next, timeout) = syncs
                .grew
                .wait_timeout(n, std::time::Duration::from_secs(10))
                .unwrap();
            assert!(!timeout.timed_out(), "no sync within 10 s");
            n = next;
        }
        *n
    };
    // A query right after a record sees it (it writes what waits itself).
    r.run_started(&ids("main", "s", "seen"), now);
    assert_eq!(r.list(&all(100), now).unwrap().events.len(), 1);
    for i in 1..50 {
        r.run_started(&ids("main", "s", &format!("burst-{i}")), now);
    }
    // No flush is asked for: the thread syncs on its own once the delay is up.
    let after_burst = synced_past(0);
    assert!(
        after_burst <= 2,
        "a burst is synced once (twice if it straddles the delay), not per record: {after_burst}"
    );
    assert!(!r.inner.ledger.lock().unwrap().is_dirty());
    assert_eq!(r.list(&all(100), now).unwrap().events.len(), 50);
    let on_disk = |dir: &Path| -> usize {
        std::fs::read_dir(dir.join("audit"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count())
            .sum()
    };
    assert_eq!(on_disk(dir.path()), 50);
    // A flush syncs at once.
    r.run_started(&ids("main", "s", "flushed"), now);
    assert!(r.flush(std::time::Duration::from_secs(5)));
    assert!(!r.inner.ledger.lock().unwrap().is_dirty());
    let flushed = *syncs.count.lock().unwrap();
    assert_eq!(flushed, after_burst + 1);
    // The last recorder gone, the thread syncs what it wrote before it ends.
    r.run_started(&ids("main", "s", "last"), now);
    let ledger = r.inner.ledger.clone();
    drop(r);
    synced_past(flushed);
    assert!(!ledger.lock().unwrap().is_dirty());
    assert_eq!(on_disk(dir.path()), 52);
    assert!(super::SYNC_DELAY <= std::time::Duration::from_secs(1));
}

#[test]
fn a_telegram_chat_id_tells_a_private_chat_from_a_group() {
    use ConversationKind as K;
    for (id, kind) in [
        (1, K::Direct),
        (7001, K::Direct),
        (i64::MAX, K::Direct),
        (-1, K::Group),
        (-5005, K::Group),
        (-999_999_999_999, K::Group),
        // A supergroup or a channel: `-100…`, which of the two the id does not say.
        (-1_000_000_000_000, K::Unknown),
        (-1_001_234_567_890, K::Unknown),
        (i64::MIN, K::Unknown),
        (0, K::Unknown),
    ] {
        assert_eq!(ConversationKind::of_telegram_chat_id(id), kind, "{id}");
    }
}
