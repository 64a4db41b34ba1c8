//! The audit log end to end, with the real binaries: every kind of entry written by real
//! operations (attestation, release, refusal, admin change, certificate, signature), exported
//! and re-checked offline by `warden-kbs audit verify`, which names each tampering; a history
//! rewritten from a backup is caught against a checkpoint kept from before; and a KBS killed
//! with SIGKILL during 64 concurrent releases has an audit entry for every secret it released.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use warden_tests::signing::{
    BUILDER, Work, set_signing_policy, sign_args, signing_cert_args, signing_kbs, signing_policy,
    text,
};
use warden_tests::{Kbs, KbsOptions, RawClient};

const SECRET: &[u8] = b"the tenant's database password";

/// The `jti` of an attestation token.
fn jti(token: &str) -> String {
    warden_tests::token_claims(token)["jti"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `warden-kbs audit export` of the audit log into `out`.
fn export(kbs: &Kbs, out: &Path) {
    let output = kbs.audit(&["export", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
}

/// `warden-kbs audit verify` of `export` with the key `init` wrote and the kept checkpoints.
fn verify(kbs: &Kbs, export: &Path, kept: &[&Path]) -> Output {
    let key = kbs.home().join("audit-log.vkey");
    let mut args = vec!["verify", "--key", key.to_str().unwrap()];
    for path in kept {
        args.extend(["--previous", path.to_str().unwrap()]);
    }
    args.push(export.to_str().unwrap());
    kbs.audit(&args)
}

/// Asserts `verify` refused with exit 1 and a message containing every one of `needles`.
fn refused(output: Output, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

/// The entries of an export, parsed, in order.
fn entries(export: &Path) -> Vec<Value> {
    std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            line["entry"]
                .as_str()
                .map(|e| serde_json::from_str(e).unwrap())
        })
        .collect()
}

/// The export's lines, and the line numbers (0-based) of its entries by index.
fn lines(export: &Path) -> (Vec<String>, Vec<usize>) {
    let lines: Vec<String> = std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let positions = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("\"entry\":"))
        .map(|(at, _)| at)
        .collect();
    (lines, positions)
}

fn write_lines(work: &Work, name: &str, lines: &[String]) -> PathBuf {
    work.write(name, lines.join("\n") + "\n")
}

/// Counts the entries `audit search` finds with `args`.
fn search(kbs: &Kbs, export: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search"];
    all.extend(args);
    all.push(export.to_str().unwrap());
    let output = kbs.audit(&all);
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_entry_is_logged_verified_offline_and_each_tampering_is_named() {
    let work = Work::default();
    let mut kbs = signing_kbs(KbsOptions::default());
    // Admin changes: a secret, reference values and a release policy for `tenant`; another
    // secret no policy releases to the sample TEE.
    kbs.provision_sample("tenant/app/key", SECRET, "tenant");
    let other = work.write("other.bin", b"not for the sample TEE");
    let set_other = |kbs: &Kbs| {
        kbs.admin(&[
            "resource",
            "set",
            "other/app/key",
            "--file",
            other.to_str().unwrap(),
        ])
    };
    set_other(&kbs);
    // An attestation, a release and a refusal.
    let client = RawClient::new(&kbs);
    let token = client.attest().await;
    let (status, envelope) = client
        .get("/kbs/v0/resource/tenant/app/key", Some(&token))
        .await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);
    let (status, _) = client
        .get("/kbs/v0/resource/other/app/key", Some(&token))
        .await;
    assert_eq!(status, 403);
    // A failed attestation is no entry (anyone can fail one): evidence bound to another nonce.
    let (_, challenge) = client.auth().await;
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let (status, _) = client
        .post(
            "/kbs/v0/attest",
            client.attestation(&nonce, "another nonce"),
        )
        .await;
    assert_eq!(status, 401);
    // A certificate refused by the shipped signing policy, then one issued and a signature
    // made (the sample build is INSECURE; the policy allows it here).
    let key = work.path("build.key");
    let cert = work.path("build.pem");
    let certificate = || kbs.agent(&signing_cert_args(&key, &cert));
    assert_eq!(certificate().status.code(), Some(1));
    std::fs::remove_file(&key).ok();
    set_signing_policy(&kbs, &work, &signing_policy("sample", true));
    let output = certificate();
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
    let artifact = work.write("app.tar", b"the artifact");
    let bundle = work.path("app.tar.sigstore.json");
    let output = kbs.agent(&sign_args(&key, &cert, "--artifact", &artifact, &bundle));
    assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());

    // Deleting what is not there changes nothing, and is no entry.
    let output = kbs.try_admin(&["signing", "delete-key", "nonesuch"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("404"), "{}", text(&output));

    let exported = work.path("audit.jsonl");
    export(&kbs, &exported);
    let output = verify(&kbs, &exported, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let logged = entries(&exported);
    assert!(
        logged.iter().all(|e| e["target"] != "nonesuch"),
        "{logged:#?}"
    );
    println!(
        "{} ({} entries)",
        String::from_utf8_lossy(&output.stdout).trim(),
        logged.len()
    );
    let kinds: BTreeSet<&str> = logged.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "admin-change",
            "attestation",
            "release",
            "release-refused",
            "signing-refused",
            "certificate",
            "signature",
        ])
    );
    for kind in kinds {
        let found = search(&kbs, &exported, &["--kind", kind]);
        assert!(!found.is_empty(), "search found no {kind} entry");
    }
    // Searches by token, resource, builder and time find what they should.
    let by_token = search(&kbs, &exported, &["--token", &jti(&token)]);
    let kinds: BTreeSet<&str> = by_token
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["attestation", "release", "release-refused"])
    );
    let released = search(
        &kbs,
        &exported,
        &["--kind", "release", "--resource", "tenant/app/key"],
    );
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["policy"], "release:tenant");
    assert!(
        !std::fs::read_to_string(&exported)
            .unwrap()
            .contains("database password"),
        "a secret reached the audit log"
    );
    let signed = search(&kbs, &exported, &["--builder", BUILDER]);
    assert_eq!(signed.len(), 2, "{signed:#?}");
    assert!(search(&kbs, &exported, &["--until", "2000-01-01T00:00:00Z"]).is_empty());
    let admin = search(&kbs, &exported, &["--kind", "admin-change"]);
    assert!(
        admin
            .iter()
            .any(|e| e["action"] == "put-resource" && e["target"] == "other/app/key"),
        "{admin:#?}"
    );

    // Each tampering of the export is refused, naming the first bad index.
    let (original, at) = lines(&exported);
    let release_index = released[0]["index"].as_u64().unwrap() as usize;
    let mut changed = original.clone();
    changed[at[release_index]] =
        changed[at[release_index]].replace("tenant/app/key", "tenant/app/kez");
    refused(
        verify(&kbs, &write_lines(&work, "changed.jsonl", &changed), &[]),
        &[&format!("entry {release_index} was changed")],
    );
    let mut removed = original.clone();
    removed.remove(at[2]);
    refused(
        verify(&kbs, &write_lines(&work, "removed.jsonl", &removed), &[]),
        // Entry 2's batch checkpoint now follows entry 1: the gap is named at index 2.
        &[
            "checkpoint of size 3 after 2 entries",
            "missing or extra after size 2",
        ],
    );
    let mut reordered = original.clone();
    reordered.swap(at[2], at[3]);
    refused(
        verify(
            &kbs,
            &write_lines(&work, "reordered.jsonl", &reordered),
            &[],
        ),
        &["entry 3 where entry 2 is due"],
    );
    let truncated = &original[..original.len() - 1];
    refused(
        verify(&kbs, &write_lines(&work, "truncated.jsonl", truncated), &[]),
        &["without a checkpoint"],
    );

    // A history rewritten from a backup: the log key signs both, and a checkpoint kept from the
    // first exposes the second.
    assert!(kbs.terminate(Duration::from_secs(10)).is_some());
    let backup = work.path("backup");
    kbs.backup_store(&backup);
    kbs.start_again();
    let client = RawClient::new(&kbs);
    let token = client.attest().await;
    let (status, _) = client
        .get("/kbs/v0/resource/tenant/app/key", Some(&token))
        .await;
    assert_eq!(status, 200);
    let history_a = work.path("a.jsonl");
    export(&kbs, &history_a);
    let kept = work.path("a.checkpoint");
    let output = kbs.audit(&[
        "verify",
        "--key",
        kbs.home().join("audit-log.vkey").to_str().unwrap(),
        "--checkpoint-out",
        kept.to_str().unwrap(),
        history_a.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(kbs.terminate(Duration::from_secs(10)).is_some());
    kbs.restore_store(&backup);
    kbs.start_again();
    // The rewritten history: the release never happened; two other admin changes instead.
    kbs.admin(&["resource", "delete", "other/app/key"]);
    set_other(&kbs);
    let history_b = work.path("b.jsonl");
    export(&kbs, &history_b);
    let output = verify(&kbs, &history_b, &[]);
    assert!(
        output.status.success(),
        "on its own, B is a log: {}",
        text(&output)
    );
    let (b_lines, b_at) = lines(&history_b);
    let (a_lines, _) = lines(&history_a);
    assert_eq!(
        b_at.len(),
        entries(&history_a).len(),
        "A and B have one size"
    );
    refused(
        verify(&kbs, &history_b, &[&kept]),
        &["is inconsistent with the log", "signed two histories"],
    );
    // A's final checkpoint put beside B's own of the same size: a fork, both lines named.
    let mut forked = b_lines.clone();
    forked.push(a_lines.last().unwrap().clone());
    refused(
        verify(&kbs, &write_lines(&work, "forked.jsonl", &forked), &[]),
        &["fork:"],
    );
}

/// One full round (auth, attest, resource, decrypt) that never panics: the KBS may die under
/// it. The token's `jti` once the secret is in hand.
async fn round(client: &RawClient) -> Option<String> {
    let answer = |response: reqwest::Response| async move {
        if !response.status().is_success() {
            return None;
        }
        response.json::<Value>().await.ok()
    };
    let request = json!({"version": "0.4.0", "tee": "sample", "extra-params": {}});
    let auth = client
        .http
        .post(format!("{}/kbs/v0/auth", client.url))
        .json(&request)
        .send()
        .await
        .ok()?;
    let challenge = answer(auth).await?;
    let nonce = challenge["nonce"].as_str()?.to_owned();
    let attest = client
        .http
        .post(format!("{}/kbs/v0/attest", client.url))
        .json(&client.attestation(&nonce, &nonce))
        .send()
        .await
        .ok()?;
    let token = answer(attest).await?["token"].as_str()?.to_owned();
    let resource = client
        .http
        .get(format!("{}/kbs/v0/resource/tenant/app/key", client.url))
        .send()
        .await
        .ok()?;
    let envelope = answer(resource).await?;
    assert_eq!(client.decrypt(&envelope), SECRET);
    Some(jti(&token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_during_64_concurrent_releases_every_released_secret_has_its_audit_entry() {
    let work = Work::default();
    let mut kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("tenant/app/key", SECRET, "tenant");
    let released: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..64u8 {
        // Eight source addresses: within the per-client connection limit.
        let source = std::net::IpAddr::from([127, 0, 0, 2 + i % 8]);
        let client = RawClient::from_address(&kbs, source);
        let (released, stop) = (released.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match round(&client).await {
                    Some(jti) => released.lock().unwrap().push(jti),
                    None => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while released.lock().unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL with 64 rounds in flight; the clients' next requests fail and they stop.
    kbs.crash_and_restart();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = released.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 300,
        "only {} releases",
        acknowledged.len()
    );

    let exported = work.path("audit.jsonl");
    export(&kbs, &exported);
    let output = verify(&kbs, &exported, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let logged: BTreeSet<String> = entries(&exported)
        .iter()
        .filter(|e| e["kind"] == "release")
        .map(|e| e["jti"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|j| !logged.contains(*j))
        .collect();
    println!(
        "{} secrets released before the kill, {} release entries after restart, {} released without an entry; {}",
        acknowledged.len(),
        logged.len(),
        missing.len(),
        String::from_utf8_lossy(&output.stdout).trim()
    );
    assert!(
        missing.is_empty(),
        "released without an audit entry: {missing:?}"
    );
    // The restarted KBS keeps appending to the same log.
    let client = RawClient::new(&kbs);
    assert!(round(&client).await.is_some());
    export(&kbs, &exported);
    assert!(verify(&kbs, &exported, &[]).status.success());
}

/// `GET` with an optional bearer token: the status and the body as text.
async fn get_text(kbs: &Kbs, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut request = kbs.http().get(format!("{}{path}", kbs.url));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `GET` as `bearer` that must answer 200 with JSON.
async fn get_json(kbs: &Kbs, path: &str, bearer: &str) -> Value {
    let (status, body) = get_text(kbs, path, Some(bearer)).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn hash(text: &Value) -> warden_wire::tlog::Hash {
    hex::decode(text.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_endpoints_serve_checkable_proofs_and_refuse_bad_queries_with_400() {
    use warden_wire::tlog::{Checkpoint, NoteVerifier, verify_consistency, verify_inclusion};
    let kbs = signing_kbs(KbsOptions::default());
    kbs.provision_sample("tenant/app/key", SECRET, "tenant");
    let client = RawClient::new(&kbs);
    for _ in 0..3 {
        let token = client.attest().await;
        let (status, _) = client
            .get("/kbs/v0/resource/tenant/app/key", Some(&token))
            .await;
        assert_eq!(status, 200);
    }
    let reader = kbs.admin_token("reader");
    let audit = |path: &str| format!("/kbs/v0/log/audit/{path}");

    // The audit log is for administrators; the signing log is public.
    assert_eq!(get_text(&kbs, &audit("checkpoint"), None).await.0, 401);
    let (status, note) = get_text(&kbs, "/kbs/v0/log/signing/checkpoint", None).await;
    assert_eq!(status, 200, "{note}");
    let signing_key = std::fs::read_to_string(kbs.home().join("signing/signing-log.vkey")).unwrap();
    let signing = NoteVerifier::from_vkey(signing_key.trim()).unwrap();
    Checkpoint::open(note.as_bytes(), signing.name(), &signing).unwrap();

    // The checkpoint verifies with the key init wrote; every proof leads to its root.
    let key = std::fs::read_to_string(kbs.home().join("audit-log.vkey")).unwrap();
    let verifier = NoteVerifier::from_vkey(key.trim()).unwrap();
    let (status, note) = get_text(&kbs, &audit("checkpoint"), Some(&reader)).await;
    assert_eq!(status, 200, "{note}");
    let checkpoint = Checkpoint::open(note.as_bytes(), verifier.name(), &verifier).unwrap();
    let size = checkpoint.size;
    assert!(
        size >= 9,
        "three admin changes and three rounds of two entries: {size}"
    );
    let page = get_json(&kbs, &audit("entries?start=0&limit=4"), &reader).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 4);
    assert_eq!(page["next"], 4);
    for index in 0..size {
        let proof = get_json(
            &kbs,
            &audit(&format!("proof/inclusion?index={index}")),
            &reader,
        )
        .await;
        assert_eq!(proof["checkpoint"], note.as_str());
        let entry = get_json(
            &kbs,
            &audit(&format!("entries?start={index}&limit=1")),
            &reader,
        )
        .await;
        let data = base64::engine::general_purpose::STANDARD
            .decode(entry["entries"][0]["entry"].as_str().unwrap())
            .unwrap();
        let leaf = warden_wire::tlog::leaf_hash(&data);
        assert_eq!(hex::encode(leaf), entry["entries"][0]["leaf"]);
        let path: Vec<_> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        verify_inclusion(&leaf, index, size, &path, &checkpoint.root).unwrap();
        // By leaf hash, the same entry.
        let by_leaf = get_json(
            &kbs,
            &audit(&format!("proof/inclusion?leaf={}", hex::encode(leaf))),
            &reader,
        )
        .await;
        assert_eq!(by_leaf["index"], index);
        if index > 0 {
            let old = get_json(
                &kbs,
                &audit(&format!("proof/inclusion?index=0&size={index}")),
                &reader,
            )
            .await;
            let old_root = hash(&old["root"]);
            let consistency = get_json(
                &kbs,
                &audit(&format!("proof/consistency?old={index}&new={size}")),
                &reader,
            )
            .await;
            let path: Vec<_> = consistency["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(hash)
                .collect();
            verify_consistency(index, size, &path, &old_root, &checkpoint.root).unwrap();
        }
    }

    // Bad queries: 400 with the reason.
    for (query, reason) in [
        (format!("proof/inclusion?index={size}"), "out of range"),
        (
            format!("proof/inclusion?index=0&size={}", size + 1),
            "out of range",
        ),
        ("proof/inclusion?index=-1".to_owned(), "unsigned decimal"),
        ("proof/inclusion?index=1e3".to_owned(), "unsigned decimal"),
        ("proof/inclusion?leaf=zz".to_owned(), "64 hex digits"),
        ("proof/inclusion?leaf=00ff".to_owned(), "64 hex digits"),
        ("proof/inclusion?index=0&leaf=00".to_owned(), "exactly one"),
        ("proof/inclusion".to_owned(), "exactly one"),
        (
            format!("proof/consistency?old={size}&new=1"),
            "out of range",
        ),
        (
            format!("proof/consistency?old=1&new={}", size + 1),
            "out of range",
        ),
        ("proof/consistency".to_owned(), "old is required"),
        ("entries?limit=1001".to_owned(), "limit must be 1 to 1000"),
        ("entries?limit=0".to_owned(), "limit must be 1 to 1000"),
        (
            format!("entries?start={}", size + 1),
            "beyond the log's size",
        ),
        (
            "entries?start=99999999999999999999999".to_owned(),
            "unsigned decimal",
        ),
    ] {
        let (status, body) = get_text(&kbs, &audit(&query), Some(&reader)).await;
        assert_eq!(status, 400, "{query}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(
            body["type"].as_str().unwrap().ends_with("LogQueryInvalid"),
            "{query}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(reason),
            "{query}: {body}"
        );
    }
    let missing = format!("proof/inclusion?leaf={}", "00".repeat(32));
    assert_eq!(get_text(&kbs, &audit(&missing), Some(&reader)).await.0, 404);
    let (status, _) = get_text(&kbs, "/kbs/v0/log/nonesuch/checkpoint", None).await;
    assert_eq!(status, 404);
}

/// Renames a table of the KBS's store under it: every write of the logs then fails, as on a
/// full or broken disk.
async fn rename_table(kbs: &Kbs, from: &str, to: &str) {
    let store = kbs.open_store().await;
    warden_store::testing::execute(&store, &format!("ALTER TABLE {from} RENAME TO {to}"))
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_audit_log_cannot_be_written_nothing_is_released_attested_or_changed() {
    let work = Work::default();
    let kbs = Kbs::start(KbsOptions::default());
    kbs.provision_sample("tenant/app/key", SECRET, "tenant");
    let client = RawClient::new(&kbs);
    let token = client.attest().await;
    let exported = work.path("before.jsonl");
    export(&kbs, &exported);
    let before = entries(&exported).len();

    rename_table(&kbs, "log_checkpoints", "log_checkpoints_away").await;
    let (status, body) = client
        .get("/kbs/v0/resource/tenant/app/key", Some(&token))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["type"].as_str().unwrap().ends_with("LogUnavailable"),
        "{body}"
    );
    assert!(body.get("ciphertext").is_none(), "{body}");
    let (status, challenge) = client.auth().await;
    assert_eq!(status, 200);
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let (status, body) = client
        .post("/kbs/v0/attest", client.attestation(&nonce, &nonce))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("token").is_none(), "{body}");
    let changed = work.write("changed.bin", b"a value that must not land unlogged");
    let output = kbs.try_admin(&[
        "resource",
        "set",
        "tenant/app/key",
        "--file",
        changed.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("503"), "{}", text(&output));

    // Back: the secret is the old one, and the log has no trace of a half-written batch.
    rename_table(&kbs, "log_checkpoints_away", "log_checkpoints").await;
    let token = client.attest().await;
    let (status, envelope) = client
        .get("/kbs/v0/resource/tenant/app/key", Some(&token))
        .await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);
    export(&kbs, &exported);
    let output = verify(&kbs, &exported, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let after = entries(&exported);
    let kinds: Vec<&str> = after[before..]
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["attestation", "release"], "{after:#?}");
}
