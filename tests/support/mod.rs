//! What the test binaries (`it`, `llm`, `policy`) share: git run isolated from the user's
//! configuration, a command's output checked in one place, and the framing of the
//! server-sent events the fake model servers (`it`'s fake model, `llm`'s raw servers) speak. Each binary mounts this with
//! `#[path = "../support/mod.rs"] mod support;`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The environment that keeps git away from the user's and the system's configuration, with
/// a fixed identity.
pub const ISOLATED_GIT_ENV: [(&str, &str); 6] = [
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "T"),
    ("GIT_AUTHOR_EMAIL", "t@example.com"),
    ("GIT_COMMITTER_NAME", "T"),
    ("GIT_COMMITTER_EMAIL", "t@example.com"),
];

/// `git args` in `dir`, isolated from the user's configuration.
pub fn git_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).envs(ISOLATED_GIT_ENV);
    cmd
}

/// Run git isolated in `dir` and return stdout; panics with stderr when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    stdout_of(git_cmd(dir, args), &format!("git {args:?}"))
}

/// Run `cmd` and return its stdout; panics with `what` and stderr when it fails.
pub fn stdout_of(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One server-sent event as the Anthropic Messages API frames it: `event:` and `data:` lines,
/// then a blank line.
pub fn sse_event(name: &str, data: impl std::fmt::Display) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}
