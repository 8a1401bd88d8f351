//! `start --attempts N`, `resume --attempts N`, `compare` and `pick`: one plan, N attempts
//! side by side, each an ordinary task (`<task>--try-<k>`) run by a `git agent resume` of its
//! own, then one picked (docs/data-model.md#attempts).
#![expect(
    unsafe_code,
    reason = "the attempts get a parent-death signal, and the round a signal handler"
)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Context;
use crate::cli::{ModelArgs, PickArgs, TaskArg};
use crate::config::Config;
use crate::error::{Exit, UserError};
use crate::store::{
    AttemptResult, CheckpointTrailers, Parallel, Store, Task, TaskLock, TestsVerdict, attempt_slug,
};

/// How a stopped attempt is read: these states are where its run ended for this round;
/// `interrupted` and `idle` (never ran, or killed) are resumed.
fn is_final(state: &str) -> bool {
    matches!(state, "done" | "blocked" | "budget" | "error")
}

/// Set by SIGINT while the attempts run: the children get the same Ctrl-C from the terminal
/// and stop on their own; this process waits for them instead of dying first (which would
/// kill them through their parent-death signal before they write their stop records).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The flags that give each attempt its share of what is left of the budget: turns, tokens
/// and dollars are split evenly; wall time is not, since the attempts run at the same time.
fn budget_flags(
    config: &Config,
    spent: &crate::store::format::record::Usage,
    n: u32,
) -> Vec<String> {
    let n64 = u64::from(n.max(1));
    let mut flags = Vec::new();
    if let Some(max) = config.max_turns {
        let share = (max.saturating_sub(spent.turns) / n64).max(1);
        flags.extend(["--max-turns".to_string(), share.to_string()]);
    }
    if let Some(max) = config.max_tokens {
        let share = (max.saturating_sub(spent.total_tokens()) / n64).max(1);
        flags.extend(["--max-tokens".to_string(), share.to_string()]);
    }
    if let Some(max) = config.max_cost {
        let share = ((max - spent.cost_usd) / f64::from(n.max(1))).max(0.0001);
        flags.extend(["--max-cost".to_string(), format!("{share:.6}")]);
    }
    if let Some(max) = config.max_time {
        let left = max.saturating_sub(Duration::from_millis(spent.wall_ms));
        flags.extend([
            "--max-time".to_string(),
            format!("{}s", left.as_secs().max(1)),
        ]);
    }
    flags
}

/// The model flags the user gave, for the attempts' own runs.
fn model_flags(model: &ModelArgs) -> Vec<String> {
    use clap::ValueEnum;
    let mut flags = Vec::new();
    if let Some(provider) = model.provider.and_then(|p| p.to_possible_value()) {
        flags.extend(["--provider".to_string(), provider.get_name().to_string()]);
    }
    if let Some(m) = &model.model {
        flags.extend(["--model".to_string(), m.clone()]);
    }
    if let Some(m) = &model.planner_model {
        flags.extend(["--planner-model".to_string(), m.clone()]);
    }
    if let Some(file) = &model.replay_file {
        flags.extend(["--replay-file".to_string(), file.display().to_string()]);
    }
    flags
}

/// Start `git agent resume <attempt>` in the background; its error output goes to
/// `runs/<attempt>.stderr` (its events to `runs/<attempt>.jsonl`, like every run's).
fn spawn_attempt(store: &Store, slug: &str, flags: &[String]) -> anyhow::Result<Child> {
    use std::os::unix::process::CommandExt;
    let runs = store.agent_dir().join("runs");
    std::fs::create_dir_all(&runs)?;
    let stderr = std::fs::File::create(runs.join(format!("{slug}.stderr")))?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("-C")
        .arg(store.workdir()?)
        .args(["--quiet", "--color", "never", "resume", slug])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
    // The harness took the provider keys out of its environment (credentials.rs); the
    // attempt's own run needs them, as the run the MCP server starts does.
    for name in crate::policy::credentials::PROVIDER_KEY_VARS {
        if let Some(value) = crate::policy::credentials::var(name) {
            cmd.env(name, value);
        }
    }
    // SAFETY: prctl is async-signal-safe; the closure touches no memory of the parent. An
    // attempt must not outlive the run that started it (a kill -9 of that run would leave it
    // holding its lock); `resume` of the task restarts it from git.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(cmd.spawn()?)
}

/// Run the open round of attempts of `task` to their end, then pick (or stop for the user to
/// pick). The caller holds the task's lock.
pub fn run_round(
    ctx: &Context,
    store: &Store,
    task: &Task,
    model: &ModelArgs,
    config: &Config,
) -> anyhow::Result<Exit> {
    let plan = store.plan(task)?;
    let Some(round) = store.open_round(&plan).cloned() else {
        return Err(UserError::new(format!("task '{}' has no attempts to run", task.slug)).into());
    };
    let spent = store.budget(task, &plan)?.usage;
    let mut flags = model_flags(model);
    flags.extend(budget_flags(config, &spent, round.n));

    // SAFETY: installs a handler that only stores to an atomic; it is reset to the default in
    // the children by exec.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let started = Instant::now();
    let mut running: Vec<(u32, String, Child)> = Vec::new();
    for k in 1..=round.n {
        let slug = attempt_slug(&task.slug, k);
        let state = store.summary(&slug)?.state;
        if is_final(state.as_str()) {
            ctx.say(format!(
                "attempt {k} ({slug}): already stopped ({})",
                state.as_str()
            ));
            continue;
        }
        if TaskLock::is_held(store, &slug) {
            return Err(
                UserError::new(format!("attempt {k} ({slug}) is running elsewhere"))
                    .hint(format!(
                        "wait for it, then `git agent resume {}`",
                        task.slug
                    ))
                    .into(),
            );
        }
        let child = spawn_attempt(store, &slug, &flags)?;
        ctx.say(format!(
            "attempt {k}: running on agent/{slug} (git agent watch {slug})"
        ));
        running.push((k, slug, child));
    }
    while !running.is_empty() {
        let mut still = Vec::new();
        for (k, slug, mut child) in running {
            match child.try_wait()? {
                None => still.push((k, slug, child)),
                Some(status) => {
                    let summary = store.summary(&slug)?;
                    let tests = summary.last_tests.as_deref().unwrap_or("none");
                    ctx.say(format!(
                        "attempt {k}: stopped {} after {:.1}s ({} checkpoint{}, tests: {tests}){}",
                        summary.state.as_str(),
                        started.elapsed().as_secs_f64(),
                        summary.checkpoints,
                        if summary.checkpoints == 1 { "" } else { "s" },
                        if status.code().is_none() {
                            ", killed"
                        } else {
                            ""
                        }
                    ));
                    if !status.success() && !is_final(summary.state.as_str()) {
                        // It failed before its loop could record why: show what it said.
                        let said = std::fs::read_to_string(
                            store
                                .agent_dir()
                                .join("runs")
                                .join(format!("{slug}.stderr")),
                        )
                        .unwrap_or_default();
                        for line in said
                            .lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                        {
                            ctx.say(format!("  attempt {k}: {line}"));
                        }
                    }
                    if ctx.global.json {
                        ctx.json(&serde_json::json!({
                            "type": "attempt_stopped", "task": task.slug, "k": k,
                            "attempt": slug, "state": summary.state.as_str(),
                            "checkpoints": summary.checkpoints, "tests": tests,
                        }));
                    }
                }
            }
        }
        running = still;
        if !running.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let results = results_now(store, task, &round)?;
    if INTERRUPTED.load(Ordering::SeqCst) || results.iter().any(|r| !is_final(&r.stop)) {
        ctx.say(format!(
            "Not picking: some attempts did not finish. `git agent resume {0}` goes on with them; \
             `git agent compare {0}` shows where they are.",
            task.slug
        ));
        return Ok(Exit::Interrupted);
    }
    if round.pick == "manual" {
        print_results(ctx, &task.slug, &round, &results, 0);
        ctx.say(format!(
            "Pick one with `git agent pick {} <k>`: it becomes agent/{}, the others go to the attic.",
            task.slug, task.slug
        ));
        return Ok(Exit::Blocked);
    }
    let order = crate::store::rank(&results);
    let winner = results[order[0]].clone();
    pick(ctx, store, task, winner.k, results, false)?;
    Ok(match winner.stop.as_str() {
        "done" => Exit::Done,
        "blocked" => Exit::Blocked,
        "budget" => Exit::Budget,
        _ => Exit::Error,
    })
}

/// Every attempt of the open round as it stands now.
fn results_now(store: &Store, task: &Task, round: &Parallel) -> anyhow::Result<Vec<AttemptResult>> {
    (1..=round.n)
        .map(|k| Ok(store.attempt_result(task, round, k)?))
        .collect()
}

/// Pick attempt `k` of the open round under the locks of its attempts, move the task's
/// worktree to the result, and say what happened.
fn pick(
    ctx: &Context,
    store: &Store,
    task: &Task,
    k: u32,
    results: Vec<AttemptResult>,
    by_user: bool,
) -> anyhow::Result<()> {
    let _locks = results
        .iter()
        .map(|r| TaskLock::acquire(store, &attempt_slug(&task.slug, r.k)))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = store.pick_attempt(task, k, results, by_user)?;
    store.move_worktree(&task.slug, outcome.from, outcome.to)?;
    let plan = store.plan(&store.task(&task.slug)?)?;
    if let Some(round) = plan.parallel.last() {
        print_results(ctx, &task.slug, round, &outcome.results, outcome.winner);
    }
    picked(ctx, &task.slug, outcome.winner, outcome.to);
    Ok(())
}

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// The attempts side by side (or as JSON lines), then why each lost.
fn print_results(
    ctx: &Context,
    slug: &str,
    round: &Parallel,
    results: &[AttemptResult],
    picked: u32,
) {
    if ctx.global.json {
        for r in results {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("type".into(), "attempt".into());
                map.remove("plan_usage");
            }
            ctx.json(&value);
        }
        ctx.json(&serde_json::json!({
            "type": "compare", "task": slug, "n": round.n, "pick": round.pick,
            "picked": picked, "fork": round.fork,
        }));
        return;
    }
    let mut lines = vec![format!(
        "Attempts of {slug} ({}, pick: {}{})",
        round.n,
        round.pick,
        if picked == 0 {
            ", none picked yet".to_string()
        } else {
            format!(", picked: {picked}")
        }
    )];
    lines.push(format!(
        "  {:>2}  {:<8} {:<12} {:>5} {:>5} {:>11} {:>9} {:>8}  files",
        "k", "tests", "stopped", "ckpts", "tries", "diff", "cost", "time"
    ));
    for r in results {
        let mark = if r.k == picked { "*" } else { " " };
        let files = match r.files.len() {
            0 => "-".to_string(),
            n if n <= 3 => r.files.join(", "),
            n => format!("{} and {} more", r.files[..3].join(", "), n - 3),
        };
        lines.push(format!(
            "{mark} {:>2}  {:<8} {:<12} {:>5} {:>5} {:>11} {:>9} {:>8}  {files}",
            r.k,
            r.tests,
            r.stop,
            r.checkpoints,
            r.failed_tries,
            format!("+{} -{}", r.insertions, r.deletions),
            format!("${:.4}", r.cost_usd),
            human_ms(r.wall_ms),
        ));
    }
    for r in results.iter().filter(|r| r.outcome == "lost") {
        let kept = if r.attic.is_empty() {
            String::new()
        } else {
            format!(" (kept in {})", r.attic)
        };
        lines.push(format!("attempt {} lost: {}{kept}", r.k, r.reason));
    }
    ctx.out(lines.join("\n"));
}

/// The task a command about attempts means: the one named, or the task an attempt belongs to.
fn parent_of(store: &Store, given: Option<&str>) -> anyhow::Result<String> {
    let slug = store.resolve_slug(given)?;
    Ok(match store.attempt_of(&slug)? {
        Some(of) => of.task,
        None => slug,
    })
}

pub fn cmd_compare(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = parent_of(&store, args.slug.as_deref())?;
    let summary = store.summary(&slug)?;
    let Some(round) = summary.plan.parallel.last().cloned() else {
        return Err(UserError::new(format!("task '{slug}' has no attempts"))
            .hint(format!(
                "run some with `git agent resume {slug} --attempts N` (or start a task with --attempts N)"
            ))
            .into());
    };
    let results = if round.picked == 0 {
        results_now(&store, &summary.task, &round)?
    } else {
        round.results.clone()
    };
    print_results(ctx, &slug, &round, &results, round.picked);
    Ok(Exit::Done)
}

pub fn cmd_pick(ctx: &Context, args: PickArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = parent_of(&store, Some(&args.slug))?;
    let _lock = TaskLock::acquire(&store, &slug)?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    match store.open_round(&plan).cloned() {
        Some(round) => {
            if args.k == 0 || args.k > round.n {
                return Err(UserError::usage(format!(
                    "task '{slug}' has attempts 1 to {}, not {}",
                    round.n, args.k
                ))
                .into());
            }
            let results = results_now(&store, &task, &round)?;
            pick(ctx, &store, &task, args.k, results, true)?;
        }
        None => {
            let outcome = store.repick_attempt(&task, args.k)?;
            store.move_worktree(&slug, outcome.from, outcome.to)?;
            let plan = store.plan(&store.task(&slug)?)?;
            if let Some(round) = plan.parallel.last() {
                print_results(ctx, &slug, round, &outcome.results, outcome.winner);
            }
            picked(ctx, &slug, outcome.winner, outcome.to);
        }
    }
    Ok(Exit::Done)
}

/// Where the next attempts of a task start: the step after the tip's, or the tip's own step
/// again when its tests failed.
pub fn steps_done(store: &Store, task: &Task) -> anyhow::Result<u32> {
    if task.tip == task.task_commit {
        return Ok(0);
    }
    let step = store.current_step(task.tip)?;
    let message = store.commit_message(task.tip)?;
    let failed = CheckpointTrailers::parse(&crate::store::parse_trailers(&message)).tests
        == Some(TestsVerdict::Fail);
    Ok(if failed { step.saturating_sub(1) } else { step })
}

/// The line that says which attempt became the task.
fn picked(ctx: &Context, slug: &str, k: u32, tip: gix::ObjectId) {
    if ctx.global.json {
        ctx.json(
            &serde_json::json!({"type": "picked", "slug": slug, "k": k, "tip": tip.to_string()}),
        );
    } else {
        ctx.out(format!(
            "Picked attempt {k} of {slug}: agent/{slug} is at {}",
            super::short(tip)
        ));
    }
}
