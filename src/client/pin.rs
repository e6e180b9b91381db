//! Certificate pinning for `wss://` gateways.
//!
//! Two kinds of pin, either of which admits the gateway:
//! - the leaf certificate's SHA-256 (`gateway.remote.tlsFingerprint`, `--tls-fingerprint`),
//!   parsed exactly as OpenClaw's `normalizeTlsFingerprint` does: 64 hex digits or 32
//!   colon-separated hex pairs, with an optional (case-insensitive) `sha256:` prefix;
//! - beyond OpenClaw, SPKI pins `sha256/<base64>` (`gateway.remote.tlsSpkiPins`,
//!   `--tls-spki-pin`, several allowed): the SHA-256 of the leaf's SubjectPublicKeyInfo, which
//!   survives re-issuing the certificate with the same key.
//!
//! Handshake signatures are still verified for real (with the presented certificate's key),
//! so presenting the (public) certificate without its private key fails. A mismatch names
//! what the gateway presented, in both forms.

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};
use sha2::{Digest, Sha256};

/// Parses a leaf fingerprint as OpenClaw does: after trimming and an optional
/// case-insensitive `sha256:` prefix, either 64 hex digits or 32 colon-separated hex pairs.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    let s = match s.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sha256:") => &s[7..],
        _ => s,
    };
    let hex: String = if s.len() == 64 {
        s.to_owned()
    } else if s.len() == 95 {
        let mut out = String::with_capacity(64);
        for (i, part) in s.split(':').enumerate() {
            if i >= 32 || part.len() != 2 {
                return None;
            }
            out.push_str(part);
        }
        out
    } else {
        return None;
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses an SPKI pin `sha256/<base64 of 32 bytes>` (standard alphabet, padding optional).
pub fn parse_spki_pin(s: &str) -> Option<[u8; 32]> {
    let b64 = s.trim().strip_prefix("sha256/")?;
    let b64 = b64.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64)
        .ok()?;
    bytes.try_into().ok()
}

/// The leaf fingerprint in OpenClaw's canonical form: lowercase hex, no colons.
pub fn leaf_fingerprint(cert: &CertificateDer<'_>) -> String {
    openclaw_actors::identity::hex(&Sha256::digest(cert.as_ref()))
}

/// The certificate's SubjectPublicKeyInfo pin `sha256/<base64>`, or an error when the
/// certificate cannot be parsed.
pub fn spki_pin(cert: &CertificateDer<'_>) -> Result<String, String> {
    Ok(format_spki(&spki_hash(cert)?))
}

fn spki_hash(cert: &CertificateDer<'_>) -> Result<[u8; 32], String> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| format!("cannot parse the certificate: {e:?}"))?;
    let spki = parsed.subject_public_key_info();
    Ok(Sha256::digest(spki.as_ref()).into())
}

fn format_spki(hash: &[u8; 32]) -> String {
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// What a `wss://` connection must present: a leaf fingerprint and/or SPKI pins. Any one
/// match admits the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    /// Leaf certificate SHA-256.
    pub leaf: Option<[u8; 32]>,
    /// SPKI SHA-256 pins.
    pub spki: Vec<[u8; 32]>,
}

impl Pins {
    /// Whether no pin is set (the system roots decide).
    pub fn is_empty(&self) -> bool {
        self.leaf.is_none() && self.spki.is_empty()
    }

    /// Parses a leaf fingerprint and SPKI pins; `Err` names the bad value and the format.
    pub fn parse(leaf: Option<&str>, spki: &[String]) -> Result<Self, String> {
        let leaf = match leaf {
            Some(fp) => Some(parse_fingerprint(fp).ok_or_else(|| {
                format!(
                    "TLS fingerprint {fp:?} is not a SHA-256 certificate fingerprint (64 hex characters, or 32 colon-separated pairs; `openclaw gateway fingerprint` on the gateway host prints it)"
                )
            })?),
            None => None,
        };
        let spki = spki
            .iter()
            .map(|p| {
                parse_spki_pin(p).ok_or_else(|| {
                    format!(
                        "SPKI pin {p:?} is not of the form sha256/<base64 of 32 bytes> (`openclaw gateway fingerprint` on the gateway host prints it)"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { leaf, spki })
    }

    fn describe_expected(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = &self.leaf {
            parts.push(format!("sha256 {}", openclaw_actors::identity::hex(l)));
        }
        for s in &self.spki {
            parts.push(format!("spki {}", format_spki(s)));
        }
        parts.join(" or ")
    }
}

#[derive(Debug)]
struct PinnedCert {
    pins: Pins,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if let Some(pin) = &self.pins.leaf
            && openclaw_actors::auth::constant_time_eq(&got, pin)
        {
            return Ok(ServerCertVerified::assertion());
        }
        let spki = spki_hash(end_entity).ok();
        if let Some(spki) = &spki
            && self
                .pins
                .spki
                .iter()
                .any(|p| openclaw_actors::auth::constant_time_eq(spki, p))
        {
            return Ok(ServerCertVerified::assertion());
        }
        Err(Error::General(format!(
            "gateway tls fingerprint mismatch: the gateway presented sha256 {} (spki {}), expected {}",
            openclaw_actors::identity::hex(&got),
            spki.as_ref()
                .map(format_spki)
                .unwrap_or_else(|| "unparseable".into()),
            self.pins.describe_expected()
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client config that accepts exactly the pinned certificate / keys.
pub fn pinned_config(pins: Pins) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCert {
        pins,
        provider: provider.clone(),
    });
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats_match_openclaw() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex}")),
            Some([0xab; 32])
        );
        assert_eq!(
            parse_fingerprint(&format!(" SHA256:{colons} ")),
            Some([0xab; 32])
        );
        assert_eq!(parse_fingerprint("abcd"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
        // Colons only in the canonical pair layout, as OpenClaw's regexes require.
        let odd = format!("{}:{}", "a".repeat(31), "b".repeat(33));
        assert_eq!(parse_fingerprint(&odd), None);
        assert_eq!(parse_fingerprint(&format!("{}:", "ab".repeat(32))), None);
        assert_eq!(parse_fingerprint(&format!("+{}", "a".repeat(63))), None);
    }

    #[test]
    fn spki_pin_formats() {
        let pin = format_spki(&[7u8; 32]);
        assert!(pin.starts_with("sha256/") && pin.ends_with('='), "{pin}");
        assert_eq!(parse_spki_pin(&pin), Some([7u8; 32]));
        assert_eq!(parse_spki_pin(pin.trim_end_matches('=')), Some([7u8; 32]));
        assert_eq!(parse_spki_pin("sha256/AAAA"), None);
        assert_eq!(parse_spki_pin(&pin.replace("sha256/", "sha1/")), None);
        assert!(Pins::parse(None, &["nope".into()]).is_err());
        assert!(Pins::parse(Some("xyz"), &[]).is_err());
    }

    #[test]
    fn spki_survives_reissue_with_the_same_key_leaf_does_not() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let issue = |name: &str| {
            let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
            CertificateDer::from(params.self_signed(&key).expect("cert").der().to_vec())
        };
        let (a, b) = (issue("a.example"), issue("b.example"));
        assert_ne!(leaf_fingerprint(&a), leaf_fingerprint(&b));
        assert_eq!(spki_pin(&a).expect("spki"), spki_pin(&b).expect("spki"));
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["a.example".into()]).expect("params");
        let c = CertificateDer::from(params.self_signed(&other).expect("cert").der().to_vec());
        assert_ne!(spki_pin(&a).expect("spki"), spki_pin(&c).expect("spki"));
    }

    /// A server presenting the pinned certificate but signing with another key: the pin
    /// matches, yet the handshake fails on the signature (the pin is not a trust bypass).
    #[derive(Debug)]
    struct FixedCert(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for FixedCert {
        fn resolve(
            &self,
            _hello: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn handshake(
        cert: &CertificateDer<'static>,
        signing_key: &rcgen::KeyPair,
    ) -> Result<(), Error> {
        use rustls::pki_types::PrivateKeyDer;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::try_from(signing_key.serialize_der()).expect("der"))
            .expect("load key");
        let certified = rustls::sign::CertifiedKey::new(vec![cert.clone()], key);
        let scfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(FixedCert(Arc::new(certified))));
        let pins = Pins {
            leaf: Some(Sha256::digest(cert.as_ref()).into()),
            spki: Vec::new(),
        };
        let ccfg = pinned_config(pins).expect("client config");
        let name = ServerName::try_from("localhost").expect("name");
        let mut client = rustls::ClientConnection::new(Arc::new(ccfg), name).expect("client");
        let mut server = rustls::ServerConnection::new(Arc::new(scfg)).expect("server");
        for _ in 0..20 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).expect("client write");
            if !buf.is_empty() {
                server.read_tls(&mut buf.as_slice()).expect("server read");
                let _ = server.process_new_packets();
            }
            buf.clear();
            server.write_tls(&mut buf).expect("server write");
            if !buf.is_empty() {
                client.read_tls(&mut buf.as_slice()).expect("client read");
                client.process_new_packets()?;
            }
            if !client.is_handshaking() {
                return Ok(());
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn the_pin_verifier_still_checks_handshake_signatures() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = CertificateDer::from(params.self_signed(&key).expect("cert").der().to_vec());
        handshake(&cert, &key).expect("the real key completes the handshake");
        let thief = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let err = handshake(&cert, &thief).expect_err("a stolen certificate without its key");
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            ),
            "{err:?}"
        );
    }
}
