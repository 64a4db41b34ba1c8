//! The KBS fetches TDX collateral from PCS (here a stand-in serving the dcap-qvl vector's
//! collateral) only for a session holding a fresh challenge, before appraisal, which then has it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use warden_kbs::KbsError;
use warden_test_support::fake_pcs::*;
use warden_verifier::Rejection;
use warden_verifier::tee::tdx::TdxEvidence;
use warden_wire::TeeKeyPair;
use warden_wire::jwe::KeyAlgorithm;

#[tokio::test(flavor = "multi_thread")]
async fn the_kbs_prefetches_tdx_collateral_for_a_challenged_session_before_appraisal() {
    let vector = vector();
    let pcs = fake_pcs(&vector, Duration::ZERO, Behaviour::Serve).await;
    let dir = tempfile::tempdir().unwrap();
    let collateral_dir = dir.path().join("tdx-collateral");
    std::fs::create_dir(&collateral_dir).unwrap();
    let config_path = dir.path().join("kbs.toml");
    std::fs::write(
        &config_path,
        format!(
            "insecure_http = true\n[token]\nsigning_key = \"t.pem\"\n[store]\n\
             sqlite = \"w.db\"\nmaster_key_file = \"m.key\"\n[tdx]\ncollateral_dir = {:?}\n\
             [tdx.pcs]\nurl = {:?}\nroot_crl_url = \"{}{ROOT_CRL_PATH}\"\n",
            collateral_dir.display().to_string(),
            pcs.url,
            pcs.url
        ),
    )
    .unwrap();
    let kbs = warden_kbs::Kbs::open(&warden_kbs::Config::load(&config_path).unwrap())
        .await
        .unwrap();
    let now = at(VALID);
    let request =
        json!({"version": warden_wire::PROTOCOL_VERSION, "tee": "tdx", "extra-params": ""});
    let (session, challenge) = kbs
        .auth(
            [127, 0, 0, 1].into(),
            request.to_string().as_bytes(),
            now,
            std::time::Instant::now(),
        )
        .unwrap();
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
    let evidence = TdxEvidence {
        quote: vector.quote.clone(),
        event_log: None,
    };
    let body = json!({
        "runtime-data": {"nonce": challenge.nonce, "tee-pubkey": key.public_jwk()},
        "tee-evidence": {"primary_evidence": evidence.to_json(), "additional_evidence": ""},
    })
    .to_string();
    // Only a session holding a fresh challenge makes the KBS fetch anything.
    kbs.prepare_collateral(None, body.as_bytes(), now).await;
    kbs.prepare_collateral(Some("no such session"), body.as_bytes(), now)
        .await;
    assert_eq!(pcs.total(), 0);
    kbs.prepare_collateral(Some(&session), body.as_bytes(), now)
        .await;
    for path in ALL_PATHS {
        assert_eq!(pcs.hits(path), 1, "{path}");
    }
    assert_eq!(cache_files(&collateral_dir).len(), 7);
    // Appraisal has the collateral: this real quote cannot carry the session's nonce, so the
    // binding is the only check that fails.
    match kbs.attest(Some(&session), None, body.as_bytes(), now).await {
        Err(KbsError::AttestationFailed(Rejection::Evidence(failed))) => {
            let names: Vec<&str> = failed.iter().map(|check| check.name).collect();
            assert_eq!(names, ["report_data"], "{failed:?}");
        }
        other => panic!("expected a report_data rejection, got {other:?}"),
    }
}
