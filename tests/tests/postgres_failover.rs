//! The KBS on PostgreSQL when the database goes away and comes back (issue 18): requests that
//! need the store are answered 503 at once — no hang, no crash — and the KBS serves again by
//! itself once the server is back. The test runs its own PostgreSQL server, which it stops.
#![allow(clippy::unwrap_used)]

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

/// Runs `warden-kbs serve`, which must exit with an error: its standard error.
fn serve_refused(config: &std::path::Path) -> String {
    let output = std::process::Command::new(warden_tests::binary("warden-kbs"))
        .args(["serve", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!output.status.success(), "serve started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `serve` with a store it cannot use exits at once with a message naming the URL, never its
/// password: a closed port, a wrong password, and a schema newer than this build's.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_cannot_be_used_stops_start_up_naming_the_url_without_its_password() {
    let cluster = PostgresCluster::start();
    let mut kbs = Kbs::start(KbsOptions {
        store_url: Some(cluster.url.clone()),
        remote_verifier: false,
        ..KbsOptions::default()
    });
    assert!(kbs.terminate(Duration::from_secs(30)).is_some());
    let config_path = kbs.home().join("kbs.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let password = cluster
        .url
        .split_once("://warden:")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(password, _)| password.to_owned())
        .unwrap();
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let port = cluster
        .url
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let unreachable = cluster
        .url
        .replace(&format!(":{port}/"), &format!(":{closed_port}/"));
    let wrong_password = cluster.url.replace(&password, "not-the-password");
    for (url, expected) in [
        (unreachable.as_str(), "Connection refused"),
        (wrong_password.as_str(), "password authentication failed"),
    ] {
        std::fs::write(&config_path, config.replace(&cluster.url, url)).unwrap();
        let started = Instant::now();
        let stderr = serve_refused(&config_path);
        assert!(stderr.contains("warden:***@127.0.0.1"), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !stderr.contains(&password) && !stderr.contains("not-the-password"),
            "{stderr}"
        );
        eprintln!(
            "refused in {:?}: {}",
            started.elapsed(),
            stderr.lines().last().unwrap_or_default()
        );
    }
    // A schema from a newer Warden: refused, untouched.
    std::fs::write(&config_path, &config).unwrap();
    let store = warden_store::Store::open_postgres(&cluster.url, &Default::default())
        .await
        .unwrap();
    warden_store::testing::execute(&store, "UPDATE schema_version SET version = version + 1")
        .await
        .unwrap();
    store.close().await;
    let stderr = serve_refused(&config_path);
    assert!(stderr.contains("newer than this build"), "{stderr}");
    assert!(!stderr.contains(&password), "{stderr}");
}
