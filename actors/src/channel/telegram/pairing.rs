//! DM pairing: the pending requests of this account and their approval.

use actix::prelude::*;

use super::*;

impl Handler<ListChannelPairing> for TelegramChannel {
    type Result = MessageResult<ListChannelPairing>;

    fn handle(&mut self, _: ListChannelPairing, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        MessageResult(
            self.state
                .pairing
                .iter()
                .filter(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS)
                .map(|p| ChannelPairingRequest {
                    account_id: self.cfg.account_id.clone(),
                    channel: KIND.id,
                    code: p.code.clone(),
                    created_at_ms: p.created_at_ms,
                    expires_at_ms: p.created_at_ms + PAIRING_TTL_MS,
                    id: p.user_id.to_string(),
                    name: p.name.clone(),
                    request_id: p.code.clone(),
                    username: p.username.clone(),
                })
                .collect(),
        )
    }
}

impl Handler<ApproveChannelPairing> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<PairingApproval, ChannelError>>;

    fn handle(&mut self, msg: ApproveChannelPairing, ctx: &mut Self::Context) -> Self::Result {
        if let Some(e) = &self.load_error {
            return Box::pin(actix::fut::ready(Err(ChannelError::StateNotLoaded {
                channel: KIND.id,
                reason: e.clone(),
            })));
        }
        let code = msg.code.trim().to_uppercase();
        let now = now_ms();
        self.state
            .pairing
            .retain(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS);
        let Some(pos) = self.state.pairing.iter().position(|p| p.code == code) else {
            return Box::pin(actix::fut::ready(Err(ChannelError::UnknownPairingCode)));
        };
        let req = self.state.pairing.remove(pos);
        let newly = !self.state.approved.contains(&req.user_id);
        if newly {
            self.state.approved.push(req.user_id);
        }
        let version = self.changed(ctx);
        let saved = self.committed(version);
        let account = self.cfg.account_id.clone();
        Box::pin(saved.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                // Not on disk: undo (the retried save writes the state without it).
                if newly {
                    act.state.approved.retain(|u| *u != req.user_id);
                }
                act.state.pairing.push(req);
                act.changed(ctx);
                return Err(e.into());
            }
            act.send_notice(
                req.user_id,
                None,
                "OpenClaw: access approved. Send me a message.".to_owned(),
                ctx,
            );
            Ok(PairingApproval {
                account_id: account,
                approved: true,
                channel: KIND.id,
                id: req.user_id.to_string(),
                request_id: code,
            })
        }))
    }
}
