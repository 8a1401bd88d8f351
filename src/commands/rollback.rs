//! `git agent rollback`: move the branch back; the discarded tip goes to the attic.

use super::{Context, short, task_worktree};
use crate::cli::RollbackArgs;
use crate::error::{Exit, UserError};
use crate::store::{RollbackOutcome, RollbackTarget, Store, TaskLock, Update, UpdateAfterRollback};

pub fn cmd_rollback(ctx: &Context, args: RollbackArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let undo = args.undo;
    let (slug, outcome) = rollback_task(&store, args)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "rollback",
            "slug": slug,
            "from": outcome.from.to_string(),
            "to": outcome.to.to_string(),
            "attic": outcome.attic,
            "kept_unfinished": outcome.kept_unfinished,
            "update": match outcome.update {
                UpdateAfterRollback::Unchanged => None,
                UpdateAfterRollback::PendingAgain(_) => Some("pending"),
                UpdateAfterRollback::Undone(_) => Some("undone"),
            },
        }));
        return Ok(Exit::Done);
    }
    if undo {
        ctx.out(format!(
            "Restored agent/{slug} to {} (the rollback is undone); the tip it had, {}, is kept in {}",
            short(outcome.to),
            short(outcome.from),
            outcome.attic
        ));
    } else {
        ctx.out(format!(
            "Rolled agent/{slug} back from {} to {}; the old tip is kept in {}",
            short(outcome.from),
            short(outcome.to),
            outcome.attic
        ));
        ctx.say(format!("  undo with: git agent rollback {slug} --undo"));
    }
    if let Some(text) = update_text(&slug, &outcome.update) {
        ctx.say(text);
    }
    Ok(Exit::Done)
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
/// the MCP `rollback` tool do. Returns the task's slug and what moved.
pub fn rollback_task(
    store: &Store,
    args: RollbackArgs,
) -> anyhow::Result<(String, RollbackOutcome)> {
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
    Ok((slug, outcome))
}
