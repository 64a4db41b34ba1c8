//! The KBS appraising through a separately started `warden-verifier serve` over mutual TLS:
//! the same scenario gives the same answers as with the embedded verifier, and the service
//! refuses clients without a certificate from its client CA.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::{Value, json};
use warden_tests::verifier_service::{self, MtlsPki, VerifierProcess};
use warden_tests::{Kbs, KbsOptions, RawClient};
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier_service::{BackendError, RemoteVerifier, TlsFiles, VerifierBackend};

const SECRET: &[u8] = b"remote-verifier-secret";

/// The parts of a token that must not depend on where appraisal ran.
fn appraisal_of(token: &str) -> Value {
    let claims = warden_test_support::token::claims(token);
    let submod = &claims["submods"]["cpu0"];
    json!({
        "status": submod["ear.status"],
        "trust_vector": submod["ear.trustworthiness-vector"],
        "policy": submod["ear.appraisal-policy-id"],
        "claims": submod["ear.veraison.annotated-evidence"],
        "trace": submod["warden.trace"],
        "insecure": claims["warden.insecure"],
    })
}

/// `text` with every run of 32 or more hex digits (this client's own digests) replaced by `#`.
fn without_digests(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 32 { "#" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// `value` as the `sample` reference value.
fn sample_value(value: Value) -> NamedReferenceValue {
    NamedReferenceValue::new("sample", value, None).unwrap()
}

/// An appraisal of sample `evidence` with no binding expected.
fn sample_appraisal(evidence: &Value) -> warden_verifier::AppraisalRequest<'_> {
    warden_verifier::AppraisalRequest {
        tee: "sample",
        evidence,
        expected: Default::default(),
        init_data: None,
    }
}

/// One scenario against a KBS; returns everything a client could observe, in order.
async fn observe(remote: bool) -> (Vec<Value>, Kbs) {
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: remote,
        ..KbsOptions::default()
    });
    let mut seen = Vec::new();
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let output = kbs.agent(&["get-resource", "demo/key/one"]);
    assert!(
        output.status.success(),
        "remote={remote}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    seen.push(json!(output.stdout == SECRET));

    attest_and_fetch(&kbs, &mut seen).await;

    // Evidence that binds another nonce: refused, with the verifier's own words.
    let tampered = RawClient::new(&kbs);
    let (_, challenge) = tampered.auth().await;
    let nonce = challenge["nonce"].as_str().unwrap();
    let (status, error) = tampered
        .post(
            "/kbs/v0/attest",
            tampered.attestation(nonce, "b3RoZXItbm9uY2U="),
        )
        .await;
    let detail = error["detail"].as_str().unwrap_or_default();
    seen.push(json!([status, error["type"], without_digests(detail)]));

    // Stricter reference values, forwarded to wherever appraisal runs: a warning, refused.
    kbs.set_reference_value("sample", r#"{"min_svn": 9}"#);
    attest_and_fetch(&kbs, &mut seen).await;
    (seen, kbs)
}

/// A fresh client attests and asks for the secret: records the appraisal and the status.
async fn attest_and_fetch(kbs: &Kbs, seen: &mut Vec<Value>) {
    let client = RawClient::new(kbs);
    let mut appraisal = appraisal_of(&client.attest().await);
    // The claims carry this client's own report data; compare everything else.
    appraisal["claims"]["sample"]["report_data"] = Value::Null;
    seen.push(appraisal);
    let (status, _) = client.get("/kbs/v0/resource/demo/key/one", None).await;
    seen.push(json!(status));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kbs_gives_the_same_verdicts_through_the_verifier_service_as_embedded() {
    let (embedded, _) = observe(false).await;
    let (remote, kbs) = observe(true).await;
    assert_eq!(remote, embedded);
    // The scenario is the one intended, not two identical failures.
    assert_eq!(embedded[0], true);
    assert_eq!(embedded[1]["status"], "affirming");
    assert_eq!(embedded[2], 200);
    assert_eq!(embedded[3][0], 401);
    assert!(
        embedded[3][2].as_str().unwrap().contains("report_data"),
        "{}",
        embedded[3]
    );
    assert_eq!(embedded[4]["status"], "warning");
    assert_eq!(
        embedded[4]["trace"]["failed"],
        json!(["reference_values.sample.min_svn", "policy.executables"])
    );
    assert_eq!(embedded[5], 403);
    // It really went through the service, and the service said its results were insecure.
    let verifier = kbs.verifier.as_ref().unwrap();
    let log = verifier.log();
    assert!(log.contains("INSECURE result appraised"), "{log}");
    assert!(log.contains("reference value set"), "{log}");
    assert!(kbs.log().contains("appraisals go to the verifier service"));
}

/// The appraisal policy the admin API lists for `kbs`, as results name it.
fn listed_appraisal_policy(kbs: &Kbs) -> String {
    let listed: Value =
        serde_json::from_slice(&kbs.admin(&["policy", "list"]).stdout).expect("policy list JSON");
    let appraisal = &listed["appraisal"];
    format!(
        "{}@sha256:{}",
        appraisal["id"].as_str().unwrap(),
        appraisal["sha256"].as_str().unwrap()
    )
}

/// With either backend, the appraisal policy the KBS's admin API lists is the one results are
/// appraised with: before and after an administrator changes it, and for a KBS using a named
/// policy of a verifier service.
#[tokio::test(flavor = "multi_thread")]
async fn the_listed_appraisal_policy_is_the_one_in_force_with_either_backend() {
    let shipped =
        std::fs::read_to_string(warden_tests::repo_root().join("policies/appraisal.rego")).unwrap();
    let changed = format!("{shipped}\n# changed by an operator\n");
    for (remote, policy_id) in [(false, None), (true, None), (true, Some("build-farm"))] {
        let kbs = Kbs::start(KbsOptions {
            remote_verifier: remote,
            verifier_policy_id: policy_id,
            ..KbsOptions::default()
        });
        let case = format!("remote={remote} policy_id={policy_id:?}");
        let policy_file = kbs.home().join("appraisal.rego");
        if policy_id.is_some() {
            // A named policy exists once it is set.
            std::fs::write(&policy_file, &shipped).unwrap();
            kbs.admin(&[
                "policy",
                "set-appraisal",
                "--file",
                policy_file.to_str().unwrap(),
            ]);
        }
        kbs.provision_sample("demo/key/one", SECRET, "demo/");
        let in_force = |token: &str| appraisal_of(token)["policy"].as_str().unwrap().to_owned();
        let before = listed_appraisal_policy(&kbs);
        assert_eq!(
            in_force(&RawClient::new(&kbs).attest().await),
            before,
            "{case}"
        );
        assert!(
            before.starts_with(&format!("{}@sha256:", policy_id.unwrap_or("default"))),
            "{case}: {before}"
        );

        std::fs::write(&policy_file, &changed).unwrap();
        kbs.admin(&[
            "policy",
            "set-appraisal",
            "--file",
            policy_file.to_str().unwrap(),
        ]);
        let after = listed_appraisal_policy(&kbs);
        assert_ne!(after, before, "{case}");
        assert_eq!(
            in_force(&RawClient::new(&kbs).attest().await),
            after,
            "{case}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_refuses_clients_without_a_certificate_from_its_client_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let mut service = VerifierProcess::start(&pki, &dir.path().join("state"), &[]);
    let client = |url: &str, name: &str| verifier_service::client(&pki, url, name);
    let trusted = client(&service.url, "client");
    assert_eq!(trusted.health().await.unwrap(), "serving");
    let rogue = client(&service.url, "rogue-client");
    assert!(
        rogue.health().await.is_err(),
        "a certificate from another CA"
    );

    // No client certificate at all: the TLS handshake fails.
    let ca = std::fs::read(pki.file("ca.pem")).unwrap();
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let url = format!(
        "{}/warden.verifier.v1.Verifier/Health",
        service.url.replace("127.0.0.1", "localhost")
    );
    assert!(anonymous.post(url).send().await.is_err());

    // What is set through the service is kept in its SQLite store, with who set it (the
    // client certificate's name and whom it acts for), and survives a restart.
    trusted
        .set_reference_value(&sample_value(json!({"min_svn": 3})), "alice")
        .await
        .unwrap();
    service.restart();
    assert!(service.state_dir.join("verifier.db").exists());
    let after = client(&service.url, "client");
    assert_eq!(
        after.list_reference_values().await.unwrap(),
        json!({"sample": {"min_svn": 3}})
    );
    let entries = after
        .reference_value_entries(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(entries["sample"]["set_by"], "client for alice");
    assert_eq!(entries["sample"]["source"], "rpc");
    assert_eq!(entries["sample"]["version"], 1);
    // Without --accept-tpm-registrations no client may add an AK.
    let refused = after.register_tpm_ak(b"not a TPMT_PUBLIC", "").await;
    assert!(
        matches!(refused, Err(BackendError::Forbidden(ref detail)) if detail.contains("does not accept TPM AK registrations")),
        "{refused:?}"
    );
    assert!(
        after
            .delete_reference_value("sample", "alice")
            .await
            .unwrap()
    );
    assert!(
        !after
            .delete_reference_value("sample", "alice")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_services_managers_may_change_what_it_holds_and_every_client_may_appraise() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let sample = ["--insecure-allow-sample".to_owned()];
    let service = VerifierProcess::start(&pki, &dir.path().join("state"), &sample);
    let client = |url: &str, name: &str| verifier_service::client(&pki, url, name);
    let manager = client(&service.url, "client");
    let broker = client(&service.url, "broker-b");
    manager
        .set_reference_value(&sample_value(json!({"min_svn": 3})), "alice")
        .await
        .unwrap();
    let policy_before = manager.appraisal_policies().await.unwrap();

    // broker-b (same CA, not a manager) appraises and reads ...
    let evidence = json!({"svn": "1", "report_data": ""});
    let request = sample_appraisal(&evidence);
    let (result, _) = broker.appraise(&request).await.unwrap();
    assert_eq!(
        result.unwrap().status,
        warden_verifier::Status::Warning,
        "svn 1 is below the manager's min_svn 3"
    );
    assert_eq!(
        broker.list_reference_values().await.unwrap(),
        json!({"sample": {"min_svn": 3}})
    );
    // ... and every change it asks for is refused before its content is looked at.
    let forbidden = |outcome: Result<(), BackendError>, what: &str| {
        assert!(
            matches!(outcome, Err(BackendError::Forbidden(ref detail))
                if detail.contains("broker-b may appraise and read but not")),
            "{what}: {outcome:?}"
        );
    };
    forbidden(
        broker
            .set_reference_value(&sample_value(json!({"min_svn": 0})), "mallory")
            .await,
        "set",
    );
    forbidden(
        broker
            .delete_reference_value("sample", "mallory")
            .await
            .map(drop),
        "delete",
    );
    forbidden(
        broker
            .import_reference_values(b"{}", "mallory", time::OffsetDateTime::now_utc())
            .await
            .map(drop),
        "import",
    );
    forbidden(
        broker
            .set_appraisal_policy("package policy\nimport rego.v1\n")
            .await
            .map(drop),
        "policy",
    );
    forbidden(
        broker.register_tpm_ak(b"x", "mallory").await.map(drop),
        "register",
    );
    forbidden(
        broker.revoke_tpm_ak("000b", "mallory").await.map(drop),
        "revoke",
    );
    assert_eq!(
        manager.list_reference_values().await.unwrap(),
        json!({"sample": {"min_svn": 3}})
    );
    assert_eq!(manager.appraisal_policies().await.unwrap(), policy_before);
    assert!(
        service
            .log()
            .contains("change refused: the client is not a manager")
    );

    // serve needs a choice: named managers, or every client on purpose.
    let unchosen = std::process::Command::new(warden_tests::binary("warden-verifier"))
        .args(["serve", "--tls-cert", "a", "--tls-key", "b"])
        .args(["--tls-client-ca", "c", "--state-dir", "d"])
        .output()
        .unwrap();
    assert_eq!(unchosen.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unchosen.stderr).contains("--manager"));
    let open = VerifierProcess::start(
        &pki,
        &dir.path().join("open-state"),
        &["--any-client-may-manage".to_owned()],
    );
    client(&open.url, "broker-b")
        .set_reference_value(&sample_value(json!({"min_svn": 1})), "")
        .await
        .unwrap();
    assert!(
        open.log()
            .contains("every client of this service may change")
    );

    // A KBS whose certificate does not name a manager has its admin writes refused: the
    // operator's problem (503), not the admin's.
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: true,
        verifier_args: vec!["--manager".into(), "ops".into()],
        ..KbsOptions::default()
    });
    let value = dir.path().join("rv.json");
    std::fs::write(&value, r#"{"min_svn": 1}"#).unwrap();
    let refused = kbs.try_admin(&[
        "reference-value",
        "set",
        "sample",
        "--file",
        value.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("503") && said.contains("client may appraise and read but not"),
        "{said}"
    );
}

#[test]
fn warden_verifier_rv_manages_the_services_values_and_imports_only_signed_provenance() {
    use warden_tests::dsse::{
        BuilderKey, BuilderKeyKind, IN_TOTO_PAYLOAD_TYPE, reference_value_statement,
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let builder = BuilderKey::generate(BuilderKeyKind::EcdsaP384);
    let keys = dir.path().join("builder-keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("ci.pem"), builder.public_pem()).unwrap();
    let service = VerifierProcess::start(
        &pki,
        &dir.path().join("state"),
        &[
            "--trusted-builder-keys-dir".into(),
            keys.to_str().unwrap().into(),
        ],
    );
    let rv = |client: &str, args: &[&str]| {
        std::process::Command::new(warden_tests::binary("warden-verifier"))
            .args(["rv", "--server", &service.url, "--tls-cert"])
            .arg(pki.file(&format!("{client}.pem")))
            .arg("--tls-key")
            .arg(pki.file(&format!("{client}.key")))
            .arg("--tls-ca")
            .arg(pki.file("ca.pem"))
            .args(args)
            .output()
            .unwrap()
    };
    let json_of = |output: std::process::Output| -> Value {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let value_file = dir.path().join("sample.json");
    for min_svn in [1, 2] {
        std::fs::write(&value_file, format!(r#"{{"min_svn": {min_svn}}}"#)).unwrap();
        let output = rv(
            "client",
            &["add", "sample", "--file", value_file.to_str().unwrap()],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let shown = json_of(rv("client", &["show", "sample"]));
    assert_eq!(shown["value"], json!({"min_svn": 2}));
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["source"], "rpc");

    // Signed provenance: imported with its signer and digest; an unconfigured signer is refused.
    let statement = reference_value_statement(
        json!({"snp": {"measurements": ["ab".repeat(48)]}}),
        "2099-01-01T00:00:00Z",
    );
    let envelope = dir.path().join("rv.dsse.json");
    std::fs::write(
        &envelope,
        serde_json::to_vec(&builder.envelope(IN_TOTO_PAYLOAD_TYPE, &statement)).unwrap(),
    )
    .unwrap();
    let imported = json_of(rv(
        "client",
        &["import", "--file", envelope.to_str().unwrap()],
    ));
    assert_eq!(imported["imported"], json!(["snp"]));
    assert_eq!(imported["signer"], builder.keyid());
    let listed = json_of(rv("client", &["list"]));
    assert_eq!(listed["snp"]["source"], format!("dsse:{}", builder.keyid()));
    assert_eq!(
        listed["snp"]["provenance_sha256"],
        imported["provenance_sha256"]
    );
    assert_eq!(listed["snp"]["expires"], "2099-01-01T00:00:00Z");
    let stranger = BuilderKey::generate(BuilderKeyKind::EcdsaP384);
    std::fs::write(
        &envelope,
        serde_json::to_vec(&stranger.envelope(IN_TOTO_PAYLOAD_TYPE, &statement)).unwrap(),
    )
    .unwrap();
    let output = rv("client", &["import", "--file", envelope.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("provenance refused"));

    assert!(rv("client", &["rm", "sample"]).status.success());
    assert_eq!(rv("client", &["rm", "sample"]).status.code(), Some(1));
    assert_eq!(rv("client", &["show", "sample"]).status.code(), Some(1));
    // A client from another CA gets nothing.
    assert_eq!(rv("rogue-client", &["list"]).status.code(), Some(2));
    assert!(
        service
            .log()
            .contains("reference values imported from signed provenance")
    );
}

/// The sim-snp agent (SNP-format reports from a development chain) against a KBS whose
/// verifier — embedded or the service — trusts that chain, and one that does not.
fn sim_snp_observations(remote: bool, chain_dir: &str, reference: &str) -> Vec<Value> {
    let trust_dev_roots = vec!["--insecure-dev-roots".to_owned(), chain_dir.to_owned()];
    let (serve_args, verifier_args) = if remote {
        (Vec::new(), trust_dev_roots)
    } else {
        (trust_dev_roots, Vec::new())
    };
    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        remote_verifier: remote,
        serve_args,
        verifier_args,
        ..KbsOptions::default()
    });
    kbs.provision("dev/key/one", SECRET, "dev/", "snp", reference);
    let sim_snp = ["--tee", "sim-snp", "--insecure-sim-snp-dir", chain_dir];
    let fetched = kbs.agent_as(&sim_snp, &["get-resource", "dev/key/one"]);
    let attested = kbs.agent_as(&sim_snp, &["attest"]);
    assert!(
        attested.status.success(),
        "{}",
        String::from_utf8_lossy(&attested.stderr)
    );
    let mut appraisal = appraisal_of(String::from_utf8_lossy(&attested.stdout).trim());
    // Per-report values (this run's binding and report id) differ; the rest must not.
    for field in ["report_data", "report_id"] {
        appraisal["claims"]["snp"][field] = Value::Null;
    }
    let strict = Kbs::start(KbsOptions {
        allow_sample: false,
        remote_verifier: remote,
        ..KbsOptions::default()
    });
    strict.provision("dev/key/one", SECRET, "dev/", "snp", reference);
    let refused = strict.agent_as(&sim_snp, &["get-resource", "dev/key/one"]);
    let refusal = String::from_utf8_lossy(&refused.stderr);
    vec![
        json!([fetched.status.code(), fetched.stdout == SECRET]),
        appraisal,
        json!([
            refused.status.code(),
            refusal.contains("401"),
            refusal.contains("vek_chain")
        ]),
    ]
}

#[test]
fn sim_snp_through_the_verifier_service_gets_the_embedded_answers() {
    let chain = tempfile::tempdir().unwrap();
    warden_tests::run_ok(
        std::process::Command::new(warden_tests::binary("warden-agent"))
            .args(["sim-snp-init", "--dir"])
            .arg(chain.path()),
    );
    let chain_dir = chain.path().to_str().unwrap();
    let measurement = std::fs::read_to_string(chain.path().join("measurement")).unwrap();
    let reference = format!(r#"{{"measurements": ["{}"]}}"#, measurement.trim());
    let embedded = sim_snp_observations(false, chain_dir, &reference);
    let remote = sim_snp_observations(true, chain_dir, &reference);
    assert_eq!(remote, embedded);
    assert_eq!(embedded[0], json!([0, true]));
    assert_eq!(embedded[1]["status"], "affirming");
    assert!(
        embedded[1]["insecure"][0]
            .as_str()
            .unwrap()
            .contains("development roots")
    );
    assert_eq!(embedded[2], json!([1, true, true]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_services_ear_token_carries_the_result_and_runtime_data_and_verifies_with_its_jwks() {
    use base64::engine::general_purpose::STANDARD;
    use warden_verifier::ear::TokenVerifier;
    use warden_verifier::{AppraisalRequest, ExpectedBinding};
    use warden_wire::TeeKeyPair;
    use warden_wire::jwe::KeyAlgorithm;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let service = VerifierProcess::start(
        &pki,
        &dir.path().join("state"),
        &["--insecure-allow-sample".into()],
    );
    let client = RemoteVerifier::connect(
        &service.url,
        "localhost",
        &TlsFiles {
            cert: pki.file("client.pem"),
            key: pki.file("client.key"),
            ca: pki.file("ca.pem"),
        },
    )
    .unwrap();
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
    let jwk = key.public_jwk();
    let nonce = "c2VydmljZS1ub25jZQ==";
    let binding = warden_wire::runtime_data_digest(nonce, &jwk, "");
    let appraise = |bound: &[u8]| {
        let evidence = json!({"svn": "1", "report_data": STANDARD.encode(bound)});
        let (client, jwk) = (&client, &jwk);
        async move {
            let request = AppraisalRequest {
                tee: "sample",
                evidence: &evidence,
                // Not sent: the service derives the binding from the runtime data.
                expected: ExpectedBinding::default(),
                init_data: None,
            };
            client
                .appraise_signed(&request, nonce, jwk, "")
                .await
                .unwrap()
        }
    };

    let ((outcome, _trace), token) = appraise(&binding).await;
    let result = outcome.expect("appraised");
    let jwks = client.jwks().await.unwrap();
    let claims = TokenVerifier::from_jwks(&jwks, "warden-verifier")
        .unwrap()
        .verify(&token, time::OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(claims.eat_nonce, nonce);
    assert_eq!(claims.cnf.jwk, jwk);
    assert_eq!(claims.primary().unwrap().status, result.status);
    assert!(
        !claims.insecure.is_empty(),
        "sample results are marked insecure"
    );

    // Evidence bound to other runtime data: refused, and no token.
    let ((outcome, _trace), token) = appraise(&[7u8; 48]).await;
    assert!(outcome.unwrap_err().to_string().contains("report_data"));
    assert!(token.is_empty());
}

/// A policy that contraindicates everything (as an operator's stricter policy might).
const REFUSE_ALL: &str = "package warden.appraisal\n\ntrust_vector := {\"instance-identity\": 2, \"hardware\": 0, \"configuration\": 96, \"executables\": 2}\n";

/// Brokers sharing a service may differ in appraisal policy: a KBS with `[verifier] policy_id`
/// sets (through its admin API) and appraises with that policy only; the service's default and
/// other clients are untouched; an unknown id is refused, never replaced; policies survive a
/// restart and `warden-verifier policy` manages them.
#[tokio::test(flavor = "multi_thread")]
async fn a_kbs_appraises_with_the_named_service_policy_it_is_configured_with() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kbs = Kbs::start(KbsOptions {
        remote_verifier: true,
        verifier_policy_id: Some("build-farm"),
        ..KbsOptions::default()
    });
    kbs.provision_sample("demo/key/one", SECRET, "demo/");
    let policy_file = kbs.dir.path().join("refuse-all.rego");
    std::fs::write(&policy_file, REFUSE_ALL).unwrap();
    let set = kbs.admin(&[
        "policy",
        "set-appraisal",
        "--file",
        policy_file.to_str().unwrap(),
    ]);
    assert!(set.status.success());
    let client = RawClient::new(&kbs);
    let appraisal = appraisal_of(&client.attest().await);
    assert_eq!(appraisal["status"], "contraindicated");
    assert!(
        appraisal["policy"]
            .as_str()
            .unwrap()
            .starts_with("build-farm@sha256:"),
        "{appraisal}"
    );

    // Another client of the same service still gets the default policy; an unknown id is refused.
    let pki_dir = kbs.dir.path().join("pki");
    let policy_cli = |args: &[&str]| {
        std::process::Command::new(warden_tests::binary("warden-verifier"))
            .args(["policy", "--server", &kbs.verifier.as_ref().unwrap().url])
            .arg("--tls-cert")
            .arg(pki_dir.join("client.pem"))
            .arg("--tls-key")
            .arg(pki_dir.join("client.key"))
            .arg("--tls-ca")
            .arg(pki_dir.join("ca.pem"))
            .args(args)
            .output()
            .unwrap()
    };
    let listed: Value = serde_json::from_slice(&policy_cli(&["list"]).stdout).unwrap();
    assert!(
        listed["default"]
            .as_str()
            .unwrap()
            .starts_with("default@sha256:"),
        "{listed}"
    );
    assert_eq!(listed["named"].as_object().unwrap().len(), 1, "{listed}");
    let refused = policy_cli(&[
        "set",
        "--id",
        "appraisal",
        "--file",
        policy_file.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1));

    let tls = TlsFiles {
        cert: pki_dir.join("client.pem"),
        key: pki_dir.join("client.key"),
        ca: pki_dir.join("ca.pem"),
    };
    let evidence = json!({"svn": "1", "report_data": ""});
    let request = sample_appraisal(&evidence);
    let connect = |url: &str| RemoteVerifier::connect(url, "localhost", &tls).unwrap();
    let url = kbs.verifier.as_ref().unwrap().url.clone();
    let (default, _) = connect(&url).appraise(&request).await.unwrap();
    assert_eq!(default.unwrap().status, warden_verifier::Status::Affirming);
    let unknown = connect(&url)
        .with_policy_id("nobody")
        .unwrap()
        .appraise(&request)
        .await;
    assert!(
        matches!(unknown, Err(BackendError::NotFound(ref detail)) if detail.contains("no appraisal policy named")),
        "{unknown:?}"
    );

    // The named policy is kept in the service's store.
    kbs.verifier.as_mut().unwrap().restart();
    let (named, _) = connect(&url)
        .with_policy_id("build-farm")
        .unwrap()
        .appraise(&request)
        .await
        .unwrap();
    assert_eq!(
        named.unwrap().status,
        warden_verifier::Status::Contraindicated
    );
}
