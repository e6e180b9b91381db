//! `sessions.resolve` (OpenClaw's `server-methods/sessions-read.ts` and
//! `gateway/sessions-resolve.ts`): which session a key, transcript id, label or short id
//! names. The real CLI asks it for `openclaw tui <session>` and `openclaw attach <session>`.

use actix::prelude::*;
use serde_json::json;

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::channel::normalize_session_key;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::registry::session_events::ResolveSession;
use crate::registry::sessions::{Resolution, Selector};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[Method {
    name: "sessions.resolve",
    access: MethodAccess::Operator(READ),
    handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_resolve),
}];

/// Longest selector echoed in a message.
const SHOWN: usize = 100;

/// `sessions.resolve` params.
pub(crate) struct ResolveParams {
    selector: Selector,
    /// What the "not found" message names.
    asked: String,
    agent: Option<String>,
    allow_missing: bool,
}

impl Params for ResolveParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.resolve";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "key",
                "sessionId",
                "label",
                "reference",
                "shortId",
                "slugHint",
                "agentId",
                "spawnedBy",
                "includeGlobal",
                "includeUnknown",
                "allowMissing",
            ],
        );
        let key = c.string("", o, "key", true).map(str::trim);
        let session_id = c.string("", o, "sessionId", true).map(str::trim);
        let label = c.string("", o, "label", true).map(str::trim);
        let short = c.string("", o, "shortId", true).map(str::trim);
        let slug = c.string("", o, "slugHint", true).map(str::trim);
        let agent = c.string("", o, "agentId", true).map(str::trim);
        let _ = c.string("", o, "spawnedBy", true);
        let _ = c.boolean("", o, "includeGlobal");
        let _ = c.boolean("", o, "includeUnknown");
        let allow_missing = c.boolean("", o, "allowMissing").unwrap_or(false);
        // `reference: {key, slug?}`: its exact key (the slug only helps the Control UI's
        // own links, which this gateway does not make).
        let reference = match o.get("reference") {
            None => None,
            Some(r) => c.object("/reference", r).and_then(|r| {
                c.closed("/reference", r, &["key", "slug"]);
                c.required("/reference", r, "key");
                let _ = c.string("/reference", r, "slug", true);
                c.string("/reference", r, "key", true).map(str::trim)
            }),
        };
        if !c.ok() {
            return Err(fail(M, &c));
        }
        if slug.is_some() && short.is_none() {
            return Err(ErrorShape::invalid("slugHint requires shortId"));
        }
        let given = [
            key.is_some(),
            session_id.is_some(),
            label.is_some(),
            short.is_some(),
            reference.is_some(),
        ]
        .into_iter()
        .filter(|g| *g)
        .count();
        if given > 1 {
            return Err(ErrorShape::invalid(
                "Provide either key, sessionId, label, shortId, or reference (not multiple)",
            ));
        }
        let agent = match agent {
            None => None,
            Some(a) => {
                let id = a.to_ascii_lowercase();
                if !crate::agents::known_now(&id) {
                    let shown: String = a.chars().take(64).collect();
                    return Err(ErrorShape::invalid(format!("unknown agent id \"{shown}\"")));
                }
                Some(id)
            }
        };
        let shown = |s: &str| s.chars().take(SHOWN).collect::<String>();
        let (selector, asked) = if let Some(k) = key.or(reference) {
            // A bare key is the agent's own (`main` → `agent:<agentId>:main`).
            let k = match (&agent, k.starts_with("agent:")) {
                (Some(a), false) => format!("agent:{a}:{k}"),
                _ => normalize_session_key(k),
            };
            let asked = shown(&k);
            (Selector::Key(k), asked)
        } else if let Some(id) = session_id {
            (Selector::SessionId(id.to_owned()), shown(id))
        } else if let Some(l) = label {
            if l.chars().count() > 512 {
                return Err(ErrorShape::invalid("label too long (max 512)"));
            }
            (
                Selector::Label(l.to_owned()),
                format!("with label: {}", shown(l)),
            )
        } else if let Some(s) = short {
            let ok = (8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(ErrorShape::invalid(
                    "shortId must be 8-32 hexadecimal characters",
                ));
            }
            let s = s.to_ascii_lowercase();
            let asked = s.clone();
            (Selector::ShortId(s, slug.map(str::to_owned)), asked)
        } else {
            return Err(ErrorShape::invalid(
                "Either key, sessionId, label, shortId, or reference is required",
            ));
        };
        Ok(Self {
            selector,
            asked,
            agent,
            allow_missing,
        })
    }
}

impl WsSession {
    /// `sessions.resolve`: `{ok: true, key, agentId, displayName?}`, `{ok: false,
    /// candidates}` when a short id matches several, `{ok: false}` for a missing session
    /// with `allowMissing`; otherwise a missing session is INVALID_REQUEST `No session
    /// found: …`.
    fn sessions_resolve(&mut self, call: Call, p: ResolveParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ResolveSession {
            selector: p.selector.clone(),
            agent: p.agent,
        });
        let (asked, allow_missing, selector) = (p.asked, p.allow_missing, p.selector);
        self.reply_with(
            call.id,
            async move {
                match fut.await.map_err(|_| gone())? {
                    Resolution::Found(c) => {
                        let mut v = json!({"ok": true, "key": c.key, "agentId": c.agent_id});
                        if let Some(n) = c.display_name {
                            v["displayName"] = json!(n);
                        }
                        Ok(v)
                    }
                    Resolution::Ambiguous(candidates) => {
                        Ok(json!({"ok": false, "candidates": candidates}))
                    }
                    Resolution::Conflict(keys) => {
                        let what = match selector {
                            Selector::Label(_) => asked,
                            _ => format!("for sessionId: {asked}"),
                        };
                        Err(ErrorShape::invalid(format!(
                            "Multiple sessions found {what} ({})",
                            keys.join(", ")
                        )))
                    }
                    Resolution::Missing if allow_missing => Ok(json!({"ok": false})),
                    Resolution::Missing => Err(ErrorShape::invalid(format!(
                        "No session found{}{asked}",
                        if asked.starts_with("with label") {
                            " "
                        } else {
                            ": "
                        }
                    ))),
                }
            },
            ctx,
        );
    }
}
