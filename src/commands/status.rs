//! `git agent status`: one task in detail.

use super::{Context, short};
use crate::cli::TaskArg;
use crate::error::Exit;

pub fn cmd_status(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug(args.slug.as_deref())?;
    let s = store.summary(&slug)?;
    if ctx.global.json {
        ctx.json(&super::list::row_json(&s.row()));
        return Ok(Exit::Done);
    }
    let u = &s.budget.usage;
    ctx.out(format!("task:        {}", s.task.slug));
    ctx.out(format!("goal:        {}", s.task.goal));
    let color = crate::ui::use_color_stdout(&ctx.global.style());
    ctx.out(format!(
        "state:       {}",
        super::list::paint_state(s.state, color).trim_end()
    ));
    if let Some(detail) = s.stop_detail.as_deref().filter(|d| !d.is_empty()) {
        ctx.out(format!("stopped:     {detail}"));
    }
    if let Some(hint) = s.stop_hint.as_deref() {
        ctx.out(format!("hint:        {hint}"));
    }
    ctx.out(format!(
        "branch:      agent/{} at {}",
        s.task.slug,
        short(s.task.tip)
    ));
    ctx.out(format!(
        "base:        {}{}",
        short(s.task.base),
        if s.plan.base_branch.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.plan.base_branch)
        }
    ));
    ctx.out(format!("step:        {}/{}", s.step.0, s.step.1));
    ctx.out(format!("checkpoints: {}", s.checkpoints));
    ctx.out(format!(
        "tests:       {}",
        s.last_tests.as_deref().unwrap_or("not run yet")
    ));
    ctx.out(format!(
        "usage:       {} turns, {} tokens, ${:.4}, {}s of model time",
        u.turns,
        u.total_tokens(),
        u.cost_usd,
        u.wall_ms / 1000
    ));
    if !s.plan.steps.is_empty() {
        ctx.out("plan:");
        for (i, step) in s.plan.steps.iter().enumerate() {
            let mark = if (i as u32) < s.step.0 { "x" } else { " " };
            ctx.out(format!("  [{mark}] {}. {}", i + 1, step.title));
        }
    }
    for q in &s.plan.questions {
        ctx.out(format!("question:    {q}"));
    }
    for a in &s.plan.attempts {
        ctx.out(format!(
            "attempt:     step {} rolled back ({}), kept in {}",
            a.step, a.reason, a.attic
        ));
    }
    if let Some(m) = &s.plan.merged {
        ctx.out(format!(
            "merged:      into {} as {}",
            m.into,
            &m.commit[..m.commit.len().min(8)]
        ));
    }
    Ok(Exit::Done)
}
