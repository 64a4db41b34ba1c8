//! `warden-kbs`: command-line skin over the `warden_kbs` library.
//!
//! Exit codes: 0 success, 1 the KBS refused the request, 2 usage, configuration or I/O error.
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use warden_kbs::admin::{RevokeRequest, Role, generate_key_pair, mint_token};
use warden_kbs::admin_client::{AdminClient, ClientError, http_client, read_token};
use warden_kbs::config::Config;
use warden_kbs::init::{InitOptions, init_with_signing_authority};
use warden_kbs::keyfile::{ensure_trusted_files_safe, read_private, write_private, write_public};
use warden_kbs::migrate::MigrateError;
use warden_kbs::server::{init_logging, serve};
use warden_store::{PolicyKind, Store, StoreLocation, StoreOptions};

#[derive(Parser)]
#[command(
    name = "warden-kbs",
    version,
    about = "Warden key broker service (CoCo KBS protocol)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the KBS with its embedded verifier.
    Serve {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        /// Write the bound address here once listening (useful with port 0).
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// Enable the software-only sample TEE. INSECURE; overrides the config.
        #[arg(long)]
        insecure_allow_sample: bool,
        /// Serve plain HTTP. INSECURE; overrides the config.
        #[arg(long)]
        insecure_http: bool,
        /// Also trust the SNP development roots in DIR (sim-snp). INSECURE; overrides the config.
        #[arg(long, value_name = "DIR")]
        insecure_dev_roots: Option<PathBuf>,
    },
    /// Write a starter config, TLS certificates and keys into a new directory.
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Extra DNS name or IP for the TLS certificate (repeatable).
        #[arg(long = "hostname")]
        hostnames: Vec<String>,
        /// Write a config that enables the INSECURE sample TEE.
        #[arg(long)]
        insecure_allow_sample: bool,
        /// Keep the store in this PostgreSQL database (`postgres://user:password@host/db`)
        /// instead of `data/warden.db`; the token signing key then lives sealed in it, shared
        /// by every replica.
        #[arg(long)]
        store_url: Option<String>,
    },
    /// Remove a stored policy from the store directly, with the KBS stopped: for a policy the
    /// KBS refuses to start with (one past the policy limits, say).
    RemoveStoredPolicy {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        /// `release` (named by prefix) or `appraisal` (named by policy id, `default` for the
        /// embedded verifier's own).
        #[arg(long, value_parser = ["release", "appraisal"])]
        kind: String,
        #[arg(long)]
        name: String,
    },
    /// Create the signing authority (CA and TSA keys sealed in the store) for a config with a
    /// `[signing]` section, with the KBS stopped; writes the CA and TSA certificates (PEM) for
    /// deployers. Refuses a store that has one.
    SigningInit {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        /// Directory for `ca.pem` and `tsa.pem` (default: `signing/` beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the signing authority's public files from the store again — `ca.pem`, `tsa.pem`,
    /// `ct.pub`, `signing-log.vkey` and the Sigstore client trust configuration
    /// `trust-config.json` — creating the signing transparency log if the store predates it.
    SigningFiles {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        /// Directory to write into (default: `signing/` beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Copy the store into another, empty one — SQLite into PostgreSQL for replicas, or back
    /// — with every KBS on it stopped. Checked before it commits (row counts, log roots) and
    /// after (every resource, key and log key unseals with the master key; each log's latest
    /// checkpoint verifies); then prints the `[store] url` to configure. Attested sessions are
    /// not copied. A password in a URL shows in `ps`: leave it out and set PGPASSWORD.
    Migrate {
        /// The KBS config: its `[store]` is the source, its master key the key to check with.
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        config: Option<PathBuf>,
        /// The source store instead of a config's: `sqlite:PATH` or `postgres://…`.
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// With --from: the master key file (WARDEN_MASTER_KEY takes precedence).
        #[arg(long, requires = "from")]
        master_key_file: Option<PathBuf>,
        /// The target store: an empty PostgreSQL database (`postgres://…`) or a new SQLite
        /// file (`sqlite:PATH`).
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Admin keys, tokens and API calls.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The audit log and the signing transparency log: export, verify offline, search.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write a log from the store as an export file (the KBS may keep running).
    Export {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        /// `audit` or `signing` (the signing transparency log).
        #[arg(long, default_value = "audit", value_parser = ["audit", "signing"])]
        log: String,
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Print a log's checkpoint key (C2SP vkey), to keep for `verify --key`.
    Key {
        #[arg(long, env = "WARDEN_KBS_CONFIG")]
        config: PathBuf,
        #[arg(long, default_value = "audit", value_parser = ["audit", "signing"])]
        log: String,
    },
    /// Re-check an export offline: every entry's leaf hash, every checkpoint's signature and
    /// root, and consistency with checkpoints kept from earlier. Exit 1 names the first bad
    /// index or the inconsistent checkpoints.
    Verify {
        /// The log's key (a vkey line, e.g. `audit-log.vkey` from init).
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// A signed checkpoint kept from earlier (repeatable).
        #[arg(long = "previous", value_name = "PATH")]
        previous: Vec<PathBuf>,
        /// Write the export's final signed checkpoint here, to keep for the next verify.
        #[arg(long, value_name = "PATH")]
        checkpoint_out: Option<PathBuf>,
        /// The export file.
        export: PathBuf,
    },
    /// Print the entries of an export that match every criterion given (JSON lines).
    Search {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        resource: Option<String>,
        /// The attestation token's jti.
        #[arg(long)]
        token: Option<String>,
        /// The builder identity (<issuer>/builders/<name>).
        #[arg(long)]
        builder: Option<String>,
        /// RFC 3339: entries at or after.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339: entries before.
        #[arg(long)]
        until: Option<String>,
        /// The export file.
        export: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Generate an Ed25519 admin key pair (<out>/<name>.key, <out>/<name>.pub).
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// Mint an admin token with a private key: printed on standard output, its id (jti) and
    /// expiry on standard error. Pass it to other commands in WARDEN_ADMIN_TOKEN or a
    /// --token-file, never on a command line.
    Token {
        #[arg(long)]
        key: PathBuf,
        /// Name of the admin key as configured (sent as `kid`).
        #[arg(long, default_value = "admin")]
        name: String,
        #[arg(long, default_value = "operator")]
        subject: String,
        /// A role the token grants, where its key holds it (repeatable; at least one: a token
        /// naming no role grants nothing).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<Role>,
        /// Lifetime; the KBS refuses tokens living longer than its `[admin] max_token_lifetime`
        /// (default 1h).
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Revoke an admin token by its id (jti), for good: needs the `admin` role.
    RevokeToken {
        #[command(flatten)]
        api: ApiArgs,
        /// The token's jti (`admin token` prints it on standard error).
        #[arg(long)]
        jti: String,
        /// The token's exp (Unix seconds), when known: keeps the revocation at least that long.
        #[arg(long)]
        exp: Option<i64>,
    },
    /// Manage resources (secrets). Values are never printed.
    Resource {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: ResourceCommand,
    },
    /// Manage appraisal and release policies.
    Policy {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage the signing policy and the signing authority's named keys.
    Signing {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: SigningCommand,
    },
    /// Manage reference values.
    ReferenceValue {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: ReferenceValueCommand,
    },
}

#[derive(Args)]
struct ApiArgs {
    #[arg(long, env = "WARDEN_KBS_URL")]
    url: String,
    /// Refused: a token on the command line is visible to every local user.
    #[arg(long, hide = true, value_name = "REFUSED")]
    token: Option<String>,
    /// Read the admin token from this file (mode 0600; others may not read it). Without it,
    /// the token comes from the WARDEN_ADMIN_TOKEN environment variable.
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[arg(long, env = "WARDEN_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[arg(long)]
    insecure_http: bool,
}

#[derive(Subcommand)]
enum ResourceCommand {
    /// Store a resource from a file (or standard input with --file -).
    Set {
        path: String,
        #[arg(long)]
        file: PathBuf,
    },
    List,
    Delete {
        path: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    SetAppraisal {
        #[arg(long)]
        file: PathBuf,
    },
    /// Set the release policy for a path prefix (`default` for the default policy).
    SetRelease {
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        file: PathBuf,
    },
    DeleteRelease {
        #[arg(long)]
        prefix: String,
    },
    List,
}

#[derive(Subcommand)]
enum SigningCommand {
    /// Set the signing policy (Rego, package warden.signing: `allow` and `builder`).
    SetPolicy {
        #[arg(long)]
        file: PathBuf,
    },
    /// Show the signing policy in force.
    GetPolicy,
    /// Delete the stored signing policy: the default refuses every request.
    DeletePolicy,
    /// Create a named key (its private half never leaves the KBS).
    CreateKey {
        name: String,
        #[arg(long, default_value = "ecdsa-p256", value_parser = ["ecdsa-p256", "ecdsa-p384", "ed25519"])]
        algorithm: String,
    },
    /// List the named keys (public halves).
    ListKeys,
    DeleteKey {
        name: String,
    },
}

#[derive(Subcommand)]
enum ReferenceValueCommand {
    Set {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Import reference values from a DSSE envelope holding a signed in-toto statement with
    /// the Warden reference-value predicate.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
    List,
    Delete {
        name: String,
    },
}

enum Failure {
    Usage(String),
    Refused(String),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Refused { .. } => Failure::Refused(error.to_string()),
            other => Failure::Usage(other.to_string()),
        }
    }
}

fn usage(e: impl std::fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Appraisal runs on the blocking pool and is CPU-bound: more threads than a few per core
    // only add memory (stacks, allocator arenas), not throughput.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve {
            config,
            ready_file,
            insecure_allow_sample,
            insecure_http,
            insecure_dev_roots,
        } => {
            let config_path = config;
            let mut config = Config::load(&config_path).map_err(usage)?;
            ensure_trusted_files_safe(&config_path, &config).map_err(usage)?;
            if insecure_dev_roots.is_some() {
                config.snp.insecure_dev_roots = insecure_dev_roots;
            }
            config.insecure_allow_sample |= insecure_allow_sample;
            config.insecure_http |= insecure_http;
            init_logging(&config.log.format, config.log.filter.as_deref());
            serve(config, ready_file.as_deref())
                .await
                .map_err(|e| usage(format!("{e:#}")))
        }
        Command::RemoveStoredPolicy { config, kind, name } => {
            let config = Config::load(&config).map_err(usage)?;
            let kind = match kind.as_str() {
                "release" => PolicyKind::Release,
                _ => PolicyKind::Appraisal,
            };
            let store = config.store.open().await.map_err(usage)?;
            if store.delete_policy(kind, &name).await.map_err(usage)? {
                println!("removed");
                Ok(())
            } else {
                Err(Failure::Refused(format!(
                    "no stored policy {name:?} of that kind"
                )))
            }
        }
        Command::Init {
            dir,
            listen,
            hostnames,
            insecure_allow_sample,
            store_url,
        } => {
            let output = init_with_signing_authority(&InitOptions {
                dir,
                listen,
                hostnames,
                insecure_allow_sample,
                store_url,
            })
            .await
            .map_err(|e| usage(format!("{e:#}")))?;
            println!("config:            {}", output.config.display());
            println!(
                "CA certificate:    {}  (give it to agents as --ca-file)",
                output.ca_cert.display()
            );
            println!(
                "admin private key: {}  (warden-kbs admin token --role admin --key ...)",
                output.admin_private_key.display()
            );
            println!(
                "signing CA:        {}  (deployers' --trust-root for verify-artifact)",
                output.signing_dir.join("ca.pem").display()
            );
            Ok(())
        }
        Command::SigningInit { config, out } => signing_files(&config, out, true).await,
        Command::SigningFiles { config, out } => signing_files(&config, out, false).await,
        Command::Migrate {
            config,
            from,
            master_key_file,
            to,
        } => migrate(config, from, master_key_file, &to).await,
        Command::Admin { command } => admin(command).await,
        Command::Audit { command } => audit(command).await,
    }
}

/// `migrate`: the source from `config` (or `from` and `master_key_file`), copied into `to`.
async fn migrate(
    config: Option<PathBuf>,
    from: Option<String>,
    master_key_file: Option<PathBuf>,
    to: &str,
) -> Result<(), Failure> {
    let (source, options, master_key_file) = match (config, from) {
        (Some(path), _) => {
            let config = Config::load(&path).map_err(usage)?;
            (
                config.store.location().map_err(usage)?,
                config.store.options(),
                Some(config.store.master_key_file),
            )
        }
        (None, Some(url)) => (
            StoreLocation::parse(&url).map_err(usage)?,
            StoreOptions::default(),
            master_key_file,
        ),
        (None, None) => return Err(usage("give --config or --from")),
    };
    let target = StoreLocation::parse(to).map_err(usage)?;
    if target == source {
        return Err(usage("the source and the target are the same store"));
    }
    let sealer =
        warden_kbs::migrate::read_master_sealer(master_key_file.as_deref()).map_err(usage)?;
    // Opening an SQLite path creates the file: a mistyped source would copy an empty store.
    if let StoreLocation::Sqlite(path) = &source
        && !path.exists()
    {
        return Err(usage(format!(
            "the source store {} does not exist",
            source.display()
        )));
    }
    let source_store = Store::open(&source, &options)
        .await
        .map_err(|e| usage(format!("the source store: {e}")))?;
    let migrated = warden_kbs::migrate::migrate(&source_store, &target, &options, &sealer).await;
    source_store.close().await;
    let migrated = migrated.map_err(|e| match e {
        MigrateError::OpenTarget(_) => usage(e),
        _ => Failure::Refused(e.to_string()),
    })?;
    println!(
        "copied {} to {} in one transaction; row counts and log roots checked before it committed:",
        source.display(),
        target.display()
    );
    for (table, rows) in &migrated.copy.tables {
        println!("  {table:<22} {rows:>9}");
    }
    println!(
        "  {:<22} {:>9}  (carried over)",
        "store_generation", migrated.copy.generation
    );
    println!(
        "  not copied: {} (attested sessions and once-per-key marks expire within minutes; agents attest again)",
        warden_store::NOT_COPIED.join(", ")
    );
    for log in &migrated.copy.logs {
        if log.size == 0 {
            println!("  log {}: empty", log.name);
        } else {
            println!(
                "  log {}: {} entries, root {}; its latest checkpoint verifies",
                log.name,
                log.size,
                hex::encode(log.root)
            );
        }
    }
    // Its password hidden (the operator adds it back, or sets PGPASSWORD); an SQLite path made
    // absolute, since the config reads a relative one from the config's directory.
    let url = match &target {
        StoreLocation::Sqlite(path) => std::path::absolute(path)
            .map(|path| format!("sqlite:{}", path.display()))
            .unwrap_or_else(|_| target.display()),
        StoreLocation::Postgres(_) => target.display(),
    };
    println!(
        "next: in each KBS's config, replace [store] sqlite or url with the line below (a password shown as *** is yours to fill in, or set PGPASSWORD):"
    );
    println!("  url = \"{url}\"");
    let unsealed = migrated.unsealed;
    println!(
        "migrated: {} rows; {} resources, {} keys, {} logs unseal with the master key",
        migrated.copy.rows(),
        unsealed.resources,
        unsealed.keys(),
        unsealed.logs
    );
    Ok(())
}

/// `signing-init` (`create`: a new authority) and `signing-files` (the stored one): the
/// public files into `out`, default `signing/` beside the config.
async fn signing_files(
    config_path: &std::path::Path,
    out: Option<PathBuf>,
    create: bool,
) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(usage)?;
    let out = out.unwrap_or_else(|| {
        config_path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("signing")
    });
    let written = if create {
        warden_kbs::init::signing_init(&config, &out).await
    } else {
        warden_kbs::init::signing_files(&config, &out).await
    }
    .map_err(|e| Failure::Refused(format!("{e:#}")))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

async fn open_store(config: &std::path::Path) -> Result<Store, Failure> {
    let config = Config::load(config).map_err(usage)?;
    config.store.open().await.map_err(usage)
}

fn rfc3339(text: Option<String>) -> Result<Option<time::OffsetDateTime>, Failure> {
    text.map(|t| {
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| usage(format!("{t:?} is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

async fn audit(command: AuditCommand) -> Result<(), Failure> {
    use std::io::BufReader;
    let open = |path: &std::path::Path| {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(|e| usage(format!("{}: {e}", path.display())))
    };
    match command {
        AuditCommand::Export { config, log, out } => {
            let store = open_store(&config).await?;
            let file = std::fs::File::create(&out)
                .map_err(|e| usage(format!("{}: {e}", out.display())))?;
            let entries =
                warden_kbs::transparency::export_log(&store, &log, std::io::BufWriter::new(file))
                    .await
                    .map_err(usage)?;
            println!(
                "{entries} entries of the {log} log written to {}",
                out.display()
            );
            Ok(())
        }
        AuditCommand::Key { config, log } => {
            let store = open_store(&config).await?;
            let stored = store
                .log(&log)
                .await
                .map_err(usage)?
                .ok_or_else(|| Failure::Refused(format!("the store has no {log} log")))?;
            let verifier = warden_wire::tlog::NoteVerifier::ed25519(
                &stored.log.origin,
                &stored.log.public_key,
            )
            .map_err(usage)?;
            println!("{}", verifier.to_vkey());
            Ok(())
        }
        AuditCommand::Verify {
            key,
            previous,
            checkpoint_out,
            export,
        } => {
            let vkey = std::fs::read_to_string(&key)
                .map_err(|e| usage(format!("{}: {e}", key.display())))?;
            let verifier = warden_wire::tlog::NoteVerifier::from_vkey(vkey.trim())
                .map_err(|e| usage(format!("{}: {e}", key.display())))?;
            let kept = previous
                .iter()
                .map(|path| {
                    std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let kept: Vec<&[u8]> = kept.iter().map(Vec::as_slice).collect();
            let summary = warden_wire::tlog::verify_export(open(&export)?, &verifier, &kept)
                .map_err(|fault| Failure::Refused(fault.to_string()))?;
            if let Some(path) = checkpoint_out {
                std::fs::write(&path, &summary.note)
                    .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            }
            println!(
                "verified: {} entries of {}, {} checkpoints, {} kept checkpoints consistent; root {}",
                summary.entries,
                summary.origin,
                summary.checkpoints,
                summary.kept_matched,
                hex::encode(summary.checkpoint.root)
            );
            Ok(())
        }
        AuditCommand::Search {
            kind,
            resource,
            token,
            builder,
            since,
            until,
            export,
        } => {
            let filter = warden_kbs::audit::SearchFilter {
                kind,
                resource,
                jti: token,
                identity: builder,
                since: rfc3339(since)?,
                until: rfc3339(until)?,
            };
            let matched = warden_kbs::audit::search(open(&export)?, &filter, |entry| {
                println!("{entry}");
            })
            .map_err(usage)?;
            eprintln!("{matched} entries matched");
            Ok(())
        }
    }
}

async fn admin(command: AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::Keygen { out, name } => {
            let (private, public) = generate_key_pair().map_err(usage)?;
            write_private(&out.join(format!("{name}.key")), private.as_bytes()).map_err(usage)?;
            write_public(&out.join(format!("{name}.pub")), public.as_bytes()).map_err(usage)?;
            println!("{}", out.join(format!("{name}.pub")).display());
            Ok(())
        }
        AdminCommand::Token {
            key,
            name,
            subject,
            roles,
            ttl,
        } => {
            let ttl = humantime::parse_duration(&ttl).map_err(usage)?;
            let ttl = time::Duration::try_from(ttl).map_err(usage)?;
            let pem = read_private(&key).map_err(|e| usage(format!("{}: {e}", key.display())))?;
            let minted = mint_token(
                &name,
                &pem,
                &subject,
                roles,
                time::OffsetDateTime::now_utc(),
                ttl,
            )
            .map_err(usage)?;
            println!("{}", minted.token);
            eprintln!(
                "jti {} exp {} (revoke with: warden-kbs admin revoke-token --jti {} --exp {})",
                minted.jti, minted.exp, minted.jti, minted.exp
            );
            Ok(())
        }
        AdminCommand::RevokeToken { api, jti, exp } => {
            print(
                client(&api)?
                    .revoke_token(&RevokeRequest { jti, exp })
                    .await?,
            );
            Ok(())
        }
        AdminCommand::Resource { api, command } => {
            let client = client(&api)?;
            match command {
                ResourceCommand::Set { path, file } => {
                    client.put_resource(&path, read_input(&file)?).await?
                }
                ResourceCommand::List => print(client.list_resources().await?),
                ResourceCommand::Delete { path } => client.delete_resource(&path).await?,
            }
            Ok(())
        }
        AdminCommand::Policy { api, command } => {
            let client = client(&api)?;
            match command {
                PolicyCommand::SetAppraisal { file } => {
                    print(client.set_appraisal_policy(read_input(&file)?).await?)
                }
                PolicyCommand::SetRelease { prefix, file } => print(
                    client
                        .set_release_policy(&prefix, read_input(&file)?)
                        .await?,
                ),
                PolicyCommand::DeleteRelease { prefix } => {
                    client.delete_release_policy(&prefix).await?
                }
                PolicyCommand::List => print(client.list_policies().await?),
            }
            Ok(())
        }
        AdminCommand::Signing { api, command } => {
            let client = client(&api)?;
            match command {
                SigningCommand::SetPolicy { file } => {
                    print(client.set_signing_policy(read_input(&file)?).await?)
                }
                SigningCommand::GetPolicy => print(client.signing_policy().await?),
                SigningCommand::DeletePolicy => client.delete_signing_policy().await?,
                SigningCommand::CreateKey { name, algorithm } => {
                    print(client.create_signing_key(&name, &algorithm).await?)
                }
                SigningCommand::ListKeys => print(client.list_signing_keys().await?),
                SigningCommand::DeleteKey { name } => client.delete_signing_key(&name).await?,
            }
            Ok(())
        }
        AdminCommand::ReferenceValue { api, command } => {
            let client = client(&api)?;
            match command {
                ReferenceValueCommand::Set { name, file } => {
                    client
                        .put_reference_value(&name, read_input(&file)?)
                        .await?
                }
                ReferenceValueCommand::Import { file } => {
                    print(client.import_reference_values(read_input(&file)?).await?)
                }
                ReferenceValueCommand::List => print(client.list_reference_values().await?),
                ReferenceValueCommand::Delete { name } => {
                    client.delete_reference_value(&name).await?
                }
            }
            Ok(())
        }
    }
}

fn client(api: &ApiArgs) -> Result<AdminClient, Failure> {
    if api.token.is_some() {
        return Err(usage(
            "--token is refused: a token on the command line is visible to every local user (ps, /proc/<pid>/cmdline); set WARDEN_ADMIN_TOKEN or pass --token-file FILE (mode 0600)",
        ));
    }
    let token = read_token(
        api.token_file.as_deref(),
        std::env::var("WARDEN_ADMIN_TOKEN").ok(),
    )?;
    let http = http_client(&api.url, api.ca_file.as_deref(), api.insecure_http)?;
    Ok(AdminClient::new(http, &api.url, &token))
}

fn read_input(file: &PathBuf) -> Result<Vec<u8>, Failure> {
    if file.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer).map_err(usage)?;
        Ok(buffer)
    } else {
        std::fs::read(file).map_err(|e| usage(format!("{}: {e}", file.display())))
    }
}

fn print(value: Option<serde_json::Value>) {
    if let Some(value) = value {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    }
}
