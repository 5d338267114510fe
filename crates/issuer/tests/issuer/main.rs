//! The issuer's own limits: it never mints what its verifier refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod limits;
mod observability;
