//! X.509 v3 certificates as Warden issues them: the signing CA's root, the TSA certificate and
//! short-lived code-signing leaves. One function signs them all ([`sign_certificate`]); the
//! profiles in [`crate::ca`] decide what goes in.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_wire::signing_key::SigningKeyPair;

use crate::SigningError;
use crate::der;

/// commonName.
pub const OID_COMMON_NAME: &str = "2.5.4.3";
/// organizationName.
pub const OID_ORGANIZATION: &str = "2.5.4.10";
/// subjectKeyIdentifier.
pub const OID_SUBJECT_KEY_ID: &str = "2.5.29.14";
/// keyUsage.
pub const OID_KEY_USAGE: &str = "2.5.29.15";
/// subjectAltName.
pub const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";
/// basicConstraints.
pub const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
/// authorityKeyIdentifier.
pub const OID_AUTHORITY_KEY_ID: &str = "2.5.29.35";
/// extKeyUsage.
pub const OID_EXTENDED_KEY_USAGE: &str = "2.5.29.37";
/// id-kp-codeSigning.
pub const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// id-kp-timeStamping.
pub const OID_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
pub use warden_wire::code_signing::{
    OID_FULCIO_ISSUER_V1, OID_FULCIO_ISSUER_V2, OID_WARDEN_ATTESTED_FACTS, WARDEN_OID_ARC,
};

/// KeyUsage bit numbers (RFC 5280 §4.2.1.3).
pub(crate) const KU_DIGITAL_SIGNATURE: u8 = 0;
pub(crate) const KU_KEY_CERT_SIGN: u8 = 5;
pub(crate) const KU_CRL_SIGN: u8 = 6;

/// One extension: its OID (dotted), criticality and the DER of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Dotted OID.
    pub oid: &'static str,
    /// Whether a verifier that does not know it must refuse the certificate.
    pub critical: bool,
    /// DER of the extension's value (the content of extnValue's OCTET STRING).
    pub value: Vec<u8>,
}

impl Extension {
    fn to_der(&self) -> Vec<u8> {
        let id = der::known_oid(self.oid);
        let value = der::octet_string(&self.value);
        if self.critical {
            der::sequence(&[&id, &der::boolean_true(), &value])
        } else {
            der::sequence(&[&id, &value])
        }
    }

    /// KeyUsage with the given bits, critical.
    pub(crate) fn key_usage(bits: &[u8]) -> Self {
        Self {
            oid: OID_KEY_USAGE,
            critical: true,
            value: der::named_bits(bits),
        }
    }

    /// ExtendedKeyUsage with exactly one purpose.
    pub(crate) fn extended_key_usage(purpose: &str, critical: bool) -> Self {
        Self {
            oid: OID_EXTENDED_KEY_USAGE,
            critical,
            value: der::sequence(&[&der::known_oid(purpose)]),
        }
    }

    /// BasicConstraints, critical; a CA gets pathLenConstraint 0 (it signs leaves only).
    pub(crate) fn basic_constraints(ca: bool) -> Self {
        let value = if ca {
            der::sequence(&[&der::boolean_true(), &der::small_integer(0)])
        } else {
            der::sequence(&[])
        };
        Self {
            oid: OID_BASIC_CONSTRAINTS,
            critical: true,
            value,
        }
    }

    pub(crate) fn subject_key_id(key_id: &[u8]) -> Self {
        Self {
            oid: OID_SUBJECT_KEY_ID,
            critical: false,
            value: der::octet_string(key_id),
        }
    }

    pub(crate) fn authority_key_id(key_id: &[u8]) -> Self {
        Self {
            oid: OID_AUTHORITY_KEY_ID,
            critical: false,
            value: der::sequence(&[&der::context_primitive(0, key_id)]),
        }
    }

    /// subjectAltName with one URI; critical because the subject is empty (RFC 5280 §4.2.1.6).
    pub(crate) fn san_uri(uri: &str) -> Self {
        Self {
            oid: OID_SUBJECT_ALT_NAME,
            critical: true,
            value: der::sequence(&[&der::context_primitive(6, uri.as_bytes())]),
        }
    }

    /// An extension whose value is `bytes` as they are, not DER (Fulcio's V1 extensions).
    pub(crate) fn raw(oid: &'static str, bytes: &[u8]) -> Self {
        Self {
            oid,
            critical: false,
            value: bytes.to_vec(),
        }
    }

    /// An extension whose value is one DER UTF8String.
    pub(crate) fn utf8(oid: &'static str, text: &str) -> Self {
        Self {
            oid,
            critical: false,
            value: der::utf8_string(text),
        }
    }
}

/// The DER Name `CN=<common_name>[, O=<organization>]`; an empty Name for no common name.
pub fn distinguished_name(common_name: Option<&str>, organization: Option<&str>) -> Vec<u8> {
    let attribute = |oid: &str, value: &str| {
        der::set(&[&der::sequence(&[
            &der::known_oid(oid),
            &der::utf8_string(value),
        ])])
    };
    let mut rdns = Vec::new();
    if let Some(organization) = organization {
        rdns.push(attribute(OID_ORGANIZATION, organization));
    }
    if let Some(common_name) = common_name {
        rdns.push(attribute(OID_COMMON_NAME, common_name));
    }
    let parts: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    der::sequence(&parts)
}

/// The key identifier of a public key: SHA-256 of its DER SubjectPublicKeyInfo, truncated to
/// 160 bits (RFC 7093 §2, method 4 style; any stable unique method is allowed).
pub fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    Sha256::digest(spki_der)[..20].to_vec()
}

/// Who signs: the issuer's DER Name, key and key identifier.
pub struct CertificateIssuer<'a> {
    /// DER Name of the issuer (its certificate's subject, byte for byte).
    pub name: &'a [u8],
    /// The issuer's private key.
    pub key: &'a SigningKeyPair,
}

/// What a certificate says, before it is signed.
pub struct CertificateContents<'a> {
    /// Serial number magnitude (big-endian, positive; at most 20 octets).
    pub serial: &'a [u8],
    /// DER Name of the subject (empty for leaves: identity is in the SAN).
    pub subject: &'a [u8],
    /// The subject's DER SubjectPublicKeyInfo, copied verbatim.
    pub spki: &'a [u8],
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity (inclusive, as X.509 defines it).
    pub not_after: OffsetDateTime,
    /// Extensions, in this order.
    pub extensions: Vec<Extension>,
}

/// The DER `TBSCertificate` of `contents` issued by `issuer`: what the issuer signs, and (without
/// the SCT-list extension) what an SCT signs.
pub fn to_be_signed(
    contents: &CertificateContents<'_>,
    issuer: &CertificateIssuer<'_>,
) -> Result<Vec<u8>, SigningError> {
    if contents.serial.is_empty() || contents.serial.len() > 20 {
        return Err(SigningError::Certificate("serial must be 1 to 20 octets"));
    }
    if contents.not_after < contents.not_before {
        return Err(SigningError::Certificate("validity ends before it starts"));
    }
    let extensions: Vec<Vec<u8>> = contents.extensions.iter().map(Extension::to_der).collect();
    let extensions: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    Ok(der::sequence(&[
        &der::context_explicit(0, &der::small_integer(2)),
        &der::unsigned_integer(contents.serial),
        &signature_algorithm(issuer),
        issuer.name,
        &der::sequence(&[
            &der::x509_time(contents.not_before),
            &der::x509_time(contents.not_after),
        ]),
        contents.subject,
        contents.spki,
        &der::context_explicit(3, &der::sequence(&extensions)),
    ]))
}

fn signature_algorithm(issuer: &CertificateIssuer<'_>) -> Vec<u8> {
    der::sequence(&[&der::known_oid(issuer.key.algorithm().signature_oid())])
}

/// Signs `contents` as an X.509 v3 certificate and returns its DER.
pub fn sign_certificate(
    contents: &CertificateContents<'_>,
    issuer: &CertificateIssuer<'_>,
) -> Result<Vec<u8>, SigningError> {
    let tbs = to_be_signed(contents, issuer)?;
    let signature = issuer.key.sign(&tbs)?;
    Ok(der::sequence(&[
        &tbs,
        &signature_algorithm(issuer),
        &der::bit_string(&signature),
    ]))
}

/// PEM text of one DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    warden_wire::pem::encode("CERTIFICATE", der)
}
