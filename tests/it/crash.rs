//! The crash suite: a scripted run (with a failing step, a rollback and a replan) killed
//! with SIGKILL at seeded random points, each kill followed by `resume`. After every kill
//! `git fsck --strict` is clean and no commit seen before is lost; the final tree equals the
//! tree of an uninterrupted run.
//!
//! `GIT_AGENT_CRASH_POINTS` (default 24) sets how many kills to make, `GIT_AGENT_CRASH_SEED`
//! (default 1) the seed: `GIT_AGENT_CRASH_POINTS=100 cargo test --test it crash` is the full suite.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, agent, finish, plan, sample};
use crate::common::{TestEnv, get};
use crate::fake_model::{FakeModel, Script, current_step, turn};

/// Step 1 fails until a rollback has been recorded; then the model gets it right.
fn learning_model(request: &Value) -> Vec<Value> {
    let context = request["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let learned = context.contains("# Failed attempts (rolled back)");
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(1), 0) if !learned => vec![crate::fake_model::tool(
            "write_file",
            json!({"path": "greet.sh", "content": "#!/bin/sh\necho \"HELLO, $1\"\n"}),
        )],
        (Some(1), 0) => vec![crate::fake_model::tool(
            "write_file",
            json!({"path": "greet.sh", "content": GOOD_GREET}),
        )],
        (Some(1), _) => finish("Add a --shout flag"),
        (Some(2), 0) => vec![crate::fake_model::tool(
            "edit_file",
            json!({"path": "test.sh", "old_text": "echo \"$pass passed",
                   "new_text": "check \"shouts\" \"$(sh greet.sh --shout World)\" \"HELLO, WORLD\"\necho \"$pass passed"}),
        )],
        (Some(_), _) => finish("Test --shout"),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn reachable(env: &TestEnv, dir: &Path, task: &str) -> String {
    env.git(
        dir,
        &[
            "rev-list",
            &format!("--glob=refs/heads/agent/{task}"),
            &format!("--glob=refs/agent/{task}/*"),
        ],
    )
}

#[test]
fn killed_runs_resume_to_the_tree_of_an_uninterrupted_run() {
    let points = env_number("GIT_AGENT_CRASH_POINTS", 24);
    let mut rng = fastrand::Rng::with_seed(env_number("GIT_AGENT_CRASH_SEED", 1));
    let env = TestEnv::new();
    let dir = sample(&env, "step_attempts = 2\n");
    let model = FakeModel::start(
        Arc::new(learning_model) as Arc<Script>,
        Duration::from_millis(50),
    );

    // The reference: one uninterrupted run.
    let started = Instant::now();
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "reference", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    let whole = started.elapsed();
    let expected_tree = env.rev(&dir, "agent/reference^{tree}");
    assert_eq!(
        env.git(
            &dir,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/agent/reference/attic"
            ]
        ),
        "refs/agent/reference/attic/1\n"
    );

    let mut kills = 0;
    let mut tasks = 0;
    while kills < points && tasks < points {
        tasks += 1;
        let task = format!("crash-{tasks}");
        let mut args = vec![
            "start".to_string(),
            "--name".into(),
            task.clone(),
            "Add a --shout flag".into(),
        ];
        let mut seen = String::new();
        let mut finished = false;
        for _ in 0..40 {
            let log = env.root.path().join("stderr.txt");
            let mut child = env
                .agent_cmd(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
                .env("ANTHROPIC_BASE_URL", &model.url)
                .env("ANTHROPIC_API_KEY", KEY)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            // Killed at a seeded random moment of a run, unless it ended before.
            let at = Duration::from_millis(rng.u64(0..whole.as_millis() as u64));
            let mut status = None;
            crate::support::poll_until(at, || {
                status = child.try_wait().unwrap();
                status.is_some()
            });
            if let Some(status) = status {
                assert_eq!(
                    status.code(),
                    Some(0),
                    "{args:?}: {}",
                    std::fs::read_to_string(&log).unwrap()
                );
                finished = true;
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            env.fsck(&dir);
            let now = reachable(&env, &dir, &task);
            for commit in seen.lines() {
                assert!(
                    now.contains(commit),
                    "{commit} of {task} was lost by kill {kills}"
                );
            }
            seen = now;
            if !env
                .git(&dir, &["branch", "--list", &format!("agent/{task}")])
                .is_empty()
            {
                args = vec!["resume".into(), task.clone()];
            }
        }
        if !finished {
            let log =
                std::fs::read_to_string(env.root.path().join("stderr.txt")).unwrap_or_default();
            let history = env.git(
                &dir,
                &[
                    "log",
                    "--format=%h %s | %(trailers:key=Agent-Tests,valueonly)",
                    &format!("agent/{task}"),
                ],
            );
            let attic = env.git(&dir, &["for-each-ref", &format!("refs/agent/{task}")]);
            panic!(
                "{task} never finished; last run said:\n{log}\nbranch:\n{history}\nattic:\n{attic}"
            );
        }
        assert_eq!(
            env.rev(&dir, &format!("agent/{task}^{{tree}}")),
            expected_tree,
            "{task} ended elsewhere"
        );
        assert_eq!(
            get(&env.trailers(&dir, &format!("agent/{task}")), "Agent-Tests"),
            Some("pass (sh test.sh: 2 passed, 0 failed)")
        );
        // However often it was killed, the finished task is what the data model says.
        let (code, out, err) = env.agent(&dir, &["fsck", &task]);
        assert_eq!(code, 0, "{task} after {kills} kills:\n{out}{err}");
    }
    assert!(kills >= points, "only {kills} kills in {tasks} tasks");
    env.fsck(&dir);
}
