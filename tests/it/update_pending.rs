//! An update whose conflicts are still being resolved: whatever happens to the task's worktree
//! meanwhile — a resume, a stop, a rollback, a person cleaning it — the checkpoint that records
//! the merge holds both sides, never a merge commit that drops the base's changes; and a
//! rollback to before the update undoes the update rather than leaving it half there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, finish, good_model, sample};
use crate::common::Running;
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script, current_step, last_tool_results, tool, turn};
use crate::merge_daily::{
    agent, agent_ok, checkout, clean, commit_all, git_agent, model_agent, parents, plan, write,
};

/// greet.sh as both sides meant it: the task's --shout, main's friendlier comment.
pub(crate) fn resolved() -> String {
    GOOD_GREET.replacen(
        "#!/bin/sh\n",
        "#!/bin/sh\n# greet.sh NAME: print a friendly greeting.\n",
        1,
    )
}

/// The good model, and on step 3 (the update's step): read greet.sh, write it resolved, finish.
pub(crate) fn resolving(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (Some(3), 0) => vec![tool("read_file", json!({"path": "greet.sh"}))],
        (Some(3), 1) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": resolved()}),
        )],
        (Some(3), _) => finish("Resolve the conflicts with main"),
        _ => good_model(request),
    }
}

/// The good model, finishing step 3 at once: for a worktree resolved by hand.
fn finishing(request: &Value) -> Vec<Value> {
    match current_step(request) {
        Some(3) => finish("Resolve the conflicts with main"),
        _ => good_model(request),
    }
}

struct Updated {
    dir: PathBuf,
    wt: PathBuf,
    /// The tip the update was made on.
    tip: String,
    /// The commit of main it merges.
    main: String,
}

/// The sample task `t` done in two checkpoints; then main changes greet.sh's comment (which
/// conflicts) and adds NOTES.md (which does not), and `update` leaves the conflicts to step 3.
fn updated(env: &TestEnv, model: &FakeModel) -> Updated {
    let dir = sample(env, "");
    let (code, _, err) = model_agent(
        env,
        &dir,
        model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    let tip = env.rev(&dir, "agent/t");
    env.sh(
        &dir,
        "sed -i 's/print a greeting/print a friendly greeting/' greet.sh",
    );
    write(&dir, "NOTES.md", "from main\n");
    commit_all(env, &dir, "Friendlier comment, and notes");
    let main = env.rev(&dir, "main");
    let (code, out, err) = agent(env, &dir, &["update", "t"]);
    assert_eq!(code, 3, "{out}{err}");
    let wt = worktree(&dir, "t");
    assert_merge_in_worktree(&wt);
    Updated { dir, wt, tip, main }
}

/// The worktree holds the update's merge: main's NOTES.md, and greet.sh with both sides.
fn assert_merge_in_worktree(wt: &std::path::Path) {
    let greet = std::fs::read_to_string(wt.join("greet.sh")).unwrap();
    assert!(greet.contains("<<<<<<< "), "no conflict markers:\n{greet}");
    assert_eq!(
        std::fs::read_to_string(wt.join("NOTES.md")).ok().as_deref(),
        Some("from main\n"),
        "main's clean side is missing from the worktree"
    );
}

/// The tip is the merge commit and its tree holds both sides: main's NOTES.md, and greet.sh
/// as it was resolved.
fn assert_merge_holds_both_sides(env: &TestEnv, u: &Updated, greet: &str) {
    let dir = &u.dir;
    assert_eq!(
        parents(env, dir, "agent/t"),
        vec![u.tip.clone(), u.main.clone()]
    );
    assert_eq!(
        env.git(dir, &["ls-tree", "--name-only", "agent/t"]),
        ".git-agent.toml\nNOTES.md\nREADME.md\ngreet.sh\ntest.sh\n",
        "the merge commit dropped a side"
    );
    assert_eq!(env.git(dir, &["show", "agent/t:NOTES.md"]), "from main\n");
    assert_eq!(env.git(dir, &["show", "agent/t:greet.sh"]), greet);
    assert_eq!(env.git(&u.wt, &["status", "--porcelain"]), "");
    clean(env, dir);
}

fn attic(env: &TestEnv, u: &Updated) -> Vec<String> {
    env.git(
        &u.dir,
        &["for-each-ref", "--format=%(refname)", "refs/agent/t/attic/"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn start_model(script: fn(&Value) -> Vec<Value>) -> FakeModel {
    FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO)
}

/// The content of the first tool result the model got on step 3.
fn what_step_3_read(model: &FakeModel) -> String {
    let bodies = model.bodies();
    let request = bodies
        .iter()
        .find(|b| current_step(b) == Some(3) && turn(b) == 1)
        .expect("the model was never asked for step 3's second turn");
    last_tool_results(request)[0].0.clone()
}

#[test]
fn resume_resolves_the_conflicts_update_left_in_the_worktree() {
    let env = TestEnv::new();
    let model = start_model(resolving);
    let u = updated(&env, &model);
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        what_step_3_read(&model).contains("<<<<<<< "),
        "the agent did not see the conflicts"
    );
    assert_merge_holds_both_sides(&env, &u, &resolved());
    assert_eq!(
        attic(&env, &u),
        Vec::<String>::new(),
        "the resume put the merge in the attic"
    );
}

#[test]
fn resume_keeps_a_resolution_made_by_hand() {
    let env = TestEnv::new();
    let model = start_model(finishing);
    let u = updated(&env, &model);
    write(&u.wt, "greet.sh", resolved());
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_merge_holds_both_sides(&env, &u, &resolved());
}

#[test]
fn rolling_back_the_merge_puts_its_conflicts_back_for_another_try() {
    let env = TestEnv::new();
    let model = start_model(resolving);
    let u = updated(&env, &model);
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = agent(&env, &u.dir, &["rollback", "t", "--steps", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(env.rev(&u.dir, "agent/t"), u.tip);
    assert!(
        err.contains(&format!(
            "The update from main ({}) is pending again: its conflicts are back in the task's worktree",
            &u.main[..8]
        )),
        "{err}"
    );
    assert_merge_in_worktree(&u.wt);
    assert_eq!(
        plan(&env, &u.dir, "t")["update"]["base"].as_str(),
        Some(u.main.as_str())
    );
    clean(&env, &u.dir);

    // The agent's second try is the merge again, with both sides.
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_merge_holds_both_sides(&env, &u, &resolved());
}

#[test]
fn rolling_back_past_the_update_undoes_it() {
    let env = TestEnv::new();
    let model = start_model(resolving);
    let u = updated(&env, &model);
    let first = env.rev(&u.dir, "agent/t~1");

    let (code, out, err) = agent(&env, &u.dir, &["rollback", "t", "--steps", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(env.rev(&u.dir, "agent/t"), first);
    assert!(
        err.contains(&format!(
            "The update from main ({}) is undone with it; git agent update t merges main again",
            &u.main[..8]
        )),
        "{err}"
    );
    let planned = plan(&env, &u.dir, "t");
    assert!(!planned.contains_key("update"), "{planned:?}");
    let titles: Vec<&str> = planned["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Add --shout to greet.sh", "Test --shout"]);
    // The merge's files went to the attic with the rolled-back tip; the worktree is checkpoint 1.
    assert!(!u.wt.join("NOTES.md").exists());
    assert_eq!(
        std::fs::read(u.wt.join("greet.sh")).unwrap(),
        env.git(&u.dir, &["show", &format!("{first}:greet.sh")])
            .into_bytes()
    );
    clean(&env, &u.dir);

    // The next checkpoint is an ordinary one, not a merge without main's side.
    write(&u.wt, "extra.txt", "more\n");
    agent_ok(&env, &u.dir, &["checkpoint", "t", "-m", "Add extra.txt"]);
    assert_eq!(parents(&env, &u.dir, "agent/t"), vec![first]);
    clean(&env, &u.dir);

    // Updating again adds one step to resolve the conflicts, not a second.
    let (code, out, err) = agent(&env, &u.dir, &["update", "t"]);
    assert_eq!(code, 3, "{out}{err}");
    let planned = plan(&env, &u.dir, "t");
    let resolving_steps = planned["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["title"]
                .as_str()
                .unwrap()
                .starts_with("Resolve the conflicts")
        })
        .count();
    assert_eq!(resolving_steps, 1, "{planned:?}");
    assert_merge_in_worktree(&u.wt);
    clean(&env, &u.dir);
}

#[test]
fn a_worktree_cleaned_by_hand_gets_the_merge_back_instead_of_an_empty_merge() {
    let env = TestEnv::new();
    let model = start_model(resolving);
    let u = updated(&env, &model);
    let before = checkout(&env, &u.dir);
    env.sh(&u.wt, "git checkout -- . && git clean -fdq");
    assert!(!u.wt.join("NOTES.md").exists());

    let (code, out, err) = agent(
        &env,
        &u.dir,
        &["checkpoint", "t", "-m", "Resolve conflicts with main"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "error: the worktree of task 't' had lost the merge of main ({}) that its next checkpoint records; the merge's files, conflict markers included, are back in ",
            &u.main[..8]
        )),
        "{err}"
    );
    assert!(err.contains("hint: resolve the conflicts there"), "{err}");
    assert_eq!(env.rev(&u.dir, "agent/t"), u.tip, "a checkpoint was made");
    assert_merge_in_worktree(&u.wt);
    assert_eq!(
        checkout(&env, &u.dir),
        before,
        "the user's checkout changed"
    );

    // Cleaned again, then resumed: the run starts from the merge, not from the bare tip.
    env.sh(&u.wt, "git checkout -- . && git clean -fdq");
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "The worktree had lost the merge of main ({}) that step 3 resolves: its files, conflict markers included, are back",
            &u.main[..8]
        )),
        "{err}"
    );
    assert!(what_step_3_read(&model).contains("<<<<<<< "));
    assert_merge_holds_both_sides(&env, &u, &resolved());
}

#[test]
fn a_stopped_resolution_goes_to_the_attic_and_the_next_try_starts_from_the_conflicts() {
    let env = TestEnv::new();
    let model = start_model(resolving);
    let u = updated(&env, &model);
    // Hold step 3's third call: by then the agent has written its resolution.
    let held = model.bodies().len() + 2;
    model.gate.close_from(held);
    let mut cmd = git_agent(&env, &u.dir, &["resume", "t"]);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    let run = Running::spawn(cmd);
    model.gate.wait_for_waiting(Duration::from_secs(60));
    assert_eq!(
        std::fs::read_to_string(u.wt.join("greet.sh")).unwrap(),
        resolved()
    );
    let stop = Running::spawn(git_agent(&env, &u.dir, &["stop", "t"]));
    run.wait_for_line("git agent stop");
    model.gate.open();
    let (code, out, err) = stop.finish();
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run.finish();
    assert_eq!(code, 130, "{err}");
    assert_eq!(env.rev(&u.dir, "agent/t"), u.tip);

    // The unfinished resolution is kept; the worktree is back at the step's start: the merge.
    let kept = attic(&env, &u);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        env.git(&u.dir, &["show", &format!("{}:greet.sh", kept[0])]),
        resolved()
    );
    assert_merge_in_worktree(&u.wt);
    clean(&env, &u.dir);

    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_merge_holds_both_sides(&env, &u, &resolved());
}

/// On step 3, the model undoes the whole merge (greet.sh back as the task had it, main's
/// NOTES.md removed) and calls it done.
fn undoing(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (Some(3), 0) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": GOOD_GREET}),
        )],
        (Some(3), 1) => vec![tool("run_command", json!({"command": "rm NOTES.md"}))],
        (Some(3), _) => finish("Resolve the conflicts with main"),
        _ => good_model(request),
    }
}

#[test]
fn a_run_that_undid_the_whole_merge_records_no_merge_commit() {
    let env = TestEnv::new();
    let model = start_model(undoing);
    let u = updated(&env, &model);
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("had lost the merge of main"),
        "the run did not say why it stopped:\n{err}"
    );
    assert_eq!(env.rev(&u.dir, "agent/t"), u.tip, "a checkpoint was made");
    assert_merge_in_worktree(&u.wt);
    clean(&env, &u.dir);

    let model = start_model(resolving);
    let (code, _, err) = model_agent(&env, &u.dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_merge_holds_both_sides(&env, &u, &resolved());
}
