//! Webhook mode: updates pushed by Telegram, checked and persisted like polled ones.

use actix::prelude::*;

use super::api::TgUpdate;
use super::*;

/// An update pushed to the webhook endpoint (webhook mode). Refused with `Unauthorized` when
/// the secret header is wrong, `Conflict` when this account polls instead, `Unavailable` when
/// the update could not be persisted (Telegram retries).
impl Handler<WebhookDelivery> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<(), WebhookError>>;

    fn handle(&mut self, msg: WebhookDelivery, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(self.take_update(msg, ctx).map(|res, _, _| {
            let r = match &res {
                Ok(()) => crate::stability::Record::of("webhook.received"),
                Err(e) => crate::stability::Record::of("webhook.error")
                    .reason(match e {
                        WebhookError::Conflict(_) => "conflict",
                        WebhookError::Unauthorized => "unauthorized",
                        WebhookError::BadRequest(_) => "bad_request",
                        _ => "unavailable",
                    })
                    .repeated(),
            };
            crate::stability::record(r.channel("telegram"));
            res
        }))
    }
}

impl TelegramChannel {
    /// [`WebhookDelivery`]'s work.
    fn take_update(
        &mut self,
        msg: WebhookDelivery,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<(), WebhookError>> {
        let Some((_, expected)) = &self.cfg.webhook else {
            return Box::pin(actix::fut::ready(Err(WebhookError::Conflict(
                "this account uses long polling",
            ))));
        };
        let presented = msg.secret.unwrap_or_default();
        if !crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Box::pin(actix::fut::ready(Err(WebhookError::Unauthorized)));
        }
        let update: TgUpdate = match serde_json::from_slice(&msg.body) {
            Ok(u) => u,
            Err(e) => {
                return Box::pin(actix::fut::ready(Err(WebhookError::BadRequest(
                    e.to_string(),
                ))));
            }
        };
        if self.load_error.is_some() || self.operator_stopped {
            // The state could not be read (accepting now would overwrite it), or an
            // operator stopped the account: Telegram delivers it again later.
            return Box::pin(actix::fut::ready(Err(WebhookError::Unavailable)));
        }
        // Same durable path as polling: hand over now, answer 200 once the update is on
        // disk (a failed save answers 503 and Telegram delivers it again; it is then
        // skipped as known, and answered 200 once the state is saved).
        let batch = self.apply(vec![update]);
        if batch.hit_cap {
            // Not taken (the pending list is full): Telegram delivers it again later.
            self.status.backlog_full = true;
            return Box::pin(actix::fut::ready(Err(WebhookError::Unavailable)));
        }
        self.status.backlog_full = false;
        let changed = !batch.accepted.is_empty()
            || !batch.replies.is_empty()
            || batch.old_offset != self.state.offset;
        let version = if changed {
            self.changed(ctx)
        } else {
            self.durable.version
        };
        self.commit(batch, version, ctx);
        let saved = self.committed(version);
        let account = self.cfg.account_id.clone();
        Box::pin(
            async move {
                saved.await.map_err(|e| {
                    log::error!("telegram[{account}]: cannot persist webhook update: {e}");
                    WebhookError::Unavailable
                })
            }
            .into_actor(self),
        )
    }
}
