#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests of `src/policy`: one binary, one module per concern.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod paths;
mod sandbox;
mod secrets;
