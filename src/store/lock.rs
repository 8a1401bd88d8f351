//! The run lock of a task: a file under `$GIT_DIR/agent/locks/`, holding pid and host. It is
//! runtime state, not task state; a lock whose process is gone is taken over.

use std::io::Write;
use std::path::PathBuf;

use super::{Result, Store, StoreError};

/// Held while a run works on a task; released on drop.
#[derive(Debug)]
pub struct TaskLock {
    path: PathBuf,
}

struct Holder {
    pid: u32,
    host: String,
    since: String,
}

fn this_host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn read_holder(path: &std::path::Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut pid = None;
    let mut host = String::new();
    let mut since = String::new();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => pid = v.trim().parse().ok(),
            Some(("host", v)) => host = v.trim().to_string(),
            Some(("since", v)) => since = v.trim().to_string(),
            _ => {}
        }
    }
    Some(Holder {
        pid: pid?,
        host,
        since,
    })
}

fn process_alive(pid: u32) -> bool {
    // Signal 0 checks for existence without touching the process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl TaskLock {
    fn path(store: &Store, slug: &str) -> PathBuf {
        store.agent_dir().join("locks").join(format!("{slug}.lock"))
    }

    /// Whether a live process holds the lock.
    pub fn is_held(store: &Store, slug: &str) -> bool {
        match read_holder(&Self::path(store, slug)) {
            Some(holder) => holder.host != this_host() || process_alive(holder.pid),
            None => false,
        }
    }

    /// Whether a lock file was left by a run that is gone (it died before it could say why).
    pub fn is_stale(store: &Store, slug: &str) -> bool {
        match read_holder(&Self::path(store, slug)) {
            Some(holder) => holder.host == this_host() && !process_alive(holder.pid),
            None => Self::path(store, slug).exists(),
        }
    }

    /// Take the lock, or fail with who holds it. A lock of a dead process on this host is
    /// stale and taken over.
    pub fn acquire(store: &Store, slug: &str) -> Result<TaskLock> {
        let path = Self::path(store, slug);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(StoreError::io("could not create", dir))?;
        }
        let content = format!(
            "pid={}\nhost={}\nsince={}\n",
            std::process::id(),
            this_host(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        let mut took_over = false;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(content.as_bytes())
                        .map_err(StoreError::io("could not write", &path))?;
                    clear_stale_ref_locks(store, slug, took_over);
                    return Ok(TaskLock { path });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    match read_holder(&path) {
                        Some(h) if h.host != this_host() || process_alive(h.pid) => {
                            return Err(StoreError::Locked {
                                slug: slug.to_string(),
                                pid: h.pid,
                                host: h.host,
                                since: h.since,
                            });
                        }
                        // Stale (dead process) or unreadable (crash while writing it): take over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                            took_over = true;
                        }
                    }
                }
                Err(err) => return Err(StoreError::io("could not create", &path)(err)),
            }
        }
        Err(StoreError::Locked {
            slug: slug.to_string(),
            pid: 0,
            host: this_host(),
            since: "just now".into(),
        })
    }
}

/// Lock files of the task's own refs and private index, left by a run that was killed in the
/// middle of a write. Only git-agent writes these refs and it holds the task lock now, so a
/// lock file is stale when we took over a dead run's lock, or when it is older than a
/// transaction ever takes.
fn clear_stale_ref_locks(store: &Store, slug: &str, took_over: bool) {
    let common = store.common_dir();
    let mut candidates = vec![
        common.join(format!("refs/heads/agent/{slug}.lock")),
        common.join(format!("refs/notes/agent/{slug}.lock")),
    ];
    if let Ok(entries) = std::fs::read_dir(common.join(format!("refs/agent/{slug}/attic"))) {
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
        let old = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(10));
        if lock.exists() && (took_over || old) {
            tracing::warn!(lock = %lock.display(), "removing a lock file left by a killed run");
            let _ = std::fs::remove_file(&lock);
        }
    }
}

impl Drop for TaskLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
