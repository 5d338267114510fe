//! The data directory: `$XDG_DATA_HOME/agent-passport/` (mode 0700).
//!
//! | file | content | mode |
//! |---|---|---|
//! | `issuer.jwk` | the local issuer's current private key | 0600 |
//! | `issuer-keys.json` | every public key still needed: the current one and retired ones until every passport they signed has expired | 0600 |
//! | `id_token.jwt` | the principal's validated ID token | 0600 |
//! | `session.json` | who it is for, and when it expires | 0600 |
//! | `jwks-cache/` | JWKS documents fetched by `verify --jwks URL` | 0700 (files 0600) |

use std::io::Write as _;
use std::path::{Path, PathBuf};

use passport_jose::{Algorithm, JwkSet, SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};

use crate::error::CliError;

const ISSUER_KEY: &str = "issuer.jwk";
const KEYRING: &str = "issuer-keys.json";
const ID_TOKEN: &str = "id_token.jwt";
const SESSION: &str = "session.json";
pub(crate) const JWKS_CACHE: &str = "jwks-cache";

/// How long after its last passport's expiry a retired key stays published:
/// the largest clock skew a verifier may allow.
const RETENTION_SKEW: i64 = 120;

/// A stored ID token and what we noted about it.
pub(crate) type Session = (String, Map<String, Value>);

pub(crate) struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// `$XDG_DATA_HOME/agent-passport`, or `~/.local/share/agent-passport`.
    pub(crate) fn locate() -> Result<DataDir, CliError> {
        let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".local").join("share"),
                None => {
                    return Err(CliError::usage(
                        "config",
                        "neither XDG_DATA_HOME nor HOME is set",
                    ));
                }
            },
        };
        Ok(DataDir {
            root: base.join("agent-passport"),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates the directory (0700) if needed and checks it can be used.
    pub(crate) fn ensure(&self) -> Result<(), CliError> {
        if !self.root.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            builder
                .create(&self.root)
                .map_err(|e| CliError::io("cannot create the data directory", &self.root, &e))?;
        }
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

    /// Writes a file atomically with mode 0600 (temp file, fsync, rename).
    pub(crate) fn write_secret(&self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        self.ensure()?;
        write_private(&self.path(name), bytes)
    }

    // ---- the local issuer's keys ----

    /// The current signing key, created (EdDSA) on first use.
    pub(crate) fn issuer_key(&self, now: i64) -> Result<SigningKey, CliError> {
        self.ensure()?;
        let path = self.path(ISSUER_KEY);
        if path.exists() {
            let key = SigningKey::load(&path)?;
            let mut ring = self.keyring()?;
            if !ring.iter().any(|k| k.kid == key.kid()) {
                ring.push(KeyEntry::new(&key, now));
                self.save_keyring(&ring)?;
            }
            return Ok(key);
        }
        let key = SigningKey::generate(Algorithm::EdDSA)?;
        key.save(&path)?;
        let mut ring = self.keyring()?;
        ring.push(KeyEntry::new(&key, now));
        self.save_keyring(&ring)?;
        Ok(key)
    }

    /// Records that `kid` signed a passport expiring at `exp`, so the key
    /// stays published until then after a rotation.
    pub(crate) fn record_issued(&self, kid: &str, exp: i64) -> Result<(), CliError> {
        let mut ring = self.keyring()?;
        if let Some(entry) = ring.iter_mut().find(|k| k.kid == kid) {
            entry.max_exp = entry.max_exp.max(exp);
            self.save_keyring(&ring)?;
        }
        Ok(())
    }

    /// Makes a new current key; the old one's public half stays in the JWKS
    /// until every passport it signed has expired.
    pub(crate) fn rotate(&self, now: i64) -> Result<(SigningKey, Option<String>), CliError> {
        self.ensure()?;
        let old = self.issuer_key(now)?;
        let new = SigningKey::generate(old.algorithm())?;
        let mut ring = self.keyring()?;
        if let Some(entry) = ring.iter_mut().find(|k| k.kid == old.kid()) {
            entry.retired = Some(now);
        }
        ring.push(KeyEntry::new(&new, now));
        ring.retain(|k| k.is_published(now));
        // The keyring first: if saving the new private key fails, the old one
        // is still current and its entry merely marked retired.
        self.save_keyring(&ring)?;
        new.save(&self.path(ISSUER_KEY))?;
        Ok((new, Some(old.kid().to_owned())))
    }

    /// The keys verifiers need now: current and retained retired keys.
    pub(crate) fn jwks(&self, now: i64) -> Result<JwkSet, CliError> {
        let mut set = JwkSet::new();
        for entry in self.keyring()?.into_iter().filter(|k| k.is_published(now)) {
            let key = VerifyingKey::from_jwk_map(entry.public)?;
            set.insert(key)?;
        }
        Ok(set)
    }

    pub(crate) fn keyring(&self) -> Result<Vec<KeyEntry>, CliError> {
        let Some(bytes) = self.read(KEYRING)? else {
            return Ok(Vec::new());
        };
        let doc = passport_jose::json::parse_object(&bytes, "keyring").map_err(|e| {
            CliError::usage(
                "corrupt_keyring",
                format!("{}: {e}", self.path(KEYRING).display()),
            )
        })?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        keys.into_iter()
            .map(|k| {
                KeyEntry::from_json(k).ok_or_else(|| {
                    CliError::usage(
                        "corrupt_keyring",
                        format!("{} has a malformed entry", self.path(KEYRING).display()),
                    )
                })
            })
            .collect()
    }

    fn save_keyring(&self, ring: &[KeyEntry]) -> Result<(), CliError> {
        let doc = json!({ "keys": ring.iter().map(KeyEntry::to_json).collect::<Vec<_>>() });
        self.write_secret(KEYRING, format!("{doc:#}\n").as_bytes())
    }

    // ---- the principal's session ----

    pub(crate) fn save_session(&self, id_token: &str, session: &Value) -> Result<(), CliError> {
        self.write_secret(ID_TOKEN, id_token.as_bytes())?;
        self.write_secret(SESSION, format!("{session:#}\n").as_bytes())
    }

    pub(crate) fn session(&self) -> Result<Option<Session>, CliError> {
        let (Some(token), Some(meta)) = (self.read(ID_TOKEN)?, self.read(SESSION)?) else {
            return Ok(None);
        };
        let token = String::from_utf8(token)
            .map_err(|_| CliError::usage("corrupt_session", "the stored ID token is not UTF-8"))?;
        let meta = passport_jose::json::parse_object(&meta, "session")
            .map_err(|e| CliError::usage("corrupt_session", format!("session.json: {e}")))?;
        Ok(Some((token.trim().to_owned(), meta)))
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

/// Writes `bytes` to `path` with mode 0600, atomically.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::io("cannot write", path, &e));
    }
    Ok(())
}

/// One key of the local issuer's key ring.
#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) public: Map<String, Value>,
    pub(crate) created: i64,
    pub(crate) retired: Option<i64>,
    /// The latest `exp` of any passport this key signed.
    pub(crate) max_exp: i64,
}

impl KeyEntry {
    fn new(key: &SigningKey, now: i64) -> KeyEntry {
        KeyEntry {
            kid: key.kid().to_owned(),
            alg: key.algorithm().to_string(),
            public: key.public_jwk().clone(),
            created: now,
            retired: None,
            max_exp: 0,
        }
    }

    /// Published while current, or while a passport it signed may still be
    /// accepted somewhere (its expiry plus the largest allowed skew).
    pub(crate) fn is_published(&self, now: i64) -> bool {
        self.retired.is_none() || self.max_exp.saturating_add(RETENTION_SKEW) >= now
    }

    pub(crate) fn retained_until(&self) -> i64 {
        self.max_exp.saturating_add(RETENTION_SKEW)
    }

    fn to_json(&self) -> Value {
        json!({
            "kid": self.kid, "alg": self.alg, "public": self.public,
            "created": self.created, "retired": self.retired, "max_exp": self.max_exp,
        })
    }

    fn from_json(v: Value) -> Option<KeyEntry> {
        Some(KeyEntry {
            kid: v.get("kid")?.as_str()?.to_owned(),
            alg: v.get("alg")?.as_str()?.to_owned(),
            public: v.get("public")?.as_object()?.clone(),
            created: v.get("created")?.as_i64()?,
            retired: match v.get("retired") {
                None | Some(Value::Null) => None,
                Some(t) => Some(t.as_i64()?),
            },
            max_exp: v.get("max_exp")?.as_i64()?,
        })
    }
}
