//! The Telegram → agent → node → reply flow shared by `flow_bench` and `load_bench`: an
//! in-bench fake Bot API and fake model (one actix-web `HttpServer` on `127.0.0.1:0`, on its
//! own thread), an in-process fake node answering `echo.test`, and [`run_flow`], which
//! spawns a gateway pointed at the fakes and measures the gateway's own added time per
//! message (see `flow_bench`'s docs for the formula).

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::rt::time::timeout;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc as tmpsc};

use super::{
    Client, Gateway, Limits, OPERATOR_ALL, STARTUP_TIMEOUT, Spawn, approve_node, ms, node_params,
    operator_params, pct, verdict,
};

const TG_TOKEN: &str = "990001:BENCH-flow";
const NODE_NAME: &str = "bench-node";
const USER: i64 = 5550001;

/// Bound on every single network await.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const LIMITS: Limits = Limits {
    io: IO_TIMEOUT,
    max_frame_size: 1 << 24,
    max_skipped: 10_000,
};

/// Each flow stops after this long even if N messages were not done.
const FLOW_MAX: Duration = Duration::from_secs(180);

/// Goal for the gateway's added time per message.
pub const GOAL_MS: f64 = 1.0;

// ===================================================================== fakes (Bot API + model)

#[derive(Default)]
struct FakeState {
    /// Pushed, not yet confirmed by an offset.
    pending: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    /// When the last non-empty `getUpdates` answer was handed to actix.
    updates_sent_at: Option<Instant>,
    /// Time spent inside the model handler since the last reset.
    model_spent: Duration,
    model_calls: u64,
    /// `(entered, left)` the model handler, per call since the last reset.
    model_marks: Vec<(Instant, Instant)>,
}

struct Fakes {
    state: Mutex<FakeState>,
    /// Wakes a waiting long poll.
    pushed: Notify,
    /// `(arrival, text)` of every `sendMessage`.
    sent: tmpsc::UnboundedSender<(Instant, String)>,
}

impl Fakes {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fakes' server, stopped on drop.
struct FakeServer {
    shared: Arc<Fakes>,
    port: u16,
    handle: ServerHandle,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeServer {
    fn start() -> Result<(Self, tmpsc::UnboundedReceiver<(Instant, String)>)> {
        let (sent_tx, sent_rx) = tmpsc::unbounded_channel();
        let shared = Arc::new(Fakes {
            state: Mutex::new(FakeState {
                next_update_id: 1000,
                next_message_id: 1,
                ..FakeState::default()
            }),
            pushed: Notify::new(),
            sent: sent_tx,
        });
        let data = web::Data::from(shared.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("flow-bench-fakes".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                            .route("/v1/chat/completions", web::post().to(model))
                            .route("/{bot}/{method}", web::post().to(telegram))
                    })
                    .workers(1)
                    .shutdown_timeout(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let Some(addr) = server.addrs().first().copied() else {
                        let _ = tx.send(Err("no bound address".to_owned()));
                        return;
                    };
                    let running = server.run();
                    let _ = tx.send(Ok((addr.port(), running.handle())));
                    let _ = running.await;
                });
            })
            .context("spawning the fakes' thread")?;
        let (port, handle) = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .map_err(|_| anyhow!("fakes did not start"))?
            .map_err(|e| anyhow!("fakes failed to bind: {e}"))?;
        Ok((
            Self {
                shared,
                port,
                handle,
            },
            sent_rx,
        ))
    }

    fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Resets the per-message counters and pushes a private text message.
    fn push(&self, text: &str) {
        {
            let mut st = self.shared.lock();
            st.updates_sent_at = None;
            st.model_spent = Duration::ZERO;
            st.model_marks.clear();
            st.next_message_id += 1;
            let update_id = st.next_update_id;
            st.next_update_id += 1;
            let message_id = st.next_message_id;
            st.pending.push_back(json!({
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "from": {"id": USER, "is_bot": false, "first_name": "Bench"},
                    "chat": {"id": USER, "type": "private"},
                    "date": 1_700_000_000,
                    "text": text,
                }
            }));
        }
        self.shared.pushed.notify_waiters();
    }
}

fn tg_ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

async fn telegram(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    fakes: web::Data<Fakes>,
) -> HttpResponse {
    let arrived = Instant::now();
    let (bot, method) = path.into_inner();
    if bot.strip_prefix("bot") != Some(TG_TOKEN) {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    match method.as_str() {
        "getMe" => tg_ok(
            json!({"id": 990001, "is_bot": true, "first_name": "Bench", "username": "bench_bot"}),
        ),
        "deleteWebhook" | "setWebhook" | "setMyCommands" | "deleteMyCommands" => tg_ok(json!(true)),
        "getUpdates" => {
            let offset = body.get("offset").and_then(Value::as_i64);
            let wait =
                Duration::from_secs(body.get("timeout").and_then(Value::as_u64).unwrap_or(0))
                    .min(Duration::from_secs(30));
            let deadline = Instant::now() + wait;
            loop {
                let notified = fakes.pushed.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut st = fakes.lock();
                    if let Some(o) = offset {
                        st.pending
                            .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= o));
                    }
                    if !st.pending.is_empty() {
                        let out: Vec<Value> = st.pending.iter().cloned().collect();
                        st.updates_sent_at = Some(Instant::now());
                        return tg_ok(Value::Array(out));
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return tg_ok(json!([]));
                }
                let _ = timeout(left, notified).await;
            }
        }
        "sendMessage" => {
            let text = body["text"].as_str().unwrap_or("").to_owned();
            let chat = body["chat_id"].clone();
            let id = {
                let mut st = fakes.lock();
                st.next_message_id += 1;
                st.next_message_id
            };
            let _ = fakes.sent.send((arrived, text.clone()));
            tg_ok(
                json!({"message_id": id, "chat": {"id": chat, "type": "private"},
                         "date": 1_700_000_000, "text": text}),
            )
        }
        // "typing…" while the answer is worked on (on by default), answered as Telegram does.
        "sendChatAction" => tg_ok(json!(true)),
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

/// The fake model: a `nodes` invoke tool call for a user turn, the final text after a tool
/// result.
async fn model(body: web::Bytes, fakes: web::Data<Fakes>) -> HttpResponse {
    let t0 = Instant::now();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last_role = req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["role"].as_str())
        .unwrap_or("")
        .to_owned();
    let message = if last_role == "tool" {
        json!({"role": "assistant", "content": "done"})
    } else {
        let args = json!({"action": "invoke", "node": NODE_NAME, "command": "echo.test",
                          "params": {"x": 1}});
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_bench", "type": "function",
            "function": {"name": "nodes", "arguments": args.to_string()}}]})
    };
    let finish = if last_role == "tool" {
        "stop"
    } else {
        "tool_calls"
    };
    let resp = HttpResponse::Ok().json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
        "model": req["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }));
    let mut st = fakes.lock();
    st.model_calls += 1;
    st.model_spent += t0.elapsed();
    st.model_marks.push((t0, Instant::now()));
    resp
}

// ===================================================================== fake node

/// The node's answers: every `node.invoke.request` is echoed at once; when each arrived
/// goes into `arrivals`.
fn echo_answerer(
    node_id: String,
    arrivals: Rc<std::cell::RefCell<Vec<Instant>>>,
) -> impl FnMut(&[u8]) -> Option<String> {
    let mut n = 0u64;
    move |b| {
        let arrived = Instant::now();
        let v: Value = serde_json::from_slice(b).ok()?;
        if v["event"] != "node.invoke.request" {
            return None;
        }
        n += 1;
        arrivals.borrow_mut().push(arrived);
        let p = &v["payload"];
        let params: Value = p["paramsJSON"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        let payload = json!({"echo": params, "command": p["command"]});
        let frame = json!({"type": "req", "id": format!("n{n}"), "method": "node.invoke.result",
            "params": {"id": p["id"], "nodeId": node_id, "ok": true, "payloadJSON": payload.to_string()}});
        Some(frame.to_string())
    }
}

// ===================================================================== flows

/// One flow: a message text, whether a model is configured, the reply it must produce.
pub struct Flow {
    pub name: &'static str,
    pub with_model: bool,
    pub text: String,
    pub expect: &'static str,
}

impl Flow {
    /// The model calls the `nodes` tool (`invoke bench-node echo.test`), then answers.
    pub fn with_model() -> Self {
        Self {
            name: "1 model + nodes tool",
            with_model: true,
            text: "please run echo on my node".to_owned(),
            expect: "done",
        }
    }

    /// No model configured: the embedded command agent runs `/invoke`.
    pub fn command_agent() -> Self {
        Self {
            name: "2 embedded command agent",
            with_model: false,
            text: format!("/invoke {NODE_NAME} echo.test {{\"x\":1}}"),
            expect: "echo.test",
        }
    }
}

/// The gateway's added time per message, in ms.
pub struct FlowFigures {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// Runs `warmup` + `n` messages one at a time through a fresh gateway; prints the figures.
pub async fn run_flow(flow: &Flow, n_msgs: usize, warmup: usize) -> Result<FlowFigures> {
    let (fakes, mut sent_rx) = FakeServer::start()?;
    let mut tg = json!({
        "enabled": true, "botToken": TG_TOKEN, "apiRoot": fakes.root(),
        "dmPolicy": "allowlist", "allowFrom": [USER], "pollTimeoutSeconds": 30,
    });
    tg["groupPolicy"] = json!("disabled");
    // Messages go one at a time: no burst batching (OpenClaw's 300 ms quiet window would
    // be measured as the gateway's time).
    let mut config = json!({"channels": {"telegram": tg},
        "messages": {"inbound": {"byChannel": {"telegram": 0}}}});
    if flow.with_model {
        config["models"] = json!({"providers": {"bench": {
            "baseUrl": format!("{}/v1", fakes.root()), "apiKey": "sk-bench",
            "api": "openai-completions", "models": [{"id": "bench-model"}]}}});
        config["agents"] = json!({"defaults": {"model": {"primary": "bench/bench-model"}}});
    }
    // The agent tool policy allows read-only commands by default; the owner allows echo.test.
    config["agents"]["defaults"]["tools"] = json!({"nodes": {"allowCommands": ["echo.test"]}});
    // "typing…" is on by default (one `sendChatAction` per message, off the reply's path);
    // `OPENCLAW_BENCH_TYPING_MODE=never` measures without it.
    if let Ok(mode) = std::env::var("OPENCLAW_BENCH_TYPING_MODE") {
        config["agents"]["defaults"]["typingMode"] = json!(mode);
    }
    // The audit ledger records every run and tool action (on by default);
    // `OPENCLAW_BENCH_AUDIT=off` measures without it.
    if std::env::var("OPENCLAW_BENCH_AUDIT").as_deref() == Ok("off") {
        config["logging"] = json!({"audit": {"enabled": false}});
    }
    let (gw, _) = Gateway::spawn(&Spawn {
        state_prefix: "openclaw-flow-bench-",
        config: Some(&config),
        clear_env: &["TELEGRAM_"],
    })?;
    let client = Client::new(LIMITS);

    // Node + surface approval.
    let key = super::random_key();
    let node_id = key.device_id();
    let (node_ws, _) = client
        .handshake(&gw.url(), |nonce| {
            node_params(&key, nonce, NODE_NAME, &["echo.test"])
        })
        .await?;
    let node_spent = Rc::new(Cell::new(Duration::ZERO));
    let node_arrivals = Rc::new(std::cell::RefCell::new(Vec::new()));
    let node_task = actix_web::rt::spawn(super::serve_node(
        node_ws,
        10 * (warmup + n_msgs) + 1000,
        node_spent.clone(),
        echo_answerer(node_id.clone(), node_arrivals.clone()),
    ));
    let (mut op, _) = client
        .handshake(&gw.url(), |_| Ok(operator_params(OPERATOR_ALL)))
        .await?;
    approve_node(&mut op, &node_id).await?;

    println!(
        "[{}] {n_msgs} Telegram messages one at a time (+{warmup} warm-up): {}",
        flow.name, flow.text
    );
    let mut added = Vec::with_capacity(n_msgs);
    let mut total = Vec::with_capacity(n_msgs);
    let mut model_t = Vec::with_capacity(n_msgs);
    let mut node_t = Vec::with_capacity(n_msgs);
    // Where the added time goes (the model flow only: call, node, call, reply).
    let mut segments: [Vec<f64>; 4] = Default::default();
    let started = Instant::now();
    for i in 0..warmup + n_msgs {
        if started.elapsed() > FLOW_MAX {
            println!("    stopped: {FLOW_MAX:?} time limit reached after {i} messages");
            break;
        }
        // `OPENCLAW_BENCH_GAP_MS=<ms>`: a pause before each message (a person's pace: the
        // gateway's threads are idle, not warm, when it arrives). Default none.
        if let Some(gap) = std::env::var("OPENCLAW_BENCH_GAP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            actix_web::rt::time::sleep(Duration::from_millis(gap)).await;
        }
        node_spent.set(Duration::ZERO);
        node_arrivals.borrow_mut().clear();
        fakes.push(&flow.text);
        let (arrived, text) = timeout(IO_TIMEOUT, sent_rx.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "message {i}: no sendMessage within {IO_TIMEOUT:?}{}",
                    gw.stderr_tail()
                )
            })?
            .ok_or_else(|| anyhow!("fakes stopped"))?;
        if !text.contains(flow.expect) {
            bail!(
                "message {i}: unexpected reply {text:?} (wanted {:?})",
                flow.expect
            );
        }
        let (sent_at, model_spent, marks) = {
            let st = fakes.shared.lock();
            (st.updates_sent_at, st.model_spent, st.model_marks.clone())
        };
        let sent_at =
            sent_at.ok_or_else(|| anyhow!("message {i}: reply before any getUpdates answer"))?;
        let whole = arrived.saturating_duration_since(sent_at);
        let own = whole
            .saturating_sub(model_spent)
            .saturating_sub(node_spent.get());
        if i >= warmup {
            added.push(ms(own));
            total.push(ms(whole));
            model_t.push(ms(model_spent));
            node_t.push(ms(node_spent.get()));
            if let ([(m1_in, m1_out), (m2_in, m2_out)], [node_in]) =
                (marks.as_slice(), node_arrivals.borrow().as_slice())
            {
                let gap = |a: Instant, b: Instant| ms(b.saturating_duration_since(a));
                segments[0].push(gap(sent_at, *m1_in));
                segments[1].push(gap(*m1_out, *node_in));
                segments[2].push(gap(*node_in, *m2_in));
                segments[3].push(gap(*m2_out, arrived));
            }
        }
    }
    let model_calls = fakes.shared.lock().model_calls;
    op.close().await;
    drop(gw);
    node_task.abort();

    for v in [&mut added, &mut total, &mut model_t, &mut node_t]
        .into_iter()
        .chain(segments.iter_mut())
    {
        v.sort_by(f64::total_cmp);
    }
    let n = added.len();
    if n == 0 {
        bail!("no samples");
    }
    let mean = added.iter().sum::<f64>() / n as f64;
    println!(
        "    samples {n}; model calls {model_calls}; elapsed {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "    sendMessage − getUpdates answer: p50 {:.3} ms  p99 {:.3} ms",
        pct(&total, 50.0),
        pct(&total, 99.0)
    );
    println!(
        "    fake model time (per message):   p50 {:.3} ms  p99 {:.3} ms",
        pct(&model_t, 50.0),
        pct(&model_t, 99.0)
    );
    println!(
        "    fake node time (per message):    p50 {:.3} ms  p99 {:.3} ms",
        pct(&node_t, 50.0),
        pct(&node_t, 99.0)
    );
    if segments[0].len() == n {
        let names = [
            "update in → model call 1",
            "model answer 1 → node request",
            "node request → model call 2",
            "model answer 2 → sendMessage",
        ];
        println!("    where it goes (p50 / p99 per segment, node time included in the third):");
        for (name, v) in names.iter().zip(&segments) {
            println!(
                "      {name:<32} {:.3} / {:.3} ms",
                pct(v, 50.0),
                pct(v, 99.0)
            );
        }
    }
    let p50 = pct(&added, 50.0);
    let p99 = pct(&added, 99.0);
    println!(
        "    gateway added time: p50 {p50:.3} ms  p90 {:.3} ms  p99 {p99:.3} ms  max {:.3} ms  mean {mean:.3} ms",
        pct(&added, 90.0),
        added[n - 1]
    );
    println!(
        "    goal ≤ {GOAL_MS} ms: p50 {}, p99 {}",
        verdict(p50 <= GOAL_MS),
        verdict(p99 <= GOAL_MS)
    );
    Ok(FlowFigures {
        samples: n,
        p50_ms: p50,
        p99_ms: p99,
        mean_ms: mean,
    })
}
