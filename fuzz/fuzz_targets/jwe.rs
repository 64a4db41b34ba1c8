//! Flattened JWE envelopes from untrusted bytes (the agent's side of `/resource`).
//!
//! Property: `parse_flattened` and `TeeKeyPair::decrypt` return errors, never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_wire::jwe::{KeyAlgorithm, parse_flattened};
use warden_wire::{FlattenedJwe, TeeKeyPair, TeePublicKey};

struct Fixture {
    pair: TeeKeyPair,
    /// A genuine envelope addressed to `pair`.
    genuine: FlattenedJwe,
}

/// One key pair for the whole run: generating per input would dominate the execution time.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).expect("P-256 key generation");
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).expect("own public key");
        let genuine = public.encrypt(b"fuzz").expect("encrypt to own key");
        Fixture { pair, genuine }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse_flattened(data) else {
        return;
    };
    let Fixture { pair, genuine } = fixture();
    let _ = pair.decrypt(&envelope);

    // The key is random per run, so a fuzzed envelope alone never gets past key unwrapping. Splice
    // the fuzzed fields behind the genuine header (and key) so that AES key unwrap and AES-GCM
    // decryption also see arbitrary encrypted keys, IVs, ciphertexts and tags.
    let _ = pair.decrypt(&FlattenedJwe {
        protected: genuine.protected.clone(),
        ..envelope.clone()
    });
    let _ = pair.decrypt(&FlattenedJwe {
        protected: genuine.protected.clone(),
        encrypted_key: genuine.encrypted_key.clone(),
        ..envelope
    });
});
