//! SEV-SNP evidence JSON as the KBS receives it (`tee-evidence.primary_evidence`): Warden's
//! `{"report", "cert_table"}` form and CoCo's `{"attestation_report", "cert_chain"}` form.
//!
//! Property: decoding and examination return checks, never panic, and never verify.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_verifier::ExpectedBinding;
use warden_verifier::Verifier as _;
use warden_verifier::tee::snp::SnpVerifier;
use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements};

static VERIFIER: LazyLock<SnpVerifier> =
    LazyLock::new(|| SnpVerifier::new(AmdRoots::pinned(), Endorsements::default()));

fuzz_target!(|data: &[u8]| {
    let Ok(evidence) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let examination = VERIFIER.examine(
        &evidence,
        &ExpectedBinding::runtime([0; 48]),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    assert!(!examination.verified(), "unsigned fuzz input verified");
});
