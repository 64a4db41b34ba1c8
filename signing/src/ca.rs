//! The signing authority: a P-384 root that signs short-lived code-signing leaves and the
//! timestamp authority's certificate directly (no intermediate, so a Sigstore v0.3 bundle's
//! leaf-only `certificate` chains to the root that deployers hold).
//!
//! Profiles:
//! - **root**: `CN=<name> signing CA, O=Warden`, self-signed, BasicConstraints CA pathlen 0,
//!   KeyUsage keyCertSign + cRLSign, SKI; no EKU.
//! - **TSA**: `CN=<name> timestamp authority`, P-256, KeyUsage digitalSignature, EKU
//!   timeStamping only and **critical** (OpenSSL's `ts -verify` demands both), SKI/AKI.
//! - **leaf**: empty subject; SAN URI = the builder identity (critical); KeyUsage
//!   digitalSignature; EKU codeSigning; CA:FALSE; SKI/AKI; Fulcio's issuer (V2) extension =
//!   the KBS's issuer URL; Warden's attested-facts extension (non-critical); last, the SCT list
//!   with one SCT by the authority's CT key (P-256) over the TBS without it ([`crate::ct`]).

use time::{Duration, OffsetDateTime};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SigningError;
use crate::certificate::{
    CertificateContents, CertificateIssuer, Extension, KU_CRL_SIGN, KU_DIGITAL_SIGNATURE,
    KU_KEY_CERT_SIGN, OID_CODE_SIGNING, OID_FULCIO_ISSUER_V1, OID_FULCIO_ISSUER_V2,
    OID_TIME_STAMPING, OID_WARDEN_ATTESTED_FACTS, distinguished_name, key_identifier,
    sign_certificate, to_be_signed,
};

/// How long the root and TSA certificates are valid from creation.
pub const AUTHORITY_VALIDITY: Duration = Duration::days(10 * 365);
/// How far before "now" a new certificate's validity starts, for clocks slightly behind.
pub const BACKDATE: Duration = Duration::minutes(1);
/// Largest attested-facts document carried in a certificate.
pub const MAX_ATTESTED_FACTS_BYTES: usize = 4096;

/// A positive serial number: 16 random bytes with the top bit cleared.
pub fn serial_from(random: [u8; 16]) -> [u8; 16] {
    let mut serial = random;
    serial[0] &= 0x7f;
    if serial.iter().all(|b| *b == 0) {
        serial[15] = 1;
    }
    serial
}

/// The CA and TSA keys with their certificates.
pub struct SigningAuthority {
    root_key: SigningKeyPair,
    root_certificate: Vec<u8>,
    root_name: Vec<u8>,
    tsa_key: SigningKeyPair,
    tsa_certificate: Vec<u8>,
    /// Signs the SCT every leaf embeds (see [`crate::ct`]).
    ct_key: SigningKeyPair,
}

impl std::fmt::Debug for SigningAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningAuthority")
            .field("root", &self.root_key)
            .field("tsa", &self.tsa_key)
            .field("ct", &self.ct_key)
            .finish()
    }
}

/// What a leaf certificate certifies.
#[derive(Debug, Clone)]
pub struct LeafRequest<'a> {
    /// The subject key's DER SubjectPublicKeyInfo (from a verified CSR).
    pub spki: &'a [u8],
    /// The builder identity, a URI (`https://<kbs>/builders/<name>`).
    pub identity: &'a str,
    /// The KBS's issuer URL (Fulcio issuer V2).
    pub issuer: &'a str,
    /// RFC 8785 JSON of the attested facts.
    pub attested_facts: &'a str,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Serial number (see [`serial_from`]).
    pub serial: [u8; 16],
}

impl SigningAuthority {
    /// Creates a new root (P-384) and TSA (P-256) key and certificate, valid from `now` for
    /// [`AUTHORITY_VALIDITY`]. `name` names the deployment in the subjects.
    pub fn create(
        name: &str,
        now: OffsetDateTime,
        serials: [[u8; 16]; 2],
    ) -> Result<Self, SigningError> {
        check_name(name)?;
        let root_key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP384)?;
        let tsa_key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256)?;
        let ct_key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256)?;
        let root_name = distinguished_name(Some(&format!("{name} signing CA")), Some("Warden"));
        let not_before = now - BACKDATE;
        let not_after = now + AUTHORITY_VALIDITY;
        let root_id = key_identifier(root_key.spki_der());
        let root_certificate = sign_certificate(
            &CertificateContents {
                serial: &serial_from(serials[0]),
                subject: &root_name,
                spki: root_key.spki_der(),
                not_before,
                not_after,
                extensions: vec![
                    Extension::basic_constraints(true),
                    Extension::key_usage(&[KU_KEY_CERT_SIGN, KU_CRL_SIGN]),
                    Extension::subject_key_id(&root_id),
                ],
            },
            &CertificateIssuer {
                name: &root_name,
                key: &root_key,
            },
        )?;
        let tsa_certificate = sign_certificate(
            &CertificateContents {
                serial: &serial_from(serials[1]),
                subject: &distinguished_name(
                    Some(&format!("{name} timestamp authority")),
                    Some("Warden"),
                ),
                spki: tsa_key.spki_der(),
                not_before,
                not_after,
                extensions: vec![
                    Extension::basic_constraints(false),
                    Extension::key_usage(&[KU_DIGITAL_SIGNATURE]),
                    Extension::extended_key_usage(OID_TIME_STAMPING, true),
                    Extension::subject_key_id(&key_identifier(tsa_key.spki_der())),
                    Extension::authority_key_id(&root_id),
                ],
            },
            &CertificateIssuer {
                name: &root_name,
                key: &root_key,
            },
        )?;
        Ok(Self {
            root_key,
            root_certificate,
            root_name,
            tsa_key,
            tsa_certificate,
            ct_key,
        })
    }

    /// Rebuilds the authority from stored keys (PKCS#8) and certificates, checking that each
    /// key is the one its certificate certifies.
    pub fn from_stored(
        root_pkcs8: &[u8],
        root_certificate: &[u8],
        tsa_pkcs8: &[u8],
        tsa_certificate: &[u8],
        ct_pkcs8: &[u8],
    ) -> Result<Self, SigningError> {
        let root_key = SigningKeyPair::from_pkcs8(KeyAlgorithm::EcdsaP384, root_pkcs8)?;
        let tsa_key = SigningKeyPair::from_pkcs8(KeyAlgorithm::EcdsaP256, tsa_pkcs8)?;
        let ct_key = SigningKeyPair::from_pkcs8(KeyAlgorithm::EcdsaP256, ct_pkcs8)?;
        let root_name = {
            let root = parse_certificate(root_certificate, "root")?;
            if root.public_key().raw != root_key.spki_der() {
                return Err(SigningError::StoredAuthority(
                    "the root key does not match the root certificate",
                ));
            }
            root.subject().as_raw().to_vec()
        };
        let tsa = parse_certificate(tsa_certificate, "TSA")?;
        if tsa.public_key().raw != tsa_key.spki_der() {
            return Err(SigningError::StoredAuthority(
                "the TSA key does not match the TSA certificate",
            ));
        }
        Ok(Self {
            root_key,
            root_certificate: root_certificate.to_vec(),
            root_name,
            tsa_key,
            tsa_certificate: tsa_certificate.to_vec(),
            ct_key,
        })
    }

    /// The root certificate (DER), what deployers trust.
    pub fn root_certificate(&self) -> &[u8] {
        &self.root_certificate
    }

    /// The TSA certificate (DER).
    pub fn tsa_certificate(&self) -> &[u8] {
        &self.tsa_certificate
    }

    /// The root's private key, for sealing into the store only.
    pub fn root_key(&self) -> &SigningKeyPair {
        &self.root_key
    }

    /// The TSA's private key.
    pub fn tsa_key(&self) -> &SigningKeyPair {
        &self.tsa_key
    }

    /// The CT log key that signs the SCTs embedded in leaves.
    pub fn ct_key(&self) -> &SigningKeyPair {
        &self.ct_key
    }

    /// Issues a code-signing leaf for `request`.
    pub fn issue(&self, request: &LeafRequest<'_>) -> Result<Vec<u8>, SigningError> {
        if !is_uri(request.identity) {
            return Err(SigningError::Certificate(
                "the identity must be an absolute URI of printable ASCII",
            ));
        }
        if request.attested_facts.len() > MAX_ATTESTED_FACTS_BYTES {
            return Err(SigningError::Certificate(
                "the attested facts exceed 4096 bytes",
            ));
        }
        let root_id = key_identifier(self.root_key.spki_der());
        let issuer = CertificateIssuer {
            name: &self.root_name,
            key: &self.root_key,
        };
        let mut contents = CertificateContents {
            serial: &serial_from(request.serial),
            subject: &distinguished_name(None, None),
            spki: request.spki,
            not_before: request.not_before,
            not_after: request.not_after,
            extensions: vec![
                Extension::key_usage(&[KU_DIGITAL_SIGNATURE]),
                Extension::extended_key_usage(OID_CODE_SIGNING, false),
                Extension::basic_constraints(false),
                Extension::subject_key_id(&key_identifier(request.spki)),
                Extension::authority_key_id(&root_id),
                Extension::san_uri(request.identity),
                Extension::utf8(OID_FULCIO_ISSUER_V2, request.issuer),
                Extension::raw(OID_FULCIO_ISSUER_V1, request.issuer.as_bytes()),
                Extension::utf8(OID_WARDEN_ATTESTED_FACTS, request.attested_facts),
            ],
        };
        // The SCT signs the TBS without the SCT-list extension, which goes last.
        let precertificate = to_be_signed(&contents, &issuer)?;
        let timestamp_ms = u64::try_from(request.not_before.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| SigningError::Certificate("validity starts before 1970"))?;
        let sct = crate::ct::sign_sct(
            &self.ct_key,
            timestamp_ms,
            self.root_key.spki_der(),
            &precertificate,
        )?;
        contents
            .extensions
            .push(crate::ct::sct_list_extension(&[sct])?);
        sign_certificate(&contents, &issuer)
    }
}

fn parse_certificate<'a>(
    der: &'a [u8],
    which: &'static str,
) -> Result<X509Certificate<'a>, SigningError> {
    match X509Certificate::from_der(der) {
        Ok(([], certificate)) => Ok(certificate),
        _ => Err(SigningError::StoredAuthority(if which == "root" {
            "the stored root certificate does not parse"
        } else {
            "the stored TSA certificate does not parse"
        })),
    }
}

fn check_name(name: &str) -> Result<(), SigningError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-_".contains(c))
    {
        return Err(SigningError::Certificate(
            "the authority name must be 1 to 64 characters of letters, digits, space, '.', '-', '_'",
        ));
    }
    Ok(())
}

/// An absolute URI (`scheme:rest`) of printable ASCII without spaces: what an IA5String SAN
/// may carry.
pub fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    text.len() <= 512
        && !rest.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && text.chars().all(|c| c.is_ascii_graphic())
}
