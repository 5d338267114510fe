//! Revocation through a StatusSource: every link is asked, so revoking an
//! ancestor refuses its descendants, naming the revoked link.

use std::sync::Arc;

use passport_testkit::*;
use passport_verifier::LinkStatus;

#[test]
fn revoking_the_root_refuses_child_and_grandchild_naming_the_root() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let table = Arc::new(StatusTable::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    table.set(&root.claims().jti, LinkStatus::Revoked);
    assert_revoked_from_root(&verifier, [&root, &child, &grandchild]);
}

#[test]
fn revoking_a_middle_link_spares_its_ancestors() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let table = Arc::new(StatusTable::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    table.set(&child.claims().jti, LinkStatus::Revoked);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 1));
    verifier.verify_str(root.bundle()).unwrap();
}

#[test]
fn suspension_then_reinstatement() {
    let f = Kit::new();
    let [_, child, grandchild] = f.chain3();
    let table = Arc::new(StatusTable::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    table.set(&child.claims().jti, LinkStatus::Suspended);
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().code(),
        "suspended"
    );
    table.set(&child.claims().jti, LinkStatus::Valid);
    verifier.verify_str(grandchild.bundle()).unwrap();
}

#[test]
fn a_source_that_cannot_answer_fails_closed() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy()).with_status_source(Arc::new(Down));
    let err = verifier.verify_str(root.bundle()).unwrap_err();
    assert_eq!(err.code(), "status_unavailable");
}

#[test]
fn cached_ancestors_are_still_asked_about_revocation() {
    let f = Kit::new();
    let [root, _, grandchild] = f.chain3();
    let table = Arc::new(StatusTable::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_ancestors(), 2);
    table.set(&root.claims().jti, LinkStatus::Revoked);
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().code(),
        "revoked"
    );
}
