//! A file-system monitor for the checkpoints made outside a run (`git agent checkpoint`),
//! the way git's `core.fsmonitor` daemon serves `git status`: opt-in (`agent.fsmonitor`),
//! one small process per task worktree holding a [`Watch`], asked over a Unix socket in the
//! worktree's admin dir which paths changed since a mark.
//!
//! The mark is kept beside the index (`agent-fsmonitor.token`: the daemon's instance, the
//! number of its last event, and a fingerprint of the tip and of the exclude files outside
//! the worktree, which no watch sees: when it differs, the checkpoint walks) by whoever
//! last made the worktree and the tip agree: `start`
//! right after the checkout, every checkpoint after it landed. A checkpoint asks for what
//! changed after that mark; with another instance (the daemon restarted), a mark it never
//! gave, a watch that lost track, no daemon, or no answer within half a second, it walks
//! the worktree as before. inotify queues an event inside the system call that changed the
//! file, so what a shell wrote before `git agent checkpoint` started is in the queue by the
//! time the daemon reads it on the question.
//!
//! The daemon reads directory listings and events, never a file's content; it answers the
//! one question and nothing changes its state. It exits when its worktree is gone, when its
//! socket is removed or taken over (a command that finds `agent.fsmonitor` off removes it),
//! or after 30 minutes without a question.
#![expect(
    unsafe_code,
    reason = "poll, setsid and close_range of the monitor daemon need libc"
)]

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gix::bstr::{BString, ByteSlice};

use crate::store::Store;
use crate::store::capture::watch::{Changes, Watch};
use crate::walk::generated::Generated;

const SOCKET: &str = "agent-fsmonitor.sock";
const TOKEN: &str = "agent-fsmonitor.token";
/// A daemon nobody asked for this long exits.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a checkpoint waits for an answer before it walks instead.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);
/// How long a client may take to ask (and to take the answer).
const QUESTION_WITHIN: Duration = Duration::from_millis(500);
/// How long `start` waits for a new daemon to be ready.
const READY_WITHIN: Duration = Duration::from_secs(3);
/// The first argument that makes the binary the daemon (`git-agent <it> <worktree>`): not a
/// command of the CLI, as the sandbox launcher's is not.
pub const DAEMON_ARG: &str = "__fsmonitor";

/// A daemon's mark: which daemon, and the number of its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    instance: String,
    seq: u64,
}

impl Mark {
    fn render(&self) -> String {
        format!("{} {}", self.instance, self.seq)
    }

    fn parse(text: &str) -> Option<Mark> {
        let (instance, seq) = text.trim().split_once(' ')?;
        let valid = !instance.is_empty() && instance.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then_some(())?;
        Some(Mark {
            instance: instance.to_string(),
            seq: seq.parse().ok()?,
        })
    }
}

/// The socket's path, short enough for `sun_path` (108 bytes): a long admin dir is reached
/// through `/proc/self/fd/<n>` of a descriptor open on it, kept alive with the path.
fn socket_path(admin: &Path) -> std::io::Result<(Option<OwnedFd>, PathBuf)> {
    let direct = admin.join(SOCKET);
    if direct.as_os_str().len() < 100 {
        return Ok((None, direct));
    }
    let dir = rustix::fs::open(
        admin,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let path = PathBuf::from(format!(
        "/proc/self/fd/{}/{SOCKET}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ));
    Ok((Some(dir), path))
}

/// Ask the daemon of `admin` what changed after `mark` (`None`: it says what its mark is
/// now). `None` when no daemon answers in time.
fn ask(admin: &Path, mark: Option<&Mark>) -> Option<(Changes, Mark)> {
    let (_dir, path) = socket_path(admin).ok()?;
    let mut stream = UnixStream::connect(&path).ok()?;
    stream.set_read_timeout(Some(ANSWER_WITHIN)).ok()?;
    stream.set_write_timeout(Some(ANSWER_WITHIN)).ok()?;
    let question = match mark {
        Some(mark) => format!("since {}\n", mark.render()),
        None => "since 0 0\n".to_string(),
    };
    stream.write_all(question.as_bytes()).ok()?;
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if started.elapsed() > ANSWER_WITHIN || answer.len() > 64 << 20 {
            return None;
        }
    }
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> Option<(Changes, Mark)> {
    let (head, body) = answer.split_once_str(b"\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut words = head.splitn(4, ' ');
    let kind = words.next()?;
    let mark = Mark::parse(&format!("{} {}", words.next()?, words.next()?))?;
    let changes = match kind {
        "paths" => Changes::Paths(
            body.split_str(b"\0")
                .filter(|p| !p.is_empty())
                .map(BString::from)
                .collect(),
        ),
        "unknown" => Changes::Unknown(words.next().unwrap_or("no reason given").to_string()),
        _ => return None,
    };
    Some((changes, mark))
}

fn answer(changes: &Changes, mark: &Mark) -> Vec<u8> {
    match changes {
        Changes::Paths(paths) => {
            let mut out = format!("paths {}\n", mark.render()).into_bytes();
            for path in paths {
                out.extend_from_slice(path);
                out.push(0);
            }
            out
        }
        Changes::Unknown(why) => {
            format!("unknown {} {}\n", mark.render(), why.replace('\n', " ")).into_bytes()
        }
    }
}

/// A daemon's instance: random, then the fingerprint of the generated-output rules its watch
/// was armed with (a checkpoint with other rules must not trust its answer).
fn new_instance(rules: &str) -> String {
    format!("{:016x}{rules}", fastrand::u64(1..))
}

/// The daemon: watch `worktree`, answer on the socket in `admin`, until there is no reason to.
fn serve(
    worktree: &Path,
    admin: &Path,
    rules: &str,
    arm: impl Fn() -> Result<Watch, String>,
) -> Result<(), String> {
    if ask(admin, None).is_some() {
        return Ok(()); // one is running already
    }
    let mut watch = arm()?;
    let mut instance = new_instance(rules);
    let (_dir, path) = socket_path(admin).map_err(|err| err.to_string())?;
    // What is left of a daemon that died (none answered above).
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|err| format!("could not listen on {}: {err}", path.display()))?;
    let ours = std::fs::metadata(&path)
        .map_err(|err| err.to_string())?
        .ino();
    let mut asked = Instant::now();
    loop {
        let (events, question) = wait(&listener, &watch, Duration::from_secs(10));
        if events {
            watch.pump();
        }
        // Only when poll said a connection waits: accept blocks otherwise.
        let accepted = question.then(|| listener.accept().ok()).flatten();
        if let Some((stream, _)) = accepted {
            let _ = reply(stream, &mut watch, &instance);
            asked = Instant::now();
        }
        if watch.is_lost() {
            if !worktree.is_dir() {
                break;
            }
            watch = arm()?;
            instance = new_instance(rules);
        }
        if !std::fs::metadata(&path).is_ok_and(|m| m.ino() == ours) {
            return Ok(()); // removed, or another daemon took over
        }
        if asked.elapsed() > IDLE {
            break;
        }
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.ino() == ours) {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

/// Wait up to `timeout` for events or a connection: (events ready, connection ready).
fn wait(listener: &UnixListener, watch: &Watch, timeout: Duration) -> (bool, bool) {
    use std::os::fd::AsRawFd;
    let mut fds = [
        libc::pollfd {
            fd: watch.fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: listener.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two pollfd structs we own, for descriptors that outlive the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout.as_millis() as i32) };
    if ready <= 0 {
        return (false, false);
    }
    (fds[0].revents != 0, fds[1].revents != 0)
}

/// Read one question and answer it; a client that says nothing in time gets nothing.
fn reply(mut stream: UnixStream, watch: &mut Watch, instance: &str) -> std::io::Result<()> {
    stream.set_write_timeout(Some(QUESTION_WITHIN))?;
    // One deadline for the whole question: a client dripping a byte at a time must not hold
    // the monitor longer than a silent one.
    let deadline = Instant::now() + QUESTION_WITHIN;
    let mut question = Vec::new();
    let mut byte = [0u8; 1];
    while question.len() < 128 && !question.ends_with(b"\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        if stream.read(&mut byte)? == 0 {
            break;
        }
        question.push(byte[0]);
    }
    let asked = std::str::from_utf8(&question)
        .ok()
        .and_then(|q| q.strip_prefix("since "))
        .and_then(Mark::parse);
    let (mut changes, seq) = watch.since(asked.as_ref().map_or(0, |m| m.seq));
    if asked.is_none_or(|m| m.instance != instance) {
        changes = Changes::Unknown("the mark is of another watch".into());
    }
    let mark = Mark {
        instance: instance.to_string(),
        seq,
    };
    stream.write_all(&answer(&changes, &mark))
}

/// The daemon's `main`: `git-agent __fsmonitor <worktree> <admin dir> [<generated entry>...]`.
/// Exits 0 when it had no more reason to run, 1 when it could not start. The repository is
/// opened through the admin dir the harness named (the one registered for the worktree),
/// never discovered from the worktree, whose `.git` a command may have replaced. It runs
/// without the user's environment, so it is given the generated-output list.
pub fn daemon_main(args: &[std::ffi::OsString]) -> std::process::ExitCode {
    let (Some(worktree), Some(admin)) = (
        args.first().map(PathBuf::from),
        args.get(1).map(PathBuf::from),
    ) else {
        return std::process::ExitCode::from(2);
    };
    let entries: Vec<String> = args[2..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let generated = Generated::new(entries.as_slice());
    let options = gix::open::Options::default().open_path_as_is(true);
    let served = gix::open_opts(&admin, options)
        .map_err(|err| err.to_string())
        .and_then(|repo| {
            serve(&worktree, repo.git_dir(), &generated.fingerprint(), || {
                crate::store::capture::watch::arm_for(&repo, &worktree, &generated)
            })
        });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

/// What a mark vouches for besides the worktree's files, which no watch sees change: the
/// tip (a scoped checkpoint keeps the tip's state of every path it does not look at) and
/// the exclude files outside the worktree (what a walk sees). A fingerprint of the tip's id
/// and the files' stat data, recorded with the mark. Not the index: `git status` rewrites
/// it to refresh stat data, which changes nothing a checkpoint records (and what it does
/// record of the index, the walk trusts as well).
fn context(repo: &gix::Repository, worktree: &Path) -> String {
    let mut text = repo.head_id().map(|id| id.to_string()).unwrap_or_default();
    let files = [
        Some(repo.common_dir().join("info").join("exclude")),
        crate::store::capture::paths::excludes_file(repo, worktree),
    ];
    for file in files.iter().flatten() {
        match std::fs::metadata(file) {
            Ok(m) => text.push_str(&format!(
                " {}:{}:{}:{}.{}",
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec()
            )),
            Err(_) => text.push_str(" -"),
        }
    }
    // FNV-1a: a fingerprint, not a secret.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

impl Store {
    /// What changed in `worktree` since its recorded mark, by its monitor, and the mark to
    /// record once a checkpoint of that has landed. `None`: no monitor answered.
    pub fn fsmonitor_changes(&self, worktree: &Path) -> Option<(Changes, Mark)> {
        let repo = self.open_worktree(worktree).ok()?;
        let admin = repo.git_dir().to_path_buf();
        let text = std::fs::read_to_string(admin.join(TOKEN)).unwrap_or_default();
        let (recorded, recorded_context) = text.trim().rsplit_once(' ').unwrap_or_default();
        let recorded = Mark::parse(recorded);
        let (changes, mark) = ask(&admin, recorded.as_ref())?;
        let changes = match (recorded, changes) {
            (None, _) => Changes::Unknown("no mark recorded".into()),
            _ if !mark.instance.ends_with(&self.generated().fingerprint()) => {
                Changes::Unknown("the monitor skips other generated files".into())
            }
            (Some(_), _) if recorded_context != context(&repo, worktree) => {
                Changes::Unknown("the tip, the index or an exclude file changed".into())
            }
            (Some(_), changes) => changes,
        };
        Some((changes, mark))
    }

    /// Record `mark`: the worktree and the task's tip agreed when the monitor gave it.
    pub fn fsmonitor_record(&self, worktree: &Path, mark: &Mark) {
        let Ok(repo) = self.open_worktree(worktree) else {
            return;
        };
        let path = repo.git_dir().join(TOKEN);
        // A cache: one that is lost or torn only costs the next checkpoint a walk.
        let Ok(mut file) = tempfile::NamedTempFile::new_in(repo.git_dir()) else {
            return;
        };
        let token = format!("{} {}", mark.render(), context(&repo, worktree));
        if file.write_all(token.as_bytes()).is_ok() {
            let _ = file.persist(path);
        }
    }

    /// Stop the monitor of `worktree`, if one runs, and forget its mark: `agent.fsmonitor`
    /// is off. Its socket goes, and a connection wakes it to see that at once (it exits
    /// when its socket is gone); no daemon is asked anything.
    pub fn fsmonitor_stop(&self, worktree: &Path) {
        let Ok(repo) = self.open_worktree(worktree) else {
            return;
        };
        let admin = repo.git_dir();
        let _ = std::fs::remove_file(admin.join(TOKEN));
        let Ok((_dir, path)) = socket_path(admin) else {
            return;
        };
        let waking = UnixStream::connect(&path).ok();
        let _ = std::fs::remove_file(&path);
        drop(waking);
    }

    /// Start the monitor of `worktree` unless one answers, and wait until it does: the mark
    /// it gives then is where it started watching. `Err` says why there is none.
    pub fn fsmonitor_start(&self, worktree: &Path) -> Result<Mark, String> {
        let repo = self.open_worktree(worktree).map_err(|e| e.to_string())?;
        let admin = repo.git_dir().to_path_buf();
        let generated = self.generated();
        if let Some((_, mark)) = ask(&admin, None) {
            if mark.instance.ends_with(&generated.fingerprint()) {
                return Ok(mark);
            }
            // Armed with another generated-output list: a daemon whose socket is gone
            // exits, and the new one takes its place.
            if let Ok((_dir, path)) = socket_path(&admin) {
                let _ = std::fs::remove_file(path);
            }
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut daemon = std::process::Command::new(exe);
        daemon
            .arg(DAEMON_ARG)
            .arg(worktree)
            .arg(&admin)
            .args(generated.entries())
            .current_dir("/")
            // It needs nothing of ours: no key, no configuration of the run.
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        use std::os::unix::process::CommandExt;
        // Its own session: a Ctrl-C in the terminal that started it is not its end. And no
        // descriptor of ours: a task's lock held open by a daemon would hold the task.
        // SAFETY: setsid and close_range are async-signal-safe system calls that touch no
        // memory of the parent.
        unsafe {
            daemon.pre_exec(|| {
                libc::syscall(
                    libc::SYS_close_range,
                    3_u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                rustix::process::setsid().map(drop).map_err(Into::into)
            });
        }
        daemon
            .spawn()
            .map_err(|err| format!("could not start the monitor: {err}"))?;
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some((_, mark)) = ask(&admin, None) {
                return Ok(mark);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err("the monitor did not answer in time".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_drips_its_question_is_cut_off_in_half_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = Watch::arm(dir.path(), Default::default()).unwrap();
        let (mut client, server) = UnixStream::pair().unwrap();
        let dripping = std::thread::spawn(move || {
            for byte in b"since 00ab 1" {
                if client.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let started = Instant::now();
        let _ = reply(server, &mut watch, "00ab");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(900), "held for {took:?}");
        dripping.join().unwrap();
    }

    #[test]
    fn marks_and_answers_read_back_as_written() {
        let mark = Mark {
            instance: "00ab".into(),
            seq: 42,
        };
        assert_eq!(Mark::parse(&mark.render()), Some(mark.clone()));
        assert_eq!(Mark::parse("zz 1"), None);
        assert_eq!(Mark::parse("ab"), None);
        let paths: std::collections::BTreeSet<BString> = ["a b.txt", "dir/ünï"]
            .iter()
            .map(|p| BString::from(*p))
            .collect();
        let changes = Changes::Paths(paths);
        assert_eq!(
            parse_answer(&answer(&changes, &mark)),
            Some((changes, mark.clone()))
        );
        let unknown = Changes::Unknown("the kernel's event queue overflowed".into());
        assert_eq!(
            parse_answer(&answer(&unknown, &mark)),
            Some((unknown, mark))
        );
    }
}
