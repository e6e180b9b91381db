//! The node's `host.stats`: CPU count, load average and memory from /proc.

use serde_json::{Value, json};

/// `{cpuCount, loadAverage, memoryTotalBytes, memoryFreeBytes}` from /proc.
pub fn host_stats() -> Value {
    let cpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut v = json!({"cpuCount": cpu});
    if let Ok(s) = std::fs::read_to_string("/proc/loadavg") {
        let la: Vec<f64> = s
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if la.len() == 3 {
            v["loadAverage"] = json!(la);
        }
    }
    if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
        let (total, free) = parse_meminfo(&s);
        if let Some(t) = total {
            v["memoryTotalBytes"] = json!(t);
        }
        if let Some(f) = free {
            v["memoryFreeBytes"] = json!(f);
        }
    }
    v
}

/// `(MemTotal, MemAvailable or MemFree)` in bytes.
pub(crate) fn parse_meminfo(s: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    };
    (
        field("MemTotal:"),
        field("MemAvailable:").or_else(|| field("MemFree:")),
    )
}
