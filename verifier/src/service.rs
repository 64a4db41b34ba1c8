//! The verifier as its own gRPC service (`warden-verifier serve`) and its client (used by
//! `warden-kbs` with `[verifier] remote`), over mutual TLS.
//!
//! The server is a skin over [`Appraiser`]: it reads the clock once per request, at the edge,
//! and passes it in; appraisal runs on the blocking pool. Reference values and the appraisal
//! policy are set through the service and kept in its state directory (`reference-values.json`,
//! `appraisal.rego`, each written to a temporary file, synced and renamed), so a restart keeps
//! them. Every client must present a certificate issued by the configured client CA.
//!
//! A refusal travels as the rejection's own text ([`Rejection::Remote`]), so a broker using the
//! service answers its clients exactly as an embedded verifier would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status as GrpcStatus};
use tracing::{info, warn};
use warden_proto::verifier::v1 as proto;
use warden_proto::verifier::v1::verifier_client::VerifierClient;
use warden_proto::verifier::v1::verifier_server::{Verifier as VerifierRpc, VerifierServer};

use crate::appraisal::{AppraisalRequest, Appraiser, AttestationResult};
use crate::collateral::write_atomically;
use crate::ear::{EarClaims, Status, TokenContext, TokenSigner, TrustVector};
use crate::explain::TraceSummary;
use crate::provenance::{TrustedBuilderKeys, import_reference_values, valid_reference_value_name};
use crate::reference::ReferenceValues;
use crate::tee::{ExpectedBinding, Rejection, Tee, rfc3339};
use warden_wire::InitData;

/// Largest message either side accepts (evidence with certificate chains and event logs).
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

const REFERENCE_VALUES_FILE: &str = "reference-values.json";
const POLICY_FILE: &str = "appraisal.rego";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("TLS material {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("state {path}: {detail}")]
    State { path: String, detail: String },
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("verifier service: {0}")]
    Call(String),
}

/// PEM files for one side of a mutual-TLS connection.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// This side's certificate chain.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA the other side's certificate must chain to.
    pub ca: PathBuf,
}

impl TlsFiles {
    fn read(path: &Path) -> Result<Vec<u8>, ServiceError> {
        std::fs::read(path).map_err(|source| ServiceError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    }

    fn identity(&self) -> Result<Identity, ServiceError> {
        Ok(Identity::from_pem(
            Self::read(&self.cert)?,
            Self::read(&self.key)?,
        ))
    }

    fn ca(&self) -> Result<Certificate, ServiceError> {
        Ok(Certificate::from_pem(Self::read(&self.ca)?))
    }

    /// Server side: clients must present a certificate from `ca`.
    pub fn server_config(&self) -> Result<ServerTlsConfig, ServiceError> {
        Ok(ServerTlsConfig::new()
            .identity(self.identity()?)
            .client_ca_root(self.ca()?)
            .client_auth_optional(false))
    }

    /// Client side: the server must present a certificate from `ca` for `domain`.
    pub fn client_config(&self, domain: &str) -> Result<ClientTlsConfig, ServiceError> {
        Ok(ClientTlsConfig::new()
            .identity(self.identity()?)
            .ca_certificate(self.ca()?)
            .domain_name(domain))
    }
}

/// What the service keeps across restarts.
struct StateDir {
    dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize, Default, Clone)]
struct StoredValues {
    values: BTreeMap<String, Value>,
    expiries: BTreeMap<String, i64>,
    /// Where each value came from; absent in state written before it was kept.
    #[serde(default)]
    meta: BTreeMap<String, EntryMeta>,
}

/// A value's history in brief: every set bumps its version.
#[derive(serde::Serialize, serde::Deserialize, Clone, Default)]
struct EntryMeta {
    version: u64,
    /// `rpc` (set through the service) or `dsse:<keyid>` (imported from signed provenance).
    source: String,
    provenance_sha256: Option<String>,
    updated_at: i64,
}

impl StoredValues {
    fn put(
        &mut self,
        name: &str,
        value: Value,
        expires: Option<i64>,
        source: &str,
        provenance_sha256: Option<&str>,
        now: i64,
    ) {
        match expires {
            Some(at) => self.expiries.insert(name.to_owned(), at),
            None => self.expiries.remove(name),
        };
        self.values.insert(name.to_owned(), value);
        let version = self.meta.get(name).map_or(0, |meta| meta.version) + 1;
        self.meta.insert(
            name.to_owned(),
            EntryMeta {
                version,
                source: source.to_owned(),
                provenance_sha256: provenance_sha256.map(str::to_owned),
                updated_at: now,
            },
        );
    }

    fn remove(&mut self, name: &str) -> bool {
        self.expiries.remove(name);
        self.meta.remove(name);
        self.values.remove(name).is_some()
    }

    /// Every entry with its metadata, for listings.
    fn entries(&self) -> Value {
        let entries: Map<String, Value> = self
            .values
            .iter()
            .map(|(name, value)| {
                let meta = self.meta.get(name).cloned().unwrap_or_default();
                let entry = serde_json::json!({
                    "value": value,
                    "version": meta.version,
                    "source": meta.source,
                    "provenance_sha256": meta.provenance_sha256,
                    "expires": self.expiries.get(name).map(|&at| rfc3339(at)),
                    "updated_at": rfc3339(meta.updated_at),
                });
                (name.clone(), entry)
            })
            .collect();
        Value::Object(entries)
    }
}

impl StateDir {
    fn error(&self, file: &str, detail: impl ToString) -> ServiceError {
        ServiceError::State {
            path: self.dir.join(file).display().to_string(),
            detail: detail.to_string(),
        }
    }

    fn read(&self, file: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        match std::fs::read(self.dir.join(file)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(file, e)),
        }
    }

    /// Written whole and synced before it replaces the old file: a crash leaves one or the
    /// other, never half of either.
    fn write(&self, file: &str, bytes: &[u8]) -> Result<(), ServiceError> {
        write_atomically(&self.dir, file, bytes).map_err(|e| self.error(file, e))
    }
}

/// The gRPC service over an [`Appraiser`].
pub struct VerifierService {
    appraiser: Arc<Appraiser>,
    state: StateDir,
    values: tokio::sync::Mutex<StoredValues>,
    /// Keys signed provenance must verify with; empty: imports refused.
    builder_keys: TrustedBuilderKeys,
    /// Signs each result as an EAR token (verifiable with the `Jwks` keys).
    signer: Option<TokenSigner>,
}

impl VerifierService {
    /// Restores the reference values and appraisal policy kept in `state_dir` into
    /// `appraiser`: the state directory is the service's source of reference values (whatever
    /// `appraiser` held is replaced); the policy is replaced only when one was set.
    pub fn open(appraiser: Appraiser, state_dir: &Path) -> Result<Self, ServiceError> {
        let state = StateDir {
            dir: state_dir.to_path_buf(),
        };
        let stored: StoredValues = match state.read(REFERENCE_VALUES_FILE)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| state.error(REFERENCE_VALUES_FILE, e))?
            }
            None => StoredValues::default(),
        };
        appraiser.set_reference_values(snapshot(&stored));
        if let Some(source) = state.read(POLICY_FILE)? {
            let source = String::from_utf8(source).map_err(|e| state.error(POLICY_FILE, e))?;
            let policy = Appraiser::compile_policy("appraisal", &source)
                .map_err(|e| state.error(POLICY_FILE, e))?;
            appraiser.set_policy(policy);
        }
        Ok(Self {
            appraiser: Arc::new(appraiser),
            state,
            values: tokio::sync::Mutex::new(stored),
            builder_keys: TrustedBuilderKeys::default(),
            signer: None,
        })
    }

    /// Signs every result as an EAR token with `signer`.
    pub fn with_signer(mut self, signer: TokenSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The result as an EAR token bound to the request's runtime data; empty without a signer.
    fn ear_token(
        &self,
        result: &AttestationResult,
        nonce: &str,
        tee_pubkey: &Value,
        now: OffsetDateTime,
    ) -> Result<String, GrpcStatus> {
        let Some(signer) = &self.signer else {
            return Ok(String::new());
        };
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
        let context = TokenContext {
            nonce,
            tee_pubkey,
            issued_at: now,
            lifetime: TOKEN_LIFETIME,
            jti: hex::encode(jti),
        };
        signer
            .sign(&EarClaims::new(result, signer.issuer(), context))
            .map_err(|e| GrpcStatus::internal(e.to_string()))
    }

    /// Accepts reference values signed by these builder keys (`ImportReferenceValues`).
    pub fn with_builder_keys(mut self, keys: TrustedBuilderKeys) -> Self {
        self.builder_keys = keys;
        self
    }

    pub fn into_server(self) -> VerifierServer<Self> {
        VerifierServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    async fn change_values(
        &self,
        change: impl FnOnce(&mut StoredValues) -> bool,
    ) -> Result<bool, GrpcStatus> {
        let mut values = self.values.lock().await;
        let mut next = values.clone();
        let changed = change(&mut next);
        if changed {
            let bytes =
                serde_json::to_vec(&next).map_err(|e| GrpcStatus::internal(e.to_string()))?;
            self.state
                .write(REFERENCE_VALUES_FILE, &bytes)
                .map_err(|e| GrpcStatus::internal(e.to_string()))?;
            self.appraiser.set_reference_values(snapshot(&next));
            *values = next;
        }
        Ok(changed)
    }
}

fn snapshot(stored: &StoredValues) -> ReferenceValues {
    let mut values = ReferenceValues::default();
    for (name, value) in &stored.values {
        values.insert(
            name.clone(),
            value.clone(),
            stored.expiries.get(name).copied(),
        );
    }
    values
}

fn invalid(detail: impl ToString) -> GrpcStatus {
    GrpcStatus::invalid_argument(detail.to_string())
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
            .map(|init_data| crate::init_data::read(init_data).map(|(digest, _)| digest))
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
        let expected = ExpectedBinding {
            report_data,
            init_data_digest,
        };
        let appraiser = self.appraiser.clone();
        // The service's clock, read here at the edge; appraisal takes it as a parameter.
        let now = OffsetDateTime::now_utc();
        let tee = request.tee;
        let appraisal = tokio::task::spawn_blocking(move || {
            let request = AppraisalRequest {
                init_data,
                tee: &tee,
                evidence: &evidence,
                expected,
            };
            appraiser.appraise_detailed(&request, now)
        })
        .await
        .map_err(|e| GrpcStatus::internal(format!("appraisal task failed: {e}")))?;
        let trace_json = serde_json::to_string(&appraisal.trace)
            .map_err(|e| GrpcStatus::internal(e.to_string()))?;
        let mut ear_token = String::new();
        let outcome = match appraisal.result {
            Ok(result) => {
                if let Some(tee_pubkey) = &tee_pubkey {
                    ear_token = self.ear_token(&result, &request.nonce, tee_pubkey, now)?;
                }
                let (tee, status) = (result.tee.name(), result.status);
                if result.insecure_reasons.is_empty() {
                    info!(tee, %status, "appraised");
                } else {
                    warn!(tee, %status, reasons = ?result.insecure_reasons, "INSECURE result appraised");
                }
                proto::appraise_response::Outcome::Result(to_proto(&result)?)
            }
            Err(rejection) => {
                info!(%rejection, "appraisal refused");
                proto::appraise_response::Outcome::Refusal(proto::Refusal {
                    message: rejection.to_string(),
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
        let jwks = match &self.signer {
            Some(signer) => json_text(&signer.jwks())?,
            None => r#"{"keys":[]}"#.to_owned(),
        };
        Ok(Response::new(proto::JwksResponse { jwks_json: jwks }))
    }

    async fn set_reference_value(
        &self,
        request: Request<proto::SetReferenceValueRequest>,
    ) -> Result<Response<proto::SetReferenceValueResponse>, GrpcStatus> {
        let request = request.into_inner();
        if !valid_reference_value_name(&request.name) {
            return Err(invalid(format!(
                "invalid reference value name {:?}",
                request.name
            )));
        }
        let value: Value = serde_json::from_str(&request.value_json)
            .map_err(|e| invalid(format!("value_json: {e}")))?;
        crate::reference::validate(&request.name, &value).map_err(invalid)?;
        let name = request.name;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.change_values(|stored| {
            stored.put(&name, value, request.expires_unix, "rpc", None, now);
            true
        })
        .await?;
        info!(%name, "reference value set");
        Ok(Response::new(proto::SetReferenceValueResponse {}))
    }

    async fn delete_reference_value(
        &self,
        request: Request<proto::DeleteReferenceValueRequest>,
    ) -> Result<Response<proto::DeleteReferenceValueResponse>, GrpcStatus> {
        let name = request.into_inner().name;
        let deleted = self.change_values(|stored| stored.remove(&name)).await?;
        if deleted {
            info!(%name, "reference value deleted");
        }
        Ok(Response::new(proto::DeleteReferenceValueResponse {
            deleted,
        }))
    }

    async fn list_reference_values(
        &self,
        _request: Request<proto::ListReferenceValuesRequest>,
    ) -> Result<Response<proto::ListReferenceValuesResponse>, GrpcStatus> {
        let listed = self.appraiser.reference_values().to_json();
        let entries = self.values.lock().await.entries();
        Ok(Response::new(proto::ListReferenceValuesResponse {
            reference_values_json: listed.to_string(),
            entries_json: entries.to_string(),
        }))
    }

    async fn import_reference_values(
        &self,
        request: Request<proto::ImportReferenceValuesRequest>,
    ) -> Result<Response<proto::ImportReferenceValuesResponse>, GrpcStatus> {
        let envelope = request.into_inner().envelope_json;
        let now = OffsetDateTime::now_utc();
        let imported = import_reference_values(envelope.as_bytes(), &self.builder_keys, now)
            .map_err(|e| GrpcStatus::failed_precondition(format!("provenance refused: {e}")))?;
        let source = format!("dsse:{}", imported.signer);
        self.change_values(|stored| {
            for (name, value) in &imported.values {
                stored.put(
                    name,
                    value.clone(),
                    Some(imported.expires),
                    &source,
                    Some(&imported.provenance_sha256),
                    now.unix_timestamp(),
                );
            }
            true
        })
        .await?;
        let names: Vec<String> = imported.values.keys().cloned().collect();
        info!(signer = %imported.signer, provenance_sha256 = %imported.provenance_sha256, ?names, "reference values imported from signed provenance");
        Ok(Response::new(proto::ImportReferenceValuesResponse {
            names,
            signer: imported.signer,
            provenance_sha256: imported.provenance_sha256,
            expires_unix: imported.expires,
        }))
    }

    async fn set_appraisal_policy(
        &self,
        request: Request<proto::SetAppraisalPolicyRequest>,
    ) -> Result<Response<proto::SetAppraisalPolicyResponse>, GrpcStatus> {
        let source = request.into_inner().rego;
        let policy = Appraiser::compile_policy("appraisal", &source).map_err(invalid)?;
        let policy_id = format!("{}@sha256:{}", policy.id(), policy.digest());
        // Held while writing so two changes cannot interleave file and memory.
        let _values = self.values.lock().await;
        self.state
            .write(POLICY_FILE, source.as_bytes())
            .map_err(|e| GrpcStatus::internal(e.to_string()))?;
        self.appraiser.set_policy(policy);
        info!(%policy_id, "appraisal policy set");
        Ok(Response::new(proto::SetAppraisalPolicyResponse {
            policy_id,
        }))
    }

    async fn health(
        &self,
        _request: Request<proto::HealthRequest>,
    ) -> Result<Response<proto::HealthResponse>, GrpcStatus> {
        Ok(Response::new(proto::HealthResponse {
            status: "serving".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
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
    serde_json::to_string(value).map_err(|e| GrpcStatus::internal(e.to_string()))
}

/// Serves `service` on `listener` (a bound std listener: port 0 works) until `shutdown`.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: ServerTlsConfig,
    service: VerifierService,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    let io = |e: std::io::Error| ServiceError::Call(format!("listener: {e}"));
    listener.set_nonblocking(true).map_err(io)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
    tonic::transport::Server::builder()
        .tls_config(tls)?
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(
            // Without NODELAY a small response waits for the client's delayed ACK (~40 ms).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}

/// A connection to a verifier service.
#[derive(Clone)]
pub struct RemoteVerifier {
    client: VerifierClient<Channel>,
}

/// What a remote appraisal gives: the result or the verifier's refusal, and the trace (JSON).
pub type RemoteAppraisal = (Result<AttestationResult, Rejection>, Value);

/// Lifetime of the service's EAR tokens.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::minutes(5);

impl RemoteVerifier {
    /// Connects lazily to `url` (`https://host:port`), checking the server's certificate for
    /// `domain` against `tls.ca` and presenting `tls.cert`.
    pub fn connect(url: &str, domain: &str, tls: &TlsFiles) -> Result<Self, ServiceError> {
        // tonic uses TLS only for https URLs: any other scheme would silently be plaintext.
        if !url.starts_with("https://") {
            return Err(ServiceError::Call(format!(
                "{url}: the verifier service is reached only over https (mutual TLS)"
            )));
        }
        let channel = Channel::from_shared(url.to_owned())
            .map_err(|e| ServiceError::Call(format!("{url}: {e}")))?
            .tls_config(tls.client_config(domain)?)?
            .connect_timeout(std::time::Duration::from_secs(5))
            .tcp_nodelay(true)
            .timeout(std::time::Duration::from_secs(30))
            .connect_lazy();
        Ok(Self {
            client: VerifierClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        })
    }

    fn failed(error: GrpcStatus) -> ServiceError {
        ServiceError::Call(format!("{:?}: {}", error.code(), error.message()))
    }

    pub async fn appraise(
        &self,
        request: &AppraisalRequest<'_>,
    ) -> Result<RemoteAppraisal, ServiceError> {
        let message = proto::AppraiseRequest {
            report_data: request.expected.report_data.clone().unwrap_or_default(),
            ..Self::message(request)
        };
        self.call_appraise(message)
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
    ) -> Result<(RemoteAppraisal, String), ServiceError> {
        let message = proto::AppraiseRequest {
            nonce: nonce.to_owned(),
            tee_pubkey_json: tee_pubkey.to_string(),
            additional_evidence: additional_evidence.to_owned(),
            ..Self::message(request)
        };
        self.call_appraise(message).await
    }

    fn message(request: &AppraisalRequest<'_>) -> proto::AppraiseRequest {
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
            ..Default::default()
        }
    }

    async fn call_appraise(
        &self,
        message: proto::AppraiseRequest,
    ) -> Result<(RemoteAppraisal, String), ServiceError> {
        let response = self
            .client
            .clone()
            .appraise(message)
            .await
            .map_err(Self::failed)?
            .into_inner();
        let trace = serde_json::from_str(&response.trace_json)
            .map_err(|e| ServiceError::Call(format!("trace_json: {e}")))?;
        let outcome = match response.outcome {
            Some(proto::appraise_response::Outcome::Result(result)) => Ok(from_proto(result)?),
            Some(proto::appraise_response::Outcome::Refusal(refusal)) => {
                Err(Rejection::Remote(refusal.message))
            }
            None => return Err(ServiceError::Call("the response has no outcome".into())),
        };
        Ok(((outcome, trace), response.ear_token))
    }

    /// The JWKS the service's EAR tokens verify with.
    pub async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, ServiceError> {
        let response = self
            .client
            .clone()
            .jwks(proto::JwksRequest {})
            .await
            .map_err(Self::failed)?
            .into_inner();
        serde_json::from_str(&response.jwks_json).map_err(|e| ServiceError::Call(e.to_string()))
    }

    pub async fn set_reference_value(
        &self,
        name: &str,
        value: &Value,
        expires_unix: Option<i64>,
    ) -> Result<(), ServiceError> {
        self.client
            .clone()
            .set_reference_value(proto::SetReferenceValueRequest {
                name: name.into(),
                value_json: value.to_string(),
                expires_unix,
            })
            .await
            .map_err(Self::failed)?;
        Ok(())
    }

    pub async fn delete_reference_value(&self, name: &str) -> Result<bool, ServiceError> {
        Ok(self
            .client
            .clone()
            .delete_reference_value(proto::DeleteReferenceValueRequest { name: name.into() })
            .await
            .map_err(Self::failed)?
            .into_inner()
            .deleted)
    }

    /// `{name: value}` of every reference value.
    pub async fn list_reference_values(&self) -> Result<Value, ServiceError> {
        let listed = self.list().await?;
        serde_json::from_str(&listed.reference_values_json)
            .map_err(|e| ServiceError::Call(e.to_string()))
    }

    /// Every reference value with its version, source, provenance digest and expiry.
    pub async fn list_reference_value_entries(&self) -> Result<Value, ServiceError> {
        let listed = self.list().await?;
        serde_json::from_str(&listed.entries_json).map_err(|e| ServiceError::Call(e.to_string()))
    }

    async fn list(&self) -> Result<proto::ListReferenceValuesResponse, ServiceError> {
        Ok(self
            .client
            .clone()
            .list_reference_values(proto::ListReferenceValuesRequest {})
            .await
            .map_err(Self::failed)?
            .into_inner())
    }

    pub async fn import_reference_values(
        &self,
        envelope_json: String,
    ) -> Result<proto::ImportReferenceValuesResponse, ServiceError> {
        Ok(self
            .client
            .clone()
            .import_reference_values(proto::ImportReferenceValuesRequest { envelope_json })
            .await
            .map_err(Self::failed)?
            .into_inner())
    }

    pub async fn set_appraisal_policy(&self, rego: &str) -> Result<String, ServiceError> {
        Ok(self
            .client
            .clone()
            .set_appraisal_policy(proto::SetAppraisalPolicyRequest { rego: rego.into() })
            .await
            .map_err(Self::failed)?
            .into_inner()
            .policy_id)
    }

    pub async fn health(&self) -> Result<String, ServiceError> {
        Ok(self
            .client
            .clone()
            .health(proto::HealthRequest {})
            .await
            .map_err(Self::failed)?
            .into_inner()
            .status)
    }
}

/// Rebuilds a result from the wire; anything unreadable is an error, never a guess.
fn from_proto(result: proto::AttestationResult) -> Result<AttestationResult, ServiceError> {
    let bad = |what: &str, detail: String| ServiceError::Call(format!("{what}: {detail}"));
    let tee = Tee::from_name(&result.tee).ok_or_else(|| bad("tee", result.tee.clone()))?;
    let status: Status = serde_json::from_value(Value::String(result.status.clone()))
        .map_err(|e| bad("status", e.to_string()))?;
    let trust_vector: TrustVector = serde_json::from_str(&result.trust_vector_json)
        .map_err(|e| bad("trust_vector_json", e.to_string()))?;
    let claims: Map<String, Value> =
        serde_json::from_str(&result.claims_json).map_err(|e| bad("claims_json", e.to_string()))?;
    if status != trust_vector.status() {
        warn!(%status, "the verifier's status does not follow its trust vector");
        return Err(bad("status", "disagrees with the trust vector".into()));
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
