//! Shared by the vector tests. The real evidence sets come from `warden_test_support::vectors`
//! (`tests/vectors` in the repository); a missing set fails the test.
#![allow(dead_code)] // each test binary uses its own TEE's helper

pub(crate) mod both_ways;
pub(crate) mod sim_tdx;

#[allow(unused_imports)] // service_fetch reads no vector directly
pub(crate) use warden_test_support::vectors;
