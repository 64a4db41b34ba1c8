//! The KBS's two Merkle logs (the audit log and the signing transparency log): one
//! [`MerkleLog`] each, kept in the store, with an Ed25519 checkpoint key sealed under the
//! master key.
//!
//! Appends are group-committed: callers queue an entry and wait; one task per log takes every
//! queued entry (up to [`MAX_BATCH`]) into one store transaction, so one `fsync` acknowledges
//! many entries under load, and each caller returns only after its entry is durable. An entry
//! that cannot be written is an error to its caller, which then refuses the operation it was
//! logging (fail closed).

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::error;
use warden_store::{NewLog, Store, StoreError};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use warden_wire::tlog::{Checkpoint, ExportWriter, Hash, NoteSigner, NoteVerifier, SignedNote};

use crate::sealing::Sealer;

/// Entries per group commit at most: bounds a transaction's size and a batch's latency.
pub const MAX_BATCH: usize = 512;
const _: () = assert!(MAX_BATCH <= warden_store::MAX_APPEND_BATCH);

/// Appends waiting for the log task at most; beyond it callers wait for room (backpressure).
const QUEUE: usize = 4096;

/// Why a log could not be opened or an entry not written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoint key does not unseal or parse.
    #[error("the {0} log's checkpoint key does not unseal with this master key")]
    Key(String),
    /// The log task has stopped (the KBS is shutting down).
    #[error("the {0} log is not accepting entries")]
    Closed(String),
    /// The batch holding the entry was not committed; nothing of it was written.
    #[error("the {log} log could not durably write the entry: {reason}")]
    NotWritten {
        /// The log.
        log: String,
        /// Why.
        reason: String,
    },
}

/// What an append wrote: the entry's index and the tree it first appears in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The entry's index.
    pub index: u64,
    /// The tree size of the batch's checkpoint (the entry is below it).
    pub size: u64,
    /// The root at `size`.
    pub root: Hash,
    /// The signed checkpoint of `size` (note text).
    pub checkpoint: String,
}

/// An entry as queued.
enum Entry {
    /// A JSON object the log numbers (adds its `index` to) when it sequences it.
    Numbered(Map<String, Value>),
    /// Exact bytes (a Rekor entry body).
    Raw(Vec<u8>),
}

impl Entry {
    fn bytes(&self, index: u64) -> Vec<u8> {
        match self {
            Entry::Numbered(entry) => {
                let mut entry = entry.clone();
                entry.insert("index".into(), Value::from(index));
                // Members in sorted order: serde_json's map.
                serde_json::to_vec(&entry).unwrap_or_default()
            }
            Entry::Raw(bytes) => bytes.clone(),
        }
    }
}

struct Pending {
    entry: Entry,
    reply: oneshot::Sender<Result<Appended, String>>,
}

/// One Merkle log: its identity, checkpoint signer and append queue.
pub struct MerkleLog {
    name: String,
    origin: String,
    signer: Arc<NoteSigner>,
    store: Store,
    queue: mpsc::Sender<Pending>,
}

/// The AAD a log key is sealed under (no resource path contains `:`).
fn sealing_context(name: &str) -> String {
    format!("log-key:{name}")
}

/// Creates the log `name` with a fresh Ed25519 checkpoint key and `origin` unless the store
/// has it (an existing log keeps its origin and key), and returns its checkpoint signer.
pub async fn ensure_log(
    store: &Store,
    sealer: &Sealer,
    name: &str,
    origin: &str,
) -> Result<NoteSigner, LogError> {
    if store.log(name).await?.is_none() {
        let key = SigningKeyPair::generate(KeyAlgorithm::Ed25519)
            .map_err(|_| LogError::Key(name.to_owned()))?;
        store
            .create_log(&NewLog {
                name: name.to_owned(),
                origin: origin.to_owned(),
                algorithm: KeyAlgorithm::Ed25519.name().to_owned(),
                sealed_key: sealer.seal(&sealing_context(name), key.pkcs8_der()),
                public_key: key.public_key_bits().to_vec(),
            })
            .await?;
    }
    open_log_signer(store, sealer, name).await
}

/// The checkpoint signer of the stored log `name`: its key unsealed, named by its origin.
pub async fn open_log_signer(
    store: &Store,
    sealer: &Sealer,
    name: &str,
) -> Result<NoteSigner, LogError> {
    let stored = store
        .log(name)
        .await?
        .ok_or_else(|| StoreError::UnknownLog(name.to_owned()))?;
    let pkcs8 = sealer
        .unseal(&sealing_context(name), &stored.log.sealed_key)
        .map_err(|_| LogError::Key(name.to_owned()))?;
    let key = SigningKeyPair::from_pkcs8(KeyAlgorithm::Ed25519, &pkcs8)
        .map_err(|_| LogError::Key(name.to_owned()))?;
    // The key is named by the origin, as C2SP logs (and Rekor v2) do.
    NoteSigner::new(&stored.log.origin, key).map_err(|_| LogError::Key(name.to_owned()))
}

/// The DER SubjectPublicKeyInfo of a raw Ed25519 public key (RFC 8410).
pub fn ed25519_spki(public_key: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    [&PREFIX[..], public_key].concat()
}

impl MerkleLog {
    /// Opens the log `name` ([`ensure_log`]) and starts its append task. Must run inside a
    /// Tokio runtime.
    pub async fn open(
        store: &Store,
        sealer: &Sealer,
        name: &str,
        origin: &str,
    ) -> Result<Self, LogError> {
        let signer = Arc::new(ensure_log(store, sealer, name, origin).await?);
        let origin = signer.name().to_owned();
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(append_task(
            store.clone(),
            name.to_owned(),
            origin.clone(),
            signer.clone(),
            receiver,
        ));
        Ok(Self {
            name: name.to_owned(),
            origin,
            signer,
            store: store.clone(),
            queue,
        })
    }

    /// The log's store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The checkpoint verifier (its `vkey` is what operators keep to check the log).
    pub fn verifier(&self) -> &NoteVerifier {
        self.signer.verifier()
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.signer.verifier().public_key()
    }

    /// The store the log lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Appends `entry` (a JSON object; the log adds its `index`) and returns once it is
    /// durable.
    pub async fn append(&self, entry: Map<String, Value>) -> Result<Appended, LogError> {
        self.enqueue(Entry::Numbered(entry)).await
    }

    /// Appends `bytes` exactly as given and returns once they are durable.
    pub async fn append_raw(&self, bytes: Vec<u8>) -> Result<Appended, LogError> {
        self.enqueue(Entry::Raw(bytes)).await
    }

    async fn enqueue(&self, entry: Entry) -> Result<Appended, LogError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { entry, reply })
            .await
            .map_err(|_| LogError::Closed(self.name.clone()))?;
        answer
            .await
            .map_err(|_| LogError::Closed(self.name.clone()))?
            .map_err(|reason| LogError::NotWritten {
                log: self.name.clone(),
                reason,
            })
    }

    /// A signed checkpoint of the current tree: the last batch's, or a fresh one of the empty
    /// tree.
    pub async fn checkpoint(&self) -> Result<(u64, String), LogError> {
        if let Some(latest) = self.store.latest_log_checkpoint(&self.name).await? {
            return Ok(latest);
        }
        let note = sign_checkpoint(
            &self.signer,
            &self.origin,
            0,
            &warden_wire::tlog::empty_root(),
        )
        .map_err(|reason| LogError::NotWritten {
            log: self.name.clone(),
            reason,
        })?;
        Ok((0, note))
    }
}

/// The signed-note text of the checkpoint of `size` with `root`.
fn sign_checkpoint(
    signer: &NoteSigner,
    origin: &str,
    size: u64,
    root: &Hash,
) -> Result<String, String> {
    let text = Checkpoint::new(origin, size, *root)
        .to_text()
        .map_err(|e| e.to_string())?;
    let note = SignedNote::sign(&text, &[signer]).map_err(|e| e.to_string())?;
    String::from_utf8(note.to_bytes()).map_err(|e| e.to_string())
}

async fn append_task(
    store: Store,
    name: String,
    origin: String,
    signer: Arc<NoteSigner>,
    mut receiver: mpsc::Receiver<Pending>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let entries: Vec<&Entry> = batch.iter().map(|p| &p.entry).collect();
        let first = store
            .append_log_entries(
                &name,
                entries.len(),
                |offset, index| {
                    entries
                        .get(offset)
                        .map(|entry| entry.bytes(index))
                        .unwrap_or_default()
                },
                |size, root| sign_checkpoint(&signer, &origin, size, root),
            )
            .await;
        let outcome = first.map_err(|e| {
            error!(log = %name, error = %e, "log entries not written: the operations they record are refused");
            e.to_string()
        });
        for (offset, pending) in batch.drain(..).enumerate() {
            let answer = outcome.as_ref().map_err(Clone::clone).map(|b| Appended {
                index: b.first_index + offset as u64,
                size: b.size,
                root: b.root,
                checkpoint: b.checkpoint.clone(),
            });
            // A caller that gave up (its request was cancelled) no longer needs the answer.
            let _ = pending.reply.send(answer);
        }
    }
}

/// Writes the log `name` as an export (`warden_wire::tlog::export` format): every entry up to
/// its current size with the leaf hash recorded at append, each batch's signed checkpoint after
/// the entry that completes it. Reads only the store; the KBS may keep running. Returns the
/// number of entries.
pub async fn export_log(
    store: &Store,
    name: &str,
    out: impl std::io::Write,
) -> Result<u64, ExportError> {
    const PAGE: u32 = 1000;
    let log = store
        .log(name)
        .await?
        .ok_or_else(|| StoreError::UnknownLog(name.to_owned()))?;
    if log.size == 0 {
        return Err(ExportError::Empty(name.to_owned()));
    }
    let mut writer = ExportWriter::new(out, &log.log.origin)?;
    let mut checkpoints = std::collections::VecDeque::new();
    let mut checkpoints_after = 0;
    let mut next = 0;
    while next < log.size {
        let entries = store.log_entries(name, next, PAGE).await?;
        if entries.is_empty() {
            break;
        }
        for entry in entries.into_iter().take_while(|e| e.index < log.size) {
            writer.entry(entry.index, &entry.leaf, &entry.data)?;
            next = entry.index + 1;
            if checkpoints.is_empty() && checkpoints_after < next {
                checkpoints.extend(store.log_checkpoints(name, checkpoints_after, PAGE).await?);
                checkpoints_after = checkpoints.back().map_or(u64::MAX, |(size, _)| *size);
            }
            while checkpoints.front().is_some_and(|(size, _)| *size <= next) {
                if let Some((size, note)) = checkpoints.pop_front()
                    && size == next
                {
                    writer.checkpoint(note.as_bytes())?;
                }
            }
        }
    }
    writer.finish()?;
    Ok(next)
}

/// Why a log could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed, or the stored log is not exportable (an entry that is not UTF-8).
    #[error("export: {0}")]
    Write(#[from] std::io::Error),
    /// The log has no entry yet.
    #[error("the {0} log is empty")]
    Empty(String),
}
