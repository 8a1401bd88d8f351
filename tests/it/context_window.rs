//! A long step against a model with a small context window: the fake server enforces a
//! 100,000-token window and answers a longer request as Anthropic does ("prompt is too
//! long: N tokens > M maximum"); a 120-turn step that reads a big file every turn completes,
//! old results cleared with a note, the latest turns whole, and git's books are the server's.

use std::sync::Arc;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::accounting::assert_books;
use crate::agent_e2e::{agent, finish, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, last_tool_results, tool, turn};
use crate::mcp_client::one_step_plan;

const WINDOW: u64 = 100_000;
const TURNS: usize = 120;
const FILES: usize = 30;

/// A repository with big files to read: about 20 KB each, far more than 120 turns of them fit
/// in the window.
fn repository(env: &TestEnv, config: &str) -> std::path::PathBuf {
    let dir = sample(env, &format!("max_step_turns = {}\n{config}", TURNS + 10));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in 0..FILES {
        let text: String = (0..300)
            .map(|i| format!("file {f} line {i:03}: the quick brown fox jumps over the lazy dog\n"))
            .collect();
        std::fs::write(dir.join(format!("data/f{f:02}.txt")), text).unwrap();
    }
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "data"]);
    dir
}

/// Reads a different big file every turn, then finishes. (The step's prompts add up to
/// millions of tokens, more than the default $10 budget buys: the runs get $100.)
fn reader(request: &Value) -> Vec<Value> {
    if current_step(request).is_none() {
        return one_step_plan();
    }
    let t = turn(request);
    if t < TURNS {
        vec![tool(
            "read_file",
            json!({"path": format!("data/f{:02}.txt", t % FILES)}),
        )]
    } else {
        finish("Read every data file")
    }
}

const NOTE: &str = "[result of read_file cleared to save context; run it again if needed]";

/// What every executor request the server answered shows: its size, and how many results
/// it held whole and cleared.
fn check_answered_requests(model: &FakeModel) -> (usize, usize) {
    let bodies = model.bodies();
    let executor: Vec<&Value> = bodies
        .iter()
        .filter(|b| current_step(b).is_some())
        .collect();
    let mut most_cleared = 0;
    let mut answered = 0;
    for body in &executor {
        let tokens = body.to_string().len() as u64 / 4;
        if tokens > WINDOW {
            continue;
        }
        answered += 1;
        // The latest result always arrives whole.
        if turn(body) > 0 {
            let (latest, is_error) = &last_tool_results(body)[0];
            assert!(!is_error && latest.starts_with("     1\tfile "), "{latest}");
        }
        let cleared = body.to_string().matches(NOTE).count();
        most_cleared = most_cleared.max(cleared);
    }
    (answered, most_cleared)
}

#[test]
fn a_120_turn_step_against_a_100k_window_completes_after_one_refusal_teaches_the_window() {
    let env = TestEnv::new();
    // The model's known window is 200,000 tokens: the server's smaller one is learned from
    // its first refusal.
    let dir = repository(&env, "");
    let model = FakeModel::start_with_window(Arc::new(reader) as Arc<Script>, WINDOW);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "w", "--max-cost", "100", "Read the data"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("Stopped: done."), "{err}");

    // Refused once, cleared, sent again; never refused after that.
    assert_eq!(*model.faults.lock().unwrap(), vec!["over_window"]);
    let (answered, most_cleared) = check_answered_requests(&model);
    assert_eq!(answered, TURNS + 1);
    assert!(
        most_cleared > TURNS / 2,
        "{most_cleared} results cleared at most"
    );

    // One planner answer and 121 executor answers, every token of them in git.
    let (served, ..) = model.books();
    assert_eq!(served, 1 + TURNS as u64 + 1);
    assert_books(&env, &dir, "w", &model);
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/w"]),
        "Read every data file\n"
    );
    env.fsck(&dir);
}

#[test]
fn a_configured_window_is_kept_without_a_single_refusal() {
    let env = TestEnv::new();
    let dir = repository(&env, &format!("context_window = {WINDOW}\n"));
    let model = FakeModel::start_with_window(Arc::new(reader) as Arc<Script>, WINDOW);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "c", "--max-cost", "100", "Read the data"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(*model.faults.lock().unwrap(), Vec::<&str>::new());
    let (answered, most_cleared) = check_answered_requests(&model);
    assert_eq!(answered, TURNS + 1);
    assert!(
        most_cleared > TURNS / 2,
        "{most_cleared} results cleared at most"
    );
    assert_books(&env, &dir, "c", &model);
    env.fsck(&dir);
}
