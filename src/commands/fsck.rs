//! `git agent fsck`: print what the store's check found, and how to repair each finding.

use super::Context;
use crate::cli::FsckArgs;
use crate::error::Exit;
use crate::store::{Finding, Store};

pub fn cmd_fsck(ctx: &Context, args: FsckArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = args
        .slug
        .as_deref()
        .map(|s| s.strip_prefix("agent/").unwrap_or(s));
    let mut report = store.fsck(slug)?;
    report
        .notices
        .extend(unrecorded_stops(&store, &report.tasks));
    if ctx.global.json {
        for (task, text) in &report.notices {
            ctx.json(&serde_json::json!({"type": "notice", "task": task, "text": text}));
        }
        for finding in &report.findings {
            ctx.json(&finding_json(finding));
        }
        ctx.json(&serde_json::json!({
            "type": "fsck",
            "tasks": report.tasks.len(),
            "findings": report.findings.len(),
        }));
    } else {
        for (task, text) in &report.notices {
            ctx.say(format!("note: {task}: {text}"));
        }
        for finding in &report.findings {
            ctx.out(format!(
                "{}: {}: {}",
                finding.rule(),
                finding.task(),
                finding.what()
            ));
            ctx.out(format!("  where:  {}", finding.location()));
            ctx.out(format!("  repair: {}", finding.repair()));
            if let Some(note) = finding.note() {
                ctx.out(format!("  note:   {note}"));
            }
        }
        let tasks = match report.tasks.len() {
            1 => "1 task".to_string(),
            n => format!("{n} tasks"),
        };
        ctx.say(match report.findings.len() {
            0 => format!("{tasks} checked: the agent state is consistent"),
            1 => format!("{tasks} checked: 1 finding"),
            n => format!("{tasks} checked: {n} findings"),
        });
    }
    Ok(if report.findings.is_empty() {
        Exit::Done
    } else {
        Exit::Error
    })
}

/// Stops git could not record (a full disk, a read-only `.git`), kept beside the tasks' locks:
/// the state git holds is consistent, it only lacks the last word of a run.
fn unrecorded_stops(store: &Store, tasks: &[String]) -> Vec<(String, String)> {
    tasks
        .iter()
        .filter_map(|slug| {
            let summary = store.summary(slug).ok()?;
            let why = summary.stop_unrecorded?;
            Some((
                slug.clone(),
                format!(
                    "its last run stopped ({}: {}) but git could not record that ({why}); kept in {} until a later stop is recorded: `git agent resume {slug}` once git can write again",
                    summary.state.as_str(),
                    summary.stop_detail.unwrap_or_default(),
                    store.unrecorded_stop_path(slug).display(),
                ),
            ))
        })
        .collect()
}

fn finding_json(finding: &Finding) -> serde_json::Value {
    serde_json::json!({
        "type": "finding",
        "rule": finding.rule(),
        "task": finding.task(),
        "what": finding.what(),
        "where": finding.location(),
        "repair": finding.repair(),
        "note": finding.note(),
    })
}
