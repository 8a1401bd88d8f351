//! `git agent stop`: argument handling and rendering over [`crate::app::stop`].

use super::Context;
use crate::app::stop::StopRequested;
use crate::cli::StopArgs;
use crate::error::Exit;
use crate::store::TaskLock;

pub fn cmd_stop(ctx: &Context, args: StopArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    if !args.no_wait && TaskLock::is_held(&store, &slug) {
        ctx.say(format!(
            "Asking the run of {slug} to stop; waiting for it …"
        ));
    }
    let requested = crate::app::stop::stop_task(&store, &slug, !args.no_wait)?;
    if ctx.global.json {
        let mut value = serde_json::to_value(&requested)?;
        value["type"] = "stop_requested".into();
        // How the run stopped is the MCP tool's; the CLI says it in words only.
        if let Some(object) = value.as_object_mut() {
            object.remove("detail");
        }
        ctx.json(&value);
        return Ok(Exit::Done);
    }
    let StopRequested {
        slug,
        commit,
        running,
        stopped,
        detail: stop,
    } = requested;
    let commit = commit.get(..8).unwrap_or(&commit);
    match (running, stopped) {
        (true, true) => ctx.out(format!(
            "Stopped {slug}: {}",
            stop.as_deref().unwrap_or("interrupted")
        )),
        (true, false) if args.no_wait => ctx.out(format!(
            "Asked the run of {slug} to stop ({}); it stops at once, or when a model call in \
             flight has answered",
            commit
        )),
        (true, false) => ctx.out(format!(
            "Asked the run of {slug} to stop ({}); it is still stopping",
            commit
        )),
        (false, _) => {
            ctx.out(format!(
                "Asked {slug} to stop ({}); no run of it is working here",
                commit
            ));
            ctx.say(format!(
                "  a worker that runs it elsewhere stops once the request reaches it: git agent push <remote> {slug}"
            ));
        }
    }
    Ok(Exit::Done)
}
