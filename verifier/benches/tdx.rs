//! Intel TDX examination and appraisal throughput with the PCK chain and collateral signatures
//! cached (verifier built once, warmed), against the raw P-256 verification of the crypto backend
//! it uses (aws-lc-rs). Uses the real dcap-qvl-tdx quote and its collateral bundle at
//! 2025-07-01T00:00:00Z (inside the collateral's window, see `tests/tdx_vectors.rs`).
//!
//! Each quote costs two P-256 verifications on the hot path (the quote signature with the
//! attestation key, the QE report signature with the PCK), so the figure of merit is
//! `ratio = examinations/s ÷ (raw P-256 verifications/s ÷ 2)`. Prints a one-line summary and
//! writes the figures to `bench-results/tdx.json`. Without the vectors it prints SKIP and exits 0.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, UnparsedPublicKey};
use criterion::{Criterion, criterion_group};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::tdx::collateral::{TdxCollateral, TdxEndorsements};
use warden_verifier::tee::tdx::{TdxEvidence, TdxVerifier};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, VerifierRegistry,
    VerifierSettings,
};
use warden_wire::tdx::Quote;

use warden_test_support::bench::{rate, round3};

const SET: &str = "dcap-qvl-tdx";
const QUOTE: &str = "tdx_quote.bin";
const COLLATERAL: &str = "collateral.json";
const VERIFY_AT: &str = "2025-07-01T00:00:00Z";

struct Vector {
    quote: Vec<u8>,
    collateral: TdxEndorsements,
}

fn vector() -> Result<Vector, String> {
    let dir = warden_test_support::vectors::set("tdx", SET);
    let read = |file: &str| {
        std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display()))
    };
    let quote = read(QUOTE)?;
    let mut collateral = TdxEndorsements::default();
    collateral.add_file(&dir.join(COLLATERAL))?;
    Ok(Vector { quote, collateral })
}

fn at() -> OffsetDateTime {
    OffsetDateTime::parse(VERIFY_AT, &Rfc3339).expect("time")
}

fn tdx(c: &mut Criterion) {
    let vector = match vector() {
        Ok(vector) => vector,
        Err(e) => {
            println!("SKIP: tdx bench: {e}");
            return;
        }
    };
    let quote = Quote::parse(&vector.quote).expect("quote");
    let signature = quote.signature();
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..].copy_from_slice(&signature.attestation_key);
    let signed = quote.signed_bytes();
    let quote_signature = signature.signature;

    // (a) The backend as the verifier uses it for the quote signature: the attestation key differs
    // per quote, so it is parsed on every call. The parsed-once figure is for comparison (the
    // QE report signature uses the PCK key parsed once with the cached chain).
    let unparsed = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
    let raw_verify = || {
        unparsed
            .verify(signed, &quote_signature)
            .expect("quote signature verifies")
    };
    raw_verify();
    c.bench_function("tdx/p256_verify_aws_lc_rs", |b| b.iter(raw_verify));
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).expect("P-256 key");
    let parsed_verify = || {
        parsed
            .verify_sig(signed, &quote_signature)
            .expect("quote signature verifies")
    };
    c.bench_function("tdx/p256_verify_aws_lc_rs_key_parsed_once", |b| {
        b.iter(parsed_verify)
    });

    // (b) Every check of the examination, with the verifier (and its caches) built once.
    let verifier = TdxVerifier::new(vector.collateral.clone());
    let evidence = TdxEvidence {
        quote: vector.quote.clone(),
        event_log: None,
    };
    let expected = ExpectedBinding {
        report_data: Some(quote.body().report_data().to_vec()),
        init_data_digest: None,
    };
    let examination = verifier.examine_decoded(&evidence, &expected, at());
    assert!(
        examination.verified(),
        "{SET} does not verify at {VERIFY_AT}: {:?}",
        examination.failed_checks()
    );
    let checks = examination.checks.len();
    let examine = || {
        assert!(
            verifier
                .examine_decoded(&evidence, &expected, at())
                .verified()
        )
    };
    c.bench_function("tdx/examine_cached", |b| b.iter(examine));

    // (c) The appraisal pipeline as the KBS runs it: registry → TDX verifier over CoCo's JSON
    // evidence → default appraisal policy. The reference values are only input to the policy.
    let registry = VerifierRegistry::new(&VerifierSettings {
        tdx_collateral: Arc::new(TdxCollateral::new(vector.collateral.clone())),
        ..Default::default()
    });
    let reference = json!({"tdx": {"mr_td": [hex::encode(quote.body().mr_td())]}});
    let appraiser = Appraiser::new(
        registry,
        Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy"),
        ReferenceValues::new(serde_json::from_value(reference).expect("rv")),
    );
    let json_evidence = evidence.to_json();
    let request = AppraisalRequest {
        init_data: None,
        tee: "tdx",
        evidence: &json_evidence,
        expected: expected.clone(),
    };
    let result = appraiser
        .appraise(&request, at())
        .expect("TDX appraisal through the registry");
    let appraise = || {
        appraiser.appraise(&request, at()).expect("appraise");
    };
    c.bench_function("tdx/appraise_with_default_policy_cached", |b| {
        b.iter(appraise)
    });

    // The figures, measured back to back in one process on the same input.
    let raw = rate(&raw_verify);
    let raw_parsed = rate(&parsed_verify);
    let examined = rate(&examine);
    let appraised = rate(&appraise);
    let rego = warden_test_support::bench::default_policy_for_regorus(DEFAULT_APPRAISAL_POLICY);
    appraiser.set_policy(Appraiser::compile_policy("default-in-regorus", &rego).expect("policy"));
    let appraised_rego = rate(&appraise);
    let ratio = examined / (raw / 2.0);
    let summary = json!({
        "set": SET,
        "verify_at": VERIFY_AT,
        "checks": checks,
        "p256_verifies_per_s_aws_lc_rs": raw.round(),
        "p256_verifies_per_s_aws_lc_rs_key_parsed_once": raw_parsed.round(),
        "tdx_examinations_per_s_cached": examined.round(),
        "tdx_appraisals_per_s_default_policy_cached": appraised.round(),
        "ratio": round3(ratio),
        "ratio_goal": 0.8,
        "ratio_appraisal": round3(appraised / (raw / 2.0)),
        "tdx_appraisals_per_s_default_policy_in_regorus": appraised_rego.round(),
        "ratio_appraisal_in_regorus": round3(appraised_rego / (raw / 2.0)),
        "appraisal_status": result.status,
        "appraisal_trust_vector": result.trust_vector,
    });
    println!(
        "tdx summary (one core): raw P-256 {:.0}/s (key parsed once {:.0}/s), examinations \
         {:.0}/s, appraisals {:.0}/s ({}), ratio {:.3} (goal ≥ 0.8), appraisal ratio {:.3} \
         (default policy in regorus: {:.3})",
        raw,
        raw_parsed,
        examined,
        appraised,
        result.status,
        ratio,
        appraised / (raw / 2.0),
        appraised_rego / (raw / 2.0)
    );
    warden_test_support::bench::write_result("tdx.json", &summary);
}

criterion_group!(benches, tdx);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
