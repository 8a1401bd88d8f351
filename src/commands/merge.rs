//! `git agent merge`: policy checks, then merge the task into the checked-out branch.

use super::{Context, short};
use crate::cli::MergeArgs;
use crate::error::{Exit, UserError};
use crate::store::{Store, TaskLock};

pub fn cmd_merge(ctx: &Context, args: MergeArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let merged = merge_task(ctx, &store, &args)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "merge",
            "slug": merged.slug,
            "into": merged.into,
            "commit": merged.commit,
            "squash": merged.squash,
            "forced": merged.forced,
        }));
        return Ok(Exit::Done);
    }
    ctx.out(format!(
        "Merged task {} into {} as {}",
        merged.slug,
        merged.into,
        &merged.commit[..8.min(merged.commit.len())]
    ));
    Ok(Exit::Done)
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    pub slug: String,
    /// The branch merged into.
    pub into: String,
    /// The merge (or squash) commit.
    pub commit: String,
    pub squash: bool,
    /// Failed checks and flagged files merged anyway with `force` (the `Agent-Forced` trailer).
    pub forced: Vec<String>,
}

/// Policy checks, then the merge into the checked-out branch, under the task's lock: what
/// `git agent merge` and the MCP `merge` tool do.
pub fn merge_task(ctx: &Context, store: &Store, args: &MergeArgs) -> anyhow::Result<MergeOutcome> {
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let _lock = TaskLock::acquire(store, &slug)?;
    let task = store.task(&slug)?;
    let mut plan = store.plan(&task)?;
    let Some(target) = store
        .current_branch()?
        .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string))
    else {
        return Err(UserError::new("HEAD is detached; there is no branch to merge into")
            .hint(format!("check out the branch to merge into (e.g. git switch {}), then run git agent merge {slug}", if plan.base_branch.is_empty() { "main" } else { &plan.base_branch }))
            .into());
    };
    if target.starts_with("agent/") {
        return Err(
            UserError::new(format!("the checkout is on the task branch {target}"))
                .hint("check out the branch to merge into first, e.g. git switch main")
                .into(),
        );
    }
    store.ensure_clean_checkout()?;
    if task.tip == task.task_commit {
        return Err(UserError::new(format!("task '{slug}' has no checkpoint to merge")).into());
    }

    let config = super::session::load_config(ctx, store, Default::default())?;
    let flagged = super::checks::flagged_changes(store, &task)?;
    let checks = super::checks::policy_failures(store, &task, &plan, &config)?;
    let failures: Vec<String> = flagged.iter().chain(&checks).cloned().collect();
    if !failures.is_empty() && !args.force {
        let mut message = format!("policy checks failed for task '{slug}':");
        for f in &failures {
            message.push_str(&format!("\n  - {f}"));
        }
        let review = format!(
            "these files decide what runs on the next checkout, build or CI run: review them (git agent diff {slug}), then merge with --force to accept them (recorded in an Agent-Forced trailer)"
        );
        let hint = match (flagged.is_empty(), checks.is_empty()) {
            (false, true) => review,
            (false, false) => format!(
                "fix the failed checks on the task (git agent resume); {review}"
            ),
            _ => "fix them on the task (git agent resume), or merge anyway with --force (recorded in a trailer)".to_string(),
        };
        return Err(UserError::new(message).hint(hint).into());
    }
    let trailers = crate::store::merge_trailers(&slug, task.tip, &failures).render();
    let goal_line = task.goal.lines().next().unwrap_or_default();
    if args.squash {
        let message = format!(
            "{goal_line}\n\nSquashed from task {slug}; its checkpoints stay on agent/{slug} (tip {}).\n\n{trailers}",
            short(task.tip)
        );
        store.git_output(&["merge", "--squash", &task.tip.to_string()])?;
        store.git_output(&["commit", "--no-verify", "-m", &message])?;
    } else {
        let message = format!("Merge task {slug}: {goal_line}\n\n{trailers}");
        store.git_output(&[
            "merge",
            "--no-ff",
            "--no-verify",
            "-m",
            &message,
            &task.branch(),
        ])?;
    }
    let merged = store.git_output(&["rev-parse", "HEAD"])?.trim().to_string();
    store.record_merge(&task, &mut plan, &target, &merged, args.squash)?;
    Ok(MergeOutcome {
        slug,
        into: target,
        commit: merged,
        squash: args.squash,
        forced: failures,
    })
}
