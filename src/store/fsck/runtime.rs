//! The runtime part of `git agent fsck`: locks and worktrees under `$GIT_COMMON_DIR/agent/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Checkout, Finding, FsckReport};
use crate::store::Store;
use crate::store::format::refs;
use crate::store::lock::{NotAFile, TaskLock};

impl Store {
    /// Where the task's branch is checked out, if anywhere: a registered worktree whose HEAD
    /// names it, or the user's own checkout.
    pub(super) fn checkout_of(&self, slug: &str) -> Option<Checkout> {
        let wanted = format!("ref: {}", refs::branch(slug));
        let head_is = |admin: &Path| {
            std::fs::read_to_string(admin.join("HEAD")).is_ok_and(|h| h.trim() == wanted)
        };
        if head_is(self.common_dir()) {
            let main = self.repo.main_repo().ok()?;
            return Some(Checkout {
                worktree: main.workdir()?.to_path_buf(),
                admin: None,
            });
        }
        let entries = std::fs::read_dir(self.common_dir().join("worktrees")).ok()?;
        let mut admins: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        admins.sort();
        admins.into_iter().find_map(|admin| {
            if !head_is(&admin) {
                return None;
            }
            let gitdir = std::fs::read_to_string(admin.join("gitdir")).ok()?;
            let worktree = Path::new(gitdir.trim()).parent()?.to_path_buf();
            worktree.is_dir().then_some(Checkout {
                worktree,
                admin: Some(admin),
            })
        })
    }

    /// Stale locks; returns whether any lock file of a wanted task exists.
    pub(super) fn fsck_locks(
        &self,
        tasks: &BTreeSet<String>,
        wanted: &dyn Fn(&str) -> bool,
        report: &mut FsckReport,
    ) -> bool {
        let Ok(entries) = std::fs::read_dir(TaskLock::dir(self)) else {
            return false;
        };
        let mut any = false;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".lock").map(str::to_string)
            })
            .collect();
        names.sort();
        for slug in names {
            if !wanted(&slug) {
                continue;
            }
            any = true;
            if let Some(problem) = NotAFile::at(&TaskLock::path(self, &slug)) {
                report.findings.push(Finding::LockNotAFile {
                    task: slug,
                    problem,
                });
            } else if TaskLock::is_held(self, &slug) {
                let holder = TaskLock::holder(self, &slug)
                    .map(|(pid, host, _)| format!(" (pid {pid} on {host})"))
                    .unwrap_or_default();
                report.notices.push((
                    slug.clone(),
                    format!("a run is working on it{holder}: what it is in the middle of may show as findings"),
                ));
            } else if TaskLock::is_stale(self, &slug)
                && !tasks.contains(&slug)
                && TaskLock::remove_of_gone_task(self, &slug)
            {
                // A drop or start killed after the branch went or before it came: nothing of
                // a task holds on to it, so it is settled rather than reported.
                report.notices.push((
                    slug.clone(),
                    "removed the lock file a killed run left for a task that no longer exists"
                        .into(),
                ));
            } else if TaskLock::is_stale(self, &slug) {
                let (pid, host, since) = TaskLock::holder(self, &slug)
                    .unwrap_or_else(|| (0, "unknown".into(), "unknown".into()));
                report.findings.push(Finding::StaleLock {
                    path: TaskLock::path(self, &slug),
                    known: tasks.contains(&slug),
                    task: slug,
                    pid,
                    host,
                    since,
                });
            }
        }
        for (slug, path) in self.stale_ref_locks() {
            if wanted(&slug) {
                any = true;
                report
                    .findings
                    .push(Finding::StaleRefLock { task: slug, path });
            }
        }
        for path in self.dead_journals() {
            let task = self.journal_task(&path).unwrap_or_default();
            if wanted(&task) {
                report
                    .findings
                    .push(Finding::InterruptedChange { task, path });
            }
        }
        // Not a task's: reported under the task a landing names, or under none (then only
        // when every task is checked).
        if let Some((path, branch, task)) = self.killed_landing()
            && wanted(&task)
        {
            report
                .findings
                .push(Finding::InterruptedLanding { task, path, branch });
        }
        for (path, remote) in self.killed_syncs().into_iter().filter(|_| wanted("")) {
            report.findings.push(Finding::InterruptedSync {
                task: String::new(),
                path,
                remote,
            });
        }
        any
    }

    /// Worktree directories of no task and registrations whose directory is gone; returns
    /// whether any directory of a wanted task exists. `tasks` are the tasks with a branch
    /// ref, readable or not: a task's own worktree is never stale.
    pub(super) fn fsck_worktrees(
        &self,
        tasks: &BTreeSet<String>,
        wanted: &dyn Fn(&str) -> bool,
        report: &mut FsckReport,
    ) -> bool {
        let root = self.agent_dir().join("worktrees");
        let Some(canon_root) = root.canonicalize().ok() else {
            return false;
        };
        // Registered worktrees: (admin dir, worktree dir as the registration names it).
        let mut registered: Vec<(PathBuf, PathBuf)> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.common_dir().join("worktrees")) {
            for admin in entries.flatten().map(|e| e.path()) {
                if let Ok(gitdir) = std::fs::read_to_string(admin.join("gitdir"))
                    && let Some(dir) = Path::new(gitdir.trim()).parent()
                {
                    registered.push((admin, dir.to_path_buf()));
                }
            }
        }
        registered.sort();
        let in_root = |dir: &Path| -> Option<String> {
            let parent = dir.parent()?.canonicalize().ok()?;
            (parent == canon_root).then(|| dir.file_name()?.to_str().map(str::to_string))?
        };

        let mut any = false;
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            // A directory git-agent moved aside is `<slug>.broken-<pid>`.
            let task = name.split(".broken-").next().unwrap_or(&name).to_string();
            if !wanted(&task) {
                continue;
            }
            any = true;
            let is_registered = registered
                .iter()
                .any(|(_, wt)| in_root(wt).as_deref() == Some(name.as_str()));
            let of_task = tasks.contains(&name);
            if !(of_task && is_registered) {
                report.findings.push(Finding::StaleWorktree {
                    task,
                    path: dir,
                    registered: is_registered,
                    of_task,
                });
            }
        }
        for (admin, dir) in registered {
            let Some(name) = in_root(&dir) else { continue };
            if wanted(&name) && dir.symlink_metadata().is_err() {
                any = true;
                report.findings.push(Finding::WorktreeGone {
                    task: name,
                    path: dir,
                    admin,
                });
            }
        }
        any
    }
}
