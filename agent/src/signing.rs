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

/// What to sign locally.
#[derive(Debug, Clone, Copy)]
pub enum Signable<'a> {
    /// An artifact's bytes: a message signature.
    Artifact(&'a [u8]),
    /// An in-toto Statement v1 (JSON): a DSSE envelope.
    Statement(&'a [u8]),
}

/// Loads a PKCS#8 PEM private key of any algorithm Warden certifies.
pub fn load_signing_key(pem: &[u8]) -> Result<SigningKeyPair, AgentError> {
    let der = pem_block(pem, "PRIVATE KEY")?;
    KeyAlgorithm::ALL
        .into_iter()
        .find_map(|algorithm| SigningKeyPair::from_pkcs8(algorithm, &der).ok())
        .ok_or_else(|| {
            AgentError::Config("the key is not a PKCS#8 ECDSA P-256/P-384 or Ed25519 key".into())
        })
}

/// The DER of the first `label` block of a PEM text.
pub fn pem_block(pem: &[u8], label: &str) -> Result<Vec<u8>, AgentError> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .find(|block| block.label == label)
        .map(|block| block.contents)
        .ok_or_else(|| AgentError::Config(format!("no {label} PEM block")))
}

/// The one SAN URI of a certificate: the builder identity Warden certified.
pub fn certificate_identity(der: &[u8]) -> Result<String, AgentError> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, certificate) = X509Certificate::from_der(der)
        .map_err(|e| AgentError::Config(format!("the certificate does not parse: {e}")))?;
    let uris: Vec<String> = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    match uris.as_slice() {
        [uri] => Ok(uri.clone()),
        _ => Err(AgentError::Config(
            "the certificate does not name exactly one builder identity (SAN URI)".into(),
        )),
    }
}

/// Signs `what` with `key` whose certificate is `certificate` (DER) and returns the bundle
/// without timestamps (see [`timestamp`]). A SLSA v1 statement must name the certificate's
/// identity as its builder: a signature claiming another builder is not made.
pub fn sign_locally(
    key: &SigningKeyPair,
    certificate: &[u8],
    what: Signable<'_>,
) -> Result<warden_wire::sigstore::Bundle, AgentError> {
    use sha2::{Digest as _, Sha256};
    use warden_wire::sigstore::{
        Bundle, BundleContent, HashAlgorithm, Signer, VerificationMaterial,
    };
    let sign = |bytes: &[u8]| {
        key.sign(bytes)
            .map_err(|e| AgentError::Config(format!("signing: {e}")))
    };
    let content = match what {
        Signable::Artifact(bytes) => BundleContent::MessageSignature {
            digest_algorithm: HashAlgorithm::Sha2_256,
            digest: Sha256::digest(bytes).to_vec(),
            signature: sign(bytes)?,
        },
        Signable::Statement(statement) => {
            let parsed: serde_json::Value = serde_json::from_slice(statement)
                .map_err(|e| AgentError::Config(format!("the statement is not JSON: {e}")))?;
            if parsed["predicateType"] == warden_wire::code_signing::SLSA_PROVENANCE_V1 {
                let identity = certificate_identity(certificate)?;
                let builder = parsed["predicate"]["runDetails"]["builder"]["id"]
                    .as_str()
                    .unwrap_or_default();
                if builder != identity {
                    return Err(AgentError::Config(format!(
                        "the provenance names builder {builder:?}, but this certificate is for {identity:?}"
                    )));
                }
            }
            let payload_type = warden_wire::dsse::IN_TOTO_PAYLOAD_TYPE;
            let signature = sign(&warden_wire::dsse::pae(payload_type, statement))?;
            BundleContent::Dsse(warden_wire::dsse::Envelope::with_one_signature(
                payload_type,
                statement.to_vec(),
                key.keyid(),
                signature,
            ))
        }
    };
    Ok(Bundle {
        verification_material: VerificationMaterial {
            signer: Signer::Certificate(certificate.to_vec()),
            tlog_entries: Vec::new(),
            rfc3161_timestamps: Vec::new(),
        },
        content,
    })
}

/// Asks the KBS's timestamp authority for an RFC 3161 timestamp over the bundle's signature and
/// adds it: the signature then stays verifiable after the short-lived certificate expires.
pub async fn timestamp(
    config: &crate::ClientConfig,
    bundle: &mut warden_wire::sigstore::Bundle,
) -> Result<(), AgentError> {
    let signature = bundle
        .signature_bytes()
        .ok_or_else(|| AgentError::Protocol("the bundle has no single signature".into()))?;
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| AgentError::Config("no randomness for the timestamp nonce".into()))?;
    let request = warden_wire::tsp::build_request(signature, Some(u64::from_be_bytes(nonce)))
        .map_err(|e| AgentError::Config(format!("timestamp request: {e}")))?;
    let reply = crate::client::post_unauthenticated(
        config,
        "signing/timestamp",
        "application/timestamp-query",
        request,
    )
    .await?;
    let response = warden_wire::tsp::parse_response(&reply)
        .map_err(|e| AgentError::Protocol(format!("timestamp reply: {e}")))?;
    if !matches!(
        response.status,
        warden_wire::tsp::PkiStatus::Granted | warden_wire::tsp::PkiStatus::GrantedWithMods
    ) {
        return Err(AgentError::Protocol(format!(
            "the timestamp authority refused: {:?}",
            response.status
        )));
    }
    bundle.verification_material.rfc3161_timestamps.push(reply);
    Ok(())
}

/// Has the KBS record the bundle's signature on its signing transparency log and adds the log
/// entry (with its inclusion proof and signed checkpoint) to the bundle, as Sigstore clients
/// require. The bundle must be timestamped first: the KBS verifies it as a deployer would.
pub async fn log(
    config: &crate::ClientConfig,
    bundle: &mut warden_wire::sigstore::Bundle,
) -> Result<u64, AgentError> {
    let reply = crate::client::post_unauthenticated(
        config,
        "signing/log",
        "application/json",
        bundle.to_json().into_bytes(),
    )
    .await?;
    let reply: serde_json::Value = serde_json::from_slice(&reply)
        .map_err(|e| AgentError::Protocol(format!("log reply: {e}")))?;
    let logged = serde_json::to_vec(&reply["bundle"]).unwrap_or_default();
    let logged = warden_wire::sigstore::Bundle::parse(&logged)
        .map_err(|e| AgentError::Protocol(format!("log reply bundle: {e}")))?;
    if logged.content != bundle.content {
        return Err(AgentError::Protocol(
            "the KBS logged another signature than this bundle's".into(),
        ));
    }
    bundle.verification_material.tlog_entries = logged.verification_material.tlog_entries;
    reply["log-index"]
        .as_u64()
        .ok_or_else(|| AgentError::Protocol("log reply without log-index".into()))
}

/// Attests, then asks the KBS to sign `statement` with its named key `key_name`; returns the
/// Sigstore bundle (JSON) it answers.
pub async fn remote_sign(
    client: &mut KbsClient,
    key_name: &str,
    statement: &[u8],
) -> Result<serde_json::Value, AgentError> {
    client.attest().await?;
    remote_sign_attested(client, key_name, statement).await
}

/// [`remote_sign`] over the session `client` already attested.
pub async fn remote_sign_attested(
    client: &KbsClient,
    key_name: &str,
    statement: &[u8],
) -> Result<serde_json::Value, AgentError> {
    let plain = !key_name.is_empty()
        && key_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !plain {
        return Err(AgentError::Config(format!(
            "key name {key_name:?} must be of [a-z0-9._-]"
        )));
    }
    let request = serde_json::json!({
        "payload-type": warden_wire::dsse::IN_TOTO_PAYLOAD_TYPE,
        "payload": STANDARD.encode(statement),
    });
    let answer = client
        .post_session(
            &format!("signing/keys/{key_name}/sign"),
            "application/json",
            request.to_string().into_bytes(),
        )
        .await?;
    let mut answer: serde_json::Value = serde_json::from_slice(&answer)
        .map_err(|e| AgentError::Protocol(format!("sign answer is not JSON: {e}")))?;
    let bundle = answer["bundle"].take();
    warden_wire::sigstore::Bundle::parse(bundle.to_string().as_bytes())
        .map_err(|e| AgentError::Protocol(format!("the KBS answered a malformed bundle: {e}")))?;
    Ok(bundle)
}
