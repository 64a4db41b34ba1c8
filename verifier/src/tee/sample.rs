//! The `sample` TEE: CoCo's software-only attester for development. INSECURE.
//!
//! Evidence: `{"svn": "<integer>", "report_data": "<base64 of the binding digest>"}`, as produced
//! by CoCo's sample attester. Nothing is signed, so the only thing verified is that the report data
//! equals the expected runtime-data binding. The registry refuses this TEE unless it was enabled
//! explicitly, and every result carries the insecure reason.
//!
//! Claims: `svn` (integer), `report_data` (hex, as received).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Claims, ExpectedBinding, Rejection, Tee, Verifier, check_report_data};

pub const INSECURE_REASON: &str =
    "sample TEE: software-only evidence with no hardware root of trust";
/// CoCo pads report data to 64 bytes for TEEs with a 64-byte field; accept the same for sample.
const REPORT_DATA_WIDTH: usize = 64;

#[derive(Debug, Default)]
pub struct SampleVerifier;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvidence {
    svn: Value,
    report_data: String,
}

fn parse_svn(svn: &Value) -> Result<u64, Rejection> {
    let parsed = match svn {
        Value::String(text) => text.parse::<u64>().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    };
    parsed.ok_or_else(|| Rejection::MalformedEvidence(format!("svn {svn} is not an integer")))
}

impl Verifier for SampleVerifier {
    fn tee(&self) -> Tee {
        Tee::Sample
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        Some(INSECURE_REASON)
    }

    fn verify(
        &self,
        evidence: &Value,
        expected: &ExpectedBinding,
        _at: OffsetDateTime,
    ) -> Result<Claims, Rejection> {
        let evidence = SampleEvidence::deserialize(evidence)
            .map_err(|e| Rejection::MalformedEvidence(format!("sample evidence: {e}")))?;
        let svn = parse_svn(&evidence.svn)?;
        let report_data = STANDARD
            .decode(&evidence.report_data)
            .map_err(|e| Rejection::MalformedEvidence(format!("report_data: {e}")))?;
        check_report_data(&report_data, expected, REPORT_DATA_WIDTH)?;
        let mut claims = Claims::new();
        claims.insert("svn".into(), svn.into());
        claims.insert("report_data".into(), hex::encode(&report_data).into());
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn expected() -> ExpectedBinding {
        ExpectedBinding {
            runtime_data: [7; 48],
        }
    }

    #[test]
    fn accepts_bound_evidence_plain_and_padded() {
        for report_data in [vec![7u8; 48], [vec![7u8; 48], vec![0u8; 16]].concat()] {
            let evidence = json!({"svn": "3", "report_data": STANDARD.encode(&report_data)});
            let claims = SampleVerifier.verify(&evidence, &expected(), AT).unwrap();
            assert_eq!(claims["svn"], 3);
            assert_eq!(claims["report_data"], hex::encode(&report_data));
        }
    }

    #[test]
    fn rejects_wrong_binding() {
        let mut data = vec![7u8; 48];
        data[47] = 8;
        let evidence = json!({"svn": "1", "report_data": STANDARD.encode(&data)});
        let err = SampleVerifier
            .verify(&evidence, &expected(), AT)
            .unwrap_err();
        assert!(matches!(err, Rejection::BindingMismatch { .. }));
        let padded_with_junk = [vec![7u8; 48], vec![1u8; 16]].concat();
        let evidence = json!({"svn": "1", "report_data": STANDARD.encode(&padded_with_junk)});
        assert!(SampleVerifier.verify(&evidence, &expected(), AT).is_err());
    }

    #[test]
    fn rejects_malformed_evidence() {
        for evidence in [
            json!(null),
            json!({"svn": "x", "report_data": ""}),
            json!({"svn": "1"}),
            json!({"svn": "1", "report_data": "%%%"}),
            json!({"svn": -1, "report_data": ""}),
        ] {
            let err = SampleVerifier
                .verify(&evidence, &expected(), AT)
                .unwrap_err();
            assert!(
                matches!(err, Rejection::MalformedEvidence(_)),
                "{evidence}: {err}"
            );
        }
    }
}
