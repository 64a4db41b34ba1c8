//! CoCo's "sample" TEE: software-generated evidence for development and tests.
//!
//! The evidence shape matches CoCo's sample attester (`{"svn", "report_data"}`) so the Warden
//! verifier and Trustee treat it alike. Anyone can produce it, so it must never gate real secrets.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Attester, AttesterError};

/// Security version number reported when none is configured (CoCo's sample default).
pub const DEFAULT_SAMPLE_SVN: &str = "1";

/// Text shown wherever the sample attester is used.
pub const SAMPLE_INSECURE_REASON: &str =
    "sample TEE: software-only evidence with no hardware root of trust";

/// The sample attester; `svn` lets tests exercise SVN-based policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleAttester {
    svn: String,
}

impl SampleAttester {
    /// A sample attester reporting `svn` as its security version number.
    pub fn new(svn: impl Into<String>) -> Self {
        Self { svn: svn.into() }
    }

    /// The security version number put in the evidence.
    pub fn svn(&self) -> &str {
        &self.svn
    }
}

impl Default for SampleAttester {
    fn default() -> Self {
        Self::new(DEFAULT_SAMPLE_SVN)
    }
}

impl Attester for SampleAttester {
    fn tee(&self) -> &'static str {
        "sample"
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        Some(SAMPLE_INSECURE_REASON)
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        Ok(json!({
            "svn": self.svn,
            "report_data": STANDARD.encode(report_data),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_has_coco_sample_shape() {
        let report_data: [u8; 48] = std::array::from_fn(|i| i as u8);
        let evidence = SampleAttester::new("7").evidence(&report_data).unwrap();
        let object = evidence.as_object().unwrap();
        assert_eq!(object.len(), 2);
        assert_eq!(object["svn"], "7");
        let encoded = object["report_data"].as_str().unwrap();
        // Standard alphabet with padding: 48 bytes encode to exactly 64 characters.
        assert_eq!(encoded.len(), 64);
        assert_eq!(STANDARD.decode(encoded).unwrap(), report_data);
    }

    #[test]
    fn default_svn_and_insecurity_are_reported() {
        let attester = SampleAttester::default();
        let evidence = attester.evidence(&[0xff; 48]).unwrap();
        assert_eq!(evidence["svn"], "1");
        assert_eq!(
            attester.insecure_reason(),
            Some("sample TEE: software-only evidence with no hardware root of trust")
        );
    }
}
