//! The sandbox launcher alone, dispatched the way `src/main.rs` dispatches it: the policy
//! tests point `SandboxSpec::launcher` at this binary.

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.split_first() {
        Some((first, rest)) if first == git_agent::policy::SANDBOX_EXEC_ARG => {
            git_agent::policy::sandbox_exec_main(rest)
        }
        _ => {
            eprintln!(
                "usage: sandbox_exec {} [--write DIR]... [--net] -- PROGRAM [ARGS]...",
                git_agent::policy::SANDBOX_EXEC_ARG
            );
            ExitCode::from(2)
        }
    }
}
