//! `sessions.list`, `sessions.subscribe`, `sessions.describe`, `agents.list` (OpenClaw's
//! `server-methods/sessions.ts`, `sessions-subscriptions.ts`, `sessions-read.ts`,
//! `agents.ts`).

use actix::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::agent_params::{SessionsListParams, fail, obj};
use super::{Call, Method, Params, gone};
use crate::channel::normalize_session_key;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::registry::runs::{ListSessions, SessionList, SessionRow};
use crate::registry::session_events::{DescribeSession, SubscribeSessionEvents};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "sessions.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_list),
    },
    Method {
        name: "sessions.subscribe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_subscribe),
    },
    Method {
        name: "sessions.describe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_describe),
    },
    Method {
        name: "agents.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::agents_list,
    },
];

/// What `agents.list` answers (OpenClaw's `AgentsListResultSchema`): this gateway runs one
/// agent, `main`, whose operator session is `agent:main:main` and whose channel sessions
/// are one per sender.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentsList {
    default_id: &'static str,
    main_key: &'static str,
    scope: &'static str,
    agents: [AgentSummary; 1],
}

/// One agent of [`AgentsList`].
#[derive(Serialize)]
struct AgentSummary {
    id: &'static str,
    name: &'static str,
}

const AGENTS: AgentsList = AgentsList {
    default_id: "main",
    main_key: "main",
    scope: "per-sender",
    agents: [AgentSummary {
        id: "main",
        name: "main",
    }],
};

/// `sessions.subscribe` params: `sessions.list`'s; when there are any, the answer carries
/// that page too.
pub(crate) struct SubscribeParams {
    /// The page to answer with, if the call asked for one.
    list: Option<usize>,
}

impl Params for SubscribeParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        match &call.params {
            Value::Object(o) if o.is_empty() => Ok(Self { list: None }),
            Value::Object(_) => SessionsListParams::parse(call).map(|p| Self {
                list: Some(p.limit),
            }),
            Value::Null => Ok(Self { list: None }),
            _ => Err(ErrorShape::invalid(
                "invalid sessions.subscribe params: must be object",
            )),
        }
    }
}

/// `sessions.describe {key, agentId?}`.
pub(crate) struct DescribeParams {
    /// Normalized session key.
    key: String,
}

impl Params for DescribeParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.describe";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.required("", o, "key");
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let _ = c.string("", o, "agentId", false);
        match key {
            Some(key) if c.ok() => Ok(Self { key }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// What `sessions.subscribe` answers.
#[derive(Serialize)]
struct Subscribed {
    subscribed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    list: Option<SessionList>,
}

/// What `sessions.describe` answers.
#[derive(Serialize)]
struct Described {
    session: Option<SessionRow>,
}

impl WsSession {
    /// `sessions.list {limit?}` (1..=1000, default 50).
    fn sessions_list(&mut self, call: Call, p: SessionsListParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ListSessions { limit: p.limit });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `sessions.subscribe`: this connection gets `sessions.changed` from now on.
    fn sessions_subscribe(&mut self, call: Call, p: SubscribeParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(SubscribeSessionEvents {
            conn_id: self.conn_id.clone(),
            addr: ctx.address(),
            list: p.list,
        });
        self.reply_with(
            call.id,
            async move {
                let list = fut.await.map_err(|_| gone())?;
                Ok(Subscribed {
                    subscribed: true,
                    list,
                })
            },
            ctx,
        );
    }

    /// `agents.list`: the one agent (params: an object, not read).
    fn agents_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        if !call.params.is_object() && !call.params.is_null() {
            let err = ErrorShape::invalid("invalid agents.list params: must be object");
            return self.respond_err(&call.id, &err, ctx);
        }
        self.respond_ok(&call.id, &AGENTS, ctx);
    }

    /// `sessions.describe {key}`: `{session: row}`, or `{session: null}` for no such session.
    fn sessions_describe(&mut self, call: Call, p: DescribeParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(DescribeSession { key: p.key });
        self.reply_with(
            call.id,
            async move {
                let session = fut.await.map_err(|_| gone())?;
                Ok(Described { session })
            },
            ctx,
        );
    }
}
