//! Verifying an RFC 3161 `TimeStampResp` against trusted roots, appraisal-style: no clock, no
//! I/O. Every time check is at the token's own genTime, never "now".
//!
//! [`verify_timestamp`] accepts a response only when all of these hold (in this order):
//! 1. it parses ([`warden_wire::tsp::parse_response`]: strict DER, bounded) and its status is
//!    granted or grantedWithMods with a token, whose eContentType is id-ct-TSTInfo;
//! 2. the SignedData has exactly one `SignerInfo`, version 1 with an issuerAndSerialNumber sid
//!    and signed attributes, its digest SHA-256/384/512;
//! 3. the contentType attribute is id-ct-TSTInfo and the messageDigest attribute is the digest
//!    of the eContent octets (each attribute at most once);
//! 4. the signer certificate, found among the token's certificates and the caller's extra
//!    (untrusted) ones by issuer and serial, is the one the signingCertificateV2
//!    (`ESSCertIDv2`) and/or signingCertificate (SHA-1 `ESSCertID`) attribute names: one of
//!    them must be present and each present must match, issuerSerial included;
//! 5. the signer certificate has a critical ExtendedKeyUsage of exactly id-kp-timeStamping
//!    (RFC 3161 §2.3), and a KeyUsage, if present, of digitalSignature (nonRepudiation also
//!    allowed, as OpenSSL allows);
//! 6. it is issued directly by one of the trusted roots (a CA certificate), ECDSA P-256/P-384,
//!    and both certificates are valid at genTime;
//! 7. the signature (ECDSA P-256/P-384 with the SignerInfo's digest) over the DER SET of signed
//!    attributes verifies with the signer's key;
//! 8. the TSTInfo's messageImprint is SHA-256/384/512 of `signed_bytes`.
//!
//! The TSTInfo `tsa` name, accuracy and ordering are not interpreted (OpenSSL's `ts -verify`
//! only checks `tsa` when asked to).

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use warden_wire::tsp::{
    self, HashAlgorithm, PkiStatus, SignerIdentifier, SignerInfo, TimeStampToken, TspError,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::x509::{CertError, Scheme, X509Cert};

/// The signature schemes a TSA certificate may be issued with (Warden's root is P-384; P-256
/// roots are accepted too).
const ROOT_SCHEMES: [Scheme; 2] = [Scheme::EcdsaP384Sha384, Scheme::EcdsaP256Sha256];

const OID_EKU: &str = "2.5.29.37";
/// `SEQUENCE { id-kp-timeStamping }`, the one DER encoding of an EKU of only timeStamping.
const EKU_TIME_STAMPING_ONLY: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
/// x509-parser's KeyUsage flags: bit 0 digitalSignature, bit 1 nonRepudiation.
const KU_DIGITAL_SIGNATURE: u16 = 1;
const KU_NON_REPUDIATION: u16 = 2;

/// What a verified timestamp says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// genTime, Unix seconds.
    pub gen_time: i64,
    /// The TSTInfo serial number's content octets.
    pub serial: Vec<u8>,
    /// The TSA policy, dotted.
    pub policy: String,
    /// The hash algorithm of the message imprint.
    pub imprint_algorithm: HashAlgorithm,
    /// The nonce's content octets, if the token has one.
    pub nonce: Option<Vec<u8>>,
    /// The signer (TSA) certificate, DER.
    pub signer_certificate_der: Vec<u8>,
}

/// Why a timestamp was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The response does not parse.
    #[error("malformed timestamp response: {0}")]
    Malformed(#[from] TspError),
    /// The TSA did not grant a token.
    #[error("the TSA answered {status:?} (failInfo bits {fail_info:?})")]
    NotGranted {
        /// The status.
        status: PkiStatus,
        /// The failInfo bits set.
        fail_info: Vec<u8>,
    },
    /// Granted, but without a token.
    #[error("the response has no timestamp token")]
    NoToken,
    /// Not exactly one SignerInfo.
    #[error("the token has {0} SignerInfos, not exactly one")]
    SignerCount(usize),
    /// The SignerInfo does not name its signer by issuer and serial number (version 1).
    #[error("the SignerInfo does not identify its signer by issuer and serial number")]
    SignerIdentifier,
    /// The SignerInfo has no signed attributes.
    #[error("the SignerInfo has no signed attributes")]
    NoSignedAttributes,
    /// The SignerInfo's digest algorithm is not SHA-256/384/512.
    #[error("unsupported digest algorithm {0}")]
    DigestAlgorithm(String),
    /// The contentType attribute is missing or not id-ct-TSTInfo.
    #[error("the contentType attribute is missing or not id-ct-TSTInfo")]
    ContentType,
    /// The messageDigest attribute is missing or not the digest of the TSTInfo.
    #[error("the messageDigest attribute is missing or does not match the TSTInfo")]
    MessageDigest,
    /// Neither signingCertificateV2 nor signingCertificate is present.
    #[error("the token has no ESS signing-certificate attribute")]
    SigningCertificateMissing,
    /// No certificate with the signer's issuer and serial was given or included.
    #[error("the signer certificate is not in the token or the given certificates")]
    SignerNotFound,
    /// The ESS attribute names another certificate than the signer's.
    #[error("the ESS signing-certificate attribute does not name the signer certificate")]
    SigningCertificateMismatch,
    /// A certificate that does not parse strictly.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    /// The signer certificate is not a timestamping certificate.
    #[error("the signer certificate is not for timestamping: {0}")]
    SignerProfile(&'static str),
    /// No trusted root issued the signer certificate.
    #[error("the signer certificate {0} is not issued by a trusted root")]
    Untrusted(String),
    /// A certificate of the chain is not valid at genTime.
    #[error("certificate {certificate} is not valid at genTime {gen_time}")]
    NotValidAt {
        /// The certificate's common name.
        certificate: String,
        /// genTime, Unix seconds.
        gen_time: i64,
    },
    /// The signature algorithm or key is not ECDSA P-256/P-384 with the SignerInfo's digest.
    #[error("unsupported signature: {0}")]
    SignatureAlgorithm(String),
    /// The signature does not verify.
    #[error("the token's signature does not verify with the signer certificate")]
    Signature,
    /// The imprint's algorithm is not SHA-256/384/512.
    #[error("unsupported imprint algorithm {0}")]
    ImprintAlgorithm(String),
    /// The imprint is not the digest of the signed bytes.
    #[error("the timestamp is over other data")]
    Imprint,
}

/// Verifies `response_der` (a DER `TimeStampResp`) as a timestamp over `signed_bytes` by a TSA
/// issued directly by one of `trusted_roots` (DER), the signer certificate taken from the token
/// or from `tsa_certificates` (DER, untrusted). See the module documentation for every check.
pub fn verify_timestamp(
    response_der: &[u8],
    signed_bytes: &[u8],
    trusted_roots: &[Vec<u8>],
    tsa_certificates: &[Vec<u8>],
) -> Result<VerifiedTimestamp, TimestampError> {
    let response = tsp::parse_response(response_der)?;
    if !matches!(
        response.status,
        PkiStatus::Granted | PkiStatus::GrantedWithMods
    ) {
        return Err(TimestampError::NotGranted {
            status: response.status,
            fail_info: response.fail_info.unwrap_or_default(),
        });
    }
    let token = response.token.ok_or(TimestampError::NoToken)?;
    let [signer] = token.signer_infos.as_slice() else {
        return Err(TimestampError::SignerCount(token.signer_infos.len()));
    };
    let SignerIdentifier::IssuerAndSerial { issuer, serial } = &signer.sid else {
        return Err(TimestampError::SignerIdentifier);
    };
    if signer.version != [1] {
        return Err(TimestampError::SignerIdentifier);
    }
    let signed_attributes = signer
        .signed_attributes_der
        .as_ref()
        .ok_or(TimestampError::NoSignedAttributes)?;
    let digest_algorithm = HashAlgorithm::from_oid(&signer.digest_algorithm)
        .ok_or_else(|| TimestampError::DigestAlgorithm(signer.digest_algorithm.clone()))?;
    check_content_attributes(signer, &token, digest_algorithm)?;

    let certificate_der = signer_certificate(signer, issuer, serial, &token, tsa_certificates)?;
    let certificate = X509Cert::<()>::from_der(certificate_der)?;
    let (_, parsed) = X509Certificate::from_der(certificate_der)
        .map_err(|e| CertError::NotCertificate(e.to_string()))?;
    check_timestamping_profile(&parsed)?;

    let gen_time = token.tst_info.gen_time;
    let root = trusted_root(&certificate, trusted_roots)?;
    for (valid, name) in [
        (certificate.valid_at(gen_time), certificate.name()),
        (root.valid_at(gen_time), root.name()),
    ] {
        if !valid {
            return Err(TimestampError::NotValidAt {
                certificate: name.to_owned(),
                gen_time,
            });
        }
    }

    let algorithm = verification_algorithm(&parsed, signer, digest_algorithm)?;
    UnparsedPublicKey::new(algorithm, certificate.public_key_bits()?)
        .verify(signed_attributes, &signer.signature)
        .map_err(|_| TimestampError::Signature)?;

    let tst = &token.tst_info;
    let imprint_algorithm = tst
        .message_imprint
        .hash_algorithm()
        .ok_or_else(|| TimestampError::ImprintAlgorithm(tst.message_imprint.algorithm.clone()))?;
    if imprint_algorithm.digest(signed_bytes) != tst.message_imprint.hashed_message {
        return Err(TimestampError::Imprint);
    }
    Ok(VerifiedTimestamp {
        gen_time,
        serial: tst.serial.clone(),
        policy: tst.policy.clone(),
        imprint_algorithm,
        nonce: tst.nonce.clone(),
        signer_certificate_der: certificate_der.to_vec(),
    })
}

/// contentType = id-ct-TSTInfo and messageDigest = H(eContent), each a single value.
fn check_content_attributes(
    signer: &SignerInfo,
    token: &TimeStampToken,
    digest_algorithm: HashAlgorithm,
) -> Result<(), TimestampError> {
    let content_type = match signer.attribute(tsp::OID_CONTENT_TYPE)? {
        Some(attribute) => match attribute.values.as_slice() {
            [value] => tsp::parse_oid_value(value)?,
            _ => return Err(TimestampError::ContentType),
        },
        None => return Err(TimestampError::ContentType),
    };
    if content_type != tsp::OID_TST_INFO {
        return Err(TimestampError::ContentType);
    }
    let message_digest = match signer.attribute(tsp::OID_MESSAGE_DIGEST)? {
        Some(attribute) => match attribute.values.as_slice() {
            [value] => tsp::parse_octet_string_value(value)?,
            _ => return Err(TimestampError::MessageDigest),
        },
        None => return Err(TimestampError::MessageDigest),
    };
    if message_digest != digest_algorithm.digest(&token.econtent) {
        return Err(TimestampError::MessageDigest);
    }
    Ok(())
}

/// The candidate with the sid's issuer and serial that the ESS attribute(s) name.
fn signer_certificate<'a>(
    signer: &SignerInfo,
    issuer: &[u8],
    serial: &[u8],
    token: &'a TimeStampToken,
    tsa_certificates: &'a [Vec<u8>],
) -> Result<&'a [u8], TimestampError> {
    let v2 = signer.attribute(tsp::OID_SIGNING_CERTIFICATE_V2)?;
    let v1 = signer.attribute(tsp::OID_SIGNING_CERTIFICATE)?;
    if v1.is_none() && v2.is_none() {
        return Err(TimestampError::SigningCertificateMissing);
    }
    let mut ids = Vec::new();
    for (attribute, is_v2) in [(v2, true), (v1, false)] {
        if let Some(attribute) = attribute {
            let [value] = attribute.values.as_slice() else {
                return Err(TimestampError::SigningCertificateMismatch);
            };
            let parsed = tsp::parse_signing_certificate(value, is_v2)?;
            // The first identifier names the signer (RFC 5035 §5.4).
            if let Some(first) = parsed.into_iter().next() {
                ids.push(first);
            }
        }
    }
    let mut found = false;
    for der in token.certificates.iter().chain(tsa_certificates) {
        let Ok((rest, candidate)) = X509Certificate::from_der(der) else {
            continue;
        };
        if !rest.is_empty()
            || candidate.issuer().as_raw() != issuer
            || candidate.raw_serial() != serial
        {
            continue;
        }
        found = true;
        if ids.iter().all(|id| ess_names(id, der, issuer, serial)) {
            return Ok(der);
        }
    }
    Err(if found {
        TimestampError::SigningCertificateMismatch
    } else {
        TimestampError::SignerNotFound
    })
}

/// Whether an ESS identifier names the certificate `der` (with this issuer and serial).
fn ess_names(id: &tsp::EssCertId, der: &[u8], issuer: &[u8], serial: &[u8]) -> bool {
    let hash = if id.hash_algorithm == tsp::OID_SHA1 {
        digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
            .as_ref()
            .to_vec()
    } else {
        match HashAlgorithm::from_oid(&id.hash_algorithm) {
            Some(algorithm) => algorithm.digest(der),
            None => return false,
        }
    };
    if hash != id.cert_hash {
        return false;
    }
    match &id.issuer_serial {
        Some((issuers, id_serial)) => {
            id_serial.as_slice() == serial && issuers.iter().any(|name| name.as_slice() == issuer)
        }
        None => true,
    }
}

/// RFC 3161 §2.3: a critical EKU of only id-kp-timeStamping; KeyUsage, when present,
/// digitalSignature (and at most nonRepudiation besides).
fn check_timestamping_profile(certificate: &X509Certificate<'_>) -> Result<(), TimestampError> {
    let mut ekus = certificate
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == OID_EKU);
    let eku = ekus
        .next()
        .ok_or(TimestampError::SignerProfile("no ExtendedKeyUsage"))?;
    if ekus.next().is_some() {
        return Err(TimestampError::SignerProfile(
            "two ExtendedKeyUsage extensions",
        ));
    }
    if !eku.critical {
        return Err(TimestampError::SignerProfile(
            "the ExtendedKeyUsage is not critical",
        ));
    }
    if eku.value != EKU_TIME_STAMPING_ONLY {
        return Err(TimestampError::SignerProfile(
            "the ExtendedKeyUsage is not exactly timeStamping",
        ));
    }
    match certificate.key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(usage)) => {
            let flags = usage.value.flags;
            if flags & KU_DIGITAL_SIGNATURE != 0
                && flags & !(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION) == 0
            {
                Ok(())
            } else {
                Err(TimestampError::SignerProfile(
                    "the KeyUsage is not digitalSignature",
                ))
            }
        }
        Err(_) => Err(TimestampError::SignerProfile("the KeyUsage does not parse")),
    }
}

/// The trusted CA root that issued and signed `certificate`.
fn trusted_root(
    certificate: &X509Cert<()>,
    trusted_roots: &[Vec<u8>],
) -> Result<X509Cert<bool>, TimestampError> {
    for der in trusted_roots {
        let root = X509Cert::parse_with(der, |c| c.is_ca())?;
        if root.ext
            && certificate.names_issuer(&root)
            && certificate
                .verify_issued_by_with(&root, &ROOT_SCHEMES)
                .is_ok()
        {
            return Ok(root);
        }
    }
    Err(TimestampError::Untrusted(certificate.name().to_owned()))
}

/// ECDSA with the SignerInfo's digest on the signer key's curve.
fn verification_algorithm(
    certificate: &X509Certificate<'_>,
    signer: &SignerInfo,
    digest_algorithm: HashAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm, TimestampError> {
    let named = match signer.signature_algorithm.as_str() {
        tsp::OID_ECDSA_WITH_SHA256 => HashAlgorithm::Sha256,
        tsp::OID_ECDSA_WITH_SHA384 => HashAlgorithm::Sha384,
        other => return Err(TimestampError::SignatureAlgorithm(other.to_owned())),
    };
    if named != digest_algorithm {
        return Err(TimestampError::SignatureAlgorithm(format!(
            "{} with a {} digest",
            signer.signature_algorithm,
            digest_algorithm.name()
        )));
    }
    let key = certificate.public_key();
    let curve = key
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    if key.algorithm.algorithm.to_id_string() != OID_EC_PUBLIC_KEY {
        return Err(TimestampError::SignatureAlgorithm(
            "the signer key is not an EC key".into(),
        ));
    }
    match (curve.as_deref(), named) {
        (Some(OID_P256), HashAlgorithm::Sha256) => Ok(&signature::ECDSA_P256_SHA256_ASN1),
        (Some(OID_P256), HashAlgorithm::Sha384) => Ok(&signature::ECDSA_P256_SHA384_ASN1),
        (Some(OID_P384), HashAlgorithm::Sha256) => Ok(&signature::ECDSA_P384_SHA256_ASN1),
        (Some(OID_P384), HashAlgorithm::Sha384) => Ok(&signature::ECDSA_P384_SHA384_ASN1),
        _ => Err(TimestampError::SignatureAlgorithm(
            "the signer key is not on P-256 or P-384".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_and_garbage_are_errors_never_panics() {
        let granted_without_token = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
        assert_eq!(
            verify_timestamp(&granted_without_token, b"x", &[], &[]).unwrap_err(),
            TimestampError::NoToken
        );
        // A rejection with failInfo badAlg, as Warden's TSA writes it.
        let rejected = [
            0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80,
        ];
        assert_eq!(
            verify_timestamp(&rejected, b"x", &[], &[]).unwrap_err(),
            TimestampError::NotGranted {
                status: PkiStatus::Rejection,
                fail_info: vec![0]
            }
        );
        for garbage in [&[][..], &[0x30], &[0x30, 0x80, 0x00, 0x00], &[0xff; 64]] {
            assert!(verify_timestamp(garbage, b"x", &[], &[]).is_err());
        }
    }
}
