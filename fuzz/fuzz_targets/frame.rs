//! Inbound WebSocket text frames: `parse_inbound` (the full classification every frame
//! gets) and `peek_request` (the cheap head parse used before access checks) must never
//! panic, and must agree: when the peek finds a request, the full parse finds the same id
//! and method, or refuses it as a bad request under that same id (so the client is answered).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::protocol::frame::{Inbound, parse_inbound, peek_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // a WebSocket text frame is UTF-8 by definition (the codec rejects others)
    };
    let peeked = peek_request(text);
    let full = parse_inbound(text);
    if let Some((id, method)) = peeked {
        match full {
            Inbound::Request(r) => {
                assert_eq!(r.id, id, "peek and parse disagree on the id");
                assert_eq!(r.method, method, "peek and parse disagree on the method");
            }
            Inbound::BadRequest { id: bad_id, .. } => {
                assert_eq!(
                    bad_id, id,
                    "a refused request must be answered under its id"
                );
            }
            other => panic!("peek found request {id}/{method}, parse says {other:?}"),
        }
    }
});
