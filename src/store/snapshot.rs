//! Snapshot a worktree the way `git add -A` stages it, at the cost of the changed files.
//!
//! The worktree's index remembers every tracked file's stat data. A file whose stat data
//! still matches is not read; only changed, new and deleted paths are hashed and written.
//! The new tree is the previous tree edited at those paths, so writing it costs the depth of
//! the changed paths, not the size of the tree.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stat};
use gix::objs::tree::EntryKind;

use super::{Result, StoreError, git_err};
use crate::beneath::{BeneathError, Kind, Root};
use crate::policy::{SecretAllowList, scan_object};

/// How a path changed relative to the previous snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    pub path: String,
    pub kind: ChangeKind,
}

/// The largest file a checkpoint takes; a larger one is refused with a message.
pub const MAX_BLOB_BYTES: u64 = 100 << 20;

/// A worktree captured as a tree, with the index that matches it.
pub struct Snapshot {
    pub tree: ObjectId,
    pub changes: Vec<PathChange>,
    /// Paths left out of the tree, each with why (`path:line: rule (excerpt)`, or a size):
    /// a secret never becomes a git object, not even an unreachable one.
    pub refused: Vec<String>,
    index: gix::index::File,
    index_dirty: bool,
}

impl Snapshot {
    /// Persist the index so the next snapshot (and `git status`) need not rehash anything.
    pub fn write_index(&mut self) -> Result<()> {
        if !self.index_dirty {
            return Ok(());
        }
        let path = self.index.path().to_path_buf();
        self.index
            .write(gix::index::write::Options::default())
            .map_err(|err| StoreError::Git {
                context: format!("could not write the index {}", path.display()),
                detail: err.to_string(),
            })?;
        self.index_dirty = false;
        Ok(())
    }
}

fn stat_options() -> gix::index::entry::stat::Options {
    gix::index::entry::stat::Options {
        trust_ctime: true,
        check_stat: true,
        use_nsec: true,
        use_stdev: false,
    }
}

/// A file found in the worktree.
struct Found {
    path: BString,
    meta: gix::index::fs::Metadata,
}

/// Capture the worktree of `repo` on top of `base_tree` (the tree of the branch tip).
/// Every blob about to be written is first checked by the secret scan (`guard`; `None` lets
/// everything through, for a user's explicit `--allow-secrets`); a refused path keeps its
/// state of `base_tree` and is listed in [`Snapshot::refused`].
pub fn snapshot_worktree(
    repo: &gix::Repository,
    base_tree: ObjectId,
    guard: Option<&SecretAllowList>,
) -> Result<Snapshot> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| StoreError::BareRepository {
            path: repo.git_dir().to_path_buf(),
        })?
        .to_path_buf();
    let index_path = repo.index_path();
    let mut index = if index_path.exists() {
        repo.open_index()
            .map_err(git_err("could not read the worktree's index"))?
    } else {
        let state = gix::index::State::from_tree(&base_tree, &repo.objects, Default::default())
            .map_err(|err| StoreError::Git {
                context: "could not build an index from the task's tree".into(),
                detail: err.to_string(),
            })?;
        gix::index::File::from_state(state, index_path)
    };
    let stamp = index.timestamp();
    let timestamp = (stamp.unix_seconds(), stamp.nanoseconds());

    let root = Root::open(&workdir).map_err(super::worktree::beneath_err(&workdir))?;
    let found = walk(&workdir)?;
    let mut seen = vec![false; index.entries().len()];
    let editor = repo
        .edit_tree(base_tree)
        .map_err(git_err("could not open the task's tree for editing"))?;
    let mut pass = Pass {
        repo,
        root: &root,
        guard,
        refused: Vec::new(),
        timestamp,
        editor,
        changes: Vec::new(),
        new_entries: Vec::new(),
        index_dirty: false,
    };
    // Tracked paths the walk did not reach: deleted, or ignored but still tracked (git keeps
    // tracking those, and so do we). Deletions go into the tree first: a file that became a
    // directory is removed before the directory's new files are added.
    let walked: HashSet<&BStr> = found.iter().map(|f| f.path.as_ref()).collect();
    let unseen: Vec<(usize, BString)> = index
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.stage_raw() == 0 && e.mode != Mode::COMMIT)
        .map(|(i, e)| (i, e.path(&index)))
        .filter(|(_, p)| !walked.contains(p))
        .map(|(i, p)| (i, p.to_owned()))
        .collect();
    let mut deleted = HashSet::new();
    let mut tracked_unwalked = Vec::new();
    for (i, path) in unseen {
        // Resolved beneath the worktree: a tracked file behind a directory that became a
        // link is gone from the worktree, as git sees it.
        let present = matches!(
            root.kind(&path.to_path_lossy()),
            Ok(Some(Kind::File { .. } | Kind::Symlink))
        );
        let meta =
            gix::index::fs::Metadata::from_path_no_follow(&workdir.join(path.to_path_lossy()));
        match meta {
            Ok(meta) if present && mode_of(&meta).is_some() => tracked_unwalked.push((path, meta)),
            _ => {
                pass.remove(path.as_ref())?;
                deleted.insert(i);
            }
        }
    }
    for Found { path, meta } in &found {
        pass.visit(path.as_ref(), meta, &mut index, &mut seen)?;
    }
    for (path, meta) in &tracked_unwalked {
        pass.visit(path.as_ref(), meta, &mut index, &mut seen)?;
    }
    let Pass {
        mut editor,
        mut changes,
        new_entries,
        mut index_dirty,
        refused,
        ..
    } = pass;
    if !deleted.is_empty() {
        index.remove_entries(|i, _, _| deleted.contains(&i));
        index_dirty = true;
    }
    if !new_entries.is_empty() {
        for (path, stat, id, mode) in &new_entries {
            index.dangerously_push_entry(*stat, *id, Flags::empty(), *mode, path.as_ref());
        }
        index.sort_entries();
        index_dirty = true;
    }
    if index_dirty {
        // The cached trees of the index no longer match its entries.
        index.remove_tree();
        index.remove_resolve_undo();
    }
    let tree = if changes.is_empty() {
        base_tree
    } else {
        editor
            .write()
            .map_err(git_err("could not write the snapshot tree"))?
            .detach()
    };
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Snapshot {
        tree,
        changes,
        refused,
        index,
        index_dirty,
    })
}

/// The state of one snapshot while paths are visited.
struct Pass<'r> {
    repo: &'r gix::Repository,
    root: &'r Root,
    guard: Option<&'r SecretAllowList>,
    refused: Vec<String>,
    /// When the index was written, as (seconds, nanoseconds): entries not older are racy.
    timestamp: (i64, u32),
    editor: gix::object::tree::Editor<'r>,
    changes: Vec<PathChange>,
    new_entries: Vec<(BString, Stat, ObjectId, Mode)>,
    index_dirty: bool,
}

impl Pass<'_> {
    /// Compare one worktree path with its index entry; hash it only when its stat data changed.
    fn visit(
        &mut self,
        path: &BStr,
        meta: &gix::index::fs::Metadata,
        index: &mut gix::index::File,
        seen: &mut [bool],
    ) -> Result<()> {
        let Some(mode) = mode_of(meta) else {
            return Ok(());
        };
        let stat = Stat::from_fs(meta).unwrap_or_default();
        let Ok(i) = index.entry_index_by_path(path) else {
            let Some(id) = self.store_blob(path, mode)? else {
                return Ok(());
            };
            self.upsert(path, mode, id, ChangeKind::Added)?;
            self.new_entries.push((path.to_owned(), stat, id, mode));
            return Ok(());
        };
        seen[i] = true;
        let entry = &index.entries()[i];
        if entry.mode == Mode::COMMIT {
            return Ok(()); // a submodule: recorded as a gitlink, never re-hashed
        }
        let unchanged = entry.mode == mode
            && entry.stat.matches(&stat, stat_options())
            && !is_racy(&entry.stat, self.timestamp);
        if unchanged {
            return Ok(());
        }
        // A refused path keeps its stale index entry, so the next snapshot looks at it again.
        let Some(id) = self.store_blob(path, mode)? else {
            return Ok(());
        };
        let entry = &mut index.entries_mut()[i];
        let changed = entry.id != id || entry.mode != mode;
        entry.stat = stat;
        entry.id = id;
        entry.mode = mode;
        self.index_dirty = true;
        if changed {
            self.upsert(path, mode, id, ChangeKind::Modified)?;
        }
        Ok(())
    }

    /// Read the blob of a worktree path (a file's bytes, or a link's target) beneath the
    /// root, scan it, and write it — or record why not and return `None`.
    fn store_blob(&mut self, path: &BStr, mode: Mode) -> Result<Option<ObjectId>> {
        let rel = path.to_path_lossy();
        let data = if mode == Mode::SYMLINK {
            let target = self
                .root
                .read_link(&rel)
                .map_err(super::worktree::beneath_err(self.root.path()))?;
            gix::path::into_bstr(target)
                .map_err(git_err(format!("could not read the link {path}")))?
                .into_owned()
                .into()
        } else {
            match self.root.read(&rel, MAX_BLOB_BYTES) {
                Ok(bytes) => bytes,
                Err(BeneathError::TooLarge { size, .. }) => {
                    self.refused.push(format!(
                        "{path}: {size} bytes, more than the {} MiB a checkpoint takes; delete it or add it to .gitignore",
                        MAX_BLOB_BYTES >> 20
                    ));
                    return Ok(None);
                }
                Err(err) => return Err(super::worktree::beneath_err(self.root.path())(err)),
            }
        };
        if let Some(allow) = self.guard {
            let findings = scan_object(&path.to_string(), &data, allow);
            if !findings.is_empty() {
                self.refused
                    .extend(findings.iter().map(ToString::to_string));
                return Ok(None);
            }
        }
        Ok(Some(
            self.repo
                .write_blob(&data)
                .map_err(git_err(format!("could not store {path}")))?
                .detach(),
        ))
    }

    fn upsert(&mut self, path: &BStr, mode: Mode, id: ObjectId, kind: ChangeKind) -> Result<()> {
        self.editor
            .upsert(path, kind_of(mode), id)
            .map_err(git_err(format!("could not add {path} to the tree")))?;
        self.changes.push(PathChange {
            path: path.to_string(),
            kind,
        });
        Ok(())
    }

    fn remove(&mut self, path: &BStr) -> Result<()> {
        self.editor
            .remove(path)
            .map_err(git_err(format!("could not remove {path} from the tree")))?;
        self.changes.push(PathChange {
            path: path.to_string(),
            kind: ChangeKind::Deleted,
        });
        Ok(())
    }
}

/// Files and symlinks of the worktree, honouring .gitignore, .git/info/exclude and
/// core.excludesFile; nested repositories are left alone like git does.
fn walk(workdir: &Path) -> Result<Vec<Found>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let (mut builder, problem) = crate::walk::builder(workdir, workdir);
    if let Some(why) = crate::walk::take(&problem) {
        return Err(StoreError::Refused {
            findings: vec![why],
        });
    }
    let walker = builder.threads(threads).build_parallel();
    // Stat calls dominate on a large tree; the parallel walker spreads them over the cores.
    let found = std::sync::Mutex::new(Vec::new());
    let failure = std::sync::Mutex::new(None);
    walker.run(|| {
        Box::new(|entry| {
            let outcome = entry
                .map_err(|err| StoreError::Git {
                    context: format!("could not walk the worktree {}", workdir.display()),
                    detail: err.to_string(),
                })
                .and_then(|entry| found_of(workdir, &entry));
            match outcome {
                Ok(Some(item)) => {
                    if let Ok(mut found) = found.lock() {
                        found.push(item);
                    }
                    ignore::WalkState::Continue
                }
                Ok(None) => ignore::WalkState::Continue,
                Err(err) => {
                    if let Ok(mut failure) = failure.lock() {
                        *failure = Some(err);
                    }
                    ignore::WalkState::Quit
                }
            }
        })
    });
    if let Some(err) = failure.into_inner().ok().flatten() {
        return Err(err);
    }
    if let Some(why) = crate::walk::take(&problem) {
        return Err(StoreError::Refused {
            findings: vec![why],
        });
    }
    Ok(found.into_inner().unwrap_or_default())
}

fn found_of(workdir: &Path, entry: &ignore::DirEntry) -> Result<Option<Found>> {
    let Some(file_type) = entry.file_type() else {
        return Ok(None);
    };
    if file_type.is_dir() {
        return Ok(None);
    }
    let meta = gix::index::fs::Metadata::from_path_no_follow(entry.path())
        .map_err(StoreError::io("could not stat", entry.path()))?;
    let rel = entry.path().strip_prefix(workdir).unwrap_or(entry.path());
    let Ok(path) = gix::path::into_bstr(rel) else {
        return Ok(None);
    };
    Ok(Some(Found {
        path: path.into_owned(),
        meta,
    }))
}

/// An entry is racy when the file may have changed within the same timestamp tick as the
/// index was written; then its stat data proves nothing and its content is hashed.
fn is_racy(stat: &Stat, (secs, nsecs): (i64, u32)) -> bool {
    let mtime = (i64::from(stat.mtime.secs), stat.mtime.nsecs);
    mtime >= (secs, nsecs)
}

fn mode_of(meta: &gix::index::fs::Metadata) -> Option<Mode> {
    if meta.is_symlink() {
        Some(Mode::SYMLINK)
    } else if meta.is_file() {
        Some(if meta.is_executable() {
            Mode::FILE_EXECUTABLE
        } else {
            Mode::FILE
        })
    } else {
        None
    }
}

fn kind_of(mode: Mode) -> EntryKind {
    if mode == Mode::SYMLINK {
        EntryKind::Link
    } else if mode == Mode::FILE_EXECUTABLE {
        EntryKind::BlobExecutable
    } else {
        EntryKind::Blob
    }
}
