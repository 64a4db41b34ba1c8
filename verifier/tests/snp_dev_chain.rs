//! SEV-SNP checks that need a chain we control: reports from the agent's INSECURE sim-snp
//! development chain, revocation through CRLs signed by its ARK.
#![allow(clippy::unwrap_used)]

use time::{Duration, OffsetDateTime};
use warden_agent::attester::sim_snp::{DevChain, SIM_ASK_SERIAL, SIM_VCEK_SERIAL};
use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements};
use warden_verifier::tee::snp::{SnpEvidence, SnpVerifier};
use warden_verifier::tee::{Examination, ExpectedBinding, Verifier};

struct Fixture {
    chain: DevChain,
    dir: tempfile::TempDir,
}

fn new_fixture() -> Fixture {
    let chain = DevChain::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    chain.write(dir.path()).unwrap();
    Fixture { chain, dir }
}

impl Fixture {
    fn roots(&self) -> AmdRoots {
        AmdRoots::pinned().with(AmdRoots::load_dev_roots(self.dir.path()).unwrap())
    }

    fn examine(&self, verifier: &SnpVerifier, at: OffsetDateTime) -> Examination {
        let evidence = self.chain.signed_report(&[7; 48]).unwrap().to_evidence();
        verifier.examine(&evidence, &ExpectedBinding::runtime([7; 48]), at)
    }

    fn crl(&self, revoked: &[u64], now: OffsetDateTime) -> Endorsements {
        let der = self
            .chain
            .crl(revoked, now - Duration::days(1), now + Duration::days(7))
            .unwrap();
        let mut endorsements = Endorsements::default();
        endorsements.add_bytes(&der).unwrap();
        endorsements
    }
}

fn failed(examination: &Examination) -> Vec<&'static str> {
    examination.failed_checks().iter().map(|c| c.name).collect()
}

#[test]
fn sim_snp_reports_verify_only_with_the_dev_roots_and_are_marked_insecure() {
    let fixture = new_fixture();
    let now = OffsetDateTime::now_utc();
    let trusted = SnpVerifier::new(fixture.roots(), Endorsements::default());
    let examination = fixture.examine(&trusted, now);
    assert!(examination.verified(), "{:?}", examination.failed_checks());
    assert_eq!(examination.claims["generation"], "Genoa");
    assert_eq!(examination.insecure.len(), 1);
    assert!(examination.insecure[0].contains("INSECURE"));

    let pinned_only = SnpVerifier::new(AmdRoots::pinned(), Endorsements::default());
    assert_eq!(failed(&fixture.examine(&pinned_only, now)), ["vek_chain"]);

    // Another developer's chain is not this one.
    let other = new_fixture();
    let wrong_roots = SnpVerifier::new(other.roots(), Endorsements::default());
    assert_eq!(failed(&fixture.examine(&wrong_roots, now)), ["vek_chain"]);
}

#[test]
fn the_evidence_json_form_survives_a_round_trip() {
    let fixture = new_fixture();
    let collected = fixture.chain.signed_report(&[1; 48]).unwrap();
    let decoded = SnpEvidence::from_json(&collected.to_evidence()).unwrap();
    assert_eq!(decoded.report, collected.report);
    assert_eq!(
        decoded.endorsements,
        vec![fixture.chain.vcek_der().to_vec()]
    );
}

#[test]
fn crls_from_the_ark_revoke_and_must_be_fresh() {
    let fixture = new_fixture();
    let now = OffsetDateTime::now_utc();
    let verify = |crls: Endorsements, require: bool, at: OffsetDateTime| {
        let verifier = SnpVerifier::new(fixture.roots(), crls).require_crl(require);
        fixture.examine(&verifier, at)
    };

    let clean = verify(fixture.crl(&[99], now), true, now);
    assert!(clean.verified(), "{:?}", clean.failed_checks());
    assert!(
        clean
            .checks
            .iter()
            .any(|c| c.name == "revocation" && c.detail.starts_with("not revoked"))
    );

    for serial in [SIM_VCEK_SERIAL, SIM_ASK_SERIAL] {
        let revoked = verify(fixture.crl(&[serial], now), false, now);
        assert_eq!(failed(&revoked), ["revocation"], "serial {serial}");
    }

    // Past its nextUpdate the CRL proves nothing.
    let stale = verify(fixture.crl(&[], now), false, now + Duration::days(30));
    assert_eq!(failed(&stale), ["revocation"]);

    // Required but absent, or only from another ARK: refused.
    assert_eq!(
        failed(&verify(Endorsements::default(), true, now)),
        ["revocation"]
    );
    let other = new_fixture();
    assert_eq!(
        failed(&verify(other.crl(&[], now), true, now)),
        ["revocation"]
    );
    // Not required and absent: passes, saying revocation was not checked.
    let unchecked = verify(Endorsements::default(), false, now);
    assert!(unchecked.verified());
    assert!(
        unchecked
            .checks
            .iter()
            .any(|c| c.name == "revocation" && c.detail.starts_with("not checked"))
    );
}

#[test]
fn only_the_first_few_certificates_in_evidence_are_considered() {
    let fixture = new_fixture();
    let now = OffsetDateTime::now_utc();
    let verifier = SnpVerifier::new(fixture.roots(), Endorsements::default());
    let collected = fixture.chain.signed_report(&[7; 48]).unwrap();
    let vcek = fixture.chain.vcek_der().to_vec();
    let junk = new_fixture().chain.vcek_der().to_vec();
    let mut evidence = SnpEvidence {
        report: collected.report,
        endorsements: [vec![junk; 8], vec![vcek]].concat(),
    };
    let expected = ExpectedBinding::runtime([7; 48]);
    // The right VCEK ninth: never read, so only the eight from an untrusted chain are tried.
    let examination = verifier.examine_decoded(&evidence, &expected, now);
    assert_eq!(failed(&examination), ["vek_chain"]);
    evidence.endorsements.rotate_right(1);
    assert!(
        verifier
            .examine_decoded(&evidence, &expected, now)
            .verified()
    );
}
