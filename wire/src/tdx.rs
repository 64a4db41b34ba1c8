//! Intel TDX quotes (DCAP quote format versions 4 and 5, ECDSA P-256 attestation key) and the
//! TD report and QE report they carry.
//!
//! Layout (Intel TDX DCAP Quoting Library API, appendix "Quote Format"):
//!
//! ```text
//! v4: header(48) | TD report body(584)                         | sig_data_len u32 | sig_data
//! v5: header(48) | body_type u16 | body_size u32 | body(584|648) | sig_data_len u32 | sig_data
//! sig_data: quote signature(64) | attestation key(64) | cert_data_type u16 (6) | cert_data_len u32
//!           | QE report(384) | QE report signature(64) | qe_auth_len u16 | qe_auth
//!           | inner cert type u16 (5 = PCK chain, PEM) | inner len u32 | PCK chain
//! ```
//!
//! The quote signature covers everything before `sig_data_len`. [`Quote`] keeps the bytes it was
//! given and hands out views at fixed offsets, so what is verified is what was received. Parsing
//! follows the declared lengths and never panics; bytes after the signature data are kept apart
//! ([`Quote::trailing`]) for the verifier to judge (real quote buffers are zero-padded).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use thiserror::Error;

/// Length of the quote header.
pub const HEADER_LEN: usize = 48;
/// TD report body of TDX 1.0 (`TD_REPORT10`, quote body type 2).
pub const TD10_BODY_LEN: usize = 584;
/// TD report body of TDX 1.5 (`TD_REPORT15`, body type 3): TDX 1.0 + TEE_TCB_SVN2 + MRSERVICETD.
pub const TD15_BODY_LEN: usize = 648;
/// SGX enclave report body: the QE report.
pub const QE_REPORT_LEN: usize = 384;
/// Header TEE type of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Header attestation key type: ECDSA-256 with P-256.
pub const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// Certification data wrapping the QE report (outer) and the PCK chain in PEM (inner).
pub const CERT_DATA_QE_REPORT: u16 = 6;
/// Certification data type of the PCK certificate chain in PEM (the inner data).
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Intel's QE vendor id, the only one appearing on TDX platforms.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Bound on the signature data: a PCK chain is ~4 KiB; anything far larger is not a quote.
pub const MAX_SIGNATURE_DATA_LEN: usize = 64 * 1024;

/// Offsets within a TD report body.
pub mod body {
    /// TEE_TCB_SVN: 16 bytes.
    pub const TEE_TCB_SVN: usize = 0;
    /// MRSEAM: 48 bytes, measurement of the TDX module.
    pub const MR_SEAM: usize = 16;
    /// MRSIGNERSEAM: 48 bytes, signer of the TDX module (zero for Intel's).
    pub const MR_SIGNER_SEAM: usize = 64;
    /// SEAMATTRIBUTES: 8 bytes.
    pub const SEAM_ATTRIBUTES: usize = 112;
    /// TDATTRIBUTES: 8 bytes (see [`super::td_attributes`]).
    pub const TD_ATTRIBUTES: usize = 120;
    /// XFAM: 8 bytes, the TD's extended features mask.
    pub const XFAM: usize = 128;
    /// MRTD: 48 bytes, measurement of the initial TD contents.
    pub const MR_TD: usize = 136;
    /// MRCONFIGID: 48 bytes, software-defined configuration ID.
    pub const MR_CONFIG_ID: usize = 184;
    /// MROWNER: 48 bytes, software-defined owner ID.
    pub const MR_OWNER: usize = 232;
    /// MROWNERCONFIG: 48 bytes, software-defined owner configuration.
    pub const MR_OWNER_CONFIG: usize = 280;
    /// RTMR0: 48 bytes; RTMR1-3 follow, 48 bytes each.
    pub const RTMR0: usize = 328;
    /// REPORTDATA: 64 bytes the TD supplied.
    pub const REPORT_DATA: usize = 520;
    /// TDX 1.5 only.
    pub const TEE_TCB_SVN2: usize = 584;
    /// MRSERVICETD: 48 bytes, measurement of the service TDs (TDX 1.5 only).
    pub const MR_SERVICE_TD: usize = 600;
}

/// Offsets within a QE (SGX) report.
pub mod qe {
    /// CPUSVN: 16 bytes.
    pub const CPU_SVN: usize = 0;
    /// MISCSELECT: 4 bytes.
    pub const MISC_SELECT: usize = 16;
    /// ATTRIBUTES: 16 bytes.
    pub const ATTRIBUTES: usize = 48;
    /// MRENCLAVE: 32 bytes, the QE's measurement.
    pub const MR_ENCLAVE: usize = 64;
    /// MRSIGNER: 32 bytes, hash of the QE signer's key.
    pub const MR_SIGNER: usize = 128;
    /// ISVPRODID: u16.
    pub const ISV_PROD_ID: usize = 256;
    /// ISVSVN: u16.
    pub const ISV_SVN: usize = 258;
    /// REPORTDATA: 64 bytes (binds the attestation key and QE authentication data).
    pub const REPORT_DATA: usize = 320;
}

/// Why bytes are not a supported TDX quote.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuoteError {
    /// A field runs past the end of its container.
    #[error("quote truncated: {what} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Its offset within the container.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the container.
        available: usize,
    },
    /// The quote version is neither 4 nor 5; holds it.
    #[error("unsupported quote version {0} (supported: 4, 5)")]
    Version(u16),
    /// The attestation key type is not ECDSA P-256 (2); holds it.
    #[error("attestation key type {0} is not ECDSA P-256 (2)")]
    AttestationKeyType(u16),
    /// The TEE type is not TDX (0x81); holds it.
    #[error("TEE type {0:#x} is not TDX (0x81)")]
    TeeType(u32),
    /// The v5 body type is neither 2 (TDX 1.0) nor 3 (TDX 1.5); holds it.
    #[error("quote v5 body type {0} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)")]
    BodyType(u16),
    /// The v5 body size does not match the body type.
    #[error("quote v5 body size {declared} does not fit body type {body_type} ({expected} bytes)")]
    BodySize {
        /// The declared body type.
        body_type: u16,
        /// The declared body size.
        declared: u32,
        /// The size of that body type.
        expected: usize,
    },
    /// The signature data length exceeds [`MAX_SIGNATURE_DATA_LEN`]; holds it.
    #[error("signature data length {0} exceeds the {MAX_SIGNATURE_DATA_LEN}-byte bound")]
    SignatureDataTooLong(u32),
    /// A certification data block has an unexpected type.
    #[error("{which} certification data type {found}, expected {expected}")]
    CertificationDataType {
        /// "outer" (QE report data) or "inner" (PCK chain).
        which: &'static str,
        /// The type found.
        found: u16,
        /// The type required.
        expected: u16,
    },
    /// A certification data block declares more bytes than its container holds.
    #[error("{which} certification data declares {declared} bytes but its container holds {holds}")]
    CertificationDataLength {
        /// "outer" (QE report data) or "inner" (PCK chain).
        which: &'static str,
        /// The length the block declares.
        declared: usize,
        /// The bytes its container holds.
        holds: usize,
    },
}

/// Which TD report body the quote carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdBody {
    /// TDX 1.0 body (`TD_REPORT10`, 584 bytes): quote v4, or v5 body type 2.
    Td10,
    /// TDX 1.5 body (`TD_REPORT15`, 648 bytes): quote v5 body type 3.
    Td15,
}

impl TdBody {
    /// Length of the body in bytes.
    pub fn size(self) -> usize {
        match self {
            TdBody::Td10 => TD10_BODY_LEN,
            TdBody::Td15 => TD15_BODY_LEN,
        }
    }

    /// "TDX 1.0" or "TDX 1.5".
    pub fn name(self) -> &'static str {
        match self {
            TdBody::Td10 => "TDX 1.0",
            TdBody::Td15 => "TDX 1.5",
        }
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked and names what it reads.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, what: &'static str, len: usize) -> Result<&'a [u8], QuoteError> {
        let available = self.bytes.len().saturating_sub(self.offset);
        if len > available {
            return Err(QuoteError::Truncated {
                what,
                offset: self.offset,
                needed: len,
                available,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], QuoteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, QuoteError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, QuoteError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.offset.min(self.bytes.len())..]
    }
}

/// A parsed TDX quote borrowing the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote<'a> {
    bytes: &'a [u8],
    version: u16,
    body_kind: TdBody,
    body: &'a [u8],
    signed_len: usize,
    signature: QuoteSignature<'a>,
    trailing: &'a [u8],
}

/// The ECDSA quote signature data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteSignature<'a> {
    /// r ‖ s, big-endian, over the signed region of the quote.
    pub signature: [u8; 64],
    /// The attestation key: x ‖ y of an uncompressed P-256 point.
    pub attestation_key: [u8; 64],
    /// The quoting enclave's report, signed by the PCK.
    pub qe_report: QeReport<'a>,
    /// r ‖ s of the PCK's signature over the QE report.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data (its length is a u16 prefix).
    pub qe_auth_data: &'a [u8],
    /// PEM certificates, PCK leaf first.
    pub pck_chain: &'a [u8],
}

impl<'a> Quote<'a> {
    /// Parses a v4 or v5 quote with an ECDSA P-256 key and the TDX TEE type, following the
    /// declared lengths.
    pub fn parse(bytes: &'a [u8]) -> Result<Quote<'a>, QuoteError> {
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.u16("version")?;
        if version != 4 && version != 5 {
            return Err(QuoteError::Version(version));
        }
        let key_type = reader.u16("attestation key type")?;
        if key_type != ATTESTATION_KEY_ECDSA_P256 {
            return Err(QuoteError::AttestationKeyType(key_type));
        }
        let tee_type = reader.u32("TEE type")?;
        if tee_type != TEE_TYPE_TDX {
            return Err(QuoteError::TeeType(tee_type));
        }
        reader.take("header", HEADER_LEN - 8)?;
        let body_kind = if version == 4 {
            TdBody::Td10
        } else {
            let body_type = reader.u16("body type")?;
            let kind = match body_type {
                2 => TdBody::Td10,
                3 => TdBody::Td15,
                other => return Err(QuoteError::BodyType(other)),
            };
            let declared = reader.u32("body size")?;
            if declared as usize != kind.size() {
                return Err(QuoteError::BodySize {
                    body_type,
                    declared,
                    expected: kind.size(),
                });
            }
            kind
        };
        let body = reader.take("TD report body", body_kind.size())?;
        let signed_len = reader.offset;
        let signature_len = reader.u32("signature data length")?;
        if signature_len as usize > MAX_SIGNATURE_DATA_LEN {
            return Err(QuoteError::SignatureDataTooLong(signature_len));
        }
        let signature_data = reader.take("signature data", signature_len as usize)?;
        let trailing = reader.rest();
        Ok(Quote {
            bytes,
            version,
            body_kind,
            body,
            signed_len,
            signature: QuoteSignature::parse(signature_data)?,
            trailing,
        })
    }

    /// Quote format version: 4 or 5.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Which TD report body the quote carries.
    pub fn body_kind(&self) -> TdBody {
        self.body_kind
    }

    /// Header (and, in v5, the body descriptor) and body: the bytes the attestation key signs.
    pub fn signed_bytes(&self) -> &'a [u8] {
        &self.bytes[..self.signed_len]
    }

    /// The quote as declared: everything up to the end of the signature data.
    pub fn declared_bytes(&self) -> &'a [u8] {
        &self.bytes[..self.bytes.len() - self.trailing.len()]
    }

    /// The 48-byte quote header.
    pub fn header(&self) -> &'a [u8; HEADER_LEN] {
        self.bytes[..HEADER_LEN]
            .try_into()
            .expect("parse checked the header length")
    }

    /// Header bytes 8-9: the QE SVN (u16).
    pub fn qe_svn(&self) -> u16 {
        u16::from_le_bytes([self.bytes[8], self.bytes[9]])
    }

    /// Header bytes 10-11: the PCE SVN (u16).
    pub fn pce_svn(&self) -> u16 {
        u16::from_le_bytes([self.bytes[10], self.bytes[11]])
    }

    /// Header bytes 12-27: QE vendor ID, 16 bytes (see [`INTEL_QE_VENDOR_ID`]).
    pub fn qe_vendor_id(&self) -> &'a [u8] {
        &self.bytes[12..28]
    }

    /// Header bytes 28-47: user data, 20 bytes.
    pub fn user_data(&self) -> &'a [u8] {
        &self.bytes[28..48]
    }

    /// The TD report body.
    pub fn body(&self) -> TdReport<'a> {
        TdReport(self.body)
    }

    /// The parsed signature data.
    pub fn signature(&self) -> &QuoteSignature<'a> {
        &self.signature
    }

    /// Bytes after the declared signature data (padding of the buffer the quote was read into).
    pub fn trailing(&self) -> &'a [u8] {
        self.trailing
    }
}

impl<'a> QuoteSignature<'a> {
    fn parse(bytes: &'a [u8]) -> Result<QuoteSignature<'a>, QuoteError> {
        let mut reader = Reader { bytes, offset: 0 };
        let signature = reader.array("quote signature")?;
        let attestation_key = reader.array("attestation key")?;
        let outer = certification_data(&mut reader, "outer", CERT_DATA_QE_REPORT)?;
        let mut reader = Reader {
            bytes: outer,
            offset: 0,
        };
        let qe_report = QeReport(reader.take("QE report", QE_REPORT_LEN)?);
        let qe_report_signature = reader.array("QE report signature")?;
        let auth_len = reader.u16("QE authentication data length")?;
        let qe_auth_data = reader.take("QE authentication data", auth_len as usize)?;
        let pck_chain = certification_data(&mut reader, "inner", CERT_DATA_PCK_CHAIN)?;
        Ok(QuoteSignature {
            signature,
            attestation_key,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain,
        })
    }
}

fn certification_data<'a>(
    reader: &mut Reader<'a>,
    which: &'static str,
    expected: u16,
) -> Result<&'a [u8], QuoteError> {
    let found = reader.u16("certification data type")?;
    if found != expected {
        return Err(QuoteError::CertificationDataType {
            which,
            found,
            expected,
        });
    }
    let declared = reader.u32("certification data length")? as usize;
    let holds = reader.bytes.len().saturating_sub(reader.offset);
    if declared > holds {
        return Err(QuoteError::CertificationDataLength {
            which,
            declared,
            holds,
        });
    }
    reader.take("certification data", declared)
}

/// A TD report body (584 or 648 bytes, checked by [`Quote::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReport<'a>(&'a [u8]);

impl<'a> TdReport<'a> {
    fn field(&self, offset: usize, len: usize) -> &'a [u8] {
        &self.0[offset..offset + len]
    }

    /// The whole body, 584 or 648 bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// TEE_TCB_SVN: 16 bytes.
    pub fn tee_tcb_svn(&self) -> [u8; 16] {
        self.field(body::TEE_TCB_SVN, 16).try_into().expect("16")
    }

    /// MRSEAM: 48 bytes, measurement of the TDX module.
    pub fn mr_seam(&self) -> &'a [u8] {
        self.field(body::MR_SEAM, 48)
    }

    /// MRSIGNERSEAM: 48 bytes, signer of the TDX module.
    pub fn mr_signer_seam(&self) -> &'a [u8] {
        self.field(body::MR_SIGNER_SEAM, 48)
    }

    /// SEAMATTRIBUTES: 8 bytes.
    pub fn seam_attributes(&self) -> [u8; 8] {
        self.field(body::SEAM_ATTRIBUTES, 8).try_into().expect("8")
    }

    /// TDATTRIBUTES: 8 bytes, little-endian (see [`td_attributes`]).
    pub fn td_attributes(&self) -> [u8; 8] {
        self.field(body::TD_ATTRIBUTES, 8).try_into().expect("8")
    }

    /// XFAM: 8 bytes.
    pub fn xfam(&self) -> [u8; 8] {
        self.field(body::XFAM, 8).try_into().expect("8")
    }

    /// MRTD: 48 bytes, measurement of the initial TD contents.
    pub fn mr_td(&self) -> &'a [u8] {
        self.field(body::MR_TD, 48)
    }

    /// MRCONFIGID: 48 bytes.
    pub fn mr_config_id(&self) -> &'a [u8] {
        self.field(body::MR_CONFIG_ID, 48)
    }

    /// MROWNER: 48 bytes.
    pub fn mr_owner(&self) -> &'a [u8] {
        self.field(body::MR_OWNER, 48)
    }

    /// MROWNERCONFIG: 48 bytes.
    pub fn mr_owner_config(&self) -> &'a [u8] {
        self.field(body::MR_OWNER_CONFIG, 48)
    }

    /// RTMR `index` (0..=3).
    pub fn rtmr(&self, index: usize) -> Option<&'a [u8]> {
        (index < 4).then(|| self.field(body::RTMR0 + 48 * index, 48))
    }

    /// REPORTDATA: 64 bytes the TD supplied.
    pub fn report_data(&self) -> &'a [u8] {
        self.field(body::REPORT_DATA, 64)
    }

    /// TDX 1.5 bodies only.
    pub fn tee_tcb_svn2(&self) -> Option<&'a [u8]> {
        (self.0.len() == TD15_BODY_LEN).then(|| self.field(body::TEE_TCB_SVN2, 16))
    }

    /// TDX 1.5 bodies only.
    pub fn mr_service_td(&self) -> Option<&'a [u8]> {
        (self.0.len() == TD15_BODY_LEN).then(|| self.field(body::MR_SERVICE_TD, 48))
    }
}

/// TD_ATTRIBUTES bits (TDX module ABI), the ones relying parties decide on.
pub mod td_attributes {
    /// Bit 0: the TD is debuggable: its memory and state are readable by the host.
    pub const DEBUG: u64 = 1 << 0;
    /// Bit 28: EPT violations on pending private pages are not converted to #VE.
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;
    /// Bit 30: the TD may use supervisor protection keys (PKS).
    pub const PKS: u64 = 1 << 30;
    /// Bit 31: the TD may use Key Locker.
    pub const KL: u64 = 1 << 31;
    /// Bit 63: the TD may use performance monitoring (PERFMON).
    pub const PERFMON: u64 = 1 << 63;
}

/// The QE's SGX report (384 bytes, checked by [`Quote::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QeReport<'a>(&'a [u8]);

impl<'a> QeReport<'a> {
    fn field(&self, offset: usize, len: usize) -> &'a [u8] {
        &self.0[offset..offset + len]
    }

    /// The whole 384-byte report.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// CPUSVN: 16 bytes.
    pub fn cpu_svn(&self) -> &'a [u8] {
        self.field(qe::CPU_SVN, 16)
    }

    /// MISCSELECT: 4 bytes.
    pub fn misc_select(&self) -> [u8; 4] {
        self.field(qe::MISC_SELECT, 4).try_into().expect("4")
    }

    /// ATTRIBUTES: 16 bytes.
    pub fn attributes(&self) -> &'a [u8] {
        self.field(qe::ATTRIBUTES, 16)
    }

    /// MRENCLAVE: 32 bytes.
    pub fn mr_enclave(&self) -> &'a [u8] {
        self.field(qe::MR_ENCLAVE, 32)
    }

    /// MRSIGNER: 32 bytes.
    pub fn mr_signer(&self) -> &'a [u8] {
        self.field(qe::MR_SIGNER, 32)
    }

    /// ISVPRODID.
    pub fn isv_prod_id(&self) -> u16 {
        u16::from_le_bytes(self.field(qe::ISV_PROD_ID, 2).try_into().expect("2"))
    }

    /// ISVSVN.
    pub fn isv_svn(&self) -> u16 {
        u16::from_le_bytes(self.field(qe::ISV_SVN, 2).try_into().expect("2"))
    }

    /// REPORTDATA: 64 bytes.
    pub fn report_data(&self) -> &'a [u8] {
        self.field(qe::REPORT_DATA, 64)
    }
}

/// Bound on evidence JSON and on a raw quote file (quote buffers are 8 KiB; the CCEL 256 KiB,
/// base64-encoded in JSON).
pub const MAX_EVIDENCE_BYTES: usize = 1024 * 1024;

/// TDX evidence as it travels: CoCo's JSON `{"quote": base64, "cc_eventlog": base64?}` (the agent
/// writes it, the verifier reads it), or for offline tools a raw quote file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The quote bytes.
    pub quote: Vec<u8>,
    /// The CC event log (ACPI CCEL data), when the attester sent it.
    pub event_log: Option<Vec<u8>>,
}

fn decode_field(field: &str, value: &Value) -> Result<Vec<u8>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("\"{field}\" must be a base64 string"))?;
    if text.len() > MAX_EVIDENCE_BYTES {
        return Err(format!("\"{field}\" exceeds {MAX_EVIDENCE_BYTES} bytes"));
    }
    STANDARD
        .decode(text)
        .map_err(|e| format!("\"{field}\" is not base64: {e}"))
}

impl Evidence {
    /// Decodes `{"quote", "cc_eventlog"}` JSON (standard base64); Err describes what is wrong.
    pub fn from_json(evidence: &Value) -> Result<Evidence, String> {
        let object = evidence
            .as_object()
            .ok_or("TDX evidence must be a JSON object {\"quote\", \"cc_eventlog\"}")?;
        let quote = decode_field("quote", object.get("quote").ok_or("no \"quote\" field")?)?;
        let event_log = match object.get("cc_eventlog") {
            None | Some(Value::Null) => None,
            Some(value) => Some(decode_field("cc_eventlog", value)?),
        };
        Ok(Evidence { quote, event_log })
    }

    /// Standard base64; `cc_eventlog` omitted when there is no log.
    pub fn to_json(&self) -> Value {
        let mut value = json!({ "quote": STANDARD.encode(&self.quote) });
        if let Some(log) = &self.event_log {
            value["cc_eventlog"] = Value::String(STANDARD.encode(log));
        }
        value
    }

    /// A file holding a raw quote (starts with version 4 or 5, key type 2) or the JSON form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Evidence, String> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(format!("evidence exceeds {MAX_EVIDENCE_BYTES} bytes"));
        }
        if matches!(bytes, [4 | 5, 0, 2, 0, ..]) {
            return Ok(Evidence {
                quote: bytes.to_vec(),
                event_log: None,
            });
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| "neither a raw TDX quote (v4/v5) nor TDX evidence JSON")?;
        Self::from_json(&value)
    }
}

/// A structurally valid quote with zero fields except REPORTDATA, zero signatures, 32 bytes of
/// QE authentication data (0, 1, …, 31, as Intel's QE writes) and `pck_chain` as its
/// certification data: what [`Quote::parse`] accepts and no verifier does.
/// For tests and fuzz seeds.
pub fn unsigned_quote(
    version: u16,
    kind: TdBody,
    report_data: &[u8; 64],
    pck_chain: &[u8],
) -> Vec<u8> {
    let mut quote = Vec::new();
    quote.extend_from_slice(&version.to_le_bytes());
    quote.extend_from_slice(&ATTESTATION_KEY_ECDSA_P256.to_le_bytes());
    quote.extend_from_slice(&TEE_TYPE_TDX.to_le_bytes());
    quote.extend_from_slice(&[0u8; 4]);
    quote.extend_from_slice(&INTEL_QE_VENDOR_ID);
    quote.extend_from_slice(&[0u8; 20]);
    if version == 5 {
        let body_type: u16 = if kind == TdBody::Td15 { 3 } else { 2 };
        quote.extend_from_slice(&body_type.to_le_bytes());
        quote.extend_from_slice(&(kind.size() as u32).to_le_bytes());
    }
    let mut body = vec![0u8; kind.size()];
    body[body::REPORT_DATA..body::REPORT_DATA + 64].copy_from_slice(report_data);
    quote.extend_from_slice(&body);
    let mut inner = vec![0u8; QE_REPORT_LEN + 64];
    inner.extend_from_slice(&32u16.to_le_bytes());
    inner.extend(0u8..32);
    inner.extend_from_slice(&CERT_DATA_PCK_CHAIN.to_le_bytes());
    inner.extend_from_slice(&(pck_chain.len() as u32).to_le_bytes());
    inner.extend_from_slice(pck_chain);
    let mut signature = vec![0u8; 128];
    signature.extend_from_slice(&CERT_DATA_QE_REPORT.to_le_bytes());
    signature.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    signature.extend_from_slice(&inner);
    quote.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    quote.extend_from_slice(&signature);
    quote
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(version: u16, kind: TdBody, chain: &[u8]) -> Vec<u8> {
        let mut report_data = [0u8; 64];
        report_data[0] = 0xAB;
        unsigned_quote(version, kind, &report_data, chain)
    }

    #[test]
    fn v4_and_v5_bodies_are_located_by_their_declared_lengths() {
        for (version, kind, signed) in [
            (4, TdBody::Td10, 48 + 584),
            (5, TdBody::Td10, 54 + 584),
            (5, TdBody::Td15, 54 + 648),
        ] {
            let mut bytes = synthetic(version, kind, b"chain");
            bytes.extend_from_slice(&[0u8; 10]);
            let quote = Quote::parse(&bytes).unwrap();
            assert_eq!(quote.version(), version);
            assert_eq!(quote.body_kind(), kind);
            assert_eq!(quote.signed_bytes().len(), signed);
            assert_eq!(quote.body().report_data()[0], 0xAB);
            assert_eq!(quote.body().tee_tcb_svn2().is_some(), kind == TdBody::Td15);
            assert_eq!(quote.signature().pck_chain, b"chain");
            assert_eq!(
                quote.signature().qe_auth_data,
                (0u8..32).collect::<Vec<_>>()
            );
            assert_eq!(quote.trailing(), &[0u8; 10]);
            assert_eq!(quote.declared_bytes().len(), bytes.len() - 10);
        }
    }

    #[test]
    fn every_truncation_and_bad_header_is_an_error() {
        let bytes = synthetic(5, TdBody::Td15, b"chain");
        for len in 0..bytes.len() {
            assert!(Quote::parse(&bytes[..len]).is_err(), "length {len} parsed");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 3;
        assert_eq!(Quote::parse(&wrong_version), Err(QuoteError::Version(3)));
        let mut sgx = bytes.clone();
        sgx[4] = 0;
        assert_eq!(Quote::parse(&sgx), Err(QuoteError::TeeType(0)));
        let mut body_size = bytes.clone();
        body_size[50] = 0x10;
        assert!(matches!(
            Quote::parse(&body_size),
            Err(QuoteError::BodySize { .. })
        ));
        let mut huge = synthetic(4, TdBody::Td10, b"chain");
        huge[632..636].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Quote::parse(&huge),
            Err(QuoteError::SignatureDataTooLong(_))
        ));
    }

    #[test]
    fn evidence_json_round_trips_and_bad_fields_are_errors() {
        let evidence = Evidence {
            quote: vec![4, 0, 2, 0, 1],
            event_log: Some(vec![9; 3]),
        };
        assert_eq!(
            Evidence::from_json(&evidence.to_json()),
            Ok(evidence.clone())
        );
        let bytes = serde_json::to_vec(&evidence.to_json()).unwrap();
        assert_eq!(Evidence::from_file_bytes(&bytes), Ok(evidence));
        assert_eq!(
            Evidence::from_file_bytes(&[5, 0, 2, 0]).unwrap().quote,
            vec![5, 0, 2, 0]
        );
        let without_log = Evidence {
            quote: vec![1],
            event_log: None,
        };
        assert_eq!(without_log.to_json(), json!({"quote": "AQ=="}));
        assert!(Evidence::from_json(&json!({"quote": 5})).is_err());
        assert!(Evidence::from_json(&json!({"quote": "!!"})).is_err());
        assert!(Evidence::from_json(&json!({"cc_eventlog": ""})).is_err());
        assert!(Evidence::from_json(&json!([1])).is_err());
        assert!(Evidence::from_file_bytes(b"garbage").is_err());
    }
}
