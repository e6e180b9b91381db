//! Pairing state: paired devices (with hashed device tokens), pending device requests,
//! approved node command surfaces and pending node requests. Plain data with the rules
//! OpenClaw applies; owned by the [`crate::registry::Registry`] and persisted by the
//! [`crate::store::StoreActor`] as one JSON document (`devices/pairing.json`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::constant_time_eq;

/// Pending requests expire after this long.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;
/// Where the document lives, relative to the state directory.
pub const DOCUMENT: &str = "devices/pairing.json";

/// Commands whose approval needs `operator.admin` (besides `operator.pairing`).
pub const ADMIN_COMMANDS: &[&str] = &[
    "system.run",
    "system.run.prepare",
    "system.which",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "fs.listDir",
    "system.execApprovals.get",
    "system.execApprovals.set",
];

/// A stored device token: only its SHA-256 is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Role the token authenticates.
    pub role: String,
    /// Scopes bound to it.
    pub scopes: Vec<String>,
    /// base64url SHA-256 of the token.
    pub hash: String,
    /// Issue time.
    pub created_at_ms: u64,
}

/// A paired device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    /// Device id (hex SHA-256 of the public key).
    pub device_id: String,
    /// Raw public key, base64url.
    pub public_key: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Device family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Client id at pairing time.
    pub client_id: String,
    /// Client mode at pairing time.
    pub client_mode: String,
    /// Approved roles.
    pub roles: Vec<String>,
    /// Approved operator scopes.
    pub scopes: Vec<String>,
    /// `silent` (auto-approved local) or `operator`.
    pub approved_via: String,
    /// First pairing.
    pub created_at_ms: u64,
    /// Last approval.
    pub approved_at_ms: u64,
    /// Last connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    /// Device tokens (hashes).
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
    /// The name an operator gave it (`device.pair.rename`); kept across re-approvals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_label: Option<String>,
}

impl PairedDevice {
    /// Whether it is paired for (or holds a token of) a role other than `operator`: only an
    /// admin may manage such a device (OpenClaw's `pairedDeviceHasNonOperatorRole`).
    pub fn has_non_operator_role(&self) -> bool {
        self.roles.iter().any(|r| r.trim() != "operator")
            || self.tokens.iter().any(|t| t.role.trim() != "operator")
    }
}

/// A device waiting for approval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingDevice {
    /// Request id.
    pub request_id: String,
    /// Device id.
    pub device_id: String,
    /// Public key.
    pub public_key: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Device family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Requested role.
    pub role: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Where it connected from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// `not-paired`, `role-upgrade` or `scope-upgrade`.
    pub reason: String,
    /// Created.
    pub ts: u64,
}

/// What a node declared when it connected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeDescriptor {
    /// Node id (= device id).
    pub node_id: String,
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Device family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Capabilities (sorted).
    pub caps: Vec<String>,
    /// Commands (sorted).
    pub commands: Vec<String>,
}

/// An approved node command surface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSurface {
    /// What was approved (commands = the approved surface).
    #[serde(flatten)]
    pub node: NodeDescriptor,
    /// First approval.
    pub created_at_ms: u64,
    /// Last approval.
    pub approved_at_ms: u64,
}

/// A node surface waiting for approval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingNode {
    /// Request id.
    pub request_id: String,
    /// The requested surface.
    #[serde(flatten)]
    pub node: NodeDescriptor,
    /// Scopes the approving operator needs.
    pub required_approve_scopes: Vec<String>,
    /// Whether it may be approved without prompting.
    pub silent: bool,
    /// Created.
    pub ts: u64,
}

/// Everything pairing-related, as persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PairingBook {
    /// Paired devices by id.
    #[serde(default)]
    pub devices: BTreeMap<String, PairedDevice>,
    /// Pending device requests by request id.
    #[serde(default)]
    pub pending_devices: BTreeMap<String, PendingDevice>,
    /// Approved node surfaces by node id.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeSurface>,
    /// Pending node requests by request id.
    #[serde(default)]
    pub pending_nodes: BTreeMap<String, PendingNode>,
    /// Setup-code bootstrap tokens (`device.pair.setupCode`) by the token's hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bootstrap: BTreeMap<String, BootstrapToken>,
    /// Setup codes that paired a device, by setup id (`device.pair.setupStatus`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub setup_completions: BTreeMap<String, SetupCompletion>,
}

/// A setup code's bootstrap token lives this long (OpenClaw's 10 minutes).
pub const BOOTSTRAP_TTL_MS: u64 = 10 * 60 * 1000;
/// Setup-code outcomes are kept this long for `device.pair.setupStatus`.
pub const SETUP_COMPLETION_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// Outstanding setup codes at most (the oldest goes first).
pub const BOOTSTRAP_MAX: usize = 32;
/// Setup outcomes kept at most.
pub const SETUP_COMPLETIONS_MAX: usize = 64;

/// What a setup code hands over (OpenClaw's bootstrap profiles).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BootstrapProfile {
    /// The node role plus a full operator (with `operator.admin`) for the official apps.
    MobileFull,
    /// The node role plus an operator without `operator.admin`.
    Limited,
    /// The node role only (a headless node host).
    Node,
    /// The node role plus an operator limited to `operator.read` and `operator.talk`.
    VoiceNode,
    /// OpenClaw's host-issued browser owner (`openclaw dashboard`'s one-time sign-in link):
    /// an operator with every operator scope, redeemed silently by the Control UI only.
    ControlUiOwner,
}

impl BootstrapProfile {
    /// The roles the setup code pairs.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Self::Node => &["node"],
            Self::ControlUiOwner => &["operator"],
            _ => &["node", "operator"],
        }
    }

    /// The operator scopes handed over (none for `node`).
    pub fn operator_scopes(self) -> &'static [&'static str] {
        match self {
            Self::MobileFull => &[
                "operator.admin",
                "operator.approvals",
                "operator.questions",
                "operator.read",
                "operator.talk.secrets",
                "operator.write",
            ],
            Self::Limited => &[
                "operator.approvals",
                "operator.questions",
                "operator.read",
                "operator.talk.secrets",
                "operator.write",
            ],
            Self::Node => &[],
            Self::VoiceNode => &["operator.read", "operator.talk"],
            Self::ControlUiOwner => &[
                "operator.admin",
                "operator.approvals",
                "operator.pairing",
                "operator.questions",
                "operator.read",
                "operator.talk.secrets",
                "operator.write",
            ],
        }
    }

    /// The `access` label of `device.pair.setupCode` (`full`, `limited`, `node`).
    pub fn access(self) -> &'static str {
        match self {
            Self::MobileFull => "full",
            Self::Node => "node",
            Self::Limited | Self::VoiceNode => "limited",
            Self::ControlUiOwner => "owner",
        }
    }

    /// Whether a client may redeem this profile without an operator's approval: the
    /// official iOS and Android apps for the mobile profiles, the node host for `node`, an
    /// ESP32 node host for `voice-node` (OpenClaw's metadata classes), the Control UI page
    /// for `control-ui-owner`.
    pub fn silent_for(self, client_id: &str, platform: &str, family: &str) -> bool {
        let platform = platform.trim().to_ascii_lowercase();
        let family = family.trim().to_ascii_lowercase();
        let first = platform.split_whitespace().next().unwrap_or("");
        let mobile = match client_id {
            "openclaw-android" => first == "android" && family == "android",
            "openclaw-ios" => {
                matches!(first, "ios" | "ipados")
                    && matches!(family.as_str(), "iphone" | "ipad" | "ios")
            }
            _ => false,
        };
        match self {
            Self::MobileFull | Self::Limited => mobile,
            Self::Node => client_id == "node-host",
            Self::VoiceNode => client_id == "node-host" && first == "esp32" && family == "esp32",
            Self::ControlUiOwner => client_id == "openclaw-control-ui",
        }
    }
}

/// One outstanding setup code (only the token's hash is kept, as the map key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapToken {
    /// Opaque, non-secret id the issuer follows the code by.
    pub setup_id: String,
    /// What it hands over.
    pub profile: BootstrapProfile,
    /// Issued.
    pub issued_at_ms: u64,
    /// The first device that presented it (it binds to that device only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// A setup code that paired a device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SetupCompletion {
    /// The device it paired.
    pub device_id: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// `full`, `limited` or `node`.
    pub access: String,
    /// When.
    pub completed_at_ms: u64,
}

/// Drops the oldest entries of `map` (by `age`) until one more fits under `max`.
fn make_room<V>(map: &mut BTreeMap<String, V>, max: usize, age: impl Fn(&V) -> u64) {
    while map.len() >= max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

/// Hash of a device token as stored.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (256 bits, base64url) that never starts with `-`, so it can follow
/// `--token` on any command line (a leading `-` reads as a flag to most CLI parsers).
pub fn new_token() -> String {
    loop {
        let t = URL_SAFE_NO_PAD.encode(crate::util::random_bytes::<32>());
        if !t.starts_with('-') {
            return t;
        }
    }
}

/// Scopes needed to approve a surface with these commands.
pub fn approve_scopes(commands: &[String]) -> Vec<String> {
    if commands.is_empty() {
        vec!["operator.pairing".into()]
    } else if commands
        .iter()
        .any(|c| ADMIN_COMMANDS.contains(&c.as_str()))
    {
        vec!["operator.pairing".into(), "operator.admin".into()]
    } else {
        vec!["operator.pairing".into(), "operator.write".into()]
    }
}

/// The outcome of a device's connect against the book.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceCheck {
    /// Paired for this role and these scopes.
    Paired,
    /// Needs (re)approval for this reason: `not-paired`, `role-upgrade`, `scope-upgrade`.
    Needs(&'static str),
}

impl PairingBook {
    /// Parses the stored document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Serialises for the store.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Drops pending requests older than five minutes, expired setup codes and old setup
    /// outcomes. Returns whether anything changed.
    pub fn expire(&mut self, now: u64) -> bool {
        let count = |b: &Self| {
            b.pending_devices.len()
                + b.pending_nodes.len()
                + b.bootstrap.len()
                + b.setup_completions.len()
        };
        let before = count(self);
        self.pending_devices
            .retain(|_, p| now.saturating_sub(p.ts) < PENDING_TTL_MS);
        self.pending_nodes
            .retain(|_, p| now.saturating_sub(p.ts) < PENDING_TTL_MS);
        self.bootstrap
            .retain(|_, b| now.saturating_sub(b.issued_at_ms) < BOOTSTRAP_TTL_MS);
        self.setup_completions
            .retain(|_, c| now.saturating_sub(c.completed_at_ms) < SETUP_COMPLETION_TTL_MS);
        before != count(self)
    }

    /// Issues a setup code's bootstrap token: `(token, setupId, expiresAtMs)`. Only its
    /// hash is kept; beyond [`BOOTSTRAP_MAX`] outstanding codes the oldest is dropped.
    pub fn issue_bootstrap(
        &mut self,
        profile: BootstrapProfile,
        now: u64,
    ) -> (String, String, u64) {
        self.expire(now);
        make_room(&mut self.bootstrap, BOOTSTRAP_MAX, |b| b.issued_at_ms);
        let token = new_token();
        let setup_id = uuid::Uuid::new_v4().to_string();
        self.bootstrap.insert(
            token_hash(&token),
            BootstrapToken {
                setup_id: setup_id.clone(),
                profile,
                issued_at_ms: now,
                device_id: None,
            },
        );
        (token, setup_id, now.saturating_add(BOOTSTRAP_TTL_MS))
    }

    /// The setup code `token` for `device_id`, binding it to that device on first use:
    /// `None` when it is unknown, expired, or bound to another device. (Looked up by its
    /// SHA-256, so the comparison reveals nothing of the token.)
    pub fn redeem_bootstrap(
        &mut self,
        token: &str,
        device_id: &str,
        now: u64,
    ) -> Option<BootstrapToken> {
        let b = self.bootstrap.get_mut(&token_hash(token))?;
        if now.saturating_sub(b.issued_at_ms) >= BOOTSTRAP_TTL_MS {
            return None;
        }
        match &b.device_id {
            Some(bound) if !constant_time_eq(bound.as_bytes(), device_id.as_bytes()) => None,
            Some(_) => Some(b.clone()),
            None => {
                b.device_id = Some(device_id.to_owned());
                Some(b.clone())
            }
        }
    }

    /// Uses up the setup code `token` (it paired its device) and records the outcome.
    pub fn complete_bootstrap(
        &mut self,
        token: &str,
        device_name: Option<String>,
        now: u64,
    ) -> Option<(String, SetupCompletion)> {
        let b = self.bootstrap.remove(&token_hash(token))?;
        let done = SetupCompletion {
            device_id: b.device_id.unwrap_or_default(),
            device_name,
            access: b.profile.access().to_owned(),
            completed_at_ms: now,
        };
        make_room(&mut self.setup_completions, SETUP_COMPLETIONS_MAX, |c| {
            c.completed_at_ms
        });
        self.setup_completions
            .insert(b.setup_id.clone(), done.clone());
        Some((b.setup_id, done))
    }

    /// Whether `device_id` is paired for `role` with at least `scopes`.
    pub fn check_device(&self, device_id: &str, role: &str, scopes: &[String]) -> DeviceCheck {
        match self.devices.get(device_id) {
            None => DeviceCheck::Needs("not-paired"),
            Some(d) if !d.roles.iter().any(|r| r == role) => DeviceCheck::Needs("role-upgrade"),
            Some(d) if !scopes.iter().all(|s| d.scopes.contains(s)) => {
                DeviceCheck::Needs("scope-upgrade")
            }
            Some(_) => DeviceCheck::Paired,
        }
    }

    /// Finds or creates the pending request for this device and role.
    pub fn request_device(&mut self, mut req: PendingDevice) -> (PendingDevice, bool) {
        if let Some(existing) = self
            .pending_devices
            .values()
            .find(|p| p.device_id == req.device_id && p.role == req.role && p.scopes == req.scopes)
        {
            return (existing.clone(), false);
        }
        if req.request_id.is_empty() {
            req.request_id = uuid::Uuid::new_v4().to_string();
        }
        self.pending_devices
            .insert(req.request_id.clone(), req.clone());
        (req, true)
    }

    /// Pairs (or upgrades) a device for a role and scopes.
    pub fn approve_device(&mut self, p: &PendingDevice, via: &str, now: u64) -> PairedDevice {
        let entry = self
            .devices
            .entry(p.device_id.clone())
            .or_insert_with(|| PairedDevice {
                device_id: p.device_id.clone(),
                public_key: p.public_key.clone(),
                display_name: p.display_name.clone(),
                platform: p.platform.clone(),
                device_family: p.device_family.clone(),
                client_id: p.client_id.clone(),
                client_mode: p.client_mode.clone(),
                roles: Vec::new(),
                scopes: Vec::new(),
                approved_via: via.to_owned(),
                created_at_ms: now,
                approved_at_ms: now,
                last_seen_at_ms: None,
                tokens: Vec::new(),
                operator_label: None,
            });
        if !entry.roles.contains(&p.role) {
            entry.roles.push(p.role.clone());
        }
        for s in &p.scopes {
            if !entry.scopes.contains(s) {
                entry.scopes.push(s.clone());
            }
        }
        entry.approved_via = via.to_owned();
        entry.approved_at_ms = now;
        let out = entry.clone();
        self.pending_devices
            .retain(|_, q| !(q.device_id == p.device_id && q.role == p.role));
        out
    }

    /// Issues a new device token for `role`, replacing any earlier one. Returns the raw
    /// token (shown once; only its hash is stored).
    pub fn issue_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: &[String],
        now: u64,
    ) -> Option<String> {
        let d = self.devices.get_mut(device_id)?;
        let token = new_token();
        d.tokens.retain(|t| t.role != role);
        d.tokens.push(TokenRecord {
            role: role.to_owned(),
            scopes: scopes.to_vec(),
            hash: token_hash(&token),
            created_at_ms: now,
        });
        Some(token)
    }

    /// Verifies a presented device token for `role`.
    pub fn verify_token(&self, device_id: &str, role: &str, token: &str) -> bool {
        let Some(d) = self.devices.get(device_id) else {
            return false;
        };
        let h = token_hash(token);
        d.tokens
            .iter()
            .any(|t| t.role == role && constant_time_eq(t.hash.as_bytes(), h.as_bytes()))
    }

    /// The scopes bound to a valid device token for `role` (`None` if the token is wrong).
    pub fn token_scopes(&self, device_id: &str, role: &str, token: &str) -> Option<Vec<String>> {
        let d = self.devices.get(device_id)?;
        let h = token_hash(token);
        d.tokens
            .iter()
            .find(|t| t.role == role && constant_time_eq(t.hash.as_bytes(), h.as_bytes()))
            .map(|t| t.scopes.clone())
    }

    /// Revokes the token for `role`. Returns whether one existed.
    pub fn revoke_token(&mut self, device_id: &str, role: &str) -> bool {
        let Some(d) = self.devices.get_mut(device_id) else {
            return false;
        };
        let before = d.tokens.len();
        d.tokens.retain(|t| t.role != role);
        before != d.tokens.len()
    }

    /// Gives a paired device an operator label; `false`: no such device.
    pub fn rename_device(&mut self, device_id: &str, label: &str) -> bool {
        match self.devices.get_mut(device_id) {
            Some(d) => {
                d.operator_label = Some(label.to_owned());
                true
            }
            None => false,
        }
    }

    /// Removes a paired device (and its tokens and pending requests).
    pub fn remove_device(&mut self, device_id: &str) -> bool {
        self.pending_devices.retain(|_, p| p.device_id != device_id);
        self.devices.remove(device_id).is_some()
    }

    /// The approved part of a declared surface, and whether approval is pending for more.
    pub fn approved_commands(&self, node: &NodeDescriptor) -> Vec<String> {
        match self.nodes.get(&node.node_id) {
            Some(s) => node
                .commands
                .iter()
                .filter(|c| s.node.commands.contains(c))
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }

    /// Records a pending surface request if `node` declares commands beyond its approved
    /// surface (or has none approved yet). Returns `(request, created)`.
    pub fn request_surface(
        &mut self,
        node: &NodeDescriptor,
        now: u64,
    ) -> Option<(PendingNode, bool)> {
        if let Some(s) = self.nodes.get(&node.node_id)
            && node.commands.iter().all(|c| s.node.commands.contains(c))
            && node.caps.iter().all(|c| s.node.caps.contains(c))
        {
            return None;
        }
        if let Some(existing) = self
            .pending_nodes
            .values()
            .find(|p| p.node.node_id == node.node_id && p.node.commands == node.commands)
        {
            return Some((existing.clone(), false));
        }
        self.pending_nodes
            .retain(|_, p| p.node.node_id != node.node_id);
        let req = PendingNode {
            request_id: uuid::Uuid::new_v4().to_string(),
            node: node.clone(),
            required_approve_scopes: approve_scopes(&node.commands),
            silent: false,
            ts: now,
        };
        self.pending_nodes
            .insert(req.request_id.clone(), req.clone());
        Some((req, true))
    }

    /// Approves a pending surface.
    pub fn approve_surface(&mut self, request_id: &str, now: u64) -> Option<NodeSurface> {
        let p = self.pending_nodes.remove(request_id)?;
        let created = self
            .nodes
            .get(&p.node.node_id)
            .map(|s| s.created_at_ms)
            .unwrap_or(now);
        let mut surface = NodeSurface {
            node: p.node,
            created_at_ms: created,
            approved_at_ms: now,
        };
        // The approved name stays until an operator renames the node (`node.rename`): a
        // reconnect that asks for more commands does not rename it.
        if let Some(name) = self
            .nodes
            .get(&surface.node.node_id)
            .and_then(|s| s.node.display_name.clone())
        {
            surface.node.display_name = Some(name);
        }
        self.nodes
            .insert(surface.node.node_id.clone(), surface.clone());
        Some(surface)
    }

    /// Sets the approved surface's display name (`node.rename`); `false` when `node_id`
    /// has no approved surface.
    pub fn rename_surface(&mut self, node_id: &str, name: &str) -> bool {
        match self.nodes.get_mut(node_id) {
            Some(s) => {
                s.node.display_name = Some(name.to_owned());
                true
            }
            None => false,
        }
    }

    /// Public view of a paired device (token hashes stripped).
    pub fn device_view(d: &PairedDevice, connected: bool) -> DeviceView {
        DeviceView {
            approved_at_ms: d.approved_at_ms,
            approved_via: d.approved_via.clone(),
            client_id: d.client_id.clone(),
            client_mode: d.client_mode.clone(),
            connected,
            created_at_ms: d.created_at_ms,
            device_family: d.device_family.clone(),
            device_id: d.device_id.clone(),
            display_name: d.display_name.clone(),
            last_seen_at_ms: d.last_seen_at_ms,
            operator_label: d.operator_label.clone(),
            platform: d.platform.clone(),
            public_key: d.public_key.clone(),
            role: d.roles.first().cloned().unwrap_or_default(),
            roles: d.roles.clone(),
            scopes: d.scopes.clone(),
            tokens: d
                .tokens
                .iter()
                .map(|t| TokenView {
                    created_at_ms: t.created_at_ms,
                    role: t.role.clone(),
                    scopes: t.scopes.clone(),
                })
                .collect(),
        }
    }
}

/// A paired device as `device.pair.list` / `device.pair.approve` show it (no token
/// secrets). Fields in the order of the wire object's keys; absent ones are omitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    /// Last approval.
    pub approved_at_ms: u64,
    /// Who approved it.
    pub approved_via: String,
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Whether a session of it is open.
    pub connected: bool,
    /// First pairing.
    pub created_at_ms: u64,
    /// Device family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Device id.
    pub device_id: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Last connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    /// The name an operator gave it (`device.pair.rename`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_label: Option<String>,
    /// Platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Public key.
    pub public_key: String,
    /// First role (`""` when none).
    pub role: String,
    /// Paired roles.
    pub roles: Vec<String>,
    /// Approved scopes.
    pub scopes: Vec<String>,
    /// Its device tokens, without the secrets.
    pub tokens: Vec<TokenView>,
}

/// A device token as listed (the secret is never shown again).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// Issue time.
    pub created_at_ms: u64,
    /// Role.
    pub role: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

#[cfg(test)]
mod token_tests {
    /// Out of 4096 tokens about 64 would start with `-` if nothing prevented it.
    #[test]
    fn generated_tokens_never_start_with_a_hyphen() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4096 {
            let t = super::new_token();
            assert_eq!(t.len(), 43, "{t}");
            assert!(!t.starts_with('-'), "{t}");
            assert!(seen.insert(t), "a repeated token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(device: &str, role: &str, scopes: &[&str]) -> PendingDevice {
        PendingDevice {
            request_id: String::new(),
            device_id: device.into(),
            public_key: "pk".into(),
            display_name: None,
            platform: Some("linux".into()),
            device_family: None,
            client_id: "cli".into(),
            client_mode: "cli".into(),
            role: role.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            remote_ip: None,
            reason: "not-paired".into(),
            ts: 1000,
        }
    }

    #[test]
    fn device_lifecycle_and_tokens() {
        let mut b = PairingBook::default();
        let read = vec!["operator.read".to_owned()];
        assert_eq!(
            b.check_device("d1", "operator", &read),
            DeviceCheck::Needs("not-paired")
        );
        let (req, created) = b.request_device(pending("d1", "operator", &["operator.read"]));
        assert!(created);
        let (again, created2) = b.request_device(pending("d1", "operator", &["operator.read"]));
        assert!(!created2);
        assert_eq!(again.request_id, req.request_id);
        b.approve_device(&req, "operator", 2000);
        assert!(b.pending_devices.is_empty());
        assert_eq!(b.check_device("d1", "operator", &read), DeviceCheck::Paired);
        assert_eq!(
            b.check_device("d1", "operator", &["operator.admin".to_owned()]),
            DeviceCheck::Needs("scope-upgrade")
        );
        assert_eq!(
            b.check_device("d1", "node", &[]),
            DeviceCheck::Needs("role-upgrade")
        );
        let t = b.issue_token("d1", "operator", &read, 3000).expect("token");
        assert!(b.verify_token("d1", "operator", &t));
        assert!(!b.verify_token("d1", "operator", "nope"));
        assert!(!b.verify_token("d1", "node", &t));
        let json = b.to_json();
        assert!(
            !String::from_utf8_lossy(&json).contains(&t),
            "raw token must not be stored"
        );
        let back = PairingBook::from_json(&json).expect("parse");
        assert!(back.verify_token("d1", "operator", &t));
        assert!(b.revoke_token("d1", "operator"));
        assert!(!b.verify_token("d1", "operator", &t));
    }

    #[test]
    fn pending_expire_after_five_minutes() {
        let mut b = PairingBook::default();
        b.request_device(pending("d1", "operator", &[]));
        assert!(!b.expire(1000 + PENDING_TTL_MS - 1));
        assert!(b.expire(1000 + PENDING_TTL_MS));
        assert!(b.pending_devices.is_empty());
    }

    #[test]
    fn surfaces() {
        let mut b = PairingBook::default();
        let node = NodeDescriptor {
            node_id: "n1".into(),
            commands: vec!["camera.snap".into(), "system.which".into()],
            ..Default::default()
        };
        let (req, _) = b.request_surface(&node, 10).expect("pending");
        assert_eq!(
            req.required_approve_scopes,
            vec!["operator.pairing", "operator.admin"]
        );
        assert!(b.approved_commands(&node).is_empty());
        b.approve_surface(&req.request_id, 20).expect("approved");
        assert_eq!(b.approved_commands(&node).len(), 2);
        assert!(b.request_surface(&node, 30).is_none());
        let mut bigger = node.clone();
        bigger.commands.push("system.run".into());
        let (req2, _) = b.request_surface(&bigger, 40).expect("reapproval");
        assert_eq!(b.approved_commands(&bigger).len(), 2);
        assert_ne!(req2.request_id, req.request_id);
    }
}

#[cfg(test)]
mod bootstrap_tests {
    use super::*;

    #[test]
    fn a_setup_code_binds_to_its_first_device_and_is_used_once() {
        let mut b = PairingBook::default();
        let (token, setup_id, expires) = b.issue_bootstrap(BootstrapProfile::MobileFull, 1_000);
        assert_eq!(expires, 1_000 + BOOTSTRAP_TTL_MS);
        // Only the hash is kept.
        let doc = String::from_utf8(b.to_json()).expect("utf8");
        assert!(!doc.contains(&token), "{doc}");
        assert!(doc.contains(&token_hash(&token)), "{doc}");
        assert!(
            b.redeem_bootstrap("not-the-token", "dev-a", 2_000)
                .is_none()
        );
        // Anything a stranger sends is only hashed: any size, any text.
        let cut = &token[..token.len() - 1];
        for junk in ["", "\u{0}", "🙂", &"x".repeat(1 << 20), cut] {
            assert!(b.redeem_bootstrap(junk, "dev-z", 2_000).is_none());
        }
        assert!(
            b.bootstrap.values().all(|t| t.device_id.is_none()),
            "nothing bound"
        );
        let got = b
            .redeem_bootstrap(&token, "dev-a", 2_000)
            .expect("first device");
        assert_eq!(got.setup_id, setup_id);
        // Bound: the same device again, never another one.
        assert!(b.redeem_bootstrap(&token, "dev-a", 3_000).is_some());
        assert!(b.redeem_bootstrap(&token, "dev-b", 3_000).is_none());
        let (id, done) = b
            .complete_bootstrap(&token, Some("Ana's iPhone".into()), 4_000)
            .expect("completed");
        assert_eq!(id, setup_id);
        assert_eq!(
            (done.device_id.as_str(), done.access.as_str()),
            ("dev-a", "full")
        );
        assert!(
            b.redeem_bootstrap(&token, "dev-a", 5_000).is_none(),
            "used up"
        );
        assert_eq!(b.setup_completions.get(&setup_id), Some(&done));
        // A round trip through the stored document keeps it all.
        let again = PairingBook::from_json(&b.to_json()).expect("parses");
        assert_eq!(again, b);
    }

    #[test]
    fn setup_codes_expire_and_are_bounded() {
        let mut b = PairingBook::default();
        let (token, _, _) = b.issue_bootstrap(BootstrapProfile::Node, 0);
        assert!(
            b.redeem_bootstrap(&token, "d", BOOTSTRAP_TTL_MS - 1)
                .is_some()
        );
        assert!(b.redeem_bootstrap(&token, "d", BOOTSTRAP_TTL_MS).is_none());
        assert!(b.expire(BOOTSTRAP_TTL_MS));
        assert!(b.bootstrap.is_empty());
        let first = b.issue_bootstrap(BootstrapProfile::Node, 10).0;
        for i in 0..BOOTSTRAP_MAX as u64 {
            b.issue_bootstrap(BootstrapProfile::Node, 11 + i);
        }
        assert_eq!(b.bootstrap.len(), BOOTSTRAP_MAX);
        assert!(
            b.redeem_bootstrap(&first, "d", 100).is_none(),
            "the oldest went"
        );
    }

    #[test]
    fn profiles_hand_over_openclaws_scopes_to_the_client_class_they_were_made_for() {
        use BootstrapProfile::*;
        assert!(MobileFull.operator_scopes().contains(&"operator.admin"));
        assert!(!Limited.operator_scopes().contains(&"operator.admin"));
        for p in [MobileFull, Limited, Node, VoiceNode] {
            assert!(!p.operator_scopes().contains(&"operator.pairing"), "{p:?}");
        }
        assert_eq!(Node.roles(), ["node"]);
        assert_eq!(
            VoiceNode.operator_scopes(),
            ["operator.read", "operator.talk"]
        );
        assert!(MobileFull.silent_for("openclaw-ios", "iOS 18.2", "iPhone"));
        assert!(Limited.silent_for("openclaw-android", "Android 15", "Android"));
        assert!(!MobileFull.silent_for("openclaw-ios", "linux", "iPhone"));
        assert!(!MobileFull.silent_for("node-host", "linux", "Linux"));
        assert!(Node.silent_for("node-host", "linux", "Linux"));
        assert!(!Node.silent_for("openclaw-ios", "iOS 18", "iPhone"));
        assert!(VoiceNode.silent_for("node-host", "esp32 s3", "ESP32"));
        assert!(!VoiceNode.silent_for("node-host", "linux", "Linux"));
        // The dashboard's browser owner: an operator only, every operator scope, silent for
        // the Control UI page alone; stored under OpenClaw's purpose name.
        assert_eq!(ControlUiOwner.roles(), ["operator"]);
        assert!(
            ControlUiOwner
                .operator_scopes()
                .contains(&"operator.pairing")
        );
        assert!(ControlUiOwner.operator_scopes().contains(&"operator.admin"));
        assert_eq!(ControlUiOwner.access(), "owner");
        assert!(ControlUiOwner.silent_for("openclaw-control-ui", "web", ""));
        for other in [
            "cli",
            "webchat",
            "openclaw-ios",
            "node-host",
            "openclaw-control-ui ",
        ] {
            assert!(!ControlUiOwner.silent_for(other, "web", ""), "{other}");
        }
        assert_eq!(
            serde_json::to_value(ControlUiOwner).ok(),
            Some(serde_json::json!("control-ui-owner"))
        );
    }
}
