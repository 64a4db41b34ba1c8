//! State that KBS replicas on one database share: attested sessions (each also the record of
//! its used nonce), signing-key commitments certified once, sealed service keys, and the
//! generation counter that tells replicas to rebuild what they hold in memory.

use sqlx::Row;

use crate::backend::on_pool;
use crate::{Store, StoreError};

/// One attested session as stored: written once, by the replica whose appraisal used the
/// session's nonce, and never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id the ticket carries.
    pub session_id: Vec<u8>,
    /// Unix seconds until which the ticket's nonce stays used (the ticket's expiry).
    pub used_until: i64,
    /// Unix seconds until which the session may fetch resources.
    pub granted_until: i64,
    /// The signed attestation token the session was granted; replicas that did not appraise
    /// the session verify it before relying on it.
    pub token: String,
    /// Key ids of signing keys the evidence committed to.
    pub signing_keys: Vec<String>,
}

impl Store {
    /// Records an attested session unless its id is already stored: `true` when this call
    /// consumed the nonce, `false` when someone (any replica) already had.
    pub async fn claim_session(&self, session: &SessionRecord) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO kbs_sessions (session_id, used_until, granted_until, token, signing_keys)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&session.session_id)
            .bind(session.used_until)
            .bind(session.granted_until)
            .bind(&session.token)
            .bind(session.signing_keys.join(","))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The stored session `session_id`, expired or not; `None` if no appraisal used its nonce
    /// (or it was purged).
    pub async fn session(&self, session_id: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT used_until, granted_until, token, signing_keys FROM kbs_sessions WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|row| {
                let keys: String = row.get(3);
                SessionRecord {
                    session_id: session_id.to_vec(),
                    used_until: row.get(0),
                    granted_until: row.get(1),
                    token: row.get(2),
                    signing_keys: keys
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                }
            }))
        })
    }

    /// Forgets sessions whose tickets expired by `now` (Unix seconds); how many. Idempotent,
    /// so every replica may run it.
    pub async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let done = sqlx::query("DELETE FROM kbs_sessions WHERE used_until <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// How many sessions are stored (expired ones included until purged).
    pub async fn session_count(&self) -> Result<i64, StoreError> {
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT count(*) FROM kbs_sessions")
                .fetch_one(pool)
                .await?)
        })
    }

    /// Marks the signing-key commitment `keyid` certified until `until`: `true` when this call
    /// took it, `false` when it was already taken and has not expired. Forgets expired ones.
    pub async fn take_certified_key(
        &self,
        keyid: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM certified_keys WHERE until <= $1")
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            let done = sqlx::query(
                "INSERT INTO certified_keys (keyid, until) VALUES ($1, $2) ON CONFLICT (keyid) DO NOTHING",
            )
            .bind(keyid)
            .bind(until)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The sealed service key `name`, storing `candidate` first if there is none: every
    /// replica that races here gets the one value stored first.
    pub async fn service_key_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO service_keys (name, sealed, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .bind(crate::unix_now())
            .execute(pool)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT sealed FROM service_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Every sealed service key as `(name, sealed)`, sorted by name.
    pub async fn service_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        on_pool!(self, pool => {
            Ok(sqlx::query_as("SELECT name, sealed FROM service_keys ORDER BY name")
                .fetch_all(pool)
                .await?)
        })
    }

    /// The store's generation: it grows with every committed write to policies, reference
    /// values, registered or revoked AKs and signing keys — what replicas hold in memory.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        on_pool!(self, pool => {
            Ok(
                sqlx::query_scalar("SELECT generation FROM store_generation WHERE id = 1")
                    .fetch_one(pool)
                    .await?,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_claimed_once_and_purged_after_its_ticket() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _) in crate::testing::stores(dir.path()).await {
            sessions_claimed_once(store).await;
        }
    }

    async fn sessions_claimed_once(store: Store) {
        let session = SessionRecord {
            session_id: vec![7; 16],
            used_until: 100,
            granted_until: 90,
            token: "t".into(),
            signing_keys: vec!["k1".into(), "k2".into()],
        };
        assert!(store.session(&session.session_id).await.unwrap().is_none());
        assert!(store.claim_session(&session).await.unwrap());
        let again = SessionRecord {
            token: "other".into(),
            ..session.clone()
        };
        assert!(!store.claim_session(&again).await.unwrap());
        assert_eq!(
            store.session(&session.session_id).await.unwrap(),
            Some(session.clone())
        );
        assert_eq!(store.purge_sessions(99).await.unwrap(), 0);
        assert_eq!(store.session_count().await.unwrap(), 1);
        assert_eq!(store.purge_sessions(100).await.unwrap(), 1);
        assert_eq!(store.session_count().await.unwrap(), 0);
        assert!(
            store.take_certified_key("k", 50, 10).await.unwrap(),
            "first take"
        );
        assert!(!store.take_certified_key("k", 60, 49).await.unwrap());
        assert!(store.take_certified_key("k", 60, 50).await.unwrap());
        assert_eq!(
            store.service_key_or_insert("token", b"a").await.unwrap(),
            b"a"
        );
        assert_eq!(
            store.service_key_or_insert("token", b"b").await.unwrap(),
            b"a"
        );
    }

    #[tokio::test]
    async fn writes_to_what_replicas_hold_bump_the_generation_and_resources_do_not() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _) in crate::testing::stores(dir.path()).await {
            generation_bumps(store).await;
        }
    }

    async fn generation_bumps(store: Store) {
        let start = store.generation().await.unwrap();
        store.put_resource("a/b/c", b"x").await.unwrap();
        assert_eq!(store.generation().await.unwrap(), start);
        store
            .put_policy(crate::PolicyKind::Release, "a/", "package x")
            .await
            .unwrap();
        assert_eq!(store.generation().await.unwrap(), start + 1);
        assert!(
            store
                .delete_policy(crate::PolicyKind::Release, "a/")
                .await
                .unwrap()
        );
        assert_eq!(store.generation().await.unwrap(), start + 2);
        // Deleting what is not there, or a resource (read through, held by no replica),
        // rebuilds nothing.
        assert!(
            !store
                .delete_policy(crate::PolicyKind::Release, "a/")
                .await
                .unwrap()
        );
        assert!(!store.delete_reference_value("none").await.unwrap());
        assert!(store.delete_resource("a/b/c").await.unwrap());
        assert_eq!(store.generation().await.unwrap(), start + 2);
        store.put_registered_ak("n", b"p", "k").await.unwrap();
        assert!(store.revoke_registered_ak("n", "ops").await.unwrap());
        assert_eq!(store.generation().await.unwrap(), start + 4);
    }
}
