//! What the audit log records: one [`AuditEvent`] per attestation result, release, refusal,
//! admin change, certificate issued and signature made. Entries never hold a secret, a token or
//! evidence — only identifiers and digests of them.
//!
//! An entry is a JSON object: `kind` (the event, kebab-case), `time` (RFC 3339, the request's
//! time), the event's members, and the `index` the log gives it. `warden-kbs audit search`
//! matches on `resource`, `jti`, `identity` (builder) and `time`.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuditEvent {
    /// An attestation appraised and a token issued.
    Attestation {
        /// The token's `jti`.
        jti: String,
        /// The TEE (with `INSECURE` when the result is).
        tee: String,
        /// The appraisal status (`affirming`, `warning`, …).
        status: String,
        /// SHA-256 of the token's claims as signed.
        claims_sha256: String,
        /// The client's address.
        client: String,
    },
    /// Evidence refused (appraisal failed, or a result that could not become a session).
    AttestationRefused {
        /// The TEE challenged.
        tee: String,
        /// Why.
        reason: String,
        /// The client's address.
        client: String,
    },
    /// A resource released, encrypted to the attested key.
    Release {
        /// The resource path.
        resource: String,
        /// The release policy that allowed it and its digest.
        policy: String,
        /// SHA-256 of that policy's source.
        policy_sha256: String,
        /// The `jti` of the token the release relied on.
        jti: String,
        /// The TEE.
        tee: String,
        /// The client's address.
        client: String,
    },
    /// A release refused by policy.
    ReleaseRefused {
        /// The resource path asked for.
        resource: String,
        /// The policy that refused.
        policy: String,
        /// The `jti` of the token presented.
        jti: String,
        /// The TEE.
        tee: String,
        /// The client's address.
        client: String,
    },
    /// A change through the admin API.
    AdminChange {
        /// The administrator (`<key>:<subject>`).
        who: String,
        /// What was done (`put-resource`, `set-release-policy`, …).
        action: String,
        /// What it was done to (a path, prefix, name or `jti`).
        target: String,
        /// SHA-256 of the value before (absent when there was none or it is not kept).
        #[serde(skip_serializing_if = "Option::is_none")]
        before_sha256: Option<String>,
        /// SHA-256 of the value after (absent for a deletion).
        #[serde(skip_serializing_if = "Option::is_none")]
        after_sha256: Option<String>,
    },
    /// A code-signing certificate issued.
    Certificate {
        /// Its serial, hex.
        serial: String,
        /// The builder identity it names.
        identity: String,
        /// The `jti` of the token it relied on.
        jti: String,
        /// SHA-256 of the certified public key.
        spki_sha256: String,
    },
    /// A signature made or logged.
    Signature {
        /// `named:<key>` for a remote signature, `keyless` for a build's own key.
        key: String,
        /// The builder identity.
        identity: String,
        /// The `jti` of the token it relied on (empty for a logged signature).
        jti: String,
        /// Hex SHA-256 of what was signed (the artifact, or the DSSE PAE).
        digest: String,
        /// Its index in the signing transparency log.
        signing_log_index: u64,
    },
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The client address as recorded.
pub fn client(address: Option<IpAddr>) -> String {
    address.map(|a| a.to_string()).unwrap_or_default()
}

impl AuditEvent {
    /// The entry's JSON object (without its `index`, which the log adds).
    pub fn to_entry(&self, time: OffsetDateTime) -> Map<String, Value> {
        let mut entry = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A tagged enum of strings always serialises to an object.
            _ => Map::new(),
        };
        entry.insert(
            "time".into(),
            Value::from(time.format(&Rfc3339).unwrap_or_default()),
        );
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_its_kind_and_time_and_omits_absent_digests() {
        let entry = AuditEvent::AdminChange {
            who: "ops:alice".into(),
            action: "delete-resource".into(),
            target: "a/b/c".into(),
            before_sha256: Some(sha256_hex(b"x")),
            after_sha256: None,
        }
        .to_entry(
            OffsetDateTime::from_unix_timestamp(1_790_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        );
        assert_eq!(entry["kind"], "admin-change");
        assert_eq!(entry["time"], "2026-09-21T14:13:20Z");
        assert_eq!(entry["target"], "a/b/c");
        assert!(entry.contains_key("before_sha256"));
        assert!(!entry.contains_key("after_sha256"));
    }
}
