//! Bad input: a clear message, a hint, a distinct exit code, and nothing half-written.

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

fn assert_fails(
    env: &TestEnv,
    dir: &std::path::Path,
    args: &[&str],
    code: i32,
    needle: &str,
) -> String {
    let (got, out, err) = env.agent(dir, args);
    assert_eq!(
        got, code,
        "git agent {args:?}\nstdout: {out}\nstderr: {err}"
    );
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn repository_problems_are_explained() {
    let env = TestEnv::new();
    let plain = env.root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let err = assert_fails(&env, &plain, &["list"], 1, "not a git repository");
    assert!(err.contains("hint: "), "{err}");

    let bare = env.root.path().join("bare.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    assert_fails(&env, &bare, &["start", "goal"], 1, "bare repository");

    let unborn = env.root.path().join("unborn");
    env.git(env.root.path(), &["init", "-q", unborn.to_str().unwrap()]);
    assert_fails(
        &env,
        &unborn,
        &["start", "goal"],
        1,
        "HEAD has no commit yet",
    );
    assert_eq!(env.git(&unborn, &["for-each-ref"]), "");
}

/// gix is built for SHA-1: a SHA-256 repository is refused by name, and nothing is written.
#[test]
fn a_sha256_repository_is_refused_with_nothing_written() {
    let env = TestEnv::new();
    let dir = env.root.path().join("sha256");
    env.git(
        env.root.path(),
        &[
            "init",
            "-q",
            "--object-format=sha256",
            dir.to_str().unwrap(),
        ],
    );
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "first"]);
    let before = env.git(&dir, &["for-each-ref"]);
    let err = assert_fails(&env, &dir, &["start", "--no-run", "goal"], 1, "SHA-256");
    assert!(err.contains("hint: "), "{err}");
    assert_eq!(env.git(&dir, &["for-each-ref"]), before);
    env.git(&dir, &["fsck", "--strict"]);
}

#[test]
fn detached_head_is_a_fine_base() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let head = env.rev(&repo, "HEAD");
    env.git(&repo, &["checkout", "-q", "--detach"]);
    env.agent_ok(&repo, &["start", "--name", "d", "--no-run", "goal"]);
    assert_eq!(env.rev(&repo, "agent/d^"), head);
}

#[test]
fn names_and_tasks_are_checked() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert_fails(
        &env,
        &repo,
        &["start", "--name", "Bad Name", "goal"],
        2,
        "cannot be a task name",
    );
    assert_fails(
        &env,
        &repo,
        &["start", "--name", "a..b", "goal"],
        2,
        "cannot be a task name",
    );
    assert_fails(&env, &repo, &["status", "nope"], 1, "no task named 'nope'");
    env.agent_ok(&repo, &["start", "--name", "one", "--no-run", "goal"]);
    let err = assert_fails(&env, &repo, &["log", "nope"], 1, "no task named 'nope'");
    assert!(err.contains("known tasks: one"), "{err}");
    assert_fails(
        &env,
        &repo,
        &["start", "--name", "one", "goal"],
        1,
        "exists already",
    );
    assert_eq!(env.agent(&repo, &["bogus"]).0, 2);
}

#[test]
fn a_hand_broken_note_is_reported_with_its_ref_and_commit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "b", "--no-run", "goal"]);
    let task_commit = env.rev(&repo, "agent/b");
    env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/b",
            "add",
            "-f",
            "-m",
            "this is = = not toml [",
            "agent/b",
        ],
    );
    let err = assert_fails(&env, &repo, &["status", "b"], 1, "refs/notes/agent/b");
    assert!(err.contains(&task_commit), "{err}");
    assert!(
        err.contains("git notes --ref refs/notes/agent/b edit"),
        "{err}"
    );
}

#[test]
fn a_branch_moved_by_hand_is_detected() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "mv", "--no-run", "goal"]);
    env.git(&repo, &["commit", "-q", "--allow-empty", "-m", "unrelated"]);
    env.git(&repo, &["update-ref", "refs/heads/agent/mv", "main"]);
    let err = assert_fails(&env, &repo, &["status", "mv"], 1, "was moved by hand");
    assert!(err.contains("git branch -f"), "{err}");
}

#[test]
fn a_held_lock_stops_a_second_run() {
    use std::os::fd::AsRawFd;
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "l", "--no-run", "goal"]);
    let lock = repo.join(".git/agent/locks/l.lock");
    // Another run holds the lock: an flock on the file, with its holder record inside.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock)
        .unwrap();
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    std::fs::write(
        &lock,
        "pid=4242\nhost=elsewhere\nsince=2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(worktree(&repo, "l").join("x"), "x").unwrap();
    let err = assert_fails(
        &env,
        &repo,
        &["checkpoint", "l", "-m", "x"],
        1,
        "in use by another run (pid 4242 on elsewhere",
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", "agent/l"]).trim(),
        "2"
    );
    let status = env.agent_ok(&repo, &["status", "l"]);
    assert!(status.contains("state:       running"), "{status}");
    // The holder dies: the kernel drops its flock; the record it left marks the task interrupted.
    drop(held);
    // Another test thread forking at this moment holds a copy of the locked descriptor until
    // its child execs (close-on-exec): wait for that instant to pass.
    let mut status = String::new();
    crate::support::poll_until(crate::support::PATIENCE, || {
        status = env.agent_ok(&repo, &["status", "l"]);
        status.contains("state:       interrupted")
    });
    assert!(status.contains("state:       interrupted"), "{status}");
    env.agent_ok(&repo, &["checkpoint", "l", "-m", "x"]);
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "released cleanly after the run"
    );
}

#[test]
fn a_hand_checkpoint_with_a_secret_is_refused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "s", "--no-run", "goal"]);
    let wt = worktree(&repo, "s");
    std::fs::write(
        wt.join("deploy.env"),
        "GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n",
    )
    .unwrap();
    std::fs::write(
        wt.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n// aws: AKIAIOSFODNN7EXAMPLF\n",
    )
    .unwrap();
    let err = assert_fails(
        &env,
        &repo,
        &["checkpoint", "s", "-m", "x"],
        1,
        "the checkpoint was refused",
    );
    assert!(
        err.contains("deploy.env:1") && err.contains("src/lib.rs:4"),
        "{err}"
    );
    assert!(
        !err.contains("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
        "{err}"
    );
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", "agent/s"]).trim(),
        "2",
        "nothing committed"
    );
}
