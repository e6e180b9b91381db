//! `config.get`, `config.set`, `config.patch`, `config.apply` (OpenClaw's
//! `server-methods/config.ts`), `agents.create|update|delete` (`server-methods/agents.ts`:
//! roster edits of the file) and `secrets.reload` (`server-methods/secrets.ts`). The file, its validation and the atomic write are the
//! shell's ([`OpsPort`](crate::ports::OpsPort)); the work runs on a blocking thread so a
//! slow disk never stalls the socket's worker.

use actix::prelude::*;
use serde_json::Value;

use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "config.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::config_call,
    },
    Method {
        name: "config.set",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "config.patch",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "config.apply",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "agents.create",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "agents.update",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "agents.delete",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::config_call,
    },
    Method {
        name: "secrets.reload",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::secrets_reload,
    },
];

/// No shell hooks (an engine started without the shell, as in unit tests).
pub(super) fn unavailable() -> ErrorShape {
    ErrorShape::unavailable("config and log operations are not available in this gateway")
}

impl WsSession {
    /// Every `config.*` method: params must be an object (or absent); the shell does the rest.
    fn config_call(&mut self, call: Call, ctx: &mut Context<Self>) {
        let params = match call.params {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => call.params.clone(),
            _ => {
                let e =
                    ErrorShape::invalid(format!("invalid {} params: must be object", call.method));
                return self.respond_err(&call.id, &e, ctx);
            }
        };
        let ops = self.shared.ops.get().cloned();
        let method = call.method;
        let cron = (method == "agents.delete")
            .then(|| self.shared.cron.get().map(|c| c.0.clone()))
            .flatten();
        let fut = async move {
            let ops = ops.ok_or_else(unavailable)?;
            let res = tokio::task::spawn_blocking(move || {
                let shape = |(caller, m): (bool, String)| {
                    if caller {
                        ErrorShape::invalid(m)
                    } else {
                        ErrorShape::unavailable(m)
                    }
                };
                if method == "config.get" {
                    ops.config_get().map_err(ErrorShape::unavailable)
                } else if method.starts_with("agents.") {
                    ops.agents_write(method, &params).map_err(shape)
                } else {
                    ops.config_write(method, &params).map_err(shape)
                }
            })
            .await;
            let res =
                res.unwrap_or_else(|_| Err(ErrorShape::unavailable("config operation failed")));
            // A deleted agent's scheduled jobs go with it (they could only fail).
            if let (Ok(v), Some(cron)) = (&res, cron)
                && let Some(agent) = v.get("agentId").and_then(Value::as_str)
            {
                match cron
                    .send(crate::cron::RemoveAgentJobs {
                        agent: agent.to_owned(),
                    })
                    .await
                {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => log::info!("agents.delete: removed {n} cron job(s) of {agent}"),
                    Ok(Err(e)) => log::warn!("agents.delete: the cron jobs of {agent} stay: {e}"),
                    Err(_) => log::warn!("agents.delete: the cron scheduler did not answer"),
                }
            }
            res
        };
        self.reply_with(call.id, fut, ctx);
    }

    /// `secrets.reload` (OpenClaw's "re-resolve secret references and atomically swap the
    /// runtime snapshot"): the watcher resolves the config in force again and applies what
    /// changed as a config reload does; answers `{ok: true, warningCount}`. A failure
    /// changes nothing and answers OpenClaw's `secrets.reload failed` (the reason is in
    /// the gateway log: it may name a variable). Params are not read (OpenClaw's schema
    /// takes none).
    fn secrets_reload(&mut self, call: Call, ctx: &mut Context<Self>) {
        let Some(reply) = self.shared.ops.get().and_then(|o| o.secrets_reload()) else {
            let e = ErrorShape::unavailable("secrets.reload is not available in this gateway");
            return self.respond_err(&call.id, &e, ctx);
        };
        let id = call.id;
        reply
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(Ok(done)) => {
                    let answer =
                        serde_json::json!({"ok": true, "warningCount": done.warning_count});
                    act.respond_ok(&id, &answer, ctx);
                    let _ = done.written.send(());
                }
                Ok(Err(_)) | Err(_) => {
                    act.respond_err(&id, &ErrorShape::unavailable("secrets.reload failed"), ctx);
                }
            })
            .spawn(ctx);
    }
}
