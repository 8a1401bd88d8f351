//! The daily loop's merge and update, run as `git agent` through git's own wrapper: a merge is
//! computed before anything moves, so a conflict leaves the user's checkout, index and HEAD
//! byte for byte as they were; `merge` goes into the task's base branch (or `--into`);
//! `update` merges the base into the task, a conflict becoming a step the agent resolves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, finish, good_model, sample};
use crate::common::{TestEnv, get, worktree};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};

/// `git agent …` through git's wrapper, with the built binary first on PATH.
pub(crate) fn git_agent(env: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let built = assert_cmd::cargo::cargo_bin("git-agent");
    let path = std::env::join_paths(
        std::iter::once(built.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut cmd = env.git_cmd(dir, &[&["agent"][..], args].concat());
    cmd.env("PATH", path);
    cmd
}

pub(crate) fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn agent(env: &TestEnv, dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(git_agent(env, dir, args))
}

pub(crate) fn agent_ok(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = agent(env, dir, args);
    assert_eq!(code, 0, "git agent {args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// Everything of the user's checkout a merge must leave alone when it does not merge: the
/// index and HEAD files byte for byte, the branch, the files and what `git status` says.
#[derive(Debug, PartialEq)]
pub(crate) struct Checkout {
    index: Vec<u8>,
    head_file: Vec<u8>,
    head: String,
    status: String,
    files: Vec<(String, Vec<u8>)>,
    merge_head: bool,
}

pub(crate) fn checkout(env: &TestEnv, dir: &Path) -> Checkout {
    let mut files = Vec::new();
    for path in env.git(dir, &["ls-files"]).lines() {
        files.push((path.to_string(), std::fs::read(dir.join(path)).unwrap()));
    }
    Checkout {
        index: std::fs::read(dir.join(".git/index")).unwrap(),
        head_file: std::fs::read(dir.join(".git/HEAD")).unwrap(),
        head: env.rev(dir, "HEAD"),
        status: env.git(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "--untracked-files=all",
            ],
        ),
        files,
        merge_head: dir.join(".git/MERGE_HEAD").exists(),
    }
}

pub(crate) fn write(dir: &Path, path: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

pub(crate) fn commit_all(env: &TestEnv, dir: &Path, message: &str) {
    env.git(dir, &["add", "-A"]);
    env.git(dir, &["commit", "-qm", message]);
}

pub(crate) fn clean(env: &TestEnv, dir: &Path) {
    env.fsck(dir);
    env.agent_fsck(dir);
}

/// A task `calc` whose one checkpoint swaps the operands of `add`, and a commit on main that
/// changes the same line another way.
pub(crate) fn conflicting(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    agent_ok(env, &repo, &["start", "--name", "calc", "--no-run", "goal"]);
    let wt = worktree(&repo, "calc");
    write(
        &wt,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b + a\n}\n",
    );
    write(
        &wt,
        "src/mul.rs",
        "pub fn mul(a: i32, b: i32) -> i32 { a * b }\n",
    );
    agent_ok(
        env,
        &repo,
        &["checkpoint", "calc", "-m", "Swap the operands"],
    );
    write(
        &repo,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    a.wrapping_add(b)\n}\n",
    );
    // A file main adds cleanly beside the conflict: an update must bring it in too.
    write(&repo, "NOTES.md", "wrapping\n");
    commit_all(env, &repo, "Wrap on overflow");
    repo
}

pub(crate) fn parents(env: &TestEnv, dir: &Path, rev: &str) -> Vec<String> {
    env.git(dir, &["rev-list", "--parents", "-n", "1", rev])
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

pub(crate) fn plan(env: &TestEnv, dir: &Path, slug: &str) -> toml::Table {
    let task_commit = env
        .git(
            dir,
            &[
                "rev-list",
                "--first-parent",
                "-1",
                &format!("--grep=^agent: start {slug}$"),
                &format!("agent/{slug}"),
            ],
        )
        .trim()
        .to_string();
    toml::from_str(&env.git(
        dir,
        &[
            "notes",
            "--ref",
            &format!("agent/{slug}"),
            "show",
            &task_commit,
        ],
    ))
    .unwrap()
}

#[test]
fn a_conflicting_merge_changes_nothing_and_names_the_paths_and_the_ways_forward() {
    let env = TestEnv::new();
    let repo = conflicting(&env);
    let before = checkout(&env, &repo);

    let (code, out, err) = agent(&env, &repo, &["merge", "calc"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert_eq!(checkout(&env, &repo), before, "the checkout changed");
    assert!(
        err.contains(
            "error: task 'calc' conflicts with main; nothing was merged, and your checkout, index and HEAD are as they were. Conflicting paths:\n  src/lib.rs (contents)\n"
        ),
        "{err}"
    );
    for way in [
        "git agent update calc",
        "git agent resume calc",
        "git agent checkpoint calc -m",
        "git merge agent/calc",
    ] {
        assert!(err.contains(way), "no `{way}` in:\n{err}");
    }
    assert!(
        err.contains(&worktree(&repo, "calc").display().to_string()),
        "{err}"
    );
    assert!(
        !plan(&env, &repo, "calc").contains_key("merged"),
        "recorded as merged"
    );
    clean(&env, &repo);
}

#[test]
fn merge_goes_into_the_base_branch_and_refuses_another_unless_into() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    agent_ok(&env, &repo, &["start", "--name", "t", "--no-run", "goal"]);
    write(&worktree(&repo, "t"), "src/new.rs", "pub fn new() {}\n");
    agent_ok(&env, &repo, &["checkpoint", "t", "-m", "Add new.rs"]);
    env.git(&repo, &["switch", "-q", "-c", "feature"]);
    let main = env.rev(&repo, "main");
    let before = checkout(&env, &repo);

    let (code, _, err) = agent(&env, &repo, &["merge", "t"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "error: task 't' merges into its base branch main, but the checkout is on feature\n"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: switch to it first: git switch main && git agent merge t; or merge into feature instead: git agent merge t --into feature"
        ),
        "{err}"
    );
    assert_eq!(checkout(&env, &repo), before);
    assert_eq!(env.rev(&repo, "main"), main);

    // A dirty checkout: the hint speaks of merge, not of start's --here.
    write(&repo, "README.md", "# changed\n");
    let (code, _, err) = agent(&env, &repo, &["merge", "t", "--into", "feature"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the merge updates your checkout: commit or stash them first"),
        "{err}"
    );
    assert!(!err.contains("--here"), "{err}");
    env.git(&repo, &["checkout", "-q", "--", "README.md"]);

    let (code, out, err) = agent(&env, &repo, &["merge", "t", "--into", "feature"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Merged task t into feature as "), "{out}");
    let tip = env.rev(&repo, "agent/t");
    assert_eq!(
        parents(&env, &repo, "feature"),
        vec![before.head.clone(), tip.clone()]
    );
    assert_eq!(
        get(&env.trailers(&repo, "feature"), "Agent-Task-Tip"),
        Some(tip.as_str())
    );
    // As `git merge --no-ff` leaves it: the files there, nothing staged, HEAD on the branch.
    assert_eq!(
        std::fs::read_to_string(repo.join("src/new.rs")).unwrap(),
        "pub fn new() {}\n"
    );
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        env.git(&repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/feature"
    );
    assert_eq!(env.rev(&repo, "ORIG_HEAD"), before.head);
    assert_eq!(env.rev(&repo, "main"), main, "main moved");
    let merged = plan(&env, &repo, "t")["merged"].as_table().unwrap().clone();
    assert_eq!(merged["into"].as_str(), Some("feature"));
    clean(&env, &repo);

    // `--help` says where it merges.
    let help = agent_ok(&env, &repo, &["merge", "-h"]);
    assert!(help.contains("into its base branch"), "{help}");
    assert!(help.contains("--into <BRANCH>"), "{help}");
}

#[test]
fn squash_merges_into_the_base_branch_as_one_commit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    agent_ok(
        &env,
        &repo,
        &["start", "--name", "t", "--no-run", "Add new.rs"],
    );
    write(&worktree(&repo, "t"), "src/new.rs", "pub fn new() {}\n");
    agent_ok(&env, &repo, &["checkpoint", "t", "-m", "Add new.rs"]);
    let head = env.rev(&repo, "main");
    agent_ok(&env, &repo, &["merge", "t", "--squash"]);
    assert_eq!(parents(&env, &repo, "main"), vec![head]);
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "main"]).trim(),
        "Add new.rs"
    );
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert!(repo.join("src/new.rs").is_file());
    clean(&env, &repo);
}

#[test]
fn a_checkout_whose_files_were_only_touched_or_copied_is_clean_enough_to_merge_into() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    agent_ok(
        &env,
        &repo,
        &["start", "--name", "t", "--no-run", "Change lib.rs"],
    );
    write(
        &worktree(&repo, "t"),
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b + a\n}\n",
    );
    agent_ok(&env, &repo, &["checkpoint", "t", "-m", "Swap the operands"]);
    // The same content, new stat data (a `touch`, a copy of the repository, a checkout
    // restored from a backup): the index no longer vouches for the file until refreshed.
    let lib = repo.join("src/lib.rs");
    let content = std::fs::read(&lib).unwrap();
    std::fs::remove_file(&lib).unwrap();
    std::fs::write(&lib, content).unwrap();
    let index = std::fs::File::options()
        .write(true)
        .open(repo.join(".git/index"))
        .unwrap();
    // An index written in the same second as its entries makes git hash them again anyway
    // (racily clean); a later one trusts their stat data, as the index of a checkout whose
    // files were written long ago does.
    index
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(index);
    agent_ok(&env, &repo, &["merge", "t"]);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert!(std::fs::read_to_string(&lib).unwrap().contains("b + a"));
    clean(&env, &repo);
}

#[test]
fn merge_lists_the_binary_and_large_files_it_brings_in() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    agent_ok(&env, &repo, &["start", "--name", "t", "--no-run", "goal"]);
    let wt = worktree(&repo, "t");
    write(&wt, "assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let line = "0123456789,abcdefghij,0123456789,abcdefghij\n";
    write(&wt, "data/big.csv", line.repeat((3 << 19) / line.len() + 1));
    write(&wt, "src/small.rs", "pub fn small() {}\n");
    agent_ok(&env, &repo, &["checkpoint", "t", "-m", "Add assets"]);

    let (code, out, err) = agent(&env, &repo, &["merge", "t"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(
            "The merge brings in 2 binary or large (over 1 MiB) files:\n  assets/logo.png (binary, 16 bytes)\n  data/big.csv (large, 1.5 MiB)\n"
        ),
        "{err}"
    );
    assert!(!err.contains("small.rs"), "{err}");
    clean(&env, &repo);

    // --json carries them too.
    agent_ok(&env, &repo, &["start", "--name", "u", "--no-run", "goal"]);
    write(&worktree(&repo, "u"), "bin/tool", b"\x7fELF\0\0\0");
    agent_ok(&env, &repo, &["checkpoint", "u", "-m", "Add a tool"]);
    let out = agent_ok(&env, &repo, &["--json", "merge", "u"]);
    let merged: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        merged["brought_in"],
        json!([{"path": "bin/tool", "size": 7, "binary": true, "large": false}])
    );
}

#[test]
fn update_merges_the_base_into_the_task_as_a_checkpoint() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    agent_ok(&env, &repo, &["start", "--name", "t", "--no-run", "goal"]);
    let wt = worktree(&repo, "t");
    write(&wt, "src/new.rs", "pub fn new() {}\n");
    agent_ok(&env, &repo, &["checkpoint", "t", "-m", "Add new.rs"]);
    let tip = env.rev(&repo, "agent/t");
    write(&repo, "README.md", "# sample\n\nWith a readme.\n");
    commit_all(&env, &repo, "Say more");
    let main = env.rev(&repo, "main");
    let before = checkout(&env, &repo);

    let out = agent_ok(&env, &repo, &["update", "t"]);
    assert!(
        out.starts_with(&format!(
            "Updated task t with main ({}): checkpoint 2 ",
            &main[..8]
        )),
        "{out}"
    );
    assert_eq!(checkout(&env, &repo), before, "update touched the checkout");
    assert_eq!(parents(&env, &repo, "agent/t"), vec![tip, main.clone()]);
    let trailers = env.trailers(&repo, "agent/t");
    assert_eq!(get(&trailers, "Agent-Task"), Some("t"));
    assert_eq!(get(&trailers, "Agent-Checkpoint"), Some("2"));
    assert_eq!(get(&trailers, "Agent-Tests"), Some("not-run"));
    // The worktree follows: the base's change is there, nothing is left uncommitted.
    assert_eq!(
        std::fs::read_to_string(wt.join("README.md")).unwrap(),
        "# sample\n\nWith a readme.\n"
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    clean(&env, &repo);

    let out = agent_ok(&env, &repo, &["update", "t"]);
    assert_eq!(
        out,
        format!("Task t is up to date with main ({})\n", &main[..8])
    );
    // The merge now brings in only the task's own change.
    agent_ok(&env, &repo, &["merge", "t"]);
    assert_eq!(
        env.git(&repo, &["diff", "--name-only", "main~1", "main"]),
        "src/new.rs\n"
    );
    clean(&env, &repo);
}

/// The good model, and on the step that resolves the update's conflicts: greet.sh as both
/// sides meant it (the task's --shout, main's comment), then finish.
fn resolving_model(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (Some(3), 0) => vec![tool("read_file", json!({"path": "greet.sh"}))],
        (Some(3), 1) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": GOOD_GREET.replacen("#!/bin/sh\n", "#!/bin/sh\n# greet.sh NAME: print a friendly greeting.\n", 1)}),
        )],
        (Some(3), _) => finish("Resolve the conflicts with main"),
        _ => good_model(request),
    }
}

pub(crate) fn model_agent(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = git_agent(env, dir, args);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    run(cmd)
}

#[test]
fn update_with_a_conflict_becomes_a_step_that_resume_resolves_and_checkpoints() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(resolving_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = model_agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    let tip = env.rev(&dir, "agent/t");
    env.sh(
        &dir,
        "sed -i 's/print a greeting/print a friendly greeting/' greet.sh",
    );
    commit_all(&env, &dir, "Friendlier comment");
    let main = env.rev(&dir, "main");
    let before = checkout(&env, &dir);

    let (code, out, err) = agent(&env, &dir, &["update", "t"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains(&format!(
            "Merging main ({}) into task t conflicts; the conflicts are in the task's worktree",
            &main[..8]
        )),
        "{out}"
    );
    assert!(out.contains("\n  greet.sh (contents)\n"), "{out}");
    assert!(
        out.contains("Step 3 of the plan is now to resolve them: git agent resume t"),
        "{out}"
    );
    assert_eq!(checkout(&env, &dir), before, "update touched the checkout");
    assert_eq!(env.rev(&dir, "agent/t"), tip, "the branch moved");
    let wt = worktree(&dir, "t");
    let conflicted = std::fs::read_to_string(wt.join("greet.sh")).unwrap();
    assert!(conflicted.contains("<<<<<<< "), "{conflicted}");
    let planned = plan(&env, &dir, "t");
    let steps = planned["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(
        steps[2]["title"].as_str(),
        Some("Resolve the conflicts of merging main into the task")
    );
    assert_eq!(planned["update"]["base"].as_str(), Some(main.as_str()));
    clean(&env, &dir);
    // A second update waits for this one.
    let (code, _, err) = agent(&env, &dir, &["update", "t"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("git agent resume t has the agent resolve them"),
        "{err}"
    );

    let (code, _, err) = model_agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Stopped: done."), "{err}");
    // The resolving checkpoint is the merge: first parent the old tip, second main.
    assert_eq!(parents(&env, &dir, "agent/t"), vec![tip, main.clone()]);
    let trailers = env.trailers(&dir, "agent/t");
    assert_eq!(get(&trailers, "Agent-Checkpoint"), Some("3"));
    assert_eq!(get(&trailers, "Agent-Step"), Some("3/3"));
    assert!(
        get(&trailers, "Agent-Tests")
            .unwrap()
            .starts_with("pass (sh test.sh: "),
        "{trailers:?}"
    );
    let resolved = env.git(&dir, &["show", "agent/t:greet.sh"]);
    assert!(!resolved.contains("<<<<<<<"), "{resolved}");
    assert!(resolved.contains("print a friendly greeting"), "{resolved}");
    assert!(resolved.contains("--shout"), "{resolved}");
    clean(&env, &dir);

    // Now the task merges cleanly into main.
    let before = env.rev(&dir, "main");
    agent_ok(&env, &dir, &["merge", "t"]);
    assert_eq!(
        parents(&env, &dir, "main"),
        vec![before, env.rev(&dir, "agent/t")]
    );
    clean(&env, &dir);
}

#[test]
fn a_conflict_resolved_by_hand_is_checkpointed_as_the_merge() {
    let env = TestEnv::new();
    let repo = conflicting(&env);
    let tip = env.rev(&repo, "agent/calc");
    let main = env.rev(&repo, "main");
    let (code, out, err) = agent(&env, &repo, &["update", "calc"]);
    assert_eq!(code, 3, "{out}{err}");
    let wt = worktree(&repo, "calc");
    write(
        &wt,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b.wrapping_add(a)\n}\n",
    );
    agent_ok(
        &env,
        &repo,
        &["checkpoint", "calc", "-m", "Resolve conflicts with main"],
    );
    assert_eq!(parents(&env, &repo, "agent/calc"), vec![tip, main]);
    assert_eq!(
        env.git(&repo, &["show", "agent/calc:NOTES.md"]),
        "wrapping\n"
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    clean(&env, &repo);
    agent_ok(&env, &repo, &["merge", "calc"]);
    assert_eq!(
        std::fs::read_to_string(repo.join("src/lib.rs")).unwrap(),
        "pub fn add(a: i32, b: i32) -> i32 {\n    b.wrapping_add(a)\n}\n"
    );
    clean(&env, &repo);
}
