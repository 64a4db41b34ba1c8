//! Signing key pairs for code signing: the algorithms Warden issues certificates for and signs
//! with, one crypto backend (aws-lc-rs), private bytes zeroised on drop.
//!
//! ECDSA signatures are DER (`Ecdsa-Sig-Value`), the form X.509, CMS, DSSE (securesystemslib)
//! and Sigstore bundles all use; P-256 hashes with SHA-256, P-384 with SHA-384.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, VerificationAlgorithm,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A signing algorithm Warden accepts for code-signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519 (pure).
    Ed25519,
}

/// DER of the AlgorithmIdentifier OIDs, for matching SubjectPublicKeyInfo.
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

impl KeyAlgorithm {
    /// Every algorithm, in the order names are listed in errors.
    pub const ALL: [KeyAlgorithm; 3] = [Self::EcdsaP256, Self::EcdsaP384, Self::Ed25519];

    /// The name used in configuration, APIs and policies.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The algorithm with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The X.509 signatureAlgorithm OID a key of this kind signs with (dotted).
    pub fn signature_oid(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "1.2.840.10045.4.3.2",
            Self::EcdsaP384 => "1.2.840.10045.4.3.3",
            Self::Ed25519 => OID_ED25519,
        }
    }

    /// The algorithm of a SubjectPublicKeyInfo, from its algorithm OID and curve parameter.
    pub fn of_spki(algorithm_oid: &str, curve_oid: Option<&str>) -> Option<Self> {
        match (algorithm_oid, curve_oid) {
            (OID_EC_PUBLIC_KEY, Some(OID_P256)) => Some(Self::EcdsaP256),
            (OID_EC_PUBLIC_KEY, Some(OID_P384)) => Some(Self::EcdsaP384),
            (OID_ED25519, None) => Some(Self::Ed25519),
            _ => None,
        }
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
            Self::Ed25519 => &signature::ED25519,
        }
    }

    /// Whether `signature` over `message` verifies with the raw public key bits (an EC point or
    /// an Ed25519 key, as in the SubjectPublicKeyInfo's BIT STRING).
    pub fn verify(self, public_key_bits: &[u8], message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.verification(), public_key_bits)
            .verify(message, signature)
            .is_ok()
    }
}

/// Whether an ECDSA P-256 `signature` (DER) verifies over `digest`, a SHA-256 computed
/// elsewhere: how Sigstore clients and Rekor check a message signature without the artifact.
pub fn verify_p256_prehashed(public_key_bits: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    use openssl::bn::BigNumContext;
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::ecdsa::EcdsaSig;
    use openssl::nid::Nid;
    let verify = || -> Result<bool, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let mut context = BigNumContext::new()?;
        let point = EcPoint::from_bytes(&group, public_key_bits, &mut context)?;
        let key = EcKey::from_public_key(&group, &point)?;
        EcdsaSig::from_der(signature)?.verify(digest, &key)
    };
    verify().unwrap_or(false)
}

/// Why a key could not be made, loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    /// The PKCS#8 bytes are not a key of the stated algorithm.
    #[error("not a PKCS#8 {0} private key")]
    InvalidPrivateKey(&'static str),
    /// The crypto library failed (generation or signing).
    #[error("{0} failed in the crypto library")]
    Crypto(&'static str),
}

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key with its public half precomputed.
pub struct SigningKeyPair {
    algorithm: KeyAlgorithm,
    inner: Inner,
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private bytes.
        f.debug_struct("SigningKeyPair")
            .field("algorithm", &self.algorithm.name())
            .field("keyid", &self.keyid())
            .finish()
    }
}

fn ecdsa_signing(algorithm: KeyAlgorithm) -> &'static signature::EcdsaSigningAlgorithm {
    if algorithm == KeyAlgorithm::EcdsaP384 {
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

impl SigningKeyPair {
    /// A fresh key from the system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, SigningKeyError> {
        let pkcs8 = match algorithm {
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map_err(|_| SigningKeyError::Crypto("key generation"))?
                .as_ref()
                .to_vec(),
            _ => EcdsaKeyPair::generate(ecdsa_signing(algorithm))
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| SigningKeyError::Crypto("key generation"))?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8(algorithm, &pkcs8)
    }

    /// Loads a PKCS#8 private key of the given algorithm.
    pub fn from_pkcs8(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<Self, SigningKeyError> {
        let invalid = || SigningKeyError::InvalidPrivateKey(algorithm.name());
        let (inner, spki) = match algorithm {
            KeyAlgorithm::Ed25519 => {
                let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| invalid())?;
                let spki = key.public_key().as_der().map_err(|_| invalid())?;
                let spki = spki.as_ref().to_vec();
                (Inner::Ed25519(key), spki)
            }
            _ => {
                let key = EcdsaKeyPair::from_pkcs8(ecdsa_signing(algorithm), pkcs8)
                    .map_err(|_| invalid())?;
                let spki = key.public_key().as_der().map_err(|_| invalid())?;
                let spki = spki.as_ref().to_vec();
                (Inner::Ecdsa(key), spki)
            }
        };
        Ok(Self {
            algorithm,
            inner,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            spki,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Signs `message` (ECDSA: DER signature over the hash; Ed25519: pure).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        match &self.inner {
            Inner::Ecdsa(key) => key
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningKeyError::Crypto("signing")),
            Inner::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The raw public key bits (EC point or Ed25519 key).
    pub fn public_key_bits(&self) -> &[u8] {
        match &self.inner {
            Inner::Ecdsa(key) => key.public_key().as_ref(),
            Inner::Ed25519(key) => key.public_key().as_ref(),
        }
    }

    /// The PKCS#8 private key. Callers seal it or write it 0600; nothing else.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Lower-case hex SHA-256 of the SubjectPublicKeyInfo: the key id DSSE envelopes, key
    /// commitments and securesystemslib use.
    pub fn keyid(&self) -> String {
        spki_keyid(&self.spki)
    }
}

/// Lower-case hex SHA-256 of a DER SubjectPublicKeyInfo.
pub fn spki_keyid(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_algorithm_signs_what_its_public_key_verifies_and_reloads_from_pkcs8() {
        for algorithm in KeyAlgorithm::ALL {
            let key = SigningKeyPair::generate(algorithm).unwrap();
            let signature = key.sign(b"artifact").unwrap();
            assert!(algorithm.verify(key.public_key_bits(), b"artifact", &signature));
            assert!(!algorithm.verify(key.public_key_bits(), b"artifacT", &signature));
            let again = SigningKeyPair::from_pkcs8(algorithm, key.pkcs8_der()).unwrap();
            assert_eq!(again.spki_der(), key.spki_der());
            assert_eq!(KeyAlgorithm::from_name(algorithm.name()), Some(algorithm));
            assert!(!format!("{key:?}").contains(&hex::encode(key.pkcs8_der())));
        }
        let p256 = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(
            SigningKeyPair::from_pkcs8(KeyAlgorithm::EcdsaP384, p256.pkcs8_der()).unwrap_err(),
            SigningKeyError::InvalidPrivateKey("ecdsa-p384")
        );
    }
}
