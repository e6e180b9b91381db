//! Models configured the way OpenClaw users write them, against the real binary: a
//! built-in provider (`anthropic/…`) with only its key, Anthropic's Messages API with a
//! tool round, keys from `<state>/.env`, `env.vars`, `${VAR}` and env SecretRefs,
//! `agents.defaults.model.fallbacks`, and the refusals at start.

use serde_json::{Value, json};

use crate::nodes::ALL_OPERATOR;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{CliHome, TestGateway, WsClient, cli_params};
use crate::telegram_flow::{GW_ARGS, GW_TOKEN, SLOW, TG_TOKEN, admin, config, dm, wait_reply};

const KEY: &str = "sk-ant-it-0123456789";

/// The Telegram config of `telegram_flow` without its model, plus `extra` merged at the
/// top level.
fn with_models(tg: &FakeTelegram, extra: Value) -> String {
    let mut cfg: Value = serde_json::from_str(&config(tg, None, json!({}))).expect("flow config");
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    cfg.to_string()
}

#[actix_web::test]
async fn an_anthropic_model_needs_only_its_key_and_runs_tools_over_the_messages_api() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start_with_key(KEY);
    // OpenClaw's shortest form: the model as a string, the built-in provider (its base URL
    // pointed at the fake), the key in the state directory's .env.
    let cfg = with_models(
        &tg,
        json!({
            "models": {"providers": {"anthropic": {"baseUrl": ai.anthropic_base_url()}}},
            "agents": {"defaults": {"model": "anthropic/claude-it"}},
        }),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".env"),
        format!("# keys\nexport ANTHROPIC_API_KEY=\"{KEY}\"\n"),
    )
    .expect("write .env");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&cfg));
    crate::telegram_flow::poll_until(SLOW, "the start line naming the model", || {
        gw.stdout()
            .contains("agent: model anthropic/claude-it")
            .then_some(())
    })
    .await;

    let call_id = ai.push_tool_call("nodes", json!({"action": "status"}));
    ai.push_text("No nodes are connected.");
    let id = dm(&tg, 4242, "which nodes are there? 🔌");
    let reply = wait_reply(&tg, id, SLOW).await;
    assert_eq!(reply.text(), "No nodes are connected.");

    let reqs = ai.recorded();
    assert_eq!(reqs.len(), 2, "{:?}", ai.requests());
    for r in &reqs {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.header("x-api-key"), Some(KEY));
        assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(
            r.authorization, None,
            "no Bearer header on the Messages API"
        );
    }
    let first = &reqs[0].body;
    assert_eq!(first["model"], "claude-it");
    assert_eq!(first["max_tokens"], 8192);
    assert!(
        first["system"].as_str().is_some_and(|s| !s.is_empty()),
        "system prompt at the top level: {first}"
    );
    let msgs = first["messages"].as_array().expect("messages");
    assert!(msgs.iter().all(|m| m["role"] != "system"), "{first}");
    let last = msgs.last().expect("a user message");
    assert_eq!(last["role"], "user");
    assert!(
        last.to_string().contains("which nodes are there? 🔌"),
        "{last}"
    );
    let tools = first["tools"].as_array().expect("tools");
    let nodes = tools
        .iter()
        .find(|t| t["name"] == "nodes")
        .expect("the nodes tool");
    assert_eq!(nodes["input_schema"]["type"], "object", "{nodes}");

    // The second round carries the tool call and its result, paired by id.
    let second = &reqs[1].body;
    let msgs = second["messages"].as_array().expect("messages");
    let n = msgs.len();
    assert!(n >= 3, "{second}");
    let assistant = &msgs[n - 2];
    assert_eq!(assistant["role"], "assistant", "{second}");
    let tool_use = assistant["content"]
        .as_array()
        .and_then(|c| c.iter().find(|b| b["type"] == "tool_use"))
        .unwrap_or_else(|| panic!("tool_use block: {assistant}"));
    assert_eq!(tool_use["id"], call_id);
    assert_eq!(tool_use["name"], "nodes");
    assert_eq!(tool_use["input"], json!({"action": "status"}));
    let result = &msgs[n - 1];
    assert_eq!(result["role"], "user", "{second}");
    let block = &result["content"][0];
    assert_eq!(block["type"], "tool_result", "{result}");
    assert_eq!(block["tool_use_id"], call_id, "{result}");
    assert!(
        block["content"]
            .as_str()
            .is_some_and(|c| c.contains("\"nodes\"")),
        "{result}"
    );
    // The key is nowhere in the gateway's output.
    assert!(!gw.stdout().contains(KEY) && !gw.stderr().contains(KEY));
}

#[actix_web::test]
async fn a_failing_primary_falls_back_for_that_turn_only_with_keys_from_the_environment() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start_with_key(KEY);
    let cfg = with_models(
        &tg,
        json!({
            "env": {"vars": {"FAKE_KEY": KEY}},
            "models": {"providers": {
                "fake": {
                    "baseUrl": ai.base_url(),
                    "apiKey": "${FAKE_KEY}",
                    "headers": {"X-Trace": "${NOT_SET_ANYWHERE}", "X-Team": "it"},
                    "models": [{"id": "primary-model"}],
                },
                "anthropic": {
                    "baseUrl": ai.anthropic_base_url(),
                    "apiKey": {"source": "env", "provider": "default", "id": "ANTHROPIC_API_KEY"},
                },
            }},
            "agents": {"defaults": {
                "models": {"anthropic/claude-it": {"alias": "backup", "params": {"maxTokens": 512}}},
                "model": {"primary": "fake/primary-model", "fallbacks": ["backup"]},
            }},
        }),
    );
    let gw = TestGateway::start(GW_ARGS, &[("ANTHROPIC_API_KEY", KEY)], Some(&cfg));
    // An unset reference is a warning naming the key, not a refusal.
    crate::telegram_flow::poll_until(SLOW, "the unset-reference warning", || {
        gw.stderr()
            .contains("models.providers.fake.headers.X-Trace: ${NOT_SET_ANYWHERE} is not set")
            .then_some(())
    })
    .await;

    // Turn 1: the primary refuses the request (fatal, no retry); the fallback answers.
    ai.push_status(
        400,
        json!({"error": {"message": "model overloaded with nonsense"}}),
    );
    ai.push_text("Answer from the fallback.");
    let id = dm(&tg, 7, "first");
    assert_eq!(
        wait_reply(&tg, id, SLOW).await.text(),
        "Answer from the fallback."
    );
    // Turn 2 starts from the primary again.
    ai.push_text("The primary is back.");
    let id = dm(&tg, 7, "second");
    assert_eq!(
        wait_reply(&tg, id, SLOW).await.text(),
        "The primary is back."
    );

    let reqs = ai.recorded();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1/chat/completions"
        ]
    );
    assert_eq!(
        reqs[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str()),
        "${{FAKE_KEY}} from env.vars"
    );
    assert_eq!(reqs[0].header("x-team"), Some("it"));
    assert_eq!(reqs[0].header("x-trace"), Some("${NOT_SET_ANYWHERE}"));
    assert_eq!(reqs[1].header("x-api-key"), Some(KEY), "env SecretRef");
    assert_eq!(
        reqs[1].body["max_tokens"], 512,
        "params.maxTokens of the alias"
    );
    assert_eq!(reqs[2].body["model"], "primary-model");

    let (_, m) = crate::metrics::scrape_as(gw.port, GW_TOKEN);
    assert_eq!(
        crate::metrics::get(&m, "openclaw_model_fallbacks_total"),
        1.0
    );

    // config.get shows the file as written and never the resolved key.
    let mut op = admin(&gw).await;
    let got = op.request("config.get", json!({})).await;
    assert_eq!(got["ok"], true, "{got}");
    let text = got.to_string();
    assert!(!text.contains(KEY), "a resolved key leaked: {text}");
    let raw = got["payload"]["raw"].as_str().unwrap_or_default();
    assert!(
        raw.contains("${FAKE_KEY}"),
        "references stay visible: {raw}"
    );
    assert_eq!(
        got["payload"]["parsed"]["models"]["providers"]["fake"]["apiKey"],
        "${FAKE_KEY}"
    );
    assert_eq!(
        got["payload"]["config"]["models"]["providers"]["fake"]["apiKey"],
        "__OPENCLAW_REDACTED__"
    );
    assert!(!gw.stdout().contains(KEY) && !gw.stderr().contains(KEY));
}

#[test]
fn model_and_secret_refusals_name_the_key_and_the_fix() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let run = |extra: Value, env: &[(&str, &str)]| {
        let home = CliHome::with_config(&with_models(&tg, extra));
        let out = home.run(GW_ARGS, env);
        assert_eq!(out.code, Some(78), "EX_CONFIG: {out}");
        assert!(!out.stdout.contains("listening on"), "{out}");
        out.stderr
    };
    // A built-in provider without its key.
    let err = run(
        json!({"agents": {"defaults": {"model": "anthropic/claude-opus-5"}}}),
        &[],
    );
    assert!(
        err.contains("ANTHROPIC_API_KEY") && err.contains("Fix:"),
        "{err}"
    );
    // A SecretRef to a variable that is not set.
    let err = run(
        json!({"channels": {"telegram": {"botToken": {"source": "env", "id": "TG_BOT_TOKEN_IT"}}}}),
        &[],
    );
    assert!(
        err.contains("channels.telegram.botToken")
            && err.contains("TG_BOT_TOKEN_IT")
            && err.contains("Fix:"),
        "{err}"
    );
    // A provider neither configured nor built in; an API this gateway does not speak.
    let err = run(json!({"agents": {"defaults": {"model": "acme/m1"}}}), &[]);
    assert!(err.contains("\"acme\"") && err.contains("Fix:"), "{err}");
    let err = run(
        json!({"models": {"providers": {"openai": {"api": "google-generative-ai"}}},
               "agents": {"defaults": {"model": "openai/gpt-5"}}}),
        &[("OPENAI_API_KEY", "k")],
    );
    assert!(
        err.contains("google-generative-ai") && err.contains("anthropic-messages"),
        "{err}"
    );
}

#[actix_web::test]
async fn a_bot_token_from_a_secret_ref_starts_the_channel() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = config(
        &tg,
        None,
        json!({"botToken": {"source": "env", "id": "TG_TOKEN_FROM_ENV"}}),
    );
    let gw = TestGateway::start(GW_ARGS, &[("TG_TOKEN_FROM_ENV", TG_TOKEN)], Some(&cfg));
    let id = dm(&tg, 9, "/whoami");
    let reply = wait_reply(&tg, id, SLOW).await;
    assert!(!reply.text().is_empty());
    // The token from the environment is redacted from logs like a configured one.
    assert!(!gw.stdout().contains(TG_TOKEN) && !gw.stderr().contains(TG_TOKEN));
}

#[actix_web::test]
async fn a_run_over_its_time_limit_is_stopped_with_an_apology_and_the_chat_goes_on() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("flow config");
    cfg["agents"]["defaults"]["timeoutSeconds"] = json!(1);
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg.to_string()));
    // The provider answers, but only after 20 s (its own request timeout is 120 s).
    ai.push(
        crate::support::fake_openai::FakeReply::text("too late")
            .delayed(std::time::Duration::from_secs(20)),
    );
    let id = dm(&tg, 31, "think very hard");
    let reply = wait_reply(&tg, id, SLOW).await;
    assert!(
        reply.text().contains("took longer than 1 s") && reply.text().contains("stopped"),
        "{}",
        reply.text()
    );
    // The chat's queue is free again, and the apology is in the transcript.
    ai.push_text("Quick answer.");
    let id = dm(&tg, 31, "something quick");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "Quick answer.");
    let second = ai.wait_requests(2, SLOW);
    let seen = second[1].to_string();
    assert!(
        seen.contains("think very hard") && seen.contains("took longer than 1 s"),
        "the next run sees the stopped turn: {seen}"
    );
    drop(gw);
}

#[actix_web::test]
async fn a_chat_chooses_its_model_among_the_configured_ones_and_an_operator_can_too() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = with_models(
        &tg,
        json!({
            "models": {"providers": {"fake": {
                "baseUrl": ai.base_url(),
                "models": [
                    {"id": "m1", "contextWindow": 32000, "input": ["text", "image"]},
                    {"id": "m2", "name": "Model Two"},
                    {"id": "m3"},
                ],
            }}},
            "agents": {"defaults": {
                "models": {"fake/m2": {"alias": "Second"}},
                "model": {"primary": "fake/m1", "fallbacks": ["fake/m3"]},
            }},
        }),
    );
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg));
    let key = "agent:main:telegram:direct:61";
    let ask = |text: &str| dm(&tg, 61, text);

    let r = wait_reply(&tg, ask("/model"), SLOW).await;
    assert!(
        r.text().contains("fake/m1") && r.text().contains("configured default"),
        "{}",
        r.text()
    );
    let r = wait_reply(&tg, ask("/models"), SLOW).await;
    for want in ["fake/m1", "fake/m2 (Second)", "fake/m3"] {
        assert!(r.text().contains(want), "{want} in {}", r.text());
    }
    let r = wait_reply(&tg, ask("/model nope/never"), SLOW).await;
    assert!(
        r.text().contains("Model not changed") && r.text().contains("unknown model"),
        "{}",
        r.text()
    );
    let r = wait_reply(&tg, ask("/model fake/m2 -g"), SLOW).await;
    assert!(r.text().contains("only this chat"), "{}", r.text());

    // By alias (any case): the chat's runs use it.
    let r = wait_reply(&tg, ask("/model second"), SLOW).await;
    assert!(r.text().contains("fake/m2"), "{}", r.text());
    ai.push_text("Answer from m2.");
    let id = ask("hello");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "Answer from m2.");
    let reqs = ai.requests();
    assert_eq!(reqs.last().map(|b| b["model"].clone()), Some(json!("m2")));
    let r = wait_reply(&tg, ask("/status"), SLOW).await;
    assert!(
        r.text().contains("Model: fake/m2 (chosen for this chat)"),
        "{}",
        r.text()
    );
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(gw.dir.path().join("agents/main/sessions/sessions.json"))
            .expect("sessions.json"),
    )
    .expect("sessions.json is JSON");
    assert_eq!(index[key]["providerOverride"], "fake", "{index}");
    assert_eq!(index[key]["modelOverride"], "m2", "{index}");
    assert_eq!(index[key]["modelOverrideSource"], "user", "{index}");

    // A chosen model is strict: when it fails, the default's fallback does not answer.
    let before = ai.request_count();
    ai.push_status(400, json!({"error": {"message": "no such model"}}));
    let id = ask("again");
    let r = wait_reply(&tg, id, SLOW).await;
    assert!(r.text().contains("refused the request"), "{}", r.text());
    assert_eq!(ai.request_count(), before + 1, "no fallback call");

    // The operator side: models.list, then sessions.patch {model}.
    let (mut op, hello) = WsClient::hello(gw.port, cli_params(GW_TOKEN, ALL_OPERATOR)).await;
    let list = op.request("models.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    let models = list["payload"]["models"].as_array().expect("models");
    let ids: Vec<String> = models
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["provider"].as_str().unwrap_or(""),
                m["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        ids,
        ["fake/m1", "fake/m3", "fake/m2"],
        "default, fallback, then the others: {list}"
    );
    assert_eq!(models[2]["alias"], "Second", "{list}");
    assert_eq!(models[2]["name"], "Model Two", "{list}");
    assert_eq!(models[1]["name"], "m3", "no name: the id {list}");
    assert_eq!(models[0]["available"], true, "{list}");
    // OpenClaw's role tags; details only when asked.
    assert_eq!(models[0]["tags"], json!(["default"]), "{list}");
    assert_eq!(models[1]["tags"], json!(["fallback#1"]), "{list}");
    assert_eq!(models[2]["tags"], json!(["configured"]), "{list}");
    assert!(models[0].get("contextWindow").is_none(), "{list}");
    assert!(models[0].get("input").is_none(), "{list}");
    // The published-catalog contract the real `openclaw models list` requires (its run
    // against our gateway is in `interop::real_cli_finds_our_gateway_by_its_lock_file`).
    assert!(
        hello["features"]["capabilities"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("published-model-catalog"))),
        "{hello}"
    );
    let detail = op
        .request(
            "models.list",
            json!({"view": "all", "includeDetails": true, "provider": "FAKE", "agentId": "main"}),
        )
        .await;
    assert_eq!(detail["ok"], true, "{detail}");
    let m1 = &detail["payload"]["models"][0];
    assert_eq!(m1["contextWindow"], 32000, "{detail}");
    assert_eq!(m1["input"], json!(["text", "image"]), "{detail}");
    assert_eq!(
        m1["local"], true,
        "the fake provider is on loopback: {detail}"
    );
    assert_eq!(
        detail["payload"]["models"][2]["input"],
        json!(["text"]),
        "{detail}"
    );
    let none = op
        .request("models.list", json!({"provider": "anthropic"}))
        .await;
    assert_eq!(none["payload"]["models"], json!([]), "{none}");
    for (params, want) in [
        (
            json!({"view": "mine"}),
            "at /view: must be equal to one of the allowed values",
        ),
        (json!({"bogus": 1}), "at root: unexpected property 'bogus'"),
        (
            json!({"provider": ""}),
            "at /provider: must NOT have fewer than 1 characters",
        ),
        (
            json!({"includeDetails": "yes"}),
            "at /includeDetails: must be boolean",
        ),
        (
            json!({"refresh": true, "preparedOnly": true}),
            "must NOT be valid",
        ),
        (json!({"agentId": "nobody"}), "unknown agent id: nobody"),
        (json!([]), "invalid models.list params: must be object"),
    ] {
        let bad = op.request("models.list", params.clone()).await;
        assert_eq!(bad["ok"], false, "{params}: {bad}");
        assert!(
            bad["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {bad}"
        );
    }
    let bad = op
        .request(
            "sessions.patch",
            json!({"key": key, "model": "gpt-unknown"}),
        )
        .await;
    assert_eq!(bad["ok"], false, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown model")),
        "{bad}"
    );
    let back = op
        .request("sessions.patch", json!({"key": key, "model": null}))
        .await;
    assert_eq!(back["ok"], true, "{back}");
    assert_eq!(
        back["payload"]["resolved"]["modelProvider"], "fake",
        "{back}"
    );
    assert_eq!(back["payload"]["resolved"]["model"], "m1", "{back}");
    assert!(
        back["payload"]["entry"].get("modelOverride").is_none(),
        "{back}"
    );
    ai.push_text("Answer from m1.");
    let id = ask("and now?");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "Answer from m1.");
    assert_eq!(
        ai.requests().last().map(|b| b["model"].clone()),
        Some(json!("m1"))
    );
    let set = op
        .request("sessions.patch", json!({"key": key, "model": "m3"}))
        .await;
    assert_eq!(set["payload"]["resolved"]["model"], "m3", "{set}");
    assert_eq!(set["payload"]["entry"]["modelOverride"], "m3", "{set}");

    // `agent {model}` (the real CLI's `openclaw agent --model`): that run only, by alias
    // too; the session keeps its own; an unknown model or a non-admin caller is refused.
    ai.push_text("Answer from m2.");
    let id = op
        .send_request(
            "agent",
            json!({"message": "once with the second", "sessionKey": key, "model": "Second",
                "idempotencyKey": "agent-model-1"}),
        )
        .await;
    let accepted = op.response(&id).await;
    assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
    let done = op.response(&id).await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    assert_eq!(
        ai.requests().last().map(|b| b["model"].clone()),
        Some(json!("m2"))
    );
    ai.push_text("Answer from m3.");
    let id = ask("and the session's own?");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "Answer from m3.");
    assert_eq!(
        ai.requests().last().map(|b| b["model"].clone()),
        Some(json!("m3"))
    );
    let bad = op
        .request(
            "agent",
            json!({"message": "x", "model": "nope/never", "idempotencyKey": "agent-model-2"}),
        )
        .await;
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
    let (mut writer, _) = crate::support::WsClient::hello(
        gw.port,
        crate::support::cli_params(
            crate::telegram_flow::GW_TOKEN,
            &["operator.read", "operator.write"],
        ),
    )
    .await;
    let denied = writer
        .request(
            "agent",
            json!({"message": "x", "model": "m2", "idempotencyKey": "agent-model-3"}),
        )
        .await;
    assert_eq!(
        denied["error"]["message"], "missing scope: operator.admin",
        "{denied}"
    );
}

#[test]
fn models_status_and_list_show_each_model_and_where_its_key_comes_from() {
    let home = CliHome::with_config(
        r#"{
          env: { vars: { OPENAI_API_KEY: "sk-cli-secret-1" } },
          models: { providers: { local: { baseUrl: "http://127.0.0.1:9/v1", models: [{ id: "qwen" }] } } },
          agents: { defaults: {
            models: { "openai/gpt-4o-mini": { alias: "mini" } },
            model: { primary: "anthropic/claude-opus-5", fallbacks: ["mini"] } } },
        }"#,
    );
    // The gateway would refuse this config: the same message, exit 78.
    let out = home.run(&["models"], &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("ANTHROPIC_API_KEY") && out.stderr.contains("Fix:"),
        "{out}"
    );

    home.write(".env", "ANTHROPIC_API_KEY=sk-cli-secret-2\n");
    let out = home.run(&["models", "status"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("Default: anthropic/claude-opus-5 · anthropic-messages · https://api.anthropic.com · key from ANTHROPIC_API_KEY"),
        "{out}"
    );
    assert!(
        out.stdout.contains("Fallback: openai/gpt-4o-mini (mini) · openai-responses · https://api.openai.com/v1 · key from OPENAI_API_KEY"),
        "{out}"
    );
    let out = home.run(&["models", "list", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let refs: Vec<&str> = v["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["ref"].as_str())
        .collect();
    assert_eq!(
        refs,
        [
            "anthropic/claude-opus-5",
            "openai/gpt-4o-mini",
            "local/qwen"
        ]
    );
    assert_eq!(v["models"][2]["keySource"], Value::Null);
    for out in [
        home.run(&["models"], &[]),
        home.run(&["models", "list"], &[]),
    ] {
        assert!(
            !out.stdout.contains("sk-cli-secret") && !out.stderr.contains("sk-cli-secret"),
            "{out}"
        );
    }
}

/// A gateway whose fake provider streams, an operator connected, and `answer` scripted in
/// pieces 300 ms apart.
async fn streaming_setup(
    answer: &str,
) -> (
    FakeTelegram,
    FakeOpenAi,
    TestGateway,
    crate::support::WsClient,
) {
    use crate::support::fake_openai::FakeReply;
    use crate::support::{WsClient, cli_params};
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, Some(&ai), json!({}))));
    let (op, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    ai.push(FakeReply::text(answer).with_chunk_delay(std::time::Duration::from_millis(300)));
    (tg, ai, gw, op)
}

/// Sends `message` as run `run_id` and returns the run's `chat` event payloads up to the
/// first that is not a `delta`.
async fn streamed_run(
    op: &mut crate::support::WsClient,
    message: &str,
    run_id: &str,
) -> Vec<Value> {
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": message, "idempotencyKey": run_id}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let mut events = Vec::new();
    loop {
        let ev = op.event_within("chat", SLOW).await;
        if ev["payload"]["runId"] != run_id {
            continue;
        }
        let done = ev["payload"]["state"] != "delta";
        events.push(ev["payload"].clone());
        if done {
            return events;
        }
    }
}

#[actix_web::test]
async fn operators_see_the_answer_while_the_model_streams_it() {
    let answer = "Once upon a time 🦞, a lobster ran a gateway — and it streamed.";
    let (_tg, ai, _gw, mut op) = streaming_setup(answer).await;
    let events = streamed_run(&mut op, "tell me a story", "stream-1").await;
    let last = events.last().expect("events");
    assert_eq!(last["state"], "final", "{events:?}");
    assert_eq!(last["message"]["content"][0]["text"], answer);
    // Pieces arrived before the end, appended in order, each with the text so far.
    let pieces: Vec<&Value> = events
        .iter()
        .filter(|e| e["state"] == "delta" && e.get("replace").is_none())
        .collect();
    assert!(pieces.len() >= 2, "streamed in pieces: {events:?}");
    let joined: String = pieces
        .iter()
        .filter_map(|e| e["deltaText"].as_str())
        .collect();
    assert_eq!(joined, answer, "{events:?}");
    for p in &pieces {
        let so_far = p["message"]["content"][0]["text"].as_str().unwrap_or("");
        assert!(answer.starts_with(so_far), "{p}");
    }
    // Then the whole answer replaces them, then the end; seq grows throughout.
    let end = &events[events.len() - 2];
    assert_eq!(end["replace"], true, "{end}");
    assert_eq!(end["deltaText"], answer, "{end}");
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(ai.requests()[0]["stream"], true);
}

/// A long streamed answer: deltas stop repeating the whole text past 64 KiB (linear, not
/// quadratic, bandwidth per operator), and the end still carries all of it once.
#[actix_web::test]
async fn a_long_streamed_answer_stops_repeating_itself_in_each_delta() {
    // 160 003 characters (280 003 bytes), streamed in 4 pieces.
    let answer: String = "ab🦞 ".repeat(40_000) + "end";
    let (_tg, _ai, _gw, mut op) = streaming_setup(&answer).await;
    let events = streamed_run(&mut op, "go long", "long-1").await;
    let fin = events.last().expect("events");
    let fin_text = fin["message"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(
        fin_text == answer,
        "final: {} bytes, state {}, starts {:?}",
        fin_text.len(),
        fin["state"],
        fin_text.chars().take(80).collect::<String>()
    );
    let pieces: Vec<&Value> = events
        .iter()
        .filter(|e| e["state"] == "delta" && e.get("replace").is_none())
        .collect();
    assert!(pieces.len() >= 3, "{}", pieces.len());
    let mut so_far = 0usize;
    for p in &pieces {
        so_far += p["deltaText"].as_str().map_or(0, str::len);
        match p.get("message") {
            Some(m) => assert!(
                so_far <= 64 * 1024
                    && m["content"][0]["text"].as_str().map(str::len) == Some(so_far),
                "snapshot at {so_far} bytes"
            ),
            None => assert!(so_far > 64 * 1024, "no snapshot at {so_far} bytes"),
        }
    }
    assert!(so_far > 64 * 1024);
}

/// A gateway whose built-in `openai` provider (key `key` in the environment) is a streaming
/// fake requiring that key, with `defaults` as `agents.defaults`.
fn openai_gateway(key: &str, defaults: Value) -> (FakeTelegram, FakeOpenAi, TestGateway) {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start_with_key(key);
    ai.set_streaming(true);
    let cfg = with_models(
        &tg,
        json!({
            "models": {"providers": {"openai": {"baseUrl": ai.base_url()}}},
            "agents": {"defaults": defaults},
        }),
    );
    let gw = TestGateway::start(GW_ARGS, &[("OPENAI_API_KEY", key)], Some(&cfg));
    (tg, ai, gw)
}

/// OpenClaw's built-in `openai` provider speaks OpenAI's Responses API: a Telegram turn with
/// a tool round (the call and its result paired by `call_id`), then an operator's run
/// streamed from `response.output_text.delta` events.
#[actix_web::test]
async fn the_openai_provider_speaks_the_responses_api_with_tool_rounds_and_streaming() {
    use crate::support::fake_openai::FakeReply;
    use crate::support::{WsClient, cli_params};
    const OAI_KEY: &str = "sk-oai-it-0123456789";
    let (tg, ai, gw) = openai_gateway(OAI_KEY, json!({"model": "openai/gpt-it"}));

    let call_id = ai.push_tool_call("nodes", json!({"action": "status"}));
    ai.push_text("No nodes are connected.");
    let id = dm(&tg, 4243, "which nodes are there? 🔌");
    let reply = wait_reply(&tg, id, SLOW).await;
    assert_eq!(reply.text(), "No nodes are connected.");

    let reqs = ai.recorded();
    assert_eq!(reqs.len(), 2, "{:?}", ai.requests());
    for r in &reqs {
        assert_eq!(r.path, "/v1/responses");
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {OAI_KEY}").as_str())
        );
        assert_eq!(r.body["model"], "gpt-it");
        assert_eq!(r.body["store"], false, "{}", r.body);
        assert!(r.body.get("messages").is_none(), "{}", r.body);
    }
    let first = &reqs[0].body;
    let input = first["input"].as_array().expect("input");
    assert_eq!(input[0]["role"], "system", "{first}");
    assert!(
        input[0]["content"].as_str().is_some_and(|s| !s.is_empty()),
        "{first}"
    );
    let last = input.last().expect("the user's message");
    assert_eq!(
        (&last["type"], &last["role"]),
        (&json!("message"), &json!("user"))
    );
    assert!(
        last.to_string().contains("which nodes are there? 🔌"),
        "{last}"
    );
    let nodes = first["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "nodes"))
        .unwrap_or_else(|| panic!("the nodes tool: {first}"));
    assert_eq!(nodes["type"], "function", "{nodes}");
    assert_eq!(nodes["strict"], false, "{nodes}");
    assert_eq!(nodes["parameters"]["type"], "object", "{nodes}");

    // The second round ends with the call and its result, paired by call_id.
    let input = reqs[1].body["input"].as_array().expect("input");
    let n = input.len();
    let (call, result) = (&input[n - 2], &input[n - 1]);
    assert_eq!(call["type"], "function_call", "{call}");
    assert_eq!(call["call_id"], call_id);
    assert_eq!(call["name"], "nodes");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap_or("")).expect("JSON");
    assert_eq!(args, json!({"action": "status"}));
    assert_eq!(result["type"], "function_call_output", "{result}");
    assert_eq!(result["call_id"], call_id);
    assert!(
        result["output"]
            .as_str()
            .is_some_and(|o| o.contains("\"nodes\"")),
        "{result}"
    );

    // An operator's run is streamed.
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    let answer = "Réponse en flux 🦞 — piece by piece.";
    ai.push(FakeReply::text(answer).with_chunk_delay(std::time::Duration::from_millis(300)));
    let events = streamed_run(&mut op, "stream it", "responses-1").await;
    let fin = events.last().expect("events");
    assert_eq!(fin["state"], "final", "{events:?}");
    assert_eq!(fin["message"]["content"][0]["text"], answer);
    let joined: String = events
        .iter()
        .filter(|e| e["state"] == "delta" && e.get("replace").is_none())
        .filter_map(|e| e["deltaText"].as_str())
        .collect();
    assert_eq!(joined, answer, "streamed in pieces: {events:?}");
    assert_eq!(
        ai.requests().last().map(|b| b["stream"].clone()),
        Some(json!(true))
    );
    assert!(!gw.stdout().contains(OAI_KEY) && !gw.stderr().contains(OAI_KEY));
}

/// OpenAI's reasoning models keep their chain of thought across a run's tool calls even
/// with `store: false`: with a thinking level the request asks for the encrypted reasoning,
/// and the next round sends the answer's whole output back (reasoning, then the call with
/// its item id) — which the fake, like the real API, verifies. When the provider refuses
/// it (`invalid_encrypted_content`, as after a key change), the round is asked again once
/// without it and the chat still gets its answer.
#[actix_web::test]
async fn openai_reasoning_goes_back_to_its_model_in_the_runs_tool_rounds() {
    use crate::support::fake_openai::FakeReply;
    const OAI_KEY: &str = "sk-oai-reason-0123456789";
    let (tg, ai, gw) = openai_gateway(
        OAI_KEY,
        json!({"model": "openai/gpt-5-it", "thinkingDefault": "high"}),
    );
    let thinking_call = |signature: &str| {
        FakeReply::completion(
            json!({"role": "assistant", "content": "Let me look. 🔍",
                "thinking": {"thinking": "", "signature": signature},
                "tool_calls": [{"id": "call_r1", "type": "function",
                    "function": {"name": "nodes", "arguments": "{\"action\":\"status\"}"}}]}),
            "tool_calls",
        )
    };

    ai.push(thinking_call("gAAAAB-enc-one"));
    ai.push_text("No nodes are connected.");
    let id = dm(&tg, 4545, "which nodes? 🤔");
    assert_eq!(
        wait_reply(&tg, id, SLOW).await.text(),
        "No nodes are connected."
    );
    let reqs = ai.recorded();
    assert_eq!(reqs.len(), 2, "{:?}", ai.requests());
    for r in &reqs {
        assert_eq!(r.body["reasoning"]["effort"], "high", "{}", r.body);
        assert_eq!(r.body["include"], json!(["reasoning.encrypted_content"]));
    }
    let input = reqs[1].body["input"].as_array().expect("input");
    let at = input
        .iter()
        .position(|i| i["type"] == "reasoning")
        .unwrap_or_else(|| panic!("the reasoning went back: {}", reqs[1].body));
    assert_eq!(
        input[at],
        json!({"type": "reasoning", "id": "rs_fake1", "summary": [],
            "encrypted_content": "gAAAAB-enc-one"})
    );
    let (text, call, result) = (&input[at + 1], &input[at + 2], &input[at + 3]);
    assert_eq!(
        (&text["type"], &text["id"]),
        (&json!("message"), &json!("msg_fake1"))
    );
    assert_eq!(text["content"][0]["text"], "Let me look. 🔍");
    assert_eq!(
        (&call["type"], &call["id"], &call["call_id"]),
        (
            &json!("function_call"),
            &json!("fc_fake1_0"),
            &json!("call_r1")
        )
    );
    assert_eq!(
        (&result["type"], &result["call_id"]),
        (&json!("function_call_output"), &json!("call_r1"))
    );
    assert_eq!(input.len(), at + 4, "{}", reqs[1].body);

    // Refused (as after a key change): asked again once without it, and answered.
    ai.refuse_reasoning();
    ai.push(thinking_call("gAAAAB-enc-two"));
    ai.push_text("Still none.");
    let id = dm(&tg, 4545, "and now?");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "Still none.");
    let reqs = &ai.recorded()[2..];
    assert_eq!(reqs.len(), 3, "{:?}", ai.requests());
    assert!(reqs[1].body.to_string().contains("gAAAAB-enc-two"));
    let retry = reqs[2].body.to_string();
    assert!(!retry.contains("gAAAAB-enc"), "{retry}");
    assert!(!retry.contains("\"reasoning\",\"id\""), "{retry}");
    assert!(retry.contains("call_r1") && retry.contains("function_call_output"));
    assert!(
        gw.stderr()
            .contains("refused this run's encrypted reasoning"),
        "{}",
        gw.stderr()
    );
    assert!(!gw.stdout().contains(OAI_KEY) && !gw.stderr().contains(OAI_KEY));
}

/// Gemini 3 (here behind an OpenAI-compatible proxy such as OpenRouter) signs its tool
/// calls (`extra_content.google.thought_signature`) and refuses the next round without the
/// signatures; OpenRouter also hands out `reasoning_details` to send back. Both go back with
/// the calls in the run's next round.
#[actix_web::test]
async fn gemini_thought_signatures_go_back_with_the_calls() {
    use crate::support::fake_openai::FakeReply;
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = with_models(
        &tg,
        json!({
            "models": {"providers": {"proxy": {"baseUrl": ai.base_url(), "apiKey": "sk-proxy",
                "api": "openai-completions", "models": [{"id": "google/gemini-3-pro-it"}]}}},
            "agents": {"defaults": {"model": "proxy/google/gemini-3-pro-it"}},
        }),
    );
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg));
    ai.push(FakeReply::completion(
        json!({"role": "assistant", "content": null,
            "reasoning_details": [{"type": "reasoning.encrypted", "data": "ENC-G", "index": 0}],
            "tool_calls": [{"id": "call_g1", "type": "function",
                "function": {"name": "nodes", "arguments": "{\"action\":\"status\"}"},
                "extra_content": {"google": {"thought_signature": "SIG-GEMINI=="}}}]}),
        "tool_calls",
    ));
    ai.push_text("No nodes.");
    let id = dm(&tg, 4646, "nodes? ✨");
    assert_eq!(wait_reply(&tg, id, SLOW).await.text(), "No nodes.");
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let msgs = reqs[1]["messages"].as_array().expect("messages");
    let assistant = msgs
        .iter()
        .find(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
        .unwrap_or_else(|| panic!("the call went back: {}", reqs[1]));
    let call = &assistant["tool_calls"][0];
    assert_eq!(call["id"], "call_g1");
    assert_eq!(
        call["extra_content"]["google"]["thought_signature"], "SIG-GEMINI==",
        "{assistant}"
    );
    assert_eq!(
        assistant["reasoning_details"][0]["data"], "ENC-G",
        "{assistant}"
    );
    assert!(!tg.sent().iter().any(|m| m.text().contains("SIG-GEMINI")));
    drop(gw);
}

/// `/think`: a chat's thinking level goes to models that reason — OpenAI's Responses API
/// as `reasoning.effort`, Anthropic's as an extended-thinking budget whose signed thinking
/// blocks go back in the run's tool rounds — for the chat (`/think high`), for one message
/// (`/think low <message>`), back to the configured level (`/think default`), or set by an
/// operator (`sessions.patch {thinkingLevel}`, what the real TUI's `/think` sends).
#[actix_web::test]
async fn think_sets_how_hard_reasoning_models_think_per_chat_or_message() {
    use crate::support::fake_openai::FakeReply;
    const OAI_KEY: &str = "sk-oai-think-0123456789";
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = with_models(
        &tg,
        json!({
            "models": {"providers": {
                "openai": {"baseUrl": ai.base_url()},
                "anthropic": {"baseUrl": ai.anthropic_base_url(), "apiKey": KEY},
            }},
            "agents": {"defaults": {"model": "openai/gpt-5-it",
                "models": {"anthropic/claude-opus-it": {}, "anthropic/claude-opus-4-7-it": {}}}},
        }),
    );
    let gw = TestGateway::start(GW_ARGS, &[("OPENAI_API_KEY", OAI_KEY)], Some(&cfg));
    let ask = |text: &str| {
        let id = dm(&tg, 4343, text);
        let tg = &tg;
        async move { wait_reply(tg, id, SLOW).await.text().to_owned() }
    };
    let effort = |r: &Value| {
        r.pointer("/reasoning/effort")
            .cloned()
            .unwrap_or(Value::Null)
    };

    // No level anywhere: the provider's default (no field).
    assert_eq!(ask("hello").await, "ok");
    assert_eq!(effort(&ai.requests()[0]), Value::Null);
    assert!(ask("/think").await.contains("the configured level"));
    assert_eq!(ask("/think high").await, "🧠 Thinking level set to high.");
    ask("and now?").await;
    assert_eq!(effort(ai.requests().last().expect("request")), "high");
    // One message at another level; the chat's level stays.
    ask("/think low quick one: 2+2?").await;
    let last = ai.requests().last().cloned().expect("request");
    assert_eq!(effort(&last), "low");
    assert!(last.to_string().contains("quick one: 2+2?"), "{last}");
    assert!(
        !last.to_string().contains("/think"),
        "the directive is not the message"
    );
    ask("and again").await;
    assert_eq!(effort(ai.requests().last().expect("request")), "high");
    assert!(ask("/think").await.contains("high in this chat"));
    assert!(
        ask("/think enormous")
            .await
            .contains("is not a thinking level")
    );
    assert_eq!(
        ask("/think default").await,
        "🧠 Thinking: back to the configured level in this chat."
    );
    ask("plain again").await;
    assert_eq!(effort(ai.requests().last().expect("request")), Value::Null);

    // Claude: a budget, and the run's signed thinking goes back with its tool call.
    let key = "agent:main:telegram:direct:4343";
    let mut op = crate::telegram_flow::admin(&gw).await;
    let set = op
        .request(
            "sessions.patch",
            json!({"key": key, "model": "anthropic/claude-opus-it", "thinkingLevel": "medium"}),
        )
        .await;
    assert_eq!(set["ok"], true, "{set}");
    assert_eq!(set["payload"]["entry"]["thinkingLevel"], "medium", "{set}");
    let before = ai.request_count();
    ai.push(FakeReply::completion(
        json!({"role": "assistant", "content": null,
            "thinking": {"thinking": "The user wants the nodes.", "signature": "SIGNED-abc=="},
            "tool_calls": [{"id": "toolu_t1", "type": "function",
                "function": {"name": "nodes", "arguments": "{\"action\":\"status\"}"}}]}),
        "tool_calls",
    ));
    ai.push_text("No nodes.");
    assert_eq!(ask("which nodes?").await, "No nodes.");
    let reqs = &ai.recorded()[before..];
    assert_eq!(reqs.len(), 2);
    for r in reqs {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(
            r.body["thinking"],
            json!({"type": "enabled", "budget_tokens": 8192}),
            "{}",
            r.body
        );
        assert_eq!(r.body["max_tokens"], 8192 + 8192);
    }
    let msgs = reqs[1].body["messages"].as_array().expect("messages");
    let assistant = &msgs[msgs.len() - 2];
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking", "thinking": "The user wants the nodes.", "signature": "SIGNED-abc=="}),
        "{assistant}"
    );
    assert_eq!(assistant["content"][1]["type"], "tool_use", "{assistant}");
    // Never shown, never recorded.
    assert!(
        !tg.sent()
            .iter()
            .any(|m| m.text().contains("wants the nodes"))
    );

    // Claude Opus 4.7 thinks adaptively: `/think max` is its own `max` effort.
    let set = op
        .request(
            "sessions.patch",
            json!({"key": key, "model": "anthropic/claude-opus-4-7-it", "thinkingLevel": "max"}),
        )
        .await;
    assert_eq!(set["payload"]["entry"]["thinkingLevel"], "max", "{set}");
    assert_eq!(ask("how hard do you think?").await, "ok");
    let last = ai.recorded().last().cloned().expect("request");
    assert_eq!(last.path, "/v1/messages");
    assert_eq!(last.body["model"], "claude-opus-4-7-it");
    assert_eq!(
        last.body["thinking"],
        json!({"type": "adaptive"}),
        "{}",
        last.body
    );
    assert_eq!(
        last.body["output_config"],
        json!({"effort": "max"}),
        "{}",
        last.body
    );
    // And off is off there (it would not think unless asked, but off says so).
    assert_eq!(
        ask("/think off").await,
        "🧠 Thinking disabled in this chat."
    );
    ask("and now?").await;
    let last = ai.recorded().last().cloned().expect("request");
    assert_eq!(
        last.body["thinking"],
        json!({"type": "disabled"}),
        "{}",
        last.body
    );
    assert_eq!(last.body.get("output_config"), None);
}
