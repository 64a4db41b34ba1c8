//! Issue 15, items 5 and 8, against the real binaries: files a local user could change, and
//! admin tokens that lived forever, could not be revoked, granted everything when naming no
//! role, or showed up in `ps`.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden_kbs::admin::{ADMIN_AUDIENCE, sign_token};
use warden_tests::verifier_service::MtlsPki;
use warden_tests::{Kbs, KbsOptions, binary, run_ok, run_until_exit, spawn_until_ready};

/// `program` run by a shell whose umask is 000: whatever mode a file gets is the one the
/// program asked for, nothing masked away.
fn under_umask_000(program: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(program);
    command
}

/// Every path under `dir` with its permission bits, relative to `dir` ("" for itself), sorted.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut found = vec![];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        if metadata.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        found.push((name, metadata.permissions().mode() & 0o7777));
    }
    found.sort();
    found
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn init(home: &Path) {
    run_ok(
        Command::new(binary("warden-kbs"))
            .args(["init", "--listen", "127.0.0.1:0", "--dir"])
            .arg(home),
    );
}

fn serve(home: &Path) -> Command {
    let mut command = Command::new(binary("warden-kbs"));
    command
        .args(["serve", "--config"])
        .arg(home.join("kbs.toml"));
    command
}

#[test]
fn init_and_serve_under_umask_000_leave_nothing_writable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("state/kbs");
    run_ok(
        under_umask_000(&binary("warden-kbs"))
            .args(["init", "--listen", "127.0.0.1:0", "--dir"])
            .arg(&home),
    );
    let expected: Vec<(String, u32)> = [
        ("", 0o700),
        // init creates the signing authority and the logs in the store, and writes their
        // certificates and keys, and the Sigstore trust configuration.
        ("audit-log.vkey", 0o644),
        ("data", 0o700),
        ("data/warden.db", 0o600),
        ("kbs.toml", 0o644),
        ("keys", 0o700),
        ("keys/admin.key", 0o600),
        ("keys/admin.pub", 0o644),
        ("keys/master.key", 0o600),
        ("keys/token-signing.pem", 0o600),
        ("signing", 0o700),
        ("signing/ca.pem", 0o644),
        ("signing/ct.pub", 0o644),
        ("signing/signing-log.vkey", 0o644),
        ("signing/trust-config.json", 0o644),
        ("signing/tsa.pem", 0o644),
        ("tls", 0o700),
        ("tls/ca.pem", 0o644),
        ("tls/server.key", 0o600),
        ("tls/server.pem", 0o644),
    ]
    .into_iter()
    .map(|(name, mode)| (name.to_owned(), mode))
    .collect();
    assert_eq!(modes(&home), expected);
    assert_eq!(
        mode(&dir.path().join("state")),
        0o700,
        "the parent init created"
    );

    // A first start under the same umask (init already made the store): still owner-only.
    let mut command = under_umask_000(&binary("warden-kbs"));
    command
        .args(["serve", "--config"])
        .arg(home.join("kbs.toml"));
    let ready = dir.path().join("ready");
    let (mut child, _address) =
        spawn_until_ready(command, &ready, &dir.path().join("kbs.log"), "warden-kbs");
    let after = modes(&home);
    let _ = child.kill();
    let _ = child.wait();
    for (name, mode) in &after {
        assert_eq!(mode & 0o022, 0, "{name} is writable by others: {mode:04o}");
    }
    let data: Vec<&(String, u32)> = after
        .iter()
        .filter(|(name, _)| name.starts_with("data"))
        .collect();
    assert!(data.contains(&&("data".to_owned(), 0o700)), "{data:?}");
    assert!(
        data.contains(&&("data/warden.db".to_owned(), 0o600)),
        "{data:?}"
    );
    for (name, mode) in data {
        assert!(*mode == 0o700 || *mode == 0o600, "{name}: {mode:04o}");
    }
    assert_eq!(mode(&ready), 0o644, "the ready file");
}

#[test]
fn serve_refuses_to_start_when_others_can_write_the_admin_key_or_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("kbs");
    init(&home);
    for (file, what) in [
        ("keys/admin.pub", "admin key admin"),
        ("kbs.toml", "config"),
    ] {
        let path = home.join(file);
        let before = mode(&path);
        chmod(&path, before | 0o002); // chmod o+w
        let output = run_until_exit(serve(&home));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!("refusing to start: {what}: {}", path.display()))
                && stderr.contains(&format!("chmod go-w {}", path.display())),
            "{file}: {stderr}"
        );
        chmod(&path, before);
    }
    // The directory holding the admin key: others could replace the key.
    let keys = home.join("keys");
    chmod(&keys, 0o770);
    let output = run_until_exit(serve(&home));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("directory {}", keys.display()))
            && stderr.contains(&format!("chmod go-w {}", keys.display())),
        "{stderr}"
    );
    chmod(&keys, 0o700);
    // Put back, the same state directory serves: the modes were the only reason.
    let (mut child, _) = spawn_until_ready(
        serve(&home),
        &dir.path().join("ready"),
        &dir.path().join("kbs.log"),
        "warden-kbs",
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_verifier_service_refuses_a_client_ca_others_can_write() {
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let ca = pki.file("ca.pem");
    chmod(&ca, 0o646);
    let mut command = Command::new(binary("warden-verifier"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--any-client-may-manage",
        ])
        .arg("--tls-cert")
        .arg(pki.file("server.pem"))
        .arg("--tls-key")
        .arg(pki.file("server.key"))
        .arg("--tls-client-ca")
        .arg(&ca)
        .arg("--state-dir")
        .arg(dir.path().join("state"));
    let output = run_until_exit(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "refusing to start: --tls-client-ca: {}",
            ca.display()
        )) && stderr.contains(&format!("chmod go-w {}", ca.display())),
        "{stderr}"
    );
    assert!(!dir.path().join("state").exists(), "nothing was created");
}

/// The KBS's answer to `PUT /kbs/v0/admin/resources/a/b/c` with `token`: status and body.
async fn put_with(kbs: &Kbs, token: &str) -> (u16, Value) {
    kbs.put_as(token, "/kbs/v0/admin/resources/a/b/c", "x")
        .await
}

/// A token signed with the KBS's real admin key, saying `claims`.
fn signed(kbs: &Kbs, claims: Value) -> String {
    let key = std::fs::read(kbs.home().join("keys/admin.key")).unwrap();
    sign_token("admin", &key, &claims).unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_token_living_until_the_year_9999_is_refused() {
    let kbs = Kbs::start(KbsOptions::default());
    let year_9999 = 253_402_300_799_i64;
    let claims = |iat: i64| json!({"sub": "eve", "aud": ADMIN_AUDIENCE, "iat": iat, "exp": year_9999, "jti": "forever", "roles": ["admin"]});
    let (status, body) = put_with(&kbs, &signed(&kbs, claims(now()))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("AdminAuthFailed"));
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("exceeds the maximum of 3600 s ([admin] max_token_lifetime)"),
        "{detail}"
    );
    // Issued in 9999 to keep the lifetime short: issued in the future.
    let (status, body) = put_with(&kbs, &signed(&kbs, claims(year_9999 - 60))).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("issued in the future"),
        "{body}"
    );
    // The CLI mints what it is asked; the KBS refuses it.
    let output = run_ok(
        Command::new(binary("warden-kbs"))
            .args([
                "admin", "token", "--role", "admin", "--ttl", "100years", "--key",
            ])
            .arg(kbs.home().join("keys/admin.key")),
    );
    let long = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let refused = kbs.try_admin_as(&long, &["resource", "list"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("exceeds the maximum"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Nothing was stored by any of them.
    let listed = kbs.admin(&["resource", "list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("a/b/c"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_while_a_fresh_one_works_also_after_a_restart() {
    let mut kbs = Kbs::start(KbsOptions::default());
    let leaked = kbs.admin_token("admin");
    let jti = warden_test_support::token::claims(&leaked)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = |kbs: &Kbs, token: &str| kbs.try_admin_as(token, &["resource", "list"]);
    assert!(list(&kbs, &leaked).status.success());

    // A reader may not revoke.
    let reader = kbs.admin_token("reader");
    let refused = kbs.try_admin_as(&reader, &["revoke-token", "--jti", &jti]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("lacks the role"));
    assert!(
        list(&kbs, &leaked).status.success(),
        "not revoked by the reader"
    );

    // The token revokes itself.
    let revoked = kbs.try_admin_as(&leaked, &["revoke-token", "--jti", &jti]);
    assert!(revoked.status.success(), "{revoked:?}");
    let answer: Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert_eq!(answer["jti"], jti.as_str());

    let refused = list(&kbs, &leaked);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("admin token {jti} is revoked")),
        "{stderr}"
    );
    let fresh = kbs.admin_token("admin");
    assert!(list(&kbs, &fresh).status.success());

    // Stored: a restarted KBS still refuses it.
    kbs.crash_and_restart();
    let (status, body) = put_with(&kbs, &leaked).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("is revoked"));
    assert_eq!(put_with(&kbs, &fresh).await.0, 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_naming_no_roles_grants_nothing() {
    let kbs = Kbs::start(KbsOptions::default());
    let t = now();
    let empty = json!({"sub": "eve", "aud": ADMIN_AUDIENCE, "iat": t, "exp": t + 600, "jti": "no-roles", "roles": []});
    let mut missing = empty.clone();
    missing.as_object_mut().unwrap().remove("roles");
    for claims in [empty, missing] {
        let (status, body) = put_with(&kbs, &signed(&kbs, claims.clone())).await;
        assert_eq!(status, 403, "{claims}: {body}");
        assert!(body["type"].as_str().unwrap().ends_with("AdminForbidden"));
        assert_eq!(body["detail"], "admin token of eve grants no roles");
    }
    // The CLI will not mint such a token.
    let output = Command::new(binary("warden-kbs"))
        .args(["admin", "token", "--key"])
        .arg(kbs.home().join("keys/admin.key"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--role"));
    assert!(output.stdout.is_empty());
}

#[test]
fn the_admin_cli_never_carries_the_token_on_its_command_line() {
    let kbs = Kbs::start(KbsOptions::default());
    let token = kbs.admin_token("admin");
    // A server that accepts and never answers keeps the CLI running while it is looked at.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let mut command =
        kbs.admin_command(&format!("https://{address}"), &token, &["resource", "list"]);
    assert!(
        command
            .get_args()
            .all(|arg| !arg.to_string_lossy().contains(&token)),
        "the harness passes no token as an argument"
    );
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (at most 30 s) until it has connected: it is running, past argument parsing.
    silent.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let connection = loop {
        match silent.accept() {
            Ok((connection, _)) => break connection,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(child.try_wait().unwrap().is_none(), "the CLI exited");
                assert!(Instant::now() < deadline, "the CLI never connected");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    let proc = PathBuf::from(format!("/proc/{}", child.id()));
    let mut cmdline = Vec::new();
    std::fs::File::open(proc.join("cmdline"))
        .unwrap()
        .read_to_end(&mut cmdline)
        .unwrap();
    let environ = std::fs::read(proc.join("environ")).unwrap();
    let environ_mode = mode(&proc.join("environ"));
    let _ = child.kill();
    let _ = child.wait();
    drop(connection);
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(cmdline.contains("resource"), "{cmdline}");
    assert!(!cmdline.contains(&token), "token in {cmdline}");
    // It travelled in the environment, which only the user (and root) can read.
    assert!(warden_tests::contains(&environ, token.as_bytes()));
    assert_eq!(environ_mode & 0o077, 0, "{environ_mode:o}");

    // --token VALUE is refused, pointing to the alternatives.
    let output = Command::new(binary("warden-kbs"))
        .args(["admin", "resource", "--url", &kbs.url, "--ca-file"])
        .arg(kbs.ca_file())
        .args(["--token", &token, "list"])
        .env_remove("WARDEN_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--token is refused")
            && stderr.contains("WARDEN_ADMIN_TOKEN")
            && stderr.contains("--token-file"),
        "{stderr}"
    );

    // --token-file works from an owner-only file and is refused from one others can read.
    let file = kbs.dir.path().join("admin.jwt");
    std::fs::write(&file, &token).unwrap();
    chmod(&file, 0o600);
    let with_file = |file: &Path| {
        Command::new(binary("warden-kbs"))
            .args(["admin", "resource", "--url", &kbs.url, "--ca-file"])
            .arg(kbs.ca_file())
            .arg("--token-file")
            .arg(file)
            .arg("list")
            .env_remove("WARDEN_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    assert!(with_file(&file).status.success());
    chmod(&file, 0o644);
    let refused = with_file(&file);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("chmod 600"));
}
