//! The KBS itself, free of HTTP: each public method is one API call, taking the request's bytes
//! and the current time and returning a value or a [`KbsError`]. Every error path denies.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rand::RngCore;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{info, warn};
use warden_fetch::Prefetcher;
use warden_fetch::kds::KdsSettings;
use warden_fetch::pcs::PcsSettings;
use warden_store::{PolicyKind, SessionRecord, Store};
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::ear::{EarClaims, TokenContext, TokenSigner, TokenVerifier};
use warden_verifier::provenance::TrustedBuilderKeys;
use warden_verifier::reference::NamedReferenceValue;
use warden_verifier::tee::tpm::trust::TpmTrust;
use warden_verifier::{
    Appraiser, ReferenceValues, RegoPolicy, VerifierRegistry, VerifierSettings, VerifierSources,
};
use warden_verifier_service::{
    Appraisal, Authority, PolicyChoice, RemoteVerifier, TlsFiles, VerifierBackend,
};
use warden_wire::{Attestation, Challenge, FlattenedJwe, Request, ResourcePath, TeePublicKey};

use crate::admin::{AdminAuth, AdminError, AdminKey, Permission, RevokeRequest, valid_token_id};
use crate::audit::{AuditEvent, sha256_hex};
use crate::config::Config;
use crate::error::{KbsError, verifier_failure};
use crate::keyfile;
use crate::metrics::{Metrics, TeeLabels};
use crate::protocol::{
    Authorization, Challenges, Fresh, PendingAttestation, ProtocolConfig, ProtocolError, Sessions,
    TICKET_KEY_INFO, Ticket,
};
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::release::{self, Decision, ReleasePolicies};
use crate::sealing::Sealer;
use crate::signing::{SigningDesk, SigningSettings, signing_key_commitments};
use crate::tpm_registration::{Registrar, RegistrationSettings};
use crate::transparency::MerkleLog;

/// How a `/resource` request proves it is entitled to ask.
pub enum Credential<'a> {
    /// The `kbs-session-id` cookie of an attested session.
    Session(&'a str),
    /// An attestation token from `Authorization: Bearer` (takes precedence over the cookie).
    Bearer(&'a str),
    /// Neither: refused with [`KbsError::Unauthenticated`].
    None,
}

/// The key broker: handshake sessions, verifier, token signer, store, release policies and admin
/// authentication behind one method per API call.
pub struct Kbs {
    /// Issues and opens the sealed tickets of `/auth`: no per-client state before attestation.
    challenges: Challenges,
    /// This replica's cache of the attested sessions the store holds.
    sessions: Mutex<Sessions>,
    limiter: Mutex<RateLimiter>,
    /// The verifier, embedded or a service: one code path either way.
    verifier: Arc<dyn VerifierBackend>,
    /// The appraisal policy this KBS appraises with and sets.
    policy: PolicyChoice,
    signer: TokenSigner,
    token_verifier: TokenVerifier,
    store: Store,
    sealer: Sealer,
    release: RwLock<Arc<ReleasePolicies>>,
    admin: AdminAuth,
    /// Serialises release- and signing-policy changes and [`Kbs::refresh`], so each rebuild
    /// sees a consistent store.
    admin_writes: tokio::sync::Mutex<()>,
    /// The store generation the in-memory snapshots were last rebuilt at (see [`Kbs::refresh`]).
    generation: AtomicI64,
    token_lifetime: time::Duration,
    /// Optional AMD KDS and Intel PCS clients that fill the SNP and TDX collateral before
    /// appraisal.
    prefetcher: Prefetcher,
    registrar: Registrar,
    /// The signing authority; `None` without `[signing]`.
    signing: Option<crate::signing::SigningDesk>,
    /// The audit log; `None` only when `[transparency] audit = false` (loudly).
    audit: Option<MerkleLog>,
    /// The signing transparency log; with the signing authority.
    signing_log: Option<MerkleLog>,
    /// Prometheus metrics served at `/metrics`.
    pub metrics: Metrics,
}

mod logs;
mod signing;
pub use logs::{LogQuery, LogRead, MAX_PAGE};
pub(crate) use signing::{MAX_SIGNING_BODY_BYTES, MAX_TIMESTAMP_REQUEST_BYTES};

/// The store name of the audit log.
pub const AUDIT_LOG: &str = "audit";
/// The store name of the signing transparency log.
pub const SIGNING_LOG: &str = "signing";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn internal(e: impl std::fmt::Display) -> KbsError {
    KbsError::Internal(e.to_string())
}

/// Log label for a TEE: insecure ones say so in every line.
fn tee_label(tee: &str) -> String {
    if tee == "sample" {
        "sample (INSECURE: no hardware root of trust)".into()
    } else {
        tee.into()
    }
}

/// Log label for an attestation result: results that are insecure (sample, or evidence verified
/// through development roots) say so, whatever the TEE name.
fn result_label(claims: &EarClaims) -> String {
    let tee = claims.primary().map(|s| s.tee.as_str()).unwrap_or_default();
    match claims.insecure.first() {
        Some(reason) if tee != "sample" => format!("{tee} (INSECURE: {reason})"),
        _ => tee_label(tee),
    }
}

/// The sealer of the master key `WARDEN_MASTER_KEY` holds, else the master key file (created
/// on first start).
pub fn master_sealer(config: &Config) -> Result<Sealer, KbsError> {
    let master_key = match std::env::var("WARDEN_MASTER_KEY") {
        Ok(value) => Sealer::parse_master_key(value.as_bytes()),
        Err(_) => {
            let text = keyfile::read_or_create_private(
                &config.store.master_key_file,
                Sealer::generate_master_key,
            )
            .map_err(|e| {
                internal(format!(
                    "master key {}: {e}",
                    config.store.master_key_file.display()
                ))
            })?;
            Sealer::parse_master_key(&text)
        }
    }
    .map_err(internal)?;
    Ok(Sealer::new(&master_key))
}

/// Names the token signing key in the store.
const TOKEN_KEY_NAME: &str = "token-signing";

/// The AAD a service key is sealed under (no resource path contains `:`).
fn service_key_context(name: &str) -> String {
    format!("service-key:{name}")
}

/// Unseals the service key `name` as stored in `service_keys`.
pub fn unseal_service_key(
    sealer: &Sealer,
    name: &str,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, crate::sealing::SealingError> {
    sealer.unseal(&service_key_context(name), sealed)
}

/// The attestation-token signing key (PKCS#8 PEM): the `[token] signing_key` file when it
/// exists. Otherwise, on PostgreSQL, the key sealed in the store, created by the first replica
/// that starts, so that every replica signs with it and accepts the others' tokens; on SQLite,
/// a new key written to that file.
async fn token_signing_key(
    config: &Config,
    store: &Store,
    sealer: &Sealer,
) -> Result<Vec<u8>, KbsError> {
    let generate = || {
        warden_verifier::ear::generate_signing_key_pem()
            .map(String::into_bytes)
            .unwrap_or_default()
    };
    let file = &config.token.signing_key;
    let file_failed =
        |e: std::io::Error| internal(format!("token signing key {}: {e}", file.display()));
    if store.backend() == "postgres" && !file.exists() {
        let candidate = sealer.seal(&service_key_context(TOKEN_KEY_NAME), &generate());
        let sealed = store
            .service_key_or_insert(TOKEN_KEY_NAME, &candidate)
            .await?;
        let pem = unseal_service_key(sealer, TOKEN_KEY_NAME, &sealed)
            .map_err(|e| internal(format!("token signing key in the store: {e}")))?;
        return Ok(pem.to_vec());
    }
    keyfile::read_or_create_private(file, generate).map_err(file_failed)
}

impl Kbs {
    /// Opens the store and keys named by `config`, creating keys on first start.
    pub async fn open(config: &Config) -> Result<Self, KbsError> {
        let sealer = master_sealer(config)?;
        let store = config.store.open().await.map_err(internal)?;
        let signing_pem = token_signing_key(config, &store, &sealer).await?;
        let signer = TokenSigner::from_pem(&signing_pem, &config.token.issuer).map_err(internal)?;
        let mut admin_keys = Vec::new();
        for key in &config.admin.keys {
            let pem = std::fs::read(&key.public_key)
                .map_err(|e| internal(format!("admin key {}: {e}", key.public_key.display())))?;
            admin_keys.push(
                AdminKey::from_public_pem(&key.name, &pem, key.roles.clone()).map_err(internal)?,
            );
        }
        if admin_keys.is_empty() {
            warn!("no admin keys configured: the admin API refuses every call");
        }
        let kds = match &config.snp.kds {
            Some(kds) => {
                info!(url = %kds.url, "SNP: missing VCEKs are fetched from KDS before appraisal");
                Some(KdsSettings {
                    base_url: kds.url.clone(),
                    timeout: kds.timeout,
                    retry_after: kds.retry_after,
                    cache_dir: config.snp.collateral_dir.clone(),
                })
            }
            None => None,
        };
        let pcs = config.tdx.pcs.as_ref().map(|pcs| {
            info!(url = %pcs.url, "TDX: collateral is fetched from PCS before appraisal when not valid");
            PcsSettings {
                base_url: pcs.url.clone(),
                root_crl_url: pcs.root_crl_url.clone(),
                timeout: pcs.timeout,
                retry_after: pcs.retry_after,
                cache_dir: config.tdx.collateral_dir.clone(),
            }
        });
        let settings = KbsSettings {
            protocol: ProtocolConfig {
                session_timeout: time::Duration::try_from(config.session.timeout)
                    .map_err(internal)?,
                max_sessions: config.session.max_sessions,
            },
            rate_limit: RateLimit {
                per_second: config.rate_limit.auth_per_second,
                burst: config.rate_limit.auth_burst.max(1.0),
                max_clients: 16_384,
            },
            token_lifetime: time::Duration::try_from(config.token.lifetime).map_err(internal)?,
            verifiers: verifier_settings(config)?,
            kds,
            pcs,
            tpm_registration: tpm_registration_settings(config)?,
            provenance_keys: provenance_keys(config)?,
            remote: remote_verifier(config)?,
            signing: config.signing.as_ref().map(|signing| SigningSettings {
                issuer: signing
                    .issuer_url(config.public_url.as_deref())
                    .unwrap_or_default()
                    .to_owned(),
                default_lifetime: time::Duration::try_from(signing.default_certificate_lifetime)
                    .unwrap_or(time::Duration::minutes(10)),
                max_lifetime: time::Duration::try_from(signing.max_certificate_lifetime)
                    .unwrap_or(time::Duration::minutes(10)),
            }),
            transparency: TransparencySettings::from_config(config),
        };
        Self::new(
            settings,
            store,
            sealer,
            signer,
            AdminAuth::new(admin_keys).with_max_token_lifetime(
                time::Duration::try_from(config.admin.max_token_lifetime).map_err(internal)?,
            ),
        )
        .await
    }

    /// Assembles a KBS from ready parts: the verifier service in `settings.remote`, else an
    /// embedded verifier over `store`; release policies are loaded from `store`.
    pub async fn new(
        settings: KbsSettings,
        store: Store,
        sealer: Sealer,
        signer: TokenSigner,
        admin: AdminAuth,
    ) -> Result<Self, KbsError> {
        let prefetcher =
            Prefetcher::new(settings.kds, settings.pcs, &settings.verifiers).map_err(internal)?;
        // Read before anything is loaded: a change committed while loading moves it, and the
        // first refresh rebuilds.
        let generation = store.generation().await.map_err(internal)?;
        let ticket_key = sealer.derive_key(TICKET_KEY_INFO).map_err(internal)?;
        let (verifier, policy): (Arc<dyn VerifierBackend>, PolicyChoice) = match settings.remote {
            Some((remote, policy)) => (Arc::new(remote), policy),
            None => {
                let appraiser = Appraiser::new(
                    VerifierRegistry::new(&settings.verifiers),
                    Appraiser::compile_policy(
                        warden_verifier_service::DEFAULT_POLICY_ID,
                        DEFAULT_APPRAISAL_POLICY,
                    )
                    .map_err(internal)?,
                    ReferenceValues::default(),
                );
                // The KBS's own store keeps what the embedded verifier holds.
                let authority = Authority::open(appraiser, store.clone())
                    .await
                    .map_err(|e| internal(format!("embedded verifier: {e}")))?
                    .with_builder_keys(settings.provenance_keys);
                (Arc::new(authority), PolicyChoice::Default)
            }
        };
        let release = ReleasePolicies::load(
            &store
                .policies(PolicyKind::Release)
                .await
                .map_err(KbsError::from)?,
            &[],
        )
        .await
        .map_err(|(prefix, e)| {
            internal(warden_verifier_service::stored_policy_refused(
                "release", &prefix, &e,
            ))
        })?;
        let signing = match settings.signing {
            Some(signing) => Some(
                SigningDesk::open(&store, &sealer, signing)
                    .await
                    .map_err(|e| internal(format!("[signing]: {e}")))?,
            ),
            None => None,
        };
        let log_failed =
            |e: crate::transparency::LogError| internal(format!("transparency log: {e}"));
        let transparency = &settings.transparency;
        let audit = if transparency.audit {
            Some(
                MerkleLog::open(&store, &sealer, AUDIT_LOG, &transparency.audit_origin)
                    .await
                    .map_err(log_failed)?,
            )
        } else {
            warn!(
                "INSECURE: the audit log is off ([transparency] audit = false): releases, appraisals and admin changes are not recorded"
            );
            None
        };
        let signing_log = match &signing {
            Some(_) => Some(
                MerkleLog::open(&store, &sealer, SIGNING_LOG, &transparency.signing_origin)
                    .await
                    .map_err(log_failed)?,
            ),
            None => None,
        };
        Ok(Self {
            signing,
            audit,
            signing_log,
            challenges: Challenges::new(&ticket_key, settings.protocol.session_timeout),
            sessions: Mutex::new(Sessions::new(settings.protocol)),
            limiter: Mutex::new(RateLimiter::new(settings.rate_limit)),
            verifier,
            policy,
            token_verifier: signer.verifier().map_err(internal)?,
            signer,
            store,
            sealer,
            release: RwLock::new(Arc::new(release)),
            admin,
            admin_writes: tokio::sync::Mutex::new(()),
            generation: AtomicI64::new(generation),
            token_lifetime: settings.token_lifetime,
            prefetcher,
            registrar: Registrar::new(settings.tpm_registration),
            metrics: Metrics::default(),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The sessions hold plain data; a panic elsewhere cannot leave them half-updated.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST /auth`: returns the session cookie value (the sealed ticket) and the challenge.
    /// Keeps nothing: an unauthenticated client costs no memory here.
    pub fn auth(
        &self,
        client: IpAddr,
        body: &[u8],
        now: OffsetDateTime,
        instant: Instant,
    ) -> Result<(String, Challenge), KbsError> {
        self.rate_limit(client, instant)?;
        let request: Request = serde_json::from_slice(body)
            .map_err(|e| KbsError::Malformed(format!("Request: {e}")))?;
        let fresh = Fresh {
            session_id: random_bytes(),
            nonce: random_bytes(),
            iv: random_bytes(),
        };
        let issued = self.challenges.issue(&request, fresh, now)?;
        // The name was checked to be a plain TEE name; unauthenticated calls log at debug only.
        tracing::debug!(tee = %tee_label(&request.tee), "challenge issued");
        Ok(issued)
    }

    /// Before `/attest` is appraised, for a cookie holding a fresh, unused ticket only: fetches
    /// the collateral the evidence needs (see [`Prefetcher::prepare`]).
    pub async fn prepare_collateral(&self, cookie: Option<&str>, body: &[u8], now: OffsetDateTime) {
        if !self.prefetcher.enabled() {
            return;
        }
        let Ok(ticket) = self.unused_ticket(cookie, now).await else {
            return;
        };
        let Ok(attestation) = serde_json::from_slice::<Attestation>(body) else {
            return;
        };
        self.prefetcher
            .prepare(&ticket.tee, &attestation.tee_evidence.primary_evidence, now)
            .await;
    }

    /// `POST /attest`: appraises the evidence and returns the signed attestation token. Only
    /// a successful appraisal creates state (the attested session in the store, which also
    /// uses the nonce on every replica).
    pub async fn attest(
        &self,
        cookie: Option<&str>,
        client: Option<IpAddr>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<String, KbsError> {
        let ticket = self.unused_ticket(cookie, now).await?;
        let mut attestation: Attestation = serde_json::from_slice(body)
            .map_err(|e| KbsError::Malformed(format!("Attestation: {e}")))?;
        let pending = crate::protocol::pending_attestation(ticket, &attestation)?;
        let signing_keys = signing_key_commitments(&attestation.tee_evidence.additional_evidence)
            .map_err(KbsError::Malformed)?;
        let label = tee_label(&pending.ticket.tee);
        // The evidence moves to the verifier (it is not read here again): no copy per attestation.
        let evidence = std::mem::take(&mut attestation.tee_evidence.primary_evidence);
        let outcome = self
            .appraise_and_sign(evidence, &attestation, &pending, now)
            .await;
        let tee = pending.ticket.tee.clone();
        let client = crate::audit::client(client);
        // The result is on the audit log before the session exists and the token leaves.
        let outcome = match outcome {
            Ok((claims, token)) => {
                let event = AuditEvent::Attestation {
                    jti: claims.jti.clone(),
                    tee: result_label(&claims),
                    status: claims
                        .primary()
                        .map(|s| s.status.to_string())
                        .unwrap_or_default(),
                    claims_sha256: crate::audit::jws_payload_sha256(&token),
                    client: client.clone(),
                };
                self.record(event, now).await.map(|()| (claims, token))
            }
            Err(error) => Err(error),
        };
        let outcome = match outcome {
            Ok((claims, token)) => {
                let authorization = Authorization {
                    claims,
                    tee_key: pending.tee_key,
                    token,
                    signing_keys,
                };
                self.grant(&pending.ticket, authorization).await
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok((token, label, status)) => {
                self.metrics
                    .attestations
                    .get_or_create(&TeeLabels { tee, outcome: "ok" })
                    .inc();
                info!(tee = %label, %status, "attestation appraised, token issued");
                Ok(token)
            }
            Err(error) => {
                self.metrics
                    .attestations
                    .get_or_create(&TeeLabels {
                        tee,
                        outcome: "rejected",
                    })
                    .inc();
                // Not an audit entry: anyone may fail an attestation, as often as `/auth` allows,
                // and an audit log strangers can fill hides what matters (the service log has it).
                warn!(tee = %label, %error, "attestation rejected");
                Err(error)
            }
        }
    }

    /// Records the grant of a successful appraisal of `ticket` in the store — which uses its
    /// nonce for every replica, unless one already did — and caches it here; the token, the
    /// result's label and status.
    async fn grant(
        &self,
        ticket: &Ticket,
        authorization: Authorization,
    ) -> Result<(String, String, String), KbsError> {
        let record = SessionRecord {
            session_id: ticket.session_id.to_vec(),
            used_until: ticket.expires_at.unix_timestamp(),
            granted_until: crate::protocol::grant_until(ticket, &authorization.claims)
                .unix_timestamp(),
            token: authorization.token.clone(),
            signing_keys: authorization.signing_keys.clone(),
        };
        // The insert decides: of two appraisals of one ticket, on any replicas, one is granted.
        if !self
            .store
            .claim_session(&record)
            .await
            .map_err(KbsError::from)?
        {
            return Err(ProtocolError::NonceAlreadyUsed.into());
        }
        let label = result_label(&authorization.claims);
        let status = authorization
            .claims
            .primary()
            .map(|s| s.status.to_string())
            .unwrap_or_default();
        let token = authorization.token.clone();
        let mut sessions = self.sessions();
        sessions.complete(ticket, authorization);
        self.metrics.sessions.set(sessions.attested_count() as i64);
        Ok((token, label, status))
    }

    /// The unexpired ticket `cookie` carries, unless a successful attestation (on any replica)
    /// already used its nonce. A filter only: the store's insert in [`Kbs::grant`] decides.
    async fn unused_ticket(
        &self,
        cookie: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Ticket, KbsError> {
        let ticket = self
            .challenges
            .open(cookie.ok_or(ProtocolError::NoSession)?, now)?;
        if self.sessions().is_used(&ticket) {
            return Err(ProtocolError::NonceAlreadyUsed.into());
        }
        let stored = self
            .store
            .session(&ticket.session_id)
            .await
            .map_err(KbsError::from)?;
        if stored.is_some() {
            return Err(ProtocolError::NonceAlreadyUsed.into());
        }
        Ok(ticket)
    }

    /// The grant of the attested session `ticket` names: from this replica's cache, else from
    /// the store, whose token is verified as a bearer token is (signed by this KBS's key,
    /// unexpired, bound to the ticket's nonce; the TEE key from `cnf.jwk`) before the grant is
    /// cached. Absent from both: [`ProtocolError::NotAttested`]; ended:
    /// [`ProtocolError::SessionExpired`].
    pub(crate) async fn session_authorization(
        &self,
        ticket: &Ticket,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, KbsError> {
        let cached = self.sessions().authorization(ticket, now);
        match cached {
            Err(ProtocolError::NotAttested) => {}
            cached => return Ok(cached?),
        }
        let record = self
            .store
            .session(&ticket.session_id)
            .await
            .map_err(KbsError::from)?
            .ok_or(ProtocolError::NotAttested)?;
        let until = OffsetDateTime::from_unix_timestamp(record.granted_until)
            .map_err(|_| ProtocolError::SessionExpired)?;
        if until <= now {
            return Err(ProtocolError::SessionExpired.into());
        }
        let refused = |reason: String| {
            // Replicas that do not share the token signing key refuse each other's sessions.
            warn!(%reason, "a stored session's token was refused");
            KbsError::TokenRejected(reason)
        };
        let claims = self
            .token_verifier
            .verify(&record.token, now)
            .map_err(|e| refused(format!("stored session: {e}")))?;
        if claims.eat_nonce != ticket.nonce {
            return Err(refused(
                "stored session: its token answers another challenge".into(),
            ));
        }
        let tee_key = TeePublicKey::from_jwk_value(&claims.cnf.jwk)
            .map_err(|e| refused(format!("stored session: {e}")))?;
        let authorization = Authorization {
            claims,
            tee_key,
            token: record.token,
            signing_keys: record.signing_keys,
        };
        let mut sessions = self.sessions();
        let adopted = sessions.adopt(ticket.session_id, authorization, until);
        self.metrics.sessions.set(sessions.attested_count() as i64);
        Ok(adopted)
    }

    async fn appraise_and_sign(
        &self,
        evidence: Value,
        attestation: &Attestation,
        pending: &PendingAttestation,
        now: OffsetDateTime,
    ) -> Result<(EarClaims, String), KbsError> {
        let appraisal = Appraisal {
            tee: pending.ticket.tee.clone(),
            evidence,
            init_data: pending.init_data.clone(),
            expected: pending.expected.clone(),
            policy: self.policy.clone(),
            // The broker acts on the result; explaining is the verifier's own endpoints' job.
            with_trace: false,
        };
        let appraised = self
            .verifier
            .appraise(appraisal, now)
            .await
            .map_err(|e| verifier_failure(e, KbsError::VerifierUnavailable))?;
        let result = appraised.outcome?;
        // A result for another TEE than the one challenged is no answer to this request.
        if result.tee.name() != pending.ticket.tee {
            return Err(KbsError::VerifierUnavailable(format!(
                "the verifier answered for TEE {} instead of {}",
                result.tee.name(),
                pending.ticket.tee
            )));
        }
        let context = TokenContext {
            nonce: &pending.ticket.nonce,
            tee_pubkey: &attestation.runtime_data.tee_pubkey,
            issued_at: now,
            lifetime: self.token_lifetime,
            jti: hex::encode(random_bytes::<16>()),
        };
        let claims = EarClaims::new(&result, self.signer.issuer(), context);
        let token = self.signer.sign(&claims).map_err(internal)?;
        Ok((claims, token))
    }

    /// `GET /resource/<path>`: the resource encrypted to the attested TEE key.
    pub async fn resource(
        &self,
        credential: Credential<'_>,
        client: Option<IpAddr>,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<FlattenedJwe, KbsError> {
        let path = ResourcePath::parse(path).map_err(|e| KbsError::Malformed(e.to_string()))?;
        let (claims, tee_key) = match credential {
            Credential::Session(cookie) => {
                let ticket = self.challenges.open(cookie, now)?;
                let authorization = self.session_authorization(&ticket, now).await?;
                (authorization.claims.clone(), authorization.tee_key.clone())
            }
            Credential::Bearer(token) => {
                let claims = self
                    .token_verifier
                    .verify(token, now)
                    .map_err(|e| KbsError::TokenRejected(e.to_string()))?;
                let key = TeePublicKey::from_jwk_value(&claims.cnf.jwk)
                    .map_err(|e| KbsError::TokenRejected(e.to_string()))?;
                (claims, key)
            }
            Credential::None => return Err(KbsError::Unauthenticated),
        };
        let tee = result_label(&claims);
        // The policy is decided before existence is revealed, so a denied caller cannot probe names.
        let release = self
            .release
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let client = crate::audit::client(client);
        if let Decision::Deny { policy } = release.decide(&claims, &path) {
            warn!(%tee, resource = %path, %policy, "release denied");
            let refusal = AuditEvent::ReleaseRefused {
                resource: path.to_string(),
                policy: policy.clone(),
                jti: claims.jti.clone(),
                tee,
                client,
            };
            self.record(refusal, now).await?;
            return Err(KbsError::PolicyDenied { policy });
        }
        let allowed_by = release.policy_for(&path);
        let sealed = self
            .store
            .get_resource(path.as_str())
            .await
            .map_err(KbsError::from)?;
        let sealed = sealed.ok_or_else(|| KbsError::NotFound(path.to_string()))?;
        let plaintext = self
            .sealer
            .unseal(path.as_str(), &sealed)
            .map_err(internal)?;
        let envelope = tee_key.encrypt(&plaintext).map_err(internal)?;
        // Nothing leaves unlogged: the release is durable on the audit log before the answer.
        let release = AuditEvent::Release {
            resource: path.to_string(),
            policy: allowed_by.id().to_owned(),
            policy_sha256: allowed_by.digest().to_owned(),
            jti: claims.jti.clone(),
            tee: tee.clone(),
            client,
        };
        self.record(release, now).await?;
        info!(%tee, resource = %path, "resource released");
        Ok(envelope)
    }

    /// Appends `event` to the audit log and returns once it is durable; an entry that cannot be
    /// written refuses the operation it records ([`KbsError::LogUnavailable`]).
    pub(crate) async fn record(
        &self,
        event: AuditEvent,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let Some(log) = &self.audit else {
            return Ok(());
        };
        log.append(event.to_entry(now))
            .await
            .map(|_| ())
            .map_err(|e| KbsError::LogUnavailable(e.to_string()))
    }

    /// Records an admin change before it is applied (so no change is in force unlogged):
    /// who, what, and the SHA-256 of the value before and after (for a resource, of its sealed
    /// form: a digest of a low-entropy secret would give it away).
    async fn record_admin(
        &self,
        who: &str,
        action: &str,
        target: &str,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let event = AuditEvent::AdminChange {
            who: who.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            before_sha256: before.map(sha256_hex),
            after_sha256: after.map(sha256_hex),
        };
        self.record(event, now).await
    }

    /// The per-client budget shared by the unauthenticated calls that start work: `/auth` and
    /// TPM registration.
    fn rate_limit(&self, client: IpAddr, instant: Instant) -> Result<(), KbsError> {
        let allowed = self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(client, instant);
        if allowed {
            Ok(())
        } else {
            Err(KbsError::RateLimited)
        }
    }

    /// `POST /kbs/v0/tpm/register` (rate-limited like `/auth`: it costs a chain check and an
    /// RSA encryption).
    pub fn tpm_register(
        &self,
        client: IpAddr,
        body: &[u8],
        now: OffsetDateTime,
        instant: Instant,
    ) -> Result<Value, KbsError> {
        self.rate_limit(client, instant)?;
        let challenge = self.registrar.register(body, now)?;
        serde_json::to_value(challenge).map_err(internal)
    }

    /// `POST /kbs/v0/tpm/activate`: a matching secret proves the AK; the verifier keeps and
    /// trusts it before the client is told.
    pub async fn tpm_activate(&self, body: &[u8], now: OffsetDateTime) -> Result<Value, KbsError> {
        let activated = self.registrar.activate(body, now)?;
        let registered = self
            .verifier
            .register_tpm_ak(&activated.ak_public, "")
            .await
            .map_err(|e| verifier_failure(e, KbsError::Registration))?;
        if registered != activated.ak_name {
            return Err(KbsError::VerifierUnavailable(format!(
                "the verifier registered AK {registered} instead of {}",
                activated.ak_name
            )));
        }
        info!(ak_name = %registered, "TPM AK registered by credential activation");
        serde_json::to_value(warden_wire::tpm::registration::Registered {
            ak_name: registered,
        })
        .map_err(internal)
    }

    /// The token signing key set served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        serde_json::to_value(self.signer.jwks()).unwrap_or(Value::Null)
    }

    /// OIDC-style discovery document; `base_url` is how clients reach this KBS.
    pub fn discovery(&self, base_url: &str) -> Value {
        json!({
            "issuer": self.signer.issuer(),
            "jwks_uri": format!("{base_url}/.well-known/jwks.json"),
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        })
    }

    /// Ready when the store answers and the verifier (embedded or a service) can appraise.
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok() && self.verifier.ready().await.is_ok()
    }

    /// Forgets ended grants here and, in the store, sessions whose tickets expired (so their
    /// nonces can no longer be presented); called periodically. A store failure is logged and
    /// retried on the next call.
    pub async fn purge_expired_sessions(&self, now: OffsetDateTime) {
        {
            let mut sessions = self.sessions();
            sessions.purge_expired(now);
            self.metrics.sessions.set(sessions.attested_count() as i64);
        }
        if let Err(error) = self.store.purge_sessions(now.unix_timestamp()).await {
            warn!(%error, "purging expired sessions from the store failed; retried later");
        }
    }

    /// Rebuilds every in-memory snapshot from the store — release policies, the verifier's
    /// appraisal policies, reference values and registered AKs (when embedded: a verifier
    /// service keeps its own), the signing policy — if the store's generation moved since the
    /// last rebuild; whether it rebuilt. Polled by every replica ([`crate::server`]), so a
    /// change written through one is in force on all within a second.
    pub async fn refresh(&self) -> Result<bool, KbsError> {
        let _writes = self.admin_writes.lock().await;
        // Read before rebuilding: a write committed meanwhile moves it again, and the next
        // call rebuilds again.
        let generation = self.store.generation().await.map_err(KbsError::from)?;
        if generation == self.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload_release_policies(None).await?;
        self.verifier
            .reload()
            .await
            .map_err(|e| verifier_failure(e, KbsError::VerifierUnavailable))?;
        if let Some(desk) = &self.signing {
            desk.reload_policy()
                .await
                .map_err(|e| KbsError::BadPolicy(format!("signing policy: {e}")))?;
        }
        self.generation.store(generation, Ordering::Release);
        Ok(true)
    }

    // ---- Admin API --------------------------------------------------------------------------

    /// Authenticates the admin token, refuses it if revoked (asking the store on every call, so
    /// a revocation holds at once and across restarts) and checks it grants `permission`.
    async fn authorize(
        &self,
        authorization: Option<&str>,
        permission: Permission,
        now: OffsetDateTime,
    ) -> Result<String, KbsError> {
        let identity = self.admin.authenticate(authorization, now)?;
        if self
            .store
            .is_revoked_admin_token(&identity.jti)
            .await
            .map_err(KbsError::from)?
        {
            return Err(AdminError::Revoked { jti: identity.jti }.into());
        }
        identity.require(permission)?;
        Ok(format!("{}:{}", identity.key, identity.subject))
    }

    /// `PUT /kbs/v0/admin/resources/<path>`: seals `value` under the master key and stores it.
    pub async fn admin_put_resource(
        &self,
        auth: Option<&str>,
        path: &str,
        value: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self
            .authorize(auth, Permission::WriteResources, now)
            .await?;
        let path = ResourcePath::parse(path).map_err(|e| KbsError::Malformed(e.to_string()))?;
        let sealed = self.sealer.seal(path.as_str(), value);
        let before = self
            .store
            .get_resource(path.as_str())
            .await
            .map_err(KbsError::from)?;
        let target = path.as_str();
        self.record_admin(
            &who,
            "put-resource",
            target,
            before.as_deref(),
            Some(&sealed),
            now,
        )
        .await?;
        self.store
            .put_resource(path.as_str(), &sealed)
            .await
            .map_err(KbsError::from)?;
        info!(admin = %who, resource = %path, bytes = value.len(), "resource stored");
        Ok(())
    }

    /// `DELETE /kbs/v0/admin/resources/<path>`; [`KbsError::NotFound`] when absent.
    pub async fn admin_delete_resource(
        &self,
        auth: Option<&str>,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self
            .authorize(auth, Permission::WriteResources, now)
            .await?;
        let path = ResourcePath::parse(path).map_err(|e| KbsError::Malformed(e.to_string()))?;
        let Some(before) = self
            .store
            .get_resource(path.as_str())
            .await
            .map_err(KbsError::from)?
        else {
            return Err(KbsError::NotFound(path.to_string()));
        };
        let target = path.as_str();
        self.record_admin(&who, "delete-resource", target, Some(&before), None, now)
            .await?;
        if !self
            .store
            .delete_resource(path.as_str())
            .await
            .map_err(KbsError::from)?
        {
            return Err(KbsError::NotFound(path.to_string()));
        }
        info!(admin = %who, resource = %path, "resource deleted");
        Ok(())
    }

    /// `GET /kbs/v0/admin/resources`: `{"resources": [path, ...]}`.
    pub async fn admin_list_resources(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        self.authorize(auth, Permission::Read, now).await?;
        Ok(json!({"resources": self.store.list_resources().await.map_err(KbsError::from)?}))
    }

    /// `PUT /kbs/v0/admin/policies/appraisal`: replaces the appraisal policy this KBS appraises
    /// with, in the verifier in force; answers its `id` and `sha256`.
    pub async fn admin_set_appraisal_policy(
        &self,
        auth: Option<&str>,
        source: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let source = std::str::from_utf8(source)
            .map_err(|_| KbsError::BadPolicy("policy is not UTF-8".into()))?;
        let target = self.policy.id();
        self.record_admin(
            &who,
            "set-appraisal-policy",
            target,
            None,
            Some(source.as_bytes()),
            now,
        )
        .await?;
        let label = self
            .verifier
            .set_appraisal_policy(&self.policy, source, &who)
            .await
            .map_err(|e| verifier_failure(e, KbsError::BadPolicy))?;
        info!(admin = %who, policy = %label, "appraisal policy replaced");
        Ok(label.to_json())
    }

    /// `PUT /kbs/v0/admin/policies/release?prefix=`: compiles, stores and applies the release
    /// policy of `prefix`; answers `{"prefix", "sha256"}`.
    pub async fn admin_set_release_policy(
        &self,
        auth: Option<&str>,
        prefix: &str,
        source: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        if !release::valid_prefix(prefix) {
            return Err(KbsError::Malformed(format!(
                "invalid release policy prefix {prefix:?}"
            )));
        }
        let source = std::str::from_utf8(source)
            .map_err(|_| KbsError::BadPolicy("policy is not UTF-8".into()))?;
        let policy = Arc::new(
            release::load(prefix, source)
                .await
                .map_err(|e| KbsError::BadPolicy(e.to_string()))?,
        );
        let digest = policy.digest().to_owned();
        let _writes = self.admin_writes.lock().await;
        let before = self.stored_policy(PolicyKind::Release, prefix).await?;
        let before = before.as_ref().map(String::as_bytes);
        self.record_admin(
            &who,
            "set-release-policy",
            prefix,
            before,
            Some(source.as_bytes()),
            now,
        )
        .await?;
        self.store
            .put_policy(PolicyKind::Release, prefix, source)
            .await
            .map_err(KbsError::from)?;
        self.reload_release_policies(Some(policy)).await?;
        info!(admin = %who, %prefix, %digest, "release policy set");
        Ok(json!({"prefix": prefix, "sha256": digest}))
    }

    /// `DELETE /kbs/v0/admin/policies/release?prefix=`; [`KbsError::NotFound`] when none is stored.
    pub async fn admin_delete_release_policy(
        &self,
        auth: Option<&str>,
        prefix: &str,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let _writes = self.admin_writes.lock().await;
        let Some(before) = self.stored_policy(PolicyKind::Release, prefix).await? else {
            return Err(KbsError::NotFound(format!("release policy {prefix}")));
        };
        self.record_admin(
            &who,
            "delete-release-policy",
            prefix,
            Some(before.as_bytes()),
            None,
            now,
        )
        .await?;
        if !self
            .store
            .delete_policy(PolicyKind::Release, prefix)
            .await
            .map_err(KbsError::from)?
        {
            return Err(KbsError::NotFound(format!("release policy {prefix}")));
        }
        self.reload_release_policies(None).await?;
        info!(admin = %who, %prefix, "release policy deleted");
        Ok(())
    }

    /// The stored source of the `kind` policy `name`, if any.
    async fn stored_policy(
        &self,
        kind: PolicyKind,
        name: &str,
    ) -> Result<Option<String>, KbsError> {
        let stored = self.store.policies(kind).await.map_err(KbsError::from)?;
        Ok(stored
            .into_iter()
            .find(|(stored, _)| stored == name)
            .map(|(_, source)| source))
    }

    /// Rebuilds the release policies from the store, compiling only what neither the set in
    /// force nor `fresh` (just compiled) already holds.
    async fn reload_release_policies(
        &self,
        fresh: Option<Arc<RegoPolicy>>,
    ) -> Result<(), KbsError> {
        let stored = self
            .store
            .policies(PolicyKind::Release)
            .await
            .map_err(KbsError::from)?;
        let compiled: Vec<Arc<RegoPolicy>> = self
            .release
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .policies()
            .cloned()
            .chain(fresh)
            .collect();
        let policies = ReleasePolicies::load(&stored, &compiled)
            .await
            .map_err(|(_, e)| KbsError::BadPolicy(e.to_string()))?;
        *self.release.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
        Ok(())
    }

    /// The appraisal policy in force for this KBS (the verifier's, embedded or a service) and
    /// the release policies.
    pub async fn admin_list_policies(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        self.authorize(auth, Permission::Read, now).await?;
        let listing = self
            .verifier
            .appraisal_policies()
            .await
            .map_err(|e| verifier_failure(e, KbsError::VerifierUnavailable))?;
        let appraisal = listing.chosen(&self.policy).ok_or_else(|| {
            KbsError::VerifierUnavailable(format!(
                "the verifier has no appraisal policy {:?}",
                self.policy.id()
            ))
        })?;
        let release = self
            .release
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let release: Vec<Value> = release
            .prefixes()
            .map(|prefix| json!({"prefix": prefix, "sha256": release.policy_for_prefix(prefix).map(|p| p.digest().to_owned())}))
            .collect();
        Ok(json!({
            "appraisal": appraisal.to_json(),
            "release": release,
        }))
    }

    /// `PUT /kbs/v0/admin/reference-values/<name>`: sets the reference value `name` (JSON body)
    /// in the verifier in force.
    pub async fn admin_put_reference_value(
        &self,
        auth: Option<&str>,
        name: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| KbsError::Malformed(format!("reference value: {e}")))?;
        let value = NamedReferenceValue::new(name, value, None).map_err(KbsError::Malformed)?;
        self.record_admin(&who, "set-reference-value", name, None, Some(body), now)
            .await?;
        self.verifier
            .set_reference_value(&value, &who)
            .await
            .map_err(|e| verifier_failure(e, KbsError::Malformed))?;
        info!(admin = %who, %name, "reference value set");
        Ok(())
    }

    /// `POST /reference-values/import`: reference values from a DSSE-signed in-toto statement
    /// (see `warden_verifier::provenance`). Nothing is stored unless the signature verifies
    /// with a builder key the verifier trusts and the values are unexpired.
    pub async fn admin_import_reference_values(
        &self,
        auth: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let target = "reference-values";
        self.record_admin(
            &who,
            "import-reference-values",
            target,
            None,
            Some(body),
            now,
        )
        .await?;
        let imported = self
            .verifier
            .import_reference_values(body, &who, now)
            .await
            .map_err(|e| verifier_failure(e, KbsError::Provenance))?;
        info!(admin = %who, signer = %imported.signer, provenance_sha256 = %imported.provenance_sha256, names = ?imported.names, "reference values imported from signed provenance");
        Ok(imported.to_json())
    }

    /// `DELETE /kbs/v0/admin/reference-values/<name>`; [`KbsError::NotFound`] when absent.
    pub async fn admin_delete_reference_value(
        &self,
        auth: Option<&str>,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        self.record_admin(&who, "delete-reference-value", name, None, None, now)
            .await?;
        let deleted = self
            .verifier
            .delete_reference_value(name, &who)
            .await
            .map_err(|e| verifier_failure(e, KbsError::Malformed))?;
        if !deleted {
            return Err(KbsError::NotFound(format!("reference value {name}")));
        }
        info!(admin = %who, %name, "reference value deleted");
        Ok(())
    }

    /// Every reference value with its history, as the verifier in force holds them.
    pub async fn admin_list_reference_values(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        self.authorize(auth, Permission::Read, now).await?;
        self.verifier
            .reference_value_entries(now)
            .await
            .map_err(|e| verifier_failure(e, KbsError::VerifierUnavailable))
    }

    /// `POST /kbs/v0/admin/tokens/revoke` (`admin` role): revokes the admin token named by the
    /// JSON [`RevokeRequest`] for good — every later call with it is refused, its own included
    /// — and answers `{"jti", "kept_until"}`. Stored before it is answered; a record is purged
    /// once no token it names can be valid ([`AdminAuth::revocation_purge_after`]).
    pub async fn admin_revoke_token(
        &self,
        auth: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self.authorize(auth, Permission::RevokeTokens, now).await?;
        let request: RevokeRequest = serde_json::from_slice(body)
            .map_err(|e| KbsError::Malformed(format!("RevokeRequest: {e}")))?;
        if !valid_token_id(&request.jti) {
            return Err(KbsError::Malformed(AdminError::BadTokenId.to_string()));
        }
        let kept_until = self.admin.revocation_purge_after(now, request.exp);
        self.record_admin(&who, "revoke-admin-token", &request.jti, None, None, now)
            .await?;
        self.store
            .revoke_admin_token(&request.jti, &who, kept_until, now.unix_timestamp())
            .await
            .map_err(KbsError::from)?;
        info!(admin = %who, jti = %request.jti, kept_until, "admin token revoked");
        Ok(json!({"jti": request.jti, "kept_until": kept_until}))
    }
}

/// Settings of a [`Kbs`] that do not come from files.
pub struct KbsSettings {
    /// Session lifetime and limit.
    pub protocol: ProtocolConfig,
    /// Per-client budget of `/auth` and TPM registration.
    pub rate_limit: RateLimit,
    /// Validity of the attestation tokens issued.
    pub token_lifetime: time::Duration,
    /// TEE verifier settings of the embedded verifier, whose collateral the fetchers fill.
    pub verifiers: VerifierSettings,
    /// Fetch missing SNP VCEKs from AMD KDS (into `verifiers.snp_collateral`).
    pub kds: Option<KdsSettings>,
    /// Keep the TDX collateral valid from Intel PCS (into `verifiers.tdx_collateral`).
    pub pcs: Option<PcsSettings>,
    /// TPM AK registration by credential activation (into `verifiers.tpm_trust`); refused when
    /// not configured.
    pub tpm_registration: Option<RegistrationSettings>,
    /// Builder keys signed reference-value provenance must verify with; empty: imports refused.
    pub provenance_keys: TrustedBuilderKeys,
    /// Appraise with this verifier service, with this policy of its, instead of the embedded
    /// verifier.
    pub remote: Option<(RemoteVerifier, PolicyChoice)>,
    /// The signing authority's settings; `None`: its endpoints answer 404.
    pub signing: Option<SigningSettings>,
    /// The audit and signing transparency logs.
    pub transparency: TransparencySettings,
}

/// The logs' settings.
pub struct TransparencySettings {
    /// Keep the audit log (fail closed: an operation whose entry cannot be written is refused).
    /// `false` is for measuring its cost only, and is logged as insecure.
    pub audit: bool,
    /// The audit log's checkpoint origin (used when the log is created).
    pub audit_origin: String,
    /// The signing transparency log's checkpoint origin.
    pub signing_origin: String,
}

impl TransparencySettings {
    /// Settings from `[transparency]`, origins defaulting to the token issuer without its
    /// scheme, followed by `/audit` and `/signing-log`.
    pub fn from_config(config: &Config) -> Self {
        let base = config
            .token
            .issuer
            .split_once("://")
            .map_or(config.token.issuer.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_owned();
        let transparency = &config.transparency;
        Self {
            audit: transparency.audit,
            audit_origin: transparency
                .audit_origin
                .clone()
                .unwrap_or_else(|| format!("{base}/audit")),
            signing_origin: transparency
                .signing_origin
                .clone()
                .unwrap_or_else(|| format!("{base}/signing-log")),
        }
    }
}

fn remote_verifier(config: &Config) -> Result<Option<(RemoteVerifier, PolicyChoice)>, KbsError> {
    let Some(remote) = &config.verifier else {
        return Ok(None);
    };
    let tls = TlsFiles {
        cert: remote.cert.clone(),
        key: remote.key.clone(),
        ca: remote.ca.clone(),
    };
    let verifier = RemoteVerifier::connect(&remote.url, &remote.domain, &tls)
        .map_err(internal)?
        .with_call_timeout(remote.timeout);
    let policy =
        PolicyChoice::parse(remote.policy_id.as_deref().unwrap_or_default()).map_err(internal)?;
    info!(url = %remote.url, policy = policy.id(), "appraisals go to the verifier service (mutual TLS); reference values and the appraisal policy set here are forwarded to it");
    Ok(Some((verifier, policy)))
}

fn provenance_keys(config: &Config) -> Result<TrustedBuilderKeys, KbsError> {
    let provenance = &config.provenance;
    let mut keys = match &provenance.trusted_keys_dir {
        Some(dir) => {
            let keys = TrustedBuilderKeys::from_dir(dir).map_err(internal)?;
            info!(dir = %dir.display(), keys = keys.keys.len(), "signed reference-value provenance accepted from these builder keys");
            keys
        }
        None => TrustedBuilderKeys::default(),
    };
    if let Some(ca) = &provenance.signing_ca {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| internal(format!("{}: {e}", path.display())))
        };
        let policy = match &provenance.builder_policy {
            Some(path) => Some(String::from_utf8_lossy(&read(path)?).into_owned()),
            None => None,
        };
        let builders = warden_verifier::provenance::AttestedBuilders::new(
            &read(ca)?,
            provenance.builder_identities.clone(),
            policy.as_deref(),
        )
        .map_err(|e| internal(format!("[provenance] signing_ca {}: {e}", ca.display())))?;
        info!(ca = %ca.display(), identities = ?provenance.builder_identities, policy = policy.is_some(), "signed reference-value provenance accepted from attested builders under this signing CA");
        keys.attested = Some(Arc::new(builders));
    }
    Ok(keys)
}

fn tpm_registration_settings(config: &Config) -> Result<Option<RegistrationSettings>, KbsError> {
    let Some(dir) = &config.tpm.ek_ca_dir else {
        return Ok(None);
    };
    let ek_cas = TpmTrust::from_dir(dir).map_err(internal)?;
    info!(dir = %dir.display(), roots = ek_cas.roots.len(), "TPM: AK registration by credential activation enabled");
    Ok(Some(RegistrationSettings { ek_cas }))
}

/// Loads the verifier settings the config names (collateral and development roots are read now,
/// so appraisal never touches the filesystem).
fn verifier_settings(config: &Config) -> Result<VerifierSettings, KbsError> {
    let settings = VerifierSettings::load(&VerifierSources {
        allow_insecure_sample: config.insecure_allow_sample,
        snp_collateral_dir: config.snp.collateral_dir.clone(),
        snp_insecure_dev_roots: config.snp.insecure_dev_roots.clone(),
        snp_require_crl: config.snp.require_crl,
        tdx_collateral_dir: config.tdx.collateral_dir.clone(),
        tdx_allow_missing_crl: config.tdx.allow_missing_crl,
        tpm_trust_dir: config.tpm.trust_dir.clone(),
        tpm_allow_sha1: config.tpm.allow_sha1,
    })
    .map_err(internal)?;
    Ok(settings)
}
