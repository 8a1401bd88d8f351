//! `git agent start` and `git agent resume`: set up the task, then run the loop.

use super::Context;
use super::session::{load_config, provider_for, run_loop, warn_unpriced};
use crate::agent::RunSpec;
use crate::cli::{ModelArgs, ResumeArgs, StartArgs};
use crate::error::{Exit, UserError};
use crate::store::{NewTask, Store, TaskLock};

pub fn cmd_start(ctx: &Context, args: StartArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    if args.goal.trim().is_empty() {
        return Err(UserError::usage("the goal is empty")
            .hint("say what to do: git agent start \"add a --json flag\"")
            .into());
    }
    let attempts = args.parallel.attempts.filter(|n| *n > 1);
    if attempts.is_some() && (args.here || args.no_run || args.plan_only) {
        return Err(UserError::usage(
            "--attempts runs each attempt in a private worktree after planning: it does not go \
             with --here, --no-run or --plan-only",
        )
        .into());
    }
    // Problems of the repository and the name first, then of the model: all before anything
    // is written.
    let name = match (args.name.clone(), attempts) {
        (Some(name), Some(n)) => {
            check_room_for_attempts(&name, n)?;
            Some(name)
        }
        // Room for `--try-<k>` in the attempts' names: the derived name is cut shorter.
        (None, Some(n)) => {
            let max = crate::store::max_len_with_attempts(n);
            let full = crate::store::slug_from_goal(&args.goal);
            let cut: String = full.chars().take(max).collect();
            let name = store.unique_slug(cut.trim_end_matches('-'))?;
            check_room_for_attempts(&name, n)?;
            Some(name)
        }
        (name, None) => name,
    };
    if let Some(name) = name.as_deref() {
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
        let provider = provider_for(&config)?;
        warn_unpriced(ctx, &config);
        Some(provider)
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
        name: name.as_deref(),
        here: args.here,
        display_notes: config.display_notes,
        carried: carried.as_ref(),
    })?;
    say_start_point(ctx, &store, &task.slug, carried.as_ref(), args.from_head);
    let _lock = TaskLock::acquire(&store, &task.slug)?;
    let checked_out = if args.here {
        store
            .switch_here(&task)
            .and_then(|()| Ok(store.workdir()?.to_path_buf()))
    } else {
        store.ensure_worktree(&task)
    };
    let worktree = match checked_out {
        Ok(worktree) => worktree,
        Err(err) => {
            // A task that cannot be checked out is no task: nothing of it stays behind.
            if let Err(again) = store.drop_task(&task.slug) {
                tracing::warn!("could not remove the task {}: {again}", task.slug);
            }
            return Err(err.into());
        }
    };
    for note in store.take_notes() {
        ctx.note(note);
    }
    if config.fsmonitor {
        // The worktree is the tip as just checked out: the monitor's first mark is valid.
        match store.fsmonitor_start(&worktree) {
            Ok(mark) => store.fsmonitor_record(&worktree, &mark),
            Err(why) => ctx.say(format!("note: no file-system monitor: {why}")),
        }
    }
    let Some(provider) = provider else {
        // `--no-run`: the task is created; planning and work wait for `resume`.
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "created", "slug": task.slug,
                "branch": task.branch(), "worktree": worktree.display().to_string()}));
            return Ok(Exit::Done);
        }
        ctx.out(format!("Created task {} on agent/{}", task.slug, task.slug));
        ctx.say(format!("  worktree: {}", worktree.display()));
        ctx.say(format!("  plan it:  git agent resume {}", task.slug));
        return Ok(Exit::Done);
    };
    if let Some(n) = attempts {
        let pick = args.parallel.pick.unwrap_or_default();
        let spec = RunSpec {
            store: &store,
            slug: task.slug.clone(),
            worktree,
            config,
            provider,
            resumed: false,
            plan_only: true,
        };
        return plan_then_attempts(ctx, spec, &args.model, n, pick);
    }
    let exit = run_loop(
        ctx,
        RunSpec {
            store: &store,
            slug: task.slug.clone(),
            worktree,
            config,
            provider,
            resumed: false,
            plan_only: args.plan_only,
        },
    )?;
    if !ctx.global.json {
        ctx.out(format!("Task {} on agent/{}", task.slug, task.slug));
    }
    Ok(exit)
}

/// A task name short enough that its attempts' names (`<name>--try-<k>`) are valid.
fn check_room_for_attempts(name: &str, n: u32) -> anyhow::Result<()> {
    crate::store::validate_slug(name)?;
    let max = crate::store::max_len_with_attempts(n);
    if name.len() > max {
        return Err(UserError::usage(format!(
            "'{name}' is too long for {n} attempts: their tasks are named {}, so the name may have \
             at most {max} characters",
            crate::store::attempt_slug(name, n)
        ))
        .hint("give a shorter --name")
        .into());
    }
    Ok(())
}

/// Plan the task if it has no plan ready (the planning run `spec`, plan only), fork `n`
/// attempts from its tip and run them; the caller holds the task's lock.
fn plan_then_attempts(
    ctx: &Context,
    spec: RunSpec<'_>,
    model: &ModelArgs,
    n: u32,
    pick: crate::cli::PickMode,
) -> anyhow::Result<Exit> {
    let (store, slug, config) = (spec.store, spec.slug.clone(), spec.config.clone());
    let slug = slug.as_str();
    let task = store.task(slug)?;
    let plan = store.plan(&task)?;
    if plan.status != crate::store::PlanStatus::Ready || plan.steps.is_empty() {
        let spec = RunSpec {
            resumed: task.tip != task.task_commit,
            plan_only: true,
            ..spec
        };
        let exit = run_loop(ctx, spec)?;
        if exit != Exit::Done {
            return Ok(exit);
        }
    }
    let task = store.task(slug)?;
    let offset = super::attempts::steps_done(store, &task)?;
    let slugs = store.create_attempts(&task, n, pick.as_str(), offset)?;
    ctx.say(format!(
        "{n} attempts of {slug} from step {}: {}",
        offset + 1,
        slugs.join(", ")
    ));
    super::attempts::run_round(ctx, store, &task, model, &config)
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
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let config = load_config(ctx, &store, args.model.flags(&args.budget))?;
    let provider = provider_for(&config)?;
    warn_unpriced(ctx, &config);
    // A task fsck rejects is not worked on: the refusal carries fsck's repair.
    let _lock = store.lock_for_work(&slug)?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    let open_round = store.open_round(&plan).is_some();
    let attempts = args.parallel.attempts.filter(|n| *n > 1);
    if plan.attempt_of.is_none() && (open_round || attempts.is_some()) {
        if plan.here {
            return Err(UserError::usage(
                "--attempts runs each attempt in a private worktree: not for a task that works in your checkout (--here)",
            )
            .into());
        }
        if open_round {
            if attempts.is_some() {
                ctx.say(
                    "The attempts already started go on; --attempts applies to the next round.",
                );
            }
            return super::attempts::run_round(ctx, &store, &task, &args.model, &config);
        }
        let n = attempts.unwrap_or(1);
        check_room_for_attempts(&slug, n)?;
        let worktree = store.ensure_worktree(&task)?;
        let pick = args.parallel.pick.unwrap_or_default();
        let spec = RunSpec {
            store: &store,
            slug: slug.clone(),
            worktree,
            config,
            provider,
            resumed: true,
            plan_only: true,
        };
        return plan_then_attempts(ctx, spec, &args.model, n, pick);
    }
    let worktree = if plan.here {
        store.workdir()?.to_path_buf()
    } else {
        store.ensure_worktree(&task)?
    };
    if !config.fsmonitor {
        // Turned off since: a monitor left running is not asked (the run's attic would ask
        // it), and stops.
        store.fsmonitor_stop(&worktree);
    }
    for note in store.take_notes() {
        ctx.note(note);
    }
    let ready = store.prepare_run_worktree(&task, &worktree, "work of an interrupted step")?;
    if let Some(line) = super::session::run_worktree_text(&ready) {
        ctx.say(line);
    }
    let exit = run_loop(
        ctx,
        RunSpec {
            store: &store,
            slug: slug.clone(),
            worktree,
            config,
            provider,
            resumed: true,
            plan_only: false,
        },
    )?;
    if !ctx.global.json {
        ctx.out(format!("Task {slug} on agent/{slug}"));
    }
    Ok(exit)
}
