//! The data directory is trusted only when it is this user's and closed to
//! others; files are never written through a planted symbolic link.

use std::os::unix::fs::PermissionsExt as _;

use passport_store::{Store, ensure_private_dir, write_private};

#[test]
fn a_group_or_world_writable_directory_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("agent-passport");
    ensure_private_dir(&dir).unwrap();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for mode in [0o770, 0o707, 0o722] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert_eq!(err.code(), "insecure_data_dir", "mode {mode:o}");
    }
    // Readable by others is not a takeover; only writable is refused.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    ensure_private_dir(&dir).unwrap();
}

#[test]
fn a_directory_owned_by_another_user_is_refused() {
    // Only root can make a directory someone else's; elsewhere "/" (owned by
    // root) stands in for another user's directory.
    let err = if effective_uid() == 0 {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("theirs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        ensure_private_dir(&dir).unwrap_err()
    } else {
        ensure_private_dir(std::path::Path::new("/")).unwrap_err()
    };
    assert_eq!(err.code(), "insecure_data_dir");
    assert!(err.to_string().contains("owned by uid"), "{err}");
}

fn effective_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    // The owner of a file this process creates is its effective uid.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(f.path()).unwrap().uid()
}

#[test]
fn a_symlink_at_the_target_is_refused_and_not_followed() {
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let target = base.path().join("session.json");
    std::os::unix::fs::symlink(&victim, &target).unwrap();
    let err = write_private(&target, b"attacker").unwrap_err();
    assert_eq!(err.code(), "insecure_path");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // The database file too.
    let db = base.path().join("state.db");
    std::os::unix::fs::symlink(&victim, &db).unwrap();
    assert_eq!(Store::open(&db).unwrap_err().code(), "insecure_path");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn temporary_files_are_created_exclusively_and_private() {
    let base = tempfile::tempdir().unwrap();
    let target = base.path().join("session.json");
    write_private(&target, b"one").unwrap();
    write_private(&target, b"two").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"two");
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn a_symlink_planted_at_a_predictable_temporary_path_is_refused() {
    // `SigningKey::save` (the CLI's key files) names its temporary file
    // after the process id, which another user could guess: it is created
    // exclusively, so a link planted there fails the save instead of
    // redirecting the private key.
    use passport_jose::{Algorithm, SigningKey};
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let path = base.path().join(format!("{}.jwk", key.kid()));
    let tmp = base
        .path()
        .join(format!(".{}.jwk.{}.tmp", key.kid(), std::process::id()));
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    assert!(key.save(&path).is_err());
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(!path.exists());
}
