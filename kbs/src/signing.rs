//! The signing authority as the KBS runs it: the CA and TSA sealed in the store, the signing
//! policy, and the key commitments attested sessions carry. HTTP-free; [`crate::service`]
//! exposes it as API calls.
//!
//! **Proof that a key lives in the attested TEE.** The agent generates its signing key in the
//! TEE and names it in the CoCo `additional-evidence` string, `{"warden.signing-keys":
//! ["<hex SHA-256 of the SPKI>"]}`, which the runtime-data binding hashes into the hardware
//! evidence. A certificate is issued only for a CSR whose key is one of those commitments
//! (the CSR's signature proves possession), at most once per key — once for all replicas on
//! one store, which records each key certified.

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use time::OffsetDateTime;
use warden_signing::{SigningAuthority, SigningError};
use warden_store::{PolicyKind, SigningKeyRole, Store, StoredSigningKey};
use warden_verifier::RegoPolicy;
use warden_verifier::ear::EarClaims;
use warden_verifier::policy::PolicyError;
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

use crate::sealing::Sealer;

/// The rule a signing policy must define: may this request be signed (a boolean)?
pub const SIGNING_ALLOW_RULE: &str = "data.warden.signing.allow";
/// The rule naming the builder (a string) the identity is made of.
pub const SIGNING_BUILDER_RULE: &str = "data.warden.signing.builder";
/// Name under which the signing policy is stored.
pub const SIGNING_POLICY_NAME: &str = "default";
/// Id of the signing policy in decisions and errors.
pub const SIGNING_POLICY_ID: &str = "signing:default";
/// Shipped default: refuse everything.
pub const DEFAULT_SIGNING_POLICY: &str = include_str!("../../policies/signing.rego");
/// The `additional-evidence` member naming the signing keys bound into the evidence.
pub const SIGNING_KEYS_MEMBER: &str = "warden.signing-keys";
/// Most signing keys one attestation may commit to.
pub const MAX_SIGNING_KEYS_PER_ATTESTATION: usize = 4;
/// Name of the CA and TSA rows in the store (`role` tells them apart).
const AUTHORITY_KEY_NAME: &str = "authority";

/// The signing keys a `/attest` committed to: parsed strictly when the `additional-evidence`
/// string is a JSON object naming [`SIGNING_KEYS_MEMBER`]; no commitments otherwise (device
/// evidence is bound but not interpreted).
pub fn signing_key_commitments(additional_evidence: &str) -> Result<Vec<String>, String> {
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(additional_evidence) else {
        return Ok(Vec::new());
    };
    let Some(keys) = members.get(SIGNING_KEYS_MEMBER) else {
        return Ok(Vec::new());
    };
    let refuse = || {
        format!(
            "additional-evidence {SIGNING_KEYS_MEMBER:?} must be 1 to {MAX_SIGNING_KEYS_PER_ATTESTATION} lower-case hex SHA-256 key ids"
        )
    };
    let keys = keys.as_array().ok_or_else(refuse)?;
    if keys.is_empty() || keys.len() > MAX_SIGNING_KEYS_PER_ATTESTATION {
        return Err(refuse());
    }
    keys.iter()
        .map(|key| match key.as_str() {
            Some(id) if is_keyid(id) => Ok(id.to_owned()),
            _ => Err(refuse()),
        })
        .collect()
}

fn is_keyid(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `name` may name a builder or a named key: `[a-z0-9][a-z0-9._-]{0,62}`, safe in a
/// URL path segment and a log line.
pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// What the signing policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningDecision {
    /// Allowed, for this builder name.
    Allow {
        /// The builder name (see [`valid_name`]).
        builder: String,
    },
    /// Refused, with why.
    Deny {
        /// What refused: the policy's `allow`, or an unusable `builder`.
        reason: String,
    },
}

/// The AAD a signing key is sealed under; a resource path never contains `:`, so no sealed
/// resource can be passed off as a key or the other way round.
fn sealing_context(role: SigningKeyRole, name: &str) -> String {
    format!("signing-key:{}:{name}", role.as_str())
}

/// Why the stored signing authority could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] warden_store::StoreError),
    /// The key material is refused.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Unsealing failed: another master key, or tampered rows.
    #[error("the signing authority's keys do not unseal with this master key")]
    Unseal,
    /// `signing-init` on a store that has an authority already.
    #[error("the store already holds a signing authority")]
    Exists,
    /// A store that needs an authority has none.
    #[error(
        "the store holds no signing authority: run `warden-kbs signing-init --config <kbs.toml>` with the KBS stopped"
    )]
    Missing,
}

fn stored_key(
    sealer: &Sealer,
    role: SigningKeyRole,
    name: &str,
    key: &SigningKeyPair,
    certificate: Option<&[u8]>,
    created_by: &str,
    now: OffsetDateTime,
) -> (SigningKeyRole, StoredSigningKey) {
    (
        role,
        StoredSigningKey {
            name: name.to_owned(),
            algorithm: key.algorithm().name().to_owned(),
            sealed: sealer.seal(&sealing_context(role, name), key.pkcs8_der()),
            spki: key.spki_der().to_vec(),
            certificate: certificate.map(<[u8]>::to_vec),
            created_at: now.unix_timestamp(),
            created_by: created_by.to_owned(),
        },
    )
}

/// Creates the CA and TSA and stores them sealed, in one transaction; refuses a store that
/// has them already.
pub async fn create_authority(
    store: &Store,
    sealer: &Sealer,
    name: &str,
    now: OffsetDateTime,
) -> Result<SigningAuthority, AuthorityError> {
    if store
        .signing_key(SigningKeyRole::Ca, AUTHORITY_KEY_NAME)
        .await?
        .is_some()
    {
        return Err(AuthorityError::Exists);
    }
    let mut serials = [[0u8; 16]; 2];
    for serial in &mut serials {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, serial);
    }
    let authority = SigningAuthority::create(name, now, serials)?;
    store
        .insert_signing_keys(&[
            stored_key(
                sealer,
                SigningKeyRole::Ca,
                AUTHORITY_KEY_NAME,
                authority.root_key(),
                Some(authority.root_certificate()),
                "signing-init",
                now,
            ),
            stored_key(
                sealer,
                SigningKeyRole::Tsa,
                AUTHORITY_KEY_NAME,
                authority.tsa_key(),
                Some(authority.tsa_certificate()),
                "signing-init",
                now,
            ),
            stored_key(
                sealer,
                SigningKeyRole::Ct,
                AUTHORITY_KEY_NAME,
                authority.ct_key(),
                None,
                "signing-init",
                now,
            ),
        ])
        .await?;
    Ok(authority)
}

/// The stored CA and TSA; `None` when the store has none.
pub async fn load_authority(
    store: &Store,
    sealer: &Sealer,
) -> Result<Option<SigningAuthority>, AuthorityError> {
    let ca = store
        .signing_key(SigningKeyRole::Ca, AUTHORITY_KEY_NAME)
        .await?;
    let tsa = store
        .signing_key(SigningKeyRole::Tsa, AUTHORITY_KEY_NAME)
        .await?;
    let ct = store
        .signing_key(SigningKeyRole::Ct, AUTHORITY_KEY_NAME)
        .await?;
    let (Some(ca), Some(tsa), Some(ct)) = (ca, tsa, ct) else {
        return Ok(None);
    };
    let unseal = |role, key: &StoredSigningKey| {
        sealer
            .unseal(&sealing_context(role, &key.name), &key.sealed)
            .map_err(|_| AuthorityError::Unseal)
    };
    let ca_key = unseal(SigningKeyRole::Ca, &ca)?;
    let tsa_key = unseal(SigningKeyRole::Tsa, &tsa)?;
    let ct_key = unseal(SigningKeyRole::Ct, &ct)?;
    Ok(Some(SigningAuthority::from_stored(
        &ca_key,
        ca.certificate.as_deref().unwrap_or_default(),
        &tsa_key,
        tsa.certificate.as_deref().unwrap_or_default(),
        &ct_key,
    )?))
}

/// Creates the named key `name` sealed in the store; its public half is returned.
pub async fn create_named_key(
    store: &Store,
    sealer: &Sealer,
    name: &str,
    algorithm: KeyAlgorithm,
    created_by: &str,
    now: OffsetDateTime,
) -> Result<SigningKeyPair, AuthorityError> {
    let key = SigningKeyPair::generate(algorithm).map_err(SigningError::from)?;
    store
        .insert_signing_keys(&[stored_key(
            sealer,
            SigningKeyRole::Named,
            name,
            &key,
            None,
            created_by,
            now,
        )])
        .await?;
    Ok(key)
}

/// The named key `name`, unsealed; `None` when there is none.
pub async fn load_named_key(
    store: &Store,
    sealer: &Sealer,
    name: &str,
) -> Result<Option<SigningKeyPair>, AuthorityError> {
    let Some(stored) = store.signing_key(SigningKeyRole::Named, name).await? else {
        return Ok(None);
    };
    let algorithm = KeyAlgorithm::from_name(&stored.algorithm).ok_or(AuthorityError::Unseal)?;
    let pkcs8 = sealer
        .unseal(
            &sealing_context(SigningKeyRole::Named, name),
            &stored.sealed,
        )
        .map_err(|_| AuthorityError::Unseal)?;
    Ok(Some(
        SigningKeyPair::from_pkcs8(algorithm, &pkcs8).map_err(SigningError::from)?,
    ))
}

/// Compiles a signing policy through the policy loader (limits, own thread, deadline).
pub async fn load_policy(source: &str) -> Result<RegoPolicy, PolicyError> {
    warden_verifier_service::load_policy(
        SIGNING_POLICY_ID,
        source,
        &[SIGNING_ALLOW_RULE, SIGNING_BUILDER_RULE],
    )
    .await
}

/// The settings of a running signing authority.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    /// Issuer URL (no trailing `/`).
    pub issuer: String,
    /// Lifetime when a request names none.
    pub default_lifetime: time::Duration,
    /// Longest lifetime a request may ask for.
    pub max_lifetime: time::Duration,
}

/// The signing authority in a running KBS.
pub struct SigningDesk {
    authority: SigningAuthority,
    settings: SigningSettings,
    policy: RwLock<Arc<RegoPolicy>>,
    /// Holds the signing policy and the key ids certified (see [`SigningDesk::take_commitment`]).
    store: Store,
}

/// The stored signing policy compiled, or the shipped default when none is stored; `current`
/// is reused when its text is the stored one.
async fn stored_policy(
    store: &Store,
    current: Option<&Arc<RegoPolicy>>,
) -> Result<Arc<RegoPolicy>, String> {
    let stored = store
        .policies(PolicyKind::Signing)
        .await
        .map_err(|e| e.to_string())?;
    let source = stored
        .iter()
        .find(|(name, _)| name == SIGNING_POLICY_NAME)
        .map_or(DEFAULT_SIGNING_POLICY, |(_, source)| source.as_str());
    if let Some(current) = current
        && current.source() == source
    {
        return Ok(current.clone());
    }
    let policy = load_policy(source).await.map_err(|e| {
        warden_verifier_service::stored_policy_refused("signing", SIGNING_POLICY_NAME, &e)
    })?;
    Ok(Arc::new(policy))
}

impl SigningDesk {
    /// The desk over the stored authority and signing policy.
    pub async fn open(
        store: &Store,
        sealer: &Sealer,
        settings: SigningSettings,
    ) -> Result<Self, String> {
        let authority = load_authority(store, sealer)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| AuthorityError::Missing.to_string())?;
        let policy = stored_policy(store, None).await?;
        Ok(Self {
            authority,
            settings,
            policy: RwLock::new(policy),
            store: store.clone(),
        })
    }

    /// Puts the stored signing policy (or the default, when none is stored) in force, as
    /// another replica may have changed it; compiles only a changed text.
    pub async fn reload_policy(&self) -> Result<(), String> {
        let policy = stored_policy(&self.store, Some(&self.policy())).await?;
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
        Ok(())
    }

    /// The CA and TSA.
    pub fn authority(&self) -> &SigningAuthority {
        &self.authority
    }

    /// The settings in force.
    pub fn settings(&self) -> &SigningSettings {
        &self.settings
    }

    /// The signing policy in force.
    pub fn policy(&self) -> Arc<RegoPolicy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the signing policy in force.
    pub fn set_policy(&self, policy: RegoPolicy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    /// The identity a builder name stands for.
    pub fn identity(&self, builder: &str) -> String {
        format!("{}/builders/{builder}", self.settings.issuer)
    }

    /// Runs the signing policy on `claims` and `request`; anything but `allow == true` with a
    /// valid builder name refuses.
    pub fn decide(&self, claims: &EarClaims, request: Value) -> SigningDecision {
        let input = json!({
            "token": claims,
            "request": request,
            "kbs": {"issuer": self.settings.issuer},
        });
        let policy = self.policy();
        match policy.evaluate(SIGNING_ALLOW_RULE, &input) {
            Ok(Value::Bool(true)) => {}
            Ok(_) => {
                return SigningDecision::Deny {
                    reason: format!("{SIGNING_ALLOW_RULE} is not true"),
                };
            }
            Err(e) => {
                return SigningDecision::Deny {
                    reason: format!("{SIGNING_ALLOW_RULE}: {e}"),
                };
            }
        }
        match policy.evaluate(SIGNING_BUILDER_RULE, &input) {
            Ok(Value::String(builder)) if valid_name(&builder) => {
                SigningDecision::Allow { builder }
            }
            _ => SigningDecision::Deny {
                reason: format!(
                    "{SIGNING_BUILDER_RULE} is not a builder name ([a-z0-9][a-z0-9._-]{{0,62}})"
                ),
            },
        }
    }

    /// Answers a DER TimeStampReq with a DER TimeStampResp signed by the TSA at `now`.
    pub fn timestamp(&self, request: &[u8], now: OffsetDateTime) -> Vec<u8> {
        let mut serial = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
        warden_signing::tsa::respond(
            request,
            now,
            serial,
            self.authority.tsa_key(),
            self.authority.tsa_certificate(),
            warden_signing::tsa::TSA_POLICY,
        )
    }

    /// Marks `keyid` certified until `until` (past the token it was committed under, so the
    /// commitment cannot be used again); `false` when it already was, by any replica on the
    /// store. Forgets entries whose time has passed.
    pub async fn take_commitment(
        &self,
        keyid: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, warden_store::StoreError> {
        self.store
            .take_certified_key(keyid, until.unix_timestamp(), now.unix_timestamp())
            .await
    }
}

/// The attested facts a certificate carries (RFC 8785 JSON): which TEE, the measurement claims
/// its reference-value schema constrains, the appraisal status and policy, the token's `jti`
/// and issuer, the insecure reasons, and for a named key its name.
pub fn attested_facts(claims: &EarClaims, named_key: Option<&str>) -> String {
    let primary = claims.primary();
    let tee = primary.map(|p| p.tee.as_str()).unwrap_or_default();
    let measured = primary
        .and_then(|p| p.annotated_evidence.get(tee))
        .map(|evidence| warden_verifier::reference::constrained_claims(tee, evidence))
        .unwrap_or_default();
    let mut facts = json!({
        "v": 1,
        "tee": tee,
        "status": primary.map(|p| p.status.to_string()),
        "policy": primary.map(|p| p.appraisal_policy_id.as_str()),
        "ear-jti": claims.jti,
        "kbs": claims.iss,
        "claims": measured,
    });
    if !claims.insecure.is_empty() {
        facts["insecure"] = json!(claims.insecure);
    }
    if let Some(key) = named_key {
        facts["key"] = json!(key);
    }
    serde_jcs::to_string(&facts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_are_read_strictly_when_named_and_ignored_otherwise() {
        let id = "a".repeat(64);
        assert_eq!(
            signing_key_commitments(&format!(r#"{{"warden.signing-keys":["{id}"]}}"#)).unwrap(),
            vec![id.clone()]
        );
        // Device evidence or nothing: no commitments, not an error.
        assert!(signing_key_commitments("").unwrap().is_empty());
        assert!(signing_key_commitments(r#"{"gpu":{}}"#).unwrap().is_empty());
        assert!(signing_key_commitments("[1]").unwrap().is_empty());
        for bad in [
            r#"{"warden.signing-keys":[]}"#.to_owned(),
            r#"{"warden.signing-keys":"x"}"#.to_owned(),
            format!(r#"{{"warden.signing-keys":["{}"]}}"#, "A".repeat(64)),
            format!(r#"{{"warden.signing-keys":["{}"]}}"#, "a".repeat(63)),
            format!(
                r#"{{"warden.signing-keys":[{}]}}"#,
                vec![format!("\"{id}\""); 5].join(",")
            ),
        ] {
            assert!(signing_key_commitments(&bad).is_err(), "{bad}");
        }
    }

    /// A store at `path` (on the run's backend) holding a signing authority, its sealer, the
    /// time it was made, and desk settings.
    async fn authority_in(
        path: &std::path::Path,
    ) -> (Store, Sealer, OffsetDateTime, SigningSettings) {
        let store = warden_store::testing::open_store(path).await.unwrap();
        let sealer = Sealer::new(&[3; 32]);
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        create_authority(&store, &sealer, "test", now)
            .await
            .unwrap();
        let settings = SigningSettings {
            issuer: "https://kbs.test".into(),
            default_lifetime: time::Duration::minutes(10),
            max_lifetime: time::Duration::minutes(10),
        };
        (store, sealer, now, settings)
    }

    #[tokio::test]
    async fn a_commitment_is_certified_once_by_all_desks_on_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let (store, sealer, now, settings) = authority_in(&dir.path().join("w.db")).await;
        // Two replicas, each with its own connection pool on the one database.
        let other = warden_store::testing::open_store(&dir.path().join("w.db"))
            .await
            .unwrap();
        let a = SigningDesk::open(&store, &sealer, settings.clone())
            .await
            .unwrap();
        let b = SigningDesk::open(&other, &sealer, settings).await.unwrap();
        let key = "a".repeat(64);
        let until = now + time::Duration::minutes(10);
        assert!(a.take_commitment(&key, until, now).await.unwrap());
        assert!(!b.take_commitment(&key, until, now).await.unwrap());
        assert!(!a.take_commitment(&key, until, now).await.unwrap());
        assert!(
            b.take_commitment(&"b".repeat(64), until, now)
                .await
                .unwrap()
        );
        // Once its token has expired the commitment cannot be presented again; it is forgotten.
        assert!(
            b.take_commitment(&key, until + time::Duration::minutes(10), until)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_desk_takes_in_the_signing_policy_another_replica_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, sealer, _, settings) = authority_in(&dir.path().join("w.db")).await;
        let desk = SigningDesk::open(&store, &sealer, settings).await.unwrap();
        let default = desk.policy();
        assert_eq!(default.source(), DEFAULT_SIGNING_POLICY);
        let allowing = "package warden.signing\n\nallow := true\n\nbuilder := \"b\"\n";
        store
            .put_policy(PolicyKind::Signing, SIGNING_POLICY_NAME, allowing)
            .await
            .unwrap();
        desk.reload_policy().await.unwrap();
        let reloaded = desk.policy();
        assert_eq!(reloaded.source(), allowing);
        // Unchanged text: the compiled policy is kept, not compiled again.
        desk.reload_policy().await.unwrap();
        assert!(Arc::ptr_eq(&reloaded, &desk.policy()));
        assert!(
            store
                .delete_policy(PolicyKind::Signing, SIGNING_POLICY_NAME)
                .await
                .unwrap()
        );
        desk.reload_policy().await.unwrap();
        assert_eq!(desk.policy().source(), DEFAULT_SIGNING_POLICY);
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("release-builder"));
        assert!(valid_name("a"));
        for bad in ["", "-a", "A", "a/b", "a b", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
