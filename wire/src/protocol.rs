//! Messages of the CoCo KBS "Request → Challenge → Attestation → Response" handshake.
//!
//! Field names follow the public `kbs-types` crate exactly (kebab-case on the wire) so that CoCo's
//! own `kbs_protocol` client can talk to Warden.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only client protocol version this implementation speaks.
pub const PROTOCOL_VERSION: &str = "0.4.0";
/// Name of the cookie that carries the session id between `/auth`, `/attest` and `/resource`.
pub const SESSION_COOKIE: &str = "kbs-session-id";
/// Largest request body any KBS endpoint accepts (evidence with certificate chains fits well below).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// `POST /kbs/v0/auth` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Protocol version the client speaks; must be [`PROTOCOL_VERSION`].
    pub version: String,
    /// TEE type as CoCo names it (e.g. "snp", "tdx", "sample").
    pub tee: String,
    /// Client-specific extra parameters (`extra-params`), JSON; null when absent.
    #[serde(rename = "extra-params", default)]
    pub extra_params: Value,
}

/// `POST /kbs/v0/auth` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// Base64 (standard alphabet) of 32 random bytes.
    pub nonce: String,
    /// Extra parameters returned to the client (`extra-params`), JSON.
    #[serde(rename = "extra-params")]
    pub extra_params: Value,
}

/// Init-data as the CoCo client sends it (`format` is "toml" today).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitData {
    /// Encoding of `body`; "toml" today.
    pub format: String,
    /// The init-data document, as text in `format`.
    pub body: String,
}

/// Runtime data the client binds into its evidence.
///
/// `tee_pubkey` is kept as the JSON the client sent so that the binding digest is computed over
/// exactly what the client hashed, not over a re-serialisation that could drop or reorder fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeData {
    /// The challenge nonce, as the client received it (base64 string).
    pub nonce: String,
    /// The TEE public key (JWK) as the client sent it (`tee-pubkey`), kept as raw JSON.
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: Value,
}

/// Evidence produced by the TEE: the primary evidence is TEE specific JSON; additional (device)
/// evidence is a JSON string, empty when there are no devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeeEvidence {
    /// TEE-specific evidence JSON (report or quote plus whatever the TEE adds).
    pub primary_evidence: Value,
    /// JSON string of additional (device) evidence; empty when there are no devices.
    #[serde(default)]
    pub additional_evidence: String,
}

/// `POST /kbs/v0/attest` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// Init-data the client supplied (`init-data`), if any.
    #[serde(rename = "init-data", default)]
    pub init_data: Option<InitData>,
    /// Nonce and TEE key bound into the evidence (`runtime-data`).
    #[serde(rename = "runtime-data")]
    pub runtime_data: RuntimeData,
    /// The hardware evidence itself (`tee-evidence`).
    #[serde(rename = "tee-evidence")]
    pub tee_evidence: TeeEvidence,
}

/// `POST /kbs/v0/attest` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationToken {
    /// The signed attestation token issued by the KBS.
    pub token: String,
}

/// Error body of every KBS endpoint: `{"type": ..., "detail": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Error type URI: [`ERROR_TYPE_PREFIX`] followed by the error name (`type` on the wire).
    #[serde(rename = "type")]
    pub error_type: String,
    /// Human-readable description of the error.
    pub detail: String,
}

/// Prefix of the `type` URI in error bodies, kept identical to Trustee's so CoCo tooling
/// recognises the shape.
pub const ERROR_TYPE_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

/// A resource path `<repository>/<type>/<tag>`, validated so it can be used as a store key and a
/// URL path without escaping surprises.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourcePath(String);

/// A string that is not a valid [`ResourcePath`]; holds the input, truncated to 400 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid resource path {0:?}: expected <repository>/<type>/<tag>, each 1-128 of [A-Za-z0-9._-], not '.' or '..'"
)]
pub struct InvalidResourcePath(pub String);

impl ResourcePath {
    /// Builds and validates the path `<repository>/<kind>/<tag>`.
    pub fn new(repository: &str, kind: &str, tag: &str) -> Result<Self, InvalidResourcePath> {
        Self::parse(&format!("{repository}/{kind}/{tag}"))
    }

    /// Validates `path`: exactly three segments, each 1-128 of `[A-Za-z0-9._-]`, not `.` or `..`.
    pub fn parse(path: &str) -> Result<Self, InvalidResourcePath> {
        let segments: Vec<&str> = path.split('/').collect();
        let valid_segment = |s: &&str| {
            !s.is_empty()
                && s.len() <= 128
                && *s != "."
                && *s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if segments.len() == 3 && segments.iter().all(valid_segment) {
            Ok(Self(path.to_owned()))
        } else {
            Err(InvalidResourcePath(path.chars().take(400).collect()))
        }
    }

    /// The path as `<repository>/<type>/<tag>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourcePath {
    type Error = InvalidResourcePath;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ResourcePath> for String {
    fn from(value: ResourcePath) -> Self {
        value.0
    }
}

impl std::fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestation_uses_coco_field_names() {
        let body = r#"{"init-data":null,"runtime-data":{"nonce":"n","tee-pubkey":{"kty":"EC"}},
            "tee-evidence":{"primary_evidence":{"svn":"1"},"additional_evidence":""}}"#;
        let parsed: Attestation = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.runtime_data.nonce, "n");
        assert_eq!(parsed.tee_evidence.primary_evidence["svn"], "1");
        assert!(parsed.init_data.is_none());
    }

    #[test]
    fn coco_kbs_types_messages_round_trip_through_ours() {
        let request = kbs_types::Request {
            version: PROTOCOL_VERSION.into(),
            tee: kbs_types::Tee::Sample,
            extra_params: serde_json::json!({"supported-hash-algorithms": ["sha384"]}),
        };
        let ours: Request =
            serde_json::from_value(serde_json::to_value(&request).unwrap()).unwrap();
        assert_eq!(ours.tee, "sample");
        let attestation = kbs_types::Attestation {
            init_data: None,
            runtime_data: kbs_types::RuntimeData {
                nonce: "n".into(),
                tee_pubkey: kbs_types::TeePubKey::EC {
                    crv: "P-256".into(),
                    alg: "ECDH-ES+A256KW".into(),
                    x: "x".into(),
                    y: "y".into(),
                },
            },
            tee_evidence: kbs_types::CompositeEvidence {
                primary_evidence: serde_json::json!({"svn": "1"}),
                additional_evidence: String::new(),
            },
        };
        let ours: Attestation =
            serde_json::from_value(serde_json::to_value(&attestation).unwrap()).unwrap();
        assert_eq!(ours.runtime_data.tee_pubkey["crv"], "P-256");
        let challenge = Challenge {
            nonce: "n".into(),
            extra_params: Value::String(String::new()),
        };
        let theirs: kbs_types::Challenge =
            serde_json::from_value(serde_json::to_value(&challenge).unwrap()).unwrap();
        assert_eq!(theirs.nonce, "n");
        let error = ErrorBody {
            error_type: format!("{ERROR_TYPE_PREFIX}PolicyDeny"),
            detail: "d".into(),
        };
        let theirs: kbs_types::ErrorInformation =
            serde_json::from_value(serde_json::to_value(&error).unwrap()).unwrap();
        assert_eq!(theirs.detail, "d");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let body = r#"{"version":"0.4.0","tee":"sample","extra-params":{},"extra":1}"#;
        assert!(serde_json::from_str::<Request>(body).is_err());
    }

    #[test]
    fn resource_paths_are_validated() {
        assert!(ResourcePath::parse("default/key/one").is_ok());
        for bad in [
            "a/b",
            "a/b/c/d",
            "a/../c",
            "a//c",
            "a/b/c d",
            "a/b/\u{e9}",
            "",
        ] {
            assert!(ResourcePath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
