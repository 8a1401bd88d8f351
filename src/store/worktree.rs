//! The task's private worktree under `$GIT_DIR/agent/worktrees/<slug>`, and moving a worktree
//! between trees while touching only the paths that differ.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stat};
use gix::objs::tree::EntryKind;

use super::capture::filters::{Direction, FilterError, Filters, MAX_CONVERTED_BYTES};
use super::capture::paths::{PathOptions, beneath_err, path_options};
use super::format::refs;
use super::task::Task;
use super::{Result, Store, StoreError, git_err};
use crate::beneath::{BeneathError, Kind, Root};

/// A blob larger than this that no attribute or filter converts is streamed on checkout.
const STREAM_CHECKOUT_ABOVE: u64 = MAX_CONVERTED_BYTES;

impl Store {
    pub fn worktree_path(&self, slug: &str) -> PathBuf {
        self.agent_dir().join("worktrees").join(slug)
    }

    /// Make sure the task's worktree exists and is on its branch; rebuild it when it is gone.
    /// A directory that is there but no longer a worktree is moved aside, never deleted —
    /// unless it is one this code was still making when its process died (see
    /// [`Store::adding_marker`]), which holds nothing but a part of the task's own tree.
    pub fn ensure_worktree(&self, task: &Task) -> Result<PathBuf> {
        let path = self.worktree_path(&task.slug);
        let marker = self.adding_marker(&task.slug);
        // git registers the worktree and names its branch before the checkout writes a file:
        // registered and on its branch is not yet whole while the marker is there.
        if !marker.exists() && self.is_worktree_on_branch(&path, task)? {
            return Ok(path);
        }
        // Only under the setup lock: a marker found there is a dead process's (a live one
        // would hold the lock), and no other run is adding this worktree meanwhile.
        self.with_repo_lock("setup", || {
            if !marker.exists() && self.is_worktree_on_branch(&path, task)? {
                return Ok(());
            }
            if path.symlink_metadata().is_ok() {
                if marker.exists() {
                    tracing::warn!(path = %path.display(), "removing a worktree whose making was cut short");
                    std::fs::remove_dir_all(&path)
                        .map_err(StoreError::io("could not remove", &path))?;
                } else {
                    let aside = path.with_extension(format!("broken-{}", std::process::id()));
                    std::fs::rename(&path, &aside)
                        .map_err(StoreError::io("could not move aside", &path))?;
                }
            }
            // A registration whose directory is gone still claims the branch: forget it, then
            // add. Not a global `git worktree prune`: that could remove the registration
            // another run is creating right now.
            self.forget_worktree(&task.slug);
            if let Some(dir) = marker.parent() {
                std::fs::create_dir_all(dir).map_err(StoreError::io("could not create", dir))?;
            }
            std::fs::write(&marker, format!("{}\n", std::process::id()))
                .map_err(StoreError::io("could not write", &marker))?;
            self.add_worktree(task, &path)?;
            let _ = std::fs::remove_file(&marker);
            Ok(())
        })?;
        Ok(path)
    }

    fn is_worktree_on_branch(&self, path: &Path, task: &Task) -> Result<bool> {
        let Some(repo) = self.open_registered_worktree(path)? else {
            return Ok(false);
        };
        Ok(repo
            .head_name()
            .ok()
            .flatten()
            .is_some_and(|name| name.as_bstr() == task.branch().as_str()))
    }

    /// A file that exists while the task's worktree is being made (under the setup lock): a
    /// directory found at the worktree's place with it still there was left half-made by a
    /// process that died, and is removed instead of moved aside. Beside the task's lock, not
    /// under `worktrees/`, where every directory is a worktree.
    fn adding_marker(&self, slug: &str) -> PathBuf {
        super::TaskLock::dir(self).join(format!("{slug}.adding"))
    }

    /// The repository of a worktree, opened through the admin dir that the main repository
    /// registered for it — never discovered from the worktree, whose `.git` file commands
    /// can rewrite to point at a directory whose config runs programs (`core.fsmonitor`).
    /// The worktree's `.git` file is put back when it no longer points at that admin dir.
    /// The user's own checkout (`--here`) is the store's own repository.
    pub(crate) fn open_worktree(&self, worktree: &Path) -> Result<gix::Repository> {
        if self.is_own_checkout(worktree) {
            return Ok(self.repo.clone());
        }
        self.open_registered_worktree(worktree)?
            .ok_or_else(|| StoreError::Git {
                context: format!("could not open the worktree {}", worktree.display()),
                source: "it is not a worktree registered in this repository".into(),
            })
    }

    fn is_own_checkout(&self, dir: &Path) -> bool {
        let canon = |p: &Path| p.canonicalize().ok();
        self.repo
            .workdir()
            .and_then(canon)
            .is_some_and(|own| Some(own) == canon(dir))
    }

    fn open_registered_worktree(&self, worktree: &Path) -> Result<Option<gix::Repository>> {
        let Some(admin) = self.admin_dir_of(worktree) else {
            return Ok(None);
        };
        restore_gitfile(worktree, &admin)?;
        let options = gix::open::Options::default().open_path_as_is(true);
        match gix::open_opts(&admin, options) {
            Ok(repo) => Ok(Some(repo)),
            Err(_) => Ok(None),
        }
    }

    /// `$GIT_COMMON_DIR/worktrees/<id>` whose `gitdir` file names `worktree/.git`.
    fn admin_dir_of(&self, worktree: &Path) -> Option<PathBuf> {
        let wanted = worktree.canonicalize().ok()?;
        let entries = std::fs::read_dir(self.common_dir().join("worktrees")).ok()?;
        entries.flatten().map(|e| e.path()).find(|admin| {
            std::fs::read_to_string(admin.join("gitdir")).is_ok_and(|gitdir| {
                Path::new(gitdir.trim())
                    .parent()
                    .and_then(|p| p.canonicalize().ok())
                    .is_some_and(|p| p == wanted)
            })
        })
    }

    fn add_worktree(&self, task: &Task, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(StoreError::io("could not create", parent))?;
        }
        let branch = refs::full_name(&task.branch())?;
        let interrupt = AtomicBool::new(false);
        let failed = || git_err(format!("could not create the worktree {}", path.display()));
        let repo = self
            .repo
            .prepare_add_worktree(path, gix::worktree::add::Head::Attached(branch), &interrupt)
            .map_err(failed())?
            .persist()
            .map_err(failed())?;
        // The files are written by our own checkout: through the same filters as every later
        // checkout, and beneath the worktree without following links.
        let empty = ObjectId::empty_tree(self.repo.object_hash());
        let checked_out = self.tree_of(task.tip).and_then(|tree| {
            self.checkout_between(path, &repo.index_path(), empty, tree)?;
            for note in self.populate_submodules(path, repo.git_dir(), task.tip)? {
                self.note(note);
            }
            Ok(())
        });
        if checked_out.is_err() {
            // Half a checkout would look like deleted files to the next checkpoint.
            let _ = std::fs::remove_dir_all(path);
            self.forget_worktree(&task.slug);
        }
        checked_out
    }

    /// Remove the task's worktree and its registration.
    pub fn remove_worktree(&self, slug: &str) -> Result<()> {
        let path = self.worktree_path(slug);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(StoreError::io("could not remove", &path))?;
        }
        self.forget_worktree(slug);
        let _ = std::fs::remove_file(self.adding_marker(slug));
        Ok(())
    }

    /// Remove the registration (`$GIT_DIR/worktrees/<name>`) of the task's worktree, if any.
    fn forget_worktree(&self, slug: &str) {
        let path = self.worktree_path(slug);
        let Ok(entries) = std::fs::read_dir(self.common_dir().join("worktrees")) else {
            return;
        };
        for entry in entries.flatten() {
            let gitdir = std::fs::read_to_string(entry.path().join("gitdir")).unwrap_or_default();
            // A registration a killed run left half-written (no `gitdir` yet) is named after the
            // worktree too; it is created only under the setup lock, which the caller holds.
            let half_written =
                gitdir.trim().is_empty() && entry.file_name().to_string_lossy().starts_with(slug);
            if half_written || Path::new(gitdir.trim()).parent() == Some(path.as_path()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Switch the current checkout to the task branch for `--here`. The branch starts at HEAD's
    /// tree, so no file changes.
    pub fn switch_here(&self, task: &Task) -> Result<()> {
        self.git_output(&[
            "symbolic-ref",
            "-m",
            "agent: work here",
            "HEAD",
            &task.branch(),
        ])?;
        Ok(())
    }

    /// Refuse `--here` (or a merge) when the checkout has uncommitted changes. A check only:
    /// `--no-optional-locks` keeps `git status` from refreshing the user's index file.
    pub fn ensure_clean_checkout(&self) -> Result<()> {
        let status = self.git_output(&[
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "--untracked-files=normal",
        ])?;
        if !status.trim().is_empty() {
            let first: Vec<&str> = status.lines().take(5).collect();
            return Err(StoreError::DirtyCheckout(first.join("; ")));
        }
        Ok(())
    }

    /// The entries of a tree, sorted by name: borrowed from `data`, no allocation per entry.
    fn tree_entries<'a>(
        &self,
        tree: ObjectId,
        data: &'a mut Vec<u8>,
    ) -> Result<Vec<(&'a BStr, (EntryKind, ObjectId))>> {
        let found = self
            .repo
            .find_tree(tree)
            .map_err(git_err(format!("could not read tree {tree}")))?;
        *data = found.detach().data;
        let decoded =
            gix::objs::TreeRef::from_bytes(data, self.repo.object_hash()).map_err(|err| {
                StoreError::Git {
                    context: "could not decode a tree".into(),
                    source: err.into(),
                }
            })?;
        let mut entries: Vec<(&'a BStr, (EntryKind, ObjectId))> = decoded
            .entries
            .into_iter()
            .map(|e| (e.filename, (e.mode.kind(), e.oid.to_owned())))
            .collect();
        entries.sort_by(|x, y| x.0.cmp(y.0));
        Ok(entries)
    }

    /// The paths that differ between two trees: `(path, entry in from, entry in to)`,
    /// descending only into subtrees whose ids differ.
    #[expect(
        clippy::type_complexity,
        reason = "a list of (path, entry, entry) triples reads plainer than a named alias"
    )]
    pub fn diff_trees(
        &self,
        from: ObjectId,
        to: ObjectId,
    ) -> Result<
        Vec<(
            BString,
            Option<(EntryKind, ObjectId)>,
            Option<(EntryKind, ObjectId)>,
        )>,
    > {
        let mut out = Vec::new();
        self.diff_trees_at(from, to, "", &mut out)?;
        Ok(out)
    }

    #[expect(
        clippy::type_complexity,
        reason = "the same triples as diff_trees, built up level by level"
    )]
    fn diff_trees_at(
        &self,
        from: ObjectId,
        to: ObjectId,
        prefix: &str,
        out: &mut Vec<(
            BString,
            Option<(EntryKind, ObjectId)>,
            Option<(EntryKind, ObjectId)>,
        )>,
    ) -> Result<()> {
        if from == to {
            return Ok(());
        }
        let (mut data_a, mut data_b) = (Vec::new(), Vec::new());
        let a = self.tree_entries(from, &mut data_a)?;
        let b = self.tree_entries(to, &mut data_b)?;
        // Both sorted by name: walk them side by side; only a name whose entries differ costs
        // a path.
        let (mut i, mut j) = (0, 0);
        let mut differing: Vec<(
            &BStr,
            Option<(EntryKind, ObjectId)>,
            Option<(EntryKind, ObjectId)>,
        )> = Vec::new();
        while i < a.len() || j < b.len() {
            let order = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.cmp(y.0),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    differing.push((a[i].0, Some(a[i].1), None));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    differing.push((b[j].0, None, Some(b[j].1)));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if a[i].1 != b[j].1 {
                        differing.push((a[i].0, Some(a[i].1), Some(b[j].1)));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        for (name, old, new) in differing {
            let path: BString = format!("{prefix}{name}").into();
            let path = &path;
            let is_tree =
                |e: Option<(EntryKind, ObjectId)>| matches!(e, Some((EntryKind::Tree, _)));
            let empty = ObjectId::empty_tree(self.repo.object_hash());
            let sub_prefix = format!("{path}/");
            match (is_tree(old), is_tree(new)) {
                (true, true) => self.diff_trees_at(
                    old.map_or(empty, |e| e.1),
                    new.map_or(empty, |e| e.1),
                    &sub_prefix,
                    out,
                )?,
                (true, false) => {
                    self.diff_trees_at(old.map_or(empty, |e| e.1), empty, &sub_prefix, out)?;
                    if new.is_some() {
                        out.push((path.clone(), None, new));
                    }
                }
                (false, true) => {
                    if old.is_some() {
                        out.push((path.clone(), old, None));
                    }
                    self.diff_trees_at(empty, new.map_or(empty, |e| e.1), &sub_prefix, out)?;
                }
                (false, false) => out.push((path.clone(), old, new)),
            }
        }
        Ok(())
    }

    /// Move the files of `workdir` from tree `from` to tree `to`, then write an index for `to`.
    /// Files that are the same in both trees are not touched, so their mtimes stay and build
    /// tools do not rebuild them; their stat data is carried over from `index`.
    ///
    /// Every write and removal is resolved beneath `workdir` without following links
    /// ([`Root`]): a directory that a command replaced by a link to the user's `.git` is
    /// replaced by a real directory again, never written through.
    pub fn checkout_between(
        &self,
        workdir: &Path,
        index_path: &Path,
        from: ObjectId,
        to: ObjectId,
    ) -> Result<()> {
        let prepared = self.prepare_checkout(from, to)?;
        self.apply_checkout(workdir, index_path, prepared)
    }

    /// Everything a checkout from `from` to `to` needs that can fail before a file changes:
    /// the changed paths, each validated as git validates it, the target's index (every path
    /// of `to` validated), and every blob to write present. A caller that changes refs first
    /// prepares before it does.
    pub(crate) fn prepare_checkout(&self, from: ObjectId, to: ObjectId) -> Result<Checkout> {
        let options = self.path_options();
        let changes = self.diff_trees(from, to)?;
        let mut rels = Vec::with_capacity(changes.len());
        for (path, _, new) in &changes {
            rels.push(checkout_path(path, options)?);
            if let Some((EntryKind::Blob | EntryKind::BlobExecutable, id)) = new {
                self.repo
                    .find_header(*id)
                    .map_err(git_err(format!("could not read blob {id} of {path}")))?;
            }
        }
        let target =
            gix::index::State::from_tree(&to, &self.repo.objects, options).map_err(|err| {
                StoreError::Git {
                    context: "could not read the tree to check out".into(),
                    source: err.into(),
                }
            })?;
        Ok(Checkout {
            from,
            to,
            changes,
            rels,
            target,
        })
    }

    /// Carry out a prepared checkout. When it fails after the first file changed, the files
    /// of the worktree are put back as they were in `from` (what can be put back) and its
    /// index rewritten for `from`, and the error is returned.
    pub(crate) fn apply_checkout(
        &self,
        workdir: &Path,
        index_path: &Path,
        prepared: Checkout,
    ) -> Result<()> {
        let (from, to) = (prepared.from, prepared.to);
        let applied = self.apply_prepared(workdir, index_path, prepared);
        if let Err(err) = applied {
            let restored = self
                .prepare_checkout(to, from)
                .and_then(|back| self.apply_prepared(workdir, index_path, back));
            if let Err(again) = restored {
                tracing::warn!("could not restore {}: {again}", workdir.display());
            }
            return Err(err);
        }
        Ok(())
    }

    fn apply_prepared(&self, workdir: &Path, index_path: &Path, prepared: Checkout) -> Result<()> {
        let Checkout {
            to,
            changes,
            rels,
            target,
            ..
        } = prepared;
        fail_point("checkout")?;
        let root = Root::open(workdir).map_err(beneath_err(workdir))?;
        // Deletions first, deepest paths first, so directories empty out before files replace them.
        for ((_, old, new), rel) in changes.iter().zip(&rels).rev() {
            if old.is_none() {
                continue;
            }
            match root.kind(rel) {
                Ok(Some(Kind::Dir)) | Ok(None) => {}
                Ok(Some(_)) => root.remove(rel).map_err(beneath_err(workdir))?,
                // Behind a link: not in the worktree at all, so nothing of ours to remove.
                Err(BeneathError::Symlink { .. }) => {}
                Err(err) => return Err(beneath_err(workdir)(err)),
            }
            if new.is_none() {
                let mut dir = rel.parent();
                while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                    if !root.remove_empty_dir(d) {
                        break;
                    }
                    dir = d.parent();
                }
            }
        }
        let blobs = changes.iter().filter_map(|(path, _, new)| {
            matches!(new, Some((EntryKind::Blob | EntryKind::BlobExecutable, _)))
                .then_some(path.as_ref())
        });
        let dirs = super::capture::paths::parent_dirs(blobs);
        let repo = self.open_worktree(workdir)?;
        let mut filters = None;
        let mut written = 0usize;
        for ((path, _, new), rel) in changes.iter().zip(&rels) {
            let Some((kind, id)) = new else { continue };
            if written == 1 {
                fail_point("checkout-write")?;
            }
            written += 1;
            if matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable) {
                let filters = match &mut filters {
                    Some(filters) => filters,
                    empty => empty.insert(
                        Filters::new(&repo, &root, &target, &dirs, Direction::ToWorktree)
                            .map_err(|err| checkout_filter_error(path.as_ref(), err))?,
                    ),
                };
                self.write_blob(&root, filters, path.as_ref(), rel, *kind, *id)?;
            } else {
                self.write_entry(&root, rel, *kind, *id)?;
            }
        }
        let moved: Vec<(String, ObjectId)> = changes
            .iter()
            .filter_map(|(path, _, new)| match new {
                Some((EntryKind::Commit, id)) => Some((path.to_string(), *id)),
                _ => None,
            })
            .collect();
        if !moved.is_empty() {
            for note in self.move_submodules(&root, repo.git_dir(), to, &moved)? {
                self.note(note);
            }
        }
        self.write_index_for(workdir, index_path, to)
    }

    /// Path validation as git does it on this platform: `.git` and its NTFS aliases always
    /// (`core.protectNTFS`, on by default everywhere since git 2.24.1), its HFS aliases where
    /// `core.protectHFS` says (on by default only on macOS), Windows device names and
    /// characters only on Windows, where git refuses them too. On Linux `aux.c`, `con`, `a:b`,
    /// `x.` and a tab in a name are files like any other, as `git checkout` writes them.
    pub(crate) fn path_options(&self) -> PathOptions {
        path_options(&self.repo)
    }

    /// Write a file as `git checkout` does: smudged by the attributes and filters of its
    /// path. A large blob that nothing converts is streamed, never held in memory.
    fn write_blob(
        &self,
        root: &Root,
        filters: &mut Filters<'_>,
        path: &BStr,
        rel: &Path,
        kind: EntryKind,
        id: ObjectId,
    ) -> Result<()> {
        let failed = beneath_err(root.path());
        let mode = if kind == EntryKind::BlobExecutable {
            0o755
        } else {
            0o644
        };
        let size = self
            .repo
            .find_header(id)
            .map_err(git_err(format!("could not read blob {id}")))?
            .size();
        let converts = filters
            .may_convert(path)
            .map_err(|err| checkout_filter_error(path, err))?;
        if size > STREAM_CHECKOUT_ABOVE
            && !converts
            && self.stream_loose_blob(root, rel, id, mode)?
        {
            return Ok(());
        }
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git_err(format!("could not read blob {id}")))?;
        filters
            .smudge(path, &blob.data, &mut |content| {
                root.write_from(rel, content, Some(mode), true)
                    .map(|_| ())
                    .map_err(FilterError::Beneath)
            })
            .map_err(|err| match err {
                FilterError::Beneath(err) => failed(err),
                err => checkout_filter_error(path, err),
            })
    }

    /// Write a large blob that is a loose object by inflating it as it is written (gix, and
    /// `git cat-file`, read objects whole), through the descriptor [`Root`] checked. `false`
    /// when it is not loose (packed, or in an alternate): then it is read whole.
    fn stream_loose_blob(&self, root: &Root, rel: &Path, id: ObjectId, mode: u32) -> Result<bool> {
        let Some((loose, size)) = self.open_loose_blob(id)? else {
            return Ok(false);
        };
        let mut content = std::io::Read::take(loose, size);
        root.write_from(rel, &mut content, Some(mode), true)
            .map_err(beneath_err(root.path()))?;
        if content.limit() != 0 {
            return Err(StoreError::Git {
                context: format!("could not read blob {id}"),
                source: "the object ended early".into(),
            });
        }
        Ok(true)
    }

    fn write_entry(&self, root: &Root, rel: &Path, kind: EntryKind, id: ObjectId) -> Result<()> {
        let failed = beneath_err(root.path());
        match kind {
            EntryKind::Tree | EntryKind::Commit => {
                if !matches!(root.kind(rel), Ok(Some(Kind::Dir))) {
                    root.remove(rel).map_err(&failed)?;
                }
                root.create_dir_all(rel, true).map_err(&failed)?;
            }
            EntryKind::Link => {
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(git_err(format!("could not read blob {id}")))?;
                let target = gix::path::from_bstr(blob.data.as_bstr())
                    .map_err(git_err(format!("invalid link target in blob {id}")))?
                    .into_owned();
                root.symlink(&target, rel).map_err(&failed)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                // Files go through `write_blob`, with their filters.
                return Err(StoreError::Git {
                    context: format!("could not check out {}", rel.display()),
                    source: "a file needs its filters".into(),
                });
            }
        }
        Ok(())
    }

    /// Write the index of `workdir` for `tree`, keeping the stat data of entries whose content
    /// and mode did not change, and reading fresh stat data for the others.
    fn write_index_for(&self, workdir: &Path, index_path: &Path, tree: ObjectId) -> Result<()> {
        let old = gix::index::File::at(
            index_path,
            self.repo.object_hash(),
            false,
            Default::default(),
        )
        .ok();
        let mut state =
            gix::index::State::from_tree(&tree, &self.repo.objects, self.path_options()).map_err(
                |err| StoreError::Git {
                    context: "could not build an index from the tree".into(),
                    source: err.into(),
                },
            )?;
        let backing = state.path_backing().to_owned();
        for entry in state.entries_mut() {
            let path = entry.path_in(&backing);
            let kept = old
                .as_ref()
                .and_then(|old| old.entry_by_path(path))
                .filter(|e| e.id == entry.id && e.mode == entry.mode);
            entry.stat = match kept {
                Some(old_entry) => old_entry.stat,
                None => gix::index::fs::Metadata::from_path_no_follow(
                    &workdir.join(path.to_path_lossy()),
                )
                .ok()
                .and_then(|m| Stat::from_fs(&m).ok())
                .unwrap_or_default(),
            };
            entry.flags = Flags::empty();
            if entry.mode == Mode::COMMIT {
                continue;
            }
        }
        super::capture::index::write(&state, index_path, Some(tree))
    }
}

/// An entry of a tree: its kind and object.
type Entry = (EntryKind, ObjectId);

/// A checkout validated and ready to be carried out ([`Store::prepare_checkout`]).
pub(crate) struct Checkout {
    from: ObjectId,
    to: ObjectId,
    changes: Vec<(BString, Option<Entry>, Option<Entry>)>,
    /// The path of each change beneath the worktree.
    rels: Vec<PathBuf>,
    target: gix::index::State,
}

/// A failure injected by the tests at a named stage (`GIT_AGENT_FAIL_AT=<stage>`), in debug
/// builds only: the all-or-nothing paths are tested by failing for real. It fails once per
/// process, so the repair that follows the failure runs as it would after a real one.
pub(crate) fn fail_point(stage: &str) -> Result<()> {
    static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if cfg!(debug_assertions)
        && std::env::var("GIT_AGENT_FAIL_AT").is_ok_and(|v| v == stage)
        && !FAILED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return Err(StoreError::Git {
            context: format!("injected failure at {stage}"),
            source: "GIT_AGENT_FAIL_AT".into(),
        });
    }
    Ok(())
}

/// Put the worktree's `.git` file back when it no longer points at its admin dir, so that a
/// person (or a tool) running git in the worktree meets the real repository, not a planted one.
fn restore_gitfile(worktree: &Path, admin: &Path) -> Result<()> {
    let expected = format!("gitdir: {}\n", admin.display());
    let root = Root::open(worktree).map_err(beneath_err(worktree))?;
    let dot_git = Path::new(".git");
    let current = root.read(dot_git, 4096).ok();
    if current.as_deref().is_some_and(|c| c == expected.as_bytes()) {
        return Ok(());
    }
    root.remove(dot_git).map_err(beneath_err(worktree))?;
    root.write(dot_git, expected.as_bytes(), Some(0o644), true)
        .map_err(beneath_err(worktree))?;
    Ok(())
}

/// A tree path as a path beneath the worktree, validated as git validates it before it writes
/// (`verify_path` with the defaults of this platform, see [`path_options`]): `.git`, its
/// aliases and `..` are refused rather than checked out; `aux.c`, `con`, `a:b` are files.
fn checkout_path(path: &BString, options: PathOptions) -> Result<PathBuf> {
    let bad = path.is_empty()
        || path
            .split(|b| *b == b'/')
            .any(|c| gix::validate::path::component(c.as_bstr(), None, options).is_err());
    if bad {
        return Err(StoreError::Git {
            context: "refusing to check out a tree path".into(),
            source: format!("`{path}` names `.git` or leaves the worktree").into(),
        });
    }
    Ok(path.to_path_lossy().into_owned())
}

fn checkout_filter_error(path: &BStr, err: FilterError) -> StoreError {
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
        err => StoreError::Git {
            context: format!("could not check out {path}"),
            source: err.to_string().into(),
        },
    }
}
