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
    crate::cache_bundle(&verifier, grandchild.bundle());
    assert_eq!(verifier.cached_tokens(), 3);
    table.set(&root.claims().jti, LinkStatus::Revoked);
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().code(),
        "revoked"
    );
}

#[test]
fn a_status_reference_without_a_status_source_is_refused_unless_ignored() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    // A passport naming a status list, as an issuer with an allocator mints.
    let mut claims = root.claims().clone();
    claims.status =
        Some(passport_claims::StatusReference::new(3, "https://issuer.local/status/1").unwrap());
    let token = f.sign_passport(&claims);
    let err = f.verify(&token).unwrap_err();
    assert!(matches!(
        err,
        passport_verifier::VerifyError::StatusSourceRequired { .. }
    ));
    assert_eq!(err.code(), "status_source_required");
    // The same as an ancestor: refused at its link.
    let mut child = f
        .delegate(root.bundle(), "agent-b", &["files:read"])
        .claims()
        .clone();
    child.parent_hash = Some(passport_jose::sha256_b64url(token.as_bytes()));
    let bundle = format!("{}~{token}", f.sign_passport(&child));
    let err = f.verify(&bundle).unwrap_err();
    assert_eq!((err.link(), err.code()), (1, "status_source_required"));
    // A passport without a reference needs no source.
    f.verify(root.bundle()).unwrap();
    // With any status source the reference is asked about, not refused.
    let table = Arc::new(StatusTable::default());
    f.verifier(f.policy())
        .with_status_source(table)
        .verify_str(&token)
        .unwrap();
    // The explicit opt-out accepts it unchecked.
    f.verifier(f.policy())
        .dangerous_ignore_status()
        .verify_str(&token)
        .unwrap();
    // A source of the caller's own that does not say it reads `status`
    // references (the trait's default) does not count as one.
    struct ReadsNothing;
    impl passport_verifier::StatusSource for ReadsNothing {
        fn status(
            &self,
            _: &passport_claims::PassportClaims,
            _: i64,
        ) -> Result<passport_verifier::LinkStatus, passport_verifier::StatusUnavailable> {
            Ok(passport_verifier::LinkStatus::Valid)
        }
    }
    let err = f
        .verifier(f.policy())
        .with_status_source(Arc::new(ReadsNothing))
        .verify_str(&token)
        .unwrap_err();
    assert_eq!(err.code(), "status_source_required");
}
