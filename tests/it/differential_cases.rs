//! Named cases of the differential suite: what a person does by hand in a task's worktree
//! (git commands typed there, submodules moved or removed, a repository made inside), step
//! by step. After each step the checkpoint's tree must equal `git add -A && git write-tree`
//! on a twin worktree that went through the same steps (and a commit after each, so that
//! `HEAD~1` means the same on both sides), in each of the three modes of
//! `tests/it/differential.rs`.

use std::path::{Path, PathBuf};

use git_agent::store::{Changes, Store};

use crate::common::{TestEnv, worktree};
use crate::differential::{Mode, library_checkpoint, tree_difference};

/// A case: the base repository's files (a script run in a fresh repository before its
/// first commit) and the steps, each a script run in both worktrees.
struct Case<'a> {
    name: &'a str,
    base: &'a str,
    steps: &'a [&'a str],
}

/// Runs `script` in `dir`, with `$ROOT` naming the case's directory (beside the repository,
/// the twin and whatever upstream repositories the case makes) and the dates of commits
/// fixed, so that the same commit made on both sides has the same id.
fn sh(env: &TestEnv, dir: &Path, script: &str) -> Result<String, String> {
    let root = dir
        .ancestors()
        .find(|d| d.join("repo").is_dir())
        .unwrap_or(dir);
    let out = env
        .sh_cmd(dir, script)
        .env("ROOT", root)
        .env("GIT_AUTHOR_DATE", "@1600000000 +0000")
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "`{script}` failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The two sides of a case: the repository with its task `t`, and the twin.
struct Sides {
    repo: PathBuf,
    wt: PathBuf,
    twin: PathBuf,
}

fn set_up(env: &TestEnv, case: &Case<'_>, mode: Mode) -> Result<Sides, String> {
    let root = env.root.path().join(format!("{}-{mode:?}", case.name));
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    // The user's checkout has the submodules the twin gets: those it initialized.
    sh(env, &repo, "git init -q --template=")?;
    sh(env, &repo, case.base)?;
    sh(
        env,
        &repo,
        "git add -A && git commit -qm base --allow-empty",
    )?;
    agent(
        env,
        &repo,
        &["start", "--no-run", "--name", "t", "goal"],
        mode,
    )?;
    let twin = root.join("twin");
    sh(
        env,
        &repo,
        &format!(
            "git worktree add -q --detach '{}' HEAD && cd '{}' && \
             git -c protocol.file.allow=always submodule -q update",
            twin.display(),
            twin.display()
        ),
    )?;
    let wt = worktree(&repo, "t");
    Ok(Sides { repo, wt, twin })
}

/// `git agent args` with the monitor on or off as `mode` has it.
fn agent(env: &TestEnv, repo: &Path, args: &[&str], mode: Mode) -> Result<(), String> {
    let out = env
        .agent_cmd(repo, args)
        .env(
            "GIT_AGENT_FSMONITOR",
            matches!(mode, Mode::Monitored).to_string(),
        )
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "git agent {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Runs `case` in `mode`; `Err` says at which step and how the trees differ.
fn run(env: &TestEnv, case: &Case<'_>, mode: Mode) -> Result<(), String> {
    let Sides { repo, wt, twin } = set_up(env, case, mode)?;
    let store = Store::discover(&repo).map_err(|e| e.to_string())?;
    let mut watch = match mode {
        Mode::Watched => Some(store.watch(&wt).map_err(|why| format!("no watch: {why}"))?),
        _ => None,
    };
    if let Mode::Monitored = mode {
        let (_, mark) = store
            .fsmonitor_changes(&wt)
            .ok_or("the monitor `start` started does not answer")?;
        store.fsmonitor_record(&wt, &mark);
    }
    for (n, step) in case.steps.iter().enumerate() {
        sh(env, &twin, step)?;
        let theirs = sh(env, &twin, "git add -A && git write-tree")?;
        sh(env, &twin, "git commit -qm step --allow-empty")?;
        sh(env, &wt, step)?;
        let checkpointed = match &mut watch {
            Some(watch) => {
                let changes = watch.changes();
                let scope = match &changes {
                    Changes::Paths(paths) => Some(paths),
                    Changes::Unknown(_) => None,
                };
                let done = library_checkpoint(&repo, &wt, scope);
                watch.settle(&changes);
                done
            }
            None => agent(
                env,
                &repo,
                &["checkpoint", "t", "-m", "step", "--allow-secrets"],
                mode,
            ),
        };
        checkpointed.map_err(|why| format!("step {} ({step}): {why}", n + 1))?;
        let ours = env.git(&repo, &["rev-parse", "agent/t^{tree}"]);
        if ours.trim() != theirs.trim() {
            let diff = tree_difference(env, &twin, &theirs, &repo, &ours);
            return Err(format!("step {} ({step}): trees differ:\n{diff}", n + 1));
        }
    }
    env.fsck(&repo);
    Ok(())
}

fn run_all(cases: &[Case<'_>]) {
    let env = TestEnv::in_memory();
    let mut failures = Vec::new();
    for case in cases {
        for mode in [Mode::Walk, Mode::Watched, Mode::Monitored] {
            if let Err(why) = run(&env, case, mode) {
                failures.push(format!("{} ({mode:?}): {why}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const IGNORED: &str = "printf 'a\\n' > a; printf '*.tmp\\nbuild/\\n' > .gitignore; \
     mkdir build; printf 'forced\\n' > build/forced.tmp; git add -f build/forced.tmp";

#[test]
fn git_typed_in_the_worktree_is_staged_as_git_add_stages_it() {
    run_all(&[
        Case {
            name: "add-f",
            base: IGNORED,
            steps: &["printf 'new\\n' > n.tmp && git add -f n.tmp"],
        },
        Case {
            name: "rm-cached-ignored",
            base: IGNORED,
            steps: &["git rm -q --cached build/forced.tmp"],
        },
        Case {
            name: "rm-cached",
            base: IGNORED,
            steps: &["git rm -q --cached a"],
        },
        Case {
            name: "add-of-an-edit",
            base: IGNORED,
            steps: &["printf 'b\\n' > a && git add a", "printf 'c\\n' > a"],
        },
        Case {
            name: "reset-soft",
            base: IGNORED,
            steps: &[
                "printf 'two\\n' > a && printf 'b\\n' > b",
                "git reset -q --soft HEAD~1",
                "git reset -q --soft HEAD~1 && printf 'c\\n' > c",
            ],
        },
    ]);
}

/// `$ROOT/up` (two commits, `1` and `2` on `main`) as the submodule `lib` at its first
/// commit, initialized; `$ROOT/up` again as `other`, registered but not initialized (its
/// directory empty, as a clone without `--recurse-submodules` leaves it).
const SUBMODULES: &str = "printf 'a\\n' > a && \
     git init -q \"$ROOT/up\" && cd \"$ROOT/up\" && \
     printf '1\\n' > f && git add f && git commit -qm 1 && \
     printf '2\\n' > f && git commit -qam 2 && cd - >/dev/null && \
     git -c protocol.file.allow=always submodule add -q \"$ROOT/up\" lib && \
     git -C lib checkout -q HEAD~1 && \
     git -c protocol.file.allow=always submodule add -q \"$ROOT/up\" other && \
     git submodule deinit -q -f other && rm -rf .git/modules/other";

/// A repository made inside the worktree, with a commit.
const NESTED: &str = "mkdir -p vendor/x && cd vendor/x && git init -q && \
     printf 'v\\n' > v && git add v && git commit -qm v";

#[test]
fn gitlinks_are_recorded_as_git_add_records_them() {
    run_all(&[
        Case {
            name: "submodule-moved",
            base: SUBMODULES,
            steps: &[
                "git -C lib checkout -q \"$(git -C \"$ROOT/up\" rev-parse main)\"",
                "git -C lib checkout -q HEAD~1",
            ],
        },
        Case {
            name: "submodule-removed",
            base: SUBMODULES,
            steps: &["rmdir other", "rm -rf lib"],
        },
        Case {
            name: "submodule-becomes-a-file",
            base: SUBMODULES,
            steps: &["rmdir other && printf 'now a file\\n' > other"],
        },
        Case {
            name: "nested-repository",
            base: "printf 'a\\n' > a",
            steps: &[
                NESTED,
                "cd vendor/x && printf 'w\\n' > w && git add w && git commit -qm w",
                "printf 'b\\n' > a",
                "rm -rf vendor",
            ],
        },
    ]);
}
