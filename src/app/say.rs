//! Guidance for a task, stored in git (the task's say chain), without the lock.

use crate::error::UserError;
use crate::store::{Store, TaskLock};

/// What `say` did: the `--json` object of `git agent say` (with `type`) and the MCP `say`
/// tool's result.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Said {
    pub slug: String,
    /// The message's commit in refs/agent/<slug>/say.
    pub commit: String,
    /// Whether a run is working on the task (it shows the message at its next turn); if not,
    /// the next resume shows it.
    pub running: bool,
}

/// Add `message` to what was said to the task.
pub fn say_to(store: &Store, slug: &str, message: &str) -> anyhow::Result<Said> {
    if message.trim().is_empty() {
        return Err(UserError::usage("the message is empty")
            .hint("git agent say [<task>] \"use the v2 API, not v1\"")
            .into());
    }
    // The say ref is a ref of the task: a task in a newer format is not written to.
    let task = store.task(slug)?;
    store.plan(&task)?;
    let commit = store.say(slug, message)?;
    Ok(Said {
        slug: slug.to_string(),
        commit: commit.to_string(),
        running: TaskLock::is_held(store, slug),
    })
}
