//! The data directory (mode 0700, owned by this user and closed to others, or
//! refused): `--data-dir`, else `$AGENT_PASSPORT_HOME`, else
//! `$XDG_DATA_HOME/agent-passport/`, else the platform's local data directory
//! (`~/.local/share`, `~/Library/Application Support`, `%LOCALAPPDATA%`)
//! joined with `agent-passport`.
//!
//! | file | content | mode |
//! |---|---|---|
//! | `state.db` (+ `-wal`, `-shm`) | the local issuer's state (`passport-store`): key metadata, status records, revocations | 0600 |
//! | `keys/<kid>.jwk` | the private half of the current key (retired and revoked keys' files are deleted) | 0600 |
//! | `id_token.jwt` | the principal's validated ID token | 0600 |
//! | `session.json` | who it is for, and when it expires | 0600 |
//! | `audit.jsonl` | the audit trail | 0600 |
//! | `audit.jsonl.head` | each audit chain's head (replaced after every record) | 0600 |
//! | `jwks-cache/` | JWKS documents fetched by `verify --jwks URL` | 0700 (files 0600) |
//!
//! The JSON state of earlier versions (`issuer.jwk`, `issuer-keys.json`,
//! `status.json`) is imported into `state.db` the first time it is opened.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use passport_jose::{Algorithm, JoseError, JwkSet, SigningKey, VerifyingKey};
use passport_store::{KeyRecord, Store};
use serde_json::{Map, Value};

use crate::error::CliError;

const STATE_DB: &str = "state.db";
const KEYS_DIR: &str = "keys";
const ID_TOKEN: &str = "id_token.jwt";
const SESSION: &str = "session.json";
pub(crate) const JWKS_CACHE: &str = "jwks-cache";
/// The files of earlier versions, imported on first open.
const LEGACY_KEY: &str = "issuer.jwk";
const LEGACY_KEYRING: &str = "issuer-keys.json";
const LEGACY_STATUS: &str = "status.json";

/// A stored ID token and what we noted about it.
pub(crate) type Session = (String, Map<String, Value>);

/// Which rule chose the data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirSource {
    /// `--data-dir`.
    Flag,
    /// `AGENT_PASSPORT_HOME`.
    Home,
    /// `$XDG_DATA_HOME/agent-passport`.
    Xdg,
    /// The platform's local data directory.
    Platform,
}

impl DirSource {
    /// The rule, as `passport where` names it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            DirSource::Flag => "--data-dir",
            DirSource::Home => "AGENT_PASSPORT_HOME",
            DirSource::Xdg => "XDG_DATA_HOME",
            DirSource::Platform => "the platform's data directory",
        }
    }
}

pub(crate) struct DataDir {
    root: PathBuf,
    source: DirSource,
    store: RefCell<Option<Arc<Store>>>,
}

impl DataDir {
    /// `given` (from `--data-dir` or `AGENT_PASSPORT_HOME`, as clap found
    /// it), else `$XDG_DATA_HOME/agent-passport`, else the platform's local
    /// data directory joined with `agent-passport`.
    pub(crate) fn locate(given: Option<(PathBuf, DirSource)>) -> Result<DataDir, CliError> {
        let (root, source) = match given.filter(|(dir, _)| !dir.as_os_str().is_empty()) {
            Some(given) => given,
            None => match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
                Some(dir) => (PathBuf::from(dir).join("agent-passport"), DirSource::Xdg),
                None => {
                    // Looks up the home directory in the user database when
                    // HOME is not set, and uses the Known Folder API on Windows.
                    let base = directories::BaseDirs::new().ok_or_else(|| {
                        CliError::usage(
                            "config",
                            "cannot find a data directory: no home directory is known for this user",
                        )
                        .hint("pass --data-dir DIR or set AGENT_PASSPORT_HOME")
                    })?;
                    (
                        base.data_local_dir().join("agent-passport"),
                        DirSource::Platform,
                    )
                }
            },
        };
        Ok(DataDir {
            root,
            source,
            store: RefCell::new(None),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The rule that chose [`DataDir::root`].
    pub(crate) fn source(&self) -> DirSource {
        self.source
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates the directory (0700) if needed and checks it can be trusted:
    /// owned by this user, not writable by group or others.
    pub(crate) fn ensure(&self) -> Result<(), CliError> {
        passport_store::ensure_private_dir(&self.root)?;
        std::fs::read_dir(&self.root)
            .map_err(|e| CliError::io("cannot read the data directory", &self.root, &e))?;
        Ok(())
    }

    /// Reads a file of the data directory; `None` if it does not exist.
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, CliError> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::io("cannot read", &path, &e)),
        }
    }

    /// Writes a file atomically with mode 0600 (exclusive temp file, fsync,
    /// rename; a symbolic link at the target is refused).
    pub(crate) fn write_secret(&self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        self.ensure()?;
        write_private(&self.path(name), bytes)
    }

    // ---- the local issuer's state ----

    /// The local issuer's store (`state.db`), opened once per process; the
    /// JSON state of earlier versions is imported on first open.
    pub(crate) fn store(&self, now: i64) -> Result<Arc<Store>, CliError> {
        if let Some(store) = self.store.borrow().as_ref() {
            return Ok(store.clone());
        }
        self.ensure()?;
        let store = Arc::new(Store::open(self.path(STATE_DB))?);
        self.import_legacy(&store, now)?;
        *self.store.borrow_mut() = Some(store.clone());
        Ok(store)
    }

    fn import_legacy(&self, store: &Store, now: i64) -> Result<(), CliError> {
        let legacy_key = self.path(LEGACY_KEY);
        let current = match SigningKey::load(&legacy_key) {
            Ok(key) => {
                self.save_key(&key)?;
                Some(key.kid().to_owned())
            }
            // None, or another process importing at the same time took it.
            Err(JoseError::KeyFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        };
        let keyring = self.path(LEGACY_KEYRING);
        let status = self.path(LEGACY_STATUS);
        if keyring.exists() || status.exists() {
            store.import_legacy(&keyring, &status, current.as_deref(), now)?;
        }
        if let Some(kid) = current {
            if store.key(&kid)?.is_none() {
                let key = SigningKey::load(&self.key_path(&kid)?)?;
                store.add_current_key(&key, now)?;
            }
            match std::fs::remove_file(&legacy_key) {
                // Another process importing at the same time removed it.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CliError::io("cannot remove", &legacy_key, &e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The private key file of `kid`: `keys/<kid>.jwk`.
    pub(crate) fn key_path(&self, kid: &str) -> Result<PathBuf, CliError> {
        // A kid is a thumbprint (base64url); anything else never names a file.
        if kid.is_empty()
            || kid.len() > 128
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(CliError::usage(
                "invalid_request",
                format!("{:?} is not a key id", passport_jose::clip(kid, 64)),
            ));
        }
        Ok(self.root.join(KEYS_DIR).join(format!("{kid}.jwk")))
    }

    fn save_key(&self, key: &SigningKey) -> Result<(), CliError> {
        let dir = self.root.join(KEYS_DIR);
        passport_store::ensure_private_dir(&dir)?;
        let path = self.key_path(key.kid())?;
        passport_store::refuse_symlink(&path)?;
        key.save(&path)?;
        Ok(())
    }

    /// Deletes the private half of a key that will never sign again.
    pub(crate) fn destroy_key(&self, kid: &str) -> Result<(), CliError> {
        let path = self.key_path(kid)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CliError::io("cannot remove", &path, &e)),
        }
    }

    /// The private half of `kid` (mode 0600 or refused), from a `keys/`
    /// directory that is this user's and closed to others.
    pub(crate) fn signing_key(&self, kid: &str) -> Result<SigningKey, CliError> {
        passport_store::ensure_private_dir(&self.root.join(KEYS_DIR))?;
        Ok(SigningKey::load(&self.key_path(kid)?)?)
    }

    /// The current key's record, a new (EdDSA) key made current when there
    /// is none.
    pub(crate) fn current_key(&self, now: i64) -> Result<KeyRecord, CliError> {
        let store = self.store(now)?;
        if let Some(current) = store.current_key()? {
            return Ok(current);
        }
        let key = SigningKey::generate(Algorithm::EdDSA)?;
        self.save_key(&key)?;
        let current = store.add_current_key(&key, now)?;
        if current.kid != key.kid() {
            // Another process made its key current first.
            self.destroy_key(key.kid())?;
        }
        Ok(current)
    }

    /// Makes a new current key and retires the old one, in one transaction;
    /// the old private key is deleted (it never signs again) while its
    /// public half stays published until every passport it signed expired.
    /// Returns the new key's `kid` (by the time the caller looks, a
    /// concurrent rotation may already have retired it) and the retired key.
    pub(crate) fn rotate(&self, now: i64) -> Result<(String, Option<KeyRecord>), CliError> {
        let current = self.current_key(now)?;
        let alg = Algorithm::parse(&current.alg)?;
        let new = SigningKey::generate(alg)?;
        self.save_key(&new)?;
        let old = match self.store(now)?.rotate(&new, now) {
            Ok(old) => old,
            Err(e) => {
                self.destroy_key(new.kid())?;
                return Err(e.into());
            }
        };
        if let Some(old) = &old {
            self.destroy_key(&old.kid)?;
        }
        Ok((new.kid().to_owned(), old))
    }

    /// The keys verifiers need now: current and retained retired keys, each
    /// retired one with its retirement time.
    pub(crate) fn jwks(&self, now: i64) -> Result<JwkSet, CliError> {
        let mut set = JwkSet::new();
        for key in self.store(now)?.published_keys(now)? {
            set.insert(VerifyingKey::from_jwk_map(key.published_jwk())?)?;
        }
        Ok(set)
    }

    // ---- the principal's session ----

    /// Stores a login: its ID token and its session, two files written one
    /// after the other. When the second cannot be written, the first is put
    /// back as it was (or removed, when there was none, or when putting it
    /// back fails too), so a token is never left beside another login's
    /// session: `whoami` would name one principal and `issue` mint for the
    /// other. The session records the SHA-256 of its token
    /// ([`TOKEN_HASH`]), so a pair mixed some other way (a crash between
    /// the two writes, two logins at once) is refused by
    /// [`DataDir::session`], not used.
    pub(crate) fn save_session(&self, id_token: &str, session: &Value) -> Result<(), CliError> {
        let mut session = session.clone();
        if let Some(fields) = session.as_object_mut() {
            fields.insert(TOKEN_HASH.to_owned(), Value::String(token_hash(id_token)));
        }
        let before = self.read(ID_TOKEN)?;
        self.write_secret(ID_TOKEN, id_token.as_bytes())?;
        let written = self.write_secret(SESSION, format!("{session:#}\n").as_bytes());
        if written.is_err() {
            let restored = before
                .as_deref()
                .is_some_and(|token| self.write_secret(ID_TOKEN, token).is_ok());
            if !restored {
                // no token is no login at all: never a mixed pair
                let _ = std::fs::remove_file(self.path(ID_TOKEN));
            }
        }
        written
    }

    /// Forgets the stored login; `false` when there was none.
    pub(crate) fn forget_session(&self) -> Result<bool, CliError> {
        let mut found = false;
        // The token first: a session without its token is no login at all.
        for name in [ID_TOKEN, SESSION] {
            let path = self.path(name);
            match std::fs::remove_file(&path) {
                Ok(()) => found = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(CliError::io("cannot remove", &path, &e)
                        .hint("check the data directory's permissions (`passport where`)"));
                }
            }
        }
        Ok(found)
    }

    pub(crate) fn session(&self) -> Result<Option<Session>, CliError> {
        let (Some(token), Some(meta)) = (self.read(ID_TOKEN)?, self.read(SESSION)?) else {
            return Ok(None);
        };
        let relogin = "run `passport logout`, then `passport login`";
        let token = String::from_utf8(token).map_err(|_| {
            CliError::usage("corrupt_session", "the stored ID token is not UTF-8").hint(relogin)
        })?;
        let mut meta = passport_jose::json::parse_object(&meta, "session").map_err(|e| {
            CliError::usage("corrupt_session", format!("session.json: {e}")).hint(relogin)
        })?;
        let token = token.trim().to_owned();
        // a session.json written before the hash was recorded is read as
        // before
        match meta.remove(TOKEN_HASH) {
            None => {}
            Some(Value::String(hash)) if hash == token_hash(&token) => {}
            Some(_) => {
                return Err(CliError::usage(
                    "corrupt_session",
                    "the stored ID token is not the one session.json was written with (a login interrupted or run twice at once)",
                )
                .hint(relogin));
            }
        }
        Ok(Some((token, meta)))
    }

    /// Every file with its mode, for `passport where`.
    pub(crate) fn listing(&self) -> Result<Vec<(PathBuf, u32, u64)>, CliError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries =
                std::fs::read_dir(&dir).map_err(|e| CliError::io("cannot read", &dir, &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| CliError::io("cannot read", &dir, &e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| CliError::io("cannot stat", &entry.path(), &e))?;
                if meta.is_dir() {
                    stack.push(entry.path());
                }
                out.push((entry.path(), mode_of(&meta), meta.len()));
            }
        }
        out.sort();
        Ok(out)
    }
}

pub(crate) fn mode_of(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically, through an
/// exclusively created temporary file; a symbolic link at `path` is refused.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    Ok(passport_store::write_private(path, bytes)?)
}

/// The field of `session.json` holding the SHA-256 (base64url) of the ID
/// token it was written with.
const TOKEN_HASH: &str = "id_token_sha256";

/// The SHA-256 (base64url) of an ID token, as stored (trimmed).
fn token_hash(id_token: &str) -> String {
    passport_jose::sha256_b64url(id_token.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review S14 re-review: the two files of a login can still be mixed
    /// (a crash between the writes, two `passport login`s at once). The
    /// session names its token's hash: a mixed pair is refused, asking
    /// for a new login; a session.json without the hash (an older
    /// version's) is read as before.
    #[test]
    fn a_session_beside_another_logins_token_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::locate(Some((tmp.path().join("data"), DirSource::Flag))).unwrap();
        dir.save_session("token-of-alice", &serde_json::json!({"sub": "alice"}))
            .unwrap();
        let (token, session) = dir.session().unwrap().unwrap();
        assert_eq!(
            (token.as_str(), &session["sub"]),
            ("token-of-alice", &serde_json::json!("alice"))
        );
        assert!(!session.contains_key(TOKEN_HASH));

        // bob's token written, alice's session left: a crash, or a second
        // login between the two writes
        dir.write_secret(ID_TOKEN, b"token-of-bob").unwrap();
        let err = dir.session().unwrap_err();
        assert_eq!(err.code, "corrupt_session", "{}", err.message);
        assert!(
            err.message
                .contains("not the one session.json was written with")
        );

        // an older version's session.json: no hash, read as before
        dir.write_secret(SESSION, b"{\"sub\": \"bob\"}\n").unwrap();
        let (token, session) = dir.session().unwrap().unwrap();
        assert_eq!(
            (token.as_str(), &session["sub"]),
            ("token-of-bob", &serde_json::json!("bob"))
        );
    }

    /// Review S14: a login whose session cannot be written (here
    /// session.json is a symbolic link, which writes refuse) leaves the
    /// previous login whole, or no token when there was none: never its
    /// token beside another login's session.
    #[cfg(unix)]
    #[test]
    fn a_login_whose_session_cannot_be_written_never_leaves_a_mixed_pair() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::locate(Some((tmp.path().join("data"), DirSource::Flag))).unwrap();
        let alice = serde_json::json!({"sub": "alice"});
        dir.save_session("token-of-alice", &alice).unwrap();
        // alice's session, still readable, but no longer replaceable
        let kept = tmp.path().join("alice-session.json");
        std::fs::rename(dir.path(SESSION), &kept).unwrap();
        std::os::unix::fs::symlink(&kept, dir.path(SESSION)).unwrap();

        let bob = serde_json::json!({"sub": "bob"});
        assert!(dir.save_session("token-of-bob", &bob).is_err());
        let (token, session) = dir.session().unwrap().unwrap();
        assert_eq!(
            (token.as_str(), &session["sub"]),
            ("token-of-alice", &alice["sub"])
        );

        // no earlier login: no token is left at all
        let fresh = DataDir::locate(Some((tmp.path().join("fresh"), DirSource::Flag))).unwrap();
        fresh.ensure().unwrap();
        std::os::unix::fs::symlink(&kept, fresh.path(SESSION)).unwrap();
        assert!(fresh.save_session("token-of-bob", &bob).is_err());
        assert!(!fresh.path(ID_TOKEN).exists());
        assert!(fresh.session().unwrap().is_none());
    }
}
