//! Progress drafts in Telegram chats (`channels.telegram.streaming`, OpenClaw's default
//! `progress` mode): one message shows that the agent is working while it calls tools, is
//! edited as it goes, and is deleted once the answer (always a new message) is delivered.
//! Against the real binary, the fake Bot API (which answers `editMessageText` and
//! `deleteMessage` as Telegram does) and the fake model.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::{FakeTelegram, SentMessage};
use crate::support::*;
use crate::telegram_flow::{
    GW_ARGS, SLOW, TG_TOKEN, all_answered, config, dm, restart, start_gateway, wait_reply,
    wait_state_file,
};

/// A tool call of `name(args)` with the model's preamble `content`.
fn tool_round(id: &str, content: Option<&str>, name: &str, args: Value) -> FakeReply {
    FakeReply::completion(
        json!({"role": "assistant", "content": content, "tool_calls": [
            {"id": id, "type": "function",
             "function": {"name": name, "arguments": args.to_string()}}]}),
        "tool_calls",
    )
}

/// The first message sent to `chat` that replies to nothing: the draft.
fn draft_in(sent: &[SentMessage], chat: i64) -> Option<SentMessage> {
    sent.iter()
        .find(|s| s.chat_id() == Some(chat) && s.reply_to().is_none())
        .cloned()
}

/// Waits for the draft in `chat` and returns it.
async fn wait_draft(tg: &FakeTelegram, chat: i64) -> SentMessage {
    tg.wait_drafts_async(
        SLOW,
        &format!("a progress draft in chat {chat}"),
        |sent, _, _| draft_in(sent, chat).is_some(),
    )
    .await;
    draft_in(&tg.sent(), chat).expect("the draft")
}

/// Waits until message `id` of `chat` was deleted.
async fn wait_deleted(tg: &FakeTelegram, chat: i64, id: i64) {
    tg.wait_drafts_async(SLOW, &format!("message {id} deleted"), |_, _, deleted| {
        deleted
            .iter()
            .any(|d| d.chat_id == chat && d.message_id == id)
    })
    .await;
}

#[actix_web::test]
async fn a_working_run_shows_one_draft_that_goes_once_the_answer_is_out() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // Two tool calls (the second shows the draft at once), the model's preamble as the
    // headline; the answer waits a little so the draft is on screen before it.
    ai.push(tool_round(
        "c1",
        Some("Checking your notes\nfirst."),
        "read",
        json!({"path": "AGENTS.md"}),
    ));
    ai.push(tool_round("c2", None, "read", json!({"path": "SOUL.md"})));
    ai.push(FakeReply::text("All done.").delayed(Duration::from_millis(600)));
    // `null`: the default (`progress`) instead of the flows' `off`.
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"streaming": null})));
    let mid = dm(&tg, 9101, "what do my notes say?");

    let draft = wait_draft(&tg, 9101).await;
    // Quiet by default: the headline (the implicit "Working" label hides under it), no
    // tool lines.
    assert_eq!(
        draft.text(),
        "Checking your notes first.",
        "{:?}",
        draft.body
    );
    let answer = wait_reply(&tg, mid, SLOW).await;
    assert_eq!(answer.text(), "All done.");
    assert!(draft.at < answer.at, "the draft came first");
    wait_deleted(&tg, 9101, draft.message_id).await;
    let gone = tg.deleted();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(
        gone[0].at >= answer.at,
        "deleted only once the answer was out"
    );
    assert_eq!(
        tg.text_of(9101, answer.message_id).as_deref(),
        Some("All done.")
    );
    all_answered(&gw, &tg).await;
    // Two messages in all: the draft (gone) and the answer; the draft was never edited
    // (nothing changed after the headline).
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    assert!(tg.edits().is_empty(), "{:?}", tg.edits());
    // The state kept the draft while it was on screen, and forgets it once deleted.
    wait_state_file(&gw, "no draft left", |v| v.get("drafts").is_none()).await;

    // A plain answer never shows a draft.
    ai.push_text("Just text.");
    let plain = dm(&tg, 9101, "hi");
    assert_eq!(wait_reply(&tg, plain, SLOW).await.text(), "Just text.");
    all_answered(&gw, &tg).await;
    assert_eq!(tg.sent().len(), 3, "{:?}", tg.sent());
}

#[actix_web::test]
async fn tool_lines_roll_in_the_draft_and_are_edited_in_as_the_run_goes() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // One tool call, then a slow model (3.5 s): the draft appears once the run has been
    // busy for 1.5 s. Another tool call edits it in; the slow answer leaves time for that edit.
    let long = format!("notes/{}\n/end.md", "🦀".repeat(3000));
    ai.push(tool_round("c1", None, "read", json!({"path": long})));
    ai.push(
        tool_round("c2", None, "memory_search", json!({"query": "coffee"}))
            .delayed(Duration::from_millis(3500)),
    );
    ai.push(tool_round(
        "c3",
        None,
        "read",
        json!({"path": "SOUL.md", "offset": 2, "limit": 3}),
    ));
    ai.push(FakeReply::text("Here you go.").delayed(Duration::from_millis(3500)));
    let streaming = json!({"progress": {"toolProgress": true, "label": "Busy", "maxLines": 3}});
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"streaming": streaming})));
    let mid = dm(&tg, 9201, "look it up");

    let draft = wait_draft(&tg, 9201).await;
    let first = draft.text().to_owned();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 2, "{first}");
    assert_eq!(lines[0], "Busy");
    // The 3000-crab path is one line of at most 120 characters, its end readable.
    assert!(lines[1].starts_with("📖 Read: from notes/🦀"), "{first}");
    assert!(
        lines[1].ends_with("/end.md") && lines[1].contains('…'),
        "{first}"
    );
    assert!(lines[1].chars().count() <= 120, "{first}");
    let answer = wait_reply(&tg, mid, Duration::from_secs(30)).await;
    assert_eq!(answer.text(), "Here you go.");
    wait_deleted(&tg, 9201, draft.message_id).await;
    // The edits brought in the later calls, and the rolling list kept its last 3 lines:
    // the label scrolled away.
    let edits = tg.edits();
    let last = edits.last().expect("the draft was edited");
    assert_eq!(last.message_id, draft.message_id);
    assert!(last.at < answer.at, "edited before the answer, never after");
    let want_tail = [
        "🧠 Memory Search: coffee",
        "📖 Read: lines 2-4 from SOUL.md",
    ];
    let shown: Vec<&str> = last.text.lines().collect();
    assert_eq!(shown.len(), 3, "{}", last.text);
    assert_eq!(shown[1..], want_tail, "{}", last.text);
    // Edits at least 1 s apart (Telegram rate-limits them), never the same text twice.
    let times: Vec<_> = std::iter::once(draft.at)
        .chain(edits.iter().map(|e| e.at))
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1].duration_since(w[0]) >= Duration::from_millis(900),
            "{edits:?}"
        );
    }
    all_answered(&gw, &tg).await;
    assert_eq!(tg.sent().len(), 2, "one draft, one answer: {:?}", tg.sent());
}

#[actix_web::test]
async fn a_draft_the_user_deleted_is_left_alone_and_the_answer_still_comes() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(tool_round("c1", None, "read", json!({"path": "AGENTS.md"})));
    ai.push(
        tool_round("c2", None, "read", json!({"path": "SOUL.md"}))
            .delayed(Duration::from_millis(3500)),
    );
    ai.push(FakeReply::text("Still here.").delayed(Duration::from_millis(1500)));
    let streaming = json!({"progress": {"toolProgress": true}});
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"streaming": streaming})));
    let mid = dm(&tg, 9351, "go");
    let draft = wait_draft(&tg, 9351).await;
    tg.delete_as_user(9351, draft.message_id);
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "Still here.");
    all_answered(&gw, &tg).await;
    // The edit bringing in the second call was refused (message to edit not found), and
    // nothing more was tried; the state forgets the draft (its delete was refused too).
    assert_eq!(tg.calls("editMessageText"), 1, "tried once");
    assert!(tg.edits().is_empty(), "{:?}", tg.edits());
    assert_eq!(tg.calls("deleteMessage"), 1, "tried once");
    assert!(tg.deleted().is_empty(), "{:?}", tg.deleted());
    wait_state_file(&gw, "no draft left", |v| v.get("drafts").is_none()).await;
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
}

#[actix_web::test]
async fn a_stopped_run_takes_its_draft_with_it() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(tool_round("c1", None, "read", json!({"path": "AGENTS.md"})));
    ai.push(tool_round("c2", None, "read", json!({"path": "SOUL.md"})));
    ai.push(FakeReply::text("too late").delayed(Duration::from_secs(100)));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"streaming": null})));
    dm(&tg, 9301, "work hard");
    let draft = wait_draft(&tg, 9301).await;
    assert_eq!(draft.text(), "Working", "the label alone: no preamble");
    let stop = dm(&tg, 9301, "/stop");
    wait_reply(&tg, stop, SLOW).await;
    wait_deleted(&tg, 9301, draft.message_id).await;
    all_answered(&gw, &tg).await;
    assert!(
        tg.sent().iter().all(|s| s.text() != "too late"),
        "{:?}",
        tg.sent()
    );
}

#[actix_web::test]
async fn a_draft_left_behind_by_a_crash_is_deleted_at_the_next_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(tool_round("c1", None, "read", json!({"path": "AGENTS.md"})));
    ai.push(tool_round("c2", None, "read", json!({"path": "SOUL.md"})));
    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"streaming": null})));
    let mid = dm(&tg, 9401, "long job");
    let draft = wait_draft(&tg, 9401).await;
    wait_state_file(&gw, "the draft kept", |v| {
        v["drafts"] == json!([{"chatId": 9401, "messageId": draft.message_id}])
    })
    .await;
    // SIGKILL while the run waits for the model; the restart runs the message again.
    ai.set_default_text("after the restart");
    let gw = restart(gw);
    wait_deleted(&tg, 9401, draft.message_id).await;
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "after the restart");
    all_answered(&gw, &tg).await;
    wait_state_file(&gw, "no draft left", |v| v.get("drafts").is_none()).await;
    assert_eq!(tg.text_of(9401, draft.message_id), None);
}

#[actix_web::test]
async fn partial_mode_previews_the_answer_as_it_is_written() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    let text = "The first part of a long answer, then the second part, and the end.";
    // In pieces 1 s apart: the preview appears 1.5 s after the first with what is written
    // so far.
    ai.push(FakeReply::text(text).with_chunk_delay(Duration::from_millis(1000)));
    let gw = start_gateway(&config(
        &tg,
        Some(&ai),
        json!({"streaming": {"mode": "partial"}}),
    ));
    let mid = dm(&tg, 9501, "write a lot");
    let preview = wait_draft(&tg, 9501).await;
    assert!(
        text.starts_with(preview.text()) && preview.text().len() < text.len(),
        "a beginning of the answer: {:?}",
        preview.text()
    );
    let answer = wait_reply(&tg, mid, SLOW).await;
    assert_eq!(answer.text(), text);
    wait_deleted(&tg, 9501, preview.message_id).await;
    for e in tg.edits() {
        assert!(text.starts_with(&e.text), "{e:?}");
        assert!(e.at <= answer.at, "{e:?}");
    }
    all_answered(&gw, &tg).await;
}

#[actix_web::test]
async fn a_streaming_change_applies_to_the_next_message_without_restart() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let two_calls = |ai: &FakeOpenAi, answer: &str| {
        ai.push(tool_round("c1", None, "read", json!({"path": "AGENTS.md"})));
        ai.push(tool_round("c2", None, "read", json!({"path": "SOUL.md"})));
        ai.push(FakeReply::text(answer).delayed(Duration::from_millis(300)));
    };
    // The flows' config: `off`.
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let pid = gw.pid();
    two_calls(&ai, "quiet");
    let first = dm(&tg, 9601, "one");
    assert_eq!(wait_reply(&tg, first, SLOW).await.text(), "quiet");
    all_answered(&gw, &tg).await;
    assert_eq!(tg.sent().len(), 1, "no draft while off: {:?}", tg.sent());

    let streaming = json!({"progress": {"label": "On it"}});
    replace_file(
        &gw.config_path(),
        &config(&tg, Some(&ai), json!({"streaming": streaming})),
    );
    gw.wait_stderr_line(
        &["config reloaded from", "channels.telegram.streaming"],
        SLOW,
    );
    two_calls(&ai, "with a draft");
    let second = dm(&tg, 9601, "two");
    let draft = wait_draft(&tg, 9601).await;
    assert_eq!(draft.text(), "On it");
    assert_eq!(wait_reply(&tg, second, SLOW).await.text(), "with a draft");
    wait_deleted(&tg, 9601, draft.message_id).await;
    assert_eq!(gw.pid(), pid);
    assert_eq!(tg.calls("getMe"), 1, "the channel was not restarted");

    // A bad value is refused; the running settings stay.
    let bad = json!({"streaming": {"mode": "loud"}});
    replace_file(&gw.config_path(), &config(&tg, Some(&ai), bad));
    gw.wait_stderr_line(&["channels.telegram.streaming.mode"], SLOW);
    assert_eq!(gw.pid(), pid);
}

#[test]
fn bad_streaming_settings_refuse_to_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    for (streaming, names) in [
        (json!({"mode": "fast"}), "channels.telegram.streaming.mode"),
        (
            json!({"progress": {"maxLines": 0}}),
            "channels.telegram.streaming.progress.maxLines",
        ),
        (
            json!({"progress": {"label": 3}}),
            "streaming.progress.label",
        ),
    ] {
        let cfg = config(&tg, None, json!({"streaming": streaming}));
        let home = CliHome::with_config(&cfg);
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{streaming}: {out}");
        assert!(out.stderr.contains(names), "{streaming}: {out}");
        assert!(out.stderr.contains("Fix:"), "{streaming}: {out}");
    }
    assert_eq!(tg.calls("getMe"), 0, "never reached Telegram");
}
