//! `git agent diff`: the task's whole change against its base, shown by git itself.

use super::Context;
use crate::cli::TaskArg;
use crate::error::Exit;
use crate::store::{Store, Task};

pub fn cmd_diff(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    let task = store.task(&slug)?;
    let status = store
        .git()?
        .args(["diff", &task.base.to_string(), &task.tip.to_string()])
        .status()?;
    Ok(if status.success() {
        Exit::Done
    } else {
        Exit::Error
    })
}

/// The task's whole change against its base as text, for callers that are not a terminal
/// (the MCP server): per-file line counts and the patch, without external diff drivers.
pub struct Patch {
    /// `(path, insertions, deletions)`; the counts are `None` for a binary file.
    pub files: Vec<(String, Option<u64>, Option<u64>)>,
    pub patch: String,
}

pub fn task_patch(store: &Store, task: &Task) -> anyhow::Result<Patch> {
    let (base, tip) = (task.base.to_string(), task.tip.to_string());
    let flags = [
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
    ];
    let numstat =
        store.git_output(&[&["diff", "--numstat", "-z"][..], &flags, &[&base, &tip]].concat())?;
    let files = numstat
        .split('\0')
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let mut fields = entry.splitn(3, '\t');
            let (added, deleted, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((path.to_string(), added.parse().ok(), deleted.parse().ok()))
        })
        .collect();
    let patch = store.git_output(&[&["diff"][..], &flags, &[&base, &tip]].concat())?;
    Ok(Patch { files, patch })
}
