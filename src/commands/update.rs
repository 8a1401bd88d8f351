//! `git agent update`: bring a task up to date with its base branch by merging the base into
//! the task, in the task's own worktree (never the user's checkout).
//!
//! A clean merge becomes a checkpoint at once: the merge commit, second parent the base, with
//! the tests run. A conflicting one leaves the conflict markers in the task's worktree and
//! adds a step to the plan; the next checkpoint — the agent's (`resume`) or a person's
//! (`checkpoint`) — is the merge commit (the plan's `update` says what it merges).

use super::{Context, short};
use crate::cli::TaskArg;
use crate::error::{Exit, UserError};
use crate::store::sync::Ancestry;
use crate::store::{
    CheckpointInput, CheckpointRecord, MergeTree, TaskLock, TestsSummary, TestsVerdict,
};

pub fn cmd_update(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug(args.slug.as_deref())?;
    let _lock = TaskLock::acquire(&store, &slug)?;
    let task = store.task(&slug)?;
    let mut plan = store.plan(&task)?;
    if plan.here {
        return Err(UserError::new(format!(
            "task '{slug}' works in your checkout (--here); git agent update merges only in a task's private worktree"
        ))
        .hint(format!(
            "merge the base yourself there (git merge {}), then record it with git agent checkpoint {slug} -m \"Merge {}\"",
            plan.base_branch, plan.base_branch
        ))
        .into());
    }
    let branch = plan.base_branch.clone();
    if branch.is_empty() {
        return Err(UserError::new(format!(
            "task '{slug}' was started on a detached HEAD, so it has no base branch to update from"
        ))
        .into());
    }
    let Some(base) = store.ref_target(&format!("refs/heads/{branch}"))? else {
        return Err(UserError::new(format!(
            "the base branch {branch} of task '{slug}' does not exist any more"
        ))
        .into());
    };
    if let Some(waiting) = store.pending_update(&task, &plan)? {
        return Err(UserError::new(format!(
            "task '{slug}' is still resolving the conflicts of an update from {branch} ({})",
            short(waiting)
        ))
        .hint(format!(
            "git agent resume {slug} has the agent resolve them; or resolve them yourself in {} and run git agent checkpoint {slug} -m \"Resolve conflicts with {branch}\"",
            store.worktree_path(&slug).display()
        ))
        .into());
    }
    if store.is_ancestor(base, task.tip)? {
        ctx.out(format!(
            "Task {slug} is up to date with {branch} ({})",
            short(base)
        ));
        return Ok(Exit::Done);
    }
    let worktree = store.ensure_worktree(&task)?;
    let changed = store.uncheckpointed_changes(&task, &worktree)?;
    if !changed.is_empty() {
        let shown: Vec<String> = changed
            .iter()
            .take(5)
            .map(|p| super::merge::visible(p))
            .collect();
        return Err(UserError::new(format!(
            "the worktree of task '{slug}' has changes that are in no checkpoint: {}",
            shown.join(", ")
        ))
        .hint(format!(
            "record them first (git agent checkpoint {slug} -m \"…\"), or let a run finish its step (git agent resume {slug}), then update again"
        ))
        .into());
    }
    let tip_tree = store.tree_of(task.tip)?;
    match store.merge_trees(task.tip, base)? {
        MergeTree::Clean(tree) => {
            store.checkout_in_worktree(&worktree, tip_tree, tree)?;
            let recorded = record_clean_update(ctx, &store, &task, &plan, &worktree, base);
            let (outcome, tests) = match recorded {
                Ok(done) => done,
                Err(err) => {
                    // Nothing landed: the worktree goes back to the tip it still belongs to.
                    let _ = store.undo_checkout_in_worktree(&worktree, tree, tip_tree);
                    return Err(err);
                }
            };
            if ctx.global.json {
                ctx.json(&serde_json::json!({
                    "type": "update",
                    "slug": slug,
                    "from": branch,
                    "base": base.to_string(),
                    "commit": outcome.commit.to_string(),
                    "number": outcome.number,
                    "tests": tests.verdict.as_str(),
                    "conflicts": [],
                }));
            } else {
                ctx.out(format!(
                    "Updated task {slug} with {branch} ({}): checkpoint {} {} merges it, {} file{} changed, tests {}",
                    short(base),
                    outcome.number,
                    short(outcome.commit),
                    outcome.files_changed,
                    if outcome.files_changed == 1 { "" } else { "s" },
                    tests.verdict.as_str()
                ));
            }
            Ok(Exit::Done)
        }
        MergeTree::Conflicted { tree, conflicts } => {
            store.checkout_in_worktree(&worktree, tip_tree, tree)?;
            let step = store.plan_update_step(&task, &mut plan, &branch, base, &conflicts)?;
            if ctx.global.json {
                ctx.json(&serde_json::json!({
                    "type": "update",
                    "slug": slug,
                    "from": branch,
                    "base": base.to_string(),
                    "step": step,
                    "worktree": worktree.display().to_string(),
                    "conflicts": conflicts.iter().map(|c| serde_json::json!({
                        "path": c.path, "kind": c.kind,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let mut text = format!(
                    "Merging {branch} ({}) into task {slug} conflicts; the conflicts are in the task's worktree {} (your checkout is untouched):",
                    short(base),
                    worktree.display()
                );
                for c in &conflicts {
                    text.push_str(&format!("\n  {}", super::merge::visible(&c.path)));
                    if !c.kind.is_empty() {
                        text.push_str(&format!(" ({})", c.kind));
                    }
                }
                text.push_str(&format!(
                    "\nStep {step} of the plan is now to resolve them: git agent resume {slug} has the agent do it, with the tests run.\n\
                     Or resolve them yourself there and record it: git agent checkpoint {slug} -m \"Resolve conflicts with {branch}\"\n\
                     Either checkpoint is the merge commit."
                ));
                ctx.out(text);
            }
            // Not done: the task waits for the conflicts to be resolved.
            Ok(Exit::Blocked)
        }
    }
}

/// The clean merge, already in the worktree, recorded as a checkpoint with the tests run.
fn record_clean_update(
    ctx: &Context,
    store: &crate::store::Store,
    task: &crate::store::Task,
    plan: &crate::store::Plan,
    worktree: &std::path::Path,
    base: gix::ObjectId,
) -> anyhow::Result<(
    crate::store::CheckpointOutcome,
    crate::store::record::TestRun,
)> {
    let config = super::session::load_config(ctx, store, Default::default())?;
    let command = config
        .test_command
        .clone()
        .unwrap_or_else(|| plan.test_command.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tests = runtime.block_on(crate::agent::testrun::run_tests(
        &command,
        worktree,
        &config.sandbox_for(worktree),
        config.test_timeout,
    ));
    let branch = &plan.base_branch;
    let step = store.current_step(task.tip)?;
    let outcome = store.checkpoint(
        task,
        worktree,
        CheckpointInput {
            summary: &format!("Merge {branch} into the task"),
            body: &format!(
                "git agent update: {branch} at {} merged cleanly.",
                short(base)
            ),
            step,
            steps: plan.steps.len() as u32,
            expected: &format!("the task up to date with {branch}"),
            tests: TestsSummary {
                verdict: tests.verdict,
                command: tests.command.clone(),
                summary: tests.summary.clone(),
            },
            risks: if tests.verdict == TestsVerdict::Fail {
                "the tests fail after the merge"
            } else {
                "none"
            },
            next: "none",
            model: "human",
            record: CheckpointRecord {
                model: "human".into(),
                tests: tests.clone(),
                ..CheckpointRecord::default()
            },
            co_author: None,
            // A clean merge holds only lines of the tip (scanned when it was checkpointed) and
            // of the base, the user's own committed branch: nothing new to scan.
            secret_allow: None,
            scope: None,
            merge_parent: Some(base),
        },
    )?;
    Ok((outcome, tests))
}
