//! The verifier service fetches the collateral of TDX evidence from PCS (here the stand-in in
//! `warden_test_support::fake_pcs`, serving the dcap-qvl vector's collateral) before appraising it, exactly
//! as the KBS does with its embedded verifier; without `--tdx-pcs` it appraises with what it has
//! and refuses for want of collateral.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use warden_fetch::Prefetcher;
use warden_fetch::pcs::PcsSettings;
use warden_store::Store;
use warden_test_support::fake_pcs::{
    ALL_PATHS, Behaviour, VALID, at, cache_files, fake_pcs, vector,
};
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::tee::tdx::TdxEvidence;
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, VerifierRegistry,
    VerifierSettings,
};
use warden_verifier_service::{RemoteVerifier, VerifierService};

/// Appraises the vector's quote through a service (prefetching from `pcs` when given), judging
/// at the vector's valid time, with report data the quote does not carry; the refusal's text.
async fn refusal(
    quote: &[u8],
    pcs: Option<&warden_test_support::fake_pcs::FakePcs>,
    cache: &std::path::Path,
) -> String {
    let settings = VerifierSettings::default();
    let prefetcher = Prefetcher::new(
        None,
        pcs.map(|pcs| {
            PcsSettings::new(pcs.url.clone(), pcs.root_crl_url(), Some(cache.to_owned()))
        }),
        &settings,
    )
    .expect("prefetcher");
    let appraiser = Appraiser::new(
        VerifierRegistry::new(&settings),
        Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy"),
        ReferenceValues::default(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("verifier.db"))
        .await
        .expect("store");
    let service = VerifierService::open(appraiser, store)
        .await
        .expect("service")
        .with_clock(Arc::new(|| at(VALID)))
        .with_prefetcher(prefetcher);
    let (server_tls, client_tls) = common::both_ways::pki(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    tokio::spawn(warden_verifier_service::serve(
        listener,
        server_tls.server_config().expect("server TLS"),
        service,
        std::future::pending(),
    ));
    let client = RemoteVerifier::connect(&url, "localhost", &client_tls).expect("client");
    let evidence = TdxEvidence {
        quote: quote.to_vec(),
        event_log: None,
    }
    .to_json();
    let request = AppraisalRequest {
        init_data: None,
        tee: "tdx",
        evidence: &evidence,
        expected: ExpectedBinding {
            report_data: Some(vec![7; 64]),
            init_data_digest: None,
        },
    };
    let (outcome, _trace) = client.appraise(&request).await.expect("service call");
    outcome.expect_err("refused").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_fetches_tdx_collateral_before_appraisal_only_when_configured() {
    let vector = vector();
    let cache = tempfile::tempdir().unwrap();

    let without = refusal(&vector.quote, None, cache.path()).await;
    assert!(without.contains("tcb_info"), "{without}");

    let pcs = fake_pcs(&vector, std::time::Duration::ZERO, Behaviour::Serve).await;
    let with = refusal(&vector.quote, Some(&pcs), cache.path()).await;
    // The collateral was fetched (each item once) and cached, so the binding is the only check
    // this real quote fails.
    assert!(with.contains("report_data"), "{with}");
    assert!(!with.contains("tcb_info"), "{with}");
    for path in ALL_PATHS {
        assert_eq!(pcs.hits(path), 1, "{path}");
    }
    assert_eq!(cache_files(cache.path()).len(), 7);
}
