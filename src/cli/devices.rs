//! `openclaw devices …`: list, approve, reject and remove paired devices, rotate and revoke
//! their tokens (split from `nodes.rs`, whose helpers it shares).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Target, scopes_for};
use super::nodes::*;
use super::{ConnArgs, Failure, client_target, pretty};

/// `openclaw devices`.
#[derive(Debug, Args)]
pub struct DevicesCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: DevicesSub,
}

/// `openclaw devices <sub>`.
#[derive(Debug, Subcommand)]
pub enum DevicesSub {
    /// List pending and paired devices.
    List(ConnArgs),
    /// Approve a pending device pairing request.
    Approve(RequestArgs),
    /// Reject a pending device pairing request.
    Reject(RequestArgs),
    /// Remove a paired device.
    Remove(DeviceRefArgs),
    /// Give a paired device a name of your own (shown by `devices list`, kept across
    /// re-approvals).
    Rename(RenameArgs),
    /// Issue a new device token for a role (printed once).
    Rotate(RotateArgs),
    /// Revoke a device's token for a role.
    Revoke(RevokeArgs),
}

/// A device given by id, id prefix or name.
#[derive(Debug, Args)]
pub struct DeviceRefArgs {
    /// Device id (or unique prefix) or display name.
    pub device: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `devices rotate`.
#[derive(Debug, Args)]
#[command(mut_arg("sign_device", |a| a.long("sign-device")))]
pub struct RotateArgs {
    /// Device id (or unique prefix) or display name.
    #[arg(long)]
    pub device: String,
    /// Role of the token (operator or node).
    #[arg(long)]
    pub role: String,
    /// Scope of the new token (repeatable; default: the currently approved scopes).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `devices rename`.
#[derive(Debug, Args)]
#[command(mut_arg("sign_device", |a| a.long("sign-device")))]
pub struct RenameArgs {
    /// Device id (or unique prefix) or name.
    #[arg(long)]
    pub device: String,
    /// The new name (1–64 characters).
    #[arg(long, value_name = "LABEL")]
    pub name: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `devices revoke`.
#[derive(Debug, Args)]
#[command(mut_arg("sign_device", |a| a.long("sign-device")))]
pub struct RevokeArgs {
    /// Device id (or unique prefix) or display name.
    #[arg(long)]
    pub device: String,
    /// Role of the token to revoke.
    #[arg(long)]
    pub role: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Runs `openclaw devices …`.
pub async fn run_devices(config: Option<PathBuf>, cmd: DevicesCmd) -> Result<(), Failure> {
    match cmd.sub {
        DevicesSub::List(conn) => devices_list(config, conn).await,
        DevicesSub::Approve(a) => devices_approve(config, a).await,
        DevicesSub::Reject(a) => {
            let target = client_target(config, &a.conn).await?;
            call_and_report(
                &target,
                "device.pair.reject",
                json!({"requestId": a.request_id}),
                &a.conn,
                "list pending requests with `openclaw devices list`",
                format!("Rejected device request {}", a.request_id),
            )
            .await
        }
        DevicesSub::Remove(a) => {
            let target = client_target(config, &a.conn).await?;
            let device_id = lookup_device(&target, &a.device, a.conn.timeout).await?;
            call_and_report(
                &target,
                "device.pair.remove",
                json!({"deviceId": device_id}),
                &a.conn,
                "",
                format!("Removed device {device_id}"),
            )
            .await
        }
        DevicesSub::Rename(a) => {
            let target = client_target(config, &a.conn).await?;
            let device_id = lookup_device(&target, &a.device, a.conn.timeout).await?;
            call_and_report(
                &target,
                "device.pair.rename",
                json!({"deviceId": device_id, "label": a.name}),
                &a.conn,
                "",
                format!("Renamed device {device_id} to {:?}", a.name.trim()),
            )
            .await
        }
        DevicesSub::Rotate(a) => {
            let target = client_target(config, &a.conn).await?;
            let device_id = lookup_device(&target, &a.device, a.conn.timeout).await?;
            let mut params = json!({"deviceId": device_id, "role": a.role});
            if !a.scopes.is_empty() {
                params["scopes"] = json!(a.scopes);
            }
            let scopes = token_scopes(&a.role, &a.scopes);
            let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let r = call(
                &target,
                &scope_refs,
                "device.token.rotate",
                params,
                a.conn.timeout,
                "",
            )
            .await?;
            if a.conn.json {
                println!("{}", pretty(&r));
                return Ok(());
            }
            println!(
                "Rotated the {} token of device {} (scopes: {}).",
                or_dash(s(&r, "role")),
                or_dash(s(&r, "deviceId")),
                or_dash(&str_list(&r, "scopes").join(", "))
            );
            match r.get("token").and_then(Value::as_str) {
                Some(t) => {
                    println!("{t}");
                    println!(
                        "It is shown once: store it now. The previous token for this role no longer works."
                    );
                }
                None => println!(
                    "The gateway did not return the new token ({}): the device receives it when it reconnects with its key.",
                    or_dash(s(&r, "tokenDelivery"))
                ),
            }
            Ok(())
        }
        DevicesSub::Revoke(a) => {
            let target = client_target(config, &a.conn).await?;
            let device_id = lookup_device(&target, &a.device, a.conn.timeout).await?;
            let scopes = token_scopes(&a.role, &[]);
            let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let r = call(
                &target,
                &scope_refs,
                "device.token.revoke",
                json!({"deviceId": device_id, "role": a.role}),
                a.conn.timeout,
                "",
            )
            .await?;
            if a.conn.json {
                println!("{}", pretty(&r));
            } else {
                println!("Revoked the {} token of device {device_id}", a.role);
            }
            Ok(())
        }
    }
}

/// Scopes to rotate or revoke a device token: pairing; managing a non-operator role (e.g.
/// a node's token) also takes admin; an operator token cannot get scopes the caller lacks.
pub(super) fn token_scopes(role: &str, requested: &[String]) -> Vec<String> {
    let mut scopes = vec!["operator.pairing".to_owned()];
    if role.trim() != "operator" {
        scopes.push("operator.admin".to_owned());
    }
    for sc in requested {
        if sc.starts_with("operator.") && !scopes.contains(sc) {
            scopes.push(sc.clone());
        }
    }
    scopes
}

fn paired_of(v: &Value) -> Vec<Value> {
    v.get("paired")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The name a paired device is shown by: the operator's label, else its own display name.
fn device_name(d: &Value) -> &str {
    match s(d, "operatorLabel") {
        "" => s(d, "displayName"),
        label => label,
    }
}

/// Picks a paired device: exact id, name (operator label or display name,
/// case-insensitive), unique id prefix.
pub fn resolve_device<'a>(devices: &'a [Value], query: &str) -> Result<&'a Value, String> {
    let q = query.trim();
    let lower = q.to_lowercase();
    let tiers: [Matcher<'_>; 3] = [
        Box::new(|d| s(d, "deviceId") == q),
        Box::new(|d| {
            !lower.is_empty()
                && (device_name(d).to_lowercase() == lower
                    || s(d, "displayName").to_lowercase() == lower)
        }),
        Box::new(|d| q.len() >= 4 && s(d, "deviceId").starts_with(&lower)),
    ];
    for tier in &tiers {
        let matches: Vec<&Value> = devices.iter().filter(|d| tier(d)).collect();
        match matches.as_slice() {
            [] => continue,
            [one] => return Ok(one),
            many => {
                return Err(format!(
                    "ambiguous device {q:?} (matches: {}). Fix: pass more of the device id",
                    many.iter()
                        .map(|d| short_id(s(d, "deviceId")).to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Err(format!(
        "unknown device {q:?}. Fix: check the id with `openclaw devices list`"
    ))
}

async fn lookup_device(target: &Target, query: &str, timeout: u64) -> Result<String, Failure> {
    let list = call(
        target,
        scopes_for("device.pair.list"),
        "device.pair.list",
        json!({}),
        timeout,
        "",
    )
    .await?;
    let paired = paired_of(&list);
    match resolve_device(&paired, query) {
        Ok(d) => Ok(s(d, "deviceId").to_owned()),
        Err(_) if query.len() == 64 && query.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(query.to_ascii_lowercase())
        }
        Err(e) => Err(usage(e)),
    }
}

async fn devices_list(config: Option<PathBuf>, conn: ConnArgs) -> Result<(), Failure> {
    let target = client_target(config, &conn).await?;
    let list = call(
        &target,
        scopes_for("device.pair.list"),
        "device.pair.list",
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
    let paired = paired_of(&list);
    println!("Pending: {} · Paired: {}", pending.len(), paired.len());
    if !pending.is_empty() {
        println!("\nPending");
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|p| {
                vec![
                    s(p, "requestId").to_owned(),
                    short_id(s(p, "deviceId")).to_owned(),
                    or_dash(s(p, "displayName")).to_owned(),
                    format!(
                        "{}/{}",
                        or_dash(s(p, "clientId")),
                        or_dash(s(p, "clientMode"))
                    ),
                    or_dash(s(p, "role")).to_owned(),
                    or_dash(&str_list(p, "scopes").join(",")).to_owned(),
                    or_dash(s(p, "remoteIp")).to_owned(),
                    ago(p, "ts"),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &[
                    "REQUEST",
                    "DEVICE",
                    "NAME",
                    "CLIENT",
                    "ROLE",
                    "SCOPES",
                    "IP",
                    "REQUESTED"
                ],
                &rows
            )
        );
        println!("Approve with: openclaw devices approve <requestId>");
    }
    if !paired.is_empty() {
        println!("\nPaired");
        let rows: Vec<Vec<String>> = paired
            .iter()
            .map(|d| {
                let roles = {
                    let r = str_list(d, "roles");
                    if r.is_empty() {
                        s(d, "role").to_owned()
                    } else {
                        r.join(",")
                    }
                };
                let tokens = d
                    .get("tokens")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .map(|x| s(x, "role").to_owned())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    short_id(s(d, "deviceId")).to_owned(),
                    or_dash(device_name(d)).to_owned(),
                    format!(
                        "{}/{}",
                        or_dash(s(d, "clientId")),
                        or_dash(s(d, "clientMode"))
                    ),
                    or_dash(&roles).to_owned(),
                    truncate(or_dash(&str_list(d, "scopes").join(",")), 40),
                    or_dash(&tokens).to_owned(),
                    yes_no(d, "connected").to_owned(),
                    ago(d, "lastSeenAtMs"),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &[
                    "DEVICE",
                    "NAME",
                    "CLIENT",
                    "ROLES",
                    "SCOPES",
                    "TOKENS",
                    "CONNECTED",
                    "LAST SEEN"
                ],
                &rows
            )
        );
    }
    Ok(())
}

/// Scopes to approve a device request: pairing, plus the operator scopes it asks for (an
/// approver cannot grant more than it holds).
pub(super) fn device_approve_scopes(request: Option<&Value>) -> Vec<String> {
    let mut scopes = vec!["operator.pairing".to_owned()];
    if let Some(r) = request {
        for sc in str_list(r, "scopes") {
            if sc.starts_with("operator.") && !scopes.contains(&sc) {
                scopes.push(sc);
            }
        }
    }
    scopes
}

async fn devices_approve(config: Option<PathBuf>, a: RequestArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let hint =
        "list pending requests with `openclaw devices list` (requests expire after 5 minutes)";
    let r = approve_pending(&target, "device", &a, hint, device_approve_scopes).await?;
    if a.conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let d = r.get("device").cloned().unwrap_or(Value::Null);
    println!(
        "Approved device {} ({}) as {}{}",
        or_dash(s(&d, "displayName")),
        or_dash(s(&d, "deviceId")),
        or_dash(s(&d, "role")),
        match str_list(&d, "scopes").join(", ") {
            sc if sc.is_empty() => String::new(),
            sc => format!(" with {sc}"),
        }
    );
    Ok(())
}
