//! Integration tests of passport-axum: a real server on loopback, every
//! acceptance and refusal, and hostile headers. One binary with one module
//! per area, on the shared fixture of `passport-testkit`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hardening;
mod hostile_headers;
mod resource_server;
