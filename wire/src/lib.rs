//! Wire contract shared by the Warden KBS and agent: the CoCo KBS attestation protocol
//! messages (version 0.4.0), the runtime-data binding that ties a nonce and the TEE key into
//! evidence, and the JWE envelope secrets travel in.
//!
//! Everything here is pure: no I/O, no clock, no global state. Parsers return errors, never panic.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod azure;
pub mod binding;
pub mod code_signing;
pub mod dsse;
pub mod eventlog;
pub mod in_toto;
pub mod jwe;
pub mod pem;
pub mod protocol;
pub mod rekor;
pub mod signing_key;
pub mod sigstore;
pub mod snp;
pub mod tdx;
pub mod tlog;
pub mod tpm;
pub mod tsp;

pub use binding::{RuntimeDataDigest, runtime_data_digest};
pub use jwe::{FlattenedJwe, JweError, TeeKeyPair, TeePublicKey};
pub use protocol::*;
