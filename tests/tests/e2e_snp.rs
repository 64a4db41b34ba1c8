//! End to end on the SEV-SNP code path: the real `warden-agent --tee sim-snp` (genuine SNP-format
//! reports signed by an INSECURE development chain) against the real `warden-kbs`, which trusts
//! that chain only with `--insecure-dev-roots`.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use warden_tests::{Kbs, KbsOptions, binary, run_ok};

const SECRET: &[u8] = b"warden-sim-snp-secret-51c2";

fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

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
    let claims = token_claims(String::from_utf8_lossy(&output.stdout).trim());
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
