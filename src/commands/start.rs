//! `git agent start` and `git agent resume`.

use super::Context;
use crate::cli::{ResumeArgs, StartArgs};
use crate::error::{Exit, UserError};
use crate::store::{NewTask, TaskLock};

pub fn cmd_start(ctx: &Context, args: StartArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    if args.goal.trim().is_empty() {
        return Err(UserError::usage("the goal is empty")
            .hint("say what to do: git agent start \"add a --json flag\"")
            .into());
    }
    if args.here {
        store.ensure_clean_checkout()?;
    }
    let display_notes = store
        .git_output(&["config", "--type=bool", "agent.displayNotes"])
        .map(|v| v.trim() != "false")
        .unwrap_or(true);
    let task = store.create_task(&NewTask {
        goal: &args.goal,
        name: args.name.as_deref(),
        here: args.here,
        display_notes,
    })?;
    let _lock = TaskLock::acquire(&store, &task.slug)?;
    let worktree = if args.here {
        store.switch_here(&task)?;
        store.workdir()?.to_path_buf()
    } else {
        store.ensure_worktree(&task)?
    };
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "task_created",
            "slug": task.slug,
            "branch": task.branch(),
            "task_commit": task.task_commit.to_string(),
            "base": task.base.to_string(),
            "worktree": worktree.display().to_string(),
        }));
    } else {
        ctx.out(format!(
            "Created task {} on {}",
            task.slug,
            task.branch().trim_start_matches("refs/heads/")
        ));
        ctx.say(format!("  worktree: {}", worktree.display()));
        ctx.say(format!(
            "  plan:     git notes --ref agent/{} show {}",
            task.slug,
            super::short(task.task_commit)
        ));
    }
    Ok(Exit::Done)
}

pub fn cmd_resume(ctx: &Context, args: ResumeArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug(args.slug.as_deref())?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    let _lock = TaskLock::acquire(&store, &slug)?;
    let worktree = if plan.here {
        store.workdir()?.to_path_buf()
    } else {
        store.ensure_worktree(&task)?
    };
    if let Some(attic) = store.stash_unfinished(&task, &worktree, "work of an interrupted step")? {
        ctx.say(format!(
            "Kept the unfinished work of the interrupted step in {attic}"
        ));
    }
    ctx.out(format!(
        "Task {slug} is ready at {} in {}",
        super::short(task.tip),
        worktree.display()
    ));
    Ok(Exit::Done)
}
