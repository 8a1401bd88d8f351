//! Stopping a task's run: a stop request in the task's say chain, which the run holding the
//! task — here, or a worker elsewhere once it is pushed — acts on as on Ctrl-C.

use std::time::{Duration, Instant};

use crate::store::{Store, TaskLock};

/// How long `stop` waits for a run here to stop: a model call in flight may take up to the
/// loop's grace to answer, then the stop is written.
const WAIT: Duration = Duration::from_secs(60);

/// What `stop` did, the request and whether a run here was stopped by it: the MCP `stop`
/// tool's result and, without `detail`, the `--json` object of `git agent stop`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StopRequested {
    pub slug: String,
    /// The stop request's commit in refs/agent/<slug>/say.
    pub commit: String,
    /// Whether a run of the task was working in this repository.
    pub running: bool,
    /// Whether that run has stopped (false with `no_wait`, or while it is still stopping).
    pub stopped: bool,
    /// How the run stopped, when it has.
    pub detail: Option<String>,
}

/// Write a stop request for the task; with `wait`, wait for a run here to stop.
pub fn stop_task(store: &Store, slug: &str, wait: bool) -> anyhow::Result<StopRequested> {
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
    Ok(StopRequested {
        slug: slug.to_string(),
        commit: commit.to_string(),
        running,
        stopped,
        detail,
    })
}
