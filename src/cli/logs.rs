//! `openclaw logs [--follow] [--json]`: tails the gateway log over `logs.tail`, like
//! OpenClaw's `openclaw logs`. Plain mode prints `time level subsystem: message`; `--json`
//! prints one object per line: `{"type":"meta",…}` first, then `{"type":"log",…}` per
//! record and `{"type":"notice",…}` when lines were skipped or the log restarted.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::{ConnArgs, Failure, call_one, client_target};

/// `openclaw logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep tailing.
    #[arg(long)]
    pub follow: bool,
    /// Max lines per fetch (1..=5000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5000))]
    pub limit: u64,
    /// Max bytes per fetch (1..=1000000).
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_bytes: u64,
    /// Poll interval while following (ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub interval: u64,
    /// Connection flags (`--json` prints line-delimited JSON).
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn print_lines(res: &Value, json_out: bool) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if res.get("reset") == Some(&json!(true)) || res.get("truncated") == Some(&json!(true)) {
        let what = if res.get("reset") == Some(&json!(true)) {
            "log lines were dropped before this point (the gateway keeps a bounded window)"
        } else {
            "output truncated to the newest lines"
        };
        if json_out {
            let _ = writeln!(out, "{}", json!({"type": "notice", "message": what}));
        } else {
            let _ = writeln!(out, "[notice] {what}");
        }
    }
    for l in res
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        match serde_json::from_str::<Value>(l) {
            Ok(entry) if entry.is_object() => {
                let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
                if json_out {
                    // The shape of OpenClaw's `openclaw logs --json` records.
                    let rec = json!({"type": "log", "time": s("time"), "level": s("level"),
                        "subsystem": s("subsystem"), "message": s("message"), "raw": l});
                    let _ = writeln!(out, "{rec}");
                } else {
                    let _ = writeln!(
                        out,
                        "{} {:<5} {}: {}",
                        s("time"),
                        s("level"),
                        s("subsystem"),
                        s("message")
                    );
                }
            }
            _ => {
                if json_out {
                    let _ = writeln!(out, "{}", json!({"type": "raw", "line": l}));
                } else {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
    }
    let _ = out.flush();
}

/// Runs `openclaw logs`.
pub async fn run(config: Option<PathBuf>, args: LogsArgs) -> Result<(), Failure> {
    let target = client_target(config, &args.conn).await?;
    let mut cursor: Option<u64> = None;
    let mut first = true;
    loop {
        let mut params = json!({"limit": args.limit, "maxBytes": args.max_bytes});
        if let Some(c) = cursor {
            params["cursor"] = json!(c);
        }
        let res = match call_one(&target, "logs.tail", params, args.conn.timeout).await {
            Ok(r) => r,
            Err(f) if args.follow && !first => {
                // The gateway restarted or is briefly away: retry at the next interval.
                eprintln!("logs: {}; retrying", f.message);
                actix_web::rt::time::sleep(Duration::from_millis(args.interval)).await;
                continue;
            }
            Err(f) => return Err(f),
        };
        if first && args.conn.json {
            println!(
                "{}",
                json!({"type": "meta", "file": res.get("file"), "cursor": res.get("cursor"), "size": res.get("size")})
            );
        }
        first = false;
        print_lines(&res, args.conn.json);
        cursor = res.get("cursor").and_then(Value::as_u64);
        if !args.follow {
            return Ok(());
        }
        actix_web::rt::time::sleep(Duration::from_millis(args.interval)).await;
    }
}
