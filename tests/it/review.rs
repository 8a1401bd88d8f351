//! Reviewing as with git: `git agent diff` pages and colours by git's rules when run through
//! git's wrapper in a terminal; and the first `start` says that it set `notes.displayRef`.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::TestEnv;

/// PATH with the built git-agent first, so that `git agent` finds it.
fn path_with_binary() -> OsString {
    let built = assert_cmd::cargo::cargo_bin("git-agent");
    std::env::join_paths(
        std::iter::once(built.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap()
}

/// Run `cmd` with a pseudo-terminal as stdin, stdout and stderr; returns its exit code and
/// what it wrote to the terminal.
fn in_terminal(mut cmd: Command) -> (i32, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the two integers; the null pointers ask
    // for no name and default terminal settings.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    };
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    // The parent's copies of the terminal's side go with the command: the reader then sees
    // the end once the child and its pager have exited.
    drop(cmd);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut master = master;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux answers EIO on the master once every slave descriptor is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the command in the terminal did not finish in a minute");
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out).into_owned())
}

/// A repository with task `alpha` that adds CHANGELOG.md in one checkpoint.
fn task_with_a_change(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "alpha", "Add a CHANGELOG"],
    );
    let wt = crate::common::worktree(&repo, "alpha");
    std::fs::write(wt.join("CHANGELOG.md"), "# Changes\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "alpha", "-m", "Add a CHANGELOG"]);
    repo
}

/// `git <args>` in a terminal through git's own wrapper, with colour left to the rules (no
/// NO_COLOR) and `env` added.
fn git_in_terminal(
    env: &TestEnv,
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (i32, String) {
    let mut cmd = env.git_cmd(dir, args);
    cmd.env_remove("NO_COLOR")
        .env("PATH", path_with_binary())
        .env("TERM", "xterm");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    in_terminal(cmd)
}

const ESC: &str = "\x1b[";

/// `text` without its colour sequences (`ESC [ … m`), to read what a coloured diff says.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn diff_pages_and_colours_by_gits_rules() {
    let env = TestEnv::new();
    let repo = task_with_a_change(&env);
    let paged = env.root.path().join("paged.txt");
    let pager = format!("cat > '{}'", paged.display());
    let paged_text = || {
        let text = std::fs::read_to_string(&paged).unwrap_or_default();
        let _ = std::fs::remove_file(&paged);
        text
    };

    // GIT_PAGER: the diff goes to the pager, coloured (git colours what it pages).
    let (code, screen) = git_in_terminal(
        &env,
        &repo,
        &["agent", "diff", "alpha"],
        &[("GIT_PAGER", &pager)],
    );
    assert_eq!(code, 0, "{screen}");
    let text = paged_text();
    assert!(
        plain(&text).contains("+# Changes"),
        "nothing paged: {text:?}\nscreen: {screen}"
    );
    assert!(text.contains(ESC), "not coloured: {text:?}");
    assert!(
        !screen.contains("# Changes"),
        "printed past the pager: {screen}"
    );

    // core.pager, given as `git -c`: it reaches git-agent and the git it runs.
    let (code, screen) = git_in_terminal(
        &env,
        &repo,
        &[
            "-c",
            &format!("core.pager={pager}"),
            "agent",
            "diff",
            "alpha",
        ],
        &[],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(plain(&paged_text()).contains("+# Changes"), "{screen}");

    // PAGER, when git has no pager of its own named.
    let (code, screen) = git_in_terminal(
        &env,
        &repo,
        &["agent", "diff", "alpha"],
        &[("PAGER", &pager)],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        plain(&paged_text()).contains("+# Changes"),
        "PAGER: {screen}"
    );

    // color.ui=never, color.diff=never and --color never: paged, plain.
    for args in [
        &["-c", "color.ui=never", "agent", "diff", "alpha"][..],
        &["-c", "color.diff=never", "agent", "diff", "alpha"],
        &["agent", "--color", "never", "diff", "alpha"],
    ] {
        let (code, screen) = git_in_terminal(&env, &repo, args, &[("GIT_PAGER", &pager)]);
        assert_eq!(code, 0, "{screen}");
        let text = paged_text();
        assert!(
            text.contains("+# Changes") && !text.contains(ESC),
            "{args:?}: {text:?}"
        );
    }
    // NO_COLOR: plain too.
    let (_, _) = git_in_terminal(
        &env,
        &repo,
        &["agent", "diff", "alpha"],
        &[("GIT_PAGER", &pager), ("NO_COLOR", "1")],
    );
    let text = paged_text();
    assert!(
        text.contains("+# Changes") && !text.contains(ESC),
        "NO_COLOR: {text:?}"
    );

    // `git --no-pager agent diff`: on the terminal itself, coloured, no pager run.
    let (code, screen) = git_in_terminal(
        &env,
        &repo,
        &["--no-pager", "agent", "diff", "alpha"],
        &[("GIT_PAGER", &pager)],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        plain(&screen).contains("+# Changes") && screen.contains(ESC),
        "{screen:?}"
    );
    assert!(!paged.exists(), "--no-pager still paged");

    // `git -p agent diff`: git pages the whole command; the inner diff pages no second time
    // and colours for the pager.
    let (code, screen) = git_in_terminal(
        &env,
        &repo,
        &["-p", "agent", "diff", "alpha"],
        &[("GIT_PAGER", &pager)],
    );
    assert_eq!(code, 0, "{screen}");
    let text = paged_text();
    assert_eq!(plain(&text).matches("+# Changes").count(), 1, "{text:?}");
    assert!(text.contains(ESC), "{text:?}");

    // Not a terminal: neither pager nor colour (cli_output's transcript shows the whole patch).
    let out = env
        .git_cmd(&repo, &["agent", "diff", "alpha"])
        .env_remove("NO_COLOR")
        .env("PATH", path_with_binary())
        .env("GIT_PAGER", &pager)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("+# Changes") && !stdout.contains(ESC),
        "{stdout:?}"
    );
    assert!(!paged.exists());
}

#[test]
fn the_first_start_says_it_set_notes_display_ref_and_how_to_undo_it() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (code, _, err) = env.agent(
        &repo,
        &["start", "--no-run", "--name", "alpha", "Add a CHANGELOG"],
    );
    assert_eq!(code, 0, "{err}");
    let undo = "git config --local --unset --fixed-value notes.displayRef 'refs/notes/agent/*'";
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("notes.displayRef"))
        .collect();
    assert_eq!(
        notes,
        [format!(
            "note: set notes.displayRef = refs/notes/agent/* in this repository's .git/config, so \
             that `git log` shows each checkpoint's record (git notes) under its commit; undo it \
             with `{undo}`, and keep future tasks from setting it with `git config \
             agent.displayNotes false`"
        )],
        "{err}"
    );
    assert_eq!(
        env.git(
            &repo,
            &["config", "--local", "--get-all", "notes.displayRef"]
        ),
        "refs/notes/agent/*\n"
    );
    // Once: the next task finds it set and says nothing.
    let (_, _, err) = env.agent(
        &repo,
        &["start", "--no-run", "--name", "beta", "Fix the README"],
    );
    assert!(!err.contains("displayRef"), "{err}");

    // The command it printed undoes it, and leaves any other displayRef alone.
    env.git(
        &repo,
        &[
            "config",
            "--local",
            "--add",
            "notes.displayRef",
            "refs/notes/review",
        ],
    );
    env.sh(&repo, undo);
    assert_eq!(
        env.git(
            &repo,
            &["config", "--local", "--get-all", "notes.displayRef"]
        ),
        "refs/notes/review\n"
    );
    // And what it names keeps the next task from setting it again.
    env.git(&repo, &["config", "agent.displayNotes", "false"]);
    let (_, _, err) = env.agent(
        &repo,
        &["start", "--no-run", "--name", "gamma", "Fix the tests"],
    );
    assert!(!err.contains("displayRef"), "{err}");
    assert_eq!(
        env.git(
            &repo,
            &["config", "--local", "--get-all", "notes.displayRef"]
        ),
        "refs/notes/review\n"
    );
}
