//! Offline collateral shared between a verifier (reader) and whatever fills it: start-up loading
//! from a directory and the KBS's optional fetchers (AMD KDS, Intel PCS). Readers take a
//! snapshot; writers swap it whole, so an appraisal never sees a half-added item.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, RwLock};

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

/// A TEE module's collateral: items recognised by content.
pub trait CollateralSet: Clone + Default + Send + Sync {
    /// Adds whatever `bytes` holds, or explains why it is not collateral of this kind.
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), String>;

    fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.add_bytes(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Loads every regular, non-hidden file of a collateral directory (non-recursive). Hidden
    /// files are skipped: they are writers' temporaries (the fetchers write `.name.tmp` and
    /// rename), and a half-written one left by a crash must not stop the KBS from starting.
    fn from_dir(dir: &Path) -> Result<Self, String> {
        let mut set = Self::default();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let path = entry.path();
            if path.is_file() && !hidden {
                set.add_file(&path)?;
            }
        }
        Ok(set)
    }

    /// [`CollateralSet::from_dir`] for a directory that may not be configured (then empty).
    fn from_optional_dir(dir: Option<&Path>) -> Result<Self, String> {
        dir.map_or_else(|| Ok(Self::default()), Self::from_dir)
    }
}

/// A collateral set shared by readers and writers.
#[derive(Debug, Default)]
pub struct SharedCollateral<T> {
    snapshot: RwLock<Arc<T>>,
}

impl<T: CollateralSet> SharedCollateral<T> {
    pub fn new(set: T) -> Self {
        Self {
            snapshot: RwLock::new(Arc::new(set)),
        }
    }

    pub fn snapshot(&self) -> Arc<T> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds an item (as [`CollateralSet::add_bytes`] reads it).
    pub fn add(&self, bytes: &[u8]) -> Result<(), String> {
        self.update(|set| set.add_bytes(bytes))
    }

    /// Applies `change` to a copy of the set and publishes it if `change` succeeds.
    pub fn update(&self, change: impl FnOnce(&mut T) -> Result<(), String>) -> Result<(), String> {
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
