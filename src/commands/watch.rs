//! `git agent watch`: follow a run from another terminal through its run log
//! (src/ui/runlog.rs). A separate process that only reads: Ctrl-C here never reaches the run.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::Context;
use crate::cli::WatchArgs;
use crate::error::Exit;
use crate::store::{CheckpointTrailers, Store, TaskLock};

const POLL: Duration = Duration::from_millis(100);

pub fn cmd_watch(ctx: &Context, args: WatchArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    if let Some(remote) = args.remote {
        return watch_remote(ctx, &store, args.slug.as_deref(), &remote);
    }
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    store.task(&slug)?;
    // A task running attempts: its own run log ends with the planning; each attempt has one.
    let attempts = store.attempt_tasks(&slug)?;
    if !attempts.is_empty() {
        for (k, attempt) in &attempts {
            let state = store.summary(attempt)?.state;
            ctx.say(format!(
                "attempt {k}: {} — git agent watch {attempt}",
                state.as_str()
            ));
            if ctx.global.json {
                ctx.json(&serde_json::json!({"type": "attempt", "task": slug, "k": k,
                    "attempt": attempt, "state": state.as_str()}));
            }
        }
        ctx.say(format!(
            "Task {slug} works in {} attempts; follow one with the command above (git agent compare {slug} shows them side by side).",
            attempts.len()
        ));
        return Ok(Exit::Done);
    }
    let path = crate::ui::run_log_path(&store, &slug);
    if !wait_for_log(&store, &slug, &path) {
        return not_running(ctx, &store, &slug);
    }
    let mut file = std::fs::File::open(&path)?;
    let mut pending = String::new();
    let mut offset = 0u64;
    loop {
        file.seek(SeekFrom::Start(offset))?;
        let mut chunk = String::new();
        let read = BufReader::new(&mut file).read_to_string(&mut chunk)?;
        offset += read as u64;
        pending.push_str(&chunk);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if show(ctx, line.trim_end()) {
                return Ok(Exit::Done);
            }
        }
        if read == 0 {
            if !TaskLock::is_held(&store, &slug) {
                // The run is gone; a last look for lines written just before it ended.
                let mut rest = String::new();
                file.seek(SeekFrom::Start(offset))?;
                BufReader::new(&mut file).read_to_string(&mut rest)?;
                pending.push_str(&rest);
                for line in pending.lines() {
                    if show(ctx, line) {
                        return Ok(Exit::Done);
                    }
                }
                ctx.say(format!("The run of {slug} ended without a stop event."));
                return Ok(Exit::Done);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Wait until the log belongs to the run that holds the lock (a run creates it fresh just
/// after taking the lock); false when no run holds it.
fn wait_for_log(store: &Store, slug: &str, path: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    loop {
        if !TaskLock::is_held(store, slug) {
            return false;
        }
        let lock = modified(&TaskLock::path(store, slug)).unwrap_or(SystemTime::UNIX_EPOCH);
        if modified(path).is_some_and(|log| log >= lock) {
            return true;
        }
        std::thread::sleep(POLL);
    }
}

fn not_running(ctx: &Context, store: &Store, slug: &str) -> anyhow::Result<Exit> {
    let summary = store.summary(slug)?;
    let state = summary.state.as_str();
    let detail = summary.stop_detail.unwrap_or_default();
    if ctx.global.json {
        ctx.json(&serde_json::json!({"type": "not_running", "slug": slug, "state": state, "detail": detail}));
    } else {
        ctx.out(format!("Task {slug} is not running."));
        ctx.out(format!(
            "  last stop: {state}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        ));
    }
    Ok(Exit::Done)
}

/// Print one line of the log; true when it is the run's last (`stopped`).
fn show(ctx: &Context, line: &str) -> bool {
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    if ctx.global.json {
        ctx.json_lines(line);
    } else if let Some(text) = human(&event) {
        ctx.out(text);
    }
    event["type"] == "stopped"
}

/// The human form of an event of the log.
fn human(event: &Value) -> Option<String> {
    // One line each: decoding the JSON gave back every control character the run escaped.
    let s =
        |k: &str| crate::text::terminal::line(event[k].as_str().unwrap_or_default()).into_owned();
    let n = |k: &str| event[k].as_u64().unwrap_or_default();
    let short = |k: &str| s(k).chars().take(8).collect::<String>();
    Some(match event["type"].as_str()? {
        "task_started" => format!("Watching {} on {}", s("slug"), s("branch")),
        "planning" => "Planning…".to_string(),
        "plan" => format!("Plan: {}", s("objective")),
        "step_started" => format!("Step {}/{}: {}", n("step"), n("steps"), s("title")),
        "tool_call" => format!("  · {} {}", s("name"), s("detail")),
        "tool_result" if event["is_error"] == true => {
            format!("    ! {}: {}", s("name"), s("detail"))
        }
        "tests" => format!(
            "  tests `{}`: {} ({})",
            s("command"),
            s("verdict"),
            s("summary")
        ),
        "said" => format!("  » from the user: {}", s("message")),
        "try_ended" => format!("  try of step {} ended: {}", n("step"), s("reason")),
        "left_out" => format!(
            "  left out of the checkpoint: {}",
            event["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|p| crate::text::terminal::line(p).into_owned())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "checkpoint" => format!(
            "  {} checkpoint {} {} (step {}, tests {})",
            crate::ui::checkpoint_mark(&s("tests")).0,
            n("number"),
            short("commit"),
            n("step"),
            s("tests")
        ),
        "rollback" => format!("  ↺ rolled back to {} ({})", short("to"), s("reason")),
        "budget_warning" => format!(
            "  budget: {} of {} {} spent (80 %)",
            s("used"),
            s("limit"),
            s("budget")
        ),
        "usage" => format!(
            "  {} turns · {} tokens · ${:.4}",
            n("turns"),
            n("tokens"),
            event["cost_usd"].as_f64().unwrap_or_default()
        ),
        "stopped" => format!(
            "{} {}\n  usage: {} turns · {} tokens · ${:.4}",
            match s("reason").as_str() {
                crate::agent::events::PLANNED => "Planned:".to_string(),
                reason => format!("Stopped: {reason}."),
            },
            s("detail"),
            event["usage"]["turns"].as_u64().unwrap_or_default(),
            event["usage"]["tokens"].as_u64().unwrap_or_default(),
            event["usage"]["cost_usd"].as_f64().unwrap_or_default()
        ),
        _ => return None,
    })
}

/// How often `watch --remote` looks at the remote.
const POLL_REMOTE: Duration = Duration::from_millis(500);

/// Follow a task through a remote: what its worker pushes (checkpoints, the lease, the stop),
/// until the task is done or blocked there.
fn watch_remote(
    ctx: &Context,
    store: &Store,
    slug: Option<&str>,
    remote: &str,
) -> anyhow::Result<Exit> {
    use crate::store::remote::lease::QueueState;
    crate::store::remote::sync::validate_remote(remote)?;
    let slug = match slug {
        Some(slug) => {
            crate::store::validate_slug(slug)?;
            slug.to_string()
        }
        None => super::task_to_show(ctx, store, None)?,
    };
    let mut shown = std::collections::HashSet::new();
    let mut last_holder: Option<String> = None;
    let mut announced = false;
    loop {
        store.fetch_agent_refs(remote)?;
        let rows = store.remote_queue(remote)?;
        let Some(row) = rows.into_iter().find(|r| r.slug == slug) else {
            return Err(crate::store::StoreError::UnknownTask {
                slug,
                known: Vec::new(),
            }
            .into());
        };
        if !announced {
            announced = true;
            if ctx.global.json {
                ctx.json(&serde_json::json!({"type": "watch_remote", "remote": remote, "slug": slug, "state": row.state.as_str()}));
            } else {
                ctx.out(format!(
                    "Watching {slug} on {remote}: {}",
                    row.state.as_str()
                ));
            }
        }
        // New checkpoints, oldest first: first parents from the tip down to what was shown.
        let task = store.task_at_tip(&slug, row.tip)?;
        let mut fresh = Vec::new();
        let mut at = row.tip;
        while at != task.task_commit && !shown.contains(&at) {
            fresh.push(at);
            match store.parents(at)?.first() {
                Some(&parent) => at = parent,
                None => break,
            }
        }
        for commit in fresh.into_iter().rev() {
            shown.insert(commit);
            let message = store.commit_message(commit)?;
            let typed = CheckpointTrailers::parse(&crate::store::parse_trailers(&message));
            let number = typed.checkpoint.map(|n| n.to_string()).unwrap_or_default();
            let step = typed.step.map(|s| s.to_string()).unwrap_or_default();
            let tests = typed.tests_line.unwrap_or_default();
            let subject = crate::text::first_line(&message, 72);
            if ctx.global.json {
                ctx.json(
                    &serde_json::json!({"type": "remote_checkpoint", "slug": slug,
                    "commit": commit.to_string(), "number": number,
                    "step": step, "tests": tests, "summary": subject}),
                );
            } else {
                ctx.out(format!(
                    "  ✓ checkpoint {number} {} (step {step}, tests {tests}): {subject}",
                    super::short(commit),
                ));
            }
        }
        let holder = row.lease.as_ref().map(|(_, l)| l.holder.clone());
        if holder != last_holder {
            let text = match &holder {
                Some(h) => format!("  held by {h}"),
                None => "  no worker holds it".to_string(),
            };
            if ctx.global.json {
                ctx.json(
                    &serde_json::json!({"type": "remote_lease", "slug": slug, "holder": holder}),
                );
            } else {
                ctx.out(text);
            }
            last_holder = holder;
        }
        if matches!(
            row.state,
            QueueState::Done | QueueState::Blocked(_) | QueueState::Stopped
        ) {
            let detail = row.stop_detail.unwrap_or_default();
            if ctx.global.json {
                ctx.json(&serde_json::json!({"type": "remote_stopped", "slug": slug, "state": row.state.as_str(), "detail": detail}));
            } else {
                ctx.out(format!("Stopped: {}. {detail}", row.state.as_str()));
            }
            return Ok(Exit::Done);
        }
        std::thread::sleep(POLL_REMOTE);
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use serde_json::json;

    #[test]
    fn watch_marks_checkpoints_by_their_tests_and_a_plan_only_run_as_planned() {
        let checkpoint = |tests: &str| {
            human(
                &json!({"type": "checkpoint", "number": 2, "commit": "89abcdef0123",
                "step": 1, "tests": tests}),
            )
        };
        assert_eq!(
            checkpoint("pass (1 passed)").as_deref(),
            Some("  ✓ checkpoint 2 89abcdef (step 1, tests pass (1 passed))")
        );
        assert_eq!(
            checkpoint("fail (1 failed)").as_deref(),
            Some("  ✗ checkpoint 2 89abcdef (step 1, tests fail (1 failed))")
        );
        assert_eq!(
            checkpoint("not-run (no test command)").as_deref(),
            Some("  ○ checkpoint 2 89abcdef (step 1, tests not-run (no test command))")
        );
        let usage = json!({"turns": 1, "tokens": 10, "cost_usd": 0.0});
        assert_eq!(
            human(&json!({"type": "stopped", "reason": "planned",
                "detail": "2 steps, none started yet.", "usage": usage}))
            .as_deref(),
            Some("Planned: 2 steps, none started yet.\n  usage: 1 turns · 10 tokens · $0.0000")
        );
    }
}
