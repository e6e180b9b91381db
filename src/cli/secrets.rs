//! `openclaw secrets reload [--json]`: has the running gateway resolve its config's secrets
//! again (`secrets.reload`, scope `operator.admin`): a rotated `tokenFile`, `.env` key or
//! `${VAR}` takes effect without a restart. The wording is OpenClaw's CLI's.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{CallError, Target, request_once};
use super::{ConnArgs, Failure, client_target, failure, pretty};

/// The gateway method.
const METHOD: &str = "secrets.reload";
/// The scope it needs.
const SCOPES: &[&str] = &["operator.admin"];

/// `openclaw secrets`.
#[derive(Debug, Args)]
pub struct SecretsCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: SecretsSub,
}

/// `openclaw secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsSub {
    /// Re-resolve secret references (`tokenFile`s, `<state dir>/.env`, `${VAR}`) in the
    /// running gateway and apply what changed.
    Reload(ReloadArgs),
}

/// `openclaw secrets reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn call_failure(err: &CallError, target: &Target) -> Failure {
    let mut f = failure(err, target);
    if err.message().contains("unknown method") && !f.message.contains("\nFix:") {
        f.message = format!(
            "{}\nFix: upgrade the gateway; it does not serve {METHOD} yet (restart it to apply rotated secrets)",
            f.message
        );
    } else if err.message().contains("secrets.reload failed") {
        f.message = format!(
            "Could not reload secrets: {}\nNothing changed. Fix: see the gateway log (`openclaw logs`) for the secret that did not resolve, correct it and run `openclaw secrets reload` again",
            err.message()
        );
    }
    f
}

/// What is printed for the gateway's answer.
fn render(payload: &Value, as_json: bool) -> String {
    let warnings = payload
        .get("warningCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if as_json {
        return pretty(
            &json!({"ok": payload.get("ok").cloned().unwrap_or(json!(true)), "warningCount": warnings}),
        );
    }
    if warnings > 0 {
        format!("Secrets reloaded with {warnings} warning(s). See the gateway log.")
    } else {
        "Secrets reloaded.".to_owned()
    }
}

/// Runs `openclaw secrets …`.
pub async fn run(config: Option<PathBuf>, cmd: SecretsCmd) -> Result<(), Failure> {
    let SecretsSub::Reload(args) = cmd.sub;
    let target = client_target(config, &args.conn).await?;
    let payload = request_once(&target, SCOPES, METHOD, json!({}), args.conn.timeout, false)
        .await
        .map_err(|e| call_failure(&e, &target))?;
    println!("{}", render(&payload, args.conn.json));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_answer_like_openclaw() {
        assert_eq!(
            render(&json!({"ok": true, "warningCount": 0}), false),
            "Secrets reloaded."
        );
        assert_eq!(
            render(&json!({"ok": true, "warningCount": 2}), false),
            "Secrets reloaded with 2 warning(s). See the gateway log."
        );
        let v: Value = serde_json::from_str(&render(&json!({"ok": true, "warningCount": 1}), true))
            .expect("json");
        assert_eq!(v, json!({"ok": true, "warningCount": 1}));
    }
}
