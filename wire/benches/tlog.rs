//! Transparency-log proofs at 10^6 entries (issue 17's proof-generation figure): generating an
//! inclusion and a consistency proof from the stored complete subtrees, and verifying them.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use warden_wire::tlog::{MemoryTree, leaf_hash, verify_consistency, verify_inclusion};

const SIZE: u64 = 1_000_000;

fn tlog(c: &mut Criterion) {
    let mut tree = MemoryTree::new();
    for i in 0..SIZE {
        tree.append(&i.to_be_bytes()).unwrap();
    }
    let root = tree.root().unwrap();
    let index: u64 = 765_432;
    let leaf = leaf_hash(&index.to_be_bytes());
    c.bench_function("tlog_1e6/inclusion_proof", |b| {
        b.iter(|| tree.inclusion_proof(index, SIZE).unwrap())
    });
    let proof = tree.inclusion_proof(index, SIZE).unwrap();
    c.bench_function("tlog_1e6/verify_inclusion", |b| {
        b.iter(|| verify_inclusion(&leaf, index, SIZE, &proof, &root).unwrap())
    });
    let old = 654_321;
    let old_root = tree.root_at(old).unwrap();
    c.bench_function("tlog_1e6/consistency_proof", |b| {
        b.iter(|| tree.consistency_proof(old, SIZE).unwrap())
    });
    let consistency = tree.consistency_proof(old, SIZE).unwrap();
    c.bench_function("tlog_1e6/verify_consistency", |b| {
        b.iter(|| verify_consistency(old, SIZE, &consistency, &old_root, &root).unwrap())
    });
    c.bench_function("tlog_1e6/root", |b| b.iter(|| tree.root().unwrap()));
}

criterion_group!(benches, tlog);
criterion_main!(benches);
