//! Rolling a task back (or undoing its last rollback): the discarded tip goes to the attic.

use super::task_worktree;
use crate::error::UserError;
use crate::store::{RollbackTarget, Store, TaskLock, Update, UpdateAfterRollback};

/// Where to roll a task back to: at most one of `to`, `steps`, `last_green`, `undo`
/// (none: one step).
#[derive(Debug, Clone, Default)]
pub struct RollbackRequest {
    pub slug: Option<String>,
    pub to: Option<String>,
    pub steps: Option<u32>,
    pub last_green: bool,
    pub undo: bool,
    pub reason: Option<String>,
}

/// What a rollback did: the MCP `rollback` tool's result and, with its `update` given as
/// [`UpdateChange`]'s word, the `--json` object of `git agent rollback`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RolledBack {
    pub slug: String,
    /// The tip before.
    pub from: String,
    /// The tip now.
    pub to: String,
    /// Where the tip before is kept (for `undo`, where the undone tip went).
    pub attic: String,
    /// Uncommitted work of the worktree was kept in the attic too.
    pub kept_unfinished: bool,
    /// What became of the task's update from its base (`update`), in words, if the rollback
    /// changed it: pending again (its conflicts back in the worktree) or undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
    /// The same, as one word.
    #[serde(skip)]
    pub update_change: Option<UpdateChange>,
}

/// What a rollback did to the task's update, as one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateChange {
    /// Its conflicts are back in the worktree, for another try.
    Pending,
    /// It is gone from the plan with the commits rolled back.
    Undone,
}

/// What a rollback did to the task's update (`git agent update`), in words; `None` when it
/// did nothing to one.
pub fn update_text(slug: &str, update: &UpdateAfterRollback) -> Option<String> {
    let from = |u: &Update| format!("{} ({})", u.branch, u.base.get(..8).unwrap_or(&u.base));
    match update {
        UpdateAfterRollback::Unchanged => None,
        UpdateAfterRollback::PendingAgain(u) => Some(format!(
            "The update from {} is pending again: its conflicts are back in the task's worktree; git agent resume {slug} has the agent resolve them again",
            from(u)
        )),
        UpdateAfterRollback::Undone(u) => Some(format!(
            "The update from {} is undone with it; git agent update {slug} merges {} again",
            from(u),
            u.branch
        )),
    }
}

/// Roll a task back (or undo its last rollback) under its lock: what `git agent rollback` and
/// the MCP `rollback` tool do. Returns what moved.
pub fn rollback_task(store: &Store, args: RollbackRequest) -> anyhow::Result<RolledBack> {
    let targets = [
        args.to.is_some(),
        args.steps.is_some(),
        args.last_green,
        args.undo,
    ];
    if targets.iter().filter(|t| **t).count() > 1 {
        return Err(UserError::usage("give at most one of: to, steps, last_green, undo").into());
    }
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let _lock = TaskLock::acquire(store, &slug)?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    let worktree = task_worktree(store, &task, plan.here)?;
    let outcome = if args.undo {
        store.undo_rollback(&task, worktree.as_deref())?
    } else {
        let target = if let Some(rev) = args.to {
            RollbackTarget::To(rev)
        } else if args.last_green {
            RollbackTarget::LastGreen
        } else {
            RollbackTarget::Steps(args.steps.unwrap_or(1))
        };
        let to = store.rollback_target(&task, &target)?;
        let reason = args
            .reason
            .unwrap_or_else(|| "rolled back by the user".to_string());
        store.rollback(&task, to, &reason, worktree.as_deref())?
    };
    Ok(RolledBack {
        from: outcome.from.to_string(),
        to: outcome.to.to_string(),
        attic: outcome.attic,
        kept_unfinished: outcome.kept_unfinished,
        update: update_text(&slug, &outcome.update),
        update_change: match outcome.update {
            UpdateAfterRollback::Unchanged => None,
            UpdateAfterRollback::PendingAgain(_) => Some(UpdateChange::Pending),
            UpdateAfterRollback::Undone(_) => Some(UpdateChange::Undone),
        },
        slug,
    })
}
