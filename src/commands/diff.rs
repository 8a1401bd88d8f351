//! `git agent diff`: the task's whole change against its base, shown by git itself, so that it
//! pages and colours as `git diff` does: `GIT_PAGER`, `core.pager`, `PAGER`, `pager.diff`,
//! `color.ui`, `color.diff`, and what `git --no-pager agent` and `git -p agent` pass down
//! (`GIT_PAGER=cat`, `GIT_PAGER_IN_USE`). `--color` and `NO_COLOR` are ours and win.
//! With `--json`, one `diff` object: the files with their status and counts, and the patch.

use std::process::Stdio;

use super::Context;
use crate::cli::TaskArg;
use crate::error::Exit;
use crate::store::{GitCommand, Store, Task};
use crate::ui::ColorChoice;

/// git's variables that would point it at another repository or worktree than the one named.
/// `GIT_CONFIG_PARAMETERS` stays: it is how `git -c color.diff=… agent diff` reaches us.
const REPOSITORY_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
];

/// git on the repository's common directory, named and run from inside it: a diff of two
/// commits needs no worktree, and git never discovers a repository from one (a task's
/// worktree is the model's territory).
fn git(store: &Store) -> GitCommand {
    let dir = store.common_dir();
    let mut cmd = GitCommand::new(dir, None);
    for var in REPOSITORY_ENV {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir);
    cmd
}

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

/// One file of a task's change.
pub struct FileChange {
    pub path: String,
    /// git's status letter: `A`, `M`, `D`, `T`.
    pub status: String,
    /// `None` for a binary file.
    pub insertions: Option<u64>,
    pub deletions: Option<u64>,
}

/// The task's whole change against its base as text, for callers that are not a terminal
/// (`--json`, the MCP server): the files and the patch, without external diff drivers.
pub struct Patch {
    pub files: Vec<FileChange>,
    pub patch: String,
}

fn output(store: &Store, args: &[&str]) -> anyhow::Result<String> {
    let out = git(store).args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn task_patch(store: &Store, task: &Task) -> anyhow::Result<Patch> {
    let (base, tip) = (task.base.to_string(), task.tip.to_string());
    let flags = [
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
    ];
    let diff = |what: &[&str]| {
        output(
            store,
            &[
                &["diff"][..],
                what,
                &flags,
                &[base.as_str(), tip.as_str(), "--"],
            ]
            .concat(),
        )
    };
    let numstat = diff(&["--numstat", "-z"])?;
    let statuses = diff(&["--name-status", "-z"])?;
    // `--name-status -z`: status NUL path NUL, pair after pair (no renames: one path each).
    let mut status_of = std::collections::HashMap::new();
    let mut fields = statuses.split('\0');
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        status_of.insert(path.to_string(), status.to_string());
    }
    let files = numstat
        .split('\0')
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let mut fields = entry.splitn(3, '\t');
            let (added, deleted, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(FileChange {
                path: path.to_string(),
                status: status_of.get(path).cloned().unwrap_or_default(),
                insertions: added.parse().ok(),
                deletions: deleted.parse().ok(),
            })
        })
        .collect();
    let patch = diff(&[])?;
    Ok(Patch { files, patch })
}
