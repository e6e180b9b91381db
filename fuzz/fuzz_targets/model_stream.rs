//! A model provider's streamed answer (Server-Sent Events; any bytes, as a broken or
//! hostile endpoint could send them): the first byte picks the API (OpenAI chat-completion
//! chunks, Anthropic events or OpenAI Responses events), the second how the rest is cut into network chunks. Nothing may
//! panic; cutting the same bytes differently gives the same outcome (the parser keeps no
//! state it should not); and a complete answer's text is exactly the pieces the operators
//! were shown, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::clients::sse::{StreamApi, fold_chunks};

fuzz_target!(|data: &[u8]| {
    let [pick, cut, body @ ..] = data else {
        return;
    };
    let api = match pick % 3 {
        0 => StreamApi::OpenAi,
        1 => StreamApi::Anthropic,
        _ => StreamApi::OpenAiResponses,
    };
    // Chunks of 1..=16 bytes, sizes from a small generator seeded by `cut`.
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    let mut state = u32::from(*cut) | 1;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 16 + 1) as usize;
        let (c, r) = rest.split_at(n.min(rest.len()));
        chunks.push(c);
        rest = r;
    }
    let mut cut_pieces = Vec::new();
    let cut_outcome = fold_chunks(api, &chunks, &mut cut_pieces);
    let mut whole_pieces = Vec::new();
    let whole_outcome = fold_chunks(api, &[body], &mut whole_pieces);
    assert_eq!(
        format!("{cut_outcome:?}"),
        format!("{whole_outcome:?}"),
        "the same stream cut differently"
    );
    if cut_outcome.is_ok() {
        assert_eq!(cut_pieces, whole_pieces);
    }
    if let Ok(Some(resp)) = &cut_outcome {
        assert_eq!(
            cut_pieces.concat(),
            resp.message.content.clone().unwrap_or_default(),
            "the pieces shown are the answer"
        );
    }
});
