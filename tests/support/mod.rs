//! What the test binaries (`it`, `llm`, `policy`) share: git run isolated from the user's
//! configuration, a command's output checked in one place, waiting for what a test observes
//! (never for a length of time), and the framing of the server-sent events the fake model
//! servers (`it`'s fake model, `llm`'s raw servers) speak. Each binary mounts this with
//! `#[path = "../support/mod.rs"] mod support;`.
// Not `expect`: each binary uses a different part of this module, and one that used all
// of it would leave an expectation unfulfilled.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of the support module"
)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

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

/// How long a test waits for something that must happen eventually. Generous: on a busy
/// machine (two suites and a CPU load beside them, `.ci/load-check`) a run takes many times
/// its usual time, and a deadline only ends a test that would otherwise hang.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// How often [`poll_until`] looks again. The one poll interval of the tests: every wait on
/// an observed condition goes through here.
const POLL: Duration = Duration::from_millis(20);

/// Wait until `done()` holds; panics naming `what` after [`PATIENCE`].
pub fn wait_until(what: &str, done: impl FnMut() -> bool) {
    assert!(
        poll_until(PATIENCE, done),
        "timed out after {PATIENCE:?} waiting for {what}"
    );
}

/// Ask `done()` until it holds (true) or `limit` has passed (false): for a test that acts
/// at a moment of its choosing unless something happened before (a kill at a random time).
pub fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        // The poll interval, not a wait for time to pass: `done` is asked again.
        std::thread::sleep(POLL.min(left));
    }
}

/// The child's exit and whole output, read as it comes (a full pipe never stalls it); a child
/// still running after `limit` is killed and the test fails naming `what`.
pub fn output_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // Only the waiting thread reaps the child, and it had not: the pid is still its.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not end within {limit:?}");
        }
    }
}
