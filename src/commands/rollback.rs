//! `git agent rollback`: argument handling and rendering over [`crate::app::rollback`].

use super::Context;
use crate::app::rollback::{RollbackRequest, rollback_task};
use crate::cli::RollbackArgs;
use crate::error::Exit;

pub fn cmd_rollback(ctx: &Context, args: RollbackArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let undo = args.undo;
    let rolled = rollback_task(
        &store,
        RollbackRequest {
            slug: args.slug,
            to: args.to,
            steps: args.steps,
            last_green: args.last_green,
            undo: args.undo,
            reason: args.reason,
        },
    )?;
    if ctx.global.json {
        // `--json` gives the update's change as a word (or null), not the sentence.
        let mut value = serde_json::to_value(&rolled)?;
        value["type"] = "rollback".into();
        value["update"] = serde_json::to_value(rolled.update_change)?;
        ctx.json(&value);
        return Ok(Exit::Done);
    }
    let slug = &rolled.slug;
    let (from, to) = (short_hex(&rolled.from), short_hex(&rolled.to));
    if undo {
        ctx.out(format!(
            "Restored agent/{slug} to {to} (the rollback is undone); the tip it had, {from}, is kept in {}",
            rolled.attic
        ));
    } else {
        ctx.out(format!(
            "Rolled agent/{slug} back from {from} to {to}; the old tip is kept in {}",
            rolled.attic
        ));
        ctx.say(format!("  undo with: git agent rollback {slug} --undo"));
    }
    if let Some(text) = &rolled.update {
        ctx.say(text);
    }
    Ok(Exit::Done)
}

/// A full hex id as [`crate::app::short`] shows one.
fn short_hex(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
