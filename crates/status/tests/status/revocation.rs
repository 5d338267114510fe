//! End to end: an issuer with an `IndexAllocator`, a published status list,
//! a verifier with a `StatusListSource` (list file or token) or a
//! `DenyListSource`, asked about every link.

use std::sync::Arc;

use crate::common::*;
use passport_claims::{PassportClaims, StatusReference};
use passport_status::{DenyListSource, Status, StatusList, StatusListSource};
use passport_testkit::*;
use serde_json::json;

fn list_file_source(f: &Fixture) -> Arc<StatusListSource> {
    let path = f.path("list.jwt");
    std::fs::write(&path, f.publish()).unwrap();
    let source = f.source();
    assert_eq!(source.add_file(&path).unwrap(), URI);
    Arc::new(source)
}

fn republish(f: &Fixture) {
    std::fs::write(f.path("list.jwt"), f.publish()).unwrap();
}

#[test]
fn every_minted_passport_carries_a_distinct_status_reference() {
    let f = Fixture::new();
    let links = f.chain3();
    let mut seen = std::collections::HashSet::new();
    for link in &links {
        let status = link.claims().status.as_ref().unwrap();
        assert_eq!(status.uri(), URI);
        assert!(seen.insert(status.idx()));
    }
    assert_eq!(f.allocator.records().unwrap().len(), 3);
}

#[test]
fn revoking_the_root_refuses_child_and_grandchild_naming_the_root() {
    let f = Fixture::new();
    let [root, child, grandchild] = f.chain3();
    let source = list_file_source(&f);
    let verifier = f.verifier_using(source.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();

    let record = f
        .allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    assert_eq!(record.agent_id, "agent-a");
    assert_eq!(record.changed_at, Some(NOW));
    republish(&f);
    // The cached list is fresh for its ttl (60 s); past it, the file is read again.
    verifier.verify_str(grandchild.bundle()).unwrap();
    f.clock.advance(61);

    assert_revoked_from_root(&verifier, [&root, &child, &grandchild]);
    let revoked = f.allocator.revoked().unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].jti, root.claims().jti);
}

#[test]
fn revoking_a_middle_link_spares_its_ancestors() {
    let f = Fixture::new();
    let [root, child, grandchild] = f.chain3();
    let idx = child.claims().status.as_ref().unwrap().idx();
    f.allocator.set_status(idx, Status::Invalid).unwrap();
    let source = f.source();
    source.add_token(&f.publish()).unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 1));
    verifier.verify_str(root.bundle()).unwrap();
}

#[test]
fn suspension_then_reinstatement() {
    let f = Fixture::new();
    let [_, child, grandchild] = f.chain3();
    let source = list_file_source(&f);
    let verifier = f.verifier_using(source);
    let jti = child.claims().jti.as_str();

    f.allocator.set_status(jti, Status::Suspended).unwrap();
    republish(&f);
    f.clock.advance(61);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("suspended", 1));
    assert_eq!(f.allocator.revoked().unwrap().len(), 1);

    f.allocator.set_status(jti, Status::Valid).unwrap();
    republish(&f);
    f.clock.advance(61);
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert!(f.allocator.revoked().unwrap().is_empty());
    assert_eq!(
        f.allocator.lookup_jti(jti).unwrap().unwrap().status,
        Status::Valid
    );
}

#[test]
fn a_passport_without_a_status_claim_is_valid_and_a_malformed_one_is_refused() {
    let f = Fixture::new();
    let source = Arc::new(f.source());
    let verifier = f.verifier_using(source);
    let root = f.root(ROOT_SCOPES);
    let mut p: PassportClaims = root.claims().clone();
    p.status = None;
    verifier.verify_str(&f.sign_passport(&p)).unwrap();

    // A malformed claim is refused by the claims decoder, before any status
    // source is asked (a status that cannot be checked is never ignored).

    for bad in [
        json!("revoked"),
        json!({}),
        json!({"status_list": []}),
        json!({"status_list": {"idx": -1, "uri": URI}}),
        json!({"status_list": {"idx": 1.5, "uri": URI}}),
        json!({"status_list": {"idx": "1", "uri": URI}}),
        json!({"status_list": {"idx": 1}}),
        json!({"status_list": {"idx": 1, "uri": ""}}),
        json!({"status_list": {"idx": 1, "uri": 7}}),
    ] {
        let mut claims: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        claims["status"] = bad.clone();
        let token = f.sign_claims(json!({"typ": passport_claims::PASSPORT_TYP}), claims);
        let err = verifier.verify_str(&token).unwrap_err();
        assert_eq!(err.code(), "invalid_claim", "{bad}: {err}");
    }
}

#[test]
fn a_list_uri_the_verifier_was_not_given_is_refused_and_never_fetched() {
    let f = Fixture::with_uri("https://elsewhere.example/status/9");
    let root = f.root(ROOT_SCOPES);
    let source = StatusListSource::new(f.key_store())
        .with_clock(f.clock.clone())
        .trust_issuer(ISS, "https://issuer.local/status/")
        .unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_uri_not_allowed"
    );
}

#[test]
fn an_allowed_list_that_was_never_loaded_fails_closed() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    let source = StatusListSource::new(f.key_store())
        .with_clock(f.clock.clone())
        .trust_issuer(ISS, "https://issuer.local/status/")
        .unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_unavailable"
    );
}

#[test]
fn an_index_past_the_end_of_the_list_is_refused() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    // A list of 8 entries; the root's index is drawn from 2^16 slots.
    let list = StatusList::with_capacity(2, 8).unwrap();
    let mut p = root.claims().clone();
    p.status = Some(StatusReference::new(8, URI).unwrap());
    let source = f.source();
    source
        .add_token(&f.sign_list(URI, &list, NOW, NOW + 3600, 300))
        .unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    assert_eq!(
        unavailable_code(&verifier, &f.sign_passport(&p)),
        "index_out_of_range"
    );
    p.status = Some(StatusReference::new(7, URI).unwrap());
    verifier.verify_str(&f.sign_passport(&p)).unwrap();
}

#[test]
fn a_status_value_without_meaning_here_is_refused() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    let idx = root.claims().status.as_ref().unwrap().idx();
    let mut list = StatusList::with_capacity(2, 1 << 16).unwrap();
    list.set(idx, 3).unwrap();
    let source = f.source();
    source
        .add_token(&f.sign_list(URI, &list, NOW, NOW + 3600, 300))
        .unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "unknown_status_value"
    );
}

#[test]
fn an_expired_list_is_refused_when_loaded_and_once_cached_past_its_exp() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    let list = f.allocator.status_list().unwrap();
    // Already expired (beyond the 30 s skew): refused outright.
    let path = f.path("expired.jwt");
    std::fs::write(&path, f.sign_list(URI, &list, NOW - 7200, NOW - 3600, 300)).unwrap();
    let source = f.source();
    assert_eq!(
        source.add_file(&path).unwrap_err().code(),
        "status_list_expired"
    );

    // Valid now, no ttl, exp in 60 s: used until exp + skew, then refused
    // (the file still holds the same list, so reading it again does not help).
    let token = f.sign_claims(
        json!({"typ": "statuslist+jwt"}),
        list_claims(
            URI,
            &list.encode().unwrap().1,
            2,
            json!({"exp": NOW + 60, "ttl": null}),
        ),
    );
    std::fs::write(&path, token).unwrap();
    source.add_file(&path).unwrap();
    let verifier = f.verifier_using(Arc::new(source));
    verifier.verify_str(root.bundle()).unwrap();
    f.clock.advance(60 + 30);
    verifier.verify_str(root.bundle()).unwrap();
    f.clock.advance(1);
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_expired"
    );
}

#[test]
fn a_list_file_replaced_by_a_hostile_one_keeps_failing_closed() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    let source = list_file_source(&f);
    let verifier = f.verifier_using(source);
    verifier.verify_str(root.bundle()).unwrap();
    // An attacker swaps the file for a list signed by another key.
    let other = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let list = StatusList::with_capacity(2, 1 << 16).unwrap();
    let forged =
        passport_status::StatusListToken::sign(&other, URI, &list, NOW, NOW + 3600, 300).unwrap();
    std::fs::write(f.path("list.jwt"), forged).unwrap();
    f.clock.advance(61);
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_unreachable"
    );
}

#[test]
fn a_deny_list_revokes_every_descendant_of_a_listed_jti() {
    let fixture = Fixture::new();
    // Passports without a status reference: a deny list is all there is.
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let path = fixture.path("deny.json");
    std::fs::write(&path, r#"{"revoked": ["someone-else"]}"#).unwrap();
    let deny = Arc::new(DenyListSource::from_file(&path).unwrap());
    let verifier = f.verifier(f.policy()).with_status_source(deny.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    // A deny list does not read status lists: passports naming one are
    // refused rather than accepted unchecked.
    let [_, _, listed] = fixture.chain3();
    assert_eq!(
        fixture
            .verifier_using(deny.clone())
            .verify_str(listed.bundle())
            .unwrap_err()
            .code(),
        "status_source_required"
    );

    let doc = json!({"revoked": ["someone-else", {"jti": root.claims().jti, "reason": "lost"}]});
    std::fs::write(&path, doc.to_string()).unwrap();
    assert!(deny.reload_if_changed().unwrap());
    assert!(!deny.reload_if_changed().unwrap());
    assert_eq!(deny.len(), 2);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 2));
    assert_eq!(verifier.verify_str(child.bundle()).unwrap_err().link(), 1);

    // A broken file is an error and the previous list stays in force.
    for bad in [
        "",
        "[]",
        r#"{"revoked": "jti"}"#,
        r#"{"revoked": [1]}"#,
        r#"{"revoked": [""]}"#,
        r#"{"revoked": [{"id": "x"}]}"#,
        r#"{"revoked": [], "revoked": []}"#,
        r#"{"revoked": [{"jti": "a", "jti": "b"}]}"#,
        r#"{"denied": []}"#,
    ] {
        std::fs::write(&path, bad).unwrap();
        assert_eq!(
            deny.reload().unwrap_err().code(),
            "invalid_deny_list",
            "{bad}"
        );
    }
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );

    let memory = DenyListSource::from_jtis([child.claims().jti.clone()]);
    let verifier = f.verifier(f.policy()).with_status_source(Arc::new(memory));
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().link(),
        1
    );
}

#[test]
fn status_list_and_deny_list_together() {
    let f = Fixture::new();
    let [root, _, grandchild] = f.chain3();
    let source = list_file_source(&f);
    let deny = Arc::new(DenyListSource::from_jtis([grandchild.claims().jti.clone()]));
    let verifier = f.verifier_using(source).with_status_source(deny);
    verifier.verify_str(root.bundle()).unwrap();
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 0));
}
