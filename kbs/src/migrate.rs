//! `warden-kbs migrate`: moves a KBS's store into another database — SQLite into PostgreSQL for
//! replicas, or back — with every KBS on it stopped. The copy is
//! [`Store::copy_into`] (one snapshot, one transaction, row counts and log roots checked
//! before it commits); this module adds what only the KBS can check: that every sealed value
//! unseals with the master key, through the functions the KBS itself unseals them with, and
//! that each log's latest checkpoint verifies under the log's key and names the stored root.
//! The source is checked first, so a wrong master key is refused before anything is written.

use std::path::Path;

use warden_store::{CopyReport, SigningKeyRole, Store, StoreError, StoreLocation, StoreOptions};
use warden_wire::tlog::{Checkpoint, NoteSigner};
use zeroize::Zeroizing;

use crate::keyfile;
use crate::sealing::Sealer;
use crate::service::unseal_service_key;
use crate::signing::{AuthorityError, load_authority, load_named_key};
use crate::transparency::{LogError, open_log_signer};

/// Why a store could not be migrated or checked.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The store failed, or the copy refused (a target that is not empty) or did not match.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target store cannot be opened (or created).
    #[error("the target store: {0}")]
    OpenTarget(StoreError),
    /// No usable master key.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A resource's sealed value does not unseal.
    #[error("resource {0} does not unseal with this master key")]
    Resource(String),
    /// The CA, TSA and CT keys do not unseal, or only some of them are stored.
    #[error("signing authority: {0}")]
    Authority(String),
    /// A named signing key does not unseal.
    #[error("named signing key {0} does not unseal with this master key")]
    NamedKey(String),
    /// A service key (the token signing key) does not unseal.
    #[error("service key {0} does not unseal with this master key")]
    ServiceKey(String),
    /// A log's key does not unseal.
    #[error(transparent)]
    LogKey(#[from] LogError),
    /// A log's latest checkpoint does not verify or does not match its stored tree.
    #[error("the {log} log: {reason}")]
    Log {
        /// The log.
        log: String,
        /// What is wrong.
        reason: String,
    },
    /// The source failed a check: nothing was copied.
    #[error("the source store: {0} (nothing was copied)")]
    Source(Box<MigrateError>),
    /// The committed copy failed a check: it must not be used.
    #[error("the copy was committed but {0}: do not use it (drop the target and migrate again)")]
    Target(Box<MigrateError>),
}

/// What unsealed with the master key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsealed {
    /// Sealed resources.
    pub resources: usize,
    /// Signing keys: the CA, TSA and CT keys and the named keys.
    pub signing_keys: usize,
    /// Service keys (the token signing key, kept sealed in the store on PostgreSQL).
    pub service_keys: usize,
    /// Log checkpoint keys, each log's latest checkpoint verified with it.
    pub logs: usize,
}

impl Unsealed {
    /// Signing and service keys.
    pub fn keys(&self) -> usize {
        self.signing_keys + self.service_keys
    }
}

/// A migration's outcome.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// What the store copied.
    pub copy: CopyReport,
    /// What unsealed in the copy.
    pub unsealed: Unsealed,
}

/// The master key's sealer, from `WARDEN_MASTER_KEY` or else `file`. Never creates a key (as
/// `serve` does on first start): a new key would unseal nothing.
pub fn read_master_sealer(file: Option<&Path>) -> Result<Sealer, MigrateError> {
    let text = match std::env::var("WARDEN_MASTER_KEY") {
        Ok(value) => Zeroizing::new(value.into_bytes()),
        Err(_) => {
            let file = file.ok_or_else(|| {
                MigrateError::MasterKey(
                    "set WARDEN_MASTER_KEY or name the master key file (--master-key-file)".into(),
                )
            })?;
            Zeroizing::new(
                keyfile::read_private(file)
                    .map_err(|e| MigrateError::MasterKey(format!("{}: {e}", file.display())))?,
            )
        }
    };
    let key =
        Sealer::parse_master_key(&text).map_err(|e| MigrateError::MasterKey(e.to_string()))?;
    Ok(Sealer::new(&key))
}

/// Copies `source` into the empty store at `target` (opened with `options`, after the
/// source's secrets are checked: a wrong master key creates nothing) and checks that the
/// copy's secrets unseal with `sealer`.
pub async fn migrate(
    source: &Store,
    target: &StoreLocation,
    options: &StoreOptions,
    sealer: &Sealer,
) -> Result<Migrated, MigrateError> {
    check_sealed(source, sealer)
        .await
        .map_err(|e| MigrateError::Source(Box::new(e)))?;
    let target = Store::open(target, options)
        .await
        .map_err(MigrateError::OpenTarget)?;
    let migrated = copy_and_check(source, &target, sealer).await;
    target.close().await;
    migrated
}

async fn copy_and_check(
    source: &Store,
    target: &Store,
    sealer: &Sealer,
) -> Result<Migrated, MigrateError> {
    let copy = source.copy_into(target).await?;
    let unsealed = check_sealed(target, sealer)
        .await
        .map_err(|e| MigrateError::Target(Box::new(e)))?;
    Ok(Migrated { copy, unsealed })
}

/// Unseals every sealed value of `store` with `sealer` (plaintexts are dropped at once) and
/// verifies each log's latest checkpoint.
pub async fn check_sealed(store: &Store, sealer: &Sealer) -> Result<Unsealed, MigrateError> {
    let mut unsealed = Unsealed::default();
    for path in store.list_resources().await? {
        if let Some(sealed) = store.get_resource(&path).await? {
            sealer
                .unseal(&path, &sealed)
                .map_err(|_| MigrateError::Resource(path.clone()))?;
            unsealed.resources += 1;
        }
    }
    let mut authority_rows = 0;
    for role in [SigningKeyRole::Ca, SigningKeyRole::Tsa, SigningKeyRole::Ct] {
        authority_rows += store.signing_keys(role).await?.len();
    }
    let authority = load_authority(store, sealer)
        .await
        .map_err(|e| MigrateError::Authority(e.to_string()))?;
    match (authority, authority_rows) {
        (Some(_), 3) => unsealed.signing_keys += 3,
        (None, 0) => {}
        _ => {
            return Err(MigrateError::Authority(format!(
                "{authority_rows} CA, TSA and CT keys stored, not the 3 of one authority"
            )));
        }
    }
    for key in store.signing_keys(SigningKeyRole::Named).await? {
        match load_named_key(store, sealer, &key.name).await {
            Ok(Some(_)) => unsealed.signing_keys += 1,
            Ok(None) | Err(AuthorityError::Unseal | AuthorityError::Signing(_)) => {
                return Err(MigrateError::NamedKey(key.name));
            }
            Err(e) => return Err(MigrateError::Authority(e.to_string())),
        }
    }
    for (name, sealed) in store.service_keys().await? {
        unseal_service_key(sealer, &name, &sealed).map_err(|_| MigrateError::ServiceKey(name))?;
        unsealed.service_keys += 1;
    }
    for name in store.log_names().await? {
        let signer = open_log_signer(store, sealer, &name).await?;
        check_latest_checkpoint(store, &signer, &name).await?;
        unsealed.logs += 1;
    }
    Ok(unsealed)
}

/// The log's latest checkpoint verifies with its unsealed key, and its size and root are the
/// stored tree's; the stored public key is the unsealed key's.
async fn check_latest_checkpoint(
    store: &Store,
    signer: &NoteSigner,
    name: &str,
) -> Result<(), MigrateError> {
    let failed = |reason: String| MigrateError::Log {
        log: name.to_owned(),
        reason,
    };
    let stored = store
        .log(name)
        .await?
        .ok_or_else(|| StoreError::UnknownLog(name.to_owned()))?;
    if signer.verifier().public_key() != stored.log.public_key.as_slice() {
        return Err(failed(
            "its stored public key is not its sealed key's".into(),
        ));
    }
    let Some((size, note)) = store.latest_log_checkpoint(name).await? else {
        return match stored.size {
            0 => Ok(()),
            entries => Err(failed(format!("{entries} entries and no checkpoint"))),
        };
    };
    let checkpoint =
        Checkpoint::open(note.as_bytes(), signer.name(), signer.verifier()).map_err(|e| {
            failed(format!(
                "its checkpoint of size {size} does not verify: {e}"
            ))
        })?;
    let root = store.log_root(name, stored.size).await?;
    if checkpoint.size != size || size != stored.size || checkpoint.root != root {
        return Err(failed(format!(
            "its latest checkpoint (size {}) is not its stored tree (size {})",
            checkpoint.size, stored.size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{create_authority, create_named_key};
    use crate::transparency::MerkleLog;
    use warden_store::testing;
    use warden_wire::signing_key::KeyAlgorithm;

    /// A store as a KBS leaves it: a sealed resource, the signing authority, a named key, a
    /// service key, and a log with entries.
    async fn kbs_store(store: &Store, sealer: &Sealer) {
        store
            .put_resource("tenant/app/key", &sealer.seal("tenant/app/key", b"secret"))
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        create_authority(store, sealer, "kbs.test", now)
            .await
            .unwrap();
        create_named_key(
            store,
            sealer,
            "release",
            KeyAlgorithm::EcdsaP256,
            "ops",
            now,
        )
        .await
        .unwrap();
        store
            .service_key_or_insert(
                "token-signing",
                &sealer.seal("service-key:token-signing", b"pem"),
            )
            .await
            .unwrap();
        let log = MerkleLog::open(store, sealer, "audit", "kbs.test/audit")
            .await
            .unwrap();
        for i in 0..3 {
            let mut entry = serde_json::Map::new();
            entry.insert("kind".into(), format!("test-{i}").into());
            log.append(entry).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_copy_unseals_and_a_wrong_master_key_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::new(&[7; 32]);
        let source = Store::open_sqlite(&dir.path().join("source.db"))
            .await
            .unwrap();
        kbs_store(&source, &sealer).await;
        let mut targets = vec![StoreLocation::Sqlite(dir.path().join("target.db"))];
        if let Some(server) = testing::postgres_url() {
            let url = testing::fresh_postgres_database(&server).await.unwrap();
            targets.push(StoreLocation::Postgres(url));
        }
        let options = StoreOptions::default();
        for location in targets {
            let refused = migrate(&source, &location, &options, &Sealer::new(&[8; 32]))
                .await
                .expect_err("another master key");
            assert!(
                matches!(&refused, MigrateError::Source(inner) if matches!(**inner, MigrateError::Resource(_))),
                "{}: {refused}",
                location.display()
            );
            // Refused before the target was opened: an SQLite target was not even created.
            if let StoreLocation::Sqlite(path) = &location {
                assert!(!path.exists());
            }
            let migrated = migrate(&source, &location, &options, &sealer)
                .await
                .unwrap();
            assert_eq!(
                migrated.unsealed,
                Unsealed {
                    resources: 1,
                    signing_keys: 4,
                    service_keys: 1,
                    logs: 1
                },
                "{}",
                location.display()
            );
            assert_eq!(migrated.copy.logs[0].size, 3);
            let target = Store::open(&location, &options).await.unwrap();
            // A tampered copy is named: a sealed value moved to another path fails.
            let other = sealer.seal("tenant/app/other", b"x");
            target.put_resource("tenant/app/key", &other).await.unwrap();
            let refused = check_sealed(&target, &sealer).await.expect_err("moved");
            assert!(refused.to_string().contains("tenant/app/key"), "{refused}");
        }
    }
}
