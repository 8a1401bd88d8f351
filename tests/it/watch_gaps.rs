//! What a watch (a run's, or the task's monitor with `agent.fsmonitor`) could not see, and
//! a checkpoint scoped to its paths then missed: each case checkpoints through the monitor
//! and compares the tree with what `git add -A` stages from the same worktree and index.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, worktree};
use crate::syscalls::monitors_of;

/// A repository whose task `t` was started with the monitor on: (repo, worktree).
fn monitored_task(env: &TestEnv, repo: &Path) -> PathBuf {
    let out = env
        .agent_cmd(repo, &["start", "--no-run", "--name", "t", "goal"])
        .env("GIT_AGENT_FSMONITOR", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    worktree(repo, "t")
}

/// What `git add -A` would stage in `wt` now, with a copy of its index (the real one is
/// left to the checkpoint).
fn git_add_all(env: &TestEnv, wt: &Path) -> String {
    env.sh(
        wt,
        "cp \"$(git rev-parse --git-path index)\" ../t-index.copy && \
         GIT_INDEX_FILE=../t-index.copy git add -A 2>/dev/null; \
         GIT_INDEX_FILE=../t-index.copy git write-tree; rm -f ../t-index.copy",
    )
    .trim()
    .to_string()
}

/// `git agent checkpoint` with the monitor on.
fn monitored_checkpoint(env: &TestEnv, repo: &Path, message: &str) {
    let out = env
        .agent_cmd(repo, &["checkpoint", "t", "-q", "-m", message])
        .env("GIT_AGENT_FSMONITOR", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checkpoint through the monitor and insist the tree is `git add -A`'s.
fn assert_checkpoint_is_git_add(env: &TestEnv, repo: &Path, wt: &Path, message: &str) {
    let expected = git_add_all(env, wt);
    monitored_checkpoint(env, repo, message);
    let ours = env.rev(repo, "agent/t^{tree}");
    assert_eq!(
        ours,
        expected,
        "{message}: the checkpoint differs from git add -A:\n{}",
        env.git(repo, &["diff", "--stat", &ours, &expected])
    );
}

#[test]
fn a_tracked_file_in_an_ignored_directory_is_watched() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(repo.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir_all(repo.join("build/deep")).unwrap();
    std::fs::write(repo.join("build/deep/keep.txt"), "kept\n").unwrap();
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["add", "-f", "build/deep/keep.txt"]);
    env.git(
        &repo,
        &["commit", "-qm", "a tracked file in an ignored directory"],
    );
    let wt = monitored_task(&env, &repo);

    // git add -A stages a change of a tracked file even where the rules ignore it.
    std::fs::write(wt.join("build/deep/keep.txt"), "changed, and longer\n").unwrap();
    assert_checkpoint_is_git_add(&env, &repo, &wt, "changed");
    std::fs::remove_file(wt.join("build/deep/keep.txt")).unwrap();
    assert_checkpoint_is_git_add(&env, &repo, &wt, "removed");
    env.fsck(&repo);
}

#[test]
fn a_nested_repository_that_becomes_a_directory_is_seen() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let wt = monitored_task(&env, &repo);

    // Made while the monitor watches: its directory is watched, its `.git` was not news.
    env.sh(
        &wt,
        "git init -q made && echo made > made/f.txt && echo 1 >> README.md",
    );
    monitored_checkpoint(&env, &repo, "a nested repository is left alone");
    env.sh(&wt, "rm -rf made/.git && echo 2 >> README.md");
    assert_checkpoint_is_git_add(&env, &repo, &wt, "its .git removed");

    // There when the monitor started: its directory was not watched at all.
    env.sh(
        &wt,
        "git init -q old && echo old > old/f.txt && echo 3 >> README.md",
    );
    for pid in monitors_of(&wt) {
        env.sh(&repo, &format!("kill -9 {pid}"));
    }
    monitored_checkpoint(&env, &repo, "walked; a new monitor");
    assert_eq!(monitors_of(&wt).len(), 1, "a new monitor");
    env.sh(&wt, "rm -rf old/.git && echo 4 >> README.md");
    assert_checkpoint_is_git_add(&env, &repo, &wt, "the old one's .git removed");
    env.fsck(&repo);
}

#[test]
fn a_tip_moved_under_the_mark_is_walked() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let wt = monitored_task(&env, &repo);

    // The tip and the index go back, the worktree stays: what the undone checkpoint held is
    // a change again, although no file was touched since the mark. (`--soft`, which keeps
    // the index, or `git add -f` of an ignored file, are not here: the walk itself trusts an
    // index entry whose stat data matches to be the tip's.)
    env.sh(&wt, "echo 1 >> README.md");
    monitored_checkpoint(&env, &repo, "one");
    env.git(&wt, &["reset", "-q", "HEAD~1"]);
    env.sh(&wt, "echo new > new.txt");
    assert_checkpoint_is_git_add(&env, &repo, &wt, "after a reset");

    env.fsck(&repo);
}

#[test]
fn an_exclude_rule_outside_the_worktree_changed_is_walked() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(repo.join(".git/info/exclude"), "gen/\n").unwrap();
    let excludes = env.root.path().join("excludes");
    std::fs::write(&excludes, "*.out\n").unwrap();
    env.git(
        &repo,
        &["config", "core.excludesFile", excludes.to_str().unwrap()],
    );
    let wt = monitored_task(&env, &repo);
    env.sh(
        &wt,
        "mkdir gen && echo g > gen/x && echo o > a.out && echo 1 >> README.md",
    );
    monitored_checkpoint(&env, &repo, "ignored files made");

    // The rules change outside the worktree: what they hid is staged by git add -A.
    std::fs::write(repo.join(".git/info/exclude"), "").unwrap();
    env.sh(&wt, "echo 2 >> README.md");
    assert_checkpoint_is_git_add(&env, &repo, &wt, "info/exclude emptied");
    std::fs::write(&excludes, "").unwrap();
    env.sh(&wt, "echo 3 >> README.md");
    assert_checkpoint_is_git_add(&env, &repo, &wt, "core.excludesFile emptied");
    env.fsck(&repo);
}
