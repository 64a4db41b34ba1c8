//! PKCS#10 certification requests from untrusted bytes (`POST /kbs/v0/signing/certificate`).
//!
//! Properties: `verify_csr` never panics; what it accepts is a key Warden certifies, named by
//! the SHA-256 of its SubjectPublicKeyInfo, and the CA issues a certificate for it.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use warden_signing::{LeafRequest, SigningAuthority, verify_csr};

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("a valid time")
}

static AUTHORITY: LazyLock<SigningAuthority> = LazyLock::new(|| {
    SigningAuthority::create("fuzz", at(), [[1; 16], [2; 16]]).expect("the authority is made")
});

fuzz_target!(|data: &[u8]| {
    let Ok(csr) = verify_csr(data) else {
        return;
    };
    assert_eq!(csr.keyid, warden_wire::signing_key::spki_keyid(&csr.spki));
    AUTHORITY
        .issue(&LeafRequest {
            spki: &csr.spki,
            identity: "https://kbs.example/builders/fuzz",
            issuer: "https://kbs.example",
            attested_facts: "{}",
            not_before: at(),
            not_after: at() + time::Duration::minutes(10),
            serial: [3; 16],
        })
        .expect("an accepted request is certified");
});
