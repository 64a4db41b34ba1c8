//! Test harness: starts the real `warden-kbs` binary on a loopback port with a fresh state
//! directory, and runs the real `warden-agent` and admin CLI against it.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `scripts/test.sh` does).
// Test support: a panic is how a test fails.
#![allow(clippy::unwrap_used)]
// Not every public item is documented yet (issue 14): remove this to see which.
#![allow(missing_docs)]

pub mod dsse;
pub mod measure;
pub mod signing;
pub mod swtpm;
pub mod verifier_service;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use warden_wire::TeeKeyPair;
use warden_wire::jwe::KeyAlgorithm;

/// Path of a workspace binary next to the running test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|deps| {
        if deps.ends_with("deps") {
            deps.parent()
        } else {
            Some(deps)
        }
    });
    let path = dir.expect("target dir").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Options for a KBS under test.
#[derive(Clone)]
pub struct KbsOptions {
    pub allow_sample: bool,
    pub session_timeout: &'static str,
    pub token_lifetime: &'static str,
    pub auth_per_second: f64,
    pub auth_burst: f64,
    /// Extra arguments for `warden-kbs serve` (e.g. `--insecure-dev-roots DIR`).
    pub serve_args: Vec<String>,
    /// TOML appended to the generated config (e.g. an `[snp]` section).
    pub extra_config: String,
    /// Appraise through a separately started `warden-verifier serve` (mutual TLS) instead of
    /// the embedded verifier; `allow_sample` then enables sample on the service. Defaults to
    /// whether `WARDEN_E2E_REMOTE_VERIFIER=1`, so a whole suite runs against either backend.
    pub remote_verifier: bool,
    /// Extra `warden-verifier serve` arguments (e.g. `--insecure-dev-roots DIR`).
    pub verifier_args: Vec<String>,
    /// `[verifier] policy_id`: the service's appraisal policy this KBS uses and sets.
    pub verifier_policy_id: Option<&'static str>,
    /// `[log] filter` (default "debug").
    pub log_filter: &'static str,
    /// `[session] max_sessions` (default: the KBS's).
    pub max_sessions: Option<usize>,
    /// The listen address (default `127.0.0.1:0`).
    pub listen: &'static str,
    /// Top-level TOML keys (e.g. `public_url = "..."`), written before the first table.
    pub top_config: String,
    /// The store's PostgreSQL database (default: the run's backend, see
    /// [`test_store_database`]).
    pub store_url: Option<String>,
}

impl Default for KbsOptions {
    fn default() -> Self {
        Self {
            allow_sample: true,
            session_timeout: "5m",
            token_lifetime: "5m",
            auth_per_second: 0.0,
            auth_burst: 40.0,
            serve_args: Vec::new(),
            extra_config: String::new(),
            remote_verifier: std::env::var_os("WARDEN_E2E_REMOTE_VERIFIER")
                .is_some_and(|value| value == "1"),
            verifier_args: Vec::new(),
            verifier_policy_id: None,
            log_filter: "debug",
            max_sessions: None,
            listen: "127.0.0.1:0",
            top_config: String::new(),
            store_url: None,
        }
    }
}

pub struct Kbs {
    pub dir: tempfile::TempDir,
    pub url: String,
    child: Option<Child>,
    serve_args: Vec<String>,
    /// The verifier service, when the KBS appraises remotely.
    pub verifier: Option<verifier_service::VerifierProcess>,
    /// The PostgreSQL database the KBS's store is in; `None`: the SQLite file
    /// `data/warden.db` in its home.
    pub store_url: Option<String>,
}

/// A fresh PostgreSQL database for one KBS or verifier service when the suite runs on
/// PostgreSQL; `None` on SQLite.
pub fn test_store_database() -> Option<String> {
    block_on_own_runtime(warden_store::testing::suite_database())
}

/// Runs `future` to completion on a runtime of its own, on its own thread (callers may be
/// inside a test's runtime, where blocking on another is refused).
pub fn block_on_own_runtime<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(future)
            })
            .join()
            .expect("the runtime's thread")
    })
}

impl Kbs {
    /// `warden-kbs init` into a temp dir, a test config on port 0, then `serve`.
    pub fn start(options: KbsOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // `init` creates the signing authority and the logs in the store it names.
        let store_url = options.store_url.clone().or_else(test_store_database);
        let mut init = Command::new(binary("warden-kbs"));
        init.args(["init", "--dir"]).arg(dir.path().join("kbs"));
        if let Some(url) = &store_url {
            init.args(["--store-url", url]);
        }
        run_ok(&mut init);
        run_ok(
            Command::new(binary("warden-kbs"))
                .args(["admin", "keygen", "--name", "reader", "--out"])
                .arg(dir.path().join("kbs/keys")),
        );
        let (verifier, verifier_config) = if options.remote_verifier {
            let pki = verifier_service::MtlsPki::generate(&dir.path().join("pki"));
            // `{kbs_home}` names the KBS's directory, known only now (its signing CA, say).
            let home = dir.path().join("kbs");
            let mut args: Vec<String> = options
                .verifier_args
                .iter()
                .map(|arg| arg.replace("{kbs_home}", &home.display().to_string()))
                .collect();
            if options.allow_sample {
                args.push("--insecure-allow-sample".into());
            }
            if let Some(url) = test_store_database() {
                args.extend(["--store-url".into(), url]);
            }
            let process = verifier_service::VerifierProcess::start(
                &pki,
                &dir.path().join("verifier-state"),
                &args,
            );
            let mut config = format!(
                "[verifier]\nurl = \"{}\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                process.url,
                pki.file("ca.pem").display(),
                pki.file("client.pem").display(),
                pki.file("client.key").display()
            );
            if let Some(id) = options.verifier_policy_id {
                config.push_str(&format!("policy_id = \"{id}\"\n"));
            }
            (Some(process), config)
        } else {
            (None, String::new())
        };
        let config = format!(
            r#"listen = "{listen}"
insecure_allow_sample = {sample}
{top_config}
[tls]
cert = "tls/server.pem"
key = "tls/server.key"
[session]
timeout = "{timeout}"
{max_sessions}
[rate_limit]
auth_per_second = {rate}
auth_burst = {burst}
[token]
lifetime = "{lifetime}"
signing_key = "keys/token-signing.pem"
[store]
{store}
master_key_file = "keys/master.key"
[[admin.keys]]
name = "admin"
public_key = "keys/admin.pub"
roles = ["admin"]
[[admin.keys]]
name = "reader"
public_key = "keys/reader.pub"
roles = ["reader"]
[log]
filter = "{log_filter}"
{extra}
{verifier_config}
"#,
            // With a remote verifier, the service decides which TEEs it accepts.
            sample = options.allow_sample && !options.remote_verifier,
            timeout = options.session_timeout,
            rate = options.auth_per_second,
            burst = options.auth_burst,
            lifetime = options.token_lifetime,
            extra = options.extra_config,
            log_filter = options.log_filter,
            listen = options.listen,
            top_config = options.top_config,
            store = match &store_url {
                Some(url) => format!("url = \"{url}\""),
                None => "sqlite = \"data/warden.db\"".to_owned(),
            },
            max_sessions = options
                .max_sessions
                .map(|max| format!("max_sessions = {max}"))
                .unwrap_or_default(),
        );
        std::fs::write(dir.path().join("kbs/kbs.toml"), config).expect("write config");
        let mut kbs = Self {
            store_url,
            dir,
            url: String::new(),
            child: None,
            serve_args: options.serve_args,
            verifier,
        };
        kbs.spawn();
        kbs
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("kbs")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.home().join("tls/ca.pem")
    }

    pub fn log_path(&self) -> PathBuf {
        self.home().join("kbs.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let ready = self.home().join("ready");
        let mut command = Command::new(binary("warden-kbs"));
        command
            .args(["serve", "--config"])
            .arg(self.home().join("kbs.toml"))
            .args(&self.serve_args);
        let (child, address) = spawn_until_ready(command, &ready, &self.log_path(), "warden-kbs");
        self.child = Some(child);
        self.url = format!("https://{address}");
    }

    /// Starts another `warden-kbs serve` on this KBS's config: a replica sharing its store,
    /// master key and token signing key, on its own port (the config listens on port 0), with
    /// its own log. It is killed when dropped.
    pub fn start_replica(&self) -> Replica {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.home().join(format!("kbs-replica-{n}.log"));
        let mut command = Command::new(binary("warden-kbs"));
        command
            .args(["serve", "--config"])
            .arg(self.home().join("kbs.toml"))
            .args(&self.serve_args);
        let ready = self.home().join(format!("ready-replica-{n}"));
        let (child, address) = spawn_until_ready(command, &ready, &log, "warden-kbs replica");
        Replica {
            url: format!("https://{address}"),
            child,
            log,
        }
    }

    /// Starts the KBS again on the same state directory after [`terminate`](Self::terminate).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the KBS is still running");
        self.spawn();
    }

    /// Where the KBS's store is.
    pub fn store_location(&self) -> warden_store::StoreLocation {
        match &self.store_url {
            Some(url) => warden_store::StoreLocation::Postgres(url.clone()),
            None => warden_store::StoreLocation::Sqlite(self.home().join("data/warden.db")),
        }
    }

    /// Opens the KBS's store from the test (SQLite or PostgreSQL, as the KBS uses).
    pub async fn open_store(&self) -> warden_store::Store {
        warden_store::Store::open(&self.store_location(), &Default::default())
            .await
            .expect("open the KBS's store")
    }

    /// Copies the stopped KBS's store into `backup` (a directory for SQLite's files; on
    /// PostgreSQL a database named after it is made from the store's).
    pub fn backup_store(&self, backup: &Path) {
        assert!(self.child.is_none(), "the KBS is still running");
        std::fs::create_dir_all(backup).unwrap();
        match &self.store_url {
            None => {
                for file in self.store_files() {
                    std::fs::copy(&file, backup.join(file.file_name().unwrap())).unwrap();
                }
            }
            Some(url) => {
                let (server, store) = Self::postgres_names(url);
                block_on_own_runtime(warden_store::testing::copy_database(
                    &server,
                    &store,
                    &format!("{store}_backup"),
                    true,
                ))
                .unwrap();
            }
        }
    }

    /// Replaces the stopped KBS's store with the copy [`backup_store`](Self::backup_store) made.
    pub fn restore_store(&self, backup: &Path) {
        assert!(self.child.is_none(), "the KBS is still running");
        match &self.store_url {
            None => {
                for file in self.store_files() {
                    std::fs::remove_file(file).unwrap();
                }
                for file in std::fs::read_dir(backup).unwrap() {
                    let file = file.unwrap().path();
                    std::fs::copy(
                        &file,
                        self.home().join("data").join(file.file_name().unwrap()),
                    )
                    .unwrap();
                }
            }
            Some(url) => {
                let (server, store) = Self::postgres_names(url);
                block_on_own_runtime(warden_store::testing::copy_database(
                    &server,
                    &format!("{store}_backup"),
                    &store,
                    true,
                ))
                .unwrap();
            }
        }
    }

    /// The test server's URL and the store's database name.
    fn postgres_names(url: &str) -> (String, String) {
        let server = warden_store::testing::postgres_url().expect("the test server");
        let store = warden_store::testing::database_name(url).expect("a database name");
        (server, store)
    }

    /// The SQLite store's files (the database, its WAL and shared memory), those that exist.
    pub fn store_files(&self) -> Vec<PathBuf> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| self.home().join(format!("data/warden.db{suffix}")))
            .filter(|path| path.exists())
            .collect()
    }

    /// Runs `warden-kbs audit <args>` with this KBS's config.
    pub fn audit(&self, args: &[&str]) -> Output {
        let mut command = Command::new(binary("warden-kbs"));
        command
            .arg("audit")
            .args(args)
            .env("WARDEN_KBS_CONFIG", self.home().join("kbs.toml"));
        command.output().expect("run warden-kbs audit")
    }

    /// Kills the KBS with SIGKILL (no chance to flush anything) and starts it again on the same
    /// state directory.
    pub fn crash_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn();
    }

    /// Mints an admin token with the CLI: `key` is "admin" or "reader", and the token names the
    /// role of the same name.
    pub fn admin_token(&self, key: &str) -> String {
        let output = run_ok(
            Command::new(binary("warden-kbs"))
                .args(["admin", "token", "--name", key, "--role", key, "--key"])
                .arg(self.home().join(format!("keys/{key}.key"))),
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Runs `warden-kbs admin <args>` against this KBS with the admin key's token; it must
    /// succeed.
    pub fn admin(&self, args: &[&str]) -> Output {
        succeeded(&format!("admin {args:?}"), self.try_admin(args))
    }

    /// Runs `warden-kbs admin <args>` against this KBS with the admin key's token.
    pub fn try_admin(&self, args: &[&str]) -> Output {
        self.try_admin_as(&self.admin_token("admin"), args)
    }

    /// Runs `warden-kbs admin <args>` against this KBS with `token`.
    pub fn try_admin_as(&self, token: &str, args: &[&str]) -> Output {
        self.admin_command(&self.url, token, args)
            .output()
            .expect("spawn warden-kbs admin")
    }

    /// The `warden-kbs admin <args>` command against the KBS at `url`: `args[0]` is the
    /// subcommand; `token` travels in `WARDEN_ADMIN_TOKEN`, never on the command line.
    pub fn admin_command(&self, url: &str, token: &str, args: &[&str]) -> Command {
        let mut command = Command::new(binary("warden-kbs"));
        command
            .arg("admin")
            .args(&args[..1])
            .arg("--url")
            .arg(url)
            .arg("--ca-file")
            .arg(self.ca_file());
        command.args(&args[1..]).env("WARDEN_ADMIN_TOKEN", token);
        command
    }

    /// Stores a secret, reference values that the sample evidence meets, and the INSECURE
    /// sample-allowing release policy for `prefix`.
    pub fn provision_sample(&self, path: &str, secret: &[u8], prefix: &str) {
        self.provision(path, secret, prefix, "sample", r#"{"min_svn": 1}"#);
    }

    /// Stores a secret, the reference values `rv_json` under `rv_name`, and the INSECURE release
    /// policy (any affirming result) for `prefix`.
    pub fn provision(&self, path: &str, secret: &[u8], prefix: &str, rv_name: &str, rv_json: &str) {
        let secret_file = self.dir.path().join("secret.bin");
        std::fs::write(&secret_file, secret).expect("write secret");
        self.admin(&[
            "resource",
            "set",
            path,
            "--file",
            secret_file.to_str().expect("utf-8"),
        ]);
        std::fs::remove_file(&secret_file).expect("remove secret");
        self.set_reference_value(rv_name, rv_json);
        let policy = repo_root().join("policies/allow-insecure-sample.rego");
        self.admin(&[
            "policy",
            "set-release",
            "--prefix",
            prefix,
            "--file",
            policy.to_str().expect("utf-8"),
        ]);
    }

    /// Sets reference value `name` to `json` through the admin CLI.
    pub fn set_reference_value(&self, name: &str, json: &str) {
        let file = self.dir.path().join(format!("rv-{name}.json"));
        std::fs::write(&file, json).expect("write reference value");
        self.admin(&[
            "reference-value",
            "set",
            name,
            "--file",
            file.to_str().expect("utf-8"),
        ]);
    }

    /// Runs `warden-agent` with the sample attester against this KBS.
    pub fn agent(&self, args: &[&str]) -> Output {
        self.agent_as(&["--tee", "sample", "--insecure-allow-sample"], args)
    }

    /// Runs `warden-agent` with the attester options `tee_args` against this KBS.
    pub fn agent_as(&self, tee_args: &[&str], args: &[&str]) -> Output {
        Command::new(binary("warden-agent"))
            .arg("--kbs")
            .arg(&self.url)
            .arg("--ca-file")
            .arg(self.ca_file())
            .args(tee_args)
            .args(args)
            .output()
            .expect("run warden-agent")
    }

    /// An HTTPS client trusting this KBS's CA, with a cookie store like a CoCo client.
    pub fn http(&self) -> reqwest::Client {
        self.client(false)
    }

    /// Like [`Kbs::http`] but over HTTP/2: a response the server sends before it has read a
    /// whole request body (413) reaches the client instead of a broken pipe.
    pub fn http2(&self) -> reqwest::Client {
        self.client(true)
    }

    /// Like [`Kbs::http`], connecting from the local address `source` (any 127.x.y.z works on
    /// loopback): lets one test act as many clients.
    pub fn http_from(&self, source: std::net::IpAddr) -> reqwest::Client {
        self.client_builder(false)
            .local_address(source)
            .build()
            .expect("client")
    }

    /// Whether the KBS process is still running (not exited, not crashed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM and waits (at most `limit`) for the KBS to exit; `None` if it did not.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take().expect("running");
        run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// `PUT {url}{path}` with `body` and `token` as bearer: the status and the JSON answer
    /// (null when none).
    pub async fn put_as(
        &self,
        token: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let response = self
            .http()
            .put(format!("{}{path}", self.url))
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The KBS process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Resident memory of the KBS process now and at its peak, in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        process_memory_kib(self.pid())
    }

    /// Open file descriptors of the KBS process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    fn client(&self, http2: bool) -> reqwest::Client {
        self.client_builder(http2).build().expect("client")
    }

    fn client_builder(&self, http2: bool) -> reqwest::ClientBuilder {
        client_trusting(&self.ca_file(), http2)
    }

    /// Every byte the KBS persisted: the SQLite file and its WAL/SHM companions; on
    /// PostgreSQL, the files of the store's database after a checkpoint.
    pub fn stored_bytes(&self) -> Vec<u8> {
        let files = match &self.store_url {
            None => self.store_files(),
            Some(url) => {
                let data = std::env::var("WARDEN_TEST_POSTGRES_DATA").map(PathBuf::from).expect(
                    "WARDEN_TEST_POSTGRES_DATA: the test server's data directory (scripts/test.sh sets it)",
                );
                let oid = block_on_own_runtime(async {
                    let store = self.open_store().await;
                    let oid = warden_store::testing::database_oid(&store, url).await;
                    store.close().await;
                    warden_store::testing::checkpoint(&data)
                        .await
                        .expect("CHECKPOINT");
                    oid
                })
                .expect("the store's database oid");
                // After a checkpoint every committed row is in the database's own files (the
                // write-ahead log is the whole server's: other tests' rows are in it too).
                let mut files = Vec::new();
                for dir in [data.join("base").join(oid.to_string())] {
                    for entry in std::fs::read_dir(&dir).expect("the server's data directory") {
                        let path = entry.expect("a directory entry").path();
                        if path.is_file() {
                            files.push(path);
                        }
                    }
                }
                assert!(!files.is_empty(), "no files in {}", data.display());
                files
            }
        };
        let mut bytes = Vec::new();
        for path in files {
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        bytes
    }
}

/// Another `warden-kbs serve` on a [`Kbs`]'s config (see [`Kbs::start_replica`]).
pub struct Replica {
    pub url: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An INSECURE sim-snp development chain made by `warden-agent sim-snp-init`: the directory
/// (kept while the guard lives), its path as text and the guest measurement (hex).
pub fn sim_snp_chain() -> (tempfile::TempDir, String, String) {
    let chain = tempfile::tempdir().expect("tempdir");
    run_ok(
        Command::new(binary("warden-agent"))
            .args(["sim-snp-init", "--dir"])
            .arg(chain.path()),
    );
    let dir = chain.path().to_str().expect("utf-8").to_owned();
    let measurement = std::fs::read_to_string(chain.path().join("measurement"))
        .expect("measurement")
        .trim()
        .to_owned();
    (chain, dir, measurement)
}

/// Runs `command`, which must exit within 30 s (a server that starts instead fails the test).
pub fn run_until_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after 30 s: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// An HTTPS client builder trusting only the CA in `ca_file`, with a cookie store like a CoCo
/// client; `http2` offers only HTTP/2.
pub fn client_trusting(ca_file: &Path, http2: bool) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(ca_file).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).expect("add root");
    }
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if http2 {
        tls.alpn_protocols = vec![b"h2".to_vec()];
    }
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .cookie_store(true)
}

/// Starts `command` with `--ready-file ready`, its stderr appended to `log`, and waits (up to
/// 30 s) until it writes its bound address there. Panics (this is test support) when it exits
/// or does not get ready, showing its log.
pub fn spawn_until_ready(
    mut command: Command,
    ready: &Path,
    log: &Path,
    name: &str,
) -> (Child, String) {
    let _ = std::fs::remove_file(ready);
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut child = command
        .arg("--ready-file")
        .arg(ready)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(address) = std::fs::read_to_string(ready)
            && !address.is_empty()
        {
            return (child, address);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited with {status}; log:\n{}", log_text());
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not start; log:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Kbs {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    succeeded(&format!("{command:?}"), output)
}

/// `output`, after asserting that `what` exited successfully (showing its stderr if not).
fn succeeded(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Does `haystack` contain `needle` anywhere?
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// `VmRSS` and `VmHWM` of process `pid`, in KiB.
pub fn process_memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("memory field")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A hand-driven KBS client for protocol misuse tests.
pub struct RawClient {
    pub http: reqwest::Client,
    pub url: String,
    pub key: TeeKeyPair,
}

impl RawClient {
    pub fn new(kbs: &Kbs) -> Self {
        Self::with_http(kbs, kbs.http())
    }

    /// A client connecting from the local address `source` (see [`Kbs::http_from`]).
    pub fn from_address(kbs: &Kbs, source: std::net::IpAddr) -> Self {
        Self::with_http(kbs, kbs.http_from(source))
    }

    fn with_http(kbs: &Kbs, http: reqwest::Client) -> Self {
        Self {
            http,
            url: kbs.url.clone(),
            key: TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).expect("key"),
        }
    }

    pub async fn auth(&self) -> (u16, Value) {
        self.auth_as("sample").await
    }

    pub async fn auth_as(&self, tee: &str) -> (u16, Value) {
        self.post(
            "/kbs/v0/auth",
            json!({"version": "0.4.0", "tee": tee, "extra-params": {}}),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An Attestation body for `nonce` whose sample evidence binds `bound_nonce` (equal for a
    /// well-formed one).
    pub fn attestation(&self, nonce: &str, bound_nonce: &str) -> Value {
        let digest = warden_wire::runtime_data_digest(bound_nonce, &self.key.public_jwk(), "");
        json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": self.key.public_jwk()},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": base64::engine::general_purpose::STANDARD.encode(digest)},
                "additional_evidence": "",
            },
        })
    }

    /// The Attestation body a CoCo client sends for `evidence` with init-data `body` (TOML).
    pub fn attestation_with_init_data(&self, nonce: &str, evidence: Value, body: &str) -> Value {
        json!({
            "init-data": {"format": "toml", "body": body},
            "runtime-data": {"nonce": nonce, "tee-pubkey": self.key.public_jwk()},
            "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
        })
    }

    /// Full handshake; returns the token.
    pub async fn attest(&self) -> String {
        let (status, challenge) = self.auth().await;
        assert_eq!(status, 200, "{challenge}");
        let nonce = challenge["nonce"].as_str().expect("nonce").to_owned();
        let (status, body) = self
            .post("/kbs/v0/attest", self.attestation(&nonce, &nonce))
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    pub fn decrypt(&self, envelope: &Value) -> Vec<u8> {
        let envelope: warden_wire::FlattenedJwe =
            serde_json::from_value(envelope.clone()).expect("JWE");
        self.key.decrypt(&envelope).expect("decrypt")
    }
}

/// A PostgreSQL server of a test's own (`scripts/postgres.sh` in a temporary directory), for
/// tests that stop and start it; destroyed when dropped.
pub struct PostgresCluster {
    dir: tempfile::TempDir,
    /// The URL of its `warden` database.
    pub url: String,
}

impl PostgresCluster {
    fn script() -> Command {
        let mut command = Command::new("bash");
        command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh"));
        command
    }

    fn cluster(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// Creates and starts a cluster (about two seconds).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = run_ok(Self::script().arg("start").arg(dir.path().join("cluster")));
        let url = String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_owned();
        Self { dir, url }
    }

    /// Stops the server (a fast shutdown: connections are closed), keeping its data.
    pub fn stop(&self) {
        run_ok(Self::script().arg("stop").arg(self.cluster()));
    }

    /// Starts the stopped server again on the same port.
    pub fn restart(&self) {
        run_ok(Self::script().arg("start").arg(self.cluster()));
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = Self::script().arg("destroy").arg(self.cluster()).output();
    }
}

/// The claims of a JWT (an attestation token): its payload, not verified.
pub fn token_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
