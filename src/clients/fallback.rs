//! `agents.defaults.model.fallbacks`: the primary model, then each fallback in order,
//! for one completion at a time (OpenClaw's model failover: a fallback answers that turn
//! only; the next turn starts from the primary again).
//!
//! Every failure moves on (after the provider's own retries: rate limits, outages, a
//! rejected key, a refused request, an unreadable answer); the last error is returned,
//! with what each model said, when all fail.

use std::rc::Rc;

use crate::actors::ports::{ChatModel, ChatRequest, ChatResponse, DeltaSink, LocalFut, ModelError};
use crate::actors::stability;

/// A primary model with its fallbacks.
pub struct WithFallbacks {
    models: Vec<Rc<dyn ChatModel>>,
}

impl WithFallbacks {
    /// `models[0]` is the primary; the rest are tried in order. `None` when empty.
    pub fn new(models: Vec<Rc<dyn ChatModel>>) -> Option<Self> {
        (!models.is_empty()).then_some(Self { models })
    }
}

impl ChatModel for WithFallbacks {
    fn label(&self) -> String {
        let mut it = self.models.iter().map(|m| m.label());
        let first = it.next().unwrap_or_default();
        let rest: Vec<String> = it.collect();
        if rest.is_empty() {
            first
        } else {
            format!("{first} (fallbacks: {})", rest.join(", "))
        }
    }

    fn primary(&self) -> String {
        self.models.first().map(|m| m.primary()).unwrap_or_default()
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.chain(req, None)
    }

    fn complete_streaming(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.chain(req, Some(sink))
    }

    fn commands_help(&self) -> Option<&'static str> {
        self.models.first().and_then(|m| m.commands_help())
    }

    fn sees_images(&self) -> bool {
        self.models.first().is_some_and(|m| m.sees_images())
    }

    /// The smallest known window of the chain: a request must fit whichever answers it.
    fn context_window(&self) -> Option<u32> {
        self.models.iter().filter_map(|m| m.context_window()).min()
    }

    /// The primary's.
    fn reasons(&self) -> bool {
        self.models.first().is_some_and(|m| m.reasons())
    }

    /// Each model tried is recorded under its own name.
    fn records_calls(&self) -> bool {
        true
    }
}

impl WithFallbacks {
    /// Each model in turn (a model that streamed text and then failed says `Restart`
    /// itself, so the next one's text starts over).
    fn chain(
        &self,
        req: ChatRequest,
        sink: Option<DeltaSink>,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        let models = self.models.clone();
        let call = move |m: &Rc<dyn ChatModel>, r: ChatRequest| {
            let fut = match &sink {
                Some(s) => m.complete_streaming(r, s.clone()),
                None => m.complete(r),
            };
            let label = m.label();
            async move {
                let started = std::time::Instant::now();
                let out = fut.await;
                let why = out.as_ref().err().map(ModelError::category);
                stability::model_call(&label, started.elapsed(), why);
                out
            }
        };
        Box::pin(async move {
            let Some((last, before)) = models.split_last() else {
                return Err(ModelError::Unavailable("no model configured".into()));
            };
            let mut failures: Vec<String> = Vec::new();
            for m in before {
                match call(m, req.clone()).await {
                    Ok(resp) => return Ok(answered(m.as_ref(), resp, &failures)),
                    Err(e) => {
                        log::warn!("model {} failed: {e}; trying the next fallback", m.label());
                        stability::record(
                            stability::Record::of("model.failover")
                                .model_label(&m.label())
                                .reason(e.category())
                                .repeated(),
                        );
                        failures.push(format!("{}: {e}", m.label()));
                    }
                }
            }
            match call(last, req).await {
                Ok(resp) => Ok(answered(last.as_ref(), resp, &failures)),
                Err(e) if failures.is_empty() => Err(e),
                Err(e) => {
                    failures.push(format!("{}: {e}", last.label()));
                    Err(with_summary(e, &failures))
                }
            }
        })
    }
}

fn answered(m: &dyn ChatModel, mut resp: ChatResponse, failures: &[String]) -> ChatResponse {
    // Which one answered: the chain's own label names them all.
    if resp.model.is_none() {
        resp.model = Some(m.label());
    }
    if !failures.is_empty() {
        crate::actors::metrics::METRICS.model_fallbacks.inc();
        log::warn!(
            "model fallback: {} answered after {}",
            m.label(),
            failures.join("; ")
        );
    }
    resp
}

/// The last error, its text replaced by every model's failure.
fn with_summary(e: ModelError, failures: &[String]) -> ModelError {
    e.map_message(|_| format!("every model failed: {}", failures.join("; ")))
}
