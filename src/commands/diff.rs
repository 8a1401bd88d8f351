//! `git agent diff`: the task's whole change against its base, shown by git itself, so that it
//! pages and colours as `git diff` does: `GIT_PAGER`, `core.pager`, `PAGER`, `pager.diff`,
//! `color.ui`, `color.diff`, and what `git --no-pager agent` and `git -p agent` pass down
//! (`GIT_PAGER=cat`, `GIT_PAGER_IN_USE`). `--color` and `NO_COLOR` are ours and win.
//! With `--json`, one `diff` object: the files with their status and counts, and the patch.

use super::Context;
use crate::app::read::{git_on_common_dir as git, task_patch};
use crate::cli::TaskArg;
use crate::error::Exit;
use crate::ui::ColorChoice;

/// The colour option `git diff` gets: none when git's own rules decide.
fn color_option(ctx: &Context) -> Option<&'static str> {
    match ctx.global.color {
        ColorChoice::Always => Some("--color=always"),
        ColorChoice::Never => Some("--no-color"),
        ColorChoice::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            Some("--no-color")
        }
        ColorChoice::Auto => None,
    }
}

pub fn cmd_diff(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    let task = store.task(&slug)?;
    if ctx.global.json {
        let patch = task_patch(&store, &task)?;
        let files: Vec<serde_json::Value> = patch
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "status": f.status,
                    "insertions": f.insertions,
                    "deletions": f.deletions,
                    "binary": f.insertions.is_none(),
                })
            })
            .collect();
        ctx.json(&serde_json::json!({
            "type": "diff",
            "slug": slug,
            "base": task.base.to_string(),
            "tip": task.tip.to_string(),
            "files": files,
            "patch": patch.patch,
        }));
        return Ok(Exit::Done);
    }
    let mut cmd = git(&store);
    cmd.arg("diff");
    cmd.args(color_option(ctx));
    let status = cmd
        .arg(task.base.to_string())
        .arg(task.tip.to_string())
        .arg("--")
        .status()?;
    Ok(if status.success() {
        Exit::Done
    } else {
        Exit::Error
    })
}
