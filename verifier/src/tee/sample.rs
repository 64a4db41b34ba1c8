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

use super::{Check, Claims, Examination, ExpectedBinding, Tee, Verifier, check_report_data};

/// Why every `sample` result is insecure (carried in its token).
pub const INSECURE_REASON: &str =
    "sample TEE: software-only evidence with no hardware root of trust";

/// The verifier of the `sample` TEE.
#[derive(Debug, Default)]
pub struct SampleVerifier;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvidence {
    svn: Value,
    report_data: String,
}

fn parse(evidence: &Value) -> Result<(u64, Vec<u8>), String> {
    let evidence =
        SampleEvidence::deserialize(evidence).map_err(|e| format!("sample evidence: {e}"))?;
    let svn = match &evidence.svn {
        Value::String(text) => text.parse::<u64>().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
    .ok_or_else(|| format!("svn {} is not an integer", evidence.svn))?;
    let report_data = STANDARD
        .decode(&evidence.report_data)
        .map_err(|e| format!("report_data: {e}"))?;
    Ok((svn, report_data))
}

impl Verifier for SampleVerifier {
    fn tee(&self) -> Tee {
        Tee::Sample
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        Some(INSECURE_REASON)
    }

    fn binds_init_data(&self) -> bool {
        false
    }

    fn examine(
        &self,
        evidence: &Value,
        expected: &ExpectedBinding,
        _at: OffsetDateTime,
    ) -> Examination {
        let mut examination = Examination::default();
        let (svn, report_data) = match parse(evidence) {
            Ok(parsed) => parsed,
            Err(detail) => {
                examination.push(Check::fail("evidence_format", detail));
                return examination;
            }
        };
        examination.push(Check::pass("evidence_format", "sample evidence parsed"));
        examination.claims = Claims::from_iter([
            ("svn".to_owned(), svn.into()),
            ("report_data".to_owned(), hex::encode(&report_data).into()),
        ]);
        examination.push(check_report_data(&report_data, expected));
        examination
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn expected() -> ExpectedBinding {
        ExpectedBinding::runtime([7; 48])
    }

    fn failed(evidence: &Value) -> Vec<&'static str> {
        let examination = SampleVerifier.examine(evidence, &expected(), AT);
        assert!(!examination.verified());
        examination.failed_checks().iter().map(|c| c.name).collect()
    }

    #[test]
    fn accepts_bound_evidence_plain_and_padded() {
        for report_data in [vec![7u8; 48], [vec![7u8; 48], vec![0u8; 16]].concat()] {
            let evidence = json!({"svn": "3", "report_data": STANDARD.encode(&report_data)});
            let examination = SampleVerifier.examine(&evidence, &expected(), AT);
            assert!(examination.verified(), "{:?}", examination.checks);
            assert_eq!(examination.claims["svn"], 3);
            assert_eq!(examination.claims["report_data"], hex::encode(&report_data));
        }
    }

    #[test]
    fn rejects_wrong_binding() {
        let mut data = vec![7u8; 48];
        data[47] = 8;
        let evidence = json!({"svn": "1", "report_data": STANDARD.encode(&data)});
        assert_eq!(failed(&evidence), ["report_data"]);
        let padded_with_junk = [vec![7u8; 48], vec![1u8; 16]].concat();
        let evidence = json!({"svn": "1", "report_data": STANDARD.encode(&padded_with_junk)});
        assert_eq!(failed(&evidence), ["report_data"]);
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
            assert_eq!(failed(&evidence), ["evidence_format"], "{evidence}");
        }
    }
}
