//! Facts about the host from /proc and the file system: the node's `host.stats` and the
//! gateway's `system.info`.

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
pub fn parse_meminfo(s: &str) -> (Option<u64>, Option<u64>) {
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

/// What `system.info` needs of the gateway itself (the rest is read from the host).
pub struct GatewayFacts<'a> {
    /// The host's display name (presence's).
    pub machine_name: &'a str,
    /// The port the gateway listens on.
    pub port: u16,
    /// The gateway's version.
    pub version: &'a str,
    /// This process's instance id (changes at every start).
    pub instance_id: &'a str,
    /// Time since start.
    pub uptime_ms: u64,
    /// The state directory (its file system's size and free space are reported).
    pub state_dir: &'a std::path::Path,
}

/// `system.info`: OpenClaw's `SystemInfoResult` for this host and process: names, OS,
/// CPU, load, memory and the state directory's disk. Reads a few small /proc files and
/// one `statvfs`; nothing here blocks on the network.
pub fn system_info(g: &GatewayFacts<'_>) -> Value {
    let release = proc_line("/proc/sys/kernel/osrelease").unwrap_or_default();
    let hostname =
        proc_line("/proc/sys/kernel/hostname").unwrap_or_else(|| g.machine_name.to_owned());
    let platform = node_platform();
    let os_label = match platform {
        "linux" => format!("Linux {release}"),
        "darwin" => format!("macOS {release}"),
        other => format!("{other} {release}"),
    };
    let stats = host_stats();
    let mut v = json!({
        "machineName": g.machine_name,
        "hostname": hostname,
        "platform": platform,
        "release": release,
        "arch": node_arch(),
        "osLabel": os_label.trim_end(),
        "port": g.port,
        // OpenClaw reports its Node.js runtime here; this gateway has none.
        "nodeVersion": format!("openclaw-rs {}", g.version),
        "pid": std::process::id(),
        "processInstanceId": g.instance_id,
        "uptimeMs": g.uptime_ms,
        "cpuCount": stats["cpuCount"],
        "memoryTotalBytes": stats.get("memoryTotalBytes").cloned().unwrap_or(json!(0)),
        "memoryFreeBytes": stats.get("memoryFreeBytes").cloned().unwrap_or(json!(0)),
        // No utility model (OpenClaw's small model for titles and summaries) is used.
        "defaultAgentUtilityModel": {"status": "unavailable"},
    });
    if let Some(model) = cpu_model() {
        v["cpuModel"] = json!(model);
    }
    if let Some(la) = stats.get("loadAverage").and_then(Value::as_array)
        && la.iter().any(|x| x.as_f64().is_some_and(|f| f != 0.0))
    {
        v["loadAverage"] = json!(la);
    }
    if let Some((total, available)) = disk_space(g.state_dir) {
        let path = g.state_dir.display().to_string();
        v["disks"] = json!([{"path": path, "totalBytes": total, "availableBytes": available}]);
        v["diskTotalBytes"] = json!(total);
        v["diskAvailableBytes"] = json!(available);
        v["diskPath"] = json!(path);
    }
    v
}

/// The first line of a small /proc file, trimmed (`None`: unreadable or empty).
fn proc_line(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let line = s.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// Node.js's name for this OS (`os.platform()`).
pub fn node_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// Node.js's name for this CPU architecture (`os.arch()`).
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// The CPU's model name (`/proc/cpuinfo`), read once.
fn cpu_model() -> Option<&'static str> {
    static MODEL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
            parse_cpu_model(&s)
        })
        .as_deref()
}

/// The first `model name` (x86) or `Model` / `Hardware` (ARM) of a `/proc/cpuinfo`.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.trim();
            (k.trim() == *key && !v.is_empty()).then(|| v.to_owned())
        })
    })
}

/// `(total, available to unprivileged users)` bytes of the file system holding `path`,
/// rounded up to whole KiB as OpenClaw's; `None` when it cannot be read or is empty.
pub fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(path).ok()?;
    let kib = |b: u64| b.div_ceil(1024).saturating_mul(1024);
    let total = kib(st.f_blocks.saturating_mul(st.f_frsize));
    let available = kib(st.f_bavail.saturating_mul(st.f_frsize));
    (total > 0).then_some((total, available))
}
