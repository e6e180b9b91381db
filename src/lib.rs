//! # openclaw — the shell of openclaw-rs
//!
//! The `openclaw` binary: configuration (figment), the HTTP/WebSocket surface (actix-web),
//! the gateway runner, the protocol client ([`client`], shared by the CLI, the node host, the
//! integration tests and the benches) and the CLI. The engine — actors, protocol, identity — is the
//! [`openclaw_actors`] crate, re-exported as [`actors`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod client;
pub mod clients;
pub mod config;
pub mod gateway;
pub mod http;
pub mod logging;
pub mod node_host;
pub mod reload;
pub mod ssh_tunnel;
pub mod tailscale;
pub mod tls;

pub use openclaw_actors as actors;
