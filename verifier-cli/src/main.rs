//! `warden-verifier`: command-line skin over the Warden verifier libraries, one module per
//! subcommand.
//!
//! Exit codes: 0 affirming, 1 rejected or not affirming, 2 usage or I/O error.
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod appraise;
mod connection;
mod explain_token;
mod measure;
mod policy;
mod rv;
mod serve;
mod tpm_ak;
mod verify_artifact;

use appraise::{AppraiseArgs, Mode, appraise};
use explain_token::explain_token;
use measure::{MeasureArgs, measure};
use policy::{PolicyArgs, RemoveStoredPolicyArgs, appraisal_policies, remove_stored_policy};
use rv::{RvArgs, reference_values};
use serve::{ServeArgs, serve};
use tpm_ak::{TpmAkArgs, tpm_aks};
use verify_artifact::{VerifyArtifactArgs, verify_artifact};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "warden-verifier",
    version,
    about = "Appraise TEE evidence offline"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Verify evidence and appraise it against reference values and a policy.
    Appraise(AppraiseArgs),
    /// Appraise like `appraise` and print the whole decision trace: every evidence check, every
    /// reference-value comparison (with the nearest allowed value on a mismatch) and every
    /// policy outcome. With `--token`, show the trace summary an EAR token carries instead.
    Explain(AppraiseArgs),
    /// Run the verifier as a gRPC service over mutual TLS (see proto/warden/verifier/v1).
    Serve(Box<ServeArgs>),
    /// Manage the reference values of a running verifier service (over mutual TLS).
    Rv(RvArgs),
    /// Manage the appraisal policies of a running verifier service (over mutual TLS).
    Policy(PolicyArgs),
    /// List or revoke the TPM AKs clients registered with a running verifier service.
    TpmAk(TpmAkArgs),
    /// Verify that an attested build signed artifacts: a Sigstore bundle from Warden's signing
    /// authority, checked at its timestamped signing time against the trust root, the expected
    /// builder identity and/or a policy over the attested facts. Exit 0 verified, 1 refused.
    VerifyArtifact(VerifyArtifactArgs),
    /// Compute the launch measurements an image will have (SEV-SNP, TDX) from the files the
    /// host loads: as digests, a reference value, or an in-toto statement to sign.
    Measure(MeasureArgs),
    /// Print the reference-value schema of every TEE (Markdown; docs/reference-values.md).
    ReferenceSchema,
    /// Remove an appraisal policy from a stopped service's store: for one the service refuses
    /// to start with.
    RemoveStoredPolicy(RemoveStoredPolicyArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Appraise(args) => finish(appraise(&args, Mode::Appraise)),
        Command::Explain(args) if args.token.is_some() => finish(explain_token(&args)),
        Command::Explain(args) => finish(appraise(&args, Mode::Explain)),
        Command::Serve(args) => finish(serve(&args)),
        Command::Rv(args) => finish(reference_values(&args)),
        Command::Policy(args) => finish(appraisal_policies(&args)),
        Command::TpmAk(args) => finish(tpm_aks(&args)),
        Command::RemoveStoredPolicy(args) => finish(remove_stored_policy(&args)),
        Command::VerifyArtifact(args) => finish(verify_artifact(&args)),
        Command::Measure(args) => finish(measure(&args)),
        Command::ReferenceSchema => {
            print!("{}", warden_verifier::reference::schema_markdown());
            ExitCode::SUCCESS
        }
    }
}

pub(crate) fn finish(outcome: Result<ExitCode, String>) -> ExitCode {
    outcome.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

pub(crate) fn read_bytes(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}
