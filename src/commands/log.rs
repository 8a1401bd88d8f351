//! `git agent log`: the checkpoints with their trailers and records.

use super::{Context, short};
use crate::app::read::CheckpointInfo;
use crate::cli::TaskArg;
use crate::error::Exit;
use crate::store::Checkpoint;
use crate::store::trailer;

pub fn cmd_log(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    let task = store.task(&slug)?;
    let checkpoints = store.checkpoints(&task)?;
    if ctx.global.json {
        for c in &checkpoints {
            ctx.json(&checkpoint_json(c)?);
        }
        return Ok(Exit::Done);
    }
    ctx.out(format!(
        "task {} — {}",
        task.slug,
        task.goal.lines().next().unwrap_or_default()
    ));
    if checkpoints.is_empty() {
        ctx.out("  no checkpoints yet");
    }
    let said = store.said(&slug)?;
    for c in checkpoints.iter().rev() {
        let t = &c.trailers;
        ctx.out(String::new());
        ctx.out(format!(
            "checkpoint {} {} (step {})",
            t.get(trailer::CHECKPOINT).unwrap_or("?"),
            short(c.commit),
            t.get(trailer::STEP).unwrap_or("?")
        ));
        ctx.out(format!("    {}", c.summary));
        for key in [
            trailer::EXPECTED,
            trailer::TESTS,
            trailer::RISKS,
            trailer::NEXT,
            trailer::MODEL,
        ] {
            if let Some(v) = t.get(key) {
                ctx.out(format!(
                    "    {:<9} {v}",
                    format!(
                        "{}:",
                        key.trim_start_matches(trailer::PREFIX).to_lowercase()
                    )
                ));
            }
        }
        if let Some(r) = &c.record {
            ctx.out(format!(
                "    usage:    {} turns, {} in / {} out tokens ({} cached), ${:.4}, {} tool calls, {:.1}s; checkpoint {} ms",
                r.usage.turns,
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.usage.cache_read_tokens,
                r.usage.cost_usd,
                r.usage.tool_calls,
                r.usage.wall_ms as f64 / 1000.0,
                r.checkpoint_ms
            ));
            ctx.out(format!(
                "    changes:  {} file{}, +{} -{}",
                r.files_changed,
                if r.files_changed == 1 { "" } else { "s" },
                r.insertions,
                r.deletions
            ));
            for id in &r.said {
                let message = said
                    .iter()
                    .find(|s| id.parse::<gix::ObjectId>().is_ok_and(|id| id == s.commit))
                    .map_or("(not in this repository's say ref)", |s| s.message.as_str());
                ctx.out(format!(
                    "    said:     {}",
                    crate::text::first_line(message, 100)
                ));
            }
            if let Some(stop) = &r.stop {
                ctx.out(format!(
                    "    stopped:  {} {}",
                    stop.reason.as_str(),
                    stop.detail
                ));
            }
        }
    }
    let attic = store.attic(&slug)?;
    if !attic.is_empty() {
        ctx.out(String::new());
        ctx.out("attic (discarded work, restore with `git agent rollback --undo`):");
        for e in attic {
            ctx.out(format!("    {} {}", e.refname, short(e.commit)));
        }
    }
    Ok(Exit::Done)
}

/// One checkpoint as `git agent log --json` prints it: the [`CheckpointInfo`] view with its
/// `type`.
fn checkpoint_json(c: &Checkpoint) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(CheckpointInfo::from(c))?;
    value["type"] = "checkpoint".into();
    Ok(value)
}
