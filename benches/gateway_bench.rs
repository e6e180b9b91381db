//! Gateway benchmark: spawns the release `openclaw` binary (`gateway run --port 0 --token BENCH`,
//! fresh temp state dir) and measures it over loopback with an awc protocol-v4 client.
//!
//! Figures (the same ones `openclaw-ref/scripts/bench.py` reports for the real OpenClaw gateway):
//! 1. spawn → first `hello-ok` (5 fresh processes; median, min)
//! 2. idle RSS after startup and one connection
//! 3. connect + hello + `health` latency over 500 sequential connections
//! 4. `health` throughput on one connection, 64 requests in flight
//! 5. RSS while holding 1000 idle authenticated connections
//!
//! Run: `cargo bench --bench gateway_bench`. Every loop is bounded in count and time, every
//! await has a timeout, traffic goes only to 127.0.0.1, and the gateway is killed on exit
//! (including on panic) by [`Gateway`]'s `Drop`. The client runs on one thread and shares the
//! machine's cores with the gateway, so the latency figures include client-side CPU.

mod common;

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::{sleep, timeout};
use anyhow::{Context as _, Result, anyhow, bail};
use awc::ws::{CloseCode, Frame, Message};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::sync::watch;

use common::{
    Client, Conn, Gateway, Limits, STARTUP_TIMEOUT, Spawn, Window, bin, ms, operator_params, pct,
    sorted_ms, verdict,
};

/// Every single network await is bounded by `io`.
const LIMITS: Limits = Limits {
    io: Duration::from_secs(5),
    max_frame_size: 1 << 20,
    max_skipped: 100_000,
};
/// Pause before reading RSS so the gateway finishes its bookkeeping.
const SETTLE: Duration = Duration::from_millis(500);

const SPAWN_RUNS: usize = 5;
const LATENCY_WARMUP: usize = 20;
const LATENCY_N: usize = 500;
const LATENCY_MAX: Duration = Duration::from_secs(120);
const THROUGHPUT_N: usize = 20_000;
const THROUGHPUT_WINDOW: usize = 64;
const THROUGHPUT_MAX: Duration = Duration::from_secs(60);
const IDLE_CONNS: usize = 1000;
/// Opening concurrency for the idle figure (the gateway allows 32 unauthenticated sockets per IP).
const IDLE_OPEN_CONCURRENCY: usize = 16;
const IDLE_OPEN_MAX: Duration = Duration::from_secs(60);
/// Figure 5 stops opening connections if the gateway's RSS passes this (the machine is shared).
const IDLE_RSS_CAP_MB: u64 = 1024;
const IDLE_CLOSE_MAX: Duration = Duration::from_secs(30);
const IDLE_PROBES: usize = 20;
/// Give up on a figure after this many failed connections / requests.
const MAX_ERRORS: usize = 10;

// Goals and the real OpenClaw gateway's measured figures (openclaw-ref bench.py).
const GOAL_SPAWN_MS: f64 = 20.0;
const GOAL_IDLE_RSS_MB: f64 = 10.0;
const GOAL_P50_MS: f64 = 0.3;
const GOAL_P99_MS: f64 = 1.0;
const REF_SPAWN: &str = "5.4 s";
const REF_IDLE_RSS: &str = "800 MB";
const REF_P50: &str = "3.1 ms";
const REF_P99: &str = "11.7 ms";
const REF_RPS: &str = "≈ 2.4k";
/// 5000 idle authenticated connections: +74 MB.
const REF_KB_PER_CONN: &str = "≈ 15 KB";

// ===================================================================== /proc

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks (`self` for this process).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Server and client CPU time over a measured section.
struct CpuMeter {
    pid: String,
    tck: f64,
    server0: Option<u64>,
    client0: Option<u64>,
}

impl CpuMeter {
    fn start(pid: u32, tck: f64) -> Self {
        let pid = pid.to_string();
        Self {
            server0: cpu_ticks(&pid),
            client0: cpu_ticks("self"),
            pid,
            tck,
        }
    }

    /// `(server_cpu_s, client_cpu_s)`.
    fn stop(&self) -> (Option<f64>, Option<f64>) {
        let d = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / self.tck),
            _ => None,
        };
        (
            d(self.server0, cpu_ticks(&self.pid)),
            d(self.client0, cpu_ticks("self")),
        )
    }

    fn line(&self, wall: Duration, units: usize, unit: &str) -> String {
        let (server, client) = self.stop();
        let wall = wall.as_secs_f64().max(1e-9);
        let fmt = |c: Option<f64>, who: &str| match c {
            Some(c) => format!(
                "{who} CPU {:.2} s ({:.0}% of one core, {:.1} µs/{unit})",
                c,
                100.0 * c / wall,
                1e6 * c / units.max(1) as f64
            ),
            None => format!("{who} CPU n/a"),
        };
        format!("{}; {}", fmt(server, "gateway"), fmt(client, "client"))
    }
}

/// Spawns a gateway with a fresh state dir; returns it and the `Instant` just before spawning.
fn spawn_gateway() -> Result<(Gateway, Instant)> {
    Gateway::spawn(&Spawn {
        state_prefix: "openclaw-bench-",
        config: None,
        clear_env: &[],
    })
}

/// TCP + WebSocket upgrade, `connect.challenge`, `connect` (operator.read), `hello-ok`.
async fn handshake(client: &Client, url: &str) -> Result<(Conn, common::Marks)> {
    let (conn, hello) = client
        .handshake(url, |_| Ok(operator_params(&["operator.read"])))
        .await?;
    Ok((conn, hello.marks))
}

fn health_frame(id: &str) -> String {
    format!(r#"{{"type":"req","id":"{id}","method":"health","params":{{}}}}"#)
}

/// One `health` request, waiting for its response.
async fn health(conn: &mut Conn, id: &str) -> Result<()> {
    conn.send_text(health_frame(id)).await?;
    let (h, _) = conn
        .response(id)
        .await
        .context("waiting for the health response")?;
    if h.ok != Some(true) {
        bail!("health failed: {}", h.error.unwrap_or(Value::Null));
    }
    Ok(())
}

// ===================================================================== figures

struct Results {
    spawn_median_ms: Option<f64>,
    idle_rss_mb: Option<f64>,
    lat_p50_ms: Option<f64>,
    lat_p99_ms: Option<f64>,
    rps: Option<f64>,
    /// KB per connection and how many connections it was measured over.
    kb_per_conn: Option<(f64, usize)>,
    kb_per_conn_complete: bool,
}

/// Figure 1. Returns the last gateway (kept running for the other figures).
async fn fig_spawn(client: &Client, res: &mut Results) -> Result<Gateway> {
    println!("[1] spawn → first hello-ok ({SPAWN_RUNS} fresh processes)");
    let mut listen = Vec::new();
    let mut hello = Vec::new();
    let mut last = None;
    for run in 1..=SPAWN_RUNS {
        let (gw, t0) =
            spawn_gateway().with_context(|| format!("run {run}: starting the gateway"))?;
        let t_listen = t0.elapsed();
        let url = gw.url();
        // The gateway prints the line after binding, so the first connect normally succeeds;
        // retry briefly in case it does not (bounded by STARTUP_TIMEOUT).
        let ws = loop {
            match handshake(client, &url).await {
                Ok((ws, _)) => break ws,
                Err(e) if t0.elapsed() < STARTUP_TIMEOUT => {
                    log_retry(run, &e);
                    sleep(Duration::from_millis(2)).await;
                }
                Err(e) => {
                    return Err(e.context(format!("run {run}: no hello-ok{}", gw.stderr_tail())));
                }
            }
        };
        let t_hello = t0.elapsed();
        ws.close().await;
        println!(
            "    run {run}: listening line {:7.2} ms, hello-ok {:7.2} ms  (port {}, pid {})",
            ms(t_listen),
            ms(t_hello),
            gw.port(),
            gw.pid()
        );
        listen.push(t_listen);
        hello.push(t_hello);
        last = Some(gw); // the previous gateway is dropped (killed) here
    }
    let (l, h) = (sorted_ms(&listen), sorted_ms(&hello));
    println!(
        "    spawn → listening line: median {:.2} ms, min {:.2} ms",
        pct(&l, 50.0),
        l[0]
    );
    println!(
        "    spawn → first hello-ok: median {:.2} ms, min {:.2} ms",
        pct(&h, 50.0),
        h[0]
    );
    res.spawn_median_ms = Some(pct(&h, 50.0));
    last.ok_or_else(|| anyhow!("no gateway started"))
}

fn log_retry(run: usize, e: &anyhow::Error) {
    println!("    run {run}: handshake failed, retrying: {e:#}");
}

/// Figure 2.
async fn fig_idle_rss(gw: &Gateway, res: &mut Results) -> Result<()> {
    println!("[2] idle RSS after startup and one connection");
    sleep(SETTLE).await;
    let rss = common::rss_kb(gw.pid())?;
    let hwm = common::proc_status_kb(gw.pid(), "VmHWM").unwrap_or(0);
    let threads = std::fs::read_to_string(format!("/proc/{}/status", gw.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .map(|t| t.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let mb = rss as f64 / 1024.0;
    println!(
        "    VmRSS {mb:.2} MB ({rss} kB), VmHWM {:.2} MB, threads {threads}",
        hwm as f64 / 1024.0
    );
    res.idle_rss_mb = Some(mb);
    Ok(())
}

/// Figure 3.
async fn fig_latency(client: &Client, gw: &Gateway, tck: f64, res: &mut Results) -> Result<()> {
    println!(
        "[3] connect + hello + health: {LATENCY_N} sequential connections (+{LATENCY_WARMUP} warm-up)"
    );
    let url = gw.url();
    let mut phases: [Vec<Duration>; 6] = Default::default();
    let mut errors = 0usize;
    let mut wall0 = Instant::now();
    let mut meter = CpuMeter::start(gw.pid(), tck);
    let started = Instant::now();
    for i in 0..LATENCY_WARMUP + LATENCY_N {
        if started.elapsed() > LATENCY_MAX {
            println!("    stopped: {LATENCY_MAX:?} time limit reached after {i} connections");
            break;
        }
        if i == LATENCY_WARMUP {
            wall0 = Instant::now();
            meter = CpuMeter::start(gw.pid(), tck);
        }
        let t0 = Instant::now();
        let one = async {
            let (mut ws, m) = handshake(client, &url).await?;
            health(&mut ws, "h").await?;
            let t4 = Instant::now();
            ws.close().await;
            Ok::<_, anyhow::Error>((m, t4, Instant::now()))
        };
        match one.await {
            Ok(([opened, challenged, hello], t4, t5)) => {
                if i >= LATENCY_WARMUP {
                    phases[0].push(opened - t0);
                    phases[1].push(challenged - opened);
                    phases[2].push(hello - challenged);
                    phases[3].push(t4 - hello);
                    phases[4].push(t4 - t0);
                    phases[5].push(t5 - t4);
                }
            }
            Err(e) => {
                errors += 1;
                println!("    connection {i} failed: {e:#}");
                if errors >= MAX_ERRORS {
                    bail!("aborted after {errors} failed connections");
                }
            }
        }
    }
    let wall = wall0.elapsed();
    let n = phases[4].len();
    if n == 0 {
        bail!("no measured connection completed");
    }
    let names = [
        "open (TCP+upgrade)",
        "→ challenge",
        "→ hello-ok",
        "→ health res",
        "TOTAL conn+hello+health",
        "close (after)",
    ];
    println!(
        "    {:<26} {:>8} {:>8} {:>8} {:>8}",
        "phase (ms)", "p50", "p90", "p99", "max"
    );
    for (name, ds) in names.iter().zip(&phases) {
        let v = sorted_ms(ds);
        println!(
            "    {:<26} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            name,
            pct(&v, 50.0),
            pct(&v, 90.0),
            pct(&v, 99.0),
            v[v.len() - 1]
        );
    }
    let total = sorted_ms(&phases[4]);
    println!(
        "    {n} ok, {errors} errors; wall time {:.1} ms ({:.0} conn/s)",
        ms(wall),
        n as f64 / wall.as_secs_f64()
    );
    println!("    {}", meter.line(wall, n, "conn"));
    res.lat_p50_ms = Some(pct(&total, 50.0));
    res.lat_p99_ms = Some(pct(&total, 99.0));
    Ok(())
}

/// Figure 4.
async fn fig_throughput(client: &Client, gw: &Gateway, tck: f64, res: &mut Results) -> Result<()> {
    println!(
        "[4] health throughput: one connection, {THROUGHPUT_WINDOW} in flight, {THROUGHPUT_N} requests"
    );
    let (mut ws, _) = handshake(client, &gw.url()).await?;
    let window = Window {
        total: THROUGHPUT_N,
        in_flight: THROUGHPUT_WINDOW,
        max_time: THROUGHPUT_MAX,
        max_failed: MAX_ERRORS,
    };
    let meter = CpuMeter::start(gw.pid(), tck);
    let p = common::pipeline(&mut ws, &window, "b", |id, _| health_frame(id)).await;
    let wall = p.wall;
    ws.close().await;
    if let Err(e) = &p.outcome {
        println!("    {e:#}");
    }
    if let Some(e) = &p.first_error {
        println!("    first error: {e}");
    }
    let (ok, failed, lat) = (p.ok, p.failed, p.lat);
    if ok == 0 {
        bail!("no request succeeded");
    }
    let v = sorted_ms(&lat);
    let rps = ok as f64 / wall.as_secs_f64();
    println!(
        "    {ok} ok, {failed} errors in {:.1} ms → {rps:.0} req/s",
        ms(wall)
    );
    println!(
        "    per-request latency: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(&v, 50.0),
        pct(&v, 99.0),
        v[v.len() - 1]
    );
    println!("    {}", meter.line(wall, ok, "req"));
    res.rps = Some(rps);
    p.outcome
}

/// Traffic seen by the held connections of figure 5.
#[derive(Default)]
struct HoldStats {
    events: Cell<u64>,
    bytes: Cell<u64>,
    lost: Cell<usize>,
}

/// Holds one idle connection: reads (and counts) whatever the gateway sends, answers pings,
/// and on `stop` sends a Close frame. Like bench.py's idle readers, so unread events do not
/// pile up in the gateway's outbound queues.
async fn hold(mut conn: Conn, mut stop: watch::Receiver<bool>, stats: Rc<HoldStats>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            item = conn.ws.next() => match item {
                Some(Ok(Frame::Text(b))) => {
                    stats.events.set(stats.events.get() + 1);
                    stats.bytes.set(stats.bytes.get() + b.len() as u64);
                }
                Some(Ok(Frame::Ping(p))) => {
                    if conn.send(Message::Pong(p)).await.is_err() {
                        stats.lost.set(stats.lost.get() + 1);
                        return;
                    }
                }
                Some(Ok(Frame::Close(_)) | Err(_)) | None => {
                    stats.lost.set(stats.lost.get() + 1);
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = conn
        .send(Message::Close(Some(CloseCode::Normal.into())))
        .await;
}

/// Figure 5.
async fn fig_idle_conns(client: &Client, gw: &Gateway, res: &mut Results) -> Result<()> {
    println!(
        "[5] RSS holding {IDLE_CONNS} idle authenticated connections (opened {IDLE_OPEN_CONCURRENCY} at a time, events drained)"
    );
    let url = gw.url();
    let pid = gw.pid();
    sleep(SETTLE).await;
    let before = common::rss_kb(pid)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Rc::new(HoldStats::default());
    let mut holders = Vec::with_capacity(IDLE_CONNS);
    let mut failures = 0usize;
    let mut abort: Option<String> = None;
    let t0 = Instant::now();
    {
        let mut opening = futures_util::stream::iter(0..IDLE_CONNS)
            .map(|_| handshake(client, &url))
            .buffer_unordered(IDLE_OPEN_CONCURRENCY);
        loop {
            if t0.elapsed() > IDLE_OPEN_MAX {
                abort = Some(format!(
                    "stopped opening: {IDLE_OPEN_MAX:?} time limit reached"
                ));
                break;
            }
            match common::rss_kb(pid) {
                Ok(kb) if kb > IDLE_RSS_CAP_MB * 1024 => {
                    abort = Some(format!(
                        "stopped opening: gateway RSS {} MB exceeds the {IDLE_RSS_CAP_MB} MB safety cap",
                        kb / 1024
                    ));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    abort = Some(format!("gateway gone? {e:#}"));
                    break;
                }
            }
            // Short ticks so the time limit and RSS cap are checked while connections open;
            // dropping `next()` on a tick leaves the in-flight handshakes in the stream.
            match timeout(Duration::from_millis(100), opening.next()).await {
                Err(_) => {}
                Ok(None) => break,
                Ok(Some(Ok((ws, _)))) => {
                    holders.push(actix_web::rt::spawn(hold(
                        ws,
                        stop_rx.clone(),
                        stats.clone(),
                    )));
                }
                Ok(Some(Err(e))) => {
                    failures += 1;
                    if failures <= 3 {
                        println!("    open failed: {e:#}");
                    }
                    if failures >= MAX_ERRORS {
                        abort = Some(format!("stopped opening after {failures} failures"));
                        break;
                    }
                }
            }
        }
    }
    let open_time = t0.elapsed();
    let n = holders.len();
    println!(
        "    opened {n}/{IDLE_CONNS} in {:.1} ms ({:.0} conn/s), {failures} failures",
        ms(open_time),
        n as f64 / open_time.as_secs_f64().max(1e-9)
    );
    if let Some(why) = &abort {
        println!("    {why}");
    }
    sleep(SETTLE).await;
    let held = common::rss_kb(pid);

    // A few connect+hello+health probes while the idle connections are held.
    let mut probes = Vec::with_capacity(IDLE_PROBES);
    if abort.is_none() {
        for i in 0..IDLE_PROBES {
            let t = Instant::now();
            let r = async {
                let (mut ws, _) = handshake(client, &url).await?;
                health(&mut ws, "p").await?;
                let d = t.elapsed();
                ws.close().await;
                Ok::<_, anyhow::Error>(d)
            }
            .await;
            match r {
                Ok(d) => probes.push(d),
                Err(e) => {
                    println!("    probe {i} failed: {e:#}");
                    break;
                }
            }
        }
    }
    let lost = stats.lost.get();

    // Close them all: each holder sends a Close frame; bounded in time, then aborted.
    let tc = Instant::now();
    let _ = stop_tx.send(true);
    let all_closed = timeout(IDLE_CLOSE_MAX, async {
        for h in holders.iter_mut() {
            let _ = h.await;
        }
    })
    .await
    .is_ok();
    if !all_closed {
        println!("    close time limit ({IDLE_CLOSE_MAX:?}) reached; aborting the rest");
    }
    for h in &holders {
        h.abort();
    }
    let close_time = tc.elapsed();
    sleep(SETTLE).await;
    let after = common::rss_kb(pid);

    let held = held?;
    let per_conn = if n > 0 {
        (held as f64 - before as f64) / n as f64
    } else {
        f64::NAN
    };
    println!(
        "    RSS before {:.2} MB, holding {n}: {:.2} MB ({:+.2} MB) → {per_conn:.1} KB per connection",
        before as f64 / 1024.0,
        held as f64 / 1024.0,
        (held as f64 - before as f64) / 1024.0
    );
    println!(
        "    held connections received {} events ({:.1} MB); {lost} closed by the gateway while held",
        stats.events.get(),
        stats.bytes.get() as f64 / 1048576.0
    );
    if !probes.is_empty() {
        let v = sorted_ms(&probes);
        println!(
            "    connect+hello+health while holding: p50 {:.3} ms, max {:.3} ms ({} probes)",
            pct(&v, 50.0),
            v[v.len() - 1],
            v.len()
        );
    }
    match after {
        Ok(a) => println!(
            "    closed {n} in {:.1} ms; RSS after close {:.2} MB",
            ms(close_time),
            a as f64 / 1024.0
        ),
        Err(e) => println!("    closed {n}; RSS after close n/a: {e:#}"),
    }
    if n > 0 {
        res.kb_per_conn = Some((per_conn, n));
    }
    if let Some(why) = abort {
        bail!("{why} (after {n} connections; the per-connection figure is partial)");
    }
    res.kb_per_conn_complete = true;
    Ok(())
}

// ===================================================================== main

fn report(figure: &str, r: Result<()>) {
    if let Err(e) = r {
        println!("    figure {figure} aborted: {e:#}");
    }
}

fn summary(res: &Results) {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "n/a".to_owned(), f);
    let verdict = |v: Option<f64>, goal: f64| v.map_or("n/a", |v| verdict(v <= goal));
    let partial;
    println!();
    println!("== summary ==");
    println!(
        "  {:<32} {:>10} {:>12} {:>8} {:>14}",
        "figure", "goal", "openclaw-rs", "", "real OpenClaw"
    );
    let rows = [
        (
            "spawn → first hello-ok (median)",
            format!("≤ {GOAL_SPAWN_MS} ms"),
            opt(res.spawn_median_ms, &|v| format!("{v:.2} ms")),
            verdict(res.spawn_median_ms, GOAL_SPAWN_MS),
            REF_SPAWN,
        ),
        (
            "idle RSS",
            format!("≤ {GOAL_IDLE_RSS_MB} MB"),
            opt(res.idle_rss_mb, &|v| format!("{v:.2} MB")),
            verdict(res.idle_rss_mb, GOAL_IDLE_RSS_MB),
            REF_IDLE_RSS,
        ),
        (
            "connect+hello+health p50",
            format!("≤ {GOAL_P50_MS} ms"),
            opt(res.lat_p50_ms, &|v| format!("{v:.3} ms")),
            verdict(res.lat_p50_ms, GOAL_P50_MS),
            REF_P50,
        ),
        (
            "connect+hello+health p99",
            format!("≤ {GOAL_P99_MS} ms"),
            opt(res.lat_p99_ms, &|v| format!("{v:.3} ms")),
            verdict(res.lat_p99_ms, GOAL_P99_MS),
            REF_P99,
        ),
        (
            "health req/s (1 conn, 64 in flight)",
            "-".to_owned(),
            opt(res.rps, &|v| format!("{v:.0}")),
            "",
            REF_RPS,
        ),
        (
            "RSS per idle authenticated conn",
            "-".to_owned(),
            res.kb_per_conn
                .map_or_else(|| "n/a".to_owned(), |(v, _)| format!("{v:.1} KB")),
            match res.kb_per_conn {
                Some((_, n)) if !res.kb_per_conn_complete => {
                    partial = format!("({n} conns, partial)");
                    partial.as_str()
                }
                _ => "",
            },
            REF_KB_PER_CONN,
        ),
    ];
    for (name, goal, got, verdict, reference) in rows {
        println!("  {name:<32} {goal:>10} {got:>12} {verdict:>8} {reference:>14}");
    }
}

async fn run() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("openclaw-rs gateway bench");
    println!("  binary: {}", bin());
    println!(
        "  {cpus} CPUs; the measuring client (1 thread) shares them with the gateway; loopback only"
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("  load average at start: {}", load.trim());
    }
    let tck = clk_tck();
    let client = Client::new(LIMITS);
    let mut res = Results {
        spawn_median_ms: None,
        idle_rss_mb: None,
        lat_p50_ms: None,
        lat_p99_ms: None,
        rps: None,
        kb_per_conn: None,
        kb_per_conn_complete: false,
    };

    let gw = match fig_spawn(&client, &mut res).await {
        Ok(gw) => gw,
        Err(e) => {
            println!("    figure 1 aborted: {e:#}");
            summary(&res);
            bail!("cannot start the gateway; remaining figures skipped");
        }
    };
    report("2", fig_idle_rss(&gw, &mut res).await);
    report("3", fig_latency(&client, &gw, tck, &mut res).await);
    report("4", fig_throughput(&client, &gw, tck, &mut res).await);
    report("5", fig_idle_conns(&client, &gw, &mut res).await);
    let stderr = gw.stderr_tail();
    drop(gw);
    if !stderr.is_empty() {
        println!("{stderr}");
    }
    summary(&res);
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options.
    common::run_main("gateway_bench", run());
}
