//! `warden-bench`: load generator. Drives N concurrent agents (each a fresh client: new TEE key,
//! new TLS connection, full /auth → /attest → /resource and JWE decryption) against a running
//! KBS and writes throughput, latency percentiles and the KBS's peak RSS to a JSON file.
//!
//! Given several `--kbs` URLs (replicas of one KBS on one host), each round spreads its steps
//! over them: round r of a client sends `/auth` to replica r mod N, `/attest` to (r+1) mod N
//! and `/resource` to (r+2) mod N. Failures are counted by step, replica and kind;
//! `--error-log` and `--timeline` say when they happened.
// Test support: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use warden_agent::{AgentError, ClientConfig, KbsClient, SampleAttester};
use warden_wire::jwe::KeyAlgorithm;
use warden_wire::{ResourcePath, TeeKeyPair};

#[derive(Parser)]
#[command(about = "Load generator for warden-kbs (uses the INSECURE sample TEE)")]
struct Args {
    /// Base URL of the KBS. Repeated (or comma-separated): replicas of one KBS, differing only
    /// in port, over which each round spreads its steps.
    #[arg(long, value_delimiter = ',', required = true)]
    kbs: Vec<String>,
    #[arg(long)]
    ca_file: PathBuf,
    /// PID of the KBS, to read its resident memory and CPU time from /proc: one per `--kbs`,
    /// in the same order (repeated or comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    kbs_pid: Vec<u32>,
    /// Concurrency levels to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Seconds per level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Like a load balancer's passive health check: a replica that fails a step with a
    /// transport error (refused, reset: the process is gone) gets no new steps for this long;
    /// its steps go to the next replica. Off by default (every step goes where the rotation
    /// says, so a dead replica fails every round that touches it).
    /// How rounds use several replicas: `steps` (each round spreads its three steps over three
    /// replicas: the worst case, one TLS connection per step) or `rounds` (a whole round on one
    /// replica, rounds in turn: what a load balancer keeping a client's connection does).
    #[arg(long, default_value = "steps", value_parser = ["steps", "rounds"])]
    spread: String,
    #[arg(long, value_name = "MILLISECONDS", value_parser = |ms: &str| ms.parse::<u64>().map(Duration::from_millis))]
    eject_for: Option<Duration>,
    /// After a full-round load: seconds to wait before reading the servers' resident memory
    /// again (past Tokio's 10 s keep-alive of idle blocking threads, whose heaps go with them).
    #[arg(long, default_value_t = 15)]
    settle: u64,
    /// Full-round loads: how many times to run the whole list of concurrencies against the
    /// same servers (a later pass shows whether memory grows from pass to pass).
    #[arg(long, default_value_t = 1)]
    passes: usize,
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
    /// Writes one JSON line per failed operation as it fails: `ms` since the run started, the
    /// level's `concurrency`, `client`, `round`, `replica` (index into `--kbs`; null for a
    /// local failure), `step`, `kind` and `error`.
    #[arg(long, value_name = "FILE")]
    error_log: Option<PathBuf>,
    /// Writes, after the run, one JSON line per 250 ms of it (`t_ms` since the run started):
    /// the operations that succeeded and failed in it, failures also per replica.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
}

/// Width of a `--timeline` bucket.
const BUCKET: Duration = Duration::from_millis(250);

/// A step of an operation, as counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Local preparation: key generation, the client.
    Setup,
    Auth,
    Attest,
    Resource,
    /// A whole `--signing` operation.
    Signing(&'static str),
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Setup => "setup",
            Step::Auth => "auth",
            Step::Attest => "attest",
            Step::Resource => "resource",
            Step::Signing(mode) => mode,
        }
    }
}

/// The steps of a resource round, in order; step i of round r goes to replica (r + i) mod N.
const ROUND_STEPS: [Step; 3] = [Step::Auth, Step::Attest, Step::Resource];

/// A failed operation: where it failed, the class of the error (for counting) and its text.
#[derive(Debug)]
struct Failure {
    step: Step,
    /// Index into `--kbs`; `None` for a local failure.
    replica: Option<usize>,
    kind: String,
    message: String,
}

impl Failure {
    fn at(step: Step, replica: usize) -> impl FnOnce(AgentError) -> Failure {
        move |error| Failure {
            step,
            replica: Some(replica),
            kind: error_kind(&error),
            message: error.to_string(),
        }
    }

    fn local(error: impl std::fmt::Display) -> Failure {
        Failure {
            step: Step::Setup,
            replica: None,
            kind: "local".into(),
            message: error.to_string(),
        }
    }
}

/// The class of an agent error, to count failures by: the KBS's status and error type, or the
/// class of a transport failure (its text names the URL, so it is not a class itself).
fn error_kind(error: &AgentError) -> String {
    match error {
        AgentError::Kbs {
            status, error_type, ..
        } if error_type.is_empty() => format!("HTTP {status}"),
        AgentError::Kbs {
            status, error_type, ..
        } => format!("HTTP {status} {error_type}"),
        AgentError::Http(message) => {
            let message = message.to_ascii_lowercase();
            let class = [
                ("connection refused", "connection refused"),
                ("connection reset", "connection reset"),
                ("broken pipe", "broken pipe"),
                ("timed out", "timeout"),
                ("close_notify", "connection closed"),
                ("connection closed", "connection closed"),
                ("unexpected eof", "connection closed"),
                ("certificate", "tls"),
                ("handshake", "tls"),
            ]
            .iter()
            .find(|(needle, _)| message.contains(needle))
            .map_or("other", |(_, class)| class);
            format!("transport: {class}")
        }
        AgentError::Protocol(_) => "protocol".into(),
        AgentError::Jwe(_) => "secret envelope".into(),
        AgentError::Attester(_) => "attester".into(),
        AgentError::Config(_) | AgentError::Io { .. } | AgentError::Tls(_) => "client setup".into(),
    }
}

/// Counts of one step on one replica.
#[derive(Debug, Default)]
struct StepCounts {
    ok: u64,
    errors: u64,
    errors_by_kind: BTreeMap<String, u64>,
}

/// One `--timeline` bucket.
#[derive(Debug, Default, Clone)]
struct Bucket {
    ok: u64,
    errors: u64,
    errors_by_replica: Vec<u64>,
}

/// What a worker (and then a level) saw.
#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
    first_error: Option<String>,
    errors_by_kind: BTreeMap<String, u64>,
    /// Per replica, per step name.
    steps: Vec<BTreeMap<&'static str, StepCounts>>,
    buckets: Vec<Bucket>,
}

impl Tally {
    fn new(replicas: usize) -> Self {
        Self {
            steps: (0..replicas).map(|_| BTreeMap::new()).collect(),
            ..Self::default()
        }
    }

    fn bucket(&mut self, at: Duration) -> &mut Bucket {
        let index = usize::try_from(at.as_millis() / BUCKET.as_millis()).unwrap();
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, Bucket::default());
        }
        &mut self.buckets[index]
    }

    /// Records an operation made of `steps` (step i on replica `used[i]`), which took
    /// `latency` and ended `at` after the run started.
    fn record(
        &mut self,
        steps: &[Step],
        used: &[usize; 3],
        latency: Duration,
        at: Duration,
        outcome: &Result<(), Failure>,
    ) {
        let replicas = self.steps.len();
        let succeeded = match outcome {
            Ok(()) => steps.len(),
            Err(failure) => steps
                .iter()
                .position(|&step| step == failure.step)
                .unwrap_or(0),
        };
        for (i, step) in steps.iter().enumerate().take(succeeded) {
            let replica = used.get(i).copied().unwrap_or(0) % replicas;
            self.steps[replica].entry(step.name()).or_default().ok += 1;
        }
        match outcome {
            Ok(()) => {
                self.latencies.push(latency);
                self.bucket(at).ok += 1;
            }
            Err(failure) => {
                self.failed += 1;
                self.first_error
                    .get_or_insert_with(|| failure.message.clone());
                *self.errors_by_kind.entry(failure.kind.clone()).or_default() += 1;
                if let Some(replica) = failure.replica {
                    let counts = self.steps[replica].entry(failure.step.name()).or_default();
                    counts.errors += 1;
                    *counts
                        .errors_by_kind
                        .entry(failure.kind.clone())
                        .or_default() += 1;
                }
                let bucket = self.bucket(at);
                bucket.errors += 1;
                if let Some(replica) = failure.replica {
                    bucket.errors_by_replica.resize(replicas, 0);
                    bucket.errors_by_replica[replica] += 1;
                }
            }
        }
    }

    /// Adds `other` (a later worker: the first error stays the earlier worker's).
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        merge_counts(&mut self.errors_by_kind, other.errors_by_kind);
        for (mine, theirs) in self.steps.iter_mut().zip(other.steps) {
            for (step, counts) in theirs {
                let mine = mine.entry(step).or_default();
                mine.ok += counts.ok;
                mine.errors += counts.errors;
                merge_counts(&mut mine.errors_by_kind, counts.errors_by_kind);
            }
        }
        merge_buckets(&mut self.buckets, other.buckets);
    }
}

fn merge_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (kind, count) in from {
        *into.entry(kind).or_default() += count;
    }
}

fn merge_buckets(into: &mut Vec<Bucket>, from: Vec<Bucket>) {
    if into.len() < from.len() {
        into.resize(from.len(), Bucket::default());
    }
    for (mine, theirs) in into.iter_mut().zip(from) {
        mine.ok += theirs.ok;
        mine.errors += theirs.errors;
        if mine.errors_by_replica.len() < theirs.errors_by_replica.len() {
            mine.errors_by_replica
                .resize(theirs.errors_by_replica.len(), 0);
        }
        for (count, more) in mine
            .errors_by_replica
            .iter_mut()
            .zip(theirs.errors_by_replica)
        {
            *count += more;
        }
    }
}

/// State of the whole run, across levels.
struct Run {
    started: Instant,
    error_log: Option<Mutex<std::fs::File>>,
    timeline: Mutex<Vec<Bucket>>,
    /// Per replica: until when (ms since `started`) it gets no new steps (`--eject-for`).
    ejected_until: Vec<std::sync::atomic::AtomicU64>,
    eject_for: Option<Duration>,
    /// `--spread rounds`: every step of a round on the round's replica.
    whole_rounds: bool,
}

impl Run {
    /// The replica for a step the rotation gives to `preferred`: that one, unless it is
    /// ejected; then the next one that is not (or `preferred` if all are).
    fn pick(&self, preferred: usize) -> usize {
        let replicas = self.ejected_until.len();
        let now = self.started.elapsed().as_millis() as u64;
        (0..replicas)
            .map(|k| (preferred + k) % replicas)
            .find(|&r| self.ejected_until[r].load(Ordering::Relaxed) <= now)
            .unwrap_or(preferred)
    }

    /// Ejects the replica of `failure` when it failed at the transport (`--eject-for`).
    fn observe(&self, failure: &Failure) {
        if let (Some(eject_for), Some(replica)) = (self.eject_for, failure.replica)
            && failure.kind.starts_with("transport")
        {
            let until = (self.started.elapsed() + eject_for).as_millis() as u64;
            self.ejected_until[replica].fetch_max(until, Ordering::Relaxed);
        }
    }
}

impl Run {
    /// Appends a failure to `--error-log`, if given.
    fn log_failure(
        &self,
        concurrency: usize,
        client: usize,
        round: usize,
        at: Duration,
        failure: &Failure,
    ) {
        let Some(log) = &self.error_log else { return };
        let line = json!({
            "ms": at.as_millis(),
            "concurrency": concurrency,
            "client": client,
            "round": round,
            "replica": failure.replica,
            "step": failure.step.name(),
            "kind": failure.kind,
            "error": failure.message,
        });
        let mut file = log.lock().unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

/// Creates (truncates) `path`, and its directory.
fn create_file(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path).with_context(|| path.display().to_string())
}

/// The PIDs once each, for sums (several URLs may name one process).
fn distinct(pids: &[u32]) -> Vec<u32> {
    let mut seen = Vec::new();
    for &pid in pids {
        if !seen.contains(&pid) {
            seen.push(pid);
        }
    }
    seen
}

/// Reads a `Vm*:` line (kB) of /proc/<pid>/status.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The summed resident memory of the distinct processes `pids`.
fn rss_kib(pids: &[u32]) -> u64 {
    distinct(pids)
        .iter()
        .map(|&pid| proc_status_kib(pid, "VmRSS:").unwrap_or(0))
        .sum()
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

/// Round `round` of one fresh agent (new TEE key, new TLS connection): `/auth` on replica
/// round mod N, `/attest` on the next, `/resource` on the one after, keeping the session.
async fn one_agent(
    config: &ClientConfig,
    urls: &[String],
    round: usize,
    path: &ResourcePath,
    expect: &[u8],
    run: &Run,
    used: &mut [usize; 3],
) -> Result<(), Failure> {
    for (step, replica) in used.iter_mut().enumerate() {
        let preferred = if run.whole_rounds {
            round
        } else {
            round + step
        };
        *replica = run.pick(preferred % urls.len());
    }
    let used = *used;
    let replica = |step: usize| used[step];
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).map_err(Failure::local)?;
    let mut config = config.clone();
    config.base_url.clone_from(&urls[replica(0)]);
    let mut client =
        KbsClient::new(config, Arc::new(SampleAttester::default()), key).map_err(Failure::local)?;
    let challenge = client
        .request_challenge()
        .await
        .map_err(Failure::at(Step::Auth, replica(0)))?;
    client
        .set_base_url(&urls[replica(1)])
        .map_err(Failure::local)?;
    client
        .answer_challenge(challenge)
        .await
        .map_err(Failure::at(Step::Attest, replica(1)))?;
    client
        .set_base_url(&urls[replica(2)])
        .map_err(Failure::local)?;
    let plaintext = client
        .get_resource(path)
        .await
        .map_err(Failure::at(Step::Resource, replica(2)))?;
    if plaintext != expect {
        return Err(Failure {
            step: Step::Resource,
            replica: Some(replica(2)),
            kind: "wrong plaintext".into(),
            message: "resource decrypted to unexpected bytes".into(),
        });
    }
    Ok(())
}

/// One signing operation from a fresh agent (new TEE key, new TLS connection).
async fn one_signing(config: ClientConfig, mode: &'static str) -> Result<(), Failure> {
    use warden_wire::signing_key::{KeyAlgorithm as SigningAlgorithm, SigningKeyPair};
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).map_err(Failure::local)?;
    let mut client =
        KbsClient::new(config, Arc::new(SampleAttester::default()), key).map_err(Failure::local)?;
    if mode == "certs" {
        let signing_key =
            SigningKeyPair::generate(SigningAlgorithm::EcdsaP256).map_err(Failure::local)?;
        warden_agent::signing::request_certificate(&mut client, &signing_key, None)
            .await
            .map_err(Failure::at(Step::Signing(mode), 0))?;
    } else {
        warden_agent::signing::remote_sign(&mut client, "bench", BENCH_STATEMENT.as_bytes())
            .await
            .map_err(Failure::at(Step::Signing(mode), 0))?;
    }
    Ok(())
}

/// A client with an attested session, for signing in a loop.
async fn attested_client(config: ClientConfig) -> Result<KbsClient, Failure> {
    let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).map_err(Failure::local)?;
    let mut client =
        KbsClient::new(config, Arc::new(SampleAttester::default()), key).map_err(Failure::local)?;
    client
        .attest()
        .await
        .map_err(Failure::at(Step::Attest, 0))?;
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

async fn run_level(
    args: &Args,
    run: &Arc<Run>,
    concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    let path = ResourcePath::parse(&args.resource)?;
    let expect = Arc::new(args.expect.clone().into_bytes());
    let urls = Arc::new(args.kbs.clone());
    let replicas = urls.len();
    let mut config = ClientConfig::new(urls[0].clone());
    config.ca_file = Some(args.ca_file.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let pids = args.kbs_pid.clone();
    let sampler_stop = stop.clone();
    let sampled = pids.clone();
    // Peak RSS of each replica, and the peak of their sum (each process counted once).
    let sampler = tokio::spawn(async move {
        let distinct = distinct(&sampled);
        let mut peaks = vec![0; sampled.len()];
        let mut peak_sum = 0;
        while !sampler_stop.load(Ordering::Relaxed) {
            let rss: Vec<u64> = distinct
                .iter()
                .map(|&pid| proc_status_kib(pid, "VmRSS:").unwrap_or(0))
                .collect();
            for (peak, pid) in peaks.iter_mut().zip(&sampled) {
                let at = distinct.iter().position(|p| p == pid).unwrap();
                *peak = rss[at].max(*peak);
            }
            peak_sum = peak_sum.max(rss.iter().sum());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (peaks, peak_sum)
    });
    let cpu = |pid| proc_cpu_seconds(pid).unwrap_or(0.0);
    let cpu_before: Vec<f64> = pids.iter().map(|&pid| cpu(pid)).collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    let signing: Option<&'static str> = args.signing.as_deref().map(|mode| match mode {
        "certs" => "certs",
        "remote-sign" => "remote-sign",
        _ => "remote-sign-session",
    });
    let steps: Arc<Vec<Step>> = Arc::new(match signing {
        Some(mode) => vec![Step::Signing(mode)],
        None => ROUND_STEPS.to_vec(),
    });
    for client in 0..concurrency {
        let (config, path, expect) = (config.clone(), path.clone(), expect.clone());
        let (urls, steps, run) = (urls.clone(), steps.clone(), run.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new(replicas);
            let session = if signing == Some("remote-sign-session") {
                let start = Instant::now();
                match attested_client(config.clone()).await {
                    Ok(client) => Some(client),
                    Err(failure) => {
                        let at = run.started.elapsed();
                        run.log_failure(concurrency, client, 0, at, &failure);
                        tally.record(&steps, &[0; 3], start.elapsed(), at, &Err(failure));
                        return tally;
                    }
                }
            } else {
                None
            };
            let mut round = 0;
            // The replica each step of the round went to (signing operations: the first).
            let mut used = [0usize; 3];
            while Instant::now() < deadline {
                let start = Instant::now();
                let outcome = match (&session, signing) {
                    (Some(session), Some(mode)) => warden_agent::signing::remote_sign_attested(
                        session,
                        "bench",
                        BENCH_STATEMENT.as_bytes(),
                    )
                    .await
                    .map(drop)
                    .map_err(Failure::at(Step::Signing(mode), 0)),
                    (_, None) => {
                        one_agent(&config, &urls, round, &path, &expect, &run, &mut used).await
                    }
                    (None, Some(mode)) => one_signing(config.clone(), mode).await,
                };
                let at = run.started.elapsed();
                if let Err(failure) = &outcome {
                    run.log_failure(concurrency, client, round, at, failure);
                    run.observe(failure);
                }
                tally.record(&steps, &used, start.elapsed(), at, &outcome);
                round += 1;
            }
            tally
        }));
    }
    let mut tally = Tally::new(replicas);
    for worker in workers {
        tally.merge(worker.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_used: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(&pid, before)| cpu(pid) - before)
        .collect();
    let kbs_cpu: f64 = distinct(&pids)
        .iter()
        .map(|pid| cpu_used[pids.iter().position(|p| p == pid).unwrap()])
        .sum();
    stop.store(true, Ordering::Relaxed);
    let (peak_rss, peak_rss_sum) = sampler.await?;
    let Tally {
        mut latencies,
        failed,
        first_error,
        errors_by_kind,
        steps: replica_steps,
        buckets,
    } = tally;
    merge_buckets(&mut run.timeline.lock().unwrap(), buckets);
    latencies.sort();
    let completed = latencies.len();
    let per_replica: Vec<_> = replica_steps
        .into_iter()
        .enumerate()
        .map(|(replica, steps)| {
            let steps: serde_json::Map<_, _> = steps
                .into_iter()
                .map(|(step, counts)| {
                    let counts = json!({
                        "ok": counts.ok,
                        "errors": counts.errors,
                        "errors_by_kind": counts.errors_by_kind,
                    });
                    (step.to_owned(), counts)
                })
                .collect();
            json!({
                "replica": replica,
                "kbs": urls[replica],
                "pid": pids[replica],
                "kbs_peak_rss_kib": peak_rss[replica],
                "kbs_cpu_utilisation": cpu_used[replica] / elapsed,
                "steps": steps,
            })
        })
        .collect();
    let result = json!({
        "concurrency": concurrency,
        "completed": completed,
        "errors": failed,
        "first_error": first_error,
        "seconds": elapsed,
        "throughput_per_s": completed as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "kbs_peak_rss_kib": peak_rss_sum,
        // Server-side cost alone (the load generator shares the machine's cores with the KBS).
        "kbs_cpu_ms_per_op": if completed == 0 { 0.0 } else { kbs_cpu * 1000.0 / completed as f64 },
        "kbs_cpu_utilisation": kbs_cpu / elapsed,
        "attempted": completed as u64 + failed,
        "errors_by_kind": errors_by_kind,
        "per_replica": per_replica,
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
    let url = format!("{}/kbs/v0/auth", args.kbs[0]);
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
    let pid = args.kbs_pid[0];
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

/// The `kbs` field of the report: the URL, or the list of replicas' URLs.
fn kbs_field(args: &Args) -> serde_json::Value {
    match args.kbs.as_slice() {
        [one] => json!(one),
        many => json!(many),
    }
}

/// `VmHWM` of the KBS (each process counted once), and of each replica.
fn vm_hwm(args: &Args) -> (Option<u64>, Vec<serde_json::Value>) {
    let hwm = |pid| proc_status_kib(pid, "VmHWM:");
    let total = distinct(&args.kbs_pid).into_iter().map(hwm).sum();
    let each = args
        .kbs
        .iter()
        .zip(&args.kbs_pid)
        .enumerate()
        .map(|(replica, (url, &pid))| {
            json!({"replica": replica, "kbs": url, "pid": pid, "kbs_vm_hwm_kib": hwm(pid)})
        })
        .collect();
    (total, each)
}

/// Refuses replica lists the rounds cannot use, before any load.
fn check_replicas(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.kbs.len() == args.kbs_pid.len(),
        "{} --kbs URLs but {} --kbs-pid: give one PID per URL",
        args.kbs.len(),
        args.kbs_pid.len()
    );
    if args.kbs.len() > 1 {
        anyhow::ensure!(
            args.auth_only.is_none() && args.signing.is_none(),
            "several --kbs URLs are spread over the resource rounds only, not --auth-only or --signing"
        );
        // The session must follow from one replica to the next: same scheme and host.
        let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw)?;
        let mut config = ClientConfig::new(args.kbs[0].clone());
        config.ca_file = Some(args.ca_file.clone());
        let mut client = KbsClient::new(config, Arc::new(SampleAttester::default()), key)?;
        for url in &args.kbs[1..] {
            client.set_base_url(url)?;
        }
    }
    Ok(())
}

/// Totals over the levels: operations acknowledged (completed) and failed, failures by kind.
fn totals(results: &[serde_json::Value]) -> serde_json::Value {
    let mut errors_by_kind = BTreeMap::<String, u64>::new();
    for result in results {
        for (kind, count) in result["errors_by_kind"].as_object().into_iter().flatten() {
            *errors_by_kind.entry(kind.clone()).or_default() += count.as_u64().unwrap_or(0);
        }
    }
    let sum = |field: &str| -> u64 { results.iter().filter_map(|r| r[field].as_u64()).sum() };
    json!({
        "acknowledged": sum("completed"),
        "failed": sum("errors"),
        "errors_by_kind": errors_by_kind,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    check_replicas(&args)?;
    let started_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_millis();
    let run = Arc::new(Run {
        started: Instant::now(),
        error_log: match &args.error_log {
            Some(path) => Some(Mutex::new(create_file(path)?)),
            None => None,
        },
        timeline: Mutex::new(Vec::new()),
        ejected_until: args
            .kbs
            .iter()
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
        eject_for: args.eject_for,
        whole_rounds: args.spread == "rounds",
    });
    let mut report = if let Some(challenges) = args.auth_only {
        json!({
            "what": "unauthenticated /auth only: challenges nobody answers (kept-alive TLS clients, no cookies)",
            "kbs": kbs_field(&args),
            "results": auth_only(&args, challenges).await?,
            "kbs_vm_hwm_kib": vm_hwm(&args).0,
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
            results.push(run_level(&args, &run, concurrency).await?);
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
            "kbs": kbs_field(&args),
            "raw_signatures_per_s_one_thread": {"ecdsa_p256": raw[0], "ecdsa_p384": raw[1]},
            "raw_signing_operations_per_s": raw_per_operation,
            "kbs_vm_hwm_kib": vm_hwm(&args).0,
            "totals": totals(&results),
            "results": results,
        })
    } else {
        let mut rss = vec![rss_kib(&args.kbs_pid)];
        let mut passes = Vec::new();
        for _ in 0..args.passes.max(1) {
            let mut results = Vec::new();
            for &concurrency in &args.concurrency {
                results.push(run_level(&args, &run, concurrency).await?);
            }
            // Memory that comes back: the servers' RSS once the load's connections have closed.
            tokio::time::sleep(Duration::from_secs(args.settle)).await;
            rss.push(rss_kib(&args.kbs_pid));
            passes.push(results);
        }
        let results = passes.remove(0);
        json!({
            "what": "full RCAR (auth, attest, resource) + JWE decrypt per operation, fresh TLS client per agent",
            "kbs": kbs_field(&args),
            "kbs_vm_hwm_kib": vm_hwm(&args).0,
            "kbs_rss_before_load_kib": rss[0],
            "kbs_rss_after_each_pass_kib": &rss[1..],
            "kbs_rss_settle_s": args.settle,
            "totals": totals(&results),
            "results": results,
            "later_passes": passes,
        })
    };
    let run_ms = run.started.elapsed().as_millis();
    report["replicas"] = json!(args.kbs.len());
    report["per_replica"] = json!(vm_hwm(&args).1);
    report["started_unix_ms"] = json!(started_unix_ms);
    report["run_ms"] = json!(run_ms);
    if let Some(path) = &args.timeline {
        let mut buckets = std::mem::take(&mut *run.timeline.lock().unwrap());
        // Every bucket to the end of the run, empty ones too: a gap is a finding.
        let count = usize::try_from(run_ms / BUCKET.as_millis()).unwrap() + 1;
        if buckets.len() < count {
            buckets.resize(count, Bucket::default());
        }
        let mut lines = String::new();
        for (index, bucket) in buckets.iter().enumerate() {
            let mut errors_by_replica = bucket.errors_by_replica.clone();
            errors_by_replica.resize(args.kbs.len(), 0);
            let line = json!({
                "t_ms": index as u128 * BUCKET.as_millis(),
                "ok": bucket.ok,
                "errors": bucket.errors,
                "errors_by_replica": errors_by_replica,
            });
            lines.push_str(&format!("{line}\n"));
        }
        create_file(path)?.write_all(lines.as_bytes())?;
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| args.out.display().to_string())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
