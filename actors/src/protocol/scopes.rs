//! Roles, operator scopes, method access and broadcast scoping (`authorizeGatewayMethod`
//! and `EVENT_SCOPE_GUARDS` in OpenClaw).
//!
//! The access rule of every method this gateway implements is declared with the method, in
//! the method table (`ws_session/methods/`). The lists here are OpenClaw's rules for the
//! methods it does *not* implement, so that a caller without the scope is refused (rather
//! than told the method is unknown) and the CLI picks the same scopes OpenClaw's would.

/// Full administrative access; satisfies every scope.
pub const ADMIN: &str = "operator.admin";
/// Read access.
pub const READ: &str = "operator.read";
/// Write access; satisfies read, talk and the sessions scopes.
pub const WRITE: &str = "operator.write";
/// Pairing management.
pub const PAIRING: &str = "operator.pairing";
/// Approvals.
pub const APPROVALS: &str = "operator.approvals";

/// The closed set of operator scopes.
pub const OPERATOR_SCOPES: &[&str] = &[
    ADMIN,
    READ,
    WRITE,
    "operator.sessions.read",
    "operator.sessions.write",
    APPROVALS,
    "operator.questions",
    PAIRING,
    "operator.talk",
    "operator.talk.secrets",
];

/// Whether the granted scopes satisfy `required` (`operatorScopeSatisfied`).
pub fn satisfied(granted: &[String], required: &str) -> bool {
    granted.iter().any(|g| {
        let g = g.as_str();
        g == ADMIN
            || g == required
            || (g == WRITE
                && matches!(
                    required,
                    READ | "operator.talk" | "operator.sessions.read" | "operator.sessions.write"
                ))
            || (g == READ && required == "operator.sessions.read")
            || (g == "operator.sessions.write" && required == "operator.sessions.read")
    })
}

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodAccess {
    /// No scope needed, any role (`health`).
    Open,
    /// Node role only.
    Node,
    /// Operator role with this scope.
    Operator(&'static str),
}

/// Node-only methods not implemented here (scope `"node"` in OpenClaw's table).
const NODE_METHODS: &[&str] = &[
    "node.pending.pull",
    "node.pending.ack",
    "node.pending.drain",
    "node.pluginSurface.refresh",
];

/// Methods not implemented here gated by `operator.read`.
const READ_METHODS: &[&str] = &[
    "last-heartbeat",
    "logs.tail",
    "config.get",
    "agent.identity.get",
    "gateway.identity.get",
    "system.info",
    "users.self",
    "models.list",
];

/// Methods not implemented here gated by `operator.write`.
const WRITE_METHODS: &[&str] = &["wake", "poll", "node.pending.enqueue"];

/// Methods not implemented here gated by `operator.pairing`.
const PAIRING_METHODS: &[&str] = &["node.rename", "device.pair.rename"];

/// The access rule for `method`: the method table's entry when this gateway implements
/// it, else [`unimplemented_access`].
pub fn method_access(method: &str) -> MethodAccess {
    crate::ws_session::method_access(method).unwrap_or_else(|| unimplemented_access(method))
}

/// OpenClaw's access rule for a method this gateway does not implement. Unknown methods and
/// the reserved prefixes are admin-only.
pub fn unimplemented_access(method: &str) -> MethodAccess {
    if NODE_METHODS.contains(&method) {
        return MethodAccess::Node;
    }
    for prefix in ["config.", "exec.approvals.", "wizard.", "update."] {
        if method.starts_with(prefix) && method != "config.get" {
            return MethodAccess::Operator(ADMIN);
        }
    }
    if READ_METHODS.contains(&method) {
        MethodAccess::Operator(READ)
    } else if WRITE_METHODS.contains(&method) {
        MethodAccess::Operator(WRITE)
    } else if PAIRING_METHODS.contains(&method) {
        MethodAccess::Operator(PAIRING)
    } else {
        MethodAccess::Operator(ADMIN)
    }
}

/// Who receives a broadcast event (`EVENT_SCOPE_GUARDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventGuard {
    /// Every connection, nodes included (`tick`, `health`, `shutdown`, …).
    Everyone,
    /// Operators holding this scope.
    Operator(&'static str),
    /// Not delivered (events missing from the table fail closed).
    Nobody,
}

impl EventGuard {
    /// Whether a session of `role` holding `scopes` receives the event.
    pub fn admits(self, role: crate::protocol::role::Role, scopes: &[String]) -> bool {
        match self {
            EventGuard::Everyone => true,
            EventGuard::Operator(scope) => {
                role == crate::protocol::role::Role::Operator && satisfied(scopes, scope)
            }
            EventGuard::Nobody => false,
        }
    }
}

/// The guard for a broadcast event name.
pub fn event_guard(event: &str) -> EventGuard {
    match event {
        "tick" | "health" | "heartbeat" | "shutdown" | "update.available"
        | "gateway.suspension" => EventGuard::Everyone,
        "agent" | "chat" | "presence" | "sessions.changed" | "cron" | "config.changed"
        | "node.presence" | "node.hostStats" | "talk.event" => EventGuard::Operator(READ),
        e if e.starts_with("session.") => EventGuard::Operator(READ),
        e if e.starts_with("device.pair.") || e.starts_with("node.pair.") => {
            EventGuard::Operator(PAIRING)
        }
        e if e.starts_with("exec.approval.") || e.starts_with("plugin.approval.") => {
            EventGuard::Operator(APPROVALS)
        }
        e if e.starts_with("terminal.") || e == "plugins.install.progress" => {
            EventGuard::Operator(ADMIN)
        }
        e if e.starts_with("plugin.") => EventGuard::Operator(WRITE),
        _ => EventGuard::Nobody,
    }
}

#[cfg(test)]
mod tests {
    /// A method implemented later may still be listed here; its table entry must then
    /// grant what OpenClaw grants.
    #[test]
    fn table_agrees_with_openclaw_rules() {
        for name in crate::ws_session::method_names() {
            let listed = [NODE_METHODS, READ_METHODS, WRITE_METHODS, PAIRING_METHODS]
                .iter()
                .any(|list| list.contains(name));
            if listed {
                assert_eq!(method_access(name), unimplemented_access(name), "{name}");
            }
        }
    }

    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn implications() {
        assert!(satisfied(&s(&[ADMIN]), PAIRING));
        assert!(satisfied(&s(&[WRITE]), READ));
        assert!(!satisfied(&s(&[READ]), WRITE));
        assert!(satisfied(&s(&[READ]), "operator.sessions.read"));
        assert!(!satisfied(&s(&[]), READ));
    }

    #[test]
    fn table() {
        assert_eq!(method_access("health"), MethodAccess::Open);
        assert_eq!(method_access("status"), MethodAccess::Operator(READ));
        assert_eq!(method_access("node.invoke"), MethodAccess::Operator(WRITE));
        assert_eq!(method_access("node.event"), MethodAccess::Node);
        assert_eq!(method_access("config.set"), MethodAccess::Operator(ADMIN));
        assert_eq!(method_access("no.such"), MethodAccess::Operator(ADMIN));
        assert_eq!(
            unimplemented_access("config.get"),
            MethodAccess::Operator(READ)
        );
        assert_eq!(unimplemented_access("wake"), MethodAccess::Operator(WRITE));
        assert_eq!(
            unimplemented_access("node.rename"),
            MethodAccess::Operator(PAIRING)
        );
        assert_eq!(
            unimplemented_access("node.pending.pull"),
            MethodAccess::Node
        );
        assert_eq!(event_guard("presence"), EventGuard::Operator(READ));
        assert_eq!(event_guard("tick"), EventGuard::Everyone);
        assert_eq!(event_guard("zzz"), EventGuard::Nobody);
    }
}
