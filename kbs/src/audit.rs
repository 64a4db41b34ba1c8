//! What the audit log records: one [`AuditEvent`] per attestation result, release, refusal of
//! an attested caller (a release or a signing request), admin change, certificate issued and
//! signature made. A failed attestation is no entry: anyone can fail one, as often as `/auth`
//! allows, and a log strangers can fill would hide what matters. Entries never hold a secret, a token or
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
        /// SHA-256 of the token's claims as signed (its JWS payload).
        claims_sha256: String,
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
    /// A certificate or signature refused to an attested caller (by the signing policy, an
    /// unbound key, a builder mismatch, …).
    SigningRefused {
        /// `signing certificate` or `remote signature`.
        what: String,
        /// The named key asked for (`-` for a certificate).
        key: String,
        /// The `jti` of the caller's token.
        jti: String,
        /// The TEE.
        tee: String,
        /// Why.
        reason: String,
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

/// Hex SHA-256 of a compact JWS's payload as signed (the claims' exact bytes, read from the
/// token rather than serialised again); empty for a token that is not a compact JWS.
pub fn jws_payload_sha256(token: &str) -> String {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .map(|payload| sha256_hex(&payload))
        .unwrap_or_default()
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

/// What `warden-kbs audit search` looks for; every criterion given must hold.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// The event kind (`release`, `attestation`, …).
    pub kind: Option<String>,
    /// The resource path.
    pub resource: Option<String>,
    /// The attestation token's `jti`.
    pub jti: Option<String>,
    /// The builder identity (certificate and signature entries).
    pub identity: Option<String>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
}

impl SearchFilter {
    /// Whether `entry` matches.
    pub fn matches(&self, entry: &Value) -> bool {
        let equals = |member: &str, wanted: &Option<String>| {
            wanted
                .as_deref()
                .is_none_or(|wanted| entry[member].as_str() == Some(wanted))
        };
        let time = entry["time"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let in_window = match (self.since, self.until) {
            (None, None) => true,
            (since, until) => time.is_some_and(|time| {
                since.is_none_or(|since| time >= since) && until.is_none_or(|until| time < until)
            }),
        };
        equals("kind", &self.kind)
            && equals("resource", &self.resource)
            && equals("jti", &self.jti)
            && equals("identity", &self.identity)
            && in_window
    }
}

/// Reads a log export (`warden_wire::tlog` export format) and hands every entry matching
/// `filter` to `found`, as its JSON text; returns how many matched. Entries that are not JSON
/// objects (the signing log's are Rekor bodies) match only an empty filter.
pub fn search(
    reader: impl std::io::BufRead,
    filter: &SearchFilter,
    mut found: impl FnMut(&str),
) -> Result<u64, String> {
    let mut matched = 0;
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", number + 1))?;
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(&line) else {
            return Err(format!("line {}: not a JSON object", number + 1));
        };
        let Some(text) = record.get("entry").and_then(Value::as_str) else {
            continue;
        };
        let entry: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if filter.matches(&entry) {
            matched += 1;
            found(text);
        }
    }
    Ok(matched)
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

    #[test]
    fn the_claims_digest_is_of_the_payload_as_signed() {
        // header.{"a":1}.signature, base64url without padding.
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln";
        assert_eq!(jws_payload_sha256(token), sha256_hex(br#"{"a":1}"#));
        assert_eq!(jws_payload_sha256("not a token"), "");
    }

    #[test]
    fn search_matches_every_given_criterion_and_the_time_window() {
        let at = |seconds| OffsetDateTime::from_unix_timestamp(seconds).unwrap();
        let release = |resource: &str, jti: &str, time| {
            AuditEvent::Release {
                resource: resource.into(),
                policy: "release:default".into(),
                policy_sha256: String::new(),
                jti: jti.into(),
                tee: "snp".into(),
                client: "127.0.0.1".into(),
            }
            .to_entry(at(time))
        };
        let lines: Vec<String> = [
            release("a/b/c", "j1", 1_000),
            release("a/b/d", "j1", 2_000),
            release("a/b/c", "j2", 3_000),
        ]
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let text = Value::Object(entry.clone()).to_string();
            serde_json::json!({"index": index, "leaf": "00", "entry": text}).to_string()
        })
        .collect();
        let export = format!("{{\"format\":\"x\"}}\n{}\n", lines.join("\n"));
        let count = |filter: SearchFilter| search(export.as_bytes(), &filter, |_| {}).unwrap();
        assert_eq!(count(SearchFilter::default()), 3);
        let by_resource = SearchFilter {
            resource: Some("a/b/c".into()),
            ..SearchFilter::default()
        };
        assert_eq!(count(by_resource.clone()), 2);
        assert_eq!(
            count(SearchFilter {
                jti: Some("j1".into()),
                ..by_resource.clone()
            }),
            1
        );
        assert_eq!(
            count(SearchFilter {
                since: Some(at(2_000)),
                until: Some(at(3_000)),
                ..SearchFilter::default()
            }),
            1
        );
        assert_eq!(
            count(SearchFilter {
                kind: Some("attestation".into()),
                ..SearchFilter::default()
            }),
            0
        );
    }
}
