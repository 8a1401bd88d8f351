//! All end-to-end tests of the binary compile into this one test binary (link time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod accounting;
mod agent_e2e;
mod attempts;
mod cli_completions;
mod cli_man;
mod cli_output;
mod cli_remote;
mod common;
mod concurrency;
mod config_keys;
mod crash;
mod differential;
mod dirty_start;
mod fake_model;
mod faults;
mod fidelity;
mod fleet;
mod fsck;
mod hostile_mcp;
mod hostile_model;
mod hostile_repo;
mod layout;
mod mcp;
mod mcp_client;
mod merge_daily;
mod merge_flags;
mod recovery;
mod runs_end;
mod steering;
mod store_cli;
mod store_errors;
mod submodules;
mod syscalls;
mod task_cache;
mod watch_gaps;
