//! Test support shared by every Warden crate's tests and benches.
//!
//! - `vectors`: the real hardware evidence kept in the repository (`tests/vectors`). A missing
//!   set is a test failure, never a skip: a fresh clone tests on real evidence or fails.
//! - `fake_pcs`: a stand-in for Intel PCS on loopback serving a real TDX set's collateral.
#![forbid(unsafe_code)]

pub mod fake_pcs;
pub mod vectors;
