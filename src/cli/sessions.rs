//! `openclaw sessions …`: list the gateway's sessions (`sessions.list`), delete them
//! (`sessions.delete`) and run maintenance (`sessions.cleanup`), worded as OpenClaw's
//! `openclaw sessions`, `sessions delete` and `sessions cleanup`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::scopes_for;
use super::nodes::{ago, call, or_dash, s, table, truncate, usage};
use super::{ConnArgs, Failure, client_target, pretty};

/// `openclaw sessions` (plain: list).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SessionsCmd {
    /// What to do (default: list).
    #[command(subcommand)]
    pub sub: Option<SessionsSub>,
    /// Options for the implicit `list`.
    #[command(flatten)]
    pub list: ListArgs,
}

/// `openclaw sessions <sub>`.
#[derive(Debug, Subcommand)]
pub enum SessionsSub {
    /// List the sessions, most recent first.
    List(ListArgs),
    /// Delete sessions: their runs stop, they leave the index, and each transcript is
    /// archived on the gateway host (`<id>.jsonl.deleted.<ms>`).
    Delete(DeleteArgs),
    /// Run session maintenance now (`session.maintenance`: age, count, archive retention,
    /// disk budget) on the gateway.
    Cleanup(CleanupArgs),
}

/// `sessions cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The agent to maintain (default: the default agent).
    #[arg(long, conflicts_with = "all_agents")]
    pub agent: Option<String>,
    /// Maintain every agent.
    #[arg(long)]
    pub all_agents: bool,
    /// Apply even when session.maintenance.mode is "warn".
    #[arg(long)]
    pub enforce: bool,
    /// A session key to keep whatever its age.
    #[arg(long, value_name = "KEY")]
    pub active_key: Option<String>,
    /// Also drop entries whose transcript file is missing.
    #[arg(long)]
    pub fix_missing: bool,
    /// Say what would be archived and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `sessions list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Most sessions to show (1-1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `sessions delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Session keys (`agent:main:telegram:direct:123`; a bare key means `agent:main:<key>`).
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Delete without asking (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Runs `openclaw sessions …`.
pub async fn run_sessions(config: Option<PathBuf>, cmd: SessionsCmd) -> Result<(), Failure> {
    match cmd.sub {
        None => sessions_list(config, cmd.list).await,
        Some(SessionsSub::List(a)) => sessions_list(config, a).await,
        Some(SessionsSub::Delete(a)) => sessions_delete(config, a).await,
        Some(SessionsSub::Cleanup(a)) => sessions_cleanup(config, a).await,
    }
}

/// One store's summary as lines (OpenClaw's `Applied maintenance` wording, with the
/// numbers behind it).
fn cleanup_lines(st: &Value, many: bool) -> Vec<String> {
    let n = |k: &str| st.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut out = Vec::new();
    if many {
        out.push(format!("Agent: {}", s(st, "agentId")));
    }
    out.push(format!("Session store: {}", s(st, "storePath")));
    let applied = st.get("applied").and_then(Value::as_bool) == Some(true);
    if st.get("dryRun").and_then(Value::as_bool) == Some(true) {
        out.push(format!(
            "Dry run (mode {}): entries {} -> {}; nothing changed",
            s(st, "mode"),
            n("beforeCount"),
            n("afterCount")
        ));
    } else if applied {
        out.push(format!(
            "Applied maintenance. Current entries: {}",
            n("appliedCount")
        ));
    } else {
        out.push(format!(
            "Maintenance mode: {} (nothing changed; --enforce applies). Entries: {} -> {}",
            s(st, "mode"),
            n("beforeCount"),
            n("afterCount")
        ));
    }
    out.push(format!(
        "Archived (idle): {} · Deleted (cron): {} · Archived (over maxEntries): {} · Missing transcripts: {}",
        n("archived"),
        n("pruned"),
        n("capArchived"),
        n("missing")
    ));
    let old = st
        .pointer("/unreferencedArtifacts/removedFiles")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if let Some(d) = st.get("diskBudget").filter(|d| d.is_object()) {
        let b = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push(format!(
            "Disk: {} -> {} bytes (files deleted for the budget: {}, for retention: {old})",
            b("totalBytesBefore"),
            b("totalBytesAfter"),
            b("removedFiles")
        ));
    } else if old > 0 {
        out.push(format!("Files deleted for retention: {old}"));
    }
    if let Some(actions) = st.get("actions").and_then(Value::as_array)
        && !actions.is_empty()
    {
        out.push(String::new());
        out.push("Planned session actions:".to_owned());
        let rows: Vec<Vec<String>> = actions
            .iter()
            .map(|x| {
                vec![
                    s(x, "action").to_owned(),
                    s(x, "key").to_owned(),
                    ago(x, "updatedAt"),
                ]
            })
            .collect();
        out.push(table(&["ACTION", "KEY", "LAST ACTIVE"], &rows));
    }
    out
}

async fn sessions_cleanup(config: Option<PathBuf>, a: CleanupArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let mut params = json!({});
    if let Some(agent) = &a.agent {
        params["agent"] = json!(agent);
    }
    if a.all_agents {
        params["allAgents"] = json!(true);
    }
    if a.enforce {
        params["enforce"] = json!(true);
    }
    if let Some(k) = &a.active_key {
        params["activeKey"] = json!(k);
    }
    if a.fix_missing {
        params["fixMissing"] = json!(true);
    }
    if a.dry_run {
        params["dryRun"] = json!(true);
    }
    let r = call(
        &target,
        scopes_for("sessions.cleanup"),
        "sessions.cleanup",
        params,
        a.conn.timeout,
        "",
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let stores: Vec<Value> = match r.get("stores").and_then(Value::as_array) {
        Some(v) => v.clone(),
        None => vec![r],
    };
    let many = stores.len() > 1;
    let blocks: Vec<String> = stores
        .iter()
        .map(|st| cleanup_lines(st, many).join("\n"))
        .collect();
    println!("{}", blocks.join("\n\n"));
    Ok(())
}

/// `sessions.list` with `limit` rows.
async fn list(
    target: &super::client::Target,
    limit: u32,
    timeout: u64,
) -> Result<Vec<Value>, Failure> {
    let r = call(
        target,
        scopes_for("sessions.list"),
        "sessions.list",
        json!({"limit": limit.clamp(1, 1000)}),
        timeout,
        "",
    )
    .await?;
    Ok(r.get("sessions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

async fn sessions_list(config: Option<PathBuf>, a: ListArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let sessions = list(&target, a.limit, a.conn.timeout).await?;
    if a.conn.json {
        println!(
            "{}",
            pretty(&json!({"count": sessions.len(), "sessions": sessions}))
        );
        return Ok(());
    }
    if sessions.is_empty() {
        println!("No sessions yet.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|r| {
            vec![
                s(r, "key").to_owned(),
                ago(r, "updatedAt"),
                r.get("messageCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .to_string(),
                or_dash(s(r, "channel")).to_owned(),
                truncate(or_dash(s(r, "lastMessagePreview")), 40).replace('\n', " "),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["KEY", "UPDATED", "MESSAGES", "CHANNEL", "LAST"], &rows)
    );
    Ok(())
}

/// A bare key is the main agent's (`scratch` → `agent:main:scratch`), as on the gateway.
fn full_key(key: &str) -> String {
    let key = key.trim();
    if key.starts_with("agent:") {
        key.to_owned()
    } else {
        format!("agent:main:{key}")
    }
}

/// Asks on the terminal; `true` for yes.
fn confirm(question: &str) -> bool {
    use std::io::Write as _;
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok()
        && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

async fn sessions_delete(config: Option<PathBuf>, a: DeleteArgs) -> Result<(), Failure> {
    let keys: Vec<String> = a.keys.iter().map(|k| full_key(k)).collect();
    if keys.iter().any(|k| k == "agent:main:") {
        return Err(usage(
            "a session key must not be empty. Fix: pass keys as `openclaw sessions` lists them",
        ));
    }
    let target = client_target(config, &a.conn).await?;
    let known = list(&target, 1000, a.conn.timeout).await?;
    let session_id = |key: &str| {
        known
            .iter()
            .find(|r| s(r, "key") == key)
            .map(|r| s(r, "sessionId").to_owned())
    };
    let found = keys.iter().filter(|k| session_id(k).is_some()).count();
    if !a.yes && !a.dry_run && found > 0 {
        let asked = std::io::stdin().is_terminal()
            && !a.conn.json
            && confirm(&format!(
                "Delete {found} session{} and archive {} transcript{}?",
                if found == 1 { "" } else { "s" },
                if found == 1 { "its" } else { "their" },
                if found == 1 { "" } else { "s" },
            ));
        if !asked {
            return Err(usage(
                "deletion needs confirmation. Fix: pass --yes to delete without asking",
            ));
        }
    }
    let mut results = Vec::new();
    for key in &keys {
        let Some(id) = session_id(key) else {
            results.push(json!({"key": key, "ok": false, "status": "not_found",
                "error": "Session not found. Run `openclaw sessions` to choose a valid key."}));
            continue;
        };
        if a.dry_run {
            results.push(json!({"key": key, "ok": true, "status": "would_delete"}));
            continue;
        }
        let r = call(
            &target,
            scopes_for("sessions.delete"),
            "sessions.delete",
            json!({"key": key, "expectedSessionId": id, "deleteTranscript": true}),
            a.conn.timeout,
            "",
        )
        .await;
        results.push(match r {
            Ok(r) if r.get("deleted") == Some(&json!(true)) => {
                json!({"key": key, "ok": true, "status": "deleted",
                    "archived": r.get("archived").cloned().unwrap_or(json!([]))})
            }
            Ok(_) => json!({"key": key, "ok": false, "status": "not_found",
                "error": "Session not found. Run `openclaw sessions` to choose a valid key."}),
            Err(f) => json!({"key": key, "ok": false, "status": "failed", "error": f.message}),
        });
    }
    let ok = results.iter().all(|r| r["ok"] == json!(true));
    if a.conn.json {
        println!(
            "{}",
            pretty(
                &json!({"ok": ok, "operation": "delete", "dryRun": a.dry_run, "results": results})
            )
        );
    } else {
        for r in &results {
            let key = s(r, "key");
            match s(r, "status") {
                "deleted" => {
                    println!("Deleted session {key}.");
                    for path in r["archived"].as_array().into_iter().flatten() {
                        println!("Archived transcript: {}", path.as_str().unwrap_or(""));
                    }
                }
                "would_delete" => println!("[dry-run] delete session {key}"),
                _ => eprintln!("delete {key}: {}", s(r, "error")),
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: String::new(),
            json: None,
        })
    }
}
