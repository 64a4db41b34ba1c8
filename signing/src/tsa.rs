//! The RFC 3161 timestamp authority: a DER `TimeStampReq` in, a DER `TimeStampResp` out, at a
//! genTime and serial the caller gives (nothing here reads the clock).
//!
//! A granted token is a CMS `ContentInfo` of `SignedData` (version 3) over the DER TSTInfo,
//! written out with the [`crate::der`] helpers because Warden's policy OID has a 128-bit arc
//! (see [`TSA_POLICY`]). Its shape is what OpenSSL's `ts -verify` requires:
//! - TSTInfo: version 1, the policy, the request's messageImprint echoed byte for byte, a
//!   positive 16-octet serial, genTime in whole seconds with `Z`, accuracy 1 s, the nonce
//!   echoed, **no `tsa` field** (OpenSSL would compare it with the signer);
//! - `certificates` = the TSA certificate, when the request sets `certReq`;
//! - one `SignerInfo`, version 1, sid issuerAndSerialNumber (OpenSSL reads tokens as PKCS#7,
//!   which has no other form), digest SHA-256 (SHA-384 for a P-384 key), signed attributes
//!   contentType, messageDigest and signingCertificateV2 (an `ESSCertIDv2` with the SHA-256 of
//!   the TSA certificate, the default hashAlgorithm omitted as DER requires, and issuerSerial)
//!   as a DER-sorted SET, signed as that SET (`0x31`) and stored `[0] IMPLICIT`.
//!
//! A request that cannot be served gets a `TimeStampResp` with status rejection (2) and the
//! failInfo bit RFC 3161 names: badAlg, badRequest, badDataFormat, unacceptedPolicy or
//! unacceptedExtension, and systemFailure when the authority's own material is unusable.
//! [`respond`] never panics and always returns a DER response.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use warden_wire::tsp::{self, FailureInfo, HashAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ca::serial_from;
use crate::der::{
    context_explicit, generalized_time, known_oid, named_bits, octet_string, oid, sequence, set,
    small_integer, tlv, unsigned_integer, utf8_string,
};

/// Warden's TSA policy: `<Warden's 2.25 UUID arc>.2` (docs/design/attested-signing.md §2).
pub use warden_wire::code_signing::OID_WARDEN_TSA_POLICY as TSA_POLICY;

/// HTTP content type of a `TimeStampReq`.
pub const CONTENT_TYPE_QUERY: &str = "application/timestamp-query";
/// HTTP content type of a `TimeStampResp`.
pub const CONTENT_TYPE_REPLY: &str = "application/timestamp-reply";

const OID_ID_DATA_CONTENT_TYPE: &str = tsp::OID_CONTENT_TYPE;

/// Which ESS signing-certificate attribute a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EssAttribute {
    /// signingCertificateV2 with an `ESSCertIDv2` (SHA-256): what [`respond`] writes.
    V2,
    /// signingCertificate with a SHA-1 `ESSCertID` (RFC 2634), as older TSAs write: only for
    /// checking that verifiers read it.
    V1,
    /// None at all: a token OpenSSL must refuse, only for negative tests.
    Omitted,
}

/// Answers `request_der` with a DER `TimeStampResp`: a token signed by `tsa_key` at
/// `gen_time` (whole seconds) under `policy` (dotted; a request naming another policy is
/// rejected with unacceptedPolicy), serial [`serial_from`]`(serial)`; or a rejection.
pub fn respond(
    request_der: &[u8],
    gen_time: OffsetDateTime,
    serial: [u8; 16],
    tsa_key: &SigningKeyPair,
    tsa_certificate_der: &[u8],
    policy: &str,
) -> Vec<u8> {
    respond_with(
        request_der,
        gen_time,
        serial,
        tsa_key,
        tsa_certificate_der,
        policy,
        EssAttribute::V2,
    )
}

/// [`respond`] with a choice of ESS attribute; [`EssAttribute::V2`] is the only one Warden
/// serves, the others exist for interoperability and negative tests.
pub fn respond_with(
    request_der: &[u8],
    gen_time: OffsetDateTime,
    serial: [u8; 16],
    tsa_key: &SigningKeyPair,
    tsa_certificate_der: &[u8],
    policy: &str,
    ess: EssAttribute,
) -> Vec<u8> {
    let request = match tsp::parse_request(request_der) {
        Ok(request) => request,
        Err(error) => return rejection(error.failure(), &error.to_string()),
    };
    if request.req_policy.as_deref().is_some_and(|p| p != policy) {
        return rejection(
            FailureInfo::UnacceptedPolicy,
            "the requested policy is not this TSA's",
        );
    }
    match token(
        &request,
        gen_time,
        serial,
        tsa_key,
        tsa_certificate_der,
        policy,
        ess,
    ) {
        Ok(token) => sequence(&[&sequence(&[&small_integer(0)]), &token]),
        Err(reason) => rejection(FailureInfo::SystemFailure, reason),
    }
}

/// A DER `TimeStampResp` with status rejection, the reason as statusString and one failInfo bit.
pub fn rejection(failure: FailureInfo, reason: &str) -> Vec<u8> {
    // statusString is for people: keep it short and printable.
    let text: String = reason
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect();
    let status = sequence(&[
        &small_integer(2),
        &sequence(&[&utf8_string(&text)]),
        &named_bits(&[failure.bit()]),
    ]);
    sequence(&[&status])
}

fn token(
    request: &tsp::TimeStampRequest,
    gen_time: OffsetDateTime,
    serial: [u8; 16],
    tsa_key: &SigningKeyPair,
    tsa_certificate_der: &[u8],
    policy: &str,
    ess: EssAttribute,
) -> Result<Vec<u8>, &'static str> {
    let policy = oid(policy).ok_or("the TSA policy is not an OID")?;
    let (digest_algorithm, signature_oid) = match tsa_key.algorithm() {
        KeyAlgorithm::EcdsaP256 => (HashAlgorithm::Sha256, tsp::OID_ECDSA_WITH_SHA256),
        KeyAlgorithm::EcdsaP384 => (HashAlgorithm::Sha384, tsp::OID_ECDSA_WITH_SHA384),
        KeyAlgorithm::Ed25519 => return Err("the TSA key must be ECDSA"),
    };
    let certificate = match X509Certificate::from_der(tsa_certificate_der) {
        Ok(([], certificate)) => certificate,
        _ => return Err("the TSA certificate does not parse"),
    };
    if certificate.public_key().raw != tsa_key.spki_der() {
        return Err("the TSA key does not match the TSA certificate");
    }
    let issuer = certificate.issuer().as_raw();
    let certificate_serial = tlv(0x02, certificate.raw_serial());

    let mut tst_fields: Vec<Vec<u8>> = vec![
        small_integer(1),
        policy,
        request.message_imprint.der.clone(),
        unsigned_integer(&serial_from(serial)),
        generalized_time(gen_time),
        sequence(&[&small_integer(1)]),
    ];
    if let Some(nonce) = &request.nonce {
        tst_fields.push(tlv(0x02, nonce));
    }
    let tst_info = tlv(0x30, &tst_fields.concat());

    let id_tst_info = known_oid(tsp::OID_TST_INFO);
    let digest_algorithm_id = sequence(&[&known_oid(digest_algorithm.oid())]);
    let mut attributes = vec![
        attribute(OID_ID_DATA_CONTENT_TYPE, &id_tst_info),
        attribute(
            tsp::OID_MESSAGE_DIGEST,
            &octet_string(&digest_algorithm.digest(&tst_info)),
        ),
    ];
    let issuer_serial = sequence(&[
        &sequence(&[&context_explicit(4, issuer)]),
        &certificate_serial,
    ]);
    match ess {
        EssAttribute::V2 => {
            let id = sequence(&[
                &octet_string(&HashAlgorithm::Sha256.digest(tsa_certificate_der)),
                &issuer_serial,
            ]);
            attributes.push(attribute(
                tsp::OID_SIGNING_CERTIFICATE_V2,
                &sequence(&[&sequence(&[&id])]),
            ));
        }
        EssAttribute::V1 => {
            let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, tsa_certificate_der);
            let id = sequence(&[&octet_string(sha1.as_ref()), &issuer_serial]);
            attributes.push(attribute(
                tsp::OID_SIGNING_CERTIFICATE,
                &sequence(&[&sequence(&[&id])]),
            ));
        }
        EssAttribute::Omitted => {}
    }
    // DER SET OF: the encodings in ascending order.
    attributes.sort();
    let signed_attributes = tlv(0x31, &attributes.concat());
    let signature = tsa_key
        .sign(&signed_attributes)
        .map_err(|_| "signing failed")?;

    let signer_info = sequence(&[
        &small_integer(1),
        &sequence(&[issuer, &certificate_serial]),
        &digest_algorithm_id,
        &tlv(0xa0, &attributes.concat()),
        &sequence(&[&known_oid(signature_oid)]),
        &octet_string(&signature),
    ]);
    let encapsulated = sequence(&[&id_tst_info, &context_explicit(0, &octet_string(&tst_info))]);
    let certificates = if request.cert_req {
        tlv(0xa0, tsa_certificate_der)
    } else {
        Vec::new()
    };
    let signed_data = sequence(&[
        &small_integer(3),
        &set(&[&digest_algorithm_id]),
        &encapsulated,
        &certificates,
        &set(&[&signer_info]),
    ]);
    Ok(sequence(&[
        &known_oid(tsp::OID_SIGNED_DATA),
        &context_explicit(0, &signed_data),
    ]))
}

/// `Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue }` with one value.
fn attribute(oid: &str, value: &[u8]) -> Vec<u8> {
    sequence(&[&known_oid(oid), &set(&[value])])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningAuthority;
    use warden_wire::tsp::{PkiStatus, parse_response};

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    #[test]
    fn a_granted_token_echoes_the_request_and_carries_the_profile() {
        let ca = SigningAuthority::create("t", at(), [[1; 16], [2; 16]]).unwrap();
        let request = tsp::build_request(b"sig", Some(0x1234)).unwrap();
        let response = respond(
            &request,
            at(),
            [0xff; 16],
            ca.tsa_key(),
            ca.tsa_certificate(),
            TSA_POLICY,
        );
        let parsed = parse_response(&response).unwrap();
        assert_eq!(parsed.status, PkiStatus::Granted);
        let token = parsed.token.unwrap();
        assert_eq!(token.version, [3]);
        assert_eq!(token.certificates, [ca.tsa_certificate().to_vec()]);
        let tst = &token.tst_info;
        assert_eq!(tst.policy, TSA_POLICY);
        assert_eq!(tst.gen_time, 1_790_000_000);
        assert_eq!(tst.nonce.as_deref(), Some(&[0x12, 0x34][..]));
        assert_eq!(tst.serial, [&[0x7f][..], &[0xff; 15]].concat());
        assert!(tst.tsa.is_none());
        assert_eq!(
            tst.message_imprint.der,
            tsp::parse_request(&request).unwrap().message_imprint.der
        );
        let signer = &token.signer_infos[0];
        let oids: Vec<&str> = signer
            .signed_attributes
            .iter()
            .map(|a| a.oid.as_str())
            .collect();
        assert_eq!(oids.len(), 3);
        assert!(oids.contains(&tsp::OID_SIGNING_CERTIFICATE_V2));
        // The ESSCertIDv2 omits the default algorithm (DER) and hashes the certificate.
        let ess = signer
            .attribute(tsp::OID_SIGNING_CERTIFICATE_V2)
            .unwrap()
            .unwrap();
        let ids = tsp::parse_signing_certificate(&ess.values[0], true).unwrap();
        assert_eq!(
            ids[0].cert_hash,
            HashAlgorithm::Sha256.digest(ca.tsa_certificate())
        );
        assert_eq!(ids[0].hash_algorithm, HashAlgorithm::Sha256.oid());
        let sha256_oid = known_oid(HashAlgorithm::Sha256.oid());
        assert!(
            !ess.values[0]
                .windows(sha256_oid.len())
                .any(|w| w == sha256_oid),
            "the default hashAlgorithm is omitted"
        );
        // The signature covers the SET re-tagged 0x31 and verifies with the TSA key.
        assert!(KeyAlgorithm::EcdsaP256.verify(
            ca.tsa_key().public_key_bits(),
            signer.signed_attributes_der.as_ref().unwrap(),
            &signer.signature
        ));
    }

    #[test]
    fn bad_requests_get_a_rejection_with_the_right_bit_never_a_panic() {
        let ca = SigningAuthority::create("t", at(), [[1; 16], [2; 16]]).unwrap();
        let serve = |request: &[u8], policy: &str| {
            parse_response(&respond(
                request,
                at(),
                [3; 16],
                ca.tsa_key(),
                ca.tsa_certificate(),
                policy,
            ))
            .unwrap()
        };
        let good = tsp::build_request(b"sig", None).unwrap();
        for cut in 0..good.len() {
            let parsed = serve(&good[..cut], TSA_POLICY);
            assert_eq!(parsed.status, PkiStatus::Rejection);
            assert_eq!(parsed.fail_info, Some(vec![5]));
            assert!(parsed.token.is_none());
        }
        let mut extended = good.clone();
        extended.extend_from_slice(&[0xa0, 0x00]);
        extended[1] += 2;
        assert_eq!(serve(&extended, TSA_POLICY).fail_info, Some(vec![16]));
        let mut v2 = good.clone();
        v2[4] = 2;
        assert_eq!(serve(&v2, TSA_POLICY).fail_info, Some(vec![2]));
        // A policy that is not an OID is the authority's failure, not the client's.
        assert_eq!(serve(&good, "not.an.oid").fail_info, Some(vec![25]));
        // A certificate that is not the key's.
        let other = SigningAuthority::create("o", at(), [[1; 16], [2; 16]]).unwrap();
        let parsed = parse_response(&respond(
            &good,
            at(),
            [3; 16],
            ca.tsa_key(),
            other.tsa_certificate(),
            TSA_POLICY,
        ))
        .unwrap();
        assert_eq!(parsed.fail_info, Some(vec![25]));
    }
}
