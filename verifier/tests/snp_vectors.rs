//! SEV-SNP verification on the real hardware evidence in `tests/vectors/snp` (each set's
//! PROVENANCE.toml and MANIFEST.md give its source, claims, window and negatives).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::vectors;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::snp::certs::{AmdRoots, Cert, Endorsements, ProductRoots};
use warden_verifier::tee::snp::{SnpEvidence, SnpVerifier};
use warden_verifier::tee::{Examination, Verifier};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, Status, VerifierRegistry,
    VerifierSettings,
};
use warden_wire::snp::Generation;

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

/// One MANIFEST set: report file, VEK file, the time to verify at, and expected claims.
struct Set {
    dir: &'static str,
    report: &'static str,
    vek: &'static str,
    at: &'static str,
    claims: Value,
}

fn sets() -> Vec<Set> {
    vec![
        Set {
            dir: "virtee-milan",
            report: "report_milan.hex",
            vek: "vcek_milan.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 2, "guest_svn": 0, "policy": 0x30000, "smt": true, "debug": false,
                "migrate_ma": false, "single_socket": false, "vmpl": 0, "signature_algo": 1,
                "platform_info": 1, "signing_key": "vcek", "author_key_en": false,
                "measurement": "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
                "report_data": "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
                "host_data": "0".repeat(64), "id_key_digest": "0".repeat(96), "author_key_digest": "0".repeat(96),
                "report_id": "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b",
                "chip_id": "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
                "reported_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "raw": "7308000000000003"},
                "current_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "raw": "7308000000000003"},
                "committed_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "raw": "7308000000000003"},
                "launch_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "raw": "7308000000000003"},
                "current_version": "1.52.4", "generation": "Milan",
            }),
        },
        Set {
            dir: "trustee-milan-vcek",
            report: "test-report.bin",
            vek: "test-vcek.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 2, "guest_svn": 4, "policy": 0x3001f, "abi_minor": 31, "smt": true,
                "debug": false, "vmpl": 0, "family_id": "01000000000000000000000000000000",
                "image_id": "02000000000000000000000000000000",
                "measurement": "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
                "report_data": format!("ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2{}", "0".repeat(64)),
                "id_key_digest": "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3",
                "chip_id": "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
                "reported_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "raw": "7308000000000003"},
                "current_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 206, "raw": "ce08000000000003"},
                "generation": "Milan",
            }),
        },
        Set {
            dir: "trustee-milan-vlek",
            report: "test-vlek-report.bin",
            vek: "test-vlek.der",
            at: "2025-06-01T00:00:00Z",
            claims: json!({
                "version": 3, "cpuid_fam_id": 0x19, "cpuid_mod_id": 0x01, "cpuid_step": 1,
                "signing_key": "vlek", "vmpl": 1, "policy": 0x30000, "platform_info": 0x27, "debug": false,
                "chip_id": "0".repeat(128),
                "measurement": "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
                "report_data": "819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca",
                "reported_tcb": {"bootloader": 4, "tee": 0, "snp": 24, "microcode": 217, "raw": "d918000000000004"},
                "current_tcb": {"bootloader": 4, "tee": 0, "snp": 24, "microcode": 220, "raw": "dc18000000000004"},
                "launch_tcb": {"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219, "raw": "db18000000000004"},
                "vek_product_name": "Milan", "vek_csp_id": "CN=cc-us-east-2.amazonaws.com", "generation": "Milan",
            }),
        },
        Set {
            dir: "trustee-genoa-v3",
            report: "report.bin",
            vek: "vcek.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 3, "cpuid_fam_id": 0x19, "cpuid_mod_id": 0xA0, "cpuid_step": 2,
                "policy": 0x30000, "vmpl": 0, "platform_info": 37, "debug": false,
                "platform_smt_enabled": true, "platform_tsme_enabled": false, "platform_ecc_enabled": true,
                "platform_alias_check_complete": true,
                "measurement": "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e",
                "report_data": "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0",
                "chip_id": "371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67ea6e687ffae7bf84b54a5d0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8",
                "reported_tcb": {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 25, "raw": "191700000000000a"},
                "current_version": "1.55.40", "generation": "Genoa",
            }),
        },
        Set {
            dir: "go-sev-guest-milan-debug",
            report: "attestation.bin",
            vek: "vcek.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 2, "policy": 0xb0000, "debug": true, "guest_svn": 0, "vmpl": 0,
                "measurement": "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
                "report_data": format!("0102030405{}", "0".repeat(118)),
                "chip_id": "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d",
                "reported_tcb": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68, "raw": "4405000000000002"},
                "generation": "Milan",
            }),
        },
        Set {
            dir: "oak-turin-v5",
            report: "report.bin",
            vek: "vcek.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 5, "cpuid_fam_id": 0x1A, "cpuid_mod_id": 0x02, "cpuid_step": 1,
                "policy": 0x30000, "vmpl": 0, "platform_info": 0x67, "debug": false,
                "measurement": "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624",
                "report_data": format!("e0fd0bdb6aa4030a6ddea9073e1fcec5be6c782a2c8075a0825dfb3d9a81b924{}", "0".repeat(64)),
                "chip_id": format!("3b42092f69c656d3{}", "0".repeat(112)),
                "reported_tcb": {"fmc": 0, "bootloader": 1, "tee": 0, "snp": 2, "microcode": 71, "raw": "4700000002000100"},
                "current_version": "1.55.61", "launch_mit_vector": 0, "current_mit_vector": 0,
                "generation": "Turin",
            }),
        },
        Set {
            dir: "oak-genoa-v5",
            report: "report.bin",
            vek: "vcek.der",
            at: "2026-11-01T00:00:00Z",
            claims: json!({
                "version": 5, "cpuid_fam_id": 0x19, "cpuid_mod_id": 0x11, "cpuid_step": 1,
                "policy": 0x30000, "debug": false,
                "measurement": "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc",
                "report_data": format!("8100555af0ad8e7525be6dffeed0af83e30bbacbf03b76e175e6894d1ed057ce{}", "0".repeat(64)),
                "chip_id": "d2421d976f95ce0ba849b7cc5c789122f1e59c77a037272c137ae4d188bb102adbc7c53d0302bff82a432c94a305dec7a7a270ceb19a10f04a83316c6486968d",
                "reported_tcb": {"bootloader": 10, "tee": 0, "snp": 25, "microcode": 84, "raw": "541900000000000a"},
                "generation": "Genoa",
            }),
        },
    ]
}

fn read_report(dir: &Path, set_dir: &str, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(set_dir).join(name)).unwrap();
    SnpEvidence::from_file_bytes(&bytes).unwrap().report
}

fn endorsements(dir: &Path, files: &[(&str, &str)]) -> Endorsements {
    let mut endorsements = Endorsements::default();
    for (set_dir, name) in files {
        endorsements
            .add_file(&dir.join(set_dir).join(name))
            .unwrap();
    }
    endorsements
}

fn examine(
    verifier: &SnpVerifier,
    report: Vec<u8>,
    expected: ExpectedBinding,
    when: &str,
) -> Examination {
    let evidence = SnpEvidence {
        report,
        endorsements: Vec::new(),
    };
    verifier.examine_decoded(&evidence, &expected, at(when))
}

/// The failed checks of a set's report verified at 2026-11-01 with `vek` as the only collateral.
fn failures_in_november_2026(
    dir: &Path,
    roots: AmdRoots,
    vek: (&str, &str),
    report: (&str, &str),
) -> Vec<&'static str> {
    let verifier = SnpVerifier::new(roots, endorsements(dir, &[vek]));
    let report = read_report(dir, report.0, report.1);
    failed(&examine(
        &verifier,
        report,
        ExpectedBinding::default(),
        "2026-11-01T00:00:00Z",
    ))
}

fn failed(examination: &Examination) -> Vec<&'static str> {
    examination.failed_checks().iter().map(|c| c.name).collect()
}

/// Examines a set with its own VEK as offline collateral.
fn examine_set(dir: &Path, set: &Set, when: &str) -> Examination {
    let verifier = SnpVerifier::new(AmdRoots::pinned(), endorsements(dir, &[(set.dir, set.vek)]));
    let report_data = hex::decode(set.claims["report_data"].as_str().unwrap()).unwrap();
    let expected = ExpectedBinding {
        report_data: Some(report_data),
        init_data_digest: None,
    };
    examine(
        &verifier,
        read_report(dir, set.dir, set.report),
        expected,
        when,
    )
}

#[test]
fn every_set_verifies_with_its_manifest_claims() {
    let dir = vectors::tee("snp");
    for set in sets() {
        let examination = examine_set(&dir, &set, set.at);
        assert!(
            examination.verified(),
            "{}: {:?}",
            set.dir,
            examination.failed_checks()
        );
        for (name, value) in set.claims.as_object().unwrap() {
            assert_eq!(
                examination.claims.get(name),
                Some(value),
                "{}: claim {name}",
                set.dir
            );
        }
        assert!(
            examination.insecure.is_empty(),
            "{}: pinned AMD roots",
            set.dir
        );
        let names: Vec<_> = examination.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "report_format",
                "signature_algorithm",
                "vek_chain",
                "generation",
                "validity",
                "revocation",
                "vek_hwid",
                "vek_tcb",
                "report_signature",
                "report_data"
            ],
            "{}",
            set.dir
        );
    }
}

fn appraiser(reference: Value) -> Appraiser {
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
    Appraiser::new(
        VerifierRegistry::new(&VerifierSettings::default()),
        policy,
        ReferenceValues::new(serde_json::from_value(reference).unwrap()),
    )
}

/// Appraises a set through the registry (Warden JSON evidence carrying the VEK) and the policy.
fn appraise_set(
    dir: &Path,
    set: &Set,
    reference: Value,
    when: &str,
) -> Result<warden_verifier::AttestationResult, warden_verifier::Rejection> {
    let evidence = SnpEvidence {
        report: read_report(dir, set.dir, set.report),
        endorsements: vec![std::fs::read(dir.join(set.dir).join(set.vek)).unwrap()],
    }
    .to_json();
    let request = AppraisalRequest {
        init_data: None,
        tee: "snp",
        evidence: &evidence,
        expected: ExpectedBinding {
            report_data: Some(hex::decode(set.claims["report_data"].as_str().unwrap()).unwrap()),
            init_data_digest: None,
        },
    };
    common::both_ways::appraise(appraiser(reference), &request, at(when))
}

fn set(name: &str) -> Set {
    sets().into_iter().find(|s| s.dir == name).unwrap()
}

#[test]
fn default_policy_affirms_known_measurements_and_warns_on_unknown_ones() {
    let dir = vectors::tee("snp");
    for set in sets()
        .into_iter()
        .filter(|s| s.dir != "go-sev-guest-milan-debug")
    {
        let measurement = set.claims["measurement"].clone();
        let known = appraise_set(
            &dir,
            &set,
            json!({"snp": {"measurements": [measurement]}}),
            set.at,
        )
        .unwrap();
        assert_eq!(known.status, Status::Affirming, "{}", set.dir);
        let unknown = appraise_set(
            &dir,
            &set,
            json!({"snp": {"measurements": ["00".repeat(48)]}}),
            set.at,
        )
        .unwrap();
        assert_eq!(unknown.status, Status::Warning, "{}", set.dir);
        assert_eq!(unknown.trust_vector.executables, Some(33));
    }
}

#[test]
fn debug_guest_is_refused_by_default_and_accepted_when_the_policy_allows_debug() {
    let dir = vectors::tee("snp");
    let set = set("go-sev-guest-milan-debug");
    let measurement = set.claims["measurement"].clone();
    let default = appraise_set(
        &dir,
        &set,
        json!({"snp": {"measurements": [measurement]}}),
        set.at,
    )
    .unwrap();
    assert_eq!(default.status, Status::Contraindicated);
    assert_eq!(default.trust_vector.configuration, Some(96));
    let allowed = appraise_set(
        &dir,
        &set,
        json!({"snp": {"measurements": [measurement], "allow_debug": true}}),
        set.at,
    )
    .unwrap();
    assert_eq!(allowed.status, Status::Affirming);
    // Its firmware (SNP SPL 5) is also old: a minimum TCB turns the result into a warning.
    let outdated = appraise_set(
        &dir,
        &set,
        json!({"snp": {"measurements": [measurement], "allow_debug": true, "min_tcb": {"snp": 8}}}),
        set.at,
    )
    .unwrap();
    assert_eq!(outdated.status, Status::Warning);
    assert_eq!(outdated.trust_vector.hardware, Some(32));
}

#[test]
fn vlek_set_is_accepted_in_its_window_and_expired_in_november_2026() {
    let dir = vectors::tee("snp");
    let set = set("trustee-milan-vlek");
    let examination = examine_set(&dir, &set, "2025-06-01T00:00:00Z");
    assert!(examination.verified());
    assert!(
        examination
            .checks
            .iter()
            .any(|c| c.name == "vek_chain" && c.detail.contains("SEV-VLEK-Milan")),
        "VLEK chains through the ASVK"
    );
    let expired = examine_set(&dir, &set, "2026-11-01T00:00:00Z");
    assert_eq!(failed(&expired), ["validity"]);
    let detail = &expired.failed_checks()[0].detail;
    assert!(detail.contains("2025-12-10T22:14:21Z"), "{detail}");
    // A policy requiring VMPL 0 refuses it.
    let measurement = set.claims["measurement"].clone();
    let vmpl0 = appraise_set(
        &dir,
        &set,
        json!({"snp": {"measurements": [measurement], "vmpls": [0]}}),
        set.at,
    )
    .unwrap();
    assert_eq!(vmpl0.status, Status::Contraindicated);
}

/// Flips one bit of a report and re-examines it with the set's VEK.
fn flipped(dir: &Path, set: &Set, offset: usize, mask: u8) -> Examination {
    let mut report = read_report(dir, set.dir, set.report);
    report[offset] ^= mask;
    let verifier = SnpVerifier::new(AmdRoots::pinned(), endorsements(dir, &[(set.dir, set.vek)]));
    examine(&verifier, report, ExpectedBinding::default(), set.at)
}

#[test]
fn bit_flips_in_the_signed_region_or_the_signature_break_the_signature() {
    let dir = vectors::tee("snp");
    for set in sets() {
        // measurement, report_data, policy's debug bit, key_info's author bit, reported_tcb, r, s
        for (offset, mask) in [
            (0x90, 1),
            (0x50, 0x80),
            (0x0A, 0x08),
            (0x48, 1),
            (0x2A0, 1),
            (0x2E8, 0x40),
        ] {
            let examination = flipped(&dir, &set, offset, mask);
            assert!(
                failed(&examination).contains(&"report_signature"),
                "{} offset {offset:#x}: {:?}",
                set.dir,
                examination.failed_checks()
            );
        }
        // REPORTED_TCB: the signature and the VEK's SPLs both disagree.
        let tcb = flipped(&dir, &set, 0x180, 1);
        assert!(failed(&tcb).contains(&"report_signature"), "{}", set.dir);
        assert!(failed(&tcb).contains(&"vek_tcb"), "{}", set.dir);
    }
}

#[test]
fn another_chips_vcek_is_rejected_for_hwid_and_signature() {
    let dir = vectors::tee("snp");
    let verifier = SnpVerifier::new(
        AmdRoots::pinned(),
        endorsements(&dir, &[("trustee-milan-vcek", "test-vcek.der")]),
    );
    let report = read_report(&dir, "virtee-milan", "report_milan.hex");
    let examination = examine(
        &verifier,
        report,
        ExpectedBinding::default(),
        "2026-11-01T00:00:00Z",
    );
    let failures = failed(&examination);
    assert!(failures.contains(&"vek_hwid"), "{failures:?}");
    assert!(failures.contains(&"report_signature"), "{failures:?}");
    // The Turin report against the Genoa v5 VCEK: wrong generation and wrong key.
    let failures = failures_in_november_2026(
        &dir,
        AmdRoots::pinned(),
        ("oak-genoa-v5", "vcek.der"),
        ("oak-turin-v5", "report.bin"),
    );
    assert!(
        failures.contains(&"generation") && failures.contains(&"report_signature"),
        "{failures:?}"
    );
}

#[test]
fn synthetic_vceks_parse_in_both_hwid_encodings_but_fail_the_chain() {
    let dir = vectors::tee("snp");
    let expected_hw_id: Vec<u8> = (0..64).collect();
    for name in ["test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der"] {
        let der = std::fs::read(dir.join("trustee-milan-vcek").join(name)).unwrap();
        let extensions = warden_verifier::tee::snp::certs::vek_extensions(&der).unwrap();
        assert_eq!(
            extensions.hw_id.as_deref(),
            Some(expected_hw_id.as_slice()),
            "{name}"
        );
        let verifier = SnpVerifier::new(
            AmdRoots::pinned(),
            endorsements(&dir, &[("trustee-milan-vcek", name)]),
        );
        let report = read_report(&dir, "trustee-milan-vcek", "test-report.bin");
        let examination = examine(
            &verifier,
            report,
            ExpectedBinding::default(),
            "2026-11-01T00:00:00Z",
        );
        assert_eq!(failed(&examination), ["vek_chain"], "{name}");
    }
}

#[test]
fn a_vcek_byte_flip_breaks_the_chain() {
    let dir = vectors::tee("snp");
    let mut der = std::fs::read(dir.join("virtee-milan/vcek_milan.der")).unwrap();
    assert_eq!(&der[101..103], b"En");
    der[102] ^= 1;
    let mut collateral = Endorsements::default();
    // Byte 102 lies inside the signed TBS (the issuer's OU "Engineering"): still DER, no longer
    // AMD-signed.
    collateral.add_bytes(&der).unwrap();
    let verifier = SnpVerifier::new(AmdRoots::pinned(), collateral);
    let report = read_report(&dir, "virtee-milan", "report_milan.hex");
    let examination = examine(
        &verifier,
        report,
        ExpectedBinding::default(),
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(failed(&examination), ["vek_chain"]);
}

#[test]
fn an_asvk_in_place_of_the_ask_or_the_wrong_generations_roots_break_the_chain() {
    let dir = vectors::tee("snp");
    let pinned = AmdRoots::pinned();
    let milan = pinned
        .products
        .iter()
        .find(|p| p.generation == Generation::Milan)
        .unwrap();
    let asvk_as_ask = ProductRoots {
        ask: milan.asvk.clone().unwrap(),
        ..milan.clone()
    };
    let verifier = SnpVerifier::new(
        AmdRoots {
            products: vec![asvk_as_ask],
        },
        endorsements(&dir, &[("trustee-milan-vcek", "test-vcek.der")]),
    );
    let report = read_report(&dir, "trustee-milan-vcek", "test-report.bin");
    let examination = examine(
        &verifier,
        report.clone(),
        ExpectedBinding::default(),
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(failed(&examination), ["vek_chain"]);
    assert!(
        examination.failed_checks()[0]
            .detail
            .contains("SEV-VLEK-Milan")
    );

    // Only Genoa's roots trusted: the Milan VCEK does not chain.
    let genoa_only = AmdRoots {
        products: pinned
            .products
            .iter()
            .filter(|p| p.generation == Generation::Genoa)
            .cloned()
            .collect(),
    };
    let verifier = SnpVerifier::new(
        genoa_only,
        endorsements(&dir, &[("trustee-milan-vcek", "test-vcek.der")]),
    );
    assert_eq!(
        failed(&examine(
            &verifier,
            report,
            ExpectedBinding::default(),
            "2026-11-01T00:00:00Z"
        )),
        ["vek_chain"]
    );

    // Turin's chain labelled as Milan: the chain verifies, but the TCB decoded with the Milan
    // layout no longer matches the VCEK, and CPUID contradicts the label. Nothing "fixes" it.
    let turin = pinned
        .products
        .iter()
        .find(|p| p.generation == Generation::Turin)
        .unwrap();
    let mislabelled = ProductRoots {
        generation: Generation::Milan,
        ..turin.clone()
    };
    let failures = failures_in_november_2026(
        &dir,
        AmdRoots {
            products: vec![mislabelled],
        },
        ("oak-turin-v5", "vcek.der"),
        ("oak-turin-v5", "report.bin"),
    );
    assert!(
        failures.contains(&"vek_tcb") && failures.contains(&"generation"),
        "{failures:?}"
    );
}

#[test]
fn truncated_oversized_and_unbound_reports_are_rejected_with_the_right_reason() {
    let dir = vectors::tee("snp");
    let set = set("virtee-milan");
    let verifier = SnpVerifier::new(
        AmdRoots::pinned(),
        endorsements(&dir, &[(set.dir, set.vek)]),
    );
    let report = read_report(&dir, set.dir, set.report);
    for bad in [
        report[..1183].to_vec(),
        [report.clone(), vec![0]].concat(),
        Vec::new(),
    ] {
        let examination = examine(&verifier, bad, ExpectedBinding::default(), set.at);
        assert_eq!(failed(&examination), ["report_format"]);
    }
    let wrong = ExpectedBinding {
        report_data: Some(vec![0xd4, 0x47, 0xb5, 0x5e]),
        init_data_digest: None,
    };
    assert_eq!(
        failed(&examine(&verifier, report.clone(), wrong, set.at)),
        ["report_data"]
    );
    // HOST_DATA is all zero in this report: a presented init-data digest does not match it.
    let init = ExpectedBinding {
        report_data: None,
        init_data_digest: Some(vec![1; 32]),
    };
    assert_eq!(
        failed(&examine(&verifier, report, init, set.at)),
        ["host_data"]
    );
    // No VEK anywhere.
    let bare = SnpVerifier::new(AmdRoots::pinned(), Endorsements::default());
    let report = read_report(&dir, set.dir, set.report);
    assert_eq!(
        failed(&examine(&bare, report, ExpectedBinding::default(), set.at)),
        ["vek_chain"]
    );
}

#[test]
fn coco_json_evidence_verifies_and_a_changed_field_breaks_the_signature() {
    let dir = vectors::tee("snp");
    let text = std::fs::read_to_string(dir.join("trustee-genoa-v3/evidence.json")).unwrap();
    let mut evidence: Value = serde_json::from_str(&text).unwrap();
    let verifier = SnpVerifier::new(AmdRoots::pinned(), Endorsements::default());
    let expected = ExpectedBinding::default();
    let examination = verifier.examine(&evidence, &expected, at("2026-11-01T00:00:00Z"));
    assert!(examination.verified(), "{:?}", examination.failed_checks());
    let raw = std::fs::read(dir.join("trustee-genoa-v3/report.bin")).unwrap();
    assert_eq!(SnpEvidence::from_json(&evidence).unwrap().report, raw);
    evidence["attestation_report"]["report_data"][0] = json!(0);
    let examination = verifier.examine(&evidence, &expected, at("2026-11-01T00:00:00Z"));
    assert_eq!(failed(&examination), ["report_signature"]);
}

/// `der` with the hash of its outer RSASSA-PSS `signatureAlgorithm` (the copy after the signed
/// tbsCertificate) changed from SHA-384 to SHA-256: one byte, lengths unchanged.
fn with_outer_pss_hash_sha256(der: &[u8]) -> Vec<u8> {
    const RSASSA_PSS: [u8; 11] = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A,
    ];
    const SHA384: [u8; 11] = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
    ];
    let find = |what: &[u8], from: usize| -> Vec<usize> {
        (from..der.len() - what.len())
            .filter(|at| der[*at..].starts_with(what))
            .collect()
    };
    let algorithms = find(&RSASSA_PSS, 0);
    assert_eq!(algorithms.len(), 2, "signed and outer signatureAlgorithm");
    let hash = find(&SHA384, algorithms[1])[0];
    let mut edited = der.to_vec();
    edited[hash + SHA384.len() - 1] = 0x01;
    edited
}

#[test]
fn a_vcek_whose_outer_signature_algorithm_differs_from_the_signed_one_is_refused() {
    use warden_verifier::x509::CertError;
    let dir = vectors::tee("snp");
    let reason = "certificate signatureAlgorithm differs from the signed tbsCertificate.signature";
    let der = std::fs::read(dir.join("virtee-milan/vcek_milan.der")).unwrap();
    assert!(Cert::from_der(&der).is_ok());
    let edited = with_outer_pss_hash_sha256(&der);
    let refused = Cert::from_der(&edited).unwrap_err();
    assert_eq!(
        refused,
        CertError::SignatureAlgorithmMismatch {
            structure: "certificate",
            tbs: "tbsCertificate"
        }
    );
    assert_eq!(refused.to_string(), reason);
    let collateral = Endorsements::default().add_bytes(&edited).unwrap_err();
    assert!(collateral.to_string().contains(reason), "{collateral}");

    // The same edit to the VCEK that Genoa evidence carries: the chain fails and says why.
    let text = std::fs::read_to_string(dir.join("trustee-genoa-v3/evidence.json")).unwrap();
    let mut evidence: Value = serde_json::from_str(&text).unwrap();
    let vcek: Vec<u8> = serde_json::from_value(evidence["cert_chain"][0]["data"].clone()).unwrap();
    evidence["cert_chain"][0]["data"] = json!(with_outer_pss_hash_sha256(&vcek));
    let verifier = SnpVerifier::new(AmdRoots::pinned(), Endorsements::default());
    let examination = verifier.examine(
        &evidence,
        &ExpectedBinding::default(),
        at("2026-11-01T00:00:00Z"),
    );
    assert_eq!(failed(&examination), ["vek_chain"]);
    let detail = &examination.failed_checks()[0].detail;
    assert!(
        detail.contains("endorsement 1 of the evidence refused") && detail.contains(reason),
        "{detail}"
    );
}

#[test]
fn repeated_appraisal_reuses_the_verified_chain() {
    let dir = vectors::tee("snp");
    let set = set("oak-turin-v5");
    let verifier = SnpVerifier::new(
        AmdRoots::pinned(),
        endorsements(&dir, &[(set.dir, set.vek)]),
    );
    let report = read_report(&dir, set.dir, set.report);
    let first = examine(
        &verifier,
        report.clone(),
        ExpectedBinding::default(),
        set.at,
    );
    // The cached chain must still be judged at each call's own time.
    let second = examine(
        &verifier,
        report.clone(),
        ExpectedBinding::default(),
        "2033-01-01T00:00:00Z",
    );
    assert!(first.verified());
    assert_eq!(failed(&second), ["validity"]);
    let third = examine(&verifier, report, ExpectedBinding::default(), set.at);
    assert_eq!(first, third);
}

/// The AMD roots Warden pins are, certificate for certificate, the ASK/ARK/ASVK bundles Trustee
/// publishes (`snp/amd-roots`): two independent copies of AMD's hierarchy agree.
#[test]
fn the_pinned_amd_roots_are_the_ones_trustee_publishes() {
    let dir = vectors::set("snp", "amd-roots");
    let pinned = AmdRoots::pinned();
    for (generation, file) in [
        (Generation::Milan, "milan_ask_ark_asvk.pem"),
        (Generation::Genoa, "genoa_ask_ark_asvk.pem"),
        (Generation::Turin, "turin_ask_ark_asvk.pem"),
    ] {
        let published = ProductRoots::from_pem_bundle(
            generation,
            &std::fs::read(dir.join(file)).unwrap(),
            None,
        )
        .unwrap();
        let ours = pinned
            .products
            .iter()
            .find(|product| product.generation == generation)
            .unwrap();
        assert_eq!(ours.ark.der, published.ark.der, "{file}: ARK");
        assert_eq!(ours.ask.der, published.ask.der, "{file}: ASK");
        assert_eq!(
            ours.asvk.as_ref().map(|cert| &cert.der),
            published.asvk.as_ref().map(|cert| &cert.der),
            "{file}: ASVK"
        );
    }
}
