//! The data directory and the private files in it: trusted only when it is
//! this user's and nobody else can write to it; files written so that a
//! planted symbolic link is refused, never followed.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use crate::error::StoreError;

/// Creates `path` (mode `0700`, parents as needed) if it is missing, then
/// checks that it can be trusted: a directory owned by the effective user
/// and not writable by group or others. A directory another user could
/// write to could have keys, a database or symbolic links planted in it.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let data = dir.path().join("agent-passport");
/// passport_store::ensure_private_dir(&data)?;
/// # #[cfg(unix)] {
/// use std::os::unix::fs::PermissionsExt as _;
/// assert_eq!(std::fs::metadata(&data)?.permissions().mode() & 0o777, 0o700);
/// std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777))?;
/// let err = passport_store::ensure_private_dir(&data).unwrap_err();
/// assert_eq!(err.code(), "insecure_data_dir");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ensure_private_dir(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            builder.create(path).map_err(|e| StoreError::io(path, e))?;
        }
        Err(e) => return Err(StoreError::io(path, e)),
    }
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    let insecure = |reason: String| StoreError::InsecureDirectory {
        path: path.to_owned(),
        reason,
    };
    if !meta.is_dir() {
        return Err(insecure("not a directory".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(insecure(format!(
                "owned by uid {}, not by this user (uid {me})",
                meta.uid()
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(insecure(format!(
                "mode {mode:04o} lets group or others write to it (chmod 700 it)"
            )));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` with mode `0600`, atomically: a new temporary
/// file with a random name beside it, created exclusively (`O_CREAT |
/// O_EXCL`, which never follows a symbolic link), synced, then renamed over
/// `path`. A symbolic link at `path` is refused rather than replaced.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    refuse_symlink(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| StoreError::RandomUnavailable(e.to_string()))?;
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", u64::from_le_bytes(suffix)));
    let mut file = create_new_private(&tmp)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io(path, e));
    }
    Ok(())
}

/// Creates `path` exclusively with mode `0600`; anything already there (a
/// file, a symbolic link, even a dangling one) is refused.
pub(crate) fn create_new_private(path: &Path) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            StoreError::InsecurePath {
                path: path.to_owned(),
                reason: "something is already at this temporary path".into(),
            }
        } else {
            StoreError::io(path, e)
        }
    })
}

/// The metadata of a file this user may trust: `None` when it does not
/// exist; refused ([`StoreError::InsecurePath`]) when it is a symbolic link,
/// not a regular file, owned by another user, or readable or writable by
/// group or others. Check it before trusting what a file says (a cached key
/// set, for example).
pub fn private_file(path: &Path) -> Result<Option<std::fs::Metadata>, StoreError> {
    let insecure = |reason: String| StoreError::InsecurePath {
        path: path.to_owned(),
        reason,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(insecure("it is a symbolic link".into()));
    }
    if !meta.is_file() {
        return Err(insecure("it is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(insecure(format!(
                "owned by uid {}, not by this user (uid {me})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(insecure(format!(
                "readable or writable by others (mode {:04o})",
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(Some(meta))
}

/// Refuses a symbolic link at `path` (a missing path is fine): for a path
/// about to be replaced by a rename, which must not be an attacker's link.
pub fn refuse_symlink(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::InsecurePath {
            path: path.to_owned(),
            reason: "it is a symbolic link".into(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}
