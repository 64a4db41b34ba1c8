//! Durable state: sealed resources, policies, reference values and revoked admin tokens in an
//! SQLite file — the one store of the KBS and of the standalone verifier service
//! (`warden-verifier serve`), which uses only its policy, reference-value and AK tables. `files`
//! holds the file-mode rules both servers apply to what they keep and trust on disk.
//!
//! Writes are acknowledged only after SQLite commits them with `synchronous = FULL` in WAL mode,
//! so an acknowledged write survives a crash of the process or the machine. Values are stored
//! sealed (by the KBS); this crate never sees a plaintext secret.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backend;
mod copy;
pub mod files;
mod log;
mod shared;
pub mod testing;

pub use backend::{StoreLocation, StoreOptions, redact};
pub use copy::{CopiedLog, CopyReport, NOT_COPIED};
pub use log::{AppendedBatch, LogEntry, MAX_APPEND_BATCH, NewLog, StoredLog};
pub use shared::SessionRecord;

use std::path::Path;
use std::time::Duration;

use backend::{Pool, commit_bumping_generation, on_pool};
use sqlx::Row;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error (a statement or a transaction) that retrying will not cure.
    #[error("store: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached or cannot answer now (connection refused or lost, no
    /// connection free within the acquire timeout, a lock or statement timeout, the server
    /// shutting down): the operation did not happen and may succeed if retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// `[store] url` is not a store URL this build reads (the message never shows a password).
    #[error("store URL {0}")]
    Url(String),
    /// The database at start-up could not be reached or refused the login.
    #[error("cannot connect to the store at {url}: {reason}")]
    Connect {
        /// The URL, its password replaced.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// Creating the store's directory or restricting a store file's permissions failed.
    #[error("store file {path}: {source}")]
    File {
        /// The directory or file concerned.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// No Merkle log of that name exists in the store.
    #[error("no log named {0:?} in the store")]
    UnknownLog(String),
    /// A Merkle log operation was refused: an index or size out of range, or a node the
    /// store should hold is missing.
    #[error("log: {0}")]
    Log(#[from] warden_wire::tlog::TlogError),
    /// An append of no entries, or of more than [`log::MAX_APPEND_BATCH`].
    #[error("a log append writes 1 to {max} entries, not {0}", max = log::MAX_APPEND_BATCH)]
    BatchSize(usize),
    /// A stored value is not what this build wrote (e.g. a log hash of the wrong length).
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// Signing the checkpoint of an append failed; nothing was appended.
    #[error("signing the log checkpoint: {0}")]
    CheckpointSigning(String),
    /// The store was written by a newer Warden whose schema this build does not know.
    #[error(
        "the store's schema is version {found}, newer than this build's {known}: upgrade Warden"
    )]
    NewerSchema {
        /// The store's schema version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// [`Store::copy_into`] refused before writing: the target holds rows, or a store is not
    /// at this build's schema.
    #[error("copy refused: {0}")]
    CopyRefused(String),
    /// [`Store::copy_into`]'s copy differed from the source when checked; nothing was
    /// committed.
    #[error("the copy differs from the source (nothing was committed): {0}")]
    CopyMismatch(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if backend::is_unavailable(&error) {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Database(error)
        }
    }
}

impl StoreError {
    /// Whether the operation failed because the database is unavailable (so the caller should
    /// answer "try again later"), rather than because of what was asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Kinds of policy kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// The verifier's appraisal policies, named by policy id.
    Appraisal,
    /// The KBS's release policies, named by the resource-path prefix they govern.
    Release,
    /// The KBS's signing policy (one, named `default`).
    Signing,
}

impl PolicyKind {
    fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Appraisal => "appraisal",
            PolicyKind::Release => "release",
            PolicyKind::Signing => "signing",
        }
    }
}

/// What a signing key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyRole {
    /// The CA that issues code-signing certificates.
    Ca,
    /// The RFC 3161 timestamp authority.
    Tsa,
    /// The certificate-transparency log key that signs the SCTs embedded in certificates.
    Ct,
    /// An operator's named key that signs for attested callers.
    Named,
}

impl SigningKeyRole {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningKeyRole::Ca => "ca",
            SigningKeyRole::Tsa => "tsa",
            SigningKeyRole::Ct => "ct",
            SigningKeyRole::Named => "named",
        }
    }
}

/// A stored signing key: the private key only sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// The key's name within its role.
    pub name: String,
    /// Its algorithm's name (`ecdsa-p256`, `ecdsa-p384`, `ed25519`).
    pub algorithm: String,
    /// The sealed PKCS#8 private key.
    pub sealed: Vec<u8>,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The key's certificate (DER), for the CA and TSA.
    pub certificate: Option<Vec<u8>>,
    /// When it was created, Unix seconds.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

/// The record of one certificate the signing authority issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// `keyless` (a build enclave's own key) or `named:<key>` (companion of a remote signature).
    pub kind: String,
    /// The builder identity in the SAN.
    pub identity: String,
    /// Hex SHA-256 of the certified SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// The `jti` of the attestation token the issuance relied on.
    pub ear_jti: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
}

/// Where a reference value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceValueOrigin {
    /// `api` (KBS admin API), `rpc` (verifier service) or `dsse:<keyid>` (signed provenance).
    pub source: String,
    /// The administrator or service client who set or imported it.
    pub set_by: String,
    /// SHA-256 of the in-toto statement it was imported from.
    pub provenance_sha256: Option<String>,
    /// Unix seconds after which appraisal ignores it.
    pub expires_at: Option<i64>,
}

/// A reference value as stored: its current value, version and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReferenceValue {
    /// The reference value's name (its key).
    pub name: String,
    /// The value, as JSON text.
    pub value_json: String,
    /// When it was last set, in Unix seconds.
    pub updated_at: i64,
    /// 1 when first set; every later set of the same name adds one.
    pub version: i64,
    /// Where the current value came from.
    pub origin: ReferenceValueOrigin,
}

/// A TPM AK the verifier service was asked to trust (`RegisterTpmAk`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredAk {
    /// TPM name, hex.
    pub name: String,
    /// Its `TPMT_PUBLIC`.
    pub public: Vec<u8>,
    /// Unix seconds.
    pub registered_at: i64,
    /// The client (e.g. a broker) that registered it.
    pub registered_by: String,
}

/// The store, in an SQLite file or a PostgreSQL database. Clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The longest one operation may take before it is [`StoreError::Unavailable`].
    deadline: Duration,
}

/// The schema as numbered migrations: a store at version `n` (SQLite's `user_version`) has had
/// the first `n` applied. Each is applied once, in one transaction with the version it reaches;
/// a change to the schema is a new entry at the end, never an edit of an old one, made in
/// [`POSTGRES_MIGRATIONS`] too.
const SQLITE_MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE resources (path TEXT PRIMARY KEY, sealed BLOB NOT NULL, updated_at INTEGER NOT NULL)",
        "CREATE TABLE policies (kind TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (kind, name))",
        "CREATE TABLE reference_values (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL, source TEXT NOT NULL, set_by TEXT NOT NULL, provenance_sha256 TEXT, expires_at INTEGER, version INTEGER NOT NULL)",
        "CREATE TABLE registered_aks (name TEXT PRIMARY KEY, public BLOB NOT NULL, registered_at INTEGER NOT NULL, registered_by TEXT NOT NULL)",
        "CREATE TABLE revoked_aks (name TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, revoked_by TEXT NOT NULL)",
    ],
    // 2: revoked admin tokens (KBS only), by `jti`, kept until no token with it can be valid.
    &[
        "CREATE TABLE revoked_admin_tokens (jti TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, revoked_by TEXT NOT NULL, purge_after INTEGER NOT NULL)",
    ],
    // 3: the signing authority (KBS only): its CA and TSA keys and operators' named keys,
    // sealed like resources, with their public halves; and a record of issued certificates.
    &[
        "CREATE TABLE signing_keys (role TEXT NOT NULL CHECK (role IN ('ca', 'tsa', 'ct', 'named')), name TEXT NOT NULL, algorithm TEXT NOT NULL, sealed BLOB NOT NULL, spki BLOB NOT NULL, certificate BLOB, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (role, name))",
        "CREATE TABLE issued_certificates (serial TEXT PRIMARY KEY, kind TEXT NOT NULL, identity TEXT NOT NULL, spki_sha256 TEXT NOT NULL, ear_jti TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL)",
    ],
    // 4: Merkle logs (KBS only: the audit log and the signing transparency log). `size` is the
    // durable sequence; the entries, the complete-subtree nodes (level 0: leaf hashes) and one
    // signed checkpoint per appended batch are written in the transaction that advances it.
    &[
        "CREATE TABLE transparency_logs (name TEXT PRIMARY KEY, origin TEXT NOT NULL, algorithm TEXT NOT NULL, sealed_key BLOB NOT NULL, public_key BLOB NOT NULL, size INTEGER NOT NULL CHECK (size >= 0), created_at INTEGER NOT NULL)",
        "CREATE TABLE log_entries (log TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (log, idx))",
        "CREATE TABLE log_nodes (log TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (log, level, idx))",
        "CREATE INDEX log_leaf_hashes ON log_nodes (log, hash) WHERE level = 0",
        "CREATE TABLE log_checkpoints (log TEXT NOT NULL, size INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (log, size))",
    ],
    // 5: state replicas share (KBS only). An attested session is one row, which is also its
    // used nonce: inserting it decides which replica consumed the nonce. Key ids certified
    // once per commitment; service keys (the token signing key) sealed; and the generation
    // every write to a table replicas hold in memory bumps, which replicas poll.
    &[
        "CREATE TABLE kbs_sessions (session_id BLOB PRIMARY KEY, used_until INTEGER NOT NULL, granted_until INTEGER NOT NULL, token TEXT NOT NULL, signing_keys TEXT NOT NULL)",
        "CREATE INDEX kbs_sessions_used_until ON kbs_sessions (used_until)",
        "CREATE TABLE certified_keys (keyid TEXT PRIMARY KEY, until INTEGER NOT NULL)",
        "CREATE TABLE service_keys (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, created_at INTEGER NOT NULL)",
        "CREATE TABLE store_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL)",
        "INSERT INTO store_generation (id, generation) VALUES (1, 0)",
    ],
];

/// [`SQLITE_MIGRATIONS`] for PostgreSQL: the same numbers make the same tables and columns
/// (64-bit `BIGINT` where SQLite's `INTEGER` is 64-bit; `BYTEA` for `BLOB`). The version is kept
/// in `schema_version`.
const POSTGRES_MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE resources (path TEXT PRIMARY KEY, sealed BYTEA NOT NULL, updated_at BIGINT NOT NULL)",
        "CREATE TABLE policies (kind TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (kind, name))",
        "CREATE TABLE reference_values (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL, source TEXT NOT NULL, set_by TEXT NOT NULL, provenance_sha256 TEXT, expires_at BIGINT, version BIGINT NOT NULL)",
        "CREATE TABLE registered_aks (name TEXT PRIMARY KEY, public BYTEA NOT NULL, registered_at BIGINT NOT NULL, registered_by TEXT NOT NULL)",
        "CREATE TABLE revoked_aks (name TEXT PRIMARY KEY, revoked_at BIGINT NOT NULL, revoked_by TEXT NOT NULL)",
    ],
    &[
        "CREATE TABLE revoked_admin_tokens (jti TEXT PRIMARY KEY, revoked_at BIGINT NOT NULL, revoked_by TEXT NOT NULL, purge_after BIGINT NOT NULL)",
    ],
    &[
        "CREATE TABLE signing_keys (role TEXT NOT NULL CHECK (role IN ('ca', 'tsa', 'ct', 'named')), name TEXT NOT NULL, algorithm TEXT NOT NULL, sealed BYTEA NOT NULL, spki BYTEA NOT NULL, certificate BYTEA, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (role, name))",
        "CREATE TABLE issued_certificates (serial TEXT PRIMARY KEY, kind TEXT NOT NULL, identity TEXT NOT NULL, spki_sha256 TEXT NOT NULL, ear_jti TEXT NOT NULL, not_before BIGINT NOT NULL, not_after BIGINT NOT NULL)",
    ],
    &[
        "CREATE TABLE transparency_logs (name TEXT PRIMARY KEY, origin TEXT NOT NULL, algorithm TEXT NOT NULL, sealed_key BYTEA NOT NULL, public_key BYTEA NOT NULL, size BIGINT NOT NULL CHECK (size >= 0), created_at BIGINT NOT NULL)",
        "CREATE TABLE log_entries (log TEXT NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (log, idx))",
        "CREATE TABLE log_nodes (log TEXT NOT NULL, level BIGINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (log, level, idx))",
        "CREATE INDEX log_leaf_hashes ON log_nodes (log, hash) WHERE level = 0",
        "CREATE TABLE log_checkpoints (log TEXT NOT NULL, size BIGINT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (log, size))",
    ],
    &[
        "CREATE TABLE kbs_sessions (session_id BYTEA PRIMARY KEY, used_until BIGINT NOT NULL, granted_until BIGINT NOT NULL, token TEXT NOT NULL, signing_keys TEXT NOT NULL)",
        "CREATE INDEX kbs_sessions_used_until ON kbs_sessions (used_until)",
        "CREATE TABLE certified_keys (keyid TEXT PRIMARY KEY, until BIGINT NOT NULL)",
        "CREATE TABLE service_keys (name TEXT PRIMARY KEY, sealed BYTEA NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE TABLE store_generation (id INT PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)",
        "INSERT INTO store_generation (id, generation) VALUES (1, 0)",
    ],
];

/// Brings an SQLite store to the latest schema version. A store from a newer Warden (a version
/// this build does not know) is refused rather than written with an older idea of its schema.
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let latest = SQLITE_MIGRATIONS.len() as i64;
    let mut transaction = pool.begin().await?;
    // Inside the transaction: two processes opening one new store apply each migration once.
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *transaction)
        .await?;
    check_version(current, latest)?;
    for migration in &SQLITE_MIGRATIONS[usize::try_from(current).unwrap_or_default()..] {
        for statement in migration.iter().copied() {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
    }
    // PRAGMA takes no bound parameters; `latest` is a count of compiled-in migrations.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {latest}"
    )))
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Any constant: the advisory lock replicas starting together on one database take, so one
/// of them applies each migration and the others wait and see it applied.
const MIGRATION_LOCK: i64 = 0x7761_7264_656e_0001;

/// Brings a PostgreSQL store to the latest schema version, as [`migrate_sqlite`] does.
async fn migrate_postgres(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    let latest = POSTGRES_MIGRATIONS.len() as i64;
    let mut transaction = pool.begin().await?;
    // Held to the end of the transaction; `CREATE TABLE IF NOT EXISTS` alone races on the
    // catalog when two replicas start on an empty database.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_version (id INT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
    )
    .execute(&mut *transaction)
    .await?;
    let current: i64 = sqlx::query_scalar("SELECT version FROM schema_version WHERE id = 1")
        .fetch_optional(&mut *transaction)
        .await?
        .unwrap_or(0);
    check_version(current, latest)?;
    for migration in &POSTGRES_MIGRATIONS[usize::try_from(current).unwrap_or_default()..] {
        for statement in migration.iter().copied() {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
    }
    sqlx::query(
        "INSERT INTO schema_version (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    )
    .bind(latest)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

fn check_version(current: i64, latest: i64) -> Result<(), StoreError> {
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            known: latest,
        });
    }
    Ok(())
}

/// Run in the transaction of every write to a table replicas hold in memory (see
/// [`Store::generation`]).
const BUMP_GENERATION: &str =
    "UPDATE store_generation SET generation = generation + 1 WHERE id = 1";

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Store {
    /// Opens the store at `location` with `options` (see [`Store::open_sqlite`] and
    /// [`Store::open_postgres`]).
    pub async fn open(
        location: &StoreLocation,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => Self::open_sqlite(path).await,
            StoreLocation::Postgres(url) => Self::open_postgres(url, options).await,
        }
    }

    /// Opens the SQLite file at `path`, creating it (and its directory, mode 0700) if missing,
    /// bringing its schema up to date, and restricting its files to the owner (mode 0600).
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            files::create_private_dir_all(parent).map_err(|source| StoreError::File {
                path: parent.display().to_string(),
                source,
            })?;
        }
        // Created owner-only before SQLite opens it, so it is never briefly open to others under
        // a lax umask (SQLite gives the -wal and -shm files the database file's mode).
        match files::write_file(path, b"", files::PRIVATE_FILE_MODE, files::Existing::Refuse) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::File {
                    path: path.display().to_string(),
                    source: e,
                });
            }
            _ => {}
        }
        let pool = backend::connect_sqlite(path).await?;
        migrate_sqlite(&pool).await?;
        // The file holds sealed secrets and policies: owner only.
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            if Path::new(&file).exists() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                    |source| StoreError::File {
                        path: file.clone(),
                        source,
                    },
                )?;
            }
        }
        Ok(Self {
            pool: Pool::Sqlite(pool),
            // SQLite waits up to its busy timeout (5 s) for the write lock; a deadline shorter
            // than that would only turn a wait into an error.
            deadline: Duration::from_secs(30),
        })
    }

    /// Connects to the PostgreSQL database at `url` and brings its schema up to date. A server
    /// that cannot be reached, or refuses the login, is [`StoreError::Connect`] naming the URL
    /// without its password.
    pub async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let pool = backend::connect_postgres(url, options).await?;
        let store = Self {
            pool: Pool::Postgres(pool),
            deadline: options.operation_timeout,
        };
        if let Pool::Postgres(pool) = &store.pool {
            store.bounded(migrate_postgres(pool)).await?;
        }
        Ok(store)
    }

    /// Which backend this store is on: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Runs one store operation within the store's deadline: a database that stops answering
    /// (a server gone without closing its connections) costs a request this long, no more.
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                self.deadline.as_millis()
            ))),
        }
    }

    /// Checks that the database answers a query (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Stores the sealed value of the resource at `path`, replacing any earlier one.
    pub async fn put_resource(&self, path: &str, sealed: &[u8]) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO resources (path, sealed, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT(path) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            )
            .bind(path)
            .bind(sealed)
            .bind(unix_now())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The sealed value of the resource at `path`; `None` if there is none.
    pub async fn get_resource(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query("SELECT sealed FROM resources WHERE path = $1")
                .bind(path)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|row| row.get::<Vec<u8>, _>(0)))
        })
    }

    /// Deletes the resource at `path`; whether it existed.
    pub async fn delete_resource(&self, path: &str) -> Result<bool, StoreError> {
        // Resources are read through on every release: no replica holds them, no generation.
        on_pool!(self, pool => {
            let done = sqlx::query("DELETE FROM resources WHERE path = $1")
                .bind(path)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Runs a `DELETE` of a row replicas hold in memory, `keys` bound in order; whether it
    /// removed one. Only a removal moves the generation: deleting nothing rebuilds nothing.
    async fn delete_held(
        &self,
        statement: &'static str,
        keys: &[&str],
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            let mut query = sqlx::query(statement);
            for key in keys {
                query = query.bind(*key);
            }
            let done = query.execute(&mut *transaction).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            commit_bumping_generation!(transaction);
            Ok(true)
        })
    }

    /// The paths of all stored resources, sorted.
    pub async fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query("SELECT path FROM resources ORDER BY path")
                .fetch_all(pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|row| row.get::<String, _>(0))
                .collect())
        })
    }

    /// Stores the source of the `kind` policy `name`, replacing any earlier one.
    pub async fn put_policy(
        &self,
        kind: PolicyKind,
        name: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            sqlx::query(
                "INSERT INTO policies (kind, name, source, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(kind, name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
            )
            .bind(kind.as_str())
            .bind(name)
            .bind(source)
            .bind(unix_now())
            .execute(&mut *transaction)
            .await?;
            commit_bumping_generation!(transaction);
            Ok(())
        })
    }

    /// Deletes the `kind` policy `name`; whether it existed.
    pub async fn delete_policy(&self, kind: PolicyKind, name: &str) -> Result<bool, StoreError> {
        self.delete_held(
            "DELETE FROM policies WHERE kind = $1 AND name = $2",
            &[kind.as_str(), name],
        )
        .await
    }

    /// Every policy of `kind` as `(name, source)`, sorted by name.
    pub async fn policies(&self, kind: PolicyKind) -> Result<Vec<(String, String)>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query("SELECT name, source FROM policies WHERE kind = $1 ORDER BY name")
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect())
        })
    }

    /// Sets reference values in one transaction: all of them are stored, or none.
    pub async fn put_reference_values(
        &self,
        values: &[(String, String)],
        origin: &ReferenceValueOrigin,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            let now = unix_now();
            for (name, value_json) in values {
                sqlx::query(
                    "INSERT INTO reference_values (name, value, updated_at, source, set_by, provenance_sha256, expires_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
                     ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
                       source = excluded.source, set_by = excluded.set_by,
                       provenance_sha256 = excluded.provenance_sha256, expires_at = excluded.expires_at,
                       version = reference_values.version + 1",
                )
                .bind(name)
                .bind(value_json)
                .bind(now)
                .bind(&origin.source)
                .bind(&origin.set_by)
                .bind(&origin.provenance_sha256)
                .bind(origin.expires_at)
                .execute(&mut *transaction)
                .await?;
            }
            commit_bumping_generation!(transaction);
            Ok(())
        })
    }

    /// Deletes the reference value `name`; whether it existed.
    pub async fn delete_reference_value(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_held("DELETE FROM reference_values WHERE name = $1", &[name])
            .await
    }

    /// Every stored reference value with its version and origin, sorted by name.
    pub async fn reference_values(&self) -> Result<Vec<StoredReferenceValue>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT name, value, updated_at, source, set_by, provenance_sha256, expires_at, version
                 FROM reference_values ORDER BY name",
            )
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|row| StoredReferenceValue {
                    name: row.get(0),
                    value_json: row.get(1),
                    updated_at: row.get(2),
                    version: row.get(7),
                    origin: ReferenceValueOrigin {
                        source: row.get(3),
                        set_by: row.get(4),
                        provenance_sha256: row.get(5),
                        expires_at: row.get(6),
                    },
                })
                .collect())
        })
    }

    /// Records a TPM AK (its `TPMT_PUBLIC`, by TPM name) proven by credential activation; kept
    /// by the verifier service for the brokers that registered it. Registering again replaces.
    pub async fn put_registered_ak(
        &self,
        name: &str,
        public: &[u8],
        registered_by: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            sqlx::query(
                "INSERT INTO registered_aks (name, public, registered_at, registered_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(name) DO UPDATE SET public = excluded.public,
                   registered_at = excluded.registered_at, registered_by = excluded.registered_by",
            )
            .bind(name)
            .bind(public)
            .bind(unix_now())
            .bind(registered_by)
            .execute(&mut *transaction)
            .await?;
            commit_bumping_generation!(transaction);
            Ok(())
        })
    }

    /// Revokes a registered AK for good: forgets it and records the revocation, in one
    /// transaction; whether it was registered (nothing changes otherwise).
    pub async fn revoke_registered_ak(
        &self,
        name: &str,
        revoked_by: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM registered_aks WHERE name = $1")
                .bind(name)
                .execute(&mut *transaction)
                .await?;
            if deleted.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO revoked_aks (name, revoked_at, revoked_by) VALUES ($1, $2, $3)
                 ON CONFLICT(name) DO UPDATE SET revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by",
            )
            .bind(name)
            .bind(unix_now())
            .bind(revoked_by)
            .execute(&mut *transaction)
            .await?;
            commit_bumping_generation!(transaction);
            Ok(true)
        })
    }

    /// Whether the AK named `name` was revoked (it may not be registered again).
    pub async fn is_revoked_ak(&self, name: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            Ok(sqlx::query("SELECT 1 FROM revoked_aks WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
                .is_some())
        })
    }

    /// Every registered AK: its `TPMT_PUBLIC`, when and by whom it was registered.
    pub async fn registered_aks(&self) -> Result<Vec<RegisteredAk>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT name, public, registered_at, registered_by FROM registered_aks ORDER BY name",
            )
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|row| RegisteredAk {
                    name: row.get(0),
                    public: row.get(1),
                    registered_at: row.get(2),
                    registered_by: row.get(3),
                })
                .collect())
        })
    }

    /// Records that the admin token `jti` is revoked, by `revoked_by` at `now`, until
    /// `purge_after` (Unix seconds; a later revocation of the same `jti` only extends it), and
    /// forgets revocations whose `purge_after` has passed, in one transaction.
    pub async fn revoke_admin_token(
        &self,
        jti: &str,
        revoked_by: &str,
        purge_after: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM revoked_admin_tokens WHERE purge_after < $1")
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "INSERT INTO revoked_admin_tokens (jti, revoked_at, revoked_by, purge_after) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(jti) DO UPDATE SET purge_after = CASE
                   WHEN excluded.purge_after > revoked_admin_tokens.purge_after THEN excluded.purge_after
                   ELSE revoked_admin_tokens.purge_after END",
            )
            .bind(jti)
            .bind(now)
            .bind(revoked_by)
            .bind(purge_after)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    /// Whether the admin token `jti` is revoked.
    pub async fn is_revoked_admin_token(&self, jti: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            Ok(
                sqlx::query("SELECT 1 FROM revoked_admin_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(pool)
                    .await?
                    .is_some(),
            )
        })
    }

    /// Whether the store holds a KBS's secrets: sealed resources or signing keys.
    pub async fn holds_kbs_secrets(&self) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            Ok(sqlx::query(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM resources) OR EXISTS (SELECT 1 FROM signing_keys)",
            )
            .fetch_optional(pool)
            .await?
            .is_some())
        })
    }

    /// Stores signing keys, all or none (the CA and TSA are created together); an existing key
    /// of the same role and name is never replaced: [`StoreError::Database`] then.
    pub async fn insert_signing_keys(
        &self,
        keys: &[(SigningKeyRole, StoredSigningKey)],
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            for (role, key) in keys {
                sqlx::query(
                    "INSERT INTO signing_keys (role, name, algorithm, sealed, spki, certificate, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(role.as_str())
                .bind(&key.name)
                .bind(&key.algorithm)
                .bind(&key.sealed)
                .bind(&key.spki)
                .bind(&key.certificate)
                .bind(key.created_at)
                .bind(&key.created_by)
                .execute(&mut *transaction)
                .await?;
            }
            commit_bumping_generation!(transaction);
            Ok(())
        })
    }

    /// The signing key `name` of `role`; `None` if there is none.
    pub async fn signing_key(
        &self,
        role: SigningKeyRole,
        name: &str,
    ) -> Result<Option<StoredSigningKey>, StoreError> {
        Ok(self
            .signing_keys_where(role, Some(name))
            .await?
            .into_iter()
            .next())
    }

    /// Every signing key of `role`, sorted by name.
    pub async fn signing_keys(
        &self,
        role: SigningKeyRole,
    ) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.signing_keys_where(role, None).await
    }

    async fn signing_keys_where(
        &self,
        role: SigningKeyRole,
        name: Option<&str>,
    ) -> Result<Vec<StoredSigningKey>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT name, algorithm, sealed, spki, certificate, created_at, created_by FROM signing_keys
                 WHERE role = $1 AND ($2 IS NULL OR name = $2) ORDER BY name",
            )
            .bind(role.as_str())
            .bind(name)
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|row| StoredSigningKey {
                    name: row.get(0),
                    algorithm: row.get(1),
                    sealed: row.get(2),
                    spki: row.get(3),
                    certificate: row.get(4),
                    created_at: row.get(5),
                    created_by: row.get(6),
                })
                .collect())
        })
    }

    /// Deletes the named signing key `name` (never the CA or TSA); whether it existed.
    pub async fn delete_named_signing_key(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_held(
            "DELETE FROM signing_keys WHERE role = 'named' AND name = $1",
            &[name],
        )
        .await
    }

    /// Records an issued certificate.
    pub async fn record_issued_certificate(
        &self,
        issued: &IssuedCertificate,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO issued_certificates (serial, kind, identity, spki_sha256, ear_jti, not_before, not_after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&issued.serial)
            .bind(&issued.kind)
            .bind(&issued.identity)
            .bind(&issued.spki_sha256)
            .bind(&issued.ear_jti)
            .bind(issued.not_before)
            .bind(issued.not_after)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Closes the store's database connections, waiting for those in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        store.put_resource("a/b/c", b"sealed").await.unwrap();
        store.put_resource("a/b/c", b"sealed2").await.unwrap();
        store
            .put_policy(PolicyKind::Release, "a/", "package x")
            .await
            .unwrap();
        let imported = ReferenceValueOrigin {
            source: "dsse:abc".into(),
            set_by: "ops".into(),
            provenance_sha256: Some("00".repeat(32)),
            expires_at: Some(1_900_000_000),
        };
        store
            .put_reference_values(&[("sample".into(), "{}".into())], &imported)
            .await
            .unwrap();
        store.close().await;
        let store = Store::open_sqlite(&path).await.unwrap();
        assert_eq!(
            store.get_resource("a/b/c").await.unwrap().unwrap(),
            b"sealed2"
        );
        assert_eq!(store.list_resources().await.unwrap(), vec!["a/b/c"]);
        assert_eq!(store.policies(PolicyKind::Release).await.unwrap().len(), 1);
        assert!(
            store
                .policies(PolicyKind::Appraisal)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.delete_resource("a/b/c").await.unwrap());
        assert!(!store.delete_resource("a/b/c").await.unwrap());
        store
            .put_reference_values(&[("sample".into(), "{}".into())], &imported)
            .await
            .unwrap();
        let values = store.reference_values().await.unwrap();
        assert_eq!(values[0].name, "sample");
        assert_eq!(values[0].origin, imported);
        assert_eq!(values[0].version, 2);
        store
            .put_registered_ak("000b01", b"tpmt", "kbs for alice")
            .await
            .unwrap();
        store
            .put_registered_ak("000b01", b"tpmt2", "kbs")
            .await
            .unwrap();
        let registered = store.registered_aks().await.unwrap();
        assert_eq!(registered.len(), 1);
        assert_eq!(
            (registered[0].name.as_str(), registered[0].public.as_slice()),
            ("000b01", b"tpmt2".as_slice())
        );
        assert_eq!(registered[0].registered_by, "kbs");
        assert!(!store.is_revoked_ak("000b01").await.unwrap());
        assert!(store.revoke_registered_ak("000b01", "ops").await.unwrap());
        assert!(!store.revoke_registered_ak("000b01", "ops").await.unwrap());
        assert!(store.is_revoked_ak("000b01").await.unwrap());
        assert!(store.registered_aks().await.unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn revoked_admin_tokens_stay_revoked_across_reopening_until_purged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/warden.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("data"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert!(!store.is_revoked_admin_token("j1").await.unwrap());
        store
            .revoke_admin_token("j1", "admin:ops", 1_000, 100)
            .await
            .unwrap();
        // Revoking again never shortens the record's life.
        store
            .revoke_admin_token("j1", "admin:ops", 500, 200)
            .await
            .unwrap();
        store.close().await;
        let store = Store::open_sqlite(&path).await.unwrap();
        assert!(store.is_revoked_admin_token("j1").await.unwrap());
        assert!(!store.is_revoked_admin_token("j2").await.unwrap());
        // A later revocation purges records past their purge time, and only those.
        store
            .revoke_admin_token("j2", "admin:ops", 5_000, 1_000)
            .await
            .unwrap();
        assert!(store.is_revoked_admin_token("j1").await.unwrap());
        store
            .revoke_admin_token("j3", "admin:ops", 5_000, 1_001)
            .await
            .unwrap();
        assert!(!store.is_revoked_admin_token("j1").await.unwrap());
        assert!(store.is_revoked_admin_token("j2").await.unwrap());
    }

    #[tokio::test]
    async fn the_schema_is_applied_once_and_a_newer_store_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warden.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        store.put_resource("a/b/c", b"sealed").await.unwrap();
        drop(store);
        // Reopening applies nothing again (a second CREATE TABLE would fail) and keeps the rows.
        let store = Store::open_sqlite(&path).await.unwrap();
        assert_eq!(
            store.get_resource("a/b/c").await.unwrap().unwrap(),
            b"sealed"
        );
        let Pool::Sqlite(pool) = &store.pool else {
            unreachable!("opened as SQLite")
        };
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(version, SQLITE_MIGRATIONS.len() as i64);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {}",
            version + 1
        )))
        .execute(pool)
        .await
        .unwrap();
        drop(store);
        let refused = Store::open_sqlite(&path).await.err().expect("refused");
        assert!(
            matches!(refused, StoreError::NewerSchema { .. }),
            "{refused}"
        );
    }

    /// Every operation of the store, on each backend (the matrix runs PostgreSQL when
    /// `WARDEN_TEST_POSTGRES` is set): the SQL texts are shared, so each must mean the same.
    #[tokio::test]
    async fn every_operation_means_the_same_on_each_backend() {
        let dir = tempfile::tempdir().unwrap();
        for (store, location) in crate::testing::stores(dir.path()).await {
            let on = location.display();
            store.put_resource("a/b/c", b"one").await.unwrap();
            store.put_resource("a/b/c", b"two").await.unwrap();
            store.put_resource("a/b/d", b"\x00\xff").await.unwrap();
            assert_eq!(
                store.get_resource("a/b/c").await.unwrap().unwrap(),
                b"two",
                "{on}"
            );
            assert_eq!(
                store.list_resources().await.unwrap(),
                ["a/b/c", "a/b/d"],
                "{on}"
            );
            assert!(store.delete_resource("a/b/c").await.unwrap(), "{on}");
            assert!(store.get_resource("a/b/c").await.unwrap().is_none(), "{on}");
            assert!(store.holds_kbs_secrets().await.unwrap(), "{on}");
            store
                .put_policy(PolicyKind::Release, "b/", "package b")
                .await
                .unwrap();
            store
                .put_policy(PolicyKind::Release, "a/", "package a")
                .await
                .unwrap();
            store
                .put_policy(PolicyKind::Release, "a/", "package a2")
                .await
                .unwrap();
            assert_eq!(
                store.policies(PolicyKind::Release).await.unwrap(),
                [
                    ("a/".to_owned(), "package a2".to_owned()),
                    ("b/".into(), "package b".into())
                ],
                "{on}"
            );
            let origin = ReferenceValueOrigin {
                source: "api".into(),
                set_by: "ops".into(),
                provenance_sha256: None,
                expires_at: None,
            };
            let values = [
                ("x".to_owned(), "[1]".to_owned()),
                ("y".into(), "[2]".into()),
            ];
            store.put_reference_values(&values, &origin).await.unwrap();
            store
                .put_reference_values(&values[..1], &origin)
                .await
                .unwrap();
            let stored = store.reference_values().await.unwrap();
            assert_eq!(
                stored
                    .iter()
                    .map(|v| (v.name.as_str(), v.version))
                    .collect::<Vec<_>>(),
                [("x", 2), ("y", 1)],
                "{on}"
            );
            assert_eq!(stored[0].origin, origin, "{on}");
            // A later revocation with an earlier purge time keeps the later one (the CASE that
            // replaced SQLite's two-argument MAX), and purges only what has passed.
            store
                .revoke_admin_token("j1", "ops", 1_000, 100)
                .await
                .unwrap();
            store
                .revoke_admin_token("j1", "ops", 500, 200)
                .await
                .unwrap();
            store
                .revoke_admin_token("j2", "ops", 5_000, 999)
                .await
                .unwrap();
            assert!(store.is_revoked_admin_token("j1").await.unwrap(), "{on}");
            store
                .revoke_admin_token("j3", "ops", 5_000, 1_001)
                .await
                .unwrap();
            assert!(!store.is_revoked_admin_token("j1").await.unwrap(), "{on}");
            assert!(store.is_revoked_admin_token("j2").await.unwrap(), "{on}");
            let key = |name: &str| StoredSigningKey {
                name: name.into(),
                algorithm: "ecdsa-p256".into(),
                sealed: vec![1, 2],
                spki: vec![3],
                certificate: None,
                created_at: 7,
                created_by: "ops".into(),
            };
            store
                .insert_signing_keys(&[
                    (SigningKeyRole::Named, key("k2")),
                    (SigningKeyRole::Named, key("k1")),
                ])
                .await
                .unwrap();
            assert!(
                store
                    .insert_signing_keys(&[(SigningKeyRole::Named, key("k1"))])
                    .await
                    .is_err(),
                "{on}: an existing key is never replaced"
            );
            // The optional name binds as a typed NULL on PostgreSQL.
            let named = store.signing_keys(SigningKeyRole::Named).await.unwrap();
            assert_eq!(named, [key("k1"), key("k2")], "{on}");
            assert_eq!(
                store
                    .signing_key(SigningKeyRole::Named, "k2")
                    .await
                    .unwrap(),
                Some(key("k2")),
                "{on}"
            );
            assert!(store.delete_named_signing_key("k2").await.unwrap(), "{on}");
            assert!(
                store
                    .signing_key(SigningKeyRole::Ca, "k1")
                    .await
                    .unwrap()
                    .is_none()
            );
            let issued = IssuedCertificate {
                serial: "01".into(),
                kind: "keyless".into(),
                identity: "id".into(),
                spki_sha256: "00".into(),
                ear_jti: "j".into(),
                not_before: 1,
                not_after: 2,
            };
            store.record_issued_certificate(&issued).await.unwrap();
            assert!(
                store.record_issued_certificate(&issued).await.is_err(),
                "{on}"
            );
            store.put_registered_ak("ak", b"p", "kbs").await.unwrap();
            assert!(
                store.revoke_registered_ak("ak", "ops").await.unwrap(),
                "{on}"
            );
            assert!(store.is_revoked_ak("ak").await.unwrap(), "{on}");
            store.ping().await.unwrap();
        }
    }

    /// The two migration lists make the same tables with the same columns.
    #[tokio::test]
    async fn both_backends_have_one_schema() {
        assert_eq!(SQLITE_MIGRATIONS.len(), POSTGRES_MIGRATIONS.len());
        let dir = tempfile::tempdir().unwrap();
        let mut schemas = Vec::new();
        for (store, location) in crate::testing::stores(dir.path()).await {
            let columns: Vec<(String, String)> = match &store.pool {
                Pool::Sqlite(pool) => sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' ORDER BY 1, 2",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
                Pool::Postgres(pool) => sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = 'public' AND table_name <> 'schema_version' ORDER BY 1, 2",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
            };
            assert!(columns.len() > 40, "{}: {columns:?}", location.display());
            schemas.push(columns);
        }
        if let [sqlite, postgres] = &schemas[..] {
            assert_eq!(sqlite, postgres);
        }
    }

    /// A PostgreSQL store of a newer schema is refused, untouched.
    #[tokio::test]
    async fn a_newer_postgres_store_is_refused() {
        let Some(server) = crate::testing::postgres_url() else {
            eprintln!("WARDEN_TEST_POSTGRES is not set: nothing to test");
            return;
        };
        let url = crate::testing::fresh_postgres_database(&server)
            .await
            .unwrap();
        let store = Store::open_postgres(&url, &StoreOptions::default())
            .await
            .unwrap();
        let Pool::Postgres(pool) = &store.pool else {
            unreachable!()
        };
        sqlx::query("UPDATE schema_version SET version = version + 1")
            .execute(pool)
            .await
            .unwrap();
        store.close().await;
        let refused = Store::open_postgres(&url, &StoreOptions::default())
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(refused, StoreError::NewerSchema { .. }),
            "{refused}"
        );
    }

    /// An unreachable server is a clear error naming the URL without its password, quickly.
    #[tokio::test]
    async fn an_unreachable_postgres_is_named_without_its_password() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("postgres://warden:hunter2@127.0.0.1:{port}/warden");
        let started = std::time::Instant::now();
        let error = Store::open_postgres(&url, &StoreOptions::default())
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains(&format!("postgres://warden:***@127.0.0.1:{port}/warden")),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        eprintln!("refused in {:?}: {error}", started.elapsed());
    }

    /// Concurrent writers of one key: no write is lost (a reference value's version counts
    /// every one), the last committed value is what stays, and a reader sees one whole written
    /// value, never a mix.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_of_one_key_lose_nothing_and_readers_see_whole_values() {
        let dir = tempfile::tempdir().unwrap();
        for (store, location) in crate::testing::stores(dir.path()).await {
            let on = location.display();
            let origin = ReferenceValueOrigin {
                source: "api".into(),
                set_by: "ops".into(),
                provenance_sha256: None,
                expires_at: None,
            };
            let value = |i: usize| vec![u8::try_from(i).unwrap(); 4096];
            let writers: Vec<_> = (0..16)
                .map(|i| {
                    let (store, origin) = (store.clone(), origin.clone());
                    tokio::spawn(async move {
                        store
                            .put_reference_values(&[("shared".into(), format!("[{i}]"))], &origin)
                            .await
                            .unwrap();
                        store.put_resource("a/b/c", &value(i)).await.unwrap();
                    })
                })
                .collect();
            let reader = {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut seen = 0;
                    for _ in 0..50 {
                        if let Some(bytes) = store.get_resource("a/b/c").await.unwrap() {
                            assert_eq!(bytes.len(), 4096);
                            assert!(bytes.iter().all(|b| *b == bytes[0]), "a torn value");
                            seen += 1;
                        }
                    }
                    seen
                })
            };
            for writer in writers {
                writer.await.unwrap();
            }
            reader.await.unwrap();
            let values = store.reference_values().await.unwrap();
            assert_eq!(values.len(), 1, "{on}");
            assert_eq!(values[0].version, 16, "{on}: every write counted");
            // Sequential writes after the race: the last committed one is what a reader gets.
            store.put_resource("a/b/c", &value(200)).await.unwrap();
            store.put_resource("a/b/c", &value(201)).await.unwrap();
            assert_eq!(
                store.get_resource("a/b/c").await.unwrap().unwrap(),
                value(201),
                "{on}"
            );
        }
    }
}
