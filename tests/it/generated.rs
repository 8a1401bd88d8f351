//! Generated output is never committed: a Python, a Node and a Rust repository without ignore
//! files, each run as a task whose test command leaves bytecode, installed modules or a build
//! directory behind. No checkpoint holds one, a tracked file inside such a directory stays
//! tracked, and the user's configuration extends or empties the list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{agent, finish};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script, current_step, text, tool, turn};

/// A repository of `files` (path, content), committed, with no ignore file.
fn project(env: &TestEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.root.path().join(name);
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    env.git(&dir, &["init", "-q"]);
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "initial"]);
    dir
}

/// The model: a plan whose test command is `sh test.sh`, then step 1 writes `source`, step 2
/// rewrites `tracked` (a tracked file inside a generated directory).
fn model(source: &'static str, tracked: &'static str) -> Arc<Script> {
    Arc::new(
        move |request: &Value| match (current_step(request), turn(request)) {
            (None, _) => vec![
                text("Planning."),
                tool(
                    "submit_plan",
                    json!({"objective": "work", "constraints": [], "acceptance_criteria": ["sh test.sh passes"],
                       "test_command": "sh test.sh",
                       "steps": [{"title": "Write the code", "detail": "d"},
                                 {"title": "Update the vendored file", "detail": "d"}]}),
                ),
            ],
            (Some(1), 0) => vec![tool(
                "write_file",
                json!({"path": source, "content": "new code\n"}),
            )],
            (Some(1), _) => finish("Write the code"),
            (Some(_), 0) => vec![tool(
                "write_file",
                json!({"path": tracked, "content": "vendored, patched\n"}),
            )],
            (Some(_), _) => finish("Update the vendored file"),
        },
    )
}

/// Every path of every commit of `agent/<slug>` since the start.
fn committed_paths(env: &TestEnv, repo: &Path, slug: &str) -> Vec<String> {
    let branch = format!("agent/{slug}");
    let mut paths = Vec::new();
    for commit in env
        .git(repo, &["rev-list", &branch, "--not", "main"])
        .lines()
    {
        for path in env
            .git(repo, &["ls-tree", "-r", "--name-only", commit])
            .lines()
        {
            if !paths.iter().any(|p| p == path) {
                paths.push(path.to_string());
            }
        }
    }
    paths.sort();
    paths
}

/// Run the task to the end; the worktree must hold the generated files the test made.
fn run(env: &TestEnv, repo: &Path, script: Arc<Script>, generated: &[&str]) {
    let model = FakeModel::start(script, Duration::ZERO);
    let (code, out, err) = agent(env, repo, &model, &["start", "--name", "t", "work"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("Stopped: done."), "{err}");
    let wt = worktree(repo, "t");
    for path in generated {
        assert!(wt.join(path).exists(), "the test run did not make {path}");
    }
}

/// What the test command leaves in the worktree, made by the real tool when it is there.
const PYTHON_TEST: &str = "python3 -c 'import calc' 2>/dev/null\nmkdir -p __pycache__ pkg/__pycache__ .pytest_cache .mypy_cache\n\
echo b > __pycache__/calc.cpython-312.pyc\necho b > pkg/__pycache__/mod.cpython-312.pyc\necho b > pkg/stray.pyo\n\
echo c > .pytest_cache/README.md\necho c > .mypy_cache/x.json\necho ok\n";

#[test]
fn a_python_task_commits_no_bytecode_and_no_tool_cache() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "py",
        &[
            ("calc.py", "def add(a, b):\n    return a + b\n"),
            ("pkg/mod.py", "X = 1\n"),
            ("test.sh", PYTHON_TEST),
            // Tracked although the list names it: it stays tracked, and its change is recorded.
            ("pkg/__pycache__/vendored.pyc", "vendored\n"),
        ],
    );
    run(
        &env,
        &repo,
        model("pkg/new.py", "pkg/__pycache__/vendored.pyc"),
        &[
            "__pycache__/calc.cpython-312.pyc",
            ".pytest_cache/README.md",
        ],
    );
    assert_eq!(
        committed_paths(&env, &repo, "t"),
        [
            "calc.py",
            "pkg/__pycache__/vendored.pyc",
            "pkg/mod.py",
            "pkg/new.py",
            "test.sh"
        ]
    );
    assert_eq!(
        env.git(&repo, &["show", "agent/t:pkg/__pycache__/vendored.pyc"]),
        "vendored, patched\n"
    );
    // git in the worktree agrees: nothing generated is waiting to be added.
    let status = env.git(
        &worktree(&repo, "t"),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    assert!(status.lines().all(|l| l.starts_with("??")), "{status}");
}

#[test]
fn a_node_task_commits_no_node_modules_but_keeps_a_tracked_one() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "node",
        &[
            ("package.json", "{\"name\": \"x\"}\n"),
            ("index.js", "module.exports = 1;\n"),
            ("node_modules/vendored/index.js", "vendored\n"),
            (
                "test.sh",
                "mkdir -p node_modules/left-pad web/node_modules/.bin\n\
                 echo 'module.exports = 2;' > node_modules/left-pad/index.js\n\
                 echo x > web/node_modules/.bin/tool\necho x > .DS_Store\necho ok\n",
            ),
        ],
    );
    run(
        &env,
        &repo,
        model("lib.js", "node_modules/vendored/index.js"),
        &[
            "node_modules/left-pad/index.js",
            "web/node_modules/.bin/tool",
        ],
    );
    assert_eq!(
        committed_paths(&env, &repo, "t"),
        [
            "index.js",
            "lib.js",
            "node_modules/vendored/index.js",
            "package.json",
            "test.sh"
        ]
    );
    assert_eq!(
        env.git(&repo, &["show", "agent/t:node_modules/vendored/index.js"]),
        "vendored, patched\n"
    );
}

#[test]
fn a_rust_task_commits_no_target_beside_a_manifest_and_keeps_other_targets() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "rust",
        &[
            ("Cargo.toml", "[package]\nname = \"x\"\n"),
            ("src/lib.rs", "pub fn f() {}\n"),
            ("crates/b/Cargo.toml", "[package]\nname = \"b\"\n"),
            ("target/keep.txt", "tracked in a build directory\n"),
            (
                "test.sh",
                "mkdir -p target/debug crates/b/target/release docs/target\n\
                 echo bin > target/debug/x\necho bin > crates/b/target/release/b\n\
                 echo page > docs/target/page.md\necho ok\n",
            ),
        ],
    );
    run(
        &env,
        &repo,
        model("src/new.rs", "target/keep.txt"),
        &["target/debug/x", "crates/b/target/release/b"],
    );
    // `docs/target` has no manifest beside it: somebody's source, committed like any file.
    assert_eq!(
        committed_paths(&env, &repo, "t"),
        [
            "Cargo.toml",
            "crates/b/Cargo.toml",
            "docs/target/page.md",
            "src/lib.rs",
            "src/new.rs",
            "target/keep.txt",
            "test.sh"
        ]
    );
    assert_eq!(
        env.git(&repo, &["show", "agent/t:target/keep.txt"]),
        "vendored, patched\n"
    );
}

/// A task started with `--no-run`, the files written into its worktree, then checkpointed
/// by hand: the paths the checkpoint added.
fn checkpointed(env: &TestEnv, repo: &Path, slug: &str, files: &[&str]) -> Vec<String> {
    env.agent_ok(repo, &["start", "--no-run", "--name", slug, "goal"]);
    let wt = worktree(repo, slug);
    for path in files {
        let path = wt.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x\n").unwrap();
    }
    env.agent_ok(repo, &["checkpoint", slug, "-m", "by hand"]);
    let branch = format!("agent/{slug}");
    env.git(
        repo,
        &["diff", "--name-only", &format!("{branch}~1"), &branch, "--"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn a_repository_negation_re_includes_what_the_list_leaves_out() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "neg",
        &[
            ("a.py", "x\n"),
            (
                ".gitignore",
                "!keep.pyc\n!fixtures/__pycache__/\n!fixtures/__pycache__/*.pyc\n",
            ),
        ],
    );
    assert_eq!(
        checkpointed(
            &env,
            &repo,
            "h",
            &[
                "b.pyc",
                "keep.pyc",
                "fixtures/__pycache__/f.pyc",
                "__pycache__/a.pyc"
            ]
        ),
        ["fixtures/__pycache__/f.pyc", "keep.pyc"]
    );
}

#[test]
fn the_users_configuration_empties_or_replaces_the_list_and_config_shows_it() {
    let env = TestEnv::new();
    let repo = project(&env, "cfg", &[("a.py", "x\n")]);
    let (code, out, err) = env.agent(&repo, &["config"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        crate::config_keys::config_line(&out, "generated"),
        format!(
            "generated {} # default",
            git_agent::walk::generated::BUILT_IN
        )
    );
    // Emptied in git config: everything is committed as `git add -A` would.
    env.git(&repo, &["config", "agent.generated", ""]);
    assert_eq!(
        checkpointed(
            &env,
            &repo,
            "h",
            &["__pycache__/a.pyc", "node_modules/m.js"]
        ),
        ["__pycache__/a.pyc", "node_modules/m.js"]
    );
    // Replaced in the user's file: only what it names is left out.
    env.git(&repo, &["config", "--unset-all", "agent.generated"]);
    let user = env.home.join(".config/git-agent");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("config.toml"), "generated = [\"*.log\"]\n").unwrap();
    let (code, out, err) = env.agent(&repo, &["config"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        crate::config_keys::config_line(&out, "generated").starts_with("generated *.log #"),
        "{out}"
    );
    assert_eq!(
        checkpointed(&env, &repo, "i", &["__pycache__/b.pyc", "x.log"]),
        ["__pycache__/b.pyc"]
    );
}

#[test]
fn a_repository_file_cannot_change_the_list() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "repo-file",
        &[("a.py", "x\n"), (".git-agent.toml", "generated = []\n")],
    );
    assert_eq!(
        checkpointed(&env, &repo, "h", &["__pycache__/a.pyc", "b.py"]),
        ["b.py"]
    );
}

#[test]
fn carried_work_leaves_generated_files_behind() {
    let env = TestEnv::new();
    let repo = project(
        &env,
        "carry",
        &[("a.py", "x\n"), ("Cargo.toml", "[package]\n")],
    );
    for path in ["__pycache__/a.pyc", "target/debug/x", "b.py"] {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x\n").unwrap();
    }
    env.agent_ok(&repo, &["start", "--no-run", "--name", "c", "goal"]);
    assert_eq!(
        env.git(&repo, &["diff", "--name-only", "main", "agent/c"]),
        "b.py\n"
    );
}
