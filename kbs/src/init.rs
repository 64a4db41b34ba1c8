//! `warden-kbs init`: a starter directory with a config, a local CA and TLS certificate, the
//! token signing key, the master key and a first admin key pair. Refuses to overwrite anything.
//! Modes are explicit whatever the umask: directories it creates 0700, keys 0600, the config,
//! public key and certificates 0644.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::keyfile::{write_private, write_public};
use crate::sealing::Sealer;
use crate::transparency::{ed25519_spki, ensure_log};
use warden_signing::trust_config::TrustConfigInput;

/// What `warden-kbs init` is to write.
pub struct InitOptions {
    /// Directory to write into (created if missing); must not hold a `kbs.toml` yet.
    pub dir: PathBuf,
    /// The `listen` address written into the config.
    pub listen: String,
    /// Extra DNS names / IPs for the TLS certificate besides localhost and loopback.
    pub hostnames: Vec<String>,
    /// Write `insecure_allow_sample = true` into the config (INSECURE: development only).
    pub insecure_allow_sample: bool,
    /// The store's URL (`postgres://…`) instead of the SQLite file `data/warden.db`; the
    /// token signing key then lives sealed in the store (no `keys/token-signing.pem`), so
    /// replicas started from copies of this directory share it.
    pub store_url: Option<String>,
}

/// Files written by [`init`], for the caller to print.
pub struct InitOutput {
    /// The config file, `kbs.toml`.
    pub config: PathBuf,
    /// The local CA certificate (`tls/ca.pem`) clients must trust.
    pub ca_cert: PathBuf,
    /// The first admin key's private key (`keys/admin.key`).
    pub admin_private_key: PathBuf,
    /// Where [`init_with_signing_authority`] writes the signing CA and TSA certificates
    /// (`signing/`); deployers trust `signing/ca.pem`.
    pub signing_dir: PathBuf,
}

/// Writes the starter directory described in the module docs; fails if `kbs.toml` exists.
pub fn init(options: &InitOptions) -> anyhow::Result<InitOutput> {
    let dir = &options.dir;
    let config_path = dir.join("kbs.toml");
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite",
            config_path.display()
        );
    }
    warden_store::files::create_private_dir_all(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    write_tls(dir, &options.hostnames)?;
    let store = match &options.store_url {
        Some(url) => {
            warden_store::StoreLocation::parse(url)?;
            format!(
                "url = \"{}\"",
                url.replace('\\', "\\\\").replace('"', "\\\"")
            )
        }
        None => {
            let signing_key = warden_verifier::ear::generate_signing_key_pem()?;
            write_private(&dir.join("keys/token-signing.pem"), signing_key.as_bytes())?;
            "sqlite = \"data/warden.db\"".to_owned()
        }
    };
    write_private(&dir.join("keys/master.key"), &Sealer::generate_master_key())?;
    let (admin_private, admin_public) =
        crate::admin::generate_key_pair().map_err(anyhow::Error::msg)?;
    write_private(&dir.join("keys/admin.key"), admin_private.as_bytes())?;
    write_public(&dir.join("keys/admin.pub"), admin_public.as_bytes())?;
    let sample = if options.insecure_allow_sample {
        "# INSECURE: accepts the software-only sample TEE. Development only.\ninsecure_allow_sample = true\n"
    } else {
        "# insecure_allow_sample = false   # the software-only sample TEE; development only\n"
    };
    let config = format!(
        r#"# warden-kbs configuration. Relative paths are relative to this file.
listen = "{listen}"
{sample}
[tls]
cert = "tls/server.pem"
key = "tls/server.key"

[session]
timeout = "5m"        # challenge to last resource fetch; never longer than the token
max_sessions = 1024   # attested sessions cached; beyond it the oldest is dropped from
                      # memory (the store keeps it); challenges travel sealed in the cookie

[rate_limit]
auth_per_second = 20  # per client (IPv4 address or IPv6 /64); 0 disables
auth_burst = 40

[token]
issuer = "warden-kbs"
lifetime = "5m"
signing_key = "keys/token-signing.pem"

[store]
{store}
master_key_file = "keys/master.key"   # WARDEN_MASTER_KEY (64 hex chars) overrides

[admin]
max_token_lifetime = "1h"   # longer-lived admin tokens are refused (exp - iat)

[[admin.keys]]
name = "admin"
public_key = "keys/admin.pub"
roles = ["admin"]

[log]
format = "human"      # or "json"

# The signing authority: short-lived code-signing certificates for attested build enclaves,
# RFC 3161 timestamps, named keys. Its CA and TSA live sealed in the store (created by init, or
# `warden-kbs signing-init`); signing/ca.pem is what deployers trust. The signing policy
# (admin signing set-policy) refuses everything until an operator sets one.
[signing]
issuer = "https://{listen}"   # builder identities are <issuer>/builders/<name>
default_certificate_lifetime = "10m"
max_certificate_lifetime = "10m"

# AMD SEV-SNP. AMD's Milan/Genoa/Turin roots are built in; these settings are all optional.
# [snp]
# collateral_dir = "snp-collateral"   # VCEK/VLEK certificates and AMD CRLs (DER/PEM)
# require_crl = false                 # true: refuse evidence without a fresh AMD CRL
# [snp.kds]                           # fetch missing VCEKs from AMD KDS before appraisal
# url = "https://kdsintf.amd.com"

# Intel TDX. The Intel SGX Root CA is built in; TDX evidence needs Intel collateral.
# [tdx]
# collateral_dir = "tdx-collateral"   # TCB info, QE identity (PCS JSON), CRLs, TCB signing chain
# allow_missing_crl = false           # true: accept evidence when no Intel CRL covers its PCK
# [tdx.pcs]                           # fetch TCB info, QE identity and CRLs before appraisal,
#                                     # refetched once past nextUpdate; cached in collateral_dir
# url = "https://api.trustedservices.intel.com"   # Intel PCS, or a PCCS
# root_crl_url = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
# timeout = "10s"
# retry_after = "1m"                  # first back-off after a failure; doubles, up to 1h
"#,
        listen = options.listen
    );
    // The config names the database's password when the URL has one: owner-only then.
    if options.store_url.is_some() {
        write_private(&config_path, config.as_bytes())?;
    } else {
        write_public(&config_path, config.as_bytes())?;
    }
    Ok(InitOutput {
        config: config_path,
        ca_cert: dir.join("tls/ca.pem"),
        admin_private_key: dir.join("keys/admin.key"),
        signing_dir: dir.join("signing"),
    })
}

/// What `warden-kbs init` does: [`init`], then the signing authority in the new store
/// ([`signing_init`] into `signing/`).
pub async fn init_with_signing_authority(options: &InitOptions) -> anyhow::Result<InitOutput> {
    let output = init(options)?;
    let config = crate::Config::load(&output.config)?;
    signing_init(&config, &output.signing_dir).await?;
    // The audit log's key, for `warden-kbs audit verify --key`.
    let sealer = crate::service::master_sealer(&config).map_err(anyhow::Error::msg)?;
    let store = config.store.open().await?;
    let origin = crate::service::TransparencySettings::from_config(&config).audit_origin;
    let audit = ensure_log(&store, &sealer, crate::service::AUDIT_LOG, &origin).await;
    store.close().await;
    let vkey = format!("{}\n", audit?.verifier().to_vkey());
    write_public(&options.dir.join("audit-log.vkey"), vkey.as_bytes())?;
    Ok(output)
}

/// Creates the signing authority of `config` in its store, and its signing transparency log,
/// and writes `ca.pem`, `tsa.pem`, the CT log key `ct.pub`, the log's key `signing-log.vkey`
/// and the Sigstore client trust configuration `trust-config.json` (all 0644) into `out`;
/// refuses a config without `[signing]` and a store that has an authority.
pub async fn signing_init(config: &crate::Config, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let signing = config
        .signing
        .as_ref()
        .context("the config has no [signing] section")?;
    let sealer = crate::service::master_sealer(config).map_err(anyhow::Error::msg)?;
    let store = config.store.open().await?;
    let created = crate::signing::create_authority(
        &store,
        &sealer,
        &signing.name,
        time::OffsetDateTime::now_utc(),
    )
    .await;
    let log = signing_log(config, &store, &sealer).await;
    store.close().await;
    write_signing_files(config, &created?, &log?, out)
}

/// Writes the public files [`signing_init`] writes from the authority already in the store
/// (creating the signing transparency log if the store has none): for a store whose authority
/// predates the log, or to refresh `trust-config.json` after `public_url` changed.
pub async fn signing_files(config: &crate::Config, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let sealer = crate::service::master_sealer(config).map_err(anyhow::Error::msg)?;
    let store = config.store.open().await?;
    let authority = crate::signing::load_authority(&store, &sealer).await;
    let log = signing_log(config, &store, &sealer).await;
    store.close().await;
    let authority = authority?.context("the store has no signing authority: run signing-init")?;
    write_signing_files(config, &authority, &log?, out)
}

async fn signing_log(
    config: &crate::Config,
    store: &warden_store::Store,
    sealer: &Sealer,
) -> Result<warden_wire::tlog::NoteSigner, crate::transparency::LogError> {
    let origin = crate::service::TransparencySettings::from_config(config).signing_origin;
    ensure_log(store, sealer, crate::service::SIGNING_LOG, &origin).await
}

fn write_signing_files(
    config: &crate::Config,
    authority: &warden_signing::SigningAuthority,
    log: &warden_wire::tlog::NoteSigner,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    warden_store::files::create_private_dir_all(out)
        .with_context(|| format!("create {}", out.display()))?;
    let written = [
        (
            out.join("ca.pem"),
            "CERTIFICATE",
            authority.root_certificate(),
        ),
        (
            out.join("tsa.pem"),
            "CERTIFICATE",
            authority.tsa_certificate(),
        ),
        (
            out.join("ct.pub"),
            "PUBLIC KEY",
            authority.ct_key().spki_der(),
        ),
    ];
    for (path, label, der) in &written {
        write_public(path, warden_wire::pem::encode(label, der).as_bytes())?;
    }
    let mut paths: Vec<PathBuf> = written.into_iter().map(|(path, _, _)| path).collect();
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{}", config.listen));
    let trust = warden_signing::trust_config::client_trust_config(&TrustConfigInput {
        ca_root_der: authority.root_certificate(),
        tsa_certificate_der: authority.tsa_certificate(),
        ct_spki_der: authority.ct_key().spki_der(),
        tlog_spki_der: &ed25519_spki(log.verifier().public_key()),
        tlog_key_algorithm: warden_wire::signing_key::KeyAlgorithm::Ed25519,
        tlog_key_name: log.name(),
        base_url: base_url.trim_end_matches('/'),
        // Sigstore clients skip keys whose validity starts after their clock: a minute back.
        valid_from: time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
    })?;
    let trust_path = out.join("trust-config.json");
    let trust = serde_json::to_string_pretty(&trust)? + "\n";
    write_public(&trust_path, trust.as_bytes())?;
    let vkey_path = out.join("signing-log.vkey");
    write_public(
        &vkey_path,
        format!("{}\n", log.verifier().to_vkey()).as_bytes(),
    )?;
    paths.extend([trust_path, vkey_path]);
    Ok(paths)
}

fn write_tls(dir: &Path, hostnames: &[String]) -> anyhow::Result<()> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Warden KBS local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(hostnames.iter().cloned());
    let mut server_params = CertificateParams::new(names)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "warden-kbs");
    let server_key = KeyPair::generate()?;
    let server_cert = server_params.signed_by(&server_key, &ca)?;

    write_public(&dir.join("tls/ca.pem"), ca.pem().as_bytes())?;
    write_public(&dir.join("tls/server.pem"), server_cert.pem().as_bytes())?;
    write_private(
        &dir.join("tls/server.key"),
        server_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_loadable_config_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            store_url: None,
            dir: dir.path().join("kbs"),
            listen: "127.0.0.1:0".into(),
            hostnames: vec![],
            insecure_allow_sample: false,
        };
        let output = init(&options).unwrap();
        let config = crate::Config::load(&output.config).unwrap();
        assert!(!config.insecure_allow_sample);
        assert_eq!(config.admin.keys.len(), 1);
        assert!(init(&options).is_err());
    }

    /// Every mode under `dir`, by path relative to it ("" for `dir` itself).
    fn modes(dir: &Path) -> Vec<(String, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut found = vec![];
        let mut pending = vec![dir.to_path_buf()];
        while let Some(path) = pending.pop() {
            let metadata = std::fs::symlink_metadata(&path).unwrap();
            if metadata.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            }
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            found.push((name, metadata.permissions().mode() & 0o7777));
        }
        found.sort();
        found
    }

    #[test]
    fn init_sets_every_mode_explicitly_and_the_result_passes_the_serve_check() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("new/kbs");
        let output = init(&InitOptions {
            store_url: None,
            dir: home.clone(),
            listen: "127.0.0.1:0".into(),
            hostnames: vec![],
            insecure_allow_sample: false,
        })
        .unwrap();
        let expected: Vec<(String, u32)> = [
            ("", 0o700),
            ("kbs.toml", 0o644),
            ("keys", 0o700),
            ("keys/admin.key", 0o600),
            ("keys/admin.pub", 0o644),
            ("keys/master.key", 0o600),
            ("keys/token-signing.pem", 0o600),
            ("tls", 0o700),
            ("tls/ca.pem", 0o644),
            ("tls/server.key", 0o600),
            ("tls/server.pem", 0o644),
        ]
        .into_iter()
        .map(|(name, mode)| (name.to_owned(), mode))
        .collect();
        assert_eq!(modes(&home), expected);
        // The parent it had to create too.
        assert_eq!(modes(&dir.path().join("new"))[0], (String::new(), 0o700));
        let config = crate::Config::load(&output.config).unwrap();
        crate::keyfile::ensure_trusted_files_safe(&output.config, &config).unwrap();
    }
}
