//! The outbound clients (`openclaw::clients`) against the in-process fakes: the Telegram Bot
//! API client ([`BotApi`]) and the model clients ([`OpenAiModel`], [`AnthropicModel`]),
//! whole and streamed.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use openclaw::actors::channel::telegram::api::{SendMessage, TelegramApi as _, TgError};
use openclaw::actors::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, Delta, DeltaSink, ModelError, ToolSpec,
};
use openclaw::clients::anthropic::AnthropicModel;
use openclaw::clients::openai::OpenAiModel;
use openclaw::clients::openai_responses::ResponsesModel;
use openclaw::clients::telegram::BotApi;
use serde_json::{Value, json};

use crate::support::WAIT;
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;

const TOKEN: &str = "777001:AAH-fake_TOKEN_secret";

// === Telegram ===

#[actix_web::test]
async fn telegram_get_me() {
    let tg = FakeTelegram::start(TOKEN);
    // Trailing slash on the root is tolerated.
    let api = BotApi::new(&format!("{}/", tg.api_root()), TOKEN);
    let me = api.get_me().await.expect("getMe");
    assert_eq!(me.id, 777001);
    assert!(me.is_bot);
    assert_eq!(me.username.as_deref(), Some("openclaw_test_bot"));
    assert_eq!(tg.calls("getMe"), 1);
}

#[actix_web::test]
async fn telegram_get_updates_offsets_confirm_and_forget() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    let u1 = tg.push_text(42, 7, "hello");
    let u2 = tg.push_group_text(-100, 8, "@openclaw_test_bot hi there");
    let ups = api.get_updates(None, 0).await.expect("getUpdates");
    assert_eq!(
        ups.iter().map(|u| u.update_id).collect::<Vec<_>>(),
        [u1, u2]
    );
    let m1 = ups[0].message.as_ref().expect("message");
    assert_eq!(m1.chat.id, 42);
    assert_eq!(m1.chat.kind, "private");
    assert_eq!(m1.text.as_deref(), Some("hello"));
    assert_eq!(m1.from.as_ref().map(|u| u.id), Some(7));
    let m2 = ups[1].message.as_ref().expect("message");
    assert_eq!(m2.chat.kind, "supergroup");
    let ents = m2.entities.as_ref().expect("mention entity");
    assert_eq!(
        (ents[0].kind.as_str(), ents[0].offset, ents[0].length),
        ("mention", 0, 18)
    );

    // Without a new offset the same updates come again.
    let again = api.get_updates(Some(u1), 0).await.expect("getUpdates");
    assert_eq!(again.len(), 2);
    assert_eq!(tg.last_offset(), Some(u1));
    // Confirming u1 forgets it; confirming u2 forgets everything.
    let after = api.get_updates(Some(u2), 0).await.expect("getUpdates");
    assert_eq!(after.iter().map(|u| u.update_id).collect::<Vec<_>>(), [u2]);
    assert_eq!(tg.pending_updates(), 1);
    let none = api.get_updates(Some(u2 + 1), 0).await.expect("getUpdates");
    assert!(none.is_empty());
    assert_eq!(tg.pending_updates(), 0);
    assert_eq!(tg.get_updates_calls(), 4);
    assert_eq!(tg.last_offset(), Some(u2 + 1));
}

#[actix_web::test]
async fn telegram_long_poll_returns_promptly_on_push() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    let started = Instant::now();
    let poll = actix_web::rt::spawn(api.get_updates(Some(1), 20));
    // The poll is parked on the fake; then an update arrives.
    tg.wait_polls_async(1, WAIT).await;
    let id = tg.push_text(5, 5, "wake up");
    let ups = actix_web::rt::time::timeout(WAIT, poll)
        .await
        .expect("the long poll returns promptly after a push")
        .expect("poll task")
        .expect("getUpdates");
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].update_id, id);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // With nothing to deliver the poll lasts its timeout, then answers [].
    let t0 = Instant::now();
    let empty = api.get_updates(Some(id + 1), 1).await.expect("getUpdates");
    assert!(empty.is_empty());
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}

#[actix_web::test]
async fn telegram_non_message_updates_are_filtered_by_allowed_updates() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    tg.push_raw(json!({"edited_message": {"message_id": 1, "chat": {"id": 1, "type": "private"}}}));
    let id = tg.push_text(1, 1, "kept");
    let ups = api.get_updates(None, 0).await.expect("getUpdates");
    assert_eq!(ups.iter().map(|u| u.update_id).collect::<Vec<_>>(), [id]);
}

#[actix_web::test]
async fn telegram_send_message_body_shape() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    let id = api
        .send_message(SendMessage {
            chat_id: -100,
            text: "reply".into(),
            reply_to_message_id: Some(31),
            message_thread_id: Some(4),
            reply_markup: None,
            disable_notification: false,
            disable_link_preview: false,
        })
        .await
        .expect("sendMessage");
    let plain = api
        .send_message(SendMessage {
            chat_id: 9,
            text: "plain".into(),
            reply_to_message_id: None,
            message_thread_id: None,
            reply_markup: None,
            disable_notification: false,
            disable_link_preview: false,
        })
        .await
        .expect("sendMessage");
    assert_ne!(id, plain);
    let sent = tg.wait_sent_async(2, WAIT).await;
    assert_eq!(
        sent[0].body,
        json!({"chat_id": -100, "text": "reply",
            "reply_parameters": {"message_id": 31, "allow_sending_without_reply": true},
            "message_thread_id": 4})
    );
    assert_eq!(sent[0].message_id, id);
    assert_eq!(sent[0].reply_to(), Some(31));
    assert_eq!(sent[1].body, json!({"chat_id": 9, "text": "plain"}));

    // The fake enforces the 4096-character limit like Telegram.
    let e = api
        .send_message(SendMessage {
            chat_id: 9,
            text: "x".repeat(4097),
            reply_to_message_id: None,
            message_thread_id: None,
            reply_markup: None,
            disable_notification: false,
            disable_link_preview: false,
        })
        .await
        .expect_err("too long");
    assert_eq!(
        e,
        TgError::Api {
            code: 400,
            description: "Bad Request: message is too long".into()
        }
    );
}

#[actix_web::test]
async fn telegram_error_mapping() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);

    tg.fail_next_on(
        "sendMessage",
        1,
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7}}),
    );
    let msg = SendMessage {
        chat_id: 1,
        text: "t".into(),
        reply_to_message_id: None,
        message_thread_id: None,
        reply_markup: None,
        disable_notification: false,
        disable_link_preview: false,
    };
    assert_eq!(
        api.send_message(msg.clone()).await,
        Err(TgError::RateLimited { retry_after: 7 })
    );
    tg.fail_next(
        1,
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests"}),
    );
    assert_eq!(
        api.get_me().await,
        Err(TgError::RateLimited { retry_after: 1 })
    );

    tg.fail_next(
        1,
        500,
        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
    );
    assert!(matches!(api.get_me().await, Err(TgError::Network(_))));

    tg.set_down(true);
    let e = api.get_updates(None, 0).await.expect_err("down");
    assert!(
        matches!(e, TgError::Network(ref s) if s.contains("502")),
        "{e:?}"
    );
    tg.set_down(false);
    assert!(api.get_me().await.is_ok());

    tg.fail_next(
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    );
    assert_eq!(
        api.send_message(msg).await,
        Err(TgError::Api {
            code: 400,
            description: "Bad Request: chat not found".into()
        })
    );

    // A wrong token is 401 → Unauthorized.
    let wrong = BotApi::new(&tg.api_root(), "777001:WRONG");
    assert!(matches!(
        wrong.get_me().await,
        Err(TgError::Unauthorized(_))
    ));
}

#[actix_web::test]
async fn telegram_webhook_and_conflicts() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    api.set_webhook("https://gw.example/telegram".into(), "s3cret".into())
        .await
        .expect("setWebhook");
    let hook = tg.webhook().expect("webhook set");
    assert_eq!(
        hook.body,
        json!({"url": "https://gw.example/telegram", "secret_token": "s3cret",
            "allowed_updates": ["message", "callback_query"]})
    );
    // Polling while a webhook is set is a conflict.
    assert!(matches!(
        api.get_updates(None, 0).await,
        Err(TgError::Conflict(_))
    ));
    api.delete_webhook().await.expect("deleteWebhook");
    assert!(tg.webhook().is_none());
    assert!(api.get_updates(None, 0).await.is_ok());

    // A second poller terminates the first with 409.
    let first = actix_web::rt::spawn(api.get_updates(None, 20));
    tg.wait_polls_async(3, WAIT).await;
    let second = actix_web::rt::spawn(api.get_updates(None, 0));
    let first = actix_web::rt::time::timeout(WAIT, first)
        .await
        .expect("first poll ends")
        .expect("task");
    assert!(matches!(first, Err(TgError::Conflict(_))), "{first:?}");
    assert!(second.await.expect("task").is_ok());
}

#[actix_web::test]
async fn telegram_errors_redact_the_token() {
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&tg.api_root(), TOKEN);
    // The fake echoes the path in an error description; the client scrubs it.
    tg.fail_next(
        1,
        400,
        json!({"ok": false, "error_code": 400,
            "description": format!("Bad Request: /bot{TOKEN}/getMe")}),
    );
    let e = api.get_me().await.expect_err("400");
    assert!(e.to_string().contains("/bot<redacted>/getMe"), "{e}");
    // Unreadable body: it is quoted in the error, scrubbed too.
    tg.fail_next(
        1,
        503,
        json!(format!("<html>upstream /bot{TOKEN}/getMe down</html>")),
    );
    let e2 = api.get_me().await.expect_err("503");
    // Connection refused: the URL must not leak through awc's error either.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("reserve a port");
    let dead = BotApi::new(&format!("http://127.0.0.1:{port}"), TOKEN);
    let e3 = dead.get_me().await.expect_err("refused");
    for e in [&e, &e2, &e3] {
        for s in [e.to_string(), format!("{e:?}")] {
            assert!(!s.contains("TOKEN_secret"), "token leaked: {s}");
        }
    }
    assert!(!format!("{api:?}").contains("TOKEN_secret"));
}

#[actix_web::test]
async fn telegram_https_uses_rustls() {
    // An https:// root against a plain-HTTP listener: the client attempts a TLS handshake
    // (rather than failing with "SSL is not supported"), which the listener cannot answer.
    let tg = FakeTelegram::start(TOKEN);
    let api = BotApi::new(&format!("https://{}", tg.addr()), TOKEN);
    let e = api.get_me().await.expect_err("no TLS on the fake");
    let TgError::Network(msg) = &e else {
        panic!("expected a network error, got {e:?}");
    };
    assert!(
        !msg.to_ascii_lowercase().contains("not supported"),
        "TLS connector missing: {msg}"
    );
}

// === OpenAI-compatible model ===

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::text("system", "be brief"),
            ChatMessage::text("user", text),
        ]
        .into(),
        ..Default::default()
    }
}

fn model(fake: &FakeOpenAi, key: Option<&str>) -> OpenAiModel {
    OpenAiModel::new(
        "fake",
        &format!("{}/", fake.base_url()),
        key.map(str::to_owned),
        "gpt-test",
        Some(Duration::from_secs(10)),
    )
}

#[actix_web::test]
async fn model_text_answer_and_request_shape() {
    let fake = FakeOpenAi::start_with_key("sk-test-KEY");
    fake.push_text("hello there");
    let m = model(&fake, Some("sk-test-KEY"));
    assert_eq!(m.label(), "fake/gpt-test");
    let r = m.complete(user("hi")).await.expect("completion");
    assert_eq!(r.message.role, "assistant");
    assert_eq!(r.message.content.as_deref(), Some("hello there"));
    assert_eq!(r.message.tool_calls, None);
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    let rec = fake.recorded();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].authorization.as_deref(), Some("Bearer sk-test-KEY"));
    assert_eq!(
        rec[0].body,
        json!({"model": "gpt-test", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"}]})
    );
    // An empty script answers the default text.
    let r = m.complete(user("again")).await.expect("completion");
    assert_eq!(r.message.content.as_deref(), Some("ok"));
}

#[actix_web::test]
async fn model_tool_call_round_trip() {
    let fake = FakeOpenAi::start();
    let call_id = fake.push_tool_call("get_time", json!({"tz": "UTC"}));
    fake.push_text("It is noon.");
    let m = model(&fake, None);
    let tools = vec![ToolSpec {
        name: "get_time".into(),
        description: "Current time".into(),
        parameters: json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
    }];
    let mut req = ChatRequest {
        tools: tools.clone().into(),
        ..user("what time is it?")
    };
    let r = m.complete(req.clone()).await.expect("completion");
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    let calls = r.message.tool_calls.clone().expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, call_id);
    assert_eq!(calls[0].kind, "function");
    assert_eq!(calls[0].function.name, "get_time");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).expect("JSON args");
    assert_eq!(args, json!({"tz": "UTC"}));

    std::sync::Arc::make_mut(&mut req.messages).push(r.message);
    std::sync::Arc::make_mut(&mut req.messages).push(ChatMessage {
        role: "tool".into(),
        content: Some("12:00".into()),
        tool_call_id: Some(call_id.clone()),
        ..Default::default()
    });
    let r2 = m.complete(req).await.expect("completion");
    assert_eq!(r2.message.content.as_deref(), Some("It is noon."));

    let bodies = fake.requests();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["tool_choice"], "auto");
    assert_eq!(
        bodies[0]["tools"],
        json!([{"type": "function", "function": {"name": "get_time",
            "description": "Current time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}])
    );
    let msgs = bodies[1]["messages"].as_array().expect("messages");
    assert_eq!(msgs[2]["tool_calls"][0]["id"], call_id.as_str());
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "content": "12:00", "tool_call_id": call_id})
    );
}

#[actix_web::test]
async fn model_accepts_object_arguments_and_content_parts() {
    let fake = FakeOpenAi::start();
    fake.push(FakeReply::completion(
        json!({"role": "assistant", "content": [{"type": "text", "text": "Let me "},
            {"type": "text", "text": "check."}],
            "tool_calls": [{"id": "c9", "type": "function",
                "function": {"name": "lookup", "arguments": {"q": "rust", "n": 2}}}]}),
        "tool_calls",
    ));
    let r = model(&fake, None)
        .complete(user("x"))
        .await
        .expect("completion");
    assert_eq!(r.message.content.as_deref(), Some("Let me check."));
    let calls = r.message.tool_calls.expect("tool calls");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).expect("stringified");
    assert_eq!(args, json!({"q": "rust", "n": 2}));
}

#[actix_web::test]
async fn model_retries_500_then_succeeds() {
    let fake = FakeOpenAi::start();
    fake.push_status(500, json!({"error": {"message": "boom"}}));
    fake.push_text("recovered");
    let t0 = Instant::now();
    let r = model(&fake, None)
        .complete(user("x"))
        .await
        .expect("completion");
    assert_eq!(r.message.content.as_deref(), Some("recovered"));
    assert_eq!(fake.request_count(), 2);
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "backoff: {:?}",
        t0.elapsed()
    );
}

#[actix_web::test]
async fn model_retry_after_is_honoured_and_retries_are_bounded() {
    let fake = FakeOpenAi::start();
    fake.push(
        FakeReply::status(429, json!({"error": {"message": "slow down"}}))
            .header("Retry-After", "1"),
    );
    fake.push_text("fine");
    let t0 = Instant::now();
    let m = model(&fake, None).with_backoff(vec![Duration::from_millis(10)]);
    let r = m.complete(user("x")).await.expect("completion");
    assert_eq!(r.message.content.as_deref(), Some("fine"));
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );

    // Three 429s: gives up with RateLimited after three requests.
    for _ in 0..4 {
        fake.push_status(429, json!({"error": {"message": "quota"}}));
    }
    let e = m.complete(user("x")).await.expect_err("rate limited");
    assert!(
        matches!(e, ModelError::RateLimited(ref s) if s.contains("quota")),
        "{e:?}"
    );
    assert_eq!(fake.request_count(), 2 + 3);
}

#[actix_web::test]
async fn model_does_not_retry_other_4xx() {
    let fake = FakeOpenAi::start();
    fake.push_status(
        400,
        json!({"error": {"message": "Invalid 'messages[1].role'", "type": "invalid_request_error"}}),
    );
    let e = model(&fake, None)
        .complete(user("x"))
        .await
        .expect_err("400");
    assert!(
        matches!(e, ModelError::Rejected(ref s) if s.contains("Invalid 'messages[1].role'")),
        "{e:?}"
    );
    assert_eq!(fake.request_count(), 1);
}

#[actix_web::test]
async fn model_unauthorized_never_shows_the_key() {
    let fake = FakeOpenAi::start_with_key("sk-right");
    let m = model(&fake, Some("sk-WRONG-secret-123"));
    let e = m.complete(user("x")).await.expect_err("401");
    assert!(matches!(e, ModelError::Unauthorized(_)), "{e:?}");
    assert_eq!(fake.request_count(), 1, "401 is not retried");
    // A provider that echoes the key: scrubbed.
    let echo = FakeOpenAi::start();
    echo.push_status(
        403,
        json!({"error": {"message": "key sk-WRONG-secret-123 is not allowed"}}),
    );
    let e2 = model(&echo, Some("sk-WRONG-secret-123"))
        .complete(user("x"))
        .await
        .expect_err("403");
    assert!(matches!(e2, ModelError::Unauthorized(_)), "{e2:?}");
    for s in [
        e.to_string(),
        format!("{e:?}"),
        e2.to_string(),
        format!("{e2:?}"),
        format!("{m:?}"),
    ] {
        assert!(!s.contains("WRONG-secret"), "key leaked: {s}");
    }
    // No key → no Authorization header → 401 as well.
    let e3 = model(&fake, None)
        .complete(user("x"))
        .await
        .expect_err("401");
    assert!(matches!(e3, ModelError::Unauthorized(_)), "{e3:?}");
    assert_eq!(fake.recorded()[1].authorization, None);
}

#[actix_web::test]
async fn model_garbage_is_bad_response() {
    let fake = FakeOpenAi::start();
    fake.push_raw("<html>definitely not json</html>");
    fake.push(FakeReply::status(
        200,
        json!({"object": "chat.completion", "choices": []}),
    ));
    let m = model(&fake, None);
    let e = m.complete(user("x")).await.expect_err("garbage");
    assert!(matches!(e, ModelError::BadResponse(_)), "{e:?}");
    let e = m.complete(user("x")).await.expect_err("no choices");
    assert!(matches!(e, ModelError::BadResponse(_)), "{e:?}");
    assert_eq!(fake.request_count(), 2, "bad responses are not retried");
}

#[actix_web::test]
async fn model_timeout_is_unavailable() {
    let fake = FakeOpenAi::start();
    for _ in 0..3 {
        fake.push(FakeReply::text("too late").delayed(Duration::from_secs(3)));
    }
    let m = OpenAiModel::new(
        "fake",
        &fake.base_url(),
        None,
        "gpt-test",
        Some(Duration::from_millis(300)),
    )
    .with_backoff(vec![Duration::from_millis(20)]);
    let t0 = Instant::now();
    let e = m.complete(user("x")).await.expect_err("timeout");
    assert!(matches!(e, ModelError::Unavailable(_)), "{e:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    fake.wait_requests_async(3, WAIT).await;

    // Unreachable provider: Unavailable too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("reserve a port");
    let dead = OpenAiModel::new(
        "fake",
        &format!("http://127.0.0.1:{port}/v1"),
        None,
        "m",
        None,
    )
    .with_backoff(vec![Duration::from_millis(1)]);
    assert!(matches!(
        dead.complete(user("x")).await,
        Err(ModelError::Unavailable(_))
    ));
}

// === streamed answers ===

/// What a [`Delta::Restart`] is recorded as.
const RESTART: &str = "<restart>";

/// The pieces a [`collector`] got, with their arrival times.
type Seen = Rc<RefCell<Vec<(String, Instant)>>>;

/// A sink recording the pieces it gets (and [`RESTART`]), with their arrival times.
fn collector() -> (DeltaSink, Seen) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink: DeltaSink = {
        let seen = seen.clone();
        Rc::new(move |d: Delta<'_>| {
            let piece = match d {
                Delta::Text(t) => t.to_owned(),
                Delta::Restart => RESTART.to_owned(),
            };
            seen.borrow_mut().push((piece, Instant::now()));
        })
    };
    (sink, seen)
}

fn pieces(seen: &RefCell<Vec<(String, Instant)>>) -> Vec<String> {
    seen.borrow().iter().map(|(p, _)| p.clone()).collect()
}

fn anthropic(fake: &FakeOpenAi) -> AnthropicModel {
    AnthropicModel::new(
        "fake",
        &fake.anthropic_base_url(),
        None,
        "claude-test",
        Some(Duration::from_secs(10)),
    )
}

/// A text answer with a tool call, as scripted.
fn text_and_tool_call() -> FakeReply {
    FakeReply::completion(
        json!({"role": "assistant", "content": "Let me look it up 🔍 — ça marche.",
            "tool_calls": [{"id": "call_77", "type": "function",
                "function": {"name": "lookup", "arguments": "{\"q\":\"rust ✓\",\"n\":2}"}}]}),
        "tool_calls",
    )
}

/// `m` streams a multi-byte text in pieces, in order, as they arrive; the answers (text
/// alone, text with a tool call) equal what `complete` gives for the same script; the
/// streamed requests asked for `"stream": true`, the whole ones did not.
async fn streams_pieces_and_the_same_answer(fake: &FakeOpenAi, m: &dyn ChatModel) {
    fake.set_streaming(true);
    let text = "Héllo wörld ✓ — 日本語 🦞 streamed";
    fake.push(FakeReply::text(text).with_chunk_delay(Duration::from_millis(100)));
    let (sink, seen) = collector();
    let streamed = m
        .complete_streaming(user("hi"), sink)
        .await
        .expect("streamed");
    let done = Instant::now();
    let got = pieces(&seen);
    assert!(got.len() >= 2, "in pieces: {got:?}");
    assert!(!got.contains(&RESTART.to_owned()), "{got:?}");
    assert_eq!(got.concat(), text);
    assert_eq!(streamed.message.content.as_deref(), Some(text));
    assert_eq!(streamed.finish_reason.as_deref(), Some("stop"));
    // The first piece came long before the end: read as it arrived.
    let first = seen.borrow()[0].1;
    assert!(
        done.duration_since(first) >= Duration::from_millis(300),
        "first piece {:?} before the end",
        done.duration_since(first)
    );
    fake.push_text(text);
    let whole = m.complete(user("hi")).await.expect("whole");
    assert_eq!(streamed, whole);

    fake.push(text_and_tool_call());
    let (sink, seen) = collector();
    let streamed = m
        .complete_streaming(user("hi"), sink)
        .await
        .expect("streamed");
    fake.push(text_and_tool_call());
    let whole = m.complete(user("hi")).await.expect("whole");
    assert_eq!(streamed, whole);
    assert_eq!(pieces(&seen).concat(), "Let me look it up 🔍 — ça marche.");
    assert_eq!(streamed.finish_reason.as_deref(), Some("tool_calls"));
    let calls = streamed.message.tool_calls.expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_77");
    assert_eq!(calls[0].function.name, "lookup");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).expect("JSON args");
    assert_eq!(args, json!({"q": "rust ✓", "n": 2}));

    let bodies = fake.requests();
    assert_eq!(bodies.len(), 4);
    for (i, b) in bodies.iter().enumerate() {
        let expected = if i % 2 == 0 { Some(&json!(true)) } else { None };
        assert_eq!(b.get("stream"), expected, "request {i}: {b}");
    }
}

/// A stream cut before its end is retried: the sink gets the first attempt's pieces, then
/// one [`RESTART`], then the second attempt's; the answer is the second attempt's.
async fn a_cut_stream_restarts(fake: &FakeOpenAi, m: &dyn ChatModel, cut: usize) {
    fake.set_streaming(true);
    let first = "The first attempt — cut short";
    fake.push(FakeReply::text(first).cut_after(cut));
    fake.push(FakeReply::text("Second attempt ✓, whole."));
    let (sink, seen) = collector();
    let r = m
        .complete_streaming(user("hi"), sink)
        .await
        .expect("retried");
    assert_eq!(
        r.message.content.as_deref(),
        Some("Second attempt ✓, whole.")
    );
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    let got = pieces(&seen);
    let at = got.iter().position(|p| p == RESTART).expect("a restart");
    let (before, after) = (&got[..at], &got[at + 1..]);
    assert!(!before.is_empty(), "{got:?}");
    assert!(
        first.starts_with(&before.concat()) && before.concat() != first,
        "{got:?}"
    );
    assert!(!after.contains(&RESTART.to_owned()), "one restart: {got:?}");
    assert_eq!(after.concat(), "Second attempt ✓, whole.");
    assert_eq!(fake.request_count(), 2);

    // Cut every time: gives up Unavailable, and the last attempt's text is void too.
    for _ in 0..3 {
        fake.push(FakeReply::text(first).cut_after(cut));
    }
    let (sink, seen) = collector();
    let e = m
        .complete_streaming(user("hi"), sink)
        .await
        .expect_err("cut");
    assert!(
        matches!(e, ModelError::Unavailable(ref s) if s.contains("ended early")),
        "{e:?}"
    );
    let got = pieces(&seen);
    assert_eq!(got.iter().filter(|p| *p == RESTART).count(), 3, "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some(RESTART), "{got:?}");
    assert_eq!(fake.request_count(), 2 + 3);
}

/// A provider that answers a streaming request with plain JSON: the same answer, no
/// pieces.
async fn a_json_answer_to_a_streaming_request(
    fake: &FakeOpenAi,
    m: &dyn ChatModel,
) -> ChatResponse {
    fake.set_streaming(false);
    fake.push(text_and_tool_call());
    let (sink, seen) = collector();
    let r = m
        .complete_streaming(user("hi"), sink)
        .await
        .expect("answer");
    assert!(seen.borrow().is_empty(), "{:?}", pieces(&seen));
    assert_eq!(fake.requests()[0]["stream"], true);
    fake.push(text_and_tool_call());
    assert_eq!(r, m.complete(user("hi")).await.expect("whole"));
    assert_eq!(
        r.message.content.as_deref(),
        Some("Let me look it up 🔍 — ça marche.")
    );
    r
}

#[actix_web::test]
async fn model_streaming_openai_pieces_arrive_in_order_and_match_complete() {
    let fake = FakeOpenAi::start();
    streams_pieces_and_the_same_answer(&fake, &model(&fake, None)).await;
    assert!(
        fake.recorded()
            .iter()
            .all(|r| r.path == "/v1/chat/completions")
    );
}

#[actix_web::test]
async fn model_streaming_anthropic_pieces_arrive_in_order_and_match_complete() {
    let fake = FakeOpenAi::start();
    streams_pieces_and_the_same_answer(&fake, &anthropic(&fake)).await;
    assert!(fake.recorded().iter().all(|r| r.path == "/v1/messages"));
}

#[actix_web::test]
async fn model_streaming_openai_cut_stream_restarts_and_retries() {
    let fake = FakeOpenAi::start();
    let m = model(&fake, None).with_backoff(vec![Duration::from_millis(10)]);
    // The role chunk and two pieces of text.
    a_cut_stream_restarts(&fake, &m, 3).await;
}

#[actix_web::test]
async fn model_streaming_anthropic_cut_stream_restarts_and_retries() {
    let fake = FakeOpenAi::start();
    let m = anthropic(&fake).with_backoff(vec![Duration::from_millis(10)]);
    // message_start, ping, content_block_start and two pieces of text.
    a_cut_stream_restarts(&fake, &m, 5).await;
}

#[actix_web::test]
async fn model_streaming_responses_cut_stream_restarts_and_retries() {
    let fake = FakeOpenAi::start();
    let m = ResponsesModel::new(model(&fake, None).with_backoff(vec![Duration::from_millis(10)]));
    // response.created, response.in_progress, the message item and its part, two pieces.
    a_cut_stream_restarts(&fake, &m, 6).await;
    assert!(fake.recorded().iter().all(|r| r.path == "/v1/responses"));
}

#[actix_web::test]
async fn model_streaming_responses_json_answer_has_no_pieces() {
    let fake = FakeOpenAi::start();
    let r =
        a_json_answer_to_a_streaming_request(&fake, &ResponsesModel::new(model(&fake, None))).await;
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
}

#[actix_web::test]
async fn model_streaming_responses_pieces_arrive_in_order_and_match_complete() {
    let fake = FakeOpenAi::start();
    streams_pieces_and_the_same_answer(&fake, &ResponsesModel::new(model(&fake, None))).await;
    assert!(fake.recorded().iter().all(|r| r.path == "/v1/responses"));
}

#[actix_web::test]
async fn model_streaming_openai_json_answer_has_no_pieces() {
    let fake = FakeOpenAi::start();
    a_json_answer_to_a_streaming_request(&fake, &model(&fake, None)).await;
}

#[actix_web::test]
async fn model_streaming_anthropic_json_answer_has_no_pieces() {
    let fake = FakeOpenAi::start();
    a_json_answer_to_a_streaming_request(&fake, &anthropic(&fake)).await;
}

#[actix_web::test]
async fn model_streaming_errors_are_classified_and_never_show_the_key() {
    let fake = FakeOpenAi::start_with_key("sk-stream-SECRET");
    fake.set_streaming(true);
    // A wrong key: 401 as usual, not retried, nothing streamed.
    let m = model(&fake, Some("sk-WRONG-stream-secret"));
    let (sink, seen) = collector();
    let e = m
        .complete_streaming(user("x"), sink)
        .await
        .expect_err("401");
    assert!(matches!(e, ModelError::Unauthorized(_)), "{e:?}");
    assert!(!format!("{e:?}").contains("WRONG-stream-secret"), "{e:?}");
    assert!(seen.borrow().is_empty());
    assert_eq!(fake.request_count(), 1);
    // 500 then a stream: retried as today.
    let m = model(&fake, Some("sk-stream-SECRET")).with_backoff(vec![Duration::from_millis(10)]);
    fake.push_status(500, json!({"error": {"message": "boom"}}));
    fake.push_text("after the 500");
    let (sink, seen) = collector();
    let r = m
        .complete_streaming(user("x"), sink)
        .await
        .expect("retried");
    assert_eq!(r.message.content.as_deref(), Some("after the 500"));
    assert_eq!(
        pieces(&seen).concat(),
        "after the 500",
        "no restart: nothing was streamed"
    );
    assert_eq!(fake.request_count(), 3);

    // A stream that stalls longer than the timeout: retried, then Unavailable.
    let slow = OpenAiModel::new(
        "fake",
        &fake.base_url(),
        Some("sk-stream-SECRET".into()),
        "gpt-test",
        Some(Duration::from_millis(300)),
    )
    .with_backoff(vec![Duration::from_millis(10)]);
    for _ in 0..3 {
        fake.push(FakeReply::text("slow and steady").with_chunk_delay(Duration::from_secs(2)));
    }
    let (sink, seen) = collector();
    let e = slow
        .complete_streaming(user("x"), sink)
        .await
        .expect_err("stalled");
    assert!(
        matches!(e, ModelError::Unavailable(ref s) if s.contains("stalled")),
        "{e:?}"
    );
    // (The fake pauses after its first chunk, the role: no text came, nothing to void.)
    assert!(seen.borrow().is_empty(), "{:?}", pieces(&seen));
    assert_eq!(fake.request_count(), 3 + 3);
}

// === the fakes from plain (blocking) tests ===

/// Runs `f`'s future on a fresh actix system on another thread (as a gateway child process
/// would, from the fakes' point of view) and returns its output.
fn on_other_thread<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || actix_web::rt::System::new().block_on(f()))
}

#[test]
fn fakes_work_from_blocking_tests() {
    let tg = FakeTelegram::start(TOKEN);
    let ai = FakeOpenAi::start();
    ai.push_text("from the fake");
    // The clients are Send: built here, used on another thread's system.
    let api = BotApi::new(&tg.api_root(), TOKEN);
    let m = model(&ai, None);
    let poller = on_other_thread(move || async move {
        let ups = api.get_updates(None, 20).await.expect("getUpdates");
        let text = ups[0]
            .message
            .as_ref()
            .and_then(|m| m.text.clone())
            .expect("text");
        let answer = m.complete(user(&text)).await.expect("completion");
        api.send_message(SendMessage {
            chat_id: 42,
            text: answer.message.content.unwrap_or_default(),
            reply_to_message_id: None,
            message_thread_id: None,
            reply_markup: None,
            disable_notification: false,
            disable_link_preview: false,
        })
        .await
        .expect("sendMessage")
    });
    tg.wait_polls(1, WAIT);
    tg.push_text(42, 7, "ping");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(
        sent[0].body,
        json!({"chat_id": 42, "text": "from the fake"})
    );
    let bodies = ai.wait_requests(1, WAIT);
    assert_eq!(bodies[0]["messages"][1]["content"], "ping");
    assert_eq!(poller.join().expect("client thread"), sent[0].message_id);
}
