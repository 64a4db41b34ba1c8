//! Where the shared real-hardware vectors are: `$WARDEN_VECTORS`, else `../shared/vectors` beside
//! the repository. Never copied into the repository.
#![allow(dead_code)] // each test binary uses its own TEE's helper

pub mod both_ways;
pub mod fake_pcs;
pub mod sim_tdx;

use std::path::PathBuf;

/// A TEE's vector directory (`snp`, `tdx`, ...), or `None` (after saying SKIP) when absent.
pub fn vectors(tee: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
        .join(tee);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {tee} vectors not found at {} (set WARDEN_VECTORS)",
            dir.display()
        );
        None
    }
}

pub fn snp_vectors() -> Option<PathBuf> {
    vectors("snp")
}

pub fn tdx_vectors() -> Option<PathBuf> {
    vectors("tdx")
}
