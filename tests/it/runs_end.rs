//! Every run ends: each way a try can end without a checkpoint counts as a failed try,
//! is recorded in the plan's `attempts`, and goes through tries → rollback → replan →
//! `blocked`; budgets warn at 80 %. A property test drives the loop with a model that
//! answers at random, over many seeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{KEY, agent, plan, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, raw_tool, text, tool, turn};

/// The plan's attempts: the plan note sits on the task commit, the branch's first commit
/// past `main`.
fn attempts(env: &TestEnv, dir: &std::path::Path, slug: &str) -> Vec<toml::Table> {
    let task_commit = env
        .git(
            dir,
            &[
                "rev-list",
                "--first-parent",
                "--reverse",
                &format!("main..agent/{slug}"),
            ],
        )
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let note = env.git(
        dir,
        &[
            "notes",
            "--ref",
            &format!("agent/{slug}"),
            "show",
            &task_commit,
        ],
    );
    let plan: toml::Table = toml::from_str(&note).unwrap();
    plan.get("attempts")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_table().cloned()).collect())
        .unwrap_or_default()
}

/// The measured case of the issue: a model sure that its AWS key pair is a test fixture
/// writes it and finishes, again and again. The run stops by itself, blocked, with every
/// refused try in the plan's attempts, after a bounded number of model turns.
#[test]
fn a_change_the_secret_scan_keeps_refusing_ends_blocked_with_its_tries_recorded() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let script: Arc<Script> = Arc::new(|request: &Value| {
        match (current_step(request), turn(request)) {
            (None, _) => plan(),
            (Some(_), 0) => vec![tool(
                "write_file",
                json!({"path": "fixture.env", "content": "AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1\n"}),
            )],
            (Some(_), _) => crate::agent_e2e::finish("add the test fixture"),
        }
    });
    let model = FakeModel::start(script, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "fix", "Add a fixture"],
    );
    assert_eq!(code, 3, "{err}");
    let tries: Vec<_> = attempts(&env, &dir, "fix")
        .into_iter()
        .filter(|a| a.get("kind").and_then(|k| k.as_str()) == Some("try"))
        .collect();
    // 3 tries per plan, the first plan and 2 replans.
    assert_eq!(tries.len(), 9, "{err}");
    assert!(
        tries
            .iter()
            .all(|t| t["reason"].as_str().unwrap().contains("refused"))
    );
    // Planner turns plus two turns per try: far from 5,511.
    let requests = model.bodies().len();
    assert!(requests <= 3 + 9 * 2, "{requests} model turns");
    assert_in_no_object(&env, &dir, "AKIAQWERTYUIOPASDFGH");
    env.fsck(&dir);
}

fn assert_in_no_object(env: &TestEnv, dir: &std::path::Path, secret: &str) {
    let out = env
        .git_cmd(dir, &["cat-file", "--batch-all-objects", "--batch"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
}

/// A model that repeats one call, one that only talks, one that sends broken input, and one
/// that never finishes: each try ends, is recorded with its reason, and the run ends blocked.
#[test]
fn loops_silence_broken_input_and_endless_steps_each_end_a_try() {
    let cases: Vec<(&str, Arc<Script>, &str)> = vec![
        (
            "loop",
            Arc::new(|r: &Value| match current_step(r) {
                None => plan(),
                Some(_) => vec![tool("read_file", json!({"path": "greet.sh"}))],
            }),
            "repeated 3 times",
        ),
        (
            "quiet",
            Arc::new(|r: &Value| match current_step(r) {
                None => plan(),
                Some(_) => vec![text("I think the change is done.")],
            }),
            "called no tool",
        ),
        (
            "broken",
            Arc::new(|r: &Value| match current_step(r) {
                None => plan(),
                Some(_) => vec![raw_tool(
                    "write_file",
                    &format!("{{\"path\": \"x{}", turn(r)),
                )],
            }),
            "malformed input",
        ),
        (
            "endless",
            Arc::new(|r: &Value| match current_step(r) {
                None => plan(),
                Some(_) => vec![tool(
                    "read_file",
                    json!({"path": "greet.sh", "offset": turn(r) + 1}),
                )],
            }),
            "not finished in 5 model turns",
        ),
    ];
    for (slug, script, reason) in cases {
        let env = TestEnv::new();
        let dir = sample(&env, "step_attempts = 2\nreplans = 1\nmax_step_turns = 5\n");
        let model = FakeModel::start(script, Duration::ZERO);
        let (code, _, err) = agent(
            &env,
            &dir,
            &model,
            &["start", "--name", slug, "Add a --shout flag"],
        );
        assert_eq!(code, 3, "{slug}: {err}");
        let tries: Vec<_> = attempts(&env, &dir, slug)
            .into_iter()
            .filter(|a| a.get("kind").and_then(|k| k.as_str()) == Some("try"))
            .collect();
        assert_eq!(
            tries.len(),
            4,
            "{slug}: 2 tries × (1 plan + 1 replan): {err}"
        );
        assert!(
            tries
                .iter()
                .all(|t| t["reason"].as_str().unwrap().contains(reason)),
            "{slug}: {tries:?}"
        );
        assert!(err.contains("try of step 1 ended: "), "{slug}: {err}");
        env.fsck(&dir);
    }
}

/// Failed tries are in git, so a resume counts them: a run stopped after one failed try
/// resumes at the step's second attempt, not its first.
#[test]
fn failed_tries_count_across_a_resume() {
    let env = TestEnv::new();
    let dir = sample(&env, "step_attempts = 3\n");
    let script: Arc<Script> = Arc::new(|r: &Value| match current_step(r) {
        None => plan(),
        Some(_) => vec![tool("read_file", json!({"path": "greet.sh"}))],
    });
    let model = FakeModel::start(script, Duration::ZERO);
    // Planner 1 turn, then 3 turns end the first try (a loop), and the budget stops the run.
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "again",
            "--max-turns",
            "5",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("try of step 1 ended"), "{err}");
    let out = env
        .agent_cmd(&dir, &["--json", "resume", "again", "--max-turns", "8"])
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stdout);
    let attempts: Vec<u64> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "step_started")
        .filter_map(|e| e["attempt"].as_u64())
        .collect();
    assert_eq!(attempts.first(), Some(&2), "{events}");
}

/// At 80 % of a budget the run warns once, on the terminal and as a `--json` event.
#[test]
fn a_budget_warns_at_eighty_percent_once() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let script: Arc<Script> = Arc::new(|r: &Value| match current_step(r) {
        None => plan(),
        Some(_) => vec![tool(
            "read_file",
            json!({"path": "greet.sh", "offset": turn(r) + 1}),
        )],
    });
    let model = FakeModel::start(script, Duration::ZERO);
    let out = env
        .agent_cmd(
            &dir,
            &[
                "--json",
                "start",
                "--name",
                "warn",
                "--max-turns",
                "10",
                "goal",
            ],
        )
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let warnings: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "budget_warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["budget"], "turns");
    assert_eq!(warnings[0]["used"], "8");
    assert_eq!(warnings[0]["limit"], "10");
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "warn2", "--max-turns", "10", "goal"],
    );
    assert_eq!(code, 4);
    assert!(err.contains("budget: 8 of 10 turns spent (80 %)"), "{err}");
}

/// The random model: every tool, valid and invalid input, text, repeats.
fn random_answer(rng: &mut fastrand::Rng, request: &Value) -> Vec<Value> {
    if current_step(request).is_none() {
        return match rng.u8(..10) {
            0 => vec![text("I am not sure.")],
            1 => vec![tool("report_blocked", json!({"reason": "unclear"}))],
            2 => vec![raw_tool("submit_plan", "{\"objective\": ")],
            _ => {
                let steps: Vec<Value> = (0..rng.usize(1..4))
                    .map(|i| json!({"title": format!("step {i}"), "detail": "do it"}))
                    .collect();
                vec![tool(
                    "submit_plan",
                    json!({"objective": "x", "constraints": [], "acceptance_criteria": [],
                           "test_command": if rng.bool() { "sh test.sh" } else { "false" },
                           "steps": steps}),
                )]
            }
        };
    }
    let path = [
        "greet.sh",
        "test.sh",
        "new.txt",
        "dir/f",
        "../escape",
        ".git/config",
        "/etc/passwd",
    ][rng.usize(..7)];
    let call = match rng.u8(..16) {
        0 => tool("read_file", json!({"path": path})),
        1 => tool("list_files", json!({})),
        2 => {
            let pattern = ["greet", "(", "x"][rng.usize(..3)];
            tool("search", json!({"pattern": pattern}))
        }
        3 | 4 => tool(
            "write_file",
            json!({"path": path, "content": format!("v{}\n", rng.u8(..4))}),
        ),
        5 => tool(
            "edit_file",
            json!({"path": path, "old_text": "Hello", "new_text": "Hi"}),
        ),
        6 => {
            let command = ["true", "echo hi", "sh test.sh", "git push", "exit 3"][rng.usize(..5)];
            tool("run_command", json!({"command": command}))
        }
        7 | 8 => crate::agent_e2e::finish("done")[0].clone(),
        9 => tool("report_blocked", json!({"reason": "stuck"})),
        10 => raw_tool(
            ["write_file", "read_file", "run_command"][rng.usize(..3)],
            "{\"path\": ",
        ),
        11 => tool("read_file", json!("not an object")),
        12 => tool("no_such_tool", json!({})),
        13 => text("thinking out loud"),
        _ => tool("read_file", json!({"path": "greet.sh"})),
    };
    vec![call]
}

/// The property: whatever the model answers, every run ends with a stop record, an exit
/// code of the table, within the turn bound the configuration implies, and the repository
/// stays `fsck --strict` clean. `GIT_AGENT_PROPERTY_SEEDS` seeds (CI: 200).
#[test]
fn a_model_answering_at_random_always_ends_within_the_bound() {
    let seeds: u64 = std::env::var("GIT_AGENT_PROPERTY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // The bound: per plan (the first and each replan) at most max_steps × step_attempts
    // tries of max_step_turns turns, plus the planner's turns.
    let (steps, tries, turns, replans) = (3u64, 2u64, 4u64, 1u64);
    let bound = (replans + 1) * (steps * tries * turns + 4) + 4;
    let config = format!(
        "step_attempts = {tries}\nreplans = {replans}\nmax_step_turns = {turns}\nmax_steps = {steps}\ncommand_timeout = \"10s\"\n"
    );
    let failures = Mutex::new(Vec::new());
    let threads = 2;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (failures, config) = (&failures, &config);
            scope.spawn(move || {
                for seed in (1 + t..=seeds).step_by(threads as usize) {
                    let env = TestEnv::new();
                    let dir = sample(&env, config);
                    let rng = Mutex::new(fastrand::Rng::with_seed(seed));
                    let script: Arc<Script> =
                        Arc::new(move |r: &Value| random_answer(&mut rng.lock().unwrap(), r));
                    let model = FakeModel::start(script, Duration::ZERO);
                    let (code, _, err) =
                        agent(&env, &dir, &model, &["start", "--name", "p", "goal"]);
                    let requests = model.bodies().len() as u64;
                    let mut problems = Vec::new();
                    if ![0, 1, 3, 4].contains(&code) {
                        problems.push(format!("exit code {code}"));
                    }
                    if requests > bound {
                        problems.push(format!("{requests} model turns > bound {bound}"));
                    }
                    if err.contains("panicked") {
                        problems.push("panic".into());
                    }
                    let branch = env.git(&dir, &["branch", "--list", "agent/p"]);
                    if !branch.trim().is_empty() {
                        let notes =
                            env.git(&dir, &["log", "-p", "--format=", "refs/notes/agent/p"]);
                        if !notes.contains("[stop]")
                            && !notes.contains("[plan.stop]")
                            && !notes.contains("stop =")
                        {
                            problems.push("no stop record".into());
                        }
                    }
                    let fsck = env
                        .git_cmd(&dir, &["fsck", "--strict", "--no-dangling"])
                        .output()
                        .unwrap();
                    if !fsck.status.success() {
                        problems.push(format!("fsck: {}", String::from_utf8_lossy(&fsck.stderr)));
                    }
                    if !problems.is_empty() {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("seed {seed}: {}\n{err}", problems.join("; ")));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
