//! Test support: stores on both backends, so one test body runs on each (the test matrix).
//! PostgreSQL is used when `WARDEN_TEST_POSTGRES` names a server (`scripts/postgres.sh`
//! starts one and prints its URL); every call gets a database of its own on it.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::{Store, StoreError, StoreLocation, StoreOptions};

/// The environment variable naming the test PostgreSQL server.
pub const POSTGRES_ENV: &str = "WARDEN_TEST_POSTGRES";

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
