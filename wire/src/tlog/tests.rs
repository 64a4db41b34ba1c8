use std::cell::Cell;

use super::*;

// ---------------------------------------------------------------------------------------------
// Trees and proofs.

/// MTH straight from RFC 6962 §2.1, over leaf hashes.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn tree(size: u64) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..size {
        assert_eq!(tree.append(format!("leaf {i}").as_bytes()).unwrap(), i);
    }
    tree
}

#[test]
fn hashes_are_rfc_6962_domain_separated_sha256() {
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // RFC 6962 leaf hash of the empty leaf: SHA-256(0x00).
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut concatenated = vec![0x01];
    concatenated.extend_from_slice(&a);
    concatenated.extend_from_slice(&b);
    use sha2::Digest as _;
    assert_eq!(
        node_hash(&a, &b),
        <[u8; 32]>::from(sha2::Sha256::digest(&concatenated))
    );
}

/// The roots of the eight-leaf reference tree of the certificate-transparency test suites.
#[test]
fn the_certificate_transparency_reference_tree_has_its_known_roots() {
    let leaves: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut tree = MemoryTree::new();
    for (leaf, expected) in leaves.iter().zip(roots) {
        tree.append(leaf).unwrap();
        assert_eq!(hex::encode(tree.root().unwrap()), expected);
    }
}

#[test]
fn roots_and_proofs_match_the_rfc_definitions_and_verify() {
    let tree = tree(70);
    let leaves: Vec<Hash> = (0..70).map(|i| tree.leaf_hash(i).unwrap()).collect();
    assert_eq!(tree.root_at(0).unwrap(), empty_root());
    for size in 1..=70u64 {
        let root = tree.root_at(size).unwrap();
        assert_eq!(root, mth(&leaves[..size as usize]), "size {size}");
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(proof.len(), inclusion_proof_len(index, size).unwrap());
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
        }
        for old in 0..=size {
            let proof = tree.consistency_proof(old, size).unwrap();
            assert_eq!(proof.len(), consistency_proof_len(old, size).unwrap());
            let old_root = tree.root_at(old).unwrap();
            verify_consistency(old, size, &proof, &old_root, &root).unwrap();
        }
    }
}

#[test]
fn verifiers_refuse_tampering_and_out_of_range_input_without_panicking() {
    let tree = tree(13);
    let root = tree.root().unwrap();
    let leaf = tree.leaf_hash(5).unwrap();
    let proof = tree.inclusion_proof(5, 13).unwrap();
    verify_inclusion(&leaf, 5, 13, &proof, &root).unwrap();
    let mut flipped = proof.clone();
    flipped[1][7] ^= 0x10;
    assert_eq!(
        verify_inclusion(&leaf, 5, 13, &flipped, &root),
        Err(TlogError::RootMismatch)
    );
    assert!(verify_inclusion(&leaf, 4, 13, &proof, &root).is_err());
    // A proof binds the size through the root: claimed with the root of another size, refused.
    let mut bigger = tree.clone();
    bigger.append(b"leaf 13").unwrap();
    let root_14 = bigger.root().unwrap();
    assert!(verify_inclusion(&leaf, 5, 14, &proof, &root_14).is_err());
    assert!(verify_inclusion(&leaf, 5, 12, &proof, &tree.root_at(12).unwrap()).is_err());
    // With the same root, only a size whose proof has another shape is refused; (5, 14) has the
    // shape of (5, 13), which is why callers take size and root from one verified checkpoint.
    verify_inclusion(&leaf, 5, 14, &proof, &root).unwrap();
    assert!(matches!(
        verify_inclusion(&leaf, 5, 6, &proof, &root),
        Err(TlogError::ProofLength { .. })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, 5, 13, &proof[..proof.len() - 1], &root),
        Err(TlogError::ProofLength { .. })
    ));
    let mut longer = proof.clone();
    longer.push(root);
    assert!(matches!(
        verify_inclusion(&leaf, 5, 13, &longer, &root),
        Err(TlogError::ProofLength { .. })
    ));
    assert_eq!(
        verify_inclusion(&leaf, 13, 13, &proof, &root),
        Err(TlogError::IndexOutOfRange {
            index: 13,
            size: 13
        })
    );
    assert!(verify_inclusion(&leaf, 0, 0, &[], &root).is_err());
    for (index, size) in [
        (u64::MAX, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (0, u64::MAX),
        (1 << 63, u64::MAX),
    ] {
        let _ = inclusion_proof_len(index, size);
        assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
    }

    let old_root = tree.root_at(6).unwrap();
    let consistency = tree.consistency_proof(6, 13).unwrap();
    verify_consistency(6, 13, &consistency, &old_root, &root).unwrap();
    let mut flipped = consistency.clone();
    flipped[0][0] ^= 1;
    assert!(verify_consistency(6, 13, &flipped, &old_root, &root).is_err());
    let root_7 = tree.root_at(7).unwrap();
    assert!(verify_consistency(7, 13, &consistency, &root_7, &root).is_err());
    assert!(
        verify_consistency(6, 12, &consistency, &old_root, &tree.root_at(12).unwrap()).is_err()
    );
    assert!(verify_consistency(6, 14, &consistency, &old_root, &root_14).is_err());
    assert!(verify_consistency(13, 6, &consistency, &old_root, &root).is_err());
    assert!(verify_consistency(6, 13, &consistency, &root, &root).is_err());
    assert_eq!(
        verify_consistency(13, 13, &[], &root, &old_root),
        Err(TlogError::RootMismatch)
    );
    verify_consistency(13, 13, &[], &root, &root).unwrap();
    assert!(verify_consistency(13, 13, &[root], &root, &root).is_err());
    verify_consistency(0, 13, &[], &empty_root(), &root).unwrap();
    assert!(verify_consistency(0, 13, &[], &old_root, &root).is_err());
    for (old, new) in [
        (u64::MAX, u64::MAX),
        (1, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (1 << 63, u64::MAX),
        ((1 << 63) + 1, u64::MAX),
    ] {
        let _ = consistency_proof_len(old, new);
        assert!(verify_consistency(old, new, &consistency, &old_root, &root).is_err());
    }

    // Generation refuses what the tree does not have.
    assert!(tree.inclusion_proof(13, 13).is_err());
    assert!(tree.inclusion_proof(0, 14).is_err());
    assert!(tree.consistency_proof(7, 6).is_err());
    assert!(tree.consistency_proof(7, 14).is_err());
    assert!(inclusion_proof(3, 20, &tree).is_err());
    assert!(append_nodes(u64::MAX, leaf, &tree).is_err());
}

/// Counts the nodes read.
struct Counting<'a> {
    tree: &'a MemoryTree,
    reads: Cell<u32>,
}

impl NodeSource for Counting<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        self.reads.set(self.reads.get() + 1);
        self.tree.node(level, index)
    }
}

#[test]
fn proofs_read_a_logarithmic_number_of_stored_nodes() {
    let size = 100_003u64;
    let tree = tree(size);
    let source = Counting {
        tree: &tree,
        reads: Cell::new(0),
    };
    // log2(100003) < 17: a root reads one node per set bit, a proof about two per level.
    let bound = 2 * 17 + 2;
    for (index, at) in [
        (0, size),
        (size - 1, size),
        (65_536, size),
        (77_777, 99_999),
    ] {
        source.reads.set(0);
        let proof = inclusion_proof(index, at, &source).unwrap();
        assert!(source.reads.get() <= bound, "{} reads", source.reads.get());
        let root = root(at, &tree).unwrap();
        verify_inclusion(&tree.leaf_hash(index).unwrap(), index, at, &proof, &root).unwrap();
    }
    for (old, new) in [
        (1, size),
        (65_536, size),
        (77_777, 99_999),
        (size - 1, size),
    ] {
        source.reads.set(0);
        let proof = consistency_proof(old, new, &source).unwrap();
        assert!(source.reads.get() <= bound, "{} reads", source.reads.get());
        let (old_root, new_root) = (root(old, &tree).unwrap(), root(new, &tree).unwrap());
        verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
    }
    source.reads.set(0);
    root(size, &source).unwrap();
    assert_eq!(source.reads.get(), size.count_ones());
}

#[test]
fn append_nodes_names_exactly_the_new_complete_subtrees() {
    let mut tree = tree(11);
    // Appending leaf 11 (binary 1011) completes levels 0, 1 and 2: [11], [10,12), [8,12).
    let leaf = leaf_hash(b"leaf 11");
    let nodes = append_nodes(11, leaf, &tree).unwrap();
    let placed: Vec<(u8, u64)> = nodes.iter().map(|n| (n.level, n.index)).collect();
    assert_eq!(placed, [(0, 11), (1, 5), (2, 2)]);
    tree.append_leaf_hash(leaf).unwrap();
    let leaves: Vec<Hash> = (0..12).map(|i| tree.leaf_hash(i).unwrap()).collect();
    assert_eq!(nodes[2].hash, mth(&leaves[8..12]));
    assert_eq!(append_nodes(12, leaf, &tree).unwrap().len(), 1);
}
