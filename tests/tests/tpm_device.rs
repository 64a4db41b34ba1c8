//! The agent's TPM device layer against a real software TPM (swtpm), one per test: EK and its
//! certificate, RSA and ECC attestation keys, quotes and their PCR digests, PCR extension, and
//! credential activation with the verifier's pure-Rust `make_credential`.
//!
//! The TPM structures are parsed here by hand from TPM 2.0 Library Part 2, independently of the
//! code under test.
#![allow(clippy::unwrap_used)]

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use warden_agent::attester::tpm_device::{AkAlgorithm, AkBlob, PcrBank, TpmDevice, TpmDeviceError};
use warden_tests::swtpm::Swtpm;
use warden_wire::tpm::credential::{RsaEkPublic, make_credential};

const ALG_RSA: u16 = 0x0001;
const ALG_AES: u16 = 0x0006;
const ALG_SHA256: u16 = 0x000B;
const ALG_NULL: u16 = 0x0010;
const ALG_RSASSA: u16 = 0x0014;
const ALG_ECDSA: u16 = 0x0018;
const ALG_ECC: u16 = 0x0023;
const ALG_CFB: u16 = 0x0043;
const ECC_NIST_P256: u16 = 0x0003;
const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;

/// Big-endian reader over a TPM structure; panics (test code) when it runs out.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn take(&mut self, count: usize) -> &'a [u8] {
        assert!(count <= self.bytes.len(), "structure truncated");
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }

    fn tpm2b(&mut self) -> &'a [u8] {
        let size = self.u16() as usize;
        self.take(size)
    }

    fn finish(self) {
        assert!(self.bytes.is_empty(), "{} trailing bytes", self.bytes.len());
    }
}

/// The parts of a `TPMT_PUBLIC` these tests look at.
#[derive(Debug)]
enum PublicKey {
    Rsa {
        symmetric: Option<(u16, u16, u16)>,
        scheme: (u16, Option<u16>),
        key_bits: u16,
        exponent: u32,
        modulus: Vec<u8>,
    },
    Ecc {
        scheme: (u16, Option<u16>),
        curve: u16,
        x: Vec<u8>,
        y: Vec<u8>,
    },
}

/// Parses a `TPMT_PUBLIC` (RSA or ECC), checking nameAlg SHA-256; returns attributes and key.
fn parse_public(bytes: &[u8]) -> (u32, PublicKey) {
    let mut reader = Reader::new(bytes);
    let key_type = reader.u16();
    assert_eq!(reader.u16(), ALG_SHA256, "nameAlg");
    let attributes = reader.u32();
    reader.tpm2b(); // authPolicy
    let symmetric = match reader.u16() {
        ALG_NULL => None,
        algorithm => Some((algorithm, reader.u16(), reader.u16())),
    };
    let scheme = match reader.u16() {
        ALG_NULL => (ALG_NULL, None),
        algorithm => (algorithm, Some(reader.u16())),
    };
    let key = match key_type {
        ALG_RSA => {
            let key_bits = reader.u16();
            let exponent = reader.u32();
            PublicKey::Rsa {
                symmetric,
                scheme,
                key_bits,
                exponent,
                modulus: reader.tpm2b().to_vec(),
            }
        }
        ALG_ECC => {
            assert_eq!(
                symmetric, None,
                "ECC signing key with a symmetric algorithm"
            );
            let curve = reader.u16();
            assert_eq!(reader.u16(), ALG_NULL, "kdf");
            PublicKey::Ecc {
                scheme,
                curve,
                x: reader.tpm2b().to_vec(),
                y: reader.tpm2b().to_vec(),
            }
        }
        other => panic!("unexpected key type {other:#06x}"),
    };
    reader.finish();
    (attributes, key)
}

/// The RSA modulus and exponent of the EK's `TPMT_PUBLIC`, checking the L-1 template.
fn ek_modulus(ek_public: &[u8]) -> (Vec<u8>, u32) {
    let (_, key) = parse_public(ek_public);
    let PublicKey::Rsa {
        symmetric,
        scheme,
        key_bits,
        exponent,
        modulus,
    } = key
    else {
        panic!("EK is not RSA: {key:?}");
    };
    assert_eq!(symmetric, Some((ALG_AES, 128, ALG_CFB)));
    assert_eq!(scheme, (ALG_NULL, None));
    assert_eq!(key_bits, 2048);
    assert_eq!(modulus.len(), 256);
    (modulus, exponent)
}

struct QuotedPcrs {
    extra_data: Vec<u8>,
    selections: Vec<(u16, Vec<u8>)>,
    pcr_digest: Vec<u8>,
}

/// Parses a quote's `TPMS_ATTEST`.
fn parse_attest(bytes: &[u8]) -> QuotedPcrs {
    let mut reader = Reader::new(bytes);
    assert_eq!(reader.u32(), TPM_GENERATED_VALUE, "magic");
    assert_eq!(reader.u16(), TPM_ST_ATTEST_QUOTE, "type");
    reader.tpm2b(); // qualifiedSigner
    let extra_data = reader.tpm2b().to_vec();
    reader.u64(); // clock
    reader.u32(); // resetCount
    reader.u32(); // restartCount
    reader.u8(); // safe
    reader.u64(); // firmwareVersion
    let count = reader.u32();
    let selections = (0..count)
        .map(|_| {
            let hash = reader.u16();
            let size = reader.u8() as usize;
            (hash, reader.take(size).to_vec())
        })
        .collect();
    let pcr_digest = reader.tpm2b().to_vec();
    reader.finish();
    QuotedPcrs {
        extra_data,
        selections,
        pcr_digest,
    }
}

/// Checks a `TPMT_SIGNATURE` over `message` with the AK's public key, using OpenSSL.
fn verify_signature(ak_public: &[u8], message: &[u8], signature: &[u8]) {
    let mut reader = Reader::new(signature);
    let algorithm = reader.u16();
    assert_eq!(reader.u16(), ALG_SHA256, "signature hash");
    let (_, key) = parse_public(ak_public);
    let verified = match key {
        PublicKey::Rsa {
            modulus, exponent, ..
        } => {
            assert_eq!(algorithm, ALG_RSASSA);
            let signature = reader.tpm2b();
            let exponent = if exponent == 0 { 65_537 } else { exponent };
            let rsa = Rsa::from_public_components(
                BigNum::from_slice(&modulus).unwrap(),
                BigNum::from_u32(exponent).unwrap(),
            )
            .unwrap();
            let key = PKey::from_rsa(rsa).unwrap();
            let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
            verifier.update(message).unwrap();
            verifier.verify(signature).unwrap()
        }
        PublicKey::Ecc { x, y, .. } => {
            assert_eq!(algorithm, ALG_ECDSA);
            let r = BigNum::from_slice(reader.tpm2b()).unwrap();
            let s = BigNum::from_slice(reader.tpm2b()).unwrap();
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            let key = EcKey::from_public_key_affine_coordinates(
                &group,
                &BigNum::from_slice(&x).unwrap(),
                &BigNum::from_slice(&y).unwrap(),
            )
            .unwrap();
            let signature = EcdsaSig::from_private_components(r, s).unwrap();
            signature.verify(&Sha256::digest(message), &key).unwrap()
        }
    };
    reader.finish();
    assert!(verified, "quote signature does not verify");
}

fn sha256_name(public: &[u8]) -> Vec<u8> {
    let mut name = ALG_SHA256.to_be_bytes().to_vec();
    name.extend_from_slice(&Sha256::digest(public));
    name
}

/// Quotes `pcrs` of the SHA-256 bank and checks everything a verifier would.
fn quote_and_check(device: &mut TpmDevice, ak: &AkBlob, nonce: &[u8], pcrs: &[u8]) {
    let quote = device
        .quote(ak, nonce, &[PcrBank::Sha256], pcrs)
        .expect("quote");
    verify_signature(&ak.public, &quote.attest, &quote.signature);

    let quoted = parse_attest(&quote.attest);
    assert_eq!(quoted.extra_data, nonce);
    let mut bitmap = vec![0u8; 3];
    for &pcr in pcrs {
        bitmap[usize::from(pcr / 8)] |= 1 << (pcr % 8);
    }
    assert_eq!(quoted.selections, vec![(ALG_SHA256, bitmap)]);

    assert_eq!(quote.pcrs.len(), 1);
    let (bank, values) = &quote.pcrs[0];
    assert_eq!(*bank, PcrBank::Sha256);
    let indices: Vec<u8> = values.iter().map(|(pcr, _)| *pcr).collect();
    let mut expected_indices = pcrs.to_vec();
    expected_indices.sort_unstable();
    assert_eq!(indices, expected_indices);
    let mut hasher = Sha256::new();
    for (_, value) in values {
        assert_eq!(value.len(), 32);
        hasher.update(value);
    }
    assert_eq!(quoted.pcr_digest, hasher.finalize().to_vec());
}

fn open(swtpm: &Swtpm) -> TpmDevice {
    TpmDevice::open(&swtpm.tcti())
        .unwrap_or_else(|error| panic!("{error}; swtpm log:\n{}", swtpm.log()))
}

#[test]
fn ek_certificate_holds_the_ek_and_chains_to_the_local_ca() {
    let swtpm = Swtpm::start();
    let mut device = open(&swtpm);
    let ek_public = device.ek_public().expect("EK public");
    assert_eq!(
        device.ek_public().expect("EK public again"),
        ek_public,
        "the EK template must give the same key every time"
    );
    let (modulus, exponent) = ek_modulus(&ek_public);
    assert_eq!(exponent, 0, "default template exponent");

    let der = device
        .ek_certificate()
        .expect("EK certificate read")
        .expect("swtpm_setup --create-ek-cert writes an EK certificate");
    let certificate = X509::from_der(&der).expect("EK certificate is X.509 DER");
    assert_eq!(certificate.to_der().unwrap(), der, "no padding left");
    let key = certificate.public_key().unwrap().rsa().expect("RSA key");
    assert_eq!(key.n().to_vec(), modulus);
    assert_eq!(key.e().to_vec(), vec![0x01, 0x00, 0x01]);

    let ca: Vec<X509> = swtpm
        .local_ca_certificates()
        .iter()
        .map(|path| X509::from_pem(&std::fs::read(path).expect("CA certificate")).unwrap())
        .collect();
    assert_eq!(ca.len(), 2);
    assert!(certificate.verify(&ca[0].public_key().unwrap()).unwrap());
    assert!(ca[0].verify(&ca[1].public_key().unwrap()).unwrap());
    assert!(ca[1].verify(&ca[1].public_key().unwrap()).unwrap());
}

#[test]
fn rsa_and_ecc_aks_quote_pcrs_with_qualifying_data() {
    let swtpm = Swtpm::start();
    let mut device = open(&swtpm);
    for algorithm in [AkAlgorithm::Rsa2048, AkAlgorithm::EccP256] {
        let ak = device.create_ak(algorithm).expect("create AK");
        let (attributes, key) = parse_public(&ak.public);
        // fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted, sign.
        assert_eq!(attributes, 0x0005_0072, "{algorithm:?} attributes");
        match (algorithm, key) {
            (
                AkAlgorithm::Rsa2048,
                PublicKey::Rsa {
                    scheme, key_bits, ..
                },
            ) => {
                assert_eq!(scheme, (ALG_RSASSA, Some(ALG_SHA256)));
                assert_eq!(key_bits, 2048);
            }
            (AkAlgorithm::EccP256, PublicKey::Ecc { scheme, curve, .. }) => {
                assert_eq!(scheme, (ALG_ECDSA, Some(ALG_SHA256)));
                assert_eq!(curve, ECC_NIST_P256);
            }
            (algorithm, key) => panic!("{algorithm:?} AK is {key:?}"),
        }
        // More than the 8 PCRs one PCR_Read returns, unsorted, to exercise the batching.
        let nonce: Vec<u8> = (0..48).collect();
        quote_and_check(
            &mut device,
            &ak,
            &nonce,
            &[23, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16],
        );
        quote_and_check(&mut device, &ak, b"", &[7]);
    }
}

#[test]
fn extend_pcr_hashes_the_digest_into_the_pcr() {
    let swtpm = Swtpm::start();
    let mut device = open(&swtpm);
    let read = |device: &mut TpmDevice| {
        let values = device.read_pcrs(PcrBank::Sha256, &[16]).expect("read PCR");
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].0, 16);
        values[0].1.clone()
    };
    let before = read(&mut device);
    let digest: [u8; 32] = Sha256::digest(b"measured event").into();
    device.extend_pcr(16, digest).expect("extend");
    let after = read(&mut device);
    let mut expected = Sha256::new();
    expected.update(&before);
    expected.update(digest);
    assert_eq!(after, expected.finalize().to_vec());

    assert!(matches!(
        device.extend_pcr(24, digest),
        Err(TpmDeviceError::InvalidArgument(_))
    ));
    // swtpm_setup --pcr-banks sha256 leaves SHA-1 unallocated.
    assert!(matches!(
        device.read_pcrs(PcrBank::Sha1, &[0]),
        Err(TpmDeviceError::BankUnavailable(PcrBank::Sha1))
    ));
}

#[test]
fn credential_made_in_rust_is_activated_by_the_tpm_only_for_its_ak() {
    let swtpm = Swtpm::start();
    let mut device = open(&swtpm);
    let ek_public = device.ek_public().expect("EK public");
    let (modulus, exponent) = ek_modulus(&ek_public);
    let ek = RsaEkPublic {
        modulus: &modulus,
        exponent,
    };
    for algorithm in [AkAlgorithm::Rsa2048, AkAlgorithm::EccP256] {
        let ak = device.create_ak(algorithm).expect("create AK");
        let name = sha256_name(&ak.public);
        assert_eq!(ak.name(), name);

        let secret = Sha256::digest(format!("secret for {algorithm:?}"));
        let credential = make_credential(&ek, &name, &secret, None).expect("make credential");
        let activated = device
            .activate_credential(&ak, &credential.id_object, &credential.encrypted_secret)
            .expect("activate credential");
        assert_eq!(activated, secret.to_vec());

        // A short secret comes back unpadded.
        let credential = make_credential(&ek, &name, b"k", None).unwrap();
        assert_eq!(
            device
                .activate_credential(&ak, &credential.id_object, &credential.encrypted_secret)
                .unwrap(),
            b"k"
        );

        let mut other_name = name.clone();
        other_name[10] ^= 0x01;
        let credential = make_credential(&ek, &other_name, &secret, None).unwrap();
        let refused = device
            .activate_credential(&ak, &credential.id_object, &credential.encrypted_secret)
            .expect_err("a credential for another AK must be refused");
        assert!(
            matches!(refused, TpmDeviceError::CredentialRefused { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("integrity"), "{refused}");
    }

    // A credential for another EK: the seed does not decrypt.
    let ak = device.create_ak(AkAlgorithm::Rsa2048).unwrap();
    let other_ek = Rsa::generate(2048).unwrap().n().to_vec();
    let credential = make_credential(
        &RsaEkPublic {
            modulus: &other_ek,
            exponent: 0,
        },
        &ak.name(),
        b"secret",
        None,
    )
    .unwrap();
    let refused = device
        .activate_credential(&ak, &credential.id_object, &credential.encrypted_secret)
        .expect_err("a credential for another EK must be refused");
    assert!(
        matches!(refused, TpmDeviceError::CredentialRefused { .. }),
        "{refused}"
    );
    // The refusals left nothing loaded: a good credential still activates.
    let credential = make_credential(&ek, &ak.name(), b"after", None).unwrap();
    assert_eq!(
        device
            .activate_credential(&ak, &credential.id_object, &credential.encrypted_secret)
            .unwrap(),
        b"after"
    );
}

#[test]
fn ak_blob_survives_a_state_file_and_a_reopened_device() {
    let swtpm = Swtpm::start();
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("ak.bin");
    let ak = {
        let mut device = open(&swtpm);
        let ak = device.create_ak(AkAlgorithm::EccP256).expect("create AK");
        quote_and_check(&mut device, &ak, b"first run", &[0, 7]);
        std::fs::write(&path, ak.to_bytes()).unwrap();
        ak
    };

    let mut device = open(&swtpm);
    let restored = AkBlob::from_bytes(&std::fs::read(&path).unwrap()).expect("parse AK blob");
    assert_eq!(restored, ak);
    quote_and_check(&mut device, &restored, b"second run", &[0, 7]);

    let mut corrupted = ak.to_bytes();
    corrupted.truncate(corrupted.len() - 1);
    assert!(matches!(
        AkBlob::from_bytes(&corrupted),
        Err(TpmDeviceError::MalformedAkBlob(_))
    ));
}
