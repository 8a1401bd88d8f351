//! Checkpoint cost against git's own `git add -A && git commit`, on generated repositories.
//!
//! `cargo run --release --example bench_checkpoint [SIZES...]` (default 1000 10000 100000).
//! For each size it builds a repository, copies it, then times five rounds of "change one
//! file, record it" in both: a git-agent checkpoint (snapshot, commit, record note, index)
//! in one, `git add -A && git commit` in the other. Medians are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git_agent::store::{
    CheckpointInput, CheckpointRecord, NewTask, Store, TestsSummary, TestsVerdict,
};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
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
    // No background gc: it would repack objects while the copy is made.
    git(dir, &["config", "gc.auto", "0"]);
    git(
        dir,
        &["-c", "user.name=b", "-c", "user.email=b@b", "add", "-A"],
    );
    git(
        dir,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            "initial",
        ],
    );
    git(dir, &["config", "user.name", "Bench"]);
    git(dir, &["config", "user.email", "bench@example.com"]);
}

fn touch_one(dir: &Path, round: usize) {
    let path = dir.join("d000/e000/f1.txt");
    std::fs::write(path, format!("changed in round {round}\n")).unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(files: usize, root: &Path) -> (Duration, Duration) {
    let ours = root.join(format!("ours-{files}"));
    let theirs = root.join(format!("git-{files}"));
    generate(&ours, files);
    let status = Command::new("cp")
        .args(["-a"])
        .arg(&ours)
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(status.success());

    let store = Store::discover(&ours).unwrap();
    let task = store
        .create_task(&NewTask {
            goal: "benchmark",
            name: Some("bench"),
            here: true,
            display_notes: false,
        })
        .unwrap();
    store.switch_here(&task).unwrap();
    let mut agent_times = Vec::new();
    let mut git_times = Vec::new();
    for round in 0..5 {
        touch_one(&ours, round);
        let task = store.task("bench").unwrap();
        let started = Instant::now();
        store
            .checkpoint(
                &task,
                &ours,
                CheckpointInput {
                    summary: "bench round",
                    body: "",
                    step: 1,
                    steps: 1,
                    expected: "one file changed",
                    tests: TestsSummary {
                        verdict: TestsVerdict::NotRun,
                        command: String::new(),
                        summary: String::new(),
                    },
                    risks: "none",
                    next: "none",
                    model: "bench",
                    record: CheckpointRecord::default(),
                    co_author: None,
                },
            )
            .unwrap();
        agent_times.push(started.elapsed());

        touch_one(&theirs, round);
        let started = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg("git add -A && git commit -qm 'bench round'")
            .current_dir(&theirs)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success());
        git_times.push(started.elapsed());
    }
    (median(agent_times), median(git_times))
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let root = tempfile::tempdir().unwrap();
    println!(
        "{:>8}  {:>14}  {:>22}  {:>6}",
        "files", "git-agent (ms)", "git add+commit (ms)", "ratio"
    );
    for files in sizes {
        let (ours, git) = bench(files, root.path());
        println!(
            "{:>8}  {:>14.1}  {:>22.1}  {:>6.2}",
            files,
            ours.as_secs_f64() * 1000.0,
            git.as_secs_f64() * 1000.0,
            ours.as_secs_f64() / git.as_secs_f64()
        );
    }
}
