//! `git agent diff`: the task's whole change against its base, shown by git itself.

use super::Context;
use crate::cli::TaskArg;
use crate::error::Exit;

pub fn cmd_diff(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug(args.slug.as_deref())?;
    let task = store.task(&slug)?;
    let status = std::process::Command::new("git")
        .current_dir(store.workdir()?)
        .args(["diff", &task.base.to_string(), &task.tip.to_string()])
        .status()?;
    Ok(if status.success() {
        Exit::Done
    } else {
        Exit::Error
    })
}
