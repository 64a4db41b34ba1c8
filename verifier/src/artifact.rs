//! Verifying what an attested build signed: a Sigstore bundle (v0.3) from Warden's signing
//! authority, against the deployer's trust root, at the time the bundle's RFC 3161 timestamp
//! proves, never the clock. Keyless (a build enclave's own key) and remote (a named key)
//! signatures verify the same way: both carry a certificate from the CA.
//!
//! Checks, in order, each a step of the trace and its own [`ArtifactError`]:
//! 1. `bundle`: the bundle parses strictly (`warden_wire::sigstore`).
//! 2. `certificate`: the signer is a certificate (the v0.3 leaf, or the first of a chain) that
//!    parses strictly and is a code-signing leaf: not a CA, KeyUsage digitalSignature, EKU
//!    codeSigning, one SAN URI.
//! 3. `chain`: one of the trusted roots issued it (ECDSA P-384/P-256).
//! 4. `timestamp`: at least one timestamp, and every one verifies
//!    ([`crate::tsa::verify_timestamp`]) over the signature under the same roots; the earliest
//!    genTime is the signing time.
//! 5. `validity`: the leaf and its root are valid at the signing time.
//! 6. `signature`: the signature verifies with the leaf's key, over the DSSE PAE or the
//!    artifact's bytes (a message signature needs the artifact itself, and its digest must be
//!    the artifact's).
//! 7. `subjects`: a DSSE payload is an in-toto Statement v1 whose subjects include every given
//!    artifact's SHA-256.
//! 8. `identity`: the SAN URI and Fulcio issuer are the expected ones, and an SLSA v1
//!    statement's `runDetails.builder.id` is the SAN URI.
//! 9. `policy`: `data.warden.artifact.allow` is `true` for the certificate's identity, issuer
//!    and attested facts, the statement and the signing time.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden_wire::code_signing::{
    OID_FULCIO_ISSUER_V2_DER, OID_WARDEN_ATTESTED_FACTS_DER, SLSA_PROVENANCE_V1,
};
use warden_wire::dsse::IN_TOTO_PAYLOAD_TYPE;
use warden_wire::signing_key::KeyAlgorithm;
use warden_wire::sigstore::{Bundle, BundleContent, HashAlgorithm, Signer};
use x509_parser::prelude::{GeneralName, ParsedExtension, X509Certificate};

use crate::policy::RegoPolicy;
use crate::provenance::STATEMENT_V1;
use crate::x509::{Scheme, X509Cert};

/// The rule an artifact policy must define (a boolean).
pub const ARTIFACT_RULE: &str = "data.warden.artifact.allow";

/// Why a bundle was refused, by step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// Step `bundle`.
    #[error("bundle: {0}")]
    Bundle(String),
    /// Step `certificate`.
    #[error("certificate: {0}")]
    Certificate(String),
    /// Step `chain`.
    #[error("chain: {0}")]
    Chain(String),
    /// Step `timestamp`.
    #[error("timestamp: {0}")]
    Timestamp(String),
    /// Step `validity`.
    #[error("validity: {0}")]
    Validity(String),
    /// Step `signature`.
    #[error("signature: {0}")]
    Signature(String),
    /// Step `subjects`.
    #[error("subjects: {0}")]
    Subjects(String),
    /// Step `identity`.
    #[error("identity: {0}")]
    Identity(String),
    /// Step `policy`.
    #[error("policy: {0}")]
    Policy(String),
}

impl ArtifactError {
    /// The step that refused.
    pub fn step(&self) -> &'static str {
        match self {
            Self::Bundle(_) => "bundle",
            Self::Certificate(_) => "certificate",
            Self::Chain(_) => "chain",
            Self::Timestamp(_) => "timestamp",
            Self::Validity(_) => "validity",
            Self::Signature(_) => "signature",
            Self::Subjects(_) => "subjects",
            Self::Identity(_) => "identity",
            Self::Policy(_) => "policy",
        }
    }
}

/// One artifact the bundle must cover.
#[derive(Debug, Clone)]
pub struct Artifact<'a> {
    /// A name for messages (the file name, or the digest).
    pub name: String,
    /// SHA-256 of the artifact.
    pub sha256: [u8; 32],
    /// The artifact's bytes, when the caller has them (a message signature needs them).
    pub bytes: Option<&'a [u8]>,
}

impl<'a> Artifact<'a> {
    /// An artifact from its bytes.
    pub fn from_bytes(name: impl Into<String>, bytes: &'a [u8]) -> Self {
        Self {
            name: name.into(),
            sha256: Sha256::digest(bytes).into(),
            bytes: Some(bytes),
        }
    }
}

/// What the deployer requires of the signer.
#[derive(Debug, Default)]
pub struct Expectations<'a> {
    /// The SAN URI the certificate must carry (`<issuer>/builders/<name>`).
    pub identity: Option<&'a str>,
    /// The Fulcio issuer the certificate must carry.
    pub issuer: Option<&'a str>,
    /// A policy over the attested facts ([`ARTIFACT_RULE`]).
    pub policy: Option<&'a RegoPolicy>,
}

/// What a verified bundle establishes.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSignature {
    /// The SAN URI: the attested builder's identity.
    pub identity: String,
    /// The Fulcio issuer (the KBS's issuer URL); empty when absent.
    pub issuer: String,
    /// Warden's attested facts, parsed; `Null` when absent.
    pub attested: Value,
    /// genTime of the earliest timestamp, Unix seconds: when the signature existed.
    pub signed_at: i64,
    /// The DSSE payload type and payload (a message signature: `None`).
    pub payload: Option<(String, Vec<u8>)>,
    /// The signer's certificate (DER).
    pub certificate: Vec<u8>,
    /// The certified key's algorithm.
    pub algorithm: KeyAlgorithm,
}

/// One step of the trace: its name and what it found or why it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's name (see the module documentation).
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What it found, or why it refused.
    pub detail: String,
}

/// The verdict and the trace of every step that ran.
#[derive(Debug)]
pub struct ArtifactVerdict {
    /// The verified facts, or the first refusal.
    pub result: Result<VerifiedSignature, ArtifactError>,
    /// The steps that ran, in order.
    pub trace: Vec<Step>,
}

/// The code-signing facts of a leaf, read at parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LeafFacts {
    is_ca: bool,
    digital_signature: bool,
    code_signing: bool,
    uris: Vec<String>,
    issuer: Option<String>,
    attested: Option<String>,
}

fn utf8_string(value: &[u8]) -> Option<String> {
    // A DER UTF8String with a short or long definite length.
    let (&tag, rest) = value.split_first()?;
    if tag != 0x0c {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 2 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, b| (len << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (body.len() == len).then(|| String::from_utf8(body.to_vec()).ok())?
}

fn leaf_facts(certificate: &X509Certificate<'_>) -> LeafFacts {
    let mut facts = LeafFacts::default();
    for extension in certificate.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::BasicConstraints(constraints) => facts.is_ca = constraints.ca,
            ParsedExtension::KeyUsage(usage) => facts.digital_signature = usage.digital_signature(),
            ParsedExtension::ExtendedKeyUsage(usage) => facts.code_signing = usage.code_signing,
            ParsedExtension::SubjectAlternativeName(names) => {
                for name in &names.general_names {
                    if let GeneralName::URI(uri) = name {
                        facts.uris.push((*uri).to_owned());
                    }
                }
            }
            _ => {
                let oid = extension.oid.as_bytes();
                if oid == OID_FULCIO_ISSUER_V2_DER {
                    facts.issuer = utf8_string(extension.value);
                } else if oid == OID_WARDEN_ATTESTED_FACTS_DER {
                    facts.attested = utf8_string(extension.value);
                }
            }
        }
    }
    facts
}

/// Verifies `bundle` for `artifacts` against `roots` (DER certificates the deployer trusts)
/// and `expect`. With no artifacts, steps 6–7 check only the signature and the statement's
/// form (what importing signed reference values needs).
pub fn verify_bundle(
    bundle: &[u8],
    artifacts: &[Artifact<'_>],
    roots: &[Vec<u8>],
    expect: &Expectations<'_>,
) -> ArtifactVerdict {
    let mut trace = Vec::new();
    let result = run(bundle, artifacts, roots, expect, &mut trace);
    if let Err(error) = &result {
        trace.push(Step {
            check: error.step(),
            passed: false,
            detail: error.to_string(),
        });
    }
    ArtifactVerdict { result, trace }
}

fn pass(trace: &mut Vec<Step>, check: &'static str, detail: String) {
    trace.push(Step {
        check,
        passed: true,
        detail,
    });
}

fn run(
    bytes: &[u8],
    artifacts: &[Artifact<'_>],
    roots: &[Vec<u8>],
    expect: &Expectations<'_>,
    trace: &mut Vec<Step>,
) -> Result<VerifiedSignature, ArtifactError> {
    let bundle = Bundle::parse(bytes).map_err(|e| ArtifactError::Bundle(e.to_string()))?;
    let signature = bundle
        .signature_bytes()
        .ok_or_else(|| ArtifactError::Bundle("no single signature".into()))?
        .to_vec();
    pass(trace, "bundle", "Sigstore bundle v0.3 parsed".into());

    let leaf_der = match &bundle.verification_material.signer {
        Signer::Certificate(der) => der,
        Signer::CertificateChain(chain) => chain
            .first()
            .ok_or_else(|| ArtifactError::Certificate("empty chain".into()))?,
        Signer::PublicKey { .. } => {
            return Err(ArtifactError::Certificate(
                "signed with a bare public key: no attested identity".into(),
            ));
        }
    };
    let leaf = X509Cert::parse_with(leaf_der, leaf_facts)
        .map_err(|e| ArtifactError::Certificate(e.to_string()))?;
    let facts = &leaf.ext;
    let identity = match facts.uris.as_slice() {
        [uri] => uri.clone(),
        _ => {
            return Err(ArtifactError::Certificate(format!(
                "{} SAN URIs, not exactly one",
                facts.uris.len()
            )));
        }
    };
    if facts.is_ca || !facts.digital_signature || !facts.code_signing {
        return Err(ArtifactError::Certificate(
            "not a code-signing leaf (CA:FALSE, KeyUsage digitalSignature, EKU codeSigning)".into(),
        ));
    }
    pass(
        trace,
        "certificate",
        format!("code-signing leaf for {identity}"),
    );

    let parsed_roots: Vec<X509Cert<()>> = roots
        .iter()
        .filter_map(|der| X509Cert::<()>::from_der(der).ok())
        .collect();
    let root = parsed_roots
        .iter()
        .find(|root| {
            leaf.verify_issued_by_with(*root, &[Scheme::EcdsaP384Sha384, Scheme::EcdsaP256Sha256])
                .is_ok()
        })
        .ok_or_else(|| {
            ArtifactError::Chain(format!(
                "no trusted root ({} given) issued the signing certificate",
                parsed_roots.len()
            ))
        })?;
    pass(trace, "chain", format!("issued by {}", root.name()));

    let timestamps = &bundle.verification_material.rfc3161_timestamps;
    if timestamps.is_empty() {
        return Err(ArtifactError::Timestamp(
            "the bundle has no RFC 3161 timestamp: the short-lived certificate cannot be judged"
                .into(),
        ));
    }
    let mut signed_at = i64::MAX;
    for (index, response) in timestamps.iter().enumerate() {
        let verified = crate::tsa::verify_timestamp(response, &signature, roots, &[])
            .map_err(|e| ArtifactError::Timestamp(format!("timestamp {index}: {e}")))?;
        signed_at = signed_at.min(verified.gen_time);
    }
    pass(
        trace,
        "timestamp",
        format!("{} verified; signed at {signed_at}", timestamps.len()),
    );

    for (which, name, valid) in [
        ("signing certificate", leaf.name(), leaf.valid_at(signed_at)),
        ("root", root.name(), root.valid_at(signed_at)),
    ] {
        if !valid {
            return Err(ArtifactError::Validity(format!(
                "the {which} {name} was not valid at the signing time {signed_at}"
            )));
        }
    }
    pass(
        trace,
        "validity",
        format!("leaf valid {}..{}", leaf.not_before, leaf.not_after),
    );

    let algorithm = spki_algorithm(leaf.spki_der()).ok_or_else(|| {
        ArtifactError::Signature("the certificate's key is not ECDSA P-256/P-384 or Ed25519".into())
    })?;
    let key_bits = leaf
        .public_key_bits()
        .map_err(|e| ArtifactError::Signature(e.to_string()))?;
    let payload = match &bundle.content {
        BundleContent::Dsse(envelope) => {
            if !algorithm.verify(&key_bits, &envelope.pae(), &signature) {
                return Err(ArtifactError::Signature(
                    "the DSSE signature does not verify with the certificate's key".into(),
                ));
            }
            Some((envelope.payload_type.clone(), envelope.payload.clone()))
        }
        BundleContent::MessageSignature {
            digest_algorithm,
            digest,
            ..
        } => {
            let [artifact] = artifacts else {
                return Err(ArtifactError::Signature(
                    "a message signature covers exactly one artifact".into(),
                ));
            };
            if *digest_algorithm == HashAlgorithm::Sha2_256 && digest[..] != artifact.sha256[..] {
                return Err(ArtifactError::Signature(format!(
                    "the bundle's message digest is not {}'s",
                    artifact.name
                )));
            }
            let verified = match artifact.bytes {
                Some(bytes) => algorithm.verify(&key_bits, bytes, &signature),
                // Without the artifact, only a signature over its SHA-256 can be checked: an
                // ECDSA P-256 one (as Sigstore clients and Rekor check message signatures).
                None if algorithm == KeyAlgorithm::EcdsaP256
                    && *digest_algorithm == HashAlgorithm::Sha2_256 =>
                {
                    warden_wire::signing_key::verify_p256_prehashed(
                        &key_bits,
                        &artifact.sha256,
                        &signature,
                    )
                }
                None => {
                    return Err(ArtifactError::Signature(
                        "without the artifact, only an ECDSA P-256 signature over its SHA-256 can be checked".into(),
                    ));
                }
            };
            if !verified {
                return Err(ArtifactError::Signature(format!(
                    "the signature over {} does not verify with the certificate's key",
                    artifact.name
                )));
            }
            None
        }
    };
    pass(
        trace,
        "signature",
        format!("{} signature verified", algorithm.name()),
    );

    let statement = match &payload {
        Some((payload_type, body)) => Some(statement(payload_type, body, artifacts)?),
        None => None,
    };
    pass(
        trace,
        "subjects",
        match &statement {
            Some(_) => format!(
                "{} artifact(s) among the statement's subjects",
                artifacts.len()
            ),
            None => "message signature over the artifact".into(),
        },
    );

    let issuer = facts.issuer.clone().unwrap_or_default();
    if let Some(expected) = expect.identity
        && expected != identity
    {
        return Err(ArtifactError::Identity(format!(
            "signed by {identity:?}, not the expected {expected:?}"
        )));
    }
    if let Some(expected) = expect.issuer
        && expected.trim_end_matches('/') != issuer
    {
        return Err(ArtifactError::Identity(format!(
            "certificate issuer {issuer:?}, not the expected {expected:?}"
        )));
    }
    if let Some(statement) = &statement
        && statement["predicateType"] == SLSA_PROVENANCE_V1
    {
        let builder = statement["predicate"]["runDetails"]["builder"]["id"]
            .as_str()
            .unwrap_or_default();
        if builder != identity {
            return Err(ArtifactError::Identity(format!(
                "the provenance names builder {builder:?}, but {identity:?} signed it"
            )));
        }
    }
    pass(trace, "identity", format!("{identity} (issuer {issuer})"));

    let attested = facts
        .attested
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    if let Some(policy) = expect.policy {
        let input = json!({
            "certificate": {"identity": identity, "issuer": issuer, "attested": attested},
            "statement": statement,
            "signed_at": signed_at,
        });
        match policy.evaluate(ARTIFACT_RULE, &input) {
            Ok(Value::Bool(true)) => pass(trace, "policy", format!("{} allows", policy.id())),
            Ok(other) => {
                return Err(ArtifactError::Policy(format!(
                    "{} answered {other}, not true",
                    policy.id()
                )));
            }
            Err(e) => return Err(ArtifactError::Policy(e.to_string())),
        }
    }
    Ok(VerifiedSignature {
        identity,
        issuer,
        attested,
        signed_at,
        payload,
        certificate: leaf.der.clone(),
        algorithm,
    })
}

/// The in-toto Statement v1 of a DSSE payload, checked to cover every artifact.
fn statement(
    payload_type: &str,
    payload: &[u8],
    artifacts: &[Artifact<'_>],
) -> Result<Value, ArtifactError> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(ArtifactError::Subjects(format!(
            "payload type {payload_type:?} is not in-toto's"
        )));
    }
    let statement: Value = serde_json::from_slice(payload)
        .map_err(|e| ArtifactError::Subjects(format!("the payload is not JSON: {e}")))?;
    if statement["_type"] != STATEMENT_V1 {
        return Err(ArtifactError::Subjects(
            "the payload is not an in-toto Statement v1".into(),
        ));
    }
    let subjects: Vec<&str> = statement["subject"]
        .as_array()
        .map(|subjects| {
            subjects
                .iter()
                .filter_map(|s| s["digest"]["sha256"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for artifact in artifacts {
        let digest = hex::encode(artifact.sha256);
        if !subjects.iter().any(|s| s.eq_ignore_ascii_case(&digest)) {
            return Err(ArtifactError::Subjects(format!(
                "{} (sha256 {digest}) is not a subject of the statement",
                artifact.name
            )));
        }
    }
    Ok(statement)
}

/// The key algorithm of a DER SubjectPublicKeyInfo; `None` for any other key.
pub fn spki_algorithm(spki_der: &[u8]) -> Option<KeyAlgorithm> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    KeyAlgorithm::of_spki(&spki.algorithm.algorithm.to_id_string(), curve.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_strings_are_read_exactly() {
        assert_eq!(utf8_string(b"\x0c\x02hi").as_deref(), Some("hi"));
        assert_eq!(utf8_string(b"\x0c\x03hi"), None);
        assert_eq!(utf8_string(b"\x13\x02hi"), None);
        let long = [&[0x0c, 0x81, 200][..], &[b'a'; 200]].concat();
        assert_eq!(utf8_string(&long).map(|s| s.len()), Some(200));
        assert_eq!(utf8_string(b""), None);
    }
}
