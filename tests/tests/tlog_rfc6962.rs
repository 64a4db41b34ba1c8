//! Merkle roots and proofs (`warden_wire::tlog`) judged by code written apart from them:
//! `tests/interop/merkle_rfc6962.py`, the recursive MTH, PATH and SUBPROOF of RFC 6962 §2.1.
//! Both directions: every root, inclusion proof and consistency proof Warden makes for sizes
//! 1..=1000 must equal the judge's byte for byte, and every proof the judge makes at pairs of
//! its own choosing must pass Warden's verifiers (RFC 9162 §2.1.3.2, §2.1.4.2), which must
//! refuse each of them with a flipped bit, a wrong index or a wrong size.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::{Value, json};
use warden_tests::repo_root;
use warden_wire::tlog::{Hash, MemoryTree, leaf_hash, verify_consistency, verify_inclusion};

const MAX_SIZE: u64 = 1000;

/// SplitMix64: a fixed-seed generator, so every run checks the same pairs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `low..=high` for picking test pairs.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// Leaf `i`'s input: empty for leaf 0, then text and a few bytes of varying length.
fn leaf_data(i: u64) -> Vec<u8> {
    if i == 0 {
        return Vec::new();
    }
    let mut data = format!("warden audit entry {i}").into_bytes();
    data.extend((0..i % 5).map(|j| (i * 31 + j) as u8));
    data
}

fn to_hex(hashes: &[Hash]) -> Value {
    hashes.iter().map(hex::encode).collect()
}

fn from_hex(value: &Value) -> Hash {
    hex::decode(value.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn proof_of(value: &Value) -> Vec<Hash> {
    value.as_array().unwrap().iter().map(from_hex).collect()
}

/// How a log under test answers: the root at a size, PATH and PROOF.
struct Log<'a> {
    root: &'a dyn Fn(u64) -> Hash,
    inclusion: &'a dyn Fn(u64, u64) -> Vec<Hash>,
    consistency: &'a dyn Fn(u64, u64) -> Vec<Hash>,
}

/// Every root of `log` for sizes 0..=MAX_SIZE and its proofs at pairs `rng` picks (every index
/// for sizes up to 64), each checked by Warden's verifiers, then judged: the judge's own roots
/// and proofs are returned.
fn judged(log: &Log<'_>, rng: &mut SplitMix) -> (Vec<Hash>, Vec<Hash>, Value) {
    let leaves: Vec<Hash> = (0..MAX_SIZE).map(|i| leaf_hash(&leaf_data(i))).collect();
    let roots: Vec<Hash> = (0..=MAX_SIZE).map(|n| (log.root)(n)).collect();
    let mut inclusion = Vec::new();
    for size in 1..=MAX_SIZE {
        let indices: Vec<u64> = if size <= 64 {
            (0..size).collect()
        } else {
            (0..20).map(|_| rng.between(0, size - 1)).collect()
        };
        for index in indices {
            let proof = (log.inclusion)(index, size);
            verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &proof,
                &roots[size as usize],
            )
            .unwrap();
            inclusion.push(json!([index, size, to_hex(&proof)]));
        }
    }

    let mut consistency = Vec::new();
    let (mut equal, mut from_one) = (0, 0);
    for i in 0..2400 {
        let new = rng.between(1, MAX_SIZE);
        let old = match i % 6 {
            0 => new,
            1 => 1,
            _ => rng.between(1, new),
        };
        equal += usize::from(old == new);
        from_one += usize::from(old == 1);
        let proof = (log.consistency)(old, new);
        verify_consistency(old, new, &proof, &roots[old as usize], &roots[new as usize]).unwrap();
        consistency.push(json!([old, new, to_hex(&proof)]));
    }
    assert!(consistency.len() >= 2000 && equal > 0 && from_one > 0);

    let dir = tempfile::tempdir().unwrap();
    let (given, theirs) = (
        dir.path().join("warden.json"),
        dir.path().join("judge.json"),
    );
    let document = json!({
        "leaves": (0..MAX_SIZE).map(|i| hex::encode(leaf_data(i))).collect::<Vec<_>>(),
        "roots": to_hex(&roots),
        "inclusion": inclusion,
        "consistency": consistency,
    });
    std::fs::write(&given, serde_json::to_vec(&document).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(repo_root().join("tests/interop/merkle_rfc6962.py"))
        .arg(&given)
        .arg(&theirs)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "Warden sent {} roots, {} inclusion proofs, {} consistency proofs ({equal} with m = n, \
         {from_one} with m = 1)",
        roots.len(),
        document["inclusion"].as_array().unwrap().len(),
        document["consistency"].as_array().unwrap().len(),
    );
    let judged: Value = serde_json::from_slice(&std::fs::read(&theirs).unwrap()).unwrap();
    let their_roots: Vec<Hash> = judged["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(from_hex)
        .collect();
    assert_eq!(their_roots, roots);
    (leaves, roots, judged)
}

#[test]
fn roots_and_proofs_equal_an_rfc_6962_implementation_written_from_the_rfc_text() {
    let mut tree = MemoryTree::new();
    for i in 0..MAX_SIZE {
        tree.append(&leaf_data(i)).unwrap();
    }
    let mut rng = SplitMix(0x6962_9162);
    let (leaves, roots, judged) = judged(
        &Log {
            root: &|n| tree.root_at(n).unwrap(),
            inclusion: &|m, n| tree.inclusion_proof(m, n).unwrap(),
            consistency: &|m, n| tree.consistency_proof(m, n).unwrap(),
        },
        &mut rng,
    );

    // The judge's own proofs pass Warden's verifiers, and fail them when altered.
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut refuse = |result: Result<(), _>, what: &str| {
        assert!(result.is_err(), "accepted {what}");
        refused += 1;
    };
    for entry in judged["inclusion"].as_array().unwrap() {
        let (index, size) = (entry[0].as_u64().unwrap(), entry[1].as_u64().unwrap());
        let proof = proof_of(&entry[2]);
        let (leaf, root) = (leaves[index as usize], roots[size as usize]);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        accepted += 1;
        if !proof.is_empty() {
            let mut flipped = proof.clone();
            let at = rng.between(0, proof.len() as u64 - 1) as usize;
            flipped[at][rng.between(0, 31) as usize] ^= 1 << rng.between(0, 7);
            refuse(
                verify_inclusion(&leaf, index, size, &flipped, &root),
                &format!("a flipped bit in PATH({index}, {size})"),
            );
        }
        if size > 1 {
            let other = (index + 1 + rng.between(0, size - 2)) % size;
            refuse(
                verify_inclusion(&leaf, other, size, &proof, &root),
                &format!("PATH({index}, {size}) for index {other}"),
            );
        }
        // A wrong size, claimed with that size's root (a proof binds its size only through the
        // root, so a checkpoint's size and root are taken together).
        if size < MAX_SIZE {
            refuse(
                verify_inclusion(&leaf, index, size + 1, &proof, &roots[size as usize + 1]),
                &format!("PATH({index}, {size}) for size {}", size + 1),
            );
        }
        if size - 1 > index {
            refuse(
                verify_inclusion(&leaf, index, size - 1, &proof, &roots[size as usize - 1]),
                &format!("PATH({index}, {size}) for size {}", size - 1),
            );
        }
    }
    for entry in judged["consistency"].as_array().unwrap() {
        let (old, new) = (entry[0].as_u64().unwrap(), entry[1].as_u64().unwrap());
        let proof = proof_of(&entry[2]);
        let (old_root, new_root) = (roots[old as usize], roots[new as usize]);
        verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
        accepted += 1;
        if !proof.is_empty() {
            let mut flipped = proof.clone();
            let at = rng.between(0, proof.len() as u64 - 1) as usize;
            flipped[at][rng.between(0, 31) as usize] ^= 1 << rng.between(0, 7);
            refuse(
                verify_consistency(old, new, &flipped, &old_root, &new_root),
                &format!("a flipped bit in PROOF({old}, {new})"),
            );
        }
        // Wrong sizes, each claimed with the roots of the sizes claimed.
        let roots_of = |old: u64, new: u64| (roots[old as usize], roots[new as usize]);
        let mut wrong = vec![
            (old - 1, new),
            (old + 1, new),
            (old, new - 1),
            (old, new + 1),
        ];
        wrong.retain(|&(o, n)| o >= 1 && o <= n && n <= MAX_SIZE && (o, n) != (old, new));
        for (o, n) in wrong {
            let (o_root, n_root) = roots_of(o, n);
            refuse(
                verify_consistency(o, n, &proof, &o_root, &n_root),
                &format!("PROOF({old}, {new}) for sizes {o} and {n}"),
            );
        }
    }
    println!(
        "Warden's verifiers accepted {accepted} proofs from the judge and refused {refused} \
         altered ones (flipped bit, wrong index, wrong size)"
    );
    assert_eq!(leaf_hash(&leaf_data(0)), leaves[0]);
}

/// The same for the proofs the KBS serves: a log kept in the SQLite store, appended in batches
/// of 1 to 37 entries (as the group commit writes them), read back through O(log n) stored
/// nodes.
#[test]
fn store_backed_roots_and_proofs_equal_the_rfc_6962_implementation_too() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(warden_store::Store::open_sqlite(&dir.path().join("log.db")))
        .unwrap();
    runtime
        .block_on(store.create_log(&warden_store::NewLog {
            name: "judged".into(),
            origin: "judged".into(),
            algorithm: "ed25519".into(),
            sealed_key: vec![0],
            public_key: vec![0],
        }))
        .unwrap();
    let mut rng = SplitMix(0x5354_4f52);
    let mut size = 0;
    while size < MAX_SIZE {
        let batch = rng.between(1, 37).min(MAX_SIZE - size);
        runtime
            .block_on(store.append_log_entries(
                "judged",
                batch as usize,
                |_, index| leaf_data(index),
                |_, _| Ok(String::new()),
            ))
            .unwrap();
        size += batch;
    }
    judged(
        &Log {
            root: &|n| runtime.block_on(store.log_root("judged", n)).unwrap(),
            inclusion: &|m, n| {
                runtime
                    .block_on(store.log_inclusion_proof("judged", m, n))
                    .unwrap()
            },
            consistency: &|m, n| {
                runtime
                    .block_on(store.log_consistency_proof("judged", m, n))
                    .unwrap()
            },
        },
        &mut rng,
    );
}
