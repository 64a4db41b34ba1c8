//! Warden agent: collects TEE evidence and runs the CoCo KBS attestation handshake
//! (`/auth` → `/attest` → `/resource`) to obtain and decrypt secrets inside the TEE.
//!
//! [`KbsClient`] speaks the protocol; [`Attester`] is the plug-in point for TEEs. The
//! `warden-agent` binary is a thin command-line skin over this library.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod attester;
pub mod client;
pub mod error;
pub mod signing;
#[cfg(feature = "tpm")]
pub mod tpm_registration;

pub use attester::{Attester, AttesterError, SampleAttester};
pub use client::{ClientConfig, DEFAULT_TIMEOUT, KbsClient, parse_base_url};
pub use error::AgentError;
