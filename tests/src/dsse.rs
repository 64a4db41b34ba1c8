//! Builder keys and DSSE envelopes for the provenance tests: real keys of every kind Warden
//! accepts, signing as `securesystemslib` signs (DER ECDSA, raw Ed25519, RSA-PSS with a
//! digest-length salt, RSA PKCS#1 v1.5).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderKeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    RsaPss,
    RsaPkcs1,
}

impl BuilderKeyKind {
    pub const ALL: [BuilderKeyKind; 5] = [
        BuilderKeyKind::EcdsaP256,
        BuilderKeyKind::EcdsaP384,
        BuilderKeyKind::Ed25519,
        BuilderKeyKind::RsaPss,
        BuilderKeyKind::RsaPkcs1,
    ];

    /// The securesystemslib signature scheme of this kind.
    pub fn sslib_scheme(self) -> &'static str {
        match self {
            BuilderKeyKind::EcdsaP256 => "ecdsa-sha2-nistp256",
            BuilderKeyKind::EcdsaP384 => "ecdsa-sha2-nistp384",
            BuilderKeyKind::Ed25519 => "ed25519",
            BuilderKeyKind::RsaPss => "rsassa-pss-sha256",
            BuilderKeyKind::RsaPkcs1 => "rsa-pkcs1v15-sha256",
        }
    }
}

pub struct BuilderKey {
    pub kind: BuilderKeyKind,
    key: PKey<Private>,
}

impl BuilderKey {
    pub fn generate(kind: BuilderKeyKind) -> Self {
        let ec = |nid| {
            let group = EcGroup::from_curve_name(nid).expect("curve");
            PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey")
        };
        let key = match kind {
            BuilderKeyKind::EcdsaP256 => ec(Nid::X9_62_PRIME256V1),
            BuilderKeyKind::EcdsaP384 => ec(Nid::SECP384R1),
            BuilderKeyKind::Ed25519 => PKey::generate_ed25519().expect("Ed25519 key"),
            BuilderKeyKind::RsaPss | BuilderKeyKind::RsaPkcs1 => {
                PKey::from_rsa(Rsa::generate(2048).expect("RSA key")).expect("pkey")
            }
        };
        BuilderKey { kind, key }
    }

    pub fn public_pem(&self) -> Vec<u8> {
        self.key.public_key_to_pem().expect("public PEM")
    }

    /// Warden's key id: lower-case hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn keyid(&self) -> String {
        hex::encode(Sha256::digest(
            self.key.public_key_to_der().expect("public DER"),
        ))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let digest = match self.kind {
            BuilderKeyKind::EcdsaP384 => MessageDigest::sha384(),
            _ => MessageDigest::sha256(),
        };
        if self.kind == BuilderKeyKind::Ed25519 {
            let mut signer = Signer::new_without_digest(&self.key).expect("signer");
            return signer.sign_oneshot_to_vec(message).expect("sign");
        }
        let mut signer = Signer::new(digest, &self.key).expect("signer");
        if self.kind == BuilderKeyKind::RsaPss {
            signer.set_rsa_padding(Padding::PKCS1_PSS).expect("PSS");
            signer
                .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .expect("salt length");
            signer.set_rsa_mgf1_md(digest).expect("MGF1");
        }
        signer.update(message).expect("update");
        signer.sign_to_vec().expect("sign")
    }

    /// A DSSE envelope of `payload`, signed over the PAE, with this key's id.
    pub fn envelope(&self, payload_type: &str, payload: &[u8]) -> Value {
        let signature = self.sign(&pae(payload_type, payload));
        json!({
            "payload": STANDARD.encode(payload),
            "payloadType": payload_type,
            "signatures": [{"keyid": self.keyid(), "sig": STANDARD.encode(signature)}],
        })
    }
}

/// DSSE v1 pre-authentication encoding (written out here from the DSSE specification, apart
/// from Warden's own, so the tests do not grade Warden with its own code).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto Statement v1 with Warden's reference-value predicate.
pub fn reference_value_statement(values: Value, expires: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "guest-image", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": "https://warden.dev/reference-values/v1",
        "predicate": {"expires": expires, "reference_values": values},
    }))
    .expect("statement JSON")
}
