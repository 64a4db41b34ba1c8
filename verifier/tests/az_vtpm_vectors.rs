//! Azure confidential-VM vTPM evidence (`az-snp-vtpm`, `az-tdx-vtpm`) on the real sets in
//! `tests/vectors/az-*-vtpm` (MANIFEST.md §3–4): the HCL report verified through the SNP or
//! TDX module with its report data bound to the runtime claims, the vTPM quote verified with the
//! AK from those claims, and the nonce.
#![allow(clippy::unwrap_used)]

mod common;

use common::vectors;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::azure::AzureVtpmVerifier;
use warden_verifier::tee::snp::SnpVerifier;
use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements};
use warden_verifier::tee::tdx::TdxVerifier;
use warden_verifier::tee::tdx::collateral::TdxEndorsements;
use warden_verifier::tee::{Examination, ExpectedBinding, Verifier};

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

const NOW: &str = "2026-11-01T00:00:00Z";

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn snp_verifier(chain: &Path) -> AzureVtpmVerifier {
    let mut endorsements = Endorsements::default();
    endorsements.add_file(chain).unwrap();
    AzureVtpmVerifier::snp(Arc::new(SnpVerifier::new(AmdRoots::pinned(), endorsements)))
}

fn nonce(bytes: &[u8]) -> ExpectedBinding {
    ExpectedBinding {
        report_data: Some(bytes.to_vec()),
        init_data_digest: None,
    }
}

fn failed(ex: &Examination) -> Vec<&'static str> {
    ex.failed_checks().iter().map(|check| check.name).collect()
}

/// A version-1 evidence whose HCL report `edit` changed.
fn edit_hcl_report(evidence: &Value, edit: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut copy = evidence.clone();
    let text = copy["hcl_report"].as_str().unwrap();
    let mut report = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).unwrap();
    edit(&mut report);
    copy["hcl_report"] = Value::String(URL_SAFE_NO_PAD.encode(report));
    copy
}

/// Replaces the first `from` in the runtime claims inside a version-1 evidence's HCL report.
fn alter_runtime_claims(evidence: &Value, from: &str, to: &str) -> Value {
    edit_hcl_report(evidence, |report| {
        let at = report
            .windows(from.len())
            .position(|window| window == from.as_bytes())
            .unwrap();
        report[at..at + to.len()].copy_from_slice(to.as_bytes());
    })
}

#[test]
fn milan_evidence_in_both_versions_verifies_with_its_claims_and_nonce() {
    let dir = vectors::set("az-snp-vtpm", "trustee-milan-v1");
    let verifier = snp_verifier(&dir.join("milan_ask_ark_asvk.pem"));
    let v1 = json_file(&dir.join("evidence-v1.json"));
    let ex = verifier.examine(&v1, &nonce(b"challenge"), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    let snp = &ex.claims["snp"];
    assert_eq!(
        snp["measurement"],
        "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e"
    );
    assert_eq!(snp["vmpl"], 0);
    assert_eq!(snp["debug"], false);
    assert_eq!(snp["guest_svn"], 10);
    assert!(
        snp["report_data"]
            .as_str()
            .unwrap()
            .starts_with("af2910341dd81083")
    );
    assert_eq!(
        ex.claims["vm_configuration"]["vmUniqueId"],
        "26F8BC30-774E-4290-8E7A-535F3B672AEE"
    );
    assert_eq!(ex.claims["vm_configuration"]["secure-boot"], true);
    assert_eq!(ex.claims["user_data"], "00".repeat(64));
    assert_eq!(ex.claims["report_data"], hex::encode("challenge"));
    assert_eq!(ex.claims["ak"]["trust"], "hcl_runtime_claims");
    assert_eq!(
        ex.claims["pcrs"]["sha256"]["0"],
        "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
    );
    assert!(
        ex.checks
            .iter()
            .any(|check| check.name == "runtime_claims" && check.ok)
    );

    let v0 = json_file(&dir.join("evidence-v0_same-vm.json"));
    let ex = verifier.examine(&v0, &nonce(b"challenge"), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(ex.claims["snp"]["measurement"], snp["measurement"]);

    // Negatives from the MANIFEST: altered runtime claims, another nonce, a changed PCR.
    let altered = alter_runtime_claims(&v1, "26F8BC30", "26F8BC31");
    let ex = verifier.examine(&altered, &nonce(b"challenge"), at(NOW));
    assert_eq!(failed(&ex), ["runtime_claims"]);
    let ex = verifier.examine(&v1, &nonce(b"challenge2"), at(NOW));
    assert_eq!(failed(&ex), ["report_data"]);
    let mut pcr = v1.clone();
    pcr["tpm_quote"]["pcrs"][3] = Value::String("00".repeat(32));
    let ex = verifier.examine(&pcr, &nonce(b"challenge"), at(NOW));
    assert_eq!(failed(&ex), ["pcr_digest"]);
    // The same bytes re-split across PCRs 3 and 4 keep the PCR digest: refused for length.
    let mut resplit = v1.clone();
    let (three, four) = (
        resplit["tpm_quote"]["pcrs"][3].as_str().unwrap().to_owned(),
        resplit["tpm_quote"]["pcrs"][4].as_str().unwrap().to_owned(),
    );
    let joined = format!("{three}{four}");
    resplit["tpm_quote"]["pcrs"][3] = Value::String(joined[..62].to_owned());
    resplit["tpm_quote"]["pcrs"][4] = Value::String(joined[62..].to_owned());
    let ex = verifier.examine(&resplit, &nonce(b"challenge"), at(NOW));
    assert_eq!(failed(&ex), ["evidence_format"]);
    let mut flipped = v1.clone();
    let message = flipped["tpm_quote"]["message"]
        .as_str()
        .unwrap()
        .replacen("ff54", "ff55", 1);
    flipped["tpm_quote"]["message"] = Value::String(message);
    let ex = verifier.examine(&flipped, &nonce(b"challenge"), at(NOW));
    assert_eq!(
        failed(&ex),
        ["evidence_format"],
        "a broken magic is not a quote"
    );
}

#[test]
fn milan_v2_binds_a_48_byte_nonce_and_genoa_verifies_on_its_own_chain() {
    let root = vectors::tee("az-snp-vtpm");
    let dir = root.join("trustee-milan-v2");
    let verifier = snp_verifier(&dir.join("milan_ask_ark_asvk.pem"));
    let evidence = json_file(&dir.join("evidence-v2.json"));
    let user_data =
        hex::decode("982F5C6E45DF0ED3F10B6F60B02F0C8390E281300F3805E2279C16168CD6AE9AA398F647CAA2338748CD0FD9F5F819EF")
            .unwrap();
    let ex = verifier.examine(&evidence, &nonce(&user_data), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert!(
        ex.claims["user_data"]
            .as_str()
            .unwrap()
            .starts_with("982f5c6e")
    );
    assert_eq!(
        ex.claims["pcrs"]["sha256"]["0"],
        "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7"
    );
    let ex = verifier.examine(&evidence, &nonce(&[0x12, 0x3a, 0xbc]), at(NOW));
    assert_eq!(failed(&ex), ["report_data"]);

    let dir = root.join("trustee-genoa");
    let verifier = snp_verifier(&dir.join("genoa_ask_ark_asvk.pem"));
    let evidence = json_file(&dir.join("evidence-genoa.json"));
    let genoa_nonce = hex::decode(
        "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f",
    )
    .unwrap();
    let ex = verifier.examine(&evidence, &nonce(&genoa_nonce), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(ex.claims["snp"]["generation"], "Genoa");
    assert_eq!(
        ex.claims["vm_configuration"]["root-cert-thumbprint"],
        "6nZZnYaJc4KqUZ_yvA-mucFdYNouvlPnITnNMXsHl-0"
    );
    assert!(
        ex.claims["snp"]["measurement"]
            .as_str()
            .unwrap()
            .starts_with("f57dc09a")
    );
}

#[test]
fn raw_hcl_report_verifies_with_its_quote_and_not_with_another_vms() {
    let dir = vectors::set("az-snp-vtpm", "trustee-milan-raw");
    let verifier = snp_verifier(&dir.join("vcek_ask_ark.pem"));
    let report = std::fs::read(dir.join("hcl-report.bin")).unwrap();
    let quote = json_file(&dir.join("tpm-quote-v1.json"));
    let evidence =
        json!({"version": 1, "hcl_report": STANDARD.encode(&report), "tpm_quote": quote});
    let ex = verifier.examine(&evidence, &nonce(b"challenge"), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert!(
        ex.claims["snp"]["measurement"]
            .as_str()
            .unwrap()
            .starts_with("9ac48fcac8a2d88a")
    );
    assert_eq!(
        ex.claims["vm_configuration"]["vmUniqueId"],
        "911B0EF8-9DBA-48B0-B275-4E4DF2D39252"
    );

    let other = dir.join("negative_other_vm");
    let mut foreign = evidence.clone();
    foreign["tpm_quote"]["message"] = Value::String(hex::encode(
        std::fs::read(other.join("tpm-quote.msg")).unwrap(),
    ));
    foreign["tpm_quote"]["signature"] = Value::String(hex::encode(
        std::fs::read(other.join("tpm-quote.sig")).unwrap(),
    ));
    let ex = verifier.examine(&foreign, &nonce(b"challenge"), at(NOW));
    assert_eq!(failed(&ex), ["quote_signature"]);
    // An SNP verifier does not take a TDX HCL report.
    let tdx = vectors::set("az-tdx-vtpm", "trustee-tdx");
    let ex = verifier.examine(
        &json_file(&tdx.join("evidence-v1.json")),
        &nonce(b"challenge"),
        at(NOW),
    );
    assert_eq!(failed(&ex), ["evidence_format"]);
}

fn tdx_verifier(dir: &Path) -> AzureVtpmVerifier {
    let collateral = TdxEndorsements::from_dir(&dir.join("intel_collateral_2025-02")).unwrap();
    AzureVtpmVerifier::tdx(Arc::new(TdxVerifier::new(collateral)))
}

#[test]
fn azure_tdx_evidence_is_authentic_but_out_of_date_and_expires() {
    let dir = vectors::set("az-tdx-vtpm", "trustee-tdx");
    let verifier = tdx_verifier(&dir);
    let in_window = at("2025-03-01T00:00:00Z");
    for file in ["evidence-v1.json", "evidence-v0.json"] {
        let evidence = json_file(&dir.join(file));
        let ex = verifier.examine(&evidence, &nonce(b"challenge"), in_window);
        assert!(ex.verified(), "{file}: {:?}", ex.failed_checks());
        let tdx = &ex.claims["tdx"];
        assert_eq!(
            tdx["mr_td"],
            "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b"
        );
        assert_eq!(tdx["rtmr0"], "00".repeat(48));
        assert_eq!(tdx["tcb_status"], "OutOfDate");
        assert_eq!(ex.claims["vm_configuration"]["tpm-persisted"], false);
        assert_eq!(
            ex.claims["pcrs"]["sha256"]["0"],
            "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
        );
    }
    let evidence = json_file(&dir.join("evidence-v1.json"));
    let ex = verifier.examine(&evidence, &nonce(b"challenge"), at(NOW));
    assert!(
        failed(&ex).contains(&"collateral_freshness"),
        "{:?}",
        failed(&ex)
    );

    // Another TD's quote does not carry these runtime claims.
    let other = vectors::set("tdx", "automata-dcap-rs-00806f05");
    let mut substituted = evidence.clone();
    let quote = std::fs::read(other.join("quote_tdx_00806f050000.dat")).unwrap();
    substituted["td_quote"] = Value::String(URL_SAFE_NO_PAD.encode(quote));
    let ex = verifier.examine(&substituted, &nonce(b"challenge"), in_window);
    assert_eq!(
        failed(&ex),
        ["runtime_claims", "td_report_quote", "td_report_td_info"]
    );
    let altered = alter_runtime_claims(&evidence, "6332533D", "6332533E");
    let ex = verifier.examine(&altered, &nonce(b"challenge"), in_window);
    assert_eq!(failed(&ex), ["runtime_claims", "td_report_claims"]);
}

/// The detail of the failed check `name`.
fn detail<'e>(ex: &'e Examination, name: &str) -> &'e str {
    &ex.checks
        .iter()
        .find(|check| check.name == name && !check.ok)
        .unwrap_or_else(|| panic!("no failed {name}: {:?}", ex.checks))
        .detail
}

#[test]
fn the_tdreport_in_the_hcl_report_must_bind_the_runtime_claims_and_match_the_quote() {
    let dir = vectors::set("az-tdx-vtpm", "trustee-tdx");
    let verifier = tdx_verifier(&dir);
    let in_window = at("2025-03-01T00:00:00Z");
    let evidence = json_file(&dir.join("evidence-v1.json"));
    // The real layout (MANIFEST §4): the TDREPORT follows the 32-byte HCL header; its REPORTDATA
    // (offset 128) is SHA-256(runtime claims as the HCL report carries them) || 32 zeros, and
    // the TD quote's REPORTDATA is the same 64 bytes.
    let report_data = 32 + 128;
    let hcl = std::fs::read(dir.join("hcl-report.bin")).unwrap();
    let claims = std::fs::read(dir.join("derived/runtime_claims.json")).unwrap();
    let quote = std::fs::read(dir.join("td-quote.bin")).unwrap();
    let mut expected = Sha256::digest(&claims).to_vec();
    expected.resize(64, 0);
    assert_eq!(hcl[report_data..report_data + 64], expected);
    assert_eq!(
        quote[48 + 520..48 + 584],
        expected,
        "v4 body: REPORTDATA at 520"
    );
    let ex = verifier.examine(&evidence, &nonce(b"challenge"), in_window);
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    for name in ["td_report_claims", "td_report_quote", "td_report_td_info"] {
        assert!(ex.checks.iter().any(|check| check.name == name && check.ok));
    }
    // TDINFO (TDREPORT offset 512: attributes, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG,
    // RTMR0-3) is the quote body's copy from TDATTRIBUTES (offset 120) on.
    let td_info = 32 + 512;
    assert_eq!(hcl[td_info..td_info + 400], quote[48 + 120..48 + 520]);

    // A flipped byte in the hash half, then in the zero half: the TDREPORT no longer binds the
    // claims, and the quote no longer carries its REPORTDATA. The quote itself still verifies.
    for offset in [report_data, report_data + 40] {
        let flipped = edit_hcl_report(&evidence, |report| report[offset] ^= 0x01);
        let ex = verifier.examine(&flipped, &nonce(b"challenge"), in_window);
        assert_eq!(
            failed(&ex),
            ["td_report_claims", "td_report_quote"],
            "offset {offset}"
        );
        assert!(
            detail(&ex, "td_report_claims")
                .starts_with("the TDREPORT report data vs SHA-256(runtime claims): report data"),
            "{}",
            detail(&ex, "td_report_claims")
        );
        assert!(
            detail(&ex, "td_report_quote").contains("the TD quote's REPORTDATA 9734504f161d104c"),
            "{}",
            detail(&ex, "td_report_quote")
        );
        assert!(
            detail(&ex, "td_report_quote").contains("differs from the TDREPORT's REPORTDATA"),
            "{}",
            detail(&ex, "td_report_quote")
        );
        assert!(
            ex.claims.get("ak").is_none(),
            "no vTPM check after a failure"
        );
    }

    // A flipped byte of the TDREPORT's MRTD, then of its RTMR3: the TDREPORT is no longer the
    // one the quote was made from.
    for offset in [td_info + 16, td_info + 399] {
        let flipped = edit_hcl_report(&evidence, |report| report[offset] ^= 0x01);
        let ex = verifier.examine(&flipped, &nonce(b"challenge"), in_window);
        assert_eq!(failed(&ex), ["td_report_td_info"], "offset {offset}");
        assert!(
            detail(&ex, "td_report_td_info").contains("differ from the TDREPORT's TDINFO"),
            "{}",
            detail(&ex, "td_report_td_info")
        );
        assert!(
            ex.claims.get("ak").is_none(),
            "no vTPM check after a failure"
        );
    }
}

/// Appraises with the default policy and `reference` as the TEE's reference values.
fn appraise_with_default_policy(
    tee: &str,
    settings: warden_verifier::VerifierSettings,
    evidence: &Value,
    report_data: &[u8],
    reference: Value,
    when: OffsetDateTime,
) -> warden_verifier::AttestationResult {
    use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
    use warden_verifier::{AppraisalRequest, Appraiser, ReferenceValues, VerifierRegistry};
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
    let values = serde_json::from_value(json!({ tee: reference })).unwrap();
    let appraiser = Appraiser::new(
        VerifierRegistry::new(&settings),
        policy,
        ReferenceValues::new(values),
    );
    let request = AppraisalRequest {
        init_data: None,
        tee,
        evidence,
        expected: nonce(report_data),
    };
    common::both_ways::appraise(appraiser, &request, when).unwrap()
}

#[test]
fn default_policy_wants_listed_pcrs_and_refuses_out_of_date_azure_tdx_unless_accepted() {
    use warden_verifier::{Status, VerifierSettings};
    let root = vectors::tee("az-snp-vtpm");
    let dir = root.join("trustee-milan-v1");
    let evidence = json_file(&dir.join("evidence-v1.json"));
    let pcr0 = "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced";
    let measurement = "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e";
    let snp = || {
        let mut endorsements = Endorsements::default();
        endorsements
            .add_file(&dir.join("milan_ask_ark_asvk.pem"))
            .unwrap();
        VerifierSettings {
            snp_collateral: Arc::new(warden_verifier::tee::snp::certs::Collateral::new(
                endorsements,
            )),
            ..Default::default()
        }
    };
    let with = |reference: Value| {
        appraise_with_default_policy(
            "az-snp-vtpm",
            snp(),
            &evidence,
            b"challenge",
            reference,
            at(NOW),
        )
    };
    let affirmed = with(json!({"pcrs": {"sha256": {"0": [pcr0]}}, "measurements": [measurement]}));
    assert_eq!(affirmed.status, Status::Affirming);
    let nothing_listed = with(json!({}));
    assert_eq!(nothing_listed.trust_vector.executables, Some(33));
    let other_pcr = with(json!({"pcrs": {"sha256": {"0": ["00".repeat(32)]}}}));
    assert_eq!(other_pcr.trust_vector.executables, Some(33));
    let other_measurement =
        with(json!({"pcrs": {"sha256": {"0": [pcr0]}}, "measurements": ["00".repeat(48)]}));
    assert_eq!(other_measurement.trust_vector.executables, Some(33));

    let tdx_dir = vectors::set("az-tdx-vtpm", "trustee-tdx");
    let tdx_evidence = json_file(&tdx_dir.join("evidence-v1.json"));
    let tdx = || VerifierSettings {
        tdx_collateral: Arc::new(warden_verifier::tee::tdx::collateral::TdxCollateral::new(
            TdxEndorsements::from_dir(&tdx_dir.join("intel_collateral_2025-02")).unwrap(),
        )),
        ..Default::default()
    };
    let tdx_pcr0 = "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273";
    let in_window = at("2025-03-01T00:00:00Z");
    let tdx_with = |reference: Value| {
        appraise_with_default_policy(
            "az-tdx-vtpm",
            tdx(),
            &tdx_evidence,
            b"challenge",
            reference,
            in_window,
        )
    };
    let refused = tdx_with(json!({"pcrs": {"sha256": {"0": [tdx_pcr0]}}}));
    assert_eq!(refused.status, Status::Contraindicated);
    assert_eq!(refused.trust_vector.hardware, Some(96));
    let permissive = tdx_with(json!({
        "pcrs": {"sha256": {"0": [tdx_pcr0]}},
        "accepted_tcb_statuses": ["UpToDate", "OutOfDate"],
    }));
    assert_eq!(permissive.status, Status::Affirming);
}
