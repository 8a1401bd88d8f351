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
    let cli = git_agent::cli::Cli::parse();
    match git_agent::commands::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let (hint, exit) = git_agent::commands::advice::advice_of(&err);
            let message = err.to_string();
            // Errors quote remotes, repositories and models: controls shown, not obeyed.
            let safe = |text: &str| git_agent::text::terminal::block(text).into_owned();
            eprintln!("error: {}", safe(&message));
            // An error that shows its cause in its own message (`context: cause`) keeps the
            // cause for the hint and the exit code; it is not printed twice.
            let mut shown = message;
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {}", safe(&text));
                    shown.push_str(&text);
                }
            }
            if let Some(hint) = hint {
                eprintln!("hint: {}", safe(&hint));
            }
            ExitCode::from(exit.code())
        }
    }
}
