//! `git agent queue` and `git agent worker`: a fleet of workers sharing one git remote.
//!
//! The remote is the coordination store: a task is queued when it is there, a worker claims it
//! by pushing its lease with compare and swap, and every push of the task's refs goes in one
//! atomic push with a renewal of that lease, so a worker that lost its lease can never push
//! work over its successor's. The decisions (lease checks, queue states) are in
//! `store::remote::lease`, the protocol in `store::remote::sync`; this file drives them and prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gix::ObjectId;

use super::session::{RunHooks, load_config, provider_for, run_loop_with, warn_unpriced};
use super::{Context, short};
use crate::agent::{Event, Interrupt, Press, Presses, RunSpec};
use crate::cli::{QueueAction, QueueAddArgs, QueueArgs, WorkerArgs};
use crate::config::Config;
use crate::error::{Exit, UserError};
use crate::store::remote::lease::{Lease, LeaseCheck, QueueRow, QueueState, Seen, check_lease};
use crate::store::remote::sync::{PushFailure, RemoteUpdate, validate_remote};
use crate::store::{NewTask, Store, StoreError, TaskLock, lease_ref, now_rfc3339};

pub fn cmd_queue(ctx: &Context, args: QueueArgs) -> anyhow::Result<Exit> {
    match args.action {
        Some(QueueAction::Add(add)) => queue_add(ctx, add),
        Some(QueueAction::Ls(ls)) => queue_ls(ctx, ls.remote.or(args.remote)),
        None => queue_ls(ctx, args.remote),
    }
}

fn remote_of(given: Option<String>) -> anyhow::Result<String> {
    let remote = given.unwrap_or_else(|| "origin".to_string());
    validate_remote(&remote)?;
    Ok(remote)
}

fn queue_add(ctx: &Context, args: QueueAddArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = remote_of(args.remote)?;
    if args.goal.trim().is_empty() {
        return Err(UserError::usage("the goal is empty")
            .hint("say what to do: git agent queue add \"add a --json flag\"")
            .into());
    }
    store.head_commit_id()?;
    store.fetch_agent_refs(&remote)?;
    let taken = |slug: &str| -> anyhow::Result<bool> {
        Ok(store.ref_target(&crate::store::branch_ref(slug))?.is_some()
            || store
                .ref_target(&crate::store::tracking_branch(&remote, slug))?
                .is_some())
    };
    let slug = match args.name.as_deref() {
        Some(name) => {
            crate::store::validate_slug(name)?;
            if taken(name)? {
                return Err(StoreError::TaskExists(name.to_string()).into());
            }
            name.to_string()
        }
        // A name free here and on the remote as the fetch saw it.
        None => {
            let wanted = crate::store::slug_from_goal(&args.goal);
            let mut slug = wanted.clone();
            let mut n = 2;
            while taken(&slug)? {
                let suffix = format!("-{n}");
                let stem: String = wanted.chars().take(40 - suffix.len()).collect();
                slug = format!("{}{suffix}", stem.trim_end_matches('-'));
                n += 1;
            }
            slug
        }
    };
    // A queued task starts from HEAD: a worker elsewhere has only what was pushed (the task
    // commit's parent goes with it).
    let task = store.create_task(&NewTask {
        goal: &args.goal,
        name: Some(&slug),
        here: false,
        display_notes: false,
        carried: None,
    })?;
    // Another machine may have queued the same name meanwhile: the push's lease (the branch
    // must not exist there) makes one of us fail, and says so.
    let plan = store.plan_push(&remote, std::slice::from_ref(&task.slug))?;
    let created = plan
        .tasks
        .first()
        .is_some_and(|t| t.branch == crate::store::remote::sync::BranchPush::Create);
    let pushed = if created {
        store.push_updates(&remote, &plan.updates)
    } else {
        Err(PushFailure::Rejected(format!(
            "{remote} has a task named {} already",
            task.slug
        )))
    };
    match pushed {
        Ok(()) => {}
        Err(PushFailure::Rejected(said)) => {
            return Err(UserError::new(format!(
                "{remote} refused the task {}: is a task of that name queued there already?",
                task.slug
            ))
            .hint(format!(
                "git said: {said}\nthe task exists here; drop it with `git agent drop {} --force` and queue it under another --name",
                task.slug
            ))
            .into());
        }
        Err(PushFailure::Error(err)) => return Err(err.into()),
    }
    store.record_pushed(&remote, &plan.updates)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({"type": "queued", "remote": remote, "slug": task.slug, "tip": task.tip.to_string()}));
    } else {
        ctx.out(format!("Queued {} on {remote}", task.slug));
        ctx.say(format!(
            "  a worker takes it: git agent worker --remote {remote}"
        ));
    }
    Ok(Exit::Done)
}

fn queue_ls(ctx: &Context, remote: Option<String>) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = remote_of(remote)?;
    store.fetch_agent_refs(&remote)?;
    let rows = store.remote_queue(&remote)?;
    let now = chrono_now();
    let width = rows.iter().map(|r| r.slug.len()).max().unwrap_or(0);
    // A task's attempts run with their task; the queue lists the task alone.
    for row in rows.iter().filter(|row| !row.attempt) {
        let lease = row.lease.as_ref().map(|(id, l)| {
            serde_json::json!({"holder": l.holder, "host": l.host, "pid": l.pid, "since": l.since,
                "heartbeat": l.heartbeat, "duration_s": l.duration.as_secs(), "commit": id.to_string(),
                "age_s": lease_age(&store, *id, now)})
        });
        if ctx.global.json {
            ctx.json(
                &serde_json::json!({"type": "queue", "remote": remote, "slug": row.slug,
                "state": row.state.as_str(), "goal": row.goal, "checkpoints": row.checkpoints,
                "tip": row.tip.to_string(), "lease": lease,
                "stop": match &row.state { QueueState::Blocked(r) => Some(r.as_str()), _ => None },
                "detail": row.stop_detail}),
            );
            continue;
        }
        let mut line = format!(
            "{:<9} {:<width$} {:>3} ckpt  {}",
            row.state.as_str(),
            row.slug,
            row.checkpoints,
            // A teammate's words, and a lease anyone with push access wrote: one line each.
            crate::text::terminal::line(&row.goal)
        );
        if let Some((id, l)) = &row.lease {
            let age = lease_age(&store, *id, now)
                .map(|s| format!("{s}s ago"))
                .unwrap_or_else(|| "?".into());
            line.push_str(&format!(
                "\n          held by {} (pid {} on {}) since {}, heartbeat {} {age}, lease {}s",
                crate::text::terminal::line(&l.holder),
                l.pid,
                crate::text::terminal::line(&l.host),
                l.since,
                l.heartbeat,
                l.duration.as_secs()
            ));
        }
        if let QueueState::Blocked(reason) = &row.state {
            line.push_str(&format!(
                "\n          stopped: {}{}",
                reason.as_str(),
                row.stop_detail
                    .as_deref()
                    .map(|d| format!(": {}", crate::text::first_line(d, 120)))
                    .unwrap_or_default()
            ));
        }
        ctx.out(line);
    }
    if !ctx.global.json {
        let count = |s: &str| rows.iter().filter(|r| r.state.as_str() == s).count();
        ctx.say(format!(
            "{remote}: {} queued, {} claimed, {} running, {} done, {} blocked",
            count("queued"),
            count("claimed"),
            count("running"),
            count("done"),
            count("blocked")
        ));
    }
    Ok(Exit::Done)
}

/// Seconds since the Unix epoch, by this machine's clock.
fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long ago a lease last moved, by the commit time its holder wrote — for people only:
/// no decision trusts another machine's clock.
fn lease_age(store: &Store, lease: ObjectId, now: i64) -> Option<i64> {
    store.commit_time(lease).ok().map(|t| (now - t).max(0))
}

/// The signals of a worker: the first SIGTERM or SIGINT stops it after the current run (which
/// it interrupts), the second exits at once.
struct Signals {
    stop: Arc<AtomicBool>,
    current: Arc<Mutex<Option<Interrupt>>>,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let stop = Arc::new(AtomicBool::new(false));
        let current: Arc<Mutex<Option<Interrupt>>> = Arc::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered here, before the worker does anything, so no signal is missed.
        let (mut term, mut int) = {
            let _guard = runtime.enter();
            (
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            )
        };
        let (flag, slot) = (stop.clone(), current.clone());
        std::thread::spawn(move || {
            runtime.block_on(async move {
                // Under `git agent`, one Ctrl-C arrives twice (see `Presses`).
                let mut presses = Presses::default();
                loop {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                    match presses.press(Instant::now()) {
                        Press::Echo => continue,
                        Press::Again => {
                            eprintln!("\nsignalled again: exiting now");
                            std::process::exit(130);
                        }
                        Press::First => flag.store(true, Ordering::SeqCst),
                    }
                    eprintln!(
                        "\nstopping: the current run finishes its tool call, pushes and releases its lease (signal again to exit at once)"
                    );
                    if let Ok(slot) = slot.lock()
                        && let Some(interrupt) = slot.as_ref()
                    {
                        interrupt.set();
                    }
                }
            })
        });
        Ok(Signals { stop, current })
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn set_current(&self, interrupt: Option<Interrupt>) {
        if let Ok(mut slot) = self.current.lock() {
            if let Some(i) = &interrupt
                && self.stopping()
            {
                i.set();
            }
            *slot = interrupt;
        }
    }

    /// Sleep, waking early when a signal came.
    fn sleep(&self, total: Duration) {
        let end = Instant::now() + total;
        while !self.stopping() {
            let now = Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

/// Who this worker is, in its leases.
struct Me {
    holder: String,
    host: String,
    pid: u32,
}

impl Me {
    fn new() -> Me {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        let pid = std::process::id();
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Me {
            holder: format!("{host}/{pid}/{nonce:08x}"),
            host,
            pid,
        }
    }
}

/// The lease this worker holds on a task, shared by the run (which pushes after every
/// checkpoint) and the heartbeat thread.
struct Holding {
    slug: String,
    remote: String,
    commit: ObjectId,
    lease: Lease,
    /// The CAS said someone else holds it now: push nothing more.
    lost: bool,
    /// When the remote last confirmed the lease, by our clock.
    renewed: Instant,
}

impl Holding {
    /// Push what the task has that the remote lacks, with the lease renewed (heartbeat + 1)
    /// or released, in one atomic push. `Ok(false)` when the lease turned out lost.
    fn push(&mut self, store: &Store, release: bool) -> anyhow::Result<bool> {
        if self.lost {
            return Ok(false);
        }
        for attempt in 0..2 {
            let plan = store.plan_push(&self.remote, std::slice::from_ref(&self.slug))?;
            if !plan.diverged.is_empty() {
                // Only a holder writes the remote's task refs; diverging means another did.
                self.lost = true;
                return Ok(false);
            }
            let mut updates = plan.updates;
            let (update, next) = if release {
                (
                    RemoteUpdate {
                        name: lease_ref(&self.slug),
                        new: None,
                        expect: Some(self.commit),
                    },
                    None,
                )
            } else {
                let mut lease = self.lease.clone();
                lease.heartbeat += 1;
                let commit = store.lease_commit(&self.slug, &lease, Some(self.commit))?;
                (
                    RemoteUpdate {
                        name: lease_ref(&self.slug),
                        new: Some(commit),
                        expect: Some(self.commit),
                    },
                    Some((commit, lease)),
                )
            };
            updates.push(update);
            match store.push_updates(&self.remote, &updates) {
                Ok(()) => {
                    // The tracking refs are a cache; a failure to note what went out only costs
                    // a refused push later, which refetches.
                    let _ = store.record_pushed(&self.remote, &updates);
                    if let Some((commit, lease)) = next {
                        self.commit = commit;
                        self.lease = lease;
                    }
                    self.renewed = Instant::now();
                    return Ok(true);
                }
                Err(PushFailure::Rejected(_)) => {
                    // Refused: either the lease moved (lost), or our view of another ref of
                    // the task was stale. Look again before giving up.
                    store.fetch_agent_refs(&self.remote)?;
                    let now = store
                        .ref_target(&crate::store::tracking_lease(&self.remote, &self.slug))?;
                    if now != Some(self.commit) || attempt == 1 {
                        self.lost = true;
                        return Ok(false);
                    }
                }
                Err(PushFailure::Error(err)) => return Err(err.into()),
            }
        }
        Ok(false)
    }
}

/// What became of one task a worker took.
struct Worked {
    exit: Exit,
    lost: bool,
    pushes: u32,
    push_ms: u128,
}

/// How many of the oldest queued tasks an idle worker chooses its first claim among.
const CLAIM_SPREAD: usize = 4;

/// The tasks of the remote's queue a worker may claim, oldest first: the queued ones, and
/// those whose lease's heartbeat has stopped (with the lease to take over); and whether
/// another worker holds any. `seen` keeps, across polls, when each lease was last seen move.
fn candidates<'r>(
    rows: &'r [QueueRow],
    seen: &mut HashMap<String, Seen>,
    now: Instant,
) -> (Vec<(&'r QueueRow, Option<ObjectId>)>, bool) {
    let mut candidates = Vec::new();
    let mut held_elsewhere = false;
    for row in rows.iter().filter(|row| !row.attempt) {
        match row.state {
            QueueState::Queued => candidates.push((row, None)),
            QueueState::Claimed | QueueState::Running => {
                held_elsewhere = true;
                let current = row.lease.as_ref().map(|(id, l)| (*id, l.duration));
                let (check, next) = check_lease(current, seen.get(&row.slug).copied(), now);
                match next {
                    Some(next) => seen.insert(row.slug.clone(), next),
                    None => seen.remove(&row.slug),
                };
                if check == LeaseCheck::Stale {
                    candidates.push((row, current.map(|(id, _)| id)));
                }
            }
            QueueState::Done | QueueState::Blocked(_) | QueueState::Stopped => {
                seen.remove(&row.slug);
            }
        }
    }
    (candidates, held_elsewhere)
}

/// Says how a task the worker took ended (a `finished` or `lost` event).
fn finished(ctx: &Context, slug: &str, outcome: &Worked, started: Instant) {
    let what = if outcome.lost {
        "lost its lease (another worker holds it now); nothing more was pushed"
    } else {
        match outcome.exit {
            Exit::Done => "done",
            Exit::Blocked => "blocked",
            Exit::Budget => "out of budget",
            Exit::Interrupted => "interrupted",
            Exit::Error | Exit::Usage => "stopped with an error",
        }
    };
    event(
        ctx,
        serde_json::json!({"event": if outcome.lost { "lost" } else { "finished" },
            "slug": slug, "exit": outcome.exit.code(), "state": what,
            "pushes": outcome.pushes, "push_ms": outcome.push_ms,
            "wall_ms": started.elapsed().as_millis()}),
        format!(
            "{slug}: {what} ({} pushes, {} ms pushing, {} ms in all)",
            outcome.pushes,
            outcome.push_ms,
            started.elapsed().as_millis()
        ),
    );
}

pub fn cmd_worker(ctx: &Context, args: WorkerArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = remote_of(args.remote.clone())?;
    let config = load_config(ctx, &store, args.model.flags(&args.budget))?;
    // A missing key or an unreadable recording is found before any task is claimed.
    provider_for(&config)?;
    warn_unpriced(ctx, &config);
    let signals = Signals::install()?;
    let me = Me::new();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut worked = 0u32;
    ctx.say(format!("Worker {} on {remote}", me.holder));
    loop {
        if signals.stopping() {
            return Ok(Exit::Interrupted);
        }
        if args.max_tasks.is_some_and(|max| worked >= max) {
            break;
        }
        if let Err(err) = store.fetch_agent_refs(&remote) {
            // A remote that is away for a moment is waited for; one never reached is an error.
            if worked == 0 && seen.is_empty() {
                return Err(err.into());
            }
            ctx.say(format!("{err}; trying again"));
            signals.sleep(args.poll);
            continue;
        }
        let rows = store.remote_queue(&remote)?;
        let (mut candidates, held_elsewhere) = candidates(&rows, &mut seen, Instant::now());
        // Idle workers would all go for the oldest task, and all but one lose the race:
        // each starts with one of the oldest few at random instead, oldest first after it.
        let spread = candidates.len().min(CLAIM_SPREAD);
        if spread > 1 {
            candidates.swap(0, fastrand::usize(..spread));
        }
        let mut took = false;
        for (row, stale) in candidates {
            if signals.stopping() {
                break;
            }
            let started = Instant::now();
            let Some(holding) = claim(&store, &remote, &me, row, stale, args.lease)? else {
                event(
                    ctx,
                    serde_json::json!({"event": "beaten", "slug": row.slug, "remote": remote,
                        "claim_ms": started.elapsed().as_millis()}),
                    format!("{}: another worker claimed it first", row.slug),
                );
                continue;
            };
            let claim_ms = started.elapsed().as_millis();
            seen.remove(&row.slug);
            event(
                ctx,
                serde_json::json!({"event": "claimed", "slug": row.slug, "remote": remote,
                    "holder": me.holder, "claim_ms": claim_ms, "takeover": stale.is_some(),
                    "lease": short(holding.commit)}),
                format!(
                    "claimed {} in {claim_ms} ms{}",
                    row.slug,
                    if stale.is_some() {
                        " (took over a lease whose heartbeat had stopped)"
                    } else {
                        ""
                    }
                ),
            );
            let started = Instant::now();
            let result = work(ctx, &store, &config, &signals, holding);
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(err) => {
                    // The lease expires on its own; another worker takes the task over.
                    ctx.say(format!("{}: the run failed: {err:#}", row.slug));
                    event(
                        ctx,
                        serde_json::json!({"event": "failed", "slug": row.slug, "error": format!("{err:#}")}),
                        format!("{}: failed", row.slug),
                    );
                    took = true;
                    worked += 1;
                    break;
                }
            };
            finished(ctx, &row.slug, &outcome, started);
            took = true;
            worked += 1;
            break;
        }
        if signals.stopping() {
            return Ok(Exit::Interrupted);
        }
        if args.once && (took || !held_elsewhere) {
            break;
        }
        if !took {
            if !held_elsewhere && !args.follow {
                ctx.say(format!("Nothing queued on {remote}."));
                break;
            }
            signals.sleep(args.poll);
        }
    }
    Ok(Exit::Done)
}

/// A worker's own line of output: JSON `{"type": "worker", …}` with `--json`, else text.
fn event(ctx: &Context, mut json: serde_json::Value, text: String) {
    if ctx.global.json {
        json["type"] = "worker".into();
        ctx.json(&json);
    } else {
        ctx.out(text);
    }
}

/// Claim a task by pushing its lease with compare and swap: none there (`stale` `None`), or
/// exactly the stale lease we watched. `None` when another worker won.
fn claim(
    store: &Store,
    remote: &str,
    me: &Me,
    row: &QueueRow,
    stale: Option<ObjectId>,
    duration: Duration,
) -> anyhow::Result<Option<Holding>> {
    let heartbeat = row.lease.as_ref().map_or(0, |(_, l)| l.heartbeat + 1);
    let lease = Lease {
        holder: me.holder.clone(),
        host: me.host.clone(),
        pid: me.pid,
        since: now_rfc3339(),
        heartbeat,
        duration,
    };
    let commit = store.lease_commit(&row.slug, &lease, stale)?;
    let update = RemoteUpdate {
        name: lease_ref(&row.slug),
        new: Some(commit),
        expect: stale,
    };
    match store.push_updates(remote, std::slice::from_ref(&update)) {
        Ok(()) => {
            let _ = store.record_pushed(remote, std::slice::from_ref(&update));
            Ok(Some(Holding {
                slug: row.slug.clone(),
                remote: remote.to_string(),
                commit,
                lease,
                lost: false,
                renewed: Instant::now(),
            }))
        }
        Err(PushFailure::Rejected(_)) => Ok(None),
        Err(PushFailure::Error(err)) => Err(err.into()),
    }
}

/// Work on a claimed task: take the remote's state, run the loop with a push after every
/// checkpoint and a heartbeat in the background, then push the end and release the lease.
fn work(
    ctx: &Context,
    store: &Store,
    config: &Config,
    signals: &Signals,
    holding: Holding,
) -> anyhow::Result<Worked> {
    let slug = holding.slug.clone();
    let remote = holding.remote.clone();
    let duration = holding.lease.duration;
    let holding = Arc::new(Mutex::new(holding));
    let claim = Claim {
        slug: &slug,
        remote: &remote,
        duration,
        holding: &holding,
    };
    let result = run_claimed(ctx, store, config, signals, &claim);
    let mut guard = holding
        .lock()
        .map_err(|_| anyhow::anyhow!("the lease state was poisoned"))?;
    match result {
        Ok((exit, pushes, push_ms)) => {
            let started = Instant::now();
            let mut released = false;
            // The end of the run and the release go together; a remote away for a moment is
            // tried again, and if it stays away the lease expires and the work goes on elsewhere
            // from the last pushed checkpoint.
            for _ in 0..3 {
                match guard.push(store, true) {
                    Ok(ok) => {
                        released = ok;
                        break;
                    }
                    Err(err) => {
                        ctx.say(format!(
                            "{slug}: could not push the end of the run: {err:#}"
                        ));
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
            let lost = guard.lost || !released;
            Ok(Worked {
                exit,
                lost,
                pushes: pushes + u32::from(released),
                push_ms: push_ms + started.elapsed().as_millis(),
            })
        }
        Err(err) => {
            // Give the task back at once rather than make others wait out the lease.
            let _ = guard.push(store, true);
            Err(err)
        }
    }
}

/// A claimed task as its run sees it: the task, the remote it came from, the lease's
/// duration, and the lease held (shared with the heartbeat).
struct Claim<'a> {
    slug: &'a str,
    remote: &'a str,
    duration: Duration,
    holding: &'a Arc<Mutex<Holding>>,
}

/// The run itself; returns its exit, and how many pushes it made and how long they took.
fn run_claimed(
    ctx: &Context,
    store: &Store,
    config: &Config,
    signals: &Signals,
    claim: &Claim<'_>,
) -> anyhow::Result<(Exit, u32, u128)> {
    let Claim {
        slug,
        remote,
        duration,
        holding,
    } = *claim;
    // Our copy of the task becomes the remote's: a run of ours that died here may have left
    // unfinished work (into the attic) and checkpoints it never pushed (into the attic too).
    if let Ok(task) = store.task(slug) {
        let worktree = store.worktree_path(slug);
        if worktree.join(".git").is_file() {
            let _lock = TaskLock::acquire(store, slug)?;
            store.stash_unfinished(
                &task,
                &worktree,
                "work of a run that stopped before its push",
            )?;
            let theirs = store.ref_target(&crate::store::tracking_branch(remote, slug))?;
            if theirs != Some(task.tip) {
                // Disposable: rebuilt from the branch below.
                store.remove_worktree(slug)?;
            }
        }
    }
    store.adopt_task(remote, slug)?;
    let task = store.task(slug)?;
    let plan = store.plan(&task)?;
    if plan.here {
        anyhow::bail!(
            "task {slug} works in a user's checkout (--here); a worker runs only tasks with a private worktree"
        );
    }
    let _lock = store.lock_for_work(slug)?;
    let worktree: PathBuf = store.ensure_worktree(&task)?;
    for note in store.take_notes() {
        ctx.say(format!("note: {note}"));
    }
    let ready = store.prepare_run_worktree(&task, &worktree, "work of an interrupted step")?;
    if let Some(line) = super::session::run_worktree_text(&ready) {
        ctx.say(line);
    }
    let provider = provider_for(config)?;

    let interrupt = Interrupt::default();
    signals.set_current(Some(interrupt.clone()));
    // The run's events come from a future that must be `Send`, and a `Store` is not: the
    // pushes are made by the heartbeat thread, which owns a store of its own; the event hook
    // asks it and waits for the answer, so the next step starts only once this one is pushed.
    let (requests, inbox) = std::sync::mpsc::channel::<PushRequest>();
    let heartbeat = spawn_heartbeat(
        store.workdir()?.to_path_buf(),
        remote.to_string(),
        slug.to_string(),
        duration,
        holding.clone(),
        interrupt.clone(),
        inbox,
    );
    let mut pushes = 0u32;
    let mut push_ms = 0u128;
    let mut failed = false;
    let stop_run = interrupt.clone();
    let mut on_event = |event: &Event| {
        let progress = matches!(
            event,
            Event::Plan { .. }
                | Event::Checkpoint { .. }
                | Event::Rollback { .. }
                | Event::TryEnded { .. }
        );
        if !progress {
            return;
        }
        let started = Instant::now();
        let (reply, answer) = std::sync::mpsc::channel();
        if requests.send(reply).is_err() {
            stop_run.set();
            return;
        }
        match answer.recv() {
            Ok(Ok(true)) => {
                pushes += 1;
                push_ms += started.elapsed().as_millis();
            }
            Ok(Ok(false)) | Err(_) => stop_run.set(),
            Ok(Err(err)) => {
                // Not pushed now; the next checkpoint's push, or the one at the end, sends it.
                if !failed {
                    ctx.say(format!("{slug}: push failed, will retry: {err}"));
                }
                failed = true;
            }
        }
    };
    let spec = RunSpec {
        store,
        slug: slug.to_string(),
        worktree,
        config: config.clone(),
        provider,
        resumed: true,
        plan_only: false,
    };
    let exit = run_loop_with(
        ctx,
        spec,
        RunHooks {
            interrupt: Some(interrupt),
            on_event: Some(&mut on_event),
        },
    );
    // The run is over: closing the channel ends the heartbeat.
    drop(requests);
    let _ = heartbeat.join();
    signals.set_current(None);
    Ok((exit?, pushes, push_ms))
}

/// A request to the heartbeat thread: push the task's progress with a renewal of the lease,
/// and answer whether we still hold it.
type PushRequest = std::sync::mpsc::Sender<Result<bool, String>>;

/// Renew the lease every third of its duration until the run is over, push when the run asks,
/// and bring in what was said to the task on the remote (`git agent say` from anywhere). When
/// the lease is lost — or could not be renewed for its whole duration, after which another
/// worker may take it — the run is interrupted.
fn spawn_heartbeat(
    workdir: PathBuf,
    remote: String,
    slug: String,
    duration: Duration,
    holding: Arc<Mutex<Holding>>,
    interrupt: Interrupt,
    inbox: std::sync::mpsc::Receiver<PushRequest>,
) -> std::thread::JoinHandle<()> {
    use std::sync::mpsc::RecvTimeoutError;
    std::thread::spawn(move || {
        let store = match Store::discover(&workdir) {
            Ok(store) => store,
            Err(_) => {
                interrupt.set();
                return;
            }
        };
        let tick = (duration / 3).max(Duration::from_millis(200));
        let said_every = tick.min(Duration::from_secs(5));
        let mut next_beat = Instant::now() + tick;
        let mut next_said = Instant::now() + said_every;
        loop {
            let wait = next_said
                .min(next_beat)
                .saturating_duration_since(Instant::now());
            match inbox.recv_timeout(wait) {
                Ok(reply) => {
                    let answer = match holding.lock() {
                        Ok(mut guard) => guard.push(&store, false).map_err(|e| format!("{e:#}")),
                        Err(_) => Ok(false),
                    };
                    if matches!(answer, Ok(false)) {
                        interrupt.set();
                    }
                    let _ = reply.send(answer);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_said {
                next_said = Instant::now() + said_every;
                // What was said: one small fetch of the task's own refs under refs/agent/.
                if store.fetch_task_extras(&remote, &slug).is_ok() {
                    let _ = store.pull_said_of(&remote, &slug);
                }
            }
            if Instant::now() < next_beat {
                continue;
            }
            next_beat = Instant::now() + tick;
            let Ok(mut guard) = holding.lock() else {
                interrupt.set();
                return;
            };
            let renewed = renew(&store, &mut guard);
            let expired = guard.renewed.elapsed() >= duration;
            if !renewed && (guard.lost || expired) {
                interrupt.set();
                // Keep answering the run's requests (with "lost") until it stops.
                drop(guard);
                while let Ok(reply) = inbox.recv() {
                    let _ = reply.send(Ok(false));
                }
                return;
            }
        }
    })
}

/// Renew the lease alone (no task refs: the run pushes those between its events, never
/// while it is halfway through writing them).
fn renew(store: &Store, holding: &mut Holding) -> bool {
    if holding.lost {
        return false;
    }
    let mut lease = holding.lease.clone();
    lease.heartbeat += 1;
    let Ok(commit) = store.lease_commit(&holding.slug, &lease, Some(holding.commit)) else {
        return false;
    };
    let update = RemoteUpdate {
        name: lease_ref(&holding.slug),
        new: Some(commit),
        expect: Some(holding.commit),
    };
    match store.push_updates(&holding.remote, std::slice::from_ref(&update)) {
        Ok(()) => {
            let _ = store.record_pushed(&holding.remote, std::slice::from_ref(&update));
            holding.commit = commit;
            holding.lease = lease;
            holding.renewed = Instant::now();
            true
        }
        Err(PushFailure::Rejected(_)) => {
            holding.lost = true;
            false
        }
        Err(PushFailure::Error(_)) => false,
    }
}
