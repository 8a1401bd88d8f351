//! Names that are legal on Linux and that git checks out there — Windows device names, `:`,
//! `?`, a trailing dot or space, `<>"|*`, a tab — are files like any other: a task starts,
//! checkpoints, rolls back, undoes the rollback and merges with them. What git refuses on
//! Linux (`.git` and its aliases) is refused as git refuses it, and a failed start or
//! rollback leaves nothing changed.

use std::path::Path;

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

const ODD: &[&str] = &[
    "aux.c",
    "drivers/i2c/aux.c",
    "con",
    "NUL.txt",
    "com1",
    "a:b",
    "what?",
    "x.",
    "y ",
    "<>\"|*",
    "tab\tname",
];

fn write(dir: &Path, path: &str, content: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn odd_repo(env: &TestEnv) -> std::path::PathBuf {
    let repo = env.root.path().join("odd");
    for name in ODD {
        write(&repo, name, &format!("{name}\n"));
    }
    write(&repo, "keep.txt", "keep\n");
    env.git(&repo, &["init", "-q"]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "odd names"]);
    repo
}

/// The tree of `rev` as `git ls-tree -r` lists it (mode, type, id, path; names quoted as git
/// quotes them).
fn tree(env: &TestEnv, repo: &Path, rev: &str) -> String {
    env.git(repo, &["ls-tree", "-r", rev])
}

/// What `git status` says of the worktree, untracked files included.
fn status(env: &TestEnv, wt: &Path) -> String {
    env.git(wt, &["status", "--porcelain", "--untracked-files=all"])
}

#[test]
fn names_legal_on_linux_start_checkpoint_roll_back_and_merge() {
    let env = TestEnv::new();
    let repo = odd_repo(&env);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&repo, "t");
    for name in ODD {
        assert_eq!(
            std::fs::read_to_string(wt.join(name)).unwrap(),
            format!("{name}\n"),
            "{name:?} was not checked out"
        );
    }
    assert_eq!(status(&env, &wt), "");

    // One checkpoint changes, adds and deletes odd names.
    write(&wt, "aux.c", "changed\n");
    write(&wt, "new:one?", "new\n");
    write(&wt, "prn.h", "new\n");
    std::fs::remove_file(wt.join("con")).unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "one"]);
    let one = tree(&env, &repo, "agent/t");
    assert_eq!(
        status(&env, &wt),
        "",
        "git sees what the checkpoint recorded"
    );
    // A second one, to roll back.
    write(&wt, "x.", "changed again\n");
    write(&wt, "lpt1.txt", "new\n");
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "two"]);
    let two = tree(&env, &repo, "agent/t");

    env.agent_ok(&repo, &["rollback", "t"]);
    assert_eq!(tree(&env, &repo, "agent/t"), one);
    assert_eq!(status(&env, &wt), "");
    assert_eq!(std::fs::read_to_string(wt.join("x.")).unwrap(), "x.\n");
    assert!(!wt.join("lpt1.txt").exists());

    env.agent_ok(&repo, &["rollback", "t", "--undo"]);
    assert_eq!(tree(&env, &repo, "agent/t"), two);
    assert_eq!(status(&env, &wt), "");
    assert_eq!(
        std::fs::read_to_string(wt.join("x.")).unwrap(),
        "changed again\n"
    );

    env.agent_ok(&repo, &["merge", "t"]);
    assert_eq!(tree(&env, &repo, "HEAD"), two);
    assert_eq!(status(&env, &repo), "");
    env.fsck(&repo);
}

/// A commit of `tree_lines` (`git mktree` input) on top of HEAD, made with plumbing: what
/// `git add` would never write.
fn commit_tree(env: &TestEnv, repo: &Path, bad: &str) -> String {
    let blob = env.sh(repo, "echo evil | git hash-object -w --stdin");
    let inner = env.sh(
        repo,
        &format!("printf '100644 blob {}\\tx\\n' | git mktree", blob.trim()),
    );
    let head_tree = env.git(repo, &["rev-parse", "HEAD^{tree}"]);
    let listing = env.git(repo, &["ls-tree", head_tree.trim()]);
    let tree = env.sh(
        repo,
        &format!(
            "printf '%s040000 tree {}\\t{}\\n' '{}' | git mktree",
            inner.trim(),
            bad,
            listing
        ),
    );
    env.sh(
        repo,
        &format!("git commit-tree {} -p HEAD -m bad", tree.trim()),
    )
    .trim()
    .to_string()
}

#[test]
fn git_directory_names_and_their_aliases_are_refused_and_leave_no_task() {
    for bad in [".GIT", ".git.", "git~1", ".Git "] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let commit = commit_tree(&env, &repo, bad);
        // git itself refuses to check the tree out on Linux.
        let out = env
            .git_cmd(&repo, &["checkout", "-q", "--detach", &commit])
            .output()
            .unwrap();
        assert!(!out.status.success(), "git checked out {bad:?}");
        env.git(&repo, &["reset", "-q", "--soft", &commit]);

        let (code, _, err) = env.agent(
            &repo,
            &["start", "--no-run", "--from-head", "--name", "t", "goal"],
        );
        assert_ne!(code, 0, "{bad:?} was checked out");
        assert!(err.contains(".git"), "{bad:?}: {err}");
        let refs = env.git(
            &repo,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads/agent",
                "refs/notes/agent",
            ],
        );
        assert_eq!(refs, "", "{bad:?}: a failed start left a task behind");
        assert!(!worktree(&repo, "t").exists());
    }
}

#[test]
fn a_rollback_that_fails_halfway_puts_files_and_refs_back() {
    let env = TestEnv::new();
    let repo = odd_repo(&env);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&repo, "t");
    for (i, name) in ["aux.c", "a:b", "keep.txt"].iter().enumerate() {
        write(&wt, name, &format!("checkpoint {i}\n"));
    }
    write(&wt, "added.txt", "added\n");
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "one"]);
    // Uncommitted work too, which a rollback keeps in the attic.
    write(&wt, "keep.txt", "uncommitted\n");
    let refs_before = env.git(&repo, &["for-each-ref"]);
    let status_before = status(&env, &wt);

    for stage in ["checkout", "checkout-write"] {
        let out = env
            .agent_cmd(&repo, &["rollback", "t"])
            .env("GIT_AGENT_FAIL_AT", stage)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{stage}: the failure was not injected"
        );
        assert!(err.contains("injected failure"), "{stage}: {err}");
        assert_eq!(env.git(&repo, &["for-each-ref"]), refs_before, "{stage}");
        assert_eq!(status(&env, &wt), status_before, "{stage}");
        assert_eq!(
            std::fs::read_to_string(wt.join("keep.txt")).unwrap(),
            "uncommitted\n"
        );
        assert_eq!(
            std::fs::read_to_string(wt.join("aux.c")).unwrap(),
            "checkpoint 0\n"
        );
        assert!(wt.join("added.txt").exists(), "{stage}");
    }
    // Without the failure, the same rollback goes through.
    env.agent_ok(&repo, &["rollback", "t"]);
    assert!(!wt.join("added.txt").exists());
    assert_eq!(
        std::fs::read_to_string(wt.join("aux.c")).unwrap(),
        "aux.c\n"
    );
    env.agent_fsck(&repo);
}
