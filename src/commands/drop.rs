//! `git agent drop`: argument handling and rendering over [`crate::app::drop`].

use super::Context;
use crate::cli::DropArgs;
use crate::error::Exit;

pub fn cmd_drop(ctx: &Context, args: DropArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let dropped = crate::app::drop::drop_task(&store, args.slug.as_deref(), args.force)?;
    if ctx.global.json {
        ctx.view("dropped", &dropped)?;
    } else {
        ctx.out(format!("Dropped task {}", dropped.slug));
    }
    Ok(Exit::Done)
}
