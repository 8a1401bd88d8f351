//! A watch over a task's worktree, so that a checkpoint in a run looks at what changed
//! instead of stat-ing every file.
//!
//! The run arms an inotify watch on every directory the snapshot would enter (the same
//! ignore rules) before its first checkpoint, and each later checkpoint asks it which paths
//! were touched since the last one. Events are queued by the kernel inside the system call
//! that changed the file, so once a command has exited (nothing outlives one: the sandbox's
//! PID namespace) or a file tool has returned, its changes are in the queue; draining the
//! queue at the checkpoint loses none of them.
//!
//! Whenever the watch cannot vouch for its answer — the kernel queue overflowed, a watch could
//! not be added, a directory was moved, an ignore file changed, too many paths piled up — it
//! answers [`Changes::Unknown`] and the checkpoint walks the whole worktree as before. What
//! inotify cannot see at all: writes through a shared memory mapping, and a file changed
//! through a hard link elsewhere in the worktree (the event names the link that was used).
//! The first checkpoint of every run walks everything, so such a change is recorded by the
//! next run at the latest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use gix::bstr::{BString, ByteSlice, ByteVec};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

/// Past this many touched paths a walk is as cheap as looking at each: give up the list.
const MAX_PATHS: usize = 20_000;

/// The names whose change alters which files the snapshot sees: the watch cannot follow
/// that (a directory it skipped may have become visible), so it asks for a walk.
const RULE_FILES: [&str; 2] = [".gitignore", ".gitattributes"];

/// What changed in the worktree since the watch was armed or last settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Only these paths (relative, `/`-separated; a directory stands for all beneath it).
    Paths(BTreeSet<BString>),
    /// Anything may have changed; walk. Says why, for the trace.
    Unknown(String),
}

/// An armed inotify watch over a worktree.
pub struct Watch {
    fd: OwnedFd,
    root: PathBuf,
    /// Watch descriptor → the directory it watches, relative to the root (`""` is the root).
    dirs: HashMap<i32, BString>,
    /// Each path touched, with the number of the last event that touched it.
    touched: BTreeMap<BString, u64>,
    /// The number of the last event recorded.
    seq: u64,
    lost: Option<String>,
    /// The manifests of the generated-output list: a build directory beside one is skipped
    /// by the walk, so one coming or going changes what the walk sees, as an ignore file does.
    manifests: Vec<BString>,
}

fn mask() -> WatchFlags {
    WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MODIFY
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::ATTRIB
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::ONLYDIR
        | WatchFlags::DONT_FOLLOW
        | WatchFlags::EXCL_UNLINK
}

impl Watch {
    /// Watch every directory of `root` that a snapshot would enter (`.git`, nested
    /// repositories and ignored directories are left out). `Err` says why no watch can be had.
    pub fn arm(root: &Path, excludes: crate::walk::Excludes) -> Result<Watch, String> {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)
            .map_err(|err| format!("inotify is not available: {err}"))?;
        let mut watch = Watch {
            fd,
            root: root.to_path_buf(),
            dirs: HashMap::new(),
            touched: BTreeMap::new(),
            seq: 0,
            lost: None,
            manifests: excludes
                .generated
                .manifests()
                .map(|m| BString::from(m.as_bytes()))
                .collect(),
        };
        // Watch the top first: a directory made while the walk below runs is seen as an event.
        watch.add(BString::default())?;
        // The walk does not enter a nested repository; its directory is watched all the same,
        // so that its `.git` going (it becomes a plain directory the walk enters) is seen.
        let nested: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>> = Default::default();
        let found = nested.clone();
        let top = root.to_path_buf();
        let keep: crate::walk::Keep = Box::new(move |rel: &Path, is_dir: bool| {
            if is_dir
                && top.join(rel).join(".git").exists()
                && let Ok(mut found) = found.lock()
            {
                found.push(rel.to_path_buf());
            }
            true
        });
        let (builder, problem, _) =
            crate::walk::builder_with_excludes(root, root, &excludes, Some(keep));
        for entry in builder.build() {
            let entry = entry.map_err(|err| format!("could not list {}: {err}", root.display()))?;
            if entry.depth() == 0 || !entry.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            let rel = gix::path::into_bstr(rel)
                .map_err(|_| format!("{} is not a valid path", rel.display()))?
                .into_owned();
            watch.add(rel)?;
        }
        if let Some(why) = crate::walk::take(&problem) {
            return Err(why);
        }
        let nested = std::mem::take(&mut *nested.lock().map_err(|_| "a walk panicked")?);
        for rel in nested {
            let rel = gix::path::into_bstr(rel.as_path())
                .map_err(|_| format!("{} is not a valid path", rel.display()))?
                .into_owned();
            watch.add(rel)?;
        }
        Ok(watch)
    }

    /// Also watch `dirs` (relative to the root) where they exist: the directories of tracked
    /// files that the ignore rules hide from the walk. git stages a change of a tracked file
    /// wherever it is, so the watch must see it.
    pub fn add_existing(&mut self, dirs: impl IntoIterator<Item = BString>) -> Result<(), String> {
        for rel in dirs {
            let is_dir = std::fs::symlink_metadata(self.root.join(rel.to_path_lossy()))
                .is_ok_and(|m| m.is_dir());
            // A missing one is made in a watched parent (its parents are in `dirs` too).
            if is_dir && !rel.is_empty() {
                self.add(rel)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, rel: BString) -> Result<(), String> {
        let path = self.root.join(rel.to_path_lossy());
        match inotify::add_watch(&self.fd, &path, mask()) {
            Ok(wd) => {
                self.dirs.insert(wd, rel);
                Ok(())
            }
            Err(Errno::NOSPC) => {
                Err("the inotify watch limit is reached (fs.inotify.max_user_watches)".to_string())
            }
            Err(err) => Err(format!("could not watch {}: {err}", path.display())),
        }
    }

    /// What changed since the watch was armed or last settled. The answer stays until
    /// [`Watch::settle`] takes it away: a checkpoint that was refused asks again.
    pub fn changes(&mut self) -> Changes {
        self.drain();
        match &self.lost {
            Some(why) => Changes::Unknown(why.clone()),
            None => Changes::Paths(self.touched.keys().cloned().collect()),
        }
    }

    /// What changed after event number `seq` (0: since the watch was armed), and the number
    /// of the last event now: the mark a later question starts from.
    pub fn since(&mut self, seq: u64) -> (Changes, u64) {
        self.drain();
        let changes = match &self.lost {
            Some(why) => Changes::Unknown(why.clone()),
            None if seq > self.seq => Changes::Unknown("a mark this watch never gave".into()),
            None => Changes::Paths(
                self.touched
                    .iter()
                    .filter(|(_, last)| **last > seq)
                    .map(|(path, _)| path.clone())
                    .collect(),
            ),
        };
        (changes, self.seq)
    }

    /// The inotify descriptor, for a caller that waits for events to drain them in time.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Read the events queued so far (the kernel's queue is bounded; a long-lived watch
    /// drains it as events come).
    pub fn pump(&mut self) {
        self.drain();
    }

    /// Forget `taken`, the answer a checkpoint has recorded. Paths touched since that answer
    /// are kept for the next one.
    pub fn settle(&mut self, taken: &Changes) {
        if let Changes::Paths(paths) = taken {
            for path in paths {
                self.touched.remove(path);
            }
        }
    }

    /// Whether the watch still vouches for its answers; once it does not, re-arm it.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    fn lose(&mut self, why: impl Into<String>) {
        if self.lost.is_none() {
            self.lost = Some(why.into());
        }
        self.touched.clear();
    }

    /// Read every queued event.
    fn drain(&mut self) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut events = Vec::new();
        {
            let mut reader = inotify::Reader::new(&self.fd, &mut buf);
            loop {
                match reader.next() {
                    Ok(event) => events.push((
                        event.wd(),
                        event.events(),
                        event
                            .file_name()
                            .map(|name| BString::from(name.to_bytes().to_vec())),
                    )),
                    Err(Errno::AGAIN) => break,
                    Err(Errno::INTR) => continue,
                    Err(err) => {
                        self.lose(format!("could not read the watch: {err}"));
                        return;
                    }
                }
            }
        }
        for (wd, flags, name) in events {
            self.record(wd, flags, name);
        }
        if self.touched.len() > MAX_PATHS {
            self.lose(format!("more than {MAX_PATHS} paths changed"));
        }
    }

    fn record(&mut self, wd: i32, flags: ReadFlags, name: Option<BString>) {
        if self.lost.is_some() {
            return;
        }
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            return self.lose("the kernel's event queue overflowed");
        }
        let Some(dir) = self.dirs.get(&wd).cloned() else {
            return; // a directory already forgotten
        };
        if flags.contains(ReadFlags::IGNORED) {
            self.dirs.remove(&wd);
            return;
        }
        if flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
            if dir.is_empty() {
                return self.lose("the worktree itself was moved or deleted");
            }
            // Its parent reports the same change by name.
            return;
        }
        if flags.contains(ReadFlags::UNMOUNT) {
            return self.lose("a watched file system was unmounted");
        }
        let Some(name) = name else { return };
        if name == ".git" {
            if dir.is_empty() {
                return; // the worktree's own
            }
            // A nested repository appeared or went: the walk now skips or enters a
            // directory whose files the watch never listed.
            return self.lose(format!("{dir}/.git changed"));
        }
        let mut path = dir.clone();
        if !path.is_empty() {
            path.push_byte(b'/');
        }
        path.push_str(&name);
        let is_dir = flags.contains(ReadFlags::ISDIR);
        if is_dir && flags.intersects(ReadFlags::MOVED_FROM | ReadFlags::MOVED_TO) {
            return self.lose(format!("the directory {path} was moved"));
        }
        if RULE_FILES.iter().any(|rule| name == rule.as_bytes()) || self.manifests.contains(&name) {
            return self.lose(format!("{path} changed"));
        }
        if is_dir && flags.contains(ReadFlags::CREATE) {
            // A new directory: watch it and what is already inside it; the snapshot walks it
            // whole, so files made before these watches are not missed.
            if let Err(why) = self.add_tree(&path) {
                return self.lose(why);
            }
        }
        self.seq += 1;
        self.touched.insert(path, self.seq);
    }

    /// Watch `rel` and every directory beneath it (new ones are not yet filtered by the
    /// ignore rules; an ignored directory costs a watch and some events, never an answer).
    fn add_tree(&mut self, rel: &BString) -> Result<(), String> {
        let mut pending = vec![rel.clone()];
        while let Some(dir) = pending.pop() {
            self.add(dir.clone())?;
            let Ok(read) = std::fs::read_dir(self.root.join(dir.to_path_lossy())) else {
                continue; // already gone: its parent's event says so
            };
            for entry in read.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name();
                if !is_dir || name == ".git" {
                    continue;
                }
                let Ok(name) = gix::path::os_str_into_bstr(&name) else {
                    continue; // not a name git can hold
                };
                let mut child = dir.clone();
                child.push_byte(b'/');
                child.push_str(name);
                pending.push(child);
            }
        }
        Ok(())
    }
}

impl crate::store::Store {
    /// Arm a [`Watch`] over a task's worktree, with the ignore rules its snapshots use.
    pub fn watch(&self, worktree: &Path) -> Result<Watch, String> {
        let repo = self
            .open_worktree(worktree)
            .map_err(|err| err.to_string())?;
        arm_for(&repo, worktree, &self.generated())
    }
}

/// Arm a [`Watch`] over the worktree of `repo`, with the ignore rules its snapshots use,
/// over the directories of its tracked files too (ignored or not).
pub(crate) fn arm_for(
    repo: &gix::Repository,
    worktree: &Path,
    generated: &crate::walk::generated::Generated,
) -> Result<Watch, String> {
    let mut watch = Watch::arm(worktree, super::paths::excludes(repo, worktree, generated))?;
    if repo.index_path().exists() {
        let index =
            super::index::read(repo).map_err(|err| format!("could not read the index: {err}"))?;
        let dirs =
            super::paths::parent_dirs(index.entries().iter().map(|entry| entry.path(&index)));
        watch.add_existing(dirs)?;
    }
    Ok(watch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(paths: &[&str]) -> BTreeSet<BString> {
        paths.iter().map(|p| BString::from(*p)).collect()
    }

    #[test]
    fn a_watch_names_what_was_written_made_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::write(root.join("src/deep/a.rs"), "a").unwrap();
        std::fs::write(root.join("gone.txt"), "x").unwrap();
        let mut watch = Watch::arm(root, Default::default()).unwrap();
        assert_eq!(watch.changes(), Changes::Paths(BTreeSet::new()));

        std::fs::write(root.join("src/deep/a.rs"), "b").unwrap();
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::create_dir_all(root.join("new/inner")).unwrap();
        std::fs::write(root.join("new/inner/n.txt"), "n").unwrap();
        let first = watch.changes();
        assert_eq!(
            first,
            Changes::Paths(scope(&["gone.txt", "new", "src/deep/a.rs"]))
        );
        watch.settle(&first);
        // The new directories are watched from now on.
        std::fs::write(root.join("new/inner/n.txt"), "m").unwrap();
        assert_eq!(watch.changes(), Changes::Paths(scope(&["new/inner/n.txt"])));
    }

    #[test]
    fn a_watch_that_cannot_vouch_asks_for_a_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        let mut watch = Watch::arm(root, Default::default()).unwrap();
        std::fs::rename(root.join("a"), root.join("b")).unwrap();
        assert!(matches!(watch.changes(), Changes::Unknown(_)));

        let mut watch = Watch::arm(root, Default::default()).unwrap();
        std::fs::write(root.join("b/.gitignore"), "*.log\n").unwrap();
        assert!(matches!(watch.changes(), Changes::Unknown(_)));
        assert!(watch.is_lost());
    }

    #[test]
    fn ignored_directories_are_not_watched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        let mut watch = Watch::arm(root, Default::default()).unwrap();
        std::fs::write(root.join("target/debug/out"), "x").unwrap();
        assert_eq!(watch.changes(), Changes::Paths(BTreeSet::new()));
    }
}
