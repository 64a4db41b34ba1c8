//! File modes of the state a server keeps and trusts on disk, for the KBS and the verifier
//! service alike (both depend on this crate; it depends on neither).
//!
//! Modes are set explicitly, never left to the process umask: a directory Warden creates is
//! 0700, a private file 0600, a public one 0644. A server refuses to start when a file it
//! trusts (its config, keys, certificates, trust anchors, its store), or the directory holding
//! it, is writable by its group or others: whoever can write there can make it trust their key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory Warden creates: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of private files (keys, the store): owner read/write.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of public files (config, public keys, certificates): others may read, never write.
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// The write bits for group and others.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// Set on a directory (like `/tmp`) where only an entry's owner may rename or remove it.
const STICKY: u32 = 0o1000;

/// A file or directory a server trusts that others could change.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeFile {
    /// The file (or trusted directory) itself is group- or world-writable.
    #[error(
        "{path} is writable by its group or others (mode {mode:04o}): whoever can write it can change what this server trusts; run `chmod go-w {path}`"
    )]
    Writable {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory holding a trusted file is group- or world-writable (and not sticky), so
    /// others can replace the file.
    #[error(
        "directory {dir}, which holds {path}, is writable by its group or others (mode {mode:04o}): whoever can write it can replace the file; run `chmod go-w {dir}`"
    )]
    WritableDirectory {
        /// The directory.
        dir: PathBuf,
        /// The trusted file it holds.
        path: PathBuf,
        /// The directory's permission bits.
        mode: u32,
    },
    /// The file's or directory's metadata could not be read.
    #[error("cannot check the permissions of {path}: {source}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn mode_of(path: &Path) -> Result<Option<(u32, bool)>, UnsafeFile> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Some((
            metadata.permissions().mode() & 0o7777,
            metadata.is_dir(),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UnsafeFile::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn writable(path: &Path, mode: u32) -> Result<(), UnsafeFile> {
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(UnsafeFile::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Checks every `(what, path)` a server trusts with [`ensure_not_writable_by_others`]; the
/// first refusal comes back with what that path is to the server.
pub fn ensure_all_not_writable_by_others<W>(
    trusted: impl IntoIterator<Item = (W, PathBuf)>,
) -> Result<(), (W, UnsafeFile)> {
    for (what, path) in trusted {
        ensure_not_writable_by_others(&path).map_err(|problem| (what, problem))?;
    }
    Ok(())
}

/// Refuses `path` when it, or the directory holding it, is writable by its group or others.
/// A directory's regular entries are checked too (trust directories are read one level deep).
/// A path that does not exist yet passes, but its directory is still checked: the server may
/// create the file there. A sticky directory (like `/tmp`) may hold it, since only an entry's
/// owner can replace it there. Symbolic links are followed; the link's own directory is
/// checked as well as the target's.
pub fn ensure_not_writable_by_others(path: &Path) -> Result<(), UnsafeFile> {
    if let Some((mode, is_dir)) = mode_of(path)? {
        writable(path, mode)?;
        if is_dir {
            let entries = std::fs::read_dir(path).map_err(|source| UnsafeFile::Unreadable {
                path: path.to_path_buf(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| UnsafeFile::Unreadable {
                    path: path.to_path_buf(),
                    source,
                })?;
                let entry = entry.path();
                if let Some((mode, false)) = mode_of(&entry)? {
                    writable(&entry, mode)?;
                }
            }
        }
    }
    let mut holders = vec![path.parent().map(Path::to_path_buf)];
    if let Ok(target) = std::fs::canonicalize(path) {
        holders.push(target.parent().map(Path::to_path_buf));
    }
    for dir in holders.into_iter().flatten() {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        if let Some((mode, _)) = mode_of(&dir)?
            && mode & WRITABLE_BY_OTHERS != 0
            && mode & STICKY == 0
        {
            return Err(UnsafeFile::WritableDirectory {
                dir,
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Creates `path` and any missing parents, each new one with mode 0700 whatever the umask;
/// directories that already exist are left as they are.
pub fn create_private_dir_all(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_private_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new()
        .mode(PRIVATE_DIR_MODE)
        .create(path)
    {
        // Another process created it meanwhile: it is not ours to change.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
        // The umask may have removed bits the mode asked for; set them exactly.
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE)),
    }
}

/// Whether [`write_file`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail if the file exists (keys, configs: never overwritten by accident).
    Refuse,
    /// Replace its contents (e.g. a ready file rewritten at each start).
    Replace,
}

/// Writes `contents` to `path` with exactly `mode` (whatever the umask), creating missing
/// parent directories with mode 0700, and syncs it.
pub fn write_file(
    path: &Path,
    contents: &[u8],
    mode: u32,
    existing: Existing,
) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        create_private_dir_all(parent)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    match existing {
        Existing::Refuse => options.create_new(true),
        Existing::Replace => options.create(true).truncate(true),
    };
    let mut file = options.open(path)?;
    // Before the contents: a replaced file keeps its old mode otherwise, and the umask may have
    // removed bits from a new one.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn writable_files_and_directories_are_refused_naming_the_file_and_the_fix() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("keys");
        create_private_dir_all(&dir).unwrap();
        let file = dir.join("admin.pub");
        write_file(&file, b"key", PUBLIC_FILE_MODE, Existing::Refuse).unwrap();
        ensure_not_writable_by_others(&file).unwrap();

        for bad in [0o646, 0o664, 0o666] {
            chmod(&file, bad);
            let error = ensure_not_writable_by_others(&file).unwrap_err();
            assert!(
                matches!(&error, UnsafeFile::Writable { path, mode } if path == &file && *mode == bad),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("chmod go-w {}", file.display())),
                "{message}"
            );
        }
        chmod(&file, 0o644);

        // The directory holding it: others could replace the file.
        chmod(&dir, 0o777);
        let error = ensure_not_writable_by_others(&file).unwrap_err();
        assert!(
            matches!(&error, UnsafeFile::WritableDirectory { dir: d, path, mode: 0o777 } if d == &dir && path == &file),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("chmod go-w {}", dir.display()))
        );
        // A missing file is still refused in such a directory: it would be created there.
        let error = ensure_not_writable_by_others(&dir.join("master.key")).unwrap_err();
        assert!(
            matches!(error, UnsafeFile::WritableDirectory { .. }),
            "{error:?}"
        );
        // A sticky directory (like /tmp) is fine: only an entry's owner can replace it there.
        chmod(&dir, 0o1777);
        ensure_not_writable_by_others(&file).unwrap();
        chmod(&dir, 0o700);
        ensure_not_writable_by_others(&dir.join("master.key")).unwrap();
    }

    #[test]
    fn a_trusted_directory_is_checked_with_its_entries_and_its_parent() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state/trusted");
        create_private_dir_all(&dir).unwrap();
        let key = dir.join("builder.pem");
        write_file(&key, b"k", PUBLIC_FILE_MODE, Existing::Refuse).unwrap();
        ensure_not_writable_by_others(&dir).unwrap();
        chmod(&key, 0o666);
        let error = ensure_not_writable_by_others(&dir).unwrap_err();
        assert!(
            matches!(&error, UnsafeFile::Writable { path, .. } if path == &key),
            "{error:?}"
        );
        chmod(&key, 0o644);
        chmod(&dir, 0o775);
        let error = ensure_not_writable_by_others(&dir).unwrap_err();
        assert!(
            matches!(&error, UnsafeFile::Writable { path, .. } if path == &dir),
            "{error:?}"
        );
        chmod(&dir, 0o755);
        chmod(&root.path().join("state"), 0o757);
        let error = ensure_not_writable_by_others(&dir).unwrap_err();
        assert!(
            matches!(error, UnsafeFile::WritableDirectory { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_symbolic_link_is_judged_by_its_target_and_both_directories() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        let links = root.path().join("links");
        create_private_dir_all(&real).unwrap();
        create_private_dir_all(&links).unwrap();
        let target = real.join("kbs.toml");
        write_file(&target, b"x", PUBLIC_FILE_MODE, Existing::Refuse).unwrap();
        let link = links.join("kbs.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        ensure_not_writable_by_others(&link).unwrap();
        chmod(&real, 0o777);
        let error = ensure_not_writable_by_others(&link).unwrap_err();
        assert!(
            matches!(&error, UnsafeFile::WritableDirectory { dir, .. } if dir == &real),
            "{error:?}"
        );
        chmod(&real, 0o700);
        chmod(&links, 0o770);
        let error = ensure_not_writable_by_others(&link).unwrap_err();
        assert!(
            matches!(&error, UnsafeFile::WritableDirectory { dir, .. } if dir == &links),
            "{error:?}"
        );
    }

    #[test]
    fn modes_are_exact_whatever_the_existing_file_and_only_new_directories_change() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b/c");
        create_private_dir_all(&nested).unwrap();
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&root.path().join(dir)), 0o700, "{dir}");
        }
        // An existing directory is not ours to change.
        chmod(&root.path().join("a"), 0o755);
        create_private_dir_all(&root.path().join("a/d")).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o755);
        assert_eq!(mode(&root.path().join("a/d")), 0o700);

        let file = nested.join("ready");
        write_file(&file, b"one", PUBLIC_FILE_MODE, Existing::Refuse).unwrap();
        assert!(write_file(&file, b"two", PUBLIC_FILE_MODE, Existing::Refuse).is_err());
        chmod(&file, 0o666);
        write_file(&file, b"three", PUBLIC_FILE_MODE, Existing::Replace).unwrap();
        assert_eq!(mode(&file), 0o644);
        assert_eq!(std::fs::read(&file).unwrap(), b"three");
        let private = nested.join("key");
        write_file(&private, b"k", PRIVATE_FILE_MODE, Existing::Refuse).unwrap();
        assert_eq!(mode(&private), 0o600);
    }
}
