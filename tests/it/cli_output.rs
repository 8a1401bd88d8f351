//! What people read: the plain-text output of list, status, log and config, and the main
//! error messages, as inline snapshots with the varying parts normalized. And `--json`:
//! nothing but JSON objects with a `type` on stdout.

use std::path::Path;

use regex::Regex;

use crate::common::TestEnv;

/// Replace what changes from run to run: the temp dir, commit ids, timestamps, durations.
fn normalize(env: &TestEnv, text: &str) -> String {
    let mut text = text.to_string();
    let root = env.root.path();
    for path in [root.canonicalize().unwrap(), root.to_path_buf()] {
        text = text.replace(&path.display().to_string(), "[TMP]");
    }
    let rules = [
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        (r"\b[0-9a-f]{7,40}\b", "[ID]"),
        (r"\b\d+ ms\b", "[MS]"),
    ];
    for (pattern, replacement) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

/// Two tasks: `alpha` with two hand checkpoints and a rollback, `beta` just created.
fn two_tasks(env: &TestEnv) -> std::path::PathBuf {
    let repo = env.repo("r");
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "alpha", "Add a --json flag"],
    );
    let wt = crate::common::worktree(&repo, "alpha");
    std::fs::write(wt.join("src/json.rs"), "pub fn json() {}\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "alpha", "-m", "Add a json module"]);
    std::fs::write(wt.join("src/json.rs"), "pub fn json() -> u8 {\n    1\n}\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "alpha", "-m", "Return a byte"]);
    env.agent_ok(
        &repo,
        &[
            "rollback",
            "alpha",
            "--steps",
            "1",
            "--reason",
            "not needed",
        ],
    );
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "beta", "Fix the README"],
    );
    repo
}

fn run(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = env.agent(dir, args);
    normalize(
        env,
        &format!("exit: {code}\n--- stdout\n{out}--- stderr\n{err}"),
    )
}

#[test]
fn list_status_and_log() {
    let env = TestEnv::new();
    let repo = two_tasks(&env);
    insta::assert_snapshot!(run(&env, &repo, &["list"]), @r#"
        exit: 0
        --- stdout
        TASK   STATE         STEP  TESTS        COST  GOAL
        alpha  idle           0/0  not-run     $0.00  Add a --json flag
        beta   planning       0/0  -           $0.00  Fix the README
        --- stderr
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["status", "alpha"]), @r#"
        exit: 0
        --- stdout
        task:        alpha
        goal:        Add a --json flag
        state:       idle
        branch:      agent/alpha at [ID]
        base:        [ID] (main)
        step:        0/0
        checkpoints: 1
        tests:       not-run
        usage:       0 turns, 0 tokens, $0.0000, 0s of model time
        attempt:     step 0 rolled back (not needed), kept in refs/agent/alpha/attic/1
        --- stderr
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["log", "alpha"]), @r#"
        exit: 0
        --- stdout
        task alpha — Add a --json flag

        checkpoint 1 [ID] (step 0/0)
            Add a json module
            expected: recorded by hand
            tests:    not-run
            risks:    none
            next:     none
            model:    human
            usage:    0 turns, 0 in / 0 out tokens (0 cached), $0.0000, 0 tool calls, 0.0s; checkpoint [MS]
            changes:  1 file, +1 -0

        attic (discarded work, restore with `git agent rollback --undo`):
            refs/agent/alpha/attic/1 [ID]
        --- stderr
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["log", "beta"]), @r#"
        exit: 0
        --- stdout
        task beta — Fix the README
          no checkpoints yet
        --- stderr
    "#);
}

#[test]
fn an_empty_list() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    insta::assert_snapshot!(run(&env, &repo, &["list"]), @r#"
        exit: 0
        --- stdout
        --- stderr
        No tasks yet. Start one with: git agent start "goal"
    "#);
}

#[test]
fn config_shows_values_and_their_sources() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(
        repo.join(".git-agent.toml"),
        "test_command = \"cargo test\"\nmax_turns = 40\n",
    )
    .unwrap();
    env.git(&repo, &["config", "agent.model", "claude-opus-4-1"]);
    insta::assert_snapshot!(run(&env, &repo, &["config"]), @r#"
        exit: 0
        --- stdout
        provider               anthropic                       # default
        model                  claude-opus-4-1                 # git config agent.*
        planner_model          claude-opus-4-1                 # default
        thinking               off                             # default
        planner_thinking       medium                          # default
        anthropic_base_url     (unset)                         # default
        openai_base_url        (unset)                         # default
        replay_file            (unset)                         # default
        record_file            (unset)                         # default
        unreachable_wait       5m                              # default
        otel_endpoint          (unset)                         # default
        otel_flush_wait        40ms                            # default
        max_turns              40                              # [TMP]/r/.git-agent.toml
        max_tokens             (unlimited)                     # default
        max_cost               $10                             # default
        max_time               (unlimited)                     # default
        test_command           cargo test                      # [TMP]/r/.git-agent.toml
        lint_command           (none)                          # default
        test_timeout           10m                             # default
        command_timeout        2m                              # default
        allow                  []                              # default
        deny                   []                              # default
        network                false                           # default
        sandbox                on                              # default
        co_author              (unset)                         # default
        step_attempts          3                               # default
        replans                2                               # default
        max_steps              30                              # default
        max_edits_before_test  30                              # default
        max_step_turns         40                              # default
        context_window         (the model's)                   # default
        display_notes          true                            # default
        fsmonitor              false                           # default
        secret_allow           []                              # default
        generated              __pycache__/, *.py[co], .pytest_cache/, .mypy_cache/, .ruff_cache/, .tox/, node_modules/, .DS_Store, target/ beside Cargo.toml  # default
        mcp                    (none)                          # default
        --- stderr
    "#);
}

#[test]
fn errors_say_what_is_wrong_and_how_to_fix_it() {
    let env = TestEnv::new();
    let repo = two_tasks(&env);
    insta::assert_snapshot!(run(&env, &repo, &["status", "gamma"]), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: no task named 'gamma'
        hint: known tasks: alpha, beta
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["start", "--name", "Bad Name", "goal"]), @r#"
        exit: 2
        --- stdout
        --- stderr
        error: 'Bad Name' cannot be a task name: git refs for tasks allow only a-z, 0-9 and '-', not 'B'
        hint: use lowercase letters, digits and '-', at most 40 characters, e.g. --name fix-json-flag
    "#);
    let plain = env.root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    insta::assert_snapshot!(run(&env, &plain, &["list"]), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: not a git repository: [TMP]/plain
        hint: run git agent inside a git repository, or create one with `git init` and a first commit
    "#);
    std::fs::write(
        repo.join(".git-agent.toml"),
        "test_command = \"make test\"\nmax_turns = forty\n",
    )
    .unwrap();
    insta::assert_snapshot!(run(&env, &repo, &["config"]), @r#"
        exit: 2
        --- stdout
        --- stderr
        error: [TMP]/r/.git-agent.toml:2: invalid boolean, expected `false`
        hint: fix the file; `git agent config` lists the keys it accepts
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["start", "--no-run", "goal"]), @r#"
        exit: 2
        --- stdout
        --- stderr
        error: [TMP]/r/.git-agent.toml:2: invalid boolean, expected `false`
        hint: fix the file; `git agent config` lists the keys it accepts
    "#);
    insta::assert_snapshot!(run(&env, &repo, &["rollback", "--frobnicate"]), @r#"
        exit: 2
        --- stdout
        --- stderr
        error: unexpected argument '--frobnicate' found

          tip: to pass '--frobnicate' as a value, use '-- --frobnicate'

        Usage: git agent rollback [OPTIONS] [SLUG]

        For more information, try '--help'.
    "#);
}

#[test]
fn json_output_is_one_typed_object_per_line_and_nothing_else() {
    let env = TestEnv::new();
    let repo = two_tasks(&env);
    for args in [
        &["list", "--json"][..],
        &["status", "--json", "alpha"],
        &["log", "--json", "alpha"],
        &["--json", "log", "beta"],
        &["config", "--json"],
    ] {
        let (code, out, err) = env.agent(&repo, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.trim().is_empty() || args.contains(&"beta"), "{args:?}");
        for line in out.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {line}"));
            assert!(value["type"].is_string(), "{args:?}: no type in {line}");
        }
    }
    let (_, out, _) = env.agent(&repo, &["list", "--json"]);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn the_commands_that_change_things_say_what_they_did() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut transcript = String::new();
    let mut step = |args: &[&str]| {
        transcript.push_str(&format!(
            "$ git agent {}\n{}\n",
            args.join(" "),
            run(&env, &repo, args)
        ))
    };
    step(&["start", "--no-run", "--name", "gamma", "Add a CHANGELOG"]);
    std::fs::write(
        crate::common::worktree(&repo, "gamma").join("CHANGELOG.md"),
        "# Changes\n",
    )
    .unwrap();
    step(&["checkpoint", "gamma", "-m", "Add a CHANGELOG"]);
    step(&["rollback", "gamma", "--reason", "wrong file name"]);
    step(&["rollback", "gamma", "--undo"]);
    step(&["diff", "gamma"]);
    step(&["merge", "gamma"]);
    step(&["drop", "gamma"]);
    insta::assert_snapshot!(transcript, @r#"
        $ git agent start --no-run --name gamma Add a CHANGELOG
        exit: 0
        --- stdout
        Created task gamma on agent/gamma
        --- stderr
        Starting from HEAD: the working tree has no uncommitted changes.
        note: set notes.displayRef = refs/notes/agent/* in this repository's .git/config, so that `git log` shows each checkpoint's record (git notes) under its commit; undo it with `git config --local --unset --fixed-value notes.displayRef 'refs/notes/agent/*'`, and keep future tasks from setting it with `git config agent.displayNotes false`
          worktree: [TMP]/r/.git/agent/worktrees/gamma
          plan it:  git agent resume gamma

        $ git agent checkpoint gamma -m Add a CHANGELOG
        exit: 0
        --- stdout
        Checkpoint 1 [ID] on agent/gamma: 1 file, +1 -0 ([MS])
        --- stderr

        $ git agent rollback gamma --reason wrong file name
        exit: 0
        --- stdout
        Rolled agent/gamma back from [ID] to [ID]; the old tip is kept in refs/agent/gamma/attic/1
        --- stderr
          undo with: git agent rollback gamma --undo

        $ git agent rollback gamma --undo
        exit: 0
        --- stdout
        Restored agent/gamma to [ID] (the rollback is undone); the tip it had, [ID], is kept in refs/agent/gamma/attic/2
        --- stderr

        $ git agent diff gamma
        exit: 0
        --- stdout
        diff --git a/CHANGELOG.md b/CHANGELOG.md
        new file mode 100644
        index [ID]..[ID]
        --- /dev/null
        +++ b/CHANGELOG.md
        @@ -0,0 +1 @@
        +# Changes
        --- stderr

        $ git agent merge gamma
        exit: 0
        --- stdout
        Merged task gamma into main as [ID]
        --- stderr

        $ git agent drop gamma
        exit: 0
        --- stdout
        Dropped task gamma
        --- stderr
    "#);
}
