//! The crash-point suite: a short life of a task — `start` (a plan and two steps, each with a
//! checkpoint), `rollback`, `resume`, `drop --force` — with git-agent killed deterministically
//! at the k-th call of a syscall that writes, for every k: `strace -e
//! inject=<call>:signal=KILL:when=<k>` on the git-agent process (its main thread, where every
//! ref, note and index write happens). After each kill the life goes on from there — the
//! killed command again, or `resume` — to its end, and the state must be whole: `git fsck
//! --strict` and `git agent fsck` clean, every checkpoint with its own record (usage booked,
//! since a model was called for it), the task done, and after the drop no ref or lock file of
//! it left.
//!
//! `GIT_AGENT_CRASH_CALLS` says which calls are killed at (default `rename`, every rename of
//! the run: the points where a ref, a note or an index lands); `rename,write,fsync,unlink` is
//! the large mode. Needs strace (`.ci/run` installs it and sets `GIT_AGENT_TEST_STRACE`, which
//! makes a missing strace a failure); skipped with a note elsewhere.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script};

const TASK: &str = "t";
const GOAL: &str = "Add a --shout flag";

fn strace_available() -> bool {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GIT_AGENT_TEST_STRACE").is_none(),
            "strace is required (GIT_AGENT_TEST_STRACE is set): apt-get install -y strace"
        );
        eprintln!("strace is not installed; the crash points are not run");
    }
    found
}

/// The commands of the life, in order.
fn life() -> Vec<Vec<&'static str>> {
    vec![
        vec!["start", "--name", TASK, GOAL],
        vec!["rollback", TASK, "--reason", "crash points"],
        vec!["resume", TASK],
        vec!["drop", "--force", TASK],
    ]
}

/// git-agent with the tests' environment and the fake model, under strace with `strace_args`.
fn traced(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    args: &[&str],
    strace_args: &[String],
) -> Command {
    let mut agent = env.agent_cmd(dir, args);
    agent
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    let mut strace = Command::new("strace");
    strace.env_clear();
    for (key, value) in agent.get_envs() {
        if let Some(value) = value {
            strace.env(key, value);
        }
    }
    strace
        .current_dir(dir)
        .arg("-qq")
        .args(strace_args)
        .arg("--")
        .arg(agent.get_program())
        .args(agent.get_args())
        .stdin(std::process::Stdio::null());
    strace
}

fn run(env: &TestEnv, dir: &Path, model: &FakeModel, args: &[&str]) -> (bool, String) {
    let out = env
        .agent_cmd(dir, args)
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "git agent {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// How many times git-agent calls each of `calls` (its main thread) running `args`.
fn count_calls(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    args: &[&str],
    calls: &[String],
) -> BTreeMap<String, u32> {
    let trace = env.root.path().join("count.trace");
    let out = traced(
        env,
        dir,
        model,
        args,
        &[
            "-e".into(),
            format!("trace={}", calls.join(",")),
            "-o".into(),
            trace.display().to_string(),
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts: BTreeMap<String, u32> = calls.iter().map(|c| (c.clone(), 0)).collect();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        if let Some((name, _)) = line.split_once('(')
            && let Some(n) = counts.get_mut(name.trim())
        {
            *n += 1;
        }
    }
    counts
}

fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn branch_exists(env: &TestEnv, dir: &Path) -> bool {
    !env.git(dir, &["branch", "--list", &format!("agent/{TASK}")])
        .is_empty()
}

/// Why the state is not whole after the life went on to command `upto` (exclusive), if it is not.
fn check_whole(env: &TestEnv, dir: &Path, dropped: bool) -> Result<(), String> {
    let fsck = env
        .git_cmd(dir, &["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
    if !fsck.status.success() || !fsck.stdout.is_empty() {
        return Err(format!(
            "git fsck --strict: {}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        ));
    }
    let (code, out, err) = env.agent(dir, &["fsck"]);
    if code != 0 {
        return Err(format!("git agent fsck:\n{out}{err}"));
    }
    let mut locks = String::new();
    for sub in ["refs", "agent/journal"] {
        let root = dir.join(".git").join(sub);
        let found = Command::new("find")
            .arg(&root)
            .args([
                "-name",
                "*.lock",
                "-o",
                "-name",
                "*.redo",
                "-o",
                "-name",
                "*.partial",
            ])
            .output()
            .unwrap();
        locks.push_str(&String::from_utf8_lossy(&found.stdout));
    }
    if !locks.is_empty() {
        return Err(format!("left behind:\n{locks}"));
    }
    if dropped {
        let left = env.git(
            dir,
            &[
                "for-each-ref",
                &format!("refs/heads/agent/{TASK}"),
                &format!("refs/notes/agent/{TASK}"),
                &format!("refs/agent/{TASK}/"),
            ],
        );
        return if left.is_empty() {
            Ok(())
        } else {
            Err(format!("refs of the dropped task left:\n{left}"))
        };
    }
    let (_, status, _) = env.agent(dir, &["--json", "status", TASK]);
    if !status.contains("\"state\":\"done\"") {
        return Err(format!("the task is not done: {status}"));
    }
    let notes = format!("refs/notes/agent/{TASK}");
    let branch = format!("agent/{TASK}");
    let task_commit = env.git(
        dir,
        &[
            "rev-list",
            "--max-parents=1",
            "--reverse",
            &branch,
            "--not",
            "main",
        ],
    );
    let mut commits = task_commit.lines();
    let Some(first) = commits.next() else {
        return Err("the branch has no task commit".into());
    };
    if env
        .git_cmd(dir, &["notes", "--ref", &notes, "show", first])
        .output()
        .unwrap()
        .stdout
        .is_empty()
    {
        return Err(format!("the task commit {first} has no plan"));
    }
    let mut n = 0;
    for commit in commits {
        n += 1;
        let out = env
            .git_cmd(dir, &["notes", "--ref", &notes, "show", commit])
            .output()
            .unwrap();
        let record: toml::Value = match toml::from_str(&String::from_utf8_lossy(&out.stdout)) {
            Ok(record) if out.status.success() => record,
            _ => return Err(format!("checkpoint {n} ({commit}) has no record")),
        };
        let number = record.get("checkpoint").and_then(|v| v.as_integer());
        // The record's usage is its top-level fields; `pending` a table of the same fields.
        let turns = |table: Option<&toml::Value>| {
            table
                .and_then(|u| u.get("turns"))
                .and_then(|t| t.as_integer())
                .unwrap_or(0)
        };
        if number != Some(n) || turns(Some(&record)) + turns(record.get("pending")) == 0 {
            return Err(format!(
                "checkpoint {n} ({commit}) has a record that is not its own:\n{}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    if n < 2 {
        return Err(format!("only {n} checkpoints"));
    }
    Ok(())
}

#[test]
fn every_crash_point_of_a_task_s_life_leaves_it_whole_after_the_next_command() {
    if !strace_available() {
        return;
    }
    let calls: Vec<String> = std::env::var("GIT_AGENT_CRASH_CALLS")
        .unwrap_or_else(|_| "rename,renameat,renameat2".into())
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let life = life();

    // The life once, uninterrupted: the state before each command, and its calls counted.
    let mut counts = Vec::new();
    for (i, args) in life.iter().enumerate() {
        copy_dir(&dir, &env.root.path().join(format!("before-{i}")));
        counts.push(count_calls(&env, &dir, &model, args, &calls));
    }
    check_whole(&env, &dir, true).unwrap();

    let mut points = 0;
    let mut kills = 0;
    let mut failures = Vec::new();
    for (i, args) in life.iter().enumerate() {
        for (call, count) in &counts[i] {
            for k in 1..=*count {
                points += 1;
                copy_dir(&env.root.path().join(format!("before-{i}")), &dir);
                let killed = traced(
                    &env,
                    &dir,
                    &model,
                    args,
                    &[
                        "-o".into(),
                        "/dev/null".into(),
                        "-e".into(),
                        format!("trace={call}"),
                        "-e".into(),
                        format!("inject={call}:signal=KILL:when={k}"),
                    ],
                )
                .output()
                .unwrap();
                let at = format!("{} at {call} #{k}", args[0]);
                let killed_note = if killed.status.success() {
                    " (finished: not killed)"
                } else {
                    kills += 1;
                    ""
                };
                // The life goes on: the killed command again (or `resume` once the task
                // exists), then the rest.
                let mut outcome = Ok(());
                let go_on = |args: &[&str]| -> Result<(), String> {
                    let (ok, said) = run(&env, &dir, &model, args);
                    if ok { Ok(()) } else { Err(said) }
                };
                if i == 0 || i == 2 {
                    let again: Vec<&str> = if branch_exists(&env, &dir) {
                        vec!["resume", TASK]
                    } else {
                        args.clone()
                    };
                    outcome = go_on(&again);
                } else if i == 1 {
                    outcome = go_on(&["resume", TASK]);
                }
                if i == 3 && branch_exists(&env, &dir) {
                    outcome = go_on(&life[3]);
                }
                let mut whole = outcome.and_then(|()| check_whole(&env, &dir, i == 3));
                if whole.is_ok() && i < 3 {
                    whole = life[i + 1..]
                        .iter()
                        .filter(|later| later[0] != "resume" || i < 2)
                        .try_for_each(|later| go_on(later))
                        .and_then(|()| check_whole(&env, &dir, true));
                }
                if let Err(why) = whole {
                    failures.push(format!("{at}{killed_note}: {why}"));
                }
            }
        }
    }
    let by_command: Vec<String> = life
        .iter()
        .zip(&counts)
        .map(|(args, counts)| format!("{} {counts:?}", args[0]))
        .collect();
    eprintln!(
        "crash points: {points} ({}); killed: {kills}; failed: {}",
        by_command.join(", "),
        failures.len()
    );
    assert!(
        kills * 10 >= points * 9,
        "only {kills} of {points} crash points killed git-agent"
    );
    assert!(
        failures.is_empty(),
        "{} of {points} crash points left the task broken:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}
