//! The attic: `refs/agent/<slug>/attic/<n>` keeps every discarded tip reachable, so nothing
//! the agent did is lost and a rollback can itself be undone.

use std::path::Path;

use gix::ObjectId;

use super::capture::snapshot::snapshot_scoped;
use super::capture::watch::Changes;
use super::format::plan::Attempt;
use super::format::plan::FAILED_TRY;
use super::format::refs::{self, Edit, Expect, TaskRef};
use super::format::subject::Subject;
use super::format::trailers::{Trailers, key};
use super::task::Task;
use super::{Result, Store, StoreError};
use crate::policy::SecretAllowList;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtticEntry {
    pub n: u32,
    pub refname: String,
    pub commit: ObjectId,
}

impl Store {
    /// The attic of a task, oldest first.
    pub fn attic(&self, slug: &str) -> Result<Vec<AtticEntry>> {
        let mut entries: Vec<AtticEntry> = self
            .refs_with_prefix(&refs::attic_prefix(slug))?
            .into_iter()
            .filter_map(|(refname, commit)| match TaskRef::parse(&refname)? {
                (of, TaskRef::Attic(n)) if of == slug => Some(AtticEntry { n, refname, commit }),
                _ => None,
            })
            .collect();
        entries.sort_by_key(|e| e.n);
        Ok(entries)
    }

    /// The edit that files `commit` in the next free attic slot.
    pub fn attic_edit(&self, slug: &str, commit: ObjectId, why: &str) -> Result<(String, Edit)> {
        let next = self.attic(slug)?.last().map_or(1, |e| e.n + 1);
        let refname = refs::attic(slug, next);
        let edit = Edit::update(
            refname.clone(),
            Expect::Absent,
            commit,
            format!("agent: attic: {why}"),
        );
        Ok((refname, edit))
    }

    /// Commit the uncommitted work of `worktree` (if any) on top of the task tip, without
    /// moving the branch: the commit that an attic ref will keep. Returns the commit and the
    /// snapshot tree, or `None` when the worktree holds nothing beyond the tip.
    pub fn commit_unfinished(
        &self,
        task: &Task,
        worktree: &Path,
        why: &str,
    ) -> Result<Option<(ObjectId, ObjectId)>> {
        let wt_repo = self.open_worktree(worktree)?;
        let tip_tree = self.tree_of(task.tip)?;
        // The attic is pushed like the branch: what the secret scan refuses stays out of it
        // (and in the worktree), with no allow list — the attic is nobody's decision.
        let strict = SecretAllowList::default().without_inline_marker();
        // A monitor of the worktree (`agent.fsmonitor`) names what changed since the tip and
        // the worktree last agreed; without one, the walk.
        let monitored = self.fsmonitor_changes(worktree);
        let scope = match &monitored {
            Some((Changes::Paths(paths), _)) => Some(paths),
            _ => None,
        };
        let snapshot =
            snapshot_scoped(&wt_repo, tip_tree, Some(&strict), scope, &self.generated())?;
        if snapshot.tree == tip_tree {
            return Ok(None);
        }
        let mut trailers = Trailers::default();
        trailers.push(key::TASK, &task.slug);
        trailers.push(key::ATTIC, "unfinished");
        let files: Vec<String> = snapshot
            .changes
            .iter()
            .take(20)
            .map(|c| format!("  {}", c.path))
            .collect();
        let withheld = if snapshot.refused.is_empty() {
            String::new()
        } else {
            format!(
                "\n\nWithheld by the secret scan (left in the worktree):\n  {}",
                snapshot.refused.join("\n  ")
            )
        };
        let message = format!(
            "{}\n\n{why}\n\n{}{withheld}\n\n{}",
            Subject::Unfinished(task.slug.clone()),
            files.join("\n"),
            trailers.render()
        );
        let commit = self.commit(&message, snapshot.tree, [task.tip])?;
        Ok(Some((commit, snapshot.tree)))
    }

    /// End a try that made no checkpoint: its work goes to the attic (what the secret scan
    /// refuses stays out), the reason into the plan's `attempts` as a failed try — both in
    /// one transaction, so the try counts across crashes and resumes — and the worktree goes
    /// back to the tip for the next try.
    pub fn record_failed_try(
        &self,
        task: &Task,
        worktree: &Path,
        step: u32,
        reason: &str,
    ) -> Result<Option<String>> {
        let why = format!("failed try of step {step}: {reason}");
        let pending = self.pending_merge(task, &self.plan(task)?)?;
        // A worktree the snapshot refuses to read (a `.gitignore` that is a link) keeps its
        // work where it is; the try still counts. A pending update's merge, untouched, is
        // where the step starts, not work of the try.
        let (unfinished, unreadable) = match self.commit_unfinished(task, worktree, &why) {
            Err(StoreError::Refused { .. }) => (None, true),
            other => (other?, false),
        };
        let unfinished =
            unfinished.filter(|(_, tree)| pending.as_ref().is_none_or(|p| p.tree != *tree));
        let mut edits = Vec::new();
        let mut attic = String::new();
        let mut discarded = String::new();
        if let Some((commit, _)) = unfinished {
            let (refname, edit) = self.attic_edit(&task.slug, commit, &why)?;
            edits.push(edit);
            attic = refname;
            discarded = commit.to_string();
        }
        let mut plan = self.plan(task)?;
        plan.attempts.push(Attempt {
            at: super::format::record::now_rfc3339(),
            step,
            reason: reason.to_string(),
            discarded,
            attic: attic.clone(),
            restored: task.tip.to_string(),
            kind: FAILED_TRY.to_string(),
            replan: plan.replans,
        });
        edits.push(self.notes_edit(
            &task.slug,
            &[(task.task_commit, plan.to_toml())],
            &format!("failed try of step {step} of {}", task.slug),
        )?);
        self.transaction(&edits)?;
        match (unfinished, &pending) {
            (Some((_, tree)), _) => {
                self.reset_to_step_start(task, worktree, tree, pending.as_ref())?
            }
            // Clean at the tip: with an update pending, the next try starts from its merge.
            (None, Some(_)) if !unreadable => {
                self.restore_lost_merge(task, worktree, pending.as_ref())?
            }
            (None, _) => {}
        }
        Ok((!attic.is_empty()).then_some(attic))
    }

    /// Keep the uncommitted work of an interrupted step in the attic and put the worktree back
    /// where the next step starts: the tip, or with an update pending, its merge
    /// (src/store/update.rs). Returns the attic ref, if there was work to keep.
    pub fn stash_unfinished(
        &self,
        task: &Task,
        worktree: &Path,
        why: &str,
    ) -> Result<Option<(String, ObjectId)>> {
        let pending = self.pending_merge(task, &self.plan(task)?)?;
        let Some((commit, tree)) = self.commit_unfinished(task, worktree, why)? else {
            self.restore_lost_merge(task, worktree, pending.as_ref())?;
            return Ok(None);
        };
        if pending.as_ref().is_some_and(|p| p.tree == tree) {
            // The merge as `update` left it: the step's start, nothing of its own.
            return Ok(None);
        }
        let (refname, edit) = self.attic_edit(&task.slug, commit, why)?;
        self.transaction(&[edit])?;
        self.reset_to_step_start(task, worktree, tree, pending.as_ref())?;
        Ok(Some((refname, commit)))
    }
}
