//! The entry points this binary starts in when it re-executes itself: a hidden first
//! argument names one, and `main` hands it the rest of the arguments before anything else
//! runs (no thread, no configuration, no credentials read).
//!
//! The sandbox launcher (`policy::launcher`) sets up Landlock and runs one command; the
//! file-system monitor (`fsmonitor.rs`) serves one task worktree's changes to `git agent
//! checkpoint`. Each entry point's argument is owned by the module that spawns it.
//!
//! May call: `policy` and `store`. Nothing calls this module but `main` and the commands
//! that ask a monitor.

pub mod fsmonitor;

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

/// An entry point: its hidden first argument and its `main`.
type Entry = (&'static str, fn(&[OsString]) -> ExitCode);

const ENTRIES: [Entry; 2] = [
    (
        crate::policy::SANDBOX_EXEC_ARG,
        crate::policy::sandbox_exec_main,
    ),
    (fsmonitor::DAEMON_ARG, fsmonitor::daemon_main),
];

/// The `main` that `first` names, if it names one.
pub fn entry(first: Option<&OsStr>) -> Option<fn(&[OsString]) -> ExitCode> {
    let first = first?;
    ENTRIES
        .iter()
        .find(|(arg, _)| OsStr::new(arg) == first)
        .map(|(_, main)| *main)
}
