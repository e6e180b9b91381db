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

use std::time::Duration;

use actix_web::rt::time::timeout;
use anyhow::{Context as _, Result};

use common::invoke::{THROUGHPUT_WINDOW, fig_latency, fig_throughput, start_node};
use common::{Client, Gateway, Limits, Spawn, bin, verdict};

/// Every single network await is bounded by `io`.
const LIMITS: Limits = Limits {
    io: Duration::from_secs(5),
    max_frame_size: 1 << 24,
    max_skipped: 100_000,
};

const WARMUP: usize = 500;
const LATENCY_N: usize = 10_000;
const THROUGHPUT_N: usize = 20_000;

const GOAL_P50_US: f64 = 100.0;
const GOAL_P99_US: f64 = 500.0;

async fn run() -> Result<()> {
    println!("invoke_bench: {}", bin());
    let (gw, _) = Gateway::spawn(&Spawn {
        state_prefix: "openclaw-invoke-bench-",
        config: None,
        clear_env: &[],
    })?;
    let client = Client::new(LIMITS);
    let (node_task, mut op, node_id) = start_node(
        &client,
        &gw.url(),
        4 * (WARMUP + LATENCY_N + THROUGHPUT_N) + 1000,
    )
    .await
    .with_context(|| gw.stderr_tail())?;

    let (p50, p99) = fig_latency(&mut op, &node_id, LATENCY_N, WARMUP).await?;
    let rate = fig_throughput(&mut op, &node_id, THROUGHPUT_N).await?;
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
