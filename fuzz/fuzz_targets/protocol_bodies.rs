//! KBS request bodies (`/auth`, `/attest`) and resource paths from untrusted bytes.
//!
//! Property: parsing and every step the KBS takes on a parsed body before it trusts anything
//! (JWK validation, runtime-data digest, sample evidence verification) returns errors, never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::Verifier as _;
use warden_verifier::tee::sample::SampleVerifier;
use warden_wire::{Attestation, Request, ResourcePath, TeePublicKey};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Request>(data);

    if let Ok(att) = serde_json::from_slice::<Attestation>(data) {
        let _ = TeePublicKey::from_jwk_value(&att.runtime_data.tee_pubkey);
        let _ = warden_wire::runtime_data_digest(
            &att.runtime_data.nonce,
            &att.runtime_data.tee_pubkey,
            &att.tee_evidence.additional_evidence,
        );
        let expected = warden_verifier::ExpectedBinding::runtime([0u8; 48]);
        let _ = SampleVerifier.examine(
            &att.tee_evidence.primary_evidence,
            &expected,
            time::OffsetDateTime::UNIX_EPOCH,
        );
    }

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ResourcePath::parse(text);
    }
});
