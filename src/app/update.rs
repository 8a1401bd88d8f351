//! Bringing a task up to date with its base branch by merging the base into the task, in
//! the task's own worktree (never the user's checkout).
//!
//! A clean merge becomes a checkpoint at once: the merge commit, second parent the base, with
//! the tests run. A conflicting one leaves the conflict markers in the task's worktree and
//! adds a step to the plan; the next checkpoint — the agent's (`resume`) or a person's
//! (`checkpoint`) — is the merge commit (the plan's `update` says what it merges).

use super::{Notices, short, visible};
use crate::error::UserError;
use crate::store::Ancestry;
use crate::store::{
    CheckpointInput, CheckpointRecord, MergeTree, TaskLock, TestsSummary, TestsVerdict,
};

/// What an update did: the `--json` object of `git agent update` (with `type`) and, the same
/// value, the MCP `update` tool's result.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Updated {
    pub slug: String,
    /// The base branch merged from.
    pub from: String,
    /// The commit of the base branch (full id).
    pub base: String,
    pub state: UpdateState,
    /// The checkpoint that merges the base (`merged`).
    pub commit: Option<String>,
    pub number: Option<u32>,
    pub files_changed: Option<u32>,
    /// The tests' verdict on the merge (`merged`): pass, fail or not-run.
    pub tests: Option<String>,
    /// The plan step added to resolve the conflicts (`conflicts`).
    pub step: Option<u32>,
    /// The task's worktree, where the conflicts are (`conflicts`).
    pub worktree: Option<String>,
    pub conflicts: Vec<UpdateConflict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// The task holds the base already; nothing changed.
    UpToDate,
    /// The base merged cleanly: a checkpoint with the base as its second parent.
    Merged,
    /// The merge conflicts: the conflicts are in the task's worktree, and a plan step waits.
    Conflicts,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct UpdateConflict {
    pub path: String,
    /// git's word for the conflict: `contents`, `modify/delete`, …
    pub kind: String,
}

impl Updated {
    fn new(slug: &str, from: &str, base: gix::ObjectId, state: UpdateState) -> Updated {
        Updated {
            slug: slug.to_string(),
            from: from.to_string(),
            base: base.to_string(),
            state,
            commit: None,
            number: None,
            files_changed: None,
            tests: None,
            step: None,
            worktree: None,
            conflicts: Vec::new(),
        }
    }
}

/// Merge the task's base branch into the task, under the task's lock: what `git agent update`
/// and the MCP `update` tool do. Refusals are errors with the command to run.
pub fn update_task(
    notices: &dyn Notices,
    store: &crate::store::Store,
    slug: Option<&str>,
) -> anyhow::Result<Updated> {
    let slug = store.resolve_slug_to_change(slug)?;
    let _lock = TaskLock::acquire(store, &slug)?;
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
        return Ok(Updated::new(&slug, &branch, base, UpdateState::UpToDate));
    }
    let worktree = store.ensure_worktree(&task)?;
    let changed = store.uncheckpointed_changes(&task, &worktree)?;
    if !changed.is_empty() {
        let shown: Vec<String> = changed.iter().take(5).map(|p| visible(p)).collect();
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
            let recorded = record_clean_update(notices, store, &task, &plan, &worktree, base);
            let (outcome, tests) = match recorded {
                Ok(done) => done,
                Err(err) => {
                    // Nothing landed: the worktree goes back to the tip it still belongs to.
                    let _ = store.undo_checkout_in_worktree(&worktree, tree, tip_tree);
                    return Err(err);
                }
            };
            let mut updated = Updated::new(&slug, &branch, base, UpdateState::Merged);
            updated.commit = Some(outcome.commit.to_string());
            updated.number = Some(outcome.number);
            updated.files_changed = Some(outcome.files_changed);
            updated.tests = Some(tests.verdict.as_str().to_string());
            Ok(updated)
        }
        MergeTree::Conflicted { tree, conflicts } => {
            store.checkout_in_worktree(&worktree, tip_tree, tree)?;
            let step = store.plan_update_step(&task, &mut plan, &branch, base, &conflicts)?;
            let mut updated = Updated::new(&slug, &branch, base, UpdateState::Conflicts);
            updated.step = Some(step);
            updated.worktree = Some(worktree.display().to_string());
            updated.conflicts = conflicts
                .into_iter()
                .map(|c| UpdateConflict {
                    path: c.path,
                    kind: c.kind,
                })
                .collect();
            Ok(updated)
        }
    }
}

/// The clean merge, already in the worktree, recorded as a checkpoint with the tests run.
fn record_clean_update(
    notices: &dyn Notices,
    store: &crate::store::Store,
    task: &crate::store::Task,
    plan: &crate::store::Plan,
    worktree: &std::path::Path,
    base: gix::ObjectId,
) -> anyhow::Result<(
    crate::store::CheckpointOutcome,
    crate::store::format::record::TestRun,
)> {
    let config = super::session::load_config(notices, store, Default::default())?;
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
