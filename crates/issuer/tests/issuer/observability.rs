//! `passport.issue` and `passport.delegate` spans and the
//! `passport_issue_total` counter: outcomes by code, never a token.

use passport_claims::ScopeSet;
use passport_testkit::*;

#[test]
fn minting_is_counted_and_spanned_by_kind_and_outcome() {
    let f = Kit::new();
    let ((root, child), counters, spans) = observed(|| {
        let root = f.root(&["files:*"]);
        let child = f.delegate(root.bundle(), "agent-b", &["files:read"]);
        (root, child)
    });
    assert_eq!(
        counters.get("passport_issue_total{kind=root,outcome=ok}"),
        1
    );
    assert_eq!(
        counters.get("passport_issue_total{kind=delegate,outcome=ok}"),
        1
    );
    let issued = spans.named("passport.issue");
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["jti"], root.claims().jti);
    assert_eq!(issued[0]["agent_id"], "agent-a");
    assert_eq!(issued[0]["outcome"], "ok");
    let delegated = spans.named("passport.delegate");
    assert_eq!(delegated.len(), 1);
    assert_eq!(delegated[0]["jti"], child.claims().jti);
    assert_eq!(delegated[0]["agent_id"], "agent-b");
    assert_eq!(delegated[0]["outcome"], "ok");
    for token in [root.token(), child.token()] {
        for segment in token.split('.') {
            spans.assert_nowhere(segment);
        }
    }
}

#[test]
fn a_refused_delegation_records_its_code() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let parent = f.parent(root.bundle());
    let (result, counters, spans) = observed(|| {
        let mut request = delegation(&parent, AUD, "agent-b", "model-b", &["files:read"]);
        request.tool_scope = ScopeSet::parse(["mail:send"]).unwrap();
        f.issuer.delegate(request)
    });
    let code = result.unwrap_err().code();
    assert_eq!(code, "scope_widened");
    assert_eq!(
        counters.get(&format!(
            "passport_issue_total{{kind=delegate,outcome={code}}}"
        )),
        1
    );
    let delegated = spans.named("passport.delegate");
    assert_eq!(delegated[0]["outcome"], code);
    assert!(!delegated[0].contains_key("jti"));
}
