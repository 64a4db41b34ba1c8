//! Intel TDX guests: TD quotes from configfs-tsm (provider `tdx_guest`, Linux 6.7+), the CCEL
//! event log from ACPI, and runtime extension of RTMR2/RTMR3 through the TSM measurement sysfs
//! (Linux 6.16+).
//!
//! The 48-byte runtime-data digest goes into REPORTDATA, zero-padded to 64 bytes. The quote the
//! host's quoting enclave returns is checked locally to carry it ([`check_quote`], with the
//! verifier's quote parser; signatures are the verifier's business). Evidence is CoCo's TDX
//! JSON (`warden_wire::tdx::Evidence`), `{"quote", "cc_eventlog"}`, both standard base64,
//! with `cc_eventlog` (the firmware's CCEL event log, from which a verifier replays RTMR0–2)
//! omitted when the firmware published none.
//!
//! There is no `/dev/tdx_guest` fallback: upstream Linux hands out quotes only through
//! configfs-tsm (the device's ioctl yields a TDREPORT, which only the platform's quoting enclave
//! can turn into a quote).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha384};
use warden_wire::tdx::{Evidence as TdxEvidence, Quote};

use super::configfs_tsm::{self, CONFIGFS_TSM_REPORT, ConfigfsTsm, Provider, TsmReport};
use super::{Attester, AttesterError, report_data_field};

/// The CC event log (CCEL ACPI table's log area) as Linux exposes it.
pub const CCEL_DATA: &str = "/sys/firmware/acpi/tables/data/CCEL";
/// The `tdx_guest` driver's measurement registers (TSM measurement sysfs, Linux 6.16+).
pub const TDX_MEASUREMENTS: &str = "/sys/class/misc/tdx_guest/measurements";

/// The RTMRs runtime software may extend. RTMR0 and RTMR1 belong to firmware and boot (the TD
/// firmware's configuration, then the boot loader and kernel), and a verifier replays them from
/// the CCEL event log against reference values; a runtime extension there would leave the boot
/// chain impossible to appraise. RTMR2 (operating system) and RTMR3 (applications) are meant
/// for runtime measurements.
pub const RUNTIME_RTMRS: [u8; 2] = [2, 3];

/// Number of RTMRs a TD has.
const RTMR_COUNT: u8 = 4;
/// Size of an RTMR and of a digest extended into it (SHA-384).
pub const RTMR_LEN: usize = 48;

/// Checks that `quote` parses as a TDX quote (`warden_wire::tdx::Quote`, the verifier's own
/// parser) and carries `requested` as REPORTDATA.
///
/// Not a verification: it turns a stale, raced, foreign or truncated quote into a clear local
/// error instead of a rejection at the KBS.
pub fn check_quote(quote: &[u8], requested: &[u8; 64]) -> Result<(), AttesterError> {
    let parsed = Quote::parse(quote)
        .map_err(|e| AttesterError::Evidence(format!("TDX quote from the guest: {e}")))?;
    if parsed.body().report_data() != requested {
        return Err(AttesterError::Evidence(
            "the TDX quote does not carry the requested REPORTDATA (stale or raced quote)".into(),
        ));
    }
    Ok(())
}

fn checked_quote(tsm: TsmReport, requested: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
    check_quote(&tsm.outblob, requested)?;
    Ok(tsm.outblob)
}

/// The TDX exchange on an existing configfs-tsm entry (see [`configfs_tsm::collect_in_entry`]):
/// the quote, checked to carry `report_data`.
pub fn collect_in_entry(entry: &Path, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
    checked_quote(
        configfs_tsm::collect_in_entry(entry, Provider::TdxGuest, report_data)?,
        report_data,
    )
}

/// Where the TDX attester finds the kernel's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxPaths {
    /// configfs-tsm report directory ([`CONFIGFS_TSM_REPORT`]).
    pub tsm_report: PathBuf,
    /// CCEL event log ([`CCEL_DATA`]).
    pub ccel: PathBuf,
    /// Measurement registers ([`TDX_MEASUREMENTS`]).
    pub measurements: PathBuf,
}

impl Default for TdxPaths {
    fn default() -> Self {
        Self {
            tsm_report: CONFIGFS_TSM_REPORT.into(),
            ccel: CCEL_DATA.into(),
            measurements: TDX_MEASUREMENTS.into(),
        }
    }
}

impl TdxPaths {
    /// The standard paths below `root` instead of `/` (a test tree, or a chroot seen from
    /// outside).
    pub fn under(root: &Path) -> Self {
        let below = |path: &str| root.join(path.trim_start_matches('/'));
        Self {
            tsm_report: below(CONFIGFS_TSM_REPORT),
            ccel: below(CCEL_DATA),
            measurements: below(TDX_MEASUREMENTS),
        }
    }
}

/// The hardware TDX attester.
#[derive(Debug, Clone)]
pub struct TdxAttester {
    tsm: ConfigfsTsm,
    ccel: PathBuf,
    measurements: PathBuf,
}

impl Default for TdxAttester {
    fn default() -> Self {
        Self::new(TdxPaths::default())
    }
}

fn measurement_error(what: &str, path: &Path, error: io::Error) -> AttesterError {
    AttesterError::Measurement(format!("{what} {}: {error}", path.display()))
}

/// Reads a measurement register file: the raw 48-byte value.
fn read_register(path: &Path) -> Result<[u8; RTMR_LEN], AttesterError> {
    let value = fs::read(path).map_err(|e| measurement_error("cannot read", path, e))?;
    value.as_slice().try_into().map_err(|_| {
        AttesterError::Measurement(format!(
            "{} holds {} bytes, not a {RTMR_LEN}-byte SHA-384 register",
            path.display(),
            value.len()
        ))
    })
}

/// Writes `digest` to a measurement register file, which the kernel turns into an extension.
/// The file is never created: a missing register must not become a plain file.
fn write_register(path: &Path, digest: &[u8; RTMR_LEN]) -> Result<(), AttesterError> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(digest))
        .map_err(|e| measurement_error("cannot extend through", path, e))
}

impl TdxAttester {
    /// The attester using the configfs-tsm, CCEL and measurement-register paths in `paths`.
    pub fn new(paths: TdxPaths) -> Self {
        Self {
            tsm: ConfigfsTsm::new(paths.tsm_report, Provider::TdxGuest),
            ccel: paths.ccel,
            measurements: paths.measurements,
        }
    }

    /// Collects a TD quote binding `report_data` through configfs-tsm and checks it carries it.
    pub fn quote(&self, report_data: &[u8; 48]) -> Result<Vec<u8>, AttesterError> {
        if !self.tsm.available() {
            return Err(AttesterError::Unavailable(format!(
                "configfs-tsm ({}) is absent: TDX quotes need a TDX guest on Linux 6.7+ with \
                 configfs mounted (mount -t configfs none /sys/kernel/config)",
                self.tsm.root().display()
            )));
        }
        let field = report_data_field(report_data);
        checked_quote(self.tsm.collect(&field)?, &field)
    }

    /// The CCEL event log, or `None` when the firmware published none (no file, or an empty
    /// one). Any other read failure is an error rather than a silently shorter evidence.
    pub fn event_log(&self) -> Result<Option<Vec<u8>>, AttesterError> {
        match fs::read(&self.ccel) {
            Ok(log) if !log.is_empty() => Ok(Some(log)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AttesterError::Evidence(format!(
                "cannot read the CCEL event log {}: {e}",
                self.ccel.display()
            ))),
        }
    }

    /// The quote binding `report_data` and the event log.
    pub fn collect(&self, report_data: &[u8; 48]) -> Result<TdxEvidence, AttesterError> {
        let quote = self.quote(report_data)?;
        let event_log = self.event_log()?;
        if event_log.is_none() {
            tracing::info!(
                path = %self.ccel.display(),
                "no CCEL event log; sending the TD quote without one"
            );
        }
        Ok(TdxEvidence { quote, event_log })
    }

    /// The sysfs file of RTMR `index`, checked to exist.
    fn rtmr_path(&self, index: u8) -> Result<PathBuf, AttesterError> {
        if index >= RTMR_COUNT {
            return Err(AttesterError::Measurement(format!(
                "there is no RTMR{index} (a TD has RTMR0 to RTMR3)"
            )));
        }
        if !self.measurements.is_dir() {
            return Err(AttesterError::Unavailable(format!(
                "TDX measurement registers are not exposed at {}: RTMR access needs a TDX guest \
                 on Linux 6.16+ (tdx_guest measurements in sysfs)",
                self.measurements.display()
            )));
        }
        let path = self.measurements.join(format!("rtmr{index}:sha384"));
        if !path.exists() {
            return Err(AttesterError::Unavailable(format!(
                "{} is absent: this kernel does not expose RTMR{index}",
                path.display()
            )));
        }
        Ok(path)
    }

    /// The current value of RTMR `index` (0 to 3).
    pub fn read_rtmr(&self, index: u8) -> Result<[u8; RTMR_LEN], AttesterError> {
        read_register(&self.rtmr_path(index)?)
    }

    /// Extends RTMR `index` (only [`RUNTIME_RTMRS`]: 2 or 3) with a SHA-384 `digest` and returns
    /// its new value, after checking that the register now reads SHA-384(previous ‖ digest).
    /// A mismatch means the extension did not take effect or raced another extension; the
    /// caller's event log would then not replay, so it is an error.
    pub fn extend_rtmr(
        &self,
        index: u8,
        digest: &[u8; RTMR_LEN],
    ) -> Result<[u8; RTMR_LEN], AttesterError> {
        self.extend_rtmr_with(index, digest, write_register)
    }

    /// [`Self::extend_rtmr`] with the register write as a parameter, so tests can play the
    /// kernel's part.
    fn extend_rtmr_with(
        &self,
        index: u8,
        digest: &[u8; RTMR_LEN],
        write: impl FnOnce(&Path, &[u8; RTMR_LEN]) -> Result<(), AttesterError>,
    ) -> Result<[u8; RTMR_LEN], AttesterError> {
        if !RUNTIME_RTMRS.contains(&index) {
            return Err(AttesterError::Measurement(format!(
                "RTMR{index} cannot be extended at runtime: only RTMR2 and RTMR3 can (RTMR0 and \
                 RTMR1 hold the firmware and boot measurements)"
            )));
        }
        let path = self.rtmr_path(index)?;
        let before = read_register(&path)?;
        write(&path, digest)?;
        let after = read_register(&path)?;
        let expected: [u8; RTMR_LEN] = Sha384::new()
            .chain_update(before)
            .chain_update(digest)
            .finalize()
            .into();
        if after != expected {
            return Err(AttesterError::Measurement(format!(
                "RTMR{index} reads {} after the extension, not SHA-384(previous ‖ digest) = {} \
                 (the extension was not applied, or raced another one)",
                hex::encode(after),
                hex::encode(expected)
            )));
        }
        Ok(after)
    }
}

impl Attester for TdxAttester {
    fn tee(&self) -> &'static str {
        "tdx"
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        None
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        Ok(self.collect(report_data)?.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use warden_wire::tdx::{HEADER_LEN, TD10_BODY_LEN, TdBody, unsigned_quote};

    /// A quote shaped like the quoting enclave's, carrying `report_data`, unsigned.
    fn quote(version: u16, kind: TdBody, report_data: &[u8; 64]) -> Vec<u8> {
        unsigned_quote(version, kind, report_data, b"PCK chain")
    }

    /// A fake configfs-tsm entry holding what the kernel would answer.
    fn fake_entry(dir: &Path, provider: &str, outblob: &[u8]) -> PathBuf {
        let entry = dir.join("entry");
        fs::create_dir_all(&entry).unwrap();
        fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
        fs::write(entry.join("generation"), "1\n").unwrap();
        fs::write(entry.join("outblob"), outblob).unwrap();
        entry
    }

    fn set_u16(quote: &mut [u8], at: usize, value: u16) {
        quote[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn collects_the_quote_from_a_configfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        let field = report_data_field(&[3; 48]);
        let quote = quote(4, TdBody::Td10, &field);
        let entry = fake_entry(dir.path(), "tdx_guest", &quote);
        assert_eq!(collect_in_entry(&entry, &field).unwrap(), quote);
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), field);
    }

    #[test]
    fn evidence_json_carries_the_quote_and_the_event_log_when_present() {
        let root = tempfile::tempdir().unwrap();
        let paths = TdxPaths::under(root.path());
        let attester = TdxAttester::new(paths.clone());
        let quote = quote(4, TdBody::Td10, &report_data_field(&[3; 48]));

        assert_eq!(attester.event_log().unwrap(), None);
        let evidence = TdxEvidence {
            quote: quote.clone(),
            event_log: attester.event_log().unwrap(),
        }
        .to_json();
        let object = evidence.as_object().unwrap();
        assert_eq!(object.len(), 1, "{evidence}");
        let decoded = STANDARD.decode(object["quote"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, quote);

        let log = b"\x00\x00\x00\x00\x03\x00\x00\x00 fake TCG event log".to_vec();
        fs::create_dir_all(paths.ccel.parent().unwrap()).unwrap();
        fs::write(&paths.ccel, &log).unwrap();
        assert_eq!(attester.event_log().unwrap().as_ref(), Some(&log));
        let evidence = TdxEvidence {
            quote: quote.clone(),
            event_log: attester.event_log().unwrap(),
        }
        .to_json();
        let decoded = STANDARD
            .decode(evidence["cc_eventlog"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, log);
        assert_eq!(
            STANDARD
                .decode(evidence["quote"].as_str().unwrap())
                .unwrap(),
            quote
        );

        // An empty table is no log at all.
        fs::write(&paths.ccel, b"").unwrap();
        assert_eq!(attester.event_log().unwrap(), None);
    }

    #[test]
    fn refuses_another_provider() {
        let dir = tempfile::tempdir().unwrap();
        let field = report_data_field(&[3; 48]);
        let entry = fake_entry(dir.path(), "sev_guest", &quote(4, TdBody::Td10, &field));
        let error = collect_in_entry(&entry, &field).unwrap_err();
        assert!(matches!(error, AttesterError::Unavailable(_)), "{error}");
        assert!(error.to_string().contains("tdx_guest"), "{error}");
    }

    #[test]
    fn a_quote_for_other_report_data_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let stale = report_data_field(&[4; 48]);
        let entry = fake_entry(dir.path(), "tdx_guest", &quote(4, TdBody::Td10, &stale));
        let error = collect_in_entry(&entry, &report_data_field(&[3; 48])).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("REPORTDATA") && message.contains("stale"),
            "{message}"
        );
    }

    #[test]
    fn version_5_quotes_with_either_body_are_accepted() {
        let field = report_data_field(&[9; 48]);
        for kind in [TdBody::Td10, TdBody::Td15] {
            let quote = quote(5, kind, &field);
            check_quote(&quote, &field).unwrap();
            let error = check_quote(&quote, &[0; 64]).unwrap_err();
            assert!(error.to_string().contains("REPORTDATA"), "{error}");
        }
    }

    #[test]
    fn malformed_and_short_quotes_are_errors_not_panics() {
        let field = report_data_field(&[1; 48]);
        for (version, kind) in [(4, TdBody::Td10), (5, TdBody::Td10), (5, TdBody::Td15)] {
            let quote = quote(version, kind, &field);
            for len in 0..quote.len() {
                let error = check_quote(&quote[..len], &field).unwrap_err();
                assert!(error.to_string().contains("truncated"), "{len}: {error}");
            }
        }
        let expect = |quote: &[u8], text: &str| {
            let error = check_quote(quote, &field).unwrap_err().to_string();
            assert!(error.contains(text), "{error}");
        };
        let good = quote(4, TdBody::Td10, &field);
        let mut bad = good.clone();
        set_u16(&mut bad, 0, 3);
        expect(&bad, "version 3");
        let mut bad = good.clone();
        bad[4] = 0; // TEE type: an SGX quote
        expect(&bad, "TEE type 0x0");
        let mut bad = good.clone();
        set_u16(&mut bad, 2, 3); // attestation key type
        expect(&bad, "attestation key type 3");
        let mut bad = good.clone();
        let signature_len = HEADER_LEN + TD10_BODY_LEN;
        bad[signature_len..signature_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        expect(&bad, "signature data");

        let good = quote(5, TdBody::Td10, &field);
        let mut bad = good.clone();
        set_u16(&mut bad, HEADER_LEN, 1); // body type: an SGX enclave report body
        expect(&bad, "body type 1");
        let mut bad = good.clone();
        set_u16(&mut bad, HEADER_LEN, 3); // says TDX 1.5, sized as TDX 1.0
        expect(&bad, "body size 584");
        expect(&[0xff; 2000], "version 65535");
    }

    #[test]
    fn evidence_without_configfs_is_unavailable() {
        let root = tempfile::tempdir().unwrap();
        let attester = TdxAttester::new(TdxPaths::under(root.path()));
        let error = attester.evidence(&[0; 48]).unwrap_err();
        assert!(matches!(error, AttesterError::Unavailable(_)), "{error}");
        assert!(error.to_string().contains("configfs"), "{error}");
    }

    /// A fake `tdx_guest` measurement directory with RTMR0–3 at `value`.
    fn fake_measurements(root: &Path, value: &[u8; 48]) -> (TdxAttester, PathBuf) {
        let paths = TdxPaths::under(root);
        fs::create_dir_all(&paths.measurements).unwrap();
        for index in 0..4 {
            fs::write(
                paths.measurements.join(format!("rtmr{index}:sha384")),
                value,
            )
            .unwrap();
        }
        let measurements = paths.measurements.clone();
        (TdxAttester::new(paths), measurements)
    }

    /// What the kernel does when a digest is written to an RTMR file: TDG.MR.RTMR.EXTEND, after
    /// which the file reads SHA-384(old ‖ digest). The write itself goes through the agent's code.
    fn kernel_extend(path: &Path, digest: &[u8; 48]) -> Result<(), AttesterError> {
        let old = fs::read(path).unwrap();
        write_register(path, digest)?;
        let written = fs::read(path).unwrap();
        assert_eq!(written, digest, "the agent wrote exactly the digest");
        let new = Sha384::new()
            .chain_update(old)
            .chain_update(written)
            .finalize();
        fs::write(path, new).unwrap();
        Ok(())
    }

    #[test]
    fn extending_an_rtmr_writes_the_digest_and_checks_the_read_back() {
        let root = tempfile::tempdir().unwrap();
        let (attester, measurements) = fake_measurements(root.path(), &[0; 48]);
        let digest: [u8; 48] = Sha384::digest(b"container image layer").into();
        let expected: [u8; 48] = Sha384::new()
            .chain_update([0; 48])
            .chain_update(digest)
            .finalize()
            .into();
        for index in RUNTIME_RTMRS {
            let value = attester
                .extend_rtmr_with(index, &digest, kernel_extend)
                .unwrap();
            assert_eq!(value, expected);
            assert_eq!(attester.read_rtmr(index).unwrap(), expected);
        }
        assert_eq!(attester.read_rtmr(0).unwrap(), [0; 48]);

        // A register that did not extend (here: a plain file keeping what was written).
        let error = attester.extend_rtmr(3, &digest).unwrap_err();
        assert!(matches!(error, AttesterError::Measurement(_)), "{error}");
        assert!(error.to_string().contains("SHA-384(previous"), "{error}");
        assert_eq!(fs::read(measurements.join("rtmr3:sha384")).unwrap(), digest);
    }

    #[test]
    fn firmware_rtmrs_and_out_of_range_indices_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let (attester, measurements) = fake_measurements(root.path(), &[7; 48]);
        for index in [0, 1, 4, 255] {
            let error = attester
                .extend_rtmr_with(index, &[1; 48], |_, _| panic!("RTMR{index} written"))
                .unwrap_err();
            assert!(matches!(error, AttesterError::Measurement(_)), "{error}");
            assert!(
                error.to_string().contains("only RTMR2 and RTMR3"),
                "{error}"
            );
        }
        for index in 0..2 {
            let path = measurements.join(format!("rtmr{index}:sha384"));
            assert_eq!(fs::read(path).unwrap(), [7; 48]);
        }
        assert!(attester.read_rtmr(4).is_err());
    }

    #[test]
    fn an_absent_or_odd_measurement_interface_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let attester = TdxAttester::new(TdxPaths::under(root.path()));
        let error = attester.extend_rtmr(2, &[1; 48]).unwrap_err();
        assert!(matches!(error, AttesterError::Unavailable(_)), "{error}");
        assert!(error.to_string().contains("Linux 6.16"), "{error}");

        let (attester, measurements) = fake_measurements(root.path(), &[0; 48]);
        fs::remove_file(measurements.join("rtmr3:sha384")).unwrap();
        let error = attester.extend_rtmr(3, &[1; 48]).unwrap_err();
        assert!(matches!(error, AttesterError::Unavailable(_)), "{error}");
        assert!(!measurements.join("rtmr3:sha384").exists(), "never created");

        fs::write(measurements.join("rtmr2:sha384"), b"short").unwrap();
        let error = attester.extend_rtmr(2, &[1; 48]).unwrap_err();
        assert!(error.to_string().contains("5 bytes"), "{error}");
    }
}
