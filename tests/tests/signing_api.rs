//! The signing authority's API against the real KBS: what bad input gets (each refusal with
//! its status and type), the timestamp authority judged by `openssl ts`, remote signing with a
//! named key whose private bytes never leave the store sealed, and the loop closed — an
//! attested builder's signed reference values release a secret; the same statement from an
//! un-attested key does not.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use warden_tests::measure::SnpImage;
use warden_tests::signing::{
    BUILDER, Work, bundle_files, judge, openssl_ts_verify, securesystemslib_verifies,
    set_signing_policy, sign_args, signing_cert_args, signing_kbs, signing_policy,
    sigstore_models_parse, sigstore_verify, text, verify_artifact,
};
use warden_tests::{Kbs, KbsOptions, RawClient, contains, run_ok};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

/// A KBS accepting the INSECURE sample TEE, whose signing policy allows sample results.
fn sample_signing_kbs(options: KbsOptions, work: &Work) -> Kbs {
    let kbs = signing_kbs(KbsOptions {
        allow_sample: true,
        ..options
    });
    kbs.set_reference_value("sample", r#"{"min_svn": 1}"#);
    set_signing_policy(&kbs, work, &signing_policy("sample", true));
    kbs
}

/// Attests `raw` with sample evidence committing to `keyids` (the `additional-evidence` string
/// is `additional` verbatim when given).
async fn attest_committing(raw: &RawClient, additional: &str) -> (u16, Value) {
    let (status, challenge) = raw.auth().await;
    assert_eq!(status, 200, "{challenge}");
    let nonce = challenge["nonce"].as_str().unwrap();
    let digest = warden_wire::runtime_data_digest(nonce, &raw.key.public_jwk(), additional);
    raw.post(
        "/kbs/v0/attest",
        json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": raw.key.public_jwk()},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode(digest)},
                "additional_evidence": additional,
            },
        }),
    )
    .await
}

fn commitment(keys: &[&SigningKeyPair]) -> String {
    let ids: Vec<String> = keys.iter().map(|key| key.keyid()).collect();
    json!({"warden.signing-keys": ids}).to_string()
}

fn csr_body(key: &SigningKeyPair) -> Value {
    let csr = warden_agent::signing::certification_request(key).unwrap();
    json!({"csr": STANDARD.encode(csr)})
}

fn assert_refused(status: u16, body: &Value, expected: u16, kind: &str) {
    assert_eq!(status, expected, "{body}");
    let error_type = body["type"].as_str().unwrap_or_default();
    assert!(error_type.ends_with(kind), "{kind}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_go_only_to_keys_bound_into_the_attested_evidence_once_each() {
    let work = Work::default();
    let kbs = sample_signing_kbs(KbsOptions::default(), &work);
    let bound = SigningKeyPair::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let other = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();

    // No session at all.
    let (status, body) = RawClient::new(&kbs)
        .post("/kbs/v0/signing/certificate", csr_body(&bound))
        .await;
    assert_refused(status, &body, 401, "Unauthenticated");

    // A malformed commitment is refused when the evidence is appraised.
    let raw = RawClient::new(&kbs);
    let (status, body) =
        attest_committing(&raw, r#"{"warden.signing-keys":["not-a-key-id"]}"#).await;
    assert_refused(status, &body, 400, "MalformedRequest");

    let raw = RawClient::new(&kbs);
    let (status, body) = attest_committing(&raw, &commitment(&[&bound])).await;
    assert_eq!(status, 200, "{body}");
    // A key the evidence did not commit to.
    let (status, body) = raw
        .post("/kbs/v0/signing/certificate", csr_body(&other))
        .await;
    assert_refused(status, &body, 403, "SigningKeyNotBound");
    // Malformed requests: not base64, not a CSR, a CSR whose signature was altered, an
    // unknown member.
    let mut forged = warden_agent::signing::certification_request(&bound).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    for bad in [
        json!({"csr": "%%%"}),
        json!({"csr": STANDARD.encode(b"not a certification request")}),
        json!({"csr": STANDARD.encode(&forged)}),
        json!({"csr": csr_body(&bound)["csr"], "subject": "CN=me"}),
        json!({"csr": csr_body(&bound)["csr"], "lifetime-seconds": 0}),
    ] {
        let (status, body) = raw.post("/kbs/v0/signing/certificate", bad.clone()).await;
        assert_refused(status, &body, 400, "SigningRequestInvalid");
    }
    // The bound key: a certificate, capped at the configured maximum lifetime.
    let mut request = csr_body(&bound);
    request["lifetime-seconds"] = 86_400.into();
    let (status, issued) = raw.post("/kbs/v0/signing/certificate", request).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["identity"], BUILDER);
    let not_before = time::OffsetDateTime::parse(
        issued["not-before"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let not_after = time::OffsetDateTime::parse(
        issued["not-after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((not_after - not_before).whole_seconds(), 600);
    // Once per commitment.
    let (status, body) = raw
        .post("/kbs/v0/signing/certificate", csr_body(&bound))
        .await;
    assert_refused(status, &body, 409, "SigningKeyAlreadyCertified");
    let log = kbs.log();
    assert!(log.contains("signing certificate refused"), "{log}");
    assert!(
        log.contains("SigningKeyNotBound") || log.contains("not bound"),
        "{log}"
    );

    // An attestation token is a bearer credential: it gets resources (encrypted to the
    // attested key) but never a signature, which would be in the clear for whoever holds it.
    let token = RawClient::new(&kbs).attest().await;
    let response = kbs
        .http()
        .post(format!("{}/kbs/v0/signing/keys/release/sign", kbs.url))
        .bearer_auth(&token)
        .json(&json!({"payload-type": "application/vnd.in-toto+json", "payload": ""}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_refused(status, &body, 401, "Unauthenticated");

    // A KBS without [signing] has no signing endpoints.
    let plain = Kbs::start(KbsOptions::default());
    let (status, body) = RawClient::new(&plain)
        .get("/kbs/v0/signing/trust-root", None)
        .await;
    assert_refused(status, &body, 404, "SigningDisabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_session_gets_no_certificate() {
    let work = Work::default();
    let kbs = sample_signing_kbs(
        KbsOptions {
            session_timeout: "2s",
            token_lifetime: "2s",
            ..Default::default()
        },
        &work,
    );
    let key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    // A client without a cookie jar (a jar would drop the expired cookie): it keeps the
    // cookie itself and sends it again after expiry, as a replaying client would.
    let plain = warden_tests::client_trusting(&kbs.ca_file(), false)
        .build()
        .unwrap();
    let response = plain
        .post(format!("{}/kbs/v0/auth", kbs.url))
        .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": {}}))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let challenge: Value = response.json().await.unwrap();
    let nonce = challenge["nonce"].as_str().unwrap();
    let tee_key =
        warden_wire::TeeKeyPair::generate(warden_wire::jwe::KeyAlgorithm::EcdhEsA256kw).unwrap();
    let additional = commitment(&[&key]);
    let digest = warden_wire::runtime_data_digest(nonce, &tee_key.public_jwk(), &additional);
    let post = |path: &str, body: Value| {
        plain
            .post(format!("{}{path}", kbs.url))
            .header("Cookie", &cookie)
            .json(&body)
            .send()
    };
    let attested = post(
        "/kbs/v0/attest",
        json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": tee_key.public_jwk()},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode(digest)},
                "additional_evidence": additional,
            },
        }),
    )
    .await
    .unwrap();
    assert_eq!(attested.status().as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let response = post("/kbs/v0/signing/certificate", csr_body(&key))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_refused(status, &body, 401, "InvalidSession");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timestamp_authority_answers_openssl_queries_openssl_verifies() {
    let work = Work::default();
    let kbs = sample_signing_kbs(KbsOptions::default(), &work);
    let data = work.write("data.bin", b"a signature to timestamp");
    let query = work.path("query.tsq");
    run_ok(
        Command::new("openssl")
            .args(["ts", "-query", "-data"])
            .arg(&data)
            .args(["-sha256", "-cert", "-out"])
            .arg(&query),
    );
    let reply = work.path("reply.tsr");
    // What `curl --data-binary @req.tsq -H 'Content-Type: application/timestamp-query'` sends.
    let post = |body: std::path::PathBuf, out: std::path::PathBuf| {
        let http = kbs.http();
        let url = format!("{}/kbs/v0/signing/timestamp", kbs.url);
        async move {
            let response = http
                .post(url)
                .header("Content-Type", "application/timestamp-query")
                .body(std::fs::read(&body).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(
                response.headers()["content-type"],
                "application/timestamp-reply"
            );
            std::fs::write(out, response.bytes().await.unwrap()).unwrap();
        }
    };
    post(query.clone(), reply.clone()).await;
    let ca = kbs.home().join("signing/ca.pem");
    let tsa = kbs.home().join("signing/tsa.pem");
    // `openssl ts -verify` of the reply against a data file or the query.
    let verify = |against: &std::path::Path, how: &str| {
        judge(
            Command::new("openssl")
                .args(["ts", "-verify", how])
                .arg(against)
                .arg("-in")
                .arg(&reply)
                .arg("-CAfile")
                .arg(&ca)
                .arg("-untrusted")
                .arg(&tsa),
        )
    };
    for (against, how) in [(data.as_path(), "-data"), (query.as_path(), "-queryfile")] {
        let (ok, out) = verify(against, how);
        assert!(ok && out.contains("Verification: OK"), "{how}: {out}");
    }
    // Another file's digest: OpenSSL refuses the same reply.
    let other = work.write("other.bin", b"another signature");
    let (ok, out) = verify(&other, "-data");
    assert!(!ok, "{out}");
    // Garbage gets a well-formed rejection, which OpenSSL reads as one.
    let garbage = work.write("garbage.tsq", b"\x30\x03\x02\x01\x07");
    let rejected = work.path("rejected.tsr");
    post(garbage, rejected.clone()).await;
    let (ok, out) = judge(
        Command::new("openssl")
            .args(["ts", "-reply", "-text", "-in"])
            .arg(&rejected),
    );
    assert!(ok && out.contains("Status: Rejected"), "{out}");
}

/// The named key's private scalar (what its PKCS#8 holds), read from the stopped KBS's store
/// with the master key, as an operator with both could.
async fn named_key_private_bytes(kbs: &Kbs, name: &str) -> Vec<u8> {
    let config = warden_kbs::config::Config::load(&kbs.home().join("kbs.toml")).unwrap();
    let sealer = warden_kbs::service::master_sealer(&config).unwrap();
    let store = config.store.open().await.unwrap();
    let key = warden_kbs::signing::load_named_key(&store, &sealer, name)
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    key.pkcs8_der().to_vec()
}

/// The 32-byte private scalar inside a P-256 PKCS#8 (ECPrivateKey version 1, then the OCTET
/// STRING of the key).
fn p256_scalar(pkcs8: &[u8]) -> Vec<u8> {
    let at = pkcs8
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .unwrap()
        + 5;
    pkcs8[at..at + 32].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_key_signs_for_attested_callers_and_its_private_bytes_never_leave_sealed() {
    let work = Work::default();
    let mut kbs = sample_signing_kbs(KbsOptions::default(), &work);
    let sample = ["--tee", "sample", "--insecure-allow-sample"];
    let created = kbs.admin(&[
        "signing",
        "create-key",
        "release",
        "--algorithm",
        "ecdsa-p256",
    ]);
    let created_out = String::from_utf8_lossy(&created.stdout).into_owned();
    let answer: Value = serde_json::from_str(&created_out).unwrap();
    assert_eq!(answer["algorithm"], "ecdsa-p256");
    assert!(
        answer["public-key"]
            .as_str()
            .unwrap()
            .contains("PUBLIC KEY")
    );
    kbs.admin(&["signing", "create-key", "other"]);
    let listed = kbs.admin(&["signing", "list-keys"]);
    // Another role may not create keys; no token at all is refused.
    let reader = kbs.admin_token("reader");
    let output = kbs.try_admin_as(&reader, &["signing", "create-key", "mine"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("403"));
    let output = kbs.try_admin_as("", &["signing", "list-keys"]);
    assert_ne!(output.status.code(), Some(0));

    let artifact = work.write("image.qcow2", b"a disk image");
    let statement_for = |builder: &str, name: &str| {
        let output = kbs.agent_as(
            &sample,
            &[
                "statement",
                "--artifact",
                artifact.to_str().unwrap(),
                "--builder-id",
                builder,
            ],
        );
        assert!(output.status.success(), "{}", text(&output));
        work.write(name, &output.stdout)
    };
    let statement = statement_for(BUILDER, "provenance.json");
    let bundle = work.path("remote.sigstore.json");
    let remote_sign = |key: &str, statement: &std::path::Path| {
        kbs.agent_as(
            &sample,
            &[
                "remote-sign",
                "--key-name",
                key,
                "--statement",
                statement.to_str().unwrap(),
                "--bundle-out",
                bundle.to_str().unwrap(),
            ],
        )
    };
    let output = remote_sign("release", &statement);
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    let bundle_text = std::fs::read_to_string(&bundle).unwrap();

    // A deployer verifies it like a keyless one; outside judges agree.
    let ca = kbs.home().join("signing/ca.pem");
    let output = verify_artifact(&[
        "--bundle",
        bundle.to_str().unwrap(),
        "--artifact",
        artifact.to_str().unwrap(),
        "--trust-root",
        ca.to_str().unwrap(),
        "--identity",
        BUILDER,
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["attested"]["key"], "release");
    assert_eq!(report["attested"]["tee"], "sample");
    let (ok, out) = securesystemslib_verifies(&[&bundle]);
    assert!(ok, "{out}");
    let (ok, out) = sigstore_models_parse(&[&bundle]);
    assert!(ok, "{out}");
    let files = bundle_files(&bundle, work.dir.path());
    let (ok, out) = openssl_ts_verify(&files, &ca, &kbs.home().join("signing/tsa.pem"));
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // The remote signature is on the signing transparency log: the stock Sigstore client
    // accepts the bundle with Warden's trust configuration.
    let trust = kbs.home().join("signing/trust-config.json");
    let (ok, out) = sigstore_verify(&trust, &bundle, BUILDER, &artifact);
    assert!(ok && out.contains("OK: "), "{out}");
    // The payload is the caller's, byte for byte.
    let signed: Value = serde_json::from_str(&bundle_text).unwrap();
    let payload = STANDARD
        .decode(signed["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, std::fs::read(&statement).unwrap());

    // Refusals: a statement naming another builder, a key the policy does not give this
    // caller, a statement that is not one.
    let elsewhere = statement_for("https://kbs.warden.test/builders/impostor", "other.json");
    let output = remote_sign("release", &elsewhere);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BuilderMismatch"));
    let output = remote_sign("other", &statement);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SigningPolicyDeny"));
    let not_statement = work.write("not.json", br#"{"_type": "nope"}"#);
    let output = remote_sign("release", &not_statement);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SigningRequestInvalid"));

    // The private key is nowhere but sealed in the store: not in the store file in any form,
    // the log, any API answer, or the process's arguments.
    let pid = kbs.pid();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    kbs.terminate(std::time::Duration::from_secs(10));
    let pkcs8 = named_key_private_bytes(&kbs, "release").await;
    let scalar = p256_scalar(&pkcs8);
    let stored = kbs.stored_bytes();
    let answers = [
        created_out.as_bytes(),
        &listed.stdout,
        bundle_text.as_bytes(),
    ]
    .concat();
    let log = kbs.log();
    for secret in [&pkcs8, &scalar] {
        for form in [
            secret.to_vec(),
            hex::encode(secret).into_bytes(),
            STANDARD.encode(secret).into_bytes(),
        ] {
            for (place, haystack) in [
                ("store", &stored),
                ("log", &log.as_bytes().to_vec()),
                ("API answers", &answers),
                ("cmdline", &cmdline),
            ] {
                assert!(
                    !contains(haystack, &form),
                    "the private key leaked into the {place}"
                );
            }
        }
    }
    assert!(stored.len() > 4096, "the store was read");
}

#[test]
fn an_attested_builders_reference_values_release_a_secret_and_an_unattested_keys_do_not() {
    close_the_loop(false);
}

/// The same with the verifier as its own service, which trusts the KBS's signing CA
/// (`--trusted-signing-ca`) and holds the imported values.
#[test]
fn the_loop_closes_the_same_through_a_verifier_service() {
    close_the_loop(true);
}

fn close_the_loop(remote: bool) {
    let (_chain, chain_dir, _) = warden_tests::sim_snp_chain();
    let work = Work::default();
    // The image the build makes, and the measurement a host launching it on 4 vCPUs gets from
    // the secure processor (as AMD's sev-snp-measure computes it).
    let image = SnpImage::default();
    let launched = image.amd_launch_digest(4);
    // The build enclave attests as the (INSECURE) sample TEE, so that the only SNP reference
    // values the KBS ever holds are the ones the build signs.
    let kbs = sample_signing_kbs(
        KbsOptions {
            serve_args: vec!["--insecure-dev-roots".into(), chain_dir.clone()],
            extra_config: format!(
                "[provenance]\nsigning_ca = \"signing/ca.pem\"\nbuilder_identities = [\"{BUILDER}\"]\n"
            ),
            remote_verifier: remote,
            verifier_args: vec![
                "--insecure-dev-roots".into(),
                chain_dir.clone(),
                "--trusted-signing-ca".into(),
                "{kbs_home}/signing/ca.pem".into(),
                "--trusted-builder-identity".into(),
                BUILDER.into(),
            ],
            ..Default::default()
        },
        &work,
    );
    let sim_snp = [
        "--tee",
        "sim-snp",
        "--insecure-sim-snp-dir",
        &chain_dir,
        "--insecure-sim-snp-launch-measurement",
        &launched,
    ];
    let workload = |args: &[&str]| kbs.agent_as(&sim_snp, args);
    let builder =
        |args: &[&str]| kbs.agent_as(&["--tee", "sample", "--insecure-allow-sample"], args);
    let secret = work.write("secret.bin", b"database password for the image");
    kbs.admin(&[
        "resource",
        "set",
        "app/db/password",
        "--file",
        secret.to_str().unwrap(),
    ]);
    let release = warden_tests::repo_root().join("policies/allow-insecure-sample.rego");
    kbs.admin(&[
        "policy",
        "set-release",
        "--prefix",
        "app/",
        "--file",
        release.to_str().unwrap(),
    ]);
    // No reference value yet: the image's evidence does not affirm, the secret stays.
    let output = workload(&["get-resource", "app/db/password"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    // The attested build: a certificate, the image, and the reference values the image will
    // have when launched, signed and timestamped.
    let key = work.path("build.key");
    let cert = work.path("build.pem");
    let output = builder(&signing_cert_args(&key, &cert));
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    // The build computes the image's launch digest and states it as the reference value.
    let disk = work.write("image.qcow2", b"the guest image");
    let output = Command::new(warden_tests::binary("warden-verifier"))
        .args(["measure", "snp", "--firmware"])
        .arg(image.path("OVMF.fd"))
        .args(image.measure_args(4))
        .args(["--output", "statement", "--expires", "2099-01-01T00:00:00Z"])
        .arg("--subject")
        .arg(&disk)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let statement = work.write("rv-statement.json", &output.stdout);
    let attested = work.path("attested.sigstore.json");
    let output = builder(&sign_args(
        &key,
        &cert,
        "--statement",
        &statement,
        &attested,
    ));
    assert!(output.status.success(), "{}", text(&output));

    // The same statement signed by a key no attestation vouched for: its own self-made
    // certificate naming the same builder, timestamped by the same KBS.
    let rogue_key = work.write(
        "rogue.key",
        warden_wire::pem::encode(
            "PRIVATE KEY",
            SigningKeyPair::generate(KeyAlgorithm::EcdsaP256)
                .unwrap()
                .pkcs8_der(),
        ),
    );
    let rogue_cert = work.write("rogue.pem", self_signed_pem(&rogue_key));
    // The KBS will not put it on its signing transparency log: the chain is not its CA's.
    let unlogged = work.path("unlogged.sigstore.json");
    let output = builder(&sign_args(
        &rogue_key,
        &rogue_cert,
        "--statement",
        &statement,
        &unlogged,
    ));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no trusted root"),
        "{}",
        text(&output)
    );
    // Signed and timestamped all the same, without the log, by the agent's own library.
    let rogue = work.path("rogue.sigstore.json");
    let rogue_bundle = rogue_bundle(&kbs, &rogue_key, &rogue_cert, &statement);
    std::fs::write(&rogue, rogue_bundle).unwrap();
    let output = kbs.try_admin(&[
        "reference-value",
        "import",
        "--file",
        rogue.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("attested builder") && stderr.contains("chain"),
        "{stderr}"
    );
    let output = workload(&["get-resource", "app/db/password"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    // The attested builder's bundle is imported, and the image now gets its secret.
    let output = kbs.admin(&[
        "reference-value",
        "import",
        "--file",
        attested.to_str().unwrap(),
    ]);
    let imported = String::from_utf8_lossy(&output.stdout);
    assert!(imported.contains(BUILDER), "{imported}");
    let output = workload(&["get-resource", "app/db/password"]);
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    assert_eq!(output.stdout, std::fs::read(&secret).unwrap());
}

/// `statement` signed with the rogue key and timestamped at the KBS, not logged: a bundle
/// anyone can make without attesting.
fn rogue_bundle(
    kbs: &Kbs,
    key: &std::path::Path,
    cert: &std::path::Path,
    statement: &std::path::Path,
) -> String {
    use warden_agent::signing;
    let key = signing::load_signing_key(&std::fs::read(key).unwrap()).unwrap();
    let cert = signing::pem_block(&std::fs::read(cert).unwrap(), "CERTIFICATE").unwrap();
    let statement = std::fs::read(statement).unwrap();
    let mut bundle =
        signing::sign_locally(&key, &cert, signing::Signable::Statement(&statement)).unwrap();
    let config = warden_agent::ClientConfig {
        base_url: kbs.url.clone(),
        ca_file: Some(kbs.ca_file()),
        allow_plain_http: false,
        timeout: std::time::Duration::from_secs(30),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(signing::timestamp(&config, &mut bundle))
        .unwrap();
    bundle.to_json()
}

/// A self-signed code-signing certificate for the key in `key_pem`, naming [`BUILDER`]: what
/// anyone can make without attesting.
fn self_signed_pem(key_pem: &std::path::Path) -> String {
    let dir = key_pem.parent().unwrap();
    let out = dir.join("rogue-cert.pem");
    run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-x509", "-key"])
            .arg(key_pem)
            .args([
                "-subj",
                "/CN=rogue",
                "-days",
                "1",
                "-addext",
                &format!("subjectAltName=URI:{BUILDER}"),
                "-addext",
                "extendedKeyUsage=codeSigning",
                "-addext",
                "keyUsage=critical,digitalSignature",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-out",
            ])
            .arg(&out),
    );
    std::fs::read_to_string(out).unwrap()
}

/// `signing-files` writes the public files again from the store — for a store whose authority
/// predates the transparency log — and they are the ones `init` wrote; `signing-init` refuses a
/// store that has an authority.
#[test]
fn signing_files_rewrites_the_public_files_from_the_store() {
    let work = Work::default();
    let kbs = signing_kbs(KbsOptions::default());
    let config = kbs.home().join("kbs.toml");
    let out = work.path("again");
    let output = run_ok(
        Command::new(warden_tests::binary("warden-kbs"))
            .args(["signing-files", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 5);
    for file in ["ca.pem", "tsa.pem", "ct.pub", "signing-log.vkey"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(kbs.home().join("signing").join(file)).unwrap(),
            "{file}"
        );
    }
    let trust = |dir: &std::path::Path| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("trust-config.json")).unwrap()).unwrap()
    };
    let (again, first) = (trust(&out), trust(&kbs.home().join("signing")));
    for part in [
        "certificateAuthorities",
        "tlogs",
        "ctlogs",
        "timestampAuthorities",
    ] {
        let keys = |root: &Value| {
            root["trustedRoot"][part]
                .as_array()
                .unwrap()
                .iter()
                // The keys and certificates; `validFor` starts a minute before each writing.
                .map(|item| {
                    (
                        item["publicKey"]["rawBytes"].clone(),
                        item["logId"].clone(),
                        item["certChain"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&again), keys(&first), "{part}");
    }
    let refused = Command::new(warden_tests::binary("warden-kbs"))
        .args(["signing-init", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(work.path("refused"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
}
