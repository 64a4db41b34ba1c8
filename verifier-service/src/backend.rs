//! The one interface a key broker has to a verifier: [`VerifierBackend`]. The embedded
//! [`Authority`](crate::Authority) and the gRPC client [`RemoteVerifier`](crate::RemoteVerifier)
//! both implement it, so a broker has a single code path whichever one it is given, and every
//! listing it shows is read from the verifier that is in force.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};
use time::OffsetDateTime;
use warden_verifier::provenance::ImportedReferenceValues;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::tee::rfc3339;
use warden_verifier::{AttestationResult, ExpectedBinding, Rejection};
use warden_wire::InitData;

/// The id of the default appraisal policy: what a request naming no policy is judged by.
pub const DEFAULT_POLICY_ID: &str = "default";

/// Ids no named policy may take (`appraisal` was the default's id in early service builds).
pub const RESERVED_POLICY_IDS: [&str; 2] = [DEFAULT_POLICY_ID, "appraisal"];

/// Whether `id` may name an appraisal policy: 1 to 128 of `[A-Za-z0-9._-]`, not reserved.
pub fn valid_policy_id(id: &str) -> bool {
    !RESERVED_POLICY_IDS.contains(&id)
        && warden_verifier::provenance::valid_reference_value_name(id)
}

/// Which appraisal policy a request is judged by: the default one or a named one.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyChoice {
    /// The default policy ([`DEFAULT_POLICY_ID`]).
    #[default]
    Default,
    /// A named policy, by id.
    Named(String),
}

impl PolicyChoice {
    /// `""` and [`DEFAULT_POLICY_ID`] choose the default; any other id must be valid.
    pub fn parse(id: &str) -> Result<Self, BackendError> {
        if id.is_empty() || id == DEFAULT_POLICY_ID {
            Ok(Self::Default)
        } else if valid_policy_id(id) {
            Ok(Self::Named(id.to_owned()))
        } else {
            Err(BackendError::Invalid(format!(
                "invalid appraisal policy id {id:?} (1 to 128 of [A-Za-z0-9._-], not {})",
                RESERVED_POLICY_IDS.join(" or ")
            )))
        }
    }

    /// The id the policy is stored and labelled under.
    pub fn id(&self) -> &str {
        match self {
            Self::Default => DEFAULT_POLICY_ID,
            Self::Named(id) => id,
        }
    }

    /// How the wire names it: empty for the default.
    pub fn wire_id(&self) -> &str {
        match self {
            Self::Default => "",
            Self::Named(id) => id,
        }
    }
}

/// A compiled policy as results and listings name it: its id and the SHA-256 of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLabel {
    /// The policy's id ([`DEFAULT_POLICY_ID`] for the default).
    pub id: String,
    /// SHA-256 of its Rego source, hex.
    pub sha256: String,
}

impl PolicyLabel {
    /// Reads the `<id>@sha256:<digest>` form results carry.
    pub fn parse(label: &str) -> Result<Self, BackendError> {
        match label.split_once("@sha256:") {
            Some((id, sha256)) if !id.is_empty() && !sha256.is_empty() => Ok(Self {
                id: id.to_owned(),
                sha256: sha256.to_owned(),
            }),
            _ => Err(BackendError::Unavailable(format!(
                "policy label {label:?} is not <id>@sha256:<digest>"
            ))),
        }
    }

    /// The label of a compiled policy.
    pub fn of(policy: &warden_verifier::RegoPolicy) -> Self {
        Self {
            id: policy.id().to_owned(),
            sha256: policy.digest().to_owned(),
        }
    }

    /// As JSON: `{"id": ..., "sha256": ...}`.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "sha256": self.sha256})
    }
}

impl fmt::Display for PolicyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@sha256:{}", self.id, self.sha256)
    }
}

/// The default policy and every named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyListing {
    /// The default policy.
    pub default: PolicyLabel,
    /// The named policies, by id.
    pub named: BTreeMap<String, PolicyLabel>,
}

impl PolicyListing {
    /// The policy `choice` selects, if there is one.
    pub fn chosen(&self, choice: &PolicyChoice) -> Option<&PolicyLabel> {
        match choice {
            PolicyChoice::Default => Some(&self.default),
            PolicyChoice::Named(id) => self.named.get(id),
        }
    }
}

/// One appraisal, owned (it crosses threads and the wire).
#[derive(Debug, Clone)]
pub struct Appraisal {
    /// TEE name as sent on the wire.
    pub tee: String,
    /// The evidence, as JSON.
    pub evidence: Value,
    /// The init-data the client presented, if any.
    pub init_data: Option<InitData>,
    /// The binding the evidence must carry (report data and init-data digest).
    pub expected: ExpectedBinding,
    /// The appraisal policy to judge it by.
    pub policy: PolicyChoice,
    /// Whether to build the decision trace (explaining callers); a broker acting on the result
    /// alone skips it.
    pub with_trace: bool,
}

/// What an appraisal gives: the result or the verifier's refusal of the evidence, and the
/// decision trace (JSON).
#[derive(Debug)]
pub struct Appraised {
    /// The result, or the verifier's refusal of the evidence.
    pub outcome: Result<AttestationResult, Rejection>,
    /// The decision trace; `null` when not asked for.
    pub trace: Value,
}

/// What an import of signed provenance stored, without the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Names of the reference values stored.
    pub names: Vec<String>,
    /// Key id of the builder key the provenance verified with.
    pub signer: String,
    /// SHA-256 of the envelope's payload (the signed statement), hex.
    pub provenance_sha256: String,
    /// Unix seconds.
    pub expires: i64,
    /// `name@algorithm:digest` of each subject of the statement.
    pub subjects: Vec<String>,
}

impl ImportSummary {
    /// The summary of what an import verified.
    pub fn of(imported: &ImportedReferenceValues) -> Self {
        Self {
            names: imported.values.keys().cloned().collect(),
            signer: imported.signer.clone(),
            provenance_sha256: imported.provenance_sha256.clone(),
            expires: imported.expires,
            subjects: imported.subjects.clone(),
        }
    }

    /// As `warden-verifier rv import` and the KBS admin API report it.
    pub fn to_json(&self) -> Value {
        json!({
            "imported": self.names,
            "signer": self.signer,
            "provenance_sha256": self.provenance_sha256,
            "expires": rfc3339(self.expires),
            "subjects": self.subjects,
        })
    }
}

/// A TPM AK a client registered (after proving it by credential activation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredAkInfo {
    /// TPM name, hex.
    pub name: String,
    /// Unix seconds.
    pub registered_at: i64,
    /// Who registered it (the `who` it was registered for).
    pub registered_by: String,
}

impl RegisteredAkInfo {
    /// The record of an AK from its parts.
    pub fn new(name: String, registered_at: i64, registered_by: String) -> Self {
        Self {
            name,
            registered_at,
            registered_by,
        }
    }
}

/// Why a verifier did not do what it was asked. The kinds travel over gRPC as they are (see
/// `grpc::REFUSAL_KIND`), so a broker answers its clients the same way with either backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request's content: a bad name, value, policy source, policy id or AK.
    #[error("{0}")]
    Invalid(String),
    /// It names something that does not exist (an appraisal policy id).
    #[error("{0}")]
    NotFound(String),
    /// Signed provenance that does not verify or is not acceptable; nothing was stored.
    #[error("provenance refused: {0}")]
    ProvenanceRefused(String),
    /// The verifier's state forbids it (a revoked AK, an AK the operator pinned).
    #[error("{0}")]
    Conflict(String),
    /// This caller may not do it (not a manager, or registrations not accepted): the
    /// operator's to fix, not the caller's.
    #[error("{0}")]
    Forbidden(String),
    /// The verifier could not be reached or answered something unreadable.
    #[error("the verifier service is unavailable: {0}")]
    Unavailable(String),
    /// The verifier failed (its store).
    #[error("verifier failure: {0}")]
    Internal(String),
}

impl BackendError {
    /// The kind's stable name, as it travels on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not_found",
            Self::ProvenanceRefused(_) => "provenance_refused",
            Self::Conflict(_) => "conflict",
            Self::Forbidden(_) => "forbidden",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The error of kind `kind` (as [`kind`](Self::kind) names it) with `message`.
    pub fn from_kind(kind: &str, message: String) -> Option<Self> {
        Some(match kind {
            "invalid" => Self::Invalid(message),
            "not_found" => Self::NotFound(message),
            "provenance_refused" => Self::ProvenanceRefused(message),
            "conflict" => Self::Conflict(message),
            "forbidden" => Self::Forbidden(message),
            "unavailable" => Self::Unavailable(message),
            "internal" => Self::Internal(message),
            _ => return None,
        })
    }

    /// The message without the kind's prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m)
            | Self::NotFound(m)
            | Self::ProvenanceRefused(m)
            | Self::Conflict(m)
            | Self::Forbidden(m)
            | Self::Unavailable(m)
            | Self::Internal(m) => m,
        }
    }
}

/// A verifier a broker appraises with and manages: the embedded authority or a service.
///
/// `who` names the administrator a change is made for; it is recorded with the change. Times
/// are parameters; a remote service judges at its own clock instead (it reads it at its edge).
#[async_trait::async_trait]
pub trait VerifierBackend: Send + Sync {
    /// Appraises evidence at `now`. A refusal of the evidence is an `Ok` outcome; `Err` means
    /// no appraisal happened.
    async fn appraise(
        &self,
        appraisal: Appraisal,
        now: OffsetDateTime,
    ) -> Result<Appraised, BackendError>;

    /// Sets the policy `choice` selects to `rego` (compiled first: nothing is stored otherwise).
    async fn set_appraisal_policy(
        &self,
        choice: &PolicyChoice,
        rego: &str,
        who: &str,
    ) -> Result<PolicyLabel, BackendError>;

    /// The policies in force.
    async fn appraisal_policies(&self) -> Result<PolicyListing, BackendError>;

    /// Sets a reference value (its name and schema already checked).
    async fn set_reference_value(
        &self,
        value: &NamedReferenceValue,
        who: &str,
    ) -> Result<(), BackendError>;

    /// Whether there was such a value.
    async fn delete_reference_value(&self, name: &str, who: &str) -> Result<bool, BackendError>;

    /// Every value with its version, source, provenance digest and expiry (`expired` at `now`).
    async fn reference_value_entries(&self, now: OffsetDateTime) -> Result<Value, BackendError>;

    /// Stores the values of a DSSE envelope whose signature verifies with a trusted builder key;
    /// all or nothing.
    async fn import_reference_values(
        &self,
        envelope: &[u8],
        who: &str,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, BackendError>;

    /// Trusts an AK the caller proved by credential activation; returns its TPM name (hex).
    async fn register_tpm_ak(&self, ak_public: &[u8], who: &str) -> Result<String, BackendError>;

    /// The registered AKs.
    async fn tpm_aks(&self) -> Result<Vec<RegisteredAkInfo>, BackendError>;

    /// Stops trusting a registered AK for good; whether it was registered.
    async fn revoke_tpm_ak(&self, name: &str, who: &str) -> Result<bool, BackendError>;

    /// Whether the verifier can serve appraisals now.
    async fn ready(&self) -> Result<(), BackendError>;

    /// Rebuilds what the verifier holds in memory from its store, which another process on the
    /// same store may have changed; a verifier service does that itself, so for it this does
    /// nothing.
    async fn reload(&self) -> Result<(), BackendError>;
}
