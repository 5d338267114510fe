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
