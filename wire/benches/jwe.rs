//! JWE encryption (the KBS's per-release cost) and decryption (the agent's), per key type.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use warden_wire::jwe::KeyAlgorithm;
use warden_wire::{TeeKeyPair, TeePublicKey};

fn jwe(c: &mut Criterion) {
    let secret = [0x42u8; 32];
    for (name, algorithm) in [
        ("ecdh-es+a256kw-p256", KeyAlgorithm::EcdhEsA256kw),
        ("rsa-oaep-256-2048", KeyAlgorithm::RsaOaep256),
    ] {
        let pair = TeeKeyPair::generate(algorithm).expect("key");
        let jwk = pair.public_jwk();
        // The KBS parses (and validates) the TEE key once per attestation.
        c.bench_function(&format!("jwe_tee_key_parse/{name}"), |b| {
            b.iter(|| TeePublicKey::from_jwk_value(&jwk).expect("public key"))
        });
        let public = TeePublicKey::from_jwk_value(&jwk).expect("public key");
        c.bench_function(&format!("jwe_encrypt/{name}"), |b| {
            b.iter(|| public.encrypt(&secret).expect("encrypt"))
        });
        let envelope = public.encrypt(&secret).expect("encrypt");
        c.bench_function(&format!("jwe_decrypt/{name}"), |b| {
            b.iter(|| pair.decrypt(&envelope).expect("decrypt"))
        });
    }
}

criterion_group!(benches, jwe);
criterion_main!(benches);
