//! The Sigstore client trust configuration for Warden's signing authority: what
//! `sigstore --trust-config FILE verify identity --offline …` (sigstore-python 4.5.1) needs to
//! verify a bundle Warden signed, timestamped and logged.
//!
//! The JSON is the protobuf JSON of `dev.sigstore.trustroot.v1.ClientTrustConfig`
//! (`application/vnd.dev.sigstore.clienttrustconfig.v0.1+json`):
//!
//! - `trustedRoot`, media type `application/vnd.dev.sigstore.trustedroot+json;version=0.1`, the
//!   only one sigstore 4.5.1 accepts (`models.TrustedRoot._verify`; `sigstore-models` would also
//!   parse v0.2, the client then refuses it):
//!   - `certificateAuthorities`: Warden's root (subject from the certificate, `uri` the base
//!     URL); leaves chain to it.
//!   - `tlogs`: the signing transparency log. `publicKey.rawBytes` is the SPKI DER,
//!     `keyDetails` `PKIX_ED25519` or `PKIX_ECDSA_P256_SHA_256`. `logId.keyId` and
//!     `checkpointKeyId.keyId` are both the log's untruncated checkpoint key ID (C2SP
//!     signed-note: Ed25519 `SHA-256(key name || 0x0A || 0x01 || key)`, ECDSA
//!     `SHA-256(SPKI)`), as Rekor v2 logs are listed (rekor-tiles `CLIENTS.md`), and as
//!     [`warden_wire::sigstore::tlog_entry`] writes an entry's `logId`. sigstore 4.5.1 only
//!     requires that a checkpoint signature's key hint equal the entry's `logId.keyId[:4]`
//!     (`_internal/rekor/checkpoint.py`, `SignedNote.verify`); its keyring is indexed by
//!     SHA-256 of the SPKI, so it does not find this ID and tries every log key
//!     (`_internal/trust.py`, `Keyring.verify`). It ignores `checkpointKeyId` and never
//!     compares the checkpoint's origin with anything.
//!   - `ctlogs`: Warden's CT key (ECDSA P-256), `logId` SHA-256 of its SPKI, the SCT's log ID.
//!   - `timestampAuthorities`: the TSA certificate, then the root (the client takes the first
//!     certificate as the TSA's and the last as the root).
//!   - Every `validFor` starts at [`TrustConfigInput::valid_from`] and has no end. The client
//!     skips keys and authorities whose start is after the current time, and refuses
//!     timestamps whose genTime is before the TSA's start.
//! - `signingConfig` (`application/vnd.dev.sigstore.signingconfig.v0.2+json`): required by the
//!   schema, read only when signing. The TSA URL is the KBS's timestamp endpoint (it speaks
//!   RFC 3161 over HTTP, as the client does); the CA and log URLs name the KBS base URL, since
//!   Warden's CA is reached through attestation, not Fulcio's API, and the log has no Rekor
//!   write API. 4.5.1 needs at least one CA (`majorApiVersion` 1) and one log (1 or 2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::artifact::spki_algorithm;
use warden_wire::signing_key::KeyAlgorithm;
use warden_wire::tlog::NoteVerifier;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SigningError;

/// The client trust configuration's media type.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";
/// The trusted root's media type (the one sigstore 4.5.1 accepts).
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// The signing configuration's media type.
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
/// The KBS path of the RFC 3161 timestamp endpoint, under the base URL.
pub const TIMESTAMP_PATH: &str = "/kbs/v0/signing/timestamp";

/// What the trust configuration is built from.
#[derive(Debug, Clone, Copy)]
pub struct TrustConfigInput<'a> {
    /// The CA root certificate, DER.
    pub ca_root_der: &'a [u8],
    /// The TSA certificate, DER (issued by the root).
    pub tsa_certificate_der: &'a [u8],
    /// The CT key's SubjectPublicKeyInfo, DER (ECDSA P-256).
    pub ct_spki_der: &'a [u8],
    /// The transparency log's checkpoint key, SubjectPublicKeyInfo DER.
    pub tlog_spki_der: &'a [u8],
    /// The log key's algorithm: Ed25519 or ECDSA P-256 (what note keys are).
    pub tlog_key_algorithm: KeyAlgorithm,
    /// The note key name the log signs its checkpoints under (Warden, like Rekor v2, uses the
    /// checkpoint origin); the Ed25519 key ID hashes it.
    pub tlog_key_name: &'a str,
    /// The KBS base URL, `https://host[:port]`, without a trailing slash.
    pub base_url: &'a str,
    /// Start of every validity period; at or before the first timestamp to be verified.
    pub valid_from: OffsetDateTime,
}

fn refuse(reason: impl Into<String>) -> SigningError {
    SigningError::TrustConfig(reason.into())
}

/// The log's checkpoint key as a note verifier, checking that the SPKI is a key of `algorithm`.
fn tlog_verifier(input: &TrustConfigInput<'_>) -> Result<NoteVerifier, SigningError> {
    if spki_algorithm(input.tlog_spki_der) != Some(input.tlog_key_algorithm) {
        return Err(refuse(format!(
            "the log key is not an {} SubjectPublicKeyInfo",
            input.tlog_key_algorithm.name()
        )));
    }
    let bad_key = |e: warden_wire::tlog::TlogError| refuse(format!("log key: {e}"));
    match input.tlog_key_algorithm {
        KeyAlgorithm::Ed25519 => {
            let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(input.tlog_spki_der)
                .map_err(|_| refuse("the log key does not parse"))?;
            NoteVerifier::ed25519(input.tlog_key_name, &spki.subject_public_key.data)
                .map_err(bad_key)
        }
        KeyAlgorithm::EcdsaP256 => {
            NoteVerifier::ecdsa_p256(input.tlog_key_name, input.tlog_spki_der).map_err(bad_key)
        }
        KeyAlgorithm::EcdsaP384 => Err(refuse("log keys are Ed25519 or ECDSA P-256")),
    }
}

/// The `logId.keyId` of the log's entries and trust-root listing: its untruncated checkpoint
/// key ID ([`NoteVerifier::full_key_id`]).
pub fn tlog_log_id(input: &TrustConfigInput<'_>) -> Result<[u8; 32], SigningError> {
    Ok(tlog_verifier(input)?.full_key_id())
}

/// The `subject` of a CertificateAuthority: the certificate's organization and common name.
fn subject(certificate_der: &[u8]) -> Result<Value, SigningError> {
    let (_, certificate) = X509Certificate::from_der(certificate_der)
        .map_err(|_| refuse("a certificate does not parse"))?;
    let name = certificate.subject();
    let organization = name
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok());
    let common_name = name.iter_common_name().next().and_then(|a| a.as_str().ok());
    Ok(json!({
        "organization": organization.unwrap_or_default(),
        "commonName": common_name.unwrap_or_default(),
    }))
}

/// A `TimeRange` with only a start, in RFC 3339 whole seconds.
fn valid_from(start: OffsetDateTime) -> Result<Value, SigningError> {
    let start = start
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|_| refuse("validity start"))?
        .format(&Rfc3339)
        .map_err(|_| refuse("the validity start cannot be written in RFC 3339"))?;
    Ok(json!({ "start": start }))
}

/// The host (authority) of `https://host[:port]…`, the services' `operator`.
fn operator(base_url: &str) -> Result<&str, SigningError> {
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .ok_or_else(|| refuse("the base URL is not http(s)"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || base_url.ends_with('/') || !crate::ca::is_uri(base_url) {
        return Err(refuse(
            "the base URL must be https://host[:port][/path] without a trailing slash",
        ));
    }
    Ok(host)
}

/// The `ClientTrustConfig` JSON for `input` (see the module documentation).
pub fn client_trust_config(input: &TrustConfigInput<'_>) -> Result<Value, SigningError> {
    let operator = operator(input.base_url)?;
    let validity = valid_from(input.valid_from)?;
    let log_id = STANDARD.encode(tlog_log_id(input)?);
    if spki_algorithm(input.ct_spki_der) != Some(KeyAlgorithm::EcdsaP256) {
        return Err(refuse(
            "the CT key is not an ECDSA P-256 SubjectPublicKeyInfo",
        ));
    }
    let tlog_key_details = match input.tlog_key_algorithm {
        KeyAlgorithm::Ed25519 => "PKIX_ED25519",
        _ => "PKIX_ECDSA_P256_SHA_256",
    };
    let certificate = |der: &[u8]| json!({"rawBytes": STANDARD.encode(der)});
    let service = |url: String, version: u32| {
        json!({
            "url": url,
            "majorApiVersion": version,
            "validFor": validity,
            "operator": operator,
        })
    };
    let trusted_root = json!({
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [{
            "baseUrl": input.base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(input.tlog_spki_der),
                "keyDetails": tlog_key_details,
                "validFor": validity,
            },
            "logId": {"keyId": log_id},
            "checkpointKeyId": {"keyId": log_id},
        }],
        "certificateAuthorities": [{
            "subject": subject(input.ca_root_der)?,
            "uri": input.base_url,
            "certChain": {"certificates": [certificate(input.ca_root_der)]},
            "validFor": validity,
        }],
        "ctlogs": [{
            "baseUrl": input.base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(input.ct_spki_der),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": validity,
            },
            "logId": {"keyId": STANDARD.encode(Sha256::digest(input.ct_spki_der))},
        }],
        "timestampAuthorities": [{
            "subject": subject(input.tsa_certificate_der)?,
            "uri": format!("{}{TIMESTAMP_PATH}", input.base_url),
            "certChain": {"certificates": [
                certificate(input.tsa_certificate_der),
                certificate(input.ca_root_der),
            ]},
            "validFor": validity,
        }],
    });
    let signing_config = json!({
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [service(input.base_url.to_owned(), 1)],
        "oidcUrls": [],
        "rekorTlogUrls": [service(input.base_url.to_owned(), 2)],
        "tsaUrls": [service(format!("{}{TIMESTAMP_PATH}", input.base_url), 1)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    });
    Ok(json!({
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root,
        "signingConfig": signing_config,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningAuthority;
    use warden_wire::signing_key::SigningKeyPair;
    use warden_wire::tlog::NoteSigner;

    #[test]
    fn the_log_id_is_the_checkpoint_key_id_and_inputs_are_checked() {
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let ca = SigningAuthority::create("tc", now, [[1; 16], [2; 16]]).unwrap();
        let log_key = SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap();
        let spki = log_key.spki_der().to_vec();
        let signer = NoteSigner::new("kbs.example/log", log_key).unwrap();
        let input = TrustConfigInput {
            ca_root_der: ca.root_certificate(),
            tsa_certificate_der: ca.tsa_certificate(),
            ct_spki_der: ca.ct_key().spki_der(),
            tlog_spki_der: &spki,
            tlog_key_algorithm: KeyAlgorithm::Ed25519,
            tlog_key_name: "kbs.example/log",
            base_url: "https://kbs.example",
            valid_from: now,
        };
        let config = client_trust_config(&input).unwrap();
        let root = &config["trustedRoot"];
        let id = STANDARD.encode(signer.verifier().full_key_id());
        assert_eq!(root["tlogs"][0]["logId"]["keyId"], id);
        assert_eq!(root["tlogs"][0]["checkpointKeyId"]["keyId"], id);
        assert_eq!(
            root["tlogs"][0]["publicKey"]["validFor"]["start"],
            "2026-09-21T14:13:20Z"
        );
        assert_eq!(
            root["certificateAuthorities"][0]["subject"]["organization"],
            "Warden"
        );
        assert_eq!(
            root["timestampAuthorities"][0]["uri"],
            "https://kbs.example/kbs/v0/signing/timestamp"
        );
        let wrong = TrustConfigInput {
            tlog_key_algorithm: KeyAlgorithm::EcdsaP256,
            ..input
        };
        assert!(client_trust_config(&wrong).is_err());
        let ct_as_log = TrustConfigInput {
            ct_spki_der: &spki,
            ..input
        };
        assert!(client_trust_config(&ct_as_log).is_err());
        for base_url in ["kbs.example", "https://kbs.example/", "https://"] {
            let bad = TrustConfigInput { base_url, ..input };
            assert!(client_trust_config(&bad).is_err(), "{base_url}");
        }
    }
}
