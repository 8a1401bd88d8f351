#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking, with the value it did not get"
)]
//! Tests of `src/policy`: one binary, one module per concern.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod paths;
mod sandbox;
mod secrets;
