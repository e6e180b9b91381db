//! What a session cost (`openclaw_actors::session_usage`, behind `sessions.usage`,
//! `sessions.usage.timeseries` and `sessions.usage.logs`): any transcript, whatever its
//! lines (JSON or not, any `usage`, `ts`, `role`, `provider`, `model`, any text in any
//! script, any size). Nothing may panic; on top of that:
//!
//! - the messages add up: `total` = `user` + `assistant`, the days' counts are within them,
//!   failures are answers, a latency is never more than the answers;
//! - the days' tokens are the session's (lines without a time count only for `range:
//!   "all"`), and each model's share is within them;
//! - a latency's minimum ≤ p95 ≤ maximum, its average between them;
//! - the timeseries has at most 200 points in time order, its running sums never go down
//!   and end at the points' sum;
//! - the logs keep at most `limit` messages, in time order, each at most 2 001 characters.
//!
//! Input: byte 0 picks the range (0: everything, else that many days up to a fixed "now"),
//! byte 1 the log limit; the rest is the transcript.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::session_usage::{logs_of, summarize, timeseries_of};
use openclaw::actors::usage::{DayZone, Range};
use serde_json::Value;

/// 2026-12-04T09:00Z.
const NOW: i64 = 1_796_374_800_000;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let range = match data[0] {
        0 => Range::all(DayZone::Utc, NOW),
        d => Range::new(Some(u64::from(d)), None, DayZone::Utc, NOW),
    }
    .expect("range");
    let limit = usize::from(data[1]);
    let body = &data[2..];

    let s = summarize(body, &range).json("s", std::path::Path::new("s.jsonl"));
    let c = &s["messageCounts"];
    assert_eq!(n(&c["total"]), n(&c["user"]) + n(&c["assistant"]), "{s}");
    assert!(n(&c["errors"]) <= n(&c["assistant"]), "{s}");
    let days = s["dailyMessageCounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let day_total: u64 = days.iter().map(|d| n(&d["total"])).sum();
    assert!(day_total <= n(&c["total"]), "{s}");
    if data[0] != 0 {
        // Every counted line had a time in the range: the days hold all of it.
        assert_eq!(day_total, n(&c["total"]), "{s}");
    }
    let day_tokens: u64 = s["dailyBreakdown"]
        .as_array()
        .map(|d| d.iter().map(|d| n(&d["tokens"])).sum())
        .unwrap_or(0);
    assert!(day_tokens <= n(&s["totalTokens"]), "{s}");
    let model_tokens: u64 = s["modelUsage"]
        .as_array()
        .map(|m| m.iter().map(|m| n(&m["totals"]["totalTokens"])).sum())
        .unwrap_or(0);
    assert!(model_tokens <= n(&s["totalTokens"]), "{s}");
    if let Some(l) = s.get("latency") {
        assert!(n(&l["count"]) <= n(&c["assistant"]), "{s}");
        assert!(
            n(&l["minMs"]) <= n(&l["p95Ms"]) && n(&l["p95Ms"]) <= n(&l["maxMs"]),
            "{s}"
        );
        let avg = f(&l["avgMs"]);
        assert!(
            avg >= n(&l["minMs"]) as f64 - 1e-6 && avg <= n(&l["maxMs"]) as f64 + 1e-6,
            "{s}"
        );
    }

    let t = timeseries_of(body, "s");
    let points = t["points"].as_array().cloned().unwrap_or_default();
    assert!(points.len() <= 200, "{}", points.len());
    let (mut last_ts, mut last_sum, mut sum) = (i64::MIN, 0u64, 0u64);
    for p in &points {
        let ts = p["timestamp"].as_i64().unwrap_or(0);
        assert!(ts >= last_ts, "{t}");
        last_ts = ts;
        sum = sum.saturating_add(n(&p["totalTokens"]));
        let cum = n(&p["cumulativeTokens"]);
        assert!(cum >= last_sum, "{t}");
        assert_eq!(cum, sum, "{t}");
        last_sum = cum;
    }

    let logs = logs_of(body, limit);
    assert!(logs.len() <= limit, "{} > {limit}", logs.len());
    let mut last = i64::MIN;
    for e in &logs {
        let ts = e["timestamp"].as_i64().unwrap_or(0);
        assert!(ts >= last);
        last = ts;
        let text = e["content"].as_str().unwrap_or_default();
        assert!(!text.is_empty() && text.chars().count() <= 2_001, "{e}");
        assert!(
            matches!(e["role"].as_str(), Some("user" | "assistant")),
            "{e}"
        );
    }
});
