//! Reference values from signed provenance: an in-toto Statement v1 in a DSSE envelope, signed
//! by a builder key the operator trusts.
//!
//! Order of checks, each refusing with its own [`ProvenanceError`]: the envelope parses (bounded
//! size and signature count), its `payloadType` is in-toto's, at least one signature over the
//! DSSE pre-authentication encoding (PAE) verifies with a trusted key, the payload is a
//! Statement v1 with at least one subject, its predicate type is Warden's reference-value
//! predicate, and the values have not expired at the given time. Nothing is returned, so
//! nothing can be stored, before all of them pass.
//!
//! The Warden reference-value predicate (`predicateType` [`REFERENCE_VALUES_PREDICATE`]):
//!
//! ```json
//! {
//!   "expires": "2027-06-01T00:00:00Z",
//!   "reference_values": { "snp": {"measurements": ["<hex>"]}, "tpm": {"pcrs": {...}} }
//! }
//! ```
//!
//! `reference_values` maps reference-value names to the JSON the appraisal policy reads as
//! `input.reference_values[name]` (what `PUT /reference-values/{name}` would store); `expires`
//! (RFC 3339) is required. The statement's subjects name what the values describe (a guest
//! image, a build); they are kept for the record, not interpreted.
//!
//! Signatures (DSSE `sig`, standard base64) are what `securesystemslib` produces: ECDSA P-256
//! with SHA-256 and P-384 with SHA-384 (DER), Ed25519, RSA-PSS (salt = digest length) and RSA
//! PKCS#1 v1.5 with SHA-256/384/512. A `keyid` equal to a trusted key's id (lower-case hex
//! SHA-256 of its DER SubjectPublicKeyInfo) selects that key; any other keyid is a hint only and
//! every trusted key is tried.

use std::collections::BTreeMap;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::collateral::{CollateralError, CollateralSet};

// The envelope itself lives in the wire crate (so a signer needs no verifier); re-exported so
// every path that named it here still does.
pub use warden_wire::dsse::{
    DsseError, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES,
    MAX_SIGNATURES, pae,
};

// Written by builders (the agent, `warden-verifier measure`) with the wire crate's helpers.
pub use warden_wire::in_toto::{REFERENCE_VALUES_PREDICATE, STATEMENT_V1};

/// Why signed provenance was refused, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    /// A Sigstore bundle from an attested builder was refused (or none is trusted).
    #[error("attested builder: {0}")]
    AttestedBuilder(String),
    /// The bytes are not a DSSE envelope (bad JSON or base64, too large, too many signatures).
    #[error("not a DSSE envelope: {0}")]
    Envelope(String),
    /// The envelope's `payloadType` is not [`IN_TOTO_PAYLOAD_TYPE`].
    #[error("payload type {0:?} is not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})")]
    PayloadType(String),
    /// No builder key is trusted, so nothing can be accepted.
    #[error("no trusted builder key is configured: signed provenance cannot be accepted")]
    NoTrustedKeys,
    /// The envelope carries no signature.
    #[error("the envelope has no signature")]
    Unsigned,
    /// No signature verifies with a trusted key; the envelope's keyids.
    #[error("no signature verifies with a trusted builder key (keyids {0:?})")]
    UntrustedSignature(Vec<String>),
    /// The payload is not an in-toto Statement v1 with subjects that each have a digest.
    #[error("not an in-toto Statement v1: {0}")]
    Statement(String),
    /// The predicate type is not [`REFERENCE_VALUES_PREDICATE`].
    #[error("predicate type {0:?} is not imported: expected {REFERENCE_VALUES_PREDICATE}")]
    PredicateType(String),
    /// The reference-value predicate is malformed or its values are invalid.
    #[error("reference-value predicate: {0}")]
    Predicate(String),
    /// The values expired at this time (the predicate's `expires`, as written).
    #[error("the reference values expired at {0}")]
    Expired(String),
}

impl From<DsseError> for ProvenanceError {
    fn from(error: DsseError) -> Self {
        ProvenanceError::Envelope(error.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa,
}

/// A builder key the operator trusts to sign provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub keyid: String,
    kind: KeyKind,
    /// The SPKI's key bits: an uncompressed EC point, a raw Ed25519 key, or a PKCS#1
    /// RSAPublicKey.
    key: Vec<u8>,
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

impl TrustedKey {
    /// From a DER SubjectPublicKeyInfo (ECDSA P-256/P-384, Ed25519 or RSA).
    pub fn from_spki(der: &[u8]) -> Result<Self, String> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        if !rest.is_empty() {
            return Err("bytes follow the SubjectPublicKeyInfo".into());
        }
        let curve = || {
            spki.algorithm
                .parameters
                .as_ref()
                .and_then(|parameters| parameters.as_oid().ok())
                .map(|oid| oid.to_id_string())
        };
        let kind = match spki.algorithm.algorithm.to_id_string().as_str() {
            OID_RSA => KeyKind::Rsa,
            OID_ED25519 => KeyKind::Ed25519,
            OID_EC => match curve().as_deref() {
                Some(OID_P256) => KeyKind::EcdsaP256,
                Some(OID_P384) => KeyKind::EcdsaP384,
                _ => return Err("EC key on a curve other than P-256 or P-384".into()),
            },
            other => return Err(format!("unsupported key algorithm {other}")),
        };
        let key = spki.subject_public_key.data.to_vec();
        // Refused at load rather than left to never verify: a key this code cannot use.
        let usable = match kind {
            KeyKind::EcdsaP256 => key.len() == 65 && key[0] == 0x04,
            KeyKind::EcdsaP384 => key.len() == 97 && key[0] == 0x04,
            KeyKind::Ed25519 => key.len() == 32,
            KeyKind::Rsa => match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                    let modulus = rsa.modulus.iter().skip_while(|&&b| b == 0).count();
                    (256..=1024).contains(&modulus)
                }
                _ => false,
            },
        };
        if !usable {
            return Err(format!(
                "{kind:?} key is malformed or of an unsupported size (RSA: 2048 to 8192 bits)"
            ));
        }
        Ok(TrustedKey {
            keyid: hex::encode(Sha256::digest(der)),
            kind,
            key,
        })
    }

    fn algorithms(&self) -> &'static [&'static dyn VerificationAlgorithm] {
        match self.kind {
            KeyKind::EcdsaP256 => &[&signature::ECDSA_P256_SHA256_ASN1],
            KeyKind::EcdsaP384 => &[&signature::ECDSA_P384_SHA384_ASN1],
            KeyKind::Ed25519 => &[&signature::ED25519],
            KeyKind::Rsa => &[
                &signature::RSA_PSS_2048_8192_SHA256,
                &signature::RSA_PSS_2048_8192_SHA384,
                &signature::RSA_PSS_2048_8192_SHA512,
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA384,
                &signature::RSA_PKCS1_2048_8192_SHA512,
            ],
        }
    }

    fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        self.algorithms().iter().any(|&algorithm| {
            UnparsedPublicKey::new(algorithm, &self.key)
                .verify(message, sig)
                .is_ok()
        })
    }
}

/// The builder keys provenance must be signed by: PEM `PUBLIC KEY` blocks or DER SPKIs, one
/// directory of files (`[provenance] trusted_keys_dir`).
#[derive(Debug, Clone, Default)]
pub struct TrustedBuilderKeys {
    /// The keys, one per key id.
    pub keys: Vec<TrustedKey>,
    /// Attested builders: Sigstore bundles signed under Warden's signing CA
    /// (`[provenance] signing_ca`); `None`: bundles are refused.
    pub attested: Option<std::sync::Arc<AttestedBuilders>>,
}

/// Builders trusted by attestation rather than by a fixed key: a bundle whose certificate a
/// trusted Warden signing CA issued (at the timestamped signing time) to one of `identities`,
/// or whose attested facts `policy` allows (see [`crate::artifact`]).
#[derive(Debug)]
pub struct AttestedBuilders {
    /// DER certificates of the trusted signing CAs.
    pub roots: Vec<Vec<u8>>,
    /// Builder identities (SAN URIs) accepted; empty: any the policy allows.
    pub identities: Vec<String>,
    /// A policy over the certificate's attested facts (`data.warden.artifact.allow`).
    pub policy: Option<crate::policy::RegoPolicy>,
}

impl AttestedBuilders {
    /// Builders under the CA certificates of `ca_pem`, named by `identities` and/or allowed by
    /// the policy `policy_source` (`data.warden.artifact.allow`).
    pub fn new(
        ca_pem: &[u8],
        identities: Vec<String>,
        policy_source: Option<&str>,
    ) -> Result<Self, String> {
        let roots = crate::x509::pem_certificates(ca_pem).map_err(|e| e.to_string())?;
        if roots.is_empty() {
            return Err("no CERTIFICATE in the signing CA file".into());
        }
        if identities.is_empty() && policy_source.is_none() {
            return Err("name the trusted builder identities or a builder policy".into());
        }
        let policy = policy_source
            .map(|source| {
                crate::policy::RegoPolicy::compile(
                    "provenance:builder",
                    source,
                    &[crate::artifact::ARTIFACT_RULE],
                )
                .map_err(|e| e.to_string())
            })
            .transpose()?;
        Ok(Self {
            roots,
            identities,
            policy,
        })
    }

    /// Verifies a bundle and returns its DSSE payload type, payload and the builder identity.
    fn verify(&self, bundle: &[u8]) -> Result<(String, Vec<u8>, String), ProvenanceError> {
        let refused = |reason: String| ProvenanceError::AttestedBuilder(reason);
        if self.identities.is_empty() && self.policy.is_none() {
            return Err(refused(
                "no builder identity or policy is configured to accept".into(),
            ));
        }
        let verdict = crate::artifact::verify_bundle(
            bundle,
            &[],
            &self.roots,
            &crate::artifact::Expectations {
                identity: None,
                issuer: None,
                policy: self.policy.as_ref(),
            },
        );
        let verified = verdict.result.map_err(|e| refused(e.to_string()))?;
        if !self.identities.is_empty() && !self.identities.contains(&verified.identity) {
            return Err(refused(format!(
                "builder {} is not one of the trusted builder identities",
                verified.identity
            )));
        }
        let (payload_type, payload) = verified
            .payload
            .ok_or_else(|| refused("a message signature carries no statement".into()))?;
        Ok((payload_type, payload, verified.identity))
    }
}

impl CollateralSet for TrustedBuilderKeys {
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError> {
        let ders = if bytes.starts_with(b"-----BEGIN") {
            let mut ders = Vec::new();
            for item in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let item = item.map_err(|e| format!("PEM: {e}"))?;
                if item.label == "PUBLIC KEY" {
                    ders.push(item.contents);
                }
            }
            if ders.is_empty() {
                return Err("PEM without a PUBLIC KEY block".into());
            }
            ders
        } else {
            vec![bytes.to_vec()]
        };
        for der in ders {
            let key = TrustedKey::from_spki(&der)?;
            if !self.keys.iter().any(|known| known.keyid == key.keyid) {
                self.keys.push(key);
            }
        }
        Ok(())
    }
}

/// A statement whose envelope verified, with who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedStatement {
    /// The statement, parsed from the payload.
    pub statement: Statement,
    /// The trusted key that verified a signature.
    pub signer: String,
    /// SHA-256 of the payload (the statement's exact bytes): the provenance digest.
    pub payload_sha256: String,
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Statement {
    /// `_type`: must be [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about; at least one, each with a digest.
    pub subject: Vec<Subject>,
    /// `predicateType`: must be [`REFERENCE_VALUES_PREDICATE`] to import reference values.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate, unparsed (`null` when absent).
    #[serde(default)]
    pub predicate: Value,
}

/// A statement subject (an in-toto ResourceDescriptor; the fields Warden keeps).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subject {
    /// The subject's name (may be empty).
    #[serde(default)]
    pub name: String,
    /// The subject's digests, by algorithm name (e.g. `sha256`) to hex value.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

/// Whether `bytes` is a Sigstore bundle (a JSON object with a `mediaType`) rather than a bare
/// DSSE envelope.
fn is_sigstore_bundle(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, Value>>(bytes)
        .is_ok_and(|object| object.contains_key("mediaType"))
}

/// An in-toto Statement v1 with at least one subject, each with a digest.
fn read_statement(payload: &[u8]) -> Result<Statement, ProvenanceError> {
    let statement: Statement =
        serde_json::from_slice(payload).map_err(|e| ProvenanceError::Statement(e.to_string()))?;
    if statement.statement_type != STATEMENT_V1 {
        return Err(ProvenanceError::Statement(format!(
            "_type is {:?}, not {STATEMENT_V1}",
            statement.statement_type
        )));
    }
    if statement.subject.is_empty() || statement.subject.iter().any(|s| s.digest.is_empty()) {
        return Err(ProvenanceError::Statement(
            "a statement needs at least one subject, each with a digest".into(),
        ));
    }
    Ok(statement)
}

/// Verifies `envelope`'s signature with `keys` and parses its statement.
pub fn verify_envelope(
    envelope: &Envelope,
    keys: &TrustedBuilderKeys,
) -> Result<VerifiedStatement, ProvenanceError> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(ProvenanceError::PayloadType(envelope.payload_type.clone()));
    }
    if keys.keys.is_empty() {
        return Err(ProvenanceError::NoTrustedKeys);
    }
    if envelope.signatures.is_empty() {
        return Err(ProvenanceError::Unsigned);
    }
    let message = envelope.pae();
    let signer = envelope.signatures.iter().find_map(|signature| {
        let named: Vec<&TrustedKey> = keys
            .keys
            .iter()
            .filter(|key| key.keyid == signature.keyid)
            .collect();
        let candidates = if named.is_empty() {
            keys.keys.iter().collect()
        } else {
            named
        };
        candidates
            .into_iter()
            .find(|key| key.verifies(&message, &signature.sig))
    });
    let Some(signer) = signer else {
        return Err(ProvenanceError::UntrustedSignature(
            envelope
                .signatures
                .iter()
                .map(|s| s.keyid.clone())
                .collect(),
        ));
    };
    let statement = read_statement(&envelope.payload)?;
    Ok(VerifiedStatement {
        statement,
        signer: signer.keyid.clone(),
        payload_sha256: hex::encode(Sha256::digest(&envelope.payload)),
    })
}

/// A JSON object whose keys must be unique (serde keeps the last of duplicated map keys).
struct UniqueMap(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with unique keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueMap, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if entries.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    entries.insert(key, value);
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Reference values taken from verified provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedReferenceValues {
    /// Reference values by name, each validated against its schema.
    pub values: BTreeMap<String, Value>,
    /// Unix seconds.
    pub expires: i64,
    /// Key id of the trusted key that verified the envelope.
    pub signer: String,
    /// SHA-256 of the statement's exact bytes (hex): the provenance digest.
    pub provenance_sha256: String,
    /// `name@algorithm:digest` of each subject, for the record.
    pub subjects: Vec<String>,
}

/// Longest reference-value name (the KBS's rule for `PUT /reference-values/{name}`).
const MAX_NAME_LEN: usize = 128;

/// Whether `name` may name a reference value: 1 to 128 of `[A-Za-z0-9._-]`.
pub fn valid_reference_value_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Verifies `envelope_bytes` and returns its reference values, refused if expired at `at`.
pub fn import_reference_values(
    envelope_bytes: &[u8],
    keys: &TrustedBuilderKeys,
    at: OffsetDateTime,
) -> Result<ImportedReferenceValues, ProvenanceError> {
    let (payload, verified) = if is_sigstore_bundle(envelope_bytes) {
        let attested = keys.attested.as_ref().ok_or_else(|| {
            ProvenanceError::AttestedBuilder(
                "a Sigstore bundle, but no signing CA is trusted ([provenance] signing_ca)".into(),
            )
        })?;
        let (payload_type, payload, identity) = attested.verify(envelope_bytes)?;
        if payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(ProvenanceError::PayloadType(payload_type));
        }
        let verified = VerifiedStatement {
            statement: read_statement(&payload)?,
            signer: identity,
            payload_sha256: hex::encode(Sha256::digest(&payload)),
        };
        (payload, verified)
    } else {
        let envelope = Envelope::parse(envelope_bytes)?;
        let verified = verify_envelope(&envelope, keys)?;
        (envelope.payload, verified)
    };
    let statement = &verified.statement;
    if statement.predicate_type != REFERENCE_VALUES_PREDICATE {
        return Err(ProvenanceError::PredicateType(
            statement.predicate_type.clone(),
        ));
    }
    // Read again from the signed bytes into strict types: a duplicated key anywhere in the
    // predicate is refused instead of resolved (signer tooling might read the other one).
    #[derive(Deserialize)]
    struct WardenStatement {
        predicate: Predicate,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Predicate {
        expires: String,
        reference_values: UniqueMap,
    }
    let predicate = serde_json::from_slice::<WardenStatement>(&payload)
        .map_err(|e| ProvenanceError::Predicate(e.to_string()))?
        .predicate;
    let expires = OffsetDateTime::parse(&predicate.expires, &Rfc3339)
        .map_err(|e| ProvenanceError::Predicate(format!("expires {:?}: {e}", predicate.expires)))?;
    if expires <= at {
        return Err(ProvenanceError::Expired(predicate.expires));
    }
    let reference_values = predicate.reference_values.0;
    if reference_values.is_empty() {
        return Err(ProvenanceError::Predicate(
            "reference_values is empty".into(),
        ));
    }
    if let Some(bad) = reference_values
        .keys()
        .find(|name| !valid_reference_value_name(name))
    {
        return Err(ProvenanceError::Predicate(format!(
            "invalid reference value name {bad:?}"
        )));
    }
    for (name, value) in &reference_values {
        crate::reference::validate(name, value).map_err(ProvenanceError::Predicate)?;
    }
    let subjects = statement
        .subject
        .iter()
        .flat_map(|subject| {
            subject
                .digest
                .iter()
                .map(move |(algorithm, digest)| format!("{}@{algorithm}:{digest}", subject.name))
        })
        .collect();
    Ok(ImportedReferenceValues {
        values: reference_values,
        expires: expires.unix_timestamp(),
        signer: verified.signer,
        provenance_sha256: verified.payload_sha256,
        subjects,
    })
}

#[cfg(test)]
mod tests;
