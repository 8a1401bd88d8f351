//! An update of the task from its base (`git agent update`) whose merge conflicted, and the
//! rule that keeps it whole: the update is **pending** while a checkpoint has not merged its
//! base and the tip is still the commit it was made on (docs/data-model.md, the plan's
//! `update`). While it is pending, the task's next step starts from the merge — the tip plus
//! the base's changes, conflict markers included — wherever it would otherwise start from the
//! bare tip: when a run begins, after a failed try or a stopped run, after a rollback back to
//! that commit; and a checkpoint that would record the merge with none of it is refused. A
//! rollback to before that commit undoes the update, so no later checkpoint claims a merge it
//! does not hold.

use std::path::Path;

use gix::ObjectId;

use super::ancestry::Ancestry;
use super::capture::snapshot::snapshot_worktree;
use super::format::plan::{Plan, PlanStep, Update};
use super::merge::Conflict;
use super::task::Task;
use super::{Result, Store, StoreError};

/// The title of the step an update adds to resolve its conflicts.
pub fn update_step_title(branch: &str) -> String {
    format!("Resolve the conflicts of merging {branch} into the task")
}

/// An update pending on the task's tip, with the tree of its merge (conflict markers included).
#[derive(Debug, Clone)]
pub struct PendingMerge {
    pub update: Update,
    pub base: ObjectId,
    pub tree: ObjectId,
}

/// What a rollback does to the task's update.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAfterRollback {
    /// No update, or the commit rolled back to holds its merge.
    Unchanged,
    /// Rolled back to the commit the update was made on: the update is pending again and its
    /// merge is back in the worktree, for another try.
    PendingAgain(Update),
    /// Rolled back to before the commit the update was made on: the update and its step are
    /// gone from the plan.
    Undone(Update),
}

/// What a run finds in the task's worktree when it begins.
#[derive(Debug, Clone, PartialEq)]
pub enum RunWorktree {
    /// Where the next step starts: the tip, or a pending update's merge as `update` left it.
    Ready,
    /// The unfinished work of an interrupted step, now kept in this attic ref.
    Stashed(String),
    /// A pending update's merge with work on its resolution (by hand, or by a run that was
    /// killed): kept, for the step to go on from.
    ResolutionKept(Update),
    /// A pending update whose merge the worktree had lost: it is back.
    MergeRestored(Update),
}

impl Store {
    /// The base commit an update of the task is still waiting to merge: see [`PendingMerge`].
    /// `None` once a checkpoint merged it, once the tip is no longer the commit it was made
    /// on, or when there is no update; so nothing needs clearing and a crash leaves no stale
    /// state.
    pub fn pending_update(&self, task: &Task, plan: &Plan) -> Result<Option<ObjectId>> {
        let Some(update) = &plan.update else {
            return Ok(None);
        };
        let Some(base) = self.update_base(update) else {
            return Ok(None);
        };
        if !update.made_on(task.tip) || Ancestry::is_ancestor(self, base, task.tip)? {
            return Ok(None);
        }
        Ok(Some(base))
    }

    /// The pending update of the task and the tree of its merge onto the tip.
    pub fn pending_merge(&self, task: &Task, plan: &Plan) -> Result<Option<PendingMerge>> {
        let Some(base) = self.pending_update(task, plan)? else {
            return Ok(None);
        };
        let tree = self.merge_trees(task.tip, base)?.tree();
        Ok(plan
            .update
            .clone()
            .map(|update| PendingMerge { update, base, tree }))
    }

    /// The base commit an update names, if it is a commit of this repository.
    fn update_base(&self, update: &Update) -> Option<ObjectId> {
        let base = ObjectId::from_hex(update.base.as_bytes()).ok()?;
        self.repo.find_commit(base).is_ok().then_some(base)
    }

    /// Put the worktree where the task's next step starts, from `from` (the tree it holds):
    /// the tip, or with an update pending on the tip, the update's merge.
    pub(crate) fn reset_to_step_start(
        &self,
        task: &Task,
        worktree: &Path,
        from: ObjectId,
        pending: Option<&PendingMerge>,
    ) -> Result<()> {
        let tip_tree = self.tree_of(task.tip)?;
        if from != tip_tree {
            let index = self.open_worktree(worktree)?.index_path();
            self.checkout_between(worktree, &index, from, tip_tree)?;
        }
        match pending {
            Some(pending) => self.checkout_in_worktree(worktree, tip_tree, pending.tree),
            None => Ok(()),
        }
    }

    /// A worktree that holds the bare tip while an update is pending gets the update's merge
    /// back.
    pub(crate) fn restore_lost_merge(
        &self,
        task: &Task,
        worktree: &Path,
        pending: Option<&PendingMerge>,
    ) -> Result<()> {
        let Some(pending) = pending else {
            return Ok(());
        };
        let tip_tree = self.tree_of(task.tip)?;
        if pending.tree == tip_tree {
            return Ok(());
        }
        self.checkout_in_worktree(worktree, tip_tree, pending.tree)
    }

    /// Ready the worktree for a run of the task: the unfinished work of an interrupted step
    /// goes to the attic, and the worktree to where the next step starts. With an update
    /// pending, work on its resolution is kept as it is, and a worktree that lost the merge
    /// (rebuilt from the branch, or cleaned by hand) gets it back.
    pub fn prepare_run_worktree(
        &self,
        task: &Task,
        worktree: &Path,
        why: &str,
    ) -> Result<RunWorktree> {
        let plan = self.plan(task)?;
        let Some(pending) = self.pending_merge(task, &plan)? else {
            return Ok(match self.stash_unfinished(task, worktree, why)? {
                Some((attic, _)) => RunWorktree::Stashed(attic),
                None => RunWorktree::Ready,
            });
        };
        let tip_tree = self.tree_of(task.tip)?;
        let holds = self.worktree_tree(task, worktree)?;
        Ok(if holds == pending.tree {
            RunWorktree::Ready
        } else if holds == tip_tree {
            self.checkout_in_worktree(worktree, tip_tree, pending.tree)?;
            RunWorktree::MergeRestored(pending.update)
        } else {
            RunWorktree::ResolutionKept(pending.update)
        })
    }

    /// The checkpoint that records a pending update must hold some of its merge: a worktree
    /// that holds exactly the tip, when the merge would change it, lost the merge (cleaned by
    /// hand, or by a command). The merge is put back and the checkpoint refused, rather than a
    /// merge commit recorded that drops the base's side.
    pub(crate) fn refuse_lost_merge(
        &self,
        task: &Task,
        worktree: &Path,
        snapshot_tree: ObjectId,
        base: ObjectId,
    ) -> Result<()> {
        let tip_tree = self.tree_of(task.tip)?;
        if snapshot_tree != tip_tree {
            return Ok(());
        }
        let merged = self.merge_trees(task.tip, base)?.tree();
        if merged == tip_tree {
            return Ok(());
        }
        self.checkout_in_worktree(worktree, tip_tree, merged)?;
        let branch = self
            .plan(task)?
            .update
            .map(|update| update.branch)
            .unwrap_or_default();
        Err(StoreError::MergeLost {
            slug: task.slug.clone(),
            branch,
            base: base.to_hex_with_len(8).to_string(),
            worktree: worktree.to_path_buf(),
        })
    }

    /// What a rollback of the task to `to` does to its update, written into `plan` (which the
    /// rollback then writes with its other changes): see [`UpdateAfterRollback`].
    pub(crate) fn update_after_rollback(
        &self,
        plan: &mut Plan,
        to: ObjectId,
    ) -> Result<UpdateAfterRollback> {
        let Some(update) = plan.update.clone() else {
            return Ok(UpdateAfterRollback::Unchanged);
        };
        let Some(base) = self.update_base(&update) else {
            return Ok(UpdateAfterRollback::Unchanged);
        };
        if Ancestry::is_ancestor(self, base, to)? {
            return Ok(UpdateAfterRollback::Unchanged);
        }
        if update.made_on(to) {
            return Ok(UpdateAfterRollback::PendingAgain(update));
        }
        forget_update(plan, self.current_step(to)?);
        Ok(UpdateAfterRollback::Undone(update))
    }

    /// The tree of what the worktree holds now (files the secret scan would refuse included:
    /// this is for comparing, not for committing).
    fn worktree_tree(&self, task: &Task, worktree: &Path) -> Result<ObjectId> {
        let repo = self.open_worktree(worktree)?;
        let snapshot = snapshot_worktree(&repo, self.tree_of(task.tip)?, None, &self.generated())?;
        Ok(snapshot.tree)
    }

    /// The paths where the task's worktree differs from the tip: work in no checkpoint, which
    /// an update must not mix into its merge.
    pub fn uncheckpointed_changes(&self, task: &Task, worktree: &Path) -> Result<Vec<String>> {
        let repo = self.open_worktree(worktree)?;
        let snapshot = snapshot_worktree(&repo, self.tree_of(task.tip)?, None, &self.generated())?;
        Ok(snapshot
            .changes
            .iter()
            .map(|change| change.path.to_string())
            .collect())
    }

    /// Write the merged tree into the task's worktree as uncommitted changes on top of the
    /// tip (`from_tree`): the conflict markers, for the agent or a person to resolve there.
    /// The index is left describing `from_tree` with no stat data, so the next snapshot —
    /// which trusts an entry whose stat data matches — hashes every file and sees every
    /// change the merge brought in, not only the files edited afterwards.
    pub fn checkout_in_worktree(
        &self,
        worktree: &Path,
        from_tree: ObjectId,
        to_tree: ObjectId,
    ) -> Result<()> {
        let repo = self.open_worktree(worktree)?;
        let index_path = repo.index_path();
        self.checkout_between(worktree, &index_path, from_tree, to_tree)?;
        self.index_without_stat_data(&index_path, from_tree)
    }

    /// Undo [`Store::checkout_in_worktree`] when what it prepared did not land: the files go
    /// from `merged_tree` back to `tip_tree`, and the index describes the tip again.
    pub fn undo_checkout_in_worktree(
        &self,
        worktree: &Path,
        merged_tree: ObjectId,
        tip_tree: ObjectId,
    ) -> Result<()> {
        let repo = self.open_worktree(worktree)?;
        let index_path = repo.index_path();
        self.checkout_between(worktree, &index_path, merged_tree, tip_tree)?;
        self.index_without_stat_data(&index_path, tip_tree)
    }

    /// Write the index at `index_path` describing `tree`, with no stat data: the next
    /// snapshot hashes every file.
    fn index_without_stat_data(&self, index_path: &Path, tree: ObjectId) -> Result<()> {
        let state = gix::index::State::from_tree(&tree, &self.repo.objects, Default::default())
            .map_err(|err| StoreError::Git {
                context: "could not build an index from the tree".into(),
                source: err.into(),
            })?;
        super::capture::index::write(&state, index_path, Some(tree))
    }

    /// Record in the plan an update whose merge conflicted: a step to resolve the conflicts,
    /// inserted as the next step to work on (after the tip's step), and the plan's `update`,
    /// which makes the next checkpoint the merge commit. An earlier update that no
    /// checkpoint merged (its tip was left behind) goes, with its step. Returns the step's
    /// number.
    pub fn plan_update_step(
        &self,
        task: &Task,
        plan: &mut Plan,
        branch: &str,
        base: ObjectId,
        conflicts: &[Conflict],
    ) -> Result<u32> {
        let done = self.current_step(task.tip)?;
        if let Some(earlier) = &plan.update {
            let merged = match self.update_base(earlier) {
                Some(earlier_base) => Ancestry::is_ancestor(self, earlier_base, task.tip)?,
                None => false,
            };
            if !merged {
                forget_update(plan, done);
            }
        }
        let done = (done as usize).min(plan.steps.len());
        let paths: Vec<String> = conflicts.iter().map(|c| c.path.clone()).collect();
        let listed: Vec<String> = conflicts
            .iter()
            .map(|c| {
                if c.kind.is_empty() {
                    c.path.clone()
                } else {
                    format!("{} ({})", c.path, c.kind)
                }
            })
            .collect();
        plan.steps.insert(
            done,
            PlanStep {
                title: update_step_title(branch),
                detail: format!(
                    "`git agent update` merged {branch} ({}) into this worktree, and these files conflict: {}. \
Each conflicting file holds both sides between <<<<<<<, ======= and >>>>>>> markers (a file deleted on one side and changed \
on the other is there as changed). Edit them so that the result keeps what both sides meant, remove every marker, and make \
the tests pass. The checkpoint of this step records the merge.",
                    base.to_hex_with_len(8),
                    listed.join(", ")
                ),
            },
        );
        let step = done as u32 + 1;
        plan.update = Some(Update {
            branch: branch.to_string(),
            base: base.to_string(),
            onto: task.tip.to_string(),
            conflicts: paths,
            step,
            at: super::format::record::now_rfc3339(),
        });
        self.write_plan(
            task,
            plan,
            &format!("update of {} from {branch}", task.slug),
        )?;
        Ok(step)
    }
}

/// Drop the plan's update, and its step when that is still ahead of the `done` steps.
fn forget_update(plan: &mut Plan, done: u32) {
    let Some(update) = plan.update.take() else {
        return;
    };
    let Some(index) = (update.step as usize).checked_sub(1) else {
        return;
    };
    let ahead = update.step > done;
    let ours = plan
        .steps
        .get(index)
        .is_some_and(|step| step.title == update_step_title(&update.branch));
    if ahead && ours {
        plan.steps.remove(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn step(title: &str) -> PlanStep {
        PlanStep {
            title: title.into(),
            detail: String::new(),
        }
    }

    fn plan_with_update(step_of_update: u32) -> Plan {
        Plan {
            steps: vec![step("one"), step("two"), step(&update_step_title("main"))],
            update: Some(Update {
                branch: "main".into(),
                step: step_of_update,
                ..Update::default()
            }),
            ..Plan::default()
        }
    }

    fn titles(plan: &Plan) -> Vec<String> {
        plan.steps.iter().map(|s| s.title.clone()).collect()
    }

    #[test]
    fn forgetting_an_update_removes_its_step_only_while_it_is_ahead_and_still_its_own() {
        let mut ahead = plan_with_update(3);
        forget_update(&mut ahead, 1);
        assert_eq!(ahead.update, None);
        assert_eq!(titles(&ahead), vec!["one", "two"]);

        // Done already: the step is history, as the checkpoints that did it say.
        let mut done = plan_with_update(3);
        forget_update(&mut done, 3);
        assert_eq!(done.update, None);
        assert_eq!(titles(&done).len(), 3);

        // A replan rewrote the steps: step 3 is no longer the update's.
        let mut replanned = plan_with_update(3);
        replanned.steps[2] = step("something else");
        forget_update(&mut replanned, 1);
        assert_eq!(titles(&replanned), vec!["one", "two", "something else"]);

        // A step number that was never valid touches nothing.
        let mut zero = plan_with_update(0);
        forget_update(&mut zero, 0);
        assert_eq!(titles(&zero).len(), 3);
    }

    #[test]
    fn an_update_recorded_without_its_tip_counts_as_made_on_any() {
        let id = ObjectId::null(gix::hash::Kind::Sha1);
        let other = ObjectId::empty_tree(gix::hash::Kind::Sha1);
        let legacy = Update::default();
        assert!(legacy.made_on(id));
        let recorded = Update {
            onto: id.to_string(),
            ..Update::default()
        };
        assert!(recorded.made_on(id));
        assert!(!recorded.made_on(other));
    }
}
