//! `git agent merge`: argument handling and rendering over [`crate::app::merge`].

use super::Context;
use crate::app::merge::{MergeRequest, merge_task};
use crate::cli::MergeArgs;
use crate::error::Exit;

pub fn cmd_merge(ctx: &Context, args: MergeArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let request = MergeRequest {
        slug: args.slug,
        squash: args.squash,
        force: args.force,
        into: args.into,
    };
    let merged = merge_task(ctx, &store, &request)?;
    if ctx.global.json {
        ctx.view("merge", &merged)?;
        return Ok(Exit::Done);
    }
    ctx.out(format!(
        "Merged task {} into {} as {}",
        merged.slug,
        merged.into,
        &merged.commit[..8.min(merged.commit.len())]
    ));
    Ok(Exit::Done)
}
