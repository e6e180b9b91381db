//! `openclaw gateway stability`: the gateway's recent diagnostic events
//! (`diagnostics.stability`, see `openclaw_actors::stability`), drawn as OpenClaw's CLI
//! draws them, or as JSON with `--json`.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::{ConnArgs, Failure, call_one, client_target, pretty};

/// `openclaw gateway stability`.
#[derive(Debug, Args)]
pub struct StabilityArgs {
    /// Most recent events shown (1–1000).
    #[arg(long, default_value_t = 25)]
    pub limit: u64,
    /// Only events of this type (`run.completed`, `payload.large`, `security.event`, …).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only events after this sequence number.
    #[arg(long, value_name = "SEQ")]
    pub since_seq: Option<u64>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The `diagnostics.stability` params for the flags.
pub fn params(args: &StabilityArgs) -> Value {
    let mut p = json!({"limit": args.limit});
    if let Some(t) = &args.kind {
        p["type"] = json!(t);
    }
    if let Some(s) = args.since_seq {
        p["sinceSeq"] = json!(s);
    }
    p
}

/// Runs `openclaw gateway stability`.
pub async fn run(config: Option<PathBuf>, args: StabilityArgs) -> Result<(), Failure> {
    let target = client_target(config, &args.conn).await?;
    let snapshot = call_one(
        &target,
        "diagnostics.stability",
        params(&args),
        args.conn.timeout,
    )
    .await?;
    if args.conn.json {
        println!("{}", pretty(&snapshot));
    } else {
        print!("{}", render(&snapshot));
    }
    Ok(())
}

/// Text the gateway sent, without control characters (a terminal is written to).
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// `1.5 KiB`, `36.7 MiB` (OpenClaw's `formatBytes`); `n/a` for none.
pub fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "n/a".to_owned();
    };
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

fn counts(m: Option<&Map<String, Value>>, most: usize) -> String {
    let mut v: Vec<(String, u64)> = m
        .into_iter()
        .flatten()
        .filter_map(|(k, n)| n.as_u64().map(|n| (clean(k), n)))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .take(most)
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn iso(ms: u64) -> String {
    openclaw_actors::util::iso_ms(ms).unwrap_or_else(|| ms.to_string())
}

/// One event on a line: when, its number and type, then the fields it has.
pub fn event_line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(clean);
    let n = |k: &str| e.get(k).and_then(Value::as_u64);
    let mut parts = vec![
        iso(n("ts").unwrap_or(0)),
        format!("#{}", n("seq").unwrap_or(0)),
        s("type").unwrap_or_default(),
    ];
    for (key, label) in [
        ("level", "level"),
        ("action", "action"),
        ("outcome", "outcome"),
        ("surface", "surface"),
        ("channel", "channel"),
        ("deliveryKind", "kind"),
        ("source", "source"),
        ("target", "target"),
        ("toolName", "tool"),
        ("reason", "reason"),
    ] {
        if let Some(v) = s(key) {
            parts.push(format!("{label}={v}"));
        }
    }
    match (s("provider"), s("model")) {
        (Some(p), Some(m)) => parts.push(format!("model={p}/{m}")),
        (None, Some(m)) => parts.push(format!("model={m}")),
        _ => {}
    }
    if let Some(d) = n("durationMs") {
        parts.push(format!("duration={d}ms"));
    }
    if e.get("bytes").is_some() {
        parts.push(format!("bytes={}", bytes(n("bytes"))));
    }
    if e.get("limitBytes").is_some() {
        parts.push(format!("limit={}", bytes(n("limitBytes"))));
    }
    if let Some(c) = n("count") {
        parts.push(format!("count={c}"));
    }
    if let Some(m) = e.get("memory") {
        parts.push(format!(
            "rss={}",
            bytes(m.get("rssBytes").and_then(Value::as_u64))
        ));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}

/// The snapshot as OpenClaw's CLI draws it.
pub fn render(snap: &Value) -> String {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut out = vec!["Gateway Stability".to_owned()];
    let dropped = n(snap, "dropped");
    out.push(format!(
        "Events: {}/{}{}",
        n(snap, "count"),
        n(snap, "capacity"),
        if dropped > 0 {
            format!(" · dropped={dropped}")
        } else {
            String::new()
        }
    ));
    let summary = snap.get("summary").cloned().unwrap_or(Value::Null);
    let types = counts(summary.get("byType").and_then(Value::as_object), 8);
    if !types.is_empty() {
        out.push(format!("Types: {types}"));
    }
    if let Some(m) = summary.get("memory") {
        let latest = m
            .get("latest")
            .and_then(|l| l.get("rssBytes"))
            .and_then(Value::as_u64);
        out.push(format!(
            "Memory: rss={} maxRss={} pressure={}",
            bytes(latest),
            bytes(m.get("maxRssBytes").and_then(Value::as_u64)),
            n(m, "pressureCount")
        ));
    }
    if let Some(p) = summary.get("payloadLarge") {
        let surfaces = counts(p.get("bySurface").and_then(Value::as_object), usize::MAX);
        out.push(format!(
            "Large payloads: total={} rejected={} truncated={} chunked={}{}",
            n(p, "count"),
            n(p, "rejected"),
            n(p, "truncated"),
            n(p, "chunked"),
            if surfaces.is_empty() {
                String::new()
            } else {
                format!(" · {surfaces}")
            }
        ));
    }
    let events = snap.get("events").and_then(Value::as_array);
    if let Some(events) = events.filter(|e| !e.is_empty()) {
        out.push("Recent:".to_owned());
        out.extend(events.iter().map(|e| format!("  {}", event_line(e))));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn the_snapshot_is_drawn_as_openclaw_draws_it() {
        let snap = json!({
            "generatedAt": "2026-12-05T05:00:00.000Z", "capacity": 1000, "count": 3,
            "dropped": 2, "firstSeq": 5, "lastSeq": 7,
            "events": [
                {"seq": 5, "ts": 1_796_445_099_074u64, "type": "diagnostic.memory.sample",
                 "memory": {"rssBytes": 38_469_632}},
                {"seq": 6, "ts": 1_796_445_100_000u64, "type": "run.completed",
                 "channel": "telegram", "provider": "fake", "model": "m1",
                 "outcome": "error", "durationMs": 12},
                {"seq": 7, "ts": 1_796_445_101_000u64, "type": "payload.large",
                 "surface": "gateway.ws.preauth", "action": "rejected",
                 "limitBytes": 65_536, "reason": "preauth\u{1b}[31m_frame_limit"}
            ],
            "summary": {"byType": {"run.completed": 1, "payload.large": 1,
                                   "diagnostic.memory.sample": 1},
                        "memory": {"latest": {"rssBytes": 38_469_632},
                                   "maxRssBytes": 40_000_000, "pressureCount": 0},
                        "payloadLarge": {"count": 1, "rejected": 1, "truncated": 0,
                                         "chunked": 0,
                                         "bySurface": {"gateway.ws.preauth": 1}}}
        });
        assert_eq!(
            render(&snap),
            "Gateway Stability\n\
             Events: 3/1000 · dropped=2\n\
             Types: diagnostic.memory.sample=1, payload.large=1, run.completed=1\n\
             Memory: rss=36.7 MiB maxRss=38.1 MiB pressure=0\n\
             Large payloads: total=1 rejected=1 truncated=0 chunked=0 · gateway.ws.preauth=1\n\
             Recent:\n  \
             2026-12-05T04:31:39.074Z #5 diagnostic.memory.sample rss=36.7 MiB\n  \
             2026-12-05T04:31:40.000Z #6 run.completed outcome=error channel=telegram model=fake/m1 duration=12ms\n  \
             2026-12-05T04:31:41.000Z #7 payload.large action=rejected surface=gateway.ws.preauth reason=preauth[31m_frame_limit limit=64.0 KiB\n"
        );
        // An empty ring: the header only.
        assert_eq!(
            render(
                &json!({"capacity": 1000, "count": 0, "dropped": 0, "events": [],
                           "summary": {"byType": {}}})
            ),
            "Gateway Stability\nEvents: 0/1000\n"
        );
        // Whatever the answer holds, something is drawn.
        for junk in [
            json!(null),
            json!([1]),
            json!({"events": "x", "summary": 5}),
        ] {
            assert!(render(&junk).starts_with("Gateway Stability\n"));
        }
    }

    #[test]
    fn sizes_read_like_openclaws() {
        assert_eq!(bytes(None), "n/a");
        assert_eq!(bytes(Some(0)), "0 B");
        assert_eq!(bytes(Some(1023)), "1023 B");
        assert_eq!(bytes(Some(1536)), "1.5 KiB");
        assert_eq!(bytes(Some(5 * 1024 * 1024 * 1024)), "5.0 GiB");
        assert_eq!(bytes(Some(u64::MAX)), "16777216.0 TiB");
    }

    #[test]
    fn flags_map_to_the_params() {
        let cli = crate::cli::Cli::try_parse_from([
            "openclaw",
            "gateway",
            "stability",
            "--type",
            "security.event",
            "--since-seq",
            "9",
            "--limit",
            "5",
        ])
        .expect("parse");
        let crate::cli::Command::Gateway(g) = cli.command else {
            panic!("not gateway");
        };
        let Some(crate::cli::GatewaySub::Stability(a)) = g.sub else {
            panic!("not stability");
        };
        assert_eq!(
            params(&a),
            json!({"limit": 5, "type": "security.event", "sinceSeq": 9})
        );
    }
}
