//! `openclaw config get|set|unset|validate|file`: reads and edits the config file on this
//! host, like OpenClaw's `openclaw config`. Edits keep the rest of the JSON5 file as it was
//! (comments included), are checked exactly as the gateway checks the file, and are written
//! atomically (mode 0600). A running gateway picks them up (`gateway.reload`). Secret
//! values print as `__OPENCLAW_REDACTED__`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{Failure, pretty};
use crate::config::rpc::{ConfigOps, REDACTED, redact_value};
use crate::config::{self, FlagOverrides, ProcessEnv, edit};

/// `openclaw config`.
#[derive(Debug, Args)]
pub struct ConfigCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: ConfigSub,
}

/// `openclaw config <sub>`.
#[derive(Debug, Subcommand)]
pub enum ConfigSub {
    /// Print the value at a dot path (e.g. gateway.port); secrets are redacted.
    Get {
        /// Dot path.
        path: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set the value at a dot path (JSON5 value, else a string).
    Set {
        /// Dot path.
        path: String,
        /// The value: JSON5 (`18790`, `true`, `["a"]`, `{a: 1}`) or plain text.
        value: String,
    },
    /// Remove the key at a dot path.
    Unset {
        /// Dot path.
        path: String,
    },
    /// Check the config file as the gateway would.
    Validate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the config file's path.
    File,
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
        json: None,
    }
}

fn ops(config: Option<PathBuf>) -> ConfigOps {
    let (path, _) = config::config_path(config.as_deref(), &ProcessEnv);
    let state = config::state_dir(&ProcessEnv);
    ConfigOps {
        path,
        flags: FlagOverrides::default(),
        scratch_dir: state.join("gateway"),
        watcher: None,
        exec_approvals: crate::clients::host_approvals::path(&state),
        state_dir: state,
        restart: None,
    }
}

fn read(ops: &ConfigOps) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(&ops.path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(1, format!("cannot read {}: {e}", ops.path.display()))),
    }
}

/// Runs `openclaw config …`.
pub async fn run(config: Option<PathBuf>, cmd: ConfigCmd) -> Result<(), Failure> {
    let ops = ops(config);
    match cmd.sub {
        ConfigSub::File => {
            println!("{}", ops.path.display());
            Ok(())
        }
        ConfigSub::Validate { json } => {
            let Some(text) = read(&ops)? else {
                let msg = format!(
                    "config file {} does not exist (defaults apply)",
                    ops.path.display()
                );
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"ok": true, "path": ops.path.display().to_string(), "exists": false})
                    );
                } else {
                    println!("{msg}");
                }
                return Ok(());
            };
            match ops.check(&text) {
                Ok(_) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": true, "path": ops.path.display().to_string(), "exists": true})
                        );
                    } else {
                        println!("Config valid: {}", ops.path.display());
                    }
                    Ok(())
                }
                Err(m) => Err(Failure {
                    code: crate::gateway::EXIT_CONFIG,
                    json: Some(
                        serde_json::json!({"ok": false, "path": ops.path.display().to_string(), "error": m}),
                    ),
                    message: m,
                }),
            }
        }
        ConfigSub::Get { path, json } => {
            let keys = edit::split_path(&path).map_err(|m| fail(1, m))?;
            let text = read(&ops)?;
            let loaded = match &text {
                Some(t) => ops
                    .check(t)
                    .map_err(|m| fail(crate::gateway::EXIT_CONFIG, m))?,
                None => config::load(
                    Some(&ops.path).filter(|p| p.exists()).map(|p| p.as_path()),
                    &std::collections::BTreeMap::new(),
                    &FlagOverrides::default(),
                )
                .map_err(|e| fail(crate::gateway::EXIT_CONFIG, e.to_string()))?,
            };
            // The file's own value (unknown keys included), else the effective one.
            let file_value: Option<Value> = text.as_deref().and_then(|t| json5::from_str(t).ok());
            let mut effective = serde_json::to_value(&loaded.config).unwrap_or(Value::Null);
            let mut file_value = file_value.unwrap_or(Value::Null);
            redact_value(&mut effective);
            redact_value(&mut file_value);
            let lookup = |v: &Value| keys.iter().try_fold(v, |v, k| v.get(k)).cloned();
            let mut value = lookup(&file_value)
                .or_else(|| lookup(&effective))
                .ok_or_else(|| fail(1, format!("config path {path} is not set")))?;
            if keys
                .last()
                .is_some_and(|k| crate::config::rpc::is_secret_key(k))
                && !value.is_null()
            {
                value = Value::String(REDACTED.to_owned());
            }
            match (&value, json) {
                (Value::String(s), false) => println!("{s}"),
                _ => println!("{}", pretty(&value)),
            }
            Ok(())
        }
        ConfigSub::Set { path, value } => {
            let keys = edit::split_path(&path).map_err(|m| fail(1, m))?;
            let v: Value = json5::from_str(&value).unwrap_or(Value::String(value.clone()));
            let text = read(&ops)?.unwrap_or_else(|| "{}\n".to_owned());
            let new = edit::set(&text, &keys, &v)
                .map_err(|m| fail(1, format!("cannot edit {}: {m}", ops.path.display())))?;
            ops.write(&new).map_err(|(_, m)| {
                fail(
                    crate::gateway::EXIT_CONFIG,
                    format!("{m}; {} was not changed", ops.path.display()),
                )
            })?;
            println!("Updated {path} in {}", ops.path.display());
            Ok(())
        }
        ConfigSub::Unset { path } => {
            let keys = edit::split_path(&path).map_err(|m| fail(1, m))?;
            let Some(text) = read(&ops)? else {
                return Err(fail(
                    1,
                    format!(
                        "config path {path} is not set ({} does not exist)",
                        ops.path.display()
                    ),
                ));
            };
            let new = edit::unset(&text, &keys)
                .map_err(|m| fail(1, format!("cannot edit {}: {m}", ops.path.display())))?
                .ok_or_else(|| {
                    fail(
                        1,
                        format!("config path {path} is not set in {}", ops.path.display()),
                    )
                })?;
            ops.write(&new).map_err(|(_, m)| {
                fail(
                    crate::gateway::EXIT_CONFIG,
                    format!("{m}; {} was not changed", ops.path.display()),
                )
            })?;
            println!("Removed {path} from {}", ops.path.display());
            Ok(())
        }
    }
}
