//! git's own rules on real repositories: a checkpoint stores what `git add` stores (the
//! attributes, `core.autocrlf`, clean filters and git-lfs, the secret scan reading what is
//! stored), a checkout writes what `git checkout` writes, so a checkout followed by a
//! checkpoint records nothing, and a large file is streamed.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

/// A repository whose first commit holds `files`, and a task `t` on it.
fn task_with(env: &TestEnv, name: &str, files: &[(&str, &[u8])]) -> (PathBuf, PathBuf) {
    let repo = env.repo(name);
    for (path, content) in files {
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "files", "--allow-empty"]);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&repo, "t");
    (repo, wt)
}

fn checkpoint_json(env: &TestEnv, repo: &Path) -> serde_json::Value {
    let out = env.agent_ok(repo, &["--json", "checkpoint", "t", "-m", "work"]);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

/// Every file of the worktree gets an old mtime: the next snapshot must read (and clean)
/// them all again.
fn age(env: &TestEnv, dir: &Path) {
    env.sh_cmd(
        dir,
        "find . -path ./.git -prune -o -type f -exec touch -d @1600000000 {} +",
    )
    .status()
    .unwrap();
}

/// What git itself stores for `file` at `path` in `repo` (its filters applied).
fn git_blob(env: &TestEnv, repo: &Path, path: &str, file: &Path) -> String {
    env.git(
        repo,
        &[
            "hash-object",
            &format!("--path={path}"),
            file.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn text_auto_stores_lf_as_git_add_does() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "auto", &[(".gitattributes", b"* text=auto\n")]);
    std::fs::write(wt.join("dos.txt"), "one\r\ntwo\r\n").unwrap();
    std::fs::write(wt.join("bin.dat"), b"\0raw\r\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "crlf"]);
    assert_eq!(
        env.git(&repo, &["cat-file", "blob", "agent/t:dos.txt"]),
        "one\ntwo\n"
    );
    for path in ["dos.txt", "bin.dat"] {
        assert_eq!(
            env.rev(&repo, &format!("agent/t:{path}")),
            git_blob(&env, &repo, path, &wt.join(path)),
            "{path}"
        );
    }
    env.fsck(&repo);
}

#[test]
fn a_checkout_then_a_checkpoint_records_nothing() {
    let env = TestEnv::new();
    let utf16: Vec<u8> = "hé\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let (repo, wt) = task_with(
        &env,
        "roundtrip",
        &[
            (
                ".gitattributes",
                b"*.txt eol=crlf\n*.c ident\n*.u16 working-tree-encoding=UTF-16LE text\n",
            ),
            ("a.txt", b"one\ntwo\n"),
            ("id.c", b"/* $Id$ */\n"),
            ("w.u16", &utf16),
        ],
    );
    // The checkout smudged every file as git would.
    assert_eq!(std::fs::read(wt.join("a.txt")).unwrap(), b"one\r\ntwo\r\n");
    let blob = env.rev(&repo, "HEAD:id.c");
    assert_eq!(
        std::fs::read_to_string(wt.join("id.c")).unwrap(),
        format!("/* $Id: {blob} $ */\n")
    );
    assert_eq!(std::fs::read(wt.join("w.u16")).unwrap(), utf16);
    assert_eq!(env.git(&repo, &["cat-file", "blob", "HEAD:w.u16"]), "hé\n");
    // Cleaning them all again gives the same blobs: nothing to record.
    age(&env, &wt);
    let out = checkpoint_json(&env, &repo);
    assert_eq!(out["files_changed"], 0, "{out}");
    // A rollback checks the files out the same way, and git sees a clean worktree.
    std::fs::write(wt.join("a.txt"), "one\r\ntwo\r\nthree\r\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "three"]);
    assert_eq!(
        env.git(&repo, &["cat-file", "blob", "agent/t:a.txt"]),
        "one\ntwo\nthree\n"
    );
    env.agent_ok(&repo, &["rollback", "t", "--steps", "1"]);
    assert_eq!(std::fs::read(wt.join("a.txt")).unwrap(), b"one\r\ntwo\r\n");
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    env.fsck(&repo);
}

#[test]
fn the_secret_scan_reads_what_the_clean_filter_stores() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "scan", &[]);
    env.git(&repo, &["config", "filter.redact.clean", "sed /AKIA/d"]);
    env.git(&repo, &["config", "filter.redact.smudge", "cat"]);
    env.git(
        &repo,
        &[
            "config",
            "filter.leak.clean",
            "sed s/PLACEHOLDER/AKIAIOSFODNN7EXAMPLF/",
        ],
    );
    std::fs::write(
        wt.join(".gitattributes"),
        "*.env filter=redact\n*.tpl filter=leak\n",
    )
    .unwrap();
    std::fs::write(wt.join("a.env"), "KEY=AKIAIOSFODNN7EXAMPLF\nok=1\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "redacted"]);
    assert_eq!(
        env.git(&repo, &["cat-file", "blob", "agent/t:a.env"]),
        "ok=1\n"
    );

    std::fs::write(wt.join("b.tpl"), "x=PLACEHOLDER\n").unwrap();
    let tip = env.rev(&repo, "agent/t");
    let (code, _, err) = env.agent(&repo, &["checkpoint", "t", "-m", "leak"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("b.tpl:1: aws-access-key-id"), "{err}");
    assert_eq!(env.rev(&repo, "agent/t"), tip);
    env.fsck(&repo);
}

#[test]
fn a_required_filter_that_fails_stops_the_checkpoint() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "required", &[]);
    env.git(&repo, &["config", "filter.broken.clean", "exit 3"]);
    env.git(&repo, &["config", "filter.broken.smudge", "cat"]);
    env.git(&repo, &["config", "filter.broken.required", "true"]);
    std::fs::write(wt.join(".gitattributes"), "*.x filter=broken\n").unwrap();
    std::fs::write(wt.join("f.x"), "content\n").unwrap();
    let tip = env.rev(&repo, "agent/t");
    let (code, _, err) = env.agent(&repo, &["checkpoint", "t", "-m", "filtered"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the required filter `broken` failed on `f.x`"),
        "{err}"
    );
    assert!(
        err.contains("git config filter.broken.required false"),
        "{err}"
    );
    assert_eq!(env.rev(&repo, "agent/t"), tip, "nothing was committed");

    // Not required: stored unfiltered, as git does.
    env.git(&repo, &["config", "filter.broken.required", "false"]);
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "unfiltered"]);
    assert_eq!(
        env.git(&repo, &["cat-file", "blob", "agent/t:f.x"]),
        "content\n"
    );
    env.fsck(&repo);
}

#[test]
fn a_gitattributes_that_is_a_link_or_a_fifo_is_not_read() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "links", &[(".gitattributes", b"*.txt text\n")]);
    std::fs::remove_file(wt.join(".gitattributes")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", wt.join(".gitattributes")).unwrap();
    std::fs::create_dir(wt.join("sub")).unwrap();
    let fifo = wt.join("sub/.gitattributes");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(wt.join("sub/dos.txt"), "a\r\n").unwrap();
    let started = std::time::Instant::now();
    let (code, _, err) = env.agent(&repo, &["checkpoint", "t", "-m", "links"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    // As in git: the link is committed as a link, and the index's rules apply.
    assert_eq!(
        env.git(&repo, &["cat-file", "blob", "agent/t:sub/dos.txt"]),
        "a\n"
    );
    assert_eq!(
        env.git(&repo, &["ls-tree", "agent/t", ".gitattributes"])
            .split_whitespace()
            .next(),
        Some("120000")
    );
}

fn has_git_lfs() -> bool {
    std::process::Command::new("git-lfs")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn git_lfs_files_are_stored_as_pointers_and_checked_out_whole() {
    if !has_git_lfs() {
        eprintln!("skipped: git-lfs is not installed (apt-get install git-lfs)");
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("lfs");
    env.git(&repo, &["lfs", "install", "--local"]);
    env.git(&repo, &["lfs", "track", "*.bin"]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "lfs"]);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "t", "goal"]);
    let wt = worktree(&repo, "t");
    let mut rng = fastrand::Rng::with_seed(7);
    let content: Vec<u8> = (0..(3 << 20)).map(|_| rng.u8(..)).collect();
    std::fs::write(wt.join("big.bin"), &content).unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "big"]);
    let pointer = env.git(&repo, &["cat-file", "blob", "agent/t:big.bin"]);
    assert!(
        pointer.starts_with("version https://git-lfs.github.com/spec/v1\n"),
        "{pointer}"
    );
    assert!(
        pointer.contains(&format!("size {}", content.len())),
        "{pointer}"
    );
    assert_eq!(
        env.rev(&repo, "agent/t:big.bin"),
        git_blob(&env, &repo, "big.bin", &wt.join("big.bin"))
    );
    // Away and back: the smudge filter (git-lfs filter-process) writes the content again.
    env.agent_ok(&repo, &["rollback", "t", "--steps", "1"]);
    assert!(!wt.join("big.bin").exists());
    env.agent_ok(&repo, &["rollback", "t", "--undo"]);
    assert!(std::fs::read(wt.join("big.bin")).unwrap() == content);
    age(&env, &wt);
    assert_eq!(checkpoint_json(&env, &repo)["files_changed"], 0);
    env.fsck(&repo);
}

#[test]
fn a_secret_in_a_streamed_file_is_refused_and_never_stored() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "stream", &[]);
    let mut text = String::new();
    let mut line = 0;
    while text.len() < (20 << 20) {
        line += 1;
        text.push_str(&format!("{line:08} an ordinary line of a large log file\n"));
        if line == 300_001 {
            text.push_str("aws = AKIAIOSFODNN7EXAMPLF\n");
            line += 1;
        }
    }
    std::fs::write(wt.join("big.log.txt"), &text).unwrap();
    let (code, _, err) = env.agent(&repo, &["checkpoint", "t", "-m", "big"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("big.log.txt:300002: aws-access-key-id"),
        "{err}"
    );
    let id = env
        .git(
            &repo,
            &["hash-object", wt.join("big.log.txt").to_str().unwrap()],
        )
        .trim()
        .to_string();
    assert!(
        !env.git_cmd(&repo, &["cat-file", "-e", &id])
            .status()
            .unwrap()
            .success(),
        "the refused content never became an object"
    );
    let mut leftovers = env.sh_cmd(&repo, "find .git/objects -type f -name 'tmp*' | wc -l");
    let leftovers = String::from_utf8(leftovers.output().unwrap().stdout).unwrap();
    assert_eq!(leftovers.trim(), "0");
    // Without the key, it is stored, streamed, and git reads it back whole.
    std::fs::write(
        wt.join("big.log.txt"),
        text.replace(
            "aws = AKIAIOSFODNN7EXAMPLF\n",
            "aws = from the environment\n",
        ),
    )
    .unwrap();
    env.agent_ok(&repo, &["checkpoint", "t", "-m", "big"]);
    assert_eq!(
        env.rev(&repo, "agent/t:big.log.txt"),
        git_blob(&env, &repo, "big.log.txt", &wt.join("big.log.txt"))
    );
    env.fsck(&repo);
}

/// Runs git-agent under GNU time; its exit code and peak resident memory in bytes. (`wait4`
/// in the test itself would not do: a child spawned with `vfork` is charged the peak of the
/// test process it came from.)
fn run_measured(env: &TestEnv, dir: &Path, args: &[&str]) -> Option<(i32, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let report = env.root.path().join("time.out");
    let agent = assert_cmd::cargo::cargo_bin("git-agent");
    let cmd = env.agent_cmd(dir, args);
    let mut timed = std::process::Command::new(time);
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(agent)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let status = timed
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((status.code().unwrap_or(-1), kib * 1024))
}

/// `GIT_AGENT_BIG_FILE_MIB` sets the size (CI: 128 MiB, more than the 100 MiB bound; the README's
/// figure: 1024).
#[test]
fn a_large_file_is_checkpointed_in_bounded_memory() {
    let mib: u64 = std::env::var("GIT_AGENT_BIG_FILE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "huge", &[]);
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(wt.join("huge.dat")).unwrap());
        let mut rng = fastrand::Rng::with_seed(1);
        let mut line = Vec::with_capacity(128);
        let mut written = 0u64;
        while written < mib << 20 {
            line.clear();
            for _ in 0..100 {
                line.push(rng.alphanumeric() as u8);
            }
            line.push(b'\n');
            file.write_all(&line).unwrap();
            written += line.len() as u64;
        }
        file.flush().unwrap();
    }
    let started = std::time::Instant::now();
    let Some((code, peak)) = run_measured(&env, &repo, &["checkpoint", "t", "-m", "huge"]) else {
        eprintln!("skipped: /usr/bin/time (GNU time) is not installed");
        return;
    };
    let elapsed = started.elapsed();
    eprintln!(
        "checkpoint of a {mib} MiB file: peak RSS {} MiB, {:.1} s",
        peak >> 20,
        elapsed.as_secs_f64()
    );
    assert_eq!(code, 0);
    assert!(peak < 100 << 20, "peak RSS {} MiB", peak >> 20);
    let size: u64 = env
        .git(&repo, &["cat-file", "-s", "agent/t:huge.dat"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(size, std::fs::metadata(wt.join("huge.dat")).unwrap().len());
    // A rollback and its undo write it back out, in bounded memory too.
    env.agent_ok(&repo, &["rollback", "t", "--steps", "1"]);
    let (code, peak) = run_measured(&env, &repo, &["rollback", "t", "--undo"]).unwrap();
    eprintln!("checkout of it: peak RSS {} MiB", peak >> 20);
    assert_eq!(code, 0);
    assert!(
        peak < 100 << 20,
        "peak RSS of the checkout {} MiB",
        peak >> 20
    );
    assert_eq!(std::fs::metadata(wt.join("huge.dat")).unwrap().len(), size);
}

/// docs/fidelity.md, "A checkpoint with nothing changed": where `git commit` refuses, the
/// checkpoint is a commit with the tip's tree that carries the step's record.
#[test]
fn a_checkpoint_with_nothing_changed_is_an_empty_commit_with_its_record() {
    let env = TestEnv::new();
    let (repo, wt) = task_with(&env, "empty", &[("a.txt", b"a\n")]);
    let refused = env
        .git_cmd(&wt, &["commit", "-m", "nothing"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("nothing to commit"));
    let out = env.agent_ok(
        &repo,
        &[
            "--json",
            "checkpoint",
            "t",
            "-m",
            "Check the build",
            "--expected",
            "the build still passes",
        ],
    );
    let out: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(out["files_changed"], 0);
    assert_eq!(out["number"], 1);
    assert_eq!(
        env.rev(&repo, "agent/t^{tree}"),
        env.rev(&repo, "agent/t~1^{tree}")
    );
    let message = env.git(&repo, &["log", "-1", "--format=%B", "agent/t"]);
    assert!(message.contains("0 files changed"), "{message}");
    let trailers = env.trailers(&repo, "agent/t");
    assert_eq!(
        crate::common::get(&trailers, "Agent-Expected"),
        Some("the build still passes")
    );
    let note = env.git(&repo, &["notes", "--ref", "agent/t", "show", "agent/t"]);
    assert!(note.contains("checkpoint = 1"), "{note}");
    env.fsck(&repo);
}
