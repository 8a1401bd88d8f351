//! Parallel attempts (`--attempts N`), `compare`, `pick` and `bisect`, through the real binary
//! against the fake model: attempts that differ are ranked as the README says, the losers end
//! in the attic with their reasons, and the repository is fsck-clean at every stage.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, agent, finish, good_model, plan, sample};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};
use crate::support::{PATIENCE, wait_until};

/// Which attempt asks (the step message says "# Attempt k of n"); `None` for the planner and
/// for a task without attempts.
fn attempt(request: &Value) -> Option<u32> {
    let first = request["messages"][0]["content"][0]["text"].as_str()?;
    let rest = first.split("# Attempt ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

fn last_test_failed(request: &Value) -> bool {
    request["messages"][0]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("# The last test run FAILED"))
}

fn blocked(reason: &str) -> Vec<Value> {
    vec![tool("report_blocked", json!({ "reason": reason }))]
}

/// Attempt 1 does the job; attempt 2 breaks the plain greeting (its checkpoint fails its
/// tests), then gives up; attempt 3 is blocked before it changes anything.
fn three_ways(request: &Value) -> Vec<Value> {
    match (attempt(request), current_step(request)) {
        (_, None) => plan(),
        (Some(2), Some(_)) if last_test_failed(request) => {
            blocked("The greeting keeps failing its test.")
        }
        (Some(2), Some(_)) => match turn(request) {
            0 => vec![tool(
                "write_file",
                json!({"path": "greet.sh", "content": "#!/bin/sh\necho \"HELLO, $1\"\n"}),
            )],
            _ => finish("Shout always"),
        },
        (Some(3), Some(_)) => blocked("Should --shout also change the punctuation?"),
        _ => good_model(request),
    }
}

fn refs(env: &TestEnv, dir: &Path, prefix: &str) -> Vec<String> {
    env.git(dir, &["for-each-ref", "--format=%(refname)", prefix])
        .lines()
        .map(str::to_string)
        .collect()
}

fn plan_note(env: &TestEnv, dir: &Path, slug: &str) -> toml::Value {
    let task_commit = env
        .git(
            dir,
            &[
                "rev-list",
                "--first-parent",
                "-1",
                &format!("--grep=^agent: start {slug}$"),
                &format!("agent/{slug}"),
            ],
        )
        .trim()
        .to_string();
    let text = env.git(
        dir,
        &[
            "notes",
            "--ref",
            &format!("agent/{slug}"),
            "show",
            &task_commit,
        ],
    );
    toml::from_str(&text).unwrap()
}

fn result_of(note: &toml::Value, k: i64) -> toml::Value {
    note["parallel"].as_array().unwrap().last().unwrap()["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["k"].as_integer() == Some(k))
        .unwrap()
        .clone()
}

#[test]
fn of_three_differing_attempts_the_passing_one_wins_and_the_others_go_to_the_attic_with_reasons() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let head = env.rev(&dir, "HEAD");
    let model = FakeModel::start(Arc::new(three_ways) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "t",
            "--attempts",
            "3",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("Picked attempt 1 of t"), "{out}");

    // The winner's checkpoints are the task's, as a single run would have made them.
    assert_eq!(
        env.git(&dir, &["log", "--format=%s", "agent/t"]),
        "Test --shout\nAdd a --shout flag to greet.sh\nagent: start t\ninitial\n"
    );
    let tip = env.trailers(&dir, "agent/t");
    let get = |key: &str| crate::common::get(&tip, key).map(str::to_string);
    assert_eq!(get("Agent-Task").as_deref(), Some("t"));
    assert_eq!(get("Agent-Checkpoint").as_deref(), Some("2"));
    assert_eq!(get("Agent-Step").as_deref(), Some("2/2"));
    assert!(get("Agent-Tests").unwrap().starts_with("pass"), "{tip:?}");
    assert_eq!(
        env.git(&dir, &["show", "agent/t:greet.sh"]),
        GOOD_GREET,
        "the winner's tree"
    );

    // The attempt tasks are gone; what is left of them is the task's attic.
    assert_eq!(
        refs(&env, &dir, "refs/heads/agent/"),
        vec!["refs/heads/agent/t"]
    );
    assert_eq!(
        refs(&env, &dir, "refs/notes/agent/"),
        vec!["refs/notes/agent/t"]
    );
    assert_eq!(
        refs(&env, &dir, "refs/agent/"),
        vec!["refs/agent/t/attic/1"]
    );
    let lost = env.trailers(&dir, "refs/agent/t/attic/1");
    assert_eq!(crate::common::get(&lost, "Agent-Task"), Some("t"));
    assert_eq!(crate::common::get(&lost, "Agent-Checkpoint"), Some("1"));
    assert!(
        crate::common::get(&lost, "Agent-Tests")
            .unwrap()
            .starts_with("fail")
    );
    assert_eq!(
        env.git(&dir, &["show", "refs/agent/t/attic/1:greet.sh"]),
        "#!/bin/sh\necho \"HELLO, $1\"\n"
    );

    // Why each lost, in the plan.
    let note = plan_note(&env, &dir, "t");
    let round = note["parallel"].as_array().unwrap().last().unwrap();
    assert_eq!(round["picked"].as_integer(), Some(1));
    assert_eq!(round["pick"].as_str(), Some("auto"));
    let won = result_of(&note, 1);
    assert_eq!(won["outcome"].as_str(), Some("won"));
    assert_eq!(won["tip"].as_str(), Some(env.rev(&dir, "agent/t").as_str()));
    let second = result_of(&note, 2);
    assert_eq!(second["outcome"].as_str(), Some("lost"));
    assert_eq!(second["attic"].as_str(), Some("refs/agent/t/attic/1"));
    assert_eq!(
        second["reason"].as_str(),
        Some(
            "its tests are fail at its tip (stopped: blocked), while attempt 1 finished with its tests passing"
        )
    );
    let third = result_of(&note, 3);
    assert_eq!(third["outcome"].as_str(), Some("lost"));
    assert_eq!(third["attic"].as_str(), Some(""));
    assert_eq!(
        third["reason"].as_str(),
        Some(
            "it made no checkpoint (stopped: blocked), while attempt 1 finished with its tests passing"
        )
    );

    // Every answer the server gave is in the task's budget once, wherever it was spent.
    crate::accounting::assert_books(&env, &dir, "t", &model);

    // compare reads the round back; the worktrees of the attempts are gone, the task's is at
    // the winner.
    let json = env.agent_ok(&dir, &["--json", "compare", "t"]);
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{json}");
    assert_eq!(lines[0]["tests"], "pass");
    assert_eq!(lines[1]["tests"], "fail");
    assert_eq!(lines[2]["tests"], "none");
    assert_eq!(lines[3]["picked"], 1);
    assert_eq!(lines[0]["files"], json!(["greet.sh", "test.sh"]));
    let human = env.agent_ok(&dir, &["compare", "t"]);
    assert!(
        human.contains("attempt 3 lost: it made no checkpoint"),
        "{human}"
    );
    for k in 1..=3 {
        assert!(!worktree(&dir, &format!("t--try-{k}")).exists());
    }
    let wt = worktree(&dir, "t");
    assert_eq!(
        std::fs::read_to_string(wt.join("greet.sh")).unwrap(),
        GOOD_GREET
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(env.rev(&dir, "HEAD"), head, "the user's checkout");
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

/// Both attempts finish; attempt 2's diff is larger.
fn two_good_ways(request: &Value) -> Vec<Value> {
    match (attempt(request), current_step(request), turn(request)) {
        (Some(2), Some(1), 1) => vec![tool(
            "write_file",
            json!({"path": "greet.sh", "content": format!("{GOOD_GREET}# shout when asked\n")}),
        )],
        _ => good_model(request),
    }
}

#[test]
fn a_manual_pick_waits_for_the_user_and_a_pick_can_be_changed() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(two_good_ways) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "m",
            "--attempts",
            "2",
            "--pick",
            "manual",
            "Add a --shout flag",
        ],
    );
    assert_eq!(
        code, 3,
        "a manual pick needs a person\nstdout: {out}\nstderr: {err}"
    );
    assert!(err.contains("git agent pick m <k>"), "{err}");
    // Waiting: the attempts are tasks of their own, and that state is clean too.
    assert_eq!(
        refs(&env, &dir, "refs/heads/agent/"),
        vec![
            "refs/heads/agent/m",
            "refs/heads/agent/m--try-1",
            "refs/heads/agent/m--try-2"
        ]
    );
    let fork = env.rev(&dir, "agent/m");
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/m"]),
        "agent: start m\n"
    );
    env.agent_fsck(&dir);
    let waiting = env.agent_ok(&dir, &["compare", "m"]);
    assert!(waiting.contains("none picked yet"), "{waiting}");
    let list = env.agent_ok(&dir, &["list"]);
    assert!(
        list.contains("m--try-2") && list.contains("attempt 2 of m"),
        "{list}"
    );
    let status = env.agent_ok(&dir, &["status", "m"]);
    assert!(
        status.contains("2 side by side, pick manual: none picked yet (m--try-1, m--try-2)"),
        "{status}"
    );
    let (code, _, watch) = env.agent(&dir, &["watch", "m"]);
    assert_eq!(code, 0, "{watch}");
    assert!(
        watch.contains("attempt 2: done — git agent watch m--try-2"),
        "{watch}"
    );
    let status = env.agent_ok(&dir, &["status", "m--try-1"]);
    assert!(status.contains("attempt:     1 of 2 of task m"), "{status}");

    // The user takes the larger one.
    let out = env.agent_ok(&dir, &["pick", "m", "2"]);
    assert!(out.contains("Picked attempt 2 of m"), "{out}");
    assert!(
        env.git(&dir, &["show", "agent/m:greet.sh"])
            .ends_with("# shout when asked\n")
    );
    assert_eq!(
        refs(&env, &dir, "refs/heads/agent/"),
        vec!["refs/heads/agent/m"]
    );
    let note = plan_note(&env, &dir, "m");
    assert_eq!(
        result_of(&note, 1)["reason"].as_str(),
        Some("not picked: the user picked attempt 2")
    );
    let first_tip = result_of(&note, 1)["tip"].as_str().unwrap().to_string();
    assert_eq!(env.rev(&dir, "refs/agent/m/attic/1"), first_tip);
    env.agent_fsck(&dir);

    // And changes their mind: attempt 1 comes back from the attic, attempt 2 goes there.
    let second_tip = env.rev(&dir, "agent/m");
    env.agent_ok(&dir, &["pick", "m", "1"]);
    assert_eq!(env.rev(&dir, "agent/m"), first_tip);
    assert_eq!(env.rev(&dir, "refs/agent/m/attic/2"), second_tip);
    let note = plan_note(&env, &dir, "m");
    assert_eq!(note["parallel"][0]["picked"].as_integer(), Some(1));
    assert_eq!(
        result_of(&note, 2)["attic"].as_str(),
        Some("refs/agent/m/attic/2")
    );
    assert_eq!(
        env.git(&dir, &["merge-base", "agent/m", "refs/agent/m/attic/2"])
            .trim(),
        fork,
        "both descend from where the attempts started"
    );
    let wt = worktree(&dir, "m");
    assert_eq!(
        std::fs::read_to_string(wt.join("greet.sh")).unwrap(),
        GOOD_GREET
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    let status = env.agent_ok(&dir, &["status", "m"]);
    assert!(status.contains("pick manual: attempt 1 picked"), "{status}");
    let (code, _, err) = env.agent(&dir, &["pick", "m", "7"]);
    assert_ne!(code, 0);
    assert!(err.contains("no attempt 7"), "{err}");
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

#[test]
fn attempts_killed_with_their_run_are_all_finished_by_resume() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // Every attempt is held at its first call of step 2, its first checkpoint made.
    model
        .gate
        .close_when(|_, request| current_step(request) == Some(2));
    let mut child = env
        .agent_cmd(
            &dir,
            &[
                "start",
                "--name",
                "k",
                "--attempts",
                "3",
                "Add a --shout flag",
            ],
        )
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the run once every attempt is in the middle of step 2.
    model.gate.wait_for_held(3, PATIENCE);
    for k in 1..=3 {
        let subject = env.git(
            &dir,
            &["log", "-1", "--format=%s", &format!("agent/k--try-{k}")],
        );
        assert!(
            !subject.starts_with("agent: start"),
            "attempt {k} reached step 2 without a checkpoint"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The attempts die with their run: none holds its lock once the kernel has reaped them
    // (one that lived on would be held at the gate, running, until the deadline).
    wait_until("the attempts to end with their run", || {
        !env.agent_ok(&dir, &["--json", "list"])
            .contains("\"running\"")
    });
    model.gate.open();
    let list = env.agent_ok(&dir, &["--json", "list"]);
    assert!(!list.contains("\"running\""), "{list}");
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/k"]),
        "agent: start k\n",
        "nothing picked yet"
    );

    let (code, out, err) = agent(&env, &dir, &model, &["resume", "k"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let note = plan_note(&env, &dir, "k");
    for k in 1..=3 {
        let result = result_of(&note, k);
        assert_eq!(
            result["stop"].as_str(),
            Some("done"),
            "attempt {k}: {result}"
        );
        assert_eq!(result["tests"].as_str(), Some("pass"), "attempt {k}");
        assert_eq!(result["checkpoints"].as_integer(), Some(2), "attempt {k}");
    }
    assert_eq!(
        env.git(&dir, &["log", "--format=%s", "agent/k"]),
        "Test --shout\nAdd a --shout flag to greet.sh\nagent: start k\ninitial\n"
    );
    assert_eq!(refs(&env, &dir, "refs/heads/agent/").len(), 1);
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

#[test]
fn names_too_long_for_their_attempts_and_attempts_with_here_are_refused() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let long = "a-name-of-exactly-thirty-five-chars";
    let (code, _, err) = env.agent(&dir, &["start", "--name", long, "--attempts", "2", "goal"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("too long for 2 attempts"), "{err}");
    let (code, _, err) = env.agent(&dir, &["start", "--here", "--attempts", "2", "goal"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--attempts"), "{err}");
    let (code, _, err) = env.agent(&dir, &["start", "--attempts", "17", "goal"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        env.git(&dir, &["for-each-ref", "refs/heads/agent/"]),
        "",
        "nothing was created"
    );
}

/// A task of `n` checkpoints made by hand, the file `state` saying `good` up to checkpoint
/// `breaks - 1` and `bad` from `breaks` on.
fn hand_made_task(env: &TestEnv, dir: &Path, slug: &str, n: u32, breaks: u32) {
    env.agent_ok(dir, &["start", "--no-run", "--name", slug, "a long task"]);
    let wt = worktree(dir, slug);
    for i in 1..=n {
        std::fs::write(wt.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        let state = if i >= breaks { "bad\n" } else { "good\n" };
        std::fs::write(wt.join("state"), state).unwrap();
        env.agent_ok(dir, &["checkpoint", slug, "-m", &format!("change {i}")]);
    }
}

fn bisect_size() -> u32 {
    std::env::var("GIT_AGENT_BISECT_CHECKPOINTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50)
}

#[test]
fn bisect_finds_the_breaking_checkpoint_in_log2_runs_without_touching_the_checkouts() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    std::fs::write(dir.join("state"), "good\n").unwrap();
    env.git(&dir, &["add", "state"]);
    env.git(&dir, &["commit", "-qm", "state"]);
    let n = bisect_size();
    let head = env.rev(&dir, "HEAD");
    // ceil(log2(n + 1)) + 1: 7 for 50, as ceil(log2 50) + 1 (they differ only at powers of two).
    let limit = (f64::from(n + 1)).log2().ceil() as usize + 1;
    for breaks in [n * 3 / 4, 1, n] {
        let slug = format!("b{breaks}");
        hand_made_task(&env, &dir, &slug, n, breaks);
        let tip = env.rev(&dir, &format!("agent/{slug}"));
        let out = env
            .agent_cmd(
                &dir,
                &["--json", "bisect", &slug, "--test", "grep -q good state"],
            )
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (report, run_lines) = lines.split_last().unwrap();
        assert_eq!(report["first_failing"], breaks, "{stdout}");
        let first_bad = env.rev(&dir, &format!("agent/{slug}~{}", n - breaks));
        assert_eq!(report["commit"], first_bad.as_str());
        // Runs counted one by one, each with what it found.
        let runs = run_lines
            .iter()
            .filter(|l| l["type"] == "bisect_run")
            .count();
        assert_eq!(runs, run_lines.len(), "{stdout}");
        assert_eq!(report["runs"], runs, "{stdout}");
        for run in run_lines {
            let position = run["position"].as_u64().unwrap() as u32;
            assert_eq!(run["pass"], position < breaks, "{run}");
        }
        assert!(
            runs <= limit,
            "{runs} runs for {n} checkpoints:\n{stdout}{stderr}"
        );
        eprintln!("bisect of {n} checkpoints, breaking at {breaks}: {runs} runs (limit {limit})");
        assert!(
            report["trailers"]
                .as_str()
                .unwrap()
                .contains(&format!("Agent-Checkpoint: {breaks}"))
        );
        assert!(
            report["record"]
                .as_str()
                .unwrap()
                .contains(&format!("checkpoint = {breaks}"))
        );
        let before = env.rev(&dir, &format!("agent/{slug}~{}", n - breaks + 1));
        assert_eq!(
            report["rollback"].as_str().unwrap(),
            format!("git agent rollback {slug} --to {}", &before[..8])
        );
        assert_eq!(
            env.rev(&dir, &format!("agent/{slug}")),
            tip,
            "the task is not changed"
        );
    }
    // Human output, and a tip that passes.
    let human = env.agent_ok(
        &dir,
        &[
            "bisect",
            &format!("b{}", n * 3 / 4),
            "--test",
            "grep -q good state",
        ],
    );
    assert!(
        human.contains(&format!(
            "First failing checkpoint of b{0}: {0} of {n}",
            n * 3 / 4
        )),
        "{human}"
    );
    assert!(
        human.contains("Go back to the one before it: git agent rollback"),
        "{human}"
    );
    let (code, out, _) = env.agent(&dir, &["bisect", "b1", "--test", "test -f f1.txt"]);
    assert_eq!(code, 1);
    assert!(out.contains("passes at the tip"), "{out}");
    // The user's checkout and the tasks' worktrees are as they were; no scratch worktree left.
    assert_eq!(env.rev(&dir, "HEAD"), head);
    assert_eq!(env.git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(
        env.git(&dir, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        4
    );
    assert_eq!(
        env.git(&worktree(&dir, "b1"), &["status", "--porcelain"]),
        ""
    );
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

/// Wall time of N attempts against one, with a fixed model delay: the model is the bottleneck,
/// not the harness. A measurement, not a CI test: `GIT_AGENT_BENCH_ATTEMPTS=4` runs it
/// (`GIT_AGENT_BENCH_DELAY_MS` sets the delay, default 400) and prints the figures.
#[test]
fn bench_parallel_attempts_wall_time() {
    let Some(n) = std::env::var("GIT_AGENT_BENCH_ATTEMPTS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return;
    };
    let delay = std::env::var("GIT_AGENT_BENCH_DELAY_MS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(400);
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(
        Arc::new(good_model) as Arc<Script>,
        Duration::from_millis(delay),
    );
    let time = |args: &[&str]| {
        let started = Instant::now();
        let (code, out, err) = agent(&env, &dir, &model, args);
        assert_eq!(code, 0, "{out}{err}");
        started.elapsed()
    };
    let one = time(&["start", "--name", "one", "Add a --shout flag"]);
    let n_arg = n.to_string();
    let many = time(&[
        "start",
        "--name",
        "many",
        "--attempts",
        &n_arg,
        "Add a --shout flag",
    ]);
    let ratio = many.as_secs_f64() / one.as_secs_f64();
    eprintln!(
        "model delay {delay} ms: 1 attempt {:.2}s, {n} attempts {:.2}s, ratio {ratio:.2}",
        one.as_secs_f64(),
        many.as_secs_f64()
    );
    assert!(ratio <= 1.3, "{n} attempts took {ratio:.2}x one");
}

#[test]
fn fsck_reports_attempts_whose_task_is_gone_and_its_repair_removes_them() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "o",
            "--attempts",
            "2",
            "--pick",
            "manual",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    // The task is deleted by hand, its attempts left behind.
    let tip = env.rev(&dir, "agent/o");
    let notes = env.rev(&dir, "refs/notes/agent/o");
    env.git(&dir, &["update-ref", "-d", "refs/heads/agent/o", &tip]);
    env.git(&dir, &["update-ref", "-d", "refs/notes/agent/o", &notes]);
    let (code, out, _) = env.agent(&dir, &["--json", "fsck"]);
    assert_eq!(code, 1, "{out}");
    let findings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|f| f["rule"] == "attempt-orphan")
        .collect();
    assert_eq!(findings.len(), 2, "{out}");
    assert!(
        findings[0]["what"]
            .as_str()
            .unwrap()
            .contains("task 'o' does not exist")
    );
    for finding in &findings {
        env.sh(&dir, finding["repair"].as_str().unwrap());
    }
    assert_eq!(
        env.git(
            &dir,
            &["for-each-ref", "refs/heads/agent/", "refs/notes/agent/"]
        ),
        ""
    );
    env.fsck(&dir);
}

#[test]
fn resume_with_attempts_works_on_the_remaining_steps_and_numbers_on_from_the_tip() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(two_good_ways) as Arc<Script>, Duration::ZERO);
    // The plan and step 1 (three turns), then the budget stops it.
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &[
            "start",
            "--name",
            "r",
            "--max-turns",
            "4",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/r"]),
        "Add a --shout flag to greet.sh\n"
    );
    let step_one = env.rev(&dir, "agent/r");

    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["resume", "r", "--attempts", "2", "--max-turns", "40"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("2 attempts of r from step 2"), "{err}");
    assert_eq!(
        env.rev(&dir, "agent/r~1"),
        step_one,
        "the attempts went on from the tip"
    );
    let tip = env.trailers(&dir, "agent/r");
    assert_eq!(crate::common::get(&tip, "Agent-Checkpoint"), Some("2"));
    assert_eq!(crate::common::get(&tip, "Agent-Step"), Some("2/2"));
    assert_eq!(crate::common::get(&tip, "Agent-Task"), Some("r"));
    let record: toml::Value =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/r", "show", "agent/r"])).unwrap();
    assert_eq!(record["checkpoint"].as_integer(), Some(2));
    assert_eq!(record["step"].as_integer(), Some(2));
    let note = plan_note(&env, &dir, "r");
    assert_eq!(note["parallel"][0]["offset"].as_integer(), Some(1));
    assert_eq!(note["steps"].as_array().unwrap().len(), 2);
    // Attempt 2's step 2 is the same as attempt 1's: a tie broken by cost or number.
    assert_eq!(result_of(&note, 1)["checkpoints"].as_integer(), Some(1));
    crate::accounting::assert_books(&env, &dir, "r", &model);
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

#[test]
fn ctrl_c_stops_the_attempts_with_their_run_and_nothing_is_picked_until_resume() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // Both attempts are held at their first call of step 2, their first checkpoint made,
    // until each has taken the Ctrl-C.
    model
        .gate
        .close_when(|_, request| current_step(request) == Some(2));
    // Its own process group, as a shell gives a foreground job: Ctrl-C reaches all of it.
    let child = env
        .agent_cmd(
            &dir,
            &[
                "start",
                "--name",
                "c",
                "--attempts",
                "2",
                "Add a --shout flag",
            ],
        )
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    model.gate.wait_for_held(2, PATIENCE);
    let group = format!("-{}", child.id());
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(status.success());
    // Each attempt's error output (src/commands/attempts.rs) says it took the signal.
    let took = |k: u32| {
        let stderr = dir.join(format!(".git/agent/runs/c--try-{k}.stderr"));
        std::fs::read_to_string(stderr).is_ok_and(|t| t.contains("interrupted: keeping"))
    };
    wait_until("both attempts to take the Ctrl-C", || took(1) && took(2));
    model.gate.open();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Not picking"), "{err}");
    for k in 1..=2 {
        let status = env.agent_ok(&dir, &["--json", "status", &format!("c--try-{k}")]);
        assert!(
            status.contains("\"state\":\"interrupted\""),
            "attempt {k}: {status}"
        );
    }
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/c"]),
        "agent: start c\n"
    );

    let (code, out, err) = agent(&env, &dir, &model, &["resume", "c"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Picked attempt"), "{out}");
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "agent/c"]),
        "Test --shout\n"
    );
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

#[test]
fn a_bisect_removes_the_scratch_worktree_a_killed_bisect_left() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    std::fs::write(dir.join("state"), "good\n").unwrap();
    env.git(&dir, &["add", "state"]);
    env.git(&dir, &["commit", "-qm", "state"]);
    hand_made_task(&env, &dir, "k", 4, 3);
    // What `kill -9` during a bisect leaves: its scratch worktree, registered, named after a
    // process that is gone.
    let left = dir.join(".git/agent/bisect/k-999999999");
    env.git(
        &dir,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            left.to_str().unwrap(),
            "HEAD",
        ],
    );
    assert!(env.git(&dir, &["worktree", "list"]).contains("k-999999999"));
    let out = env.agent_ok(
        &dir,
        &["--json", "bisect", "k", "--test", "grep -q good state"],
    );
    assert!(out.contains("\"first_failing\":3"), "{out}");
    assert!(!left.exists());
    let list = env.git(&dir, &["worktree", "list"]);
    assert!(!list.contains("/bisect/"), "{list}");
    env.fsck(&dir);
}
