//! The `passport.verify` span and the verifier's metrics: outcome codes and
//! cache hits counted, the verified leaf's `jti` and `agent_id` on the span,
//! and never a token in any field.

use passport_testkit::*;

#[test]
fn a_verification_is_counted_and_spanned_with_its_leaf_never_its_token() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    let (_, counters, spans) = observed(|| {
        for _ in 0..3 {
            verifier.verify_str(grandchild.bundle()).unwrap();
        }
    });
    assert_eq!(counters.get("passport_verify_total{outcome=ok}"), 3);
    // Cold: three misses; then the ancestors hit and the leaf, seen again,
    // misses and is kept; then all three hit.
    assert_eq!(counters.get("passport_verify_cache_total{result=miss}"), 4);
    assert_eq!(counters.get("passport_verify_cache_total{result=hit}"), 5);
    let verify = spans.named("passport.verify");
    assert_eq!(verify.len(), 3);
    for fields in verify {
        assert_eq!(fields["outcome"], "ok");
        assert_eq!(fields["jti"], grandchild.claims().jti);
        assert_eq!(fields["agent_id"], "agent-c");
    }
    for token in grandchild.bundle().split('~') {
        spans.assert_nowhere(token);
        // Not even a token's signature or payload segment.
        for segment in token.split('.') {
            spans.assert_nowhere(segment);
        }
    }
}

#[test]
fn a_refused_verification_records_its_code() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy().required_scope("mail:send"));
    let tampered = format!("{}x", root.token());
    let (_, counters, spans) = observed(|| {
        verifier.verify_str(root.bundle()).unwrap_err();
        verifier.verify_str(&tampered).unwrap_err();
        verifier.verify_str("not a bundle").unwrap_err();
        let (result, _audit) = verifier.verify_str_deferring_audit(root.bundle());
        result.unwrap_err();
    });
    assert_eq!(
        counters.get("passport_verify_total{outcome=scope_violation}"),
        2
    );
    assert_eq!(counters.get("passport_verify_total{outcome=ok}"), 0);
    let outcomes: Vec<String> = spans
        .named("passport.verify")
        .into_iter()
        .map(|f| f["outcome"].clone())
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0], "scope_violation");
    assert_ne!(outcomes[1], "ok");
    assert_eq!(outcomes[3], "scope_violation");
    let total: u64 = outcomes
        .iter()
        .map(|o| counters.get(&format!("passport_verify_total{{outcome={o}}}")))
        .sum();
    assert!(total >= 4);
    // A refused bundle's claims are unverified: not on the span.
    for fields in spans.named("passport.verify") {
        assert!(!fields.contains_key("jti"));
    }
    spans.assert_nowhere(root.token().split('.').nth(1).unwrap());
    spans.assert_nowhere(root.token().split('.').nth(2).unwrap());
}

#[test]
fn a_disabled_cache_counts_no_lookups() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy()).with_cache_capacity(0);
    let (_, counters, _) = observed(|| verifier.verify_str(root.bundle()).unwrap());
    assert_eq!(counters.get("passport_verify_total{outcome=ok}"), 1);
    assert_eq!(counters.get("passport_verify_cache_total{result=miss}"), 0);
}
