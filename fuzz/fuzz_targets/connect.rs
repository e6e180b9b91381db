//! `connect` params and device proofs: `connect::parse` on any JSON value, then — for
//! params that validate and carry a device — the signature payloads and `verify_proof`
//! against a fixed challenge. Nothing may panic; a proof over these bytes must not verify
//! (the fuzzer cannot forge Ed25519), except for the seeds' own challenge nonce and time,
//! which are not the ones used here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::identity::{payload_v2, payload_v3, verify_proof};
use openclaw::actors::protocol::connect;

const NONCE: &str = "fuzz-nonce-00000000";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(params) = connect::parse(&value) else {
        return;
    };
    if let Some(proof) = &params.device {
        let _ = payload_v3(&params, &proof.id, proof.signed_at, NONCE);
        let _ = payload_v2(&params, &proof.id, proof.signed_at, NONCE);
        // Around the claimed time (so the skew check passes and the signature is checked),
        // and far from it.
        let res = verify_proof(&params, proof, NONCE, proof.signed_at);
        assert!(res.is_err(), "a fuzzed device proof verified: {proof:?}");
        let _ = verify_proof(&params, proof, NONCE, 0);
        let _ = verify_proof(&params, proof, NONCE, u64::MAX);
    }
});
