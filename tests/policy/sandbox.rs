//! The real sandbox: every command here runs under Landlock through the launcher example.

use crate::support::{ISOLATED_GIT_ENV, git};
use git_agent::error::Advice;
use git_agent::policy::sandbox::{self, CommandOutput, SandboxError, SandboxMode, SandboxSpec};
use pretty_assertions::assert_eq;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// `target/debug/examples/sandbox_exec`, brought up to date once per run (a stale launcher
/// would test yesterday's sandbox), or `GIT_AGENT_TEST_LAUNCHER` where the tests run without
/// cargo (as another user in CI).
fn launcher() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("GIT_AGENT_TEST_LAUNCHER") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().unwrap();
        let debug = exe.parent().unwrap().parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "sandbox_exec"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success());
        debug.join("examples/sandbox_exec")
    })
    .clone()
}

/// A user's home, a user's checkout with a commit, and the task's linked worktree where
/// the harness puts it: `<checkout>/.git/agent/worktrees/x`.
struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    checkout: PathBuf,
    git_dir: PathBuf,
    worktree: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let home = root.join("home");
    let checkout = root.join("checkout");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join(".bashrc"), "# user's\n").unwrap();
    fs::create_dir_all(&checkout).unwrap();
    git(&checkout, &["init", "-q", "-b", "main"]);
    fs::write(checkout.join("README"), "hello\n").unwrap();
    git(&checkout, &["add", "README"]);
    git(&checkout, &["commit", "-q", "-m", "base"]);
    let git_dir = checkout.join(".git");
    let worktree = git_dir.join("agent/worktrees/x");
    git(
        &checkout,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "agent/x",
            worktree.to_str().unwrap(),
        ],
    );
    World {
        _dir: dir,
        home,
        checkout,
        git_dir,
        worktree,
    }
}

fn spec(w: &World) -> SandboxSpec {
    SandboxSpec {
        writable: vec![w.worktree.clone()],
        protected: Vec::new(),
        network: false,
        mode: SandboxMode::Enforce,
        launcher: Some(launcher()),
        temp_dir: None,
    }
}

async fn run_in(w: &World, spec: &SandboxSpec, command: &str) -> CommandOutput {
    let git_env = git_env();
    sandbox::run(
        command,
        &w.worktree,
        spec,
        &git_env,
        Duration::from_secs(30),
        64 * 1024,
    )
    .await
    .unwrap()
}

/// Whether the launcher got its namespaces here, as a command sees it: in its own PID
/// namespace the command is process 2 (its init is 1). The PID and mount namespaces come
/// from one `unshare`, so this also says whether protected paths can be mounted read-only.
/// `.ci/run` runs this suite once where no namespace can be made at all.
async fn has_namespaces(w: &World) -> bool {
    run_in(w, &spec(w), "echo $$").await.output == "2\n"
}

/// Everything under `dir`, with contents, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.clone(), fs::read(&path).unwrap()));
            } else {
                out.push((path, Vec::new()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_write_escape_fails() {
    let w = world();
    let spec = spec(&w);
    let outside_git = |p: &Path| {
        // The worktree lives inside `.git`; leave it out of the "unchanged" snapshot.
        !p.starts_with(&w.worktree)
    };
    let before: Vec<_> = snapshot(&w.checkout)
        .into_iter()
        .filter(|(p, _)| outside_git(p))
        .collect();
    let home_before = snapshot(&w.home);
    let h = w.home.display();
    let c = w.checkout.display();
    let g = w.git_dir.display();
    let attempts = [
        format!("echo pwned >> {h}/.bashrc"),
        format!("touch {h}/new-file"),
        format!("echo pwned > {c}/README"),
        format!("mkdir {c}/newdir"),
        format!("rm {c}/README"),
        format!("echo '[alias] x = !sh' >> {g}/config"),
        format!("printf '#!/bin/sh\\necho pwned\\n' > {g}/hooks/pre-commit"),
        format!("echo 0000000000000000000000000000000000000000 > {g}/refs/heads/main"),
        format!("echo ref: refs/heads/evil > {g}/worktrees/x/HEAD"),
        "echo pwned > ../../../../README".to_owned(),
        "echo pwned > ../../../config".to_owned(),
        format!("ln -s {c} out && echo pwned > out/README"),
        format!("ln -s {g}/hooks hooks-link && echo pwned > hooks-link/post-checkout"),
        "cd .. && echo pwned > escaped.txt".to_owned(),
        format!(
            "git -C {c} update-ref refs/heads/main HEAD~0 2>&1; test -e {g}/refs/heads/main.lock && exit 0; exit 1"
        ),
    ];
    let mut results = Vec::new();
    for attempt in &attempts {
        let out = run_in(&w, &spec, attempt).await;
        results.push((attempt.clone(), out.exit_code != Some(0), out.timed_out));
    }
    assert_eq!(
        results,
        attempts
            .iter()
            .map(|a| (a.clone(), true, false))
            .collect::<Vec<_>>()
    );
    let after: Vec<_> = snapshot(&w.checkout)
        .into_iter()
        .filter(|(p, _)| outside_git(p))
        .collect();
    assert_eq!(after, before);
    assert_eq!(snapshot(&w.home), home_before);
    // The error is the kernel's refusal, not a missing file.
    let out = run_in(&w, &spec, &format!("echo x >> {g}/config")).await;
    assert!(out.output.contains("Permission denied"), "{}", out.output);
}

#[tokio::test]
async fn normal_work_inside_the_worktree_works() {
    let w = world();
    let spec = spec(&w);
    let out = run_in(
        &w,
        &spec,
        "mkdir -p src && echo 'int main(void){return 0;}' > src/a.c && cat src/a.c \
         && t=$(mktemp) && echo temp > \"$t\" && cat \"$t\" \
         && case \"$t\" in \"$TMPDIR\"/*) echo tmp-private;; esac \
         && test \"$HOME\" = \"$TMPDIR\" && echo ~ok > ~/cache && cat ~/cache \
         && rm src/a.c && echo removed",
    )
    .await;
    assert_eq!(
        (out.exit_code, out.timed_out, out.output.as_str()),
        (
            Some(0),
            false,
            "int main(void){return 0;}\ntemp\ntmp-private\n~ok\nremoved\n"
        )
    );
}

#[tokio::test]
async fn a_compile_and_an_interpreter_run() {
    let w = world();
    let spec = spec(&w);
    fs::write(
        w.worktree.join("hello.c"),
        "#include <stdio.h>\nint main(void){puts(\"hello from c\");return 0;}\n",
    )
    .unwrap();
    let out = run_in(
        &w,
        &spec,
        "cc -o hello hello.c && ./hello && /usr/bin/python3 -c 'print(6*7)'",
    )
    .await;
    assert_eq!(
        (out.exit_code, out.output.as_str()),
        (Some(0), "hello from c\n42\n")
    );
}

#[tokio::test]
async fn git_reads_the_worktree_but_cannot_write_the_repository() {
    let w = world();
    let spec = spec(&w);
    fs::write(w.worktree.join("README"), "hello\nworld\n").unwrap();
    let out = run_in(
        &w,
        &spec,
        "git status --porcelain && git diff --stat && git log --format=%s",
    )
    .await;
    assert_eq!(
        (out.exit_code, out.output.as_str()),
        (
            Some(0),
            " M README\n README | 1 +\n 1 file changed, 1 insertion(+)\nbase\n"
        )
    );
    let refs_before = git(&w.checkout, &["for-each-ref"]);
    let out = run_in(&w, &spec, "git commit -qam sneaky").await;
    assert_eq!(out.exit_code, Some(128), "{}", out.output);
    let out = run_in(&w, &spec, "git branch sneaky").await;
    assert_eq!(out.exit_code, Some(128), "{}", out.output);
    assert_eq!(git(&w.checkout, &["for-each-ref"]), refs_before);
}

#[tokio::test]
async fn the_network_is_off_unless_allowed() {
    let w = world();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let connect = format!(
        "/usr/bin/python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\" 2>&1 | tail -n 1"
    );
    let denied = run_in(&w, &spec(&w), &connect).await;
    assert_eq!(
        denied.output,
        "PermissionError: [Errno 13] Permission denied\n"
    );
    let bind = "/usr/bin/python3 -c \"import socket; socket.socket().bind(('127.0.0.1', 0))\" 2>&1 | tail -n 1";
    let denied = run_in(&w, &spec(&w), bind).await;
    assert_eq!(
        denied.output,
        "PermissionError: [Errno 13] Permission denied\n"
    );

    let allowed_spec = SandboxSpec {
        network: true,
        ..spec(&w)
    };
    let allowed = run_in(&w, &allowed_spec, &connect).await;
    assert_eq!(allowed.output, "connected\n");
}

#[tokio::test]
async fn a_failing_test_command_reports_its_exit_code() {
    let w = world();
    let out = run_in(&w, &spec(&w), "echo '1 failed'; exit 1").await;
    assert_eq!(
        (out.exit_code, out.timed_out, out.output.as_str()),
        (Some(1), false, "1 failed\n")
    );
}

#[tokio::test]
async fn a_timeout_kills_the_command_and_its_children() {
    let w = world();
    let started = std::time::Instant::now();
    let out = sandbox::run(
        "sleep 100 & echo $! > bg.pid; (sleep 100; echo never) & echo started; sleep 100",
        &w.worktree,
        &spec(&w),
        &[],
        Duration::from_millis(800),
        4096,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (out.exit_code, out.timed_out, out.output.as_str()),
        (None, true, "started\n")
    );
    // The pid inside the command's namespace names nothing out here; the namespace is gone.
    assert!(w.worktree.join("bg.pid").exists());
}

/// Processes a command leaves behind — in the background, in a new session, double-forked —
/// end with it, whether it exits or times out: none of them writes its marker later.
#[tokio::test]
async fn nothing_a_command_starts_outlives_it() {
    let w = world();
    let leave_behind = "setsid sh -c 'sleep 1; echo escaped > m1' >/dev/null 2>&1 & \
         (sh -c 'sleep 1; echo escaped > m2' >/dev/null 2>&1 &) ; \
         nohup sh -c 'sleep 1; echo escaped > m3' >/dev/null 2>&1 &";
    let out = run_in(&w, &spec(&w), &format!("{leave_behind} echo done")).await;
    assert_eq!((out.exit_code, out.output.as_str()), (Some(0), "done\n"));
    let timed_out = sandbox::run(
        &format!("{leave_behind} sleep 100"),
        &w.worktree,
        &spec(&w),
        &[],
        Duration::from_millis(500),
        4096,
    )
    .await
    .unwrap();
    assert!(timed_out.timed_out);
    // Nothing to wait on instead: a scan of /proc from here, by cwd or by command line, did
    // not find a sandboxed command's processes.
    // time is what is tested: an escaped process writes its marker a second after it began
    std::thread::sleep(Duration::from_millis(2500));
    for marker in ["m1", "m2", "m3"] {
        assert!(
            !w.worktree.join(marker).exists(),
            "{marker} was written after the command ended"
        );
    }
}

/// The worktree's `.git` (a linked worktree's gitfile, or with `--here` the repository
/// itself) is read-only for commands, though it lies beneath the writable dir.
///
/// Where no mount namespace can be made, the gitfile stays writable (the harness never
/// trusts it: tests/it/hostile_model.rs plants one) and `--here` commands are refused.
#[tokio::test]
async fn the_worktree_link_and_a_here_repository_are_read_only() {
    let w = world();
    let namespaces = has_namespaces(&w).await;
    let gitfile = fs::read(w.worktree.join(".git")).unwrap();
    let spec = SandboxSpec {
        launcher: Some(launcher()),
        ..SandboxSpec::for_worktree(&w.worktree, false, false)
    };
    let out = run_in(
        &w,
        &spec,
        "{ echo 'gitdir: /tmp' > .git; } 2>/dev/null && echo wrote; rm -f .git 2>/dev/null && echo removed; mv .git moved 2>/dev/null && echo moved; echo end",
    )
    .await;
    if namespaces {
        assert_eq!(out.output, "end\n");
        assert_eq!(fs::read(w.worktree.join(".git")).unwrap(), gitfile);
    } else {
        assert_eq!(out.output, "wrote\nremoved\nend\n");
    }

    // `--here`: the user's checkout is the writable dir and its `.git` the repository.
    let before = snapshot(&w.git_dir);
    let here = SandboxSpec {
        launcher: Some(launcher()),
        ..SandboxSpec::for_worktree(&w.checkout, false, false)
    };
    let git_env = git_env();
    let here_command = sandbox::run(
        "mkdir -p .git/hooks 2>/dev/null; { printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > .git/hooks/post-checkout; } 2>/dev/null && echo hook; \
         git config core.fsmonitor /bin/false 2>/dev/null && echo config; mv .git .git2 2>/dev/null && echo moved; \
         echo ok > new-file && echo wrote-checkout",
        &w.checkout,
        &here,
        &git_env,
        Duration::from_secs(30),
        4096,
    )
    .await;
    match here_command {
        Ok(out) if namespaces => assert_eq!(out.output, "wrote-checkout\n"),
        Err(SandboxError::Setup(why)) if !namespaces => {
            assert!(why.contains("no mount namespace"), "{why}");
            assert!(!w.checkout.join("new-file").exists());
        }
        other => panic!("namespaces: {namespaces}, --here command: {other:?}"),
    }
    let after: Vec<_> = snapshot(&w.git_dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(w.git_dir.join("agent")))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(p, _)| !p.starts_with(w.git_dir.join("agent")))
        .collect();
    assert_eq!(after, before);
}

/// Root inside the sandbox holds no capability (bounding set included) and cannot make a
/// device node in its worktree; an unprivileged user has none to begin with, and with
/// `no_new_privs` no `exec` can grant one. An unprivileged launcher without a namespace
/// cannot empty its bounding set (that takes `CAP_SETPCAP`), so there it is left as it was:
/// `no_new_privs` makes it moot.
#[tokio::test]
async fn commands_hold_no_capabilities_and_make_no_devices() {
    let w = world();
    // SAFETY: getuid cannot fail.
    let bounding_set_kept = unsafe { libc::getuid() } != 0 && !has_namespaces(&w).await;
    let out = run_in(
        &w,
        &spec(&w),
        "grep -E '^(Cap(Eff|Prm|Amb)|NoNewPrivs)' /proc/self/status; grep -q '^CapBnd:.0000000000000000$' /proc/self/status && echo no-bounding-set; mknod blk b 7 0 2>/dev/null && echo made-block; mknod chr c 1 3 2>/dev/null && echo made-char; mkfifo fifo 2>/dev/null && echo made-fifo; echo end",
    )
    .await;
    assert_eq!(
        out.output,
        format!(
            "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n{}end\n",
            if bounding_set_kept {
                ""
            } else {
                "no-bounding-set\n"
            }
        )
    );
    assert!(!w.worktree.join("blk").exists() && !w.worktree.join("chr").exists());
}

/// A command cannot read the harness's environment (where the provider keys were) through
/// `/proc/<pid>/environ`, nor its memory.
#[tokio::test]
async fn the_harness_process_is_out_of_reach() {
    let w = world();
    let harness = std::process::id();
    let out = run_in(
        &w,
        &spec(&w),
        &format!(
            "cat /proc/{harness}/environ >/dev/null 2>&1 && echo read-environ; head -c1 /proc/{harness}/mem >/dev/null 2>&1 && echo read-mem; kill -0 {harness} 2>/dev/null && echo can-signal; echo end"
        ),
    )
    .await;
    assert_eq!(out.output, "end\n");
}

#[tokio::test]
async fn output_is_bounded_keeping_head_and_tail() {
    let w = world();
    let out = sandbox::run(
        "seq 1 100000; echo done >&2",
        &w.worktree,
        &spec(&w),
        &[],
        Duration::from_secs(30),
        1000,
    )
    .await
    .unwrap();
    let lines: Vec<&str> = out.output.lines().collect();
    let marker = lines.iter().position(|l| l.starts_with("[… ")).unwrap();
    let head: Vec<String> = (1..=marker).map(|n| n.to_string()).collect();
    assert_eq!(lines[..marker], head);
    assert_eq!(lines.last(), Some(&"done"));
    let tail_len = lines.len() - marker - 2;
    let tail: Vec<String> = (100_001 - tail_len..=100_000)
        .map(|n| n.to_string())
        .collect();
    assert_eq!(lines[marker + 1..lines.len() - 1], tail);
    let shown: usize = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != marker)
        .map(|(_, l)| l.len() + 1)
        .sum();
    let total = (1..=100_000)
        .map(|n: u32| n.to_string().len() + 1)
        .sum::<usize>()
        + "done\n".len();
    assert_eq!(
        lines[marker],
        format!(
            "[… {} bytes ({} lines) cut from the middle of the output …]",
            total - shown,
            100_000 + 1 - (lines.len() - 1)
        )
    );
    assert!(out.output.len() <= 1100, "{}", out.output.len());
}

#[tokio::test]
async fn the_environment_is_clean_and_holds_no_credentials() {
    let w = world();
    let env = [
        ("ANTHROPIC_API_KEY", "sk-ant-x"),
        ("GITHUB_TOKEN", "ghp_x"),
        ("MY_SECRET", "s"),
        ("CI", "true"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut spec = spec(&w);
    let temp = tempfile::tempdir().unwrap();
    spec.temp_dir = Some(temp.path().to_path_buf());
    let out = sandbox::run(
        "env | cut -d= -f1 | sort",
        &w.worktree,
        &spec,
        &env,
        Duration::from_secs(30),
        4096,
    )
    .await
    .unwrap();
    assert_eq!(out.output, "CI\nHOME\nLANG\nPATH\nPWD\nTERM\nTMPDIR\n");
    let out = sandbox::run(
        "echo \"$HOME $TMPDIR $TERM\"",
        &w.worktree,
        &spec,
        &[],
        Duration::from_secs(30),
        4096,
    )
    .await
    .unwrap();
    let t = temp.path().display();
    assert_eq!(out.output, format!("{t} {t} dumb\n"));
}

#[tokio::test]
async fn a_missing_writable_dir_is_an_error() {
    let w = world();
    let mut spec = spec(&w);
    spec.writable.push(w.checkout.join("nope"));
    let error = sandbox::run("true", &w.worktree, &spec, &[], Duration::from_secs(5), 100)
        .await
        .unwrap_err();
    assert!(matches!(error, SandboxError::Writable { .. }), "{error}");
}

#[test]
fn without_landlock_the_refusal_says_how_to_opt_out() {
    let error = SandboxError::Unavailable;
    assert_eq!(
        (error.to_string(), error.hint()),
        (
            "this kernel has no Landlock, so commands cannot be confined; git-agent refuses to run them unconfined".to_owned(),
            Some("enable Landlock (Linux 5.13 or later, `lsm=…,landlock` on the kernel command line), or set `sandbox = \"off\"` in the configuration to run commands without a sandbox, at your own risk".to_owned())
        )
    );
    assert!(
        git_agent::policy::launcher::landlock_abi().is_some_and(|abi| abi >= 4),
        "these tests need Landlock ABI 4 or later"
    );
}

/// The isolated git environment, as `sandbox::run` takes extra variables.
fn git_env() -> Vec<(String, String)> {
    ISOLATED_GIT_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
