//! Submodules in a task's worktree: the ones the user initialized, at the recorded commits,
//! from the user's own clones (no network); a change inside one is refused at checkpoint.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

fn commit_file(env: &TestEnv, dir: &Path, name: &str, content: &str) -> String {
    std::fs::write(dir.join(name), content).unwrap();
    env.git(dir, &["add", "-A"]);
    env.git(dir, &["commit", "-qm", content.trim()]);
    env.rev(dir, "HEAD")
}

fn sub(env: &TestEnv, dir: &Path, args: &[&str]) {
    let mut all = vec!["-c", "protocol.file.allow=always"];
    all.extend_from_slice(args);
    env.git(dir, &all);
}

/// `main` with the submodule `lib` (itself with the submodule `deep`) initialized at its
/// first commit, and `other` registered but not initialized. The upstream repositories are
/// deleted: whatever the task gets comes from `main/.git/modules`.
fn repos(env: &TestEnv) -> (PathBuf, String, String) {
    let root = env.root.path();
    let deep = root.join("deep-up");
    let lib = root.join("lib-up");
    let other = root.join("other-up");
    for dir in [&deep, &lib, &other] {
        std::fs::create_dir_all(dir).unwrap();
        env.git(dir, &["init", "-q"]);
    }
    commit_file(env, &deep, "g", "deep\n");
    commit_file(env, &other, "o", "other\n");
    commit_file(env, &lib, "f", "v1\n");
    sub(
        env,
        &lib,
        &["submodule", "add", "-q", deep.to_str().unwrap(), "deep"],
    );
    env.git(&lib, &["commit", "-qm", "deep"]);
    let first_with_deep = env.rev(&lib, "HEAD");
    let second = commit_file(env, &lib, "f", "v2\n");
    let main = env.repo("main");
    sub(
        env,
        &main,
        &["submodule", "add", "-q", lib.to_str().unwrap(), "lib"],
    );
    env.git(&main.join("lib"), &["checkout", "-q", &first_with_deep]);
    env.git(&main, &["add", "lib"]);
    sub(
        env,
        &main,
        &["submodule", "update", "--init", "--recursive", "-q"],
    );
    sub(
        env,
        &main,
        &["submodule", "add", "-q", other.to_str().unwrap(), "other"],
    );
    env.git(&main, &["add", "-A"]);
    env.git(&main, &["commit", "-qm", "submodules"]);
    env.git(&main, &["submodule", "deinit", "-q", "-f", "other"]);
    std::fs::remove_dir_all(main.join(".git/modules/other")).unwrap();
    for dir in [&deep, &lib, &other] {
        std::fs::remove_dir_all(dir).unwrap();
    }
    (main, first_with_deep, second)
}

#[test]
fn initialized_submodules_are_checked_out_at_their_commits_from_local_clones() {
    let env = TestEnv::new();
    let (main, recorded, _) = repos(&env);
    let (code, _, err) = env.agent(&main, &["start", "--no-run", "--name", "t", "goal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: other: submodule not initialized in your checkout"),
        "{err}"
    );
    let wt = worktree(&main, "t");
    assert_eq!(std::fs::read_to_string(wt.join("lib/f")).unwrap(), "v1\n");
    assert_eq!(
        std::fs::read_to_string(wt.join("lib/deep/g")).unwrap(),
        "deep\n"
    );
    assert_eq!(env.rev(&wt.join("lib"), "HEAD"), recorded);
    assert!(
        std::fs::read_dir(wt.join("other"))
            .unwrap()
            .next()
            .is_none()
    );
    // The submodule's repository is in the worktree's admin dir, out of the commands' reach.
    let gitfile = std::fs::read_to_string(wt.join("lib/.git")).unwrap();
    assert!(gitfile.contains("/.git/worktrees/"), "{gitfile}");
    assert_eq!(
        env.git(&wt, &["status", "--porcelain", "--ignore-submodules=none"]),
        ""
    );
    let out = env.agent_ok(&main, &["--json", "checkpoint", "t", "-m", "nothing"]);
    let out: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(out["files_changed"], 0);
    env.fsck(&main);
}

#[test]
fn a_change_inside_a_submodule_is_refused_at_checkpoint() {
    let env = TestEnv::new();
    let (main, _, _) = repos(&env);
    env.agent_ok(&main, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&main, "t");
    let tip = env.rev(&main, "agent/t");
    std::fs::write(wt.join("lib/f"), "edited by the model\n").unwrap();
    std::fs::write(wt.join("lib/new.txt"), "new\n").unwrap();
    let (code, _, err) = env.agent(&main, &["checkpoint", "t", "-m", "inside"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("lib/: changed inside the submodule ( M f, ?? new.txt)"),
        "{err}"
    );
    assert!(err.contains("cannot be committed here"), "{err}");
    assert_eq!(env.rev(&main, "agent/t"), tip);
    // Put back, it checkpoints; a file in a submodule that is not checked out is refused too.
    std::fs::write(wt.join("lib/f"), "v1\n").unwrap();
    std::fs::remove_file(wt.join("lib/new.txt")).unwrap();
    std::fs::write(wt.join("top.txt"), "top\n").unwrap();
    env.agent_ok(&main, &["checkpoint", "t", "-m", "outside"]);
    std::fs::write(wt.join("other/x"), "x\n").unwrap();
    let (code, _, err) = env.agent(&main, &["checkpoint", "t", "-m", "other"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("other/x: inside the submodule other/"),
        "{err}"
    );
    env.fsck(&main);
}

#[test]
fn a_carried_submodule_move_is_checked_out_and_rolled_back() {
    let env = TestEnv::new();
    let (main, recorded, second) = repos(&env);
    // The user moved the submodule to its next commit without committing that.
    env.git(&main.join("lib"), &["checkout", "-q", &second]);
    let (code, _, err) = env.agent(&main, &["start", "--no-run", "--name", "t", "goal"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("M lib"), "{err}");
    let wt = worktree(&main, "t");
    assert_eq!(env.rev(&main, "agent/t:lib"), second);
    assert_eq!(std::fs::read_to_string(wt.join("lib/f")).unwrap(), "v2\n");
    env.agent_ok(&main, &["rollback", "t", "--steps", "1"]);
    assert_eq!(env.rev(&wt.join("lib"), "HEAD"), recorded);
    assert_eq!(std::fs::read_to_string(wt.join("lib/f")).unwrap(), "v1\n");
    env.fsck(&main);
}

#[test]
fn a_repository_made_in_the_worktree_is_recorded_as_a_gitlink_with_a_warning() {
    let env = TestEnv::new();
    let main = env.repo("main");
    env.agent_ok(&main, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&main, "t");
    let vendored = wt.join("vendor/lib");
    std::fs::create_dir_all(&vendored).unwrap();
    env.git(&vendored, &["init", "-q"]);
    commit_file(&env, &vendored, "f", "f\n");
    let head = env.rev(&vendored, "HEAD");
    std::fs::create_dir_all(wt.join("empty")).unwrap();
    env.git(&wt.join("empty"), &["init", "-q"]);
    let (code, _, err) = env.agent(&main, &["checkpoint", "t", "-m", "vendored"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "warning: vendor/lib/: a git repository inside the worktree, not a submodule: \
             recorded as a gitlink to its commit {}",
            &head[..8]
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "warning: empty/: a git repository inside the worktree with no commit yet: left out"
        ),
        "{err}"
    );
    assert_eq!(
        env.git(&main, &["ls-tree", "agent/t", "vendor/lib", "empty"]),
        format!("160000 commit {head}\tvendor/lib\n")
    );
    // Recorded, it is a gitlink like any other: no second warning; the empty one still warns.
    let out = env.agent_ok(&main, &["--json", "checkpoint", "t", "-m", "again"]);
    let out: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let warnings = out["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().starts_with("empty/: "));
    assert_eq!(out["files_changed"], 0);
    env.fsck(&main);
}
