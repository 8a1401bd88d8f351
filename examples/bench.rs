//! Whole-process benchmarks: git-agent as a user types it (`git agent …`, the release binary
//! found on `PATH` by git), against the `git` CLI doing the same work on a twin repository in
//! the same state, on the same disk.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench [SECTION]
//! ```
//!
//! SECTION is one of startup, checkpoint, steps, rollback, list, session, real, long (default:
//! all but real and long). Every pair runs alternately, A/B/A/B, after `git status` has
//! refreshed the index on both sides; the table shows medians with the range (min–max). `GIT_AGENT_BENCH_ROUNDS` sets the rounds
//! (default 11); `GIT_AGENT_BENCH_SKIP_100K=1` leaves out the 100k-file repositories, whose
//! generation takes a minute or two.
//!
//! - startup: `git agent --version` vs `git --version`, the floor of every command;
//! - checkpoint: `git agent checkpoint -q` of a one-file change vs `git add -A && git commit
//!   -q`, on generated repositories of 1k, 10k and 100k files (the task works `--here`, so
//!   both sides snapshot the same checkout); the second column is the checkpoint's own
//!   `checkpoint_ms`, what the harness spends inside the process;
//! - steps: checkpoints inside a run, where a watch names what changed: a replayed run
//!   rewriting one file a step at 1k, 10k and 100k files (the checkpoint's own
//!   `checkpoint_ms` from its record) against `git add -A && git commit -q` on the twin;
//!   `fsmonitor` (also part of `checkpoint`): the same with `agent.fsmonitor` on;
//! - rollback: `git agent rollback -q` of a 100-file checkpoint vs `git reset -q --hard
//!   HEAD~1`, 10k files;
//! - list: `git agent list` with 1,000 tasks and 10,000 checkpoints vs `git for-each-ref`
//!   over the same refs, with the task cache warm and with it removed before each run; and
//!   `git agent status` of one task vs `git log -1 --format=%(trailers)` + `git notes show`;
//! - session: a 200-step replayed session: harness time per step (no model latency) and the
//!   run's peak RSS;
//! - real (on demand): a real tree, any local repository `GIT_AGENT_BENCH_REPO=<path>`
//!   cloned into twins: `start --no-run` vs `git worktree add`, a
//!   one-file checkpoint vs `git add -A && git commit`, rollback of 1 and 100 files vs `git
//!   reset --hard HEAD~1`; wall, CPU and peak RSS, each with its ratio to git;
//! - long (on demand, not part of the default): one task of `GIT_AGENT_BENCH_LONG_STEPS`
//!   replayed steps (default 1,000), the harness's time per step at steps 1, 10, 100 and the
//!   last (medians of 10-step windows), to show it flat along a task's history.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up fails loudly"
)]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment both sides run in: the release binary first on `PATH`, no system config,
/// a global config of our own (identity only).
struct Env {
    path: OsString,
    global_config: PathBuf,
    bin: PathBuf,
}

impl Env {
    fn new(root: &Path) -> Env {
        let exe = std::env::current_exe().unwrap();
        let release = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let bin = release.join("git-agent");
        assert!(
            bin.exists(),
            "build the binary first: cargo build --release ({} is missing)",
            bin.display()
        );
        let mut paths = vec![release];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let global_config = root.join("gitconfig");
        std::fs::write(
            &global_config,
            "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n",
        )
        .unwrap();
        Env {
            path: std::env::join_paths(paths).unwrap(),
            global_config,
            bin,
        }
    }

    fn cmd(&self, dir: &Path, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .env("PATH", &self.path)
            .env("GIT_CONFIG_GLOBAL", &self.global_config)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Run to completion; panic with its stderr when it fails. Returns stdout.
    fn run(&self, dir: &Path, program: &str, args: &[&str]) -> String {
        let out = self.cmd(dir, program, args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        self.run(dir, "git", args)
    }

    /// Run a sequence of commands one after another, as a shell would; the wall time, the CPU
    /// time of the processes (user and system, their children and threads included), and the
    /// stdout of the last.
    fn time(&self, dir: &Path, commands: &[(&str, &[&str])]) -> (Run, String) {
        let cpu_before = children_cpu();
        let started = Instant::now();
        let mut stdout = String::new();
        for (program, args) in commands {
            stdout = self.run(dir, program, args);
        }
        let wall = started.elapsed();
        let run = Run {
            wall,
            cpu: children_cpu().saturating_sub(cpu_before),
        };
        (run, stdout)
    }
}

/// CPU time of every child process waited for so far.
fn children_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One measured run.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
}

/// Medians and ranges of paired runs.
#[derive(Default)]
struct Samples(Vec<Run>);

impl Samples {
    fn push(&mut self, run: Run) {
        self.0.push(run);
    }

    fn median_of(&self, f: impl Fn(&Run) -> Duration) -> Duration {
        let mut v: Vec<Duration> = self.0.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    }

    fn median(&self) -> Duration {
        self.median_of(|r| r.wall)
    }

    fn cpu(&self) -> Duration {
        self.median_of(|r| r.cpu)
    }

    /// `12.3 ms (11.9–14.0), cpu 4.10 ms`
    fn show(&self) -> String {
        let mut v: Vec<Duration> = self.0.iter().map(|r| r.wall).collect();
        v.sort();
        format!(
            "{} ({}–{}), cpu {}",
            ms(self.median()),
            ms_bare(v[0]),
            ms_bare(v[v.len() - 1]),
            ms(self.cpu())
        )
    }
}

fn ms_bare(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", ms_bare(d))
}

/// `wall ratio (cpu ratio)`
fn ratio(a: &Samples, b: &Samples) -> String {
    format!(
        "{:.2} ({:.2})",
        a.median().as_secs_f64() / b.median().as_secs_f64(),
        a.cpu().as_secs_f64() / b.cpu().as_secs_f64()
    )
}

/// The table, printed as it goes and again at the end, in the README's format.
#[derive(Default)]
struct Table(Vec<String>);

impl Table {
    fn row(&mut self, what: &str, ours: &str, theirs: &str, ratio: &str, goal: &str) {
        let line = format!("| {what} | {ours} | {theirs} | {ratio} | {goal} |");
        println!("{line}");
        self.0.push(line);
    }
}

fn rounds() -> usize {
    std::env::var("GIT_AGENT_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(11)
        .max(1)
}

fn generate(env: &Env, dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..files {
        let sub = dir.join(format!("d{:03}/e{:03}", i / 10_000, (i / 100) % 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(
            sub.join(format!("f{i}.txt")),
            format!("file {i}\n{}\n", "x".repeat(80)),
        )
        .unwrap();
    }
    env.git(dir, &["init", "-q"]);
    env.git(dir, &["add", "-A"]);
    env.git(dir, &["commit", "-qm", "initial"]);
}

fn copy(from: &Path, to: &Path) {
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success()
    );
}

/// Rewrite `count` files (from number `first` on) with content unique to `round`.
fn touch(dir: &Path, first: usize, count: usize, round: usize) {
    for i in first..first + count {
        let path = dir.join(format!(
            "d{:03}/e{:03}/f{i}.txt",
            i / 10_000,
            (i / 100) % 100
        ));
        std::fs::write(path, format!("changed in round {round}\n")).unwrap();
    }
}

/// Twin repositories of `files` files: ours with a task working in the checkout (`--here`).
fn twins(env: &Env, root: &Path, name: &str, files: usize) -> (PathBuf, PathBuf) {
    let ours = root.join(format!("{name}-agent"));
    let theirs = root.join(format!("{name}-git"));
    generate(env, &ours, files);
    copy(&ours, &theirs);
    env.git(
        &ours,
        &[
            "agent",
            "start",
            "-q",
            "--here",
            "--no-run",
            "--name",
            "bench",
            "benchmark",
        ],
    );
    // The same branch name on the git side, so both commit on a branch of that name.
    env.git(&theirs, &["switch", "-q", "-c", "agent/bench"]);
    (ours, theirs)
}

fn refresh(env: &Env, dirs: &[&Path]) {
    for dir in dirs {
        env.git(dir, &["status", "--porcelain"]);
    }
}

fn bench_startup(env: &Env, root: &Path, table: &mut Table) {
    let dir = root.join("startup");
    generate(env, &dir, 10);
    let (mut a, mut b) = (Samples::default(), Samples::default());
    for _ in 0..rounds() * 2 {
        a.push(env.time(&dir, &[("git", &["agent", "--version"])]).0);
        b.push(env.time(&dir, &[("git", &["--version"])]).0);
    }
    table.row(
        "startup: `git agent --version`",
        &a.show(),
        &format!("{} (`git --version`)", b.show()),
        &ratio(&a, &b),
        "",
    );
}

/// `git agent checkpoint` of a one-file change against `git add -A && git commit`; with
/// `monitored`, `agent.fsmonitor` is on in the repository's git config (as a user sets it)
/// and one checkpoint before the timed ones starts the monitor.
fn bench_checkpoint(env: &Env, root: &Path, table: &mut Table, monitored: bool) {
    let mut sizes = vec![1_000, 10_000];
    if std::env::var_os("GIT_AGENT_BENCH_SKIP_100K").is_none() {
        sizes.push(100_000);
    }
    let mut at_1k = None;
    let label = if monitored { "-fsm" } else { "" };
    for files in sizes {
        let (ours, theirs) = twins(env, root, &format!("ckpt{label}-{files}"), files);
        if monitored {
            env.git(&ours, &["config", "agent.fsmonitor", "true"]);
            let warm_up = rounds() + 1;
            touch(&ours, 1, 1, warm_up);
            touch(&theirs, 1, 1, warm_up);
            env.git(&ours, &["agent", "checkpoint", "-q", "-m", "warm-up"]);
            env.git(&theirs, &["commit", "-qam", "warm-up"]);
        }
        let (mut a, mut b, mut inside) =
            (Samples::default(), Samples::default(), Samples::default());
        for round in 0..rounds() {
            let file = round * 37 % files;
            touch(&ours, file, 1, round);
            touch(&theirs, file, 1, round);
            refresh(env, &[&ours, &theirs]);
            let message = format!("round {round}");
            let (t, out) = env.time(
                &ours,
                &[("git", &["agent", "checkpoint", "-q", "-m", &message])],
            );
            a.push(t);
            // "Checkpoint 3 1a2b3c4d on agent/bench: 1 file, +1 -2 (12 ms)"
            let own = out
                .rsplit_once('(')
                .and_then(|(_, r)| r.split_once(" ms"))
                .and_then(|(n, _)| n.parse::<u64>().ok())
                .unwrap_or_default();
            inside.push(Run {
                wall: Duration::from_millis(own),
                cpu: Duration::ZERO,
            });
            let (t, _) = env.time(
                &theirs,
                &[
                    ("git", &["add", "-A"]),
                    ("git", &["commit", "-q", "-m", &message]),
                ],
            );
            b.push(t);
        }
        let own = inside.median();
        let goal = if files == 1_000 {
            at_1k = Some(a.median());
            String::new()
        } else {
            let vs_1k = at_1k.map_or(String::new(), |base| {
                format!(
                    "; {:.2}× its 1k time",
                    a.median().as_secs_f64() / base.as_secs_f64()
                )
            });
            format!("≤ 0.5×{vs_1k}")
        };
        table.row(
            &format!(
                "checkpoint, 1 file changed, {}k files{}",
                files / 1000,
                if monitored {
                    ", `agent.fsmonitor` on"
                } else {
                    ""
                }
            ),
            &format!("{} (in-process {} ms)", a.show(), own.as_millis()),
            &format!("{} (`git add -A && git commit -q`)", b.show()),
            &ratio(&a, &b),
            &goal,
        );
        std::fs::remove_dir_all(&ours).ok();
        std::fs::remove_dir_all(&theirs).ok();
    }
}

/// `git agent rollback` of a 100-file checkpoint against `git reset --hard HEAD~1`; with
/// `monitored`, `agent.fsmonitor` on (the monitor is started by a checkpoint before).
fn bench_rollback(env: &Env, root: &Path, table: &mut Table, monitored: bool) {
    let label = if monitored {
        "rollback-fsm"
    } else {
        "rollback"
    };
    let (ours, theirs) = twins(env, root, label, 10_000);
    if monitored {
        env.git(&ours, &["config", "agent.fsmonitor", "true"]);
        touch(&ours, 500, 1, 0);
        env.git(&ours, &["agent", "checkpoint", "-q", "-m", "warm-up"]);
        touch(&theirs, 500, 1, 0);
        env.git(&theirs, &["commit", "-qam", "warm-up"]);
    }
    let (mut a, mut b) = (Samples::default(), Samples::default());
    for round in 0..rounds() {
        let message = format!("to roll back {round}");
        touch(&ours, 0, 100, round);
        env.git(&ours, &["agent", "checkpoint", "-q", "-m", &message]);
        touch(&theirs, 0, 100, round);
        env.git(&theirs, &["commit", "-q", "-a", "-m", &message]);
        refresh(env, &[&ours, &theirs]);
        a.push(env.time(&ours, &[("git", &["agent", "rollback", "-q"])]).0);
        b.push(
            env.time(&theirs, &[("git", &["reset", "-q", "--hard", "HEAD~1"])])
                .0,
        );
    }
    table.row(
        &format!(
            "rollback of a 100-file checkpoint, 10k files{}",
            if monitored {
                ", `agent.fsmonitor` on"
            } else {
                ""
            }
        ),
        &format!("{} (attic ref, plan note, worktree, index)", a.show()),
        &format!("{} (`git reset -q --hard HEAD~1`)", b.show()),
        &ratio(&a, &b),
        "≤ 1.0×",
    );
    std::fs::remove_dir_all(&ours).ok();
    std::fs::remove_dir_all(&theirs).ok();
}

/// `tasks` tasks of `checkpoints` checkpoints each, with trailers, plan and record notes,
/// through git fast-import.
fn many_tasks(env: &Env, dir: &Path, tasks: usize, checkpoints: usize) {
    generate(env, dir, 10);
    let base = env.git(dir, &["rev-parse", "HEAD"]).trim().to_string();
    let mut script = Vec::new();
    let mut mark = 1;
    for t in 0..tasks {
        let slug = format!("task-{t:04}");
        let mut marks = Vec::new();
        let message = format!(
            "agent: start {slug}\n\nbenchmark goal {t}\n\nAgent-Task: {slug}\nAgent-Base: {base}\n"
        );
        writeln!(script, "commit refs/heads/agent/{slug}\nmark :{mark}\ncommitter Bench <b@b> 1700000000 +0000\ndata {}\n{message}from {base}\n", message.len()).unwrap();
        marks.push(mark);
        mark += 1;
        for c in 1..=checkpoints {
            let message = format!(
                "checkpoint {c}\n\nAgent-Task: {slug}\nAgent-Checkpoint: {c}\nAgent-Step: {c}/{checkpoints}\nAgent-Expected: x\nAgent-Tests: pass (true: ok)\nAgent-Risks: none\nAgent-Next: none\nAgent-Model: bench\n"
            );
            writeln!(script, "commit refs/heads/agent/{slug}\nmark :{mark}\ncommitter Bench <b@b> {} +0000\ndata {}\n{message}", 1700000000 + c, message.len()).unwrap();
            marks.push(mark);
            mark += 1;
        }
        let plan =
            format!("goal = \"benchmark goal {t}\"\nstatus = \"ready\"\ntest_command = \"true\"\n");
        let record = "checkpoint = 1\nmodel = \"bench\"\ninput_tokens = 1000\noutput_tokens = 100\ncost_usd = 0.01\n";
        writeln!(
            script,
            "commit refs/notes/agent/{slug}\ncommitter Bench <b@b> 1700000000 +0000\ndata 5\nnotes"
        )
        .unwrap();
        writeln!(
            script,
            "N inline :{}\ndata {}\n{plan}",
            marks[0],
            plan.len()
        )
        .unwrap();
        for m in &marks[1..] {
            writeln!(script, "N inline :{m}\ndata {}\n{record}", record.len()).unwrap();
        }
        writeln!(script).unwrap();
    }
    let mut child = env
        .cmd(dir, "git", &["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&script).unwrap();
    assert!(child.wait().unwrap().success());
}

fn bench_list(env: &Env, root: &Path, table: &mut Table) {
    let dir = root.join("many");
    many_tasks(env, &dir, 1_000, 10);
    let cache = dir.join(".git/agent/cache/tasks");
    let refs: &[&str] = &[
        "for-each-ref",
        "refs/heads/agent/",
        "refs/notes/agent/",
        "refs/agent/",
    ];
    // Warm: the cache written by a first list.
    env.git(&dir, &["agent", "list"]);
    let (mut a, mut b, mut cold) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..rounds() {
        a.push(env.time(&dir, &[("git", &["agent", "list"])]).0);
        b.push(env.time(&dir, &[("git", refs)]).0);
    }
    for _ in 0..rounds().min(5) {
        std::fs::remove_file(&cache).unwrap();
        cold.push(env.time(&dir, &[("git", &["agent", "list"])]).0);
    }
    table.row(
        "`list`: 1,000 tasks, 10,000 checkpoints",
        &a.show(),
        &format!("{} (`git for-each-ref` over the same refs)", b.show()),
        &ratio(&a, &b),
        "≤ 2×",
    );
    table.row(
        "`list`, the task cache removed before each run",
        &cold.show(),
        "",
        &ratio(&cold, &b),
        "",
    );

    let (mut a, mut b) = (Samples::default(), Samples::default());
    let slug = "task-0500";
    let branch = format!("agent/{slug}");
    for _ in 0..rounds() {
        a.push(env.time(&dir, &[("git", &["agent", "status", slug])]).0);
        b.push(
            env.time(
                &dir,
                &[
                    ("git", &["log", "-1", "--format=%(trailers)", &branch]),
                    ("git", &["notes", "--ref", &branch, "show", &branch]),
                ],
            )
            .0,
        );
    }
    table.row(
        "`status` of one task (of 1,000)",
        &a.show(),
        &format!(
            "{} (`git log -1 --format=%(trailers)` + `git notes show`)",
            b.show()
        ),
        &ratio(&a, &b),
        "≤ 10 ms",
    );
}

/// Run `cmd` and return its wall time and its own peak RSS in KiB (not that of any other
/// child of this process).
// The child is reaped by `wait4`, which std does not offer and which reports its own rusage.
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4")]
fn run_measured(mut cmd: Command, stderr: &Path) -> (Duration, i64, bool) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, filling the status and rusage we own. The `Child` is
    // not waited for again.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (started.elapsed(), usage.ru_maxrss, ok)
}

/// One answer of the replay provider: a tool call.
fn replay_turn(id: usize, name: &str, input: serde_json::Value) -> String {
    serde_json::json!({"model": "claude-sonnet-4-5", "stop_reason": "tool_use",
        "usage": {"input_tokens": 2000, "output_tokens": 100},
        "content": [{"type": "tool_use", "id": format!("toolu_{id}"), "name": name, "input": input}]})
    .to_string()
}

/// A replayed run of `steps` steps, each writing `path_of(n)` and finishing.
fn replay_session(steps: usize, path_of: impl Fn(usize) -> String) -> String {
    let mut lines = String::new();
    let plan_steps: Vec<_> = (1..=steps)
        .map(|n| serde_json::json!({"title": format!("part {n}"), "detail": "write it"}))
        .collect();
    lines.push_str(&replay_turn(0, "submit_plan", serde_json::json!({"objective": "o", "constraints": [], "acceptance_criteria": [], "test_command": "true", "steps": plan_steps})));
    lines.push('\n');
    for n in 1..=steps {
        lines.push_str(&replay_turn(
            2 * n,
            "write_file",
            serde_json::json!({"path": path_of(n), "content": format!("step {n}\n")}),
        ));
        lines.push('\n');
        lines.push_str(&replay_turn(2 * n + 1, "finish_step", serde_json::json!({"summary": format!("part {n}"), "expected_outcome": "x", "risks": "none", "next_step": "next"})));
        lines.push('\n');
    }
    lines
}

/// The `checkpoint_ms` of every checkpoint record of `branch`, oldest first.
fn checkpoint_times(env: &Env, dir: &Path, slug: &str) -> Vec<u64> {
    let records = env.git(
        dir,
        &[
            "log",
            "--reverse",
            "--format=%N",
            &format!("--notes=agent/{slug}"),
            &format!("agent/{slug}"),
        ],
    );
    records
        .lines()
        .filter_map(|l| l.strip_prefix("checkpoint_ms"))
        .filter_map(|v| v.trim_start_matches([' ', '=']).trim().parse::<u64>().ok())
        .collect()
}

/// Checkpoints inside a run, where a watch names what changed: a replayed run whose every
/// step rewrites one file, at 1k/10k/100k files, against `git add -A && git commit` of a
/// one-file change on a twin (whole processes). The run's first checkpoint walks the tree
/// (nobody watched before the run), and so does its last; the median is of the others.
fn bench_steps(env: &Env, root: &Path, table: &mut Table) {
    let mut sizes = vec![1_000, 10_000];
    if std::env::var_os("GIT_AGENT_BENCH_SKIP_100K").is_none() {
        sizes.push(100_000);
    }
    let steps = rounds() + 2;
    let mut at_1k = None;
    for files in sizes {
        let (ours, theirs) = twins(env, root, &format!("steps-{files}"), files);
        let session = root.join(format!("steps-{files}.jsonl"));
        std::fs::write(
            &session,
            replay_session(steps, |n| {
                let i = n * 37 % files;
                format!("d{:03}/e{:03}/f{i}.txt", i / 10_000, (i / 100) % 100)
            }),
        )
        .unwrap();
        let mut cmd = env.cmd(&ours, env.bin.to_str().unwrap(), &[]);
        cmd.args([
            "start",
            "--name",
            "run",
            "--provider",
            "replay",
            "--replay-file",
        ])
        .arg(&session)
        .arg("one file a step");
        let stderr = root.join("steps.stderr");
        let (_, _, ok) = run_measured(cmd, &stderr);
        assert!(
            ok,
            "{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        let times = checkpoint_times(env, &ours, "run");
        assert_eq!(times.len(), steps, "one checkpoint a step");
        // The first and the last step's checkpoints walk the worktree by design.
        let watched = &times[1..times.len() - 1];
        let mut inside = Samples::default();
        for ms in watched {
            inside.push(Run {
                wall: Duration::from_millis(*ms),
                cpu: Duration::ZERO,
            });
        }
        let mut theirs_runs = Samples::default();
        for round in 0..rounds() {
            touch(&theirs, round * 37 % files, 1, round);
            refresh(env, &[&theirs]);
            let message = format!("round {round}");
            let (t, _) = env.time(
                &theirs,
                &[
                    ("git", &["add", "-A"]),
                    ("git", &["commit", "-q", "-m", &message]),
                ],
            );
            theirs_runs.push(t);
        }
        let median = inside.median();
        let goal = if files == 1_000 {
            at_1k = Some(median);
            String::new()
        } else {
            let vs_1k = at_1k.map_or(String::new(), |base| {
                format!(
                    "; {:.2}× its 1k time",
                    median.as_secs_f64() / base.as_secs_f64().max(0.001)
                )
            });
            format!("≤ 0.5×{vs_1k}")
        };
        let mut all: Vec<u64> = watched.to_vec();
        all.sort();
        table.row(
            &format!(
                "checkpoint in a run (watched), 1 file changed, {}k files",
                files / 1000
            ),
            &format!(
                "{} ms ({}–{}) in-process (`checkpoint_ms`: snapshot and commit, not the refs, note and index written after); the run's first and last, walks: {} and {} ms",
                median.as_millis(),
                all[0],
                all[all.len() - 1],
                times[0],
                times[times.len() - 1]
            ),
            &format!("{} (`git add -A && git commit -q`)", theirs_runs.show()),
            &format!(
                "{:.2}",
                median.as_secs_f64() / theirs_runs.median().as_secs_f64()
            ),
            &goal,
        );
        std::fs::remove_dir_all(&ours).ok();
        std::fs::remove_dir_all(&theirs).ok();
    }
}

/// A repository of 100 files whose policy allows `steps` steps, and the command that runs a
/// replayed session of `steps` steps (each writing one new file) in it as task `long`.
fn session_run(env: &Env, root: &Path, name: &str, steps: usize) -> (PathBuf, Command) {
    let dir = root.join(name);
    generate(env, &dir, 100);
    std::fs::write(
        dir.join(".git-agent.toml"),
        format!("test_command = \"true\"\nmax_steps = {steps}\n"),
    )
    .unwrap();
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "policy"]);
    let lines = replay_session(steps, |n| format!("parts/p{n}.txt"));
    let session = root.join(format!("{name}.jsonl"));
    std::fs::write(&session, lines).unwrap();
    let mut cmd = env.cmd(&dir, env.bin.to_str().unwrap(), &[]);
    cmd.args([
        "start",
        "--name",
        "long",
        "--provider",
        "replay",
        "--replay-file",
    ])
    .arg(&session)
    .arg(format!("{steps} parts"));
    (dir, cmd)
}

fn bench_session(env: &Env, root: &Path, table: &mut Table) {
    let steps = 200;
    let (dir, cmd) = session_run(env, root, "session", steps);
    let stderr = root.join("session.stderr");
    let (wall, maxrss_kib, ok) = run_measured(cmd, &stderr);
    assert!(
        ok,
        "{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let records = env.git(
        &dir,
        &["log", "--format=%N", "--notes=agent/long", "agent/long"],
    );
    let field = |name: &str| -> u64 {
        records
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|v| v.trim_start_matches([' ', '=']).trim().parse::<u64>().ok())
            .sum()
    };
    let per_step = |total: u64| format!("{:.1} ms", total as f64 / steps as f64);
    table.row(
        "200-step replayed session, harness time per step",
        &format!(
            "{:.1} ms (checkpoint {}, sandboxed test run {})",
            wall.as_secs_f64() * 1000.0 / steps as f64,
            per_step(field("checkpoint_ms")),
            per_step(field("duration_ms")),
        ),
        "",
        "",
        "< 20 ms",
    );
    table.row(
        "200-step replayed session, peak RSS",
        &format!("{:.1} MiB", maxrss_kib as f64 / 1024.0),
        "",
        "",
        "< 50 MiB",
    );
}

/// Run `cmd` with its stdout read line by line as it comes, each line handed to `on_line`
/// with the moment it arrived and the child's pid (and `None` at the end of its output); returns the run's wall time, its peak RSS in KiB and whether
/// it succeeded (reaped by `wait4`, as in [`run_measured`]).
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4")]
fn run_streamed(
    mut cmd: Command,
    stderr: &Path,
    mut on_line: impl FnMut(Option<&str>, Instant, u32),
) -> (Duration, i64, bool) {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        on_line(Some(&line.unwrap()), Instant::now(), child.id());
    }
    // The end of its output, before it is reaped (its /proc entry is still there).
    on_line(None, Instant::now(), child.id());
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, filling the status and rusage we own. The `Child` is
    // not waited for again.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (started.elapsed(), usage.ru_maxrss, ok)
}

/// CPU time so far of process `pid` (user and system, with its children it waited for),
/// from `/proc/<pid>/stat`, in clock ticks of 10 ms; zero if it cannot be read.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 of what follows ')'.
    let ticks: u64 = fields.get(11..15).map_or(0, |f| f.iter().sum());
    Duration::from_millis(ticks * 10)
}

/// How many steps the `long` section runs (`GIT_AGENT_BENCH_LONG_STEPS`, default 1,000).
fn long_steps() -> usize {
    std::env::var("GIT_AGENT_BENCH_LONG_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
        .max(20)
}

/// The harness's time per step along one long task: a replayed session of `long_steps()`
/// steps run with `--json`, each step's time taken from its `step_started` event to the next
/// one's (the last step's: to the run's exit), as this process reads them. Shown as medians
/// of 10-step windows starting at steps 1, 10 and 100 and ending at the last step: flat
/// means nothing the harness does per step grows with the task's history.
fn bench_long(env: &Env, root: &Path, table: &mut Table) {
    let steps = long_steps();
    let (dir, mut cmd) = session_run(env, root, "long", steps);
    // 2,000 tokens a turn, two turns a step: the default budget ends the run at step 667.
    cmd.args(["--json", "--max-cost", "1000"]);
    let stderr = root.join("long.stderr");
    let mut last = String::new();
    let (mut starts, mut cpu_at_start) = (Vec::new(), Vec::new());
    let (mut ended, mut cpu_total) = (Instant::now(), Duration::ZERO);
    let (wall, maxrss_kib, ok) = run_streamed(cmd, &stderr, |line, at, pid| match line {
        Some(line) => {
            last = line.to_string();
            let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if event["type"] == "step_started" {
                starts.push(at);
                cpu_at_start.push(process_cpu(pid));
            }
        }
        None => (ended, cpu_total) = (at, process_cpu(pid)),
    });
    assert!(
        ok,
        "{last}\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    assert_eq!(starts.len(), steps, "one step_started event a step");
    let mut per_step: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    per_step.push(ended - starts[steps - 1]);
    let window = |first: usize| -> Duration {
        // Steps `first`..`first + 9`, 1-based, kept inside the run.
        let from = first.min(steps - 9) - 1;
        let mut times = per_step[from..from + 10].to_vec();
        times.sort();
        (times[4] + times[5]) / 2
    };
    // CPU of a window: the run's own and its waited-for children's, in clock ticks, so a sum
    // over the window's 10 steps rather than a median. The last window ends at the run's end.
    let window_cpu = |first: usize| -> Duration {
        let from = first.min(steps - 9) - 1;
        let end = cpu_at_start.get(from + 10).copied().unwrap_or(cpu_total);
        end.saturating_sub(cpu_at_start[from]) / 10
    };
    let mut marks: Vec<usize> = [1, 10, 100]
        .into_iter()
        .filter(|&k| k + 9 <= steps)
        .collect();
    marks.push(steps);
    let figures: Vec<String> = marks
        .iter()
        .map(|&k| format!("step {k}: {} (cpu {})", ms(window(k)), ms(window_cpu(k))))
        .collect();
    let growth =
        |f: &dyn Fn(usize) -> Duration| f(steps).as_secs_f64() / f(10).as_secs_f64().max(1e-6);
    table.row(
        &format!("{steps}-step replayed session, harness time per step (medians of 10 steps)"),
        &format!(
            "{}; whole run {:.1} ms a step",
            figures.join(", "),
            wall.as_secs_f64() * 1000.0 / steps as f64
        ),
        "",
        &format!(
            "step {steps} / step 10: {:.2} ({:.2})",
            growth(&window),
            growth(&window_cpu)
        ),
        "< 20 ms at every step, flat",
    );
    let count = |args: &[&str]| env.git(&dir, args).trim().to_string();
    let objects = count(&["count-objects"]);
    table.row(
        &format!("{steps}-step replayed session, what is left in git"),
        &format!(
            "notes commits: {}; commits on the branch: {}; loose objects: {}; peak RSS {:.1} MiB",
            count(&["rev-list", "--count", "refs/notes/agent/long"]),
            count(&["rev-list", "--count", "agent/long"]),
            objects.split_whitespace().next().unwrap_or("?"),
            maxrss_kib as f64 / 1024.0
        ),
        "",
        "",
        "",
    );
}

/// The repository the `real` section measures on (`GIT_AGENT_BENCH_REPO`, any local
/// repository, bare or not): its HEAD tree is cloned twice, one twin for each side.
fn real_repo() -> PathBuf {
    std::env::var_os("GIT_AGENT_BENCH_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            eprintln!("the real section needs GIT_AGENT_BENCH_REPO=<path of a local repository>");
            std::process::exit(2)
        })
}

/// Paired samples of whole processes with their peak RSS (KiB, the largest of the sequence).
#[derive(Default)]
struct Measured {
    runs: Samples,
    rss: Vec<i64>,
}

impl Measured {
    fn rss_mib(&self) -> f64 {
        let mut v = self.rss.clone();
        v.sort();
        v[v.len() / 2] as f64 / 1024.0
    }
}

/// Run `commands` one after another in `dir`, each reaped by `wait4`: the wall time, the
/// CPU time of the sequence and its largest peak RSS go into `into`.
fn measure(env: &Env, dir: &Path, root: &Path, commands: &[(&str, &[&str])], into: &mut Measured) {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut rss = 0;
    let stderr = root.join("measured.stderr");
    for (program, args) in commands {
        let (_, peak, ok) = run_measured(env.cmd(dir, program, args), &stderr);
        assert!(
            ok,
            "{program} {args:?} in {}: {}",
            dir.display(),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        rss = rss.max(peak);
    }
    into.runs.push(Run {
        wall: started.elapsed(),
        cpu: children_cpu().saturating_sub(cpu_before),
    });
    into.rss.push(rss);
}

/// One row of the real-tree table: times, then peak RSS, each with its ratio to git.
fn real_row(
    table: &mut Table,
    what: &str,
    ours: &Measured,
    theirs: &Measured,
    git: &str,
    goal: &str,
) {
    table.row(
        what,
        &format!("{}, peak RSS {:.1} MiB", ours.runs.show(), ours.rss_mib()),
        &format!(
            "{}, peak RSS {:.1} MiB (`{git}`)",
            theirs.runs.show(),
            theirs.rss_mib()
        ),
        &format!(
            "{}; RSS {:.2}",
            ratio(&ours.runs, &theirs.runs),
            ours.rss_mib() / theirs.rss_mib()
        ),
        goal,
    );
}

/// Rewrite the tracked files `files[first..first + count]` with content unique to `round`.
fn touch_tracked(dir: &Path, files: &[String], first: usize, count: usize, round: usize) {
    for name in files.iter().cycle().skip(first).take(count) {
        let path = dir.join(name);
        // A tracked symlink or submodule is left alone: only regular files are rewritten.
        if path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            std::fs::write(path, format!("changed in round {round}\n")).unwrap();
        }
    }
}

/// real: the operations a user meets, on a real tree (`GIT_AGENT_BENCH_REPO`), each against
/// git on a twin clone: `start --no-run` vs `git worktree add`, a one-file checkpoint vs
/// `git add -A && git commit`, a rollback of 1 and 100 files vs `git reset --hard HEAD~1`; wall, CPU and peak RSS, each with its ratio.
fn bench_real(env: &Env, root: &Path, table: &mut Table) {
    let source = real_repo();
    let ours = root.join("real-agent");
    let theirs = root.join("real-git");
    for twin in [&ours, &theirs] {
        let out = env
            .cmd(root, "git", &["clone", "-q", "--no-hardlinks"])
            .arg(&source)
            .arg(twin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let files: Vec<String> = env
        .git(&ours, &["ls-files"])
        .lines()
        .map(str::to_string)
        .collect();
    println!(
        "real tree: {} ({} files at {})",
        source.display(),
        files.len(),
        env.git(&ours, &["rev-parse", "--short", "HEAD"]).trim()
    );
    let rounds = rounds();
    let place = |dir: &Path, n: usize| {
        dir.join(".git")
            .join("bench-worktrees")
            .join(format!("w{n}"))
    };

    let (mut a, mut b) = (Measured::default(), Measured::default());
    for round in 0..rounds {
        refresh(env, &[&ours, &theirs]);
        let slug = format!("s{round}");
        measure(
            env,
            &ours,
            root,
            &[(
                "git",
                &[
                    "agent",
                    "start",
                    "-q",
                    "--no-run",
                    "--name",
                    &slug,
                    "benchmark",
                ],
            )],
            &mut a,
        );
        let wt = place(&theirs, round);
        let wt = wt.to_str().unwrap();
        let branch = format!("w{round}");
        measure(
            env,
            &theirs,
            root,
            &[("git", &["worktree", "add", "-q", "-b", &branch, wt])],
            &mut b,
        );
        env.git(&ours, &["agent", "drop", "-q", "-f", &slug]);
        env.git(&theirs, &["worktree", "remove", "--force", wt]);
        env.git(&theirs, &["branch", "-q", "-D", &branch]);
    }
    real_row(
        table,
        &format!("real tree, `start --no-run`, {} files", files.len()),
        &a,
        &b,
        "git worktree add",
        "≤ 1.0×",
    );

    // The task works in the checkout (`--here`), as in the checkpoint section.
    env.git(
        &ours,
        &[
            "agent",
            "start",
            "-q",
            "--here",
            "--no-run",
            "--name",
            "bench",
            "benchmark",
        ],
    );
    env.git(&theirs, &["switch", "-q", "-c", "agent/bench"]);
    let (mut a, mut b) = (Measured::default(), Measured::default());
    for round in 0..rounds {
        let first = round * 37 % files.len();
        touch_tracked(&ours, &files, first, 1, round);
        touch_tracked(&theirs, &files, first, 1, round);
        refresh(env, &[&ours, &theirs]);
        let message = format!("round {round}");
        measure(
            env,
            &ours,
            root,
            &[("git", &["agent", "checkpoint", "-q", "-m", &message])],
            &mut a,
        );
        measure(
            env,
            &theirs,
            root,
            &[
                ("git", &["add", "-A"]),
                ("git", &["commit", "-q", "-m", &message]),
            ],
            &mut b,
        );
    }
    real_row(
        table,
        &format!(
            "real tree, checkpoint of 1 changed file, {} files",
            files.len()
        ),
        &a,
        &b,
        "git add -A && git commit -q",
        "≤ 0.5×",
    );

    for count in [1, 100] {
        let (mut a, mut b) = (Measured::default(), Measured::default());
        for round in 0..rounds {
            let message = format!("to roll back {count} {round}");
            let first = 1000 + round * count;
            touch_tracked(&ours, &files, first, count, round + 1000);
            env.git(&ours, &["agent", "checkpoint", "-q", "-m", &message]);
            touch_tracked(&theirs, &files, first, count, round + 1000);
            env.git(&theirs, &["commit", "-q", "-a", "-m", &message]);
            refresh(env, &[&ours, &theirs]);
            measure(
                env,
                &ours,
                root,
                &[("git", &["agent", "rollback", "-q"])],
                &mut a,
            );
            measure(
                env,
                &theirs,
                root,
                &[("git", &["reset", "-q", "--hard", "HEAD~1"])],
                &mut b,
            );
        }
        real_row(
            table,
            &format!(
                "real tree, rollback of {count} file(s), {} files",
                files.len()
            ),
            &a,
            &b,
            "git reset -q --hard HEAD~1",
            "≤ 1.0×",
        );
    }
    std::fs::remove_dir_all(&ours).ok();
    std::fs::remove_dir_all(&theirs).ok();
}

fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let git = Command::new("git")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let fs = Command::new("df")
        .arg("--output=fstype")
        .arg(std::env::temp_dir())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    format!(
        "nproc {nproc}, {kernel}, {cpu}, {mem_gib:.0} GiB, {git}, repositories on {fs} ({})",
        std::env::temp_dir().display()
    )
}

fn main() {
    let section = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let root = tempfile::tempdir().unwrap();
    let env = Env::new(root.path());
    println!("machine: {}", machine());
    println!(
        "whole processes, median (min–max) of {} alternated runs each\n",
        rounds()
    );
    println!("| what | git-agent | git | ratio: wall (cpu) | goal |");
    println!("|---|---|---|---|---|");
    let mut table = Table::default();
    let all = section == "all";
    // Each section deletes repositories of up to 100k files; the next one waits for the
    // kernel to write that back, or its figures carry the previous section's disk work.
    let settle = || {
        let _ = Command::new("sync").status();
        std::thread::sleep(Duration::from_secs(3));
    };
    if all || section == "startup" {
        settle();
        bench_startup(&env, root.path(), &mut table);
    }
    if all || section == "checkpoint" {
        settle();
        bench_checkpoint(&env, root.path(), &mut table, false);
    }
    if all || section == "checkpoint" || section == "fsmonitor" {
        settle();
        bench_checkpoint(&env, root.path(), &mut table, true);
    }
    if all || section == "steps" {
        settle();
        bench_steps(&env, root.path(), &mut table);
    }
    if all || section == "rollback" {
        settle();
        bench_rollback(&env, root.path(), &mut table, false);
        bench_rollback(&env, root.path(), &mut table, true);
    }
    if all || section == "list" {
        settle();
        bench_list(&env, root.path(), &mut table);
    }
    if all || section == "session" {
        settle();
        bench_session(&env, root.path(), &mut table);
    }
    if section == "real" {
        settle();
        bench_real(&env, root.path(), &mut table);
    }
    if section == "long" {
        settle();
        bench_long(&env, root.path(), &mut table);
    }
    println!("\n| what | git-agent | git | ratio: wall (cpu) | goal |");
    println!("|---|---|---|---|---|");
    for line in &table.0 {
        println!("{line}");
    }
}
