//! Attested signing from inside the TEE: a code-signing key generated here, committed to in the
//! evidence, certified by the KBS for this attested session only.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

use crate::{AgentError, KbsClient};

/// rcgen signs the CSR through this view of the key: one crypto backend (aws-lc-rs) for the
/// key's whole life.
struct CsrSigner<'a>(&'a SigningKeyPair);

impl rcgen::PublicKeyData for CsrSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key_bits()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.0.algorithm() {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl rcgen::SigningKey for CsrSigner<'_> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0
            .sign(message)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A PKCS#10 request (DER) signed by `key`: the proof that the requester holds it. Its subject
/// and extensions are empty; the KBS decides what the certificate says.
pub fn certification_request(key: &SigningKeyPair) -> Result<Vec<u8>, AgentError> {
    let params = rcgen::CertificateParams::default();
    let request = params
        .serialize_request(&CsrSigner(key))
        .map_err(|e| AgentError::Config(format!("making the certification request: {e}")))?;
    Ok(request.der().to_vec())
}

/// What `POST /kbs/v0/signing/certificate` answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IssuedCertificate {
    /// The leaf (PEM).
    pub certificate: String,
    /// The CA root (PEM), for reference; deployers get theirs from the operator.
    pub chain: Vec<String>,
    /// The builder identity in the SAN.
    pub identity: String,
    /// The KBS's issuer URL.
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// Validity start (RFC 3339).
    pub not_before: String,
    /// Validity end (RFC 3339).
    pub not_after: String,
}

/// Attests with `key` committed in the evidence, then asks for its certificate.
pub async fn request_certificate(
    client: &mut KbsClient,
    key: &SigningKeyPair,
    lifetime_seconds: Option<u32>,
) -> Result<IssuedCertificate, AgentError> {
    client.commit_signing_keys(&[key.keyid()]);
    client.attest().await?;
    let mut request = serde_json::json!({ "csr": STANDARD.encode(certification_request(key)?) });
    if let Some(seconds) = lifetime_seconds {
        request["lifetime-seconds"] = seconds.into();
    }
    let answer = client
        .post_session(
            "signing/certificate",
            "application/json",
            request.to_string().into_bytes(),
        )
        .await?;
    serde_json::from_slice(&answer).map_err(|e| {
        AgentError::Protocol(format!("certificate answer is not the expected JSON: {e}"))
    })
}
