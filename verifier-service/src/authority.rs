//! [`Authority`]: everything a verifier holds and decides, free of any transport — the
//! appraiser, the store of reference values, appraisal policies and registered TPM AKs, the
//! builder keys signed provenance must verify with, and the token signer. A KBS embeds one; the
//! gRPC service (`grpc`) is a skin over one.
//!
//! Appraisal reads only in-memory snapshots (the appraiser's index, the compiled policies);
//! every change is written to the store first and the snapshot rebuilt from the store, under one
//! lock, so what is in force is always what is stored. Changes another process wrote to the
//! same store are taken in by [`Authority::refresh`], which its owner polls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use time::OffsetDateTime;
use tracing::{info, warn};
use warden_store::{PolicyKind, ReferenceValueOrigin, Store, StoreError};
use warden_verifier::appraisal::APPRAISAL_RULE;
use warden_verifier::ear::{EarClaims, TokenContext, TokenSigner};
use warden_verifier::policy::{self, COMPILE_DEADLINE, PolicyError};
use warden_verifier::provenance::{TrustedBuilderKeys, import_reference_values};
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::tee::tpm::trust::{KeyOrigin, registrable_ak};
use warden_verifier::{AppraisalRequest, Appraiser, AttestationResult, RegoPolicy};

use crate::backend::{
    Appraisal, Appraised, BackendError, DEFAULT_POLICY_ID, ImportSummary, PolicyChoice,
    PolicyLabel, PolicyListing, RegisteredAkInfo, VerifierBackend,
};
use crate::stored;

/// Lifetime of the EAR tokens an authority signs.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::minutes(5);

/// The transport-free verifier: appraiser, store, named appraisal policies, builder keys and
/// token signer (see the module docs).
pub struct Authority {
    appraiser: Arc<Appraiser>,
    store: Store,
    /// Serialises changes so the store and the in-memory snapshots change together.
    writes: tokio::sync::Mutex<()>,
    /// Named appraisal policies; the default one is the appraiser's.
    named_policies: RwLock<BTreeMap<String, Arc<RegoPolicy>>>,
    /// The appraiser's default policy as given, in force whenever the store holds none.
    builtin_default: Arc<RegoPolicy>,
    /// The store generation the snapshots were last rebuilt at (see [`Authority::refresh`]).
    generation: AtomicI64,
    /// Keys signed provenance must verify with; empty: imports refused.
    builder_keys: TrustedBuilderKeys,
    /// Signs results as EAR tokens for callers that ask (the gRPC service's clients).
    signer: Option<TokenSigner>,
    /// How values set directly (not imported) are recorded: `api` (a KBS's admin API) or `rpc`.
    direct_source: &'static str,
}

/// Compiles a policy from outside (an admin, a manager, the store) without holding an executor
/// thread: the limits are checked, the compilation runs on its own thread
/// ([`policy::compile_in_background`]) and this waits at most [`COMPILE_DEADLINE`]. Abandoned
/// compilations are plain threads, so a runtime shutting down never waits for them.
pub async fn load_policy(
    id: &str,
    source: &str,
    entrypoints: &[&str],
) -> Result<RegoPolicy, PolicyError> {
    let (done, compiled) = tokio::sync::oneshot::channel();
    policy::compile_in_background(id, source, entrypoints, move |result| {
        // The caller may have stopped waiting; then the result is dropped.
        let _ = done.send(result);
    })?;
    match tokio::time::timeout(COMPILE_DEADLINE, compiled).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(policy::closed(id)),
        Err(_) => Err(PolicyError::Deadline {
            id: id.into(),
            deadline: COMPILE_DEADLINE,
        }),
    }
}

/// How often a server polls its store's generation: a change written through any replica is
/// in force on every one well within a second.
pub const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Calls `refresh` (a rebuild from the store if its generation moved; whether it rebuilt) every
/// [`REFRESH_INTERVAL`], forever: `what` names the server in its log lines. A failure is logged
/// once until it changes or clears, and retried on the next tick.
pub async fn poll_refresh<F, Fut, E>(what: &'static str, mut refresh: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
    E: std::fmt::Display,
{
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    // A slow rebuild (compiling policies) delays the next poll instead of bunching them up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing: Option<String> = None;
    loop {
        tick.tick().await;
        match refresh().await {
            Ok(rebuilt) => {
                if failing.take().is_some() {
                    info!(server = what, "rebuilding from the store works again");
                }
                if rebuilt {
                    info!(
                        server = what,
                        "the store changed: policies, reference values and keys rebuilt from it"
                    );
                }
            }
            Err(error) => {
                let error = error.to_string();
                if failing.as_ref() != Some(&error) {
                    warn!(server = what, %error, "rebuilding from the store failed: what was in force stays; retrying");
                    failing = Some(error);
                }
            }
        }
    }
}

/// How to take a stored policy this build refuses out of the store, so the service can start.
pub fn stored_policy_refused(kind: &str, name: &str, error: &PolicyError) -> String {
    format!(
        "stored {kind} policy {name:?} is refused: {error}; not starting with it. Remove it with the server stopped: warden-kbs remove-stored-policy --config <kbs.toml> --kind {kind} --name {name:?} (a KBS), or warden-verifier remove-stored-policy --store <verifier.db> --name {name:?} (a verifier service)"
    )
}

fn store_failed(error: StoreError) -> BackendError {
    if error.is_unavailable() {
        BackendError::Unavailable(format!("store: {error}"))
    } else {
        BackendError::Internal(format!("store: {error}"))
    }
}

impl Authority {
    /// Loads what `store` keeps into `appraiser`: reference values (whatever it held is
    /// replaced), the default policy when one was set, the named policies, and the registered
    /// TPM AKs (into its registry's TPM trust).
    pub async fn open(appraiser: Appraiser, store: Store) -> Result<Self, BackendError> {
        // Read before loading: a change committed meanwhile makes the first refresh rebuild.
        let generation = store.generation().await.map_err(store_failed)?;
        let authority = Self {
            builtin_default: appraiser.policy(),
            appraiser: Arc::new(appraiser),
            store,
            writes: tokio::sync::Mutex::new(()),
            named_policies: RwLock::new(BTreeMap::new()),
            generation: AtomicI64::new(generation),
            builder_keys: TrustedBuilderKeys::default(),
            signer: None,
            direct_source: "api",
        };
        let registered = authority.rebuild().await?;
        if registered > 0 {
            info!(count = registered, "TPM: registered AKs loaded");
        }
        Ok(authority)
    }

    /// Rebuilds everything held from the store: the default and named appraisal policies
    /// (compiling only changed texts; the built-in default when none is stored), the reference
    /// values and the registered TPM AKs (keys the trust directory pins stay).
    pub async fn reload(&self) -> Result<(), BackendError> {
        let _writes = self.writes.lock().await;
        self.rebuild().await.map(drop)
    }

    /// [`Authority::reload`] if the store's generation moved since the last rebuild (another
    /// process on the store changed it, or this one did); whether it rebuilt.
    pub async fn refresh(&self) -> Result<bool, BackendError> {
        let _writes = self.writes.lock().await;
        // Read before rebuilding: a write committed meanwhile moves it again, and the next
        // call rebuilds again.
        let generation = self.store.generation().await.map_err(store_failed)?;
        if generation == self.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.rebuild().await?;
        self.generation.store(generation, Ordering::Release);
        Ok(true)
    }

    /// [`Authority::reload`] under the caller's hold of `writes`; how many AKs are registered.
    /// Everything is read and compiled before anything is replaced, so a failure changes
    /// nothing.
    async fn rebuild(&self) -> Result<usize, BackendError> {
        let registered = self.store.registered_aks().await.map_err(store_failed)?;
        let stored = self
            .store
            .policies(PolicyKind::Appraisal)
            .await
            .map_err(store_failed)?;
        let default_now = self.appraiser.policy();
        let named_now = self
            .named_policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut default = self.builtin_default.clone();
        let mut named = BTreeMap::new();
        for (id, source) in stored {
            let known = if id == DEFAULT_POLICY_ID {
                Some(&default_now)
            } else {
                named_now.get(&id)
            };
            let policy =
                match known {
                    Some(policy) if policy.source() == source => policy.clone(),
                    _ => Arc::new(load_policy(&id, &source, &[APPRAISAL_RULE]).await.map_err(
                        |e| BackendError::Internal(stored_policy_refused("appraisal", &id, &e)),
                    )?),
                };
            if id == DEFAULT_POLICY_ID {
                default = policy;
            } else {
                named.insert(id, policy);
            }
        }
        let values = self.store.reference_values().await.map_err(store_failed)?;
        let values = stored::reference_values(&values).map_err(BackendError::Internal)?;
        self.appraiser
            .registry()
            .tpm_trust()
            .update(|trust| {
                trust.keys.retain(|_, origin| *origin == KeyOrigin::Pinned);
                for ak in &registered {
                    trust
                        .add_key(&ak.public, KeyOrigin::Registered)
                        .map_err(|e| format!("registered AK {}: {e}", ak.name))?;
                }
                Ok(())
            })
            .map_err(BackendError::Internal)?;
        if default.source() != default_now.source() {
            self.appraiser.set_policy(RegoPolicy::clone(&default));
        }
        *self
            .named_policies
            .write()
            .unwrap_or_else(|e| e.into_inner()) = named;
        self.appraiser.set_reference_values(values);
        Ok(registered.len())
    }

    /// Accepts reference values signed by these builder keys.
    pub fn with_builder_keys(mut self, keys: TrustedBuilderKeys) -> Self {
        self.builder_keys = keys;
        self
    }

    /// Records values set directly as coming from `source` (`rpc` for the gRPC service).
    pub fn recording_source(mut self, source: &'static str) -> Self {
        self.direct_source = source;
        self
    }

    /// Signs results as EAR tokens with `signer` (see [`Authority::sign`]).
    pub fn with_signer(mut self, signer: TokenSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The appraiser, holding the reference values and default policy in force.
    pub fn appraiser(&self) -> &Arc<Appraiser> {
        &self.appraiser
    }

    /// The store the authority keeps its state in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The EAR token signer, if one was given ([`Authority::with_signer`]).
    pub fn signer(&self) -> Option<&TokenSigner> {
        self.signer.as_ref()
    }

    /// `result` as an EAR token bound to a nonce and a TEE key; `None` without a signer.
    pub fn sign(
        &self,
        result: &AttestationResult,
        nonce: &str,
        tee_pubkey: &Value,
        now: OffsetDateTime,
    ) -> Result<Option<String>, BackendError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
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
            .map(Some)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    /// The policy `choice` selects; an unknown id is the caller's error, never answered with
    /// another policy.
    fn policy(&self, choice: &PolicyChoice) -> Result<Arc<RegoPolicy>, BackendError> {
        match choice {
            PolicyChoice::Default => Ok(self.appraiser.policy()),
            PolicyChoice::Named(id) => self
                .named_policies
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .cloned()
                .ok_or_else(|| BackendError::NotFound(format!("no appraisal policy named {id:?}"))),
        }
    }

    /// Stores values (all or none), then rebuilds the appraiser's index from the store.
    async fn store_values(
        &self,
        values: &[(String, String)],
        origin: &ReferenceValueOrigin,
    ) -> Result<(), BackendError> {
        let _writes = self.writes.lock().await;
        self.store
            .put_reference_values(values, origin)
            .await
            .map_err(store_failed)?;
        self.reload_values().await
    }

    async fn reload_values(&self) -> Result<(), BackendError> {
        let stored = self.store.reference_values().await.map_err(store_failed)?;
        let values = stored::reference_values(&stored).map_err(BackendError::Internal)?;
        self.appraiser.set_reference_values(values);
        Ok(())
    }
}

#[async_trait::async_trait]
impl VerifierBackend for Authority {
    async fn appraise(
        &self,
        appraisal: Appraisal,
        now: OffsetDateTime,
    ) -> Result<Appraised, BackendError> {
        let policy = self.policy(&appraisal.policy)?;
        let appraiser = self.appraiser.clone();
        // CPU-bound (signatures, Rego): off the I/O threads.
        tokio::task::spawn_blocking(move || {
            let request = AppraisalRequest {
                init_data: appraisal.init_data,
                tee: &appraisal.tee,
                evidence: &appraisal.evidence,
                expected: appraisal.expected,
            };
            if !appraisal.with_trace {
                return Ok(Appraised {
                    outcome: appraiser.appraise_with(&request, &policy, now),
                    trace: Value::Null,
                });
            }
            let detailed = appraiser.appraise_detailed_with(&request, &policy, now);
            let trace = serde_json::to_value(&detailed.trace)
                .map_err(|e| BackendError::Internal(e.to_string()))?;
            Ok(Appraised {
                outcome: detailed.result,
                trace,
            })
        })
        .await
        .map_err(|e| BackendError::Internal(format!("appraisal task failed: {e}")))?
    }

    async fn set_appraisal_policy(
        &self,
        choice: &PolicyChoice,
        rego: &str,
        who: &str,
    ) -> Result<PolicyLabel, BackendError> {
        let policy = load_policy(choice.id(), rego, &[APPRAISAL_RULE])
            .await
            .map_err(|e| BackendError::Invalid(e.to_string()))?;
        let label = PolicyLabel::of(&policy);
        let _writes = self.writes.lock().await;
        self.store
            .put_policy(PolicyKind::Appraisal, choice.id(), rego)
            .await
            .map_err(store_failed)?;
        match choice {
            PolicyChoice::Default => self.appraiser.set_policy(policy),
            PolicyChoice::Named(id) => {
                self.named_policies
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), Arc::new(policy));
            }
        }
        info!(policy = %label, set_by = %who, "appraisal policy set");
        Ok(label)
    }

    async fn appraisal_policies(&self) -> Result<PolicyListing, BackendError> {
        let named = self
            .named_policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, policy)| (id.clone(), PolicyLabel::of(policy)))
            .collect();
        Ok(PolicyListing {
            default: PolicyLabel::of(&self.appraiser.policy()),
            named,
        })
    }

    async fn set_reference_value(
        &self,
        value: &NamedReferenceValue,
        who: &str,
    ) -> Result<(), BackendError> {
        let origin = ReferenceValueOrigin {
            source: self.direct_source.into(),
            set_by: who.to_owned(),
            provenance_sha256: None,
            expires_at: value.expires(),
        };
        self.store_values(
            &[(value.name().to_owned(), value.value().to_string())],
            &origin,
        )
        .await?;
        info!(name = %value.name(), set_by = %who, "reference value set");
        Ok(())
    }

    async fn delete_reference_value(&self, name: &str, who: &str) -> Result<bool, BackendError> {
        let _writes = self.writes.lock().await;
        let deleted = self
            .store
            .delete_reference_value(name)
            .await
            .map_err(store_failed)?;
        self.reload_values().await?;
        if deleted {
            info!(%name, deleted_by = %who, "reference value deleted");
        }
        Ok(deleted)
    }

    async fn reference_value_entries(&self, now: OffsetDateTime) -> Result<Value, BackendError> {
        let stored = self.store.reference_values().await.map_err(store_failed)?;
        stored::listing(&stored, now.unix_timestamp()).map_err(BackendError::Internal)
    }

    async fn import_reference_values(
        &self,
        envelope: &[u8],
        who: &str,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, BackendError> {
        let imported = import_reference_values(envelope, &self.builder_keys, now)
            .map_err(|e| BackendError::ProvenanceRefused(e.to_string()))?;
        let (values, origin) = stored::imported_rows(&imported, who.to_owned());
        self.store_values(&values, &origin).await?;
        let summary = ImportSummary::of(&imported);
        info!(signer = %summary.signer, provenance_sha256 = %summary.provenance_sha256, set_by = %who, names = ?summary.names, "reference values imported from signed provenance");
        Ok(summary)
    }

    async fn register_tpm_ak(&self, ak_public: &[u8], who: &str) -> Result<String, BackendError> {
        let ak = registrable_ak(ak_public).map_err(|e| BackendError::Invalid(e.to_string()))?;
        let ak_name = hex::encode(ak.name());
        let _writes = self.writes.lock().await;
        if self
            .store
            .is_revoked_ak(&ak_name)
            .await
            .map_err(store_failed)?
        {
            return Err(BackendError::Conflict(format!(
                "AK {ak_name} was revoked: the device must create a new AK"
            )));
        }
        // Kept before it is trusted, and trusted before the caller is told.
        self.store
            .put_registered_ak(&ak_name, ak_public, who)
            .await
            .map_err(store_failed)?;
        self.appraiser
            .registry()
            .tpm_trust()
            .update(|trust| trust.add_key(ak_public, KeyOrigin::Registered))
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        info!(%ak_name, registered_by = %who, "TPM AK registered (credential activation done by the caller)");
        Ok(ak_name)
    }

    async fn tpm_aks(&self) -> Result<Vec<RegisteredAkInfo>, BackendError> {
        Ok(self
            .store
            .registered_aks()
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|ak| RegisteredAkInfo::new(ak.name, ak.registered_at, ak.registered_by))
            .collect())
    }

    async fn revoke_tpm_ak(&self, name: &str, who: &str) -> Result<bool, BackendError> {
        let _writes = self.writes.lock().await;
        let registered = self.store.registered_aks().await.map_err(store_failed)?;
        let Some(ak_public) = registered
            .iter()
            .find(|ak| ak.name == name)
            .map(|ak| &ak.public)
        else {
            return Ok(false);
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
            .map_err(BackendError::Internal)?;
        if !untrusted {
            // A registered AK is trusted from load on; only a pin makes it stay.
            return Err(BackendError::Conflict(format!(
                "AK {name} is also pinned by the verifier's TPM trust directory: remove it there"
            )));
        }
        self.store
            .revoke_registered_ak(name, who)
            .await
            .map_err(store_failed)?;
        warn!(ak_name = %name, revoked_by = %who, "TPM AK revoked");
        Ok(true)
    }

    async fn ready(&self) -> Result<(), BackendError> {
        self.store.ping().await.map_err(store_failed)
    }

    async fn reload(&self) -> Result<(), BackendError> {
        Authority::reload(self).await
    }
}
