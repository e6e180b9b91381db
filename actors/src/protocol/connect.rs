//! The `connect` request: validation with the real gateway's error wording, and the typed
//! view the handshake works from.

use serde_json::{Map, Value};

use super::validate::Checker;

/// `GATEWAY_CLIENT_IDS`.
pub const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// `GATEWAY_CLIENT_MODES`.
pub const CLIENT_MODES: &[&str] = &[
    "webchat", "cli", "ui", "backend", "node", "worker", "probe", "test",
];

const ROOT_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "role",
    "scopes",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "computerUse",
    "workerRuns",
    "modelCatalog",
    "auth",
    "device",
    "locale",
    "userAgent",
];

const CLIENT_KEYS: &[&str] = &[
    "id",
    "displayName",
    "version",
    "buildId",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "timeZone",
    "instanceId",
    "mode",
];

const AUTH_KEYS: &[&str] = &[
    "token",
    "bootstrapToken",
    "deviceToken",
    "password",
    "approvalRuntimeToken",
    "agentRuntimeIdentityToken",
];

const DEVICE_KEYS: &[&str] = &["id", "publicKey", "signature", "signedAt", "nonce"];

/// The client's self-description.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// One of [`CLIENT_IDS`].
    pub id: String,
    /// One of [`CLIENT_MODES`].
    pub mode: String,
    /// Client version.
    pub version: String,
    /// Platform (`linux`, `macos`, …).
    pub platform: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Optional device family.
    pub device_family: Option<String>,
    /// Optional model identifier.
    pub model_identifier: Option<String>,
    /// Optional instance id.
    pub instance_id: Option<String>,
}

/// Credentials offered in `connect.auth`.
#[derive(Debug, Clone, Default)]
pub struct ConnectAuth {
    /// Shared token.
    pub token: Option<String>,
    /// Shared password.
    pub password: Option<String>,
    /// A device token issued earlier.
    pub device_token: Option<String>,
    /// A setup-code bootstrap token.
    pub bootstrap_token: Option<String>,
}

/// The signed device proof.
#[derive(Debug, Clone, Default)]
pub struct DeviceProof {
    /// Claimed device id (hex SHA-256 of the raw public key).
    pub id: String,
    /// Public key (base64url raw, base64, or PEM).
    pub public_key: String,
    /// base64url Ed25519 signature over the v3 (or v2) payload.
    pub signature: String,
    /// The challenge timestamp the client signed.
    pub signed_at: u64,
    /// The challenge nonce the client signed.
    pub nonce: Option<String>,
}

/// A validated `connect` request.
#[derive(Debug, Clone, Default)]
pub struct ConnectParams {
    /// Lowest protocol the client speaks.
    pub min_protocol: u64,
    /// Highest protocol the client speaks.
    pub max_protocol: u64,
    /// The client.
    pub client: ClientInfo,
    /// Requested role (default `operator`); validated later (`invalid role`).
    pub role: String,
    /// Requested scopes, in order.
    pub scopes: Vec<String>,
    /// Declared caps (nodes).
    pub caps: Vec<String>,
    /// Declared commands (nodes).
    pub commands: Vec<String>,
    /// Declared permissions (nodes).
    pub permissions: Option<Value>,
    /// The node's PATH.
    pub path_env: Option<String>,
    /// Credentials.
    pub auth: ConnectAuth,
    /// Device proof.
    pub device: Option<DeviceProof>,
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Validates `params` of a `connect` request. The error string is the message after
/// `invalid connect params: `.
pub fn parse(params: &Value) -> Result<ConnectParams, String> {
    let mut c = Checker::new();
    let Some(root) = c.object("", params) else {
        return Err(c.message());
    };
    c.required("", root, "minProtocol");
    c.required("", root, "maxProtocol");
    c.required("", root, "client");
    let min_protocol = c.integer("", root, "minProtocol", 1).unwrap_or(0);
    let max_protocol = c.integer("", root, "maxProtocol", 1).unwrap_or(0);
    let mut out = ConnectParams {
        min_protocol,
        max_protocol,
        role: "operator".to_owned(),
        ..Default::default()
    };
    if let Some(client) = root.get("client")
        && let Some(cobj) = c.object("/client", client)
    {
        for key in ["id", "version", "platform", "mode"] {
            c.required("/client", cobj, key);
        }
        if let Some(id) = c.string("/client", cobj, "id", true) {
            if CLIENT_IDS.contains(&id) {
                out.client.id = id.to_owned();
            } else {
                c.error("/client/id", "must be equal to one of the allowed values");
            }
        }
        if let Some(mode) = c.string("/client", cobj, "mode", true) {
            if CLIENT_MODES.contains(&mode) {
                out.client.mode = mode.to_owned();
            } else {
                c.error("/client/mode", "must be equal to one of the allowed values");
            }
        }
        out.client.version = c
            .string("/client", cobj, "version", true)
            .unwrap_or_default()
            .to_owned();
        out.client.platform = c
            .string("/client", cobj, "platform", true)
            .unwrap_or_default()
            .to_owned();
        for key in [
            "displayName",
            "buildId",
            "deviceFamily",
            "modelIdentifier",
            "timeZone",
            "instanceId",
        ] {
            c.string("/client", cobj, key, false);
        }
        out.client.display_name = opt_string(cobj, "displayName");
        out.client.device_family = opt_string(cobj, "deviceFamily");
        out.client.model_identifier = opt_string(cobj, "modelIdentifier");
        out.client.instance_id = opt_string(cobj, "instanceId");
        c.closed("/client", cobj, CLIENT_KEYS);
    }
    if let Some(role) = c.string("", root, "role", false) {
        role.clone_into(&mut out.role);
    }
    out.scopes = c.string_array("", root, "scopes").unwrap_or_default();
    out.caps = c.string_array("", root, "caps").unwrap_or_default();
    out.commands = c.string_array("", root, "commands").unwrap_or_default();
    out.path_env = c.string("", root, "pathEnv", false).map(str::to_owned);
    if let Some(p) = root.get("permissions")
        && c.object("/permissions", p).is_some()
    {
        out.permissions = Some(p.clone());
    }
    for key in ["locale", "userAgent"] {
        c.string("", root, key, false);
    }
    if let Some(auth) = root.get("auth")
        && let Some(aobj) = c.object("/auth", auth)
    {
        c.closed("/auth", aobj, AUTH_KEYS);
        for key in AUTH_KEYS {
            c.string("/auth", aobj, key, false);
        }
        let non_empty = |k: &str| opt_string(aobj, k).filter(|s| !s.is_empty());
        out.auth = ConnectAuth {
            token: non_empty("token"),
            password: non_empty("password"),
            device_token: non_empty("deviceToken"),
            bootstrap_token: non_empty("bootstrapToken"),
        };
    }
    if let Some(device) = root.get("device")
        && let Some(dobj) = c.object("/device", device)
    {
        for key in ["id", "publicKey", "signature", "signedAt"] {
            c.required("/device", dobj, key);
        }
        c.closed("/device", dobj, DEVICE_KEYS);
        let id = c.string("/device", dobj, "id", true).unwrap_or_default();
        let pk = c
            .string("/device", dobj, "publicKey", true)
            .unwrap_or_default();
        let sig = c
            .string("/device", dobj, "signature", true)
            .unwrap_or_default();
        let signed_at = c.integer("/device", dobj, "signedAt", 0).unwrap_or(0);
        let nonce = c.string("/device", dobj, "nonce", false).map(str::to_owned);
        out.device = Some(DeviceProof {
            id: id.to_owned(),
            public_key: pk.to_owned(),
            signature: sig.to_owned(),
            signed_at,
            nonce,
        });
    }
    c.closed("", root, ROOT_KEYS);
    if c.ok() { Ok(out) } else { Err(c.message()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"minProtocol":4,"maxProtocol":4,
               "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},
               "auth":{"token":"T"}})
    }

    #[test]
    fn accepts_cli_connect() {
        let p = parse(&base()).expect("valid");
        assert_eq!(p.client.id, "cli");
        assert_eq!(p.role, "operator");
        assert_eq!(p.auth.token.as_deref(), Some("T"));
    }

    #[test]
    fn errors_use_real_wording() {
        let mut v = base();
        v["client"]["id"] = json!("nope");
        assert_eq!(
            parse(&v).err().as_deref(),
            Some("at /client/id: must be equal to one of the allowed values")
        );
        let mut v = base();
        v["bogus"] = json!(1);
        assert_eq!(
            parse(&v).err().as_deref(),
            Some("at root: unexpected property 'bogus'")
        );
        let v = json!({"maxProtocol":4,"client":{"id":"cli","version":"1","platform":"linux","mode":"cli"}});
        assert_eq!(
            parse(&v).err().as_deref(),
            Some("must have required property 'minProtocol'")
        );
    }
}

/// Known-answer vectors: connect frames captured from the real OpenClaw (its node host and
/// a probe client), checked against our parser, payload builder and verifier. The expected
/// payload strings in the fixture are written out by hand, and the signatures are checked
/// with ed25519-dalek directly as well, so a bug shared by our signer and verifier fails here.
#[cfg(test)]
mod captured_proofs {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::{Signature, VerifyingKey};
    use serde_json::Value;
    use sha2::{Digest, Sha256};

    use super::parse;
    use crate::identity::{self, ProofError};

    fn cases() -> Vec<(String, Value)> {
        let all: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/device-proofs.json"))
                .expect("tests/fixtures/device-proofs.json is JSON");
        let cases = all["cases"].as_object().expect("cases").clone();
        assert_eq!(cases.len(), 3, "{cases:?}");
        cases.into_iter().collect()
    }

    fn s<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string in {v}"))
    }

    #[test]
    fn public_key_to_device_id_matches_the_real_clients() {
        for (name, case) in cases() {
            let device = &case["params"]["device"];
            let raw = identity::normalize_public_key(s(device, "publicKey"))
                .unwrap_or_else(|| panic!("{name}: public key parses"));
            // Independently: lowercase hex SHA-256 of the raw key bytes.
            let by_hand: String = Sha256::digest(
                URL_SAFE_NO_PAD
                    .decode(s(device, "publicKey"))
                    .expect("base64url"),
            )
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
            assert_eq!(by_hand, s(device, "id"), "{name}");
            assert_eq!(identity::device_id(&raw), s(device, "id"), "{name}");
        }
    }

    #[test]
    fn captured_signatures_verify_over_the_exact_payload() {
        for (name, case) in cases() {
            let params = parse(&case["params"])
                .unwrap_or_else(|e| panic!("{name}: captured connect params parse: {e}"));
            let proof = params.device.clone().expect("captured device proof");
            let nonce = s(&case, "nonce");
            let expected = s(&case, "expectedPayload");
            assert_eq!(proof.nonce.as_deref(), Some(nonce), "{name}");

            // The captured signature is over the hand-written payload (checked with dalek).
            let raw = identity::normalize_public_key(&proof.public_key).expect("key");
            let key = VerifyingKey::from_bytes(&raw).expect("ed25519 key");
            let sig = Signature::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(&proof.signature)
                    .expect("base64url signature"),
            )
            .expect("64-byte signature");
            key.verify_strict(expected.as_bytes(), &sig)
                .unwrap_or_else(|e| panic!("{name}: signature over {expected:?}: {e}"));

            // Our payload builder reconstructs exactly that string from the params.
            let ours = match s(&case, "version") {
                "v3" => identity::payload_v3(&params, &proof.id, proof.signed_at, nonce),
                _ => identity::payload_v2(&params, &proof.id, proof.signed_at, nonce),
            };
            assert_eq!(ours, expected, "{name}");

            // Our verifier accepts it (at the capture time) ...
            assert_eq!(
                identity::verify_proof(&params, &proof, nonce, proof.signed_at),
                Ok(raw),
                "{name}"
            );
            // ... and refuses it once any signed field differs.
            let mut other = params.clone();
            other.scopes.push("operator.admin".into());
            assert_eq!(
                identity::verify_proof(&other, &proof, nonce, proof.signed_at),
                Err(ProofError::Signature),
                "{name}"
            );
            let mut other = params.clone();
            other.auth.token = Some("not-T".into());
            assert_eq!(
                identity::verify_proof(&other, &proof, nonce, proof.signed_at),
                Err(ProofError::Signature),
                "{name}"
            );
        }
    }
}
