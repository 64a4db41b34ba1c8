//! Launching a (simulated) SEV-SNP guest from an image: the files a host would load, and the
//! measurement AMD's own calculator says the secure processor reports for them.

use std::path::PathBuf;
use std::process::Command;

use warden_verifier::measure::craft;

/// The kernel command line the images boot with.
pub const APPEND: &str = "console=ttyS0 root=/dev/vda rw";

/// An image: an OVMF-shaped firmware with a kernel-hashes section (crafted-a), a kernel and
/// an initrd, as files in a directory kept while this lives.
pub struct SnpImage {
    dir: tempfile::TempDir,
}

impl Default for SnpImage {
    fn default() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in [
            ("OVMF.fd", craft::crafted_a()),
            ("vmlinuz", craft::test_kernel()),
            ("initrd.img", craft::test_initrd()),
        ] {
            std::fs::write(dir.path().join(name), bytes).expect("write image file");
        }
        Self { dir }
    }
}

impl SnpImage {
    /// The path of one of the image's files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The measured-boot options both calculators take, for `vcpus` Milan vCPUs under QEMU.
    pub fn measure_args(&self, vcpus: u32) -> Vec<String> {
        let path = |name: &str| self.path(name).to_str().expect("utf-8").to_owned();
        [
            "--vcpus",
            &vcpus.to_string(),
            "--vcpu-type",
            "EPYC-Milan",
            "--kernel",
            &path("vmlinuz"),
            "--initrd",
            &path("initrd.img"),
            "--append",
            APPEND,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// The launch digest AMD's sev-snp-measure (PyPI, installed by `scripts/test.sh`) computes
    /// for this image on `vcpus` vCPUs: what the secure processor of a host launching it would
    /// report, so what a sim-snp guest "launched" from it is given.
    pub fn amd_launch_digest(&self, vcpus: u32) -> String {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sys; from sevsnpmeasure.cli import main; sys.argv[0] = 'sev-snp-measure'; sys.exit(main())",
                "--mode",
                "snp",
                "--ovmf",
            ])
            .arg(self.path("OVMF.fd"))
            .args(self.measure_args(vcpus))
            .output()
            .expect("python3 (scripts/test.sh installs it with sev-snp-measure)");
        assert!(
            output.status.success(),
            "sev-snp-measure failed (scripts/test.sh installs it from PyPI): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let digest = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(digest.len(), 96, "sev-snp-measure printed {digest:?}");
        digest
    }
}
