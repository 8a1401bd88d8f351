//! `git agent update`: argument handling and rendering over [`crate::app::update`].

use super::{Context, visible};
use crate::app::update::{UpdateState, Updated, update_task};
use crate::cli::TaskArg;
use crate::error::Exit;

pub fn cmd_update(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let updated = update_task(ctx, &store, args.slug.as_deref())?;
    if ctx.global.json {
        let mut value = serde_json::to_value(&updated)?;
        value["type"] = "update".into();
        ctx.json(&value);
    } else {
        ctx.out(updated_text(&updated));
    }
    Ok(match updated.state {
        UpdateState::Conflicts => Exit::Blocked,
        UpdateState::UpToDate | UpdateState::Merged => Exit::Done,
    })
}

/// What `git agent update` prints.
fn updated_text(updated: &Updated) -> String {
    let Updated {
        slug, from: branch, ..
    } = updated;
    let base = updated.base.get(..8).unwrap_or(&updated.base);
    match updated.state {
        UpdateState::UpToDate => format!("Task {slug} is up to date with {branch} ({base})"),
        UpdateState::Merged => {
            let files = updated.files_changed.unwrap_or_default();
            format!(
                "Updated task {slug} with {branch} ({base}): checkpoint {} {} merges it, {files} file{} changed, tests {}",
                updated.number.unwrap_or_default(),
                updated
                    .commit
                    .as_deref()
                    .and_then(|c| c.get(..8))
                    .unwrap_or_default(),
                if files == 1 { "" } else { "s" },
                updated.tests.as_deref().unwrap_or_default()
            )
        }
        UpdateState::Conflicts => {
            let mut text = format!(
                "Merging {branch} ({base}) into task {slug} conflicts; the conflicts are in the task's worktree {} (your checkout is untouched):",
                updated.worktree.as_deref().unwrap_or_default()
            );
            for c in &updated.conflicts {
                text.push_str(&format!("\n  {}", visible(&c.path)));
                if !c.kind.is_empty() {
                    text.push_str(&format!(" ({})", c.kind));
                }
            }
            text.push_str(&format!(
                "\nStep {} of the plan is now to resolve them: git agent resume {slug} has the agent do it, with the tests run.\n\
                 Or resolve them yourself there and record it: git agent checkpoint {slug} -m \"Resolve conflicts with {branch}\"\n\
                 Either checkpoint is the merge commit.",
                updated.step.unwrap_or_default()
            ));
            text
        }
    }
}
