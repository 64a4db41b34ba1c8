//! SEV-SNP appraisal throughput with the VEK chain cached, against the raw P-384 verification of
//! the crypto backend it uses (aws-lc-rs), plus OpenSSL's P-384 for comparison. Uses the real
//! Genoa v3 vector; prints the ratio appraisals/s ÷ raw verifications/s and writes it to
//! `bench-results/snp.json`.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey, UnparsedPublicKey};
use criterion::{Criterion, criterion_group};
use serde_json::json;
use time::OffsetDateTime;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::tee::snp::certs::{AmdRoots, Collateral, Endorsements, vek_extensions};
use warden_verifier::tee::snp::{SnpEvidence, SnpVerifier};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, VerifierRegistry,
    VerifierSettings,
};
use warden_wire::snp::Report;

struct Vector {
    report: Vec<u8>,
    vcek: Vec<u8>,
}

use warden_test_support::bench::rate;

fn vector() -> Option<Vector> {
    let dir = warden_test_support::vectors::set("snp", "trustee-genoa-v3");
    Some(Vector {
        report: std::fs::read(dir.join("report.bin")).ok()?,
        vcek: std::fs::read(dir.join("vcek.der")).ok()?,
    })
}

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_793_000_000).expect("time") // 2026-10
}

fn openssl_verifier(public_point: &[u8]) -> openssl::ec::EcKey<openssl::pkey::Public> {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).expect("group");
    let mut ctx = openssl::bn::BigNumContext::new().expect("ctx");
    let point = openssl::ec::EcPoint::from_bytes(&group, public_point, &mut ctx).expect("point");
    openssl::ec::EcKey::from_public_key(&group, &point).expect("key")
}

fn openssl_verify(
    key: &openssl::ec::EcKeyRef<openssl::pkey::Public>,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let digest = openssl::sha::sha384(message);
    let r = openssl::bn::BigNum::from_slice(&signature[..48]).expect("r");
    let s = openssl::bn::BigNum::from_slice(&signature[48..]).expect("s");
    let sig = openssl::ecdsa::EcdsaSig::from_private_components(r, s).expect("sig");
    sig.verify(&digest, key).expect("verify")
}

fn snp(c: &mut Criterion) {
    let Some(vector) = vector() else { return };
    let report = Report::parse(&vector.report).expect("report");
    let public_point = vek_extensions(&vector.vcek).expect("vcek").public_key;
    let signature = report.signature_fixed().expect("48-byte components");
    // The backend at its fastest: the key parsed once (as the verifier caches it with the chain).
    let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &public_point).expect("P-384 key");
    c.bench_function("snp/p384_verify_aws_lc_rs", |b| {
        b.iter(|| {
            key.verify_sig(report.signed_bytes(), &signature)
                .expect("valid")
        })
    });
    let unparsed = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_point.clone());
    c.bench_function("snp/p384_verify_aws_lc_rs_key_parsed_per_call", |b| {
        b.iter(|| {
            unparsed
                .verify(report.signed_bytes(), &signature)
                .expect("valid")
        })
    });
    let openssl_key = openssl_verifier(&public_point);
    c.bench_function("snp/p384_verify_openssl", |b| {
        b.iter(|| {
            assert!(openssl_verify(
                &openssl_key,
                report.signed_bytes(),
                &signature
            ))
        })
    });

    let mut collateral = Endorsements::default();
    collateral.add_bytes(&vector.vcek).expect("vcek");
    let verifier = SnpVerifier::new(AmdRoots::pinned(), collateral.clone());
    let evidence = SnpEvidence {
        report: vector.report.clone(),
        endorsements: Vec::new(),
    };
    let expected = ExpectedBinding {
        report_data: Some(report.report_data().to_vec()),
        init_data_digest: None,
    };
    assert!(
        verifier
            .examine_decoded(&evidence, &expected, at())
            .verified()
    );
    c.bench_function("snp/examine_chain_cached", |b| {
        b.iter(|| verifier.examine_decoded(&evidence, &expected, at()))
    });

    let registry = VerifierRegistry::new(&VerifierSettings {
        snp_collateral: std::sync::Arc::new(Collateral::new(collateral)),
        ..Default::default()
    });
    let reference = json!({"snp": {"measurements": [hex::encode(report.measurement())]}});
    let appraiser = Appraiser::new(
        registry,
        Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy"),
        ReferenceValues::new(serde_json::from_value(reference).expect("rv")),
    );
    let json_evidence = evidence.to_json();
    let request = AppraisalRequest {
        init_data: None,
        tee: "snp",
        evidence: &json_evidence,
        expected: expected.clone(),
    };
    c.bench_function("snp/appraise_with_policy_chain_cached", |b| {
        b.iter(|| appraiser.appraise(&request, at()).expect("appraise"))
    });

    // The ratio the issue asks for, measured back to back in one process on the same input.
    let raw = rate(&|| {
        key.verify_sig(report.signed_bytes(), &signature)
            .expect("valid")
    });
    let raw_openssl = rate(&|| {
        assert!(openssl_verify(
            &openssl_key,
            report.signed_bytes(),
            &signature
        ))
    });
    let examined = rate(&|| {
        assert!(
            verifier
                .examine_decoded(&evidence, &expected, at())
                .verified()
        )
    });
    let appraised = rate(&|| {
        appraiser.appraise(&request, at()).expect("appraise");
    });
    let rego = warden_test_support::bench::default_policy_for_regorus(DEFAULT_APPRAISAL_POLICY);
    appraiser.set_policy(Appraiser::compile_policy("default-in-regorus", &rego).expect("policy"));
    let appraised_rego = rate(&|| {
        appraiser.appraise(&request, at()).expect("appraise");
    });
    let summary = json!({
        "p384_verifies_per_s_aws_lc_rs": raw.round(),
        "p384_verifies_per_s_openssl": raw_openssl.round(),
        "snp_examinations_per_s_chain_cached": examined.round(),
        "snp_appraisals_per_s_with_policy_chain_cached": appraised.round(),
        "ratio_examination_to_raw_verify": (examined / raw * 1000.0).round() / 1000.0,
        "ratio_appraisal_to_raw_verify": (appraised / raw * 1000.0).round() / 1000.0,
        "snp_appraisals_per_s_default_policy_in_regorus": appraised_rego.round(),
        "ratio_appraisal_in_regorus_to_raw_verify": (appraised_rego / raw * 1000.0).round() / 1000.0,
    });
    println!("snp summary (one core): {summary:#}");
    warden_test_support::bench::write_result("snp.json", &summary);
}

criterion_group!(benches, snp);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
