//! Server-side TLS (`gateway.tls`): load a PEM certificate and key, or generate a
//! self-signed pair on first start (like OpenClaw, with the `openssl` command), and build the
//! rustls server config (TLS 1.3, ring). Clients pin the leaf certificate's SHA-256
//! (`gateway.remote.tlsFingerprint`, `--tls-fingerprint`), printed at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::TlsCfg;

/// A ready server TLS setup.
pub struct ServerTls {
    /// The rustls config for the listeners.
    pub config: rustls::ServerConfig,
    /// SHA-256 of the leaf certificate (lowercase hex, no colons).
    pub fingerprint: String,
    /// Where the certificate is.
    pub cert_path: PathBuf,
}

/// `<state>/gateway/tls/gateway-cert.pem` and `gateway-key.pem` unless configured.
pub fn paths(cfg: &TlsCfg, state_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = state_dir.join("gateway").join("tls");
    (
        cfg.cert_path
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("gateway-cert.pem")),
        cfg.key_path
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("gateway-key.pem")),
    )
}

/// SHA-256 of the first certificate in a PEM file.
pub fn fingerprint_of_file(cert_path: &Path) -> Result<String, String> {
    let first = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?
        .next()
        .ok_or_else(|| format!("{} holds no certificate", cert_path.display()))?
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    Ok(openclaw_actors::identity::hex(&Sha256::digest(
        first.as_ref(),
    )))
}

/// Generates a self-signed certificate and key with the `openssl` command (P-256, 10 years).
fn generate(cert: &Path, key: &Path) -> Result<(), String> {
    if let Some(dir) = key.parent() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-sha256",
            "-days",
            "3650",
            "-nodes",
            "-subj",
            "/CN=openclaw-gateway",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
        ])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `openssl` to generate a self-signed certificate ({e}). Fix: install openssl, or set gateway.tls.certPath and keyPath to an existing certificate"
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "openssl failed to generate a certificate: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", key.display()))?;
    Ok(())
}

/// Loads (or, with `autoGenerate`, creates) the certificate and builds the server config.
pub fn load(cfg: &TlsCfg, state_dir: &Path) -> Result<ServerTls, String> {
    let (cert_path, key_path) = paths(cfg, state_dir);
    if !cert_path.exists() && !key_path.exists() {
        if cfg.auto_generate == Some(false) {
            return Err(format!(
                "gateway.tls is enabled but {} does not exist and autoGenerate is false. Fix: set gateway.tls.certPath/keyPath or enable autoGenerate",
                cert_path.display()
            ));
        }
        generate(&cert_path, &key_path)?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("cannot read the private key {}: {e}", key_path.display()))?;
    let fingerprint = openclaw_actors::identity::hex(&Sha256::digest(certs[0].as_ref()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} / {}: {e}", cert_path.display(), key_path.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config,
        fingerprint,
        cert_path,
    })
}
