//! The sandbox for `run_command` and the test command.
//!
//! [`run`] spawns `LAUNCHER __sandbox-exec --write DIR… [--net] -- sh -c COMMAND`, where the
//! launcher is git-agent itself (or an injected binary). The launcher (`super::launcher`),
//! in that fresh single-threaded process, puts the command in namespaces of its own and
//! confines it — reads and execution everywhere, writes only beneath the writable dirs, no
//! device nodes, no capabilities, no TCP unless the network is allowed — so the restriction
//! covers it and every child it starts, and nothing it starts outlives it. Restricting after
//! a re-exec, rather than in `pre_exec` after `fork`, keeps allocation out of the forked copy
//! of a multi-threaded runtime.
#![expect(
    unsafe_code,
    reason = "the Landlock ABI probe, the parent-death signal and kill of a process group need libc"
)]

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

use super::launcher::{LAUNCHER_PREFIX, SANDBOX_EXEC_ARG, SETUP_FAILED, landlock_abi};

/// How long output is still read after the command ended, for stray writers to finish.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long the launcher of a command that timed out gets to kill what it started.
const LAUNCHER_GRACE: Duration = Duration::from_secs(5);

/// Whether commands run confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Landlock confinement; commands are refused where the kernel lacks it.
    #[default]
    Enforce,
    /// No confinement (`sandbox = "off"`): only the clean environment, the process group,
    /// the timeout and the output bound remain.
    Off,
}

/// What a command may touch.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// Directories the command may write beneath (the task's worktree). The private temp
    /// dir is added by [`run`].
    pub writable: Vec<PathBuf>,
    /// Paths beneath a writable dir that stay read-only (the worktree's `.git`): bind-mounted
    /// read-only in the command's own mount namespace, so a command can neither rewrite the
    /// worktree's link to its repository nor, with `--here`, the repository itself.
    pub protected: Vec<PathBuf>,
    /// Allow TCP connections and binds.
    pub network: bool,
    pub mode: SandboxMode,
    /// The binary that applies the sandbox (`LAUNCHER __sandbox-exec …`); `None` is the
    /// running executable.
    pub launcher: Option<PathBuf>,
    /// The private temp dir (`HOME` and `TMPDIR` of the command). `None`: a fresh one for
    /// this command, removed afterwards. A given dir is kept, so caches can outlive a call.
    pub temp_dir: Option<PathBuf>,
}

impl SandboxSpec {
    /// The sandbox of a task's commands: writes beneath the worktree only, its `.git`
    /// read-only. One definition for the loop and for `merge`'s checks.
    pub fn for_worktree(worktree: &Path, network: bool, sandbox_off: bool) -> SandboxSpec {
        SandboxSpec {
            writable: vec![worktree.to_path_buf()],
            protected: vec![worktree.join(".git")],
            network,
            mode: if sandbox_off {
                SandboxMode::Off
            } else {
                SandboxMode::Enforce
            },
            ..SandboxSpec::default()
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when a signal ended it (always so after a timeout).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Standard output and error in the order written, bounded: head and tail are kept
    /// around a line that says how much was cut.
    pub output: String,
    pub duration: Duration,
}

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "this kernel has no Landlock, so commands cannot be confined; git-agent refuses to run them unconfined"
    )]
    Unavailable,
    #[error("cannot prepare the sandbox's temp dir: {0}")]
    TempDir(#[source] io::Error),
    #[error("writable dir `{path}` is not usable: {source}")]
    Writable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot find the sandbox launcher: {0}")]
    Launcher(#[source] io::Error),
    #[error("cannot start the command: {0}")]
    Spawn(#[source] io::Error),
    #[error("the sandbox could not be set up: {0}")]
    Setup(String),
}

impl crate::error::Advice for SandboxError {
    fn hint(&self) -> Option<String> {
        match self {
            SandboxError::Unavailable => Some(
                "enable Landlock (Linux 5.13 or later, `lsm=…,landlock` on the kernel command line), \
                 or set `sandbox = \"off\"` in the configuration to run commands without a sandbox, at your own risk"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Whether an environment variable looks like a credential and must not reach a command.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "_API_KEY",
        "_TOKEN",
        "_SECRET",
        "_SECRET_KEY",
        "_SECRET_ACCESS_KEY",
        "_PASSWORD",
    ]
    .iter()
    .any(|suffix| upper.ends_with(suffix))
        || matches!(upper.as_str(), "API_KEY" | "TOKEN" | "SECRET" | "PASSWORD")
}

/// Runs `sh -c command` in `cwd`, confined by `spec`, with a clean environment plus `env`
/// (minus anything that looks like a credential), killed with all its children after
/// `timeout`, its output bounded to about `output_limit` bytes.
pub async fn run(
    command: &str,
    cwd: &Path,
    spec: &SandboxSpec,
    env: &[(String, String)],
    timeout: Duration,
    output_limit: usize,
) -> Result<CommandOutput, SandboxError> {
    if spec.mode == SandboxMode::Enforce && landlock_abi().is_none() {
        return Err(SandboxError::Unavailable);
    }
    let (_owned_temp, temp) = temp_dir(spec)?;
    let program = ["sh", "-c", command].map(OsString::from);
    let env: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| !is_secret_env_name(name))
        .cloned()
        .collect();
    let mut cmd = confined_command(&program, cwd, spec, &temp, &env)?;
    cmd.stdin(Stdio::null());

    let (reader, writer) = io::pipe().map_err(SandboxError::Spawn)?;
    cmd.stdout(writer.try_clone().map_err(SandboxError::Spawn)?)
        .stderr(writer);
    let started = Instant::now();
    let child = cmd.spawn();
    // The parent's copies of the write end must go, or the reader never sees the end.
    drop(cmd);
    let mut child = child.map_err(SandboxError::Spawn)?;
    let group = ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()));

    let mut receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(SandboxError::Spawn)?;
    let mut capture = Capture::new(output_limit);
    let mut reading = Box::pin(async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match receiver.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => capture.push(&buf[..n]),
            }
        }
    });

    let mut read_done = false;
    let waited = tokio::time::timeout(timeout, async {
        loop {
            tokio::select! {
                status = child.wait() => return status,
                () = &mut reading, if !read_done => read_done = true,
            }
        }
    })
    .await;
    let (status, timed_out) = match waited {
        Ok(status) => (status.map_err(SandboxError::Spawn)?, false),
        Err(_) => (
            stop(&mut child, &group, spec.mode)
                .await
                .map_err(SandboxError::Spawn)?,
            true,
        ),
    };
    let duration = started.elapsed();
    // Background children die with the command; what they wrote so far is kept.
    group.kill();
    if !read_done {
        let _ = tokio::time::timeout(DRAIN_GRACE, &mut reading).await;
    }
    drop(reading);
    let output = capture.finish();

    let exit_code = status.code();
    if spec.mode == SandboxMode::Enforce
        && exit_code == Some(SETUP_FAILED)
        && output.starts_with(LAUNCHER_PREFIX)
    {
        let message = output
            .trim_start_matches(LAUNCHER_PREFIX)
            .trim_end()
            .to_owned();
        return Err(SandboxError::Setup(message));
    }
    Ok(CommandOutput {
        // A launcher that stopped on request exits 143 itself; a timeout is no exit code.
        exit_code: if status.signal().is_some() || timed_out {
            None
        } else {
            exit_code
        },
        timed_out,
        output,
        duration,
    })
}

/// The command's private temp dir: the spec's own (kept), or a fresh one removed when the
/// returned guard drops.
fn temp_dir(spec: &SandboxSpec) -> Result<(Option<tempfile::TempDir>, PathBuf), SandboxError> {
    match &spec.temp_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(SandboxError::TempDir)?;
            Ok((None, dir.clone()))
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("git-agent-cmd-")
                .tempdir()
                .map_err(SandboxError::TempDir)?;
            let path = dir.path().to_path_buf();
            Ok((Some(dir), path))
        }
    }
}

/// `program` (and its arguments) run in `cwd` confined by `spec` — through the launcher,
/// unless the sandbox is off — with the clean environment plus `env`, in a process group of
/// its own, killed if dropped. Standard streams are the caller's to set.
fn confined_command(
    program: &[OsString],
    cwd: &Path,
    spec: &SandboxSpec,
    temp: &Path,
    env: &[(String, String)],
) -> Result<tokio::process::Command, SandboxError> {
    let Some((name, args)) = program.split_first() else {
        return Err(SandboxError::Spawn(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no program to run",
        )));
    };
    let mut cmd = match spec.mode {
        SandboxMode::Off => {
            let mut cmd = tokio::process::Command::new(name);
            cmd.args(args);
            cmd
        }
        SandboxMode::Enforce => {
            let launcher = match &spec.launcher {
                Some(path) => path.clone(),
                None => std::env::current_exe().map_err(SandboxError::Launcher)?,
            };
            let mut cmd = tokio::process::Command::new(launcher);
            cmd.arg(SANDBOX_EXEC_ARG);
            for dir in spec.writable.iter().map(PathBuf::as_path).chain([temp]) {
                std::fs::metadata(dir).map_err(|source| SandboxError::Writable {
                    path: dir.to_path_buf(),
                    source,
                })?;
                cmd.arg("--write").arg(dir);
            }
            for path in spec
                .protected
                .iter()
                .filter(|p| p.symlink_metadata().is_ok())
            {
                cmd.arg("--protect").arg(path);
            }
            if spec.network {
                cmd.arg("--net");
            }
            cmd.arg("--").args(program);
            cmd
        }
    };
    cmd.current_dir(cwd)
        .env_clear()
        .envs(base_env(temp))
        .envs(env.iter().cloned())
        .process_group(0)
        .kill_on_drop(true);
    die_with_the_harness(&mut cmd, spec.mode);
    Ok(cmd)
}

/// Ties the program's life to the harness thread that starts it: a harness killed with
/// SIGKILL runs no `Drop`, and a command left running would keep writing into the worktree
/// the resumed run uses. The launcher gets SIGTERM and kills everything it started (its PID
/// namespace's init dies with it; without a namespace it kills its descendants); an
/// unconfined program gets SIGKILL. Every caller starts programs from the thread that runs
/// the task (a current-thread runtime), which lives as long as the run.
fn die_with_the_harness(cmd: &mut tokio::process::Command, mode: SandboxMode) {
    let signal = match mode {
        SandboxMode::Enforce => libc::SIGTERM,
        SandboxMode::Off => libc::SIGKILL,
    };
    // SAFETY: getpid cannot fail.
    let harness = unsafe { libc::getpid() };
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid are async-signal-safe, allocate nothing and
    // touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0);
            // The harness may have died between fork and prctl: then nothing would signal.
            if libc::getppid() != harness {
                return Err(io::Error::other("the harness is gone"));
            }
            Ok(())
        });
    }
}

/// A long-lived program started confined, speaking over its standard streams (an MCP
/// server): the same walls as a command's, its temp dir kept while it runs. Dropping it
/// kills it and everything it started.
pub struct Confined {
    pub child: tokio::process::Child,
    group: ProcessGroup,
    _temp: Option<tempfile::TempDir>,
}

impl Confined {
    /// Kill the program and everything it started, now.
    pub fn kill(&mut self) {
        self.group.kill();
    }
}

/// Start `program` in `cwd`, confined by `spec`, with the clean environment plus `env`
/// (given by the user for this program, so passed as is), stdin, stdout and stderr piped.
pub fn spawn_confined(
    program: &[String],
    cwd: &Path,
    spec: &SandboxSpec,
    env: &[(String, String)],
) -> Result<Confined, SandboxError> {
    if spec.mode == SandboxMode::Enforce && landlock_abi().is_none() {
        return Err(SandboxError::Unavailable);
    }
    let (owned_temp, temp) = temp_dir(spec)?;
    let program: Vec<OsString> = program.iter().map(OsString::from).collect();
    let mut cmd = confined_command(&program, cwd, spec, &temp, env)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A program that outlives its command's end would outlive a harness killed with SIGKILL
    // too (nothing closes its stdin then): `confined_command` ties it to the harness thread.
    let child = cmd.spawn().map_err(SandboxError::Spawn)?;
    let group = ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()));
    Ok(Confined {
        child,
        group,
        _temp: owned_temp,
    })
}

/// The launcher's own message when it could not set the sandbox up, from what the program
/// wrote to stderr and how it exited.
pub fn setup_failure(exit_code: Option<i32>, stderr: &str) -> Option<String> {
    (exit_code == Some(SETUP_FAILED))
        .then(|| stderr.trim_start().strip_prefix(LAUNCHER_PREFIX))
        .flatten()
        .map(|m| m.lines().next().unwrap_or_default().trim().to_owned())
}

fn base_env(temp: &Path) -> Vec<(OsString, OsString)> {
    let path =
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let lang = std::env::var_os("LANG").unwrap_or_else(|| OsString::from("C.UTF-8"));
    vec![
        ("PATH".into(), path),
        ("HOME".into(), temp.into()),
        ("TMPDIR".into(), temp.into()),
        ("LANG".into(), lang),
        ("TERM".into(), "dumb".into()),
    ]
}

/// Ends a command that ran out of time. The launcher is asked first (SIGTERM): where it got
/// no PID namespace, only it can find what the command started in a session of its own
/// (`setsid`), which the group's SIGKILL misses; it kills all it started, then exits. A
/// launcher that does not exit within [`LAUNCHER_GRACE`] is killed with its group.
async fn stop(
    child: &mut tokio::process::Child,
    group: &ProcessGroup,
    mode: SandboxMode,
) -> io::Result<std::process::ExitStatus> {
    if let (SandboxMode::Enforce, Some(launcher)) = (mode, group.0.filter(|&p| p > 0)) {
        // SAFETY: kill(2) of our own child, the launcher; no memory is involved.
        unsafe { libc::kill(launcher, libc::SIGTERM) };
        if let Ok(status) = tokio::time::timeout(LAUNCHER_GRACE, child.wait()).await {
            group.kill();
            return status;
        }
    }
    group.kill();
    child.wait().await
}

/// The command's process group, killed whole (on timeout, at the end, and if the run is
/// dropped half-way).
struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    fn kill(&self) {
        if let Some(pgid) = self.0.filter(|&p| p > 0) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // involved. An already empty group gives ESRCH, which is fine.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keeps the first and last bytes of a stream and counts what falls between.
struct Capture {
    head_limit: usize,
    tail_limit: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: usize,
    total_lines: usize,
}

impl Capture {
    fn new(limit: usize) -> Self {
        let head_limit = limit / 2;
        Self {
            head_limit,
            tail_limit: limit - head_limit,
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
            total_lines: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        self.total_lines += bytes.iter().filter(|&&b| b == b'\n').count();
        let room = self.head_limit.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        bytes = rest;
        if bytes.len() >= self.tail_limit {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_limit..]);
        } else {
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_limit);
            self.tail.drain(..overflow);
            self.tail.extend(bytes);
        }
    }

    fn finish(self) -> String {
        let kept = self.head.len() + self.tail.len();
        if self.total <= kept {
            let mut all = self.head;
            all.extend(self.tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        // Cut at line ends when a line end is near, so neither part starts mid-line.
        let mut head = self.head;
        if let Some(end) = head.iter().rposition(|&b| b == b'\n') {
            head.truncate(end + 1);
        }
        let mut tail: Vec<u8> = self.tail.into();
        if let Some(start) = tail.iter().position(|&b| b == b'\n') {
            tail.drain(..=start);
        }
        let cut = self.total - head.len() - tail.len();
        let lines_kept = head.iter().chain(&tail).filter(|&&b| b == b'\n').count();
        let cut_lines = self.total_lines.saturating_sub(lines_kept);
        let mut out = String::from_utf8_lossy(&head).into_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "[… {cut} bytes ({cut_lines} lines) cut from the middle of the output …]\n"
        ));
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}
