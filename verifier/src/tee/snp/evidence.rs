//! SNP evidence as it arrives: Warden's own JSON form, CoCo's JSON form, or (CLI) raw bytes.
//!
//! - Warden: `{"report": "<base64 of the 1184 report bytes>", "cert_table": "<base64 of the GHCB
//!   certificate table>"?}` — the bytes exactly as the firmware returned them.
//! - CoCo (`snp` attester of guest-components): `{"attestation_report": {<fields as serialised by
//!   the sev crate>}, "cert_chain": [{"cert_type": "VCEK", "data": [<DER bytes>]}] | null}`. The
//!   report is re-encoded field by field at its ABI offsets. Nothing is trusted by that step: the
//!   signature is verified over the re-encoded bytes, so any field lost or altered in transit
//!   makes it fail.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use warden_wire::snp::{
    CertTableEntry, EvidenceJson, REPORT_LEN, ReportWriter, SIGNATURE_COMPONENT_LEN, Tcb,
    cert_guid, encode_cert_table, offset, parse_cert_table,
};

/// Decoded evidence: the report bytes and whatever endorsement blobs came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpEvidence {
    /// The attestation report bytes, as received (their length is checked by the verifier).
    pub report: Vec<u8>,
    /// Endorsement blobs sent with the report (from the certificate table or CoCo's `cert_chain`).
    pub endorsements: Vec<Vec<u8>>,
}

/// Upper bound on evidence JSON we decode (a report plus a few certificates is ~10 KiB).
const MAX_EVIDENCE_JSON: usize = 256 * 1024;

impl SnpEvidence {
    /// Decodes either JSON form (Warden's or CoCo's; see the module documentation).
    pub fn from_json(evidence: &Value) -> Result<SnpEvidence, String> {
        let object = evidence
            .as_object()
            .ok_or("SNP evidence must be a JSON object")?;
        if object.contains_key("report") {
            let warden = EvidenceJson::deserialize(evidence).map_err(|e| e.to_string())?;
            let report = STANDARD
                .decode(&warden.report)
                .map_err(|e| format!("report: {e}"))?;
            let endorsements = match &warden.cert_table {
                Some(table) => {
                    let table = STANDARD
                        .decode(table)
                        .map_err(|e| format!("cert_table: {e}"))?;
                    parse_cert_table(&table)
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .map(|entry| entry.data)
                        .collect()
                }
                None => Vec::new(),
            };
            return Ok(SnpEvidence {
                report,
                endorsements,
            });
        }
        if object.contains_key("attestation_report") {
            let coco = CocoEvidence::deserialize(evidence).map_err(|e| e.to_string())?;
            return Ok(SnpEvidence {
                report: coco.attestation_report.encode()?.to_vec(),
                endorsements: coco
                    .cert_chain
                    .unwrap_or_default()
                    .into_iter()
                    .map(|entry| entry.data)
                    .collect(),
            });
        }
        Err("SNP evidence has neither \"report\" (Warden) nor \"attestation_report\" (CoCo)".into())
    }

    /// Reads evidence from a file's bytes: raw report, hex text of it, or either JSON form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<SnpEvidence, String> {
        if bytes.len() == REPORT_LEN {
            return Ok(SnpEvidence {
                report: bytes.to_vec(),
                endorsements: Vec::new(),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            format!(
                "evidence is {} bytes of binary: not a {REPORT_LEN}-byte report, hex or JSON",
                bytes.len()
            )
        })?;
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            if trimmed.len() > MAX_EVIDENCE_JSON {
                return Err(format!("evidence JSON exceeds {MAX_EVIDENCE_JSON} bytes"));
            }
            let value: Value = serde_json::from_str(trimmed).map_err(|e| e.to_string())?;
            return SnpEvidence::from_json(&value);
        }
        let report = hex::decode(trimmed).map_err(|e| format!("evidence is not hex: {e}"))?;
        Ok(SnpEvidence {
            report,
            endorsements: Vec::new(),
        })
    }

    /// The Warden JSON form of this evidence.
    pub fn to_json(&self) -> Value {
        let entries: Vec<CertTableEntry> = self
            .endorsements
            .iter()
            .map(|data| CertTableEntry {
                // The verifier classifies blobs by content; the GUID is informational.
                guid: cert_guid::VCEK,
                data: data.clone(),
            })
            .collect();
        let table = (!entries.is_empty()).then(|| encode_cert_table(&entries));
        EvidenceJson::new(&self.report, table.as_deref()).to_value()
    }
}

#[derive(Deserialize)]
struct CocoEvidence {
    attestation_report: CocoReport,
    cert_chain: Option<Vec<CocoCertEntry>>,
}

#[derive(Deserialize)]
struct CocoCertEntry {
    data: Vec<u8>,
}

#[derive(Deserialize)]
struct CocoTcb {
    fmc: Option<u8>,
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
}

impl CocoTcb {
    fn raw(&self) -> u64 {
        Tcb {
            fmc: self.fmc,
            bootloader: self.bootloader,
            tee: self.tee,
            snp: self.snp,
            microcode: self.microcode,
        }
        .encode()
        .0
    }
}

#[derive(Deserialize)]
struct CocoVersion {
    major: u8,
    minor: u8,
    build: u8,
}

#[derive(Deserialize)]
struct CocoSignature {
    r: Vec<u8>,
    s: Vec<u8>,
}

/// The sev crate's serde form of `AttestationReport` (byte arrays as JSON arrays).
#[derive(Deserialize)]
struct CocoReport {
    version: u32,
    guest_svn: u32,
    policy: u64,
    family_id: Vec<u8>,
    image_id: Vec<u8>,
    vmpl: u32,
    sig_algo: u32,
    current_tcb: CocoTcb,
    plat_info: u64,
    key_info: u32,
    report_data: Vec<u8>,
    measurement: Vec<u8>,
    host_data: Vec<u8>,
    id_key_digest: Vec<u8>,
    author_key_digest: Vec<u8>,
    report_id: Vec<u8>,
    report_id_ma: Vec<u8>,
    reported_tcb: CocoTcb,
    cpuid_fam_id: Option<u8>,
    cpuid_mod_id: Option<u8>,
    cpuid_step: Option<u8>,
    chip_id: Vec<u8>,
    committed_tcb: CocoTcb,
    current: CocoVersion,
    committed: CocoVersion,
    launch_tcb: CocoTcb,
    launch_mit_vector: Option<u64>,
    current_mit_vector: Option<u64>,
    signature: CocoSignature,
}

impl CocoReport {
    fn encode(&self) -> Result<[u8; REPORT_LEN], String> {
        let mut w = ReportWriter::default();
        w.put_u32(offset::VERSION, self.version)
            .put_u32(offset::GUEST_SVN, self.guest_svn)
            .put_u64(offset::POLICY, self.policy)
            .put_u32(offset::VMPL, self.vmpl)
            .put_u32(offset::SIGNATURE_ALGO, self.sig_algo)
            .put_u64(offset::CURRENT_TCB, self.current_tcb.raw())
            .put_u64(offset::PLATFORM_INFO, self.plat_info)
            .put_u32(offset::KEY_INFO, self.key_info)
            .put_u64(offset::REPORTED_TCB, self.reported_tcb.raw())
            .put_u64(offset::COMMITTED_TCB, self.committed_tcb.raw())
            .put_u64(offset::LAUNCH_TCB, self.launch_tcb.raw())
            .put(
                offset::CURRENT_BUILD,
                &[self.current.build, self.current.minor, self.current.major],
            )
            .put(
                offset::COMMITTED_BUILD,
                &[
                    self.committed.build,
                    self.committed.minor,
                    self.committed.major,
                ],
            );
        let arrays: [(&str, usize, &[u8], usize); 12] = [
            ("family_id", offset::FAMILY_ID, &self.family_id, 16),
            ("image_id", offset::IMAGE_ID, &self.image_id, 16),
            ("report_data", offset::REPORT_DATA, &self.report_data, 64),
            ("measurement", offset::MEASUREMENT, &self.measurement, 48),
            ("host_data", offset::HOST_DATA, &self.host_data, 32),
            (
                "id_key_digest",
                offset::ID_KEY_DIGEST,
                &self.id_key_digest,
                48,
            ),
            (
                "author_key_digest",
                offset::AUTHOR_KEY_DIGEST,
                &self.author_key_digest,
                48,
            ),
            ("report_id", offset::REPORT_ID, &self.report_id, 32),
            ("report_id_ma", offset::REPORT_ID_MA, &self.report_id_ma, 32),
            ("chip_id", offset::CHIP_ID, &self.chip_id, 64),
            (
                "signature.r",
                offset::SIGNATURE_R,
                &self.signature.r,
                SIGNATURE_COMPONENT_LEN,
            ),
            (
                "signature.s",
                offset::SIGNATURE_S,
                &self.signature.s,
                SIGNATURE_COMPONENT_LEN,
            ),
        ];
        for (name, at, value, len) in arrays {
            if value.len() != len {
                return Err(format!("{name} has {} bytes, expected {len}", value.len()));
            }
            w.put(at, value);
        }
        if self.version >= 3 {
            w.put(
                offset::CPUID_FAM_ID,
                &[
                    self.cpuid_fam_id.unwrap_or(0),
                    self.cpuid_mod_id.unwrap_or(0),
                    self.cpuid_step.unwrap_or(0),
                ],
            );
        }
        if self.version >= 5 {
            w.put_u64(
                offset::LAUNCH_MIT_VECTOR,
                self.launch_mit_vector.unwrap_or(0),
            )
            .put_u64(
                offset::CURRENT_MIT_VECTOR,
                self.current_mit_vector.unwrap_or(0),
            );
        }
        Ok(w.into_bytes())
    }
}
