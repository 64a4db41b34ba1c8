//! How the management commands (`rv`, `policy`, `tpm-ak`) reach a running service, and how they
//! report its answers.

use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use warden_verifier_service::{BackendError, RemoteVerifier, TlsFiles};

/// How `rv` and `policy` reach the service.
#[derive(clap::Args)]
pub(crate) struct ServiceConnection {
    /// The service, `https://host:port`.
    #[arg(long)]
    pub(crate) server: String,
    /// The name the service's certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub(crate) domain: String,
    /// This client's certificate chain (PEM), from the service's client CA.
    #[arg(long)]
    pub(crate) tls_cert: PathBuf,
    /// This client's private key (PEM).
    #[arg(long)]
    pub(crate) tls_key: PathBuf,
    /// CA (PEM) the service's certificate must chain to.
    #[arg(long)]
    pub(crate) tls_ca: PathBuf,
}

impl ServiceConnection {
    pub(crate) fn connect(&self) -> Result<RemoteVerifier, String> {
        let tls = TlsFiles {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
        };
        RemoteVerifier::connect(&self.server, &self.domain, &tls).map_err(|e| e.to_string())
    }
}

/// The service's answer to a call it did not carry out: a refusal of the request (exit 1), or a
/// failure to reach or use it (exit 2).
pub(crate) fn refused_or_failed(error: BackendError) -> Result<ExitCode, String> {
    match error {
        BackendError::Invalid(_)
        | BackendError::NotFound(_)
        | BackendError::ProvenanceRefused(_)
        | BackendError::Conflict(_) => refused(error.to_string()),
        _ => Err(error.to_string()),
    }
}

/// A refusal by the service: said on stderr, exit 1.
pub(crate) fn refused(message: String) -> Result<ExitCode, String> {
    eprintln!("refused: {message}");
    Ok(ExitCode::from(1))
}

pub(crate) fn print_json(value: &Value) -> Result<ExitCode, String> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
