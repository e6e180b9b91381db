//! `GET /api/diagnostics/prometheus` against the real binary, parsed by PyPI
//! prometheus-client's text parser (installed by `scripts/setup-prom-parser.sh`, found
//! through `OPENCLAW_PROM_PYTHONPATH`): auth, the series, and values that move with
//! connections, handshake failures and `node.invoke`s.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{Action, FakeNode, always, random_key};
use crate::support::{TestGateway, WsClient, cli_params, http_request};

const TOKEN: &str = "metrics-secret-token-9";

/// Parses exposition text with `prometheus_client.parser`; returns `name{k="v",…}` →
/// value for every sample (labels sorted), plus `# TYPE` per family as `TYPE name`.
fn parse_with_prometheus_client(text: &str) -> BTreeMap<String, f64> {
    let dir = std::env::var("OPENCLAW_PROM_PYTHONPATH").unwrap_or_else(|_| {
        format!(
            "{}/.cache/openclaw-rs/prom-client-0.21.1",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out["TYPE " + fam.name] = {"counter": 1, "gauge": 2, "histogram": 3}.get(fam.type, 0)
    for s in fam.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        out[s.name + ("{" + labels + "}" if labels else "")] = s.value
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics to the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "prometheus-client could not parse the metrics (is it installed in {dir}? run scripts/setup-prom-parser.sh):\n{}\n--- text:\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).expect("parser JSON");
    v.into_iter()
        .map(|(k, v)| (k, v.as_f64().expect("numeric sample")))
        .collect()
}

pub(crate) fn scrape(port: u16) -> (String, BTreeMap<String, f64>) {
    scrape_as(port, TOKEN)
}

pub(crate) fn scrape_as(port: u16, token: &str) -> (String, BTreeMap<String, f64>) {
    let (status, head, body) = http_request(
        port,
        "GET",
        "/api/diagnostics/prometheus",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let parsed = parse_with_prometheus_client(&body);
    (body, parsed)
}

pub(crate) fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {:#?}", m.keys().collect::<Vec<_>>()))
}

#[test]
fn metrics_need_the_gateway_secret() {
    let gw = TestGateway::with_token(TOKEN);
    let (status, _, body) = http_request(gw.port, "GET", "/api/diagnostics/prometheus", &[]);
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = http_request(
        gw.port,
        "GET",
        "/api/diagnostics/prometheus",
        &[("Authorization", "Bearer wrong-token")],
    );
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("openclaw_"), "{body}");
}

#[actix_web::test]
async fn metrics_parse_and_move_with_connections_failures_and_invokes() {
    let gw = TestGateway::with_token(TOKEN);
    let (_, before) = scrape(gw.port);
    assert_eq!(get(&before, "openclaw_connections{role=\"operator\"}"), 0.0);
    assert_eq!(get(&before, "openclaw_nodes_connected"), 0.0);
    assert_eq!(
        get(&before, "openclaw_node_invoke_total{outcome=\"ok\"}"),
        0.0
    );
    assert_eq!(
        get(&before, "TYPE openclaw_node_invoke_duration_seconds"),
        3.0
    );
    assert_eq!(get(&before, "TYPE openclaw_handshakes"), 1.0);
    assert!(get(&before, "process_resident_memory_bytes") > 1e6);
    assert!(get(&before, "process_open_fds") >= 3.0);

    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        TOKEN,
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let (mut op, _) = WsClient::hello(gw.port, cli_params(TOKEN, ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;
    // One failed handshake (wrong token).
    let mut bad = WsClient::open(gw.port).await;
    bad.challenge().await;
    let res = bad.connect(cli_params("wrong", &["operator.read"])).await;
    assert_eq!(res["ok"], false);
    for i in 0..3 {
        let res = op
            .request(
                "node.invoke",
                json!({"nodeId": node.node_id, "command": "echo.test", "params": {"i": i},
                       "timeoutMs": 5000, "idempotencyKey": format!("m-{i}")}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
    }
    // A socket in its handshake counts as pending (the registry does not track it yet).
    let (_waiting, _) = WsClient::open_challenged(gw.port).await;
    let (text, after) = scrape(gw.port);
    assert_eq!(get(&after, "openclaw_connections{role=\"pending\"}"), 1.0);
    assert_eq!(get(&after, "openclaw_connections{role=\"operator\"}"), 1.0);
    assert_eq!(get(&after, "openclaw_connections{role=\"node\"}"), 1.0);
    assert_eq!(get(&after, "openclaw_nodes_connected"), 1.0);
    assert_eq!(get(&after, "openclaw_handshakes_total{role=\"node\"}"), 1.0);
    assert_eq!(
        get(&after, "openclaw_handshakes_total{role=\"operator\"}"),
        1.0
    );
    assert_eq!(
        get(&after, "openclaw_handshake_failures_total{reason=\"auth\"}"),
        1.0
    );
    assert_eq!(
        get(&after, "openclaw_node_invoke_total{outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        get(&after, "openclaw_node_invoke_duration_seconds_count"),
        3.0
    );
    assert_eq!(
        get(
            &after,
            "openclaw_node_invoke_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        3.0
    );
    assert!(get(&after, "openclaw_node_invoke_duration_seconds_sum") > 0.0);
    // Low-cardinality labels only: no node id, token or client id appears.
    for needle in [node.node_id.as_str(), TOKEN, "wrong", "\"cli\""] {
        assert!(!text.contains(needle), "{needle} in the metrics:\n{text}");
    }

    // Closing the operator moves the gauge back.
    op.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = scrape(gw.port);
        if get(&m, "openclaw_connections{role=\"operator\"}") == 0.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "operator gauge stuck");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn channel_agent_and_model_series_move_with_a_telegram_turn() {
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_ARGS, GW_TOKEN, TG_TOKEN, config, dm, wait_reply};
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, Some(&ai), json!({}))));
    let (_, before) = scrape_as(gw.port, GW_TOKEN);
    assert_eq!(
        get(&before, "openclaw_channel_messages_total{direction=\"in\"}"),
        0.0
    );
    assert_eq!(
        get(&before, "openclaw_agent_runs_total{outcome=\"ok\"}"),
        0.0
    );
    ai.push_text("hello there");
    let mid = dm(&tg, 7001, "hi");
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    // The run is counted when it finishes, and the reply when the Bot API has answered its
    // `sendMessage` (the fake saw the request a moment before): wait for both.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let (_, m) = scrape_as(gw.port, GW_TOKEN);
        if get(&m, "openclaw_agent_runs_total{outcome=\"ok\"}") == 1.0
            && get(&m, "openclaw_channel_messages_total{direction=\"out\"}") == 1.0
        {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run or reply not counted"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        get(&after, "openclaw_channel_messages_total{direction=\"in\"}"),
        1.0
    );
    assert_eq!(
        get(&after, "openclaw_channel_messages_total{direction=\"out\"}"),
        1.0
    );
    assert_eq!(get(&after, "openclaw_channel_errors_total"), 0.0);
    assert_eq!(
        get(&after, "openclaw_model_call_duration_seconds_count"),
        1.0
    );
    assert_eq!(get(&after, "openclaw_model_call_errors_total"), 0.0);
    assert_eq!(
        get(&after, "openclaw_agent_runs_total{outcome=\"error\"}"),
        0.0
    );
}

/// The scheduler's series: a job run and heartbeats are counted by outcome.
#[actix_web::test]
async fn cron_and_heartbeat_series_move_with_runs() {
    let cfg = format!(
        "{{ gateway: {{ auth: {{ token: \"{TOKEN}\" }} }}, agents: {{ defaults: {{ heartbeat: {{ every: \"1s\" }} }} }} }}"
    );
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(&cfg));
    let (_, before) = scrape(gw.port);
    assert_eq!(
        get(&before, "openclaw_cron_runs_total{outcome=\"ok\"}"),
        0.0
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params(TOKEN, ALL_OPERATOR)).await;
    // Due at once; the embedded command agent answers it.
    let add = op
        .request(
            "cron.add",
            json!({"name": "now", "schedule": {"kind": "at", "at": "2020-01-01T00:00:00Z"},
                "payload": {"kind": "agentTurn", "message": "/help"}, "delivery": {"mode": "none"}}),
        )
        .await;
    assert_eq!(add["ok"], true, "{add}");
    // A beat (target none: `skipped`) and the job's run, both counted.
    op.event_within("heartbeat", Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = scrape(gw.port);
        if get(&m, "openclaw_cron_runs_total{outcome=\"ok\"}") == 1.0 {
            assert!(get(&m, "openclaw_heartbeats_total{outcome=\"skipped\"}") >= 1.0);
            assert_eq!(
                get(&m, "openclaw_heartbeats_total{outcome=\"failed\"}"),
                0.0
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run was not counted"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
