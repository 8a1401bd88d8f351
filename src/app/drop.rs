//! Dropping a task: its branch, notes, attic and worktree, and its attempts not picked yet.

use crate::error::UserError;
use crate::store::{Store, TaskLock};

/// What a drop did: the `--json` object of `git agent drop` (with `type`) and the MCP `drop`
/// tool's result.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Dropped {
    pub slug: String,
}

/// Delete a task under its lock (refused when it is not merged, unless `force`): what
/// `git agent drop` and the MCP `drop` tool do.
pub fn drop_task(store: &Store, slug: Option<&str>, force: bool) -> anyhow::Result<Dropped> {
    let slug = store.resolve_slug_to_change(slug)?;
    let _lock = TaskLock::acquire(store, &slug)?;
    let branch = crate::store::branch_ref(&slug);
    if store.current_branch()?.as_deref() == Some(branch.as_str()) {
        return Err(UserError::new(format!("agent/{slug} is checked out here"))
            .hint("switch to another branch first (git switch -), then drop the task")
            .into());
    }
    let summary = store.summary(&slug).ok();
    let merged = summary.as_ref().is_some_and(|s| s.plan.merged.is_some());
    if !merged && !force {
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
    Ok(Dropped { slug })
}
