//! `warden-verifier verify-artifact`: did an attested build sign these artifacts? Checks a
//! Sigstore bundle from Warden's signing authority against the deployer's trust root, at the
//! bundle's timestamped signing time (the clock is never read), and the expected builder
//! identity and/or a Rego policy over the attested facts in the certificate.
//!
//! Exit codes: 0 verified, 1 refused (the reason and, with `--explain`, every step), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};
use warden_verifier::RegoPolicy;
use warden_verifier::artifact::{ARTIFACT_RULE, Artifact, Expectations, verify_bundle};
use warden_verifier::x509::pem_certificates;

use crate::{read, read_bytes};

#[derive(Args)]
pub(crate) struct VerifyArtifactArgs {
    /// The Sigstore bundle (JSON).
    #[arg(long)]
    bundle: PathBuf,
    /// An artifact the bundle must cover (repeatable).
    #[arg(long = "artifact", value_name = "PATH")]
    artifacts: Vec<PathBuf>,
    /// An artifact by digest instead (`sha256:<hex>`; DSSE bundles only, repeatable).
    #[arg(long = "digest", value_name = "sha256:HEX")]
    digests: Vec<String>,
    /// PEM file of the signing CA certificates to trust (Warden's `signing/ca.pem`).
    #[arg(long)]
    trust_root: PathBuf,
    /// The builder identity the certificate must carry (`<issuer>/builders/<name>`).
    #[arg(long)]
    identity: Option<String>,
    /// The issuer URL the certificate must carry.
    #[arg(long)]
    issuer: Option<String>,
    /// A Rego policy (`data.warden.artifact.allow`) over the certificate's identity, issuer and
    /// attested facts, the statement and the signing time.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print every check, passed or not.
    #[arg(long)]
    explain: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let hex_digest = text
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("--digest {text:?} must be sha256:<64 hex digits>"))?;
    let bytes = hex::decode(hex_digest).map_err(|e| format!("--digest {text:?}: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("--digest {text:?} must be 32 bytes"))
}

pub(crate) fn verify_artifact(args: &VerifyArtifactArgs) -> Result<ExitCode, String> {
    if args.identity.is_none() && args.policy.is_none() {
        return Err(
            "name what must have signed: --identity URI and/or --policy FILE (a certificate from a trusted CA alone says nothing about which build)"
                .into(),
        );
    }
    if args.artifacts.is_empty() && args.digests.is_empty() {
        return Err("give the artifacts: --artifact PATH or --digest sha256:HEX".into());
    }
    let roots = pem_certificates(&read_bytes(&args.trust_root)?)
        .map_err(|e| format!("{}: {e}", args.trust_root.display()))?;
    if roots.is_empty() {
        return Err(format!("{}: no certificate", args.trust_root.display()));
    }
    let policy = match &args.policy {
        Some(path) => Some(
            RegoPolicy::compile(
                &format!("artifact:{}", path.display()),
                &read(path)?,
                &[ARTIFACT_RULE],
            )
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let contents: Vec<(String, Vec<u8>)> = args
        .artifacts
        .iter()
        .map(|path| Ok((path.display().to_string(), read_bytes(path)?)))
        .collect::<Result<_, String>>()?;
    let mut artifacts: Vec<Artifact<'_>> = contents
        .iter()
        .map(|(name, bytes)| Artifact::from_bytes(name.clone(), bytes))
        .collect();
    for digest in &args.digests {
        artifacts.push(Artifact {
            name: digest.clone(),
            sha256: parse_digest(digest)?,
            bytes: None,
        });
    }
    let verdict = verify_bundle(
        &read_bytes(&args.bundle)?,
        &artifacts,
        &roots,
        &Expectations {
            identity: args.identity.as_deref(),
            issuer: args.issuer.as_deref(),
            policy: policy.as_ref(),
        },
    );
    if args.json {
        let trace: Vec<_> = verdict
            .trace
            .iter()
            .map(|s| json!({"check": s.check, "passed": s.passed, "detail": s.detail}))
            .collect();
        let report = match &verdict.result {
            Ok(v) => json!({"verified": true, "identity": v.identity, "issuer": v.issuer,
                "signed_at": v.signed_at, "attested": v.attested, "trace": trace}),
            Err(e) => {
                json!({"verified": false, "step": e.step(), "reason": e.to_string(), "trace": trace})
            }
        };
        println!("{report}");
    } else {
        if args.explain {
            for step in &verdict.trace {
                let mark = if step.passed { "ok  " } else { "FAIL" };
                println!("{mark} {:<11} {}", step.check, step.detail);
            }
        }
        match &verdict.result {
            Ok(v) => println!(
                "verified: signed by {} at {} ({} artifact(s)); sha256 {}",
                v.identity,
                v.signed_at,
                artifacts.len(),
                hex::encode(Sha256::digest(&v.certificate))
            ),
            Err(e) => println!("refused: {e}"),
        }
    }
    Ok(if verdict.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
