//! MCP servers as tools of the executor: the real binary starts the stdio server of
//! `fixtures/mcp/server.py` (standard library Python) in the sandbox, offers its tools as
//! `<server>__<tool>` to the fake model, and what the model does with the answers lands in
//! git. A crash, a hang and garbage are tool errors of a run that finishes; the server cannot
//! write outside the worktree; a repository's file names a server only after `git agent trust`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{KEY, agent, finish, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, last_tool_results, text, tool, turn};

/// The Python that runs the fixture, resolved with the caller's environment: the sandbox's
/// clean environment has no pyenv shim setup, so the server is named by its real path.
pub(crate) fn python() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs the MCP server fixture (CI needs it anyway)");
    assert!(out.status.success(), "python3 failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A server of `fixtures/mcp/`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mcp")
        .join(name)
}

/// `[mcp.servers.<name>]` of the fixture server, with `extra` lines.
fn server_toml(name: &str, args: &[&str], extra: &str) -> String {
    server_toml_of(name, "server.py", args, extra)
}

/// `[mcp.servers.<name>]` running `fixtures/mcp/<script>` with `args`, then `extra` lines.
pub(crate) fn server_toml_of(name: &str, script: &str, args: &[&str], extra: &str) -> String {
    let mut command = vec![
        python().display().to_string(),
        fixture(script).display().to_string(),
    ];
    command.extend(args.iter().map(|a| a.to_string()));
    format!(
        "[mcp.servers.{name}]\ncommand = {}\n{extra}",
        serde_json::to_string(&command).unwrap()
    )
}

pub(crate) fn user_config(env: &TestEnv, text: &str) {
    let dir = env.home.join(".config/git-agent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

/// A credential the user hands a server in its `env`.
const TOKEN: &str = "fixture-token-5f0c2a9d7e1b4c3a";

pub(crate) fn one_step_plan() -> Vec<Value> {
    vec![
        text("Planning."),
        tool(
            "submit_plan",
            json!({"objective": "use the server", "constraints": [], "acceptance_criteria": ["sh test.sh passes"],
                   "test_command": "sh test.sh",
                   "steps": [{"title": "Ask the server", "detail": "call its tools"}]}),
        ),
    ]
}

/// The results the model was shown, in order, one per executor turn after the first.
pub(crate) fn results_seen(model: &FakeModel) -> Vec<(String, bool)> {
    model
        .bodies()
        .iter()
        .filter(|b| current_step(b).is_some() && turn(b) > 0)
        .flat_map(last_tool_results)
        .collect()
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn json_events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[test]
fn a_servers_tool_is_offered_namespaced_and_its_answer_reaches_git() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    user_config(
        &env,
        &server_toml(
            "fx",
            &[],
            &format!(
                "env = {{ FIXTURE_GREETING = \"from-env\", FIXTURE_API_TOKEN = \"{TOKEN}\" }}\ntools = [\"echo\", \"write\", \"env\"]\n"
            ),
        ),
    );
    let script = |request: &Value| match (current_step(request), turn(request)) {
        (None, _) => one_step_plan(),
        (Some(_), 0) => vec![tool("fx__echo", json!({"text": "hello"}))],
        (Some(_), 1) => {
            // What the server answered goes into a file, and so into the checkpoint.
            let (answer, _) = last_tool_results(request).remove(0);
            vec![tool(
                "write_file",
                json!({"path": "answer.txt", "content": answer}),
            )]
        }
        // The provider key never reaches a server; a credential given to one is masked.
        (Some(_), 2) => vec![tool("fx__env", json!({"name": "ANTHROPIC_API_KEY"}))],
        (Some(_), 3) => vec![tool("fx__env", json!({"name": "FIXTURE_API_TOKEN"}))],
        (Some(_), _) => finish("Record the server's answer"),
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "t", "Ask the server"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");

    // Offered to the executor only, namespaced, the allow list applied, the schema as the
    // server gave it.
    let bodies = model.bodies();
    let planner = bodies.iter().find(|b| current_step(b).is_none()).unwrap();
    assert!(
        !tool_names(planner).iter().any(|n| n.contains("__")),
        "{:?}",
        tool_names(planner)
    );
    let executor = bodies.iter().find(|b| current_step(b).is_some()).unwrap();
    let names = tool_names(executor);
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("fx__"))
            .collect::<Vec<_>>(),
        ["fx__echo", "fx__write", "fx__env"]
    );
    let echo = executor["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fx__echo")
        .unwrap();
    assert_eq!(
        echo["input_schema"],
        json!({"type": "object", "properties": {"text": {"type": "string", "description": "what to echo"}}, "required": ["text"]})
    );
    assert_eq!(echo["description"], "(MCP server `fx`) Echo the text back.");

    // The answer, the environment given to the server included, reached the model and git.
    let seen = results_seen(&model);
    assert_eq!(seen[0], ("echo: hello from-env".to_string(), false));
    assert_eq!(seen[2], ("(unset)".to_string(), false));
    assert_eq!(seen[3], ("***".to_string(), false));
    assert_eq!(
        env.git(&dir, &["show", "agent/t:answer.txt"]),
        "echo: hello from-env"
    );
    // Counted and reported like every tool call.
    let record: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    assert_eq!(record["tool_calls"].as_integer(), Some(5), "{record:?}");
    let events = json_events(&out);
    let started: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "mcp_server")
        .collect();
    assert_eq!(started.len(), 1, "{out}");
    assert_eq!(
        started[0]["tools"],
        json!(["fx__echo", "fx__write", "fx__env"])
    );
    assert_eq!(started[0]["error"], Value::Null);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "tool_call" && e["name"] == "fx__echo" && e["detail"] == "hello")
    );
    assert!(events.iter().any(|e| e["type"] == "tool_result"
        && e["name"] == "fx__echo"
        && e["is_error"] == json!(false)
        && e["detail"] == "echo: hello from-env"));
    let history = env.git(&dir, &["log", "--all", "-p", "--notes=agent/*"]);
    for text in [&out, &err, &history] {
        assert!(!text.contains(KEY) && !text.contains(TOKEN));
    }
    let requests: String = model.bodies().iter().map(Value::to_string).collect();
    assert!(
        !requests.contains(TOKEN),
        "the server's credential reached the model"
    );
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn a_crash_a_hang_and_garbage_are_tool_errors_and_the_run_finishes() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let marker = format!("git-agent-mcp-hang-{}", std::process::id());
    user_config(
        &env,
        &format!(
            "{}{}",
            // Lingering when its input ends, only a kill ends it; the tag finds it.
            server_toml(
                "fx",
                &["--linger", "--tag", &marker],
                &format!("timeout = \"4s\"\nenv = {{ FIXTURE_MARKER = \"{marker}\" }}\n")
            ),
            server_toml("dead", &["--exit-at-start"], "")
        ),
    );
    let script = |request: &Value| match (current_step(request), turn(request)) {
        (None, _) => one_step_plan(),
        (Some(_), 0) => vec![tool("fx__crash", json!({}))],
        (Some(_), 1) => vec![tool("fx__hang", json!({}))],
        (Some(_), 2) => vec![tool("fx__garbage", json!({}))],
        // Larger than a message may be (4 MiB): dropped unread, so the call times out.
        (Some(_), 3) => vec![tool("fx__big", json!({"bytes": 6_000_000}))],
        // Large but allowed: the model gets its head and tail.
        (Some(_), 4) => vec![tool("fx__big", json!({"bytes": 2_000_000}))],
        (Some(_), 5) => vec![tool("fx__echo", json!({"text": "still here"}))],
        (Some(_), _) => finish("Survive the server"),
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let began = Instant::now();
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "t", "Survive"],
    );
    let took = began.elapsed();
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    // Three timeouts at most (hang, garbage, the oversized answer), plus starts.
    assert!(took < Duration::from_secs(50), "the run took {took:?}");

    let seen = results_seen(&model);
    assert_eq!(seen.len(), 6, "{seen:?}");
    let (crash, hang, garbage, echo) = (&seen[0], &seen[1], &seen[2], &seen[5]);
    assert!(crash.1, "{crash:?}");
    assert!(
        crash
            .0
            .contains("the MCP server `fx` exited during the call (exit code 3)")
            && crash.0.contains("fixture: crashing on purpose"),
        "{crash:?}"
    );
    assert!(hang.1, "{hang:?}");
    assert!(
        hang.0
            .contains("the MCP server `fx` did not answer `hang` within 4s"),
        "{hang:?}"
    );
    assert!(garbage.1, "{garbage:?}");
    assert!(garbage.0.contains("the MCP server `fx`"), "{garbage:?}");
    let (huge, big) = (&seen[3], &seen[4]);
    assert!(
        huge.1 && huge.0.contains("did not answer `big` within 4s"),
        "{}",
        short(&huge.0)
    );
    // One tool result holds about OUTPUT_TOKENS tokens, three bytes a token.
    let limit = git_agent::tools::OUTPUT_TOKENS as usize * 3 + 400;
    assert!(!big.1 && big.0.len() < limit, "{}", big.0.len());
    assert!(
        big.0.starts_with("yyyy") && big.0.contains(" characters (") && big.0.ends_with("yyyy\n"),
        "{:?}",
        big.0
            .lines()
            .filter(|l| !l.starts_with('y'))
            .collect::<Vec<_>>()
    );
    // Started again after each failure, the server answers.
    assert_eq!(echo, &("echo: still here".to_string(), false));

    // The server that could not start is reported, and the run went on without it.
    let events = json_events(&out);
    let dead = events
        .iter()
        .find(|e| e["type"] == "mcp_server" && e["server"] == "dead")
        .unwrap_or_else(|| panic!("{out}"));
    let error = dead["error"].as_str().unwrap();
    assert!(
        error.contains("exit code 7") && error.contains("fixture: exiting at start"),
        "{error}"
    );
    let executor = model
        .bodies()
        .into_iter()
        .find(|b| current_step(b).is_some())
        .unwrap();
    assert!(
        !tool_names(&executor)
            .iter()
            .any(|n| n.starts_with("dead__"))
    );

    // Killed when the run ended (the server started again for the echo would linger), with
    // what they started in a session of their own.
    crate::support::poll_until(crate::support::PATIENCE, || {
        processes_with(&marker).is_empty()
    });
    assert_eq!(processes_with(&marker), Vec::<String>::new());
    let record: toml::Table =
        toml::from_str(&env.git(&dir, &["notes", "--ref", "agent/t", "show", "agent/t"])).unwrap();
    assert_eq!(record["stop"]["reason"].as_str(), Some("done"));
    env.fsck(&dir);
}

#[test]
fn an_mcp_server_in_the_sandbox_cannot_write_outside_the_worktree() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    user_config(&env, &server_toml("fx", &[], ""));
    let hook = dir.join(".git/hooks/pre-commit");
    let home_file = env.home.join("planted");
    let targets = [
        hook.display().to_string(),
        home_file.display().to_string(),
        dir.join("README.md").display().to_string(),
        // Servers start in `/`; the worktree is named in their environment.
        crate::common::worktree(&dir, "t")
            .join("inside.txt")
            .display()
            .to_string(),
    ];
    // The network is off, as for commands: a listener on this machine is out of reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = {
        let targets = targets.clone();
        move |request: &Value| match (current_step(request), turn(request)) {
            (None, _) => one_step_plan(),
            (Some(_), n) if n < targets.len() => vec![tool(
                "fx__write",
                json!({"path": targets[n], "content": "#!/bin/sh\necho pwned\n"}),
            )],
            (Some(_), 4) => vec![tool(
                "fx__connect",
                json!({"host": "127.0.0.1", "port": port}),
            )],
            (Some(_), _) => finish("Write where allowed"),
        }
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let (code, out, err) = agent(&env, &dir, &model, &["start", "--name", "t", "Write"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let seen = results_seen(&model);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(
        seen[4].1 && seen[4].0.starts_with("cannot connect"),
        "{:?}",
        seen[4]
    );
    for (target, (result, is_error)) in targets.iter().zip(&seen).take(3) {
        assert!(*is_error, "{target}: {result}");
        assert!(
            result.contains("Permission denied") || result.contains("Read-only file system"),
            "{target}: {result}"
        );
    }
    assert!(!hook.exists() && !home_file.exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        readme
    );
    // Inside the worktree it may write: the checkpoint has it.
    assert_eq!(seen[3], (format!("wrote {}", targets[3]), false));
    assert_eq!(
        env.git(&dir, &["show", "agent/t:inside.txt"]),
        "#!/bin/sh\necho pwned\n"
    );
    env.fsck(&dir);
}

#[test]
fn a_repositorys_mcp_server_runs_only_after_git_agent_trust() {
    let env = TestEnv::new();
    let dir = sample(&env, &server_toml("fx", &[], ""));
    let script = |request: &Value| match (current_step(request), turn(request)) {
        (None, _) => one_step_plan(),
        (Some(_), 0) => vec![tool("fx__echo", json!({"text": "trusted?"}))],
        (Some(_), _) => finish("Ask"),
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "t", "Ask"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains("sets keys a repository may not set, so they are ignored: mcp"),
        "{err}"
    );
    assert!(
        !json_events(&out).iter().any(|e| e["type"] == "mcp_server"),
        "{out}"
    );
    let seen = results_seen(&model);
    assert!(
        seen[0].1 && seen[0].0.starts_with("unknown tool `fx__echo`"),
        "{seen:?}"
    );
    let config = env.agent_ok(&dir, &["config"]);
    assert!(
        config.contains("# ignored from")
            && config
                .lines()
                .any(|l| l.starts_with("mcp ") && l.contains("fx: ")),
        "{config}"
    );

    // Trusted, that exact content names the server: it starts and answers.
    let trust = env.agent_ok(&dir, &["trust"]);
    assert!(trust.contains("mcp = "), "{trust}");
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["--json", "start", "--name", "t2", "Ask"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        results_seen(&model)[0],
        ("echo: trusted?".to_string(), false)
    );

    // Git config cannot name servers: a clear error, not a silent drop.
    env.git(&dir, &["config", "agent.mcp", "x"]);
    let (code, _, err) = env.agent(&dir, &["config"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[mcp.servers.<name>]"), "{err}");
}

#[test]
fn ctrl_c_during_a_call_that_never_answers_stops_the_run_at_once_and_the_server() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let marker = format!("git-agent-mcp-ctrl-c-{}", std::process::id());
    // The default timeout (60s): the run must not wait for it.
    user_config(
        &env,
        &server_toml(
            "fx",
            &["--linger", "--tag", &marker],
            &format!("env = {{ FIXTURE_MARKER = \"{marker}\" }}\n"),
        ),
    );
    let script = |request: &Value| match (current_step(request), turn(request)) {
        (None, _) => one_step_plan(),
        (Some(_), 0) => vec![tool("fx__hang", json!({}))],
        (Some(_), _) => finish("Never reached"),
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let child = env
        .agent_cmd(&dir, &["start", "--name", "c", "Hang"])
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The hang tool has started its child: the call is in flight.
    crate::support::wait_until("the hang tool's call", || {
        processes_with(&marker)
            .iter()
            .any(|p| p.contains("time.sleep"))
    });
    let interrupted = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(20),
        "Ctrl-C waited {:?}",
        interrupted.elapsed()
    );
    assert!(stderr.contains("Stopped: interrupted."), "{stderr}");
    crate::support::poll_until(crate::support::PATIENCE, || {
        processes_with(&marker).is_empty()
    });
    assert_eq!(processes_with(&marker), Vec::<String>::new());
    env.fsck(&dir);
}

/// The start of a long text, for a failure message.
fn short(text: &str) -> String {
    text.chars().take(300).collect()
}
