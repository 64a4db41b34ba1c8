//! `warden-agent`: command-line skin over the `warden_agent` library.
//!
//! Exit codes: 0 success; 1 the exchange with the KBS failed (refusal, denied attestation or
//! release, transport failure, unexpected answer, undecryptable secret); 2 a local problem
//! (usage, configuration, TLS setup, file I/O, evidence collection, RTMR extension).
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use sha2::{Digest as _, Sha384};
use warden_agent::attester::sim_snp::{
    DevChain, SIM_SNP_INSECURE_REASON, SimSnpAttester, sim_measurement,
};
use warden_agent::attester::{self, Attester, SampleAttester, TdxAttester};
use warden_agent::{AgentError, ClientConfig, KbsClient};
use warden_wire::jwe::KeyAlgorithm;
use warden_wire::{ResourcePath, TeeKeyPair};

/// Obtain secrets from a Warden (CoCo-compatible) KBS by attesting this TEE.
///
/// Options go before the subcommand. Logs go to stderr; only the token or secret goes to stdout.
#[derive(Debug, Parser)]
#[command(name = "warden-agent", version)]
struct Cli {
    /// Base URL of the KBS, scheme://host[:port]. Required by attest and get-resource.
    #[arg(long, env = "WARDEN_KBS_URL", value_name = "URL")]
    kbs: Option<String>,

    /// PEM file of the CA roots trusted for the KBS (the only roots used); required for https.
    #[arg(long, env = "WARDEN_CA_FILE", value_name = "PATH")]
    ca_file: Option<PathBuf>,

    /// Allow a plain http:// KBS URL (evidence, cookies and tokens travel unencrypted).
    #[arg(long)]
    insecure_http: bool,

    /// TEE to attest as: snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, sim-snp or sample. There is no
    /// default: the choice must be explicit. Required by attest and get-resource.
    #[arg(long, value_name = "NAME")]
    tee: Option<String>,

    /// Permit `--tee sample`, whose software-only evidence anyone can forge. Testing only.
    #[arg(long)]
    insecure_allow_sample: bool,

    /// Development chain for `--tee sim-snp` (made by `warden-agent sim-snp-init`). Whoever holds
    /// its key can forge "SNP" evidence: testing only.
    #[arg(long, value_name = "DIR")]
    insecure_sim_snp_dir: Option<PathBuf>,

    /// `--tee sim-snp`: the launch measurement (96 hex digits) the simulated guest reports, as
    /// if the host had launched the image it measures (e.g. from `warden-verifier measure
    /// snp`). Default: the chain's fixed development measurement.
    #[arg(long, value_name = "HEX", requires = "insecure_sim_snp_dir")]
    insecure_sim_snp_launch_measurement: Option<String>,

    /// TPM and Azure vTPM: the TSS2 TCTI of the TPM (swtpm:host=127.0.0.1,port=2321 for a
    /// software TPM).
    #[arg(
        long,
        env = "WARDEN_TPM_TCTI",
        value_name = "TCTI",
        default_value = "device:/dev/tpmrm0"
    )]
    tpm_tcti: String,

    /// TPM: the attestation-key state file (created by tpm-register, mode 0600).
    #[arg(long, env = "WARDEN_TPM_AK_FILE", value_name = "PATH")]
    tpm_ak_file: Option<PathBuf>,

    /// TPM: the firmware event log sent with quotes, or "none".
    #[arg(
        long,
        value_name = "PATH|none",
        default_value = "/sys/kernel/security/tpm0/binary_bios_measurements"
    )]
    tpm_event_log: String,

    /// Security version number reported by the sample TEE.
    #[arg(long, value_name = "SVN", default_value = attester::DEFAULT_SAMPLE_SVN)]
    sample_svn: String,

    /// Type of the ephemeral TEE key secrets are encrypted to.
    #[arg(long, value_enum, default_value_t = KeyType::Ec)]
    key_type: KeyType,

    /// Timeout of each HTTP request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,

    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Enable debug logs.
    #[arg(short, long)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attest and print the attestation token to stdout.
    Attest,
    /// Attest, then fetch and decrypt a resource; the plaintext goes to stdout or --out.
    GetResource {
        /// Resource path <repository>/<type>/<tag>.
        #[arg(value_name = "REPO/TYPE/TAG", value_parser = parse_resource_path)]
        path: ResourcePath,
        /// Write the secret to this file (created or truncated, mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Create the TPM attestation key (if --tpm-ak-file does not exist yet) and register it with
    /// the KBS by credential activation against the TPM's EK certificate. Prints the AK's name.
    TpmRegister {
        /// Key type of a new AK.
        #[arg(long, value_enum, default_value_t = AkType::Rsa)]
        ak_type: AkType,
    },
    /// Print the TPM's SHA-256 PCR values as the `pcrs` of a `tpm` reference value
    /// (`{"sha256": {"<index>": ["<hex>"]}}`), to pin the state of a known-good machine.
    TpmPcrs {
        /// PCR indices, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4,5,6,7")]
        pcrs: Vec<u8>,
    },
    /// Generate a code-signing key in this TEE, attest with it committed in the evidence, and
    /// get a short-lived certificate for it from the KBS's signing CA (if its signing policy
    /// allows this attested build). The key is written 0600, the certificate beside it.
    SigningCert {
        /// Key algorithm.
        #[arg(long, value_enum, default_value_t = SigningAlgorithm::EcdsaP256)]
        algorithm: SigningAlgorithm,
        /// Where to write the private key (PKCS#8 PEM, mode 0600).
        #[arg(long, value_name = "PATH")]
        key_out: PathBuf,
        /// Where to write the certificate (PEM).
        #[arg(long, value_name = "PATH")]
        cert_out: PathBuf,
        /// Requested lifetime in seconds (the KBS caps it).
        #[arg(long, value_name = "SECONDS")]
        lifetime: Option<u32>,
    },
    /// Sign an artifact (message signature) or an in-toto statement (DSSE) with a key and
    /// certificate from signing-cert, timestamp the signature at the KBS (--kbs), record it on
    /// the KBS's signing transparency log, and write a Sigstore bundle. No attestation: the certificate already carries it.
    Sign {
        /// The private key (PEM) from signing-cert.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// The certificate (PEM) from signing-cert.
        #[arg(long, value_name = "PATH")]
        cert: PathBuf,
        /// The artifact to sign.
        #[arg(
            long,
            value_name = "PATH",
            conflicts_with = "statement",
            required_unless_present = "statement"
        )]
        artifact: Option<PathBuf>,
        /// The in-toto statement (JSON) to sign.
        #[arg(long, value_name = "PATH")]
        statement: Option<PathBuf>,
        /// Where to write the bundle (JSON).
        #[arg(long, value_name = "PATH")]
        bundle_out: PathBuf,
    },
    /// Attest, then have the KBS sign an in-toto statement with its named key (the key never
    /// leaves the KBS); write the Sigstore bundle it answers.
    RemoteSign {
        /// The KBS's named key.
        #[arg(long, value_name = "NAME")]
        key_name: String,
        /// The in-toto statement (JSON) to sign.
        #[arg(long, value_name = "PATH")]
        statement: PathBuf,
        /// Where to write the bundle (JSON).
        #[arg(long, value_name = "PATH")]
        bundle_out: PathBuf,
    },
    /// Print an in-toto Statement v1 over artifacts: SLSA Provenance v1 naming --builder-id,
    /// or, with --reference-values, Warden's reference-value predicate (what releases secrets
    /// to the image these artifacts make).
    Statement {
        /// An artifact the statement is about (repeatable).
        #[arg(long = "artifact", value_name = "PATH", required = true)]
        artifacts: Vec<PathBuf>,
        /// SLSA: the builder identity (the certificate's, <issuer>/builders/<name>).
        #[arg(long, value_name = "URI", required_unless_present = "reference_values")]
        builder_id: Option<String>,
        /// SLSA: the build type URI.
        #[arg(
            long,
            value_name = "URI",
            default_value = "https://warden.dev/build/v1"
        )]
        build_type: String,
        /// Warden reference values instead: a JSON object `{name: value}`.
        #[arg(long, value_name = "PATH", conflicts_with = "builder_id")]
        reference_values: Option<PathBuf>,
        /// With --reference-values: when they expire (RFC 3339).
        #[arg(long, value_name = "TIME", requires = "reference_values")]
        expires: Option<String>,
    },
    /// Mint an INSECURE sim-snp development chain in DIR: give DIR to `warden-kbs serve
    /// --insecure-dev-roots` and to this agent's `--insecure-sim-snp-dir`.
    SimSnpInit {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Extend a TDX runtime measurement register with a SHA-384 digest and print its new value
    /// (hex) to stdout. Needs a TDX guest on Linux 6.16+; the read-back is checked.
    #[command(group(ArgGroup::new("measurement").required(true).args(["digest", "file"])))]
    ExtendRtmr {
        /// The register: 2 or 3 (RTMR0 and RTMR1 hold the firmware and boot measurements).
        #[arg(long, value_name = "2|3")]
        rtmr: u8,
        /// The SHA-384 digest to extend with, 96 hex digits.
        #[arg(long, value_name = "HEX", value_parser = parse_digest)]
        digest: Option<[u8; 48]>,
        /// Extend with the SHA-384 of this file's contents.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyType {
    /// P-256 with ECDH-ES+A256KW.
    Ec,
    /// RSA-2048 with RSA-OAEP-256.
    Rsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AkType {
    /// RSA-2048, RSASSA/SHA-256.
    Rsa,
    /// ECC P-256, ECDSA/SHA-256.
    Ecc,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SigningAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl SigningAlgorithm {
    fn key_algorithm(self) -> warden_wire::signing_key::KeyAlgorithm {
        use warden_wire::signing_key::KeyAlgorithm as K;
        match self {
            Self::EcdsaP256 => K::EcdsaP256,
            Self::EcdsaP384 => K::EcdsaP384,
            Self::Ed25519 => K::Ed25519,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn parse_resource_path(value: &str) -> Result<ResourcePath, String> {
    ResourcePath::parse(value).map_err(|e| e.to_string())
}

fn parse_digest(value: &str) -> Result<[u8; 48], String> {
    let mut digest = [0u8; 48];
    hex::decode_to_slice(value, &mut digest)
        .map_err(|_| format!("expected 96 hex digits (a SHA-384 digest), got {value:?}"))?;
    Ok(digest)
}

/// A failure with the process exit code it maps to.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<AgentError> for Failure {
    fn from(error: AgentError) -> Self {
        let code = match error {
            AgentError::Kbs { .. }
            | AgentError::Http(_)
            | AgentError::Protocol(_)
            | AgentError::Jwe(_) => 1,
            AgentError::Config(_)
            | AgentError::Io { .. }
            | AgentError::Tls(_)
            | AgentError::Attester(_) => 2,
        };
        Self {
            code,
            message: error.to_string(),
        }
    }
}

/// Resolves `--tee`, refusing attesters without a hardware root of trust unless opted in.
fn select_attester(cli: &Cli) -> Result<Arc<dyn Attester>, Failure> {
    let tee = cli.tee.as_deref().ok_or_else(|| {
        Failure::usage(
            "--tee is required (snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, sim-snp or sample)",
        )
    })?;
    let (attester, opted_in): (Arc<dyn Attester>, bool) = match tee {
        "sample" => (
            Arc::new(SampleAttester::new(cli.sample_svn.clone())),
            cli.insecure_allow_sample,
        ),
        "sim-snp" => {
            let dir = cli.insecure_sim_snp_dir.as_deref().ok_or_else(|| {
                Failure::usage(format!(
                    "--tee sim-snp is INSECURE ({SIM_SNP_INSECURE_REASON}); pass \
                     --insecure-sim-snp-dir DIR with a chain from `warden-agent sim-snp-init`"
                ))
            })?;
            let mut chain = DevChain::load(dir).map_err(|e| Failure::usage(e.to_string()))?;
            if let Some(text) = &cli.insecure_sim_snp_launch_measurement {
                let measurement = hex::decode(text)
                    .ok()
                    .and_then(|bytes| <[u8; 48]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        Failure::usage(
                            "--insecure-sim-snp-launch-measurement: not 96 hex digits (48 bytes)",
                        )
                    })?;
                chain = chain.launched_with(measurement);
            }
            (Arc::new(SimSnpAttester::new(chain)), true)
        }
        #[cfg(feature = "tpm")]
        "tpm" => (Arc::new(tpm_attester(cli)?), false),
        #[cfg(feature = "azure")]
        "az-snp-vtpm" | "az-tdx-vtpm" => {
            let kind = attester::azure::AzureKind::from_tee(tee)
                .ok_or_else(|| Failure::usage(format!("unknown Azure TEE {tee}")))?;
            (
                Arc::new(attester::azure::AzureAttester::new(kind, &cli.tpm_tcti)),
                false,
            )
        }
        other => (
            attester::from_name(other).map_err(|e| Failure::usage(e.to_string()))?,
            false,
        ),
    };
    if let Some(reason) = attester.insecure_reason()
        && !opted_in
    {
        return Err(Failure::usage(format!(
            "--tee {tee} is INSECURE ({reason}); any process can forge its evidence, so it must \
             only be used for testing. Pass --insecure-allow-sample to use it anyway"
        )));
    }
    Ok(attester)
}

#[cfg(feature = "tpm")]
fn tpm_ak_file(cli: &Cli) -> Result<&Path, Failure> {
    cli.tpm_ak_file
        .as_deref()
        .ok_or_else(|| Failure::usage("--tpm-ak-file PATH is required for the TPM"))
}

#[cfg(feature = "tpm")]
fn tpm_attester(cli: &Cli) -> Result<attester::tpm::TpmAttester, Failure> {
    let mut tpm = attester::tpm::TpmAttester::new(&cli.tpm_tcti, tpm_ak_file(cli)?);
    tpm.event_log = (cli.tpm_event_log != "none").then(|| PathBuf::from(&cli.tpm_event_log));
    Ok(tpm)
}

fn init_logging(format: LogFormat, verbose: bool) {
    let filter = if verbose {
        "info,warden_agent=debug,warden_wire=debug"
    } else {
        "warn,warden_agent=info"
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Escape codes would pollute logs captured from a pipe or file.
        .with_ansi(std::io::stderr().is_terminal());
    // `try_init` only fails if a subscriber is already installed, which is harmless here.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes a secret to `path` readable by the owner only, tightening an existing file's mode
/// before any byte is written.
fn write_secret_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(data)?;
    file.sync_all()
}

fn write_stdout(data: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(data)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::usage(format!("writing to stdout: {e}")))
}

async fn run(cli: Cli, attester: Arc<dyn Attester>) -> Result<(), Failure> {
    let base_url = cli
        .kbs
        .clone()
        .ok_or_else(|| Failure::usage("--kbs URL is required"))?;
    let algorithm = match cli.key_type {
        KeyType::Ec => KeyAlgorithm::EcdhEsA256kw,
        KeyType::Rsa => KeyAlgorithm::RsaOaep256,
    };
    let key = TeeKeyPair::generate(algorithm)
        .map_err(|e| Failure::usage(format!("generating the TEE key: {e}")))?;
    let config = ClientConfig {
        base_url,
        ca_file: cli.ca_file,
        allow_plain_http: cli.insecure_http,
        timeout: Duration::from_secs(cli.timeout),
    };
    #[cfg(feature = "tpm")]
    let tpm_settings = (cli.tpm_tcti.clone(), cli.tpm_ak_file.clone());
    let mut client = KbsClient::new(config, attester, key)?;
    match cli.command {
        #[cfg(feature = "tpm")]
        Command::TpmRegister { ak_type } => {
            let (tcti, ak_file) = tpm_settings;
            let ak_file =
                ak_file.ok_or_else(|| Failure::usage("--tpm-ak-file PATH is required"))?;
            let algorithm = match ak_type {
                AkType::Rsa => attester::tpm_device::AkAlgorithm::Rsa2048,
                AkType::Ecc => attester::tpm_device::AkAlgorithm::EccP256,
            };
            let name =
                warden_agent::tpm_registration::register_ak(&client, &tcti, &ak_file, algorithm)
                    .await?;
            tracing::info!(ak_name = %name, "TPM AK registered");
            write_stdout(format!("{name}\n").as_bytes())
        }
        #[cfg(not(feature = "tpm"))]
        Command::TpmRegister { .. } => Err(Failure::usage(
            "this agent was built without the tpm feature",
        )),
        Command::Attest => {
            let token = client.attest().await?;
            write_stdout(format!("{token}\n").as_bytes())
        }
        Command::GetResource { path, out } => {
            let secret = client.get_resource(&path).await?;
            match out {
                Some(file) => write_secret_file(&file, &secret)
                    .map_err(|e| Failure::usage(format!("writing {}: {e}", file.display()))),
                None => write_stdout(&secret),
            }
        }
        Command::SigningCert {
            algorithm,
            key_out,
            cert_out,
            lifetime,
        } => {
            let key = warden_wire::signing_key::SigningKeyPair::generate(algorithm.key_algorithm())
                .map_err(|e| Failure::usage(format!("generating the signing key: {e}")))?;
            let issued =
                warden_agent::signing::request_certificate(&mut client, &key, lifetime).await?;
            let pem = warden_wire::pem::encode("PRIVATE KEY", key.pkcs8_der());
            write_secret_file(&key_out, pem.as_bytes())
                .map_err(|e| Failure::usage(format!("writing {}: {e}", key_out.display())))?;
            std::fs::write(&cert_out, issued.certificate.as_bytes())
                .map_err(|e| Failure::usage(format!("writing {}: {e}", cert_out.display())))?;
            tracing::info!(identity = %issued.identity, serial = %issued.serial, not_after = %issued.not_after, "signing certificate issued");
            write_stdout(format!("{}\n", issued.identity).as_bytes())
        }
        Command::RemoteSign {
            key_name,
            statement,
            bundle_out,
        } => {
            let statement = read_file(&statement)?;
            let bundle =
                warden_agent::signing::remote_sign(&mut client, &key_name, &statement).await?;
            std::fs::write(&bundle_out, bundle.to_string())
                .map_err(|e| Failure::usage(format!("writing {}: {e}", bundle_out.display())))?;
            tracing::info!(key = %key_name, bundle = %bundle_out.display(), "remote signature written");
            Ok(())
        }
        Command::SimSnpInit { .. }
        | Command::ExtendRtmr { .. }
        | Command::TpmPcrs { .. }
        | Command::Sign { .. }
        | Command::Statement { .. } => Ok(()),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))
}

/// `sign`: a local signature with a certified key, timestamped at the KBS.
fn sign(
    cli: &Cli,
    key: &Path,
    cert: &Path,
    artifact: Option<&Path>,
    statement: Option<&Path>,
    bundle_out: &Path,
) -> Result<(), Failure> {
    use warden_agent::signing::{Signable, load_signing_key, pem_block, sign_locally};
    let base_url = cli.kbs.clone().ok_or_else(|| {
        Failure::usage("--kbs URL is required (the KBS timestamps the signature)")
    })?;
    let key = load_signing_key(&read_file(key)?)?;
    let certificate = pem_block(&read_file(cert)?, "CERTIFICATE")?;
    let (bytes, is_statement) = match (artifact, statement) {
        (Some(path), _) => (read_file(path)?, false),
        (None, Some(path)) => (read_file(path)?, true),
        (None, None) => return Err(Failure::usage("--artifact or --statement is required")),
    };
    let what = if is_statement {
        Signable::Statement(&bytes)
    } else {
        Signable::Artifact(&bytes)
    };
    let mut bundle = sign_locally(&key, &certificate, what)?;
    let config = ClientConfig {
        base_url,
        ca_file: cli.ca_file.clone(),
        allow_plain_http: cli.insecure_http,
        timeout: Duration::from_secs(cli.timeout),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("starting the async runtime: {e}")))?;
    let index = runtime.block_on(async {
        warden_agent::signing::timestamp(&config, &mut bundle).await?;
        warden_agent::signing::log(&config, &mut bundle).await
    })?;
    std::fs::write(bundle_out, bundle.to_json())
        .map_err(|e| Failure::usage(format!("writing {}: {e}", bundle_out.display())))?;
    tracing::info!(bundle = %bundle_out.display(), log_index = index, "signed, timestamped and logged");
    Ok(())
}

/// `statement`: an in-toto Statement v1 over the artifacts, on stdout.
fn print_statement(
    artifacts: &[PathBuf],
    builder_id: Option<&str>,
    build_type: &str,
    reference_values: Option<&Path>,
    expires: Option<&str>,
) -> Result<(), Failure> {
    use warden_wire::in_toto;
    let mut subjects = Vec::new();
    for path in artifacts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        subjects.push(in_toto::subject(&name, &read_file(path)?));
    }
    let statement = match (reference_values, builder_id) {
        (Some(path), _) => {
            let values: serde_json::Value = serde_json::from_slice(&read_file(path)?)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            let expires = expires
                .ok_or_else(|| Failure::usage("--expires is required with --reference-values"))?;
            in_toto::reference_values_statement(subjects, values, expires)
        }
        (None, Some(builder)) => in_toto::statement(
            subjects,
            warden_wire::code_signing::SLSA_PROVENANCE_V1,
            serde_json::json!({
                "buildDefinition": {"buildType": build_type, "externalParameters": {}},
                "runDetails": {"builder": {"id": builder}},
            }),
        ),
        (None, None) => {
            return Err(Failure::usage(
                "--builder-id or --reference-values is required",
            ));
        }
    };
    write_stdout(format!("{statement}\n").as_bytes())
}

fn sim_snp_init(dir: &Path) -> Result<(), Failure> {
    let chain = DevChain::generate().map_err(|e| Failure::usage(e.to_string()))?;
    chain
        .write(dir)
        .map_err(|e| Failure::usage(e.to_string()))?;
    eprintln!(
        "wrote an INSECURE sim-snp development chain to {dir}\n  KBS:   warden-kbs serve --insecure-dev-roots {dir} ...\n  agent: warden-agent --tee sim-snp --insecure-sim-snp-dir {dir} ...\n  guest measurement (reference value): {measurement}",
        dir = dir.display(),
        measurement = hex::encode(sim_measurement()),
    );
    Ok(())
}

fn sha384_file(path: &Path) -> Result<[u8; 48], Failure> {
    let mut hasher = Sha384::new();
    std::fs::File::open(path)
        .and_then(|mut file| std::io::copy(&mut file, &mut hasher))
        .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))?;
    Ok(hasher.finalize().into())
}

fn extend_rtmr(rtmr: u8, digest: Option<&[u8; 48]>, file: Option<&Path>) -> Result<(), Failure> {
    let digest = match (digest, file) {
        (Some(digest), _) => *digest,
        (None, Some(file)) => sha384_file(file)?,
        (None, None) => return Err(Failure::usage("--digest or --file is required")),
    };
    let value = TdxAttester::default()
        .extend_rtmr(rtmr, &digest)
        .map_err(|e| Failure::usage(e.to_string()))?;
    tracing::info!(rtmr, digest = %hex::encode(digest), "RTMR extended");
    write_stdout(format!("{}\n", hex::encode(value)).as_bytes())
}

#[cfg(feature = "tpm")]
fn tpm_pcrs(tcti: &str, pcrs: &[u8]) -> Result<(), Failure> {
    use attester::tpm_device::{PcrBank, TpmDevice};
    let values = TpmDevice::open(tcti)
        .and_then(|mut device| device.read_pcrs(PcrBank::Sha256, pcrs))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let table: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(pcr, value)| (pcr.to_string(), serde_json::json!([hex::encode(value)])))
        .collect();
    write_stdout(format!("{}\n", serde_json::json!({ "sha256": table })).as_bytes())
}

#[cfg(not(feature = "tpm"))]
fn tpm_pcrs(_: &str, _: &[u8]) -> Result<(), Failure> {
    Err(Failure::usage(
        "this agent was built without the tpm feature",
    ))
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let mut cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    // Registering a TPM AK needs no other TEE choice.
    if matches!(cli.command, Command::TpmRegister { .. }) && cli.tee.is_none() {
        cli.tee = Some("tpm".into());
    }
    // Local commands: no KBS, no attester.
    let local = match &cli.command {
        Command::SimSnpInit { dir } => Some(sim_snp_init(dir)),
        Command::Statement {
            artifacts,
            builder_id,
            build_type,
            reference_values,
            expires,
        } => Some(print_statement(
            artifacts,
            builder_id.as_deref(),
            build_type,
            reference_values.as_deref(),
            expires.as_deref(),
        )),
        Command::Sign {
            key,
            cert,
            artifact,
            statement,
            bundle_out,
        } => Some(sign(
            &cli,
            key,
            cert,
            artifact.as_deref(),
            statement.as_deref(),
            bundle_out,
        )),
        Command::ExtendRtmr { rtmr, digest, file } => {
            Some(extend_rtmr(*rtmr, digest.as_ref(), file.as_deref()))
        }
        Command::TpmPcrs { pcrs } => Some(tpm_pcrs(&cli.tpm_tcti, pcrs)),
        Command::Attest
        | Command::GetResource { .. }
        | Command::TpmRegister { .. }
        | Command::SigningCert { .. }
        | Command::RemoteSign { .. } => None,
    };
    if let Some(result) = local {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("error: {}", failure.message);
                ExitCode::from(failure.code)
            }
        };
    }
    let result = select_attester(&cli).and_then(|attester| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::usage(format!("starting the async runtime: {e}")))?;
        runtime.block_on(run(cli, attester))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["warden-agent", "--kbs", "https://127.0.0.1:8080"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn sample_is_refused_without_opt_in() {
        let cli = parse(&["--tee", "sample", "attest"]).unwrap();
        let failure = select_attester(&cli).err().unwrap();
        assert_eq!(failure.code, 2);
        assert!(failure.message.contains("INSECURE"), "{}", failure.message);
        assert!(
            failure.message.contains("--insecure-allow-sample"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn sim_snp_needs_its_insecure_chain_directory() {
        let cli = parse(&["--tee", "sim-snp", "attest"]).unwrap();
        let failure = select_attester(&cli).err().unwrap();
        assert!(
            failure.message.contains("--insecure-sim-snp-dir"),
            "{}",
            failure.message
        );
        let dir = tempfile::tempdir().unwrap();
        DevChain::generate().unwrap().write(dir.path()).unwrap();
        let path = dir.path().to_str().unwrap();
        let cli = parse(&["--tee", "sim-snp", "--insecure-sim-snp-dir", path, "attest"]).unwrap();
        let attester = select_attester(&cli).unwrap();
        assert_eq!(attester.tee(), "snp");
        assert!(attester.insecure_reason().is_some());
    }

    #[test]
    fn sample_is_accepted_with_opt_in() {
        let cli = parse(&[
            "--tee",
            "sample",
            "--insecure-allow-sample",
            "--sample-svn",
            "3",
            "attest",
        ]);
        let attester = select_attester(&cli.unwrap()).unwrap();
        assert_eq!(attester.tee(), "sample");
        assert_eq!(attester.evidence(&[0; 48]).unwrap()["svn"], "3");
    }

    #[test]
    fn tee_is_required_and_validated() {
        assert_eq!(
            select_attester(&parse(&["attest"]).unwrap())
                .err()
                .unwrap()
                .code,
            2
        );
        let cli = parse(&["--tee", "tdx", "attest"]).unwrap();
        let attester = select_attester(&cli).unwrap();
        assert_eq!(attester.tee(), "tdx");
        assert!(attester.insecure_reason().is_none());
        let cli = parse(&["--tee", "tpm", "attest"]).unwrap();
        let failure = select_attester(&cli).err().unwrap();
        assert_eq!(failure.code, 2);
        assert!(
            failure.message.contains("--tpm-ak-file"),
            "{}",
            failure.message
        );
        let cli = parse(&["--tee", "tpm", "--tpm-ak-file", "/nonexistent", "attest"]).unwrap();
        assert_eq!(select_attester(&cli).unwrap().tee(), "tpm");
        let cli = parse(&["--tee", "az-snp-vtpm", "attest"]).unwrap();
        let attester = select_attester(&cli).unwrap();
        assert_eq!(attester.tee(), "az-snp-vtpm");
        assert!(attester.insecure_reason().is_none());
        let cli = parse(&["--tee", "sgx", "attest"]).unwrap();
        let failure = select_attester(&cli).err().unwrap();
        assert!(
            failure.message.contains("not supported"),
            "{}",
            failure.message
        );
        let cli = parse(&["--tee", "bogus", "attest"]).unwrap();
        let failure = select_attester(&cli).err().unwrap();
        assert!(failure.message.contains("tdx"), "{}", failure.message);
    }

    #[test]
    fn extend_rtmr_takes_a_digest_or_a_file() {
        let digest = "ab".repeat(48);
        let cli = parse(&["extend-rtmr", "--rtmr", "3", "--digest", &digest]).unwrap();
        assert!(matches!(
            cli.command,
            Command::ExtendRtmr { rtmr: 3, digest: Some(d), file: None } if d == [0xab; 48]
        ));
        let cli = parse(&["extend-rtmr", "--rtmr", "2", "--file", "/etc/hostname"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::ExtendRtmr {
                rtmr: 2,
                digest: None,
                file: Some(_)
            }
        ));
        // Exactly one of --digest and --file; a digest is 96 hex digits.
        assert!(parse(&["extend-rtmr", "--rtmr", "2"]).is_err());
        let both = [
            "extend-rtmr",
            "--rtmr",
            "2",
            "--digest",
            &digest,
            "--file",
            "f",
        ];
        assert!(parse(&both).is_err());
        assert!(parse(&["extend-rtmr", "--rtmr", "2", "--digest", "abcd"]).is_err());
        assert!(parse(&["extend-rtmr", "--rtmr", "2", "--digest", &"zz".repeat(48)]).is_err());
    }

    #[test]
    fn extend_rtmr_hashes_files_and_refuses_firmware_registers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer");
        std::fs::write(&path, b"measured content").unwrap();
        let expected: [u8; 48] = Sha384::digest(b"measured content").into();
        assert_eq!(sha384_file(&path).unwrap(), expected);
        assert_eq!(
            sha384_file(&dir.path().join("absent")).err().unwrap().code,
            2
        );
        let failure = extend_rtmr(0, Some(&expected), None).err().unwrap();
        assert_eq!(failure.code, 2);
        assert!(failure.message.contains("RTMR0"), "{}", failure.message);
    }

    #[test]
    fn resource_path_and_key_type_are_parsed() {
        let cli = parse(&[
            "--tee",
            "sample",
            "--key-type",
            "rsa",
            "get-resource",
            "default/key/one",
        ]);
        let cli = cli.unwrap();
        assert_eq!(cli.key_type, KeyType::Rsa);
        assert!(
            matches!(cli.command, Command::GetResource { ref path, out: None } if path.as_str() == "default/key/one")
        );
        assert!(parse(&["--tee", "sample", "get-resource", "../etc/passwd"]).is_err());
    }

    #[test]
    fn refusals_exit_1_and_local_errors_exit_2() {
        let refused =
            AgentError::from_kbs_response(403, br#"{"type":"x/PolicyDeny","detail":"no"}"#);
        assert_eq!(Failure::from(refused).code, 1);
        assert_eq!(Failure::from(AgentError::Config("bad".into())).code, 2);
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"old contents that are longer").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
