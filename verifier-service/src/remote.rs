//! [`RemoteVerifier`]: the gRPC client of a verifier service, a [`VerifierBackend`] like the
//! embedded authority. Anything it cannot read is an error, never a guess: a result whose
//! status disagrees with its trust vector, or that names another policy than the one asked for,
//! is refused.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tonic::transport::Channel;
use tracing::warn;
use warden_proto::verifier::v1 as proto;
use warden_proto::verifier::v1::verifier_client::VerifierClient;
use warden_verifier::explain::TraceSummary;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::{AppraisalRequest, AttestationResult, Rejection, Status, Tee, TrustVector};

use crate::backend::{
    Appraisal, Appraised, BackendError, ImportSummary, PolicyChoice, PolicyLabel, PolicyListing,
    RegisteredAkInfo, VerifierBackend,
};
use crate::grpc::ERROR_KIND;
use crate::tls::TlsFiles;
use crate::{MAX_MESSAGE_BYTES, ServiceError};

/// How long a new connection may take (TCP; the TLS handshake is bounded by the call's time).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many answer bytes the service may send this client before it reads them, per call and
/// per connection. HTTP/2's 64 KiB default held back the answers of 16 concurrent appraisals
/// (claims and trace, several KiB each) until the client acknowledged earlier ones. Answers come
/// from the service this client chose; requests keep the server's own (default) windows.
const ANSWER_STREAM_WINDOW: u32 = 256 << 10;
const ANSWER_CONNECTION_WINDOW: u32 = 1 << 20;
/// How long a call may take by default, from the moment it is made: waiting for a channel
/// (connecting, the TLS handshake) included.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to a verifier service.
#[derive(Clone)]
pub struct RemoteVerifier {
    channel: Channel,
    call_timeout: Duration,
    /// The appraisal policy [`RemoteVerifier::appraise`] and
    /// [`RemoteVerifier::set_appraisal_policy`] use.
    policy: PolicyChoice,
}

/// What a remote appraisal gives: the result or the verifier's refusal, and the trace (JSON).
pub type RemoteAppraisal = (Result<AttestationResult, Rejection>, Value);

/// A failed call as the service meant it: the kind it named, else one read from the code.
fn failed(error: tonic::Status) -> BackendError {
    let message = error.message().to_owned();
    let named = error
        .metadata()
        .get(ERROR_KIND)
        .and_then(|kind| kind.to_str().ok())
        .and_then(|kind| BackendError::from_kind(kind, message.clone()));
    named.unwrap_or_else(|| match error.code() {
        tonic::Code::InvalidArgument => BackendError::Invalid(message),
        tonic::Code::NotFound => BackendError::NotFound(message),
        tonic::Code::FailedPrecondition => BackendError::Conflict(message),
        tonic::Code::PermissionDenied => BackendError::Forbidden(message),
        code => BackendError::Unavailable(format!("{code:?}: {message}")),
    })
}

fn unreadable(what: &str, detail: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("unreadable answer: {what}: {detail}"))
}

impl RemoteVerifier {
    /// Connects lazily to `url` (`https://host:port`), checking the server's certificate for
    /// `domain` against `tls.ca` and presenting `tls.cert`.
    pub fn connect(url: &str, domain: &str, tls: &TlsFiles) -> Result<Self, ServiceError> {
        // tonic uses TLS only for https URLs: any other scheme would silently be plaintext.
        if !url.starts_with("https://") {
            return Err(ServiceError::Setup(format!(
                "{url}: the verifier service is reached only over https (mutual TLS)"
            )));
        }
        let channel = Channel::from_shared(url.to_owned())
            .map_err(|e| ServiceError::Setup(format!("{url}: {e}")))?
            .tls_config(tls.client_config(domain)?)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .initial_stream_window_size(ANSWER_STREAM_WINDOW)
            .initial_connection_window_size(ANSWER_CONNECTION_WINDOW)
            .connect_lazy();
        Ok(Self {
            channel,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            policy: PolicyChoice::Default,
        })
    }

    /// Bounds every call to `timeout` in all, connecting included.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// A client whose every call ends within the call timeout: the deadline wraps the channel,
    /// so it also covers waiting for a connection that never completes its handshake.
    fn client(&self) -> VerifierClient<tower::timeout::Timeout<Channel>> {
        VerifierClient::new(tower::timeout::Timeout::new(
            self.channel.clone(),
            self.call_timeout,
        ))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Appraises with, and sets, the service's policy `id` instead of its default one.
    pub fn with_policy_id(mut self, id: &str) -> Result<Self, BackendError> {
        self.policy = PolicyChoice::parse(id)?;
        Ok(self)
    }

    /// A result or a set naming another policy than `choice` is an error: a service that
    /// ignored the id (e.g. one predating it) must not be taken to have applied it.
    fn check_label(label: &str, choice: &PolicyChoice) -> Result<PolicyLabel, BackendError> {
        let label = PolicyLabel::parse(label)?;
        match choice {
            PolicyChoice::Named(id) if *id != label.id => Err(BackendError::Unavailable(format!(
                "the service used policy {label} instead of {id:?}"
            ))),
            _ => Ok(label),
        }
    }

    /// Appraises `request` with this client's policy (`request.expected.report_data` is sent
    /// as it is).
    pub async fn appraise(
        &self,
        request: &AppraisalRequest<'_>,
    ) -> Result<RemoteAppraisal, BackendError> {
        self.appraise_with(request, &self.policy, true).await
    }

    /// Appraises `request` with `policy`, sending its expected report data; the trace is
    /// `null` unless `with_trace`.
    async fn appraise_with(
        &self,
        request: &AppraisalRequest<'_>,
        policy: &PolicyChoice,
        with_trace: bool,
    ) -> Result<RemoteAppraisal, BackendError> {
        let message = proto::AppraiseRequest {
            report_data: request.expected.report_data.clone().unwrap_or_default(),
            omit_trace: !with_trace,
            ..self.message(request, policy)
        };
        self.call_appraise(message, policy)
            .await
            .map(|(appraisal, _token)| appraisal)
    }

    /// Appraises evidence that binds CoCo runtime data (`nonce`, the TEE key `tee_pubkey` as a
    /// JWK, `additional_evidence`): the service derives the binding itself and returns, with a
    /// result, its EAR token carrying that nonce and key. `request.expected.report_data` is
    /// not sent.
    pub async fn appraise_signed(
        &self,
        request: &AppraisalRequest<'_>,
        nonce: &str,
        tee_pubkey: &Value,
        additional_evidence: &str,
    ) -> Result<(RemoteAppraisal, String), BackendError> {
        let message = proto::AppraiseRequest {
            nonce: nonce.to_owned(),
            tee_pubkey_json: tee_pubkey.to_string(),
            additional_evidence: additional_evidence.to_owned(),
            ..self.message(request, &self.policy)
        };
        self.call_appraise(message, &self.policy).await
    }

    fn message(
        &self,
        request: &AppraisalRequest<'_>,
        policy: &PolicyChoice,
    ) -> proto::AppraiseRequest {
        let (init_data_format, init_data_body) = request
            .init_data
            .as_ref()
            .map(|init_data| (init_data.format.clone(), init_data.body.clone()))
            .unwrap_or_default();
        proto::AppraiseRequest {
            tee: request.tee.to_owned(),
            evidence_json: request.evidence.to_string(),
            init_data_format,
            init_data_body,
            policy_id: policy.wire_id().to_owned(),
            ..Default::default()
        }
    }

    async fn call_appraise(
        &self,
        message: proto::AppraiseRequest,
        policy: &PolicyChoice,
    ) -> Result<(RemoteAppraisal, String), BackendError> {
        let response = self
            .client()
            .appraise(message)
            .await
            .map_err(failed)?
            .into_inner();
        let trace = match response.trace_json.as_str() {
            "" => Value::Null,
            json => serde_json::from_str(json).map_err(|e| unreadable("trace_json", e))?,
        };
        let outcome = match response.outcome {
            Some(proto::appraise_response::Outcome::Result(result)) => {
                let result = from_proto(result)?;
                Self::check_label(&result.policy_id, policy)?;
                Ok(result)
            }
            Some(proto::appraise_response::Outcome::Refusal(refusal)) => Err(Rejection::Remote {
                kind: refusal.kind,
                message: refusal.message,
            }),
            None => return Err(unreadable("response", "no outcome")),
        };
        Ok(((outcome, trace), response.ear_token))
    }

    /// The JWKS the service's EAR tokens verify with.
    pub async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, BackendError> {
        let response = self
            .client()
            .jwks(proto::JwksRequest {})
            .await
            .map_err(failed)?
            .into_inner();
        serde_json::from_str(&response.jwks_json).map_err(|e| unreadable("jwks_json", e))
    }

    /// `{name: value}` of every reference value.
    pub async fn list_reference_values(&self) -> Result<Value, BackendError> {
        let listed = self.list().await?;
        serde_json::from_str(&listed.reference_values_json)
            .map_err(|e| unreadable("reference_values_json", e))
    }

    async fn list(&self) -> Result<proto::ListReferenceValuesResponse, BackendError> {
        Ok(self
            .client()
            .list_reference_values(proto::ListReferenceValuesRequest {})
            .await
            .map_err(failed)?
            .into_inner())
    }

    /// Sets the policy this client uses.
    pub async fn set_appraisal_policy(&self, rego: &str) -> Result<PolicyLabel, BackendError> {
        VerifierBackend::set_appraisal_policy(self, &self.policy.clone(), rego, "").await
    }

    /// The service's health status (`serving`); `Err` if it cannot be reached or is not ready.
    pub async fn health(&self) -> Result<String, BackendError> {
        Ok(self
            .client()
            .health(proto::HealthRequest {})
            .await
            .map_err(failed)?
            .into_inner()
            .status)
    }
}

#[async_trait::async_trait]
impl VerifierBackend for RemoteVerifier {
    /// The service judges at its own clock, not at `_now`.
    async fn appraise(
        &self,
        appraisal: Appraisal,
        _now: OffsetDateTime,
    ) -> Result<Appraised, BackendError> {
        let request = AppraisalRequest {
            init_data: appraisal.init_data,
            tee: &appraisal.tee,
            evidence: &appraisal.evidence,
            expected: appraisal.expected,
        };
        let (outcome, trace) = self
            .appraise_with(&request, &appraisal.policy, appraisal.with_trace)
            .await?;
        Ok(Appraised { outcome, trace })
    }

    async fn set_appraisal_policy(
        &self,
        choice: &PolicyChoice,
        rego: &str,
        _who: &str,
    ) -> Result<PolicyLabel, BackendError> {
        let label = self
            .client()
            .set_appraisal_policy(proto::SetAppraisalPolicyRequest {
                rego: rego.into(),
                policy_id: choice.wire_id().to_owned(),
            })
            .await
            .map_err(failed)?
            .into_inner()
            .policy_id;
        Self::check_label(&label, choice)
    }

    async fn appraisal_policies(&self) -> Result<PolicyListing, BackendError> {
        let listed = self
            .client()
            .list_appraisal_policies(proto::ListAppraisalPoliciesRequest {})
            .await
            .map_err(failed)?
            .into_inner();
        Ok(PolicyListing {
            default: PolicyLabel::parse(&listed.default_policy)?,
            named: listed
                .named
                .iter()
                .map(|(id, label)| {
                    Ok((
                        id.clone(),
                        Self::check_label(label, &PolicyChoice::parse(id)?)?,
                    ))
                })
                .collect::<Result<_, BackendError>>()?,
        })
    }

    async fn set_reference_value(
        &self,
        value: &NamedReferenceValue,
        who: &str,
    ) -> Result<(), BackendError> {
        self.client()
            .set_reference_value(proto::SetReferenceValueRequest {
                name: value.name().into(),
                value_json: value.value().to_string(),
                expires_unix: value.expires(),
                on_behalf_of: who.into(),
            })
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn delete_reference_value(&self, name: &str, who: &str) -> Result<bool, BackendError> {
        Ok(self
            .client()
            .delete_reference_value(proto::DeleteReferenceValueRequest {
                name: name.into(),
                on_behalf_of: who.into(),
            })
            .await
            .map_err(failed)?
            .into_inner()
            .deleted)
    }

    /// The service judges `expired` at its own clock, not at `_now`.
    async fn reference_value_entries(&self, _now: OffsetDateTime) -> Result<Value, BackendError> {
        let listed = self.list().await?;
        serde_json::from_str(&listed.entries_json).map_err(|e| unreadable("entries_json", e))
    }

    /// Verified by the service, with its builder keys and at its clock.
    async fn import_reference_values(
        &self,
        envelope: &[u8],
        who: &str,
        _now: OffsetDateTime,
    ) -> Result<ImportSummary, BackendError> {
        let envelope_json = String::from_utf8(envelope.to_vec()).map_err(|_| {
            BackendError::ProvenanceRefused("the envelope is not UTF-8 JSON".into())
        })?;
        let imported = self
            .client()
            .import_reference_values(proto::ImportReferenceValuesRequest {
                envelope_json,
                on_behalf_of: who.into(),
            })
            .await
            .map_err(failed)?
            .into_inner();
        Ok(ImportSummary {
            names: imported.names,
            signer: imported.signer,
            provenance_sha256: imported.provenance_sha256,
            expires: imported.expires_unix,
            subjects: imported.subjects,
        })
    }

    async fn register_tpm_ak(&self, ak_public: &[u8], who: &str) -> Result<String, BackendError> {
        Ok(self
            .client()
            .register_tpm_ak(proto::RegisterTpmAkRequest {
                ak_public: ak_public.to_vec(),
                on_behalf_of: who.into(),
            })
            .await
            .map_err(failed)?
            .into_inner()
            .ak_name)
    }

    async fn tpm_aks(&self) -> Result<Vec<RegisteredAkInfo>, BackendError> {
        Ok(self
            .client()
            .list_tpm_aks(proto::ListTpmAksRequest {})
            .await
            .map_err(failed)?
            .into_inner()
            .aks
            .into_iter()
            .map(|ak| RegisteredAkInfo::new(ak.ak_name, ak.registered_unix, ak.registered_by))
            .collect())
    }

    async fn revoke_tpm_ak(&self, name: &str, who: &str) -> Result<bool, BackendError> {
        Ok(self
            .client()
            .revoke_tpm_ak(proto::RevokeTpmAkRequest {
                ak_name: name.into(),
                on_behalf_of: who.into(),
            })
            .await
            .map_err(failed)?
            .into_inner()
            .revoked)
    }

    async fn ready(&self) -> Result<(), BackendError> {
        self.health().await.map(drop)
    }

    /// The service polls its own store's generation and rebuilds itself; nothing is held here.
    async fn reload(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Rebuilds a result from the wire; anything unreadable is an error, never a guess.
fn from_proto(result: proto::AttestationResult) -> Result<AttestationResult, BackendError> {
    let tee = Tee::from_name(&result.tee).ok_or_else(|| unreadable("tee", &result.tee))?;
    let status: Status = serde_json::from_value(Value::String(result.status.clone()))
        .map_err(|e| unreadable("status", e))?;
    let trust_vector: TrustVector = serde_json::from_str(&result.trust_vector_json)
        .map_err(|e| unreadable("trust_vector_json", e))?;
    let claims: Map<String, Value> =
        serde_json::from_str(&result.claims_json).map_err(|e| unreadable("claims_json", e))?;
    if status != trust_vector.status() {
        warn!(%status, "the verifier's status does not follow its trust vector");
        return Err(unreadable("status", "disagrees with the trust vector"));
    }
    Ok(AttestationResult {
        tee,
        status,
        trust_vector,
        claims,
        policy_id: result.policy_id,
        insecure_reasons: result.insecure_reasons,
        trace: TraceSummary {
            passed: result.trace_passed as usize,
            failed: result.trace_failed,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_must_name_the_policy_the_client_asked_for() {
        let named = PolicyChoice::Named("build-farm".into());
        assert!(RemoteVerifier::check_label("build-farm@sha256:ab", &named).is_ok());
        assert!(RemoteVerifier::check_label("default@sha256:ab", &PolicyChoice::Default).is_ok());
        assert!(RemoteVerifier::check_label("default@sha256:ab", &named).is_err());
        assert!(RemoteVerifier::check_label("build-farm-2@sha256:ab", &named).is_err());
        assert!(RemoteVerifier::check_label("build-farm", &named).is_err());
    }

    #[test]
    fn every_failure_kind_survives_the_wire() {
        for error in [
            BackendError::Invalid("a".into()),
            BackendError::NotFound("b".into()),
            BackendError::ProvenanceRefused("c".into()),
            BackendError::Conflict("d".into()),
            BackendError::Forbidden("e".into()),
            BackendError::Unavailable("f".into()),
            BackendError::Internal("g".into()),
        ] {
            assert_eq!(failed(crate::grpc::status(error.clone())), error);
        }
        // A long echo of the caller's input is cut.
        let long = BackendError::Invalid("x".repeat(100_000));
        assert!(crate::grpc::status(long).message().len() < 5000);
    }
}
