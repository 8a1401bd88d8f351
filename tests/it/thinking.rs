//! A whole run with thinking on, against the fake Anthropic server: the planner thinks at its
//! default level, the executor at the level git config sets; every thinking block goes back
//! to the server unchanged in the rest of its tool loop; what the model thought reaches
//! neither the terminal nor git; the tokens it cost are in git's books.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::accounting::assert_books;
use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, turn};
use crate::merge_daily::git_agent;

/// What the model thinks before answering turn `turn` of `step` (`None`: planning): control
/// characters a terminal would obey, a right-to-left override, the key in use, and a marker
/// to look for.
fn thoughts(step: Option<u32>, turn: usize) -> Vec<Value> {
    let thinking = format!(
        "PONDERING {step:?}/{turn}: the key is {KEY}; \u{1b}]0;owned\u{7}\u{1b}[2J \u{202e}desrever — héllo 😀\nnext line"
    );
    let signature = format!("EqQBCkYIBhgCIkD0bX8+a4/{}/{turn}+w==", step.unwrap_or(0));
    let redacted = format!("EmwKAhgBEgy3va3pzix/Laf+{}/{turn}=", step.unwrap_or(0));
    vec![
        json!({"type": "thinking", "thinking": thinking, "signature": signature}),
        json!({"type": "redacted_thinking", "data": redacted}),
    ]
}

/// The good model, thinking before every answer.
fn thinking_model(request: &Value) -> Vec<Value> {
    let mut blocks = thoughts(current_step(request), turn(request));
    blocks.extend(good_model(request));
    blocks
}

#[test]
fn a_run_with_thinking_completes_and_sends_every_thinking_block_back_unchanged() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    env.git(&dir, &["config", "agent.thinking", "low"]);
    // A model that thinks within a budget (the default model's thinking is adaptive).
    env.git(&dir, &["config", "agent.model", "claude-sonnet-4-5"]);
    let model = FakeModel::start(Arc::new(thinking_model) as Arc<Script>, Duration::ZERO);
    let out = git_agent(
        &env,
        &dir,
        &["start", "--json", "--name", "t", "Add a --shout flag"],
    )
    .env("ANTHROPIC_BASE_URL", &model.url)
    .env("ANTHROPIC_API_KEY", KEY)
    .output()
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    let requests = model.requests.lock().unwrap().clone();
    assert!(requests.len() >= 6, "{} requests", requests.len());
    for (headers, body) in &requests {
        let step = current_step(body);
        // The planner thinks at its default (medium), the executor at git config's `low`; the
        // budget comes on top of the answer's 8192 tokens.
        let budget = if step.is_none() { 8192 } else { 2048 };
        assert_eq!(
            (&body["thinking"], &body["max_tokens"]),
            (
                &json!({"type": "enabled", "budget_tokens": budget}),
                &json!(8192 + budget)
            ),
            "step {step:?}"
        );
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("anthropic-beta: interleaved-thinking-2025-05-14\r\n"),
            "{headers}"
        );
        // Every earlier answer of this tool loop starts with the blocks the server sent for
        // it, as they were sent.
        let answers: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant")
            .collect();
        for (n, answer) in answers.iter().enumerate() {
            let sent = thoughts(step, n);
            let back = &answer["content"].as_array().unwrap()[..sent.len()];
            assert_eq!(back, &sent[..], "step {step:?}, answer {n}");
        }
    }
    // At least one request of each kind carried thinking back.
    assert!(
        requests
            .iter()
            .any(|(_, b)| current_step(b).is_some() && turn(b) >= 2)
    );

    // What the model thought is never shown nor stored.
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains("PONDERING"), "{what}: {text}");
        assert!(!text.contains("desrever"), "{what}: {text}");
    }
    // The events (what --json prints, what the terminal display and `watch` render) carry
    // the answers' text, not the thinking.
    assert!(
        stdout.contains(r#"{"type":"model_text","text":"Planning."}"#),
        "{stdout}"
    );
    let run_log = std::fs::read_to_string(dir.join(".git/agent/runs/t.jsonl")).unwrap();
    assert!(run_log.contains("task_started"), "{run_log}");
    assert!(!run_log.contains("PONDERING"), "{run_log}");
    let everything = env.git(&dir, &["log", "--all", "-p", "--notes=agent/*"]);
    assert!(!everything.contains("PONDERING"), "{everything}");
    assert!(!everything.contains(KEY), "the key reached git");

    // Thinking is billed as output: git's books are the server's, token for token.
    assert_books(&env, &dir, "t", &model);
    env.fsck(&dir);

    let config = env.agent_ok(&dir, &["config"]);
    let shown: Vec<String> = config
        .lines()
        .filter(|l| l.contains("thinking"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        shown,
        [
            "thinking low # git config agent.*",
            "planner_thinking medium # default"
        ]
    );
}

/// One line of a recording: `content` answered on `model` with these tokens.
fn recorded(content: Value, input: u64, output: u64, reasoning: u64) -> String {
    json!({"model": "o4-mini", "stop_reason": "tool_use", "content": content,
           "usage": {"input_tokens": input, "output_tokens": output, "reasoning_tokens": reasoning}})
    .to_string()
}

/// The note `git notes` shows on `rev`, parsed.
fn note(env: &TestEnv, dir: &std::path::Path, rev: &str) -> toml::Value {
    toml::from_str(&env.git(dir, &["notes", "--ref", "agent/r", "show", rev])).unwrap()
}

/// Reasoning tokens a provider reports are recorded in git beside the output tokens they are
/// part of: the planner's in the plan note, the executor's in the checkpoint record.
#[test]
fn reasoning_tokens_are_recorded_in_git_with_the_usage_they_are_part_of() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let plan = json!([{"type": "tool_use", "id": "t1", "name": "submit_plan", "input": {
        "objective": "add notes", "constraints": [], "acceptance_criteria": ["sh test.sh passes"],
        "test_command": "sh test.sh", "steps": [{"title": "Write NOTES.md", "detail": "one line"}]}}]);
    let write = json!([{"type": "tool_use", "id": "t2", "name": "write_file",
                        "input": {"path": "NOTES.md", "content": "notes\n"}}]);
    let finish = json!([{"type": "tool_use", "id": "t3", "name": "finish_step", "input": {
        "summary": "Write NOTES.md", "expected_outcome": "tests pass", "risks": "none", "next_step": "done"}}]);
    let session = [
        recorded(plan, 1000, 500, 320),
        recorded(write, 800, 90, 64),
        recorded(finish, 900, 40, 16),
    ]
    .join("\n");
    let replay = env.root.path().join("session.jsonl");
    std::fs::write(&replay, session).unwrap();
    let out = git_agent(
        &env,
        &dir,
        &[
            "start",
            "--name",
            "r",
            "--provider",
            "replay",
            "--replay-file",
            replay.to_str().unwrap(),
            "Add notes",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let plan_note = note(&env, &dir, "agent/r~1");
    let record = note(&env, &dir, "agent/r");
    let tokens = |usage: &toml::Value| {
        ["output_tokens", "reasoning_tokens"].map(|k| usage[k].as_integer().unwrap())
    };
    assert_eq!(
        (tokens(&plan_note["planner_usage"]), tokens(&record)),
        ([500, 320], [90 + 40, 64 + 16])
    );
    env.fsck(&dir);
}
