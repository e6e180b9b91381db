//! `openclaw models [status|list]`: which model the gateway's agent uses, its fallbacks and
//! the models a chat may choose (`/model`), from the local config and environment (as
//! OpenClaw's `models status` reads them), with the API, the endpoint and where each key
//! comes from. Never a key itself. A config the gateway would refuse is reported with the
//! same message and exit code 78.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Failure;
use crate::config::models::Target;

/// `openclaw models` (plain: status).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ModelsCmd {
    /// What to show (default: status).
    #[command(subcommand)]
    pub sub: Option<ModelsSub>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `openclaw models <sub>`.
#[derive(Debug, Subcommand)]
pub enum ModelsSub {
    /// The default model, its fallbacks, and how each is reached.
    Status(ModelsArgs),
    /// The models a chat may choose with /model.
    List(ModelsArgs),
}

/// Flags of `models status` / `models list`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

fn row(t: &Target, alias: Option<&str>) -> Value {
    json!({
        "ref": t.label(),
        "alias": alias,
        "api": t.api.name(),
        "baseUrl": t.base_url,
        "keySource": t.key_source,
        "input": if t.images { json!(["text", "image"]) } else { json!(["text"]) },
    })
}

fn line(t: &Target, alias: Option<&str>) -> String {
    let key = match &t.key_source {
        Some(s) => format!("key from {s}"),
        None => "no key".to_owned(),
    };
    let alias = alias.map(|a| format!(" ({a})")).unwrap_or_default();
    format!(
        "{}{alias} · {} · {} · {key}",
        t.label(),
        t.api.name(),
        t.base_url
    )
}

/// Runs `openclaw models …`.
pub async fn run_models(config: Option<PathBuf>, cmd: ModelsCmd) -> Result<(), Failure> {
    let (list, json_out) = match &cmd.sub {
        None => (false, cmd.json),
        Some(ModelsSub::Status(a)) => (false, a.json || cmd.json),
        Some(ModelsSub::List(a)) => (true, a.json || cmd.json),
    };
    let loaded = super::load(config, &Default::default())?;
    let cfg = &loaded.config;
    let env = |k: &str| cfg.env_var(k);
    let plan = crate::config::models::plan(cfg, &env).map_err(|m| Failure {
        code: crate::gateway::EXIT_CONFIG,
        message: m,
        json: None,
    })?;
    let choices = crate::config::models::choices(cfg, &env);
    if list {
        if json_out {
            let models: Vec<Value> = choices
                .iter()
                .map(|c| row(&c.target, c.alias.as_deref()))
                .collect();
            println!("{}", super::pretty(&json!({ "models": models })));
        } else if choices.is_empty() {
            println!("No models configured: the embedded command agent answers.");
        } else {
            for c in &choices {
                println!("{}", line(&c.target, c.alias.as_deref()));
            }
        }
        return Ok(());
    }
    let alias_of = |t: &Target| {
        choices
            .iter()
            .find(|c| c.reference == t.label())
            .and_then(|c| c.alias.clone())
    };
    match plan {
        None => {
            if json_out {
                println!(
                    "{}",
                    super::pretty(
                        &json!({"defaultModel": null, "fallbacks": [], "agent": "embedded command agent"})
                    )
                );
            } else {
                println!(
                    "No model configured: the embedded command agent answers (/help, /nodes, /invoke, /which)."
                );
                println!(
                    "Set agents.defaults.model, e.g. \"anthropic/claude-opus-5\" with ANTHROPIC_API_KEY."
                );
            }
        }
        Some(p) => {
            if json_out {
                let fallbacks: Vec<Value> = p
                    .fallbacks
                    .iter()
                    .map(|t| row(t, alias_of(t).as_deref()))
                    .collect();
                println!(
                    "{}",
                    super::pretty(&json!({
                        "defaultModel": row(&p.primary, alias_of(&p.primary).as_deref()),
                        "fallbacks": fallbacks,
                        "choosable": choices.len(),
                    }))
                );
            } else {
                println!(
                    "Default: {}",
                    line(&p.primary, alias_of(&p.primary).as_deref())
                );
                if p.fallbacks.is_empty() {
                    println!("Fallbacks: none");
                } else {
                    for t in &p.fallbacks {
                        println!("Fallback: {}", line(t, alias_of(t).as_deref()));
                    }
                }
                println!(
                    "Choosable with /model: {} (openclaw models list)",
                    choices.len()
                );
            }
        }
    }
    Ok(())
}
