//! Integration tests of passport-dpop: proof creation, every hostile proof
//! of RFC 9449 §4.3, and the RFC's known answers. One binary with one module
//! per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hardening;
mod proofs;
mod rfc9449;
mod weak_keys;
