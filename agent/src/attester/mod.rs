//! Evidence collection: the plug-in point between the KBS handshake and a TEE.
//!
//! An [`Attester`] turns the 48-byte runtime-data digest (nonce + TEE key, see
//! [`warden_wire::runtime_data_digest`]) into the TEE's primary evidence JSON: [`SnpAttester`]
//! (AMD SEV-SNP hardware), [`TdxAttester`] (Intel TDX hardware: TD quote and CCEL event log, plus
//! runtime RTMR extension), [`sim_snp::SimSnpAttester`] and [`SampleAttester`] (both INSECURE, for
//! development). The hardware attesters share [`configfs_tsm`], the kernel's report interface.
//! With the `tpm` feature, [`tpm::TpmAttester`] quotes a TPM 2.0 through [`tpm_device`] (it needs
//! an AK state file, so it is built directly rather than by [`from_name`]); with the `azure`
//! feature, [`azure::AzureAttester`] collects an Azure confidential VM's HCL report and vTPM
//! quote (`az-snp-vtpm`, `az-tdx-vtpm`). Further TEEs plug in here without changes to the client.

#[cfg(feature = "azure")]
pub mod azure;
pub mod configfs_tsm;
mod sample;
pub mod sim_snp;
pub mod snp;
pub mod tdx;
#[cfg(feature = "tpm")]
pub mod tpm;
#[cfg(feature = "tpm")]
pub mod tpm_device;

use std::sync::Arc;

pub use sample::{DEFAULT_SAMPLE_SVN, SAMPLE_INSECURE_REASON, SampleAttester};
pub use snp::SnpAttester;
pub use tdx::TdxAttester;

/// Names accepted by [`from_name`], in the spelling of the KBS protocol's `tee` field
/// (`sim-snp` is built by the CLI from its development chain directory).
pub const SUPPORTED_TEES: &[&str] = &[
    "sample",
    "snp",
    "tdx",
    "tpm",
    "az-snp-vtpm",
    "az-tdx-vtpm",
    "sim-snp",
];

/// TEEs the protocol knows but this build cannot attest yet; named so users get a precise message.
const PLANNED_TEES: &[&str] = &["sgx", "cca", "se"];

/// Why an attester could not be built or could not produce evidence.
#[derive(Debug, thiserror::Error)]
pub enum AttesterError {
    /// A TEE the protocol knows (e.g. `sgx`) that this agent cannot attest yet.
    #[error("TEE {0:?} is not supported by this agent yet (supported: {supported})", supported = SUPPORTED_TEES.join(", "))]
    NotYetSupported(String),
    /// A TEE name this agent does not know (truncated to 64 characters).
    #[error("unknown TEE {0:?} (supported: {supported})", supported = SUPPORTED_TEES.join(", "))]
    Unknown(String),
    /// The TEE interface, or an input it needs, is absent here (no device or configfs-tsm, no AK
    /// file).
    #[error("TEE evidence unavailable: {0}")]
    Unavailable(String),
    /// Collecting the evidence failed, or the TEE returned something unusable.
    #[error("collecting TEE evidence failed: {0}")]
    Evidence(String),
    /// A runtime measurement (e.g. a TDX RTMR extension) was refused or did not take effect.
    #[error("runtime measurement failed: {0}")]
    Measurement(String),
}

/// The 64-byte report-data field (SNP REPORT_DATA, TDX REPORTDATA) for a runtime-data digest:
/// the digest, then zeros.
pub fn report_data_field(digest: &[u8; 48]) -> [u8; 64] {
    let mut field = [0u8; 64];
    field[..48].copy_from_slice(digest);
    field
}

/// A source of TEE evidence.
///
/// `evidence` may block (hardware attesters talk to a device or firmware); the client runs it on
/// a blocking thread, hence `Send + Sync` and `'static` use through `Arc<dyn Attester>`.
pub trait Attester: Send + Sync {
    /// The protocol's `tee` name sent in the `/auth` request (e.g. "sample", "snp", "tdx").
    fn tee(&self) -> &'static str;

    /// Why this attester's evidence proves nothing about the platform, or `None` when it is
    /// rooted in hardware. Callers must refuse insecure attesters unless explicitly opted in.
    fn insecure_reason(&self) -> Option<&'static str>;

    /// Produces the primary evidence binding `report_data` (the runtime-data digest).
    fn evidence(&self, report_data: &[u8; 48]) -> Result<serde_json::Value, AttesterError>;
}

/// Builds the attester for a protocol TEE name. The sample attester uses
/// [`DEFAULT_SAMPLE_SVN`]; construct [`SampleAttester`] directly for another value.
pub fn from_name(name: &str) -> Result<Arc<dyn Attester>, AttesterError> {
    match name {
        "sample" => Ok(Arc::new(SampleAttester::default())),
        "snp" => Ok(Arc::new(SnpAttester::default())),
        "tdx" => Ok(Arc::new(TdxAttester::default())),
        "tpm" => Err(AttesterError::Unavailable(
            "the TPM attester needs its AK state file: build tpm::TpmAttester (CLI: --tpm-ak-file)"
                .into(),
        )),
        #[cfg(feature = "azure")]
        "az-snp-vtpm" | "az-tdx-vtpm" => azure::AzureKind::from_tee(name)
            .map(|kind| {
                Arc::new(azure::AzureAttester::new(kind, tpm::DEFAULT_TCTI)) as Arc<dyn Attester>
            })
            .ok_or_else(|| AttesterError::Unknown(name.into())),
        _ if PLANNED_TEES.contains(&name) => Err(AttesterError::NotYetSupported(name.to_owned())),
        // Truncated so an absurd argument does not flood the terminal.
        _ => Err(AttesterError::Unknown(name.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_attesters_or_clear_errors() {
        let sample = from_name("sample").unwrap();
        assert_eq!(sample.tee(), "sample");
        assert!(sample.insecure_reason().is_some());
        assert_eq!(from_name("snp").unwrap().tee(), "snp");
        let tdx = from_name("tdx").unwrap();
        assert_eq!(tdx.tee(), "tdx");
        assert!(tdx.insecure_reason().is_none());
        #[cfg(feature = "azure")]
        assert_eq!(from_name("az-tdx-vtpm").unwrap().tee(), "az-tdx-vtpm");
        assert!(matches!(
            from_name("sgx"),
            Err(AttesterError::NotYetSupported(_))
        ));
        assert!(matches!(from_name("bogus"), Err(AttesterError::Unknown(_))));
    }
}
