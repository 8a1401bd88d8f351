//! git-agent: an autonomous coding agent that keeps every piece of its state in git.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Each module owns one concern;
//! the git data model they share is specified in docs/data-model.md.

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
pub mod serve;
pub mod store;
pub mod text;
pub mod tools;
pub mod ui;
pub mod walk;
