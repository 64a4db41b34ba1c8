//! Rekor v2 log entries: the `hashedrekord` 0.0.2 body a signing transparency log records for a
//! Sigstore bundle's signature, in the shape the stock `sigstore` client rebuilds and compares
//! (rekor-v2-spec §6.1.4; `sigstore` 4.5.1 `_validate_hashedrekord_v002_entry_body` and
//! `_validate_hashedrekord_v002_dsse_entry_body`):
//!
//! - a message signature: `data` = the artifact's SHA-256 digest, `signature.content` = the
//!   signature;
//! - a DSSE envelope: `data` = the digest of its PAE with the key's hash (SHA-256 for P-256,
//!   SHA-384 for P-384), `signature.content` = its single signature;
//! - `signature.verifier` = the signing certificate and its key details.
//!
//! Ed25519 has no externalised prehash, so it cannot be recorded as `hashedrekord` (the spec
//! refuses it); neither can a message digest other than SHA-256, which the client always uses.
//! The client also verifies a message signature as ECDSA over that SHA-256 prehash, while a
//! Warden P-384 key signs with SHA-384: message signatures the stock client verifies need a
//! P-256 key (the agent's default). DSSE signatures use the key's own hash and work with both.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256, Sha384};

use crate::signing_key::KeyAlgorithm;
use crate::sigstore::{Bundle, BundleContent, HashAlgorithm, Signer};

/// Entry kind and version.
pub const HASHEDREKORD: (&str, &str) = ("hashedrekord", "0.0.2");

/// Why a bundle's signature cannot be recorded as a `hashedrekord` 0.0.2 entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorError {
    /// Ed25519 keys have no prehash (rekor-v2-spec §6.1.4).
    #[error("{0} keys cannot be recorded as hashedrekord entries (no externalised prehash)")]
    NoPrehash(&'static str),
    /// Only SHA-256 message digests are what the client compares.
    #[error("message digest {0} is not SHA2_256")]
    MessageDigest(&'static str),
    /// The bundle has no leaf certificate or no single signature.
    #[error("the bundle has no {0}")]
    Missing(&'static str),
}

/// The Sigstore `PublicKeyDetails` name of a key algorithm with a prehash.
fn key_details(algorithm: KeyAlgorithm) -> Result<&'static str, RekorError> {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => Ok("PKIX_ECDSA_P256_SHA_256"),
        KeyAlgorithm::EcdsaP384 => Ok("PKIX_ECDSA_P384_SHA_384"),
        KeyAlgorithm::Ed25519 => Err(RekorError::NoPrehash("Ed25519")),
    }
}

/// The `hashedrekord` 0.0.2 entry body (protobuf JSON) for `bundle`, signed by a key of
/// `algorithm` whose certificate is the bundle's leaf.
pub fn hashedrekord_v002(bundle: &Bundle, algorithm: KeyAlgorithm) -> Result<Vec<u8>, RekorError> {
    let details = key_details(algorithm)?;
    let certificate = match &bundle.verification_material.signer {
        Signer::Certificate(der) => der,
        Signer::CertificateChain(chain) => {
            chain.first().ok_or(RekorError::Missing("certificate"))?
        }
        Signer::PublicKey { .. } => return Err(RekorError::Missing("certificate")),
    };
    let signature = bundle
        .signature_bytes()
        .ok_or(RekorError::Missing("single signature"))?;
    let (hash_name, digest) = match &bundle.content {
        BundleContent::MessageSignature {
            digest_algorithm,
            digest,
            ..
        } => {
            if *digest_algorithm != HashAlgorithm::Sha2_256 {
                return Err(RekorError::MessageDigest(digest_algorithm.name()));
            }
            (HashAlgorithm::Sha2_256.name(), digest.clone())
        }
        BundleContent::Dsse(envelope) => match algorithm {
            KeyAlgorithm::EcdsaP384 => (
                HashAlgorithm::Sha2_384.name(),
                Sha384::digest(envelope.pae()).to_vec(),
            ),
            _ => (
                HashAlgorithm::Sha2_256.name(),
                Sha256::digest(envelope.pae()).to_vec(),
            ),
        },
    };
    let body = json!({
        "kind": HASHEDREKORD.0,
        "apiVersion": HASHEDREKORD.1,
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": hash_name, "digest": STANDARD.encode(digest)},
            "signature": {
                "content": STANDARD.encode(signature),
                "verifier": {
                    "x509Certificate": {"rawBytes": STANDARD.encode(certificate)},
                    "keyDetails": details,
                },
            },
        }},
    });
    Ok(body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::Envelope;
    use crate::sigstore::VerificationMaterial;

    fn bundle(content: BundleContent) -> Bundle {
        Bundle {
            verification_material: VerificationMaterial {
                signer: Signer::Certificate(b"leaf".to_vec()),
                tlog_entries: Vec::new(),
                rfc3161_timestamps: Vec::new(),
            },
            content,
        }
    }

    #[test]
    fn dsse_entries_hash_the_pae_with_the_keys_hash_and_ed25519_is_refused() {
        let envelope = Envelope::with_one_signature("t", b"p".to_vec(), "k", b"sig".to_vec());
        let dsse = bundle(BundleContent::Dsse(envelope.clone()));
        let body: serde_json::Value =
            serde_json::from_slice(&hashedrekord_v002(&dsse, KeyAlgorithm::EcdsaP384).unwrap())
                .unwrap();
        let data = &body["spec"]["hashedRekordV002"]["data"];
        assert_eq!(data["algorithm"], "SHA2_384");
        assert_eq!(
            data["digest"],
            STANDARD.encode(Sha384::digest(envelope.pae()))
        );
        assert_eq!(
            hashedrekord_v002(&dsse, KeyAlgorithm::Ed25519).unwrap_err(),
            RekorError::NoPrehash("Ed25519")
        );
        let sha512 = bundle(BundleContent::MessageSignature {
            digest_algorithm: HashAlgorithm::Sha2_512,
            digest: vec![0; 64],
            signature: b"sig".to_vec(),
        });
        assert_eq!(
            hashedrekord_v002(&sha512, KeyAlgorithm::EcdsaP256).unwrap_err(),
            RekorError::MessageDigest("SHA2_512")
        );
    }
}
