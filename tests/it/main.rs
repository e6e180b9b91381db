//! Integration tests: the real `openclaw` binary on real loopback sockets.

mod agent_rpc;
mod agent_wait;
mod ceiling;
mod cli;
mod clients;
mod docker;
mod edge;
mod events;
mod handshake;
mod interop;
mod lifecycle;
mod limits;
mod methods;
mod node_exec;
mod nodes;
mod pairing;
mod profiles;
mod remote;
mod soak;
mod ssh;
mod state_dir;
mod support;
mod telegram_flow;
mod tls;
mod tool_policy;
