//! `warden-verifier policy`: a running service's appraisal policies.

use crate::connection::{ServiceConnection, print_json, refused, refused_or_failed};
use crate::read;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use warden_verifier_service::VerifierBackend;

#[derive(clap::Args)]
pub(crate) struct PolicyArgs {
    #[command(flatten)]
    pub(crate) connection: ServiceConnection,
    #[command(subcommand)]
    pub(crate) command: PolicyCommand,
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Set the appraisal policy (Rego, package warden.appraisal) in FILE: the default one, or
    /// the one clients name with ID (a KBS's `[verifier] policy_id`).
    Set {
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        file: PathBuf,
    },
    /// The default policy and every named one, with their SHA-256.
    List,
}

/// `rv`: one call to the service. Refusals (unknown name, refused provenance) exit 1.
/// `policy`: one call to the service. A refused policy (does not compile, bad id) exits 1.
pub(crate) fn appraisal_policies(args: &PolicyArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        match &args.command {
            PolicyCommand::Set { id, file } => {
                let service = match service.with_policy_id(id.as_deref().unwrap_or_default()) {
                    Ok(service) => service,
                    Err(error) => return refused(error.to_string()),
                };
                match service.set_appraisal_policy(&read(file)?).await {
                    Ok(label) => print_json(&json!({ "policy": label.to_string() })),
                    Err(error) => refused_or_failed(error),
                }
            }
            PolicyCommand::List => {
                let listed = service
                    .appraisal_policies()
                    .await
                    .map_err(|e| e.to_string())?;
                let named: serde_json::Map<String, serde_json::Value> = listed
                    .named
                    .iter()
                    .map(|(id, label)| (id.clone(), label.to_string().into()))
                    .collect();
                print_json(&json!({"default": listed.default.to_string(), "named": named}))
            }
        }
    })
}

/// `remove-stored-policy`: deletes an appraisal policy from a stopped service's store.
#[derive(clap::Args)]
pub(crate) struct RemoveStoredPolicyArgs {
    /// The service's SQLite store (`<state-dir>/verifier.db` unless `serve --sqlite` named
    /// another).
    #[arg(long)]
    pub(crate) store: std::path::PathBuf,
    /// The policy id (`default` for the default policy).
    #[arg(long)]
    pub(crate) name: String,
}

/// Removes a stored appraisal policy directly, for one the service refuses to start with (one
/// past the policy limits, say). Exit 0 when removed, 1 when there was none.
pub(crate) fn remove_stored_policy(args: &RemoveStoredPolicyArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = warden_store::Store::open_sqlite(&args.store)
            .await
            .map_err(|e| format!("{}: {e}", args.store.display()))?;
        let removed = store
            .delete_policy(warden_store::PolicyKind::Appraisal, &args.name)
            .await
            .map_err(|e| e.to_string())?;
        if removed {
            println!("removed");
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("no stored appraisal policy {:?}", args.name);
            Ok(ExitCode::from(1))
        }
    })
}
