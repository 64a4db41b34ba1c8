//! One module per TEE behind the [`Verifier`] trait. Each module owns its evidence parser, its
//! endorsement checks and the names of the claims it yields (documented on the module).

pub mod azure;
pub mod sample;
pub mod snp;
pub mod tdx;
pub mod tpm;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use warden_wire::RuntimeDataDigest;

/// Claims a verifier extracted from evidence it has verified. Hex values are lower-case.
pub type Claims = Map<String, Value>;

/// The TEE kinds named by the CoCo protocol that Warden knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tee {
    /// CoCo's software-only sample attester: insecure, for development.
    Sample,
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
    /// A TPM 2.0 quote.
    Tpm,
    /// An Azure confidential VM on SEV-SNP, attested through its vTPM.
    AzSnpVtpm,
    /// An Azure confidential VM on TDX, attested through its vTPM.
    AzTdxVtpm,
}

impl Tee {
    /// Every TEE Warden knows of.
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

    /// The TEE with this wire name; `None` when it is unknown.
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpectedBinding {
    /// Expected report data: a prefix of the TEE's report-data field, the rest of which must be
    /// zero. The KBS always sets it (the runtime-data digest); offline appraisal may leave it out,
    /// and then the binding check reports that it was not requested.
    pub report_data: Option<Vec<u8>>,
    /// Digest of the init-data the client presented, for TEEs that bind it (SNP HOST_DATA).
    pub init_data_digest: Option<Vec<u8>>,
}

impl ExpectedBinding {
    /// The binding the KBS expects: the SHA-384 runtime-data digest, no init-data.
    pub fn runtime(digest: RuntimeDataDigest) -> Self {
        Self {
            report_data: Some(digest.to_vec()),
            init_data_digest: None,
        }
    }
}

/// The outcome of one named verification step, reported whether it passed or not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// The check's name (e.g. `report_signature`), stable across releases.
    pub name: &'static str,
    /// Whether the check passed.
    pub ok: bool,
    /// What was found, in words, whether it passed or not.
    pub detail: String,
}

impl Check {
    /// A check that passed.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    /// A check that failed.
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Everything a verifier established about one piece of evidence: the claims it read, every
/// check it ran, and why the result is insecure if it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examination {
    /// The claims read from the evidence; to be trusted only when [`Examination::verified`].
    pub claims: Claims,
    /// Every check that ran, in order.
    pub checks: Vec<Check>,
    /// Per-result insecurity (e.g. verified through development roots).
    pub insecure: Vec<String>,
}

impl Examination {
    /// An examination that stopped at its first check, which failed.
    pub fn failed_at(check: Check) -> Self {
        Self {
            checks: vec![check],
            ..Self::default()
        }
    }

    /// Records `check` and returns whether it passed, so a verifier can stop at a failure.
    pub fn push(&mut self, check: Check) -> bool {
        let ok = check.ok;
        self.checks.push(check);
        ok
    }

    /// True only when at least one check ran and none failed.
    pub fn verified(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|check| check.ok)
    }

    /// The checks that failed, in order.
    pub fn failed_checks(&self) -> Vec<Check> {
        self.checks
            .iter()
            .filter(|check| !check.ok)
            .cloned()
            .collect()
    }
}

/// Why evidence was not accepted. Every variant denies; none is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The request names a TEE Warden does not know (the name, cut to 64 characters).
    #[error("TEE {0:?} is not known to Warden")]
    UnknownTee(String),
    /// A known TEE that this registry has no verifier for.
    #[error("TEE {0} is not supported by this verifier build yet")]
    UnsupportedTee(Tee),
    /// An insecure TEE that was not enabled; the text says how to enable it.
    #[error("TEE {0} is disabled: it is insecure and must be enabled explicitly ({1})")]
    TeeDisabled(Tee, &'static str),
    /// The evidence failed verification: the failed checks (empty when none ran).
    #[error("evidence rejected: {}", describe_failures(.0))]
    Evidence(Vec<Check>),
    /// Init-data was presented for a TEE that cannot bind it.
    #[error("init-data was supplied but TEE {0} cannot bind it")]
    InitDataUnbound(Tee),
    /// The appraisal policy could not be evaluated or did not yield a trust vector.
    #[error("appraisal policy failed: {0}")]
    Policy(String),
    /// A verifier service's refusal: its kind (as [`Rejection::kind`] names it) and its text.
    #[error("{message}")]
    Remote {
        /// The refusal's kind, as [`Rejection::kind`] names it.
        kind: String,
        /// The refusal's text.
        message: String,
    },
}

impl Rejection {
    /// The kind's stable name (it travels with a verifier service's refusals).
    pub fn kind(&self) -> &str {
        match self {
            Rejection::UnknownTee(_) => "unknown_tee",
            Rejection::UnsupportedTee(_) => "unsupported_tee",
            Rejection::TeeDisabled(..) => "tee_disabled",
            Rejection::Evidence(_) => "evidence",
            Rejection::InitDataUnbound(_) => "init_data_unbound",
            Rejection::Policy(_) => "policy",
            Rejection::Remote { kind, .. } => kind,
        }
    }
}

fn describe_failures(failed: &[Check]) -> String {
    if failed.is_empty() {
        return "no check ran".into();
    }
    failed
        .iter()
        .map(|check| format!("{}: {}", check.name, check.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A TEE-specific evidence verifier.
///
/// `examine` checks everything the evidence itself can prove (format, signatures, endorsements,
/// binding) at the time `at` and returns the claims with every check it ran; it judges nothing
/// against reference values. It never reads the clock or the network. The defaults are those of
/// every hardware TEE: results carry hardware assurance and bind init-data.
pub trait Verifier: Send + Sync {
    /// The TEE this verifier appraises.
    fn tee(&self) -> Tee;

    /// `Some(reason)` when results from this verifier carry no hardware assurance; the reason is
    /// written into every token and log line that touches such a result.
    fn insecure_reason(&self) -> Option<&'static str> {
        None
    }

    /// Whether this TEE binds init-data (so a client may present it).
    fn binds_init_data(&self) -> bool {
        true
    }

    /// Checks `evidence` at time `at`, its binding against `expected`, and returns what it
    /// established (see the trait's documentation).
    fn examine(
        &self,
        evidence: &Value,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination;
}

/// A verifier that decodes its evidence before judging it: it is a [`Verifier`] whose
/// decoding failure is the failed `evidence_format` check.
pub trait DecodingVerifier: Send + Sync {
    /// The decoded evidence.
    type Evidence;
    /// Why evidence could not be decoded; the text is the failed `evidence_format` check's detail.
    type DecodeError: std::fmt::Display;

    /// The TEE this verifier appraises.
    fn tee(&self) -> Tee;

    /// Decodes the wire evidence.
    fn decode(evidence: &Value) -> Result<Self::Evidence, Self::DecodeError>;

    /// Judges decoded evidence, as [`Verifier::examine`] does.
    fn examine_evidence(
        &self,
        evidence: &Self::Evidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination;
}

impl<T: DecodingVerifier> Verifier for T {
    fn tee(&self) -> Tee {
        DecodingVerifier::tee(self)
    }

    fn examine(
        &self,
        evidence: &Value,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        match T::decode(evidence) {
            Ok(evidence) => self.examine_evidence(&evidence, expected, at),
            Err(e) => Examination::failed_at(Check::fail("evidence_format", e.to_string())),
        }
    }
}

/// A Unix time as RFC 3339, for check details and logs (the number itself if out of range).
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The `report_data` check: the field must equal the expected bytes followed by zeros, or (for
/// TEEs whose evidence carries the bare digest) equal them exactly.
pub(crate) fn check_report_data(actual: &[u8], expected: &ExpectedBinding) -> Check {
    const NAME: &str = "report_data";
    let Some(wanted) = &expected.report_data else {
        return Check::pass(NAME, "not requested: no expected report data was given");
    };
    let matches = actual.len() >= wanted.len()
        && actual.starts_with(wanted)
        && actual[wanted.len()..].iter().all(|b| *b == 0);
    if matches {
        Check::pass(NAME, "report data carries the expected binding")
    } else {
        Check::fail(
            NAME,
            format!(
                "report data {} does not match the expected {}",
                hex::encode(actual),
                hex::encode(wanted)
            ),
        )
    }
}
