//! `warden-kbs` configuration (TOML). Relative paths are resolved against the config file's
//! directory. Every default is safe: TLS on, sample TEE off, no admin access without a key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::admin::Role;
use warden_store::{Store, StoreError, StoreLocation, StoreOptions};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (see `serve --ready-file`).
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of TLS. INSECURE: secrets are still JWE-encrypted, but session
    /// cookies and admin tokens travel in clear.
    #[serde(default)]
    pub insecure_http: bool,
    /// Enable the software-only `sample` TEE. INSECURE.
    #[serde(default)]
    pub insecure_allow_sample: bool,
    /// How clients reach this KBS (`https://kbs.example.com`), as the discovery document
    /// names its JWKS URL. Absent: the listen address, unless that is a wildcard (`0.0.0.0`,
    /// `[::]`), in which case discovery answers 503 until it is set.
    #[serde(default)]
    pub public_url: Option<String>,
    /// `[server]`: connection limits and timeouts (defaults apply when absent).
    #[serde(default)]
    pub server: ServerConfig,
    /// `[tls]`: the server certificate and key; required unless `insecure_http`.
    pub tls: Option<TlsConfig>,
    /// `[session]`: handshake sessions (defaults apply when absent).
    #[serde(default)]
    pub session: SessionConfig,
    /// `[rate_limit]`: per-client budget of `/auth` and TPM registration.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// `[token]` (required): attestation-token issuer, lifetime and signing key.
    pub token: TokenConfig,
    /// `[store]` (required): the database and the master key.
    pub store: StoreConfig,
    /// `[admin]`: admin API keys; none by default, and then the admin API refuses every call.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[log]`: log format and filter.
    #[serde(default)]
    pub log: LogConfig,
    /// `[snp]`: SEV-SNP endorsement settings of the embedded verifier.
    #[serde(default)]
    pub snp: SnpConfig,
    /// `[tdx]`: Intel TDX collateral settings of the embedded verifier.
    #[serde(default)]
    pub tdx: TdxConfig,
    /// `[tpm]`: TPM attestation-key trust and AK registration.
    #[serde(default)]
    pub tpm: TpmConfig,
    /// `[provenance]`: builder keys for signed reference-value imports.
    #[serde(default)]
    pub provenance: ProvenanceConfig,
    /// A separate verifier service to appraise with; absent: the embedded verifier.
    pub verifier: Option<RemoteVerifierConfig>,
    /// `[signing]`: the signing authority (code-signing certificates for attested builders,
    /// timestamps, named keys); absent: its endpoints answer 404.
    pub signing: Option<SigningConfig>,
    /// `[transparency]`: the audit log and the signing transparency log.
    #[serde(default)]
    pub transparency: TransparencyConfig,
}

/// `[transparency]`: the Merkle logs (see `docs/transparency.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencyConfig {
    /// Keep the audit log (default). `false` only to measure its cost: logged as INSECURE.
    #[serde(default = "defaults::audit")]
    pub audit: bool,
    /// The audit log's checkpoint origin when it is created; default: the token issuer without
    /// its scheme, then `/audit`.
    #[serde(default)]
    pub audit_origin: Option<String>,
    /// The signing transparency log's origin when it is created; default: the token issuer
    /// without its scheme, then `/signing-log`.
    #[serde(default)]
    pub signing_origin: Option<String>,
}

impl Default for TransparencyConfig {
    fn default() -> Self {
        Self {
            audit: true,
            audit_origin: None,
            signing_origin: None,
        }
    }
}

/// `[signing]`: Warden's signing CA and TSA, created by `warden-kbs init` or `signing-init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The issuer URL certificates carry (Fulcio's issuer extension) and builder identities
    /// start with (`<issuer>/builders/<name>`); default `public_url`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Lifetime of a certificate when the request names none.
    #[serde(
        default = "defaults::certificate_lifetime",
        deserialize_with = "duration"
    )]
    pub default_certificate_lifetime: Duration,
    /// Longest lifetime a request may ask for (at most 24h).
    #[serde(
        default = "defaults::certificate_lifetime",
        deserialize_with = "duration"
    )]
    pub max_certificate_lifetime: Duration,
    /// Names this deployment in the CA and TSA certificates' subjects (at `signing-init`).
    #[serde(default = "defaults::authority_name")]
    pub name: String,
}

/// Longest certificate lifetime `[signing] max_certificate_lifetime` may allow.
pub const MAX_CERTIFICATE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl SigningConfig {
    /// The issuer URL in force: `issuer`, else `public_url`.
    pub fn issuer_url<'a>(&'a self, public_url: Option<&'a str>) -> Option<&'a str> {
        self.issuer
            .as_deref()
            .or(public_url)
            .map(|url| url.trim_end_matches('/'))
    }
}

/// `[verifier]`: appraise through `warden-verifier serve` over mutual TLS. Reference values and
/// the appraisal policy set through this KBS's admin API are forwarded to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteVerifierConfig {
    /// `https://host:port` of the verifier service (any other scheme is refused: the link must
    /// be mutual TLS).
    pub url: String,
    /// The name the service's certificate must carry (default `localhost`).
    #[serde(default = "default_verifier_domain")]
    pub domain: String,
    /// CA (PEM) the service's certificate must chain to.
    pub ca: PathBuf,
    /// This KBS's client certificate chain and key (PEM), issued by the service's client CA.
    pub cert: PathBuf,
    /// The private key (PEM) of `cert`.
    pub key: PathBuf,
    /// The service's appraisal policy this KBS appraises with (and sets through its admin API);
    /// absent: the service's default policy. Lets brokers sharing a service differ in policy.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// How long one call to the service may take in all, connecting included.
    #[serde(default = "defaults::verifier_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

/// `[server]`: what one client can hold of the server. Every limit bounds memory and
/// descriptors; none lets one client lock others out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Most connections open at once.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Most connections open at once from one client (an IPv4 address or an IPv6 /64).
    #[serde(default = "defaults::max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// Time for the TLS handshake, and for each HTTP/1 request head (also between requests on
    /// a kept-alive connection).
    #[serde(default = "defaults::header_timeout", deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// A connection on which no byte moved for this long is closed.
    #[serde(default = "defaults::idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Longest a request may take from its head to its answer (408 beyond).
    #[serde(default = "defaults::request_timeout", deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Bytes of request bodies read or handled at once, counted as three times each body's
    /// declared length (the parsed copies); beyond it requests get 503 at once.
    #[serde(default = "defaults::max_body_bytes_in_flight")]
    pub max_body_bytes_in_flight: usize,
    /// The same per client (an IPv4 address or an IPv6 /64); beyond it 429.
    #[serde(default = "defaults::max_body_bytes_in_flight_per_client")]
    pub max_body_bytes_in_flight_per_client: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: defaults::max_connections(),
            max_connections_per_client: defaults::max_connections_per_client(),
            header_timeout: defaults::header_timeout(),
            idle_timeout: defaults::idle_timeout(),
            request_timeout: defaults::request_timeout(),
            max_body_bytes_in_flight: defaults::max_body_bytes_in_flight(),
            max_body_bytes_in_flight_per_client: defaults::max_body_bytes_in_flight_per_client(),
        }
    }
}

fn default_verifier_domain() -> String {
    "localhost".into()
}

/// Signed reference-value provenance (`POST /reference-values/import`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceConfig {
    /// Directory of builder public keys (PEM or DER SubjectPublicKeyInfo: ECDSA P-256/P-384,
    /// Ed25519, RSA) that DSSE envelopes must be signed by. Without it, imports are refused.
    pub trusted_keys_dir: Option<PathBuf>,
    /// Warden signing CA certificates (PEM, e.g. this KBS's `signing/ca.pem`): Sigstore
    /// bundles from attested builders under them are accepted too, when their identity is one
    /// of `builder_identities` or `builder_policy` allows their attested facts.
    #[serde(default)]
    pub signing_ca: Option<PathBuf>,
    /// Builder identities (`<issuer>/builders/<name>`) whose bundles are accepted.
    #[serde(default)]
    pub builder_identities: Vec<String>,
    /// A Rego policy (`data.warden.artifact.allow`) over a bundle's certificate identity,
    /// issuer and attested facts, its statement and signing time.
    #[serde(default)]
    pub builder_policy: Option<PathBuf>,
}

/// TPM 2.0 attestation-key trust.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TpmConfig {
    /// Directory of AK CA certificates (roots and intermediates) and pinned AK public keys
    /// (DER or PEM; SPKI or TPMT_PUBLIC). Read at start-up.
    pub trust_dir: Option<PathBuf>,
    /// Directory of TPM-manufacturer CA certificates that EK certificates must chain to for
    /// credential activation (`/kbs/v0/tpm/register`). Without it, registration is refused.
    pub ek_ca_dir: Option<PathBuf>,
    /// Accept SHA-1 quote signatures and PCR banks (legacy TPMs). Off by default.
    #[serde(default)]
    pub allow_sha1: bool,
}

/// Intel TDX collateral settings. The Intel SGX Root CA is compiled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxConfig {
    /// Directory of Intel collateral: TCB info and QE identity (PCS JSON or dcap-qvl bundles),
    /// CRLs and the TCB signing chain (DER or PEM). Read at start-up.
    pub collateral_dir: Option<PathBuf>,
    /// Accept evidence whose PCK chain cannot be checked against Intel CRLs (reported as NOT
    /// CHECKED). Off by default: without CRLs TDX evidence is refused.
    #[serde(default)]
    pub allow_missing_crl: bool,
    /// Fetch TCB info, QE identity and CRLs from Intel PCS (or a PCCS) before appraisal, so they
    /// are valid at the time of each attestation (off unless this section is present). Fetched
    /// items are cached in `collateral_dir` when it is set.
    pub pcs: Option<PcsConfig>,
}

/// `[tdx.pcs]`: fetching Intel collateral from PCS; every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcsConfig {
    /// PCS or PCCS base URL.
    pub url: String,
    /// The Intel SGX Root CA CRL (DER).
    pub root_crl_url: String,
    /// Timeout of each fetch, e.g. "10s" (default 10 s).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// First back-off after a failed or refused fetch; doubles per consecutive failure, up to an
    /// hour.
    #[serde(deserialize_with = "duration")]
    pub retry_after: Duration,
}

impl Default for PcsConfig {
    fn default() -> Self {
        Self {
            url: warden_fetch::pcs::INTEL_PCS_URL.into(),
            root_crl_url: warden_fetch::pcs::INTEL_ROOT_CA_CRL_URL.into(),
            timeout: warden_fetch::DEFAULT_TIMEOUT,
            retry_after: warden_fetch::DEFAULT_RETRY_AFTER,
        }
    }
}

/// SEV-SNP endorsement settings. AMD's roots for Milan, Genoa and Turin are compiled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpConfig {
    /// Directory of VCEK/VLEK certificates and AMD CRLs (DER or PEM) used when evidence does not
    /// carry its own certificates. Read at start-up; appraisal never fetches anything.
    pub collateral_dir: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL signed by its ARK is in the collateral.
    #[serde(default)]
    pub require_crl: bool,
    /// INSECURE: also trust the development ARK/ASK in this directory (`warden-agent sim-snp
    /// init`). Every result verified through them is marked insecure.
    pub insecure_dev_roots: Option<PathBuf>,
    /// Fetch missing VCEKs from AMD KDS before appraisal (off unless this section is present).
    pub kds: Option<KdsConfig>,
}

/// `[snp.kds]`: fetching missing VCEKs from AMD KDS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdsConfig {
    /// KDS base URL (default `https://kdsintf.amd.com`).
    #[serde(default = "defaults::kds_url")]
    pub url: String,
    /// Timeout of each fetch, e.g. "10s" (default 10 s).
    #[serde(default = "defaults::kds_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// First back-off after a failed fetch; doubles per consecutive failure, up to an hour.
    #[serde(default = "defaults::kds_retry_after", deserialize_with = "duration")]
    pub retry_after: Duration,
}

/// `[tls]`: the HTTPS server's certificate and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// `[session]`: handshake sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// How long a session may take from challenge to last resource fetch (never longer than
    /// its token). Default 5 minutes.
    #[serde(default = "defaults::session_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Most attested sessions this process caches; beyond it the oldest is dropped from memory
    /// and read back from the store (its token verified again) when next used. Challenges are
    /// not sessions: they travel sealed in the cookie.
    #[serde(default = "defaults::max_sessions")]
    pub max_sessions: usize,
}

/// `[rate_limit]`: a token bucket per client IP, shared by `/auth` and TPM registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `/auth` requests per second per client IP; 0 disables the limit.
    #[serde(default = "defaults::auth_per_second")]
    pub auth_per_second: f64,
    /// Bucket size: requests a client may make at once (default 40; at least 1 is used).
    #[serde(default = "defaults::auth_burst")]
    pub auth_burst: f64,
}

/// `[token]`: the attestation tokens `/attest` issues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// `iss` of attestation tokens; also the OIDC issuer URL if it is one.
    #[serde(default = "defaults::issuer")]
    pub issuer: String,
    /// How long a token is valid, e.g. "5m" (default 5 minutes).
    #[serde(default = "defaults::token_lifetime", deserialize_with = "duration")]
    pub lifetime: Duration,
    /// ES256 (P-256) signing key, PKCS#8 PEM; created on first start if missing.
    pub signing_key: PathBuf,
}

/// `[store]`: where resources, policies and reference values are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite database file (the older spelling of `url = "sqlite:…"`).
    #[serde(default)]
    pub sqlite: Option<PathBuf>,
    /// `sqlite:PATH` or `postgres://user:password@host:port/db` (replicas share one
    /// PostgreSQL database). Exactly one of `url` and `sqlite` is given.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL: connections per process (default 8).
    #[serde(default = "defaults::store_max_connections")]
    pub max_connections: u32,
    /// PostgreSQL: how long a request waits to get a connection before it is answered 503
    /// (default 1s).
    #[serde(
        default = "defaults::store_acquire_timeout",
        deserialize_with = "duration"
    )]
    pub acquire_timeout: Duration,
    /// The longest one store operation may take before the request is answered 503 (default
    /// 5s; on PostgreSQL also the server's statement and lock timeouts).
    #[serde(
        default = "defaults::store_operation_timeout",
        deserialize_with = "duration"
    )]
    pub operation_timeout: Duration,
    /// Master key for secrets at rest (64 hex characters, mode 0600); created on first start if
    /// missing. The environment variable `WARDEN_MASTER_KEY` takes precedence.
    pub master_key_file: PathBuf,
}

impl StoreConfig {
    /// Where the store is: `url` or `sqlite`, exactly one of them.
    pub fn location(&self) -> Result<StoreLocation, String> {
        match (&self.sqlite, &self.url) {
            (Some(path), None) => Ok(StoreLocation::Sqlite(path.clone())),
            (None, Some(url)) => StoreLocation::parse(url).map_err(|e| format!("[store] {e}")),
            (Some(_), Some(_)) => Err("[store] has both sqlite and url: give one".into()),
            (None, None) => Err("[store] needs url (sqlite:PATH or postgres://…) or sqlite".into()),
        }
    }

    /// The connection limits of `[store]`.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.max_connections.max(1),
            acquire_timeout: self.acquire_timeout,
            operation_timeout: self.operation_timeout,
        }
    }

    /// Opens the store (creating an SQLite file, or the schema in an empty PostgreSQL
    /// database) and brings its schema up to date.
    pub async fn open(&self) -> Result<Store, StoreError> {
        let location = self.location().map_err(StoreError::Url)?;
        Store::open(&location, &self.options()).await
    }
}

/// `[admin]`: admin API access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `[[admin.keys]]`: the keys admin tokens may be signed with (none by default).
    #[serde(default)]
    pub keys: Vec<AdminKeyConfig>,
    /// The longest an admin token may live (`exp - iat`), e.g. "1h" (the default); longer ones
    /// are refused, and revocations are kept at least this long.
    #[serde(
        default = "defaults::admin_max_token_lifetime",
        deserialize_with = "duration"
    )]
    pub max_token_lifetime: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            max_token_lifetime: defaults::admin_max_token_lifetime(),
        }
    }
}

/// One `[[admin.keys]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyConfig {
    /// Key name; admin tokens carry it as `kid`.
    pub name: String,
    /// Ed25519 or P-256 public key PEM.
    pub public_key: PathBuf,
    /// Roles granted to tokens signed with this key.
    pub roles: Vec<Role>,
}

/// Log line format (`[log] format`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text (default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `[log]`: logging to stderr.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// tracing filter, e.g. "info" or "warden_kbs=debug".
    #[serde(default)]
    pub filter: Option<String>,
}

mod defaults {
    use super::*;
    pub(super) fn store_max_connections() -> u32 {
        8
    }
    pub(super) fn store_acquire_timeout() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn store_operation_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn audit() -> bool {
        true
    }
    pub(super) fn certificate_lifetime() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn authority_name() -> String {
        "warden".into()
    }
    pub(super) fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub(super) fn verifier_timeout() -> Duration {
        warden_verifier_service::remote::DEFAULT_CALL_TIMEOUT
    }
    pub(super) fn max_connections() -> usize {
        4096
    }
    pub(super) fn max_connections_per_client() -> usize {
        64
    }
    pub(super) fn header_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn idle_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn request_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub(super) fn max_body_bytes_in_flight() -> usize {
        96 << 20
    }
    pub(super) fn max_body_bytes_in_flight_per_client() -> usize {
        8 << 20
    }
    pub(super) fn session_timeout() -> Duration {
        Duration::from_secs(300)
    }
    pub(super) fn max_sessions() -> usize {
        // ~9 KiB each (claims, token, key): 10,000 held 90 MiB for a session's lifetime after a
        // load, while a client's resource fetch follows its attestation within moments.
        1024
    }
    pub(super) fn auth_per_second() -> f64 {
        20.0
    }
    pub(super) fn auth_burst() -> f64 {
        40.0
    }
    pub(super) fn issuer() -> String {
        "warden-kbs".into()
    }
    pub(super) fn token_lifetime() -> Duration {
        Duration::from_secs(300)
    }
    pub(super) fn admin_max_token_lifetime() -> Duration {
        Duration::from_secs(3600)
    }
    pub(super) fn kds_url() -> String {
        warden_fetch::kds::AMD_KDS_URL.into()
    }
    pub(super) fn kds_timeout() -> Duration {
        warden_fetch::DEFAULT_TIMEOUT
    }
    pub(super) fn kds_retry_after() -> Duration {
        warden_fetch::DEFAULT_RETRY_AFTER
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            timeout: defaults::session_timeout(),
            max_sessions: defaults::max_sessions(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            auth_per_second: defaults::auth_per_second(),
            auth_burst: defaults::auth_burst(),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`], or a setting is refused.
    #[error("config {path}: {message}")]
    Invalid {
        /// The config file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads, parses and validates the config at `path`, resolving relative paths against its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        resolve(&mut self.token.signing_key);
        // `url = "sqlite:PATH"` is the same as `sqlite = "PATH"`, relative to the config too.
        if let Some(url) = &self.store.url
            && let Ok(StoreLocation::Sqlite(path)) = StoreLocation::parse(url)
            && self.store.sqlite.is_none()
        {
            self.store.sqlite = Some(path);
            self.store.url = None;
        }
        if let Some(sqlite) = &mut self.store.sqlite {
            resolve(sqlite);
        }
        resolve(&mut self.store.master_key_file);
        for key in &mut self.admin.keys {
            resolve(&mut key.public_key);
        }
        if let Some(verifier) = &mut self.verifier {
            resolve(&mut verifier.ca);
            resolve(&mut verifier.cert);
            resolve(&mut verifier.key);
        }
        for dir in [
            &mut self.snp.collateral_dir,
            &mut self.snp.insecure_dev_roots,
            &mut self.tdx.collateral_dir,
            &mut self.tpm.trust_dir,
            &mut self.tpm.ek_ca_dir,
            &mut self.provenance.trusted_keys_dir,
            &mut self.provenance.signing_ca,
            &mut self.provenance.builder_policy,
        ]
        .into_iter()
        .flatten()
        {
            resolve(dir);
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.store.location()?;
        let provenance = &self.provenance;
        if provenance.signing_ca.is_some()
            && provenance.builder_identities.is_empty()
            && provenance.builder_policy.is_none()
        {
            return Err("[provenance] signing_ca needs builder_identities or builder_policy: which attested builders to trust".into());
        }
        if let Some(signing) = &self.signing {
            let issuer = signing.issuer_url(self.public_url.as_deref()).ok_or(
                "[signing] needs issuer (or public_url): builder identities are URLs under it",
            )?;
            if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
                || !warden_signing::ca::is_uri(issuer)
            {
                return Err(format!(
                    "[signing] issuer {issuer:?} must be an http(s) URL of printable ASCII"
                ));
            }
            let (default, max) = (
                signing.default_certificate_lifetime,
                signing.max_certificate_lifetime,
            );
            if default.is_zero() || default > max || max > MAX_CERTIFICATE_LIFETIME {
                return Err(
                    "[signing] lifetimes: 0 < default_certificate_lifetime <= max_certificate_lifetime <= 24h"
                        .into(),
                );
            }
        }
        if self.tls.is_none() && !self.insecure_http {
            return Err("[tls] is required unless insecure_http = true".into());
        }
        if self.token.lifetime.is_zero() || self.session.timeout.is_zero() {
            return Err("token.lifetime and session.timeout must be positive".into());
        }
        if self.admin.max_token_lifetime.is_zero()
            || time::Duration::try_from(self.admin.max_token_lifetime).is_err()
        {
            return Err("[admin] max_token_lifetime must be positive".into());
        }
        if self.session.max_sessions == 0 {
            return Err("session.max_sessions must be positive".into());
        }
        let server = &self.server;
        if server.max_connections == 0 || server.max_connections_per_client == 0 {
            return Err("[server] connection limits must be positive".into());
        }
        // Every request's cost must fit, or the largest allowed body could never be accepted.
        let largest = warden_wire::MAX_BODY_BYTES * crate::http::BODY_COST_FACTOR;
        if server.max_body_bytes_in_flight_per_client < largest
            || server.max_body_bytes_in_flight < server.max_body_bytes_in_flight_per_client
        {
            return Err(format!(
                "[server] max_body_bytes_in_flight_per_client must be at least {largest} and at most max_body_bytes_in_flight"
            ));
        }
        if [
            server.header_timeout,
            server.idle_timeout,
            server.request_timeout,
        ]
        .iter()
        .any(Duration::is_zero)
        {
            return Err("[server] timeouts must be positive".into());
        }
        if let Some(url) = &self.public_url
            && (!(url.starts_with("https://") || url.starts_with("http://"))
                || url.ends_with('/')
                || url.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!(
                "public_url {url:?} must be an http(s) URL without a trailing slash"
            ));
        }
        if let Some(verifier) = &self.verifier
            && !verifier.url.starts_with("https://")
        {
            return Err(format!(
                "[verifier] url {:?} must be https:// (the verifier is reached only over mutual TLS)",
                verifier.url
            ));
        }
        if let Some(id) = self.verifier.as_ref().and_then(|v| v.policy_id.as_deref())
            && !warden_verifier_service::valid_policy_id(id)
        {
            return Err(format!(
                "[verifier] policy_id {id:?} must be 1 to 128 of [A-Za-z0-9._-], not {}",
                warden_verifier_service::RESERVED_POLICY_IDS.join(" or ")
            ));
        }
        if self.verifier.is_some() {
            // These feed the embedded verifier; with a remote one they would silently do nothing.
            let embedded_only = [
                ("[snp] collateral_dir", self.snp.collateral_dir.is_some()),
                (
                    "[snp] insecure_dev_roots",
                    self.snp.insecure_dev_roots.is_some(),
                ),
                // Fetching fills the collateral of whichever verifier appraises: the service's
                // `--snp-kds` / `--tdx-pcs`.
                ("[snp.kds]", self.snp.kds.is_some()),
                ("[snp] require_crl", self.snp.require_crl),
                ("[tdx] allow_missing_crl", self.tdx.allow_missing_crl),
                ("[tpm] allow_sha1", self.tpm.allow_sha1),
                ("[tdx] collateral_dir", self.tdx.collateral_dir.is_some()),
                ("[tdx.pcs]", self.tdx.pcs.is_some()),
                ("[tpm] trust_dir", self.tpm.trust_dir.is_some()),
                ("insecure_allow_sample", self.insecure_allow_sample),
                // Imports are verified by the service, with its own builder keys.
                (
                    "[provenance] trusted_keys_dir",
                    self.provenance.trusted_keys_dir.is_some(),
                ),
            ];
            if let Some((setting, _)) = embedded_only.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{setting} configures the embedded verifier, but [verifier] names a remote one: configure `warden-verifier serve` instead"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_safe_defaults_and_resolved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbs.toml");
        std::fs::write(
            &path,
            "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[token]\nsigning_key = \"t.pem\"\n[store]\nsqlite = \"w.db\"\nmaster_key_file = \"m.key\"\n[snp]\ncollateral_dir = \"snp\"\n[tdx]\ncollateral_dir = \"tdx\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert!(!config.insecure_allow_sample && !config.insecure_http);
        assert_eq!(config.session.timeout, Duration::from_secs(300));
        assert_eq!(config.store.sqlite, Some(dir.path().join("w.db")));
        // Collateral directories are relative to the config file too, not the working directory.
        assert_eq!(config.snp.collateral_dir, Some(dir.path().join("snp")));
        assert_eq!(config.tdx.collateral_dir, Some(dir.path().join("tdx")));
        assert!(config.admin.keys.is_empty());
        assert_eq!(config.admin.max_token_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn the_admin_token_lifetime_bound_is_configurable_and_positive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbs.toml");
        let base = "insecure_http = true\n[token]\nsigning_key = \"t\"\n[store]\nsqlite = \"w\"\nmaster_key_file = \"m\"\n";
        std::fs::write(
            &path,
            format!("{base}[admin]\nmax_token_lifetime = \"15m\"\n"),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.admin.max_token_lifetime, Duration::from_secs(900));
        std::fs::write(
            &path,
            format!("{base}[admin]\nmax_token_lifetime = \"0s\"\n"),
        )
        .unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("max_token_lifetime must be positive"),
            "{error}"
        );
    }

    #[test]
    fn plain_http_needs_explicit_opt_in_and_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbs.toml");
        let base =
            "[token]\nsigning_key = \"t\"\n[store]\nsqlite = \"w\"\nmaster_key_file = \"m\"\n";
        std::fs::write(&path, base).unwrap();
        assert!(Config::load(&path).is_err());
        std::fs::write(&path, format!("insecure_http = true\n{base}")).unwrap();
        assert!(Config::load(&path).is_ok());
        std::fs::write(
            &path,
            format!("insecure_http = true\nlisten_typo = 1\n{base}"),
        )
        .unwrap();
        assert!(Config::load(&path).is_err());
    }

    #[test]
    fn a_remote_verifier_must_be_https_and_excludes_embedded_verifier_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbs.toml");
        let base = "insecure_http = true\n[token]\nsigning_key = \"t\"\n[store]\nsqlite = \"w\"\nmaster_key_file = \"m\"\n";
        let remote = |url: &str| {
            format!(
                "[verifier]\nurl = \"{url}\"\nca = \"ca.pem\"\ncert = \"c.pem\"\nkey = \"c.key\"\n"
            )
        };
        std::fs::write(&path, format!("{base}{}", remote("https://v:1"))).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.verifier.unwrap().ca, dir.path().join("ca.pem"));
        std::fs::write(&path, format!("{base}{}", remote("http://v:1"))).unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.contains("must be https://"), "{error}");
        for embedded in [
            "[snp]\nrequire_crl = true\n",
            "[tpm]\nallow_sha1 = true\n",
            "[provenance]\ntrusted_keys_dir = \"keys\"\n",
        ] {
            std::fs::write(&path, format!("{base}{embedded}{}", remote("https://v:1"))).unwrap();
            let error = Config::load(&path).unwrap_err().to_string();
            assert!(error.contains("embedded verifier"), "{error}");
        }
        for bad in ["appraisal", "default", "", "a/b"] {
            let policy = format!("policy_id = \"{bad}\"\n");
            std::fs::write(&path, format!("{base}{}{policy}", remote("https://v:1"))).unwrap();
            let error = Config::load(&path).unwrap_err().to_string();
            assert!(error.contains("policy_id"), "{error}");
        }
        // Registration is the KBS's protocol: it stays, and hands AKs to the service.
        let registering = "[tpm]\nek_ca_dir = \"ek-cas\"\n";
        std::fs::write(
            &path,
            format!("{base}{registering}{}", remote("https://v:1")),
        )
        .unwrap();
        assert!(Config::load(&path).is_ok());
    }

    #[test]
    fn the_tdx_pcs_section_turns_fetching_on_with_intel_defaults_and_init_documents_it() {
        assert!(toml::from_str::<TdxConfig>("").unwrap().pcs.is_none());
        let defaults = toml::from_str::<TdxConfig>("[pcs]\n").unwrap().pcs.unwrap();
        assert_eq!(defaults.url, warden_fetch::pcs::INTEL_PCS_URL);
        assert_eq!(
            defaults.root_crl_url,
            warden_fetch::pcs::INTEL_ROOT_CA_CRL_URL
        );
        assert_eq!(
            (defaults.timeout, defaults.retry_after),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        let custom = toml::from_str::<TdxConfig>(
            "[pcs]\nurl = \"https://pccs.internal:8081\"\nretry_after = \"5m\"\n",
        )
        .unwrap()
        .pcs
        .unwrap();
        assert_eq!(custom.url, "https://pccs.internal:8081");
        assert_eq!(custom.retry_after, Duration::from_secs(300));
        assert!(toml::from_str::<TdxConfig>("[pcs]\nurll = \"x\"\n").is_err());

        // The commented `[tdx]` section of the starter config loads once uncommented.
        let dir = tempfile::tempdir().unwrap();
        let output = crate::init::init(&crate::init::InitOptions {
            store_url: None,
            dir: dir.path().join("kbs"),
            listen: "127.0.0.1:0".into(),
            hostnames: vec![],
            insecure_allow_sample: false,
        })
        .unwrap();
        let text = std::fs::read_to_string(&output.config).unwrap();
        let start = text.find("# [tdx]\n").unwrap();
        let uncommented: Vec<&str> = text[start..]
            .lines()
            .map(|line| line.strip_prefix("# ").unwrap_or(line))
            .collect();
        std::fs::write(
            &output.config,
            format!("{}{}\n", &text[..start], uncommented.join("\n")),
        )
        .unwrap();
        let config = crate::Config::load(&output.config).unwrap();
        let pcs = config.tdx.pcs.unwrap();
        assert_eq!(
            (
                pcs.url.as_str(),
                pcs.root_crl_url.as_str(),
                pcs.timeout,
                pcs.retry_after
            ),
            (
                warden_fetch::pcs::INTEL_PCS_URL,
                warden_fetch::pcs::INTEL_ROOT_CA_CRL_URL,
                Duration::from_secs(10),
                Duration::from_secs(60)
            )
        );
    }
}
