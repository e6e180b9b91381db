//! `node.invoke` benchmark: spawns the release `openclaw` binary (`gateway run --port 0 --token
//! BENCH`, fresh temp state dir), connects an in-process fake node (Ed25519 device proof; the
//! local device is paired silently; its surface is approved with `node.pair.approve`) that
//! answers `system.which` at once, and measures the full round trip
//! operator → gateway → node → gateway → operator over loopback.
//!
//! Figures:
//! 1. latency of 10 000 sequential `node.invoke` calls (p50 / p90 / p99 / max)
//! 2. throughput: 20 000 calls on one operator connection with 64 in flight (calls/s)
//!
//! Run: `cargo bench --bench invoke_bench`. Every loop is bounded in count and time, every
//! await has a timeout, traffic goes only to 127.0.0.1, and the gateway is killed on exit
//! (including on panic) by [`Gateway`]'s `Drop`. The operator client and the fake node share
//! one client thread, and the machine's cores with the gateway, so the figures include
//! client-side CPU.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use common::{
    BIN, Client, Conn, Gateway, Limits, OPERATOR_ALL, Spawn, Window, approve_node, node_params,
    operator_params, pct, random_key, verdict,
};

/// Every single network await is bounded by `io`.
const LIMITS: Limits = Limits {
    io: Duration::from_secs(5),
    max_frame_size: 1 << 24,
    max_skipped: 100_000,
};

const WARMUP: usize = 500;
const LATENCY_N: usize = 10_000;
const LATENCY_MAX: Duration = Duration::from_secs(120);
const THROUGHPUT_N: usize = 20_000;
const THROUGHPUT_WINDOW: usize = 64;
const THROUGHPUT_MAX: Duration = Duration::from_secs(120);

const GOAL_P50_US: f64 = 100.0;
const GOAL_P99_US: f64 = 500.0;

/// What the fake node answers for `system.which`.
const WHICH_PAYLOAD: &str = r#"{"bins":{"sh":"/usr/bin/sh"}}"#;

// ===================================================================== fake node

/// The parts of a `node.invoke.request` event the node needs.
#[derive(Deserialize)]
struct InvokeEvent {
    event: Option<String>,
    payload: Option<InvokePayload>,
}

#[derive(Deserialize)]
struct InvokePayload {
    id: String,
}

/// The node's answers: every `node.invoke.request` gets the `system.which` result at once.
fn which_answerer(node_id: &str) -> Result<impl FnMut(&[u8]) -> Option<String> + use<>> {
    let prefix = format!(
        r#"{{"type":"req","method":"node.invoke.result","params":{{"nodeId":"{node_id}","ok":true,"payloadJSON":{},"id":""#,
        serde_json::to_string(WHICH_PAYLOAD)?
    );
    let mut n = 0u64;
    Ok(move |b: &[u8]| {
        let ev: InvokeEvent = serde_json::from_slice(b).ok()?;
        if ev.event.as_deref() != Some("node.invoke.request") {
            return None; // acks, ticks, pairing events
        }
        let p = ev.payload?;
        n += 1;
        // The invoke id is a UUID: no escaping needed.
        Some(format!(r#"{prefix}{}"}},"id":"n{n}"}}"#, p.id))
    })
}

fn invoke_frame(id: &str, node_id: &str, key: &str) -> String {
    format!(
        r#"{{"type":"req","id":"{id}","method":"node.invoke","params":{{"nodeId":"{node_id}","command":"system.which","params":{{"bins":["sh"]}},"timeoutMs":5000,"idempotencyKey":"{key}"}}}}"#
    )
}

// ===================================================================== figures

/// Figure 1: sequential round trips.
async fn fig_latency(op: &mut Conn, node_id: &str) -> Result<(f64, f64)> {
    println!(
        "[1] node.invoke round trip: {LATENCY_N} sequential calls (+{WARMUP} warm-up), one operator connection"
    );
    let mut lat = Vec::with_capacity(LATENCY_N);
    let started = Instant::now();
    for i in 0..WARMUP + LATENCY_N {
        if started.elapsed() > LATENCY_MAX {
            println!("    stopped: {LATENCY_MAX:?} time limit reached after {i} calls");
            break;
        }
        let id = format!("s{i}");
        let t0 = Instant::now();
        op.send_text(invoke_frame(&id, node_id, &format!("seq-{i}")))
            .await?;
        let (h, b) = op.response(&id).await?;
        if h.ok != Some(true) {
            bail!("call {i} failed: {}", h.error.unwrap_or(Value::Null));
        }
        let dt = t0.elapsed();
        if i == 0 {
            let v: Value = serde_json::from_slice(&b)?;
            let sh = v
                .pointer("/payload/payload/bins/sh")
                .and_then(Value::as_str);
            if sh != Some("/usr/bin/sh") {
                bail!("unexpected invoke result: {v}");
            }
        }
        if i >= WARMUP {
            lat.push(dt.as_secs_f64() * 1e6);
        }
    }
    if lat.is_empty() {
        bail!("no measured call completed");
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p90, p99, max) = (
        pct(&lat, 50.0),
        pct(&lat, 90.0),
        pct(&lat, 99.0),
        lat[lat.len() - 1],
    );
    println!(
        "    {} calls: p50 {p50:.1} µs, p90 {p90:.1} µs, p99 {p99:.1} µs, max {max:.1} µs",
        lat.len()
    );
    Ok((p50, p99))
}

/// Figure 2: pipelined throughput.
async fn fig_throughput(op: &mut Conn, node_id: &str) -> Result<f64> {
    println!(
        "[2] node.invoke throughput: {THROUGHPUT_N} calls, {THROUGHPUT_WINDOW} in flight, one operator connection"
    );
    let window = Window {
        total: THROUGHPUT_N,
        in_flight: THROUGHPUT_WINDOW,
        max_time: THROUGHPUT_MAX,
        max_failed: usize::MAX,
    };
    let p = common::pipeline(op, &window, "t", |id, n| {
        invoke_frame(id, node_id, &format!("tp-{n}"))
    })
    .await;
    p.outcome?;
    let (ok, failed, wall) = (p.ok, p.failed, p.wall);
    let rate = ok as f64 / wall.as_secs_f64();
    println!(
        "    {ok} ok, {failed} failed in {:.1} ms: {rate:.0} calls/s",
        wall.as_secs_f64() * 1e3
    );
    if let Some(e) = p.first_error {
        println!("    first error: {e}");
    }
    Ok(rate)
}

async fn run() -> Result<()> {
    println!("invoke_bench: {BIN}");
    let (gw, _) = Gateway::spawn(&Spawn {
        state_prefix: "openclaw-invoke-bench-",
        config: None,
        clear_env: &[],
    })?;
    let url = gw.url();
    let client = Client::new(LIMITS);

    // The fake node: local device, paired silently.
    let key = random_key();
    let node_id = key.device_id();
    let (node_ws, hello) = client
        .handshake(&url, |nonce| {
            node_params(&key, nonce, "bench-node", &["system.which"])
        })
        .await
        .with_context(|| format!("node connect{}", gw.stderr_tail()))?;
    let hello = hello.payload;
    if hello.pointer("/auth/deviceToken").is_none() {
        bail!("node hello-ok has no device token: {}", hello["auth"]);
    }
    let node_task = actix_web::rt::spawn(common::serve_node(
        node_ws,
        4 * (WARMUP + LATENCY_N + THROUGHPUT_N) + 1000,
        Rc::new(Cell::new(Duration::ZERO)),
        which_answerer(&node_id)?,
    ));

    // The operator: approves the node's surface, then calls it.
    let (mut op, _) = client
        .handshake(&url, |_| Ok(operator_params(OPERATOR_ALL)))
        .await
        .context("operator connect")?;
    approve_node(&mut op, &node_id).await?;

    let (p50, p99) = fig_latency(&mut op, &node_id).await?;
    let rate = fig_throughput(&mut op, &node_id).await?;
    op.close().await;
    drop(gw); // kills the gateway; the node's socket ends
    let answered = match timeout(Duration::from_secs(10), node_task).await {
        Ok(Ok(Ok(n))) => n.to_string(),
        Ok(Ok(Err(e))) => format!("error: {e:#}"),
        Ok(Err(e)) => format!("task failed: {e}"),
        Err(_) => "still running".to_owned(),
    };

    println!();
    println!("summary (fake node answered {answered} invokes)");
    println!(
        "    round trip p50 {p50:.1} µs   goal ≤ {GOAL_P50_US:.0} µs   {}",
        verdict(p50 <= GOAL_P50_US)
    );
    println!(
        "    round trip p99 {p99:.1} µs   goal ≤ {GOAL_P99_US:.0} µs   {}",
        verdict(p99 <= GOAL_P99_US)
    );
    println!("    pipelined     {rate:.0} calls/s ({THROUGHPUT_WINDOW} in flight)");
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options.
    common::run_main("invoke_bench", run());
}
