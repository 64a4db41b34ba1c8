//! DSSE v1 envelopes (Dead Simple Signing Envelope, the JSON form): parsing, the
//! pre-authentication encoding (PAE) every signature covers, and writing.
//!
//! This module only reads and writes envelopes; which keys are trusted and what the payload
//! means belong to the readers (`warden_verifier::provenance` for reference values, Sigstore
//! bundles in [`crate::sigstore`]). Signatures and payloads are standard base64 with padding,
//! the form securesystemslib writes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Largest envelope accepted.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most signatures read from one envelope: each may cost a verification per trusted key.
pub const MAX_SIGNATURES: usize = 16;

/// Why bytes are not a DSSE envelope. The messages name what was wrong; callers that had their
/// own error type before this module existed (`ProvenanceError::Envelope`) keep the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// More than [`MAX_ENVELOPE_BYTES`] bytes.
    #[error("{0} bytes, more than the {MAX_ENVELOPE_BYTES} accepted")]
    TooLarge(usize),
    /// Not JSON of the envelope's shape (serde's message).
    #[error("{0}")]
    Json(String),
    /// More than [`MAX_SIGNATURES`] signatures.
    #[error("{0} signatures, more than the {MAX_SIGNATURES} read")]
    TooManySignatures(usize),
    /// `payload` is not standard base64.
    #[error("payload is not standard base64")]
    PayloadBase64,
    /// A signature's `sig` is not standard base64.
    #[error("a signature is not standard base64")]
    SignatureBase64,
}

/// A parsed DSSE envelope (the JSON envelope of the DSSE v1 protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `payloadType`: the media type of the payload.
    pub payload_type: String,
    /// The payload bytes (decoded from base64).
    pub payload: Vec<u8>,
    /// The signatures over the PAE of type and payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id as the envelope states it (may be empty); a hint only.
    pub keyid: String,
    /// The signature bytes (decoded from base64).
    pub sig: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<SignatureJson>,
}

#[derive(Deserialize)]
struct SignatureJson {
    #[serde(default)]
    keyid: String,
    sig: String,
}

impl Envelope {
    /// An envelope with one signature: what a signer produces (Sigstore bundles require exactly
    /// one). `sig` must be over [`pae`]`(payload_type, payload)`; nothing here checks it.
    pub fn with_one_signature(
        payload_type: impl Into<String>,
        payload: Vec<u8>,
        keyid: impl Into<String>,
        sig: Vec<u8>,
    ) -> Self {
        Envelope {
            payload_type: payload_type.into(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: keyid.into(),
                sig,
            }],
        }
    }

    /// Parses a DSSE JSON envelope, refusing more than [`MAX_ENVELOPE_BYTES`] bytes or
    /// [`MAX_SIGNATURES`] signatures.
    ///
    /// Unknown members are ignored, as DSSE readers do (securesystemslib does too); a Sigstore
    /// bundle's envelope is read strictly by [`crate::sigstore::Bundle::parse`] instead.
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DsseError::TooLarge(bytes.len()));
        }
        let json: EnvelopeJson =
            serde_json::from_slice(bytes).map_err(|e| DsseError::Json(e.to_string()))?;
        if json.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures(json.signatures.len()));
        }
        let payload = STANDARD
            .decode(&json.payload)
            .map_err(|_| DsseError::PayloadBase64)?;
        let signatures = json
            .signatures
            .into_iter()
            .map(|signature| {
                let sig = STANDARD
                    .decode(&signature.sig)
                    .map_err(|_| DsseError::SignatureBase64)?;
                Ok(EnvelopeSignature {
                    keyid: signature.keyid,
                    sig,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Envelope {
            payload_type: json.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes every signature covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The envelope as JSON (what [`Envelope::parse`] reads). `keyid` is always written, even
    /// when empty: securesystemslib's `Signature.from_dict` requires it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "payload": STANDARD.encode(&self.payload),
            "payloadType": self.payload_type,
            "signatures": self.signatures.iter().map(|s| serde_json::json!({
                "keyid": s.keyid,
                "sig": STANDARD.encode(&s.sig),
            })).collect::<Vec<_>>(),
        })
    }
}

/// DSSE v1 pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`,
/// lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn a_one_signature_envelope_round_trips() {
        let envelope =
            Envelope::with_one_signature(IN_TOTO_PAYLOAD_TYPE, b"{}".to_vec(), "k", vec![1, 2]);
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.pae(), pae(IN_TOTO_PAYLOAD_TYPE, b"{}"));
        let bytes = serde_json::to_vec(&envelope.to_json()).unwrap();
        assert_eq!(Envelope::parse(&bytes).unwrap(), envelope);
    }

    #[test]
    fn bad_envelopes_are_named_errors() {
        let bad = |text: &str| Envelope::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(bad("not json"), DsseError::Json(_)));
        assert_eq!(
            bad(r#"{"payload": "%%", "payloadType": "x"}"#),
            DsseError::PayloadBase64
        );
        assert_eq!(
            bad(r#"{"payload": "", "payloadType": "x", "signatures": [{"sig": "%%"}]}"#),
            DsseError::SignatureBase64
        );
        let many = serde_json::json!({
            "payload": "", "payloadType": "x",
            "signatures": vec![serde_json::json!({"sig": ""}); MAX_SIGNATURES + 1],
        });
        assert_eq!(
            Envelope::parse(many.to_string().as_bytes()).unwrap_err(),
            DsseError::TooManySignatures(MAX_SIGNATURES + 1)
        );
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(
            Envelope::parse(&huge).unwrap_err(),
            DsseError::TooLarge(MAX_ENVELOPE_BYTES + 1)
        );
    }
}
