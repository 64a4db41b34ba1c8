//! The kernel's Authenticode digest (what OVMF extends into RTMR1) judged by a tool nobody
//! here wrote: osslsigncode (Debian package `osslsigncode`, installed by `scripts/test.sh`)
//! signs the crafted bzImage — as QEMU patches it, with and without an initrd — with SHA-384,
//! and the message digest it computes and embeds must equal Warden's Authenticode SHA-384 of
//! both the unsigned and the signed file (the signature's certificate table, the checksum and
//! the table's directory entry are outside the hash).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use warden_verifier::measure::craft::crafted_bzimage;
use warden_verifier::measure::linux::qemu_patch;
use warden_verifier::measure::pe::authenticode_sha384;

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{command:?}: {e} (scripts/test.sh installs osslsigncode and openssl)")
    });
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The "Calculated message digest" osslsigncode reports for a signed file, lower-case. (Its
/// verdict on the test signer's untrusted certificate does not matter here.)
fn osslsigncode_digest(signed: &Path) -> String {
    let output = Command::new("osslsigncode")
        .arg("verify")
        .arg("-in")
        .arg(signed)
        .output()
        .expect("osslsigncode (scripts/test.sh installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    let digest = |label: &str| {
        let line = report
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
        line.rsplit(':').next().unwrap().trim().to_ascii_lowercase()
    };
    // The digest osslsigncode signed is the one it recomputes from the file.
    let calculated = digest("Calculated message digest");
    assert_eq!(digest("Current message digest"), calculated);
    calculated
}

#[test]
fn osslsigncode_computes_the_same_authenticode_sha384() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=warden test signer",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let kernel = crafted_bzimage();
    let cases = [
        ("as given", kernel.clone()),
        ("patched, no initrd", qemu_patch(&kernel, None, 0).unwrap()),
        (
            "patched, 1 MiB initrd in 2 GiB",
            qemu_patch(&kernel, Some(1 << 20), 2 << 30).unwrap(),
        ),
    ];
    for (what, image) in cases {
        let unsigned = dir.path().join("kernel.efi");
        let signed = dir.path().join("kernel.signed.efi");
        std::fs::write(&unsigned, &image).unwrap();
        let _ = std::fs::remove_file(&signed);
        run(Command::new("osslsigncode")
            .args(["sign", "-h", "sha384", "-certs"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-in")
            .arg(&unsigned)
            .arg("-out")
            .arg(&signed));
        let expected = osslsigncode_digest(&signed);
        let ours = hex::encode(authenticode_sha384(&image).unwrap());
        assert_eq!(ours, expected, "{what}: unsigned");
        let signed_bytes = std::fs::read(&signed).unwrap();
        assert!(
            signed_bytes.len() > image.len(),
            "{what}: a certificate table was appended"
        );
        let ours_signed = hex::encode(authenticode_sha384(&signed_bytes).unwrap());
        assert_eq!(ours_signed, expected, "{what}: signed");
        println!("{what}: osslsigncode and Warden agree: {expected}");
    }
}
