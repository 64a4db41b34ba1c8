//! Where the shared real-hardware vectors are: `$WARDEN_VECTORS`, else `../shared/vectors` beside
//! the repository. Never copied into the repository.

use std::path::PathBuf;

/// The SNP vector directory, or `None` (after saying SKIP) when the vectors are absent.
pub fn snp_vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
        .join("snp");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: SNP vectors not found at {} (set WARDEN_VECTORS)",
            dir.display()
        );
        None
    }
}
