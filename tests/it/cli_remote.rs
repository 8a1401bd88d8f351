//! `git agent push` / `pull`: a task started on one clone, resumed on another, through a bare
//! remote; both clones end up with the same branch, notes and attic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;

use crate::agent_e2e::{agent, good_model};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script};

/// A bare remote holding the demo sample, and two clones of it.
fn remote_and_clones(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let seed = env.root.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/repo");
    for name in ["greet.sh", "test.sh", "README.md"] {
        std::fs::copy(fixtures.join(name), seed.join(name)).unwrap();
    }
    env.git(&seed, &["init", "-q"]);
    env.git(&seed, &["add", "-A"]);
    env.git(&seed, &["commit", "-qm", "initial"]);
    let bare = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["clone", "-q", "--bare", "seed", "remote.git"],
    );
    for name in ["a", "b"] {
        env.git(env.root.path(), &["clone", "-q", "remote.git", name]);
    }
    (bare, env.root.path().join("a"), env.root.path().join("b"))
}

/// Everything a task is, as git shows it: branch, notes ref, each note, attic.
fn task_state(env: &TestEnv, dir: &Path, slug: &str) -> Vec<String> {
    let mut state = vec![
        env.rev(dir, &format!("agent/{slug}")),
        env.rev(dir, &format!("refs/notes/agent/{slug}")),
    ];
    for commit in env
        .git(
            dir,
            &["rev-list", &format!("agent/{slug}"), "--not", "main"],
        )
        .lines()
    {
        state.push(env.git(
            dir,
            &["notes", "--ref", &format!("agent/{slug}"), "show", commit],
        ));
    }
    state.push(env.git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            &format!("refs/agent/{slug}"),
        ],
    ));
    state
}

#[test]
fn a_task_started_on_one_clone_is_finished_on_another() {
    let env = TestEnv::new();
    let (bare, a, b) = remote_and_clones(&env);
    let fake = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);

    // A: plan and the first step (four turns), then the turn budget runs out.
    let (code, out, err) = agent(
        &env,
        &a,
        &fake,
        &[
            "start",
            "--name",
            "t",
            "--max-turns",
            "4",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "stdout: {out}\nstderr: {err}");
    let a_tip = env.rev(&a, "agent/t");
    let (code, out, err) = env.agent(&a, &["push"]);
    assert_eq!(code, 0, "push: {out}{err}");
    assert_eq!(out, format!("t: new at {}\n", &a_tip[..8]));
    assert_eq!(env.rev(&bare, "agent/t"), a_tip);
    assert_eq!(
        env.rev(&bare, "refs/notes/agent/t"),
        env.rev(&a, "refs/notes/agent/t")
    );

    // B: a plain clone has neither the task's notes nor its branch; pull brings them.
    assert!(
        env.git_cmd(&b, &["rev-parse", "--verify", "-q", "refs/notes/agent/t"])
            .output()
            .unwrap()
            .stdout
            .is_empty()
    );
    let out = env.agent_ok(&b, &["pull"]);
    assert_eq!(out, format!("t: new at {}, notes new\n", &a_tip[..8]));
    assert_eq!(task_state(&env, &b, "t"), task_state(&env, &a, "t"));
    let status = env.agent_ok(&b, &["status", "t"]);
    assert!(status.contains("state:       budget"), "{status}");

    // B finishes the task (its budget is summed from the records A wrote) and pushes.
    let (code, out, err) = agent(&env, &b, &fake, &["resume", "t", "--max-turns", "20"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let b_tip = env.rev(&b, "agent/t");
    assert_eq!(env.rev(&b, "agent/t~1"), a_tip);
    let out = env.agent_ok(&b, &["push", "origin", "t"]);
    assert_eq!(out, format!("t: fast-forward at {}\n", &b_tip[..8]));

    // A pulls: the branch fast-forwards, and so does A's private worktree with it.
    let out = env.agent_ok(&a, &["pull", "origin"]);
    assert_eq!(
        out,
        format!("t: fast-forward at {}, notes fast-forward\n", &b_tip[..8])
    );
    assert_eq!(task_state(&env, &a, "t"), task_state(&env, &b, "t"));
    assert_eq!(env.rev(&bare, "agent/t"), b_tip);
    let wt = worktree(&a, "t");
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(env.rev(&wt, "HEAD"), b_tip);
    assert!(
        std::fs::read_to_string(wt.join("test.sh"))
            .unwrap()
            .contains("shouts")
    );
    let record: toml::Table =
        toml::from_str(&env.git(&a, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    assert_eq!(record["stop"]["reason"].as_str(), Some("done"));

    // Nothing more to do either way.
    assert_eq!(
        env.agent_ok(&a, &["pull"]),
        format!("t: up to date at {}, notes up to date\n", &b_tip[..8])
    );
    assert_eq!(
        env.agent_ok(&a, &["push"]),
        format!("t: up to date at {}\n", &b_tip[..8])
    );
    env.fsck(&a);
    env.fsck(&b);
    env.fsck(&bare);
}

/// A task with one hand-made checkpoint, pushed from `a` and pulled into `b`, with a worktree
/// in `b` so that both sides can record checkpoints.
fn shared_task(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let (bare, a, b) = remote_and_clones(env);
    env.agent_ok(&a, &["start", "--no-run", "--name", "t", "A shared task"]);
    std::fs::write(worktree(&a, "t").join("one.txt"), "one\n").unwrap();
    env.agent_ok(&a, &["checkpoint", "t", "-m", "One"]);
    env.agent_ok(&a, &["push"]);
    env.agent_ok(&b, &["pull"]);
    env.git(
        &b,
        &["worktree", "add", "-q", ".git/agent/worktrees/t", "agent/t"],
    );
    (bare, a, b)
}

#[test]
fn pull_refuses_a_diverged_task_branch_with_a_hint() {
    let env = TestEnv::new();
    let (_bare, a, b) = shared_task(&env);
    std::fs::write(worktree(&a, "t").join("two.txt"), "from a\n").unwrap();
    env.agent_ok(&a, &["checkpoint", "t", "-m", "Two from A"]);
    env.agent_ok(&a, &["push"]);
    std::fs::write(worktree(&b, "t").join("two.txt"), "from b\n").unwrap();
    env.agent_ok(&b, &["checkpoint", "t", "-m", "Two from B"]);
    let b_tip = env.rev(&b, "agent/t");

    let (code, out, err) = env.agent(&b, &["pull"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains(
            "error: a task has diverged from origin: both sides have work the other lacks (agent/t)"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: see both sides with `git log --oneline --graph agent/t origin/agent/t`"
        ),
        "{err}"
    );
    // Nothing of B's moved; A's side is there to compare with.
    assert_eq!(env.rev(&b, "agent/t"), b_tip);
    assert_eq!(env.rev(&b, "origin/agent/t"), env.rev(&a, "agent/t"));

    // Push refuses too, and says to pull.
    let (code, _, err) = env.agent(&b, &["push"]);
    assert_eq!(code, 1);
    assert!(err.contains("hint: `git agent pull origin` first"), "{err}");
    env.fsck(&b);
}

#[test]
fn a_rollback_travels_with_its_attic_and_notes_written_on_both_sides_merge() {
    let env = TestEnv::new();
    let (bare, a, b) = shared_task(&env);
    let one = env.rev(&a, "agent/t");
    std::fs::write(worktree(&a, "t").join("two.txt"), "two\n").unwrap();
    env.agent_ok(&a, &["checkpoint", "t", "-m", "Two"]);
    env.agent_ok(&a, &["push"]);
    env.agent_ok(&b, &["pull"]);
    let two = env.rev(&b, "agent/t");

    // A rolls back (notes: an attempt in the plan) and pushes: the remote branch is rewound,
    // and the discarded checkpoint goes to the remote's attic with it.
    env.agent_ok(&a, &["rollback", "t", "--steps", "1", "--reason", "wrong"]);
    let out = env.agent_ok(&a, &["push"]);
    assert!(out.starts_with("t: rewound"), "{out}");
    assert_eq!(env.rev(&bare, "agent/t"), one);
    assert_eq!(env.rev(&bare, "refs/agent/t/attic/1"), two);

    // B pulls: it follows the rewind (its tip is in the attic now), worktree included.
    let out = env.agent_ok(&b, &["pull"]);
    assert!(out.starts_with("t: rewound as on the remote"), "{out}");
    assert_eq!(task_state(&env, &b, "t"), task_state(&env, &a, "t"));
    assert!(!worktree(&b, "t").join("two.txt").exists());

    // Both sides write notes: A a checkpoint record, B a rollback attempt in the plan note.
    std::fs::write(worktree(&a, "t").join("a.txt"), "a\n").unwrap();
    env.agent_ok(&a, &["checkpoint", "t", "-m", "A again"]);
    env.agent_ok(&a, &["push"]);
    env.agent_ok(&b, &["rollback", "t", "--steps", "1", "--reason", "b too"]);
    let (code, _, err) = env.agent(&b, &["pull"]);
    assert_eq!(code, 0, "{err}");
    // B's branch was behind (at the task commit): fast-forwarded to A's; the plan note
    // changed on both sides and the notes were merged; every note is still valid TOML.
    assert_eq!(env.rev(&b, "agent/t"), env.rev(&a, "agent/t"));
    for commit in env
        .git(&b, &["rev-list", "agent/t", "--not", "main"])
        .lines()
    {
        let note = env.git(&b, &["notes", "--ref", "agent/t", "show", commit]);
        toml::from_str::<toml::Table>(&note).unwrap();
    }
    let parents = env.git(
        &b,
        &["log", "--merges", "-1", "--format=%P", "refs/notes/agent/t"],
    );
    let parents: Vec<&str> = parents.split_whitespace().collect();
    assert_eq!(
        parents[1..],
        [env.rev(&b, "refs/notes/remotes/origin/agent/t")],
        "a notes merge commit with the remote's notes as second parent"
    );
    env.agent_ok(&b, &["push"]);
    env.agent_ok(&a, &["pull"]);
    assert_eq!(task_state(&env, &a, "t"), task_state(&env, &b, "t"));
    env.fsck(&a);
    env.fsck(&b);
}

#[test]
fn plan_notes_changed_on_both_sides_keep_the_attempts_of_both() {
    let env = TestEnv::new();
    let (_bare, a, b) = shared_task(&env);
    // Both clones roll the same checkpoint back, for different reasons: the plan note (on the
    // task commit) changes on both sides, and the notes merge must pick one note whole.
    env.agent_ok(&a, &["rollback", "t", "--reason", "from a"]);
    env.agent_ok(&a, &["push"]);
    env.agent_ok(&b, &["rollback", "t", "--reason", "from b"]);
    let (code, _, err) = env.agent(&b, &["pull"]);
    assert_eq!(code, 0, "{err}");
    let plan: toml::Table =
        toml::from_str(&env.git(&b, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    let mut reasons: Vec<&str> = plan["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["from a", "from b"]);
    env.fsck(&b);
}

#[test]
fn attempts_travel_while_they_run_and_a_pick_made_on_one_clone_is_not_undone_by_pull() {
    let env = TestEnv::new();
    let (_bare, a, b) = remote_and_clones(&env);
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &a,
        &model,
        &[
            "start",
            "--name",
            "p",
            "--attempts",
            "2",
            "--pick",
            "manual",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    env.agent_ok(&a, &["push"]);
    let remote_tasks = env.git(&a, &["ls-remote", "origin", "refs/heads/agent/*"]);
    assert_eq!(
        remote_tasks.lines().count(),
        3,
        "the task and its two attempts: {remote_tasks}"
    );

    // Picked on a; b has never seen the attempts and does not get them from the remote.
    env.agent_ok(&a, &["pick", "p", "2"]);
    env.agent_ok(&a, &["push"]);
    let (code, out, err) = env.agent(&b, &["pull"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("an attempt already picked here"), "{err}");
    assert_eq!(
        env.git(
            &b,
            &["for-each-ref", "--format=%(refname)", "refs/heads/agent/"]
        ),
        "refs/heads/agent/p\n"
    );
    assert_eq!(env.rev(&b, "agent/p"), env.rev(&a, "agent/p"));
    assert_eq!(
        env.rev(&b, "refs/agent/p/attic/1"),
        env.rev(&a, "refs/agent/p/attic/1")
    );
    let compare = env.agent_ok(&b, &["compare", "p"]);
    assert!(compare.contains("picked: 2"), "{compare}");
    env.agent_fsck(&b);
    env.fsck(&b);
}

#[test]
fn push_with_a_task_s_name_alone_pushes_that_task_to_origin() {
    let env = TestEnv::new();
    let (bare, a, _) = remote_and_clones(&env);
    for name in ["t", "other"] {
        env.agent_ok(
            &a,
            &["start", "--no-run", "--name", name, "Add a --shout flag"],
        );
    }
    let (code, out, err) = env.agent(&a, &["push", "t"]);
    assert_eq!(code, 0, "push t: {out}{err}");
    assert_eq!(out, format!("t: new at {}\n", &env.rev(&a, "agent/t")[..8]));
    assert_eq!(
        env.git(
            &bare,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads/agent",
                "refs/notes/agent"
            ]
        ),
        "refs/heads/agent/t\nrefs/notes/agent/t\n"
    );
    // A name that is a remote's stays the remote: every task goes there.
    env.git(&a, &["remote", "add", "other", bare.to_str().unwrap()]);
    let (code, out, err) = env.agent(&a, &["push", "other"]);
    assert_eq!(code, 0, "push other: {out}{err}");
    assert!(out.contains("other: new at "), "{out}");
    assert_eq!(
        env.git(
            &bare,
            &["for-each-ref", "--format=%(refname)", "refs/heads/agent"]
        ),
        "refs/heads/agent/other\nrefs/heads/agent/t\n"
    );
}
