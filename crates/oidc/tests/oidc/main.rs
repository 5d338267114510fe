//! Integration tests of passport-oidc, all hermetic (loopback only) and
//! bounded in time. One binary with one module per area keeps the link step
//! (reqwest, axum, wiremock) to a single run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod acr_mapping;
mod common;
mod id_token_rules;
mod jwks_cache;
mod login_flow;
mod plain_http;
mod provider_faults;
mod token_exchange;
