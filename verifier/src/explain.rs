//! Explainable appraisal: the decision trace of one appraisal, every step with its outcome.
//!
//! Steps come in three stages, in order:
//! * `evidence`: each check the TEE verifier ran (parse, signature, chain, collateral
//!   freshness, TCB, binding, ...), as the examination recorded it;
//! * `reference_value`: each reference value in force for the TEE compared with the claim its
//!   key constrains, as the TEE's schema (`reference::SCHEMAS`) says: a listed claim, a lower
//!   bound, the PCR tree or the event log's digests, looked up at the top of the claims or under
//!   the hardware report (`snp`, `tdx`) for Azure. On a mismatch of hex values the step names
//!   the nearest allowed value and the bytes that differ. Keys the policy alone applies (flags,
//!   statuses, minimum TCB) and values under names without a schema are shown, not compared;
//! * `policy`: each claim of the AR4SI trust vector the appraisal policy produced, with its
//!   tier, or the policy's error.
//!
//! The trace explains; it never decides. The verdict is the policy's, and the comparisons here
//! mirror the shipped policy's conventions so an operator can see which value to fix.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ear::{Status, TrustVector};
use crate::reference::Constraint;
use crate::tee::{Examination, Rejection};

/// The stage of the appraisal a trace step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A check the TEE verifier ran on the evidence.
    Evidence,
    /// A reference value compared with the claim it constrains (or shown, when not compared).
    ReferenceValue,
    /// A claim of the trust vector the appraisal policy produced, or the policy's error.
    Policy,
}

/// The allowed value closest to a claim that matched none, and where they differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nearest {
    /// The allowed value, as lower-case hex.
    pub value: String,
    /// Indexes of the differing bytes.
    pub differing_bytes: Vec<usize>,
    /// Length of the values in bytes.
    pub length: usize,
}

/// One step of a decision trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    /// The stage the step belongs to.
    pub stage: Stage,
    /// Dotted name, e.g. `evidence.report_signature` or `reference_values.snp.measurement`.
    pub name: String,
    /// `None` for an entry shown but not compared.
    pub ok: Option<bool>,
    /// What was found, in words.
    pub detail: String,
    /// For a hex claim that matched no allowed value, the nearest allowed value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest: Option<Nearest>,
}

/// Counts and failed step names: what the EAR token carries (`warden.trace`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TraceSummary {
    /// Number of steps that passed.
    pub passed: usize,
    /// Names of the steps that failed, in trace order.
    pub failed: Vec<String>,
}

/// The decision trace of one appraisal: every step with its outcome, in stage order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionTrace {
    /// The steps, evidence first, then reference values, then policy.
    pub steps: Vec<TraceStep>,
}

impl DecisionTrace {
    /// The trace of an appraisal of `tee` evidence: its examination (`None` when no verifier
    /// ran), the reference values in force at the appraisal time (`{name: value}`), and the
    /// policy's trust vector or the rejection.
    pub fn build(
        tee: &str,
        examination: Option<&Examination>,
        reference_values: &Value,
        outcome: Result<&TrustVector, &Rejection>,
    ) -> Self {
        let mut steps: Vec<TraceStep> = examination
            .into_iter()
            .flat_map(|ex| &ex.checks)
            .map(|check| TraceStep {
                stage: Stage::Evidence,
                name: format!("evidence.{}", check.name),
                ok: Some(check.ok),
                detail: check.detail.clone(),
                nearest: None,
            })
            .collect();
        let verified = examination.is_some_and(Examination::verified);
        if verified && let Some(ex) = examination {
            steps.extend(compare_reference_values(
                tee,
                &ex.claims,
                reference_values,
                Depth::Full,
            ));
        }
        match outcome {
            Ok(vector) => steps.extend(policy_steps(vector)),
            Err(Rejection::Policy(error)) => steps.push(TraceStep {
                stage: Stage::Policy,
                name: "policy".into(),
                ok: Some(false),
                detail: error.clone(),
                nearest: None,
            }),
            Err(rejection) if examination.is_none() => steps.push(TraceStep {
                stage: Stage::Evidence,
                name: "evidence".into(),
                ok: Some(false),
                detail: rejection.to_string(),
                nearest: None,
            }),
            Err(_) => {}
        }
        DecisionTrace { steps }
    }

    /// Counts and failed step names, as carried in the token.
    pub fn summary(&self) -> TraceSummary {
        summarise(&self.steps)
    }

    /// The steps that failed.
    pub fn failed(&self) -> impl Iterator<Item = &TraceStep> {
        self.steps.iter().filter(|step| step.ok == Some(false))
    }
}

fn summarise(steps: &[TraceStep]) -> TraceSummary {
    TraceSummary {
        passed: steps.iter().filter(|step| step.ok == Some(true)).count(),
        failed: steps
            .iter()
            .filter(|step| step.ok == Some(false))
            .map(|step| step.name.clone())
            .collect(),
    }
}

/// The summary of the reference-value and policy stages of a verified appraisal: cheap enough
/// for every token (the nearest-value search is skipped).
pub fn summary_of_judgement(
    tee: &str,
    claims: &Map<String, Value>,
    reference_values: &Value,
    vector: &TrustVector,
) -> TraceSummary {
    let mut steps = compare_reference_values(tee, claims, reference_values, Depth::Summary);
    steps.extend(policy_steps(vector));
    summarise(&steps)
}

const TRUST_CLAIMS: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

fn policy_steps(vector: &TrustVector) -> Vec<TraceStep> {
    let values = [
        vector.instance_identity,
        vector.configuration,
        vector.executables,
        vector.file_system,
        vector.hardware,
        vector.runtime_opaque,
        vector.storage_opaque,
        vector.sourced_data,
    ];
    TRUST_CLAIMS
        .iter()
        .zip(values)
        .filter_map(|(name, value)| {
            let value = value?;
            let tier = Status::of_claim(value);
            Some(TraceStep {
                stage: Stage::Policy,
                name: format!("policy.{name}"),
                ok: Some(matches!(tier, Status::Affirming | Status::None)),
                detail: format!("{value} ({tier})"),
                nearest: None,
            })
        })
        .collect()
}

/// Where a constrained claim may sit: the top of the claims, or under the hardware report of
/// an Azure vTPM result.
const NESTED_CLAIMS: [&str; 2] = ["snp", "tdx"];

/// The claim at `path` (`.`-separated), whose first segment may sit at the top of the claims
/// or under the hardware report.
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let first = segments.next()?;
    let levels = std::iter::once(Some(claims)).chain(
        NESTED_CLAIMS
            .iter()
            .map(|nested| claims.get(*nested).and_then(Value::as_object)),
    );
    let start = levels.flatten().find_map(|level| level.get(first))?;
    segments.try_fold(start, |value, segment| value.get(segment))
}

/// Whether a mismatch is worth searching for its nearest allowed value (the full trace) or only
/// counts (the summary every token carries).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    Full,
    Summary,
}

fn compare_reference_values(
    tee: &str,
    claims: &Map<String, Value>,
    reference_values: &Value,
    depth: Depth,
) -> Vec<TraceStep> {
    let Some(reference) = reference_values.get(tee).and_then(Value::as_object) else {
        return vec![TraceStep {
            stage: Stage::ReferenceValue,
            name: format!("reference_values.{tee}"),
            ok: Some(false),
            detail: format!("no reference values named {tee:?} are in force"),
            nearest: None,
        }];
    };
    let schema = crate::reference::schema(tee);
    let mut steps = Vec::new();
    for (key, allowed) in reference {
        let name = format!("reference_values.{tee}.{key}");
        let constraint = schema
            .and_then(|schema| schema.key(key))
            .map_or(Constraint::PolicyOnly, |key| key.constraint);
        match (constraint, allowed) {
            (Constraint::Pcrs, _) => steps.extend(compare_pcrs(&name, claims, allowed, depth)),
            (Constraint::EventDigests, _) => {
                steps.extend(compare_event_digests(&name, claims, allowed));
            }
            (Constraint::Listed(claim), Value::Array(list)) => {
                steps.push(compare_listed(
                    name,
                    claim_at(claims, claim),
                    claim,
                    list,
                    depth,
                ));
            }
            (Constraint::AtLeast(claim), Value::Number(bound)) => steps.push(compare_minimum(
                name,
                claim_at(claims, claim),
                claim,
                bound.as_f64().unwrap_or(f64::INFINITY),
            )),
            _ => steps.push(TraceStep {
                stage: Stage::ReferenceValue,
                name,
                ok: None,
                detail: format!("{allowed} (applied by the policy, not compared here)"),
                nearest: None,
            }),
        }
    }
    steps
}

fn compare_pcrs(
    name: &str,
    claims: &Map<String, Value>,
    allowed: &Value,
    depth: Depth,
) -> Vec<TraceStep> {
    let mut steps = Vec::new();
    for (bank, pcrs) in allowed.as_object().into_iter().flatten() {
        for (pcr, values) in pcrs.as_object().into_iter().flatten() {
            let claim = claims
                .get("pcrs")
                .and_then(|pcrs| pcrs.get(bank))
                .and_then(|bank| bank.get(pcr));
            let list = values.as_array().map(Vec::as_slice).unwrap_or_default();
            steps.push(compare_listed(
                format!("{name}.{bank}.{pcr}"),
                claim,
                &format!("PCR {pcr} ({bank})"),
                list,
                depth,
            ));
        }
    }
    steps
}

/// Every event the log extended into each listed PCR against that PCR's allowed digests.
fn compare_event_digests(
    name: &str,
    claims: &Map<String, Value>,
    allowed: &Value,
) -> Vec<TraceStep> {
    let log = claims.get("event_log");
    let mut steps = Vec::new();
    for (pcr, digests) in allowed.as_object().into_iter().flatten() {
        let digests = digests.as_array().map(Vec::as_slice).unwrap_or_default();
        let replayed = log
            .and_then(|log| log.get("replayed_pcrs"))
            .and_then(Value::as_array)
            .is_some_and(|replayed| {
                replayed.iter().any(|index| {
                    index
                        .as_u64()
                        .is_some_and(|index| index.to_string() == *pcr)
                })
            });
        let (ok, detail) = match log {
            None => (false, "the evidence has no verified event log".to_owned()),
            Some(_) if !replayed => (
                false,
                format!("the verified event log has no events for PCR {pcr}"),
            ),
            Some(log) => {
                let events = log
                    .get("pcr_events")
                    .and_then(|events| events.get(pcr))
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let unlisted: Vec<&str> = events
                    .iter()
                    .filter_map(|event| event.get("digest"))
                    .filter(|digest| !digests.iter().any(|allowed| same(digest, allowed)))
                    .map(|digest| digest.as_str().unwrap_or_default())
                    .collect();
                if unlisted.is_empty() {
                    (
                        true,
                        format!("all {} events of PCR {pcr} are listed", events.len()),
                    )
                } else {
                    (
                        false,
                        format!(
                            "{} of {} events of PCR {pcr} are not listed: {}",
                            unlisted.len(),
                            events.len(),
                            unlisted.join(", ")
                        ),
                    )
                }
            }
        };
        steps.push(TraceStep {
            stage: Stage::ReferenceValue,
            name: format!("{name}.{pcr}"),
            ok: Some(ok),
            detail,
            nearest: None,
        });
    }
    steps
}

fn compare_minimum(name: String, claim: Option<&Value>, claim_name: &str, bound: f64) -> TraceStep {
    let (ok, detail) = match claim.and_then(Value::as_f64) {
        Some(value) if value >= bound => (true, format!("{claim_name} {value} ≥ {bound}")),
        Some(value) => (
            false,
            format!("{claim_name} {value} is below the minimum {bound}"),
        ),
        None => (
            false,
            format!("the evidence has no numeric claim {claim_name}"),
        ),
    };
    TraceStep {
        stage: Stage::ReferenceValue,
        name,
        ok: Some(ok),
        detail,
        nearest: None,
    }
}

/// Exact, as the policy compares (reference values are refused unless lower-case hex).
fn same(claim: &Value, allowed: &Value) -> bool {
    claim == allowed
}

fn compare_listed(
    name: String,
    claim: Option<&Value>,
    what: &str,
    list: &[Value],
    depth: Depth,
) -> TraceStep {
    let step = |ok, detail, nearest| TraceStep {
        stage: Stage::ReferenceValue,
        name: name.clone(),
        ok: Some(ok),
        detail,
        nearest,
    };
    let Some(claim) = claim else {
        return step(false, format!("the evidence has no claim {what}"), None);
    };
    let shown = claim
        .as_str()
        .map_or_else(|| claim.to_string(), str::to_owned);
    if list.iter().any(|allowed| same(claim, allowed)) {
        return step(true, format!("{what} {shown} is listed"), None);
    }
    let nearest = match depth {
        Depth::Full => claim.as_str().and_then(|claim| nearest_hex(claim, list)),
        Depth::Summary => None,
    };
    let detail = match &nearest {
        Some(near) => format!(
            "{what} {shown} is not among the {} allowed; nearest {} differs in {} of {} bytes",
            list.len(),
            near.value,
            near.differing_bytes.len(),
            near.length
        ),
        None => format!("{what} {shown} is not among the {} allowed", list.len()),
    };
    step(false, detail, nearest)
}

/// The allowed hex value of the claim's length with the fewest differing bytes.
fn nearest_hex(claim: &str, list: &[Value]) -> Option<Nearest> {
    let claim_bytes = hex::decode(claim).ok()?;
    list.iter()
        .filter_map(Value::as_str)
        .filter_map(|text| {
            let bytes = hex::decode(text).ok()?;
            (bytes.len() == claim_bytes.len()).then(|| Nearest {
                value: text.to_lowercase(),
                differing_bytes: (0..bytes.len())
                    .filter(|&i| bytes[i] != claim_bytes[i])
                    .collect(),
                length: bytes.len(),
            })
        })
        .min_by_key(|near| near.differing_bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tee::Check;
    use serde_json::json;

    fn examination(claims: Value) -> Examination {
        Examination {
            claims: claims.as_object().unwrap().clone(),
            checks: vec![Check::pass("report_signature", "signed by the VCEK")],
            insecure: Vec::new(),
        }
    }

    #[test]
    fn a_wrong_measurement_names_the_nearest_listed_value_and_the_differing_bytes() {
        let ex = examination(json!({"measurement": "aabbcc", "guest_svn": 1, "vmpl": 0}));
        let reference = json!({"snp": {
            "measurements": ["000000", "aabbcd"],
            "vmpls": [0],
            "min_guest_svn": 2,
            "allow_debug": false,
        }});
        let vector = TrustVector {
            executables: Some(33),
            hardware: Some(2),
            ..TrustVector::default()
        };
        let trace = DecisionTrace::build("snp", Some(&ex), &reference, Ok(&vector));
        let failed: Vec<&str> = trace.failed().map(|step| step.name.as_str()).collect();
        assert_eq!(
            failed,
            [
                "reference_values.snp.measurements",
                "reference_values.snp.min_guest_svn",
                "policy.executables"
            ]
        );
        let measurement = &trace.steps[1];
        assert_eq!(
            measurement.nearest,
            Some(Nearest {
                value: "aabbcd".into(),
                differing_bytes: vec![2],
                length: 3
            })
        );
        assert!(measurement.detail.contains("differs in 1 of 3 bytes"));
        let debug = trace
            .steps
            .iter()
            .find(|step| step.name.ends_with("allow_debug"))
            .unwrap();
        assert_eq!(debug.ok, None);
        let summary = trace.summary();
        assert_eq!(summary.failed.len(), 3);
        assert_eq!(summary.passed, 3, "{trace:#?}");
        assert_eq!(
            summary_of_judgement("snp", &ex.claims, &reference, &vector).failed,
            summary.failed
        );
    }

    #[test]
    fn pcrs_nested_hardware_claims_and_missing_reference_values_are_explained() {
        let ex = examination(json!({
            "pcrs": {"sha256": {"0": "00", "7": "11"}},
            "snp": {"measurement": "ab"},
        }));
        let reference = json!({"az-snp-vtpm": {
            "pcrs": {"sha256": {"0": ["00"], "7": ["12"]}},
            "measurements": ["ab"],
        }});
        let trace = DecisionTrace::build(
            "az-snp-vtpm",
            Some(&ex),
            &reference,
            Ok(&TrustVector::default()),
        );
        let outcome = |suffix: &str| {
            trace
                .steps
                .iter()
                .find(|step| step.name.ends_with(suffix))
                .unwrap()
                .ok
        };
        assert_eq!(outcome("pcrs.sha256.0"), Some(true));
        assert_eq!(outcome("pcrs.sha256.7"), Some(false));
        assert_eq!(outcome("measurements"), Some(true));

        let none = DecisionTrace::build("tdx", Some(&ex), &json!({}), Ok(&TrustVector::default()));
        assert_eq!(none.failed().next().unwrap().name, "reference_values.tdx");
        let rejected = DecisionTrace::build(
            "tdx",
            None,
            &json!({}),
            Err(&Rejection::Policy("undefined".into())),
        );
        assert_eq!(rejected.summary().failed, ["policy"]);
    }
}
