//! OpenSSL judges Warden's timestamp authority and agrees with Warden's timestamp verifier:
//! queries OpenSSL makes, answered by `warden_signing::tsa::respond`, verified by
//! `openssl ts -verify` and by `warden_verifier::tsa::verify_timestamp` on the same files; and
//! tokens OpenSSL itself issues as a TSA, which Warden's verifier must accept.
//!
//! `openssl ts -verify` checks the chain at the current time, so the authority is created at
//! the real clock here (the test only; neither `respond` nor the verifier reads the clock).

#![allow(clippy::unwrap_used)]

use std::path::Path;

mod common;
use common::{openssl, pem};

use time::OffsetDateTime;
use warden_signing::SigningAuthority;
use warden_signing::tsa::{EssAttribute, TSA_POLICY, respond, respond_with};
use warden_verifier::tsa::{TimestampError, VerifiedTimestamp, verify_timestamp};
use warden_wire::tsp::HashAlgorithm;

/// A directory with `ca.pem`, `tsa.pem`, `tsa.key` (PKCS#8 PEM), `other-ca.pem` (another
/// Warden CA) and `sig.bin` (the bytes to time-stamp).
struct Setup {
    dir: tempfile::TempDir,
    ca: SigningAuthority,
    other: SigningAuthority,
    now: OffsetDateTime,
}

impl Setup {
    fn new() -> Self {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let ca = SigningAuthority::create("test kbs", now, [[7; 16], [9; 16]]).unwrap();
        let other = SigningAuthority::create("test kbs", now, [[7; 16], [9; 16]]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &[u8]| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "ca.pem",
            pem(ca.root_certificate(), "CERTIFICATE").as_bytes(),
        );
        write(
            "tsa.pem",
            pem(ca.tsa_certificate(), "CERTIFICATE").as_bytes(),
        );
        write(
            "tsa.key",
            pem(ca.tsa_key().pkcs8_der(), "PRIVATE KEY").as_bytes(),
        );
        write(
            "other-ca.pem",
            pem(other.root_certificate(), "CERTIFICATE").as_bytes(),
        );
        write("sig.bin", b"a DER ECDSA signature stands in here");
        Setup {
            dir,
            ca,
            other,
            now,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap()
    }

    fn openssl(&self, args: &[&str]) -> (bool, String) {
        openssl(self.path(), args)
    }

    /// `openssl ts -query` over sig.bin into `out`.
    fn query(&self, out: &str, extra: &[&str]) {
        let mut args = vec!["ts", "-query", "-data", "sig.bin", "-out", out];
        args.extend_from_slice(extra);
        let (ok, text) = self.openssl(&args);
        assert!(ok, "{text}");
    }

    /// Our TSA answers the query file `query` into `out`.
    fn answer(&self, query: &str, out: &str, ess: EssAttribute) -> Vec<u8> {
        let response = respond_with(
            &self.read(query),
            self.now,
            [0xa5; 16],
            self.ca.tsa_key(),
            self.ca.tsa_certificate(),
            TSA_POLICY,
            ess,
        );
        std::fs::write(self.path().join(out), &response).unwrap();
        response
    }

    /// `openssl ts -verify` of `response` against `data` (`-data FILE` or `-queryfile FILE`).
    fn openssl_verifies(
        &self,
        response: &str,
        data: [&str; 2],
        ca: &str,
        untrusted: bool,
    ) -> (bool, String) {
        let mut args = vec![
            "ts", "-verify", data[0], data[1], "-in", response, "-CAfile", ca,
        ];
        if untrusted {
            args.extend_from_slice(&["-untrusted", "tsa.pem"]);
        }
        let (ok, text) = self.openssl(&args);
        (ok && text.contains("Verification: OK"), text)
    }

    /// Warden's verdict on the same files.
    fn ours(
        &self,
        response: &str,
        data: &[u8],
        ca: &SigningAuthority,
        untrusted: bool,
    ) -> Result<VerifiedTimestamp, TimestampError> {
        let extra = if untrusted {
            vec![self.ca.tsa_certificate().to_vec()]
        } else {
            Vec::new()
        };
        verify_timestamp(
            &self.read(response),
            data,
            &[ca.root_certificate().to_vec()],
            &extra,
        )
    }
}

const SIG: &[u8] = b"a DER ECDSA signature stands in here";

#[test]
fn openssl_queries_answered_by_warden_verify_in_openssl_and_in_warden() {
    let setup = Setup::new();
    for (hash, algorithm) in [
        ("-sha256", HashAlgorithm::Sha256),
        ("-sha384", HashAlgorithm::Sha384),
        ("-sha512", HashAlgorithm::Sha512),
    ] {
        for nonce in [true, false] {
            let mut extra = vec![hash, "-cert"];
            if !nonce {
                extra.push("-no_nonce");
            }
            setup.query("req.tsq", &extra);
            setup.answer("req.tsq", "resp.tsr", EssAttribute::V2);
            let (ok, text) = setup.openssl(&["ts", "-reply", "-in", "resp.tsr", "-text"]);
            assert!(ok, "{text}");
            for expected in [
                "Status: Granted.",
                &format!("Policy OID: {TSA_POLICY}"),
                "Accuracy: 0x01 seconds, unspecified millis, unspecified micros",
                "TSA: unspecified",
                if nonce {
                    "Nonce: 0x"
                } else {
                    "Nonce: unspecified"
                },
            ] {
                assert!(text.contains(expected), "{expected:?} missing:\n{text}");
            }
            println!("{hash} nonce={nonce}: openssl ts -reply -text:\n{text}");
            for data in [["-data", "sig.bin"], ["-queryfile", "req.tsq"]] {
                for untrusted in [true, false] {
                    let (ok, text) = setup.openssl_verifies("resp.tsr", data, "ca.pem", untrusted);
                    assert!(ok, "{hash} nonce={nonce} {data:?}: {text}");
                    println!(
                        "openssl ts -verify {} {} ...: {}",
                        data[0],
                        data[1],
                        text.trim()
                    );
                }
            }
            let verified = setup.ours("resp.tsr", SIG, &setup.ca, false).unwrap();
            assert_eq!(verified.gen_time, setup.now.unix_timestamp());
            assert_eq!(verified.policy, TSA_POLICY);
            assert_eq!(verified.imprint_algorithm, algorithm);
            assert_eq!(verified.nonce.is_some(), nonce);
            assert_eq!(verified.signer_certificate_der, setup.ca.tsa_certificate());
        }
    }
}

#[test]
fn warden_and_openssl_refuse_the_same_bad_tokens() {
    let setup = Setup::new();
    setup.query("req.tsq", &["-sha256", "-cert"]);
    setup.answer("req.tsq", "resp.tsr", EssAttribute::V2);
    std::fs::write(setup.path().join("changed.bin"), b"other bytes").unwrap();

    // Changed data.
    let (openssl_ok, text) =
        setup.openssl_verifies("resp.tsr", ["-data", "changed.bin"], "ca.pem", true);
    let ours = setup.ours("resp.tsr", b"other bytes", &setup.ca, true);
    assert!(
        !openssl_ok && text.contains("message imprint mismatch"),
        "{text}"
    );
    assert_eq!(ours.unwrap_err(), TimestampError::Imprint);
    println!("changed data: openssl: {}", last_error(&text));

    // Another Warden CA (same names, other keys).
    let (openssl_ok, text) =
        setup.openssl_verifies("resp.tsr", ["-data", "sig.bin"], "other-ca.pem", true);
    let ours = setup.ours("resp.tsr", SIG, &setup.other, true);
    assert!(!openssl_ok, "{text}");
    assert!(
        matches!(ours, Err(TimestampError::Untrusted(_))),
        "{ours:?}"
    );
    println!("other CA: openssl: {}", last_error(&text));

    // No ESS signing-certificate attribute.
    setup.answer("req.tsq", "no-ess.tsr", EssAttribute::Omitted);
    let (openssl_ok, text) =
        setup.openssl_verifies("no-ess.tsr", ["-data", "sig.bin"], "ca.pem", true);
    let ours = setup.ours("no-ess.tsr", SIG, &setup.ca, true);
    assert!(!openssl_ok, "{text}");
    assert_eq!(ours.unwrap_err(), TimestampError::SigningCertificateMissing);
    println!("no ESS attribute: openssl: {}", last_error(&text));

    // The v1 (SHA-1 ESSCertID) attribute is accepted by both.
    setup.answer("req.tsq", "v1.tsr", EssAttribute::V1);
    let (openssl_ok, text) = setup.openssl_verifies("v1.tsr", ["-data", "sig.bin"], "ca.pem", true);
    assert!(openssl_ok, "{text}");
    setup.ours("v1.tsr", SIG, &setup.ca, true).unwrap();

    // No certReq: the token has no certificate; both need the TSA certificate given.
    setup.query("nocert.tsq", &["-sha256"]);
    setup.answer("nocert.tsq", "nocert.tsr", EssAttribute::V2);
    let (openssl_ok, text) =
        setup.openssl_verifies("nocert.tsr", ["-data", "sig.bin"], "ca.pem", false);
    assert!(!openssl_ok, "{text}");
    assert_eq!(
        setup.ours("nocert.tsr", SIG, &setup.ca, false).unwrap_err(),
        TimestampError::SignerNotFound
    );
    let (openssl_ok, text) =
        setup.openssl_verifies("nocert.tsr", ["-data", "sig.bin"], "ca.pem", true);
    assert!(openssl_ok, "{text}");
    setup.ours("nocert.tsr", SIG, &setup.ca, true).unwrap();

    // One flipped bit in the signature.
    let mut forged = setup.read("resp.tsr");
    let last = forged.len() - 2;
    forged[last] ^= 1;
    std::fs::write(setup.path().join("forged.tsr"), &forged).unwrap();
    let (openssl_ok, text) =
        setup.openssl_verifies("forged.tsr", ["-data", "sig.bin"], "ca.pem", true);
    assert!(!openssl_ok, "{text}");
    assert_eq!(
        setup.ours("forged.tsr", SIG, &setup.ca, true).unwrap_err(),
        TimestampError::Signature
    );
}

#[test]
fn bad_queries_get_rejections_openssl_reads() {
    let setup = Setup::new();
    setup.query("sha1.tsq", &["-sha1", "-cert"]);
    setup.answer("sha1.tsq", "sha1.tsr", EssAttribute::V2);
    let (ok, text) = setup.openssl(&["ts", "-reply", "-in", "sha1.tsr", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("Status: Rejected"), "{text}");
    assert!(
        text.contains("unrecognized or unsupported algorithm identifier"),
        "{text}"
    );
    println!("SHA-1 query: openssl ts -reply -text:\n{text}");
    let (openssl_ok, _) = setup.openssl_verifies("sha1.tsr", ["-data", "sig.bin"], "ca.pem", true);
    assert!(!openssl_ok);
    assert!(matches!(
        setup.ours("sha1.tsr", SIG, &setup.ca, true),
        Err(TimestampError::NotGranted { fail_info, .. }) if fail_info == [0]
    ));
    // Garbage: badDataFormat.
    let response = respond(
        b"not DER",
        setup.now,
        [1; 16],
        setup.ca.tsa_key(),
        setup.ca.tsa_certificate(),
        TSA_POLICY,
    );
    std::fs::write(setup.path().join("garbage.tsr"), response).unwrap();
    let (ok, text) = setup.openssl(&["ts", "-reply", "-in", "garbage.tsr", "-text"]);
    assert!(
        ok && text.contains("the data submitted has the wrong format"),
        "{text}"
    );
    // A query for another policy: unacceptedPolicy.
    setup.query("policy.tsq", &["-sha256", "-tspolicy", "1.2.3.4"]);
    setup.answer("policy.tsq", "policy.tsr", EssAttribute::V2);
    let (ok, text) = setup.openssl(&["ts", "-reply", "-in", "policy.tsr", "-text"]);
    assert!(
        ok && text.contains("the requested TSA policy is not supported by the TSA"),
        "{text}"
    );
    // A query for Warden's own policy (a 128-bit arc) is served.
    setup.query("ours.tsq", &["-sha256", "-cert", "-tspolicy", TSA_POLICY]);
    setup.answer("ours.tsq", "ours.tsr", EssAttribute::V2);
    let (ok, text) =
        setup.openssl_verifies("ours.tsr", ["-queryfile", "ours.tsq"], "ca.pem", false);
    assert!(ok, "{text}");
}

#[test]
fn warden_accepts_tokens_openssl_issues_as_a_tsa() {
    let setup = Setup::new();
    for ess_alg in ["sha1", "sha256"] {
        let config = format!(
            "[ tsa ]\ndefault_tsa = warden_test\n[ warden_test ]\nserial = ./tsaserial\n\
             crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = {TSA_POLICY}\n\
             digests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\n\
             ordering = yes\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = {ess_alg}\n"
        );
        std::fs::write(setup.path().join("tsa.cnf"), config).unwrap();
        std::fs::write(setup.path().join("tsaserial"), "01\n").unwrap();
        setup.query("req.tsq", &["-sha384", "-cert"]);
        let (ok, text) = setup.openssl(&[
            "ts",
            "-reply",
            "-queryfile",
            "req.tsq",
            "-signer",
            "tsa.pem",
            "-inkey",
            "tsa.key",
            "-config",
            "tsa.cnf",
            "-out",
            "openssl.tsr",
        ]);
        assert!(ok, "{text}");
        let (ok, text) =
            setup.openssl_verifies("openssl.tsr", ["-queryfile", "req.tsq"], "ca.pem", false);
        assert!(ok, "{text}");
        let verified = setup.ours("openssl.tsr", SIG, &setup.ca, false).unwrap();
        assert_eq!(verified.policy, TSA_POLICY);
        assert_eq!(verified.imprint_algorithm, HashAlgorithm::Sha384);
        assert!((verified.gen_time - setup.now.unix_timestamp()).abs() < 600);
        println!(
            "openssl-issued token (ess_cert_id_alg = {ess_alg}): Warden verifies genTime {} serial {}",
            verified.gen_time,
            hex::encode(&verified.serial)
        );
        // And both refuse it over other data or under another CA.
        assert_eq!(
            setup
                .ours("openssl.tsr", b"x", &setup.ca, false)
                .unwrap_err(),
            TimestampError::Imprint
        );
        assert!(setup.ours("openssl.tsr", SIG, &setup.other, false).is_err());
        let (ok, _) =
            setup.openssl_verifies("openssl.tsr", ["-data", "sig.bin"], "other-ca.pem", false);
        assert!(!ok);
    }
}

#[test]
fn verification_is_at_gen_time_not_now() {
    // An authority from 2026 answering at a genTime after its TSA certificate expired: the
    // token is refused whatever today's date is, and accepted for a genTime inside validity.
    let created = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let ca = SigningAuthority::create("old", created, [[1; 16], [2; 16]]).unwrap();
    let request = warden_wire::tsp::build_request(SIG, Some(42)).unwrap();
    let roots = [ca.root_certificate().to_vec()];
    let inside = respond(
        &request,
        created + time::Duration::days(1),
        [1; 16],
        ca.tsa_key(),
        ca.tsa_certificate(),
        TSA_POLICY,
    );
    let verified = verify_timestamp(&inside, SIG, &roots, &[]).unwrap();
    assert_eq!(verified.nonce, Some(vec![42]));
    let late = respond(
        &request,
        created + time::Duration::days(11 * 365),
        [1; 16],
        ca.tsa_key(),
        ca.tsa_certificate(),
        TSA_POLICY,
    );
    assert!(matches!(
        verify_timestamp(&late, SIG, &roots, &[]),
        Err(TimestampError::NotValidAt { .. })
    ));
    // Truncations of a good response are errors, never panics.
    for cut in 0..inside.len() {
        assert!(verify_timestamp(&inside[..cut], SIG, &roots, &[]).is_err());
    }
}

fn last_error(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
