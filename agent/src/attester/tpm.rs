//! TPM 2.0 attester (`tee: "tpm"`): quotes PCRs with the attestation key (AK) registered with the
//! KBS ([`crate::tpm_registration`]), the runtime-data digest as qualifying data, and sends the
//! AK's `TPMT_PUBLIC`, the quote, the PCR values and the firmware event log in Warden's TPM
//! evidence JSON ([`warden_wire::tpm::Evidence`]).
//!
//! The AK lives in a state file ([`AkBlob`]): its private part is wrapped by the TPM under the
//! EK, so the file is useless on another TPM. The device is opened per quote (a TPM context is
//! not `Send`, and a swtpm serves one client at a time).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use warden_wire::tpm::{EvidenceJson, HashAlg};

use super::tpm_device::{AkBlob, PCR_COUNT, PcrBank, TpmDevice};
use super::{Attester, AttesterError};

/// Where Linux publishes the firmware's TCG event log.
pub const DEFAULT_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";
/// The in-kernel resource manager of the first TPM.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

/// Where and what to quote.
#[derive(Debug, Clone)]
pub struct TpmAttester {
    /// The TPM's tpm2-tss TCTI, e.g. [`DEFAULT_TCTI`].
    pub tcti: String,
    /// The AK state file ([`AkBlob`]) written by `warden-agent tpm-register`.
    pub ak_file: PathBuf,
    /// SHA-256 PCR numbers to quote (0..=23 by default).
    pub pcrs: Vec<u8>,
    /// The event log to send, `None` for none. A missing file is not an error (swtpm and some
    /// VMs have no firmware log); an unreadable one is.
    pub event_log: Option<PathBuf>,
}

impl TpmAttester {
    /// All 24 SHA-256 PCRs of `tcti`, the AK from `ak_file`, and Linux's firmware event log.
    pub fn new(tcti: impl Into<String>, ak_file: impl Into<PathBuf>) -> Self {
        Self {
            tcti: tcti.into(),
            ak_file: ak_file.into(),
            pcrs: (0..PCR_COUNT).collect(),
            event_log: Some(PathBuf::from(DEFAULT_EVENT_LOG)),
        }
    }

    /// Reads and parses the AK state file: [`AttesterError::Unavailable`] when it cannot be read,
    /// [`AttesterError::Evidence`] when it is malformed.
    pub fn load_ak(&self) -> Result<AkBlob, AttesterError> {
        let bytes = std::fs::read(&self.ak_file).map_err(|e| {
            AttesterError::Unavailable(format!(
                "AK state file {}: {e} (create and register one with `warden-agent tpm-register`)",
                self.ak_file.display()
            ))
        })?;
        AkBlob::from_bytes(&bytes).map_err(|e| AttesterError::Evidence(e.to_string()))
    }

    fn event_log(&self) -> Result<Option<Vec<u8>>, AttesterError> {
        let Some(path) = &self.event_log else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() > warden_wire::eventlog::MAX_LOG_LEN => Err(
                AttesterError::Evidence(format!("event log {} is too large", path.display())),
            ),
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AttesterError::Evidence(format!(
                "event log {}: {e}",
                path.display()
            ))),
        }
    }
}

impl Attester for TpmAttester {
    fn tee(&self) -> &'static str {
        "tpm"
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        None
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<serde_json::Value, AttesterError> {
        let ak = self.load_ak()?;
        let mut device =
            TpmDevice::open(&self.tcti).map_err(|e| AttesterError::Unavailable(e.to_string()))?;
        let quote = device
            .quote(&ak, report_data, &[PcrBank::Sha256], &self.pcrs)
            .map_err(|e| AttesterError::Evidence(e.to_string()))?;
        let mut pcrs = BTreeMap::new();
        for (bank, values) in &quote.pcrs {
            let bank = HashAlg::from_id(bank.algorithm_id()).ok_or_else(|| {
                AttesterError::Evidence(format!("PCR bank {bank:?} has no evidence name"))
            })?;
            for (pcr, value) in values {
                pcrs.insert((bank, u32::from(*pcr)), value.clone());
            }
        }
        let mut json = EvidenceJson::new(&ak.public, &[(quote.attest, quote.signature)], &pcrs);
        json.event_log = self.event_log()?.map(|log| STANDARD.encode(log));
        serde_json::to_value(json).map_err(|e| AttesterError::Evidence(e.to_string()))
    }
}
