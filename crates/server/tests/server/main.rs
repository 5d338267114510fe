//! Integration tests of passport-server's protocol core: each module fed
//! hostile input, expecting the specific typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actor_token;
mod authorize;
mod authorize_flow;
mod chain_rules;
mod client_auth;
mod client_metadata;
mod clients;
mod code_grant;
mod dpop_nonce;
mod endpoints;
mod exchange;
mod id_token_exchange;
mod introspect_limits;
mod postgres;
mod rate_limit;
mod resource_server;
mod review_a;
mod review_b1;
mod review_b2;
mod shared_state;
mod token_request;

/// Runs `future` to completion on a runtime of its own (for the sync tests
/// of async APIs that do not actually wait, such as secret checks).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}
