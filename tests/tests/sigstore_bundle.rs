//! Sigstore bundles (`warden_wire::sigstore`) judged by code Warden did not write: the Sigstore
//! project's Python models from PyPI (sigstore-models, strict; sigstore-protobuf-specs, the
//! generated protobuf classes) via `tests/interop/sigstore_bundle.py`, which also verifies the
//! signatures with the certificate's key (cryptography). Both directions: what they write back,
//! Warden reads to the same bundle.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden_tests::dsse::pae;
use warden_tests::repo_root;
use warden_wire::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use warden_wire::sigstore::{
    Bundle, BundleContent, BundleError, HashAlgorithm, Signer, VerificationMaterial,
};

/// A well-formed DER TimeStampResp that grants nothing: `PKIStatusInfo { status rejection(2) }`
/// and no token. The TSA is built and tested separately; here the bundle only has to carry
/// DER in the right member.
const REJECTED_TIME_STAMP_RESP: [u8; 7] = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];

const ARTIFACT: &[u8] = b"the artifact a build produced\n";

/// A P-256 signing key and a self-signed certificate for it (the leaf a bundle carries).
fn signer() -> (SigningKeyPair, Vec<u8>) {
    signer_of(KeyAlgorithm::EcdsaP256)
}

fn signer_of(algorithm: KeyAlgorithm) -> (SigningKeyPair, Vec<u8>) {
    let key = SigningKeyPair::generate(algorithm).unwrap();
    let rcgen_key = rcgen::KeyPair::try_from(key.pkcs8_der()).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["builder.warden.test".into()])
        .unwrap()
        .self_signed(&rcgen_key)
        .unwrap();
    (key, certificate.der().to_vec())
}

fn material(certificate: &[u8]) -> VerificationMaterial {
    VerificationMaterial {
        signer: Signer::Certificate(certificate.to_vec()),
        tlog_entries: Vec::new(),
        rfc3161_timestamps: vec![REJECTED_TIME_STAMP_RESP.to_vec()],
    }
}

fn message_bundle(key: &SigningKeyPair, certificate: &[u8]) -> Bundle {
    Bundle {
        verification_material: material(certificate),
        content: BundleContent::MessageSignature {
            digest_algorithm: HashAlgorithm::Sha2_256,
            digest: Sha256::digest(ARTIFACT).to_vec(),
            signature: key.sign(ARTIFACT).unwrap(),
        },
    }
}

fn dsse_bundle(key: &SigningKeyPair, certificate: &[u8]) -> Bundle {
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact", "digest": {"sha256": hex::encode(Sha256::digest(ARTIFACT))}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://warden.dev/test", "externalParameters": {}},
                      "runDetails": {"builder": {"id": "https://warden.dev/test-builder"}}},
    }))
    .unwrap();
    // Signed over the tests' own PAE (written from the DSSE specification), not Warden's.
    let sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement)).unwrap();
    Bundle {
        verification_material: material(certificate),
        content: BundleContent::Dsse(Envelope::with_one_signature(
            IN_TOTO_PAYLOAD_TYPE,
            statement,
            key.keyid(),
            sig,
        )),
    }
}

/// Runs the Python judge on `files`, saving what the packages write back in `out`.
fn judge(files: &[PathBuf], out: Option<&Path>) -> (Output, String) {
    let mut command = Command::new("python3");
    command.arg(repo_root().join("tests/interop/sigstore_bundle.py"));
    if let Some(out) = out {
        command.arg("--out").arg(out);
    }
    let output = command.args(files).output().expect("python3");
    let text = format!(
        "{}\n{}\n(scripts/lib.sh ensure_python_dependencies installs the judges: \
         sigstore-models 0.0.6, sigstore-protobuf-specs 0.5.2)",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn our_bundles_pass_the_sigstore_models_and_what_they_write_back_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (key, certificate) = signer();
    let bundles = [
        ("message", message_bundle(&key, &certificate)),
        ("dsse", dsse_bundle(&key, &certificate)),
    ];
    let mut files = Vec::new();
    for (name, bundle) in &bundles {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, bundle.to_json()).unwrap();
        assert_eq!(
            &Bundle::parse(&std::fs::read(&file).unwrap()).unwrap(),
            bundle
        );
        files.push(file);
    }

    let theirs = dir.path().join("theirs");
    let (output, text) = judge(&files, Some(&theirs));
    assert!(output.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK ")).count(),
        2,
        "{text}"
    );
    assert!(stdout.contains("OK message.json: sigstore-models parsed, sigstore-protobuf-specs round trip equal, message signature verified"), "{text}");
    assert!(stdout.contains("OK dsse.json: sigstore-models parsed, sigstore-protobuf-specs round trip equal, DSSE signature verified"), "{text}");

    // Their JSON, ours to read: sigstore-models writes every member back; protobuf-specs leaves
    // out the empty ones (here `tlogEntries`), which our reader takes as empty.
    for (name, bundle) in &bundles {
        for package in ["sigstore-models", "protobuf-specs"] {
            let file = theirs.join(format!("{name}.{package}.json"));
            let written = std::fs::read(&file).unwrap();
            assert_eq!(
                &Bundle::parse(&written).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
                bundle,
                "{}",
                file.display()
            );
        }
        let protobuf: Value = serde_json::from_slice(
            &std::fs::read(theirs.join(format!("{name}.protobuf-specs.json"))).unwrap(),
        )
        .unwrap();
        assert!(
            protobuf["verificationMaterial"]
                .get("tlogEntries")
                .is_none()
        );
    }
}

#[test]
fn a_misspelt_key_is_refused_by_our_reader_and_by_the_strict_sigstore_model() {
    let dir = tempfile::tempdir().unwrap();
    let (key, certificate) = signer();
    let rename = |mut value: Value, path: &[&str], from: &str, to: &str| {
        let mut at = &mut value;
        for step in path {
            at = &mut at[*step];
        }
        let object = at.as_object_mut().unwrap();
        let moved = object.remove(from).unwrap();
        object.insert(to.into(), moved);
        value
    };
    // (name, the misspelt key, the bundle, whether protobuf-specs can notice): the lenient
    // protobuf classes drop an unknown key, which the comparison sees only when the member held
    // something; an empty `tlogEntries` renamed leaves the same protobuf JSON behind.
    let cases = [
        (
            "tlog",
            "tlogEntry",
            rename(
                dsse_bundle(&key, &certificate).to_json_value(),
                &["verificationMaterial"],
                "tlogEntries",
                "tlogEntry",
            ),
            false,
        ),
        (
            "timestamp",
            "rfc3161TimeStamps",
            rename(
                message_bundle(&key, &certificate).to_json_value(),
                &["verificationMaterial", "timestampVerificationData"],
                "rfc3161Timestamps",
                "rfc3161TimeStamps",
            ),
            true,
        ),
        (
            "payload-type",
            "payloadtype",
            rename(
                dsse_bundle(&key, &certificate).to_json_value(),
                &["dsseEnvelope"],
                "payloadType",
                "payloadtype",
            ),
            true,
        ),
    ];
    for (name, misspelt, value, protobuf_notices) in cases {
        let bytes = serde_json::to_vec(&value).unwrap();
        match Bundle::parse(&bytes) {
            Err(BundleError::Json(message)) => {
                assert!(message.contains(misspelt), "{name}: {message}")
            }
            other => panic!("{name}: our reader took it: {other:?}"),
        }
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, &bytes).unwrap();
        let (output, text) = judge(&[file], None);
        assert!(!output.status.success(), "{name}: {text}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with(&format!("FAIL {name}.json: ")), "{text}");
        assert!(stdout.contains("sigstore-models refused"), "{name}: {text}");
        assert_eq!(
            stdout.contains("sigstore-protobuf-specs wrote back other JSON"),
            protobuf_notices,
            "{name}: {text}"
        );
    }
}

/// The `hashedrekord` 0.0.2 body Warden records for a bundle is the one the stock `sigstore`
/// client rebuilds and compares when it verifies (tests/interop/rekor_entry.py): message
/// signatures and DSSE envelopes, P-256 and P-384 keys; an altered body is refused.
#[test]
fn hashedrekord_entries_are_what_the_stock_sigstore_client_expects() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("artifact");
    std::fs::write(&artifact, ARTIFACT).unwrap();
    let run = |bundle: &Bundle, body: &[u8], name: &str| {
        let bundle_path = dir.path().join(format!("{name}.json"));
        let body_path = dir.path().join(format!("{name}.entry.json"));
        std::fs::write(&bundle_path, bundle.to_json()).unwrap();
        std::fs::write(&body_path, body).unwrap();
        Command::new("python3")
            .arg(repo_root().join("tests/interop/rekor_entry.py"))
            .arg(&bundle_path)
            .arg(&body_path)
            .arg(&artifact)
            .output()
            .unwrap()
    };
    let mut checked = 0;
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
        let (key, certificate) = signer_of(algorithm);
        for (name, bundle) in [
            (
                format!("message-{}", algorithm.name()),
                message_bundle(&key, &certificate),
            ),
            (
                format!("dsse-{}", algorithm.name()),
                dsse_bundle(&key, &certificate),
            ),
        ] {
            let body = warden_wire::rekor::hashedrekord_v002(&bundle, algorithm).unwrap();
            let output = run(&bundle, &body, &name);
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success() && text.contains("OK "),
                "{name}: {text}"
            );
            checked += 1;
            // One changed digest byte: not the entry the client expects.
            let mut altered: Value = serde_json::from_slice(&body).unwrap();
            let data = &mut altered["spec"]["hashedRekordV002"]["data"]["digest"];
            let mut digest = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                data.as_str().unwrap(),
            )
            .unwrap();
            digest[0] ^= 1;
            *data =
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &digest).into();
            let output = run(&bundle, altered.to_string().as_bytes(), &name);
            assert!(!output.status.success(), "{name}: the altered entry passed");
        }
    }
    assert_eq!(checked, 4);
}
