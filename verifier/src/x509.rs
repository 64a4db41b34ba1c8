//! X.509 certificates and CRLs reduced to what endorsement chains need, shared by the TEE
//! modules (AMD's VEK chains, Intel's PCK and TCB-signing chains).
//!
//! Parsing is `x509-parser`; signatures are checked through its `verify-aws` feature (aws-lc-rs).
//! Every signature check names the schemes the caller's vendor uses, so a chain can never be
//! accepted under an algorithm its vendor does not sign with.
//!
//! x509-parser reads the outer structure leniently and never compares the outer
//! `signatureAlgorithm` with the signed one, so every certificate and CRL also passes
//! [`check_signed_structure`] (strict DER, identical algorithms), as OpenSSL and `cryptography`
//! require: [`X509Cert::parse_with`] and [`Crl::from_der`] are the only ways in.

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_NIST_HASH_SHA384, OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::AlgorithmIdentifier;

/// Why a certificate or CRL was not read or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bytes are not one DER certificate.
    #[error("not a DER X.509 certificate: {0}")]
    NotCertificate(String),
    /// Bytes follow the certificate's DER encoding.
    #[error("{0} trailing bytes after the certificate")]
    TrailingBytes(usize),
    /// The bytes are not a DER CRL.
    #[error("not a DER CRL: {0}")]
    NotCrl(String),
    /// A PEM text that does not parse.
    #[error("PEM: {0}")]
    Pem(String),
    /// Signed with an algorithm the vendor does not use.
    #[error("signature algorithm {algorithm} is not one of {allowed}")]
    Algorithm {
        /// The algorithm's OID.
        algorithm: String,
        /// The vendor's schemes.
        allowed: String,
    },
    /// The certificate's issuer name is not the candidate issuer's subject.
    #[error("{subject} names issuer other than {issuer}")]
    OtherIssuer {
        /// The certificate's common name.
        subject: String,
        /// The candidate issuer's common name.
        issuer: String,
    },
    /// The CRL's issuer name is not the candidate issuer's subject.
    #[error("CRL is not issued by {issuer}")]
    OtherCrlIssuer {
        /// The candidate issuer's common name.
        issuer: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error("{subject} is not signed by {issuer}")]
    Signature {
        /// The certificate's common name.
        subject: String,
        /// The issuer's common name.
        issuer: String,
    },
    /// The CRL's signature does not verify with the issuer's key.
    #[error("CRL signature does not verify with {issuer}")]
    CrlSignature {
        /// The issuer's common name.
        issuer: String,
    },
    /// The outer structure of a certificate or CRL is not strict DER (RFC 5280 §4.1, §5.1).
    #[error("{structure} is not strict DER: {detail}")]
    NotStrictDer {
        /// `certificate` or `CRL`.
        structure: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The outer `signatureAlgorithm` is not byte-identical to the one the issuer signed
    /// (RFC 5280 §4.1.1.2, §5.1.1.2).
    #[error("{structure} signatureAlgorithm differs from the signed {tbs}.signature")]
    SignatureAlgorithmMismatch {
        /// `certificate` or `CRL`.
        structure: &'static str,
        /// `tbsCertificate` or `tbsCertList`.
        tbs: &'static str,
    },
    /// The certificate's public key does not parse.
    #[error("public key of {subject}: {detail}")]
    PublicKey {
        /// The certificate's common name.
        subject: String,
        /// What the parser said.
        detail: String,
    },
}

/// Check details and the layers above read errors as text.
impl From<CertError> for String {
    fn from(error: CertError) -> String {
        error.to_string()
    }
}

/// Signature schemes a vendor's certificates and CRLs may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Intel's SGX/TDX PKI.
    EcdsaP256Sha256,
    /// The sim-snp development chain.
    EcdsaP384Sha384,
    /// AMD's ARK/ASK/VEK hierarchy.
    RsaPssSha384,
    /// TPM vendors' and clouds' EK/AK CAs (Google's GCE vTPM CA, swtpm's local CA).
    RsaPkcs1Sha256,
    /// TPM vendors' and clouds' EK/AK CAs, with SHA-384.
    RsaPkcs1Sha384,
}

impl Scheme {
    fn matches(self, algorithm: &AlgorithmIdentifier<'_>) -> bool {
        match self {
            Scheme::EcdsaP256Sha256 => algorithm.algorithm == OID_SIG_ECDSA_WITH_SHA256,
            Scheme::EcdsaP384Sha384 => algorithm.algorithm == OID_SIG_ECDSA_WITH_SHA384,
            Scheme::RsaPkcs1Sha256 => algorithm.algorithm == OID_PKCS1_SHA256WITHRSA,
            Scheme::RsaPkcs1Sha384 => algorithm.algorithm == OID_PKCS1_SHA384WITHRSA,
            Scheme::RsaPssSha384 => {
                algorithm.algorithm == OID_PKCS1_RSASSAPSS
                    && algorithm
                        .parameters
                        .as_ref()
                        .and_then(|params| RsaSsaPssParams::try_from(params).ok())
                        .is_some_and(|params| *params.hash_algorithm_oid() == OID_NIST_HASH_SHA384)
            }
        }
    }
}

fn check_scheme(algorithm: &AlgorithmIdentifier<'_>, allowed: &[Scheme]) -> Result<(), CertError> {
    if allowed.iter().any(|scheme| scheme.matches(algorithm)) {
        Ok(())
    } else {
        Err(CertError::Algorithm {
            algorithm: algorithm.algorithm.to_string(),
            allowed: format!("{allowed:?}"),
        })
    }
}

/// The two signed X.509 structures, which share their outer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedStructure {
    /// `Certificate` (RFC 5280 §4.1).
    Certificate,
    /// `CertificateList`, a CRL (RFC 5280 §5.1).
    Crl,
    /// `CertificationRequest`, a PKCS#10 CSR (RFC 2986 §4.2): signed by the key it carries,
    /// with no algorithm inside the signed part to compare.
    CertificationRequest,
}

impl SignedStructure {
    fn name(self) -> &'static str {
        match self {
            SignedStructure::Certificate => "certificate",
            SignedStructure::Crl => "CRL",
            SignedStructure::CertificationRequest => "certification request",
        }
    }

    fn tbs(self) -> &'static str {
        match self {
            SignedStructure::Certificate => "tbsCertificate",
            SignedStructure::Crl => "tbsCertList",
            SignedStructure::CertificationRequest => "certificationRequestInfo",
        }
    }
}

/// Checks `SEQUENCE { tbs SEQUENCE, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT
/// STRING }` in strict DER (definite minimal lengths, nothing after it), a signature of whole
/// bytes, an outer `AlgorithmIdentifier` of an OID and at most one parameter, and that
/// algorithm byte-identical to the `signature` field inside the signed part.
pub fn check_signed_structure(der: &[u8], structure: SignedStructure) -> Result<(), CertError> {
    let not_der = |detail: String| CertError::NotStrictDer {
        structure: structure.name(),
        detail,
    };
    let outer = AnyRef::from_der(der).map_err(|e| not_der(e.to_string()))?;
    let (tbs, algorithm, signature) = outer_fields(outer).map_err(|e| not_der(e.to_string()))?;
    if signature.unused_bits() != 0 {
        return Err(not_der(
            "signatureValue is not a whole number of bytes".into(),
        ));
    }
    check_algorithm_identifier(algorithm)
        .map_err(|e| not_der(format!("signatureAlgorithm: {e}")))?;
    if structure == SignedStructure::CertificationRequest {
        return Ok(());
    }
    let signed = signed_algorithm(tbs, structure)
        .map_err(|e| not_der(format!("{}: {e}", structure.tbs())))?;
    if signed == algorithm {
        // Equal tags and contents of strict DER are equal encodings.
        Ok(())
    } else {
        Err(CertError::SignatureAlgorithmMismatch {
            structure: structure.name(),
            tbs: structure.tbs(),
        })
    }
}

fn expect_tag(any: AnyRef<'_>, tag: Tag) -> der::Result<AnyRef<'_>> {
    if any.tag() == tag {
        Ok(any)
    } else {
        Err(der::ErrorKind::TagUnexpected {
            expected: Some(tag),
            actual: any.tag(),
        }
        .into())
    }
}

/// The three fields of the outer SEQUENCE, nothing after them.
fn outer_fields(outer: AnyRef<'_>) -> der::Result<(AnyRef<'_>, AnyRef<'_>, BitStringRef<'_>)> {
    let mut fields = SliceReader::new(expect_tag(outer, Tag::Sequence)?.value())?;
    let tbs = expect_tag(fields.decode()?, Tag::Sequence)?;
    let algorithm = expect_tag(fields.decode()?, Tag::Sequence)?;
    let signature = fields.decode()?;
    fields.finish((tbs, algorithm, signature))
}

/// `AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }`.
fn check_algorithm_identifier(algorithm: AnyRef<'_>) -> der::Result<()> {
    let mut fields = SliceReader::new(algorithm.value())?;
    expect_tag(fields.decode()?, Tag::ObjectIdentifier)?;
    if !fields.is_finished() {
        fields.decode::<AnyRef<'_>>()?;
    }
    fields.finish(())
}

/// The `signature` field of the signed part: after the optional version (`[0] EXPLICIT` in a
/// certificate, a plain INTEGER in a CRL) and, in a certificate, the serial number.
fn signed_algorithm(tbs: AnyRef<'_>, structure: SignedStructure) -> der::Result<AnyRef<'_>> {
    let mut fields = SliceReader::new(tbs.value())?;
    let mut field: AnyRef<'_> = fields.decode()?;
    let version = match structure {
        SignedStructure::Certificate => Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        },
        SignedStructure::Crl | SignedStructure::CertificationRequest => Tag::Integer,
    };
    if field.tag() == version {
        field = fields.decode()?;
    }
    if structure == SignedStructure::Certificate {
        expect_tag(field, Tag::Integer)?;
        field = fields.decode()?;
    }
    expect_tag(field, Tag::Sequence)
}

/// A certificate owning its DER, with vendor extensions `E` read once at parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Cert<E> {
    /// The certificate's DER encoding.
    pub der: Vec<u8>,
    /// SHA-256 of `der`: the identity verification results are cached under.
    pub fingerprint: [u8; 32],
    /// The subject name as x509-parser prints it (`CN=..., O=...`).
    pub subject: String,
    /// The serial number's raw bytes.
    pub serial: Vec<u8>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds (inclusive).
    pub not_after: i64,
    /// The vendor extensions read at parse.
    pub ext: E,
    spki: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
}

impl<E> X509Cert<E> {
    /// Parses one DER certificate (nothing may follow it; strict DER outside the signed part, see
    /// [`check_signed_structure`]) and reads its vendor extensions.
    pub fn parse_with(
        der: &[u8],
        extensions: impl FnOnce(&X509Certificate<'_>) -> E,
    ) -> Result<Self, CertError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| CertError::NotCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertError::TrailingBytes(rest.len()));
        }
        check_signed_structure(der, SignedStructure::Certificate)?;
        Ok(X509Cert {
            der: der.to_vec(),
            fingerprint: Sha256::digest(der).into(),
            subject: cert.subject().to_string(),
            serial: cert.raw_serial().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            ext: extensions(&cert),
            spki: cert.public_key().raw.to_vec(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
        })
    }

    /// The common name, for messages.
    pub fn name(&self) -> &str {
        common_name(&self.subject)
    }

    /// Whether `at` (Unix seconds) lies within the validity period, bounds included.
    pub fn valid_at(&self, at: i64) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether the certificate names itself as issuer (a trust anchor's shape).
    pub fn self_issued(&self) -> bool {
        self.issuer_raw == self.subject_raw
    }

    fn public_key(&self) -> Result<SubjectPublicKeyInfo<'_>, CertError> {
        SubjectPublicKeyInfo::from_der(&self.spki)
            .map(|(_, key)| key)
            .map_err(|e| CertError::PublicKey {
                subject: self.name().to_owned(),
                detail: e.to_string(),
            })
    }

    /// The raw public key bits (an uncompressed EC point for ECDSA keys).
    pub fn public_key_bits(&self) -> Result<Vec<u8>, CertError> {
        Ok(self.public_key()?.subject_public_key.data.to_vec())
    }

    /// Whether `issuer`'s subject is the name this certificate says issued it.
    pub fn names_issuer<F>(&self, issuer: &X509Cert<F>) -> bool {
        self.issuer_raw == issuer.subject_raw
    }

    /// Checks that `self` was issued and signed by `issuer` with one of `schemes`.
    pub fn verify_issued_by_with<F>(
        &self,
        issuer: &X509Cert<F>,
        schemes: &[Scheme],
    ) -> Result<(), CertError> {
        if !self.names_issuer(issuer) {
            return Err(CertError::OtherIssuer {
                subject: self.name().to_owned(),
                issuer: issuer.name().to_owned(),
            });
        }
        let (_, cert) = X509Certificate::from_der(&self.der)
            .map_err(|e| CertError::NotCertificate(e.to_string()))?;
        check_scheme(&cert.signature_algorithm, schemes)?;
        cert.verify_signature(Some(&issuer.public_key()?))
            .map_err(|_| CertError::Signature {
                subject: self.name().to_owned(),
                issuer: issuer.name().to_owned(),
            })
    }
}

impl X509Cert<()> {
    /// Parses one DER certificate (nothing may follow it), reading no vendor extensions.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        Self::parse_with(der, |_| ())
    }
}

/// The common name of an X.509 name as x509-parser prints it (`CN=..., O=...`), else the
/// whole name.
pub fn common_name(name: &str) -> &str {
    name.split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(name)
}

/// The DER contents of every `CERTIFICATE` block of a PEM text, in order.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let mut certs = Vec::new();
    for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| CertError::Pem(e.to_string()))?;
        if item.label == "CERTIFICATE" {
            certs.push(item.contents);
        }
    }
    Ok(certs)
}

/// A certificate revocation list reduced to what revocation checks need.
#[derive(Debug, Clone)]
pub struct Crl {
    /// The CRL's DER encoding.
    pub der: Vec<u8>,
    /// SHA-256 of `der`.
    pub fingerprint: [u8; 32],
    /// The issuer name as x509-parser prints it (`CN=..., O=...`).
    pub issuer: String,
    /// `thisUpdate`, Unix seconds.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds, when present.
    pub next_update: Option<i64>,
    /// Raw serial numbers of the revoked certificates.
    pub revoked_serials: Vec<Vec<u8>>,
    issuer_raw: Vec<u8>,
}

impl Crl {
    /// Parses a DER CRL (strict DER outside the signed part, nothing after it, see
    /// [`check_signed_structure`]).
    pub fn from_der(der: &[u8]) -> Result<Crl, CertError> {
        let (_, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| CertError::NotCrl(e.to_string()))?;
        check_signed_structure(der, SignedStructure::Crl)?;
        Ok(Crl {
            der: der.to_vec(),
            fingerprint: Sha256::digest(der).into(),
            issuer: crl.issuer().to_string(),
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            revoked_serials: crl
                .iter_revoked_certificates()
                .map(|revoked| revoked.raw_serial().to_vec())
                .collect(),
            issuer_raw: crl.issuer().as_raw().to_vec(),
        })
    }

    /// The issuer's common name, for matching by name and for messages.
    pub fn issuer_name(&self) -> &str {
        common_name(&self.issuer)
    }

    /// Whether `issuer` is named as this CRL's issuer.
    pub fn named_issuer<E>(&self, issuer: &X509Cert<E>) -> bool {
        self.issuer_raw == issuer.subject_raw
    }

    /// Whether `issuer` issued this CRL (by name and by signature with one of `schemes`).
    pub fn verify_issued_by<E>(
        &self,
        issuer: &X509Cert<E>,
        schemes: &[Scheme],
    ) -> Result<(), CertError> {
        if !self.named_issuer(issuer) {
            return Err(CertError::OtherCrlIssuer {
                issuer: issuer.name().to_owned(),
            });
        }
        let (_, crl) = CertificateRevocationList::from_der(&self.der)
            .map_err(|e| CertError::NotCrl(e.to_string()))?;
        check_scheme(&crl.signature_algorithm, schemes)?;
        crl.verify_signature(&issuer.public_key()?)
            .map_err(|_| CertError::CrlSignature {
                issuer: issuer.name().to_owned(),
            })
    }

    /// Whether `at` (Unix seconds) lies between `thisUpdate` and `nextUpdate`, bounds included; a
    /// CRL without `nextUpdate` is never fresh.
    pub fn fresh_at(&self, at: i64) -> bool {
        self.this_update <= at && self.next_update.is_some_and(|next| at <= next)
    }

    /// Whether `cert`'s serial number is listed as revoked (the caller checks who issued the CRL).
    pub fn revokes<E>(&self, cert: &X509Cert<E>) -> bool {
        self.revoked_serials.contains(&cert.serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_test_support::vectors;

    /// ecdsa-with-SHA256 (1.2.840.10045.4.3.2) as an AlgorithmIdentifier without parameters.
    const ECDSA_SHA256: [u8; 12] = [
        0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02,
    ];

    fn intel_roots(file: &str) -> Vec<u8> {
        std::fs::read(vectors::set("tdx", "intel-roots").join(file)).unwrap()
    }

    /// The Intel SGX Root CA: `30 82 02 8F | tbsCertificate 4..572 | signatureAlgorithm
    /// 572..584 | signatureValue 584..659` (`openssl asn1parse`).
    fn root() -> Vec<u8> {
        let der = intel_roots("Intel_SGX_RootCA.der");
        assert_eq!((der.len(), &der[572..584]), (659, &ECDSA_SHA256[..]));
        der
    }

    /// The Intel root CA CRL of 2025-03-20: `30 82 01 20 | tbsCertList 4..207 |
    /// signatureAlgorithm 207..219 | signatureValue 219..292`.
    fn crl() -> Vec<u8> {
        let der = intel_roots("root_ca_crl_2025-03-20_to_2026-04-03.der");
        assert_eq!((der.len(), &der[207..219]), (292, &ECDSA_SHA256[..]));
        der
    }

    fn not_strict(result: Result<(), CertError>) -> String {
        match result {
            Err(CertError::NotStrictDer { detail, .. }) => detail,
            other => panic!("expected NotStrictDer, got {other:?}"),
        }
    }

    #[test]
    fn real_certificates_and_crls_pass_and_an_outer_algorithm_that_differs_does_not() {
        let (root, crl) = (root(), crl());
        assert!(X509Cert::<()>::from_der(&root).is_ok());
        assert!(Crl::from_der(&crl).is_ok());
        // ecdsa-with-SHA384 outside the signed part, same length: x509-parser alone accepts it.
        let mut cert = root.clone();
        cert[583] = 0x03;
        assert!(X509Certificate::from_der(&cert).is_ok());
        let refused = X509Cert::<()>::from_der(&cert).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "certificate signatureAlgorithm differs from the signed tbsCertificate.signature"
        );
        // The same algorithm with NULL parameters: only the bytes differ, and x509-parser even
        // verifies the self-signature with it. OpenSSL and `cryptography` refuse it all the same.
        let mut null_parameters = root.clone();
        null_parameters[3] += 2;
        null_parameters[573] += 2;
        null_parameters.splice(584..584, [0x05, 0x00]);
        let (_, parsed) = X509Certificate::from_der(&null_parameters).unwrap();
        parsed.verify_signature(None).unwrap();
        assert_eq!(
            X509Cert::<()>::from_der(&null_parameters).unwrap_err(),
            CertError::SignatureAlgorithmMismatch {
                structure: "certificate",
                tbs: "tbsCertificate"
            }
        );
        let mut list = crl.clone();
        list[218] = 0x03;
        assert!(CertificateRevocationList::from_der(&list).is_ok());
        assert_eq!(
            Crl::from_der(&list).unwrap_err(),
            CertError::SignatureAlgorithmMismatch {
                structure: "CRL",
                tbs: "tbsCertList"
            }
        );
        assert_eq!(
            Crl::from_der(&list).unwrap_err().to_string(),
            "CRL signatureAlgorithm differs from the signed tbsCertList.signature"
        );
    }

    #[test]
    fn the_outer_structure_must_be_strict_der() {
        let certificate = |der: &[u8]| check_signed_structure(der, SignedStructure::Certificate);
        let root = root();
        certificate(&root).unwrap();
        // The outer signatureAlgorithm's length in long form (0x81 0x0A): BER, not DER, which
        // x509-parser alone accepts, as it does the next case.
        let mut long_form = root.clone();
        long_form[3] += 1;
        long_form.splice(573..574, [0x81, 0x0A]);
        assert!(X509Certificate::from_der(&long_form).is_ok());
        let detail = not_strict(certificate(&long_form));
        assert!(detail.contains("DER"), "{detail}");
        // A signature that claims unused bits.
        let mut unused_bits = root.clone();
        assert_eq!(&unused_bits[584..587], [0x03, 0x49, 0x00]);
        unused_bits[586] = 0x01;
        assert!(X509Certificate::from_der(&unused_bits).is_ok());
        assert_eq!(
            not_strict(certificate(&unused_bits)),
            "signatureValue is not a whole number of bytes"
        );
        // An outer algorithm with two parameters.
        let mut extra = root.clone();
        extra[3] += 4;
        extra[573] += 4;
        extra.splice(584..584, [0x05, 0x00, 0x05, 0x00]);
        assert!(not_strict(certificate(&extra)).starts_with("signatureAlgorithm: "));
        // Indefinite length for the outer SEQUENCE.
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend(&root[4..]);
        indefinite.extend([0, 0]);
        not_strict(certificate(&indefinite));
        // A CRL with a byte after it (x509-parser ignores it).
        let mut trailing = crl();
        trailing.push(0);
        assert!(CertificateRevocationList::from_der(&trailing).is_ok());
        assert!(matches!(
            Crl::from_der(&trailing),
            Err(CertError::NotStrictDer {
                structure: "CRL",
                ..
            })
        ));
        // A certificate read as a CRL: its tbs starts [0] version, serial, so the algorithm is
        // not where a CRL keeps it.
        assert!(check_signed_structure(&root, SignedStructure::Crl).is_err());
    }
}
