//! SEV-SNP bytes from untrusted sources: reports (raw, hex or JSON files), GHCB certificate
//! tables, endorsement certificates and CRLs.
//!
//! Property: every parser returns an error or a value, never panics, and a parsed report can be
//! taken through the whole verification pipeline (which must then reject it: nothing here is
//! signed by AMD).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_verifier::ExpectedBinding;
use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements, vek_extensions};
use warden_verifier::tee::snp::{SnpEvidence, SnpVerifier};
use warden_wire::snp::{Generation, Report, parse_cert_table};

static VERIFIER: LazyLock<SnpVerifier> =
    LazyLock::new(|| SnpVerifier::new(AmdRoots::pinned(), Endorsements::default()));

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = Report::parse(data) {
        for generation in Generation::ALL {
            let _ = report.reported_tcb().decode(generation);
        }
        let _ = (
            report.cpuid(),
            report.signing_key(),
            report.launch_mit_vector(),
        );
    }
    let _ = parse_cert_table(data);
    let _ = vek_extensions(data);
    let _ = Endorsements::default().add_bytes(data);
    if let Ok(evidence) = SnpEvidence::from_file_bytes(data) {
        let examination = VERIFIER.examine_decoded(
            &evidence,
            &ExpectedBinding::default(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(!examination.verified(), "unsigned fuzz input verified");
    }
});
