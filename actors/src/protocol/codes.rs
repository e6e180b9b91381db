//! Error detail codes: the `details.code` (and `nodeError.code`) strings of failed `res`
//! frames, in one place. Clients match on these exact texts (the CLI's hints, the node
//! host, OpenClaw's own clients), so they are part of the wire protocol.

/// The client speaks a protocol range that does not include ours.
pub const PROTOCOL_MISMATCH: &str = "PROTOCOL_MISMATCH";
/// A Control UI connected from an origin that is not allowed.
pub const CONTROL_UI_ORIGIN_NOT_ALLOWED: &str = "CONTROL_UI_ORIGIN_NOT_ALLOWED";
/// The connection must present a signed device identity.
pub const DEVICE_IDENTITY_REQUIRED: &str = "DEVICE_IDENTITY_REQUIRED";
/// The device (or the role/scopes it asks for) needs an operator's approval first.
pub const PAIRING_REQUIRED: &str = "PAIRING_REQUIRED";
/// A device token was presented for scopes it was not issued for.
pub const AUTH_SCOPE_MISMATCH: &str = "AUTH_SCOPE_MISMATCH";
/// The device token does not match.
pub const AUTH_DEVICE_TOKEN_MISMATCH: &str = "AUTH_DEVICE_TOKEN_MISMATCH";
/// A setup code's bootstrap token was refused (unknown, expired, used or another device's).
pub const AUTH_BOOTSTRAP_TOKEN_INVALID: &str = "AUTH_BOOTSTRAP_TOKEN_INVALID";
/// The gateway requires a token and none was sent.
pub const AUTH_TOKEN_MISSING: &str = "AUTH_TOKEN_MISSING";
/// The token is wrong.
pub const AUTH_TOKEN_MISMATCH: &str = "AUTH_TOKEN_MISMATCH";
/// The gateway requires a password and none was sent.
pub const AUTH_PASSWORD_MISSING: &str = "AUTH_PASSWORD_MISSING";
/// The password is wrong.
pub const AUTH_PASSWORD_MISMATCH: &str = "AUTH_PASSWORD_MISMATCH";
/// Too many failed attempts: locked out for a while.
pub const AUTH_RATE_LIMITED: &str = "AUTH_RATE_LIMITED";
/// The device id is not derived from the public key.
pub const DEVICE_AUTH_DEVICE_ID_MISMATCH: &str = "DEVICE_AUTH_DEVICE_ID_MISMATCH";
/// The device signature is too old.
pub const DEVICE_AUTH_SIGNATURE_EXPIRED: &str = "DEVICE_AUTH_SIGNATURE_EXPIRED";
/// The device signature does not carry the challenge nonce.
pub const DEVICE_AUTH_NONCE_REQUIRED: &str = "DEVICE_AUTH_NONCE_REQUIRED";
/// The device signature carries another connection's nonce.
pub const DEVICE_AUTH_NONCE_MISMATCH: &str = "DEVICE_AUTH_NONCE_MISMATCH";
/// The device signature does not verify.
pub const DEVICE_AUTH_SIGNATURE_INVALID: &str = "DEVICE_AUTH_SIGNATURE_INVALID";
/// The device public key does not parse.
pub const DEVICE_AUTH_PUBLIC_KEY_INVALID: &str = "DEVICE_AUTH_PUBLIC_KEY_INVALID";
/// The connection lacks a scope the method needs.
pub const MISSING_SCOPE: &str = "MISSING_SCOPE";
/// `node.invoke` to a node that is not connected.
pub const NOT_CONNECTED: &str = "NOT_CONNECTED";
/// `nodeError.code`: the node did not answer before the deadline.
pub const TIMEOUT: &str = "TIMEOUT";
/// `nodeError.code`: the node went away before answering.
pub const NODE_DISCONNECTED: &str = "NODE_DISCONNECTED";
/// A node's answer that it did not run the command: its lifecycle (an app going to or
/// coming from the background) kept it from starting. Sent only before the command's
/// handler ran and before any progress; the gateway retries it.
pub const NODE_NOT_READY: &str = "NODE_NOT_READY";
/// `cron.*` with an id no job has.
pub const CRON_JOB_NOT_FOUND: &str = "CRON_JOB_NOT_FOUND";
