//! Fixtures shared by this crate's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;
use std::sync::Arc;

use passport_claims::{IdentityAssertion, ManualClock, PASSPORT_TYP, PassportClaims, ScopeSet};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssuedPassport, Issuer};
use passport_jose::{Algorithm, SigningKey, b64};
use passport_status::{IndexAllocator, StatusList, StatusListToken};
use passport_verifier::{InMemoryKeyStore, KeyStore, StatusSource, VerificationPolicy, Verifier};
use serde_json::{Value, json};

pub const ISS: &str = "https://issuer.local";
pub const AUD: &str = "https://tool.example";
pub const URI: &str = "https://issuer.local/status/1";
pub const NOW: i64 = 1_700_000_000;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: SigningKey,
    pub keys: Arc<InMemoryKeyStore>,
    pub clock: Arc<ManualClock>,
    pub allocator: Arc<IndexAllocator>,
    pub issuer: Issuer,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_uri(URI)
    }

    pub fn with_uri(uri: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(key.verifying_key());
        let clock = Arc::new(ManualClock::new(NOW));
        let allocator = Arc::new(
            IndexAllocator::open(dir.path().join("status.json"), uri)
                .unwrap()
                .with_clock(clock.clone()),
        );
        let issuer = Issuer::new(ISS, key.try_clone().unwrap())
            .with_clock(clock.clone())
            .with_status(allocator.clone());
        Fixture {
            dir,
            key,
            keys,
            clock,
            allocator,
            issuer,
        }
    }

    pub fn key_store(&self) -> Arc<dyn KeyStore> {
        self.keys.clone()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A verifier with no status source.
    pub fn plain_verifier(&self) -> Verifier {
        Verifier::with_key_store(VerificationPolicy::new(ISS, AUD), self.keys.clone())
            .unwrap()
            .with_clock(self.clock.clone())
    }

    pub fn verifier(&self, source: Arc<dyn StatusSource>) -> Verifier {
        self.plain_verifier().with_status_source(source)
    }

    pub fn root(&self) -> IssuedPassport {
        self.issuer
            .issue(IssuanceRequest::new(
                IdentityAssertion::new("https://idp.example", "alice"),
                AUD,
                "agent-a",
                "model-a",
                ScopeSet::parse(["files:*", "mail:send"]).unwrap(),
            ))
            .unwrap()
    }

    pub fn delegate(
        &self,
        parent: &IssuedPassport,
        agent: &str,
        scopes: &[&str],
    ) -> IssuedPassport {
        let parent = self.plain_verifier().verify_str(parent.bundle()).unwrap();
        self.issuer
            .delegate(DelegationRequest::new(
                &parent,
                AUD,
                agent,
                "model-b",
                ScopeSet::parse(scopes).unwrap(),
            ))
            .unwrap()
    }

    /// root (agent-a) → child (agent-b) → grandchild (agent-c).
    pub fn chain3(&self) -> [IssuedPassport; 3] {
        let root = self.root();
        let child = self.delegate(&root, "agent-b", &["files:*"]);
        let grandchild = self.delegate(&child, "agent-c", &["files:read"]);
        [root, child, grandchild]
    }

    /// The allocator's current list, signed now, valid an hour, ttl 60 s.
    pub fn publish(&self) -> String {
        self.allocator
            .publish(&self.key, self.clock_now(), 60, 3600)
            .unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use passport_claims::Clock as _;
        self.clock.now()
    }

    /// Signs a list token with the fixture's key.
    pub fn sign_list(&self, uri: &str, list: &StatusList, iat: i64, exp: i64, ttl: u64) -> String {
        StatusListToken::sign(&self.key, uri, list, iat, exp, ttl).unwrap()
    }

    /// Signs arbitrary list claims under a header (with `alg`, `kid` of the key).
    pub fn sign_raw(&self, header: Value, claims: Value) -> String {
        let mut h = json!({"alg": self.key.algorithm().as_str(), "kid": self.key.kid()});
        for (k, v) in header.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        self.key
            .sign_compact_with_header(
                h.as_object().unwrap(),
                &serde_json::to_vec(&claims).unwrap(),
            )
            .unwrap()
    }

    /// Signs a passport with arbitrary claims (typed passport header).
    pub fn sign_passport(&self, p: &PassportClaims) -> String {
        self.key
            .sign_compact(Some(PASSPORT_TYP), &p.to_json())
            .unwrap()
    }
}

/// Standard list claims with `changes` merged (a `null` value removes).
pub fn list_claims(uri: &str, lst: &str, bits: u64, changes: Value) -> Value {
    let mut c = json!({
        "sub": uri, "iat": NOW, "exp": NOW + 3600, "ttl": 300,
        "status_list": {"bits": bits, "lst": lst},
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// `lst` of raw bytes compressed with ZLIB.
pub fn zlib_lst(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    b64::encode(e.finish().unwrap())
}

/// The claims of a compact token, unverified.
pub fn claims_of(token: &str) -> PassportClaims {
    let payload = token.split('.').nth(1).unwrap();
    PassportClaims::from_json(&b64::decode(payload).unwrap()).unwrap()
}
