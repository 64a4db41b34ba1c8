//! MRTD of a real TDVF build, Debian bookworm's `/usr/share/ovmf/OVMF.fd` (package `ovmf`),
//! computed by Warden's library and by an independent Python implementation written from the
//! design note (`tests/interop/tdx_mrtd.py`), which must agree; and the values of
//! `docs/design/measure.md` §4.6 when the file is the one the note measured.
//!
//! The firmware is required: a missing file fails the test (`scripts/test.sh` installs
//! Debian's `ovmf`), it is not skipped.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use warden_verifier::measure::craft::crafted_tdvf;
use warden_verifier::measure::tdx::{PageAddOrder, mr_td};

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const OVMF_CODE_4M: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// SHA-256 of bookworm's `OVMF.fd` (`ovmf 2022.11-6+deb12u2`), §2.
const BOOKWORM_OVMF_SHA256: &str =
    "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";
const BOOKWORM_SINGLE: &str = "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";
const BOOKWORM_TWO_PASS: &str = "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1";

fn read_firmware(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{path}: {e}. This test needs Debian's `ovmf` package (scripts/test.sh installs it: \
             apt-get install ovmf)"
        )
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/tdx_mrtd.py")
}

/// Runs the Python implementation: (single-pass, two-pass) hex.
fn python_mrtd(path: &Path) -> (String, String) {
    let out = Command::new("python3")
        .arg(script())
        .arg(path)
        .output()
        .expect("python3 must be installed to run the independent MRTD implementation");
    assert!(
        out.status.success(),
        "tdx_mrtd.py {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split_whitespace().map(str::to_owned);
    (words.next().unwrap(), words.next().unwrap())
}

fn rust_mrtd(fw: &[u8]) -> (String, String) {
    (
        hex::encode(mr_td(fw, PageAddOrder::SinglePass).unwrap()),
        hex::encode(mr_td(fw, PageAddOrder::TwoPass).unwrap()),
    )
}

#[test]
fn mrtd_of_debian_ovmf_agrees_with_the_independent_implementation() {
    let fw = read_firmware(OVMF);
    let rust = rust_mrtd(&fw);
    let python = python_mrtd(Path::new(OVMF));
    println!("{OVMF}: MRTD single-pass {}", rust.0);
    println!("{OVMF}: MRTD two-pass    {}", rust.1);
    assert_eq!(
        rust, python,
        "Warden and tests/interop/tdx_mrtd.py disagree"
    );
    assert_ne!(rust.0, rust.1);
    let sha256 = hex::encode(Sha256::digest(&fw));
    if sha256 == BOOKWORM_OVMF_SHA256 {
        assert_eq!(
            rust,
            (BOOKWORM_SINGLE.to_owned(), BOOKWORM_TWO_PASS.to_owned())
        );
    } else {
        println!("{OVMF} is not bookworm's 2022.11-6+deb12u2 ({sha256}): §4.6 values not pinned");
    }
}

#[test]
fn mrtd_of_crafted_tdvf_agrees_with_the_independent_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted-tdvf.fd");
    let fw = crafted_tdvf();
    std::fs::write(&path, &fw).unwrap();
    assert_eq!(rust_mrtd(&fw), python_mrtd(&path));
}

#[test]
fn debian_ovmf_code_4m_has_no_tdx_metadata() {
    let fw = read_firmware(OVMF_CODE_4M);
    for order in [PageAddOrder::SinglePass, PageAddOrder::TwoPass] {
        let err = mr_td(&fw, order).unwrap_err();
        assert_eq!(err.field(), "--firmware", "{err}");
        assert!(err.to_string().contains("no TDX metadata"), "{err}");
    }
}
