//! End to end on a real TPM 2.0 implementation: Debian's swtpm, manufactured with an EK
//! certificate from its own local CA, the real `warden-agent --tee tpm` and the real
//! `warden-kbs` trusting that CA as the TPM manufacturer. No insecure flag is involved: the AK
//! is trusted only after credential activation, and the secret is released by the shipped
//! default release policy only while the quoted PCRs match the reference values.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_agent::attester::Attester as _;
use warden_agent::attester::tpm::TpmAttester;
use warden_agent::attester::tpm_device::{PcrBank, TpmDevice};
use warden_tests::swtpm::Swtpm;
use warden_tests::{Kbs, KbsOptions, RawClient};

const SECRET: &[u8] = b"warden-swtpm-secret-7e01";
/// The PCR the reference value pins and the test later extends (application-defined on PCs).
const PCR: u8 = 14;

/// A KBS whose `[tpm] ek_ca_dir` holds `cas` (none: registration disabled), appraising with
/// its embedded verifier or, when `remote`, a `warden-verifier serve` it registers AKs with.
fn kbs_trusting(cas: &[std::path::PathBuf], dir: &Path, remote: bool) -> Kbs {
    let extra_config = if cas.is_empty() {
        String::new()
    } else {
        let ca_dir = dir.join("ek-cas");
        std::fs::create_dir_all(&ca_dir).unwrap();
        for (i, ca) in cas.iter().enumerate() {
            std::fs::copy(ca, ca_dir.join(format!("ca{i}.pem"))).unwrap();
        }
        format!("[tpm]\nek_ca_dir = \"{}\"\n", ca_dir.display())
    };
    Kbs::start(KbsOptions {
        allow_sample: false,
        extra_config,
        remote_verifier: remote,
        // The service trusts its KBS to have done the credential activation.
        verifier_args: vec!["--accept-tpm-registrations".into()],
        ..Default::default()
    })
}

/// Stores the secret and a `tpm` reference value pinning `pcr_value`; the resource falls under
/// the shipped default release policy (affirming results from real TEEs only).
fn provision(kbs: &Kbs, pcr_value: &[u8]) {
    let secret = kbs.dir.path().join("secret.bin");
    std::fs::write(&secret, SECRET).unwrap();
    kbs.admin(&[
        "resource",
        "set",
        "build/key/signing",
        "--file",
        secret.to_str().unwrap(),
    ]);
    let rv = kbs.dir.path().join("tpm-rv.json");
    let reference = format!(
        r#"{{"pcrs": {{"sha256": {{"{PCR}": ["{}"]}}}}}}"#,
        hex::encode(pcr_value)
    );
    std::fs::write(&rv, reference).unwrap();
    kbs.admin(&[
        "reference-value",
        "set",
        "tpm",
        "--file",
        rv.to_str().unwrap(),
    ]);
}

fn read_pcr(tpm: &Swtpm) -> Vec<u8> {
    let mut device = TpmDevice::open(&tpm.tcti()).expect("open swtpm");
    let values = device.read_pcrs(PcrBank::Sha256, &[PCR]).expect("read PCR");
    values[0].1.clone()
}

fn agent(kbs: &Kbs, tpm: &Swtpm, ak_file: &Path, args: &[&str]) -> Output {
    tpm.agent(kbs, ak_file, args)
}

fn expect_exit(output: &Output, code: i32, kbs: &Kbs, tpm: &Swtpm) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        explain(output, kbs, tpm)
    );
}

/// `warden-agent attest`, which must succeed; the token's claims.
fn attest(kbs: &Kbs, tpm: &Swtpm, ak_file: &Path) -> Value {
    let output = agent(kbs, tpm, ak_file, &["attest"]);
    assert!(output.status.success(), "{}", explain(&output, kbs, tpm));
    warden_test_support::token::claims(String::from_utf8_lossy(&output.stdout).trim())
}

fn explain(output: &Output, kbs: &Kbs, tpm: &Swtpm) -> String {
    format!(
        "status {:?}\nstderr: {}\nKBS log:\n{}\nswtpm log:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr),
        kbs.log(),
        tpm.log()
    )
}

#[test]
fn swtpm_agent_registers_its_ak_fetches_the_secret_and_is_refused_once_a_pcr_changes() {
    register_fetch_and_be_refused(false);
}

/// The same through a verifier service: the KBS does the credential activation and hands the
/// AK to the service, which keeps it in its store across its own restart.
#[test]
fn the_same_tpm_flow_through_a_verifier_service_gives_the_same_answers() {
    register_fetch_and_be_refused(true);
}

fn register_fetch_and_be_refused(remote: bool) {
    let tpm = Swtpm::start();
    let work = tempfile::tempdir().unwrap();
    let mut kbs = kbs_trusting(&tpm.local_ca_certificates(), work.path(), remote);
    provision(&kbs, &read_pcr(&tpm));
    let ak_file = work.path().join("ak.blob");

    // `tpm-pcrs` prints the values in the reference-value shape.
    let output = agent(&kbs, &tpm, &ak_file, &["tpm-pcrs", "--pcrs", "0,14"]);
    assert!(output.status.success(), "{}", explain(&output, &kbs, &tpm));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["sha256"]["14"][0], hex::encode(read_pcr(&tpm)));
    assert_eq!(printed["sha256"].as_object().unwrap().len(), 2);

    // Without an AK there is nothing to quote with: a local error, exit 2.
    let output = agent(&kbs, &tpm, &ak_file, &["get-resource", "build/key/signing"]);
    expect_exit(&output, 2, &kbs, &tpm);
    assert!(String::from_utf8_lossy(&output.stderr).contains("tpm-register"));

    let output = agent(&kbs, &tpm, &ak_file, &["tpm-register"]);
    assert!(output.status.success(), "{}", explain(&output, &kbs, &tpm));
    let ak_name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(ak_name.len(), 68, "{ak_name}");
    assert!(ak_name.starts_with("000b"));
    assert!(kbs.log().contains("registered by credential activation"));

    let output = agent(&kbs, &tpm, &ak_file, &["get-resource", "build/key/signing"]);
    assert!(output.status.success(), "{}", explain(&output, &kbs, &tpm));
    assert_eq!(output.stdout, SECRET);

    let claims = attest(&kbs, &tpm, &ak_file);
    let submod = &claims["submods"]["cpu0"];
    assert_eq!(submod["warden.tee"], "tpm");
    assert_eq!(submod["ear.status"], "affirming");
    assert!(claims.get("warden.insecure").is_none(), "{claims}");
    let evidence = &submod["ear.veraison.annotated-evidence"]["tpm"];
    assert_eq!(evidence["ak"]["trust"], "registered");
    assert_eq!(evidence["ak"]["name"], ak_name);
    // libtpms/swtpm's firmware version, and one value per PCR quoted.
    assert_eq!(evidence["pcrs"]["sha256"].as_object().unwrap().len(), 24);

    // A measured change: the PCR no longer matches the reference value, so the default
    // release policy refuses the secret (the result is a warning, not affirming).
    TpmDevice::open(&tpm.tcti())
        .and_then(|mut device| {
            device.extend_pcr(PCR, Sha256::digest(b"unapproved build step").into())
        })
        .expect("extend PCR");
    let output = agent(&kbs, &tpm, &ak_file, &["get-resource", "build/key/signing"]);
    expect_exit(&output, 1, &kbs, &tpm);
    assert!(String::from_utf8_lossy(&output.stderr).contains("PolicyDeny"));
    assert!(output.stdout.is_empty());

    // The registration survives a restart of the KBS (and of the service that keeps it).
    if let Some(verifier) = kbs.verifier.as_mut() {
        verifier.restart();
        assert!(verifier.log().contains("TPM: registered AKs loaded"));
    }
    kbs.crash_and_restart();
    let claims = attest(&kbs, &tpm, &ak_file);
    let submod = &claims["submods"]["cpu0"];
    assert_eq!(submod["ear.status"], "warning");
    assert_eq!(
        submod["ear.veraison.annotated-evidence"]["tpm"]["ak"]["trust"],
        "registered"
    );

    // On the service, an operator lists the registered AKs and revokes this one: from then on
    // its quotes are refused.
    if let Some(url) = kbs.verifier.as_ref().map(|verifier| verifier.url.clone()) {
        let pki = kbs.dir.path().join("pki");
        let tpm_ak = |args: &[&str]| {
            std::process::Command::new(warden_tests::binary("warden-verifier"))
                .args(["tpm-ak", "--server", &url, "--tls-cert"])
                .arg(pki.join("client.pem"))
                .arg("--tls-key")
                .arg(pki.join("client.key"))
                .arg("--tls-ca")
                .arg(pki.join("ca.pem"))
                .args(args)
                .output()
                .unwrap()
        };
        let listed: Value = serde_json::from_slice(&tpm_ak(&["list"]).stdout).unwrap();
        assert_eq!(listed[0]["name"], ak_name, "{listed}");
        assert_eq!(listed[0]["registered_by"], "client");
        assert!(tpm_ak(&["rm", &ak_name]).status.success());
        assert_eq!(tpm_ak(&["rm", &ak_name]).status.code(), Some(1));
        let output = agent(&kbs, &tpm, &ak_file, &["attest"]);
        expect_exit(&output, 1, &kbs, &tpm);
        assert!(String::from_utf8_lossy(&output.stderr).contains("ak_trust"));
        // For good: not back after a restart of the service, and not registrable again.
        let verifier = kbs.verifier.as_mut().unwrap();
        verifier.restart();
        let output = agent(&kbs, &tpm, &ak_file, &["attest"]);
        expect_exit(&output, 1, &kbs, &tpm);
        assert!(String::from_utf8_lossy(&output.stderr).contains("ak_trust"));
        let output = agent(&kbs, &tpm, &ak_file, &["tpm-register"]);
        expect_exit(&output, 1, &kbs, &tpm);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("was revoked"), "{stderr}");
    }
}

#[test]
fn an_ek_from_an_untrusted_ca_is_refused_and_an_unregistered_ak_is_not_trusted() {
    let tpm = Swtpm::start();
    // Each swtpm harness instance has its own local CA: another one's is an untrusted maker.
    let other = Swtpm::start();
    let work = tempfile::tempdir().unwrap();
    let kbs = kbs_trusting(&other.local_ca_certificates(), work.path(), false);
    provision(&kbs, &read_pcr(&tpm));
    let ak_file = work.path().join("ak.blob");

    let output = agent(&kbs, &tpm, &ak_file, &["tpm-register"]);
    expect_exit(&output, 1, &kbs, &tpm);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TpmRegistrationFailed"), "{stderr}");
    assert!(
        stderr.contains("not issued by a configured TPM CA"),
        "{stderr}"
    );
    assert!(
        ak_file.exists(),
        "the AK is created before registration is attempted"
    );

    // The AK exists but nobody vouched for it: attestation is refused naming ak_trust.
    let output = agent(&kbs, &tpm, &ak_file, &["get-resource", "build/key/signing"]);
    expect_exit(&output, 1, &kbs, &tpm);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ak_trust"), "{stderr}");

    // A KBS without [tpm] ek_ca_dir refuses registration outright.
    let closed = kbs_trusting(&[], &work.path().join("closed"), false);
    let output = agent(&closed, &tpm, &ak_file, &["tpm-register"]);
    expect_exit(&output, 1, &closed, &tpm);
    assert!(String::from_utf8_lossy(&output.stderr).contains("disabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn init_data_is_accepted_only_when_pcr8_carries_its_digest() {
    let tpm = Swtpm::start();
    let work = tempfile::tempdir().unwrap();
    let kbs = kbs_trusting(&tpm.local_ca_certificates(), work.path(), false);
    provision(&kbs, &read_pcr(&tpm));
    let ak_file = work.path().join("ak.blob");
    let output = agent(&kbs, &tpm, &ak_file, &["tpm-register"]);
    assert!(output.status.success(), "{}", explain(&output, &kbs, &tpm));

    let init_data =
        "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"policy.rego\" = \"allow\"\n";
    let digest: [u8; 32] = Sha256::digest(init_data.as_bytes()).into();
    let client = RawClient::new(&kbs);
    let attester = TpmAttester::new(tpm.tcti(), &ak_file);
    let attest = |body: &'static str| {
        let (client, attester) = (&client, &attester);
        async move {
            let (status, challenge) = client.auth_as("tpm").await;
            assert_eq!(status, 200, "{challenge}");
            let nonce = challenge["nonce"].as_str().unwrap().to_owned();
            let binding = warden_wire::runtime_data_digest(&nonce, &client.key.public_jwk(), "");
            let evidence = attester.evidence(&binding).expect("TPM evidence");
            client
                .post(
                    "/kbs/v0/attest",
                    client.attestation_with_init_data(&nonce, evidence, body),
                )
                .await
        }
    };

    // PCR 8 still zero: the init-data is not bound.
    let (status, body) = attest(init_data).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("init_data"),
        "{body}"
    );

    // The guest measures its init-data into PCR 8, as CoCo's TPM attesters do.
    TpmDevice::open(&tpm.tcti())
        .and_then(|mut device| device.extend_pcr(8, digest))
        .expect("extend PCR 8");
    let (status, body) = attest(init_data).await;
    assert_eq!(status, 200, "{body}");
    let claims = warden_test_support::token::claims(body["token"].as_str().unwrap());
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tpm"];
    assert_eq!(evidence["init_data"], hex::encode(digest));
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");

    // Other init-data, or a SHA-384 digest (which no SHA-256 PCR can hold), is refused.
    let (status, body) = attest("version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = attest(
        "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"policy.rego\" = \"allow\"\n",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("SHA-256 init-data digests only"),
        "{body}"
    );

    // The appraisal policy reads the bound document's [data] (a policy keyed on init-data).
    let policy = work.path().join("init-data-policy.rego");
    std::fs::write(
        &policy,
        "package warden.appraisal\n\ndefault trust_vector := {\"hardware\": 2, \"executables\": 33}\n\ntrust_vector := {\"hardware\": 2, \"executables\": 2} if input.init_data.data[\"policy.rego\"] == \"allow\"\n",
    )
    .unwrap();
    kbs.admin(&[
        "policy",
        "set-appraisal",
        "--file",
        policy.to_str().unwrap(),
    ]);
    let (status, body) = attest(init_data).await;
    assert_eq!(status, 200, "{body}");
    let claims = warden_test_support::token::claims(body["token"].as_str().unwrap());
    assert_eq!(
        claims["submods"]["cpu0"]["ear.status"], "affirming",
        "{claims}"
    );
    // Without init-data the same TPM gives the policy nothing to read: a warning.
    let claims = crate::attest(&kbs, &tpm, &ak_file);
    assert_eq!(
        claims["submods"]["cpu0"]["ear.status"], "warning",
        "{claims}"
    );
}
