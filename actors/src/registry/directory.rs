//! The node directory the [`Registry`](super::Registry) owns: the connected nodes by node
//! id, when each node was last seen connecting and leaving, and the finished invoke
//! outcomes a stopped node session handed over for the node's next session. A plain
//! struct; `E` is a connected node's entry (the registry's `NodeEntry`, a plain value in
//! tests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::node_session::KeptOutcome;

/// How long outcomes handed over by a stopped node session are kept for its reconnect.
pub const KEPT_OUTCOMES_TTL: Duration = Duration::from_secs(300);
/// Nodes whose outcomes are kept at most.
pub const KEPT_OUTCOMES_NODES: usize = 256;
/// Bytes of answers kept for all disconnected nodes together (each node's own cache holds
/// at most `dedupe::DEDUPE_MAX_BYTES`).
pub const KEPT_OUTCOMES_MAX_BYTES: usize = 64 * 1024 * 1024;

/// What the directory needs of a node entry.
pub trait NodeConn {
    /// Connection id of the node's socket.
    fn conn_id(&self) -> &str;
}

/// Connect/disconnect times of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeSeen {
    /// Last connect (ms).
    pub last_connected_at_ms: u64,
    /// Last disconnect (ms), if it left since.
    pub last_disconnected_at_ms: Option<u64>,
}

/// Where a handed-over set of outcomes went.
#[derive(Debug, PartialEq)]
pub enum Kept {
    /// Kept for the node's next session.
    Stored,
    /// The node is attached again already: seed its session with these.
    SeedNow(Vec<KeptOutcome>),
    /// Too many nodes, or too many bytes of answers, are kept already: dropped.
    Full,
}

/// The directory.
pub struct NodeDirectory<E> {
    nodes: HashMap<String, E>,
    seen: HashMap<String, NodeSeen>,
    /// Outcomes by node, with when they were handed over and their bytes.
    kept: HashMap<String, (Instant, Vec<KeptOutcome>, usize)>,
}

impl<E> Default for NodeDirectory<E> {
    fn default() -> Self {
        Self {
            nodes: HashMap::new(),
            seen: HashMap::new(),
            kept: HashMap::new(),
        }
    }
}

impl<E: NodeConn> NodeDirectory<E> {
    /// A node attached at `now`: returns the entry it replaces (its old socket, to stop and
    /// close) and the outcomes kept for it (those younger than [`KEPT_OUTCOMES_TTL`]).
    pub fn attach(&mut self, node_id: &str, entry: E, now: u64) -> (Option<E>, Vec<KeptOutcome>) {
        let old = self.nodes.insert(node_id.to_owned(), entry);
        let seed = self
            .kept
            .remove(node_id)
            .filter(|(at, _, _)| at.elapsed() < KEPT_OUTCOMES_TTL)
            .map(|(_, v, _)| v)
            .unwrap_or_default();
        self.seen
            .entry(node_id.to_owned())
            .or_default()
            .last_connected_at_ms = now;
        (old, seed)
    }

    /// The socket `conn_id` closed: removes the node it carried, if any, at `now`.
    pub fn detach_conn(&mut self, conn_id: &str, now: u64) -> Option<(String, E)> {
        let node_id = self
            .nodes
            .iter()
            .find(|(_, n)| n.conn_id() == conn_id)
            .map(|(id, _)| id.clone())?;
        let entry = self.nodes.remove(&node_id)?;
        self.seen
            .entry(node_id.clone())
            .or_default()
            .last_disconnected_at_ms = Some(now);
        Some((node_id, entry))
    }

    /// Outcomes a stopped session of `node_id` handed over.
    pub fn keep(&mut self, node_id: String, entries: Vec<KeptOutcome>) -> Kept {
        self.kept
            .retain(|_, (at, _, _)| at.elapsed() < KEPT_OUTCOMES_TTL);
        if self.kept.len() >= KEPT_OUTCOMES_NODES {
            return Kept::Full;
        }
        let bytes: usize = entries
            .iter()
            .map(|(k, _, o, _)| k.len() + crate::node_session::dedupe::outcome_bytes(o))
            .sum();
        let held: usize = self.kept.values().map(|(_, _, b)| b).sum();
        if held + bytes > KEPT_OUTCOMES_MAX_BYTES {
            return Kept::Full;
        }
        // A reconnect may already have attached the new session.
        if self.nodes.contains_key(&node_id) {
            return Kept::SeedNow(entries);
        }
        self.kept.insert(node_id, (Instant::now(), entries, bytes));
        Kept::Stored
    }

    /// The connected node `node_id`.
    pub fn get(&self, node_id: &str) -> Option<&E> {
        self.nodes.get(node_id)
    }

    /// The connected node `node_id`, to update.
    pub fn get_mut(&mut self, node_id: &str) -> Option<&mut E> {
        self.nodes.get_mut(node_id)
    }

    /// Ids of the connected nodes.
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.nodes.keys()
    }

    /// When `node_id` was last seen connecting and leaving.
    pub fn seen(&self, node_id: &str) -> Option<&NodeSeen> {
        self.seen.get(node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Conn(&'static str);

    impl NodeConn for Conn {
        fn conn_id(&self) -> &str {
            self.0
        }
    }

    fn outcome(key: &str) -> KeptOutcome {
        let reply = crate::node_session::InvokeReply::new("n1", "x", Some("{}".into()), None);
        (key.to_owned(), [0; 32], Ok(reply), *EPOCH)
    }

    /// One instant for every test outcome (they compare equal only with the same one).
    static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

    #[test]
    fn attach_replaces_a_previous_socket_and_detach_records_the_times() {
        let mut d = NodeDirectory::default();
        assert_eq!(d.attach("n1", Conn("c1"), 10), (None, Vec::new()));
        assert_eq!(d.seen("n1").map(|s| s.last_connected_at_ms), Some(10));
        // A reconnect replaces the old socket; the old socket's close is then a no-op.
        let (old, _) = d.attach("n1", Conn("c2"), 20);
        assert_eq!(old, Some(Conn("c1")));
        assert_eq!(d.detach_conn("c1", 25), None);
        assert_eq!(d.get("n1"), Some(&Conn("c2")));
        assert_eq!(d.detach_conn("c2", 30), Some(("n1".to_owned(), Conn("c2"))));
        assert_eq!(
            d.seen("n1"),
            Some(&NodeSeen {
                last_connected_at_ms: 20,
                last_disconnected_at_ms: Some(30)
            })
        );
        assert_eq!(d.ids().count(), 0);
    }

    #[test]
    fn outcomes_wait_for_the_next_session_or_seed_an_attached_one() {
        let mut d = NodeDirectory::default();
        assert_eq!(d.keep("n1".into(), vec![outcome("k1")]), Kept::Stored);
        let (_, seed) = d.attach("n1", Conn("c1"), 1);
        assert_eq!(seed, vec![outcome("k1")]);
        // Handed over once only.
        d.detach_conn("c1", 2);
        assert_eq!(d.attach("n1", Conn("c2"), 3).1, Vec::new());
        // The node is back already: the caller seeds its session directly.
        assert_eq!(
            d.keep("n1".into(), vec![outcome("k2")]),
            Kept::SeedNow(vec![outcome("k2")])
        );
    }

    #[test]
    fn kept_outcomes_are_bounded_by_node_count() {
        let mut d: NodeDirectory<Conn> = NodeDirectory::default();
        for i in 0..KEPT_OUTCOMES_NODES {
            assert_eq!(d.keep(format!("n{i}"), vec![outcome("k")]), Kept::Stored);
        }
        assert_eq!(d.keep("over".into(), vec![outcome("k")]), Kept::Full);
    }

    #[test]
    fn kept_outcomes_are_bounded_in_bytes_across_nodes() {
        let mut d: NodeDirectory<Conn> = NodeDirectory::default();
        // What one node's full cache holds: 15 answers of 1 MiB (see `dedupe`).
        let cache = |n: usize| -> Vec<KeptOutcome> {
            (0..15)
                .map(|i| {
                    let text = format!("\"{}\"", "A".repeat((1 << 20) - 2));
                    let reply = crate::node_session::InvokeReply::new(
                        &format!("n{n}"),
                        "x",
                        Some(text),
                        None,
                    );
                    (format!("k{i}"), [0; 32], Ok(reply), *EPOCH)
                })
                .collect()
        };
        for n in 0..4 {
            assert_eq!(d.keep(format!("n{n}"), cache(n)), Kept::Stored, "node {n}");
        }
        // 4 × 15 MiB kept; a fifth full cache would pass 64 MiB.
        assert_eq!(d.keep("n4".into(), cache(4)), Kept::Full);
        // Small ones still fit, and a node that reattaches frees its share.
        assert_eq!(d.keep("small".into(), vec![outcome("k")]), Kept::Stored);
        assert_eq!(d.attach("n0", Conn("c0"), 1).1.len(), 15);
        assert_eq!(d.keep("n4".into(), cache(4)), Kept::Stored);
    }
}
