//! Reference values as the store keeps them, turned into what appraisal and the admin listings
//! use: the one conversion the KBS and the verifier service share.

use serde_json::{Value, json};
use warden_store::{ReferenceValueOrigin, StoredReferenceValue};
use warden_verifier::ReferenceValues;
use warden_verifier::provenance::ImportedReferenceValues;
use warden_verifier::tee::rfc3339;

/// The appraisal index of the stored values (see [`ReferenceValues::from_kept`]).
pub fn reference_values(stored: &[StoredReferenceValue]) -> Result<ReferenceValues, String> {
    ReferenceValues::from_kept(stored.iter().map(|entry| {
        (
            entry.name.as_str(),
            entry.value_json.as_str(),
            entry.origin.expires_at,
        )
    }))
}

/// Stored values with their history, as the KBS admin API and `warden-verifier rv list` show
/// them: `{name: {value, version, source, set_by, updated_at, provenance_sha256, expires,
/// expired}}`, `expired` judged at `now` (Unix seconds).
pub fn listing(stored: &[StoredReferenceValue], now: i64) -> Result<Value, String> {
    let mut listed = serde_json::Map::new();
    for entry in stored {
        let value: Value = serde_json::from_str(&entry.value_json)
            .map_err(|e| format!("stored reference value {}: {e}", entry.name))?;
        let origin = &entry.origin;
        listed.insert(
            entry.name.clone(),
            json!({
                "value": value,
                "version": entry.version,
                "source": origin.source,
                "set_by": origin.set_by,
                "updated_at": rfc3339(entry.updated_at),
                "provenance_sha256": origin.provenance_sha256,
                "expires": origin.expires_at.map(rfc3339),
                "expired": origin.expires_at.is_some_and(|at| at <= now),
            }),
        );
    }
    Ok(Value::Object(listed))
}

/// An imported statement's values as the store keeps them (JSON text), and their origin: the
/// statement's signer, digest and expiry, imported by `set_by`.
pub fn imported_rows(
    imported: &ImportedReferenceValues,
    set_by: String,
) -> (Vec<(String, String)>, ReferenceValueOrigin) {
    let values = imported
        .values
        .iter()
        .map(|(name, value)| (name.clone(), value.to_string()))
        .collect();
    let origin = ReferenceValueOrigin {
        source: format!("dsse:{}", imported.signer),
        set_by,
        provenance_sha256: Some(imported.provenance_sha256.clone()),
        expires_at: Some(imported.expires),
    };
    (values, origin)
}
