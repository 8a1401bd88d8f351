//! The whole loop through the real binary against a fake model server speaking the
//! Anthropic SSE protocol, on the sample repository of `fixtures/demo/repo`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common::{Running, TestEnv, get, worktree};
use crate::fake_model::{FakeModel, Script, current_step, is_replan, text, tool, turn};

pub const KEY: &str = "sk-ant-api03-test-key-that-must-never-leak-0123456789";
pub const GOOD_GREET: &str = "#!/bin/sh\nshout=no\nif [ \"$1\" = \"--shout\" ]; then shout=yes; shift; fi\ngreeting=\"Hello, $1\"\nif [ \"$shout\" = yes ]; then\n  echo \"$greeting\" | tr '[:lower:]' '[:upper:]'\nelse\n  echo \"$greeting\"\nfi\n";

pub fn sample(env: &TestEnv, policy: &str) -> PathBuf {
    let dir = env.root.path().join("greet");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/repo");
    for name in ["greet.sh", "test.sh", "README.md"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join(".git-agent.toml"), policy).unwrap();
    env.git(&dir, &["init", "-q"]);
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "initial"]);
    dir
}

pub fn plan() -> Vec<Value> {
    vec![
        text("Planning."),
        tool(
            "submit_plan",
            json!({"objective": "add --shout", "constraints": ["keep the plain greeting"], "acceptance_criteria": ["sh test.sh passes"],
                   "test_command": "sh test.sh",
                   "steps": [{"title": "Add --shout to greet.sh", "detail": "branch on the flag"},
                             {"title": "Test --shout", "detail": "add a check to test.sh"}]}),
        ),
    ]
}

pub fn finish(summary: &str) -> Vec<Value> {
    vec![tool(
        "finish_step",
        json!({"summary": summary, "expected_outcome": "tests pass", "risks": "none", "next_step": "next"}),
    )]
}

/// A model that does the job: the plan, then each step in two or three turns.
pub fn good_model(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(1), 0) => vec![tool("read_file", json!({"path": "greet.sh"}))],
        (Some(1), 1) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": GOOD_GREET}),
        )],
        (Some(1), _) => finish("Add a --shout flag to greet.sh"),
        (Some(2), 0) => vec![tool(
            "edit_file",
            json!({"path": "test.sh", "old_text": "echo \"$pass passed",
                   "new_text": "check \"shouts\" \"$(sh greet.sh --shout World)\" \"HELLO, WORLD\"\necho \"$pass passed"}),
        )],
        (Some(_), _) => finish("Test --shout"),
    }
}

/// A model whose step 1 always breaks the plain greeting.
pub fn clumsy_model(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(_), 0) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": "#!/bin/sh\necho \"HELLO, $1\"\n"}),
        )],
        (Some(_), _) => finish("Shout always"),
    }
}

fn refusing_planner(request: &Value) -> Vec<Value> {
    assert!(current_step(request).is_none(), "the executor must not run");
    vec![tool(
        "report_blocked",
        json!({"reason": "Should --shout also change the punctuation? The goal does not say."}),
    )]
}

pub fn agent(env: &TestEnv, dir: &Path, model: &FakeModel, args: &[&str]) -> (i32, String, String) {
    let out = env
        .agent_cmd(dir, args)
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_key_anywhere(env: &TestEnv, dir: &Path, output: &str) {
    assert!(!output.contains(KEY), "the key leaked into the output");
    let everything = env.git(dir, &["log", "--all", "-p", "--notes=agent/*"]);
    assert!(!everything.contains(KEY), "the key leaked into git");
    let refs = env.git(
        dir,
        &["for-each-ref", "--format=%(refname)", "refs/notes/agent"],
    );
    for notes_ref in refs.lines() {
        let history = env.git(dir, &["log", "-p", notes_ref]);
        assert!(!history.contains(KEY), "the key leaked into {notes_ref}");
    }
}

#[test]
fn a_happy_run_plans_checkpoints_every_step_and_leaves_the_checkout_alone() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let head = env.rev(&dir, "HEAD");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("Stopped: done."), "{err}");

    // One checkpoint per step, on top of the task commit, each with a passing harness test run.
    let subjects = env.git(&dir, &["log", "--format=%s", "agent/t"]);
    assert_eq!(
        subjects,
        "Test --shout\nAdd a --shout flag to greet.sh\nagent: start t\ninitial\n"
    );
    let tip = env.trailers(&dir, "agent/t");
    assert_eq!(
        get(&tip, "Agent-Tests"),
        Some("pass (sh test.sh: 2 passed, 0 failed)")
    );
    assert_eq!(get(&tip, "Agent-Step"), Some("2/2"));
    assert_eq!(
        get(&env.trailers(&dir, "agent/t~1"), "Agent-Tests"),
        Some("pass (sh test.sh: 1 passed, 0 failed)")
    );
    assert_eq!(env.git(&dir, &["show", "agent/t:greet.sh"]), GOOD_GREET);

    // The plan note and the records.
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t~2"]))
            .unwrap();
    assert_eq!(plan["status"].as_str(), Some("ready"));
    assert_eq!(plan["steps"].as_array().unwrap().len(), 2);
    assert_eq!(plan["test_command"].as_str(), Some("sh test.sh"));
    let record: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    assert_eq!(record["tests"]["verdict"].as_str(), Some("pass"));
    assert_eq!(record["tests"]["exit_code"].as_integer(), Some(0));
    assert_eq!(record["stop"]["reason"].as_str(), Some("done"));
    assert_eq!(record["provider"].as_str(), Some("anthropic"));
    assert_eq!(record["turns"].as_integer(), Some(2));

    // The user's checkout is untouched.
    assert_eq!(env.rev(&dir, "HEAD"), head);
    assert_eq!(env.git(&dir, &["status", "--porcelain"]), "");
    assert!(
        !std::fs::read_to_string(dir.join("greet.sh"))
            .unwrap()
            .contains("shout")
    );

    // The wire: the planner gets read-only tools, the executor the full set, by exact name.
    let bodies = model.bodies();
    let names = |b: &Value| {
        b["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(names(&bodies[0])),
        sorted(
            [
                "glob",
                "list_files",
                "read_file",
                "report_blocked",
                "search",
                "submit_plan"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(
        sorted(names(&bodies[1])),
        sorted(
            [
                "edit_file",
                "finish_step",
                "glob",
                "list_files",
                "multi_edit",
                "read_file",
                "report_blocked",
                "run_command",
                "search",
                "write_file"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(bodies[1]["stream"], json!(true));
    // A fresh context per step: step 2 starts with one user message.
    let step2 = bodies.iter().find(|b| current_step(b) == Some(2)).unwrap();
    assert_eq!(step2["messages"].as_array().unwrap().len(), 1);
    assert!(
        model
            .raw_headers()
            .to_ascii_lowercase()
            .contains("x-api-key")
    );
    assert_no_key_anywhere(&env, &dir, &format!("{out}{err}"));
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn a_step_that_keeps_failing_is_rolled_back_replanned_and_then_blocked() {
    let env = TestEnv::new();
    let dir = sample(&env, "step_attempts = 2\nreplans = 1\n");
    let model = FakeModel::start(Arc::new(clumsy_model) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    // A checkpoint whose tests failed is not ticked as a success.
    let checkpoints: Vec<&str> = err.lines().filter(|l| l.contains(" checkpoint ")).collect();
    assert!(
        checkpoints.iter().any(|l| l.contains("tests fail")),
        "{err}"
    );
    for line in checkpoints.iter().filter(|l| l.contains("tests fail")) {
        assert!(line.starts_with("  ✗ checkpoint "), "{line}");
    }
    // Back at the task commit; both failed attempts are in the attic, with reasons in the plan.
    assert_eq!(
        env.git(&dir, &["log", "--format=%s", "-1", "agent/t"]),
        "agent: start t\n"
    );
    let attic = env.git(
        &dir,
        &["for-each-ref", "--format=%(refname)", "refs/agent/t/attic"],
    );
    assert_eq!(attic, "refs/agent/t/attic/1\nrefs/agent/t/attic/2\n");
    assert_eq!(
        env.git(&dir, &["log", "--format=%s", "-1", "refs/agent/t/attic/1"]),
        "Shout always\n"
    );
    assert_eq!(
        get(&env.trailers(&dir, "refs/agent/t/attic/1"), "Agent-Tests"),
        Some("fail (sh test.sh: 0 passed, 1 failed)")
    );
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    let attempts = plan["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("step 1 failed 2 tries")
    );
    assert_eq!(plan["replans"].as_integer(), Some(2));
    assert_eq!(plan["stop"]["reason"].as_str(), Some("blocked"));
    // The replan saw the failed attempt.
    assert!(model.bodies().iter().any(|b| {
        is_replan(b)
            && b["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("failed 2 tries")
    }));
    let status = env.agent_ok(&dir, &["status", "t"]);
    assert!(status.contains("state:       blocked"), "{status}");
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn a_budget_stop_holds_across_resumes_and_a_resume_finishes() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "t",
            "--max-turns",
            "3",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("Stopped: budget."), "{err}");
    // The unfinished step's work (greet.sh written) is in the attic, not lost; the worktree is clean.
    let attic = env.rev(&dir, "refs/agent/t/attic/1");
    assert_eq!(
        env.git(&dir, &["show", &format!("{attic}:greet.sh")]),
        GOOD_GREET
    );
    assert_eq!(
        env.git(&worktree(&dir, "t"), &["status", "--porcelain"]),
        ""
    );
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    assert_eq!(plan["stop"]["reason"].as_str(), Some("budget"));

    // Turns are summed from the records in git: the same limit stops a resume at once.
    let before = model.bodies().len();
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "t", "--max-turns", "3"]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(
        model.bodies().len(),
        before,
        "no model call past the budget"
    );

    let (code, _, err) = agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.git(&dir, &["show", "agent/t:greet.sh"]), GOOD_GREET);
    assert_eq!(
        get(&env.trailers(&dir, "agent/t"), "Agent-Step"),
        Some("2/2")
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn a_goal_the_planner_refuses_stops_blocked_with_its_questions() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(refusing_planner) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "q", "Make it shout somehow"],
    );
    assert_eq!(code, 3, "{err}");
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/q", "show", "agent/q"])).unwrap();
    assert_eq!(plan["status"].as_str(), Some("blocked"));
    assert!(
        plan["questions"][0]
            .as_str()
            .unwrap()
            .contains("punctuation")
    );
    assert_eq!(plan["stop"]["reason"].as_str(), Some("blocked"));
    let status = env.agent_ok(&dir, &["status", "q"]);
    assert!(
        status.contains("question:") && status.contains("punctuation"),
        "{status}"
    );
}

#[test]
fn ctrl_c_records_interrupted_and_keeps_the_steps_work_in_the_attic() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The planner, then read and write in step 1 answer; the call that would finish step 1 is
    // held until the run has taken the Ctrl-C.
    model
        .gate
        .close_when(|_, request| current_step(request) == Some(1) && turn(request) >= 2);
    let mut cmd = env.agent_cmd(&dir, &["start", "--name", "c", "Add a --shout flag"]);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    let run = Running::spawn(cmd);
    model.gate.wait_for_waiting(crate::support::PATIENCE);
    let wt = worktree(&dir, "c");
    assert!(
        std::fs::read_to_string(wt.join("greet.sh")).is_ok_and(|t| t.contains("shout")),
        "the run did not write greet.sh before its next call"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    run.wait_for_line("interrupted: keeping");
    model.gate.open();
    let (code, _, stderr) = run.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("Stopped: interrupted."), "{stderr}");
    // Nothing half-done was checkpointed; the step's work is in the attic; the worktree is back at the tip.
    assert_eq!(
        env.git(&dir, &["log", "--format=%s", "-1", "agent/c"]),
        "agent: start c\n"
    );
    let attic = env.rev(&dir, "refs/agent/c/attic/1");
    assert_eq!(
        env.git(&dir, &["show", &format!("{attic}:greet.sh")]),
        GOOD_GREET
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    let plan: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/c", "show", "agent/c"])).unwrap();
    assert_eq!(plan["stop"]["reason"].as_str(), Some("interrupted"));
    // What the unfinished step cost is pending on the tip (the task commit: the plan note),
    // so budgets count it.
    assert!(
        plan["pending"]["turns"].as_integer().unwrap() >= 2,
        "{plan:?}"
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
    // And the task resumes to the end.
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "c"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.git(&dir, &["show", "agent/c:greet.sh"]), GOOD_GREET);
}

/// Writes a key into the change first; after the harness's secret scan complains, removes it.
fn leaky_model(request: &Value) -> Vec<Value> {
    let context = request["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let told = context.contains("The secret scan found secrets");
    let config = if told {
        "API_KEY = os.environ['API_KEY']\n"
    } else {
        "API_KEY = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEF'\n"
    };
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(1), 0) => vec![
            tool(
                "write_file",
                json!({"path": "greet.sh", "content": GOOD_GREET}),
            ),
            tool(
                "write_file",
                json!({"path": "config.py", "content": config}),
            ),
        ],
        (Some(1), _) => finish("Add --shout and config"),
        (Some(2), 0) => vec![tool(
            "edit_file",
            json!({"path": "test.sh", "old_text": "echo \"$pass passed",
                   "new_text": "check \"shouts\" \"$(sh greet.sh --shout World)\" \"HELLO, WORLD\"\necho \"$pass passed"}),
        )],
        (Some(_), _) => finish("Test --shout"),
    }
}

#[test]
fn a_secret_in_the_change_is_never_committed_and_the_model_is_told_where() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(leaky_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "leak", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("secret scan: 1 finding(s); not committed"),
        "{err}"
    );
    let history = env.git(&dir, &["log", "--all", "-p"]);
    assert!(
        !history.contains("sk-ant-api03-abcdefghij"),
        "a secret reached git"
    );
    assert_eq!(
        env.git(&dir, &["show", "agent/leak:config.py"]),
        "API_KEY = os.environ['API_KEY']\n"
    );
    let told = model.bodies().into_iter().find(|b| {
        b["messages"][0]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("The secret scan found secrets"))
    });
    let told = told.expect("the model was told");
    assert!(
        told["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("config.py:1")
    );
}

#[test]
fn the_demo_runs_offline_with_no_key() {
    let env = TestEnv::new();
    let dir = env.root.path().join("demo");
    let out = env
        .agent_cmd(env.root.path(), &["demo", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Stopped: done."), "{stderr}");
    let repo = dir.join("greet");
    // The plan, two green checkpoints, and the rolled-back attempt in the attic.
    assert_eq!(
        get(&env.trailers(&repo, "agent/add-shout"), "Agent-Tests"),
        Some("pass (sh test.sh: 2 passed, 0 failed)")
    );
    assert_eq!(
        env.git(
            &repo,
            &[
                "rev-list",
                "--count",
                "refs/agent/add-shout/attic/1",
                "^agent/add-shout"
            ]
        )
        .trim(),
        "2"
    );
    let plan: toml::Table = toml::from_str(&env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/add-shout",
            "show",
            "agent/add-shout~2",
        ],
    ))
    .unwrap();
    assert_eq!(plan["replans"].as_integer(), Some(1));
    assert_eq!(plan["attempts"].as_array().unwrap().len(), 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("git log agent/add-shout"), "{stdout}");
    env.fsck(&repo);
}

/// Step 1 clones a repository into the worktree (as a vendoring script would), then does
/// the job.
fn vendoring_model(upstream: String) -> impl Fn(&Value) -> Vec<Value> + Send + Sync {
    move |request| match (current_step(request), turn(request)) {
        (Some(1), 0) => vec![tool(
            "run_command",
            json!({"command": format!("git clone -q '{upstream}' vendor/lib")}),
        )],
        _ => good_model(request),
    }
}

#[test]
fn a_repository_made_in_a_step_is_recorded_as_a_gitlink_and_the_model_is_told() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let upstream = env.repo("upstream");
    let head = env.rev(&upstream, "HEAD");
    let model = FakeModel::start(
        Arc::new(vendoring_model(upstream.display().to_string())) as Arc<Script>,
        Duration::ZERO,
    );
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "v", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("! vendor/lib/: a git repository inside the worktree, not a submodule"),
        "{err}"
    );
    assert_eq!(
        env.git(&dir, &["ls-tree", "agent/v", "vendor/lib"]),
        format!("160000 commit {head}\tvendor/lib\n")
    );
    // The next step's context carries the warning.
    let told = model.bodies().into_iter().any(|b| {
        current_step(&b) == Some(2)
            && b["messages"][0]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| {
                    t.contains("# The last checkpoint warned")
                        && t.contains("vendor/lib/: a git repository inside the worktree")
                })
    });
    assert!(told, "step 2 was not told about vendor/lib");
    env.fsck(&dir);
}
