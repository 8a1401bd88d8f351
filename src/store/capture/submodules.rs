//! Submodules in a task's worktree: the ones the user's checkout has initialized, at the
//! commits the task's tree records, cloned from the user's own clones of them
//! (`$GIT_DIR/modules/<name>`) — local paths only, never a network, nothing discovered from
//! the worktree.
//!
//! Each submodule's repository lives in the task worktree's admin dir
//! (`$GIT_COMMON_DIR/worktrees/<id>/modules/<name>`, where git keeps the submodules of a
//! linked worktree too): outside the worktree, so commands cannot write it, and every git
//! the harness runs on it names it with `--git-dir` and `--work-tree`. The `.git` file that
//! git leaves in the submodule's directory is read only to find which of those repositories
//! a checkpoint reads the HEAD of, and followed nowhere else ([`super::gitlinks`]).
//!
//! A checkpoint records a submodule as `git add -A` does, at the commit its HEAD names (a
//! HEAD moved by hand moves the gitlink; a directory removed removes it), and that is all it
//! can record: a change the model makes inside a submodule (an edit, a new file) is refused
//! with a message that names the submodule and its files, as a secret is. The submodule's
//! own repository is where its changes belong.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::beneath::{Kind, Root};
use crate::store::{GitCommand, Result, Store, StoreError};

/// How deep submodules of submodules are followed.
const MAX_DEPTH: usize = 8;

/// A submodule of a tree: its name in `.gitmodules`, its path, and the commit recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Module {
    name: String,
    path: String,
    commit: String,
}

/// git on an explicit repository, from a directory outside any worktree.
fn git(git_dir: &Path, cwd: &Path) -> GitCommand {
    let mut cmd = GitCommand::untrusted(git_dir, None);
    cmd.current_dir(cwd);
    cmd
}

fn run(mut cmd: GitCommand, what: &str) -> Result<String> {
    let output = cmd.output().map_err(|err| StoreError::GitCommand {
        args: what.to_string(),
        detail: err.to_string(),
    })?;
    if !output.status.success() {
        return Err(StoreError::GitCommand {
            args: what.to_string(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The submodules of `treeish` in the repository `git_dir`.
fn modules_at(git_dir: &Path, cwd: &Path, treeish: &str) -> Result<Vec<Module>> {
    let mut ls = git(git_dir, cwd);
    ls.args(["ls-tree", "-r", "-z", treeish]);
    let listing = run(ls, "ls-tree")?;
    let gitlinks: Vec<(String, String)> = listing
        .split('\0')
        .filter_map(|line| {
            let (meta, path) = line.split_once('\t')?;
            let mut parts = meta.split(' ');
            (parts.next()? == "160000").then_some(())?;
            let _kind = parts.next()?;
            Some((path.to_string(), parts.next()?.to_string()))
        })
        .collect();
    if gitlinks.is_empty() {
        return Ok(Vec::new());
    }
    let mut config = git(git_dir, cwd);
    config.args([
        "config",
        "--blob",
        &format!("{treeish}:.gitmodules"),
        "--get-regexp",
        r"^submodule\..*\.path$",
    ]);
    let names = run(config, "config --blob .gitmodules").unwrap_or_default();
    Ok(gitlinks
        .into_iter()
        .filter_map(|(path, commit)| {
            let name = names.lines().find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (value == path).then(|| {
                    key.trim_start_matches("submodule.")
                        .trim_end_matches(".path")
                        .to_string()
                })
            })?;
            Some(Module { name, path, commit })
        })
        .collect())
}

/// `name` as a directory name beneath a modules dir: git's own rule, no `..`.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl Store {
    /// Check out, in the task's fresh worktree, the submodules of `commit` that the user's
    /// checkout has initialized. Returns a note for each one left empty, and why.
    pub(crate) fn populate_submodules(
        &self,
        worktree: &Path,
        admin: &Path,
        commit: gix::ObjectId,
    ) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let user_modules = [
            self.repo.git_dir().join("modules"),
            self.common_dir().join("modules"),
        ]
        .into_iter()
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| self.common_dir().join("modules"));
        let root = Root::open(worktree).map_err(super::paths::beneath_err(worktree))?;
        self.populate_level(
            &root,
            &Level {
                listed_in: self.common_dir().to_path_buf(),
                treeish: commit.to_string(),
                user_modules,
                task_modules: admin.join("modules"),
                prefix: String::new(),
            },
            0,
            &mut notes,
        )?;
        Ok(notes)
    }

    fn populate_level(
        &self,
        root: &Root,
        level: &Level,
        depth: usize,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let cwd = self.common_dir();
        for module in modules_at(&level.listed_in, cwd, &level.treeish)? {
            let path = format!("{}{}", level.prefix, module.path);
            if !safe_name(&module.name) {
                notes.push(format!("{path}: submodule name `{}` refused", module.name));
                continue;
            }
            let source = level.user_modules.join(&module.name);
            if !source.join("HEAD").is_file() {
                notes.push(format!(
                    "{path}: submodule not initialized in your checkout; left empty \
                     (`git submodule update --init {path}` there, then `git agent drop` and start again)"
                ));
                continue;
            }
            let mut has = git(&source, cwd);
            has.args(["cat-file", "-e", &format!("{}^{{commit}}", module.commit)]);
            if run(has, "cat-file -e").is_err() {
                notes.push(format!(
                    "{path}: commit {} is not in your clone of the submodule; left empty \
                     (`git submodule update {path}` in your checkout fetches it)",
                    &module.commit
                ));
                continue;
            }
            // The directory our checkout made for the gitlink, beneath the worktree, no link.
            let rel = Path::new(&path);
            if !matches!(root.kind(rel), Ok(Some(Kind::Dir))) {
                root.create_dir_all(rel, true)
                    .map_err(super::paths::beneath_err(root.path()))?;
            }
            let dir = root.path().join(rel);
            let repo = level.task_modules.join(&module.name);
            if !repo.join("HEAD").is_file() {
                if let Some(parent) = repo.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(StoreError::io("could not create", parent))?;
                }
                let mut clone = GitCommand::outside(cwd);
                clone
                    .args([
                        "-c",
                        "protocol.file.allow=always",
                        "clone",
                        "-q",
                        "--no-checkout",
                    ])
                    .arg("--separate-git-dir")
                    .arg(&repo)
                    .arg(&source)
                    .arg(&dir)
                    .stdin(Stdio::null());
                run(clone, "clone (submodule)")?;
            }
            let mut checkout = git(&repo, cwd);
            checkout.arg("--work-tree").arg(&dir).args([
                "checkout",
                "-q",
                "-f",
                "--detach",
                &module.commit,
            ]);
            run(checkout, "checkout (submodule)")?;
            if depth + 1 < MAX_DEPTH {
                self.populate_level(
                    root,
                    &Level {
                        listed_in: repo.clone(),
                        treeish: module.commit.clone(),
                        user_modules: source.join("modules"),
                        task_modules: repo.join("modules"),
                        prefix: format!("{path}/"),
                    },
                    depth + 1,
                    notes,
                )?;
            }
        }
        Ok(())
    }

    /// Move the checked-out submodules among `moved` (paths and the commits `tree` records)
    /// to those commits, as a checkout of `tree` does. A submodule that is not checked out
    /// stays empty.
    pub(crate) fn move_submodules(
        &self,
        root: &Root,
        admin: &Path,
        tree: gix::ObjectId,
        moved: &[(String, gix::ObjectId)],
    ) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let cwd = self.common_dir();
        let modules = modules_at(cwd, cwd, &tree.to_string()).unwrap_or_default();
        for (path, commit) in moved {
            let Some(module) = modules.iter().find(|m| &m.path == path) else {
                continue;
            };
            let repo = admin.join("modules").join(&module.name);
            if !safe_name(&module.name) || !repo.join("HEAD").is_file() {
                continue;
            }
            if !matches!(root.kind(Path::new(path)), Ok(Some(Kind::Dir))) {
                continue;
            }
            let mut checkout = git(&repo, cwd);
            checkout
                .arg("--work-tree")
                .arg(root.path().join(path))
                .args(["checkout", "-q", "-f", "--detach", &commit.to_string()]);
            if let Err(err) = run(checkout, "checkout (submodule)") {
                notes.push(format!(
                    "{path}: could not move the submodule to {}: {err}",
                    short(*commit)
                ));
            }
        }
        Ok(notes)
    }

    /// What changed inside the populated submodules of a worktree, one finding per
    /// submodule: a checkpoint cannot record it (see the module documentation).
    pub(crate) fn submodule_changes(
        &self,
        worktree: &Path,
        admin: &Path,
        tip: gix::ObjectId,
        gitlinks: &[(String, gix::ObjectId)],
    ) -> Result<Vec<String>> {
        let mut findings = Vec::new();
        if gitlinks.is_empty() {
            return Ok(findings);
        }
        let tree_names =
            modules_at(self.common_dir(), self.common_dir(), &tip.to_string()).unwrap_or_default();
        let root = Root::open(worktree).map_err(super::paths::beneath_err(worktree))?;
        let task_modules = admin.join("modules");
        for (path, commit) in gitlinks {
            let (path, commit) = (path.clone(), *commit);
            let name = tree_names
                .iter()
                .find(|m| m.path == path)
                .map_or_else(|| path.clone(), |m| m.name.clone());
            let repo = task_modules.join(&name);
            if !safe_name(&name) || !repo.join("HEAD").is_file() {
                continue; // never populated: nothing of the model's can be in it
            }
            // A gitlink whose directory went is no gitlink of the snapshot any more.
            let Ok(Some(Kind::Dir)) = root.kind(Path::new(&path)) else {
                continue;
            };
            let dir = root.path().join(&path);
            let mut status = git(&repo, self.common_dir());
            status.arg("--work-tree").arg(&dir).args([
                "status",
                "--porcelain=v1",
                "--untracked-files=all",
            ]);
            let changed: Vec<String> = run(status, "status (submodule)")?
                .lines()
                .map(str::to_string)
                .collect();
            if changed.is_empty() {
                continue;
            }
            let shown: Vec<&str> = changed.iter().take(5).map(String::as_str).collect();
            findings.push(format!(
                "{path}/: changed inside the submodule ({}{}); a checkpoint records a submodule only \
                 at the commit it names ({}), so these changes cannot be committed here: put the files \
                 back as they are at that commit (`git -C {path} diff` shows the changes, \
                 `git -C {path} show HEAD:<file>` the original) and delete new ones",
                shown.join(", "),
                if changed.len() > 5 { ", …" } else { "" },
                short(commit)
            ));
        }
        Ok(findings)
    }
}

/// One level of submodules: where they are listed, the user's clones, ours, and where in
/// the worktree.
struct Level {
    listed_in: PathBuf,
    treeish: String,
    user_modules: PathBuf,
    task_modules: PathBuf,
    prefix: String,
}

fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(8).to_string()
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn module_names_stay_beneath_the_modules_dir() {
        assert!(safe_name("lib"));
        assert!(safe_name("third/party"));
        assert!(!safe_name("../../hooks"));
        assert!(!safe_name("/etc"));
        assert!(!safe_name(""));
    }
}
