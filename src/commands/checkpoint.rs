//! `git agent checkpoint`: record the worktree as a checkpoint without a model, e.g. after
//! the user fixed something by hand in the task's worktree.

use super::{Context, short};
use crate::cli::CheckpointArgs;
use crate::error::{Exit, UserError};
use crate::reexec::fsmonitor::Mark;
use crate::store::{Changes, CheckpointInput, CheckpointRecord, Store, TestsSummary, TestsVerdict};

pub fn cmd_checkpoint(ctx: &Context, args: CheckpointArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = store.resolve_slug_to_change(args.slug.as_deref())?;
    let _lock = store.lock_for_work(&slug)?;
    let task = store.task(&slug)?;
    let plan = store.plan(&task)?;
    let Some(worktree) = super::task_worktree(&store, &task, plan.here)? else {
        return Err(UserError::new(format!("task '{slug}' has no worktree"))
            .hint(format!("`git agent resume {slug}` rebuilds it"))
            .into());
    };
    let config = super::session::load_config(ctx, &store, Default::default())?;
    let secret_allow = crate::policy::SecretAllowList::new(&config.secret_allow, &[])?;
    let step = store.current_step(task.tip)?;
    let monitored = monitored_changes(&store, &worktree, config.fsmonitor);
    let scope = match &monitored {
        Some((Changes::Paths(paths), _)) => Some(paths),
        _ => None,
    };
    let outcome = store.checkpoint(
        &task,
        &worktree,
        CheckpointInput {
            summary: &args.message,
            body: "",
            step,
            steps: plan.steps.len() as u32,
            expected: &args.expected,
            tests: TestsSummary {
                verdict: TestsVerdict::NotRun,
                command: String::new(),
                summary: String::new(),
            },
            risks: "none",
            next: "none",
            model: "human",
            record: CheckpointRecord {
                model: "human".into(),
                ..CheckpointRecord::default()
            },
            co_author: None,
            secret_allow: (!args.allow_secrets).then_some(&secret_allow),
            scope,
            // Resolving an update's conflicts by hand: this checkpoint is its merge commit.
            merge_parent: store.pending_update(&task, &plan)?,
        },
    )?;
    if let Some((_, mark)) = &monitored {
        store.fsmonitor_record(&worktree, mark);
    }
    let warnings: Vec<crate::config::Warning> = outcome
        .warnings
        .iter()
        .map(|message| crate::config::Warning {
            message: message.clone(),
            hint: None,
        })
        .collect();
    ctx.warn(&warnings);
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "checkpoint",
            "slug": slug,
            "commit": outcome.commit.to_string(),
            "number": outcome.number,
            "files_changed": outcome.files_changed,
            "insertions": outcome.insertions,
            "deletions": outcome.deletions,
            "checkpoint_ms": outcome.checkpoint_ms,
            "left_out": outcome.left_out,
            "warnings": outcome.warnings,
        }));
    } else {
        ctx.out(format!(
            "Checkpoint {} {} on agent/{slug}: {} file{}, +{} -{} ({} ms)",
            outcome.number,
            short(outcome.commit),
            outcome.files_changed,
            if outcome.files_changed == 1 { "" } else { "s" },
            outcome.insertions,
            outcome.deletions,
            outcome.checkpoint_ms
        ));
        for path in &outcome.left_out {
            // A name in the worktree is the model's text: shown with its controls visible.
            ctx.note(format!(
                "left out of the checkpoint: {}",
                crate::text::terminal::line(path)
            ));
        }
    }
    Ok(Exit::Done)
}

/// What the worktree's monitor saw change since the last checkpoint, and the mark to record
/// after this one. With `on` (`agent.fsmonitor`), a monitor is started when none answers
/// (this checkpoint then walks); off, one still running is stopped and the checkpoint walks.
fn monitored_changes(
    store: &Store,
    worktree: &std::path::Path,
    on: bool,
) -> Option<(Changes, Mark)> {
    if !on {
        store.fsmonitor_stop(worktree);
        return None;
    }
    if let Some(answer) = store.fsmonitor_changes(worktree) {
        return Some(answer);
    }
    match store.fsmonitor_start(worktree) {
        Ok(mark) => Some((Changes::Unknown("the monitor just started".into()), mark)),
        Err(why) => {
            tracing::debug!("no file-system monitor: {why}");
            None
        }
    }
}
