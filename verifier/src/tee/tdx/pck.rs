//! Intel's SGX/TDX PKI: the pinned Intel SGX Root CA and the SGX extensions of PCK
//! certificates (OID 1.2.840.113741.1.13.1): FMSPC, PCE-ID, the 16 CPU SVN components, PCE SVN
//! and the SGX type, which select the platform's TCB level.

use x509_parser::certificate::X509Certificate;

use crate::x509::{CertError, Scheme, X509Cert, pem_certificates};

/// Intel signs every certificate, CRL and collateral item with ECDSA P-256/SHA-256.
pub const INTEL_SCHEMES: &[Scheme] = &[Scheme::EcdsaP256Sha256];

/// An Intel certificate; PCK certificates carry their SGX extensions.
pub type IntelCert = X509Cert<Option<PckExtensions>>;

const ROOT_CA_DER: &[u8] = include_bytes!("roots/Intel_SGX_RootCA.der");

/// The pinned Intel SGX Root CA (SHA-256 `44A0196B…74D3`, asserted by a test).
pub fn pinned_root() -> IntelCert {
    // A constant checked by `pinned_root_is_intels`; failing to parse it would be a build defect.
    parse_intel_cert(ROOT_CA_DER).expect("the compiled-in Intel SGX Root CA parses")
}

/// Parses one DER certificate; `ext` holds its SGX extensions when it is a PCK certificate.
pub fn parse_intel_cert(der: &[u8]) -> Result<IntelCert, CertError> {
    X509Cert::parse_with(der, |cert| pck_extensions_of(cert).ok())
}

/// Certificates a quote's PCK chain may hold: leaf, intermediate CA, root.
const MAX_PCK_CHAIN_CERTS: usize = 4;

/// Why a quote's PCK chain is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PckChainError {
    /// A certificate does not parse or a signature does not verify.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// A certificate other than the PCK certificate and its issuer is not the trusted root.
    #[error(
        "certificate {position} of the quote's PCK chain differs from the pinned {root} and is \
         not the PCK certificate's issuer ({why})"
    )]
    NotTheRoot {
        /// Its position in the chain, from 1 (the PCK certificate).
        position: usize,
        /// The trusted root's common name.
        root: String,
        /// Why it is not the issuer.
        why: String,
    },
}

/// Check details read errors as text.
impl From<PckChainError> for String {
    fn from(error: PckChainError) -> String {
        error.to_string()
    }
}

/// A certificate of the chain that is neither the PCK certificate nor its issuer.
#[derive(Debug, Clone)]
struct OtherCert {
    position: usize,
    der: Vec<u8>,
    why: String,
}

/// A quote's PCK chain as read, not yet verified: the PCK certificate and the CA certificate it
/// names as its issuer. Any other certificate must be a byte-identical copy of the root the
/// chain is verified with (Intel's chains end in one): the root is pinned, so a copy is never
/// used, but one that differs is refused rather than ignored.
#[derive(Debug, Clone)]
pub struct PckChain {
    /// The PCK certificate.
    pub leaf: IntelCert,
    /// The CA certificate that issued it (PCK Platform or Processor CA).
    pub ca: IntelCert,
    /// The PCK certificate's SGX extensions.
    pub extensions: PckExtensions,
    others: Vec<OtherCert>,
}

impl PckChain {
    /// Reads the PEM chain of a quote's certification data.
    pub fn read(pem: &[u8]) -> Result<PckChain, String> {
        let ders = pem_certificates(pem)?;
        let Some((leaf, rest)) = ders
            .split_first()
            .filter(|_| ders.len() <= MAX_PCK_CHAIN_CERTS)
        else {
            return Err(format!(
                "the quote's PCK chain holds {} certificates (1..={MAX_PCK_CHAIN_CERTS} expected)",
                ders.len()
            ));
        };
        let leaf = parse_intel_cert(leaf)?;
        let extensions = leaf
            .ext
            .clone()
            .ok_or_else(|| format!("{} is not a PCK certificate", leaf.name()))?;
        let (mut ca, mut others) = (None, Vec::new());
        for (position, der) in (2..).zip(rest) {
            // A certificate that does not parse is kept by its bytes: it may be the root's copy,
            // which `verify` judges by its bytes alone.
            let why = match parse_intel_cert(der) {
                Ok(cert) if ca.is_none() && leaf.names_issuer(&cert) => {
                    ca = Some(cert);
                    continue;
                }
                Ok(cert) => format!("{} is not its issuer", cert.name()),
                Err(e) => e.to_string(),
            };
            others.push(OtherCert {
                position,
                der: der.clone(),
                why,
            });
        }
        let ca = ca.ok_or_else(|| {
            let reasons = others
                .iter()
                .map(|other| format!("; certificate {}: {}", other.position, other.why));
            format!("the quote's chain lacks the issuer of {}", leaf.name())
                + &reasons.collect::<String>()
        })?;
        Ok(PckChain {
            leaf,
            ca,
            extensions,
            others,
        })
    }

    /// Checks that every other certificate is a byte-identical copy of `root`, then the
    /// signatures: CA ← `root`, PCK ← CA (validity windows are the caller's, at its verification
    /// time).
    pub fn verify(&self, root: &IntelCert) -> Result<(), PckChainError> {
        if let Some(other) = self.others.iter().find(|other| other.der != root.der) {
            return Err(PckChainError::NotTheRoot {
                position: other.position,
                root: root.name().to_owned(),
                why: other.why.clone(),
            });
        }
        self.ca.verify_issued_by_with(root, INTEL_SCHEMES)?;
        Ok(self.leaf.verify_issued_by_with(&self.ca, INTEL_SCHEMES)?)
    }
}

/// What a PCK certificate says about the platform it certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PckExtensions {
    /// The platform family (FMSPC), which selects the TCB info.
    pub fmspc: [u8; 6],
    /// The PCE's id.
    pub pce_id: [u8; 2],
    /// The 16 SGX TCB component SVNs (`1.2.840.113741.1.13.1.2.1`..`.16`).
    pub cpu_svn_components: [u8; 16],
    /// The PCE's SVN.
    pub pce_svn: u16,
    /// CPUSVN as one 16-byte string (`.2.18`).
    pub cpu_svn: [u8; 16],
    /// 0 = Standard, 1 = Scalable, 2 = Scalable with integrity.
    pub sgx_type: u8,
}

/// DER content octets of OID 1.2.840.113741.1.13.1 (Intel SGX extensions).
const SGX_EXTENSIONS_OID: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01];
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_ENUMERATED: u8 = 0x0A;
const TAG_SEQUENCE: u8 = 0x30;

/// Splits one DER TLV off `input`: (tag, contents, rest). Definite lengths up to 4 bytes only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7F) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Iterates the `SEQUENCE { OID, value }` entries of a DER SEQUENCE's contents.
fn entries(mut contents: &[u8]) -> impl Iterator<Item = Option<(&[u8], u8, &[u8])>> {
    std::iter::from_fn(move || {
        if contents.is_empty() {
            return None;
        }
        let Some((TAG_SEQUENCE, entry, rest)) = tlv(contents) else {
            contents = &[];
            return Some(None);
        };
        contents = rest;
        let parsed = tlv(entry).and_then(|(tag, oid, value)| {
            let (value_tag, value, _) = tlv(value)?;
            (tag == TAG_OID).then_some((oid, value_tag, value))
        });
        Some(parsed)
    })
}

/// A DER INTEGER that fits `u16` (non-negative).
fn small_uint(value: &[u8]) -> Option<u16> {
    match value {
        [b] if *b < 0x80 => Some(*b as u16),
        [0, b] if *b >= 0x80 => Some(*b as u16),
        [b0, b1] if *b0 < 0x80 && *b0 != 0 => Some(u16::from_be_bytes([*b0, *b1])),
        [0, b0, b1] if *b0 >= 0x80 => Some(u16::from_be_bytes([*b0, *b1])),
        _ => None,
    }
}

fn sub_arc<'a>(oid: &'a [u8], parent: &[u8]) -> Option<&'a [u8]> {
    oid.strip_prefix(parent)
}

fn pck_extensions_of(cert: &X509Certificate<'_>) -> Result<PckExtensions, String> {
    let extension = cert
        .extensions()
        .iter()
        .find(|ext| ext.oid.as_bytes() == SGX_EXTENSIONS_OID)
        .ok_or("no Intel SGX extensions")?;
    parse_sgx_extensions(extension.value)
}

/// Parses the SGX extensions' value (a DER SEQUENCE of `{OID, value}` entries).
pub fn parse_sgx_extensions(der: &[u8]) -> Result<PckExtensions, String> {
    let malformed = || "malformed Intel SGX extensions".to_string();
    let (TAG_SEQUENCE, contents, _) = tlv(der).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    let (mut fmspc, mut pce_id, mut tcb, mut sgx_type) = (None, None, None, None);
    for entry in entries(contents) {
        let (oid, tag, value) = entry.ok_or_else(malformed)?;
        match (sub_arc(oid, &SGX_EXTENSIONS_OID), tag) {
            (Some([0x02]), TAG_SEQUENCE) => tcb = Some(parse_tcb(value).ok_or_else(malformed)?),
            (Some([0x03]), TAG_OCTET_STRING) => pce_id = value.try_into().ok(),
            (Some([0x04]), TAG_OCTET_STRING) => fmspc = value.try_into().ok(),
            (Some([0x05]), TAG_ENUMERATED) => sgx_type = small_uint(value),
            _ => {}
        }
    }
    let (cpu_svn_components, pce_svn, cpu_svn) = tcb.ok_or("no TCB in the SGX extensions")?;
    Ok(PckExtensions {
        fmspc: fmspc.ok_or("no FMSPC in the SGX extensions")?,
        pce_id: pce_id.ok_or("no PCE-ID in the SGX extensions")?,
        cpu_svn_components,
        pce_svn,
        cpu_svn,
        sgx_type: sgx_type
            .and_then(|t| u8::try_from(t).ok())
            .ok_or("no SGX type in the SGX extensions")?,
    })
}

fn parse_tcb(contents: &[u8]) -> Option<([u8; 16], u16, [u8; 16])> {
    let mut tcb_arc = SGX_EXTENSIONS_OID.to_vec();
    tcb_arc.push(0x02);
    let mut components = [None; 16];
    let (mut pce_svn, mut cpu_svn) = (None, None);
    for entry in entries(contents) {
        let (oid, tag, value) = entry?;
        match (sub_arc(oid, &tcb_arc)?, tag) {
            ([n @ 1..=16], TAG_INTEGER) => {
                components[*n as usize - 1] = Some(u8::try_from(small_uint(value)?).ok()?)
            }
            ([17], TAG_INTEGER) => pce_svn = small_uint(value),
            ([18], TAG_OCTET_STRING) => cpu_svn = value.try_into().ok(),
            _ => {}
        }
    }
    let mut svns = [0u8; 16];
    for (slot, component) in svns.iter_mut().zip(components) {
        *slot = component?;
    }
    Some((svns, pce_svn?, cpu_svn?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_root_is_intels() {
        let root = pinned_root();
        assert_eq!(
            hex::encode_upper(root.fingerprint),
            "44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3"
        );
        assert_eq!(root.name(), "Intel SGX Root CA");
        root.verify_issued_by_with(&root, INTEL_SCHEMES).unwrap();
        assert!(root.ext.is_none());
    }

    #[test]
    fn der_reader_rejects_truncation_and_odd_lengths() {
        assert_eq!(
            tlv(&[0x04, 2, 1, 2, 9]),
            Some((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(tlv(&[0x04, 3, 1, 2]), None);
        assert_eq!(tlv(&[0x04, 0x81]), None);
        assert_eq!(tlv(&[0x04, 0x80]), None, "indefinite length");
        assert_eq!(tlv(&[0x04, 0x81, 1, 7]), Some((0x04, &[7u8][..], &[][..])));
        assert_eq!(small_uint(&[0x0B]), Some(11));
        assert_eq!(small_uint(&[0x00, 0x80]), Some(128));
        assert_eq!(small_uint(&[0x80]), None, "negative");
        assert!(parse_sgx_extensions(&[0x30, 0x03, 0x30, 0x01, 0x06]).is_err());
        assert!(parse_sgx_extensions(&[]).is_err());
    }
}
