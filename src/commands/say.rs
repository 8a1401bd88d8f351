//! `git agent say`: argument handling and rendering over [`crate::app::say`].

use super::Context;
use crate::cli::SayArgs;
use crate::error::{Exit, UserError};

pub fn cmd_say(ctx: &Context, args: SayArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let (slug, message) = match args.words.as_slice() {
        [message] => (None, message),
        [slug, message] => (Some(slug.as_str()), message),
        _ => return Err(UserError::usage("say what: git agent say [<task>] \"message\"").into()),
    };
    let slug = store.resolve_slug_to_change(slug)?;
    let said = crate::app::say::say_to(&store, &slug, message)?;
    if ctx.global.json {
        ctx.view("said", &said)?;
    } else {
        ctx.out(format!(
            "Said to {slug} ({})",
            said.commit.get(..8).unwrap_or(&said.commit)
        ));
        ctx.say(if said.running {
            "  the run shows it to the model at its next turn".to_string()
        } else {
            format!("  the task is not running: `git agent resume {slug}` shows it to the model")
        });
    }
    Ok(Exit::Done)
}
