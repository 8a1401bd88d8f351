//! `git agent say`: guidance for a task, stored in git (src/store/say.rs), without the lock.

use super::{Context, short};
use crate::cli::SayArgs;
use crate::error::{Exit, UserError};
use crate::store::{Store, TaskLock};

/// Add `message` to what was said to the task; returns its commit and whether a run is on.
pub fn say_to(store: &Store, slug: &str, message: &str) -> anyhow::Result<(gix::ObjectId, bool)> {
    if message.trim().is_empty() {
        return Err(UserError::usage("the message is empty")
            .hint("git agent say [<task>] \"use the v2 API, not v1\"")
            .into());
    }
    // The say ref is a ref of the task: a task in a newer format is not written to.
    let task = store.task(slug)?;
    store.plan(&task)?;
    let commit = store.say(slug, message)?;
    Ok((commit, TaskLock::is_held(store, slug)))
}

pub fn cmd_say(ctx: &Context, args: SayArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let (slug, message) = match args.words.as_slice() {
        [message] => (None, message),
        [slug, message] => (Some(slug.as_str()), message),
        _ => return Err(UserError::usage("say what: git agent say [<task>] \"message\"").into()),
    };
    let slug = store.resolve_slug_to_change(slug)?;
    let (commit, running) = say_to(&store, &slug, message)?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({"type": "said", "slug": slug, "commit": commit.to_string(), "running": running}));
    } else {
        ctx.out(format!("Said to {slug} ({})", short(commit)));
        ctx.say(if running {
            "  the run shows it to the model at its next turn".to_string()
        } else {
            format!("  the task is not running: `git agent resume {slug}` shows it to the model")
        });
    }
    Ok(Exit::Done)
}
