//! Server-side TLS (`gateway.tls`): load a PEM certificate and key, or generate a
//! self-signed pair on first start (in-process with rcgen, so it works without an `openssl`
//! command, in the distroless image too), and build the rustls server config (TLS 1.3, ring). Clients pin the leaf certificate's SHA-256
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
    /// SPKI pin of the leaf (`sha256/<base64>`).
    pub spki: String,
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

/// SHA-256 of the first certificate in a PEM file (lowercase hex, no colons: the form
/// OpenClaw's `normalizeTlsFingerprint` produces and its clients pin).
pub fn fingerprint_of_file(cert_path: &Path) -> Result<String, String> {
    Ok(openclaw_actors::identity::hex(&Sha256::digest(
        first_cert(cert_path)?.as_ref(),
    )))
}

/// The first certificate of a PEM file.
pub fn first_cert(cert_path: &Path) -> Result<CertificateDer<'static>, String> {
    CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?
        .next()
        .ok_or_else(|| format!("{} holds no certificate", cert_path.display()))?
        .map_err(|e| format!("{}: {e}", cert_path.display()))
}

/// The SPKI pin (`sha256/<base64>`) of the first certificate in a PEM file: it stays the
/// same when the certificate is re-issued with the same key.
pub fn spki_pin_of_file(cert_path: &Path) -> Result<String, String> {
    crate::client::pin::spki_pin(&first_cert(cert_path)?)
        .map_err(|e| format!("{}: {e}", cert_path.display()))
}

/// Days from 1970-01-01 to the civil date `(year, month, day)` (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    // Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(1970),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

/// Writes `bytes` to `path` atomically, the file created with `mode` (so the content is never
/// readable by others, not even briefly).
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    openclaw_actors::store::write_atomic_mode(path, bytes, mode)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Generates a self-signed certificate in-process (rcgen; no `openssl` command needed):
/// P-256 / ECDSA-SHA256, CN `openclaw-gateway`, SANs `localhost`, `127.0.0.1`, `::1`, valid
/// from yesterday for 10 years. The key file is created with mode 0600 (never readable by
/// others, not even briefly) and renamed into place before the certificate.
fn generate(cert: &Path, key: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    for dir in [key.parent(), cert.parent()].into_iter().flatten() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let fail = |e: rcgen::Error| format!("cannot generate a self-signed certificate: {e}");
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
            .map_err(fail)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "openclaw-gateway");
    params.distinguished_name = dn;
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs() / 86_400).unwrap_or(0))
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(today - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + 10, m, d.min(28));
    let certificate = params.self_signed(&key_pair).map_err(fail)?;
    write_new_file(key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_new_file(cert, certificate.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Loads (or, with `autoGenerate`, creates) the certificate and builds the server config.
pub fn load(cfg: &TlsCfg, state_dir: &Path) -> Result<ServerTls, String> {
    let (cert_path, key_path) = paths(cfg, state_dir);
    // A start interrupted between writing the generated key and the certificate leaves only
    // the key: with the default (generated) paths, generate a fresh pair.
    let interrupted = !cert_path.exists()
        && key_path.exists()
        && cfg.cert_path.is_none()
        && cfg.key_path.is_none()
        && cfg.auto_generate != Some(false);
    if interrupted {
        log::warn!(
            "{} exists without {}: generating a new self-signed pair",
            key_path.display(),
            cert_path.display()
        );
        generate(&cert_path, &key_path)?;
    } else if !cert_path.exists() && !key_path.exists() {
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
    let spki = crate::client::pin::spki_pin(&certs[0])
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
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
        spki,
        cert_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn generated_pair_loads_and_the_key_is_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cfg = TlsCfg::default();
        let tls = load(&cfg, tmp.path()).expect("generate and load");
        let (cert, key) = paths(&cfg, tmp.path());
        assert_eq!(tls.cert_path, cert);
        assert_eq!(
            tls.fingerprint,
            fingerprint_of_file(&cert).expect("fingerprint")
        );
        assert_eq!(tls.fingerprint.len(), 64);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(key.parent().expect("dir")), 0o700);
        let pem = std::fs::read_to_string(&key).expect("key");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        // No temp files left behind; a second load keeps the pair.
        let names: Vec<String> = std::fs::read_dir(key.parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(
            load(&cfg, tmp.path()).expect("reload").fingerprint,
            tls.fingerprint
        );
        // Only the key left (interrupted first start): a new pair is generated.
        std::fs::remove_file(&cert).expect("rm cert");
        let again = load(&cfg, tmp.path()).expect("regenerate");
        assert_ne!(again.fingerprint, tls.fingerprint);
        assert_eq!(mode(&key), 0o600);
    }
}
