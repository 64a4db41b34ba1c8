//! Several `Kbs` on one store behave as one (no HTTP: each is a replica's whole state): a
//! session attested through one is served by another, which reads it from the store and
//! verifies its token first; a nonce is used once for all; and a change written through one
//! is in force on another once it has refreshed from the store.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use warden_kbs::admin::{Role, mint_token};
use warden_kbs::init::{InitOptions, init_with_signing_authority};
use warden_kbs::protocol::{Challenges, ProtocolError, TICKET_KEY_INFO};
use warden_kbs::sealing::Sealer;
use warden_kbs::service::Credential;
use warden_kbs::{Config, Kbs, KbsError};
use warden_store::{SessionRecord, Store};
use warden_wire::TeeKeyPair;
use warden_wire::jwe::KeyAlgorithm;

const RESOURCE: &str = "replicas/keys/one";
const SECRET: &[u8] = b"one secret for all replicas";
const ALLOW_SAMPLE: &str = include_str!("../../policies/allow-insecure-sample.rego");

/// A KBS directory made by `init` (sample allowed), with one cached session per replica and
/// tokens living one minute (sessions five), so a grant can end before its ticket.
struct Shared {
    _dir: tempfile::TempDir,
    config: Config,
    admin_key: Vec<u8>,
}

impl Shared {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = init_with_signing_authority(&InitOptions {
            dir: dir.path().join("kbs"),
            listen: "127.0.0.1:0".into(),
            hostnames: vec![],
            insecure_allow_sample: true,
            store_url: warden_store::testing::suite_database().await,
        })
        .await
        .unwrap();
        let text = std::fs::read_to_string(&output.config)
            .unwrap()
            .replace("max_sessions = 1024", "max_sessions = 1")
            .replace("lifetime = \"5m\"", "lifetime = \"1m\"");
        std::fs::write(&output.config, text).unwrap();
        Self {
            config: Config::load(&output.config).unwrap(),
            admin_key: std::fs::read(&output.admin_private_key).unwrap(),
            _dir: dir,
        }
    }

    /// One more replica: its own pool on the store, the same keys.
    async fn replica(&self) -> Kbs {
        Kbs::open(&self.config).await.unwrap()
    }

    fn admin(&self, now: OffsetDateTime) -> String {
        let minted = mint_token(
            "admin",
            &self.admin_key,
            "ops",
            vec![Role::Admin],
            now,
            Duration::minutes(30),
        )
        .unwrap();
        format!("Bearer {}", minted.token)
    }

    /// The session id a cookie's ticket carries, as any holder of the master key can read it.
    fn session_id(&self, cookie: &str, now: OffsetDateTime) -> Vec<u8> {
        let master = std::fs::read(&self.config.store.master_key_file).unwrap();
        let key = Sealer::new(&Sealer::parse_master_key(&master).unwrap())
            .derive_key(TICKET_KEY_INFO)
            .unwrap();
        let ticket = Challenges::new(&key, Duration::minutes(5))
            .open(cookie, now)
            .unwrap();
        ticket.session_id.to_vec()
    }

    async fn store(&self) -> Store {
        self.config.store.open().await.unwrap()
    }
}

/// A sample TEE's client: its key and the attestations it sends.
struct Client {
    key: TeeKeyPair,
}

impl Client {
    fn new() -> Self {
        Self {
            key: TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap(),
        }
    }

    /// `/auth` on `kbs`: the cookie and the nonce.
    fn auth(&self, kbs: &Kbs, now: OffsetDateTime) -> (String, String) {
        let request =
            json!({"version": warden_wire::PROTOCOL_VERSION, "tee": "sample", "extra-params": ""});
        let (cookie, challenge) = kbs
            .auth(
                [127, 0, 0, 1].into(),
                request.to_string().as_bytes(),
                now,
                std::time::Instant::now(),
            )
            .unwrap();
        (cookie, challenge.nonce)
    }

    /// Sample evidence reporting `svn`, bound to `nonce` and this client's key.
    fn attestation(&self, nonce: &str, svn: &str) -> Vec<u8> {
        let digest = warden_wire::runtime_data_digest(nonce, &self.key.public_jwk(), "");
        json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": self.key.public_jwk()},
            "tee-evidence": {
                "primary_evidence": {"svn": svn, "report_data": STANDARD.encode(digest)},
                "additional_evidence": "",
            },
        })
        .to_string()
        .into_bytes()
    }

    async fn fetch(
        &self,
        kbs: &Kbs,
        cookie: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, KbsError> {
        let envelope = kbs
            .resource(Credential::Session(cookie), None, RESOURCE, now)
            .await?;
        Ok(self.key.decrypt(&envelope).unwrap())
    }
}

/// `ear.status` of the primary submodule of an attestation token.
fn status(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["submods"]["cpu0"]["ear.status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn refused(outcome: Result<impl std::fmt::Debug, KbsError>) -> KbsError {
    outcome.expect_err("refused")
}

/// Provisions the resource, reference values the sample's SVN 1 meets and the INSECURE
/// sample-allowing release policy, through `kbs`.
async fn provision(kbs: &Kbs, admin: &str, now: OffsetDateTime) {
    kbs.admin_put_resource(Some(admin), RESOURCE, SECRET, now)
        .await
        .unwrap();
    kbs.admin_put_reference_value(Some(admin), "sample", br#"{"min_svn": 1}"#, now)
        .await
        .unwrap();
    kbs.admin_set_release_policy(Some(admin), "replicas/", ALLOW_SAMPLE.as_bytes(), now)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_attested_through_one_replica_is_served_by_the_others_and_its_nonce_is_used_once()
{
    let shared = Shared::new().await;
    let now = OffsetDateTime::now_utc();
    let (a, b, c) = (
        shared.replica().await,
        shared.replica().await,
        shared.replica().await,
    );
    provision(&a, &shared.admin(now), now).await;
    // The others take in what `a` stored (reference values, release policy).
    assert!(b.refresh().await.unwrap());
    assert!(c.refresh().await.unwrap());
    assert!(!b.refresh().await.unwrap(), "nothing changed since");

    // Auth on A, attest on B, resource on C (which reads the session from the store) and on A.
    let client = Client::new();
    let (cookie, nonce) = client.auth(&a, now);
    let attestation = client.attestation(&nonce, "1");
    let token = b
        .attest(Some(&cookie), None, &attestation, now)
        .await
        .unwrap();
    assert_eq!(status(&token), "affirming");
    assert_eq!(client.fetch(&c, &cookie, now).await.unwrap(), SECRET);
    assert_eq!(client.fetch(&a, &cookie, now).await.unwrap(), SECRET);
    assert_eq!(client.fetch(&b, &cookie, now).await.unwrap(), SECRET);

    // The same attestation again, on any replica: the nonce was used.
    for replica in [&a, &b, &c] {
        assert!(matches!(
            refused(replica.attest(Some(&cookie), None, &attestation, now).await),
            KbsError::Protocol(ProtocolError::NonceAlreadyUsed)
        ));
    }
    // Two appraisals of one ticket at once on two replicas: the store's insert grants one.
    let (cookie2, nonce2) = client.auth(&c, now);
    let attestation2 = client.attestation(&nonce2, "1");
    let (on_a, on_b) = tokio::join!(
        a.attest(Some(&cookie2), None, &attestation2, now),
        b.attest(Some(&cookie2), None, &attestation2, now),
    );
    let granted = [&on_a, &on_b].iter().filter(|o| o.is_ok()).count();
    assert_eq!(granted, 1, "{on_a:?} {on_b:?}");
    assert!([on_a, on_b].into_iter().any(|outcome| matches!(
        outcome,
        Err(KbsError::Protocol(ProtocolError::NonceAlreadyUsed))
    )));

    // Each replica caches one session: the first session, evicted from A by the second one
    // A served, is read back from the store; the cache stays bounded.
    assert_eq!(client.fetch(&a, &cookie2, now).await.unwrap(), SECRET);
    assert_eq!(a.metrics.sessions.get(), 1);
    assert_eq!(client.fetch(&a, &cookie, now).await.unwrap(), SECRET);
    assert_eq!(a.metrics.sessions.get(), 1);

    // A session that was never attested is unknown everywhere.
    let (unattested, _) = client.auth(&b, now);
    assert!(matches!(
        refused(client.fetch(&c, &unattested, now).await),
        KbsError::Protocol(ProtocolError::NotAttested)
    ));
    // Its token (one minute) ended, its ticket (five) did not: expired for the replica that
    // caches it and for one that reads the store. A new replica started now still knows the
    // nonce was used: tickets survive restarts, used nonces do too.
    let later = now + Duration::seconds(61);
    let d = shared.replica().await;
    for replica in [&b, &d] {
        assert!(matches!(
            refused(client.fetch(replica, &cookie, later).await),
            KbsError::Protocol(ProtocolError::SessionExpired)
        ));
    }
    assert!(matches!(
        refused(d.attest(Some(&cookie), None, &attestation, later).await),
        KbsError::Protocol(ProtocolError::NonceAlreadyUsed)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_session_is_served_only_with_a_token_this_kbs_signed_for_its_challenge() {
    let shared = Shared::new().await;
    let now = OffsetDateTime::now_utc();
    let a = shared.replica().await;
    provision(&a, &shared.admin(now), now).await;
    let client = Client::new();
    let (attested, nonce) = client.auth(&a, now);
    let token = a
        .attest(Some(&attested), None, &client.attestation(&nonce, "1"), now)
        .await
        .unwrap();
    let b = shared.replica().await;
    let store = shared.store().await;
    // Rows no replica wrote: another session's (valid) token, and no token at all.
    for (forged, error) in [
        (token.as_str(), "answers another challenge"),
        ("not.a.token", "stored session"),
    ] {
        let (cookie, nonce) = client.auth(&a, now);
        let session_id = shared.session_id(&cookie, now);
        let record = SessionRecord {
            session_id,
            used_until: (now + Duration::minutes(5)).unix_timestamp(),
            granted_until: (now + Duration::minutes(1)).unix_timestamp(),
            token: forged.to_owned(),
            signing_keys: Vec::new(),
        };
        assert!(store.claim_session(&record).await.unwrap());
        match refused(client.fetch(&b, &cookie, now).await) {
            KbsError::TokenRejected(reason) => assert!(reason.contains(error), "{reason}"),
            other => panic!("{other}"),
        }
        // A stored session's nonce is used, whoever stored it: refused before appraisal.
        assert!(matches!(
            refused(
                b.attest(Some(&cookie), None, &client.attestation(&nonce, "1"), now)
                    .await
            ),
            KbsError::Protocol(ProtocolError::NonceAlreadyUsed)
        ));
    }
    assert_eq!(b.metrics.sessions.get(), 0, "nothing refused was cached");
    // Purged once their tickets expired, on every replica's tick; then unknown.
    let after = now + Duration::minutes(6);
    b.purge_expired_sessions(after).await;
    assert_eq!(store.session_count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_written_through_one_replica_is_in_force_on_another_once_it_refreshes() {
    let shared = Shared::new().await;
    let now = OffsetDateTime::now_utc();
    let admin = shared.admin(now);
    let (a, b) = (shared.replica().await, shared.replica().await);
    provision(&a, &admin, now).await;
    assert!(b.refresh().await.unwrap());
    let client = Client::new();
    let attest_on_b = async |svn: &str| {
        let (cookie, nonce) = client.auth(&b, now);
        let token = b
            .attest(Some(&cookie), None, &client.attestation(&nonce, svn), now)
            .await
            .unwrap();
        (cookie, status(&token))
    };
    assert_eq!(attest_on_b("1").await.1, "affirming");

    // Reference values (the embedded verifier's snapshot).
    a.admin_put_reference_value(Some(&admin), "sample", br#"{"min_svn": 2}"#, now)
        .await
        .unwrap();
    assert_eq!(attest_on_b("1").await.1, "affirming", "before B refreshed");
    assert!(b.refresh().await.unwrap());
    assert_ne!(attest_on_b("1").await.1, "affirming");
    let (cookie, status) = attest_on_b("2").await;
    assert_eq!(status, "affirming");
    assert_eq!(client.fetch(&b, &cookie, now).await.unwrap(), SECRET);

    // A release policy.
    let deny = "package warden.release\n\ndefault allow := false\n";
    a.admin_set_release_policy(Some(&admin), "replicas/", deny.as_bytes(), now)
        .await
        .unwrap();
    assert!(b.refresh().await.unwrap());
    assert!(matches!(
        refused(client.fetch(&b, &cookie, now).await),
        KbsError::PolicyDenied { .. }
    ));

    // The appraisal policy and the signing policy, as B lists them.
    let appraisal = format!(
        "{}\n# set through A\n",
        warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY
    );
    let set = a
        .admin_set_appraisal_policy(Some(&admin), appraisal.as_bytes(), now)
        .await
        .unwrap();
    let signing = "package warden.signing\n\ndefault allow := false\n\ndefault builder := \"\"\n# set through A\n";
    let signing_set = a
        .admin_set_signing_policy(Some(&admin), signing.as_bytes(), now)
        .await
        .unwrap();
    let before = b.admin_list_policies(Some(&admin), now).await.unwrap();
    assert_ne!(
        before["appraisal"]["sha256"], set["sha256"],
        "before B refreshed"
    );
    assert!(b.refresh().await.unwrap());
    assert!(!b.refresh().await.unwrap());
    let policies = b.admin_list_policies(Some(&admin), now).await.unwrap();
    assert_eq!(policies["appraisal"]["sha256"], set["sha256"]);
    let in_force = b.admin_get_signing_policy(Some(&admin), now).await.unwrap();
    assert_eq!(in_force["sha256"], signing_set["sha256"]);
    assert_eq!(in_force["source"], signing);
    // And A, which wrote them, rebuilds once too (its own writes moved the generation).
    assert!(a.refresh().await.unwrap());
    assert!(!a.refresh().await.unwrap());
}
