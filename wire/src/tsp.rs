//! RFC 3161 Time-Stamp Protocol messages: building a `TimeStampReq`, and reading a
//! `TimeStampReq` or a `TimeStampResp` from untrusted DER.
//!
//! Reading is strict DER (definite, minimal lengths via `der`'s reader; minimal INTEGERs;
//! nothing after a structure) over a fixed shape, so there is no recursion and every size is
//! bounded. The structures are read by hand rather than through `x509-tsp`'s derived types for
//! one reason: policy OIDs. Warden's TSA policy lives under a `2.25.<UUID>` arc (ITU-T X.667),
//! whose 128-bit component `const-oid` (u32 arcs) cannot hold, so a typed decoder would refuse
//! Warden's own tokens and any request that names Warden's policy. OIDs here are dotted text
//! with arcs up to 128 bits.
//!
//! Every part a verifier checks is kept as the bytes received (the message imprint, the
//! signed attributes, the certificates, the encapsulated TSTInfo), never re-serialised.

use der::{Decode, Reader, SliceReader};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Largest `TimeStampReq` accepted.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Largest `TimeStampResp` accepted.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Most certificates read from a token's `certificates`.
pub const MAX_CERTIFICATES: usize = 16;
/// Most `SignerInfo`s read from a token.
pub const MAX_SIGNER_INFOS: usize = 4;
/// Most signed attributes (and values per attribute) read from a `SignerInfo`.
pub const MAX_ATTRIBUTES: usize = 16;
/// Longest nonce (INTEGER content octets) accepted.
pub const MAX_NONCE_BYTES: usize = 32;
/// Longest serial number (INTEGER content octets) accepted: RFC 3161 asks for 160 bits, and a
/// positive 20-octet value may need a leading zero.
pub const MAX_SERIAL_BYTES: usize = 21;

/// id-signedData.
pub const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
/// id-ct-TSTInfo.
pub const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
/// The contentType signed attribute.
pub const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
/// The messageDigest signed attribute.
pub const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
/// The signingCertificate signed attribute (ESS, SHA-1 `ESSCertID`s, RFC 2634).
pub const OID_SIGNING_CERTIFICATE: &str = "1.2.840.113549.1.9.16.2.12";
/// The signingCertificateV2 signed attribute (`ESSCertIDv2`s, RFC 5035).
pub const OID_SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
/// ecdsa-with-SHA256.
pub const OID_ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// ecdsa-with-SHA384.
pub const OID_ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
/// SHA-1, only ever to match a v1 `ESSCertID`.
pub const OID_SHA1: &str = "1.3.14.3.2.26";

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;

/// Why TSP bytes were refused. Request errors map to the `PKIFailureInfo` bit a TSA answers
/// with ([`TspError::failure`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TspError {
    /// More bytes than the bound for the structure.
    #[error("{what} is {len} bytes, more than {max}")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not strict DER, or not the structure's shape.
    #[error("malformed {0}")]
    Malformed(String),
    /// A `TimeStampReq` version other than 1.
    #[error("TimeStampReq version must be 1")]
    Version,
    /// A message-imprint hash algorithm other than SHA-256/384/512 (or with parameters other
    /// than absent or NULL).
    #[error("unsupported hash algorithm {0}")]
    HashAlgorithm(String),
    /// The imprint's length does not match its hash algorithm.
    #[error("a {algorithm} imprint is {expected} bytes, not {got}")]
    DigestLength {
        /// The algorithm's name.
        algorithm: &'static str,
        /// Its digest length.
        expected: usize,
        /// The imprint's length.
        got: usize,
    },
    /// The request carries extensions, which Warden's TSA does not accept.
    #[error("TimeStampReq extensions are not accepted")]
    Extensions,
}

/// `PKIFailureInfo` bits (RFC 3161 §2.4.2) a TSA sets when it rejects a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The requested TSA policy is not supported.
    UnacceptedPolicy = 15,
    /// The requested extension is not supported.
    UnacceptedExtension = 16,
    /// The request cannot be handled due to system failure.
    SystemFailure = 25,
}

impl FailureInfo {
    /// The bit number in the `PKIFailureInfo` BIT STRING.
    pub fn bit(self) -> u8 {
        self as u8
    }
}

impl TspError {
    /// The failure bit a TSA reports for a request refused with this error.
    pub fn failure(&self) -> FailureInfo {
        match self {
            TspError::TooLarge { .. } | TspError::Malformed(_) | TspError::DigestLength { .. } => {
                FailureInfo::BadDataFormat
            }
            TspError::Version => FailureInfo::BadRequest,
            TspError::HashAlgorithm(_) => FailureInfo::BadAlg,
            TspError::Extensions => FailureInfo::UnacceptedExtension,
        }
    }
}

fn malformed(what: impl std::fmt::Display) -> TspError {
    TspError::Malformed(what.to_string())
}

/// The hash algorithms a message imprint may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (`2.16.840.1.101.3.4.2.1`).
    Sha256,
    /// SHA-384 (`2.16.840.1.101.3.4.2.2`).
    Sha384,
    /// SHA-512 (`2.16.840.1.101.3.4.2.3`).
    Sha512,
}

impl HashAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [HashAlgorithm; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The algorithm's OID, dotted.
    pub fn oid(self) -> &'static str {
        match self {
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    /// The algorithm with this dotted OID.
    pub fn from_oid(dotted: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.oid() == dotted)
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(bytes).to_vec(),
            Self::Sha384 => Sha384::digest(bytes).to_vec(),
            Self::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }
}

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageImprint {
    /// The hash algorithm's OID, dotted.
    pub algorithm: String,
    /// The hashed message.
    pub hashed_message: Vec<u8>,
    /// The whole SEQUENCE as received, which a TSA echoes into TSTInfo byte for byte.
    pub der: Vec<u8>,
}

impl MessageImprint {
    /// The hash algorithm, when it is one Warden supports.
    pub fn hash_algorithm(&self) -> Option<HashAlgorithm> {
        HashAlgorithm::from_oid(&self.algorithm)
    }
}

/// A `TimeStampReq` that passed [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampRequest {
    /// The imprint, with a supported algorithm and a digest of its length.
    pub message_imprint: MessageImprint,
    /// The requested policy, dotted.
    pub req_policy: Option<String>,
    /// The nonce's INTEGER content octets (minimal two's complement), echoed in the token.
    pub nonce: Option<Vec<u8>>,
    /// Whether the TSA's certificate should be included in the token.
    pub cert_req: bool,
}

/// Builds a DER `TimeStampReq` (version 1) for SHA-256 of `message`, with `nonce` when given
/// and `certReq` TRUE. Encoded through `x509-tsp`'s types; the hash AlgorithmIdentifier has
/// absent parameters (RFC 5754).
pub fn build_request(message: &[u8], nonce: Option<u64>) -> Result<Vec<u8>, TspError> {
    use der::Encode as _;
    use der::asn1::{Int, OctetString};
    use x509_tsp::{MessageImprint as TspImprint, TimeStampReq, TspVersion};

    let sha256 = der::oid::ObjectIdentifier::new(HashAlgorithm::Sha256.oid()).map_err(malformed)?;
    let nonce = match nonce {
        Some(value) => Some(Int::new(&minimal_unsigned(&value.to_be_bytes())).map_err(malformed)?),
        None => None,
    };
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: TspImprint {
            hash_algorithm: cms::cert::x509::spki::AlgorithmIdentifier {
                oid: sha256,
                parameters: None,
            },
            hashed_message: OctetString::new(Sha256::digest(message).to_vec())
                .map_err(malformed)?,
        },
        req_policy: None,
        nonce,
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(malformed)
}

/// Minimal two's-complement content octets of a non-negative big-endian magnitude.
fn minimal_unsigned(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = magnitude.get(skip..).unwrap_or_default();
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

/// Reads a `TimeStampReq` from untrusted DER (at most [`MAX_REQUEST_BYTES`]): version 1, an
/// imprint in SHA-256/384/512 of the right length, optional policy and nonce, `certReq`, and
/// no extensions.
pub fn parse_request(der: &[u8]) -> Result<TimeStampRequest, TspError> {
    if der.len() > MAX_REQUEST_BYTES {
        return Err(TspError::TooLarge {
            what: "TimeStampReq",
            len: der.len(),
            max: MAX_REQUEST_BYTES,
        });
    }
    let outer = Tlv::whole(der, "TimeStampReq")?;
    let mut fields = outer.expect(TAG_SEQUENCE, "TimeStampReq")?.children()?;
    let version = fields.next_tagged(TAG_INTEGER, "TimeStampReq.version")?;
    let version = integer(version.value)?;
    if version != [1] {
        return Err(TspError::Version);
    }
    let imprint = message_imprint(fields.next_tlv("messageImprint")?)?;
    let Some(algorithm) = imprint.hash_algorithm() else {
        return Err(TspError::HashAlgorithm(imprint.algorithm));
    };
    if imprint.hashed_message.len() != algorithm.digest_len() {
        return Err(TspError::DigestLength {
            algorithm: algorithm.name(),
            expected: algorithm.digest_len(),
            got: imprint.hashed_message.len(),
        });
    }
    let req_policy = match fields.optional(TAG_OID)? {
        Some(policy) => Some(oid_text(policy.value)?),
        None => None,
    };
    let nonce = match fields.optional(TAG_INTEGER)? {
        Some(nonce) => {
            let content = integer(nonce.value)?;
            if content.len() > MAX_NONCE_BYTES {
                return Err(malformed("nonce longer than 32 octets"));
            }
            Some(content.to_vec())
        }
        None => None,
    };
    let cert_req = match fields.optional(TAG_BOOLEAN)? {
        Some(flag) => match flag.value {
            // DER: a DEFAULT value is never encoded, so FALSE is not valid here.
            [0xff] => true,
            _ => return Err(malformed("certReq is not DER TRUE")),
        },
        None => false,
    };
    if fields.optional(0xa0)?.is_some() {
        return Err(TspError::Extensions);
    }
    fields.finish("TimeStampReq")?;
    Ok(TimeStampRequest {
        message_imprint: imprint,
        req_policy,
        nonce,
        cert_req,
    })
}

fn message_imprint(tlv: Tlv<'_>) -> Result<MessageImprint, TspError> {
    let mut fields = tlv.expect(TAG_SEQUENCE, "messageImprint")?.children()?;
    let (algorithm, parameters) = algorithm_identifier(fields.next_tlv("hashAlgorithm")?)?;
    if parameters.is_some_and(|p| p.tag != TAG_NULL || !p.value.is_empty()) {
        return Err(TspError::HashAlgorithm(format!(
            "{algorithm} with parameters"
        )));
    }
    let hashed = fields.next_tagged(TAG_OCTET_STRING, "hashedMessage")?;
    fields.finish("messageImprint")?;
    Ok(MessageImprint {
        algorithm,
        hashed_message: hashed.value.to_vec(),
        der: tlv.raw.to_vec(),
    })
}

/// `AlgorithmIdentifier`: the OID (dotted) and the parameters, if any.
fn algorithm_identifier(tlv: Tlv<'_>) -> Result<(String, Option<Tlv<'_>>), TspError> {
    let mut fields = tlv
        .expect(TAG_SEQUENCE, "AlgorithmIdentifier")?
        .children()?;
    let oid = oid_text(fields.next_tagged(TAG_OID, "algorithm")?.value)?;
    let parameters = if fields.is_finished() {
        None
    } else {
        Some(fields.next_tlv("parameters")?)
    };
    fields.finish("AlgorithmIdentifier")?;
    Ok((oid, parameters))
}

/// The `PKIStatus` values (RFC 3161 §2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    /// 0: a token is present, as requested.
    Granted,
    /// 1: a token is present, with modifications.
    GrantedWithMods,
    /// 2: refused; `failInfo` says why.
    Rejection,
    /// 3: not yet constructed.
    Waiting,
    /// 4: a revocation warning.
    RevocationWarning,
    /// 5: a revocation has occurred.
    RevocationNotification,
}

/// A `TimeStampResp` read by [`parse_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampResponse {
    /// The status.
    pub status: PkiStatus,
    /// The `statusString` texts, if any.
    pub status_strings: Vec<String>,
    /// The `failInfo` bit numbers that are set, if the field is present.
    pub fail_info: Option<Vec<u8>>,
    /// The token, if present.
    pub token: Option<TimeStampToken>,
}

/// The parts of a `TimeStampToken` (a CMS `ContentInfo` of `SignedData`) a verifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampToken {
    /// `SignedData.version`.
    pub version: Vec<u8>,
    /// `digestAlgorithms`, dotted.
    pub digest_algorithms: Vec<String>,
    /// `encapContentInfo.eContentType`, dotted (id-ct-TSTInfo, checked by the parser).
    pub econtent_type: String,
    /// The eContent octets: the DER TSTInfo as received.
    pub econtent: Vec<u8>,
    /// The TSTInfo read from `econtent`.
    pub tst_info: TstInfo,
    /// The DER certificates from `certificates` (other certificate choices are skipped).
    pub certificates: Vec<Vec<u8>>,
    /// The `signerInfos`.
    pub signer_infos: Vec<SignerInfo>,
}

/// How a `SignerInfo` names its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerIdentifier {
    /// `issuerAndSerialNumber`: the issuer Name's DER and the serial's INTEGER content octets.
    IssuerAndSerial {
        /// The issuer Name, DER (TLV).
        issuer: Vec<u8>,
        /// The serial number's content octets.
        serial: Vec<u8>,
    },
    /// `subjectKeyIdentifier` (`[0]`).
    SubjectKeyIdentifier(Vec<u8>),
}

/// One signed attribute: its type and the DER of each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `attrType`, dotted.
    pub oid: String,
    /// Each `AttributeValue`, DER (TLV).
    pub values: Vec<Vec<u8>>,
}

/// A `SignerInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    /// `version`'s content octets.
    pub version: Vec<u8>,
    /// `sid`.
    pub sid: SignerIdentifier,
    /// `digestAlgorithm`, dotted.
    pub digest_algorithm: String,
    /// The signed attributes.
    pub signed_attributes: Vec<Attribute>,
    /// What the signature covers: the `[0] IMPLICIT` signedAttrs re-tagged as the DER SET
    /// (`0x31`) they are signed as; `None` when there are no signed attributes.
    pub signed_attributes_der: Option<Vec<u8>>,
    /// `signatureAlgorithm`, dotted.
    pub signature_algorithm: String,
    /// The signature octets.
    pub signature: Vec<u8>,
}

impl SignerInfo {
    /// The signed attribute of this type; `Err` when it occurs more than once.
    pub fn attribute(&self, oid: &str) -> Result<Option<&Attribute>, TspError> {
        let mut found = self.signed_attributes.iter().filter(|a| a.oid == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed(format!("attribute {oid} occurs twice")));
        }
        Ok(first)
    }
}

/// `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] OPTIONAL, micros [1] OPTIONAL }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accuracy {
    /// Seconds.
    pub seconds: Option<u64>,
    /// Milliseconds.
    pub millis: Option<u64>,
    /// Microseconds.
    pub micros: Option<u64>,
}

/// A `TSTInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// The TSA policy, dotted.
    pub policy: String,
    /// The imprint the TSA time-stamped.
    pub message_imprint: MessageImprint,
    /// The serial number's content octets.
    pub serial: Vec<u8>,
    /// genTime, Unix seconds (any fraction dropped).
    pub gen_time: i64,
    /// The accuracy, if stated.
    pub accuracy: Option<Accuracy>,
    /// `ordering`.
    pub ordering: bool,
    /// The nonce's content octets, if present.
    pub nonce: Option<Vec<u8>>,
    /// The `tsa` GeneralName's DER (the `[0]` TLV), if present.
    pub tsa: Option<Vec<u8>>,
    /// Whether extensions are present.
    pub has_extensions: bool,
}

/// Reads a `TimeStampResp` from untrusted DER (at most [`MAX_RESPONSE_BYTES`]). When a token
/// is present, its SignedData, TSTInfo and SignerInfos are read; nothing is verified.
pub fn parse_response(der: &[u8]) -> Result<TimeStampResponse, TspError> {
    if der.len() > MAX_RESPONSE_BYTES {
        return Err(TspError::TooLarge {
            what: "TimeStampResp",
            len: der.len(),
            max: MAX_RESPONSE_BYTES,
        });
    }
    let outer = Tlv::whole(der, "TimeStampResp")?;
    let mut fields = outer.expect(TAG_SEQUENCE, "TimeStampResp")?.children()?;
    let mut status_info = fields
        .next_tagged(TAG_SEQUENCE, "PKIStatusInfo")?
        .children()?;
    let status = match integer(status_info.next_tagged(TAG_INTEGER, "status")?.value)? {
        [0] => PkiStatus::Granted,
        [1] => PkiStatus::GrantedWithMods,
        [2] => PkiStatus::Rejection,
        [3] => PkiStatus::Waiting,
        [4] => PkiStatus::RevocationWarning,
        [5] => PkiStatus::RevocationNotification,
        _ => return Err(malformed("unknown PKIStatus")),
    };
    let mut status_strings = Vec::new();
    if let Some(texts) = status_info.optional(TAG_SEQUENCE)? {
        let mut texts = texts.children()?;
        while !texts.is_finished() {
            if status_strings.len() >= MAX_ATTRIBUTES {
                return Err(malformed("too many statusString texts"));
            }
            let text = texts.next_tagged(TAG_UTF8_STRING, "statusString")?;
            let text = std::str::from_utf8(text.value).map_err(malformed)?;
            status_strings.push(text.to_owned());
        }
    }
    let fail_info = match status_info.optional(TAG_BIT_STRING)? {
        Some(bits) => Some(set_bits(bits.value)?),
        None => None,
    };
    status_info.finish("PKIStatusInfo")?;
    let token = match fields.optional(TAG_SEQUENCE)? {
        Some(token) => Some(time_stamp_token(token)?),
        None => None,
    };
    fields.finish("TimeStampResp")?;
    Ok(TimeStampResponse {
        status,
        status_strings,
        fail_info,
        token,
    })
}

/// The numbers of the bits set in a named-bit BIT STRING's contents.
fn set_bits(content: &[u8]) -> Result<Vec<u8>, TspError> {
    let Some((&unused, bytes)) = content.split_first() else {
        return Err(malformed("empty BIT STRING"));
    };
    if unused > 7 || (bytes.is_empty() && unused != 0) || bytes.len() > 8 {
        return Err(malformed("failInfo BIT STRING"));
    }
    let mut bits = Vec::new();
    for (index, byte) in bytes.iter().enumerate() {
        for bit in 0..8u8 {
            if byte & (0x80 >> bit) != 0 {
                // At most 8 bytes, so the number fits.
                bits.push((index as u8) * 8 + bit);
            }
        }
    }
    Ok(bits)
}

fn time_stamp_token(content_info: Tlv<'_>) -> Result<TimeStampToken, TspError> {
    let mut fields = content_info.children()?;
    let content_type = oid_text(fields.next_tagged(TAG_OID, "contentType")?.value)?;
    if content_type != OID_SIGNED_DATA {
        return Err(malformed(format!(
            "token content type {content_type} is not signedData"
        )));
    }
    let mut explicit = fields.next_tagged(0xa0, "content")?.children()?;
    let signed_data = explicit.next_tagged(TAG_SEQUENCE, "SignedData")?;
    explicit.finish("content")?;
    fields.finish("ContentInfo")?;

    let mut fields = signed_data.children()?;
    let version = integer(fields.next_tagged(TAG_INTEGER, "SignedData.version")?.value)?.to_vec();
    let mut digest_algorithms = Vec::new();
    let mut algorithms = fields
        .next_tagged(TAG_SET, "digestAlgorithms")?
        .children()?;
    while !algorithms.is_finished() {
        if digest_algorithms.len() >= MAX_ATTRIBUTES {
            return Err(malformed("too many digestAlgorithms"));
        }
        digest_algorithms.push(algorithm_identifier(algorithms.next_tlv("digestAlgorithm")?)?.0);
    }
    let mut encap = fields
        .next_tagged(TAG_SEQUENCE, "encapContentInfo")?
        .children()?;
    let econtent_type = oid_text(encap.next_tagged(TAG_OID, "eContentType")?.value)?;
    if econtent_type != OID_TST_INFO {
        return Err(malformed(format!(
            "eContentType {econtent_type} is not id-ct-TSTInfo"
        )));
    }
    let mut wrapped = encap.next_tagged(0xa0, "eContent")?.children()?;
    let econtent = wrapped.next_tagged(TAG_OCTET_STRING, "eContent")?.value;
    wrapped.finish("eContent")?;
    encap.finish("encapContentInfo")?;
    let mut certificates = Vec::new();
    if let Some(set) = fields.optional(0xa0)? {
        let mut choices = set.children()?;
        while !choices.is_finished() {
            let choice = choices.next_tlv("CertificateChoices")?;
            if certificates.len() >= MAX_CERTIFICATES {
                return Err(malformed("too many certificates"));
            }
            if choice.tag == TAG_SEQUENCE {
                certificates.push(choice.raw.to_vec());
            }
        }
    }
    // crls [1] IMPLICIT: not used for time-stamp verification.
    fields.optional(0xa1)?;
    let mut signer_infos = Vec::new();
    let mut infos = fields.next_tagged(TAG_SET, "signerInfos")?.children()?;
    while !infos.is_finished() {
        if signer_infos.len() >= MAX_SIGNER_INFOS {
            return Err(malformed("too many signerInfos"));
        }
        signer_infos.push(signer_info(infos.next_tagged(TAG_SEQUENCE, "SignerInfo")?)?);
    }
    fields.finish("SignedData")?;
    Ok(TimeStampToken {
        version,
        digest_algorithms,
        econtent_type,
        econtent: econtent.to_vec(),
        tst_info: parse_tst_info(econtent)?,
        certificates,
        signer_infos,
    })
}

fn signer_info(tlv: Tlv<'_>) -> Result<SignerInfo, TspError> {
    let mut fields = tlv.children()?;
    let version = integer(fields.next_tagged(TAG_INTEGER, "SignerInfo.version")?.value)?.to_vec();
    let sid = fields.next_tlv("sid")?;
    let sid = match sid.tag {
        TAG_SEQUENCE => {
            let mut parts = sid.children()?;
            let issuer = parts.next_tagged(TAG_SEQUENCE, "issuer")?.raw.to_vec();
            let serial = integer(parts.next_tagged(TAG_INTEGER, "serialNumber")?.value)?.to_vec();
            parts.finish("issuerAndSerialNumber")?;
            SignerIdentifier::IssuerAndSerial { issuer, serial }
        }
        0x80 => SignerIdentifier::SubjectKeyIdentifier(sid.value.to_vec()),
        _ => return Err(malformed("SignerIdentifier")),
    };
    let (digest_algorithm, _) = algorithm_identifier(fields.next_tlv("digestAlgorithm")?)?;
    let mut signed_attributes = Vec::new();
    let signed_attributes_der = match fields.optional(0xa0)? {
        Some(attrs) => {
            let mut list = attrs.children()?;
            while !list.is_finished() {
                if signed_attributes.len() >= MAX_ATTRIBUTES {
                    return Err(malformed("too many signed attributes"));
                }
                signed_attributes.push(attribute(list.next_tagged(TAG_SEQUENCE, "Attribute")?)?);
            }
            let mut der = attrs.raw.to_vec();
            if let Some(tag) = der.first_mut() {
                *tag = TAG_SET;
            }
            Some(der)
        }
        None => None,
    };
    let (signature_algorithm, _) = algorithm_identifier(fields.next_tlv("signatureAlgorithm")?)?;
    let signature = fields
        .next_tagged(TAG_OCTET_STRING, "signature")?
        .value
        .to_vec();
    // unsignedAttrs [1] IMPLICIT: not covered by the signature, not read.
    fields.optional(0xa1)?;
    fields.finish("SignerInfo")?;
    Ok(SignerInfo {
        version,
        sid,
        digest_algorithm,
        signed_attributes,
        signed_attributes_der,
        signature_algorithm,
        signature,
    })
}

fn attribute(tlv: Tlv<'_>) -> Result<Attribute, TspError> {
    let mut fields = tlv.children()?;
    let oid = oid_text(fields.next_tagged(TAG_OID, "attrType")?.value)?;
    let mut values = Vec::new();
    let mut set = fields.next_tagged(TAG_SET, "attrValues")?.children()?;
    while !set.is_finished() {
        if values.len() >= MAX_ATTRIBUTES {
            return Err(malformed("too many attribute values"));
        }
        values.push(set.next_tlv("AttributeValue")?.raw.to_vec());
    }
    fields.finish("Attribute")?;
    Ok(Attribute { oid, values })
}

/// Reads a DER `TSTInfo` (version 1).
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo, TspError> {
    let outer = Tlv::whole(der, "TSTInfo")?;
    let mut fields = outer.expect(TAG_SEQUENCE, "TSTInfo")?.children()?;
    if integer(fields.next_tagged(TAG_INTEGER, "TSTInfo.version")?.value)? != [1] {
        return Err(malformed("TSTInfo version is not 1"));
    }
    let policy = oid_text(fields.next_tagged(TAG_OID, "policy")?.value)?;
    let message_imprint = message_imprint(fields.next_tagged(TAG_SEQUENCE, "messageImprint")?)?;
    let serial = integer(fields.next_tagged(TAG_INTEGER, "serialNumber")?.value)?;
    if serial.len() > MAX_SERIAL_BYTES {
        return Err(malformed("serialNumber longer than 160 bits"));
    }
    let gen_time = generalized_time(fields.next_tagged(TAG_GENERALIZED_TIME, "genTime")?.value)?;
    let accuracy = match fields.optional(TAG_SEQUENCE)? {
        Some(accuracy) => Some(parse_accuracy(accuracy)?),
        None => None,
    };
    let ordering = match fields.optional(TAG_BOOLEAN)? {
        Some(flag) => match flag.value {
            [0xff] => true,
            _ => return Err(malformed("ordering is not DER TRUE")),
        },
        None => false,
    };
    let nonce = match fields.optional(TAG_INTEGER)? {
        Some(nonce) => Some(integer(nonce.value)?.to_vec()),
        None => None,
    };
    let tsa = fields.optional(0xa0)?.map(|t| t.raw.to_vec());
    let has_extensions = fields.optional(0xa1)?.is_some();
    fields.finish("TSTInfo")?;
    Ok(TstInfo {
        policy,
        message_imprint,
        serial: serial.to_vec(),
        gen_time,
        accuracy,
        ordering,
        nonce,
        tsa,
        has_extensions,
    })
}

fn parse_accuracy(tlv: Tlv<'_>) -> Result<Accuracy, TspError> {
    let mut fields = tlv.children()?;
    let mut accuracy = Accuracy::default();
    if let Some(seconds) = fields.optional(TAG_INTEGER)? {
        accuracy.seconds = Some(small_unsigned(seconds.value)?);
    }
    if let Some(millis) = fields.optional(0x80)? {
        accuracy.millis = Some(small_unsigned(millis.value)?);
    }
    if let Some(micros) = fields.optional(0x81)? {
        accuracy.micros = Some(small_unsigned(micros.value)?);
    }
    fields.finish("Accuracy")?;
    Ok(accuracy)
}

fn small_unsigned(content: &[u8]) -> Result<u64, TspError> {
    let content = integer(content)?;
    if content.first().is_some_and(|b| b & 0x80 != 0) || content.len() > 9 {
        return Err(malformed("accuracy is not a small non-negative INTEGER"));
    }
    let mut value: u64 = 0;
    for byte in content {
        value = value
            .checked_mul(256)
            .and_then(|v| v.checked_add(u64::from(*byte)))
            .ok_or_else(|| malformed("accuracy too large"))?;
    }
    Ok(value)
}

/// An ESS certificate identifier from a signingCertificate(V2) attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssCertId {
    /// The hash algorithm (dotted): SHA-1 for v1, the stated or default SHA-256 for v2.
    pub hash_algorithm: String,
    /// The certificate hash.
    pub cert_hash: Vec<u8>,
    /// `issuerSerial`: the directoryName issuers' DER Names and the serial's content octets.
    pub issuer_serial: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

/// Reads the `certs` of a signingCertificate (`v2 = false`, RFC 2634) or signingCertificateV2
/// (`v2 = true`, RFC 5035) attribute value. At least one identifier; the first names the signer.
pub fn parse_signing_certificate(value: &[u8], v2: bool) -> Result<Vec<EssCertId>, TspError> {
    let outer = Tlv::whole(value, "SigningCertificate")?;
    let mut fields = outer
        .expect(TAG_SEQUENCE, "SigningCertificate")?
        .children()?;
    let mut list = fields.next_tagged(TAG_SEQUENCE, "certs")?.children()?;
    // policies SEQUENCE OF PolicyInformation OPTIONAL: not used.
    fields.optional(TAG_SEQUENCE)?;
    fields.finish("SigningCertificate")?;
    let mut ids = Vec::new();
    while !list.is_finished() {
        if ids.len() >= MAX_CERTIFICATES {
            return Err(malformed("too many ESS certificate identifiers"));
        }
        let mut id = list.next_tagged(TAG_SEQUENCE, "ESSCertID")?.children()?;
        let hash_algorithm = if v2 {
            match id.optional(TAG_SEQUENCE)? {
                Some(algorithm) => algorithm_identifier(algorithm)?.0,
                None => HashAlgorithm::Sha256.oid().to_owned(),
            }
        } else {
            OID_SHA1.to_owned()
        };
        let cert_hash = id.next_tagged(TAG_OCTET_STRING, "certHash")?.value.to_vec();
        let issuer_serial = match id.optional(TAG_SEQUENCE)? {
            Some(issuer_serial) => {
                let mut parts = issuer_serial.children()?;
                let mut names = parts
                    .next_tagged(TAG_SEQUENCE, "GeneralNames")?
                    .children()?;
                let mut issuers = Vec::new();
                while !names.is_finished() {
                    let name = names.next_tlv("GeneralName")?;
                    if issuers.len() >= MAX_ATTRIBUTES {
                        return Err(malformed("too many issuer names"));
                    }
                    // directoryName [4] EXPLICIT Name.
                    if name.tag == 0xa4 {
                        let mut inner = name.children()?;
                        issuers.push(inner.next_tagged(TAG_SEQUENCE, "Name")?.raw.to_vec());
                        inner.finish("directoryName")?;
                    }
                }
                let serial = integer(parts.next_tagged(TAG_INTEGER, "serialNumber")?.value)?;
                parts.finish("IssuerSerial")?;
                Some((issuers, serial.to_vec()))
            }
            None => None,
        };
        id.finish("ESSCertID")?;
        ids.push(EssCertId {
            hash_algorithm,
            cert_hash,
            issuer_serial,
        });
    }
    if ids.is_empty() {
        return Err(malformed("no ESS certificate identifier"));
    }
    Ok(ids)
}

/// Reads the value of a contentType attribute: an OID, dotted.
pub fn parse_oid_value(value: &[u8]) -> Result<String, TspError> {
    oid_text(Tlv::whole(value, "OID")?.expect(TAG_OID, "OID")?.value)
}

/// Reads the value of a messageDigest attribute: an OCTET STRING's contents.
pub fn parse_octet_string_value(value: &[u8]) -> Result<Vec<u8>, TspError> {
    Ok(Tlv::whole(value, "OCTET STRING")?
        .expect(TAG_OCTET_STRING, "OCTET STRING")?
        .value
        .to_vec())
}

/// INTEGER content octets, checked minimal (X.690 §8.3.2).
fn integer(content: &[u8]) -> Result<&[u8], TspError> {
    match content {
        [] => Err(malformed("empty INTEGER")),
        [0x00, next, ..] if next & 0x80 == 0 => Err(malformed("INTEGER is not minimal")),
        [0xff, next, ..] if next & 0x80 != 0 => Err(malformed("INTEGER is not minimal")),
        _ => Ok(content),
    }
}

/// OBJECT IDENTIFIER content octets as dotted text; arcs up to 128 bits, minimal encoding.
pub fn oid_text(content: &[u8]) -> Result<String, TspError> {
    if content.is_empty() || content.len() > 64 || content.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed("OBJECT IDENTIFIER"));
    }
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    let mut start = true;
    for &byte in content {
        if start && byte == 0x80 {
            return Err(malformed("OBJECT IDENTIFIER arc is not minimal"));
        }
        if value >> 121 != 0 {
            return Err(malformed("OBJECT IDENTIFIER arc exceeds 128 bits"));
        }
        value = (value << 7) | u128::from(byte & 0x7f);
        start = byte & 0x80 == 0;
        if start {
            arcs.push(value);
            value = 0;
        }
    }
    let mut text = String::new();
    for (index, arc) in arcs.iter().enumerate() {
        if index == 0 {
            let (first, second) = match *arc {
                a if a < 40 => (0, a),
                a if a < 80 => (1, a - 40),
                a => (2, a - 80),
            };
            text = format!("{first}.{second}");
        } else {
            text.push('.');
            text.push_str(&arc.to_string());
        }
    }
    Ok(text)
}

/// GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 §2.4.2 / DER: `Z`, no trailing zeros in a
/// fraction) as Unix seconds, the fraction dropped.
fn generalized_time(content: &[u8]) -> Result<i64, TspError> {
    let bad = || malformed("genTime is not a DER GeneralizedTime");
    let text = std::str::from_utf8(content).map_err(|_| bad())?;
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (body, None),
    };
    if let Some(fraction) = fraction
        && (fraction.is_empty()
            || fraction.len() > 9
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || fraction.ends_with('0'))
    {
        return Err(bad());
    }
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, TspError> {
        whole
            .get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(8..10)?, number(10..12)?, number(12..14)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// One TLV read with `der`'s strict reader: the identifier octet, the contents and the whole
/// encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Exactly one TLV filling `bytes`.
    fn whole(bytes: &'a [u8], what: &str) -> Result<Self, TspError> {
        let mut reader = Fields::new(bytes)?;
        let tlv = reader.next_tlv(what)?;
        reader.finish(what)?;
        Ok(tlv)
    }

    fn read(reader: &mut SliceReader<'a>) -> Result<Self, TspError> {
        let raw = reader.tlv_bytes().map_err(malformed)?;
        let any = der::asn1::AnyRef::from_der(raw).map_err(malformed)?;
        let tag = *raw.first().ok_or_else(|| malformed("empty TLV"))?;
        Ok(Tlv {
            tag,
            value: any.value(),
            raw,
        })
    }

    fn expect(self, tag: u8, what: &str) -> Result<Self, TspError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(malformed(format!(
                "{what}: tag 0x{:02x} where 0x{tag:02x} was expected",
                self.tag
            )))
        }
    }

    /// The TLVs inside a constructed value.
    fn children(self) -> Result<Fields<'a>, TspError> {
        if self.tag & 0x20 == 0 {
            return Err(malformed(format!(
                "tag 0x{:02x} is not constructed",
                self.tag
            )));
        }
        Fields::new(self.value)
    }
}

/// A cursor over consecutive TLVs.
struct Fields<'a> {
    reader: SliceReader<'a>,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, TspError> {
        Ok(Fields {
            reader: SliceReader::new(bytes).map_err(malformed)?,
        })
    }

    fn is_finished(&self) -> bool {
        self.reader.is_finished()
    }

    fn next_tlv(&mut self, what: &str) -> Result<Tlv<'a>, TspError> {
        if self.reader.is_finished() {
            return Err(malformed(format!("{what} is missing")));
        }
        Tlv::read(&mut self.reader)
    }

    fn next_tagged(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, TspError> {
        self.next_tlv(what)?.expect(tag, what)
    }

    /// The next TLV if its identifier octet is `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, TspError> {
        if self.reader.peek_byte() == Some(tag) {
            Ok(Some(Tlv::read(&mut self.reader)?))
        } else {
            Ok(None)
        }
    }

    fn finish(self, what: &str) -> Result<(), TspError> {
        if self.reader.is_finished() {
            Ok(())
        } else {
            Err(malformed(format!("unexpected data at the end of {what}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_decode_with_uuid_arcs_and_refuse_non_minimal_arcs() {
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]).unwrap(),
            OID_ECDSA_WITH_SHA256
        );
        // 2.25.329800735698586629295641978511506172918 (X.667's example).
        let mut content = vec![0x69];
        let arc: u128 = 329_800_735_698_586_629_295_641_978_511_506_172_918;
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
        assert_eq!(
            oid_text(&content).unwrap(),
            "2.25.329800735698586629295641978511506172918"
        );
        assert!(oid_text(&[0x2a, 0x80, 0x01]).is_err());
        assert!(oid_text(&[0x2a, 0x86]).is_err());
        assert!(oid_text(&[]).is_err());
        // 2.999 (first subidentifier 1079).
        assert_eq!(oid_text(&[0x88, 0x37]).unwrap(), "2.999");
    }

    #[test]
    fn generalized_times_are_whole_or_fractional_utc_only() {
        assert_eq!(generalized_time(b"20231114221320Z").unwrap(), 1_700_000_000);
        assert_eq!(
            generalized_time(b"20231114221320.5Z").unwrap(),
            1_700_000_000
        );
        assert_eq!(generalized_time(b"19700101000000Z").unwrap(), 0);
        assert_eq!(generalized_time(b"20240229000000Z").unwrap(), 1_709_164_800);
        for bad in [
            &b"20231114221320"[..],
            b"20231114221320.Z",
            b"20231114221320.50Z",
            b"20230229000000Z",
            b"20231114241320Z",
            b"2023111422132Z",
            b"20231114221320+0100",
        ] {
            assert!(generalized_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_built_request_parses_back_and_x509_tsp_reads_it_the_same() {
        use der::Decode as _;
        for nonce in [None, Some(0), Some(0x7f), Some(0x80), Some(u64::MAX)] {
            let der = build_request(b"signature", nonce).unwrap();
            let ours = parse_request(&der).unwrap();
            assert_eq!(
                ours.message_imprint.hash_algorithm(),
                Some(HashAlgorithm::Sha256)
            );
            assert_eq!(
                ours.message_imprint.hashed_message,
                HashAlgorithm::Sha256.digest(b"signature")
            );
            assert!(ours.cert_req);
            assert_eq!(ours.req_policy, None);
            let theirs = x509_tsp::TimeStampReq::from_der(&der).unwrap();
            assert_eq!(
                ours.nonce.as_deref(),
                theirs.nonce.as_ref().map(|n| n.as_bytes())
            );
            assert_eq!(nonce.is_some(), ours.nonce.is_some());
        }
    }

    #[test]
    fn requests_are_refused_with_the_failure_a_tsa_reports() {
        let good = build_request(b"x", Some(5)).unwrap();
        // SHA-1 imprint: badAlg.
        let mut sha1 = vec![
            0x30, 0x24, 0x02, 0x01, 0x01, 0x30, 0x1f, 0x30, 0x07, 0x06, 0x05,
        ];
        sha1.extend_from_slice(&[0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x04, 0x14]);
        sha1.extend_from_slice(&[0u8; 20]);
        sha1[1] = (sha1.len() - 2) as u8;
        sha1[6] = (sha1.len() - 7) as u8;
        assert_eq!(
            parse_request(&sha1).unwrap_err().failure(),
            FailureInfo::BadAlg
        );
        // Version 2: badRequest.
        let mut v2 = good.clone();
        v2[4] = 2;
        assert_eq!(parse_request(&v2).unwrap_err(), TspError::Version);
        assert_eq!(TspError::Version.failure(), FailureInfo::BadRequest);
        // A SHA-256 imprint one byte short: badDataFormat.
        let digest_at = good.windows(2).position(|w| w == [0x04, 0x20]).unwrap();
        let mut short = good.clone();
        short[digest_at + 1] = 0x1f;
        short.remove(digest_at + 2);
        short[1] -= 1;
        short[6] -= 1;
        let err = parse_request(&short).unwrap_err();
        assert!(matches!(err, TspError::DigestLength { .. }), "{err}");
        assert_eq!(err.failure(), FailureInfo::BadDataFormat);
        // Extensions: unacceptedExtension.
        let mut extended = good.clone();
        extended.extend_from_slice(&[0xa0, 0x00]);
        extended[1] += 2;
        assert_eq!(parse_request(&extended).unwrap_err(), TspError::Extensions);
        assert_eq!(
            TspError::Extensions.failure(),
            FailureInfo::UnacceptedExtension
        );
        // Truncations, trailing bytes, oversize: badDataFormat, never a panic.
        for cut in 0..good.len() {
            assert_eq!(
                parse_request(&good[..cut]).unwrap_err().failure(),
                FailureInfo::BadDataFormat
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_request(&trailing).is_err());
        assert!(matches!(
            parse_request(&[0u8; MAX_REQUEST_BYTES + 1]).unwrap_err(),
            TspError::TooLarge { .. }
        ));
    }

    #[test]
    fn x509_tsp_s_openssl_response_reads_the_same_here() {
        // The response in x509-tsp 0.1.0's own tests, made by `openssl ts -reply`.
        let response = hex::decode("3082028430030201003082027B06092A864886F70D010702A082026C30820268020103310F300D060960864801650304020105003081C9060B2A864886F70D0109100104A081B90481B63081B302010106042A0304013031300D060960864801650304020105000420BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD020104180F32303233303630373131323632365A300A020101800201F48101640101FF0208314CFCE4E0651827A048A4463044310B30090603550406130255533113301106035504080C0A536F6D652D5374617465310D300B060355040A0C04546573743111300F06035504030C0854657374205453413182018430820180020101305C3044310B30090603550406130255533113301106035504080C0A536F6D652D5374617465310D300B060355040A0C04546573743111300F06035504030C08546573742054534102146A0DCC59137C11D1C2B092042B4BC51C0D634D24300D06096086480165030402010500A08198301A06092A864886F70D010903310D060B2A864886F70D0109100104301C06092A864886F70D010905310F170D3233303630373131323632365A302B060B2A864886F70D010910020C311C301A3018301604142F36B1B52456F5AC3A1CA09794AE3D0D64AD38C2302F06092A864886F70D01090431220420BAF4CCF82E9B5B3956EADCC87346B407684F26D82B68D0E7DE0D31EA79AF648C300A06082A8648CE3D0403020467306502305A6E1C175B20A93FAB25D14CC5F5A2836D726D6D4A964B66FFBFFCE46276A96475F1408728B3385DCA37C2BA46BE17E1023100C46B7F08D03409A8ECCFD7637765412C3C5EC050E0D39CF48F0F5015950342CB18D8434FF331BA4463C086297C37D07B").unwrap();
        let parsed = parse_response(&response).unwrap();
        assert_eq!(parsed.status, PkiStatus::Granted);
        let token = parsed.token.unwrap();
        assert_eq!(token.version, [3]);
        let tst = &token.tst_info;
        assert_eq!(tst.policy, "1.2.3.4.1");
        assert_eq!(tst.serial, [4]);
        assert_eq!(tst.gen_time, 1_686_137_186);
        assert_eq!(
            tst.accuracy,
            Some(Accuracy {
                seconds: Some(1),
                millis: Some(500),
                micros: Some(100)
            })
        );
        assert!(tst.ordering);
        assert_eq!(
            tst.nonce.as_deref(),
            Some(&hex::decode("314CFCE4E0651827").unwrap()[..])
        );
        assert!(tst.tsa.is_some());
        assert_eq!(token.signer_infos.len(), 1);
        let signer = &token.signer_infos[0];
        assert_eq!(signer.signature_algorithm, OID_ECDSA_WITH_SHA256);
        assert_eq!(signer.signed_attributes.len(), 4);
        let ess = signer.attribute(OID_SIGNING_CERTIFICATE).unwrap().unwrap();
        let ids = parse_signing_certificate(&ess.values[0], false).unwrap();
        assert_eq!(ids[0].cert_hash.len(), 20);
        assert_eq!(signer.signed_attributes_der.as_ref().unwrap()[0], 0x31);
        for cut in 0..response.len() {
            assert!(parse_response(&response[..cut]).is_err());
        }
    }
}
