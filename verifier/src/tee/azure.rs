//! Azure confidential VMs: `az-snp-vtpm` and `az-tdx-vtpm` (evidence and HCL report format in
//! [`warden_wire::azure`]). The hardware report is verified by the SNP or TDX module with its
//! report data required to be SHA-256(runtime claims), which makes the runtime claims — and the
//! vTPM AK in them — as trustworthy as the hardware; the vTPM quote is then verified with that
//! AK like any TPM quote ([`super::tpm::quote`]), with the expected binding as its nonce.
//!
//! Checks: `evidence_format`, then the hardware module's checks (its `report_data` check is
//! reported as `runtime_claims`: the hardware report binds the claims), `ak_key`, and the
//! quote checks `quote_hash`, `quote_signature`, `pcr_digest`, `report_data` (the quote's
//! `extraData` is the binding).
//!
//! Claims: the hardware module's claims under `snp` or `tdx`; `vm_configuration` and
//! `user_data` from the runtime claims; `ak` (`key`, `spki_sha256`, `trust`:
//! `hcl_runtime_claims`); the TPM claims `pcrs`, `quote` and `report_data`.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_wire::azure::{AzureEvidence, HardwareReport, HclReport, RuntimeClaims, TD_REPORT_LEN};
use warden_wire::tpm::{Attest, HashAlg, Signature, SignedQuote};

use super::snp::{SnpEvidence, SnpVerifier};
use super::tdx::{TdxEvidence, TdxVerifier};
use super::tpm::quote::{QuotePolicy, appraise_quotes, check_init_data};
use super::tpm::trust::AkKey;
use super::{Check, DecodingVerifier, Examination, ExpectedBinding, Tee};

/// The hardware verifier an Azure CVM's HCL report is checked with.
#[derive(Clone)]
enum Hardware {
    Snp(Arc<SnpVerifier>),
    Tdx(Arc<TdxVerifier>),
}

/// The verifier for Azure confidential VMs (`az-snp-vtpm`, `az-tdx-vtpm`).
pub struct AzureVtpmVerifier {
    hardware: Hardware,
}

impl AzureVtpmVerifier {
    /// The `az-snp-vtpm` verifier, checking the hardware report with `snp`.
    pub fn snp(snp: Arc<SnpVerifier>) -> Self {
        Self {
            hardware: Hardware::Snp(snp),
        }
    }

    /// The `az-tdx-vtpm` verifier, checking the hardware report with `tdx`.
    pub fn tdx(tdx: Arc<TdxVerifier>) -> Self {
        Self {
            hardware: Hardware::Tdx(tdx),
        }
    }

    /// Examines already-decoded evidence (see the module documentation for the checks).
    pub fn examine_decoded(
        &self,
        evidence: &AzureEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        let decoded = decode(evidence, &self.hardware);
        let (report, claims, quote) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => return Examination::failed_at(Check::fail("evidence_format", e)),
        };
        let mut ex = Examination::default();
        ex.push(Check::pass(
            "evidence_format",
            format!("HCL report version {}, vTPM quote", report.version),
        ));

        // The hardware report must carry SHA-256(runtime claims), then zeros.
        let claims_binding = ExpectedBinding {
            report_data: Some(Sha256::digest(&report.runtime_claims).to_vec()),
            init_data_digest: None,
        };
        let (label, hardware) = match &self.hardware {
            Hardware::Snp(snp) => {
                let snp_evidence = SnpEvidence {
                    report: report.hw_report.clone(),
                    endorsements: evidence.vcek.iter().cloned().collect(),
                };
                (
                    "snp",
                    snp.examine_decoded(&snp_evidence, &claims_binding, at),
                )
            }
            Hardware::Tdx(tdx) => {
                let Some(td_quote) = &evidence.td_quote else {
                    ex.push(Check::fail("evidence_format", "no td_quote"));
                    return ex;
                };
                let tdx_evidence = TdxEvidence {
                    quote: td_quote.clone(),
                    event_log: None,
                };
                (
                    "tdx",
                    tdx.examine_decoded(&tdx_evidence, &claims_binding, at),
                )
            }
        };
        let hardware_ok = hardware.verified();
        for mut check in hardware.checks {
            if check.name == "report_data" {
                check.name = "runtime_claims";
                check.detail = format!(
                    "the {label} report data binds the runtime claims: {}",
                    check.detail
                );
            }
            ex.checks.push(check);
        }
        ex.insecure.extend(hardware.insecure);
        ex.claims
            .insert(label.into(), Value::Object(hardware.claims));
        ex.claims
            .insert("vm_configuration".into(), claims.vm_configuration.clone());
        if let Some(user_data) = &claims.user_data {
            ex.claims
                .insert("user_data".into(), Value::String(user_data.to_lowercase()));
        }
        if !hardware_ok {
            return ex;
        }

        let key = match AkKey::from_tpm_material(claims.ak.clone()) {
            Ok(key) => key,
            Err(e) => {
                ex.push(Check::fail("ak_key", e));
                return ex;
            }
        };
        ex.claims.insert(
            "ak".into(),
            json!({
                "key": key.describe(),
                "spki_sha256": hex::encode(key.spki_sha256),
                "trust": "hcl_runtime_claims",
            }),
        );
        ex.push(Check::pass(
            "ak_key",
            format!(
                "{} AK from the runtime claims the hardware report binds",
                key.describe()
            ),
        ));
        let pcrs = evidence
            .tpm_quote
            .pcrs
            .iter()
            .enumerate()
            .filter_map(|(pcr, value)| {
                Some(((HashAlg::Sha256, u32::try_from(pcr).ok()?), value.clone()))
            })
            .collect();
        if let Some(vouched) = appraise_quotes(
            &mut ex,
            &key.material,
            std::slice::from_ref(&quote),
            &pcrs,
            expected,
            &QuotePolicy { allow_sha1: false },
        ) {
            // Init-data goes to the vTPM's PCR 8: HOST_DATA / MRCONFIGID belong to Azure.
            check_init_data(&mut ex, expected, &vouched);
        }
        ex
    }
}

/// Parses the HCL report, its runtime claims and the quote, and checks the report's kind.
fn decode(
    evidence: &AzureEvidence,
    hardware: &Hardware,
) -> Result<(HclReport, RuntimeClaims, SignedQuote), String> {
    let report = HclReport::parse(&evidence.hcl_report).map_err(|e| e.to_string())?;
    let wanted = match hardware {
        Hardware::Snp(_) => HardwareReport::Snp,
        Hardware::Tdx(_) => HardwareReport::Tdx,
    };
    if report.kind != wanted {
        return Err(format!(
            "the HCL report holds a {:?} report, not {wanted:?}",
            report.kind
        ));
    }
    if report.kind == HardwareReport::Tdx && report.hw_report.len() < TD_REPORT_LEN {
        return Err("the HCL report's TDREPORT is truncated".into());
    }
    let claims = RuntimeClaims::parse(&report.runtime_claims).map_err(|e| e.to_string())?;
    let attest = Attest::parse(&evidence.tpm_quote.message)
        .map_err(|e| format!("tpm_quote.message: {e}"))?;
    let quote = SignedQuote {
        attest_bytes: evidence.tpm_quote.message.clone(),
        attest,
        signature: Signature::rsassa(HashAlg::Sha256, evidence.tpm_quote.signature.clone()),
    };
    Ok((report, claims, quote))
}

impl DecodingVerifier for AzureVtpmVerifier {
    type Evidence = AzureEvidence;
    type DecodeError = warden_wire::azure::AzureError;

    fn tee(&self) -> Tee {
        match self.hardware {
            Hardware::Snp(_) => Tee::AzSnpVtpm,
            Hardware::Tdx(_) => Tee::AzTdxVtpm,
        }
    }

    fn decode(evidence: &Value) -> Result<AzureEvidence, warden_wire::azure::AzureError> {
        AzureEvidence::from_value(evidence)
    }

    fn examine_evidence(
        &self,
        evidence: &AzureEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        self.examine_decoded(evidence, expected, at)
    }
}
