//! A test environment: temp repositories isolated from the user's git config, and the real
//! binary run with a cleared environment.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assert_cmd::cargo::CommandCargoExt;

pub struct TestEnv {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv::with_root(tempfile::tempdir().unwrap())
    }

    /// An environment in memory (`/dev/shm`) where there is one: for suites that make
    /// thousands of small repositories, whose cost is otherwise the disk's.
    pub fn in_memory() -> TestEnv {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap_or_else(|_| tempfile::tempdir().unwrap())
        } else {
            tempfile::tempdir().unwrap()
        };
        TestEnv::with_root(root)
    }

    fn with_root(root: tempfile::TempDir) -> TestEnv {
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        TestEnv { root, home }
    }

    pub fn apply_env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LANG", "C")
            .env("NO_COLOR", "1");
    }

    /// A repository with a small project and one commit.
    pub fn repo(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("README.md"), "# sample\n").unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        )
        .unwrap();
        std::fs::write(dir.join(".gitignore"), "target/\n*.log\n").unwrap();
        self.git(&dir, &["init", "-q"]);
        self.git(&dir, &["add", "-A"]);
        self.git(&dir, &["commit", "-qm", "initial"]);
        dir
    }

    pub fn git_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        self.apply_env(&mut cmd);
        cmd.current_dir(dir).args(args);
        cmd
    }

    /// Run a shell command line (e.g. a repair that git agent fsck printed) and return stdout;
    /// panics with stderr when it fails.
    pub fn sh(&self, dir: &Path, script: &str) -> String {
        crate::support::stdout_of(self.sh_cmd(dir, script), &format!("sh -c {script:?}"))
    }

    /// A shell script run in `dir` with the test environment (git isolated from the user's
    /// configuration).
    pub fn sh_cmd(&self, dir: &Path, script: &str) -> Command {
        let mut cmd = Command::new("sh");
        self.apply_env(&mut cmd);
        cmd.current_dir(dir).arg("-c").arg(script);
        cmd
    }

    /// Run git and return stdout; panics with stderr when git fails.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        crate::support::stdout_of(self.git_cmd(dir, args), &format!("git {args:?}"))
    }

    pub fn agent_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("git-agent").unwrap();
        self.apply_env(&mut cmd);
        cmd.current_dir(dir).args(args);
        cmd
    }

    /// Run git-agent; returns (exit code, stdout, stderr).
    pub fn agent(&self, dir: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self.agent_cmd(dir, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run git-agent and insist on success.
    pub fn agent_ok(&self, dir: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.agent(dir, args);
        assert_eq!(
            code, 0,
            "git agent {args:?} failed\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    pub fn fsck(&self, dir: &Path) {
        let out = self
            .git_cmd(dir, &["fsck", "--strict", "--no-dangling"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "git fsck --strict is not clean:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `git agent fsck` finds nothing: the state is what docs/data-model.md says it is.
    pub fn agent_fsck(&self, dir: &Path) {
        let (code, out, err) = self.agent(dir, &["fsck"]);
        assert_eq!(code, 0, "git agent fsck is not clean:\n{out}{err}");
    }

    /// The trailers of a commit as `git interpret-trailers --parse` reads them.
    pub fn trailers(&self, dir: &Path, rev: &str) -> Vec<(String, String)> {
        let message = self.git(dir, &["log", "-1", "--format=%B", rev]);
        let mut cmd = self.git_cmd(dir, &["interpret-trailers", "--parse"]);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(message.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn rev(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["rev-parse", rev]).trim().to_string()
    }
}

/// `cmd` run by `program` with `args` before it (`strace …`, `setpriv …`): the same
/// environment (and nothing else), directory and arguments; stdin closed.
pub fn wrapped<S: AsRef<std::ffi::OsStr>>(cmd: &Command, program: &str, args: &[S]) -> Command {
    let mut outer = Command::new(program);
    outer.env_clear();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            outer.env(key, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
        .args(args)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null());
    outer
}

pub fn worktree(repo: &Path, slug: &str) -> PathBuf {
    repo.join(".git/agent/worktrees").join(slug)
}

pub fn get<'a>(trailers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    trailers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A child whose stderr is read line by line as it comes, so that a test acts on what it has
/// said (it took the signal, it asked the run to stop) instead of on how long it has run.
pub struct Running {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

impl Running {
    /// Spawn `cmd` with stdout and stderr piped.
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Running {
            child,
            lines,
            reader,
        }
    }

    /// Wait until a line of stderr contains `needle`.
    pub fn wait_for_line(&self, needle: &str) {
        crate::support::wait_until(&format!("a line with {needle:?}"), || {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        });
    }

    /// Exit code, stdout, stderr.
    pub fn finish(self) -> (i32, String, String) {
        let out = self.child.wait_with_output().unwrap();
        // The reader ends with the pipe: after the join every line is in.
        self.reader.join().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            self.lines.lock().unwrap().join("\n"),
        )
    }
}

/// The first line of `from` (without its newline), read a byte at a time so that nothing
/// after it is taken: the rest is still there for `wait_with_output`. Empty at the end.
pub fn first_line(from: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while from.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}
