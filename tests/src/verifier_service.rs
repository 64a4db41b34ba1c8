//! A `warden-verifier serve` process for tests, with the test PKI of `warden_test_support::pki`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub use warden_test_support::pki::{MtlsPki, TlsPaths};
use warden_verifier_service::{RemoteVerifier, TlsFiles};

use crate::{binary, spawn_until_ready};

/// The service's files for one side of a connection.
pub fn tls_files(paths: TlsPaths) -> TlsFiles {
    TlsFiles {
        cert: paths.cert,
        key: paths.key,
        ca: paths.ca,
    }
}

/// A client of the service at `url` with the test PKI's certificate `name` (`client`,
/// `broker-b`, `rogue-client`), checking the server's certificate against its CA.
pub fn client(pki: &MtlsPki, url: &str, name: &str) -> RemoteVerifier {
    RemoteVerifier::connect(url, "localhost", &tls_files(pki.identity(name)))
        .expect("verifier client")
}

/// A running `warden-verifier serve`, killed on drop.
pub struct VerifierProcess {
    child: Option<Child>,
    pub url: String,
    pub state_dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    pki_dir: PathBuf,
}

impl VerifierProcess {
    /// Serves with the PKI's server certificate, requiring clients from its CA, with `client`
    /// as its manager unless `args` choose (`--manager`, `--any-client-may-manage`); `args` are
    /// extra `serve` arguments (e.g. `--insecure-allow-sample`).
    pub fn start(pki: &MtlsPki, state_dir: &Path, args: &[String]) -> Self {
        let mut process = VerifierProcess {
            child: None,
            url: String::new(),
            state_dir: state_dir.to_path_buf(),
            log: state_dir.with_extension("log"),
            args: args.to_vec(),
            pki_dir: pki.dir.clone(),
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let pki = |name: &str| self.pki_dir.join(name);
        // A restart listens where the first start did, so clients keep their URL.
        let listen = self
            .url
            .strip_prefix("https://")
            .unwrap_or("127.0.0.1:0")
            .to_owned();
        let mut command = Command::new(binary("warden-verifier"));
        command
            .args(["serve", "--listen", &listen, "--tls-cert"])
            .arg(pki("server.pem"))
            .arg("--tls-key")
            .arg(pki("server.key"))
            .arg("--tls-client-ca")
            .arg(pki("ca.pem"))
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(&self.args);
        let chosen = |flag: &str| self.args.iter().any(|arg| arg == flag);
        if !chosen("--manager") && !chosen("--any-client-may-manage") {
            command.args(["--manager", "client"]);
        }
        let ready = self.state_dir.with_extension("ready");
        let (child, address) = spawn_until_ready(command, &ready, &self.log, "warden-verifier");
        self.child = Some(child);
        self.url = format!("https://{address}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the service (SIGKILL) and starts it again on the same state directory and address.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for VerifierProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
