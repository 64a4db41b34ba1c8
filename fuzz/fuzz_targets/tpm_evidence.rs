//! TPM and Azure vTPM evidence JSON, and Azure HCL reports, from untrusted attesters.
//!
//! Property: decoding and examination return a result, never panic; with no trusted AK and no
//! AMD endorsements beyond the pinned roots, nothing the fuzzer writes is ever verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use time::OffsetDateTime;
use warden_verifier::tee::azure::AzureVtpmVerifier;
use warden_verifier::tee::snp::SnpVerifier;
use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements};
use warden_verifier::tee::tpm::TpmVerifier;
use warden_verifier::tee::tpm::trust::TpmTrust;
use warden_verifier::tee::{ExpectedBinding, Verifier};
use warden_wire::azure::{AzureEvidence, HclReport};
use warden_wire::tpm::Evidence;

fuzz_target!(|data: &[u8]| {
    let _ = HclReport::parse(data);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let at = OffsetDateTime::UNIX_EPOCH;
    let expected = ExpectedBinding::default();
    if Evidence::from_value(&value).is_ok() {
        let tpm = TpmVerifier::new(TpmTrust::default());
        assert!(
            !tpm.examine(&value, &expected, at).verified(),
            "untrusted AK verified"
        );
    }
    if AzureEvidence::from_value(&value).is_ok() {
        let snp = Arc::new(SnpVerifier::new(
            AmdRoots::pinned(),
            Endorsements::default(),
        ));
        let azure = AzureVtpmVerifier::snp(snp);
        assert!(
            !azure.examine(&value, &expected, at).verified(),
            "fuzzed Azure evidence verified"
        );
    }
});
