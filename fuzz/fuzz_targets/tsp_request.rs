//! RFC 3161 `TimeStampReq`s from untrusted bytes, straight into Warden's TSA.
//!
//! Properties: parsing and answering never panic; every answer is a `TimeStampResp` that
//! parses; a token is granted exactly when the request parses and names no other policy, and
//! then the token is one Warden's own verifier accepts for a message with that imprint (so the
//! only possible verification error over other bytes is the imprint itself).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use warden_signing::SigningAuthority;
use warden_signing::tsa::{TSA_POLICY, respond};
use warden_verifier::tsa::{TimestampError, verify_timestamp};
use warden_wire::tsp::{PkiStatus, parse_request, parse_response};

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("a valid time")
}

static AUTHORITY: LazyLock<SigningAuthority> = LazyLock::new(|| {
    SigningAuthority::create("fuzz", at(), [[1; 16], [2; 16]]).expect("the authority is made")
});

fuzz_target!(|data: &[u8]| {
    let request = parse_request(data);
    let response = respond(
        data,
        at(),
        [3; 16],
        AUTHORITY.tsa_key(),
        AUTHORITY.tsa_certificate(),
        TSA_POLICY,
    );
    let parsed = parse_response(&response).expect("the TSA's own response parses");
    let servable = request
        .as_ref()
        .is_ok_and(|r| r.req_policy.as_deref().is_none_or(|p| p == TSA_POLICY));
    assert_eq!(parsed.status == PkiStatus::Granted, servable);
    if servable {
        let roots = [AUTHORITY.root_certificate().to_vec()];
        let extra = [AUTHORITY.tsa_certificate().to_vec()];
        match verify_timestamp(&response, b"", &roots, &extra) {
            Ok(_) | Err(TimestampError::Imprint) => {}
            Err(other) => panic!("a granted token does not verify: {other}"),
        }
    } else {
        assert!(parsed.token.is_none());
        assert_eq!(parsed.fail_info.map(|bits| bits.len()), Some(1));
    }
});
