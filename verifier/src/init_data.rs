//! CoCo init-data: a TOML document (`version`, `algorithm` = sha256|sha384|sha512, `[data]`)
//! that a TEE binds by its digest (SNP HOST_DATA, TDX MRCONFIGID, TPM PCR 8). The digest is the
//! named hash of the body's exact bytes, as CoCo computes it; the document (as JSON) is what the
//! appraisal policy reads as `input.init_data`. Both come from the same body, here, so a caller
//! can never pair a digest with another document.

use serde_json::Value;
use sha2::Digest as _;
use warden_wire::InitData;

/// The digest the evidence must bind, and the document as JSON.
pub fn read(init_data: &InitData) -> Result<(Vec<u8>, Value), String> {
    if init_data.format != "toml" {
        return Err(format!(
            "format {:?} is not supported (only \"toml\")",
            init_data.format
        ));
    }
    let body: toml::Table =
        toml::from_str(&init_data.body).map_err(|e| format!("body is not TOML: {e}"))?;
    let bytes = init_data.body.as_bytes();
    let digest = match body.get("algorithm").and_then(|value| value.as_str()) {
        Some("sha256") => sha2::Sha256::digest(bytes).to_vec(),
        Some("sha384") => sha2::Sha384::digest(bytes).to_vec(),
        Some("sha512") => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(format!(
                "algorithm {other:?} is not sha256, sha384 or sha512"
            ));
        }
    };
    let document =
        serde_json::to_value(&body).map_err(|e| format!("body cannot be read as JSON: {e}"))?;
    Ok((digest, document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_uses_the_named_algorithm_over_the_exact_body() {
        let body = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\nkey = \"value\"\n";
        let init = InitData {
            format: "toml".into(),
            body: body.into(),
        };
        let (digest, document) = read(&init).unwrap();
        assert_eq!(digest, sha2::Sha384::digest(body.as_bytes()).to_vec());
        assert_eq!(
            document,
            json!({"version": "0.1.0", "algorithm": "sha384", "data": {"key": "value"}})
        );
        for (format, body) in [
            ("json", body),
            ("toml", "algorithm = \"md5\""),
            ("toml", "not toml ["),
            ("toml", "version = 1"),
        ] {
            let init = InitData {
                format: format.into(),
                body: body.into(),
            };
            assert!(read(&init).is_err(), "{format} {body}");
        }
    }
}
