//! The `git-agent` binary: the command line over the library (`git_agent::commands`).
#![deny(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The sandbox launcher re-executes this binary; it must run before anything starts threads.
    let mut args = std::env::args_os().skip(1);
    let first = args.next();
    if first.as_deref() == Some(std::ffi::OsStr::new(git_agent::policy::SANDBOX_EXEC_ARG)) {
        let rest: Vec<std::ffi::OsString> = args.collect();
        return git_agent::policy::sandbox_exec_main(&rest);
    }
    // The file-system monitor that `start` and `checkpoint` leave behind (agent.fsmonitor).
    if first.as_deref()
        == Some(std::ffi::OsStr::new(
            git_agent::store::fsmonitor::DAEMON_ARG,
        ))
    {
        let rest: Vec<std::ffi::OsString> = args.collect();
        return git_agent::store::fsmonitor::daemon_main(&rest);
    }
    git_agent::policy::credentials::take_from_environment();
    let cli = match git_agent::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return git_agent::commands::report::parse_error(&err),
    };
    let json = cli.global.json;
    match git_agent::commands::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => ExitCode::from(git_agent::commands::report::error(&err, json).code()),
    }
}
