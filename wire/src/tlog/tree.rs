//! Proof generation over stored complete subtrees.
//!
//! The stored node at (level `k`, index `i`) is the root of the complete, aligned subtree over
//! leaves `[i·2^k, (i+1)·2^k)`; level 0 holds the leaf hashes. Such a node never changes once
//! its last leaf exists, so a store writes it once, in the transaction that appends that leaf
//! ([`append_nodes`]). Every subtree RFC 6962 names (in MTH, PATH and SUBPROOF) starts at a
//! multiple of the smallest power of two not below its length, so it is either one stored node
//! or the fold, right to left, of the stored nodes its length's binary digits name (largest
//! first). A root, an inclusion proof or a consistency proof therefore reads O(log n) nodes: at
//! most one of the subtrees a proof needs is incomplete, and every other one is a stored node.

use super::{Hash, TlogError, empty_root, leaf_hash, node_hash};

/// Read access to the stored complete subtrees of a log.
pub trait NodeSource {
    /// The root of the complete subtree over leaves `[index·2^level, (index+1)·2^level)`
    /// ([`TlogError::MissingNode`] when the source does not hold it).
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError>;
}

/// A complete subtree root that exists once a leaf is appended (see [`append_nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredNode {
    /// The level: 0 for the leaf itself, `k` for a subtree of `2^k` leaves.
    pub level: u8,
    /// The index within the level: the subtree covers `[index·2^level, (index+1)·2^level)`.
    pub index: u64,
    /// The subtree's root.
    pub hash: Hash,
}

/// The complete subtrees that come into existence when the leaf with hash `leaf` is appended
/// at index `size` (the tree grows from `size` to `size + 1` leaves): the leaf at level 0, then
/// one node per level while the new node is a right child, combined with its left sibling read
/// from `source`. A store persists them in the same transaction as the leaf.
pub fn append_nodes<S: NodeSource + ?Sized>(
    size: u64,
    leaf: Hash,
    source: &S,
) -> Result<Vec<StoredNode>, TlogError> {
    if size == u64::MAX {
        return Err(TlogError::TreeFull);
    }
    let mut nodes = vec![StoredNode {
        level: 0,
        index: size,
        hash: leaf,
    }];
    let (mut level, mut index, mut hash) = (0u8, size, leaf);
    // `size < u64::MAX` has at most 63 trailing one bits, so `level` stays below 64.
    while index & 1 == 1 {
        let left = source.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        index >>= 1;
        level += 1;
        nodes.push(StoredNode { level, index, hash });
    }
    Ok(nodes)
}

/// The largest power of two strictly below `n` (`n ≥ 2`): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH over leaves `[start, end)` (non-empty), a subtree RFC 6962 names: the stored nodes of
/// the binary decomposition of its length, largest first, folded from the right.
fn subtree_hash<S: NodeSource + ?Sized>(
    start: u64,
    end: u64,
    source: &S,
) -> Result<Hash, TlogError> {
    let not_a_subtree = TlogError::NotASubtree { start, end };
    if start >= end {
        return Err(not_a_subtree);
    }
    let mut parts: Vec<Hash> = Vec::with_capacity(64);
    let mut position = start;
    while position < end {
        let remaining = end - position;
        let level = 63 - remaining.leading_zeros();
        let width = 1u64 << level;
        if position & (width - 1) != 0 {
            return Err(not_a_subtree);
        }
        // `level` < 64, so the cast cannot truncate.
        parts.push(source.node(level as u8, position >> level)?);
        position += width;
    }
    let mut parts = parts.into_iter().rev();
    let mut hash = parts.next().ok_or(not_a_subtree)?;
    for left in parts {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

/// The root of the tree of the first `size` leaves (MTH(D[0:size]); the empty root for 0).
pub fn root<S: NodeSource + ?Sized>(size: u64, source: &S) -> Result<Hash, TlogError> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(0, size, source)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1
/// PATH, RFC 9162 §2.1.3.1): sibling subtree roots from the leaf up.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    index: u64,
    size: u64,
    source: &S,
) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let mut top_down = Vec::new();
    let (mut low, mut high) = (0u64, size);
    while high - low > 1 {
        let k = split(high - low);
        if index < low + k {
            top_down.push(subtree_hash(low + k, high, source)?);
            high = low + k;
        } else {
            top_down.push(subtree_hash(low, low + k, source)?);
            low += k;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// The consistency proof between the trees of the first `old_size` and `new_size` leaves
/// (RFC 6962 §2.1.2 PROOF/SUBPROOF, RFC 9162 §2.1.4.1). Empty when `old_size` is 0 or equals
/// `new_size`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    old_size: u64,
    new_size: u64,
    source: &S,
) -> Result<Vec<Hash>, TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizeOutOfRange {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut top_down = Vec::new();
    let (mut low, mut high) = (0u64, new_size);
    // SUBPROOF's flag b: whether the current subtree is still the old tree's left edge, whose
    // root the verifier already has.
    let mut old_root_known = true;
    while old_size != high {
        let k = split(high - low);
        if old_size <= low + k {
            top_down.push(subtree_hash(low + k, high, source)?);
            high = low + k;
        } else {
            top_down.push(subtree_hash(low, low + k, source)?);
            low += k;
            old_root_known = false;
        }
    }
    let mut proof = Vec::with_capacity(top_down.len() + 1);
    if !old_root_known {
        proof.push(subtree_hash(low, high, source)?);
    }
    proof.extend(top_down.into_iter().rev());
    Ok(proof)
}

/// A log held in memory: every stored node, level by level. For tests and for offline
/// verification of an exported log.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[k][i]`: the node at level `k`, index `i`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf by its data; returns its index.
    pub fn append(&mut self, data: &[u8]) -> Result<u64, TlogError> {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a leaf by its hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, TlogError> {
        let index = self.size();
        for node in append_nodes(index, leaf, self)? {
            let level = usize::from(node.level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            self.levels[level].push(node.hash);
        }
        Ok(index)
    }

    /// The hash of leaf `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TlogError> {
        let size = self.size();
        self.node(0, index)
            .map_err(|_| TlogError::IndexOutOfRange { index, size })
    }

    /// The root at the current size.
    pub fn root(&self) -> Result<Hash, TlogError> {
        root(self.size(), self)
    }

    /// The root at an earlier (or the current) size.
    pub fn root_at(&self, size: u64) -> Result<Hash, TlogError> {
        self.check_size(size)?;
        root(size, self)
    }

    /// The inclusion proof of leaf `index` in the tree of size `size` (≤ the current size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(size)?;
        inclusion_proof(index, size, self)
    }

    /// The consistency proof from size `old_size` to `new_size` (≤ the current size).
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(new_size)?;
        consistency_proof(old_size, new_size, self)
    }

    fn check_size(&self, size: u64) -> Result<(), TlogError> {
        if size > self.size() {
            return Err(TlogError::SizeOutOfRange {
                old: size,
                new: self.size(),
            });
        }
        Ok(())
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        self.levels
            .get(usize::from(level))
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(TlogError::MissingNode { level, index })
    }
}
