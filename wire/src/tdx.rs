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

use thiserror::Error;

pub const HEADER_LEN: usize = 48;
/// TD report body of TDX 1.0 (`TD_REPORT10`, quote body type 2).
pub const TD10_BODY_LEN: usize = 584;
/// TD report body of TDX 1.5 (`TD_REPORT15`, body type 3): TDX 1.0 + TEE_TCB_SVN2 + MRSERVICETD.
pub const TD15_BODY_LEN: usize = 648;
/// SGX enclave report body: the QE report.
pub const QE_REPORT_LEN: usize = 384;
pub const TEE_TYPE_TDX: u32 = 0x81;
pub const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// Certification data wrapping the QE report (outer) and the PCK chain in PEM (inner).
pub const CERT_DATA_QE_REPORT: u16 = 6;
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Intel's QE vendor id, the only one appearing on TDX platforms.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Bound on the signature data: a PCK chain is ~4 KiB; anything far larger is not a quote.
pub const MAX_SIGNATURE_DATA_LEN: usize = 64 * 1024;

/// Offsets within a TD report body.
pub mod body {
    pub const TEE_TCB_SVN: usize = 0;
    pub const MR_SEAM: usize = 16;
    pub const MR_SIGNER_SEAM: usize = 64;
    pub const SEAM_ATTRIBUTES: usize = 112;
    pub const TD_ATTRIBUTES: usize = 120;
    pub const XFAM: usize = 128;
    pub const MR_TD: usize = 136;
    pub const MR_CONFIG_ID: usize = 184;
    pub const MR_OWNER: usize = 232;
    pub const MR_OWNER_CONFIG: usize = 280;
    pub const RTMR0: usize = 328;
    pub const REPORT_DATA: usize = 520;
    /// TDX 1.5 only.
    pub const TEE_TCB_SVN2: usize = 584;
    pub const MR_SERVICE_TD: usize = 600;
}

/// Offsets within a QE (SGX) report.
pub mod qe {
    pub const CPU_SVN: usize = 0;
    pub const MISC_SELECT: usize = 16;
    pub const ATTRIBUTES: usize = 48;
    pub const MR_ENCLAVE: usize = 64;
    pub const MR_SIGNER: usize = 128;
    pub const ISV_PROD_ID: usize = 256;
    pub const ISV_SVN: usize = 258;
    pub const REPORT_DATA: usize = 320;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuoteError {
    #[error("quote too short: {what} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("unsupported quote version {0} (supported: 4, 5)")]
    Version(u16),
    #[error("attestation key type {0} is not ECDSA P-256 (2)")]
    AttestationKeyType(u16),
    #[error("TEE type {0:#x} is not TDX (0x81)")]
    TeeType(u32),
    #[error("quote v5 body type {0} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)")]
    BodyType(u16),
    #[error("quote v5 body type {body_type} declares {declared} bytes, expected {expected}")]
    BodySize {
        body_type: u16,
        declared: u32,
        expected: usize,
    },
    #[error("signature data length {0} exceeds the {MAX_SIGNATURE_DATA_LEN}-byte bound")]
    SignatureDataTooLong(u32),
    #[error("{which} certification data type {found}, expected {expected}")]
    CertificationDataType {
        which: &'static str,
        found: u16,
        expected: u16,
    },
    #[error("{which} certification data declares {declared} bytes but its container holds {holds}")]
    CertificationDataLength {
        which: &'static str,
        declared: usize,
        holds: usize,
    },
}

/// Which TD report body the quote carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdBody {
    Td10,
    Td15,
}

impl TdBody {
    pub fn size(self) -> usize {
        match self {
            TdBody::Td10 => TD10_BODY_LEN,
            TdBody::Td15 => TD15_BODY_LEN,
        }
    }

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
    pub qe_auth_data: &'a [u8],
    /// PEM certificates, PCK leaf first.
    pub pck_chain: &'a [u8],
}

impl<'a> Quote<'a> {
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

    pub fn version(&self) -> u16 {
        self.version
    }

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

    pub fn header(&self) -> &'a [u8; HEADER_LEN] {
        self.bytes[..HEADER_LEN]
            .try_into()
            .expect("parse checked the header length")
    }

    pub fn qe_svn(&self) -> u16 {
        u16::from_le_bytes([self.bytes[8], self.bytes[9]])
    }

    pub fn pce_svn(&self) -> u16 {
        u16::from_le_bytes([self.bytes[10], self.bytes[11]])
    }

    pub fn qe_vendor_id(&self) -> &'a [u8] {
        &self.bytes[12..28]
    }

    pub fn user_data(&self) -> &'a [u8] {
        &self.bytes[28..48]
    }

    pub fn body(&self) -> TdReport<'a> {
        TdReport(self.body)
    }

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

    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn tee_tcb_svn(&self) -> [u8; 16] {
        self.field(body::TEE_TCB_SVN, 16).try_into().expect("16")
    }

    pub fn mr_seam(&self) -> &'a [u8] {
        self.field(body::MR_SEAM, 48)
    }

    pub fn mr_signer_seam(&self) -> &'a [u8] {
        self.field(body::MR_SIGNER_SEAM, 48)
    }

    pub fn seam_attributes(&self) -> [u8; 8] {
        self.field(body::SEAM_ATTRIBUTES, 8).try_into().expect("8")
    }

    pub fn td_attributes(&self) -> [u8; 8] {
        self.field(body::TD_ATTRIBUTES, 8).try_into().expect("8")
    }

    pub fn xfam(&self) -> [u8; 8] {
        self.field(body::XFAM, 8).try_into().expect("8")
    }

    pub fn mr_td(&self) -> &'a [u8] {
        self.field(body::MR_TD, 48)
    }

    pub fn mr_config_id(&self) -> &'a [u8] {
        self.field(body::MR_CONFIG_ID, 48)
    }

    pub fn mr_owner(&self) -> &'a [u8] {
        self.field(body::MR_OWNER, 48)
    }

    pub fn mr_owner_config(&self) -> &'a [u8] {
        self.field(body::MR_OWNER_CONFIG, 48)
    }

    /// RTMR `index` (0..=3).
    pub fn rtmr(&self, index: usize) -> Option<&'a [u8]> {
        (index < 4).then(|| self.field(body::RTMR0 + 48 * index, 48))
    }

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
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;
    pub const PKS: u64 = 1 << 30;
    pub const KL: u64 = 1 << 31;
    pub const PERFMON: u64 = 1 << 63;
}

/// The QE's SGX report (384 bytes, checked by [`Quote::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QeReport<'a>(&'a [u8]);

impl<'a> QeReport<'a> {
    fn field(&self, offset: usize, len: usize) -> &'a [u8] {
        &self.0[offset..offset + len]
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn cpu_svn(&self) -> &'a [u8] {
        self.field(qe::CPU_SVN, 16)
    }

    pub fn misc_select(&self) -> [u8; 4] {
        self.field(qe::MISC_SELECT, 4).try_into().expect("4")
    }

    pub fn attributes(&self) -> &'a [u8] {
        self.field(qe::ATTRIBUTES, 16)
    }

    pub fn mr_enclave(&self) -> &'a [u8] {
        self.field(qe::MR_ENCLAVE, 32)
    }

    pub fn mr_signer(&self) -> &'a [u8] {
        self.field(qe::MR_SIGNER, 32)
    }

    pub fn isv_prod_id(&self) -> u16 {
        u16::from_le_bytes(self.field(qe::ISV_PROD_ID, 2).try_into().expect("2"))
    }

    pub fn isv_svn(&self) -> u16 {
        u16::from_le_bytes(self.field(qe::ISV_SVN, 2).try_into().expect("2"))
    }

    pub fn report_data(&self) -> &'a [u8] {
        self.field(qe::REPORT_DATA, 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A structurally valid v4 or v5 quote with zero fields (no meaningful signatures).
    pub(crate) fn synthetic(version: u16, kind: TdBody, chain: &[u8]) -> Vec<u8> {
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
        body[body::REPORT_DATA] = 0xAB;
        quote.extend_from_slice(&body);
        let mut inner = Vec::new();
        inner.extend_from_slice(&[0u8; QE_REPORT_LEN + 64]);
        inner.extend_from_slice(&2u16.to_le_bytes());
        inner.extend_from_slice(&[7, 7]);
        inner.extend_from_slice(&CERT_DATA_PCK_CHAIN.to_le_bytes());
        inner.extend_from_slice(&(chain.len() as u32).to_le_bytes());
        inner.extend_from_slice(chain);
        let mut signature = vec![0u8; 128];
        signature.extend_from_slice(&CERT_DATA_QE_REPORT.to_le_bytes());
        signature.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        signature.extend_from_slice(&inner);
        quote.extend_from_slice(&(signature.len() as u32).to_le_bytes());
        quote.extend_from_slice(&signature);
        quote
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
            assert_eq!(quote.signature().qe_auth_data, &[7, 7]);
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
}
