//! The crash-point suite: a whole life of a task — `start` (a plan and two steps, each with a
//! checkpoint), `rollback`, `resume`, `push` to a bare remote, `merge` into the user's
//! branch, `drop --force` — with git-agent killed deterministically at every rename under
//! `.git` it makes, for every k. After each kill the life goes on from there — the killed
//! command again, or `resume` — to its end, and the state must be whole after the command
//! that recovered and after the rest of the life: `git fsck --strict` and `git agent fsck`
//! clean, no lock or journal left, every checkpoint with its own record (usage booked, since
//! a model was called for it), the task done; after the push the remote holds what the clone
//! holds; after the merge the user's branch has exactly one merge of the task and the plan
//! says so; after the drop no ref of the task is left.
//!
//! Two killers:
//! - strace: `strace -e inject=<call>:signal=KILL:when=<k>` on the git-agent process (its main
//!   thread, where every ref, note and index write of gix happens) — the k-th call of the
//!   process, whatever the path. `GIT_AGENT_CRASH_CALLS` says which calls (default the
//!   renames; `rename,renameat,renameat2,write,fsync,fdatasync,unlink` is the large mode).
//! - the `git` children: the branch, index and tracking-ref writes of `merge` and `push` are
//!   made by `git` (`update-index`, `read-tree`, `update-ref`, `fetch`, `push`), which strace
//!   on the agent does not see. A preloaded library counts their renames under the clone's
//!   `.git` (not the remote's: a git dying there is its server's to clean up after), and at
//!   the k-th kills the whole process group — git-agent and every git under it — before the
//!   rename happens. In the small mode the children of `push` and `merge` are killed at;
//!   `GIT_AGENT_CRASH_CHILDREN=all` (the large mode) kills at the children of every command.
//!
//! Needs strace and a C compiler (`.ci/run` installs strace and sets `GIT_AGENT_TEST_STRACE`,
//! which makes a missing one a failure); skipped with a note elsewhere.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::{TestEnv, wrapped};
use crate::fake_model::{FakeModel, Script};

const TASK: &str = "t";
const GOAL: &str = "Add a --shout flag";

/// The commands of the life, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Start,
    Rollback,
    Resume,
    Push,
    Merge,
    Drop,
}

const LIFE: [Stage; 6] = [
    Stage::Start,
    Stage::Rollback,
    Stage::Resume,
    Stage::Push,
    Stage::Merge,
    Stage::Drop,
];

impl Stage {
    fn args(self) -> Vec<&'static str> {
        match self {
            Stage::Start => vec!["start", "--name", TASK, GOAL],
            Stage::Rollback => vec!["rollback", TASK, "--reason", "crash points"],
            Stage::Resume => vec!["resume", TASK],
            // The task's name alone: the remote is `origin`.
            Stage::Push => vec!["push", TASK],
            Stage::Merge => vec!["merge", TASK],
            Stage::Drop => vec!["drop", "--force", TASK],
        }
    }

    /// The command that brings the life back on track after this stage was killed, as the
    /// state says: `None` when the killed command had finished what it does.
    fn recovery(self, life: &Life) -> Option<Vec<&'static str>> {
        let exists = life.branch_exists();
        match self {
            Stage::Start if !exists => Some(Stage::Start.args()),
            Stage::Start | Stage::Rollback | Stage::Resume => Some(vec!["resume", TASK]),
            Stage::Push => Some(Stage::Push.args()),
            Stage::Merge => (life.state() != "merged").then(|| Stage::Merge.args()),
            Stage::Drop => exists.then(|| Stage::Drop.args()),
        }
    }

    /// Whether a kill in `self` is followed by `later` in the rest of the life: a resume
    /// after the task is done again changes nothing.
    fn goes_on_to(self, later: Stage) -> bool {
        later > self && (later != Stage::Resume || self < Stage::Resume)
    }
}

/// Where a run is killed.
#[derive(Debug, Clone)]
enum Killer {
    /// The k-th call of git-agent's own process.
    Strace { call: String, k: u32 },
    /// The k-th rename under `.git` (or the remote) by one of git-agent's `git` children.
    Child { k: u32 },
}

/// The repository, its bare remote `origin`, the fake model, and the preloaded library that
/// counts the `git` children's renames.
struct Life {
    env: TestEnv,
    dir: PathBuf,
    remote: PathBuf,
    model: FakeModel,
    shim: PathBuf,
    /// Where the library is: not in memory, where a mount may forbid mapping code.
    _shim_dir: tempfile::TempDir,
}

impl Life {
    fn new() -> Life {
        let env = TestEnv::in_memory();
        let dir = sample(&env, "");
        let remote = env.root.path().join("remote.git");
        env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]);
        env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]);
        let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
        let shim_dir = tempfile::tempdir().unwrap();
        let shim = build_shim(shim_dir.path());
        Life {
            env,
            dir,
            remote,
            model,
            shim,
            _shim_dir: shim_dir,
        }
    }

    /// git-agent with the tests' environment and the fake model.
    fn agent(&self, args: &[&str]) -> Command {
        let mut agent = self.env.agent_cmd(&self.dir, args);
        agent
            .env("ANTHROPIC_BASE_URL", &self.model.url)
            .env("ANTHROPIC_API_KEY", KEY)
            .stdin(std::process::Stdio::null());
        agent
    }

    /// git-agent under strace with `strace_args`.
    fn traced(&self, args: &[&str], strace_args: &[String]) -> Command {
        let mut quiet = vec!["-qq".to_string()];
        quiet.extend_from_slice(strace_args);
        wrapped(&self.agent(args), "strace", &quiet)
    }

    /// git-agent in a process group of its own, its `git` children's renames counted in
    /// `counter` and, at the `at`-th (0: never), the group killed.
    fn with_shim(&self, args: &[&str], counter: &Path, at: u32) -> Command {
        let mut agent = self.agent(args);
        let dot_git = self.dir.join(".git");
        agent
            .env("LD_PRELOAD", &self.shim)
            .env("CRASH_SHIM_COUNTER", counter)
            .env("CRASH_SHIM_AT", at.to_string())
            // The clone's `.git`: this machine dies, the remote's server does not (a git that
            // dies in the remote is the server's to clean up after).
            .env("CRASH_SHIM_UNDER", &dot_git)
            // The agent's own files (worktrees, journals, locks): strace covers git-agent's
            // writes, and commands in the worktree are no git of ours.
            .env("CRASH_SHIM_EXCEPT", dot_git.join("agent"))
            .process_group(0);
        agent
    }

    /// Run git-agent to success or say why not.
    fn go_on(&self, args: &[&str]) -> Result<(), String> {
        let out = self.agent(args).output().unwrap();
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "git agent {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn branch_exists(&self) -> bool {
        self.git(&["branch", "--list", &format!("agent/{TASK}")])
            .is_ok_and(|out| !out.is_empty())
    }

    fn status(&self) -> serde_json::Value {
        let (_, status, _) = self.env.agent(&self.dir, &["--json", "status", TASK]);
        serde_json::from_str(status.lines().last().unwrap_or("{}")).unwrap_or_default()
    }

    fn state(&self) -> String {
        self.status()["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// git in the clone: its output, or why it failed (a kill may leave git unable to read
    /// the repository, which is a finding, not a panic of the suite).
    fn git(&self, args: &[&str]) -> Result<String, String> {
        let out = self.env.git_cmd(&self.dir, args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Save (or restore) the repository and the remote as they are before stage `i`.
    fn snapshot(&self, i: usize) -> PathBuf {
        self.env.root.path().join(format!("before-{i}"))
    }

    fn save(&self, i: usize) {
        let to = self.snapshot(i);
        std::fs::create_dir_all(&to).unwrap();
        copy_dir(&self.dir, &to.join("repo"));
        copy_dir(&self.remote, &to.join("remote"));
    }

    fn restore(&self, i: usize) {
        let from = self.snapshot(i);
        copy_dir(&from.join("repo"), &self.dir);
        copy_dir(&from.join("remote"), &self.remote);
    }
}

fn tool_available(program: &str, arg: &str) -> bool {
    let found = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GIT_AGENT_TEST_STRACE").is_none(),
            "{program} is required (GIT_AGENT_TEST_STRACE is set)"
        );
        eprintln!("{program} is not installed; the crash points are not run");
    }
    found
}

/// The preloaded library: counts renames (`rename`, `renameat`, `renameat2` of libc, which
/// git uses) whose destination is under one of `CRASH_SHIM_UNDER` and not under
/// `CRASH_SHIM_EXCEPT`, made by any process but git-agent itself, in the file
/// `CRASH_SHIM_COUNTER`; at the `CRASH_SHIM_AT`-th it kills its process group first.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int within(const char *path, const char *dirs) {
    if (!dirs) return 0;
    char copy[8192];
    snprintf(copy, sizeof copy, "%s", dirs);
    for (char *save = 0, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(0, ":", &save)) {
        size_t n = strlen(dir);
        if (strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0)) return 1;
    }
    return 0;
}

static void crash_point(int dirfd, const char *path) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        const char *base = strrchr(exe, '/');
        if (base && strcmp(base + 1, "git-agent") == 0) return;
    }
    char full[PATH_MAX * 2], dir[PATH_MAX], real[PATH_MAX];
    if (path[0] == '/') {
        snprintf(full, sizeof full, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n <= 0) return;
            base[n] = 0;
        }
        snprintf(full, sizeof full, "%s/%s", base, path);
    }
    snprintf(dir, sizeof dir, "%s", full);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = 0;
    if (!realpath(dir[0] ? dir : "/", real)) return;
    if (!within(real, getenv("CRASH_SHIM_UNDER")) || within(real, getenv("CRASH_SHIM_EXCEPT"))) return;
    const char *counter = getenv("CRASH_SHIM_COUNTER");
    if (!counter) return;
    int fd = open(counter, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    flock(fd, LOCK_EX);
    char text[32] = {0};
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    long n = (got > 0 ? atol(text) : 0) + 1;
    int size = snprintf(text, sizeof text, "%ld\n", n);
    if (pwrite(fd, text, size, 0) < 0) {}
    const char *at = getenv("CRASH_SHIM_AT");
    if (at && atol(at) == n) kill(0, SIGKILL);
    flock(fd, LOCK_UN);
    close(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "rename");
    crash_point(AT_FDCWD, to);
    return real(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    static int (*real)(int, const char *, int, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "renameat");
    crash_point(tofd, to);
    return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags) {
    static int (*real)(int, const char *, int, const char *, unsigned);
    if (!real) real = dlsym(RTLD_NEXT, "renameat2");
    crash_point(tofd, to);
    return real(fromfd, from, tofd, to, flags);
}
"#;

fn build_shim(dir: &Path) -> PathBuf {
    let source = dir.join("crash_shim.c");
    let library = dir.join("crash_shim.so");
    std::fs::write(&source, SHIM).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    library
}

/// How many times git-agent calls each of `calls` (its own process) running `args`.
fn count_calls(life: &Life, args: &[&str], calls: &[String]) -> BTreeMap<String, u32> {
    let trace = life.env.root.path().join("count.trace");
    let out = life
        .traced(
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

/// How many renames under `.git` and the remote git-agent's `git` children make running
/// `args` (which must succeed).
fn count_child_renames(life: &Life, args: &[&str]) -> u32 {
    let counter = life.env.root.path().join("count.children");
    let _ = std::fs::remove_file(&counter);
    let out = life.with_shim(args, &counter, 0).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&counter)
        .map(|t| t.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Run `args` killed where `killer` says; whether it was killed.
fn killed_run(life: &Life, args: &[&str], killer: &Killer) -> bool {
    let status = match killer {
        Killer::Strace { call, k } => {
            life.traced(
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
            .unwrap()
            .status
        }
        Killer::Child { k } => {
            let counter = life.env.root.path().join("kill.children");
            let _ = std::fs::remove_file(&counter);
            life.with_shim(args, &counter, *k).output().unwrap().status
        }
    };
    !status.success()
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

/// Why the state after `stage` (and what recovered it) is not whole, if it is not.
fn check_whole(life: &Life, stage: Stage) -> Result<(), String> {
    let env = &life.env;
    let dir = &life.dir;
    for (what, repo) in [("the clone", dir), ("the remote", &life.remote)] {
        let fsck = env
            .git_cmd(repo, &["fsck", "--strict", "--no-dangling"])
            .output()
            .unwrap();
        if !fsck.status.success() || !fsck.stdout.is_empty() {
            return Err(format!(
                "git fsck --strict of {what}: {}{}",
                String::from_utf8_lossy(&fsck.stdout),
                String::from_utf8_lossy(&fsck.stderr)
            ));
        }
    }
    let (code, out, err) = env.agent(dir, &["fsck"]);
    if code != 0 {
        return Err(format!("git agent fsck:\n{out}{err}"));
    }
    let mut left = String::new();
    for root in [
        dir.join(".git/refs"),
        dir.join(".git/agent/journal"),
        life.remote.join("refs"),
    ] {
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
        left.push_str(&String::from_utf8_lossy(&found.stdout));
    }
    for index_lock in [
        dir.join(".git/index.lock"),
        dir.join(".git/packed-refs.lock"),
    ] {
        if index_lock.exists() {
            left.push_str(&format!("{}\n", index_lock.display()));
        }
    }
    if !left.is_empty() {
        return Err(format!("left behind:\n{left}"));
    }
    let merges = merges_of_the_task(life)?;
    let expected = usize::from(stage >= Stage::Merge);
    if merges.len() != expected {
        return Err(format!(
            "main has {} merges of the task, not {expected}:\n{}",
            merges.len(),
            merges.join("\n")
        ));
    }
    if stage >= Stage::Merge {
        let status = life.git(&["status", "--porcelain"])?;
        if !status.is_empty() {
            return Err(format!(
                "the checkout is not clean after the merge:\n{status}"
            ));
        }
    }
    if stage == Stage::Drop {
        let left = life.git(&[
            "for-each-ref",
            &format!("refs/heads/agent/{TASK}"),
            &format!("refs/notes/agent/{TASK}"),
            &format!("refs/agent/{TASK}/"),
        ])?;
        return if left.is_empty() {
            Ok(())
        } else {
            Err(format!("refs of the dropped task left:\n{left}"))
        };
    }
    let state = life.state();
    let wanted = if stage >= Stage::Merge {
        "merged"
    } else {
        "done"
    };
    if state != wanted {
        return Err(format!("the task is {state}, not {wanted}"));
    }
    if stage >= Stage::Push {
        for name in [
            format!("refs/heads/agent/{TASK}"),
            format!("refs/notes/agent/{TASK}"),
        ] {
            let ours = life.git(&["rev-parse", &name])?;
            let theirs = env
                .git_cmd(&life.remote, &["rev-parse", &name])
                .output()
                .unwrap();
            // The merge writes the plan after the push: the remote's notes may be behind.
            let behind = name.starts_with("refs/notes/") && stage >= Stage::Merge;
            if String::from_utf8_lossy(&theirs.stdout) != ours && !behind {
                return Err(format!("the remote's {name} is not the clone's ({ours})"));
            }
        }
    }
    check_records(life)
}

/// The commits of main that merge the task (`Agent-Task: t` in a merge commit).
fn merges_of_the_task(life: &Life) -> Result<Vec<String>, String> {
    Ok(life
        .git(&[
            "log",
            "--merges",
            "--format=%H %s",
            &format!("--grep=^Agent-Task: {TASK}$"),
            "main",
        ])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// Every checkpoint has its own record, with the usage of a model call; the task commit has
/// its plan.
fn check_records(life: &Life) -> Result<(), String> {
    let env = &life.env;
    let dir = &life.dir;
    let notes = format!("refs/notes/agent/{TASK}");
    let branch = format!("agent/{TASK}");
    let base = life.status()["base"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let task_commits = life.git(&[
        "rev-list",
        "--max-parents=1",
        "--reverse",
        &branch,
        "--not",
        &base,
    ])?;
    let mut commits = task_commits.lines();
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
    if !tool_available("strace", "-V") || !tool_available("cc", "--version") {
        return;
    }
    let started = Instant::now();
    let calls: Vec<String> = std::env::var("GIT_AGENT_CRASH_CALLS")
        .unwrap_or_else(|_| "rename,renameat,renameat2".into())
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let all_children = std::env::var("GIT_AGENT_CRASH_CHILDREN").is_ok_and(|v| v == "all");
    let life = Life::new();

    // The life once, uninterrupted: the state before each command, and its calls counted.
    let mut points: Vec<(usize, Killer)> = Vec::new();
    let mut counted = Vec::new();
    for (i, stage) in LIFE.iter().enumerate() {
        life.save(i);
        let args = stage.args();
        let counts = count_calls(&life, &args, &calls);
        for (call, count) in &counts {
            points.extend((1..=*count).map(|k| {
                (
                    i,
                    Killer::Strace {
                        call: call.clone(),
                        k,
                    },
                )
            }));
        }
        let mut children = 0;
        if all_children || matches!(stage, Stage::Push | Stage::Merge) {
            // Counted on a copy: the command has run once already.
            life.save(LIFE.len());
            life.restore(i);
            children = count_child_renames(&life, &args);
            points.extend((1..=children).map(|k| (i, Killer::Child { k })));
            life.restore(LIFE.len());
        }
        counted.push(format!("{stage:?} {counts:?} children {children}"));
    }
    check_whole(&life, Stage::Drop).unwrap();
    if std::env::var_os("TMP_COUNT_ONLY").is_some() {
        panic!("{}", counted.join("\n"));
    }

    // `GIT_AGENT_CRASH_STAGES=Push,Merge` kills only in those commands (a focused run).
    if let Ok(only) = std::env::var("GIT_AGENT_CRASH_STAGES") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        points.retain(|(i, _)| only.contains(&format!("{:?}", LIFE[*i]).as_str()));
    }
    // `GIT_AGENT_CRASH_AT=46-53` kills only at those counts (to look again at a few points).
    if let Ok(range) = std::env::var("GIT_AGENT_CRASH_AT") {
        let (from, to) = range.split_once('-').unwrap_or((&range, &range));
        let (from, to): (u32, u32) = (from.trim().parse().unwrap(), to.trim().parse().unwrap());
        points.retain(|(_, killer)| {
            let k = match killer {
                Killer::Strace { k, .. } | Killer::Child { k } => *k,
            };
            (from..=to).contains(&k)
        });
    }
    let mut kills = 0;
    let mut failures = Vec::new();
    for (i, killer) in &points {
        let stage = LIFE[*i];
        life.restore(*i);
        let killed = killed_run(&life, &stage.args(), killer);
        kills += usize::from(killed);
        let at = format!(
            "{stage:?} at {killer:?}{}",
            if killed {
                ""
            } else {
                " (finished: not killed)"
            }
        );
        let recovered = match stage.recovery(&life) {
            // `git rev-parse` does not see a start whose ref change is journaled but cut
            // short: the next `git agent` command finishes it, and `start` then says the task
            // exists and to resume it — which the user does.
            Some(args) => life.go_on(&args).or_else(|why| {
                if stage == Stage::Start && why.contains("exists already") {
                    life.go_on(&Stage::Resume.args())
                } else {
                    Err(why)
                }
            }),
            None => Ok(()),
        };
        let mut whole = recovered.and_then(|()| check_whole(&life, stage));
        if whole.is_ok() && stage != Stage::Drop {
            whole = LIFE
                .iter()
                .filter(|later| stage.goes_on_to(**later))
                .try_for_each(|later| life.go_on(&later.args()))
                .and_then(|()| check_whole(&life, Stage::Drop));
        }
        if let Err(why) = whole {
            failures.push(format!("{at}: {why}"));
        }
    }
    eprintln!(
        "crash points: {} ({}); killed: {kills}; failed: {}; {:.0?}",
        points.len(),
        counted.join(", "),
        failures.len(),
        started.elapsed()
    );
    assert!(
        kills * 10 >= points.len() * 9,
        "only {kills} of {} crash points killed git-agent",
        points.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} crash points left the task broken:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n---\n")
    );
}

/// A start killed while its checkout writes the worktree's files leaves a half-made worktree,
/// which held nothing of anyone's: the next run removes it and makes it again, rather than
/// moving it aside for the user to look at (a `stale-worktree` finding) — and a directory
/// that was no half-made worktree is still moved aside, never deleted.
#[test]
fn a_start_killed_while_it_makes_the_worktree_leaves_nothing_aside() {
    if !tool_available("strace", "-V") {
        return;
    }
    let life = Life::new();
    let worktree = worktree_of(&life);
    // The first write into README.md, the first file the checkout writes: half done.
    let file = worktree.join("README.md");
    let killed = life
        .traced(
            &Stage::Start.args(),
            &[
                "-o".into(),
                "/dev/null".into(),
                "-P".into(),
                file.display().to_string(),
                "-e".into(),
                "trace=write".into(),
                "-e".into(),
                "inject=write:signal=KILL:when=1".into(),
            ],
        )
        .output()
        .unwrap();
    assert!(!killed.status.success(), "start was not killed");
    assert!(life.branch_exists());
    assert!(
        worktree.is_dir() && std::fs::read(&file).unwrap().is_empty(),
        "not half-made"
    );
    life.go_on(&Stage::Resume.args()).unwrap();
    check_whole(&life, Stage::Resume).unwrap();
    // What the killed checkout had not written is not recorded as the task's change.
    let changed = life.git(&["diff", "--name-only", "main", &format!("agent/{TASK}")]);
    assert_eq!(changed.unwrap(), "greet.sh\ntest.sh\n");
    let aside: Vec<String> = std::fs::read_dir(worktree.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != TASK)
        .collect();
    assert_eq!(aside, Vec::<String>::new());

    // A directory at the worktree's place that git-agent was not making: moved aside.
    let life = Life::new();
    life.go_on(&["start", "--no-run", "--name", TASK, GOAL])
        .unwrap();
    std::fs::remove_dir_all(life.dir.join(".git/worktrees").join(TASK)).unwrap();
    std::fs::write(worktree_of(&life).join("notes.txt"), "mine\n").unwrap();
    life.go_on(&Stage::Resume.args()).unwrap();
    let worktree = worktree_of(&life);
    let aside: Vec<PathBuf> = std::fs::read_dir(worktree.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != TASK)
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(aside[0].join("notes.txt")).unwrap(),
        "mine\n"
    );
}

fn worktree_of(life: &Life) -> PathBuf {
    life.dir.join(".git/agent/worktrees").join(TASK)
}
