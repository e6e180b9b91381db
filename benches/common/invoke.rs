//! `node.invoke` through the gateway, shared by `invoke_bench` and `load_bench`: a fake node
//! answering `system.which` at once, the request frame, and the two figures (sequential
//! round trips, pipelined calls/s on one operator connection).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::task::JoinHandle;
use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Client, Conn, OPERATOR_ALL, Window, approve_node, node_params, operator_params, pct, random_key,
};

const LATENCY_MAX: Duration = Duration::from_secs(120);
/// Calls in flight in the pipelined figure.
pub const THROUGHPUT_WINDOW: usize = 64;
const THROUGHPUT_MAX: Duration = Duration::from_secs(120);

/// What the fake node answers for `system.which`.
pub const WHICH_PAYLOAD: &str = r#"{"bins":{"sh":"/usr/bin/sh"}}"#;

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
pub fn which_answerer(node_id: &str) -> Result<impl FnMut(&[u8]) -> Option<String> + use<>> {
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

pub fn invoke_frame(id: &str, node_id: &str, key: &str) -> String {
    format!(
        r#"{{"type":"req","id":"{id}","method":"node.invoke","params":{{"nodeId":"{node_id}","command":"system.which","params":{{"bins":["sh"]}},"timeoutMs":5000,"idempotencyKey":"{key}"}}}}"#
    )
}

// ===================================================================== figures

/// Figure 1: sequential round trips.
pub async fn fig_latency(
    op: &mut Conn,
    node_id: &str,
    n_calls: usize,
    warmup: usize,
) -> Result<(f64, f64)> {
    println!(
        "[invoke] node.invoke round trip: {n_calls} sequential calls (+{warmup} warm-up), one operator connection"
    );
    let mut lat = Vec::with_capacity(n_calls);
    let started = Instant::now();
    for i in 0..warmup + n_calls {
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
        if i >= warmup {
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
pub async fn fig_throughput(op: &mut Conn, node_id: &str, total: usize) -> Result<f64> {
    println!(
        "[invoke] node.invoke throughput: {total} calls, {THROUGHPUT_WINDOW} in flight, one operator connection"
    );
    let window = Window {
        total,
        in_flight: THROUGHPUT_WINDOW,
        max_time: THROUGHPUT_MAX,
        max_failed: usize::MAX,
    };
    let p = super::pipeline(op, &window, "t", |id, n| {
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

/// Connects a fake node (local device, paired silently) answering `system.which` for at most
/// `max_frames` frames, and an operator with every scope that approves its surface. Returns
/// the node's task (ends with its socket; yields how many invokes it answered), the
/// operator's connection and the node id.
pub async fn start_node(
    client: &Client,
    url: &str,
    max_frames: usize,
) -> Result<(JoinHandle<Result<usize>>, Conn, String)> {
    let key = random_key();
    let node_id = key.device_id();
    let (node_ws, hello) = client
        .handshake(url, |nonce| {
            node_params(&key, nonce, "bench-node", &["system.which"])
        })
        .await
        .context("node connect")?;
    let hello = hello.payload;
    if hello.pointer("/auth/deviceToken").is_none() {
        bail!("node hello-ok has no device token: {}", hello["auth"]);
    }
    let node_task = actix_web::rt::spawn(super::serve_node(
        node_ws,
        max_frames,
        Rc::new(Cell::new(Duration::ZERO)),
        which_answerer(&node_id)?,
    ));
    let (mut op, _) = client
        .handshake(url, |_| Ok(operator_params(OPERATOR_ALL)))
        .await
        .context("operator connect")?;
    approve_node(&mut op, &node_id).await?;
    Ok((node_task, op, node_id))
}
