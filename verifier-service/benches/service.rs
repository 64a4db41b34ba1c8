//! Appraisals per second through the gRPC verifier service (mutual TLS on loopback, in this
//! process) against the embedded verifier, on the same real SNP evidence (Genoa v3 vector) in
//! the same run. Writes `bench-results/service.json` with the overhead.
//!
//! The service appraises at its own clock, so the vector's VCEK must be valid now; the bench
//! checks every answer is affirming.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use serde_json::json;
use time::OffsetDateTime;
use warden_test_support::bench::{rate, round3};
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::tee::snp::SnpEvidence;
use warden_verifier::tee::snp::certs::{Collateral, Endorsements};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, Status, VerifierRegistry,
    VerifierSettings,
};
use warden_verifier_service::TlsFiles;
use warden_verifier_service::{
    Appraisal, PolicyChoice, RemoteVerifier, VerifierBackend, VerifierService,
};
use warden_wire::snp::Report;

/// The test PKI's files for `name`, as the service reads them.
fn tls(pki: &warden_test_support::pki::MtlsPki, name: &str) -> TlsFiles {
    let paths = pki.identity(name);
    TlsFiles {
        cert: paths.cert,
        key: paths.key,
        ca: paths.ca,
    }
}

fn appraiser(vcek: &[u8], measurement: &[u8]) -> Appraiser {
    let mut collateral = Endorsements::default();
    collateral.add_bytes(vcek).expect("vcek");
    let registry = VerifierRegistry::new(&VerifierSettings {
        snp_collateral: Arc::new(Collateral::new(collateral)),
        ..Default::default()
    });
    let reference = json!({"snp": {"measurements": [hex::encode(measurement)]}});
    Appraiser::new(
        registry,
        Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).expect("policy"),
        ReferenceValues::new(serde_json::from_value(reference).expect("reference values")),
    )
}

fn service(c: &mut Criterion) {
    let dir = warden_test_support::vectors::set("snp", "trustee-genoa-v3");
    let report_bytes = std::fs::read(dir.join("report.bin")).expect("report");
    let vcek = std::fs::read(dir.join("vcek.der")).expect("vcek");
    let report = Report::parse(&report_bytes).expect("report");
    let evidence = SnpEvidence {
        report: report_bytes.clone(),
        endorsements: Vec::new(),
    }
    .to_json();
    let expected = ExpectedBinding {
        report_data: Some(report.report_data().to_vec()),
        init_data_digest: None,
    };
    let request = AppraisalRequest {
        init_data: None,
        tee: "snp",
        evidence: &evidence,
        expected: expected.clone(),
    };
    // The service's clock is the wall clock: embedded appraisal uses the same, read per call.
    let embedded = appraiser(&vcek, report.measurement());
    let affirmed =
        |status: Status| assert_eq!(status, Status::Affirming, "the vector must be valid now");
    affirmed(
        embedded
            .appraise(&request, OffsetDateTime::now_utc())
            .expect("embedded appraisal")
            .status,
    );

    let work = tempfile::tempdir().expect("tempdir");
    let pki = warden_test_support::pki::MtlsPki::generate(&work.path().join("pki"));
    let (server_tls, client_tls) = (tls(&pki, "server"), tls(&pki, "client"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    let service = runtime
        .block_on(async {
            let store = warden_store::Store::open_sqlite(&work.path().join("verifier.db"))
                .await
                .expect("store");
            VerifierService::open(appraiser(&vcek, report.measurement()), store).await
        })
        .expect("service");
    let server_config = server_tls.server_config().expect("server TLS");
    runtime.spawn(warden_verifier_service::serve(
        listener,
        server_config,
        service,
        std::future::pending(),
    ));
    let remote = runtime
        .block_on(async { RemoteVerifier::connect(&url, "localhost", &client_tls) })
        .expect("client");
    // The service's reference values are what was set through it (its store).
    runtime
        .block_on(
            remote.set_reference_value(
                &NamedReferenceValue::new(
                    "snp",
                    json!({"measurements": [hex::encode(report.measurement())]}),
                    None,
                )
                .expect("reference value"),
                "bench",
            ),
        )
        .expect("set reference value");
    let remote_appraise = || {
        let (outcome, _trace) = runtime
            .block_on(remote.appraise(&request))
            .expect("remote appraisal");
        affirmed(outcome.expect("affirmed").status);
    };
    remote_appraise();

    c.bench_function("service/embedded_appraise", |b| {
        b.iter(|| embedded.appraise(&request, OffsetDateTime::now_utc()))
    });
    c.bench_function("service/embedded_appraise_with_trace", |b| {
        b.iter(|| embedded.appraise_detailed(&request, OffsetDateTime::now_utc()))
    });
    c.bench_function("service/grpc_mtls_appraise", |b| b.iter(remote_appraise));

    let embedded_rate = rate(&|| {
        affirmed(
            embedded
                .appraise(&request, OffsetDateTime::now_utc())
                .expect("appraisal")
                .status,
        )
    });
    let remote_rate = rate(&remote_appraise);
    // Sixteen calls in flight on one connection: what a busy broker sees. A broker asks as the
    // KBS does (no decision trace: the same work as the embedded appraisal); an explaining
    // client asks for the trace too.
    let in_flight: u32 = 16;
    let concurrent_rate = |with_trace: bool| {
        rate(&|| {
            runtime.block_on(async {
                let calls: Vec<_> = (0..in_flight)
                    .map(|_| {
                        let (remote, evidence, expected) =
                            (remote.clone(), evidence.clone(), expected.clone());
                        tokio::spawn(async move {
                            let appraisal = Appraisal {
                                tee: "snp".into(),
                                evidence,
                                init_data: None,
                                expected,
                                policy: PolicyChoice::Default,
                                with_trace,
                            };
                            VerifierBackend::appraise(&remote, appraisal, OffsetDateTime::now_utc())
                                .await
                        })
                    })
                    .collect();
                for call in calls {
                    let appraised = call.await.expect("task").expect("remote appraisal");
                    affirmed(appraised.outcome.expect("affirmed").status);
                }
            })
        }) * f64::from(in_flight)
    };
    let remote_concurrent_rate = concurrent_rate(false);
    let remote_concurrent_traced_rate = concurrent_rate(true);
    let summary = json!({
        "evidence": "snp trustee-genoa-v3, default policy, measurement listed",
        "embedded_appraisals_per_s": embedded_rate.round(),
        "grpc_mtls_appraisals_per_s_one_in_flight": remote_rate.round(),
        "grpc_mtls_appraisals_per_s_16_in_flight": remote_concurrent_rate.round(),
        "grpc_over_embedded_16_in_flight": round3(remote_concurrent_rate / embedded_rate),
        "grpc_mtls_appraisals_per_s_16_in_flight_with_trace": remote_concurrent_traced_rate.round(),
        "grpc_over_embedded_one_in_flight": round3(remote_rate / embedded_rate),
        "grpc_overhead_us_per_appraisal_one_in_flight": ((1e6 / remote_rate - 1e6 / embedded_rate) * 10.0).round() / 10.0,
    });
    println!("service summary: {summary:#}");
    warden_test_support::bench::write_result("service.json", &summary);
}

criterion_group!(benches, service);

fn main() {
    benches();
    criterion::Criterion::default().final_summary();
}
