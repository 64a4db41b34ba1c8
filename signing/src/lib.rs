//! Warden's signing authority, transport-free: the CA that issues short-lived code-signing
//! certificates to attested build enclaves, the RFC 3161 timestamp authority, and named keys
//! that sign in-toto statements for attested callers.
//!
//! Time and randomness come from the caller (times as parameters, serials as arguments), so
//! every output is reproducible in tests; nothing here reads the clock, the network or files.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ca;
pub mod certificate;
pub mod csr;
pub mod ct;
mod der;
pub mod trust_config;
pub mod tsa;

pub use ca::{LeafRequest, SigningAuthority};
pub use csr::{VerifiedCsr, verify_csr};
use warden_wire::signing_key::SigningKeyError;

/// Why the signing authority refused or failed, one enum for the crate's boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// A key could not be made, loaded or used.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// A certificate could not be made as asked.
    #[error("certificate: {0}")]
    Certificate(&'static str),
    /// The stored CA or TSA material is inconsistent.
    #[error("stored signing authority: {0}")]
    StoredAuthority(&'static str),
    /// A CSR that does not parse strictly or whose signature does not verify.
    #[error("malformed certification request: {0}")]
    MalformedCsr(String),
    /// A key type Warden does not certify.
    #[error("{0}")]
    UnsupportedKey(String),
    /// The Sigstore client trust configuration cannot be written from these inputs.
    #[error("trust configuration: {0}")]
    TrustConfig(String),
}
