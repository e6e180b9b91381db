//! The OpenAI-compatible endpoints' request reading (`openclaw::http::openai`,
//! `openclaw::http::openresponses`): a JSON body's sampling fields, its `messages` (or its
//! Responses `input` and `instructions`) turned into the agent's prompt, model ids and the
//! percent-decoding of `/v1/models/{id}`. Nothing may panic; on top of that:
//!
//! - a prompt is at most `MAX_PROMPT_BYTES` and holds the current turn's text;
//! - the latest user message gives at most `MAX_IMAGES` images;
//! - a model id that names an agent names one of 1-64 `a-z0-9_-` characters, and is an
//!   agent model id;
//! - percent-decoding reads back every string percent-encoded byte by byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::http::openai::{
    MAX_IMAGES, MAX_PROMPT_BYTES, build_prompt, check_sampling, is_agent_model_id, latest_images,
    model_agent, percent_decode,
};
use openclaw::http::openresponses::input_messages;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = is_agent_model_id(text);
        if let Some(id) = model_agent(text) {
            assert!(!id.is_empty() && id.len() <= 64, "{id:?}");
            assert!(
                id.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'-'),
                "{id:?}"
            );
            assert!(is_agent_model_id(text), "{text:?}");
        }
        let _ = percent_decode(text);
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(percent_decode(&encoded).as_deref(), Some(text));
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(o) = body.as_object() {
        let _ = check_sampling(o);
        if let Some(input) = o.get("input") {
            let instructions = o.get("instructions").and_then(Value::as_str);
            if let Ok(messages) = input_messages(instructions, input)
                && let Ok(prompt) = build_prompt(&messages)
            {
                assert!(prompt.len() <= MAX_PROMPT_BYTES);
            }
        }
    }
    let messages = match &body {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("messages") {
            Some(Value::Array(a)) => a.as_slice(),
            _ => return,
        },
        _ => return,
    };
    if let Ok(prompt) = build_prompt(messages) {
        assert!(prompt.len() <= MAX_PROMPT_BYTES);
    }
    if let Ok(images) = latest_images(messages) {
        assert!(images.len() <= MAX_IMAGES, "{}", images.len());
    }
});
