//! `Database::shared_secret`: the first instance's candidate is kept, every
//! later caller (another instance on the same database) reads it.

use std::sync::Arc;

use passport_store::server::Database;

use crate::common::on_both;

on_both!(the_first_candidate_is_kept_for_every_caller);

async fn the_first_candidate_is_kept_for_every_caller(db: Arc<Database>) {
    let first = db.shared_secret("dpop_nonce", "AAAA", 1).await.unwrap();
    assert_eq!(first, "AAAA");
    let second = db.shared_secret("dpop_nonce", "BBBB", 2).await.unwrap();
    assert_eq!(second, "AAAA", "a later candidate never replaces it");
    let other = db.shared_secret("other", "CCCC", 3).await.unwrap();
    assert_eq!(other, "CCCC", "secrets are kept by name");
}
