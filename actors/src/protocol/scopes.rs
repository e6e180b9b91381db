//! Roles, operator scopes, method access and broadcast scoping (`authorizeGatewayMethod`
//! and `EVENT_SCOPE_GUARDS` in OpenClaw).
//!
//! The access rule of every method this gateway implements is declared with the method, in
//! the method table (`ws_session/methods/`). The methods it does *not* implement get
//! OpenClaw's rule from OpenClaw's own method table ([`METHODS`], generated from the
//! reference package by `scripts/gen-method-scopes.mjs`): a caller without the scope is
//! refused as OpenClaw would refuse it, and one with it is told the method is unknown, the
//! answer the CLI's fallbacks look for.

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

pub use super::openclaw_methods::{METHODS, Required, SESSION_READ_METHODS, SESSION_WRITE_METHODS};

/// The access rule for `method`: the method table's entry when this gateway implements
/// it, else [`unimplemented_access`].
pub fn method_access(method: &str) -> MethodAccess {
    crate::ws_session::method_access(method).unwrap_or_else(|| unimplemented_access(method))
}

/// The methods of this gateway that OpenClaw's table does not have, and who may call them:
/// `controlUi.handoff` (what `openclaw dashboard` asks for; OpenClaw's CLI mints that
/// token in its own state database instead).
pub const OWN_METHODS: &[(&str, MethodAccess)] =
    &[("controlUi.handoff", MethodAccess::Operator(ADMIN))];

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

/// Whether `granted` lets an operator call `method`, whose rule requires `required`
/// (`authorizeOperatorScopesForRequiredScope`): [`satisfied`], or, for OpenClaw's session
/// methods, the matching `operator.sessions.*` scope in place of `operator.read` (reads)
/// or `operator.write` (writes; `operator.questions` for `question.*`).
pub fn authorized(granted: &[String], method: &str, required: &str) -> bool {
    if satisfied(granted, required) {
        return true;
    }
    let session_scope = if SESSION_READ_METHODS.contains(&method) {
        "operator.sessions.read"
    } else if SESSION_WRITE_METHODS.contains(&method) {
        "operator.sessions.write"
    } else {
        return false;
    };
    let substitutes = match session_scope {
        "operator.sessions.read" => required == READ,
        _ => {
            required == WRITE
                || (required == "operator.questions" && method.starts_with("question."))
        }
    };
    substitutes && satisfied(granted, session_scope)
}

/// OpenClaw's rule for `method`, from its method table ([`METHODS`]).
pub fn openclaw_rule(method: &str) -> Option<Required> {
    METHODS
        .binary_search_by(|(name, _)| (*name).cmp(method))
        .ok()
        .and_then(|i| METHODS.get(i))
        .map(|(_, rule)| *rule)
}

/// OpenClaw's access rule for a method this gateway does not implement, so that a caller
/// holding the scope OpenClaw asks for is told the method is unknown (the answer the CLI
/// falls back on, e.g. `skills list` on `unknown method: skills.status`) and one without
/// it is refused as OpenClaw would refuse it.
///
/// A method in OpenClaw's table gets its scope there. The few whose scope OpenClaw's handler
/// picks from the parameters get the least any call of theirs needs
/// (`resolveDynamicLeastPrivilegeOperatorScopesForMethod` with no parameters). Any other
/// method (a plugin's, a typo) is admin-only, as in OpenClaw.
pub fn unimplemented_access(method: &str) -> MethodAccess {
    match openclaw_rule(method) {
        Some(Required::Node) => MethodAccess::Node,
        Some(Required::Scope(scope)) => MethodAccess::Operator(scope),
        Some(Required::Dynamic) => MethodAccess::Operator(match method {
            "talk.config" | "environments.list" => READ,
            "channels.pairing.approve" => PAIRING,
            "sessions.delete" => ADMIN,
            _ => WRITE,
        }),
        // Not in the table: OpenClaw's reserved prefixes (`config.`, `exec.approvals.`,
        // `wizard.`, `update.`) and everything else are admin-only.
        None => MethodAccess::Operator(ADMIN),
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
        "agent"
        | "chat"
        | "presence"
        | "sessions.changed"
        | "cron"
        | "config.changed"
        | "node.presence"
        | "node.hostStats"
        | "talk.event"
        | "voicewake.changed"
        | "voicewake.routing.changed" => EventGuard::Operator(READ),
        "talk.mode" | "talk.voice.change" => EventGuard::Operator("operator.talk"),
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
    use super::*;

    /// Every method this gateway implements asks for what OpenClaw's table asks for: the
    /// same scope, the node role, or (for the methods whose handler decides from the call)
    /// the least any call needs. `health` is the one exception OpenClaw makes itself: it is
    /// in the table as `operator.read` but exempt from every scope check.
    #[test]
    fn implemented_methods_agree_with_openclaw_table() {
        for name in crate::ws_session::method_names() {
            let ours = method_access(name);
            let expected = match openclaw_rule(name) {
                _ if *name == "health" => MethodAccess::Open,
                None if let Some((_, access)) = OWN_METHODS.iter().find(|(m, _)| m == name) => {
                    *access
                }
                Some(Required::Scope(scope)) => MethodAccess::Operator(scope),
                Some(Required::Node) => MethodAccess::Node,
                Some(Required::Dynamic) => unimplemented_access(name),
                None => panic!("{name} is not in OpenClaw's method table"),
            };
            assert_eq!(ours, expected, "{name}");
        }
    }

    #[test]
    fn openclaw_table_is_sorted_and_complete() {
        assert!(METHODS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(METHODS.len(), 482);
        for (name, _) in METHODS {
            assert!(openclaw_rule(name).is_some(), "{name}");
        }
        for name in SESSION_READ_METHODS.iter().chain(SESSION_WRITE_METHODS) {
            assert!(openclaw_rule(name).is_some(), "{name}");
        }
    }

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
    fn session_scopes_stand_in_for_read_and_write_on_session_methods() {
        let sr = s(&["operator.sessions.read"]);
        let sw = s(&["operator.sessions.write"]);
        assert!(authorized(&sr, "sessions.list", READ));
        assert!(authorized(&sr, "chat.history", READ));
        assert!(!authorized(&sr, "status", READ));
        assert!(!authorized(&sr, "chat.send", WRITE));
        assert!(authorized(&sw, "chat.send", WRITE));
        assert!(authorized(&sw, "sessions.list", READ));
        assert!(!authorized(&sw, "node.invoke", WRITE));
        assert!(!authorized(&sw, "sessions.delete", ADMIN));
        assert!(authorized(&sw, "question.get", "operator.questions"));
        assert!(!authorized(&s(&[]), "sessions.list", READ));
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
            method_access("config.nosuch"),
            MethodAccess::Operator(ADMIN)
        );
        for (method, access) in [
            ("config.get", MethodAccess::Operator(READ)),
            ("config.schema", MethodAccess::Operator(READ)),
            ("cron.list", MethodAccess::Operator(READ)),
            ("cron.add", MethodAccess::Operator(ADMIN)),
            ("skills.status", MethodAccess::Operator(READ)),
            ("sessions.resolve", MethodAccess::Operator(READ)),
            ("wake", MethodAccess::Operator(WRITE)),
            ("talk.config", MethodAccess::Operator(READ)),
            ("sessions.delete", MethodAccess::Operator(ADMIN)),
            ("fs.listDir", MethodAccess::Operator(WRITE)),
            ("node.rename", MethodAccess::Operator(PAIRING)),
            ("node.pending.pull", MethodAccess::Node),
        ] {
            assert_eq!(unimplemented_access(method), access, "{method}");
        }
        assert_eq!(event_guard("presence"), EventGuard::Operator(READ));
        assert_eq!(event_guard("tick"), EventGuard::Everyone);
        assert_eq!(event_guard("zzz"), EventGuard::Nobody);
        // OpenClaw's `EVENT_SCOPE_GUARDS`: Talk state goes to the Talk scope (which
        // operator.write grants), not to every reader.
        let talk = event_guard("talk.mode");
        assert_eq!(talk, EventGuard::Operator("operator.talk"));
        assert!(talk.admits(crate::protocol::role::Role::Operator, &[WRITE.to_owned()]));
        assert!(!talk.admits(crate::protocol::role::Role::Operator, &[READ.to_owned()]));
        assert!(!talk.admits(crate::protocol::role::Role::Node, &[WRITE.to_owned()]));
    }
}
