//! What `git agent fsck` rejects, nothing builds on. For each state damaged by hand — a step
//! past the plan's last, a missing trailer, a record that is no record, a lock that is not a
//! file — fsck reports it, and `resume` and `checkpoint` refuse with fsck's repair as their
//! hint: no model is asked, no ref moves, no checkpoint is built on the rejected commit. Once
//! the repair (run as printed) has made fsck clean, the work goes on.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::agent_e2e::{KEY, good_model};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script};

/// Task `x`: its task commit and one hand checkpoint. fsck is clean.
fn task(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--no-run", "--name", "x", "Add a b file"]);
    std::fs::write(worktree(&repo, "x").join("b.txt"), "b\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "x", "-m", "Add b"]);
    env.agent_fsck(&repo);
    repo
}

/// The one finding `git agent fsck --json` reports, which must break `rule`.
fn only(env: &TestEnv, repo: &Path, rule: &str) -> Value {
    let (code, out, err) = env.agent(repo, &["fsck", "--json"]);
    let findings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["type"] == "finding")
        .collect();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!((code, rules), (1, vec![rule]), "{out}{err}");
    findings.into_iter().next().unwrap()
}

/// Every agent ref with what it holds: what a refused command must leave as it was.
fn agent_refs(env: &TestEnv, repo: &Path) -> String {
    env.git(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/agent",
            "refs/notes/agent",
            "refs/agent",
        ],
    )
}

/// `git agent --json <args>` against `model`, which must fail within a minute (a command
/// that blocks on the damage is killed and fails the test); its error object.
fn refused(env: &TestEnv, repo: &Path, model: &FakeModel, args: &[&str]) -> Value {
    let mut cmd = env.agent_cmd(repo, &[&["--json"], args].concat());
    let child = cmd
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::support::output_within(
        child,
        Duration::from_secs(120),
        &format!("git agent {args:?} (it hangs)"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}");
    let error = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "error")
        .unwrap_or_else(|| panic!("{args:?} printed no error: {stdout}"));
    assert!(!stdout.contains("panicked"), "{stdout}");
    error
}

/// `resume` and `checkpoint` refuse with the finding's repair, and change nothing.
fn both_refuse(env: &TestEnv, repo: &Path, finding: &Value) {
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    std::fs::write(worktree(repo, "x").join("new.txt"), "new\n").unwrap();
    let before = agent_refs(env, repo);
    for args in [&["resume", "x"][..], &["checkpoint", "x", "-m", "more"]] {
        let error = refused(env, repo, &model, args);
        assert_eq!(error["hint"], finding["repair"], "{args:?}: {error:#}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(finding["rule"].as_str().unwrap())
                && message.contains(finding["what"].as_str().unwrap()),
            "{args:?}: {message}"
        );
        assert_eq!(agent_refs(env, repo), before, "{args:?} changed a ref");
    }
    assert_eq!(model.bodies().len(), 0, "no model was asked");
    std::fs::remove_file(worktree(repo, "x").join("new.txt")).unwrap();
}

/// Run the repair as printed: fsck is clean again, and a checkpoint builds on the task.
fn repair_then_work(env: &TestEnv, repo: &Path, finding: &Value) {
    env.sh(repo, finding["repair"].as_str().unwrap());
    env.agent_fsck(repo);
    std::fs::write(worktree(repo, "x").join("c.txt"), "c\n").unwrap();
    let out = env.agent_ok(repo, &["checkpoint", "x", "-m", "Add c"]);
    assert!(out.starts_with("Checkpoint 2 "), "{out}");
    env.agent_fsck(repo);
    env.fsck(repo);
}

/// A commit on top of the task's tip with `trailers` and the tip's tree, with `record` as its
/// note; the branch moves onto it.
fn hand_commit(env: &TestEnv, repo: &Path, trailers: &str, record: &str) -> String {
    let commit = env
        .git(
            repo,
            &[
                "commit-tree",
                "-p",
                "agent/x",
                "-m",
                &format!("By hand\n\n{trailers}"),
                "agent/x^{tree}",
            ],
        )
        .trim()
        .to_string();
    env.git(
        repo,
        &["notes", "--ref", "agent/x", "add", "-m", record, &commit],
    );
    env.git(repo, &["update-ref", "refs/heads/agent/x", &commit]);
    commit
}

#[test]
fn a_step_past_the_plans_last_is_rejected_not_read_as_done() {
    let env = TestEnv::new();
    let repo = task(&env);
    // The trailer was edited by hand; the record still says step 1. The finding is the
    // trailer, not a record that disagrees with it (whose repair would copy the 9 there).
    hand_commit(
        &env,
        &repo,
        "Agent-Task: x\nAgent-Checkpoint: 2\nAgent-Step: 9/2\nAgent-Tests: pass",
        "checkpoint = 2\nstep = 1\nsteps = 2\nmodel = \"human\"",
    );
    let finding = only(&env, &repo, "checkpoint-trailers");
    assert!(
        finding["what"]
            .as_str()
            .unwrap()
            .contains("Agent-Step: 9/2 names step 9 of a plan of 2 steps"),
        "{finding:#}"
    );
    // The repair takes the commit off the branch; it copies nothing into a record.
    assert!(
        finding["repair"]
            .as_str()
            .unwrap()
            .starts_with("git update-ref -m 'agent: fsck: keep' refs/agent/x/attic/1 "),
        "{finding:#}"
    );
    both_refuse(&env, &repo, &finding);
    repair_then_work(&env, &repo, &finding);
}

#[test]
fn a_checkpoint_without_its_number_gets_nothing_built_on_it() {
    let env = TestEnv::new();
    let repo = task(&env);
    hand_commit(
        &env,
        &repo,
        "Agent-Task: x\nAgent-Step: 1/1",
        "step = 1\nsteps = 1\nmodel = \"human\"",
    );
    let finding = only(&env, &repo, "checkpoint-trailers");
    assert!(
        finding["what"]
            .as_str()
            .unwrap()
            .ends_with("no Agent-Checkpoint trailer"),
        "{finding:#}"
    );
    both_refuse(&env, &repo, &finding);
    repair_then_work(&env, &repo, &finding);
}

#[test]
fn a_record_that_is_no_record_is_one_finding_and_one_refusal() {
    let env = TestEnv::new();
    let repo = task(&env);
    env.sh(
        &repo,
        "git notes --ref agent/x show agent/x | sed 's/^checkpoint = 1/checkpoint = -1/' \
         | git notes --ref agent/x add -f -F - agent/x",
    );
    // Not also a record-mismatch whose repair would disagree with this one.
    let finding = only(&env, &repo, "record-malformed");
    assert!(
        finding["repair"]
            .as_str()
            .unwrap()
            .starts_with("git notes --ref refs/notes/agent/x add -f -C "),
        "{finding:#}"
    );
    both_refuse(&env, &repo, &finding);
    repair_then_work(&env, &repo, &finding);
}

#[test]
fn a_lock_that_is_not_a_file_is_reported_and_refused_never_waited_on() {
    let env = TestEnv::new();
    let repo = task(&env);
    let lock = repo.join(".git/agent/locks/x.lock");
    std::fs::remove_file(&lock).unwrap();

    // An empty directory goes; one with something in it is moved aside for a look.
    std::fs::create_dir(&lock).unwrap();
    let finding = only(&env, &repo, "lock-not-a-file");
    assert_eq!(finding["where"], lock.display().to_string());
    assert_eq!(
        finding["repair"],
        format!("rmdir {}", lock.display()),
        "{finding:#}"
    );
    both_refuse(&env, &repo, &finding);
    // Readers read the task as before.
    env.agent_ok(&repo, &["status", "x"]);
    env.agent_ok(&repo, &["list"]);
    std::fs::write(lock.join("kept"), "something\n").unwrap();
    let finding = only(&env, &repo, "lock-not-a-file");
    assert_eq!(
        finding["repair"],
        format!("mv {0} {0}.aside", lock.display()),
        "{finding:#}"
    );
    env.sh(&repo, finding["repair"].as_str().unwrap());
    assert!(repo.join(".git/agent/locks/x.lock.aside/kept").exists());
    env.agent_fsck(&repo);

    // A FIFO: reading it would block for ever.
    env.sh(&repo, &format!("mkfifo {}", lock.display()));
    let finding = only(&env, &repo, "lock-not-a-file");
    assert_eq!(finding["repair"], format!("rm -f {}", lock.display()));
    both_refuse(&env, &repo, &finding);
    env.agent_ok(&repo, &["status", "x"]);
    env.agent_ok(&repo, &["list"]);
    repair_then_work(&env, &repo, &finding);
}

/// A command that checkpoints without the check of `resume` and `checkpoint` (`update`
/// records a clean merge of the base as a checkpoint) still checks the tip it builds on.
#[test]
fn every_checkpoint_checks_the_tip_it_builds_on() {
    let env = TestEnv::new();
    let repo = task(&env);
    // The base branch moves on: `update` has a merge to record.
    std::fs::write(repo.join("base.txt"), "base\n").unwrap();
    env.git(&repo, &["add", "base.txt"]);
    env.git(&repo, &["commit", "-qm", "The base moves on"]);
    hand_commit(
        &env,
        &repo,
        "Agent-Task: x\nAgent-Checkpoint: 2\nAgent-Step: 9/2\nAgent-Tests: pass",
        "checkpoint = 2\nstep = 1\nsteps = 2\nmodel = \"human\"",
    );
    let finding = only(&env, &repo, "checkpoint-trailers");
    let before = agent_refs(&env, &repo);
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let error = refused(&env, &repo, &model, &["update", "x"]);
    assert_eq!(error["hint"], finding["repair"], "{error:#}");
    assert_eq!(agent_refs(&env, &repo), before, "no checkpoint was built");
    // The merged files left the worktree again: it is at the tip it belongs to.
    assert_eq!(
        env.git(&worktree(&repo, "x"), &["status", "--porcelain"]),
        ""
    );
    repair_then_work(&env, &repo, &finding);
}

/// git-agent itself never writes what fsck rejects: after the plan was edited down below the
/// steps already done, a checkpoint's `Agent-Step` counts as many steps as the step it is of.
#[test]
fn a_plan_edited_below_the_steps_done_makes_no_step_past_the_last() {
    use crate::agent_e2e::{agent, sample};

    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        crate::common::get(&env.trailers(&dir, "agent/t"), "Agent-Step"),
        Some("2/2")
    );
    let editor = env.root.path().join("one-step.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\ncat > \"$1\" <<'PLAN'\nobjective = \"one step\"\n\n[[steps]]\ntitle = \"All of it\"\nPLAN\n",
    )
    .unwrap();
    let out = env
        .agent_cmd(&dir, &["plan", "t", "--edit"])
        .env("GIT_EDITOR", format!("sh {}", editor.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(worktree(&dir, "t").join("more.txt"), "more\n").unwrap();
    env.agent_ok(&dir, &["checkpoint", "t", "-m", "More by hand"]);
    assert_eq!(
        crate::common::get(&env.trailers(&dir, "agent/t"), "Agent-Step"),
        Some("2/2")
    );
    env.agent_fsck(&dir);
}
