//! This machine's client identity files under `$STATE/node/`: its Ed25519 device identity
//! (`identity.json`, shared by the node host and a device-signing CLI) and the device tokens
//! gateways issued it (`device-auth.json`). Secrets are written atomically, mode 0600, in a
//! 0700 directory.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openclaw_actors::identity::{DeviceKey, decode_b64};
use openclaw_actors::util::try_random_bytes;
use serde_json::{Value, json};

/// `$STATE/node`.
pub fn node_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("node")
}

/// `$STATE/node/identity.json`.
pub fn identity_path(state_dir: &Path) -> PathBuf {
    node_dir(state_dir).join("identity.json")
}

/// `$STATE/node/device-auth.json`.
pub fn device_auth_path(state_dir: &Path) -> PathBuf {
    node_dir(state_dir).join("device-auth.json")
}

/// Creates `dir` (and parents) with mode 0700, and tightens it if it already exists.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename), mode 0600, in a
/// private (0700) directory.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    ensure_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    openclaw_actors::store::write_atomic(path, bytes)
}

/// A fresh Ed25519 device key from the OS random number generator.
pub fn random_key() -> std::io::Result<DeviceKey> {
    Ok(DeviceKey::from_seed(&try_random_bytes()?))
}

/// The node's persistent identity.
pub struct NodeIdentity {
    /// Signing key.
    pub key: DeviceKey,
    /// `device.id` (= the node id on the gateway).
    pub device_id: String,
    /// Where it is stored.
    pub path: PathBuf,
}

/// Loads `identity.json`, creating it (from the OS RNG) when missing.
pub fn load_or_create_identity(state_dir: &Path) -> Result<NodeIdentity, String> {
    let path = identity_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
            let seed = v
                .get("seed")
                .and_then(Value::as_str)
                .and_then(decode_b64)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!(
                        "{} has no valid \"seed\" (32 bytes, base64url)",
                        path.display()
                    )
                })?;
            let key = DeviceKey::from_seed(&seed);
            let device_id = key.device_id();
            if let Some(stored) = v.get("deviceId").and_then(Value::as_str)
                && stored != device_id
            {
                return Err(format!(
                    "{}: deviceId {stored} does not match the key ({device_id})",
                    path.display()
                ));
            }
            Ok(NodeIdentity {
                key,
                device_id,
                path,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = try_random_bytes()
                .map_err(|e| format!("cannot get random bytes from the OS: {e}"))?;
            let key = DeviceKey::from_seed(&seed);
            let device_id = key.device_id();
            let body = json!({
                "version": 1,
                "deviceId": device_id,
                "publicKey": key.public_key_b64(),
                "seed": URL_SAFE_NO_PAD.encode(seed),
                "createdAtMs": now_ms(),
            });
            write_private(&path, pretty(&body).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            log::info!("created node identity {device_id} in {}", path.display());
            Ok(NodeIdentity {
                key,
                device_id,
                path,
            })
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

use openclaw_actors::util::now_ms;

fn read_device_auth(state_dir: &Path) -> Value {
    std::fs::read_to_string(device_auth_path(state_dir))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"version": 1, "tokens": {}}))
}

/// The device token stored for `url`, if any.
pub fn stored_device_token(state_dir: &Path, url: &str) -> Option<String> {
    read_device_auth(state_dir)
        .get("tokens")
        .and_then(|t| t.get(url))
        .and_then(|e| e.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Stores (or, with `None`, forgets) the device token for `url`.
pub fn store_device_token(state_dir: &Path, url: &str, entry: Option<Value>) -> Result<(), String> {
    let mut doc = read_device_auth(state_dir);
    if !doc.get("tokens").is_some_and(Value::is_object) {
        doc["tokens"] = json!({});
    }
    let Some(tokens) = doc.get_mut("tokens").and_then(Value::as_object_mut) else {
        return Err("device-auth.json: tokens is not an object".into());
    };
    let changed = match entry {
        Some(e) if tokens.get(url) == Some(&e) => false,
        Some(e) => {
            tokens.insert(url.to_owned(), e);
            true
        }
        None => tokens.remove(url).is_some(),
    };
    if !changed {
        return Ok(());
    }
    let path = device_auth_path(state_dir);
    write_private(&path, pretty(&doc).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = load_or_create_identity(tmp.path()).expect("create");
        let b = load_or_create_identity(tmp.path()).expect("load");
        assert_eq!(a.device_id, b.device_id);
        assert_eq!(a.device_id.len(), 64);
        let meta = std::fs::metadata(identity_path(tmp.path())).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dmeta = std::fs::metadata(node_dir(tmp.path())).expect("meta");
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);
        std::fs::write(identity_path(tmp.path()), "{\"seed\":\"short\"}").expect("write");
        assert!(load_or_create_identity(tmp.path()).is_err());
    }

    #[test]
    fn device_tokens_per_url() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert_eq!(stored_device_token(tmp.path(), "ws://a"), None);
        store_device_token(tmp.path(), "ws://a", Some(json!({"token": "t1"}))).expect("store");
        store_device_token(tmp.path(), "ws://b", Some(json!({"token": "t2"}))).expect("store");
        assert_eq!(
            stored_device_token(tmp.path(), "ws://a").as_deref(),
            Some("t1")
        );
        assert_eq!(
            stored_device_token(tmp.path(), "ws://b").as_deref(),
            Some("t2")
        );
        store_device_token(tmp.path(), "ws://a", None).expect("forget");
        assert_eq!(stored_device_token(tmp.path(), "ws://a"), None);
        let meta = std::fs::metadata(device_auth_path(tmp.path())).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
}
