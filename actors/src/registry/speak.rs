//! Speech for clients (OpenClaw's `server-methods/talk.ts` `talk.speak` and `tts.ts`):
//! [`Synthesize`] speaks a client's text with the Talk speaker or the `tts` one and answers
//! the audio; [`GetSpeechStatus`] is what `tts.status` and `tts.providers` report.
//!
//! The keys stay here: a phone's Talk mode gets audio, never a provider key. Each synthesis
//! costs the owner money, so a text is bounded (`tts.maxTextLength`) and at most
//! [`MAX_IN_FLIGHT`] run at once and [`MAX_PER_MINUTE`] start in a minute, gateway-wide;
//! more are refused with a retry hint.
//! [`SetTtsEnabled`] (`tts.enable` / `tts.disable`) saves OpenClaw's preferences file.

use std::cell::Cell;
use std::rc::Rc;

use actix::prelude::*;

use super::Registry;
use crate::ports::{Clip, SpeakRequest};
use crate::protocol::error::ErrorShape;
use crate::speech::AutoSpeech;
use crate::speech::{ProviderInfo, TalkVoice};
use crate::store::{SaveDocument, StoreError};

/// Client syntheses running at once, at most.
pub const MAX_IN_FLIGHT: usize = 4;
/// Client syntheses started in any minute, at most (a phone's Talk mode speaks a reply or
/// two a minute; a leaked token cannot spend the owner's credits faster than this).
pub const MAX_PER_MINUTE: usize = 60;

/// Which speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceKind {
    /// Talk's (`talk.speak`): `talk.provider`.
    Talk,
    /// The spoken answers' (`tts.speak`): `tts.provider`.
    Tts,
}

/// Speaks `text` (already checked non-empty) for a client.
#[derive(Message)]
#[rtype(result = "Result<Clip, ErrorShape>")]
pub struct Synthesize {
    /// The method asking (`talk.speak`, `tts.speak`, `tts.convert`), for its errors.
    pub method: &'static str,
    /// With which speaker.
    pub voice: VoiceKind,
    /// What to say (as the client sent it: markdown and code are handled here).
    pub text: String,
    /// The client's overrides.
    pub req: SpeakRequest,
}

/// `talk.speak`'s error: `UNAVAILABLE` with OpenClaw's `{reason, fallbackEligible}` (an
/// eligible reason lets the app speak with the phone's own voice instead).
pub fn talk_error(reason: &str, message: impl Into<String>) -> ErrorShape {
    let eligible = matches!(
        reason,
        "talk_unconfigured" | "talk_provider_unsupported" | "method_unavailable"
    );
    ErrorShape::unavailable(message)
        .with_details(serde_json::json!({"reason": reason, "fallbackEligible": eligible}))
}

/// Releases a synthesis slot when dropped.
pub(super) struct Slot(Rc<Cell<usize>>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The bound on client syntheses: at most [`MAX_IN_FLIGHT`] at once and
/// [`MAX_PER_MINUTE`] started in any minute.
#[derive(Default)]
pub struct SynthGate {
    /// Running now (each [`Slot`] gives its place back when dropped).
    in_flight: Rc<Cell<usize>>,
    /// When the syntheses of the last minute started.
    recent: std::collections::VecDeque<std::time::Instant>,
}

impl SynthGate {
    /// A slot for one more synthesis, or why not (with the wait before a retry, in ms).
    pub(super) fn admit(&mut self) -> Result<Slot, (String, u64)> {
        if self.in_flight.get() >= MAX_IN_FLIGHT {
            return Err((format!("{MAX_IN_FLIGHT} syntheses are running"), 1000));
        }
        let now = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= minute)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_PER_MINUTE {
            let wait = self
                .recent
                .front()
                .map_or(minute, |t| minute.saturating_sub(now.duration_since(*t)));
            let ms = u64::try_from(wait.as_millis()).unwrap_or(60_000).max(1);
            return Err((format!("{MAX_PER_MINUTE} syntheses in the last minute"), ms));
        }
        self.recent.push_back(now);
        self.in_flight.set(self.in_flight.get() + 1);
        Ok(Slot(self.in_flight.clone()))
    }
}

impl Registry {
    /// What [`Synthesize`] runs with, once its checks passed: the speaker, the text as it
    /// is said, and the slot it holds.
    fn admit_synthesis(
        &mut self,
        method: &'static str,
        msg: &Synthesize,
    ) -> Result<(Rc<dyn crate::ports::Speaker>, String, Slot), ErrorShape> {
        let max = self.voices.max_text_length;
        let chars = msg.text.chars().count();
        if chars > max {
            return Err(ErrorShape::invalid(format!(
                "{method} text too long ({chars} chars, max {max})"
            )));
        }
        let speaker = match msg.voice {
            VoiceKind::Talk => match &self.voices.talk {
                TalkVoice::Ready(s) => s.clone(),
                TalkVoice::Unavailable { reason, message } => {
                    return Err(talk_error(reason, message.clone()));
                }
            },
            VoiceKind::Tts => self.speech.as_ref().map(|s| s.speaker.clone()).ok_or_else(|| {
                ErrorShape::unavailable(format!(
                    "{method} unavailable: no speech provider is configured. Fix: set tts.provider and its key (tts.providers.<id>.apiKey)"
                ))
            })?,
        };
        let text = crate::speech::spoken_text(&msg.text).ok_or_else(|| {
            ErrorShape::invalid(format!("{method} requires text (nothing to say)"))
        })?;
        let slot = self.synth_gate.admit().map_err(|(why, ms)| {
            ErrorShape::unavailable(format!("{method}: {why}; retry shortly")).retry_after(ms)
        })?;
        Ok((speaker, text, slot))
    }
}

impl Handler<Synthesize> for Registry {
    type Result = ResponseFuture<Result<Clip, ErrorShape>>;

    fn handle(&mut self, msg: Synthesize, _ctx: &mut Self::Context) -> Self::Result {
        let method = msg.method;
        let (speaker, text, slot) = match self.admit_synthesis(method, &msg) {
            Ok(admitted) => admitted,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let voice = msg.voice;
        let fut = speaker.synthesize(text, msg.req);
        Box::pin(async move {
            let _slot = slot;
            let label = speaker.label();
            fut.await.map_err(|e| {
                log::warn!("{method} with {label} failed: {e}");
                match voice {
                    VoiceKind::Talk => talk_error("synthesis_failed", e),
                    VoiceKind::Tts => ErrorShape::unavailable(e),
                }
            })
        })
    }
}

/// What `tts.status` / `tts.providers` report.
#[derive(Debug, Clone)]
pub struct SpeechStatus {
    /// `tts.auto` as running (`off`, `always`, `inbound`).
    pub auto: &'static str,
    /// The spoken answers' provider (else the first configured one, else `openai`).
    pub provider: String,
    /// The providers known to config.
    pub providers: Vec<ProviderInfo>,
    /// Talk's speaker, when ready (its label).
    pub talk: Option<String>,
    /// Talk's provider id, when ready.
    pub talk_provider: Option<String>,
}

/// Reads [`SpeechStatus`].
#[derive(Message)]
#[rtype(result = "SpeechStatus")]
pub struct GetSpeechStatus;

impl Handler<GetSpeechStatus> for Registry {
    type Result = MessageResult<GetSpeechStatus>;

    fn handle(&mut self, _: GetSpeechStatus, _ctx: &mut Self::Context) -> Self::Result {
        use crate::speech::AutoSpeech;
        let auto = match self.speech.as_ref().map(|s| s.policy.auto) {
            Some(AutoSpeech::Always) => "always",
            Some(AutoSpeech::Inbound) => "inbound",
            Some(AutoSpeech::Tagged) => "tagged",
            Some(AutoSpeech::Off) | None => "off",
        };
        let providers = self.voices.providers.clone();
        let provider = self
            .voices
            .speech_provider
            .clone()
            .or_else(|| {
                providers
                    .iter()
                    .find(|p| p.configured)
                    .map(|p| p.id.clone())
            })
            .unwrap_or_else(|| "openai".to_owned());
        MessageResult(SpeechStatus {
            auto,
            provider,
            providers,
            talk: match &self.voices.talk {
                TalkVoice::Ready(s) => Some(s.label()),
                TalkVoice::Unavailable { .. } => None,
            },
            talk_provider: self.voices.talk_provider.clone(),
        })
    }
}

/// `tts.enable` (every chat answer spoken) / `tts.disable`: saved in OpenClaw's preferences
/// file ([`crate::speech::PREFS_FILE`]) over the config's `tts.auto`, applied at once.
#[derive(Message)]
#[rtype(result = "Result<bool, ErrorShape>")]
pub struct SetTtsEnabled {
    /// On or off.
    pub on: bool,
}

impl Handler<SetTtsEnabled> for Registry {
    type Result = ResponseActFuture<Self, Result<bool, ErrorShape>>;

    fn handle(&mut self, msg: SetTtsEnabled, _: &mut Self::Context) -> Self::Result {
        if msg.on && self.voices.speech.is_none() {
            let e = ErrorShape::unavailable(
                "tts.enable: no speech provider is configured, so nothing could be spoken. Fix: set tts.provider and its key (tts.providers.<id>.apiKey), then enable",
            );
            return Box::pin(fut::ready(Err(e)));
        }
        let auto = if msg.on {
            AutoSpeech::Always
        } else {
            AutoSpeech::Off
        };
        let word = if msg.on { "always" } else { "off" };
        let doc = serde_json::json!({"tts": {"auto": word}});
        let save = self.store.send(SaveDocument {
            name: crate::speech::PREFS_FILE.to_owned(),
            contents: serde_json::to_vec_pretty(&doc).unwrap_or_default(),
        });
        Box::pin(
            async move { StoreError::flatten(save.await) }
                .into_actor(self)
                .map(move |res, act, _| {
                    res.map_err(|e| {
                        ErrorShape::unavailable(format!("cannot save the TTS preference: {e}"))
                    })?;
                    act.tts_pref = Some(auto);
                    let voices = act.voices.clone();
                    act.set_voices(voices);
                    Ok(msg.on)
                }),
        )
    }
}

/// `tts.convert {text, channel?, provider?, modelId?, voiceId?}`: the spoken answers' voice
/// saved as a file under `media/outbound/` (0600, pruned with the other media) for the
/// gateway host's CLI (`openclaw infer tts convert --gateway --output f`), answered as
/// `{audioPath, provider, outputFormat, voiceCompatible}`. A voice note for
/// `channel: "telegram"`, a clip otherwise. Only the configured provider speaks here.
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, ErrorShape>")]
pub struct ConvertSpeech {
    /// What to say.
    pub text: String,
    /// The target and the voice/model overrides.
    pub req: SpeakRequest,
    /// A provider the caller asked for.
    pub provider: Option<String>,
}

impl Handler<ConvertSpeech> for Registry {
    type Result = ResponseFuture<Result<serde_json::Value, ErrorShape>>;

    fn handle(&mut self, msg: ConvertSpeech, ctx: &mut Self::Context) -> Self::Result {
        if let Some(p) = msg
            .provider
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            && self.voices.speech_provider.as_deref() != Some(p)
        {
            let e = ErrorShape::invalid(format!(
                "tts.convert: provider {p:?} is not the configured speech provider ({}). Fix: leave the provider out, or set tts.provider",
                self.voices.speech_provider.as_deref().unwrap_or("none")
            ));
            return Box::pin(async move { Err(e) });
        }
        let synth = <Self as Handler<Synthesize>>::handle(
            self,
            Synthesize {
                method: "tts.convert",
                voice: VoiceKind::Tts,
                text: msg.text,
                req: msg.req,
            },
            ctx,
        );
        let store = self.store.clone();
        let dir = self.shared.config.state_dir.clone();
        Box::pin(async move {
            let clip = synth.await?;
            let name = format!(
                "{}/tts-{}{}",
                crate::media::MEDIA_DIR,
                uuid::Uuid::new_v4().simple(),
                clip.file_extension
            );
            let saved = store
                .send(SaveDocument {
                    name: name.clone(),
                    contents: clip.audio,
                })
                .await;
            StoreError::flatten(saved)
                .map_err(|e| ErrorShape::unavailable(format!("cannot save the audio: {e}")))?;
            Ok(serde_json::json!({
                "audioPath": dir.join(&name).display().to_string(),
                "provider": clip.provider,
                "outputFormat": clip.output_format,
                "voiceCompatible": clip.voice_compatible,
            }))
        })
    }
}

/// `talk.mode {enabled, phase?}`: a client entered or left Talk mode; every operator with
/// `operator.talk` is told (`talk.mode` event, dropped for a client that is behind).
/// Answers the event's payload `{enabled, phase, ts}`.
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, crate::protocol::error::ErrorShape>")]
pub struct TalkMode {
    /// Talk on or off.
    pub enabled: bool,
    /// The client's phase (`listening`, `thinking`, `speaking`, …), free text.
    pub phase: Option<String>,
    /// The caller is WebChat: Talk needs a connected Talk-capable node for it (OpenClaw's
    /// `hasConnectedTalkNode`).
    pub needs_talk_node: bool,
}

impl Registry {
    /// Whether a connected node can handle Talk: it declares the `talk` capability or an
    /// approved `talk.*` command.
    fn talk_node_connected(&self) -> bool {
        self.nodes
            .ids()
            .filter_map(|id| self.nodes.get(id))
            .any(|n| {
                n.descriptor
                    .caps
                    .iter()
                    .any(|c| c.trim().eq_ignore_ascii_case("talk"))
                    || n.approved.iter().any(|c| {
                        c.trim()
                            .get(..5)
                            .is_some_and(|p| p.eq_ignore_ascii_case("talk."))
                    })
            })
    }
}

impl Handler<TalkMode> for Registry {
    type Result = Result<serde_json::Value, crate::protocol::error::ErrorShape>;

    fn handle(&mut self, msg: TalkMode, _: &mut Self::Context) -> Self::Result {
        if msg.needs_talk_node && !self.talk_node_connected() {
            return Err(crate::protocol::error::ErrorShape::unavailable(
                "talk disabled: no connected Talk-capable nodes",
            ));
        }
        let payload = serde_json::json!({
            "enabled": msg.enabled,
            "phase": msg.phase,
            "ts": crate::util::now_ms(),
        });
        self.broadcast("talk.mode", &payload, false, None);
        Ok(payload)
    }
}
