//! passport-agent against real passport-axum servers on 127.0.0.1: the
//! middleware (bearer, DPoP, nonces, retries, bodies that cannot be
//! cloned) and an rmcp client over its transport.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod mcp;
mod middleware;
mod review_b2;
mod rotating;
mod token_service;
