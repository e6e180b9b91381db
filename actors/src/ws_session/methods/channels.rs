//! `send`, `channels.status`, `channels.pairing.list`, `channels.pairing.approve`
//! (OpenClaw's `server-methods/send.ts`, `channels.ts`).

use actix::prelude::*;

use super::agent_params::PairingApproveParams;
use super::{Call, Method, gone};
use crate::protocol::scopes::{MethodAccess, PAIRING, READ, WRITE};
use crate::registry::channels::{
    ChannelPairingApprove, ChannelPairingList, ChannelsStatus, SendOutbound,
};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "send",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::send_outbound),
    },
    Method {
        name: "channels.status",
        access: MethodAccess::Operator(READ),
        handler: WsSession::channels_status,
    },
    Method {
        name: "channels.pairing.list",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::channels_pairing_list,
    },
    Method {
        name: "channels.pairing.approve",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::channels_pairing_approve),
    },
];

impl WsSession {
    /// `send {to, message, idempotencyKey, channel?, accountId?, threadId?, replyToId?}`.
    fn send_outbound(&mut self, call: Call, msg: SendOutbound, ctx: &mut Context<Self>) {
        let fut = self.registry.send(msg);
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(r) => r.map_err(|e| e.to_shape()),
                    Err(_) => Err(gone()),
                }
            },
            ctx,
        );
    }

    /// `channels.status`.
    fn channels_status(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ChannelsStatus);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `channels.pairing.list`.
    fn channels_pairing_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ChannelPairingList);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `channels.pairing.approve {channel, requestId | code, accountId?}`.
    fn channels_pairing_approve(
        &mut self,
        call: Call,
        p: PairingApproveParams,
        ctx: &mut Context<Self>,
    ) {
        let fut = self.registry.send(ChannelPairingApprove {
            channel: p.channel,
            account_id: p.account_id,
            code: p.code,
        });
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(r) => r.map_err(|e| e.to_shape()),
                    Err(_) => Err(gone()),
                }
            },
            ctx,
        );
    }
}
