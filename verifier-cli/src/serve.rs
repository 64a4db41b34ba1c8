//! `warden-verifier serve`: the verifier as a gRPC service over mutual TLS.

use std::path::PathBuf;
use std::process::ExitCode;
use warden_fetch::kds::{AMD_KDS_URL, KdsSettings};
use warden_fetch::pcs::{INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL, PcsSettings};
use warden_fetch::{DEFAULT_RETRY_AFTER, DEFAULT_TIMEOUT, Prefetcher};
use warden_store::files::{
    Existing, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, ensure_all_not_writable_by_others, write_file,
};
use warden_store::{Store, StoreLocation, StoreOptions};
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::ear::TokenSigner;
use warden_verifier::provenance::TrustedBuilderKeys;
use warden_verifier::{
    Appraiser, ReferenceValues, VerifierRegistry, VerifierSettings, VerifierSources,
};
use warden_verifier_service::connections::ConnectionLimits;
use warden_verifier_service::logging::LogStyle;
use warden_verifier_service::{Managers, TlsFiles, VerifierService};

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (see --ready-file).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub(crate) listen: std::net::SocketAddr,
    /// Written with the bound address once the service accepts connections.
    #[arg(long)]
    pub(crate) ready_file: Option<PathBuf>,
    /// Server certificate chain (PEM).
    #[arg(long)]
    pub(crate) tls_cert: PathBuf,
    /// Server private key (PEM).
    #[arg(long)]
    pub(crate) tls_key: PathBuf,
    /// CA (PEM) that every client certificate must chain to: clients without one are refused.
    #[arg(long)]
    pub(crate) tls_client_ca: PathBuf,
    /// The service's directory: its store (`verifier.db`, unless --sqlite names another) and
    /// token-signing key.
    #[arg(long)]
    pub(crate) state_dir: PathBuf,
    /// The SQLite store of reference values, appraisal policies and registered AKs (the KBS's
    /// store format, but never a KBS's file: one holding sealed resources is refused).
    /// Default: `<state-dir>/verifier.db`.
    #[arg(long, conflicts_with = "store_url")]
    pub(crate) sqlite: Option<PathBuf>,
    /// The store as a URL instead: `sqlite:PATH` or `postgres://user:password@host/db`
    /// (replicas of the service on one PostgreSQL database; each polls it for changes).
    #[arg(long, env = "WARDEN_VERIFIER_STORE_URL")]
    pub(crate) store_url: Option<String>,
    /// SNP collateral: VCEK/VLEK certificates and AMD CRLs (DER or PEM).
    #[arg(long)]
    pub(crate) snp_collateral_dir: Option<PathBuf>,
    /// TDX collateral: TCB info, QE identity, CRLs, TCB signing chain.
    #[arg(long)]
    pub(crate) tdx_collateral_dir: Option<PathBuf>,
    /// TPM AK CA certificates and pinned AK public keys.
    #[arg(long)]
    pub(crate) tpm_trust_dir: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL is in the collateral.
    #[arg(long)]
    pub(crate) require_crl: bool,
    /// Accept TDX evidence when no Intel CRL covers its PCK chain (reported as NOT CHECKED).
    #[arg(long)]
    pub(crate) allow_missing_crl: bool,
    /// TPM: accept SHA-1 signatures and PCR banks.
    #[arg(long)]
    pub(crate) allow_sha1: bool,
    /// Enable the software-only sample TEE. INSECURE.
    #[arg(long)]
    pub(crate) insecure_allow_sample: bool,
    /// Most connections open at once.
    #[arg(long, default_value_t = ConnectionLimits::default().max_total)]
    pub(crate) max_connections: usize,
    /// Most connections open at once from one client (IPv4 address or IPv6 /64).
    #[arg(long, default_value_t = ConnectionLimits::default().max_per_client)]
    pub(crate) max_connections_per_client: usize,
    /// Close a connection on which no byte moved for this long (e.g. 60s); covers clients
    /// that never start TLS.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) idle_timeout: std::time::Duration,
    /// Also trust the SNP development roots in DIR (sim-snp). INSECURE.
    #[arg(long, value_name = "DIR")]
    pub(crate) insecure_dev_roots: Option<PathBuf>,
    /// Builder public keys (PEM/DER SPKI) that signed reference-value provenance must verify
    /// with; without it, `rv import` is refused.
    #[arg(long, value_name = "DIR")]
    pub(crate) trusted_builder_keys_dir: Option<PathBuf>,
    /// Warden signing CA certificates (PEM): reference values in Sigstore bundles from
    /// attested builders under them are accepted too (with --trusted-builder-identity or
    /// --trusted-builder-policy).
    #[arg(long, value_name = "FILE")]
    pub(crate) trusted_signing_ca: Option<PathBuf>,
    /// A builder identity (`<issuer>/builders/<name>`) whose bundles are accepted; repeatable.
    #[arg(
        long = "trusted-builder-identity",
        value_name = "URI",
        requires = "trusted_signing_ca"
    )]
    pub(crate) trusted_builder_identities: Vec<String>,
    /// A Rego policy (`data.warden.artifact.allow`) over a bundle's attested facts.
    #[arg(long, value_name = "FILE", requires = "trusted_signing_ca")]
    pub(crate) trusted_builder_policy: Option<PathBuf>,
    /// ES256 key (PKCS#8 PEM) the service signs its EAR tokens with; created (mode 0600) if
    /// missing. Default: token-signing.pem in the state directory.
    #[arg(long)]
    pub(crate) token_signing_key: Option<PathBuf>,
    /// `iss` of the service's EAR tokens.
    #[arg(long, default_value = "warden-verifier")]
    pub(crate) token_issuer: String,
    /// Let clients register TPM AKs they proved by credential activation (a KBS with
    /// `[tpm] ek_ca_dir` does). The service cannot check the activation: every client with a
    /// certificate from --tls-client-ca is then trusted to have done it, for all clients.
    #[arg(long)]
    pub(crate) accept_tpm_registrations: bool,
    /// A client (by its certificate's subject common name) that may change reference values,
    /// appraisal policies and TPM AKs; repeatable. Every other client may only appraise and
    /// read. One of --manager and --any-client-may-manage is required.
    #[arg(
        long = "manager",
        value_name = "NAME",
        required_unless_present = "any_client_may_manage"
    )]
    pub(crate) managers: Vec<String>,
    /// Let every client with a certificate from --tls-client-ca change reference values,
    /// appraisal policies and TPM AKs (one trust domain only).
    #[arg(long, conflicts_with = "managers")]
    pub(crate) any_client_may_manage: bool,
    /// Fetch the VCEK of SNP evidence that comes without one from AMD KDS (or the KDS-compatible
    /// URL given) before appraising it, caching it in --snp-collateral-dir when set.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = AMD_KDS_URL)]
    pub(crate) snp_kds: Option<String>,
    /// Keep the TDX collateral of a quote's platform valid from Intel PCS (or the PCCS URL
    /// given) before appraising it, caching it in --tdx-collateral-dir when set.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = INTEL_PCS_URL)]
    pub(crate) tdx_pcs: Option<String>,
    /// Where --tdx-pcs fetches the Intel SGX Root CA CRL (DER).
    #[arg(long, value_name = "URL", default_value = INTEL_ROOT_CA_CRL_URL)]
    pub(crate) tdx_pcs_root_crl_url: String,
}

pub(crate) fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    // Refused TLS handshakes (no or a wrong client certificate) are logged by tonic at debug.
    warden_verifier_service::logging::init(
        LogStyle::Human,
        Some("info,tonic::transport::server::io_stream=debug"),
    );
    ensure_trusted_files_safe(args)?;
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
        PcsSettings::new(
            url.clone(),
            args.tdx_pcs_root_crl_url.clone(),
            args.tdx_collateral_dir.clone(),
        )
    });
    let prefetcher = Prefetcher::new(kds, pcs, &settings)?;
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY)
        .map_err(|e| e.to_string())?;
    let appraiser = Appraiser::new(registry, policy, ReferenceValues::default());
    let mut builder_keys =
        TrustedBuilderKeys::from_optional_dir(args.trusted_builder_keys_dir.as_deref())?;
    if let Some(ca) = &args.trusted_signing_ca {
        let policy = args
            .trusted_builder_policy
            .as_ref()
            .map(crate::read)
            .transpose()?;
        let builders = warden_verifier::provenance::AttestedBuilders::new(
            &crate::read_bytes(ca)?,
            args.trusted_builder_identities.clone(),
            policy.as_deref(),
        )
        .map_err(|e| format!("{}: {e}", ca.display()))?;
        builder_keys.attested = Some(std::sync::Arc::new(builders));
    }
    let key_file = args
        .token_signing_key
        .clone()
        .unwrap_or_else(|| args.state_dir.join("token-signing.pem"));
    let signer = TokenSigner::from_pem(&signing_key_pem(&key_file)?, &args.token_issuer)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let location = match &args.store_url {
        Some(url) => StoreLocation::parse(url).map_err(|e| e.to_string())?,
        None => StoreLocation::Sqlite(
            args.sqlite
                .clone()
                .unwrap_or_else(|| args.state_dir.join("verifier.db")),
        ),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let service = runtime.block_on(async {
        let store = Store::open(&location, &StoreOptions::default())
            .await
            .map_err(|e| format!("{}: {e}", location.display()))?;
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
        let limits = ConnectionLimits {
            max_total: args.max_connections.max(1),
            max_per_client: args.max_connections_per_client.max(1),
            idle_timeout: args.idle_timeout,
        };
        // Also polls the store's generation, so services sharing one store agree within a
        // second on what a manager changed through any of them.
        let serving = warden_verifier_service::grpc::serve_limited(
            listener,
            tls,
            service,
            limits,
            shutdown_signal(),
        );
        tracing::info!(%address, "verifier service listening (gRPC, mutual TLS)");
        if let Some(file) = &args.ready_file {
            write_file(
                file,
                address.to_string().as_bytes(),
                PUBLIC_FILE_MODE,
                Existing::Replace,
            )
            .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        serving.await.map_err(|e| e.to_string())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Every file and directory `serve` reads and trusts, by what it is: its TLS files, the state
/// directory (with the store and signing key in it), a store or signing key named elsewhere,
/// and the trust-anchor directories. Files that do not exist yet are listed too: the service
/// creates some, and the directory it would create them in matters.
fn trusted_paths(args: &ServeArgs) -> Vec<(&'static str, PathBuf)> {
    let optional = [
        ("--sqlite", &args.sqlite),
        ("--token-signing-key", &args.token_signing_key),
        ("--tpm-trust-dir", &args.tpm_trust_dir),
        ("--trusted-builder-keys-dir", &args.trusted_builder_keys_dir),
        ("--trusted-signing-ca", &args.trusted_signing_ca),
        ("--trusted-builder-policy", &args.trusted_builder_policy),
    ];
    [
        ("--tls-cert", &args.tls_cert),
        ("--tls-key", &args.tls_key),
        ("--tls-client-ca", &args.tls_client_ca),
        ("--state-dir", &args.state_dir),
    ]
    .into_iter()
    .map(|(what, path)| (what, path.clone()))
    .chain(
        optional
            .into_iter()
            .filter_map(|(what, path)| path.clone().map(|path| (what, path))),
    )
    .collect()
}

/// Refuses to start when any of [`trusted_paths`], or the directory holding it, is writable by
/// its group or others: whoever can write there can make the service trust their key.
fn ensure_trusted_files_safe(args: &ServeArgs) -> Result<(), String> {
    ensure_all_not_writable_by_others(trusted_paths(args))
        .map_err(|(what, problem)| format!("refusing to start: {what}: {problem}"))
}

/// The token-signing key in `path`, created (owner-only) when the file does not exist yet.
pub(crate) fn signing_key_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(pem) => return Ok(pem),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("{}: {e}", path.display()));
        }
        Err(_) => {}
    }
    let pem = warden_verifier::ear::generate_signing_key_pem().map_err(|e| e.to_string())?;
    // Its directory (the state directory) is created 0700 if missing.
    write_file(path, pem.as_bytes(), PRIVATE_FILE_MODE, Existing::Refuse)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "created the token signing key");
    Ok(pem.into_bytes())
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::os::unix::fs::PermissionsExt;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn serve_refuses_trusted_files_others_could_change_naming_the_option_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for file in ["server.pem", "server.key", "ca.pem"] {
            write_file(&path(file), b"pem", PRIVATE_FILE_MODE, Existing::Refuse).unwrap();
        }
        write_file(
            &path("builders/builder.pem"),
            b"pem",
            PUBLIC_FILE_MODE,
            Existing::Refuse,
        )
        .unwrap();
        let args = Command::parse_from([
            "serve".as_ref(),
            "--any-client-may-manage".as_ref(),
            "--tls-cert".as_ref(),
            path("server.pem").as_os_str(),
            "--tls-key".as_ref(),
            path("server.key").as_os_str(),
            "--tls-client-ca".as_ref(),
            path("ca.pem").as_os_str(),
            "--state-dir".as_ref(),
            path("state").as_os_str(),
            "--trusted-builder-keys-dir".as_ref(),
            path("builders").as_os_str(),
        ])
        .serve;
        // The state directory does not exist yet: its parent is what is checked.
        ensure_trusted_files_safe(&args).unwrap();
        let chmod = |name: &str, mode: u32| {
            std::fs::set_permissions(path(name), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        for (file, what) in [
            ("ca.pem", "--tls-client-ca"),
            ("server.key", "--tls-key"),
            ("builders/builder.pem", "--trusted-builder-keys-dir"),
        ] {
            chmod(file, 0o622);
            let error = ensure_trusted_files_safe(&args).unwrap_err();
            assert!(
                error.starts_with(&format!("refusing to start: {what}: "))
                    && error.contains(&format!("chmod go-w {}", path(file).display())),
                "{error}"
            );
            chmod(file, 0o600);
        }
        std::fs::create_dir(path("state")).unwrap();
        chmod("state", 0o777);
        let error = ensure_trusted_files_safe(&args).unwrap_err();
        assert!(
            error.starts_with("refusing to start: --state-dir: "),
            "{error}"
        );
        chmod("state", 0o700);
        ensure_trusted_files_safe(&args).unwrap();
    }
}
