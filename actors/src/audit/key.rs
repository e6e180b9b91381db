//! The installation-local key of the ledger's pseudonyms (`<state>/audit/identity-key.json`,
//! mode 0600): created on the first message record, never exported. A message identity
//! becomes `hmac-sha256:v1:<keyId>:<HMAC-SHA256(key, ["openclaw.audit.identity.v1", kind,
//! channel, account, conversation (message ids only), value])>`, OpenClaw's derivation, so
//! records about one conversation correlate without naming it.
//!
//! A key file that exists but cannot be read is never replaced (a new key would split the
//! correlation silently), nor is a missing one while message records are kept (the ledger
//! checks that): message records stop, with a warning naming the fix.

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// The key's file in the ledger's directory.
pub const KEY_FILE: &str = "identity-key.json";

/// OpenClaw's domain separator of message identities.
const DOMAIN: &str = "openclaw.audit.identity.v1";

/// The pseudonym key.
pub struct IdentityKey {
    /// 32 hex digits, part of every pseudonym.
    key_id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityKey({})", self.key_id)
    }
}

impl IdentityKey {
    /// Reads the key in `dir`, or creates it (0600) when there is none.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        let path = dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&bytes).ok_or_else(|| {
                format!(
                    "{} is not a valid audit key: message records are not written (a new key would break their correlation). Fix: restore the file from a backup, or delete it to start a new key",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id: [u8; 16] = crate::util::try_random_bytes().map_err(|e| e.to_string())?;
                let key: [u8; 32] = crate::util::try_random_bytes().map_err(|e| e.to_string())?;
                let doc = serde_json::json!({
                    "keyId": crate::identity::hex(&id),
                    "key": crate::identity::hex(&key),
                    "createdAt": crate::util::now_ms(),
                });
                crate::store::write_atomic(&path, doc.to_string().as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(Self {
                    key_id: crate::identity::hex(&id),
                    key,
                })
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let key_id = v.get("keyId")?.as_str()?;
        let key_hex = v.get("key")?.as_str()?;
        let lower_hex = |s: &str, n: usize| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !lower_hex(key_id, 32) || !lower_hex(key_hex, 64) {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, out) in key.iter_mut().enumerate() {
            *out = u8::from_str_radix(key_hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self {
            key_id: key_id.to_owned(),
            key,
        })
    }

    /// The pseudonym of `value`, an identity of this `kind` (`account`, `conversation`,
    /// `message`, `target`, `sender`).
    pub fn pseudonym(
        &self,
        kind: &str,
        channel: &str,
        account: Option<&str>,
        conversation: Option<&str>,
        value: &str,
    ) -> String {
        let input = serde_json::json!([
            DOMAIN,
            kind,
            channel,
            if kind == "account" { None } else { account },
            if kind == "message" {
                conversation
            } else {
                None
            },
            value
        ])
        .to_string();
        let digest = hmac_sha256(&self.key, input.as_bytes());
        format!(
            "hmac-sha256:v1:{}:{}",
            self.key_id,
            crate::identity::hex(&digest)
        )
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}
