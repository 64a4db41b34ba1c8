//! Test support shared by every Warden crate's tests and benches.
//!
//! - `vectors`: the real hardware evidence kept in the repository (`tests/vectors`). A missing
//!   set is a test failure, never a skip: a fresh clone tests on real evidence or fails.
//! - `fake_pcs`: a stand-in for Intel PCS on loopback serving a real TDX set's collateral.
//! - `pki`: the mutual-TLS test PKI of the verifier service and its clients.
//! - `token`: reading a JWT's claims without checking it (tests check signatures separately).
//! - `bench`: rates for the result files benches write beside criterion's timings.
#![forbid(unsafe_code)]
// Test support: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

pub mod bench;
pub mod fake_pcs;
pub mod pki;
pub mod token;
pub mod vectors;
