//! `warden-kbs migrate` end to end: a KBS's populated store (secrets, release policies,
//! reference values, the audit log, and on SQLite the signing authority, a named key, an
//! issued certificate and the signing log) moved to the other backend — SQLite into a fresh
//! PostgreSQL database, or back when the suite runs on PostgreSQL — then the KBS restarted on
//! the copy: the secret decrypts to a new attested session, the policies and reference values
//! are in force, and the audit log goes on from where it was, verified against a checkpoint
//! kept before the move.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use warden_tests::signing::{
    Work, set_signing_policy, sign_args, signing_cert_args, signing_kbs, signing_policy, text,
};
use warden_tests::{Kbs, KbsOptions, RawClient, binary};

const SECRET: &[u8] = b"the tenant's database password";

/// The `ear.status` of an attestation token's first submodule.
fn status(token: &str) -> String {
    warden_tests::token_claims(token)["submods"]["cpu0"]["ear.status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new session's attempt at `path`: its token's status, and the secret or the HTTP status.
async fn fetch(kbs: &Kbs, path: &str) -> (String, Result<Vec<u8>, u16>) {
    let client = RawClient::new(kbs);
    let token = client.attest().await;
    let (code, envelope) = client
        .get(&format!("/kbs/v0/resource/{path}"), Some(&token))
        .await;
    let outcome = match code {
        200 => Ok(client.decrypt(&envelope)),
        refused => Err(refused),
    };
    (status(&token), outcome)
}

/// The entry lines of an audit export, in order.
fn entry_lines(export: &Path) -> Vec<String> {
    std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .filter(|line| line.contains("\"entry\":"))
        .map(str::to_owned)
        .collect()
}

fn audit_ok(kbs: &Kbs, args: &[&str]) -> String {
    let output = kbs.audit(args);
    assert!(output.status.success(), "audit {args:?}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn migrate(config: &Path, to: &str) -> std::process::Output {
    Command::new(binary("warden-kbs"))
        .args(["migrate", "--config"])
        .arg(config)
        .args(["--to", to])
        .env_remove("WARDEN_MASTER_KEY")
        .output()
        .unwrap()
}

/// The password in a `postgres://user:password@…` URL.
fn password(url: &str) -> Option<&str> {
    let userinfo = url.split_once("://")?.1.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

/// What the store at `location` holds sealed: resources, keys (signing and service) and logs.
async fn stored_secrets(location: warden_store::StoreLocation) -> (usize, usize, usize) {
    use warden_store::SigningKeyRole::{Ca, Ct, Named, Tsa};
    let store = warden_store::Store::open(&location, &Default::default())
        .await
        .unwrap();
    let mut keys = store.service_keys().await.unwrap().len();
    for role in [Ca, Tsa, Ct, Named] {
        keys += store.signing_keys(role).await.unwrap().len();
    }
    let counts = (
        store.list_resources().await.unwrap().len(),
        keys,
        store.log_names().await.unwrap().len(),
    );
    store.close().await;
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_populated_store_moves_to_the_other_backend_and_the_kbs_goes_on_from_it() {
    let server = warden_store::testing::postgres_url().unwrap_or_else(|| {
        panic!(
            "{} must name a PostgreSQL server (`scripts/postgres.sh start DIR` prints one; scripts/test.sh sets it)",
            warden_store::testing::POSTGRES_ENV
        )
    });
    let work = Work::default();
    let from_sqlite = !warden_store::testing::on_postgres();
    // Reference values must live in the KBS's own store, not a verifier service's.
    let options = KbsOptions {
        remote_verifier: false,
        ..KbsOptions::default()
    };
    // `init` puts the signing authority in the SQLite store it writes; a KBS started on
    // PostgreSQL has none to sign with, so it runs without `[signing]`.
    let mut kbs = if from_sqlite {
        signing_kbs(options)
    } else {
        Kbs::start(options)
    };

    // Secrets, reference values and a release policy for `tenant/`; a secret no policy
    // releases to the sample TEE; an attestation, a release and a refusal in the audit log.
    kbs.provision_sample("tenant/app/key", SECRET, "tenant/");
    let other = work.write("other.bin", b"not for the sample TEE");
    kbs.admin(&[
        "resource",
        "set",
        "other/app/key",
        "--file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(
        fetch(&kbs, "tenant/app/key").await,
        ("affirming".into(), Ok(SECRET.to_vec()))
    );
    assert_eq!(fetch(&kbs, "other/app/key").await.1, Err(403));
    // Reference values the sample evidence does not meet: appraisals become warnings.
    kbs.set_reference_value("sample", r#"{"min_svn": 9}"#);
    assert_eq!(
        fetch(&kbs, "tenant/app/key").await,
        ("warning".into(), Err(403))
    );
    let (key, cert) = (work.path("build.key"), work.path("build.pem"));
    if from_sqlite {
        // A named key, a certificate issued and a signature in the signing log.
        kbs.admin(&["signing", "create-key", "release"]);
        set_signing_policy(&kbs, &work, &signing_policy("sample", true));
        kbs.set_reference_value("sample", r#"{"min_svn": 1}"#);
        let output = kbs.agent(&signing_cert_args(&key, &cert));
        assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
        let artifact = work.write("app.tar", b"the artifact");
        let bundle = work.path("app.tar.sigstore.json");
        let output = kbs.agent(&sign_args(&key, &cert, "--artifact", &artifact, &bundle));
        assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
        kbs.set_reference_value("sample", r#"{"min_svn": 9}"#);
    }

    // The audit log before the move: its key, an export and its final checkpoint, kept.
    let vkey = work.write("audit.vkey", audit_ok(&kbs, &["key"]));
    let before = work.path("before.jsonl");
    audit_ok(&kbs, &["export", "--out", before.to_str().unwrap()]);
    let kept = work.path("before.checkpoint");
    audit_ok(
        &kbs,
        &[
            "verify",
            "--key",
            vkey.to_str().unwrap(),
            "--checkpoint-out",
            kept.to_str().unwrap(),
            before.to_str().unwrap(),
        ],
    );
    let entries_before = entry_lines(&before);
    assert!(kbs.terminate(Duration::from_secs(10)).is_some());

    // The move: SQLite into a fresh PostgreSQL database, or PostgreSQL into a new SQLite file.
    let target = if from_sqlite {
        warden_store::testing::fresh_postgres_database(&server)
            .await
            .unwrap()
    } else {
        format!("sqlite:{}", kbs.home().join("data/migrated.db").display())
    };
    let config = kbs.home().join("kbs.toml");
    let started = std::time::Instant::now();
    let output = migrate(&config, &target);
    let elapsed = started.elapsed();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("warden-kbs migrate --config kbs.toml --to <target> ({elapsed:?}):\n{printed}");
    assert!(output.status.success(), "{}", text(&output));
    for url in [&target, &server] {
        if let Some(password) = password(url) {
            assert!(!printed.contains(password), "a password was printed");
        }
    }
    let summary = printed
        .lines()
        .last()
        .unwrap()
        .strip_prefix("migrated: ")
        .expect("the summary line");
    let (resources, keys, logs) = stored_secrets(kbs.store_location()).await;
    if from_sqlite {
        assert_eq!((resources, keys, logs), (2, 4, 2), "CA, TSA, CT, named key");
    }
    assert!(
        summary.ends_with(&format!(
            "rows; {resources} resources, {keys} keys, {logs} logs unseal with the master key"
        )),
        "{summary}"
    );
    let shown = warden_store::redact(&target);
    assert!(printed.contains(&format!("url = \"{shown}\"")), "{printed}");
    // Nothing is copied twice: the copy is not empty any more.
    let again = migrate(&config, &target);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the target store is not empty"),
        "{}",
        text(&again)
    );

    // The KBS on the copy, as the migrate output says.
    let toml = std::fs::read_to_string(&config).unwrap();
    let (head, rest) = toml.split_once("[store]\n").unwrap();
    let (_, tail) = rest.split_once('\n').unwrap();
    std::fs::write(
        &config,
        format!("{head}[store]\nurl = \"{target}\"\n{tail}"),
    )
    .unwrap();
    kbs.start_again();
    // The stricter reference value is in force (a warning, refused); the release policy and
    // the secret are there once the sample evidence meets the reference values again.
    assert_eq!(
        fetch(&kbs, "tenant/app/key").await,
        ("warning".into(), Err(403))
    );
    kbs.set_reference_value("sample", r#"{"min_svn": 1}"#);
    assert_eq!(
        fetch(&kbs, "tenant/app/key").await,
        ("affirming".into(), Ok(SECRET.to_vec()))
    );
    assert_eq!(fetch(&kbs, "other/app/key").await.1, Err(403));
    let listed =
        String::from_utf8_lossy(&kbs.admin(&["reference-value", "list"]).stdout).into_owned();
    assert!(listed.contains("min_svn"), "{listed}");
    if from_sqlite {
        // The CA unsealed from the copy certifies a new key; the named key is listed.
        std::fs::remove_file(&key).unwrap();
        let output = kbs.agent(&signing_cert_args(&key, &cert));
        assert!(output.status.success(), "{}\n{}", text(&output), kbs.log());
        let keys = kbs.admin(&["signing", "list-keys"]);
        assert!(String::from_utf8_lossy(&keys.stdout).contains("release"));
    }

    // The audit log went on: the old entries unchanged, new ones after them, consistent with
    // the checkpoint kept before the move and signed by the same key.
    let after = work.path("after.jsonl");
    audit_ok(&kbs, &["export", "--out", after.to_str().unwrap()]);
    let verified = audit_ok(
        &kbs,
        &[
            "verify",
            "--key",
            vkey.to_str().unwrap(),
            "--previous",
            kept.to_str().unwrap(),
            after.to_str().unwrap(),
        ],
    );
    eprintln!("after the move: {}", verified.trim());
    assert!(
        verified.contains("1 kept checkpoints consistent"),
        "{verified}"
    );
    let entries_after = entry_lines(&after);
    assert_eq!(entries_after[..entries_before.len()], entries_before[..]);
    let new_kinds: Vec<String> = entries_after[entries_before.len()..]
        .iter()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            let entry: Value = serde_json::from_str(line["entry"].as_str().unwrap()).unwrap();
            entry["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        new_kinds.iter().any(|kind| kind == "release"),
        "{new_kinds:?}"
    );
    eprintln!(
        "audit log: {} entries before the move, {} after",
        entries_before.len(),
        entries_after.len()
    );
    // The KBS wrote to the copy, and the source stayed as it was when it was copied.
    let size = |location: warden_store::StoreLocation| async move {
        let store = warden_store::Store::open(&location, &Default::default())
            .await
            .unwrap();
        let size = store.log_size("audit").await.unwrap();
        store.close().await;
        size
    };
    let copy = warden_store::StoreLocation::parse(&target).unwrap();
    assert_eq!(size(copy).await, entries_after.len() as u64);
    assert_eq!(
        size(kbs.store_location()).await,
        entries_before.len() as u64
    );
}
