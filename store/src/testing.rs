//! Test support: stores on both backends, so one test body runs on each (the test matrix).
//! PostgreSQL is used when `WARDEN_TEST_POSTGRES` names a server (`scripts/postgres.sh`
//! starts one and prints its URL); every call gets a database of its own on it.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::{Store, StoreError, StoreLocation, StoreOptions};

/// The environment variable naming the test PostgreSQL server.
pub const POSTGRES_ENV: &str = "WARDEN_TEST_POSTGRES";

/// The environment variable choosing the backend of suites that run on one backend at a time
/// (the KBS and verifier-service suites): `postgres` puts each test's store in a fresh
/// database of the server named by [`POSTGRES_ENV`]; anything else, or unset, in SQLite.
pub const BACKEND_ENV: &str = "WARDEN_TEST_STORE";

/// Whether this run's suites keep their stores in PostgreSQL ([`BACKEND_ENV`]).
pub fn on_postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|backend| backend == "postgres")
}

/// A fresh database for one test's store when the run is on PostgreSQL ([`BACKEND_ENV`]);
/// `None` when it is on SQLite (the test then uses its SQLite file).
pub async fn suite_database() -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let server = postgres_url().unwrap_or_else(|| {
        panic!("{BACKEND_ENV}=postgres needs {POSTGRES_ENV}: run scripts/test.sh")
    });
    Some(
        fresh_postgres_database(&server)
            .await
            .unwrap_or_else(|e| panic!("a test database: {e}")),
    )
}

/// The store a test would keep in the SQLite file `path`: that file, or, when the run is on
/// PostgreSQL, a database of its own for `path` (the same one each time this process asks
/// again, so a test can reopen its store).
pub async fn open_store(path: &std::path::Path) -> Result<Store, StoreError> {
    if !on_postgres() {
        return Store::open_sqlite(path).await;
    }
    let known = DATABASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
        .cloned();
    let url = match known {
        Some(url) => url,
        None => {
            let Some(url) = suite_database().await else {
                unreachable!("on PostgreSQL, checked above")
            };
            DATABASES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path.to_path_buf(), url.clone());
            url
        }
    };
    Store::open_postgres(&url, &StoreOptions::default()).await
}

static DATABASES: std::sync::Mutex<std::collections::BTreeMap<std::path::PathBuf, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The test server's URL, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Creates a new, empty database on the server at `server_url` (whose role may create
/// databases) and returns the URL of it.
pub async fn fresh_postgres_database(server_url: &str) -> Result<String, StoreError> {
    let options = PgConnectOptions::from_str(server_url)?;
    let mut connection = options.connect().await?;
    let name = format!(
        "warden_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let name = format!("{name}_{:08x}", rand_suffix());
    // A name this function made from digits and letters: nothing to quote.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await?;
    let mut url = server_url.to_owned();
    let path_start = url
        .find("://")
        .and_then(|scheme| url[scheme + 3..].find('/').map(|p| scheme + 3 + p))
        .unwrap_or(url.len());
    let query = url[path_start..].find('?').map(|q| path_start + q);
    let tail = query.map(|q| url[q..].to_owned()).unwrap_or_default();
    url.truncate(path_start);
    Ok(format!("{url}/{name}{tail}"))
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    // Distinct across processes that reuse a pid on one server.
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

/// One store per backend available, with where it is (to open it again): an SQLite file in
/// `dir`, and a fresh PostgreSQL database when [`POSTGRES_ENV`] is set.
pub async fn stores(dir: &std::path::Path) -> Vec<(Store, StoreLocation)> {
    let mut locations = vec![StoreLocation::Sqlite(dir.join("matrix.db"))];
    if let Some(server) = postgres_url() {
        let url = fresh_postgres_database(&server)
            .await
            .unwrap_or_else(|e| panic!("postgres database: {e}"));
        locations.push(StoreLocation::Postgres(url));
    } else {
        eprintln!("{POSTGRES_ENV} is not set: this test ran on SQLite only");
    }
    let mut stores = Vec::new();
    for location in locations {
        let store = Store::open(&location, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", location.display()));
        stores.push((store, location));
    }
    stores
}

/// Runs one SQL statement on `store` as is (tests that break a store under a running server,
/// e.g. renaming a table so every write of it fails).
pub async fn execute(store: &Store, statement: &str) -> Result<(), StoreError> {
    let statement = sqlx::AssertSqlSafe(statement.to_owned());
    match &store.pool {
        crate::backend::Pool::Sqlite(pool) => {
            sqlx::query(statement).execute(pool).await?;
        }
        crate::backend::Pool::Postgres(pool) => {
            sqlx::query(statement).execute(pool).await?;
        }
    }
    Ok(())
}

/// The database name in a PostgreSQL URL.
pub fn database_name(url: &str) -> Option<String> {
    PgConnectOptions::from_str(url)
        .ok()?
        .get_database()
        .map(str::to_owned)
}

/// Replaces the database `target` with a copy of `source` (both named on the server at
/// `server_url`; neither may have connections): `target` is dropped first if `replace`.
/// A store's backup and restore, for tests of what a restored backup can and cannot hide.
pub async fn copy_database(
    server_url: &str,
    source: &str,
    target: &str,
    replace: bool,
) -> Result<(), StoreError> {
    let mut connection = PgConnectOptions::from_str(server_url)?.connect().await?;
    for name in [source, target] {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Url(format!(
                "{name:?} is not a test database name"
            )));
        }
    }
    if replace {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {target}"
        )))
        .execute(&mut connection)
        .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {target} TEMPLATE {source}"
    )))
    .execute(&mut connection)
    .await?;
    Ok(())
}

/// The object id of the database of the PostgreSQL store at `url` (its files are under the
/// server's `base/<oid>`).
pub async fn database_oid(store: &Store, url: &str) -> Result<i64, StoreError> {
    let name = database_name(url).ok_or_else(|| StoreError::Url("no database name".into()))?;
    match &store.pool {
        crate::backend::Pool::Postgres(pool) => Ok(sqlx::query_scalar(
            "SELECT oid::bigint FROM pg_database WHERE datname = $1",
        )
        .bind(name)
        .fetch_one(pool)
        .await?),
        crate::backend::Pool::Sqlite(_) => Err(StoreError::Url("not a PostgreSQL store".into())),
    }
}

/// Runs `CHECKPOINT` on the test server whose data directory is `data` (as its superuser,
/// over the Unix socket `scripts/postgres.sh` puts beside it), so that every committed row is
/// written to the database files.
pub async fn checkpoint(data: &std::path::Path) -> Result<(), StoreError> {
    let cluster = data.parent().unwrap_or(data);
    let port: u16 = std::fs::read_to_string(cluster.join("port"))
        .ok()
        .and_then(|port| port.trim().parse().ok())
        .ok_or_else(|| StoreError::Url(format!("no port file in {}", cluster.display())))?;
    // The superuser is the OS user that owns the cluster (initdb names it so).
    let owner = std::process::Command::new("stat")
        .args(["-c", "%U"])
        .arg(data)
        .output()
        .map_err(|source| StoreError::File {
            path: data.display().to_string(),
            source,
        })?;
    let owner = String::from_utf8_lossy(&owner.stdout).trim().to_owned();
    let mut connection = PgConnectOptions::new()
        .socket(cluster.join("run"))
        .port(port)
        .username(&owner)
        .database("postgres")
        .connect()
        .await?;
    sqlx::query("CHECKPOINT").execute(&mut connection).await?;
    Ok(())
}
