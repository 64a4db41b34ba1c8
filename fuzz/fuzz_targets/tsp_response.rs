//! RFC 3161 `TimeStampResp`s from untrusted bytes, as `verify-artifact` reads bundles.
//!
//! Properties: parsing and verification never panic; whatever the bytes, nothing verifies
//! against a root whose key nobody else holds unless a token really is signed under it.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use warden_signing::SigningAuthority;
use warden_verifier::tsa::verify_timestamp;
use warden_wire::tsp::parse_response;

static ROOTS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("a valid time");
    let authority =
        SigningAuthority::create("fuzz", at, [[1; 16], [2; 16]]).expect("the authority is made");
    vec![authority.root_certificate().to_vec()]
});

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
    // A fresh root generated in this process: no input can carry a token signed under it.
    assert!(verify_timestamp(data, b"fuzz", &ROOTS, &[]).is_err());
    assert!(verify_timestamp(data, b"fuzz", &[], &[]).is_err());
});
