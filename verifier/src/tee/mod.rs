//! One module per TEE behind the [`Verifier`] trait. Each module owns its evidence parser, its
//! endorsement checks and the names of the claims it yields (documented on the module).

pub mod sample;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use warden_wire::RuntimeDataDigest;

/// Claims a verifier extracted from evidence it has verified. Hex values are lower-case.
pub type Claims = Map<String, Value>;

/// The TEE kinds named by the CoCo protocol that Warden knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tee {
    Sample,
    Snp,
    Tdx,
    Tpm,
    AzSnpVtpm,
    AzTdxVtpm,
}

impl Tee {
    pub const ALL: [Tee; 6] = [
        Tee::Sample,
        Tee::Snp,
        Tee::Tdx,
        Tee::Tpm,
        Tee::AzSnpVtpm,
        Tee::AzTdxVtpm,
    ];

    /// The name used on the wire (`tee` in the KBS Request).
    pub fn name(self) -> &'static str {
        match self {
            Tee::Sample => "sample",
            Tee::Snp => "snp",
            Tee::Tdx => "tdx",
            Tee::Tpm => "tpm",
            Tee::AzSnpVtpm => "az-snp-vtpm",
            Tee::AzTdxVtpm => "az-tdx-vtpm",
        }
    }

    pub fn from_name(name: &str) -> Option<Tee> {
        Self::ALL.into_iter().find(|tee| tee.name() == name)
    }
}

impl std::fmt::Display for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the relying party expects the evidence to be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedBinding {
    /// SHA-384 of the canonical runtime data (nonce + TEE key + additional evidence).
    pub runtime_data: RuntimeDataDigest,
}

/// Why evidence was not accepted. Every variant denies; none is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("TEE {0:?} is not known to Warden")]
    UnknownTee(String),
    #[error("TEE {0} is not supported by this verifier build yet")]
    UnsupportedTee(Tee),
    #[error("TEE {0} is disabled: it is insecure and must be enabled explicitly ({1})")]
    TeeDisabled(Tee, &'static str),
    #[error("evidence is malformed: {0}")]
    MalformedEvidence(String),
    #[error(
        "evidence is not bound to this session: report data {found} does not match the expected {expected}"
    )]
    BindingMismatch { expected: String, found: String },
    #[error("init-data was supplied but TEE {0} cannot bind it yet")]
    InitDataUnbound(Tee),
    #[error("appraisal policy failed: {0}")]
    Policy(String),
}

/// A TEE-specific evidence verifier.
///
/// `verify` checks everything the evidence itself can prove (format, signatures, endorsements,
/// binding) at the time `at` and returns the claims; it judges nothing against reference values.
pub trait Verifier: Send + Sync {
    fn tee(&self) -> Tee;

    /// `Some(reason)` when results from this verifier carry no hardware assurance; the reason is
    /// written into every token and log line that touches such a result.
    fn insecure_reason(&self) -> Option<&'static str>;

    fn verify(
        &self,
        evidence: &Value,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Result<Claims, Rejection>;
}

/// Compares report data with the expected digest, accepting the 48-byte digest either alone or
/// zero-padded to the report-data field width of the TEE.
pub(crate) fn check_report_data(
    report_data: &[u8],
    expected: &ExpectedBinding,
    field_width: usize,
) -> Result<(), Rejection> {
    let digest = &expected.runtime_data[..];
    let matches = report_data == digest
        || (report_data.len() == field_width
            && report_data.starts_with(digest)
            && report_data[digest.len()..].iter().all(|b| *b == 0));
    if matches {
        Ok(())
    } else {
        Err(Rejection::BindingMismatch {
            expected: hex::encode(digest),
            found: hex::encode(report_data),
        })
    }
}
