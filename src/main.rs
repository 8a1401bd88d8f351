use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = git_agent::cli::Cli::parse();
    match git_agent::commands::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let (hint, exit) = git_agent::error::advice_of(&err);
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit.code())
        }
    }
}
