//! Server side of `TPM2_MakeCredential`, computed without a TPM: encrypts a secret so that only
//! the TPM holding both the endorsement key (EK) and the named attestation key (AK) can recover
//! it with `TPM2_ActivateCredential` (TPM 2.0 Library Part 1, §24 "Credential Protection").
//!
//! Only the EK the TCG EK Credential Profile's default template L-1 creates is supported:
//! RSA-2048, nameAlg SHA-256, symmetric AES-128-CFB. For that EK:
//!
//! * `seed` = 32 random bytes; `encrypted_secret` = RSA-OAEP(SHA-256, MGF1-SHA-256,
//!   label `"IDENTITY\0"`) of the seed under the EK.
//! * `symKey` = KDFa(SHA-256, seed, "STORAGE", AK name, empty, 128);
//!   `encIdentity` = AES-128-CFB(symKey, IV 0) of the TPM2B_DIGEST `size || secret`.
//! * `HMACkey` = KDFa(SHA-256, seed, "INTEGRITY", empty, empty, 256);
//!   `outerHMAC` = HMAC-SHA-256(HMACkey, encIdentity || AK name).
//! * `id_object` = TPM2B_DIGEST(outerHMAC) || encIdentity.
//!
//! Labels: the reference implementation stores each label as a TPM2B whose size counts the C
//! string's terminating NUL (`TPM2B_STRING(IDENTITY_STRING, "IDENTITY")` is 9 bytes). The OAEP
//! label is therefore `"IDENTITY\0"`, and KDFa hashes `"STORAGE\0"` / `"INTEGRITY\0"`: KDFa adds
//! a 0x00 after the label only when the label does not already end in one, so exactly one NUL
//! separates label and context either way.

use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::PKey;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::Signer;
use openssl::symm::{Cipher, encrypt};
use thiserror::Error;
use zeroize::Zeroizing;

/// `TPM_ALG_SHA256`: the nameAlg of the EK template and of every name this module accepts.
const NAME_ALG_SHA256: u16 = 0x000B;
const SHA256_LEN: usize = 32;
/// A SHA-256 TPM name: the 2-byte nameAlg, then the digest.
pub const AK_NAME_LEN: usize = 2 + SHA256_LEN;
/// The credential is a TPM2B_DIGEST of the EK's nameAlg, so at most one SHA-256 digest long.
pub const MAX_SECRET_LEN: usize = SHA256_LEN;
/// RSA-2048 modulus, and so also the length of `encrypted_secret`.
pub const EK_MODULUS_LEN: usize = 256;
/// `TPMT_PUBLIC` encodes the default exponent 65537 as 0.
const DEFAULT_RSA_EXPONENT: u32 = 65_537;
/// The seed is as long as the EK's nameAlg digest (Part 1, §24.4).
const SEED_LEN: usize = SHA256_LEN;
const AES_128_KEY_BITS: u32 = 128;

/// OAEP label for credential seeds, NUL included (see the module documentation).
const IDENTITY_LABEL: &[u8] = b"IDENTITY\0";
/// KDFa labels without their NUL: [`kdfa_sha256`] appends the single 0x00 the TPM hashes.
const STORAGE_LABEL: &[u8] = b"STORAGE";
const INTEGRITY_LABEL: &[u8] = b"INTEGRITY";

/// The public part of an RSA-2048 EK, as found in its `TPMT_PUBLIC`.
#[derive(Debug, Clone, Copy)]
pub struct RsaEkPublic<'a> {
    /// Big-endian modulus (`unique.rsa`), 256 bytes.
    pub modulus: &'a [u8],
    /// `parameters.rsaDetail.exponent`; 0 means 65537.
    pub exponent: u32,
}

/// The two `TPM2_ActivateCredential` inputs, each without its TPM2B size prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// `TPM2B_ID_OBJECT` content: `u16 32 || outerHMAC || encIdentity`.
    pub id_object: Vec<u8>,
    /// `TPM2B_ENCRYPTED_SECRET` content: the OAEP-encrypted seed, 256 bytes.
    pub encrypted_secret: Vec<u8>,
}

/// Why a credential could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    /// The EK modulus is not 256 bytes with its top bit set; holds its length.
    #[error(
        "EK modulus must be {EK_MODULUS_LEN} bytes with its top bit set (RSA-2048), got {0} bytes"
    )]
    BadModulusSize(usize),
    /// The EK exponent is even or below 3; holds it.
    #[error("EK public exponent {0} is not a usable RSA exponent (odd, at least 3)")]
    BadExponent(u32),
    /// The AK name is not a SHA-256 TPM name; the reason is given.
    #[error("AK name must be {AK_NAME_LEN} bytes: nameAlg 0x000b (SHA-256) and a digest: {0}")]
    BadAkName(String),
    /// The secret is empty or longer than [`MAX_SECRET_LEN`]; holds its length.
    #[error("credential secret must be 1 to {MAX_SECRET_LEN} bytes, got {0}")]
    BadSecretSize(usize),
    /// An OpenSSL operation failed.
    #[error("OpenSSL failed while {operation}: {message}")]
    OpenSsl {
        /// What was being done.
        operation: &'static str,
        /// OpenSSL's error text.
        message: String,
    },
}

fn openssl_error(
    operation: &'static str,
) -> impl FnOnce(openssl::error::ErrorStack) -> CredentialError {
    move |error| CredentialError::OpenSsl {
        operation,
        message: error.to_string(),
    }
}

/// Computes `TPM2_MakeCredential` for `secret`, bound to the AK named `ak_name` (the
/// `TPM2B_NAME` content: `0x000b || SHA-256(TPMT_PUBLIC of the AK)`) and to the TPM owning `ek`.
///
/// `seed` is drawn from OpenSSL's CSPRNG when `None`; pass a value only for deterministic tests,
/// since anyone knowing the seed can decrypt the credential.
pub fn make_credential(
    ek: &RsaEkPublic<'_>,
    ak_name: &[u8],
    secret: &[u8],
    seed: Option<[u8; SEED_LEN]>,
) -> Result<Credential, CredentialError> {
    if ek.modulus.len() != EK_MODULUS_LEN || ek.modulus[0] & 0x80 == 0 {
        return Err(CredentialError::BadModulusSize(ek.modulus.len()));
    }
    let exponent = match ek.exponent {
        0 => DEFAULT_RSA_EXPONENT,
        e if e < 3 || e % 2 == 0 => return Err(CredentialError::BadExponent(e)),
        e => e,
    };
    if ak_name.len() != AK_NAME_LEN {
        return Err(CredentialError::BadAkName(format!(
            "got {} bytes",
            ak_name.len()
        )));
    }
    let name_alg = u16::from_be_bytes([ak_name[0], ak_name[1]]);
    if name_alg != NAME_ALG_SHA256 {
        return Err(CredentialError::BadAkName(format!(
            "nameAlg is {name_alg:#06x}"
        )));
    }
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return Err(CredentialError::BadSecretSize(secret.len()));
    }

    let seed = Zeroizing::new(match seed {
        Some(seed) => seed,
        None => {
            let mut seed = [0u8; SEED_LEN];
            openssl::rand::rand_bytes(&mut seed).map_err(openssl_error("drawing the seed"))?;
            seed
        }
    });
    let encrypted_secret = encrypt_seed(ek.modulus, exponent, seed.as_slice())?;

    let sym_key = kdfa_sha256(
        seed.as_slice(),
        STORAGE_LABEL,
        ak_name,
        &[],
        AES_128_KEY_BITS,
    )?;
    // The credential travels as a marshalled TPM2B_DIGEST; the length fits u16 (checked above).
    let mut identity = Zeroizing::new(Vec::with_capacity(2 + secret.len()));
    identity.extend_from_slice(&(secret.len() as u16).to_be_bytes());
    identity.extend_from_slice(secret);
    let enc_identity = encrypt(
        Cipher::aes_128_cfb128(),
        sym_key.as_slice(),
        Some(&[0u8; 16]),
        &identity,
    )
    .map_err(openssl_error("encrypting the credential with AES-128-CFB"))?;

    let hmac_key = kdfa_sha256(
        seed.as_slice(),
        INTEGRITY_LABEL,
        &[],
        &[],
        (SHA256_LEN * 8) as u32,
    )?;
    let outer_hmac = hmac_sha256(hmac_key.as_slice(), &[&enc_identity, ak_name])?;

    let mut id_object = Vec::with_capacity(2 + outer_hmac.len() + enc_identity.len());
    id_object.extend_from_slice(&(outer_hmac.len() as u16).to_be_bytes());
    id_object.extend_from_slice(&outer_hmac);
    id_object.extend_from_slice(&enc_identity);
    Ok(Credential {
        id_object,
        encrypted_secret,
    })
}

/// RSA-OAEP(SHA-256, MGF1-SHA-256, "IDENTITY\0") of the seed: the EK's nameAlg fixes both hashes.
fn encrypt_seed(modulus: &[u8], exponent: u32, seed: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let operation = "encrypting the seed with RSA-OAEP";
    let n = BigNum::from_slice(modulus).map_err(openssl_error(operation))?;
    let e = BigNum::from_u32(exponent).map_err(openssl_error(operation))?;
    let rsa = Rsa::from_public_components(n, e).map_err(openssl_error(operation))?;
    let key = PKey::from_rsa(rsa).map_err(openssl_error(operation))?;
    let mut ctx = PkeyCtx::new(&key).map_err(openssl_error(operation))?;
    ctx.encrypt_init().map_err(openssl_error(operation))?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP)
        .map_err(openssl_error(operation))?;
    ctx.set_rsa_oaep_md(Md::sha256())
        .map_err(openssl_error(operation))?;
    ctx.set_rsa_mgf1_md(Md::sha256())
        .map_err(openssl_error(operation))?;
    ctx.set_rsa_oaep_label(IDENTITY_LABEL)
        .map_err(openssl_error(operation))?;
    let mut encrypted = Vec::with_capacity(EK_MODULUS_LEN);
    ctx.encrypt_to_vec(seed, &mut encrypted)
        .map_err(openssl_error(operation))?;
    Ok(encrypted)
}

/// KDFa with HMAC-SHA-256 (Part 1, §11.4.10.2; SP 800-108 counter mode): block `i` is
/// `HMAC(key, i || label || 0x00 || context_u || context_v || bits)`, integers u32 big-endian.
/// `label` is given without its NUL; `bits` must be a multiple of 8 (all TPM uses here are).
fn kdfa_sha256(
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    let length = (bits / 8) as usize;
    let mut output = Zeroizing::new(Vec::with_capacity(length + SHA256_LEN));
    let mut counter: u32 = 0;
    while output.len() < length {
        counter += 1;
        let block = hmac_sha256(
            key,
            &[
                &counter.to_be_bytes(),
                label,
                &[0],
                context_u,
                context_v,
                &bits.to_be_bytes(),
            ],
        )?;
        output.extend_from_slice(block.as_slice());
    }
    output.truncate(length);
    Ok(output)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    let operation = "computing HMAC-SHA-256";
    let key = PKey::hmac(key).map_err(openssl_error(operation))?;
    let mut signer =
        Signer::new(MessageDigest::sha256(), &key).map_err(openssl_error(operation))?;
    for part in parts {
        signer.update(part).map_err(openssl_error(operation))?;
    }
    Ok(Zeroizing::new(
        signer.sign_to_vec().map_err(openssl_error(operation))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Private;
    use openssl::symm::decrypt;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Known answers from google/go-tpm `tpm2/test/testvectors/kdfa.json` (SHA-256 cases whose
    /// length is a whole number of bytes; go-tpm's labels are likewise given without the NUL).
    #[test]
    fn tpm_kdfa_matches_published_vectors() {
        let vectors = [
            // 38_SHA256_552: several HMAC blocks, empty contextV.
            (
                "e38573d849a5cfc9973f58b4535e42b7c08ef28b1b3e775375b5c66b9644be",
                "STORAGE",
                "00586dccbebc998087e4",
                "",
                552,
                "968f349b066ed26be3bd4e78333eb5c5b51c26ea376efe5dfaf061a2cf7f5eb82e4fcc2a30736e30f12b48ab17efd10576a4cf33450324b3f20011628df7a07c411f8c0f6c",
            ),
            // 52_SHA256_936
            (
                "ff2d0870fe8b86cbea",
                "CFB",
                "f2dd2e3f861541ff",
                "e3911d492333cc64b838a788e9cf0289f2",
                936,
                "f8b0ab7ea70d1e7a261307bd1cf4565d2323336edd257bc5fcaac584305db17140d036c5e5a442f32b1d838560a22fd5d157eef337fa4378b18d64483037d08a40d75b43031491a64b568311992e53ccf139edc7423319facc9085ef193a3fa511afbd12799825c455d99f8843a65fc47233b00ddb",
            ),
            // 53_SHA256_976
            (
                "3b12a6b38672109f30df6cf587db498d777d",
                "CFB",
                "c162bbbff1366f9cd641d398a8c977ec1ab2c7977208151f9f65e600",
                "ff45f0",
                976,
                "d1a85a656db2de3f27c9d949f0f897861564095fc90b41e34a65dd53402b87b3e0a532d6ad1a8368be00a939813b02a7d728b8949a42225eada4c59260ebfd8e591cce73419b47e2bea8a465f15827bf74b7eaf95a825927883a71496f962544be5a54f542ad3edadc943a29777c408d3797a195c0789a2455df",
            ),
        ];
        for (key, label, context_u, context_v, bits, expected) in vectors {
            let derived = kdfa_sha256(
                &hex(key),
                label.as_bytes(),
                &hex(context_u),
                &hex(context_v),
                bits,
            )
            .unwrap();
            assert_eq!(derived.as_slice(), hex(expected), "{label} {bits}");
        }
    }

    fn ek_key() -> Rsa<Private> {
        Rsa::generate(2048).unwrap()
    }

    fn ak_name(fill: u8) -> Vec<u8> {
        let mut name = vec![0x00, 0x0b];
        name.extend_from_slice(&[fill; 32]);
        name
    }

    /// The TPM's side (`TPM2_ActivateCredential`), written from Part 1 §24 independently of
    /// `make_credential`'s helpers where it matters: OAEP decryption by OpenSSL's RSA API.
    fn activate(key: &Rsa<Private>, name: &[u8], credential: &Credential) -> Option<Vec<u8>> {
        let private = PKey::from_rsa(key.clone()).unwrap();
        let mut ctx = PkeyCtx::new(&private).unwrap();
        ctx.decrypt_init().unwrap();
        ctx.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        ctx.set_rsa_oaep_md(Md::sha256()).unwrap();
        ctx.set_rsa_mgf1_md(Md::sha256()).unwrap();
        ctx.set_rsa_oaep_label(b"IDENTITY\0").unwrap();
        let mut seed = Vec::new();
        ctx.decrypt_to_vec(&credential.encrypted_secret, &mut seed)
            .ok()?;

        let blob = &credential.id_object;
        let hmac_len = u16::from_be_bytes([blob[0], blob[1]]) as usize;
        let (outer_hmac, enc_identity) = blob[2..].split_at(hmac_len);
        let hmac_key = kdfa_sha256(&seed, b"INTEGRITY", &[], &[], 256).unwrap();
        let expected = hmac_sha256(&hmac_key, &[enc_identity, name]).unwrap();
        if expected.as_slice() != outer_hmac {
            return None;
        }
        let sym_key = kdfa_sha256(&seed, b"STORAGE", name, &[], 128).unwrap();
        let identity = decrypt(
            Cipher::aes_128_cfb128(),
            &sym_key,
            Some(&[0u8; 16]),
            enc_identity,
        )
        .unwrap();
        let size = u16::from_be_bytes([identity[0], identity[1]]) as usize;
        assert_eq!(size, identity.len() - 2);
        Some(identity[2..].to_vec())
    }

    #[test]
    fn tpm_credential_round_trips_through_the_activation_steps() {
        let key = ek_key();
        let modulus = key.n().to_vec();
        let ek = RsaEkPublic {
            modulus: &modulus,
            exponent: 0,
        };
        let secret = b"thirty-two bytes of credential!!";
        let credential = make_credential(&ek, &ak_name(7), secret, None).unwrap();
        assert_eq!(credential.encrypted_secret.len(), EK_MODULUS_LEN);
        assert_eq!(credential.id_object.len(), 2 + 32 + 2 + secret.len());
        assert_eq!(&credential.id_object[..2], &[0, 32]);
        assert_eq!(
            activate(&key, &ak_name(7), &credential).as_deref(),
            Some(&secret[..])
        );
        // Bound to the name: another AK's name fails the outer HMAC.
        assert_eq!(activate(&key, &ak_name(8), &credential), None);
        // Bound to the EK: another key cannot decrypt the seed.
        assert_eq!(activate(&ek_key(), &ak_name(7), &credential), None);
    }

    #[test]
    fn tpm_credential_is_deterministic_only_with_a_given_seed() {
        let key = ek_key();
        let modulus = key.n().to_vec();
        let ek = RsaEkPublic {
            modulus: &modulus,
            exponent: 65_537,
        };
        let seeded = |seed| make_credential(&ek, &ak_name(1), b"s", seed).unwrap();
        // OAEP is randomised, so only the symmetric part repeats for a fixed seed.
        assert_eq!(
            seeded(Some([9; 32])).id_object,
            seeded(Some([9; 32])).id_object
        );
        assert_ne!(
            seeded(Some([9; 32])).id_object,
            seeded(Some([10; 32])).id_object
        );
        assert_ne!(seeded(None).id_object, seeded(None).id_object);
    }

    #[test]
    fn tpm_credential_arguments_are_validated() {
        let key = ek_key();
        let modulus = key.n().to_vec();
        let ek = RsaEkPublic {
            modulus: &modulus,
            exponent: 0,
        };
        let name = ak_name(1);
        assert_eq!(
            make_credential(&ek, &name, b"", None),
            Err(CredentialError::BadSecretSize(0))
        );
        assert_eq!(
            make_credential(&ek, &name, &[1; 33], None),
            Err(CredentialError::BadSecretSize(33))
        );
        assert!(make_credential(&ek, &name, &[1; 32], None).is_ok());

        assert!(matches!(
            make_credential(&ek, &name[..33], b"s", None),
            Err(CredentialError::BadAkName(_))
        ));
        let mut sha1_name = name.clone();
        sha1_name[1] = 0x04;
        assert!(matches!(
            make_credential(&ek, &sha1_name, b"s", None),
            Err(CredentialError::BadAkName(_))
        ));

        let short = RsaEkPublic {
            modulus: &modulus[1..],
            exponent: 0,
        };
        assert_eq!(
            make_credential(&short, &name, b"s", None),
            Err(CredentialError::BadModulusSize(255))
        );
        let mut leading_zero = modulus.clone();
        leading_zero[0] = 0;
        let leading_zero = RsaEkPublic {
            modulus: &leading_zero,
            exponent: 0,
        };
        assert_eq!(
            make_credential(&leading_zero, &name, b"s", None),
            Err(CredentialError::BadModulusSize(256))
        );
        for exponent in [1, 2, 65_536] {
            let ek = RsaEkPublic {
                modulus: &modulus,
                exponent,
            };
            assert_eq!(
                make_credential(&ek, &name, b"s", None),
                Err(CredentialError::BadExponent(exponent))
            );
        }
    }
}
