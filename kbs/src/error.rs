//! The KBS boundary error: every failure a client can see, with its HTTP status and the
//! Trustee-compatible `{"type", "detail"}` body.

use crate::admin::AdminError;
use crate::protocol::ProtocolError;
use warden_verifier::Rejection;

/// Every failure a KBS call can return; [`KbsError::status`] and [`KbsError::kind`] give its HTTP
/// status and error type.
#[derive(Debug, thiserror::Error)]
pub enum KbsError {
    /// The request body, path or query is invalid (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A handshake error (400 or 401 by kind).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The verifier rejected the evidence (401).
    #[error("attestation failed: {0}")]
    AttestationFailed(#[from] Rejection),
    /// The bearer token failed verification (401).
    #[error("token rejected: {0}")]
    TokenRejected(String),
    /// A resource request with neither session cookie nor bearer token (401).
    #[error(
        "unauthenticated: send the kbs-session-id cookie of an attested session or a bearer token"
    )]
    Unauthenticated,
    /// The release policy denied the resource (403).
    #[error("release denied by policy {policy}")]
    PolicyDenied {
        /// Id of the denying policy (`release:<prefix>`).
        policy: String,
    },
    /// No such resource, release policy or reference value (404).
    #[error("resource {0} not found")]
    NotFound(String),
    /// The client's request budget, or the table of pending TPM challenges, is exhausted (429).
    #[error("too many requests from this client; retry later")]
    RateLimited,
    /// Admin authentication failed (401), or the token grants no role for the call (403).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// A policy was refused: not UTF-8, does not compile, or refused by the verifier (400).
    #[error("policy refused: {0}")]
    BadPolicy(String),
    /// TPM AK registration or activation refused (401).
    #[error("TPM AK registration refused: {0}")]
    Registration(String),
    /// A signed reference-value import was refused (400).
    #[error("provenance refused: {0}")]
    Provenance(String),
    /// The verifier cannot be reached, does not allow this KBS the call, or answered
    /// inconsistently (503).
    #[error("the verifier service is unavailable: {0}")]
    VerifierUnavailable(String),
    /// The server holds as many request bodies as it allows at once (503): retry later.
    #[error("busy: too many large requests in flight; retry later")]
    Busy,
    /// This KBS is not configured for the call (503), e.g. discovery without `public_url`.
    #[error("not configured: {0}")]
    Unconfigured(String),
    /// This KBS has no `[signing]` section (404).
    #[error("signing is not enabled on this KBS")]
    SigningDisabled,
    /// A signing request that does not parse or is refused on its face: CSR, statement,
    /// lifetime, key algorithm (400).
    #[error("signing request refused: {0}")]
    SigningRequest(String),
    /// The signing policy refused this caller or request (403).
    #[error("signing denied by policy {policy}: {reason}")]
    SigningDenied {
        /// Id of the signing policy.
        policy: String,
        /// What refused.
        reason: String,
    },
    /// The CSR's key is not one the attested evidence committed to (403).
    #[error(
        "the CSR's key {keyid} is not bound into the attested evidence (commit it in additional-evidence \"warden.signing-keys\")"
    )]
    KeyNotBound {
        /// Hex SHA-256 of the CSR's SubjectPublicKeyInfo.
        keyid: String,
    },
    /// The committed key already has its certificate (409).
    #[error("key {keyid} was already certified: each attested key gets one certificate")]
    AlreadyCertified {
        /// Hex SHA-256 of the key's SubjectPublicKeyInfo.
        keyid: String,
    },
    /// A statement names another builder than the attested caller's identity (403).
    #[error("the statement's builder {got:?} is not the attested builder {expected:?}")]
    BuilderMismatch {
        /// The identity the signing policy gave the caller.
        expected: String,
        /// `runDetails.builder.id` of the statement.
        got: String,
    },
    /// A named key or stored entry exists already (409).
    #[error("{0} already exists")]
    Conflict(String),
    /// A failure on the KBS's side: store, keys, sealing (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// The audit or transparency log could not durably record the operation: it is refused
    /// (fail closed).
    #[error("the operation could not be recorded in the log, so it was refused: {0}")]
    LogUnavailable(String),
    /// The store (database) cannot be reached or cannot answer now; nothing was done (503).
    #[error("the store is unavailable, retry later: {0}")]
    StoreUnavailable(String),
    /// A log query out of range or malformed (an index, size, hash or page size).
    #[error("log query: {0}")]
    LogQuery(String),
}

impl KbsError {
    /// The HTTP status code of the error response.
    pub fn status(&self) -> u16 {
        match self {
            KbsError::Malformed(_) | KbsError::BadPolicy(_) | KbsError::Provenance(_) => 400,
            KbsError::Protocol(
                ProtocolError::UnsupportedVersion(_)
                | ProtocolError::BadTeeName
                | ProtocolError::BadTeeKey(_)
                | ProtocolError::BadInitData(_),
            ) => 400,
            KbsError::Protocol(_) => 401,
            KbsError::AttestationFailed(_)
            | KbsError::TokenRejected(_)
            | KbsError::Unauthenticated
            | KbsError::Registration(_) => 401,
            KbsError::Admin(AdminError::Forbidden { .. } | AdminError::NoRoles { .. }) => 403,
            KbsError::Admin(_) => 401,
            KbsError::PolicyDenied { .. }
            | KbsError::SigningDenied { .. }
            | KbsError::KeyNotBound { .. }
            | KbsError::BuilderMismatch { .. } => 403,
            KbsError::SigningRequest(_) => 400,
            KbsError::SigningDisabled => 404,
            KbsError::AlreadyCertified { .. } | KbsError::Conflict(_) => 409,
            KbsError::NotFound(_) => 404,
            KbsError::RateLimited => 429,
            KbsError::VerifierUnavailable(_)
            | KbsError::Unconfigured(_)
            | KbsError::Busy
            | KbsError::LogUnavailable(_)
            | KbsError::StoreUnavailable(_) => 503,
            KbsError::LogQuery(_) => 400,
            KbsError::Internal(_) => 500,
        }
    }

    /// The last segment of the error `type` URI.
    pub fn kind(&self) -> &'static str {
        match self {
            KbsError::Malformed(_) => "MalformedRequest",
            KbsError::Protocol(ProtocolError::UnsupportedVersion(_)) => "ProtocolVersion",
            KbsError::Protocol(ProtocolError::BadTeeKey(_)) => "TeePubKey",
            KbsError::Protocol(ProtocolError::BadTeeName) => "InvalidTee",
            KbsError::Protocol(ProtocolError::BadInitData(_)) => "InitData",
            KbsError::Protocol(_) => "InvalidSession",
            KbsError::AttestationFailed(_) => "AttestationFailed",
            KbsError::TokenRejected(_) => "TokenVerificationFailed",
            KbsError::Unauthenticated => "Unauthenticated",
            KbsError::PolicyDenied { .. } => "PolicyDeny",
            KbsError::NotFound(_) => "ResourceNotFound",
            KbsError::RateLimited => "RateLimited",
            KbsError::Admin(AdminError::Forbidden { .. } | AdminError::NoRoles { .. }) => {
                "AdminForbidden"
            }
            KbsError::Admin(_) => "AdminAuthFailed",
            KbsError::BadPolicy(_) => "PolicyInvalid",
            KbsError::Registration(_) => "TpmRegistrationFailed",
            KbsError::Provenance(_) => "ProvenanceRefused",
            KbsError::VerifierUnavailable(_) => "VerifierUnavailable",
            KbsError::Unconfigured(_) => "NotConfigured",
            KbsError::Busy => "ServerBusy",
            KbsError::SigningDisabled => "SigningDisabled",
            KbsError::SigningRequest(_) => "SigningRequestInvalid",
            KbsError::SigningDenied { .. } => "SigningPolicyDeny",
            KbsError::KeyNotBound { .. } => "SigningKeyNotBound",
            KbsError::AlreadyCertified { .. } => "SigningKeyAlreadyCertified",
            KbsError::BuilderMismatch { .. } => "BuilderMismatch",
            KbsError::Conflict(_) => "Conflict",
            KbsError::Internal(_) => "Internal",
            KbsError::LogUnavailable(_) => "LogUnavailable",
            KbsError::StoreUnavailable(_) => "StoreUnavailable",
            KbsError::LogQuery(_) => "LogQueryInvalid",
        }
    }
}

/// A verifier call that did not happen, as the KBS's client sees it: a refusal of the request's
/// content becomes `refused` (the client's error); a verifier that cannot be reached, or that
/// does not allow this KBS the call (its operator's to fix), is unavailable.
impl From<warden_store::StoreError> for KbsError {
    fn from(error: warden_store::StoreError) -> Self {
        if error.is_unavailable() {
            KbsError::StoreUnavailable(error.to_string())
        } else {
            KbsError::Internal(format!("store: {error}"))
        }
    }
}

pub(crate) fn verifier_failure(
    error: warden_verifier_service::BackendError,
    refused: fn(String) -> KbsError,
) -> KbsError {
    use warden_verifier_service::BackendError;
    match error {
        BackendError::Invalid(detail)
        | BackendError::NotFound(detail)
        | BackendError::Conflict(detail) => refused(detail),
        BackendError::ProvenanceRefused(detail) => KbsError::Provenance(detail),
        BackendError::Forbidden(detail) | BackendError::Unavailable(detail) => {
            KbsError::VerifierUnavailable(detail)
        }
        BackendError::Internal(detail) => KbsError::Internal(detail),
    }
}
