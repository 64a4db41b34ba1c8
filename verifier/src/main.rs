//! `warden-verifier`: command-line skin over the `warden_verifier` library.
//!
//! Exit codes: 0 affirming, 1 rejected or not affirming, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_store::Store;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::ear::{EarClaims, TokenSigner, TokenVerifier};
use warden_verifier::fetch::kds::{AMD_KDS_URL, KdsSettings};
use warden_verifier::fetch::pcs::{INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL, PcsSettings};
use warden_verifier::fetch::{DEFAULT_RETRY_AFTER, DEFAULT_TIMEOUT, Prefetcher};
use warden_verifier::provenance::TrustedBuilderKeys;
use warden_verifier::service::{
    Managers, RemoteVerifier, ServiceError, TlsFiles, VerifierService, import_state_files,
    import_summary,
};
use warden_verifier::tee::snp::SnpEvidence;
use warden_verifier::tee::snp::certs::{AmdRoots, Collateral, Endorsements};
use warden_verifier::tee::tdx::TdxEvidence;
use warden_verifier::tee::tdx::collateral::{TdxCollateral, TdxEndorsements};
use warden_verifier::tee::tpm::trust::{SharedTpmTrust, TpmTrust};
use warden_verifier::{
    AppraisalRequest, Appraiser, ExpectedBinding, ReferenceValues, Status, VerifierRegistry,
    VerifierSettings, VerifierSources,
};

#[derive(Parser)]
#[command(
    name = "warden-verifier",
    version,
    about = "Appraise TEE evidence offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify evidence and appraise it against reference values and a policy.
    Appraise(AppraiseArgs),
    /// Appraise like `appraise` and print the whole decision trace: every evidence check, every
    /// reference-value comparison (with the nearest allowed value on a mismatch) and every
    /// policy outcome. With `--token`, show the trace summary an EAR token carries instead.
    Explain(AppraiseArgs),
    /// Run the verifier as a gRPC service over mutual TLS (see proto/warden/verifier/v1).
    Serve(ServeArgs),
    /// Manage the reference values of a running verifier service (over mutual TLS).
    Rv(RvArgs),
    /// Manage the appraisal policies of a running verifier service (over mutual TLS).
    Policy(PolicyArgs),
    /// List or revoke the TPM AKs clients registered with a running verifier service.
    TpmAk(TpmAkArgs),
}

#[derive(clap::Args)]
struct TpmAkArgs {
    #[command(flatten)]
    connection: ServiceConnection,
    #[command(subcommand)]
    command: TpmAkCommand,
}

#[derive(Subcommand)]
enum TpmAkCommand {
    /// Every registered AK: TPM name, when and by whom.
    List,
    /// Stop trusting the AK with this TPM name (hex); appraisals refuse it at once.
    Rm { name: String },
}

#[derive(clap::Args)]
struct PolicyArgs {
    #[command(flatten)]
    connection: ServiceConnection,
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Set the appraisal policy (Rego, package warden.appraisal) in FILE: the default one, or
    /// the one clients name with ID (a KBS's `[verifier] policy_id`).
    Set {
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        file: PathBuf,
    },
    /// The default policy and every named one, with their SHA-256.
    List,
}

#[derive(clap::Args)]
struct RvArgs {
    #[command(flatten)]
    connection: ServiceConnection,
    #[command(subcommand)]
    command: RvCommand,
}

/// How `rv` and `policy` reach the service.
#[derive(clap::Args)]
struct ServiceConnection {
    /// The service, `https://host:port`.
    #[arg(long)]
    server: String,
    /// The name the service's certificate must carry.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// This client's certificate chain (PEM), from the service's client CA.
    #[arg(long)]
    tls_cert: PathBuf,
    /// This client's private key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// CA (PEM) the service's certificate must chain to.
    #[arg(long)]
    tls_ca: PathBuf,
}

impl ServiceConnection {
    fn connect(&self) -> Result<RemoteVerifier, String> {
        let tls = TlsFiles {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
        };
        RemoteVerifier::connect(&self.server, &self.domain, &tls).map_err(|e| e.to_string())
    }
}

/// A refusal by the service: said on stderr, exit 1.
fn refused(message: String) -> Result<ExitCode, String> {
    eprintln!("refused: {message}");
    Ok(ExitCode::from(1))
}

fn print_json(value: &Value) -> Result<ExitCode, String> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum RvCommand {
    /// Set NAME to the JSON in FILE (the value the appraisal policy reads).
    Add {
        name: String,
        #[arg(long)]
        file: PathBuf,
        /// RFC 3339 time from which appraisals no longer see it.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every value with its version, source, provenance digest and expiry.
    List,
    /// One value with its metadata.
    Show { name: String },
    /// Delete NAME.
    Rm { name: String },
    /// Import the values of a DSSE envelope (signed in-toto statement, Warden predicate).
    Import {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (see --ready-file).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: std::net::SocketAddr,
    /// Written with the bound address once the service accepts connections.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Server certificate chain (PEM).
    #[arg(long)]
    tls_cert: PathBuf,
    /// Server private key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// CA (PEM) that every client certificate must chain to: clients without one are refused.
    #[arg(long)]
    tls_client_ca: PathBuf,
    /// The service's directory: its store (`verifier.db`, unless --sqlite names another) and
    /// token-signing key. State files an older version kept here are moved into the store.
    #[arg(long)]
    state_dir: PathBuf,
    /// The SQLite store of reference values, appraisal policies and registered AKs (the KBS's
    /// store format, but never a KBS's file: one holding sealed resources is refused).
    /// Default: `<state-dir>/verifier.db`.
    #[arg(long)]
    sqlite: Option<PathBuf>,
    /// SNP collateral: VCEK/VLEK certificates and AMD CRLs (DER or PEM).
    #[arg(long)]
    snp_collateral_dir: Option<PathBuf>,
    /// TDX collateral: TCB info, QE identity, CRLs, TCB signing chain.
    #[arg(long)]
    tdx_collateral_dir: Option<PathBuf>,
    /// TPM AK CA certificates and pinned AK public keys.
    #[arg(long)]
    tpm_trust_dir: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL is in the collateral.
    #[arg(long)]
    require_crl: bool,
    /// Accept TDX evidence when no Intel CRL covers its PCK chain (reported as NOT CHECKED).
    #[arg(long)]
    allow_missing_crl: bool,
    /// TPM: accept SHA-1 signatures and PCR banks.
    #[arg(long)]
    allow_sha1: bool,
    /// Enable the software-only sample TEE. INSECURE.
    #[arg(long)]
    insecure_allow_sample: bool,
    /// Also trust the SNP development roots in DIR (sim-snp). INSECURE.
    #[arg(long, value_name = "DIR")]
    insecure_dev_roots: Option<PathBuf>,
    /// Builder public keys (PEM/DER SPKI) that signed reference-value provenance must verify
    /// with; without it, `rv import` is refused.
    #[arg(long, value_name = "DIR")]
    trusted_builder_keys_dir: Option<PathBuf>,
    /// ES256 key (PKCS#8 PEM) the service signs its EAR tokens with; created (mode 0600) if
    /// missing. Default: token-signing.pem in the state directory.
    #[arg(long)]
    token_signing_key: Option<PathBuf>,
    /// `iss` of the service's EAR tokens.
    #[arg(long, default_value = "warden-verifier")]
    token_issuer: String,
    /// Let clients register TPM AKs they proved by credential activation (a KBS with
    /// `[tpm] ek_ca_dir` does). The service cannot check the activation: every client with a
    /// certificate from --tls-client-ca is then trusted to have done it, for all clients.
    #[arg(long)]
    accept_tpm_registrations: bool,
    /// A client (by its certificate's subject common name) that may change reference values,
    /// appraisal policies and TPM AKs; repeatable. Every other client may only appraise and
    /// read. One of --manager and --any-client-may-manage is required.
    #[arg(
        long = "manager",
        value_name = "NAME",
        required_unless_present = "any_client_may_manage"
    )]
    managers: Vec<String>,
    /// Let every client with a certificate from --tls-client-ca change reference values,
    /// appraisal policies and TPM AKs (one trust domain only).
    #[arg(long, conflicts_with = "managers")]
    any_client_may_manage: bool,
    /// Fetch the VCEK of SNP evidence that comes without one from AMD KDS (or the KDS-compatible
    /// URL given) before appraising it, caching it in --snp-collateral-dir when set.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = AMD_KDS_URL)]
    snp_kds: Option<String>,
    /// Keep the TDX collateral of a quote's platform valid from Intel PCS (or the PCCS URL
    /// given) before appraising it, caching it in --tdx-collateral-dir when set.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = INTEL_PCS_URL)]
    tdx_pcs: Option<String>,
    /// Where --tdx-pcs fetches the Intel SGX Root CA CRL (DER).
    #[arg(long, value_name = "URL", default_value = INTEL_ROOT_CA_CRL_URL)]
    tdx_pcs_root_crl_url: String,
}

#[derive(clap::Args)]
struct AppraiseArgs {
    /// TEE name: snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, or sample (with
    /// --insecure-allow-sample).
    #[arg(long, required_unless_present = "token")]
    tee: Option<String>,
    /// Evidence file. SNP: the raw 1184-byte report, its hex, or Warden/CoCo JSON evidence.
    /// TDX: the raw quote (v4/v5) or CoCo JSON evidence. TPM: Warden's TPM evidence JSON. Azure:
    /// the CoCo az-*-vtpm evidence JSON (version 0 or 1). Other TEEs: their JSON evidence.
    #[arg(long, required_unless_present = "token")]
    evidence: Option<PathBuf>,
    /// Endorsement files, recognised by content. SNP and az-snp-vtpm: certificates or CRLs (DER
    /// or PEM). TDX and az-tdx-vtpm: Intel collateral (PCS TCB info / QE identity JSON, dcap-qvl
    /// bundles, CRLs, TCB signing chain). TPM: AK CA certificates and pinned AK public keys
    /// (DER or PEM, SPKI or TPMT_PUBLIC). Repeatable.
    #[arg(long, num_args = 1..)]
    endorsements: Vec<PathBuf>,
    /// TDX: the CC event log (CCEL data) to replay against the quote's RTMRs. TPM: the TCG event
    /// log to replay against the quoted PCRs.
    #[arg(long, value_name = "FILE")]
    event_log: Option<PathBuf>,
    /// TPM: accept SHA-1 signatures and PCR banks.
    #[arg(long)]
    allow_sha1: bool,
    /// Expected report data, hex: a prefix of the report-data field whose rest must be zero
    /// (e.g. the 48-byte runtime-data digest). Without it the binding is not checked.
    #[arg(long)]
    report_data: Option<String>,
    /// Init-data digest, hex, that the evidence must bind (SNP HOST_DATA, TDX MRCONFIGID).
    #[arg(long)]
    init_data_digest: Option<String>,
    /// Verification time, RFC 3339 (never the wall clock unless you pass it).
    #[arg(long, required_unless_present = "token")]
    at: Option<String>,
    /// Reference values JSON: {"<name>": {...}}.
    #[arg(long)]
    reference_values: Option<PathBuf>,
    /// Appraisal policy (Rego) to use instead of the shipped default: a dry run of a change.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL is among the endorsements.
    #[arg(long)]
    require_crl: bool,
    /// Accept TDX evidence when no Intel CRL covers its PCK chain (reported as NOT CHECKED).
    #[arg(long)]
    allow_missing_crl: bool,
    /// Enable the insecure sample TEE.
    #[arg(long)]
    insecure_allow_sample: bool,
    /// Also trust the SNP development roots in DIR (sim-snp). INSECURE.
    #[arg(long, value_name = "DIR")]
    insecure_dev_roots: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// explain: an EAR token (file, or - for standard input) whose trace summary to show.
    #[arg(long, conflicts_with_all = ["tee", "evidence"])]
    token: Option<PathBuf>,
    /// explain --token: JWKS (file) to check the token's signature with, at `--at`.
    #[arg(long, requires_all = ["token", "at"])]
    jwks: Option<PathBuf>,
    /// explain --token --jwks: the issuer the token must name (default: whatever it names).
    #[arg(long, requires = "jwks")]
    issuer: Option<String>,
}

/// What the command prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Appraise,
    Explain,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Appraise(args) => finish(appraise(&args, Mode::Appraise)),
        Command::Explain(args) if args.token.is_some() => finish(explain_token(&args)),
        Command::Explain(args) => finish(appraise(&args, Mode::Explain)),
        Command::Serve(args) => finish(serve(&args)),
        Command::Rv(args) => finish(reference_values(&args)),
        Command::Policy(args) => finish(appraisal_policies(&args)),
        Command::TpmAk(args) => finish(tpm_aks(&args)),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = VerifierSettings::load(&VerifierSources {
        allow_insecure_sample: args.insecure_allow_sample,
        snp_collateral_dir: args.snp_collateral_dir.clone(),
        snp_insecure_dev_roots: args.insecure_dev_roots.clone(),
        snp_require_crl: args.require_crl,
        tdx_collateral_dir: args.tdx_collateral_dir.clone(),
        tdx_allow_missing_crl: args.allow_missing_crl,
        tpm_trust_dir: args.tpm_trust_dir.clone(),
        tpm_allow_sha1: args.allow_sha1,
    })?;
    let registry = VerifierRegistry::new(&settings);
    let kds = args.snp_kds.as_ref().map(|url| {
        tracing::info!(%url, "SNP: missing VCEKs are fetched from KDS before appraisal");
        KdsSettings {
            base_url: url.clone(),
            timeout: DEFAULT_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            cache_dir: args.snp_collateral_dir.clone(),
        }
    });
    let pcs = args.tdx_pcs.as_ref().map(|url| {
        tracing::info!(%url, "TDX: collateral is fetched from PCS before appraisal when not valid");
        PcsSettings {
            base_url: url.clone(),
            root_crl_url: args.tdx_pcs_root_crl_url.clone(),
            timeout: DEFAULT_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            cache_dir: args.tdx_collateral_dir.clone(),
        }
    });
    let prefetcher = Prefetcher::new(kds, pcs, &settings)?;
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY)
        .map_err(|e| e.to_string())?;
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::default());
    let builder_keys =
        TrustedBuilderKeys::from_optional_dir(args.trusted_builder_keys_dir.as_deref())?;
    let key_file = args
        .token_signing_key
        .clone()
        .unwrap_or_else(|| args.state_dir.join("token-signing.pem"));
    let signer = TokenSigner::from_pem(&signing_key_pem(&key_file)?, &args.token_issuer)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let store_path = args
        .sqlite
        .clone()
        .unwrap_or_else(|| args.state_dir.join("verifier.db"));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let service = runtime.block_on(async {
        let store = Store::open_sqlite(&store_path)
            .await
            .map_err(|e| format!("{}: {e}", store_path.display()))?;
        let moved = import_state_files(&store, &args.state_dir)
            .await
            .map_err(|e| e.to_string())?;
        if moved > 0 {
            tracing::info!(files = moved, store = %store_path.display(), "state files of an older version moved into the store (kept as *.imported)");
        }
        VerifierService::open(appraiser, store)
            .await
            .map_err(|e| e.to_string())
    })?;
    let managers = if args.any_client_may_manage {
        tracing::warn!(
            "every client of this service may change its reference values, policies and TPM AKs (--any-client-may-manage)"
        );
        Managers::AnyClient
    } else {
        tracing::info!(managers = ?args.managers, "only these clients may change reference values, policies and TPM AKs");
        Managers::Named(args.managers.iter().cloned().collect())
    };
    let mut service = service
        .with_builder_keys(builder_keys)
        .with_signer(signer)
        .with_managers(managers);
    if args.accept_tpm_registrations {
        tracing::warn!(
            "TPM AK registrations accepted from every client of this service: each is trusted to have done the credential activation"
        );
        service = service.accepting_tpm_registrations();
    }
    if prefetcher.enabled() {
        service = service.with_prefetcher(prefetcher);
    }
    let tls = TlsFiles {
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
        ca: args.tls_client_ca.clone(),
    }
    .server_config()
    .map_err(|e| e.to_string())?;
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let serving = warden_verifier::service::serve(listener, tls, service, shutdown_signal());
        tracing::info!(%address, "verifier service listening (gRPC, mutual TLS)");
        if let Some(file) = &args.ready_file {
            std::fs::write(file, address.to_string())
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        serving.await.map_err(|e| e.to_string())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `rv`: one call to the service. Refusals (unknown name, refused provenance) exit 1.
/// `policy`: one call to the service. A refused policy (does not compile, bad id) exits 1.
fn appraisal_policies(args: &PolicyArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        match &args.command {
            PolicyCommand::Set { id, file } => {
                let service = service.with_policy_id(id.as_deref().unwrap_or_default());
                match service.set_appraisal_policy(&read(file)?).await {
                    Ok(policy_id) => print_json(&json!({ "policy": policy_id })),
                    Err(ServiceError::Refused(message)) => refused(message),
                    Err(e) => Err(e.to_string()),
                }
            }
            PolicyCommand::List => {
                let listed = service
                    .list_appraisal_policies()
                    .await
                    .map_err(|e| e.to_string())?;
                print_json(&json!({"default": listed.default_policy, "named": listed.named}))
            }
        }
    })
}

/// `tpm-ak`: one call to the service. Revoking an unknown AK exits 1.
fn tpm_aks(args: &TpmAkArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        match &args.command {
            TpmAkCommand::List => {
                let aks = service.list_tpm_aks().await.map_err(|e| e.to_string())?;
                let listed: Vec<Value> = aks
                    .into_iter()
                    .map(|ak| {
                        json!({
                            "name": ak.ak_name,
                            "registered": warden_verifier::tee::rfc3339(ak.registered_unix),
                            "registered_by": ak.registered_by,
                        })
                    })
                    .collect();
                print_json(&Value::Array(listed))
            }
            TpmAkCommand::Rm { name } => match service.revoke_tpm_ak(name, "").await {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => refused(format!("no registered AK named {name:?}")),
                Err(e) => Err(e.to_string()),
            },
        }
    })
}

fn reference_values(args: &RvArgs) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let service = args.connection.connect()?;
        let print = print_json;
        match &args.command {
            RvCommand::Add {
                name,
                file,
                expires,
            } => {
                let value: Value = serde_json::from_str(&read(file)?)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let expires = expires
                    .as_deref()
                    .map(|text| {
                        OffsetDateTime::parse(text, &Rfc3339)
                            .map(OffsetDateTime::unix_timestamp)
                            .map_err(|e| format!("--expires: {e}"))
                    })
                    .transpose()?;
                match service.set_reference_value(name, &value, expires, "").await {
                    Ok(()) => Ok(ExitCode::SUCCESS),
                    Err(e) => refused(e.to_string()),
                }
            }
            RvCommand::List => match service.list_reference_value_entries().await {
                Ok(entries) => print(&entries),
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Show { name } => match service.list_reference_value_entries().await {
                Ok(entries) => match entries.get(name) {
                    Some(entry) => print(entry),
                    None => refused(format!("no reference value named {name:?}")),
                },
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Rm { name } => match service.delete_reference_value(name, "").await {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => refused(format!("no reference value named {name:?}")),
                Err(e) => Err(e.to_string()),
            },
            RvCommand::Import { file } => {
                let envelope = read(file)?;
                match service.import_reference_values(envelope, "").await {
                    Ok(imported) => print(&import_summary(&imported)),
                    Err(e) => refused(e.to_string()),
                }
            }
        }
    })
}

/// The token-signing key in `path`, created (owner-only) when the file does not exist yet.
fn signing_key_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::read(path) {
        Ok(pem) => return Ok(pem),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("{}: {e}", path.display()));
        }
        Err(_) => {}
    }
    let pem = warden_verifier::ear::generate_signing_key_pem().map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "created the token signing key");
    Ok(pem.into_bytes())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("verifier service shutting down");
}

fn finish(outcome: Result<ExitCode, String>) -> ExitCode {
    outcome.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn read_bytes(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn hex_arg(name: &str, value: &Option<String>) -> Result<Option<Vec<u8>>, String> {
    value
        .as_deref()
        .map(|text| hex::decode(text.trim()).map_err(|e| format!("--{name}: {e}")))
        .transpose()
}

fn load_collateral<T: CollateralSet>(paths: &[PathBuf]) -> Result<T, String> {
    let mut set = T::default();
    for path in paths {
        set.add_file(path)?;
    }
    Ok(set)
}

fn parse_at(args: &AppraiseArgs) -> Result<OffsetDateTime, String> {
    let at = args.at.as_deref().ok_or("--at is required")?;
    OffsetDateTime::parse(at, &Rfc3339).map_err(|e| format!("--at: {e}"))
}

fn appraise(args: &AppraiseArgs, mode: Mode) -> Result<ExitCode, String> {
    if args.token.is_some() {
        return Err("--token is read by `explain` only".into());
    }
    let at = parse_at(args)?;
    let tee = args.tee.as_deref().ok_or("--tee is required")?;
    let evidence_path = args.evidence.as_ref().ok_or("--evidence is required")?;
    let is_tdx = tee == "tdx";
    let is_tpm = tee == "tpm";
    if args.event_log.is_some() && !(is_tdx || is_tpm) {
        return Err("--event-log is only read for --tee tdx and --tee tpm".into());
    }
    // Each TEE family reads the endorsements it understands; the others get none.
    let family = |wanted: bool| -> &[PathBuf] { if wanted { &args.endorsements } else { &[] } };
    let tdx_family = is_tdx || tee == "az-tdx-vtpm";
    let snp_endorsements: Endorsements = load_collateral(family(!tdx_family && !is_tpm))?;
    let tdx_endorsements: TdxEndorsements = load_collateral(family(tdx_family))?;
    let tpm_trust: TpmTrust = load_collateral(family(is_tpm))?;
    let event_log = args.event_log.as_ref().map(read_bytes).transpose()?;
    let reference_values: std::collections::BTreeMap<String, Value> = match &args.reference_values {
        Some(path) => {
            serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    for (name, value) in &reference_values {
        warden_verifier::reference::validate(name, value)
            .map_err(|e| format!("--reference-values: {e}"))?;
    }
    let policy = match &args.policy {
        Some(path) => Appraiser::compile_policy("cli", &read(path)?),
        None => Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY),
    }
    .map_err(|e| e.to_string())?;
    let snp_dev_roots = args
        .insecure_dev_roots
        .as_deref()
        .map(AmdRoots::load_dev_roots)
        .transpose()?;
    let expected = ExpectedBinding {
        report_data: hex_arg("report-data", &args.report_data)?,
        init_data_digest: hex_arg("init-data-digest", &args.init_data_digest)?,
    };
    let evidence_bytes = read_bytes(evidence_path)?;
    let decoded = if tee == "snp" {
        SnpEvidence::from_file_bytes(&evidence_bytes).map(|evidence| evidence.to_json())
    } else if is_tdx {
        TdxEvidence::from_file_bytes(&evidence_bytes).map(|mut evidence| {
            if event_log.is_some() {
                evidence.event_log = event_log;
            }
            evidence.to_json()
        })
    } else {
        serde_json::from_slice::<Value>(&evidence_bytes)
            .map_err(|e| e.to_string())
            .map(|mut evidence| {
                if let (Some(log), Some(object)) = (&event_log, evidence.as_object_mut()) {
                    use base64::Engine as _;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(log);
                    object.insert("event_log".into(), Value::String(encoded));
                }
                evidence
            })
    };
    let evidence: Value = match decoded {
        Ok(evidence) => evidence,
        Err(detail) => {
            // Readable but not evidence: a rejection (exit 1), not a usage error.
            let report = json!({
                "verified": false,
                "status": Status::Contraindicated,
                "claims": {},
                "checks": [{"name": "evidence_format", "ok": false, "detail": detail}],
                "error": format!("{}: {detail}", evidence_path.display()),
            });
            emit(&report, args.json, mode);
            return Ok(ExitCode::from(1));
        }
    };
    let registry = VerifierRegistry::new(&VerifierSettings {
        allow_insecure_sample: args.insecure_allow_sample,
        snp_dev_roots,
        snp_collateral: Arc::new(Collateral::new(snp_endorsements)),
        snp_require_crl: args.require_crl,
        tdx_collateral: Arc::new(TdxCollateral::new(tdx_endorsements)),
        tdx_allow_missing_crl: args.allow_missing_crl,
        tpm_trust: Arc::new(SharedTpmTrust::new(tpm_trust)),
        tpm_allow_sha1: args.allow_sha1,
    });
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::new(reference_values));
    let request = AppraisalRequest {
        init_data: None,
        tee,
        evidence: &evidence,
        expected,
    };
    let appraisal = appraiser.appraise_detailed(&request, at);
    let trace = json!(appraisal.trace);
    let examination = appraisal.examination.unwrap_or_default();
    let affirming = matches!(&appraisal.result, Ok(result) if result.status == Status::Affirming);
    let mut report = json!({
        "verified": examination.verified(),
        "claims": examination.claims,
        "checks": examination.checks,
        "trace": trace,
    });
    match &appraisal.result {
        Ok(result) => {
            report["status"] = json!(result.status);
            report["trust_vector"] = json!(result.trust_vector);
            report["policy_id"] = json!(result.policy_id);
            report["insecure"] = json!(result.insecure_reasons);
        }
        Err(rejection) => {
            report["status"] = json!(Status::Contraindicated);
            report["error"] = json!(rejection.to_string());
        }
    }
    emit(&report, args.json, mode);
    Ok(if affirming {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn emit(report: &Value, json: bool, mode: Mode) {
    if json {
        println!("{report}");
    } else {
        print_text(report, mode);
    }
}

fn print_text(report: &Value, mode: Mode) {
    for reason in report["insecure"].as_array().into_iter().flatten() {
        println!("INSECURE: {}", reason.as_str().unwrap_or_default());
    }
    println!(
        "verdict: {} (evidence {})",
        report["status"].as_str().unwrap_or("contraindicated"),
        if report["verified"] == true {
            "verified"
        } else {
            "NOT verified"
        }
    );
    if let Some(error) = report["error"].as_str() {
        println!("error: {error}");
    }
    let steps = match mode {
        Mode::Explain if report["trace"]["steps"].is_array() => {
            println!("decision trace:");
            &report["trace"]["steps"]
        }
        _ => &report["checks"],
    };
    for step in steps.as_array().into_iter().flatten() {
        let mark = match step["ok"].as_bool() {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => " -- ",
        };
        println!(
            "  [{mark}] {}: {}",
            step["name"].as_str().unwrap_or_default(),
            step["detail"].as_str().unwrap_or_default()
        );
        if let Some(nearest) = step.get("nearest") {
            let differing: Vec<String> = nearest["differing_bytes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            println!(
                "         nearest allowed: {} (differing bytes: {})",
                nearest["value"].as_str().unwrap_or_default(),
                differing.join(", ")
            );
        }
    }
    if let Some(vector) = report.get("trust_vector") {
        println!("trust vector: {vector}");
    }
    if mode == Mode::Appraise {
        println!(
            "claims: {}",
            serde_json::to_string_pretty(&report["claims"]).unwrap_or_default()
        );
    }
}

/// `explain --token`: the status, trust vector and trace summary an EAR token carries. The
/// signature is checked only with `--jwks` (at `--at`), and the output says which. Exit codes:
/// 0 affirming and checked, 1 not affirming, 3 affirming but the signature was not checked
/// (a script must not take an unchecked token for a verdict), 2 errors (incl. a bad signature).
fn explain_token(args: &AppraiseArgs) -> Result<ExitCode, String> {
    let path = args.token.as_ref().ok_or("--token is required")?;
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        text
    } else {
        read(path)?
    };
    let token = text.trim();
    let (claims, checked): (EarClaims, bool) = match &args.jwks {
        Some(jwks_path) => {
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&read(jwks_path)?)
                .map_err(|e| format!("{}: {e}", jwks_path.display()))?;
            let issuer = match &args.issuer {
                Some(issuer) => issuer.clone(),
                None => unverified_claims(token)?.iss,
            };
            let verifier = TokenVerifier::from_jwks(&jwks, &issuer).map_err(|e| e.to_string())?;
            let claims = verifier
                .verify(token, parse_at(args)?)
                .map_err(|e| format!("token: {e}"))?;
            (claims, true)
        }
        None => (unverified_claims(token)?, false),
    };
    let submod = claims
        .primary()
        .ok_or("the token has no appraised component")?;
    let report = json!({
        "signature_checked": checked,
        "issuer": claims.iss,
        "tee": submod.tee,
        "status": submod.status,
        "trust_vector": submod.trust_vector,
        "policy_id": submod.appraisal_policy_id,
        "trace": submod.trace,
        "insecure": claims.insecure,
    });
    if args.json {
        println!("{report}");
    } else {
        if !checked {
            println!("signature NOT checked (pass --jwks FILE --at TIME to check it)");
        }
        for reason in &claims.insecure {
            println!("INSECURE: {reason}");
        }
        println!("verdict: {} ({} evidence)", submod.status, submod.tee);
        println!(
            "decision trace: {} steps passed, {} failed",
            submod.trace.passed,
            submod.trace.failed.len()
        );
        for failed in &submod.trace.failed {
            println!("  [FAIL] {failed}");
        }
        println!("trust vector: {}", json!(submod.trust_vector));
    }
    if !checked {
        eprintln!("warning: the token's signature was NOT checked; this is not a verdict");
    }
    Ok(match (submod.status == Status::Affirming, checked) {
        (true, true) => ExitCode::SUCCESS,
        (true, false) => ExitCode::from(3),
        (false, _) => ExitCode::from(1),
    })
}

/// The claims of a JWT, read without checking its signature.
fn unverified_claims(token: &str) -> Result<EarClaims, String> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("not a JWT (header.payload.signature)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the token's payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not an EAR token: {e}"))
}
