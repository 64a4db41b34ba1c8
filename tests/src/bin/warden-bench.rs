//! `warden-bench`: load generator. Drives N concurrent agents (each a fresh client: new TEE key,
//! new TLS connection, full /auth → /attest → /resource and JWE decryption) against a running
//! KBS and writes throughput, latency percentiles and the KBS's peak RSS to a JSON file.
// Test support: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use warden_agent::{ClientConfig, KbsClient, SampleAttester};
use warden_wire::jwe::KeyAlgorithm;
use warden_wire::{ResourcePath, TeeKeyPair};

#[derive(Parser)]
#[command(about = "Load generator for warden-kbs (uses the INSECURE sample TEE)")]
struct Args {
    #[arg(long)]
    kbs: String,
    #[arg(long)]
    ca_file: PathBuf,
    /// PID of the KBS, to read its resident memory from /proc.
    #[arg(long)]
    kbs_pid: u32,
    /// Concurrency levels to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Seconds per level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value = "demo/key/one")]
    resource: String,
    /// Plaintext the resource must decrypt to (checked on every fetch).
    #[arg(long, default_value = "")]
    expect: String,
    /// Instead of full rounds, measure unauthenticated `/auth` only: the KBS's resident memory
    /// per pending challenge after this many challenges nobody answers, then `/auth` requests
    /// per second at each concurrency level.
    #[arg(long, value_name = "CHALLENGES")]
    auth_only: Option<usize>,
    /// Instead of resources, measure the signing authority: `certs` (attest with a new key
    /// committed + CSR → certificate, per operation) or `remote-sign` (attest + a DSSE
    /// signature by the named key `bench`, with its certificate and timestamp); the raw signing
    /// rate of the keys involved is measured in the same run.
    /// `remote-sign-session` attests once per client and then only signs: the marginal cost of
    /// a remote signature.
    #[arg(long, value_parser = ["certs", "remote-sign", "remote-sign-session"])]
    signing: Option<String>,
    #[arg(long)]
    out: PathBuf,
}

/// Reads a `Vm*:` line (kB) of /proc/<pid>/status.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) the process has used so far, in seconds.
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at state (field 3).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn one_agent(
    config: ClientConfig,
    path: ResourcePath,
    expect: Arc<Vec<u8>>,
) -> anyhow::Result<()> {
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw)?;
    let mut client = KbsClient::new(config, Arc::new(SampleAttester::default()), key)?;
    let plaintext = client.get_resource(&path).await?;
    anyhow::ensure!(
        plaintext == *expect,
        "resource decrypted to unexpected bytes"
    );
    Ok(())
}

/// One signing operation from a fresh agent (new TEE key, new TLS connection).
async fn one_signing(config: ClientConfig, mode: Arc<String>) -> anyhow::Result<()> {
    use warden_wire::signing_key::{KeyAlgorithm as SigningAlgorithm, SigningKeyPair};
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw)?;
    let mut client = KbsClient::new(config, Arc::new(SampleAttester::default()), key)?;
    if mode.as_str() == "certs" {
        let signing_key = SigningKeyPair::generate(SigningAlgorithm::EcdsaP256)?;
        warden_agent::signing::request_certificate(&mut client, &signing_key, None).await?;
    } else {
        warden_agent::signing::remote_sign(&mut client, "bench", BENCH_STATEMENT.as_bytes())
            .await?;
    }
    Ok(())
}

/// A client with an attested session, for signing in a loop.
async fn attested_client(config: ClientConfig) -> anyhow::Result<KbsClient> {
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw)?;
    let mut client = KbsClient::new(config, Arc::new(SampleAttester::default()), key)?;
    client.attest().await?;
    Ok(client)
}

/// The statement `remote-sign` has signed: Warden's reference-value predicate (no builder).
const BENCH_STATEMENT: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"image","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://warden.dev/reference-values/v1","predicate":{"expires":"2099-01-01T00:00:00Z","reference_values":{"sample":{"min_svn":1}}}}"#;

/// Signatures per second one thread makes with a key of `algorithm`, for about a second.
fn raw_signing_rate(algorithm: warden_wire::signing_key::KeyAlgorithm) -> f64 {
    let key = warden_wire::signing_key::SigningKeyPair::generate(algorithm).unwrap();
    let message = [0x5a; 256];
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        key.sign(&message).unwrap();
        count += 1;
    }
    f64::from(count) / started.elapsed().as_secs_f64()
}

async fn run_level(args: &Args, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let path = ResourcePath::parse(&args.resource)?;
    let expect = Arc::new(args.expect.clone().into_bytes());
    let mut config = ClientConfig::new(args.kbs.clone());
    config.ca_file = Some(args.ca_file.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let pid = args.kbs_pid;
    let sampler_stop = stop.clone();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while !sampler_stop.load(Ordering::Relaxed) {
            peak = peak.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let cpu_before = proc_cpu_seconds(pid).unwrap_or(0.0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    let signing = Arc::new(args.signing.clone().unwrap_or_default());
    for _ in 0..concurrency {
        let (config, path, expect) = (config.clone(), path.clone(), expect.clone());
        let signing = signing.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let session = if signing.as_str() == "remote-sign-session" {
                match attested_client(config.clone()).await {
                    Ok(client) => Some(client),
                    Err(e) => return (latencies, vec![e.to_string()]),
                }
            } else {
                None
            };
            while Instant::now() < deadline {
                let start = Instant::now();
                let outcome = match &session {
                    Some(client) => warden_agent::signing::remote_sign_attested(
                        client,
                        "bench",
                        BENCH_STATEMENT.as_bytes(),
                    )
                    .await
                    .map(drop)
                    .map_err(anyhow::Error::from),
                    None if signing.is_empty() => {
                        one_agent(config.clone(), path.clone(), expect.clone()).await
                    }
                    None => one_signing(config.clone(), signing.clone()).await,
                };
                match outcome {
                    Ok(()) => latencies.push(start.elapsed()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let kbs_cpu = proc_cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let peak_rss = sampler.await?;
    latencies.sort();
    let result = json!({
        "concurrency": concurrency,
        "completed": latencies.len(),
        "errors": errors.len(),
        "first_error": errors.first(),
        "seconds": elapsed,
        "throughput_per_s": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "kbs_peak_rss_kib": peak_rss,
        // Server-side cost alone (the load generator shares the machine's cores with the KBS).
        "kbs_cpu_ms_per_op": if latencies.is_empty() { 0.0 } else { kbs_cpu * 1000.0 / latencies.len() as f64 },
        "kbs_cpu_utilisation": kbs_cpu / elapsed,
    });
    eprintln!("{result}");
    Ok(result)
}

/// Sends `/auth` from `concurrency` kept-alive clients until `count` were answered 200 or
/// `deadline` passes; returns (answered 200, other answers).
async fn auth_requests(
    args: &Args,
    concurrency: usize,
    count: Option<usize>,
    deadline: Instant,
) -> anyhow::Result<(usize, usize)> {
    let url = format!("{}/kbs/v0/auth", args.kbs);
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(
        count.unwrap_or(usize::MAX),
    ));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        // No cookie store: each challenge is dropped unanswered, as an attacker would.
        let http = warden_tests::client_trusting(&args.ca_file, false)
            .cookie_store(false)
            .build()?;
        let (url, remaining) = (url.clone(), remaining.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut other) = (0usize, 0usize);
            let body = json!({"version": "0.4.0", "tee": "sample", "extra-params": {}});
            while Instant::now() < deadline
                && remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                match http.post(&url).json(&body).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        ok += 1;
                    }
                    _ => other += 1,
                }
            }
            (ok, other)
        }));
    }
    let (mut ok, mut other) = (0, 0);
    for worker in workers {
        let (o, e) = worker.await?;
        ok += o;
        other += e;
    }
    Ok((ok, other))
}

/// The `--auth-only` measurement: memory per pending challenge, then `/auth` throughput.
async fn auth_only(args: &Args, challenges: usize) -> anyhow::Result<serde_json::Value> {
    let pid = args.kbs_pid;
    let rss = || proc_status_kib(pid, "VmRSS:").unwrap_or(0);
    let far = Instant::now() + Duration::from_secs(3600);
    // Warm up: connections, allocator arenas, TLS session state.
    auth_requests(args, 16, Some(1000), far).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss();
    let (issued, refused) = auth_requests(args, 16, Some(challenges), far).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss();
    let per_challenge = (after.saturating_sub(before) * 1024) as f64 / issued.max(1) as f64;
    let memory = json!({
        "pending_challenges": issued,
        "refused": refused,
        "kbs_rss_before_kib": before,
        "kbs_rss_after_kib": after,
        "kbs_bytes_per_pending_challenge": per_challenge,
    });
    eprintln!("{memory}");
    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        let cpu_before = proc_cpu_seconds(pid).unwrap_or(0.0);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        let (ok, other) = auth_requests(args, concurrency, None, deadline).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let kbs_cpu = proc_cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
        let level = json!({
            "concurrency": concurrency,
            "answered": ok,
            "errors": other,
            "auth_per_s": ok as f64 / elapsed,
            "kbs_cpu_us_per_auth": if ok == 0 { 0.0 } else { kbs_cpu * 1e6 / ok as f64 },
        });
        eprintln!("{level}");
        levels.push(level);
    }
    Ok(json!({"memory": memory, "throughput": levels}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let report = if let Some(challenges) = args.auth_only {
        json!({
            "what": "unauthenticated /auth only: challenges nobody answers (kept-alive TLS clients, no cookies)",
            "kbs": args.kbs,
            "results": auth_only(&args, challenges).await?,
            "kbs_vm_hwm_kib": proc_status_kib(args.kbs_pid, "VmHWM:"),
        })
    } else if let Some(mode) = &args.signing {
        use warden_wire::signing_key::KeyAlgorithm as SigningAlgorithm;
        // Measured before and after the load, on one thread of this machine.
        let raw_before = [
            raw_signing_rate(SigningAlgorithm::EcdsaP256),
            raw_signing_rate(SigningAlgorithm::EcdsaP384),
        ];
        let mut results = Vec::new();
        for &concurrency in &args.concurrency {
            results.push(run_level(&args, concurrency).await?);
        }
        let raw = [
            (raw_before[0] + raw_signing_rate(SigningAlgorithm::EcdsaP256)) / 2.0,
            (raw_before[1] + raw_signing_rate(SigningAlgorithm::EcdsaP384)) / 2.0,
        ];
        // A certificate costs the CA one P-384 signature; a remote signature costs the named
        // key one P-256 signature, its certificate one P-384 and its timestamp one P-256.
        let raw_per_operation = if mode == "certs" {
            raw[1]
        } else {
            1.0 / (2.0 / raw[0] + 1.0 / raw[1])
        };
        for result in &mut results {
            let throughput = result["throughput_per_s"].as_f64().unwrap_or(0.0);
            result["ratio_to_raw_signing"] = json!(throughput / raw_per_operation);
        }
        json!({
            "what": match mode.as_str() {
                "certs" => "certificates: fresh agent (sample TEE), /auth + /attest with a new P-256 key committed + CSR -> certificate",
                "remote-sign" => "remote signatures: fresh agent (sample TEE), /auth + /attest + DSSE signature by a named P-256 key, its certificate and timestamp",
                _ => "remote signatures in one attested session per client: DSSE signature by a named P-256 key, its certificate and timestamp (no attestation per operation)",
            },
            "kbs": args.kbs,
            "raw_signatures_per_s_one_thread": {"ecdsa_p256": raw[0], "ecdsa_p384": raw[1]},
            "raw_signing_operations_per_s": raw_per_operation,
            "kbs_vm_hwm_kib": proc_status_kib(args.kbs_pid, "VmHWM:"),
            "results": results,
        })
    } else {
        let mut results = Vec::new();
        for &concurrency in &args.concurrency {
            results.push(run_level(&args, concurrency).await?);
        }
        json!({
            "what": "full RCAR (auth, attest, resource) + JWE decrypt per operation, fresh TLS client per agent",
            "kbs": args.kbs,
            "kbs_vm_hwm_kib": proc_status_kib(args.kbs_pid, "VmHWM:"),
            "results": results,
        })
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| args.out.display().to_string())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
