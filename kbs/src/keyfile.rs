//! Key and secret files, created with explicit modes (0600 private, 0644 public, directories
//! 0700, whatever the umask) and never overwritten by accident; and the start-up refusal of
//! files the KBS trusts that others could change.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use warden_store::files::{
    Existing, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, UnsafeFile, ensure_all_not_writable_by_others,
    write_file,
};

use crate::config::Config;

/// Writes `contents` to a new file readable only by its owner (0600), creating missing
/// directories 0700. Fails if the file exists.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_file(path, contents, PRIVATE_FILE_MODE, Existing::Refuse)
}

/// Writes `contents` to a new file others may read but not write (0644: configs, public keys,
/// certificates), creating missing directories 0700. Fails if the file exists.
pub fn write_public(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_file(path, contents, PUBLIC_FILE_MODE, Existing::Refuse)
}

/// Reads a private key file, refusing one that others can read: a leaked key defeats Warden.
pub fn read_private(path: &Path) -> std::io::Result<Vec<u8>> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is accessible by group or others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            ),
        ));
    }
    std::fs::read(path)
}

/// Reads the file if it exists, otherwise creates it with `generate()`'s output.
pub fn read_or_create_private(
    path: &Path,
    generate: impl FnOnce() -> Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    match read_private(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let contents = generate();
            write_private(path, &contents)?;
            Ok(contents)
        }
        other => other,
    }
}

/// A file `serve` trusts that others could change.
#[derive(Debug, thiserror::Error)]
#[error("refusing to start: {what}: {problem}")]
pub struct UntrustworthyFile {
    /// What the file is to the KBS (e.g. "admin key admin").
    pub what: String,
    /// Why it is refused.
    pub problem: UnsafeFile,
}

/// Every file and directory `serve` reads and trusts, by what it is: the config, TLS
/// certificate and key, token signing key, master key (unless `WARDEN_MASTER_KEY` replaces it),
/// the store, admin public keys, the remote verifier's TLS files and the trust-anchor
/// directories. Files that do not exist yet are listed too: the KBS creates some, and the
/// directory it would create them in matters.
pub fn trusted_paths(config_path: &Path, config: &Config) -> Vec<(String, PathBuf)> {
    let mut paths = vec![
        ("config".to_owned(), config_path.to_path_buf()),
        ("token signing key".into(), config.token.signing_key.clone()),
    ];
    if let Some(sqlite) = &config.store.sqlite {
        paths.push(("store".into(), sqlite.clone()));
    }
    if std::env::var_os("WARDEN_MASTER_KEY").is_none() {
        paths.push(("master key".into(), config.store.master_key_file.clone()));
    }
    if let Some(tls) = &config.tls {
        paths.push(("TLS certificate".into(), tls.cert.clone()));
        paths.push(("TLS key".into(), tls.key.clone()));
    }
    for key in &config.admin.keys {
        paths.push((format!("admin key {}", key.name), key.public_key.clone()));
    }
    if let Some(verifier) = &config.verifier {
        paths.push(("[verifier] ca".into(), verifier.ca.clone()));
        paths.push(("[verifier] cert".into(), verifier.cert.clone()));
        paths.push(("[verifier] key".into(), verifier.key.clone()));
    }
    let dirs = [
        ("[tpm] trust_dir", &config.tpm.trust_dir),
        ("[tpm] ek_ca_dir", &config.tpm.ek_ca_dir),
        (
            "[provenance] trusted_keys_dir",
            &config.provenance.trusted_keys_dir,
        ),
        ("[provenance] signing_ca", &config.provenance.signing_ca),
        (
            "[provenance] builder_policy",
            &config.provenance.builder_policy,
        ),
    ];
    for (what, dir) in dirs {
        if let Some(dir) = dir {
            paths.push((what.into(), dir.clone()));
        }
    }
    paths
}

/// Refuses to start when any of [`trusted_paths`], or the directory holding it, is writable by
/// its group or others.
pub fn ensure_trusted_files_safe(
    config_path: &Path,
    config: &Config,
) -> Result<(), UntrustworthyFile> {
    ensure_all_not_writable_by_others(trusted_paths(config_path, config))
        .map_err(|(what, problem)| UntrustworthyFile { what, problem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/key");
        write_private(&path, b"one").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("k"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert!(write_private(&path, b"two").is_err());
        assert_eq!(
            read_or_create_private(&path, || b"three".to_vec()).unwrap(),
            b"one"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_private(&path).is_err());
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn serve_refuses_every_trusted_file_others_could_change_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("kbs");
        let output = crate::init::init(&crate::init::InitOptions {
            store_url: None,
            dir: home.clone(),
            listen: "127.0.0.1:0".into(),
            hostnames: vec![],
            insecure_allow_sample: false,
        })
        .unwrap();
        let trust = home.join("builder-keys");
        write_public(&trust.join("builder.pem"), b"k").unwrap();
        std::fs::write(
            &output.config,
            format!(
                "{}\n[provenance]\ntrusted_keys_dir = \"builder-keys\"\n",
                std::fs::read_to_string(&output.config).unwrap()
            ),
        )
        .unwrap();
        let config = Config::load(&output.config).unwrap();
        ensure_trusted_files_safe(&output.config, &config).unwrap();
        let listed: Vec<PathBuf> = trusted_paths(&output.config, &config)
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        for expected in [
            "kbs.toml",
            "keys/admin.pub",
            "keys/token-signing.pem",
            "keys/master.key",
            "tls/server.pem",
            "tls/server.key",
            "data/warden.db",
            "builder-keys",
        ] {
            assert!(listed.contains(&home.join(expected)), "{expected}");
        }

        for (file, what) in [
            ("kbs.toml", "config"),
            ("keys/admin.pub", "admin key admin"),
            ("tls/server.pem", "TLS certificate"),
            ("keys/master.key", "master key"),
            ("builder-keys/builder.pem", "[provenance] trusted_keys_dir"),
        ] {
            let path = home.join(file);
            let before = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            chmod(&path, before | 0o002);
            let error = ensure_trusted_files_safe(&output.config, &config).unwrap_err();
            assert_eq!(error.what, what);
            assert!(
                matches!(&error.problem, UnsafeFile::Writable { path: p, .. } if p == &path),
                "{error}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("chmod go-w {}", path.display())),
                "{message}"
            );
            chmod(&path, before);
        }
        // The directory holding keys (the first trusted file in it names the refusal), or the
        // state directory holding the config.
        for (dir, what) in [("keys", "token signing key"), ("", "config")] {
            let path = home.join(dir);
            chmod(&path, 0o770);
            let error = ensure_trusted_files_safe(&output.config, &config).unwrap_err();
            let refused = match &error.problem {
                UnsafeFile::WritableDirectory { dir, .. } => dir.clone(),
                other => panic!("{other}"),
            };
            assert_eq!(
                (refused.as_path(), error.what.as_str()),
                (path.as_path(), what)
            );
            chmod(&path, 0o700);
        }
        ensure_trusted_files_safe(&output.config, &config).unwrap();
    }
}
