//! The store behind the server: one thread owns it (a [`Store`] is not `Send`), and handlers
//! send it closures. Also what tells the pages that something changed (a fingerprint of the
//! agent refs, the locks and the run logs) and, in remote mode, the periodic fetch.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::store::{Store, StoreError};

type Job = Box<dyn FnOnce(&Store) + Send>;

/// A handle on the store thread; cheap to clone.
#[derive(Clone)]
pub struct Reader {
    jobs: mpsc::Sender<Job>,
}

impl Reader {
    /// Open the repository containing `dir` on a thread of its own.
    pub fn start(dir: PathBuf) -> anyhow::Result<Reader> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::channel::<Result<(), StoreError>>();
        std::thread::Builder::new()
            .name("serve-store".into())
            .spawn(move || {
                let store = match Store::discover(&dir) {
                    Ok(store) => store,
                    Err(err) => {
                        let _ = ready.send(Err(err));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                for job in queue {
                    // A bug in one page must not take every later page down with it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&store)));
                }
            })?;
        opened.recv()??;
        Ok(Reader { jobs })
    }

    /// Run `f` on the store; `None` when the store thread is gone.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .ok()?;
        rx.await.ok()
    }
}

/// The refs a page depends on: the repository's own agent refs, or a remote's tracking refs.
fn prefixes(remote: Option<&str>) -> Vec<String> {
    match remote {
        None => vec![
            crate::store::BRANCH_PREFIX.into(),
            crate::store::NOTES_PREFIX.into(),
            crate::store::TASK_PREFIX.into(),
        ],
        Some(remote) => vec![
            crate::store::tracking_branch_prefix(remote),
            crate::store::tracking_notes_prefix(remote),
            crate::store::tracking_agent_prefix(remote),
        ],
    }
}

/// A hash of everything the pages show that can change: equal fingerprints, equal pages
/// (up to the ages shown).
pub fn fingerprint(store: &Store, remote: Option<&str>) -> u64 {
    let mut h = DefaultHasher::new();
    for prefix in prefixes(remote) {
        if let Ok(refs) = store.refs_with_prefix(&prefix) {
            refs.hash(&mut h);
        }
    }
    for dir in ["locks", "runs"] {
        hash_dir(&store.agent_dir().join(dir), &mut h);
    }
    h.finish()
}

/// Names, sizes and times of the files of `dir`: a lock taken or a log line written.
fn hash_dir(dir: &Path, h: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut seen: Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> = entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.file_name(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    seen.sort();
    seen.hash(h);
}

/// Fetch a remote's agent refs into its tracking refs (`git agent pull`'s fetch, which writes
/// no branch of the user's) every `every`, on a thread and a store of its own, so a slow
/// remote never holds up a page.
pub fn fetch_periodically(dir: PathBuf, remote: String, every: Duration) -> anyhow::Result<()> {
    let store = Store::discover(&dir)?;
    store.fetch_agent_refs(&remote)?;
    std::thread::Builder::new()
        .name("serve-fetch".into())
        .spawn(move || {
            let Ok(store) = Store::discover(&dir) else {
                return;
            };
            loop {
                // Time is what this waits for: the next fetch of a remote that says nothing
                // when it changes.
                std::thread::sleep(every);
                if let Err(err) = store.fetch_agent_refs(&remote) {
                    eprintln!(
                        "{}",
                        crate::text::terminal::line(&format!(
                            "git agent serve: fetching {remote} failed: {err}"
                        ))
                    );
                }
            }
        })?;
    Ok(())
}
