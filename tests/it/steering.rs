//! Steering from another terminal or machine: `git agent say`, `plan --edit`, `watch`.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::agent_e2e::{KEY, agent, good_model, sample};
use crate::common::{TestEnv, first_line};
use crate::fake_model::{FakeModel, Script, current_step};
use crate::support::PATIENCE;

const PREFIX: &str = "Message from the user (git agent say): ";

fn spawn(env: &TestEnv, dir: &Path, model: &FakeModel, args: &[&str]) -> Child {
    env.agent_cmd(dir, args)
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The texts of the last (user) message of a request.
fn last_user_texts(request: &Value) -> Vec<String> {
    let messages = request["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "user");
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect()
}

/// How often `needle` occurs in the whole request.
fn occurrences(request: &Value, needle: &str) -> usize {
    request.to_string().matches(needle).count()
}

fn record(env: &TestEnv, dir: &Path, rev: &str) -> toml::Table {
    toml::from_str(&env.git(dir, &["notes", "--ref", "agent/t", "show", rev])).unwrap()
}

fn said(record: &toml::Table) -> Vec<String> {
    record
        .get("said")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn say_reaches_a_running_loop_once_and_the_next_record_lists_it() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The run is held at its first executor call until the message is said.
    model
        .gate
        .close_when(|_, request| current_step(request).is_some());
    let child = spawn(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    model.gate.wait_for_waiting(PATIENCE);
    let out = env.agent_ok(&dir, &["say", "t", "keep the greeting polite"]);
    assert!(out.starts_with("Said to t ("), "{out}");
    // Requests from this index on may have read the say ref before `say` wrote it; the one
    // after certainly did not.
    let asked = model.bodies().len();
    model.gate.open();
    let commit = env.rev(&dir, "refs/agent/t/say");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let message = format!("{PREFIX}keep the greeting polite");
    let bodies = model.bodies();
    let first = bodies
        .iter()
        .position(|b| occurrences(b, &message) > 0)
        .expect("the model never saw the message");
    assert!(
        first <= asked + 1,
        "request {first} was the first to show it, said at {asked}"
    );
    // Shown as the user's words, in the last user message, once.
    assert!(last_user_texts(&bodies[first]).contains(&message));
    let step = current_step(&bodies[first]);
    for body in &bodies {
        let n = occurrences(body, &message);
        assert!(n <= 1, "shown twice in one request");
        if current_step(body) != step {
            assert_eq!(n, 0, "shown again in another step");
        }
    }
    // The checkpoint of that step lists it; the other does not.
    let (with, without) = if step == Some(1) {
        ("agent/t~1", "agent/t")
    } else {
        ("agent/t", "agent/t~1")
    };
    assert_eq!(said(&record(&env, &dir, with)), vec![commit.clone()]);
    assert_eq!(said(&record(&env, &dir, without)), Vec::<String>::new());
    let log = env.agent_ok(&dir, &["log", "t"]);
    assert_eq!(
        log.matches("    said:     keep the greeting polite\n")
            .count(),
        1,
        "{log}"
    );
    // The say commit: empty tree, the message, the trailer.
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%B", "refs/agent/t/say"]),
        "keep the greeting polite\n\nAgent-Task: t\n\n"
    );
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%T", "refs/agent/t/say"])
            .trim(),
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn say_travels_through_a_remote_and_both_sides_are_kept() {
    let env = TestEnv::new();
    let a = sample(&env, "");
    let remote = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    env.git(&a, &["remote", "add", "origin", remote.to_str().unwrap()]);
    env.git(&a, &["push", "-q", "origin", "main"]);
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // A small budget: the plan and one executor turn, then the run stops.
    let (code, _, err) = agent(
        &env,
        &a,
        &model,
        &[
            "start",
            "--name",
            "t",
            "--max-turns",
            "2",
            "Add a --shout flag",
        ],
    );
    assert_eq!(code, 4, "{err}");
    env.agent_ok(&a, &["push"]);

    let b = env.root.path().join("b");
    env.git(
        env.root.path(),
        &["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()],
    );
    env.agent_ok(&b, &["pull"]);
    env.agent_ok(&b, &["say", "t", "from B: mind the exit code"]);
    env.agent_ok(&b, &["push"]);
    // A said something too meanwhile: the pull joins both lines.
    env.agent_ok(&a, &["say", "t", "from A: keep it short"]);
    let (code, _, err) = env.agent(&a, &["pull"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("merged"), "{err}");
    let log = env.git(&a, &["log", "--format=%s", "refs/agent/t/say"]);
    assert!(log.contains("from B: mind the exit code"), "{log}");
    assert!(log.contains("from A: keep it short"), "{log}");
    assert_eq!(
        env.git(&a, &["rev-list", "--merges", "--count", "refs/agent/t/say"])
            .trim(),
        "1"
    );

    let before = model.bodies().len();
    let (code, _, err) = agent(&env, &a, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    let bodies = model.bodies();
    let seen: Vec<&Value> = bodies[before..]
        .iter()
        .filter(|b| occurrences(b, PREFIX) > 0)
        .collect();
    let first = seen
        .first()
        .expect("the resumed run never showed the messages");
    let texts = last_user_texts(first);
    assert!(
        texts.contains(&format!("{PREFIX}from B: mind the exit code")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&format!("{PREFIX}from A: keep it short")),
        "{texts:?}"
    );
    // The first checkpoint of the resumed run lists both.
    let listed: Vec<String> = ["agent/t", "agent/t~1"]
        .iter()
        .flat_map(|rev| said(&record(&env, &a, rev)))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    env.fsck(&a);
    env.agent_fsck(&a);

    // Back to B: the joined chain fast-forwards there.
    env.agent_ok(&a, &["push"]);
    env.agent_ok(&b, &["pull"]);
    assert_eq!(
        env.rev(&b, "refs/agent/t/say"),
        env.rev(&a, "refs/agent/t/say")
    );
    env.fsck(&b);
}

/// An editor script (for GIT_EDITOR) that writes a one-step plan; with `fail_first`, its first
/// run writes invalid TOML and its second keeps what it was shown in `seen`.
fn editor(env: &TestEnv, fail_first: bool) -> String {
    let path = env.root.path().join("editor.sh");
    let seen = env.root.path().join("seen");
    let marker = env.root.path().join("opened");
    let script = format!(
        "#!/bin/sh\n\
         if [ {fail_first} = true ] && [ ! -e '{marker}' ]; then touch '{marker}'; printf 'objective = \\n' > \"$1\"; exit 0; fi\n\
         cp \"$1\" '{seen}'\n\
         cat > \"$1\" <<'PLAN'\n\
         objective = \"add --shout, edited\"\n\
         constraints = [\"keep the plain greeting\"]\n\
         acceptance_criteria = [\"sh test.sh passes\"]\n\
         test_command = \"sh test.sh\"\n\n\
         [[steps]]\n\
         title = \"Add --shout to greet.sh (edited)\"\n\
         detail = \"one step only\"\n\
         PLAN\n",
        marker = marker.display(),
        seen = seen.display(),
    );
    std::fs::write(&path, script).unwrap();
    format!("sh {}", path.display())
}

#[test]
fn plan_edit_records_a_revision_that_resume_follows() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "--plan-only", "Add a --shout flag"],
    );
    assert_eq!(code, 0, "{err}");
    // It did what was asked: it planned, it did not stop.
    assert!(
        err.contains("Planned: 2 steps, none started yet.\n  continue: git agent resume t\n"),
        "{err}"
    );
    assert!(!err.contains("Stopped"), "{err}");
    let printed = env.agent_ok(&dir, &["plan", "t"]);
    assert!(
        printed
            .contains("  1. Add --shout to greet.sh\n     branch on the flag\n  2. Test --shout"),
        "{printed}"
    );
    let json: Value =
        serde_json::from_str(env.agent_ok(&dir, &["plan", "t", "--json"]).trim()).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 2);
    assert_eq!(json["type"], "plan");

    // An editor that changes nothing: nothing is written.
    let notes = env.rev(&dir, "refs/notes/agent/t");
    let out = env
        .agent_cmd(&dir, &["plan", "t", "--edit"])
        .env("GIT_EDITOR", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unchanged"));
    assert_eq!(env.rev(&dir, "refs/notes/agent/t"), notes);

    // Invalid TOML first: the file comes back with the error on top; then a valid edit.
    let out = env
        .agent_cmd(&dir, &["plan", "t", "--edit"])
        .env("GIT_EDITOR", editor(&env, true))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(env.root.path().join("seen")).unwrap();
    assert!(
        seen.starts_with("# error: TOML parse error at line 1"),
        "{seen}"
    );
    // The mistake was fixed in the editor: no `error:` line stands above the success.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error:"), "{stderr}");
    assert!(
        stderr.starts_with("The plan has a mistake (TOML parse error at line 1"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Plan of t edited: 1 step(s)\n"
    );
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", "refs/notes/agent/t"]),
        "plan of t edited by hand (git agent plan --edit)\n"
    );
    let printed = env.agent_ok(&dir, &["plan", "t"]);
    assert!(
        printed.contains("  1. Add --shout to greet.sh (edited)\n"),
        "{printed}"
    );
    assert!(!printed.contains("  2."), "{printed}");

    let before = model.bodies().len();
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{err}");
    let bodies = model.bodies();
    assert!(
        bodies[before..].iter().all(|b| current_step(b).is_some()),
        "it planned again"
    );
    assert!(occurrences(&bodies[before], "Add --shout to greet.sh (edited)") > 0);
    assert_eq!(
        crate::common::get(&env.trailers(&dir, "agent/t"), "Agent-Step"),
        Some("1/1")
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn plan_edit_refuses_a_running_task() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The run is held at its first executor call: it is running while the plan is edited.
    model
        .gate
        .close_when(|_, request| current_step(request).is_some());
    let child = spawn(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    model.gate.wait_for_waiting(PATIENCE);
    let out = env
        .agent_cmd(&dir, &["plan", "t", "--edit"])
        .env("GIT_EDITOR", "true")
        .output()
        .unwrap();
    model.gate.open();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("git agent say t"), "{err}");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

#[test]
fn watch_follows_a_run_and_ctrl_c_leaves_the_run_alone() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let out = env.agent_ok(
        &dir,
        &["start", "--name", "t", "--no-run", "Add a --shout flag"],
    );
    assert!(out.contains("Created task t"));
    let idle = env.agent_ok(&dir, &["watch", "t"]);
    assert!(idle.starts_with("Task t is not running."), "{idle}");

    // The run is held at its first model call until every watcher is following it: each has
    // printed its first event.
    model.gate.close_from(0);
    let run = spawn(&env, &dir, &model, &["resume", "t"]);
    model.gate.wait_for_waiting(PATIENCE);
    let watch = |args: &[&str]| {
        let mut child = env
            .agent_cmd(&dir, args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let first = first_line(child.stdout.as_mut().unwrap());
        assert!(!first.is_empty(), "git agent {args:?} printed nothing");
        (child, first)
    };
    let (human, human_first) = watch(&["watch", "t"]);
    let (json, json_first) = watch(&["watch", "t", "--json"]);
    let (interrupted, _) = watch(&["watch", "t"]);
    let status = std::process::Command::new("kill")
        .args(["-INT", &interrupted.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = interrupted.wait_with_output().unwrap();
    assert_ne!(stopped.status.code(), Some(0), "watch ignored Ctrl-C");
    model.gate.open();

    let run = run.wait_with_output().unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let human = human.wait_with_output().unwrap();
    let text = format!("{human_first}\n{}", String::from_utf8_lossy(&human.stdout));
    assert!(human.status.success());
    assert!(text.starts_with("Watching t on agent/t\n"), "{text}");
    assert!(text.contains("Step 1/2: Add --shout to greet.sh"), "{text}");
    assert!(text.contains("✓ checkpoint 2"), "{text}");
    assert!(text.contains("Stopped: done."), "{text}");
    let json = json.wait_with_output().unwrap();
    let lines: Vec<Value> = format!("{json_first}\n{}", String::from_utf8_lossy(&json.stdout))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "task_started");
    assert_eq!(lines.last().unwrap()["type"], "stopped");
    assert!(lines.iter().any(|l| l["type"] == "checkpoint"));
    assert!(lines.iter().any(|l| l["type"] == "tests"));

    let after = env.agent_ok(&dir, &["watch", "t"]);
    assert!(after.contains("last stop: done"), "{after}");
    env.fsck(&dir);
}

#[test]
fn a_resume_shows_the_planner_what_was_said_to_a_stopped_task() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    env.agent_ok(
        &dir,
        &["start", "--name", "t", "--no-run", "Add a --shout flag"],
    );
    let (code, out, _) = env.agent(&dir, &["say", "--json", "shout in capitals"]);
    assert_eq!(code, 0);
    let said_json: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(said_json["running"], false);
    let (code, _, err) = agent(&env, &dir, &model, &["resume", "t", "--json"]);
    assert_eq!(code, 0, "{err}");
    let message = format!("{PREFIX}shout in capitals");
    let bodies = model.bodies();
    // The planner's first request has it; no request has it twice; no executor request has
    // it again (the planner was shown it in this run).
    assert!(current_step(&bodies[0]).is_none());
    assert!(last_user_texts(&bodies[0]).contains(&message));
    for body in &bodies[1..] {
        if current_step(body).is_some() {
            assert_eq!(occurrences(body, &message), 0);
        }
    }
    // The first checkpoint of the run records it.
    let commit = said_json["commit"].as_str().unwrap().to_string();
    assert_eq!(said(&record(&env, &dir, "agent/t~1")), vec![commit]);
    assert_eq!(said(&record(&env, &dir, "agent/t")), Vec::<String>::new());
    env.fsck(&dir);
}

#[test]
fn fsck_finds_a_say_ref_that_is_not_a_commit_and_its_reflog_puts_it_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "t", "--no-run", "goal"]);
    env.agent_ok(&repo, &["say", "t", "first"]);
    env.agent_ok(&repo, &["say", "t", "second"]);
    let said = env.rev(&repo, "refs/agent/t/say");
    assert_eq!(
        env.git(&repo, &["log", "--format=%s", "refs/agent/t/say"]),
        "second\nfirst\n"
    );
    env.agent_fsck(&repo);
    let blob = env.sh(&repo, "echo data | git hash-object -w --stdin");
    env.git(&repo, &["update-ref", "refs/agent/t/say", blob.trim()]);
    let (code, out, _) = env.agent(&repo, &["fsck", "--json"]);
    assert_eq!(code, 1);
    let findings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|f| f["type"] == "finding")
        .collect();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["rule"], "ref-not-a-commit");
    env.sh(&repo, findings[0]["repair"].as_str().unwrap());
    assert_eq!(env.rev(&repo, "refs/agent/t/say"), said);
    env.agent_fsck(&repo);
    env.fsck(&repo);
    // drop takes what was said with the task.
    env.agent_ok(&repo, &["drop", "t", "--force"]);
    assert_eq!(env.git(&repo, &["for-each-ref", "refs/agent/"]), "");
}
