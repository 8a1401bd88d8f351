//! What a run does with a model that misbehaves: broken tool input goes back to the model as
//! a tool error.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, agent, finish, good_model, plan, sample};
use crate::common::{TestEnv, get};
use crate::fake_model::{FakeModel, Script, current_step, raw_tool, tool, turn};

/// The tool results the request carries in its last message, as (is_error, text).
fn last_results(request: &Value) -> Vec<(bool, String)> {
    let messages = request["messages"].as_array().unwrap();
    messages.last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            (
                b["is_error"].as_bool().unwrap_or(false),
                b["content"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

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
    let results = last_results(&answer);
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
