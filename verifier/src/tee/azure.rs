//! Azure confidential VMs: `az-snp-vtpm` and `az-tdx-vtpm` (evidence and HCL report format in
//! [`warden_wire::azure`]). The hardware report is verified by the SNP or TDX module with its
//! report data required to be SHA-256(runtime claims), which makes the runtime claims — and the
//! vTPM AK in them — as trustworthy as the hardware; the vTPM quote is then verified with that
//! AK like any TPM quote ([`super::tpm::quote`]), with the expected binding as its nonce.
//!
//! Checks: `evidence_format`, then the hardware module's checks (its `report_data` check is
//! reported as `runtime_claims`: the hardware report binds the claims); for TDX also
//! `td_report_claims` (the HCL report's TDREPORT binds the claims too), `td_report_td_info` (the
//! TD quote carries the TDREPORT's measurements and attributes) and `td_report_quote` (the
//! TD quote carries the TDREPORT's REPORTDATA); `ak_key`, and the quote checks `quote_hash`,
//! `quote_signature`, `pcr_digest`, `report_data` (the quote's `extraData` is the binding).
//!
//! Claims: the hardware module's claims under `snp` or `tdx`; `vm_configuration` and
//! `user_data` from the runtime claims; `ak` (`key`, `spki_sha256`, `trust`:
//! `hcl_runtime_claims`); the TPM claims `pcrs`, `quote` and `report_data`.

use std::ops::Range;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_wire::azure::{AzureEvidence, HardwareReport, HclReport, RuntimeClaims, TD_REPORT_LEN};
use warden_wire::tdx::{Quote, TdReport};
use warden_wire::tpm::{Attest, HashAlg, Signature, SignedQuote};

use super::snp::{SnpEvidence, SnpVerifier};
use super::tdx::{TdxEvidence, TdxVerifier};
use super::tpm::quote::{QuotePolicy, appraise_quotes, check_init_data};
use super::tpm::trust::AkKey;
use super::{Check, DecodingVerifier, Examination, ExpectedBinding, Tee, check_report_data};

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
        let mut td_report_checks = Vec::new();
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
                td_report_checks =
                    check_td_report(&report.hw_report, td_quote, &claims_binding).to_vec();
                (
                    "tdx",
                    tdx.examine_decoded(&tdx_evidence, &claims_binding, at),
                )
            }
        };
        let hardware_ok = hardware.verified() && td_report_checks.iter().all(|check| check.ok);
        for check in hardware.checks {
            ex.checks.push(if check.name == "report_data" {
                binds_runtime_claims("runtime_claims", &format!("the {label}"), check)
            } else {
                check
            });
        }
        ex.checks.extend(td_report_checks);
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

/// Renames a [`check_report_data`] check against the runtime-claims binding to `name`, saying
/// which report binds the claims.
fn binds_runtime_claims(name: &'static str, report: &str, check: Check) -> Check {
    Check {
        name,
        detail: format!(
            "{report} report data vs SHA-256(runtime claims): {}",
            check.detail
        ),
        ..check
    }
}

/// REPORTDATA in a TDREPORT: REPORTMACSTRUCT holds REPORTTYPE (8 bytes), reserved (8), CPUSVN
/// (16), TEE_TCB_INFO_HASH (48) and TEE_INFO_HASH (48), then REPORTDATA (64).
const TD_REPORT_DATA: Range<usize> = 128..192;

/// TDINFO in a TDREPORT (after REPORTMACSTRUCT, 256 bytes, and TEE_TCB_INFO with its padding,
/// 256 bytes): ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0-3, the
/// fields a TD quote's body carries in the same order.
const TD_INFO_MEASURED: Range<usize> = 512..912;

/// The quote body's copy of the TDREPORT's TDINFO fields, in TDINFO's order.
fn quoted_td_info(body: &TdReport<'_>) -> Vec<u8> {
    let mut info = Vec::with_capacity(TD_INFO_MEASURED.len());
    info.extend_from_slice(&body.td_attributes());
    info.extend_from_slice(&body.xfam());
    for field in [
        body.mr_td(),
        body.mr_config_id(),
        body.mr_owner(),
        body.mr_owner_config(),
    ] {
        info.extend_from_slice(field);
    }
    for index in 0..4 {
        info.extend_from_slice(body.rtmr(index).unwrap_or_default());
    }
    info
}

/// The HCL report's TDREPORT is the one the TD quote was made from: its REPORTDATA must bind the
/// runtime claims exactly as the SNP report's does (`td_report_claims`), the quote must carry
/// the same REPORTDATA (`td_report_quote`) and the same measurements and attributes
/// (`td_report_td_info`). Nothing off the platform can check the TDREPORT's MAC; these checks
/// keep the HCL report from pairing a quote with another TDREPORT.
fn check_td_report(td_report: &[u8], td_quote: &[u8], claims: &ExpectedBinding) -> [Check; 3] {
    const CLAIMS: &str = "td_report_claims";
    const QUOTE: &str = "td_report_quote";
    const TD_INFO: &str = "td_report_td_info";
    let (Some(report_data), Some(td_info)) = (
        td_report.get(TD_REPORT_DATA),
        td_report.get(TD_INFO_MEASURED),
    ) else {
        let truncated = "the HCL report's TDREPORT is truncated";
        return [
            Check::fail(CLAIMS, truncated),
            Check::fail(QUOTE, truncated),
            Check::fail(TD_INFO, truncated),
        ];
    };
    let bound = binds_runtime_claims(
        CLAIMS,
        "the TDREPORT",
        check_report_data(report_data, claims),
    );
    let quote = match Quote::parse(td_quote) {
        Ok(quote) => quote,
        Err(e) => {
            let unparsed = format!("the TD quote does not parse: {e}");
            return [
                bound,
                Check::fail(QUOTE, unparsed.clone()),
                Check::fail(TD_INFO, unparsed),
            ];
        }
    };
    let body = quote.body();
    let quoted = if body.report_data() == report_data {
        Check::pass(
            QUOTE,
            "the TD quote's REPORTDATA equals the TDREPORT's REPORTDATA",
        )
    } else {
        Check::fail(
            QUOTE,
            format!(
                "the TD quote's REPORTDATA {} differs from the TDREPORT's REPORTDATA {}",
                hex::encode(body.report_data()),
                hex::encode(report_data)
            ),
        )
    };
    let measured = if quoted_td_info(&body) == td_info {
        Check::pass(
            TD_INFO,
            "the TD quote's attributes, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMRs equal the TDREPORT's TDINFO",
        )
    } else {
        Check::fail(
            TD_INFO,
            "the TD quote's attributes, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG or RTMRs differ from the TDREPORT's TDINFO",
        )
    };
    [bound, quoted, measured]
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
