//! `openclaw healthcheck [--ready]`: asks the local gateway's unauthenticated probe
//! (`/healthz`, or `/readyz` with `--ready`) over loopback and exits 0 when it answers 200.
//! Made for container `HEALTHCHECK`s (the distroless image has no curl): no credentials
//! needed. With `gateway.tls.enabled` it speaks TLS pinned to the local certificate.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Failure, load};
use crate::config::FlagOverrides;

/// `openclaw healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Ask `/readyz` (traffic admission) instead of `/healthz` (liveness).
    #[arg(long)]
    pub ready: bool,
    /// Port (default: the configured gateway port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Timeout in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub timeout: u64,
}

fn fail(message: String) -> Failure {
    Failure {
        code: 1,
        message,
        json: None,
    }
}

/// Runs the probe.
pub async fn run(config: Option<PathBuf>, args: HealthcheckArgs) -> Result<(), Failure> {
    let loaded = load(config, &FlagOverrides::default())?;
    let gw = &loaded.config.gateway;
    let port = args.port.unwrap_or(gw.port);
    let path = if args.ready { "/readyz" } else { "/healthz" };
    let limit = Duration::from_millis(args.timeout.max(1));
    let pin = if gw.tls.enabled == Some(true) {
        let (cert, _) = crate::tls::paths(&gw.tls, &loaded.state_dir);
        let fp = crate::tls::fingerprint_of_file(&cert)
            .map_err(|e| fail(format!("cannot read the gateway certificate: {e}")))?;
        Some(
            crate::client::pin::parse_fingerprint(&fp)
                .ok_or_else(|| fail("bad certificate fingerprint".to_owned()))?,
        )
    } else {
        None
    };
    let work = move || -> Result<(u16, String), String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut sock = TcpStream::connect_timeout(&addr, limit)
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        sock.set_read_timeout(Some(limit))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(limit))
            .map_err(|e| e.to_string())?;
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        let mut buf = Vec::new();
        match pin {
            None => {
                sock.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
                let _ = (&sock).take(64 * 1024).read_to_end(&mut buf);
            }
            Some(pin) => {
                let cfg = crate::client::pin::pinned_config(crate::client::pin::Pins {
                    leaf: Some(pin),
                    spki: Vec::new(),
                })
                .map_err(|e| e.to_string())?;
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| e.to_string())?;
                let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name)
                    .map_err(|e| e.to_string())?;
                let mut tls = rustls::StreamOwned::new(conn, sock);
                tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
                let _ = (&mut tls).take(64 * 1024).read_to_end(&mut buf);
            }
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "no HTTP response".to_owned())?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    let (status, body) = actix_web::rt::task::spawn_blocking(work)
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|m| fail(format!("{m}. Fix: is the gateway running on this host?")))?;
    println!("{}", body.trim());
    if status == 200 {
        Ok(())
    } else {
        Err(fail(format!("{path} answered {status}")))
    }
}
