//! The runtime-data binding: how a nonce and the TEE public key end up inside hardware evidence.
//!
//! CoCo clients hash the RFC 8785 (JCS) canonical JSON of
//! `{"nonce", "tee-pubkey", "additional-evidence"}` with SHA-384 and place the 48-byte digest in
//! the evidence's report-data field (zero-padded to the field's width by each TEE).

use serde_json::{Value, json};
use sha2::{Digest, Sha384};

/// SHA-384 digest of the canonical runtime data.
pub type RuntimeDataDigest = [u8; 48];

/// Computes the digest a client must bind into its primary evidence.
///
/// `additional_evidence` is the (possibly empty) JSON string of device evidence; the CoCo client
/// always includes the field in the primary evidence's binding.
pub fn runtime_data_digest(
    nonce: &str,
    tee_pubkey: &Value,
    additional_evidence: &str,
) -> RuntimeDataDigest {
    let runtime_data = json!({
        "nonce": nonce,
        "tee-pubkey": tee_pubkey,
        "additional-evidence": additional_evidence,
    });
    // serde_jcs only fails on values JSON cannot represent (non-finite floats); a `Value` parsed
    // from JSON never holds one, and `json!` above only nests such values.
    let canonical = serde_jcs::to_vec(&runtime_data).unwrap_or_default();
    Sha384::digest(&canonical).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_independent_of_key_order() {
        let a = serde_json::from_str::<Value>(r#"{"kty":"EC","crv":"P-256","x":"1","y":"2"}"#);
        let b = serde_json::from_str::<Value>(r#"{"y":"2","x":"1","crv":"P-256","kty":"EC"}"#);
        assert_eq!(
            runtime_data_digest("n", &a.unwrap(), ""),
            runtime_data_digest("n", &b.unwrap(), "")
        );
    }

    #[test]
    fn digest_matches_hand_computed_canonical_form() {
        let key = json!({"kty": "EC", "alg": "ECDH-ES+A256KW"});
        let canonical = r#"{"additional-evidence":"","nonce":"abc","tee-pubkey":{"alg":"ECDH-ES+A256KW","kty":"EC"}}"#;
        let expected: [u8; 48] = Sha384::digest(canonical.as_bytes()).into();
        assert_eq!(runtime_data_digest("abc", &key, ""), expected);
    }

    #[test]
    fn every_input_changes_the_digest() {
        let key = json!({"kty": "EC"});
        let base = runtime_data_digest("n", &key, "");
        assert_ne!(base, runtime_data_digest("m", &key, ""));
        assert_ne!(base, runtime_data_digest("n", &json!({"kty": "RSA"}), ""));
        assert_ne!(base, runtime_data_digest("n", &key, "{}"));
    }
}
