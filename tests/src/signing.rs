//! Judges of Warden's signed output that nobody here wrote, run on a bundle file: OpenSSL
//! (`verify -attime` on the chain, `ts -verify` on the timestamp), securesystemslib (the DSSE
//! envelope with the certificate's key) and the Sigstore project's bundle models.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use std::process::Output;

use crate::{Kbs, KbsOptions, binary, repo_root};

/// The bundle's parts as files for the command-line judges.
pub struct BundleFiles {
    /// The leaf certificate (PEM).
    pub leaf: PathBuf,
    /// The RFC 3161 TimeStampResp (DER).
    pub timestamp: PathBuf,
    /// The signature bytes the timestamp covers.
    pub signature: PathBuf,
}

/// Writes the leaf, the first timestamp and the signature of `bundle` into `dir`.
pub fn bundle_files(bundle: &Path, dir: &Path) -> BundleFiles {
    let json: Value =
        serde_json::from_slice(&std::fs::read(bundle).expect("bundle")).expect("JSON");
    let material = &json["verificationMaterial"];
    let decode = |value: &Value| {
        STANDARD
            .decode(value.as_str().expect("base64 text"))
            .expect("base64")
    };
    let leaf = decode(&material["certificate"]["rawBytes"]);
    let timestamp =
        decode(&material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]);
    let signature = match json.get("dsseEnvelope") {
        Some(envelope) => decode(&envelope["signatures"][0]["sig"]),
        None => decode(&json["messageSignature"]["signature"]),
    };
    let files = BundleFiles {
        leaf: dir.join("leaf.pem"),
        timestamp: dir.join("timestamp.tsr"),
        signature: dir.join("signature.bin"),
    };
    std::fs::write(&files.leaf, warden_wire::pem::encode("CERTIFICATE", &leaf))
        .expect("write leaf");
    std::fs::write(&files.timestamp, timestamp).expect("write timestamp");
    std::fs::write(&files.signature, signature).expect("write signature");
    files
}

/// Runs a judge; its status and combined output.
pub fn judge(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("run the judge");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `openssl ts -verify -data <signature>` on the bundle's timestamp, trusting `ca` and finding
/// the TSA certificate in `tsa`.
pub fn openssl_ts_verify(files: &BundleFiles, ca: &Path, tsa: &Path) -> (bool, String) {
    judge(
        Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(&files.signature)
            .arg("-in")
            .arg(&files.timestamp)
            .arg("-CAfile")
            .arg(ca)
            .arg("-untrusted")
            .arg(tsa),
    )
}

/// `openssl verify -attime <at> -CAfile <ca> <leaf>`.
pub fn openssl_verify_at(files: &BundleFiles, ca: &Path, at: i64) -> (bool, String) {
    judge(
        Command::new("openssl")
            .args(["verify", "-attime", &at.to_string(), "-CAfile"])
            .arg(ca)
            .arg(&files.leaf),
    )
}

/// genTime of the bundle's timestamp as `openssl ts -reply -text` prints it, in Unix seconds.
pub fn timestamp_time(files: &BundleFiles) -> i64 {
    let (ok, text) = judge(
        Command::new("openssl")
            .args(["ts", "-reply", "-text", "-in"])
            .arg(&files.timestamp),
    );
    assert!(ok, "{text}");
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Time stamp: "))
        .expect("a Time stamp line");
    let format = time::format_description::parse_borrowed::<2>(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year]",
    )
    .expect("format");
    let at = time::PrimitiveDateTime::parse(line.trim().trim_end_matches(" GMT"), &format)
        .expect("openssl's time format");
    at.assume_utc().unix_timestamp()
}

/// securesystemslib verifies each bundle's DSSE envelope with its certificate's key.
pub fn securesystemslib_verifies(bundles: &[&Path]) -> (bool, String) {
    judge(
        Command::new("python3")
            .arg(repo_root().join("tests/interop/bundle_sslib.py"))
            .args(bundles),
    )
}

/// The Sigstore project's bundle models parse each bundle (and the signature verifies with the
/// leaf's key).
pub fn sigstore_models_parse(bundles: &[&Path]) -> (bool, String) {
    judge(
        Command::new("python3")
            .arg(repo_root().join("tests/interop/sigstore_bundle.py"))
            .args(bundles),
    )
}

/// The issuer URL test KBSs sign under.
pub const ISSUER: &str = "https://kbs.warden.test";
/// The identity test signing policies give.
pub const BUILDER: &str = "https://kbs.warden.test/builders/release-builder";
/// The PCR TPM tests pin and extend.
pub const PCR: u8 = 14;

/// Allows certificates and named-key signatures (key `release`) to affirming, secure results
/// of `tee`; with `insecure_ok`, also to results through development roots (sim-snp only).
pub fn signing_policy(tee: &str, insecure_ok: bool) -> String {
    let secure = if insecure_ok {
        String::new()
    } else {
        "\tcount(object.get(input.token, \"warden.insecure\", [])) == 0\n".into()
    };
    format!(
        "package warden.signing\n\ndefault allow := false\n\ndefault builder := \"\"\n\n\
         primary := input.token.submods.cpu0\n\n\
         allow if {{\n\tprimary[\"ear.status\"] == \"affirming\"\n\tprimary[\"warden.tee\"] == \"{tee}\"\n{secure}\tkey_allowed\n}}\n\n\
         key_allowed if input.request.kind == \"certificate\"\n\n\
         key_allowed if input.request.key == \"release\"\n\n\
         builder := \"release-builder\" if allow\n"
    )
}

pub struct Work {
    /// The directory.
    pub dir: tempfile::TempDir,
}

impl Default for Work {
    fn default() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl Work {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The arguments of `warden-agent signing-cert` writing the new key to `key` and its
/// certificate to `cert`.
pub fn signing_cert_args<'a>(key: &'a Path, cert: &'a Path) -> [&'a str; 5] {
    let text = |path: &'a Path| path.to_str().expect("UTF-8 path");
    [
        "signing-cert",
        "--key-out",
        text(key),
        "--cert-out",
        text(cert),
    ]
}

/// The arguments of `warden-agent sign`: `key` and `cert` from `signing-cert`, `what` is
/// `--artifact` or `--statement` with `input`, the bundle written to `out`.
pub fn sign_args<'a>(
    key: &'a Path,
    cert: &'a Path,
    what: &'a str,
    input: &'a Path,
    out: &'a Path,
) -> [&'a str; 9] {
    let text = |path: &'a Path| path.to_str().expect("UTF-8 path");
    [
        "sign",
        "--key",
        text(key),
        "--cert",
        text(cert),
        what,
        text(input),
        "--bundle-out",
        text(out),
    ]
}

/// The stock Sigstore client (`sigstore` from PyPI), offline, against the KBS's trust
/// configuration: `verify identity` of `bundle` (a message signature or a DSSE statement) for
/// `artifact`. Whether it accepted, and its output.
pub fn sigstore_verify(
    trust_config: &Path,
    bundle: &Path,
    identity: &str,
    artifact: &Path,
) -> (bool, String) {
    judge(
        Command::new("python3")
            .args(["-m", "sigstore", "--trust-config"])
            .arg(trust_config)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(bundle)
            .args(["--cert-identity", identity, "--cert-oidc-issuer", ISSUER])
            .arg(artifact)
            // Wide enough that the client's log lines are not wrapped.
            .env("COLUMNS", "400"),
    )
}

/// A KBS with `[signing]` under [`ISSUER`] and whatever else `options` says.
pub fn signing_kbs(mut options: KbsOptions) -> Kbs {
    options.extra_config = format!("[signing]\nissuer = \"{ISSUER}\"\n{}", options.extra_config);
    Kbs::start(options)
}

pub fn set_signing_policy(kbs: &Kbs, work: &Work, policy: &str) {
    let file = work.write("signing.rego", policy);
    kbs.admin(&["signing", "set-policy", "--file", file.to_str().unwrap()]);
}

/// `warden-verifier verify-artifact` with these arguments.
pub fn verify_artifact(args: &[&str]) -> Output {
    Command::new(binary("warden-verifier"))
        .arg("verify-artifact")
        .args(args)
        .output()
        .unwrap()
}

pub fn bundle_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
