//! Integration tests of passport-verifier: every hostile input refused with
//! its typed error. One binary with one module per area, on the shared
//! fixture of `passport-testkit`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ancestor_cache;
mod audit_trail;
mod chain_rules;
mod header_rules;
mod issuer_binding;
mod key_lifetime;
mod leaf_cache;
mod observability;
mod proof_of_possession;
mod revocation;
mod rule_table;
mod time_and_policy_rules;

/// Verifies `bundle` twice, both times successfully, so that its leaf is
/// cached as well as its ancestors: an ancestor is kept the first time its
/// signature verifies, a leaf the second time (most leaves are new on every
/// request, and keeping them would only evict what is used again).
fn cache_bundle(verifier: &passport_verifier::Verifier, bundle: &str) {
    for _ in 0..2 {
        verifier.verify_str(bundle).unwrap();
    }
}
