//! Reference values from signed provenance: DSSE envelopes holding in-toto statements, signed
//! with real keys of every accepted kind, verified by Warden, by securesystemslib (the in-toto
//! project's Python library, from PyPI) and imported into a running KBS.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_tests::dsse::{
    BuilderKey, BuilderKeyKind, IN_TOTO_PAYLOAD_TYPE, reference_value_statement,
};
use warden_tests::{Kbs, KbsOptions, RawClient, repo_root};
use warden_verifier::collateral::CollateralSet;
use warden_verifier::provenance::{ProvenanceError, TrustedBuilderKeys, import_reference_values};

const EXPIRES: &str = "2027-06-01T00:00:00Z";
/// The verification time of the library-level tests.
const AT_TEXT: &str = "2026-12-01T00:00:00Z";

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn trusting(keys: &[&BuilderKey]) -> TrustedBuilderKeys {
    let mut trusted = TrustedBuilderKeys::default();
    for key in keys {
        trusted.add_bytes(&key.public_pem()).unwrap();
    }
    trusted
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

#[test]
fn envelopes_signed_with_every_key_kind_import_and_each_kind_of_tampering_is_refused() {
    let values = json!({"snp": {"measurements": ["00".repeat(48)]}});
    let statement = reference_value_statement(values.clone(), EXPIRES);
    for kind in BuilderKeyKind::ALL {
        let key = BuilderKey::generate(kind);
        let trusted = trusting(&[&key]);
        let envelope = key.envelope(IN_TOTO_PAYLOAD_TYPE, &statement);
        let imported = import_reference_values(&bytes(&envelope), &trusted, at(AT_TEXT))
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(imported.values["snp"], values["snp"], "{kind:?}");
        assert_eq!(imported.signer, key.keyid());
        assert_eq!(imported.expires, at(EXPIRES).unix_timestamp());
        assert_eq!(
            imported.subjects,
            [format!("guest-image@sha256:{}", "ab".repeat(32))]
        );

        // Tampered payload: the signature no longer covers it.
        let mut tampered = envelope.clone();
        let other = reference_value_statement(json!({"snp": {"measurements": []}}), EXPIRES);
        tampered["payload"] = Value::String(base64_of(&other));
        assert!(
            matches!(
                import_reference_values(&bytes(&tampered), &trusted, at(AT_TEXT)),
                Err(ProvenanceError::UntrustedSignature(_))
            ),
            "{kind:?}"
        );
        // Signed by a key nobody configured (with the right keyid or another).
        let stranger = BuilderKey::generate(kind);
        let mut foreign = stranger.envelope(IN_TOTO_PAYLOAD_TYPE, &statement);
        assert!(matches!(
            import_reference_values(&bytes(&foreign), &trusted, at(AT_TEXT)),
            Err(ProvenanceError::UntrustedSignature(_))
        ));
        foreign["signatures"][0]["keyid"] = Value::String(key.keyid());
        assert!(matches!(
            import_reference_values(&bytes(&foreign), &trusted, at(AT_TEXT)),
            Err(ProvenanceError::UntrustedSignature(_))
        ));
    }

    let key = BuilderKey::generate(BuilderKeyKind::EcdsaP256);
    let trusted = trusting(&[&key]);
    let import =
        |envelope: &Value| import_reference_values(&bytes(envelope), &trusted, at(AT_TEXT));
    // A properly signed payload of another type is not an in-toto statement.
    let wrong_type = key.envelope("application/json", &statement);
    assert!(
        matches!(import(&wrong_type), Err(ProvenanceError::PayloadType(t)) if t == "application/json")
    );
    // Expired, or expiring exactly now.
    for expires in ["2026-11-30T23:59:59Z", "2026-12-01T00:00:00Z"] {
        let old = key.envelope(
            IN_TOTO_PAYLOAD_TYPE,
            &reference_value_statement(values.clone(), expires),
        );
        assert!(
            matches!(import(&old), Err(ProvenanceError::Expired(_))),
            "{expires}"
        );
    }
    // SLSA provenance is a statement, but not one of reference values.
    let slsa = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    });
    assert!(matches!(
        import(&key.envelope(IN_TOTO_PAYLOAD_TYPE, &bytes(&slsa))),
        Err(ProvenanceError::PredicateType(_))
    ));
    // Not a Statement v1, no subject, no expiry, bad names, unsigned.
    let mut v01 = slsa.clone();
    v01["_type"] = json!("https://in-toto.io/Statement/v0.1");
    let mut no_subject = serde_json::from_slice::<Value>(&statement).unwrap();
    no_subject["subject"] = json!([]);
    let mut no_expiry = serde_json::from_slice::<Value>(&statement).unwrap();
    no_expiry["predicate"]
        .as_object_mut()
        .unwrap()
        .remove("expires");
    let mut bad_name = serde_json::from_slice::<Value>(&statement).unwrap();
    bad_name["predicate"]["reference_values"] = json!({"../snp": {}});
    for (statement, expected) in [
        (v01, "Statement"),
        (no_subject, "Statement"),
        (no_expiry, "Predicate"),
        (bad_name, "Predicate"),
    ] {
        let error = import(&key.envelope(IN_TOTO_PAYLOAD_TYPE, &bytes(&statement))).unwrap_err();
        assert!(format!("{error:?}").starts_with(expected), "{error:?}");
    }
    // Duplicated keys in the signed predicate are refused, not resolved.
    for duplicated in [
        r#""expires": "2027-06-01T00:00:00Z", "expires": "2099-01-01T00:00:00Z", "reference_values": {"snp": {}}"#,
        r#""expires": "2027-06-01T00:00:00Z", "reference_values": {"snp": {}, "snp": {"measurements": []}}"#,
    ] {
        let payload = format!(
            r#"{{"_type": "https://in-toto.io/Statement/v1", "subject": [{{"name": "x", "digest": {{"sha256": "00"}}}}], "predicateType": "https://warden.dev/reference-values/v1", "predicate": {{{duplicated}}}}}"#
        );
        let error = import(&key.envelope(IN_TOTO_PAYLOAD_TYPE, payload.as_bytes())).unwrap_err();
        assert!(format!("{error}").contains("duplicate"), "{error}");
    }
    // A builder key this code could never verify with is refused when loaded.
    let short_rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let pem = openssl::pkey::PKey::from_rsa(short_rsa)
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    assert!(TrustedBuilderKeys::default().add_bytes(&pem).is_err());

    let mut unsigned = key.envelope(IN_TOTO_PAYLOAD_TYPE, &statement);
    unsigned["signatures"] = json!([]);
    assert_eq!(import(&unsigned), Err(ProvenanceError::Unsigned));
    assert_eq!(
        import_reference_values(
            &bytes(&unsigned),
            &TrustedBuilderKeys::default(),
            at(AT_TEXT)
        ),
        Err(ProvenanceError::NoTrustedKeys)
    );
}

/// An admin call to `path` (under /kbs/v0/admin) with `token`: the status and the JSON body.
async fn admin_call(
    kbs: &Kbs,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = kbs
        .http()
        .request(method, format!("{}/kbs/v0/admin{path}", kbs.url))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn our_envelopes_verify_with_securesystemslib_and_its_envelopes_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("warden");
    std::fs::create_dir_all(&ours).unwrap();
    let statement = reference_value_statement(json!({"tpm": {"pcrs": {}}}), EXPIRES);
    std::fs::write(dir.path().join("statement.json"), &statement).unwrap();
    for kind in BuilderKeyKind::ALL {
        let key = BuilderKey::generate(kind);
        let name = ours.join(kind.sslib_scheme());
        std::fs::write(
            name.with_extension("json"),
            bytes(&key.envelope(IN_TOTO_PAYLOAD_TYPE, &statement)),
        )
        .unwrap();
        std::fs::write(name.with_extension("pem"), key.public_pem()).unwrap();
        std::fs::write(name.with_extension("keyid"), key.keyid()).unwrap();
        std::fs::write(name.with_extension("scheme"), kind.sslib_scheme()).unwrap();
    }
    let output = Command::new("python3")
        .arg(repo_root().join("tests/interop/dsse_interop.py"))
        .arg(dir.path())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "securesystemslib interop failed (scripts/test.sh installs it: pip install 'securesystemslib[crypto]'):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verified 5, signed 5"), "{stdout}");

    // What securesystemslib signed, Warden verifies, each with its own key only.
    let theirs = dir.path().join("python");
    for name in [
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
        "rsa-pss",
        "rsa-pkcs1",
    ] {
        let envelope = std::fs::read(theirs.join(format!("{name}.json"))).unwrap();
        let trusted = TrustedBuilderKeys::from_dir_files(&theirs, &format!("{name}.pem"));
        let imported = import_reference_values(&envelope, &trusted, at(AT_TEXT))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imported.values["tpm"], json!({"pcrs": {}}));
        let others = TrustedBuilderKeys::from_dir_files(
            &theirs,
            if name == "ed25519" {
                "rsa-pss.pem"
            } else {
                "ed25519.pem"
            },
        );
        assert!(
            import_reference_values(&envelope, &others, at(AT_TEXT)).is_err(),
            "{name}"
        );
    }
}

/// A `TrustedBuilderKeys` holding one key file.
trait FromFile {
    fn from_dir_files(dir: &Path, file: &str) -> Self;
}

impl FromFile for TrustedBuilderKeys {
    fn from_dir_files(dir: &Path, file: &str) -> Self {
        let mut keys = TrustedBuilderKeys::default();
        keys.add_file(&dir.join(file)).unwrap();
        keys
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kbs_uses_imported_values_and_refuses_unsigned_or_untrusted_ones_storing_nothing() {
    kbs_imports_signed_provenance(false).await;
}

/// With a verifier service the KBS forwards the envelope, and the service verifies it with its
/// own builder keys and keeps the values: same answers, recorded as set by the KBS's client
/// certificate for the KBS administrator.
#[tokio::test(flavor = "multi_thread")]
async fn a_kbs_with_a_verifier_service_forwards_imports_and_gets_the_same_answers() {
    kbs_imports_signed_provenance(true).await;
}

async fn kbs_imports_signed_provenance(remote: bool) {
    let builder = BuilderKey::generate(BuilderKeyKind::Ed25519);
    let keys_dir = tempfile::tempdir().unwrap();
    std::fs::write(keys_dir.path().join("builder.pem"), builder.public_pem()).unwrap();
    let kbs = Kbs::start(if remote {
        KbsOptions {
            remote_verifier: true,
            verifier_args: vec![
                "--trusted-builder-keys-dir".into(),
                keys_dir.path().display().to_string(),
            ],
            ..KbsOptions::default()
        }
    } else {
        KbsOptions {
            extra_config: format!(
                "[provenance]\ntrusted_keys_dir = \"{}\"\n",
                keys_dir.path().display()
            ),
            ..KbsOptions::default()
        }
    });
    // A secret under the sample-allowing release policy, but no sample reference values yet.
    kbs.provision("demo/key/one", b"imported", "demo/", "unrelated", "{}");
    let before = RawClient::new(&kbs);
    before.attest().await;
    let (status, _) = before.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(
        status, 403,
        "without reference values the sample result is a warning"
    );

    let expires = (OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&Rfc3339)
        .unwrap();
    let statement = reference_value_statement(json!({"sample": {"min_svn": 1}}), &expires);
    let envelope_file = kbs.dir.path().join("rv.dsse.json");
    std::fs::write(
        &envelope_file,
        bytes(&builder.envelope(IN_TOTO_PAYLOAD_TYPE, &statement)),
    )
    .unwrap();
    let output = kbs.admin(&[
        "reference-value",
        "import",
        "--file",
        envelope_file.to_str().unwrap(),
    ]);
    let imported: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(imported["imported"], json!(["sample"]));
    assert_eq!(imported["signer"], builder.keyid());

    let after = RawClient::new(&kbs);
    after.attest().await;
    let (status, body) = after.get("/kbs/v0/resource/demo/key/one", None).await;
    assert_eq!(status, 200, "{body}");

    let listed: Value =
        serde_json::from_slice(&kbs.admin(&["reference-value", "list"]).stdout).unwrap();
    let sample = &listed["sample"];
    assert_eq!(sample["value"], json!({"min_svn": 1}));
    assert_eq!(sample["source"], format!("dsse:{}", builder.keyid()));
    let set_by = sample["set_by"].as_str().unwrap();
    if remote {
        assert!(set_by.starts_with("client for admin"), "{sample}");
    } else {
        assert!(set_by.starts_with("admin"), "{sample}");
    }
    assert_eq!(sample["provenance_sha256"], imported["provenance_sha256"]);
    assert_eq!(sample["expired"], false);
    assert_eq!(sample["version"], 1);
    assert_eq!(
        listed["unrelated"]["source"],
        if remote { "rpc" } else { "api" }
    );

    // Untrusted signer, tampered payload, unsigned: 400, and the stored values are unchanged.
    let stranger = BuilderKey::generate(BuilderKeyKind::Ed25519);
    let stricter = reference_value_statement(json!({"sample": {"min_svn": 9}}), &expires);
    let mut tampered = builder.envelope(IN_TOTO_PAYLOAD_TYPE, &statement);
    tampered["payload"] = Value::String(base64_of(&stricter));
    let mut unsigned = tampered.clone();
    unsigned["signatures"] = json!([]);
    let token = kbs.admin_token("admin");
    for (label, envelope) in [
        (
            "untrusted",
            stranger.envelope(IN_TOTO_PAYLOAD_TYPE, &stricter),
        ),
        ("tampered", tampered),
        ("unsigned", unsigned),
    ] {
        let (status, error) = admin_call(
            &kbs,
            reqwest::Method::POST,
            "/reference-values/import",
            &token,
            bytes(&envelope),
        )
        .await;
        assert_eq!(status, 400, "{label}");
        assert!(
            error["type"]
                .as_str()
                .unwrap()
                .ends_with("ProvenanceRefused"),
            "{label}: {error}"
        );
    }
    // Typed values: a typo'd key or a truncated digest is refused, signed or not.
    let (status, error) = admin_call(
        &kbs,
        reqwest::Method::PUT,
        "/reference-values/sample",
        &token,
        br#"{"min_svm": 1}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("unknown key \"min_svm\""),
        "{error}"
    );
    let truncated = reference_value_statement(json!({"snp": {"measurements": ["abcd"]}}), &expires);
    let (status, error) = admin_call(
        &kbs,
        reqwest::Method::POST,
        "/reference-values/import",
        &token,
        bytes(&builder.envelope(IN_TOTO_PAYLOAD_TYPE, &truncated)),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("snp.measurements"),
        "{error}"
    );
    let unchanged: Value =
        serde_json::from_slice(&kbs.admin(&["reference-value", "list"]).stdout).unwrap();
    assert_eq!(unchanged["sample"], listed["sample"]);
    // A reader may list but not import.
    let (status, _) = admin_call(
        &kbs,
        reqwest::Method::POST,
        "/reference-values/import",
        &kbs.admin_token("reader"),
        bytes(&builder.envelope(IN_TOTO_PAYLOAD_TYPE, &statement)),
    )
    .await;
    assert_eq!(status, 403);
    if let Some(verifier) = &kbs.verifier {
        // The values live in the service's store, not the KBS's.
        let log = verifier.log();
        assert!(
            log.contains("reference values imported from signed provenance"),
            "{log}"
        );
        assert!(!warden_tests::contains(&kbs.stored_bytes(), b"min_svn"));
    }
}
