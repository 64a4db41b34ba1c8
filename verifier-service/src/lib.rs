//! The verifier as its own gRPC service (`warden-verifier serve`) and its client (used by
//! `warden-kbs` with `[verifier] remote`), over mutual TLS.
//!
//! The server is a skin over [`Appraiser`]: it reads the clock once per request, at the edge,
//! and passes it in; appraisal runs on the blocking pool. Reference values and the appraisal
//! policy are set through the service and kept in the same SQLite store as the KBS
//! (`warden_store`), each value with its version, source, provenance digest, expiry and who set
//! it (the client certificate's name, and whom the client acts for); appraisal reads only the
//! in-memory index rebuilt after each change. Every client must present a certificate issued by
//! the configured client CA; every such client may appraise and read, and only the
//! [`Managers`] may change what the service holds.
//!
//! A refusal travels as the rejection's own text ([`Rejection::Remote`]), so a broker using the
//! service answers its clients exactly as an embedded verifier would.

pub mod stored;

use std::collections::{BTreeMap, BTreeSet};
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

use warden_fetch::Prefetcher;
use warden_store::{PolicyKind, ReferenceValueOrigin, Store, StoreError};
use warden_verifier::appraisal::{AppraisalRequest, Appraiser, AttestationResult};
use warden_verifier::ear::{EarClaims, Status, TokenContext, TokenSigner, TrustVector};
use warden_verifier::explain::TraceSummary;
use warden_verifier::policy::RegoPolicy;
use warden_verifier::provenance::{
    ImportedReferenceValues, TrustedBuilderKeys, import_reference_values,
    valid_reference_value_name,
};
use warden_verifier::reference::ReferenceValues;
use warden_verifier::tee::tpm::trust::{KeyOrigin, registrable_ak};
use warden_verifier::tee::{ExpectedBinding, Rejection, Tee, rfc3339};
use warden_wire::InitData;

/// Largest message either side accepts (evidence with certificate chains and event logs).
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Files in which versions before the SQLite store kept the service's state; moved into the
/// store once (see [`import_state_files`]).
const LEGACY_REFERENCE_VALUES_FILE: &str = "reference-values.json";
const LEGACY_POLICY_FILE: &str = "appraisal.rego";
/// Name of the appraisal policy in the store.
const APPRAISAL_POLICY_NAME: &str = "appraisal";

/// Ids a named policy may not take: the stored default's and the shipped default's, which label
/// results of the default policy (a client naming one could not tell it was ignored).
pub const RESERVED_POLICY_IDS: [&str; 2] = [APPRAISAL_POLICY_NAME, "default"];

/// Whether `id` may name an appraisal policy: 1 to 128 of `[A-Za-z0-9._-]`, not reserved.
pub fn valid_policy_id(id: &str) -> bool {
    !RESERVED_POLICY_IDS.contains(&id) && valid_reference_value_name(id)
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("TLS material {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("state {path}: {detail}")]
    State { path: String, detail: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("verifier service: {0}")]
    Call(String),
    /// The service answered and refused the request itself (bad value, refused provenance):
    /// the caller's fault, not the service's unavailability.
    #[error("the verifier service refused: {0}")]
    Refused(String),
    /// The service does not allow this client the call (AK registration not enabled, or the
    /// client is not a manager): the operator's to fix, not the caller's.
    #[error("the verifier service does not allow it: {0}")]
    Forbidden(String),
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

/// State as versions before the store kept it: `reference-values.json` and `appraisal.rego`.
#[derive(serde::Deserialize, Default)]
struct LegacyValues {
    values: BTreeMap<String, Value>,
    #[serde(default)]
    expiries: BTreeMap<String, i64>,
    #[serde(default)]
    meta: BTreeMap<String, LegacyMeta>,
}

#[derive(serde::Deserialize)]
struct LegacyMeta {
    source: String,
    provenance_sha256: Option<String>,
}

fn state_error(path: &Path, detail: impl ToString) -> ServiceError {
    ServiceError::State {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, ServiceError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_error(path, e)),
    }
}

/// Moves the state files an older service kept in `dir` into `store`, each renamed to
/// `<name>.imported` only after the store committed it (so nothing is lost, and a crash in
/// between imports it again rather than never). Returns how many files were imported.
pub async fn import_state_files(store: &Store, dir: &Path) -> Result<usize, ServiceError> {
    let mut imported = 0;
    let values_path = dir.join(LEGACY_REFERENCE_VALUES_FILE);
    if let Some(bytes) = read_if_present(&values_path)? {
        let legacy: LegacyValues =
            serde_json::from_slice(&bytes).map_err(|e| state_error(&values_path, e))?;
        for (name, value) in &legacy.values {
            let meta = legacy.meta.get(name);
            let origin = ReferenceValueOrigin {
                source: meta.map_or_else(|| "rpc".to_owned(), |meta| meta.source.clone()),
                set_by: String::new(),
                provenance_sha256: meta.and_then(|meta| meta.provenance_sha256.clone()),
                expires_at: legacy.expiries.get(name).copied(),
            };
            store
                .put_reference_values(&[(name.clone(), value.to_string())], &origin)
                .await?;
        }
        mark_imported(&values_path)?;
        imported += 1;
    }
    let policy_path = dir.join(LEGACY_POLICY_FILE);
    if let Some(bytes) = read_if_present(&policy_path)? {
        let source = String::from_utf8(bytes).map_err(|e| state_error(&policy_path, e))?;
        Appraiser::compile_policy(APPRAISAL_POLICY_NAME, &source)
            .map_err(|e| state_error(&policy_path, e))?;
        store
            .put_policy(PolicyKind::Appraisal, APPRAISAL_POLICY_NAME, &source)
            .await?;
        mark_imported(&policy_path)?;
        imported += 1;
    }
    Ok(imported)
}

fn mark_imported(path: &Path) -> Result<(), ServiceError> {
    let mut renamed = path.as_os_str().to_owned();
    renamed.push(".imported");
    std::fs::rename(path, &renamed).map_err(|e| state_error(path, e))
}

/// The gRPC service over an [`Appraiser`].
pub struct VerifierService {
    appraiser: Arc<Appraiser>,
    /// Reference values and the appraisal policy; the appraiser holds the in-memory index.
    store: Store,
    /// Serialises changes so the store and the index the appraiser holds change together.
    writes: tokio::sync::Mutex<()>,
    /// Keys signed provenance must verify with; empty: imports refused.
    builder_keys: TrustedBuilderKeys,
    /// Signs each result as an EAR token (verifiable with the `Jwks` keys).
    signer: Option<TokenSigner>,
    /// The time requests are judged at, read once per request at the edge.
    clock: Clock,
    /// Fetches missing SNP VCEKs and TDX collateral before appraisal, when configured.
    prefetcher: Option<Prefetcher>,
    /// Appraisal policies set under an id (`Appraise.policy_id`); the default is the appraiser's.
    named_policies: std::sync::RwLock<BTreeMap<String, Arc<RegoPolicy>>>,
    /// Whether clients may add TPM AKs (`RegisterTpmAk`); off unless the operator says so.
    accept_tpm_registrations: bool,
    /// Who may change reference values, policies and TPM AKs.
    managers: Managers,
}

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

impl VerifierService {
    /// Loads the reference values, appraisal policies and registered TPM AKs kept in `store`
    /// into `appraiser` (the AKs into its registry's TPM trust): the store is the service's
    /// source of reference values (whatever `appraiser` held is replaced); the default policy is
    /// replaced only when one was set.
    pub async fn open(appraiser: Appraiser, store: Store) -> Result<Self, ServiceError> {
        // A KBS's store (sealed secrets, its own policies and values) is not the service's.
        if !store.list_resources().await?.is_empty() {
            return Err(ServiceError::Call(
                "the store holds a KBS's sealed resources: give the verifier service its own store"
                    .into(),
            ));
        }
        let registered = store.registered_aks().await?;
        appraiser
            .registry()
            .tpm_trust()
            .update(|trust| {
                for ak in &registered {
                    trust
                        .add_key(&ak.public, KeyOrigin::Registered)
                        .map_err(|e| format!("registered AK {}: {e}", ak.name))?;
                }
                Ok(())
            })
            .map_err(ServiceError::Call)?;
        if !registered.is_empty() {
            info!(count = registered.len(), "TPM: registered AKs loaded");
        }
        appraiser.set_reference_values(stored_reference_values(&store).await?);
        let mut named_policies = BTreeMap::new();
        for (id, source) in store.policies(PolicyKind::Appraisal).await? {
            let policy = Appraiser::compile_policy(&id, &source)
                .map_err(|e| ServiceError::Call(format!("stored appraisal policy {id}: {e}")))?;
            if id == APPRAISAL_POLICY_NAME {
                appraiser.set_policy(policy);
            } else {
                named_policies.insert(id, Arc::new(policy));
            }
        }
        Ok(Self {
            appraiser: Arc::new(appraiser),
            store,
            writes: tokio::sync::Mutex::new(()),
            builder_keys: TrustedBuilderKeys::default(),
            signer: None,
            clock: Arc::new(OffsetDateTime::now_utc),
            prefetcher: None,
            named_policies: std::sync::RwLock::new(named_policies),
            accept_tpm_registrations: false,
            managers: Managers::default(),
        })
    }

    /// The policy `id` names (empty: the default); an unknown id is the client's error, never
    /// answered with another policy.
    fn policy_named(&self, id: &str) -> Result<Arc<RegoPolicy>, GrpcStatus> {
        if id.is_empty() {
            return Ok(self.appraiser.policy());
        }
        self.named_policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| GrpcStatus::not_found(format!("no appraisal policy named {id:?}")))
    }

    /// Lets clients register TPM AKs they proved by credential activation (`RegisterTpmAk`): every
    /// client with a certificate from the client CA is then trusted to have done it.
    pub fn accepting_tpm_registrations(mut self) -> Self {
        self.accept_tpm_registrations = true;
        self
    }

    /// Lets only `managers` change reference values, policies and TPM AKs.
    pub fn with_managers(mut self, managers: Managers) -> Self {
        self.managers = managers;
        self
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
                Err(GrpcStatus::permission_denied(format!(
                    "{name} may appraise and read but not {what}: only the service's managers (serve --manager) may"
                )))
            }
        }
    }

    /// Fetches the collateral evidence needs (AMD KDS, Intel PCS) before appraising it; the
    /// fetchers must fill the collateral of the appraiser's registry.
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

    /// Stores values (all or none), then rebuilds the appraiser's index from the store.
    async fn store_values(
        &self,
        values: &[(String, String)],
        origin: &ReferenceValueOrigin,
    ) -> Result<(), GrpcStatus> {
        let _writes = self.writes.lock().await;
        self.store
            .put_reference_values(values, origin)
            .await
            .map_err(store_failed)?;
        self.reload_values().await
    }

    async fn reload_values(&self) -> Result<(), GrpcStatus> {
        let values = stored_reference_values(&self.store)
            .await
            .map_err(|e| GrpcStatus::internal(e.to_string()))?;
        self.appraiser.set_reference_values(values);
        Ok(())
    }
}

async fn stored_reference_values(store: &Store) -> Result<ReferenceValues, ServiceError> {
    stored::reference_values(&store.reference_values().await?).map_err(ServiceError::Call)
}

/// `<id>@sha256:<digest>`, how results and listings name a policy.
fn policy_label(policy: &RegoPolicy) -> String {
    format!("{}@sha256:{}", policy.id(), policy.digest())
}

fn store_failed(error: StoreError) -> GrpcStatus {
    GrpcStatus::internal(format!("store: {error}"))
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
        let expected = ExpectedBinding {
            report_data,
            init_data_digest,
        };
        let appraiser = self.appraiser.clone();
        let policy = self.policy_named(&request.policy_id)?;
        // The service's clock, read here at the edge; appraisal takes the time as a parameter.
        let now = (self.clock)();
        if let Some(prefetcher) = &self.prefetcher {
            prefetcher.prepare(&request.tee, &evidence, now).await;
        }
        let tee = request.tee;
        let appraisal = tokio::task::spawn_blocking(move || {
            let request = AppraisalRequest {
                init_data,
                tee: &tee,
                evidence: &evidence,
                expected,
            };
            appraiser.appraise_detailed_with(&request, &policy, now)
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
        self.authorize_change(&request, "set reference values")?;
        let set_by = caller(&request, &request.get_ref().on_behalf_of);
        let request = request.into_inner();
        if !valid_reference_value_name(&request.name) {
            return Err(invalid(format!(
                "invalid reference value name {:?}",
                request.name
            )));
        }
        let value: Value = serde_json::from_str(&request.value_json)
            .map_err(|e| invalid(format!("value_json: {e}")))?;
        warden_verifier::reference::validate(&request.name, &value).map_err(invalid)?;
        let origin = ReferenceValueOrigin {
            source: "rpc".into(),
            set_by,
            provenance_sha256: None,
            expires_at: request.expires_unix,
        };
        self.store_values(&[(request.name.clone(), value.to_string())], &origin)
            .await?;
        info!(name = %request.name, set_by = %origin.set_by, "reference value set");
        Ok(Response::new(proto::SetReferenceValueResponse {}))
    }

    async fn delete_reference_value(
        &self,
        request: Request<proto::DeleteReferenceValueRequest>,
    ) -> Result<Response<proto::DeleteReferenceValueResponse>, GrpcStatus> {
        self.authorize_change(&request, "delete reference values")?;
        let deleted_by = caller(&request, &request.get_ref().on_behalf_of);
        let name = request.into_inner().name;
        let deleted = {
            let _writes = self.writes.lock().await;
            let deleted = self
                .store
                .delete_reference_value(&name)
                .await
                .map_err(store_failed)?;
            self.reload_values().await?;
            deleted
        };
        if deleted {
            info!(%name, %deleted_by, "reference value deleted");
        }
        Ok(Response::new(proto::DeleteReferenceValueResponse {
            deleted,
        }))
    }

    async fn list_reference_values(
        &self,
        _request: Request<proto::ListReferenceValuesRequest>,
    ) -> Result<Response<proto::ListReferenceValuesResponse>, GrpcStatus> {
        let stored = self.store.reference_values().await.map_err(store_failed)?;
        let now = (self.clock)().unix_timestamp();
        let listed = stored::reference_values(&stored)
            .map_err(GrpcStatus::internal)?
            .to_json();
        let entries = stored::listing(&stored, now).map_err(GrpcStatus::internal)?;
        Ok(Response::new(proto::ListReferenceValuesResponse {
            reference_values_json: listed.to_string(),
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
        let now = (self.clock)();
        let imported = import_reference_values(envelope.as_bytes(), &self.builder_keys, now)
            .map_err(|e| GrpcStatus::failed_precondition(format!("provenance refused: {e}")))?;
        let (values, origin) = stored::imported_rows(&imported, set_by);
        self.store_values(&values, &origin).await?;
        let response = import_response(&imported);
        info!(signer = %imported.signer, provenance_sha256 = %imported.provenance_sha256, set_by = %origin.set_by, names = ?response.names, "reference values imported from signed provenance");
        Ok(Response::new(response))
    }

    async fn set_appraisal_policy(
        &self,
        request: Request<proto::SetAppraisalPolicyRequest>,
    ) -> Result<Response<proto::SetAppraisalPolicyResponse>, GrpcStatus> {
        self.authorize_change(&request, "set appraisal policies")?;
        let set_by = caller(&request, "");
        let request = request.into_inner();
        let id = if request.policy_id.is_empty() {
            APPRAISAL_POLICY_NAME
        } else if valid_policy_id(&request.policy_id) {
            request.policy_id.as_str()
        } else {
            return Err(invalid(format!(
                "invalid appraisal policy id {:?} (1 to 128 of [A-Za-z0-9._-], not {})",
                request.policy_id,
                RESERVED_POLICY_IDS.join(" or ")
            )));
        };
        let policy = Appraiser::compile_policy(id, &request.rego).map_err(invalid)?;
        let policy_id = policy_label(&policy);
        let _writes = self.writes.lock().await;
        self.store
            .put_policy(PolicyKind::Appraisal, id, &request.rego)
            .await
            .map_err(store_failed)?;
        if id == APPRAISAL_POLICY_NAME {
            self.appraiser.set_policy(policy);
        } else {
            self.named_policies
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.to_owned(), Arc::new(policy));
        }
        info!(%policy_id, %set_by, "appraisal policy set");
        Ok(Response::new(proto::SetAppraisalPolicyResponse {
            policy_id,
        }))
    }

    async fn list_appraisal_policies(
        &self,
        _request: Request<proto::ListAppraisalPoliciesRequest>,
    ) -> Result<Response<proto::ListAppraisalPoliciesResponse>, GrpcStatus> {
        let named = self
            .named_policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, policy)| (id.clone(), policy_label(policy)))
            .collect();
        Ok(Response::new(proto::ListAppraisalPoliciesResponse {
            default_policy: policy_label(&self.appraiser.policy()),
            named,
        }))
    }

    async fn register_tpm_ak(
        &self,
        request: Request<proto::RegisterTpmAkRequest>,
    ) -> Result<Response<proto::RegisterTpmAkResponse>, GrpcStatus> {
        self.authorize_change(&request, "register TPM AKs")?;
        if !self.accept_tpm_registrations {
            return Err(GrpcStatus::permission_denied(
                "this verifier service does not accept TPM AK registrations (serve --accept-tpm-registrations)",
            ));
        }
        let registered_by = caller(&request, &request.get_ref().on_behalf_of);
        let ak_public = request.into_inner().ak_public;
        let ak = registrable_ak(&ak_public).map_err(invalid)?;
        let ak_name = hex::encode(ak.name());
        let _writes = self.writes.lock().await;
        if self
            .store
            .is_revoked_ak(&ak_name)
            .await
            .map_err(store_failed)?
        {
            return Err(GrpcStatus::failed_precondition(format!(
                "AK {ak_name} was revoked: the device must create a new AK"
            )));
        }
        // Kept before it is trusted, and trusted before the client is told.
        self.store
            .put_registered_ak(&ak_name, &ak_public, &registered_by)
            .await
            .map_err(store_failed)?;
        self.appraiser
            .registry()
            .tpm_trust()
            .update(|trust| trust.add_key(&ak_public, KeyOrigin::Registered))
            .map_err(GrpcStatus::internal)?;
        info!(%ak_name, %registered_by, "TPM AK registered (credential activation done by the client)");
        Ok(Response::new(proto::RegisterTpmAkResponse { ak_name }))
    }

    async fn list_tpm_aks(
        &self,
        _request: Request<proto::ListTpmAksRequest>,
    ) -> Result<Response<proto::ListTpmAksResponse>, GrpcStatus> {
        let aks = self
            .store
            .registered_aks()
            .await
            .map_err(store_failed)?
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
        let ak_name = request.into_inner().ak_name;
        let _writes = self.writes.lock().await;
        let registered = self.store.registered_aks().await.map_err(store_failed)?;
        let Some(ak_public) = registered
            .iter()
            .find(|ak| ak.name == ak_name)
            .map(|ak| &ak.public)
        else {
            return Ok(Response::new(proto::RevokeTpmAkResponse { revoked: false }));
        };
        // Untrusted first: should recording the revocation fail, the key is already refused.
        let mut untrusted = false;
        self.appraiser
            .registry()
            .tpm_trust()
            .update(|trust| {
                untrusted = trust.remove_registered_key(ak_public)?;
                Ok(())
            })
            .map_err(GrpcStatus::internal)?;
        if !untrusted {
            // A registered AK is trusted from load on; only a pin makes it stay.
            return Err(GrpcStatus::failed_precondition(format!(
                "AK {ak_name} is also pinned by the service's --tpm-trust-dir: remove it there"
            )));
        }
        self.store
            .revoke_registered_ak(&ak_name, &revoked_by)
            .await
            .map_err(store_failed)?;
        info!(%ak_name, %revoked_by, "TPM AK revoked");
        Ok(Response::new(proto::RevokeTpmAkResponse { revoked: true }))
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

/// What an import stored, without the values.
pub fn import_response(imported: &ImportedReferenceValues) -> proto::ImportReferenceValuesResponse {
    proto::ImportReferenceValuesResponse {
        names: imported.values.keys().cloned().collect(),
        signer: imported.signer.clone(),
        provenance_sha256: imported.provenance_sha256.clone(),
        expires_unix: imported.expires,
        subjects: imported.subjects.clone(),
    }
}

/// An import as `warden-verifier rv import` and the KBS admin API report it.
pub fn import_summary(imported: &proto::ImportReferenceValuesResponse) -> Value {
    serde_json::json!({
        "imported": imported.names,
        "signer": imported.signer,
        "provenance_sha256": imported.provenance_sha256,
        "expires": rfc3339(imported.expires_unix),
        "subjects": imported.subjects,
    })
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
    /// The appraisal policy this client appraises with and sets; empty: the service's default.
    policy_id: String,
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
            policy_id: String::new(),
        })
    }

    /// With a policy id, a result or a set naming another policy is an error: a service that
    /// ignored the id (e.g. one predating it) must not be taken to have applied it.
    fn check_policy_label(&self, label: &str) -> Result<(), ServiceError> {
        if names_policy(label, &self.policy_id) {
            return Ok(());
        }
        Err(ServiceError::Call(format!(
            "the service used policy {label} instead of {:?}",
            self.policy_id
        )))
    }

    /// Appraises with, and sets, the service's policy `id` instead of its default one.
    pub fn with_policy_id(mut self, id: &str) -> Self {
        self.policy_id = id.to_owned();
        self
    }

    fn failed(error: GrpcStatus) -> ServiceError {
        match error.code() {
            tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::NotFound => ServiceError::Refused(error.message().to_owned()),
            tonic::Code::PermissionDenied => ServiceError::Forbidden(error.message().to_owned()),
            code => ServiceError::Call(format!("{code:?}: {}", error.message())),
        }
    }

    pub async fn appraise(
        &self,
        request: &AppraisalRequest<'_>,
    ) -> Result<RemoteAppraisal, ServiceError> {
        let message = proto::AppraiseRequest {
            report_data: request.expected.report_data.clone().unwrap_or_default(),
            ..self.message(request)
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
            ..self.message(request)
        };
        self.call_appraise(message).await
    }

    fn message(&self, request: &AppraisalRequest<'_>) -> proto::AppraiseRequest {
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
            policy_id: self.policy_id.clone(),
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
            Some(proto::appraise_response::Outcome::Result(result)) => {
                let result = from_proto(result)?;
                self.check_policy_label(&result.policy_id)?;
                Ok(result)
            }
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

    /// Sets `name` to `value`; `on_behalf_of` (may be empty) is recorded with who set it.
    pub async fn set_reference_value(
        &self,
        name: &str,
        value: &Value,
        expires_unix: Option<i64>,
        on_behalf_of: &str,
    ) -> Result<(), ServiceError> {
        self.client
            .clone()
            .set_reference_value(proto::SetReferenceValueRequest {
                name: name.into(),
                value_json: value.to_string(),
                expires_unix,
                on_behalf_of: on_behalf_of.into(),
            })
            .await
            .map_err(Self::failed)?;
        Ok(())
    }

    pub async fn delete_reference_value(
        &self,
        name: &str,
        on_behalf_of: &str,
    ) -> Result<bool, ServiceError> {
        Ok(self
            .client
            .clone()
            .delete_reference_value(proto::DeleteReferenceValueRequest {
                name: name.into(),
                on_behalf_of: on_behalf_of.into(),
            })
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
        on_behalf_of: &str,
    ) -> Result<proto::ImportReferenceValuesResponse, ServiceError> {
        Ok(self
            .client
            .clone()
            .import_reference_values(proto::ImportReferenceValuesRequest {
                envelope_json,
                on_behalf_of: on_behalf_of.into(),
            })
            .await
            .map_err(Self::failed)?
            .into_inner())
    }

    pub async fn set_appraisal_policy(&self, rego: &str) -> Result<String, ServiceError> {
        Ok(self
            .client
            .clone()
            .set_appraisal_policy(proto::SetAppraisalPolicyRequest {
                rego: rego.into(),
                policy_id: self.policy_id.clone(),
            })
            .await
            .map_err(Self::failed)?
            .into_inner()
            .policy_id)
        .and_then(|label| self.check_policy_label(&label).map(|()| label))
    }

    /// Asks the service to trust an AK this client proved by credential activation; returns
    /// its TPM name (hex).
    pub async fn register_tpm_ak(
        &self,
        ak_public: &[u8],
        on_behalf_of: &str,
    ) -> Result<String, ServiceError> {
        Ok(self
            .client
            .clone()
            .register_tpm_ak(proto::RegisterTpmAkRequest {
                ak_public: ak_public.to_vec(),
                on_behalf_of: on_behalf_of.into(),
            })
            .await
            .map_err(Self::failed)?
            .into_inner()
            .ak_name)
    }

    /// The AKs the service trusts because a client registered them.
    pub async fn list_tpm_aks(&self) -> Result<Vec<proto::RegisteredTpmAk>, ServiceError> {
        Ok(self
            .client
            .clone()
            .list_tpm_aks(proto::ListTpmAksRequest {})
            .await
            .map_err(Self::failed)?
            .into_inner()
            .aks)
    }

    /// Stops trusting a registered AK (by TPM name, hex); whether there was one.
    pub async fn revoke_tpm_ak(
        &self,
        ak_name: &str,
        on_behalf_of: &str,
    ) -> Result<bool, ServiceError> {
        Ok(self
            .client
            .clone()
            .revoke_tpm_ak(proto::RevokeTpmAkRequest {
                ak_name: ak_name.into(),
                on_behalf_of: on_behalf_of.into(),
            })
            .await
            .map_err(Self::failed)?
            .into_inner()
            .revoked)
    }

    /// The default policy's and each named policy's `<id>@sha256:<digest>`.
    pub async fn list_appraisal_policies(
        &self,
    ) -> Result<proto::ListAppraisalPoliciesResponse, ServiceError> {
        Ok(self
            .client
            .clone()
            .list_appraisal_policies(proto::ListAppraisalPoliciesRequest {})
            .await
            .map_err(Self::failed)?
            .into_inner())
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

/// Whether `label` (`<id>@sha256:<digest>`) is of policy `id`; any label for the default (empty).
fn names_policy(label: &str, id: &str) -> bool {
    id.is_empty() || label.starts_with(&format!("{id}@sha256:"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
    use warden_verifier::registry::{VerifierRegistry, VerifierSettings};

    fn appraiser() -> Appraiser {
        let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
        Appraiser::new(
            VerifierRegistry::new(&VerifierSettings::default()),
            policy,
            ReferenceValues::default(),
        )
    }

    #[tokio::test]
    async fn state_files_of_an_older_service_move_into_the_store_once_and_stay_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let digest = "cd".repeat(32);
        let legacy = serde_json::json!({
            "values": {"sample": {"min_svn": 2}, "snp": {"measurements": ["ab".repeat(48)]}},
            "expiries": {"snp": 4_102_444_800_i64},
            "meta": {"snp": {"version": 3, "source": "dsse:k1", "provenance_sha256": digest, "updated_at": 1}},
        });
        std::fs::write(
            dir.path().join(LEGACY_REFERENCE_VALUES_FILE),
            legacy.to_string(),
        )
        .unwrap();
        // Differs from the default the appraiser starts with, so its digest shows which is used.
        let policy = format!("{DEFAULT_APPRAISAL_POLICY}\n# set by an operator\n");
        std::fs::write(dir.path().join(LEGACY_POLICY_FILE), &policy).unwrap();

        let store = Store::open_sqlite(&dir.path().join("verifier.db"))
            .await
            .unwrap();
        assert_eq!(import_state_files(&store, dir.path()).await.unwrap(), 2);
        assert_eq!(import_state_files(&store, dir.path()).await.unwrap(), 0);
        assert!(dir.path().join("reference-values.json.imported").exists());
        assert!(dir.path().join("appraisal.rego.imported").exists());

        let stored = store.reference_values().await.unwrap();
        let snp = stored.iter().find(|entry| entry.name == "snp").unwrap();
        assert_eq!(snp.origin.source, "dsse:k1");
        assert_eq!(
            snp.origin.provenance_sha256.as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(snp.origin.expires_at, Some(4_102_444_800));
        let sample = stored.iter().find(|entry| entry.name == "sample").unwrap();
        assert_eq!(sample.origin.source, "rpc");
        assert_eq!(sample.value_json, r#"{"min_svn":2}"#);

        let service = VerifierService::open(appraiser(), store).await.unwrap();
        assert_eq!(
            service.appraiser.reference_values().to_json()["sample"],
            serde_json::json!({"min_svn": 2})
        );
        assert_eq!(service.appraiser.policy().digest(), {
            let compiled = Appraiser::compile_policy(APPRAISAL_POLICY_NAME, &policy).unwrap();
            compiled.digest().to_owned()
        });
    }

    #[test]
    fn a_result_must_name_the_policy_the_client_asked_for() {
        assert!(names_policy("build-farm@sha256:ab", "build-farm"));
        assert!(names_policy("default@sha256:ab", ""));
        assert!(!names_policy("default@sha256:ab", "build-farm"));
        assert!(!names_policy("build-farm-2@sha256:ab", "build-farm"));
    }

    #[tokio::test]
    async fn a_kbs_store_holding_sealed_resources_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("warden.db"))
            .await
            .unwrap();
        store.put_resource("a/b/c", b"sealed").await.unwrap();
        let error = VerifierService::open(appraiser(), store)
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains("sealed resources"), "{error}");
    }

    #[tokio::test]
    async fn unreadable_state_files_are_an_error_and_are_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_REFERENCE_VALUES_FILE), b"{not json").unwrap();
        let store = Store::open_sqlite(&dir.path().join("verifier.db"))
            .await
            .unwrap();
        let error = import_state_files(&store, dir.path()).await.unwrap_err();
        assert!(
            error.to_string().contains("reference-values.json"),
            "{error}"
        );
        assert!(dir.path().join(LEGACY_REFERENCE_VALUES_FILE).exists());
        assert!(store.reference_values().await.unwrap().is_empty());
    }
}
