//! AMD SEV-SNP guests: reports from configfs-tsm (`/sys/kernel/config/tsm/report`, Linux 6.7+)
//! or, where that is absent, the `/dev/sev-guest` ioctl (through the `sev` crate).
//!
//! The 48-byte runtime-data digest goes into REPORT_DATA, zero-padded to 64 bytes. Evidence is
//! Warden's SNP JSON (`{"report", "cert_table"}`): the report and the host-supplied certificate
//! table (VCEK/VLEK, ASK, ARK) as the firmware returned them, so the verifier checks the very
//! bytes the AMD secure processor signed.

use std::path::Path;

use serde_json::Value;
use warden_wire::snp::{CertTableEntry, EvidenceJson, Report, encode_cert_table};

use super::configfs_tsm::{self, CONFIGFS_TSM_REPORT, ConfigfsTsm, Provider, TsmReport};
use super::{Attester, AttesterError, report_data_field};

/// A report and its certificate table as collected from the guest interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedReport {
    /// The raw SNP attestation report.
    pub report: Vec<u8>,
    /// GHCB certificate table; empty when the host supplied none.
    pub cert_table: Vec<u8>,
}

impl CollectedReport {
    /// Checks that the report is well-formed and carries the REPORT_DATA that was requested:
    /// a stale or foreign report is an error here, not a confusing rejection at the KBS.
    fn checked(self, requested: &[u8; 64]) -> Result<CollectedReport, AttesterError> {
        let report = Report::parse(&self.report)
            .map_err(|e| AttesterError::Evidence(format!("SNP report from the guest: {e}")))?;
        if report.report_data() != requested {
            return Err(AttesterError::Evidence(
                "the SNP report does not carry the requested REPORT_DATA (stale or raced report)"
                    .into(),
            ));
        }
        Ok(self)
    }

    /// Warden's SNP evidence JSON (`{"report", "cert_table"}`, base64); `cert_table` is omitted
    /// when empty.
    pub fn to_evidence(&self) -> Value {
        let table = (!self.cert_table.is_empty()).then_some(self.cert_table.as_slice());
        EvidenceJson::new(&self.report, table).to_value()
    }
}

impl From<TsmReport> for CollectedReport {
    fn from(tsm: TsmReport) -> Self {
        Self {
            report: tsm.outblob,
            cert_table: tsm.auxblob,
        }
    }
}

/// The SNP exchange on an existing configfs-tsm entry (see [`configfs_tsm::collect_in_entry`]),
/// checked to carry `report_data`.
pub fn collect_in_entry(
    entry: &Path,
    report_data: &[u8; 64],
) -> Result<CollectedReport, AttesterError> {
    CollectedReport::from(configfs_tsm::collect_in_entry(
        entry,
        Provider::SevGuest,
        report_data,
    )?)
    .checked(report_data)
}

/// `/dev/sev-guest` through the sev crate's `SNP_GET_EXT_REPORT`.
fn collect_from_sev_guest(report_data: &[u8; 64]) -> Result<CollectedReport, AttesterError> {
    let mut firmware = sev::firmware::guest::Firmware::open().map_err(|e| {
        AttesterError::Unavailable(format!(
            "neither configfs-tsm ({CONFIGFS_TSM_REPORT}) nor /dev/sev-guest is usable: {e}"
        ))
    })?;
    let (report, certs) = firmware
        .get_ext_report(None, Some(*report_data), Some(0))
        .map_err(|e| AttesterError::Evidence(format!("SNP_GET_EXT_REPORT: {e}")))?;
    let entries: Vec<CertTableEntry> = certs
        .unwrap_or_default()
        .into_iter()
        .map(|entry| CertTableEntry {
            guid: warden_wire::snp::cert_guid::VCEK,
            data: entry.data,
        })
        .collect();
    let cert_table = if entries.is_empty() {
        Vec::new()
    } else {
        encode_cert_table(&entries)
    };
    CollectedReport { report, cert_table }.checked(report_data)
}

/// The hardware SEV-SNP attester.
#[derive(Debug, Clone)]
pub struct SnpAttester {
    tsm: ConfigfsTsm,
}

impl Default for SnpAttester {
    fn default() -> Self {
        Self {
            tsm: ConfigfsTsm::new(CONFIGFS_TSM_REPORT, Provider::SevGuest),
        }
    }
}

impl Attester for SnpAttester {
    fn tee(&self) -> &'static str {
        "snp"
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        None
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        let field = report_data_field(report_data);
        let collected = if self.tsm.available() {
            CollectedReport::from(self.tsm.collect(&field)?).checked(&field)?
        } else {
            collect_from_sev_guest(&field)?
        };
        Ok(collected.to_evidence())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::attester::sim_snp::DevChain;

    /// A fake configfs-tsm entry holding what the kernel would answer for `report_data`.
    fn fake_entry(dir: &Path, chain: &DevChain, report_data: &[u8; 64], provider: &str) -> PathBuf {
        let entry = dir.join("entry");
        fs::create_dir_all(&entry).unwrap();
        let digest: [u8; 48] = report_data[..48].try_into().unwrap();
        let evidence = chain.signed_report(&digest).unwrap();
        fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
        fs::write(entry.join("generation"), "1\n").unwrap();
        fs::write(entry.join("outblob"), &evidence.report).unwrap();
        fs::write(entry.join("auxblob"), &evidence.cert_table).unwrap();
        entry
    }

    #[test]
    fn collects_report_and_certificates_from_a_configfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        let chain = DevChain::generate().unwrap();
        let field = report_data_field(&[3; 48]);
        let entry = fake_entry(dir.path(), &chain, &field, "sev_guest");
        let collected = collect_in_entry(&entry, &field).unwrap();
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), field);
        let table = warden_wire::snp::parse_cert_table(&collected.cert_table).unwrap();
        assert_eq!(table[0].data, chain.vcek_der());
        let evidence = collected.to_evidence();
        assert!(evidence["report"].is_string() && evidence["cert_table"].is_string());
    }

    #[test]
    fn refuses_other_providers_and_stale_reports() {
        let dir = tempfile::tempdir().unwrap();
        let chain = DevChain::generate().unwrap();
        let field = report_data_field(&[3; 48]);
        let entry = fake_entry(dir.path(), &chain, &field, "tdx_guest");
        assert!(matches!(
            collect_in_entry(&entry, &field),
            Err(AttesterError::Unavailable(_))
        ));
        let entry = fake_entry(dir.path(), &chain, &field, "sev_guest");
        let other = report_data_field(&[4; 48]);
        let error = collect_in_entry(&entry, &other).unwrap_err();
        assert!(error.to_string().contains("stale"), "{error}");
    }
}
