//! `openclaw nodes …`: list, inspect, invoke and approve nodes (`devices.rs` shares these
//! helpers). Each call opens its own connection with the least privilege it needs.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{CallError, Target, request_once, scopes_for};
use super::{ConnArgs, Failure, client_target, failure, human_duration, pretty};

/// `openclaw nodes`.
#[derive(Debug, Args)]
pub struct NodesCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: NodesSub,
}

/// `openclaw nodes <sub>`.
#[derive(Debug, Subcommand)]
pub enum NodesSub {
    /// List known nodes (paired or connected).
    List(ConnArgs),
    /// Show one node.
    Describe(NodeRefArgs),
    /// Invoke a command on a node and print its payload.
    Invoke(InvokeArgs),
    /// List pending node pairing (command surface) requests.
    Pending(ConnArgs),
    /// Approve a pending node pairing request.
    Approve(RequestArgs),
    /// Reject a pending node pairing request.
    Reject(RequestArgs),
    /// Remove a paired node.
    Remove(NodeRefArgs),
    /// Rename a paired node (its approved display name).
    Rename(RenameArgs),
}

/// `nodes rename --node NODE --name NAME`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Node id (or unique prefix), display name or IP.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// The new display name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// A node given by id, id prefix, name or IP.
#[derive(Debug, Args)]
pub struct NodeRefArgs {
    /// Node id (or unique prefix), display name or IP.
    #[arg(value_name = "NODE")]
    pub node_pos: Option<String>,
    /// Node id (or unique prefix), display name or IP.
    #[arg(long = "node", value_name = "NODE", conflicts_with = "node_pos")]
    pub node: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

impl NodeRefArgs {
    fn query(&self) -> Result<&str, Failure> {
        self.node
            .as_deref()
            .or(self.node_pos.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| usage("a node is required. Fix: pass a node id, name or IP (see `openclaw nodes list`)"))
    }
}

/// `nodes invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Node id (or unique prefix), display name or IP.
    #[arg(long)]
    pub node: String,
    /// Command, e.g. system.which.
    #[arg(long)]
    pub command: String,
    /// Params as a JSON object.
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Node invoke timeout in ms.
    #[arg(long, default_value_t = 15_000)]
    pub invoke_timeout: u64,
    /// Idempotency key (default: random).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// A pairing request id.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Pending request id.
    pub request_id: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub(super) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
        json: None,
    }
}

/// A failure with an extra fix for gateway errors the generic mapping does not know.
pub(super) fn call_failure(err: &CallError, target: &Target, hint: &str) -> Failure {
    let mut f = failure(err, target);
    let msg = err.message();
    let extra = if msg.contains("unknown requestId")
        || (msg.contains("unknown nodeId") && !hint.is_empty())
    {
        Some(hint.to_owned())
    } else if msg.contains("unknown nodeId") {
        Some("check the id with `openclaw nodes list`".to_owned())
    } else if msg.contains("unknown deviceId") {
        Some("check the id with `openclaw devices list`".to_owned())
    } else if err.detail_code() == Some("NOT_CONNECTED") {
        Some("start the node host (`openclaw node run`) and check `openclaw nodes list`".to_owned())
    } else if msg.contains("not in the allowlist") || msg.contains("not allowed") {
        Some("approve the node's command surface with `openclaw nodes pending` / `openclaw nodes approve <requestId>`, or check that the node declares this command".to_owned())
    } else {
        None
    };
    if let Some(extra) = extra
        && !f.message.contains("\nFix:")
    {
        f.message = format!("{}\nFix: {extra}", f.message);
    }
    f
}

pub(super) async fn call(
    target: &Target,
    scopes: &[&str],
    method: &str,
    params: Value,
    timeout_ms: u64,
    hint: &str,
) -> Result<Value, Failure> {
    request_once(target, scopes, method, params, timeout_ms, false)
        .await
        .map_err(|e| call_failure(&e, target, hint))
}

/// Calls `method` with the scopes it needs and prints the answer (`--json`) or `done`:
/// the shape of every reject/remove subcommand.
pub(super) async fn call_and_report(
    target: &Target,
    method: &str,
    params: Value,
    conn: &ConnArgs,
    hint: &str,
    done: String,
) -> Result<(), Failure> {
    let r = call(
        target,
        scopes_for(method),
        method,
        params,
        conn.timeout,
        hint,
    )
    .await?;
    if conn.json {
        println!("{}", pretty(&r));
    } else {
        println!("{done}");
    }
    Ok(())
}

pub(super) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub(super) fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn yes_no(v: &Value, key: &str) -> &'static str {
    if v.get(key).and_then(Value::as_bool) == Some(true) {
        "yes"
    } else {
        "no"
    }
}

pub(super) fn ago(v: &Value, key: &str) -> String {
    let Some(ms) = v.get(key).and_then(Value::as_u64) else {
        return "-".into();
    };
    let now = openclaw_actors::util::now_ms();
    if now >= ms {
        format!("{} ago", human_duration(now - ms))
    } else {
        "just now".into()
    }
}

pub(super) fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Renders rows as aligned columns.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A lookup rule.
pub(super) type Matcher<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

pub(super) fn nodes_of(list: &Value) -> Vec<Value> {
    list.get("nodes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Picks the node `query` names: exact id, then IP, then display name (case-insensitive),
/// then unique id prefix. Connected nodes win ties.
pub fn resolve_node<'a>(nodes: &'a [Value], query: &str) -> Result<&'a Value, String> {
    let q = query.trim();
    let lower = q.to_lowercase();
    let tiers: [Matcher<'_>; 4] = [
        Box::new(|n| s(n, "nodeId") == q),
        Box::new(|n| !q.is_empty() && s(n, "remoteIp") == q),
        Box::new(|n| !lower.is_empty() && s(n, "displayName").to_lowercase() == lower),
        Box::new(|n| q.len() >= 4 && s(n, "nodeId").starts_with(&lower)),
    ];
    for tier in &tiers {
        let matches: Vec<&Value> = nodes.iter().filter(|n| tier(n)).collect();
        if matches.is_empty() {
            continue;
        }
        let connected: Vec<&Value> = matches
            .iter()
            .copied()
            .filter(|n| n.get("connected").and_then(Value::as_bool) == Some(true))
            .collect();
        let pick = if connected.is_empty() {
            matches
        } else {
            connected
        };
        if let [one] = pick.as_slice() {
            return Ok(one);
        }
        return Err(format!(
            "ambiguous node {q:?} (matches: {}). Fix: pass more of the node id",
            pick.iter()
                .map(|n| format!("{} {}", short_id(s(n, "nodeId")), s(n, "displayName")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let known = nodes
        .iter()
        .map(|n| {
            let name = s(n, "displayName");
            if name.is_empty() {
                short_id(s(n, "nodeId")).to_owned()
            } else {
                format!("{name} ({})", short_id(s(n, "nodeId")))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "unknown node {q:?} (known: {}). Fix: check `openclaw nodes list`",
        if known.is_empty() { "none" } else { &known }
    ))
}

pub(super) async fn lookup_node(
    target: &Target,
    query: &str,
    timeout: u64,
) -> Result<String, Failure> {
    let list = call(
        target,
        scopes_for("node.list"),
        "node.list",
        json!({}),
        timeout,
        "",
    )
    .await?;
    let nodes = nodes_of(&list);
    match resolve_node(&nodes, query) {
        Ok(n) => Ok(s(n, "nodeId").to_owned()),
        // A full id the gateway does not list (e.g. a paired node that is offline on an
        // older gateway): let the gateway decide.
        Err(_) if query.len() == 64 && query.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(query.to_ascii_lowercase())
        }
        Err(e) => Err(usage(e)),
    }
}

/// Runs `openclaw nodes …`.
pub async fn run_nodes(config: Option<PathBuf>, cmd: NodesCmd) -> Result<(), Failure> {
    match cmd.sub {
        NodesSub::List(conn) => nodes_list(config, conn).await,
        NodesSub::Describe(a) => nodes_describe(config, a).await,
        NodesSub::Invoke(a) => nodes_invoke(config, a).await,
        NodesSub::Pending(conn) => nodes_pending(config, conn).await,
        NodesSub::Approve(a) => nodes_approve(config, a).await,
        NodesSub::Reject(a) => {
            let target = client_target(config, &a.conn).await?;
            call_and_report(
                &target,
                "node.pair.reject",
                json!({"requestId": a.request_id}),
                &a.conn,
                "list pending requests with `openclaw nodes pending`",
                format!("Rejected node request {}", a.request_id),
            )
            .await
        }
        NodesSub::Rename(a) => {
            let name = a.name.trim().to_owned();
            if name.is_empty() {
                return Err(usage(
                    "--name must not be empty. Fix: run `openclaw nodes list` to see paired nodes, then rerun with --name <displayName>",
                ));
            }
            let query = a.node.trim().to_owned();
            let target = client_target(config, &a.conn).await?;
            let node_id = lookup_node(&target, &query, a.conn.timeout).await?;
            call_and_report(
                &target,
                "node.rename",
                json!({"nodeId": node_id, "displayName": name}),
                &a.conn,
                "only a node whose commands were approved can be renamed: approve it first (`openclaw nodes pending`, then `openclaw nodes approve <requestId>`)",
                format!("node rename ok: {node_id} -> {name}"),
            )
            .await
        }
        NodesSub::Remove(a) => {
            let query = a.query()?.to_owned();
            let target = client_target(config, &a.conn).await?;
            let node_id = lookup_node(&target, &query, a.conn.timeout).await?;
            call_and_report(
                &target,
                "node.pair.remove",
                json!({"nodeId": node_id}),
                &a.conn,
                "",
                format!("Removed node {node_id}"),
            )
            .await
        }
    }
}

pub(super) async fn nodes_list(config: Option<PathBuf>, conn: ConnArgs) -> Result<(), Failure> {
    let target = client_target(config, &conn).await?;
    let list = call(
        &target,
        scopes_for("node.list"),
        "node.list",
        json!({}),
        conn.timeout,
        "",
    )
    .await?;
    if conn.json {
        println!("{}", pretty(&list));
        return Ok(());
    }
    let nodes = nodes_of(&list);
    let connected = nodes
        .iter()
        .filter(|n| n.get("connected").and_then(Value::as_bool) == Some(true))
        .count();
    let paired = nodes
        .iter()
        .filter(|n| n.get("paired").and_then(Value::as_bool) == Some(true))
        .count();
    println!(
        "Nodes: {} known · {paired} paired · {connected} connected",
        nodes.len()
    );
    if nodes.is_empty() {
        println!(
            "No nodes yet. Start one with `openclaw node run --host <gateway> --port <port>`."
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                short_id(s(n, "nodeId")).to_owned(),
                or_dash(s(n, "displayName")).to_owned(),
                or_dash(s(n, "platform")).to_owned(),
                yes_no(n, "connected").to_owned(),
                or_dash(s(n, "approvalState")).to_owned(),
                str_list(n, "commands").len().to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "ID",
                "NAME",
                "PLATFORM",
                "CONNECTED",
                "APPROVAL",
                "COMMANDS"
            ],
            &rows
        )
    );
    if nodes
        .iter()
        .any(|n| s(n, "approvalState").starts_with("pending"))
    {
        println!("Some nodes await approval: see `openclaw nodes pending`.");
    }
    Ok(())
}

pub(super) async fn nodes_describe(config: Option<PathBuf>, a: NodeRefArgs) -> Result<(), Failure> {
    let query = a.query()?.to_owned();
    let target = client_target(config, &a.conn).await?;
    let node_id = lookup_node(&target, &query, a.conn.timeout).await?;
    let n = call(
        &target,
        scopes_for("node.describe"),
        "node.describe",
        json!({"nodeId": node_id}),
        a.conn.timeout,
        "",
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&n));
        return Ok(());
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", s(&n, "nodeId").to_owned()),
        ("Name", or_dash(s(&n, "displayName")).to_owned()),
        (
            "Platform",
            format!(
                "{}{}",
                or_dash(s(&n, "platform")),
                match s(&n, "deviceFamily") {
                    "" => String::new(),
                    f => format!(" ({f})"),
                }
            ),
        ),
        ("Version", or_dash(s(&n, "version")).to_owned()),
        (
            "Client",
            format!(
                "{} / {}",
                or_dash(s(&n, "clientId")),
                or_dash(s(&n, "clientMode"))
            ),
        ),
        ("Remote IP", or_dash(s(&n, "remoteIp")).to_owned()),
        ("Connected", yes_no(&n, "connected").to_owned()),
        ("Paired", yes_no(&n, "paired").to_owned()),
        ("Approval", or_dash(s(&n, "approvalState")).to_owned()),
    ];
    if !s(&n, "pendingRequestId").is_empty() {
        rows.push(("Pending request", s(&n, "pendingRequestId").to_owned()));
    }
    rows.push(("Connected at", ago(&n, "connectedAtMs")));
    rows.push(("Last seen", ago(&n, "lastSeenAtMs")));
    rows.push(("Approved", ago(&n, "approvedAtMs")));
    rows.push(("Caps", or_dash(&str_list(&n, "caps").join(", ")).to_owned()));
    if let Some(h) = n.get("hostStats").filter(|h| h.is_object()) {
        let gib = |k: &str| {
            h.get(k)
                .and_then(Value::as_u64)
                .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                .unwrap_or_else(|| "?".into())
        };
        let load = h
            .get("loadAverage")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_f64)
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| "?".into());
        rows.push((
            "Host",
            format!(
                "{} CPU, load {load}, memory {} free of {}",
                h.get("cpuCount").and_then(Value::as_u64).unwrap_or(0),
                gib("memoryFreeBytes"),
                gib("memoryTotalBytes")
            ),
        ));
    }
    if !s(&n, "pathEnv").is_empty() {
        rows.push(("PATH", s(&n, "pathEnv").to_owned()));
    }
    for (k, v) in &rows {
        println!("{:<16}{v}", format!("{k}:"));
    }
    let commands = str_list(&n, "commands");
    println!("Commands ({}):", commands.len());
    for c in commands {
        println!("  {c}");
    }
    Ok(())
}

/// Commands `nodes invoke` refuses, like the real CLI.
pub(super) const BLOCKED_INVOKE: &[&str] = &["system.run", "system.run.prepare"];

pub(super) async fn nodes_invoke(config: Option<PathBuf>, a: InvokeArgs) -> Result<(), Failure> {
    let command = a.command.trim().to_owned();
    if command.is_empty() || a.node.trim().is_empty() {
        return Err(usage("--node and --command are required"));
    }
    if BLOCKED_INVOKE.contains(&command.to_ascii_lowercase().as_str()) {
        return Err(usage(format!(
            "command \"{command}\" is reserved for shell execution (as in the OpenClaw CLI). Fix: ask the agent (e.g. `/invoke <node> system.run {{\"command\":[…]}}` on a channel) or use `openclaw gateway call node.invoke`; the node runs only what its exec allowlist permits"
        )));
    }
    let params: Value = serde_json::from_str(&a.params).map_err(|e| {
        usage(format!(
            "--params is not valid JSON ({e}). Fix: pass a JSON object, e.g. --params '{{\"bins\":[\"sh\"]}}'"
        ))
    })?;
    if a.invoke_timeout == 0 {
        return Err(usage(
            "--invoke-timeout must be a positive number of milliseconds",
        ));
    }
    if a.idempotency_key.as_deref() == Some("") {
        return Err(usage("--idempotency-key must not be empty"));
    }
    let target = client_target(config, &a.conn).await?;
    let node_id = lookup_node(&target, &a.node, a.conn.timeout).await?;
    let invoke = json!({
        "nodeId": node_id,
        "command": command,
        "params": params,
        "timeoutMs": a.invoke_timeout,
        "idempotencyKey": a.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    });
    // The connection must outlive the node's own timeout.
    let timeout = a.conn.timeout.max(a.invoke_timeout.saturating_add(5_000));
    let r = call(
        &target,
        scopes_for("node.invoke"),
        "node.invoke",
        invoke,
        timeout,
        "",
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&r));
    } else {
        println!("{}", pretty(r.get("payload").unwrap_or(&Value::Null)));
    }
    Ok(())
}

pub(super) fn pending_of(v: &Value) -> Vec<Value> {
    v.get("pending")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(super) async fn nodes_pending(config: Option<PathBuf>, conn: ConnArgs) -> Result<(), Failure> {
    let target = client_target(config, &conn).await?;
    let list = call(
        &target,
        scopes_for("node.pair.list"),
        "node.pair.list",
        json!({}),
        conn.timeout,
        "",
    )
    .await?;
    if conn.json {
        println!("{}", pretty(&list));
        return Ok(());
    }
    let pending = pending_of(&list);
    if pending.is_empty() {
        println!("No pending node requests.");
        return Ok(());
    }
    println!("Pending: {}", pending.len());
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|p| {
            let commands = str_list(p, "commands");
            vec![
                s(p, "requestId").to_owned(),
                format!(
                    "{} ({})",
                    or_dash(s(p, "displayName")),
                    short_id(s(p, "nodeId"))
                ),
                or_dash(s(p, "platform")).to_owned(),
                truncate(&format!("{}: {}", commands.len(), commands.join(", ")), 70),
                ago(p, "ts"),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["REQUEST", "NODE", "PLATFORM", "COMMANDS", "REQUESTED"],
            &rows
        )
    );
    println!("Approve with: openclaw nodes approve <requestId>");
    Ok(())
}

/// Scopes to approve a node request: the request's `requiredApproveScopes` when the gateway
/// names them (always with `operator.pairing`), else pairing + admin.
pub(super) fn node_approve_scopes(request: Option<&Value>) -> Vec<String> {
    let mut scopes: Vec<String> = request
        .map(|r| str_list(r, "requiredApproveScopes"))
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.starts_with("operator."))
        .collect();
    if scopes.is_empty() {
        return vec!["operator.pairing".into(), "operator.admin".into()];
    }
    if !scopes.iter().any(|s| s == "operator.pairing") {
        scopes.insert(0, "operator.pairing".into());
    }
    scopes
}

/// Finds `a.request_id` among the pending `kind` (`node` / `device`) requests, then approves
/// it with the scopes that request needs (`scopes_of`).
pub(super) async fn approve_pending(
    target: &Target,
    kind: &str,
    a: &RequestArgs,
    hint: &str,
    scopes_of: fn(Option<&Value>) -> Vec<String>,
) -> Result<Value, Failure> {
    let list_method = format!("{kind}.pair.list");
    let list = call(
        target,
        scopes_for(&list_method),
        &list_method,
        json!({}),
        a.conn.timeout,
        hint,
    )
    .await?;
    let pending = pending_of(&list);
    let request = pending.iter().find(|p| s(p, "requestId") == a.request_id);
    if request.is_none() {
        return Err(usage(format!(
            "unknown requestId {:?}: no pending {kind} request has this id. Fix: {hint}",
            a.request_id
        )));
    }
    let scopes = scopes_of(request);
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    call(
        target,
        &scope_refs,
        &format!("{kind}.pair.approve"),
        json!({"requestId": a.request_id}),
        a.conn.timeout,
        hint,
    )
    .await
}

pub(super) async fn nodes_approve(config: Option<PathBuf>, a: RequestArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let hint = "list pending requests with `openclaw nodes pending`";
    let r = approve_pending(&target, "node", &a, hint, node_approve_scopes).await?;
    if a.conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let node = r.get("node").cloned().unwrap_or(Value::Null);
    let commands = str_list(&node, "commands");
    println!(
        "Approved node {} ({}): {} command(s){}",
        or_dash(s(&node, "displayName")),
        or_dash(s(&node, "nodeId")),
        commands.len(),
        if commands.is_empty() {
            String::new()
        } else {
            format!(" — {}", commands.join(", "))
        }
    );
    Ok(())
}

#[cfg(test)]
#[path = "nodes_tests.rs"]
mod tests;
