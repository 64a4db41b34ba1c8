//! JWE envelopes for released secrets, in the flattened JSON form CoCo clients expect:
//! `{"protected","encrypted_key","iv","ciphertext","tag"}`, `enc` = A256GCM, key management
//! `ECDH-ES+A256KW` (P-256) or `RSA-OAEP-256`. The cryptography is josekit's (OpenSSL); this
//! module only decides which algorithms are acceptable and keeps the wire shape exact.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{self, ECDH_ES_A256KW, JweDecrypter, JweEncrypter, JweHeaderSet, RSA_OAEP_256};
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CONTENT_ENCRYPTION: &str = "A256GCM";
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
/// RSA TEE keys below this size are refused: they would be the weakest link of the release.
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum JweError {
    #[error("TEE public key is not acceptable: {0}")]
    UnsupportedKey(String),
    #[error("JWE is malformed: {0}")]
    Malformed(String),
    #[error("JWE uses {found}, expected {expected}")]
    UnexpectedAlgorithm { expected: String, found: String },
    #[error("JWE could not be decrypted (wrong key or tampered ciphertext)")]
    DecryptionFailed,
    #[error("JWE encryption failed: {0}")]
    EncryptionFailed(String),
}

/// Flattened JWE JSON serialisation as sent by the KBS `/resource` endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenedJwe {
    pub protected: String,
    pub encrypted_key: String,
    pub iv: String,
    pub ciphertext: String,
    pub tag: String,
}

/// Key-management algorithm of a TEE key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdhEsA256kw,
    RsaOaep256,
}

impl KeyAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdhEsA256kw => ALG_ECDH_ES_A256KW,
            Self::RsaOaep256 => ALG_RSA_OAEP_256,
        }
    }
}

/// A TEE public key accepted as a release target: validated once, then usable for encryption.
#[derive(Debug, Clone)]
pub struct TeePublicKey {
    jwk: Jwk,
    algorithm: KeyAlgorithm,
}

impl TeePublicKey {
    /// Validates a JWK received from a client. Only public keys of the two supported kinds are
    /// accepted; a JWK carrying private parameters is refused rather than silently trimmed.
    pub fn from_jwk_value(value: &Value) -> Result<Self, JweError> {
        let Value::Object(map) = value else {
            return Err(JweError::UnsupportedKey("JWK must be a JSON object".into()));
        };
        if map.contains_key("d") || map.contains_key("p") {
            return Err(JweError::UnsupportedKey(
                "JWK contains private key material".into(),
            ));
        }
        let text = |name: &str| map.get(name).and_then(Value::as_str);
        let algorithm = match (text("kty"), text("crv"), text("alg")) {
            (Some("EC"), Some("P-256"), None | Some(ALG_ECDH_ES_A256KW)) => {
                KeyAlgorithm::EcdhEsA256kw
            }
            (Some("RSA"), None, None | Some(ALG_RSA_OAEP_256)) => KeyAlgorithm::RsaOaep256,
            (kty, crv, alg) => {
                return Err(JweError::UnsupportedKey(format!(
                    "kty={kty:?} crv={crv:?} alg={alg:?}; supported: EC P-256 with {ALG_ECDH_ES_A256KW}, RSA with {ALG_RSA_OAEP_256}"
                )));
            }
        };
        let jwk =
            Jwk::from_map(map.clone()).map_err(|e| JweError::UnsupportedKey(e.to_string()))?;
        let key = Self { jwk, algorithm };
        // Building the encrypter validates the key material itself (point on curve, RSA size).
        key.encrypter()?;
        if algorithm == KeyAlgorithm::RsaOaep256 {
            let modulus = text("n")
                .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
                .ok_or_else(|| JweError::UnsupportedKey("RSA modulus is not base64url".into()))?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < MIN_RSA_BITS {
                return Err(JweError::UnsupportedKey(format!(
                    "RSA modulus of {bits} bits is below {MIN_RSA_BITS}"
                )));
            }
        }
        Ok(key)
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn encrypter(&self) -> Result<Box<dyn JweEncrypter>, JweError> {
        let unsupported = |e: josekit::JoseError| JweError::UnsupportedKey(e.to_string());
        Ok(match self.algorithm {
            KeyAlgorithm::EcdhEsA256kw => Box::new(
                ECDH_ES_A256KW
                    .encrypter_from_jwk(&self.jwk)
                    .map_err(unsupported)?,
            ),
            KeyAlgorithm::RsaOaep256 => Box::new(
                RSA_OAEP_256
                    .encrypter_from_jwk(&self.jwk)
                    .map_err(unsupported)?,
            ),
        })
    }

    /// Encrypts `plaintext` to this key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<FlattenedJwe, JweError> {
        let encrypter = self.encrypter()?;
        let mut header = JweHeaderSet::new();
        header.set_content_encryption(CONTENT_ENCRYPTION, true);
        let json = jwe::serialize_flattened_json(plaintext, Some(&header), None, None, &*encrypter)
            .map_err(|e| JweError::EncryptionFailed(e.to_string()))?;
        serde_json::from_str(&json).map_err(|e| JweError::EncryptionFailed(e.to_string()))
    }
}

/// The TEE's ephemeral key pair, generated inside the guest; the private half never leaves it.
#[derive(Debug, Clone)]
pub struct TeeKeyPair {
    pair: KeyPairKind,
}

#[derive(Debug, Clone)]
enum KeyPairKind {
    Ec(EcKeyPair),
    Rsa(RsaKeyPair),
}

impl TeeKeyPair {
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, JweError> {
        let failed = |e: josekit::JoseError| JweError::EncryptionFailed(e.to_string());
        let pair = match algorithm {
            KeyAlgorithm::EcdhEsA256kw => {
                let mut pair = EcKeyPair::generate(EcCurve::P256).map_err(failed)?;
                pair.set_algorithm(Some(ALG_ECDH_ES_A256KW));
                KeyPairKind::Ec(pair)
            }
            KeyAlgorithm::RsaOaep256 => {
                let mut pair = RsaKeyPair::generate(MIN_RSA_BITS as u32).map_err(failed)?;
                pair.set_algorithm(Some(ALG_RSA_OAEP_256));
                KeyPairKind::Rsa(pair)
            }
        };
        Ok(Self { pair })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.pair {
            KeyPairKind::Ec(_) => KeyAlgorithm::EcdhEsA256kw,
            KeyPairKind::Rsa(_) => KeyAlgorithm::RsaOaep256,
        }
    }

    /// The public JWK exactly as it is sent in `runtime-data.tee-pubkey`.
    pub fn public_jwk(&self) -> Value {
        let jwk = match &self.pair {
            KeyPairKind::Ec(pair) => pair.to_jwk_public_key(),
            KeyPairKind::Rsa(pair) => pair.to_jwk_public_key(),
        };
        let map: Map<String, Value> = jwk.into();
        Value::Object(map)
    }

    fn decrypter(&self) -> Result<Box<dyn JweDecrypter>, JweError> {
        let failed = |e: josekit::JoseError| JweError::Malformed(e.to_string());
        Ok(match &self.pair {
            KeyPairKind::Ec(pair) => Box::new(
                ECDH_ES_A256KW
                    .decrypter_from_jwk(&pair.to_jwk_private_key())
                    .map_err(failed)?,
            ),
            KeyPairKind::Rsa(pair) => Box::new(
                RSA_OAEP_256
                    .decrypter_from_jwk(&pair.to_jwk_private_key())
                    .map_err(failed)?,
            ),
        })
    }

    /// Decrypts a JWE addressed to this key, refusing any other algorithm or content encryption.
    pub fn decrypt(&self, envelope: &FlattenedJwe) -> Result<Vec<u8>, JweError> {
        let header = ProtectedHeader::parse(&envelope.protected)?;
        let expected = self.algorithm().name();
        if header.alg != expected {
            return Err(JweError::UnexpectedAlgorithm {
                expected: expected.into(),
                found: header.alg,
            });
        }
        if header.enc != CONTENT_ENCRYPTION {
            return Err(JweError::UnexpectedAlgorithm {
                expected: CONTENT_ENCRYPTION.into(),
                found: header.enc,
            });
        }
        self.check_lengths(envelope)?;
        let json =
            serde_json::to_string(envelope).map_err(|e| JweError::Malformed(e.to_string()))?;
        let decrypter = self.decrypter()?;
        jwe::deserialize_json(&json, &*decrypter)
            .map(|(plaintext, _)| plaintext)
            .map_err(|_| JweError::DecryptionFailed)
    }
}

impl TeeKeyPair {
    /// Checks the sizes of the binary fields before josekit sees them: josekit 0.10.3 panics
    /// (length underflow) on a wrapped key shorter than 8 bytes, found by `fuzz/` (jwe target).
    fn check_lengths(&self, envelope: &FlattenedJwe) -> Result<(), JweError> {
        let decoded_len = |name: &str, value: &str| {
            URL_SAFE_NO_PAD
                .decode(value)
                .map(|bytes| bytes.len())
                .map_err(|e| JweError::Malformed(format!("{name}: {e}")))
        };
        let wrapped_key_len = match &self.pair {
            // A 256-bit content key wrapped with AES key wrap gains 8 bytes.
            KeyPairKind::Ec(_) => 40,
            KeyPairKind::Rsa(pair) => pair.key_len() as usize, // modulus size in bytes
        };
        for (name, value, expected) in [
            ("encrypted_key", &envelope.encrypted_key, wrapped_key_len),
            ("iv", &envelope.iv, 12),
            ("tag", &envelope.tag, 16),
        ] {
            let found = decoded_len(name, value)?;
            if found != expected {
                return Err(JweError::Malformed(format!(
                    "{name} is {found} bytes, expected {expected}"
                )));
            }
        }
        decoded_len("ciphertext", &envelope.ciphertext).map(drop)
    }
}

/// The fields of the protected header this crate decides on.
#[derive(Debug, Deserialize)]
struct ProtectedHeader {
    alg: String,
    enc: String,
}

impl ProtectedHeader {
    fn parse(encoded: &str) -> Result<Self, JweError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|e| JweError::Malformed(format!("protected header: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| JweError::Malformed(format!("protected header: {e}")))
    }
}

/// Parses a flattened JWE from untrusted bytes (the agent's side of `/resource`).
pub fn parse_flattened(bytes: &[u8]) -> Result<FlattenedJwe, JweError> {
    serde_json::from_slice(bytes).map_err(|e| JweError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(algorithm: KeyAlgorithm) {
        let pair = TeeKeyPair::generate(algorithm).unwrap();
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).unwrap();
        let envelope = public.encrypt(b"top secret").unwrap();
        assert_eq!(pair.decrypt(&envelope).unwrap(), b"top secret");
        let header = ProtectedHeader::parse(&envelope.protected).unwrap();
        assert_eq!(header.alg, algorithm.name());
        assert_eq!(header.enc, "A256GCM");
    }

    #[test]
    fn ec_round_trip() {
        round_trip(KeyAlgorithm::EcdhEsA256kw);
    }

    #[test]
    fn rsa_round_trip() {
        round_trip(KeyAlgorithm::RsaOaep256);
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).unwrap();
        let mut envelope = public.encrypt(b"top secret").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&envelope.ciphertext).unwrap();
        bytes[0] ^= 1;
        envelope.ciphertext = URL_SAFE_NO_PAD.encode(bytes);
        assert!(matches!(
            pair.decrypt(&envelope),
            Err(JweError::DecryptionFailed)
        ));
    }

    #[test]
    fn other_key_cannot_decrypt() {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let other = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).unwrap();
        let envelope = public.encrypt(b"x").unwrap();
        assert!(other.decrypt(&envelope).is_err());
    }

    #[test]
    fn unsupported_keys_are_refused() {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let mut jwk = pair.public_jwk();
        jwk["crv"] = "P-521".into();
        assert!(TeePublicKey::from_jwk_value(&jwk).is_err());
        let mut jwk = pair.public_jwk();
        jwk["alg"] = "dir".into();
        assert!(TeePublicKey::from_jwk_value(&jwk).is_err());
        let mut jwk = pair.public_jwk();
        jwk["x"] = "AAAA".into();
        assert!(TeePublicKey::from_jwk_value(&jwk).is_err());
        assert!(TeePublicKey::from_jwk_value(&serde_json::json!("not a key")).is_err());
        let small = RsaKeyPair::generate(1024).unwrap();
        let small: Map<String, Value> = small.to_jwk_public_key().into();
        assert!(TeePublicKey::from_jwk_value(&Value::Object(small)).is_err());
    }

    #[test]
    fn downgraded_header_is_refused() {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).unwrap();
        let mut envelope = public.encrypt(b"x").unwrap();
        envelope.protected = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM"}"#);
        assert!(matches!(
            pair.decrypt(&envelope),
            Err(JweError::UnexpectedAlgorithm { .. })
        ));
    }

    #[test]
    fn short_wrapped_key_is_an_error_not_a_panic() {
        // Regression for fuzz/seeds/jwe/regression_short_encrypted_key.json.
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        let public = TeePublicKey::from_jwk_value(&pair.public_jwk()).unwrap();
        let mut envelope = public.encrypt(b"x").unwrap();
        for short in ["EPy8", "AAAAAAAAAA", ""] {
            envelope.encrypted_key = short.into();
            assert!(matches!(
                pair.decrypt(&envelope),
                Err(JweError::Malformed(_))
            ));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let pair = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        for input in [&b""[..], b"{}", b"[]", b"{\"protected\":1}", &[0xff, 0xfe]] {
            if let Ok(envelope) = parse_flattened(input) {
                assert!(pair.decrypt(&envelope).is_err());
            }
        }
    }
}
