//! Appraisal policy evaluation, a whole sample appraisal, and EAR token signing/verification.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use time::OffsetDateTime;
use warden_verifier::appraisal::{APPRAISAL_RULE, DEFAULT_APPRAISAL_POLICY};
use warden_verifier::ear::{EarClaims, TokenContext, TokenSigner, generate_signing_key_pem};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, VerifierRegistry,
    VerifierSettings,
};

fn appraisal(c: &mut Criterion) {
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy");
    let input = json!({"tee": "sample", "claims": {"svn": 3}, "reference_values": {"sample": {"min_svn": 1}}, "insecure": true});
    c.bench_function("policy_eval/appraisal_default", |b| {
        b.iter(|| policy.evaluate(APPRAISAL_RULE, &input).expect("eval"))
    });

    let registry = VerifierRegistry::new(&VerifierSettings {
        allow_insecure_sample: true,
        ..Default::default()
    });
    let values = serde_json::from_value(json!({"sample": {"min_svn": 1}})).expect("values");
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::new(values));
    let evidence = json!({"svn": "3", "report_data": base64::engine::general_purpose::STANDARD.encode([5u8; 48])});
    let request = AppraisalRequest {
        init_data: None,
        tee: "sample",
        evidence: &evidence,
        expected: ExpectedBinding::runtime([5; 48]),
    };
    let at = OffsetDateTime::UNIX_EPOCH;
    c.bench_function("appraise/sample", |b| {
        b.iter(|| appraiser.appraise(&request, at).expect("appraise"))
    });

    let result = appraiser.appraise(&request, at).expect("appraise");
    let signer =
        TokenSigner::from_pem(generate_signing_key_pem().expect("key").as_bytes(), "bench")
            .expect("signer");
    let tee_pubkey = json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y"});
    let claims = EarClaims::new(
        &result,
        "bench",
        TokenContext {
            nonce: "n",
            tee_pubkey: &tee_pubkey,
            issued_at: at,
            lifetime: time::Duration::minutes(5),
            jti: "j".into(),
        },
    );
    c.bench_function("token/sign_es256", |b| {
        b.iter(|| signer.sign(&claims).expect("sign"))
    });
    let token = signer.sign(&claims).expect("sign");
    let verifier = signer.verifier().expect("verifier");
    c.bench_function("token/verify_es256", |b| {
        b.iter(|| verifier.verify(&token, at).expect("verify"))
    });
}

criterion_group!(benches, appraisal);
criterion_main!(benches);
