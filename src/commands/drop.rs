//! `git agent drop`: delete a task — branch, notes, attic and worktree.

use super::Context;
use crate::cli::DropArgs;
use crate::error::{Exit, UserError};
use crate::store::{Store, TaskLock};

pub fn cmd_drop(ctx: &Context, args: DropArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = drop_task(&store, &args)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({"type": "dropped", "slug": slug}));
    } else {
        ctx.out(format!("Dropped task {slug}"));
    }
    Ok(Exit::Done)
}

/// Delete a task under its lock (refused when it is not merged, unless `force`): what
/// `git agent drop` and the MCP `drop` tool do. Returns the slug dropped.
pub fn drop_task(store: &Store, args: &DropArgs) -> anyhow::Result<String> {
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let _lock = TaskLock::acquire(store, &slug)?;
    let branch = crate::store::branch_ref(&slug);
    if store.current_branch()?.as_deref() == Some(branch.as_str()) {
        return Err(UserError::new(format!("agent/{slug} is checked out here"))
            .hint("switch to another branch first (git switch -), then drop the task")
            .into());
    }
    let summary = store.summary(&slug).ok();
    let merged = summary.as_ref().is_some_and(|s| s.plan.merged.is_some());
    if !merged && !args.force {
        return Err(UserError::new(format!(
            "task '{slug}' is not merged; dropping it deletes its work"
        ))
        .hint(format!(
            "merge it first (git agent merge {slug}), or drop it anyway with --force"
        ))
        .into());
    }
    // Its attempts that are not picked yet go with it, first: a drop cut short leaves the
    // task, which a second drop finds again.
    let attempts = store.attempt_tasks(&slug)?;
    let _locks = attempts
        .iter()
        .map(|(_, attempt)| TaskLock::acquire(store, attempt))
        .collect::<Result<Vec<_>, _>>()?;
    for (_, attempt) in &attempts {
        store.drop_task(attempt)?;
    }
    store.drop_task(&slug)?;
    Ok(slug)
}
