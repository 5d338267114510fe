//! passport-remote integration tests: one binary, a module per behaviour,
//! each against a local HTTP server on 127.0.0.1:0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod common;
mod discovery;
mod hostile;
mod metrics;
mod refetch;
mod refresh;
mod review_s14;
