//! Proof verification, step by step as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency) write it, after a length check that names the expected proof length.

use super::{Hash, TlogError, empty_root, node_hash};

/// Bits needed to write `value` (0 for 0).
fn bit_length(value: u64) -> u32 {
    64 - value.leading_zeros()
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves
/// (`index < size`): the levels below the point where the leaf's path leaves the tree's right
/// edge, plus one per complete subtree on the right edge above it.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let inner = bit_length(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    Ok((inner + border) as usize)
}

/// The number of hashes in the consistency proof from `old_size` to `new_size` leaves
/// (`0 < old_size < new_size`; 0 for equal sizes or an empty old tree).
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Result<usize, TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizeOutOfRange {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(0);
    }
    // The inclusion path of the old tree's last leaf in the new tree, less the levels inside
    // the old tree's last complete subtree, plus that subtree's root unless it is the whole old
    // tree (the verifier has that one).
    // The old tree's last leaf index ends in `shift` one bits and the new tree's is larger, so
    // they differ above those bits: `bits > shift`.
    let shift = old_size.trailing_zeros();
    let bits = bit_length((old_size - 1) ^ (new_size - 1));
    let inner = bits.saturating_sub(shift);
    let border = (old_size - 1).checked_shr(bits).unwrap_or(0).count_ones();
    let seed = usize::from(!old_size.is_power_of_two());
    Ok(seed + (inner + border) as usize)
}

/// Checks that `proof` proves the leaf with hash `leaf` at `index` in the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(TlogError::ProofLength {
            expected,
            got: proof.len(),
        });
    }
    // Step 2-3.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    // Step 4.
    for p in proof {
        if s == 0 {
            return Err(TlogError::ProofLength {
                expected,
                got: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    if s != 0 {
        return Err(TlogError::ProofLength {
            expected,
            got: proof.len(),
        });
    }
    if r != *root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). Equal sizes need an
/// empty proof and equal roots; an empty old tree needs an empty proof and the empty root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    let expected = consistency_proof_len(old_size, new_size)?;
    if proof.len() != expected {
        return Err(TlogError::ProofLength {
            expected,
            got: proof.len(),
        });
    }
    let wrong_length = || TlogError::ProofLength {
        expected,
        got: proof.len(),
    };
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(TlogError::RootMismatch)
        };
    }
    if old_size == 0 {
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(TlogError::RootMismatch)
        };
    }
    // Step 1: a non-empty proof (ensured by the length check, 0 < old_size < new_size).
    // Step 2: a power-of-two old tree is its own first subtree.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let (first, rest) = path.split_first().ok_or_else(wrong_length)?;
    // Steps 3-4.
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (**first, **first);
    // Step 6.
    for c in rest {
        if s == 0 {
            return Err(wrong_length());
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(wrong_length());
    }
    if fr != *old_root || sr != *new_root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}
