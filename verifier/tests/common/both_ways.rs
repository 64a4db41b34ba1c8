//! Appraisal through the gRPC verifier service as well as embedded: the vector tests call
//! [`appraise`] instead of `Appraiser::appraise`, so every real vector they appraise is also
//! appraised by a `VerifierService` over mutual TLS (in this process, judging at the same time),
//! and the two answers — result or refusal, and the whole decision trace — must be identical;
//! so must the service's answer without the trace, as a broker asks for it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use time::OffsetDateTime;
use warden_store::{ReferenceValueOrigin, Store};
use warden_verifier::{AppraisalRequest, Appraiser, AttestationResult, Rejection};
use warden_verifier_service::{
    Appraisal, PolicyChoice, RemoteAppraisal, RemoteVerifier, TlsFiles, VerifierBackend,
    VerifierService,
};

/// Writes the test PKI into `dir`; returns the service's and a client's files.
pub(crate) fn pki(dir: &Path) -> (TlsFiles, TlsFiles) {
    let pki = warden_test_support::pki::MtlsPki::generate(dir);
    let files = |name: &str| {
        let paths = pki.identity(name);
        TlsFiles {
            cert: paths.cert,
            key: paths.key,
            ca: paths.ca,
        }
    };
    (files("server"), files("client"))
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    server: TlsFiles,
    client: TlsFiles,
    _dir: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, client) = pki(dir.path());
        Shared {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
            server,
            client,
            _dir: dir,
        }
    })
}

/// Appraises `request` at `at` with `appraiser` embedded and through the service; asserts both
/// say the same and returns the answer.
pub(crate) fn appraise(
    appraiser: Appraiser,
    request: &AppraisalRequest<'_>,
    at: OffsetDateTime,
) -> Result<AttestationResult, Rejection> {
    let embedded = appraiser.appraise_detailed(request, at);
    let (remote, remote_trace) = shared()
        .runtime
        .block_on(through_service(appraiser, request, at));
    assert_eq!(
        serde_json::to_value(&embedded.trace).expect("trace"),
        remote_trace,
        "the service's decision trace differs from the embedded one"
    );
    match (&embedded.result, &remote) {
        (Ok(embedded), Ok(remote)) => assert_eq!(embedded, remote, "results differ"),
        (Err(embedded), Err(remote)) => {
            assert_eq!(embedded.to_string(), remote.to_string(), "refusals differ")
        }
        (embedded, remote) => panic!("embedded: {embedded:?}\nservice: {remote:?}"),
    }
    embedded.result
}

async fn through_service(
    appraiser: Appraiser,
    request: &AppraisalRequest<'_>,
    at: OffsetDateTime,
) -> RemoteAppraisal {
    let shared = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("verifier.db"))
        .await
        .expect("store");
    // The service appraises with the values in its store: the same ones, expiries included.
    let values = appraiser.reference_values();
    for name in values.names() {
        let origin = ReferenceValueOrigin {
            source: "test".into(),
            set_by: String::new(),
            provenance_sha256: None,
            expires_at: values.expiry(name),
        };
        let value = values.get(name).expect("listed value").to_string();
        store
            .put_reference_values(&[(name.to_owned(), value)], &origin)
            .await
            .expect("store reference value");
    }
    let service = VerifierService::open(appraiser, store)
        .await
        .expect("service")
        .with_clock(Arc::new(move || at));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(warden_verifier_service::serve(
        listener,
        shared.server.server_config().expect("server TLS"),
        service,
        async {
            let _ = stopped.await;
        },
    ));
    let client = RemoteVerifier::connect(&url, "localhost", &shared.client).expect("client");
    let appraisal = client.appraise(request).await.expect("service call");
    // As a broker asks: no trace, and the same outcome.
    let brokered = VerifierBackend::appraise(
        &client,
        Appraisal {
            tee: request.tee.to_owned(),
            evidence: request.evidence.clone(),
            init_data: request.init_data.clone(),
            expected: request.expected.clone(),
            policy: PolicyChoice::Default,
            with_trace: false,
        },
        at,
    )
    .await
    .expect("service call without trace");
    assert_eq!(
        brokered.trace,
        serde_json::Value::Null,
        "a trace nobody asked for"
    );
    match (&appraisal.0, &brokered.outcome) {
        (Ok(traced), Ok(brokered)) => assert_eq!(traced, brokered, "results differ"),
        (Err(traced), Err(brokered)) => assert_eq!(traced.to_string(), brokered.to_string()),
        (traced, brokered) => panic!("with trace: {traced:?}\nwithout: {brokered:?}"),
    }
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
    appraisal
}
