//! Integration tests of passport-server's protocol core: each module fed
//! hostile input, expecting the specific typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize;
mod client_auth;
mod client_metadata;
mod endpoints;
mod exchange;
mod postgres;
mod rate_limit;
mod resource_server;
mod shared_state;
mod token_request;
