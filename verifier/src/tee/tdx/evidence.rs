//! TDX evidence as it travels: CoCo's JSON (`{"quote": base64, "cc_eventlog": base64?}`) or, for
//! the CLI, a raw quote file with an optional separate CCEL file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Bound on evidence JSON and on a raw quote file (quote buffers are 8 KiB; the CCEL 256 KiB,
/// base64-encoded in JSON).
const MAX_EVIDENCE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxEvidence {
    pub quote: Vec<u8>,
    /// The CC event log (ACPI CCEL data), when the attester sent it.
    pub event_log: Option<Vec<u8>>,
}

fn decode(field: &str, value: &Value) -> Result<Vec<u8>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("\"{field}\" must be a base64 string"))?;
    if text.len() > MAX_EVIDENCE_BYTES {
        return Err(format!("\"{field}\" exceeds {MAX_EVIDENCE_BYTES} bytes"));
    }
    STANDARD
        .decode(text)
        .map_err(|e| format!("\"{field}\" is not base64: {e}"))
}

impl TdxEvidence {
    pub fn from_json(evidence: &Value) -> Result<TdxEvidence, String> {
        let object = evidence
            .as_object()
            .ok_or("TDX evidence must be a JSON object {\"quote\", \"cc_eventlog\"}")?;
        let quote = decode("quote", object.get("quote").ok_or("no \"quote\" field")?)?;
        let event_log = match object.get("cc_eventlog") {
            None | Some(Value::Null) => None,
            Some(value) => Some(decode("cc_eventlog", value)?),
        };
        Ok(TdxEvidence { quote, event_log })
    }

    pub fn to_json(&self) -> Value {
        let mut value = json!({ "quote": STANDARD.encode(&self.quote) });
        if let Some(log) = &self.event_log {
            value["cc_eventlog"] = Value::String(STANDARD.encode(log));
        }
        value
    }

    /// A file holding a raw quote (starts with version 4 or 5, key type 2) or the JSON form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<TdxEvidence, String> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(format!("evidence exceeds {MAX_EVIDENCE_BYTES} bytes"));
        }
        if matches!(bytes, [4 | 5, 0, 2, 0, ..]) {
            return Ok(TdxEvidence {
                quote: bytes.to_vec(),
                event_log: None,
            });
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| "neither a raw TDX quote (v4/v5) nor TDX evidence JSON")?;
        Self::from_json(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_bad_fields_are_errors() {
        let evidence = TdxEvidence {
            quote: vec![4, 0, 2, 0, 1],
            event_log: Some(vec![9; 3]),
        };
        assert_eq!(
            TdxEvidence::from_json(&evidence.to_json()),
            Ok(evidence.clone())
        );
        let bytes = serde_json::to_vec(&evidence.to_json()).unwrap();
        assert_eq!(TdxEvidence::from_file_bytes(&bytes), Ok(evidence));
        assert_eq!(
            TdxEvidence::from_file_bytes(&[5, 0, 2, 0]).unwrap().quote,
            vec![5, 0, 2, 0]
        );
        assert!(TdxEvidence::from_json(&json!({"quote": 5})).is_err());
        assert!(TdxEvidence::from_json(&json!({"quote": "!!"})).is_err());
        assert!(TdxEvidence::from_json(&json!({"cc_eventlog": ""})).is_err());
        assert!(TdxEvidence::from_json(&json!([1])).is_err());
        assert!(TdxEvidence::from_file_bytes(b"garbage").is_err());
    }
}
