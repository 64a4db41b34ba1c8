//! `warden-verifier rv`: a running service's reference values.

use crate::connection::{ServiceConnection, print_json, refused};
use crate::read;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier_service::VerifierBackend;

#[derive(clap::Args)]
pub(crate) struct RvArgs {
    #[command(flatten)]
    pub(crate) connection: ServiceConnection,
    #[command(subcommand)]
    pub(crate) command: RvCommand,
}

#[derive(Subcommand)]
pub(crate) enum RvCommand {
    /// Set NAME to the JSON in FILE (the value the appraisal policy reads).
    Add {
        name: String,
        #[arg(long)]
        file: PathBuf,
        /// RFC 3339 time from which appraisals no longer see it.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every value with its version, source, provenance digest and expiry.
    List,
    /// One value with its metadata.
    Show { name: String },
    /// Delete NAME.
    Rm { name: String },
    /// Import the values of a DSSE envelope (signed in-toto statement, Warden predicate).
    Import {
        #[arg(long)]
        file: PathBuf,
    },
}

pub(crate) fn reference_values(args: &RvArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        let print = print_json;
        match &args.command {
            RvCommand::Add {
                name,
                file,
                expires,
            } => {
                let value: Value = serde_json::from_str(&read(file)?)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let expires = expires
                    .as_deref()
                    .map(|text| {
                        OffsetDateTime::parse(text, &Rfc3339)
                            .map(OffsetDateTime::unix_timestamp)
                            .map_err(|e| format!("--expires: {e}"))
                    })
                    .transpose()?;
                // Refused here as the service would refuse it: exit 1, nothing sent.
                let value = match NamedReferenceValue::new(name, value, expires) {
                    Ok(value) => value,
                    Err(error) => return refused(error),
                };
                match service.set_reference_value(&value, "").await {
                    Ok(()) => Ok(ExitCode::SUCCESS),
                    Err(e) => refused(e.to_string()),
                }
            }
            RvCommand::List => match service
                .reference_value_entries(OffsetDateTime::now_utc())
                .await
            {
                Ok(entries) => print(&entries),
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Show { name } => match service
                .reference_value_entries(OffsetDateTime::now_utc())
                .await
            {
                Ok(entries) => match entries.get(name) {
                    Some(entry) => print(entry),
                    None => refused(format!("no reference value named {name:?}")),
                },
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Rm { name } => match service.delete_reference_value(name, "").await {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => refused(format!("no reference value named {name:?}")),
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Import { file } => {
                let envelope = read(file)?;
                match service
                    .import_reference_values(envelope.as_bytes(), "", OffsetDateTime::now_utc())
                    .await
                {
                    Ok(imported) => print(&imported.to_json()),
                    Err(e) => refused(e.to_string()),
                }
            }
        }
    })
}
