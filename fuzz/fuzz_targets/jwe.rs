//! Flattened JWE envelopes from untrusted bytes (the agent's side of `/resource`).
//!
//! Property: `parse_flattened` and `TeeKeyPair::decrypt` return errors, never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_wire::TeeKeyPair;
use warden_wire::jwe::{KeyAlgorithm, parse_flattened};

/// One key pair for the whole run: generating per input would dominate the execution time.
fn key_pair() -> &'static TeeKeyPair {
    static PAIR: OnceLock<TeeKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).expect("P-256 key generation")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = parse_flattened(data) {
        let _ = key_pair().decrypt(&envelope);
    }
});
