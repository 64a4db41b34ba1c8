//! Copying a whole store into an empty one, on either backend (`warden-kbs migrate`: SQLite to
//! PostgreSQL, or back). Rows are copied as stored: a sealed value is bound to its logical name
//! (a resource's path, a key's role and name), never to a row or a database, so it stays valid
//! under the same master key.
//!
//! The source is read inside one read transaction (one snapshot), a page at a time in
//! primary-key order; the target is written in one transaction, which is checked before it
//! commits — every table's row count, and every log's root recomputed from the copied nodes —
//! so a copy that fails anything leaves the target as it was. Attested sessions and
//! once-per-key marks (`kbs_sessions`, `certified_keys`) are not copied: they live minutes, and
//! agents attest again.

use sqlx::Row;
use warden_wire::tlog::{self, Hash};

use crate::backend::{Conn, Pool, on_conn};
use crate::log::{over_stored_nodes, placeholders};
use crate::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, Store, StoreError};

/// The tables [`Store::copy_into`] leaves out: per-session state that expires within the
/// ticket and token lifetimes.
pub const NOT_COPIED: &[&str] = &["kbs_sessions", "certified_keys"];

/// What [`Store::copy_into`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Rows per table, in the order copied.
    pub tables: Vec<(&'static str, u64)>,
    /// The store generation carried over (`store_generation`).
    pub generation: i64,
    /// Each log's size and root, the same in the source and the copy.
    pub logs: Vec<CopiedLog>,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }

    /// Rows copied of `table`.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, rows)| *rows)
    }
}

/// A Merkle log as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedLog {
    /// The log's name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its root at that size, recomputed from the source's nodes and from the copy's.
    pub root: Hash,
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bytes,
}

/// One durable table: its columns, the primary key's first (as the schema declares them).
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// How many leading columns make the primary key.
    key: usize,
    /// Rows read, and inserted by one statement, at a time.
    page: usize,
}

/// Parameters one multi-row INSERT binds at most: well under SQLite's 32766 and PostgreSQL's
/// 65535.
const PARAMETERS: usize = 8192;

/// Rows per page of tables whose values are the callers' (a resource is up to 1 MiB, a policy
/// up to 64 KiB): a page stays under 64 MiB of memory. Such tables are small.
const LARGE_VALUES_PAGE: usize = 64;

use Kind::{Bytes, Int, Text};

/// Every durable table, in schema order. A table added by a migration must be added here or to
/// [`NOT_COPIED`] (a test compares both with the schema).
const TABLES: &[Table] = &[
    Table {
        name: "resources",
        columns: &[("path", Text), ("sealed", Bytes), ("updated_at", Int)],
        key: 1,
        page: LARGE_VALUES_PAGE,
    },
    Table {
        name: "policies",
        columns: &[
            ("kind", Text),
            ("name", Text),
            ("source", Text),
            ("updated_at", Int),
        ],
        key: 2,
        page: LARGE_VALUES_PAGE,
    },
    Table {
        name: "reference_values",
        columns: &[
            ("name", Text),
            ("value", Text),
            ("updated_at", Int),
            ("source", Text),
            ("set_by", Text),
            ("provenance_sha256", Text),
            ("expires_at", Int),
            ("version", Int),
        ],
        key: 1,
        page: LARGE_VALUES_PAGE,
    },
    Table {
        name: "registered_aks",
        columns: &[
            ("name", Text),
            ("public", Bytes),
            ("registered_at", Int),
            ("registered_by", Text),
        ],
        key: 1,
        page: PARAMETERS / 4,
    },
    Table {
        name: "revoked_aks",
        columns: &[("name", Text), ("revoked_at", Int), ("revoked_by", Text)],
        key: 1,
        page: PARAMETERS / 3,
    },
    Table {
        name: "revoked_admin_tokens",
        columns: &[
            ("jti", Text),
            ("revoked_at", Int),
            ("revoked_by", Text),
            ("purge_after", Int),
        ],
        key: 1,
        page: PARAMETERS / 4,
    },
    Table {
        name: "signing_keys",
        columns: &[
            ("role", Text),
            ("name", Text),
            ("algorithm", Text),
            ("sealed", Bytes),
            ("spki", Bytes),
            ("certificate", Bytes),
            ("created_at", Int),
            ("created_by", Text),
        ],
        key: 2,
        page: PARAMETERS / 8,
    },
    Table {
        name: "issued_certificates",
        columns: &[
            ("serial", Text),
            ("kind", Text),
            ("identity", Text),
            ("spki_sha256", Text),
            ("ear_jti", Text),
            ("not_before", Int),
            ("not_after", Int),
        ],
        key: 1,
        page: PARAMETERS / 7,
    },
    Table {
        name: "transparency_logs",
        columns: &[
            ("name", Text),
            ("origin", Text),
            ("algorithm", Text),
            ("sealed_key", Bytes),
            ("public_key", Bytes),
            ("size", Int),
            ("created_at", Int),
        ],
        key: 1,
        page: PARAMETERS / 7,
    },
    Table {
        name: "log_entries",
        columns: &[("log", Text), ("idx", Int), ("data", Bytes)],
        key: 2,
        page: PARAMETERS / 3,
    },
    Table {
        name: "log_nodes",
        columns: &[("log", Text), ("level", Int), ("idx", Int), ("hash", Bytes)],
        key: 3,
        page: PARAMETERS / 4,
    },
    Table {
        name: "log_checkpoints",
        columns: &[("log", Text), ("size", Int), ("note", Text)],
        key: 2,
        page: PARAMETERS / 3,
    },
    Table {
        name: "service_keys",
        columns: &[("name", Text), ("sealed", Bytes), ("created_at", Int)],
        key: 1,
        page: PARAMETERS / 3,
    },
];

/// One stored value, as either backend reads and binds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Binds a [`Value`] to a query of either backend.
macro_rules! bind_value {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Int(value) => $query.bind(*value),
            Value::Text(value) => $query.bind(value.as_deref()),
            Value::Bytes(value) => $query.bind(value.as_deref()),
        }
    };
}

/// A transaction of either backend, held across the copy's statements.
enum Transaction {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Transaction {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(transaction) => Conn::Sqlite(transaction),
            Self::Postgres(transaction) => Conn::Postgres(transaction),
        }
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(transaction) => transaction.commit().await?,
            Self::Postgres(transaction) => transaction.commit().await?,
        }
        Ok(())
    }

    async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(transaction) => transaction.rollback().await?,
            Self::Postgres(transaction) => transaction.rollback().await?,
        }
        Ok(())
    }
}

fn names(columns: &[(&str, Kind)]) -> String {
    columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Up to `table.page` rows of `table` after the key `after` (from the start if `None`), in
/// primary-key order. Paging by key keeps every statement short, which PostgreSQL's
/// `statement_timeout` requires of a long copy; the snapshot makes the pages one table.
async fn read_page(
    connection: Conn<'_>,
    table: &Table,
    after: Option<&[Value]>,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let key = names(&table.columns[..table.key]);
    let mut statement = format!("SELECT {} FROM {}", names(table.columns), table.name);
    if after.is_some() {
        let parameters: Vec<String> = (1..=table.key).map(|i| format!("${i}")).collect();
        statement.push_str(&format!(" WHERE ({key}) > ({})", parameters.join(", ")));
    }
    statement.push_str(&format!(" ORDER BY {key} LIMIT {}", table.page));
    // Only names from `TABLES` and placeholders are formatted in; every value is bound.
    on_conn!(connection, connection => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
        for value in after.unwrap_or_default() {
            query = bind_value!(query, value);
        }
        let rows = query.fetch_all(&mut *connection).await?;
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                values.push(match kind {
                    Int => Value::Int(row.try_get(i)?),
                    Text => Value::Text(row.try_get(i)?),
                    Bytes => Value::Bytes(row.try_get(i)?),
                });
            }
            page.push(values);
        }
        Ok(page)
    })
}

/// Inserts `rows` into `table` in one statement (a page binds at most [`PARAMETERS`]).
async fn insert_rows(
    connection: Conn<'_>,
    table: &Table,
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    let statement = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        names(table.columns),
        placeholders(rows.len(), table.columns.len(), 1)
    );
    on_conn!(connection, connection => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
        for value in rows.iter().flatten() {
            query = bind_value!(query, value);
        }
        query.execute(&mut *connection).await?;
    });
    Ok(())
}

async fn count(connection: Conn<'_>, table: &str) -> Result<u64, StoreError> {
    let statement = format!("SELECT count(*) FROM {table}");
    let rows: i64 = on_conn!(connection, connection => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(statement))
            .fetch_one(&mut *connection)
            .await?
    });
    Ok(u64::try_from(rows).unwrap_or_default())
}

async fn generation(connection: Conn<'_>) -> Result<i64, StoreError> {
    Ok(on_conn!(connection, connection => {
        sqlx::query_scalar("SELECT generation FROM store_generation WHERE id = 1")
            .fetch_one(&mut *connection)
            .await?
    }))
}

async fn set_generation(connection: Conn<'_>, generation: i64) -> Result<(), StoreError> {
    on_conn!(connection, connection => {
        sqlx::query("UPDATE store_generation SET generation = $1 WHERE id = 1")
            .bind(generation)
            .execute(&mut *connection)
            .await?;
    });
    Ok(())
}

/// Every log's name and size.
async fn log_sizes(connection: Conn<'_>) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(on_conn!(connection, connection => {
        sqlx::query_as("SELECT name, size FROM transparency_logs ORDER BY name")
            .fetch_all(&mut *connection)
            .await?
    }))
}

/// The store's schema version and this build's latest for its backend.
async fn schema_versions(connection: Conn<'_>) -> Result<(i64, i64), StoreError> {
    Ok(match connection {
        Conn::Sqlite(connection) => (
            sqlx::query_scalar("PRAGMA user_version")
                .fetch_one(&mut *connection)
                .await?,
            SQLITE_MIGRATIONS.len() as i64,
        ),
        Conn::Postgres(connection) => (
            sqlx::query_scalar("SELECT version FROM schema_version WHERE id = 1")
                .fetch_one(&mut *connection)
                .await?,
            POSTGRES_MIGRATIONS.len() as i64,
        ),
    })
}

impl Store {
    /// A read-only transaction over one snapshot of the whole store.
    async fn begin_snapshot(&self) -> Result<Transaction, StoreError> {
        self.bounded(async {
            Ok(match &self.pool {
                // WAL: the snapshot is taken at the first read and held to the end.
                Pool::Sqlite(pool) => Transaction::Sqlite(pool.begin().await?),
                // READ COMMITTED would take a new snapshot per statement.
                Pool::Postgres(pool) => Transaction::Postgres(
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        .await?,
                ),
            })
        })
        .await
    }

    /// A write transaction; on SQLite it takes the write lock at once, so the emptiness check
    /// and the inserts see no other writer between them.
    async fn begin_write(&self) -> Result<Transaction, StoreError> {
        self.bounded(async {
            Ok(match &self.pool {
                Pool::Sqlite(pool) => {
                    Transaction::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
                }
                Pool::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
            })
        })
        .await
    }

    /// Copies every durable table of this store into `target`, which must hold none of their
    /// rows ([`StoreError::CopyRefused`] otherwise, nothing written), and carries the store
    /// generation over; see the module documentation. Both stores must be at this build's
    /// schema (opening a store brings it there). The target commits only after its row counts
    /// and log roots equal the source's ([`StoreError::CopyMismatch`] otherwise).
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport, StoreError> {
        let mut source = self.begin_snapshot().await?;
        let mut writing = target.begin_write().await?;
        let copied = self.copy_tables(&mut source, target, &mut writing).await;
        // The snapshot wrote nothing; ending it only frees the connection.
        let _ = source.rollback().await;
        match copied {
            Ok(report) => {
                target.bounded(writing.commit()).await?;
                Ok(report)
            }
            Err(error) => {
                let _ = writing.rollback().await;
                Err(error)
            }
        }
    }

    async fn copy_tables(
        &self,
        source: &mut Transaction,
        target: &Store,
        writing: &mut Transaction,
    ) -> Result<CopyReport, StoreError> {
        for (side, store, transaction) in [
            ("source", self, &mut *source),
            ("target", target, &mut *writing),
        ] {
            let (found, latest) = store.bounded(schema_versions(transaction.conn())).await?;
            if found != latest {
                return Err(StoreError::CopyRefused(format!(
                    "the {side} store's schema is version {found}, not this build's {latest}: open it with this build first"
                )));
            }
        }
        for table in TABLES {
            let rows = target.bounded(count(writing.conn(), table.name)).await?;
            if rows > 0 {
                return Err(StoreError::CopyRefused(format!(
                    "the target store is not empty: {} holds {rows} rows",
                    table.name
                )));
            }
        }
        let mut tables = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let expected = self.bounded(count(source.conn(), table.name)).await?;
            let mut read = 0u64;
            let mut after: Option<Vec<Value>> = None;
            loop {
                let page = self
                    .bounded(read_page(source.conn(), table, after.as_deref()))
                    .await?;
                let Some(last) = page.last() else { break };
                target
                    .bounded(insert_rows(writing.conn(), table, &page))
                    .await?;
                read += page.len() as u64;
                if page.len() < table.page {
                    break;
                }
                after = Some(last[..table.key].to_vec());
            }
            let written = target.bounded(count(writing.conn(), table.name)).await?;
            if read != expected || written != expected {
                return Err(StoreError::CopyMismatch(format!(
                    "{}: {expected} rows in the source, {read} read, {written} in the target",
                    table.name
                )));
            }
            tables.push((table.name, expected));
        }
        let generation = self.bounded(generation(source.conn())).await?;
        target
            .bounded(set_generation(writing.conn(), generation))
            .await?;
        let stored_logs = self.bounded(log_sizes(source.conn())).await?;
        let mut logs = Vec::with_capacity(stored_logs.len());
        for (name, size) in stored_logs {
            let size = u64::try_from(size).unwrap_or_default();
            let root = |nodes: &dyn tlog::NodeSource| tlog::root(size, nodes);
            let expected = self
                .bounded(over_stored_nodes(source.conn(), &name, root))
                .await?;
            let copied = target
                .bounded(over_stored_nodes(writing.conn(), &name, root))
                .await?;
            if copied != expected {
                return Err(StoreError::CopyMismatch(format!(
                    "the {name} log's root at size {size} differs in the copy"
                )));
            }
            logs.push(CopiedLog {
                name,
                size,
                root: expected,
            });
        }
        Ok(CopyReport {
            tables,
            generation,
            logs,
        })
    }
}

#[cfg(test)]
mod tests;
