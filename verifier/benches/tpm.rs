//! TPM quote appraisal throughput for an RSA-2048 and an ECC P-256 attestation key, against the
//! raw signature verification of the crypto backend the verifier uses (aws-lc-rs), in one run.
//!
//! * RSA-2048: the real Azure vTPM quote (`tpm/azure-vtpm-kinvolk`: RSASSA/SHA-256 over 24
//!   SHA-256 PCRs, nonce "challenge"), its AK pinned.
//! * ECC P-256: no real P-256 quote exists among the vectors, so a quote with the same shape (24
//!   SHA-256 PCRs, a 48-byte nonce) is built here and signed with a fresh P-256 key (ECDSA/SHA-256,
//!   as a TPM signs), its AK pinned. The work per appraisal is the same as for a TPM's quote.
//!
//! A quote costs one signature verification, so `ratio = examinations/s ÷ raw verifications/s`.
//! Prints a one-line summary and writes `bench-results/tpm.json`. Without the vectors it prints
//! SKIP for the RSA case.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::Verifier as _;
use warden_verifier::tee::tpm::TpmVerifier;
use warden_verifier::tee::tpm::trust::{SharedTpmTrust, TpmTrust, spki_der};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, VerifierRegistry,
    VerifierSettings,
};
use warden_wire::tpm::{
    ALG_SHA256, ECC_NIST_P256, KeyMaterial, Signature, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE,
};

use warden_test_support::bench::{rate, round3};

/// One AK's case: evidence, its trust, the nonce, and a raw verification of the same signature.
struct Case {
    name: &'static str,
    evidence: Value,
    trust: TpmTrust,
    nonce: Vec<u8>,
    raw_verify: Box<dyn Fn()>,
}

fn kinvolk_case() -> Result<Case, String> {
    let dir = warden_test_support::vectors::set("tpm", "azure-vtpm-kinvolk");
    let pem = std::fs::read(dir.join("akpub.pem")).map_err(|e| e.to_string())?;
    let spki = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| e.to_string())?
        .1
        .contents;
    let source: Value = serde_json::from_slice(
        &std::fs::read(dir.join("quote_decoded_from_bincode.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let unhex =
        |field: &str| hex::decode(source[field].as_str().unwrap_or_default()).unwrap_or_default();
    let (message, signature) = (unhex("message"), unhex("signature"));
    let pcrs: BTreeMap<String, String> = source["pcrs"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let evidence = json!({
        "ak_public": STANDARD.encode(&spki),
        "quotes": [{
            "attest": STANDARD.encode(&message),
            "signature": STANDARD.encode(Signature::rsassa(warden_wire::tpm::HashAlg::Sha256, signature.clone()).marshal()),
        }],
        "pcrs": {"sha256": pcrs},
    });
    let mut trust = TpmTrust::default();
    trust.add_bytes(&spki)?;
    let key = warden_verifier::tee::tpm::trust::AkKey::from_spki(&spki)?;
    let KeyMaterial::Rsa { modulus, .. } = key.material else {
        return Err("the kinvolk AK is not RSA".into());
    };
    let raw_verify = Box::new(move || {
        RsaPublicKeyComponents {
            n: &modulus[..],
            e: &[1u8, 0, 1][..],
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, &message, &signature)
        .expect("RSA signature verifies");
    });
    Ok(Case {
        name: "rsa2048",
        evidence,
        trust,
        nonce: b"challenge".to_vec(),
        raw_verify,
    })
}

/// A quote over 24 SHA-256 PCRs with `nonce`, as a TPM marshals it.
fn quote_bytes(nonce: &[u8], pcr_digest: &[u8]) -> Vec<u8> {
    let mut bytes = TPM_GENERATED_VALUE.to_be_bytes().to_vec();
    bytes.extend(TPM_ST_ATTEST_QUOTE.to_be_bytes());
    bytes.extend(34u16.to_be_bytes());
    bytes.extend(ALG_SHA256.to_be_bytes());
    bytes.extend([0x5A; 32]);
    bytes.extend((nonce.len() as u16).to_be_bytes());
    bytes.extend(nonce);
    bytes.extend([0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 7, 0, 0, 0, 0, 1]);
    bytes.extend(0x2019_1023_0016_3636u64.to_be_bytes());
    bytes.extend(1u32.to_be_bytes());
    bytes.extend(ALG_SHA256.to_be_bytes());
    bytes.extend([3, 0xFF, 0xFF, 0xFF]);
    bytes.extend((pcr_digest.len() as u16).to_be_bytes());
    bytes.extend(pcr_digest);
    bytes
}

fn p256_case() -> Case {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key");
    let point = key.public_key().as_ref().to_vec();
    let material = KeyMaterial::Ecc {
        curve: ECC_NIST_P256,
        x: point[1..33].to_vec(),
        y: point[33..].to_vec(),
    };
    let pcr_values: Vec<[u8; 32]> = (0..24u8).map(|i| Sha256::digest([i]).into()).collect();
    let digest = Sha256::digest(pcr_values.concat());
    let nonce = vec![0xA5; 48];
    let message = quote_bytes(&nonce, &digest);
    let fixed = key.sign(&rng, &message).expect("sign").as_ref().to_vec();
    let signature = Signature::Ecdsa {
        hash: warden_wire::tpm::HashAlg::Sha256,
        r: fixed[..32].to_vec(),
        s: fixed[32..].to_vec(),
    };
    let pcrs: BTreeMap<String, String> = pcr_values
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), hex::encode(v)))
        .collect();
    let spki = spki_der(&material).expect("spki");
    let evidence = json!({
        "ak_public": STANDARD.encode(&spki),
        "quotes": [{"attest": STANDARD.encode(&message), "signature": STANDARD.encode(signature.marshal())}],
        "pcrs": {"sha256": pcrs},
    });
    let mut trust = TpmTrust::default();
    trust.add_bytes(&spki).expect("pin");
    let raw_verify = Box::new(move || {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(&message, &fixed)
            .expect("P-256 signature verifies");
    });
    Case {
        name: "ecc_p256",
        evidence,
        trust,
        nonce,
        raw_verify,
    }
}

fn tpm(c: &mut Criterion) {
    let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let mut cases = vec![p256_case()];
    match kinvolk_case() {
        Ok(case) => cases.insert(0, case),
        Err(e) => println!("SKIP: tpm bench RSA-2048 case: {e}"),
    }
    let mut summary = serde_json::Map::new();
    for case in &cases {
        let expected = ExpectedBinding {
            report_data: Some(case.nonce.clone()),
            init_data_digest: None,
        };
        let verifier = TpmVerifier::new(case.trust.clone());
        let examination = verifier.examine(&case.evidence, &expected, at);
        assert!(
            examination.verified(),
            "{}: {:?}",
            case.name,
            examination.failed_checks()
        );
        let pcr0 = examination.claims["pcrs"]["sha256"]["0"].clone();
        let examine = || assert!(verifier.examine(&case.evidence, &expected, at).verified());
        let registry = VerifierRegistry::new(&VerifierSettings {
            tpm_trust: std::sync::Arc::new(SharedTpmTrust::new(case.trust.clone())),
            ..Default::default()
        });
        let appraiser = Appraiser::new(
            registry,
            Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy"),
            ReferenceValues::new(
                serde_json::from_value(json!({"tpm": {"pcrs": {"sha256": {"0": [pcr0]}}}}))
                    .expect("rv"),
            ),
        );
        let request = AppraisalRequest {
            init_data: None,
            tee: "tpm",
            evidence: &case.evidence,
            expected: expected.clone(),
        };
        let result = appraiser.appraise(&request, at).expect("appraisal");
        let appraise = || {
            appraiser.appraise(&request, at).expect("appraise");
        };
        let raw = &case.raw_verify;
        c.bench_function(&format!("tpm/{}/raw_verify_aws_lc_rs", case.name), |b| {
            b.iter(raw)
        });
        c.bench_function(&format!("tpm/{}/examine", case.name), |b| b.iter(examine));
        c.bench_function(&format!("tpm/{}/appraise_default_policy", case.name), |b| {
            b.iter(appraise)
        });
        let raw_rate = rate(raw.as_ref());
        let examined = rate(&examine);
        let appraised = rate(&appraise);
        println!(
            "tpm {} summary (one core): raw verify {:.0}/s, quote examinations {:.0}/s (ratio {:.3}), \
             appraisals with the default policy {:.0}/s ({})",
            case.name,
            raw_rate,
            examined,
            examined / raw_rate,
            appraised,
            result.status
        );
        summary.insert(
            case.name.into(),
            json!({
                "raw_verifies_per_s_aws_lc_rs": raw_rate.round(),
                "quote_examinations_per_s": examined.round(),
                "quote_appraisals_per_s_default_policy": appraised.round(),
                "ratio_examination_to_raw": round3(examined / raw_rate),
                "appraisal_status": result.status,
            }),
        );
    }
    warden_test_support::bench::write_result("tpm.json", &Value::Object(summary));
}

criterion_group!(benches, tpm);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
