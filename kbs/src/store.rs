//! Durable state: sealed resources, policies and reference values in an SQLite file.
//!
//! Writes are acknowledged only after SQLite commits them with `synchronous = FULL` in WAL mode,
//! so an acknowledged write survives a crash of the process or the machine. Values are stored
//! sealed (see `sealing`); this module never sees a plaintext secret.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// Kinds of policy kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Appraisal,
    Release,
}

impl PolicyKind {
    fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Appraisal => "appraisal",
            PolicyKind::Release => "release",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS resources (path TEXT PRIMARY KEY, sealed BLOB NOT NULL, updated_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS policies (kind TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (kind, name))",
    "CREATE TABLE IF NOT EXISTS reference_values (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)",
];

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Store {
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::File {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        for statement in SCHEMA.iter().copied() {
            sqlx::query(statement).execute(&pool).await?;
        }
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
        Ok(Self { pool })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn put_resource(&self, path: &str, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO resources (path, sealed, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(path) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(path)
        .bind(sealed)
        .bind(unix_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_resource(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM resources WHERE path = ?1")
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.get::<Vec<u8>, _>(0)))
    }

    pub async fn delete_resource(&self, path: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM resources WHERE path = ?1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT path FROM resources ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| row.get::<String, _>(0))
            .collect())
    }

    pub async fn put_policy(
        &self,
        kind: PolicyKind,
        name: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO policies (kind, name, source, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(kind, name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(source)
        .bind(unix_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_policy(&self, kind: PolicyKind, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM policies WHERE kind = ?1 AND name = ?2")
            .bind(kind.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn policies(&self, kind: PolicyKind) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, source FROM policies WHERE kind = ?1 ORDER BY name")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    pub async fn put_reference_value(
        &self,
        name: &str,
        value_json: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reference_values (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value_json)
        .bind(unix_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_reference_value(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM reference_values WHERE name = ?1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn reference_values(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, value FROM reference_values ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    pub async fn close(&self) {
        self.pool.close().await;
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
        store.put_reference_value("sample", "{}").await.unwrap();
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
        assert_eq!(store.reference_values().await.unwrap()[0].0, "sample");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
