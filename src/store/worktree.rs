//! The task's private worktree under `$GIT_DIR/agent/worktrees/<slug>`, and moving a worktree
//! between trees while touching only the paths that differ.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stat};
use gix::objs::tree::EntryKind;

use super::refs;
use super::task::Task;
use super::{Result, Store, StoreError, git_err};

/// One entry of a tree: its mode and object.
type TreeEntries = BTreeMap<BString, (EntryKind, ObjectId)>;

impl Store {
    pub fn worktree_path(&self, slug: &str) -> PathBuf {
        self.agent_dir().join("worktrees").join(slug)
    }

    /// Make sure the task's worktree exists and is on its branch; rebuild it when it is gone.
    /// A directory that is there but no longer a worktree is moved aside, never deleted.
    pub fn ensure_worktree(&self, task: &Task) -> Result<PathBuf> {
        let path = self.worktree_path(&task.slug);
        if path.join(".git").is_file()
            && let Ok(repo) = gix::open(&path)
        {
            let on_branch = repo
                .head_name()
                .ok()
                .flatten()
                .is_some_and(|name| name.as_bstr() == task.branch().as_str());
            if on_branch {
                return Ok(path);
            }
        }
        if path.exists() {
            let aside = path.with_extension(format!("broken-{}", std::process::id()));
            std::fs::rename(&path, &aside)
                .map_err(StoreError::io("could not move aside", &path))?;
        }
        // A registration whose directory is gone still claims the branch: forget it, then add.
        // Not a global `git worktree prune`: that could remove the registration another run is
        // creating right now.
        self.with_repo_lock("setup", || {
            self.forget_worktree(&task.slug);
            self.add_worktree(task, &path)
        })?;
        Ok(path)
    }

    fn add_worktree(&self, task: &Task, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(StoreError::io("could not create", parent))?;
        }
        let branch = refs::full_name(&task.branch())?;
        let interrupt = AtomicBool::new(false);
        self.repo
            .add_worktree(
                path,
                gix::worktree::add::Head::Attached(branch),
                gix::progress::Discard,
                &interrupt,
            )
            .map_err(git_err(format!(
                "could not create the worktree {}",
                path.display()
            )))?;
        Ok(())
    }

    /// Remove the task's worktree and its registration.
    pub fn remove_worktree(&self, slug: &str) -> Result<()> {
        let path = self.worktree_path(slug);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(StoreError::io("could not remove", &path))?;
        }
        self.forget_worktree(slug);
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
            if Path::new(gitdir.trim()).parent() == Some(path.as_path()) {
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

    /// Refuse `--here` when the checkout has changes that the agent would sweep into its commits.
    pub fn ensure_clean_checkout(&self) -> Result<()> {
        let status = self.git_output(&["status", "--porcelain=v1", "--untracked-files=normal"])?;
        if !status.trim().is_empty() {
            let first: Vec<&str> = status.lines().take(5).collect();
            return Err(StoreError::DirtyCheckout(first.join("; ")));
        }
        Ok(())
    }

    fn tree_entries(&self, tree: ObjectId, prefix: &str, out: &mut TreeEntries) -> Result<()> {
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(git_err(format!("could not read tree {tree}")))?;
        let decoded = tree.decode().map_err(git_err("could not decode a tree"))?;
        for entry in &decoded.entries {
            let path: BString = format!("{prefix}{}", entry.filename).into();
            out.insert(path, (entry.mode.kind(), entry.oid.to_owned()));
        }
        Ok(())
    }

    /// The paths that differ between two trees: `(path, entry in from, entry in to)`,
    /// descending only into subtrees whose ids differ.
    #[allow(clippy::type_complexity)]
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

    #[allow(clippy::type_complexity)]
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
        let mut a = TreeEntries::new();
        let mut b = TreeEntries::new();
        self.tree_entries(from, prefix, &mut a)?;
        self.tree_entries(to, prefix, &mut b)?;
        let mut paths: Vec<&BString> = a.keys().chain(b.keys()).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            let old = a.get(path).copied();
            let new = b.get(path).copied();
            if old == new {
                continue;
            }
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
    pub fn checkout_between(
        &self,
        workdir: &Path,
        index_path: &Path,
        from: ObjectId,
        to: ObjectId,
    ) -> Result<()> {
        let changes = self.diff_trees(from, to)?;
        // Deletions first, deepest paths first, so directories empty out before files replace them.
        for (path, old, new) in changes.iter().rev() {
            if old.is_some() && new.is_none() || matches!((old, new), (Some(_), Some(_))) {
                let full = workdir.join(path.to_path_lossy());
                match std::fs::symlink_metadata(&full) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => std::fs::remove_file(&full)
                        .map_err(StoreError::io("could not remove", &full))?,
                    Err(_) => {}
                }
                if new.is_none() {
                    remove_empty_parents(workdir, &full);
                }
            }
        }
        for (path, _, new) in &changes {
            let Some((kind, id)) = new else { continue };
            let full = workdir.join(path.to_path_lossy());
            self.write_entry(&full, *kind, *id)?;
        }
        self.write_index_for(workdir, index_path, to)
    }

    fn write_entry(&self, full: &Path, kind: EntryKind, id: ObjectId) -> Result<()> {
        if let Some(parent) = full.parent() {
            if parent.is_file() || parent.is_symlink() {
                std::fs::remove_file(parent).map_err(StoreError::io("could not remove", parent))?;
            }
            std::fs::create_dir_all(parent).map_err(StoreError::io("could not create", parent))?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(full)
            && meta.is_dir()
        {
            std::fs::remove_dir_all(full).map_err(StoreError::io("could not remove", full))?;
        }
        match kind {
            EntryKind::Tree | EntryKind::Commit => {
                std::fs::create_dir_all(full).map_err(StoreError::io("could not create", full))?;
            }
            EntryKind::Link => {
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(git_err(format!("could not read blob {id}")))?;
                let target = gix::path::from_bstr(blob.data.as_bstr())
                    .map_err(git_err(format!("invalid link target in blob {id}")))?
                    .into_owned();
                std::os::unix::fs::symlink(target, full)
                    .map_err(StoreError::io("could not create the link", full))?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(git_err(format!("could not read blob {id}")))?;
                std::fs::write(full, &blob.data)
                    .map_err(StoreError::io("could not write", full))?;
                let mode = if kind == EntryKind::BlobExecutable {
                    0o755
                } else {
                    0o644
                };
                std::fs::set_permissions(full, std::fs::Permissions::from_mode(mode))
                    .map_err(StoreError::io("could not set the mode of", full))?;
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
        let mut state = gix::index::State::from_tree(&tree, &self.repo.objects, Default::default())
            .map_err(|err| StoreError::Git {
                context: "could not build an index from the tree".into(),
                detail: err.to_string(),
            })?;
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
        let mut file = gix::index::File::from_state(state, index_path);
        file.write(gix::index::write::Options::default())
            .map_err(|err| StoreError::Git {
                context: format!("could not write the index {}", index_path.display()),
                detail: err.to_string(),
            })?;
        Ok(())
    }
}

fn remove_empty_parents(workdir: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == workdir || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
