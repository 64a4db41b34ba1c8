//! Azure confidential VMs (`az-snp-vtpm`, `az-tdx-vtpm`): the paravisor (HCL) report that binds
//! the vTPM to the hardware report, and the evidence JSON CoCo's Azure attesters send.
//!
//! HCL report (little-endian): a 32-byte header (`"HCLA"`, version, report size, request type,
//! status, reserved), the hardware report area (1184 bytes: an SNP report, or a 1024-byte
//! TDREPORT and padding), the IGVM request data header (data size, version, report type 2 = SNP
//! / 4 = TDX, hash type 1 = SHA-256, variable data size) and the variable data: the runtime
//! claims JSON, whose SHA-256 is the first half of the hardware report's report data. The
//! buffer is padded with zeros after the claims; any other trailing byte is refused, as nothing
//! covers it. The runtime claims carry the vTPM's AK (`keys[kid = "HCLAkPub"]`, an RSA JWK),
//! `vm-configuration` and `user-data`.
//!
//! Evidence JSON, as Trustee's `az-*-vtpm` attesters write it: version 1 `{"version": 1,
//! "hcl_report": base64url, "tpm_quote": {"signature": hex, "message": hex, "pcrs": [hex; 24]},
//! "vcek": base64 DER (SNP), "td_quote": base64url (TDX)}`, or version 0 with byte arrays
//! (`report` or `hcl_report`, `quote` or `tpm_quote`, `vcek` as PEM text).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value;
use thiserror::Error;

use crate::tpm::KeyMaterial;

/// Length of the HCL report header (`"HCLA"`, version, report size, request type, status,
/// reserved).
pub const HCL_HEADER_LEN: usize = 32;
/// Length of the hardware report area that follows the header.
pub const HW_REPORT_AREA_LEN: usize = 1184;
/// Length of a TDREPORT at the start of the hardware report area (TDX).
pub const TD_REPORT_LEN: usize = 1024;
const IGVM_HEADER_LEN: usize = 20;
const HCL_SIGNATURE: &[u8; 4] = b"HCLA";
const REPORT_TYPE_SNP: u32 = 2;
const REPORT_TYPE_TDX: u32 = 4;
const HASH_TYPE_SHA256: u32 = 1;
/// Bounds the work on a hostile input; real evidence is under 40 KiB.
pub const MAX_EVIDENCE_BYTES: usize = 1024 * 1024;
/// Only PCRs 0..=23 exist.
const MAX_PCRS: usize = 24;
/// The vTPM quotes its SHA-256 bank.
const PCR_VALUE_LEN: usize = 32;

/// Why an HCL report, its runtime claims or the Azure evidence JSON was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AzureError {
    /// The HCL report is malformed; the reason is given.
    #[error("HCL report: {0}")]
    Hcl(String),
    /// The runtime claims JSON is malformed or lacks a usable `HCLAkPub`; the reason is given.
    #[error("runtime claims: {0}")]
    RuntimeClaims(String),
    /// The evidence JSON is malformed or too large; the reason is given.
    #[error("Azure evidence: {0}")]
    Evidence(String),
}

/// What the hardware report area holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareReport {
    /// An AMD SEV-SNP attestation report (IGVM report type 2).
    Snp,
    /// An Intel TDX TDREPORT (IGVM report type 4).
    Tdx,
}

/// A parsed HCL report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HclReport {
    /// HCL report version (the header's second little-endian u32).
    pub version: u32,
    /// Which hardware report the report area holds, from the IGVM report type.
    pub kind: HardwareReport,
    /// The whole hardware report area; an SNP report fills it, a TDREPORT its first 1024 bytes.
    pub hw_report: Vec<u8>,
    /// The runtime claims JSON exactly as hashed into the hardware report.
    pub runtime_claims: Vec<u8>,
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

impl HclReport {
    /// Parses an HCL report: checks the `"HCLA"` signature, the report type and the SHA-256 hash
    /// type, cuts out the runtime claims and refuses non-zero bytes after them. Checks no hash.
    pub fn parse(bytes: &[u8]) -> Result<Self, AzureError> {
        let error = |text: String| AzureError::Hcl(text);
        if bytes.get(..4) != Some(&HCL_SIGNATURE[..]) {
            return Err(error("does not start with \"HCLA\"".into()));
        }
        let version = u32_at(bytes, 4).ok_or_else(|| error("truncated header".into()))?;
        let igvm = HCL_HEADER_LEN + HW_REPORT_AREA_LEN;
        let field = |index: usize| {
            u32_at(bytes, igvm + 4 * index).ok_or_else(|| {
                error(format!(
                    "{} bytes end before the IGVM request data (needs {})",
                    bytes.len(),
                    igvm + IGVM_HEADER_LEN
                ))
            })
        };
        let kind = match field(2)? {
            REPORT_TYPE_SNP => HardwareReport::Snp,
            REPORT_TYPE_TDX => HardwareReport::Tdx,
            other => {
                return Err(error(format!(
                    "report type {other} is neither SNP (2) nor TDX (4)"
                )));
            }
        };
        let hash_type = field(3)?;
        if hash_type != HASH_TYPE_SHA256 {
            return Err(error(format!(
                "runtime claims hash type {hash_type} is not SHA-256 (1)"
            )));
        }
        let claims_len = field(4)? as usize;
        let claims_start = igvm + IGVM_HEADER_LEN;
        let runtime_claims = claims_start
            .checked_add(claims_len)
            .and_then(|end| bytes.get(claims_start..end))
            .ok_or_else(|| {
                error(format!(
                    "runtime claims of {claims_len} bytes run past the end"
                ))
            })?;
        let padding = &bytes[claims_start + claims_len..];
        if padding.iter().any(|&b| b != 0) {
            return Err(error("non-zero bytes follow the runtime claims".into()));
        }
        Ok(HclReport {
            version,
            kind,
            hw_report: bytes[HCL_HEADER_LEN..igvm].to_vec(),
            runtime_claims: runtime_claims.to_vec(),
        })
    }
}

/// The runtime claims the verifiers use.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeClaims {
    /// The vTPM attestation key (`HCLAkPub`).
    pub ak: KeyMaterial,
    /// The `vm-configuration` object, as JSON (null when absent).
    pub vm_configuration: Value,
    /// The `user-data` string, if present.
    pub user_data: Option<String>,
}

impl RuntimeClaims {
    /// Parses the runtime claims JSON and extracts the RSA `HCLAkPub` key (base64url `n` and `e`).
    pub fn parse(bytes: &[u8]) -> Result<Self, AzureError> {
        let error = |text: &str| AzureError::RuntimeClaims(text.to_owned());
        let json: Value =
            serde_json::from_slice(bytes).map_err(|e| AzureError::RuntimeClaims(e.to_string()))?;
        let ak = json["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|key| key["kid"] == "HCLAkPub"))
            .ok_or_else(|| error("no HCLAkPub key"))?;
        if ak["kty"] != "RSA" {
            return Err(error("HCLAkPub is not an RSA key"));
        }
        let component = |name: &str| {
            ak[name]
                .as_str()
                .and_then(|text| decode_base64(text).ok())
                .ok_or_else(|| error("HCLAkPub has no base64url n and e"))
        };
        let modulus = component("n")?;
        let exponent_bytes = component("e")?;
        if exponent_bytes.is_empty()
            || exponent_bytes.len() > 4
            || exponent_bytes.iter().all(|&byte| byte == 0)
        {
            return Err(error(
                "HCLAkPub exponent is not a non-zero 1 to 4 byte number",
            ));
        }
        let exponent = exponent_bytes
            .iter()
            .fold(0u32, |value, &byte| (value << 8) | u32::from(byte));
        Ok(RuntimeClaims {
            ak: KeyMaterial::Rsa { modulus, exponent },
            vm_configuration: json["vm-configuration"].clone(),
            user_data: json["user-data"].as_str().map(str::to_owned),
        })
    }
}

/// The vTPM quote as the attesters send it: TPMS_ATTEST, a bare RSASSA/SHA-256 signature, and the
/// 24 SHA-256 PCR values in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtpmQuote {
    /// The quoted TPMS_ATTEST structure.
    pub message: Vec<u8>,
    /// The bare RSASSA (SHA-256) signature over `message`.
    pub signature: Vec<u8>,
    /// The SHA-256 PCR values (32 bytes each, at most 24), in index order.
    pub pcrs: Vec<Vec<u8>>,
}

/// Decoded Azure evidence (either version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureEvidence {
    /// The HCL report bytes (`hcl_report`, or `report` in version 0).
    pub hcl_report: Vec<u8>,
    /// The vTPM quote (`tpm_quote`, or `quote` in version 0).
    pub tpm_quote: VtpmQuote,
    /// DER VCEK (SNP), when sent.
    pub vcek: Option<Vec<u8>>,
    /// The TD quote (TDX).
    pub td_quote: Option<Vec<u8>>,
}

impl AzureEvidence {
    /// Parses evidence JSON of at most [`MAX_EVIDENCE_BYTES`]; see [`AzureEvidence::from_value`].
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, AzureError> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(AzureError::Evidence(format!(
                "{} bytes, more than the {MAX_EVIDENCE_BYTES} accepted",
                bytes.len()
            )));
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| AzureError::Evidence(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Decodes the evidence from parsed JSON, accepting version 0 and version 1 field names and
    /// encodings.
    pub fn from_value(value: &Value) -> Result<Self, AzureError> {
        let error = |text: String| AzureError::Evidence(text);
        let object = value
            .as_object()
            .ok_or_else(|| error("not a JSON object".into()))?;
        let field = |names: &[&str]| names.iter().find_map(|name| object.get(*name));
        let hcl_report = field(&["hcl_report", "report"])
            .ok_or_else(|| error("no hcl_report".into()))
            .and_then(|v| bytes_field("hcl_report", v, Encoding::Base64))?;
        let quote = field(&["tpm_quote", "quote"]).ok_or_else(|| error("no tpm_quote".into()))?;
        let message = quote
            .get("message")
            .ok_or_else(|| error("tpm_quote has no message".into()))
            .and_then(|v| bytes_field("tpm_quote.message", v, Encoding::Hex))?;
        let signature = quote
            .get("signature")
            .ok_or_else(|| error("tpm_quote has no signature".into()))
            .and_then(|v| bytes_field("tpm_quote.signature", v, Encoding::Hex))?;
        let pcr_values = quote
            .get("pcrs")
            .and_then(Value::as_array)
            .ok_or_else(|| error("tpm_quote has no pcrs list".into()))?;
        if pcr_values.len() > MAX_PCRS {
            return Err(error(format!(
                "{} PCR values, more than {MAX_PCRS}",
                pcr_values.len()
            )));
        }
        // Each value is exactly one SHA-256 digest: the PCR digest hashes their concatenation, so
        // values of other lengths could be re-split across indices without changing it.
        let pcrs = pcr_values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = format!("tpm_quote.pcrs[{i}]");
                let value = bytes_field(&name, v, Encoding::Hex)?;
                if value.len() != PCR_VALUE_LEN {
                    return Err(error(format!(
                        "{name} is {} bytes, not a {PCR_VALUE_LEN}-byte SHA-256 value",
                        value.len()
                    )));
                }
                Ok(value)
            })
            .collect::<Result<_, _>>()?;
        let vcek = object
            .get("vcek")
            .map(|v| match v.as_str() {
                Some(text) if text.starts_with("-----BEGIN") => pem_to_der(text),
                _ => bytes_field("vcek", v, Encoding::Base64),
            })
            .transpose()?;
        let td_quote = object
            .get("td_quote")
            .map(|v| bytes_field("td_quote", v, Encoding::Base64))
            .transpose()?;
        Ok(AzureEvidence {
            hcl_report,
            tpm_quote: VtpmQuote {
                message,
                signature,
                pcrs,
            },
            vcek,
            td_quote,
        })
    }
}

enum Encoding {
    Base64,
    Hex,
}

/// A byte field: a JSON array of bytes (version 0) or text in the version-1 encoding.
fn bytes_field(name: &str, value: &Value, encoding: Encoding) -> Result<Vec<u8>, AzureError> {
    let error = |what: &str| AzureError::Evidence(format!("{name} is not {what}"));
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_u64().and_then(|byte| u8::try_from(byte).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| error("an array of bytes")),
        Value::String(text) => match encoding {
            Encoding::Base64 => decode_base64(text).map_err(|_| error("base64")),
            Encoding::Hex => hex::decode(text).map_err(|_| error("hex")),
        },
        _ => Err(error("bytes")),
    }
}

/// Standard or URL-safe base64, padded or not (the attesters use both).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let normalised: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    STANDARD_NO_PAD.decode(normalised)
}

fn pem_to_der(text: &str) -> Result<Vec<u8>, AzureError> {
    let body: String = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("-----END"))
        .filter(|line| !line.starts_with("-----"))
        .collect();
    decode_base64(&body).map_err(|_| AzureError::Evidence("vcek PEM is not base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcl(kind: u32, claims: &[u8], padding: &[u8]) -> Vec<u8> {
        let mut bytes = b"HCLA".to_vec();
        bytes.extend(2u32.to_le_bytes());
        bytes.resize(HCL_HEADER_LEN + HW_REPORT_AREA_LEN, 0);
        for field in [claims.len() as u32 + 20, 1, kind, 1, claims.len() as u32] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.extend(claims);
        bytes.extend(padding);
        bytes
    }

    #[test]
    fn an_hcl_report_yields_its_hardware_report_and_exact_claims() {
        let report = HclReport::parse(&hcl(2, b"{\"keys\":[]}", &[0; 40])).unwrap();
        assert_eq!(report.kind, HardwareReport::Snp);
        assert_eq!(report.version, 2);
        assert_eq!(report.hw_report.len(), HW_REPORT_AREA_LEN);
        assert_eq!(report.runtime_claims, b"{\"keys\":[]}");
        assert_eq!(
            HclReport::parse(&hcl(4, b"{}", &[])).unwrap().kind,
            HardwareReport::Tdx
        );
    }

    #[test]
    fn malformed_hcl_reports_are_refused_at_every_length() {
        let bytes = hcl(2, b"{}", &[]);
        for len in 0..bytes.len() {
            assert!(HclReport::parse(&bytes[..len]).is_err(), "length {len}");
        }
        assert!(HclReport::parse(&hcl(3, b"{}", &[])).is_err());
        assert!(HclReport::parse(&hcl(2, b"{}", &[0, 1])).is_err());
        let mut wrong_hash = bytes.clone();
        wrong_hash[HCL_HEADER_LEN + HW_REPORT_AREA_LEN + 12] = 2;
        assert!(HclReport::parse(&wrong_hash).is_err());
        let mut huge = bytes;
        let size_at = HCL_HEADER_LEN + HW_REPORT_AREA_LEN + 16;
        huge[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(HclReport::parse(&huge).is_err());
    }

    #[test]
    fn runtime_claims_give_the_ak_from_its_jwk() {
        let claims =
            br#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","e":"AQAB","n":"wQ"}],"user-data":"00"}"#;
        let parsed = RuntimeClaims::parse(claims).unwrap();
        assert_eq!(
            parsed.ak,
            KeyMaterial::Rsa {
                modulus: vec![0xC1],
                exponent: 65_537
            }
        );
        assert_eq!(parsed.user_data.as_deref(), Some("00"));
        assert!(RuntimeClaims::parse(br#"{"keys":[]}"#).is_err());
        assert!(RuntimeClaims::parse(br#"{"keys":[{"kid":"HCLAkPub","kty":"EC"}]}"#).is_err());
        assert!(RuntimeClaims::parse(b"not json").is_err());
    }

    #[test]
    fn both_evidence_versions_and_base64_alphabets_decode() {
        let pcr_hex = "ab".repeat(32);
        let v1 = serde_json::json!({
            "version": 1, "hcl_report": "SENMQQ", "vcek": "AQID",
            "tpm_quote": {"message": "ff54", "signature": "0102", "pcrs": [pcr_hex]},
        });
        let decoded = AzureEvidence::from_value(&v1).unwrap();
        assert_eq!(decoded.hcl_report, b"HCLA");
        assert_eq!(decoded.vcek.as_deref(), Some(&[1, 2, 3][..]));
        let v0 = serde_json::json!({
            "report": [72, 67, 76, 65], "vcek": "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n",
            "quote": {"message": [255, 84], "signature": [1, 2], "pcrs": [vec![0xab; 32]]},
        });
        assert_eq!(AzureEvidence::from_value(&v0).unwrap(), decoded);
        assert_eq!(decoded.tpm_quote.pcrs, [[0xab; 32]]);
        assert_eq!(decode_base64("-_8").unwrap(), [0xFB, 0xFF]);
        assert!(AzureEvidence::from_value(&serde_json::json!({"report": [300]})).is_err());
        assert!(AzureEvidence::from_value(&serde_json::json!([])).is_err());
    }

    #[test]
    fn pcr_values_that_are_not_one_sha256_digest_each_are_refused() {
        // 31 + 33 bytes hash to the same PCR digest as 32 + 32: lengths must be exact.
        for pcrs in [
            serde_json::json!(["ab".repeat(31), "ab".repeat(33)]),
            serde_json::json!([""]),
            serde_json::json!(vec!["ab".repeat(32); 25]),
        ] {
            let evidence = serde_json::json!({
                "hcl_report": "SENMQQ",
                "tpm_quote": {"message": "ff54", "signature": "0102", "pcrs": pcrs},
            });
            let error = AzureEvidence::from_value(&evidence)
                .unwrap_err()
                .to_string();
            assert!(error.contains("pcrs") || error.contains("PCR"), "{error}");
        }
    }

    #[test]
    fn a_zero_or_oversized_ak_exponent_is_refused() {
        for exponent in ["AAAA", "AQAAAAE"] {
            let claims = format!(
                r#"{{"keys":[{{"kid":"HCLAkPub","kty":"RSA","e":"{exponent}","n":"wQ"}}]}}"#
            );
            let error = RuntimeClaims::parse(claims.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(error.contains("exponent"), "{exponent}: {error}");
        }
    }
}
