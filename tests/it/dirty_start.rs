//! A dirty start: the user's uncommitted work is carried into the task as its first
//! checkpoint, the way `git stash create` makes a commit — the checkout, its index and the
//! stash untouched; a secret in it refuses the start; `--from-head` leaves it out.

use std::path::Path;

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, get, worktree};

/// What the user's checkout is: status, the index file's bytes, the stash.
fn user_state(env: &TestEnv, repo: &Path) -> (String, Vec<u8>, String) {
    (
        env.git(repo, &["status", "--porcelain", "--untracked-files=all"]),
        std::fs::read(repo.join(".git/index")).unwrap(),
        env.git(repo, &["stash", "list", "--format=%H"]),
    )
}

fn dirty_repo(env: &TestEnv) -> std::path::PathBuf {
    let repo = env.repo("dirty");
    // A stash the user already has.
    std::fs::write(repo.join("README.md"), "# stashed\n").unwrap();
    env.git(&repo, &["stash", "-q"]);
    std::fs::write(repo.join("README.md"), "# sample, edited\n").unwrap();
    std::fs::write(
        repo.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b // staged\n}\n",
    )
    .unwrap();
    env.git(&repo, &["add", "src/lib.rs"]);
    std::fs::write(repo.join("new.txt"), "not yet added\n").unwrap();
    std::fs::write(repo.join("debug.log"), "ignored\n").unwrap();
    repo
}

#[test]
fn start_carries_the_working_tree_and_touches_nothing_of_the_users() {
    let env = TestEnv::new();
    let repo = dirty_repo(&env);
    let head = env.rev(&repo, "HEAD");
    let before = user_state(&env, &repo);
    let (code, _, err) = env.agent(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Starting from your working tree: 3 uncommitted files"),
        "{err}"
    );
    for line in ["  M README.md", "  A new.txt", "  M src/lib.rs"] {
        assert!(err.contains(line), "{line} in {err}");
    }
    assert_eq!(
        user_state(&env, &repo),
        before,
        "the checkout, index and stash are untouched"
    );

    let message = env.git(&repo, &["log", "-1", "--format=%s", "agent/t"]);
    assert_eq!(message.trim(), "agent: carried over from the working tree");
    let trailers = env.trailers(&repo, "agent/t");
    for (key, value) in [
        ("Agent-Task", "t"),
        ("Agent-Checkpoint", "1"),
        ("Agent-Step", "0/0"),
        ("Agent-Tests", "not-run"),
        ("Agent-Carried", "working tree"),
    ] {
        assert_eq!(get(&trailers, key), Some(value), "{key}");
    }
    let task_commit = env.git(&repo, &["log", "-1", "--format=%s", "agent/t~1"]);
    assert_eq!(task_commit.trim(), "agent: start t");
    assert_eq!(env.rev(&repo, "agent/t~2"), head);
    let show = |path: &str| env.git(&repo, &["show", &format!("agent/t:{path}")]);
    assert_eq!(show("README.md"), "# sample, edited\n");
    assert_eq!(show("new.txt"), "not yet added\n");
    assert!(show("src/lib.rs").contains("// staged"));
    assert!(
        !env.git_cmd(&repo, &["cat-file", "-e", "agent/t:debug.log"])
            .output()
            .unwrap()
            .status
            .success(),
        "ignored files stay out"
    );
    // The task's worktree holds the carried work, and nothing is left in `.git/agent`.
    let wt = worktree(&repo, "t");
    assert_eq!(
        std::fs::read_to_string(wt.join("new.txt")).unwrap(),
        "not yet added\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(repo.join(".git/agent"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("carry-"))
        .collect();
    assert!(leftovers.is_empty());

    // The carried commit counts as green: a rollback to the last green stops there.
    std::fs::write(wt.join("new.txt"), "changed by the agent\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "work"]);
    let carried = env.rev(&repo, "agent/t~1");
    env.agent_ok(&repo, &["rollback", "t", "--last-green"]);
    assert_eq!(env.rev(&repo, "agent/t"), carried);
    assert_eq!(
        std::fs::read_to_string(wt.join("new.txt")).unwrap(),
        "not yet added\n"
    );
    env.fsck(&repo);
}

#[test]
fn a_secret_in_uncommitted_work_refuses_the_start_and_from_head_leaves_it_out() {
    let env = TestEnv::new();
    let repo = env.repo("secret");
    std::fs::write(repo.join("deploy.env"), "AWS_KEY=AKIAIOSFODNN7EXAMPLF\n").unwrap();
    let before = user_state(&env, &repo);
    let (code, _, err) = env.agent(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("deploy.env:1: aws-access-key-id"), "{err}");
    assert!(err.contains("--from-head"), "{err}");
    assert_eq!(env.git(&repo, &["branch", "--list", "agent/*"]), "");
    let id = env.git(&repo, &["hash-object", "deploy.env"]);
    assert!(
        !env.git_cmd(&repo, &["cat-file", "-e", id.trim()])
            .status()
            .unwrap()
            .success(),
        "the secret never became an object"
    );
    assert_eq!(user_state(&env, &repo), before);

    let (code, _, err) = env.agent(
        &repo,
        &["start", "--no-run", "--from-head", "--name", "t", "goal"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Starting from HEAD (--from-head)"), "{err}");
    let message = env.git(&repo, &["log", "-1", "--format=%s", "agent/t"]);
    assert_eq!(message.trim(), "agent: start t");
    assert!(!worktree(&repo, "t").join("deploy.env").exists());
    env.fsck(&repo);
}

#[test]
fn a_clean_checkout_starts_from_head_and_says_so() {
    let env = TestEnv::new();
    let repo = env.repo("clean");
    let (code, out, err) = env.agent(
        &repo,
        &["--json", "start", "--no-run", "--name", "t", "goal"],
    );
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "start_point");
    assert_eq!(first["from"], "HEAD");
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "agent/t"])
            .trim(),
        "agent: start t"
    );
    // --here with a dirty checkout is still refused.
    std::fs::write(repo.join("README.md"), "dirty\n").unwrap();
    let (code, _, err) = env.agent(
        &repo,
        &["start", "--no-run", "--here", "--name", "h", "goal"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("uncommitted changes"), "{err}");
}

#[test]
fn unresolved_conflicts_refuse_a_carried_start() {
    let env = TestEnv::new();
    let repo = env.repo("conflict");
    env.git(&repo, &["checkout", "-q", "-b", "other"]);
    std::fs::write(repo.join("README.md"), "# other\n").unwrap();
    env.git(&repo, &["commit", "-qam", "other"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    std::fs::write(repo.join("README.md"), "# main\n").unwrap();
    env.git(&repo, &["commit", "-qam", "main"]);
    let merged = env
        .git_cmd(&repo, &["merge", "-q", "other"])
        .output()
        .unwrap();
    assert!(!merged.status.success());
    let (code, _, err) = env.agent(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unresolved conflicts: README.md"), "{err}");
    assert!(err.contains("--from-head"), "{err}");
    assert_eq!(env.git(&repo, &["branch", "--list", "agent/*"]), "");
}

/// The carried commit is a checkpoint like any other: it has its record, so `git agent fsck`
/// is clean after a dirty start, and still after a run on top of it has written its stop
/// record and pending usage there.
#[test]
fn the_carried_commit_has_its_record_before_and_after_a_run() {
    use crate::agent_e2e::{agent, good_model, sample};
    use crate::fake_model::{FakeModel, Script};
    use std::sync::Arc;

    let env = TestEnv::new();
    let dir = sample(&env, "");
    std::fs::write(dir.join("NOTES.md"), "one\ntwo\n").unwrap();
    env.agent_ok(
        &dir,
        &["start", "--no-run", "--name", "t", "Add a --shout flag"],
    );
    env.agent_fsck(&dir);
    let record: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    let field = |name: &str| record.get(name).and_then(toml::Value::as_integer);
    assert_eq!(
        [
            field("checkpoint"),
            field("step"),
            field("steps"),
            field("files_changed"),
            field("insertions")
        ],
        [Some(1), Some(0), Some(0), Some(1), Some(2)],
        "{record:#?}"
    );
    assert_eq!(record["tests"]["verdict"].as_str(), Some("not-run"));

    let model = FakeModel::start(
        Arc::new(good_model) as Arc<Script>,
        std::time::Duration::ZERO,
    );
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        get(&env.trailers(&dir, "agent/t"), "Agent-Step"),
        Some("2/2")
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
}
