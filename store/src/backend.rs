//! The two databases a store can live in — an SQLite file (the default) or a PostgreSQL
//! server (replicas) — behind one set of SQL texts. Statements use `$N` placeholders, which
//! both drivers bind positionally, and only syntax both engines accept; the schema differs
//! only in type names (`BIGINT`/`BYTEA` on PostgreSQL), as two migration lists of one length.
//!
//! [`on_pool!`] expands a method body once per backend, so binds and row decoding are written
//! once and type-checked against each driver.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::StoreError;

/// A connection pool of one of the two backends.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection (or an open transaction's connection) of one of the two backends, for helpers
/// that run inside a caller's transaction.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl<'a> From<&'a mut SqliteConnection> for Conn<'a> {
    fn from(connection: &'a mut SqliteConnection) -> Self {
        Conn::Sqlite(connection)
    }
}

impl<'a> From<&'a mut PgConnection> for Conn<'a> {
    fn from(connection: &'a mut PgConnection) -> Self {
        Conn::Postgres(connection)
    }
}

/// Runs `$body` with `$pool` bound to the store's pool (`&SqlitePool` or `&PgPool`), within
/// the store's deadline. `$body` evaluates to `Result<_, StoreError>`.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        let store: &$crate::Store = $store;
        match &store.pool {
            $crate::backend::Pool::Sqlite($pool) => store.bounded(async { $body }).await,
            $crate::backend::Pool::Postgres($pool) => store.bounded(async { $body }).await,
        }
    }};
}

/// Runs `$body` with `$connection` bound to the concrete connection inside a [`Conn`].
macro_rules! on_conn {
    ($conn:expr, $connection:ident => $body:expr) => {
        match $conn {
            $crate::backend::Conn::Sqlite($connection) => $body,
            $crate::backend::Conn::Postgres($connection) => $body,
        }
    };
}

/// Bumps the store's generation and commits `$transaction`: how every write to a table that
/// replicas hold in memory ends (see [`crate::Store::generation`]).
macro_rules! commit_bumping_generation {
    ($transaction:ident) => {{
        sqlx::query($crate::BUMP_GENERATION)
            .execute(&mut *$transaction)
            .await?;
        $transaction.commit().await?;
    }};
}

pub(crate) use {commit_bumping_generation, on_conn, on_pool};

/// Where a store lives, from `[store] url` (or the older `[store] sqlite` path). Its `Debug`
/// form, like [`StoreLocation::display`], never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database, by URL (`postgres://user:password@host:port/db?sslmode=…`).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({})", self.display())
    }
}

impl StoreLocation {
    /// Reads `sqlite:PATH`, `sqlite://PATH` or `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Url(
                    "sqlite: needs a file path (e.g. sqlite:data/warden.db)".into(),
                ));
            }
            return Ok(Self::Sqlite(path.into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(format!("{}: {e}", redact(url))))?;
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(StoreError::Url(format!(
            "{}: a store URL starts with sqlite: or postgres://",
            redact(url)
        )))
    }

    /// The location for messages and logs: never a password.
    pub fn display(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => redact(url),
        }
    }
}

/// `url` with any password replaced by `***` (for messages: a URL in an error must not leak
/// the database password into logs).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Limits of a store's connections.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a connection (or for connecting) before the store is
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// The longest one store operation may take, client side; on PostgreSQL also the server's
    /// `statement_timeout` and `lock_timeout`.
    pub operation_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) async fn connect_sqlite(path: &std::path::Path) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(StoreError::from)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    // SQLite has one writer at a time: more connections only queue on its lock.
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        // A connection to a local file cannot have been dropped by a peer: the default ping on
        // every acquire was one more round trip to the connection's thread per operation (six
        // per KBS round), each a thread wake-up (issue 20).
        .test_before_acquire(false)
        .connect_with(options)
        .await?)
}

pub(crate) async fn connect_postgres(
    url: &str,
    options: &StoreOptions,
) -> Result<PgPool, StoreError> {
    let timeout = format!("{}ms", options.operation_timeout.as_millis());
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Url(format!("{}: {e}", redact(url))))?
        // Server-side bounds, so a statement or a lock wait never outlives the client's
        // deadline, and a client that vanished mid-transaction does not hold row locks.
        .options([
            ("statement_timeout", timeout.as_str()),
            ("lock_timeout", timeout.as_str()),
            ("idle_in_transaction_session_timeout", "10s"),
        ]);
    let failed = |reason: String| StoreError::Connect {
        url: redact(url),
        reason,
    };
    // One direct connection first: the pool, failing, only says it timed out, while this
    // says why (refused, unknown host, password rejected, no such database).
    let limit = options.acquire_timeout.max(Duration::from_secs(5));
    match tokio::time::timeout(limit, {
        use sqlx::ConnectOptions;
        connect.connect()
    })
    .await
    {
        Ok(Ok(connection)) => {
            use sqlx::Connection;
            let _ = connection.close().await;
        }
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(_) => return Err(failed(format!("no answer within {} s", limit.as_secs()))),
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| failed(e.to_string()))
}

/// Whether `error` means the database could not be reached or could not answer now (so the
/// request may succeed if retried), rather than that the request itself was wrong.
pub(crate) fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(e) => {
            let code = e.code().unwrap_or_default();
            if code.len() == 5 {
                // PostgreSQL SQLSTATE: connection exceptions, shutdown / recovery, too many
                // connections, serialization failures and deadlocks, lock and statement timeouts.
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01"
                            | "57P02"
                            | "57P03"
                            | "53300"
                            | "40001"
                            | "40P01"
                            | "55P03"
                            | "57014"
                    )
            } else {
                // SQLite's (extended) result code: SQLITE_BUSY (5) or SQLITE_LOCKED (6).
                code.parse::<i64>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_passwords_never_shown() {
        assert_eq!(
            StoreLocation::parse("sqlite:data/w.db").unwrap(),
            StoreLocation::Sqlite("data/w.db".into())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:///abs/w.db").unwrap(),
            StoreLocation::Sqlite("/abs/w.db".into())
        );
        let pg = StoreLocation::parse("postgres://warden:s3cret@db:5432/warden").unwrap();
        assert_eq!(pg.display(), "postgres://warden:***@db:5432/warden");
        assert!(!format!("{pg:?}").contains("s3cret"));
        for bad in [
            "mysql://x",
            "sqlite:",
            "",
            "postgres://warden:s3cret@db:notaport/x",
        ] {
            let error = StoreLocation::parse(bad).expect_err(bad).to_string();
            assert!(!error.contains("s3cret"), "{error}");
        }
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            redact("postgresql://u:p@w@h/d?x=y"),
            "postgresql://u:***@h/d?x=y"
        );
    }
}
