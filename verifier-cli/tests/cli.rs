//! The `warden-verifier appraise` contract: exit codes, `--json` fields, evidence and endorsement
//! formats recognised by content. Runs the real binary on the real SNP vectors.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;
use warden_test_support::vectors;

fn run(subcommand: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden-verifier"))
        .arg(subcommand)
        .args(args)
        .output()
        .expect("run warden-verifier")
}

fn appraise(args: &[&str]) -> Output {
    run("appraise", args)
}

/// `appraise --tee snp --evidence <vector file> --endorsements <vector files> --at 2026-11-01`
/// plus `extra` arguments.
fn appraise_snp_vector(
    dir: &std::path::Path,
    evidence: &str,
    endorsements: &[&str],
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "--tee".to_owned(),
        "snp".into(),
        "--evidence".into(),
        path(dir, evidence),
    ];
    if !endorsements.is_empty() {
        args.push("--endorsements".into());
        args.extend(endorsements.iter().map(|file| path(dir, file)));
    }
    args.extend(["--at", "2026-11-01T00:00:00Z"].map(String::from));
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    appraise(&args)
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Names of the failed entries of a `checks` or trace `steps` list.
fn failed_names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["ok"] == false)
        .map(|entry| entry["name"].as_str().unwrap())
        .collect()
}

fn path(dir: &std::path::Path, file: &str) -> String {
    dir.join(file).to_str().unwrap().to_owned()
}

const VIRTEE_REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
const VIRTEE_MEASUREMENT: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

#[test]
fn hex_report_with_reference_values_is_affirmed_and_exits_0() {
    let dir = vectors::tee("snp");
    let work = tempfile::tempdir().unwrap();
    let rv = work.path().join("rv.json");
    std::fs::write(
        &rv,
        format!(r#"{{"snp": {{"measurements": ["{VIRTEE_MEASUREMENT}"]}}}}"#),
    )
    .unwrap();
    let output = appraise_snp_vector(
        &dir,
        "virtee-milan/report_milan.hex",
        &[
            "virtee-milan/vcek_milan.der",
            "virtee-milan/cert_chain_milan.pem",
        ],
        &[
            "--report-data",
            VIRTEE_REPORT_DATA,
            "--reference-values",
            rv.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json_of(&output);
    assert_eq!(report["verified"], true);
    assert_eq!(report["status"], "affirming");
    assert_eq!(report["claims"]["measurement"], VIRTEE_MEASUREMENT);
    assert_eq!(report["claims"]["report_data"], VIRTEE_REPORT_DATA);
    assert!(
        report["claims"]["chip_id"]
            .as_str()
            .unwrap()
            .starts_with("d49554ec")
    );
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c["ok"] == true && c["name"].is_string() && c["detail"].is_string())
    );
}

#[test]
fn verified_but_unknown_measurement_exits_1_with_a_warning() {
    let dir = vectors::tee("snp");
    let output = appraise_snp_vector(
        &dir,
        "trustee-milan-vcek/test-report.bin",
        &["trustee-milan-vcek/test-vcek.der"],
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output);
    assert_eq!(report["verified"], true);
    assert_eq!(report["status"], "warning");
}

#[test]
fn coco_json_evidence_carries_its_own_vcek() {
    let dir = vectors::tee("snp");
    let output = appraise_snp_vector(&dir, "trustee-genoa-v3/evidence.json", &[], &["--json"]);
    let report = json_of(&output);
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["claims"]["generation"], "Genoa");
}

#[test]
fn expired_vlek_is_rejected_and_every_failed_check_is_printed() {
    let dir = vectors::tee("snp");
    let output = appraise_snp_vector(
        &dir,
        "trustee-milan-vlek/test-vlek-report.bin",
        &["trustee-milan-vlek/test-vlek.der"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("[FAIL] validity"), "{text}");
    assert!(text.contains("NOT verified"), "{text}");
    assert!(
        text.contains("\"measurement\""),
        "claims are printed even when rejected: {text}"
    );
}

#[test]
fn garbage_is_rejected_with_exit_1_and_usage_errors_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let garbage = work.path().join("garbage");
    std::fs::write(&garbage, [0xffu8, 0, 1, 2, 3]).unwrap();
    let garbage = garbage.to_str().unwrap();
    let output = appraise(&[
        "--tee",
        "snp",
        "--evidence",
        garbage,
        "--at",
        "2026-11-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output);
    assert_eq!(report["verified"], false);
    assert_eq!(report["checks"][0]["name"], "evidence_format");

    for args in [
        vec!["--tee", "snp", "--evidence", garbage],
        vec![
            "--tee",
            "snp",
            "--evidence",
            "/nonexistent",
            "--at",
            "2026-11-01T00:00:00Z",
        ],
        vec!["--tee", "snp", "--evidence", garbage, "--at", "yesterday"],
        vec![
            "--tee",
            "snp",
            "--evidence",
            garbage,
            "--at",
            "2026-11-01T00:00:00Z",
            "--endorsements",
            garbage,
        ],
        vec![
            "--tee",
            "snp",
            "--evidence",
            garbage,
            "--at",
            "2026-11-01T00:00:00Z",
            "--report-data",
            "xyz",
        ],
    ] {
        let output = appraise(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

/// `appraise --tee tdx` on the GCP COS quote with its 2025-02 collateral and CCEL.
fn appraise_gcp_tdx(dir: &std::path::Path, at: &str, extra: &[&str]) -> Output {
    let collateral = "go-tdx-guest-gce-ccel/collateral_2025-02";
    let mut args = vec![
        "--tee".to_owned(),
        "tdx".into(),
        "--evidence".into(),
        path(dir, "go-tdx-guest-gce-ccel/cos-113-tdx-quote.dat"),
        "--event-log".into(),
        path(dir, "go-tdx-guest-gce-ccel/ccel_data.dat"),
        "--endorsements".into(),
    ];
    args.extend(
        [
            "intel_root_ca_crl.der",
            "pck_platform_crl.der",
            "qeidentityv2_apiv4.json",
            "tcb_signing_cert.pem",
            "tcbinfov3_00806f050000.json",
        ]
        .iter()
        .map(|file| path(dir, &format!("{collateral}/{file}"))),
    );
    args.extend(["--at".to_owned(), at.to_owned(), "--json".to_owned()]);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    appraise(&args)
}

#[test]
fn tdx_quote_with_collateral_and_event_log_is_affirmed_then_expired_in_november_2026() {
    let dir = vectors::tee("tdx");
    let reference = tempfile::NamedTempFile::new().unwrap();
    let mr_td = "dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a";
    std::fs::write(
        reference.path(),
        format!(r#"{{"tdx": {{"mr_td": ["{mr_td}"]}}}}"#),
    )
    .unwrap();
    let reference = reference.path().to_str().unwrap();

    let output = appraise_gcp_tdx(
        &dir,
        "2025-03-01T00:00:00Z",
        &["--reference-values", reference],
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_eq!(report["status"], "affirming");
    assert_eq!(report["claims"]["tcb_status"], "UpToDate");
    assert_eq!(
        report["claims"]["boot"]["kernel"]["path"],
        "/syslinux/vmlinuz.A"
    );
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"event_log") && checks.contains(&"tcb_level"));

    let expired = appraise_gcp_tdx(
        &dir,
        "2026-11-01T00:00:00Z",
        &["--reference-values", reference],
    );
    let report = json_of(&expired);
    assert_eq!(expired.status.code(), Some(1));
    assert_eq!(report["verified"], false);
    let failed = failed_names(&report["checks"]);
    // The 2025-02 collateral came with the 2018 TCB signing certificate (expired 2025-05-21).
    assert_eq!(failed, ["validity", "collateral_freshness"]);

    // Text output names the failing check; usage errors exit 2.
    let text = appraise(&[
        "--tee",
        "tdx",
        "--evidence",
        &path(&dir, "go-tdx-guest-spr-v4/tdx_prod_quote_SPR_E4.dat"),
        "--at",
        "2023-07-01T01:00:00Z",
    ]);
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("[FAIL] quote_format"), "{stdout}");
    let misuse = appraise(&[
        "--tee",
        "snp",
        "--evidence",
        &path(&dir, "dcap-qvl-tdx/tdx_quote.bin"),
        "--event-log",
        &path(&dir, "go-tdx-guest-gce-ccel/ccel_data.dat"),
        "--at",
        "2025-07-01T00:00:00Z",
    ]);
    assert_eq!(misuse.status.code(), Some(2));
    let garbage = appraise(&[
        "--tee",
        "tdx",
        "--evidence",
        &path(&dir, "go-tdx-guest-gce-ccel/nonce.dat"),
        "--at",
        "2025-07-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(garbage.status.code(), Some(1));
    assert_eq!(json_of(&garbage)["checks"][0]["name"], "evidence_format");
}

/// The GCE vTPM quotes (nonce 0x9009) as Warden TPM evidence JSON, without the event log (given
/// to the CLI separately with --event-log).
fn gce_tpm_evidence(dir: &std::path::Path) -> Value {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let derived = dir.join("derived_nonce9009");
    let quotes: Value =
        serde_json::from_slice(&std::fs::read(derived.join("quotes.json")).unwrap()).unwrap();
    let banks = ["sha1", "sha256", "sha384"];
    let unhex =
        |bank: &str, field: &str| hex::decode(quotes[bank][field].as_str().unwrap()).unwrap();
    serde_json::json!({
        "ak_public": b64(&std::fs::read(derived.join("ak_pub.tpmt_public.bin")).unwrap()),
        "ak_certificate": b64(&std::fs::read(dir.join("ak_cert.der")).unwrap()),
        "quotes": banks.map(|bank| serde_json::json!({
            "attest": b64(&unhex(bank, "quote")),
            "signature": b64(&unhex(bank, "sig")),
        })),
        "pcrs": serde_json::Map::from_iter(banks.map(|bank| (bank.to_owned(), quotes[bank]["pcrs"].clone()))),
    })
}

#[test]
fn tpm_quotes_with_an_ak_certificate_and_event_log_follow_the_exit_code_contract() {
    let dir = vectors::set("tpm", "gce-vtpm-cos85");
    let work = tempfile::tempdir().unwrap();
    let evidence = work.path().join("gce.json");
    std::fs::write(&evidence, gce_tpm_evidence(&dir).to_string()).unwrap();
    let reference = work.path().join("rv.json");
    std::fs::write(
        &reference,
        r#"{"tpm": {"pcrs": {"sha256": {"0": ["0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf"]}}}}"#,
    )
    .unwrap();
    let event_log = path(&dir, "derived_nonce9009/event_log.bin");
    let root = path(&dir, "tpm_ek_root_1.cer");
    let intermediate = path(&dir, "tpm_ek_intermediate_2.crt");
    let run = |endorsements: &[&str], report_data: &str, extra: &[&str]| {
        let mut args = vec!["--tee", "tpm", "--evidence", evidence.to_str().unwrap()];
        args.extend(["--event-log", &event_log, "--report-data", report_data]);
        args.push("--endorsements");
        args.extend(endorsements);
        args.extend(["--at", "2026-11-01T00:00:00Z", "--json"]);
        args.extend(extra);
        appraise(&args)
    };
    let rv = ["--reference-values", reference.to_str().unwrap()];
    let affirmed = run(&[&root, &intermediate], "9009", &rv);
    assert_eq!(
        affirmed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&affirmed.stdout)
    );
    let report = json_of(&affirmed);
    assert_eq!(report["status"], "affirming");
    assert_eq!(
        report["claims"]["event_log"]["replayed_pcrs"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(report["claims"]["ak"]["trust"], "certificate");

    let unknown_pcrs = run(&[&root, &intermediate], "9009", &[]);
    assert_eq!(unknown_pcrs.status.code(), Some(1));
    assert_eq!(json_of(&unknown_pcrs)["verified"], true);
    let wrong_nonce = run(&[&root, &intermediate], "39303039", &rv);
    assert_eq!(wrong_nonce.status.code(), Some(1));
    let failed: Vec<Value> = json_of(&wrong_nonce)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["ok"] == false)
        .map(|check| check["name"].clone())
        .collect();
    assert_eq!(failed, ["report_data"]);
    let other_root = run(&[&path(&dir, "gcp_ek_ak_ca_root.crt")], "9009", &rv);
    assert_eq!(other_root.status.code(), Some(1));
    let text = String::from_utf8_lossy(&other_root.stdout);
    assert!(text.contains("not issued by a configured TPM CA"), "{text}");
}

#[test]
fn azure_snp_vtpm_evidence_is_appraised_from_the_coco_json() {
    let dir = vectors::set("az-snp-vtpm", "trustee-milan-v1");
    let work = tempfile::tempdir().unwrap();
    let reference = work.path().join("rv.json");
    std::fs::write(
        &reference,
        r#"{"az-snp-vtpm": {"pcrs": {"sha256": {"0": ["e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"]}}}}"#,
    )
    .unwrap();
    let run = |report_data: &str| {
        appraise(&[
            "--tee",
            "az-snp-vtpm",
            "--evidence",
            &path(&dir, "evidence-v1.json"),
            "--endorsements",
            &path(&dir, "milan_ask_ark_asvk.pem"),
            "--report-data",
            report_data,
            "--reference-values",
            reference.to_str().unwrap(),
            "--at",
            "2026-11-01T00:00:00Z",
        ])
    };
    let affirmed = run(&hex::encode("challenge"));
    let text = String::from_utf8_lossy(&affirmed.stdout);
    assert_eq!(affirmed.status.code(), Some(0), "{text}");
    assert!(text.contains("verdict: affirming"), "{text}");
    assert!(text.contains("[ok  ] runtime_claims"), "{text}");
    let refused = run(&hex::encode("challenge2"));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("[FAIL] report_data"));
}

fn explain(args: &[&str]) -> Output {
    run("explain", args)
}

#[test]
fn explain_names_the_failing_comparison_and_the_nearest_reference_measurement() {
    let dir = vectors::tee("snp");
    // The real measurement with its byte 5 changed, and an unrelated value further away.
    let mut near = hex::decode(VIRTEE_MEASUREMENT).unwrap();
    near[5] ^= 0x01;
    let near = hex::encode(near);
    let far = "11".repeat(48);
    let work = tempfile::tempdir().unwrap();
    let rv = work.path().join("rv.json");
    std::fs::write(
        &rv,
        serde_json::json!({"snp": {"measurements": [far, near], "vmpls": [0]}}).to_string(),
    )
    .unwrap();
    let args = |json: bool| {
        let mut args = vec![
            "--tee".to_owned(),
            "snp".into(),
            "--evidence".into(),
            path(&dir, "virtee-milan/report_milan.hex"),
            "--endorsements".into(),
            path(&dir, "virtee-milan/vcek_milan.der"),
            path(&dir, "virtee-milan/cert_chain_milan.pem"),
            "--report-data".into(),
            VIRTEE_REPORT_DATA.into(),
            "--at".into(),
            "2026-11-01T00:00:00Z".into(),
            "--reference-values".into(),
            rv.to_str().unwrap().into(),
        ];
        if json {
            args.push("--json".into());
        }
        args
    };
    let text_args = args(false);
    let output = explain(&text_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1), "a warning exits 1");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("verdict: warning (evidence verified)"),
        "{text}"
    );
    assert!(text.contains("[ok  ] evidence.report_signature"), "{text}");
    assert!(text.contains("[ok  ] reference_values.snp.vmpls"), "{text}");
    assert!(
        text.contains(&format!(
            "[FAIL] reference_values.snp.measurements: measurement {VIRTEE_MEASUREMENT} is not among the 2 allowed; nearest {near} differs in 1 of 48 bytes"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("nearest allowed: {near} (differing bytes: 5)")),
        "{text}"
    );
    assert!(
        text.contains("[FAIL] policy.executables: 33 (warning)"),
        "{text}"
    );

    let json_args = args(true);
    let report = json_of(&explain(
        &json_args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let failed = failed_names(&report["trace"]["steps"]);
    assert_eq!(
        failed,
        ["reference_values.snp.measurements", "policy.executables"]
    );
    // `appraise` carries the same trace in its JSON.
    let appraised = json_of(&appraise(
        &json_args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(appraised["trace"], report["trace"]);
}

#[test]
fn remove_stored_policy_deletes_an_appraisal_policy_from_a_stopped_services_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verifier.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = warden_store::Store::open_sqlite(&path).await.unwrap();
        // As an earlier build without the policy limits could have stored it.
        let nested = format!(
            "package warden.appraisal\ntrust_vector := {}1{}\n",
            "[".repeat(250),
            "]".repeat(250)
        );
        store
            .put_policy(warden_store::PolicyKind::Appraisal, "default", &nested)
            .await
            .unwrap();
    });
    let store = path.to_str().unwrap();
    let removed = run(
        "remove-stored-policy",
        &["--store", store, "--name", "default"],
    );
    assert!(removed.status.success(), "{removed:?}");
    assert_eq!(String::from_utf8_lossy(&removed.stdout).trim(), "removed");
    let again = run(
        "remove-stored-policy",
        &["--store", store, "--name", "default"],
    );
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let left = runtime.block_on(async {
        let store = warden_store::Store::open_sqlite(&path).await.unwrap();
        store
            .policies(warden_store::PolicyKind::Appraisal)
            .await
            .unwrap()
    });
    assert!(left.is_empty());
}
