//! Device identity: Ed25519 keys, device ids and the signed connect proof (v3, then v2).
//!
//! `device.id` is the lowercase hex SHA-256 of the raw 32-byte public key; the signature is
//! over `v3|id|clientId|clientMode|role|scopes|signedAtMs|token|nonce|platform|deviceFamily`
//! (or the v2 form without the last two fields).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::protocol::codes;
use crate::protocol::connect::{ConnectParams, DeviceProof};

/// Allowed clock skew between `signedAt` and the gateway's clock.
pub const MAX_SIGNATURE_SKEW_MS: u64 = 120_000;

/// SPKI DER prefix of an Ed25519 public key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a device proof was rejected (`details.reason` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// `device.id` is not the SHA-256 of the key.
    IdMismatch,
    /// `signedAt` outside ±120 s.
    Stale,
    /// No nonce.
    NonceMissing,
    /// Not this connection's challenge nonce.
    NonceMismatch,
    /// Neither v3 nor v2 verifies.
    Signature,
    /// The public key does not parse.
    PublicKey,
}

impl ProofError {
    /// `(message, details.code, details.reason)` as the real gateway sends them.
    pub fn wire(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::IdMismatch => (
                "device identity mismatch",
                codes::DEVICE_AUTH_DEVICE_ID_MISMATCH,
                "device-id-mismatch",
            ),
            Self::Stale => (
                "device signature expired",
                codes::DEVICE_AUTH_SIGNATURE_EXPIRED,
                "device-signature-stale",
            ),
            Self::NonceMissing => (
                "device nonce required",
                codes::DEVICE_AUTH_NONCE_REQUIRED,
                "device-nonce-missing",
            ),
            Self::NonceMismatch => (
                "device nonce mismatch",
                codes::DEVICE_AUTH_NONCE_MISMATCH,
                "device-nonce-mismatch",
            ),
            Self::Signature => (
                "device signature invalid",
                codes::DEVICE_AUTH_SIGNATURE_INVALID,
                "device-signature",
            ),
            Self::PublicKey => (
                "device public key invalid",
                codes::DEVICE_AUTH_PUBLIC_KEY_INVALID,
                "device-public-key",
            ),
        }
    }
}

/// Decodes base64 in any of its common spellings (url-safe or standard, padded or not).
pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// Normalises a public key (raw base64/base64url, SPKI DER base64, or PEM) to its raw 32 bytes.
pub fn normalize_public_key(key: &str) -> Option<[u8; 32]> {
    let key = key.trim();
    let bytes = if key.starts_with("-----BEGIN") {
        let body: String = key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        decode_b64(&body)?
    } else {
        decode_b64(key)?
    };
    match bytes.len() {
        32 => bytes.try_into().ok(),
        44 if bytes[..12] == SPKI_PREFIX => bytes[12..].try_into().ok(),
        _ => None,
    }
}

/// The device id of a raw public key: lowercase hex SHA-256.
pub fn device_id(raw_public_key: &[u8; 32]) -> String {
    hex(&Sha256::digest(raw_public_key))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn norm(s: Option<&str>) -> String {
    s.map(|v| v.trim().to_ascii_lowercase()).unwrap_or_default()
}

/// The v3 payload string a client signs.
pub fn payload_v3(p: &ConnectParams, device_id: &str, signed_at: u64, nonce: &str) -> String {
    let token = signing_token(p);
    format!(
        "v3|{device_id}|{}|{}|{}|{}|{signed_at}|{token}|{nonce}|{}|{}",
        p.client.id,
        p.client.mode,
        p.role,
        p.scopes.join(","),
        norm(Some(&p.client.platform)),
        norm(p.client.device_family.as_deref()),
    )
}

/// The legacy v2 payload string.
pub fn payload_v2(p: &ConnectParams, device_id: &str, signed_at: u64, nonce: &str) -> String {
    let token = signing_token(p);
    format!(
        "v2|{device_id}|{}|{}|{}|{}|{signed_at}|{token}|{nonce}",
        p.client.id,
        p.client.mode,
        p.role,
        p.scopes.join(","),
    )
}

/// `auth.token ?? auth.deviceToken ?? auth.bootstrapToken ?? ""` — never the password.
fn signing_token(p: &ConnectParams) -> &str {
    p.auth
        .token
        .as_deref()
        .or(p.auth.device_token.as_deref())
        .or(p.auth.bootstrap_token.as_deref())
        .unwrap_or("")
}

/// Verifies a device proof in the real gateway's order. Returns the normalised raw key.
pub fn verify_proof(
    p: &ConnectParams,
    proof: &DeviceProof,
    challenge_nonce: &str,
    now_ms: u64,
) -> Result<[u8; 32], ProofError> {
    let raw = normalize_public_key(&proof.public_key);
    if let Some(raw) = raw
        && device_id(&raw) != proof.id.to_ascii_lowercase()
    {
        return Err(ProofError::IdMismatch);
    }
    if now_ms.abs_diff(proof.signed_at) > MAX_SIGNATURE_SKEW_MS {
        return Err(ProofError::Stale);
    }
    let nonce = proof.nonce.as_deref().unwrap_or("");
    if nonce.is_empty() {
        return Err(ProofError::NonceMissing);
    }
    if !crate::auth::constant_time_eq(nonce.as_bytes(), challenge_nonce.as_bytes()) {
        return Err(ProofError::NonceMismatch);
    }
    let raw = raw.ok_or(ProofError::PublicKey)?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| ProofError::PublicKey)?;
    let sig_bytes = decode_b64(&proof.signature).ok_or(ProofError::Signature)?;
    let sig = Signature::from_slice(&sig_bytes).map_err(|_| ProofError::Signature)?;
    let id = device_id(&raw);
    let v3 = payload_v3(p, &id, proof.signed_at, nonce);
    if key.verify_strict(v3.as_bytes(), &sig).is_ok() {
        return Ok(raw);
    }
    let v2 = payload_v2(p, &id, proof.signed_at, nonce);
    if key.verify_strict(v2.as_bytes(), &sig).is_ok() {
        return Ok(raw);
    }
    Err(ProofError::Signature)
}

/// A device's signing identity (used by our CLI and node host, and by tests).
pub struct DeviceKey {
    key: SigningKey,
}

impl DeviceKey {
    /// From a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as base64url without padding.
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key())
    }

    /// The device id.
    pub fn device_id(&self) -> String {
        device_id(&self.public_key())
    }

    /// Signs `payload`, base64url without padding.
    pub fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(payload.as_bytes()).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::connect::ClientInfo;

    fn params() -> ConnectParams {
        ConnectParams {
            min_protocol: 4,
            max_protocol: 4,
            client: ClientInfo {
                id: "cli".into(),
                mode: "cli".into(),
                version: "1".into(),
                platform: "Linux ".into(),
                ..Default::default()
            },
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            ..Default::default()
        }
    }

    #[test]
    fn v3_roundtrip_and_failures() {
        let key = DeviceKey::from_seed(&[7u8; 32]);
        let mut p = params();
        let id = key.device_id();
        let now = 1_000_000;
        let sig = key.sign(&payload_v3(&p, &id, now, "n1"));
        let proof = DeviceProof {
            id: id.clone(),
            public_key: key.public_key_b64(),
            signature: sig,
            signed_at: now,
            nonce: Some("n1".into()),
        };
        p.device = Some(proof.clone());
        assert!(verify_proof(&p, &proof, "n1", now + 1000).is_ok());
        assert_eq!(
            verify_proof(&p, &proof, "n2", now),
            Err(ProofError::NonceMismatch)
        );
        assert_eq!(
            verify_proof(&p, &proof, "n1", now + 200_000),
            Err(ProofError::Stale)
        );
        let mut bad = proof.clone();
        bad.id = "00".repeat(32);
        assert_eq!(
            verify_proof(&p, &bad, "n1", now),
            Err(ProofError::IdMismatch)
        );
        let mut p2 = params();
        p2.scopes = vec!["operator.admin".into()];
        assert_eq!(
            verify_proof(&p2, &proof, "n1", now),
            Err(ProofError::Signature)
        );
        assert!(payload_v3(&p, &id, now, "n1").ends_with("|n1|linux|"));
    }
}
