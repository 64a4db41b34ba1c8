//! What the OpenSSL judge tests share: PEM files and running `openssl` in a directory.
// Each test file uses what it needs of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `der` as PEM under `label`.
pub(crate) fn pem(der: &[u8], label: &str) -> String {
    warden_wire::pem::encode(label, der)
}

/// Runs `openssl args…` in `dir`; whether it succeeded, and its stdout and stderr.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
