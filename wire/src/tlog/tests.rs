use std::cell::Cell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::signing_key::{KeyAlgorithm, SigningKeyPair};

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

// ---------------------------------------------------------------------------------------------
// Signed notes and checkpoints.

/// PKCS#8 v1 of an Ed25519 seed (RFC 8410).
fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(seed);
    der
}

/// golang.org/x/mod sumdb/note `TestSign`: PeterNeumann's private key.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> NoteSigner {
    let key = STANDARD
        .decode(PETER_SKEY.splitn(5, '+').nth(4).unwrap())
        .unwrap();
    assert_eq!(key[0], 0x01);
    let pair =
        SigningKeyPair::from_pkcs8(KeyAlgorithm::Ed25519, &ed25519_pkcs8(&key[1..])).unwrap();
    NoteSigner::new("PeterNeumann", pair).unwrap()
}

#[test]
fn ed25519_signing_reproduces_the_go_sumdb_note_vector_byte_for_byte() {
    let signer = peter();
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    let note = SignedNote::sign(GO_TEXT, &[&signer]).unwrap();
    let expected = format!("{GO_TEXT}\n{PETER_SIG}");
    assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), expected);
}

#[test]
fn the_go_and_c2sp_example_notes_verify_and_other_keys_are_ignored() {
    let peter = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = SignedNote::open(both.as_bytes(), &peter).unwrap();
    assert_eq!(note.text(), GO_TEXT);
    assert_eq!(note.signatures().len(), 2);
    note.verify(&enoch).unwrap();
    let only_enoch = format!("{GO_TEXT}\n{ENOCH_SIG}");
    assert_eq!(
        SignedNote::open(only_enoch.as_bytes(), &peter),
        Err(TlogError::NotSigned {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );

    // The example of C2SP signed-note.md, "Verifier keys".
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let example = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let verifier = NoteVerifier::from_vkey(vkey).unwrap();
    assert_eq!(verifier.to_vkey(), vkey);
    SignedNote::open(example.as_bytes(), &verifier).unwrap();
}

#[test]
fn mangled_verifier_keys_are_refused() {
    // As golang.org/x/mod's TestNewVerifier: every proper substring and every byte changed.
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if (i, j) != (0, bytes.len()) {
                let part = std::str::from_utf8(&bytes[i..j]).unwrap();
                assert!(NoteVerifier::from_vkey(part).is_err(), "{part}");
            }
        }
    }
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] = changed[i].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&changed) {
            assert!(NoteVerifier::from_vkey(text).is_err(), "{text}");
        }
    }
    // Wrong-length key and unknown type, each with a matching key hash (from the Go tests).
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
    }
}

/// sigstore/rekor-tiles `pkg/note/note_test.go` `TestKeyHash`, origin "testkey".
#[test]
fn key_ids_match_the_rekor_v2_vectors() {
    let ed25519 = STANDARD
        .decode("MC4CAQAwBQYDK2VwBCIEIGuZ8UWTFmXi/26ZgF4VYL8HfLSuW12TN5XMFQRt1Loc")
        .unwrap();
    let ed25519 = SigningKeyPair::from_pkcs8(KeyAlgorithm::Ed25519, &ed25519).unwrap();
    let public_key = ed25519.public_key_bits().to_vec();
    let signer = NoteSigner::new("testkey", ed25519).unwrap();
    assert_eq!(signer.key_id(), 3839787747);
    // The full key ID (Rekor v2's log ID): SHA-256(name || 0x0A || 0x01 || key), whose first
    // four bytes are the key ID.
    let full: [u8; 32] = Sha256::digest([b"testkey\n\x01".as_slice(), &public_key].concat()).into();
    assert_eq!(signer.verifier().full_key_id(), full);
    assert_eq!(full[..4], 3839787747u32.to_be_bytes());
    // The SEC1 key of the test, converted with `openssl pkcs8 -topk8 -nocrypt`.
    let p256 = STANDARD
        .decode(
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4xk04FtFTcIcGNmhzXdHwdg1Siqy9x7lSU6Z\
             HOU5mpShRANCAAR4vDuBfjSrLXPslSEYwBpoMhNtXunYP4Lkb3E8SzL89UCj0fSaBLg1jOkaKuRfEGG34i+8\
             vX1ZHVf0A1eFrmV1",
        )
        .unwrap();
    let p256 = SigningKeyPair::from_pkcs8(KeyAlgorithm::EcdsaP256, &p256).unwrap();
    let signer = NoteSigner::new("testkey", p256).unwrap();
    assert_eq!(signer.key_id(), 2408765216);
    let full: [u8; 32] = Sha256::digest(signer.verifier().public_key()).into();
    assert_eq!(signer.verifier().full_key_id(), full);
    // The ECDSA key ID does not depend on the name.
    assert_eq!(
        NoteVerifier::ecdsa_p256("other.example/log", signer.verifier().public_key())
            .unwrap()
            .key_id(),
        2408765216
    );
    let vkey = signer.verifier().to_vkey();
    assert!(vkey.starts_with("testkey+8f92d720+A"), "{vkey}");
    assert_eq!(&NoteVerifier::from_vkey(&vkey).unwrap(), signer.verifier());

    let p384 = SigningKeyPair::generate(KeyAlgorithm::EcdsaP384).unwrap();
    assert!(NoteSigner::new("testkey", p384).is_err());
}

fn checkpoint() -> Checkpoint {
    let tree = tree(20_852);
    Checkpoint::new("log.warden.test/audit", tree.size(), tree.root().unwrap())
}

#[test]
fn checkpoints_round_trip_with_either_key_type() {
    for algorithm in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
        let signer = NoteSigner::new(
            "log.warden.test/audit",
            SigningKeyPair::generate(algorithm).unwrap(),
        )
        .unwrap();
        let mut checkpoint = checkpoint();
        let note = checkpoint.sign(&signer).unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        let root64 = STANDARD.encode(checkpoint.root);
        assert!(
            text.starts_with(&format!(
                "log.warden.test/audit\n20852\n{root64}\n\n\u{2014} log.warden.test/audit "
            )),
            "{text}"
        );
        let verifier = NoteVerifier::from_vkey(&signer.verifier().to_vkey()).unwrap();
        assert_eq!(
            Checkpoint::open(&note, "log.warden.test/audit", &verifier).unwrap(),
            checkpoint
        );
        assert!(matches!(
            Checkpoint::open(&note, "log.warden.test/other", &verifier),
            Err(TlogError::WrongOrigin { .. })
        ));

        checkpoint.extensions = vec!["ext one".into(), "ext two".into()];
        let note = checkpoint.sign(&signer).unwrap();
        assert_eq!(
            Checkpoint::open(&note, "log.warden.test/audit", &verifier).unwrap(),
            checkpoint
        );
    }
    let empty = Checkpoint::new("o", 0, empty_root());
    assert_eq!(
        Checkpoint::parse_text(&empty.to_text().unwrap()).unwrap(),
        empty
    );
}

#[test]
fn checkpoint_notes_are_refused_when_tampered_or_malformed() {
    let signer = peter();
    let other = NoteSigner::new(
        "PeterNeumann",
        SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap(),
    )
    .unwrap();
    let verifier = signer.verifier().clone();
    let checkpoint = Checkpoint::new("PeterNeumann", 7, leaf_hash(b"root"));
    let note = String::from_utf8(checkpoint.sign(&signer).unwrap()).unwrap();
    let open = |note: &str| Checkpoint::open(note.as_bytes(), "PeterNeumann", &verifier);
    open(&note).unwrap();

    // Wrong key: same name, another key ID, so the signature is not ours.
    let by_other = String::from_utf8(checkpoint.sign(&other).unwrap()).unwrap();
    assert!(matches!(open(&by_other), Err(TlogError::NotSigned { .. })));
    // Modified body.
    assert!(matches!(
        open(&note.replacen("\n7\n", "\n8\n", 1)),
        Err(TlogError::InvalidSignature { .. })
    ));
    // Our key ID on another key's signature: a known key, a bad signature.
    let other_line = &by_other[by_other.rfind("\n\n").unwrap() + 2..];
    let encoded = other_line.trim_end().rsplit(' ').next().unwrap();
    let mut raw = STANDARD.decode(encoded).unwrap();
    raw[..4].copy_from_slice(&signer.key_id().to_be_bytes());
    let bad_sig_line = format!("\u{2014} PeterNeumann {}\n", STANDARD.encode(raw));
    let (body, sig) = note.split_at(note.rfind("\n\n").unwrap() + 2);
    assert!(matches!(
        open(&format!("{body}{bad_sig_line}")),
        Err(TlogError::InvalidSignature { .. })
    ));
    // A second, valid signature does not excuse a bad one by the same key.
    assert!(open(&format!("{body}{sig}{bad_sig_line}")).is_err());
    // Unknown keys are ignored.
    let unknown = other_line.replacen("PeterNeumann", "Someone", 1);
    open(&format!("{body}{unknown}{sig}")).unwrap();

    // Bad signature lines.
    for bad in [
        note.replacen('\u{2014}', "-", 1),
        note.replacen("\u{2014} ", "\u{2014}", 1),
        note.replacen(" PeterNeumann ", " Peter+Neumann ", 1),
        note.replacen(" PeterNeumann ", " PeterNeumann  ", 1),
        note.trim_end_matches('\n').to_owned(),
        format!("{note}\n"),
        format!("{}\n", &note[..note.len() - 2]),
        format!("{body}\u{2014} PeterNeumann AAAA\n"),
        note.replacen("\n\n", "\n", 1),
        note.replacen("\n7\n", "\n7\r\n", 1),
    ] {
        assert!(open(&bad).is_err(), "{bad:?}");
        assert!(SignedNote::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    assert!(SignedNote::parse(b"text\n\n\xff\n").is_err());

    // Oversize and too many signatures.
    let long = format!("{}\n", "x".repeat(MAX_NOTE_BYTES));
    assert_eq!(
        SignedNote::parse(long.as_bytes()),
        Err(TlogError::NoteTooLarge)
    );
    assert_eq!(
        SignedNote::sign(&long, &[&signer]),
        Err(TlogError::NoteTooLarge)
    );
    let many = format!("{body}{}", sig.repeat(MAX_SIGNATURES));
    SignedNote::open(many.as_bytes(), &verifier).unwrap();
    let too_many = format!("{body}{}", sig.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        SignedNote::parse(too_many.as_bytes()),
        Err(TlogError::TooManySignatures)
    );

    // Checkpoint bodies.
    let root64 = STANDARD.encode(checkpoint.root);
    for bad in [
        format!("PeterNeumann\n07\n{root64}\n"),
        format!("PeterNeumann\n+7\n{root64}\n"),
        format!("PeterNeumann\n\n{root64}\n"),
        format!("PeterNeumann\n18446744073709551616\n{root64}\n"),
        format!("PeterNeumann\n7\n{}\n", STANDARD.encode([0u8; 31])),
        format!("PeterNeumann\n7\n{}\n", STANDARD.encode([0u8; 33])),
        format!("PeterNeumann\n7\n{}\n", root64.trim_end_matches('=')),
        format!("PeterNeumann\n7\n{root64}\n\next\n"),
        format!("\n7\n{root64}\n"),
        "PeterNeumann\n7\n".to_owned(),
        format!("PeterNeumann\n7\n{root64}"),
    ] {
        assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        Checkpoint::parse_text(&format!("PeterNeumann\n18446744073709551615\n{root64}\n"))
            .unwrap()
            .size,
        u64::MAX
    );
    assert!(Checkpoint::new("", 1, [0; 32]).to_text().is_err());
    assert!(Checkpoint::new("a\nb", 1, [0; 32]).to_text().is_err());
}

// ---------------------------------------------------------------------------------------------
// Exported logs (the rest is in `export_tests`).

/// The fuzz target's seed export is the one this log writes, and it verifies under the
/// PeterNeumann test key (the fuzz target's key), also with its size-2 checkpoint kept.
#[test]
fn the_fuzz_seed_export_is_reproducible_and_verifies() {
    let signer = peter();
    let sign = |size, root| {
        Checkpoint::new("PeterNeumann", size, root)
            .sign(&signer)
            .unwrap()
    };
    let mut tree = MemoryTree::new();
    let mut writer = ExportWriter::new(Vec::new(), "PeterNeumann").unwrap();
    writer.checkpoint(&sign(0, empty_root())).unwrap();
    let mut kept = Vec::new();
    for batch in [2u64, 1, 3] {
        for _ in 0..batch {
            let i = tree.size();
            let data = format!("{{\"index\":{i},\"event\":\"release\"}}");
            tree.append(data.as_bytes()).unwrap();
            writer
                .entry(i, &tree.leaf_hash(i).unwrap(), data.as_bytes())
                .unwrap();
        }
        let note = sign(tree.size(), tree.root().unwrap());
        writer.checkpoint(&note).unwrap();
        if tree.size() == 2 {
            kept = note;
        }
    }
    let export = writer.finish().unwrap();
    assert_eq!(
        export,
        include_bytes!("../../../fuzz/seeds/tlog_export/valid-6.jsonl")
    );
    let verifier = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    let summary = verify_export(&export[..], &verifier, &[&kept]).unwrap();
    assert_eq!(
        (summary.entries, summary.checkpoints, summary.kept_matched),
        (6, 4, 1)
    );
}
