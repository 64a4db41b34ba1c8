//! End to end on the SEV-SNP code path: the real `warden-agent --tee sim-snp` (genuine SNP-format
//! reports signed by an INSECURE development chain) against the real `warden-kbs`, which trusts
//! that chain only with `--insecure-dev-roots`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_agent::attester::sim_snp::{DevChain, SimSnpAttester};
use warden_agent::attester::{Attester, AttesterError};
use warden_agent::{ClientConfig, KbsClient};
use warden_tests::{Kbs, KbsOptions, RawClient, binary, run_ok};
use warden_wire::jwe::KeyAlgorithm;
use warden_wire::{ResourcePath, TeeKeyPair};

const SECRET: &[u8] = b"warden-sim-snp-secret-51c2";

#[test]
fn sim_snp_agent_attests_only_to_a_kbs_that_trusts_the_dev_roots() {
    let chain = tempfile::tempdir().unwrap();
    run_ok(
        Command::new(binary("warden-agent"))
            .args(["sim-snp-init", "--dir"])
            .arg(chain.path()),
    );
    let chain_dir = chain.path().to_str().unwrap();
    let measurement = std::fs::read_to_string(chain.path().join("measurement")).unwrap();
    let sim_snp = ["--tee", "sim-snp", "--insecure-sim-snp-dir", chain_dir];
    let reference = format!(r#"{{"measurements": ["{}"]}}"#, measurement.trim());

    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        serve_args: vec!["--insecure-dev-roots".into(), chain_dir.into()],
        ..Default::default()
    });
    kbs.provision("dev/key/one", SECRET, "dev/", "snp", &reference);
    let output = kbs.agent_as(&sim_snp, &["get-resource", "dev/key/one"]);
    assert!(
        output.status.success(),
        "agent failed: {}\nKBS log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        kbs.log()
    );
    assert_eq!(output.stdout, SECRET);

    let output = kbs.agent_as(&sim_snp, &["attest"]);
    assert!(output.status.success());
    let claims = warden_test_support::token::claims(String::from_utf8_lossy(&output.stdout).trim());
    let submod = &claims["submods"]["cpu0"];
    assert_eq!(submod["warden.tee"], "snp");
    assert_eq!(submod["ear.status"], "affirming");
    let evidence = &submod["ear.veraison.annotated-evidence"]["snp"];
    assert_eq!(evidence["measurement"], measurement.trim());
    assert_eq!(evidence["signing_key"], "vcek");
    assert!(
        claims["warden.insecure"][0]
            .as_str()
            .unwrap()
            .contains("development roots"),
        "{claims}"
    );
    // The shipped default release policy refuses insecure results.
    kbs.provision("prod/key/one", SECRET, "elsewhere/", "snp", &reference);
    let denied = kbs.agent_as(&sim_snp, &["get-resource", "prod/key/one"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("403"));

    let log = kbs.log();
    let result_lines: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("tee=snp") && (line.contains("token issued") || line.contains("release"))
        })
        .collect();
    assert!(result_lines.len() >= 3, "{log}");
    for line in result_lines {
        assert!(
            line.contains("INSECURE"),
            "unmarked sim-snp result line: {line}"
        );
    }

    // The same agent against a KBS without the flag: the chain is not AMD's, so it is refused.
    let strict = Kbs::start(KbsOptions {
        allow_sample: false,
        ..Default::default()
    });
    strict.provision("dev/key/one", SECRET, "dev/", "snp", &reference);
    let refused = strict.agent_as(&sim_snp, &["get-resource", "dev/key/one"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("vek_chain"),
        "{stderr}"
    );
}

/// Hosts that attach no certificates to the report: the agent's evidence carries the bare report.
struct WithoutCertificates(SimSnpAttester);

impl Attester for WithoutCertificates {
    fn tee(&self) -> &'static str {
        self.0.tee()
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        self.0.insecure_reason()
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        let mut evidence = self.0.evidence(report_data)?;
        if let Some(object) = evidence.as_object_mut() {
            object.remove("cert_table");
        }
        Ok(evidence)
    }
}

/// A stand-in for AMD KDS on loopback serving one VCEK; counts requests.
async fn fake_kds(vcek: Vec<u8>) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/vcek/v1/{product}/{hwid}",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let vcek = vcek.clone();
            async move { vcek }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

async fn fetch_without_certificates(kbs: &Kbs, chain_dir: &Path) -> Result<Vec<u8>, String> {
    let attester = WithoutCertificates(SimSnpAttester::new(DevChain::load(chain_dir).unwrap()));
    let config = ClientConfig {
        base_url: kbs.url.clone(),
        ca_file: Some(kbs.ca_file()),
        allow_plain_http: false,
        timeout: Duration::from_secs(30),
    };
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
    let mut client = KbsClient::new(config, Arc::new(attester), key).map_err(|e| e.to_string())?;
    client
        .get_resource(&ResourcePath::parse("dev/key/one").unwrap())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_without_certificates_is_verified_with_a_vcek_fetched_once_from_kds() {
    let chain = tempfile::tempdir().unwrap();
    DevChain::generate().unwrap().write(chain.path()).unwrap();
    let measurement = std::fs::read_to_string(chain.path().join("measurement")).unwrap();
    let reference = format!(r#"{{"measurements": ["{}"]}}"#, measurement.trim());
    let (kds_url, hits) = fake_kds(std::fs::read(chain.path().join("vcek.der")).unwrap()).await;
    let collateral = tempfile::tempdir().unwrap();
    let dev_roots = vec![
        "--insecure-dev-roots".to_owned(),
        chain.path().to_str().unwrap().to_owned(),
    ];

    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        serve_args: dev_roots.clone(),
        extra_config: format!(
            "[snp]\ncollateral_dir = \"{}\"\n[snp.kds]\nurl = \"{kds_url}\"\n",
            collateral.path().display()
        ),
        ..Default::default()
    });
    kbs.provision("dev/key/one", SECRET, "dev/", "snp", &reference);
    for _ in 0..3 {
        let secret = fetch_without_certificates(&kbs, chain.path()).await;
        assert_eq!(secret.as_deref(), Ok(SECRET), "KBS log:\n{}", kbs.log());
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "fetched once, then from the collateral"
    );
    let cached: Vec<_> = std::fs::read_dir(collateral.path()).unwrap().collect();
    assert_eq!(
        cached.len(),
        1,
        "the VCEK is cached in the collateral directory"
    );

    // Without KDS the same bare report has no VCEK and is refused.
    let offline = Kbs::start(KbsOptions {
        allow_sample: false,
        serve_args: dev_roots,
        ..Default::default()
    });
    offline.provision("dev/key/one", SECRET, "dev/", "snp", &reference);
    let error = fetch_without_certificates(&offline, chain.path())
        .await
        .unwrap_err();
    assert!(error.contains("no VCEK certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn init_data_is_accepted_only_when_host_data_carries_its_digest() {
    let chain_dir = tempfile::tempdir().unwrap();
    let chain = DevChain::generate().unwrap();
    chain.write(chain_dir.path()).unwrap();
    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        serve_args: vec![
            "--insecure-dev-roots".into(),
            chain_dir.path().to_str().unwrap().into(),
        ],
        ..Default::default()
    });
    let init_data =
        "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"policy.rego\" = \"allow\"\n";
    let digest: [u8; 32] = Sha256::digest(init_data.as_bytes()).into();
    let client = RawClient::new(&kbs);

    let attest = |host_data: [u8; 32]| {
        let client = &client;
        let chain = &chain;
        async move {
            let (status, challenge) = client.auth_as("snp").await;
            assert_eq!(status, 200, "{challenge}");
            let nonce = challenge["nonce"].as_str().unwrap().to_owned();
            let binding = warden_wire::runtime_data_digest(&nonce, &client.key.public_jwk(), "");
            let evidence = chain
                .signed_report_with_host_data(&binding, &host_data)
                .unwrap()
                .to_evidence();
            client
                .post(
                    "/kbs/v0/attest",
                    client.attestation_with_init_data(&nonce, evidence, init_data),
                )
                .await
        }
    };

    let (status, body) = attest(digest).await;
    assert_eq!(status, 200, "{body}");
    let claims = warden_test_support::token::claims(body["token"].as_str().unwrap());
    assert_eq!(
        claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["snp"]["host_data"],
        hex::encode(digest)
    );

    let (status, body) = attest([0; 32]).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("host_data"),
        "{body}"
    );
}
