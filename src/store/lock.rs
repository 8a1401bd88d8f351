//! The run lock of a task: a file under `$GIT_DIR/agent/locks/`, holding pid and host. It is
//! runtime state, not task state; a lock whose process is gone is taken over.
#![expect(unsafe_code, reason = "flock(2) on our own lock files needs libc")]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::refs;
use super::{Inconsistency, Result, Store, StoreError};

/// Held while a run works on a task; released on drop, or by the kernel when the process
/// dies: the lock is an `flock` on the file, so a killed run never leaves it held.
#[derive(Debug)]
pub struct TaskLock {
    file: std::fs::File,
}

/// What the lock of a task says about runs: one is working on it (`held`), or one died
/// without releasing it (`stale`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LockState {
    pub held: bool,
    pub stale: bool,
}

struct Holder {
    pid: u32,
    host: String,
    since: String,
    /// The tip of the task's say chain just before the lock was taken (`None`: no chain).
    said: Option<gix::ObjectId>,
}

fn this_host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn parse_holder(text: &str) -> Option<Holder> {
    let mut pid = None;
    let mut host = String::new();
    let mut since = String::new();
    let mut said = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => pid = v.trim().parse().ok(),
            Some(("host", v)) => host = v.trim().to_string(),
            Some(("since", v)) => since = v.trim().to_string(),
            Some((SAID, v)) => said = gix::ObjectId::from_hex(v.trim().as_bytes()).ok(),
            _ => {}
        }
    }
    Some(Holder {
        pid: pid?,
        host,
        since,
        said,
    })
}

/// The holder record's key for the say chain's tip when the lock was taken.
const SAID: &str = "said";

/// The text of a lock file; `None` when it is missing or not a regular file (reading a FIFO
/// would block).
fn read_lock_file(path: &Path) -> Option<String> {
    if NotAFile::at(path).is_some() {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// Try to take an exclusive `flock` without waiting.
pub(crate) fn try_flock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Something at a lock path that is not a regular file: a directory, a symlink, a FIFO … —
/// never made by git-agent. Opening it fails, or blocks for ever (a FIFO), so no command
/// opens it: `git agent fsck` reports it (rule [`NotAFile::RULE`]), and taking the lock
/// refuses with the same repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAFile {
    pub path: PathBuf,
    /// What is there instead: "a directory", "a symbolic link" …
    pub kind: &'static str,
    /// A directory with nothing in it, which can go without a look.
    pub empty_dir: bool,
}

impl NotAFile {
    pub const RULE: &'static str = "lock-not-a-file";

    /// What is at `path`, when it exists and is not a regular file.
    pub fn at(path: &Path) -> Option<NotAFile> {
        use std::os::unix::fs::FileTypeExt;
        let kind = std::fs::symlink_metadata(path).ok()?.file_type();
        let what = if kind.is_file() {
            return None;
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        let empty_dir = kind.is_dir()
            && std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none());
        Some(NotAFile {
            path: path.to_path_buf(),
            kind: what,
            empty_dir,
        })
    }

    pub fn what(&self) -> String {
        format!(
            "the task's lock is {}, not a file: no run or command can take it",
            self.kind
        )
    }

    /// The command that clears the path; a directory with something in it is moved aside,
    /// never deleted.
    pub fn repair(&self) -> String {
        let path = crate::text::shell_word(&self.path.display().to_string());
        match (self.kind, self.empty_dir) {
            ("a directory", true) => format!("rmdir {path}"),
            ("a directory", false) => {
                let aside = self.path.with_extension("lock.aside");
                format!(
                    "mv {path} {}",
                    crate::text::shell_word(&aside.display().to_string())
                )
            }
            _ => format!("rm -f {path}"),
        }
    }

    pub fn note(&self) -> Option<String> {
        (self.kind == "a directory" && !self.empty_dir)
            .then(|| "it is not empty: look inside, then delete it".to_string())
    }

    /// The refusal of a command that needs the lock of `task`.
    pub fn refusal(&self, task: &str) -> StoreError {
        StoreError::Inconsistent(Box::new(Inconsistency {
            task: task.to_string(),
            rule: Self::RULE,
            what: self.what(),
            location: self.path.display().to_string(),
            repair: self.repair(),
            note: self.note(),
            more: 0,
        }))
    }
}

fn open_lock_file(path: &std::path::Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(StoreError::io("could not create", dir))?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StoreError::io("could not open", path))
}

impl TaskLock {
    /// Where the lock files of all tasks live, one `<slug>.lock` each.
    pub(crate) fn dir(store: &Store) -> PathBuf {
        store.agent_dir().join("locks")
    }

    pub(crate) fn path(store: &Store, slug: &str) -> PathBuf {
        Self::dir(store).join(format!("{slug}.lock"))
    }

    /// The holder record in a task's lock file (pid, host, since), whether or not it is held.
    pub(crate) fn holder(store: &Store, slug: &str) -> Option<(u32, String, String)> {
        let text = read_lock_file(&Self::path(store, slug))?;
        parse_holder(&text).map(|h| (h.pid, h.host, h.since))
    }

    /// For the process holding the lock: the tip of the task's say chain just before it took
    /// the lock (`Some(None)`: there was no chain). A stop request in the chain after that
    /// is meant for this run; one before it is not (src/store/say.rs). `None` when the lock
    /// file is not this process's.
    pub fn said_when_taken(store: &Store, slug: &str) -> Option<Option<gix::ObjectId>> {
        let text = read_lock_file(&Self::path(store, slug))?;
        let holder = parse_holder(&text)?;
        (holder.pid == std::process::id() && holder.host == this_host()).then_some(holder.said)
    }

    /// Whether a live run holds the lock.
    pub fn is_held(store: &Store, slug: &str) -> bool {
        let path = Self::path(store, slug);
        if !path.is_file() || NotAFile::at(&path).is_some() {
            return false;
        }
        // Taking the lock for a moment is the only sure test; dropping the file releases it.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .is_ok_and(|file| !try_flock(&file))
    }

    /// Remove the lock file of a task that no longer exists (no branch: dropped, or a start
    /// killed before it made one) when no live run holds it. Taken first, so no run can be
    /// holding it while it goes; a run that opens the name later makes a new file. Returns
    /// whether a file was removed.
    pub(crate) fn remove_of_gone_task(store: &Store, slug: &str) -> bool {
        let path = Self::path(store, slug);
        if NotAFile::at(&path).is_some() {
            return false;
        }
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        else {
            return false;
        };
        if !try_flock(&file)
            || store
                .ref_target(&refs::branch(slug))
                .ok()
                .flatten()
                .is_some()
        {
            return false;
        }
        std::fs::remove_file(&path).is_ok()
    }

    /// Whether a run ended without releasing the lock properly: it died (kill -9, power loss)
    /// before it could record why it stopped. Its holder record is still in the file.
    pub fn is_stale(store: &Store, slug: &str) -> bool {
        let path = Self::path(store, slug);
        let left_over = read_lock_file(&path).is_some_and(|t| !t.trim().is_empty());
        left_over && !Self::is_held(store, slug)
    }

    /// The state of every task lock there is, by slug: one read of the lock directory and a
    /// test of each file, for listing many tasks. A task with no lock file is in none.
    pub(crate) fn states(store: &Store) -> HashMap<String, LockState> {
        let mut out = HashMap::new();
        let Ok(entries) = std::fs::read_dir(store.agent_dir().join("locks")) else {
            return out;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(slug) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
                continue;
            };
            if NotAFile::at(&entry.path()).is_some() {
                continue;
            }
            let Ok(mut file) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())
            else {
                continue;
            };
            let held = !try_flock(&file);
            // Same tests as `is_held` and `is_stale`, on one open file.
            let mut text = String::new();
            let stale = !held && {
                use std::io::Read;
                file.read_to_string(&mut text).is_ok() && !text.trim().is_empty()
            };
            drop(file);
            out.insert(slug.to_string(), LockState { held, stale });
        }
        out
    }

    /// Take the lock, or fail with who holds it.
    pub fn acquire(store: &Store, slug: &str) -> Result<TaskLock> {
        let path = Self::path(store, slug);
        // Read before the lock is taken: `git agent stop` writes its request after it saw the
        // lock held, so a request is either in this tip or meant for this holder.
        let said = store.ref_target(&refs::say(slug))?;
        if let Some(problem) = NotAFile::at(&path) {
            return Err(problem.refusal(slug));
        }
        let mut file = open_lock_file(&path)?;
        if !try_flock(&file) {
            let holder = read_lock_file(&path).and_then(|t| parse_holder(&t));
            return Err(StoreError::Locked {
                slug: slug.to_string(),
                pid: holder.as_ref().map_or(0, |h| h.pid),
                host: holder.as_ref().map_or_else(this_host, |h| h.host.clone()),
                since: holder.map_or_else(|| "just now".to_string(), |h| h.since),
            });
        }
        // A holder record left in the file means the previous run died holding the lock.
        let mut previous = String::new();
        use std::io::{Read, Seek};
        let _ = file.read_to_string(&mut previous);
        let took_over = !previous.trim().is_empty();
        let mut content = format!(
            "pid={}\nhost={}\nsince={}\n",
            std::process::id(),
            this_host(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        if let Some(said) = said {
            content.push_str(&format!("{SAID}={said}\n"));
        }
        file.set_len(0)
            .map_err(StoreError::io("could not write", &path))?;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(StoreError::io("could not write", &path))?;
        file.write_all(content.as_bytes())
            .map_err(StoreError::io("could not write", &path))?;
        clear_stale_ref_locks(store, slug, took_over);
        Ok(TaskLock { file })
    }
}

/// Lock files of the task's own refs and private index, left by a run that was killed in the
/// middle of a write. Only git-agent writes these refs and it holds the task lock now, so a
/// lock file is stale when we took over a dead run's lock, or when it is older than a
/// transaction ever takes.
fn clear_stale_ref_locks(store: &Store, slug: &str, took_over: bool) {
    let common = store.common_dir();
    let mut candidates = vec![
        common.join(format!("{}.lock", refs::branch(slug))),
        common.join(format!("{}.lock", refs::notes(slug))),
    ];
    if let Ok(entries) = std::fs::read_dir(common.join(refs::attic_prefix(slug))) {
        candidates.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lock")),
        );
    }
    // The private worktree's index: its gitdir is named in the worktree's `.git` file.
    let dot_git = store.worktree_path(slug).join(".git");
    if let Ok(text) = std::fs::read_to_string(dot_git)
        && let Some(gitdir) = text.trim().strip_prefix("gitdir: ")
    {
        candidates.push(PathBuf::from(gitdir).join("index.lock"));
    }
    for lock in candidates {
        if lock.exists() && (took_over || older_than_any_transaction(&lock)) {
            tracing::warn!(lock = %lock.display(), "removing a lock file left by a killed run");
            let _ = std::fs::remove_file(&lock);
        }
    }
}

/// Whether a lock file was left long enough ago that no transaction still writing holds it.
fn older_than_any_transaction(lock: &std::path::Path) -> bool {
    std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(10))
}

impl Store {
    /// Lock files of task refs (branch, notes, attic, say) whose writer is gone: the task's
    /// lock is free and the file is older than any transaction takes. By task, for `fsck`.
    pub(crate) fn stale_ref_locks(&self) -> Vec<(String, PathBuf)> {
        let common = self.common_dir();
        let mut found = Vec::new();
        let mut scan = |dir: PathBuf, slug_of: &dyn Fn(&str) -> Option<String>| {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".lock")
                    && let Some(slug) = slug_of(stem)
                {
                    found.push((slug, entry.path()));
                }
            }
        };
        scan(common.join(refs::BRANCH_PREFIX), &|stem| {
            Some(stem.to_string())
        });
        scan(common.join(refs::NOTES_PREFIX), &|stem| {
            Some(stem.to_string())
        });
        let tasks: Vec<String> = std::fs::read_dir(common.join(refs::TASK_PREFIX))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for slug in tasks {
            let owner = slug.clone();
            scan(common.join(refs::attic_prefix(&slug)), &|_| {
                Some(owner.clone())
            });
            let owner = slug.clone();
            scan(common.join(refs::TASK_PREFIX).join(&slug), &|stem| {
                (stem == "say").then(|| owner.clone())
            });
        }
        found.retain(|(slug, lock)| {
            older_than_any_transaction(lock) && !TaskLock::is_held(self, slug)
        });
        found.sort();
        found
    }
}

impl Drop for TaskLock {
    fn drop(&mut self) {
        // Empty means released cleanly; the file stays, since removing it would let two runs
        // lock two different files of the same name. Closing the file releases the flock.
        let _ = self.file.set_len(0);
    }
}

/// A repository-wide `flock` (`$GIT_COMMON_DIR/agent/<name>.lock`) whose file says what its
/// holder is in the middle of: written before the work starts, emptied when it is done. A
/// holder killed in the middle leaves its record, and the next holder — the lock proves the
/// dead one gone — finishes or undoes that work first (the `git` children of `push` and
/// `merge`, whose lock files git-agent cannot otherwise tell from a live process's).
pub(crate) struct MarkedLock {
    file: std::fs::File,
    path: PathBuf,
}

impl MarkedLock {
    /// Take the lock, waiting for a live holder to be done.
    pub(crate) fn take(store: &Store, name: &str) -> Result<MarkedLock> {
        use std::os::fd::AsRawFd;
        let path = store.agent_dir().join(format!("{name}.lock"));
        let file = open_lock_file(&path)?;
        // SAFETY: flock on a file descriptor we own; it blocks until the holder is done or dead.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(StoreError::io("could not lock", &path)(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(MarkedLock { file, path })
    }

    /// The record a holder that died left in the lock `name`, without waiting: `None` when
    /// the last holder finished, or a live one holds it now (what it is in the middle of is
    /// not a finding). For `fsck`, which reports what the next holder will finish.
    pub(crate) fn left_by_dead(store: &Store, name: &str) -> Option<(PathBuf, String)> {
        let path = store.agent_dir().join(format!("{name}.lock"));
        if NotAFile::at(&path).is_some() {
            return None;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .ok()?;
        if !try_flock(&file) {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        drop(file);
        (!text.trim().is_empty()).then_some((path, text))
    }

    /// What a holder that died was in the middle of, and when it began (`None`: the last
    /// holder finished).
    pub(crate) fn left_over(&self) -> Option<(String, std::time::SystemTime)> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let since = self.file.metadata().and_then(|m| m.modified()).ok()?;
        (!text.trim().is_empty()).then_some((text, since))
    }

    /// Say what this holder is about to do, before it starts.
    pub(crate) fn mark(&mut self, record: &str) -> Result<()> {
        use std::io::Seek;
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(std::io::SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| self.file.write_all(record.as_bytes()))
            .and_then(|()| self.file.sync_data())
            .map_err(StoreError::io("could not write", &self.path))
    }

    /// Nothing is in the middle any more.
    pub(crate) fn clear(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// Remove the lock files under `dir` (recursively) made at or after `since`: the ones a git
/// killed with the holder of a [`MarkedLock`] left behind. An older one is not its.
pub(crate) fn clear_locks_since(dir: &std::path::Path, since: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            clear_locks_since(&path, since);
        } else if path.extension().is_some_and(|x| x == "lock") {
            clear_lock_since(&path, since);
        }
    }
}

/// Remove the lock file `lock` if it was made at or after `since` (see [`clear_locks_since`]).
pub(crate) fn clear_lock_since(lock: &std::path::Path, since: std::time::SystemTime) {
    let made = std::fs::metadata(lock).and_then(|m| m.modified());
    if made.is_ok_and(|made| made >= since) {
        tracing::warn!(lock = %lock.display(), "removing a lock file left by a git killed with git-agent");
        let _ = std::fs::remove_file(lock);
    }
}

impl Store {
    /// Run `f` while holding a short repository-wide lock (`$GIT_DIR/agent/<name>.lock`).
    /// Setting up worktrees and writing the repository's config are not safe to do from two
    /// processes at once (git's own config lock fails instead of waiting), so concurrent runs
    /// take turns here. It is an `flock`: a run killed while holding it releases it.
    pub fn with_repo_lock<T>(&self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        use std::os::fd::AsRawFd;
        let path = self.agent_dir().join(format!("{name}.lock"));
        let file = open_lock_file(&path)?;
        // SAFETY: flock on a file descriptor we own; it blocks until the holder is done or dead.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(StoreError::io("could not lock", &path)(
                std::io::Error::last_os_error(),
            ));
        }
        let result = f();
        drop(file);
        result
    }
}
