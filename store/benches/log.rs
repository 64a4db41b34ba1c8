//! Store-backed Merkle logs at 10^6 entries (issue 17's proof-generation figure, on disk): an
//! SQLite store in a temporary directory gets 10^6 audit-sized JSON entries (~200 bytes) in
//! batches of 512 through `append_log_entries`, each batch with an Ed25519-signed checkpoint as
//! the KBS writes them; the build rate is printed. Then: inclusion proof (random index) and
//! consistency proof (random old size) at size 10^6, the root at 10^6, and the latency of an
//! append of 1 entry (one commit, so one WAL fsync: `synchronous = FULL`) and of 512.
//! The in-memory figures to compare with: `cargo bench -p warden-wire --bench tlog`.
//!
//! `WARDEN_BENCH_LOG_SIZE` changes the size (a quick run); `TMPDIR` chooses the disk.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use warden_store::{NewLog, Store};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};
use warden_wire::tlog::{Checkpoint, Hash, NoteSigner, SignedNote};

const LOG: &str = "audit";
const ORIGIN: &str = "bench.warden.test/audit";
const BATCH: usize = 512;

fn log_size() -> u64 {
    std::env::var("WARDEN_BENCH_LOG_SIZE")
        .ok()
        .and_then(|size| size.parse().ok())
        .unwrap_or(1_000_000)
}

/// An audit-shaped release entry of about 200 bytes, numbered.
fn entry(index: u64) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"client":"10.0.0.7","index":{},"jti":"{:032x}","kind":"release","#,
            r#""policy_sha256":"{:064x}","resource":"demo/key/one","tee":"sample","#,
            r#""time":"2026-01-01T00:00:00Z"}}"#
        ),
        index,
        u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        index,
    )
    .into_bytes()
}

/// The checkpoint note, signed as the KBS signs it.
fn sign(signer: &NoteSigner, size: u64, root: &Hash) -> Result<String, String> {
    let text = Checkpoint::new(ORIGIN, size, *root)
        .to_text()
        .map_err(|e| e.to_string())?;
    let note = SignedNote::sign(&text, &[signer]).map_err(|e| e.to_string())?;
    String::from_utf8(note.to_bytes()).map_err(|e| e.to_string())
}

async fn append(store: &Store, signer: &NoteSigner, count: usize) {
    store
        .append_log_entries(
            LOG,
            count,
            |_, index| entry(index),
            |size, root| sign(signer, size, root),
        )
        .await
        .unwrap();
}

/// A deterministic pseudo-random sequence in `[1, bound)` (xorshift64).
fn next_below(state: &Cell<u64>, bound: u64) -> u64 {
    let mut x = state.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.set(x);
    1 + x % (bound - 1)
}

fn log(c: &mut Criterion) {
    let size = log_size();
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.db");
    let store = runtime.block_on(Store::open_sqlite(&path)).unwrap();
    let key = SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap();
    let public_key = key.public_key_bits().to_vec();
    let signer = NoteSigner::new(ORIGIN, key).unwrap();
    runtime
        .block_on(store.create_log(&NewLog {
            name: LOG.into(),
            origin: ORIGIN.into(),
            algorithm: "ed25519".into(),
            sealed_key: vec![0],
            public_key,
        }))
        .unwrap();

    let started = Instant::now();
    runtime.block_on(async {
        let mut appended = 0u64;
        while appended < size {
            let count = BATCH.min((size - appended) as usize);
            append(&store, &signer, count).await;
            appended += count as u64;
        }
    });
    let took = started.elapsed();
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "built a log of {size} entries ({} bytes each) in batches of {BATCH}: {:.1} s, \
         {:.0} entries/s, {:.1} ms per batch, store {:.0} MiB",
        entry(size / 2).len(),
        took.as_secs_f64(),
        size as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / size.div_ceil(BATCH as u64) as f64,
        bytes as f64 / (1024.0 * 1024.0),
    );

    let mut group = c.benchmark_group(format!("store_log_{size}"));
    let state = Cell::new(0x2545_f491_4f6c_dd1d);
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            let index = next_below(&state, size) - 1;
            runtime
                .block_on(store.log_inclusion_proof(LOG, index, size))
                .unwrap()
        })
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            let old = next_below(&state, size);
            runtime
                .block_on(store.log_consistency_proof(LOG, old, size))
                .unwrap()
        })
    });
    group.bench_function("root", |b| {
        b.iter(|| runtime.block_on(store.log_root(LOG, size)).unwrap())
    });
    // Appends grow the log past `size`; the proofs above are done by then.
    group.bench_function("append_1", |b| {
        b.iter(|| runtime.block_on(append(&store, &signer, 1)))
    });
    group.bench_function("append_512", |b| {
        b.iter(|| runtime.block_on(append(&store, &signer, BATCH)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // A 10^6-entry build comes first: keep the measurements short.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = log
}
criterion_main!(benches);
