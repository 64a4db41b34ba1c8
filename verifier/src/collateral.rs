//! Offline collateral shared between a verifier (reader) and whatever fills it: start-up loading
//! from a directory and the KBS's optional fetchers (AMD KDS, Intel PCS). Readers take a
//! snapshot; writers swap it whole, so an appraisal never sees a half-added item.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::x509::CertError;

/// Writes `dir/name` through `dir/.name.tmp`, synced, renamed, and the directory synced: a
/// reader (or a process starting after a crash) sees the old file or the new one, never half of
/// one, and a write that returned survives a power loss. [`CollateralSet::from_dir`] skips the
/// hidden temporaries. Creates `dir` when missing.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Why collateral was not loaded or added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollateralError {
    /// A directory or file could not be read.
    #[error("{path}: {detail}")]
    Unreadable {
        /// The directory or file.
        path: String,
        /// The I/O error.
        detail: String,
    },
    /// A certificate or CRL in it is malformed or not acceptable.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// A TPM CA certificate or key that is not one Warden can trust.
    #[error(transparent)]
    Trust(#[from] crate::tee::tpm::trust::TrustError),
    /// The bytes are not collateral of this kind, or malformed collateral.
    #[error("{0}")]
    Unrecognised(String),
    /// A file's content was refused: which file, and why.
    #[error("{path}: {error}")]
    InFile {
        /// The file.
        path: String,
        /// Why its content was refused.
        error: Box<CollateralError>,
    },
}

impl From<String> for CollateralError {
    fn from(detail: String) -> Self {
        CollateralError::Unrecognised(detail)
    }
}

impl From<&str> for CollateralError {
    fn from(detail: &str) -> Self {
        CollateralError::Unrecognised(detail.to_owned())
    }
}

/// Start-up errors and check details read collateral errors as text.
impl From<CollateralError> for String {
    fn from(error: CollateralError) -> String {
        error.to_string()
    }
}

fn unreadable(path: &Path, error: std::io::Error) -> CollateralError {
    CollateralError::Unreadable {
        path: path.display().to_string(),
        detail: error.to_string(),
    }
}

/// A TEE module's collateral: items recognised by content.
pub trait CollateralSet: Clone + Default + Send + Sync {
    /// Adds whatever `bytes` holds, or explains why it is not collateral of this kind.
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError>;

    /// Adds the collateral in the file at `path`.
    fn add_file(&mut self, path: &Path) -> Result<(), CollateralError> {
        let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
        self.add_bytes(&bytes)
            .map_err(|error| CollateralError::InFile {
                path: path.display().to_string(),
                error: Box::new(error),
            })
    }

    /// Loads every regular, non-hidden file of a collateral directory (non-recursive). Hidden
    /// files are skipped: they are writers' temporaries (the fetchers write `.name.tmp` and
    /// rename), and a half-written one left by a crash must not stop the KBS from starting.
    fn from_dir(dir: &Path) -> Result<Self, CollateralError> {
        let mut set = Self::default();
        let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(dir, e))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let path = entry.path();
            if path.is_file() && !hidden {
                set.add_file(&path)?;
            }
        }
        Ok(set)
    }

    /// [`CollateralSet::from_dir`] for a directory that may not be configured (then empty).
    fn from_optional_dir(dir: Option<&Path>) -> Result<Self, CollateralError> {
        dir.map_or_else(|| Ok(Self::default()), Self::from_dir)
    }
}

/// A collateral set shared by readers and writers.
#[derive(Debug, Default)]
pub struct SharedCollateral<T> {
    snapshot: RwLock<Arc<T>>,
}

impl<T: CollateralSet> SharedCollateral<T> {
    /// A shared set starting from `set`.
    pub fn new(set: T) -> Self {
        Self {
            snapshot: RwLock::new(Arc::new(set)),
        }
    }

    /// The current set; later additions do not change the snapshot returned.
    pub fn snapshot(&self) -> Arc<T> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds an item (as [`CollateralSet::add_bytes`] reads it).
    pub fn add(&self, bytes: &[u8]) -> Result<(), CollateralError> {
        self.update(|set| set.add_bytes(bytes))
    }

    /// Applies `change` to a copy of the set and publishes it if `change` succeeds.
    pub fn update<E>(&self, change: impl FnOnce(&mut T) -> Result<(), E>) -> Result<(), E> {
        let mut guard = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let mut next = T::clone(&guard);
        change(&mut next)?;
        *guard = Arc::new(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("made");
        write_atomically(&nested, "item.der", b"one").unwrap();
        write_atomically(&nested, "item.der", b"two").unwrap();
        assert_eq!(std::fs::read(nested.join("item.der")).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&nested).unwrap().count(), 1);
    }
}
