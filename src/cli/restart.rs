//! `openclaw gateway restart [--safe] [--force]`: asks the running gateway to restart its
//! process (`gateway.restart.request`, `operator.admin`). The gateway waits, bounded, for
//! agent runs and background commands to finish (`--force`: it does not wait), then stops
//! cleanly and starts again with the same process id, reading its config afresh. Works on
//! a local or a remote gateway (the usual `--url`, `--token`, … flags).

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::{ConnArgs, Failure, call_one, client_target, pretty};

/// `openclaw gateway restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Wait for active work to finish first (the default; OpenClaw's flag, accepted).
    #[arg(long, conflicts_with = "force")]
    pub safe: bool,
    /// Restart now, cutting short any agent run or background command.
    #[arg(long)]
    pub force: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The `gateway.restart.request` params for the flags.
pub fn params(args: &RestartArgs) -> Value {
    if args.force {
        json!({"reason": "gateway.restart", "skipDeferral": true})
    } else {
        json!({"reason": "gateway.restart.safe"})
    }
}

/// OpenClaw's message for the answer's `status`.
pub fn message(status: &str, force: bool) -> &'static str {
    match status {
        "coalesced" => "safe restart request joined an existing pending gateway restart",
        "deferred" => {
            "safe restart requested; gateway will restart after active work drains (bounded wait; may force after the timeout expires)"
        }
        _ if force => {
            "restart requested; gateway bypassing active-work deferral; shutdown may still wait for pending replies to drain"
        }
        _ => "safe restart requested; gateway will restart momentarily",
    }
}

/// Runs `openclaw gateway restart`.
pub async fn run(config: Option<PathBuf>, args: RestartArgs) -> Result<(), Failure> {
    let target = client_target(config, &args.conn).await?;
    let answer = call_one(
        &target,
        "gateway.restart.request",
        params(&args),
        args.conn.timeout,
    )
    .await?;
    let status = answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("scheduled");
    let text = message(status, args.force);
    let summary = answer
        .pointer("/preflight/summary")
        .and_then(Value::as_str)
        .filter(|_| {
            answer
                .pointer("/preflight/blockers")
                .and_then(Value::as_array)
                .is_some_and(|b| !b.is_empty())
        });
    if args.conn.json {
        let payload = json!({
            "ok": true,
            "result": status,
            "message": text,
            "preflight": answer.get("preflight"),
            "restart": answer.get("restart"),
        });
        println!("{}", pretty(&payload));
    } else {
        println!("{text}");
        if let Some(s) = summary {
            let s: String = s.chars().filter(|c| !c.is_control()).collect();
            println!("{s}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_openclaws_params_and_messages() {
        let conn = || ConnArgs::default();
        let safe = RestartArgs {
            safe: true,
            force: false,
            conn: conn(),
        };
        assert_eq!(params(&safe), json!({"reason": "gateway.restart.safe"}));
        let force = RestartArgs {
            safe: false,
            force: true,
            conn: conn(),
        };
        assert_eq!(params(&force)["skipDeferral"], true);
        assert!(message("deferred", false).contains("after active work drains"));
        assert!(message("scheduled", false).contains("momentarily"));
        assert!(message("scheduled", true).contains("bypassing"));
        assert!(message("coalesced", false).contains("joined"));
    }
}
