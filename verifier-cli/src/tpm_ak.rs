//! `warden-verifier tpm-ak`: the TPM AKs clients registered with a running service.

use warden_verifier_service::VerifierBackend;

use crate::connection::{ServiceConnection, print_json, refused};
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct TpmAkArgs {
    #[command(flatten)]
    pub(crate) connection: ServiceConnection,
    #[command(subcommand)]
    pub(crate) command: TpmAkCommand,
}

#[derive(Subcommand)]
pub(crate) enum TpmAkCommand {
    /// Every registered AK: TPM name, when and by whom.
    List,
    /// Stop trusting the AK with this TPM name (hex); appraisals refuse it at once.
    Rm { name: String },
}

/// `tpm-ak`: one call to the service. Revoking an unknown AK exits 1.
pub(crate) fn tpm_aks(args: &TpmAkArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        match &args.command {
            TpmAkCommand::List => {
                let aks = service.tpm_aks().await.map_err(|e| e.to_string())?;
                let listed: Vec<Value> = aks
                    .into_iter()
                    .map(|ak| {
                        json!({
                            "name": ak.name,
                            "registered": warden_verifier::tee::rfc3339(ak.registered_at),
                            "registered_by": ak.registered_by,
                        })
                    })
                    .collect();
                print_json(&Value::Array(listed))
            }
            TpmAkCommand::Rm { name } => match service.revoke_tpm_ak(name, "").await {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => refused(format!("no registered AK named {name:?}")),
                Err(e) => Err(e.to_string()),
            },
        }
    })
}
