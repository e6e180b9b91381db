//! Voice messages, against the real gateway binary: the fake Bot API serves a voice note
//! (`getFile`, then the download), the gateway has it transcribed (the fake provider's
//! OpenAI-compatible `/v1/audio/transcriptions` parses the real multipart upload; a real
//! shell script stands for a local whisper CLI), and the fake model reads OpenClaw's
//! `[Audio]` block. Checked: the audio's bytes and the request fields, the echo before the
//! answer, any Unicode in a transcript kept and `maxChars` applied, the fallback from a
//! failing provider to the CLI, a CLI killed at its timeout with what it started, audio
//! that is too short or no audio at all, transcription off (nothing fetched) and turned
//! on by a config edit, and `scope`.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::TestGateway;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{
    GW_TOKEN, SLOW, TG_TOKEN, all_answered, config, poll_until, replies_to, start_gateway,
};

/// An OGG-signed voice note of `len` bytes.
fn ogg(len: usize) -> Vec<u8> {
    let mut d = b"OggS\0\x02".to_vec();
    d.extend((0..len.saturating_sub(6)).map(|i| (i * 13 % 251) as u8));
    d
}

/// The gateway config with `tools.media` set to `media` (no key: not configured).
fn voice_config(tg: &FakeTelegram, ai: &FakeOpenAi, media: Option<Value>) -> Value {
    let mut cfg: Value =
        serde_json::from_str(&config(tg, Some(ai), json!({}))).expect("config is JSON");
    if let Some(m) = media {
        cfg["tools"] = json!({"media": m});
    }
    cfg
}

/// Pushes a DM from `user` with a voice note (`file_id`, `size`) and `caption`.
fn push_voice(
    tg: &FakeTelegram,
    user: i64,
    file_id: &str,
    size: usize,
    caption: Option<&str>,
) -> i64 {
    let msg = tg.message(user, user, "");
    let mut v = serde_json::to_value(&msg).expect("message serializes");
    v.as_object_mut().expect("object").remove("text");
    if let Some(c) = caption {
        v["caption"] = json!(c);
    }
    v["voice"] = json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
        "duration": 3, "mime_type": "audio/ogg", "file_size": size});
    tg.push_raw(json!({"message": v}));
    msg.message_id
}

/// The last user message's text of a model request.
fn user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_else(|| panic!("no text user message: {request}"))
        .to_owned()
}

fn transcriptions_metric(gw: &TestGateway, outcome: &str) -> f64 {
    let (_, m) = crate::metrics::scrape_as(gw.port, GW_TOKEN);
    crate::metrics::get(
        &m,
        &format!("openclaw_transcriptions_total{{outcome=\"{outcome}\"}}"),
    )
}

#[actix_web::test]
async fn a_voice_note_is_transcribed_echoed_and_answered() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = voice_config(
        &tg,
        &ai,
        Some(json!({
            "models": [{"provider": "fake", "model": "whisper-1", "capabilities": ["audio"]}],
            "audio": {"language": "de", "echoTranscript": true, "maxChars": 500,
                "headers": {"X-Trace": "voice-test"}},
        })),
    );
    let gw = start_gateway(&cfg.to_string());
    let spoken = "Wie spät ist es? 🕰️ \u{202e}abc\u{0} «ok»";
    let audio = ogg(4000);
    tg.add_file("voice-1", audio.clone());
    ai.push_transcript(spoken);
    ai.push_text("Es ist 12 Uhr.");
    let mid = push_voice(&tg, 5301, "voice-1", audio.len(), None);
    let replies = poll_until(SLOW, "the echo and the answer", || {
        let r = replies_to(&tg, mid);
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_eq!(
        replies[0].text(),
        format!("📝 \"{spoken}\""),
        "the echo first"
    );
    assert_eq!(replies[1].text(), "Es ist 12 Uhr.");

    // The upload: the bytes as received, the model, the language, the key and headers.
    let t = ai.transcriptions();
    assert_eq!(t.len(), 1);
    let file = t[0].file.as_ref().expect("a file part");
    assert!(file.data == audio, "the audio arrives unchanged");
    assert_eq!(
        (
            file.field.as_str(),
            file.content_type.as_str(),
            file.file_name.as_str()
        ),
        ("file", "audio/ogg", "audio.ogg")
    );
    assert_eq!(t[0].fields["model"], "whisper-1");
    assert_eq!(t[0].fields["language"], "de");
    assert_eq!(t[0].authorization.as_deref(), Some("Bearer sk-flow"));
    assert!(
        t[0].headers
            .iter()
            .any(|(k, v)| k == "x-trace" && v == "voice-test"),
        "{:?}",
        t[0].headers
    );

    // The model reads the transcript as OpenClaw's block; the transcript records it.
    let block = format!("[Audio]\nTranscript:\n{spoken}");
    let reqs = ai.wait_requests_async(1, SLOW).await;
    assert_eq!(user_text(&reqs[0]), block);
    all_answered(&gw, &tg).await;
    let line = crate::media::transcript_lines(&gw)
        .into_iter()
        .find(|l| l["role"] == "user")
        .expect("the user's line");
    assert_eq!(line["content"], block.as_str());
    assert_eq!(line["media"][0]["kind"], "audio");
    let path = line["media"][0]["path"].as_str().expect("media path");
    assert!(
        path.starts_with("media/inbound/") && path.ends_with(".ogg"),
        "{path}"
    );
    let kept = gw.dir.path().join(path);
    assert!(std::fs::read(&kept).expect("kept") == audio);
    let mode = std::fs::metadata(&kept).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // A long transcript is cut to maxChars (characters, not bytes).
    tg.add_file("voice-2", ogg(3000));
    ai.push_transcript(&"é".repeat(2000));
    ai.push_text("Lang.");
    let second = push_voice(&tg, 5301, "voice-2", 3000, Some("lies das"));
    let reqs = ai.wait_requests_async(2, SLOW).await;
    let text = user_text(&reqs[1]);
    assert_eq!(
        text,
        format!(
            "[Audio]\nUser text:\nlies das\nTranscript:\n{}",
            "é".repeat(500)
        )
    );
    poll_until(SLOW, "the second answer", || {
        (replies_to(&tg, second).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(transcriptions_metric(&gw, "ok"), 2.0);
    let status = crate::telegram_flow::dm(&tg, 5301, "/status");
    let reply = crate::telegram_flow::wait_reply(&tg, status, SLOW).await;
    assert!(
        reply.text().contains("Voice messages: fake/whisper-1"),
        "{}",
        reply.text()
    );
    // No speech provider here: `/tts` says so.
    let tts = crate::telegram_flow::dm(&tg, 5301, "/tts on");
    let reply = crate::telegram_flow::wait_reply(&tg, tts, SLOW).await;
    assert!(reply.text().contains("not set up"), "{}", reply.text());
}

/// A script standing for a local whisper CLI: it checks it got the OGG file, writes
/// `heard <n> bytes` into `{{OutputDir}}` (stdout stays empty, as `whisper --output_dir`
/// does); for a file over 6000 bytes it starts a background sleeper and hangs (its pid in
/// `sleeper.pid` beside the script); for one of 5000 bytes it prints its transcript, then
/// exits leaving a sleeper that holds its stdout open (pid in `left.pid`).
fn whisper_script(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("stt.sh");
    let pid = dir.join("sleeper.pid");
    let left = dir.join("left.pid");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             case \"$(head -c 4 \"$1\")\" in OggS) ;; *) echo 'not ogg' >&2; exit 3;; esac\n\
             n=$(wc -c < \"$1\" | tr -d ' ')\n\
             if [ \"$n\" -gt 6000 ]; then sleep 60 & echo $! > '{}'; wait; fi\n\
             if [ \"$n\" -eq 5000 ]; then printf 'printed, then left'; sleep 60 & echo $! > '{}'; exit 0; fi\n\
             printf 'heard %s bytes' \"$n\" > \"$2/$(basename \"$1\" .ogg).txt\"\n",
            pid.display(),
            left.display()
        ),
    )
    .expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[actix_web::test]
async fn transcription_falls_back_to_a_local_cli_and_what_fails_becomes_a_note() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let tools = tempfile::tempdir().expect("tempdir");
    let script = whisper_script(tools.path());
    let cfg = voice_config(
        &tg,
        &ai,
        Some(json!({
            "models": [
                {"provider": "fake", "model": "whisper-1", "capabilities": ["audio"]},
                {"type": "cli", "command": script.display().to_string(),
                    "args": ["{{AttachmentPath}}", "{{OutputDir}}"],
                    "capabilities": ["audio"], "timeoutSeconds": 2},
            ],
        })),
    );
    let gw = start_gateway(&cfg.to_string());
    ai.set_default_text("Noted.");
    let overloaded = json!({"error": {"message": "upstream overloaded"}});
    for _ in 0..3 {
        ai.push_transcription_status(500, overloaded.clone());
    }
    tg.add_file("ok", ogg(4000));
    tg.add_file("hangs", ogg(8000));
    tg.add_file("short", ogg(500));
    tg.add_file("left", ogg(5000));
    tg.add_file(
        "html",
        b"<html><body>not audio at all</body></html>".to_vec(),
    );
    let ids = [
        push_voice(&tg, 5302, "ok", 4000, Some("please")),
        push_voice(&tg, 5302, "hangs", 8000, None),
        push_voice(&tg, 5302, "short", 500, None),
        push_voice(&tg, 5302, "html", 44, None),
        push_voice(&tg, 5302, "left", 5000, None),
    ];
    let reqs = ai.wait_requests_async(5, SLOW).await;
    let texts: Vec<String> = reqs.iter().map(user_text).collect();
    assert_eq!(
        texts[0], "[Audio]\nUser text:\nplease\nTranscript:\nheard 4000 bytes",
        "the provider failed, the CLI answered through its output file"
    );
    assert!(
        texts[1].contains("a voice message that could not be transcribed (fake/whisper-1: HTTP 500: upstream overloaded; cli:stt.sh: no transcript within 2s (killed))"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("too short to hold any speech"),
        "{}",
        texts[2]
    );
    assert!(
        texts[3].contains("a voice message that could not be fetched: it is not an audio file"),
        "{}",
        texts[3]
    );
    // A program that exits leaving a child on its stdout: its transcript counts at once
    // (not at the 2 s timeout), and the child goes with it.
    assert_eq!(texts[4], "[Audio]\nTranscript:\nprinted, then left");
    // Three uploads (the short one and the HTML never reach a transcriber).
    assert_eq!(ai.transcriptions().len(), 3);
    // The sleepers the CLI started were killed with it.
    for name in ["sleeper.pid", "left.pid"] {
        let pid: i32 = std::fs::read_to_string(tools.path().join(name))
            .expect("the sleeper's pid")
            .trim()
            .parse()
            .expect("a pid");
        poll_until(Duration::from_secs(10), "the sleeper gone", || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its reaper.
            (stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z")).then_some(())
        })
        .await;
    }
    all_answered(&gw, &tg).await;
    for id in ids {
        assert_eq!(replies_to(&tg, id).len(), 1, "message {id} answered once");
    }
    assert_eq!(
        (
            transcriptions_metric(&gw, "ok"),
            transcriptions_metric(&gw, "failed"),
            transcriptions_metric(&gw, "skipped")
        ),
        (2.0, 1.0, 1.0)
    );
    // No scratch directory is left behind (they live in the state dir: a read-only
    // container has no writable /tmp).
    let work = gw.dir.path().join("media/work");
    let left: Vec<_> = std::fs::read_dir(&work)
        .expect("the work directory was made")
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // One left by a killed process goes at the next start.
    std::fs::create_dir_all(work.join("stt-leftover")).expect("mkdir");
    std::fs::write(work.join("stt-leftover/out.txt"), "old").expect("write");
    let gw = crate::telegram_flow::restart(gw);
    assert!(
        !gw.dir.path().join("media/work").exists(),
        "the leftover scratch directory is removed at start"
    );
}

#[actix_web::test]
async fn without_transcription_nothing_is_fetched_and_a_config_edit_turns_it_on_with_its_scope() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&voice_config(&tg, &ai, None).to_string());
    ai.set_default_text("Noted.");
    tg.add_file("v1", ogg(4000));
    let first = push_voice(&tg, 5303, "v1", 4000, None);
    let reqs = ai.wait_requests_async(1, SLOW).await;
    assert!(
        user_text(&reqs[0]).contains(
            "cannot transcribe it (no transcription model is configured: tools.media.audio)"
        ),
        "{}",
        user_text(&reqs[0])
    );
    poll_until(SLOW, "the answer", || {
        replies_to(&tg, first).into_iter().next()
    })
    .await;
    assert_eq!(
        tg.calls("getFile"),
        0,
        "audio is not fetched while transcription is off"
    );

    // On by a config edit (hot), except for one DM peer (scope, first match wins).
    let edited = voice_config(
        &tg,
        &ai,
        Some(json!({
            "models": [{"provider": "fake", "model": "whisper-1", "capabilities": ["audio"]}],
            "audio": {"scope": {"default": "allow", "rules": [
                {"action": "deny", "match": {"channel": "telegram", "keyPrefix": "agent:main:telegram:direct:5304"}}
            ]}},
        })),
    );
    crate::support::replace_file(&gw.config_path(), &edited.to_string());
    gw.wait_stderr_line(
        &["config reloaded from", "tools.media"],
        Duration::from_secs(10),
    );
    ai.push_transcript("now I am heard");
    tg.add_file("v2", ogg(4000));
    tg.add_file("v3", ogg(4000));
    let heard = push_voice(&tg, 5303, "v2", 4000, None);
    let reqs = ai.wait_requests_async(2, SLOW).await;
    assert_eq!(user_text(&reqs[1]), "[Audio]\nTranscript:\nnow I am heard");
    let denied = push_voice(&tg, 5304, "v3", 4000, None);
    let reqs = ai.wait_requests_async(3, SLOW).await;
    assert!(
        user_text(&reqs[2]).contains("transcription is turned off for this chat"),
        "{}",
        user_text(&reqs[2])
    );
    // A round video message is heard through its sound track.
    let mut round = b"\0\0\0\x1cftypisom\0\0\x02\0isomiso2mp41".to_vec();
    round.resize(6000, 7);
    tg.add_file("round", round.clone());
    ai.push_transcript("look at this");
    let msg = tg.message(5303, 5303, "");
    let mut v = serde_json::to_value(&msg).expect("message serializes");
    v.as_object_mut().expect("object").remove("text");
    v["video_note"] = json!({"file_id": "round", "file_unique_id": "r", "length": 240,
        "duration": 4, "file_size": round.len()});
    tg.push_raw(json!({"message": v}));
    let reqs = ai.wait_requests_async(4, SLOW).await;
    assert_eq!(user_text(&reqs[3]), "[Audio]\nTranscript:\nlook at this");
    let t = ai.transcriptions();
    let file = t[1].file.as_ref().expect("the round video's upload");
    assert!(file.data == round);
    assert_eq!(file.content_type, "audio/mp4");
    all_answered(&gw, &tg).await;
    for id in [heard, denied, msg.message_id] {
        assert_eq!(replies_to(&tg, id).len(), 1);
    }
    assert_eq!(
        ai.transcriptions().len(),
        2,
        "the denied chat's audio is not uploaded"
    );
}

/// A config whose transcription entry cannot work is refused at start with the key and
/// the fix, and the gateway does not start.
#[test]
fn an_unusable_transcription_entry_stops_the_start_with_the_fix() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = voice_config(
        &tg,
        &ai,
        Some(json!({"models": [{"provider": "deepgram", "model": "nova-3"}]})),
    );
    let home = crate::support::CliHome::with_config(&cfg.to_string());
    let out = home.run(&["gateway", "run", "--port", "0", "--token", GW_TOKEN], &[]);
    assert_eq!(out.code, Some(78), "EX_CONFIG: {out}");
    assert!(!out.stdout.contains("listening on"), "{out}");
    assert!(
        out.stderr.contains("tools.media.models[0]")
            && out.stderr.contains("deepgram")
            && out.stderr.contains("Fix:"),
        "{out}"
    );
}

/// An operator's `chat.send` with an audio attachment (a voice note from WebChat or an
/// app) is transcribed like a chat's; audio that is no audio is refused by name.
#[actix_web::test]
async fn an_operator_voice_attachment_is_transcribed() {
    use base64::Engine as _;
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = voice_config(
        &tg,
        &ai,
        Some(json!({
            "models": [{"provider": "fake", "model": "whisper-1", "capabilities": ["audio"]}],
        })),
    );
    let gw = start_gateway(&cfg.to_string());
    let mut op = crate::telegram_flow::admin(&gw).await;
    ai.push_transcript("remind me to water the plants");
    ai.push_text("Will do.");
    let audio = ogg(5000);
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "from the app", "idempotencyKey": "voice-1",
                "attachments": [{"type": "audio", "mimeType": "audio/ogg", "fileName": "note.ogg",
                    "content": b64(&audio)}]}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let reqs = ai.wait_requests_async(1, SLOW).await;
    assert_eq!(
        user_text(&reqs[0]),
        "[Audio]\nUser text:\nfrom the app\nTranscript:\nremind me to water the plants"
    );
    let t = ai.transcriptions();
    assert!(t[0].file.as_ref().is_some_and(|f| f.data == audio));
    let bad = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "", "idempotencyKey": "voice-2",
                "attachments": [{"type": "audio", "mimeType": "audio/ogg", "fileName": "x.ogg",
                    "content": b64(b"#!/bin/sh\nrm -rf /\n")}]}),
        )
        .await;
    assert_eq!(bad["ok"], false, "{bad}");
    let msg = bad["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("attachments[0] (\"x.ogg\")") && msg.contains("audio"),
        "{bad}"
    );

    // `send` with `asVoice`: the file goes to the chat as a voice note.
    let sent = op
        .request(
            "send",
            json!({"to": "5306", "idempotencyKey": "voice-send", "message": "listen",
                "buffer": b64(&audio), "filename": "hello.ogg", "asVoice": true}),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    let voice = poll_until(SLOW, "the voice note", || {
        tg.sent().into_iter().find(|m| m.method == "sendVoice")
    })
    .await;
    assert_eq!(voice.caption(), Some("listen"));
    assert!(voice.file.as_ref().is_some_and(|f| f.data == audio));
}

/// `tts.auto: "inbound"`: the answer to a voice message also goes out as a voice note (the
/// text as its caption, or first when longer than a caption); other answers stay text; a
/// failing speech provider leaves the text answer.
#[actix_web::test]
async fn answers_to_voice_messages_are_spoken() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg = voice_config(
        &tg,
        &ai,
        Some(json!({
            "models": [{"provider": "fake", "model": "whisper-1", "capabilities": ["audio"]}],
        })),
    );
    cfg["tts"] = json!({"auto": "inbound", "provider": "fake",
        "providers": {"fake": {"model": "tts-1", "voice": "alloy"}}});
    let gw = start_gateway(&cfg.to_string());
    for id in ["v1", "v2", "v3"] {
        tg.add_file(id, ogg(3000));
    }

    // 1. A voice note: the answer is a voice note with the text as caption.
    let answer = "It is sunny and warm today, enjoy it.";
    ai.push_text(answer);
    let first = push_voice(&tg, 5305, "v1", 3000, None);
    let r = crate::telegram_flow::wait_reply(&tg, first, SLOW).await;
    assert_eq!(r.method, "sendVoice", "{r:?}");
    assert_eq!(r.caption(), Some(answer));
    let file = r.file.as_ref().expect("the voice note");
    assert_eq!(
        (file.field.as_str(), &file.data[..]),
        ("voice", FakeOpenAi::SPEECH)
    );
    let spoken = ai.speech_requests();
    assert_eq!(spoken.len(), 1);
    assert_eq!(
        spoken[0].body,
        json!({"model": "tts-1", "voice": "alloy", "response_format": "opus", "input": answer})
    );
    assert_eq!(spoken[0].authorization.as_deref(), Some("Bearer sk-flow"));

    // 2. A text message: text only.
    ai.push_text("Plain text answer here.");
    let text = crate::telegram_flow::dm(&tg, 5305, "and without voice?");
    let r = crate::telegram_flow::wait_reply(&tg, text, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.text()),
        ("sendMessage", "Plain text answer here.")
    );
    assert_eq!(ai.speech_requests().len(), 1);

    // 3. A long answer: the text first, then the voice note of its first 1500 characters.
    let long = "This is one sentence of a long answer. ".repeat(45);
    ai.push_text(&long);
    let third = push_voice(&tg, 5305, "v2", 3000, None);
    let text_first = crate::telegram_flow::wait_reply(&tg, third, SLOW).await;
    assert_eq!(text_first.method, "sendMessage");
    assert_eq!(text_first.text(), long.trim_end());
    // The voice note follows it (only the first message of an answer replies).
    let voices = poll_until(SLOW, "the second voice note", || {
        let v: Vec<_> = tg
            .sent()
            .into_iter()
            .filter(|m| m.method == "sendVoice" && m.chat_id() == Some(5305))
            .collect();
        (v.len() >= 2).then_some(v)
    })
    .await;
    assert!(voices[1].at >= text_first.at, "the text goes first");
    assert_eq!(voices[1].caption(), None);
    let input = ai.speech_requests()[1].body["input"]
        .as_str()
        .expect("input")
        .to_owned();
    assert!(
        input.ends_with(".…") && input.chars().count() <= 1501,
        "cut at a sentence end: {} chars",
        input.chars().count()
    );

    // 4. The speech provider fails: the answer still arrives, as text.
    ai.push_speech_status(500, json!({"error": {"message": "speech overloaded"}}));
    ai.push_text("Still answered in text.");
    let fourth = push_voice(&tg, 5305, "v3", 3000, None);
    let r = crate::telegram_flow::wait_reply(&tg, fourth, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.text()),
        ("sendMessage", "Still answered in text.")
    );
    all_answered(&gw, &tg).await;

    // The spoken answer is recorded with its file (a crash's resend carries it again).
    let line = crate::media::transcript_lines(&gw)
        .into_iter()
        .find(|l| l["role"] == "assistant" && l["content"] == answer)
        .expect("the first answer's line");
    assert_eq!(line["media"][0]["kind"], "audio");
    assert!(
        line["media"][0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("media/outbound/") && p.ends_with(".ogg")),
        "{line}"
    );
    let status = crate::telegram_flow::dm(&tg, 5305, "/status");
    let r = crate::telegram_flow::wait_reply(&tg, status, SLOW).await;
    assert!(
        r.text()
            .contains("Spoken answers: fake/tts-1 (alloy) (answers to voice messages)"),
        "{}",
        r.text()
    );

    // The chat's own choice: `/tts on` speaks a text message's answer too …
    let ask = |text: &str| crate::telegram_flow::dm(&tg, 5305, text);
    let on = ask("/tts on");
    let r = crate::telegram_flow::wait_reply(&tg, on, SLOW).await;
    assert!(
        r.text().contains("Spoken answers on in this chat"),
        "{}",
        r.text()
    );
    ai.push_text("Spoken although you typed.");
    let typed = ask("say it");
    let r = crate::telegram_flow::wait_reply(&tg, typed, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.caption()),
        ("sendVoice", Some("Spoken although you typed."))
    );
    // … `/tts off` keeps even a voice message's answer text …
    let off = ask("/tts off");
    crate::telegram_flow::wait_reply(&tg, off, SLOW).await;
    tg.add_file("v4", ogg(3000));
    ai.push_text("Text although you spoke.");
    let spoken_to = push_voice(&tg, 5305, "v4", 3000, None);
    let r = crate::telegram_flow::wait_reply(&tg, spoken_to, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.text()),
        ("sendMessage", "Text although you spoke.")
    );
    let status = ask("/tts");
    let r = crate::telegram_flow::wait_reply(&tg, status, SLOW).await;
    assert!(r.text().contains("off in this chat"), "{}", r.text());
    // … and it is kept with the session (sessions.json), until `/tts default`.
    let index = gw.dir.path().join("agents/main/sessions/sessions.json");
    poll_until(SLOW, "the choice saved", || {
        let v: Value = serde_json::from_slice(&std::fs::read(&index).ok()?).ok()?;
        (v["agent:main:telegram:direct:5305"]["tts"] == false).then_some(())
    })
    .await;
    let back = ask("/tts default");
    let r = crate::telegram_flow::wait_reply(&tg, back, SLOW).await;
    assert!(
        r.text()
            .contains("back to the gateway's setting (answers to voice messages)"),
        "{}",
        r.text()
    );
}
