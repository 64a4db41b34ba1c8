//! Warden's TPM evidence JSON (`tee: "tpm"`), written by the agent and read by the verifier:
//!
//! ```json
//! {
//!   "ak_public": "<base64 TPMT_PUBLIC, or DER SubjectPublicKeyInfo>",
//!   "ak_certificate": "<base64 DER X.509>",            (optional)
//!   "ak_chain": ["<base64 DER X.509 intermediate>"],    (optional)
//!   "quotes": [{ "attest": "<base64 TPMS_ATTEST>", "signature": "<base64 TPMT_SIGNATURE>" }],
//!   "pcrs": { "sha256": { "0": "<hex>", "7": "<hex>" } },
//!   "event_log": "<base64 TCG event log>"               (optional)
//! }
//! ```
//!
//! `pcrs` holds the values the quotes' PCR digests are recomputed from; one table serves every
//! quote (GCE quotes each bank separately). `ak_public` may be left out when `ak_certificate`
//! carries the key. Decoding checks shapes and sizes only; nothing here is trusted until the
//! verifier has checked the signatures.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Attest, HashAlg, PublicKey, Signature, TpmError};

/// Larger than any real evidence (the event log dominates: tens of KiB); bounds the work.
pub const MAX_EVIDENCE_BYTES: usize = 4 * 1024 * 1024;
/// One quote per PCR bank is the most a real attester sends.
pub(super) const MAX_QUOTES: usize = 4;
pub(super) const MAX_CHAIN: usize = 8;
/// PCR indices a PC-Client TPM implements (0..=23); a little room for larger implementations.
pub(super) const MAX_PCR_INDEX: u32 = 31;

/// Why TPM evidence JSON was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvidenceError {
    /// The input is not evidence JSON of the expected shape; the reason is given.
    #[error("TPM evidence is not the expected JSON: {0}")]
    Json(String),
    /// The input is larger than [`MAX_EVIDENCE_BYTES`]; holds its length.
    #[error("TPM evidence is {0} bytes, more than the {MAX_EVIDENCE_BYTES} accepted")]
    TooLarge(usize),
    /// A field is not valid base64 or hex.
    #[error("{field} is not valid {encoding}")]
    Encoding {
        /// The field's JSON path, e.g. `quotes[0].attest`.
        field: String,
        /// The encoding expected: "base64" or "hex".
        encoding: &'static str,
    },
    /// A field's bytes are not a valid TPM structure.
    #[error("{field}: {source}")]
    Structure {
        /// The field's JSON path, e.g. `ak_public`.
        field: String,
        /// What is wrong with the structure.
        source: TpmError,
    },
    /// The evidence is well-formed JSON but its contents are out of bounds or inconsistent.
    #[error("{0}")]
    Shape(String),
}

/// The JSON shape, field by field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceJson {
    /// Base64 of the AK's `TPMT_PUBLIC` or DER SubjectPublicKeyInfo; optional given
    /// `ak_certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ak_public: Option<String>,
    /// Base64 of the AK certificate (DER X.509), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ak_certificate: Option<String>,
    /// Base64 DER X.509 intermediates for the AK certificate; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ak_chain: Vec<String>,
    /// The quotes: one to four, e.g. one per PCR bank.
    pub quotes: Vec<QuoteJson>,
    /// PCR values: bank name ("sha256", ...) to PCR index (decimal text) to hex value.
    pub pcrs: BTreeMap<String, BTreeMap<String, String>>,
    /// Base64 of the TCG event log, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log: Option<String>,
}

/// One quote in evidence JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteJson {
    /// Base64 of the `TPMS_ATTEST` the AK signed.
    pub attest: String,
    /// Base64 of the `TPMT_SIGNATURE`.
    pub signature: String,
}

/// The attestation key as the evidence presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AkPublic {
    /// A `TPMT_PUBLIC`: attributes and TPM name are known.
    Tpm(PublicKey),
    /// A DER SubjectPublicKeyInfo: the key only.
    Spki(Vec<u8>),
}

/// One quote: the exact signed bytes, their parse, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuote {
    /// The `TPMS_ATTEST` bytes the signature covers.
    pub attest_bytes: Vec<u8>,
    /// Those bytes parsed.
    pub attest: Attest,
    /// The AK's signature over them.
    pub signature: Signature,
}

/// Decoded TPM evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The AK public key, if sent.
    pub ak_public: Option<AkPublic>,
    /// The AK certificate (DER X.509), if sent.
    pub ak_certificate: Option<Vec<u8>>,
    /// Intermediate certificates (DER X.509) for the AK certificate.
    pub ak_chain: Vec<Vec<u8>>,
    /// The quotes, one to four.
    pub quotes: Vec<SignedQuote>,
    /// Reported PCR values by bank and index, each one digest of its bank.
    pub pcrs: BTreeMap<(HashAlg, u32), Vec<u8>>,
    /// The TCG event log bytes, if sent.
    pub event_log: Option<Vec<u8>>,
}

impl Evidence {
    /// Decodes evidence JSON of at most [`MAX_EVIDENCE_BYTES`]; see [`Evidence::decode`].
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, EvidenceError> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(EvidenceError::TooLarge(bytes.len()));
        }
        let json: EvidenceJson =
            serde_json::from_slice(bytes).map_err(|e| EvidenceError::Json(e.to_string()))?;
        Self::decode(&json)
    }

    /// Decodes evidence from parsed JSON; see [`Evidence::decode`].
    pub fn from_value(value: &serde_json::Value) -> Result<Self, EvidenceError> {
        let json =
            EvidenceJson::deserialize(value).map_err(|e| EvidenceError::Json(e.to_string()))?;
        Self::decode(&json)
    }

    /// Decodes every field: requires an AK (`ak_public` or `ak_certificate`) and one to four
    /// quotes, parses the TPM structures and checks PCR banks, indices and value lengths. Checks no
    /// signature.
    pub fn decode(json: &EvidenceJson) -> Result<Self, EvidenceError> {
        let ak_public = json
            .ak_public
            .as_deref()
            .map(|text| {
                let bytes = base64_field("ak_public", text)?;
                if bytes.first() == Some(&0x30) {
                    Ok(AkPublic::Spki(bytes))
                } else {
                    PublicKey::parse(&bytes)
                        .map(AkPublic::Tpm)
                        .map_err(|source| structure("ak_public", source))
                }
            })
            .transpose()?;
        let ak_certificate = json
            .ak_certificate
            .as_deref()
            .map(|text| base64_field("ak_certificate", text))
            .transpose()?;
        if ak_public.is_none() && ak_certificate.is_none() {
            return Err(EvidenceError::Shape(
                "neither ak_public nor ak_certificate is present: no key to verify quotes with"
                    .into(),
            ));
        }
        if json.ak_chain.len() > MAX_CHAIN {
            return Err(EvidenceError::Shape(format!(
                "ak_chain has {} certificates, more than the {MAX_CHAIN} accepted",
                json.ak_chain.len()
            )));
        }
        let ak_chain = json
            .ak_chain
            .iter()
            .enumerate()
            .map(|(i, text)| base64_field(&format!("ak_chain[{i}]"), text))
            .collect::<Result<_, _>>()?;
        if json.quotes.is_empty() || json.quotes.len() > MAX_QUOTES {
            return Err(EvidenceError::Shape(format!(
                "{} quotes (1 to {MAX_QUOTES} accepted)",
                json.quotes.len()
            )));
        }
        let quotes = json
            .quotes
            .iter()
            .enumerate()
            .map(|(i, quote)| decode_quote(i, quote))
            .collect::<Result<_, _>>()?;
        let pcrs = decode_pcrs(&json.pcrs)?;
        let event_log = json
            .event_log
            .as_deref()
            .map(|text| base64_field("event_log", text))
            .transpose()?;
        Ok(Evidence {
            ak_public,
            ak_certificate,
            ak_chain,
            quotes,
            pcrs,
            event_log,
        })
    }
}

impl EvidenceJson {
    /// Builds the JSON an attester sends. `ak_public` is a `TPMT_PUBLIC` or a DER SPKI.
    pub fn new(
        ak_public: &[u8],
        quotes: &[(Vec<u8>, Vec<u8>)],
        pcrs: &BTreeMap<(HashAlg, u32), Vec<u8>>,
    ) -> Self {
        let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for ((bank, pcr), value) in pcrs {
            table
                .entry(bank.name().to_owned())
                .or_default()
                .insert(pcr.to_string(), hex::encode(value));
        }
        EvidenceJson {
            ak_public: Some(STANDARD.encode(ak_public)),
            quotes: quotes
                .iter()
                .map(|(attest, signature)| QuoteJson {
                    attest: STANDARD.encode(attest),
                    signature: STANDARD.encode(signature),
                })
                .collect(),
            pcrs: table,
            ..Self::default()
        }
    }
}

fn structure(field: &str, source: TpmError) -> EvidenceError {
    EvidenceError::Structure {
        field: field.to_owned(),
        source,
    }
}

fn base64_field(field: &str, text: &str) -> Result<Vec<u8>, EvidenceError> {
    STANDARD.decode(text).map_err(|_| EvidenceError::Encoding {
        field: field.to_owned(),
        encoding: "base64",
    })
}

fn decode_quote(index: usize, quote: &QuoteJson) -> Result<SignedQuote, EvidenceError> {
    let attest_field = format!("quotes[{index}].attest");
    let signature_field = format!("quotes[{index}].signature");
    let attest_bytes = base64_field(&attest_field, &quote.attest)?;
    let attest = Attest::parse(&attest_bytes).map_err(|e| structure(&attest_field, e))?;
    let signature_bytes = base64_field(&signature_field, &quote.signature)?;
    let signature =
        Signature::parse(&signature_bytes).map_err(|e| structure(&signature_field, e))?;
    Ok(SignedQuote {
        attest_bytes,
        attest,
        signature,
    })
}

fn decode_pcrs(
    table: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<(HashAlg, u32), Vec<u8>>, EvidenceError> {
    let mut pcrs = BTreeMap::new();
    for (bank_name, values) in table {
        let bank = HashAlg::from_name(bank_name).ok_or_else(|| {
            EvidenceError::Shape(format!(
                "pcrs: unknown bank {:?} (sha1, sha256, sha384, sha512)",
                bank_name.chars().take(16).collect::<String>()
            ))
        })?;
        for (index, value) in values {
            let pcr = index
                .parse::<u32>()
                .ok()
                .filter(|pcr| *pcr <= MAX_PCR_INDEX)
                .ok_or_else(|| {
                    EvidenceError::Shape(format!(
                        "pcrs.{bank_name}: {:?} is not a PCR index (0 to {MAX_PCR_INDEX})",
                        index.chars().take(16).collect::<String>()
                    ))
                })?;
            let field = format!("pcrs.{bank_name}.{pcr}");
            let bytes = hex::decode(value).map_err(|_| EvidenceError::Encoding {
                field: field.clone(),
                encoding: "hex",
            })?;
            if bytes.len() != bank.digest_len() {
                return Err(EvidenceError::Shape(format!(
                    "{field} is {} bytes, not the {} of a {bank_name} PCR",
                    bytes.len(),
                    bank.digest_len()
                )));
            }
            pcrs.insert((bank, pcr), bytes);
        }
    }
    Ok(pcrs)
}
