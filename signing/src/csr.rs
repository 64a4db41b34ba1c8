//! PKCS#10 certification requests, read strictly: only the public key and the proof that its
//! holder signed the request are used. The requested subject and extensions are ignored, so a
//! request cannot steer what the certificate says.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use warden_verifier::artifact::spki_algorithm;
use warden_verifier::x509::{SignedStructure, check_signed_structure};
use warden_wire::signing_key::{KeyAlgorithm, spki_keyid};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::SigningError;

/// Largest CSR read.
pub const MAX_CSR_BYTES: usize = 8192;

/// A CSR whose self-signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCsr {
    /// The requested key's DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// Lower-case hex SHA-256 of `spki`: what the agent committed to in its evidence.
    pub keyid: String,
}

/// Parses a DER CSR, checks its structure is strict DER, that its key is one Warden issues for
/// and that the request is signed by that key.
pub fn verify_csr(der: &[u8]) -> Result<VerifiedCsr, SigningError> {
    let malformed = |detail: String| SigningError::MalformedCsr(detail);
    if der.len() > MAX_CSR_BYTES {
        return Err(malformed(format!("larger than {MAX_CSR_BYTES} bytes")));
    }
    check_signed_structure(der, SignedStructure::CertificationRequest)
        .map_err(|e| malformed(e.to_string()))?;
    let (rest, request) =
        X509CertificationRequest::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed("bytes after the request".into()));
    }
    let info = &request.certification_request_info;
    let spki = &info.subject_pki;
    let algorithm = spki_algorithm(spki.raw).ok_or_else(|| {
        SigningError::UnsupportedKey(format!(
            "the requested key is not one of {}",
            KeyAlgorithm::ALL.map(KeyAlgorithm::name).join(", ")
        ))
    })?;
    let signature_oid = request.signature_algorithm.algorithm.to_id_string();
    let verification = csr_verification(algorithm, &signature_oid).ok_or_else(|| {
        malformed(format!(
            "signed with {signature_oid}, which is not a signature a {} key makes",
            algorithm.name()
        ))
    })?;
    let proven = UnparsedPublicKey::new(verification, &spki.subject_public_key.data)
        .verify(info.raw, &request.signature_value.data)
        .is_ok();
    if !proven {
        return Err(malformed(
            "its signature does not verify with the requested key (no proof of possession)".into(),
        ));
    }
    let spki = spki.raw.to_vec();
    Ok(VerifiedCsr {
        keyid: spki_keyid(&spki),
        spki,
        algorithm,
    })
}

/// How a CSR's self-signature is checked: the key's own algorithm, or for ECDSA keys the other
/// SHA-2 digest (OpenSSL signs P-384 requests with SHA-256 by default). The CSR only proves
/// possession; what the key later signs is checked by its certificate's algorithm.
fn csr_verification(
    algorithm: KeyAlgorithm,
    signature_oid: &str,
) -> Option<&'static dyn VerificationAlgorithm> {
    // ecdsa-with-SHA256 and -SHA384 are the signature OIDs P-256 and P-384 keys sign with.
    let sha256 = KeyAlgorithm::EcdsaP256.signature_oid();
    let sha384 = KeyAlgorithm::EcdsaP384.signature_oid();
    match algorithm {
        KeyAlgorithm::EcdsaP256 if signature_oid == sha256 => {
            Some(&signature::ECDSA_P256_SHA256_ASN1)
        }
        KeyAlgorithm::EcdsaP256 if signature_oid == sha384 => {
            Some(&signature::ECDSA_P256_SHA384_ASN1)
        }
        KeyAlgorithm::EcdsaP384 if signature_oid == sha256 => {
            Some(&signature::ECDSA_P384_SHA256_ASN1)
        }
        KeyAlgorithm::EcdsaP384 if signature_oid == sha384 => {
            Some(&signature::ECDSA_P384_SHA384_ASN1)
        }
        KeyAlgorithm::Ed25519 if signature_oid == algorithm.signature_oid() => {
            Some(&signature::ED25519)
        }
        _ => None,
    }
}
