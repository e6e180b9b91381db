//! Load bench: the release `openclaw gateway run` in its own process (ephemeral loopback
//! port, temp state dir, token, `gateway.limits` raised to fit N) and this process as the
//! load generator (one thread, one task per connection).
//!
//! Figures:
//! - spawn → listening line and → first `hello-ok`; gateway RSS idle (after one connection);
//! - connect + hello + `health` p50/p99 with nothing held (sequential, raw client), and the
//!   p50 of each phase (TCP + upgrade, `connect` → `hello-ok`, `health`);
//! - `health` req/s over several connections, 64 in flight each;
//! - `node.invoke` round trips (sequential p50/p99) and pipelined calls/s;
//! - N held authenticated connections (real v4 handshake, events drained, pings answered):
//!   gateway RSS at checkpoints (1000, 5000, 10000, N) and KB per connection. They are
//!   operators without scopes by default (`--held-scopes operator.read` to change that): an
//!   `operator.read` client receives `presence`, and each presence change currently sends the
//!   whole list (N entries) to every reader, O(N²) bytes that would measure the broadcast,
//!   not the idle connection;
//! - connect + hello + `health` p50/p99 while the N are held; RSS after closing them;
//! - the Telegram flow's added time (fake Bot API + fake model + fake node, `common::flow`).
//!
//! Run through `scripts/bench/load.sh` (raises the open-file limit), or
//! `cargo bench --bench load_bench -- [--conns N] [--json PATH] [--sources K] [--probes P]
//! [--open-concurrency C] [--no-flow] [--no-invoke] [--rss-cap-mb MB]`.
//! Loopback only (held connections spread over 127.0.0.1 … 127.0.0.K as source addresses);
//! every phase is bounded in count and time and fails with a message naming the phase; the
//! gateway is killed on exit (also on panic).
//!
//! `--port P --pid PID` measures a server that is already running instead (the gateway, or
//! `benches/floor_server.rs` for the floor of the connect and invoke figures:
//! `scripts/bench/floor.sh` alternates the two).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::{sleep, timeout};
use anyhow::{Context as _, Result, anyhow, bail};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::watch;

use common::flow::{Flow, run_flow};
use common::raw::{HoldStats, RawConn};
use common::{Client, Gateway, Limits, Spawn, Window, bin, ms, operator_params, pct, sorted_ms};

const IO: Duration = Duration::from_secs(10);
const LIMITS: Limits = Limits {
    io: IO,
    max_frame_size: 1 << 24,
    max_skipped: 100_000,
};
const SETTLE: Duration = Duration::from_millis(1500);
const LATENCY_MAX: Duration = Duration::from_secs(120);
const OPEN_MAX: Duration = Duration::from_secs(600);
const CLOSE_MAX: Duration = Duration::from_secs(120);
const CLOSE_WAIT: Duration = Duration::from_secs(2);
const MAX_ERRORS: usize = 10;
const HEALTH_WINDOW: usize = 64;
const HEALTH_MAX: Duration = Duration::from_secs(60);
/// Checkpoints (connections held) at which RSS is read while opening.
const CHECKPOINTS: &[usize] = &[1000, 5000, 10_000];

/// Goals (issue 12 / the README's Performance section).
const GOAL_KB_PER_CONN: f64 = 8.0;
const GOAL_P50_MS: f64 = 0.3;

struct Args {
    conns: usize,
    json: String,
    sources: usize,
    probes: usize,
    open_concurrency: usize,
    health_conns: usize,
    health_n: usize,
    invoke_n: usize,
    invoke_pipelined: usize,
    flow_n: usize,
    flow: bool,
    invoke: bool,
    rss_cap_mb: u64,
    stage: Stage,
    /// Scopes of the held connections (`--held-scopes a,b`; none by default, see the docs).
    held_scopes: Vec<String>,
    /// The gateway's shared token (`--token`; the spawned gateway uses the benches' own).
    token: String,
    /// `--port P --pid PID`: measure a running gateway instead of spawning one.
    port: Option<u16>,
    pid: Option<u32>,
}

/// How far the held connections go (`--stage`): the memory breakdown per layer.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// TCP only (actix closes it after its request timeout).
    Tcp,
    /// WebSocket upgraded, no `connect` (the gateway closes it after its handshake timeout).
    Upgrade,
    /// Authenticated (`hello-ok`): the figure the goal is about.
    Hello,
}

fn usage() -> &'static str {
    "load_bench [--conns N (15000)] [--json PATH (target/load-bench.json)] [--sources K (auto)] \
     [--probes P (500)] [--open-concurrency C (16)] [--health-conns C (4)] [--health-n N (40000)] \
     [--invoke-n N (5000)] [--invoke-pipelined N (20000)] [--flow-n N (300)] [--no-flow] \
     [--no-invoke] [--rss-cap-mb MB (4096)] [--stage tcp|upgrade|hello (hello)] [--held-scopes S1,S2 (none)] \
     [--port P --pid PID --token T (measure a running gateway)]"
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        conns: 15_000,
        json: "target/load-bench.json".into(),
        sources: 0,
        probes: 500,
        open_concurrency: 16,
        health_conns: 4,
        health_n: 40_000,
        invoke_n: 5_000,
        invoke_pipelined: 20_000,
        flow_n: 300,
        flow: true,
        invoke: true,
        rss_cap_mb: 4096,
        stage: Stage::Hello,
        held_scopes: Vec::new(),
        token: common::TOKEN.to_owned(),
        port: None,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            let v = it
                .next()
                .ok_or_else(|| anyhow!("{name} needs a value\nusage: {}", usage()))?;
            v.parse()
                .map_err(|_| anyhow!("{name}: {v:?} is not a number\nusage: {}", usage()))
        };
        match arg.as_str() {
            "--bench" => {} // passed by `cargo bench`
            "--conns" => a.conns = num("--conns")?,
            "--sources" => a.sources = num("--sources")?,
            "--probes" => a.probes = num("--probes")?,
            "--open-concurrency" => a.open_concurrency = num("--open-concurrency")?.clamp(1, 31),
            "--health-conns" => a.health_conns = num("--health-conns")?.max(1),
            "--health-n" => a.health_n = num("--health-n")?,
            "--invoke-n" => a.invoke_n = num("--invoke-n")?,
            "--invoke-pipelined" => a.invoke_pipelined = num("--invoke-pipelined")?,
            "--flow-n" => a.flow_n = num("--flow-n")?,
            "--rss-cap-mb" => a.rss_cap_mb = num("--rss-cap-mb")? as u64,
            "--port" => a.port = Some(u16::try_from(num("--port")?)?),
            "--pid" => a.pid = Some(u32::try_from(num("--pid")?)?),
            "--stage" => {
                a.stage = match it.next().as_deref() {
                    Some("tcp") => Stage::Tcp,
                    Some("upgrade") => Stage::Upgrade,
                    Some("hello") => Stage::Hello,
                    other => bail!("--stage {other:?}: use tcp, upgrade or hello"),
                }
            }
            "--held-scopes" => {
                let v = it.next().unwrap_or_default();
                a.held_scopes = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--token" => {
                a.token = it
                    .next()
                    .ok_or_else(|| anyhow!("--token needs a value\nusage: {}", usage()))?;
            }
            "--no-flow" => a.flow = false,
            "--no-invoke" => a.invoke = false,
            "--json" => {
                a.json = it
                    .next()
                    .ok_or_else(|| anyhow!("--json needs a path\nusage: {}", usage()))?;
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\nusage: {}", usage()),
        }
    }
    if a.port.is_some() != a.pid.is_some() {
        bail!("--port and --pid go together\nusage: {}", usage());
    }
    if a.sources == 0 && a.stage != Stage::Hello {
        // The gateway allows 32 unauthenticated sockets per address.
        a.sources = a.conns.div_ceil(30).clamp(1, 250);
    }
    if a.sources == 0 {
        // Ephemeral ports per source address: ~28k; keep each well below that.
        a.sources = a.conns.div_ceil(5000).clamp(1, 250);
    }
    Ok(a)
}

// ===================================================================== /proc

/// The soft open-file limit, raised to the hard limit (the gateway inherits it).
fn raise_nofile() -> (u64, u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
    let l = getrlimit(Resource::Nofile);
    (l.current.unwrap_or(u64::MAX), l.maximum.unwrap_or(u64::MAX))
}

// ===================================================================== raw probes

/// `connect` params of an operator with `scopes` and the shared `token`.
fn op_params(scopes: &[&str], token: &str) -> Value {
    let mut p = operator_params(scopes);
    p["auth"]["token"] = json!(token);
    p
}

fn health_req(id: &str) -> String {
    format!(r#"{{"type":"req","id":"{id}","method":"health","params":{{}}}}"#)
}

/// The phases of one probe: TCP connect + upgrade (to the `101`), `connect` → `hello-ok`
/// (the challenge comes with the `101` or just after it), `health` → its `res`.
type Phases = [Duration; 3];

/// One connect + hello + `health` with the raw client; returns its phases.
async fn probe(dst: SocketAddr, src: IpAddr, params: &str, seed: u32) -> Result<Phases> {
    let t0 = Instant::now();
    let mut c = RawConn::open(src, dst, IO, seed).await?;
    let upgraded = Instant::now();
    c.handshake(params, IO).await?;
    let hello = Instant::now();
    c.send_text(&health_req("h")).await?;
    timeout(IO, async {
        loop {
            let b = c.next_text().await?;
            let h: common::Head = serde_json::from_slice(&b)?;
            if h.kind == "res" && h.id.as_deref() == Some("h") {
                if h.ok != Some(true) {
                    bail!("health failed: {}", h.error.unwrap_or(Value::Null));
                }
                return Ok(());
            }
        }
    })
    .await
    .map_err(|_| anyhow!("no health response within {IO:?}"))??;
    let done = Instant::now();
    let _ = c.send(0x8, &1000u16.to_be_bytes()).await;
    Ok([upgraded - t0, hello - upgraded, done - hello])
}

/// `n` sequential probes; `(p50, p99, ok)` in ms.
async fn probes(
    label: &str,
    dst: SocketAddr,
    params: &str,
    n: usize,
    warmup: usize,
) -> Result<Value> {
    let mut lat = Vec::with_capacity(n);
    let mut phases: [Vec<Duration>; 3] = Default::default();
    let mut errors = 0;
    let started = Instant::now();
    for i in 0..warmup + n {
        if started.elapsed() > LATENCY_MAX {
            println!("    {label}: {LATENCY_MAX:?} time limit reached after {i} probes");
            break;
        }
        match probe(dst, IpAddr::V4(Ipv4Addr::LOCALHOST), params, i as u32).await {
            Ok(ph) if i >= warmup => {
                lat.push(ph.iter().sum());
                for (all, d) in phases.iter_mut().zip(ph) {
                    all.push(d);
                }
            }
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                println!("    {label}: probe {i} failed: {e:#}");
                if errors >= MAX_ERRORS {
                    bail!("{label}: {errors} probes failed");
                }
            }
        }
    }
    if lat.is_empty() {
        bail!("{label}: no probe completed");
    }
    let v = sorted_ms(&lat);
    let (p50, p90, p99, max) = (pct(&v, 50.0), pct(&v, 90.0), pct(&v, 99.0), v[v.len() - 1]);
    println!(
        "    {label}: {} probes, {errors} errors: p50 {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
        v.len()
    );
    let [upgrade, hello, health] = phases.map(|d| pct(&sorted_ms(&d), 50.0));
    println!(
        "      p50 by phase: TCP + upgrade {upgrade:.3} ms, connect → hello-ok {hello:.3} ms, health {health:.3} ms"
    );
    Ok(
        json!({"n": v.len(), "errors": errors, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
              "phase_p50_ms": {"upgrade": upgrade, "hello": hello, "health": health}}),
    )
}

// ===================================================================== phases

/// `health` req/s over `conns` connections with [`HEALTH_WINDOW`] in flight each.
async fn health_rps(
    client: &Client,
    url: &str,
    token: &str,
    conns: usize,
    total: usize,
) -> Result<Value> {
    println!("[health] req/s: {conns} connections × {HEALTH_WINDOW} in flight, {total} requests");
    let mut cs = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (c, _) = client
            .handshake(url, |_| Ok(op_params(&["operator.read"], token)))
            .await
            .context("health connection")?;
        cs.push(c);
    }
    let per = total / conns;
    let t0 = Instant::now();
    let runs = futures_util::future::join_all(cs.iter_mut().enumerate().map(|(i, c)| {
        let w = Window {
            total: per,
            in_flight: HEALTH_WINDOW,
            max_time: HEALTH_MAX,
            max_failed: MAX_ERRORS,
        };
        async move {
            let prefix = format!("h{i}-");
            common::pipeline(c, &w, &prefix, |id, _| health_req(id)).await
        }
    }))
    .await;
    let wall = t0.elapsed();
    for c in cs {
        c.close().await;
    }
    let mut ok = 0;
    let mut lat = Vec::new();
    for r in runs {
        // A slow gateway may not finish `total` within the time limit: the rate of what it
        // answered still counts; failures do not.
        if let Err(e) = r.outcome {
            println!("    health pipeline stopped early: {e:#}");
            if r.failed > 0 || r.ok == 0 {
                bail!("health pipeline: {e:#}");
            }
        }
        ok += r.ok;
        lat.extend(r.lat);
    }
    let rps = ok as f64 / wall.as_secs_f64();
    let v = sorted_ms(&lat);
    println!(
        "    {ok} ok in {:.1} ms → {rps:.0} req/s; latency p50 {:.3} ms, p99 {:.3} ms",
        ms(wall),
        pct(&v, 50.0),
        pct(&v, 99.0)
    );
    Ok(
        json!({"connections": conns, "window": HEALTH_WINDOW, "ok": ok, "seconds": wall.as_secs_f64(),
               "rps": rps, "p50_ms": pct(&v, 50.0), "p99_ms": pct(&v, 99.0)}),
    )
}

async fn invoke(client: &Client, url: &str, n: usize, pipelined: usize) -> Result<Value> {
    let warmup = (n / 10).min(500);
    let (node_task, mut op, node_id) =
        common::invoke::start_node(client, url, 4 * (warmup + n + pipelined) + 1000).await?;
    let (p50, p99) = common::invoke::fig_latency(&mut op, &node_id, n, warmup).await?;
    let rate = common::invoke::fig_throughput(&mut op, &node_id, pipelined).await?;
    op.close().await;
    node_task.abort();
    Ok(json!({"sequential": n, "p50_us": p50, "p99_us": p99,
              "pipelined": pipelined, "window": common::invoke::THROUGHPUT_WINDOW, "calls_per_s": rate}))
}

struct Held {
    stop: watch::Sender<bool>,
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
    stats: Rc<HoldStats>,
}

/// Opens `args.conns` connections (round-robin over the source addresses, at most
/// `open_concurrency` handshakes in flight) and holds them; reads RSS at the checkpoints.
async fn open_held(
    args: &Args,
    dst: SocketAddr,
    pid: u32,
    params: Rc<str>,
    out: &mut serde_json::Map<String, Value>,
) -> Result<Held> {
    println!(
        "[held] opening {} connections from {} source address(es), {} at a time",
        args.conns, args.sources, args.open_concurrency
    );
    let (stop, stop_rx) = watch::channel(false);
    let stats = Rc::new(HoldStats::default());
    let mut tasks = Vec::with_capacity(args.conns);
    let before = common::rss_kb(pid)?;
    let mut checkpoints = Vec::new();
    let mut marks: Vec<usize> = CHECKPOINTS
        .iter()
        .copied()
        .filter(|&c| c < args.conns)
        .collect();
    marks.push(args.conns);
    let t0 = Instant::now();
    let mut next = 0usize;
    let mut failures = 0usize;
    for &mark in &marks {
        let mut opening = futures_util::stream::iter(next..mark)
            .map(|i| {
                let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources) as u8));
                let params = params.clone();
                let stage = args.stage;
                async move {
                    let mut c = RawConn::tcp(src, dst, IO, i as u32).await?;
                    if stage != Stage::Tcp {
                        c.upgrade(dst.port(), IO).await?;
                    }
                    if stage == Stage::Hello {
                        c.handshake(&params, IO).await?;
                    }
                    Ok::<_, anyhow::Error>(c)
                }
            })
            .buffer_unordered(args.open_concurrency);
        loop {
            if t0.elapsed() > OPEN_MAX {
                bail!(
                    "opening: {OPEN_MAX:?} time limit reached with {} held",
                    tasks.len()
                );
            }
            match timeout(Duration::from_millis(200), opening.next()).await {
                Err(_) => {}
                Ok(None) => break,
                Ok(Some(Ok(c))) => {
                    tasks.push(actix_web::rt::spawn(c.hold(
                        stop_rx.clone(),
                        stats.clone(),
                        CLOSE_WAIT,
                    )));
                }
                Ok(Some(Err(e))) => {
                    failures += 1;
                    println!("    open failed ({} held): {e:#}", tasks.len());
                    if failures >= MAX_ERRORS {
                        bail!(
                            "opening: {failures} connections failed with {} held",
                            tasks.len()
                        );
                    }
                }
            }
            if tasks.len() % 1000 == 0 {
                let kb = common::rss_kb(pid)?;
                if kb > args.rss_cap_mb * 1024 {
                    bail!(
                        "opening: gateway RSS {} MB passed the --rss-cap-mb {} safety cap with {} held",
                        kb / 1024,
                        args.rss_cap_mb,
                        tasks.len()
                    );
                }
            }
        }
        next = mark;
        sleep(SETTLE).await;
        let held = tasks.len();
        let kb = common::rss_kb(pid)?;
        let per = (kb as f64 - before as f64) / held.max(1) as f64;
        println!(
            "    {held:>6} held after {:6.1} s: gateway RSS {:8.1} MB → {per:6.2} KB per connection ({} lost)",
            t0.elapsed().as_secs_f64(),
            kb as f64 / 1024.0,
            stats.lost.get()
        );
        checkpoints.push(json!({"held": held, "rss_kb": kb, "kb_per_conn": per}));
    }
    out.insert("rss_before_hold_kb".into(), json!(before));
    out.insert("checkpoints".into(), Value::Array(checkpoints));
    out.insert("open_seconds".into(), json!(t0.elapsed().as_secs_f64()));
    out.insert("open_failures".into(), json!(failures));
    Ok(Held { stop, tasks, stats })
}

async fn close_held(held: Held, pid: u32, out: &mut serde_json::Map<String, Value>) -> Result<()> {
    let n = held.tasks.len();
    let t0 = Instant::now();
    let _ = held.stop.send(true);
    let all = timeout(CLOSE_MAX, futures_util::future::join_all(held.tasks)).await;
    if all.is_err() {
        println!("    closing: {CLOSE_MAX:?} time limit reached; the rest are dropped");
    }
    sleep(SETTLE).await;
    let after = common::rss_kb(pid)?;
    println!(
        "    closed {n} in {:.1} s; gateway RSS after close {:.1} MB; held connections saw {} events ({:.1} MB), {} pings, {} closed by the gateway",
        t0.elapsed().as_secs_f64(),
        after as f64 / 1024.0,
        held.stats.events.get(),
        held.stats.bytes.get() as f64 / 1048576.0,
        held.stats.pings.get(),
        held.stats.lost.get()
    );
    out.insert("rss_after_close_kb".into(), json!(after));
    out.insert("held_events".into(), json!(held.stats.events.get()));
    out.insert("held_lost".into(), json!(held.stats.lost.get()));
    Ok(())
}

// ===================================================================== main

fn fmt_opt(v: Option<f64>, unit: &str, prec: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.prec$} {unit}"))
}

async fn run(args: Args) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (soft, hard) = raise_nofile();
    println!("load_bench: {}", bin());
    println!(
        "  {} CPUs; open-file limit {soft} (hard {hard}); load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    // The gateway needs a socket per connection plus a spare: fail before starting.
    let need = args.conns as u64 + 256;
    if soft < need {
        bail!(
            "the open-file limit is {soft}, {need} needed for --conns {}: run scripts/bench/load.sh (raises it to the hard limit) or lower --conns",
            args.conns
        );
    }
    let mut out = serde_json::Map::new();
    out.insert("conns_requested".into(), json!(args.conns));
    out.insert("sources".into(), json!(args.sources));
    out.insert(
        "loadavg_start".into(),
        json!(
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        ),
    );

    let cap = args.conns + 1000;
    // `--stage tcp|upgrade` holds sockets that never authenticate: the pre-auth cap must fit
    // them too (its per-address cap of 32 is met by the source addresses).
    let config = json!({"gateway": {"limits": {
        "maxConnections": cap,
        "maxConnectionsPerIp": cap,
        "maxPreauthConnections": cap,
    }}});
    let (gw, port, pid, t0) = match (args.port, args.pid) {
        (Some(port), Some(pid)) => {
            println!("  measuring the running gateway on port {port}, pid {pid}");
            (None, port, pid, Instant::now())
        }
        _ => {
            let (gw, t0) = Gateway::spawn(&Spawn {
                state_prefix: "openclaw-load-bench-",
                config: Some(&config),
                clear_env: &[],
            })?;
            let (port, pid) = (gw.port(), gw.pid());
            (Some(gw), port, pid, t0)
        }
    };
    let tail = || gw.as_ref().map(Gateway::stderr_tail).unwrap_or_default();
    let url = format!("ws://127.0.0.1:{port}");
    let listening = t0.elapsed();
    let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let params: Rc<str> = op_params(&["operator.read"], &args.token)
        .to_string()
        .into();
    let first = probe(dst, IpAddr::V4(Ipv4Addr::LOCALHOST), &params, 0)
        .await
        .with_context(|| format!("first connection{}", tail()))?;
    let hello = t0.elapsed();
    println!(
        "[start] spawn → listening {:.2} ms, → first health answered {:.2} ms (that connection {:.2} ms)",
        ms(listening),
        ms(hello),
        ms(first.iter().sum())
    );
    out.insert("spawn_listening_ms".into(), json!(ms(listening)));
    out.insert("spawn_first_health_ms".into(), json!(ms(hello)));
    sleep(SETTLE).await;
    let idle = common::rss_kb(pid)?;
    println!("[idle] gateway RSS {:.2} MB", idle as f64 / 1024.0);
    out.insert("rss_idle_kb".into(), json!(idle));

    println!("[latency] connect + hello + health, nothing held");
    let lat_idle = probes("nothing held", dst, &params, args.probes, 20).await?;
    out.insert("latency_idle".into(), lat_idle.clone());

    let client = Client::new(LIMITS);
    let health = health_rps(&client, &url, &args.token, args.health_conns, args.health_n)
        .await
        .with_context(|| format!("[health]{}", tail()))?;
    out.insert("health".into(), health.clone());

    let inv = if args.invoke {
        let v = invoke(&client, &url, args.invoke_n, args.invoke_pipelined)
            .await
            .with_context(|| format!("[invoke]{}", tail()))?;
        out.insert("invoke".into(), v.clone());
        Some(v)
    } else {
        None
    };

    let scopes: Vec<&str> = args.held_scopes.iter().map(String::as_str).collect();
    let held_params: Rc<str> = op_params(&scopes, &args.token).to_string().into();
    out.insert("held_scopes".into(), json!(scopes));
    let held = open_held(&args, dst, pid, held_params, &mut out)
        .await
        .with_context(|| format!("[held]{}", tail()))?;
    let n = held.tasks.len();
    out.insert("conns_held".into(), json!(n));
    let held_kb = common::rss_kb(pid)?;
    let per_conn = (held_kb as f64 - idle as f64) / n.max(1) as f64;
    out.insert("rss_held_kb".into(), json!(held_kb));
    out.insert("kb_per_conn".into(), json!(per_conn));
    println!(
        "[latency] connect + hello + health while {n} held ({} probes)",
        args.probes
    );
    let lat_held = if args.stage == Stage::Hello {
        probes(&format!("{n} held"), dst, &params, args.probes, 5).await
    } else {
        Err(anyhow!("skipped: --stage is not hello"))
    };
    let lat_held = match lat_held {
        Ok(v) => Some(v),
        Err(e) => {
            println!("    {e:#}");
            None
        }
    };
    if let Some(v) = &lat_held {
        out.insert("latency_held".into(), v.clone());
    }
    close_held(held, pid, &mut out).await?;
    let stderr = tail();
    drop(gw);
    if !stderr.is_empty() {
        println!("{stderr}");
    }

    let flow = if args.flow && args.port.is_none() {
        let f = run_flow(&Flow::with_model(), args.flow_n, 30)
            .await
            .context("[flow]")?;
        let v = json!({"flow": "model + nodes tool", "samples": f.samples, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms, "mean_ms": f.mean_ms});
        out.insert("telegram_flow".into(), v.clone());
        Some(f)
    } else {
        None
    };

    // ---- table
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    println!();
    println!("== load_bench summary ({n} held) ==");
    let rows: Vec<(String, String, String)> = vec![
        (
            "spawn → first health answered".into(),
            if args.port.is_some() {
                "n/a (external)".into()
            } else {
                format!("{:.1} ms", ms(hello))
            },
            String::new(),
        ),
        (
            "gateway RSS idle".into(),
            format!("{:.2} MB", idle as f64 / 1024.0),
            String::new(),
        ),
        (
            format!("gateway RSS with {n} held"),
            format!("{:.1} MB", held_kb as f64 / 1024.0),
            String::new(),
        ),
        (
            "RSS per held connection".into(),
            if n > 0 {
                format!("{per_conn:.2} KB")
            } else {
                "n/a".into()
            },
            if n > 0 {
                format!(
                    "goal ≤ {GOAL_KB_PER_CONN} KB: {}",
                    common::verdict(per_conn <= GOAL_KB_PER_CONN)
                )
            } else {
                String::new()
            },
        ),
        (
            "connect+hello+health p50 / p99 (none held)".into(),
            format!(
                "{} / {}",
                fmt_opt(f(&lat_idle, "p50_ms"), "ms", 3),
                fmt_opt(f(&lat_idle, "p99_ms"), "ms", 3)
            ),
            format!(
                "goal p50 ≤ {GOAL_P50_MS} ms: {}",
                common::verdict(f(&lat_idle, "p50_ms").is_some_and(|v| v <= GOAL_P50_MS))
            ),
        ),
        (
            format!("connect+hello+health p50 / p99 ({n} held)"),
            lat_held.as_ref().map_or("n/a".into(), |v| {
                format!(
                    "{} / {}",
                    fmt_opt(f(v, "p50_ms"), "ms", 3),
                    fmt_opt(f(v, "p99_ms"), "ms", 3)
                )
            }),
            String::new(),
        ),
        (
            format!(
                "health req/s ({} conns × {HEALTH_WINDOW})",
                args.health_conns
            ),
            fmt_opt(f(&health, "rps"), "req/s", 0),
            String::new(),
        ),
    ];
    let mut rows = rows;
    if let Some(v) = &inv {
        rows.push((
            "node.invoke round trip p50 / p99".into(),
            format!(
                "{} / {}",
                fmt_opt(f(v, "p50_us"), "µs", 1),
                fmt_opt(f(v, "p99_us"), "µs", 1)
            ),
            "goal p50 ≤ 100 µs".into(),
        ));
        rows.push((
            "node.invoke pipelined (64 in flight)".into(),
            fmt_opt(f(v, "calls_per_s"), "calls/s", 0),
            String::new(),
        ));
    }
    if let Some(fl) = &flow {
        rows.push((
            "Telegram flow added time p50 / p99".into(),
            format!("{:.3} ms / {:.3} ms", fl.p50_ms, fl.p99_ms),
            format!(
                "goal p50 ≤ {} ms: {}",
                common::flow::GOAL_MS,
                common::verdict(fl.p50_ms <= common::flow::GOAL_MS)
            ),
        ));
    }
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (name, val, goal) in &rows {
        let pad = w - name.chars().count();
        println!("  {name}{} {val:>22}  {goal}", " ".repeat(pad));
    }
    let path = std::path::Path::new(&args.json);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&Value::Object(out))?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("JSON: {}", path.display());
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load_bench: {e:#}");
            std::process::exit(2);
        }
    };
    common::run_main("load_bench", run(args));
}
