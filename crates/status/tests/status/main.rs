//! Integration tests of passport-status: the index allocator, hostile lists,
//! lists over HTTP, the background refresher, revocation end to end. One binary with one module per
//! area, on the shared fixture of `passport-testkit`. (The zip-bomb test
//! keeps its own binary, so its peak memory is its own.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod allocator;
mod common;
mod hostile_lists;
mod http;
mod refresher;
mod review_s14_r3;
mod review_s14_v2;
mod revocation;
