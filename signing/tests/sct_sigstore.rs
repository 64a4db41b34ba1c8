//! The SCT every leaf embeds, judged by the stock Sigstore client's own SCT check and by an
//! independent rebuild of the RFC 6962 signed struct (tests/interop/sct_sigstore.py).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use time::OffsetDateTime;
use warden_signing::{LeafRequest, SigningAuthority};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

mod common;
use common::pem;

fn judge(dir: &std::path::Path, ct_public_key: &[u8]) -> (bool, String) {
    std::fs::write(dir.join("ct.pub"), pem(ct_public_key, "PUBLIC KEY")).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/sct_sigstore.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(["leaf.pem", "ca.pem", "ct.pub"])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_stock_sigstore_client_and_an_rfc_6962_rebuild_accept_the_embedded_sct() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let ca = SigningAuthority::create("sct test", now, [[1; 16], [2; 16]]).unwrap();
    let key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = ca
        .issue(&LeafRequest {
            spki: key.spki_der(),
            identity: "https://kbs.example/builders/release",
            issuer: "https://kbs.example",
            attested_facts: "{}",
            not_before: now,
            not_after: now + time::Duration::minutes(10),
            serial: [5; 16],
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.pem"), pem(&leaf, "CERTIFICATE")).unwrap();
    std::fs::write(
        dir.path().join("ca.pem"),
        pem(ca.root_certificate(), "CERTIFICATE"),
    )
    .unwrap();
    let (ok, out) = judge(dir.path(), ca.ct_key().spki_der());
    assert!(ok, "{out}");
    assert!(out.contains("sigstore verify_sct: OK"), "{out}");
    assert!(out.contains("signature OK"), "{out}");
    // Another CT key: the client refuses the SCT.
    let other = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let (ok, out) = judge(dir.path(), other.spki_der());
    assert!(!ok, "{out}");
    assert!(out.contains("SCT verify failed"), "{out}");
}
