//! Process-wide counters and histograms for `GET /api/diagnostics/prometheus`.
//!
//! Lock-free atomics with fixed, low-cardinality labels (roles, outcomes, reasons from a
//! closed list; never a user id, node id or message text). Call sites add one line
//! (`metrics::METRICS.node_invoke.observe(..)`); the shell renders the text format and
//! adds gauges it reads at scrape time (connections, nodes, RSS, open files).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A zero counter.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets (`+Inf` is implied).
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram with the fixed [`BUCKETS`].
#[derive(Debug)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative; `[BUCKETS.len()]` is the overflow bucket).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of observations in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    /// An empty histogram.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const fn new() -> Self {
        const Z: AtomicU64 = AtomicU64::new(0);
        Self {
            buckets: [Z; BUCKETS.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines of `name{labels}`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        cum += self.buckets[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cum}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cum}");
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a handshake failed (the label values of `openclaw_handshake_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// Wrong or missing shared secret / device token.
    Auth,
    /// Locked out by the failed-auth limiter.
    RateLimited,
    /// Protocol version or frame problems.
    Protocol,
    /// Browser origin not allowed.
    Origin,
    /// Device identity, proof or pairing.
    Device,
    /// No `connect` within the handshake deadline.
    Timeout,
    /// Anything else (busy, shutting down).
    Other,
}

impl HandshakeFailure {
    /// Every reason, in label order.
    pub const ALL: [Self; 7] = [
        Self::Auth,
        Self::RateLimited,
        Self::Protocol,
        Self::Origin,
        Self::Device,
        Self::Timeout,
        Self::Other,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Protocol => "protocol",
            Self::Origin => "origin",
            Self::Device => "device",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }

    /// Classifies a handshake error by its wire shape (details code / message).
    pub fn classify(err: &crate::protocol::error::ErrorShape) -> Self {
        let code = err
            .details
            .as_ref()
            .and_then(|d| d.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let m = err.message.as_str();
        if code.contains("RATE_LIMIT") || m.contains("rate limit") || m.contains("too many") {
            Self::RateLimited
        } else if code.starts_with("AUTH")
            || m.contains("unauthorized")
            || m.contains("token")
            || m.contains("password")
        {
            Self::Auth
        } else if code.contains("ORIGIN") {
            Self::Origin
        } else if code.starts_with("DEVICE") || m.contains("device") || m.contains("pairing") {
            Self::Device
        } else if code.contains("PROTOCOL") || m.contains("protocol") || m.contains("invalid") {
            Self::Protocol
        } else {
            Self::Other
        }
    }
}

/// Every counter and histogram of the engine.
#[derive(Debug)]
pub struct Metrics {
    /// Successful handshakes, by role (`[0]` operator, `[1]` node).
    pub handshakes_ok: [Counter; 2],
    /// Failed handshakes by [`HandshakeFailure`] (index = position in `ALL`).
    pub handshake_failures: [Counter; 7],
    /// `node.invoke` calls answered ok / with an error.
    pub node_invoke_ok: Counter,
    /// `node.invoke` calls that failed (error, timeout, node gone).
    pub node_invoke_error: Counter,
    /// `node.invoke` latency (request to answer).
    pub node_invoke_seconds: Histogram,
    /// Channel messages received (accepted inbound).
    pub channel_in: Counter,
    /// Channel messages sent (replies and `send`).
    pub channel_out: Counter,
    /// Channel errors (failed polls, failed deliveries).
    pub channel_errors: Counter,
    /// Agent runs finished ok.
    pub agent_runs_ok: Counter,
    /// Agent runs that failed or were aborted.
    pub agent_runs_error: Counter,
    /// Model call latency.
    pub model_seconds: Histogram,
    /// Model calls that failed.
    pub model_errors: Counter,
    /// Completions answered by a fallback model after the primary failed.
    pub model_fallbacks: Counter,
    /// Outbound frames dropped because a session's queue was full (slow consumer).
    pub outbound_drops: Counter,
    /// Sessions closed as slow consumers.
    pub outbound_closes: Counter,
    /// Cron job runs by outcome (`[0]` ok, `[1]` error).
    pub cron_runs: [Counter; 2],
    /// Heartbeats by outcome (`[0]` sent, `[1]` acknowledged or empty, `[2]` skipped,
    /// `[3]` failed).
    pub heartbeats: [Counter; 4],
    /// Media files by direction and outcome (see [`Metrics::media`]).
    pub media_files: [Counter; 6],
    /// Voice transcriptions by outcome (`[0]` ok, `[1]` failed, `[2]` skipped: off for the
    /// chat, too short, over the count).
    pub transcriptions: [Counter; 3],
}

/// Where a media file went ([`Metrics::media`]).
#[derive(Debug, Clone, Copy)]
pub enum MediaDirection {
    /// From a node's answer to the chat.
    Outbound = 0,
    /// From a chat (or an operator) to the agent.
    Inbound = 1,
}

/// What became of a media file ([`Metrics::media`]).
#[derive(Debug, Clone, Copy)]
pub enum MediaOutcome {
    /// Kept (and attached or shown).
    Kept = 0,
    /// Refused: not an image or video, not base64, too large, too many, not read yet.
    Refused = 1,
    /// Failed: could not be fetched or saved.
    Failed = 2,
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics {
    handshakes_ok: [Counter::new(), Counter::new()],
    handshake_failures: [
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
    ],
    node_invoke_ok: Counter::new(),
    node_invoke_error: Counter::new(),
    node_invoke_seconds: Histogram::new(),
    channel_in: Counter::new(),
    channel_out: Counter::new(),
    channel_errors: Counter::new(),
    agent_runs_ok: Counter::new(),
    agent_runs_error: Counter::new(),
    model_seconds: Histogram::new(),
    model_errors: Counter::new(),
    model_fallbacks: Counter::new(),
    outbound_drops: Counter::new(),
    outbound_closes: Counter::new(),
    cron_runs: [Counter::new(), Counter::new()],
    heartbeats: [
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
    ],
    media_files: [
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
    ],
    transcriptions: [Counter::new(), Counter::new(), Counter::new()],
};

impl Metrics {
    /// Counts one media file.
    pub fn media(&self, direction: MediaDirection, outcome: MediaOutcome) {
        self.media_files[direction as usize * 3 + outcome as usize].inc();
    }

    /// A handshake failed with `err`.
    pub fn handshake_failed(&self, err: &crate::protocol::error::ErrorShape) {
        self.handshake_failed_as(HandshakeFailure::classify(err));
    }

    /// A handshake failed for `why`.
    pub fn handshake_failed_as(&self, why: HandshakeFailure) {
        let i = HandshakeFailure::ALL
            .iter()
            .position(|w| *w == why)
            .unwrap_or(HandshakeFailure::ALL.len() - 1);
        self.handshake_failures[i].inc();
    }

    /// A handshake succeeded for `role`.
    pub fn handshake_ok(&self, role: crate::protocol::role::Role) {
        self.handshakes_ok[usize::from(role == crate::protocol::role::Role::Node)].inc();
    }

    /// A `node.invoke` finished after `took`.
    pub fn node_invoke(&self, ok: bool, took: Duration) {
        if ok {
            self.node_invoke_ok.inc();
        } else {
            self.node_invoke_error.inc();
        }
        self.node_invoke_seconds.observe(took);
    }

    /// Renders the engine's series in the Prometheus text format (0.0.4).
    pub fn render(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        };
        counter(
            out,
            "openclaw_handshakes_total",
            "Successful WebSocket handshakes by role.",
            &[
                ("role=\"operator\"", self.handshakes_ok[0].get()),
                ("role=\"node\"", self.handshakes_ok[1].get()),
            ],
        );
        let failures: Vec<(String, u64)> = HandshakeFailure::ALL
            .iter()
            .zip(&self.handshake_failures)
            .map(|(w, c)| (format!("reason=\"{}\"", w.label()), c.get()))
            .collect();
        let rows: Vec<(&str, u64)> = failures.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        counter(
            out,
            "openclaw_handshake_failures_total",
            "Failed WebSocket handshakes by reason.",
            &rows,
        );
        counter(
            out,
            "openclaw_node_invoke_total",
            "node.invoke calls by outcome.",
            &[
                ("outcome=\"ok\"", self.node_invoke_ok.get()),
                ("outcome=\"error\"", self.node_invoke_error.get()),
            ],
        );
        let _ = writeln!(
            out,
            "# HELP openclaw_node_invoke_duration_seconds node.invoke latency.\n# TYPE openclaw_node_invoke_duration_seconds histogram"
        );
        self.node_invoke_seconds
            .render(out, "openclaw_node_invoke_duration_seconds", "");
        counter(
            out,
            "openclaw_channel_messages_total",
            "Channel messages by direction.",
            &[
                ("direction=\"in\"", self.channel_in.get()),
                ("direction=\"out\"", self.channel_out.get()),
            ],
        );
        counter(
            out,
            "openclaw_channel_errors_total",
            "Channel poll and delivery errors.",
            &[("", self.channel_errors.get())],
        );
        counter(
            out,
            "openclaw_agent_runs_total",
            "Agent runs by outcome.",
            &[
                ("outcome=\"ok\"", self.agent_runs_ok.get()),
                ("outcome=\"error\"", self.agent_runs_error.get()),
            ],
        );
        counter(
            out,
            "openclaw_cron_runs_total",
            "Scheduled job runs by outcome.",
            &[
                ("outcome=\"ok\"", self.cron_runs[0].get()),
                ("outcome=\"error\"", self.cron_runs[1].get()),
            ],
        );
        counter(
            out,
            "openclaw_heartbeats_total",
            "Heartbeats by outcome.",
            &[
                ("outcome=\"sent\"", self.heartbeats[0].get()),
                ("outcome=\"ok\"", self.heartbeats[1].get()),
                ("outcome=\"skipped\"", self.heartbeats[2].get()),
                ("outcome=\"failed\"", self.heartbeats[3].get()),
            ],
        );
        let m = &self.media_files;
        counter(
            out,
            "openclaw_media_files_total",
            "Media files by direction (outbound: node answers to chats; inbound: from chats and operators to the agent) and outcome.",
            &[
                ("direction=\"outbound\",outcome=\"kept\"", m[0].get()),
                ("direction=\"outbound\",outcome=\"refused\"", m[1].get()),
                ("direction=\"outbound\",outcome=\"failed\"", m[2].get()),
                ("direction=\"inbound\",outcome=\"kept\"", m[3].get()),
                ("direction=\"inbound\",outcome=\"refused\"", m[4].get()),
                ("direction=\"inbound\",outcome=\"failed\"", m[5].get()),
            ],
        );
        let t = &self.transcriptions;
        counter(
            out,
            "openclaw_transcriptions_total",
            "Voice messages by transcription outcome (ok, failed: no entry produced a transcript, skipped: out of scope, too short or over the count).",
            &[
                ("outcome=\"ok\"", t[0].get()),
                ("outcome=\"failed\"", t[1].get()),
                ("outcome=\"skipped\"", t[2].get()),
            ],
        );
        counter(
            out,
            "openclaw_model_call_errors_total",
            "Model calls that failed.",
            &[("", self.model_errors.get())],
        );
        counter(
            out,
            "openclaw_model_fallbacks_total",
            "Completions answered by a fallback model (agents.defaults.model.fallbacks) after the primary failed.",
            &[("", self.model_fallbacks.get())],
        );
        let _ = writeln!(
            out,
            "# HELP openclaw_model_call_duration_seconds Model call latency.\n# TYPE openclaw_model_call_duration_seconds histogram"
        );
        self.model_seconds
            .render(out, "openclaw_model_call_duration_seconds", "");
        counter(
            out,
            "openclaw_outbound_queue_drops_total",
            "Outbound frames dropped because a client's queue was full.",
            &[("", self.outbound_drops.get())],
        );
        counter(
            out,
            "openclaw_outbound_queue_closes_total",
            "Connections closed as slow consumers.",
            &[("", self.outbound_closes.get())],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let mut s = String::new();
        h.render(&mut s, "x", "");
        assert!(s.contains("x_bucket{le=\"0.001\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.05\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"10\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
        assert_eq!(h.count(), 3);
    }
}
