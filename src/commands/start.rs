//! `git agent start` and `git agent resume`: set up the task, then run the loop.

use super::Context;
use super::session::{load_config, provider_for, run_loop};
use crate::cli::{ResumeArgs, StartArgs};
use crate::error::{Exit, UserError};
use crate::store::{NewTask, Store, TaskLock};

pub fn cmd_start(ctx: &Context, args: StartArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    if args.goal.trim().is_empty() {
        return Err(UserError::usage("the goal is empty")
            .hint("say what to do: git agent start \"add a --json flag\"")
            .into());
    }
    // Problems of the repository and the name first, then of the model: all before anything
    // is written.
    if let Some(name) = args.name.as_deref() {
        crate::store::validate_slug(name)?;
        if store.ref_target(&crate::store::branch_ref(name))?.is_some() {
            return Err(crate::store::StoreError::TaskExists(name.to_string()).into());
        }
    }
    store.head_commit_id()?;
    if args.here {
        store.ensure_clean_checkout()?;
    }
    let config = load_config(ctx, &store, args.model.flags(&args.budget))?;
    let provider = if args.no_run {
        None
    } else {
        Some(provider_for(&config)?)
    };
    // What the task starts from: the working state, unless the user said HEAD (or works
    // here, where the checkout is clean).
    let carried = if args.here || args.from_head {
        None
    } else {
        let allow = crate::policy::SecretAllowList::new(&config.secret_allow, &[])?;
        store.capture_working_state(&allow)?
    };
    let task = store.create_task(&NewTask {
        goal: &args.goal,
        name: args.name.as_deref(),
        here: args.here,
        display_notes: config.display_notes,
        carried: carried.as_ref(),
    })?;
    say_start_point(ctx, &store, &task.slug, carried.as_ref(), args.from_head);
    let _lock = TaskLock::acquire(&store, &task.slug)?;
    let worktree = if args.here {
        store.switch_here(&task)?;
        store.workdir()?.to_path_buf()
    } else {
        store.ensure_worktree(&task)?
    };
    for note in store.take_notes() {
        ctx.say(format!("note: {note}"));
    }
    let Some(provider) = provider else {
        // `--no-run`: the task is created; planning and work wait for `resume`.
        ctx.out(format!("Created task {} on agent/{}", task.slug, task.slug));
        ctx.say(format!("  worktree: {}", worktree.display()));
        ctx.say(format!("  plan it:  git agent resume {}", task.slug));
        return Ok(Exit::Done);
    };
    let exit = run_loop(
        ctx,
        &store,
        &task.slug,
        worktree,
        config,
        provider,
        false,
        args.plan_only,
    )?;
    if !ctx.global.json {
        ctx.out(format!("Task {} on agent/{}", task.slug, task.slug));
    }
    Ok(exit)
}

/// Says what the task starts from: the working tree (and what was carried), or HEAD.
fn say_start_point(
    ctx: &Context,
    store: &Store,
    slug: &str,
    carried: Option<&crate::store::Carried>,
    from_head: bool,
) {
    if ctx.global.json {
        let files: Vec<serde_json::Value> = carried
            .map(|c| {
                c.changes
                    .iter()
                    .map(|(status, path)| serde_json::json!({"status": status.to_string(), "path": path}))
                    .collect()
            })
            .unwrap_or_default();
        ctx.json(&serde_json::json!({
            "type": "start_point",
            "slug": slug,
            "from": if carried.is_some() { "working tree" } else { "HEAD" },
            "carried": files,
        }));
        return;
    }
    match carried {
        Some(carried) => {
            let n = carried.changes.len();
            ctx.say(format!(
                "Starting from your working tree: {n} uncommitted file{} carried into agent/{slug} \
                 as its first checkpoint (your checkout is untouched; --from-head leaves them out):",
                if n == 1 { "" } else { "s" }
            ));
            for (status, path) in carried.changes.iter().take(20) {
                ctx.say(format!("  {status} {path}"));
            }
            if n > 20 {
                ctx.say(format!("  … and {} more", n - 20));
            }
        }
        None if from_head && store.ensure_clean_checkout().is_err() => ctx
            .say("Starting from HEAD (--from-head): your uncommitted changes are not in the task."),
        None => ctx.say("Starting from HEAD: the working tree has no uncommitted changes."),
    }
}

pub fn cmd_resume(ctx: &Context, args: ResumeArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug(args.slug.as_deref())?;
    let config = load_config(ctx, &store, args.model.flags(&args.budget))?;
    let provider = provider_for(&config)?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    let _lock = TaskLock::acquire(&store, &slug)?;
    let worktree = if plan.here {
        store.workdir()?.to_path_buf()
    } else {
        store.ensure_worktree(&task)?
    };
    for note in store.take_notes() {
        ctx.say(format!("note: {note}"));
    }
    if let Some((attic, _)) =
        store.stash_unfinished(&task, &worktree, "work of an interrupted step")?
    {
        ctx.say(format!(
            "Kept the unfinished work of the interrupted step in {attic}"
        ));
    }
    let exit = run_loop(ctx, &store, &slug, worktree, config, provider, true, false)?;
    if !ctx.global.json {
        ctx.out(format!("Task {slug} on agent/{slug}"));
    }
    Ok(exit)
}
