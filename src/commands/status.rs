//! `git agent status`: one task in detail.

use super::{Context, short};
use crate::cli::TaskArg;
use crate::error::Exit;

pub fn cmd_status(ctx: &Context, args: TaskArg) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    let s = store.summary(&slug)?;
    if ctx.global.json {
        let mut value = super::list::row_json(&s.row())?;
        if let Some(map) = value.as_object_mut() {
            if let Some(of) = &s.plan.attempt_of {
                map.insert(
                    "attempt_of".into(),
                    serde_json::json!({"task": of.task, "k": of.k, "n": of.n}),
                );
            }
            if let Some(round) = s.plan.parallel.last() {
                map.insert(
                    "parallel".into(),
                    serde_json::json!({"n": round.n, "pick": round.pick, "picked": round.picked}),
                );
            }
        }
        ctx.json(&value);
        return Ok(Exit::Done);
    }
    let u = &s.budget.usage;
    ctx.out(format!("task:        {}", s.task.slug));
    ctx.out(format!("goal:        {}", s.task.goal));
    let color = crate::ui::use_color_stdout(&ctx.global.style());
    // Raw for the colour: the state is this program's word.
    ctx.out_raw(format!(
        "state:       {}",
        super::list::paint_state(s.state, color).trim_end()
    ));
    if let Some(detail) = s.stop_detail.as_deref().filter(|d| !d.is_empty()) {
        ctx.out(format!("stopped:     {detail}"));
    }
    if let Some(why) = s.stop_unrecorded.as_deref() {
        ctx.out(format!(
            "not in git:  git could not record this stop ({why}); it is kept in {} until a later stop is recorded",
            store.unrecorded_stop_path(&slug).display()
        ));
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
    if let Some(of) = &s.plan.attempt_of {
        ctx.out(format!(
            "attempt:     {} of {} of task {} (git agent compare {})",
            of.k, of.n, of.task, of.task
        ));
    }
    if let Some(round) = s.plan.parallel.last() {
        let how = if round.picked == 0 {
            let running: Vec<String> = store
                .attempt_tasks(&slug)?
                .into_iter()
                .map(|(_, name)| name)
                .collect();
            format!("none picked yet ({})", running.join(", "))
        } else {
            format!("attempt {} picked", round.picked)
        };
        ctx.out(format!(
            "attempts:    {} side by side, pick {}: {how} (git agent compare {})",
            round.n, round.pick, slug
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
