//! Attested build signing end to end, with the real binaries: a build enclave (the agent on a
//! live software TPM, no insecure flag; and on sim-snp) gets a short-lived code-signing
//! certificate for a key it made, signs its artifact's provenance, has it timestamped, and a
//! deployer's `warden-verifier verify-artifact` accepts it after the certificate expired —
//! and refuses every tampering. Judged by OpenSSL, securesystemslib and the Sigstore models.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_agent::attester::tpm_device::{PcrBank, TpmDevice};
use warden_tests::signing::{
    BUILDER, ISSUER, PCR, Work, bundle_files, bundle_json, openssl_ts_verify, openssl_verify_at,
    securesystemslib_verifies, set_signing_policy, sign_args, signing_kbs, signing_policy,
    sigstore_models_parse, sigstore_verify, text, timestamp_time, verify_artifact,
};
use warden_tests::swtpm::Swtpm;
use warden_tests::{Kbs, KbsOptions};

/// The build enclave's whole job against `kbs`, as `agent` runs it: a certificate, an artifact,
/// its SLSA provenance signed (DSSE) and the artifact signed (message signature), both
/// timestamped. Returns (artifact, provenance bundle, message bundle).
fn build_and_sign(
    kbs: &Kbs,
    work: &Work,
    agent: &dyn Fn(&[&str]) -> Output,
) -> (PathBuf, PathBuf, PathBuf) {
    let key = work.path("build.key");
    let cert = work.path("build.pem");
    let output = agent(&[
        "signing-cert",
        "--algorithm",
        "ecdsa-p256",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
        "--lifetime",
        "4",
    ]);
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), BUILDER);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let artifact = work.write("app.tar", b"the artifact this attested build produced\n");
    let output = agent(&[
        "statement",
        "--artifact",
        artifact.to_str().unwrap(),
        "--builder-id",
        BUILDER,
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let statement = work.write("provenance.json", &output.stdout);
    let provenance = work.path("provenance.sigstore.json");
    let message = work.path("app.tar.sigstore.json");
    for (what, input, bundle) in [
        ("--statement", &statement, &provenance),
        ("--artifact", &artifact, &message),
    ] {
        let output = agent(&sign_args(&key, &cert, what, input, bundle));
        assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    }
    (artifact, provenance, message)
}

/// After the certificate expired: verify-artifact accepts both bundles, the outside judges
/// agree, and every tampering is refused at its step.
fn deployer_checks(kbs: &Kbs, work: &Work, artifact: &Path, provenance: &Path, message: &Path) {
    let ca = kbs.home().join("signing/ca.pem");
    let tsa = kbs.home().join("signing/tsa.pem");
    let accept = |bundle: &Path, artifact: &Path| {
        verify_artifact(&[
            "--bundle",
            bundle.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--trust-root",
            ca.to_str().unwrap(),
            "--identity",
            BUILDER,
            "--issuer",
            ISSUER,
            "--explain",
        ])
    };
    // The 4-second certificate has expired by now; the timestamp proves when it signed.
    std::thread::sleep(std::time::Duration::from_secs(5));
    for bundle in [provenance, message] {
        let output = accept(bundle, artifact);
        assert!(output.status.success(), "{}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("verified: signed by {BUILDER}")),
            "{stdout}"
        );
        for step in [
            "bundle",
            "certificate",
            "chain",
            "timestamp",
            "validity",
            "signature",
            "subjects",
            "identity",
        ] {
            assert!(
                stdout.contains(&format!("ok   {step}")),
                "{step} missing: {stdout}"
            );
        }
    }

    // Judges nobody here wrote.
    let files = bundle_files(provenance, work.dir.path());
    let (ok, out) = openssl_ts_verify(&files, &ca, &tsa);
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let signed_at = timestamp_time(&files);
    let (ok, out) = openssl_verify_at(&files, &ca, signed_at);
    assert!(ok && out.contains(": OK"), "{out}");
    let (ok, out) = openssl_verify_at(&files, &ca, signed_at + 3600);
    assert!(!ok && out.contains("certificate has expired"), "{out}");
    let (ok, out) = securesystemslib_verifies(&[provenance]);
    assert!(ok && out.contains("securesystemslib verified"), "{out}");
    let (ok, out) = sigstore_models_parse(&[provenance, message]);
    assert!(ok && out.matches("OK ").count() == 2, "{out}");

    // Each tampering, refused at its step.
    let tampered = work.write("tampered.tar", b"the artifact, with a backdoor\n");
    let refused = |output: Output, step: &str| {
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("refused: {step}:")),
            "{step}: {stdout}"
        );
    };
    refused(accept(provenance, &tampered), "subjects");
    refused(accept(message, &tampered), "signature");

    // The stock Sigstore client, offline, with the trust configuration `init` wrote: both
    // bundles carry their signing-log entry, inclusion proof and checkpoint, and verify after
    // the certificate expired; a tampered artifact, another identity and an altered log entry
    // are refused.
    let trust = kbs.home().join("signing/trust-config.json");
    for bundle in [provenance, message] {
        let (ok, out) = sigstore_verify(&trust, bundle, BUILDER, artifact);
        assert!(ok && out.contains("OK: "), "{out}");
        let (ok, out) = sigstore_verify(&trust, bundle, BUILDER, &tampered);
        assert!(!ok, "{out}");
        let (ok, out) = sigstore_verify(
            &trust,
            bundle,
            "https://kbs.warden.test/builders/x",
            artifact,
        );
        assert!(!ok && out.contains("SANs do not match"), "{out}");
        let mut altered = bundle_json(bundle);
        let entry = &mut altered["verificationMaterial"]["tlogEntries"][0];
        let body = entry["canonicalizedBody"].as_str().unwrap().to_owned();
        let flipped = if body.starts_with('e') { "f" } else { "e" };
        entry["canonicalizedBody"] = format!("{flipped}{}", &body[1..]).into();
        let altered = work.write("altered-entry.json", altered.to_string());
        let (ok, out) = sigstore_verify(&trust, &altered, BUILDER, artifact);
        assert!(!ok && out.contains("invalid log entry"), "{out}");
    }
    let (ok, out) = sigstore_verify(&trust, message, BUILDER, &tampered);
    assert!(out.contains("digest mismatch"), "{ok} {out}");
    refused(
        verify_artifact(&[
            "--bundle",
            provenance.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--trust-root",
            ca.to_str().unwrap(),
            "--identity",
            "https://kbs.warden.test/builders/someone-else",
        ]),
        "identity",
    );
    let other = Kbs::start(KbsOptions::default());
    refused(
        verify_artifact(&[
            "--bundle",
            provenance.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--trust-root",
            other.home().join("signing/ca.pem").to_str().unwrap(),
            "--identity",
            BUILDER,
        ]),
        "chain",
    );
    let mut bundle = bundle_json(provenance);
    let timestamps = bundle["verificationMaterial"]["timestampVerificationData"].take();
    bundle["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("timestampVerificationData");
    let untimed = work.write("untimed.json", bundle.to_string());
    refused(accept(&untimed, artifact), "timestamp");
    // A timestamp whose signature no longer verifies (one bit of the token flipped near its
    // end, inside the ECDSA signature).
    let mut forged_response = std::fs::read(&files.timestamp).unwrap();
    let at = forged_response.len() - 3;
    forged_response[at] ^= 0x01;
    use base64::Engine as _;
    let mut forged = timestamps.clone();
    forged["rfc3161Timestamps"][0]["signedTimestamp"] = base64::engine::general_purpose::STANDARD
        .encode(&forged_response)
        .into();
    bundle["verificationMaterial"]["timestampVerificationData"] = forged;
    let forged = work.write("forged.json", bundle.to_string());
    refused(accept(&forged, artifact), "timestamp");
    // OpenSSL agrees the forged token is no timestamp.
    let forged_files = bundle_files(&forged, &work.path(""));
    let (ok, out) = openssl_ts_verify(&forged_files, &ca, &tsa);
    assert!(!ok, "{out}");
}

#[test]
fn a_build_on_the_live_software_tpm_signs_and_the_deployer_verifies_after_the_certificate_expired()
{
    let tpm = Swtpm::start();
    let work = Work::default();
    let ca_dir = work.path("ek-cas");
    std::fs::create_dir_all(&ca_dir).unwrap();
    for (i, ca) in tpm.local_ca_certificates().iter().enumerate() {
        std::fs::copy(ca, ca_dir.join(format!("ca{i}.pem"))).unwrap();
    }
    let kbs = signing_kbs(KbsOptions {
        allow_sample: false,
        extra_config: format!("[tpm]\nek_ca_dir = \"{}\"\n", ca_dir.display()),
        ..Default::default()
    });
    let pcr = {
        let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
        device.read_pcrs(PcrBank::Sha256, &[PCR]).unwrap()[0]
            .1
            .clone()
    };
    kbs.set_reference_value(
        "tpm",
        &format!(
            r#"{{"pcrs": {{"sha256": {{"{PCR}": ["{}"]}}}}}}"#,
            hex::encode(&pcr)
        ),
    );
    let ak_file = work.path("ak.blob");
    let agent = |args: &[&str]| tpm.agent(&kbs, &ak_file, args);
    let output = agent(&["tpm-register"]);
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());

    // The shipped signing policy refuses everyone.
    refused_certificate(&agent, &work, "early");

    set_signing_policy(&kbs, &work, &signing_policy("tpm", false));
    let (artifact, provenance, message) = build_and_sign(&kbs, &work, &agent);
    // The certificate records what was attested: the TPM's PCRs, the status and the token.
    let (_, text_out) = warden_tests::signing::judge(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(work.path("build.pem")),
    );
    assert!(text_out.contains("Code Signing"), "{text_out}");
    let facts = attested_facts(&provenance, &kbs);
    assert_eq!(facts["tee"], "tpm");
    assert_eq!(facts["status"], "affirming");
    assert_eq!(
        facts["claims"]["pcrs"]["sha256"][PCR.to_string()],
        hex::encode(&pcr)
    );
    assert!(facts.get("insecure").is_none(), "{facts}");

    deployer_checks(&kbs, &work, &artifact, &provenance, &message);

    // A measured change to the build machine: the appraisal no longer affirms, so the signing
    // policy refuses and no certificate is issued.
    TpmDevice::open(&tpm.tcti())
        .and_then(|mut device| device.extend_pcr(PCR, Sha256::digest(b"unapproved step").into()))
        .unwrap();
    refused_certificate(&agent, &work, "late");
    let log = kbs.log();
    assert!(log.contains("signing certificate issued"), "{log}");
    assert!(log.contains("signing certificate refused"), "{log}");
}

/// `signing-cert` refused by the signing policy: exit 1, `SigningPolicyDeny`, no key or
/// certificate written.
fn refused_certificate(agent: &dyn Fn(&[&str]) -> Output, work: &Work, name: &str) {
    let (key, cert) = (
        work.path(&format!("{name}.key")),
        work.path(&format!("{name}.pem")),
    );
    let output = agent(&[
        "signing-cert",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SigningPolicyDeny"));
    assert!(!key.exists() && !cert.exists());
}

/// The attested facts of the bundle's certificate, read by verify-artifact's JSON output.
fn attested_facts(bundle: &Path, kbs: &Kbs) -> Value {
    let report = |digest: &str| -> Value {
        let output = verify_artifact(&[
            "--bundle",
            bundle.to_str().unwrap(),
            "--digest",
            &format!("sha256:{digest}"),
            "--trust-root",
            kbs.home().join("signing/ca.pem").to_str().unwrap(),
            "--identity",
            BUILDER,
            "--json",
        ]);
        serde_json::from_slice(&output.stdout).unwrap()
    };
    // A digest the statement does not cover: refused at `subjects`, after the certificate was
    // read; the facts come from a run that does cover it instead.
    let refused = report(&hex::encode([0u8; 32]));
    assert_eq!(refused["step"], "subjects", "{refused}");
    let statement = bundle_json(bundle)["dsseEnvelope"]["payload"].clone();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(statement.as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let digest = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap();
    let verified = report(digest);
    assert_eq!(verified["verified"], true, "{verified}");
    verified["attested"].clone()
}

#[test]
fn a_build_on_sim_snp_signs_and_its_certificate_says_it_was_insecure() {
    let (_chain, chain_dir, measurement) = warden_tests::sim_snp_chain();
    let kbs = signing_kbs(KbsOptions {
        allow_sample: false,
        serve_args: vec!["--insecure-dev-roots".into(), chain_dir.clone()],
        ..Default::default()
    });
    kbs.set_reference_value(
        "snp",
        &format!(r#"{{"measurements": ["{}"]}}"#, measurement),
    );
    let work = Work::default();
    let agent = |args: &[&str]| {
        kbs.agent_as(
            &["--tee", "sim-snp", "--insecure-sim-snp-dir", &chain_dir],
            args,
        )
    };
    // A policy that refuses insecure results refuses sim-snp.
    set_signing_policy(&kbs, &work, &signing_policy("snp", false));
    refused_certificate(&agent, &work, "refused");
    set_signing_policy(&kbs, &work, &signing_policy("snp", true));
    let (artifact, provenance, message) = build_and_sign(&kbs, &work, &agent);
    let facts = attested_facts(&provenance, &kbs);
    assert_eq!(facts["tee"], "snp");
    assert_eq!(facts["claims"]["measurement"], measurement);
    assert!(
        facts["insecure"][0]
            .as_str()
            .unwrap()
            .contains("development roots"),
        "{facts}"
    );
    deployer_checks(&kbs, &work, &artifact, &provenance, &message);

    // A deployer's policy over the attested facts instead of a fixed identity: this image's
    // SNP measurement passes, a policy pinning another measurement refuses.
    for (pinned, verified) in [(measurement.clone(), true), ("00".repeat(48), false)] {
        let policy = work.write(
            "deploy.rego",
            format!(
                "package warden.artifact\n\ndefault allow := false\n\n\
                 allow if {{\n\tinput.certificate.attested.tee == \"snp\"\n\
                 \tinput.certificate.attested.claims.measurement == \"{pinned}\"\n}}\n"
            ),
        );
        let output = verify_artifact(&[
            "--bundle",
            provenance.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--trust-root",
            kbs.home().join("signing/ca.pem").to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ]);
        assert_eq!(output.status.success(), verified, "{}", text(&output));
        if !verified {
            assert!(String::from_utf8_lossy(&output.stdout).contains("refused: policy:"));
        }
    }
}
