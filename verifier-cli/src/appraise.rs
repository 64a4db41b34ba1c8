//! `warden-verifier appraise` and `explain`: offline appraisal of evidence files, printed as a
//! verdict or as the whole decision trace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::{read, read_bytes};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::snp::SnpEvidence;
use warden_verifier::tee::snp::certs::{AmdRoots, Collateral, Endorsements};
use warden_verifier::tee::tdx::TdxEvidence;
use warden_verifier::tee::tdx::collateral::{TdxCollateral, TdxEndorsements};
use warden_verifier::tee::tpm::trust::{SharedTpmTrust, TpmTrust};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, Status, VerifierRegistry,
    VerifierSettings,
};

#[derive(clap::Args)]
pub(crate) struct AppraiseArgs {
    /// TEE name: snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, or sample (with
    /// --insecure-allow-sample).
    #[arg(long, required_unless_present = "token")]
    pub(crate) tee: Option<String>,
    /// Evidence file. SNP: the raw 1184-byte report, its hex, or Warden/CoCo JSON evidence.
    /// TDX: the raw quote (v4/v5) or CoCo JSON evidence. TPM: Warden's TPM evidence JSON. Azure:
    /// the CoCo az-*-vtpm evidence JSON (version 0 or 1). Other TEEs: their JSON evidence.
    #[arg(long, required_unless_present = "token")]
    pub(crate) evidence: Option<PathBuf>,
    /// Endorsement files, recognised by content. SNP and az-snp-vtpm: certificates or CRLs (DER
    /// or PEM). TDX and az-tdx-vtpm: Intel collateral (PCS TCB info / QE identity JSON, dcap-qvl
    /// bundles, CRLs, TCB signing chain). TPM: AK CA certificates and pinned AK public keys
    /// (DER or PEM, SPKI or TPMT_PUBLIC). Repeatable.
    #[arg(long, num_args = 1..)]
    pub(crate) endorsements: Vec<PathBuf>,
    /// TDX: the CC event log (CCEL data) to replay against the quote's RTMRs. TPM: the TCG event
    /// log to replay against the quoted PCRs.
    #[arg(long, value_name = "FILE")]
    pub(crate) event_log: Option<PathBuf>,
    /// TPM: accept SHA-1 signatures and PCR banks.
    #[arg(long)]
    pub(crate) allow_sha1: bool,
    /// Expected report data, hex: a prefix of the report-data field whose rest must be zero
    /// (e.g. the 48-byte runtime-data digest). Without it the binding is not checked.
    #[arg(long)]
    pub(crate) report_data: Option<String>,
    /// Init-data digest, hex, that the evidence must bind (SNP HOST_DATA, TDX MRCONFIGID).
    #[arg(long)]
    pub(crate) init_data_digest: Option<String>,
    /// Verification time, RFC 3339 (never the wall clock unless you pass it).
    #[arg(long, required_unless_present = "token")]
    pub(crate) at: Option<String>,
    /// Reference values JSON: {"<name>": {...}}.
    #[arg(long)]
    pub(crate) reference_values: Option<PathBuf>,
    /// Appraisal policy (Rego) to use instead of the shipped default: a dry run of a change.
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL is among the endorsements.
    #[arg(long)]
    pub(crate) require_crl: bool,
    /// Accept TDX evidence when no Intel CRL covers its PCK chain (reported as NOT CHECKED).
    #[arg(long)]
    pub(crate) allow_missing_crl: bool,
    /// Enable the insecure sample TEE.
    #[arg(long)]
    pub(crate) insecure_allow_sample: bool,
    /// Also trust the SNP development roots in DIR (sim-snp). INSECURE.
    #[arg(long, value_name = "DIR")]
    pub(crate) insecure_dev_roots: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// explain: an EAR token (file, or - for standard input) whose trace summary to show.
    #[arg(long, conflicts_with_all = ["tee", "evidence"])]
    pub(crate) token: Option<PathBuf>,
    /// explain --token: JWKS (file) to check the token's signature with, at `--at`.
    #[arg(long, requires_all = ["token", "at"])]
    pub(crate) jwks: Option<PathBuf>,
    /// explain --token --jwks: the issuer the token must name (default: whatever it names).
    #[arg(long, requires = "jwks")]
    pub(crate) issuer: Option<String>,
}

/// What the command prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Appraise,
    Explain,
}

pub(crate) fn appraise(args: &AppraiseArgs, mode: Mode) -> Result<ExitCode, String> {
    if args.token.is_some() {
        return Err("--token is read by `explain` only".into());
    }
    let at = parse_at(args)?;
    let tee = args.tee.as_deref().ok_or("--tee is required")?;
    let evidence_path = args.evidence.as_ref().ok_or("--evidence is required")?;
    let is_tdx = tee == "tdx";
    let is_tpm = tee == "tpm";
    if args.event_log.is_some() && !(is_tdx || is_tpm) {
        return Err("--event-log is only read for --tee tdx and --tee tpm".into());
    }
    // Each TEE family reads the endorsements it understands; the others get none.
    let family = |wanted: bool| -> &[PathBuf] { if wanted { &args.endorsements } else { &[] } };
    let tdx_family = is_tdx || tee == "az-tdx-vtpm";
    let snp_endorsements: Endorsements = load_collateral(family(!tdx_family && !is_tpm))?;
    let tdx_endorsements: TdxEndorsements = load_collateral(family(tdx_family))?;
    let tpm_trust: TpmTrust = load_collateral(family(is_tpm))?;
    let event_log = args.event_log.as_ref().map(read_bytes).transpose()?;
    let reference_values: std::collections::BTreeMap<String, Value> = match &args.reference_values {
        Some(path) => {
            serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    for (name, value) in &reference_values {
        warden_verifier::reference::validate(name, value)
            .map_err(|e| format!("--reference-values: {e}"))?;
    }
    let policy = match &args.policy {
        Some(path) => Appraiser::compile_policy("cli", &read(path)?),
        None => Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY),
    }
    .map_err(|e| e.to_string())?;
    let snp_dev_roots = args
        .insecure_dev_roots
        .as_deref()
        .map(AmdRoots::load_dev_roots)
        .transpose()?;
    let expected = ExpectedBinding {
        report_data: hex_arg("report-data", &args.report_data)?,
        init_data_digest: hex_arg("init-data-digest", &args.init_data_digest)?,
    };
    let evidence_bytes = read_bytes(evidence_path)?;
    let decoded = if tee == "snp" {
        SnpEvidence::from_file_bytes(&evidence_bytes).map(|evidence| evidence.to_json())
    } else if is_tdx {
        TdxEvidence::from_file_bytes(&evidence_bytes).map(|mut evidence| {
            if event_log.is_some() {
                evidence.event_log = event_log;
            }
            evidence.to_json()
        })
    } else {
        serde_json::from_slice::<Value>(&evidence_bytes)
            .map_err(|e| e.to_string())
            .map(|mut evidence| {
                if let (Some(log), Some(object)) = (&event_log, evidence.as_object_mut()) {
                    use base64::Engine as _;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(log);
                    object.insert("event_log".into(), Value::String(encoded));
                }
                evidence
            })
    };
    let evidence: Value = match decoded {
        Ok(evidence) => evidence,
        Err(detail) => {
            // Readable but not evidence: a rejection (exit 1), not a usage error.
            let report = json!({
                "verified": false,
                "status": Status::Contraindicated,
                "claims": {},
                "checks": [{"name": "evidence_format", "ok": false, "detail": detail}],
                "error": format!("{}: {detail}", evidence_path.display()),
            });
            emit(&report, args.json, mode);
            return Ok(ExitCode::from(1));
        }
    };
    let registry = VerifierRegistry::new(&VerifierSettings {
        allow_insecure_sample: args.insecure_allow_sample,
        snp_dev_roots,
        snp_collateral: Arc::new(Collateral::new(snp_endorsements)),
        snp_require_crl: args.require_crl,
        tdx_collateral: Arc::new(TdxCollateral::new(tdx_endorsements)),
        tdx_allow_missing_crl: args.allow_missing_crl,
        tpm_trust: Arc::new(SharedTpmTrust::new(tpm_trust)),
        tpm_allow_sha1: args.allow_sha1,
    });
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::new(reference_values));
    let request = AppraisalRequest {
        init_data: None,
        tee,
        evidence: &evidence,
        expected,
    };
    let appraisal = appraiser.appraise_detailed(&request, at);
    let trace = json!(appraisal.trace);
    let examination = appraisal.examination.unwrap_or_default();
    let affirming = matches!(&appraisal.result, Ok(result) if result.status == Status::Affirming);
    let mut report = json!({
        "verified": examination.verified(),
        "claims": examination.claims,
        "checks": examination.checks,
        "trace": trace,
    });
    match &appraisal.result {
        Ok(result) => {
            report["status"] = json!(result.status);
            report["trust_vector"] = json!(result.trust_vector);
            report["policy_id"] = json!(result.policy_id);
            report["insecure"] = json!(result.insecure_reasons);
        }
        Err(rejection) => {
            report["status"] = json!(Status::Contraindicated);
            report["error"] = json!(rejection.to_string());
        }
    }
    emit(&report, args.json, mode);
    Ok(if affirming {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn hex_arg(name: &str, value: &Option<String>) -> Result<Option<Vec<u8>>, String> {
    value
        .as_deref()
        .map(|text| hex::decode(text.trim()).map_err(|e| format!("--{name}: {e}")))
        .transpose()
}

pub(crate) fn load_collateral<T: CollateralSet>(paths: &[PathBuf]) -> Result<T, String> {
    let mut set = T::default();
    for path in paths {
        set.add_file(path)?;
    }
    Ok(set)
}

pub(crate) fn parse_at(args: &AppraiseArgs) -> Result<OffsetDateTime, String> {
    let at = args.at.as_deref().ok_or("--at is required")?;
    OffsetDateTime::parse(at, &Rfc3339).map_err(|e| format!("--at: {e}"))
}

pub(crate) fn emit(report: &Value, json: bool, mode: Mode) {
    if json {
        println!("{report}");
    } else {
        print_text(report, mode);
    }
}

pub(crate) fn print_text(report: &Value, mode: Mode) {
    for reason in report["insecure"].as_array().into_iter().flatten() {
        println!("INSECURE: {}", reason.as_str().unwrap_or_default());
    }
    println!(
        "verdict: {} (evidence {})",
        report["status"].as_str().unwrap_or("contraindicated"),
        if report["verified"] == true {
            "verified"
        } else {
            "NOT verified"
        }
    );
    if let Some(error) = report["error"].as_str() {
        println!("error: {error}");
    }
    let steps = match mode {
        Mode::Explain if report["trace"]["steps"].is_array() => {
            println!("decision trace:");
            &report["trace"]["steps"]
        }
        _ => &report["checks"],
    };
    for step in steps.as_array().into_iter().flatten() {
        let mark = match step["ok"].as_bool() {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => " -- ",
        };
        println!(
            "  [{mark}] {}: {}",
            step["name"].as_str().unwrap_or_default(),
            step["detail"].as_str().unwrap_or_default()
        );
        if let Some(nearest) = step.get("nearest") {
            let differing: Vec<String> = nearest["differing_bytes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            println!(
                "         nearest allowed: {} (differing bytes: {})",
                nearest["value"].as_str().unwrap_or_default(),
                differing.join(", ")
            );
        }
    }
    if let Some(vector) = report.get("trust_vector") {
        println!("trust vector: {vector}");
    }
    if mode == Mode::Appraise {
        println!(
            "claims: {}",
            serde_json::to_string_pretty(&report["claims"]).unwrap_or_default()
        );
    }
}
