//! Revocation through a StatusSource: every link is asked, so revoking an
//! ancestor refuses its descendants, naming the revoked link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use passport_claims::PassportClaims;
use passport_verifier::{LinkStatus, StatusSource, StatusUnavailable, VerifyError};

#[derive(Default)]
struct Table(Mutex<HashMap<String, LinkStatus>>);

impl Table {
    fn set(&self, jti: &str, status: LinkStatus) {
        self.0.lock().unwrap().insert(jti.to_owned(), status);
    }
}

impl StatusSource for Table {
    fn status(&self, p: &PassportClaims, _now: i64) -> Result<LinkStatus, StatusUnavailable> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(&p.jti)
            .copied()
            .unwrap_or(LinkStatus::Valid))
    }
}

struct Down;

impl StatusSource for Down {
    fn status(&self, _: &PassportClaims, _: i64) -> Result<LinkStatus, StatusUnavailable> {
        Err(StatusUnavailable::new(
            "status_list_unreachable",
            "connection refused",
        ))
    }
}

#[test]
fn revoking_the_root_refuses_child_and_grandchild_naming_the_root() {
    let f = Fixture::new();
    let [root, child, grandchild] = f.chain3();
    let table = Arc::new(Table::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    table.set(&root.claims().jti, LinkStatus::Revoked);
    for (bundle, root_link) in [(child.bundle(), 1), (grandchild.bundle(), 2)] {
        let err = verifier.verify_str(bundle).unwrap_err();
        assert_eq!((err.code(), err.link()), ("revoked", root_link));
        assert!(
            matches!(err.root_cause(), VerifyError::Revoked { jti } if *jti == root.claims().jti)
        );
    }
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );
}

#[test]
fn revoking_a_middle_link_spares_its_ancestors() {
    let f = Fixture::new();
    let [root, child, grandchild] = f.chain3();
    let table = Arc::new(Table::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    table.set(&child.claims().jti, LinkStatus::Revoked);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 1));
    verifier.verify_str(root.bundle()).unwrap();
}

#[test]
fn suspension_then_reinstatement() {
    let f = Fixture::new();
    let [_, child, grandchild] = f.chain3();
    let table = Arc::new(Table::default());
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
    let f = Fixture::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy()).with_status_source(Arc::new(Down));
    let err = verifier.verify_str(root.bundle()).unwrap_err();
    assert_eq!(err.code(), "status_unavailable");
}

#[test]
fn cached_ancestors_are_still_asked_about_revocation() {
    let f = Fixture::new();
    let [root, _, grandchild] = f.chain3();
    let table = Arc::new(Table::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_ancestors(), 2);
    table.set(&root.claims().jti, LinkStatus::Revoked);
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().code(),
        "revoked"
    );
}
