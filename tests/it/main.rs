//! Integration tests: the real `openclaw` binary on real loopback sockets.

mod agent_rpc;
mod cli;
mod clients;
mod edge;
mod events;
mod handshake;
mod interop;
mod lifecycle;
mod limits;
mod nodes;
mod pairing;
mod support;
mod telegram_flow;
mod tls;
