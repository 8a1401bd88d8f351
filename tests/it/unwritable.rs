//! A repository git can no longer write (a read-only `.git/refs` or objects dir, as a full
//! disk or a remount leaves it) in the middle of a run: the run stops, says why, and — since
//! git cannot hold its stop record — keeps the stop beside the task's lock, where `status`
//! and `fsck` read it until a later stop record lands.
//!
//! Permissions are the fault: as root (CI runs so) the agent is run without capabilities
//! (`setpriv`), so the mode bits bind it as they bind any user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::agent_e2e::{GOOD_GREET, KEY, agent, good_model, sample};
use crate::common::{TestEnv, wrapped};
use crate::fake_model::{FakeModel, Script};

fn is_root() -> bool {
    // SAFETY: geteuid reads the process's credentials; it cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// git-agent with the fake model, without the capabilities that let root write anywhere.
fn unprivileged_agent(env: &TestEnv, dir: &Path, model: &FakeModel, args: &[&str]) -> Command {
    let mut agent = env.agent_cmd(dir, args);
    agent
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    if !is_root() {
        return agent;
    }
    wrapped(
        &agent,
        "setpriv",
        &["--inh-caps=-all", "--bounding-set=-all"],
    )
}

/// Every directory under `root` (itself included) writable or not.
fn set_writable(root: &Path, writable: bool) {
    let mode = if writable { 0o755 } else { 0o555 };
    for entry in dirs_under(root) {
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn dirs_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        for entry in std::fs::read_dir(&dirs[i]).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
        i += 1;
    }
    dirs
}

fn status_json(env: &TestEnv, dir: &Path) -> Value {
    let out = env.agent_ok(dir, &["--json", "status", "t"]);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

fn a_run_that_git_cannot_record_keeps_its_stop_beside_the_lock(unwritable: &str) {
    if is_root() && Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("running as root without setpriv: the read-only repository is not tested");
        return;
    }
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The plan and the first step's first two turns (read, write greet.sh) are answered; the
    // third waits until git can no longer write.
    model.gate.close_from(3);
    let run = unprivileged_agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    model.gate.wait_for_waiting(Duration::from_secs(60));
    let locked = dir.join(".git").join(unwritable);
    set_writable(&locked, false);
    model.gate.open();
    let out = run.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    // The user is told how the run ended, and that git does not hold it.
    let kept = dir.join(".git/agent/locks/t.stop");
    assert!(said.contains("Stopped: error."), "{said}");
    assert!(
        said.contains("could not record this stop (")
            && said.contains("Permission denied")
            && said.contains(&format!("kept in {}", kept.display())),
        "{said}"
    );
    assert!(kept.is_file(), "{said}");

    // status and list read it there, while git still cannot be written.
    let status = status_json(&env, &dir);
    assert_eq!(status["state"], "error", "{status}");
    assert!(
        status["stop_unrecorded"]
            .as_str()
            .is_some_and(|why| why.contains("Permission denied")),
        "{status}"
    );
    assert!(status["stop_detail"].is_string(), "{status}");
    let list = env.agent_ok(&dir, &["--json", "list"]);
    assert!(list.contains("\"state\":\"error\""), "{list}");
    let human = env.agent_ok(&dir, &["status", "t"]);
    assert!(
        human.contains("state:       error")
            && human.contains("not in git:  git could not record this stop"),
        "{human}"
    );
    // So does fsck: the state git holds is consistent, it only lacks the run's last word.
    let (code, fsck_out, fsck_err) = env.agent(&dir, &["fsck", "t"]);
    assert!(
        fsck_err.contains("note: t: its last run stopped (error: ")
            && fsck_err.contains("git agent resume t"),
        "exit {code}\n{fsck_out}{fsck_err}"
    );

    // Once git can write again, the next run's stop lands in git and the file goes. (This run
    // has its capabilities: without them root cannot set up the tests' sandbox.)
    set_writable(&locked, true);
    let (code, _, again) = agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{again}");
    // The step's unfinished work, which git could not take into the attic, waited in the
    // worktree; the resume put it there.
    assert!(
        again.contains("Kept the unfinished work of the interrupted step in refs/agent/t/attic/1"),
        "{again}"
    );
    assert_eq!(
        env.git(&dir, &["show", "refs/agent/t/attic/1:greet.sh"]),
        GOOD_GREET
    );
    assert!(!kept.exists(), "the kept stop outlived a recorded one");
    let status = status_json(&env, &dir);
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["stop_unrecorded"], Value::Null, "{status}");
    env.fsck(&dir);
    env.agent_fsck(&dir);
    let (_, _, clean) = env.agent(&dir, &["fsck", "t"]);
    assert!(!clean.contains("its last run stopped"), "{clean}");
}

#[test]
fn read_only_refs_leave_the_stop_beside_the_lock() {
    a_run_that_git_cannot_record_keeps_its_stop_beside_the_lock("refs");
}

#[test]
fn read_only_objects_leave_the_stop_beside_the_lock() {
    a_run_that_git_cannot_record_keeps_its_stop_beside_the_lock("objects");
}
