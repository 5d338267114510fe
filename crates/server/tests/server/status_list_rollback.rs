//! A status list signed after a revocation names at least the
//! revocation's time as its `iat` (the kept list's period start alone is
//! not enough): a verifier tells the list from before the revocation from
//! the list after it, and refuses an old copy replayed after the new one.

use std::sync::Arc;

use passport_claims::ManualClock;

use crate::multi_instance::{keys_of, list_source, listing_pair, verifier_of};
use crate::shared_state::wall_clock;

const LIST_TTL: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_from_before_a_revocation_is_refused_once_the_list_after_it_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    // at the start of a period
    let (a, b) = listing_pair(&dir, &clock, LIST_TTL).await;
    let owner = a.workload_of("alice", "files:*").await;
    let passport = a.mint(&owner, "files:read").await;
    // the revoked agent keeps a copy of the list from before its revocation
    let before = a.served_list().await;
    // ten seconds later (same period), an administrator revokes it
    clock.advance(10);
    b.revoke(&owner, &passport).await;
    let after = a.served_list().await;
    assert_ne!(before, after);

    let source = list_source(&a, keys_of(&a).await, &clock);
    let verifier = verifier_of(&a, &clock, Some(source.clone())).await;
    source.add_token(&after).unwrap();
    let e = verifier.verify_str(&passport).unwrap_err();
    assert_eq!(e.root_cause().code(), "revoked", "{e}");

    // the stale copy replayed to the verifier (a cache, a path between it
    // and the issuer): it must be refused as a rollback, not taken
    let replayed = source.add_token(&before);
    let still = verifier.verify_str(&passport);
    assert_eq!(
        replayed.map_err(|e| e.code()),
        Err("status_list_rolled_back"),
        "the pre-revocation list was accepted after the post-revocation one; \
         the revoked passport now verifies: {:?}",
        still.map(|_| "valid")
    );
}
