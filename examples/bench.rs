//! The benchmark suite: where the harness spends its time, against git doing the same work
//! in the same run. `cargo build --release && cargo run --release --example bench [SECTION]`
//! with SECTION one of checkpoint, rollback, list, session (default: all).
//!
//! - checkpoint: a checkpoint with one file changed vs `git add -A && git commit`, on
//!   generated repositories of 1k, 10k and 100k files (median of 5 rounds);
//! - rollback: rolling back a 100-file checkpoint vs `git reset --hard HEAD~1`, 10k files;
//! - list: `list` and `status` with 1,000 tasks and 10,000 checkpoints vs `git for-each-ref`,
//!   and the resume bookkeeping on a 200-checkpoint task;
//! - session: a 200-step replayed session through the release binary: peak memory, and the
//!   harness's own time per step (no model latency).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_agent::store::{
    CheckpointInput, CheckpointRecord, NewTask, RollbackTarget, Store, TestsSummary, TestsVerdict,
};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn generate(dir: &Path, files: usize) {
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
    git(dir, &["init", "-q"]);
    // No background gc: it would repack objects while a copy is made.
    git(dir, &["config", "gc.auto", "0"]);
    git(dir, &["config", "user.name", "Bench"]);
    git(dir, &["config", "user.email", "bench@example.com"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn input(summary: &str) -> CheckpointInput<'_> {
    CheckpointInput {
        summary,
        body: "",
        step: 1,
        steps: 1,
        expected: "bench",
        tests: TestsSummary {
            verdict: TestsVerdict::Pass,
            command: "true".into(),
            summary: "ok".into(),
        },
        risks: "none",
        next: "none",
        model: "bench",
        record: CheckpointRecord::default(),
        co_author: None,
        secret_allow: None,
    }
}

/// A task working in the checkout itself (`--here`), so both sides touch the same tree.
fn task_here(dir: &Path) -> Store {
    let store = Store::discover(dir).unwrap();
    let task = store
        .create_task(&NewTask {
            goal: "benchmark",
            name: Some("bench"),
            here: true,
            display_notes: false,
            carried: None,
        })
        .unwrap();
    store.switch_here(&task).unwrap();
    store
}

fn touch(dir: &Path, files: usize, round: usize) {
    for i in 0..files {
        let path = dir.join(format!("d000/e{:03}/f{}.txt", i / 100, i));
        std::fs::write(path, format!("changed in round {round}\n")).unwrap();
    }
}

fn bench_checkpoint(root: &Path) {
    println!("\ncheckpoint, one file changed (median of 5)");
    println!(
        "{:>8}  {:>12}  {:>22}  {:>6}",
        "files", "git-agent ms", "git add -A + commit ms", "ratio"
    );
    for files in [1_000, 10_000, 100_000] {
        let ours = root.join(format!("ckpt-ours-{files}"));
        let theirs = root.join(format!("ckpt-git-{files}"));
        generate(&ours, files);
        copy(&ours, &theirs);
        let store = task_here(&ours);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..5 {
            touch(&ours, 1, round);
            let task = store.task("bench").unwrap();
            let t = Instant::now();
            store.checkpoint(&task, &ours, input("round")).unwrap();
            a.push(t.elapsed());
            touch(&theirs, 1, round);
            let t = Instant::now();
            let ok = Command::new("sh")
                .args(["-c", "git add -A && git commit -qm round"])
                .current_dir(&theirs)
                .status()
                .unwrap()
                .success();
            assert!(ok);
            b.push(t.elapsed());
        }
        let (a, b) = (median(a), median(b));
        println!(
            "{files:>8}  {:>12.1}  {:>22.1}  {:>6.2}",
            ms(a),
            ms(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
        std::fs::remove_dir_all(&ours).ok();
        std::fs::remove_dir_all(&theirs).ok();
    }
}

fn bench_rollback(root: &Path) {
    println!("\nrollback of a 100-file checkpoint, 10k files (median of 5)");
    let ours = root.join("rb-ours");
    let theirs = root.join("rb-git");
    generate(&ours, 10_000);
    copy(&ours, &theirs);
    let store = task_here(&ours);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..5 {
        touch(&ours, 100, round);
        let task = store.task("bench").unwrap();
        store
            .checkpoint(&task, &ours, input("to roll back"))
            .unwrap();
        let task = store.task("bench").unwrap();
        let to = store
            .rollback_target(&task, &RollbackTarget::Steps(1))
            .unwrap();
        let t = Instant::now();
        store.rollback(&task, to, "bench", Some(&ours)).unwrap();
        a.push(t.elapsed());

        touch(&theirs, 100, round);
        git(&theirs, &["commit", "-qam", "to reset"]);
        let t = Instant::now();
        git(&theirs, &["reset", "-q", "--hard", "HEAD~1"]);
        b.push(t.elapsed());
    }
    let (a, b) = (median(a), median(b));
    println!(
        "  git-agent rollback {:.1} ms (attic ref, plan note, worktree and index)",
        ms(a)
    );
    println!(
        "  git reset --hard   {:.1} ms    ratio {:.2}",
        ms(b),
        a.as_secs_f64() / b.as_secs_f64()
    );
}

/// 1,000 tasks of 10 checkpoints each (with trailers and record notes), through git fast-import.
fn many_tasks(dir: &Path, tasks: usize, checkpoints: usize) {
    generate(dir, 10);
    let base = git(dir, &["rev-parse", "HEAD"]).trim().to_string();
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
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&script).unwrap();
    assert!(child.wait().unwrap().success());
}

fn bench_list(root: &Path) {
    println!("\nlist and status: 1,000 tasks, 10,000 checkpoints");
    let dir = root.join("many");
    many_tasks(&dir, 1_000, 10);
    let store = Store::discover(&dir).unwrap();
    let t = Instant::now();
    let slugs = store.task_slugs().unwrap();
    let mut cost = 0.0;
    for slug in &slugs {
        cost += store.summary(slug).unwrap().budget.usage.cost_usd;
    }
    let list = t.elapsed();
    assert_eq!(slugs.len(), 1_000);
    let t = Instant::now();
    let status = store.summary("task-0500").unwrap();
    let one = t.elapsed();
    let t = Instant::now();
    git(
        &dir,
        &["for-each-ref", "refs/heads/agent", "refs/notes/agent"],
    );
    let refs = t.elapsed();
    let t = Instant::now();
    git(
        &dir,
        &[
            "log",
            "--format=%h %s%n%(trailers)",
            "--notes=agent/task-0500",
            "agent/task-0500",
        ],
    );
    let log = t.elapsed();
    println!(
        "  list (1,000 summaries, ${cost:.2} summed)  {:.1} ms   vs git for-each-ref {:.1} ms",
        ms(list),
        ms(refs)
    );
    println!(
        "  status of one task ({} checkpoints)      {:.2} ms   vs git log with trailers+notes {:.1} ms",
        status.checkpoints,
        ms(one),
        ms(log)
    );

    // Resume bookkeeping on a long task: read task, plan, checkpoints, budget.
    let long = root.join("long");
    many_tasks(&long, 1, 200);
    let store = Store::discover(&long).unwrap();
    let t = Instant::now();
    let task = store.task("task-0000").unwrap();
    let plan = store.plan(&task).unwrap();
    let checkpoints = store.checkpoints(&task).unwrap();
    let budget = store.budget(&task, &plan).unwrap();
    let resume = t.elapsed();
    println!(
        "  resume bookkeeping, 200 checkpoints     {:.1} ms   ({} checkpoints, {} turns summed)",
        ms(resume),
        checkpoints.len(),
        budget.usage.turns
    );
}

fn bench_session(root: &Path) {
    println!("\na 200-step replayed session through the release binary");
    let exe = std::env::current_exe().unwrap();
    let bin: PathBuf = exe.parent().unwrap().parent().unwrap().join("git-agent");
    if !bin.exists() {
        println!("  skipped: build the binary first (cargo build --release)");
        return;
    }
    let dir = root.join("session");
    generate(&dir, 100);
    std::fs::write(
        dir.join(".git-agent.toml"),
        "test_command = \"true\"\nmax_steps = 200\n",
    )
    .unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "policy"]);
    let steps = 200;
    let mut lines = String::new();
    let tool = |id: usize, name: &str, input: serde_json::Value| {
        serde_json::json!({"model": "claude-sonnet-4-5", "stop_reason": "tool_use",
            "usage": {"input_tokens": 2000, "output_tokens": 100},
            "content": [{"type": "tool_use", "id": format!("toolu_{id}"), "name": name, "input": input}]})
        .to_string()
    };
    let plan_steps: Vec<_> = (1..=steps)
        .map(|n| serde_json::json!({"title": format!("part {n}"), "detail": "write it"}))
        .collect();
    lines.push_str(&tool(0, "submit_plan", serde_json::json!({"objective": "o", "constraints": [], "acceptance_criteria": [], "test_command": "true", "steps": plan_steps})));
    lines.push('\n');
    for n in 1..=steps {
        lines.push_str(&tool(
            2 * n,
            "write_file",
            serde_json::json!({"path": format!("parts/p{n}.txt"), "content": format!("{n}\n")}),
        ));
        lines.push('\n');
        lines.push_str(&tool(2 * n + 1, "finish_step", serde_json::json!({"summary": format!("part {n}"), "expected_outcome": "x", "risks": "none", "next_step": "next"})));
        lines.push('\n');
    }
    let session = root.join("session.jsonl");
    std::fs::write(&session, lines).unwrap();
    let t = Instant::now();
    let status = Command::new(&bin)
        .args([
            "start",
            "--name",
            "long",
            "--provider",
            "replay",
            "--replay-file",
        ])
        .arg(&session)
        .arg("two hundred parts")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let wall = t.elapsed();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let store = Store::discover(&dir).unwrap();
    let task = store.task("long").unwrap();
    let checkpoints = store.checkpoints(&task).unwrap();
    let ckpt_ms: u64 = checkpoints
        .iter()
        .filter_map(|c| c.record.as_ref())
        .map(|r| r.checkpoint_ms)
        .sum();
    let test_ms: u64 = checkpoints
        .iter()
        .filter_map(|c| c.record.as_ref())
        .map(|r| r.tests.duration_ms)
        .sum();
    println!(
        "  {} checkpoints in {:.1} s: {:.1} ms per step of harness time (model latency 0: replay)",
        checkpoints.len(),
        wall.as_secs_f64(),
        ms(wall) / steps as f64
    );
    println!(
        "  of which checkpoint {:.1} ms and sandboxed test run {:.1} ms per step",
        ckpt_ms as f64 / steps as f64,
        test_ms as f64 / steps as f64
    );
    println!(
        "  peak memory (max RSS of the run): {:.1} MiB",
        usage.ru_maxrss as f64 / 1024.0
    );
}

fn main() {
    let section = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let root = tempfile::tempdir().unwrap();
    println!(
        "git-agent benchmarks on {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if matches!(section.as_str(), "all" | "checkpoint") {
        bench_checkpoint(root.path());
    }
    if matches!(section.as_str(), "all" | "rollback") {
        bench_rollback(root.path());
    }
    if matches!(section.as_str(), "all" | "list") {
        bench_list(root.path());
    }
    if matches!(section.as_str(), "all" | "session") {
        bench_session(root.path());
    }
}
