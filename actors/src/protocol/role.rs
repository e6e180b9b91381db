//! The role a connection takes in `connect` (`operator` or `node`).

use serde::{Deserialize, Serialize};

/// The role of an authenticated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A client that operates the gateway (CLI, Control UI, apps): scoped RPCs.
    Operator,
    /// A node host offering commands (`node.invoke`).
    Node,
}

impl Role {
    /// The role named `s` on the wire, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Self::Operator),
            "node" => Some(Self::Node),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Node => "node",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_its_wire_name_and_refuses_others() {
        for r in [Role::Operator, Role::Node] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.to_string(), r.as_str());
        }
        for bad in ["", "Operator", "NODE", "admin", "operator ", "node\0"] {
            assert_eq!(Role::parse(bad), None, "{bad:?}");
        }
    }
}
