//! Encryption of stored secrets at rest: AES-256-GCM under the master key, with the resource
//! path as associated data so a sealed value cannot be moved to another path unnoticed; and
//! keys for other purposes derived from the master key (HKDF-SHA256, one label each), which
//! every replica holding the master key derives alike.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why a master key or a sealed value was refused.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// The master key is not 32 bytes as 64 hex characters.
    #[error("master key must be 32 bytes as 64 hex characters")]
    BadMasterKey,
    /// The value stored for this path does not decrypt: wrong master key, corrupted, or sealed for
    /// another path.
    #[error("stored value for {0} cannot be decrypted: wrong master key or corrupted data")]
    Unseal(String),
    /// HKDF refused to derive a key (it does only for outputs far longer than 32 bytes).
    #[error("a key could not be derived from the master key")]
    Derive,
}

/// Seals and unseals resource values under the master key.
pub struct Sealer {
    cipher: Aes256Gcm,
    /// Kept to derive keys for other purposes ([`Sealer::derive_key`]).
    master_key: Zeroizing<[u8; 32]>,
}

impl Sealer {
    /// A sealer using the 32-byte `master_key`.
    pub fn new(master_key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(master_key.into()),
            master_key: Zeroizing::new(*master_key),
        }
    }

    /// The 32-byte key HKDF-SHA256 (RFC 5869, no salt) derives from the master key for `info`:
    /// the same on every replica, and unrelated to the sealing key and to other labels.
    pub fn derive_key(&self, info: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealingError> {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let prk = Salt::new(HKDF_SHA256, &[]).extract(self.master_key.as_ref());
        let mut key = Zeroizing::new([0u8; 32]);
        // HKDF_SHA256 as the length asks for exactly 32 bytes.
        prk.expand(&[info], HKDF_SHA256)
            .and_then(|okm| okm.fill(key.as_mut()))
            .map_err(|_| SealingError::Derive)?;
        Ok(key)
    }

    /// Parses the master key file/env format: 64 hex characters (surrounding whitespace ignored).
    pub fn parse_master_key(text: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealingError> {
        let text = std::str::from_utf8(text).map_err(|_| SealingError::BadMasterKey)?;
        let bytes =
            Zeroizing::new(hex::decode(text.trim()).map_err(|_| SealingError::BadMasterKey)?);
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealingError::BadMasterKey)?;
        Ok(Zeroizing::new(key))
    }

    /// A fresh random master key in the file format: 64 hex characters and a newline.
    pub fn generate_master_key() -> Vec<u8> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        format!("{}\n", hex::encode(key.as_ref())).into_bytes()
    }

    /// Encrypts `plaintext` for `path` with a random nonce: `0x01 || nonce (12 bytes) ||
    /// ciphertext and tag`.
    pub fn seal(&self, path: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(path);
        // AES-GCM encryption fails only for inputs beyond 64 GiB, far above the body limit.
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        [&[FORMAT_V1][..], &nonce, &ciphertext].concat()
    }

    /// Decrypts a value sealed for `path`; any failure is [`SealingError::Unseal`].
    pub fn unseal(&self, path: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealingError> {
        let failed = || SealingError::Unseal(path.into());
        let (&format, rest) = sealed.split_first().ok_or_else(failed)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(failed());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| failed())?;
        let aad = associated_data(path);
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| failed())
    }
}

fn associated_data(path: &str) -> Vec<u8> {
    [b"warden-resource:".as_slice(), path.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_is_bound_to_key_and_path() {
        let sealer = Sealer::new(&[1; 32]);
        let sealed = sealer.seal("a/b/c", b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            sealer.unseal("a/b/c", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(sealer.unseal("a/b/d", &sealed).is_err());
        assert!(Sealer::new(&[2; 32]).unseal("a/b/c", &sealed).is_err());
        assert!(sealer.unseal("a/b/c", &[]).is_err());
        assert!(sealer.unseal("a/b/c", &sealed[..5]).is_err());
    }

    #[test]
    fn derived_keys_are_hkdf_sha256_of_the_master_key_one_per_label() {
        let sealer = Sealer::new(&[1; 32]);
        let ticket = sealer.derive_key(crate::protocol::TICKET_KEY_INFO).unwrap();
        // Python's hmac/hashlib, RFC 5869 by hand: PRK = HMAC(0^32, master), OKM = HMAC(PRK,
        // info || 0x01).
        // (The same code gives RFC 5869's test case 3.)
        assert_eq!(
            hex::encode(ticket.as_ref()),
            "51b6dbe1cd89c9cc267f69179b725bbec58ac994ff2c4aede1beb189fdeadf95"
        );
        assert_eq!(
            *Sealer::new(&[1; 32])
                .derive_key(crate::protocol::TICKET_KEY_INFO)
                .unwrap(),
            *ticket
        );
        assert_ne!(*sealer.derive_key(b"another label").unwrap(), *ticket);
        assert_ne!(
            *Sealer::new(&[2; 32])
                .derive_key(crate::protocol::TICKET_KEY_INFO)
                .unwrap(),
            *ticket
        );
        assert_ne!(*ticket, [1; 32]);
    }

    #[test]
    fn master_key_format() {
        let generated = Sealer::generate_master_key();
        assert!(Sealer::parse_master_key(&generated).is_ok());
        assert!(Sealer::parse_master_key(b"abcd").is_err());
        assert!(Sealer::parse_master_key(&[0xff; 64]).is_err());
    }
}
