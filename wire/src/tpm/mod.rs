//! TPM 2.0 structures as they travel in evidence (TCG TPM 2.0 Library, Part 2: Structures),
//! the PCR-digest computation a quote commits to, Warden's TPM evidence JSON, and the server
//! side of credential activation ([`credential`]).
//!
//! All TPM integers are big-endian. Every parser reads by declared sizes, bounds each size by
//! the limit Part 2 gives the buffer, refuses trailing bytes and never panics.
//!
//! * [`Attest`]: a `TPMS_ATTEST` of type `TPM_ST_ATTEST_QUOTE`, the bytes an AK signs.
//! * [`Signature`]: a `TPMT_SIGNATURE` (RSASSA, RSAPSS, ECDSA).
//! * [`PublicKey`]: a `TPMT_PUBLIC` (RSA or ECC), with its object attributes and TPM name.

pub mod credential;
mod evidence;
mod reader;
pub mod registration;

pub use evidence::{
    AkPublic, Evidence, EvidenceError, EvidenceJson, MAX_EVIDENCE_BYTES, QuoteJson, SignedQuote,
};

use reader::Reader;
use sha2::{Digest, Sha256, Sha384, Sha512};
use thiserror::Error;

/// `TPM_GENERATED_VALUE`: every structure a TPM signs starts with it, and a restricted signing
/// key refuses to sign data that does.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`: the `type` of a `TPMS_ATTEST` produced by TPM2_Quote.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;

/// TPM_ALG_RSA.
pub const ALG_RSA: u16 = 0x0001;
/// TPM_ALG_SHA1.
pub const ALG_SHA1: u16 = 0x0004;
/// TPM_ALG_SHA256.
pub const ALG_SHA256: u16 = 0x000B;
/// TPM_ALG_SHA384.
pub const ALG_SHA384: u16 = 0x000C;
/// TPM_ALG_SHA512.
pub const ALG_SHA512: u16 = 0x000D;
/// TPM_ALG_NULL.
pub const ALG_NULL: u16 = 0x0010;
/// TPM_ALG_RSASSA (RSASSA-PKCS1-v1_5).
pub const ALG_RSASSA: u16 = 0x0014;
/// TPM_ALG_RSAPSS.
pub const ALG_RSAPSS: u16 = 0x0016;
/// TPM_ALG_ECDSA.
pub const ALG_ECDSA: u16 = 0x0018;
/// TPM_ALG_ECDAA.
pub const ALG_ECDAA: u16 = 0x001A;
/// TPM_ALG_ECC.
pub const ALG_ECC: u16 = 0x0023;
/// TPM_ECC_NIST_P256.
pub const ECC_NIST_P256: u16 = 0x0003;
/// TPM_ECC_NIST_P384.
pub const ECC_NIST_P384: u16 = 0x0004;

/// `TPMA_OBJECT` bits an attestation key is judged by.
pub mod attributes {
    /// `fixedTPM`: the key cannot be duplicated out of this TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// `fixedParent`: the key cannot be re-parented.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// `sensitiveDataOrigin`: the TPM generated the key's private part.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// `restricted`: the key only signs or decrypts TPM-formatted data.
    pub const RESTRICTED: u32 = 1 << 16;
    /// `decrypt`: the key may decrypt.
    pub const DECRYPT: u32 = 1 << 17;
    /// `sign`: the key may sign.
    pub const SIGN: u32 = 1 << 18;
}

/// `TPM2B_DATA` holds at most `sizeof(TPMT_HA)`: a 2-byte algorithm and the largest digest the
/// TPM implements (64 bytes with SHA-512). The runtime-data binding is 48 bytes, so it fits any
/// TPM that implements SHA-384 (swtpm, the GCE and Azure vTPMs), not a SHA-256-only one.
pub const MAX_EXTRA_DATA: usize = 66;
/// `TPM2B_NAME` holds at most `sizeof(TPMU_NAME)`: a TPMT_HA or a 4-byte handle.
pub const MAX_NAME: usize = 66;
/// A `TPML_PCR_SELECTION` lists at most one selection per implemented bank (`HASH_COUNT`).
pub const MAX_PCR_BANKS: usize = 16;
/// `PCR_SELECT_MAX`: 24 PCRs take 3 bytes; 32 bytes leave room for any implementation.
pub const MAX_PCR_SELECT: usize = 32;
/// The largest RSA key (and signature) accepted: 4096 bits.
pub const MAX_RSA_BYTES: usize = 512;
/// The largest ECC coordinate accepted (P-521).
pub const MAX_ECC_BYTES: usize = 66;
/// The largest authPolicy digest (SHA-512).
pub const MAX_DIGEST: usize = 64;

/// Why TPM bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TpmError {
    /// A field runs past the end of its structure.
    #[error("{field} at byte {offset} runs past the end of the {structure}")]
    Truncated {
        /// The structure being parsed.
        structure: &'static str,
        /// The field being read.
        field: &'static str,
        /// Byte offset of the field in the structure.
        offset: usize,
    },
    /// A size field declares more bytes than the structure allows.
    #[error("{field} declares {size} bytes, more than the {max} a {structure} allows")]
    TooLarge {
        /// The structure being parsed.
        structure: &'static str,
        /// The size field.
        field: &'static str,
        /// The size it declares.
        size: usize,
        /// The most the structure allows.
        max: usize,
    },
    /// Bytes follow a structure that must end the input.
    #[error("{count} bytes follow the {structure}")]
    TrailingBytes {
        /// The structure that was parsed.
        structure: &'static str,
        /// Number of bytes after it.
        count: usize,
    },
    /// The magic is not [`TPM_GENERATED_VALUE`]; holds it.
    #[error("magic {0:#010x} is not TPM_GENERATED_VALUE (0xff544347): not TPM-generated")]
    Magic(u32),
    /// The `TPMS_ATTEST` type is not [`TPM_ST_ATTEST_QUOTE`]; holds it.
    #[error("attestation type {0:#06x} is not TPM_ST_ATTEST_QUOTE (0x8018)")]
    NotAQuote(u16),
    /// An algorithm is not supported where it appears.
    #[error("{structure}: algorithm {algorithm:#06x} is not supported for {what}")]
    Unsupported {
        /// The structure being parsed.
        structure: &'static str,
        /// What the algorithm was for (e.g. "a signature", "nameAlg").
        what: &'static str,
        /// The TPM_ALG_ID found.
        algorithm: u16,
    },
    /// A `TPML_PCR_SELECTION` selects the same bank twice.
    #[error("PCR selection for bank {bank:#06x} appears twice")]
    RepeatedBank {
        /// TPM_ALG_ID of the bank.
        bank: u16,
    },
}

/// A hash algorithm a PCR bank or a signature scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1 (TPM_ALG_SHA1).
    Sha1,
    /// SHA-256 (TPM_ALG_SHA256).
    Sha256,
    /// SHA-384 (TPM_ALG_SHA384).
    Sha384,
    /// SHA-512 (TPM_ALG_SHA512).
    Sha512,
}

impl HashAlg {
    /// The algorithm with TPM_ALG_ID `id`, `None` when it is not one of these.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            ALG_SHA1 => Some(Self::Sha1),
            ALG_SHA256 => Some(Self::Sha256),
            ALG_SHA384 => Some(Self::Sha384),
            ALG_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The algorithm's TPM_ALG_ID.
    pub fn id(self) -> u16 {
        match self {
            Self::Sha1 => ALG_SHA1,
            Self::Sha256 => ALG_SHA256,
            Self::Sha384 => ALG_SHA384,
            Self::Sha512 => ALG_SHA512,
        }
    }

    /// The bank name used in evidence JSON and claims.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The algorithm named `name` as [`HashAlg::name`] spells it, `None` for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|alg| alg.name() == name)
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Hashes the concatenation of `parts`.
    pub fn digest<'a>(self, parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        fn run<D: Digest>(parts: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<sha1::Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    fn from_wire(id: u16, structure: &'static str, what: &'static str) -> Result<Self, TpmError> {
        Self::from_id(id).ok_or(TpmError::Unsupported {
            structure,
            what,
            algorithm: id,
        })
    }
}

/// `TPMS_CLOCK_INFO`. On keys outside the endorsement hierarchy the TPM obfuscates
/// `reset_count`, `restart_count` (and the firmware version): they are stable per key, not
/// comparable across keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// `clock`: a millisecond count that advances while the TPM is powered.
    pub clock: u64,
    /// `resetCount`: TPM Resets since the last TPM2_Clear.
    pub reset_count: u32,
    /// `restartCount`: TPM2_Shutdown (or _TPM_Hash_Start) events since the last TPM Reset or
    /// TPM2_Clear.
    pub restart_count: u32,
    /// `safe`: no `clock` value greater than this one has been reported before.
    pub safe: bool,
}

/// One `TPMS_PCR_SELECTION`: a bank and the PCR indices selected in it, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    /// The PCR bank (`hash`).
    pub bank: HashAlg,
    /// Selected PCR indices, ascending.
    pub pcrs: Vec<u32>,
}

/// A `TPMS_ATTEST` of type `TPM_ST_ATTEST_QUOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    /// `qualifiedSigner`: the TPM name of the signing key's qualified name.
    pub qualified_signer: Vec<u8>,
    /// `extraData`: the caller's qualifying data (the nonce / runtime-data binding).
    pub extra_data: Vec<u8>,
    /// `clockInfo`: TPMS_CLOCK_INFO.
    pub clock_info: ClockInfo,
    /// `firmwareVersion`: vendor-specific TPM firmware version.
    pub firmware_version: u64,
    /// `pcrSelect`: the PCRs the quote covers (TPML_PCR_SELECTION).
    pub pcr_selection: Vec<PcrSelection>,
    /// `pcrDigest`: hash (by the signing scheme's algorithm) of the selected PCR values in
    /// selection order.
    pub pcr_digest: Vec<u8>,
}

impl Attest {
    /// Parses a quote's `TPMS_ATTEST`. Nothing may follow it.
    pub fn parse(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut reader = Reader::new(bytes, "TPMS_ATTEST");
        let magic = reader.u32("magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(TpmError::Magic(magic));
        }
        let kind = reader.u16("type")?;
        if kind != TPM_ST_ATTEST_QUOTE {
            return Err(TpmError::NotAQuote(kind));
        }
        let qualified_signer = reader.sized("qualifiedSigner", MAX_NAME)?.to_vec();
        let extra_data = reader.sized("extraData", MAX_EXTRA_DATA)?.to_vec();
        let clock_info = ClockInfo {
            clock: reader.u64("clock")?,
            reset_count: reader.u32("resetCount")?,
            restart_count: reader.u32("restartCount")?,
            safe: reader.u8("safe")? != 0,
        };
        let firmware_version = reader.u64("firmwareVersion")?;
        let pcr_selection = read_pcr_selection(&mut reader)?;
        let pcr_digest = reader.sized("pcrDigest", MAX_DIGEST)?.to_vec();
        reader.finish()?;
        Ok(Attest {
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            pcr_selection,
            pcr_digest,
        })
    }
}

fn read_pcr_selection(reader: &mut Reader<'_>) -> Result<Vec<PcrSelection>, TpmError> {
    let count = reader.len_u32("pcrSelect count", MAX_PCR_BANKS)?;
    let mut selections: Vec<PcrSelection> = Vec::with_capacity(count);
    for _ in 0..count {
        let bank_id = reader.u16("pcrSelect hash")?;
        let bank = HashAlg::from_wire(bank_id, "TPMS_PCR_SELECTION", "a PCR bank")?;
        if selections.iter().any(|selection| selection.bank == bank) {
            return Err(TpmError::RepeatedBank { bank: bank_id });
        }
        let size = usize::from(reader.u8("sizeofSelect")?);
        if size > MAX_PCR_SELECT {
            return Err(TpmError::TooLarge {
                structure: "TPMS_PCR_SELECTION",
                field: "sizeofSelect",
                size,
                max: MAX_PCR_SELECT,
            });
        }
        let bitmap = reader.take(size, "pcrSelect")?;
        // Bit b of byte i selects PCR 8i + b.
        let pcrs = (0..size * 8)
            .filter(|&pcr| bitmap[pcr / 8] & (1 << (pcr % 8)) != 0)
            .filter_map(|pcr| u32::try_from(pcr).ok())
            .collect();
        selections.push(PcrSelection { bank, pcrs });
    }
    Ok(selections)
}

/// Why a quote's PCR digest cannot be recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcrValueError {
    /// A selected PCR's value is not reported.
    Missing {
        /// The PCR's bank.
        bank: HashAlg,
        /// The PCR index.
        pcr: u32,
    },
    /// A reported value is not one digest of its bank: values are hashed concatenated, so a
    /// wrong length would let them be re-split across indices.
    WrongLength {
        /// The PCR's bank.
        bank: HashAlg,
        /// The PCR index.
        pcr: u32,
        /// Length of the reported value in bytes.
        len: usize,
    },
}

impl std::fmt::Display for PcrValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PcrValueError::Missing { bank, pcr } => {
                write!(
                    f,
                    "{} PCR {pcr} is selected but its value is not reported",
                    bank.name()
                )
            }
            PcrValueError::WrongLength { bank, pcr, len } => write!(
                f,
                "{} PCR {pcr} is reported with {len} bytes, not {}",
                bank.name(),
                bank.digest_len()
            ),
        }
    }
}

/// The PCR digest a quote commits to: `hash` over the values of every selected PCR, bank by
/// bank in selection order, ascending index within a bank. `value` returns a PCR's value, or
/// `None` when it is unknown (then so is the digest, and the PCR is named).
pub fn pcr_digest<'a>(
    hash: HashAlg,
    selection: &[PcrSelection],
    mut value: impl FnMut(HashAlg, u32) -> Option<&'a [u8]>,
) -> Result<Vec<u8>, PcrValueError> {
    let mut parts = Vec::new();
    for selected in selection {
        let (bank, digest_len) = (selected.bank, selected.bank.digest_len());
        for &pcr in &selected.pcrs {
            let part = value(bank, pcr).ok_or(PcrValueError::Missing { bank, pcr })?;
            if part.len() != digest_len {
                return Err(PcrValueError::WrongLength {
                    bank,
                    pcr,
                    len: part.len(),
                });
            }
            parts.push(part);
        }
    }
    Ok(hash.digest(parts))
}

/// A `TPMT_SIGNATURE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// RSASSA-PKCS1-v1_5 (TPM_ALG_RSASSA).
    RsaSsa {
        /// Hash the signature was made with.
        hash: HashAlg,
        /// The signature, `sig` (TPM2B_PUBLIC_KEY_RSA), big-endian.
        signature: Vec<u8>,
    },
    /// RSASSA-PSS (TPM_ALG_RSAPSS).
    RsaPss {
        /// Hash the signature was made with.
        hash: HashAlg,
        /// The signature, `sig` (TPM2B_PUBLIC_KEY_RSA), big-endian.
        signature: Vec<u8>,
    },
    /// ECDSA (TPM_ALG_ECDSA).
    Ecdsa {
        /// Hash the signature was made with.
        hash: HashAlg,
        /// `signatureR` (TPM2B_ECC_PARAMETER), big-endian.
        r: Vec<u8>,
        /// `signatureS` (TPM2B_ECC_PARAMETER), big-endian.
        s: Vec<u8>,
    },
}

impl Signature {
    /// Parses a `TPMT_SIGNATURE`. Nothing may follow it.
    pub fn parse(bytes: &[u8]) -> Result<Self, TpmError> {
        const STRUCTURE: &str = "TPMT_SIGNATURE";
        let mut reader = Reader::new(bytes, STRUCTURE);
        let algorithm = reader.u16("sigAlg")?;
        let signature = match algorithm {
            ALG_RSASSA | ALG_RSAPSS => {
                let hash = HashAlg::from_wire(reader.u16("hash")?, STRUCTURE, "a signature")?;
                let signature = reader.sized("sig", MAX_RSA_BYTES)?.to_vec();
                if algorithm == ALG_RSASSA {
                    Signature::RsaSsa { hash, signature }
                } else {
                    Signature::RsaPss { hash, signature }
                }
            }
            ALG_ECDSA => {
                let hash = HashAlg::from_wire(reader.u16("hash")?, STRUCTURE, "a signature")?;
                let r = reader.sized("signatureR", MAX_ECC_BYTES)?.to_vec();
                let s = reader.sized("signatureS", MAX_ECC_BYTES)?.to_vec();
                Signature::Ecdsa { hash, r, s }
            }
            other => {
                return Err(TpmError::Unsupported {
                    structure: STRUCTURE,
                    what: "a signature",
                    algorithm: other,
                });
            }
        };
        reader.finish()?;
        Ok(signature)
    }

    /// A raw RSASSA-PKCS1-v1_5 signature as a TPMT_SIGNATURE (Azure's HCL quotes carry the
    /// bare signature bytes).
    pub fn rsassa(hash: HashAlg, signature: Vec<u8>) -> Self {
        Signature::RsaSsa { hash, signature }
    }

    /// The `TPMT_SIGNATURE` bytes, as [`Signature::parse`] reads them.
    pub fn marshal(&self) -> Vec<u8> {
        fn sized(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend(u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend(bytes);
        }
        let (algorithm, hash) = match self {
            Signature::RsaSsa { hash, .. } => (ALG_RSASSA, hash),
            Signature::RsaPss { hash, .. } => (ALG_RSAPSS, hash),
            Signature::Ecdsa { hash, .. } => (ALG_ECDSA, hash),
        };
        let mut out = algorithm.to_be_bytes().to_vec();
        out.extend(hash.id().to_be_bytes());
        match self {
            Signature::RsaSsa { signature, .. } | Signature::RsaPss { signature, .. } => {
                sized(&mut out, signature);
            }
            Signature::Ecdsa { r, s, .. } => {
                sized(&mut out, r);
                sized(&mut out, s);
            }
        }
        out
    }

    /// The hash the signature was made with.
    pub fn hash(&self) -> HashAlg {
        match self {
            Signature::RsaSsa { hash, .. }
            | Signature::RsaPss { hash, .. }
            | Signature::Ecdsa { hash, .. } => *hash,
        }
    }

    /// The scheme's name, for claims and messages.
    pub fn scheme(&self) -> &'static str {
        match self {
            Signature::RsaSsa { .. } => "rsassa",
            Signature::RsaPss { .. } => "rsapss",
            Signature::Ecdsa { .. } => "ecdsa",
        }
    }
}

/// The key of a `TPMT_PUBLIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// Modulus (big-endian) and public exponent (0 in the structure means 65537).
    Rsa {
        /// The modulus, big-endian.
        modulus: Vec<u8>,
        /// The public exponent; 0, the TPMT_PUBLIC default, means 65537.
        exponent: u32,
    },
    /// NIST curve and the affine point's coordinates.
    Ecc {
        /// TPM_ECC_CURVE, e.g. [`ECC_NIST_P256`].
        curve: u16,
        /// The x coordinate, big-endian.
        x: Vec<u8>,
        /// The y coordinate, big-endian.
        y: Vec<u8>,
    },
}

/// A `TPMT_PUBLIC` for an RSA or ECC key: what a verifier needs of an AK or EK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `nameAlg`: the hash algorithm of the key's TPM name.
    pub name_alg: HashAlg,
    /// `objectAttributes`: TPMA_OBJECT bits (see [`attributes`]).
    pub attributes: u32,
    /// The policy digest that authorises the key's use (empty when there is none). Registration
    /// needs it empty: a key loaded from outside a TPM could otherwise satisfy its own policy.
    pub auth_policy: Vec<u8>,
    /// The key's signing scheme and its hash, `None` when the key leaves it to the caller
    /// (`TPM_ALG_NULL`).
    pub scheme: Option<(u16, HashAlg)>,
    /// The public key itself (`unique` and its parameters).
    pub key: KeyMaterial,
    /// The exact bytes parsed, from which the TPM name is computed.
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// Parses a `TPMT_PUBLIC` of an RSA or ECC key. Nothing may follow it.
    pub fn parse(bytes: &[u8]) -> Result<Self, TpmError> {
        const STRUCTURE: &str = "TPMT_PUBLIC";
        let mut reader = Reader::new(bytes, STRUCTURE);
        let kind = reader.u16("type")?;
        let name_alg = HashAlg::from_wire(reader.u16("nameAlg")?, STRUCTURE, "nameAlg")?;
        let attributes = reader.u32("objectAttributes")?;
        let auth_policy = reader.sized("authPolicy", MAX_DIGEST)?.to_vec();
        // TPMT_SYM_DEF_OBJECT: only storage keys have one; keyBits and mode follow a non-NULL alg.
        if reader.u16("symmetric")? != ALG_NULL {
            reader.take(4, "symmetric keyBits and mode")?;
        }
        let scheme = read_scheme(&mut reader, STRUCTURE)?;
        let key = match kind {
            ALG_RSA => {
                let _key_bits = reader.u16("keyBits")?;
                let exponent = reader.u32("exponent")?;
                let modulus = reader.sized("unique", MAX_RSA_BYTES)?.to_vec();
                KeyMaterial::Rsa { modulus, exponent }
            }
            ALG_ECC => {
                let curve = reader.u16("curveID")?;
                // TPMT_KDF_SCHEME: a hash follows a non-NULL scheme.
                if reader.u16("kdf")? != ALG_NULL {
                    reader.u16("kdf hash")?;
                }
                let x = reader.sized("unique x", MAX_ECC_BYTES)?.to_vec();
                let y = reader.sized("unique y", MAX_ECC_BYTES)?.to_vec();
                KeyMaterial::Ecc { curve, x, y }
            }
            other => {
                return Err(TpmError::Unsupported {
                    structure: STRUCTURE,
                    what: "a key type",
                    algorithm: other,
                });
            }
        };
        reader.finish()?;
        Ok(PublicKey {
            name_alg,
            attributes,
            auth_policy,
            scheme,
            key,
            bytes: bytes.to_vec(),
        })
    }

    /// The TPM name: `nameAlg` (big-endian) ‖ H_nameAlg(TPMT_PUBLIC).
    pub fn name(&self) -> Vec<u8> {
        let mut name = self.name_alg.id().to_be_bytes().to_vec();
        name.extend(self.name_alg.digest([self.bytes.as_slice()]));
        name
    }

    /// Whether every bit of `wanted` (see [`attributes`]) is set.
    pub fn has_attributes(&self, wanted: u32) -> bool {
        self.attributes & wanted == wanted
    }
}

/// `TPMT_RSA_SCHEME` / `TPMT_ECC_SCHEME`: a hash follows a non-NULL scheme, and ECDAA adds a
/// commit count.
fn read_scheme(
    reader: &mut Reader<'_>,
    structure: &'static str,
) -> Result<Option<(u16, HashAlg)>, TpmError> {
    let scheme = reader.u16("scheme")?;
    if scheme == ALG_NULL {
        return Ok(None);
    }
    let hash = HashAlg::from_wire(reader.u16("scheme hash")?, structure, "a scheme hash")?;
    if scheme == ALG_ECDAA {
        reader.u16("scheme count")?;
    }
    Ok(Some((scheme, hash)))
}

#[cfg(test)]
mod tests;
