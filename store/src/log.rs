//! Merkle logs kept in the store (the KBS's audit log and signing transparency log).
//!
//! A log's `size` column is its durable sequence: an append advances it first, in the
//! transaction that writes the entries, their complete-subtree nodes
//! ([`warden_wire::tlog::append_nodes`]) and the batch's signed checkpoint, so the write lock it
//! takes orders appenders (across processes too), and a crash leaves either the whole batch or
//! none of it. Proofs read O(log n) stored nodes: the tree functions of `warden_wire::tlog` run
//! twice, first over a recorder that learns which nodes they read (their shape depends only on
//! indexes, never on hash values), then over exactly those nodes fetched from the store.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use sqlx::Row;
use warden_wire::tlog::{self, Hash, NodeSource, TlogError};

use crate::backend::{Conn, on_conn, on_pool};
use crate::{Store, StoreError, unix_now};

/// A log to create: its identity and its sealed checkpoint key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLog {
    /// The store's name for it (`audit`, `signing`).
    pub name: String,
    /// The checkpoint origin line.
    pub origin: String,
    /// The checkpoint key's algorithm name.
    pub algorithm: String,
    /// The checkpoint key, sealed.
    pub sealed_key: Vec<u8>,
    /// Its public half, as the KBS publishes it.
    pub public_key: Vec<u8>,
}

/// A log as stored: identity, key and current size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLog {
    /// The log's identity and key.
    pub log: NewLog,
    /// The number of entries.
    pub size: u64,
}

/// What one append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedBatch {
    /// The index of the batch's first entry.
    pub first_index: u64,
    /// The tree size after the batch.
    pub size: u64,
    /// The root at `size`.
    pub root: Hash,
    /// The signed checkpoint of `size` (C2SP signed-note text).
    pub checkpoint: String,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its index.
    pub index: u64,
    /// The leaf data.
    pub data: Vec<u8>,
    /// Its leaf hash as recorded when it was appended.
    pub leaf: Hash,
}

/// Entries one append may write: its inserts stay far below SQLite's 32766 parameters.
pub const MAX_APPEND_BATCH: usize = 2048;

fn to_db(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Log(TlogError::TreeFull))
}

fn from_db(value: i64) -> u64 {
    // Every stored index and size was written from a u64 below i64::MAX (CHECK size >= 0).
    u64::try_from(value).unwrap_or_default()
}

fn hash_from_db(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("a stored log hash of {} bytes", bytes.len())))
}

/// Answers every node with a placeholder and records which were asked for (first pass).
#[derive(Default)]
struct Recorder {
    wanted: RefCell<BTreeSet<(u8, u64)>>,
}

impl NodeSource for Recorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        self.wanted.borrow_mut().insert((level, index));
        Ok([0; 32])
    }
}

/// The nodes fetched for the second pass.
struct Fetched(HashMap<(u8, u64), Hash>);

impl NodeSource for Fetched {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(TlogError::MissingNode { level, index })
    }
}

/// Nodes appended in this batch, over the stored ones: later appends of a batch read earlier
/// ones' nodes before they are written.
struct Overlay<'a> {
    base: &'a dyn NodeSource,
    added: RefCell<HashMap<(u8, u64), Hash>>,
}

impl NodeSource for Overlay<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        if let Some(hash) = self.added.borrow().get(&(level, index)) {
            return Ok(*hash);
        }
        self.base.node(level, index)
    }
}

/// `($1, $2), ($3, $4), …` for `rows` rows of `columns` parameters each, numbered from `first`.
pub(crate) fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|row| {
            let row: Vec<String> = (0..columns)
                .map(|column| format!("${}", first + row * columns + column))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stored nodes of `log` among `wanted`, in one query (a proof or an append needs at most a
/// few dozen; per-node queries cost more than the rest of an append).
async fn fetch_nodes(
    connection: Conn<'_>,
    log: &str,
    wanted: &BTreeSet<(u8, u64)>,
) -> Result<HashMap<(u8, u64), Hash>, StoreError> {
    let mut fetched = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(fetched);
    }
    // One point search of the primary key per node, in one statement. SQLite does not plan the
    // shorter forms as such searches: `(level, idx) IN (VALUES …)` searches by `log` alone (or
    // scans), and an OR of the equalities made a proof at 10^5 entries take 70 ms.
    let statement = (0..wanted.len())
        .map(|i| {
            format!(
                "SELECT level, idx, hash FROM log_nodes WHERE log = $1 AND level = ${} AND idx = ${}",
                2 + 2 * i,
                3 + 2 * i
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    // Only placeholders are formatted into the statement; every value is bound.
    on_conn!(connection, connection => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(log);
        for (level, index) in wanted {
            query = query.bind(i64::from(*level)).bind(to_db(*index)?);
        }
        for row in query.fetch_all(&mut *connection).await? {
            let level = u8::try_from(row.get::<i64, _>(0)).unwrap_or(u8::MAX);
            let hash = hash_from_db(&row.get::<Vec<u8>, _>(2))?;
            fetched.insert((level, from_db(row.get(1))), hash);
        }
    });
    Ok(fetched)
}

/// Runs `compute` over the stored nodes of `log` it reads, fetching exactly those.
pub(crate) async fn over_stored_nodes<T>(
    connection: Conn<'_>,
    log: &str,
    compute: impl Fn(&dyn NodeSource) -> Result<T, TlogError>,
) -> Result<T, StoreError> {
    let recorder = Recorder::default();
    compute(&recorder)?;
    let fetched = fetch_nodes(connection, log, &recorder.wanted.into_inner()).await?;
    Ok(compute(&Fetched(fetched))?)
}

impl Store {
    /// Creates the log unless one of that name exists; whether it was created.
    pub async fn create_log(&self, log: &NewLog) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO transparency_logs (name, origin, algorithm, sealed_key, public_key, size, created_at)
                 VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT(name) DO NOTHING",
            )
            .bind(&log.name)
            .bind(&log.origin)
            .bind(&log.algorithm)
            .bind(&log.sealed_key)
            .bind(&log.public_key)
            .bind(unix_now())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The log `name`; `None` if there is none.
    pub async fn log(&self, name: &str) -> Result<Option<StoredLog>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT origin, algorithm, sealed_key, public_key, size FROM transparency_logs WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|row| StoredLog {
                log: NewLog {
                    name: name.to_owned(),
                    origin: row.get(0),
                    algorithm: row.get(1),
                    sealed_key: row.get(2),
                    public_key: row.get(3),
                },
                size: from_db(row.get(4)),
            }))
        })
    }

    /// The names of every log, sorted.
    pub async fn log_names(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT name FROM transparency_logs ORDER BY name")
                .fetch_all(pool)
                .await?)
        })
    }

    /// The current size of the log `name`.
    pub async fn log_size(&self, name: &str) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let size: Option<i64> =
                sqlx::query_scalar("SELECT size FROM transparency_logs WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
            size.map(from_db)
                .ok_or_else(|| StoreError::UnknownLog(name.to_owned()))
        })
    }

    /// Appends `count` entries to the log `name` in one transaction. `entry(offset, index)`
    /// writes the batch's `offset`-th entry, which gets `index` (so an entry can carry its own
    /// sequence number); `sign(size,
    /// root)` signs the checkpoint of the new tree. Returns only once the batch is committed.
    pub async fn append_log_entries(
        &self,
        name: &str,
        count: usize,
        mut entry: impl FnMut(usize, u64) -> Vec<u8>,
        sign: impl FnOnce(u64, &Hash) -> Result<String, String>,
    ) -> Result<AppendedBatch, StoreError> {
        let one_batch_of_statements = self.backend() == "sqlite";
        on_pool!(self, pool => {
            if !(1..=MAX_APPEND_BATCH).contains(&count) {
                return Err(StoreError::BatchSize(count));
            }
            let count_db = to_db(count as u64)?;
            let mut transaction = pool.begin().await?;
            // A write first: it takes the write lock, so the size read is the one this batch extends.
            let size: Option<i64> = sqlx::query_scalar(
                "UPDATE transparency_logs SET size = size + $2 WHERE name = $1 RETURNING size",
            )
            .bind(name)
            .bind(count_db)
            .fetch_optional(&mut *transaction)
            .await?;
            let new_size = from_db(size.ok_or_else(|| StoreError::UnknownLog(name.to_owned()))?);
            let first_index = new_size - count as u64;
            let entries: Vec<(Vec<u8>, Hash)> = (first_index..new_size)
                .enumerate()
                .map(|(offset, index)| {
                    let data = entry(offset, index);
                    let leaf = tlog::leaf_hash(&data);
                    (data, leaf)
                })
                .collect();
            let (nodes, root) = over_stored_nodes(Conn::from(&mut *transaction), name, |stored| {
                let overlay = Overlay {
                    base: stored,
                    added: RefCell::default(),
                };
                let mut nodes = Vec::new();
                for (offset, (_, leaf)) in entries.iter().enumerate() {
                    for node in tlog::append_nodes(first_index + offset as u64, *leaf, &overlay)? {
                        overlay
                            .added
                            .borrow_mut()
                            .insert((node.level, node.index), node.hash);
                        nodes.push(node);
                    }
                }
                let root = tlog::root(new_size, &overlay)?;
                Ok((nodes, root))
            })
            .await?;
            let checkpoint = sign(new_size, &root).map_err(StoreError::CheckpointSigning)?;
            // One statement per table: at most MAX_APPEND_BATCH entries of 3 parameters and fewer
            // than 2·MAX_APPEND_BATCH + 64 nodes of 4. On SQLite the three go as one batch of
            // statements, parameters numbered across them: one round trip to the connection's
            // thread instead of three (PostgreSQL prepares one statement at a time).
            macro_rules! bind_entries {
                ($query:expr) => {{
                    let mut query = $query;
                    for (offset, (data, _)) in entries.iter().enumerate() {
                        query = query
                            .bind(name)
                            .bind(to_db(first_index + offset as u64)?)
                            .bind(data);
                    }
                    query
                }};
            }
            macro_rules! bind_nodes {
                ($query:expr) => {{
                    let mut query = $query;
                    for node in &nodes {
                        query = query
                            .bind(name)
                            .bind(i64::from(node.level))
                            .bind(to_db(node.index)?)
                            .bind(&node.hash[..]);
                    }
                    query
                }};
            }
            macro_rules! bind_checkpoint {
                ($query:expr) => {
                    $query.bind(name).bind(to_db(new_size)?).bind(&checkpoint)
                };
            }
            let statements = |entries_from: usize, nodes_from: usize, checkpoint_from: usize| {
                [
                    format!(
                        "INSERT INTO log_entries (log, idx, data) VALUES {}",
                        placeholders(entries.len(), 3, entries_from)
                    ),
                    format!(
                        "INSERT INTO log_nodes (log, level, idx, hash) VALUES {}",
                        placeholders(nodes.len(), 4, nodes_from)
                    ),
                    format!(
                        "INSERT INTO log_checkpoints (log, size, note) VALUES {}",
                        placeholders(1, 3, checkpoint_from)
                    ),
                ]
            };
            if one_batch_of_statements {
                let nodes_from = 1 + 3 * entries.len();
                let batch = statements(1, nodes_from, nodes_from + 4 * nodes.len()).join(";\n");
                let query = sqlx::query(sqlx::AssertSqlSafe(batch));
                bind_checkpoint!(bind_nodes!(bind_entries!(query)))
                    .execute(&mut *transaction)
                    .await?;
            } else {
                let [entries_sql, nodes_sql, checkpoint_sql] = statements(1, 1, 1);
                bind_entries!(sqlx::query(sqlx::AssertSqlSafe(entries_sql)))
                    .execute(&mut *transaction)
                    .await?;
                bind_nodes!(sqlx::query(sqlx::AssertSqlSafe(nodes_sql)))
                    .execute(&mut *transaction)
                    .await?;
                bind_checkpoint!(sqlx::query(sqlx::AssertSqlSafe(checkpoint_sql)))
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            Ok(AppendedBatch {
                first_index,
                size: new_size,
                root,
                checkpoint,
            })
        })
    }

    /// Runs `compute` over the log's stored nodes. A tree beyond the log's size needs a node
    /// that does not exist yet; only then is the size read, to tell that (or an unknown log)
    /// from a node missing in a log that should hold it. One query on the common path.
    async fn read_tree<T>(
        &self,
        name: &str,
        new: u64,
        compute: impl Fn(&dyn NodeSource) -> Result<T, TlogError>,
    ) -> Result<T, StoreError> {
        on_pool!(self, pool => {
            let mut connection = pool.acquire().await?;
            match over_stored_nodes(Conn::from(&mut *connection), name, compute).await {
                Err(StoreError::Log(TlogError::MissingNode { level, index })) => {
                    let size = self.log_size(name).await?;
                    Err(if new > size {
                        TlogError::SizeOutOfRange { old: size, new }
                    } else {
                        TlogError::MissingNode { level, index }
                    }
                    .into())
                }
                other => other,
            }
        })
    }

    /// The root of the log `name` at `size` (at most its current size).
    pub async fn log_root(&self, name: &str, size: u64) -> Result<Hash, StoreError> {
        self.read_tree(name, size, |nodes| tlog::root(size, nodes))
            .await
    }

    /// The inclusion proof of entry `index` in the tree of size `size`.
    pub async fn log_inclusion_proof(
        &self,
        name: &str,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.read_tree(name, size, |nodes| {
            tlog::inclusion_proof(index, size, nodes)
        })
        .await
    }

    /// The consistency proof between the trees of sizes `old` and `new`.
    pub async fn log_consistency_proof(
        &self,
        name: &str,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.read_tree(name, new, |nodes| tlog::consistency_proof(old, new, nodes))
            .await
    }

    /// Up to `limit` entries from index `start` on, in order, with their recorded leaf hashes.
    pub async fn log_entries(
        &self,
        name: &str,
        start: u64,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.idx, e.data, n.hash FROM log_entries e
                 JOIN log_nodes n ON n.log = e.log AND n.level = 0 AND n.idx = e.idx
                 WHERE e.log = $1 AND e.idx >= $2 ORDER BY e.idx LIMIT $3",
            )
            .bind(name)
            .bind(to_db(start)?)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    Ok(LogEntry {
                        index: from_db(row.get(0)),
                        data: row.get(1),
                        leaf: hash_from_db(&row.get::<Vec<u8>, _>(2))?,
                    })
                })
                .collect()
        })
    }

    /// The index of the first entry with leaf hash `leaf`; `None` if there is none.
    pub async fn log_index_of_leaf(
        &self,
        name: &str,
        leaf: &Hash,
    ) -> Result<Option<u64>, StoreError> {
        on_pool!(self, pool => {
            let index: Option<i64> = sqlx::query_scalar(
                "SELECT min(idx) FROM log_nodes WHERE log = $1 AND level = 0 AND hash = $2",
            )
            .bind(name)
            .bind(&leaf[..])
            .fetch_one(pool)
            .await?;
            Ok(index.map(from_db))
        })
    }

    /// Up to `limit` stored checkpoints `(size, note)` with sizes in `(after, ∞)`, by size.
    pub async fn log_checkpoints(
        &self,
        name: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT size, note FROM log_checkpoints WHERE log = $1 AND size > $2 ORDER BY size LIMIT $3",
            )
            .bind(name)
            .bind(to_db(after)?)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|row| (from_db(row.get(0)), row.get(1)))
                .collect())
        })
    }

    /// The checkpoint of the largest size; `None` for an empty log.
    pub async fn latest_log_checkpoint(
        &self,
        name: &str,
    ) -> Result<Option<(u64, String)>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT size, note FROM log_checkpoints WHERE log = $1 ORDER BY size DESC LIMIT 1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|row| (from_db(row.get(0)), row.get(1))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_wire::tlog::MemoryTree;

    fn new_log(name: &str) -> NewLog {
        NewLog {
            name: name.into(),
            origin: format!("example.test/{name}"),
            algorithm: "ed25519".into(),
            sealed_key: vec![1],
            public_key: vec![2],
        }
    }

    #[tokio::test]
    async fn stored_proofs_equal_the_in_memory_tree_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        for (store, location) in crate::testing::stores(dir.path()).await {
            stored_proofs_equal_the_in_memory_tree(store, &location).await;
        }
    }

    async fn stored_proofs_equal_the_in_memory_tree(store: Store, location: &crate::StoreLocation) {
        assert!(store.create_log(&new_log("audit")).await.unwrap());
        assert!(!store.create_log(&new_log("audit")).await.unwrap());
        assert!(store.create_log(&new_log("signing")).await.unwrap());
        let mut memory = MemoryTree::new();
        let mut index = 0u64;
        // Batches of 1..=7 entries: every alignment of a batch against the subtrees.
        for batch in 1..=7usize {
            let appended = store
                .append_log_entries(
                    "audit",
                    batch,
                    |_, i| format!("{{\"index\":{i}}}").into_bytes(),
                    |size, root| Ok(format!("{size} {}", hex_of(root))),
                )
                .await
                .unwrap();
            assert_eq!(appended.first_index, index);
            for i in index..index + batch as u64 {
                memory
                    .append(format!("{{\"index\":{i}}}").as_bytes())
                    .unwrap();
            }
            index += batch as u64;
            assert_eq!(appended.size, index);
            assert_eq!(appended.root, memory.root().unwrap());
            assert_eq!(
                appended.checkpoint,
                format!("{index} {}", hex_of(&appended.root))
            );
        }
        store.close().await;
        let store = Store::open(location, &Default::default()).await.unwrap();
        let size = store.log_size("audit").await.unwrap();
        assert_eq!(size, 28);
        assert_eq!(store.log_size("signing").await.unwrap(), 0);
        for n in 1..=size {
            assert_eq!(
                store.log_root("audit", n).await.unwrap(),
                memory.root_at(n).unwrap()
            );
            for i in 0..n {
                assert_eq!(
                    store.log_inclusion_proof("audit", i, n).await.unwrap(),
                    memory.inclusion_proof(i, n).unwrap(),
                    "inclusion {i} in {n}"
                );
            }
            for old in 0..=n {
                assert_eq!(
                    store.log_consistency_proof("audit", old, n).await.unwrap(),
                    memory.consistency_proof(old, n).unwrap(),
                    "consistency {old} to {n}"
                );
            }
        }
        let entries = store.log_entries("audit", 26, 10).await.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].index, 26);
        assert_eq!(entries[0].data, b"{\"index\":26}");
        assert_eq!(entries[0].leaf, memory.leaf_hash(26).unwrap());
        let leaf = memory.leaf_hash(5).unwrap();
        assert_eq!(
            store.log_index_of_leaf("audit", &leaf).await.unwrap(),
            Some(5)
        );
        assert_eq!(
            store.log_index_of_leaf("signing", &leaf).await.unwrap(),
            None
        );
        let checkpoints = store.log_checkpoints("audit", 0, 100).await.unwrap();
        let sizes: Vec<u64> = checkpoints.iter().map(|(size, _)| *size).collect();
        assert_eq!(sizes, [1, 3, 6, 10, 15, 21, 28]);
        assert_eq!(
            store
                .latest_log_checkpoint("audit")
                .await
                .unwrap()
                .unwrap()
                .0,
            28
        );
    }

    #[tokio::test]
    async fn out_of_range_requests_and_failed_signing_are_refused_without_a_write() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _) in crate::testing::stores(dir.path()).await {
            out_of_range_requests_are_refused(store).await;
        }
    }

    async fn out_of_range_requests_are_refused(store: Store) {
        store.create_log(&new_log("audit")).await.unwrap();
        store
            .append_log_entries("audit", 3, |_, i| vec![i as u8], |_, _| Ok("cp".into()))
            .await
            .unwrap();
        for refused in [
            store.log_inclusion_proof("audit", 3, 3).await.err(),
            store.log_inclusion_proof("audit", 0, 4).await.err(),
            store.log_consistency_proof("audit", 2, 4).await.err(),
            store.log_consistency_proof("audit", 3, 2).await.err(),
            store.log_root("audit", 4).await.err(),
            store.log_root("nope", 1).await.err(),
        ] {
            let refused = refused.expect("refused");
            assert!(
                matches!(refused, StoreError::Log(_) | StoreError::UnknownLog(_)),
                "{refused}"
            );
        }
        let failed = store
            .append_log_entries(
                "audit",
                2,
                |_, i| vec![i as u8],
                |_, _| Err("no key".into()),
            )
            .await
            .expect_err("refused");
        assert!(
            matches!(failed, StoreError::CheckpointSigning(_)),
            "{failed}"
        );
        // The failed batch rolled back: the sequence did not move, no entry or node was kept.
        assert_eq!(store.log_size("audit").await.unwrap(), 3);
        assert_eq!(store.log_entries("audit", 0, 10).await.unwrap().len(), 3);
        let appended = store
            .append_log_entries("audit", 1, |_, i| vec![i as u8], |_, _| Ok("cp".into()))
            .await
            .unwrap();
        assert_eq!(appended.first_index, 3);
        assert!(
            store
                .append_log_entries("nope", 1, |_, _| vec![], |_, _| Ok(String::new()))
                .await
                .is_err()
        );
        for count in [0, MAX_APPEND_BATCH + 1] {
            let refused = store
                .append_log_entries("audit", count, |_, _| vec![], |_, _| Ok(String::new()))
                .await
                .expect_err("refused");
            assert!(
                matches!(refused, StoreError::BatchSize(n) if n == count),
                "{refused}"
            );
        }
        // The largest batch fits SQLite's parameter limit.
        let appended = store
            .append_log_entries(
                "audit",
                MAX_APPEND_BATCH,
                |_, i| i.to_be_bytes().to_vec(),
                |_, _| Ok("cp".into()),
            )
            .await
            .unwrap();
        assert_eq!(appended.size, 4 + MAX_APPEND_BATCH as u64);
    }

    fn hex_of(hash: &Hash) -> String {
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}
