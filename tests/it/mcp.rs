//! `git agent mcp` driven by MCP clients: rmcp's own client (always), and the official Python
//! SDK through a whole task against the fake model (where python3 and its `mcp` package are).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script};
use crate::support::{PATIENCE, wait_until};

type Client = RunningService<RoleClient, ()>;

async fn connect(env: &TestEnv, dir: &Path, extra: &[(&str, &str)]) -> Client {
    let mut cmd = env.agent_cmd(dir, &["mcp"]);
    for (name, value) in extra {
        cmd.env(name, value);
    }
    let transport = TokioChildProcess::new(tokio::process::Command::from(cmd)).unwrap();
    ().serve(transport).await.unwrap()
}

async fn call_raw(client: &Client, name: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    let mut params = CallToolRequestParams::new(name.to_string());
    params.arguments = Some(arguments);
    client.call_tool(params).await.unwrap()
}

/// A successful call's structured content.
async fn call(client: &Client, name: &str, arguments: Value) -> Value {
    let result = call_raw(client, name, arguments).await;
    assert_eq!(result.is_error, Some(false), "{name}: {result:?}");
    result.structured_content.unwrap()
}

/// A failed call's text.
async fn call_err(client: &Client, name: &str, arguments: Value) -> String {
    let result = call_raw(client, name, arguments).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} should fail: {result:?}"
    );
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

async fn read_text(client: &Client, uri: &str) -> String {
    let result = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap();
    match &result.contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => text.clone(),
        other => panic!("{uri}: {other:?}"),
    }
}

/// `git agent <args> --json`, one JSON value per line.
fn cli_json(env: &TestEnv, dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.push("--json");
    env.agent_ok(dir, &args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn without_type(mut value: Value) -> Value {
    value.as_object_mut().unwrap().remove("type");
    value
}

/// A task made without a model: `start --no-run`, then two checkpoints recorded by hand.
fn task_with_two_checkpoints(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "t", "Add a greeting"],
    );
    let wt = worktree(&repo, "t");
    std::fs::write(wt.join("hello.txt"), "hello\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "Add hello"]);
    std::fs::write(wt.join("hello.txt"), "hello\nbye\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "Add bye"]);
    repo
}

#[tokio::test]
async fn tools_resources_and_rollback_through_rmcps_client() {
    let env = TestEnv::new();
    let repo = task_with_two_checkpoints(&env);
    let client = connect(&env, &repo, &[]).await;

    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "git-agent");
    assert!(info.capabilities.tools.is_some() && info.capabilities.resources.is_some());

    // tools/list: the names, their schemas and what they promise.
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "diff", "drop", "list", "log", "merge", "plan", "resume", "rollback", "say", "start",
            "status", "stop", "update"
        ]
    );
    for tool in &tools {
        let name = tool.name.as_ref();
        let notes = tool.annotations.as_ref().unwrap();
        let read_only = ["status", "list", "log", "diff", "plan"].contains(&name);
        let destructive = ["rollback", "merge", "drop"].contains(&name);
        assert_eq!(notes.read_only_hint, Some(read_only), "{name}");
        if !read_only {
            assert_eq!(notes.destructive_hint, Some(destructive), "{name}");
        }
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{name}"
        );
        let output = tool.output_schema.as_ref().expect("an output schema");
        assert_eq!(output.get("type"), Some(&json!("object")), "{name}");
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{name}"
        );
        let required = |schema: &serde_json::Map<String, Value>| -> Vec<String> {
            schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let expected_required: &[&str] = match name {
            "start" => &["goal"],
            "say" => &["message"],
            "rollback" | "merge" | "drop" => &["task"],
            _ => &[],
        };
        assert_eq!(required(&tool.input_schema), expected_required, "{name}");
    }

    // The read-only tools answer what the CLI's --json answers.
    let cli_status = without_type(cli_json(&env, &repo, &["status", "t"]).remove(0));
    let mut status = call(&client, "status", json!({"task": "t"})).await;
    assert_eq!(
        status.as_object_mut().unwrap().remove("events_log"),
        Some(Value::Null)
    );
    assert_eq!(status, cli_status);
    assert_eq!(status["checkpoints"], json!(2));
    let list = call(&client, "list", json!({})).await;
    assert_eq!(list, json!({"tasks": [cli_status], "broken": []}));

    let log = call(&client, "log", json!({"task": "t"})).await;
    let cli_log: Vec<Value> = cli_json(&env, &repo, &["log", "t"])
        .into_iter()
        .map(without_type)
        .collect();
    assert_eq!(log["checkpoints"], Value::Array(cli_log));
    assert_eq!(
        log["checkpoints"][1]["trailers"]["Agent-Checkpoint"],
        json!("2")
    );

    let plan = call(&client, "plan", json!({"task": "t"})).await;
    assert_eq!(plan["goal"], json!("Add a greeting"));
    assert_eq!(plan["status"], json!("planning"));
    assert_eq!(
        plan["toml"].as_str().unwrap(),
        env.git(&repo, &["notes", "--ref", "agent/t", "show", "agent/t~2"])
    );

    let diff = call(&client, "diff", json!({"task": "t"})).await;
    assert_eq!(
        diff["files"],
        json!([{"path": "hello.txt", "insertions": 2, "deletions": 0}])
    );
    assert!(diff["patch"].as_str().unwrap().contains("+bye"));
    assert_eq!(diff["truncated"], json!(false));
    let cut = call(&client, "diff", json!({"task": "t", "max_bytes": 10})).await;
    assert_eq!(
        (cut["patch"].as_str().unwrap().len(), &cut["truncated"]),
        (10, &json!(true))
    );

    // Resources: the plan note and each checkpoint's trailers and record.
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "git-agent://t/plan",
            "git-agent://t/checkpoints/1",
            "git-agent://t/checkpoints/2"
        ]
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 2);
    assert_eq!(
        read_text(&client, "git-agent://t/plan").await,
        plan["toml"].as_str().unwrap()
    );
    let checkpoint: Value =
        serde_json::from_str(&read_text(&client, "git-agent://t/checkpoints/2").await).unwrap();
    assert_eq!(checkpoint["checkpoint"], json!(2));
    assert_eq!(checkpoint["commit"], json!(env.rev(&repo, "agent/t")));
    assert_eq!(checkpoint["summary"], json!("Add bye"));
    assert_eq!(checkpoint["record"]["model"], json!("human"));
    assert_eq!(
        checkpoint["trailers"]["Agent-Task"],
        json!("t"),
        "{checkpoint:#}"
    );
    assert_eq!(
        checkpoint["message"].as_str().unwrap().trim_end(),
        env.git(&repo, &["log", "-1", "--format=%B", "agent/t"])
            .trim_end()
    );
    let missing = client
        .read_resource(ReadResourceRequestParams::new(
            "git-agent://t/checkpoints/9",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no checkpoint 9") && missing.contains("1, 2"),
        "{missing}"
    );

    // rollback, and undo, move the branch as the CLI would.
    let tip = env.rev(&repo, "agent/t");
    let first = env.rev(&repo, "agent/t~1");
    let rolled = call(
        &client,
        "rollback",
        json!({"task": "t", "reason": "wrong greeting"}),
    )
    .await;
    assert_eq!(
        rolled,
        json!({"slug": "t", "from": tip, "to": first, "attic": "refs/agent/t/attic/1", "kept_unfinished": false})
    );
    assert_eq!(env.rev(&repo, "agent/t"), first);
    assert_eq!(env.rev(&repo, "refs/agent/t/attic/1"), tip);
    let plan = call(&client, "plan", json!({"task": "t"})).await;
    assert_eq!(plan["attempts"][0]["reason"], json!("wrong greeting"));
    let undone = call(&client, "rollback", json!({"task": "t", "undo": true})).await;
    assert_eq!(undone["to"], json!(tip));
    assert_eq!(env.rev(&repo, "agent/t"), tip);
    let both = call_err(
        &client,
        "rollback",
        json!({"task": "t", "steps": 1, "undo": true}),
    )
    .await;
    assert!(both.contains("at most one of"), "{both}");

    // Errors come back as tool errors with the CLI's hint, not as protocol failures; a run
    // that stops before its task exists says why in its own words.
    let no_key = call_err(&client, "start", json!({"goal": "Add a farewell"})).await;
    assert!(no_key.contains("ANTHROPIC_API_KEY"), "{no_key}");
    let bad = call_err(
        &client,
        "start",
        json!({"goal": "Add a farewell", "provider": "nope"}),
    )
    .await;
    assert!(bad.contains("invalid value 'nope'"), "{bad}");
    assert_eq!(
        env.git(
            &repo,
            &["for-each-ref", "--format=%(refname)", "refs/heads/agent"]
        ),
        "refs/heads/agent/t\n"
    );
    let unknown = call_err(&client, "status", json!({"task": "nope"})).await;
    assert!(
        unknown.starts_with("error: ") && unknown.contains("hint: "),
        "{unknown}"
    );
    let refused = call_err(&client, "drop", json!({"task": "t"})).await;
    assert!(refused.contains("not merged"), "{refused}");
    let dropped = call(&client, "drop", json!({"task": "t", "force": true})).await;
    assert_eq!(dropped, json!({"slug": "t"}));
    assert_eq!(
        call(&client, "list", json!({})).await,
        json!({"tasks": [], "broken": []})
    );

    client.cancel().await.unwrap();
    env.fsck(&repo);
}

#[tokio::test]
async fn merge_through_mcp_refuses_without_a_branch_then_merges() {
    let env = TestEnv::new();
    let repo = task_with_two_checkpoints(&env);
    let client = connect(&env, &repo, &[]).await;
    let merged = call(&client, "merge", json!({"task": "t"})).await;
    let head = env.rev(&repo, "HEAD");
    assert_eq!(
        merged,
        json!({"slug": "t", "into": "main", "commit": head, "squash": false, "forced": [], "brought_in": []})
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("hello.txt")).unwrap(),
        "hello\nbye\n"
    );
    let status = call(&client, "status", json!({"task": "t"})).await;
    assert_eq!(status["state"], json!("merged"));
    client.cancel().await.unwrap();
}

/// A refusal as the CLI prints it on stderr: `error:` and `hint:` lines.
fn cli_refusal(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = env.agent(dir, args);
    assert_eq!(code, 1, "git agent {args:?} should refuse: {out}{err}");
    err.trim_end().to_string()
}

#[tokio::test]
async fn update_and_merge_into_through_mcp_as_the_cli_does() {
    let env = TestEnv::new();
    // Task calc conflicts with main: the MCP merge refuses as the CLI does, changing nothing.
    let repo = crate::merge_daily::conflicting(&env);
    let client = connect(&env, &repo, &[]).await;
    let before = crate::merge_daily::checkout(&env, &repo);
    let refused = call_err(&client, "merge", json!({"task": "calc"})).await;
    assert_eq!(refused, cli_refusal(&env, &repo, &["merge", "calc"]));
    assert!(refused.contains("src/lib.rs (contents)"), "{refused}");
    assert!(refused.contains("git agent update calc"), "{refused}");
    assert_eq!(crate::merge_daily::checkout(&env, &repo), before);

    // `into` a branch that is not checked out: the CLI's refusal, word for word.
    env.git(&repo, &["branch", "feature"]);
    let refused = call_err(&client, "merge", json!({"task": "calc", "into": "feature"})).await;
    assert_eq!(
        refused,
        cli_refusal(&env, &repo, &["merge", "calc", "--into", "feature"])
    );
    assert!(
        refused.contains("git switch feature && git agent merge calc --into feature"),
        "{refused}"
    );

    // update: the conflicts go to the task's worktree as a step.
    let main = env.rev(&repo, "main");
    let tip = env.rev(&repo, "agent/calc");
    let wt = worktree(&repo, "calc");
    let updated = call(&client, "update", json!({"task": "calc"})).await;
    assert_eq!(
        updated,
        json!({
            "slug": "calc", "from": "main", "base": main, "state": "conflicts",
            "commit": null, "number": null, "files_changed": null, "tests": null,
            "step": 1, "worktree": wt.display().to_string(),
            "conflicts": [{"path": "src/lib.rs", "kind": "contents"}],
        })
    );
    assert!(
        std::fs::read_to_string(wt.join("src/lib.rs"))
            .unwrap()
            .contains("<<<<<<< ")
    );
    assert_eq!(crate::merge_daily::checkout(&env, &repo), before);
    // A second update waits for the first, as the CLI's does.
    let again = call_err(&client, "update", json!({"task": "calc"})).await;
    assert_eq!(again, cli_refusal(&env, &repo, &["update", "calc"]));
    assert!(again.contains("still resolving the conflicts"), "{again}");

    // Resolved by hand and checkpointed: the merge commit; then the MCP update says it is up
    // to date, as the CLI's --json does, and the merge goes through.
    std::fs::write(
        wt.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    b.wrapping_add(a)\n}\n",
    )
    .unwrap();
    env.agent_ok(
        &repo,
        &["checkpoint", "calc", "-m", "Resolve conflicts with main"],
    );
    assert_eq!(
        env.git(&repo, &["rev-list", "--parents", "-n", "1", "agent/calc"])
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>(),
        vec![tip.as_str(), main.as_str()]
    );
    let up_to_date = call(&client, "update", json!({"task": "calc"})).await;
    assert_eq!(up_to_date["state"], json!("up_to_date"));
    assert_eq!(
        up_to_date,
        without_type(cli_json(&env, &repo, &["update", "calc"]).remove(0))
    );
    let merged = call(&client, "merge", json!({"task": "calc"})).await;
    assert_eq!(merged["into"], json!("main"));
    assert_eq!(
        std::fs::read_to_string(repo.join("src/lib.rs")).unwrap(),
        "pub fn add(a: i32, b: i32) -> i32 {\n    b.wrapping_add(a)\n}\n"
    );

    // A clean update is a merge checkpoint with the tests run; `into` merges elsewhere.
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "Add a file"]);
    std::fs::write(worktree(&repo, "t").join("new.txt"), "new\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "Add new.txt"]);
    std::fs::write(repo.join("NOTES.md"), "more\n").unwrap();
    env.git(&repo, &["add", "NOTES.md"]);
    env.git(&repo, &["commit", "-qm", "Notes"]);
    let updated = call(&client, "update", json!({"task": "t"})).await;
    assert_eq!(updated["state"], json!("merged"));
    assert_eq!(updated["number"], json!(2));
    assert_eq!(updated["commit"], json!(env.rev(&repo, "agent/t")));
    assert_eq!(env.git(&repo, &["show", "agent/t:NOTES.md"]), "more\n");
    env.git(&repo, &["switch", "-q", "feature"]);
    let merged = call(&client, "merge", json!({"task": "t", "into": "feature"})).await;
    assert_eq!(merged["into"], json!("feature"));
    assert_eq!(merged["commit"], json!(env.rev(&repo, "feature")));
    assert_eq!(env.git(&repo, &["show", "feature:new.txt"]), "new\n");
    client.cancel().await.unwrap();
    env.fsck(&repo);
    env.agent_fsck(&repo);
}

fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp …; comm may hold spaces, so count from its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[tokio::test]
async fn start_returns_at_once_and_the_run_goes_on_in_its_own_process_group() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    // The run is held at its first model call: the call returns all the same.
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    model.gate.close_from(0);
    let client = connect(
        &env,
        &dir,
        &[
            ("ANTHROPIC_BASE_URL", &model.url),
            ("ANTHROPIC_API_KEY", KEY),
        ],
    )
    .await;
    let started = tokio::time::timeout(
        PATIENCE,
        call(&client, "start", json!({"goal": "Add a --shout flag"})),
    )
    .await
    .expect("start waited for the run");
    // The run goes on after the call: it reaches its first model call.
    model.gate.wait_for_waiting(PATIENCE);
    assert_eq!(started["slug"], json!("add-a-shout-flag"));
    assert_eq!(started["branch"], json!("agent/add-a-shout-flag"));
    let pid = started["pid"].as_u64().unwrap() as u32;
    if let Some(group) = process_group(pid) {
        assert_eq!(group, pid, "the run leads a process group of its own");
    }
    let events = PathBuf::from(started["events_log"].as_str().unwrap());
    assert_eq!(events, dir.join(".git/agent/runs/add-a-shout-flag.jsonl"));

    // A name that is taken is refused before anything runs.
    let again = call_err(
        &client,
        "start",
        json!({"goal": "Add a --shout flag", "name": "add-a-shout-flag"}),
    )
    .await;
    assert!(
        again.contains("a task named 'add-a-shout-flag' exists already"),
        "{again}"
    );
    model.gate.open();

    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let status = call(&client, "status", json!({"task": "add-a-shout-flag"})).await;
        if !["planning", "idle", "running"].contains(&status["state"].as_str().unwrap()) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not stop: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["state"], json!("done"), "{status:#}");
    assert_eq!(status["checkpoints"], json!(2));
    assert_eq!(status["events_log"], json!(events.display().to_string()));
    let log = std::fs::read_to_string(&events).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], json!("stopped"), "{log}");
    assert!(!log.contains(KEY), "the key leaked into the run's log");
    client.cancel().await.unwrap();
    env.fsck(&dir);
}

#[tokio::test]
async fn say_stop_and_resume_through_mcp() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    env.agent_ok(
        &dir,
        &["start", "--no-run", "--name", "t", "Add a --shout flag"],
    );
    let client = connect(
        &env,
        &dir,
        &[
            ("ANTHROPIC_BASE_URL", &model.url),
            ("ANTHROPIC_API_KEY", KEY),
        ],
    )
    .await;
    let said = call(&client, "say", json!({"message": "shout in capitals"})).await;
    assert_eq!(said["slug"], json!("t"));
    assert_eq!(said["running"], json!(false));
    assert_eq!(
        said["commit"].as_str().unwrap(),
        env.rev(&dir, "refs/agent/t/say")
    );
    let empty = call_err(&client, "say", json!({"task": "t", "message": "  "})).await;
    assert!(empty.contains("the message is empty"), "{empty}");

    // The resumed run is held at its first model call until it has taken the stop request.
    model.gate.close_from(0);
    let started = call(&client, "resume", json!({"task": "t"})).await;
    assert_eq!(started["slug"], json!("t"));
    model.gate.wait_for_waiting(PATIENCE);
    let errors = PathBuf::from(started["stderr_log"].as_str().unwrap());
    let gate = model.gate.clone();
    let opener = std::thread::spawn(move || {
        wait_until("the run to take the stop request", || {
            std::fs::read_to_string(&errors).is_ok_and(|t| t.contains("stop requested"))
        });
        gate.open();
    });
    let stopped = call(&client, "stop", json!({"task": "t"})).await;
    opener.join().unwrap();
    assert_eq!(stopped["running"], json!(true), "{stopped:#}");
    assert_eq!(stopped["stopped"], json!(true), "{stopped:#}");
    assert_eq!(
        stopped["detail"],
        json!("stopped with git agent stop"),
        "{stopped:#}"
    );
    let status = call(&client, "status", json!({"task": "t"})).await;
    assert_eq!(status["state"], json!("interrupted"), "{status:#}");
    client.cancel().await.unwrap();
    env.agent_fsck(&dir);
}

/// The interpreter `python3` names, resolved with the caller's environment (a pyenv shim needs
/// the real HOME), if it has the `mcp` package; else why not.
fn python_with_mcp() -> Result<PathBuf, String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, mcp; print(sys.executable)"])
        .output()
        .map_err(|err| format!("no python3: {err}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 has no `mcp` package (pip install mcp): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[test]
fn the_python_sdk_drives_a_whole_task() {
    let python = match python_with_mcp() {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/whole_task.py");
    let binary = assert_cmd::cargo::cargo_bin("git-agent");
    let mut cmd = std::process::Command::new(&python);
    env.apply_env(&mut cmd);
    let out = cmd
        .arg(&script)
        .current_dir(&dir)
        .env("GIT_AGENT_BIN", &binary)
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    println!("{transcript}");
    assert!(
        out.status.success(),
        "the Python client failed:\n{transcript}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(transcript.contains("ok the whole task went through the MCP server"));
    env.fsck(&dir);
}
