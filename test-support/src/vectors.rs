//! Where the real evidence sets are: `tests/vectors/<tee>/<set>` in this repository (each set
//! with its `PROVENANCE.toml`), or `$WARDEN_VECTORS` when set (to test another copy).

use std::path::PathBuf;

/// The vectors' root directory; panics (failing the test) when it is missing.
pub fn root() -> PathBuf {
    let root = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors"));
    assert!(
        root.is_dir(),
        "the real evidence sets are missing: {} is not a directory (they live in the repository \
         under tests/vectors; WARDEN_VECTORS points elsewhere)",
        root.display()
    );
    root
}

/// A TEE family's directory (`snp`, `tdx`, `tpm`, `az-snp-vtpm`, ...); panics when missing.
pub fn tee(tee: &str) -> PathBuf {
    let dir = root().join(tee);
    assert!(
        dir.is_dir(),
        "vector directory {} is missing",
        dir.display()
    );
    dir
}

/// One evidence set (`set("snp", "virtee-milan")`); panics when missing.
pub fn set(tee_name: &str, set: &str) -> PathBuf {
    let dir = tee(tee_name).join(set);
    assert!(dir.is_dir(), "vector set {} is missing", dir.display());
    dir
}
