//! What a restart of the gateway process would cut short (OpenClaw's
//! `createSafeGatewayRestartPreflight`): the agent runs in progress and queued, memory
//! flushes after a reply, and background `exec` commands on the gateway host. The
//! `gateway.restart.preflight` answer and the `gateway.restart.request` deferral (the shell
//! waits, bounded, until [`ActiveWork::total`] is zero) both read it.

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;

/// Work in progress, counted now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveWork {
    /// Agent runs in progress (chat, channel, cron, heartbeat, node runs).
    pub runs: usize,
    /// Runs waiting behind another run of their session.
    pub queued: usize,
    /// Memory flushes still running after a reply.
    pub flushes: usize,
    /// Background `exec` commands still running on the gateway host.
    pub background_exec: usize,
}

impl ActiveWork {
    /// Everything a restart would cut short.
    pub fn total(&self) -> usize {
        self.runs + self.queued + self.flushes + self.background_exec
    }

    /// OpenClaw's blockers (`{kind, count, message}`), in its order.
    fn blockers(&self) -> Vec<(&'static str, usize, String)> {
        let mut out = Vec::new();
        if self.queued > 0 {
            out.push((
                "queue",
                self.queued,
                format!("{} queued or active operation(s)", self.queued),
            ));
        }
        let embedded = self.runs + self.flushes;
        if embedded > 0 {
            out.push((
                "embedded-run",
                embedded,
                format!("{embedded} active embedded run(s)"),
            ));
        }
        if self.background_exec > 0 {
            out.push((
                "background-exec",
                self.background_exec,
                format!("{} active background exec session(s)", self.background_exec),
            ));
        }
        out
    }

    /// `restart deferred: …` or `safe to restart now` (OpenClaw's summary).
    pub fn summary(&self) -> String {
        let blockers = self.blockers();
        if blockers.is_empty() {
            "safe to restart now".to_owned()
        } else {
            let parts: Vec<&str> = blockers.iter().map(|(_, _, m)| m.as_str()).collect();
            format!("restart deferred: {}", parts.join("; "))
        }
    }

    /// OpenClaw's `SafeGatewayRestartPreflight`: `{safe, counts, blockers, summary}`. The
    /// counts OpenClaw has and this gateway does not track (reply deliveries are durable
    /// here, tasks and root requests do not exist) are zero.
    pub fn preflight(&self) -> Value {
        let embedded = self.runs + self.flushes;
        let blockers: Vec<Value> = self
            .blockers()
            .into_iter()
            .map(|(kind, count, message)| json!({"kind": kind, "count": count, "message": message}))
            .collect();
        json!({
            "safe": self.total() == 0,
            "counts": {
                "queueSize": self.queued,
                "pendingReplies": 0,
                "embeddedRuns": embedded,
                "cronRuns": 0,
                "backgroundExecSessions": self.background_exec,
                "rootRequests": 0,
                "activeTasks": 0,
                "totalActive": self.total(),
            },
            "blockers": blockers,
            "summary": self.summary(),
        })
    }
}

/// Asks for the [`ActiveWork`] now.
#[derive(Message)]
#[rtype(result = "ActiveWork")]
pub struct GetActiveWork;

impl Handler<GetActiveWork> for Registry {
    type Result = MessageResult<GetActiveWork>;

    fn handle(&mut self, _: GetActiveWork, _: &mut Self::Context) -> Self::Result {
        MessageResult(ActiveWork {
            runs: self.runs.active_count(),
            queued: self.runs.queued_count(),
            flushes: self.flushing.len(),
            background_exec: self.processes.running(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_gateway_is_safe_and_busy_work_is_named() {
        let idle = ActiveWork::default();
        let p = idle.preflight();
        assert_eq!(p["safe"], true);
        assert_eq!(p["summary"], "safe to restart now");
        assert_eq!(p["blockers"], json!([]));
        assert_eq!(p["counts"]["totalActive"], 0);

        let busy = ActiveWork {
            runs: 1,
            queued: 2,
            flushes: 1,
            background_exec: 3,
        };
        let p = busy.preflight();
        assert_eq!(p["safe"], false);
        assert_eq!(p["counts"]["totalActive"], 7);
        assert_eq!(p["counts"]["embeddedRuns"], 2);
        assert_eq!(
            p["summary"],
            "restart deferred: 2 queued or active operation(s); 2 active embedded run(s); 3 active background exec session(s)"
        );
        let kinds: Vec<&str> = p["blockers"]
            .as_array()
            .map(|a| a.iter().filter_map(|b| b["kind"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kinds, ["queue", "embedded-run", "background-exec"]);
    }
}
