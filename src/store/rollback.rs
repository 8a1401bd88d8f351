//! Rollback: move the branch back, keep the old tip in the attic, record why in the plan.

use std::path::Path;

use gix::ObjectId;

use super::format::plan::{Attempt, Plan, Update};
use super::format::record::{TestsVerdict, now_rfc3339};
use super::format::refs::{self, Edit, Expect};
use super::format::subject::Subject;
use super::state::Checkpoint;
use super::task::Task;
use super::update::UpdateAfterRollback;
use super::{Result, Store, StoreError};

#[derive(Debug, Clone)]
pub enum RollbackTarget {
    /// N checkpoints back.
    Steps(u32),
    /// A revision of the task.
    To(String),
    /// The last checkpoint whose tests passed (the task commit, and the commit that carried
    /// the user's uncommitted work in, count as green: the work starts from them).
    LastGreen,
}

#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    pub from: ObjectId,
    pub to: ObjectId,
    pub attic: String,
    /// Whether uncommitted work of the worktree was kept in the attic too.
    pub kept_unfinished: bool,
    /// What became of the task's update (`git agent update`), if it had one.
    pub update: UpdateAfterRollback,
}

impl Store {
    /// Find the commit a rollback goes back to.
    pub fn rollback_target(&self, task: &Task, target: &RollbackTarget) -> Result<ObjectId> {
        let chain = self.checkpoints(task)?;
        let to = match target {
            RollbackTarget::Steps(n) => {
                let n = *n as usize;
                if n == 0 || chain.is_empty() {
                    return Err(StoreError::NothingToRollBack(format!(
                        "task '{}' has no checkpoint to roll back",
                        task.slug
                    )));
                }
                if n > chain.len() {
                    return Err(StoreError::NothingToRollBack(format!(
                        "task '{}' has only {} checkpoint(s)",
                        task.slug,
                        chain.len()
                    )));
                }
                // `chain` is oldest first; going back n from the tip lands on chain[len-1-n],
                // or on the task commit.
                chain
                    .len()
                    .checked_sub(n + 1)
                    .map_or(task.task_commit, |i| chain[i].commit)
            }
            RollbackTarget::To(rev) => {
                let id = self
                    .repo
                    .rev_parse_single(rev.as_str())
                    .map_err(|err| {
                        StoreError::BadRevision(format!("cannot resolve '{rev}': {err}"))
                    })?
                    .detach();
                let id = self
                    .repo
                    .find_object(id)
                    .ok()
                    .and_then(|o| o.peel_to_commit().ok())
                    .map(|c| c.id)
                    .unwrap_or(id);
                if id != task.task_commit && !chain.iter().any(|c| c.commit == id) {
                    return Err(StoreError::BadRevision(format!(
                        "{rev} is not a checkpoint of task '{}'",
                        task.slug
                    )));
                }
                id
            }
            RollbackTarget::LastGreen => chain
                .iter()
                .rev()
                .find(|c| c.tests_verdict() == Some(TestsVerdict::Pass) || c.typed.carried)
                .map_or(task.task_commit, |c: &Checkpoint| c.commit),
        };
        if to == task.tip {
            return Err(StoreError::NothingToRollBack(format!(
                "task '{}' is already at {}",
                task.slug,
                short(to)
            )));
        }
        Ok(to)
    }

    /// Move the branch back to `to`. The old tip (and the worktree's uncommitted work, if
    /// any) goes to the attic, the reason into the plan's `attempts`, all in one transaction;
    /// then the worktree is moved to the new tip, rewriting only the files that differ.
    pub fn rollback(
        &self,
        task: &Task,
        to: ObjectId,
        reason: &str,
        worktree: Option<&Path>,
    ) -> Result<RollbackOutcome> {
        // The index as it is, to put back byte for byte if the rollback fails halfway: the
        // files' restore rebuilds it from trees, which would stage the uncommitted work.
        let saved_index = match worktree {
            Some(wt) => {
                let path = self.open_worktree(wt)?.index_path();
                let bytes = std::fs::read(&path).ok();
                Some((path, bytes))
            }
            None => None,
        };
        let unfinished = match worktree {
            Some(wt) => self.commit_unfinished(
                task,
                wt,
                &format!("uncommitted work when rolling back: {reason}"),
            )?,
            None => None,
        };
        let kept = unfinished.map_or(task.tip, |(commit, _)| commit);
        let (attic, attic_edit) =
            self.attic_edit(&task.slug, kept, &format!("rollback of {}", task.slug))?;

        let mut plan = self.plan(task)?;
        let update = self.update_after_rollback(&mut plan, to)?;
        plan.attempts.push(Attempt {
            at: now_rfc3339(),
            step: self.current_step(task.tip)?,
            reason: reason.to_string(),
            discarded: task.tip.to_string(),
            attic: attic.clone(),
            restored: to.to_string(),
            ..Attempt::default()
        });
        let notes = self.notes_edit(
            &task.slug,
            &[(task.task_commit, plan.to_toml())],
            &format!("rollback of {}", task.slug),
        )?;
        let branch = Edit::update(
            refs::branch(&task.slug),
            Expect::At(task.tip),
            to,
            format!("agent: rollback to {}: {reason}", short(to)),
        );
        // Everything the checkout needs is read and checked before the first ref changes.
        let checkout = match worktree {
            Some(wt) => {
                let from_tree = match unfinished {
                    Some((_, tree)) => tree,
                    None => self.tree_of(task.tip)?,
                };
                let index = self.open_worktree(wt)?.index_path();
                Some((
                    wt,
                    index,
                    self.prepare_checkout(from_tree, self.tree_of(to)?)?,
                ))
            }
            None => None,
        };
        let undo = self.undo_edits(&[&branch, &attic_edit, &notes])?;
        self.transaction(&[branch, attic_edit, notes])?;
        if let Some((wt, index, prepared)) = checkout
            && let Err(err) = self.apply_checkout(wt, &index, prepared)
        {
            // The files are back as they were; so go the refs and the index.
            if let Err(again) = self.transaction(&undo) {
                tracing::warn!("could not undo the refs of a failed rollback: {again}");
            }
            if let Some((path, Some(bytes))) = saved_index
                && let Err(again) = restore_file(&path, &bytes)
            {
                tracing::warn!("could not put back {}: {again}", path.display());
            }
            return Err(err);
        }
        if let Some(wt) = worktree {
            // Back on the commit an update was made on: the next try starts from its merge.
            self.restore_merge_on(task, &plan, to, wt)?;
        }
        Ok(RollbackOutcome {
            from: task.tip,
            to,
            attic,
            kept_unfinished: unfinished.is_some(),
            update,
        })
    }

    /// Undo the latest rollback: the branch goes back to the tip kept in the newest attic
    /// entry; the current tip is kept in the attic in turn.
    pub fn undo_rollback(&self, task: &Task, worktree: Option<&Path>) -> Result<RollbackOutcome> {
        let entry = self.attic(&task.slug)?.pop().ok_or_else(|| {
            StoreError::NothingToRollBack(format!("task '{}' has nothing in its attic", task.slug))
        })?;
        // An attic commit of unfinished work sits on top of the tip it belonged to.
        let message = self.commit_message(entry.commit)?;
        let restored = if matches!(Subject::of(&message), Some(Subject::Unfinished(_))) {
            self.parents(entry.commit)?
                .first()
                .copied()
                .unwrap_or(entry.commit)
        } else {
            entry.commit
        };
        let mut edits = vec![Edit::update(
            refs::branch(&task.slug),
            Expect::At(task.tip),
            restored,
            format!("agent: undo rollback from {}", entry.refname),
        )];
        let (attic, attic_edit) = self.attic_edit(&task.slug, task.tip, "undo of a rollback")?;
        edits.push(attic_edit);
        let mut plan = self.plan(task)?;
        plan.attempts.push(Attempt {
            at: now_rfc3339(),
            step: self.current_step(task.tip)?,
            reason: format!(
                "rollback undone: restored {} from {}",
                short(restored),
                entry.refname
            ),
            discarded: task.tip.to_string(),
            attic: attic.clone(),
            restored: restored.to_string(),
            ..Attempt::default()
        });
        edits.push(self.notes_edit(
            &task.slug,
            &[(task.task_commit, plan.to_toml())],
            "undo rollback",
        )?);
        // The target is read and checked before the first ref changes.
        if worktree.is_some() {
            self.prepare_checkout(self.tree_of(task.tip)?, self.tree_of(restored)?)?;
        }
        let undo = self.undo_edits(&edits.iter().collect::<Vec<_>>())?;
        self.transaction(&edits)?;
        let mut update = UpdateAfterRollback::Unchanged;
        if let Some(wt) = worktree {
            let moved = self.undo_rollback_files(task, wt, restored);
            if let Err(err) = moved {
                if let Err(again) = self.transaction(&undo) {
                    tracing::warn!("could not undo the refs of a failed undo: {again}");
                }
                return Err(err);
            }
            if let Some(pending) = self.restore_merge_on(task, &plan, restored, wt)? {
                update = UpdateAfterRollback::PendingAgain(pending);
            }
        }
        Ok(RollbackOutcome {
            from: task.tip,
            to: restored,
            attic,
            kept_unfinished: false,
            update,
        })
    }
}

impl Store {
    /// After the branch moved to `tip` and the worktree with it: with an update pending on
    /// `tip`, its merge goes into the worktree. Returns that update.
    fn restore_merge_on(
        &self,
        task: &Task,
        plan: &Plan,
        tip: ObjectId,
        wt: &Path,
    ) -> Result<Option<Update>> {
        let moved = Task {
            tip,
            ..task.clone()
        };
        let Some(pending) = self.pending_merge(&moved, plan)? else {
            return Ok(None);
        };
        self.restore_lost_merge(&moved, wt, Some(&pending))?;
        Ok(Some(pending.update))
    }

    /// The worktree's part of undoing a rollback: its uncommitted work kept in the attic,
    /// then the files moved to `restored`.
    fn undo_rollback_files(&self, task: &Task, wt: &Path, restored: ObjectId) -> Result<()> {
        let index = self.open_worktree(wt)?.index_path();
        // Leave uncommitted work alone: move from the worktree as it is now.
        let from =
            match self.commit_unfinished(task, wt, "uncommitted work when undoing a rollback")? {
                Some((commit, tree)) => {
                    let (_, edit) = self.attic_edit(&task.slug, commit, "undo of a rollback")?;
                    self.transaction(&[edit])?;
                    tree
                }
                None => self.tree_of(task.tip)?,
            };
        let prepared = self.prepare_checkout(from, self.tree_of(restored)?)?;
        self.apply_checkout(wt, &index, prepared)
    }

    /// The edits that put back what `edits` change, each expecting the value `edits` set.
    fn undo_edits(&self, edits: &[&Edit]) -> Result<Vec<Edit>> {
        edits
            .iter()
            .filter_map(|edit| {
                let before = match self.ref_target(&edit.name) {
                    Ok(before) => before,
                    Err(err) => return Some(Err(err)),
                };
                let message = "agent: undo of a failed rollback";
                let name = edit.name.clone();
                Some(Ok(match (before, edit.new) {
                    (Some(old), Some(new)) => Edit::update(name, Expect::At(new), old, message),
                    (Some(old), None) => Edit::update(name, Expect::Absent, old, message),
                    (None, Some(new)) => Edit::delete(name, new),
                    (None, None) => return None,
                }))
            })
            .collect()
    }
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a crash
/// leaves the old file or the new one.
fn restore_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) fn short(id: ObjectId) -> String {
    id.to_hex_with_len(8).to_string()
}
