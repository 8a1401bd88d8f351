//! Many tasks at once in one repository, and runs racing for the same task.

use std::sync::Arc;
use std::time::Duration;

use git_agent::store::{
    CheckpointInput, CheckpointRecord, Store, StoreError, TestsSummary, TestsVerdict,
};
use pretty_assertions::assert_eq;

use crate::agent_e2e::{GOOD_GREET, KEY, good_model, sample};
use crate::common::{TestEnv, get, worktree};
use crate::fake_model::{FakeModel, Script};

#[test]
fn many_tasks_run_at_once_in_one_repository() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(
        Arc::new(good_model) as Arc<Script>,
        Duration::from_millis(20),
    );
    let children: Vec<_> = (1..=6)
        .map(|n| {
            env.agent_cmd(
                &dir,
                &["start", "--name", &format!("par-{n}"), "Add a --shout flag"],
            )
            .env("ANTHROPIC_BASE_URL", &model.url)
            .env("ANTHROPIC_API_KEY", KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for n in 1..=6 {
        let branch = format!("agent/par-{n}");
        assert_eq!(
            env.git(&dir, &["rev-list", "--count", &format!("main..{branch}")])
                .trim(),
            "3"
        );
        assert_eq!(
            env.git(&dir, &["show", &format!("{branch}:greet.sh")]),
            GOOD_GREET
        );
        assert_eq!(get(&env.trailers(&dir, &branch), "Agent-Step"), Some("2/2"));
        let notes = env.git(&dir, &["notes", "--ref", &format!("agent/par-{n}"), "list"]);
        assert_eq!(
            notes.lines().count(),
            3,
            "plan and two records for {branch}"
        );
    }
    env.fsck(&dir);
}

#[test]
fn two_runs_racing_for_one_task_one_wins_the_other_is_told() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    env.agent_ok(
        &dir,
        &["start", "--name", "race", "--no-run", "Add a --shout flag"],
    );
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The winner is held at its first model call until the loser has been told.
    model.gate.close_from(0);
    let spawn = || {
        env.agent_cmd(&dir, &["resume", "race"])
            .env("ANTHROPIC_BASE_URL", &model.url)
            .env("ANTHROPIC_API_KEY", KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    crate::support::wait_until("one of the runs to be told", || {
        a.try_wait().unwrap().is_some() || b.try_wait().unwrap().is_some()
    });
    model.gate.open();
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, vec![0, 1]);
    let loser = outs.iter().find(|o| o.status.code() == Some(1)).unwrap();
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("task 'race' is in use by another run"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        get(&env.trailers(&dir, "agent/race"), "Agent-Step"),
        Some("2/2")
    );
    env.fsck(&dir);
}

#[test]
fn a_checkpoint_that_loses_the_compare_and_swap_race_writes_nothing() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.agent_ok(&dir, &["start", "--name", "cas", "--no-run", "goal"]);
    let wt = worktree(&dir, "cas");
    let store = Store::discover(&dir).unwrap();
    let stale = store.task("cas").unwrap();
    let input = |summary: &'static str| CheckpointInput {
        summary,
        body: "",
        step: 1,
        steps: 1,
        expected: "x",
        tests: TestsSummary {
            verdict: TestsVerdict::NotRun,
            command: String::new(),
            summary: String::new(),
        },
        risks: "none",
        next: "none",
        model: "test",
        record: CheckpointRecord::default(),
        co_author: None,
        secret_allow: None,
        scope: None,
        merge_parent: None,
    };
    std::fs::write(wt.join("a.txt"), "a\n").unwrap();
    let winner = store.checkpoint(&stale, &wt, input("winner")).unwrap();
    let notes_after_winner = env.rev(&dir, "refs/notes/agent/cas");
    std::fs::write(wt.join("b.txt"), "b\n").unwrap();
    // The same task as read before the winner landed: its tip is stale.
    let err = store.checkpoint(&stale, &wt, input("loser")).unwrap_err();
    assert!(matches!(err, StoreError::RaceLost { .. }), "{err}");
    assert_eq!(env.rev(&dir, "agent/cas"), winner.commit.to_string());
    assert_eq!(
        env.rev(&dir, "refs/notes/agent/cas"),
        notes_after_winner,
        "the notes ref did not move either"
    );
    env.fsck(&dir);
}
