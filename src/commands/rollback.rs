//! `git agent rollback`: move the branch back; the discarded tip goes to the attic.

use super::{Context, short, task_worktree};
use crate::cli::RollbackArgs;
use crate::error::{Exit, UserError};
use crate::store::{RollbackOutcome, RollbackTarget, Store, TaskLock};

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
        }));
    } else if undo {
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
    Ok(Exit::Done)
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
