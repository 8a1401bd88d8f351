//! All end-to-end tests of the binary compile into this one test binary (link time).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value it did not get"
)]

#[path = "../support/mod.rs"]
mod support;

mod accounting;
mod agent_e2e;
mod attempts;
mod chat_completions;
mod cli_completions;
mod cli_man;
mod cli_output;
mod cli_remote;
mod common;
mod concurrency;
mod config_keys;
mod context_window;
mod crash;
mod crash_points;
mod differential;
mod differential_cases;
mod dirty_start;
mod docs;
mod fake_model;
mod faults;
mod fidelity;
mod first_day;
mod fleet;
mod fsck;
mod fsck_agrees;
mod generated;
mod git_invocations;
mod hostile_mcp;
mod hostile_model;
mod hostile_repo;
mod interrupt_pty;
mod json_everywhere;
mod layout;
mod mcp;
mod mcp_client;
mod merge_daily;
mod merge_flags;
mod model_tools;
mod models;
mod odd_names;
mod orphans;
mod recovery;
mod redaction;
mod review;
mod runs_end;
mod serve;
mod steering;
mod stop;
mod store_cli;
mod store_errors;
mod submodules;
mod syscalls;
mod task_cache;
mod task_choice;
mod telemetry;
mod terminal;
mod thinking;
mod unreachable;
mod unwritable;
mod update_pending;
mod watch_gaps;
