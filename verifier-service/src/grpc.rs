//! The gRPC server: a skin over an [`Authority`]. It reads the clock once per request, at the
//! edge; decides who may change what ([`Managers`]); derives the evidence binding from the
//! runtime data it signs into its EAR token; and maps [`BackendError`]s to statuses that carry
//! their kind, so the client rebuilds exactly the error the authority gave.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use tonic::metadata::MetadataValue;
use tonic::transport::ServerTlsConfig;
use tonic::{Code, Request, Response, Status as GrpcStatus};
use tracing::{info, warn};
use warden_fetch::Prefetcher;
use warden_proto::verifier::v1 as proto;
use warden_proto::verifier::v1::verifier_server::{Verifier as VerifierRpc, VerifierServer};
use warden_store::Store;
use warden_verifier::ear::TokenSigner;
use warden_verifier::provenance::TrustedBuilderKeys;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::{AttestationResult, ExpectedBinding};
use warden_wire::InitData;

use crate::authority::Authority;
use crate::backend::{Appraisal, BackendError, PolicyChoice, VerifierBackend};
use crate::connections::{Admission, ConnectionLimits};
use crate::{MAX_MESSAGE_BYTES, ServiceError};

/// The metadata key naming a failed call's [`BackendError::kind`].
pub const ERROR_KIND: &str = "warden-error-kind";

/// Longest message a status carries: a caller's input echoed back stays bounded.
const MAX_STATUS_MESSAGE: usize = 4096;

/// Which clients may change what the service holds (reference values, appraisal policies,
/// registered TPM AKs). Every client may appraise and read: one service serves brokers of
/// several trust domains, and a broker that only appraises must not be able to loosen the
/// values every other broker is judged by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Managers {
    /// Every client (in-process use, or `serve --any-client-may-manage`).
    #[default]
    AnyClient,
    /// Only clients whose certificate's subject common name is one of these (the client CA
    /// vouches for the name).
    Named(BTreeSet<String>),
}

/// Where the service reads the time: the wall clock, or a fixed time to replay evidence at.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The gRPC service over an [`Authority`].
pub struct VerifierService {
    authority: Authority,
    /// The time requests are judged at, read once per request at the edge.
    clock: Clock,
    /// Fetches missing SNP VCEKs and TDX collateral before appraisal, when configured.
    prefetcher: Option<Prefetcher>,
    /// Whether clients may add TPM AKs (`RegisterTpmAk`); off unless the operator says so.
    accept_tpm_registrations: bool,
    /// Who may change reference values, policies and TPM AKs.
    managers: Managers,
}

impl VerifierService {
    /// The service of `authority`, refusing a KBS's store (sealed secrets, its own values).
    pub async fn new(authority: Authority) -> Result<Self, ServiceError> {
        if authority.store().holds_kbs_secrets().await? {
            return Err(ServiceError::Setup(
                "the store holds a KBS's sealed resources or signing keys: give the verifier service its own store"
                    .into(),
            ));
        }
        Ok(Self {
            authority,
            clock: Arc::new(OffsetDateTime::now_utc),
            prefetcher: None,
            accept_tpm_registrations: false,
            managers: Managers::default(),
        })
    }

    /// The service of a new [`Authority`] over `appraiser` and `store` (see [`Authority::open`]).
    pub async fn open(
        appraiser: warden_verifier::Appraiser,
        store: Store,
    ) -> Result<Self, ServiceError> {
        let authority = Authority::open(appraiser, store)
            .await
            .map_err(|e| ServiceError::Setup(e.to_string()))?
            .recording_source("rpc");
        Self::new(authority).await
    }

    /// The authority the service serves.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Accepts reference values signed by these builder keys (`ImportReferenceValues`).
    pub fn with_builder_keys(mut self, keys: TrustedBuilderKeys) -> Self {
        self.authority = self.authority.with_builder_keys(keys);
        self
    }

    /// Signs every result as an EAR token with `signer` (`Appraise` with runtime data).
    pub fn with_signer(mut self, signer: TokenSigner) -> Self {
        self.authority = self.authority.with_signer(signer);
        self
    }

    /// Lets clients register TPM AKs they proved by credential activation (`RegisterTpmAk`):
    /// every client with a certificate from the client CA is then trusted to have done it.
    pub fn accepting_tpm_registrations(mut self) -> Self {
        self.accept_tpm_registrations = true;
        self
    }

    /// Lets only `managers` change reference values, policies and TPM AKs.
    pub fn with_managers(mut self, managers: Managers) -> Self {
        self.managers = managers;
        self
    }

    /// Fetches the collateral evidence needs (AMD KDS, Intel PCS) before appraising it; the
    /// fetchers must fill the collateral of the authority's appraiser.
    pub fn with_prefetcher(mut self, prefetcher: Prefetcher) -> Self {
        self.prefetcher = Some(prefetcher);
        self
    }

    /// Judges every request at `clock()` instead of the wall clock (for replaying recorded
    /// evidence at its own time; `serve` never sets it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The tonic server of this service, decoding and encoding messages up to
    /// [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> VerifierServer<Self> {
        Self::server_of(Arc::new(self))
    }

    fn server_of(service: Arc<Self>) -> VerifierServer<Self> {
        VerifierServer::from_arc(service)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Refuses a change requested by a client that is not a manager.
    fn authorize_change<T>(&self, request: &Request<T>, what: &str) -> Result<(), GrpcStatus> {
        let Managers::Named(names) = &self.managers else {
            return Ok(());
        };
        match client_common_name(request) {
            Some(name) if names.contains(&name) => Ok(()),
            name => {
                let name = name.unwrap_or_else(|| "a client without a common name".into());
                warn!(client = %name, change = what, "change refused: the client is not a manager of this service");
                Err(status(BackendError::Forbidden(format!(
                    "{name} may appraise and read but not {what}: only the service's managers (serve --manager) may"
                ))))
            }
        }
    }
}

/// A failed call as a status: its code, its message (bounded) and its kind in the metadata.
pub(crate) fn status(error: BackendError) -> GrpcStatus {
    let code = match &error {
        BackendError::Invalid(_) => Code::InvalidArgument,
        BackendError::NotFound(_) => Code::NotFound,
        BackendError::ProvenanceRefused(_) | BackendError::Conflict(_) => Code::FailedPrecondition,
        BackendError::Forbidden(_) => Code::PermissionDenied,
        BackendError::Unavailable(_) => Code::Unavailable,
        BackendError::Internal(_) => Code::Internal,
    };
    let mut message = error.message().to_owned();
    if message.len() > MAX_STATUS_MESSAGE {
        let mut end = MAX_STATUS_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(" [...]");
    }
    let mut status = GrpcStatus::new(code, message);
    status
        .metadata_mut()
        .insert(ERROR_KIND, MetadataValue::from_static(error.kind()));
    status
}

fn invalid(detail: impl ToString) -> GrpcStatus {
    status(BackendError::Invalid(detail.to_string()))
}

/// The client certificate's subject: its common name when it has one (`Ok`), else the whole
/// subject (`Err`); `None` without a certificate (in-process calls).
fn client_subject<T>(request: &Request<T>) -> Option<Result<String, String>> {
    let certificates = request.peer_certs()?;
    let (_, cert) = x509_parser::parse_x509_certificate(certificates.first()?.as_ref()).ok()?;
    let subject = cert.subject();
    // Several common names would make "the" name ambiguous: then there is none.
    let mut common_names = subject.iter_common_name();
    match (common_names.next(), common_names.next()) {
        (Some(name), None) => match name.as_str() {
            Ok(name) => Some(Ok(name.to_owned())),
            Err(_) => Some(Err(subject.to_string())),
        },
        _ => Some(Err(subject.to_string())),
    }
}

fn client_common_name<T>(request: &Request<T>) -> Option<String> {
    client_subject(request)?.ok()
}

/// Who made a call: the subject common name of the client's certificate (or its subject when
/// it has none), then whom it acts for, e.g. `kbs-1 for alice`.
fn caller<T>(request: &Request<T>, on_behalf_of: &str) -> String {
    let name = match client_subject(request) {
        Some(Ok(name) | Err(name)) => name,
        None => "unknown client".to_owned(),
    };
    if on_behalf_of.is_empty() {
        name
    } else {
        format!("{name} for {on_behalf_of}")
    }
}

fn to_proto(result: &AttestationResult) -> Result<proto::AttestationResult, GrpcStatus> {
    Ok(proto::AttestationResult {
        tee: result.tee.name().into(),
        status: result.status.to_string(),
        trust_vector_json: json_text(&result.trust_vector)?,
        claims_json: json_text(&result.claims)?,
        policy_id: result.policy_id.clone(),
        insecure_reasons: result.insecure_reasons.clone(),
        trace_passed: u32::try_from(result.trace.passed).unwrap_or(u32::MAX),
        trace_failed: result.trace.failed.clone(),
    })
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, GrpcStatus> {
    serde_json::to_string(value).map_err(|e| status(BackendError::Internal(e.to_string())))
}

#[tonic::async_trait]
impl VerifierRpc for VerifierService {
    async fn appraise(
        &self,
        request: Request<proto::AppraiseRequest>,
    ) -> Result<Response<proto::AppraiseResponse>, GrpcStatus> {
        let request = request.into_inner();
        let evidence: Value = serde_json::from_str(&request.evidence_json)
            .map_err(|e| invalid(format!("evidence_json: {e}")))?;
        let init_data = (!request.init_data_body.is_empty()).then(|| InitData {
            format: request.init_data_format.clone(),
            body: request.init_data_body.clone(),
        });
        let init_data_digest = init_data
            .as_ref()
            .map(|init_data| warden_verifier::init_data::read(init_data).map(|(digest, _)| digest))
            .transpose()
            .map_err(|e| invalid(format!("init-data: {e}")))?;
        // With runtime data, the binding is computed here from it, so a token naming a nonce
        // and a key is only ever issued for evidence that binds exactly those.
        let (report_data, tee_pubkey) = if request.nonce.is_empty() {
            (
                (!request.report_data.is_empty()).then_some(request.report_data),
                None,
            )
        } else {
            if !request.report_data.is_empty() {
                return Err(invalid(
                    "report_data must be empty when nonce is given: it is derived from the runtime data",
                ));
            }
            let tee_pubkey: Value = serde_json::from_str(&request.tee_pubkey_json)
                .map_err(|e| invalid(format!("tee_pubkey_json: {e}")))?;
            let digest = warden_wire::runtime_data_digest(
                &request.nonce,
                &tee_pubkey,
                &request.additional_evidence,
            );
            (Some(digest.to_vec()), Some(tee_pubkey))
        };
        let policy = PolicyChoice::parse(&request.policy_id).map_err(status)?;
        // The service's clock, read here at the edge; appraisal takes the time as a parameter.
        let now = (self.clock)();
        if let Some(prefetcher) = &self.prefetcher {
            prefetcher.prepare(&request.tee, &evidence, now).await;
        }
        let appraised = self
            .authority
            .appraise(
                Appraisal {
                    tee: request.tee,
                    evidence,
                    init_data,
                    expected: ExpectedBinding {
                        report_data,
                        init_data_digest,
                    },
                    policy,
                    with_trace: !request.omit_trace,
                },
                now,
            )
            .await
            .map_err(status)?;
        let trace_json = if request.omit_trace {
            String::new()
        } else {
            json_text(&appraised.trace)?
        };
        let mut ear_token = String::new();
        let outcome = match appraised.outcome {
            Ok(result) => {
                if let Some(tee_pubkey) = &tee_pubkey {
                    ear_token = self
                        .authority
                        .sign(&result, &request.nonce, tee_pubkey, now)
                        .map_err(status)?
                        .unwrap_or_default();
                }
                let (tee, verdict) = (result.tee.name(), result.status);
                if result.insecure_reasons.is_empty() {
                    info!(tee, status = %verdict, "appraised");
                } else {
                    warn!(tee, status = %verdict, reasons = ?result.insecure_reasons, "INSECURE result appraised");
                }
                proto::appraise_response::Outcome::Result(to_proto(&result)?)
            }
            Err(rejection) => {
                info!(%rejection, "appraisal refused");
                proto::appraise_response::Outcome::Refusal(proto::Refusal {
                    message: rejection.to_string(),
                    kind: rejection.kind().to_owned(),
                })
            }
        };
        Ok(Response::new(proto::AppraiseResponse {
            outcome: Some(outcome),
            trace_json,
            ear_token,
        }))
    }

    async fn jwks(
        &self,
        _request: Request<proto::JwksRequest>,
    ) -> Result<Response<proto::JwksResponse>, GrpcStatus> {
        let jwks = match self.authority.signer() {
            Some(signer) => json_text(&signer.jwks())?,
            None => r#"{"keys":[]}"#.to_owned(),
        };
        Ok(Response::new(proto::JwksResponse { jwks_json: jwks }))
    }

    async fn set_reference_value(
        &self,
        request: Request<proto::SetReferenceValueRequest>,
    ) -> Result<Response<proto::SetReferenceValueResponse>, GrpcStatus> {
        self.authorize_change(&request, "set reference values")?;
        let set_by = caller(&request, &request.get_ref().on_behalf_of);
        let request = request.into_inner();
        let value: Value = serde_json::from_str(&request.value_json)
            .map_err(|e| invalid(format!("value_json: {e}")))?;
        let value = NamedReferenceValue::new(&request.name, value, request.expires_unix)
            .map_err(invalid)?;
        self.authority
            .set_reference_value(&value, &set_by)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SetReferenceValueResponse {}))
    }

    async fn delete_reference_value(
        &self,
        request: Request<proto::DeleteReferenceValueRequest>,
    ) -> Result<Response<proto::DeleteReferenceValueResponse>, GrpcStatus> {
        self.authorize_change(&request, "delete reference values")?;
        let deleted_by = caller(&request, &request.get_ref().on_behalf_of);
        let deleted = self
            .authority
            .delete_reference_value(&request.into_inner().name, &deleted_by)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::DeleteReferenceValueResponse {
            deleted,
        }))
    }

    async fn list_reference_values(
        &self,
        _request: Request<proto::ListReferenceValuesRequest>,
    ) -> Result<Response<proto::ListReferenceValuesResponse>, GrpcStatus> {
        let entries = self
            .authority
            .reference_value_entries((self.clock)())
            .await
            .map_err(status)?;
        let values: serde_json::Map<String, Value> = entries
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, entry)| (name.clone(), entry["value"].clone()))
            .collect();
        Ok(Response::new(proto::ListReferenceValuesResponse {
            reference_values_json: Value::Object(values).to_string(),
            entries_json: entries.to_string(),
        }))
    }

    async fn import_reference_values(
        &self,
        request: Request<proto::ImportReferenceValuesRequest>,
    ) -> Result<Response<proto::ImportReferenceValuesResponse>, GrpcStatus> {
        self.authorize_change(&request, "import reference values")?;
        let set_by = caller(&request, &request.get_ref().on_behalf_of);
        let envelope = request.into_inner().envelope_json;
        let summary = self
            .authority
            .import_reference_values(envelope.as_bytes(), &set_by, (self.clock)())
            .await
            .map_err(status)?;
        Ok(Response::new(proto::ImportReferenceValuesResponse {
            names: summary.names,
            signer: summary.signer,
            provenance_sha256: summary.provenance_sha256,
            expires_unix: summary.expires,
            subjects: summary.subjects,
        }))
    }

    async fn set_appraisal_policy(
        &self,
        request: Request<proto::SetAppraisalPolicyRequest>,
    ) -> Result<Response<proto::SetAppraisalPolicyResponse>, GrpcStatus> {
        self.authorize_change(&request, "set appraisal policies")?;
        let set_by = caller(&request, "");
        let request = request.into_inner();
        let choice = PolicyChoice::parse(&request.policy_id).map_err(status)?;
        let label = self
            .authority
            .set_appraisal_policy(&choice, &request.rego, &set_by)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SetAppraisalPolicyResponse {
            policy_id: label.to_string(),
        }))
    }

    async fn list_appraisal_policies(
        &self,
        _request: Request<proto::ListAppraisalPoliciesRequest>,
    ) -> Result<Response<proto::ListAppraisalPoliciesResponse>, GrpcStatus> {
        let listing = self.authority.appraisal_policies().await.map_err(status)?;
        Ok(Response::new(proto::ListAppraisalPoliciesResponse {
            default_policy: listing.default.to_string(),
            named: listing
                .named
                .iter()
                .map(|(id, label)| (id.clone(), label.to_string()))
                .collect(),
        }))
    }

    async fn register_tpm_ak(
        &self,
        request: Request<proto::RegisterTpmAkRequest>,
    ) -> Result<Response<proto::RegisterTpmAkResponse>, GrpcStatus> {
        self.authorize_change(&request, "register TPM AKs")?;
        if !self.accept_tpm_registrations {
            return Err(status(BackendError::Forbidden(
                "this verifier service does not accept TPM AK registrations (serve --accept-tpm-registrations)".into(),
            )));
        }
        let registered_by = caller(&request, &request.get_ref().on_behalf_of);
        let ak_name = self
            .authority
            .register_tpm_ak(&request.into_inner().ak_public, &registered_by)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RegisterTpmAkResponse { ak_name }))
    }

    async fn list_tpm_aks(
        &self,
        _request: Request<proto::ListTpmAksRequest>,
    ) -> Result<Response<proto::ListTpmAksResponse>, GrpcStatus> {
        let aks = self
            .authority
            .tpm_aks()
            .await
            .map_err(status)?
            .into_iter()
            .map(|ak| proto::RegisteredTpmAk {
                ak_name: ak.name,
                registered_unix: ak.registered_at,
                registered_by: ak.registered_by,
            })
            .collect();
        Ok(Response::new(proto::ListTpmAksResponse { aks }))
    }

    async fn revoke_tpm_ak(
        &self,
        request: Request<proto::RevokeTpmAkRequest>,
    ) -> Result<Response<proto::RevokeTpmAkResponse>, GrpcStatus> {
        self.authorize_change(&request, "revoke TPM AKs")?;
        let revoked_by = caller(&request, &request.get_ref().on_behalf_of);
        let revoked = self
            .authority
            .revoke_tpm_ak(&request.into_inner().ak_name, &revoked_by)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RevokeTpmAkResponse { revoked }))
    }

    async fn health(
        &self,
        _request: Request<proto::HealthRequest>,
    ) -> Result<Response<proto::HealthResponse>, GrpcStatus> {
        self.authority.ready().await.map_err(status)?;
        Ok(Response::new(proto::HealthResponse {
            status: "serving".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }
}

/// Serves `service` on `listener` (a bound std listener: port 0 works) until `shutdown`, with
/// the default [`ConnectionLimits`].
pub async fn serve(
    listener: std::net::TcpListener,
    tls: ServerTlsConfig,
    service: VerifierService,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    serve_limited(
        listener,
        tls,
        service,
        ConnectionLimits::default(),
        shutdown,
    )
    .await
}

/// Longest a call may run; an appraisal that fetches collateral stays well within it.
const HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// HTTP/2 pings find dead peers; an answered ping also keeps a live idle channel open.
const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);

/// [`serve`] with explicit connection limits: connections beyond them are closed at once, and
/// a connection silent for the idle timeout (one that never starts TLS, say) is closed. While
/// it serves, the authority polls its store ([`crate::poll_refresh`]), so changes other
/// replicas of the service write to the same store are in force here within a second.
pub async fn serve_limited(
    listener: std::net::TcpListener,
    tls: ServerTlsConfig,
    service: VerifierService,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    let io = |e: std::io::Error| ServiceError::Setup(format!("listener: {e}"));
    listener.set_nonblocking(true).map_err(io)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
    let incoming = futures_util::stream::unfold(
        (listener, Admission::new(limits)),
        |(listener, admission)| async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        // A refused connection is dropped (closed) here.
                        if let Ok(admitted) = admission.admit_stream(stream) {
                            let next = Ok::<_, std::io::Error>(admitted);
                            return Some((next, (listener, admission)));
                        }
                    }
                    Err(error) => {
                        // Out of descriptors, typically: wait rather than spin.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        },
    );
    let mut server = tonic::transport::Server::builder()
        .tls_config(tls)?
        .timeout(HANDLER_TIMEOUT)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .max_concurrent_streams(64);
    let service = Arc::new(service);
    let polled = service.clone();
    let poll = tokio::spawn(async move {
        crate::poll_refresh("verifier", || polled.authority.refresh()).await;
    });
    let served = server
        .add_service(VerifierService::server_of(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    poll.abort();
    served?;
    Ok(())
}
