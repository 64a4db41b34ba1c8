//! Warden's verifier: appraises TEE evidence and issues EAR attestation results.
//!
//! The flow is `Appraiser::appraise` → the TEE's [`Verifier`] (parse, signatures, binding) →
//! the appraisal policy (claims + reference values → AR4SI trust vector) → an
//! [`AttestationResult`] that [`ear::TokenSigner`] turns into a signed EAR JWT.
//!
//! Invariants: appraisal never touches the network or reads the clock (the time is a parameter);
//! policies are compiled once and evaluated against in-memory snapshots. This crate links no
//! async runtime, HTTP, gRPC or database client (cargo enforces the first invariant): the
//! collateral fetchers (`warden-fetch`) run before appraisal, in the I/O layer of the KBS or the
//! verifier service, and only add to the collateral the verifiers then check.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod appraisal;
pub mod artifact;
pub(crate) mod cache;
pub mod collateral;
pub mod ear;
pub mod explain;
pub mod init_data;
pub mod measure;
pub mod policy;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod tee;
pub mod tsa;
pub mod x509;

pub use appraisal::{AppraisalRequest, Appraiser, AttestationResult};
pub use ear::{Status, TokenSigner, TokenVerifier, TrustVector};
pub use policy::{PolicyError, RegoPolicy};
pub use reference::ReferenceValues;
pub use registry::{VerifierRegistry, VerifierSettings, VerifierSources};
pub use tee::{Claims, ExpectedBinding, Rejection, Tee, Verifier};
