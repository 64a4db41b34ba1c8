//! Reading the Merkle logs: the latest checkpoint, inclusion proofs (by index or leaf hash),
//! consistency proofs and entries, page by page. The signing transparency log is public (that
//! is its point); the audit log (client addresses, resource names) needs an admin token.
//! Out-of-range indexes and sizes, malformed hashes and oversized pages are 400s naming the
//! parameter.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use warden_store::StoreError;
use warden_wire::tlog::{Hash, TlogError};

use super::{AUDIT_LOG, Kbs, SIGNING_LOG};
use crate::admin::Permission;
use crate::error::KbsError;
use crate::transparency::{LogError, MerkleLog};

/// Most entries one page returns.
pub const MAX_PAGE: u32 = 1000;

/// A query's parameters, by name.
pub type LogQuery = HashMap<String, String>;

/// What a log query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRead {
    /// `proof/inclusion?index=|leaf=&size=`.
    Inclusion,
    /// `proof/consistency?old=&new=`.
    Consistency,
    /// `entries?start=&limit=`.
    Entries,
}

fn query_error(error: StoreError) -> KbsError {
    match error {
        // A node missing inside the log's size is the store's fault, not the query's.
        StoreError::Log(e @ TlogError::MissingNode { .. }) => KbsError::Internal(e.to_string()),
        StoreError::Log(e) => KbsError::LogQuery(e.to_string()),
        other => KbsError::LogUnavailable(other.to_string()),
    }
}

fn log_error(error: LogError) -> KbsError {
    match error {
        LogError::Store(e) => query_error(e),
        other => KbsError::LogUnavailable(other.to_string()),
    }
}

/// The unsigned integer parameter `name`; `default` when absent.
fn number(query: &LogQuery, name: &str, default: Option<u64>) -> Result<u64, KbsError> {
    match query.get(name) {
        Some(text) => text.parse().map_err(|_| {
            KbsError::LogQuery(format!(
                "{name} must be an unsigned decimal integer, not {text:?}"
            ))
        }),
        None => default.ok_or_else(|| KbsError::LogQuery(format!("{name} is required"))),
    }
}

/// A hex SHA-256 parameter.
fn hash_parameter(name: &str, text: &str) -> Result<Hash, KbsError> {
    let bytes = hex::decode(text)
        .map_err(|_| KbsError::LogQuery(format!("{name} must be 64 hex digits")))?;
    Hash::try_from(bytes.as_slice())
        .map_err(|_| KbsError::LogQuery(format!("{name} must be 64 hex digits (32 bytes)")))
}

fn hashes_hex(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

impl Kbs {
    /// The log `name` (`audit` or `signing`), if the caller may read it.
    async fn readable_log(
        &self,
        name: &str,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<&MerkleLog, KbsError> {
        match name {
            AUDIT_LOG => {
                self.authorize(auth, Permission::Read, now).await?;
                self.audit
                    .as_ref()
                    .ok_or_else(|| KbsError::NotFound("the audit log (it is off)".into()))
            }
            SIGNING_LOG => self.signing_log.as_ref().ok_or(KbsError::SigningDisabled),
            other => Err(KbsError::NotFound(format!("log {other:?}"))),
        }
    }

    /// `GET /kbs/v0/log/<name>/checkpoint`: the latest signed checkpoint (note text).
    pub async fn log_checkpoint(
        &self,
        name: &str,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, KbsError> {
        let log = self.readable_log(name, auth, now).await?;
        Ok(log.checkpoint().await.map_err(log_error)?.1)
    }

    /// `GET /kbs/v0/log/<name>/key`: the checkpoint verifier key (C2SP `vkey`) and origin.
    pub async fn log_key(
        &self,
        name: &str,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let log = self.readable_log(name, auth, now).await?;
        Ok(json!({
            "origin": log.origin(),
            "vkey": log.verifier().to_vkey(),
            "public-key": STANDARD.encode(log.public_key()),
        }))
    }

    /// `GET /kbs/v0/log/<name>/{proof/inclusion, proof/consistency, entries}`.
    pub async fn log_read(
        &self,
        name: &str,
        read: LogRead,
        auth: Option<&str>,
        query: &LogQuery,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let log = self.readable_log(name, auth, now).await?;
        match read {
            LogRead::Inclusion => inclusion_proof(log, query).await,
            LogRead::Consistency => consistency_proof(log, query).await,
            LogRead::Entries => entries(log, query).await,
        }
    }
}

/// The inclusion proof of an entry (by `index`, or by its hex `leaf` hash) in the tree of
/// `size` (default: the latest checkpoint's, which is returned too).
async fn inclusion_proof(log: &MerkleLog, query: &LogQuery) -> Result<Value, KbsError> {
    let (latest, checkpoint) = log.checkpoint().await.map_err(log_error)?;
    let size = number(query, "size", Some(latest))?;
    let index = match (query.get("index"), query.get("leaf")) {
        (Some(_), None) => number(query, "index", None)?,
        (None, Some(leaf)) => {
            let leaf = hash_parameter("leaf", leaf)?;
            log.store()
                .log_index_of_leaf(log.name(), &leaf)
                .await
                .map_err(query_error)?
                .ok_or_else(|| {
                    KbsError::NotFound(format!("an entry with leaf {}", hex::encode(leaf)))
                })?
        }
        _ => {
            return Err(KbsError::LogQuery(
                "give exactly one of index and leaf".into(),
            ));
        }
    };
    let store = log.store();
    let hashes = store
        .log_inclusion_proof(log.name(), index, size)
        .await
        .map_err(query_error)?;
    let root = store
        .log_root(log.name(), size)
        .await
        .map_err(query_error)?;
    let mut answer = json!({
        "index": index,
        "size": size,
        "root": hex::encode(root),
        "hashes": hashes_hex(&hashes),
    });
    if size == latest {
        answer["checkpoint"] = Value::from(checkpoint);
    }
    Ok(answer)
}

/// The consistency proof between sizes `old` and `new` (default: the latest checkpoint's).
async fn consistency_proof(log: &MerkleLog, query: &LogQuery) -> Result<Value, KbsError> {
    let (latest, _) = log.checkpoint().await.map_err(log_error)?;
    let old = number(query, "old", None)?;
    let new = number(query, "new", Some(latest))?;
    let hashes = log
        .store()
        .log_consistency_proof(log.name(), old, new)
        .await
        .map_err(query_error)?;
    Ok(json!({"old": old, "new": new, "hashes": hashes_hex(&hashes)}))
}

/// Up to `limit` (at most [`MAX_PAGE`]) entries from `start`, each with its recorded leaf hash;
/// `next` is where the next page starts, absent at the end.
async fn entries(log: &MerkleLog, query: &LogQuery) -> Result<Value, KbsError> {
    let start = number(query, "start", Some(0))?;
    let limit = number(query, "limit", Some(100))?;
    let limit = u32::try_from(limit)
        .ok()
        .filter(|limit| (1..=MAX_PAGE).contains(limit))
        .ok_or_else(|| KbsError::LogQuery(format!("limit must be 1 to {MAX_PAGE}")))?;
    let size = log
        .store()
        .log_size(log.name())
        .await
        .map_err(query_error)?;
    if start > size {
        return Err(KbsError::LogQuery(format!(
            "start {start} is beyond the log's size {size}"
        )));
    }
    let entries = log
        .store()
        .log_entries(log.name(), start, limit)
        .await
        .map_err(query_error)?;
    let next = entries
        .last()
        .map(|e| e.index + 1)
        .filter(|next| *next < size);
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "index": e.index,
                "leaf": hex::encode(e.leaf),
                "entry": STANDARD.encode(&e.data),
            })
        })
        .collect();
    Ok(json!({"size": size, "entries": entries, "next": next}))
}
