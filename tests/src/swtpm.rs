//! A freshly manufactured software TPM (swtpm) per test, reachable over TCP.
//!
//! [`Swtpm::start`] runs `swtpm_setup` into a temporary directory (RSA-2048 EK with an EK
//! certificate in NV 0x01c00002, platform certificate, SHA-256 PCR bank only) and serves it with
//! `swtpm socket` on two consecutive free loopback ports (TPM commands on P, control on P+1: the
//! tpm2-tss swtpm TCTI expects the control channel right after the server port).
//!
//! Each instance has its own certificate authority in its temporary directory instead of the
//! system-wide `/var/lib/swtpm-localca` that `/etc/swtpm_setup.conf` names: that directory is
//! writable by root only, shared between tests, and would accumulate certificates.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SETUP_BINARY: &str = "swtpm_setup";
const SERVER_BINARY: &str = "swtpm";
const LOCALCA_BINARY: &str = "swtpm_localca";
/// Attempts at finding two free ports and starting swtpm on them before giving up: another
/// process may take a port between our probe and swtpm's bind.
const START_ATTEMPTS: usize = 10;
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Swtpm {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Swtpm {
    /// Manufactures a TPM and starts serving it. Panics (this is test support) when the swtpm
    /// tools are missing or fail.
    pub fn start() -> Swtpm {
        let setup = find_binary(SETUP_BINARY);
        let server = find_binary(SERVER_BINARY);
        let localca = find_binary(LOCALCA_BINARY);
        let dir = tempfile::tempdir().expect("tempdir for swtpm");
        let state = dir.path().join("state");
        let ca = dir.path().join("ca");
        std::fs::create_dir_all(&state).expect("swtpm state dir");
        std::fs::create_dir_all(&ca).expect("swtpm CA dir");
        write_setup_config(dir.path(), &ca, &localca);

        let output = Command::new(&setup)
            .args(["--tpm2", "--tpmstate"])
            .arg(&state)
            .arg("--config")
            .arg(dir.path().join("swtpm_setup.conf"))
            .args([
                "--create-ek-cert",
                "--create-platform-cert",
                "--lock-nvram",
                "--overwrite",
                "--pcr-banks",
                "sha256",
            ])
            .output()
            .expect("run swtpm_setup");
        assert!(
            output.status.success(),
            "swtpm_setup failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );

        let log = dir.path().join("swtpm.log");
        let stderr = dir.path().join("swtpm.stderr");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let Some(port) = free_consecutive_ports() else {
                continue;
            };
            let mut child = Command::new(&server)
                .args(["socket", "--tpm2", "--tpmstate"])
                .arg(format!("dir={}", state.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .args(["--flags", "not-need-init,startup-clear"])
                .arg("--log")
                .arg(format!("file={},level=1", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).expect("swtpm stderr file"))
                .spawn()
                .expect("spawn swtpm");
            match wait_until_listening(&mut child, port, &stderr) {
                Ok(()) => return Swtpm { dir, port, child },
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("port {port}: {reason}"));
                }
            }
        }
        panic!(
            "swtpm did not start after {START_ATTEMPTS} attempts:\n{}\nlog:\n{}",
            failures.join("\n"),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Runs `warden-agent --tee tpm` on this TPM against `kbs` with the AK state in `ak_file`
    /// (no event log: swtpm has no firmware).
    pub fn agent(&self, kbs: &crate::Kbs, ak_file: &Path, args: &[&str]) -> std::process::Output {
        let tcti = self.tcti();
        let tee_args = [
            "--tee",
            "tpm",
            "--tpm-tcti",
            &tcti,
            "--tpm-ak-file",
            ak_file.to_str().expect("utf-8"),
            "--tpm-event-log",
            "none",
        ];
        kbs.agent_as(&tee_args, args)
    }

    /// The tpm2-tss TCTI configuration string for this TPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The certificates of the CA that issued this TPM's EK certificate: the issuing
    /// (intermediate) CA first, then its self-signed root.
    pub fn local_ca_certificates(&self) -> Vec<PathBuf> {
        let ca = self.dir.path().join("ca");
        vec![
            ca.join("issuercert.pem"),
            ca.join("swtpm-localca-rootca-cert.pem"),
        ]
    }

    /// swtpm's own log (errors only), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("swtpm.log")).unwrap_or_default()
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `swtpm_setup` and `swtpm_localca` configuration that keeps the CA (created on first use by
/// `swtpm_localca`) inside this instance's directory.
fn write_setup_config(dir: &Path, ca: &Path, localca: &Path) {
    let localca_config = dir.join("swtpm-localca.conf");
    let localca_options = dir.join("swtpm-localca.options");
    std::fs::write(
        &localca_config,
        format!(
            "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
            ca = ca.display()
        ),
    )
    .expect("write swtpm-localca.conf");
    // The platform certificate needs these; the values only label the test TPM.
    std::fs::write(
        &localca_options,
        "--platform-manufacturer Warden\n--platform-version 2.1\n--platform-model swtpm-test\n",
    )
    .expect("write swtpm-localca.options");
    std::fs::write(
        dir.join("swtpm_setup.conf"),
        format!(
            "create_certs_tool = {}\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = {}\n",
            localca.display(),
            localca_config.display(),
            localca_options.display()
        ),
    )
    .expect("write swtpm_setup.conf");
}

fn find_binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run scripts/test.sh, which installs the swtpm, \
                 swtpm-tools and libtss2-dev Debian packages"
            )
        })
}

/// A port P such that P and P+1 were both free a moment ago.
fn free_consecutive_ports() -> Option<u16> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    let port = first.local_addr().ok()?.port();
    let next = port.checked_add(1)?;
    TcpListener::bind((Ipv4Addr::LOCALHOST, next)).ok()?;
    Some(port)
}

fn wait_until_listening(child: &mut Child, port: u16, stderr: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!(
                "swtpm exited with {status}: {}",
                std::fs::read_to_string(stderr).unwrap_or_default().trim()
            ));
        }
        // Both ports, and swtpm still running afterwards: a port taken by another process
        // since the probe would accept too, while swtpm exits on its failed bind.
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
            && TcpStream::connect((Ipv4Addr::LOCALHOST, port + 1)).is_ok()
            && child.try_wait().map_err(|e| e.to_string())?.is_none()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not listening after {READY_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
