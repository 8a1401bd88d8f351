//! A checkpoint does git's work in the process: `git agent checkpoint` starts no child process
//! and looks at each file of the worktree at most once. Counted with strace (`.ci/run`
//! installs it and sets `GIT_AGENT_TEST_STRACE=1`, which makes a missing strace a failure;
//! elsewhere the test is skipped with a note).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

fn strace_available() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GIT_AGENT_TEST_STRACE").is_none(),
            "strace is required (GIT_AGENT_TEST_STRACE is set): apt-get install -y strace"
        );
        eprintln!("strace is not installed; the syscall counts are not checked");
    }
    found
}

/// What a trace says: child processes started, and per path the stat calls that named it
/// (`by_name`) and the `fstat`s of a file descriptor open on it (`by_fd`).
#[derive(Default, Debug)]
struct Counts {
    processes: Vec<String>,
    by_name: BTreeMap<PathBuf, usize>,
    by_fd: BTreeMap<PathBuf, usize>,
    /// The `ftruncate`s of a file descriptor open on each path.
    truncated: BTreeMap<PathBuf, usize>,
}

/// `<dir>` of `AT_FDCWD</dir>` or `3</dir>`, as `strace -y` decorates a descriptor.
fn fd_path(arg: &str) -> Option<&str> {
    let start = arg.find('<')?;
    Some(&arg[start + 1..arg.rfind('>')?])
}

/// The first string argument: `"…"`.
fn quoted(args: &str) -> Option<&str> {
    let start = args.find('"')?;
    let rest = &args[start + 1..];
    Some(&rest[..rest.find('"')?])
}

fn parse(trace: &str) -> Counts {
    let mut counts = Counts::default();
    let mut execs = 0;
    for line in trace.lines() {
        // `<pid> <syscall>(<args>` — a call interrupted by another thread shows its
        // arguments on the first line (`<unfinished ...>`) and is counted there.
        let Some((_, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        match name {
            "execve" | "execveat" if !args.contains("ENOENT") => {
                execs += 1;
                if execs > 1 {
                    counts.processes.push(line.to_string());
                }
            }
            "fork" | "vfork" => counts.processes.push(line.to_string()),
            "clone" | "clone3" if !args.contains("CLONE_THREAD") => {
                counts.processes.push(line.to_string())
            }
            "fstat" | "ftruncate" => {
                if let Some(path) = fd_path(args.split(',').next().unwrap_or_default()) {
                    let key = if name == "fstat" {
                        &mut counts.by_fd
                    } else {
                        &mut counts.truncated
                    };
                    *key.entry(PathBuf::from(path)).or_default() += 1;
                }
            }
            "stat" | "lstat" | "newfstatat" | "fstatat64" | "statx" => {
                let Some(name) = quoted(args) else { continue };
                let path = if name.starts_with('/') {
                    PathBuf::from(name)
                } else {
                    // Relative to the descriptor of the first argument (`AT_FDCWD</cwd>`);
                    // an empty name with AT_EMPTY_PATH is that descriptor itself.
                    let first = args.split(',').next().unwrap_or_default();
                    let Some(dir) = fd_path(first) else { continue };
                    if name.is_empty() {
                        PathBuf::from(dir)
                    } else {
                        Path::new(dir).join(name)
                    }
                };
                let key = if name.is_empty() {
                    &mut counts.by_fd
                } else {
                    &mut counts.by_name
                };
                *key.entry(path).or_default() += 1;
            }
            _ => {}
        }
    }
    counts
}

/// Run `agent` (a command of the binary with the tests' environment) under `strace -f`,
/// tracing `calls`, where the trace file `name` goes; it must succeed. What the trace says.
fn strace(
    env: &TestEnv,
    repo: &Path,
    agent: &std::process::Command,
    calls: &str,
    name: &str,
) -> Counts {
    let trace = env.root.path().join(format!("trace-{name}"));
    let mut strace = std::process::Command::new("strace");
    strace.env_clear();
    for (key, value) in agent.get_envs() {
        if let Some(value) = value {
            strace.env(key, value);
        }
    }
    strace
        .current_dir(repo)
        .args(["-f", "-qq", "-y", "-e", &format!("trace={calls}"), "-o"])
        .arg(&trace)
        .arg(agent.get_program())
        .args(agent.get_args());
    let out = strace.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&std::fs::read_to_string(&trace).unwrap())
}

#[test]
fn a_checkpoint_starts_no_process_and_stats_each_file_once() {
    if !strace_available() {
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("r");
    for d in 0..5 {
        std::fs::create_dir_all(repo.join(format!("dir{d}/sub"))).unwrap();
        for f in 0..40 {
            let sub = if f % 2 == 0 { "" } else { "sub/" };
            std::fs::write(
                repo.join(format!("dir{d}/{sub}file{f}.txt")),
                format!("{d} {f}\n"),
            )
            .unwrap();
        }
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files"]);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "count"]);
    let wt = worktree(&repo, "t");
    // A change, a new file and a deletion, after a first checkpoint has written the index.
    std::fs::write(wt.join("dir0/file0.txt"), "changed\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "first"]);
    std::fs::write(wt.join("dir1/sub/file1.txt"), "changed again\n").unwrap();
    std::fs::write(wt.join("dir2/new.txt"), "new\n").unwrap();
    std::fs::remove_file(wt.join("dir3/file2.txt")).unwrap();

    // The binary with the environment of the tests, under strace.
    let agent = env.agent_cmd(&repo, &["checkpoint", "-q", "-m", "second"]);
    let counts = strace(&env, &repo, &agent, "%process,%%stat", "second");

    assert_eq!(counts.processes, Vec::<String>::new(), "child processes");

    // Every file and folder of the worktree, `.git` (the link to its admin dir, which
    // opening the worktree reads) and the worktree's root aside, is stat'ed once, but:
    // - a `.gitignore` three times: walk.rs checks that it is a plain file before the
    //   `ignore` crate opens it by name (and stats it) to read its rules; the snapshot stats
    //   it as a file of the tree;
    // Tighten these as they go.
    let wt = wt.canonicalize().unwrap();
    let inside = |p: &Path| p.starts_with(&wt) && p != wt && p != wt.join(".git");
    let allowed = |p: &Path| {
        if p.file_name().is_some_and(|n| n == ".gitignore") {
            3
        } else {
            1
        }
    };
    let too_many: Vec<_> = counts
        .by_name
        .iter()
        .filter(|(p, n)| inside(p) && **n > allowed(p))
        .collect();
    assert_eq!(
        too_many,
        Vec::<(&PathBuf, &usize)>::new(),
        "stat'ed too often"
    );
    let files = counts.by_name.keys().filter(|p| inside(p)).count();
    assert!(files >= 200, "only {files} paths stat'ed: {counts:#?}");
    // An open file or folder is checked once more through its descriptor (it is the one
    // that was stat'ed, not a link swapped in since); of the files, only the changed and the
    // new one are opened.
    let opened: Vec<_> = counts.by_fd.iter().filter(|(p, _)| inside(p)).collect();
    assert!(opened.iter().all(|(_, n)| **n == 1), "{opened:?}");
    let files: Vec<_> = opened.iter().filter(|(p, _)| p.is_file()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    // The index it wrote (with a checksum of its own making) is one git verifies, and
    // agrees with the worktree.
    env.git(&wt, &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
}

/// A checkout creates each file once (O_CREAT|O_EXCL, no link followed): a file it made
/// itself is neither checked through its descriptor nor truncated, as `git worktree add`
/// does not; only a file that was already there is.
#[test]
fn a_start_checks_out_new_files_without_fstat_or_truncate() {
    if !strace_available() {
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("r");
    for d in 0..4 {
        std::fs::create_dir_all(repo.join(format!("dir{d}/sub"))).unwrap();
        for f in 0..25 {
            let sub = if f % 2 == 0 { "" } else { "sub/" };
            std::fs::write(
                repo.join(format!("dir{d}/{sub}file{f}.txt")),
                format!("{d} {f}\n"),
            )
            .unwrap();
        }
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files"]);
    let agent = env.agent_cmd(
        &repo,
        &["start", "-q", "--no-run", "--name", "t", "checkout"],
    );
    let counts = strace(&env, &repo, &agent, "fstat,ftruncate", "start");
    let wt = worktree(&repo, "t").canonicalize().unwrap();
    let written = |map: &BTreeMap<PathBuf, usize>| -> Vec<PathBuf> {
        map.keys()
            .filter(|p| p.starts_with(&wt) && p.extension().is_some_and(|e| e == "txt"))
            .cloned()
            .collect()
    };
    assert_eq!(written(&counts.by_fd), Vec::<PathBuf>::new(), "fstat");
    assert_eq!(
        written(&counts.truncated),
        Vec::<PathBuf>::new(),
        "ftruncate"
    );
    // All 100 files are there, as git checks them out.
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&wt, &["ls-files", "*.txt"]).lines().count(), 100);
    assert_eq!(
        std::fs::read_to_string(wt.join("dir3/sub/file7.txt")).unwrap(),
        "3 7\n"
    );
}

/// A replay-provider session: the plan, then per step `calls` and `finish_step`.
fn replay_session(steps: &[Vec<(&str, serde_json::Value)>]) -> String {
    let turn = |id: usize, name: &str, input: serde_json::Value| {
        serde_json::json!({"model": "claude-sonnet-4-5", "stop_reason": "tool_use",
            "usage": {"input_tokens": 100, "output_tokens": 10},
            "content": [{"type": "tool_use", "id": format!("toolu_{id}"), "name": name, "input": input}]})
        .to_string()
    };
    let titles: Vec<_> = (1..=steps.len())
        .map(|n| serde_json::json!({"title": format!("part {n}"), "detail": "do it"}))
        .collect();
    let mut lines = vec![turn(
        0,
        "submit_plan",
        serde_json::json!({"objective": "o", "constraints": [], "acceptance_criteria": [],
                           "test_command": "true", "steps": titles}),
    )];
    for (n, calls) in steps.iter().enumerate() {
        for (name, input) in calls {
            lines.push(turn(lines.len(), name, input.clone()));
        }
        lines.push(turn(
            lines.len(),
            "finish_step",
            serde_json::json!({"summary": format!("part {}", n + 1), "expected_outcome": "x",
                               "risks": "none", "next_step": "next"}),
        ));
    }
    lines.join("\n") + "\n"
}

#[test]
fn checkpoints_in_a_run_look_only_at_what_changed() {
    if !strace_available() {
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("r");
    for d in 0..5 {
        std::fs::create_dir_all(repo.join(format!("dir{d}/sub"))).unwrap();
        for f in 0..40 {
            std::fs::write(
                repo.join(format!("dir{d}/sub/file{f}.txt")),
                format!("{f}\n"),
            )
            .unwrap();
        }
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files"]);
    // Step 1 by a file tool, step 2 by a command in the sandbox (a change, a new file in a
    // new directory, a deletion), step 3 both again, step 4 a file tool.
    let session = replay_session(&[
        vec![(
            "write_file",
            serde_json::json!({"path": "dir0/sub/file0.txt", "content": "one\n"}),
        )],
        vec![(
            "run_command",
            serde_json::json!({"command": "echo two > dir1/sub/file1.txt && mkdir -p new/deep && echo n > new/deep/n.txt && rm dir2/sub/file2.txt"}),
        )],
        vec![
            (
                "write_file",
                serde_json::json!({"path": "dir3/sub/file3.txt", "content": "three\n"}),
            ),
            (
                "run_command",
                serde_json::json!({"command": "echo four > new/deep/n.txt"}),
            ),
        ],
        vec![(
            "write_file",
            serde_json::json!({"path": "dir4/sub/file4.txt", "content": "five\n"}),
        )],
    ]);
    let replay = env.root.path().join("session.jsonl");
    std::fs::write(&replay, session).unwrap();

    // The worktree is checked out first (that stats each file as it writes it); the run
    // that plans and makes the four steps is traced.
    env.agent_ok(&repo, &["start", "--no-run", "--name", "w", "four steps"]);
    let agent = env.agent_cmd(
        &repo,
        &[
            "resume",
            "w",
            "--provider",
            "replay",
            "--replay-file",
            replay.to_str().unwrap(),
        ],
    );
    // Children too (the harness's threads among them); the sandboxed commands touch only
    // the files they change.
    let counts = strace(&env, &repo, &agent, "%%stat", "run");

    // What the run recorded is what happened, step by step.
    let shown = env.git(
        &repo,
        &[
            "log",
            "--reverse",
            "--format=%s",
            "--name-status",
            "agent/w",
            "-4",
        ],
    );
    assert_eq!(
        shown.split_whitespace().collect::<Vec<_>>().join(" "),
        "part 1 M dir0/sub/file0.txt part 2 M dir1/sub/file1.txt D dir2/sub/file2.txt \
         A new/deep/n.txt part 3 M dir3/sub/file3.txt M new/deep/n.txt \
         part 4 M dir4/sub/file4.txt",
    );
    // Three walks of the worktree in the whole run: at its start, the look for the work of
    // an interrupted step; its first checkpoint (nobody watched before the run); and the
    // last step's (what inotify cannot see is in the result all the same). The two
    // checkpoints between look only at what the watch saw: a file nobody touched is stat'ed
    // three times in the run, where a walk at every checkpoint makes it five.
    let wt = worktree(&repo, "w").canonicalize().unwrap();
    let untouched: Vec<_> = counts
        .by_name
        .iter()
        .filter(|(p, _)| {
            p.starts_with(&wt)
                && p.extension().is_some_and(|e| e == "txt")
                && ![
                    "dir0/sub/file0.txt",
                    "dir1/sub/file1.txt",
                    "dir2/sub/file2.txt",
                    "dir3/sub/file3.txt",
                    "new/deep/n.txt",
                    "dir4/sub/file4.txt",
                ]
                .iter()
                .any(|n| p.ends_with(n))
        })
        .collect();
    assert!(
        untouched.len() >= 150,
        "only {} files stat'ed: {counts:#?}",
        untouched.len()
    );
    let more: Vec<_> = untouched.iter().filter(|(_, n)| **n > 3).collect();
    assert_eq!(
        more,
        Vec::<&(&PathBuf, &usize)>::new(),
        "stat'ed by more than three walks"
    );
    env.fsck(&repo);
}

/// The pids of the file-system monitors watching `worktree`.
pub fn monitors_of(worktree: &Path) -> Vec<u32> {
    let wanted = worktree.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter().any(|a| a == "__fsmonitor") && args.contains(&wanted)
        })
        .collect()
}

/// `git agent start --no-run --name m` with `agent.fsmonitor` on (and `envs`), which must
/// succeed.
fn start_monitored(env: &TestEnv, repo: &Path, envs: &[(&str, &str)]) {
    let out = env
        .agent_cmd(repo, &["start", "--no-run", "--name", "m", "goal"])
        .env("GIT_AGENT_FSMONITOR", "true")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `git agent checkpoint` under strace, with the monitor on.
fn traced_checkpoint(env: &TestEnv, repo: &Path, message: &str) -> Counts {
    traced(env, repo, &["checkpoint", "-q", "-m", message], message)
}

/// `git agent <args>` under strace, with the monitor on.
fn traced(env: &TestEnv, repo: &Path, args: &[&str], name: &str) -> Counts {
    let mut agent = env.agent_cmd(repo, args);
    agent.env("GIT_AGENT_FSMONITOR", "true");
    strace(env, repo, &agent, "%process,%%stat", name)
}

#[test]
fn a_monitored_checkpoint_looks_only_at_what_changed() {
    if !strace_available() {
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("r");
    for d in 0..5 {
        std::fs::create_dir_all(repo.join(format!("dir{d}"))).unwrap();
        for f in 0..40 {
            std::fs::write(repo.join(format!("dir{d}/file{f}.txt")), format!("{f}\n")).unwrap();
        }
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files"]);
    start_monitored(
        &env,
        &repo,
        &[(
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-must-not-reach-the-monitor",
        )],
    );
    let wt = worktree(&repo, "m");
    let monitors = monitors_of(&wt);
    assert_eq!(monitors.len(), 1, "one monitor for the worktree");
    // It carries nothing of the command that started it.
    let environ = std::fs::read(format!("/proc/{}/environ", monitors[0])).unwrap();
    assert!(environ.is_empty(), "{}", String::from_utf8_lossy(&environ));

    let untouched = |counts: &Counts, changed: &[&str]| -> usize {
        let wt = wt.canonicalize().unwrap();
        counts
            .by_name
            .keys()
            .filter(|p| p.starts_with(&wt) && p.extension().is_some_and(|e| e == "txt"))
            .filter(|p| !changed.iter().any(|c| p.ends_with(c)))
            .count()
    };
    let changed_in = |rev: &str| env.git(&repo, &["show", "--format=", "--name-status", rev]);

    // A change, a new file in a new directory, a deletion: only they are looked at, though
    // `git status` in the worktree rewrote the index since the mark.
    env.git(&wt, &["status", "--porcelain"]);
    std::fs::write(wt.join("dir0/file0.txt"), "changed\n").unwrap();
    std::fs::create_dir_all(wt.join("new/deep")).unwrap();
    std::fs::write(wt.join("new/deep/n.txt"), "new\n").unwrap();
    std::fs::remove_file(wt.join("dir2/file2.txt")).unwrap();
    let counts = traced_checkpoint(&env, &repo, "first");
    assert_eq!(counts.processes, Vec::<String>::new(), "child processes");
    assert_eq!(
        untouched(
            &counts,
            &["dir0/file0.txt", "new/deep/n.txt", "dir2/file2.txt"]
        ),
        0
    );
    assert_eq!(
        changed_in("agent/m"),
        "M\tdir0/file0.txt\nD\tdir2/file2.txt\nA\tnew/deep/n.txt\n"
    );

    // A monitor killed outright: the next checkpoint walks (and is right) and starts a new
    // one, whose answers the one after uses.
    for pid in monitors_of(&wt) {
        env.sh(&repo, &format!("kill -9 {pid}"));
    }
    std::fs::write(wt.join("dir1/file1.txt"), "after the kill\n").unwrap();
    // Not traced: strace would follow the new monitor and wait for its end.
    let out = env
        .agent_cmd(&repo, &["checkpoint", "-q", "-m", "walked"])
        .env("GIT_AGENT_FSMONITOR", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(changed_in("agent/m"), "M\tdir1/file1.txt\n");
    assert_eq!(monitors_of(&wt).len(), 1, "a new monitor");
    std::fs::write(wt.join("dir3/file3.txt"), "watched again\n").unwrap();
    let counts = traced_checkpoint(&env, &repo, "watched");
    assert_eq!(untouched(&counts, &["dir3/file3.txt"]), 0);
    assert_eq!(changed_in("agent/m"), "M\tdir3/file3.txt\n");

    // A rollback asks the monitor too: the uncommitted work it keeps in the attic is found
    // without a walk.
    std::fs::write(wt.join("dir0/file5.txt"), "uncommitted\n").unwrap();
    let counts = traced(&env, &repo, &["rollback", "-q"], "rollback");
    assert_eq!(untouched(&counts, &["dir0/file5.txt", "dir3/file3.txt"]), 0);
    let kept = env.git(
        &repo,
        &[
            "show",
            "--format=%s",
            "--name-status",
            "refs/agent/m/attic/1",
        ],
    );
    assert!(
        kept.contains("unfinished work") && kept.contains("M\tdir0/file5.txt"),
        "{kept}"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("dir3/file3.txt")).unwrap(),
        "3\n",
        "the worktree is back at the old tip"
    );
    env.agent_ok(&repo, &["rollback", "--undo", "-q"]);

    // A mark that is garbage is no mark: a walk, and the right answer.
    let admin = env.git(&wt, &["rev-parse", "--absolute-git-dir"]);
    std::fs::write(
        Path::new(admin.trim()).join("agent-fsmonitor.token"),
        "zz 1",
    )
    .unwrap();
    std::fs::write(wt.join("dir4/file4.txt"), "garbage mark\n").unwrap();
    let counts = traced_checkpoint(&env, &repo, "garbage");
    assert!(untouched(&counts, &["dir4/file4.txt"]) >= 190, "a walk");
    assert_eq!(changed_in("agent/m"), "M\tdir4/file4.txt\n");
    env.fsck(&repo);

    // The monitor ends with its worktree.
    env.agent_ok(&repo, &["drop", "m", "--force"]);
    let gone = crate::support::poll_until(crate::support::PATIENCE, || monitors_of(&wt).is_empty());
    assert!(gone, "the monitor outlived its worktree");
}

#[test]
fn a_monitor_stops_once_agent_fsmonitor_is_off() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    start_monitored(&env, &repo, &[]);
    let wt = worktree(&repo, "m");
    assert_eq!(monitors_of(&wt).len(), 1, "one monitor for the worktree");
    let admin = env.git(&wt, &["rev-parse", "--absolute-git-dir"]);
    let admin = Path::new(admin.trim());
    // The setting turned off: the next checkpoint walks (and is right) and the monitor ends.
    std::fs::write(wt.join("README.md"), "# changed with the monitor off\n").unwrap();
    let out = env
        .agent_cmd(&repo, &["checkpoint", "-q", "-m", "off"])
        .env("GIT_AGENT_FSMONITOR", "false")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.git(&repo, &["show", "--format=", "--name-status", "agent/m"]),
        "M\tREADME.md\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !monitors_of(&wt).is_empty() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(
        monitors_of(&wt),
        Vec::<u32>::new(),
        "the monitor still runs"
    );
    assert!(!admin.join("agent-fsmonitor.sock").exists());
    assert!(!admin.join("agent-fsmonitor.token").exists());
    env.fsck(&repo);
}
