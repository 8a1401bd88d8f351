//! Snapshot a worktree the way `git add -A` stages it, at the cost of the changed files.
//!
//! The worktree's index remembers every tracked file's stat data. A file whose stat data
//! still matches is not read; only changed, new and deleted paths are hashed and written.
//! The new tree is the previous tree edited at those paths, so writing it costs the depth of
//! the changed paths, not the size of the tree.
//!
//! A file's content goes through git's conversion pipeline first ([`super::filters`]:
//! attributes, `core.autocrlf`, clean filters such as git-lfs), and the secret scan reads
//! the bytes that will be stored, before they become an object. Large content is streamed:
//! read once, scanned in bounded chunks as it passes, and written as a loose object whose
//! temp file is discarded when the scan finds a secret, so memory stays bounded whatever
//! the size of the file.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stat};
use gix::objs::tree::EntryKind;

use super::filters::{Cleaned, Direction, FilterError, Filters};
use super::gitlinks;
use super::paths::{excludes, parent_dirs};
use crate::beneath::{Kind, Root};
use crate::policy::{SecretAllowList, SecretFinding, StreamScan, scan_object};
use crate::store::{Result, StoreError, git_err};
use crate::walk::generated::Generated;

pub use super::filters::MAX_BLOB_BYTES;

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

/// Content up to this size is read into memory and hashed before it is written (an object
/// that exists already is not written again); larger content is streamed.
const IN_MEMORY_BYTES: u64 = 8 << 20;

/// A worktree captured as a tree, with the index that matches it.
pub struct Snapshot {
    pub tree: ObjectId,
    pub changes: Vec<PathChange>,
    /// Paths left out of the tree, each with why (`path:line: rule (excerpt)`, or a size):
    /// a secret never becomes a git object, not even an unreachable one.
    pub refused: Vec<String>,
    /// Paths the walk could not reach, each with why: a directory chain deeper than the
    /// system's path limit. They are left out, as ignored files are; the checkpoint goes on.
    pub left_out: Vec<String>,
    /// What a person should know about the snapshot although it is recorded, as git warns:
    /// a repository inside the worktree recorded as a gitlink, or left out.
    pub warnings: Vec<String>,
    index: gix::index::File,
    index_dirty: bool,
    /// The tree the index holds once written: the snapshot's, unless a path was refused
    /// (its index entry is left stale, so the next snapshot looks at it again).
    holds: Option<ObjectId>,
}

impl Snapshot {
    /// The submodules of the snapshot: their paths and the commits recorded.
    pub(crate) fn gitlinks(&self) -> Vec<(String, ObjectId)> {
        self.index
            .entries()
            .iter()
            .filter(|e| e.mode == Mode::COMMIT)
            .map(|e| (e.path(&self.index).to_string(), e.id))
            .collect()
    }

    /// Persist the index so the next snapshot (and `git status`) need not rehash anything.
    pub fn write_index(&mut self) -> Result<()> {
        if !self.index_dirty {
            return Ok(());
        }
        super::index::write(&self.index, self.index.path(), self.holds)?;
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

/// A path whose content must be hashed: new, or its stat data changed.
struct Work {
    path: BString,
    mode: Mode,
    stat: Stat,
    /// Its index entry, if it is tracked.
    entry: Option<usize>,
}

/// Capture the worktree of `repo` on top of `base_tree` (the tree of the branch tip).
/// Every blob about to be written is first checked by the secret scan (`guard`; `None` lets
/// everything through, for a user's explicit `--allow-secrets`); a refused path keeps its
/// state of `base_tree` and is listed in [`Snapshot::refused`].
pub fn snapshot_worktree(
    repo: &gix::Repository,
    base_tree: ObjectId,
    guard: Option<&SecretAllowList>,
    generated: &Generated,
) -> Result<Snapshot> {
    snapshot_scoped(repo, base_tree, guard, None, generated)
}

/// Like [`snapshot_worktree`], looking only at the paths of `scope` (a directory stands for
/// everything beneath it) when it is given: what a [`super::watch::Watch`] saw change. Every other
/// path keeps its state of `base_tree` and is never stat'ed; the ignore rules are those of
/// the whole walk, read from the directories on the way to the scope.
///
/// Untracked files that `generated` names are left out as ignored files are.
pub fn snapshot_scoped(
    repo: &gix::Repository,
    base_tree: ObjectId,
    guard: Option<&SecretAllowList>,
    scope: Option<&BTreeSet<BString>>,
    generated: &Generated,
) -> Result<Snapshot> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| StoreError::BareRepository {
            path: repo.git_dir().to_path_buf(),
        })?
        .to_path_buf();
    let index_path = repo.index_path();
    let (mut index, holds) = if index_path.exists() {
        let index =
            super::index::read(repo).map_err(git_err("could not read the worktree's index"))?;
        let holds = super::index::holds(&index);
        (index, holds)
    } else {
        let state = gix::index::State::from_tree(
            &base_tree,
            &repo.objects,
            super::paths::path_options(repo),
        )
        .map_err(|err| StoreError::Git {
            context: "could not build an index from the task's tree".into(),
            source: err.into(),
        })?;
        (
            gix::index::File::from_state(state, index_path),
            Some(base_tree),
        )
    };
    let stamp = index.timestamp();
    let timestamp = (stamp.unix_seconds(), stamp.nanoseconds());

    // The tree is the tip's edited where the worktree differs from the index, which is right
    // while the index holds the tip. When it holds something else (git typed in the
    // worktree: `git add`, `git rm --cached`, `git reset --soft`), the tree is first brought
    // to what the index holds, as `git add -A` starts from the index.
    let drift = if holds == Some(base_tree) {
        Vec::new()
    } else {
        super::index::drift(repo, &index, base_tree)?
    };
    // Where the index left the tip, the worktree is looked at too: a path `git rm --cached`
    // took out of the index is an untracked file that `git add -A` adds back.
    let widened: Option<BTreeSet<BString>> = scope.filter(|_| !drift.is_empty()).map(|scope| {
        let mut widened = scope.clone();
        widened.extend(drift.iter().map(|d| d.path.clone()));
        widened
    });
    let scope = widened.as_ref().or(scope);
    let root = Root::open(&workdir).map_err(super::paths::beneath_err(&workdir))?;
    let Walked {
        mut found,
        too_deep,
        nested,
    } = walk(repo, &workdir, scope, generated)?;
    let left_out = too_deep.iter().map(|p| too_deep_message(p)).collect();
    // Files inside a submodule's directory belong to the submodule, never to this tree (a
    // checked-out submodule is a nested repository the walk does not enter; these are in one
    // that is not checked out). git leaves them out silently; we say so.
    let mut outside_submodules = Vec::new();
    let gitlinks: Vec<BString> = index
        .entries()
        .iter()
        .filter(|e| e.mode == Mode::COMMIT)
        .map(|e| {
            let mut prefix = e.path(&index).to_owned();
            prefix.push(b'/');
            prefix
        })
        .collect();
    if !gitlinks.is_empty() {
        found.retain(|f| match gitlinks.iter().find(|g| f.path.starts_with(g)) {
            Some(gitlink) => {
                outside_submodules.push(format!(
                    "{}: inside the submodule {gitlink} which is not checked out in this worktree; \
                     a checkpoint cannot record it",
                    f.path
                ));
                false
            }
            None => true,
        });
    }
    let mut editor = repo
        .edit_tree(base_tree)
        .map_err(git_err("could not open the task's tree for editing"))?;
    for super::index::Drifted { path, in_index, .. } in &drift {
        if in_index.is_none() {
            editor
                .remove(path.as_bstr())
                .map_err(git_err(format!("could not remove {path} from the tree")))?;
        }
    }
    for super::index::Drifted { path, in_index, .. } in &drift {
        if let Some((mode, id)) = in_index {
            editor
                .upsert(path.as_bstr(), kind_of(*mode), *id)
                .map_err(git_err(format!("could not add {path} to the tree")))?;
        }
    }
    let mut changes = Vec::new();
    // Tracked paths the walk did not reach: deleted, or ignored but still tracked (git keeps
    // tracking those, and so do we). Deletions go into the tree first: a file that became a
    // directory is removed before the directory's new files are added.
    let walked: HashSet<&BStr> = found.iter().map(|f| f.path.as_ref()).collect();
    let unseen: Vec<(usize, BString)> = entries_in(&index, scope)
        .map(|i| (i, &index.entries()[i]))
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
        // A deleted file is stat'ed once (above); only a present one needs its metadata.
        let meta = present
            .then(|| {
                gix::index::fs::Metadata::from_path_no_follow(&workdir.join(path.to_path_lossy()))
                    .ok()
            })
            .flatten();
        match meta {
            Some(meta) if mode_of(&meta).is_some() => tracked_unwalked.push((path, meta)),
            _ => {
                remove(&mut editor, &mut changes, path.as_ref())?;
                deleted.insert(i);
            }
        }
    }
    // Every gitlink, whatever the scope: a submodule's HEAD moves in its own repository,
    // where no watch looks. A directory that is gone takes its gitlink with it; a file in
    // its place is hashed as any file; a repository there is recorded at its HEAD.
    let admin = repo.git_dir();
    let mut moved_gitlinks = Vec::new();
    for (i, entry) in index.entries().iter().enumerate() {
        if entry.mode != Mode::COMMIT || entry.stage_raw() != 0 {
            continue;
        }
        let path = entry.path(&index);
        let rel = path.to_path_lossy();
        match gitlinks::now(&root, admin, &rel, entry.id) {
            gitlinks::Now::Same => {}
            gitlinks::Now::Moved(id) => moved_gitlinks.push((i, id)),
            gitlinks::Now::Replaced => {
                if !walked.contains(path)
                    && let Ok(meta) =
                        gix::index::fs::Metadata::from_path_no_follow(&workdir.join(&rel))
                {
                    tracked_unwalked.push((path.to_owned(), meta));
                }
            }
            gitlinks::Now::Gone => {
                remove(&mut editor, &mut changes, path)?;
                deleted.insert(i);
            }
        }
    }
    let work: Vec<Work> = found
        .iter()
        .map(|f| (f.path.as_ref(), &f.meta))
        .chain(tracked_unwalked.iter().map(|(p, m)| (p.as_ref(), m)))
        .filter_map(|(path, meta)| needs_hashing(&index, timestamp, path, meta))
        .collect();

    let mut store = BlobStore {
        repo,
        root: &root,
        guard,
        refused: outside_submodules,
        filters: None,
    };
    let dirs = parent_dirs(
        work.iter()
            .filter(|w| w.mode != Mode::SYMLINK)
            .map(|w| w.path.as_ref()),
    );
    let mut new_entries: Vec<(BString, Stat, ObjectId, Mode)> = Vec::new();
    let mut index_dirty = false;
    let mut hashed = Vec::with_capacity(work.len());
    for w in &work {
        // A refused path keeps its stale index entry, so the next snapshot looks at it again.
        if let Some(id) = store.store_blob(w.path.as_ref(), w.mode, &index, &dirs)? {
            hashed.push((w, id));
        }
    }
    let BlobStore { refused, .. } = store;
    for (w, id) in hashed {
        match w.entry {
            None => {
                upsert(
                    &mut editor,
                    &mut changes,
                    w.path.as_ref(),
                    w.mode,
                    id,
                    ChangeKind::Added,
                )?;
                new_entries.push((w.path.clone(), w.stat, id, w.mode));
            }
            Some(i) => {
                let entry = &mut index.entries_mut()[i];
                let changed = entry.id != id || entry.mode != w.mode;
                entry.stat = w.stat;
                entry.id = id;
                entry.mode = w.mode;
                index_dirty = true;
                if changed {
                    upsert(
                        &mut editor,
                        &mut changes,
                        w.path.as_ref(),
                        w.mode,
                        id,
                        ChangeKind::Modified,
                    )?;
                }
            }
        }
    }
    for (i, id) in moved_gitlinks {
        let path = index.entries()[i].path(&index).to_owned();
        index.entries_mut()[i].id = id;
        index_dirty = true;
        upsert(
            &mut editor,
            &mut changes,
            path.as_ref(),
            Mode::COMMIT,
            id,
            ChangeKind::Modified,
        )?;
    }
    let mut warnings = Vec::new();
    for dir in &nested {
        let Some((path, id)) = gitlinks::added(&index, &root, admin, dir, &mut warnings) else {
            continue;
        };
        upsert(
            &mut editor,
            &mut changes,
            path.as_ref(),
            Mode::COMMIT,
            id,
            ChangeKind::Added,
        )?;
        new_entries.push((path, Stat::default(), id, Mode::COMMIT));
    }
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
    let tree = if changes.is_empty() && drift.is_empty() {
        base_tree
    } else {
        editor
            .write()
            .map_err(git_err("could not write the snapshot tree"))?
            .detach()
    };
    if !drift.is_empty() {
        changes = against_tip(changes, &drift, &index);
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let holds_now = refused.is_empty().then_some(tree);
    Ok(Snapshot {
        tree,
        changes,
        refused,
        left_out,
        warnings,
        index_dirty: index_dirty || holds_now != holds,
        index,
        holds: holds_now,
    })
}

/// The changes of a snapshot whose index did not hold the tip, told against the tip:
/// `changes` are against the index, which differed from the tip at the paths of `drift`.
fn against_tip(
    mut changes: Vec<PathChange>,
    drift: &[super::index::Drifted],
    index: &gix::index::File,
) -> Vec<PathChange> {
    let drifted: HashSet<String> = drift.iter().map(|d| d.path.to_string()).collect();
    changes.retain(|change| !drifted.contains(&change.path));
    for super::index::Drifted { path, in_tree, .. } in drift {
        let now = index
            .entry_by_path_and_stage(path.as_ref(), gix::index::entry::Stage::Unconflicted)
            .map(|e| (e.mode, e.id));
        let kind = match (in_tree, now) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Deleted,
            (Some(was), Some(now)) if *was != now => ChangeKind::Modified,
            _ => continue,
        };
        changes.push(PathChange {
            path: path.to_string(),
            kind,
        });
    }
    changes
}

/// The positions of the index entries within `scope` (all of them without one), in order.
fn entries_in<'i>(
    index: &'i gix::index::File,
    scope: Option<&'i BTreeSet<BString>>,
) -> Box<dyn Iterator<Item = usize> + 'i> {
    let Some(scope) = scope else {
        return Box::new(0..index.entries().len());
    };
    let mut positions = BTreeSet::new();
    for path in scope {
        if let Ok(i) = index.entry_index_by_path(path.as_ref()) {
            positions.insert(i);
        }
        let mut prefix = path.clone();
        prefix.push(b'/');
        if let Some(range) = index.prefixed_entries_range(prefix.as_ref()) {
            positions.extend(range);
        }
    }
    Box::new(positions.into_iter())
}

/// Compare one worktree path with its index entry: `Some` when its content must be hashed.
fn needs_hashing(
    index: &gix::index::File,
    timestamp: (i64, u32),
    path: &BStr,
    meta: &gix::index::fs::Metadata,
) -> Option<Work> {
    let mode = mode_of(meta)?;
    let stat = Stat::from_fs(meta).unwrap_or_default();
    let Ok(i) = index.entry_index_by_path(path) else {
        return Some(Work {
            path: path.to_owned(),
            mode,
            stat,
            entry: None,
        });
    };
    // A gitlink whose path is now a file counts as changed: its mode is not the file's.
    let entry = &index.entries()[i];
    let unchanged = entry.mode == mode
        && entry.stat.matches(&stat, stat_options())
        && !is_racy(&entry.stat, timestamp);
    (!unchanged).then(|| Work {
        path: path.to_owned(),
        mode,
        stat,
        entry: Some(i),
    })
}

/// Writes the blobs of one snapshot: converted, scanned, then stored.
struct BlobStore<'r> {
    repo: &'r gix::Repository,
    root: &'r Root,
    guard: Option<&'r SecretAllowList>,
    refused: Vec<String>,
    /// Built for the first file to hash (links and unchanged worktrees need none).
    filters: Option<Filters<'r>>,
}

impl<'r> BlobStore<'r> {
    /// Read the blob of a worktree path (a file's cleaned content, or a link's target)
    /// beneath the root, scan it, and write it — or record why not and return `None`.
    fn store_blob(
        &mut self,
        path: &BStr,
        mode: Mode,
        index: &'r gix::index::State,
        dirs: &BTreeSet<BString>,
    ) -> Result<Option<ObjectId>> {
        let rel = path.to_path_lossy();
        let failed = super::paths::beneath_err(self.root.path());
        if mode == Mode::SYMLINK {
            let target = self.root.read_link(&rel).map_err(&failed)?;
            let data: Vec<u8> = gix::path::into_bstr(target)
                .map_err(git_err(format!("could not read the link {path}")))?
                .into_owned()
                .into();
            return self.store_bytes(path, &data);
        }
        let filters = match &mut self.filters {
            Some(filters) => filters,
            empty => empty.insert(
                Filters::new(self.repo, self.root, index, dirs, Direction::ToGit)
                    .map_err(|err| filter_error(path, err))?,
            ),
        };
        let open = || self.root.open_regular(&rel);
        let cleaned = match filters.clean(path, &open) {
            Ok(cleaned) => cleaned,
            Err(FilterError::Refused(why)) => {
                self.refused.push(why);
                return Ok(None);
            }
            Err(err) => return Err(filter_error(path, err)),
        };
        let (mut reader, size): (Box<dyn Read>, u64) = match cleaned {
            Cleaned::Unchanged(file, size) => (Box::new(file), size),
            Cleaned::Converted(spool) => match spool.as_bytes() {
                Some(bytes) => return self.store_bytes(path, bytes),
                None => {
                    let len = spool.len();
                    (Box::new(SpoolReader(spool)), len)
                }
            },
        };
        if size > MAX_BLOB_BYTES {
            self.refused.push(format!(
                "{path}: {size} bytes, more than the {} MiB a checkpoint takes; delete it, add it to .gitignore, or track it with git-lfs",
                MAX_BLOB_BYTES >> 20
            ));
            return Ok(None);
        }
        if size <= IN_MEMORY_BYTES {
            let mut data = Vec::with_capacity(size as usize);
            (&mut reader)
                .take(IN_MEMORY_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(StoreError::io(
                    "could not read",
                    self.root.path().join(&rel),
                ))?;
            if data.len() as u64 > IN_MEMORY_BYTES {
                self.refused.push(changed_while_read(path));
                return Ok(None);
            }
            return self.store_bytes(path, &data);
        }
        self.store_stream(path, reader, size)
    }

    /// Scan `data` and write it as a blob.
    fn store_bytes(&mut self, path: &BStr, data: &[u8]) -> Result<Option<ObjectId>> {
        if let Some(allow) = self.guard {
            let findings = scan_object(&path.to_string(), data, allow);
            if !findings.is_empty() {
                self.refused
                    .extend(findings.iter().map(ToString::to_string));
                return Ok(None);
            }
        }
        Ok(Some(
            self.repo
                .write_blob(data)
                .map_err(git_err(format!("could not store {path}")))?
                .detach(),
        ))
    }

    /// Write `size` bytes of `reader` as a blob, scanning them on the way: a finding aborts
    /// the write, and the temp file of the object goes with it.
    fn store_stream(
        &mut self,
        path: &BStr,
        reader: Box<dyn Read + '_>,
        size: u64,
    ) -> Result<Option<ObjectId>> {
        let mut source = Exact {
            inner: reader,
            left: size,
            scan: self
                .guard
                .map(|allow| StreamScan::new(&path.to_string(), allow)),
            findings: Vec::new(),
            changed: false,
        };
        let written = gix::objs::Write::write_stream(
            &self.repo.objects,
            gix::objs::Kind::Blob,
            size,
            &mut source,
        );
        if !source.findings.is_empty() {
            self.refused
                .extend(source.findings.iter().map(ToString::to_string));
            return Ok(None);
        }
        if source.changed {
            self.refused.push(changed_while_read(path));
            return Ok(None);
        }
        Ok(Some(
            written.map_err(git_err(format!("could not store {path}")))?,
        ))
    }
}

/// Reads a spooled conversion result.
struct SpoolReader(super::filters::Spool);

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.reader().read(buf)
    }
}

/// Gives exactly `left` bytes of `inner` to the object writer, scanning them as they pass;
/// the end of the stream is reported only once the scan found nothing.
struct Exact<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
    scan: Option<StreamScan<'a>>,
    findings: Vec<SecretFinding>,
    changed: bool,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                self.changed = true;
                return Err(std::io::Error::other("the file grew while it was read"));
            }
            if let Some(scan) = self.scan.take() {
                self.findings = scan.finish();
            }
            if !self.findings.is_empty() {
                return Err(std::io::Error::other("the secret scan refused the content"));
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.changed = true;
            return Err(std::io::Error::other("the file shrank while it was read"));
        }
        self.left -= n as u64;
        if let Some(scan) = &mut self.scan {
            scan.feed(&buf[..n]);
        }
        Ok(n)
    }
}

fn changed_while_read(path: &BStr) -> String {
    format!("{path}: it changed while it was read; run the checkpoint again")
}

fn filter_error(path: &BStr, err: FilterError) -> StoreError {
    match err {
        FilterError::Required {
            path,
            driver,
            detail,
        } => StoreError::FilterFailed {
            path,
            driver,
            detail,
        },
        FilterError::Refused(why) => StoreError::Refused {
            findings: vec![why],
        },
        FilterError::Beneath(err) => StoreError::Git {
            context: format!("could not read {path}"),
            source: err.into(),
        },
        FilterError::Io(detail) => StoreError::Git {
            context: format!("could not convert {path}"),
            source: detail.into(),
        },
    }
}

fn upsert(
    editor: &mut gix::object::tree::Editor<'_>,
    changes: &mut Vec<PathChange>,
    path: &BStr,
    mode: Mode,
    id: ObjectId,
    kind: ChangeKind,
) -> Result<()> {
    editor
        .upsert(path, kind_of(mode), id)
        .map_err(git_err(format!("could not add {path} to the tree")))?;
    changes.push(PathChange {
        path: path.to_string(),
        kind,
    });
    Ok(())
}

fn remove(
    editor: &mut gix::object::tree::Editor<'_>,
    changes: &mut Vec<PathChange>,
    path: &BStr,
) -> Result<()> {
    editor
        .remove(path)
        .map_err(git_err(format!("could not remove {path} from the tree")))?;
    changes.push(PathChange {
        path: path.to_string(),
        kind: ChangeKind::Deleted,
    });
    Ok(())
}

/// What a walk of the worktree found.
struct Walked {
    found: Vec<Found>,
    /// Directories and files whose path is longer than the system takes (`ENAMETOOLONG`),
    /// relative to the worktree: a command can build a chain deeper than `PATH_MAX`, which
    /// no path-based call reaches. They are left out rather than failing the checkpoint.
    too_deep: Vec<PathBuf>,
    /// Repositories inside the worktree that are no submodule, which the walk passed by
    /// (`git add -A` records each as a gitlink, and warns).
    nested: Vec<PathBuf>,
}

/// Files and symlinks of the worktree, honouring .gitignore, .git/info/exclude and
/// core.excludesFile; nested repositories are left alone like git does.
fn walk(
    repo: &gix::Repository,
    workdir: &Path,
    scope: Option<&BTreeSet<BString>>,
    generated: &Generated,
) -> Result<Walked> {
    let threads = match scope {
        // A handful of directories: threads would cost more than they spread.
        Some(_) => 1,
        None => std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
    };
    let keep = scope.map(|scope| {
        let scope = std::sync::Arc::new(scope.clone());
        Box::new(move |rel: &Path, is_dir: bool| {
            let Ok(rel) = gix::path::into_bstr(rel) else {
                return true; // not a path git can hold: the walk reports it as it would
            };
            if is_dir {
                super::paths::leads_to(&scope, &rel)
            } else {
                super::paths::within(&scope, &rel)
            }
        }) as crate::walk::Keep
    });
    let (mut builder, problem, nested) = crate::walk::builder_with_excludes(
        workdir,
        workdir,
        &excludes(repo, workdir, generated),
        keep,
    );
    if let Some(why) = crate::walk::take(&problem) {
        return Err(StoreError::Refused {
            findings: vec![why],
        });
    }
    let walker = builder.threads(threads).build_parallel();
    // Stat calls dominate on a large tree; the parallel walker spreads them over the cores.
    let found = std::sync::Mutex::new(Vec::new());
    let too_deep = std::sync::Mutex::new(Vec::new());
    let failure = std::sync::Mutex::new(None);
    walker.run(|| {
        Box::new(|entry| {
            let outcome = match entry {
                Ok(entry) => found_of(workdir, &entry),
                Err(err) => match path_too_long(&err) {
                    Some(path) => Ok(Some(Reached::TooDeep(path.to_path_buf()))),
                    None => Err(StoreError::Git {
                        context: format!("could not walk the worktree {}", workdir.display()),
                        source: err.into(),
                    }),
                },
            };
            match outcome {
                Ok(Some(Reached::Found(item))) => {
                    if let Ok(mut found) = found.lock() {
                        found.push(item);
                    }
                    ignore::WalkState::Continue
                }
                Ok(Some(Reached::TooDeep(path))) => {
                    if let Ok(mut too_deep) = too_deep.lock() {
                        let rel = path.strip_prefix(workdir).unwrap_or(&path);
                        too_deep.push(rel.to_path_buf());
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
    let mut too_deep = too_deep.into_inner().unwrap_or_default();
    too_deep.sort();
    let nested = nested.lock().map(|n| n.clone()).unwrap_or_default();
    Ok(Walked {
        found: found.into_inner().unwrap_or_default(),
        too_deep,
        nested,
    })
}

/// The path of a walk error that says the path is longer than the system takes.
fn path_too_long(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            path_too_long(err)
        }
        ignore::Error::WithPath { path, err } => {
            let too_long = err
                .io_error()
                .is_some_and(|e| e.raw_os_error() == Some(libc::ENAMETOOLONG));
            if too_long {
                Some(path)
            } else {
                path_too_long(err)
            }
        }
        _ => None,
    }
}

/// What the model and the user are told of a path left out for its depth: the path
/// shortened (it is thousands of bytes long), and what to do.
fn too_deep_message(rel: &Path) -> String {
    const SHOWN: usize = 60;
    let full = rel.to_string_lossy();
    let shown: String = full.chars().take(SHOWN).collect();
    let more = if full.chars().count() > SHOWN {
        format!(
            "… ({} bytes, {} levels)",
            full.len(),
            rel.components().count()
        )
    } else {
        String::new()
    };
    format!(
        "{shown}{more}: too deep, longer than the system's path limit of {} bytes, so no git \
         command can reach it; remove the chain of directories",
        libc::PATH_MAX
    )
}

/// What the walk reached at one entry.
enum Reached {
    Found(Found),
    /// Its path is longer than the system takes.
    TooDeep(PathBuf),
}

fn found_of(workdir: &Path, entry: &ignore::DirEntry) -> Result<Option<Reached>> {
    let Some(file_type) = entry.file_type() else {
        return Ok(None);
    };
    if file_type.is_dir() {
        return Ok(None);
    }
    let meta = match gix::index::fs::Metadata::from_path_no_follow(entry.path()) {
        Ok(meta) => meta,
        Err(err) if err.raw_os_error() == Some(libc::ENAMETOOLONG) => {
            return Ok(Some(Reached::TooDeep(entry.path().to_path_buf())));
        }
        Err(err) => return Err(StoreError::io("could not stat", entry.path())(err)),
    };
    let rel = entry.path().strip_prefix(workdir).unwrap_or(entry.path());
    let Ok(path) = gix::path::into_bstr(rel) else {
        return Ok(None);
    };
    Ok(Some(Reached::Found(Found {
        path: path.into_owned(),
        meta,
    })))
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
    } else if mode == Mode::COMMIT {
        EntryKind::Commit
    } else if mode == Mode::FILE_EXECUTABLE {
        EntryKind::BlobExecutable
    } else {
        EntryKind::Blob
    }
}
