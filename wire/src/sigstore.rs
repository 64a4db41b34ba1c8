//! Sigstore bundles (v0.3, JSON): what a signature travels in so that `cosign` or
//! sigstore-python can verify it.
//!
//! The JSON is the protobuf JSON mapping of `dev.sigstore.bundle.v1.Bundle`
//! (sigstore/protobuf-specs): lowerCamelCase names, `bytes` as standard base64 with padding,
//! enums by name. The writer ([`Bundle::to_json`]) always produces the v0.3 form:
//!
//! ```json
//! {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//!  "verificationMaterial": {"certificate": {"rawBytes": "<DER leaf>"}, "tlogEntries": [],
//!    "timestampVerificationData": {"rfc3161Timestamps": [{"signedTimestamp": "<DER TimeStampResp>"}]}},
//!  "dsseEnvelope": {"payload": "..", "payloadType": "..", "signatures": [{"keyid": "..", "sig": ".."}]}}
//! ```
//!
//! `tlogEntries` is always written, even empty: sigstore-models (the strict Python model) has no
//! default for it. Transparency-log entries are carried as opaque JSON for now, so that adding a
//! log later changes what fills the list, not the bundle's shape.
//!
//! The reader ([`Bundle::parse`]) reads bytes from anyone and is strict and total: at most
//! [`MAX_BUNDLE_BYTES`], unknown or duplicated members refused at every level (except inside
//! the opaque transparency-log entries), exactly one content member and one signer member, a
//! DSSE envelope with exactly one signature (the bundle specification's rule), bounded counts,
//! and standard padded base64. It accepts the older media types
//! `application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3` as the specification asks
//! readers to. Absent members that protobuf JSON treats as empty (`tlogEntries`,
//! `timestampVerificationData`, a DSSE `keyid`) read as empty, so what other protobuf writers
//! produce (they omit empty defaults) still reads. Nothing here verifies a signature,
//! certificate or timestamp: those are the verifier's.

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::{Value, json};

use crate::dsse::{Envelope, EnvelopeSignature};

pub mod tlog_entry;

/// The media type the writer produces.
pub const MEDIA_TYPE_V0_3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Every media type the reader accepts: v0.3's and the older parameterised forms.
pub const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    MEDIA_TYPE_V0_3,
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// Largest bundle read.
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// Most RFC 3161 timestamps read from one bundle: each costs a CMS verification.
pub const MAX_TIMESTAMPS: usize = 8;
/// Most certificates read from an `x509CertificateChain` (leaf and intermediates; deeper chains
/// than this do not occur in Sigstore).
pub const MAX_CHAIN_CERTIFICATES: usize = 8;
/// Most transparency-log entries read from one bundle.
pub const MAX_TLOG_ENTRIES: usize = 16;

/// Why bytes are not a Sigstore bundle this reader accepts. Each names the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// More than [`MAX_BUNDLE_BYTES`] bytes.
    #[error("{0} bytes, more than the {MAX_BUNDLE_BYTES} accepted")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape: serde's message names the unknown, duplicated, missing or
    /// mistyped member.
    #[error("not a Sigstore bundle: {0}")]
    Json(String),
    /// `mediaType` is not one of [`ACCEPTED_MEDIA_TYPES`].
    #[error("mediaType {0:?} is not a Sigstore bundle media type (v0.1 to v0.3)")]
    MediaType(String),
    /// Not exactly one of `messageSignature` and `dsseEnvelope`; how many there were.
    #[error("exactly one of messageSignature and dsseEnvelope is required, found {0}")]
    Content(usize),
    /// Not exactly one of `verificationMaterial.{publicKey, x509CertificateChain, certificate}`.
    #[error(
        "verificationMaterial needs exactly one of publicKey, x509CertificateChain and \
         certificate, found {0}"
    )]
    Signer(usize),
    /// A `bytes` member is not standard base64 with padding.
    #[error("{field} is not standard base64 with padding")]
    Base64 {
        /// The member, as a JSON path.
        field: &'static str,
    },
    /// A required `bytes` member, or a list that must not be empty, is empty.
    #[error("{field} is empty")]
    Empty {
        /// The member, as a JSON path.
        field: &'static str,
    },
    /// A list is longer than this reader accepts.
    #[error("{field} has {count} entries, more than the {max} accepted")]
    TooMany {
        /// The member, as a JSON path.
        field: &'static str,
        /// How many entries it had.
        count: usize,
        /// The most accepted.
        max: usize,
    },
    /// `dsseEnvelope.signatures` does not hold exactly one signature; how many it held.
    #[error("dsseEnvelope.signatures has {0} signatures; a bundle's envelope has exactly one")]
    DsseSignatures(usize),
    /// `messageSignature.messageDigest.algorithm` is not SHA2_256, SHA2_384 or SHA2_512.
    #[error("messageSignature.messageDigest.algorithm {0:?} is not SHA2_256, SHA2_384 or SHA2_512")]
    HashAlgorithm(String),
    /// `messageSignature.messageDigest.digest` is not as long as its algorithm's output.
    #[error(
        "messageSignature.messageDigest.digest is {len} bytes, not the {expected} of {algorithm}"
    )]
    DigestLength {
        /// The algorithm's name.
        algorithm: &'static str,
        /// The digest's length.
        len: usize,
        /// The algorithm's output length.
        expected: usize,
    },
}

/// A Sigstore bundle: a signature, and what a verifier needs to check it offline.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// `verificationMaterial`: the signer, log entries and timestamps.
    pub verification_material: VerificationMaterial,
    /// What was signed: a message signature or a DSSE envelope.
    pub content: BundleContent,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationMaterial {
    /// Who signed: the `content` oneof.
    pub signer: Signer,
    /// `tlogEntries`: transparency-log entries, as opaque JSON (`TransparencyLogEntry` objects);
    /// written verbatim, at most [`MAX_TLOG_ENTRIES`] read.
    pub tlog_entries: Vec<Value>,
    /// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`: each a DER
    /// `TimeStampResp` (the whole response, not only the token) over
    /// [`Bundle::signature_bytes`].
    pub rfc3161_timestamps: Vec<Vec<u8>>,
}

/// The signer member of `verificationMaterial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// `certificate.rawBytes`: the DER leaf certificate (the v0.3 form for keyless signing).
    Certificate(Vec<u8>),
    /// `x509CertificateChain.certificates[].rawBytes`: DER certificates, leaf first, without
    /// the root (the v0.1/v0.2 form).
    CertificateChain(Vec<Vec<u8>>),
    /// `publicKey.hint`: a key the verifier knows by this name.
    PublicKey {
        /// The hint (may be empty).
        hint: String,
    },
}

/// A message digest algorithm of a `messageSignature` (the SHA-2 ones; the SHA-3 names the
/// protobuf enum also has are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `SHA2_256`.
    Sha2_256,
    /// `SHA2_384`.
    Sha2_384,
    /// `SHA2_512`.
    Sha2_512,
}

impl HashAlgorithm {
    /// Every algorithm.
    pub const ALL: [HashAlgorithm; 3] = [Self::Sha2_256, Self::Sha2_384, Self::Sha2_512];

    /// The protobuf enum name, as the JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha2_256 => "SHA2_256",
            Self::Sha2_384 => "SHA2_384",
            Self::Sha2_512 => "SHA2_512",
        }
    }

    /// The algorithm with this protobuf enum [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha2_256 => 32,
            Self::Sha2_384 => 48,
            Self::Sha2_512 => 64,
        }
    }
}

/// The bundle's `content` oneof: what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    /// `messageSignature`: a signature over the artifact's bytes.
    MessageSignature {
        /// `messageDigest.algorithm`.
        digest_algorithm: HashAlgorithm,
        /// `messageDigest.digest`: identifies the artifact; never what is verified.
        digest: Vec<u8>,
        /// `signature`: the algorithm's raw output over the artifact (DER for ECDSA).
        signature: Vec<u8>,
    },
    /// `dsseEnvelope`: a DSSE envelope; a bundle's has exactly one signature.
    Dsse(Envelope),
}

impl Bundle {
    /// The bytes an RFC 3161 timestamp in this bundle covers (its message imprint is their
    /// SHA-256): the message signature, or the single DSSE signature. `None` for an envelope
    /// without exactly one signature, which no bundle may hold.
    pub fn signature_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            BundleContent::MessageSignature { signature, .. } => Some(signature),
            BundleContent::Dsse(envelope) => match envelope.signatures.as_slice() {
                [only] => Some(&only.sig),
                _ => None,
            },
        }
    }

    /// The bundle as v0.3 JSON (see the module documentation for the shape). What it writes for
    /// a valid bundle, [`Bundle::parse`] reads back equal; a DSSE envelope with other than one
    /// signature is written as it is, and refused by every reader.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// [`Bundle::to_json`] as a JSON value, for callers that embed the bundle.
    pub fn to_json_value(&self) -> Value {
        let material = &self.verification_material;
        let mut verification_material = serde_json::Map::new();
        let (signer_key, signer) = match &material.signer {
            Signer::Certificate(der) => ("certificate", json!({"rawBytes": STANDARD.encode(der)})),
            Signer::CertificateChain(ders) => (
                "x509CertificateChain",
                json!({"certificates": ders.iter()
                    .map(|der| json!({"rawBytes": STANDARD.encode(der)}))
                    .collect::<Vec<_>>()}),
            ),
            Signer::PublicKey { hint } => ("publicKey", json!({"hint": hint})),
        };
        verification_material.insert(signer_key.into(), signer);
        verification_material.insert(
            "tlogEntries".into(),
            Value::from(material.tlog_entries.clone()),
        );
        // Omitted rather than written empty: protobuf JSON treats the two alike, and a bundle
        // without timestamps (one relying on a log) has nothing to put there.
        if !material.rfc3161_timestamps.is_empty() {
            verification_material.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": material.rfc3161_timestamps.iter()
                    .map(|der| json!({"signedTimestamp": STANDARD.encode(der)}))
                    .collect::<Vec<_>>()}),
            );
        }
        let mut bundle = serde_json::Map::new();
        bundle.insert("mediaType".into(), MEDIA_TYPE_V0_3.into());
        bundle.insert(
            "verificationMaterial".into(),
            Value::Object(verification_material),
        );
        match &self.content {
            BundleContent::MessageSignature {
                digest_algorithm,
                digest,
                signature,
            } => bundle.insert(
                "messageSignature".into(),
                json!({
                    "messageDigest": {
                        "algorithm": digest_algorithm.name(),
                        "digest": STANDARD.encode(digest),
                    },
                    "signature": STANDARD.encode(signature),
                }),
            ),
            // keyid is always written (Envelope::to_json does): securesystemslib needs it.
            BundleContent::Dsse(envelope) => {
                bundle.insert("dsseEnvelope".into(), envelope.to_json())
            }
        };
        Value::Object(bundle)
    }

    /// Reads a bundle from untrusted bytes, strictly (see the module documentation). Never
    /// panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let json: BundleJson =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        if !ACCEPTED_MEDIA_TYPES.contains(&json.media_type.as_str()) {
            return Err(BundleError::MediaType(json.media_type));
        }
        let verification_material = json.verification_material.into_material()?;
        let content = match (json.message_signature, json.dsse_envelope) {
            (Some(message), None) => message.into_content()?,
            (None, Some(envelope)) => BundleContent::Dsse(envelope.into_envelope()?),
            (message, envelope) => {
                return Err(BundleError::Content(
                    usize::from(message.is_some()) + usize::from(envelope.is_some()),
                ));
            }
        };
        Ok(Bundle {
            verification_material,
            content,
        })
    }
}

/// A JSON array read into at most `MAX` items, counting (without keeping or typing) any more,
/// so an oversized list costs no memory and its length can still be reported.
struct Capped<T, const MAX: usize> {
    items: Vec<T>,
    total: usize,
}

impl<T, const MAX: usize> Default for Capped<T, MAX> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T, const MAX: usize> Capped<T, MAX> {
    /// The items, or [`BundleError::TooMany`] naming `field`.
    fn within_limit(self, field: &'static str) -> Result<Vec<T>, BundleError> {
        if self.total > MAX {
            return Err(BundleError::TooMany {
                field,
                count: self.total,
                max: MAX,
            });
        }
        Ok(self.items)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Capped<T, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CappedVisitor<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for CappedVisitor<T, MAX> {
            type Value = Capped<T, MAX>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut capped = Capped::<T, MAX>::default();
                loop {
                    let more = if capped.items.len() < MAX {
                        match seq.next_element::<T>()? {
                            Some(item) => {
                                capped.items.push(item);
                                true
                            }
                            None => false,
                        }
                    } else {
                        seq.next_element::<IgnoredAny>()?.is_some()
                    };
                    if !more {
                        return Ok(capped);
                    }
                    capped.total = capped.total.saturating_add(1);
                }
            }
        }
        deserializer.deserialize_seq(CappedVisitor::<T, MAX>(PhantomData))
    }
}

/// Decodes a required, non-empty `bytes` member.
fn decode(text: &str, field: &'static str) -> Result<Vec<u8>, BundleError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| BundleError::Base64 { field })?;
    if bytes.is_empty() {
        return Err(BundleError::Empty { field });
    }
    Ok(bytes)
}

// The JSON shapes, read strictly. Option members are the protobuf oneofs, checked for exactly
// one after parsing; `default` marks what protobuf JSON may omit when empty.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BundleJson {
    media_type: String,
    verification_material: VerificationMaterialJson,
    message_signature: Option<MessageSignatureJson>,
    dsse_envelope: Option<DsseEnvelopeJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerificationMaterialJson {
    public_key: Option<PublicKeyJson>,
    x509_certificate_chain: Option<CertificateChainJson>,
    certificate: Option<CertificateJson>,
    #[serde(default)]
    tlog_entries: Capped<Value, MAX_TLOG_ENTRIES>,
    timestamp_verification_data: Option<TimestampVerificationDataJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyJson {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateChainJson {
    #[serde(default)]
    certificates: Capped<CertificateJson, MAX_CHAIN_CERTIFICATES>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateJson {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimestampVerificationDataJson {
    #[serde(default)]
    rfc3161_timestamps: Capped<SignedTimestampJson, MAX_TIMESTAMPS>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignedTimestampJson {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageSignatureJson {
    message_digest: HashOutputJson,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashOutputJson {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DsseEnvelopeJson {
    payload: String,
    payload_type: String,
    // Room for one more than allowed, so that "two signatures" is reported as such.
    #[serde(default)]
    signatures: Capped<DsseSignatureJson, 2>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DsseSignatureJson {
    sig: String,
    #[serde(default)]
    keyid: String,
}

impl VerificationMaterialJson {
    fn into_material(self) -> Result<VerificationMaterial, BundleError> {
        let signer = match (
            self.public_key,
            self.x509_certificate_chain,
            self.certificate,
        ) {
            (Some(key), None, None) => Signer::PublicKey { hint: key.hint },
            (None, Some(chain), None) => {
                let field = "verificationMaterial.x509CertificateChain.certificates";
                let certificates = chain.certificates.within_limit(field)?;
                if certificates.is_empty() {
                    return Err(BundleError::Empty { field });
                }
                Signer::CertificateChain(
                    certificates
                        .iter()
                        .map(|c| {
                            decode(
                                &c.raw_bytes,
                                "verificationMaterial.x509CertificateChain.certificates[].rawBytes",
                            )
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            (None, None, Some(certificate)) => Signer::Certificate(decode(
                &certificate.raw_bytes,
                "verificationMaterial.certificate.rawBytes",
            )?),
            (key, chain, certificate) => {
                return Err(BundleError::Signer(
                    usize::from(key.is_some())
                        + usize::from(chain.is_some())
                        + usize::from(certificate.is_some()),
                ));
            }
        };
        let tlog_entries = self
            .tlog_entries
            .within_limit("verificationMaterial.tlogEntries")?;
        let rfc3161_timestamps = match self.timestamp_verification_data {
            None => Vec::new(),
            Some(data) => data
                .rfc3161_timestamps
                .within_limit("verificationMaterial.timestampVerificationData.rfc3161Timestamps")?
                .iter()
                .map(|t| {
                    decode(
                        &t.signed_timestamp,
                        "verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp",
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(VerificationMaterial {
            signer,
            tlog_entries,
            rfc3161_timestamps,
        })
    }
}

impl MessageSignatureJson {
    fn into_content(self) -> Result<BundleContent, BundleError> {
        let algorithm = HashAlgorithm::from_name(&self.message_digest.algorithm)
            .ok_or_else(|| BundleError::HashAlgorithm(self.message_digest.algorithm.clone()))?;
        let digest = decode(
            &self.message_digest.digest,
            "messageSignature.messageDigest.digest",
        )?;
        if digest.len() != algorithm.digest_len() {
            return Err(BundleError::DigestLength {
                algorithm: algorithm.name(),
                len: digest.len(),
                expected: algorithm.digest_len(),
            });
        }
        Ok(BundleContent::MessageSignature {
            digest_algorithm: algorithm,
            digest,
            signature: decode(&self.signature, "messageSignature.signature")?,
        })
    }
}

impl DsseEnvelopeJson {
    fn into_envelope(self) -> Result<Envelope, BundleError> {
        let signatures = match self.signatures.items.as_slice() {
            [only] if self.signatures.total == 1 => vec![EnvelopeSignature {
                keyid: only.keyid.clone(),
                sig: decode(&only.sig, "dsseEnvelope.signatures[].sig")?,
            }],
            _ => return Err(BundleError::DsseSignatures(self.signatures.total)),
        };
        // An empty payload is a valid (if useless) DSSE payload, so only the encoding is checked.
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|_| BundleError::Base64 {
                field: "dsseEnvelope.payload",
            })?;
        Ok(Envelope {
            payload_type: self.payload_type,
            payload,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests;
