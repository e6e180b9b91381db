//! What model calls cost, against the real binary, the fake Bot API and the fake model: the
//! provider's reported tokens (streamed: asked for with `stream_options.include_usage`)
//! are summed over a run's rounds, priced at the model entry's `cost`, recorded on the
//! answer's transcript line in OpenClaw's `usage` shape, and summed per day by `usage.cost`.

use serde_json::{Value, json};

use crate::support::TestGateway;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{GW_ARGS, SLOW, TG_TOKEN, admin, config, dm, poll_until, wait_reply};

/// The assistant lines of every transcript of `main` that carry a `usage`.
fn usage_lines(state: &std::path::Path) -> Vec<Value> {
    crate::compaction::transcript_lines(state)
        .into_iter()
        .filter(|v| v["role"] == "assistant" && v.get("usage").is_some())
        .collect()
}

#[actix_web::test]
async fn runs_record_their_priced_usage_and_usage_cost_sums_it_per_day() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    ai.set_usage(json!({
        "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 200},
    }));
    let mut c: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("cfg");
    c["models"]["providers"]["fake"]["models"] = json!([{
        "id": "flow-model",
        "cost": {"input": 3, "output": 15, "cacheRead": 0.3, "cacheWrite": 3.75},
    }]);
    let dir = tempfile::tempdir().expect("state dir");
    let state = dir.path().to_path_buf();
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));

    // One answer after a tool round: two model calls, one usage line.
    let call = ai.push_tool_call("nodes", json!({"action": "status"}));
    ai.push_text("all quiet");
    let mid = dm(&tg, 4242, "how are my nodes?");
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "all quiet");
    let requests = ai.wait_requests_async(2, SLOW).await;
    assert!(!call.is_empty());
    // Streamed (the answer is streamed to the chat), asking for the usage chunk.
    for r in &requests {
        assert_eq!(r["stream"], true, "{r}");
        assert_eq!(r["stream_options"]["include_usage"], true, "{r}");
    }
    let lines = poll_until(SLOW, "the answer's usage line", || {
        let l = usage_lines(&state);
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let u = &lines[0]["usage"];
    assert_eq!(
        (
            u["input"].clone(),
            u["output"].clone(),
            u["cacheRead"].clone(),
            u["totalTokens"].clone()
        ),
        (json!(2000), json!(600), json!(400), json!(3000)),
        "{u}"
    );
    // 2 × (1000 × $3 + 300 × $15 + 200 × $0.30) per million tokens.
    let total = u["cost"]["total"].as_f64().unwrap_or(-1.0);
    assert!((total - 0.01512).abs() < 1e-9, "{u}");

    // `usage.cost`: today's bucket and the totals.
    let mut op = admin(&gw).await;
    let r = op.request("usage.cost", json!({"days": 7})).await;
    assert_eq!(r["ok"], true, "{r}");
    let p = &r["payload"];
    assert_eq!(p["days"], 7, "{p}");
    assert_eq!(p["totals"]["totalTokens"], 3000, "{p}");
    assert_eq!(p["totals"]["missingCostEntries"], 0, "{p}");
    assert!(
        (p["totals"]["totalCost"].as_f64().unwrap_or(-1.0) - 0.01512).abs() < 1e-9,
        "{p}"
    );
    let today = p["daily"][6].clone();
    assert_eq!(today["totalTokens"], 3000, "{p}");
    assert_eq!(p["daily"][5]["totalTokens"], 0, "{p}");
    // The session's row has OpenClaw's token counters: the run's input (cache reads
    // included) and output, and its context (estimated) in the model's window.
    let list = op.request("sessions.list", json!({})).await;
    let row = list["payload"]["sessions"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["key"] == "agent:main:telegram:direct:4242")
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (&row["inputTokens"], &row["outputTokens"]),
        (&json!(2400), &json!(600)),
        "{row}"
    );
    assert_eq!(row["contextTokens"], 200_000, "{row}");
    let context = row["totalTokens"].as_u64().unwrap_or(0);
    assert!(context > 100 && context < 200_000, "{row}");
    // And sessions.json, once saved.
    poll_until(SLOW, "the counters in sessions.json", || {
        let saved: Value = serde_json::from_slice(
            &std::fs::read(state.join("agents/main/sessions/sessions.json")).ok()?,
        )
        .ok()?;
        (saved["agent:main:telegram:direct:4242"]["outputTokens"] == 600).then_some(())
    })
    .await;
    for (params, want) in [
        (
            json!({"startDate": "2026-01-01"}),
            "startDate and endDate must be provided together",
        ),
        (
            json!({"startDate": "2026-02-30", "endDate": "2026-03-01"}),
            "invalid startDate",
        ),
        (
            json!({"agentScope": "all", "agentId": "main"}),
            "agentScope=all cannot be combined",
        ),
        (json!({"agentId": "ghost"}), "unknown agent id \"ghost\""),
        (json!({"days": 0}), "days"),
        (json!({"mode": "specific"}), "invalid mode"),
    ] {
        let r = op.request("usage.cost", params.clone()).await;
        assert_eq!(r["ok"], false, "{params}: {r}");
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{params}: {msg}");
    }
    let r = op
        .request("usage.cost", json!({"agentScope": "all", "days": 1}))
        .await;
    assert_eq!(r["payload"]["totals"]["totalTokens"], 3000, "{r}");
}

/// An OpenAI-compatible server that refuses `stream_options` (400 naming it) still answers:
/// the request is sent again without the field, and later ones never carry it.
#[actix_web::test]
async fn a_server_refusing_stream_options_is_asked_again_without_it() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    ai.refuse_stream_options();
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, Some(&ai), json!({}))));
    for (n, text) in ["first", "second"].into_iter().enumerate() {
        ai.push_text(&format!("answer {n}"));
        let mid = dm(&tg, 4343, text);
        assert_eq!(
            wait_reply(&tg, mid, SLOW).await.text(),
            format!("answer {n}")
        );
    }
    let asked: Vec<bool> = ai
        .requests()
        .iter()
        .map(|r| r.get("stream_options").is_some())
        .collect();
    assert_eq!(asked, [true, false, false], "refused once, then never sent");
    assert!(
        gw.stderr().contains("refuses stream_options")
            || gw.stdout().contains("refuses stream_options"),
        "the switch is logged"
    );
}

/// `sessions.usage` (OpenClaw's per-session usage, which the apps' usage views read): each
/// chat's tokens, dollars, messages, model and reply latency from its transcript, the sums
/// over the chats, one session by key, its `timeseries` and `logs`; bad params refused with
/// the reason, whatever their size.
#[actix_web::test]
async fn sessions_usage_reports_each_chat_with_its_model_and_cost() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_usage(json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}));
    let mut c: Value = serde_json::from_str(&config(
        &tg,
        Some(&ai),
        json!({"messages": {"queue": {"mode": "followup"}}}),
    ))
    .expect("cfg");
    c["models"]["providers"]["fake"]["models"] =
        json!([{"id": "flow-model", "cost": {"input": 2, "output": 10}}]);
    let dir = tempfile::tempdir().expect("state dir");
    let state = dir.path().to_path_buf();
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));
    for (chat, text) in [(4343, "first"), (4343, "second"), (4444, "hello")] {
        ai.push_text(&format!("answer to {text}"));
        let mid = dm(&tg, chat, text);
        wait_reply(&tg, mid, SLOW).await;
    }
    // Each answer's line names the model that answered.
    let lines = poll_until(SLOW, "three usage lines", || {
        let l = usage_lines(&state);
        (l.len() == 3).then_some(l)
    })
    .await;
    assert!(
        lines
            .iter()
            .all(|l| l["provider"] == "fake" && l["model"] == "flow-model"),
        "{lines:?}"
    );
    let mut op = admin(&gw).await;
    let r = op.request("sessions.usage", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    let p = &r["payload"];
    let rows = p["sessions"].as_array().cloned().unwrap_or_default();
    let row = |key: &str| {
        rows.iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let a = row("agent:main:telegram:direct:4343");
    let u = &a["usage"];
    assert_eq!(u["totalTokens"], 2200, "{a}");
    // 2 × (1000 × $2 + 100 × $10) per million tokens.
    assert!(
        (u["totalCost"].as_f64().unwrap_or(-1.0) - 0.006).abs() < 1e-12,
        "{u}"
    );
    assert_eq!(u["messageCounts"]["user"], 2, "{u}");
    assert_eq!(u["messageCounts"]["assistant"], 2, "{u}");
    assert_eq!(u["modelUsage"][0]["provider"], "fake", "{u}");
    assert_eq!(u["modelUsage"][0]["model"], "flow-model", "{u}");
    assert_eq!(u["modelUsage"][0]["count"], 2, "{u}");
    assert_eq!(u["latency"]["count"], 2, "{u}");
    assert_eq!(a["channel"], "telegram", "{a}");
    assert_eq!(a["chatType"], "direct", "{a}");
    // The session's last answering model, as its entry records it (`sessions.list` too).
    assert_eq!(
        (&a["modelProvider"], &a["model"]),
        (&json!("fake"), &json!("flow-model")),
        "{a}"
    );
    assert_eq!(a["agentId"], "main", "{a}");
    assert_eq!(
        row("agent:main:telegram:direct:4444")["usage"]["totalTokens"],
        1100
    );
    assert_eq!(p["totals"]["totalTokens"], 3300, "{p}");
    let agg = &p["aggregates"];
    assert_eq!(agg["sessionCount"], 2, "{agg}");
    assert_eq!(agg["byChannel"][0]["channel"], "telegram", "{agg}");
    assert_eq!(agg["byModel"][0]["count"], 3, "{agg}");
    assert_eq!(agg["messages"]["total"], 6, "{agg}");

    // One session by key (a bare key is the default agent's), a row limit.
    let r = op
        .request(
            "sessions.usage",
            json!({"key": "telegram:direct:4444", "range": "all"}),
        )
        .await;
    let rows = r["payload"]["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!(rows[0]["key"], "agent:main:telegram:direct:4444");
    let r = op
        .request("sessions.usage", json!({"limit": 1, "agentScope": "all"}))
        .await;
    assert_eq!(
        r["payload"]["sessions"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );
    assert_eq!(r["payload"]["aggregates"]["sessionCount"], 2, "{r}");

    // Its answers over time, and its last messages.
    let key = "agent:main:telegram:direct:4343";
    let r = op
        .request("sessions.usage.timeseries", json!({"key": key}))
        .await;
    let points = r["payload"]["points"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(points.len(), 2, "{r}");
    assert_eq!(points[1]["cumulativeTokens"], 2200, "{r}");
    let r = op
        .request("sessions.usage.logs", json!({"key": key, "limit": 2}))
        .await;
    let logs = r["payload"]["logs"].as_array().cloned().unwrap_or_default();
    assert_eq!(logs.len(), 2, "{r}");
    assert_eq!(
        (&logs[0]["role"], &logs[0]["content"]),
        (&json!("user"), &json!("second")),
        "{r}"
    );
    assert_eq!(logs[1]["tokens"], 1100, "{r}");

    // Bad params: the reason, the caller's text shortened.
    let huge = "🦀".repeat(50_000);
    for (method, params, want) in [
        ("sessions.usage", json!({"range": "2w"}), "invalid range"),
        ("sessions.usage", json!({"bogus": 1}), "bogus"),
        ("sessions.usage", json!({"limit": 0}), "limit"),
        (
            "sessions.usage",
            json!({"agentScope": "all", "key": key}),
            "cannot be combined",
        ),
        (
            "sessions.usage",
            json!({"key": huge.clone()}),
            "Invalid session reference",
        ),
        (
            "sessions.usage",
            json!({"startDate": "2026-12-01"}),
            "provided together",
        ),
        ("sessions.usage.logs", json!({}), "key is required for logs"),
        (
            "sessions.usage.timeseries",
            json!({"key": huge.clone()}),
            "Invalid session key",
        ),
    ] {
        let r = op.request(method, params.clone()).await;
        assert_eq!(r["ok"], false, "{method} {params}: {r}");
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{method}: {msg}");
        assert!(msg.len() < 2_000, "{method}: {} bytes", msg.len());
    }
}

/// OpenClaw's per-reply usage footer: `messages.responseUsage` gives a chat's default,
/// `/usage` sets the chat's own (off → tokens → full → off without a word; kept by `/new`,
/// `reset` back to the default); the line goes under the reply to the chat, never into the
/// transcript.
#[actix_web::test]
async fn usage_footer_follows_the_config_and_the_chats_choice() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_usage(json!({"prompt_tokens": 1234, "completion_tokens": 340, "total_tokens": 1574}));
    // 4343 is listed by id (their DM is private); anyone else may write too.
    let mut c: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({"allowFrom": ["*", "4343"]})))
            .expect("cfg");
    c["models"]["providers"]["fake"]["models"] =
        json!([{"id": "flow-model", "cost": {"input": 3, "output": 15}}]);
    c["messages"] = json!({"responseUsage": {"default": "off", "telegram": "tokens"}});
    let dir = tempfile::tempdir().expect("state dir");
    let state = dir.path().to_path_buf();
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));
    let user = 4343;
    let ask = |answer: &str| {
        ai.push_text(answer);
        dm(&tg, user, "a question")
    };
    let command = |text: &str| dm(&tg, user, text);

    // The channel's default: tokens.
    let m = ask("first answer");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "first answer\nUsage: 1.2k in / 340 out"
    );
    // `/usage` alone: the next mode, full (with the cost: 1234 × $3 + 340 × $15 per M).
    let m = command("/usage");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(r.text().starts_with("📊 Usage footer full"), "{}", r.text());
    let m = ask("second answer");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "second answer\nUsage: 1.2k in / 340 out · est $0.0088"
    );
    // An explicit off wins over the default, and `/new` keeps it.
    let m = command("/usage off");
    wait_reply(&tg, m, SLOW).await;
    let m = command("/new");
    wait_reply(&tg, m, SLOW).await;
    let m = ask("third answer");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "third answer");
    // `reset`: back to the channel's default.
    let m = command("/usage reset");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(
        r.text()
            .starts_with("📊 Usage footer back to the configured default: tokens"),
        "{}",
        r.text()
    );
    let m = ask("fourth answer");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "fourth answer\nUsage: 1.2k in / 340 out"
    );
    // An operator sets it too (`sessions.patch {responseUsage}`; OpenClaw's field in the row).
    let mut op = admin(&gw).await;
    let key = format!("agent:main:telegram:direct:{user}");
    let r = op
        .request(
            "sessions.patch",
            json!({"key": key, "responseUsage": "full"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["entry"]["responseUsage"], "full", "{r}");
    let m = ask("fifth answer");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "fifth answer\nUsage: 1.2k in / 340 out · est $0.0088"
    );
    let r = op
        .request(
            "sessions.patch",
            json!({"key": key, "responseUsage": "loud"}),
        )
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    // `/usage cost`: this session (the three answers since `/new`), today and the last 30
    // days (all five), in OpenClaw's words.
    let m = command("/usage cost");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "💸 Usage cost\nSession $0.03 · 4.7k tokens\nToday $0.04\nLast 30d $0.04"
    );
    // A stranger's open DM: its session's line only, not the agent's totals.
    ai.push_text("stranger answer");
    let m = dm(&tg, 4399, "hello");
    wait_reply(&tg, m, SLOW).await;
    let m = dm(&tg, 4399, "/usage cost");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "💸 Usage cost\nSession $0.0088 · 1.6k tokens\nToday and the last 30 days: in a private chat with the bot (they cover every chat)."
    );
    // A word it does not take.
    let m = command("/usage loud");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(
        r.text().starts_with("⚠️ \"loud\" is not a usage mode"),
        "{}",
        r.text()
    );
    // The transcripts hold the answers without the line.
    let answers: Vec<String> = crate::compaction::transcript_lines(&state)
        .into_iter()
        .filter(|v| v["role"] == "assistant")
        .filter_map(|v| v["content"].as_str().map(str::to_owned))
        .collect();
    assert!(answers.contains(&"fourth answer".to_owned()), "{answers:?}");
    assert!(!answers.iter().any(|a| a.contains("Usage:")), "{answers:?}");
}
