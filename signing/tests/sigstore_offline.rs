//! The judge for issue 17's interoperability goal: a bundle made by Warden code alone — the
//! signing authority's leaf (with its SCT), a P-256 signature, Warden's RFC 3161 timestamp, a
//! `hashedrekord` 0.0.2 entry in a Warden Merkle tree under an Ed25519-signed checkpoint, and
//! Warden's client trust configuration — verifies with the stock `sigstore` 4.5.1 CLI, offline:
//!
//! `sigstore --trust-config trust-config.json verify identity --offline --bundle B
//!  --cert-identity <builder> --cert-oidc-issuer <issuer> ARTIFACT`
//!
//! for a message signature and for a DSSE in-toto statement about the artifact (4.5.1's
//! `verify identity` verifies both; for DSSE it also requires a statement subject with the
//! artifact's SHA-256). The CLI must refuse, each for its own reason, a tampered artifact,
//! another identity, an altered entry body, an altered proof root, a checkpoint signed by a key
//! the trust configuration does not list, and a checkpoint signature with one bit flipped. tests/interop/sigstore_trust_config.py first reads the configuration and
//! bundles with the Sigstore project's models.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_signing::trust_config::{TrustConfigInput, client_trust_config, tlog_log_id};
use warden_signing::{LeafRequest, SigningAuthority, tsa};
use warden_wire::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, pae};
use warden_wire::rekor::hashedrekord_v002;
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use warden_wire::sigstore::tlog_entry::{InclusionProof, LogEntry, rekor_v2_entry};
use warden_wire::sigstore::{Bundle, BundleContent, HashAlgorithm, Signer, VerificationMaterial};
use warden_wire::tlog::{Checkpoint, MemoryTree, NoteSigner, SignedNote};

const BASE_URL: &str = "https://kbs.example";
const IDENTITY: &str = "https://kbs.example/builders/release";
const ISSUER: &str = "https://kbs.example";
/// The log's origin and note key name: the scheme-less log URL, as Rekor v2 names its logs.
const ORIGIN: &str = "kbs.example/signing/log";

/// Runs the stock CLI; whether it exited 0, and its stdout and stderr.
fn sigstore_verify(
    dir: &Path,
    bundle: &str,
    (identity, issuer): (&str, &str),
    artifact: &str,
) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-m", "sigstore", "--trust-config", "trust-config.json"])
        .args(["verify", "identity", "--offline", "--bundle", bundle])
        .args([
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            issuer,
            artifact,
        ])
        .current_dir(dir)
        // Wide enough that the client's log lines are not wrapped.
        .env("COLUMNS", "400")
        .output()
        .unwrap();
    let text = format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `bundle` signed by `key` with the leaf `certificate`, timestamped by the authority's TSA.
fn signed(
    ca: &SigningAuthority,
    key: &SigningKeyPair,
    certificate: &[u8],
    content: impl FnOnce(&SigningKeyPair) -> BundleContent,
    at: OffsetDateTime,
) -> Bundle {
    let mut bundle = Bundle {
        verification_material: VerificationMaterial {
            signer: Signer::Certificate(certificate.to_vec()),
            tlog_entries: Vec::new(),
            rfc3161_timestamps: Vec::new(),
        },
        content: content(key),
    };
    let request =
        warden_wire::tsp::build_request(bundle.signature_bytes().unwrap(), Some(7)).unwrap();
    let response = tsa::respond(
        &request,
        at,
        [9; 16],
        ca.tsa_key(),
        ca.tsa_certificate(),
        tsa::TSA_POLICY,
    );
    bundle
        .verification_material
        .rfc3161_timestamps
        .push(response);
    bundle
}

/// The bundle's JSON with `entry` as its one log entry.
fn with_entry(bundle: &Bundle, entry: Value) -> String {
    let mut bundle = bundle.clone();
    bundle.verification_material.tlog_entries = vec![entry];
    bundle.to_json()
}

/// `entry` with the base64 bytes member at `pointer` changed in one bit.
fn flipped(entry: &Value, pointer: &str) -> Value {
    let mut entry = entry.clone();
    let member = entry.pointer_mut(pointer).unwrap();
    let mut bytes = STANDARD.decode(member.as_str().unwrap()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    *member = Value::from(STANDARD.encode(bytes));
    entry
}

#[test]
fn the_stock_sigstore_cli_verifies_warden_bundles_offline_and_refuses_tampering() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let signed_at = now + time::Duration::minutes(1);
    let ca = SigningAuthority::create("offline test", now, [[1; 16], [2; 16]]).unwrap();
    let key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = ca
        .issue(&LeafRequest {
            spki: key.spki_der(),
            identity: IDENTITY,
            issuer: ISSUER,
            attested_facts: "{}",
            not_before: now,
            not_after: now + time::Duration::minutes(10),
            serial: [5; 16],
        })
        .unwrap();

    let artifact = b"release tarball bytes\n".to_vec();
    let message = signed(
        &ca,
        &key,
        &leaf,
        |key| BundleContent::MessageSignature {
            digest_algorithm: HashAlgorithm::Sha2_256,
            digest: Sha256::digest(&artifact).to_vec(),
            signature: key.sign(&artifact).unwrap(),
        },
        signed_at,
    );
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact.bin", "digest": {"sha256": hex::encode(Sha256::digest(&artifact))}}],
        "predicateType": "https://example.com/predicate/v1",
        "predicate": {"note": "signed by a Warden leaf"},
    }))
    .unwrap();
    let dsse = signed(
        &ca,
        &key,
        &leaf,
        |key| {
            let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement)).unwrap();
            BundleContent::Dsse(Envelope::with_one_signature(
                IN_TOTO_PAYLOAD_TYPE,
                statement.clone(),
                key.keyid(),
                signature,
            ))
        },
        signed_at,
    );

    // The log: other leaves around both entries, so that both audit paths are non-trivial.
    let bodies = [
        hashedrekord_v002(&message, KeyAlgorithm::EcdsaP256).unwrap(),
        hashedrekord_v002(&dsse, KeyAlgorithm::EcdsaP256).unwrap(),
    ];
    let mut tree = MemoryTree::new();
    for other in 0..3 {
        tree.append(format!("earlier entry {other}").as_bytes())
            .unwrap();
    }
    let message_index = tree.append(&bodies[0]).unwrap();
    tree.append(b"another entry").unwrap();
    let dsse_index = tree.append(&bodies[1]).unwrap();
    tree.append(b"a later entry").unwrap();
    let size = tree.size();
    let root = tree.root().unwrap();
    let log_key = SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap();
    let log_spki = log_key.spki_der().to_vec();
    let log = NoteSigner::new(ORIGIN, log_key).unwrap();
    let checkpoint =
        SignedNote::parse(&Checkpoint::new(ORIGIN, size, root).sign(&log).unwrap()).unwrap();

    let input = TrustConfigInput {
        ca_root_der: ca.root_certificate(),
        tsa_certificate_der: ca.tsa_certificate(),
        ct_spki_der: ca.ct_key().spki_der(),
        tlog_spki_der: &log_spki,
        tlog_key_algorithm: KeyAlgorithm::Ed25519,
        tlog_key_name: ORIGIN,
        base_url: BASE_URL,
        valid_from: now,
    };
    let log_id = tlog_log_id(&input).unwrap();
    assert_eq!(log_id, log.verifier().full_key_id());
    // The Rekor v2 entry of `body` at `index`, with its proof at `size` under `note`.
    let rekor_entry = |index: u64, body: &[u8], note: &SignedNote| {
        rekor_v2_entry(&LogEntry {
            log_index: index,
            log_id: &log_id,
            canonicalized_body: body,
            inclusion_proof: &InclusionProof {
                log_index: index,
                root_hash: root,
                tree_size: size,
                hashes: tree.inclusion_proof(index, size).unwrap(),
            },
            checkpoint: note,
        })
    };
    let entries = [
        rekor_entry(message_index, &bodies[0], &checkpoint).unwrap(),
        rekor_entry(dsse_index, &bodies[1], &checkpoint).unwrap(),
    ];

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    write(
        "trust-config.json",
        client_trust_config(&input).unwrap().to_string().as_bytes(),
    );
    write("artifact.bin", &artifact);
    let mut tampered = artifact.clone();
    tampered[0] ^= 0x20;
    write("tampered.bin", &tampered);

    // A checkpoint of the same tree signed by a key the trust configuration does not list,
    // under the same name: its key hint is not the log ID's.
    let stranger = NoteSigner::new(
        ORIGIN,
        SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap(),
    )
    .unwrap();
    let strange_note =
        SignedNote::parse(&Checkpoint::new(ORIGIN, size, root).sign(&stranger).unwrap()).unwrap();

    // The log's own checkpoint with one bit of its Ed25519 signature flipped: the key hint still
    // matches, so the client must check the signature itself.
    let forged_note = {
        let text = String::from_utf8(checkpoint.to_bytes()).unwrap();
        let (head, line) = text.trim_end().rsplit_once('\n').unwrap();
        let (prefix, encoded) = line.rsplit_once(' ').unwrap();
        let mut raw = STANDARD.decode(encoded).unwrap();
        raw[10] ^= 0x01;
        format!("{head}\n{prefix} {}\n", STANDARD.encode(raw))
    };

    for (kind, bundle, entry, index, body) in [
        ("message", &message, &entries[0], message_index, &bodies[0]),
        ("dsse", &dsse, &entries[1], dsse_index, &bodies[1]),
    ] {
        let good = format!("{kind}.sigstore.json");
        write(&good, with_entry(bundle, entry.clone()).as_bytes());
        write(
            &format!("{kind}-body.sigstore.json"),
            with_entry(bundle, flipped(entry, "/canonicalizedBody")).as_bytes(),
        );
        write(
            &format!("{kind}-root.sigstore.json"),
            with_entry(bundle, flipped(entry, "/inclusionProof/rootHash")).as_bytes(),
        );
        // The stranger's note carries no signature with the log ID's hint, so the writer refuses
        // it; the entry is built by hand from the good one to show that the client does too.
        let mut strange = entry.clone();
        strange["inclusionProof"]["checkpoint"]["envelope"] =
            Value::from(String::from_utf8(strange_note.to_bytes()).unwrap());
        write(
            &format!("{kind}-key.sigstore.json"),
            with_entry(bundle, strange).as_bytes(),
        );
        let mut forged = entry.clone();
        forged["inclusionProof"]["checkpoint"]["envelope"] = Value::from(forged_note.clone());
        write(
            &format!("{kind}-forged.sigstore.json"),
            with_entry(bundle, forged).as_bytes(),
        );
        assert!(rekor_entry(index, body, &strange_note).is_err());
    }

    let helper = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/sigstore_trust_config.py"
    );
    let out = Command::new("python3")
        .args([
            helper,
            "trust-config.json",
            "message.sigstore.json",
            "dsse.sigstore.json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    print!("{text}");

    for kind in ["message", "dsse"] {
        let good = format!("{kind}.sigstore.json");
        let (ok, out) = sigstore_verify(dir.path(), &good, (IDENTITY, ISSUER), "artifact.bin");
        assert!(ok, "{kind}: {out}");
        assert!(out.contains("OK: artifact.bin"), "{kind}: {out}");
        println!("{kind}: accepted ({})", out.lines().last().unwrap_or(""));
        if kind == "dsse" {
            assert!(out.contains("https://in-toto.io/Statement/v1"), "{out}");
        }

        let tampered_reason = if kind == "dsse" {
            "in-toto statement has no subject for digest"
        } else {
            "Bundle message digest mismatch"
        };
        let refusals = [
            (
                "tampered artifact",
                good.clone(),
                (IDENTITY, ISSUER),
                "tampered.bin",
                tampered_reason,
            ),
            (
                "another identity",
                good.clone(),
                ("https://kbs.example/builders/other", ISSUER),
                "artifact.bin",
                "Certificate's SANs do not match",
            ),
            (
                "another issuer",
                good.clone(),
                (IDENTITY, "https://other.example"),
                "artifact.bin",
                "Certificate's OIDCIssuer does not match",
            ),
            (
                "altered entry body",
                format!("{kind}-body.sigstore.json"),
                (IDENTITY, ISSUER),
                "artifact.bin",
                "invalid log entry: inclusion proof contains invalid root hash",
            ),
            (
                "altered proof root",
                format!("{kind}-root.sigstore.json"),
                (IDENTITY, ISSUER),
                "artifact.bin",
                "invalid log entry: inclusion proof contains invalid root hash",
            ),
            (
                "checkpoint by an unlisted key",
                format!("{kind}-key.sigstore.json"),
                (IDENTITY, ISSUER),
                "artifact.bin",
                "invalid log entry: checkpoint: Signature not found for log ID",
            ),
            (
                "forged checkpoint signature",
                format!("{kind}-forged.sigstore.json"),
                (IDENTITY, ISSUER),
                "artifact.bin",
                "invalid log entry: checkpoint: invalid signature",
            ),
        ];
        for (case, bundle, identity, artifact, reason) in refusals {
            let (ok, out) = sigstore_verify(dir.path(), &bundle, identity, artifact);
            assert!(!ok, "{kind}, {case}: the client accepted it\n{out}");
            assert!(out.contains("FAIL"), "{kind}, {case}: {out}");
            assert!(
                out.contains(reason),
                "{kind}, {case}: not {reason:?}\n{out}"
            );
            println!("{kind}: {case} refused: {reason}");
        }
    }
}
