//! The OpenClaw Gateway wire protocol, version 4: frames, errors, scopes and the `connect`
//! parameters. Shapes follow `openclaw@2026.9.6` (see the README's protocol notes).

pub mod codes;
pub mod connect;
pub mod error;
pub mod frame;
pub mod health;
pub mod hello;
pub mod openclaw_methods;
pub mod role;
pub mod scopes;
pub mod validate;

/// The protocol version this gateway speaks.
pub const PROTOCOL_VERSION: u64 = 4;
/// The lowest protocol a `role:"node"` + `mode:"node"` client (or a probe) may use.
pub const MIN_NODE_PROTOCOL_VERSION: u64 = 3;
/// Largest frame accepted before the handshake completes (`MAX_PREAUTH_PAYLOAD_BYTES`).
pub const MAX_PREAUTH_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest frame accepted after the handshake (`policy.maxPayload`).
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Outbound bytes queued for one connection before it is closed as a slow consumer
/// (`policy.maxBufferedBytes`).
pub const MAX_BUFFERED_BYTES: usize = 50 * 1024 * 1024;
/// Default interval of `tick` events (`policy.tickIntervalMs`).
pub const TICK_INTERVAL_MS: u64 = 30_000;
/// Default pre-auth handshake deadline.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 15_000;
/// After our close frame is out, how long the server waits for the peer's close frame
/// before it shuts the TCP connection down anyway (RFC 6455 §7.1.1 has the server close
/// TCP first once both close frames have passed, which it does at once).
pub const CLOSE_LINGER_MS: u64 = 1_000;
/// Frames a client may pipeline while its `connect` is still being authenticated.
pub const MAX_PENDING_HANDSHAKE_FRAMES: usize = 15;
/// Unauthenticated sockets allowed per client IP.
pub const MAX_PREAUTH_SOCKETS_PER_IP: usize = 32;

/// Close codes used by the gateway.
pub mod close {
    /// Normal closure: handshake timeout, non-JSON or binary first frame.
    pub const NORMAL: u16 = 1000;
    /// Protocol mismatch.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Unsupported data (fragmented frames).
    pub const UNSUPPORTED: u16 = 1003;
    /// Policy violation: auth, pairing, invalid handshake, slow consumer.
    pub const POLICY: u16 = 1008;
    /// Frame too large.
    pub const TOO_BIG: u16 = 1009;
    /// Service restart / shutdown.
    pub const SERVICE_RESTART: u16 = 1012;
}
