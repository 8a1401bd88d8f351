//! Merging a task into its base branch, computed before anything moves.
//!
//! Order: which branch (the task's base, or `into`; it must be checked out here), a clean
//! checkout, the merge computed in the object store alone (a conflict stops here with nothing
//! changed), the policy checks on what the merge brings in, the list of binary and large
//! files, and only then the user's branch and checkout move.

use gix::ObjectId;

use super::{Notices, short, visible};
use crate::error::UserError;
use crate::store::{BroughtIn, LARGE_FILE_BYTES, MergeTree, Store, StoreError, TaskLock};

/// What a merge did: the `--json` object of `git agent merge` (with `type`) and the MCP
/// `merge` tool's result.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Merged {
    pub slug: String,
    /// The branch merged into: the task's base branch, or `into`.
    pub into: String,
    /// The merge (or squash) commit.
    pub commit: String,
    pub squash: bool,
    /// Failed checks and flagged files merged anyway with `force` (the `Agent-Forced` trailer).
    pub forced: Vec<String>,
    /// Binary files and files over 1 MiB the merge brought in, worth a look.
    pub brought_in: Vec<BroughtInFile>,
}

/// A binary or large file a merge brought in.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct BroughtInFile {
    pub path: String,
    pub size: u64,
    pub binary: bool,
    pub large: bool,
}

impl From<BroughtIn> for BroughtInFile {
    fn from(b: BroughtIn) -> BroughtInFile {
        BroughtInFile {
            path: b.path,
            size: b.size,
            binary: b.binary,
            large: b.large,
        }
    }
}

/// What a merge is asked to do: the task (or the one meant), squash, force, and the branch.
#[derive(Debug, Clone, Default)]
pub struct MergeRequest {
    pub slug: Option<String>,
    pub squash: bool,
    pub force: bool,
    pub into: Option<String>,
}

/// The merge into the task's base branch (or `--into`), under the task's lock: what
/// `git agent merge` and the MCP `merge` tool do.
pub fn merge_task(
    notices: &dyn Notices,
    store: &Store,
    args: &MergeRequest,
) -> anyhow::Result<Merged> {
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let _lock = TaskLock::acquire(store, &slug)?;
    // A merge killed while it moved the checkout is finished before the checkout is looked at.
    store.finish_killed_landing()?;
    let task = store.task(&slug)?;
    let mut plan = store.plan(&task)?;
    let target = target_branch(store, &slug, &plan.base_branch, args.into.as_deref())?;
    if let Some(commit) = store.landed_merge(store.head_commit_id()?, &slug, task.tip)? {
        // This tip is merged already (a merge killed before its record was written, or one
        // asked for twice): record it, merge nothing again.
        let squash = store.parents(commit)?.len() == 1;
        if plan
            .merged
            .as_ref()
            .is_none_or(|m| ObjectId::from_hex(m.commit.as_bytes()).ok() != Some(commit))
        {
            store.record_merge(&task, &mut plan, &target, &commit.to_string(), squash)?;
        }
        return Ok(Merged {
            slug,
            into: target,
            commit: commit.to_string(),
            squash,
            forced: Vec::new(),
            brought_in: Vec::new(),
        });
    }
    if let Err(err) = store.ensure_clean_checkout() {
        return Err(match err {
            StoreError::DirtyCheckout(changes) => UserError::new(format!(
                "the checkout has uncommitted changes: {changes}"
            ))
            .hint(format!(
                "the merge updates your checkout: commit or stash them first (`git stash -u`), then run git agent merge {slug} again"
            ))
            .into(),
            err => err.into(),
        });
    }
    if task.tip == task.task_commit {
        return Err(UserError::new(format!("task '{slug}' has no checkpoint to merge")).into());
    }
    let head = store.head_commit_id()?;
    let merged_tree = match store.merge_trees(head, task.tip)? {
        MergeTree::Clean(tree) => tree,
        MergeTree::Conflicted { conflicts, .. } => {
            let mut message = format!(
                "task '{slug}' conflicts with {target}; nothing was merged, and your checkout, index and HEAD are as they were. Conflicting paths:"
            );
            for c in &conflicts {
                if c.kind.is_empty() {
                    message.push_str(&format!("\n  {}", visible(&c.path)));
                } else {
                    message.push_str(&format!("\n  {} ({})", visible(&c.path), c.kind));
                }
            }
            let worktree = store.worktree_path(&slug);
            let hint = format!(
                "bring the task up to date first: `git agent update {slug}` merges {target} into the task in its own worktree and, on conflict, `git agent resume {slug}` has the agent resolve them with the tests run (or resolve them yourself in {} and record it with `git agent checkpoint {slug} -m \"Resolve conflicts with {target}\"`), then `git agent merge {slug}` again; or merge it yourself with `git merge {}` and resolve the conflicts in your checkout",
                worktree.display(),
                task.branch().trim_start_matches("refs/heads/"),
            );
            return Err(UserError::new(message).hint(hint).into());
        }
    };
    let head_tree = store.tree_of(head)?;

    let config = super::session::load_config(notices, store, Default::default())?;
    let flagged = super::checks::flagged_changes(store, head_tree, merged_tree)?;
    let checks =
        super::checks::policy_failures(store, &task, &plan, &config, head_tree, merged_tree)?;
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
    let brought_in = store.binary_or_large(head_tree, merged_tree)?;
    if !brought_in.is_empty() {
        notices.say(&brought_in_text(&brought_in));
    }

    let trailers = crate::store::merge_trailers(&slug, task.tip, &failures).render();
    let goal_line = task.goal.lines().next().unwrap_or_default();
    let (message, parents): (String, Vec<ObjectId>) = if args.squash {
        (
            format!(
                "{goal_line}\n\nSquashed from task {slug}; its checkpoints stay on agent/{slug} (tip {}).\n\n{trailers}",
                short(task.tip)
            ),
            vec![head],
        )
    } else {
        (
            format!("Merge task {slug}: {goal_line}\n\n{trailers}"),
            vec![head, task.tip],
        )
    };
    let commit = store.commit(&message, merged_tree, parents)?;
    let reflog = if args.squash {
        format!("agent: squash task {slug}")
    } else {
        format!("agent: merge task {slug}")
    };
    store.land_on_checkout(&format!("refs/heads/{target}"), head, commit, &reflog)?;
    let merged = commit.to_string();
    store.record_merge(&task, &mut plan, &target, &merged, args.squash)?;
    Ok(Merged {
        slug,
        into: target,
        commit: merged,
        squash: args.squash,
        forced: failures,
        brought_in: brought_in.into_iter().map(Into::into).collect(),
    })
}

/// The branch to merge into: `--into`, else the task's base branch; either way the branch
/// checked out here, or a refusal that says which command to run.
fn target_branch(
    store: &Store,
    slug: &str,
    base_branch: &str,
    into: Option<&str>,
) -> anyhow::Result<String> {
    let current = store
        .current_branch()?
        .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string));
    let target = match into {
        Some(into) => into.strip_prefix("refs/heads/").unwrap_or(into).to_string(),
        None if base_branch.is_empty() => {
            return Err(UserError::new(format!(
                "task '{slug}' was started on a detached HEAD, so it has no base branch to merge into"
            ))
            .hint(format!(
                "name the branch: check it out, then git agent merge {slug} --into <branch>"
            ))
            .into());
        }
        None => base_branch.to_string(),
    };
    if target.starts_with("agent/") {
        return Err(UserError::new(format!(
            "{target} is a task branch; git agent merges tasks into ordinary branches"
        ))
        .hint(format!(
            "check out the branch to merge into, then git agent merge {slug} --into <branch>"
        ))
        .into());
    }
    if current.as_deref() == Some(target.as_str()) {
        return Ok(target);
    }
    let here = match &current {
        Some(branch) => format!("the checkout is on {branch}"),
        None => "HEAD is detached".to_string(),
    };
    let mut hint = format!("switch to it first: git switch {target} && git agent merge {slug}");
    if into.is_some() {
        hint.push_str(&format!(" --into {target}"));
    }
    if let Some(branch) = current.filter(|b| !b.starts_with("agent/") && into.is_none()) {
        hint.push_str(&format!(
            "; or merge into {branch} instead: git agent merge {slug} --into {branch}"
        ));
    }
    let what = if into.is_some() {
        format!("git agent merge {slug} --into {target} merges into {target}, but {here}")
    } else {
        format!("task '{slug}' merges into its base branch {target}, but {here}")
    };
    Err(UserError::new(what).hint(hint).into())
}

/// The list printed before merging: files worth a look before they land on a shared branch.
fn brought_in_text(files: &[BroughtIn]) -> String {
    let mut text = format!(
        "The merge brings in {} binary or large (over {} MiB) file{}:",
        files.len(),
        LARGE_FILE_BYTES >> 20,
        if files.len() == 1 { "" } else { "s" }
    );
    for file in files {
        let what = match (file.binary, file.large) {
            (true, true) => "binary, large",
            (true, false) => "binary",
            _ => "large",
        };
        text.push_str(&format!(
            "\n  {} ({what}, {})",
            visible(&file.path),
            human_size(file.size)
        ));
    }
    text
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn brought_in_lists_each_file_with_what_it_is_and_its_size() {
        let files = [
            BroughtIn {
                path: "logo.png".into(),
                size: 2048,
                binary: true,
                large: false,
            },
            BroughtIn {
                path: "data.csv".into(),
                size: 3 << 20,
                binary: false,
                large: true,
            },
        ];
        assert_eq!(
            brought_in_text(&files),
            "The merge brings in 2 binary or large (over 1 MiB) files:\n  logo.png (binary, 2.0 KiB)\n  data.csv (large, 3.0 MiB)"
        );
    }
}
