//! configfs-tsm (`/sys/kernel/config/tsm/report`, Linux 6.7+): the kernel's one interface for
//! confidential-computing attestation reports, whichever TEE driver ("provider") serves it.
//!
//! A caller creates an entry directory, writes the 64-byte `inblob` (the report data), reads
//! `outblob` (the SNP report or the TDX quote) and, where the provider has one, `auxblob` (the
//! SNP certificate table). `generation` counts writes to the entry, so comparing it around the
//! reads detects another writer racing this one. The TEE modules check the blobs' contents.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::AttesterError;

/// Where Linux exposes configfs-tsm report entries.
pub const CONFIGFS_TSM_REPORT: &str = "/sys/kernel/config/tsm/report";

/// The TEE driver behind configfs-tsm, as named by an entry's `provider` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// AMD SEV-SNP (`sev_guest`).
    SevGuest,
    /// Intel TDX (`tdx_guest`).
    TdxGuest,
}

impl Provider {
    /// The `provider` attribute's value.
    pub fn name(self) -> &'static str {
        match self {
            Provider::SevGuest => "sev_guest",
            Provider::TdxGuest => "tdx_guest",
        }
    }

    fn guest(self) -> &'static str {
        match self {
            Provider::SevGuest => "an SEV-SNP guest",
            Provider::TdxGuest => "a TDX guest",
        }
    }
}

/// What the provider answered, unchecked: the TEE module validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// The report: the SNP attestation report or the TDX quote.
    pub outblob: Vec<u8>,
    /// Empty when the provider or kernel has none (TDX; SNP before Linux 6.8 or without host
    /// certificates).
    pub auxblob: Vec<u8>,
}

/// The configfs-tsm report interface rooted at `root` (normally [`CONFIGFS_TSM_REPORT`]),
/// accepting only entries served by one expected provider.
#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    root: PathBuf,
    provider: Provider,
}

static ENTRY_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_error(what: &str, path: &Path, error: io::Error) -> AttesterError {
    AttesterError::Evidence(format!("{what} {}: {error}", path.display()))
}

impl ConfigfsTsm {
    /// The interface at `root` (normally [`CONFIGFS_TSM_REPORT`]), served by `provider`.
    pub fn new(root: impl Into<PathBuf>, provider: Provider) -> Self {
        Self {
            root: root.into(),
            provider,
        }
    }

    /// The directory report entries are created in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The provider entries must be served by.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Whether the report directory exists (configfs mounted, kernel with configfs-tsm).
    pub fn available(&self) -> bool {
        self.root.is_dir()
    }

    /// Creates a private report entry, collects a report in it and removes it again.
    pub fn collect(&self, inblob: &[u8; 64]) -> Result<TsmReport, AttesterError> {
        let name = format!(
            "warden-{}-{}",
            std::process::id(),
            ENTRY_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let entry = self.root.join(name);
        fs::create_dir(&entry).map_err(|e| io_error("cannot create", &entry, e))?;
        let result = collect_in_entry(&entry, self.provider, inblob);
        // configfs removes the attribute files with the directory; a plain rmdir suffices.
        let _ = fs::remove_dir(&entry);
        result
    }
}

/// The configfs-tsm exchange on an existing entry: check the provider, write `inblob`, read
/// `outblob` and `auxblob`, and make sure no other writer changed the entry meanwhile
/// (`generation`).
pub fn collect_in_entry(
    entry: &Path,
    provider: Provider,
    inblob: &[u8; 64],
) -> Result<TsmReport, AttesterError> {
    let read = |attribute: &str| {
        let path = entry.join(attribute);
        fs::read(&path).map_err(|e| io_error("cannot read", &path, e))
    };
    let found = read("provider")?;
    let found = String::from_utf8_lossy(&found);
    if found.trim() != provider.name() {
        return Err(AttesterError::Unavailable(format!(
            "configfs-tsm provider is {:?}, not {} (not {})",
            found.trim(),
            provider.name(),
            provider.guest()
        )));
    }
    let inblob_path = entry.join("inblob");
    fs::write(&inblob_path, inblob).map_err(|e| io_error("cannot write", &inblob_path, e))?;
    let generation_before = read("generation")?;
    let outblob = read("outblob")?;
    // Kernels before 6.8, hosts without certificates and TDX have no (or an empty) auxblob.
    let auxblob_path = entry.join("auxblob");
    let auxblob = match fs::read(&auxblob_path) {
        Ok(blob) => blob,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error("cannot read", &auxblob_path, e)),
    };
    if read("generation")? != generation_before {
        return Err(AttesterError::Evidence(
            "another process wrote the configfs-tsm entry while the report was read".into(),
        ));
    }
    Ok(TsmReport { outblob, auxblob })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_entry(dir: &Path, provider: &str) -> PathBuf {
        let entry = dir.join("entry");
        fs::create_dir_all(&entry).unwrap();
        fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
        fs::write(entry.join("generation"), "1\n").unwrap();
        fs::write(entry.join("outblob"), b"out").unwrap();
        entry
    }

    #[test]
    fn writes_inblob_and_reads_the_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let entry = fake_entry(dir.path(), "tdx_guest");
        let report = collect_in_entry(&entry, Provider::TdxGuest, &[7; 64]).unwrap();
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), [7; 64]);
        assert_eq!(report.outblob, b"out");
        assert!(report.auxblob.is_empty());
        fs::write(entry.join("auxblob"), b"aux").unwrap();
        let report = collect_in_entry(&entry, Provider::TdxGuest, &[7; 64]).unwrap();
        assert_eq!(report.auxblob, b"aux");
    }

    #[test]
    fn another_provider_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let entry = fake_entry(dir.path(), "sev_guest");
        let error = collect_in_entry(&entry, Provider::TdxGuest, &[0; 64]).unwrap_err();
        assert!(matches!(error, AttesterError::Unavailable(_)), "{error}");
        assert!(error.to_string().contains("not a TDX guest"), "{error}");
        assert!(!entry.join("inblob").exists());
    }

    #[test]
    fn a_directory_that_is_not_configfs_gives_a_clear_error_and_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let tsm = ConfigfsTsm::new(dir.path(), Provider::SevGuest);
        assert!(tsm.available());
        let error = tsm.collect(&[0; 64]).unwrap_err();
        assert!(error.to_string().contains("provider"), "{error}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!ConfigfsTsm::new(dir.path().join("absent"), Provider::TdxGuest).available());
    }
}
