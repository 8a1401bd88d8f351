//! No git discovery from a worktree: every `git` the crate starts names its repository
//! (src/git_command.rs), and a repository is opened from a path only as-is. A source
//! scan holds the rule for code to come; the bisect attack checks it for real.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, worktree};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Where `needle` occurs in code (not in a `//` comment): (line number, line).
fn occurrences<'a>(source: &'a str, needle: &str) -> Vec<(usize, &'a str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = match line.find("//") {
                Some(at) if !line[..at].contains('"') => &line[..at],
                _ => line,
            };
            code.contains(needle)
        })
        .map(|(i, line)| (i + 1, line))
        .collect()
}

#[test]
fn git_is_started_and_repositories_opened_only_by_name() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for file in rust_files(&src) {
        let name = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        let mut refuse = |needle: &str, allowed: &[&str], why: &str| {
            if allowed.contains(&name.as_str()) {
                return;
            }
            for (n, line) in occurrences(&source, needle) {
                wrong.push(format!("src/{name}:{n}: {why}: {}", line.trim()));
            }
        };
        refuse(
            "Command::new(\"git\")",
            &["git_command.rs"],
            "start git through store::GitCommand, which names the repository",
        );
        // The user's own directory, found as git finds it: the one discovery there is.
        refuse(
            "gix::discover",
            &["store/mod.rs"],
            "no discovery: open the repository by its git dir",
        );
        // A path the store was handed (a worktree) is never where a repository is looked for.
        if name.starts_with("store/") {
            refuse(
                "Store::discover(",
                &[],
                "the store opens what it was named, never discovers",
            );
        }
        // `git -C <dir>` discovers the repository from `dir`.
        refuse("&[\"-C\"", &[], "`-C` lets git discover; name the git dir");
        refuse(
            "\"-C\",",
            &["policy/commands.rs"],
            "`-C` lets git discover; name the git dir",
        );
        // Opened from a path: as that path, never a repository above or inside it.
        for needle in ["gix::open(", "gix::open_opts("] {
            for (n, line) in occurrences(&source, needle) {
                let window = lines[n.saturating_sub(4)..n].join("\n");
                if !window.contains("open_path_as_is(true)") && !window.contains("isolated()") {
                    wrong.push(format!(
                        "src/{name}:{n}: open a repository as-is (open_path_as_is): {}",
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "git started or a repository opened by discovery:\n{}",
        wrong.join("\n")
    );
}

/// High (review round 3): the bisected test replaces the scratch worktree's `.git` with a
/// repository whose config runs a program (`core.fsmonitor`). The harness's next checkout
/// names the registered admin dir: the harness never runs the program, and the bisect still
/// finds the breaking checkpoint.
#[test]
fn a_bisected_test_that_plants_a_git_dir_runs_nothing_outside_the_sandbox() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    std::fs::write(dir.join("state"), "good\n").unwrap();
    env.git(&dir, &["add", "state"]);
    env.git(&dir, &["commit", "-qm", "state"]);
    env.agent_ok(&dir, &["start", "--no-run", "--name", "b", "a task"]);
    let wt = worktree(&dir, "b");
    for i in 1..=4 {
        std::fs::write(wt.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        let state = if i >= 3 { "bad\n" } else { "good\n" };
        std::fs::write(wt.join("state"), state).unwrap();
        env.agent_ok(&dir, &["checkpoint", "b", "-m", &format!("change {i}")]);
    }
    let markers = env.root.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let test = format!(
        "printf '#!/bin/sh\\necho pwned > {m}/fsmonitor\\n' > evil.sh; chmod +x evil.sh; \
         git init -q fake && git -C fake config core.fsmonitor \"$PWD/evil.sh\" \
         && common=$(sed -n 's/^gitdir: //p' .git)/../.. \
         && echo \"$common/objects\" > fake/.git/objects/info/alternates \
         && rm -rf .git && mv fake/.git .git; grep -q good state",
        m = markers.display()
    );
    // Without confinement, as where no mount namespace can be made: the test can then
    // replace the scratch's `.git` (elsewhere it is mounted read-only). The test itself never
    // runs evil.sh: only a git that discovers the planted repository does (which borrows the
    // real objects, so that git gets as far as refreshing the index, through the monitor).
    let out = env
        .agent_cmd(&dir, &["--json", "bisect", "b", "--test", &test])
        .env("GIT_AGENT_SANDBOX", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let left: Vec<String> = std::fs::read_dir(&markers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "code ran outside the sandbox: {left:?}\n{stdout}{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["first_failing"], 3, "{stdout}");
    assert!(
        !dir.join(".git/agent/bisect")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "the scratch worktree is gone"
    );
    env.fsck(&dir);
}
