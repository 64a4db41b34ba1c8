//! End to end: the real `warden-kbs` binary on a loopback port (TLS, SQLite) and the real
//! `warden-agent`, the admin CLI and a hand-driven client for protocol misuse.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use warden_tests::{Kbs, KbsOptions, RawClient, contains};

const SECRET: &[u8] = b"warden-e2e-secret-7f3a9c1d";

#[test]
fn agent_attests_and_fetches_a_secret_that_never_appears_in_logs_or_store() {
    let kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let output = kbs.agent(&["get-resource", "demo/key/one"]);
    assert!(
        output.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, SECRET);
    let out_file = kbs.dir.path().join("secret.out");
    let output = kbs.agent(&[
        "get-resource",
        "demo/key/one",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    assert_eq!(std::fs::read(&out_file).unwrap(), SECRET);

    let log = kbs.log();
    assert!(
        log.contains("resource released"),
        "the debug log was captured:\n{log}"
    );
    let sample_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("tee=sample"))
        .collect();
    assert!(
        sample_lines.len() >= 3,
        "auth, attest and release were logged:\n{log}"
    );
    for line in sample_lines {
        assert!(
            line.contains("INSECURE"),
            "a sample log line is not marked: {line}"
        );
    }
    assert!(
        !contains(log.as_bytes(), SECRET),
        "secret leaked into the KBS log"
    );
    let stored = kbs.stored_bytes();
    assert!(!stored.is_empty());
    assert!(!contains(&stored, SECRET), "secret stored in plaintext");
    // The admin listing shows names, never values.
    let listing = kbs.admin(&["resource", "list"]);
    assert!(contains(&listing.stdout, b"demo/key/one") && !contains(&listing.stdout, SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_verifies_with_the_jwks_alone_and_is_marked_insecure() {
    let kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let output = kbs.agent(&["attest"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let client = kbs.http();
    let discovery: Value = client
        .get(format!("{}/.well-known/openid-configuration", kbs.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let jwks: JwkSet = client
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("token kid in JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
    let claims =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    let submod = &claims["submods"]["cpu0"];
    assert_eq!(submod["ear.status"], "affirming");
    assert_eq!(submod["warden.tee"], "sample");
    assert_eq!(submod["ear.trustworthiness-vector"]["executables"], 2);
    assert_eq!(claims["eat_profile"], "tag:github.com,2023:veraison/ear");
    assert!(
        claims["warden.insecure"][0]
            .as_str()
            .unwrap()
            .contains("sample"),
        "{claims}"
    );
    assert_eq!(claims["cnf"]["jwk"]["kty"], "EC");

    // A token with a flipped signature byte does not verify.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .is_err()
    );

    // The token summarises the decision trace; `warden-verifier explain --token` shows it,
    // checking the signature with the JWKS.
    assert_eq!(submod["warden.trace"]["failed"], serde_json::json!([]));
    assert!(
        submod["warden.trace"]["passed"].as_u64().unwrap() >= 3,
        "{submod}"
    );
    let token_file = kbs.dir.path().join("token.jwt");
    let jwks_file = kbs.dir.path().join("jwks.json");
    std::fs::write(&token_file, &token).unwrap();
    std::fs::write(&jwks_file, serde_json::to_vec(&jwks).unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let explain = |token: &std::path::Path, at: Option<&str>| {
        let mut command = std::process::Command::new(warden_tests::binary("warden-verifier"));
        command.args(["explain", "--token"]).arg(token);
        if let Some(at) = at {
            command.arg("--jwks").arg(&jwks_file).args(["--at", at]);
        }
        command.output().unwrap()
    };
    let checked = explain(&token_file, Some(&now));
    let text = String::from_utf8_lossy(&checked.stdout);
    assert_eq!(checked.status.code(), Some(0), "{text}");
    assert!(!text.contains("NOT checked"), "{text}");
    assert!(
        text.contains("verdict: affirming (sample evidence)"),
        "{text}"
    );
    // By 2100 the token has expired: a checked explanation refuses it (exit 2).
    let expired = explain(&token_file, Some("2100-01-01T00:00:00Z"));
    assert_eq!(expired.status.code(), Some(2));
    let unchecked = explain(&token_file, None);
    let text = String::from_utf8_lossy(&unchecked.stdout);
    // Affirming, but nobody checked the signature: not a verdict (exit 3).
    assert_eq!(unchecked.status.code(), Some(3), "{text}");
    assert!(text.contains("signature NOT checked"), "{text}");
    assert!(text.contains("INSECURE"), "{text}");
    assert!(text.contains("steps passed, 0 failed"), "{text}");
    let forged_file = kbs.dir.path().join("forged.jwt");
    std::fs::write(&forged_file, &forged).unwrap();
    assert_eq!(explain(&forged_file, Some(&now)).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn nonces_are_single_use_and_must_match() {
    let kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let client = RawClient::new(&kbs);

    // Wrong nonce: evidence and runtime data for a nonce the KBS never issued.
    let (_, challenge) = client.auth().await;
    let body = client.attestation("bm90LXRoZS1ub25jZQ==", "bm90LXRoZS1ub25jZQ==");
    let (status, error) = client.post("/kbs/v0/attest", body).await;
    assert_eq!(status, 401, "{error}");
    assert!(
        error["type"].as_str().unwrap().ends_with("InvalidSession"),
        "{error}"
    );
    // A failed attempt keeps no state (an unauthenticated client costs nothing): the ticket
    // still answers one correct attestation, and only one.
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let body = client.attestation(&nonce, &nonce);
    let (status, token) = client.post("/kbs/v0/attest", body.clone()).await;
    assert_eq!(status, 200, "{token}");
    let (status, error) = client.post("/kbs/v0/attest", body.clone()).await;
    assert_eq!(status, 401, "replay on the same session: {error}");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("already used its nonce"),
        "{error}"
    );
    let (status, envelope) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(
        status, 200,
        "the replay did not touch the attested session: {envelope}"
    );
    let (_, _) = client.auth().await;
    let (status, _) = client.post("/kbs/v0/attest", body).await;
    assert_eq!(status, 401, "replay on a fresh session");

    // The token alone (no cookie) works as a bearer credential, and only with its own key.
    let token = token["token"].as_str().unwrap();
    let fresh = RawClient::new(&kbs);
    let (status, envelope) = fresh
        .get("/kbs/v0/resource/demo/key/one", Some(token))
        .await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);
    let (status, _) = fresh
        .get("/kbs/v0/resource/demo/key/one", Some("e30.e30.e30"))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_sample_evidence_is_refused() {
    let kbs = Kbs::start(KbsOptions::default());
    let client = RawClient::new(&kbs);
    let (_, challenge) = client.auth().await;
    let nonce = challenge["nonce"].as_str().unwrap();
    // Report data bound to another nonce: evidence from some other session.
    let (status, error) = client
        .post(
            "/kbs/v0/attest",
            client.attestation(nonce, "c29tZS1vdGhlcg=="),
        )
        .await;
    assert_eq!(status, 401, "{error}");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("report_data: report data"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_expire() {
    let kbs = Kbs::start(KbsOptions {
        session_timeout: "2s",
        ..KbsOptions::default()
    });
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let client = RawClient::new(&kbs);
    let (_, challenge) = client.auth().await;
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, error) = client
        .post("/kbs/v0/attest", client.attestation(&nonce, &nonce))
        .await;
    assert_eq!(status, 401, "{error}");

    client.attest().await;
    let (status, _) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 401, "an attested session expires too");
}

#[tokio::test(flavor = "multi_thread")]
async fn release_policy_denies_with_403_and_unknown_resources_are_404() {
    let kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let secret_file = kbs.dir.path().join("other.bin");
    std::fs::write(&secret_file, b"other").unwrap();
    kbs.admin(&[
        "resource",
        "set",
        "prod/key/one",
        "--file",
        secret_file.to_str().unwrap(),
    ]);
    let client = RawClient::new(&kbs);
    client.attest().await;
    // prod/ falls under the shipped default policy, which refuses sample evidence.
    let (status, error) = client.get("/kbs/v0/resource/prod/key/one", None).await;
    assert_eq!(status, 403, "{error}");
    assert!(error["type"].as_str().unwrap().ends_with("PolicyDeny"));
    let (status, _) = client.get("/kbs/v0/resource/demo/key/missing", None).await;
    assert_eq!(status, 404);
    let (status, _) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 200);
    // Reference values not met: the appraisal is a warning and the release is refused.
    kbs.set_reference_value("sample", r#"{"min_svn": 9}"#);
    let stricter = RawClient::new(&kbs);
    stricter.attest().await;
    let (status, _) = stricter.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_calls_need_a_valid_token_with_the_right_role() {
    let kbs = Kbs::start(KbsOptions::default());
    let http = kbs.http();
    let url = format!("{}/kbs/v0/admin/resources/a/b/c", kbs.url);
    let status = |response: reqwest::Response| response.status().as_u16();

    assert_eq!(
        status(http.put(&url).body("x").send().await.unwrap()),
        401,
        "no token"
    );
    assert_eq!(
        status(
            http.put(&url)
                .bearer_auth("not.a.token")
                .body("x")
                .send()
                .await
                .unwrap()
        ),
        401,
        "bad token"
    );
    let admin_key = std::fs::read(kbs.home().join("keys/admin.key")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = warden_kbs::admin::mint_token(
        "admin",
        &admin_key,
        "old",
        vec![warden_kbs::admin::Role::Admin],
        now - time::Duration::hours(2),
        time::Duration::hours(1),
    )
    .unwrap()
    .token;
    assert_eq!(
        status(
            http.put(&url)
                .bearer_auth(expired)
                .body("x")
                .send()
                .await
                .unwrap()
        ),
        401,
        "expired token"
    );
    let reader = kbs.admin_token("reader");
    assert_eq!(
        status(
            http.put(&url)
                .bearer_auth(&reader)
                .body("x")
                .send()
                .await
                .unwrap()
        ),
        403,
        "reader cannot write"
    );
    assert_eq!(
        status(
            http.get(format!("{}/kbs/v0/admin/resources", kbs.url))
                .bearer_auth(&reader)
                .send()
                .await
                .unwrap()
        ),
        200
    );
    // An attestation token is not an admin token.
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let attestation_token = RawClient::new(&kbs).attest().await;
    assert_eq!(
        status(
            http.put(&url)
                .bearer_auth(attestation_token)
                .body("x")
                .send()
                .await
                .unwrap()
        ),
        401
    );
    let admin = kbs.admin_token("admin");
    assert_eq!(
        status(
            http.put(&url)
                .bearer_auth(&admin)
                .body("x")
                .send()
                .await
                .unwrap()
        ),
        204
    );
    // A policy that does not compile is refused and the old one stays.
    let bad = http
        .put(format!(
            "{}/kbs/v0/admin/policies/release?prefix=demo/",
            kbs.url
        ))
        .bearer_auth(&admin)
        .body("package warden.release\nallow if {")
        .send()
        .await
        .unwrap();
    assert_eq!(status(bad), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_survive_a_crash_and_restart() {
    let mut kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    kbs.crash_and_restart();
    let client = RawClient::new(&kbs);
    client.attest().await;
    let (status, envelope) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_rate_limited_and_sample_is_off_by_default() {
    let kbs = Kbs::start(KbsOptions {
        auth_per_second: 0.5, // one new token every 2 s: the burst cannot refill between the calls below
        auth_burst: 2.0,
        allow_sample: false,
        ..KbsOptions::default()
    });
    let client = RawClient::new(&kbs);
    let statuses = [
        client.auth().await.0,
        client.auth().await.0,
        client.auth().await.0,
    ];
    assert_eq!(statuses, [200, 200, 429]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, challenge) = client.auth().await;
    let nonce = challenge["nonce"].as_str().unwrap();
    let (status, error) = client
        .post("/kbs/v0/attest", client.attestation(nonce, nonce))
        .await;
    assert_eq!(status, 401);
    assert!(
        error["detail"].as_str().unwrap().contains("insecure"),
        "{error}"
    );
    let output = kbs.agent(&["attest"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_get_400_not_a_crash() {
    let kbs = Kbs::start(KbsOptions::default());
    let http = kbs.http();
    for body in [
        "",
        "{",
        "[]",
        r#"{"version":"0.4.0"}"#,
        r#"{"version":"9.9.9","tee":"sample","extra-params":{}}"#,
    ] {
        let response = http
            .post(format!("{}/kbs/v0/auth", kbs.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "body {body:?}");
        let error: Value = response.json().await.unwrap();
        assert!(error["type"].is_string() && error["detail"].is_string());
    }
    // Over HTTP/1.1 the server's early 413 races the client's write of the rest of the body
    // (a broken pipe); HTTP/2 delivers it.
    let huge = vec![b'a'; 2 << 20];
    let response = kbs
        .http2()
        .post(format!("{}/kbs/v0/attest", kbs.url))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // The KBS closes a connection whose oversized body it refused; continue on a new one.
    let http = kbs.http();
    let health = http
        .get(format!("{}/readyz", kbs.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = http
        .get(format!("{}/metrics", kbs.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("warden_kbs_requests_total"), "{metrics}");
}
