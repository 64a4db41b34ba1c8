//! A Rekor v2 transparency-log entry for a bundle's `verificationMaterial.tlogEntries`: the
//! protobuf JSON of `dev.sigstore.rekor.v1.TransparencyLogEntry` as Rekor v2 returns it and the
//! stock `sigstore` client (4.5.1, through `sigstore-models`) reads it:
//!
//! ```json
//! {"logIndex": "5", "logId": {"keyId": "<base64>"},
//!  "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
//!  "inclusionProof": {"logIndex": "5", "rootHash": "<base64>", "treeSize": "8",
//!                     "hashes": ["<base64>", ...], "checkpoint": {"envelope": "<signed note>"}},
//!  "canonicalizedBody": "<base64 of the entry body>"}
//! ```
//!
//! - int64 members are JSON strings (protobuf JSON; `sigstore-models` refuses numbers), `bytes`
//!   are standard padded base64, the checkpoint is the signed note's text.
//! - No `integratedTime` and no `inclusionPromise`: Rekor v2 has neither; the bundle's time
//!   comes from its RFC 3161 timestamps.
//! - `hashes` is always written, even empty (a tree of one leaf): the model has no default.
//! - Rekor v2 has one log index, so the entry's and the proof's are the same number
//!   (rekor-tiles `CLIENTS.md`).
//! - `logId.keyId` is the log's non-truncated checkpoint key ID
//!   ([`NoteVerifier::full_key_id`](crate::tlog::NoteVerifier::full_key_id)), as Rekor v2
//!   writes it. The client requires a checkpoint signature whose 4-byte key hint equals
//!   `logId.keyId[:4]` (`_internal/rekor/checkpoint.py`, `SignedNote.verify`).
//!
//! The writer refuses what the client would refuse, so Warden never hands out an entry that
//! cannot verify: a body that is not `hashedrekord` 0.0.2, indexes past int64, a proof that
//! does not lead from the body's leaf hash to the checkpoint's root at its size, and a
//! checkpoint without a signature by the log ID's key hint. It does not verify the checkpoint's
//! signature (it has no key); the caller signs it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::rekor::HASHEDREKORD;
use crate::tlog::{Checkpoint, Hash, SignedNote, TlogError, leaf_hash, verify_inclusion};

/// An inclusion proof of one entry, as the bundle carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in the log.
    pub log_index: u64,
    /// The tree's root at `tree_size`: the checkpoint's.
    pub root_hash: Hash,
    /// The tree size the proof is for: the checkpoint's.
    pub tree_size: u64,
    /// The audit path, from the leaf up ([`crate::tlog::inclusion_proof`]).
    pub hashes: Vec<Hash>,
}

/// What a Rekor v2 entry is written from.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry<'a> {
    /// `logIndex`: the entry's index in the log (equal to the proof's).
    pub log_index: u64,
    /// `logId.keyId`: the log's non-truncated checkpoint key ID.
    pub log_id: &'a [u8],
    /// `canonicalizedBody`: the entry body the leaf is, byte for byte
    /// ([`crate::rekor::hashedrekord_v002`]).
    pub canonicalized_body: &'a [u8],
    /// `inclusionProof`, without its checkpoint.
    pub inclusion_proof: &'a InclusionProof,
    /// `inclusionProof.checkpoint.envelope`: the signed checkpoint at the proof's tree size.
    pub checkpoint: &'a SignedNote,
}

/// Why an entry was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogEntryError {
    /// The body is not JSON naming `kind` hashedrekord and `apiVersion` 0.0.2.
    #[error("the entry body is not a hashedrekord 0.0.2 body")]
    Kind,
    /// An index or size that does not fit protobuf's int64.
    #[error("{0} does not fit an int64")]
    TooLarge(u64),
    /// The entry's and the proof's log indexes differ; Rekor v2 has one index.
    #[error("entry log index {entry} differs from the proof's {proof}")]
    IndexMismatch {
        /// The entry's index.
        entry: u64,
        /// The proof's index.
        proof: u64,
    },
    /// The checkpoint text is not a checkpoint, or names another size or root than the proof.
    #[error("the checkpoint does not match the proof: {0}")]
    Checkpoint(String),
    /// The proof does not lead from the body's leaf hash to the root.
    #[error("the inclusion proof does not verify: {0}")]
    Proof(TlogError),
    /// The log ID is shorter than a key hint, or no checkpoint signature carries its hint.
    #[error("no checkpoint signature has the key hint of the log ID")]
    LogId,
}

/// The largest value a protobuf int64 holds.
const INT64_MAX: u64 = i64::MAX as u64;

/// The `TransparencyLogEntry` JSON of `entry` (see the module documentation).
pub fn rekor_v2_entry(entry: &LogEntry<'_>) -> Result<Value, TlogEntryError> {
    let body: Value =
        serde_json::from_slice(entry.canonicalized_body).map_err(|_| TlogEntryError::Kind)?;
    if body["kind"] != HASHEDREKORD.0 || body["apiVersion"] != HASHEDREKORD.1 {
        return Err(TlogEntryError::Kind);
    }
    let proof = entry.inclusion_proof;
    for value in [entry.log_index, proof.tree_size] {
        if value > INT64_MAX {
            return Err(TlogEntryError::TooLarge(value));
        }
    }
    if entry.log_index != proof.log_index {
        return Err(TlogEntryError::IndexMismatch {
            entry: entry.log_index,
            proof: proof.log_index,
        });
    }
    let checkpoint = Checkpoint::parse_text(entry.checkpoint.text())
        .map_err(|e| TlogEntryError::Checkpoint(e.to_string()))?;
    if checkpoint.size != proof.tree_size || checkpoint.root != proof.root_hash {
        return Err(TlogEntryError::Checkpoint(format!(
            "it is for size {}, the proof for size {}, or the roots differ",
            checkpoint.size, proof.tree_size
        )));
    }
    verify_inclusion(
        &leaf_hash(entry.canonicalized_body),
        proof.log_index,
        proof.tree_size,
        &proof.hashes,
        &proof.root_hash,
    )
    .map_err(TlogEntryError::Proof)?;
    let hint = entry.log_id.get(..4).ok_or(TlogEntryError::LogId)?;
    if !entry
        .checkpoint
        .signatures()
        .iter()
        .any(|s| s.key_id.to_be_bytes() == hint)
    {
        return Err(TlogEntryError::LogId);
    }
    let envelope = String::from_utf8_lossy(&entry.checkpoint.to_bytes()).into_owned();
    Ok(json!({
        "logIndex": entry.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(entry.log_id)},
        "kindVersion": {"kind": HASHEDREKORD.0, "version": HASHEDREKORD.1},
        "inclusionProof": {
            "logIndex": proof.log_index.to_string(),
            "rootHash": STANDARD.encode(proof.root_hash),
            "treeSize": proof.tree_size.to_string(),
            "hashes": proof.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": envelope},
        },
        "canonicalizedBody": STANDARD.encode(entry.canonicalized_body),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing_key::{KeyAlgorithm, SigningKeyPair};
    use crate::tlog::{MemoryTree, NoteSigner};

    const ORIGIN: &str = "kbs.example/signing-log";

    struct Fixture {
        body: Vec<u8>,
        proof: InclusionProof,
        note: SignedNote,
        log_id: [u8; 32],
    }

    fn fixture(size: u64, index: u64) -> Fixture {
        let body = br#"{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{}}"#.to_vec();
        let mut tree = MemoryTree::new();
        for i in 0..size {
            if i == index {
                tree.append(&body).unwrap();
            } else {
                tree.append(format!("other {i}").as_bytes()).unwrap();
            }
        }
        let root = tree.root().unwrap();
        let signer = NoteSigner::new(
            ORIGIN,
            SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap(),
        )
        .unwrap();
        let note =
            SignedNote::parse(&Checkpoint::new(ORIGIN, size, root).sign(&signer).unwrap()).unwrap();
        Fixture {
            proof: InclusionProof {
                log_index: index,
                root_hash: root,
                tree_size: size,
                hashes: tree.inclusion_proof(index, size).unwrap(),
            },
            body,
            note,
            log_id: signer.verifier().full_key_id(),
        }
    }

    fn write(f: &Fixture) -> Result<Value, TlogEntryError> {
        rekor_v2_entry(&LogEntry {
            log_index: f.proof.log_index,
            log_id: &f.log_id,
            canonicalized_body: &f.body,
            inclusion_proof: &f.proof,
            checkpoint: &f.note,
        })
    }

    #[test]
    fn entries_follow_protobuf_json_and_carry_the_signed_checkpoint() {
        let f = fixture(7, 4);
        let json = write(&f).unwrap();
        assert_eq!(json["logIndex"], "4");
        assert_eq!(json["inclusionProof"]["logIndex"], "4");
        assert_eq!(json["inclusionProof"]["treeSize"], "7");
        assert_eq!(json["logId"]["keyId"], STANDARD.encode(f.log_id));
        assert_eq!(json["kindVersion"]["version"], "0.0.2");
        assert_eq!(json["canonicalizedBody"], STANDARD.encode(&f.body));
        assert_eq!(
            json["inclusionProof"]["hashes"].as_array().unwrap().len(),
            f.proof.hashes.len()
        );
        let envelope = json["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap();
        assert_eq!(envelope.as_bytes(), f.note.to_bytes());
        assert!(json.get("integratedTime").is_none());
        assert!(json.get("inclusionPromise").is_none());
        // A tree of one leaf: an empty audit path, still written.
        let single = write(&fixture(1, 0)).unwrap();
        assert_eq!(single["inclusionProof"]["hashes"], json!([]));
    }

    #[test]
    fn entries_the_client_would_refuse_are_not_written() {
        let mut f = fixture(5, 2);
        f.proof.hashes[0][0] ^= 1;
        assert!(matches!(write(&f), Err(TlogEntryError::Proof(_))));
        let mut f = fixture(5, 2);
        f.proof.root_hash[0] ^= 1;
        assert!(matches!(write(&f), Err(TlogEntryError::Checkpoint(_))));
        let mut f = fixture(5, 2);
        f.log_id[0] ^= 1;
        assert_eq!(write(&f), Err(TlogEntryError::LogId));
        let mut f = fixture(5, 2);
        f.body = br#"{"apiVersion":"0.0.1","kind":"hashedrekord"}"#.to_vec();
        assert_eq!(write(&f), Err(TlogEntryError::Kind));
        let f = fixture(5, 2);
        let other = InclusionProof {
            log_index: 3,
            ..f.proof.clone()
        };
        let entry = LogEntry {
            log_index: 2,
            log_id: &f.log_id,
            canonicalized_body: &f.body,
            inclusion_proof: &other,
            checkpoint: &f.note,
        };
        assert_eq!(
            rekor_v2_entry(&entry),
            Err(TlogEntryError::IndexMismatch { entry: 2, proof: 3 })
        );
    }
}
