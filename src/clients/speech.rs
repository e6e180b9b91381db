//! Text to speech: [`OpenAiSpeaker`] implements [`Speaker`](crate::actors::ports::Speaker)
//! over an OpenAI-compatible `POST {baseUrl}/audio/speech` (JSON `{model, voice, input,
//! response_format, …}`; the answer's body is the audio). The key never appears in errors
//! or logs; the answer is bounded ([`MAX_AUDIO`]).

use serde_json::Value;

use super::{http_client, http_failure, send_error};
use crate::actors::ports::{LocalFut, Speaker};
use crate::config::speech::SpeechPlan;

/// Largest audio accepted from the provider (Telegram's upload limit for a voice note is
/// larger; a 1500-character answer is well under 1 MiB of Opus).
pub const MAX_AUDIO: usize = 20 * 1024 * 1024;

/// An OpenAI-compatible speech endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiSpeaker {
    plan: SpeechPlan,
}

impl OpenAiSpeaker {
    /// Speaks as `plan` says.
    pub fn new(plan: SpeechPlan) -> Self {
        Self { plan }
    }
}

impl Speaker for OpenAiSpeaker {
    fn label(&self) -> String {
        self.plan.label.clone()
    }

    fn speak(&self, text: String) -> LocalFut<Result<Vec<u8>, String>> {
        let plan = self.plan.clone();
        Box::pin(async move {
            let mut body = plan.body.clone();
            body.insert("input".into(), Value::String(text));
            let mut req = http_client().post(plan.url.as_str()).timeout(plan.timeout);
            if let Some(key) = &plan.api_key {
                req = req.bearer_auth(key);
            }
            let secret = plan.api_key.as_deref().unwrap_or("");
            let mut resp = req
                .send_json(&Value::Object(body))
                .await
                .map_err(|e| send_error(e, plan.timeout, secret))?;
            let status = resp.status();
            let data = resp
                .body()
                .limit(MAX_AUDIO)
                .await
                .map_err(|e| format!("HTTP {status}: cannot read the audio: {e}"))?;
            if !status.is_success() {
                return Err(http_failure(status.as_u16(), &data, secret));
            }
            Ok(data.to_vec())
        })
    }
}
