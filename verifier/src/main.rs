//! `warden-verifier`: command-line skin over the `warden_verifier` library.
//!
//! Exit codes: 0 affirming, 1 rejected or not affirming, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, Status, VerifierRegistry,
    VerifierSettings,
};

#[derive(Parser)]
#[command(
    name = "warden-verifier",
    version,
    about = "Appraise TEE evidence offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify evidence and appraise it against reference values and a policy.
    Appraise(AppraiseArgs),
}

#[derive(clap::Args)]
struct AppraiseArgs {
    /// TEE name (sample; more TEEs arrive with their verifier modules).
    #[arg(long)]
    tee: String,
    /// Evidence file (the TEE's JSON evidence).
    #[arg(long)]
    evidence: PathBuf,
    /// Expected report data: the 48-byte runtime-data digest, hex.
    #[arg(long)]
    report_data: String,
    /// Verification time, RFC 3339 (never the wall clock unless you pass it).
    #[arg(long)]
    at: String,
    /// Reference values JSON: {"<name>": {...}}.
    #[arg(long)]
    reference_values: Option<PathBuf>,
    /// Appraisal policy (Rego) to use instead of the shipped default: a dry run of a change.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Enable the insecure sample TEE.
    #[arg(long)]
    insecure_allow_sample: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Appraise(args) => match appraise(&args) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn appraise(args: &AppraiseArgs) -> Result<ExitCode, String> {
    let at = OffsetDateTime::parse(&args.at, &Rfc3339).map_err(|e| format!("--at: {e}"))?;
    let report_data: [u8; 48] = hex::decode(args.report_data.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("--report-data must be 48 bytes of hex")?;
    let evidence: Value = serde_json::from_str(&read(&args.evidence)?)
        .map_err(|e| format!("{}: {e}", args.evidence.display()))?;
    let reference_values = match &args.reference_values {
        Some(path) => {
            serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let policy = match &args.policy {
        Some(path) => Appraiser::compile_policy("cli", &read(path)?),
        None => Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY),
    }
    .map_err(|e| e.to_string())?;
    let registry = VerifierRegistry::new(&VerifierSettings {
        allow_insecure_sample: args.insecure_allow_sample,
    });
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::new(reference_values));
    let request = AppraisalRequest {
        tee: &args.tee,
        evidence: &evidence,
        expected: ExpectedBinding {
            runtime_data: report_data,
        },
        init_data_present: false,
    };
    let outcome = appraiser.appraise(&request, at);
    let affirming = matches!(&outcome, Ok(result) if result.status == Status::Affirming);
    let report = match &outcome {
        Ok(result) => json!({
            "verified": true,
            "status": result.status,
            "trust_vector": result.trust_vector,
            "claims": result.claims,
            "policy_id": result.policy_id,
            "insecure": result.insecure_reasons,
            "checks": [{"name": "evidence", "ok": true, "detail": "parsed, verified and bound"}],
        }),
        Err(rejection) => json!({
            "verified": false,
            "status": Status::Contraindicated,
            "claims": {},
            "checks": [{"name": "evidence", "ok": false, "detail": rejection.to_string()}],
        }),
    };
    if args.json {
        println!("{report}");
    } else {
        match &outcome {
            Ok(result) => {
                for reason in &result.insecure_reasons {
                    println!("INSECURE: {reason}");
                }
                println!("status: {}", result.status);
                println!("claims: {}", Value::Object(result.claims.clone()));
            }
            Err(rejection) => println!("rejected: {rejection}"),
        }
    }
    Ok(if affirming {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
