//! Every model turn accounted. The fake server keeps the provider's books (every answer it
//! delivered whole, with its tokens); after any run — stopped by done, blocked, budget, an
//! error, Ctrl-C or `kill -9` — the usage summed from git must match them:
//!
//! - done, blocked, budget, error, Ctrl-C: exactly (turns, tokens, and cost to rounding);
//! - `kill -9`: exactly, or less by the one answer in flight (delivered, but killed before
//!   its usage note landed) — never more, never two.
//!
//! Budgets are enforced on that sum: a resume with the same `--max-turns` makes no call.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{KEY, agent, good_model, plan, sample};
use crate::common::{Running, TestEnv, worktree};
use crate::fake_model::{FakeModel, FaultPlan, Script, current_step, tool, turn};

/// (turns, tokens, cost) of a task as git-agent sums them from git (`status --json`).
pub fn recorded(env: &TestEnv, dir: &Path, slug: &str) -> (u64, u64, f64) {
    let out = env.agent_ok(dir, &["--json", "status", slug]);
    let status: Value = serde_json::from_str(out.trim()).unwrap();
    (
        status["turns"].as_u64().unwrap(),
        status["tokens"].as_u64().unwrap(),
        status["cost_usd"].as_f64().unwrap(),
    )
}

/// (turns, tokens) summed straight from the notes, as README's data-model table describes
/// them: the plan's `planner_usage` and `pending`, every record's usage and `pending`.
fn notes_sum(env: &TestEnv, dir: &Path, slug: &str) -> (u64, u64) {
    let notes_ref = format!("agent/{slug}");
    let list = env.git(dir, &["notes", "--ref", &notes_ref, "list"]);
    let (mut turns, mut tokens) = (0, 0);
    let mut add = |usage: &toml::Value| {
        let n = |k: &str| usage.get(k).and_then(toml::Value::as_integer).unwrap_or(0) as u64;
        turns += n("turns");
        tokens += n("input_tokens")
            + n("output_tokens")
            + n("cache_read_tokens")
            + n("cache_write_tokens");
    };
    for line in list.lines() {
        let object = line.split_whitespace().nth(1).unwrap();
        let note: toml::Value =
            toml::from_str(&env.git(dir, &["notes", "--ref", &notes_ref, "show", object])).unwrap();
        if note.get("goal").is_some() {
            if let Some(usage) = note.get("planner_usage") {
                add(usage);
            }
            // What attempts spent outside their records (docs/data-model.md#attempts).
            let rounds = note.get("parallel").and_then(toml::Value::as_array);
            for result in rounds.into_iter().flatten().flat_map(|round| {
                round
                    .get("results")
                    .and_then(toml::Value::as_array)
                    .into_iter()
                    .flatten()
            }) {
                if let Some(usage) = result.get("plan_usage") {
                    add(usage);
                }
            }
        } else {
            add(&note);
        }
        if let Some(pending) = note.get("pending") {
            add(pending);
        }
    }
    (turns, tokens)
}

/// git's sums equal the server's books, both ways of reading git.
pub fn assert_books(env: &TestEnv, dir: &Path, slug: &str, model: &FakeModel) {
    let (answers, input, output, cost) = model.books();
    let (turns, tokens, recorded_cost) = recorded(env, dir, slug);
    assert_eq!(
        (turns, tokens),
        (answers, input + output),
        "git holds {turns} turns and {tokens} tokens; the server delivered {answers} answers of {} tokens",
        input + output
    );
    assert!(
        (recorded_cost - cost).abs() < 1e-6 * (answers as f64 + 2.0),
        "git holds ${recorded_cost}, the server billed ${cost}"
    );
    assert_eq!(
        notes_sum(env, dir, slug),
        (turns, tokens),
        "notes of {slug}"
    );
}

/// Plans two steps, then reads README.md forever: a step with no file change.
/// Reads on and on, a different line each turn (the same call again and again would be a
/// loop, which ends the try).
fn reader(request: &Value) -> Vec<Value> {
    match current_step(request) {
        None => plan(),
        Some(_) => vec![tool(
            "read_file",
            json!({"path": "README.md", "offset": crate::fake_model::turn(request) + 1}),
        )],
    }
}

fn no_faults() -> Arc<FaultPlan> {
    Arc::new(|_, _| None)
}

#[test]
fn a_budget_stop_with_nothing_to_checkpoint_records_every_turn_and_holds_across_resumes() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(reader) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "b",
            "--max-turns",
            "6",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert_eq!(model.books().0, 6, "{err}");
    assert_books(&env, &dir, "b", &model);
    // The stop line says what git says.
    let (turns, tokens, cost) = recorded(&env, &dir, "b");
    assert!(
        err.contains(&format!(
            "usage:    {turns} turns · {tokens} tokens · ${cost:.4}"
        )),
        "{err}"
    );
    for _ in 0..2 {
        let (code, _, err) = agent(&env, &dir, &model, &["resume", "b", "--max-turns", "6"]);
        assert_eq!(code, 4, "{err}");
        assert!(err.contains("6 model turns used of --max-turns 6"), "{err}");
    }
    assert_eq!(model.books().0, 6, "a resume made calls past the budget");
    assert_books(&env, &dir, "b", &model);
    // A larger budget continues from the same count.
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "b", "--max-turns", "9"]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(model.books().0, 9);
    assert_books(&env, &dir, "b", &model);
    env.fsck(&dir);
}

#[test]
fn an_error_inside_a_step_with_no_change_and_a_planner_error_record_what_was_answered() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    // The third request (the step's second turn) is too long for the model: a permanent 400.
    let faults: Arc<FaultPlan> = Arc::new(|n, _| (n == 2).then_some("overflow"));
    let model = FakeModel::start_with_plan(Arc::new(reader) as Arc<Script>, Duration::ZERO, faults);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "e", "Add a --shout flag"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("prompt is too long"), "{err}");
    assert_eq!(model.books().0, 2);
    assert_books(&env, &dir, "e", &model);

    // Planning that fails after two answered planner turns.
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let looker = |request: &Value| match (current_step(request), turn(request)) {
        (None, 0 | 1) => vec![tool("list_files", json!({}))],
        (None, _) => plan(),
        _ => vec![tool("read_file", json!({"path": "README.md"}))],
    };
    let faults: Arc<FaultPlan> = Arc::new(|n, _| (n == 2).then_some("overflow"));
    let model = FakeModel::start_with_plan(Arc::new(looker) as Arc<Script>, Duration::ZERO, faults);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "p", "Add a --shout flag"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(model.books().0, 2);
    assert_books(&env, &dir, "p", &model);
    env.fsck(&dir);
}

#[test]
fn done_and_blocked_runs_record_every_turn() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "d", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    assert_books(&env, &dir, "d", &model);

    // Blocked by the executor after two reads of a step: nothing to checkpoint.
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let stuck = |request: &Value| match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(_), 0 | 1) => vec![tool("read_file", json!({"path": "greet.sh"}))],
        _ => vec![tool(
            "report_blocked",
            json!({"reason": "greet.sh is generated; where is its source?"}),
        )],
    };
    let model = FakeModel::start(Arc::new(stuck) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "x", "Add a --shout flag"],
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(model.books().0, 4);
    assert_books(&env, &dir, "x", &model);
    env.fsck(&dir);
}

#[test]
fn per_turn_usage_leaves_one_notes_commit_between_real_changes() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "h", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    assert_books(&env, &dir, "h", &model);
    let history = env.git(&dir, &["log", "--format=%s", "refs/notes/agent/h"]);
    let usage_only = |s: &str| s == "usage of h" || s == "planning usage of h";
    let subjects: Vec<&str> = history.lines().collect();
    assert!(subjects.iter().any(|s| usage_only(s)), "{history}");
    for pair in subjects.windows(2) {
        assert!(
            !(usage_only(pair[0]) && usage_only(pair[1])),
            "two usage-only notes commits in a row:\n{history}"
        );
    }
    env.fsck(&dir);
}

#[test]
fn ctrl_c_during_a_model_call_records_that_call_too() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model =
        FakeModel::start_with_plan(Arc::new(reader) as Arc<Script>, Duration::ZERO, no_faults());
    // The fourth request is held until the run has taken the Ctrl-C, then answered.
    model.gate.close_from(3);
    let mut cmd = env.agent_cmd(&dir, &["start", "--name", "c", "Add a --shout flag"]);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    let run = Running::spawn(cmd);
    model.gate.wait_for_waiting(crate::support::PATIENCE);
    let status = std::process::Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    run.wait_for_line("interrupted: keeping");
    model.gate.open();
    let (code, _, stderr) = run.finish();
    assert_eq!(code, 130, "{stderr}");
    assert_eq!(model.books().0, 4, "{stderr}");
    assert_books(&env, &dir, "c", &model);
    // The worktree is back at the tip and the task resumes with the same books.
    assert_eq!(
        env.git(&worktree(&dir, "c"), &["status", "--porcelain"]),
        ""
    );
    env.fsck(&dir);
}

/// Killed with SIGKILL at seeded random points, each kill followed by `resume`: after every
/// kill git holds what the server delivered, or that less the one answer in flight.
#[test]
fn kill_9_loses_at_most_the_answer_in_flight() {
    let seed = std::env::var("GIT_AGENT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut rng = fastrand::Rng::with_seed(seed);
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let delay = Duration::from_millis(60);
    let model = FakeModel::start_with_plan(Arc::new(reader) as Arc<Script>, delay, no_faults());
    let mut args = vec![
        "start",
        "--name",
        "k",
        "--max-turns",
        "40",
        "Add a --shout flag",
    ];
    let (mut lost_turns, mut lost_tokens) = (0u64, 0u64);
    let mut kills = 0;
    loop {
        let mut child = env
            .agent_cmd(&dir, &args)
            .env("ANTHROPIC_BASE_URL", &model.url)
            .env("ANTHROPIC_API_KEY", KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The run is killed at a seeded random moment, unless it ended before.
        let at = Duration::from_millis(rng.u64(50..900));
        let mut exited = None;
        crate::support::poll_until(at, || {
            exited = child.try_wait().unwrap();
            exited.is_some()
        });
        if let Some(status) = exited {
            assert_eq!(status.code(), Some(4), "the run ends on its budget");
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // A server thread that was answering finishes its books.
        model.wait_idle();
        env.fsck(&dir);
        if env.git(&dir, &["branch", "--list", "agent/k"]).is_empty() {
            continue;
        }
        let (answers, input, output, _) = model.books();
        let last = model
            .served
            .lock()
            .unwrap()
            .last()
            .copied()
            .unwrap_or_default();
        let (turns, tokens, _) = recorded(&env, &dir, "k");
        let expected = (answers - lost_turns, input + output - lost_tokens);
        // A kill before any answer leaves nothing to lose.
        let one_lost = (
            expected.0.saturating_sub(1),
            expected
                .1
                .saturating_sub(last.input_tokens + last.output_tokens),
        );
        assert!(
            (turns, tokens) == expected || (answers > 0 && (turns, tokens) == one_lost),
            "kill {kills}: git holds {turns} turns / {tokens} tokens; served {expected:?} (less the last: {one_lost:?})"
        );
        if (turns, tokens) != expected {
            lost_turns += 1;
            lost_tokens += last.input_tokens + last.output_tokens;
        }
        args = vec!["resume", "k", "--max-turns", "40"];
    }
    assert!(kills >= 3, "only {kills} kills");
    let (answers, _, _, _) = model.books();
    let (turns, _, _) = recorded(&env, &dir, "k");
    assert_eq!((turns, answers - lost_turns), (40, 40));
    assert!(
        lost_turns <= kills,
        "{lost_turns} turns lost in {kills} kills"
    );
    eprintln!("{kills} kills, {lost_turns} answers in flight lost, {answers} served");
}
