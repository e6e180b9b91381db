//! Remote access commands: `gateway fingerprint` (the pins clients use), `gateway tunnel`
//! (the managed SSH tunnel in the foreground), and the SSH-transport side of target
//! resolution.

use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;
use serde_json::json;

use super::{ConnArgs, Failure, load, pretty, resolve_target};
use crate::client::Target;
use crate::config::remote::RemoteTransport;
use crate::config::{FlagOverrides, Loaded, ProcessEnv};
use crate::ssh_tunnel;

/// `gateway fingerprint`.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// Read this PEM certificate instead of the gateway's (gateway.tls.certPath or the
    /// generated one in the state dir).
    #[arg(long, value_name = "PATH")]
    pub cert: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `gateway tunnel`.
#[derive(Debug, Args)]
pub struct TunnelArgs {
    /// Trust the ssh host key with this fingerprint (`SHA256:…`, as `ssh-keygen -l` prints
    /// it) for gateway.remote.sshTarget: it is added to the known-hosts file, then the
    /// tunnel opens.
    #[arg(long, value_name = "SHA256:…")]
    pub trust_host_key: Option<String>,
}

fn config_failure(message: impl Into<String>) -> Failure {
    Failure {
        code: crate::gateway::EXIT_CONFIG,
        message: message.into(),
        json: None,
    }
}

/// `openclaw gateway fingerprint`: the leaf SHA-256 (OpenClaw's pin format) and the SPKI pin.
pub fn fingerprint(config: Option<PathBuf>, args: FingerprintArgs) -> Result<(), Failure> {
    let cert = match args.cert {
        Some(c) => c,
        None => {
            let loaded = load(config, &FlagOverrides::default())?;
            let (cert, _) = crate::tls::paths(&loaded.config.gateway.tls, &loaded.state_dir);
            if !cert.exists() {
                return Err(Failure::usage(format!(
                    "no gateway certificate at {}{}. Fix: set gateway.tls.enabled to true and start the gateway once (it generates a self-signed certificate), or pass --cert PATH",
                    cert.display(),
                    if loaded.config.gateway.tls.enabled == Some(true) {
                        ""
                    } else {
                        " (gateway.tls.enabled is not true)"
                    }
                )));
            }
            cert
        }
    };
    let sha = crate::tls::fingerprint_of_file(&cert).map_err(Failure::usage)?;
    let spki = crate::tls::spki_pin_of_file(&cert).map_err(Failure::usage)?;
    if args.json {
        println!(
            "{}",
            pretty(&json!({"sha256": sha, "spki": spki, "certPath": cert}))
        );
    } else {
        println!("sha256: {sha}");
        println!("spki:   {spki}");
        println!("cert:   {}", cert.display());
        println!(
            "  pin the certificate: --tls-fingerprint {sha} (gateway.remote.tlsFingerprint, as OpenClaw clients do)"
        );
        println!(
            "  pin the key (survives re-issuing with the same key): --tls-spki-pin {spki} (gateway.remote.tlsSpkiPins)"
        );
    }
    Ok(())
}

/// Tunnels opened by this command, closed by [`close_tunnels`] when it finishes.
static TUNNELS: Mutex<Vec<ssh_tunnel::Tunnel>> = Mutex::new(Vec::new());

/// Closes every tunnel this process opened (SIGTERM to its ssh).
pub async fn close_tunnels() {
    let tunnels: Vec<ssh_tunnel::Tunnel> = TUNNELS
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    for t in tunnels {
        t.close().await;
    }
}

/// Whether this config reaches its gateway through the managed SSH tunnel.
pub fn uses_ssh(conn: &ConnArgs, loaded: &Loaded) -> bool {
    let gw = &loaded.config.gateway;
    conn.url.is_none()
        && gw.mode == Some(crate::config::GatewayMode::Remote)
        && gw.remote.effective_transport() == RemoteTransport::Ssh
}

/// Resolves the target; with the SSH transport, opens (or reuses) the tunnel first and
/// points the target at its local end.
pub async fn target_with_tunnel(conn: &ConnArgs, loaded: &Loaded) -> Result<Target, Failure> {
    let mut target = resolve_target(conn, loaded, &ProcessEnv)?;
    if uses_ssh(conn, loaded) {
        let spec = ssh_tunnel::spec_from(&loaded.config.gateway.remote, &loaded.state_dir)
            .map_err(config_failure)?;
        let tunnel = ssh_tunnel::open(&spec, &loaded.state_dir, true)
            .await
            .map_err(Failure::usage)?;
        target.url = tunnel.url();
        target.url_source = "gateway.remote.sshTarget (ssh tunnel)";
        if let Ok(mut t) = TUNNELS.lock() {
            t.push(tunnel);
        }
    }
    Ok(target)
}

/// `openclaw gateway tunnel`: holds the SSH tunnel open in the foreground until Ctrl-C.
pub async fn tunnel(config: Option<PathBuf>, args: TunnelArgs) -> Result<(), Failure> {
    let loaded = load(config, &FlagOverrides::default())?;
    let remote = &loaded.config.gateway.remote;
    if remote.ssh_target.is_none() {
        return Err(config_failure(
            "gateway.remote.sshTarget is not set. Fix: set gateway.mode \"remote\", gateway.remote.transport \"ssh\" and gateway.remote.sshTarget to user@gateway-host[:sshPort]",
        ));
    }
    let spec = ssh_tunnel::spec_from(remote, &loaded.state_dir).map_err(config_failure)?;
    if let Some(fp) = &args.trust_host_key {
        if spec.policy != crate::config::remote::HostKeyPolicy::Strict {
            return Err(Failure::usage(
                "--trust-host-key writes our own known-hosts file, used only with gateway.remote.sshHostKeyPolicy \"strict\". Fix: with \"openssh\", add the key to your ~/.ssh/known_hosts",
            ));
        }
        let key = ssh_tunnel::trust_host_key(&spec, fp)
            .await
            .map_err(Failure::usage)?;
        println!(
            "trusted {} host key {} for {} (added to {})",
            key.key_type,
            key.fingerprint,
            spec.known_hosts_name(),
            spec.known_hosts.display()
        );
    }
    let mut t = ssh_tunnel::open(&spec, &loaded.state_dir, false)
        .await
        .map_err(Failure::usage)?;
    let record = t
        .publish(&spec, &loaded.state_dir)
        .map_err(Failure::usage)?;
    println!(
        "tunnel open: {} -> {} port {} (ssh pid {}; other openclaw commands reuse it; recorded in {})\n  Ctrl-C closes it",
        t.url(),
        spec.display(),
        spec.remote_port,
        t.pid().unwrap_or(0),
        record.display()
    );
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let why = tokio::select! {
        _ = term.recv() => None,
        _ = int.recv() => None,
        why = t.wait_exit() => Some(why),
    };
    t.close().await;
    match why {
        None => {
            println!("tunnel closed");
            Ok(())
        }
        Some(why) => Err(Failure::usage(format!(
            "the ssh tunnel to {} closed: {why}",
            spec.display()
        ))),
    }
}
