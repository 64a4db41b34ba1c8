//! Signed notes, checkpoints and Merkle proofs from untrusted bytes (what `audit verify`, proof
//! endpoints and clients of the logs read).
//!
//! Properties: parsing and verifying return errors, never panic; a note that parses is written
//! back byte for byte, and so is a checkpoint text; any proof a tree hands out for an index and
//! sizes taken from the input verifies; the proof verifiers take arbitrary indexes, sizes, roots
//! and proof lengths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::tlog::{
    Checkpoint, Hash, MemoryTree, NoteVerifier, SignedNote, verify_consistency, verify_inclusion,
};

/// The verifier key of the C2SP signed-note example (a fixed, known key).
const VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(slice) = data.get(at..at + 8) {
        bytes.copy_from_slice(slice);
    }
    u64::from_le_bytes(bytes)
}

fuzz_target!(|data: &[u8]| {
    // Notes and checkpoints.
    if let Ok(note) = SignedNote::parse(data) {
        assert_eq!(note.to_bytes(), data);
        if let Ok(checkpoint) = Checkpoint::parse_text(note.text()) {
            assert_eq!(checkpoint.to_text().unwrap(), note.text());
        }
    }
    let verifier = NoteVerifier::from_vkey(VKEY).unwrap();
    let _ = Checkpoint::open(data, "example.com/foo", &verifier);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = NoteVerifier::from_vkey(text);
        if let Ok(checkpoint) = Checkpoint::parse_text(text) {
            assert_eq!(checkpoint.to_text().unwrap(), text);
        }
    }

    // Proof verifiers on arbitrary input: index/old size, size/new size, then 32-byte hashes
    // (the first two are the leaf or old root and the root, the rest the proof).
    let (first, second) = (u64_at(data, 0), u64_at(data, 8));
    let hashes: Vec<Hash> = data
        .get(16..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|chunk| chunk.try_into().unwrap())
        .collect();
    let (a, b) = (
        hashes.first().copied().unwrap_or_default(),
        hashes.get(1).copied().unwrap_or_default(),
    );
    let proof = hashes.get(2..).unwrap_or_default();
    let _ = verify_inclusion(&a, first, second, proof, &b);
    let _ = verify_consistency(first, second, proof, &a, &b);

    // Proofs a small tree hands out for sizes from the input always verify.
    let mut tree = MemoryTree::new();
    for i in 0..37u8 {
        tree.append(&[i]).unwrap();
    }
    let (index, size) = (first % 40, second % 40);
    if let Ok(proof) = tree.inclusion_proof(index, size) {
        let leaf = tree.leaf_hash(index).unwrap();
        let root = tree.root_at(size).unwrap();
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
    }
    if let Ok(proof) = tree.consistency_proof(index, size) {
        let old = tree.root_at(index).unwrap();
        let new = tree.root_at(size).unwrap();
        verify_consistency(index, size, &proof, &old, &new).unwrap();
    }
});
