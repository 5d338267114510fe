//! Fixtures shared by the verifier's hostile-input tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;

use passport_claims::{
    Assurance, IdentityAssertion, Level, ManualClock, PASSPORT_TYP, PassportClaims, ScopeSet,
};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssuedPassport, Issuer};
use passport_jose::{Algorithm, SigningKey, b64};
use passport_verifier::{
    InMemoryKeyStore, VerificationPolicy, VerifiedPassport, Verifier, VerifyError,
};
use serde_json::{Map, Value, json};

pub const ISS: &str = "https://issuer.local";
pub const AUD: &str = "https://tool.example";
pub const NOW: i64 = 1_700_000_000;
pub const ACR: &str = "http://idmanagement.gov/ns/assurance/ial/2";

pub struct Fixture {
    pub key: SigningKey,
    pub keys: Arc<InMemoryKeyStore>,
    pub clock: Arc<ManualClock>,
    pub issuer: Issuer,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_alg(Algorithm::EdDSA)
    }

    pub fn with_alg(alg: Algorithm) -> Fixture {
        let key = SigningKey::generate(alg).unwrap();
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(key.verifying_key());
        let clock = Arc::new(ManualClock::new(NOW));
        let issuer = Issuer::new(ISS, key.try_clone().unwrap()).with_clock(clock.clone());
        Fixture {
            key,
            keys,
            clock,
            issuer,
        }
    }

    pub fn policy(&self) -> VerificationPolicy {
        VerificationPolicy::new(ISS, AUD)
    }

    pub fn verifier(&self, policy: VerificationPolicy) -> Verifier {
        Verifier::with_key_store(policy, self.keys.clone())
            .unwrap()
            .with_clock(self.clock.clone())
    }

    pub fn verify(&self, bundle: &str) -> Result<VerifiedPassport, VerifyError> {
        self.verifier(self.policy()).verify_str(bundle)
    }

    pub fn verify_with(
        &self,
        policy: VerificationPolicy,
        bundle: &str,
    ) -> Result<VerifiedPassport, VerifyError> {
        self.verifier(policy).verify_str(bundle)
    }

    pub fn root(&self, scopes: &[&str]) -> IssuedPassport {
        let assertion = IdentityAssertion::new("https://idp.example", "alice")
            .with_acr(ACR, Assurance::uniform(Level::TWO));
        self.issuer
            .issue(IssuanceRequest::new(
                assertion,
                AUD,
                "agent-a",
                "model-a",
                ScopeSet::parse(scopes).unwrap(),
            ))
            .unwrap()
    }

    /// Delegates from the leaf of `parent_bundle` (verified first, as the API requires).
    pub fn delegate(&self, parent_bundle: &str, agent: &str, scopes: &[&str]) -> IssuedPassport {
        let parent = self.verify(parent_bundle).unwrap();
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

    /// root (agent-a) → child (agent-b) → grandchild (agent-c), narrowing.
    pub fn chain3(&self) -> [IssuedPassport; 3] {
        let root = self.root(&["files:*", "mail:send"]);
        let child = self.delegate(root.bundle(), "agent-b", &["files:*"]);
        let grandchild = self.delegate(child.bundle(), "agent-c", &["files:read"]);
        [root, child, grandchild]
    }

    /// Signs any claims as a typed passport with the trusted key.
    pub fn sign(&self, p: &PassportClaims) -> String {
        self.key
            .sign_compact(Some(PASSPORT_TYP), &p.to_json())
            .unwrap()
    }

    /// Signs an arbitrary header and payload with the trusted key.
    pub fn sign_raw(&self, header: &Value, payload: &[u8]) -> String {
        let header = header.as_object().unwrap().clone();
        self.key.sign_compact_with_header(&header, payload).unwrap()
    }

    /// The standard header for this fixture's key, with `changes` applied
    /// (a `null` value removes the member).
    pub fn header(&self, changes: Value) -> Value {
        let mut h = json!({"alg": self.key.algorithm().as_str(), "kid": self.key.kid(), "typ": PASSPORT_TYP});
        merge(&mut h, changes);
        h
    }

    /// A valid root's payload as JSON, with `changes` applied.
    pub fn payload(&self, changes: Value) -> Vec<u8> {
        let root = self.root(&["files:read"]);
        let mut p: Value = serde_json::from_slice(&root.claims().to_json()).unwrap();
        merge(&mut p, changes);
        serde_json::to_vec(&p).unwrap()
    }
}

pub fn merge(target: &mut Value, changes: Value) {
    let (Value::Object(t), Value::Object(c)) = (target, changes) else {
        panic!("objects only")
    };
    for (k, v) in c {
        if v.is_null() {
            t.remove(&k);
        } else {
            t.insert(k, v);
        }
    }
}

/// Builds a compact token from raw header and payload text and a signature.
pub fn compact(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64::encode(header),
        b64::encode(payload),
        b64::encode(sig)
    )
}

pub fn claims_of(token: &str) -> PassportClaims {
    let (_, rest) = token.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    PassportClaims::from_json(&b64::decode(payload).unwrap()).unwrap()
}

pub fn map(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}
