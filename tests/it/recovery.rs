//! What a run does with a model that misbehaves or a server that keeps failing: broken tool
//! input goes back to the model as a tool error, a task blocked by the planner resumes by
//! replanning, and the stop message (human and `--json`) suggests only what applies.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, agent, finish, good_model, plan, sample};
use crate::common::{TestEnv, get};
use crate::fake_model::{
    FakeModel, FaultPlan, Script, current_step, last_tool_results, raw_tool, tool, turn,
};

/// Step 1 first sends a write whose input is cut off mid-string and a read whose input is a
/// JSON string; once told, it sends them right.
fn sloppy_model(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(1), 0) => vec![
            raw_tool(
                "write_file",
                r##"{"path": "greet.sh", "content": "#!/bin/sh\necho \"Hel"##,
            ),
            raw_tool("read_file", r#""greet.sh""#),
        ],
        (Some(1), 1) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": GOOD_GREET}),
        )],
        (Some(1), _) => finish("Add a --shout flag to greet.sh"),
        _ => good_model(request),
    }
}

#[test]
fn tool_input_that_is_not_a_json_object_goes_back_to_the_model_and_the_run_continues() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(sloppy_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "s", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    let answer = model
        .bodies()
        .into_iter()
        .find(|b| current_step(b) == Some(1) && turn(b) == 1)
        .unwrap();
    let results: Vec<(bool, String)> = last_tool_results(&answer)
        .into_iter()
        .map(|(text, is_error)| (is_error, text))
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results[0].0
            && results[0].1.contains("not valid JSON")
            && results[0].1.contains("nothing was run"),
        "{results:?}"
    );
    assert!(
        results[1].0
            && results[1].1.contains("must be a JSON object")
            && results[1].1.contains("a string"),
        "{results:?}"
    );
    // Nothing of the broken write reached the file; the good one did.
    assert_eq!(env.git(&dir, &["show", "agent/s:greet.sh"]), GOOD_GREET);
    assert_eq!(
        get(&env.trailers(&dir, "agent/s"), "Agent-Step"),
        Some("2/2")
    );
    // The broken calls went back on the wire as calls with an empty object input.
    let sent = &answer["messages"].as_array().unwrap()[1]["content"];
    let inputs: Vec<&Value> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| &b["input"])
        .collect();
    assert_eq!(inputs, vec![&json!({}), &json!({})]);
}

/// Blocks while the user has not resumed; on resume, plans if it is told why it blocked.
fn cautious_planner(request: &Value) -> Vec<Value> {
    let context = request["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    match current_step(request) {
        None if context.contains("Should --shout change the punctuation?") => plan(),
        None => vec![tool(
            "report_blocked",
            json!({"reason": "Should --shout change the punctuation?"}),
        )],
        Some(_) => good_model(request),
    }
}

#[test]
fn a_task_blocked_by_the_planner_resumes_by_replanning_with_the_reason() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(cautious_planner) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "q", "Make it shout"],
    );
    assert_eq!(code, 3, "{err}");
    // No checkpoint: nothing to roll back, nothing to review; the way on is status, resume.
    assert!(!err.contains("rollback"), "{err}");
    assert!(err.contains("git agent resume q"), "{err}");

    let (code, _, err) = agent(&env, &dir, &model, &["resume", "q"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        get(&env.trailers(&dir, "agent/q"), "Agent-Step"),
        Some("2/2")
    );
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/q", "show", "agent/q~2"]))
            .unwrap();
    assert_eq!(plan["status"].as_str(), Some("ready"));
    let status = env.agent_ok(&dir, &["status", "q"]);
    assert!(status.contains("state:       done"), "{status}");
    assert!(!status.contains("question:"), "{status}");
}

/// The `stopped` event of a `--json` run.
fn stopped_event(stdout: &str) -> Value {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["type"] == "stopped")
        .unwrap()
}

#[test]
fn the_stop_message_suggests_what_applies_the_same_in_json() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, out, _) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "j", "Add a --shout flag"],
    );
    assert_eq!(code, 0);
    let stopped = stopped_event(&out);
    assert_eq!(
        stopped["next"],
        json!([
            {"label": "review", "commands": ["git log agent/j", "git agent log j", "git agent diff j"]},
            {"label": "merge", "commands": ["git agent merge j"]},
            {"label": "undo", "commands": ["git agent rollback j --steps 1"]},
        ])
    );
    assert_eq!(stopped["hint"], Value::Null);
    assert_eq!(stopped["usage"]["turns"].as_u64(), Some(model.books().0));

    // The same run for people.
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "h", "Add a --shout flag"],
    );
    assert_eq!(code, 0);
    assert!(
        err.contains("  review:   git log agent/h   ·   git agent log h   ·   git agent diff h\n  merge:    git agent merge h\n  undo:     git agent rollback h --steps 1\n  usage:    "),
        "{err}"
    );
}

#[test]
fn a_server_that_stays_overloaded_or_a_prompt_too_long_stops_with_a_hint() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let always: Arc<FaultPlan> = Arc::new(|_, _| Some("529"));
    let model =
        FakeModel::start_with_plan(Arc::new(good_model) as Arc<Script>, Duration::ZERO, always);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "o", "Add a --shout flag"],
    );
    assert_eq!(code, 1, "{err}");
    let stopped = stopped_event(&out);
    assert!(
        stopped["detail"]
            .as_str()
            .unwrap()
            .contains("gave up after 5 attempts"),
        "{stopped}"
    );
    let hint = stopped["hint"].as_str().unwrap();
    assert!(
        hint.contains("overloaded") && hint.contains("resume"),
        "{hint}"
    );
    assert_eq!(
        stopped["next"],
        json!([{"label": "continue", "commands": ["git agent resume o"]}])
    );

    let env = TestEnv::new();
    let dir = sample(&env, "");
    let overflow: Arc<FaultPlan> = Arc::new(|n, _| (n >= 1).then_some("overflow"));
    let model = FakeModel::start_with_plan(
        Arc::new(good_model) as Arc<Script>,
        Duration::ZERO,
        overflow,
    );
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "l", "Add a --shout flag"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("hint:     the conversation is longer than the model's context window"),
        "{err}"
    );
    let status = env.agent_ok(&dir, &["status", "l"]);
    assert!(
        status.contains("hint:        the conversation is longer"),
        "{status}"
    );
    assert_eq!(model.bodies().len(), 2, "a prompt too long is not retried");
}
