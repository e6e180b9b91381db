//! The read-only reports: `health`, `status`, `gateway status` and `gateway probe`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::with_connection;
use super::{
    ConnArgs, Failure, GatewayStatusArgs, ProcessEnv, StatusArgs, call_one, client_target, failure,
    human_duration, load, pretty, remote, resolve_target,
};
use crate::config::FlagOverrides;

pub(super) async fn health(config: Option<PathBuf>, conn: ConnArgs) -> Result<(), Failure> {
    let target = client_target(config, &conn).await?;
    let h = call_one(&target, "health", json!({}), conn.timeout).await?;
    if conn.json {
        println!("{}", pretty(&h));
        return Ok(());
    }
    let ok = h.get("ok").and_then(Value::as_bool).unwrap_or(false);
    println!("Gateway health: {}", if ok { "ok" } else { "degraded" });
    println!("  url:      {} ({})", target.url, target.url_source);
    if let Some(gw) = h.get("gateway") {
        println!(
            "  version:  {}",
            gw.get("version").and_then(Value::as_str).unwrap_or("?")
        );
        if let Some(up) = gw.get("uptimeMs").and_then(Value::as_u64) {
            println!("  uptime:   {}", human_duration(up));
        }
    }
    let channels = h
        .get("channels")
        .and_then(Value::as_object)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "  channels: {}",
        if channels == 0 {
            "none configured".to_owned()
        } else {
            channels.to_string()
        }
    );
    if let Some(s) = h.get("sessions") {
        println!(
            "  sessions: {} ({})",
            s.get("count").and_then(Value::as_u64).unwrap_or(0),
            s.get("path").and_then(Value::as_str).unwrap_or("")
        );
    }
    if ok {
        Ok(())
    } else {
        Err(Failure::usage("gateway reports it is not healthy"))
    }
}

pub(super) async fn gateway_status(
    config: Option<PathBuf>,
    args: GatewayStatusArgs,
) -> Result<(), Failure> {
    let loaded = load(config, &FlagOverrides::default())?;
    let target = if args.no_probe {
        resolve_target(&args.conn, &loaded, &ProcessEnv)?
    } else {
        remote::target_with_tunnel(&args.conn, &loaded).await?
    };
    let gw = &loaded.config.gateway;
    let auth_mode = match gw.auth.mode {
        Some(m) => format!("{m:?}").to_lowercase(),
        None if gw.auth.password.is_some() => "password".into(),
        None => "token".into(),
    };
    let config_line = loaded
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (built-in defaults)".into());
    let mut probe = json!(null);
    let mut probe_err = None;
    if !args.no_probe {
        let m = "status";
        match call_one(&target, m, json!({}), args.conn.timeout).await {
            Ok(s) => probe = s,
            Err(f) => probe_err = Some(f),
        }
    }
    if args.conn.json {
        let mut out = json!({
            "config": {"path": loaded.path, "mode": gw.mode.map(|m| format!("{m:?}").to_lowercase()).unwrap_or_else(|| "local".into()),
                       "port": gw.port, "bind": gw.bind.as_str(), "authMode": auth_mode},
            "stateDir": loaded.state_dir,
            "target": {"url": target.url, "urlSource": target.url_source},
        });
        if !args.no_probe {
            out["probe"] = match &probe_err {
                None => json!({"ok": true, "status": probe}),
                Some(f) => {
                    json!({"ok": false, "error": f.json.as_ref().and_then(|j| j.get("error")).cloned()})
                }
            };
        }
        println!("{}", pretty(&out));
    } else {
        println!("Config:   {config_line}");
        println!("State:    {}", loaded.state_dir.display());
        println!(
            "Gateway:  mode {}, bind {}, port {}, auth {}",
            gw.mode
                .map(|m| format!("{m:?}").to_lowercase())
                .unwrap_or_else(|| "local".into()),
            gw.bind.as_str(),
            gw.port,
            auth_mode
        );
        println!("Target:   {} ({})", target.url, target.url_source);
        if !args.no_probe {
            match &probe_err {
                None => {
                    let g = probe.get("gateway").cloned().unwrap_or(json!({}));
                    println!(
                        "Probe:    reachable — version {}, up {}, {} connection(s)",
                        g.get("version").and_then(Value::as_str).unwrap_or("?"),
                        human_duration(g.get("uptimeMs").and_then(Value::as_u64).unwrap_or(0)),
                        g.get("connections")
                            .and_then(|c| c.get("connections"))
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                    );
                }
                Some(f) => println!(
                    "Probe:    not reachable — {}",
                    f.message.replace('\n', "\n          ")
                ),
            }
        }
    }
    match probe_err {
        Some(mut f) => {
            f.json = None;
            f.message = String::new();
            Err(f)
        }
        None => Ok(()),
    }
}

pub(super) async fn probe(config: Option<PathBuf>, conn: ConnArgs) -> Result<(), Failure> {
    let target = client_target(config, &conn).await?;
    let started = std::time::Instant::now();
    let result = with_connection(
        &target,
        &["operator.read"],
        Duration::from_millis(conn.timeout.max(1)),
        |mut c| async move {
            let hello = c.hello.clone();
            let mut results = serde_json::Map::new();
            for m in ["health", "status", "system-presence"] {
                let r = match c.request(m, json!({})).await {
                    Ok(v) => json!({"ok": true, "payload": v}),
                    Err(e) => json!({"ok": false, "error": e.message()}),
                };
                results.insert(m.to_owned(), r);
            }
            Ok(((hello, results), c))
        },
    )
    .await;
    let elapsed = started.elapsed().as_millis();
    match result {
        Ok((hello, results)) => {
            if conn.json {
                println!(
                    "{}",
                    pretty(&json!({"ok": true, "url": target.url, "latencyMs": elapsed,
                        "server": hello.get("server"), "results": results}))
                );
            } else {
                println!("Probe: {} — reachable in {elapsed} ms", target.url);
                if let Some(s) = hello.get("server") {
                    println!(
                        "  server: version {}, connId {}",
                        s.get("version").and_then(Value::as_str).unwrap_or("?"),
                        s.get("connId").and_then(Value::as_str).unwrap_or("?")
                    );
                }
                for (m, r) in &results {
                    let line = if r["ok"] == json!(true) {
                        "ok".to_owned()
                    } else {
                        format!("error: {}", r["error"].as_str().unwrap_or("?"))
                    };
                    println!("  {m}: {line}");
                }
            }
            Ok(())
        }
        Err(e) => Err(failure(&e, &target)),
    }
}

pub(super) async fn status(config: Option<PathBuf>, args: StatusArgs) -> Result<(), Failure> {
    let target = client_target(config, &args.conn).await?;
    let deep = args.deep;
    let (status, health) = with_connection(
        &target,
        &["operator.read"],
        Duration::from_millis(args.conn.timeout.max(1)),
        |mut c| async move {
            let s = c.request("status", json!({})).await?;
            let h = if deep {
                Some(c.request("health", json!({"probe": true})).await?)
            } else {
                None
            };
            Ok(((s, h), c))
        },
    )
    .await
    .map_err(|e| failure(&e, &target))?;
    if args.conn.json {
        let mut out = json!({"status": status});
        if let Some(h) = health {
            out["health"] = h;
        }
        println!("{}", pretty(&out));
        return Ok(());
    }
    let g = status.get("gateway").cloned().unwrap_or(json!({}));
    println!("Gateway:     {} ({})", target.url, target.url_source);
    println!(
        "Version:     {} (protocol {})",
        status
            .get("runtimeVersion")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        g.get("protocol").and_then(Value::as_u64).unwrap_or(4)
    );
    println!(
        "Uptime:      {}",
        human_duration(status.get("uptimeMs").and_then(Value::as_u64).unwrap_or(0))
    );
    println!(
        "Listening:   bind {} port {} auth {}",
        g.get("bind").and_then(Value::as_str).unwrap_or("?"),
        g.get("port").and_then(Value::as_u64).unwrap_or(0),
        g.get("authMode").and_then(Value::as_str).unwrap_or("?")
    );
    let c = g.get("connections").cloned().unwrap_or(json!({}));
    println!(
        "Connections: {} operator(s), {} node(s), {} handshaking",
        c.get("operators").and_then(Value::as_u64).unwrap_or(0),
        c.get("nodes").and_then(Value::as_u64).unwrap_or(0),
        c.get("pending").and_then(Value::as_u64).unwrap_or(0)
    );
    match c.get("channels").and_then(Value::as_u64).unwrap_or(0) {
        0 => println!("Channels:    none configured"),
        n => println!("Channels:    {n} account(s) (see `openclaw channels status`)"),
    }
    println!(
        "Agents:      {} session(s), {} run(s) active",
        c.get("sessions").and_then(Value::as_u64).unwrap_or(0),
        c.get("activeRuns").and_then(Value::as_u64).unwrap_or(0)
    );
    if let Some(h) = health {
        println!(
            "Health:      {}",
            if h.get("ok").and_then(Value::as_bool) == Some(true) {
                "ok"
            } else {
                "degraded"
            }
        );
    }
    Ok(())
}
