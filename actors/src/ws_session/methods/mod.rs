//! # The method table
//!
//! Every RPC method this gateway implements is declared once, as a [`Method`] in the
//! `METHODS` list of its area's file (grouped like OpenClaw's `src/gateway/server-methods/`):
//!
//! | file | methods |
//! | --- | --- |
//! | `health.rs` | `health`, `status`, `system-presence` |
//! | `system.rs` | `system-event`, `system.info` |
//! | `nodes.rs` | `node.list`, `node.describe`, `node.invoke`, `node.pair.*`, and the node-side `node.invoke.result`, `node.invoke.progress`, `node.event`, `node.*.update`, `skills.bins` |
//! | `devices.rs` | `device.pair.*`, `device.token.rotate`, `device.token.revoke` |
//! | `chat.rs` | `chat.send`, `chat.history`, `chat.message.get`, `chat.abort`, `chat.inject`, `agent`, `agent.wait` |
//! | `sessions.rs` | `sessions.list`, `sessions.subscribe`, `sessions.describe`, `sessions.get`, `sessions.reset`, `sessions.create`, `sessions.delete`, `sessions.patch`, `sessions.cleanup`, `agents.list`, `models.list` |
//! | `channels.rs` | `send`, `channels.status`, `channels.stop`, `channels.start`, `channels.pairing.list`, `channels.pairing.approve` |
//! | `config.rs` | `config.get`, `config.set`, `config.patch`, `config.apply`, `secrets.reload` |
//! | `logs.rs` | `logs.tail` |
//! | `audit.rs` | `audit.activity.list`, `audit.list` |
//! | `usage.rs` | `usage.cost`, `sessions.usage`, `sessions.usage.timeseries`, `sessions.usage.logs` |
//! | `artifacts.rs` | `artifacts.list`, `artifacts.get`, `artifacts.download` |
//! | `speech.rs` | `talk.speak`, `tts.speak`, `tts.status`, `tts.providers` |
//! | `cron.rs` | `cron.status`, `cron.list`, `cron.get`, `cron.add`, `cron.update`, `cron.remove`, `cron.run`, `cron.runs`, `wake`, `last-heartbeat`, `set-heartbeats` |
//!
//! An entry names the method, who may call it ([`MethodAccess`]: open, node role, or
//! operator role with a scope) and its handler. A handler with params takes them typed
//! (`fn(&mut WsSession, Call, P, &mut Context)` where `P:` [`Params`], wired with
//! [`WsSession::with_params`]); the `Params` impls (`node_params.rs`, `agent_params.rs`,
//! `health.rs`) use the validating parsers whose errors are worded like OpenClaw's AJV
//! errors, so a bad request is answered before the handler runs.
//! From this table come `hello-ok.features.methods` ([`method_names`]), the role and scope
//! check before every call ([`WsSession::dispatch`]) and
//! [`scopes::method_access`](crate::protocol::scopes::method_access). Methods that are not
//! in the table keep OpenClaw's access rule
//! ([`scopes::unimplemented_access`](crate::protocol::scopes::unimplemented_access), from
//! OpenClaw's own method table), so a caller without the scope is refused before it learns
//! the method is unknown, and one with it gets the `unknown method: <m>` the CLI falls back on.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Phase, ReadyState, WsSession};
use crate::protocol::error::ErrorShape;
use crate::protocol::frame::Request;
use crate::protocol::hello::Features;
use crate::protocol::role::Role;
use crate::protocol::scopes::{self, MethodAccess};
use crate::registry::nodes::{PairingOp, PairingRequest};

mod agent_params;
mod agents_files;
mod agents_workspace;
mod apps;
mod args;
mod artifacts;
mod audit;
mod channels;
mod chat;
mod config;
mod cron;
mod devices;
mod diagnostics;
mod exec_approvals;
mod health;
mod logs;
mod node_params;
mod nodes;
mod pending;
mod resolve;
mod restart;
mod session_send;
mod sessions;
mod skills;
mod speech;
mod system;
mod tasks;
mod tools;
mod usage;

pub use nodes::MAX_HOST_STATS_BYTES;
pub use restart::DEFAULT_WAIT_MS as RESTART_WAIT_MS;
pub use speech::parse_talk_mode;
pub use system::parse_system_event;

/// A handler: answers `call` on the session (now, or later from a spawned future).
pub(crate) type Handler = fn(&mut WsSession, Call, &mut Context<WsSession>);

/// One RPC method: its wire name, who may call it, and its handler.
pub(crate) struct Method {
    /// The method name on the wire.
    pub name: &'static str,
    /// Role and scope required (checked before the handler runs).
    pub access: MethodAccess,
    /// Parses the params and answers.
    pub handler: Handler,
}

/// A request that passed the access check, as handed to its handler.
pub(crate) struct Call {
    /// The request id, echoed in the response.
    pub id: String,
    /// The method name (the table's, so `'static`).
    pub method: &'static str,
    /// The params (`Value::Null` when absent).
    pub params: Value,
    /// The caller's granted scopes.
    pub scopes: Vec<String>,
    /// The caller's node id (node role only).
    pub node_id: Option<String>,
    /// The device whose own credential authenticated the caller (see
    /// [`PairingRequest::caller_device`]).
    pub caller_device: Option<String>,
}

/// A method's typed params: parsed and validated (errors worded like OpenClaw's AJV
/// validator, which the integration tests compare on the wire) before its handler runs.
pub(crate) trait Params: Sized {
    /// Parses `call.params` (the caller's scopes and node id are there too).
    fn parse(call: &Call) -> Result<Self, ErrorShape>;

    /// As [`parse`](Self::parse), but free to move what it keeps out of `call.params`
    /// instead of copying it (a node's answer can be megabytes). What the dispatcher calls.
    fn take(call: &mut Call) -> Result<Self, ErrorShape> {
        Self::parse(call)
    }
}

/// The areas, in the order `hello-ok.features.methods` lists them.
const AREAS: &[&[Method]] = &[
    health::METHODS,
    nodes::METHODS,
    devices::METHODS,
    chat::METHODS,
    channels::METHODS,
    sessions::METHODS,
    session_send::METHODS,
    tools::METHODS,
    tasks::METHODS,
    agents_files::METHODS,
    agents_workspace::METHODS,
    pending::METHODS,
    config::METHODS,
    cron::METHODS,
    logs::METHODS,
    skills::METHODS,
    usage::METHODS,
    diagnostics::METHODS,
    resolve::METHODS,
    exec_approvals::METHODS,
    apps::METHODS,
    speech::METHODS,
    system::METHODS,
    restart::METHODS,
    audit::METHODS,
    artifacts::METHODS,
];

static INDEX: LazyLock<HashMap<&'static str, &'static Method>> = LazyLock::new(|| {
    AREAS
        .iter()
        .flat_map(|area| area.iter())
        .map(|m| (m.name, m))
        .collect()
});

static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    AREAS
        .iter()
        .flat_map(|area| area.iter())
        .map(|m| m.name)
        .collect()
});

/// The method `name`, if this gateway implements it.
pub(crate) fn lookup(name: &str) -> Option<&'static Method> {
    INDEX.get(name).copied()
}

/// The methods this gateway implements (advertised in `hello-ok.features.methods`).
pub fn method_names() -> &'static [&'static str] {
    &NAMES
}

/// `hello-ok.features.capabilities`: the server contracts of OpenClaw's
/// `GATEWAY_SERVER_CAPS` this gateway keeps.
///
/// - `published-model-catalog`: `models.list` takes OpenClaw's params (`view`, `provider`,
///   `agentId`, `includeDetails`, …) and every row says whether the model is `available`
///   (a client shows the rows as they are instead of stripping `available`).
/// - `gateway-restart-target-safe-v1`: `gateway.restart.request` takes `{safe: true,
///   target}` (the real CLI's `openclaw gateway restart --safe` asks for it).
pub const CAPABILITIES: &[&str] = &["published-model-catalog", "gateway-restart-target-safe-v1"];

static FEATURES: LazyLock<Box<RawValue>> = LazyLock::new(|| {
    Features {
        events: super::EVENTS,
        methods: method_names(),
        capabilities: CAPABILITIES,
    }
    .to_json()
});

/// `hello-ok.features` (the events and [`method_names`]) as JSON text, written once.
pub(super) fn features_json() -> &'static RawValue {
    &FEATURES
}

/// The access rule of an implemented method (`None`: not in the table).
pub fn method_access(name: &str) -> Option<MethodAccess> {
    lookup(name).map(|m| m.access)
}

/// Who may call `name`: the table's rule for an implemented method, OpenClaw's otherwise.
pub(super) fn access_of(name: &str) -> MethodAccess {
    lookup(name).map_or_else(|| scopes::unimplemented_access(name), |m| m.access)
}

/// A registry error that becomes a wire error (each says which code).
pub(crate) trait WireError {
    /// The wire error.
    fn to_shape(&self) -> ErrorShape;
}

macro_rules! wire_errors {
    ($($t:ty),*) => {$(
        impl WireError for $t {
            fn to_shape(&self) -> ErrorShape {
                <$t>::to_shape(self)
            }
        }
    )*};
}

impl WireError for ErrorShape {
    fn to_shape(&self) -> ErrorShape {
        self.clone()
    }
}

wire_errors!(
    crate::registry::beacons::SystemEventError,
    crate::registry::runs::HistoryError,
    crate::registry::pairing_ops::PairingError,
    crate::registry::nodes::NodeError,
    crate::registry::channels::RouteError
);

/// The gateway is shutting down (the registry is gone).
pub(crate) fn gone() -> ErrorShape {
    ErrorShape::unavailable("gateway is shutting down")
}

/// Why an authenticated session may not call a method with `access` (role, then scope).
pub(super) fn access_denied(
    state: &ReadyState,
    method: &str,
    access: MethodAccess,
) -> Option<ErrorShape> {
    match access {
        MethodAccess::Open => None,
        MethodAccess::Node if state.role != Role::Node => Some(ErrorShape::invalid(format!(
            "unauthorized role: {}",
            state.role
        ))),
        MethodAccess::Node => None,
        MethodAccess::Operator(_) if state.role != Role::Operator => Some(ErrorShape::invalid(
            format!("unauthorized role: {}", state.role),
        )),
        MethodAccess::Operator(scope) if !scopes::authorized(&state.scopes, method, scope) => {
            Some(ErrorShape::missing_scope(scope))
        }
        MethodAccess::Operator(_) => None,
    }
}

impl WsSession {
    /// Checks role and scope, then hands the request to its method's handler.
    pub(super) fn dispatch(&mut self, req: Request, ctx: &mut Context<Self>) {
        let Phase::Ready(state) = &self.phase else {
            return;
        };
        let method = lookup(&req.method);
        let access = method.map_or_else(|| scopes::unimplemented_access(&req.method), |m| m.access);
        if let Some(err) = access_denied(state, &req.method, access) {
            return self.respond_err(&req.id, &err, ctx);
        }
        let Some(method) = method else {
            let err = if req.method == "connect" {
                ErrorShape::invalid("connect is only valid as the first request")
            } else {
                // Which OpenClaw methods clients reach for (the CLI falls back on some);
                // the name is the client's: quoted, and cut at 80 characters.
                log::debug!(
                    "unknown method {:?} from conn {}",
                    req.method.chars().take(80).collect::<String>(),
                    self.conn_id
                );
                ErrorShape::unknown_method(&req.method)
            };
            return self.respond_err(&req.id, &err, ctx);
        };
        let call = Call {
            id: req.id,
            method: method.name,
            params: req.params,
            scopes: state.scopes.clone(),
            node_id: state.node_id.clone(),
            caller_device: state.credential_device.clone(),
        };
        (method.handler)(self, call, ctx);
    }

    /// Parses the typed params `P` of `call` and runs `handler`, or answers the params
    /// error. An entry with typed params reads
    /// `handler: |s, call, ctx| s.with_params(call, ctx, WsSession::chat_history)`.
    pub(crate) fn with_params<P: Params>(
        &mut self,
        mut call: Call,
        ctx: &mut Context<Self>,
        handler: fn(&mut Self, Call, P, &mut Context<Self>),
    ) {
        match P::take(&mut call) {
            Ok(params) => handler(self, call, params, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// Replies to `id` when `fut` resolves with `Ok(payload)` / `Err(error)`.
    pub(crate) fn reply_with<F, T>(&mut self, id: String, fut: F, ctx: &mut Context<Self>)
    where
        F: std::future::Future<Output = Result<T, ErrorShape>> + 'static,
        T: serde::Serialize + 'static,
    {
        fut.into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(v) => act.respond_ok(&id, &v, ctx),
                Err(e) => act.respond_err(&id, &e, ctx),
            })
            .spawn(ctx);
    }

    /// Sends `msg` to the registry and replies with its answer, its error as the wire
    /// error ([`WireError`]).
    pub(crate) fn reply_registry<M, T, E>(&mut self, id: String, msg: M, ctx: &mut Context<Self>)
    where
        M: Message<Result = Result<T, E>> + Send + 'static,
        crate::registry::Registry: actix::Handler<M>,
        T: serde::Serialize + Send + 'static,
        E: WireError + Send + 'static,
    {
        let fut = self.registry.send(msg);
        self.reply_with(
            id,
            async move { fut.await.map_err(|_| gone())?.map_err(|e| e.to_shape()) },
            ctx,
        );
    }

    /// Runs a pairing operation in the registry (`node.pair.*`, `device.*`) and replies
    /// once the change is persisted.
    pub(crate) fn reply_pairing(&mut self, call: Call, op: PairingOp, ctx: &mut Context<Self>) {
        let msg = PairingRequest {
            op,
            caller_scopes: call.scopes,
            caller_device: call.caller_device,
        };
        self.reply_registry(call.id, msg, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::scopes::{PAIRING, READ, WRITE};

    #[test]
    fn names_are_unique_and_indexed() {
        let names = method_names();
        assert_eq!(INDEX.len(), names.len(), "a method is declared twice");
        for name in names {
            assert_eq!(lookup(name).map(|m| m.name), Some(*name));
        }
        assert!(lookup("connect").is_none());
        assert!(lookup("no.such").is_none());
    }

    #[test]
    fn table_drives_access() {
        assert_eq!(method_access("health"), Some(MethodAccess::Open));
        assert_eq!(method_access("status"), Some(MethodAccess::Operator(READ)));
        assert_eq!(
            method_access("chat.send"),
            Some(MethodAccess::Operator(WRITE))
        );
        assert_eq!(
            method_access("device.token.rotate"),
            Some(MethodAccess::Operator(PAIRING))
        );
        assert_eq!(method_access("node.event"), Some(MethodAccess::Node));
        assert_eq!(
            method_access("config.get"),
            Some(MethodAccess::Operator(READ))
        );
        assert_eq!(method_access("wizard.start"), None);
        // The protocol-level rule agrees with the table for every implemented method.
        for name in method_names() {
            assert_eq!(Some(scopes::method_access(name)), method_access(name));
        }
    }

    fn ready(role: Role, scopes: &[&str]) -> ReadyState {
        ReadyState {
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            node_id: None,
            device_id: None,
            credential_device: None,
        }
    }

    #[test]
    fn access_checks_role_then_scope() {
        let read = ready(Role::Operator, &[READ]);
        let node = ready(Role::Node, &[]);
        assert!(access_denied(&read, "m", MethodAccess::Open).is_none());
        assert!(access_denied(&node, "m", MethodAccess::Open).is_none());
        assert!(access_denied(&read, "m", MethodAccess::Operator(READ)).is_none());
        let e = access_denied(&read, "m", MethodAccess::Operator(WRITE)).map(|e| e.message);
        assert_eq!(e.as_deref(), Some("missing scope: operator.write"));
        let e = access_denied(&node, "m", MethodAccess::Operator(READ)).map(|e| e.message);
        assert_eq!(e.as_deref(), Some("unauthorized role: node"));
        let e = access_denied(&read, "m", MethodAccess::Node).map(|e| e.message);
        assert_eq!(e.as_deref(), Some("unauthorized role: operator"));
        assert!(access_denied(&node, "m", MethodAccess::Node).is_none());
    }
}
