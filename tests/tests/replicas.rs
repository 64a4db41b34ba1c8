//! Several `warden-kbs serve` processes on one store (one SQLite file, one master key, one
//! token signing key) behave as one KBS: a session begun on one continues on another, a nonce
//! is used once for all, a policy set through one is enforced by the others within a second,
//! and a signing key certified through one is refused by the others. Two `warden-verifier
//! serve` on one store agree within a second too.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use warden_tests::signing::{Work, set_signing_policy, signing_kbs, signing_policy};
use warden_tests::verifier_service::{self, MtlsPki, VerifierProcess};
use warden_tests::{Kbs, KbsOptions, RawClient, client_trusting};
use warden_verifier_service::{PolicyChoice, VerifierBackend};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

const RESOURCE: &str = "replicas/keys/one";
const SECRET: &[u8] = b"one secret, three processes";

/// A sample TEE talking to whichever replica it is told, carrying its session cookie by hand
/// (no cookie store: which process gets the cookie is the point).
struct Client {
    raw: RawClient,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Client {
    fn new(kbs: &Kbs) -> Self {
        Self {
            raw: RawClient::new(kbs),
            http: client_trusting(&kbs.ca_file(), false)
                .cookie_store(false)
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let request = match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `/auth` at `url`: keeps the session cookie, returns the nonce.
    async fn auth(&mut self, url: &str) -> String {
        let response = self
            .http
            .post(format!("{url}/kbs/v0/auth"))
            .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with("kbs-session-id="))
            .and_then(|value| value.split(';').next())
            .unwrap()
            .to_owned();
        self.cookie = Some(cookie);
        let challenge: Value = response.json().await.unwrap();
        challenge["nonce"].as_str().unwrap().to_owned()
    }

    /// The sample evidence for `nonce`, committing to `additional` (`additional-evidence`).
    fn attestation(&self, nonce: &str, additional: &str) -> Value {
        let key = self.raw.key.public_jwk();
        let digest = warden_wire::runtime_data_digest(nonce, &key, additional);
        json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": key},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode(digest)},
                "additional_evidence": additional,
            },
        })
    }

    /// `/auth` and `/attest` on the replica at `url`, the evidence committing to `additional`.
    async fn attest_on(&mut self, url: &str, additional: &str) -> (u16, Value) {
        let nonce = self.auth(url).await;
        let attestation = self.attestation(&nonce, additional);
        self.post(url, "/kbs/v0/attest", &attestation).await
    }

    async fn post(&self, url: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(format!("{url}{path}")).json(body))
            .await
    }

    async fn resource(&self, url: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{url}/kbs/v0/resource/{RESOURCE}")))
            .await
    }
}

fn assert_refused(status: u16, body: &Value, expected: u16, kind: &str) {
    assert_eq!(status, expected, "{body}");
    let error_type = body["type"].as_str().unwrap_or_default();
    assert!(error_type.ends_with(kind), "{kind}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_moves_between_replicas_and_its_nonce_is_used_once_for_all() {
    let a = Kbs::start(KbsOptions::default());
    a.provision_sample(RESOURCE, SECRET, "replicas/");
    let (b, c) = (a.start_replica(), a.start_replica());

    // Auth on A, attest on B, resource on C.
    let mut client = Client::new(&a);
    let nonce = client.auth(&a.url).await;
    let attestation = client.attestation(&nonce, "");
    let (status, body) = client.post(&b.url, "/kbs/v0/attest", &attestation).await;
    assert_eq!(status, 200, "{body}");
    let (status, envelope) = client.resource(&c.url).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.raw.decrypt(&envelope), SECRET);
    let (status, envelope) = client.resource(&a.url).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.raw.decrypt(&envelope), SECRET);

    // The same attestation replayed on another replica, or the one that granted it: refused.
    for url in [&c.url, &a.url, &b.url] {
        let (status, body) = client.post(url, "/kbs/v0/attest", &attestation).await;
        assert_refused(status, &body, 401, "InvalidSession");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("already used its nonce"),
            "{body}"
        );
    }
    // A session no replica attested is unknown to all.
    let mut stranger = Client::new(&a);
    stranger.auth(&c.url).await;
    for url in [&a.url, &b.url] {
        let (status, body) = stranger.resource(url).await;
        assert_refused(status, &body, 401, "InvalidSession");
    }
    assert!(b.log().contains("attestation appraised, token issued"));
    assert!(c.log().contains("resource released"));
}

/// Sets the release policy of `replicas/` to `source` through the admin API at `url`.
fn set_release_policy(kbs: &Kbs, url: &str, source: &str) {
    let file = kbs.dir.path().join("release.rego");
    std::fs::write(&file, source).unwrap();
    let output = kbs
        .admin_command(
            url,
            &kbs.admin_token("admin"),
            &[
                "policy",
                "set-release",
                "--prefix",
                "replicas/",
                "--file",
                file.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls the resource at `url` until it answers `expected`; how long that took.
async fn until_answered(client: &Client, url: &str, expected: u16) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = client.resource(url).await;
        if status == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {status} after 5 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_policy_set_through_one_replica_is_enforced_by_another_within_a_second() {
    let a = Kbs::start(KbsOptions::default());
    a.provision_sample(RESOURCE, SECRET, "replicas/");
    let b = a.start_replica();
    let mut client = Client::new(&a);
    let nonce = client.auth(&b.url).await;
    let (status, body) = client
        .post(&b.url, "/kbs/v0/attest", &client.attestation(&nonce, ""))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client.resource(&b.url).await.0, 200);

    // Denied through A: B enforces it within a second of A's answer.
    set_release_policy(
        &a,
        &a.url,
        "package warden.release\n\ndefault allow := false\n",
    );
    let denied = until_answered(&client, &b.url, 403).await;
    // Allowed again through B: A follows.
    let allow = std::fs::read_to_string(
        warden_tests::repo_root().join("policies/allow-insecure-sample.rego"),
    )
    .unwrap();
    set_release_policy(&a, &b.url, &allow);
    let allowed = until_answered(&client, &a.url, 200).await;
    println!(
        "replicas: a release policy set through one replica was enforced by another after {} ms (deny, A→B) and {} ms (allow, B→A)",
        denied.as_millis(),
        allowed.as_millis()
    );
    assert!(denied < Duration::from_secs(1), "{denied:?}");
    assert!(allowed < Duration::from_secs(1), "{allowed:?}");
    let (status, envelope) = client.resource(&a.url).await;
    assert_eq!(status, 200);
    assert_eq!(client.raw.decrypt(&envelope), SECRET);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signing_key_certified_through_one_replica_is_refused_by_another() {
    let work = Work::default();
    let a = signing_kbs(KbsOptions {
        allow_sample: true,
        ..KbsOptions::default()
    });
    a.set_reference_value("sample", r#"{"min_svn": 1}"#);
    set_signing_policy(&a, &work, &signing_policy("sample", true));
    let b = a.start_replica();

    let key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let commitment = json!({"warden.signing-keys": [key.keyid()]}).to_string();
    let csr = json!({
        "csr": STANDARD.encode(warden_agent::signing::certification_request(&key).unwrap()),
    });
    let mut client = Client::new(&a);
    let (status, body) = client.attest_on(&a.url, &commitment).await;
    assert_eq!(status, 200, "{body}");
    let (status, issued) = client
        .post(&a.url, "/kbs/v0/signing/certificate", &csr)
        .await;
    assert_eq!(status, 200, "{issued}");
    // The same session on B: the commitment is spent for every replica.
    let (status, body) = client
        .post(&b.url, "/kbs/v0/signing/certificate", &csr)
        .await;
    assert_refused(status, &body, 409, "SigningKeyAlreadyCertified");
    // A new attestation on B committing to the same key: still once per key.
    let (status, body) = client.attest_on(&b.url, &commitment).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = client
        .post(&b.url, "/kbs/v0/signing/certificate", &csr)
        .await;
    assert_refused(status, &body, 409, "SigningKeyAlreadyCertified");
    // A key committed to but never certified is certified once, by B.
    let other = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let commitment = json!({"warden.signing-keys": [other.keyid()]}).to_string();
    let (status, body) = client.attest_on(&b.url, &commitment).await;
    assert_eq!(status, 200, "{body}");
    let other_csr = json!({
        "csr": STANDARD.encode(warden_agent::signing::certification_request(&other).unwrap()),
    });
    let (status, issued) = client
        .post(&b.url, "/kbs/v0/signing/certificate", &other_csr)
        .await;
    assert_eq!(status, 200, "{issued}");
    let (status, body) = client
        .post(&a.url, "/kbs/v0/signing/certificate", &other_csr)
        .await;
    assert_refused(status, &body, 409, "SigningKeyAlreadyCertified");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_appraisal_policy_set_through_one_verifier_service_is_in_force_on_another_within_a_second()
 {
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let sample = "--insecure-allow-sample".to_owned();
    let first =
        VerifierProcess::start(&pki, &dir.path().join("one"), std::slice::from_ref(&sample));
    let store = first.state_dir.join("verifier.db");
    let second = VerifierProcess::start(
        &pki,
        &dir.path().join("two"),
        &[sample, "--sqlite".into(), store.display().to_string()],
    );
    let one = verifier_service::client(&pki, &first.url, "client");
    let two = verifier_service::client(&pki, &second.url, "client");
    let policy = format!(
        "{}\n# set through the first service\n",
        warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY
    );
    let set = VerifierBackend::set_appraisal_policy(&one, &PolicyChoice::Default, &policy, "")
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        if two.appraisal_policies().await.unwrap().default == set {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not in force after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    println!(
        "replicas: an appraisal policy set through one verifier service was in force on another after {} ms",
        elapsed.as_millis()
    );
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}
