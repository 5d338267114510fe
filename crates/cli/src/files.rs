//! Reading the files an operator names, and the private directories of the
//! data directory.
//!
//! Every file named on the command line or found in the working directory is
//! read through [`read_capped`]: a JWKS, a holder key or a `.env` file the
//! size of a disk (or `/dev/zero`) is refused with `file_too_large` instead
//! of exhausting memory.

use std::io::Read as _;
use std::path::Path;

use crate::error::CliError;

/// The largest JWKS read from a file or fetched by URL (1 MiB).
pub(crate) const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The largest single JWK file (`--holder-key`), 64 KiB.
pub(crate) const MAX_JWK_BYTES: usize = 64 * 1024;
/// The largest ID token read from a file or stdin, 64 KiB.
pub(crate) const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;
/// The largest `.env` file, 64 KiB.
pub(crate) const MAX_DOTENV_BYTES: usize = 64 * 1024;
/// The largest audit log read with `passport audit --file`, 64 MiB.
pub(crate) const MAX_AUDIT_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Reads `path` whole, refusing it (`file_too_large`, naming the file and
/// the cap) when it holds more than `max` bytes; `what` names the file's role
/// in the messages (`--jwks`, `.env`). Only `max + 1` bytes are ever read.
pub(crate) fn read_capped(path: &Path, max: usize, what: &str) -> Result<Vec<u8>, CliError> {
    read_capped_or(path, max, what, |e| {
        CliError::io(&format!("cannot read {what}"), path, &e)
    })
}

/// [`read_capped`], with `on_io` making the error for a file that cannot be
/// opened or read (so a command keeps the code it always gave).
pub(crate) fn read_capped_or(
    path: &Path,
    max: usize,
    what: &str,
    on_io: impl Fn(std::io::Error) -> CliError,
) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path).map_err(&on_io)?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(&on_io)?;
    if bytes.len() > max {
        return Err(CliError::usage(
            "file_too_large",
            format!(
                "{what} {} is larger than the limit of {max} bytes",
                path.display()
            ),
        )
        .hint("check that the right file was named"));
    }
    Ok(bytes)
}

/// Makes `path` a directory only its owner can use (mode 0700): created so,
/// or tightened when an earlier version left it open. A symbolic link or a
/// file in its place is an error (the caller then does without it).
pub(crate) fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    match builder.create(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_cap_is_refused_naming_file_and_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; 101]).unwrap();
        let err = read_capped(&path, 100, "--jwks").unwrap_err();
        assert_eq!((err.exit, err.code), (2, "file_too_large"));
        assert!(err.message.contains("big.json"), "{}", err.message);
        assert!(err.message.contains("100 bytes"), "{}", err.message);
        assert_eq!(read_capped(&path, 101, "--jwks").unwrap().len(), 101);
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_refused_without_reading_it_all() {
        let err = read_capped(Path::new("/dev/zero"), 1024, "--holder-key").unwrap_err();
        assert_eq!(err.code, "file_too_large");
    }

    #[cfg(unix)]
    #[test]
    fn private_dirs_are_created_0700_and_tightened() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.path().join("fresh");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(private_dir(&link).is_err());
    }
}
