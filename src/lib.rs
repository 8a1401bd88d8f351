//! git-agent: an autonomous coding agent that keeps every piece of its state in git.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Each module owns one concern;
//! the git data model they share is specified in docs/data-model.md.
//!
//! No unsafe code, but where the operating system demands it: the few modules that call
//! libc say so with a scoped `expect(unsafe_code)` and a SAFETY note on every block.
#![deny(unsafe_code)]

pub mod agent;
pub mod app;
pub mod beneath;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod git_command;
pub mod llm;
pub mod policy;
pub mod reexec;
pub mod serve;
pub mod store;
pub mod text;
pub mod tools;
pub mod ui;
pub mod walk;
