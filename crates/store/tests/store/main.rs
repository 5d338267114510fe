//! Integration tests of passport-store: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod dir;
mod first_open;
mod keys;
mod legacy;
mod local_status;
mod status;
