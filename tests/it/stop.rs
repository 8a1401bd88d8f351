//! `git agent stop`: from another terminal, and from another machine through a remote, a run
//! ends as Ctrl-C ends it (the answered call booked, the stop record written, the lock
//! released), and a run started after the request ignores it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::{Running, TestEnv};
use crate::fake_model::{FakeModel, Script, current_step};
use crate::support::wait_until;

/// A model whose first planner call is held until the test lets it answer (it sends the test
/// a sender and answers once the test sends on it); every other call answers at once.
fn first_planning_held() -> (Arc<Script>, Receiver<Sender<()>>) {
    let (entered, calls) = channel::<Sender<()>>();
    let entered = Mutex::new(entered);
    let held = AtomicBool::new(false);
    let script = move |request: &Value| {
        if current_step(request).is_none() && !held.swap(true, Ordering::SeqCst) {
            let (open, gate) = channel::<()>();
            entered.lock().unwrap().send(open).unwrap();
            let _ = gate.recv_timeout(Duration::from_secs(60));
        }
        good_model(request)
    };
    (Arc::new(script) as Arc<Script>, calls)
}

fn note(env: &TestEnv, dir: &Path, slug: &str, rev: &str) -> toml::Table {
    toml::from_str(&env.git(
        dir,
        &["notes", "--ref", &format!("agent/{slug}"), "show", rev],
    ))
    .unwrap()
}

fn run_with_model(env: &TestEnv, dir: &Path, model: &FakeModel, args: &[&str]) -> Running {
    let mut cmd = env.agent_cmd(dir, args);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    Running::spawn(cmd)
}

#[test]
fn stop_from_another_terminal_ends_the_run_as_ctrl_c_does_and_a_later_run_ignores_it() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let (script, calls) = first_planning_held();
    let model = FakeModel::start(script, Duration::ZERO);
    let run = run_with_model(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    let open = calls.recv_timeout(Duration::from_secs(60)).unwrap();

    // From another terminal, while the planner's call is in flight.
    let stop = Running::spawn(env.agent_cmd(&dir, &["stop", "t"]));
    // The run acts on it during the call, not after it.
    run.wait_for_line("git agent stop");
    open.send(()).unwrap();
    let (code, out, err) = stop.finish();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "Stopped t: stopped with git agent stop",
        "{err}"
    );
    let (code, _, err) = run.finish();
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("Stopped: interrupted."), "{err}");

    let request = env.rev(&dir, "refs/agent/t/say");
    assert_eq!(
        crate::common::get(&env.trailers(&dir, &request), "Agent-Say"),
        Some("stop")
    );
    let plan = note(&env, &dir, "t", "agent/t");
    assert_eq!(plan["stop"]["reason"].as_str(), Some("interrupted"));
    assert_eq!(
        plan["stop"]["detail"].as_str(),
        Some("stopped with git agent stop")
    );
    assert_eq!(plan["stop"]["request"].as_str(), Some(request.as_str()));
    // The call in flight answered and is booked.
    assert_eq!(plan["planner_usage"]["turns"].as_integer(), Some(1));
    assert_eq!(model.books().0, 1);
    assert_eq!(
        std::fs::read_to_string(dir.join(".git/agent/locks/t.lock")).unwrap(),
        ""
    );
    env.agent_fsck(&dir);

    // A run started after the request is not stopped by it, and no model sees it.
    let (code, out, err) = crate::agent_e2e::agent(&env, &dir, &model, &["resume", "t"]);
    assert_eq!(code, 0, "{out}{err}");
    for body in model.bodies() {
        assert!(!body.to_string().contains("agent: stop"), "{body}");
    }
    let tip = note(&env, &dir, "t", "agent/t");
    assert_eq!(tip["stop"]["reason"].as_str(), Some("done"));
    assert!(tip["stop"].get("request").is_none());
    env.agent_fsck(&dir);
    env.fsck(&dir);
}

#[test]
fn stop_without_a_run_here_says_so_and_json_says_what_it_did() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    env.agent_ok(
        &dir,
        &["start", "--name", "t", "--no-run", "Add a --shout flag"],
    );
    let out = env.agent_ok(&dir, &["stop", "t", "--json"]);
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["type"], "stop_requested");
    assert_eq!(json["running"], false);
    assert_eq!(json["stopped"], false);
    assert_eq!(
        json["commit"].as_str().unwrap(),
        env.rev(&dir, "refs/agent/t/say")
    );
    let (code, out, err) = env.agent(&dir, &["stop", "t"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no run of it is working here"), "{out}");
    assert!(err.contains("git agent push <remote> t"), "{err}");
    env.agent_fsck(&dir);
}

#[test]
fn stop_reaches_a_worker_on_another_machine_through_the_remote() {
    let env = TestEnv::in_memory();
    let home = sample(&env, "");
    let bare = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    env.git(&home, &["remote", "add", "origin", bare.to_str().unwrap()]);
    env.git(&home, &["push", "-q", "origin", "main"]);
    env.agent_ok(
        &home,
        &["queue", "add", "--name", "t", "Add a --shout flag"],
    );
    let machine = env.root.path().join("machine");
    env.git(
        env.root.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            machine.to_str().unwrap(),
        ],
    );

    let (script, calls) = first_planning_held();
    let model = FakeModel::start(script, Duration::ZERO);
    let worker = run_with_model(
        &env,
        &machine,
        &model,
        &[
            "--json", "worker", "--once", "--lease", "3s", "--poll", "100ms",
        ],
    );
    let open = calls.recv_timeout(Duration::from_secs(60)).unwrap();

    // Here: no run of t, so the request waits in git until it is pushed.
    let out = env.agent_ok(&home, &["stop", "t"]);
    assert!(out.contains("no run of it is working here"), "{out}");
    let request = env.rev(&home, "refs/agent/t/say");
    env.agent_ok(&home, &["push", "origin", "t"]);
    // The worker takes in what was said while it runs; the request reaches its clone.
    wait_until("the request on the worker's machine", || {
        env.git_cmd(
            &machine,
            &["rev-parse", "-q", "--verify", "refs/agent/t/say"],
        )
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == request)
    });
    open.send(()).unwrap();
    let (code, out, err) = worker.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    let finished: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "finished")
        .collect();
    assert_eq!(finished.len(), 1, "{out}");
    assert_eq!(finished[0]["exit"], 130, "{out}");

    // The remote holds the stop, no lease; the queue says stopped and no worker takes it.
    env.agent_ok(&home, &["pull", "origin"]);
    let tip = note(&env, &home, "t", "agent/t");
    assert_eq!(
        tip["stop"]["reason"].as_str(),
        Some("interrupted"),
        "{tip:#?}"
    );
    assert_eq!(tip["stop"]["request"].as_str(), Some(request.as_str()));
    assert!(
        env.git(&bare, &["for-each-ref", "refs/agent/t/lease"])
            .trim()
            .is_empty(),
        "the lease was not released"
    );
    let queue = env.agent_ok(&home, &["--json", "queue", "ls"]);
    let row: Value = queue
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["slug"] == "t")
        .unwrap_or_else(|| panic!("{queue}"));
    assert_eq!(row["state"], "stopped", "{queue}");
    let (code, out, err) = crate::agent_e2e::agent(
        &env,
        &machine,
        &model,
        &["--json", "worker", "--once", "--poll", "100ms"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("\"claimed\""),
        "a worker took up a stopped task: {out}"
    );
    env.agent_fsck(&home);
    env.agent_fsck(&machine);
}
