//! A full disk under a running gateway (the state directory on a small loop-mounted ext4,
//! filled to the last block while the gateway runs): it keeps serving, says what is wrong,
//! confirms nothing to Telegram that it could not save, and once space is freed it answers
//! what came in meanwhile and records every line, with nothing lost or written twice. A
//! device that tries to pair meanwhile is told to retry (`UNAVAILABLE`, retryable). Needs
//! root and a loop device ([`PowerDisk`]); without them it says so and does nothing, except
//! under `CI=true`, where it fails.

use serde_json::{Value, json};

use crate::support::TestGateway;
use crate::support::disk::PowerDisk;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{
    GW_ARGS, SLOW, TG_TOKEN, all_answered, assert_healthy, config, dm, replies_to, wait_reply,
    wait_state_file, wait_status,
};

/// Now, in milliseconds since the epoch (the gateway's status clock).
fn openclaw_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every transcript line on the disk, file by file (a torn line fails the test).
fn transcript_lines(gw: &TestGateway) -> Vec<Value> {
    let (files, torn) = crate::soak::transcripts(gw.dir.path());
    assert_eq!(torn, 0, "a torn transcript line: {files:#?}");
    files.into_values().flatten().collect()
}

/// How many user lines say `text`, and whether an answer follows the first.
fn recorded(lines: &[Value], text: &str) -> (usize, bool) {
    let at: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["role"] == "user" && lines[i]["content"] == text)
        .collect();
    let answered = at
        .first()
        .is_some_and(|&i| lines.get(i + 1).is_some_and(|l| l["role"] == "assistant"));
    (at.len(), answered)
}

#[actix_web::test]
async fn a_full_disk_loses_nothing_and_the_gateway_recovers_once_space_is_freed() {
    let Some(disk) = PowerDisk::for_test(16 << 20, "the disk-full test") else {
        return;
    };
    let tg = FakeTelegram::start(TG_TOKEN);
    let dir = disk.state_dir();
    std::fs::write(
        dir.path().join("openclaw.json"),
        config(&tg, None, json!({})),
    )
    .expect("write gateway config");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    let before = dm(&tg, 6101, "written before the disk filled up");
    wait_reply(&tg, before, SLOW).await;
    all_answered(&gw, &tg).await;

    // The disk is full once a save fails. Blocks the gateway gives back meanwhile (ext4
    // returns what it had set aside for a file when the file is closed) can let the
    // message's own save through, and a saved message is rightly answered: such a try
    // shows a reply next to the error, so the disk is filled again and a new chat tries.
    let mut tries = 0;
    let (filler, during, msg, update) = loop {
        tries += 1;
        let filler = disk.fill();
        let during = format!("written while the disk is full ({tries})");
        // A new chat: a new session, so its transcript needs a new file (an append to an
        // existing one may still fit in its last block).
        let chat = 6101 + tries;
        let m = tg.message(chat, chat, &during);
        let msg = m.message_id;
        let pushed_at = openclaw_now_ms();
        let update = tg.push_message(m);
        let acc = wait_status(&gw, SLOW, "the save error in the status", |acc| {
            acc["lastError"]
                .as_str()
                .is_some_and(|e| e.starts_with("state not saved"))
                && acc["lastErrorAtMs"]
                    .as_u64()
                    .is_some_and(|t| t >= pushed_at)
        })
        .await;
        let err = acc["lastError"].as_str().unwrap_or_default();
        assert!(
            err.contains("No space left on device") && err.ends_with("Fix: free space on the disk that holds the state directory (df -h); saving resumes by itself"),
            "{acc}"
        );
        println!("disk full (try {tries}): status {acc}");
        if replies_to(&tg, msg).is_empty() {
            break (filler, during, msg, update);
        }
        println!("disk full (try {tries}): the message was saved before the disk was full; again");
        assert!(tries < 5, "the disk never stayed full: {:?}", tg.sent());
    };
    let during = during.as_str();
    // Still serving, and nothing it could not save was confirmed to Telegram.
    assert_healthy(&gw).await;
    assert!(
        tg.last_offset().unwrap_or(0) <= update,
        "update {update} was confirmed to Telegram (offset {:?}) though it could not be saved",
        tg.last_offset()
    );
    assert!(
        replies_to(&tg, msg).is_empty(),
        "a reply went out while its message could not be saved: {:?}",
        tg.sent()
    );

    // A device that pairs now is refused with a reason, not left half-paired.
    let mut attempts = Vec::new();
    let refused = crate::soak::pair_one(gw.port, &mut attempts).await;
    println!("disk full: pairing a device: {refused:?}");
    let why = refused.expect_err("pairing cannot succeed on a full disk");
    assert!(
        why.contains("\"UNAVAILABLE\"") && why.contains("\"retryable\":true"),
        "{why}"
    );

    std::fs::remove_file(&filler).expect("free the disk");
    let paired = crate::soak::pair_one(gw.port, &mut attempts).await;
    assert_eq!(paired, Ok(()), "pairing works again once space is freed");
    wait_reply(&tg, msg, SLOW).await;
    all_answered(&gw, &tg).await;
    let lines = transcript_lines(&gw);
    assert_eq!(
        recorded(&lines, during),
        (1, true),
        "the message that came in while the disk was full is recorded once, with its answer: {lines:#?}"
    );
    assert_eq!(
        recorded(&lines, "written before the disk filled up"),
        (1, true)
    );

    // A restart loads everything and runs nothing again, once the state is on disk: the
    // pending list is saved again after the disk error's retry delay, and a message still
    // pending there would rightly be answered again (its recorded answer re-sent).
    wait_state_file(&gw, "no pending message", |v| v["pending"] == json!([])).await;
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw);
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    all_answered(&gw, &tg).await;
    assert_eq!(replies_to(&tg, msg).len(), 1, "{:?}", tg.sent());
    assert_eq!(transcript_lines(&gw).len(), lines.len());
    drop(gw);
    drop(disk);
}
