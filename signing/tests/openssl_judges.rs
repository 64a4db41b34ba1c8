//! OpenSSL, a tool nobody here wrote, judges the certificates: chains, purposes, critical
//! flags, and CSRs it makes itself.

#![allow(clippy::unwrap_used)]

mod common;
use common::{openssl, pem};

use time::OffsetDateTime;
use warden_signing::certificate::OID_WARDEN_ATTESTED_FACTS;
use warden_signing::{LeafRequest, SigningAuthority, SigningError, verify_csr};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn authority() -> SigningAuthority {
    SigningAuthority::create("test kbs", now(), [[7; 16], [9; 16]]).unwrap()
}

#[test]
fn openssl_accepts_the_tsa_certificate_for_timestamping_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority();
    std::fs::write(
        dir.path().join("ca.pem"),
        pem(ca.root_certificate(), "CERTIFICATE"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tsa.pem"),
        pem(ca.tsa_certificate(), "CERTIFICATE"),
    )
    .unwrap();
    let at = (now().unix_timestamp() + 3600).to_string();
    let (ok, out) = openssl(
        dir.path(),
        &[
            "verify",
            "-attime",
            &at,
            "-purpose",
            "timestampsign",
            "-CAfile",
            "ca.pem",
            "tsa.pem",
        ],
    );
    assert!(ok && out.contains("tsa.pem: OK"), "{out}");
    let (_, text) = openssl(dir.path(), &["x509", "-in", "tsa.pem", "-noout", "-text"]);
    assert!(
        text.contains("X509v3 Extended Key Usage: critical\n                Time Stamping"),
        "{text}"
    );
    let (_, root) = openssl(dir.path(), &["x509", "-in", "ca.pem", "-noout", "-text"]);
    assert!(root.contains("CA:TRUE, pathlen:0"), "{root}");
    assert!(root.contains("Certificate Sign, CRL Sign"), "{root}");
    assert!(!root.contains("Extended Key Usage"), "{root}");
    // Before the authority existed, OpenSSL refuses: the times are what we wrote.
    let early = (now().unix_timestamp() - 3600).to_string();
    let (ok, out) = openssl(
        dir.path(),
        &["verify", "-attime", &early, "-CAfile", "ca.pem", "tsa.pem"],
    );
    assert!(!ok && out.contains("not yet valid"), "{out}");
}

#[test]
fn a_csr_openssl_made_yields_a_leaf_openssl_verifies_with_the_profile_sigstore_reads() {
    for (curve, name) in [("P-256", "p256"), ("P-384", "p384")] {
        let dir = tempfile::tempdir().unwrap();
        let ca = authority();
        std::fs::write(
            dir.path().join("ca.pem"),
            pem(ca.root_certificate(), "CERTIFICATE"),
        )
        .unwrap();
        let (ok, out) = openssl(
            dir.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
                "-nodes",
                "-keyout",
                "key.pem",
                "-subj",
                "/CN=ignored",
                "-outform",
                "DER",
                "-out",
                "csr.der",
            ],
        );
        assert!(ok, "{out}");
        let csr = verify_csr(&std::fs::read(dir.path().join("csr.der")).unwrap()).unwrap();
        assert_eq!(csr.algorithm.name(), format!("ecdsa-{name}"));
        let leaf = ca
            .issue(&LeafRequest {
                spki: &csr.spki,
                identity: "https://kbs.example/builders/release",
                issuer: "https://kbs.example",
                attested_facts: r#"{"tee":"tpm"}"#,
                not_before: now(),
                not_after: now() + time::Duration::minutes(10),
                serial: [0xff; 16],
            })
            .unwrap();
        std::fs::write(dir.path().join("leaf.pem"), pem(&leaf, "CERTIFICATE")).unwrap();
        let inside = (now().unix_timestamp() + 60).to_string();
        let (ok, out) = openssl(
            dir.path(),
            &[
                "verify", "-attime", &inside, "-CAfile", "ca.pem", "leaf.pem",
            ],
        );
        assert!(ok && out.contains("leaf.pem: OK"), "{out}");
        let after = (now().unix_timestamp() + 601).to_string();
        let (ok, out) = openssl(
            dir.path(),
            &["verify", "-attime", &after, "-CAfile", "ca.pem", "leaf.pem"],
        );
        assert!(!ok && out.contains("expired"), "{out}");
        // The leaf certifies the key OpenSSL generated, not anything else.
        let (_, leaf_key) = openssl(
            dir.path(),
            &["x509", "-in", "leaf.pem", "-noout", "-pubkey"],
        );
        let (_, own_key) = openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"]);
        assert_eq!(leaf_key, own_key);
        let (_, text) = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        for expected in [
            "X509v3 Key Usage: critical\n                Digital Signature",
            "X509v3 Extended Key Usage: \n                Code Signing",
            "URI:https://kbs.example/builders/release",
            "Subject: \n",
            "CA:FALSE",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let (_, parsed) = openssl(dir.path(), &["asn1parse", "-in", "leaf.pem"]);
        assert!(parsed.contains("1.3.6.1.4.1.57264.1.8"), "{parsed}");
        assert!(parsed.contains(OID_WARDEN_ATTESTED_FACTS), "{parsed}");
        // The Fulcio issuer and the facts are DER UTF8Strings inside their OCTET STRINGs.
        let (_, strings) = openssl(
            dir.path(),
            &[
                "asn1parse",
                "-in",
                "leaf.pem",
                "-strparse",
                &issuer_offset(&parsed),
            ],
        );
        assert!(
            strings.contains("UTF8STRING") && strings.contains("https://kbs.example"),
            "{strings}"
        );
    }
}

/// The offset of the OCTET STRING that follows the Fulcio issuer OID in `asn1parse` output.
fn issuer_offset(parsed: &str) -> String {
    let lines: Vec<&str> = parsed.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("1.3.6.1.4.1.57264.1.8"))
        .unwrap();
    lines[at + 1].split(':').next().unwrap().trim().to_string()
}

#[test]
fn csrs_without_proof_of_possession_or_of_other_key_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openssl(
        dir.path(),
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.pem", "-subj", "/CN=x",
            "-outform", "DER", "-out", "rsa.der",
        ],
    );
    assert!(ok, "{out}");
    let err = verify_csr(&std::fs::read(dir.path().join("rsa.der")).unwrap()).unwrap_err();
    assert!(matches!(err, SigningError::UnsupportedKey(_)), "{err}");
    let (ok, out) = openssl(
        dir.path(),
        &[
            "req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", "ed.pem", "-subj", "/CN=x",
            "-outform", "DER", "-out", "ed.der",
        ],
    );
    assert!(ok, "{out}");
    let ed = std::fs::read(dir.path().join("ed.der")).unwrap();
    assert_eq!(verify_csr(&ed).unwrap().algorithm.name(), "ed25519");
    // Flip one bit of the signature: no proof of possession.
    let mut forged = ed.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let err = verify_csr(&forged).unwrap_err();
    assert!(err.to_string().contains("proof of possession"), "{err}");
    // Flip one bit of the requested key instead: the signature no longer matches either.
    let mut swapped = ed.clone();
    let key_at = swapped
        .windows(3)
        .position(|w| w == [0x03, 0x21, 0x00])
        .unwrap()
        + 3;
    swapped[key_at] ^= 1;
    assert!(verify_csr(&swapped).is_err());
    // Trailing bytes, truncation and garbage are refused, never a panic.
    let mut trailing = ed.clone();
    trailing.push(0);
    assert!(verify_csr(&trailing).is_err());
    for cut in 0..ed.len() {
        assert!(verify_csr(&ed[..cut]).is_err());
    }
}

#[test]
fn stored_material_reloads_and_a_mismatched_key_is_refused() {
    let ca = authority();
    let again = SigningAuthority::from_stored(
        ca.root_key().pkcs8_der(),
        ca.root_certificate(),
        ca.tsa_key().pkcs8_der(),
        ca.tsa_certificate(),
        ca.ct_key().pkcs8_der(),
    )
    .unwrap();
    assert_eq!(again.root_certificate(), ca.root_certificate());
    let other = authority();
    let err = SigningAuthority::from_stored(
        other.root_key().pkcs8_der(),
        ca.root_certificate(),
        ca.tsa_key().pkcs8_der(),
        ca.tsa_certificate(),
        ca.ct_key().pkcs8_der(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SigningError::StoredAuthority("the root key does not match the root certificate")
    );
}
