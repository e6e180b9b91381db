//! The `connect` request a client sends: a [`Serialize`] struct for the params and the
//! device proof over them. The signature payload is built by the engine's own
//! [`payload_v3`](openclaw_actors::identity::payload_v3) from the params as they are sent
//! (parsed back by the gateway's validator), so client and gateway cannot disagree on it.

use openclaw_actors::identity::{self, DeviceKey};
use openclaw_actors::protocol::connect;
use serde::Serialize;
use serde_json::{Value, json};

/// The protocol version this client speaks (min = max).
pub const PROTOCOL: u32 = 4;

/// `connect.client`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// One of the gateway's client ids (`cli`, `node-host`, …).
    pub id: String,
    /// Name shown to operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Client version.
    pub version: String,
    /// Platform (`linux`, …).
    pub platform: String,
    /// Device family (`Linux`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// One of the gateway's client modes (`cli`, `node`, …).
    pub mode: String,
    /// Instance id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// `connect.auth` (omitted when empty).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuth {
    /// Shared token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Shared password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A device token the gateway issued earlier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl ConnectAuth {
    /// Whether no credential is set.
    pub fn is_empty(&self) -> bool {
        self.token.is_none() && self.password.is_none() && self.device_token.is_none()
    }
}

impl std::fmt::Display for ConnectAuth {
    /// Which credentials are set, never their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: Vec<&str> = [
            ("token", self.token.is_some()),
            ("password", self.password.is_some()),
            ("deviceToken", self.device_token.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        write!(f, "[{}]", set.join(", "))
    }
}

/// `connect` params (without the device proof, which [`ConnectParams::to_value`] adds).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectParams {
    /// Lowest protocol spoken.
    pub min_protocol: u32,
    /// Highest protocol spoken.
    pub max_protocol: u32,
    /// The client.
    pub client: ClientInfo,
    /// `operator` or `node`.
    pub role: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Declared caps.
    pub caps: Vec<String>,
    /// Declared commands (nodes; omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The node's PATH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_env: Option<String>,
    /// Credentials.
    #[serde(skip_serializing_if = "ConnectAuth::is_empty")]
    pub auth: ConnectAuth,
}

impl ConnectParams {
    /// Params for `client` in `role` speaking protocol [`PROTOCOL`]; nothing else set.
    pub fn new(client: ClientInfo, role: &str) -> Self {
        Self {
            min_protocol: PROTOCOL,
            max_protocol: PROTOCOL,
            client,
            role: role.to_owned(),
            scopes: Vec::new(),
            caps: Vec::new(),
            commands: Vec::new(),
            path_env: None,
            auth: ConnectAuth::default(),
        }
    }

    /// The wire params; with `device = Some((key, nonce, signed_at))` signed (v3) by `key`.
    pub fn to_value(&self, device: Option<(&DeviceKey, &str, u64)>) -> Result<Value, String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some((key, nonce, signed_at)) = device {
            sign(&mut v, key, nonce, signed_at, Payload::V3)?;
        }
        Ok(v)
    }
}

/// Which signature payload a device proof signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `v3|…|platform|deviceFamily` (what current clients sign).
    V3,
    /// The legacy `v2|…` form (still accepted by gateways).
    V2,
}

/// Adds `device` to the wire `params`: `key` signs the payload built from the params as
/// they will be sent, over `nonce` and `signed_at`. `Err` when the params do not pass the
/// gateway's `connect` validation.
pub fn sign(
    params: &mut Value,
    key: &DeviceKey,
    nonce: &str,
    signed_at: u64,
    payload: Payload,
) -> Result<(), String> {
    let parsed = connect::parse(params).map_err(|e| format!("invalid connect params: {e}"))?;
    let id = key.device_id();
    let text = match payload {
        Payload::V3 => identity::payload_v3(&parsed, &id, signed_at, nonce),
        Payload::V2 => identity::payload_v2(&parsed, &id, signed_at, nonce),
    };
    params["device"] = json!({
        "id": id,
        "publicKey": key.public_key_b64(),
        "signature": key.sign(&text),
        "signedAt": signed_at,
        "nonce": nonce,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_params() -> ConnectParams {
        let mut p = ConnectParams::new(
            ClientInfo {
                id: "node-host".into(),
                display_name: Some("Box".into()),
                version: "1".into(),
                platform: "linux".into(),
                device_family: Some("Linux".into()),
                mode: "node".into(),
                instance_id: None,
            },
            "node",
        );
        p.caps = vec!["system".into()];
        p.commands = vec!["system.run".into()];
        p.auth.device_token = Some("DT".into());
        p
    }

    #[test]
    fn wire_shape_omits_unset_fields() {
        let mut p = ConnectParams::new(
            ClientInfo {
                id: "cli".into(),
                version: "1".into(),
                platform: "linux".into(),
                mode: "cli".into(),
                ..ClientInfo::default()
            },
            "operator",
        );
        p.scopes = vec!["operator.read".into()];
        let v = p.to_value(None).expect("serializes");
        assert_eq!(
            v,
            json!({"minProtocol": 4, "maxProtocol": 4, "role": "operator",
                   "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                   "scopes": ["operator.read"], "caps": []})
        );
        p.auth.password = Some("pw".into());
        let v = p.to_value(None).expect("serializes");
        assert_eq!(v["auth"], json!({"password": "pw"}));
        assert_eq!(p.auth.to_string(), "[password]");
    }

    #[test]
    fn signed_params_verify_on_the_gateway_side() {
        let key = DeviceKey::from_seed(&[7u8; 32]);
        let v = node_params()
            .to_value(Some((&key, "n1", 1_000)))
            .expect("signs");
        let parsed = connect::parse(&v).expect("valid connect");
        let proof = parsed.device.clone().expect("device");
        assert_eq!(proof.id, key.device_id());
        identity::verify_proof(&parsed, &proof, "n1", 1_000).expect("verifies");
        assert!(identity::verify_proof(&parsed, &proof, "n2", 1_000).is_err());
        // A legacy v2 proof verifies too.
        let mut v2 = node_params().to_value(None).expect("serializes");
        sign(&mut v2, &key, "n3", 3_000, Payload::V2).expect("signs");
        let parsed = connect::parse(&v2).expect("valid connect");
        let proof = parsed.device.clone().expect("device");
        identity::verify_proof(&parsed, &proof, "n3", 3_000).expect("v2 verifies");
    }

    #[test]
    fn invalid_params_are_not_signed() {
        let key = DeviceKey::from_seed(&[7u8; 32]);
        let mut p = node_params();
        p.client.id = "no-such-client".into();
        let err = p.to_value(Some((&key, "n", 1))).expect_err("rejected");
        assert!(err.starts_with("invalid connect params: "), "{err}");
    }
}
