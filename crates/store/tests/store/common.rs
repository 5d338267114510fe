//! Helpers shared by the store's tests.

use std::sync::Arc;

use passport_claims::{AgentClaims, PassportClaims, ScopeSet, StatusReference};
use passport_jose::{Algorithm, SigningKey};
use passport_store::{Signed, Store};

pub(crate) const URI: &str = "https://issuer.local/status/1";
pub(crate) const NOW: i64 = 1_700_000_000;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn passport(jti: &str, exp: i64, status: Option<StatusReference>) -> PassportClaims {
    let mut p = PassportClaims::new(
        "https://issuer.local",
        "alice",
        "https://tool.example",
        jti,
        NOW,
        exp,
        AgentClaims {
            agent_id: "bot".into(),
            agent_model: "m".into(),
            tool_scope: ScopeSet::empty(),
            task_purpose: None,
            parent_jti: None,
        },
    );
    p.status = status;
    p
}

/// A store in a fresh directory, with a current key.
pub(crate) fn store() -> (tempfile::TempDir, Arc<Store>, SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("state.db")).unwrap());
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    store.add_current_key(&key, NOW).unwrap();
    (dir, store, key)
}

/// "Signs" the passport `jti` expiring at `exp` the way an issuer does:
/// allocates its status index through the reserved allocator.
pub(crate) fn allocate(store: &Store, jti: &str, exp: i64) -> Result<(String, u64), BoxError> {
    store.sign_with_current_key(NOW, Some(URI), |key, allocator| {
        let reference = allocator
            .expect("an allocator for a status URI")
            .allocate(&passport(jti, exp, None))?;
        Ok::<_, BoxError>(Signed {
            value: (key.kid.clone(), reference.idx()),
            iat: NOW,
            exp,
        })
    })
}
