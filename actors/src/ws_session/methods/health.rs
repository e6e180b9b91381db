//! `health`, `status`, `system-presence` (OpenClaw's `server-methods/health.ts`,
//! `status.ts`, `system.ts`).

use actix::prelude::*;
use serde_json::{Value, json};

use super::{Call, Method, Params};
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ};
use crate::protocol::validate::optional_bool_params;
use crate::registry::channels::ChannelsStatus;
use crate::registry::{GetPresence, GetStats};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "health",
        access: MethodAccess::Open,
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::health),
    },
    Method {
        name: "status",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::status),
    },
    Method {
        name: "system-presence",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::system_presence),
    },
];

/// `health {probe?}`.
pub(crate) struct HealthParams;

impl Params for HealthParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        optional_bool_params("health", &call.params, &["probe"])
            .map(|()| Self)
            .map_err(ErrorShape::invalid)
    }
}

/// `status {includeChannelSummary?, includeCliProjection?}`.
pub(crate) struct StatusParams;

impl Params for StatusParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        optional_bool_params(
            "status",
            &call.params,
            &["includeChannelSummary", "includeCliProjection"],
        )
        .map(|()| Self)
        .map_err(ErrorShape::invalid)
    }
}

/// `system-presence {}`.
pub(crate) struct PresenceParams;

impl Params for PresenceParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        optional_bool_params("system-presence", &call.params, &[])
            .map(|()| Self)
            .map_err(ErrorShape::invalid)
    }
}

impl WsSession {
    /// `health {probe?}`: the gateway's health, with the channels' when any are configured.
    fn health(&mut self, call: Call, _: HealthParams, ctx: &mut Context<Self>) {
        // Nodes carry their node id; operators none.
        let audience =
            crate::protocol::health::HealthAudience::of(call.node_id.is_none(), &call.scopes);
        if self.shared.config.channel_accounts == 0 {
            let shared = self.shared.clone();
            let snapshot = shared.health_snapshot(audience);
            return self.respond_ok(&call.id, &shared.health_summary(&snapshot), ctx);
        }
        let fut = self.registry.send(ChannelsStatus);
        let shared = self.shared.clone();
        self.reply_with(
            call.id,
            async move {
                let mut health = shared.health(audience);
                if let Ok(ch) = fut.await {
                    health["channels"] = json!(ch.channels);
                    health["channelOrder"] = json!(ch.channel_order);
                    health["channelLabels"] = json!(ch.channel_labels);
                    let healthy = ch.channels.values().all(|c| c.running);
                    health["channelsHealthy"] = json!(healthy);
                }
                Ok(health)
            },
            ctx,
        );
    }

    /// `status {includeChannelSummary?, includeCliProjection?}`.
    fn status(&mut self, call: Call, _: StatusParams, ctx: &mut Context<Self>) {
        let is_admin = call.scopes.iter().any(|s| s == ADMIN);
        let id = call.id;
        let (stats, defaults) = (
            self.registry.send(GetStats),
            self.registry
                .send(crate::registry::runs::GetSessionDefaults),
        );
        async move { (stats.await, defaults.await) }
            .into_actor(self)
            .map(move |(stats, defaults), act, ctx| {
                let stats = stats.unwrap_or_default();
                let status = act.status_payload(stats, defaults.ok(), is_admin);
                act.respond_ok(&id, &status, ctx);
            })
            .spawn(ctx);
    }

    /// `system-presence {}`: the presence list.
    fn system_presence(&mut self, call: Call, _: PresenceParams, ctx: &mut Context<Self>) {
        let id = call.id;
        self.registry
            .send(GetPresence)
            .into_actor(self)
            .map(move |list, act, ctx| {
                act.respond_ok(&id, &list.unwrap_or_default(), ctx);
            })
            .spawn(ctx);
    }

    fn status_payload(
        &self,
        stats: crate::registry::Stats,
        defaults: Option<crate::registry::runs::SessionDefaults>,
        is_admin: bool,
    ) -> Value {
        let cfg = &self.shared.config;
        let live = self.shared.live.get();
        let mut gateway = json!({
            "version": cfg.server_version,
            "uptimeMs": self.shared.uptime_ms(),
            "port": live.port,
            "bind": cfg.bind_mode,
            "bindAddrs": live.bind_addrs,
            "authMode": live.auth.mode.as_str(),
            "connections": stats,
            "protocol": PROTOCOL_VERSION,
        });
        if is_admin {
            gateway["stateDir"] = json!(cfg.state_dir.display().to_string());
            if let Some(p) = &cfg.config_path {
                gateway["configPath"] = json!(p.display().to_string());
            }
        }
        json!({
            "runtimeVersion": cfg.server_version,
            "pid": std::process::id(),
            "uptimeMs": self.shared.uptime_ms(),
            "heartbeat": {"defaultAgentId": "main", "agents": []},
            "channelSummary": [],
            "queuedSystemEvents": [],
            "sessions": {
                "paths": [self.shared.sessions_path()],
                "count": stats.sessions,
                // The default agent's model and window (`openclaw status`, the TUI's
                // `/status`: "Default model").
                "defaults": defaults.map_or(
                    json!({"model": Value::Null, "contextTokens": Value::Null}),
                    |d| json!(d),
                ),
                "recent": [],
                "byAgent": [],
            },
            "gateway": gateway,
        })
    }
}
