//! How a failed command reaches the user: `error:`, `caused by:` and `hint:` lines on stderr,
//! or with `--json` one `error` object on stdout, where every other line of a `--json` run
//! goes (a consumer reads one stream and finds the failure as one more typed line):
//!
//! `{"type":"error","message":…,"causes":[…],"hint":…|null,"exit_code":N}`
//!
//! The exit code is the one the object names. Command-line mistakes that clap finds are
//! reported the same way; with `--json`, `--help` and `--version` print `help` and `version`
//! objects.

use std::io::Write;
use std::process::ExitCode;

use crate::app::advice::advice_of;
use crate::error::Exit;

/// Print `err` as the user asked and return its exit code.
pub fn error(err: &anyhow::Error, json: bool) -> Exit {
    let (hint, exit) = advice_of(err);
    let message = err.to_string();
    // An error that shows its cause in its own message (`context: cause`) keeps the cause for
    // the hint and the exit code; it is not shown twice.
    let mut shown = message.clone();
    let mut causes = Vec::new();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            shown.push_str(&text);
            causes.push(text);
        }
    }
    if json {
        print_json(&error_object(
            &message,
            &causes,
            hint.as_deref(),
            exit.code(),
        ));
    } else {
        // Errors quote remotes, repositories and models: controls shown, not obeyed.
        let safe = |text: &str| crate::text::terminal::block(text).into_owned();
        eprintln!("error: {}", safe(&message));
        for cause in &causes {
            eprintln!("  caused by: {}", safe(cause));
        }
        if let Some(hint) = hint {
            eprintln!("hint: {}", safe(&hint));
        }
    }
    exit
}

/// A command line clap refused (or `--help`, `--version`): printed by clap, or as JSON when
/// the arguments ask for it.
pub fn parse_error(err: &clap::Error) -> ExitCode {
    let code = u8::try_from(err.exit_code()).unwrap_or(Exit::Usage.code());
    if !wants_json(std::env::args_os().skip(1)) {
        let _ = err.print();
        return ExitCode::from(code);
    }
    let text = err.render().to_string();
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp => {
            print_json(&serde_json::json!({"type": "help", "text": text}));
        }
        ErrorKind::DisplayVersion => {
            print_json(&serde_json::json!({"type": "version", "version": text.trim()}));
        }
        // clap prints the whole help for it; the one thing wrong is the missing command.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let hint = "`git agent --help` lists the commands";
            print_json(&error_object(
                "a command is required",
                &[],
                Some(hint),
                code,
            ));
        }
        _ => {
            let (message, hint) = split_clap_message(&text);
            print_json(&error_object(&message, &[], hint.as_deref(), code));
        }
    }
    ExitCode::from(code)
}

fn error_object(
    message: &str,
    causes: &[String],
    hint: Option<&str>,
    code: u8,
) -> serde_json::Value {
    serde_json::json!({
        "type": "error",
        "message": message,
        "causes": causes,
        "hint": hint,
        "exit_code": code,
    })
}

fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}

/// Whether `--json` is among the arguments (before a `--`): clap could not say, it failed.
fn wants_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// clap's rendered error as a message (its `error:` line) and a hint (its tips, else the
/// usage line).
fn split_clap_message(text: &str) -> (String, Option<String>) {
    // Paragraphs: the error (maybe with the missing arguments under it), tips, usage, more.
    let mut paragraphs = text.split("\n\n").map(|p| {
        p.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let first = paragraphs.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(&first).to_string();
    let rest: Vec<String> = paragraphs.filter(|p| !p.is_empty()).collect();
    let tips: Vec<&str> = rest
        .iter()
        .filter_map(|p| p.strip_prefix("tip: "))
        .collect();
    let hint = if tips.is_empty() {
        rest.iter().find(|p| p.starts_with("Usage: ")).cloned()
    } else {
        Some(tips.join("; "))
    };
    (message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clap_error_splits_into_message_and_hint() {
        let text = "error: unexpected argument '--frobnicate' found\n\n  tip: to pass '--frobnicate' as a value, use '-- --frobnicate'\n\nUsage: git agent rollback [OPTIONS] [SLUG]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            split_clap_message(text),
            (
                "unexpected argument '--frobnicate' found".to_string(),
                Some("to pass '--frobnicate' as a value, use '-- --frobnicate'".to_string())
            )
        );
        let text = "error: the following required arguments were not provided:\n  <GOAL>\n\nUsage: git agent start <GOAL>\n";
        assert_eq!(
            split_clap_message(text),
            (
                "the following required arguments were not provided: <GOAL>".to_string(),
                Some("Usage: git agent start <GOAL>".to_string())
            )
        );
    }

    #[test]
    fn json_is_wanted_only_before_a_double_dash() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(wants_json(args(&["log", "--json", "x"]).into_iter()));
        assert!(!wants_json(args(&["start", "--", "--json"]).into_iter()));
    }
}
