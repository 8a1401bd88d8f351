//! The model providers against real HTTP servers on 127.0.0.1. One test binary for all of
//! `src/llm`, to keep link time down.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking, with the value it did not get"
)]

#[path = "../support/mod.rs"]
mod support;

mod anthropic;
mod common;
mod openai;
mod replay;
mod servers;
mod thinking;
mod tool_loops;
