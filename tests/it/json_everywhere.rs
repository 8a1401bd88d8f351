//! `--json` on every command, errors included: stdout holds JSON objects only, one a line, each
//! with a string `type`; a failure is one `error` object whose `exit_code` is the process's.
//! The commands come from the clap definition, so a new command without a case here fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use clap::CommandFactory;
use serde_json::Value;

use crate::common::TestEnv;

/// How one invocation went.
struct Run {
    args: Vec<String>,
    code: i32,
    lines: Vec<Value>,
    stderr: String,
}

/// Run `git-agent --json <args>` in `dir` (stdin closed, within the tests' patience) and check what
/// every `--json` output promises; returns the parsed lines.
fn run_json(env: &TestEnv, dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let mut cmd = env.agent_cmd(dir, &[]);
    cmd.arg("--json").args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::support::output_within(
        child,
        crate::support::PATIENCE,
        &format!("git agent --json {args:?}"),
    );
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("--json {args:?}: a line that is not JSON ({e}): {line}\nstderr: {stderr}")
            });
            assert!(
                value["type"].is_string(),
                "--json {args:?}: a line without a string type: {line}"
            );
            value
        })
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["type"] == "error").collect();
    if let Some(error) = errors.first() {
        assert_eq!(
            errors.len(),
            1,
            "--json {args:?}: more than one error: {stdout}"
        );
        assert_eq!(
            error["exit_code"].as_i64(),
            Some(i64::from(code)),
            "--json {args:?}: {stdout}"
        );
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{stdout}"
        );
        assert!(
            error["hint"].is_string() || error["hint"].is_null(),
            "{stdout}"
        );
        assert!(
            !stderr.lines().any(|l| l.starts_with("error:")),
            "--json {args:?}: the error went to stderr too:\n{stderr}"
        );
    }
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        lines,
        stderr,
    }
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "--json {:?} failed: {:?}\n{}",
            self.args, self.lines, self.stderr
        );
        assert!(
            !self.lines.is_empty(),
            "--json {:?} printed nothing",
            self.args
        );
        self
    }

    /// A failure reported as the one `error` object, last.
    fn error(self) -> Run {
        assert_ne!(
            self.code, 0,
            "--json {:?} succeeded: {:?}",
            self.args, self.lines
        );
        assert_eq!(
            self.lines.last().map(|l| l["type"].clone()),
            Some(Value::from("error")),
            "--json {:?}: {:?}\n{}",
            self.args,
            self.lines,
            self.stderr
        );
        self
    }

    fn types(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| l["type"].as_str())
            .collect()
    }
}

/// Every subcommand's path (`queue add` for a nested one), from the clap definition.
fn subcommands() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        // Hidden commands are the shell completion's (`__tasks` prints bare names for it).
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.get_subcommands().next().is_some() {
                walk(sub, &format!("{name} "), out);
            }
            out.push(name);
        }
    }
    let mut out = Vec::new();
    walk(&git_agent::cli::Cli::command(), "", &mut out);
    out
}

#[test]
fn every_command_prints_typed_json_lines_and_errors_as_one_object() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let bare = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    let plain = env.root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let no_key: &[(&str, &str)] = &[];

    // What each command was seen doing: a command of the definition without an entry fails.
    let mut seen: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    let mut record = |name: &str, run: Run| seen.entry(name.to_string()).or_default().push(run);

    let start = run_json(
        &env,
        &repo,
        &["start", "--no-run", "--name", "alpha", "Add a CHANGELOG"],
        no_key,
    )
    .ok();
    assert!(start.types().contains(&"created"), "{:?}", start.lines);
    assert!(
        start.types().contains(&"notice"),
        "the displayRef notice: {:?}",
        start.lines
    );
    record("start", start);
    record(
        "start",
        run_json(&env, &repo, &["start", "   "], no_key).error(),
    );
    record(
        "start",
        run_json(
            &env,
            &repo,
            &["start", "--name", "Bad Name", "goal"],
            no_key,
        )
        .error(),
    );
    // No provider key in the environment: refused before anything is written.
    record(
        "start",
        run_json(&env, &repo, &["start", "--name", "keyless", "goal"], no_key).error(),
    );
    record(
        "start",
        run_json(&env, &plain, &["start", "goal"], no_key).error(),
    );

    let wt = crate::common::worktree(&repo, "alpha");
    std::fs::write(wt.join("CHANGELOG.md"), "# Changes\n").unwrap();
    record(
        "checkpoint",
        run_json(
            &env,
            &repo,
            &["checkpoint", "alpha", "-m", "Add a CHANGELOG"],
            no_key,
        )
        .ok(),
    );
    record(
        "checkpoint",
        run_json(&env, &repo, &["checkpoint", "nope", "-m", "x"], no_key).error(),
    );
    std::fs::write(wt.join("CHANGELOG.md"), "# Changes\n\n- one\n").unwrap();
    record(
        "checkpoint",
        run_json(
            &env,
            &repo,
            &["checkpoint", "alpha", "-m", "One change"],
            no_key,
        )
        .ok(),
    );

    record(
        "resume",
        run_json(&env, &repo, &["resume", "alpha"], no_key).error(),
    );
    record(
        "resume",
        run_json(&env, &repo, &["resume", "nope"], no_key).error(),
    );
    record("list", run_json(&env, &repo, &["list"], no_key).ok());
    record("list", run_json(&env, &plain, &["list"], no_key).error());
    record(
        "status",
        run_json(&env, &repo, &["status", "alpha"], no_key).ok(),
    );
    record(
        "status",
        run_json(&env, &repo, &["status", "nope"], no_key).error(),
    );
    record("log", run_json(&env, &repo, &["log", "alpha"], no_key).ok());
    record(
        "log",
        run_json(&env, &repo, &["log", "nope"], no_key).error(),
    );

    let diff = run_json(&env, &repo, &["diff", "alpha"], no_key).ok();
    assert_eq!(diff.types(), ["diff"]);
    let files = &diff.lines[0]["files"];
    assert_eq!(files[0]["path"], "CHANGELOG.md", "{files}");
    assert_eq!(files[0]["status"], "A", "{files}");
    assert_eq!(files[0]["insertions"], 3, "{files}");
    assert!(
        diff.lines[0]["patch"].as_str().unwrap().contains("+- one"),
        "{}",
        diff.lines[0]
    );
    record("diff", diff);
    record(
        "diff",
        run_json(&env, &repo, &["diff", "nope"], no_key).error(),
    );

    record(
        "say",
        run_json(&env, &repo, &["say", "alpha", "keep it short"], no_key).ok(),
    );
    record(
        "say",
        run_json(&env, &repo, &["say", "nope", "hello"], no_key).error(),
    );
    let plan = run_json(&env, &repo, &["plan", "alpha"], no_key).ok();
    assert_eq!(plan.types(), ["plan"]);
    record("plan", plan);
    record(
        "plan",
        run_json(
            &env,
            &repo,
            &["plan", "alpha", "--edit"],
            &[("GIT_EDITOR", "true")],
        ),
    );
    record(
        "plan",
        run_json(
            &env,
            &repo,
            &["plan", "alpha", "--edit"],
            &[("GIT_EDITOR", "false")],
        )
        .error(),
    );
    record(
        "compare",
        run_json(&env, &repo, &["compare", "alpha"], no_key),
    );
    record(
        "compare",
        run_json(&env, &repo, &["compare", "nope"], no_key).error(),
    );
    record(
        "pick",
        run_json(&env, &repo, &["pick", "alpha", "1"], no_key).error(),
    );
    record(
        "bisect",
        run_json(
            &env,
            &repo,
            &["bisect", "alpha", "--test", "test -f CHANGELOG.md"],
            no_key,
        ),
    );
    record(
        "bisect",
        run_json(&env, &repo, &["bisect", "nope", "--test", "true"], no_key).error(),
    );
    record(
        "watch",
        run_json(&env, &repo, &["watch", "alpha"], no_key).ok(),
    );
    record(
        "watch",
        run_json(&env, &repo, &["watch", "nope"], no_key).error(),
    );
    record(
        "rollback",
        run_json(&env, &repo, &["rollback", "alpha", "--steps", "1"], no_key).ok(),
    );
    record(
        "rollback",
        run_json(&env, &repo, &["rollback", "alpha", "--undo"], no_key).ok(),
    );
    record(
        "rollback",
        run_json(&env, &repo, &["rollback", "nope"], no_key).error(),
    );
    record("fsck", run_json(&env, &repo, &["fsck"], no_key).ok());
    record("fsck", run_json(&env, &plain, &["fsck"], no_key).error());
    record("config", run_json(&env, &repo, &["config"], no_key).ok());
    record("models", run_json(&env, &repo, &["models"], no_key).ok());
    record("trust", run_json(&env, &repo, &["trust"], no_key).error());
    record(
        "trust",
        run_json(&env, &repo, &["trust", "--revoke"], no_key).ok(),
    );
    std::fs::write(repo.join(".git-agent.toml"), "max_turns = forty\n").unwrap();
    record("config", run_json(&env, &repo, &["config"], no_key).error());
    std::fs::remove_file(repo.join(".git-agent.toml")).unwrap();

    // Remotes: none yet, then a bare one.
    record("push", run_json(&env, &repo, &["push"], no_key).error());
    record("pull", run_json(&env, &repo, &["pull"], no_key).error());
    record("queue", run_json(&env, &repo, &["queue"], no_key).error());
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]);
    record(
        "push",
        run_json(&env, &repo, &["push", "origin", "alpha"], no_key).ok(),
    );
    record("pull", run_json(&env, &repo, &["pull"], no_key));
    record(
        "queue add",
        run_json(
            &env,
            &repo,
            &["queue", "add", "--name", "queued", "Fix the README"],
            no_key,
        )
        .ok(),
    );
    record(
        "queue ls",
        run_json(&env, &repo, &["queue", "ls"], no_key).ok(),
    );
    record("queue", run_json(&env, &repo, &["queue"], no_key).ok());
    record(
        "worker",
        run_json(&env, &repo, &["worker", "--once"], no_key).error(),
    );
    record(
        "worker",
        run_json(&env, &repo, &["worker", "--lease", "0s"], no_key).error(),
    );

    record(
        "update",
        run_json(&env, &repo, &["update", "no-such-task"], no_key).error(),
    );
    record(
        "stop",
        run_json(&env, &repo, &["stop", "no-such-task"], no_key).error(),
    );
    record(
        "stop",
        run_json(&env, &repo, &["stop", "--no-wait", "alpha"], no_key).ok(),
    );
    record(
        "merge",
        run_json(&env, &repo, &["merge", "queued"], no_key).error(),
    );
    record(
        "merge",
        run_json(&env, &repo, &["merge", "alpha"], no_key).ok(),
    );
    record(
        "drop",
        run_json(&env, &repo, &["drop", "queued"], no_key).error(),
    );
    record(
        "drop",
        run_json(&env, &repo, &["drop", "alpha"], no_key).ok(),
    );

    record(
        "completions",
        run_json(&env, &repo, &["completions", "bash"], no_key).ok(),
    );
    record(
        "completions",
        run_json(&env, &repo, &["completions"], no_key).error(),
    );
    let man = env.root.path().join("man");
    record(
        "install-man",
        run_json(
            &env,
            &repo,
            &["install-man", "--dir", man.to_str().unwrap()],
            no_key,
        )
        .ok(),
    );
    let demo = env.root.path().join("demo");
    record(
        "demo",
        run_json(
            &env,
            &repo,
            &["demo", "--dir", demo.to_str().unwrap()],
            no_key,
        ),
    );
    record(
        "demo",
        run_json(
            &env,
            &repo,
            &["demo", "--dir", demo.to_str().unwrap()],
            no_key,
        )
        .error(),
    );
    // The MCP server speaks JSON-RPC on stdout; with stdin closed it ends without a word.
    record("mcp", run_json(&env, &repo, &["mcp"], no_key));
    // `serve` runs until stopped (tests/it/serve.rs); a remote that is not a name is refused
    // before anything binds.
    record(
        "serve",
        run_json(&env, &repo, &["serve", "--remote", "a..b"], no_key).error(),
    );

    // What clap refuses, and its own output.
    let usage = run_json(&env, &repo, &["rollback", "--frobnicate"], no_key).error();
    assert_eq!(usage.code, 2);
    assert_eq!(
        usage.lines[0]["message"], "unexpected argument '--frobnicate' found",
        "{:?}",
        usage.lines
    );
    run_json(&env, &repo, &["frobnicate"], no_key).error();
    run_json(&env, &repo, &[], no_key).error();
    assert_eq!(
        run_json(&env, &repo, &["--version"], no_key).ok().types(),
        ["version"]
    );
    assert_eq!(
        run_json(&env, &repo, &["log", "--help"], no_key)
            .ok()
            .types(),
        ["help"]
    );

    let missing: Vec<String> = subcommands()
        .into_iter()
        .filter(|name| !seen.contains_key(name))
        .collect();
    assert!(
        missing.is_empty(),
        "commands never run with --json here: {missing:?} (add their cases)"
    );
    // No command answered with bare text wrapped for safety: each has its own JSON form.
    for (name, runs) in &seen {
        for run in runs {
            assert!(
                !run.types().contains(&"text"),
                "{name} {:?} printed text under --json: {:?}",
                run.args,
                run.lines
            );
        }
    }
}
