//! `git agent stop`: a stop request in the task's say chain (src/store/say.rs), which the run
//! holding the task — here, or a worker elsewhere once it is pushed — acts on as on Ctrl-C.

use std::time::{Duration, Instant};

use super::{Context, short};
use crate::cli::StopArgs;
use crate::error::Exit;
use crate::store::{Store, TaskLock};

/// How long `stop` waits for a run here to stop: a model call in flight may take up to the
/// loop's grace to answer, then the stop is written.
const WAIT: Duration = Duration::from_secs(60);

/// What `stop` did: the request, and whether a run here was stopped by it.
pub struct Stopping {
    pub slug: String,
    pub commit: gix::ObjectId,
    pub running: bool,
    pub stopped: bool,
    /// How the run stopped (its stop record's detail), once it has.
    pub detail: Option<String>,
}

/// Write a stop request for the task; with `wait`, wait for a run here to stop.
pub fn stop_task(store: &Store, slug: &str, wait: bool) -> anyhow::Result<Stopping> {
    // The say ref is a ref of the task: a task in a newer format is not written to.
    let task = store.task(slug)?;
    store.plan(&task)?;
    // Looked at before the request is written: a run that takes the lock after this look
    // ignores the request (src/store/lock.rs), so `running` is true of the run it stops.
    let running = TaskLock::is_held(store, slug);
    let commit = store.request_stop(slug)?;
    let mut stopped = false;
    if running && wait {
        let deadline = Instant::now() + WAIT;
        while TaskLock::is_held(store, slug) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stopped = !TaskLock::is_held(store, slug);
    }
    let detail = if stopped {
        store.summary(slug)?.stop_detail
    } else {
        None
    };
    Ok(Stopping {
        slug: slug.to_string(),
        commit,
        running,
        stopped,
        detail,
    })
}

pub fn cmd_stop(ctx: &Context, args: StopArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    if !args.no_wait && TaskLock::is_held(&store, &slug) {
        ctx.say(format!(
            "Asking the run of {slug} to stop; waiting for it …"
        ));
    }
    let Stopping {
        slug,
        commit,
        running,
        stopped,
        detail: stop,
    } = stop_task(&store, &slug, !args.no_wait)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "stop_requested",
            "slug": slug,
            "commit": commit.to_string(),
            "running": running,
            "stopped": stopped,
        }));
        return Ok(Exit::Done);
    }
    match (running, stopped) {
        (true, true) => ctx.out(format!(
            "Stopped {slug}: {}",
            stop.as_deref().unwrap_or("interrupted")
        )),
        (true, false) if args.no_wait => ctx.out(format!(
            "Asked the run of {slug} to stop ({}); it stops at once, or when a model call in \
             flight has answered",
            short(commit)
        )),
        (true, false) => ctx.out(format!(
            "Asked the run of {slug} to stop ({}); it is still stopping",
            short(commit)
        )),
        (false, _) => {
            ctx.out(format!(
                "Asked {slug} to stop ({}); no run of it is working here",
                short(commit)
            ));
            ctx.say(format!(
                "  a worker that runs it elsewhere stops once the request reaches it: git agent push <remote> {slug}"
            ));
        }
    }
    Ok(Exit::Done)
}
