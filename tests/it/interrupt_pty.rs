//! One Ctrl-C is one Ctrl-C under `git agent`, as under `git-agent`: the real git wrapper in a
//! pseudo-terminal, where the ^C byte makes the terminal signal the whole foreground process
//! group (git and git-agent) and git forwards its own SIGINT to git-agent too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rexpect::process::{Signal, WaitStatus};

use crate::agent_e2e::{KEY, plan, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step};

/// How many Ctrl-Cs the test presses (one per run); `GIT_AGENT_TEST_CTRL_C` changes it.
fn presses() -> usize {
    std::env::var("GIT_AGENT_TEST_CTRL_C")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

/// PATH with the directory of the binary under test first, so that git finds `git-agent`
/// as its `agent` subcommand.
pub fn path_with_binary() -> std::ffi::OsString {
    let binary = assert_cmd::cargo::cargo_bin("git-agent");
    let dir: PathBuf = binary.parent().unwrap().to_path_buf();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap()
}

/// `git agent <args>` as a person types it, in a pseudo-terminal of its own.
pub fn git_agent_in_pty(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    args: &[&str],
) -> rexpect::session::PtySession {
    let mut cmd = Command::new("git");
    env.apply_env(&mut cmd);
    cmd.env("PATH", path_with_binary())
        .env("TERM", "dumb")
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .current_dir(dir)
        .arg("agent")
        .args(args);
    rexpect::session::spawn_command(cmd, Some(60_000)).unwrap()
}

/// A planner held inside its model call until the test lets it answer: each planner request
/// sends the test a sender, and answers once the test sends on it.
pub fn held_planner() -> (Arc<Script>, Receiver<Sender<()>>) {
    let (entered, calls) = channel::<Sender<()>>();
    let entered = Mutex::new(entered);
    let script = move |request: &serde_json::Value| {
        if current_step(request).is_none() {
            let (open, gate) = channel::<()>();
            entered.lock().unwrap().send(open).unwrap();
            let _ = gate.recv_timeout(Duration::from_secs(60));
            return plan();
        }
        panic!("the run must stop before the executor")
    };
    (Arc::new(script) as Arc<Script>, calls)
}

#[test]
fn one_ctrl_c_under_git_agent_stops_gracefully_every_time() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let (script, calls) = held_planner();
    let model = FakeModel::start(script, Duration::ZERO);
    let n = presses();
    for i in 0..n {
        let name = format!("t{i}");
        let mut session = git_agent_in_pty(
            &env,
            &dir,
            &model,
            &["start", "--name", &name, "Add a --shout flag"],
        );
        let open = calls
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("run {i}: the planner never called"));
        // One press: the terminal signals git and git-agent, git forwards its signal.
        session.send_control('c').unwrap();
        session
            .exp_string("interrupted: keeping")
            .unwrap_or_else(|e| panic!("run {i}: no graceful stop: {e}"));
        // The call in flight answers; the run books it, writes its stop record and exits.
        open.send(()).unwrap();
        let rest = session.exp_eof().unwrap();
        let status = session.process().wait().unwrap();
        assert!(
            !rest.contains("interrupted again"),
            "run {i}: one Ctrl-C counted as two:\n{rest}"
        );
        assert!(rest.contains("Stopped: interrupted."), "run {i}:\n{rest}");
        // git re-raises the SIGINT once git-agent exited: 130 to the shell.
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGINT, _))
                || matches!(status, WaitStatus::Exited(_, 130)),
            "run {i}: {status:?}"
        );
        let plan: toml::Table = toml::from_str(&env.git(
            &dir,
            &[
                "notes",
                "--ref",
                &format!("agent/{name}"),
                "show",
                &format!("agent/{name}"),
            ],
        ))
        .unwrap();
        assert_eq!(
            plan["stop"]["reason"].as_str(),
            Some("interrupted"),
            "run {i}: {plan:#?}"
        );
        // The answered call is booked.
        assert_eq!(
            plan["planner_usage"]["turns"].as_integer(),
            Some(1),
            "run {i}: {plan:#?}"
        );
        let lock = dir.join(format!(".git/agent/locks/{name}.lock"));
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            "",
            "run {i}: the lock was not released"
        );
    }
    assert_eq!(model.books().0, n as u64);
    env.agent_fsck(&dir);
    env.fsck(&dir);
}
