//! JWE envelopes for released secrets, in the flattened JSON form CoCo clients expect:
//! `{"protected","encrypted_key","iv","ciphertext","tag"}`, `enc` = A256GCM, key management
//! `ECDH-ES+A256KW` (P-256) or `RSA-OAEP-256`. Encryption (the KBS's side, once per release) is
//! aws-lc-rs's, except RSA-OAEP (OpenSSL's); decryption (the agent's) is josekit's. This module
//! decides which algorithms are acceptable and keeps the wire shape exact.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{
    self, ECDH_P256, EphemeralPrivateKey, ParsedPublicKey, UnparsedPublicKey,
};
use aws_lc_rs::key_wrap::{AES_256, KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{self, ECDH_ES_A256KW, JweDecrypter, RSA_OAEP_256};
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use openssl::bn::BigNum;
use openssl::encrypt::Encrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::{Padding, Rsa};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Content encryption (`enc`) of every JWE: AES-256-GCM.
pub const CONTENT_ENCRYPTION: &str = "A256GCM";
/// Key-management algorithm (`alg`) for EC P-256 TEE keys.
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// Key-management algorithm (`alg`) for RSA TEE keys.
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
/// RSA TEE keys below this size are refused: they would be the weakest link of the release.
pub const MIN_RSA_BITS: usize = 2048;

/// Why a TEE key was refused or a JWE could not be built, parsed or opened.
#[derive(Debug, thiserror::Error)]
pub enum JweError {
    /// The TEE public key is not an acceptable JWK; the reason is given.
    #[error("TEE public key is not acceptable: {0}")]
    UnsupportedKey(String),
    /// The envelope or its protected header is malformed; the reason is given.
    #[error("JWE is malformed: {0}")]
    Malformed(String),
    /// The protected header names another `alg` or `enc` than this key requires.
    #[error("JWE uses {found}, expected {expected}")]
    UnexpectedAlgorithm {
        /// The `alg` this key requires, or `A256GCM` for `enc`.
        expected: String,
        /// The value the protected header carries.
        found: String,
    },
    /// Decryption failed: the wrong key, or a tampered envelope.
    #[error("JWE could not be decrypted (wrong key or tampered ciphertext)")]
    DecryptionFailed,
    /// Encryption (or key generation) failed in OpenSSL or josekit; the reason is given.
    #[error("JWE encryption failed: {0}")]
    EncryptionFailed(String),
}

/// Flattened JWE JSON serialisation as sent by the KBS `/resource` endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenedJwe {
    /// Base64url of the protected header JSON.
    pub protected: String,
    /// Base64url of the wrapped content-encryption key.
    pub encrypted_key: String,
    /// Base64url of the 12-byte AES-GCM initialisation vector.
    pub iv: String,
    /// Base64url of the ciphertext.
    pub ciphertext: String,
    /// Base64url of the 16-byte AES-GCM authentication tag.
    pub tag: String,
}

/// Key-management algorithm of a TEE key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// `ECDH-ES+A256KW` with an EC P-256 key.
    EcdhEsA256kw,
    /// `RSA-OAEP-256` with an RSA key of at least [`MIN_RSA_BITS`] bits.
    RsaOaep256,
}

impl KeyAlgorithm {
    /// The JWA name of the algorithm, as used in `alg`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdhEsA256kw => ALG_ECDH_ES_A256KW,
            Self::RsaOaep256 => ALG_RSA_OAEP_256,
        }
    }
}

/// A TEE public key accepted as a release target: validated once, then usable for encryption.
///
/// Encryption is done here with OpenSSL primitives rather than josekit because the protected
/// header must have one exact byte form: CoCo's client rebuilds the AEAD associated data by
/// re-serialising the parsed header (`alg`, `enc`, then the other members), and josekit writes
/// `enc` first. We emit `{"alg","enc","epk":{"crv","kty","x","y"}}`, which re-serialises to the
/// same bytes whether or not the client's JSON map keeps insertion order.
#[derive(Clone)]
pub struct TeePublicKey {
    key: PublicKeyKind,
}

#[derive(Clone)]
enum PublicKeyKind {
    /// A P-256 point, checked to be on the curve.
    Ec(ParsedPublicKey),
    Rsa(PKey<Public>),
}

impl std::fmt::Debug for TeePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeePublicKey")
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

/// The uncompressed SEC 1 encoding of a P-256 point from its JWK coordinates. RFC 7518
/// §6.2.1.2 asks for 32 bytes each; shorter (leading zeros dropped) or zero-prefixed values
/// name the same integer and are accepted, as a big-number parse accepts them.
fn p256_point(x: &[u8], y: &[u8]) -> Result<Vec<u8>, JweError> {
    let mut point = vec![0x04];
    for (name, coordinate) in [("x", x), ("y", y)] {
        let significant = &coordinate[coordinate.iter().take_while(|&&b| b == 0).count()..];
        if significant.len() > 32 {
            return Err(JweError::UnsupportedKey(format!(
                "JWK member {name} is larger than a P-256 coordinate"
            )));
        }
        point.resize(point.len() + 32 - significant.len(), 0);
        point.extend_from_slice(significant);
    }
    Ok(point)
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
        let bytes = |name: &str| {
            text(name)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or_else(|| {
                    JweError::UnsupportedKey(format!("JWK member {name} is not base64url"))
                })
        };
        let number = |name: &str| {
            BigNum::from_slice(&bytes(name)?).map_err(|e| JweError::UnsupportedKey(e.to_string()))
        };
        let unsupported = |e: openssl::error::ErrorStack| JweError::UnsupportedKey(e.to_string());
        let key = match (text("kty"), text("crv"), text("alg")) {
            (Some("EC"), Some("P-256"), None | Some(ALG_ECDH_ES_A256KW)) => {
                let point = p256_point(&bytes("x")?, &bytes("y")?)?;
                // Parsing rejects points that are not on the curve (and the point at infinity).
                let key = ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, point))
                    .map_err(|_| {
                        JweError::UnsupportedKey("JWK x, y is not a point on P-256".into())
                    })?;
                PublicKeyKind::Ec(key)
            }
            (Some("RSA"), None, None | Some(ALG_RSA_OAEP_256)) => {
                let rsa =
                    Rsa::from_public_components(number("n")?, number("e")?).map_err(unsupported)?;
                let bits = rsa.n().num_bits() as usize;
                if bits < MIN_RSA_BITS {
                    return Err(JweError::UnsupportedKey(format!(
                        "RSA modulus of {bits} bits is below {MIN_RSA_BITS}"
                    )));
                }
                PublicKeyKind::Rsa(PKey::from_rsa(rsa).map_err(unsupported)?)
            }
            (kty, crv, alg) => {
                return Err(JweError::UnsupportedKey(format!(
                    "kty={kty:?} crv={crv:?} alg={alg:?}; supported: EC P-256 with {ALG_ECDH_ES_A256KW}, RSA with {ALG_RSA_OAEP_256}"
                )));
            }
        };
        Ok(Self { key })
    }

    /// The key-management algorithm this key is used with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.key {
            PublicKeyKind::Ec(_) => KeyAlgorithm::EcdhEsA256kw,
            PublicKeyKind::Rsa(_) => KeyAlgorithm::RsaOaep256,
        }
    }

    /// Encrypts `plaintext` to this key with a fresh content-encryption key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<FlattenedJwe, JweError> {
        let random = SystemRandom::new();
        let failed = |what: &str| JweError::EncryptionFailed(what.to_owned());
        let mut cek = Zeroizing::new([0u8; 32]);
        random
            .fill(cek.as_mut())
            .map_err(|_| failed("random CEK"))?;
        let (protected, encrypted_key) = match &self.key {
            PublicKeyKind::Ec(peer) => ecdh_es_a256kw_wrap(peer, &cek, &random)?,
            PublicKeyKind::Rsa(peer) => {
                let header =
                    format!(r#"{{"alg":"{ALG_RSA_OAEP_256}","enc":"{CONTENT_ENCRYPTION}"}}"#);
                let wrapped = rsa_oaep_256_encrypt(peer, cek.as_ref())
                    .map_err(|e| JweError::EncryptionFailed(e.to_string()))?;
                (header, wrapped)
            }
        };
        let protected = URL_SAFE_NO_PAD.encode(protected);
        let mut iv = [0u8; 12];
        random.fill(&mut iv).map_err(|_| failed("random IV"))?;
        let key =
            UnboundKey::new(&AES_256_GCM, cek.as_ref()).map_err(|_| failed("AES-256-GCM key"))?;
        let mut ciphertext = plaintext.to_vec();
        // RFC 7516: the associated data is the ASCII of the encoded protected header.
        let tag = LessSafeKey::new(key)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(protected.as_bytes()),
                &mut ciphertext,
            )
            .map_err(|_| failed("AES-256-GCM"))?;
        Ok(FlattenedJwe {
            protected,
            encrypted_key: URL_SAFE_NO_PAD.encode(encrypted_key),
            iv: URL_SAFE_NO_PAD.encode(iv),
            ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
            tag: URL_SAFE_NO_PAD.encode(tag.as_ref()),
        })
    }
}

/// ECDH-ES+A256KW (RFC 7518 §4.6): ephemeral-static ECDH, Concat KDF (SHA-256, empty apu/apv),
/// AES key wrap of the CEK. Returns the protected header JSON and the wrapped key.
fn ecdh_es_a256kw_wrap(
    peer: &ParsedPublicKey,
    cek: &[u8; 32],
    random: &SystemRandom,
) -> Result<(String, Vec<u8>), JweError> {
    let failed = |what: &str| JweError::EncryptionFailed(what.to_owned());
    let ephemeral =
        EphemeralPrivateKey::generate(&ECDH_P256, random).map_err(|_| failed("ephemeral key"))?;
    let public = ephemeral
        .compute_public_key()
        .map_err(|_| failed("ephemeral public key"))?;
    // Uncompressed SEC 1: 0x04 || x || y.
    let (x, y) = match public.as_ref() {
        [0x04, coordinates @ ..] if coordinates.len() == 64 => coordinates.split_at(32),
        _ => return Err(failed("ephemeral public key encoding")),
    };
    let kek = agreement::agree_ephemeral(ephemeral, peer.clone(), failed("ECDH"), |shared| {
        Ok(Zeroizing::new(concat_kdf_sha256(
            shared,
            ALG_ECDH_ES_A256KW,
        )))
    })?;
    let kek =
        KeyEncryptionKey::new(&AES_256, kek.as_ref()).map_err(|_| failed("AES key wrap key"))?;
    let mut wrapped = vec![0u8; cek.len() + 8];
    let written = kek
        .wrap(cek, &mut wrapped)
        .map_err(|_| failed("AES key wrap"))?
        .len();
    wrapped.truncate(written);
    let header = format!(
        r#"{{"alg":"{ALG_ECDH_ES_A256KW}","enc":"{CONTENT_ENCRYPTION}","epk":{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    );
    Ok((header, wrapped))
}

/// Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2) for one 256-bit output block.
fn concat_kdf_sha256(shared_secret: &[u8], algorithm: &str) -> [u8; 32] {
    let length_prefixed = |data: &[u8]| [&(data.len() as u32).to_be_bytes()[..], data].concat();
    let mut hash = Sha256::new();
    hash.update(1u32.to_be_bytes());
    hash.update(shared_secret);
    hash.update(length_prefixed(algorithm.as_bytes()));
    hash.update(length_prefixed(b"")); // PartyUInfo
    hash.update(length_prefixed(b"")); // PartyVInfo
    hash.update(256u32.to_be_bytes()); // SuppPubInfo: key length in bits
    hash.finalize().into()
}

fn rsa_oaep_256_encrypt(
    peer: &PKey<Public>,
    cek: &[u8],
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut encrypter = Encrypter::new(peer)?;
    encrypter.set_rsa_padding(Padding::PKCS1_OAEP)?;
    encrypter.set_rsa_oaep_md(MessageDigest::sha256())?;
    encrypter.set_rsa_mgf1_md(MessageDigest::sha256())?;
    let mut out = vec![0u8; encrypter.encrypt_len(cek)?];
    let written = encrypter.encrypt(cek, &mut out)?;
    out.truncate(written);
    Ok(out)
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
    /// Generates a fresh key pair for `algorithm` (P-256, or RSA of [`MIN_RSA_BITS`] bits).
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

    /// The key-management algorithm of this pair.
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
    fn protected_header_has_the_canonical_byte_form() {
        for algorithm in [KeyAlgorithm::EcdhEsA256kw, KeyAlgorithm::RsaOaep256] {
            let pair = TeeKeyPair::generate(algorithm).unwrap();
            let envelope = TeePublicKey::from_jwk_value(&pair.public_jwk())
                .unwrap()
                .encrypt(b"x")
                .unwrap();
            let header = URL_SAFE_NO_PAD.decode(&envelope.protected).unwrap();
            let parsed: Value = serde_json::from_slice(&header).unwrap();
            // Sorted members at every level (alg < enc < epk; crv < kty < x < y) is what both an
            // order-preserving and a sorting JSON map re-serialise to.
            assert_eq!(
                header,
                serde_jcs::to_vec(&parsed).unwrap(),
                "{}",
                String::from_utf8_lossy(&header)
            );
            assert!(header.starts_with(br#"{"alg":""#));
        }
    }

    #[test]
    fn coco_kbs_types_reads_our_envelope_and_rebuilds_the_same_aad() {
        for algorithm in [KeyAlgorithm::EcdhEsA256kw, KeyAlgorithm::RsaOaep256] {
            let pair = TeeKeyPair::generate(algorithm).unwrap();
            let envelope = TeePublicKey::from_jwk_value(&pair.public_jwk())
                .unwrap()
                .encrypt(b"x")
                .unwrap();
            let response: kbs_types::Response =
                serde_json::from_str(&serde_json::to_string(&envelope).unwrap()).unwrap();
            assert_eq!(response.protected.alg, algorithm.name());
            assert_eq!(response.protected.enc, CONTENT_ENCRYPTION);
            // The CoCo client decrypts with this AAD; it must be the header exactly as sent.
            assert_eq!(
                response.protected.generate_aad().unwrap(),
                envelope.protected.as_bytes()
            );
            assert_eq!(
                response.encrypted_key,
                URL_SAFE_NO_PAD.decode(&envelope.encrypted_key).unwrap()
            );
        }
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
    fn p256_coordinates_name_integers_and_must_be_on_the_curve() {
        // A key whose x starts with a zero byte, written both in full and with it dropped.
        let (pair, x) =
            std::iter::repeat_with(|| TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap())
                .find_map(|pair| {
                    let x = URL_SAFE_NO_PAD
                        .decode(pair.public_jwk()["x"].as_str()?)
                        .ok()?;
                    (x[0] == 0).then_some((pair, x))
                })
                .unwrap();
        for written in [&x[..], &x[1..], &[&[0u8][..], &x[..]].concat()[..]] {
            let mut jwk = pair.public_jwk();
            jwk["x"] = URL_SAFE_NO_PAD.encode(written).into();
            let public = TeePublicKey::from_jwk_value(&jwk).unwrap();
            assert_eq!(
                pair.decrypt(&public.encrypt(b"zero").unwrap()).unwrap(),
                b"zero"
            );
        }
        let refused = |x: &[u8], y: &[u8]| {
            let mut jwk = pair.public_jwk();
            jwk["x"] = URL_SAFE_NO_PAD.encode(x).into();
            jwk["y"] = URL_SAFE_NO_PAD.encode(y).into();
            matches!(
                TeePublicKey::from_jwk_value(&jwk),
                Err(JweError::UnsupportedKey(_))
            )
        };
        let y = URL_SAFE_NO_PAD
            .decode(pair.public_jwk()["y"].as_str().unwrap())
            .unwrap();
        let mut off_curve = y.clone();
        off_curve[31] ^= 1;
        assert!(refused(&x, &off_curve));
        assert!(refused(&[0u8; 32], &[0u8; 32]));
        assert!(refused(&[1u8; 33], &y));
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
