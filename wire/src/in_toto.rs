//! Writing in-toto Statement v1 documents: the payload a build signs (DSSE) to state what its
//! artifacts are. Reading and trusting them belongs to `warden_verifier::provenance`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// Warden's reference-value predicate: `{"expires": RFC 3339, "reference_values": {name: value}}`
/// (documented in `warden_verifier::provenance`).
pub const REFERENCE_VALUES_PREDICATE: &str = "https://warden.dev/reference-values/v1";

/// A statement subject: `name` with the SHA-256 of `contents`.
pub fn subject(name: &str, contents: &[u8]) -> Value {
    json!({"name": name, "digest": {"sha256": hex::encode(Sha256::digest(contents))}})
}

/// A Statement v1 over `subjects` carrying `predicate` of `predicate_type`.
pub fn statement(subjects: Vec<Value>, predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// A statement that `reference_values` (`{name: value}`, what `PUT /reference-values/{name}`
/// takes) describe `subjects` until `expires` (RFC 3339).
pub fn reference_values_statement(
    subjects: Vec<Value>,
    reference_values: Value,
    expires: &str,
) -> Value {
    statement(
        subjects,
        REFERENCE_VALUES_PREDICATE,
        json!({"expires": expires, "reference_values": reference_values}),
    )
}
