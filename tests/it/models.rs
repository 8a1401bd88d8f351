//! `git agent models`: the table of known models with prices and context windows, the defaults
//! marked, and the models configured here, one outside the table said to have no price.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common::TestEnv;

/// The lines of `git agent models` that start with one of `names` (a row or a footnote).
fn lines_of(out: &str, names: &[&str]) -> Vec<String> {
    out.lines()
        .filter(|line| names.iter().any(|n| line.starts_with(&format!("{n} "))))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_defaults_are_the_vendors_current_coding_models_and_marked_so() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let out = env.agent_ok(&repo, &["models"]);
    assert_eq!(
        lines_of(
            &out,
            &["model", "claude-opus-5-5", "claude-sonnet-4", "gpt-5.5"]
        ),
        vec![
            "model              provider   input  output  cache write  cache read  context  use",
            "claude-opus-5-5    anthropic   4.00   20.00         5.00        0.20  1M       default, planner, executor",
            "claude-sonnet-4    anthropic   3.00   15.00         3.75        0.30  200K",
            "gpt-5.5            openai      5.00   30.00            -        0.50  1M       default",
        ]
    );
    assert_eq!(
        out.lines().rev().take(2).collect::<Vec<_>>(),
        vec![
            "Configured here: provider anthropic, planner claude-opus-5-5, executor claude-opus-5-5.",
            "gpt-5.4: a prompt over 272K tokens pays 5.00 / 22.50 / - / 0.50 for every token.",
        ]
    );
    // The configuration's own view agrees.
    let config = env.agent_ok(&repo, &["config"]);
    assert!(
        config.contains("model                  claude-opus-5-5"),
        "{config}"
    );
}

#[test]
fn a_configured_model_outside_the_table_is_listed_as_unpriced() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.git(&repo, &["config", "agent.provider", "openai"]);
    env.git(&repo, &["config", "agent.model", "llama3.1:8b"]);
    env.git(
        &repo,
        &["config", "agent.plannerModel", "openai/gpt-5.4-2026-03-05"],
    );
    let out = env.agent_ok(&repo, &["models"]);
    assert_eq!(
        out.lines().rev().take(2).collect::<Vec<_>>(),
        vec![
            "llama3.1:8b (executor) has no known price: its calls are recorded at $0 (unless the server's answers name a model that has one, as Azure's do), so max_cost may not stop a run; max_turns and max_tokens still do.",
            "Configured here: provider openai, planner openai/gpt-5.4-2026-03-05 (priced as gpt-5.4), executor llama3.1:8b.",
        ]
    );
    assert_eq!(
        lines_of(&out, &["gpt-5.4", "gpt-5.5"]),
        vec![
            "gpt-5.4            openai      2.50   15.00            -        0.25  1.05M    planner",
            "gpt-5.5            openai      5.00   30.00            -        0.50  1M       default",
        ]
    );

    let json = env.agent_ok(&repo, &["--json", "models"]);
    let models: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let named = |name: &str| models.iter().find(|m| m["name"] == name).cloned();
    assert_eq!(
        (named("llama3.1:8b"), named("gpt-5.4")),
        (
            Some(
                json!({"type": "model", "known": false, "name": "llama3.1:8b", "provider": "openai",
                        "price": null, "long_context": null, "context_window": null, "default": false,
                        "configured_as": ["executor"]})
            ),
            Some(
                json!({"type": "model", "known": true, "name": "gpt-5.4", "provider": "openai",
                        "price": {"input": 2.5, "output": 15.0, "cache_write": 0.0, "cache_read": 0.25},
                        "long_context": {"above_tokens": 272000,
                                         "price": {"input": 5.0, "output": 22.5, "cache_write": 0.0, "cache_read": 0.5}},
                        "context_window": 1050000, "default": false, "configured_as": ["planner"]})
            ),
        )
    );
    assert_eq!(
        models
            .iter()
            .filter(|m| m["default"] == true)
            .map(|m| m["name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("claude-opus-5-5"), json!("gpt-5.5")]
    );
}
