//! Rules of the crate docs' table that no other test file proves.
//! Self-contained: no shared test kit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ManualClock, ScopeSet};
use passport_issuer::{DelegationRequest, IssuanceRequest, Issuer};
use passport_jose::{Algorithm, SigningKey};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier, VerifyError};

const ISS: &str = "https://issuer.local";
const ORCHESTRATOR: &str = "https://orchestrator.example";
const TOOL: &str = "https://tool.example";
const NOW: i64 = 1_700_000_000;

fn verifier(keys: &Arc<InMemoryKeyStore>, clock: &Arc<ManualClock>, audience: &str) -> Verifier {
    Verifier::with_key_store(VerificationPolicy::new(ISS, audience), keys.clone())
        .unwrap()
        .with_clock(clock.clone())
}

/// SPEC §5 item 5: `aud` is the leaf's business. A root minted for an
/// orchestrator, delegated to a tool, verifies at the tool; the same bundle
/// is refused at the orchestrator, and so is the orchestrator's own root at
/// the tool.
#[test]
fn audience_is_the_leafs_and_an_ancestors_names_whom_it_delegated_to() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let keys = Arc::new(InMemoryKeyStore::new());
    keys.insert(key.verifying_key());
    let clock = Arc::new(ManualClock::new(NOW));
    let issuer = Issuer::new(ISS, key).with_clock(clock.clone());
    let root = issuer
        .issue(IssuanceRequest::new(
            IdentityAssertion::new("https://idp.example", "alice"),
            Audience::new(ORCHESTRATOR).unwrap(),
            AgentId::new("agent-a").unwrap(),
            AgentModel::new("model-a").unwrap(),
            ScopeSet::parse(["files:*"]).unwrap(),
        ))
        .unwrap();
    let at_orchestrator = verifier(&keys, &clock, ORCHESTRATOR);
    let parent = at_orchestrator.verify_str(root.bundle()).unwrap();
    let child = issuer
        .delegate(DelegationRequest::new(
            &parent,
            Audience::new(TOOL).unwrap(),
            AgentId::new("agent-b").unwrap(),
            AgentModel::new("model-b").unwrap(),
            ScopeSet::parse(["files:read"]).unwrap(),
        ))
        .unwrap();

    let at_tool = verifier(&keys, &clock, TOOL);
    let verified = at_tool.verify_str(child.bundle()).unwrap();
    assert_eq!(verified.root().aud, ORCHESTRATOR);

    let err = at_orchestrator.verify_str(child.bundle()).unwrap_err();
    assert_eq!(err.code(), "audience_mismatch");
    assert_eq!(err.link(), 0);
    assert!(matches!(
        err,
        VerifyError::AudienceMismatch { expected, found } if expected == ORCHESTRATOR && found == TOOL
    ));

    let err = at_tool.verify_str(root.bundle()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::AudienceMismatch { found, .. } if found == ORCHESTRATOR),
        "{err:?}"
    );
}
