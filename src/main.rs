//! The `git-agent` binary: the command line over the library (`git_agent::commands`).
#![deny(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The sandbox launcher and the file-system monitor re-execute this binary; they must
    // run before anything starts threads.
    let mut args = std::env::args_os().skip(1);
    if let Some(entry) = git_agent::reexec::entry(args.next().as_deref()) {
        let rest: Vec<std::ffi::OsString> = args.collect();
        return entry(&rest);
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
