//! The appraisal pipeline: TEE verifier → appraisal policy → attestation result.

use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_wire::InitData;

use crate::ear::{Status, TrustVector};
use crate::explain::{DecisionTrace, TraceSummary, summary_of_judgement};
use crate::policy::RegoPolicy;
use crate::policy::native::{self, DefaultPolicyInput};
use crate::reference::ReferenceValues;
use crate::registry::VerifierRegistry;
use crate::tee::{Claims, Examination, ExpectedBinding, Rejection, Tee, Verifier};

/// The rule the appraisal policy must define: an object of AR4SI claims.
pub const APPRAISAL_RULE: &str = "data.warden.appraisal.trust_vector";
/// The appraisal policy shipped in `policies/appraisal.rego`.
pub const DEFAULT_APPRAISAL_POLICY: &str = include_str!("../../policies/appraisal.rego");

/// One piece of evidence to appraise.
pub struct AppraisalRequest<'a> {
    /// TEE name as sent on the wire.
    pub tee: &'a str,
    /// The evidence as JSON (its format is the TEE's).
    pub evidence: &'a Value,
    /// Report data and init-data digest the evidence must carry. Init-data presented for a TEE
    /// that cannot bind it is refused rather than passed on unverified.
    pub expected: ExpectedBinding,
    /// The init-data the client presented; the appraisal policy sees its document as
    /// `input.init_data` once the evidence is verified to bind `expected.init_data_digest` and
    /// that digest is this init-data's (see [`crate::init_data`]).
    pub init_data: Option<InitData>,
}

/// An appraisal with its working shown: the verifier's examination (claims and every check) and
/// the verdict. The CLI prints both; the KBS needs only the verdict.
#[derive(Debug, Clone)]
pub struct Appraisal {
    /// The verifier's examination; `None` when no verifier ran (unknown or disabled TEE,
    /// init-data it cannot bind).
    pub examination: Option<Examination>,
    /// The verdict, or why the evidence was refused.
    pub result: Result<AttestationResult, Rejection>,
    /// Every step of the appraisal with its outcome (see [`crate::explain`]).
    pub trace: DecisionTrace,
}

/// The verdict on one piece of evidence, before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationResult {
    /// The TEE that produced the evidence.
    pub tee: Tee,
    /// The overall tier: the worst tier in the trust vector.
    pub status: Status,
    /// The AR4SI trust vector the appraisal policy produced.
    pub trust_vector: TrustVector,
    /// The verified claims the policy read.
    pub claims: Claims,
    /// `<policy id>@sha256:<digest>` of the appraisal policy used.
    pub policy_id: String,
    /// Why the result carries no hardware assurance; empty for a hardware-backed result.
    pub insecure_reasons: Vec<String>,
    /// The reference-value comparisons and policy outcome, summarised (carried in the token).
    pub trace: TraceSummary,
}

/// Appraises evidence with the enabled verifiers, the current appraisal policy and the current
/// reference values. Policy and reference values are swapped atomically as whole snapshots.
pub struct Appraiser {
    registry: VerifierRegistry,
    policy: RwLock<Arc<RegoPolicy>>,
    reference_values: RwLock<Arc<ReferenceValues>>,
}

impl Appraiser {
    /// An appraiser with these verifiers, appraisal policy and reference values.
    pub fn new(
        registry: VerifierRegistry,
        policy: RegoPolicy,
        reference_values: ReferenceValues,
    ) -> Self {
        Self {
            registry,
            policy: RwLock::new(Arc::new(policy)),
            reference_values: RwLock::new(Arc::new(reference_values)),
        }
    }

    /// Compiles an appraisal policy, checking it defines [`APPRAISAL_RULE`].
    pub fn compile_policy(id: &str, source: &str) -> Result<RegoPolicy, crate::PolicyError> {
        RegoPolicy::compile(id, source, &[APPRAISAL_RULE])
    }

    /// The verifiers this appraiser resolves TEE names with.
    pub fn registry(&self) -> &VerifierRegistry {
        &self.registry
    }

    /// Replaces the appraisal policy; appraisals already running finish with the old one.
    pub fn set_policy(&self, policy: RegoPolicy) {
        // A poisoned lock only means another thread panicked mid-swap of an Arc; the value is whole.
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    /// Replaces the reference values; appraisals already running finish with the old ones.
    pub fn set_reference_values(&self, values: ReferenceValues) {
        *self
            .reference_values
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(values);
    }

    /// The current appraisal policy.
    pub fn policy(&self) -> Arc<RegoPolicy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current reference values.
    pub fn reference_values(&self) -> Arc<ReferenceValues> {
        self.reference_values
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Verifies the evidence and appraises its claims at time `at`.
    pub fn appraise(
        &self,
        request: &AppraisalRequest<'_>,
        at: OffsetDateTime,
    ) -> Result<AttestationResult, Rejection> {
        self.appraise_with(request, &self.policy(), at)
    }

    /// [`Appraiser::appraise`] with another appraisal policy than the appraiser's own.
    pub fn appraise_with(
        &self,
        request: &AppraisalRequest<'_>,
        policy: &RegoPolicy,
        at: OffsetDateTime,
    ) -> Result<AttestationResult, Rejection> {
        let (verifier, examination) = self.examine(request, at)?;
        if !examination.verified() {
            return Err(Rejection::Evidence(examination.failed_checks()));
        }
        let insecure_reasons = insecure_reasons(verifier.as_ref(), &examination);
        // The request path moves the claims into the result; only the CLI keeps a copy.
        let reference_values = self.reference_values().to_json_at(at.unix_timestamp());
        judge(
            policy,
            verifier.tee(),
            examination.claims,
            insecure_reasons,
            bound_init_data(request).as_ref(),
            &reference_values,
        )
    }

    /// [`Appraiser::appraise`], also returning the verifier's examination when one ran and the
    /// whole decision trace.
    pub fn appraise_detailed(
        &self,
        request: &AppraisalRequest<'_>,
        at: OffsetDateTime,
    ) -> Appraisal {
        self.appraise_detailed_with(request, &self.policy(), at)
    }

    /// [`Appraiser::appraise_detailed`] with another appraisal policy than the appraiser's own
    /// (the verifier service's named policies).
    pub fn appraise_detailed_with(
        &self,
        request: &AppraisalRequest<'_>,
        policy: &RegoPolicy,
        at: OffsetDateTime,
    ) -> Appraisal {
        let reference_values = self.reference_values().to_json_at(at.unix_timestamp());
        let (verifier, examination) = match self.examine(request, at) {
            Ok(examined) => examined,
            Err(rejection) => {
                let trace =
                    DecisionTrace::build(request.tee, None, &reference_values, Err(&rejection));
                return Appraisal {
                    examination: None,
                    result: Err(rejection),
                    trace,
                };
            }
        };
        let result = if examination.verified() {
            let insecure_reasons = insecure_reasons(verifier.as_ref(), &examination);
            judge(
                policy,
                verifier.tee(),
                examination.claims.clone(),
                insecure_reasons,
                bound_init_data(request).as_ref(),
                &reference_values,
            )
        } else {
            Err(Rejection::Evidence(examination.failed_checks()))
        };
        let trace = DecisionTrace::build(
            verifier.tee().name(),
            Some(&examination),
            &reference_values,
            result.as_ref().map(|result| &result.trust_vector),
        );
        Appraisal {
            examination: Some(examination),
            result,
            trace,
        }
    }

    /// Resolves the verifier and runs it. `Err` only when no verifier could run; the
    /// examination itself may still have failed checks.
    fn examine(
        &self,
        request: &AppraisalRequest<'_>,
        at: OffsetDateTime,
    ) -> Result<(Arc<dyn Verifier>, Examination), Rejection> {
        let verifier = self.registry.verifier_for(request.tee)?;
        if request.expected.init_data_digest.is_some() && !verifier.binds_init_data() {
            return Err(Rejection::InitDataUnbound(verifier.tee()));
        }
        let examination = verifier.examine(request.evidence, &request.expected, at);
        Ok((verifier, examination))
    }
}

/// Runs the appraisal policy over verified claims, with `reference_values` (the snapshot in
/// force at the appraisal time: the trace and the verdict see the same one).
fn judge(
    policy: &RegoPolicy,
    tee: Tee,
    claims: Claims,
    insecure_reasons: Vec<String>,
    init_data: Option<&Value>,
    reference_values: &Value,
) -> Result<AttestationResult, Rejection> {
    let insecure = !insecure_reasons.is_empty();
    let native = is_shipped_default(policy)
        .then(|| {
            native::default_trust_vector(&DefaultPolicyInput {
                tee: tee.name(),
                claims: &claims,
                reference_values,
                insecure,
            })
        })
        .flatten();
    let trust_vector = match native {
        // Release builds trust the differential test; debug builds (every test) check each one.
        Some(trust_vector) if !cfg!(debug_assertions) => trust_vector,
        native => {
            let input = json!({
                "tee": tee.name(),
                "claims": claims,
                "reference_values": reference_values,
                "insecure": insecure,
                "init_data": init_data,
            });
            let rego = evaluate_trust_vector(policy, &input)?;
            if native.as_ref().is_some_and(|native| *native != rego) {
                return Err(Rejection::Policy(format!(
                    "the native default policy answered {native:?}, its Rego text {rego:?}"
                )));
            }
            rego
        }
    };
    let trace = summary_of_judgement(tee.name(), &claims, reference_values, &trust_vector);
    Ok(AttestationResult {
        tee,
        status: trust_vector.status(),
        trust_vector,
        claims,
        policy_id: format!("{}@sha256:{}", policy.id(), policy.digest()),
        insecure_reasons,
        trace,
    })
}

/// Whether `policy` is the shipped default appraisal policy, byte for byte (then
/// [`native::default_trust_vector`] may decide in its place).
fn is_shipped_default(policy: &RegoPolicy) -> bool {
    static DEFAULT_DIGEST: OnceLock<String> = OnceLock::new();
    let default = DEFAULT_DIGEST
        .get_or_init(|| hex::encode(Sha256::digest(DEFAULT_APPRAISAL_POLICY.as_bytes())));
    policy.digest() == default
}

/// Evaluates [`APPRAISAL_RULE`] of `policy` on `input`: an AR4SI trust vector or a rejection.
fn evaluate_trust_vector(policy: &RegoPolicy, input: &Value) -> Result<TrustVector, Rejection> {
    let output = policy
        .evaluate(APPRAISAL_RULE, input)
        .map_err(|e| Rejection::Policy(e.to_string()))?;
    serde_json::from_value(output).map_err(|e| {
        Rejection::Policy(format!(
            "{APPRAISAL_RULE} is not an AR4SI trust vector: {e}"
        ))
    })
}

/// The init-data document the policy may see: only when its digest is the one the verifier was
/// asked to find bound (a verified examination then proves it was).
fn bound_init_data(request: &AppraisalRequest<'_>) -> Option<Value> {
    let wanted = request.expected.init_data_digest.as_deref()?;
    let (digest, document) = crate::init_data::read(request.init_data.as_ref()?).ok()?;
    (digest == wanted).then_some(document)
}

/// Why a result is insecure: the verifier's standing reason and the examination's own.
fn insecure_reasons(verifier: &dyn Verifier, examination: &Examination) -> Vec<String> {
    verifier
        .insecure_reason()
        .map(String::from)
        .into_iter()
        .chain(examination.insecure.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::VerifierSettings;
    use base64::Engine as _;

    fn appraiser(reference: Value) -> Appraiser {
        let registry = VerifierRegistry::new(&VerifierSettings {
            allow_insecure_sample: true,
            ..Default::default()
        });
        let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
        let values = serde_json::from_value(reference).unwrap();
        Appraiser::new(registry, policy, ReferenceValues::new(values))
    }

    fn sample_evidence(svn: u64) -> Value {
        json!({"svn": svn.to_string(), "report_data": base64::engine::general_purpose::STANDARD.encode([9u8; 48])})
    }

    fn request(evidence: &Value) -> AppraisalRequest<'_> {
        AppraisalRequest {
            init_data: None,
            tee: "sample",
            evidence,
            expected: ExpectedBinding::runtime([9; 48]),
        }
    }

    #[test]
    fn default_policy_affirms_sample_meeting_reference_values_and_marks_it_insecure() {
        let appraiser = appraiser(json!({"sample": {"min_svn": 2}}));
        let evidence = sample_evidence(2);
        let result = appraiser
            .appraise(&request(&evidence), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(result.status, Status::Affirming);
        assert_eq!(result.trust_vector.executables, Some(2));
        assert_eq!(
            result.trust_vector.hardware,
            Some(0),
            "sample makes no hardware claim"
        );
        assert_eq!(result.insecure_reasons.len(), 1);
        assert!(result.policy_id.starts_with("default@sha256:"));
    }

    #[test]
    fn below_reference_svn_is_a_warning() {
        let appraiser = appraiser(json!({"sample": {"min_svn": 5}}));
        let evidence = sample_evidence(4);
        let result = appraiser
            .appraise(&request(&evidence), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(result.status, Status::Warning);
    }

    #[test]
    fn without_reference_values_nothing_is_affirmed() {
        let appraiser = appraiser(json!({}));
        let evidence = sample_evidence(100);
        let result = appraiser
            .appraise(&request(&evidence), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert_ne!(result.status, Status::Affirming);
    }

    #[test]
    fn init_data_is_refused_for_a_tee_that_cannot_bind_it() {
        let appraiser = appraiser(json!({}));
        let evidence = sample_evidence(1);
        let mut req = request(&evidence);
        req.expected.init_data_digest = Some(vec![1; 32]);
        assert!(matches!(
            appraiser.appraise(&req, OffsetDateTime::UNIX_EPOCH),
            Err(Rejection::InitDataUnbound(Tee::Sample))
        ));
    }

    #[test]
    fn a_policy_returning_garbage_denies() {
        let appraiser = appraiser(json!({}));
        let policy = Appraiser::compile_policy(
            "bad",
            "package warden.appraisal\ntrust_vector := {\"hardware\": \"yes\"}\n",
        )
        .unwrap();
        appraiser.set_policy(policy);
        let evidence = sample_evidence(1);
        assert!(matches!(
            appraiser.appraise(&request(&evidence), OffsetDateTime::UNIX_EPOCH),
            Err(Rejection::Policy(_))
        ));
    }
}
