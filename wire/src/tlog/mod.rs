//! The Merkle transparency log core: pure (no I/O, no clock), shared by the audit log and the
//! signing transparency log.
//!
//! - Hashing per RFC 6962 §2.1 / RFC 9162 §2.1.1: [`leaf_hash`], [`node_hash`], and the root of
//!   the empty tree [`empty_root`].
//! - Storage-independent proof generation ([`tree`]): a store keeps the roots of complete,
//!   aligned subtrees ([`NodeSource`]); [`append_nodes`] says which such nodes appear when a leaf
//!   is appended, and [`root`], [`inclusion_proof`] and [`consistency_proof`] read O(log n) of
//!   them. [`MemoryTree`] is the in-memory store.
//! - Proof verification per RFC 9162 §2.1.3.2 and §2.1.4.2 ([`verify_inclusion`],
//!   [`verify_consistency`]).
//! - Checkpoints in the C2SP `tlog-checkpoint` format ([`Checkpoint`]) inside C2SP signed notes
//!   ([`SignedNote`], [`NoteSigner`], [`NoteVerifier`]).
//! - The exported-log format `warden-log-export/v1` (JSON lines: header, entries, signed
//!   checkpoints) with its writer ([`ExportWriter`]) and streaming offline verifier
//!   ([`verify_export`]), which recomputes the tree in O(log n) memory.
//!
//! Every input may be hostile: out-of-range indexes and sizes, wrong proof lengths and
//! malformed notes are errors, never panics.

mod checkpoint;
mod export;
mod note;
mod tree;
mod verify;

use sha2::{Digest, Sha256};

pub use checkpoint::Checkpoint;
pub use export::{
    EXPORT_FORMAT, ExportFault, ExportSummary, ExportWriter, MAX_LINE_BYTES, checkpoint_line,
    entry_line, header_line, verify_export,
};
pub use note::{
    MAX_NOTE_BYTES, MAX_SIGNATURES, NoteKeyType, NoteSignature, NoteSigner, NoteVerifier,
    SignedNote,
};
pub use tree::{
    MemoryTree, NodeSource, StoredNode, append_nodes, consistency_proof, inclusion_proof, root,
};
pub use verify::{
    consistency_proof_len, inclusion_proof_len, verify_consistency, verify_inclusion,
};

/// A SHA-256 tree hash: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf (RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 6962 §2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a tree operation, a proof or a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    /// A leaf index not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Sizes that cannot be compared: an old size larger than the new one, or a size the
    /// log does not have.
    #[error("tree sizes out of range: {old} then {new}")]
    SizeOutOfRange {
        /// The earlier size.
        old: u64,
        /// The later size.
        new: u64,
    },
    /// The tree cannot grow any further.
    #[error("the tree is full")]
    TreeFull,
    /// A proof with the wrong number of hashes for its index and sizes.
    #[error("proof has {got} hashes, expected {expected}")]
    ProofLength {
        /// The number of hashes the index and sizes call for.
        expected: usize,
        /// The number received.
        got: usize,
    },
    /// The proof does not lead to the root (or roots) given.
    #[error("the proof does not match the root hash")]
    RootMismatch,
    /// A node source lacks a node the operation needs.
    #[error("node at level {level}, index {index} is missing")]
    MissingNode {
        /// The node's level (0: leaves).
        level: u8,
        /// The node's index within its level.
        index: u64,
    },
    /// A node source failed to read (a store's error, as text).
    #[error("node storage failed: {0}")]
    Storage(String),
    /// A range that is not a subtree of the RFC 6962 tree (an internal invariant failed).
    #[error("leaf range {start}..{end} is not a subtree of the log")]
    NotASubtree {
        /// First leaf of the range.
        start: u64,
        /// One past the last leaf.
        end: u64,
    },
    /// A note larger than [`MAX_NOTE_BYTES`].
    #[error("note is larger than {MAX_NOTE_BYTES} bytes")]
    NoteTooLarge,
    /// A note with more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A note that does not follow the C2SP signed-note format.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A note text that does not follow the C2SP tlog-checkpoint format.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// A checkpoint from another log than the one expected.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// The origin expected.
        expected: String,
        /// The origin the checkpoint names.
        found: String,
    },
    /// A key (verifier key text, public key or signing key) that cannot be used.
    #[error("unusable note key: {0}")]
    BadKey(&'static str),
    /// A signature by the expected key that does not verify.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature by the expected key.
    #[error("note carries no signature by {name}+{key_id:08x}")]
    NotSigned {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The signing key failed.
    #[error("signing failed")]
    Signing,
}

#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod tests;
