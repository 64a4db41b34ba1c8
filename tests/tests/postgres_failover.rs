//! The KBS on PostgreSQL when the database goes away and comes back (issue 18): requests that
//! need the store are answered 503 at once — no hang, no crash — and the KBS serves again by
//! itself once the server is back. The test runs its own PostgreSQL server, which it stops.

use std::time::{Duration, Instant};

use warden_tests::{Kbs, KbsOptions, PostgresCluster, RawClient};

const SECRET: &[u8] = b"the tenant's database password";
const RESOURCE: &str = "/kbs/v0/resource/tenant/app/key";

fn error_type(body: &serde_json::Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_postgres_down_the_kbs_answers_503_and_recovers_by_itself() {
    let cluster = PostgresCluster::start();
    let mut kbs = Kbs::start(KbsOptions {
        store_url: Some(cluster.url.clone()),
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample("tenant/app/key", SECRET, "tenant");
    let admin = kbs.admin_token("admin");
    let client = RawClient::new(&kbs);
    let token = client.attest().await;
    let (status, envelope) = client.get(RESOURCE, Some(&token)).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);

    cluster.stop();
    let started = Instant::now();
    let (status, body) = client.get(RESOURCE, Some(&token)).await;
    let first_answer = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(error_type(&body).ends_with("StoreUnavailable"), "{body}");
    // A new attestation: /auth needs no store; /attest cannot record its audit entry or session.
    let (status, challenge) = client.auth().await;
    assert_eq!(status, 200, "{challenge}");
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let (status, body) = client
        .post("/kbs/v0/attest", client.attestation(&nonce, &nonce))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        error_type(&body).ends_with("LogUnavailable")
            || error_type(&body).ends_with("StoreUnavailable"),
        "{body}"
    );
    let ready = client
        .http
        .get(format!("{}/readyz", kbs.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let (status, body) = client.get("/kbs/v0/admin/resources", Some(&admin)).await;
    assert_eq!(status, 503, "an admin call with the store down: {body}");
    assert!(kbs.is_running(), "the KBS survived the database going away");
    eprintln!("store down: first 503 after {first_answer:?}");

    cluster.restart();
    let back = Instant::now();
    let recovered = loop {
        let (status, envelope) = client.get(RESOURCE, Some(&token)).await;
        if status == 200 {
            assert_eq!(client.decrypt(&envelope), SECRET);
            break back.elapsed();
        }
        assert_eq!(status, 503, "{envelope}");
        assert!(back.elapsed() < Duration::from_secs(60), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("store back: served again after {recovered:?}");
    // Everything works again: a new session, a release, an admin change.
    let token = client.attest().await;
    let (status, _) = client.get(RESOURCE, Some(&token)).await;
    assert_eq!(status, 200);
    let (status, body) = client.get("/kbs/v0/admin/resources", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert!(kbs.is_running());
}
